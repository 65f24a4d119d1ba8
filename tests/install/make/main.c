/* main.c — the pkg-config consumer's program (tests/install/make): sets
 * the parameters of tiny.nn (y = x W + b) by name through the generated C
 * API, runs forward on two rows and checks the result against the same
 * arithmetic done here. Prints the outputs; exits 1 on any difference. */
#include <stdio.h>
#include <string.h>

#include "tiny.h"

static const float W[3][2] = {{1, 2}, {3, 4}, {5, 6}}, b[2] = {0.5f, -1};
static const float x[2][3] = {{1, 0, -1}, {2, 1, 0}};

int main(void) {
  tiny *m;
  if (tiny_create(&m, 1) != NN_OK) {
    fprintf(stderr, "tiny: create: %s\n", tiny_last_error());
    return 1;
  }
  float *p = tiny_params(m);
  for (size_t i = 0; i < tiny_num_params(); i++) {
    const nn_tensor_info *t = tiny_param_info(i);
    memcpy(p + t->offset, !strcmp(t->name, "W") ? &W[0][0] : b, t->numel * sizeof(float));
  }
  float y[2][2];
  if (tiny_forward(m, &x[0][0], &y[0][0]) != NN_OK) {
    fprintf(stderr, "tiny: forward: %s\n", tiny_last_error());
    return 1;
  }
  int bad = 0;
  for (int r = 0; r < 2; r++)
    for (int c = 0; c < 2; c++) {
      float want = b[c];
      for (int k = 0; k < 3; k++) want += x[r][k] * W[k][c];
      printf("y[%d][%d] = %g\n", r, c, y[r][c]);
      bad += y[r][c] != want;
    }
  tiny_destroy(m);
  return bad != 0;
}
