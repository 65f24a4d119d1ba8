/* test_diag.c — the diagnostics engine: the message format, the error
 * cap, source lines with carets and notes, closest-name suggestions. */
#include "frontend_harness.h"

/* ---- diagnostics ------------------------------------------------------------------------ */

static void test_diag_format(void) {
  CU_ASSERT_FALSE(fe_run("model m {\n\tfn f(x: f32[2]) -> f32[2] {\n\t\treturn x + yy\n\t}\n}\n", true, NULL, 0));
  /* tabs expand to 8 columns in the shown line; the caret follows them */
  const char *want =
      "t.nn:3:14: error: unknown name 'yy'\n"
      "    3 |                 return x + yy\n"
      "      |                            ^~\n";
  CU_ASSERT_STRING_EQUAL(fe_msgs(), want);
  /* notes follow their error; a location-less error names the file only */
  CU_ASSERT_FALSE(fe_run("const A = 1\nconst A = 2\n", true, NULL, 0));
  ASSERT_MSG("t.nn:2:7: error: redefinition of 'A'\n    2 | const A = 2\n      |       ^\n"
             "t.nn:1:7: note: the previous definition is here\n");
  ASSERT_MSG("t.nn: error: no model in this file");
}

static void test_diag_cap(void) {
  Diag d;
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  const char *src = "abc\n";
  diag_init(&d, "c.nn", src, strlen(src), out, COLOR_NEVER);
  d.max_errors = 2;
  Loc l = {1, 1, 1, 3};
  diag_error(&d, l, "first");
  diag_note(&d, l, "note one");
  diag_warning(&d, l, "a warning");
  diag_error(&d, l, "second");
  CU_ASSERT(diag_full(&d));
  diag_error(&d, l, "third");
  diag_note(&d, l, "note of the third");
  fflush(out);
  CU_ASSERT_EQUAL(d.nerrors, 2);
  CU_ASSERT_EQUAL(d.nwarnings, 1);
  CU_ASSERT(strstr(buf, "c.nn:1:1: note: note one") != NULL);
  CU_ASSERT(strstr(buf, "c.nn:1:1: warning: a warning") != NULL);
  CU_ASSERT(strstr(buf, "c.nn: fatal error: too many errors emitted, stopping now\n") != NULL);
  CU_ASSERT(strstr(buf, "third") == NULL);
  CU_ASSERT(strstr(buf, "note of the third") == NULL);
  /* COLOR_AUTO on a memory stream (not a terminal) means no escapes; ALWAYS colours */
  CU_ASSERT(strchr(buf, '\033') == NULL);
  diag_free(&d);
  fclose(out);
  free(buf);
  out = open_memstream(&buf, &len);
  diag_init(&d, "c.nn", src, strlen(src), out, COLOR_ALWAYS);
  diag_error(&d, l, "coloured");
  fflush(out);
  CU_ASSERT(strstr(buf, "\033[1;31merror: ") != NULL);
  diag_free(&d);
  fclose(out);
  free(buf);
}

static void test_diag_source_lines(void) {
  /* bytes that are not printable show as <XX>; the caret stays under its byte */
  Diag d;
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  const char src[] = "a\x01" "b\xc3\xa9" "c\r\nline two\n";
  diag_init(&d, "s.nn", src, sizeof src - 1, out, COLOR_NEVER);
  diag_error(&d, (Loc){1, 3, 1, 3}, "at b");
  diag_error(&d, (Loc){1, 5, 1, 5}, "inside the UTF-8 character");
  diag_error(&d, (Loc){2, 6, 2, 8}, "at two");
  diag_error(&d, (Loc){2, 20, 2, 20}, "past the end");
  fflush(out);
  CU_ASSERT(strstr(buf, "s.nn:1:3: error: at b\n    1 | a<01>béc\n      |      ^\n") != NULL);
  CU_ASSERT(strstr(buf, "inside the UTF-8 character\n    1 | a<01>béc\n      |       ^\n") != NULL);
  CU_ASSERT(strstr(buf, "at two\n    2 | line two\n      |      ^~~\n") != NULL);
  CU_ASSERT(strstr(buf, "past the end\n    2 | line two\n      |         ^\n") != NULL);
  diag_free(&d);
  fclose(out);
  free(buf);
}

static void test_diag_closest(void) {
  const char *c[] = {"weight", "bias", "hidden", "relu", "return"};
  CU_ASSERT_STRING_EQUAL(diag_closest("wieght", c, 5), "weight");
  CU_ASSERT_STRING_EQUAL(diag_closest("hiden", c, 5), "hidden");
  CU_ASSERT_STRING_EQUAL(diag_closest("retrun", c, 5), "return");
  CU_ASSERT_STRING_EQUAL(diag_closest("bias", c, 5) ? "found" : "none", "none"); /* itself is no suggestion */
  CU_ASSERT_PTR_NULL(diag_closest("xyz", c, 5));
  CU_ASSERT_PTR_NULL(diag_closest("u1", c, 5));
}

int main(void) {
  static const UnitTest tests[] = {
      {"diag format", test_diag_format},
      {"diag cap", test_diag_cap},
      {"diag source lines", test_diag_source_lines},
      {"diag closest", test_diag_closest},
      {0, 0},
  };
  int rc = unit_run("diag", tests);
  fe_close();
  return rc;
}
