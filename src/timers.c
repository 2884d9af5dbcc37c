/*
 * timers.c - the runtime's one timer heap: every deadline in weft (a
 * sleep, a timed channel, lock, select, join or scope wait, an I/O op's
 * deadline) is a weft__timer on it. Any thread adds and removes timers
 * under one lock, with no message; the timer host (the I/O thread, which
 * registered rt->timers.kick) sleeps until the earliest one and fires it.
 * docs/design.md, section 5.15 (protocols "timers" and "deadline").
 *
 * The heap is a pairing heap, written here because it must be intrusive:
 * a timer is added in a park's publish step, which cannot fail, so adding
 * may not allocate. Adding is O(1); removing the earliest or any other
 * timer is O(log n) amortized. (libuv's binary heap is intrusive too, but
 * it is private to libuv and runs on one thread.)
 *
 * Protocol "timers"
 * -----------------
 * Fields under `lock`: the heap, each queued timer's links and `queued`,
 * and host_when.
 *  T1 (add, any thread). Insert the timer. If it is now earlier than
 *     host_when, the time the host's alarm is set for, lower host_when to
 *     it and call kick after unlocking: the host will run weft__timers_run
 *     (the kick is a message: loop.c coalesces kicks not yet run).
 *  T2 (weft__timers_run, the host). Under the lock, pop the earliest timer
 *     while it is due, mark it firing if it is `waited`, unlock, call its
 *     fire, clear firing (release), lock again. When none is due, set
 *     host_when to the earliest left (INT64_MAX: none) and return it; the
 *     host sets its alarm to it. A timer that is not `waited` is deleted
 *     only on the host's thread, and its fire may free it (an io op's,
 *     whose cancel may drop the op's last reference but the task's): T2
 *     does not touch it once fire is called.
 *  T3 (del, any thread). Under the lock: a queued timer is unlinked and
 *     will never fire (true). Otherwise it has fired or is firing (false);
 *     a thread that must not go on while the host may still touch what the
 *     timer names calls weft__timer_wait_fired, which spins (yielding)
 *     until firing is clear: fire is short and never blocks.
 * No lost alarm: the host's alarm is never set later than the earliest
 * timer, except between an add that lowered host_when and the run its
 * kick causes. T2 reads the heap after the host took the kick (loop.c's
 * kick flag is an acq_rel exchange on both sides, so a kick absorbed into
 * one not yet taken was made after its add, and the taking run sees the
 * add). A del only makes the earliest timer later: the alarm then rings
 * early, T2 finds nothing due and sets it again.
 * firing pairs: the host's release store of false after fire returns with
 * the acquire load in weft__timer_wait_fired, so everything fire did
 * happens before the waiter goes on (and frees the timer).
 */
#include "runtime.h"

#include <sched.h>

/* Make b a child of a (both roots); the earlier of the two is the root. */
static weft__timer *meld(weft__timer *a, weft__timer *b) {
  weft__timer *t;
  if (!a)
    return b;
  if (!b)
    return a;
  if (b->when < a->when) {
    t = a;
    a = b;
    b = t;
  }
  b->prev = a;
  b->next = a->child;
  if (a->child)
    a->child->prev = b;
  a->child = b;
  a->next = a->prev = NULL;
  return a;
}

/* The two-pass merge of a sibling list into one heap. */
static weft__timer *merge_siblings(weft__timer *first) {
  weft__timer *pairs = NULL, *a, *b, *next, *root = NULL;

  /* Pass 1, left to right: meld pairs, stacking the results on pairs
   * (linked through next). */
  while (first) {
    a = first;
    b = a->next;
    next = b ? b->next : NULL;
    a->next = a->prev = NULL;
    if (b)
      b->next = b->prev = NULL;
    a = meld(a, b);
    a->next = pairs;
    pairs = a;
    first = next;
  }
  /* Pass 2, right to left (the stack's order): meld into one. */
  while (pairs) {
    next = pairs->next;
    pairs->next = NULL;
    root = meld(root, pairs);
    pairs = next;
  }
  return root;
}

/* Take t (queued) out of the heap. */
static void unlink_timer(weft__timers *h, weft__timer *t) {
  weft__timer *sub;
  if (t == h->root) {
    h->root = merge_siblings(t->child);
  } else {
    if (t->prev->child == t) /* leftmost child: prev is the parent */
      t->prev->child = t->next;
    else
      t->prev->next = t->next;
    if (t->next)
      t->next->prev = t->prev;
    sub = merge_siblings(t->child);
    h->root = meld(h->root, sub);
  }
  t->child = t->next = t->prev = NULL;
  t->queued = false;
  atomic_store_explicit(&h->count, atomic_load_explicit(&h->count, memory_order_relaxed) - 1,
                        memory_order_relaxed);
}

void weft__timers_init(weft__timers *h) {
  weft__spin_init(&h->lock);
  h->root = NULL;
  h->host_when = INT64_MAX;
  atomic_init(&h->count, 0);
  atomic_init(&h->turns, 0);
}

void weft__timer_add(weft_rt *rt, weft__timer *t) {
  weft__timers *h = &rt->timers;
  bool kick = false;

  t->child = t->next = t->prev = NULL;
  atomic_store_explicit(&t->firing, false, memory_order_relaxed);
  weft__spin_lock(&h->lock); /* T1 */
  h->root = meld(h->root, t);
  t->queued = true;
  atomic_store_explicit(&h->count, atomic_load_explicit(&h->count, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  atomic_store_explicit(&h->turns, atomic_load_explicit(&h->turns, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  if (t->when < h->host_when) {
    h->host_when = t->when;
    kick = true;
  }
  weft__spin_unlock(&h->lock);
  if (kick)
    h->kick(rt->io);
}

bool weft__timer_del(weft_rt *rt, weft__timer *t) {
  weft__timers *h = &rt->timers;
  bool removed;
  weft__spin_lock(&h->lock); /* T3 */
  removed = t->queued;
  if (removed)
    unlink_timer(h, t);
  weft__spin_unlock(&h->lock);
  return removed;
}

void weft__timer_wait_fired(weft__timer *t) {
  /* Acquire: pairs with the release store after fire in weft__timers_run. */
  while (atomic_load_explicit(&t->firing, memory_order_acquire))
    sched_yield();
}

int64_t weft__timers_run(weft_rt *rt) {
  weft__timers *h = &rt->timers;
  weft__timer *t;
  int64_t next, now = weft_now(); /* once: what falls due meanwhile is
                                   * the next alarm's, which rings at once */

  weft__spin_lock(&h->lock); /* T2 */
  while ((t = h->root) && t->when <= now) {
    bool waited = t->waited; /* read before fire: it may free t */
    unlink_timer(h, t);
    if (waited)
      atomic_store_explicit(&t->firing, true, memory_order_relaxed);
    atomic_store_explicit(&h->turns, atomic_load_explicit(&h->turns, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    weft__spin_unlock(&h->lock);
    t->fire(t);
    if (waited) /* its owner waits for this before it frees t */
      atomic_store_explicit(&t->firing, false, memory_order_release);
    weft__spin_lock(&h->lock);
  }
  next = h->root ? h->root->when : INT64_MAX;
  h->host_when = next;
  weft__spin_unlock(&h->lock);
  return next;
}

bool weft__timers_quiet(weft_rt *rt, uint64_t *epoch) {
  *epoch += atomic_load_explicit(&rt->timers.turns, memory_order_relaxed);
  return atomic_load_explicit(&rt->timers.count, memory_order_relaxed) == 0;
}

long weft__timers_count(weft_rt *rt) {
  return atomic_load_explicit(&rt->timers.count, memory_order_relaxed);
}
