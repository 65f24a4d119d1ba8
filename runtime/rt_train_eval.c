/* rt_train_eval.c — what the training program measures and reports:
 * evaluation of a dataset (loss, accuracy), the unigram baseline of a
 * text, sampling text from a character model, the metrics history, the
 * metrics CSV and the SVG plot.
 *
 * Evaluation runs the loss function over batches of the dataset in order.
 * A last partial batch of r < B rows is padded with copies of its first
 * row; its loss L1 then counts those copies too, so a second call on a
 * batch of nothing but that row gives its own loss L0, and the r real
 * rows sum to B*L1 - (B-r)*L0. That is exact for a loss that is a mean of
 * per-sample terms (cross_entropy, mse), which every sample model's is.
 * Accuracy takes the argmax of the predict function's scores over the
 * last axis at each target position of the real rows only. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt_plot.h"
#include "rt_train_internal.h"

double rt_train_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double scalar(const void *p, int dtype) {
  float f;
  double d;
  memcpy(&f, p, sizeof f);
  memcpy(&d, p, sizeof d);
  return dtype == RT_DT_F64 ? d : f;
}

/* The loss function's result slot (its only user output). */
static int loss_dtype(const rt_model_desc *d) {
  const rt_func_desc *f = &d->funcs[d->train->loss_fn];
  for (int i = 0; i < f->nres; i++)
    if (f->res[i].role == RT_OUT_OUTPUT || f->res[i].role == RT_OUT_LOSS) return f->res[i].dtype;
  return RT_DT_F32;
}

/* Function fn on the first `rows` rows of the batch: a function with a
 * run-time batch runs at rows (no padding), a static one at the batch size
 * (the rows past `rows` are padding the caller accounts for). */
static nn_status call_rows(Trainer *tr, int fn, int64_t rows, void **user, int nuser) {
  if (tr->d->funcs[fn].dim_bound) return rt_model_call_n(tr->d, tr->m, fn, rows, user, nuser);
  return rt_model_call(tr->d, tr->m, fn, user, nuser);
}

static nn_status call_loss(Trainer *tr, int64_t rows, double *loss) {
  void *user[3] = {tr->x, tr->y, tr->loss};
  nn_status s = call_rows(tr, tr->t->loss_fn, rows, user, 3);
  if (!s) *loss = scalar(tr->loss, loss_dtype(tr->d));
  return s;
}

/* The predict function's output slot, when accuracy can be measured:
 * scores [B, ..., C] with one C-vector per target position. */
static const rt_slot *predict_slot(const Trainer *tr) {
  if (tr->t->predict_fn < 0 || tr->sh.y.dtype != RT_DT_I32) return NULL;
  const rt_func_desc *f = &tr->d->funcs[tr->t->predict_fn];
  if (f->nuser_in != 1 || f->nuser_out != 1) return NULL;
  for (int i = 0; i < f->nres; i++) {
    const rt_slot *r = &f->res[i];
    if (r->role != RT_OUT_OUTPUT) continue;
    int64_t numel = 1;
    for (int k = 0; k < r->rank; k++) numel *= r->shape[k];
    int64_t C = r->rank ? r->shape[r->rank - 1] : 0;
    if (C > 0 && numel == tr->sh.batch * tr->sh.y_per * C) return r;
  }
  return NULL;
}

/* Correct predictions among the first `rows` rows of the batch in tr->x/y. */
static nn_status count_correct(Trainer *tr, const rt_slot *ps, int64_t rows, int64_t *correct) {
  void *user[2] = {tr->x, tr->out};
  nn_status s = call_rows(tr, tr->t->predict_fn, rows, user, 2);
  if (s) return s;
  int64_t C = ps->shape[ps->rank - 1], npos = rows * tr->sh.y_per;
  const int32_t *y = tr->y;
  for (int64_t p = 0; p < npos; p++) {
    int64_t best = 0;
    if (ps->dtype == RT_DT_F64) {
      const double *v = (const double *)tr->out + p * C;
      for (int64_t c = 1; c < C; c++)
        if (v[c] > v[best]) best = c;
    } else {
      const float *v = (const float *)tr->out + p * C;
      for (int64_t c = 1; c < C; c++)
        if (v[c] > v[best]) best = c;
    }
    *correct += best == y[p];
  }
  return NN_OK;
}

/* Under P MPI ranks the batches are dealt round-robin (rank r evaluates
 * batches r, r + P, ...), each rank writes its batches' loss sums and
 * correct counts into a per-batch table that is zero elsewhere, and the
 * tables are summed across the ranks: every entry is one rank's number
 * plus zeros, so the sum is exact, and adding the table up in batch order
 * gives the bits one process gets. */
nn_status rt_train_evaluate(Trainer *tr, const rt_dataset *ds, EvalResult *r, volatile const int *stop) {
  memset(r, 0, sizeof *r);
  const rt_slot *ps = predict_slot(tr);
  r->has_acc = ps != NULL;
  int64_t B = tr->sh.batch, nb = (ds->n + B - 1) / B, P = tr->dist.size;
  bool dyn = tr->d->funcs[tr->t->loss_fn].dim_bound > 0; /* the last batch at its real size */
  double *tab = rt_calloc((size_t)(2 * nb + 1), sizeof *tab); /* loss sums, then correct counts */
  if (!tab) return rt_error(NN_ERR_NOMEM, "out of memory for the evaluation");
  nn_status s = NN_OK;
  for (int64_t b = tr->dist.rank; b < nb; b += P) {
    if (stop && *stop) {
      r->interrupted = true;
      break;
    }
    int64_t b0 = b * B, rows = ds->n - b0 < B ? ds->n - b0 : B, correct = 0;
    for (int64_t i = 0; i < rows; i++) tr->idx[i] = b0 + i;
    rt_data_batch(ds, &tr->sh, tr->idx, rows, tr->x, tr->y);
    double l1, l0;
    s = call_loss(tr, rows, &l1);
    if (!s && ps) s = count_correct(tr, ps, rows, &correct);
    if (!s && rows < B && !dyn) { /* padded with copies of row 0: take them out */
      rt_data_batch(ds, &tr->sh, tr->idx, 1, tr->x, tr->y);
      s = call_loss(tr, 1, &l0);
      l1 = (double)B * l1 - (double)(B - rows) * l0;
    } else {
      l1 *= (double)rows;
    }
    if (s) break;
    tab[b] = l1;
    tab[nb + b] = (double)correct;
  }
  /* an error on one rank aborts the job (rt_train.c), so the others need not wait for it here */
  if (!s && P > 1) rt_dist_sum(&tr->dist, tab, (size_t)(2 * nb), RT_DT_F64, 1u << 20);
  double sum = 0;
  for (int64_t b = 0; b < nb && !s && !r->interrupted; b++) {
    int64_t rows = ds->n - b * B < B ? ds->n - b * B : B;
    sum += tab[b];
    r->correct += (int64_t)tab[nb + b];
    r->samples += rows;
    r->count += rows * tr->sh.y_per;
  }
  rt_free(tab);
  if (s) return s;
  r->loss = r->samples ? sum / (double)r->samples : NAN;
  return NN_OK;
}

double rt_unigram_bits(const int32_t *tr_ids, size_t ntr, const int32_t *val, size_t nval, int V) {
  if (!nval || V <= 0) return NAN;
  double *cnt = rt_calloc((size_t)V, sizeof *cnt);
  if (!cnt) return NAN;
  for (size_t i = 0; i < ntr; i++)
    if (tr_ids[i] >= 0 && tr_ids[i] < V) cnt[tr_ids[i]] += 1;
  double bits = 0, denom = (double)ntr + V;
  for (size_t i = 0; i < nval; i++) bits -= log2((cnt[val[i] >= 0 && val[i] < V ? val[i] : 0] + 1) / denom);
  rt_free(cnt);
  return bits / (double)nval;
}

/* ---- generation ----------------------------------------------------------------------- */

/* Index sampled from softmax(logits / temperature) over v[0..n), using the
 * uniform number u; the argmax when temperature is 0. */
static int sample(const float *v, int n, double temperature, double u) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (v[i] > v[best]) best = i;
  if (temperature <= 0) return best;
  double z = 0;
  for (int i = 0; i < n; i++) z += exp((v[i] - v[best]) / temperature);
  double acc = 0, target = u * z;
  for (int i = 0; i < n; i++) {
    acc += exp((v[i] - v[best]) / temperature);
    if (acc > target) return i;
  }
  return best;
}

nn_status rt_train_generate(Trainer *tr, int64_t n, double temperature, const char *prompt, FILE *out) {
  const rt_func_desc *g = &tr->d->funcs[tr->t->generate_fn];
  const rt_slot *in = NULL, *res = NULL;
  for (int i = 0; i < g->nargs; i++)
    if (g->args[i].role == RT_IN_INPUT) in = &g->args[i];
  for (int i = 0; i < g->nres; i++)
    if (g->res[i].role == RT_OUT_OUTPUT) res = &g->res[i];
  if (!in || !res || in->rank != 2 || res->rank != 3 || in->dtype != RT_DT_I32)
    return rt_error(NN_ERR_MISMATCH, "%s: the generate function must map i32[N, T] to logits [N, T, V]", g->name);
  int64_t N = in->shape[0], T = in->shape[1], V = res->shape[2];
  if (tr->vocab.n < 1 || tr->vocab.n > V)
    return rt_error(NN_ERR_MISMATCH, "a vocabulary of %d characters does not fit logits of %" PRId64, tr->vocab.n, V);
  /* the prompt, normalized like the training text */
  size_t plen = prompt ? strlen(prompt) : 0;
  uint8_t *p = rt_alloc(plen + 2);
  int32_t *win = rt_calloc((size_t)(N * T), sizeof *win);
  void *logits = rt_alloc((size_t)(N * T * V) * (res->dtype == RT_DT_F64 ? 8 : 4));
  float *row = rt_alloc((size_t)V * sizeof *row);
  nn_status s = p && win && logits && row ? NN_OK : rt_error(NN_ERR_NOMEM, "out of memory for sampling");
  if (!s) {
    if (plen) memcpy(p, prompt, plen);
    plen = rt_text_normalize(p, plen);
    if (!plen) p[plen++] = tr->vocab.id['\n'] >= 0 ? '\n' : tr->vocab.chars[0];
    for (size_t i = 0; i < plen && !s; i++)
      if (tr->vocab.id[p[i]] < 0)
        s = rt_error(NN_ERR_MISMATCH, "--prompt: the character '%c' is not in the model's vocabulary of %d characters",
                     p[i], tr->vocab.n);
  }
  int64_t k = 0; /* window positions filled */
  if (!s) {
    size_t start = plen > (size_t)T ? plen - (size_t)T : 0;
    for (size_t i = start; i < plen; i++) win[k++] = tr->vocab.id[p[i]];
    fwrite(p, 1, plen, out);
  }
  for (int64_t c = 0; c < n && !s; c++) {
    for (int64_t r = 1; r < N; r++) memcpy(win + r * T, win, (size_t)T * sizeof *win);
    void *user[2] = {win, logits};
    s = rt_model_call(tr->d, tr->m, tr->t->generate_fn, user, 2);
    if (s) break;
    for (int64_t v = 0; v < tr->vocab.n; v++)
      row[v] = res->dtype == RT_DT_F64 ? (float)((double *)logits)[(k - 1) * V + v] : ((float *)logits)[(k - 1) * V + v];
    double u = rt_rand_uniform(tr->o->seed ^ 0x47454e45524154ull /* "GENERAT" */, 0, (uint64_t)c);
    int id = sample(row, tr->vocab.n, temperature, u);
    fputc(tr->vocab.chars[id], out);
    if (k == T) {
      memmove(win, win + 1, (size_t)(T - 1) * sizeof *win);
      win[T - 1] = id;
    } else {
      win[k++] = id;
    }
  }
  fputc('\n', out);
  fflush(out);
  rt_free(p);
  rt_free(win);
  rt_free(logits);
  rt_free(row);
  return s;
}

/* ---- history, metrics CSV, plot --------------------------------------------------------- */

nn_status rt_hist_add(History *h, const HistRow *r) {
  HistRow *rows = rt_grow(h->rows, &h->cap, (size_t)h->n + 1, sizeof *rows);
  if (!rows) return rt_error(NN_ERR_NOMEM, "out of memory for the metrics");
  h->rows = rows;
  h->rows[h->n++] = *r;
  return NN_OK;
}

void rt_hist_free(History *h) {
  rt_free(h->rows);
  memset(h, 0, sizeof *h);
}

static void put_num(char *buf, size_t n, const char *fmt, double v) {
  if (isnan(v)) buf[0] = 0;
  else snprintf(buf, n, fmt, v);
}

#define CSV_HEADER "epoch,step,train_loss,test_loss,test_acc,lr,seconds\n"

char *rt_hist_csv(const History *h, bool with_kind) {
  size_t cap = 64 + (size_t)h->n * 200, len = 0;
  char *s = rt_alloc(cap);
  if (!s) return NULL;
  len += (size_t)snprintf(s, cap, "%s%s", with_kind ? "kind," : "", CSV_HEADER);
  for (int i = 0; i < h->n; i++) {
    const HistRow *r = &h->rows[i];
    char f[5][40];
    const char *g = with_kind ? "%.17g" : "%.6g";
    put_num(f[0], sizeof f[0], g, r->train_loss);
    put_num(f[1], sizeof f[1], g, r->test_loss);
    put_num(f[2], sizeof f[2], g, r->test_acc);
    put_num(f[3], sizeof f[3], g, r->lr);
    put_num(f[4], sizeof f[4], "%.3f", r->seconds);
    len += (size_t)snprintf(s + len, cap - len, "%s%.6g,%" PRId64 ",%s,%s,%s,%s,%s\n",
                            with_kind ? (r->is_epoch ? "e," : "s,") : "", r->epoch, r->step, f[0], f[1], f[2], f[3],
                            f[4]);
  }
  return s;
}

/* One field of a history row at *p, up to the next ',' or the line's end:
 * empty (NaN: not measured) or a finite number. */
static bool hist_field(const char **p, bool last, double *v) {
  size_t n = strcspn(*p, ",\n");
  char buf[64];
  if (n >= sizeof buf || (*p)[n] != (last ? '\n' : ',')) return false;
  memcpy(buf, *p, n);
  buf[n] = 0;
  *p += n + 1;
  if (!n) {
    *v = NAN;
    return true;
  }
  return rt_parse_f64(buf, v);
}

nn_status rt_hist_parse(History *h, const char *csv, const char *what) {
  h->n = 0;
  if (strncmp(csv, "kind," CSV_HEADER, strlen("kind," CSV_HEADER)))
    return rt_error(NN_ERR_FORMAT, "%s: metadata 'history': expected the header line kind,%.*s", what,
                    (int)strlen(CSV_HEADER) - 1, CSV_HEADER);
  const char *p = csv + strlen("kind," CSV_HEADER);
  for (int row = 1; *p; row++) {
    HistRow r = {.is_epoch = p[0] == 'e'};
    double f[7];
    bool ok = (p[0] == 'e' || p[0] == 's') && p[1] == ',';
    p += ok ? 2 : 0;
    for (int k = 0; k < 7 && ok; k++) ok = hist_field(&p, k == 6, &f[k]);
    /* epoch, step and seconds are always there; step is a whole number */
    ok = ok && f[0] >= 0 && f[1] >= 0 && f[1] <= RT_MAX_STEPS && f[1] == floor(f[1]) && f[6] >= 0;
    if (!ok) return rt_error(NN_ERR_FORMAT, "%s: metadata 'history': row %d is malformed", what, row);
    r.epoch = f[0], r.step = (int64_t)f[1], r.train_loss = f[2], r.test_loss = f[3], r.test_acc = f[4];
    r.lr = f[5], r.seconds = f[6];
    if (h->n && (r.step < h->rows[h->n - 1].step || r.epoch < h->rows[h->n - 1].epoch))
      return rt_error(NN_ERR_FORMAT, "%s: metadata 'history': row %d goes back in time (step %" PRId64
                      " after %" PRId64 ")", what, row, r.step, h->rows[h->n - 1].step);
    nn_status s = rt_hist_add(h, &r);
    if (s) return s;
  }
  return NN_OK;
}

static nn_status write_csv(Trainer *tr, const char *path) {
  char *s = rt_hist_csv(&tr->hist, false);
  if (!s) return NN_ERR_NOMEM;
  rt_atomic_file af;
  nn_status st = rt_atomic_begin(&af, path);
  if (!st) st = rt_atomic_write(&af, s, strlen(s));
  if (!st) st = rt_atomic_commit(&af);
  rt_free(s);
  return st;
}

static nn_status write_plot(Trainer *tr, const char *path) {
  int n = tr->hist.n;
  double *v = rt_alloc(sizeof(double) * (size_t)(5 * n + 5));
  if (!v) return rt_error(NN_ERR_NOMEM, "out of memory for the plot");
  double *tx = v, *ty = v + n, *ex = v + 2 * n, *el = v + 3 * n, *ea = v + 4 * n;
  int nt = 0, ne = 0;
  bool acc = false;
  for (int i = 0; i < n; i++) {
    const HistRow *r = &tr->hist.rows[i];
    if (!r->is_epoch) {
      tx[nt] = r->epoch;
      ty[nt++] = r->train_loss;
    } else {
      ex[ne] = r->epoch;
      el[ne] = r->test_loss;
      ea[ne++] = 100 * r->test_acc;
      acc |= !isnan(r->test_acc);
    }
  }
  double bx[2] = {0, tx[nt ? nt - 1 : 0]}, by[2];
  by[0] = by[1] = tr->unigram_bits * log(2.0);
  char title[256];
  snprintf(title, sizeof title, "%s: %s", tr->o->name,
           !tr->has_test ? "training loss" : tr->is_text ? "training and validation loss" : "training and test loss, test accuracy");
  rt_plot_series s[4] = {{.label = "train loss", .color = "#1f77b4", .x = tx, .y = ty, .n = nt}};
  int ns = 1;
  if (tr->has_test)
    s[ns++] = (rt_plot_series){.label = tr->is_text ? "validation loss" : "test loss", .color = "#ff7f0e", .x = ex,
                               .y = el, .n = ne, .markers = true};
  if (acc)
    s[ns++] = (rt_plot_series){.label = "test accuracy (right axis)", .color = "#2ca02c", .x = ex, .y = ea, .n = ne,
                               .right_axis = true, .dashed = true, .markers = true};
  if (tr->is_text && isfinite(by[0]) && nt)
    s[ns++] = (rt_plot_series){.label = "unigram baseline", .color = "#7f7f7f", .x = bx, .y = by, .n = 2, .dashed = true};
  rt_plot pl = {.title = title, .xlabel = "epoch",
                .ylabel = tr->is_text ? "loss (nats per character)" : "loss (cross-entropy)",
                .y2label = acc ? "test accuracy (%)" : NULL, .series = s, .nseries = ns};
  nn_status st = rt_plot_write(path, &pl);
  rt_free(v);
  return st;
}

nn_status rt_train_write_reports(Trainer *tr) {
  nn_status s = NN_OK;
  if (tr->dist.rank != 0) return s; /* rank 0 reports for all */
  if (tr->o->metrics) s = write_csv(tr, tr->o->metrics);
  if (!s && tr->o->plot) s = write_plot(tr, tr->o->plot);
  return s;
}
