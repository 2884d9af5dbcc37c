/*
 * timer.c - weft_sleep and weft_sleep_until: a uv_timer_t per sleeping task
 * on the I/O thread, as an io op (loop.c).
 *
 * Wakeups never come early. libuv measures timers on its loop clock, which
 * may be a coarse clock a few milliseconds behind CLOCK_MONOTONIC, the clock
 * of weft_now() and of every deadline. So the timer callback checks
 * weft_now() against the deadline and, if the loop clock woke it early,
 * starts the timer again for what is left.
 */
#include "io/io.h"

#include <sched.h>
#include <stdlib.h>
#include <uv.h>

struct sleep_op {
  weft__io_op op;
  uv_timer_t timer; /* I/O thread only */
  int64_t deadline; /* immutable */
};

static void destroy(weft__io_op *op) {
  free(container_of(op, struct sleep_op, op));
}

static void closed(uv_handle_t *h) {
  struct sleep_op *s = h->data;
  weft__io_op_unref(&s->op); /* the I/O thread's reference */
}

static void end(struct sleep_op *s, int result) {
  weft__io_finish(&s->op, result);
  uv_close((uv_handle_t *)&s->timer, closed);
}

static void fired(uv_timer_t *t) {
  struct sleep_op *s = t->data;
  int64_t left = s->deadline - weft_now();
  if (left > 0) { /* the loop clock ran ahead of ours: not yet */
    uv_timer_start(&s->timer, fired, (uint64_t)left, 0);
    return;
  }
  end(s, 0);
}

static void start(weft__io_op *op) {
  struct sleep_op *s = container_of(op, struct sleep_op, op);
  uv_timer_init(weft__io_loop(op->io), &s->timer);
  s->timer.data = s;
  uv_timer_start(&s->timer, fired, weft__io_timeout(op->io, s->deadline), 0);
}

static void cancel(weft__io_op *op) {
  struct sleep_op *s = container_of(op, struct sleep_op, op);
  uv_timer_stop(&s->timer);
  end(s, WEFT_ECANCELED);
}

int weft_sleep_until(int64_t deadline) {
  weft__io *io = weft__io_current();
  struct sleep_op *s;
  int rc;

  if (!io)
    return WEFT_EPERM;
  if (weft_canceled())
    return WEFT_ECANCELED;
  if (deadline >= 0 && deadline <= weft_now())
    return 0;
  if (deadline < 0) /* -1: forever, until cancelled */
    deadline = INT64_MAX;
  s = calloc(1, sizeof *s);
  if (!s)
    return WEFT_ENOMEM;
  s->deadline = deadline;
  weft__wait_note(weft_self(), "sleep", 0, deadline == INT64_MAX ? -1 : deadline);
  s->op.start = start;
  s->op.cancel = cancel;
  s->op.destroy = destroy;
  rc = weft__io_wait(io, &s->op, true);
  weft__io_op_unref(&s->op);
  return rc;
}

int weft_sleep(int64_t ms) {
  int64_t now = weft_now();
  if (ms < 0)
    return WEFT_EINVAL;
  /* A sleep that would end past the clock's range is a sleep forever. */
  return weft_sleep_until(ms > INT64_MAX - now ? -1 : now + ms);
}

/* ---- deadlines for waits that are not io ops ---- */

/*
 * weft__park_until: weft__park with a deadline, for waits whose waker is
 * not the I/O thread (channels). Protocol "deadline":
 *  1. The publish wrapper runs the wait's own publish; if that left the task
 *     waiting (withdraw set), it sends the arm message and the I/O thread
 *     starts a timer.
 *  2. When the timer fires, the I/O thread takes the task's wait_lock and,
 *     if the task is still waiting and withdraw takes it back, wakes it
 *     with WEFT_ETIMEDOUT; either way it marks the deadline fired. This is
 *     the "cancel" protocol of task.c with another result, so a real wakeup
 *     and the deadline cannot both wake the task.
 *  3. The task, resumed for whatever reason, reads `fired` under wait_lock.
 *     If the timer has not fired it waits for a disarm op, after which the
 *     I/O thread will never touch the task again; only then does it return.
 * The deadline is reference-counted: the task, the armed timer until its
 * close callback. See docs/design.md, section 5.15.
 */
struct deadline {
  weft__io_msg arm_msg;
  atomic_int refs;
  weft__io *io;
  weft_task *task;
  int64_t when;
  weft__publish_fn publish;
  void *arg;
  bool armed;       /* the arm message was sent; under task->wait_lock */
  bool fired;       /* I/O thread, under task->wait_lock */
  uv_timer_t timer; /* I/O thread only */
};

struct disarm_op {
  weft__io_op op;
  struct deadline *d;
};

static void dl_unref(struct deadline *d) {
  if (atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) == 1)
    free(d);
}

static void dl_closed(uv_handle_t *h) {
  dl_unref(h->data);
}

static void dl_fire(uv_timer_t *tm) {
  struct deadline *d = tm->data;
  weft_task *t = d->task;
  weft__spin_lock(&t->wait_lock);
  if (!d->fired) {
    d->fired = true;
    weft__io_waits_add(d->io, -1);
    if (t->withdraw && t->withdraw(t)) {
      t->withdraw = NULL;
      weft__wake(t, WEFT_ETIMEDOUT);
    }
  }
  weft__spin_unlock(&t->wait_lock);
  uv_close((uv_handle_t *)&d->timer, dl_closed);
}

static void dl_arm(weft__io_msg *m) {
  struct deadline *d = container_of(m, struct deadline, arm_msg);
  weft__io_waits_add(d->io, 1);
  uv_timer_init(weft__io_loop(d->io), &d->timer);
  d->timer.data = d;
  uv_timer_start(&d->timer, dl_fire, weft__io_timeout(d->io, d->when), 0);
}

static void dl_publish(weft_task *t, void *arg) {
  struct deadline *d = arg;
  d->publish(t, d->arg);
  if (!t->withdraw)
    return; /* the wait is over already: no timer needed */
  d->armed = true;
  atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed); /* the timer's */
  weft__io_send(d->io, &d->arm_msg);
}

static void disarm_start(weft__io_op *op) {
  struct deadline *d = container_of(op, struct disarm_op, op)->d;
  if (!d->fired) { /* the same thread as dl_fire: no race here */
    d->fired = true;
    weft__io_waits_add(d->io, -1);
    uv_timer_stop(&d->timer);
    uv_close((uv_handle_t *)&d->timer, dl_closed);
  }
  weft__io_finish(op, 0);
  weft__io_op_unref(op);
}

static void disarm_cancel(weft__io_op *op) {
  (void)op; /* not cancellable */
}

static void disarm_destroy(weft__io_op *op) {
  free(container_of(op, struct disarm_op, op));
}

/* Stop d's timer and wait until the I/O thread has let go of the task. */
static void disarm(struct deadline *d) {
  struct disarm_op *x;
  while (!(x = calloc(1, sizeof *x))) /* tiny and rare: wait for memory */
    sched_yield();
  x->d = d;
  x->op.start = disarm_start;
  x->op.cancel = disarm_cancel;
  x->op.destroy = disarm_destroy;
  weft__io_wait(d->io, &x->op, false);
  weft__io_op_unref(&x->op);
}

int weft__park_until(weft__publish_fn publish, void *arg, int64_t when) {
  weft_task *t = weft_self();
  struct deadline *d;
  bool fired, armed;
  int rc;

  if (when < 0)
    return weft__park(publish, arg, true);
  if (!(d = calloc(1, sizeof *d)))
    return WEFT_ENOMEM;
  atomic_init(&d->refs, 1); /* the task's */
  d->io = t->rt->io;
  d->task = t;
  d->when = when;
  d->publish = publish;
  d->arg = arg;
  d->arm_msg.run = dl_arm;
  rc = weft__park(dl_publish, d, true);
  weft__spin_lock(&t->wait_lock);
  fired = d->fired;
  armed = d->armed;
  weft__spin_unlock(&t->wait_lock);
  if (armed && !fired)
    disarm(d);
  dl_unref(d);
  return rc;
}
