/* rt_model.c — the model object; see rt_model.h. */
#include "rt_model.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_io.h"

nn_status rt_model_check(const rt_model_desc *d, const rt_model *m) {
  if (!d) return rt_error(NN_ERR_NULL, "no model descriptor");
  if (!m) return rt_error(NN_ERR_NULL, "the model pointer is NULL");
  if (m->magic != RT_MODEL_MAGIC || m->desc != d)
    return rt_error(NN_ERR_OBJECT, "not a live %s object (created by another library, or destroyed)", d->name);
  return NN_OK;
}

static void fill_param(const rt_param_desc *p, uint8_t *base, uint64_t seed, uint64_t stream) {
  if (p->dtype == RT_DT_F64)
    rt_init_fill_f64((double *)(base + p->byte_offset), p->info.numel, (rt_init_kind)p->init_kind, p->init_a,
                     p->init_b, seed, stream);
  else
    rt_init_fill((float *)(base + p->byte_offset), p->info.numel, (rt_init_kind)p->init_kind, p->init_a, p->init_b,
                 seed, stream);
}

nn_status rt_model_init_params(const rt_model_desc *d, rt_model *m, uint64_t seed) {
  nn_status s = rt_model_check(d, m);
  if (s) return s;
  for (int i = 0; i < d->nparams; i++) fill_param(&d->params[i], m->params, seed, (uint64_t)i);
  if (m->state) memset(m->state, 0, d->state_bytes);
  m->seed = seed;
  m->steps_done = 0;
  return NN_OK;
}

/* Frees what create allocated (the pool too; any pointer may be NULL). */
static void free_model(rt_model *m) {
  rt_pool_destroy(m->pool);
  rt_free(m->params);
  rt_free(m->grads);
  rt_free(m->state);
  rt_free(m->ws);
  rt_free(m->bufs);
  rt_free(m);
}

nn_status rt_model_create(const rt_model_desc *d, rt_model **out, uint64_t seed, int nthreads) {
  if (!out) return rt_error(NN_ERR_NULL, "the output pointer is NULL");
  *out = NULL;
  if (!d || d->magic != RT_MODEL_MAGIC) return rt_error(NN_ERR_OBJECT, "bad model descriptor");
  if (d->abi_version != RT_ABI_VERSION || d->desc_bytes != sizeof(rt_model_desc))
    return rt_error(NN_ERR_OBJECT, "model ABI version %u (%u bytes), runtime %d (%zu bytes)", d->abi_version,
                    d->desc_bytes, RT_ABI_VERSION, sizeof(rt_model_desc));
  if (nthreads < 0 || nthreads > RT_MAX_THREADS)
    return rt_error(NN_ERR_ARG, "%s: %d threads; expected 0 (one per core) to %d", d->name, nthreads, RT_MAX_THREADS);
  rt_model *m = rt_calloc(1, sizeof *m);
  if (!m) return NN_ERR_NOMEM;
  m->params = rt_calloc(1, d->param_bytes ? d->param_bytes : 64);
  m->grads = rt_calloc(1, d->param_bytes ? d->param_bytes : 64);
  m->state = d->state_bytes ? rt_calloc(1, d->state_bytes) : NULL;
  m->ws = rt_alloc(d->ws_bytes ? d->ws_bytes : 64);
  int nbufs = 1;
  for (int i = 0; i < d->nfuncs; i++)
    if (d->funcs[i].nargs + d->funcs[i].nres + 1 > nbufs) nbufs = d->funcs[i].nargs + d->funcs[i].nres + 1;
  m->bufs = rt_calloc((size_t)nbufs, sizeof(void *));
  nn_status s = NN_OK;
  if (!m->params || !m->grads || (d->state_bytes && !m->state) || !m->ws || !m->bufs) s = NN_ERR_NOMEM;
  if (!s) s = rt_pool_create(&m->pool, nthreads);
  if (s) {
    free_model(m);
    return s;
  }
  m->magic = RT_MODEL_MAGIC;
  m->desc = d;
  m->lr_f32 = d->train ? (float)d->train->lr : 0.0f;
  m->lr_f64 = d->train ? d->train->lr : 0.0;
  rt_model_init_params(d, m, seed);
  *out = m;
  return NN_OK;
}

void rt_model_destroy(const rt_model_desc *d, rt_model *m) {
  if (rt_model_check(d, m)) return;
  m->magic = 0;
  m->desc = NULL;
  free_model(m);
}

static void *scalar_ptr(rt_model *m, const rt_slot *s) {
  switch (s->index) {
  case RT_SCALAR_SEED: return &m->seed_i32;
  case RT_SCALAR_LR: return s->dtype == RT_DT_F64 ? (void *)&m->lr_f64 : (void *)&m->lr_f32;
  case RT_SCALAR_STEP:
    return s->dtype == RT_DT_F64 ? (void *)&m->step_f64 : s->dtype == RT_DT_I32 ? (void *)&m->step_i32 : (void *)&m->step_f32;
  case RT_SCALAR_DIM: return &m->dim_i32;
  }
  return NULL;
}

static uint8_t *state_ptr(const rt_model_desc *d, rt_model *m, int k) {
  int slot = k / d->nparams, p = k % d->nparams;
  return m->state + (size_t)slot * d->param_bytes + d->params[p].byte_offset;
}

nn_status rt_model_call(const rt_model_desc *d, rt_model *m, int fn, void *const *user, int nuser) {
  nn_status s = rt_model_check(d, m);
  if (s) return s;
  if (fn < 0 || fn >= d->nfuncs) return rt_error(NN_ERR_ARG, "no function %d", fn);
  return rt_model_call_n(d, m, fn, d->funcs[fn].dim_bound, user, nuser);
}

nn_status rt_model_call_n(const rt_model_desc *d, rt_model *m, int fn, int64_t dn, void *const *user, int nuser) {
  nn_status s = rt_model_check(d, m);
  if (s) return s;
  if (fn < 0 || fn >= d->nfuncs) return rt_error(NN_ERR_ARG, "no function %d", fn);
  const rt_func_desc *f = &d->funcs[fn];
  if (f->dim_bound && (dn < 1 || dn > f->dim_bound))
    return rt_error(NN_ERR_SHAPE, "%s: n = %lld, but it must be in 1..%lld", f->name, (long long)dn,
                    (long long)f->dim_bound);
  if (!f->dim_bound) dn = 0;
  m->dim_i32 = (int32_t)dn;
  if (nuser != f->nuser_in + f->nuser_out) return rt_error(NN_ERR_ARG, "%s takes %d pointers", f->name, f->nuser_in + f->nuser_out);
  for (int i = 0; i < nuser; i++)
    if (!user[i]) return rt_error(NN_ERR_NULL, "%s: pointer argument %d is NULL", f->name, i + 1);
  /* indices (class labels, character ids) must be in range: the compiled
   * code would clamp them, silently computing something else */
  for (int i = 0; i < f->nargs; i++) {
    const rt_slot *a = &f->args[i];
    if (a->role != RT_IN_INPUT || !a->index_bound || a->dtype != RT_DT_I32) continue;
    int64_t n = 1;
    for (int k = 0; k < a->rank; k++) n *= (a->dyn_axes >> k) & 1 ? dn : a->shape[k];
    const int32_t *v = user[a->index];
    for (int64_t k = 0; k < n; k++)
      if (v[k] < 0 || v[k] >= a->index_bound)
        return rt_error(NN_ERR_RANGE, "%s: input '%s' holds %d at position %lld; expected 0..%lld", f->name,
                        a->name ? a->name : "?", v[k], (long long)k, (long long)a->index_bound - 1);
  }
  void **bufs = m->bufs;
  for (int i = 0; i < f->nargs; i++) {
    const rt_slot *a = &f->args[i];
    switch (a->role) {
    case RT_IN_INPUT: bufs[i] = user[a->index]; break;
    case RT_IN_PARAM: bufs[i] = m->params + d->params[a->index].byte_offset; break;
    case RT_IN_STATE: bufs[i] = state_ptr(d, m, a->index); break;
    case RT_IN_SCALAR: bufs[i] = scalar_ptr(m, a); break;
    case RT_IN_GRAD: bufs[i] = m->grads + d->params[a->index].byte_offset; break;
    default: return rt_error(NN_ERR_INTERNAL, "bad argument role");
    }
  }
  for (int i = 0; i < f->nres; i++) {
    const rt_slot *r = &f->res[i];
    void **b = &bufs[f->nargs + i];
    switch (r->role) {
    case RT_OUT_OUTPUT: case RT_OUT_LOSS: case RT_OUT_INPUT_GRAD: *b = user[f->nuser_in + r->index]; break;
    case RT_OUT_GRAD: *b = m->grads + d->params[r->index].byte_offset; break;
    case RT_OUT_NEW_PARAM: *b = m->params + d->params[r->index].byte_offset; break;
    case RT_OUT_NEW_STATE: *b = state_ptr(d, m, r->index); break;
    default: return rt_error(NN_ERR_INTERNAL, "bad result role");
    }
  }
  bufs[f->nargs + f->nres] = m->call_ctx;
  f->impl(m->ws, m->pool, bufs);
  return NN_OK;
}

void rt_grad_ready(const rt_call_ctx *ctx, int32_t param) {
  if (ctx && ctx->grad_ready) ctx->grad_ready(ctx->user, param);
}

float rt_rand_uniform_rows(const rt_call_ctx *ctx, uint64_t seed, uint64_t stream, uint64_t i, uint64_t row_elems) {
  return rt_rand_uniform(seed, stream, ctx ? i + (uint64_t)ctx->row0 * row_elems : i);
}

nn_status rt_model_train_step(const rt_model_desc *d, rt_model *m, void *const *user, int nuser) {
  nn_status s = rt_model_check(d, m);
  if (s) return s;
  if (!d->train || d->train->train_fn < 0) return rt_error(NN_ERR_ARG, "%s has no train block", d->name);
  return rt_model_train_step_n(d, m, d->funcs[d->train->train_fn].dim_bound, user, nuser);
}

/* The scalars of step steps_done + 1 (NN_ERR_RANGE at the step limit). */
static nn_status next_step(const rt_model_desc *d, rt_model *m, int fn, uint64_t *t) {
  nn_status s = rt_model_check(d, m);
  if (s) return s;
  if (!d->train || d->train->train_fn < 0) return rt_error(NN_ERR_ARG, "%s has no train block", d->name);
  if (fn < 0) return rt_error(NN_ERR_ARG, "%s was compiled without the split training step", d->name);
  if (m->steps_done >= RT_MAX_STEPS)
    return rt_error(NN_ERR_RANGE, "%s: %" PRIu64 " training steps taken; the step counter is at its limit of %d",
                    d->name, m->steps_done, RT_MAX_STEPS);
  *t = m->steps_done + 1;
  m->step_f32 = (float)*t;
  m->step_f64 = (double)*t;
  m->step_i32 = (int32_t)*t;
  m->seed_i32 = (int32_t)(uint32_t)((m->seed * 0x9E3779B97F4A7C15ull + *t) >> 17);
  return NN_OK;
}

nn_status rt_model_train_step_n(const rt_model_desc *d, rt_model *m, int64_t dn, void *const *user, int nuser) {
  uint64_t t = 0;
  nn_status s = next_step(d, m, d && d->train ? d->train->train_fn : -1, &t);
  if (!s) s = rt_model_call_n(d, m, d->train->train_fn, dn, user, nuser);
  if (!s) m->steps_done = t;
  return s;
}

nn_status rt_model_grad(const rt_model_desc *d, rt_model *m, void *const *user, int nuser) {
  nn_status s = rt_model_check(d, m);
  if (s) return s;
  if (!d->train || d->train->grad_fn < 0) return rt_error(NN_ERR_ARG, "%s has no train block", d->name);
  return rt_model_grad_n(d, m, d->funcs[d->train->grad_fn].dim_bound, user, nuser);
}

nn_status rt_model_grad_n(const rt_model_desc *d, rt_model *m, int64_t dn, void *const *user, int nuser) {
  uint64_t t = 0;
  nn_status s = next_step(d, m, d && d->train ? d->train->grad_fn : -1, &t);
  return s ? s : rt_model_call_n(d, m, d->train->grad_fn, dn, user, nuser);
}

nn_status rt_model_apply_update(const rt_model_desc *d, rt_model *m) {
  uint64_t t = 0;
  nn_status s = next_step(d, m, d && d->train ? d->train->update_fn : -1, &t);
  if (!s) s = rt_model_call_n(d, m, d->train->update_fn, 0, NULL, 0);
  if (!s) m->steps_done = t;
  return s;
}

nn_status rt_model_set_lr(const rt_model_desc *d, rt_model *m, double lr) {
  nn_status s = rt_model_check(d, m);
  if (s) return s;
  if (!(lr >= 0) || lr > RT_MAX_LR) return rt_error(NN_ERR_ARG, "learning rate %g is invalid", lr);
  m->lr_f32 = (float)lr;
  m->lr_f64 = lr;
  return NN_OK;
}

nn_status rt_model_set_grad_ready(const rt_model_desc *d, rt_model *m, void (*fn)(void *user, int param), void *user) {
  nn_status s = rt_model_check(d, m);
  if (s) return s;
  m->hook = (rt_call_ctx){.grad_ready = fn, .user = user};
  m->call_ctx = fn ? &m->hook : NULL;
  return NN_OK;
}

void *rt_model_params(const rt_model_desc *d, rt_model *m) { return rt_model_check(d, m) ? NULL : m->params; }
void *rt_model_grads(const rt_model_desc *d, rt_model *m) { return rt_model_check(d, m) ? NULL : m->grads; }

void rt_model_struct_sizes(size_t out[6]) {
  out[0] = sizeof(rt_slot);
  out[1] = sizeof(nn_tensor_info);
  out[2] = sizeof(rt_param_desc);
  out[3] = sizeof(rt_func_desc);
  out[4] = sizeof(rt_train_desc);
  out[5] = sizeof(rt_model_desc);
}

const nn_tensor_info *rt_model_param_info(const rt_model_desc *d, size_t i) {
  if (!d || i >= (size_t)d->nparams) return NULL;
  return &d->params[i].info;
}

/* ---- checkpoints ----------------------------------------------------------- */

/* Tensor name of a parameter (slot 0) or of its optimizer moments. */
static void slot_name(char *buf, size_t n, const char *param, int slot) {
  snprintf(buf, n, "%s%s", param, slot == 1 ? ".m" : slot == 2 ? ".v" : "");
}

static rt_dtype io_dtype(int dt) { return dt == RT_DT_F64 ? RT_F64 : RT_F32; }

/* Optimizer moments per parameter: 0 (sgd), 1 (momentum) or 2 (adam). */
static int state_slots(const rt_model_desc *d) {
  int nslots = d->train ? d->train->nstate / (d->nparams ? d->nparams : 1) : 0;
  return nslots > 2 ? 2 : nslots;
}

/* The metadata that rt_model_save writes and rt_model_load checks. Format
 * 2 adds data_crc32; format 1 files (written before) have none. */
#define CKPT_FORMAT "nnc-checkpoint-2"
#define CKPT_FORMAT_V1 "nnc-checkpoint-1"

nn_status rt_model_save(const rt_model_desc *d, const rt_model *m, const char *path, const char *const *mk,
                        const char *const *mv, int nmeta) {
  nn_status s = rt_model_check(d, (rt_model *)m);
  if (s) return s;
  if (!path) return rt_error(NN_ERR_NULL, "the checkpoint path is NULL");
  int nslots = state_slots(d);
  int n = d->nparams * (1 + nslots);
  rt_tensor *t = rt_calloc((size_t)n + 1, sizeof *t);
  char **names = rt_calloc((size_t)n + 1, sizeof *names);
  if (!t || !names) {
    rt_free(t);
    rt_free(names);
    return NN_ERR_NOMEM;
  }
  for (int k = 0; k < n && !s; k++) {
    int i = k % d->nparams, slot = k / d->nparams;
    const rt_param_desc *p = &d->params[i];
    size_t len = strlen(p->info.name) + 4;
    names[k] = rt_alloc(len);
    if (!names[k]) {
      s = NN_ERR_NOMEM;
      break;
    }
    slot_name(names[k], len, p->info.name, slot);
    t[k].name = names[k];
    t[k].dtype = io_dtype(p->dtype);
    t[k].rank = p->info.rank;
    memcpy(t[k].shape, p->info.shape, sizeof(int64_t) * 8);
    t[k].nbytes = p->info.numel * (p->dtype == RT_DT_F64 ? 8 : 4);
    t[k].data = slot ? m->state + (size_t)(slot - 1) * d->param_bytes + p->byte_offset : m->params + p->byte_offset;
    t[k].borrowed = true;
  }
  if (!s) {
    enum { MAXMETA = 64 };
    const char *keys[MAXMETA], *vals[MAXMETA];
    char step[32], seed[32], crc[16];
    snprintf(step, sizeof step, "%" PRIu64, m->steps_done);
    snprintf(seed, sizeof seed, "%" PRIu64, m->seed);
    snprintf(crc, sizeof crc, "%08" PRIx32, rt_st_data_crc32(t, n));
    int k = 0;
    keys[k] = "format", vals[k++] = CKPT_FORMAT;
    keys[k] = "model", vals[k++] = d->name;
    keys[k] = "source_hash", vals[k++] = d->source_hash ? d->source_hash : "";
    keys[k] = "step", vals[k++] = step;
    keys[k] = "seed", vals[k++] = seed;
    keys[k] = "data_crc32", vals[k++] = crc;
    for (int j = 0; j < nmeta && k < MAXMETA; j++) keys[k] = mk[j], vals[k++] = mv[j];
    s = rt_st_write(path, t, n, keys, vals, k);
  }
  for (int k = 0; k < n; k++) rt_free(names[k]);
  rt_free(names);
  rt_free(t);
  return s;
}

/* The library's metadata of a checkpoint, checked: the format, the data
 * checksum, the step and the seed. */
typedef struct CkptMeta {
  uint64_t step;  /* 0 when absent */
  uint64_t seed;
  bool has_seed;
} CkptMeta;

static nn_status check_meta(const rt_tensorset *ts, const char *path, CkptMeta *cm) {
  memset(cm, 0, sizeof *cm);
  const char *format = rt_ts_meta(ts, "format");
  bool v2 = format && !strcmp(format, CKPT_FORMAT);
  if (format && !v2 && strcmp(format, CKPT_FORMAT_V1))
    return rt_error(NN_ERR_FORMAT, "%s: metadata 'format': expected %s (or %s), found '%.60s'", path, CKPT_FORMAT,
                    CKPT_FORMAT_V1, format);
  uint64_t crc = 0;
  bool has_crc;
  nn_status s = rt_ts_meta_hex(ts, path, "data_crc32", 8, &crc, &has_crc);
  if (s) return s;
  if (v2 && !has_crc)
    return rt_error(NN_ERR_FORMAT, "%s: metadata 'data_crc32' is missing; a %s checkpoint has one", path,
                    CKPT_FORMAT);
  if (has_crc && (uint32_t)crc != ts->data_crc32)
    return rt_error(NN_ERR_FORMAT, "%s: corrupted: the tensor data has CRC-32 %08" PRIx32 ", but metadata "
                    "'data_crc32' says %08" PRIx32, path, ts->data_crc32, (uint32_t)crc);
  if ((s = rt_ts_meta_u64(ts, path, "step", RT_MAX_STEPS, &cm->step, NULL))) return s;
  return rt_ts_meta_u64(ts, path, "seed", UINT64_MAX, &cm->seed, &cm->has_seed);
}

/* Every tensor of ts is a parameter or moment of d with its dtype and
 * shape, and every parameter is there. *has_state: a moment is. */
static nn_status check_tensors(const rt_model_desc *d, const rt_tensorset *ts, const char *path, bool *has_state) {
  int nslots = state_slots(d);
  *has_state = false;
  for (int i = 0; i < d->nparams; i++) {
    const rt_param_desc *p = &d->params[i];
    for (int slot = 0; slot <= nslots; slot++) {
      char name[512];
      slot_name(name, sizeof name, p->info.name, slot);
      const rt_tensor *t = rt_ts_find(ts, name);
      if (!t) {
        if (slot) continue; /* optimizer state is optional */
        return rt_error(NN_ERR_MISMATCH, "%s: no tensor '%s' (parameter %d of %s)", path, name, i, d->name);
      }
      if (slot) *has_state = true;
      bool same = t->rank == p->info.rank && t->dtype == io_dtype(p->dtype);
      for (int k = 0; same && k < t->rank; k++) same = t->shape[k] == p->info.shape[k];
      if (!same) {
        char got[128], want[128];
        rt_tensor w = {.dtype = io_dtype(p->dtype), .rank = p->info.rank};
        memcpy(w.shape, p->info.shape, sizeof w.shape);
        return rt_error(NN_ERR_MISMATCH, "%s: tensor '%s' is %s, but the model's '%s' is %s", path, name,
                        rt_tensor_shape_str(t, got, sizeof got), p->info.name,
                        rt_tensor_shape_str(&w, want, sizeof want));
      }
    }
  }
  for (int k = 0; k < ts->n; k++) {
    bool known = false;
    for (int i = 0; i < d->nparams && !known; i++)
      for (int slot = 0; slot <= nslots && !known; slot++) {
        char name[512];
        slot_name(name, sizeof name, d->params[i].info.name, slot);
        known = ts->t[k].name && !strcmp(ts->t[k].name, name);
      }
    if (!known)
      return rt_error(NN_ERR_MISMATCH, "%s: tensor '%s' is not a parameter of %s", path,
                      ts->t[k].name ? ts->t[k].name : "?", d->name);
  }
  return NN_OK;
}

nn_status rt_model_load_set(const rt_model_desc *d, rt_model *m, const rt_tensorset *ts, const char *path) {
  nn_status s = rt_model_check(d, m);
  if (s) return s;
  if (!ts || !path) return rt_error(NN_ERR_NULL, "rt_model_load_set: NULL argument");
  /* validate everything before touching the model */
  CkptMeta cm;
  bool has_state;
  if ((s = check_tensors(d, ts, path, &has_state)) || (s = check_meta(ts, path, &cm))) return s;
  int nslots = state_slots(d);
  for (int i = 0; i < d->nparams; i++) {
    const rt_param_desc *p = &d->params[i];
    const rt_tensor *t = rt_ts_find(ts, p->info.name);
    memcpy(m->params + p->byte_offset, t->data, t->nbytes);
    for (int slot = 1; slot <= nslots; slot++) {
      char name[512];
      slot_name(name, sizeof name, p->info.name, slot);
      const rt_tensor *st = rt_ts_find(ts, name);
      uint8_t *dst = m->state + (size_t)(slot - 1) * d->param_bytes + p->byte_offset;
      if (st) memcpy(dst, st->data, st->nbytes);
      else memset(dst, 0, t->nbytes);
    }
  }
  m->steps_done = has_state ? cm.step : 0;
  if (cm.has_seed) m->seed = cm.seed;
  return NN_OK;
}

nn_status rt_model_load(const rt_model_desc *d, rt_model *m, const char *path) {
  nn_status s = rt_model_check(d, m);
  if (s) return s;
  if (!path) return rt_error(NN_ERR_NULL, "the checkpoint path is NULL");
  rt_tensorset ts;
  s = rt_st_read(path, &ts);
  if (s) return s;
  s = rt_model_load_set(d, m, &ts, path);
  rt_ts_free(&ts);
  return s;
}
