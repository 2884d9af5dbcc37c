/*
 * deadline.c - weft__park_until: weft__park with a deadline, for waits
 * whose waker is not the I/O thread (channels, select, locks, join,
 * scopes) and for sleeps. The deadline is a timer on the runtime's heap
 * (timers.c), added and removed by the task's own worker with no message,
 * so a timed wait that ends in time costs a lock and an unlink, and the
 * I/O thread hears of it only when it became the earliest deadline.
 *
 * Protocol "deadline" (docs/design.md, section 5.16):
 *  1. The publish wrapper runs the wait's own publish; if that left the
 *     task waiting (withdraw set), it marks the deadline armed and adds
 *     its timer (protocol "timers", T1). Still under the task's
 *     wait_lock, so no waker can end the wait before `armed` is written.
 *  2. When the timer fires, the host calls dl_fire, which takes the task's
 *     wait_lock and, if the task is still waiting and withdraw takes it
 *     back, wakes it with WEFT_ETIMEDOUT. This is the "cancel" protocol of
 *     task.c with another result, so a real wakeup and the deadline cannot
 *     both wake the task.
 *  3. The task, resumed for whatever reason, deletes the timer if it was
 *     armed (T3). If the delete finds it fired or firing, the task waits
 *     until dl_fire has returned: only then may it leave, since the
 *     deadline lives on its stack and dl_fire touches the task.
 * Lock order: wait_lock, then the heap's lock (step 1); dl_fire runs with
 * no heap lock held (T2), so it may take wait_lock.
 */
#include "runtime.h"

struct deadline {
  weft__timer timer;
  weft_task *task;          /* immutable */
  weft__publish_fn publish; /* the wait's own publish step; immutable */
  void *arg;
  bool armed; /* written in the publish step under task->wait_lock */
};

static void dl_publish(weft_task *t, void *arg) {
  struct deadline *d = arg;
  d->publish(t, d->arg);
  if (!t->withdraw)
    return; /* the wait is over already: no timer needed */
  d->armed = true;
  weft__timer_add(t->rt, &d->timer);
}

static void dl_fire(weft__timer *tm) {
  struct deadline *d = container_of(tm, struct deadline, timer);
  weft_task *t = d->task;
  weft__spin_lock(&t->wait_lock);
  if (t->withdraw && t->withdraw(t)) {
    t->withdraw = NULL;
    weft__wake(t, WEFT_ETIMEDOUT);
  }
  weft__spin_unlock(&t->wait_lock);
}

int weft__park_until(weft__publish_fn publish, void *arg, int64_t when) {
  weft_task *t = weft_self();
  struct deadline d = {.task = t, .publish = publish, .arg = arg};
  int rc;

  if (when < 0)
    return weft__park(publish, arg, true);
  d.timer.when = when;
  d.timer.fire = dl_fire;
  rc = weft__park(dl_publish, &d, true);
  /* armed was written before the wake that resumed us (step 1). */
  if (d.armed && !weft__timer_del(t->rt, &d.timer))
    weft__timer_wait_fired(&d.timer);
  return rc;
}
