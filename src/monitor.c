/*
 * monitor.c - watching a runtime from outside its tasks: the dump of live
 * tasks, the warning about tasks that block their worker, and deadlock
 * detection. See docs/design.md, sections 3.3, 5.19 and 5.20.
 *
 * Reading tasks from another thread
 * ---------------------------------
 * A task struct may be released (task.c) the moment its task finishes and
 * is joined. Release first takes the task off its registry shard, under the
 * shard's lock. So a task found on a shard's list, or named by a worker's
 * `running` while every shard lock is held, cannot be released until the
 * lock is dropped: the dump walks each shard under its lock, and the
 * blocking monitor takes every shard lock before it reads the running
 * task's name. (A worker clears `running` before it can release the task,
 * and the release's lock/unlock orders that store before our lock.) The
 * fields read this way (state, wait note, last worker) are relaxed atomics
 * written by the task's owner: the picture may be a moment old, never torn
 * into a crash.
 *
 * Blocking monitor
 * ----------------
 * Every WEFT__TICK_MS the I/O thread samples each worker's progress
 * (switch and yield counters) and running task. A worker whose counters
 * have not moved while it has a running task has been running that one
 * task since the first such sample; past WEFT_WARN_BLOCKING_MS it gets one
 * warning per run. The monitor only reports: rescuing the tasks queued
 * behind such a worker is the scheduler's (sched.c, weft__sched_rescue),
 * on the same tick. Nothing is added to the switch path besides the
 * `running` store.
 *
 * Deadlock detection
 * ------------------
 * The thread in weft_rt_wait or weft_main checks, every 100 ms, whether the
 * runtime is asleep for good: tasks exist; every worker is parked on its
 * futex; the injection queue and every deque are empty; the I/O thread
 * holds no task's wait (no I/O, no timer, no deadline: io/loop.c counts
 * them) and has no message queued. Then every task is parked on a channel,
 * lock, join or the like whose waker would have to be another task, and
 * none can run. A transient view is ruled out by an activity epoch (the
 * workers' switch and park counters, the I/O thread's turn counter): the
 * same epoch must be seen by two checks in a row, 100 ms apart. What the
 * check cannot see is a thread outside the runtime that will later send on
 * a channel or spawn a task; programs that do that set
 * WEFT_DEADLOCK_CHECK=0.
 */
#define _GNU_SOURCE
#include "runtime.h"

#include "io/io.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void lock_shards(weft_rt *rt) {
  for (unsigned i = 0; i <= rt->nworkers; i++)
    weft__spin_lock(&rt->shards[i].lock);
}

static void unlock_shards(weft_rt *rt) {
  for (unsigned i = rt->nworkers + 1; i-- > 0;)
    weft__spin_unlock(&rt->shards[i].lock);
}

/* ---- the blocking monitor ---- */


static void warn_blocking(weft_rt *rt, weft__worker *w, uint64_t switches, int64_t ms) {
  weft_task *t;
  lock_shards(rt);
  t = atomic_load_explicit(&w->running, memory_order_relaxed);
  if (t && weft__worker_progress(w) == switches)
    fprintf(stderr,
            "weft: task %" PRIu64 " '%s' has run for %" PRId64
            " ms without yielding, blocking worker %u (WEFT_WARN_BLOCKING_MS=%" PRId64 ")\n",
            t->id, t->name, ms, w->idx, rt->warn_blocking_ms);
  unlock_shards(rt);
}

void weft__monitor_tick(weft_rt *rt) {
  int64_t now = weft__coarse_ms();
  for (unsigned i = 0; i < rt->nworkers; i++) {
    weft__worker *w = &rt->workers[i];
    uint64_t sw = weft__worker_progress(w);
    if (!atomic_load_explicit(&w->running, memory_order_relaxed) || sw != w->mon_switches) {
      w->mon_switches = sw;
      w->mon_since = now;
      w->mon_warned = false;
      continue;
    }
    if (rt->warn_blocking_ms > 0 && !w->mon_warned &&
        now - w->mon_since >= rt->warn_blocking_ms) {
      w->mon_warned = true;
      warn_blocking(rt, w, sw, now - w->mon_since);
    }
  }
}

/* ---- the dump ---- */

static void dump_task(FILE *out, weft_rt *rt, weft_task *t, int64_t now_coarse, int64_t now) {
  int state = atomic_load_explicit(&t->state, memory_order_relaxed);
  unsigned worker = atomic_load_explicit(&t->last_worker, memory_order_relaxed);

  fprintf(out, "  task %" PRIu64 " '%s' ", t->id, t->name);
  switch (state) {
  case TASK_RUNNING:
    for (unsigned i = 0; i < rt->nworkers; i++)
      if (atomic_load_explicit(&rt->workers[i].running, memory_order_relaxed) == t)
        worker = i;
    fprintf(out, "running on worker %u\n", worker);
    break;
  case TASK_READY:
    /* Not t->started: the worker writes that without atomics. */
    fprintf(out, "%s\n", worker != WEFT__NO_WORKER ? "ready to run" : "not started yet");
    break;
  case TASK_PARKED: {
    const char *what = atomic_load_explicit(&t->wait_what, memory_order_relaxed);
    uintptr_t detail = atomic_load_explicit(&t->wait_detail, memory_order_relaxed);
    int64_t since = atomic_load_explicit(&t->wait_since, memory_order_relaxed);
    int64_t deadline = atomic_load_explicit(&t->wait_deadline, memory_order_relaxed);
    fprintf(out, "waiting for %" PRId64 " ms (last on worker %u) on ",
            since > 0 && now_coarse > since ? now_coarse - since : 0, worker);
    /* The note's text is one of weft's own formats, with one argument. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    fprintf(out, what ? what : "an internal wait", (unsigned long)detail);
#pragma GCC diagnostic pop
    if (what && deadline >= 0)
      fprintf(out, ", deadline in %" PRId64 " ms", deadline > now ? deadline - now : 0);
    fputc('\n', out);
    break;
  }
  default:
    fprintf(out, "finished, not joined yet\n");
    break;
  }
}

int weft_rt_dump(weft_rt *rt, FILE *out) {
  int64_t now_coarse = weft__coarse_ms(), now = weft_now();
  long n;
  if (!weft__rt_valid(rt) || !out)
    return WEFT_EINVAL;
  n = atomic_load(&rt->ntasks);
  fprintf(out, "weft: %ld task%s alive, %u worker%s\n", n, n == 1 ? "" : "s", rt->nworkers,
          rt->nworkers == 1 ? "" : "s");
  for (unsigned i = 0; i <= rt->nworkers; i++) {
    struct weft__shard *s = &rt->shards[i];
    weft__spin_lock(&s->lock);
    for (weft_task *t = s->head; t; t = t->reg_next)
      dump_task(out, rt, t, now_coarse, now);
    weft__spin_unlock(&s->lock);
  }
  fflush(out);
  return 0;
}

/* ---- deadlock detection ---- */

bool weft__deadlock_check(weft_rt *rt, struct weft__deadlock_probe *p) {
  uint64_t epoch = 0;
  bool asleep = atomic_load(&rt->ntasks) > 0 && !atomic_load(&rt->closing) &&
                atomic_load(&rt->nidle) == rt->nworkers &&
                atomic_load_explicit(&rt->inj_len, memory_order_relaxed) == 0;
  for (unsigned i = 0; asleep && i < rt->nworkers; i++) {
    weft__worker *w = &rt->workers[i];
    asleep = weft__deque_size(&w->dq) == 0 &&
             atomic_load_explicit(&w->runnext, memory_order_relaxed) == NULL;
    epoch += atomic_load_explicit(&w->n.switches, memory_order_relaxed) +
             atomic_load_explicit(&w->n.parks, memory_order_relaxed);
  }
  if (asleep)
    asleep = weft__io_quiet(rt->io, &epoch) && weft__timers_quiet(rt, &epoch);
  if (!asleep) {
    p->quiet = 0;
    return false;
  }
  if (p->quiet == 0 || epoch != p->epoch) {
    p->epoch = epoch;
    p->quiet = 1;
    return false;
  }
  return true;
}

int weft__wait_or_deadlock(weft_rt *rt, pthread_mutex_t *lock, pthread_cond_t *cv,
                           bool (*done)(void *), void *arg) {
  struct weft__deadlock_probe probe = {0};
  struct timespec ts;
  bool dead = false;

  pthread_mutex_lock(lock);
  while (!done(arg)) {
    if (!rt->deadlock_check) {
      pthread_cond_wait(cv, lock);
      continue;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += 100 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    if (pthread_cond_timedwait(cv, lock, &ts) != ETIMEDOUT)
      continue;
    pthread_mutex_unlock(lock);
    dead = weft__deadlock_check(rt, &probe);
    pthread_mutex_lock(lock);
    if (dead && !done(arg))
      break;
    dead = false;
  }
  pthread_mutex_unlock(lock);
  if (!dead)
    return 0;
  fprintf(stderr, "weft: deadlock: every task is asleep and nothing left can wake one\n");
  weft_rt_dump(rt, stderr);
  return WEFT_EDEADLK;
}
