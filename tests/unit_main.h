/* unit_main.h — the few lines every CUnit test program shares.
 *
 *   static UnitTest tests[] = {{"name", fn}, ..., {0, 0}};
 *   int main(void) { return unit_run("suite", tests); }
 *
 * Exit status is nonzero when any assertion failed. */
#ifndef NNC_UNIT_MAIN_H
#define NNC_UNIT_MAIN_H
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <stdio.h>

/* Exhaustive loops (every truncation, thousands of mutations) run in full
 * in the release test pass; under AddressSanitizer, which CI runs too and
 * which is ~10x slower, they take every SANITIZER_STRIDE-th case. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#ifndef UNDER_SANITIZER
#define UNDER_SANITIZER 0
#endif
#define SANITIZER_STRIDE (UNDER_SANITIZER ? 7 : 1)

typedef struct UnitTest {
  const char *name;
  void (*fn)(void);
} UnitTest;

static inline int unit_run(const char *suite_name, const UnitTest *tests) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 2;
  CU_pSuite suite = CU_add_suite(suite_name, NULL, NULL);
  if (!suite) return 2;
  for (const UnitTest *t = tests; t->name; t++)
    if (!CU_add_test(suite, t->name, t->fn)) return 2;
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
  CU_cleanup_registry();
  return failed ? 1 : 0;
}
#endif
