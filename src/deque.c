/*
 * deque.c - the Chase-Lev work-stealing deque.
 *
 * The C11 formulation of Le, Pop, Cohen and Zappa Nardelli, "Correct and
 * Efficient Work-Stealing for Weak Memory Models" (PPoPP 2013), figure 1.
 * How the scheduler uses it: docs/design.md, section 5.3.
 *
 * Who owns what:
 *  - bottom is written only by the owner worker (push, pop). Thieves read it.
 *  - top only grows, by CAS: a thief's steal, or the owner's pop of the last
 *    item. Whoever moves top from t to t+1 owns the item at index t.
 *  - buf is replaced only by the owner when a push finds it full. The old
 *    buffer may still be read by a thief that loaded it earlier, so it is
 *    kept on the retired list until the deque is destroyed. Buffers double,
 *    so the retired ones add up to less than the live one.
 *  - Slots are relaxed atomics: a thief may read a slot the owner is about
 *    to overwrite; the CAS on top then fails and the value is discarded.
 *
 * The orderings, each named where it is used:
 *  (P) push: the item store, then a release store of bottom: a thief
 *      whose acquire load of bottom sees it also sees the item and the task
 *      it points at. (The paper uses a release fence and a relaxed store;
 *      a release store is the same on x86 and AArch64, and ThreadSanitizer,
 *      which does not model fences, understands it.)
 *  (O) pop: bottom is decremented, then a seq_cst fence, then top is read;
 *      steal reads top, a seq_cst fence, then bottom. The two fences order
 *      the owner's claim on the last item against a thief's, so at most one
 *      of them sees the item as available without the CAS, and the CAS on
 *      top decides between them.
 *  (S) steal: the CAS on top is seq_cst; it both claims the item and, on
 *      failure, tells the thief someone else got it first.
 */
#include "deque.h"

#include <stdlib.h>

struct deque_buf {
  long mask; /* capacity - 1; capacity is a power of two */
  struct deque_buf *prev; /* retired list */
  _Atomic(void *) slot[];
};

static struct deque_buf *buf_new(long cap) {
  struct deque_buf *b = malloc(sizeof *b + (size_t)cap * sizeof(b->slot[0]));
  if (b) {
    b->mask = cap - 1;
    b->prev = NULL;
  }
  return b;
}

static inline void *buf_get(struct deque_buf *b, long i) {
  return atomic_load_explicit(&b->slot[i & b->mask], memory_order_relaxed);
}

static inline void buf_put(struct deque_buf *b, long i, void *v) {
  atomic_store_explicit(&b->slot[i & b->mask], v, memory_order_relaxed);
}

int weft__deque_init(weft__deque *d, long capacity) {
  long cap = 16;
  while (cap < capacity)
    cap <<= 1;
  struct deque_buf *b = buf_new(cap);
  if (!b)
    return WEFT_ENOMEM;
  atomic_init(&d->top, 0);
  atomic_init(&d->bottom, 0);
  atomic_init(&d->fence, 0);
  atomic_init(&d->buf, b);
  d->retired = NULL;
  return 0;
}

void weft__deque_destroy(weft__deque *d) {
  struct deque_buf *b = atomic_load_explicit(&d->buf, memory_order_relaxed), *prev;
  free(b);
  for (b = d->retired; b; b = prev) {
    prev = b->prev;
    free(b);
  }
}

/* Double the buffer, copying the live range [t, b). Owner only. */
static struct deque_buf *grow(weft__deque *d, struct deque_buf *old, long t, long b) {
  struct deque_buf *nb = buf_new((old->mask + 1) * 2);
  if (!nb)
    return NULL;
  for (long i = t; i < b; i++)
    buf_put(nb, i, buf_get(old, i));
  old->prev = d->retired;
  d->retired = old;
  /* Release: a thief that loads the new buffer sees the copied slots. */
  atomic_store_explicit(&d->buf, nb, memory_order_release);
  return nb;
}

bool weft__deque_push(weft__deque *d, void *item) {
  long b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
  long t = atomic_load_explicit(&d->top, memory_order_acquire);
  struct deque_buf *a = atomic_load_explicit(&d->buf, memory_order_relaxed);

  if (unlikely(b - t > a->mask)) {
    a = grow(d, a, t, b);
    if (!a)
      return false;
  }
  buf_put(a, b, item);
  atomic_store_explicit(&d->bottom, b + 1, memory_order_release); /* (P) */
  return true;
}

void *weft__deque_pop(weft__deque *d) {
  long b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
  struct deque_buf *a = atomic_load_explicit(&d->buf, memory_order_relaxed);
  long t;
  void *x;

  /* Empty without the fence: top only grows, so a stale top that already
   * reaches bottom proves the deque empty. */
  if (atomic_load_explicit(&d->top, memory_order_relaxed) > b)
    return NULL;

  atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
  weft__fence_sc(&d->fence); /* (O) */
  t = atomic_load_explicit(&d->top, memory_order_relaxed);
  if (t > b) { /* empty */
    atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
    return NULL;
  }
  x = buf_get(a, b);
  if (t == b) { /* the last item: race the thieves for it (S) */
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
      x = NULL;
    atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
  }
  return x;
}

void *weft__deque_steal(weft__deque *d, bool *lost) {
  long t = atomic_load_explicit(&d->top, memory_order_acquire);
  long b;
  struct deque_buf *a;
  void *x;

  weft__fence_sc(&d->fence); /* (O) */
  b = atomic_load_explicit(&d->bottom, memory_order_acquire);
  if (t >= b)
    return NULL;
  /* Acquire: pairs with the release store in grow(). */
  a = atomic_load_explicit(&d->buf, memory_order_acquire);
  x = buf_get(a, t);
  if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                               memory_order_relaxed)) {
    *lost = true; /* (S) */
    return NULL;
  }
  return x;
}

long weft__deque_size(weft__deque *d) {
  long b = atomic_load_explicit(&d->bottom, memory_order_acquire);
  long t = atomic_load_explicit(&d->top, memory_order_acquire);
  return b > t ? b - t : 0;
}
