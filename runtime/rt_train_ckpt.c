/* rt_train_ckpt.c — the training program's checkpoints: the metadata it
 * adds to the library's (rt_model_save), and reading all of it back when
 * resuming.
 *
 * A checkpoint is read once (rt_st_read, in setup), before the data is
 * loaded. rt_train_read_meta then checks every field on its own, strictly
 * (rt_ts_meta_*: an integer is digits in a range, a number is finite...):
 * a forged or damaged field is refused with a message naming it before
 * anything is trained. Once the data is loaded, rt_train_check_position
 * checks the fields against each other and against this run (step = epoch
 * x steps per epoch + epoch_step, the loss counts against the steps of the
 * epoch, the history against both), and rt_train_resume applies them.
 * Checkpoints made by the library (NAME_save) have none of these fields:
 * the position is then derived from the step. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "rt_train_internal.h"

nn_status rt_train_save(Trainer *tr) {
  if (tr->dist.rank != 0) { /* rank 0 writes for all: every rank holds the same model */
    tr->saved = true;
    return NN_OK;
  }
  char v[16][48];
  const char *keys[20], *vals[20];
  int n = 0;
#define META(k, fmt, x) (snprintf(v[n], sizeof v[n], fmt, x), keys[n] = k, vals[n] = v[n], n++)
  META("epoch", "%" PRId64, tr->epoch);
  META("epoch_step", "%" PRId64, tr->pos);
  META("pending_eval", "%d", tr->pending_eval ? 1 : 0);
  META("batch", "%" PRId64, tr->gbatch);
  META("ranks", "%d", tr->dist.size);
  META("epochs", "%" PRId64, tr->o->epochs);
  META("data_fingerprint", "%016" PRIx64, tr->train.fingerprint);
  META("elapsed", "%.17g", tr->elapsed_before + rt_train_now() - tr->t0);
  META("epoch_loss_sum", "%.17g", tr->epoch_loss_sum);
  META("epoch_loss_count", "%" PRId64, tr->epoch_loss_n);
  META("interval_loss_sum", "%.17g", tr->int_loss_sum);
  META("interval_loss_count", "%" PRId64, tr->int_loss_n);
  META("last_epoch_loss", "%.17g", tr->last_epoch_loss);
  META("threads", "%d", rt_pool_size(tr->m->pool));
#undef META
  char *vocab = NULL, *hist = rt_hist_csv(&tr->hist, true);
  if (!hist) return NN_ERR_NOMEM;
  keys[n] = "history", vals[n++] = hist;
  if (tr->is_text) {
    vocab = rt_vocab_to_string(&tr->vocab);
    if (!vocab) {
      rt_free(hist);
      return NN_ERR_NOMEM;
    }
    keys[n] = "vocab", vals[n++] = vocab;
  }
  nn_status s = rt_model_save(tr->d, tr->m, tr->o->checkpoint, keys, vals, n);
  rt_free(hist);
  rt_free(vocab);
  if (!s) tr->saved = true;
  return s;
}

/* ---- reading ------------------------------------------------------------------------------ */

void rt_resume_meta_free(ResumeMeta *r) {
  rt_hist_free(&r->hist);
  memset(r, 0, sizeof *r);
}

nn_status rt_train_read_meta(const rt_tensorset *ts, const char *path, ResumeMeta *r) {
  memset(r, 0, sizeof *r);
  r->last_epoch_loss = NAN;
  const int64_t MAX = RT_MAX_STEPS;
  bool has_epoch, has_pos, has_pending, flag;
  int64_t pending = 0, threads = 0;
  nn_status s;
  /* each call leaves s set; the first failure stops the chain */
  if ((s = rt_ts_meta_i64(ts, path, "step", 0, MAX, &r->step, NULL)) ||
      (s = rt_ts_meta_u64(ts, path, "seed", UINT64_MAX, &r->seed, &r->has_seed)) ||
      (s = rt_ts_meta_i64(ts, path, "epoch", 0, MAX, &r->epoch, &has_epoch)) ||
      (s = rt_ts_meta_i64(ts, path, "epoch_step", 0, MAX, &r->pos, &has_pos)) ||
      (s = rt_ts_meta_i64(ts, path, "pending_eval", 0, 1, &pending, &has_pending)) ||
      (s = rt_ts_meta_i64(ts, path, "batch", 1, INT32_MAX, &r->batch, NULL)) ||
      (s = rt_ts_meta_i64(ts, path, "epochs", 1, MAX, &r->epochs, NULL)) ||
      (s = rt_ts_meta_hex(ts, path, "data_fingerprint", 16, &r->fingerprint, &r->has_fingerprint)) ||
      (s = rt_ts_meta_f64(ts, path, "elapsed", 0, 1e12, false, &r->elapsed, NULL)) ||
      (s = rt_ts_meta_f64(ts, path, "epoch_loss_sum", -HUGE_VAL, HUGE_VAL, false, &r->epoch_loss_sum, NULL)) ||
      (s = rt_ts_meta_i64(ts, path, "epoch_loss_count", 0, MAX, &r->epoch_loss_n, NULL)) ||
      (s = rt_ts_meta_f64(ts, path, "interval_loss_sum", -HUGE_VAL, HUGE_VAL, false, &r->int_loss_sum, NULL)) ||
      (s = rt_ts_meta_i64(ts, path, "interval_loss_count", 0, MAX, &r->int_loss_n, NULL)) ||
      (s = rt_ts_meta_f64(ts, path, "last_epoch_loss", -HUGE_VAL, HUGE_VAL, true, &r->last_epoch_loss, NULL)) ||
      (s = rt_ts_meta_i64(ts, path, "threads", 1, 1024, &threads, &flag)))
    return s;
  r->pending_eval = pending == 1;
  /* the position is this program's three fields, all or none */
  if (has_epoch != has_pos || has_epoch != has_pending)
    return rt_error(NN_ERR_FORMAT, "%s: metadata has %s but not %s; expected epoch, epoch_step and pending_eval "
                    "together", path, has_epoch ? "'epoch'" : has_pos ? "'epoch_step'" : "'pending_eval'",
                    !has_epoch ? "'epoch'" : !has_pos ? "'epoch_step'" : "'pending_eval'");
  r->has_position = has_epoch;
  const char *vocab = rt_ts_meta(ts, "vocab");
  if (vocab) {
    if ((s = rt_vocab_from_string(vocab, &r->vocab))) {
      char why[400];
      snprintf(why, sizeof why, "%s", rt_last_error());
      return rt_error(NN_ERR_FORMAT, "%s: metadata 'vocab': %s", path, why);
    }
    r->has_vocab = true;
  }
  const char *hist = rt_ts_meta(ts, "history");
  if (hist && (s = rt_hist_parse(&r->hist, hist, path))) {
    rt_resume_meta_free(r);
    return s;
  }
  return NN_OK;
}

/* ---- checking against this run -------------------------------------------------------------- */

nn_status rt_train_check_position(ResumeMeta *r, const char *path, int64_t spe, int64_t log_every) {
  if (!r->has_position) { /* a checkpoint saved through the library API */
    r->epoch = r->step / spe;
    r->pos = r->step % spe; /* no losses kept: the epoch's mean is over the steps that follow */
    return NN_OK;
  }
  if (r->epoch > r->step / spe || r->epoch * spe + r->pos != r->step || r->pos >= spe)
    return rt_error(NN_ERR_MISMATCH, "%s: step %" PRId64 " is not epoch %" PRId64 " + %" PRId64
                    " steps of %" PRId64 " (was it trained on other data or with another --limit?)",
                    path, r->step, r->epoch, r->pos, spe);
  if (r->pending_eval && (r->pos != 0 || r->epoch == 0))
    return rt_error(NN_ERR_FORMAT, "%s: metadata 'pending_eval' is 1 at epoch %" PRId64 " step %" PRId64
                    "; an evaluation is pending only at the end of an epoch", path, r->epoch, r->pos);
  if (r->epochs && r->epoch > r->epochs)
    return rt_error(NN_ERR_FORMAT, "%s: metadata 'epoch' is %" PRId64 ", past 'epochs' %" PRId64 " of its run",
                    path, r->epoch, r->epochs);
  if (r->epoch_loss_n != r->pos)
    return rt_error(NN_ERR_FORMAT, "%s: metadata 'epoch_loss_count' is %" PRId64 "; expected %" PRId64
                    " (epoch_step: the steps of the epoch so far)", path, r->epoch_loss_n, r->pos);
  if (r->int_loss_n > r->pos || r->int_loss_n >= log_every)
    return rt_error(NN_ERR_FORMAT, "%s: metadata 'interval_loss_count' is %" PRId64 "; expected at most %" PRId64
                    " (the steps since the last metrics row)", path, r->int_loss_n,
                    r->pos < log_every - 1 ? r->pos : log_every - 1);
  int64_t epoch_rows = 0;
  for (int i = 0; i < r->hist.n; i++) {
    const HistRow *h = &r->hist.rows[i];
    epoch_rows += h->is_epoch;
    if (h->step > r->step)
      return rt_error(NN_ERR_FORMAT, "%s: metadata 'history': row %d is at step %" PRId64 ", after the checkpoint's "
                      "step %" PRId64, path, i + 1, h->step, r->step);
  }
  if (r->hist.n && epoch_rows != r->epoch - r->pending_eval)
    return rt_error(NN_ERR_FORMAT, "%s: metadata 'history' has %" PRId64 " epoch rows; expected %" PRId64
                    " (the epochs done and evaluated)", path, epoch_rows, r->epoch - r->pending_eval);
  return NN_OK;
}

/* The first parameter value that is not finite, as an error. */
static nn_status check_finite(const Trainer *tr, const char *path) {
  const rt_model_desc *d = tr->d;
  for (int i = 0; i < d->nparams; i++) {
    const rt_param_desc *p = &d->params[i];
    const uint8_t *base = tr->m->params + p->byte_offset;
    for (size_t k = 0; k < p->info.numel; k++) {
      double v = p->dtype == RT_DT_F64 ? ((const double *)base)[k] : ((const float *)base)[k];
      if (!isfinite(v))
        return rt_error(NN_ERR_NONFINITE, "%s: parameter '%s' holds %s at index %zu: the checkpoint comes from a "
                        "run that diverged, or is damaged", path, p->info.name, isnan(v) ? "NaN" : "infinity", k);
    }
  }
  return NN_OK;
}

nn_status rt_train_resume(Trainer *tr, const rt_tensorset *ts, ResumeMeta *r) {
  const char *path = tr->o->resume;
  nn_status s = rt_model_load_set(tr->d, tr->m, ts, path);
  if (!s) s = check_finite(tr, path);
  if (s) return s;
  if (tr->o->eval_only) { /* any data, any batch: only the parameters matter */
    tr->m->steps_done = (uint64_t)r->step;
    return NN_OK;
  }
  if (r->batch && r->batch != tr->gbatch)
    return rt_error(NN_ERR_MISMATCH, "%s: trained with batches of %" PRId64 "; this program's batch is %" PRId64
                    "%s", path, r->batch, tr->gbatch,
                    tr->o->per_rank_batch ? " (--per-rank-batch: the model's batch times the ranks)" : "");
  if ((s = rt_train_check_position(r, path, tr->spe, tr->log_every))) return s;
  if (r->has_fingerprint && r->fingerprint != tr->train.fingerprint)
    return rt_error(NN_ERR_MISMATCH, "%s: trained on other data (fingerprint %016" PRIx64 ", this data %016" PRIx64
                    "); resume with the same --data and --limit", path, r->fingerprint, tr->train.fingerprint);
  if (r->has_seed) {
    if (tr->o->seed_given && r->seed != tr->o->seed)
      fprintf(stderr, "%s: note: continuing with the checkpoint's seed %" PRIu64 ", not --seed %" PRIu64 "\n",
              tr->o->prog, r->seed, tr->o->seed);
    tr->o->seed = r->seed;
  }
  tr->m->seed = tr->o->seed;
  tr->m->steps_done = (uint64_t)r->step;
  tr->epoch = r->epoch;
  tr->pos = r->pos;
  tr->pending_eval = r->pending_eval;
  tr->elapsed_before = r->elapsed;
  tr->epoch_loss_sum = r->epoch_loss_sum;
  tr->epoch_loss_n = r->epoch_loss_n;
  tr->int_loss_sum = r->int_loss_sum;
  tr->int_loss_n = r->int_loss_n;
  tr->last_epoch_loss = r->last_epoch_loss;
  rt_hist_free(&tr->hist);
  tr->hist = r->hist; /* moved */
  memset(&r->hist, 0, sizeof r->hist);
  return NN_OK;
}
