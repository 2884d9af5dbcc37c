/*
 * op.c - protocol "io op": how a task waits for something the I/O thread
 * watches (a poll, a resolver, file or process request, a signal), with
 * an optional deadline. docs/design.md, section 5.14.
 *
 * Each kind of op is a const table (weft__io_op_kind: its struct's size,
 * start, cancel, destroy); the op is the first member of the kind's
 * struct, made by weft__io_op_new and reference-counted: the task holds
 * one reference throughout, the I/O thread one while the op is in its
 * hands, and a cancel message one while it is in flight.
 *   1. The task parks (task.c, "park"). Its publish step, on the scheduler
 *      stack after the task's context is saved, takes the I/O thread's
 *      reference, records the op as what the task waits on (withdraw,
 *      wait_obj) and sends start_msg. Only now can the I/O thread see the
 *      task (task.c, protocol "park": never visible before its context is
 *      saved).
 *   2. The I/O thread adds the op's timer to the runtime's heap
 *      (timers.c) if it has a deadline, then runs the kind's start, which
 *      starts the libuv work (and may finish the op at once). When the work
 *      completes, weft__io_finish marks the op finished, deletes the timer
 *      and wakes the task with the result. The I/O thread drops its
 *      reference once libuv is done with the op's memory.
 *   3. A canceller (task.c, "cancel") calls withdraw under the task's
 *      wait_lock. It cannot stop libuv work from its own thread, so it sends
 *      cancel_msg (once: cancel_sent), holding a reference for it, and
 *      reports "not withdrawn": the wakeup stays the I/O thread's job. There
 *      cancel_msg runs the kind's cancel with WEFT_ECANCELED unless the op
 *      has finished. The deadline's timer, fired on the I/O thread too,
 *      calls the same cancel with WEFT_ETIMEDOUT.
 * Exactly one wakeup: only the I/O thread wakes the task, and `finished`,
 * touched only there, lets the first of completion, cancellation and the
 * deadline win. The timer is added, fired and deleted on the I/O thread
 * alone, so weft__io_finish never waits for a firing one. The memory is
 * safe: the op outlives every message that names it, because each message
 * holds a reference, the timer is out of the heap once the op finished,
 * and the task reads its results after the wakeup while its own reference
 * is still held.
 */
#include "io/io.h"

#include <stdlib.h>

weft__io *weft__io_current(void) {
  weft_task *t = weft_self();
  return t ? t->rt->io : NULL;
}

void weft__io_op_unref(weft__io_op *op) {
  /* acq_rel: the last owner sees every write the others made. */
  if (atomic_fetch_sub_explicit(&op->refs, 1, memory_order_acq_rel) == 1) {
    if (op->kind->destroy)
      op->kind->destroy(op);
    free(op);
  }
}

weft__io_op *weft__io_op_new_extra(const weft__io_op_kind *kind, size_t extra) {
  weft__io_op *op = calloc(1, kind->size + extra);
  if (op)
    op->kind = kind;
  return op;
}

weft__io_op *weft__io_op_new(const weft__io_op_kind *kind) {
  return weft__io_op_new_extra(kind, 0);
}

/* The op's deadline, a timer on the runtime's heap (timers.c) fired here
 * on the I/O thread: the op is asked to end as a cancel would, with
 * WEFT_ETIMEDOUT. The cancel may finish the op and drop the I/O thread's
 * reference, and with it the op (the timer is not `waited`). */
static void op_timed_out(weft__timer *tm) {
  weft__io_op *op = container_of(tm, weft__io_op, deadline);
  if (!op->finished)
    op->kind->cancel(op, WEFT_ETIMEDOUT);
}

static void run_start(weft__io_msg *m) {
  weft__io_op *op = container_of(m, weft__io_op, start_msg);
  weft__io_waits_add(op->io, 1);
  /* The timer before start: start may finish the op and drop the I/O
   * thread's reference, after which op must not be touched. The timer
   * fires on this thread only, so not during start, and the finish,
   * whenever it comes, deletes it. */
  if (op->deadline.when >= 0) {
    op->deadline.fire = op_timed_out;
    weft__timer_add(op->task->rt, &op->deadline);
  }
  op->kind->start(op);
}

static void run_cancel(weft__io_msg *m) {
  weft__io_op *op = container_of(m, weft__io_op, cancel_msg);
  if (!op->finished)
    op->kind->cancel(op, WEFT_ECANCELED);
  weft__io_op_unref(op); /* the cancel message's reference */
}

/* Step 3: send the cancellation; the I/O thread delivers the wakeup. */
static bool io_withdraw(weft_task *t) {
  weft__io_op *op = t->wait_obj;
  if (!atomic_exchange(&op->cancel_sent, true)) {
    atomic_fetch_add_explicit(&op->refs, 1, memory_order_relaxed);
    weft__io_send(op->io, &op->cancel_msg);
  }
  return false;
}

/* Step 1, on the scheduler stack with t->wait_lock held. */
static void io_publish(weft_task *t, void *arg) {
  weft__io_op *op = arg;
  atomic_fetch_add_explicit(&op->refs, 1, memory_order_relaxed); /* the I/O thread's */
  if (op->cancellable) {
    t->withdraw = io_withdraw;
    t->wait_obj = op;
  }
  weft__io_send(op->io, &op->start_msg);
}

int weft__io_wait(weft__io_op *op, int64_t deadline, bool cancellable) {
  weft_task *t = weft_self();
  op->io = t->rt->io;
  op->task = t;
  op->start_msg.run = run_start;
  op->cancel_msg.run = run_cancel;
  op->cancellable = cancellable;
  op->deadline.when = deadline;
  atomic_init(&op->refs, 1); /* the task's */
  atomic_init(&op->cancel_sent, false);
  op->finished = false;
  return weft__park(io_publish, op, cancellable);
}

void weft__io_finish(weft__io_op *op, int result) {
  if (op->finished)
    return;
  op->finished = true;
  /* On this thread, where the deadline fires: once it is out of the heap
   * or fired, nothing touches it again. */
  if (op->deadline.when >= 0)
    weft__timer_del(op->task->rt, &op->deadline);
  weft__io_waits_add(op->io, -1);
  weft__wake(op->task, result);
}
