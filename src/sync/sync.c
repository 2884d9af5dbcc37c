/*
 * sync.c - task-aware locks: mutex, condition variable, wait group,
 * semaphore, once. A task that waits parks (its worker runs others); no
 * primitive here ever blocks a thread.
 *
 * They share one mechanism, a wait queue under a spinlock, driven by the
 * protocol of chan.c ("chan wait"): try under the lock; if the task must
 * wait, park, and in the publish step (scheduler stack, task's wait_lock
 * held, then the object's lock: always in that order) try again or queue
 * the waiter and set withdraw. Whoever unlinks a waiter (a waker, or
 * withdraw for cancellation and deadlines) is the only one who wakes it.
 *
 * Mutex fairness: an unlock with waiters normally just releases the lock
 * and wakes the oldest waiter, which competes with tasks arriving meanwhile
 * (they may take it first: cheaper than a context switch per hand-over).
 * A waiter that loses goes back to the front of the queue keeping its
 * original arrival time, and once the oldest waiter has waited STARVE_MS,
 * unlock hands the lock to it directly, so no waiter starves (Go's
 * starvation mode, simplified).
 */
#include "list.h"
#include "runtime.h"

#include <sched.h>
#include <limits.h>
#include <stdlib.h>

#define STARVE_MS 1
#define RETRY 1 /* a woken mutex waiter must compete again */

struct waiter {
  weft_task *task;
  struct weft__node node; /* in the queue; under the object's lock */
  struct waiter *wake_next; /* a list of waiters to wake */
  int result;            /* set by whoever unlinks it */
  int64_t since;         /* arrival, for the mutex's fairness */
  struct waitq *q;       /* immutable */
  bool (*ready)(struct waitq *q, struct waiter *w); /* under q->lock: done without waiting? */
  bool front;            /* queue at the front (a mutex waiter that lost) */
  void (*after)(struct waiter *w); /* called after queueing, outside the lock (cond) */
  void *after_arg;
  bool released;         /* after() ran: a condition wait gave up its mutex */
  bool cancellable;      /* cancellation may take it out of the queue */
};

struct waitq {
  weft__spinlock lock;
  struct weft__list list; /* of waiters; under lock */
};

static void wq_init(struct waitq *q) {
  weft__spin_init(&q->lock);
  q->list.head = q->list.tail = NULL;
}

static struct waiter *wq_head(struct waitq *q) {
  return q->list.head ? container_of(q->list.head, struct waiter, node) : NULL;
}

static void wq_link(struct waitq *q, struct waiter *w) {
  weft__list_push(&q->list, &w->node, w->front);
}

static void wq_unlink(struct waitq *q, struct waiter *w) {
  weft__list_unlink(&q->list, &w->node);
}

/* Unlink the oldest waiter with result r; the caller wakes it after
 * unlocking (wake_one). */
static struct waiter *wq_pop(struct waitq *q, int r) {
  struct waiter *w = wq_head(q);
  if (w) {
    wq_unlink(q, w);
    w->result = r;
  }
  return w;
}

static void wake_one(struct waiter *w) {
  if (w)
    weft__wake(w->task, w->result);
}

static bool wq_withdraw(weft_task *t) {
  struct waiter *w = t->wait_obj;
  bool was = false;
  weft__spin_lock(&w->q->lock);
  if (w->node.linked) {
    wq_unlink(w->q, w);
    was = true;
  }
  weft__spin_unlock(&w->q->lock);
  return was;
}

static void wq_publish(weft_task *t, void *arg) {
  struct waiter *w = arg;
  bool done;
  weft__spin_lock(&w->q->lock);
  done = w->ready(w->q, w);
  if (!done) {
    wq_link(w->q, w);
    /* Only a cancellable wait may be withdrawn ("cancel", task.c): a
     * condition wait's relock must end holding the mutex, whatever. */
    if (w->cancellable) {
      t->withdraw = wq_withdraw;
      t->wait_obj = w;
    }
  }
  weft__spin_unlock(&w->q->lock);
  if (w->after)
    w->after(w); /* a condition wait releases its mutex here */
  if (done)
    weft__wake(t, 0);
}

/* Wait on q until ready() says so (checked under q->lock), a waker unlinks
 * us, the deadline passes, or (when cancellable) cancellation. Task only;
 * may park. */
static int wq_wait(struct waiter *w, int64_t deadline, bool cancellable, const char *what) {
  bool done;
  if (!(w->task = weft__blocking_enter()))
    return WEFT_EPERM;
  weft__wait_note(w->task, what, (uintptr_t)w->q, deadline);
  w->cancellable = cancellable;
  if (!w->after) { /* a condition wait must queue first, whatever ready says */
    weft__spin_lock(&w->q->lock);
    done = w->ready(w->q, w);
    weft__spin_unlock(&w->q->lock);
    if (done) /* what needs no wait completes, even in a cancelled task */
      return 0;
    if (deadline == 0)
      return WEFT_ETIMEDOUT;
  }
  if (cancellable && weft__cancel_pending(w->task))
    return WEFT_ECANCELED;
  if (!cancellable) /* used without a deadline: relocking after a condition wait */
    return weft__park(wq_publish, w, false);
  return weft__park_until(wq_publish, w, deadline);
}

/* ---- mutex ---- */

#define MUTEX_MAGIC 0x6d757478u

struct weft_mutex {
  uint32_t magic;
  struct waitq q;
  bool locked;      /* under q.lock */
  weft_task *owner; /* under q.lock */
};

static bool mutex_take(struct waitq *q, struct waiter *w) {
  weft_mutex *m = container_of(q, weft_mutex, q);
  if (m->locked)
    return false;
  m->locked = true;
  m->owner = w->task;
  return true;
}

int weft_mutex_new(weft_mutex **out) {
  weft_mutex *m;
  if (!out)
    return WEFT_EINVAL;
  if (!(*out = m = calloc(1, sizeof *m)))
    return WEFT_ENOMEM;
  m->magic = MUTEX_MAGIC;
  wq_init(&m->q);
  return 0;
}

int weft_mutex_free(weft_mutex *m) {
  if (!m || m->magic != MUTEX_MAGIC)
    return WEFT_EINVAL;
  if (m->locked || wq_head(&m->q))
    return WEFT_EBUSY;
  m->magic = 0;
  free(m);
  return 0;
}

int weft_mutex_lock(weft_mutex *m, int64_t deadline) {
  struct waiter w = {.ready = mutex_take};
  int rc;
  if (!m || m->magic != MUTEX_MAGIC)
    return WEFT_EINVAL;
  w.q = &m->q;
  w.since = weft_now();
  while ((rc = wq_wait(&w, deadline, true, "mutex lock %#lx")) == RETRY)
    w.front = true; /* lost the race after a wakeup: first in line again */
  return rc;
}

/* Lock ignoring cancellation: a condition wait must return holding it. */
static void mutex_relock(weft_mutex *m) {
  struct waiter w = {.ready = mutex_take, .q = &m->q, .since = weft_now()};
  while (wq_wait(&w, -1, false, "mutex relock %#lx") == RETRY)
    w.front = true;
}

int weft_mutex_trylock(weft_mutex *m) {
  struct waiter w = {.task = weft_self()};
  bool ok;
  if (!m || m->magic != MUTEX_MAGIC)
    return WEFT_EINVAL;
  weft__spin_lock(&m->q.lock);
  ok = mutex_take(&m->q, &w);
  weft__spin_unlock(&m->q.lock);
  return ok ? 0 : WEFT_EBUSY;
}

static int mutex_release(weft_mutex *m, weft_task *by) {
  struct waiter *w = NULL;
  weft__spin_lock(&m->q.lock);
  if (!m->locked || m->owner != by) {
    weft__spin_unlock(&m->q.lock);
    return WEFT_EPERM;
  }
  if (wq_head(&m->q) && weft_now() - wq_head(&m->q)->since >= STARVE_MS) {
    w = wq_pop(&m->q, 0); /* hand it over: the lock stays taken, by w */
    m->owner = w->task;
  } else {
    m->locked = false;
    m->owner = NULL;
    w = wq_pop(&m->q, RETRY);
  }
  weft__spin_unlock(&m->q.lock);
  wake_one(w);
  return 0;
}

int weft_mutex_unlock(weft_mutex *m) {
  if (!m || m->magic != MUTEX_MAGIC)
    return WEFT_EINVAL;
  return mutex_release(m, weft_self());
}

/* ---- condition variable ---- */

#define COND_MAGIC 0x636f6e64u

struct weft_cond {
  uint32_t magic;
  struct waitq q;
};

static bool never(struct waitq *q, struct waiter *w) {
  (void)q;
  (void)w;
  return false;
}

static void release_mutex(struct waiter *w) {
  w->released = true;
  mutex_release(w->after_arg, w->task);
}

int weft_cond_new(weft_cond **out) {
  weft_cond *c;
  if (!out)
    return WEFT_EINVAL;
  if (!(*out = c = calloc(1, sizeof *c)))
    return WEFT_ENOMEM;
  c->magic = COND_MAGIC;
  wq_init(&c->q);
  return 0;
}

int weft_cond_free(weft_cond *c) {
  if (!c || c->magic != COND_MAGIC)
    return WEFT_EINVAL;
  if (wq_head(&c->q))
    return WEFT_EBUSY;
  c->magic = 0;
  free(c);
  return 0;
}

int weft_cond_wait(weft_cond *c, weft_mutex *m, int64_t deadline) {
  struct waiter w = {.ready = never, .after = release_mutex, .after_arg = m};
  weft_task *self = weft_self();
  int rc;

  if (!c || c->magic != COND_MAGIC || !m || m->magic != MUTEX_MAGIC)
    return WEFT_EINVAL;
  if (!self)
    return WEFT_EPERM;
  weft__spin_lock(&m->q.lock);
  rc = m->locked && m->owner == self ? 0 : WEFT_EPERM; /* the caller must hold m */
  weft__spin_unlock(&m->q.lock);
  if (rc)
    return rc;
  w.q = &c->q;
  rc = wq_wait(&w, deadline, true, "cond wait %#lx");
  if (w.released) /* it parked: take the mutex back, cancelled or not */
    mutex_relock(m);
  return rc;
}

static int cond_wake(weft_cond *c, bool all) {
  struct waiter *list = NULL, *w;
  if (!c || c->magic != COND_MAGIC)
    return WEFT_EINVAL;
  weft__spin_lock(&c->q.lock);
  while ((w = wq_pop(&c->q, 0))) {
    w->wake_next = list;
    list = w;
    if (!all)
      break;
  }
  weft__spin_unlock(&c->q.lock);
  while ((w = list)) {
    list = w->wake_next; /* before the wakeup, after which w may be gone */
    wake_one(w);
  }
  return 0;
}

int weft_cond_signal(weft_cond *c) {
  return cond_wake(c, false);
}

int weft_cond_broadcast(weft_cond *c) {
  return cond_wake(c, true);
}

/* ---- wait group ---- */

#define WG_MAGIC 0x77677270u

struct weft_wg {
  uint32_t magic;
  struct waitq q;
  long count; /* under q.lock */
};

static bool wg_zero(struct waitq *q, struct waiter *w) {
  (void)w;
  return container_of(q, weft_wg, q)->count == 0;
}

int weft_wg_new(weft_wg **out) {
  weft_wg *g;
  if (!out)
    return WEFT_EINVAL;
  if (!(*out = g = calloc(1, sizeof *g)))
    return WEFT_ENOMEM;
  g->magic = WG_MAGIC;
  wq_init(&g->q);
  return 0;
}

int weft_wg_free(weft_wg *g) {
  if (!g || g->magic != WG_MAGIC)
    return WEFT_EINVAL;
  if (wq_head(&g->q))
    return WEFT_EBUSY;
  g->magic = 0;
  free(g);
  return 0;
}

int weft_wg_add(weft_wg *g, long n) {
  struct waiter *list = NULL, *w;
  if (!g || g->magic != WG_MAGIC)
    return WEFT_EINVAL;
  weft__spin_lock(&g->q.lock);
  long sum;
  if (__builtin_add_overflow(g->count, n, &sum) || sum < 0) {
    weft__spin_unlock(&g->q.lock);
    return WEFT_EINVAL; /* more done than added */
  }
  g->count += n;
  while (g->count == 0 && (w = wq_pop(&g->q, 0))) {
    w->wake_next = list;
    list = w;
  }
  weft__spin_unlock(&g->q.lock);
  while ((w = list)) {
    list = w->wake_next;
    wake_one(w);
  }
  return 0;
}

int weft_wg_done(weft_wg *g) {
  return weft_wg_add(g, -1);
}

int weft_wg_wait(weft_wg *g, int64_t deadline) {
  struct waiter w = {.ready = wg_zero};
  if (!g || g->magic != WG_MAGIC)
    return WEFT_EINVAL;
  w.q = &g->q;
  return wq_wait(&w, deadline, true, "wait group %#lx");
}

/* ---- counting semaphore ---- */

#define SEM_MAGIC 0x73656d61u

struct weft_sem {
  uint32_t magic;
  struct waitq q;
  unsigned long count; /* under q.lock */
};

static bool sem_take(struct waitq *q, struct waiter *w) {
  weft_sem *s = container_of(q, weft_sem, q);
  (void)w;
  if (s->count == 0)
    return false;
  s->count--;
  return true;
}

int weft_sem_new(weft_sem **out, unsigned long initial) {
  weft_sem *s;
  if (!out)
    return WEFT_EINVAL;
  if (!(*out = s = calloc(1, sizeof *s)))
    return WEFT_ENOMEM;
  s->magic = SEM_MAGIC;
  s->count = initial;
  wq_init(&s->q);
  return 0;
}

int weft_sem_free(weft_sem *s) {
  if (!s || s->magic != SEM_MAGIC)
    return WEFT_EINVAL;
  if (wq_head(&s->q))
    return WEFT_EBUSY;
  s->magic = 0;
  free(s);
  return 0;
}

int weft_sem_wait(weft_sem *s, int64_t deadline) {
  struct waiter w = {.ready = sem_take};
  if (!s || s->magic != SEM_MAGIC)
    return WEFT_EINVAL;
  w.q = &s->q;
  return wq_wait(&w, deadline, true, "semaphore %#lx");
}

int weft_sem_trywait(weft_sem *s) {
  bool ok;
  if (!s || s->magic != SEM_MAGIC)
    return WEFT_EINVAL;
  weft__spin_lock(&s->q.lock);
  ok = sem_take(&s->q, NULL);
  weft__spin_unlock(&s->q.lock);
  return ok ? 0 : WEFT_EAGAIN;
}

int weft_sem_post(weft_sem *s) {
  struct waiter *w;
  if (!s || s->magic != SEM_MAGIC)
    return WEFT_EINVAL;
  weft__spin_lock(&s->q.lock);
  w = wq_pop(&s->q, 0); /* a waiter gets the unit directly */
  if (!w) {
    if (s->count == ULONG_MAX) {
      weft__spin_unlock(&s->q.lock);
      return WEFT_EINVAL; /* the count would wrap and lose every unit */
    }
    s->count++;
  }
  weft__spin_unlock(&s->q.lock);
  wake_one(w);
  return 0;
}

/* ---- once ---- */

enum { ONCE_NEW, ONCE_RUNNING, ONCE_DONE };

int weft_once_do(weft_once *o, void (*fn)(void *), void *arg) {
  int expect = ONCE_NEW;
  if (!o || !fn)
    return WEFT_EINVAL;
  switch (__atomic_load_n(&o->state, __ATOMIC_ACQUIRE)) {
  case ONCE_DONE:
    return 0;
  case ONCE_NEW:
  case ONCE_RUNNING:
    break;
  default:
    return WEFT_EINVAL; /* not a weft_once initialised with WEFT_ONCE_INIT */
  }
  if (__atomic_compare_exchange_n(&o->state, &expect, ONCE_RUNNING, false, __ATOMIC_ACQ_REL,
                                  __ATOMIC_ACQUIRE)) {
    fn(arg);
    /* Release: pairs with the acquire loads; fn's effects are seen. */
    __atomic_store_n(&o->state, ONCE_DONE, __ATOMIC_RELEASE);
    return 0;
  }
  /* Another caller runs fn: let others run (a task) until it is done. */
  while (__atomic_load_n(&o->state, __ATOMIC_ACQUIRE) != ONCE_DONE) {
    if (weft_self())
      weft_yield();
    else
      sched_yield();
  }
  return 0;
}
