/* rt_train_internal.h — what the training program's files share:
 * the parsed command line (rt_train_args.c), the trainer's state
 * (rt_train.c: setup, the loop, checkpoints), evaluation, generation,
 * metrics and the plot (rt_train_eval.c). Not installed; not an API. */
#ifndef NN_RT_TRAIN_INTERNAL_H
#define NN_RT_TRAIN_INTERNAL_H

#include <stdio.h>

#include "rt_data.h"
#include "rt_mpi.h"
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
  bool per_rank_batch;    /* under P MPI ranks: each rank's batch is the model's, the global P times it */
  double mpi_timeout;     /* seconds a rank waits for the others before the job is stopped */
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

/* The metrics so far: rows in order (rt_alloc'd, cap allocated). Zeroed is
 * empty. */
typedef struct History {
  HistRow *rows;
  int n;
  size_t cap;
} History;

/* The result of an evaluation. */
typedef struct EvalResult {
  double loss;            /* mean over the samples (text: over characters) */
  int64_t correct, count; /* predictions that were right, of `count` (positions) */
  int64_t samples;
  bool has_acc;           /* a predict function and class targets */
  bool interrupted;       /* a signal stopped it: the numbers are partial */
} EvalResult;

/* What a checkpoint's metadata says about the run that wrote it
 * (rt_train_ckpt.c), each field checked on its own. */
typedef struct ResumeMeta {
  int64_t step;           /* "step": training steps taken (0 if absent) */
  bool has_seed;
  uint64_t seed;          /* "seed" */
  bool has_position;      /* "epoch", "epoch_step", "pending_eval": written by this program */
  int64_t epoch, pos;     /* epochs done; steps done in the current epoch */
  bool pending_eval;      /* the evaluation of epoch `epoch` has not run */
  int64_t batch, epochs;  /* "batch", "epochs" (of the run that wrote it): 0 if absent */
  bool has_fingerprint;
  uint64_t fingerprint;   /* "data_fingerprint" */
  double elapsed;         /* seconds of training so far */
  double epoch_loss_sum, int_loss_sum, last_epoch_loss;
  int64_t epoch_loss_n, int_loss_n;
  bool has_vocab;
  rt_vocab vocab;         /* "vocab" (character models) */
  History hist;           /* "history" (owned until rt_train_resume moves it) */
} ResumeMeta;

/* The whole training program's state. */
typedef struct Trainer {
  const rt_model_desc *d;
  const rt_train_desc *t;
  TrainOpts *o;
  rt_model *m;
  rt_data_shape sh;        /* sh.batch: the model's batch (its bound for a run-time batch) */
  rt_dataset train, test;
  /* data parallelism (one process: rank 0 of 1, gbatch = rows = sh.batch) */
  rt_dist dist;
  int64_t gbatch;         /* the global batch: samples per step over all ranks */
  int64_t rows;           /* this rank's share: rows [rank * rows, (rank + 1) * rows) of it */
  rt_dist_grad dgrad;     /* the gradient buffer's buckets (P > 1) */
  rt_call_ctx call;       /* what the gradient function of a step is told (P > 1) */
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
  double step_time;       /* seconds inside training steps in this run (with communication) */
  int64_t steps_run;      /* steps taken in this run */
  double lr_now;
  History hist;
  rt_progress prog;
  EvalResult last_eval;
  bool evaluated;
  bool saved;             /* a checkpoint was written in this run */
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
nn_status rt_hist_add(History *h, const HistRow *r);
void rt_hist_free(History *h);
/* The history as CSV (the metrics file's text; with_kind adds a first
 * column "e"/"s" for the checkpoint copy). rt_alloc'd. */
char *rt_hist_csv(const History *h, bool with_kind);
/* Parses rt_hist_csv(h, true) back into h, strictly: the header, then rows
 * of a kind and 7 fields, each empty or a finite number, steps and epochs
 * never decreasing. Errors are NN_ERR_FORMAT "WHAT: metadata 'history':
 * ...". */
nn_status rt_hist_parse(History *h, const char *csv, const char *what);
/* Writes the metrics CSV and the plot when asked for. */
nn_status rt_train_write_reports(Trainer *tr);

/* Checkpoints (rt_train_ckpt.c). Writes tr's checkpoint to --checkpoint:
 * the model and the program's metadata (position, losses, history, vocab). */
nn_status rt_train_save(Trainer *tr);
/* Reads every metadata field of a checkpoint read from `path`, each on its
 * own (NN_ERR_FORMAT naming the field). */
nn_status rt_train_read_meta(const rt_tensorset *ts, const char *path, ResumeMeta *r);
void rt_resume_meta_free(ResumeMeta *r);
/* Checks the fields against each other and against a run of `spe` steps
 * per epoch with a metrics row every `log_every` steps; fills the position
 * from the step when the program's fields are absent (a library save). */
nn_status rt_train_check_position(ResumeMeta *r, const char *path, int64_t spe, int64_t log_every);
/* Loads the checkpoint ts (from --resume) into tr's model, refusing
 * non-finite parameters, and, unless --eval-only, checks and restores the
 * position (batch, data fingerprint, seed, losses, history). */
nn_status rt_train_resume(Trainer *tr, const rt_tensorset *ts, ResumeMeta *r);

#endif
