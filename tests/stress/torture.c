/*
 * torture.c - a reproducible torture test of the whole runtime.
 *
 *   torture [--seed N] [--workers N] [--duration SECONDS] [--max-live N]
 *           [--grace SECONDS] [--idle SECONDS] [--check-rss] [--quiet]
 *
 * For one seed, worker count and duration it runs a random mix of what a
 * weft program does: spawn, join, detach and cancel tasks; yield and sleep;
 * send, receive, select over and close channels; lock mutexes, take turns
 * on condition variables, wait on wait groups; drive generators, throw
 * errors into them and leave some for the task's end; run scopes and
 * shields; add completion callbacks to tasks; wait for, hold and raise
 * signals; move bytes through loopback TCP connections. Thousands of
 * tasks are alive at once (--max-live caps them). It prints the seed
 * first; when the load ends it drains the runtime, checks every invariant
 * below and prints a summary line. A broken invariant prints "torture:
 * FAILED seed=N: <what>" and exits 1; so does a run that does not finish
 * within duration + grace seconds (a lost wakeup shows up as a hang).
 *
 * Reproducibility
 * ---------------
 * Every task draws its decisions from its own generator (splitmix64),
 * seeded from the run's seed and the task's logical id. A parent derives
 * each child's id from its own id and the child's ordinal, so the same seed
 * gives every task the same id and the same decisions in every run, however
 * the workers interleave. Each decision is drawn whether or not its outcome
 * matters (a spawn the live cap refuses still uses up its id), so one
 * outcome changing does not shift the decisions after it. What differs
 * between runs of one seed is timing: which receive gets which value,
 * which deadline passes, which spawns the live cap refuses (and so which
 * subtrees exist), how many waves the driver starts before the stop.
 *
 * Structure
 * ---------
 * The driver task creates a pool of channels, a pool of mutex-guarded
 * counters and a TCP listener, starts the closer (which closes and
 * replaces random channels while they are in use) and the acceptor (one
 * server task per connection), then spawns root actors in waves until the
 * duration ends. An actor performs a random list of actions; spawning
 * children is one of them, so actors form trees. Every blocking call either
 * has a short deadline or can only end by the progress of others (or by a
 * close at the end), so a hang means weft lost a wakeup. At the end the
 * driver sets the stop flag, closes the listener and every channel; the
 * main thread waits in weft_rt_wait for the rest to drain.
 *
 * Invariants (checked as the run goes and at its end)
 * ---------------------------------------------------
 *  - Tasks: each spawned task has a record. It started exactly once (its
 *    entry counts), a task cancelled before its start included, and ended
 *    exactly once, finished or cancelled. Every join returns the task's
 *    own result (derived from its id), or WEFT_ECANCELED when the joiner
 *    itself was cancelled (the handle then stays joinable). No record is
 *    left.
 *  - Channels: values are tagged (producer id, sequence, check word). Per
 *    channel, the count and the sum of tags sent successfully equal those
 *    received plus those still buffered after its close (drained then:
 *    buffered values, then WEFT_EPIPE). A value with a bad check word fails.
 *  - Mutexes: each guarded counter equals an atomic shadow count of its
 *    increments; an owner mark catches two holders at once. Condition
 *    turn-taking sees strictly alternating values. Wait groups release only
 *    after every member is done. Generators yield the known sequence,
 *    return the known value, run their cleanup when closed.
 *  - Thrown errors: a throw into a generator that never ran closes it
 *    unrun and returns the error; into a suspended one, its yield returns
 *    NULL and weft_gen_thrown() the error (0 after a send), across parks
 *    inside it too, and the throw returns its next value or its return
 *    value. A generator its task leaves at a yield is closed (its cleanup
 *    runs) before that task's join or completion callbacks see it end.
 *  - Completion callbacks run once each, in the order added, in tasks of
 *    their own, after the task ended, with its result and a canceled flag
 *    that matches its cancels; the task is still joined. weft spawns one
 *    runner at least per task with callbacks, one at most per callback.
 *  - Signals, with one game per signal at a time: under a hold, with one
 *    raise outstanding at a time, every raise wakes exactly one wait and
 *    nothing is left after (the exact games); raised several times at
 *    once under a hold, a signal wakes the wait that follows, and over the
 *    run no signal arrives more often than it was raised. No raise of an
 *    exact game reaches the program's own handler.
 *  - TCP: both ends check every byte against the sender's stream; a clean
 *    connection ends with the server's count of bytes received (equal to
 *    what the client sent) and EOF. Before the stop nothing may fail.
 *  - Blocking calls: WEFT_ETIMEDOUT only with a deadline, WEFT_ECANCELED
 *    only in a cancelled task; a sleep never wakes early.
 *  - Shutdown: weft_rt_stats reports no task alive, spawned == completed
 *    == the tasks this program spawned, no stack in use, no libuv handle
 *    held beyond the I/O thread's own; after weft_rt_free the
 *    process has as many descriptors open as before weft_rt_new.
 *    With --check-rss, RSS returns to within 10% of RSS at start within
 *    --idle seconds (default 3) of idling after the load. "At start" is
 *    after weft_rt_new and a warm-up in which every worker has run tasks
 *    (so the C library's per-thread malloc arenas, which a program keeps
 *    for its life, exist on both sides of the comparison) and gone idle.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <weft.h>

#define NCHANS 16    /* channels in the shared pool */
#define NCELLS 8     /* mutex-guarded counters */
#define TCP_SLOTS 32 /* client connections open at once */
#define MAX_DEPTH 5  /* actor tree depth */
#define MAX_SLOTS 12 /* joinable children per actor */
#define MAX_KIDS 5   /* actor children per actor */
#define RING 64      /* joinable roots the driver holds */
#define WAVE 256     /* roots per driver tick at most */
#define BUF 16384    /* TCP chunk */

/* ------------------------------------------------------------------ */
/* Decisions                                                           */

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* splitmix64: one per task. */
struct rng {
  uint64_t s;
};

static uint64_t rnd(struct rng *r) {
  r->s += 0x9e3779b97f4a7c15ull;
  return mix64(r->s);
}

/* Uniform in [0, n). */
static uint32_t below(struct rng *r, uint32_t n) {
  return (uint32_t)(((rnd(r) >> 32) * (uint64_t)n) >> 32);
}

static bool chance(struct rng *r, unsigned pct) {
  return below(r, 100) < pct;
}

/* ------------------------------------------------------------------ */
/* Options, shared state, counters                                     */

static struct {
  uint64_t seed;
  unsigned workers;
  double duration, grace, idle;
  long max_live;
  bool quiet, check_rss;
  uint64_t warm_spawned; /* the warm-up's tasks, in weft's counters too */
  weft_rt *rt;
  int64_t t_start, t_end;
  atomic_bool stop;    /* the load is over: start nothing new */
  atomic_int phase;    /* PH_*, for the watchdog's message */
  weft_sem *tcp_slots; /* bounds open client connections */
  weft_sock *listener; /* driver only */
  char port[16];       /* written by the driver before any actor */
} T;

enum { PH_RUN, PH_DRAIN, PH_IDLE, PH_FREE, PH_DONE };
static const char *phase_name[] = {"running", "draining", "idle", "freeing", "done"};

typedef atomic_ullong counter;

static struct {
  counter spawned, finished, cancelled, started_cancelled, joined, detached, handoffs, cancels;
  counter yields, sleeps, timeouts;
  counter sends, recvs, drained, closes, chans, selects, epipes;
  counter mutex_incs, cond_pairs, cond_rounds, cond_abandoned, wgs, wg_members;
  counter gens, gens_closed, gen_values;
  counter scopes, scope_members, scope_failed, shields; /* members: weft spawns them */
  counter ondone_regs, ondone_ran, ondone_targets, ondone_after;
  counter throws, throws_unstarted, throws_recovered, throws_fatal, gens_leaked, gens_leak_closed;
  counter sig_games, sig_raises, sig_arrivals, urg_games, urg_raises, urg_arrivals, sig_checks;
  counter tcp_tries, tcp_clean, tcp_aborted, tcp_bytes, srv_clean, srv_aborted, srv_bytes;
  atomic_long alive, peak_alive; /* tasks spawned and not yet returned */
  atomic_long peak_weft;         /* weft's tasks_alive, sampled by the driver */
} C;

static void alive_add(long n) {
  long cur = atomic_fetch_add(&C.alive, n) + n, peak = atomic_load(&C.peak_alive);
  while (cur > peak && !atomic_compare_exchange_weak(&C.peak_alive, &peak, cur))
    ;
}

static void count(counter *c, uint64_t n) {
  atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t get(counter *c) {
  return atomic_load(c);
}

/* Report a broken invariant with the seed and end the process. Any thread. */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...) {
  static pthread_mutex_t once = PTHREAD_MUTEX_INITIALIZER;
  va_list ap;
  pthread_mutex_lock(&once); /* never released: the first failure speaks */
  fflush(stdout);
  printf("torture: FAILED seed=%" PRIu64 ": ", T.seed);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  fflush(stdout);
  _exit(1);
}

/* A blocking call returned rc != 0: legal only as a passed deadline or in a
 * cancelled task. */
static void expect_wait(const char *what, int rc, int64_t deadline) {
  if (rc == WEFT_ETIMEDOUT && deadline != -1) {
    count(&C.timeouts, 1);
    return;
  }
  if (rc == WEFT_ECANCELED && weft_canceled())
    return;
  fail("%s returned %s (deadline %" PRId64 ", task %s)", what, weft_strerror(rc), deadline,
       weft_canceled() ? "cancelled" : "not cancelled");
}

/* ------------------------------------------------------------------ */
/* Task records                                                        */

enum kind {
  K_DRIVER,
  K_CLOSER,
  K_ACCEPTOR,
  K_ACTOR,
  K_REAPER,
  K_PARTNER,
  K_WG,
  K_SENDER,
  K_SERVER,
  K_DONE,    /* a short child that completion callbacks are added to */
  K_RAISER,  /* raises a signal for a signal game */
  K_SIGWAIT, /* waits for a signal in a signal game */
  K_N
};
static const char *kind_name[K_N] = {"driver",     "closer",     "acceptor",   "actor",
                                     "reaper",     "partner",    "wg-member",  "tcp-sender",
                                     "tcp-server", "done-child", "sig-raiser", "sig-waiter"};

#define F_DETACHED 1    /* no handle: resolved at spawn */
#define F_CAPPED 2      /* refused when --max-live records are in use */
#define F_CANCELLABLE 4 /* its parent or a sibling may cancel it */
#define F_SIBCANCEL 8   /* it cancels siblings (ctx is its family) */

enum { END_NONE, END_FINISHED, END_CANCELLED };
enum { RES_NONE, RES_JOINED, RES_DETACHED };

/* One spawned task, from its spawn until both the task has ended and its
 * handle is resolved (joined or detached); then it is checked and reused. */
struct rec {
  _Atomic uint64_t id;    /* logical id; 0 while free */
  atomic_int ran;         /* starts: must end at 1 */
  atomic_int ended;       /* END_*, set once as the task returns */
  atomic_int refs;        /* the task's own, plus its handle's */
  atomic_int cancel_req;  /* set before weft_cancel is called on it */
  int kind, flags, depth; /* written by the spawner before the spawn */
  int resolution;         /* RES_*, written before the handle's ref drops */
  void *ctx;              /* the kind's argument */
  atomic_int leaked;      /* generators it left for its end, not yet closed */
  atomic_int od_added;    /* completion callbacks added to it */
  atomic_int od_ran;      /* ... and run */
  atomic_bool od_any;     /* one was added: weft started a runner for them */
  uint32_t next_free;     /* under R.lock */
};

static struct {
  pthread_mutex_t lock;
  struct rec *recs;
  uint32_t n, free_head; /* under lock */
  long live, peak;       /* under lock */
} R = {.lock = PTHREAD_MUTEX_INITIALIZER};

#define NO_REC UINT32_MAX

static void recs_init(void) {
  R.n = (uint32_t)(2 * T.max_live + 512);
  R.recs = calloc(R.n, sizeof *R.recs);
  if (!R.recs)
    fail("out of memory for %u task records", R.n);
  for (uint32_t i = 0; i < R.n; i++) /* touched now: counted in the start RSS */
    R.recs[i].next_free = i + 1 < R.n ? i + 1 : NO_REC;
  R.free_head = 0;
}

/* NULL when the cap refuses a capped spawn. Any thread. */
static struct rec *rec_alloc(int flags) {
  struct rec *r;
  pthread_mutex_lock(&R.lock);
  if ((flags & F_CAPPED) && R.live >= T.max_live) {
    pthread_mutex_unlock(&R.lock);
    return NULL;
  }
  if (R.free_head == NO_REC) {
    long live = R.live;
    pthread_mutex_unlock(&R.lock);
    fail("all %u task records in use (%ld live): the uncapped tasks ran away", R.n, live);
  }
  r = &R.recs[R.free_head];
  R.free_head = r->next_free;
  if (++R.live > R.peak)
    R.peak = R.live;
  pthread_mutex_unlock(&R.lock);
  return r;
}

/* Check a record whose task and handle are both done with it, free it. */
static void rec_retire(struct rec *r) {
  uint64_t id = atomic_load(&r->id);
  int ran = atomic_load(&r->ran), ended = atomic_load(&r->ended);
  if (ran != 1 || ended == END_NONE) {
    fail("%s task %016" PRIx64 " ran %d times and ended %s", kind_name[r->kind], id, ran,
         ended ? "once" : "never");
  } else {
    count(ended == END_CANCELLED ? &C.cancelled : &C.finished, 1);
  }
  atomic_store(&r->id, 0);
  pthread_mutex_lock(&R.lock);
  r->next_free = R.free_head;
  R.free_head = (uint32_t)(r - R.recs);
  R.live--;
  pthread_mutex_unlock(&R.lock);
}

static void rec_put(struct rec *r, int n) {
  if (atomic_fetch_sub(&r->refs, n) == n)
    rec_retire(r);
}

static void *expected_result(uint64_t id) {
  return (void *)(uintptr_t)(mix64(id ^ T.seed) | 1);
}

/* ------------------------------------------------------------------ */
/* The task context and spawning                                       */

/* What one task knows about itself; on its stack. */
struct me {
  uint64_t id;
  struct rng rng;
  struct rec *rec;
  int depth;
  uint64_t nids; /* ids handed out */
  uint64_t seq;  /* values produced */
  struct family *fam;
  bool cancel_family; /* it may cancel its children, who may cancel each other */
  int kids;
};

static void me_init(struct me *me, struct rec *r, uint64_t id) {
  memset(me, 0, sizeof *me);
  me->id = id;
  me->rng.s = mix64(T.seed ^ mix64(id));
  me->rec = r;
  me->depth = r->depth;
}

/* A fresh logical id, derived from the caller's id and ordinal. */
static uint64_t new_id(struct me *me) {
  uint64_t id = mix64(me->id * 0x2545f4914f6cdd1dull + ++me->nids);
  return id ? id : 1;
}

static void *task_main(void *arg);

/* Spawn a task of kind with a fresh record (parent NULL: from the main
 * thread). *h receives the handle unless F_DETACHED. Returns the record, or
 * NULL when the live cap refused it. */
static struct rec *spawn_task(struct me *parent, int kind, int flags, void *ctx, weft_task **h) {
  char name[32];
  uint64_t id = parent ? new_id(parent) : 1;
  unsigned style = parent ? below(&parent->rng, 4) : 1;
  weft_spawn_attr attr;
  struct rec *r = rec_alloc(flags);
  int rc;

  if (!r)
    return NULL;
  r->kind = kind;
  r->flags = flags;
  r->ctx = ctx;
  r->depth = parent ? parent->depth + 1 : 0;
  r->resolution = (flags & F_DETACHED) ? RES_DETACHED : RES_NONE;
  atomic_store(&r->ran, 0);
  atomic_store(&r->ended, END_NONE);
  atomic_store(&r->cancel_req, 0);
  atomic_store(&r->leaked, 0);
  atomic_store(&r->od_added, 0);
  atomic_store(&r->od_ran, 0);
  atomic_store(&r->od_any, false);
  atomic_store(&r->refs, (flags & F_DETACHED) ? 1 : 2);
  atomic_store(&r->id, id);
  void *arg = (void *)(((uintptr_t)(r - R.recs) << 32) | (uint32_t)id);
  weft_task **out = (flags & F_DETACHED) ? NULL : h;

  weft_spawn_attr_init(&attr);
  attr.detached = !out;
  if (style >= 1) {
    snprintf(name, sizeof name, "%s-%016" PRIx64, kind_name[kind], id);
    attr.name = name;
  }
  if (style == 2)
    attr.stack_size = 1024 * 1024;
  else if (style == 3 && (kind == K_WG || kind == K_PARTNER || kind == K_REAPER || kind == K_DONE ||
                          kind == K_RAISER || kind == K_SIGWAIT))
    attr.stack_size = 64 * 1024;
  if (!parent)
    rc = weft_rt_spawn_ex(T.rt, out, &attr, task_main, arg);
  else if (style == 0)
    rc = weft_spawn(out, task_main, arg);
  else
    rc = weft_spawn_ex(out, &attr, task_main, arg);
  if (rc)
    fail("spawning a %s task: %s", kind_name[kind], weft_strerror(rc));
  count(&C.spawned, 1);
  alive_add(1);
  return r;
}

/* ------------------------------------------------------------------ */
/* Families: a task's joinable children                                */
/*
 * The owner and, in a cancel family, its children that cancel siblings
 * share the slots. A slot's handle is taken out under the lock before it is
 * joined or detached, so a cancel (under the lock) never uses a released
 * handle.
 *
 * weft_join returns WEFT_ECANCELED only to a joiner that is itself
 * cancelled, and the handle then stays joinable: a reaper task joins such
 * an owner's remaining children instead. Only tasks nobody cancels own
 * cancel families, and a cancelled owner's children are never cancelled,
 * so a join that fails always leaves a child that nobody will cancel.
 */
struct slot {
  weft_task *h; /* NULL once claimed */
  struct rec *r;
  bool targetable; /* in the cancel family's draw */
  bool later;      /* to be detached, not joined */
};

struct family {
  pthread_mutex_t lock;
  int n; /* slots used; written by the owner under lock */
  struct slot s[MAX_SLOTS];
};

static struct family *family_of(struct me *me) {
  if (!me->fam) {
    me->fam = calloc(1, sizeof *me->fam);
    if (!me->fam)
      fail("out of memory");
    pthread_mutex_init(&me->fam->lock, NULL);
  }
  return me->fam;
}

static int slot_add(struct family *f, weft_task *h, struct rec *r, bool targetable, bool later) {
  pthread_mutex_lock(&f->lock);
  int i = f->n++;
  f->s[i] = (struct slot){.h = h, .r = r, .targetable = targetable, .later = later};
  pthread_mutex_unlock(&f->lock);
  return i;
}

static weft_task *slot_claim(struct family *f, int i) {
  pthread_mutex_lock(&f->lock);
  weft_task *h = f->s[i].h;
  f->s[i].h = NULL;
  pthread_mutex_unlock(&f->lock);
  return h;
}

/* Cancel one random targetable child still held (pick: a random draw). */
static void family_cancel(struct family *f, uint32_t pick) {
  pthread_mutex_lock(&f->lock);
  if (f->n > 0) {
    struct slot *s = &f->s[pick % (uint32_t)f->n];
    if (s->h && s->targetable) {
      atomic_store(&s->r->cancel_req, 1);
      int rc = weft_cancel(s->h);
      if (rc)
        fail("weft_cancel of a held handle returned %s", weft_strerror(rc));
      count(&C.cancels, 1);
    }
  }
  pthread_mutex_unlock(&f->lock);
}

#define HANDOFF 1

/* Join h (record r) and check what it says. Returns 0 when resolved, or
 * HANDOFF when the caller was cancelled and h is still joinable. */
static int join_rec(weft_task *h, struct rec *r) {
  void *res = NULL;
  uint64_t id = atomic_load(&r->id);
  int rc;
  /* The handle is claimed: no cancel can reach h any more, so one that did
   * has been recorded before. */
  if (atomic_load(&r->cancel_req) && weft_task_was_canceled(h) != 1)
    fail("weft_task_was_canceled says 0 for a cancelled task");
  switch (mix64(id) % 3) { /* three ways to wait for it, by its id */
  case 0:
    rc = weft_join(h, &res);
    break;
  case 1: /* short deadlines until it has finished */
    while ((rc = weft_join_until(h, &res, weft_now() + 1)) == WEFT_ETIMEDOUT)
      count(&C.timeouts, 1);
    break;
  default: { /* its done channel closes, then the join cannot wait */
    weft_chan *done;
    if ((rc = weft_task_done(h, &done)))
      fail("weft_task_done: %s", weft_strerror(rc));
    rc = weft_chan_recv(done, NULL, -1);
    if (rc == WEFT_EPIPE) {
      rc = weft_join_until(h, &res, 0);
      if (rc == WEFT_ETIMEDOUT)
        fail("a join with a past deadline timed out after the done channel closed");
    } else if (rc != WEFT_ECANCELED) {
      fail("a receive on a done channel returned %s", weft_strerror(rc));
    }
  }
  }
  if (rc == 0) {
    if (atomic_load(&r->ended) == END_NONE)
      fail("join of %s task %016" PRIx64 " returned before the task ended", kind_name[r->kind], id);
    if (atomic_load(&r->leaked))
      fail("join of %s task %016" PRIx64 " returned before the %d generators it left were closed",
           kind_name[r->kind], id, atomic_load(&r->leaked));
    if (res != expected_result(id))
      fail("join of %s task %016" PRIx64 " returned %p, not its result %p", kind_name[r->kind], id,
           res, expected_result(id));
    r->resolution = RES_JOINED;
    count(&C.joined, 1);
    rec_put(r, 1);
    return 0;
  }
  if (rc != WEFT_ECANCELED)
    fail("join of %s task %016" PRIx64 " returned %s", kind_name[r->kind], id, weft_strerror(rc));
  if (!weft_canceled())
    fail("join of %s task %016" PRIx64 " returned WEFT_ECANCELED to a joiner nobody cancelled",
         kind_name[r->kind], id);
  if (atomic_load(&r->cancel_req))
    fail("a cancelled task joined a cancelled child: the families are set up wrong");
  count(&C.handoffs, 1);
  return HANDOFF;
}

/* Join slot i if still held. Returns HANDOFF when it stays joinable. */
static int slot_join(struct family *f, int i) {
  weft_task *h = slot_claim(f, i);
  if (!h)
    return 0;
  if (join_rec(h, f->s[i].r) == 0)
    return 0;
  pthread_mutex_lock(&f->lock);
  f->s[i].h = h;
  pthread_mutex_unlock(&f->lock);
  return HANDOFF;
}

static void slot_detach(struct family *f, int i) {
  weft_task *h = slot_claim(f, i);
  if (!h)
    return;
  int rc = weft_detach(h);
  if (rc)
    fail("weft_detach of a held handle returned %s", weft_strerror(rc));
  f->s[i].r->resolution = RES_DETACHED;
  count(&C.detached, 1);
  rec_put(f->s[i].r, 1);
}

static void family_free(struct family *f) {
  pthread_mutex_destroy(&f->lock);
  free(f);
}

/* Resolve every child at the owner's end; a cancelled owner hands those it
 * could not join to a reaper. */
static void family_finish(struct me *me) {
  struct family *f = me->fam;
  int left = 0;
  if (!f)
    return;
  for (int i = 0; i < f->n; i++) {
    if (f->s[i].later)
      slot_detach(f, i);
    else
      left += slot_join(f, i);
  }
  if (left && !weft_canceled())
    fail("a task that is not cancelled could not join its children");
  if (left)
    spawn_task(me, K_REAPER, F_DETACHED, f, NULL);
  else
    family_free(f);
  me->fam = NULL;
}

static void reaper_run(struct me *me) {
  struct family *f = me->rec->ctx;
  for (int i = 0; i < f->n; i++)
    if (slot_join(f, i))
      fail("a reaper was cancelled");
  family_free(f);
}

/* ------------------------------------------------------------------ */
/* Channels                                                            */
/*
 * A pool slot holds a channel with a reference count: the pool's, plus one
 * per task using it. The closer swaps a slot's channel for a new one and
 * closes the old; whoever drops the last reference drains and checks it.
 */
struct val {
  uint64_t producer, seq, check;
};

struct xchan {
  weft_chan *c;
  long cap;
  atomic_long refs;
  counter sent, sent_sum, recvd, recvd_sum;
};

static struct {
  pthread_mutex_t lock;
  struct xchan *slot[NCHANS]; /* under lock */
  atomic_long alive;          /* xchans not yet retired */
} P = {.lock = PTHREAD_MUTEX_INITIALIZER};

static uint64_t val_check(uint64_t producer, uint64_t seq) {
  return mix64(producer ^ mix64(seq + 0x51ed27));
}

static struct val make_val(struct me *me) {
  struct val v = {.producer = me->id, .seq = me->seq++};
  v.check = val_check(v.producer, v.seq);
  return v;
}

static void sent_val(struct xchan *x, const struct val *v) {
  count(&x->sent, 1);
  count(&x->sent_sum, v->check);
  count(&C.sends, 1);
}

static void got_val(struct xchan *x, const struct val *v, counter *kind) {
  if (v->check != val_check(v->producer, v->seq))
    fail("received a corrupt value (producer %016" PRIx64 " seq %" PRIu64 " check %016" PRIx64 ")",
         v->producer, v->seq, v->check);
  count(&x->recvd, 1);
  count(&x->recvd_sum, v->check);
  count(kind, 1);
}

static struct xchan *xchan_new(long cap) {
  struct xchan *x = calloc(1, sizeof *x);
  if (!x)
    fail("out of memory");
  int rc = weft_chan_new(&x->c, sizeof(struct val), (size_t)cap);
  if (rc)
    fail("weft_chan_new: %s", weft_strerror(rc));
  if (weft_chan_cap(x->c) != cap)
    fail("weft_chan_cap says %ld, made with %ld", weft_chan_cap(x->c), cap);
  x->cap = cap;
  atomic_store(&x->refs, 1);
  atomic_fetch_add(&P.alive, 1);
  count(&C.chans, 1);
  return x;
}

static long pick_cap(struct rng *r) {
  static const long caps[] = {0, 0, 0, 1, 2, 8, 64};
  return caps[below(r, sizeof caps / sizeof caps[0])];
}

static struct xchan *xchan_get(uint32_t i) {
  pthread_mutex_lock(&P.lock);
  struct xchan *x = P.slot[i];
  if (x)
    atomic_fetch_add(&x->refs, 1);
  pthread_mutex_unlock(&P.lock);
  return x;
}

/* Take what is still buffered in a closed channel. Inside a task. */
static uint64_t xchan_drain(struct xchan *x, uint64_t *sum) {
  struct val v;
  uint64_t n = 0;
  int rc;
  for (;;) {
    /* Half by recv, which must not block on a closed channel. */
    rc = (n & 1) ? weft_chan_try_recv(x->c, &v) : weft_chan_recv(x->c, &v, 0);
    if (rc == WEFT_ECANCELED && weft_canceled())
      rc = weft_chan_try_recv(x->c, &v);
    if (rc != 0)
      break;
    if (v.check != val_check(v.producer, v.seq))
      fail("a corrupt value was buffered in a closed channel");
    n++;
    *sum += v.check;
  }
  if (rc != WEFT_EPIPE)
    fail("draining a closed channel ended with %s, not WEFT_EPIPE", weft_strerror(rc));
  return n;
}

/* The last reference is gone: the channel is closed and nobody uses it. */
static void xchan_retire(struct xchan *x) {
  struct val v = {0};
  uint64_t sum = 0, n = xchan_drain(x, &sum);
  uint64_t sent = get(&x->sent), recvd = get(&x->recvd);
  if (sent != recvd + n || get(&x->sent_sum) != get(&x->recvd_sum) + sum)
    fail("channel (capacity %ld): %" PRIu64 " values sent, %" PRIu64 " received, %" PRIu64
         " left buffered at close%s",
         x->cap, sent, recvd, n, sent == recvd + n ? " (counts match, values differ)" : "");
  if (weft_chan_len(x->c) != 0)
    fail("a drained channel reports %ld buffered", weft_chan_len(x->c));
  if (weft_chan_try_send(x->c, &v) != WEFT_EPIPE)
    fail("try_send on a closed channel did not return WEFT_EPIPE");
  int rc = weft_chan_free(x->c);
  if (rc)
    fail("weft_chan_free of an idle channel: %s", weft_strerror(rc));
  count(&C.drained, n);
  atomic_fetch_sub(&P.alive, 1);
  free(x);
}

static void xchan_put(struct xchan *x) {
  if (atomic_fetch_sub(&x->refs, 1) == 1)
    xchan_retire(x);
}

/* Put x (may be NULL) in slot i and close what was there. Inside a task. */
static void xchan_replace(uint32_t i, struct xchan *x) {
  pthread_mutex_lock(&P.lock);
  struct xchan *old = P.slot[i];
  P.slot[i] = x;
  pthread_mutex_unlock(&P.lock);
  if (!old)
    return;
  int rc = weft_chan_close(old->c);
  if (rc)
    fail("weft_chan_close of an open channel: %s", weft_strerror(rc));
  if (weft_chan_close(old->c) != WEFT_EINVAL)
    fail("closing a channel twice did not return WEFT_EINVAL");
  count(&C.closes, 1);
  xchan_put(old);
}

/* A deadline for a channel or lock operation: now, soon, or never. */
static int64_t pick_deadline(struct me *me) {
  uint32_t k = below(&me->rng, 8);
  if (k == 0)
    return 0;
  if (k <= 2)
    return -1;
  return weft_now() + 1 + (int64_t)below(&me->rng, 3);
}

static void act_send(struct me *me) {
  uint32_t i = below(&me->rng, NCHANS);
  bool try = chance(&me->rng, 15);
  int64_t dl = pick_deadline(me);
  struct val v = make_val(me);
  struct xchan *x = xchan_get(i);
  if (!x)
    return;
  int rc = try ? weft_chan_try_send(x->c, &v) : weft_chan_send(x->c, &v, dl);
  if (rc == 0)
    sent_val(x, &v);
  else if (rc == WEFT_EPIPE)
    count(&C.epipes, 1);
  else if (try && rc != WEFT_EAGAIN)
    fail("weft_chan_try_send returned %s", weft_strerror(rc));
  else if (!try)
    expect_wait("weft_chan_send", rc, dl);
  xchan_put(x);
}

static void act_recv(struct me *me) {
  uint32_t i = below(&me->rng, NCHANS);
  bool try = chance(&me->rng, 15);
  int64_t dl = pick_deadline(me);
  struct val v;
  struct xchan *x = xchan_get(i);
  if (!x)
    return;
  int rc = try ? weft_chan_try_recv(x->c, &v) : weft_chan_recv(x->c, &v, dl);
  if (rc == 0)
    got_val(x, &v, &C.recvs);
  else if (rc == WEFT_EPIPE)
    count(&C.epipes, 1);
  else if (try && rc != WEFT_EAGAIN)
    fail("weft_chan_try_recv returned %s", weft_strerror(rc));
  else if (!try)
    expect_wait("weft_chan_recv", rc, dl);
  xchan_put(x);
}

/* A select over 2-4 distinct pool channels, sends and receives mixed. A
 * slot drawn twice becomes a case with a NULL channel (never ready). */
static void act_select(struct me *me) {
  weft_select_case cs[4];
  struct xchan *xs[4] = {0};
  struct val vals[4];
  uint32_t picked = 0, n = 2 + below(&me->rng, 3);
  int64_t dl = pick_deadline(me);
  bool any = false;

  for (uint32_t k = 0; k < n; k++) {
    uint32_t i = below(&me->rng, NCHANS);
    bool send = chance(&me->rng, 50);
    vals[k] = make_val(me);
    if (!(picked & (1u << i)))
      xs[k] = xchan_get(i);
    picked |= 1u << i;
    any |= xs[k] != NULL;
    cs[k] = (weft_select_case){.chan = xs[k] ? xs[k]->c : NULL,
                               .op = send ? WEFT_SELECT_SEND : WEFT_SELECT_RECV,
                               .elem = &vals[k],
                               .result = 12345};
  }
  if (any) {
    int rc = weft_select(cs, n, dl);
    count(&C.selects, 1);
    if (rc >= 0) {
      if ((uint32_t)rc >= n || !xs[rc])
        fail("weft_select returned case %d of %u (channel %p)", rc, n, (void *)cs[rc].chan);
      if (cs[rc].result == WEFT_EPIPE)
        count(&C.epipes, 1);
      else if (cs[rc].result != 0)
        fail("weft_select case result %d", cs[rc].result);
      else if (cs[rc].op == WEFT_SELECT_SEND)
        sent_val(xs[rc], &vals[rc]);
      else
        got_val(xs[rc], &vals[rc], &C.recvs);
    } else {
      expect_wait("weft_select", rc, dl);
    }
  }
  for (uint32_t k = 0; k < n; k++)
    if (xs[k])
      xchan_put(xs[k]);
}

/* ------------------------------------------------------------------ */
/* Mutexes, condition variables, wait groups                           */

struct cell {
  weft_mutex *m;
  uint64_t value;  /* under m */
  uint64_t holder; /* under m: the id of the task holding it, or 0 */
  counter shadow;  /* increments made */
};

static struct cell cells[NCELLS];

static void act_mutex(struct me *me) {
  struct cell *c = &cells[below(&me->rng, NCELLS)];
  uint32_t mode = below(&me->rng, 4), hold = below(&me->rng, 4);
  bool stray_unlock = chance(&me->rng, 5);
  int64_t dl = mode == 0 ? -1 : weft_now() + (int64_t)below(&me->rng, 3);
  int rc;

  if (stray_unlock && (rc = weft_mutex_unlock(c->m)) != WEFT_EPERM)
    fail("unlocking a mutex the task does not hold returned %s", weft_strerror(rc));
  rc = mode == 3 ? weft_mutex_trylock(c->m) : weft_mutex_lock(c->m, dl);
  if (mode == 3 && rc == WEFT_EBUSY)
    return;
  if (rc) {
    expect_wait("weft_mutex_lock", rc, dl);
    return;
  }
  if (c->holder != 0)
    fail("mutex acquired by %016" PRIx64 " while %016" PRIx64 " holds it", me->id, c->holder);
  c->holder = me->id;
  c->value++;
  if (hold == 1)
    weft_yield();
  else if (hold == 2)
    (void)weft_sleep(below(&me->rng, 2));
  if (c->holder != me->id)
    fail("mutex held by %016" PRIx64 " was taken by %016" PRIx64 " meanwhile", me->id, c->holder);
  c->holder = 0;
  if ((rc = weft_mutex_unlock(c->m)))
    fail("weft_mutex_unlock by its holder returned %s", weft_strerror(rc));
  count(&c->shadow, 1);
  count(&C.mutex_incs, 1);
}

/* Two tasks take turns incrementing a value, each waiting on a condition
 * variable for its turn; the value seen at each turn is checked. A
 * cancelled side abandons the game and wakes the other. */
struct pair {
  weft_mutex *m;
  weft_cond *c;
  int turn, value, rounds; /* under m */
  bool abandoned;          /* under m */
  bool broadcast;          /* immutable */
  atomic_int refs;
};

/* Lock m even in a cancelled task (where weft_mutex_lock refuses). */
static void lock_anyway(weft_mutex *m) {
  int rc = weft_mutex_lock(m, -1);
  if (rc == WEFT_ECANCELED && weft_canceled()) {
    while ((rc = weft_mutex_trylock(m)) == WEFT_EBUSY)
      weft_yield();
  }
  if (rc)
    fail("locking a pair's mutex returned %s", weft_strerror(rc));
}

static void pair_put(struct pair *p) {
  if (atomic_fetch_sub(&p->refs, 1) != 1)
    return;
  if (!p->abandoned && p->value != 2 * p->rounds)
    fail("cond pair ended at %d after %d rounds each", p->value, p->rounds);
  int rc1 = weft_cond_free(p->c), rc2 = weft_mutex_free(p->m);
  if (rc1 || rc2)
    fail("freeing an idle cond/mutex: %s / %s", weft_strerror(rc1), weft_strerror(rc2));
  count(p->abandoned ? &C.cond_abandoned : &C.cond_pairs, 1);
  free(p);
}

static void pair_play(struct pair *p, int side) {
  for (int k = 0; k < p->rounds; k++) {
    lock_anyway(p->m);
    while (p->turn != side && !p->abandoned) {
      int64_t dl = (k & 1) ? weft_now() + 5 : -1;
      int rc = weft_cond_wait(p->c, p->m, dl);
      if (rc == 0 || (rc == WEFT_ETIMEDOUT && dl != -1))
        continue;
      if (rc != WEFT_ECANCELED || !weft_canceled())
        fail("weft_cond_wait returned %s", weft_strerror(rc));
      p->abandoned = true;
      weft_cond_broadcast(p->c);
    }
    if (p->abandoned) {
      int rc = weft_mutex_unlock(p->m);
      if (rc)
        fail("cond pair: unlocking the pair's mutex failed: %s", weft_strerror(rc));
      return;
    }
    if (p->value != 2 * k + side)
      fail("cond pair: side %d saw %d at its round %d", side, p->value, k);
    p->value++;
    p->turn = 1 - side;
    int rc = p->broadcast ? weft_cond_broadcast(p->c) : weft_cond_signal(p->c);
    if (rc || (rc = weft_mutex_unlock(p->m)))
      fail("cond pair: signal/unlock returned %s", weft_strerror(rc));
    count(&C.cond_rounds, 1);
  }
}

static void partner_run(struct me *me) {
  struct pair *p = me->rec->ctx;
  pair_play(p, 1);
  pair_put(p);
}

static void act_cond(struct me *me) {
  int rounds = 1 + (int)below(&me->rng, 10);
  bool bcast = chance(&me->rng, 30);
  struct family *f = family_of(me);
  struct pair *p;
  weft_task *h;
  int rc;

  if (f->n >= MAX_SLOTS)
    return;
  if (!(p = calloc(1, sizeof *p)))
    fail("out of memory");
  if ((rc = weft_mutex_new(&p->m)) || (rc = weft_cond_new(&p->c)))
    fail("making a mutex/cond: %s", weft_strerror(rc));
  p->rounds = rounds;
  p->broadcast = bcast;
  atomic_store(&p->refs, 2);
  struct rec *r = spawn_task(me, K_PARTNER, F_CAPPED, p, &h);
  if (!r) {
    weft_cond_free(p->c);
    weft_mutex_free(p->m);
    free(p);
    return;
  }
  int i = slot_add(f, h, r, false, false);
  pair_play(p, 0);
  pair_put(p);
  slot_join(f, i);
}

struct group {
  weft_wg *wg;
  atomic_int done;
  atomic_int refs;
};

static void group_put(struct group *g) {
  if (atomic_fetch_sub(&g->refs, 1) != 1)
    return;
  int rc = weft_wg_free(g->wg);
  if (rc)
    fail("weft_wg_free of an idle wait group: %s", weft_strerror(rc));
  free(g);
}

static void wg_member_run(struct me *me) {
  struct group *g = me->rec->ctx;
  uint32_t work = below(&me->rng, 4);
  if (work == 1)
    weft_yield();
  else if (work == 2)
    (void)weft_sleep(below(&me->rng, 2));
  atomic_fetch_add(&g->done, 1);
  int rc = weft_wg_done(g->wg);
  if (rc)
    fail("weft_wg_done returned %s", weft_strerror(rc));
  group_put(g);
}

static void act_wg(struct me *me) {
  int k = 1 + (int)below(&me->rng, 6);
  int64_t dl = chance(&me->rng, 20) ? weft_now() + 1 : -1;
  struct group *g = calloc(1, sizeof *g);
  int rc, i;

  if (!g)
    fail("out of memory");
  if ((rc = weft_wg_new(&g->wg)))
    fail("weft_wg_new: %s", weft_strerror(rc));
  if ((rc = weft_wg_add(g->wg, -1)) != WEFT_EINVAL)
    fail("weft_wg_add below zero returned %s", weft_strerror(rc));
  if ((rc = weft_wg_add(g->wg, k)))
    fail("weft_wg_add: %s", weft_strerror(rc));
  atomic_store(&g->refs, 1 + k);
  for (i = 0; i < k; i++)
    if (!spawn_task(me, K_WG, F_CAPPED | F_DETACHED, g, NULL))
      break;
  if (i < k) { /* the cap refused the rest */
    atomic_fetch_sub(&g->refs, k - i);
    if ((rc = weft_wg_add(g->wg, -(long)(k - i))))
      fail("weft_wg_add: %s", weft_strerror(rc));
  }
  rc = weft_wg_wait(g->wg, dl);
  if (rc == 0 && atomic_load(&g->done) != i)
    fail("weft_wg_wait returned with %d of %d members done", atomic_load(&g->done), i);
  if (rc)
    expect_wait("weft_wg_wait", rc, dl);
  count(&C.wgs, 1);
  count(&C.wg_members, (uint64_t)i);
  group_put(g);
}

/* ------------------------------------------------------------------ */
/* Generators                                                          */

struct genarg {
  uint64_t seed;
  int len;
  bool blocky;     /* it yields to the scheduler and sleeps inside */
  uint64_t sum_in; /* what the driver sent */
  bool cleaned;    /* it saw weft_gen_closing */
};

static void *gen_value(uint64_t seed, int i) {
  return (void *)(uintptr_t)(mix64(seed + (uint64_t)i) | 1);
}

static void *gen_fn(void *arg) {
  struct genarg *a = arg;
  for (int i = 0; i < a->len; i++) {
    if (a->blocky && i % 3 == 1)
      weft_yield();
    if (a->blocky && i % 5 == 2)
      (void)weft_sleep(0);
    void *in = weft_gen_yield(gen_value(a->seed, i));
    if (weft_gen_closing()) {
      a->cleaned = true;
      return NULL;
    }
    a->sum_in += (uintptr_t)in;
  }
  return (void *)(uintptr_t)(a->sum_in ^ a->seed);
}

static void gen_expect(weft_gen *g, int want, const char *when) {
  int st = weft_gen_state(g);
  if (st != want)
    fail("generator state %d %s, expected %d", st, when, want);
}

static void act_gen(struct me *me) {
  struct genarg a = {.seed = new_id(me), .len = (int)below(&me->rng, 20)};
  a.blocky = chance(&me->rng, 30);
  int close_at = chance(&me->rng, 25) ? (int)below(&me->rng, (uint32_t)a.len + 1) : -1;
  bool bad_first = chance(&me->rng, 20);
  uint64_t sum = 0;
  weft_gen *g;
  void *out = NULL;
  int rc, i;

  if ((rc = weft_gen_new(&g, gen_fn, &a)))
    fail("weft_gen_new: %s", weft_strerror(rc));
  gen_expect(g, WEFT_GEN_CREATED, "after new");
  if (bad_first && (rc = weft_gen_send(g, (void *)1, NULL)) != WEFT_EINVAL)
    fail("a non-NULL first weft_gen_send returned %s", weft_strerror(rc));
  rc = weft_gen_next(g, &out);
  for (i = 0; i < a.len; i++) {
    void *in = (void *)(uintptr_t)(1 + below(&me->rng, 1000));
    if (rc != 0 || out != gen_value(a.seed, i))
      fail("generator value %d: rc %s, got %p, expected %p", i, weft_strerror(rc), out,
           gen_value(a.seed, i));
    gen_expect(g, WEFT_GEN_SUSPENDED, "after a yield");
    count(&C.gen_values, 1);
    if (i == close_at)
      break;
    sum += (uintptr_t)in;
    rc = weft_gen_send(g, in, &out);
  }
  if (i < a.len) {
    if ((rc = weft_gen_close(g)) || !a.cleaned)
      fail("weft_gen_close returned %s, cleanup %s", weft_strerror(rc),
           a.cleaned ? "ran" : "skipped");
    count(&C.gens_closed, 1);
  } else {
    if (rc != WEFT_EDONE || out != (void *)(uintptr_t)(sum ^ a.seed) || a.sum_in != sum)
      fail("generator end: rc %s, returned %p, expected %p", weft_strerror(rc), out,
           (void *)(uintptr_t)(sum ^ a.seed));
    if ((rc = weft_gen_next(g, NULL)) != WEFT_EDONE)
      fail("resuming a finished generator returned %s", weft_strerror(rc));
  }
  gen_expect(g, WEFT_GEN_CLOSED, "at its end");
  if ((rc = weft_gen_free(g)))
    fail("weft_gen_free: %s", weft_strerror(rc));
  count(&C.gens, 1);
}

/* Errors thrown into generators (weft_gen_throw), and generators a task
 * leaves for its end. The generator checks at each resume what
 * weft_gen_thrown() says against what the driver did (its error, or 0
 * after a send, also after a park inside the generator), and that a
 * thrown-into yield returns NULL. It gives up on some errors (it returns
 * at once, with a result naming the error) and recovers from the others
 * (it yields its next value). A throw into a generator that never ran
 * closes it without running it and returns the error. A generator left
 * at a yield is closed by the runtime when its task's function returns:
 * its cleanup then counts it, before any join or completion callback of
 * the task may see the task finished (the record's `leaked`). */
struct throwarg {
  uint64_t seed;
  int len;
  bool blocky;        /* it parks between a resume and its next yield */
  bool started;       /* its function ran */
  int want_thrown;    /* what weft_gen_thrown() must say at the next resume */
  void *want_in;      /* what the yield must return when nothing was thrown */
  int recovered;      /* errors it went on after */
  bool cleaned;       /* it was closed at a yield */
  struct rec *leaker; /* the task that left it for its end, holding a ref */
};

/* The argument of generators left before they ever ran: never read. */
static struct throwarg never_run;

static bool throw_fatal(int err) {
  return (-err) % 4 == 0;
}

static void *throw_result(uint64_t seed, int err, int recovered) {
  return (void *)(uintptr_t)(mix64(seed ^ ((uint64_t)(uint32_t)err << 20) ^ (uint64_t)recovered) |
                             1);
}

static int draw_err(struct me *me) {
  return -(int)(1000 + below(&me->rng, 1000)); /* the program's own codes */
}

/* Closed at a yield: by the driver, or by the runtime at the task's end. */
static void throw_cleanup(struct throwarg *a) {
  struct rec *r = a->leaker;
  a->cleaned = true;
  if (!r)
    return;
  free(a);
  count(&C.gens_leak_closed, 1);
  atomic_fetch_sub(&r->leaked, 1);
  rec_put(r, 1);
}

static void *throw_gen(void *arg) {
  struct throwarg *a = arg;
  if (a == &never_run)
    fail("a generator closed before it ever ran was run");
  a->started = true;
  for (int i = 0; i < a->len; i++) {
    void *in = weft_gen_yield(gen_value(a->seed, i));
    int err = weft_gen_thrown();
    if (weft_gen_closing()) {
      if (err)
        fail("weft_gen_thrown() says %d in a generator being closed", err);
      if (a->blocky)
        weft_yield();
      throw_cleanup(a);
      return NULL;
    }
    if (err != a->want_thrown)
      fail("weft_gen_thrown() says %d at yield %d, the driver threw %d", err, i, a->want_thrown);
    if (err ? in != NULL : in != a->want_in)
      fail("yield %d returned %p after %s %p", i, in, err ? "a throw, not" : "a send of",
           err ? NULL : a->want_in);
    if (a->blocky && i % 2 == 0) {
      (void)weft_sleep(i % 4 == 0 ? 0 : 1); /* WEFT_ECANCELED in a cancelled task */
      weft_yield();
      if (weft_gen_thrown() != err)
        fail("weft_gen_thrown() went from %d to %d across a park in the generator", err,
             weft_gen_thrown());
    }
    if (err && throw_fatal(err))
      return throw_result(a->seed, err, a->recovered);
    if (err)
      a->recovered++;
  }
  return throw_result(a->seed, 0, a->recovered);
}

/* Leave g (stopped at a yield) for the task's end to close and free. */
static void throw_leak(struct me *me, struct throwarg *a) {
  a->leaker = me->rec;
  atomic_fetch_add(&me->rec->refs, 1); /* dropped by its cleanup */
  atomic_fetch_add(&me->rec->leaked, 1);
  count(&C.gens_leaked, 1);
}

/* After the driver's last resume: closed, and it stays so. */
static void throw_finish(weft_gen *g, struct throwarg *a, int err) {
  int rc;
  gen_expect(g, WEFT_GEN_CLOSED, "after its end");
  if ((rc = weft_gen_throw(g, err, NULL)) != WEFT_EDONE)
    fail("weft_gen_throw into a closed generator returned %s", weft_strerror(rc));
  if ((rc = weft_gen_free(g)))
    fail("weft_gen_free: %s", weft_strerror(rc));
  free(a);
  count(&C.gens, 1);
}

static void act_throw(struct me *me) {
  struct throwarg *a = calloc(1, sizeof *a);
  if (!a)
    fail("out of memory");
  a->seed = new_id(me);
  a->len = (int)below(&me->rng, 8);
  a->blocky = chance(&me->rng, 30);
  bool leak = chance(&me->rng, 15), unstarted = chance(&me->rng, 15), zero = chance(&me->rng, 10);
  int stop_at = (int)below(&me->rng, (uint32_t)a->len + 1); /* where it leaks or closes */
  bool close = chance(&me->rng, 20);
  int err0 = draw_err(me), recovered = 0, rc, i;
  void *out = NULL;
  weft_gen *g;

  if (leak && unstarted) { /* never run: the end only frees it */
    free(a);
    if ((rc = weft_gen_new(&g, throw_gen, &never_run)))
      fail("weft_gen_new: %s", weft_strerror(rc));
    count(&C.gens_leaked, 1);
    count(&C.gens_leak_closed, 1);
    return;
  }
  if ((rc = weft_gen_new(&g, throw_gen, a)))
    fail("weft_gen_new: %s", weft_strerror(rc));
  if (unstarted) { /* raised at its first line: closed without running */
    if ((rc = weft_gen_throw(g, err0, &out)) != err0 || a->started)
      fail("a throw into a new generator returned %s (not %d), the generator %s", weft_strerror(rc),
           err0, a->started ? "ran" : "did not run");
    if ((rc = weft_gen_next(g, NULL)) != WEFT_EDONE)
      fail("resuming a generator closed by a throw returned %s", weft_strerror(rc));
    count(&C.throws_unstarted, 1);
    throw_finish(g, a, err0);
    return;
  }
  rc = weft_gen_next(g, &out);
  for (i = 0;; i++) {
    bool thr = chance(&me->rng, 40);
    int err = draw_err(me);
    void *in = (void *)(uintptr_t)(1 + below(&me->rng, 1000));
    if (i == a->len) {
      if (rc != WEFT_EDONE || out != throw_result(a->seed, 0, recovered))
        fail("a thrown-into generator's end: rc %s, returned %p, expected %p", weft_strerror(rc),
             out, throw_result(a->seed, 0, recovered));
      break;
    }
    if (rc != 0 || out != gen_value(a->seed, i))
      fail("thrown-into generator value %d: rc %s, got %p, expected %p", i, weft_strerror(rc), out,
           gen_value(a->seed, i));
    gen_expect(g, WEFT_GEN_SUSPENDED, "after a yield");
    count(&C.gen_values, 1);
    if (zero && (rc = weft_gen_throw(g, 0, NULL)) != WEFT_EINVAL)
      fail("weft_gen_throw of error 0 returned %s", weft_strerror(rc));
    if (i == stop_at && leak) {
      throw_leak(me, a);
      return;
    }
    if (i == stop_at && close) {
      if ((rc = weft_gen_close(g)) || !a->cleaned)
        fail("weft_gen_close after throws returned %s, cleanup %s", weft_strerror(rc),
             a->cleaned ? "ran" : "skipped");
      count(&C.gens_closed, 1);
      break;
    }
    if (!thr) {
      a->want_thrown = 0;
      a->want_in = in;
      rc = weft_gen_send(g, in, &out);
      continue;
    }
    a->want_thrown = err;
    rc = weft_gen_throw(g, err, &out);
    count(&C.throws, 1);
    if (throw_fatal(err)) {
      if (rc != WEFT_EDONE || out != throw_result(a->seed, err, recovered))
        fail("a generator giving up on error %d: rc %s, returned %p, expected %p", err,
             weft_strerror(rc), out, throw_result(a->seed, err, recovered));
      count(&C.throws_fatal, 1);
      break;
    }
    recovered++;
    count(&C.throws_recovered, 1);
  }
  throw_finish(g, a, err0);
}

/* ------------------------------------------------------------------ */
/* TCP                                                                 */
/*
 * A client sends a header and len bytes of a stream derived from the
 * connection id; the server checks every byte and echoes it; the client
 * checks every echoed byte. Then the client shuts down its sending side,
 * the server answers with the count it received and closes, and the client
 * expects that count and EOF. In lockstep mode the client sends a chunk and
 * reads its echo; in split mode a child task sends while the client reads.
 */
#define TCP_MAGIC 0x77656674u

struct hdr {
  uint32_t magic, split;
  uint64_t conn, len;
};

struct tconn {
  weft_sock *s;
  atomic_int refs;
  uint64_t seed, len, chunks; /* immutable */
  int send_rc;                /* the sender's; read after joining it */
};

static void stream_fill(uint64_t seed, uint64_t off, unsigned char *buf, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint64_t p = off + i, w = mix64(seed ^ ((p >> 3) * 0x9e3779b97f4a7c15ull));
    for (unsigned b = (unsigned)(p & 7); b < 8 && i < n; b++, i++)
      buf[i] = (unsigned char)(w >> (b * 8));
  }
}

/* The offset of the first byte of buf that is not the stream's, or -1. */
static int64_t stream_diff(uint64_t seed, uint64_t off, const unsigned char *buf, size_t n) {
  unsigned char want[BUF];
  stream_fill(seed, off, want, n);
  if (memcmp(want, buf, n) == 0)
    return -1;
  for (size_t i = 0;; i++)
    if (want[i] != buf[i])
      return (int64_t)(off + i);
}

static size_t chunk_len(struct rng *r, uint64_t left) {
  uint64_t n = 1 + below(r, BUF);
  return (size_t)(n < left ? n : left);
}

/* Receive exactly n bytes: 0, 1 for EOF first, or an error. */
static int recv_exact(weft_sock *s, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t k = weft_recv(s, (char *)buf + got, n - got, -1);
    if (k <= 0)
      return k == 0 ? 1 : (int)k;
    got += (size_t)k;
  }
  return 0;
}

static void close_sock(weft_sock *s) {
  int rc = weft_sock_close(s);
  if (rc)
    fail("weft_sock_close: %s", weft_strerror(rc));
}

static void tconn_put(struct tconn *tc) {
  if (atomic_fetch_sub(&tc->refs, 1) == 1) {
    close_sock(tc->s);
    free(tc);
  }
}

/* What a peer going away looks like: early EOF (1), a reset, a broken pipe. */
static bool peer_gone(int rc) {
  return rc == 1 || rc == WEFT_ECONNRESET || rc == WEFT_EPIPE;
}

/* A client connection ended early (rc: an error, or 1 for early EOF). That
 * is legal only in a cancelled task, or once the listener is closing. */
static void tcp_abort(const char *what, int rc) {
  bool stopping = atomic_load(&T.stop) && (peer_gone(rc) || rc == WEFT_ECONNREFUSED);
  if (!(rc == WEFT_ECANCELED && weft_canceled()) && !stopping)
    fail("TCP client: %s: %s%s", what, rc == 1 ? "early EOF" : weft_strerror(rc),
         atomic_load(&T.stop) ? "" : " before the stop");
  count(&C.tcp_aborted, 1);
}

static void sender_run(struct me *me) {
  struct tconn *tc = me->rec->ctx;
  struct rng cr = {tc->chunks};
  unsigned char buf[BUF];
  uint64_t off = 0;
  while (off < tc->len) {
    size_t n = chunk_len(&cr, tc->len - off);
    stream_fill(tc->seed, off, buf, n);
    if ((tc->send_rc = weft_send(tc->s, buf, n, -1)))
      break;
    off += n;
    weft_yield();
  }
  weft_sock_shutdown(tc->s, SHUT_WR); /* fails when the client shut it first */
  tconn_put(tc);
}

/* Read and check n echoed bytes at off. 0, or what recv_exact said. */
static int echo_check(weft_sock *s, uint64_t conn, uint64_t seed, uint64_t off, size_t n) {
  unsigned char in[BUF];
  int rc = recv_exact(s, in, n);
  if (rc)
    return rc;
  int64_t bad = stream_diff(seed, off, in, n);
  if (bad >= 0)
    fail("TCP: echoed byte %" PRId64 " of connection %016" PRIx64 " differs", bad, conn);
  return 0;
}

/* Shut the sending side, expect the server's count and EOF. */
static int tcp_trailer(weft_sock *s, uint64_t conn, uint64_t len, bool shut) {
  uint64_t rx;
  char c;
  int rc;
  if (shut && (rc = weft_sock_shutdown(s, SHUT_WR)))
    return rc;
  if ((rc = recv_exact(s, &rx, sizeof rx)))
    return rc;
  if (rx != len)
    fail("TCP: the server of connection %016" PRIx64 " received %" PRIu64 " bytes of %" PRIu64,
         conn, rx, len);
  ssize_t k = weft_recv(s, &c, 1, -1);
  if (k > 0)
    fail("TCP: bytes after the server's count on connection %016" PRIx64, conn);
  return (int)k;
}

static int tcp_lockstep(weft_sock *s, uint64_t conn, uint64_t seed, uint64_t len, struct rng *cr) {
  unsigned char out[BUF];
  uint64_t off = 0;
  int rc;
  while (off < len) {
    size_t n = chunk_len(cr, len - off);
    stream_fill(seed, off, out, n);
    if ((rc = weft_send(s, out, n, -1)) || (rc = echo_check(s, conn, seed, off, n)))
      return rc;
    off += n;
    weft_yield(); /* socket calls that succeed at once do not switch */
  }
  return tcp_trailer(s, conn, len, true);
}

/* Split mode: a child task sends while this one reads the echo; the child
 * holds a reference to the connection. Returns 2 when the child could not
 * be had (the live cap), with the socket untouched. */
static int tcp_split(struct me *me, weft_sock *s, uint64_t conn, uint64_t len, struct rng *cr) {
  struct family *f = family_of(me);
  struct tconn *tc;
  weft_task *h;
  struct rec *r;
  uint64_t off = 0;
  int rc = 0, i;

  if (f->n >= MAX_SLOTS)
    return 2;
  if (!(tc = calloc(1, sizeof *tc)))
    fail("out of memory");
  *tc = (struct tconn){.s = s, .seed = mix64(conn), .len = len, .chunks = cr->s};
  atomic_store(&tc->refs, 2);
  if (!(r = spawn_task(me, K_SENDER, F_CAPPED, tc, &h))) {
    free(tc);
    return 2;
  }
  i = slot_add(f, h, r, false, false);
  while (off < len && rc == 0) {
    size_t n = len - off < BUF ? (size_t)(len - off) : BUF;
    rc = echo_check(s, conn, tc->seed, off, n);
    off += n;
  }
  if (rc == 0)
    rc = tcp_trailer(s, conn, len, false);
  if (rc)
    weft_sock_shutdown(s, SHUT_RDWR); /* stops the sender */
  if (slot_join(f, i) == 0 && rc == 0 && tc->send_rc)
    fail("TCP: the sender of connection %016" PRIx64 " failed: %s", conn,
         weft_strerror(tc->send_rc));
  tconn_put(tc);
  return rc;
}

static void act_tcp(struct me *me) {
  uint64_t conn = new_id(me);
  uint64_t len = chance(&me->rng, 3) ? below(&me->rng, 256 * 1024) : below(&me->rng, BUF);
  bool split = chance(&me->rng, 40);
  struct rng cr = {mix64(conn ^ 0xc1)};
  struct hdr hd = {TCP_MAGIC, split, conn, len};
  int64_t dl = weft_now() + 2;
  weft_sock *s;
  int rc;

  if ((rc = weft_sem_wait(T.tcp_slots, dl))) {
    expect_wait("weft_sem_wait", rc, dl);
    return;
  }
  count(&C.tcp_tries, 1);
  if ((rc = weft_tcp_connect(&s, "127.0.0.1", T.port, -1))) {
    tcp_abort("connect", rc);
    goto out_post;
  }
  if ((rc = weft_send(s, &hd, sizeof hd, -1))) {
    tcp_abort("header", rc);
    close_sock(s);
    goto out_post;
  }
  rc = split ? tcp_split(me, s, conn, len, &cr) : 2;
  if (rc == 2) {
    rc = tcp_lockstep(s, conn, mix64(conn), len, &cr);
    close_sock(s);
  }
  if (rc) {
    tcp_abort("transfer", rc);
  } else {
    count(&C.tcp_clean, 1);
    count(&C.tcp_bytes, len);
  }
out_post:
  if ((rc = weft_sem_post(T.tcp_slots)))
    fail("weft_sem_post: %s", weft_strerror(rc));
}

/* Receive, check and echo the hd->len bytes of a connection's stream.
 * Returns 0, 1 for an early EOF, or an error. */
static int serve_stream(weft_sock *s, const struct hdr *hd, uint64_t *rx) {
  unsigned char buf[BUF];
  int rc;
  while (*rx < hd->len) {
    size_t want = hd->len - *rx < BUF ? (size_t)(hd->len - *rx) : BUF;
    ssize_t k = weft_recv(s, buf, want, -1);
    if (k <= 0)
      return k == 0 ? 1 : (int)k;
    int64_t bad = stream_diff(mix64(hd->conn), *rx, buf, (size_t)k);
    if (bad >= 0)
      fail("TCP: byte %" PRId64 " of connection %016" PRIx64 " arrived wrong", bad, hd->conn);
    *rx += (uint64_t)k;
    count(&C.srv_bytes, (uint64_t)k);
    if ((rc = weft_send(s, buf, (size_t)k, -1)))
      return rc;
    weft_yield();
  }
  return 0;
}

/* One accepted connection: the stream, then EOF, then the count back. */
static void server_run(struct me *me) {
  weft_sock *s = me->rec->ctx;
  struct hdr hd;
  uint64_t rx = 0;
  char c;
  int rc = recv_exact(s, &hd, sizeof hd);

  if (rc == 0 && hd.magic != TCP_MAGIC)
    fail("TCP server: bad header magic %08x", hd.magic);
  if (rc == 0)
    rc = serve_stream(s, &hd, &rx);
  if (rc == 0) {
    ssize_t k = weft_recv(s, &c, 1, -1);
    if (k > 0)
      fail("TCP: connection %016" PRIx64 " sent more than the %" PRIu64 " bytes announced", hd.conn,
           hd.len);
    rc = (int)k;
  }
  if (rc == 0)
    rc = weft_send(s, &rx, sizeof rx, -1);
  if (rc && !peer_gone(rc))
    fail("TCP server: %s (it is never cancelled and waits without deadline)", weft_strerror(rc));
  count(rc ? &C.srv_aborted : &C.srv_clean, 1);
  close_sock(s);
}

static void acceptor_run(struct me *me) {
  for (;;) {
    weft_sock *c;
    int rc = weft_tcp_accept(T.listener, &c, -1);
    if (rc == WEFT_ECANCELED)
      return;
    if (rc == WEFT_EMFILE || rc == -ENFILE) {
      (void)weft_sleep(5);
      continue;
    }
    if (rc)
      fail("weft_tcp_accept: %s", weft_strerror(rc));
    spawn_task(me, K_SERVER, F_DETACHED, c, NULL);
  }
}

/* ------------------------------------------------------------------ */
/* Actors                                                              */

static void act_spawn(struct me *me) {
  uint32_t mode = below(&me->rng, 100);
  struct family *f;
  weft_task *h;
  struct rec *r;

  if (me->depth >= MAX_DEPTH || me->kids >= MAX_KIDS || atomic_load(&T.stop))
    return;
  if (mode < 30) {
    if (spawn_task(me, K_ACTOR, F_CAPPED | F_DETACHED, NULL, NULL))
      me->kids++;
    return;
  }
  f = family_of(me);
  if (f->n >= MAX_SLOTS)
    return;
  bool later = mode < 45;
  bool targetable = me->cancel_family && !later;
  int flags = F_CAPPED | (targetable ? F_CANCELLABLE : 0);
  if (targetable && mode >= 85)
    flags |= F_SIBCANCEL;
  if (!(r = spawn_task(me, K_ACTOR, flags, (flags & F_SIBCANCEL) ? f : NULL, &h)))
    return;
  me->kids++;
  slot_add(f, h, r, targetable, later);
}

/* ------------------------------------------------------------------ */
/* Scopes and shields                                                  */

/* A scope's member: done at once, or a nap then success or its own
 * failure code, or a wait that only a cancel ends. */
struct member {
  atomic_int *finished;
  int kind, code;
  int64_t nap;
};

#define MEMBER_FAIL 1000 /* member failure codes: MEMBER_FAIL + index */

static int member_fn(void *arg) {
  struct member *m = arg;
  int rc = 0;
  if (m->kind == 1) {
    rc = weft_sleep(m->nap);
    if (rc == 0)
      rc = m->code;
  } else if (m->kind == 2) {
    rc = weft_sleep_until(-1);
    if (rc != WEFT_ECANCELED)
      fail("a scope member's endless sleep returned %s", weft_strerror(rc));
  }
  atomic_fetch_add(m->finished, 1);
  return rc;
}

/* Whatever weft_scope_wait or weft_scope_free returns, unless the
 * deadline passed, no member may still run. */
static void act_scope(struct me *me) {
  struct member m[6];
  atomic_int finished = 0;
  int k = 1 + (int)below(&me->rng, 6), started = 0, rc;
  bool endless = false, failing = false;
  int64_t dl = chance(&me->rng, 30) ? weft_now() + below(&me->rng, 3) : -1;
  weft_scope *sc;

  if ((rc = weft_scope_new(&sc)))
    fail("weft_scope_new: %s", weft_strerror(rc));
  for (int i = 0; i < k; i++) {
    m[i] = (struct member){&finished, (int)below(&me->rng, 3), 0, below(&me->rng, 3)};
    m[i].code = chance(&me->rng, 50) ? MEMBER_FAIL + i : 0;
    endless |= m[i].kind == 2;
    failing |= m[i].kind == 1 && m[i].code;
    if ((rc = weft_scope_go(sc, member_fn, &m[i])) == 0)
      started++;
    else if (rc != WEFT_ENOMEM)
      fail("weft_scope_go: %s", weft_strerror(rc));
  }
  count(&C.scope_members, (uint64_t)started);
  /* With an endless member and no failure, only a deadline, a cancel or
   * weft_scope_free ends it: wait with a deadline then. */
  if (endless && !failing && dl < 0)
    dl = weft_now() + below(&me->rng, 3);
  rc = weft_scope_wait(sc, dl);
  if (rc == WEFT_ETIMEDOUT && dl >= 0) {
    count(&C.timeouts, 1);
  } else {
    if (atomic_load(&finished) != started)
      fail("weft_scope_wait returned %s with %d of %d members finished", weft_strerror(rc),
           atomic_load(&finished), started);
    if (rc >= MEMBER_FAIL && rc < MEMBER_FAIL + k)
      count(&C.scope_failed, 1);
    else if (rc == WEFT_ECANCELED && !weft_canceled())
      fail("weft_scope_wait returned WEFT_ECANCELED in a task not cancelled");
    else if (rc && rc != WEFT_ECANCELED)
      fail("weft_scope_wait returned %s", weft_strerror(rc));
    else if (rc == 0 && (failing || endless) && started == k)
      fail("weft_scope_wait returned 0 with a failing or endless member");
  }
  if ((rc = weft_scope_free(sc)))
    fail("weft_scope_free: %s", weft_strerror(rc));
  if (atomic_load(&finished) != started)
    fail("weft_scope_free returned with %d of %d members finished", atomic_load(&finished),
         started);
  count(&C.scopes, 1);
}

/* A shielded sleep ends on its own, cancelled or not, and the cancel is
 * still there once the shield is down. */
static void act_shield(struct me *me) {
  bool before = weft_canceled();
  int was = weft_cancel_shield(1), rc;
  if (was != 0)
    fail("weft_cancel_shield: the shield was already up (%d)", was);
  if (weft_canceled())
    fail("weft_canceled() is nonzero behind a shield");
  if ((rc = weft_sleep(below(&me->rng, 3))))
    fail("a shielded sleep returned %s", weft_strerror(rc));
  weft_cancel_shield(0);
  if (before && !weft_canceled())
    fail("a cancel was lost behind a shield");
  count(&C.shields, 1);
}

static void act_sleep(struct me *me) {
  int64_t ms = below(&me->rng, 4);
  bool until = chance(&me->rng, 30);
  int64_t t0 = weft_now(), end = t0 + ms;
  int rc = until ? weft_sleep_until(end) : weft_sleep(ms);
  count(&C.sleeps, 1);
  if (rc)
    expect_wait("weft_sleep", rc, -1);
  else if (weft_now() < end)
    fail("a sleep of %" PRId64 " ms woke %" PRId64 " ms early", ms, end - weft_now());
}

/* ------------------------------------------------------------------ */
/* Completion callbacks (weft_task_on_done)                            */
/*
 * An actor adds one to four callbacks to a child it holds: a new short
 * child (sometimes once its done channel has closed, so it has finished)
 * or one already in its family. Each callback holds a reference to the
 * child's record and knows its ordinal among the callbacks of that child.
 * It checks that it runs once, in a task of its own, in the order added,
 * after the child ended and after the generators the child left were
 * closed, with the child's result and a canceled flag that agrees with
 * the record: 1 only for a child somebody cancelled, never 0 for one that
 * ended cancelled. The family still joins the child and checks its
 * result: a callback does not take the join. At the end every callback
 * added has run, and weft has spawned, besides the program's tasks, one
 * runner at least per child with callbacks and one at most per callback.
 */
struct odcb {
  struct rec *r; /* the child's, with a reference */
  uint64_t id;
  weft_task *h; /* an identity only once the callback runs */
  int ord;      /* its place among the child's callbacks */
  bool block;   /* it parks, delaying the next */
  atomic_int calls;
};

static void on_done_cb(weft_task *t, void *result, int canceled, void *arg) {
  struct odcb *cb = arg;
  struct rec *r = cb->r;
  const char *kind = kind_name[r->kind];
  if (atomic_fetch_add(&cb->calls, 1))
    fail("a weft_task_on_done callback of %s task %016" PRIx64 " ran twice", kind, cb->id);
  if (!weft_self() || weft_self() == t)
    fail("a weft_task_on_done callback ran outside a task of its own");
  if (t != cb->h)
    fail("a weft_task_on_done callback got task %p, added on %p", (void *)t, (void *)cb->h);
  int ord = atomic_fetch_add(&r->od_ran, 1);
  if (ord != cb->ord)
    fail("callback %d of %s task %016" PRIx64 " ran as number %d", cb->ord, kind, cb->id, ord);
  int ended = atomic_load(&r->ended);
  if (ended == END_NONE)
    fail("a callback of %s task %016" PRIx64 " ran before the task ended", kind, cb->id);
  if (atomic_load(&r->leaked))
    fail("a callback of %s task %016" PRIx64 " ran before the generators it left were closed", kind,
         cb->id);
  if (result != expected_result(cb->id))
    fail("a callback of %s task %016" PRIx64 " got result %p, not %p", kind, cb->id, result,
         expected_result(cb->id));
  if ((canceled != 0 && canceled != 1) || (canceled && !atomic_load(&r->cancel_req)) ||
      (!canceled && ended == END_CANCELLED))
    fail("a callback of %s task %016" PRIx64 " got canceled=%d; the task %s cancelled and ended %s",
         kind, cb->id, canceled, atomic_load(&r->cancel_req) ? "was" : "was never",
         ended == END_CANCELLED ? "cancelled" : "not cancelled");
  if (cb->block) {
    weft_yield();
    int rc = weft_sleep(1);
    if (rc)
      fail("a sleep in a completion callback returned %s", weft_strerror(rc));
  }
  count(&C.ondone_ran, 1);
  free(cb);
  rec_put(r, 1);
}

/* Add n callbacks to h (record r), which the caller holds. */
static void ondone_add(weft_task *h, struct rec *r, int n, uint32_t block) {
  for (int k = 0; k < n; k++) {
    struct odcb *cb = calloc(1, sizeof *cb);
    if (!cb)
      fail("out of memory");
    cb->r = r;
    cb->id = atomic_load(&r->id);
    cb->h = h;
    cb->block = block & (1u << k);
    cb->ord = atomic_fetch_add(&r->od_added, 1);
    atomic_fetch_add(&r->refs, 1); /* the handle's keeps r until here */
    int rc = weft_task_on_done(h, on_done_cb, cb);
    if (rc)
      fail("weft_task_on_done: %s", weft_strerror(rc));
    count(&C.ondone_regs, 1);
  }
  if (!atomic_exchange(&r->od_any, true))
    count(&C.ondone_targets, 1);
}

static void done_child_run(struct me *me) {
  uint32_t work = below(&me->rng, 5);
  if (work == 1)
    weft_yield();
  else if (work == 2)
    (void)weft_sleep(below(&me->rng, 3)); /* WEFT_ECANCELED when cancelled */
  else if (work == 3)
    act_throw(me); /* may leave a generator for its end */
}

static void act_on_done(struct me *me) {
  uint32_t pick = below(&me->rng, 1u << 16);
  bool fresh = chance(&me->rng, 60), after = chance(&me->rng, 40), join = chance(&me->rng, 50);
  bool bad = chance(&me->rng, 5);
  uint32_t block = chance(&me->rng, 10) ? below(&me->rng, 16) : 0;
  int n = 1 + (int)below(&me->rng, 4), rc, i;
  struct family *f = family_of(me);
  weft_task *h;
  struct rec *r;

  if (bad && ((rc = weft_task_on_done(NULL, on_done_cb, NULL)) != WEFT_EINVAL ||
              (rc = weft_task_on_done(weft_self(), NULL, NULL)) != WEFT_EINVAL))
    fail("weft_task_on_done with a NULL task or callback returned %s", weft_strerror(rc));
  if (!fresh && f->n > 0) { /* a child of the family, if its handle is held */
    i = (int)(pick % (uint32_t)f->n);
    if (f->s[i].h) /* only the owner (this task) claims handles */
      ondone_add(f->s[i].h, f->s[i].r, n, block);
    return;
  }
  if (f->n >= MAX_SLOTS)
    return;
  bool targetable = me->cancel_family;
  if (!(r = spawn_task(me, K_DONE, F_CAPPED | (targetable ? F_CANCELLABLE : 0), NULL, &h)))
    return;
  i = slot_add(f, h, r, targetable, false);
  if (after) { /* it has finished once its done channel is closed */
    weft_chan *done;
    if ((rc = weft_task_done(h, &done)))
      fail("weft_task_done: %s", weft_strerror(rc));
    rc = weft_chan_recv(done, NULL, -1);
    if (rc == WEFT_EPIPE)
      count(&C.ondone_after, 1);
    else if (rc != WEFT_ECANCELED || !weft_canceled())
      fail("a receive on a done channel returned %s", weft_strerror(rc));
  }
  ondone_add(h, r, n, block);
  if (join)
    slot_join(f, i); /* the callbacks did not take the join */
}

/* ------------------------------------------------------------------ */
/* Signals (weft_signal_wait, weft_signal_hold, weft_signal_release)   */
/*
 * Signals are the process's: each signal has one game at a time (an actor
 * that finds it taken checks the error cases instead). main installs a
 * handler of the program's own for each before the runtime starts; weft
 * saves it and puts it back whenever it stops catching the signal, so a
 * raise that weft does not catch reaches that handler, which counts it as
 * a stray, and never ends the process.
 *
 * Exact games (SIGUSR2, and two real-time signals): the owner holds the
 * signal first, so that no raise can be lost however the waits and the
 * raises interleave, and one raise at a time is outstanding, so that no
 * two merge: either the owner waits and a child raises, taking turns
 * through a semaphore, or the owner raises and one to three waiter
 * children wait for one arrival each, the owner raising again only after
 * one of them has had its arrival. Every raise must wake exactly one wait
 * with its signal: a lost one hangs the game (the watchdog reports it); a
 * raise that woke two waits, or was both delivered and kept, leaves an
 * arrival that the poll (deadline 0) at the end of the game finds. Nothing
 * is in flight when the hold is released, so the signal's stray count
 * must be 0 at the end. Sometimes the owner holds twice and releases one
 * hold before the raises, or makes a release fail by listing a signal it
 * does not hold (nothing may change), and the waits list a second signal
 * nobody raises.
 *
 * The coalescing game (SIGURG, ignored by default, which no socket here
 * raises): the owner holds it, raises it one to six times at once, and
 * waits. Standard signals merge and a hold keeps one arrival, so only
 * this is guaranteed: the wait returns SIGURG. Polls take what else has
 * arrived. Raises may still be in flight at the release, so over the run
 * the arrivals plus the strays can only be at most the raises.
 *
 * The waits have no deadline, or short ones retried: a deadline only
 * shortens a wait, it never decides the outcome. The owner plays behind a
 * cancel shield, so that a cancelled owner still finishes (its cancel is
 * delivered afterwards); nobody cancels the children.
 */
enum { SG_USR2, SG_RT1, SG_RT2, SG_URG, SG_N };

static struct sigslot {
  int sig;
  bool exact;
  atomic_bool busy;    /* a game has it */
  atomic_ulong strays; /* arrivals the program's own handler saw */
} SG[SG_N];

static int quiet_sig[2]; /* never raised: SIGRTMAX-1, SIGRTMAX-2 */

/* The program's own handler, weft's saved disposition for the signals. */
static void on_stray(int sig) {
  for (int i = 0; i < SG_N; i++)
    if (SG[i].sig == sig)
      atomic_fetch_add_explicit(&SG[i].strays, 1, memory_order_relaxed);
}

static void signals_init(void) {
  struct sigaction sa;
  sigset_t all;
  SG[SG_USR2] = (struct sigslot){.sig = SIGUSR2, .exact = true};
  SG[SG_RT1] = (struct sigslot){.sig = SIGRTMIN + 2, .exact = true};
  SG[SG_RT2] = (struct sigslot){.sig = SIGRTMIN + 3, .exact = true};
  SG[SG_URG] = (struct sigslot){.sig = SIGURG};
  quiet_sig[0] = SIGRTMAX - 1;
  quiet_sig[1] = SIGRTMAX - 2;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stray;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigemptyset(&all);
  for (int i = 0; i < SG_N; i++) {
    if (sigaction(SG[i].sig, &sa, NULL))
      fail("sigaction(%d): %s", SG[i].sig, strerror(errno));
    sigaddset(&all, SG[i].sig);
  }
  /* A mask inherited with them blocked would keep every raise pending:
   * weft's threads take this thread's mask. */
  pthread_sigmask(SIG_UNBLOCK, &all, NULL);
}

/* A game's decisions, all drawn before it is known whether the signal is
 * free. The waits' list and deadline are read by the children too. */
struct siggame {
  int set[2]; /* what the waits list: the signal, maybe a quiet one */
  size_t nset;
  int64_t wait_ms; /* each wait's deadline from now, retried; -1: none */
  int rounds;      /* raises when the owner waits; at once when coalescing */
  int nwait;       /* waiter children */
  uint32_t naps;   /* bit k: nap before the k-th wait or raise */
  bool twice, bad_release, children, nap;
  int64_t check_dl; /* signal_checks: 0 or 1 ms from now */
  bool check_hold;  /* signal_checks: hold and release a quiet signal */
  weft_sem *turn;   /* owner waits: its go-ahead to the raiser; children wait: their arrivals */
};

static int sig_wait(const struct siggame *gm) {
  for (;;) {
    int64_t dl = gm->wait_ms < 0 ? -1 : weft_now() + gm->wait_ms;
    int rc = weft_signal_wait(gm->set, gm->nset, dl);
    if (rc != WEFT_ETIMEDOUT || dl == -1)
      return rc;
    count(&C.timeouts, 1);
  }
}

static void raise_sig(int sig) {
  if (kill(getpid(), sig))
    fail("kill(getpid(), %d): %s", sig, strerror(errno));
}

/* A wait in a game: it must return the game's signal. */
static void sig_expect(const struct siggame *gm, int rc, const char *who) {
  if (rc != gm->set[0])
    fail("%s: weft_signal_wait for signal %d returned %d (%s)", who, gm->set[0], rc,
         rc < 0 ? weft_strerror(rc) : "another signal");
}

static void sem_op(int rc, const char *what) {
  if (rc)
    fail("a signal game's semaphore %s: %s", what, weft_strerror(rc));
}

static void raiser_run(struct me *me) {
  struct siggame *gm = me->rec->ctx;
  for (int k = 0; k < gm->rounds; k++) {
    if (chance(&me->rng, 30))
      weft_yield();
    raise_sig(gm->set[0]);
    count(&C.sig_raises, 1);
    sem_op(weft_sem_wait(gm->turn, -1), "wait"); /* its arrival was taken */
  }
}

static void sigwaiter_run(struct me *me) {
  struct siggame *gm = me->rec->ctx;
  sig_expect(gm, sig_wait(gm), "a waiter child");
  count(&C.sig_arrivals, 1);
  sem_op(weft_sem_post(gm->turn), "post");
}

/* The owner waits for each raise of a raiser child. */
static void game_owner_waits(struct me *me, struct siggame *gm) {
  weft_task *h;
  struct rec *r = spawn_task(me, K_RAISER, 0, gm, &h); /* not capped: one per signal at most */
  for (int k = 0; k < gm->rounds; k++) {
    if (gm->naps & (1u << k)) /* the arrival is likely kept by the hold */
      (void)weft_sleep(1);
    sig_expect(gm, sig_wait(gm), "the game's owner");
    count(&C.sig_arrivals, 1);
    sem_op(weft_sem_post(gm->turn), "post");
  }
  if (join_rec(h, r))
    fail("a shielded game owner's join was cancelled");
}

/* The owner raises once per waiter child, one raise at a time. */
static void game_children_wait(struct me *me, struct siggame *gm) {
  weft_task *h[3];
  struct rec *r[3];
  int n = gm->nwait;
  for (int k = 0; k < n; k++) /* not capped: three per signal at most */
    r[k] = spawn_task(me, K_SIGWAIT, 0, gm, &h[k]);
  for (int k = 0; k < n; k++) {
    if (gm->naps & (1u << k))
      (void)weft_sleep(1);
    raise_sig(gm->set[0]);
    count(&C.sig_raises, 1);
    sem_op(weft_sem_wait(gm->turn, -1), "wait");
  }
  for (int k = 0; k < n; k++)
    if (join_rec(h[k], r[k]))
      fail("a shielded game owner's join was cancelled");
}

static void hold_op(int rc, const char *what, int sig) {
  if (rc)
    fail("%s of signal %d: %s", what, sig, weft_strerror(rc));
}

static void game_exact(struct me *me, struct sigslot *sl, struct siggame *gm) {
  int both[2] = {sl->sig, quiet_sig[0]}, rc;

  hold_op(weft_signal_hold(&sl->sig, 1), "weft_signal_hold", sl->sig);
  if (gm->twice) { /* holds count: one release leaves it held */
    hold_op(weft_signal_hold(&sl->sig, 1), "a second weft_signal_hold", sl->sig);
    hold_op(weft_signal_release(&sl->sig, 1), "weft_signal_release of one of two holds", sl->sig);
  }
  if (gm->bad_release && (rc = weft_signal_release(both, 2)) != WEFT_EINVAL)
    fail("weft_signal_release listing a signal not held returned %s", weft_strerror(rc));
  sem_op(weft_sem_new(&gm->turn, 0), "new");
  if (gm->children)
    game_children_wait(me, gm);
  else
    game_owner_waits(me, gm);
  rc = weft_signal_wait(gm->set, gm->nset, 0);
  if (rc != WEFT_ETIMEDOUT)
    fail("after an exact signal game, a poll for signal %d returned %d (%s): an arrival too many",
         sl->sig, rc, rc < 0 ? weft_strerror(rc) : "a signal");
  sem_op(weft_sem_free(gm->turn), "free");
  hold_op(weft_signal_release(&sl->sig, 1), "weft_signal_release", sl->sig);
  count(&C.sig_games, 1);
}

static void game_coalescing(struct sigslot *sl, struct siggame *gm) {
  int k = gm->rounds;
  hold_op(weft_signal_hold(&sl->sig, 1), "weft_signal_hold", sl->sig);
  for (int j = 0; j < k; j++)
    raise_sig(sl->sig);
  count(&C.urg_raises, (uint64_t)k);
  if (gm->nap)
    (void)weft_sleep(1);
  sig_expect(gm, sig_wait(gm), "a coalescing game");
  count(&C.urg_arrivals, 1);
  for (int j = 1; j < k; j++) {
    int rc = weft_signal_wait(gm->set, gm->nset, 0);
    if (rc == WEFT_ETIMEDOUT)
      break;
    sig_expect(gm, rc, "a coalescing game's poll");
    count(&C.urg_arrivals, 1);
  }
  hold_op(weft_signal_release(&sl->sig, 1), "weft_signal_release", sl->sig);
  count(&C.urg_games, 1);
}

/* The error cases, and waits for a signal nobody raises. */
static void signal_checks(const struct siggame *gm) {
  int q = quiet_sig[0], twice[2] = {q, q}, kill9 = SIGKILL, stop = SIGSTOP, zero = 0, big = NSIG;
  int64_t dl = gm->check_dl ? weft_now() + gm->check_dl : 0;
  int rc;
  if (weft_signal_wait(NULL, 1, 0) != WEFT_EINVAL || weft_signal_wait(&q, 0, 0) != WEFT_EINVAL ||
      weft_signal_wait(&kill9, 1, 0) != WEFT_EINVAL ||
      weft_signal_wait(&stop, 1, 0) != WEFT_EINVAL ||
      weft_signal_wait(&zero, 1, 0) != WEFT_EINVAL || weft_signal_wait(&big, 1, 0) != WEFT_EINVAL ||
      weft_signal_wait(twice, 2, 0) != WEFT_EINVAL || weft_signal_hold(twice, 2) != WEFT_EINVAL ||
      weft_signal_hold(&kill9, 1) != WEFT_EINVAL)
    fail("weft_signal_wait or weft_signal_hold accepted a bad list of signals");
  if ((rc = weft_signal_release(&q, 1)) != WEFT_EINVAL)
    fail("weft_signal_release of a signal nobody holds returned %s", weft_strerror(rc));
  if (gm->check_hold) { /* not cancellable: it completes in a cancelled task too */
    hold_op(weft_signal_hold(&quiet_sig[1], 1), "weft_signal_hold", quiet_sig[1]);
    hold_op(weft_signal_release(&quiet_sig[1], 1), "weft_signal_release", quiet_sig[1]);
  }
  if (weft_canceled()) {
    if ((rc = weft_signal_wait(&q, 1, -1)) != WEFT_ECANCELED)
      fail("a cancelled task's weft_signal_wait returned %s", weft_strerror(rc));
  } else {
    rc = weft_signal_wait(quiet_sig, 2, dl);
    if (rc != WEFT_ETIMEDOUT)
      expect_wait("weft_signal_wait for signals nobody raises", rc, -1);
    else
      count(&C.timeouts, 1);
  }
  count(&C.sig_checks, 1);
}

static void act_signal(struct me *me) {
  struct sigslot *sl = &SG[below(&me->rng, SG_N)];
  bool game = chance(&me->rng, 60), quiet = chance(&me->rng, 30), idle = false;
  struct siggame gm = {.set = {sl->sig, quiet_sig[0]}, .nset = quiet ? 2 : 1};
  gm.wait_ms = chance(&me->rng, 50) ? -1 : 1 + (int64_t)below(&me->rng, 3);
  gm.rounds = 1 + (int)below(&me->rng, sl->exact ? 5 : 6);
  gm.nwait = 1 + (int)below(&me->rng, 3);
  gm.naps = (uint32_t)below(&me->rng, 1u << 8);
  gm.twice = chance(&me->rng, 25);
  gm.bad_release = chance(&me->rng, 20);
  gm.children = chance(&me->rng, 50);
  gm.nap = chance(&me->rng, 50);
  gm.check_dl = chance(&me->rng, 50) ? 0 : 1;
  gm.check_hold = chance(&me->rng, 30);

  if (!game || !atomic_compare_exchange_strong(&sl->busy, &idle, true)) {
    signal_checks(&gm);
    return;
  }
  int was = weft_cancel_shield(1);
  if (sl->exact)
    game_exact(me, sl, &gm);
  else
    game_coalescing(sl, &gm);
  weft_cancel_shield(was);
  atomic_store(&sl->busy, false);
}

/* A slot of the caller's family drawn by pick, if any (for join/detach). */
static int pick_slot(struct me *me, uint32_t pick, bool later) {
  struct family *f = me->fam;
  if (!f || f->n == 0)
    return -1;
  int i = (int)(pick % (uint32_t)f->n);
  return f->s[i].later == later ? i : -1;
}

static void act_yield(struct me *me) {
  for (uint32_t k = below(&me->rng, 3) + 1; k > 0; k--)
    weft_yield();
  count(&C.yields, 1);
}

static void act_cancel(struct me *me) {
  uint32_t pick = below(&me->rng, 1u << 16);
  if (me->cancel_family && me->fam)
    family_cancel(me->fam, pick);
  else if (me->rec->flags & F_SIBCANCEL)
    family_cancel(me->rec->ctx, pick);
}

static void act_detach(struct me *me) {
  int i = pick_slot(me, below(&me->rng, 1u << 16), true);
  if (i >= 0)
    slot_detach(me->fam, i);
}

static void act_join(struct me *me) {
  int i = pick_slot(me, below(&me->rng, 1u << 16), false);
  if (i >= 0)
    slot_join(me->fam, i);
}

/* What an actor does, each with its weight in the draw. */
static const struct action {
  void (*fn)(struct me *);
  unsigned weight;
} actions[] = {
    {act_spawn, 14}, {act_yield, 8},   {act_sleep, 6},  {act_send, 10},  {act_recv, 10},
    {act_select, 8}, {act_mutex, 8},   {act_cond, 3},   {act_wg, 3},     {act_gen, 5},
    {act_tcp, 2},    {act_cancel, 4},  {act_detach, 3}, {act_join, 3},   {act_scope, 2},
    {act_shield, 1}, {act_on_done, 3}, {act_throw, 3},  {act_signal, 1},
};
#define NACTIONS (sizeof actions / sizeof actions[0])

static unsigned weights_total; /* set before the runtime starts */

static void act(struct me *me) {
  uint32_t x = below(&me->rng, weights_total);
  size_t a = 0;
  while (x >= actions[a].weight)
    x -= actions[a++].weight;
  actions[a].fn(me);
}

static void actor_run(struct me *me) {
  int nact = 2 + (int)below(&me->rng, 30);
  int rc;
  me->cancel_family = !(me->rec->flags & F_CANCELLABLE) && chance(&me->rng, 40);
  if (chance(&me->rng, 5) && (rc = weft_join(weft_self(), NULL)) != WEFT_EDEADLK)
    fail("a task joining itself got %s", weft_strerror(rc));
  for (int k = 0; k < nact && !atomic_load(&T.stop); k++) {
    if (weft_canceled()) {
      /* "it keeps returning that from blocking calls" */
      if ((rc = weft_sleep(1)) != WEFT_ECANCELED)
        fail("a cancelled task's sleep returned %s", weft_strerror(rc));
      break;
    }
    act(me);
  }
  family_finish(me);
}

/* ------------------------------------------------------------------ */
/* The closer and the driver                                           */

static void closer_run(struct me *me) {
  while (!atomic_load(&T.stop)) {
    int rc = weft_sleep(1 + below(&me->rng, 20));
    if (rc)
      fail("the closer's sleep returned %s", weft_strerror(rc));
    uint32_t i = below(&me->rng, NCHANS);
    long cap = pick_cap(&me->rng);
    if (!atomic_load(&T.stop))
      xchan_replace(i, xchan_new(cap));
  }
}

static void driver_setup(struct me *me) {
  int rc;
  for (uint32_t i = 0; i < NCHANS; i++)
    xchan_replace(i, xchan_new(pick_cap(&me->rng)));
  for (int i = 0; i < NCELLS; i++)
    if ((rc = weft_mutex_new(&cells[i].m)))
      fail("weft_mutex_new: %s", weft_strerror(rc));
  if ((rc = weft_sem_new(&T.tcp_slots, TCP_SLOTS)))
    fail("weft_sem_new: %s", weft_strerror(rc));
  if ((rc = weft_tcp_listen(&T.listener, "127.0.0.1", "0", 1024)))
    fail("weft_tcp_listen on 127.0.0.1: %s", weft_strerror(rc));
  snprintf(T.port, sizeof T.port, "%d", weft_sock_port(T.listener));
}

struct held {
  weft_task *h;
  struct rec *r;
};

static void sample_peak(void) {
  weft_stats st;
  weft_rt_stats(T.rt, &st, NULL, 0);
  long cur = (long)st.tasks_alive, peak = atomic_load(&C.peak_weft);
  while (cur > peak && !atomic_compare_exchange_weak(&C.peak_weft, &peak, cur))
    ;
}

static void join_held(struct held *x) {
  if (join_rec(x->h, x->r))
    fail("the driver was cancelled");
}

/* One wave: roots until the cap or WAVE; some joinable, kept in ring. */
static void driver_wave(struct me *me, struct held *ring, int *nring) {
  for (int k = 0; k < WAVE; k++) {
    uint32_t mode = below(&me->rng, 100);
    bool joinable = mode < 30 && *nring < RING;
    int flags = F_CAPPED | (joinable ? 0 : F_DETACHED) | (mode < 15 ? F_CANCELLABLE : 0);
    weft_task *h = NULL;
    struct rec *r = spawn_task(me, K_ACTOR, joinable ? flags : flags & ~F_CANCELLABLE, NULL, &h);
    if (!r)
      break;
    if (joinable)
      ring[(*nring)++] = (struct held){h, r};
  }
}

static void driver_tick(struct me *me, struct held *ring, int *nring) {
  uint32_t pick = below(&me->rng, 1u << 16);
  struct held *x = *nring ? &ring[pick % (uint32_t)*nring] : NULL;
  if (x && (x->r->flags & F_CANCELLABLE) && chance(&me->rng, 30) &&
      !atomic_load(&x->r->cancel_req)) {
    atomic_store(&x->r->cancel_req, 1);
    if (weft_cancel(x->h))
      fail("weft_cancel of a root failed");
    count(&C.cancels, 1);
  }
  /* Join the roots that have ended (quick); the others wait for the drain,
   * so the waves keep coming. */
  int kept = 0;
  for (int i = 0; i < *nring; i++) {
    if (atomic_load(&ring[i].r->ended) != END_NONE)
      join_held(&ring[i]);
    else
      ring[kept++] = ring[i];
  }
  *nring = kept;
}

static void driver_run(struct me *me) {
  struct held ring[RING], acc, clo;
  int nring = 0, rc;

  driver_setup(me);
  acc.r = spawn_task(me, K_ACCEPTOR, 0, NULL, &acc.h);
  clo.r = spawn_task(me, K_CLOSER, 0, NULL, &clo.h);
  while (weft_now() < T.t_end) {
    driver_wave(me, ring, &nring);
    driver_tick(me, ring, &nring);
    sample_peak();
    if ((rc = weft_sleep(1)))
      fail("the driver's sleep returned %s", weft_strerror(rc));
  }
  /* The drain: what waits without a deadline is released by the closes. */
  atomic_store(&T.stop, true);
  atomic_store(&T.phase, PH_DRAIN);
  join_held(&clo); /* it puts no channel in the pool after this */
  for (uint32_t i = 0; i < NCHANS; i++)
    xchan_replace(i, NULL);
  atomic_store(&acc.r->cancel_req, 1);
  if ((rc = weft_cancel(acc.h)))
    fail("weft_cancel of the acceptor: %s", weft_strerror(rc));
  join_held(&acc);
  close_sock(T.listener);
  for (int i = 0; i < nring; i++)
    join_held(&ring[i]);
}

/* Every task starts here: check and count the start, run the kind, end. */
static void *task_main(void *arg) {
  uintptr_t a = (uintptr_t)arg;
  struct rec *r = &R.recs[a >> 32];
  uint64_t id = atomic_load(&r->id);
  struct me me;

  if ((uint32_t)id != (uint32_t)a)
    fail("a task started whose record was already released (tag %08x, record now %016" PRIx64 ")",
         (unsigned)(uint32_t)a, id);
  if (atomic_fetch_add(&r->ran, 1) != 0)
    fail("%s task %016" PRIx64 " started twice", kind_name[r->kind], id);
  if (weft_canceled())
    count(&C.started_cancelled, 1);
  me_init(&me, r, id);
  switch (r->kind) {
  case K_DRIVER:
    driver_run(&me);
    break;
  case K_CLOSER:
    closer_run(&me);
    break;
  case K_ACCEPTOR:
    acceptor_run(&me);
    break;
  case K_ACTOR:
    actor_run(&me);
    break;
  case K_REAPER:
    reaper_run(&me);
    break;
  case K_PARTNER:
    partner_run(&me);
    break;
  case K_WG:
    wg_member_run(&me);
    break;
  case K_SENDER:
    sender_run(&me);
    break;
  case K_SERVER:
    server_run(&me);
    break;
  case K_DONE:
    done_child_run(&me);
    break;
  case K_RAISER:
    raiser_run(&me);
    break;
  case K_SIGWAIT:
    sigwaiter_run(&me);
    break;
  }
  if (me.fam)
    fail("%s task %016" PRIx64 " ended with its children unresolved", kind_name[r->kind], id);
  int end = weft_canceled() ? END_CANCELLED : END_FINISHED;
  if (atomic_exchange(&r->ended, end) != END_NONE)
    fail("%s task %016" PRIx64 " ended twice", kind_name[r->kind], id);
  alive_add(-1);
  rec_put(r, 1);
  return expected_result(id);
}

/* ------------------------------------------------------------------ */
/* Process figures, the watchdog, the end-of-run checks                */

/* A field of /proc/self/status in kB, or -1. */
/* Warm-up tasks: touch the allocator from whichever worker runs them. */
static void *warm_task(void *arg) {
  void *p = malloc(4096);
  (void)arg;
  if (p)
    memset(p, 1, 4096);
  weft_sleep(5);
  free(p);
  return NULL;
}

static long status_kb(const char *field) {
  char line[256];
  long v = -1;
  size_t n = strlen(field);
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, field, n) == 0 && line[n] == ':')
      v = atol(line + n + 1);
  fclose(f);
  return v;
}

/* The open descriptors: a bitmap of the first 1024 and the count. */
struct fdset {
  uint64_t bits[16];
  int n;
};

static void list_fds(struct fdset *fs) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  memset(fs, 0, sizeof *fs);
  if (!d)
    fail("cannot open /proc/self/fd");
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    int fd = atoi(e->d_name);
    fs->n++;
    if (fd != dirfd(d) && fd < 1024)
      fs->bits[fd / 64] |= 1ull << (fd % 64);
  }
  closedir(d);
}

/* Name the descriptors open in now but not in before. */
static void print_new_fds(const struct fdset *before, const struct fdset *now) {
  for (int fd = 0; fd < 1024; fd++) {
    uint64_t bit = 1ull << (fd % 64);
    char path[64], target[256];
    if (!(now->bits[fd / 64] & bit) || (before->bits[fd / 64] & bit))
      continue;
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t k = readlink(path, target, sizeof target - 1);
    target[k > 0 ? k : 0] = 0;
    printf("torture:   fd %d -> %s\n", fd, target);
  }
}

static void dump_live(void) {
  int shown = 0;
  pthread_mutex_lock(&R.lock);
  for (uint32_t i = 0; i < R.n && shown < 10; i++) {
    struct rec *r = &R.recs[i];
    uint64_t id = atomic_load(&r->id);
    if (!id)
      continue;
    printf("torture:   live %s task %016" PRIx64 ": ran %d ended %d refs %d cancel %d flags %x\n",
           kind_name[r->kind], id, atomic_load(&r->ran), atomic_load(&r->ended),
           atomic_load(&r->refs), atomic_load(&r->cancel_req), (unsigned)r->flags);
    shown++;
  }
  pthread_mutex_unlock(&R.lock);
}

static void *watchdog(void *arg) {
  double limit = T.duration + T.idle + T.grace;
  struct timespec ts = {0, 100 * 1000 * 1000};
  sigset_t games;
  (void)arg;
  sigemptyset(&games); /* the signal games' raises would cut its sleeps short */
  for (int i = 0; i < SG_N; i++)
    sigaddset(&games, SG[i].sig);
  pthread_sigmask(SIG_BLOCK, &games, NULL);
  for (double t = 0; t < limit; t += 0.1) {
    nanosleep(&ts, NULL);
    if (atomic_load(&T.phase) == PH_DONE)
      return NULL;
  }
  int ph = atomic_load(&T.phase);
  weft_stats st = {0};
  if (ph < PH_FREE)
    weft_rt_stats(T.rt, &st, NULL, 0);
  pthread_mutex_lock(&R.lock);
  long live = R.live;
  pthread_mutex_unlock(&R.lock);
  printf("torture: hung while %s: %" PRIu64 " weft tasks alive, %ld task records live\n",
         phase_name[ph], st.tasks_alive, live);
  dump_live();
  if (ph < PH_FREE)
    weft_rt_dump(T.rt, stdout);
  fail("the run did not finish within %.0f s (phase %s)", limit, phase_name[ph]);
}

static void check_records(void) {
  pthread_mutex_lock(&R.lock);
  long live = R.live;
  pthread_mutex_unlock(&R.lock);
  if (live) {
    dump_live();
    fail("%ld tasks were never resolved after the runtime drained", live);
  }
  uint64_t ends = get(&C.finished) + get(&C.cancelled);
  if (ends != get(&C.spawned))
    fail("%" PRIu64 " tasks spawned, %" PRIu64 " accounted for", get(&C.spawned), ends);
}

/* Completion callbacks, generators left for the task's end, signals. */
static void check_structured(void) {
  if (get(&C.ondone_ran) != get(&C.ondone_regs))
    fail("%" PRIu64 " completion callbacks added, %" PRIu64 " ran", get(&C.ondone_regs),
         get(&C.ondone_ran));
  if (get(&C.gens_leak_closed) != get(&C.gens_leaked))
    fail("%" PRIu64 " generators left for their task's end, %" PRIu64 " closed there",
         get(&C.gens_leaked), get(&C.gens_leak_closed));
  if (get(&C.sig_arrivals) != get(&C.sig_raises))
    fail("exact signal games: %" PRIu64 " raises, %" PRIu64 " arrivals", get(&C.sig_raises),
         get(&C.sig_arrivals));
  for (int i = 0; i < SG_N; i++)
    if (SG[i].exact && atomic_load(&SG[i].strays))
      fail("%lu raises of signal %d, held, reached the program's own handler",
           atomic_load(&SG[i].strays), SG[i].sig);
  if (get(&C.urg_arrivals) + atomic_load(&SG[SG_URG].strays) > get(&C.urg_raises))
    fail("signal %d: %" PRIu64 " raises, but %" PRIu64 " arrivals and %lu strays", SG[SG_URG].sig,
         get(&C.urg_raises), get(&C.urg_arrivals), atomic_load(&SG[SG_URG].strays));
}

static void check_values(void) {
  if (atomic_load(&P.alive))
    fail("%ld channels never retired", atomic_load(&P.alive));
  if (get(&C.sends) != get(&C.recvs) + get(&C.drained))
    fail("%" PRIu64 " values sent, %" PRIu64 " received, %" PRIu64 " drained", get(&C.sends),
         get(&C.recvs), get(&C.drained));
  for (int i = 0; i < NCELLS; i++) {
    if (cells[i].value != get(&cells[i].shadow))
      fail("mutex counter %d is %" PRIu64 " after %" PRIu64 " increments", i, cells[i].value,
           get(&cells[i].shadow));
    int rc = weft_mutex_free(cells[i].m);
    if (rc)
      fail("weft_mutex_free of an idle mutex: %s", weft_strerror(rc));
  }
  if (get(&C.srv_clean) < get(&C.tcp_clean))
    fail("%" PRIu64 " clean TCP clients but %" PRIu64 " clean servers", get(&C.tcp_clean),
         get(&C.srv_clean));
  /* TCP liveness is not judged from the mix: a connection may legally be
   * cut by a cancel or by the stop, and on a slow run (ThreadSanitizer,
   * one worker, a busy machine) every one of them can be. tcp_probe does
   * it after the mix, with nothing to cut it. */
  if (get(&C.sends) + get(&C.epipes) >= 200 && get(&C.recvs) == 0)
    fail("no value was ever received");
  int rc = weft_sem_free(T.tcp_slots);
  if (rc)
    fail("weft_sem_free: %s", weft_strerror(rc));
  check_structured();
}

/* weft's counters after the drain; they may lag a moment (the I/O thread
 * closes the last handles on its own time), so poll. The deadline only
 * bounds a hang: a loaded machine can starve that thread for seconds. */
/* weft's count of spawned tasks is the program's, plus the runners of
 * completion callbacks: one at least per task with callbacks, one at most
 * per callback. */
static bool spawned_ok(const weft_stats *st) {
  uint64_t ours = get(&C.spawned) + get(&C.scope_members) + T.warm_spawned;
  return st->spawned >= ours + get(&C.ondone_targets) && st->spawned <= ours + get(&C.ondone_regs);
}

static void check_stats(weft_stats *st) {
  int64_t end = weft_now() + 30000;
  for (;;) {
    weft_rt_stats(T.rt, st, NULL, 0);
    bool ok = st->tasks_alive == 0 && st->spawned == st->completed &&
              st->stacks_mapped == st->stacks_cached && spawned_ok(st) && st->io_handles == 0;
    if (ok || weft_now() >= end)
      break;
    usleep(10 * 1000);
  }
  if (st->tasks_alive)
    fail("%" PRIu64 " tasks alive after weft_rt_wait", st->tasks_alive);
  if (st->spawned != st->completed || !spawned_ok(st))
    fail("weft counts %" PRIu64 " spawned, %" PRIu64 " completed; the program spawned %" PRIu64
         " and added callbacks to %" PRIu64 " tasks (%" PRIu64 " callbacks)",
         st->spawned, st->completed, get(&C.spawned) + get(&C.scope_members) + T.warm_spawned,
         get(&C.ondone_targets), get(&C.ondone_regs));
  if (st->stacks_mapped != st->stacks_cached)
    fail("%" PRIu64 " stacks still in use (%" PRIu64 " mapped, %" PRIu64 " cached)",
         st->stacks_mapped - st->stacks_cached, st->stacks_mapped, st->stacks_cached);
  if (st->io_handles)
    fail("the I/O thread still holds %" PRIu64 " libuv handles", st->io_handles);
}

/* ------------------------------------------------------------------ */
/* main                                                                */

static void usage(void) {
  fprintf(stderr, "usage: torture [--seed N] [--workers N] [--duration SECONDS] [--max-live N]\n"
                  "               [--grace SECONDS] [--idle SECONDS] [--check-rss] [--quiet]\n");
  exit(2);
}

static void parse(int argc, char **argv) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  T.seed = mix64(((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^ (uint64_t)getpid());
  T.seed %= 1000000000000ull; /* short enough to type */
  T.workers = 2;
  T.duration = 3;
  T.max_live = 5000;
  T.grace = 20;
  T.idle = 3;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--quiet"))
      T.quiet = true;
    else if (!strcmp(a, "--check-rss"))
      T.check_rss = true;
    else if (!v)
      usage();
    else if (!strcmp(a, "--seed"))
      T.seed = strtoull(v, NULL, 0), i++;
    else if (!strcmp(a, "--workers"))
      T.workers = (unsigned)atoi(v), i++;
    else if (!strcmp(a, "--duration"))
      T.duration = atof(v), i++;
    else if (!strcmp(a, "--max-live"))
      T.max_live = atol(v), i++;
    else if (!strcmp(a, "--grace"))
      T.grace = atof(v), i++;
    else if (!strcmp(a, "--idle"))
      T.idle = atof(v), i++;
    else
      usage();
  }
  if (T.workers < 1 || T.workers > 1024 || T.duration < 0 || T.max_live < 16 || T.grace <= 0 ||
      T.idle < 0)
    usage();
}

/* libuv opens a process-wide pipe at its first loop (its signal lock) and
 * keeps it for the life of the process. A throwaway runtime pays that once,
 * so the descriptor check sees what one runtime leaves behind. */
static void warm_up(void) {
  weft_config cfg;
  weft_rt *rt;
  int rc;
  weft_config_init(&cfg);
  cfg.workers = 1;
  if ((rc = weft_rt_new(&rt, &cfg)) || (rc = weft_rt_free(rt)))
    fail("a throwaway runtime: %s", weft_strerror(rc));
}

struct figures {
  struct fdset fds_before, fds_after;
  long rss_start, rss_idle, rss_peak, rss_end;
  long anon_start, anon_idle; /* RssAnon: RSS less file-backed pages (code) */
  double load_s, idle_s;
};

/* Let the runtime idle (its workers give memory back after a second of
 * it) and sample RSS until it is back within 10% of the start, for up to
 * --idle seconds. */
static void idle_rss(struct figures *fg) {
  int64_t t0 = weft_now(), limit = (int64_t)(T.idle * 1000);
  fg->rss_peak = status_kb("VmHWM");
  for (;;) {
    fg->rss_idle = status_kb("VmRSS");
    fg->anon_idle = status_kb("RssAnon");
    fg->idle_s = (double)(weft_now() - t0) / 1000.0;
    if (fg->rss_idle <= fg->rss_start + fg->rss_start / 10 || weft_now() - t0 >= limit)
      break;
    usleep(100 * 1000);
  }
}

/* The detail lines (unless --quiet) and the summary line, which starts
 * with verdict ("ok", or "figures" when a check on them fails next). */
static void report(const char *verdict, const struct figures *fg, const weft_stats *st) {
  uint64_t spawned = get(&C.spawned);
  if (!T.quiet) {
    printf("torture: tasks: %" PRIu64 " finished, %" PRIu64 " cancelled while running, %" PRIu64
           " started cancelled; %" PRIu64 " joined, %" PRIu64 " detached later, %" PRIu64
           " handed to reapers, %" PRIu64 " cancels; at most %ld records\n",
           get(&C.finished), get(&C.cancelled), get(&C.started_cancelled), get(&C.joined),
           get(&C.detached), get(&C.handoffs), get(&C.cancels), R.peak);
    printf("torture: values: %" PRIu64 " sent, %" PRIu64 " received, %" PRIu64
           " drained at close; %" PRIu64 " channels, %" PRIu64 " closed in use, %" PRIu64
           " selects, %" PRIu64 " EPIPE, %" PRIu64 " timeouts\n",
           get(&C.sends), get(&C.recvs), get(&C.drained), get(&C.chans), get(&C.closes),
           get(&C.selects), get(&C.epipes), get(&C.timeouts));
    printf("torture: sync: %" PRIu64 " mutex increments, %" PRIu64 " cond pairs (%" PRIu64
           " rounds, %" PRIu64 " abandoned), %" PRIu64 " wait groups (%" PRIu64
           " members), %" PRIu64 " generators (%" PRIu64 " closed early, %" PRIu64 " values)\n",
           get(&C.mutex_incs), get(&C.cond_pairs), get(&C.cond_rounds), get(&C.cond_abandoned),
           get(&C.wgs), get(&C.wg_members), get(&C.gens), get(&C.gens_closed), get(&C.gen_values));
    printf("torture: scopes: %" PRIu64 " (%" PRIu64 " members, %" PRIu64 " failed), %" PRIu64
           " shielded sleeps; %" PRIu64 " completion callbacks on %" PRIu64 " tasks (%" PRIu64
           " added after the end)\n",
           get(&C.scopes), get(&C.scope_members), get(&C.scope_failed), get(&C.shields),
           get(&C.ondone_ran), get(&C.ondone_targets), get(&C.ondone_after));
    printf("torture: throws: %" PRIu64 " into running generators (%" PRIu64
           " recovered from, %" PRIu64 " fatal), %" PRIu64 " into unstarted ones; %" PRIu64
           " generators left for the task's end, %" PRIu64 " closed there\n",
           get(&C.throws), get(&C.throws_recovered), get(&C.throws_fatal), get(&C.throws_unstarted),
           get(&C.gens_leaked), get(&C.gens_leak_closed));
    printf("torture: signals: %" PRIu64 " exact games (%" PRIu64 " raises, %" PRIu64
           " arrivals), %" PRIu64 " coalescing games (%" PRIu64 " raises, %" PRIu64
           " arrivals, %lu to the program's handler), %" PRIu64 " error checks\n",
           get(&C.sig_games), get(&C.sig_raises), get(&C.sig_arrivals), get(&C.urg_games),
           get(&C.urg_raises), get(&C.urg_arrivals), atomic_load(&SG[SG_URG].strays),
           get(&C.sig_checks));
    printf("torture: tcp: %" PRIu64 " connections, %" PRIu64 " clean, %" PRIu64
           " aborted; servers %" PRIu64 " clean, %" PRIu64 " aborted, %" PRIu64 " bytes checked\n",
           get(&C.tcp_tries), get(&C.tcp_clean), get(&C.tcp_aborted), get(&C.srv_clean),
           get(&C.srv_aborted), get(&C.srv_bytes));
    printf("torture: weft: %" PRIu64 " switches, %" PRIu64 " steals, %" PRIu64
           " stacks mapped at the end, %" PRIu64 " cached; fds %d before, %d after\n",
           st->switches, st->steals, st->stacks_mapped, st->stacks_cached, fg->fds_before.n,
           fg->fds_after.n);
  }
  printf("torture: %s seed=%" PRIu64 " workers=%u tasks=%" PRIu64 " spawned/s=%.0f peak_live=%ld"
         " (weft %ld) values=%" PRIu64 "/%" PRIu64 " tcp_bytes=%" PRIu64
         " rss_start_kb=%ld rss_peak_kb=%ld rss_idle_kb=%ld (after %.1f s) rss_end_kb=%ld"
         " anon_start_kb=%ld anon_idle_kb=%ld\n",
         verdict, T.seed, T.workers, spawned, fg->load_s > 0 ? (double)spawned / fg->load_s : 0.0,
         atomic_load(&C.peak_alive), atomic_load(&C.peak_weft), get(&C.sends),
         get(&C.recvs) + get(&C.drained), get(&C.tcp_bytes), fg->rss_start, fg->rss_peak,
         fg->rss_idle, fg->idle_s, fg->rss_end, fg->anon_start, fg->anon_idle);
  fflush(stdout);
}

/* TCP liveness, correct by construction: after the mix, with no cancel,
 * stop or deadline about, one connection carries PROBE_BYTES each way
 * (the watchdog catches a hang). */
#define PROBE_BYTES 65536

static void *probe_echo(void *arg) {
  weft_sock *l = arg, *c;
  char buf[4096];
  ssize_t n;
  int rc;
  if ((rc = weft_tcp_accept(l, &c, -1)))
    fail("probe: accept: %s", weft_strerror(rc));
  while ((n = weft_recv(c, buf, sizeof buf, -1)) > 0)
    if ((rc = weft_send(c, buf, (size_t)n, -1)))
      fail("probe: echo send: %s", weft_strerror(rc));
  if (n < 0)
    fail("probe: echo recv: %s", weft_strerror((int)n));
  weft_sock_close(c);
  return NULL;
}

static void *probe_client(void *arg) {
  static unsigned char out[PROBE_BYTES], in[PROBE_BYTES];
  weft_sock *l, *c;
  weft_task *echo;
  char port[16];
  size_t got = 0;
  int rc;
  (void)arg;
  for (size_t i = 0; i < sizeof out; i++)
    out[i] = (unsigned char)(i * 7 + 3);
  if ((rc = weft_tcp_listen(&l, "127.0.0.1", "0", 16)))
    fail("probe: listen: %s", weft_strerror(rc));
  snprintf(port, sizeof port, "%d", weft_sock_port(l));
  if ((rc = weft_spawn(&echo, probe_echo, l)))
    fail("probe: spawn: %s", weft_strerror(rc));
  if ((rc = weft_tcp_connect(&c, "127.0.0.1", port, -1)))
    fail("probe: connect: %s", weft_strerror(rc));
  /* Send while receiving, so neither side's buffers need to hold it all. */
  for (size_t sent = 0; got < sizeof in;) {
    if (sent < sizeof out) {
      size_t k = sizeof out - sent < 4096 ? sizeof out - sent : 4096;
      if ((rc = weft_send(c, out + sent, k, -1)))
        fail("probe: send: %s", weft_strerror(rc));
      sent += k;
      if (sent == sizeof out)
        weft_sock_shutdown(c, SHUT_WR);
    }
    ssize_t n = weft_recv(c, in + got, sizeof in - got, sent < sizeof out ? 0 : -1);
    if (n == 0)
      fail("probe: the echo closed after %zu bytes", got);
    if (n < 0 && n != WEFT_ETIMEDOUT)
      fail("probe: recv: %s", weft_strerror((int)n));
    if (n > 0)
      got += (size_t)n;
  }
  if (memcmp(in, out, sizeof in))
    fail("probe: the bytes came back changed");
  weft_join(echo, NULL);
  weft_sock_close(c);
  weft_sock_close(l);
  return NULL;
}

static void tcp_probe(void) {
  int rc;
  if ((rc = weft_rt_spawn(T.rt, NULL, probe_client, NULL)) || (rc = weft_rt_wait(T.rt)))
    fail("probe: %s", weft_strerror(rc));
  T.warm_spawned += 2; /* the probe's tasks, outside the mix like the warm-up's */
}

/* Let every worker run tasks once, then idle past the runtime's trim
 * delay (1 s), so RSS at start is that of a runtime that has worked. */
static void warm_runtime(void) {
  struct timespec idle = {1, 500 * 1000 * 1000};
  for (unsigned i = 0; i < 16 * T.workers; i++)
    if (weft_rt_spawn(T.rt, NULL, warm_task, NULL))
      fail("warm-up spawn failed");
    else
      T.warm_spawned++;
  if (weft_rt_wait(T.rt))
    fail("warm-up wait failed");
  nanosleep(&idle, NULL);
}

int main(int argc, char **argv) {
  struct figures fg;
  weft_config cfg;
  weft_stats st;
  pthread_t dog;
  int rc;

  parse(argc, argv);
  for (size_t a = 0; a < NACTIONS; a++)
    weights_total += actions[a].weight;
  printf("torture: seed=%" PRIu64 " workers=%u duration=%g\n", T.seed, T.workers, T.duration);
  fflush(stdout);
  recs_init();
  signals_init(); /* before any runtime: weft saves these handlers */
  warm_up();
  list_fds(&fg.fds_before);
  weft_config_init(&cfg);
  cfg.workers = T.workers;
  if ((rc = weft_rt_new(&T.rt, &cfg)))
    fail("weft_rt_new: %s", weft_strerror(rc));
  warm_runtime();
  fg.rss_start = status_kb("VmRSS");
  fg.anon_start = status_kb("RssAnon");
  if (pthread_create(&dog, NULL, watchdog, NULL))
    fail("cannot start the watchdog thread");
  T.t_start = weft_now();
  T.t_end = T.t_start + (int64_t)(T.duration * 1000);
  spawn_task(NULL, K_DRIVER, F_DETACHED, NULL, NULL);
  rc = weft_rt_wait(T.rt);
  if (rc == WEFT_EDEADLK) {
    dump_live();
    fail("the runtime deadlocked: every task parked with nothing to wake one (weft's dump is on "
         "stderr)");
  }
  if (rc)
    fail("weft_rt_wait: %s", weft_strerror(rc));
  fg.load_s = (double)(weft_now() - T.t_start) / 1000.0;
  check_records();
  check_values();
  tcp_probe();
  check_stats(&st);
  atomic_store(&T.phase, PH_IDLE);
  idle_rss(&fg);
  atomic_store(&T.phase, PH_FREE);
  if ((rc = weft_rt_free(T.rt)))
    fail("weft_rt_free: %s", weft_strerror(rc));
  list_fds(&fg.fds_after);
  fg.rss_end = status_kb("VmRSS");
  atomic_store(&T.phase, PH_DONE);
  pthread_join(dog, NULL);
  if (fg.fds_after.n != fg.fds_before.n) {
    print_new_fds(&fg.fds_before, &fg.fds_after);
    fail("%d descriptors open after weft_rt_free, %d before weft_rt_new", fg.fds_after.n,
         fg.fds_before.n);
  }
  bool rss_ok = fg.rss_idle <= fg.rss_start + fg.rss_start / 10;
  report(T.check_rss && !rss_ok ? "figures" : "ok", &fg, &st);
  if (T.check_rss && !rss_ok)
    fail("RSS %.1f s after the load is %ld kB, more than 10%% above the %ld kB at start (peak "
         "%ld kB)",
         fg.idle_s, fg.rss_idle, fg.rss_start, fg.rss_peak);
  free(R.recs);
  return 0;
}
