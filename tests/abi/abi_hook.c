/* abi_hook.c — NAME_set_grad_ready, the hook a data-parallel loop of the
 * user's own sums gradients through while the backward pass runs
 * (docs/api.md §12). During loss_grad and train_step the callback gets the
 * user pointer and announces parameters, each at most once, and an
 * announced gradient is final: the copy the callback takes of it equals the
 * gradient buffer after the call, bit for bit. -1 (nothing new) comes only
 * after a first announcement; forward and loss announce nothing; NULL
 * clears the hook; and the hook changes no result (an object without one,
 * created with the same seed, computes the same bits). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"

enum { MAX_PARAMS = 64 };

typedef struct Seen {
  const Lib *L;
  const float *grads;   /* the object's gradient buffer (taken before the call) */
  float *copy;          /* each announced gradient as it was when announced */
  int count[MAX_PARAMS];
  int calls, progress, early, bad;
} Seen;

static void on_ready(void *user, int param) {
  Seen *s = user;
  s->calls++;
  if (param == -1) {
    int any = 0;
    for (int i = 0; i < MAX_PARAMS; i++) any |= s->count[i];
    s->progress++;
    s->early |= !any;
    return;
  }
  if (param < 0 || (size_t)param >= s->L->nparams) {
    s->bad = 1;
    return;
  }
  s->count[param]++;
  const nn_tensor_info *t = s->L->api.param_info((size_t)param);
  memcpy(s->copy + t->offset, s->grads + t->offset, t->numel * sizeof(float));
}

static void seen_reset(Seen *s) {
  memset(s->count, 0, sizeof s->count);
  s->calls = s->progress = s->early = s->bad = 0;
}

/* After one call: what was announced, once each and final. Returns the
 * number of parameters announced. */
static int check_seen(const Seen *s, const char *what) {
  const Lib *L = s->L;
  int announced = 0;
  CU_ASSERT_FALSE(s->bad);
  CU_ASSERT_FALSE(s->early);
  for (size_t i = 0; i < L->nparams; i++) {
    CU_ASSERT(s->count[i] <= 1);
    if (s->count[i] != 1) continue;
    announced++;
    const nn_tensor_info *t = L->api.param_info(i);
    bool same = !memcmp(s->copy + t->offset, s->grads + t->offset, t->numel * sizeof(float));
    if (!same) fprintf(stderr, "\n  %s %s: the gradient of %s changed after it was announced\n", L->prefix, what, t->name);
    CU_ASSERT(same);
  }
  return announced;
}

static void check_hook(const Lib *L) {
  const Api *A = &L->api;
  CU_ASSERT_FATAL(L->nparams <= MAX_PARAMS);
  void *m = NULL, *plain = NULL;
  CU_ASSERT_EQUAL_FATAL(A->create(&m, 5), NN_OK);
  CU_ASSERT_EQUAL_FATAL(A->create(&plain, 5), NN_OK);
  Seen s = {.L = L, .grads = A->grads(m), .copy = calloc(L->param_bytes, 1)};
  float *x = malloc(L->nx * sizeof *x), *out = malloc(L->nout * sizeof *out), loss = 0, loss_plain = 0;
  int32_t *y = malloc(L->ny * sizeof *y);
  make_batch(L, 9, x, y);
  CU_ASSERT_EQUAL(A->set_grad_ready(m, on_ready, &s), NN_OK);
  /* no gradient, no announcement */
  CU_ASSERT_EQUAL(A->forward(m, L->n, x, out), NN_OK);
  CU_ASSERT_EQUAL(A->loss(m, L->n, x, y, &loss), NN_OK);
  CU_ASSERT_EQUAL(s.calls, 0);
  /* the gradient: announced, final, and the bits of an object without the hook */
  CU_ASSERT_EQUAL(A->loss_grad(m, L->n, x, y, &loss), NN_OK);
  CU_ASSERT_EQUAL(A->loss_grad(plain, L->n, x, y, &loss_plain), NN_OK);
  CU_ASSERT(check_seen(&s, "loss_grad") >= 1);
  CU_ASSERT(!memcmp(&loss, &loss_plain, sizeof loss));
  CU_ASSERT(!memcmp(A->grads(m), A->grads(plain), L->param_bytes));
  /* the training step announces its gradient too (it is grad, then apply_update) */
  for (int step = 0; step < 3; step++) {
    seen_reset(&s);
    make_batch(L, 10 + (uint64_t)step, x, y);
    CU_ASSERT_EQUAL(A->train_step(m, L->n, x, y, &loss), NN_OK);
    CU_ASSERT_EQUAL(A->train_step(plain, L->n, x, y, &loss_plain), NN_OK);
    CU_ASSERT(check_seen(&s, "train_step") >= 1);
    CU_ASSERT(!memcmp(&loss, &loss_plain, sizeof loss));
    CU_ASSERT(!memcmp(A->params(m), A->params(plain), L->param_bytes));
    CU_ASSERT(!memcmp(A->grads(m), A->grads(plain), L->param_bytes));
  }
  /* NULL clears it (the user pointer is then ignored) */
  seen_reset(&s);
  CU_ASSERT_EQUAL(A->set_grad_ready(m, NULL, &s), NN_OK);
  CU_ASSERT_EQUAL(A->loss_grad(m, L->n, x, y, &loss), NN_OK);
  CU_ASSERT_EQUAL(s.calls, 0);
  free(s.copy);
  free(x);
  free(out);
  free(y);
  A->destroy(m);
  A->destroy(plain);
}

static void test_hook(void) {
  check_hook(&lib_mlp);
  check_hook(&lib_cnn);
}

const UnitTest abi_hook_tests[] = {{"announced gradients are final; NULL clears", test_hook}, {0, 0}};
