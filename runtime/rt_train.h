/* rt_train.h — the training program behind `nnc MODEL.nn --emit=exe` and
 * `nnc train MODEL.nn` (rt_train.c): command-line flags that override the
 * model's train block, data loading and batching, the training loop with
 * its optimizer schedule, progress display, evaluation, metrics, plots,
 * checkpoints and resumption, interruption, and text generation. */
#ifndef NN_RT_TRAIN_H
#define NN_RT_TRAIN_H

#include "rt_model.h"

/* Run the training program for the model described by d. argv[0] is the
 * program name shown in messages and in the printed resume command.
 * Returns the process exit status: 0 done, 1 an error (bad data file, NaN
 * loss...), 2 a bad command line, 130 interrupted (checkpoint written). */
int rt_train_main(const rt_model_desc *d, int argc, char **argv);

/* A GNU-style flag with a value at argv[*i]: "--flag VALUE" or
 * "--flag=VALUE", the name matched exactly (no abbreviations: a resumed
 * run repeats the flags as given). 1 with *val set (a separate value
 * advances *i), 0 when argv[*i] is another flag, -1 when the value is
 * missing. The one reader of such flags: the training program's and nnc
 * eval's (rt_train_args.c). */
int rt_flag_value(int argc, char **argv, int *i, const char *flag, const char **val);

/* The learning-rate schedule of a train block (rt_train_args.c). */
typedef struct rt_schedule {
  int kind;          /* 0 constant, 1 step, 2 cosine (rt_train_desc.schedule) */
  double lr;         /* the base learning rate */
  int64_t every;     /* step: epochs between decays (>= 1) */
  double gamma;      /* step: the factor applied every `every` epochs */
  int64_t warmup;    /* cosine: steps of linear warmup */
  double min_lr;     /* cosine: the rate reached at the last step */
  int64_t total;     /* cosine: the run's total steps */
} rt_schedule;

/* The rate for global step `step` (0-based) in epoch `epoch` (0-based):
 *   constant: lr
 *   step:     lr * gamma^(epoch / every)
 *   cosine:   lr * (step + 1) / warmup while step < warmup, then
 *             min_lr + (lr - min_lr) * (1 + cos(pi * p)) / 2 with
 *             p = (step - warmup) / (total - warmup - 1) in [0, 1], so the
 *             last step runs at min_lr. */
double rt_schedule_lr(const rt_schedule *s, int64_t epoch, int64_t step);

#endif
