/* op_cases.h — IR test cases, one or more per op of the op table. Shared
 * by the gradient check (test_gradcheck.c) and the backend's differential
 * test (test_backend.c). Each case computes `%out` from its arguments; the
 * tests wrap it into a scalar loss sum(out * wout). Written in f64; the
 * backend test also runs them with every f64 replaced by f32. */
#ifndef NNC_TEST_OP_CASES_H
#define NNC_TEST_OP_CASES_H

typedef struct Case {
  const char *name;
  const char *args;   /* "%a: f64[3,4], %b: f64[4]" */
  const char *body;   /* lines ending in a value %out */
  const char *out;    /* type of %out */
  const char *ranges; /* see gc_inputs */
} Case;

static const Case op_cases[] = {
    /* elementwise unary */
    {"neg", "%a: f64[3,4]", "%out = neg %a : f64[3,4]", "f64[3,4]", ""},
    {"exp", "%a: f64[3,4]", "%out = exp %a : f64[3,4]", "f64[3,4]", ""},
    {"log", "%a: f64[3,4]", "%out = log %a : f64[3,4]", "f64[3,4]", "a=0.5:2"},
    {"sqrt", "%a: f64[5]", "%out = sqrt %a : f64[5]", "f64[5]", "a=0.5:2"},
    {"rsqrt", "%a: f64[5]", "%out = rsqrt %a : f64[5]", "f64[5]", "a=0.5:2"},
    {"abs", "%a: f64[6]", "%out = abs %a : f64[6]", "f64[6]", "a=+-0.2:1"},
    {"sign", "%a: f64[6], %wb: f64[6]", "%s = sign %wb : f64[6]\n%out = mul %a, %s : f64[6]", "f64[6]", "wb=+-0.2:1"},
    {"tanh", "%a: f64[3,4]", "%out = tanh %a : f64[3,4]", "f64[3,4]", "a=-2:2"},
    {"sigmoid", "%a: f64[3,4]", "%out = sigmoid %a : f64[3,4]", "f64[3,4]", "a=-3:3"},
    {"relu", "%a: f64[3,4]", "%out = relu %a : f64[3,4]", "f64[3,4]", "a=+-0.1:1"},
    {"gelu", "%a: f64[3,4]", "%out = gelu %a : f64[3,4]", "f64[3,4]", "a=-3:3"},
    {"not", "%a: f64[4], %wb: f64[4]",
     "%z = const {value=0} : f64\n%c = gt %wb, %z : bool[4]\n%n = not %c : bool[4]\n%out = select %n, %a, %wb : f64[4]",
     "f64[4]", "wb=+-0.1:1"},
    {"cast f64<->f32", "%a: f64[4]", "%c = cast %a : f32[4]\n%out = cast %c : f64[4]", "f64[4]", ""},
    {"cast i32->f64", "%a: f64[4], %wi: i32[4]", "%c = cast %wi : f64[4]\n%out = mul %a, %c : f64[4]", "f64[4]", "wi=0:5"},
    {"stop_gradient", "%a: f64[4], %wb: f64[4]", "%s = stop_gradient %wb : f64[4]\n%out = mul %s, %a : f64[4]", "f64[4]",
     ""},
    /* sources */
    {"const", "%a: f64[2,3]", "%c = const {value=0.75} : f64[2,3]\n%out = mul %a, %c : f64[2,3]", "f64[2,3]", ""},
    {"iota", "%a: f64[2,3]", "%i = iota {axis=1} : i32[2,3]\n%c = cast %i : f64[2,3]\n%out = mul %a, %c : f64[2,3]",
     "f64[2,3]", ""},
    {"rng_uniform", "%a: f64[2,3], %ws: i32",
     "%u = rng_uniform %ws {stream=3} : f64[2,3]\n%out = mul %a, %u : f64[2,3]", "f64[2,3]", "ws=1:100"},
    {"one_hot", "%a: f64[4,3], %wi: i32[4]", "%h = one_hot %wi : f64[4,3]\n%out = mul %a, %h : f64[4,3]", "f64[4,3]",
     "wi=0:3"},
    /* elementwise binary with broadcasting */
    {"add bcast", "%a: f64[3,4], %b: f64[4]", "%out = add %a, %b : f64[3,4]", "f64[3,4]", ""},
    {"sub bcast", "%a: f64[3,1], %b: f64[1,4]", "%out = sub %a, %b : f64[3,4]", "f64[3,4]", ""},
    {"mul bcast", "%a: f64[2,3,4], %b: f64[3,1]", "%out = mul %a, %b : f64[2,3,4]", "f64[2,3,4]", ""},
    {"mul scalar", "%a: f64[3,4], %b: f64", "%out = mul %a, %b : f64[3,4]", "f64[3,4]", ""},
    {"div", "%a: f64[3,4], %b: f64[3,4]", "%out = div %a, %b : f64[3,4]", "f64[3,4]", "b=+-0.5:2"},
    {"div bcast", "%a: f64[4], %b: f64[3,1]", "%out = div %a, %b : f64[3,4]", "f64[3,4]", "b=+-0.5:2"},
    {"pow", "%a: f64[3,4], %b: f64[4]", "%out = pow %a, %b : f64[3,4]", "f64[3,4]", "a=0.5:2, b=-2:2"},
    {"max", "%a: f64[3,4], %b: f64[3,4]", "%out = max %a, %b : f64[3,4]", "f64[3,4]", ""},
    {"min bcast", "%a: f64[3,4], %b: f64[4]", "%out = min %a, %b : f64[3,4]", "f64[3,4]", ""},
    {"compare+select", "%a: f64[3,4], %b: f64[3,4]",
     "%c1 = lt %a, %b : bool[3,4]\n%c2 = le %a, %b : bool[3,4]\n%c3 = gt %a, %b : bool[3,4]\n"
     "%c4 = ge %a, %b : bool[3,4]\n%c5 = eq %c1, %c2 : bool[3,4]\n%c6 = ne %c3, %c4 : bool[3,4]\n"
     "%c7 = and %c5, %c6 : bool[3,4]\n%c8 = or %c7, %c1 : bool[3,4]\n%out = select %c8, %a, %b : f64[3,4]",
     "f64[3,4]", ""},
    {"select bcast", "%a: f64[4], %b: f64[3,4], %wc: f64[3,1]",
     "%z = const {value=0} : f64\n%c = gt %wc, %z : bool[3,1]\n%out = select %c, %a, %b : f64[3,4]", "f64[3,4]",
     "wc=+-0.1:1"},
    /* reductions */
    {"reduce_sum", "%a: f64[2,3,4]", "%out = reduce_sum %a {axes=[0,2]} : f64[3]", "f64[3]", ""},
    {"reduce_sum all", "%a: f64[2,3]", "%out = reduce_sum %a {axes=[0,1]} : f64", "f64", ""},
    {"reduce_max", "%a: f64[3,5]", "%out = reduce_max %a {axes=[1]} : f64[3]", "f64[3]", ""},
    {"reduce_min", "%a: f64[3,5]", "%out = reduce_min %a {axes=[0]} : f64[5]", "f64[5]", ""},
    {"argmax", "%a: f64[3,4], %wv: f64[3,4]",
     "%i = argmax %wv {axis=1} : i32[3]\n%h = one_hot %i : f64[3,4]\n%out = mul %a, %h : f64[3,4]", "f64[3,4]", ""},
    /* shapes */
    {"reshape", "%a: f64[3,4]", "%out = reshape %a : f64[2,6]", "f64[2,6]", ""},
    {"transpose", "%a: f64[2,3,4]", "%out = transpose %a {perm=[2,0,1]} : f64[4,2,3]", "f64[4,2,3]", ""},
    {"broadcast", "%a: f64[3,1]", "%out = broadcast %a : f64[2,3,4]", "f64[2,3,4]", ""},
    {"slice", "%a: f64[5,6]", "%out = slice %a {start=[1,0], step=[2,3]} : f64[2,2]", "f64[2,2]", ""},
    {"pad", "%a: f64[2,2]", "%out = pad %a {start=[1,0], step=[2,3]} : f64[5,6]", "f64[5,6]", ""},
    {"update_slice", "%a: f64[5,6], %b: f64[2,2]", "%out = update_slice %a, %b {start=[1,0], step=[2,3]} : f64[5,6]",
     "f64[5,6]", ""},
    {"concat", "%a: f64[2,3], %b: f64[2,1], %c: f64[2,2]", "%out = concat %a, %b, %c {axis=1} : f64[2,6]", "f64[2,6]",
     ""},
    {"dyn_slice", "%a: f64[3,4,2], %wi: i32", "%out = dyn_slice %a, %wi {axis=1} : f64[3,2]", "f64[3,2]", "wi=0:4"},
    {"dyn_update", "%a: f64[3,4], %b: f64[3], %wi: i32", "%out = dyn_update %a, %b, %wi {axis=1} : f64[3,4]",
     "f64[3,4]", "wi=0:4"},
    {"dyn_update_add", "%a: f64[3,4], %b: f64[4], %wi: i32", "%out = dyn_update_add %a, %b, %wi {axis=0} : f64[3,4]",
     "f64[3,4]", "wi=0:3"},
    /* linear algebra */
    {"matmul", "%a: f64[3,4], %b: f64[4,5]", "%out = matmul %a, %b {ta=0, tb=0} : f64[3,5]", "f64[3,5]", ""},
    {"matmul tb", "%a: f64[3,4], %b: f64[5,4]", "%out = matmul %a, %b {ta=0, tb=1} : f64[3,5]", "f64[3,5]", ""},
    {"matmul ta", "%a: f64[4,3], %b: f64[4,5]", "%out = matmul %a, %b {ta=1, tb=0} : f64[3,5]", "f64[3,5]", ""},
    {"matmul ta tb", "%a: f64[4,3], %b: f64[5,4]", "%out = matmul %a, %b {ta=1, tb=1} : f64[3,5]", "f64[3,5]", ""},
    {"matmul batched", "%a: f64[2,3,4], %b: f64[2,4,2]", "%out = matmul %a, %b {ta=0, tb=0} : f64[2,3,2]",
     "f64[2,3,2]", ""},
    /* layers */
    {"conv2d", "%x: f64[2,2,5,5], %k: f64[3,2,3,3]", "%out = conv2d %x, %k {stride=[2,1], pad=[1,0]} : f64[2,3,3,3]",
     "f64[2,3,3,3]", ""},
    {"conv2d_bwd_x", "%dy: f64[2,3,3,3], %k: f64[3,2,3,3]",
     "%out = conv2d_bwd_x %dy, %k {stride=[2,1], pad=[1,0]} : f64[2,2,5,5]", "f64[2,2,5,5]", ""},
    {"conv2d_bwd_w", "%x: f64[2,2,5,5], %dy: f64[2,3,3,3]",
     "%out = conv2d_bwd_w %x, %dy {stride=[2,1], pad=[1,0]} : f64[3,2,3,3]", "f64[3,2,3,3]", ""},
    {"maxpool2d", "%x: f64[2,2,5,5]", "%out = maxpool2d %x {kernel=[3,3], stride=[2,2], pad=[1,1]} : f64[2,2,3,3]",
     "f64[2,2,3,3]", ""},
    {"maxpool2d_bwd", "%wx: f64[2,2,5,5], %dy: f64[2,2,3,3]",
     "%out = maxpool2d_bwd %wx, %dy {kernel=[3,3], stride=[2,2], pad=[1,1]} : f64[2,2,5,5]", "f64[2,2,5,5]", ""},
    {"maxpool2d_pick", "%wx: f64[2,2,5,5], %h: f64[2,2,5,5]",
     "%out = maxpool2d_pick %wx, %h {kernel=[3,3], stride=[2,2], pad=[1,1]} : f64[2,2,3,3]", "f64[2,2,3,3]", ""},
    {"avgpool2d", "%x: f64[2,2,5,5]", "%out = avgpool2d %x {kernel=[2,3], stride=[2,1], pad=[1,1]} : f64[2,2,3,5]",
     "f64[2,2,3,5]", ""},
    {"avgpool2d_bwd", "%dy: f64[2,2,3,5]",
     "%out = avgpool2d_bwd %dy {kernel=[2,3], stride=[2,1], pad=[1,1]} : f64[2,2,5,5]", "f64[2,2,5,5]", ""},
    {"gather", "%t: f64[5,3], %wi: i32[2,4]", "%out = gather %t, %wi : f64[2,4,3]", "f64[2,4,3]", "wi=0:5"},
    {"scatter_add", "%g: f64[2,4,3], %wi: i32[2,4]", "%out = scatter_add %wi, %g : f64[5,3]", "f64[5,3]", "wi=0:5"},
    /* compositions with a rule of their own: softmax, e^a / sum(e^a) (vjp.c
     * softmax_div), also with e^a and the sum used again */
    {"softmax", "%a: f64[3,4]",
     "%e = exp %a : f64[3,4]\n%s = reduce_sum %e {axes=[1]} : f64[3]\n%k = reshape %s : f64[3,1]\n"
     "%out = div %e, %k : f64[3,4]",
     "f64[3,4]", "a=-2:2"},
    {"softmax middle axis, parts reused", "%a: f64[2,3,4]",
     "%e = exp %a : f64[2,3,4]\n%s = reduce_sum %e {axes=[1]} : f64[2,4]\n%k = reshape %s : f64[2,1,4]\n"
     "%p = div %e, %k : f64[2,3,4]\n%l = log %k : f64[2,1,4]\n%q = add %p, %l : f64[2,3,4]\n%out = mul %q, %e : f64[2,3,4]",
     "f64[2,3,4]", "a=-2:2"},
    /* a layernorm's normalized value, (a - mean(a)) * rsqrt(mean((a - mean(a))^2) + eps) (vjp.c
     * normalize_mul); over two axes with the parts reused; eps differentiated (no rule of its own) */
    {"layernorm", "%a: f64[3,5]",
     "%s = reduce_sum %a {axes=[1]} : f64[3]\n%c = const {value=0.2} : f64\n%m = mul %s, %c : f64[3]\n"
     "%mu = reshape %m : f64[3,1]\n%xc = sub %a, %mu : f64[3,5]\n%sq = mul %xc, %xc : f64[3,5]\n"
     "%vs = reduce_sum %sq {axes=[1]} : f64[3]\n%v = mul %vs, %c : f64[3]\n%vk = reshape %v : f64[3,1]\n"
     "%e = const {value=1e-5} : f64\n%ve = add %vk, %e : f64[3,1]\n%r = rsqrt %ve : f64[3,1]\n"
     "%out = mul %xc, %r : f64[3,5]",
     "f64[3,5]", ""},
    {"layernorm two axes, parts reused", "%a: f64[2,3,4], %weps: f64",
     "%s = reduce_sum %a {axes=[0,2]} : f64[3]\n%c = const {value=0.125} : f64\n%m = mul %c, %s : f64[3]\n"
     "%mu = reshape %m : f64[1,3,1]\n%xc = sub %a, %mu : f64[2,3,4]\n%sq = mul %xc, %xc : f64[2,3,4]\n"
     "%vs = reduce_sum %sq {axes=[0,2]} : f64[3]\n%v = mul %vs, %c : f64[3]\n%vk = reshape %v : f64[1,3,1]\n"
     "%ve = add %weps, %vk : f64[1,3,1]\n%r = rsqrt %ve : f64[1,3,1]\n%y = mul %r, %xc : f64[2,3,4]\n"
     "%z = mul %y, %xc : f64[2,3,4]\n%out = add %z, %r : f64[2,3,4]",
     "f64[2,3,4]", "weps=0.1:1"},
    {"layernorm, eps differentiated", "%a: f64[3,5], %eps: f64",
     "%s = reduce_sum %a {axes=[1]} : f64[3]\n%c = const {value=0.2} : f64\n%m = mul %s, %c : f64[3]\n"
     "%mu = reshape %m : f64[3,1]\n%xc = sub %a, %mu : f64[3,5]\n%sq = mul %xc, %xc : f64[3,5]\n"
     "%vs = reduce_sum %sq {axes=[1]} : f64[3]\n%v = mul %vs, %c : f64[3]\n%vk = reshape %v : f64[3,1]\n"
     "%ve = add %vk, %eps : f64[3,1]\n%r = rsqrt %ve : f64[3,1]\n%out = mul %xc, %r : f64[3,5]",
     "f64[3,5]", "eps=0.1:1"},
    /* a loop: carried value, an outer weight used every step, a stacked output read back */
    {"for", "%h0: f64[2,3], %W: f64[3,3], %xs: f64[4,2,3]",
     "%h, %st = for %t = 0 to 4 carry(%hc = %h0) : f64[2,3], f64[4,2,3] {\n"
     "  %x = dyn_slice %xs, %t {axis=0} : f64[2,3]\n"
     "  %m = matmul %hc, %W {ta=0, tb=0} : f64[2,3]\n"
     "  %s = add %m, %x : f64[2,3]\n"
     "  %hn = tanh %s : f64[2,3]\n"
     "  yield %hn, %s\n"
     "}\n"
     "%r = reduce_sum %st {axes=[0]} : f64[2,3]\n"
     "%out = add %h, %r : f64[2,3]",
     "f64[2,3]", ""},
    {"for reverse", "%h0: f64[3], %v: f64[3]",
     "%h = for reverse %t = 1 to 4 carry(%hc = %h0) : f64[3] {\n"
     "  %ti = cast %t : f64\n"
     "  %a = mul %hc, %v : f64[3]\n"
     "  %b = mul %a, %ti : f64[3]\n"
     "  %hn = tanh %b : f64[3]\n"
     "  yield %hn\n"
     "}\n"
     "%out = mul %h, %h : f64[3]",
     "f64[3]", ""},
};


#define NUM_OP_CASES ((int)(sizeof op_cases / sizeof op_cases[0]))

/* The module text of a case: @f(args..., %wout) -> scalar loss. */
static inline char *op_case_text(const Case *c, char *buf, size_t n) {
  int r = 0;
  for (const char *p = strchr(c->out, '['); p && *p; p++)
    if (*p == ',' || *p == ']') r++;
  if (!strchr(c->out, '[')) r = 0;
  char axes[64] = "";
  for (int i = 0; i < r; i++) snprintf(axes + strlen(axes), sizeof axes - strlen(axes), i ? ",%d" : "%d", i);
  snprintf(buf, n,
           "module @t\nfunc @f(%s, %%wout: %s) -> (f64) {\n%s\n%%loss.w = mul %%out, %%wout : %s\n"
           "%%loss = reduce_sum %%loss.w {axes=[%s]} : f64\nreturn %%loss\n}\n",
           c->args, c->out, c->body, c->out, axes);
  return buf;
}

#endif
