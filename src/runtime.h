/*
 * runtime.h - the runtime, its workers and its tasks: the structures that
 * sched.c, task.c and rt.c share. The protocols that govern each field are
 * told at the top of sched.c (workers, queues, parking) and task.c (task
 * lifecycle, join, cancellation); who owns what across threads is in
 * docs/design.md, sections 3 and 4.
 */
#ifndef WEFT_RUNTIME_H
#define WEFT_RUNTIME_H

#include <limits.h>
#include "clock.h"
#include "context/context.h"
#include "deque.h"
#include "stack.h"
#include "weft-int.h"
#include "worker.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#define WEFT_TASK_MAGIC 0x7461736bu /* "task": a live handle */
#define WEFT_TASK_DEAD 0x64656164u  /* "dead": released */
#define WEFT_TASK_NAME 32

/*
 * Task states. Who owns the task (may touch its context and stack) in each:
 *  READY    a run queue holds it (a deque, the injection queue or a yield
 *           queue); whoever takes it from the queue owns it next.
 *  RUNNING  the worker running it, on the task's own stack.
 *  PARKED   nobody runs it; its context is saved and it is registered with
 *           exactly one waker (a joinee, later a channel or I/O request).
 *           The waker, or a canceller that withdrew it, makes it READY.
 *  DONE     finished; the stack is gone; only the join word matters.
 * The field is written by whoever moves the task and read by the dump.
 */
#define WEFT__NO_WORKER UINT_MAX /* task.last_worker before the first run */
enum { TASK_READY, TASK_RUNNING, TASK_PARKED, TASK_DONE };

/* What a task asks its worker to do once it is off the task's stack. */
enum { ACT_NONE, ACT_YIELD, ACT_PARK, ACT_EXIT };

/* Register a parking task with what it waits on. Runs on the scheduler's
 * stack, with t's context saved and t->wait_lock held (task.c, "park"). */
typedef void (*weft__publish_fn)(weft_task *t, void *arg);
/* Take a parked task back out of what it waits on, for cancellation.
 * Returns true if it was still there (the caller then wakes it). Called
 * with t->wait_lock held. */
typedef bool (*weft__withdraw_fn)(weft_task *t);

struct weft_task {
  weft_ctx ctx;           /* saved context; the task's owner (see states) */
  weft__stack *stack;     /* owner; NULL once DONE */
  void *(*fn)(void *);    /* immutable after spawn */
  void *arg;              /* immutable after spawn */
  void *result;           /* written before DONE is published (join word) */
  weft_rt *rt;            /* immutable */
  uint64_t id;            /* immutable */
  uint32_t magic;         /* WEFT_TASK_MAGIC while the handle is valid */
  _Atomic int state;      /* see the states; relaxed, for the dump */
  int shard;              /* registry shard; immutable */
  bool started;           /* the worker running it */
  int wake_result;        /* written by the one waker before weft__ready */
  atomic_uintptr_t join;  /* join protocol (task.c): NONE, DETACHED, DONE or the joiner */
  atomic_bool claimed;    /* a join or detach holds the handle */
  atomic_bool cancel_req; /* weft_cancel was called; any thread */
  /* weft_cancel_shield: written by the task itself only; read by it, by
   * its worker's park step 2 and by a canceller under wait_lock while the
   * task is parked (it cannot change then). Relaxed (task.c, "shield"). */
  atomic_bool shield;
  /* Completion (task.c, "done"): the channel weft_task_done made, and the
   * callbacks of weft_task_on_done. Each pointer is set once by CAS. */
  atomic_bool finishing;          /* set by the finisher before it reads them */
  atomic_bool done_closed;        /* the done channel was closed (once) */
  struct weft_chan *_Atomic done_chan;
  struct weft__ondone *_Atomic ondone;
  /* The generators the task made and has not freed (gen.c); owner only. */
  struct weft_gen *gens;
  /* The scopes the task owns (scope.c); under wait_lock. */
  struct weft_scope *scopes;
  weft__spinlock wait_lock;/* guards withdraw (task.c, "park" and "cancel") */
  weft__withdraw_fn withdraw; /* under wait_lock; NULL when not parked */
  void *wait_obj;         /* what the task waits on; under wait_lock */
  weft_task *next;        /* run-queue link; whoever holds it in a queue */
  weft_task *reg_prev;    /* registry links; under the shard's lock */
  weft_task *reg_next;
  void *asan_fake;        /* AddressSanitizer's fake stack while suspended */
  void *tsan_fiber;       /* ThreadSanitizer's fiber; created on first run */
  /* The context the task runs in now: its own, or that of a generator it
   * drives (gen.c). Owner (whoever runs the task). */
  weft__stack *cur_stack; /* the stack its context runs on */
  void *cur_fiber;        /* that stack's ThreadSanitizer fiber */
  void **cur_fake;        /* that context's AddressSanitizer fake-stack slot */
  struct weft_gen *cur_gen; /* the generator running, or NULL */
  /* What the task waits on, for weft_rt_dump: written by the task itself
   * (weft__wait_note) before it parks, read by the dump from any thread
   * while the task is PARKED. Relaxed atomics: the dump needs a plausible
   * picture, not a consistent one, and must not be a data race. */
  _Atomic(const char *) wait_what;  /* "chan recv", "join", ...; NULL: none */
  atomic_uintptr_t wait_detail;     /* the object's address, an fd, a task id */
  _Atomic int64_t wait_deadline;    /* weft_now() ms, or -1 */
  _Atomic int64_t wait_since;       /* weft__coarse_ms() when it parked */
  atomic_uint last_worker;          /* the worker that ran it last, WEFT__NO_WORKER before its
                                       first run; owner worker writes, the dump reads (relaxed) */
  char name[WEFT_TASK_NAME]; /* immutable after spawn */
};

/* A cancel the task's blocking calls must see: requested and not
 * shielded (task.c, "shield"). */
static inline bool weft__cancel_pending(const weft_task *t) {
  return atomic_load(&t->cancel_req) && !atomic_load_explicit(&t->shield, memory_order_relaxed);
}

/* Say what the calling task is about to wait on (see struct weft_task).
 * Task only; cheap: three relaxed stores. */
static inline void weft__wait_note(weft_task *t, const char *what, uintptr_t detail,
                                   int64_t deadline) {
  atomic_store_explicit(&t->wait_what, what, memory_order_relaxed);
  atomic_store_explicit(&t->wait_detail, detail, memory_order_relaxed);
  atomic_store_explicit(&t->wait_deadline, deadline, memory_order_relaxed);
}

/* Counters of one worker: written by it only (relaxed), read by anyone. */
struct weft__counters {
  atomic_uint_fast64_t spawned, completed, switches, steals, steal_attempts, parks, injected;
  atomic_uint_fast64_t yields; /* weft_yield calls: the monitor sees progress */
};

/* One shard of the registry of live tasks (for cancel-all and the dump). */
struct weft__shard {
  _Alignas(WEFT_CACHELINE) weft__spinlock lock;
  weft_task *head; /* under lock */
};

struct weft__worker {
  weft__deque dq;           /* owner pushes/pops; thieves steal */
  _Atomic(weft_task *) runnext; /* sched.c, "runnext": owner stores and takes; thieves take
                                 * only from a worker that has not switched for a while */
  bool dq_ready;            /* dq initialised; for teardown */
  weft_rt *rt;              /* immutable */
  unsigned idx;             /* immutable */
  weft_ctx sched;           /* the scheduler context; owner only */
  weft_task *current;       /* the running task; owner only */
  /* The running task again, for the blocking monitor and the dump on other
   * threads (relaxed; they read the task only under every registry shard
   * lock, which a task's release also takes: monitor.c). */
  _Atomic(weft_task *) running;
  /* The liveness rescue's view of this worker (sched.c): I/O thread only. */
  uint64_t rescue_progress; /* weft__worker_progress when last sampled */
  /* The blocking monitor's view of this worker: I/O thread only. */
  uint64_t mon_switches;    /* n.switches when last sampled */
  int64_t mon_since;        /* when that count was first seen */
  bool mon_warned;          /* this run was reported already */
  uint64_t trim_switches;   /* n.switches when the worker last trimmed; owner only */
  int action;               /* after-switch action; owner only */
  weft__publish_fn publish; /* with ACT_PARK; owner only */
  void *publish_arg;
  weft_task *pending_yield; /* a fast yielder to queue (sched.c); owner only */
  int budget;               /* operations before a forced yield (sched.c); owner only */
  uint64_t rng;             /* victim choice; owner only */
  uint32_t tick;            /* scheduling ticks; owner only */
  bool searching;           /* counted in rt->nsearching; owner only */
  uint64_t id_next, id_end; /* block of task ids; owner only */
  weft_task *tcache;        /* released task structs; owner only */
  unsigned ntcache;
  weft__stack_cache stacks; /* owner only */
  /* Parking (sched.c, "park"): */
  atomic_uint park_word;    /* 1: asleep or about to; 0: woken */
  atomic_bool in_poll;      /* about to sleep on the sockets' set, or asleep there */
  bool idle;                /* on rt->idle_list; under rt->idle_lock */
  struct weft__worker *idle_next; /* under rt->idle_lock */
  pthread_t thread;
  void *tsan_fiber;         /* the scheduler's ThreadSanitizer fiber */
  void *asan_fake;          /* the scheduler's fake stack while in a task */
  void *stack_lo;           /* the thread's own stack, for AddressSanitizer */
  size_t stack_size;
  void *altstack;           /* signal stack for overflow reports */
  struct weft__counters n;
};

struct weft__io;

#define WEFT_RT_MAGIC 0x77656674u /* "weft": a live runtime */

/*
 * A timer on the runtime's one timer heap (timers.c, protocol "timers";
 * docs/design.md 5.15). Every deadline is one: a park's (task.c, weft__park_until, for
 * channels, select, locks, join, scopes and sleeps) and an I/O op's
 * (io/loop.c). The owner embeds it and sets when and fire; the host
 * fires it at `when` on its own thread unless weft__timer_del came first.
 */
typedef struct weft__timer {
  int64_t when;                        /* weft_now() ms; immutable while added */
  void (*fire)(struct weft__timer *t); /* the host's thread; must not block */
  struct weft__timer *child, *next, *prev; /* the heap's links; under the lock */
  bool queued;                         /* in the heap; under the lock */
  /* Immutable: the owner may delete it from another thread, and then
   * waits out a fire in progress (weft__timer_wait_fired). False: it is
   * deleted on the host's thread only, and its fire may free it. */
  bool waited;
  atomic_bool firing;                  /* popped, fire not yet returned (T2, T3) */
} weft__timer;

typedef struct weft__timers {
  weft__spinlock lock;
  weft__timer *root;          /* the earliest timer; under lock */
  int64_t host_when;          /* the host's alarm is set no later than this; under lock */
  atomic_long count;          /* timers in the heap; written under lock */
  atomic_uint_fast64_t turns; /* adds and fires, for the deadlock check's epoch */
  /* The host's hook (io/timer.c), set before the workers start: the
   * earliest timer moved earlier than host_when; run weft__timers_run
   * soon on the host's thread. Any thread. */
  void (*kick)(struct weft__io *io);
} weft__timers;

/*
 * What the layers above the task hang on a task's life, wired by rt.c
 * (the top) before the workers start, so that task.c calls none of them
 * by name (docs/design.md, 2.2): a cancel reaching t's scopes (scope.c,
 * under t->wait_lock, when t->scopes is set); the end of t's function,
 * on its stack, for the scopes and generators it never freed (scope.c,
 * gen.c); and the done channel's life (chan.c, protocol "done").
 */
typedef struct weft__task_hooks {
  void (*cancel_scopes)(weft_task *t);
  void (*fn_returned)(weft_task *t);
  int (*done_new)(struct weft_chan **out);
  void (*done_close)(struct weft_chan *c);
  void (*done_free)(struct weft_chan *c);
} weft__task_hooks;

struct weft_rt {
  uint32_t magic;           /* WEFT_RT_MAGIC until weft_rt_free */
  weft__worker *workers;    /* immutable array */
  struct weft__io *io;      /* the I/O thread (io/loop.c); immutable */
  /* A hook the I/O layer registers before the workers start: a worker
   * about to go idle calls it to ready tasks whose sockets are ready
   * (io/netpoll.c, protocol "netpoll"); returns how many events it read,
   * or -1 when no task waits on a socket.
   * Immutable once the workers run; NULL: none. */
  int (*idle_poll)(struct weft__io *io);
  /* And the two that let a parked worker sleep on the sockets' set
   * itself (sched.c, "park" K5 by polling): block until the set has
   * events, the kick is written or ms pass (-1 then), then read a batch
   * of the set's events (how many); and the kick.
   * Immutable once the workers run; NULL: parked workers sleep on their
   * futex only. */
  int (*idle_block)(struct weft__io *io, int ms);
  void (*idle_kick)(struct weft__io *io);
  /* Every deadline (timers.c): its own cache line, since any worker
   * takes its lock. */
  _Alignas(WEFT_CACHELINE) weft__timers timers;
  const weft__task_hooks *task_hooks; /* rt.c; immutable once the workers run */
  unsigned nworkers;        /* immutable */
  bool oversubscribed;      /* more workers than online CPUs; immutable (sched.c, linger) */
  size_t stack_size;        /* default, rounded; immutable */
  weft__stacks stacks;
  struct weft__shard *shards; /* nworkers + 1 (the last for foreign threads) */
  /* The injection queue (sched.c): */
  _Alignas(WEFT_CACHELINE) pthread_mutex_t inj_lock;
  weft_task *inj_head, *inj_tail; /* under inj_lock */
  atomic_long inj_len;      /* written under inj_lock; read by anyone */
  /* Idle workers (sched.c, "park"): */
  _Alignas(WEFT_CACHELINE) pthread_mutex_t idle_lock;
  weft__worker *idle_list;  /* under idle_lock */
  atomic_uint nidle;        /* written under idle_lock; read by anyone */
  atomic_uint nsearching;   /* workers looking for work to steal */
  _Atomic(weft__worker *) poller; /* the parked worker that sleeps on the sockets' set */
  atomic_bool stop;         /* workers exit */
  atomic_long fence;        /* weft__fence_sc's word for "park" (ThreadSanitizer) */
  /* Task accounting (task.c, rt.c): */
  _Alignas(WEFT_CACHELINE) atomic_long ntasks; /* spawned and not finished */
  atomic_uint_fast64_t next_id;
  atomic_bool closing;      /* weft_rt_free has begun: new tasks start cancelled */
  pthread_mutex_t wait_lock;
  pthread_cond_t wait_cv;   /* signalled when ntasks reaches 0 */
  atomic_uint_fast64_t foreign_spawned;
  /* Monitoring (monitor.c): */
  int64_t warn_blocking_ms; /* WEFT_WARN_BLOCKING_MS; 0: off; immutable */
  bool deadlock_check;      /* WEFT_DEADLOCK_CHECK != 0; immutable */
  struct weft_rt *dbg_next; /* weft__runtimes; under weft__runtimes_lock */
};

/* Every live runtime, for debuggers: contrib/weft-gdb.py starts here. */
extern weft_rt *weft__runtimes;
extern pthread_mutex_t weft__runtimes_lock;

/* A runtime weft_rt_new made and weft_rt_free has not freed (while its
 * memory is not reused), for the bad-input checks. */
static inline bool weft__rt_valid(const weft_rt *rt) {
  return rt && rt->magic == WEFT_RT_MAGIC;
}

/* sched.c */
void weft__ready(weft_task *t);
void weft__switch_out(weft__worker *w, weft_task *t, bool exiting);
void weft__yield(weft__worker *w, weft_task *t);
void weft__yield_enqueue(weft__worker *w, weft_task *t, bool behind_injected);
void weft__budget_exhausted(weft__worker *w);

/*
 * The cooperative budget. A socket or channel call that succeeds at once
 * never parks, so a task looping on one under load (an accept loop, a
 * reader whose peer keeps up) would hold its worker forever and starve
 * the tasks queued behind it. Each such call spends one unit of its
 * worker's budget; when it runs out the task yields (weft_yield) and the
 * budget refills. Tokio does the same with a budget of 128. Task only.
 */
#define WEFT__BUDGET 128
static inline void weft__budget_spend_on(weft__worker *w) {
  if (w && unlikely(--w->budget <= 0))
    weft__budget_exhausted(w);
}

/*
 * The prologue of every blocking call (docs/design.md, 6.5): the calling
 * task, or NULL outside a task (the call answers WEFT_EPERM). It spends
 * one unit of the cooperative budget, which may make the task yield and
 * resume on another worker, so the caller keeps no worker pointer across
 * it. Whether a pending cancel refuses the call at once or only refuses
 * to wait (a channel still sends to room) is each call's own rule, which
 * it reads from weft__cancel_pending. Task only; may switch.
 */
static inline weft_task *weft__blocking_enter(void) {
  weft__worker *w = weft__worker_current(); /* one accessor call for both */
  weft_task *t = w ? w->current : NULL;
  if (t)
    weft__budget_spend_on(w);
  return t;
}

void weft__resumed(void);
void weft__sched_notify(weft_rt *rt);
/* The liveness rescue: wake an idle worker to take tasks queued behind a
 * worker that has run one task since the last call. I/O thread, every
 * WEFT__TICK_MS. */
void weft__sched_rescue(weft_rt *rt);
void weft__sched_stop(weft_rt *rt);
void *weft__worker_main(void *arg);
void weft__inject(weft_rt *rt, weft_task *t);

/* task.c */
void weft__task_run_first(weft_task *t);
void weft__task_entry(void *arg);
/* After t switched out (sched.c, after_switch), owner worker, off t's
 * stack: "park" step 2; and everything after its function returned
 * (release the stack, leave the registry, "join"). */
void weft__task_parked(weft__worker *w, weft_task *t);
void weft__task_exit(weft__worker *w, weft_task *t);
void weft__task_cancel_all(weft_rt *rt);
void weft__task_free_unjoined(weft_rt *rt);
void weft__task_cache_drain(weft__worker *w);
void weft__task_end(weft_task *t); /* on t's stack, after fn returned */
int weft__park(weft__publish_fn publish, void *arg, bool cancellable);
void weft__wake(weft_task *t, int result);

/* weft__park with an absolute deadline on weft_now()'s clock
 * (-1: none): the wait ends with WEFT_ETIMEDOUT when it passes first.
 * The publish step must set t->withdraw when the task is left waiting.
 * Task only. */
int weft__park_until(weft__publish_fn publish, void *arg, int64_t deadline);

/* timers.c, protocol "timers". weft__timer_add: any thread; never fails.
 * weft__timer_del: any thread; true if t was taken out before it fired,
 * false once it fired or while it fires; then weft__timer_wait_fired
 * returns once the host has let go of t. weft__timers_run: the host; fires
 * what is due and returns the earliest time left (INT64_MAX: none), for
 * the host's alarm. */
void weft__timers_init(weft__timers *h);
void weft__timer_add(weft_rt *rt, weft__timer *t);
bool weft__timer_del(weft_rt *rt, weft__timer *t);
void weft__timer_wait_fired(weft__timer *t);
int64_t weft__timers_run(weft_rt *rt);
/* The deadlock check: no timer is armed; adds the heap's activity to
 * *epoch. And how many are armed (weft_rt_stats). Any thread. */
bool weft__timers_quiet(weft_rt *rt, uint64_t *epoch);
long weft__timers_count(weft_rt *rt);
int weft__spawn(weft_rt *rt, weft__worker *w, weft_task **out, const weft_spawn_attr *attr,
                void *(*fn)(void *), void *arg);

/* scope.c: a cancel of t reaches its scopes' members (under t->wait_lock);
 * the scopes t never freed are freed when its function returns. */
void weft__scopes_cancel(weft_task *t);
void weft__scopes_free_all(weft_task *t);
/* task.c: cancel t ("cancel"); t must be valid. Any thread. */
void weft__cancel(weft_task *t);

/* gen.c: close and free the generators t never freed; on t's stack. */
void weft__gen_free_all(weft_task *t);

/* The I/O thread's periodic hook, which rt.c registers: the scheduler's
 * liveness rescue, then the blocking monitor. */
#define WEFT__TICK_MS 100

/* Progress of a worker: task switches and weft_yield calls (a yield with
 * nothing else ready switches nothing, yet the task did yield). Any
 * thread (relaxed: a sample). */
static inline uint64_t weft__worker_progress(weft__worker *w) {
  return atomic_load_explicit(&w->n.switches, memory_order_relaxed) +
         atomic_load_explicit(&w->n.yields, memory_order_relaxed);
}

/* monitor.c: the dump, the blocking monitor, deadlock detection; they
 * only observe. */
void weft__monitor_tick(weft_rt *rt); /* I/O thread, every WEFT__TICK_MS */
/* Deadlock detection: state carried between checks by the waiting thread. */
struct weft__deadlock_probe {
  uint64_t epoch;
  unsigned quiet; /* consecutive checks that found everything asleep */
};
bool weft__deadlock_check(weft_rt *rt, struct weft__deadlock_probe *p);
/* Wait for cond (set by another thread under lock, signalled on cv) or
 * for rt to deadlock; returns WEFT_EDEADLK after printing the dump. */
int weft__wait_or_deadlock(weft_rt *rt, pthread_mutex_t *lock, pthread_cond_t *cv,
                           bool (*done)(void *), void *arg);

/* overflow.c */
void weft__overflow_install(void);
_Noreturn void weft__overflow_report(const weft_task *t);
int weft__altstack_start(weft__worker *w);
void weft__altstack_stop(weft__worker *w);

#endif /* WEFT_RUNTIME_H */
