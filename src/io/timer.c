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
  s->op.start = start;
  s->op.cancel = cancel;
  s->op.destroy = destroy;
  rc = weft__io_wait(io, &s->op, true);
  weft__io_op_unref(&s->op);
  return rc;
}

int weft_sleep(int64_t ms) {
  if (ms < 0)
    return WEFT_EINVAL;
  return weft_sleep_until(weft_now() + ms);
}
