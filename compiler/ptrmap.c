/* ptrmap.c — see ptrmap.h. Keys are never removed; values may be replaced. */
#include "ptrmap.h"

#include <stdint.h>

static unsigned hash_ptr(const void *p) {
  uintptr_t x = (uintptr_t)p;
  x ^= x >> 17;
  x *= 0xed5ad4bbu;
  x ^= x >> 11;
  return (unsigned)x;
}

void pm_init(PtrMap *m, Arena *a) {
  m->a = a;
  m->cap = 64;
  m->n = 0;
  m->keys = NEW_ARRAY(a, const void *, m->cap);
  m->vals = NEW_ARRAY(a, void *, m->cap);
}

void *pm_get(const PtrMap *m, const void *key) {
  if (!m->cap) return NULL;
  for (unsigned i = hash_ptr(key) & (unsigned)(m->cap - 1);; i = (i + 1) & (unsigned)(m->cap - 1)) {
    if (!m->keys[i]) return NULL;
    if (m->keys[i] == key) return m->vals[i];
  }
}

static void put(PtrMap *m, const void *key, void *val) {
  unsigned i = hash_ptr(key) & (unsigned)(m->cap - 1);
  while (m->keys[i] && m->keys[i] != key) i = (i + 1) & (unsigned)(m->cap - 1);
  if (!m->keys[i]) m->n++;
  m->keys[i] = key;
  m->vals[i] = val;
}

void pm_put(PtrMap *m, const void *key, void *val) {
  if (!m->cap) pm_init(m, m->a);
  if (2 * (m->n + 1) > m->cap) {
    int oc = m->cap;
    const void **ok = m->keys;
    void **ov = m->vals;
    m->cap *= 2;
    m->n = 0;
    m->keys = NEW_ARRAY(m->a, const void *, m->cap);
    m->vals = NEW_ARRAY(m->a, void *, m->cap);
    for (int i = 0; i < oc; i++)
      if (ok[i]) put(m, ok[i], ov[i]);
    arena_release(m->a, (void *)ok);
    arena_release(m->a, ov);
  }
  put(m, key, val);
}
