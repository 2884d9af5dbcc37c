/*
 * timer.c - weft_sleep and weft_sleep_until: a uv_timer_t per sleeping task
 * on the I/O thread, as an io op (loop.c).
 *
 * Wakeups never come early. libuv measures timers on its loop clock, which
 * may be a coarse clock a few milliseconds behind CLOCK_MONOTONIC, the clock
 * of weft_now() and of every deadline. So the timer callback checks
 * weft_now() against the deadline and, if the loop clock woke it early,
 * starts the timer again for what is left.
 *
 * It also keeps the timers of protocol "deadline" (deadline.c), which it
 * registers as rt->deadline_ops.
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

static void sleep_destroy(weft__io_op *op) {
  free(container_of(op, struct sleep_op, op));
}

static void closed(uv_handle_t *h) {
  struct sleep_op *s = h->data;
  weft__io_op_unref(&s->op); /* the I/O thread's reference */
}

static void sleep_end(struct sleep_op *s, int result) {
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
  sleep_end(s, 0);
}

static void sleep_start(weft__io_op *op) {
  struct sleep_op *s = container_of(op, struct sleep_op, op);
  uv_timer_init(weft__io_loop(op->io), &s->timer);
  s->timer.data = s;
  uv_timer_start(&s->timer, fired, weft__io_timeout(op->io, s->deadline), 0);
}

static void sleep_cancel(weft__io_op *op) {
  struct sleep_op *s = container_of(op, struct sleep_op, op);
  uv_timer_stop(&s->timer);
  sleep_end(s, WEFT_ECANCELED);
}

int weft_sleep_until(int64_t deadline) {
  weft_task *t = weft__blocking_enter();
  struct sleep_op *s;
  int rc;

  if (!t)
    return WEFT_EPERM;
  if (weft__cancel_pending(t))
    return WEFT_ECANCELED;
  if (deadline >= 0 && deadline <= weft_now())
    return 0;
  if (deadline < 0) /* -1: forever, until cancelled */
    deadline = INT64_MAX;
  s = calloc(1, sizeof *s);
  if (!s)
    return WEFT_ENOMEM;
  s->deadline = deadline;
  weft__wait_note(t, "sleep", 0, deadline == INT64_MAX ? -1 : deadline);
  s->op.start = sleep_start;
  s->op.cancel = sleep_cancel;
  s->op.destroy = sleep_destroy;
  rc = weft__io_wait(t->rt->io, &s->op, true);
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

/* ---- protocol "deadline"'s timers (deadline.c) ---- */

/* A deadline with its timer; the timer side of the protocol that
 * deadline.c describes. */
struct deadline {
  weft__deadline d;
  weft__io_msg arm_msg;
  atomic_int refs; /* the task's, and the armed timer's until closed */
  weft__io *io;
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
  if (weft__deadline_fire(&d->d))
    weft__io_waits_add(d->io, -1);
  uv_close((uv_handle_t *)&d->timer, dl_closed);
}

static void dl_arm_msg(weft__io_msg *m) {
  struct deadline *d = container_of(m, struct deadline, arm_msg);
  weft__io_waits_add(d->io, 1);
  uv_timer_init(weft__io_loop(d->io), &d->timer);
  d->timer.data = d;
  uv_timer_start(&d->timer, dl_fire, weft__io_timeout(d->io, d->d.when), 0);
}

static weft__deadline *dl_alloc(weft__io *io) {
  struct deadline *d = calloc(1, sizeof *d);
  if (!d)
    return NULL;
  atomic_init(&d->refs, 1); /* the task's */
  d->io = io;
  d->arm_msg.run = dl_arm_msg;
  return &d->d;
}

static void dl_arm(weft__io *io, weft__deadline *dd) {
  struct deadline *d = container_of(dd, struct deadline, d);
  atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed); /* the timer's */
  weft__io_send(io, &d->arm_msg);
}

static void disarm_start(weft__io_op *op) {
  struct deadline *d = container_of(op, struct disarm_op, op)->d;
  if (!d->d.fired) { /* the same thread as dl_fire: no race here */
    d->d.fired = true;
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
static void dl_disarm(weft__io *io, weft__deadline *dd) {
  struct disarm_op *x;
  while (!(x = calloc(1, sizeof *x))) /* tiny and rare: wait for memory */
    sched_yield();
  x->d = container_of(dd, struct deadline, d);
  x->op.start = disarm_start;
  x->op.cancel = disarm_cancel;
  x->op.destroy = disarm_destroy;
  weft__io_wait(io, &x->op, false);
  weft__io_op_unref(&x->op);
}

static void dl_release(weft__deadline *dd) {
  dl_unref(container_of(dd, struct deadline, d));
}

const weft__deadline_ops weft__io_deadline_ops = {
    .alloc = dl_alloc,
    .arm = dl_arm,
    .disarm = dl_disarm,
    .release = dl_release,
};
