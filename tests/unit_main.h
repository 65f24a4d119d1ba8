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
