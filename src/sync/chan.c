/*
 * chan.c - channels: typed-by-size FIFO queues between tasks, buffered or
 * rendezvous (capacity 0), with close.
 *
 * A channel is a ring buffer and two queues of parked tasks, senders and
 * receivers, all under one spinlock (critical sections are a memcpy and a
 * few links). Values move directly between a waiting task and the one that
 * meets it: a sender that finds a parked receiver copies into the
 * receiver's variable and wakes it; a receiver that finds a parked sender
 * (rendezvous, or a full buffer) takes its value. So a rendezvous send
 * returns only once a receiver has the value.
 *
 * Protocol "chan wait" (task.c's "park" and "cancel" applied to channels):
 *  1. The task tries the operation under the lock. If it would block, it
 *     parks; its publish step, on the scheduler stack with the task's
 *     wait_lock held, takes the channel lock and tries once more (someone
 *     may have come meanwhile): if that succeeds it wakes the task at once,
 *     else it queues the task's waiter and sets withdraw. Lock order is
 *     always wait_lock before the channel lock.
 *  2. A waker takes a waiter off a queue under the channel lock, moves the
 *     value and sets the result; after unlocking it wakes the task.
 *  3. A canceller or a deadline (protocol "deadline", io/timer.c) calls
 *     withdraw, which unlinks the waiter under the channel lock if it is
 *     still queued. A waiter is unlinked exactly once, by a waker, a close
 *     or a withdraw, and only that one wakes the task.
 * The waiter lives on the parked task's stack: it cannot go away before
 * its wakeup, and after it nobody touches it. See docs/design.md, section
 * 5.11 ("chan wait") and 5.12 ("select").
 *
 * `users` counts tasks parked in an operation (from before they queue until
 * after they resume, when their withdraw can no longer name the channel),
 * so weft_chan_free refuses (WEFT_EBUSY) while any is. An operation that
 * completes without parking needs no count: freeing a channel while another
 * thread is inside a call on it is a use-after-free whatever we count, and
 * the fast path stays free of two contended atomic operations.
 */
#include "list.h"
#include "runtime.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define WEFT_CHAN_MAGIC 0x6368616eu /* "chan" */

struct select_state {
  atomic_int fired; /* -1 until one case (its index) or a withdraw (-2) claims it */
};

struct waiter {
  weft_task *task;
  void *elem;          /* a sender's value, or a receiver's destination */
  struct weft__node node; /* in a queue; under the channel lock */
  struct waiter *wake_next; /* close's list of waiters to wake */
  bool send;           /* immutable */
  int result;          /* set by whoever unlinks it */
  weft_chan *chan;     /* immutable */
  struct select_state *sel; /* a weft_select's case, or NULL; immutable */
  int index;           /* the case's index; immutable */
};

/* A queue of waiters (list.h). */
#define queue weft__list

/*
 * Three cache lines: what never changes (read by every call, so shared by
 * every core's cache), the lock, and what the lock guards. A waiter spins
 * on the lock's line only; were the guarded fields beside it, each of its
 * reads would pull them away from the holder in the middle of its
 * critical section (chan_throughput on two workers: 51-61 ns an element
 * with one line for all, 45-47 with three; bench/RESULTS.md).
 */
struct weft_chan {
  uint32_t magic;
  size_t esize, cap;   /* immutable */
  char *buf;           /* cap * esize bytes; immutable pointer */
  _Alignas(WEFT_CACHELINE) weft__spinlock lock;
  _Alignas(WEFT_CACHELINE) size_t head, count;  /* under lock */
  bool closed;         /* under lock */
  struct queue recvq, sendq; /* under lock */
  atomic_long users;
};

/* c is a live channel. magic is the first member; it is read without
 * assuming the channel's cache-line alignment, since c may be another
 * kind of object handed in by mistake, with only malloc's alignment
 * (tests/check_badinput.c), and reading c->magic through a weft_chan
 * pointer would already claim 64. */
static bool chan_valid(const weft_chan *c) {
  uint32_t magic;
  if (!c)
    return false;
  memcpy(&magic, (const void *)c, sizeof magic);
  return magic == WEFT_CHAN_MAGIC;
}

static void q_push(struct queue *q, struct waiter *w) {
  weft__list_push(q, &w->node, false);
}

static void q_unlink(struct queue *q, struct waiter *w) {
  weft__list_unlink(q, &w->node);
}

/* Take the first waiter that can still complete: a plain one, or a select
 * case whose select this claims (protocol "select"). Cases of selects that
 * another channel or a withdraw already claimed are dropped on the way. */
static struct waiter *q_pop(struct queue *q) {
  struct waiter *w;
  while (q->head) {
    int idle = -1;
    w = container_of(q->head, struct waiter, node);
    q_unlink(q, w);
    if (!w->sel ||
        atomic_compare_exchange_strong(&w->sel->fired, &idle, w->index)) /* acq_rel */
      return w;
  }
  return NULL;
}

/* memcpy for elements, which may be 0 bytes from or to NULL (a channel of
 * pure signals has no buffer): memcpy itself must not see a NULL then. */
static inline void copy(void *dst, const void *src, size_t n) {
  if (n)
    memcpy(dst, src, n);
}

static char *slot(weft_chan *c, size_t i) {
  return c->buf + ((c->head + i) % c->cap) * c->esize;
}

/* Try to send under the lock: 0, WEFT_EPIPE or WEFT_EAGAIN. A receiver
 * that got the value is returned in *wake, to be woken after unlocking. */
static int send_locked(weft_chan *c, const void *elem, struct waiter **wake) {
  struct waiter *r;
  if (c->closed)
    return WEFT_EPIPE;
  if ((r = q_pop(&c->recvq))) {
    copy(r->elem, elem, c->esize);
    r->result = 0;
    *wake = r;
    return 0;
  }
  if (c->count < c->cap) {
    copy(slot(c, c->count), elem, c->esize);
    c->count++;
    return 0;
  }
  return WEFT_EAGAIN;
}

/* Try to receive under the lock: 0, WEFT_EPIPE (closed and drained) or
 * WEFT_EAGAIN. A sender whose value was taken is returned in *wake. */
static int recv_locked(weft_chan *c, void *elem, struct waiter **wake) {
  struct waiter *s;
  if (c->count > 0) {
    copy(elem, slot(c, 0), c->esize);
    c->head = (c->head + 1) % c->cap;
    c->count--;
    if ((s = q_pop(&c->sendq))) { /* a blocked sender's value takes the free slot */
      copy(slot(c, c->count), s->elem, c->esize);
      c->count++;
      s->result = 0;
      *wake = s;
    }
    return 0;
  }
  if ((s = q_pop(&c->sendq))) { /* rendezvous */
    copy(elem, s->elem, c->esize);
    s->result = 0;
    *wake = s;
    return 0;
  }
  return c->closed ? WEFT_EPIPE : WEFT_EAGAIN;
}

static int try_locked(weft_chan *c, bool send, void *elem, struct waiter **wake) {
  int rc;
  weft__spin_lock(&c->lock);
  rc = send ? send_locked(c, elem, wake) : recv_locked(c, elem, wake);
  weft__spin_unlock(&c->lock);
  return rc;
}

static void wake(struct waiter *w) {
  if (w)
    weft__wake(w->task, w->result);
}

/* "chan wait", step 3. */
static bool withdraw(weft_task *t) {
  struct waiter *w = t->wait_obj;
  weft_chan *c = w->chan;
  bool was = false;
  weft__spin_lock(&c->lock);
  if (w->node.linked) {
    q_unlink(w->send ? &c->sendq : &c->recvq, w);
    was = true;
  }
  weft__spin_unlock(&c->lock);
  return was;
}

/* "chan wait", step 1's publish. */
static void chan_publish(weft_task *t, void *arg) {
  struct waiter *w = arg, *other = NULL;
  weft_chan *c = w->chan;
  int rc;

  weft__spin_lock(&c->lock);
  rc = w->send ? send_locked(c, w->elem, &other) : recv_locked(c, w->elem, &other);
  if (rc == WEFT_EAGAIN) {
    q_push(w->send ? &c->sendq : &c->recvq, w);
    t->withdraw = withdraw;
    t->wait_obj = w;
  }
  weft__spin_unlock(&c->lock);
  if (rc != WEFT_EAGAIN) {
    wake(other);
    weft__wake(t, rc); /* done after all: run again */
  }
}

/* A blocking send or receive. */
static int op(weft_chan *c, bool send, void *elem, int64_t deadline) {
  struct waiter w = {.send = send, .elem = elem, .chan = c}, *other = NULL;
  int rc;

  if (!chan_valid(c) || (!elem && c->esize))
    return WEFT_EINVAL;
  if (!(w.task = weft__blocking_enter()))
    return WEFT_EPERM;
  rc = try_locked(c, send, elem, &other);
  wake(other);
  if (rc == WEFT_EAGAIN && deadline == 0)
    return WEFT_ETIMEDOUT;
  /* A cancelled task still sends to room and receives what is there; only
   * a wait is refused. */
  if (rc == WEFT_EAGAIN && weft__cancel_pending(w.task))
    return WEFT_ECANCELED;
  if (rc == WEFT_EAGAIN) {
    weft__wait_note(w.task, send ? "chan send %#lx" : "chan recv %#lx", (uintptr_t)c, deadline);
    atomic_fetch_add(&c->users, 1);
    rc = weft__park_until(chan_publish, &w, deadline);
    atomic_fetch_sub(&c->users, 1);
  }
  return rc;
}

int weft_chan_send(weft_chan *c, const void *elem, int64_t deadline) {
  return op(c, true, (void *)elem, deadline);
}

int weft_chan_recv(weft_chan *c, void *elem, int64_t deadline) {
  return op(c, false, elem, deadline);
}

static int try_op(weft_chan *c, bool send, void *elem) {
  struct waiter *other = NULL;
  int rc;
  if (!chan_valid(c) || (!elem && c->esize))
    return WEFT_EINVAL;
  rc = try_locked(c, send, elem, &other);
  wake(other);
  return rc;
}

int weft_chan_try_send(weft_chan *c, const void *elem) {
  return try_op(c, true, (void *)elem);
}

int weft_chan_try_recv(weft_chan *c, void *elem) {
  return try_op(c, false, elem);
}

int weft_chan_new(weft_chan **out, size_t elem_size, size_t capacity) {
  weft_chan *c;
  if (!out)
    return WEFT_EINVAL;
  *out = NULL;
  if (capacity > (size_t)LONG_MAX || (elem_size && capacity > SIZE_MAX / elem_size))
    return WEFT_EINVAL; /* weft_chan_cap and weft_chan_len report a long */
  if (!(c = aligned_alloc(WEFT_CACHELINE, sizeof *c))) /* sizeof is a multiple of the alignment */
    return WEFT_ENOMEM;
  memset(c, 0, sizeof *c);
  if (capacity && elem_size && !(c->buf = malloc(capacity * elem_size))) {
    free(c);
    return WEFT_ENOMEM;
  }
  c->magic = WEFT_CHAN_MAGIC;
  weft__spin_init(&c->lock);
  c->esize = elem_size;
  c->cap = capacity;
  *out = c;
  return 0;
}

int weft_chan_close(weft_chan *c) {
  struct waiter *list = NULL, *w;
  if (!chan_valid(c))
    return WEFT_EINVAL;
  weft__spin_lock(&c->lock);
  if (c->closed) {
    weft__spin_unlock(&c->lock);
    return WEFT_EINVAL;
  }
  c->closed = true;
  /* Every waiter learns: receivers find nothing buffered (else they would
   * not wait), senders cannot send any more. */
  while ((w = q_pop(&c->recvq)) || (w = q_pop(&c->sendq))) {
    w->result = WEFT_EPIPE;
    w->wake_next = list;
    list = w;
  }
  weft__spin_unlock(&c->lock);
  while ((w = list)) {
    list = w->wake_next; /* read before the wakeup: after it, w may be gone */
    wake(w);
  }
  return 0;
}

int weft_chan_free(weft_chan *c) {
  if (!c)
    return 0;
  if (!chan_valid(c))
    return WEFT_EINVAL;
  if (atomic_load(&c->users) > 0)
    return WEFT_EBUSY;
  c->magic = 0;
  free(c->buf);
  free(c);
  return 0;
}

long weft_chan_len(weft_chan *c) {
  long n;
  if (!chan_valid(c))
    return WEFT_EINVAL;
  weft__spin_lock(&c->lock);
  n = (long)c->count;
  weft__spin_unlock(&c->lock);
  return n;
}

long weft_chan_cap(const weft_chan *c) {
  return chan_valid(c) ? (long)c->cap : WEFT_EINVAL;
}

/* ---- select ---- */

/*
 * Protocol "select" (Go's selectgo, simplified):
 *  1. Try every case once, in a random order, each under its channel's
 *     lock; the first that can complete does, and wins.
 *  2. Otherwise park. The publish step locks every channel of the select
 *     (in address order, each once), tries the cases again, and if none
 *     can complete queues one waiter per case, all pointing to one
 *     select_state, and sets withdraw.
 *  3. A waker popping a select's waiter must first claim the select with a
 *     CAS of `fired` from -1 to the case's index; if that fails (another
 *     case or a withdraw won) it drops the waiter and looks further. So
 *     exactly one case takes effect. withdraw claims with -2.
 *  4. Resumed, the task unlinks its remaining waiters, each under its
 *     channel's lock, and reports the case that fired.
 * Among several ready cases the random order of step 1 picks uniformly.
 */

static uint64_t next_random(void) {
  static _Atomic uint64_t state = UINT64_C(0x9E3779B97F4A7C15);
  uint64_t x = atomic_fetch_add_explicit(&state, UINT64_C(0x9E3779B97F4A7C15),
                                         memory_order_relaxed);
  x ^= x >> 30; /* splitmix64 */
  x *= UINT64_C(0xBF58476D1CE4E5B9);
  x ^= x >> 27;
  x *= UINT64_C(0x94D049BB133111EB);
  return x ^ (x >> 31);
}

#define SELECT_SMALL 8

struct select_call {
  weft_select_case *cases;
  size_t n;
  unsigned *order;          /* a random permutation of the case indices */
  weft_chan **locks;        /* the distinct channels, by address */
  size_t nlocks;
  struct waiter *w;         /* one per case */
  struct select_state st;
  int done;                 /* publish completed a case at once: its index */
  /* Room for small selects, so the common case allocates nothing. */
  unsigned order_small[SELECT_SMALL];
  weft_chan *locks_small[SELECT_SMALL];
  struct waiter w_small[SELECT_SMALL];
};

static int cmp_chan(const void *a, const void *b) {
  uintptr_t x = (uintptr_t) * (weft_chan *const *)a, y = (uintptr_t) * (weft_chan *const *)b;
  return x < y ? -1 : x > y;
}

/* Try case i with its channel locked. */
static int try_case(weft_select_case *k, struct waiter **wake) {
  weft_chan *c = k->chan;
  return k->op == WEFT_SELECT_SEND ? send_locked(c, k->elem, wake) : recv_locked(c, k->elem, wake);
}

static bool select_withdraw(weft_task *t) {
  struct select_call *s = t->wait_obj;
  int idle = -1;
  return atomic_compare_exchange_strong(&s->st.fired, &idle, -2);
}

/* Step 2, on the scheduler stack. */
static void select_publish(weft_task *t, void *arg) {
  struct select_call *s = arg;
  struct waiter *other = NULL;
  int rc = WEFT_EAGAIN;
  size_t i, k;

  for (i = 0; i < s->nlocks; i++)
    weft__spin_lock(&s->locks[i]->lock);
  for (k = 0; k < s->n && rc == WEFT_EAGAIN; k++) {
    i = s->order[k];
    if (s->cases[i].chan && (rc = try_case(&s->cases[i], &other)) != WEFT_EAGAIN) {
      s->cases[i].result = rc;
      s->done = (int)i;
    }
  }
  if (rc == WEFT_EAGAIN) {
    for (i = 0; i < s->n; i++) {
      weft_chan *c = s->cases[i].chan;
      if (c)
        q_push(s->w[i].send ? &c->sendq : &c->recvq, &s->w[i]);
    }
    t->withdraw = select_withdraw;
    t->wait_obj = s;
  }
  for (i = s->nlocks; i-- > 0;)
    weft__spin_unlock(&s->locks[i]->lock);
  if (rc != WEFT_EAGAIN) {
    wake(other);
    weft__wake(t, 0);
  }
}

/* Step 4. */
static void select_unlink(struct select_call *s) {
  for (size_t i = 0; i < s->n; i++) {
    weft_chan *c = s->cases[i].chan;
    if (!c)
      continue;
    weft__spin_lock(&c->lock);
    if (s->w[i].node.linked)
      q_unlink(s->w[i].send ? &c->sendq : &c->recvq, &s->w[i]);
    weft__spin_unlock(&c->lock);
  }
}

static int select_check(weft_select_case *cases, size_t n) {
  if (!cases && n)
    return WEFT_EINVAL;
  for (size_t i = 0; i < n; i++) {
    weft_chan *c = cases[i].chan;
    if (!c)
      continue; /* never ready, as a nil channel in Go */
    if (!chan_valid(c) || (cases[i].op != WEFT_SELECT_SEND && cases[i].op != WEFT_SELECT_RECV) ||
        (!cases[i].elem && c->esize))
      return WEFT_EINVAL;
  }
  return 0;
}

/* Step 1: one pass over the cases in s->order. Returns an index or -1. */
static int select_try_all(struct select_call *s) {
  for (size_t k = 0; k < s->n; k++) {
    unsigned i = s->order[k];
    struct waiter *other = NULL;
    int rc;
    if (!s->cases[i].chan)
      continue;
    weft__spin_lock(&s->cases[i].chan->lock);
    rc = try_case(&s->cases[i], &other);
    weft__spin_unlock(&s->cases[i].chan->lock);
    if (rc != WEFT_EAGAIN) {
      wake(other);
      s->cases[i].result = rc;
      return (int)i;
    }
  }
  return -1;
}

static int select_setup(struct select_call *s, weft_select_case *cases, size_t n) {
  memset(s, 0, sizeof *s);
  s->cases = cases;
  s->n = n;
  s->done = -1;
  atomic_init(&s->st.fired, -1);
  if (n == 0)
    return 0;
  if (n <= SELECT_SMALL) {
    s->order = s->order_small;
    s->locks = s->locks_small;
    s->w = s->w_small;
  } else {
    s->order = malloc(n * sizeof *s->order);
    s->locks = malloc(n * sizeof *s->locks);
    s->w = malloc(n * sizeof *s->w);
    if (!s->order || !s->locks || !s->w)
      return WEFT_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) { /* Fisher-Yates, drawn as we fill */
    size_t j = (size_t)(next_random() % (i + 1));
    s->order[i] = s->order[j];
    s->order[j] = (unsigned)i;
    if (cases[i].chan)
      s->locks[s->nlocks++] = cases[i].chan;
    s->w[i] = (struct waiter){.task = weft_self(), .elem = cases[i].elem, .chan = cases[i].chan,
                              .send = cases[i].op == WEFT_SELECT_SEND, .sel = &s->st,
                              .index = (int)i};
  }
  qsort(s->locks, s->nlocks, sizeof *s->locks, cmp_chan);
  size_t u = 0;
  for (size_t i = 0; i < s->nlocks; i++) /* each channel once */
    if (u == 0 || s->locks[u - 1] != s->locks[i])
      s->locks[u++] = s->locks[i];
  s->nlocks = u;
  return 0;
}

/* Count the parked select as a user of each of its channels (see `users`). */
static void select_users(struct select_call *s, long delta) {
  for (size_t i = 0; i < s->nlocks; i++)
    atomic_fetch_add(&s->locks[i]->users, delta);
}

static void select_teardown(struct select_call *s) {
  if (s->order == s->order_small)
    return;
  free(s->order);
  free(s->locks);
  free(s->w);
}

int weft_select(weft_select_case *cases, size_t n, int64_t deadline) {
  weft_task *self;
  struct select_call s;
  int rc, fired;

  if ((rc = select_check(cases, n)))
    return rc;
  if (!(self = weft__blocking_enter()))
    return WEFT_EPERM;
  if ((rc = select_setup(&s, cases, n)))
    goto out;
  if ((rc = select_try_all(&s)) >= 0)
    goto out;
  if (deadline == 0) {
    rc = WEFT_ETIMEDOUT;
    goto out;
  }
  if (weft__cancel_pending(self)) { /* a ready case was taken above; only waiting is refused */
    rc = WEFT_ECANCELED;
    goto out;
  }
  select_users(&s, 1);
  weft__wait_note(self, "select over %lu cases", n, deadline);
  rc = weft__park_until(select_publish, &s, deadline);
  select_unlink(&s);
  select_users(&s, -1);
  fired = atomic_load(&s.st.fired);
  if (s.done >= 0) {
    rc = s.done; /* completed in the publish step */
  } else if (fired >= 0) {
    /* A case claimed the select: it fired, with its own result (0, or
     * WEFT_EPIPE when its channel was closed, the wakeup's code too). */
    cases[fired].result = s.w[fired].result;
    rc = fired;
  }
out:
  select_teardown(&s);
  return rc;
}
