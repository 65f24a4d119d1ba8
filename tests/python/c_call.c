/* c_call.c — call one entry point of a generated library from C, with
 * arrays read from and written to files: the reference the Python module's
 * results are compared with, bit for bit (tests/python/).
 *
 *   c_call LIB PREFIX SEED CKPT FN N ARG...
 *
 * creates an object with SEED (PREFIX_create), loads the checkpoint CKPT
 * unless it is '-', and calls PREFIX_FN(m, [n,] arrays...) with N as the
 * run-time size (none when N is '-'). Each ARG is
 *   in:FILE              an input array: the file's bytes
 *   out:BYTES:FILE       a result of BYTES bytes, written to FILE
 *   params:BYTES:FILE    after the call, the first BYTES bytes of PREFIX_params(m)
 *   grads:BYTES:FILE     the same of PREFIX_grads(m)
 * A failed call prints the status and PREFIX_last_error() and exits 1. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*Create)(void **out, uint64_t seed);
typedef int (*Load)(void *m, const char *path);
typedef void *(*Buffer)(void *m);
typedef const char *(*LastError)(void);

static void *sym(void *h, const char *prefix, const char *name) {
  char full[256];
  snprintf(full, sizeof full, "%s_%s", prefix, name);
  void *p = dlsym(h, full);
  if (!p) {
    fprintf(stderr, "c_call: no symbol %s\n", full);
    exit(2);
  }
  return p;
}

static void *read_all(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(2);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  void *buf = malloc((size_t)n + 1);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "c_call: cannot read %s\n", path);
    exit(2);
  }
  fclose(f);
  return buf;
}

static void write_all(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
    fprintf(stderr, "c_call: cannot write %s\n", path);
    exit(2);
  }
}

/* "BYTES:FILE" into its two parts. */
static size_t sized(char *spec, char **file) {
  char *colon = strchr(spec, ':');
  if (!colon) {
    fprintf(stderr, "c_call: expected BYTES:FILE, not '%s'\n", spec);
    exit(2);
  }
  *colon = 0;
  *file = colon + 1;
  return (size_t)strtoull(spec, NULL, 10);
}

typedef void *P;
/* fn(m, [n,] p[0..np)): one cast per arity (calls must match the prototype). */
static int call(void *fn, void *m, int with_n, int64_t n, P *p, int np) {
  if (with_n) switch (np) {
    case 1: return ((int (*)(P, int64_t, P))fn)(m, n, p[0]);
    case 2: return ((int (*)(P, int64_t, P, P))fn)(m, n, p[0], p[1]);
    case 3: return ((int (*)(P, int64_t, P, P, P))fn)(m, n, p[0], p[1], p[2]);
    case 4: return ((int (*)(P, int64_t, P, P, P, P))fn)(m, n, p[0], p[1], p[2], p[3]);
    case 5: return ((int (*)(P, int64_t, P, P, P, P, P))fn)(m, n, p[0], p[1], p[2], p[3], p[4]);
    }
  else switch (np) {
    case 1: return ((int (*)(P, P))fn)(m, p[0]);
    case 2: return ((int (*)(P, P, P))fn)(m, p[0], p[1]);
    case 3: return ((int (*)(P, P, P, P))fn)(m, p[0], p[1], p[2]);
    case 4: return ((int (*)(P, P, P, P, P))fn)(m, p[0], p[1], p[2], p[3]);
    case 5: return ((int (*)(P, P, P, P, P, P))fn)(m, p[0], p[1], p[2], p[3], p[4]);
    }
  fprintf(stderr, "c_call: %d arrays are not supported\n", np);
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: c_call LIB PREFIX SEED CKPT FN N ARG...\n");
    return 2;
  }
  const char *prefix = argv[2], *ckpt = argv[4];
  void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "c_call: %s\n", dlerror());
    return 2;
  }
  LastError last_error = (LastError)sym(h, prefix, "last_error");
  void *m = NULL;
  int s = ((Create)sym(h, prefix, "create"))(&m, strtoull(argv[3], NULL, 10));
  if (s == 0 && strcmp(ckpt, "-")) s = ((Load)sym(h, prefix, "load"))(m, ckpt);
  if (s) {
    fprintf(stderr, "c_call: create/load: status %d: %s\n", s, last_error());
    return 1;
  }
  P ptr[16];
  size_t size[16];
  char *file[16];
  int np = 0;
  for (int i = 7; i < argc && np < 16; i++) {
    char *a = argv[i];
    if (!strncmp(a, "in:", 3)) {
      file[np] = NULL;
      ptr[np++] = read_all(a + 3);
    } else if (!strncmp(a, "out:", 4)) {
      size[np] = sized(a + 4, &file[np]);
      ptr[np] = calloc(size[np] + 1, 1);
      np++;
    }
  }
  int with_n = strcmp(argv[6], "-") != 0;
  s = call(sym(h, prefix, argv[5]), m, with_n, with_n ? strtoll(argv[6], NULL, 10) : 0, ptr, np);
  if (s) {
    fprintf(stderr, "c_call: %s: status %d: %s\n", argv[5], s, last_error());
    return 1;
  }
  for (int i = 0; i < np; i++)
    if (file[i]) write_all(file[i], ptr[i], size[i]);
  for (int i = 7; i < argc; i++) {
    char *f, *a = argv[i];
    if (!strncmp(a, "params:", 7) || !strncmp(a, "grads:", 6)) {
      int params = a[0] == 'p';
      size_t n = sized(strchr(a, ':') + 1, &f);
      write_all(f, ((Buffer)sym(h, prefix, params ? "params" : "grads"))(m), n);
    }
  }
  for (int i = 0; i < np; i++) free(ptr[i]);
  ((void (*)(void *))sym(h, prefix, "destroy"))(m);
  dlclose(h);
  return 0;
}
