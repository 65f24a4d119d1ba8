/* ptrmap.h — an open-addressing map from pointers to pointers, in an arena.
 * Used by the AD and the passes to attach facts to Values and Insts without
 * growing those structs. */
#ifndef NNC_PTRMAP_H
#define NNC_PTRMAP_H
#include "arena.h"

typedef struct PtrMap {
  Arena *a;
  const void **keys;
  void **vals;
  int cap, n;
} PtrMap;

void pm_init(PtrMap *m, Arena *a);
void *pm_get(const PtrMap *m, const void *key);        /* NULL when absent */
void pm_put(PtrMap *m, const void *key, void *val);     /* insert or replace */
static inline int pm_has(const PtrMap *m, const void *key) { return pm_get(m, key) != 0; }

#endif
