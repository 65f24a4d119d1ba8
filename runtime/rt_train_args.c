/* rt_train_args.c — the training program's command line: flags over the
 * train block's defaults, the usage text, the resume command, and the
 * learning-rate schedule.
 *
 * Flags take their value as the next argument or after '=' (--epochs 3,
 * --epochs=3). --data and --test name files of the same kind as the train
 * block's source (two comma-separated files for idx and npy); when the
 * block has none, the kind is guessed from the name (.npy, .csv, idx or
 * ubyte, else text). When the block's test source is its data source (a
 * held-out split of one text), --data moves both. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rt_train_internal.h"

double rt_schedule_lr(const rt_schedule *s, int64_t epoch, int64_t step) {
  switch (s->kind) {
  case 1: return s->lr * pow(s->gamma, (double)(epoch / (s->every > 0 ? s->every : 1)));
  case 2: {
    if (step < s->warmup) return s->lr * (double)(step + 1) / (double)s->warmup;
    int64_t span = s->total - s->warmup - 1;
    double p = span > 0 ? (double)(step - s->warmup) / (double)span : 1.0;
    if (p > 1) p = 1;
    if (p < 0) p = 0;
    return s->min_lr + (s->lr - s->min_lr) * 0.5 * (1 + cos(M_PI * p));
  }
  default: return s->lr;
  }
}

/* ---- the usage ------------------------------------------------------------------ */

static void source_str(const rt_source *s, char *buf, size_t n) {
  if (s->kind == RT_DATA_NONE) snprintf(buf, n, "none");
  else if (s->kind == RT_DATA_IDX || s->kind == RT_DATA_NPY)
    snprintf(buf, n, "%s(%s, %s)", rt_data_kind_name(s->kind), s->path[0] ? s->path[0] : "?",
             s->path[1] ? s->path[1] : "?");
  else snprintf(buf, n, "%s(%s)", rt_data_kind_name(s->kind), s->path[0] ? s->path[0] : "?");
}

static const char *opt_name(int k) { return k == 1 ? "adam" : k == 2 ? "adamw" : "sgd"; }

void rt_train_usage(const rt_model_desc *d, const TrainOpts *o, FILE *out) {
  const rt_train_desc *t = d->train;
  char data[1200], test[1200], sched[128];
  source_str(&o->data, data, sizeof data);
  source_str(&o->test, test, sizeof test);
  if (t->schedule == 1) snprintf(sched, sizeof sched, "step(every = %" PRId64 ", gamma = %g)", t->sched_every, t->sched_gamma);
  else if (t->schedule == 2) snprintf(sched, sizeof sched, "cosine(warmup = %" PRId64 ", min_lr = %g)", t->sched_warmup, t->sched_min_lr);
  else snprintf(sched, sizeof sched, "constant");
  bool text = t->generate_fn >= 0;
  fprintf(out, "usage: %s [flags]\n", o->prog);
  fprintf(out, "Trains %s with the settings of its train block (optimizer %s%s); the flags\n"
               "override them.\n\n", o->name, opt_name(t->optimizer),
          t->clip_norm > 0 ? ", gradients clipped by global norm" : "");
  fprintf(out,
          "  --epochs N            epochs to train (default %" PRId64 ")\n"
          "  --lr X                base learning rate (default %g, schedule %s)\n"
          "  --seed N              seed of the initializers, shuffling, dropout and sampling (default %" PRIu64 ")\n"
          "  --threads N           worker threads, 0 = one per core (default 0)\n"
          "  --data PATH[,PATH2]   training data, of the train block's kind; default:\n"
          "                          %s\n"
          "  --test PATH[,PATH2]   evaluation data; default:\n"
          "                          %s\n"
          "  --limit N             use only the first N training %s (quick runs, tests)\n"
          "  --checkpoint PATH     where to save checkpoints (default %s)\n"
          "  --checkpoint-every N  also save every N steps (default 0: at each epoch end)\n"
          "  --resume PATH         continue from a checkpoint (same data, seed and batch)\n"
          "  --eval-only           evaluate the --resume checkpoint%s, then stop\n"
          "  --metrics FILE.csv    write metrics: a row per epoch and periodic rows\n"
          "  --plot FILE.svg       draw the train and test loss and the test accuracy\n"
          "  --progress MODE       auto (a bar on a terminal, else lines), bar, line, none\n"
          "  -q                    quiet: only the final summary\n",
          t->epochs, t->lr, sched, t->seed, data, test, text ? "characters" : "samples", o->checkpoint_default,
          text ? " (and sample text with --generate)" : "");
  if (text)
    fprintf(out,
            "  --generate N          characters to sample after training (default 300)\n"
            "  --temperature T       sampling temperature, 0 = always the likeliest (default 0.8)\n"
            "  --prompt TEXT         text to start sampling from (default: a newline)\n");
  fprintf(out,
          "Under MPI (mpirun -np P %s), every rank trains data-parallel: each step the\n"
          "global batch, the model's B, splits into P shares of B/P rows (a model with a\n"
          "run-time batch, dim N <= B); the gradients are summed across ranks and every\n"
          "rank applies the same update. Rank 0 alone prints and writes metrics, plots\n"
          "and checkpoints, which resume on any number of ranks.\n"
          "  --per-rank-batch      each rank takes a whole batch of the model's B instead: the\n"
          "                          global batch is P x B (for a model with a static batch)\n"
          "  --mpi-timeout S       seconds a rank waits for the others before stopping the\n"
          "                          job with an error naming the rank that is missing (default %g)\n",
          o->prog, o->mpi_timeout);
  fprintf(out, "  -h, --help            this help\n\n"
               "Exit status: 0 done, 1 an error (a bad data file, a NaN loss), 2 a bad command line,\n"
               "130 interrupted by SIGINT/SIGTERM (a checkpoint is written and the command to\n"
               "resume is printed).\n");
}

/* ---- parsing ---------------------------------------------------------------------- */

#define STR_(x) #x
#define STR(x) STR_(x) /* a limit's value in a message */

/* Flag values are read as the checkpoint's metadata is (rt_parse_*):
 * decimal digits, an optional '-', in a range; numbers finite. */
static bool parse_f64(const char *s, double lo, double hi, double *out) {
  double v;
  if (!rt_parse_f64(s, &v) || !(v >= lo && v <= hi)) return false;
  *out = v;
  return true;
}

static int guess_kind(const char *p) {
  size_t n = strlen(p);
  if (n >= 4 && !strcmp(p + n - 4, ".npy")) return RT_DATA_NPY;
  if (n >= 4 && !strcmp(p + n - 4, ".csv")) return RT_DATA_CSV;
  if (strstr(p, "idx") || strstr(p, "ubyte")) return RT_DATA_IDX;
  return RT_DATA_TEXT;
}

/* --data/--test VALUE over `base` (the block's source of that role),
 * split in *buf, a copy of VALUE that s will point into (the previous copy
 * is freed): NULL, or what is wrong. */
static const char *set_source(rt_source *s, const rt_source *base, const rt_source *fallback, char **buf,
                              char *copy) {
  rt_free(*buf);
  *buf = copy;
  char *comma = strchr(*buf, ',');
  if (comma) *comma = 0;
  const rt_source *like = base->kind ? base : fallback;
  rt_source n = {.kind = like->kind ? like->kind : guess_kind(*buf), .scale = 1, .label_col = -1, .split = 0.1};
  if (like->kind == n.kind) n.scale = like->scale, n.label_col = like->label_col, n.split = like->split;
  n.path[0] = *buf;
  n.path[1] = comma ? comma + 1 : NULL;
  bool two = n.kind == RT_DATA_IDX || n.kind == RT_DATA_NPY;
  if (two != (n.path[1] != NULL) || !*n.path[0] || (two && (!*n.path[1] || strchr(n.path[1], ','))))
    return two ? "two comma-separated files (FEATURES,LABELS)" : "one path";
  *s = n;
  return NULL;
}

/* The model's name for files: the .nn (or .ir) file's stem when argv[0]
 * is "nnc train PATH.nn ..." (the JIT names every model "model"). */
static void model_name(const rt_model_desc *d, const char *prog, char *buf, size_t n) {
  snprintf(buf, n, "%s", d->name);
  const char *p = NULL;
  for (int k = 0; k < 2 && !p; k++) {
    const char *ext = k ? ".ir" : ".nn";
    p = prog ? strstr(prog, ext) : NULL;
    while (p && p[3] && p[3] != ' ') p = strstr(p + 1, ext);
  }
  if (!p) return;
  const char *b = p;
  while (b > prog && b[-1] != ' ' && b[-1] != '/') b--;
  if (p > b) snprintf(buf, n, "%.*s", (int)(p - b), b);
}

static void defaults(const rt_model_desc *d, int argc, char **argv, TrainOpts *o) {
  const rt_train_desc *t = d->train;
  memset(o, 0, sizeof *o);
  o->prog = argc > 0 && argv[0] ? argv[0] : "train";
  model_name(d, o->prog, o->name, sizeof o->name);
  o->epochs = t->epochs;
  o->lr = t->lr;
  o->seed = t->seed;
  o->data = (rt_source){t->data_kind, {t->data_path[0], t->data_path[1]}, t->data_scale, t->data_label_col, t->data_split};
  o->test = (rt_source){t->test_kind, {t->test_path[0], t->test_path[1]}, t->test_scale, t->test_label_col, t->test_split};
  snprintf(o->checkpoint_default, sizeof o->checkpoint_default, "%s.ckpt.safetensors", o->name);
  o->checkpoint = o->checkpoint_default;
  o->mpi_timeout = 120;
  o->progress = RT_PROGRESS_NONE;
  rt_progress_parse("auto", &o->progress, stderr);
  o->generate = -1;
  o->temperature = 0.8;
  o->argc = argc;
  o->argv = argv;
}

void rt_train_opts_free(TrainOpts *o) {
  rt_free(o->data_buf);
  rt_free(o->test_buf);
  o->data_buf = o->test_buf = NULL;
}

/* Flags that take a value. */
static const char *const VALUE_FLAGS[] = {"--epochs", "--lr", "--seed", "--threads", "--data", "--test",
                                          "--checkpoint", "--checkpoint-every", "--resume", "--metrics",
                                          "--plot", "--progress", "--generate", "--temperature", "--prompt",
                                          "--limit", "--mpi-timeout", NULL};

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *c = rt_alloc(n);
  if (c) memcpy(c, s, n);
  return c;
}

static int out_of_memory(const TrainOpts *o) {
  fprintf(stderr, "%s: error: %s\n", o->prog, rt_last_error());
  return 1;
}

int rt_flag_value(int argc, char **argv, int *i, const char *flag, const char **val) {
  const char *a = argv[*i];
  size_t n = strlen(flag);
  if (strncmp(a, flag, n)) return 0;
  if (a[n] == '=') {
    *val = a + n + 1;
    return 1;
  }
  if (a[n]) return 0;
  if (*i + 1 >= argc) return -1;
  *val = argv[++*i];
  return 1;
}

static int bad(const rt_model_desc *d, TrainOpts *o, const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "%s: error: ", o->prog);
  fprintf(stderr, fmt, a, b);
  fputs("\n", stderr);
  rt_train_usage(d, o, stderr);
  return 2;
}

int rt_train_parse(const rt_model_desc *d, int argc, char **argv, TrainOpts *o) {
  defaults(d, argc, argv, o);
  const rt_source block_data = o->data, block_test = o->test;
  bool test_follows = rt_source_same(&block_data, &block_test), test_given = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      rt_train_usage(d, o, stdout);
      return -1;
    }
    if (!strcmp(a, "-q")) {
      o->quiet = true;
      continue;
    }
    if (!strcmp(a, "--eval-only")) {
      o->eval_only = true;
      continue;
    }
    if (!strcmp(a, "--per-rank-batch")) {
      o->per_rank_batch = true;
      continue;
    }
    const char *flag = NULL;
    for (int j = 0; VALUE_FLAGS[j] && !flag; j++) {
      int r = rt_flag_value(argc, argv, &i, VALUE_FLAGS[j], &v);
      if (r < 0) return bad(d, o, "%s needs a value%s", VALUE_FLAGS[j], "");
      if (r) flag = VALUE_FLAGS[j];
    }
    if (!flag) return bad(d, o, "unknown flag '%s'%s", a, "");
    int64_t n;
    double x;
    if (!strcmp(flag, "--epochs")) {
      if (!rt_parse_i64(v, 1, RT_MAX_STEPS, &o->epochs))
        return bad(d, o, "--epochs needs an integer 1..%s, not '%s'", STR(RT_MAX_STEPS), v);
    } else if (!strcmp(flag, "--lr")) {
      if (!parse_f64(v, 0, RT_MAX_LR, &o->lr) || !(o->lr > 0))
        return bad(d, o, "--lr needs a number above 0, at most %s, not '%s'", STR(RT_MAX_LR), v);
    } else if (!strcmp(flag, "--seed")) {
      if (!rt_parse_u64(v, UINT64_MAX, &o->seed)) return bad(d, o, "--seed needs an integer 0..%s, not '%s'", "18446744073709551615", v);
      o->seed_given = true;
    } else if (!strcmp(flag, "--threads")) {
      if (!rt_parse_i64(v, 0, RT_MAX_THREADS, &n))
        return bad(d, o, "--threads needs an integer 0..%s, not '%s'", STR(RT_MAX_THREADS), v);
      o->threads = (int)n;
    } else if (!strcmp(flag, "--data") || !strcmp(flag, "--test")) {
      char *copy = dup_str(v);
      if (!copy) return out_of_memory(o);
      bool data = !strcmp(flag, "--data");
      const char *e = data ? set_source(&o->data, &block_data, &block_test, &o->data_buf, copy)
                           : set_source(&o->test, &block_test, &block_data, &o->test_buf, copy);
      if (e) return bad(d, o, data ? "--data needs %s here, not '%s'" : "--test needs %s here, not '%s'", e, v);
      test_given |= !data;
    } else if (!strcmp(flag, "--checkpoint-every")) {
      if (!rt_parse_i64(v, 0, RT_MAX_STEPS, &o->checkpoint_every))
        return bad(d, o, "--checkpoint-every needs an integer 0..%s, not '%s'", STR(RT_MAX_STEPS), v);
    } else if (!strcmp(flag, "--checkpoint") || !strcmp(flag, "--resume") || !strcmp(flag, "--metrics") ||
               !strcmp(flag, "--plot")) {
      if (!*v) return bad(d, o, "%s needs a path, not ''%s", flag, "");
      const char **dst = !strcmp(flag, "--checkpoint") ? &o->checkpoint
                         : !strcmp(flag, "--resume")   ? &o->resume
                         : !strcmp(flag, "--metrics")  ? &o->metrics
                                                       : &o->plot;
      *dst = v;
    } else if (!strcmp(flag, "--progress")) {
      if (!rt_progress_parse(v, &o->progress, stderr)) return bad(d, o, "--progress is auto, bar, line or none, not '%s'%s", v, "");
    } else if (!strcmp(flag, "--generate")) {
      if (!rt_parse_i64(v, 0, INT64_MAX, &o->generate)) return bad(d, o, "--generate needs an integer >= 0, not '%s'%s", v, "");
      o->generate_given = true;
    } else if (!strcmp(flag, "--temperature")) {
      if (!parse_f64(v, 0, HUGE_VAL, &x)) return bad(d, o, "--temperature needs a number >= 0, not '%s'%s", v, "");
      o->temperature = x;
    } else if (!strcmp(flag, "--prompt")) {
      o->prompt = v;
    } else if (!strcmp(flag, "--mpi-timeout")) {
      if (!parse_f64(v, 0, 1e6, &x) || !(x > 0)) return bad(d, o, "--mpi-timeout needs seconds above 0, not '%s'%s", v, "");
      o->mpi_timeout = x;
    } else if (!strcmp(flag, "--limit")) {
      if (!rt_parse_i64(v, 1, INT64_MAX, &o->limit)) return bad(d, o, "--limit needs an integer >= 1, not '%s'%s", v, "");
    }
  }
  if (test_follows && !test_given) o->test = o->data;
  if (o->eval_only && !o->resume) return bad(d, o, "--eval-only needs --resume CHECKPOINT%s%s", "", "");
  if (o->generate > 0 && d->train->generate_fn < 0)
    return bad(d, o, "--generate: %s has no generate function (train block: generate = ...)%s", o->name, "");
  if (o->generate < 0) o->generate = d->train->generate_fn >= 0 ? 300 : 0;
  if (o->quiet) o->progress = RT_PROGRESS_NONE;
  return 0;
}

/* ---- the resume command -------------------------------------------------------- */

/* An argument as the shell would need it: bare when safe, else in single quotes. */
static void put_quoted(const char *s, FILE *out) {
  bool safe = *s != 0;
  for (const char *p = s; *p && safe; p++)
    safe = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-_./=,:+@%", *p);
  if (safe) {
    fputs(s, out);
    return;
  }
  fputc('\'', out);
  for (const char *p = s; *p; p++) {
    if (*p == '\'') fputs("'\\''", out);
    else fputc(*p, out);
  }
  fputc('\'', out);
}

static bool takes_value(const char *a) {
  for (int j = 0; VALUE_FLAGS[j]; j++)
    if (!strcmp(a, VALUE_FLAGS[j])) return true;
  return false;
}

void rt_train_print_resume(const TrainOpts *o, const char *ckpt, FILE *out) {
  fputs(o->prog, out);
  fputs(" --resume ", out);
  put_quoted(ckpt, out);
  for (int i = 1; i < o->argc; i++) {
    const char *a = o->argv[i];
    bool value = takes_value(a) && i + 1 < o->argc;
    if (!strcmp(a, "--resume") || !strncmp(a, "--resume=", 9)) {
      i += value;
      continue;
    }
    fputc(' ', out);
    put_quoted(a, out);
    if (value) {
      fputc(' ', out);
      put_quoted(o->argv[++i], out);
    }
  }
  fputc('\n', out);
}
