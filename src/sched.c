/*
 * sched.c - workers: the run loop, run queues, stealing, parking, waking.
 * docs/design.md places these protocols among the others: section 5.1
 * ("park"), 5.2 ("runnext"), 5.3 (stealing), 5.4 (the injection queue),
 * 5.5 (yielding).
 *
 * Concepts
 * --------
 * A runtime has N workers, each a thread with a scheduler context (its own
 * thread stack) from which it switches into tasks and to which tasks switch
 * back. Ready tasks sit in one of:
 *  - the worker's Chase-Lev deque (deque.c): the owner pushes and pops at
 *    the bottom, LIFO, so a freshly spawned or woken task runs next while
 *    its data is warm; thieves take the oldest from the top;
 *  - the runtime's injection queue: tasks made ready by threads that are not
 *    workers of this runtime (foreign spawners, the I/O thread), and tasks
 *    that yielded while others were ready; a mutex-guarded FIFO with a
 *    lock-free length for cheap emptiness checks.
 * A task that calls weft_yield lets the worker's other ready tasks run
 * first: the deque's, then the injection queue's oldest (sched_yield_fast
 * switches to that one and leaves the yielder in the then empty deque), and
 * when the deque still holds others, the yielder goes to the back of the
 * injection queue (Go's Gosched does the same). A task that loops on
 * weft_yield thus never runs before the other ready tasks, two yielders
 * settle in the deque without a lock, and a yielder always sits where any
 * worker can take it, even when the task that runs instead blocks its
 * thread.
 *
 *  - the worker's next-to-run slot, runnext: the task that the worker's
 *    running task (or its scheduler) made ready last. See "runnext".
 *
 * Finding work (next_task), in order:
 *   1. every 61st tick: the injection queue, then the oldest task of the own
 *      deque (stolen from its top). LIFO order alone would let two tasks
 *      that wake each other run forever on the bottom while older tasks
 *      wait; this bounds every ready task's wait. (61 is Go's figure.)
 *   2. the own runnext slot, then the own deque (bottom);
 *   3. the injection queue (its oldest task);
 *   4. searching: steal half of a victim's deque, victims in random order,
 *      and the injection queue, a few rounds; then the same, more slowly,
 *      for a while longer, and a stuck victim's runnext (linger);
 *   5. park.
 * At most half of the workers search at once (step 4), as in Go and
 * Tokio: searching workers burn CPU the busy ones could use.
 *
 * Protocol "park" (no lost wakeups: work made available is always seen)
 * ----------------------------------------------------------------------
 * Making work available ("producer": a push to a deque, the injection
 * queue) and going to sleep ("parker") are ordered like Dekker's algorithm:
 *
 *   producer                              parker
 *   P1 publish the task (release)         K1 park_word = 1
 *   P2 seq_cst fence                      K2 under idle_lock: join idle_list,
 *   P3 read nsearching and nidle;            nidle++; stop searching first
 *      if nobody searches and someone     K3 seq_cst fence
 *      is idle: claim nsearching 0 -> 1,  K4 look at every deque and the
 *      pop an idle worker, park_word = 0,    injection queue; if anything
 *      futex_wake it                         is there, leave idle_list (or,
 *                                            if a producer already took us
 *                                            off it, accept its wakeup)
 *                                         K5 sleep while park_word == 1
 *
 * The fences P2 and K3 are totally ordered. If K3 comes first, P3 sees the
 * parker counted in nidle (K2 precedes K3) and wakes a worker; if P2 comes
 * first, K4 sees the task. So either the task is seen by the parker or the
 * producer wakes someone. A producer that sees a searching worker leaves the
 * wakeup to it: a searcher that stops searching does K2-K4 itself, and one
 * that finds work while it is the last searcher wakes another (Go's rule
 * in resetspinning), so a burst of work spreads over the idle workers.
 * The futex word itself: K5 reads it with acquire, the waker's store of 0 is
 * a release, and FUTEX_WAIT rechecks it in the kernel, so a wake between K4
 * and the sleep is not lost.
 *
 * An idle runtime uses next to no CPU: parked workers sleep in FUTEX_WAIT,
 * and one of them in epoll_wait on the sockets' set (see "park" K5 by
 * polling, at park_poll), with no timeout (after one timed wait that
 * gives memory back, see idle_trim); the only clock is the I/O thread's
 * tick, ten times a second, a few microseconds each (weft__sched_rescue,
 * monitor.c and the netpoll backstop).
 *
 * Protocol "runnext" (a woken task stays with its waker)
 * ------------------------------------------------------
 * When a task wakes another (a channel send to a parked receiver, a mutex
 * handoff, a spawn), the woken task goes to the waker's worker's runnext
 * slot, and the task that was there, if any, moves to the deque. The
 * waker usually blocks soon after (it waits for the answer), and its worker
 * then runs the woken task at once, on a warm cache, with no other thread
 * involved. Were the woken task in the deque, the worker that
 * weft__sched_notify wakes would steal it, and every round trip of two
 * tasks would cross threads twice, each time through a futex wake: the
 * cost that made a ping-pong on two workers seven times slower than on
 * one. Go's runnext and Tokio's LIFO slot do the same.
 *
 * Ownership. Only the owner stores into the slot (weft__ready on a worker
 * runs on that worker's thread); the owner and thieves take from it, the
 * owner with an exchange, thieves with a compare-exchange, so a task is
 * taken once. The store is a release and every take an acquire: the taker
 * sees the task as its waker left it (saved context, TASK_READY), as with
 * the deque.
 *
 * Thieves and the grace period. A thief takes a victim's runnext only at
 * the end of its search (linger), and only if the victim has not switched
 * tasks during RUNNEXT_GRACE_NS: a worker that switches that often will run the
 * task itself, at once; one that does not is held by a long-running task,
 * and the woken task must not wait behind it. (Go sleeps for a few
 * microseconds the same way.) The wait also keeps the thief searching,
 * so the wakeups of a busy pair of tasks find it still awake and do not
 * each pay for a futex wake.
 *
 * No lost wakeup. weft__ready still runs the "park" producer side
 * (weft__sched_notify), so an idle worker is woken as before. A task in a
 * runnext slot is always run: its owner looks at the slot before anything
 * else (next_task), and before it would park (search); the owner's slot
 * is filled only by the owner itself, so it cannot fill while the owner
 * sleeps. The one case where the owner does not schedule again soon is a
 * task that holds its thread: then a searching worker takes the slot after
 * the grace period, and if every other worker sleeps, the liveness rescue
 * sees the stuck worker with its slot full and wakes one
 * (weft__sched_rescue), as it does for a deque behind a stuck task. "park" K4 does not count
 * runnext slots as visible work on purpose: a parker that saw its peer's
 * slot full would search again and again while the peer ping-pongs, and
 * burn its core for nothing.
 *
 * Alternatives rejected: a condition variable per worker (a mutex on every
 * wake; the futex word needs none), a global run queue only (contended on
 * every spawn), unbounded spinning before sleep (burns the idle cores).
 */
#define _GNU_SOURCE
#include "runtime.h"

#include "sanitizer.h"

#include <errno.h>
#include <sched.h>
#include <linux/futex.h>
#include <time.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <sys/syscall.h>
#include <unistd.h>

#define FAIR_TICKS 61
#define SEARCH_ROUNDS 64 /* about 10-50 us of looking before sleeping */
/* A victim this long without a switch is stuck ("runnext"). Longer than a
 * system call takes on a virtual machine (a futex wake there can take
 * several microseconds), or a busy worker would lose its woken task to a
 * thief in the middle of a wake. */
#define RUNNEXT_GRACE_NS 50000
#define RUNNEXT_POLL_NS 5000 /* how often a searcher looks for work meanwhile */

static void futex_wait(atomic_uint *word, unsigned val) {
  syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

/* As futex_wait, giving up after ms milliseconds. Returns false on timeout. */
static bool futex_wait_ms(atomic_uint *word, unsigned val, long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
  return syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0) == 0 ||
         errno != ETIMEDOUT;
}

static void futex_wake(atomic_uint *word) {
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static uint32_t rng_next(weft__worker *w) {
  /* xorshift64*: victim choice needs spread, not quality. */
  w->rng ^= w->rng >> 12;
  w->rng ^= w->rng << 25;
  w->rng ^= w->rng >> 27;
  return (uint32_t)((w->rng * UINT64_C(2685821657736338717)) >> 32);
}

/* ---- the injection queue ---- */

void weft__inject(weft_rt *rt, weft_task *t) {
  t->next = NULL;
  pthread_mutex_lock(&rt->inj_lock);
  if (rt->inj_tail)
    rt->inj_tail->next = t;
  else
    rt->inj_head = t;
  rt->inj_tail = t;
  atomic_store_explicit(&rt->inj_len, atomic_load_explicit(&rt->inj_len, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  pthread_mutex_unlock(&rt->inj_lock);
}

/*
 * Take the oldest task from the injection queue. One at a time, not a
 * batch: a batch moved into the deque would pop newest first (the owner's
 * end is LIFO), so tasks woken in deadline order would run out of order;
 * and a worker that finds more waiting here wakes another to share it.
 * Owner worker only.
 */
static weft_task *inject_take(weft__worker *w) {
  weft_rt *rt = w->rt;
  weft_task *t;
  long len;

  if (atomic_load_explicit(&rt->inj_len, memory_order_relaxed) == 0)
    return NULL;
  pthread_mutex_lock(&rt->inj_lock);
  t = rt->inj_head;
  if (t) {
    rt->inj_head = t->next;
    if (!rt->inj_head)
      rt->inj_tail = NULL;
  }
  len = atomic_load_explicit(&rt->inj_len, memory_order_relaxed) - (t != NULL);
  atomic_store_explicit(&rt->inj_len, len, memory_order_relaxed);
  pthread_mutex_unlock(&rt->inj_lock);
  if (t)
    WEFT_COUNT(w->n.injected);
  if (len > 0)
    weft__sched_notify(rt);
  return t;
}

/* ---- making tasks ready ---- */

/*
 * Make t runnable. On a worker of t's runtime it goes to that worker's
 * runnext slot (it runs next there), and the slot's previous task to the
 * deque bottom; anywhere else to the injection queue. Then the "park"
 * protocol's producer side. Any thread.
 */
void weft__ready(weft_task *t) {
  weft__worker *w = weft__worker_current();
  weft_rt *rt = t->rt;

  WEFT_DEBUG_CHECK(t->magic == WEFT_TASK_MAGIC);
  WEFT_DEBUG_CHECK(atomic_load_explicit(&t->state, memory_order_relaxed) != TASK_RUNNING);
  atomic_store_explicit(&t->state, TASK_READY, memory_order_relaxed);
  if (w && w->rt == rt) {
    /* "runnext": the release publishes t; the acquire takes ownership
     * of the task displaced, which a thief may have taken meanwhile. */
    weft_task *old = atomic_exchange_explicit(&w->runnext, t, memory_order_acq_rel);
    if (old && !weft__deque_push(&w->dq, old))
      weft__inject(rt, old);
  } else {
    weft__inject(rt, t);
  }
  weft__sched_notify(rt);
}

/* The own runnext slot's task, taken, or NULL. Owner worker only. */
static weft_task *runnext_take(weft__worker *w) {
  if (!atomic_load_explicit(&w->runnext, memory_order_relaxed))
    return NULL;
  return atomic_exchange_explicit(&w->runnext, NULL, memory_order_acquire);
}

/* Wake parked worker w, taken off the idle list: "park" P3's wake, on
 * whichever it sleeps on (K5). The store is seq_cst, and so is the load
 * of in_poll: with K5-by-polling's store of in_poll and load of park_word
 * (Q1, Q2), at least one side sees the other's store, so a worker that
 * saw park_word 1 and went to sleep on the sockets' set is kicked. The
 * store also releases to K5's acquire loads. Any thread. */
static void unpark(weft_rt *rt, weft__worker *w) {
  atomic_store(&w->park_word, 0);
  if (atomic_load(&w->in_poll))
    rt->idle_kick(rt->io);
  else
    futex_wake(&w->park_word);
}

/* Wake one idle worker as a searcher if nobody is searching ("park", P2-P3).
 * Any thread. */
void weft__sched_notify(weft_rt *rt) {
  unsigned zero = 0;
  weft__worker *w;

  weft__fence_sc(&rt->fence); /* P2; pairs with K3 in park() */
  if (atomic_load_explicit(&rt->nsearching, memory_order_relaxed) != 0 ||
      atomic_load_explicit(&rt->nidle, memory_order_relaxed) == 0)
    return;
  if (!atomic_compare_exchange_strong(&rt->nsearching, &zero, 1))
    return;
  pthread_mutex_lock(&rt->idle_lock);
  w = rt->idle_list;
  if (w) {
    rt->idle_list = w->idle_next;
    w->idle = false;
    atomic_fetch_sub(&rt->nidle, 1);
  }
  pthread_mutex_unlock(&rt->idle_lock);
  if (!w) {
    atomic_fetch_sub(&rt->nsearching, 1);
    return;
  }
  /* The woken worker runs as a searcher: the nsearching we claimed is
   * now its. */
  unpark(rt, w);
}

/*
 * The liveness rescue, on the I/O thread's tick (rt.c registers it). A
 * worker whose progress has not moved since the last tick while it runs a
 * task is stuck on that task (it blocks its thread, or computes without
 * yielding). Tasks queued behind it must not wait for it: a worker that
 * parked without seeing them (a yield skips the "park" fence, and "park"
 * K4 ignores runnext slots) is woken to steal them, through
 * weft__sched_notify and its fence. The reads are relaxed samples; a stale
 * one is retried on the next tick.
 */
void weft__sched_rescue(weft_rt *rt) {
  for (unsigned i = 0; i < rt->nworkers; i++) {
    weft__worker *w = &rt->workers[i];
    uint64_t p = weft__worker_progress(w);
    if (!atomic_load_explicit(&w->running, memory_order_relaxed) || p != w->rescue_progress) {
      w->rescue_progress = p;
      continue;
    }
    if ((weft__deque_size(&w->dq) > 0 ||
         atomic_load_explicit(&w->runnext, memory_order_relaxed) != NULL ||
         atomic_load_explicit(&rt->inj_len, memory_order_relaxed) > 0) &&
        atomic_load_explicit(&rt->nidle, memory_order_relaxed) > 0)
      weft__sched_notify(rt);
  }
}

/* Wake every parked worker to exit. Any thread. */
void weft__sched_stop(weft_rt *rt) {
  weft__worker *w;

  atomic_store(&rt->stop, true); /* seq_cst: parkers see it at K4 */
  pthread_mutex_lock(&rt->idle_lock);
  while ((w = rt->idle_list)) {
    rt->idle_list = w->idle_next;
    w->idle = false;
    atomic_fetch_sub(&rt->nidle, 1);
    unpark(rt, w);
  }
  pthread_mutex_unlock(&rt->idle_lock);
}

/* ---- finding work ---- */

/* Steal up to half of victim's deque into w's; returns the first. */
static weft_task *steal_from(weft__worker *w, weft__worker *victim) {
  long want = (weft__deque_size(&victim->dq) + 1) / 2;
  weft_task *first = NULL, *t;
  bool lost = false;
  uint64_t got = 0;

  WEFT_COUNT(w->n.steal_attempts);
  for (long i = 0; i < want; i++) {
    t = weft__deque_steal(&victim->dq, &lost);
    if (!t)
      break;
    got++;
    if (!first)
      first = t;
    else if (!weft__deque_push(&w->dq, t))
      weft__inject(w->rt, t);
  }
  if (got && victim != w)
    atomic_store_explicit(&w->n.steals,
                          atomic_load_explicit(&w->n.steals, memory_order_relaxed) + got,
                          memory_order_relaxed);
  return first;
}

static int64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static weft_task *steal_any(weft__worker *w) {
  weft_rt *rt = w->rt;
  unsigned n = rt->nworkers, start = rng_next(w) % n;
  weft_task *t;

  for (unsigned i = 0; i < n; i++) {
    weft__worker *v = &rt->workers[(start + i) % n];
    if (v == w || weft__deque_size(&v->dq) == 0)
      continue;
    if ((t = steal_from(w, v)))
      return t;
  }
  return NULL;
}

/*
 * The end of a search ("runnext", thieves): for RUNNEXT_GRACE_NS, look for
 * work every RUNNEXT_POLL_NS, and take the runnext task of a victim that
 * has not switched tasks for the whole grace period. The victims' switch
 * counts are read once per poll, not in a tight loop: each victim writes
 * that line on every switch, and polling it would slow down the workers
 * we wait for. The worker stays counted as searching throughout, so the
 * producers it watches skip their futex wakes. With netpoll (tasks wait
 * on sockets) each poll also reads the sockets' ready events (the
 * idle_poll hook). Owner worker only.
 */
static weft_task *linger(weft__worker *w, bool netpoll) {
  weft_rt *rt = w->rt;
  unsigned n = rt->nworkers;
  uint64_t seen[n];
  int64_t since[n], now = monotonic_ns(), end = now + RUNNEXT_GRACE_NS;
  weft_task *t;

  for (unsigned i = 0; i < n; i++) {
    seen[i] = atomic_load_explicit(&rt->workers[i].n.switches, memory_order_relaxed);
    since[i] = now;
  }
  while (now < end) {
    int64_t poll = now + RUNNEXT_POLL_NS;
    /* With more workers than cores, the busy worker we wait for may need
     * this core: give way while spinning. So too while tasks wait on
     * sockets: what makes them ready is the other end of a connection,
     * often a program on this machine and always the kernel's network
     * path, which need the core more than a spin does, and a sleeper on
     * the sockets' set is woken by the kernel anyway ("park" K5 by
     * polling). On two cores, echo at 2 workers served about 1.4 times
     * the requests with the yield as without (bench/RESULTS.md). Otherwise
     * keep the core: a yield to another program can cost milliseconds on a
     * loaded machine, and a task woken by a channel send would wait that
     * long. */
    while ((now = monotonic_ns()) < poll) {
      if (rt->oversubscribed || netpoll)
        sched_yield();
      else
        weft__cpu_relax();
    }
    if (netpoll && rt->idle_poll(rt->io) > 0 &&
        ((t = runnext_take(w)) || (t = weft__deque_pop(&w->dq))))
      return t;
    if ((t = runnext_take(w)) || (t = weft__deque_pop(&w->dq)) || (t = inject_take(w)) ||
        (n > 1 && (t = steal_any(w))))
      return t;
    for (unsigned i = 0; i < n; i++) {
      weft__worker *v = &rt->workers[i];
      uint64_t sw = atomic_load_explicit(&v->n.switches, memory_order_relaxed);
      if (v == w || !(t = atomic_load_explicit(&v->runnext, memory_order_relaxed)))
        continue;
      if (sw != seen[i]) {
        seen[i] = sw; /* it schedules: it will run the task itself */
        since[i] = now;
      } else if (now - since[i] >= RUNNEXT_GRACE_NS) {
        /* An attempt, as steal_from counts one (weft_stats: steals never
         * exceed steal_attempts). */
        WEFT_COUNT(w->n.steal_attempts);
        if (atomic_compare_exchange_strong_explicit(&v->runnext, &t, NULL, memory_order_acquire,
                                                    memory_order_relaxed)) {
          WEFT_COUNT(w->n.steals);
          return t;
        }
      }
    }
  }
  return NULL;
}

/* Anything runnable anywhere? ("park", K4) */
static bool work_visible(weft_rt *rt) {
  if (atomic_load_explicit(&rt->inj_len, memory_order_relaxed) > 0)
    return true;
  for (unsigned i = 0; i < rt->nworkers; i++)
    if (weft__deque_size(&rt->workers[i].dq) > 0)
      return true;
  return false;
}

static void start_searching(weft__worker *w) {
  if (!w->searching) {
    w->searching = true;
    atomic_fetch_add(&w->rt->nsearching, 1);
  }
}

/* Stop searching; the last searcher that found work wakes another. */
static void stop_searching(weft__worker *w, bool found) {
  if (!w->searching)
    return;
  w->searching = false;
  if (atomic_fetch_sub(&w->rt->nsearching, 1) == 1 && found)
    weft__sched_notify(w->rt);
}

/*
 * Giving memory back. A worker that has run tasks since it last trimmed
 * sleeps with a timeout; if it stays idle that long, it returns its cached
 * stacks to the pool, the pool unmaps every chunk whose stacks are all
 * free and releases the touched pages of the other free stacks, and the
 * C library returns free heap. So the memory a burst of tasks used goes
 * back to the system once the burst is over, at no cost while tasks keep
 * coming. The worker stays on the idle list throughout: a wakeup that
 * arrives meanwhile is seen by the K5 loop as soon as the trim ends, and
 * the trim touches only the worker's own cache and the locked pools.
 */
#define IDLE_TRIM_MS 1000

static void idle_trim(weft__worker *w) {
  w->trim_switches = atomic_load_explicit(&w->n.switches, memory_order_relaxed);
  weft__stack_cache_drain(&w->stacks);
  weft__task_cache_drain(w);
  weft__stacks_trim(&w->rt->stacks);
#if defined(__GLIBC__) && !defined(WEFT_ASAN) && !defined(WEFT_TSAN)
  /* Under a sanitizer the heap is the sanitizer's allocator, not glibc's:
   * malloc_trim would walk glibc arenas that the sanitizer never set up
   * (AddressSanitizer faults in mtrim), and there is nothing of ours there
   * to give back. */
  malloc_trim(0);
#endif
}

/* Leave the idle list if still on it ("park" K4, and K5 by polling).
 * Returns false when a producer took the worker off it first: then its
 * wakeup, and the search count it claimed for the worker, are on their
 * way. Owner worker. */
static bool idle_leave(weft__worker *w) {
  weft_rt *rt = w->rt;
  bool was_idle;
  pthread_mutex_lock(&rt->idle_lock);
  was_idle = w->idle;
  if (was_idle) {
    weft__worker **p = &rt->idle_list;
    while (*p != w)
      p = &(*p)->idle_next;
    *p = w->idle_next;
    w->idle = false;
    atomic_fetch_sub(&rt->nidle, 1);
  }
  pthread_mutex_unlock(&rt->idle_lock);
  return was_idle;
}

/* "park" K5 by polling: the parked worker that holds rt->poller sleeps on
 * the sockets' epoll set (io/netpoll.c) instead of its futex, so a socket
 * that becomes ready wakes it straight from the kernel, with no trip
 * through the I/O thread. Go's scheduler and Tokio's workers park the
 * same way, one thread at a time on the poller.
 *
 *   Q1 in_poll = 1 (seq_cst)
 *   Q2 if park_word == 1 (seq_cst): sleep on the waiting set (the epoll
 *      set and the kick, level-triggered), then read a batch of the
 *      set's events, its tasks readied on this worker (idle_block)
 *   Q3 in_poll = 0 (seq_cst)
 *   Q4 if the batch readied tasks here, leave the idle list and search
 *
 * Why no wakeup is lost. Work pushed while it sleeps: the producer that
 * takes this worker off the idle list stores park_word = 0 and then loads
 * in_poll (unpark, S and L), all seq_cst. If Q2 read 1, S follows Q2 in
 * the total order, so L follows Q1 and reads 1 (the producer kicks,
 * which the sleep sees, or will see on entry: the kick is level-
 * triggered until read), or reads a Q3 of a sleep that has ended, after
 * which the next Q2 follows S and reads 0. A socket that becomes ready:
 * its event stays in the set until someone reads it; the waiting set is
 * readable meanwhile, so the sleep does not start or ends. Stop: as a
 * producer (weft__sched_stop unparks every idle worker).
 * Who reads the set when no worker sleeps on it: searching workers
 * (search, linger), busy workers every FAIR_TICKS ticks (next_task), the
 * next worker to park, and the I/O thread's tick as a backstop. A poller
 * that readies tasks starts searching; the last searcher to find work
 * wakes another (stop_searching), which parks again and takes the role
 * when it finds nothing, so a worker that then runs a long task does not
 * leave the set unread while others sleep on their futexes.
 *
 * Returns true when it readied tasks and left the idle list itself (the
 * caller counts it as searching); false when it was woken (park_word is
 * 0) or a producer took it off the list (its wakeup is on its way: the
 * futex loop accepts it). Owner worker. */
static bool park_poll(weft__worker *w) {
  weft_rt *rt = w->rt;
  while (atomic_load_explicit(&w->park_word, memory_order_acquire) == 1) {
    bool trim = w->trim_switches != atomic_load_explicit(&w->n.switches, memory_order_relaxed);
    int events = 0;
    atomic_store(&w->in_poll, true);         /* Q1 */
    if (atomic_load(&w->park_word) == 1)     /* Q2, and the sleep */
      events = rt->idle_block(rt->io, trim ? IDLE_TRIM_MS : -1);
    atomic_store(&w->in_poll, false);        /* Q3 */
    if (events < 0 && atomic_load_explicit(&w->park_word, memory_order_acquire) == 1)
      idle_trim(w);
    if (events > 0 && /* Q4: idle_block read the batch */
        (atomic_load_explicit(&w->runnext, memory_order_relaxed) || weft__deque_size(&w->dq) > 0))
      return idle_leave(w);
  }
  return false;
}

/* "park", K1-K5. Returns when there may be work (or on stop). */
static void park(weft__worker *w) {
  weft_rt *rt = w->rt;
  weft__worker *none = NULL;

  atomic_store_explicit(&w->park_word, 1, memory_order_relaxed); /* K1 */
  pthread_mutex_lock(&rt->idle_lock);                             /* K2 */
  w->idle = true;
  w->idle_next = rt->idle_list;
  rt->idle_list = w;
  atomic_fetch_add(&rt->nidle, 1);
  pthread_mutex_unlock(&rt->idle_lock);
  weft__fence_sc(&rt->fence); /* K3; pairs with P2 */
  if (work_visible(rt) || atomic_load(&rt->stop)) { /* K4 */
    if (idle_leave(w))
      return;
    /* A producer took us off the list: accept its wakeup below. */
  }
  WEFT_COUNT(w->n.parks);
  if (rt->idle_block && atomic_compare_exchange_strong(&rt->poller, &none, w)) {
    bool left = park_poll(w);
    atomic_store_explicit(&rt->poller, NULL, memory_order_release);
    if (left) {
      start_searching(w);
      return;
    }
  }
  while (atomic_load_explicit(&w->park_word, memory_order_acquire) == 1) { /* K5 */
    if (w->trim_switches == atomic_load_explicit(&w->n.switches, memory_order_relaxed)) {
      futex_wait(&w->park_word, 1);
    } else if (!futex_wait_ms(&w->park_word, 1, IDLE_TRIM_MS) &&
               atomic_load_explicit(&w->park_word, memory_order_acquire) == 1) {
      idle_trim(w);
    }
  }
  if (!atomic_load(&rt->stop))
    w->searching = true; /* the waker counted us in nsearching */
}

/* Steps 5-6 of finding work. Returns NULL only when the runtime stops. */
static weft_task *search(weft__worker *w) {
  weft_rt *rt = w->rt;
  weft_task *t;

  for (;;) {
    if (atomic_load_explicit(&rt->stop, memory_order_relaxed))
      return NULL;
    if (w->searching || 2 * atomic_load(&rt->nsearching) < rt->nworkers) {
      start_searching(w);
      for (int round = 0; round < SEARCH_ROUNDS; round++) {
        if ((t = runnext_take(w)) || (t = weft__deque_pop(&w->dq)) || (t = inject_take(w)) ||
            (rt->nworkers > 1 && (t = steal_any(w)))) {
          stop_searching(w, true);
          return t;
        }
        weft__cpu_relax();
      }
      /* Sockets that became ready: their tasks are readied here, on this
       * worker, rather than through the I/O thread (protocol "netpoll");
       * and again while the worker lingers. (Lingering for sockets alone,
       * with one worker, was tried: on two cores the spinning took the
       * time the I/O thread and the peer needed, and gained nothing.) */
      int np = rt->idle_poll ? rt->idle_poll(rt->io) : -1;
      if (np > 0 && ((t = runnext_take(w)) || (t = weft__deque_pop(&w->dq)))) {
        stop_searching(w, true);
        return t;
      }
      if (rt->nworkers > 1 && (t = linger(w, np >= 0))) {
        stop_searching(w, true);
        return t;
      }
      stop_searching(w, false);
    }
    park(w);
  }
}

static weft_task *next_task(weft__worker *w) {
  weft_task *t;
  bool lost = false;

  if (++w->tick % FAIR_TICKS == 0) {
    /* A busy worker reads the sockets' events too ("park", K5 by
     * polling: who reads the set); their tasks queue here. */
    if (w->rt->idle_poll)
      w->rt->idle_poll(w->rt->io);
    if ((t = inject_take(w)) || (t = weft__deque_steal(&w->dq, &lost)))
      return t;
  }
  if ((t = runnext_take(w)) || (t = weft__deque_pop(&w->dq)) || (t = inject_take(w)))
    return t;
  return search(w);
}

/* ---- switching ---- */

/*
 * Leave task t for w's scheduler, which then performs w->action. Returns
 * when t is resumed, possibly on another worker. The caller must not use
 * w afterwards. Task only; may switch.
 */
void weft__switch_out(weft__worker *w, weft_task *t, bool exiting) {
  WEFT_DEBUG_CHECK(w->current == t && w->action != ACT_NONE);
  weft__asan_start_switch(exiting ? NULL : t->cur_fake, w->stack_lo, w->stack_size);
  weft__tsan_switch(w->tsan_fiber);
  weft__ctx_switch(&t->ctx, &w->sched);
  weft__asan_finish_switch(*t->cur_fake);
  weft__resumed();
}

/*
 * Queue the yielding task t (see "Concepts"): into the deque if that is
 * empty (unless behind_injected and the injection queue has tasks: the
 * scheduler, which queues t before choosing, must then take those first),
 * else into the injection queue (which always notifies).
 *
 * Why no wakeup is lost when the deque push skips the "park" fence: the
 * yielder sits in its own worker's deque, and that worker looks at its own
 * deque before it parks (next_task, and "park" K4 looks at every deque),
 * so it runs the yielder itself at the latest when it next schedules. The
 * plain load of nidle can only miss a worker that parks at that moment;
 * then the yielder merely waits for its own worker. The one case where its
 * own worker never schedules again is a task that blocks the thread: the
 * liveness rescue (weft__sched_rescue) sees that worker stuck with tasks
 * queued and an idle worker, and wakes it through weft__sched_notify,
 * fence included; a stale view there is retried on the next tick, 100 ms
 * later.
 */
void weft__yield_enqueue(weft__worker *w, weft_task *t, bool behind_injected) {
  weft_rt *rt = w->rt;
  atomic_store_explicit(&t->state, TASK_READY, memory_order_relaxed);
  if (weft__deque_size(&w->dq) == 0 &&
      !(behind_injected && atomic_load_explicit(&rt->inj_len, memory_order_relaxed) > 0) &&
      weft__deque_push(&w->dq, t)) {
    if (atomic_load_explicit(&rt->nidle, memory_order_relaxed) > 0)
      weft__sched_notify(rt);
    return;
  }
  weft__inject(rt, t);
  weft__sched_notify(rt);
}

/* Make t w's running task and switch to it from the context `from` (the
 * scheduler's or a yielding task's), telling the sanitizers. Returns when
 * something switches back to `from`. Owner worker; switches. */
static void switch_into(weft__worker *w, weft_task *t, weft_ctx *from, void **asan_save) {
  w->current = t;
  atomic_store_explicit(&w->running, t, memory_order_relaxed);
  atomic_store_explicit(&t->last_worker, w->idx, memory_order_relaxed);
  atomic_store_explicit(&t->state, TASK_RUNNING, memory_order_relaxed);
  WEFT_COUNT(w->n.switches);
  weft__asan_start_switch(asan_save, t->cur_stack->lo, t->cur_stack->size);
  weft__tsan_switch(t->cur_fiber);
  weft__ctx_switch(from, &t->ctx);
  weft__asan_finish_switch(*asan_save);
}

/*
 * weft_yield's fast path: switch from t straight to the next task of this
 * worker, without a round trip through the scheduler context. It takes
 * what next_task would take (the deque's bottom, else the injection
 * queue's oldest) and leaves the fairness tick and an unstarted task to
 * the scheduler (returns false). Returns true when t may simply continue
 * (it ran again, or nothing else was ready).
 *
 * t must not be queued before the switch has saved its context (task.c,
 * protocol "park"): a thief could resume it while it still runs
 * here. So t is left in w->pending_yield, and the task the switch resumes
 * queues it (weft__resumed) once it runs, t's context saved by then.
 * Every place a task resumes calls weft__resumed: here, after the switch,
 * and weft__switch_out; a task's first run never follows a fast yield.
 * Task only; may switch.
 */
static bool sched_yield_fast(weft__worker *w, weft_task *t) {
  weft_task *next;

  WEFT_COUNT(w->n.yields);
  if ((w->tick + 1) % FAIR_TICKS == 0)
    return false;
  if (!(next = runnext_take(w)))
    next = weft__deque_pop(&w->dq);
  /* The deque is empty: the injection queue's oldest runs before t, which
   * then waits in the deque (so two yielders settle there, lock-free). */
  if (!next && !(next = inject_take(w)))
    return true; /* alone here */
  if (!next->started) {
    if (!weft__deque_push(&w->dq, next))
      weft__inject(w->rt, next);
    return false; /* its first run belongs to the scheduler */
  }
  w->tick++;
  if (unlikely(!weft__stack_intact(t->cur_stack)))
    weft__overflow_report(t);
  w->pending_yield = t;
  switch_into(w, next, &t->ctx, t->cur_fake);
  weft__resumed();
  return true;
}

/* t, running on w, yields: the fast path, else through the scheduler
 * context (ACT_YIELD). Task only; may switch. */
void weft__yield(weft__worker *w, weft_task *t) {
  if (sched_yield_fast(w, t))
    return;
  w->action = ACT_YIELD;
  weft__switch_out(w, t, false);
}

/* The cooperative budget ran out (runtime.h): yield, then refill. */
void weft__budget_exhausted(weft__worker *w) {
  w->budget = WEFT__BUDGET;
  weft__yield(w, w->current);
}

/* Queue the task that yielded straight to the one now running. */
void weft__resumed(void) {
  weft__worker *w = weft__worker_current();
  weft_task *y = w->pending_yield;
  if (unlikely(y != NULL)) {
    w->pending_yield = NULL;
    weft__yield_enqueue(w, y, false);
  }
}

/* What t asked for when it switched back to the scheduler context, done
 * off its stack (its context is saved). Owner worker. */
static void after_switch(weft__worker *w, weft_task *t) {
  switch (w->action) {
  case ACT_YIELD:
    weft__yield_enqueue(w, t, true); /* the scheduler next takes injected tasks first */
    break;
  case ACT_PARK:
    weft__task_parked(w, t); /* task.c, "park" step 2 */
    break;
  case ACT_EXIT:
    weft__task_exit(w, t);
    break;
  default:
    weft__fatal(__FILE__, __LINE__, "a task switched out with no action");
  }
}

/* Run t until it switches back, then do what it asked. Owner worker. */
static void run(weft__worker *w, weft_task *t) {
  if (unlikely(!t->started))
    weft__task_run_first(t);
  w->action = ACT_NONE;
  switch_into(w, t, &w->sched, &w->asan_fake);
  t = w->current; /* the task that switched back: t may have yielded to it */
  WEFT_DEBUG_CHECK(t && t->magic == WEFT_TASK_MAGIC);
  w->current = NULL;
  atomic_store_explicit(&w->running, NULL, memory_order_relaxed);
  if (unlikely(!weft__stack_intact(t->cur_stack)))
    weft__overflow_report(t);
  after_switch(w, t);
}

static void thread_stack(weft__worker *w) {
  pthread_attr_t a;
  w->stack_lo = NULL;
  w->stack_size = 0;
  if (pthread_getattr_np(pthread_self(), &a) == 0) {
    pthread_attr_getstack(&a, &w->stack_lo, &w->stack_size);
    pthread_attr_destroy(&a);
  }
}

void *weft__worker_main(void *arg) {
  weft__worker *w = arg;
  weft_task *t;

  weft__worker_set_current(w);
  thread_stack(w);
  w->tsan_fiber = weft__tsan_current();
  weft__altstack_start(w);
  while ((t = next_task(w)))
    run(w, t);
  weft__altstack_stop(w);
  weft__stack_cache_drain(&w->stacks);
  weft__task_cache_drain(w);
  weft__worker_set_current(NULL);
  return NULL;
}
