/* alloc_hook.h — the runtime's allocation hook as the runtime tests drive
 * it (Lua's debug_realloc): hook_on(k) makes the k-th allocation fail (-1:
 * none; HOOK_FAIL_ALL: every one), counts allocations and live blocks, and
 * records the largest request; alloc_fail_loop runs a function with each
 * allocation failing in turn. */
#ifndef NNC_TESTS_ALLOC_HOOK_H
#define NNC_TESTS_ALLOC_HOOK_H
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>

#include "rt_core.h"

#define HOOK_FAIL_ALL (-2)

static struct {
  long n;          /* allocations attempted */
  long fail_at;    /* index of the allocation to fail; -1 for none, HOOK_FAIL_ALL for all */
  long live;       /* allocated and not yet freed */
  size_t max_size; /* largest size requested */
} H;

static inline void *hook_alloc(size_t size, size_t align, void *ud) {
  (void)ud;
  if (size > H.max_size) H.max_size = size;
  if (H.n++ == H.fail_at || H.fail_at == HOOK_FAIL_ALL) return NULL;
  size_t s = (size + align - 1) / align * align;
  void *p = aligned_alloc(align, s ? s : align);
  if (p) H.live++;
  return p;
}
static inline void hook_free(void *p, void *ud) {
  (void)ud;
  H.live--;
  free(p);
}
static inline void hook_on(long fail_at) {
  H.n = 0;
  H.fail_at = fail_at;
  H.live = 0;
  H.max_size = 0;
  rt_set_alloc_hook(hook_alloc, hook_free, NULL);
}
static inline void hook_off(void) { rt_set_alloc_hook(NULL, NULL, NULL); }

/* Runs fn(arg) with the k-th allocation failing, for k = 0, 1, ... until it
 * succeeds. Each run must give NN_OK or NN_ERR_NOMEM and free everything; a
 * success must not have swallowed a failed allocation. */
static inline void alloc_fail_loop(const char *what, nn_status (*fn)(const char *), const char *arg) {
  long k;
  for (k = 0; k < 100000; k++) {
    hook_on(k);
    nn_status s = fn(arg);
    long live = H.live, n = H.n;
    hook_off();
    if ((s != NN_OK && s != NN_ERR_NOMEM) || live != 0 || (s == NN_OK && n > k))
      printf("\n    %s, allocation %ld failing: status %d (%s), %ld blocks "
             "leaked, %ld allocations\n", what, k, (int)s, rt_last_error(), live, n);
    CU_ASSERT(s == NN_OK || s == NN_ERR_NOMEM);
    CU_ASSERT_EQUAL(live, 0);
    if (s != NN_OK) continue;
    CU_ASSERT(n <= k);
    break;
  }
  CU_ASSERT(k >= 1); /* the function allocated something */
}
#endif
