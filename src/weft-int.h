/*
 * weft-int.h - what every file of the library shares: small macros, the
 * always-on assertion, and the weft__ declarations that cross files.
 * Nothing here is installed.
 */
#ifndef WEFT_INT_H
#define WEFT_INT_H

#ifdef HAVE_CONFIG_H
#include "config.h" /* configure's choices: context back-end, valgrind.h */
#endif
#define WEFT_BUILDING 1
#include "weft.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define WEFT_CACHELINE 64

/*
 * A broken internal invariant is a bug, not an error code: WEFT_CHECK is
 * always on and aborts with what broke. WEFT_DEBUG_CHECK is compiled in
 * with --enable-debug only (it guards hot paths).
 */
_Noreturn void weft__fatal(const char *file, int line, const char *what);
#define WEFT_CHECK(cond)                                                                           \
  do {                                                                                             \
    if (unlikely(!(cond)))                                                                         \
      weft__fatal(__FILE__, __LINE__, #cond);                                                      \
  } while (0)
#ifdef WEFT_DEBUG
#define WEFT_DEBUG_CHECK(cond) WEFT_CHECK(cond)
#else
#define WEFT_DEBUG_CHECK(cond) ((void)0)
#endif

/* Relaxed counter bump for a field only one thread writes. */
#define WEFT_COUNT(field)                                                                          \
  atomic_store_explicit(&(field), atomic_load_explicit(&(field), memory_order_relaxed) + 1,         \
                        memory_order_relaxed)

/*
 * A sequentially consistent fence. ThreadSanitizer does not model
 * atomic_thread_fence, so under it the fence becomes a seq_cst
 * read-modify-write of a word that every party to the protocol also
 * updates: the RMWs are totally ordered on that word and each synchronises
 * with the one before, which orders the accesses around them the same way
 * the fences do. Pass the word the protocol shares.
 */
#include "sanitizer.h"
#ifdef WEFT_TSAN
#define weft__fence_sc(word) ((void)atomic_fetch_add_explicit((word), 0, memory_order_seq_cst))
#else
#define weft__fence_sc(word) ((void)(word), atomic_thread_fence(memory_order_seq_cst))
#endif

/*
 * A spinlock for critical sections of a few instructions (the registry's
 * list links, a task's wait_lock, a channel or lock's queue). The
 * exchange's acquire pairs with the release store in weft__spin_unlock.
 * Waiters spin on a plain load (test and test-and-set), so a contended lock
 * does not bounce its cache line on every try, and back off exponentially
 * between loads (1, 2, 4 ... WEFT__SPIN_PAUSE_MAX pause hints): each load
 * pulls the line away from the holder, which writes the channel's or
 * queue's fields beside the lock in its critical section, so a waiter that
 * reads less often lets it finish sooner (a contended channel on two
 * workers: 160 ns an element with one pause per load, 50 with backoff to
 * 64 pauses, 43 to 128; bench/RESULTS.md). With more workers than cores the holder may be
 * preempted, so a waiter that has paused WEFT__SPIN_YIELD_AFTER times
 * without the lock gives its core away.
 */
#include "cpu.h"

#include <sched.h>
#include <stdbool.h>
typedef atomic_bool weft__spinlock;

static inline void weft__spin_init(weft__spinlock *l) {
  atomic_init(l, false);
}

#define WEFT__SPIN_PAUSE_MAX 128
#define WEFT__SPIN_YIELD_AFTER 512

static inline void weft__spin_lock(weft__spinlock *l) {
  unsigned pause = 1, paused = 0;
  while (atomic_exchange_explicit(l, true, memory_order_acquire)) {
    do {
      if (paused >= WEFT__SPIN_YIELD_AFTER) {
        sched_yield();
        paused = 0;
        pause = 1;
        continue;
      }
      for (unsigned i = 0; i < pause; i++)
        weft__cpu_relax();
      paused += pause;
      if (pause < WEFT__SPIN_PAUSE_MAX)
        pause *= 2;
    } while (atomic_load_explicit(l, memory_order_relaxed));
  }
}

static inline void weft__spin_unlock(weft__spinlock *l) {
  atomic_store_explicit(l, false, memory_order_release);
}

size_t weft__page_size(void);

#endif /* WEFT_INT_H */
