/* abi_deriv.c — functions whose bodies take derivatives, through the C
 * API of the library nnc builds from tests/nn/deriv.nn (an f64 model, so
 * compiled code is checked in double precision): an input gradient, a
 * forward-over-reverse Hessian-vector product through a recurrent loop,
 * and the parameter gradient of a gradient-penalized loss (deriv_*_grad,
 * second order), each against central differences of the library's own
 * lower-order function. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "deriv.h"
#include "unit_main.h"

static double x[6], y[8], v[6];

static void inputs(void) {
  uint64_t s = 3;
  for (int i = 0; i < 6; i++) s = s * 6364136223846793005ull + 1, x[i] = (double)(s >> 11) / 9007199254740992.0 - 0.5;
  for (int i = 0; i < 8; i++) s = s * 6364136223846793005ull + 1, y[i] = (double)(s >> 11) / 9007199254740992.0 - 0.5;
  for (int i = 0; i < 6; i++) s = s * 6364136223846793005ull + 1, v[i] = (double)(s >> 11) / 9007199254740992.0 - 0.5;
}

static double relerr(const double *a, const double *b, int n) {
  double num = 0, den = 0;
  for (int i = 0; i < n; i++) num += (a[i] - b[i]) * (a[i] - b[i]), den += b[i] * b[i];
  return sqrt(num / (den > 0 ? den : 1));
}

/* gx = d f / d x, element by element */
static void test_input_gradient(void) {
  deriv *m;
  CU_ASSERT_EQUAL_FATAL(deriv_create(&m, 1), NN_OK);
  inputs();
  double g[6], fd[6], fp, fm;
  CU_ASSERT_EQUAL(deriv_gx(m, x, y, g), NN_OK);
  for (int i = 0; i < 6; i++) {
    double x0 = x[i], h = 1e-6;
    x[i] = x0 + h, deriv_f(m, x, y, &fp);
    x[i] = x0 - h, deriv_f(m, x, y, &fm);
    x[i] = x0;
    fd[i] = (fp - fm) / (2 * h);
  }
  double e = relerr(g, fd, 6);
  fprintf(stderr, "  deriv_gx vs differences of deriv_f: %.2e\n", e);
  CU_ASSERT(e <= 1e-7);
  deriv_destroy(m);
}

/* rhvp = H v through the loop, against differences of rgx along v */
static void test_hvp(void) {
  deriv *m;
  CU_ASSERT_EQUAL_FATAL(deriv_create(&m, 1), NN_OK);
  inputs();
  double hv[6], gp[6], gm[6], fd[6], x0[6], h = 1e-6;
  CU_ASSERT_EQUAL(deriv_rhvp(m, x, y, v, hv), NN_OK);
  memcpy(x0, x, sizeof x);
  for (int i = 0; i < 6; i++) x[i] = x0[i] + h * v[i];
  deriv_rgx(m, x, y, gp);
  for (int i = 0; i < 6; i++) x[i] = x0[i] - h * v[i];
  deriv_rgx(m, x, y, gm);
  memcpy(x, x0, sizeof x);
  for (int i = 0; i < 6; i++) fd[i] = (gp[i] - gm[i]) / (2 * h);
  double e = relerr(hv, fd, 6);
  fprintf(stderr, "  deriv_rhvp vs differences of deriv_rgx: %.2e\n", e);
  CU_ASSERT(e <= 1e-7);
  deriv_destroy(m);
}

/* penalty_grad: d/dθ (f + 0.1 |grad_x f|^2), against differences of penalty */
static void test_penalty_grad(void) {
  deriv *m;
  CU_ASSERT_EQUAL_FATAL(deriv_create(&m, 1), NN_OK);
  inputs();
  double loss, out, fp, fm;
  CU_ASSERT_EQUAL(deriv_penalty_grad(m, x, y, &loss), NN_OK);
  CU_ASSERT_EQUAL(deriv_penalty(m, x, y, &out), NN_OK);
  CU_ASSERT_DOUBLE_EQUAL(loss, out, 1e-12 * fabs(out));
  size_t n = DERIV_PARAM_BYTES / sizeof(double);
  double *p = deriv_params(m), *g = deriv_grads(m), ad[64], fd[64];
  CU_ASSERT_FATAL(n <= 64);
  memcpy(ad, g, n * sizeof(double));
  for (size_t i = 0; i < n; i++) {
    double p0 = p[i], h = 1e-6;
    p[i] = p0 + h, deriv_penalty(m, x, y, &fp);
    p[i] = p0 - h, deriv_penalty(m, x, y, &fm);
    p[i] = p0;
    fd[i] = (fp - fm) / (2 * h);
  }
  double e = relerr(ad, fd, (int)n);
  fprintf(stderr, "  deriv_penalty_grad vs differences of deriv_penalty: %.2e\n", e);
  CU_ASSERT(e <= 1e-7);
  deriv_destroy(m);
}

static UnitTest tests[] = {{"an input gradient (grad in .nn)", test_input_gradient},
                           {"a Hessian-vector product through a loop (jvp of grad)", test_hvp},
                           {"the parameter gradient of a gradient penalty", test_penalty_grad},
                           {0, 0}};

int main(void) { return unit_run("abi_deriv", tests); }
