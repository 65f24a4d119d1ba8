/* abi_api.c — the calls of a generated library: NULL and foreign pointers
 * give an error status (never a crash), the parameter table matches the
 * header, creation is deterministic in the seed, forward computes the MLP
 * (checked against a plain C evaluation of the parameter buffer, which also
 * checks the documented buffer layout), loss_grad writes the gradients,
 * train_step learns, and objects used from two threads at once do not
 * disturb each other. */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"

/* A batch and output buffers large enough for either library. */
typedef struct Bufs {
  float *x, *out, loss;
  int32_t *y;
} Bufs;

static Bufs bufs_new(const Lib *L, uint64_t seed) {
  size_t nx = lib_mlp.nx > lib_cnn.nx ? lib_mlp.nx : lib_cnn.nx;
  size_t ny = lib_mlp.ny > lib_cnn.ny ? lib_mlp.ny : lib_cnn.ny;
  size_t no = lib_mlp.nout > lib_cnn.nout ? lib_mlp.nout : lib_cnn.nout;
  Bufs b = {calloc(nx, sizeof(float)), calloc(no, sizeof(float)), 0, calloc(ny, sizeof(int32_t))};
  make_batch(L, seed, b.x, b.y);
  return b;
}

static void bufs_free(Bufs *b) {
  free(b->x);
  free(b->out);
  free(b->y);
}

static void *create(const Lib *L, uint64_t seed) {
  void *m = NULL;
  nn_status s = L->api.create(&m, seed);
  if (s) fprintf(stderr, "%s_create: %s\n", L->prefix, L->api.last_error());
  CU_ASSERT_EQUAL_FATAL(s, NN_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  return m;
}

/* Every element of every parameter-shaped tensor in buf (params or grads) is finite. */
static bool all_finite(const Lib *L, const float *buf) {
  for (size_t i = 0; i < L->nparams; i++) {
    const nn_tensor_info *t = L->api.param_info(i);
    for (size_t k = 0; k < t->numel; k++)
      if (!isfinite(buf[t->offset + k])) return false;
  }
  return true;
}

/* ---- NULL pointers ------------------------------------------------------------------------ */

static void check_null_model(const Lib *L, Bufs *b, const char *ckpt) {
  const Api *A = &L->api;
  FAILS(L, A->create(NULL, 1), NN_ERR_NULL, "NULL");
  FAILS(L, A->create_threads(NULL, 1, 1), NN_ERR_NULL, "NULL");
  FAILS(L, A->forward(NULL, L->n, b->x, b->out), NN_ERR_NULL, "NULL");
  FAILS(L, A->loss(NULL, L->n, b->x, b->y, &b->loss), NN_ERR_NULL, "NULL");
  FAILS(L, A->loss_grad(NULL, L->n, b->x, b->y, &b->loss), NN_ERR_NULL, "NULL");
  FAILS(L, A->train_step(NULL, L->n, b->x, b->y, &b->loss), NN_ERR_NULL, "NULL");
  FAILS(L, A->init_params(NULL, 1), NN_ERR_NULL, "NULL");
  FAILS(L, A->set_learning_rate(NULL, 0.1), NN_ERR_NULL, "NULL");
  FAILS(L, A->set_grad_ready(NULL, NULL, NULL), NN_ERR_NULL, "NULL");
  FAILS(L, A->save(NULL, ckpt), NN_ERR_NULL, "NULL");
  FAILS(L, A->load(NULL, ckpt), NN_ERR_NULL, "NULL");
  CU_ASSERT_PTR_NULL(A->params(NULL));
  CU_ASSERT_PTR_NULL(A->grads(NULL));
  A->destroy(NULL);
}

static void check_null_args(const Lib *L, Bufs *b) {
  const Api *A = &L->api;
  void *m = create(L, 3);
  uint8_t *snap = snapshot(L, m);
  FAILS(L, A->forward(m, L->n, NULL, b->out), NN_ERR_NULL, "NULL");
  FAILS(L, A->forward(m, L->n, b->x, NULL), NN_ERR_NULL, "NULL");
  FAILS(L, A->loss(m, L->n, NULL, b->y, &b->loss), NN_ERR_NULL, "NULL");
  FAILS(L, A->loss(m, L->n, b->x, NULL, &b->loss), NN_ERR_NULL, "NULL");
  FAILS(L, A->loss(m, L->n, b->x, b->y, NULL), NN_ERR_NULL, "NULL");
  FAILS(L, A->loss_grad(m, L->n, NULL, b->y, &b->loss), NN_ERR_NULL, "NULL");
  FAILS(L, A->loss_grad(m, L->n, b->x, NULL, &b->loss), NN_ERR_NULL, "NULL");
  FAILS(L, A->loss_grad(m, L->n, b->x, b->y, NULL), NN_ERR_NULL, "NULL");
  FAILS(L, A->train_step(m, L->n, NULL, b->y, &b->loss), NN_ERR_NULL, "NULL");
  FAILS(L, A->train_step(m, L->n, b->x, NULL, &b->loss), NN_ERR_NULL, "NULL");
  FAILS(L, A->train_step(m, L->n, b->x, b->y, NULL), NN_ERR_NULL, "NULL"); /* and no step taken: */
  CU_ASSERT(same_params(L, m, snap));
  FAILS(L, A->save(m, NULL), NN_ERR_NULL, "NULL");
  FAILS(L, A->load(m, NULL), NN_ERR_NULL, "NULL");
  CU_ASSERT(same_params(L, m, snap));
  CU_ASSERT_EQUAL(A->forward(m, L->n, b->x, b->out), NN_OK); /* still usable */
  free(snap);
  A->destroy(m);
}

static void test_null_pointers(void) {
  char ckpt[600];
  tmp_path(ckpt, sizeof ckpt, "null.safetensors");
  for (int i = 0; i < 2; i++) {
    const Lib *L = i ? &lib_cnn : &lib_mlp;
    Bufs b = bufs_new(L, 1);
    check_null_model(L, &b, ckpt);
    check_null_args(L, &b);
    bufs_free(&b);
  }
}

/* ---- objects of the other library, and objects that are no object ------------------ */

static void check_foreign(const Lib *L, void *obj, const char *ckpt) {
  const Api *A = &L->api;
  Bufs b = bufs_new(L, 1);
  FAILS(L, A->forward(obj, L->n, b.x, b.out), NN_ERR_OBJECT, L->prefix);
  FAILS(L, A->loss(obj, L->n, b.x, b.y, &b.loss), NN_ERR_OBJECT, L->prefix);
  FAILS(L, A->loss_grad(obj, L->n, b.x, b.y, &b.loss), NN_ERR_OBJECT, L->prefix);
  FAILS(L, A->train_step(obj, L->n, b.x, b.y, &b.loss), NN_ERR_OBJECT, L->prefix);
  FAILS(L, A->init_params(obj, 1), NN_ERR_OBJECT, L->prefix);
  FAILS(L, A->set_learning_rate(obj, 0.1), NN_ERR_OBJECT, L->prefix);
  FAILS(L, A->set_grad_ready(obj, NULL, NULL), NN_ERR_OBJECT, L->prefix);
  FAILS(L, A->save(obj, ckpt), NN_ERR_OBJECT, L->prefix);
  FAILS(L, A->load(obj, ckpt), NN_ERR_OBJECT, L->prefix);
  CU_ASSERT_PTR_NULL(A->params(obj));
  CU_ASSERT_PTR_NULL(A->grads(obj));
  A->destroy(obj); /* ignored */
  bufs_free(&b);
}

static void test_foreign_objects(void) {
  char ckpt[600];
  tmp_path(ckpt, sizeof ckpt, "foreign.safetensors");
  void *a = create(&lib_mlp, 1), *c = create(&lib_cnn, 1);
  uint8_t *sa = snapshot(&lib_mlp, a), *sc = snapshot(&lib_cnn, c);
  check_foreign(&lib_mlp, c, ckpt);
  check_foreign(&lib_cnn, a, ckpt);
  CU_ASSERT_PTR_NULL(fopen(ckpt, "rb")); /* no save happened */
  /* both objects survived the other library's destroy, unchanged */
  CU_ASSERT(same_params(&lib_mlp, a, sa));
  CU_ASSERT(same_params(&lib_cnn, c, sc));
  Bufs b = bufs_new(&lib_cnn, 1);
  CU_ASSERT_EQUAL(lib_cnn.api.forward(c, lib_cnn.n, b.x, b.out), NN_OK);
  CU_ASSERT_EQUAL(lib_mlp.api.forward(a, lib_mlp.n, b.x, b.out), NN_OK);
  bufs_free(&b);
  /* memory that never was an object */
  uint8_t *zero = calloc(1, 4096), *junk = malloc(4096);
  memset(junk, 0xAB, 4096);
  check_foreign(&lib_mlp, zero, ckpt);
  check_foreign(&lib_mlp, junk, ckpt);
  free(zero);
  free(junk);
  free(sa);
  free(sc);
  lib_mlp.api.destroy(a);
  lib_cnn.api.destroy(c);
}

/* ---- the parameter table -------------------------------------------------------------- */

static void check_param_info(const Lib *L) {
  const Api *A = &L->api;
  CU_ASSERT_EQUAL_FATAL(A->num_params(), L->nparams);
  size_t total = 0, end = 0;
  for (size_t i = 0; i < L->nparams; i++) {
    const nn_tensor_info *t = A->param_info(i);
    const ExpectParam *e = &L->expect[i];
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_STRING_EQUAL(t->name, e->name);
    CU_ASSERT_EQUAL(t->rank, e->rank);
    size_t n = 1;
    for (int k = 0; k < 8; k++) {
      CU_ASSERT_EQUAL(t->shape[k], k < e->rank ? e->shape[k] : 0);
      if (k < t->rank) n *= (size_t)t->shape[k];
    }
    CU_ASSERT_EQUAL(t->numel, n);
    CU_ASSERT(t->offset >= end);                  /* in order, not overlapping */
    CU_ASSERT_EQUAL(t->offset * sizeof(float) % 64, 0); /* each tensor 64-byte aligned */
    end = t->offset + t->numel;
    total += t->numel;
    for (size_t j = 0; j < i; j++) CU_ASSERT(strcmp(A->param_info(j)->name, t->name) != 0);
  }
  CU_ASSERT_EQUAL(total, L->param_count);
  CU_ASSERT(end * sizeof(float) <= L->param_bytes);
  CU_ASSERT(L->param_bytes - end * sizeof(float) < 64);
  CU_ASSERT_PTR_NULL(A->param_info(L->nparams));
  CU_ASSERT_PTR_NULL(A->param_info((size_t)-1));
}

static void test_param_info(void) {
  check_param_info(&lib_mlp);
  check_param_info(&lib_cnn);
}

/* ---- seeds ---------------------------------------------------------------------------------- */

static void check_seeds(const Lib *L) {
  const Api *A = &L->api;
  void *a = create(L, 7), *b = create(L, 7), *c = create(L, 8), *d = NULL;
  uint8_t *sa = snapshot(L, a);
  CU_ASSERT(same_params(L, b, sa));
  CU_ASSERT(!same_params(L, c, sa));
  CU_ASSERT_EQUAL(A->init_params(c, 7), NN_OK); /* re-initialized: as if created with 7 */
  CU_ASSERT(same_params(L, c, sa));
  for (int nt = 0; nt <= 3; nt += 3) {        /* the thread count does not matter */
    CU_ASSERT_EQUAL_FATAL(A->create_threads(&d, 7, nt), NN_OK);
    CU_ASSERT(same_params(L, d, sa));
    A->destroy(d);
  }
  /* a count outside 0..1024 is refused, *out NULL (-1 used to mean one per core) */
  const int bad_nt[] = {-1, -1024, INT_MIN, 1025, INT_MAX};
  for (size_t i = 0; i < sizeof bad_nt / sizeof bad_nt[0]; i++) {
    d = (void *)&bad_nt;
    FAILS(L, A->create_threads(&d, 7, bad_nt[i]), NN_ERR_ARG, "threads; expected 0 (one per core) to 1024");
    CU_ASSERT_PTR_NULL(d);
  }
  /* every tensor initialized: finite, and a weight tensor not constant */
  const float *p = A->params(a);
  CU_ASSERT(all_finite(L, p));
  const nn_tensor_info *w = A->param_info(0);
  CU_ASSERT(p[w->offset] != p[w->offset + 1]);
  free(sa);
  A->destroy(a);
  A->destroy(b);
  A->destroy(c);
}

static void test_seeds(void) {
  check_seeds(&lib_mlp);
  check_seeds(&lib_cnn);
}

/* ---- forward, against the MLP evaluated in C from the parameter buffer ----------------- */

/* out[B, N] = in[B, K] @ W[K, N] + b[N], optionally through relu. */
static void dense(const double *in, size_t B, size_t K, size_t N, const float *W, const float *bias, bool relu,
                  double *out) {
  for (size_t i = 0; i < B; i++)
    for (size_t j = 0; j < N; j++) {
      double s = bias[j];
      for (size_t k = 0; k < K; k++) s += in[i * K + k] * W[k * N + j];
      out[i * N + j] = relu && s < 0 ? 0 : s;
    }
}

/* The logits [B, 10] and the last hidden layer [B, H] (optional) of
 * samples/fashion_mlp.nn, from the parameters as param_info places them. */
static void mlp_reference(const float *p, const float *x, double *logits, double *h2_out) {
  const Api *A = &lib_mlp.api;
  const nn_tensor_info *t[6];
  for (int i = 0; i < 6; i++) t[i] = A->param_info((size_t)i);
  size_t D = (size_t)t[0]->shape[0], H = (size_t)t[0]->shape[1], C = (size_t)t[4]->shape[1], B = lib_mlp.nx / D;
  double *in = malloc(B * D * sizeof *in), *h1 = malloc(B * H * sizeof *h1), *h2 = malloc(B * H * sizeof *h2);
  for (size_t i = 0; i < B * D; i++) in[i] = x[i];
  dense(in, B, D, H, p + t[0]->offset, p + t[1]->offset, true, h1);
  dense(h1, B, H, H, p + t[2]->offset, p + t[3]->offset, true, h2);
  dense(h2, B, H, C, p + t[4]->offset, p + t[5]->offset, false, logits);
  if (h2_out) memcpy(h2_out, h2, B * H * sizeof *h2);
  free(in);
  free(h1);
  free(h2);
}

static double max_rel_err(const float *got, const double *want, size_t n) {
  double scale = 1e-6, err = 0;
  for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
  for (size_t i = 0; i < n; i++) err = fmax(err, fabs(got[i] - want[i]) / scale);
  return err;
}

static void test_forward(void) {
  const Api *A = &lib_mlp.api;
  void *m = create(&lib_mlp, 11), *m2 = create(&lib_mlp, 11);
  Bufs b = bufs_new(&lib_mlp, 5);
  size_t n = lib_mlp.nout;
  float *again = malloc(n * sizeof *again);
  double *want = malloc(n * sizeof *want);
  uint8_t *snap = snapshot(&lib_mlp, m);
  CU_ASSERT_EQUAL_FATAL(A->forward(m, lib_mlp.n, b.x, b.out), NN_OK);
  CU_ASSERT(same_params(&lib_mlp, m, snap)); /* forward changes no parameter */
  CU_ASSERT_EQUAL(A->forward(m, lib_mlp.n, b.x, again), NN_OK);
  CU_ASSERT(!memcmp(again, b.out, n * sizeof *again)); /* deterministic */
  CU_ASSERT_EQUAL(A->forward(m2, lib_mlp.n, b.x, again), NN_OK);
  CU_ASSERT(!memcmp(again, b.out, n * sizeof *again)); /* and the same in another object */
  mlp_reference(A->params(m), b.x, want, NULL);
  CU_ASSERT(max_rel_err(b.out, want, n) < 1e-4);
  /* the buffer is the model: change a bias through it, forward follows */
  float *p = A->params(m);
  p[A->param_info(5)->offset + 3] += 1.5f;
  CU_ASSERT_EQUAL(A->forward(m, lib_mlp.n, b.x, again), NN_OK);
  mlp_reference(p, b.x, want, NULL);
  CU_ASSERT(max_rel_err(again, want, n) < 1e-4);
  CU_ASSERT(fabsf(again[3] - b.out[3] - 1.5f) < 1e-4f);
  free(again);
  free(want);
  free(snap);
  bufs_free(&b);
  A->destroy(m);
  A->destroy(m2);
}

/* ---- loss_grad: the loss, and every gradient written ---------------------------------------- */

/* Mean cross-entropy of logits [B, C] and its gradient with respect to them. */
static double cross_entropy(const double *z, const int32_t *y, size_t B, size_t C, double *dz) {
  double loss = 0;
  for (size_t i = 0; i < B; i++) {
    double mx = z[i * C], s = 0;
    for (size_t j = 1; j < C; j++) mx = fmax(mx, z[i * C + j]);
    for (size_t j = 0; j < C; j++) s += exp(z[i * C + j] - mx);
    loss += mx + log(s) - z[i * C + (size_t)y[i]];
    for (size_t j = 0; j < C; j++) dz[i * C + j] = (exp(z[i * C + j] - mx) / s - (j == (size_t)y[i])) / (double)B;
  }
  return loss / (double)B;
}

static void test_loss_grad(void) {
  const Api *A = &lib_mlp.api;
  void *m = create(&lib_mlp, 12);
  Bufs b = bufs_new(&lib_mlp, 6);
  const nn_tensor_info *W3 = A->param_info(4), *b3 = A->param_info(5);
  size_t B = lib_mlp.ny, C = (size_t)b3->numel, H = (size_t)W3->shape[0];
  float *g = A->grads(m), l1 = 0, l2 = 0;
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  CU_ASSERT_PTR_NOT_EQUAL(g, A->params(m));
  for (size_t i = 0; i < lib_mlp.param_bytes / sizeof(float); i++) g[i] = NAN;
  uint8_t *snap = snapshot(&lib_mlp, m);
  CU_ASSERT_EQUAL_FATAL(A->loss_grad(m, lib_mlp.n, b.x, b.y, &l1), NN_OK);
  CU_ASSERT_EQUAL_FATAL(A->loss(m, lib_mlp.n, b.x, b.y, &l2), NN_OK);
  CU_ASSERT(same_params(&lib_mlp, m, snap));
  CU_ASSERT(fabsf(l1 - l2) <= 1e-6f * fabsf(l2));
  CU_ASSERT(all_finite(&lib_mlp, g)); /* every element written */
  double *z = malloc(B * C * sizeof *z), *dz = malloc(B * C * sizeof *dz), *h2 = malloc(B * H * sizeof *h2);
  mlp_reference(A->params(m), b.x, z, h2);
  CU_ASSERT(fabs(l1 - cross_entropy(z, b.y, B, C, dz)) < 1e-4 * fabs(l1));
  double err = 0;
  for (size_t j = 0; j < C; j++) { /* d/db3 = sum over the batch of dz; d/dW3 = h2^T dz */
    double sb = 0;
    for (size_t i = 0; i < B; i++) sb += dz[i * C + j];
    err = fmax(err, fabs(g[b3->offset + j] - sb));
    for (size_t k = 0; k < H; k++) {
      double sw = 0;
      for (size_t i = 0; i < B; i++) sw += h2[i * H + k] * dz[i * C + j];
      err = fmax(err, fabs(g[W3->offset + k * C + j] - sw));
    }
  }
  CU_ASSERT(err < 1e-5);
  free(z);
  free(dz);
  free(h2);
  free(snap);
  bufs_free(&b);
  A->destroy(m);
}

/* ---- train_step --------------------------------------------------------------------------- */

static void test_train_step(void) {
  const Api *A = &lib_mlp.api;
  void *m = create(&lib_mlp, 13);
  Bufs b = bufs_new(&lib_mlp, 7);
  float before = 0, loss[20];
  uint8_t *snap = snapshot(&lib_mlp, m);
  CU_ASSERT_EQUAL(A->loss(m, lib_mlp.n, b.x, b.y, &before), NN_OK);
  for (int i = 0; i < 20; i++) {
    CU_ASSERT_EQUAL_FATAL(A->train_step(m, lib_mlp.n, b.x, b.y, &loss[i]), NN_OK);
    CU_ASSERT_FATAL(isfinite(loss[i]));
  }
  CU_ASSERT(fabsf(loss[0] - before) <= 1e-6f * before); /* the loss before the update */
  CU_ASSERT(!same_params(&lib_mlp, m, snap));
  CU_ASSERT(loss[19] < 0.5f * loss[0]);
  float after = 0;
  CU_ASSERT_EQUAL(A->loss(m, lib_mlp.n, b.x, b.y, &after), NN_OK);
  CU_ASSERT(after < loss[19]);
  /* learning rate 0: a step changes nothing */
  free(snap);
  snap = snapshot(&lib_mlp, m);
  CU_ASSERT_EQUAL(A->set_learning_rate(m, 0.0), NN_OK);
  CU_ASSERT_EQUAL(A->train_step(m, lib_mlp.n, b.x, b.y, &loss[0]), NN_OK);
  CU_ASSERT(same_params(&lib_mlp, m, snap));
  FAILS(&lib_mlp, A->set_learning_rate(m, -0.5), NN_ERR_ARG, "learning rate");
  FAILS(&lib_mlp, A->set_learning_rate(m, NAN), NN_ERR_ARG, "learning rate");
  FAILS(&lib_mlp, A->set_learning_rate(m, INFINITY), NN_ERR_ARG, "learning rate");
  CU_ASSERT_EQUAL(A->train_step(m, lib_mlp.n, b.x, b.y, &loss[0]), NN_OK); /* the failed calls kept lr = 0 */
  CU_ASSERT(same_params(&lib_mlp, m, snap));
  free(snap);
  bufs_free(&b);
  A->destroy(m);
}

/* Labels outside 0..9 are refused with NN_ERR_RANGE and a message naming
 * the input, the value and its position; the step is not taken and the
 * parameters do not change. */
static void test_labels_out_of_range(void) {
  const Api *A = &lib_mlp.api;
  void *m = create(&lib_mlp, 14);
  Bufs b = bufs_new(&lib_mlp, 8);
  size_t bytes = FASHION_MLP_PARAM_BYTES;
  unsigned char *before = malloc(bytes);
  memcpy(before, A->params(m), bytes);
  const int32_t bad[] = {-1, 10, INT32_MAX, INT32_MIN};
  for (int i = 0; i < 4; i++) {
    b.y[1] = bad[i];
    CU_ASSERT_EQUAL(A->loss_grad(m, lib_mlp.n, b.x, b.y, &b.loss), NN_ERR_RANGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(A->last_error(), "input 'y' holds"));
    CU_ASSERT_EQUAL(A->train_step(m, lib_mlp.n, b.x, b.y, &b.loss), NN_ERR_RANGE);
    CU_ASSERT_EQUAL(memcmp(before, A->params(m), bytes), 0);
  }
  b.y[1] = 9; /* the largest class is fine */
  CU_ASSERT_EQUAL(A->loss_grad(m, lib_mlp.n, b.x, b.y, &b.loss), NN_OK);
  free(before);
  bufs_free(&b);
  A->destroy(m);
}

/* ---- one object per thread ---------------------------------------------------------------- */

typedef struct Job {
  const Lib *L;
  uint64_t seed;
  float losses[6];
  uint8_t *params;  /* after the steps */
  nn_status status;
} Job;

static void *run_job(void *arg) {
  Job *j = arg;
  const Api *A = &j->L->api;
  void *m = NULL;
  Bufs b = bufs_new(j->L, j->seed);
  j->status = A->create_threads(&m, j->seed, 2);
  for (int i = 0; i < 6 && !j->status; i++) j->status = A->train_step(m, j->L->n, b.x, b.y, &j->losses[i]);
  if (!j->status) j->params = snapshot(j->L, m);
  A->destroy(m);
  bufs_free(&b);
  return NULL;
}

/* The same work alone and then two at a time (two objects of one library,
 * and one object of each library): the same numbers. */
static void test_threads(void) {
  Job alone[3] = {{.L = &lib_mlp, .seed = 21}, {.L = &lib_mlp, .seed = 22}, {.L = &lib_cnn, .seed = 23}};
  Job together[3];
  memcpy(together, alone, sizeof together);
  for (int i = 0; i < 3; i++) run_job(&alone[i]);
  pthread_t t[3];
  for (int i = 0; i < 3; i++) CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, run_job, &together[i]), 0);
  for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < 3; i++) {
    CU_ASSERT_EQUAL(alone[i].status, NN_OK);
    CU_ASSERT_EQUAL(together[i].status, NN_OK);
    CU_ASSERT(!memcmp(alone[i].losses, together[i].losses, sizeof alone[i].losses));
    CU_ASSERT(alone[i].params && together[i].params &&
              !memcmp(alone[i].params, together[i].params, alone[i].L->param_bytes));
    free(alone[i].params);
    free(together[i].params);
  }
}

const UnitTest abi_api_tests[] = {{"NULL pointers", test_null_pointers},
                                  {"foreign objects", test_foreign_objects},
                                  {"param_info against the header", test_param_info},
                                  {"seeds", test_seeds},
                                  {"forward", test_forward},
                                  {"loss_grad", test_loss_grad},
                                  {"train_step", test_train_step},
                                  {"labels out of range", test_labels_out_of_range},
                                  {"one object per thread", test_threads},
                                  {0, 0}};
