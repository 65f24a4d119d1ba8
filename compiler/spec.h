/* spec.h — what the checker resolves from the source that the IR carries
 * on: how each parameter is initialized and the train block (optimizer,
 * schedule, epochs, data sources; functions by name). No syntax tree here,
 * so the IR (ir.h) stands without ast.h. */
#ifndef NNC_SPEC_H
#define NNC_SPEC_H
#include <stdbool.h>
#include <stdint.h>

#include "diag.h"

typedef enum InitKind { INIT_ZEROS, INIT_ONES, INIT_CONST, INIT_UNIFORM, INIT_NORMAL, INIT_TRUNC_NORMAL } InitKind;
typedef struct InitSpec {
  InitKind kind;
  double a, b;        /* CONST: a; UNIFORM: [a,b); NORMAL: mean a, std b */
  const char *how;    /* the initializer as written, e.g. "he_normal()" */
} InitSpec;

/* ---- the resolved train block ------------------------------------------- */

typedef enum DataKind { DATA_NONE, DATA_IDX, DATA_NPY, DATA_CSV, DATA_TEXT } DataKind;
typedef struct DataSpec {
  DataKind kind;
  const char *path[2];  /* IDX/NPY: features, labels; CSV/TEXT: path[0] */
  double scale;         /* features are multiplied by it (default 1) */
  int64_t label_col;    /* CSV: label column, -1 = last */
  double split;         /* TEXT: fraction held out for validation (test = text(..)) */
  Loc loc;
} DataSpec;

typedef enum OptKind { OPT_SGD, OPT_ADAM, OPT_ADAMW } OptKind;
typedef struct OptSpec {
  OptKind kind;
  double lr, momentum, weight_decay, beta1, beta2, eps;
  bool nesterov;
} OptSpec;

typedef enum SchedKind { SCHED_CONSTANT, SCHED_STEP, SCHED_COSINE } SchedKind;
typedef struct SchedSpec {
  SchedKind kind;
  int64_t every;       /* STEP: decay every `every` epochs */
  double gamma;        /* STEP: factor */
  int64_t warmup;      /* COSINE: linear warm-up steps */
  double min_lr;       /* COSINE: final learning rate */
} SchedSpec;

typedef struct TrainSpec {
  const char *loss;     /* minimize = fn (a float scalar): its name */
  const char *predict;  /* predict = fn giving class scores (accuracy), or NULL */
  const char *generate; /* generate = fn for sampling text (char models), or NULL */
  OptSpec opt;
  SchedSpec sched;
  int64_t epochs;
  double clip_norm;    /* 0 = no clipping */
  int64_t max_tape_bytes; /* 0 = no limit: the loop tapes of the gradients (remat.h) */
  uint64_t seed;
  DataSpec data, test;
} TrainSpec;

/* The defaults of the train block, once: the checker (train.c) and the IR
 * parser (ir_parse.c) start from them, and the IR printer leaves out what
 * equals them (spec.c). */
void spec_train_defaults(TrainSpec *t);        /* sgd(), constant(), 1 epoch, no data (all zero) */
void spec_opt_defaults(OptSpec *o, OptKind k); /* each optimizer's lr, betas, eps, weight_decay */
void spec_sched_defaults(SchedSpec *s, SchedKind k);
void spec_data_defaults(DataSpec *d);          /* scale 1, last label column, split 0.1 */

/* The names the train block gives each kind, indexed by it. */
extern const char *const spec_opt_names[3];   /* sgd, adam, adamw */
extern const char *const spec_sched_names[3]; /* constant, step, cosine */
extern const char *const spec_data_names[5];  /* "", idx, npy, csv, text */

#endif
