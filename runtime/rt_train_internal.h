/* rt_train_internal.h — what the training program's files share:
 * the parsed command line (rt_train_args.c), the trainer's state
 * (rt_train.c: setup, the loop, checkpoints), evaluation, generation,
 * metrics and the plot (rt_train_eval.c). Not installed; not an API. */
#ifndef NN_RT_TRAIN_INTERNAL_H
#define NN_RT_TRAIN_INTERNAL_H

#include <stdio.h>

#include "rt_data.h"
#include "rt_progress.h"
#include "rt_train.h"

/* The command line, with the train block's settings as defaults. */
typedef struct TrainOpts {
  const char *prog;       /* argv[0] */
  char name[128];         /* the model's name: the .nn file's stem for `nnc train`, else d->name */
  int64_t epochs;
  double lr;
  uint64_t seed;
  bool seed_given;
  int threads;            /* 0: one per core */
  rt_source data, test;   /* after --data / --test */
  char *data_buf, *test_buf; /* owned copies of the --data/--test values (split at the comma) */
  const char *checkpoint; /* where checkpoints go */
  char checkpoint_default[160];
  int64_t checkpoint_every; /* steps; 0: only at epoch ends */
  const char *resume;     /* NULL: start from the initializers */
  const char *metrics, *plot; /* NULL: not written */
  rt_progress_mode progress;
  bool quiet;
  bool eval_only;
  int64_t generate;       /* characters to sample after training (default 300 for text models, else 0) */
  bool generate_given;    /* --generate was given (--eval-only samples only then) */
  double temperature;
  const char *prompt;     /* NULL: a newline */
  int64_t limit;          /* > 0: only the first `limit` training samples / characters */
  int argc;               /* the original command line, for the resume command */
  char **argv;
} TrainOpts;

/* Parses argv over the defaults of d's train block. Returns 0 to run, 2
 * after printing an error and the usage (bad flag), 1 after printing that
 * memory ran out, -1 after printing the help (--help: exit 0). Free o with
 * rt_train_opts_free whatever it returns. */
int rt_train_parse(const rt_model_desc *d, int argc, char **argv, TrainOpts *o);
void rt_train_opts_free(TrainOpts *o);
/* The usage text with the train block's defaults. */
void rt_train_usage(const rt_model_desc *d, const TrainOpts *o, FILE *out);
/* Prints `prog --resume PATH <the other original flags>`, shell-quoted. */
void rt_train_print_resume(const TrainOpts *o, const char *ckpt, FILE *out);

/* One row of the metrics: a periodic row (train loss since the previous
 * row) or an epoch row (the epoch's mean train loss and the evaluation). */
typedef struct HistRow {
  bool is_epoch;
  double epoch;           /* epochs done: fractional for periodic rows */
  int64_t step;           /* global steps done */
  double train_loss, test_loss, test_acc, lr, seconds; /* NaN: not measured */
} HistRow;

/* The result of an evaluation. */
typedef struct EvalResult {
  double loss;            /* mean over the samples (text: over characters) */
  int64_t correct, count; /* predictions that were right, of `count` (positions) */
  int64_t samples;
  bool has_acc;           /* a predict function and class targets */
  bool interrupted;       /* a signal stopped it: the numbers are partial */
} EvalResult;

/* The whole training program's state. */
typedef struct Trainer {
  const rt_model_desc *d;
  const rt_train_desc *t;
  TrainOpts *o;
  rt_model *m;
  rt_data_shape sh;
  rt_dataset train, test;
  bool has_test;
  /* text models */
  bool is_text;
  rt_text_corpus text, test_text; /* test_text unused when test is the held-out split */
  rt_vocab vocab;
  double unigram_bits;    /* the validation text's unigram baseline, bits/char; NaN if none */
  /* buffers for one batch */
  void *x, *y, *out;      /* inputs; the predict / generate function's output */
  double loss[1];         /* a scalar result (f32 or f64) */
  int64_t *perm, *idx;
  /* where training is */
  int64_t epoch;          /* epochs done */
  int64_t pos;            /* steps done within the current epoch */
  int64_t spe;            /* steps per epoch */
  bool pending_eval;      /* the evaluation of epoch `epoch` has not run yet */
  double epoch_loss_sum, last_epoch_loss;
  int64_t epoch_loss_n;
  double int_loss_sum;    /* since the last periodic row */
  int64_t int_loss_n;
  int64_t log_every;      /* steps between periodic rows */
  double elapsed_before;  /* seconds spent by the runs this one resumes */
  double t0;              /* when this run's training started */
  double step_time;       /* seconds inside training steps in this run */
  int64_t steps_run;      /* steps taken in this run */
  double lr_now;
  HistRow *hist;          /* nhist rows (rt_alloc'd, caphist allocated) */
  int nhist;
  size_t caphist;
  rt_progress prog;
  EvalResult last_eval;
  bool evaluated;
} Trainer;

double rt_train_now(void);
/* Evaluates ds (all of it: a last partial batch is padded and only its
 * real rows are counted). Stops early, with r->interrupted, when *stop
 * becomes nonzero. */
nn_status rt_train_evaluate(Trainer *tr, const rt_dataset *ds, EvalResult *r, volatile const int *stop);
/* The unigram baseline: bits/char of ids_val under the character
 * frequencies of ids_train (add-one smoothing over V characters). */
double rt_unigram_bits(const int32_t *ids_train, size_t ntrain, const int32_t *ids_val, size_t nval, int V);
/* Samples n characters after the prompt and prints them to out. */
nn_status rt_train_generate(Trainer *tr, int64_t n, double temperature, const char *prompt, FILE *out);
/* Appends a row to the history. */
nn_status rt_train_add_row(Trainer *tr, const HistRow *r);
/* The history as CSV (the metrics file's text; with_kind adds a first
 * column "e"/"s" for the checkpoint copy). rt_alloc'd. */
char *rt_train_history_csv(const Trainer *tr, bool with_kind);
/* Parses rt_train_history_csv(tr, true) back into tr's history. */
nn_status rt_train_history_parse(Trainer *tr, const char *csv);
/* Writes the metrics CSV and the plot when asked for. */
nn_status rt_train_write_reports(Trainer *tr);

#endif
