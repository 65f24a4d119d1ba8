/* llvm_math.c — exp, log, tanh, sigmoid, gelu as straight-line LLVM IR.
 *
 * libm's expf is a call the loop vectorizer cannot vectorize, so for f32
 * the backend emits Cephes-style approximations (range reduction plus a
 * polynomial, about 1 ulp) made only of vectorizable instructions; every
 * branch is a select. f64 calls libm. The constants are Cephes'. */
#include "llvm_internal.h"

static LLVMValueRef fc(Gen *g, double v) { return LLVMConstReal(g->t_f32, v); }
static LLVMValueRef fmul(Gen *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(g->b, a, b, ""); }
static LLVMValueRef fadd(Gen *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(g->b, a, b, ""); }
static LLVMValueRef fsub(Gen *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFSub(g->b, a, b, ""); }
static LLVMValueRef fdiv(Gen *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFDiv(g->b, a, b, ""); }
static LLVMValueRef sel(Gen *g, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(g->b, c, a, b, "");
}
static LLVMValueRef fcmp(Gen *g, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFCmp(g->b, p, a, b, "");
}

/* Horner: c[0]*x^(n-1) + ... + c[n-1] */
static LLVMValueRef poly(Gen *g, LLVMValueRef x, const double *c, int n) {
  LLVMValueRef r = fc(g, c[0]);
  for (int i = 1; i < n; i++) r = fadd(g, fmul(g, r, x), fc(g, c[i]));
  return r;
}

static LLVMValueRef libm1(Gen *g, const char *name, LLVMValueRef x) {
  LLVMTypeRef t = g->t_f64;
  return g_call(g, name, t, &t, 1, &x);
}

/* e^x = 2^n * e^r, n = round(x / ln2), r = x - n ln2 (ln2 split in two for
 * accuracy), e^r by a degree-6 polynomial; 2^n built in the exponent bits. */
LLVMValueRef lm_exp(Gen *g, LLVMValueRef x, DType dt) {
  if (dt == TY_F64) return libm1(g, "exp", x);
  static const double p[] = {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3, 4.1665795894E-2,
                             1.6666665459E-1, 5.0000001201E-1};
  LLVMValueRef hi = fc(g, 88.72283935546875), lo = fc(g, -87.33654022216797);
  LLVMValueRef big = fcmp(g, LLVMRealOGT, x, hi), small = fcmp(g, LLVMRealOLT, x, lo);
  LLVMValueRef xc = sel(g, big, hi, sel(g, small, lo, x));
  LLVMValueRef fx = g_intrinsic(g, "llvm.floor", g->t_f32, (LLVMValueRef[]){fadd(g, fmul(g, xc, fc(g, 1.44269504088896341)), fc(g, 0.5))}, 1);
  LLVMValueRef r = fsub(g, fsub(g, xc, fmul(g, fx, fc(g, 0.693359375))), fmul(g, fx, fc(g, -2.12194440e-4)));
  LLVMValueRef r2 = fmul(g, r, r);
  LLVMValueRef y = fadd(g, fadd(g, fmul(g, poly(g, r, p, 6), r2), r), fc(g, 1.0));
  LLVMValueRef n = LLVMBuildFPToSI(g->b, fx, g->t_i32, "");
  LLVMValueRef bits = LLVMBuildShl(g->b, LLVMBuildAdd(g->b, n, g_i32(g, 127), ""), g_i32(g, 23), "");
  LLVMValueRef scale = LLVMBuildBitCast(g->b, bits, g->t_f32, "");
  LLVMValueRef res = fmul(g, y, scale);
  res = sel(g, big, fc(g, __builtin_inff()), res);
  res = sel(g, small, fc(g, 0.0), res);
  /* NaN in, NaN out */
  return sel(g, fcmp(g, LLVMRealUNO, x, x), x, res);
}

/* log x = log m + e ln2 with x = m 2^e, m in [sqrt(1/2), sqrt(2)); log m by
 * a degree-8 polynomial in m - 1. Zero gives -inf, negatives NaN, inf inf. */
LLVMValueRef lm_log(Gen *g, LLVMValueRef x, DType dt) {
  if (dt == TY_F64) return libm1(g, "log", x);
  static const double p[] = {7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
                             -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1};
  LLVMValueRef bits = LLVMBuildBitCast(g->b, x, g->t_i32, "");
  LLVMValueRef e = LLVMBuildSub(g->b, LLVMBuildAnd(g->b, LLVMBuildLShr(g->b, bits, g_i32(g, 23), ""), g_i32(g, 255), ""),
                                g_i32(g, 126), "");
  LLVMValueRef mbits = LLVMBuildOr(g->b, LLVMBuildAnd(g->b, bits, g_i32(g, 0x807fffff), ""), g_i32(g, 0x3f000000), "");
  LLVMValueRef m = LLVMBuildBitCast(g->b, mbits, g->t_f32, ""); /* in [0.5, 1) */
  LLVMValueRef lt = fcmp(g, LLVMRealOLT, m, fc(g, 0.707106781186547524));
  LLVMValueRef ef = LLVMBuildSIToFP(g->b, LLVMBuildSub(g->b, e, LLVMBuildZExt(g->b, lt, g->t_i32, ""), ""), g->t_f32, "");
  LLVMValueRef mm = fsub(g, sel(g, lt, fadd(g, m, m), m), fc(g, 1.0));
  LLVMValueRef z = fmul(g, mm, mm);
  LLVMValueRef y = fmul(g, fmul(g, poly(g, mm, p, 9), mm), z);
  y = fadd(g, y, fmul(g, ef, fc(g, -2.12194440e-4)));
  y = fsub(g, y, fmul(g, z, fc(g, 0.5)));
  LLVMValueRef r = fadd(g, fadd(g, mm, y), fmul(g, ef, fc(g, 0.693359375)));
  r = sel(g, fcmp(g, LLVMRealOEQ, x, fc(g, 0.0)), fc(g, -__builtin_inff()), r);
  r = sel(g, fcmp(g, LLVMRealOLT, x, fc(g, 0.0)), fc(g, __builtin_nanf("")), r);
  r = sel(g, fcmp(g, LLVMRealOEQ, x, fc(g, __builtin_inff())), x, r);
  /* subnormal inputs: scale up by 2^24 first would be exact; they only
   * arise from underflow, and log of them is about -88..-104 */
  LLVMValueRef sub = LLVMBuildAnd(g->b, fcmp(g, LLVMRealOGT, x, fc(g, 0.0)), fcmp(g, LLVMRealOLT, x, fc(g, 1.17549435e-38)), "");
  r = sel(g, sub, fc(g, -87.33654475), r);
  return sel(g, fcmp(g, LLVMRealUNO, x, x), x, r);
}

/* tanh: for |x| > 0.625, 1 - 2/(e^(2|x|) + 1) with the sign of x; below,
 * an odd polynomial (avoids the cancellation near 0). */
LLVMValueRef lm_tanh(Gen *g, LLVMValueRef x, DType dt) {
  if (dt == TY_F64) return libm1(g, "tanh", x);
  static const double p[] = {-5.70498872745E-3, 2.06390887954E-2, -5.37397155531E-2, 1.33314422036E-1,
                             -3.33332819422E-1};
  LLVMValueRef ax = g_intrinsic(g, "llvm.fabs", g->t_f32, &x, 1);
  LLVMValueRef e = lm_exp(g, fadd(g, ax, ax), TY_F32);
  LLVMValueRef far = fsub(g, fc(g, 1.0), fdiv(g, fc(g, 2.0), fadd(g, e, fc(g, 1.0))));
  far = g_intrinsic(g, "llvm.copysign", g->t_f32, (LLVMValueRef[]){far, x}, 2);
  LLVMValueRef z = fmul(g, x, x);
  LLVMValueRef near = fadd(g, fmul(g, fmul(g, poly(g, z, p, 5), z), x), x);
  return sel(g, fcmp(g, LLVMRealOGT, ax, fc(g, 0.625)), far, near);
}

/* 1 / (1 + e^-x) */
LLVMValueRef lm_sigmoid(Gen *g, LLVMValueRef x, DType dt) {
  LLVMValueRef one = g_fconst(g, dt, 1.0);
  LLVMValueRef e = lm_exp(g, LLVMBuildFNeg(g->b, x, ""), dt);
  return LLVMBuildFDiv(g->b, one, LLVMBuildFAdd(g->b, one, e, ""), "");
}

/* 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), computed as
 * x / (1 + e^(-2u)) (0.5 (1 + tanh u) is sigmoid(2u)): one exp and one
 * division instead of tanh's exp, division, polynomial and selects, and
 * no cancellation in 1 + tanh u for negative x (where tanh u is near -1).
 * x -> -inf gives x / inf = -0, like the tanh form's limit. */
LLVMValueRef lm_gelu(Gen *g, LLVMValueRef x, DType dt) {
  LLVMValueRef x3 = LLVMBuildFMul(g->b, LLVMBuildFMul(g->b, x, x, ""), x, "");
  LLVMValueRef m2u = LLVMBuildFMul(g->b, g_fconst(g, dt, -2 * 0.7978845608028654),
                                   LLVMBuildFAdd(g->b, x, LLVMBuildFMul(g->b, g_fconst(g, dt, 0.044715), x3, ""), ""), "");
  LLVMValueRef e = lm_exp(g, m2u, dt);
  return LLVMBuildFDiv(g->b, x, LLVMBuildFAdd(g->b, g_fconst(g, dt, 1.0), e, ""), "");
}

LLVMValueRef lm_pow(Gen *g, LLVMValueRef a, LLVMValueRef b, DType dt) {
  LLVMTypeRef t = dt == TY_F64 ? g->t_f64 : g->t_f32;
  LLVMTypeRef ps[2] = {t, t};
  LLVMValueRef args[2] = {a, b};
  return g_call(g, dt == TY_F64 ? "pow" : "powf", t, ps, 2, args);
}
