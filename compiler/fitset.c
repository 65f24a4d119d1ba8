/* fitset.c — see fitset.h. */
#include "fitset.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct Node {
  size_t off, size;
  int end;
  unsigned prio;
  struct Node *l, *r;
  size_t lo, hi; /* the subtree's first offset and last end */
  size_t gap;    /* its widest gap between two of its blocks (0: none) */
} Node;

struct FitSet {
  Arena *a;
  Node *root;
  Node *free;     /* released nodes, reused (chained through r) */
  Node **heap;    /* the live blocks, a min-heap by end */
  int n, cap;
  unsigned seed;
};

FitSet *fit_new(Arena *a) {
  FitSet *s = NEW(a, FitSet);
  s->a = a;
  s->seed = 2463534242u;
  return s;
}

static size_t max2(size_t a, size_t b) { return a > b ? a : b; }

static void pull(Node *t) {
  t->lo = t->l ? t->l->lo : t->off;
  t->hi = t->r ? t->r->hi : t->off + t->size;
  size_t g = 0;
  if (t->l) g = max2(max2(g, t->l->gap), t->off - t->l->hi);
  if (t->r) g = max2(max2(g, t->r->gap), t->r->lo - (t->off + t->size));
  t->gap = g;
}

/* t split into the blocks before offset k (*l) and the others (*r) */
static void split(Node *t, size_t k, Node **l, Node **r) {
  if (!t) {
    *l = *r = NULL;
  } else if (t->off < k) {
    split(t->r, k, &t->r, r);
    pull(t);
    *l = t;
  } else {
    split(t->l, k, l, &t->l);
    pull(t);
    *r = t;
  }
}

static Node *merge(Node *l, Node *r) {
  if (!l || !r) return l ? l : r;
  if (l->prio > r->prio) {
    l->r = merge(l->r, r);
    pull(l);
    return l;
  }
  r->l = merge(l, r->l);
  pull(r);
  return r;
}

/* The first gap of at least `size` bytes in t, counting the one between
 * `prev` (the end of the block before t) and t's first block: its
 * offset, or SIZE_MAX. A subtree whose gaps are all narrower is not
 * entered, and one that is entered has a fitting gap: O(depth). */
static size_t find(const Node *t, size_t size, size_t prev) {
  if (t->lo - prev < size && t->gap < size) return SIZE_MAX;
  if (t->l) {
    size_t at = find(t->l, size, prev);
    if (at != SIZE_MAX) return at;
    prev = t->l->hi;
  }
  if (t->off - prev >= size) return prev;
  return t->r ? find(t->r, size, t->off + t->size) : SIZE_MAX;
}

static bool before(const Node *a, const Node *b) { return a->end < b->end; }

void fit_release(FitSet *s, int start) {
  while (s->n && s->heap[0]->end < start) {
    Node *d = s->heap[0];
    Node *x = s->heap[--s->n];
    int i = 0;
    for (;;) { /* sift x down from the top */
      int c = 2 * i + 1;
      if (c >= s->n) break;
      if (c + 1 < s->n && before(s->heap[c + 1], s->heap[c])) c++;
      if (!before(s->heap[c], x)) break;
      s->heap[i] = s->heap[c];
      i = c;
    }
    if (s->n) s->heap[i] = x;
    Node *l, *m, *r;
    split(s->root, d->off, &l, &m);
    split(m, d->off + 1, &m, &r); /* m is d */
    s->root = merge(l, r);
    d->r = s->free;
    s->free = d;
  }
}

size_t fit_place(FitSet *s, size_t size, int end) {
  size_t off = s->root ? find(s->root, size, 0) : 0;
  if (off == SIZE_MAX) off = s->root->hi;
  Node *t = s->free;
  if (t) s->free = t->r;
  else t = NEW(s->a, Node);
  s->seed ^= s->seed << 13, s->seed ^= s->seed >> 17, s->seed ^= s->seed << 5; /* xorshift */
  *t = (Node){.off = off, .size = size, .end = end, .prio = s->seed};
  pull(t);
  Node *l, *r;
  split(s->root, off, &l, &r);
  s->root = merge(merge(l, t), r);
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 64;
    Node **h = NEW_ARRAY(s->a, Node *, cap);
    for (int i = 0; i < s->n; i++) h[i] = s->heap[i];
    s->heap = h, s->cap = cap;
  }
  int i = s->n++;
  while (i && before(t, s->heap[(i - 1) / 2])) { /* sift up */
    s->heap[i] = s->heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  s->heap[i] = t;
  return off;
}
