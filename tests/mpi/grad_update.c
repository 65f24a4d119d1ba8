/* grad_update.c — NAME_grad followed by NAME_apply_update takes exactly
 * the step NAME_train_step takes: two objects created with the same seed,
 * one trained with train_step and one with the two halves on the same
 * batches, hold the same bits (parameters and every loss) after each step.
 * Three libraries cover the optimizers: fashion_mlp (SGD with momentum),
 * char_rnn (Adam, gradient clipping), tiny_gpt (AdamW with weight decay,
 * clipping). The data is random: the test is about the arithmetic. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gu_mlp.h"
#include "gu_rnn.h"
#include "gu_gpt.h"

/* One library's entry points, with the batch's pointers as void *. */
typedef struct Api {
  const char *name;
  nn_status (*create)(void **m, uint64_t seed);
  void (*destroy)(void *m);
  nn_status (*train_step)(void *m, const void *x, const int32_t *y, float *loss);
  nn_status (*grad)(void *m, const void *x, const int32_t *y, float *loss);
  nn_status (*apply_update)(void *m);
  float *(*params)(void *m);
  size_t param_bytes;
  size_t x_count, y_count; /* elements of the batch's two inputs */
  int x_is_ids;            /* x holds character ids (else pixels in [0, 1)) */
} Api;

static uint64_t rng = 88172645463325252ull;
static uint32_t next_u32(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 11);
}

static int check(const Api *a, int steps) {
  void *m1 = NULL, *m2 = NULL;
  if (a->create(&m1, 7) || a->create(&m2, 7)) {
    fprintf(stderr, "%s: create failed\n", a->name);
    return 1;
  }
  float *x = malloc(a->x_count * sizeof(float));
  int32_t *y = malloc(a->y_count * sizeof(int32_t));
  int bad = 0;
  for (int s = 0; s < steps && !bad; s++) {
    for (size_t i = 0; i < a->x_count; i++) {
      if (a->x_is_ids) ((int32_t *)x)[i] = (int32_t)(next_u32() % 96);
      else x[i] = (float)(next_u32() % 1000) / 1000.0f;
    }
    for (size_t i = 0; i < a->y_count; i++) y[i] = (int32_t)(next_u32() % 10);
    float l1 = 0, l2 = 0;
    if (a->train_step(m1, x, y, &l1) || a->grad(m2, x, y, &l2) || a->apply_update(m2)) {
      fprintf(stderr, "%s: step %d failed\n", a->name, s + 1);
      bad = 1;
    } else if (memcmp(&l1, &l2, sizeof l1) || memcmp(a->params(m1), a->params(m2), a->param_bytes)) {
      fprintf(stderr, "%s: step %d: train_step gives loss %.9g, grad + apply_update %.9g%s\n", a->name, s + 1, l1, l2,
              memcmp(a->params(m1), a->params(m2), a->param_bytes) ? "; the parameters differ" : "");
      bad = 1;
    }
  }
  if (!bad) printf("%s: %d steps, grad + apply_update == train_step bit for bit\n", a->name, steps);
  free(x);
  free(y);
  a->destroy(m1);
  a->destroy(m2);
  return bad;
}

#define API(P, U, X_COUNT, Y_COUNT, IDS)                                                                          \
  {#P, (nn_status (*)(void **, uint64_t))P##_create, (void (*)(void *))P##_destroy,                                \
   (nn_status (*)(void *, const void *, const int32_t *, float *))P##_train_step,                                  \
   (nn_status (*)(void *, const void *, const int32_t *, float *))P##_grad, (nn_status (*)(void *))P##_apply_update, \
   (float *(*)(void *))P##_params, U##_PARAM_BYTES, X_COUNT, Y_COUNT, IDS}

int main(void) {
  const Api apis[] = {
      API(gu_mlp, GU_MLP, 8 * 784, 8, 0),
      API(gu_rnn, GU_RNN, 4 * 8, 4 * 8, 1),
      API(gu_gpt, GU_GPT, 2 * 6, 2 * 6, 1),
  };
  int bad = 0;
  for (size_t i = 0; i < sizeof apis / sizeof apis[0]; i++) bad |= check(&apis[i], 12);
  return bad;
}
