/* tmpdir.h — the scratch directory of one test program: tmp_make() creates
 * it from a mkdtemp template, tp(name) names a file in it, write_bytes()
 * writes a whole file there, tmp_remove() deletes it with all it holds. */
#ifndef NNC_TESTS_TMPDIR_H
#define NNC_TESTS_TMPDIR_H
#include <CUnit/CUnit.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

static char tmp_dir[1024];

/* Makes tmp_dir from `templ` (ending in XXXXXX); false, said on stderr, if
 * it cannot. */
static inline bool tmp_make(const char *templ) {
  snprintf(tmp_dir, sizeof tmp_dir, "%s", templ);
  if (mkdtemp(tmp_dir)) return true;
  perror(tmp_dir);
  return false;
}

/* tmp_dir/name, in one of 8 rotating buffers. */
static inline const char *tp(const char *name) {
  static char bufs[8][1200];
  static int k;
  char *b = bufs[k++ % 8];
  snprintf(b, sizeof bufs[0], "%s/%s", tmp_dir, name);
  return b;
}

/* Unlinks first: truncating a file that has data makes ext4 flush it on
 * close (auto_da_alloc), which made loops of rewrites 3x slower. */
static inline void write_bytes(const char *path, const void *p, size_t n) {
  unlink(path);
  FILE *f = fopen(path, "wb");
  CU_ASSERT_FATAL(f != NULL);
  CU_ASSERT_FATAL(fwrite(p, 1, n, f) == n);
  CU_ASSERT_FATAL(fclose(f) == 0);
}

static inline int tmp_rm_entry(const char *p, const struct stat *s, int flag, struct FTW *f) {
  (void)s, (void)flag, (void)f;
  return remove(p);
}

static inline void tmp_remove(void) { nftw(tmp_dir, tmp_rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

#endif
