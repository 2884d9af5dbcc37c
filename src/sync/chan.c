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
 * its wakeup, and after it nobody touches it.
 *
 * `users` counts operations in progress so that weft_chan_free can refuse
 * (WEFT_EBUSY) while any task is inside one, not only while one is queued.
 */
#include "io/io.h"
#include "runtime.h"

#include <stdlib.h>
#include <string.h>

#define WEFT_CHAN_MAGIC 0x6368616eu /* "chan" */

struct waiter {
  weft_task *task;
  void *elem;          /* a sender's value, or a receiver's destination */
  struct waiter *prev, *next;
  bool linked;         /* queued; under the channel lock */
  bool send;           /* immutable */
  int result;          /* set by whoever unlinks it */
  weft_chan *chan;     /* immutable */
};

struct queue {
  struct waiter *head, *tail;
};

struct weft_chan {
  uint32_t magic;
  atomic_flag lock;
  size_t esize, cap;   /* immutable */
  char *buf;           /* cap * esize bytes */
  size_t head, count;  /* under lock */
  bool closed;         /* under lock */
  struct queue recvq, sendq; /* under lock */
  atomic_long users;
};

static bool valid(const weft_chan *c) {
  return c && c->magic == WEFT_CHAN_MAGIC;
}

static void q_push(struct queue *q, struct waiter *w) {
  w->next = NULL;
  w->prev = q->tail;
  if (q->tail)
    q->tail->next = w;
  else
    q->head = w;
  q->tail = w;
  w->linked = true;
}

static void q_unlink(struct queue *q, struct waiter *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    q->head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    q->tail = w->prev;
  w->linked = false;
}

static struct waiter *q_pop(struct queue *q) {
  struct waiter *w = q->head;
  if (w)
    q_unlink(q, w);
  return w;
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
    memcpy(r->elem, elem, c->esize);
    r->result = 0;
    *wake = r;
    return 0;
  }
  if (c->count < c->cap) {
    memcpy(slot(c, c->count), elem, c->esize);
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
    memcpy(elem, slot(c, 0), c->esize);
    c->head = (c->head + 1) % c->cap;
    c->count--;
    if ((s = q_pop(&c->sendq))) { /* a blocked sender's value takes the free slot */
      memcpy(slot(c, c->count), s->elem, c->esize);
      c->count++;
      s->result = 0;
      *wake = s;
    }
    return 0;
  }
  if ((s = q_pop(&c->sendq))) { /* rendezvous */
    memcpy(elem, s->elem, c->esize);
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
  if (w->linked) {
    q_unlink(w->send ? &c->sendq : &c->recvq, w);
    was = true;
  }
  weft__spin_unlock(&c->lock);
  return was;
}

/* "chan wait", step 1's publish. */
static void publish(weft_task *t, void *arg) {
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

  if (!valid(c) || (!elem && c->esize))
    return WEFT_EINVAL;
  if (!(w.task = weft_self()))
    return WEFT_EPERM;
  if (weft_canceled())
    return WEFT_ECANCELED;
  atomic_fetch_add(&c->users, 1);
  rc = try_locked(c, send, elem, &other);
  wake(other);
  if (rc == WEFT_EAGAIN)
    rc = deadline == 0 ? WEFT_ETIMEDOUT : weft__park_until(publish, &w, deadline);
  atomic_fetch_sub(&c->users, 1);
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
  if (!valid(c) || (!elem && c->esize))
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
  if (elem_size && capacity > SIZE_MAX / elem_size)
    return WEFT_EINVAL;
  if (!(c = calloc(1, sizeof *c)))
    return WEFT_ENOMEM;
  if (capacity && elem_size && !(c->buf = malloc(capacity * elem_size))) {
    free(c);
    return WEFT_ENOMEM;
  }
  c->magic = WEFT_CHAN_MAGIC;
  atomic_flag_clear(&c->lock);
  c->esize = elem_size;
  c->cap = capacity;
  *out = c;
  return 0;
}

int weft_chan_close(weft_chan *c) {
  struct waiter *list = NULL, *w;
  if (!valid(c))
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
    w->next = list;
    list = w;
  }
  weft__spin_unlock(&c->lock);
  while ((w = list)) {
    list = w->next; /* read before the wakeup: after it, w may be gone */
    wake(w);
  }
  return 0;
}

int weft_chan_free(weft_chan *c) {
  if (!c)
    return 0;
  if (!valid(c))
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
  if (!valid(c))
    return WEFT_EINVAL;
  weft__spin_lock(&c->lock);
  n = (long)c->count;
  weft__spin_unlock(&c->lock);
  return n;
}

long weft_chan_cap(const weft_chan *c) {
  return valid(c) ? (long)c->cap : WEFT_EINVAL;
}
