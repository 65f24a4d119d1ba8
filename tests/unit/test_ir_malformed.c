/* test_ir_malformed.c — malformed IR text gives one located error and NULL,
 * never a crash or a hang (run under ASan+UBSan in the sanitizer build):
 *   - a table of malformed modules, each with the error it must give
 *     (line:col and message): wrong types, unknown ops, bad attributes,
 *     undefined values, duplicate definitions, mismatched yield/return, bad
 *     loop bounds, deep nesting, huge numbers, garbage and NUL bytes;
 *   - a valid module (with loops, gradients, notes) cut at every byte;
 *   - a few thousand random mutations of it (what parses also verifies,
 *     and prints and parses back to the same text);
 *   - the verifier on in-memory corruption the parser cannot express. */
#include "unit_main.h"
#include "gradcheck.h"
#include "pipeline.h"

/* Parse text; returns the module (or NULL) with the diagnostics in msg. */
static Module *parse(Arena *a, const char *text, size_t len, char *msg, size_t msgn, int *nerrors) {
  char *buf = NULL;
  size_t blen = 0;
  FILE *out = open_memstream(&buf, &blen);
  CU_ASSERT_PTR_NOT_NULL_FATAL(out);
  /* an exact-size copy: reading past len is an ASan error */
  char *src = malloc(len ? len : 1);
  memcpy(src, text, len);
  Diag d;
  diag_init(&d, "t.ir", src, len, out, COLOR_NEVER);
  Module *m = ir_parse(a, &d, src, len);
  *nerrors = d.nerrors;
  diag_free(&d);
  fclose(out);
  snprintf(msg, msgn, "%s", buf ? buf : "");
  free(buf);
  if (m) {
    /* names point into the arena, never into src */
    memset(src, 'X', len);
  }
  free(src);
  return m;
}

/* The message starts "t.ir:L:C: error: " with L, C >= 1. */
static bool located(const char *msg) {
  int l = 0, c = 0, n = 0;
  return sscanf(msg, "t.ir:%d:%d: error: %n", &l, &c, &n) == 2 && n > 0 && l >= 1 && c >= 1;
}

typedef struct Bad {
  const char *what;
  const char *text;
  const char *want;   /* "L:C: error: message" (a prefix of the message after "t.ir:") */
} Bad;

#define HEAD "module @m\n"
#define F1 "func @f(%x: f32[2,3], %i: i32) -> (f32[2,3]) {\n"

static const Bad bads[] = {
    /* the header */
    {"empty", "", "1:1: error: expected 'module @name'"},
    {"no module", "func @f() -> () {\n}\n", "1:1: error: expected 'module @name'"},
    {"module without name", "module m\n", "1:8: error: expected 'module @name'"},
    {"unterminated file name", "module @m \"abc\n", "1:11: error: unterminated string"},
    {"stray token", HEAD "banana\n", "2:1: error: expected 'param', 'train' or 'func'"},
    /* types */
    {"unknown dtype", HEAD "func @f(%x: f16[2]) -> () {\n  return\n}\n", "2:13: error: unknown type 'f16'"},
    {"zero dimension", HEAD "func @f(%x: f32[0]) -> () {\n  return\n}\n", "2:17: error: dimension out of range"},
    {"too many dimensions", HEAD "func @f(%x: f32[1,1,1,1,1,1,1,1,1]) -> () {\n  return\n}\n",
     "2:33: error: more than 8 dimensions"},
    {"element count overflow", HEAD "func @f(%x: f32[1048576,1048576,1048576]) -> () {\n  return\n}\n",
     "2:33: error: dimension out of range"},
    {"huge dimension", HEAD "func @f(%x: f32[99999999999999999999]) -> () {\n  return\n}\n",
     "2:17: error: malformed number '99999999999999999999'"},
    {"type mismatch", HEAD F1 "  %y = add %x, %i : f32[2,3]\n  return %y\n}\n",
     "3:3: error: add: operand types differ: f32[2,3] and i32"},
    {"wrong result type", HEAD F1 "  %y = exp %x : f32[3,2]\n  return %y\n}\n", "3:3: error: exp gives f32[2,3], not f32[3,2]"},
    {"no broadcast", HEAD "func @f(%x: f32[2,3], %z: f32[4]) -> () {\n  %y = mul %x, %z : f32[2,3]\n  return\n}\n",
     "3:3: error: mul: f32[2,3] and f32[4] do not broadcast"},
    {"float op on ints", HEAD F1 "  %y = exp %i : i32\n  return %x\n}\n", "3:3: error: exp: exp needs a float operand, not i32"},
    {"missing result type", HEAD F1 "  %y = exp %x\n  return %y\n}\n", "4:3: error: expected ':' and the result type"},
    /* ops */
    {"unknown op", HEAD F1 "  %y = frobnicate %x : f32[2,3]\n  return %y\n}\n", "3:8: error: unknown operation 'frobnicate'"},
    {"yield as an op", HEAD F1 "  %y = yield %x : f32[2,3]\n  return %y\n}\n", "3:8: error: unknown operation 'yield'"},
    {"operand count", HEAD F1 "  %y = add %x : f32[2,3]\n  return %y\n}\n", "3:3: error: add: add takes 2 operands, not 1"},
    {"two results", HEAD F1 "  %y, %z = exp %x : f32[2,3]\n  return %y\n}\n", "3:3: error: exp has one result"},
    {"no operation", HEAD F1 "  %y = \n  return %y\n}\n", "4:3: error: unknown operation 'return'"},
    {"no operation at the end", HEAD F1 "  %y = 5\n", "3:8: error: expected an operation"},
    /* attributes */
    {"missing attributes", HEAD F1 "  %y = reduce_sum %x : f32\n  return %x\n}\n", "3:22: error: expected '{' and the attributes"},
    {"wrong attribute name", HEAD F1 "  %y = reduce_sum %x {axis=[0]} : f32[3]\n  return %x\n}\n",
     "3:23: error: expected the attribute 'axes'"},
    {"attribute not an integer", HEAD F1 "  %y = dyn_slice %x, %i {axis=zero} : f32[3]\n  return %x\n}\n",
     "3:31: error: expected an integer"},
    {"float attribute as a name", HEAD "func @f() -> (f32) {\n  %c = const {value=pi} : f32\n  return %c\n}\n",
     "3:21: error: expected a number"},
    {"attribute count", HEAD F1 "  %y = transpose %x {perm=[1,0,2]} : f32[3,2]\n  return %x\n}\n",
     "3:3: error: transpose: transpose takes 2 integer attributes, not 3"},
    {"not a permutation", HEAD F1 "  %y = transpose %x {perm=[1,1]} : f32[3,3]\n  return %x\n}\n",
     "3:3: error: transpose: transpose needs a permutation of 0..1"},
    {"axes not increasing", HEAD F1 "  %y = reduce_sum %x {axes=[1,0]} : f32\n  return %x\n}\n",
     "3:3: error: reduce_sum: axes must be increasing"},
    {"axis out of range", HEAD F1 "  %y = dyn_slice %x, %i {axis=2} : f32[2]\n  return %x\n}\n",
     "3:3: error: dyn_slice: axis 2 out of range for f32[2,3]"},
    {"huge attribute", HEAD F1 "  %y = dyn_slice %x, %i {axis=1125899906842624} : f32[2]\n  return %x\n}\n",
     "3:31: error: attribute value 1125899906842624 is out of range"},
    {"slice outside", HEAD F1 "  %y = slice %x {start=[1,0], step=[1,4]} : f32[1,2]\n  return %x\n}\n",
     "3:3: error: slice: axis 1: 2 elements from 0 by 4 do not fit in 3"},
    {"slice step overflow", HEAD F1 "  %y = slice %x {start=[0,0], step=[1,1099511627776]} : f32[1,2]\n  return %x\n}\n",
     "3:3: error: slice: axis 1: 2 elements from 0 by 1099511627776 do not fit in 3"},
    {"conv padding", HEAD "func @f(%x: f32[1,1,4,4], %w: f32[1,1,3,3]) -> () {\n"
                     "  %y = conv2d %x, %w {stride=[1,1], pad=[1099511627776,0]} : f32[1,1,4,4]\n  return\n}\n",
     "3:3: error: conv2d gives"},
    {"too many attribute values", HEAD F1 "  %y = reduce_sum %x {axes=[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24]} : f32\n"
                                  "  return %x\n}\n",
     "3:91: error: too many attribute values"},
    {"float too large", HEAD "func @f() -> (f32) {\n  %c = const {value=1e999} : f32\n  return %c\n}\n",
     "3:21: error: malformed number '1e999'"},
    {"malformed float", HEAD "func @f() -> (f32) {\n  %c = const {value=1.2.3} : f32\n  return %c\n}\n",
     "3:21: error: malformed number '1.2.3'"},
    /* names */
    {"undefined value", HEAD F1 "  %y = exp %q : f32[2,3]\n  return %y\n}\n", "3:12: error: use of undefined value %q"},
    {"value defined twice", HEAD F1 "  %y = exp %x : f32[2,3]\n  %y = exp %x : f32[2,3]\n  return %y\n}\n",
     "4:3: error: value %y is defined twice"},
    {"argument defined twice", HEAD "func @f(%x: f32, %x: f32) -> () {\n  return\n}\n", "2:18: error: value %x is defined twice"},
    {"function defined twice", HEAD "func @f() -> () {\n  return\n}\nfunc @f() -> () {\n  return\n}\n",
     "5:6: error: function @f is defined twice"},
    {"parameter defined twice", HEAD "param @w : f32 = zeros()\nparam @w : f32 = ones()\n",
     "3:7: error: parameter @w is defined twice"},
    {"unknown initializer", HEAD "param @w : f32 = glorot()\n", "2:18: error: unknown initializer 'glorot'"},
    {"parameter after a function", HEAD "func @f() -> () {\n  return\n}\nparam @w : f32 = zeros()\n",
     "5:1: error: parameters come before functions"},
    {"unknown role", HEAD "func @f(%x: f32 weight(0)) -> () {\n  return\n}\n", "2:17: error: unknown role 'weight'"},
    {"empty name", HEAD "func @f(%: f32) -> () {\n  return\n}\n", "2:9: error: expected a name after '%'"},
    /* return and yield */
    {"return count", HEAD F1 "  return\n}\n", "3:3: error: @f returns 1 values, not 0"},
    {"return type", HEAD F1 "  return %i\n}\n", "3:3: error: result 0 of @f is f32[2,3], but i32 is returned"},
    {"no terminator", HEAD F1 "  %y = exp %x : f32[2,3]\n}\n", "4:1: error: a block must end with 'return' or 'yield'"},
    {"code after return", HEAD F1 "  return %x\n  %y = exp %x : f32[2,3]\n}\n", "4:3: error: instructions after 'return'"},
    {"yield in a function", HEAD F1 "  yield %x\n}\n", "3:3: error: 'yield' outside a loop"},
    {"return in a loop", HEAD F1 "  for %t = 0 to 2 {\n    return %x\n  }\n  return %x\n}\n", "4:5: error: 'return' inside a loop"},
    {"yield count", HEAD F1 "  %r = for %t = 0 to 2 carry(%c = %x) : f32[2,3] {\n    yield\n  }\n  return %r\n}\n",
     "5:3: error: the loop has 1 results but yields 0 values"},
    {"yield type", HEAD F1 "  %r = for %t = 0 to 2 carry(%c = %x) : f32[2,3] {\n    %d = reduce_sum %c {axes=[0]} : f32[3]\n"
                   "    yield %d\n  }\n  return %r\n}\n",
     "6:3: error: loop result 0 is declared f32[2,3] but the yielded value gives f32[3]"},
    {"carried type", HEAD F1 "  %r = for %t = 0 to 2 carry(%c = %i) : f32[2,3] {\n    yield %c\n  }\n  return %r\n}\n",
     "3:30: error: carried value %c starts as i32 but the loop result is f32[2,3]"},
    {"stacked shape", HEAD F1 "  %r, %s = for %t = 0 to 2 carry(%c = %x) : f32[2,3], f32[3,2,3] {\n    yield %c, %c\n  }\n  return %r\n}\n",
     "3:7: error: a stacked loop result must have a leading dimension of 2"},
    {"fewer results than carried", HEAD F1 "  for %t = 0 to 2 carry(%c = %x) {\n    yield %c\n  }\n  return %x\n}\n",
     "3:3: error: a loop with 1 carried values has at least 1 results"},
    {"result count", HEAD F1 "  %r, %s = for %t = 0 to 2 carry(%c = %x) : f32[2,3] {\n    yield %c\n  }\n  return %r\n}\n",
     "3:3: error: 2 results named but 1 types given"},
    {"loop value used after the loop", HEAD F1 "  for %t = 0 to 2 {\n    %y = exp %x : f32[2,3]\n    yield\n  }\n  return %y\n}\n",
     "7:10: error: use of undefined value %y"},
    /* loop bounds */
    {"reversed bounds", HEAD F1 "  for %t = 5 to 2 {\n    yield\n  }\n  return %x\n}\n", "3:3: error: bad loop range 5 to 2"},
    {"huge trip count", HEAD F1 "  for %t = 0 to 2000000000 {\n    yield\n  }\n  return %x\n}\n", "3:3: error: bad loop range 0 to 2000000000"},
    {"bound beyond i32", HEAD F1 "  for %t = -9223372036854775807 to 2 {\n    yield\n  }\n  return %x\n}\n",
     "3:3: error: bad loop range -9223372036854775807 to 2"},
    {"float bound", HEAD F1 "  for %t = 0.5 to 2 {\n    yield\n  }\n  return %x\n}\n", "3:12: error: expected the lower bound"},
    {"missing to", HEAD F1 "  for %t = 0 2 {\n    yield\n  }\n  return %x\n}\n", "3:14: error: expected 'to'"},
    {"no loop variable", HEAD F1 "  for 0 to 2 {\n    yield\n  }\n  return %x\n}\n", "3:7: error: expected the loop variable"},
    /* positions */
    {"bad position", HEAD F1 "  return %x  # here\n}\n", "3:14: error: expected 'line:col' after '#'"},
    {"position then junk", HEAD F1 "  return %x  # 3:4x\n}\n", "3:14: error: expected the end of the line after the position"},
    /* bytes */
    {"control byte in a note", HEAD F1 "  return %x  # 3:4 ab\033[1m\n}\n", "3:22: error: unexpected byte 0x1B in a note"},
    {"control byte", HEAD "\x01", "2:1: error: unexpected byte 0x01"},
    {"high byte", HEAD "func @f\xff() -> () {\n", "2:8: error: unexpected byte 0xFF"},
    {"unexpected character", HEAD "func @f() -> () {\n  return ;\n}\n", "3:10: error: unexpected character ';'"},
    {"end of file in a body", HEAD F1 "  %y = exp %x : f32[2,3]\n", "4:1: error: expected '}' before the end of the file"},
};

/* Texts with NUL bytes, so with their lengths. */
#define NUL_CASE(what, text, want) {{what, text, want}, sizeof(text) - 1}
static const struct {
  Bad b;
  size_t len;
} nul_bads[] = {
    NUL_CASE("NUL byte", HEAD F1 "  return %x\0\n}\n", "3:12: error: unexpected byte 0x00"),
    NUL_CASE("NUL byte in a note", HEAD F1 "  return %x  # 3:4 ab\0cd\n}\n", "3:22: error: unexpected byte 0x00 in a note"),
    NUL_CASE("NUL byte after a name", HEAD "func @f\0() -> () {\n", "2:8: error: unexpected byte 0x00"),
    NUL_CASE("NUL byte in a string", "module @m \"a\0b\"", "1:13: error: unexpected byte 0x00 in a string"),
};

static bool check_bad(const Bad *b, size_t len) {
  Arena *a = arena_new();
  char msg[2048];
  int ne;
  Module *m = parse(a, b->text, len, msg, sizeof msg, &ne);
  bool ok = !m && ne == 1 && located(msg) && !strncmp(msg + 5, b->want, strlen(b->want));
  if (!ok) fprintf(stderr, "  %s: expected \"t.ir:%s\", got (%d errors):\n%s\n", b->what, b->want, ne, msg);
  arena_free(a);
  return ok;
}

static void test_table(void) {
  for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) CU_ASSERT_TRUE(check_bad(&bads[i], strlen(bads[i].text)));
  for (size_t i = 0; i < sizeof nul_bads / sizeof nul_bads[0]; i++) CU_ASSERT_TRUE(check_bad(&nul_bads[i].b, nul_bads[i].len));
}

/* Loops nested deeper than the parser allows, and a flood of braces. */
static void test_deep_nesting(void) {
  size_t cap = 1 << 20;
  char *t = malloc(cap);
  size_t n = (size_t)snprintf(t, cap, "%s", HEAD F1);
  for (int d = 0; d < 1001; d++) n += (size_t)snprintf(t + n, cap - n, "for %%t%d = 0 to 2 {\n", d);
  for (int d = 0; d < 1001; d++) n += (size_t)snprintf(t + n, cap - n, "yield\n}\n");
  n += (size_t)snprintf(t + n, cap - n, "return %%x\n}\n");
  Arena *a = arena_new();
  char msg[2048];
  int ne;
  Module *m = parse(a, t, n, msg, sizeof msg, &ne);
  CU_ASSERT(!m && ne == 1 && located(msg) && strstr(msg, "nested too deeply"));
  /* 1000 levels are fine */
  n = (size_t)snprintf(t, cap, "%s", HEAD F1);
  for (int d = 0; d < 1000; d++) n += (size_t)snprintf(t + n, cap - n, "for %%t%d = 0 to 2 {\n", d);
  for (int d = 0; d < 1000; d++) n += (size_t)snprintf(t + n, cap - n, "yield\n}\n");
  n += (size_t)snprintf(t + n, cap - n, "return %%x\n}\n");
  m = parse(a, t, n, msg, sizeof msg, &ne);
  CU_ASSERT_PTR_NOT_NULL(m);
  if (m) CU_ASSERT_TRUE(ir_verify_module(m, stderr));
  /* a megabyte of '{' and of '%' */
  memset(t, '{', cap);
  memcpy(t, HEAD, strlen(HEAD));
  m = parse(a, t, cap, msg, sizeof msg, &ne);
  CU_ASSERT(!m && ne == 1 && located(msg));
  memset(t, '%', cap);
  m = parse(a, t, cap, msg, sizeof msg, &ne);
  CU_ASSERT(!m && ne == 1 && located(msg));
  /* a very long line of operands: read (there is no fixed bound), then
   * refused for its type */
  n = (size_t)snprintf(t, cap, "%s", HEAD F1 "  %y = concat %x");
  while (n < cap - 100) n += (size_t)snprintf(t + n, cap - n, ", %%x");
  n += (size_t)snprintf(t + n, cap - n, " {axis=0} : f32[2,3]\n  return %%x\n}\n");
  m = parse(a, t, n, msg, sizeof msg, &ne);
  CU_ASSERT(!m && ne == 1 && located(msg) && strstr(msg, "concat gives f32["));
  /* names of 255 bytes are fine, 256 are too long */
  for (int len = 255; len <= 256; len++) {
    n = (size_t)snprintf(t, cap, "%s", HEAD "func @f(%");
    memset(t + n, 'x', (size_t)len);
    n += (size_t)len;
    n += (size_t)snprintf(t + n, cap - n, ": f32) -> () {\n  return\n}\n");
    m = parse(a, t, n, msg, sizeof msg, &ne);
    if (len == 255) CU_ASSERT_PTR_NOT_NULL(m);
    if (len == 256) CU_ASSERT(!m && ne == 1 && !strncmp(msg, "t.ir:2:9: error: name too long", 30));
  }
  arena_free(a);
  free(t);
}

/* A valid module with every feature of the format: the char RNN's loss and
 * gradient (loops, reverse loops, stacked tapes, notes, roles). */
static char *valid_module(size_t *len) {
  Arena *a = arena_new();
  Define defs[] = {{"B", "2"}, {"T", "3"}, {"V", "5"}, {"E", "3"}, {"H", "4"}};
  char path[1024];
  snprintf(path, sizeof path, "%s/samples/char_rnn.nn", NNC_SOURCE_DIR);
  Diag d;
  char *src;
  Program *p;
  CU_ASSERT_EQUAL_FATAL(gc_front(a, path, defs, 5, &d, &src, &p), 0);
  Compiled *c = compile_module(a, &d, p, "char_rnn.nn", &(CompileOpts){0});
  diag_free(&d);
  char *text = NULL;
  FILE *f = open_memstream(&text, len);
  ir_print_module(f, c->m);
  fclose(f);
  arena_free(a);
  free(src);
  return text;
}

/* Every prefix: NULL with one located error, or (cut at the end of a
 * function) a smaller module that verifies. */
static void test_truncated(void) {
  size_t len;
  char *text = valid_module(&len);
  int parsed = 0, failed = 0, tested = 0;
  for (size_t cut = 0; cut < len; cut += SANITIZER_STRIDE, tested++) {
    Arena *a = arena_new();
    char msg[2048];
    int ne;
    Module *m = parse(a, text, cut, msg, sizeof msg, &ne);
    if (m) {
      parsed++;
      if (!ir_verify_module(m, stderr)) CU_FAIL("a parsed prefix does not verify");
    } else {
      failed++;
      if (ne != 1 || !located(msg)) {
        fprintf(stderr, "  cut at %zu: %d errors:\n%s\n", cut, ne, msg);
        CU_FAIL("an error without a location");
      }
    }
    arena_free(a);
  }
  fprintf(stderr, "  %zu prefixes: %d parse (complete functions), %d give a located error\n", len, parsed, failed);
  CU_ASSERT(failed > tested - 200);
  free(text);
}

static uint64_t rng = 12345;
static uint64_t next_rand(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return rng >> 33;
}

/* Random edits (bytes flipped, inserted from the format's alphabet or
 * anything, deleted, lines duplicated): a located error, or a module that
 * verifies (or not) without crashing; one that verifies prints and parses
 * back to the same text. */
static void test_mutations(void) {
  size_t len;
  char *text = valid_module(&len);
  static const char alphabet[] = "%@{}[](),:=#-.0123456789 \nfor yield return f32 i32 bool add axes";
  char *buf = malloc(len + 4096);
  int errors = 0, modules = 0, unverified = 0;
  for (int it = 0; it < 3000 / SANITIZER_STRIDE; it++) {
    memcpy(buf, text, len);
    size_t n = len;
    int edits = 1 + (int)(next_rand() % 4);
    for (int e = 0; e < edits; e++) {
      size_t at = (size_t)(next_rand() % n);
      switch (next_rand() % 4) {
      case 0: buf[at] = (char)(next_rand() % 256); break;
      case 1:
        memmove(buf + at + 1, buf + at, n - at);
        buf[at] = alphabet[next_rand() % (sizeof alphabet - 1)];
        n++;
        break;
      case 2:
        memmove(buf + at, buf + at + 1, n - at - 1);
        n--;
        break;
      default: {
        size_t k = (size_t)(next_rand() % 40);
        if (at + k < n) buf[at + k] = buf[at];
      }
      }
    }
    Arena *a = arena_new();
    char msg[2048];
    int ne;
    Module *m = parse(a, buf, n, msg, sizeof msg, &ne);
    if (!m) {
      errors++;
      if (ne != 1 || !located(msg)) {
        fprintf(stderr, "  mutation %d: %d errors:\n%s\n", it, ne, msg);
        CU_FAIL("an error without a location");
      }
    } else {
      FILE *null = fopen("/dev/null", "w");
      if (ir_verify_module(m, null)) {
        modules++;
        char *t1 = NULL, *t2 = NULL;
        size_t n1, n2;
        FILE *f = open_memstream(&t1, &n1);
        ir_print_module(f, m);
        fclose(f);
        Module *m2 = parse(a, t1, n1, msg, sizeof msg, &ne);
        CU_ASSERT_PTR_NOT_NULL(m2);
        if (m2) {
          f = open_memstream(&t2, &n2);
          ir_print_module(f, m2);
          fclose(f);
          CU_ASSERT(n1 == n2 && !memcmp(t1, t2, n1));
          free(t2);
        }
        free(t1);
      } else {
        unverified++;
      }
      fclose(null);
    }
    arena_free(a);
  }
  fprintf(stderr, "  3000 mutations: %d located errors, %d modules that verify, %d that parse but do not\n", errors,
          modules, unverified);
  /* the parser checks what the verifier does: what it accepts verifies */
  CU_ASSERT_EQUAL(unverified, 0);
  free(buf);
  free(text);
}

/* Corruption the text cannot express: the verifier finds each. */
static void test_verifier(void) {
  static const char *src = HEAD "func @f(%x: f32[2,3]) -> (f32[2,3]) {\n"
                                "  %a = exp %x : f32[2,3]\n"
                                "  %r = for %t = 0 to 2 carry(%c = %a) : f32[2,3] {\n"
                                "    %d = tanh %c : f32[2,3]\n"
                                "    yield %d\n"
                                "  }\n"
                                "  %b = mul %r, %a : f32[2,3]\n"
                                "  return %b\n"
                                "}\n";
  for (int k = 0; k < 8; k++) {
    Arena *a = arena_new();
    char msg[2048];
    int ne;
    Module *m = parse(a, src, strlen(src), msg, sizeof msg, &ne);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    Func *f = m->funcs[0];
    Inst *exp_ = f->body->first, *loop = exp_->next, *mul = loop->next, *ret = mul->next;
    Inst *tanh_ = loop->body->first, *yield = tanh_->next;
    const char *want = NULL;
    switch (k) {
    case 0: /* use before definition: the mul moved to the top */
      ir_remove(mul);
      ir_insert_before(exp_, mul);
      want = "used before it is defined";
      break;
    case 1: /* a result type the shape rule does not give */
      exp_->res[0]->ty.dim[0] = 5;
      want = "the shape rule gives";
      break;
    case 2: /* ncarry disagrees */
      loop->attr.i[2] = 3;
      want = "ncarry is 3";
      break;
    case 3: /* the loop body without its yield */
      ir_remove(yield);
      want = "does not end with yield";
      break;
    case 4: /* a body value used after the loop */
      mul->args[1] = tanh_->res[0];
      want = "outside its scope";
      break;
    case 5: /* the same value defined twice */
      mul->res[0] = exp_->res[0];
      want = "defined twice";
      break;
    case 6: /* a return of another type than the function's */
      f->ret[0].dim[0] = 7;
      want = "result 0 is declared f32[7,3] but f32[2,3] is returned";
      (void)ret;
      break;
    default: /* reversed bounds */
      loop->attr.i[0] = 4;
      want = "are reversed";
      break;
    }
    char *out = NULL;
    size_t olen = 0;
    FILE *fo = open_memstream(&out, &olen);
    bool ok = ir_verify_module(m, fo);
    fclose(fo);
    CU_ASSERT_FALSE(ok);
    if (!strstr(out, want)) fprintf(stderr, "  corruption %d: expected \"%s\" in:\n%s\n", k, want, out);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "verify: @f"));
    free(out);
    arena_free(a);
  }
}

static UnitTest tests[] = {
    {"malformed modules: one located error each", test_table},
    {"deep nesting, floods, long lines", test_deep_nesting},
    {"a valid module cut at every byte", test_truncated},
    {"random mutations", test_mutations},
    {"the verifier on in-memory corruption", test_verifier},
    {0, 0}};

int main(void) { return unit_run("ir_malformed", tests); }
