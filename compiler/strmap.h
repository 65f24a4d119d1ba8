/* strmap.h — an open-addressing map from strings to pointers, in an arena.
 * The one name table of the compiler: the checker's scopes, the IR
 * printer's unique names and the IR parser's bindings. Keys are not copied
 * (they must live as long as the map, as arena strings do) and are never
 * removed; a NULL value reads as absent, so a binding that goes out of
 * scope is cleared by storing NULL. */
#ifndef NNC_STRMAP_H
#define NNC_STRMAP_H
#include "arena.h"

typedef struct StrMap {
  Arena *a;
  const char **keys;  /* cap slots, NULL = empty */
  unsigned *hashes;   /* hash of keys[i] */
  void **vals;
  int cap, n;         /* cap is 0 or a power of two; n keys are stored */
} StrMap;

void sm_init(StrMap *m, Arena *a);
void *sm_get(const StrMap *m, const char *key);      /* NULL when absent */
void sm_put(StrMap *m, const char *key, void *val);  /* insert or replace */
/* The value slot of key, inserted (holding NULL) when absent. Valid until
 * the next insertion. */
void **sm_slot(StrMap *m, const char *key);

#endif
