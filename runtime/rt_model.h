/* rt_model.h — the model object behind every generated library.
 *
 * The compiler emits, for a model, a constant descriptor (rt_model_desc):
 * its parameters (name, shape, offset in one flat buffer, initializer), its
 * compiled functions (an entry point plus the role of every argument and
 * result), the workspace size and the training settings. The generated
 * API functions are thin wrappers that call into this file, so the checks
 * (NULL pointers, wrong objects), allocation, initialization and
 * checkpoints are written once, in C, and tested once.
 *
 * Memory (llm.c's lesson): parameters, gradients and optimizer state are
 * each one contiguous buffer; every intermediate value of every function
 * lives at a fixed offset of one workspace. Nothing is allocated after
 * rt_model_create. */
#ifndef NN_RT_MODEL_H
#define NN_RT_MODEL_H

#include "rt_core.h"
#include "rt_kernels.h"

#define RT_MODEL_MAGIC 0x4c444f4d43434e4eull  /* "NNCCMODL" */
/* Training steps an object can count: the optimizer takes the step as i32. */
#define RT_MAX_STEPS 2147483646
/* The largest learning rate set_learning_rate takes. */
#define RT_MAX_LR 1e6
/* Threads an object may be created with (0: one per online CPU, capped so). */
#define RT_MAX_THREADS 1024
#define RT_ABI_VERSION 1

/* Roles of a compiled function's arguments and results (the compiler's
 * ArgRole/ResRole). */
enum {
  RT_IN_INPUT = 0,     /* a user pointer */
  RT_IN_PARAM = 1,     /* params + offset of parameter `index` */
  RT_IN_STATE = 2,     /* optimizer state slot `index` */
  RT_IN_SCALAR = 3,    /* a scalar the model holds: see RT_SCALAR_* */
  RT_IN_GRAD = 4,      /* grads + offset of parameter `index` (apply_update reads it) */
  RT_OUT_OUTPUT = 0,   /* a user pointer */
  RT_OUT_LOSS = 1,     /* a user pointer (the loss) */
  RT_OUT_GRAD = 2,     /* grads + offset of parameter `index` */
  RT_OUT_INPUT_GRAD = 3, /* a user pointer */
  RT_OUT_NEW_PARAM = 4,  /* params + offset of parameter `index` */
  RT_OUT_NEW_STATE = 5   /* optimizer state slot `index` */
};
enum { RT_SCALAR_SEED = 0, RT_SCALAR_LR = 1, RT_SCALAR_STEP = 2,
       RT_SCALAR_DIM = 3 /* the call's run-time size n (i32), see rt_model_call_n */ };
enum { RT_DT_F32 = 0, RT_DT_F64 = 1, RT_DT_I32 = 2, RT_DT_BOOL = 3 }; /* the compiler's DType order */

/* Public description of a parameter (also the generated headers'
 * nn_tensor_info, which must keep this layout). */
#ifndef NN_TENSOR_INFO_DEFINED
#define NN_TENSOR_INFO_DEFINED
typedef struct nn_tensor_info {
  const char *name;
  int rank;
  int64_t shape[8];
  size_t offset;       /* in elements, into the flat parameter buffer */
  size_t numel;
} nn_tensor_info;
#endif

typedef struct rt_param_desc {
  nn_tensor_info info;
  int dtype;           /* RT_DT_F32 or RT_DT_F64 */
  size_t byte_offset;  /* into the params (and grads) buffer, 64-byte aligned */
  int init_kind;       /* rt_init_kind */
  double init_a, init_b;
} rt_param_desc;

typedef struct rt_slot {
  int role;            /* RT_IN_* or RT_OUT_* */
  int index;           /* parameter / state / scalar / user index */
  int dtype;
  int rank;
  int64_t shape[8];
  const char *name;
  int64_t index_bound;  /* i32 inputs used as indices (labels, character ids):
                           every value must be in [0, index_bound); 0 = unchecked */
  uint32_t dyn_axes;    /* bit k: axis k has the call's run-time size n (shape[k] is its bound) */
} rt_slot;

/* A compiled function: bufs[0..nargs) are its arguments, bufs[nargs..)
 * its results, each a pointer to the data. */
typedef void (*rt_impl_fn)(void *ws, rt_pool *pool, void **bufs);

typedef struct rt_func_desc {
  const char *name;      /* "forward", "loss_grad", "train_step" */
  rt_impl_fn impl;
  int nargs, nres;
  const rt_slot *args, *res;
  int nuser_in, nuser_out; /* user pointers: inputs, then outputs */
  size_t ws_bytes;
  int64_t dim_bound;     /* 0: static shapes; else the function takes a run-time size n in 1..dim_bound */
} rt_func_desc;

/* What the train block asked for (the training driver reads this). */
typedef struct rt_train_desc {
  int loss_fn, train_fn, predict_fn, generate_fn; /* function indices, -1 when absent */
  int optimizer;         /* 0 sgd, 1 adam, 2 adamw */
  double lr, momentum, weight_decay, beta1, beta2, eps;
  int nesterov;
  int schedule;          /* 0 constant, 1 step, 2 cosine */
  int64_t sched_every, sched_warmup;
  double sched_gamma, sched_min_lr;
  double clip_norm;
  int64_t epochs;
  uint64_t seed;
  int data_kind, test_kind;      /* 0 none, 1 idx, 2 npy, 3 csv, 4 text */
  const char *data_path[2], *test_path[2];
  double data_scale, test_scale, data_split, test_split;
  int64_t data_label_col, test_label_col;
  int nstate;            /* optimizer state slots (one per parameter per moment) */
  int64_t nclasses;      /* classes (or vocabulary size) the labels index, 0 if unknown:
                            the last axis of predict's (or generate's) result */
  int grad_fn;           /* the gradient train_step computes (the loss's dropout version
                            if any): its user pointers are train_step's; -1 if absent */
  int update_fn;         /* "apply_update": train_step's update from the grads buffer */
} rt_train_desc;

typedef struct rt_model_desc {
  uint64_t magic;        /* RT_MODEL_MAGIC */
  uint32_t abi_version;  /* RT_ABI_VERSION */
  uint32_t desc_bytes;   /* sizeof(rt_model_desc) as the compiler laid it out */
  const char *name;      /* the model's name */
  const char *build_info;
  const char *source_hash;
  int nparams;
  const rt_param_desc *params;
  size_t param_bytes;    /* the flat parameter buffer (and the gradient buffer) */
  size_t state_bytes;    /* optimizer state: nstate slots, each like the params */
  int nfuncs;
  const rt_func_desc *funcs;
  size_t ws_bytes;       /* the largest function workspace */
  const rt_train_desc *train; /* NULL without a train block */
} rt_model_desc;

/* What a caller tells one call of a compiled function beyond its buffers:
 * the runtime passes it in the bufs slot after the results (NULL when
 * m->call_ctx is). A data-parallel training program (rt_train.c) uses it
 * to start summing gradients while the backward pass still runs, and to
 * give dropout the random numbers of the rows' place in the global batch. */
typedef struct rt_call_ctx {
  /* called (on the calling thread) as soon as parameter `param`'s gradient
   * is final in the grads buffer: nothing later in the call reads or
   * writes it. Gradients not announced are final when the call returns.
   * A param of -1 says nothing is new (a chance to make progress).
   * NULL: nobody asked. */
  void (*grad_ready)(void *user, int param);
  void *user;
  int64_t row0;          /* this call's row 0 is row row0 of the global batch */
} rt_call_ctx;
/* Called by generated code: ctx->grad_ready(ctx->user, param), if any. */
void rt_grad_ready(const rt_call_ctx *ctx, int32_t param);
/* Dropout's uniform numbers for element i of a tensor whose axis 0 is the
 * batch (row_elems elements a row): rt_rand_uniform at the element's
 * index in the global batch, i + ctx->row0 * row_elems. */
float rt_rand_uniform_rows(const rt_call_ctx *ctx, uint64_t seed, uint64_t stream, uint64_t i, uint64_t row_elems);

typedef struct rt_model {
  uint64_t magic;        /* RT_MODEL_MAGIC while alive */
  const rt_model_desc *desc;
  uint8_t *params, *grads, *state;
  void *ws;
  rt_pool *pool;
  /* scalars passed to functions by role RT_IN_SCALAR */
  float lr_f32;
  double lr_f64;
  int32_t seed_i32;      /* dropout seed for this step */
  float step_f32;        /* optimizer step, counted from 1 */
  double step_f64;
  int32_t step_i32;
  int32_t dim_i32;       /* the run-time size n of the current call */
  uint64_t steps_done;   /* training steps taken */
  uint64_t seed;         /* creation seed */
  void **bufs;           /* room for the buffer pointers (arguments, then
                            results, then call_ctx) of the largest function,
                            so a call allocates nothing however many parameters */
  rt_call_ctx *call_ctx; /* passed to every call (NULL: none); the caller's */
  rt_call_ctx hook;      /* the library user's (rt_model_set_grad_ready) */
} rt_model;

nn_status rt_model_create(const rt_model_desc *d, rt_model **out, uint64_t seed, int nthreads);
void rt_model_destroy(const rt_model_desc *d, rt_model *m);
/* NN_OK if m is a live object of this descriptor. */
nn_status rt_model_check(const rt_model_desc *d, const rt_model *m);
/* Call function `fn` with user pointers (inputs, then outputs). A function
 * with a run-time size runs at its bound. */
nn_status rt_model_call(const rt_model_desc *d, rt_model *m, int fn, void *const *user, int nuser);
/* The same with the run-time size n: NN_ERR_SHAPE unless 1 <= n <= the
 * function's dim_bound (n is ignored by a function without one). */
nn_status rt_model_call_n(const rt_model_desc *d, rt_model *m, int fn, int64_t n, void *const *user, int nuser);
/* The training step: sets the scalars (lr, step, seed), calls the
 * train_step function, counts the step. The loss is written to *loss. */
nn_status rt_model_train_step(const rt_model_desc *d, rt_model *m, void *const *user, int nuser);
nn_status rt_model_train_step_n(const rt_model_desc *d, rt_model *m, int64_t n, void *const *user, int nuser);
/* The same step in two halves, so that something (a sum across processes)
 * can come between: rt_model_grad writes the loss and the gradient of the
 * coming step (its dropout seed) into the grads buffer, taking no step;
 * rt_model_apply_update applies the optimizer's update from the grads
 * buffer and counts the step. grad then apply_update gives train_step's
 * bits. */
nn_status rt_model_grad(const rt_model_desc *d, rt_model *m, void *const *user, int nuser);
nn_status rt_model_grad_n(const rt_model_desc *d, rt_model *m, int64_t n, void *const *user, int nuser);
nn_status rt_model_apply_update(const rt_model_desc *d, rt_model *m);
nn_status rt_model_set_lr(const rt_model_desc *d, rt_model *m, double lr);
/* The generated API's NAME_set_grad_ready: every following call gets a
 * context whose grad_ready is fn(user, param) (row0 0); fn NULL: no
 * context. */
nn_status rt_model_set_grad_ready(const rt_model_desc *d, rt_model *m, void (*fn)(void *user, int param), void *user);
/* Re-initialize the parameters from a seed (and zero the optimizer state). */
nn_status rt_model_init_params(const rt_model_desc *d, rt_model *m, uint64_t seed);
const nn_tensor_info *rt_model_param_info(const rt_model_desc *d, size_t i);
/* The flat parameter / gradient buffers, NULL for a bad object. */
void *rt_model_params(const rt_model_desc *d, rt_model *m);
void *rt_model_grads(const rt_model_desc *d, rt_model *m);
/* Sizes of the descriptor structs as this runtime was compiled, for the
 * compiler's layout check (tests). */
void rt_model_struct_sizes(size_t out[6]);
/* Checkpoints: safetensors with every parameter by name; the optimizer
 * state as "<param>.m" / ".v"; metadata (format nnc-checkpoint-2, model,
 * source_hash, step, seed, data_crc32: the CRC-32 of the data region, then
 * the extra pairs). Written to a temporary file and renamed. */
nn_status rt_model_save(const rt_model_desc *d, const rt_model *m, const char *path,
                        const char *const *meta_key, const char *const *meta_val, int nmeta);
/* Load parameters (and optimizer state and step when present). A missing,
 * extra, or misshapen tensor is an error naming it, so is metadata that is
 * malformed (format, step 0..RT_MAX_STEPS, seed) or data that does not
 * match its data_crc32 (NN_ERR_FORMAT: a format-2 file must have one;
 * format-1 files, older, have none and load unchecked); on any error the
 * model is left unchanged. */
nn_status rt_model_load(const rt_model_desc *d, rt_model *m, const char *path);
/* The same from a checkpoint already read (rt_st_read) from `path` (named
 * in messages): the training program reads its file once. */
struct rt_tensorset;
nn_status rt_model_load_set(const rt_model_desc *d, rt_model *m, const struct rt_tensorset *ts, const char *path);

#endif
