/*
 * timer.c - the host of the runtime's timer heap (timers.c, protocol
 * "timers"), and weft_sleep and weft_sleep_until on it.
 *
 * The I/O thread is the host: its alarm (loop.c) rings at the earliest
 * deadline, and a kick (a message) makes it look again when a worker
 * added an earlier one. Either way it fires what is due and sets the
 * alarm to what is left.
 *
 * Wakeups never come early. libuv measures the alarm on its loop clock,
 * which may be a coarse clock a few milliseconds off CLOCK_MONOTONIC, the
 * clock of weft_now() and of every deadline; weft__timers_run fires only
 * timers due by weft_now(), and an alarm that rang early is set again.
 */
#include "io/io.h"

void weft__io_timers_alarm(weft__io *io) {
  weft__io_alarm_at(io, weft__timers_run(weft__io_rt(io)));
}

void weft__io_timers_kick(weft__io *io) {
  weft__io_alarm_kick(io);
}

/* A sleep is a park with a deadline and nothing else to wait for: only
 * the deadline (WEFT_ETIMEDOUT) or a cancel ends it. */
static bool sleep_withdraw(weft_task *t) {
  (void)t;
  return true;
}

static void sleep_publish(weft_task *t, void *arg) {
  (void)arg;
  t->withdraw = sleep_withdraw;
}

int weft_sleep_until(int64_t deadline) {
  weft_task *t = weft__blocking_enter();
  int rc;

  if (!t)
    return WEFT_EPERM;
  if (weft__cancel_pending(t))
    return WEFT_ECANCELED;
  if (deadline >= 0 && deadline <= weft_now())
    return 0;
  if (deadline < 0) /* -1: forever, until cancelled; a timer that never fires */
    deadline = INT64_MAX;
  weft__wait_note(t, "sleep", 0, deadline == INT64_MAX ? -1 : deadline);
  rc = weft__park_until(sleep_publish, NULL, deadline);
  return rc == WEFT_ETIMEDOUT ? 0 : rc;
}

int weft_sleep(int64_t ms) {
  int64_t now = weft_now();
  if (ms < 0)
    return WEFT_EINVAL;
  /* A sleep that would end past the clock's range is a sleep forever. */
  return weft_sleep_until(ms > INT64_MAX - now ? -1 : now + ms);
}
