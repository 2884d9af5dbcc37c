/*
 * deque.h - Chase-Lev work-stealing deque of non-NULL pointers.
 */
#ifndef WEFT_DEQUE_H
#define WEFT_DEQUE_H

#include "weft-int.h"

#include <stdbool.h>

struct deque_buf;

typedef struct weft__deque {
  _Alignas(WEFT_CACHELINE) atomic_long top;    /* thieves' end; any thread, CAS */
  _Alignas(WEFT_CACHELINE) atomic_long bottom; /* owner's end; written by the owner only */
  _Atomic(struct deque_buf *) buf;             /* replaced by the owner when it grows */
  struct deque_buf *retired;                   /* old buffers; owner only, freed at destroy */
  atomic_long fence;                           /* weft__fence_sc's word (ThreadSanitizer) */
} weft__deque;

int weft__deque_init(weft__deque *d, long capacity);
void weft__deque_destroy(weft__deque *d);

/* Owner only. Returns false when the buffer cannot grow (out of memory). */
bool weft__deque_push(weft__deque *d, void *item);
/* Owner only. The most recently pushed item, or NULL when empty. */
void *weft__deque_pop(weft__deque *d);
/* Any thread. The oldest item, or NULL when empty or when a race was lost
 * (*lost is set then, so the caller may retry). */
void *weft__deque_steal(weft__deque *d, bool *lost);
/* Any thread. Items in the deque; a moment old when read by a non-owner. */
long weft__deque_size(weft__deque *d);

#endif /* WEFT_DEQUE_H */
