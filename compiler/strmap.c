/* strmap.c — see strmap.h. Linear probing on FNV-1a hashes; the table
 * doubles when half full, so every operation is O(1) on average however
 * many names a (generated) program has. */
#include "strmap.h"

#include <string.h>

static unsigned hash_str(const char *s) {
  unsigned h = 2166136261u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

void sm_init(StrMap *m, Arena *a) {
  m->a = a;
  m->cap = 64;
  m->n = 0;
  m->keys = NEW_ARRAY(a, const char *, m->cap);
  m->hashes = NEW_ARRAY(a, unsigned, m->cap);
  m->vals = NEW_ARRAY(a, void *, m->cap);
}

static int find(const StrMap *m, const char *key, unsigned h) {
  unsigned mask = (unsigned)m->cap - 1;
  for (unsigned i = h & mask;; i = (i + 1) & mask)
    if (!m->keys[i] || (m->hashes[i] == h && !strcmp(m->keys[i], key))) return (int)i;
}

void *sm_get(const StrMap *m, const char *key) {
  if (!m->cap) return NULL;
  int i = find(m, key, hash_str(key));
  return m->keys[i] ? m->vals[i] : NULL;
}

static void grow(StrMap *m) {
  int oc = m->cap;
  const char **ok = m->keys;
  unsigned *oh = m->hashes;
  void **ov = m->vals;
  m->cap *= 2;
  m->keys = NEW_ARRAY(m->a, const char *, m->cap);
  m->hashes = NEW_ARRAY(m->a, unsigned, m->cap);
  m->vals = NEW_ARRAY(m->a, void *, m->cap);
  unsigned mask = (unsigned)m->cap - 1;
  for (int i = 0; i < oc; i++) {
    if (!ok[i]) continue;
    unsigned j = oh[i] & mask;
    while (m->keys[j]) j = (j + 1) & mask;
    m->keys[j] = ok[i];
    m->hashes[j] = oh[i];
    m->vals[j] = ov[i];
  }
  arena_release(m->a, (void *)ok);
  arena_release(m->a, oh);
  arena_release(m->a, ov);
}

void **sm_slot(StrMap *m, const char *key) {
  if (!m->cap) sm_init(m, m->a);
  unsigned h = hash_str(key);
  int i = find(m, key, h);
  if (m->keys[i]) return &m->vals[i];
  if (2 * (m->n + 1) > m->cap) {
    grow(m);
    i = find(m, key, h);
  }
  m->keys[i] = key;
  m->hashes[i] = h;
  m->vals[i] = NULL;
  m->n++;
  return &m->vals[i];
}

void sm_put(StrMap *m, const char *key, void *val) { *sm_slot(m, key) = val; }
