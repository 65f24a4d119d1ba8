/* test_train.c — the parts of the training program that can be tested
 * without a compiled model: the learning-rate schedules, shuffling and
 * batching, loading and checking data against a model's input shapes
 * (every refusal names the file, what was expected and what was found),
 * text normalization, directories and splitting, the unigram baseline,
 * the SVG plot (well-formed XML holding the curves), the metrics history
 * round trip, the flags and the resume command, and that all of it
 * allocates through the runtime's hook. The end-to-end tests with
 * real models are tests/train/train_tests.sh. */
#include "unit_main.h"

#include "rt_data.h"
#include "rt_plot.h"
#include "rt_train_internal.h"

#include <ftw.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc_hook.h"
#include "tmpdir.h"

static bool has(const char *s, const char *sub) {
  if (!strstr(s, sub)) {
    fprintf(stderr, "\n  expected \"%s\" in \"%s\"\n", sub, s);
    return false;
  }
  return true;
}

/* ---- schedules ------------------------------------------------------------------ */

static void test_schedule(void) {
  rt_schedule c = {.kind = 0, .lr = 0.1};
  CU_ASSERT_DOUBLE_EQUAL(rt_schedule_lr(&c, 3, 1000), 0.1, 0);
  rt_schedule st = {.kind = 1, .lr = 0.1, .every = 2, .gamma = 0.5};
  CU_ASSERT_DOUBLE_EQUAL(rt_schedule_lr(&st, 0, 0), 0.1, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL(rt_schedule_lr(&st, 1, 99), 0.1, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL(rt_schedule_lr(&st, 2, 100), 0.05, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL(rt_schedule_lr(&st, 5, 100), 0.025, 1e-15);
  rt_schedule cs = {.kind = 2, .lr = 1.0, .warmup = 10, .min_lr = 0.1, .total = 110};
  CU_ASSERT_DOUBLE_EQUAL(rt_schedule_lr(&cs, 0, 0), 0.1, 1e-12);   /* (0 + 1) / 10 */
  CU_ASSERT_DOUBLE_EQUAL(rt_schedule_lr(&cs, 0, 4), 0.5, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL(rt_schedule_lr(&cs, 0, 9), 1.0, 1e-12);   /* warmup reaches lr */
  CU_ASSERT_DOUBLE_EQUAL(rt_schedule_lr(&cs, 0, 10), 1.0, 1e-12);  /* the cosine starts at lr */
  CU_ASSERT_DOUBLE_EQUAL(rt_schedule_lr(&cs, 0, 109), 0.1, 1e-12); /* and ends at min_lr */
  /* halfway through the decay: the midpoint of lr and min_lr */
  rt_schedule half = {.kind = 2, .lr = 1.0, .warmup = 0, .min_lr = 0.0, .total = 101};
  CU_ASSERT_DOUBLE_EQUAL(rt_schedule_lr(&half, 0, 50), 0.5, 1e-12);
  double prev = 2;
  for (int64_t s = 10; s < 110; s++) {
    double lr = rt_schedule_lr(&cs, 0, s);
    CU_ASSERT(lr <= prev && lr >= 0.1 - 1e-12);
    prev = lr;
  }
  CU_ASSERT_DOUBLE_EQUAL(rt_schedule_lr(&cs, 0, 500), 0.1, 1e-12); /* past the end: stays */
}

/* ---- shuffling and batches ------------------------------------------------------------ */

static void test_order(void) {
  enum { N = 1000 };
  int64_t a[N], b[N], c[N], e[N];
  rt_data_order(a, N, 7, 0);
  rt_data_order(b, N, 7, 0);
  rt_data_order(c, N, 7, 1);
  rt_data_order(e, N, 8, 0);
  CU_ASSERT(!memcmp(a, b, sizeof a)); /* a pure function of (seed, epoch) */
  CU_ASSERT(memcmp(a, c, sizeof a));  /* another epoch, another order */
  CU_ASSERT(memcmp(a, e, sizeof a));  /* another seed, another order */
  bool seen[N] = {false};
  int fixed = 0;
  int64_t first_half = 0;
  for (int i = 0; i < N; i++) {
    CU_ASSERT_FATAL(a[i] >= 0 && a[i] < N);
    CU_ASSERT(!seen[a[i]]);
    seen[a[i]] = true;
    fixed += a[i] == i;
    if (i < N / 2) first_half += a[i];
  }
  CU_ASSERT(fixed < 10);  /* a shuffle leaves about one element in place */
  /* the first half holds about half of the small indices: mean near N/2 */
  CU_ASSERT(fabs((double)first_half / (N / 2) - (N - 1) / 2.0) < 60);
  int64_t one[1];
  rt_data_order(one, 1, 1, 0);
  CU_ASSERT(one[0] == 0);
}

/* A model shape for tests: x f32[B, per], y i32[B]. */
static rt_data_shape shape(int64_t B, int64_t per, int64_t nclasses) {
  rt_data_shape sh = {0};
  sh.x = (rt_slot){.role = RT_IN_INPUT, .dtype = RT_DT_F32, .rank = 2, .shape = {B, per}};
  sh.y = (rt_slot){.role = RT_IN_INPUT, .index = 1, .dtype = RT_DT_I32, .rank = 1, .shape = {B}};
  sh.batch = B;
  sh.x_per = per;
  sh.y_per = 1;
  sh.nclasses = nclasses;
  return sh;
}

static void be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* A u8 IDX file of the given shape, element i = fill(i). */
static void write_idx(const char *path, int rank, const uint32_t *dims, int mod) {
  size_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i];
  uint8_t *b = malloc(4 + 4 * (size_t)rank + n);
  b[0] = b[1] = 0, b[2] = 8, b[3] = (uint8_t)rank;
  for (int i = 0; i < rank; i++) be32(b + 4 + 4 * i, dims[i]);
  for (size_t i = 0; i < n; i++) b[4 + 4 * rank + i] = (uint8_t)(i % (size_t)mod);
  write_bytes(path, b, 4 + 4 * (size_t)rank + n);
  free(b);
}

static void test_batches(void) {
  /* 5 samples of 2x3 pixels, values i % 7; labels i % 3 */
  write_idx(tp("x.idx"), 3, (uint32_t[]){5, 2, 3}, 7);
  write_idx(tp("y.idx"), 1, (uint32_t[]){5}, 3);
  rt_source src = {.kind = RT_DATA_IDX, .path = {tp("x.idx"), tp("y.idx")}, .scale = 0.5, .label_col = -1};
  rt_data_shape sh = shape(4, 6, 3);
  rt_dataset ds;
  CU_ASSERT_FATAL(rt_data_load(&src, &sh, 0, &ds) == NN_OK);
  CU_ASSERT(ds.n == 5);
  float x[24];
  int32_t y[4];
  int64_t idx[4] = {4, 1};
  rt_data_batch(&ds, &sh, idx, 2, x, y); /* 2 real rows, 2 padding rows (copies of sample 4) */
  for (int k = 0; k < 6; k++) {
    CU_ASSERT_DOUBLE_EQUAL(x[k], ((4 * 6 + k) % 7) * 0.5, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(x[6 + k], ((1 * 6 + k) % 7) * 0.5, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(x[12 + k], x[k], 0);
    CU_ASSERT_DOUBLE_EQUAL(x[18 + k], x[k], 0);
  }
  CU_ASSERT(y[0] == 1 && y[1] == 1 && y[2] == 1 && y[3] == 1);
  uint64_t fp = ds.fingerprint;
  rt_data_free(&ds);
  /* --limit keeps the first samples, and the fingerprint changes with the data */
  CU_ASSERT_FATAL(rt_data_load(&src, &sh, 3, &ds) == NN_OK);
  CU_ASSERT(ds.n == 3 && ds.fingerprint != fp);
  rt_data_free(&ds);
  CU_ASSERT_FATAL(rt_data_load(&src, &sh, 0, &ds) == NN_OK);
  CU_ASSERT(ds.fingerprint == fp);
  rt_data_free(&ds);
}

/* Every mismatch is refused before training with a message naming the file. */
static void test_refusals(void) {
  rt_data_shape sh = shape(128, 784, 10);
  rt_dataset ds;
  write_idx(tp("rgb.idx"), 4, (uint32_t[]){3, 28, 28, 3}, 255);
  write_idx(tp("lab3.idx"), 1, (uint32_t[]){3}, 10);
  write_idx(tp("lab4.idx"), 1, (uint32_t[]){4}, 10);
  write_idx(tp("img3.idx"), 3, (uint32_t[]){3, 28, 28}, 255);
  write_idx(tp("lab_hi.idx"), 1, (uint32_t[]){3}, 200); /* 0, 1, 2 ... fine */
  rt_source s = {.kind = RT_DATA_IDX, .path = {tp("rgb.idx"), tp("lab3.idx")}, .scale = 1, .label_col = -1};
  CU_ASSERT(rt_data_load(&s, &sh, 0, &ds) == NN_ERR_MISMATCH);
  CU_ASSERT(has(rt_last_error(), "rgb.idx: expected 784 values per sample (f32[128,784] without the batch axis), found 28x28x3"));
  CU_ASSERT(ds.n == 0 && ds.x.data == NULL);
  s.path[0] = tp("img3.idx");
  s.path[1] = tp("lab4.idx");
  CU_ASSERT(rt_data_load(&s, &sh, 0, &ds) == NN_ERR_MISMATCH);
  CU_ASSERT(has(rt_last_error(), "img3.idx has 3 samples but ") && has(rt_last_error(), "lab4.idx has 4 labels"));
  /* a label of 10 for 10 classes, at index 2 */
  uint8_t lab[] = {0, 0, 8, 1, 0, 0, 0, 3, 9, 0, 10};
  write_bytes(tp("bad_lab.idx"), lab, sizeof lab);
  s.path[1] = tp("bad_lab.idx");
  CU_ASSERT(rt_data_load(&s, &sh, 0, &ds) == NN_ERR_RANGE);
  CU_ASSERT(has(rt_last_error(), "bad_lab.idx: label 10 at index 2 is out of range; expected 0..9 (10 classes)"));
  /* ... but --limit 2 does not use it */
  CU_ASSERT(rt_data_load(&s, &sh, 2, &ds) == NN_OK);
  rt_data_free(&ds);
  /* npy features with NaN */
  rt_tensor t;
  CU_ASSERT_FATAL(rt_tensor_alloc(&t, NULL, RT_F32, 2, (int64_t[]){3, 784}) == NN_OK);
  ((float *)t.data)[800] = NAN;
  CU_ASSERT_FATAL(rt_npy_write(tp("nan.npy"), &t) == NN_OK);
  rt_tensor_free(&t);
  CU_ASSERT_FATAL(rt_tensor_alloc(&t, NULL, RT_F64, 1, (int64_t[]){3}) == NN_OK);
  ((double *)t.data)[1] = 2.5; /* not a whole number */
  CU_ASSERT_FATAL(rt_npy_write(tp("frac.npy"), &t) == NN_OK);
  rt_tensor_free(&t);
  rt_source n = {.kind = RT_DATA_NPY, .path = {tp("nan.npy"), tp("frac.npy")}, .scale = 1, .label_col = -1};
  CU_ASSERT(rt_data_load(&n, &sh, 0, &ds) == NN_ERR_RANGE);
  CU_ASSERT(has(rt_last_error(), "nan.npy: value 800 (sample 1) is nan; expected finite numbers"));
  CU_ASSERT_FATAL(rt_tensor_alloc(&t, NULL, RT_F32, 2, (int64_t[]){3, 784}) == NN_OK);
  CU_ASSERT_FATAL(rt_npy_write(tp("ok.npy"), &t) == NN_OK);
  rt_tensor_free(&t);
  n.path[0] = tp("ok.npy");
  CU_ASSERT(rt_data_load(&n, &sh, 0, &ds) == NN_ERR_RANGE);
  CU_ASSERT(has(rt_last_error(), "frac.npy: label 2.5 at index 1 is out of range"));
  /* csv: a label column beyond the classes */
  char csv[4096];
  size_t k = 0;
  for (int r = 0; r < 2; r++) {
    for (int c = 0; c < 784; c++) k += (size_t)snprintf(csv + k, sizeof csv - k, "%d,", c % 2);
    k += (size_t)snprintf(csv + k, sizeof csv - k, "%d\n", r ? 11 : 3);
  }
  write_bytes(tp("d.csv"), csv, k);
  rt_source c = {.kind = RT_DATA_CSV, .path = {tp("d.csv")}, .scale = 1, .label_col = -1};
  CU_ASSERT(rt_data_load(&c, &sh, 0, &ds) == NN_ERR_RANGE);
  CU_ASSERT(has(rt_last_error(), "d.csv: label 11 at index 1 is out of range; expected 0..9"));
  /* without a known class count, labels need only be whole and >= 0 */
  rt_data_shape open = shape(128, 784, 0);
  CU_ASSERT(rt_data_load(&c, &open, 0, &ds) == NN_OK);
  CU_ASSERT(ds.n == 2 && ((int32_t *)ds.y.data)[1] == 11);
  rt_data_free(&ds);
}

/* ---- text ---------------------------------------------------------------------------------- */

static void test_text_normalize(void) {
  uint8_t s[] = "a\tb\r\nc\x01\xc3\xa9" "d\x7f~ \n";
  size_t n = rt_text_normalize(s, sizeof s - 1);
  CU_ASSERT(n == 9 && !memcmp(s, "a b\ncd~ \n", 9));
  CU_ASSERT(rt_text_normalize(s, 0) == 0);
}

static void test_text_dir(void) {
  char dir[sizeof tmp_dir + 8];
  snprintf(dir, sizeof dir, "%s/text", tmp_dir);
  CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
  char p[sizeof dir + 16];
  snprintf(p, sizeof p, "%s/b", dir);
  write_bytes(p, "second\tfile", 11); /* no final newline: one is added */
  snprintf(p, sizeof p, "%s/a", dir);
  write_bytes(p, "first\n", 6);
  snprintf(p, sizeof p, "%s/a.dat", dir);
  write_bytes(p, "bin\0ary", 7);        /* NUL bytes: skipped */
  snprintf(p, sizeof p, "%s/.hidden", dir);
  write_bytes(p, "hidden\n", 7);
  snprintf(p, sizeof p, "%s/c.u8", dir);
  CU_ASSERT_FATAL(symlink("a", p) == 0); /* a symlink: skipped */
  rt_text_corpus c;
  CU_ASSERT_FATAL(rt_text_load(dir, &c) == NN_OK);
  CU_ASSERT(c.len == 18 && !memcmp(c.text, "first\nsecond file\n", 18));
  CU_ASSERT(c.nfiles == 2 && c.nskipped == 1);
  rt_vocab v;
  rt_vocab_build(&v, c.text, c.len);
  CU_ASSERT_FATAL(rt_text_encode(&c, &v, dir, NULL) == NN_OK);
  CU_ASSERT(c.ids[0] == v.id['f'] && c.ids[5] == v.id['\n']);
  /* a vocabulary without 'e' refuses the text, naming it */
  rt_vocab small;
  rt_vocab_build(&small, (const uint8_t *)"first\n", 6);
  CU_ASSERT(rt_text_encode(&c, &small, "TEXT", NULL) == NN_ERR_MISMATCH);
  CU_ASSERT(has(rt_last_error(), "TEXT: character 'e' at offset 7 is not in the vocabulary of 6 characters"));
  CU_ASSERT(rt_text_encode(&c, &small, "TEXT", "metadata 'vocab' of c.st") == NN_ERR_MISMATCH);
  CU_ASSERT(has(rt_last_error(), "6 characters the model was trained with (metadata 'vocab' of c.st)"));
  rt_text_free(&c);
  /* a single file with a NUL byte is an error, not skipped */
  snprintf(p, sizeof p, "%s/a.dat", dir);
  CU_ASSERT(rt_text_load(p, &c) == NN_ERR_FORMAT);
  CU_ASSERT(has(rt_last_error(), "a.dat: contains NUL bytes"));
}

static void test_text_split(void) {
  CU_ASSERT(rt_text_split_point(1000, 0.1) == 900);
  CU_ASSERT(rt_text_split_point(999, 0.1) == 899);
  CU_ASSERT(rt_text_windows(65, 64) == 1);
  CU_ASSERT(rt_text_windows(64, 64) == 0);
  CU_ASSERT(rt_text_windows(129, 64) == 2);
  int32_t ids[11];
  for (int i = 0; i < 11; i++) ids[i] = i;
  rt_data_shape sh = {0};
  sh.x = (rt_slot){.dtype = RT_DT_I32, .rank = 2, .shape = {2, 4}};
  sh.y = sh.x;
  sh.batch = 2, sh.x_per = sh.y_per = 4;
  rt_dataset ds;
  CU_ASSERT_FATAL(rt_data_text(ids, 11, &sh, "t", &ds) == NN_OK);
  CU_ASSERT(ds.n == 2); /* windows [0,4) and [4,8); 8..10 do not make a third */
  int32_t x[8], y[8];
  int64_t idx[2] = {1, 0};
  rt_data_batch(&ds, &sh, idx, 2, x, y);
  int32_t wx[8] = {4, 5, 6, 7, 0, 1, 2, 3}, wy[8] = {5, 6, 7, 8, 1, 2, 3, 4};
  CU_ASSERT(!memcmp(x, wx, sizeof x) && !memcmp(y, wy, sizeof y));
  CU_ASSERT(rt_data_text(ids, 4, &sh, "short", &ds) == NN_ERR_MISMATCH);
  CU_ASSERT(has(rt_last_error(), "short: 4 characters; expected at least 5"));
  /* the unigram baseline: two equally frequent characters cost 1 bit each */
  int32_t tr[4] = {0, 1, 0, 1}, va[2] = {1, 0};
  CU_ASSERT_DOUBLE_EQUAL(rt_unigram_bits(tr, 4, va, 2, 2), 1.0, 1e-12);
  /* add-one smoothing: an unseen character costs log2((n + V) / 1) */
  int32_t unseen[1] = {2};
  CU_ASSERT_DOUBLE_EQUAL(rt_unigram_bits(tr, 4, unseen, 1, 3), log2(7.0), 1e-12);
}

/* ---- the plot ----------------------------------------------------------------------------- */

/* A small well-formedness check: tags nest and close, attributes are
 * quoted, '&' starts an entity, no '<' in text. */
static bool well_formed(const char *s) {
  const char *stack[64];
  size_t lens[64];
  int depth = 0;
  if (strncmp(s, "<?xml ", 6)) return false;
  s = strstr(s, "?>") + 2;
  int roots = 0;
  while (*s) {
    if (*s == '&') {
      if (strncmp(s, "&amp;", 5) && strncmp(s, "&lt;", 4) && strncmp(s, "&gt;", 4) && strncmp(s, "&quot;", 6) &&
          strncmp(s, "&apos;", 6))
        return false;
      s++;
      continue;
    }
    if (*s == '>') return false;
    if (*s != '<') {
      s++;
      continue;
    }
    bool close = s[1] == '/';
    const char *name = s + 1 + close;
    size_t n = strcspn(name, " \t\n/>");
    if (!n) return false;
    const char *p = name + n;
    while (*p && *p != '>' && !(p[0] == '/' && p[1] == '>')) { /* attributes */
      if (*p == ' ' || *p == '\n') {
        p++;
        continue;
      }
      size_t an = strcspn(p, "=> \n");
      if (!an || p[an] != '=' || p[an + 1] != '"') return false;
      const char *q = strchr(p + an + 2, '"');
      if (!q) return false;
      for (const char *c = p + an + 2; c < q; c++)
        if (*c == '<') return false;
      p = q + 1;
    }
    if (!*p) return false;
    bool selfclose = *p == '/';
    s = p + (selfclose ? 2 : 1);
    if (close) {
      if (!depth || lens[depth - 1] != n || strncmp(stack[depth - 1], name, n)) return false;
      depth--;
    } else if (!selfclose) {
      if (depth == 0) roots++;
      if (depth == 64) return false;
      stack[depth] = name;
      lens[depth++] = n;
    } else if (depth == 0) {
      return false;
    }
  }
  return depth == 0 && roots == 1;
}

static int count(const char *s, const char *sub) {
  int n = 0;
  for (const char *p = strstr(s, sub); p; p = strstr(p + 1, sub)) n++;
  return n;
}

static void test_plot(void) {
  double first, last, step;
  rt_plot_ticks(0.13, 0.97, 5, &first, &last, &step);
  CU_ASSERT_DOUBLE_EQUAL(step, 0.2, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL(first, 0.0, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL(last, 1.0, 1e-12);
  rt_plot_ticks(81.2, 88.9, 6, &first, &last, &step);
  CU_ASSERT_DOUBLE_EQUAL(step, 2, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL(first, 80, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL(last, 90, 1e-12);
  rt_plot_ticks(3, 3, 5, &first, &last, &step); /* a flat series still gets an axis */
  CU_ASSERT(first < 3 && last > 3 && step > 0);

  double x[5] = {0.2, 0.4, 0.6, 0.8, 1.0}, y[5] = {2.0, 1.1, NAN, 0.7, 0.6};
  double ex[2] = {0.5, 1.0}, ey[2] = {0.9, 0.65}, acc[2] = {78.5, 84.25};
  rt_plot_series s[3] = {
      {.label = "train loss", .color = "#1f77b4", .x = x, .y = y, .n = 5},
      {.label = "test loss", .color = "#ff7f0e", .x = ex, .y = ey, .n = 2, .markers = true},
      {.label = "test accuracy <%>", .color = "#2ca02c", .x = ex, .y = acc, .n = 2, .right_axis = true, .dashed = true},
  };
  rt_plot p = {.title = "mlp & friends: \"loss\"", .xlabel = "epoch", .ylabel = "loss", .y2label = "accuracy (%)",
               .series = s, .nseries = 3};
  size_t len;
  char *svg = rt_plot_svg(&p, &len);
  CU_ASSERT_FATAL(svg != NULL);
  CU_ASSERT(strlen(svg) == len);
  CU_ASSERT(well_formed(svg));
  CU_ASSERT(count(svg, "<polyline") == 3);
  CU_ASSERT(has(svg, "mlp &amp; friends: &quot;loss&quot;"));
  CU_ASSERT(has(svg, ">test accuracy &lt;%&gt;</text>"));
  CU_ASSERT(has(svg, ">train loss</text>") && has(svg, ">epoch</text>") && has(svg, ">accuracy (%)</text>"));
  CU_ASSERT(count(svg, "<circle") == 3); /* markers of the test loss, and its legend entry */
  /* the train loss polyline has 4 points: the NaN is skipped */
  const char *pl = strstr(svg, "<polyline");
  const char *pts = strstr(pl, "points=\"") + 8;
  int commas = 0;
  for (const char *c = pts; *c != '"'; c++) commas += *c == ',';
  CU_ASSERT(commas == 4);
  /* tick labels of the right axis */
  CU_ASSERT(has(svg, ">78</text>") || has(svg, ">78.0</text>"));
  CU_ASSERT(!well_formed("<?xml version=\"1.0\"?><svg><g></svg>"));
  CU_ASSERT(!well_formed("<?xml version=\"1.0\"?><svg a=b></svg>"));
  CU_ASSERT(!well_formed("<?xml version=\"1.0\"?><svg>a & b</svg>"));
  /* the file: written atomically, the same text */
  CU_ASSERT(rt_plot_write(tp("p.svg"), &p) == NN_OK);
  FILE *f = fopen(tp("p.svg"), "rb");
  CU_ASSERT_FATAL(f != NULL);
  char *back = calloc(1, len + 1);
  CU_ASSERT(fread(back, 1, len + 1, f) == len && !strcmp(back, svg));
  fclose(f);
  free(back);
  rt_free(svg);
  CU_ASSERT(rt_plot_write("/nonexistent/dir/p.svg", &p) == NN_ERR_IO);
}

/* ---- the metrics history, flags, the resume command ------------------------------------------ */

static void test_history(void) {
  Trainer tr = {0};
  HistRow a = {.epoch = 0.5, .step = 10, .train_loss = 1.0 / 3, .test_loss = NAN, .test_acc = NAN, .lr = 0.05, .seconds = 1.25};
  HistRow b = {.is_epoch = true, .epoch = 1, .step = 20, .train_loss = 0.25, .test_loss = 0.3, .test_acc = 0.875, .lr = 0.05, .seconds = 2};
  CU_ASSERT(rt_hist_add(&tr.hist, &a) == NN_OK && rt_hist_add(&tr.hist, &b) == NN_OK);
  char *csv = rt_hist_csv(&tr.hist, false);
  CU_ASSERT(!strcmp(csv, "epoch,step,train_loss,test_loss,test_acc,lr,seconds\n"
                         "0.5,10,0.333333,,,0.05,1.250\n1,20,0.25,0.3,0.875,0.05,2.000\n"));
  rt_free(csv);
  char *kept = rt_hist_csv(&tr.hist, true);
  History back = {0};
  CU_ASSERT(rt_hist_parse(&back, kept, "c.st") == NN_OK);
  CU_ASSERT_FATAL(back.n == 2);
  CU_ASSERT(back.rows[0].train_loss == a.train_loss && isnan(back.rows[0].test_loss) && !back.rows[0].is_epoch);
  CU_ASSERT(back.rows[1].is_epoch && back.rows[1].test_acc == 0.875 && back.rows[1].step == 20);
  rt_free(kept);
  /* anything but what rt_hist_csv writes is refused, naming the file */
  static const char *bad[] = {
      "kind,...\nx,1,2\n",
      "kind,epoch,step,train_loss,test_loss,test_acc,lr,seconds\nx,1,2,,,,0.1,1\n",
      "kind,epoch,step,train_loss,test_loss,test_acc,lr,seconds\ne,1,2,,,,0.1\n",          /* 6 fields */
      "kind,epoch,step,train_loss,test_loss,test_acc,lr,seconds\ne,1,2,,,,0.1,1,9\n",      /* 8 fields */
      "kind,epoch,step,train_loss,test_loss,test_acc,lr,seconds\ne,1,2,abc,,,0.1,1\n",
      "kind,epoch,step,train_loss,test_loss,test_acc,lr,seconds\ne,1,2,nan,,,0.1,1\n",
      "kind,epoch,step,train_loss,test_loss,test_acc,lr,seconds\ne,1,2,1e999,,,0.1,1\n",
      "kind,epoch,step,train_loss,test_loss,test_acc,lr,seconds\ne,1,-2,,,,0.1,1\n",
      "kind,epoch,step,train_loss,test_loss,test_acc,lr,seconds\ne,1,2.5,,,,0.1,1\n",
      "kind,epoch,step,train_loss,test_loss,test_acc,lr,seconds\ne,1,,,,,0.1,1\n",
      "kind,epoch,step,train_loss,test_loss,test_acc,lr,seconds\ne,1,2,,,,0.1,1",             /* no newline */
      "kind,epoch,step,train_loss,test_loss,test_acc,lr,seconds\ns,1,9,,,,0.1,1\ne,1,5,,,,0.1,1\n", /* backwards */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    nn_status s = rt_hist_parse(&back, bad[i], "c.st");
    CU_ASSERT(s == NN_ERR_FORMAT && has(rt_last_error(), "c.st: metadata 'history'"));
  }
  rt_hist_free(&tr.hist);
  rt_hist_free(&back);
}

static rt_model_desc fake_model(rt_train_desc *t) {
  memset(t, 0, sizeof *t);
  t->loss_fn = 0, t->train_fn = 1, t->predict_fn = -1, t->generate_fn = -1;
  t->lr = 0.05, t->epochs = 5, t->seed = 1;
  t->data_kind = t->test_kind = RT_DATA_TEXT;
  t->data_path[0] = t->test_path[0] = "corpus.txt";
  t->data_split = t->test_split = 0.1;
  t->data_scale = t->test_scale = 1;
  t->data_label_col = t->test_label_col = -1;
  rt_model_desc d = {.magic = RT_MODEL_MAGIC, .name = "fake", .train = t};
  return d;
}

static void test_flags(void) {
  rt_train_desc t;
  rt_model_desc d = fake_model(&t);
  TrainOpts o;
  char *a1[] = {"./train", "--epochs=3", "--lr", "0.1", "--data", "other.txt", "--seed", "9", "-q", NULL};
  CU_ASSERT(rt_train_parse(&d, 9, a1, &o) == 0);
  CU_ASSERT(o.epochs == 3 && o.lr == 0.1 && o.seed == 9 && o.quiet && o.progress == RT_PROGRESS_NONE);
  /* the test source was the data source (a held-out split): it follows --data */
  CU_ASSERT(!strcmp(o.data.path[0], "other.txt") && !strcmp(o.test.path[0], "other.txt"));
  CU_ASSERT(!strcmp(o.checkpoint, "fake.ckpt.safetensors"));
  rt_train_opts_free(&o);
  char *a2[] = {"nnc train models/tiny.nn -D B=4", NULL};
  CU_ASSERT(rt_train_parse(&d, 1, a2, &o) == 0);
  CU_ASSERT(!strcmp(o.name, "tiny") && !strcmp(o.checkpoint, "tiny.ckpt.safetensors"));
  rt_train_opts_free(&o);
  /* the whole ranges */
  char *a3[] = {"./t", "--seed", "18446744073709551615", "--epochs", "2147483646", "--lr", "1e6", "--threads", "1024", NULL};
  CU_ASSERT(rt_train_parse(&d, 9, a3, &o) == 0);
  CU_ASSERT(o.seed == UINT64_MAX && o.epochs == 2147483646 && o.lr == 1e6 && o.threads == 1024);
  rt_train_opts_free(&o);
  /* refused: exit status 2, the message naming the flag (then the usage).
   * Before, --lr 1e300 and --data a,b,c for two files passed and failed
   * later with exit 1 ("learning rate 1e+300 is invalid", no flag named) */
  static const struct {
    const char *flag, *val, *why;
    int kind; /* the block's data kind */
  } bad[] = {
      {"--epochs", "0", "--epochs needs an integer 1..2147483646, not '0'", RT_DATA_TEXT},
      {"--epochs", "2147483647", "--epochs needs an integer", RT_DATA_TEXT},
      {"--epochs", "99999999999999999999", "--epochs needs", RT_DATA_TEXT},
      {"--epochs", " 3", "--epochs needs", RT_DATA_TEXT},
      {"--epochs", "+3", "--epochs needs", RT_DATA_TEXT},
      {"--epochs", "3.0", "--epochs needs", RT_DATA_TEXT},
      {"--lr", "-1", "--lr needs a number above 0, at most 1e6, not '-1'", RT_DATA_TEXT},
      {"--lr", "0", "--lr needs", RT_DATA_TEXT},
      {"--lr", "1e300", "--lr needs a number above 0, at most 1e6, not '1e300'", RT_DATA_TEXT},
      {"--lr", "1e7", "--lr needs", RT_DATA_TEXT},
      {"--lr", "nan", "--lr needs", RT_DATA_TEXT},
      {"--lr", "inf", "--lr needs", RT_DATA_TEXT},
      {"--lr", "0x1p-3", "--lr needs", RT_DATA_TEXT},
      {"--lr", "0.1 ", "--lr needs", RT_DATA_TEXT},
      {"--seed", "-1", "--seed needs an integer 0..18446744073709551615, not '-1'", RT_DATA_TEXT},
      {"--seed", "18446744073709551616", "--seed needs", RT_DATA_TEXT},
      {"--threads", "x", "--threads needs an integer 0..1024, not 'x'", RT_DATA_TEXT},
      {"--threads", "-1", "--threads needs", RT_DATA_TEXT},
      {"--threads", "1025", "--threads needs", RT_DATA_TEXT},
      {"--checkpoint-every", "-5", "--checkpoint-every needs an integer 0..2147483646", RT_DATA_TEXT},
      {"--limit", "0x10", "--limit needs", RT_DATA_TEXT},
      {"--generate", "-1", "--generate needs", RT_DATA_TEXT},
      {"--temperature", "inf", "--temperature needs", RT_DATA_TEXT},
      {"--checkpoint", "", "--checkpoint needs a path, not ''", RT_DATA_TEXT},
      {"--resume", "", "--resume needs a path", RT_DATA_TEXT},
      {"--metrics", "", "--metrics needs a path", RT_DATA_TEXT},
      {"--plot", "", "--plot needs a path", RT_DATA_TEXT},
      {"--data", ",", "--data needs one path here, not ','", RT_DATA_TEXT},
      {"--data", "a,b", "--data needs one path here", RT_DATA_TEXT},
      {"--data", ",", "--data needs two comma-separated files (FEATURES,LABELS) here, not ','", RT_DATA_IDX},
      {"--data", "a,b,c", "--data needs two comma-separated files", RT_DATA_IDX},
      {"--test", "a,,", "--test needs two comma-separated files", RT_DATA_NPY},
      {"--test", "a", "--test needs two", RT_DATA_NPY},
      {"--progress", "fancy", "--progress is auto, bar, line or none", RT_DATA_TEXT},
      {"--bogus", "1", "unknown flag '--bogus'", RT_DATA_TEXT},
      {"--eval-only", "-q", "--eval-only needs --resume", RT_DATA_TEXT},
  };
  FILE *saved_err = stderr;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    t.data_kind = t.test_kind = bad[i].kind;
    char *argv[] = {"./t", (char *)bad[i].flag, (char *)bad[i].val, NULL};
    char msg[4096] = {0};
    stderr = fmemopen(msg, sizeof msg - 1, "w");
    int rc = rt_train_parse(&d, 3, argv, &o);
    fclose(stderr);
    stderr = saved_err;
    bool ok = rc == 2 && has(msg, bad[i].why) && has(msg, "usage:");
    if (!ok) fprintf(stderr, "\n  %s '%s': exit %d, \"%.200s\"\n", bad[i].flag, bad[i].val, rc, msg);
    CU_ASSERT(ok);
    rt_train_opts_free(&o);
  }
  t.data_kind = t.test_kind = RT_DATA_TEXT;
  char *help[] = {"./t", "--help"};
  FILE *saved = stdout;
  stdout = fopen("/dev/null", "w");
  CU_ASSERT(rt_train_parse(&d, 2, help, &o) == -1);
  fclose(stdout);
  stdout = saved;
}

/* rt_flag_value: "--flag V" and "--flag=V", names matched exactly (no
 * prefixes either way), a missing value told apart from another flag. */
static void test_flag_value(void) {
  static const struct {
    const char *args[2];
    const char *flag;
    int want;
    const char *val; /* when want == 1 */
    int next;        /* where *i is after */
  } cases[] = {
      {{"--epochs", "3"}, "--epochs", 1, "3", 1},
      {{"--epochs=3", NULL}, "--epochs", 1, "3", 0},
      {{"--epochs=", NULL}, "--epochs", 1, "", 0},
      {{"--epochs=a=b", NULL}, "--epochs", 1, "a=b", 0},
      {{"--epochs", "-5"}, "--epochs", 1, "-5", 1},
      {{"--epochs", NULL}, "--epochs", -1, NULL, 0},
      {{"--epoch", "3"}, "--epochs", 0, NULL, 0},
      {{"--epochsx", "3"}, "--epochs", 0, NULL, 0},
      {{"--checkpoint-every", "5"}, "--checkpoint", 0, NULL, 0},
      {{"-o", "out"}, "-o", 1, "out", 1},
      {{"-oout", NULL}, "-o", 0, NULL, 0},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    char *argv[] = {"./t", (char *)cases[k].args[0], (char *)cases[k].args[1], NULL};
    int argc = cases[k].args[1] ? 3 : 2, i = 1;
    const char *v = NULL;
    int r = rt_flag_value(argc, argv, &i, cases[k].flag, &v);
    bool ok = r == cases[k].want && i == 1 + cases[k].next && (r != 1 || !strcmp(v, cases[k].val));
    if (!ok) fprintf(stderr, "\n  rt_flag_value(%s, %s): %d, i = %d\n", cases[k].args[0], cases[k].flag, r, i);
    CU_ASSERT(ok);
  }
}

static void test_resume_command(void) {
  rt_train_desc t;
  rt_model_desc d = fake_model(&t);
  TrainOpts o;
  char *argv[] = {"./train", "--resume", "old.st", "--prompt", "it's --resume", "--epochs", "3", "--resume=x",
                  "--metrics", "a b.csv", NULL};
  CU_ASSERT_FATAL(rt_train_parse(&d, 10, argv, &o) == 0);
  char buf[512] = {0};
  FILE *f = fmemopen(buf, sizeof buf - 1, "w");
  rt_train_print_resume(&o, "ck pt.st", f);
  fclose(f);
  CU_ASSERT(!strcmp(buf, "./train --resume 'ck pt.st' --prompt 'it'\\''s --resume' --epochs 3 --metrics 'a b.csv'\n"));
  rt_train_opts_free(&o);
}

/* ---- checkpoint metadata ------------------------------------------------------------------ */

/* The metadata of a checkpoint at epoch 2, step 5 of 10, as rt_train_save
 * writes it. */
static const char *const good_meta[][2] = {
    {"step", "25"}, {"seed", "7"}, {"epoch", "2"}, {"epoch_step", "5"}, {"pending_eval", "0"}, {"batch", "16"},
    {"epochs", "5"}, {"data_fingerprint", "0123456789abcdef"}, {"elapsed", "1.5"}, {"epoch_loss_sum", "2.5"},
    {"epoch_loss_count", "5"}, {"interval_loss_sum", "0"}, {"interval_loss_count", "0"},
    {"last_epoch_loss", "1.25"}, {"threads", "2"}, {"vocab", "0a6162"},
    {"history", "kind,epoch,step,train_loss,test_loss,test_acc,lr,seconds\n"
                "s,0.5,5,2,,,0.1,0.1\ne,1,10,1.5,1.4,,0.1,0.2\ne,2,20,1.25,1.3,,0.1,0.4\ns,2.5,25,1.1,,,0.1,0.5\n"},
};
enum { NGOOD = sizeof good_meta / sizeof good_meta[0] };

/* good_meta with `key` set to `val` (NULL: removed, or added when new),
 * read and checked against a run of 10 steps per epoch. */
static nn_status meta_case(const char *key, const char *val, ResumeMeta *r) {
  char *k[NGOOD + 1], *v[NGOOD + 1];
  int n = 0;
  bool found = false;
  for (int i = 0; i < NGOOD; i++) {
    bool hit = !strcmp(good_meta[i][0], key);
    found |= hit;
    if (hit && !val) continue;
    k[n] = (char *)good_meta[i][0], v[n++] = (char *)(hit ? val : good_meta[i][1]);
  }
  if (!found && val) k[n] = (char *)key, v[n++] = (char *)val;
  rt_tensorset ts = {.nmeta = n, .meta_key = k, .meta_val = v};
  nn_status s = rt_train_read_meta(&ts, "c.st", r);
  if (!s) s = rt_train_check_position(r, "c.st", 10, 1);
  return s;
}

static void test_checkpoint_meta(void) {
  ResumeMeta r;
  CU_ASSERT_FATAL(meta_case("none", NULL, &r) == NN_OK);
  CU_ASSERT(r.step == 25 && r.epoch == 2 && r.pos == 5 && !r.pending_eval && r.batch == 16 && r.epochs == 5);
  CU_ASSERT(r.has_fingerprint && r.fingerprint == 0x0123456789abcdefull && r.has_seed && r.seed == 7);
  CU_ASSERT(r.elapsed == 1.5 && r.epoch_loss_n == 5 && r.last_epoch_loss == 1.25 && r.hist.n == 4);
  CU_ASSERT(r.has_vocab && r.vocab.n == 3 && r.vocab.chars[0] == '\n');
  rt_resume_meta_free(&r);
  static const struct {
    const char *key, *val, *why; /* why NULL: accepted */
  } cases[] = {
      {"step", "-1", "c.st: metadata 'step': expected an integer 0..2147483646, found '-1'"},
      {"step", "25x", "metadata 'step'"},
      {"step", "99999999999999999999", "metadata 'step'"},
      {"step", "26", "c.st: step 26 is not epoch 2 + 5 steps of 10"},
      {"epoch", "-1", "metadata 'epoch': expected an integer"},
      {"epoch", "1", "step 25 is not epoch 1 + 5"},
      {"epoch", "999999999", "is not epoch 999999999"},
      {"epoch", NULL, "metadata has 'epoch_step' but not 'epoch'"},
      {"epoch_step", "15", "is not epoch 2 + 15 steps of 10"},
      {"epoch_step", "abc", "metadata 'epoch_step'"},
      {"pending_eval", "2", "metadata 'pending_eval': expected an integer 0..1, found '2'"},
      {"pending_eval", "1", "metadata 'pending_eval' is 1 at epoch 2 step 5"},
      {"batch", "0", "metadata 'batch': expected an integer 1..2147483647, found '0'"},
      {"batch", "-16", "metadata 'batch'"},
      {"epochs", "0", "metadata 'epochs'"},
      {"epochs", "1", "metadata 'epoch' is 2, past 'epochs' 1"},
      {"epochs", "2", NULL},
      {"data_fingerprint", "0123", "metadata 'data_fingerprint': expected 16 hex digits, found '0123'"},
      {"elapsed", "-1", "metadata 'elapsed': expected a number 0..1e+12, found '-1'"},
      {"elapsed", "nan", "metadata 'elapsed'"},
      {"elapsed", "inf", "metadata 'elapsed'"},
      {"epoch_loss_sum", "nan", "metadata 'epoch_loss_sum'"},
      {"epoch_loss_sum", "1e999", "metadata 'epoch_loss_sum'"},
      {"epoch_loss_count", "-5", "metadata 'epoch_loss_count'"},
      {"epoch_loss_count", "4", "metadata 'epoch_loss_count' is 4; expected 5"},
      {"interval_loss_count", "3", "metadata 'interval_loss_count' is 3; expected at most 0"},
      {"interval_loss_sum", "x", "metadata 'interval_loss_sum'"},
      {"last_epoch_loss", "nan", NULL},
      {"last_epoch_loss", "-inf", "metadata 'last_epoch_loss'"},
      {"threads", "0", "metadata 'threads'"},
      {"seed", "-7", "metadata 'seed'"},
      {"vocab", "6261", "c.st: metadata 'vocab': vocabulary string: byte 97"},
      {"vocab", "zz", "c.st: metadata 'vocab': vocabulary string: character 0 is not a hex digit"},
      {"vocab", "abc", "c.st: metadata 'vocab'"},
      {"history", "junk", "c.st: metadata 'history': expected the header line"},
      {"history", "kind,epoch,step,train_loss,test_loss,test_acc,lr,seconds\ne,1,10,1,,,0.1,1\n",
       "metadata 'history' has 1 epoch rows; expected 2"},
      {"history", "kind,epoch,step,train_loss,test_loss,test_acc,lr,seconds\ne,1,10,1,,,0.1,1\ne,2,90,1,,,0.1,1\n",
       "row 2 is at step 90, after the checkpoint's step 25"},
      {"history", NULL, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    nn_status s = meta_case(cases[i].key, cases[i].val, &r);
    bool ok = cases[i].why ? s != NN_OK && has(rt_last_error(), cases[i].why) : s == NN_OK;
    if (!ok) fprintf(stderr, "\n  %s = '%s': status %d \"%s\"\n", cases[i].key, cases[i].val ? cases[i].val : "(none)",
                     s, rt_last_error());
    CU_ASSERT(ok);
    rt_resume_meta_free(&r);
  }
  /* a library checkpoint: only step and seed; the position comes from the step */
  const char *lk[] = {"step", "seed"}, *lv[] = {"37", "3"};
  rt_tensorset ts = {.nmeta = 2, .meta_key = (char **)lk, .meta_val = (char **)lv};
  CU_ASSERT_FATAL(rt_train_read_meta(&ts, "lib.st", &r) == NN_OK);
  CU_ASSERT(rt_train_check_position(&r, "lib.st", 10, 1) == NN_OK && r.epoch == 3 && r.pos == 7 && !r.has_position);
  rt_resume_meta_free(&r);
}

/* ---- memory: everything through the allocation hook ---------------------------------------- */

/* The history, the metrics CSV and the plot of a few epochs, written to
 * tmp_dir: what rt_train_eval.c allocates at an epoch end. */
static nn_status reports(const char *unused) {
  (void)unused;
  rt_train_desc t;
  rt_model_desc d = fake_model(&t);
  TrainOpts o = {.prog = "./t", .name = "fake"};
  char metrics[1200], plot[1200];
  snprintf(metrics, sizeof metrics, "%s", tp("hook.csv"));
  snprintf(plot, sizeof plot, "%s", tp("hook.svg"));
  o.metrics = metrics;
  o.plot = plot;
  Trainer tr = {.d = &d, .t = &t, .o = &o, .has_test = true, .unigram_bits = NAN};
  nn_status s = NN_OK;
  for (int i = 0; i < 40 && !s; i++) {
    HistRow r = {.is_epoch = i % 10 == 9, .epoch = (i + 1) / 10.0, .step = i + 1, .train_loss = 1.0 / (i + 1),
                 .test_loss = 0.5, .test_acc = 0.75, .lr = 0.1, .seconds = i};
    s = rt_hist_add(&tr.hist, &r);
  }
  if (!s) s = rt_train_write_reports(&tr);
  char *kept = s ? NULL : rt_hist_csv(&tr.hist, true);
  if (!s && !kept) s = NN_ERR_NOMEM;
  History back = {0};
  if (!s) s = rt_hist_parse(&back, kept, "c.st");
  if (!s && back.n != 40) s = NN_ERR_INTERNAL;
  rt_free(kept);
  rt_hist_free(&back);
  rt_hist_free(&tr.hist);
  return s;
}

/* The command line with the flags that allocate (--data, --test). */
static nn_status parse_flags(const char *unused) {
  (void)unused;
  rt_train_desc t;
  rt_model_desc d = fake_model(&t);
  TrainOpts o;
  char *argv[] = {"./t", "--data", "a.txt", "--test", "b.txt", "--data=c.txt", NULL};
  FILE *saved = stderr;
  stderr = fopen("/dev/null", "w");
  int rc = rt_train_parse(&d, 6, argv, &o);
  fclose(stderr);
  stderr = saved;
  nn_status s = rc == 0 ? NN_OK : rc == 1 ? NN_ERR_NOMEM : NN_ERR_INTERNAL;
  if (!s && (strcmp(o.data.path[0], "c.txt") || strcmp(o.test.path[0], "b.txt"))) s = NN_ERR_INTERNAL;
  rt_train_opts_free(&o);
  return s;
}

static void test_memory(void) {
  /* with every allocation failing, each of these fails: none allocates
   * behind the hook's back (malloc, realloc, strdup) */
  hook_on(HOOK_FAIL_ALL);
  History h = {0};
  HistRow r = {.epoch = 1};
  CU_ASSERT(rt_hist_add(&h, &r) == NN_ERR_NOMEM);
  int32_t ids[4] = {0, 1, 2, 1};
  CU_ASSERT(isnan(rt_unigram_bits(ids, 4, ids, 4, 3)));
  CU_ASSERT(parse_flags(NULL) == NN_ERR_NOMEM);
  CU_ASSERT(reports(NULL) == NN_ERR_NOMEM);
  hook_off();
  CU_ASSERT(!isnan(rt_unigram_bits(ids, 4, ids, 4, 3)));
  /* and each allocation failing in turn: a clean NN_ERR_NOMEM, no leak */
  alloc_fail_loop("metrics and plot", reports, NULL);
  alloc_fail_loop("flags", parse_flags, NULL);
}

int main(void) {
  if (!tmp_make("/tmp/test_train_XXXXXX")) return 2;
  static const UnitTest tests[] = {{"schedule", test_schedule},
                                   {"order", test_order},
                                   {"batches", test_batches},
                                   {"refusals", test_refusals},
                                   {"text_normalize", test_text_normalize},
                                   {"text_dir", test_text_dir},
                                   {"text_split", test_text_split},
                                   {"plot", test_plot},
                                   {"history", test_history},
                                   {"flags", test_flags},
                                   {"flag_value", test_flag_value},
                                   {"resume_command", test_resume_command},
                                   {"checkpoint metadata", test_checkpoint_meta},
                                   {"memory through the hook", test_memory},
                                   {0, 0}};
  int rc = unit_run("train", tests);
  tmp_remove();
  return rc;
}
