/* abi.h — what the ABI test's files share (tests/abi/).
 *
 * The test loads two libraries that nnc generated at build time (see
 * tests/abi.cmake) with dlopen, as a program that does not link them would:
 * fashion_mlp (samples/fashion_mlp.nn, run-time batch bound 8) and abi_cnn
 * (samples/fashion_cnn.nn, bound 2, renamed with --name), called here with
 * n = the bound (abi_dyn.c tests other n). Both have the same entry points, so one table of function pointers (Api) serves both; the
 * object type is void * here, as it is to any caller that uses dlsym. What the
 * headers promise (ABI version, parameter shapes, sizes) is copied into the
 * Lib struct from the headers' macros, so the test compares the library
 * against its own header. */
#ifndef NNC_ABI_TEST_H
#define NNC_ABI_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "abi_cnn.h"
#include "fashion_mlp.h"
#include "unit_main.h"

/* Every entry point of a generated library with a forward(x) -> out and a
 * loss(x, y) function and a train block. */
typedef struct Api {
  nn_status (*create)(void **out, uint64_t seed);
  nn_status (*create_threads)(void **out, uint64_t seed, int nthreads);
  void (*destroy)(void *m);
  nn_status (*forward)(void *m, int64_t n, const float *x, float *out);
  nn_status (*loss)(void *m, int64_t n, const float *x, const int32_t *y, float *out);
  nn_status (*loss_grad)(void *m, int64_t n, const float *x, const int32_t *y, float *loss);
  nn_status (*train_step)(void *m, int64_t n, const float *x, const int32_t *y, float *loss);
  size_t (*num_params)(void);
  const nn_tensor_info *(*param_info)(size_t i);
  float *(*params)(void *m);
  float *(*grads)(void *m);
  nn_status (*init_params)(void *m, uint64_t seed);
  nn_status (*set_learning_rate)(void *m, double lr);
  nn_status (*save)(const void *m, const char *path);
  nn_status (*load)(void *m, const char *path);
  int (*abi_version)(void);
  const char *(*build_info)(void);
  const char *(*status_string)(nn_status s);
  const char *(*last_error)(void);
  nn_status (*set_grad_ready)(void *m, void (*ready)(void *user, int param), void *user);
} Api;

/* A parameter as the header's shape macro states it. */
typedef struct ExpectParam {
  const char *name;
  int rank;
  const int64_t *shape;
} ExpectParam;

typedef struct Lib {
  const char *path;     /* the .so, absolute (made at build time) */
  const char *prefix;   /* API prefix: "fashion_mlp", "abi_cnn" */
  const char *source;   /* the .nn file it was compiled from, absolute */
  void *handle;         /* dlopen handle; NULL until loaded */
  Api api;
  /* from the header */
  int abi_version;
  size_t nparams, param_count, param_bytes;
  const ExpectParam *expect; /* nparams entries */
  size_t nx, ny, nout;  /* elements of forward's x, loss's y, forward's result at the bound */
  int64_t n;            /* the batch every call passes: the header's bound (_B_MAX) */
} Lib;

extern Lib lib_mlp, lib_cnn;
/* A fresh directory for the files a test writes (removed at exit). */
extern char tmp_dir[];

/* abi_main.c: helpers */
/* A deterministic batch: x uniform in [0,1), y in 0..9. */
void make_batch(const Lib *L, uint64_t seed, float *x, int32_t *y);
/* A copy of the object's parameter buffer (param_bytes), or NULL. */
uint8_t *snapshot(const Lib *L, void *m);
/* True if the object's parameters are bit for bit `snap`. */
bool same_params(const Lib *L, void *m, const uint8_t *snap);
/* tmp_dir/name into buf. */
const char *tmp_path(char *buf, size_t n, const char *name);
/* The whole file into a malloc'd buffer; NULL if unreadable. */
uint8_t *read_file(const char *path, size_t *len);
bool write_file(const char *path, const void *p, size_t n);
bool contains(const char *haystack, const char *needle);
/* Asserts that a call failed with `want` and that L's last_error() mentions
 * `why`; else prints what (the call's text) and line. */
void expect_failure(const Lib *L, nn_status got, nn_status want, const char *why, const char *what, int line);
#define FAILS(L, call, want, why) expect_failure((L), (call), (want), (why), #call, __LINE__)

/* abi_elf.c: the dynamic symbols of a shared object. */
typedef struct DynSym {
  char name[128];
  bool defined;  /* defined in the object (else needed from elsewhere) */
  bool func;     /* STT_FUNC */
} DynSym;
/* Reads the .dynsym of a 64-bit little-endian ELF file: every global or weak
 * symbol. Returns the count (malloc'd array in *out) or -1 with a message. */
int elf_dynsyms(const char *path, DynSym **out, char *err, size_t errn);

/* The test groups, each a list for unit_run (tests/unit_main.h). */
extern const UnitTest abi_api_tests[];
extern const UnitTest abi_ckpt_tests[];
extern const UnitTest abi_dyn_tests[];
extern const UnitTest abi_hook_tests[];

#endif
