/* fitset.h — the live blocks of a first-fit allocator (plan.c's
 * workspace): disjoint byte ranges, each alive until a position. Placing
 * a block puts it at the lowest offset where it fits between the live
 * ones (after the last when no gap fits); releasing drops the blocks that
 * died. Both are O(log n) (a treap ordered by offset, each subtree knowing
 * its widest gap, and a heap by end), where scanning a sorted list is
 * O(n) and a gradient keeps its forward values alive: quadratic in the
 * length of a long model. */
#ifndef NNC_FITSET_H
#define NNC_FITSET_H
#include <stddef.h>

#include "arena.h"

typedef struct FitSet FitSet;

FitSet *fit_new(Arena *a);
/* Drops the blocks whose end is before `start`. */
void fit_release(FitSet *s, int start);
/* Places a block of `size` bytes (> 0), alive up to `end`: its offset. */
size_t fit_place(FitSet *s, size_t size, int end);

#endif
