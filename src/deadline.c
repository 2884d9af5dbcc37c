/*
 * deadline.c - weft__park_until: weft__park with a deadline, for waits
 * whose waker is not the I/O thread (channels, select, locks, join,
 * scopes). The task layer owns the protocol; the timer is a hook
 * (rt->deadline_ops) that the I/O layer registers, so this layer never
 * calls the one above it (docs/design.md, 2.2).
 *
 * Protocol "deadline" (docs/design.md, section 5.15):
 *  1. The publish wrapper runs the wait's own publish; if that left the
 *     task waiting (withdraw set), it marks the deadline armed and asks
 *     the timer's owner to arm it (ops->arm).
 *  2. When the timer fires, its thread calls weft__deadline_fire, which
 *     takes the task's wait_lock and, if the deadline has not fired yet,
 *     marks it fired and, if the task is still waiting and withdraw takes
 *     it back, wakes it with WEFT_ETIMEDOUT. This is the "cancel"
 *     protocol of task.c with another result, so a real wakeup and the
 *     deadline cannot both wake the task.
 *  3. The task, resumed for whatever reason, reads armed and fired under
 *     wait_lock. If the timer was armed and has not fired it calls
 *     ops->disarm, which returns once the timer's thread will never touch
 *     the task or the deadline again; only then does it return.
 * The deadline is reference-counted by the timer's owner: the task's
 * reference (ops->release), and the armed timer's until it is closed.
 */
#include "runtime.h"

static void dl_publish(weft_task *t, void *arg) {
  weft__deadline *d = arg;
  d->publish(t, d->arg);
  if (!t->withdraw)
    return; /* the wait is over already: no timer needed */
  d->armed = true;
  t->rt->deadline_ops->arm(t->rt->io, d);
}

bool weft__deadline_fire(weft__deadline *d) {
  weft_task *t = d->task;
  bool first = false;
  weft__spin_lock(&t->wait_lock);
  if (!d->fired) {
    d->fired = first = true;
    if (t->withdraw && t->withdraw(t)) {
      t->withdraw = NULL;
      weft__wake(t, WEFT_ETIMEDOUT);
    }
  }
  weft__spin_unlock(&t->wait_lock);
  return first;
}

int weft__park_until(weft__publish_fn publish, void *arg, int64_t when) {
  weft_task *t = weft_self();
  const weft__deadline_ops *ops = t->rt->deadline_ops;
  weft__deadline *d;
  bool fired, armed;
  int rc;

  if (when < 0)
    return weft__park(publish, arg, true);
  if (!(d = ops->alloc(t->rt->io)))
    return WEFT_ENOMEM;
  d->task = t;
  d->when = when;
  d->publish = publish;
  d->arg = arg;
  rc = weft__park(dl_publish, d, true);
  weft__spin_lock(&t->wait_lock);
  fired = d->fired;
  armed = d->armed;
  weft__spin_unlock(&t->wait_lock);
  if (armed && !fired)
    ops->disarm(t->rt->io, d);
  ops->release(d);
  return rc;
}
