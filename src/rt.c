/*
 * rt.c - the runtime's lifecycle: configuration, creation, foreign-thread
 * spawning, waiting, shutdown, and weft_main.
 *
 * Shutdown order (weft_rt_free):
 *   1. closing = 1, then cancel every task in the registry (task.c,
 *      "cancel"); tasks spawned from now on start cancelled (weft__spawn
 *      reads closing after registering, so none slips between);
 *   2. wait until ntasks is 0: parked tasks return WEFT_ECANCELED and
 *      unwind, unstarted ones run cancelled and so release what they
 *      hold (a blocking call returns WEFT_ECANCELED at once);
 *   3. stop the I/O thread (no op is pending now: io/loop.c), then the
 *      workers (sched.c), and join their threads;
 *   4. free the caches, deques and stacks (every stack must be back), and
 *      the finished tasks whose handles were never joined or detached.
 */
#define _GNU_SOURCE
#include "runtime.h"

#include "io/io.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 1024
#define DEFAULT_STACK ((size_t)256 * 1024)

const char *weft_version(void) {
  return "0.1.0";
}

/* Parse a decimal count with an optional k/m/g suffix; -1 when malformed. */
static long long env_size(const char *name) {
  const char *s = getenv(name);
  char *end;
  long long v;
  if (!s || !*s)
    return -1;
  int shift = 0;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (end == s || v < 0 || errno == ERANGE)
    return -1;
  switch (*end) {
  case 'k': case 'K': shift = 10; end++; break;
  case 'm': case 'M': shift = 20; end++; break;
  case 'g': case 'G': shift = 30; end++; break;
  default: break;
  }
  if (*end || v > (LLONG_MAX >> shift))
    return -1; /* trailing junk, or the size overflows */
  return v << shift;
}

void weft_config_init(weft_config *cfg) {
  long long v;
  if (!cfg)
    return;
  memset(cfg, 0, sizeof *cfg);
  cfg->stack_size = DEFAULT_STACK;
  if ((v = env_size("WEFT_WORKERS")) > 0 && v <= MAX_WORKERS)
    cfg->workers = (unsigned)v;
  if ((v = env_size("WEFT_STACK_SIZE")) > 0 && (unsigned long long)v <= WEFT_STACK_MAX)
    cfg->stack_size = (size_t)v;
}

/* WEFT_DUMP_SIGNAL: a signal name (SIGUSR1 or USR1) or number; 0 if unset
 * or not understood. Opt-in: without it weft installs no such handler. */
static int dump_signal_number(void) {
  static const struct { const char *name; int num; } names[] = {
      {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"HUP", SIGHUP}, {"QUIT", SIGQUIT},
      {"INT", SIGINT},   {"TERM", SIGTERM}, {"WINCH", SIGWINCH},
  };
  const char *s = getenv("WEFT_DUMP_SIGNAL");
  char *end;
  long n;
  if (!s || !*s)
    return 0;
  if (strncmp(s, "SIG", 3) == 0)
    s += 3;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(s, names[i].name) == 0)
      return names[i].num;
  n = strtol(s, &end, 10);
  return *end == '\0' && n > 0 && n < NSIG && n != SIGKILL && n != SIGSTOP && n != SIGSEGV
             ? (int)n
             : 0;
}

/*
 * The runtime's settings from the environment, read here and nowhere else
 * in the library but WEFT_STACK_GUARD (stack.c: process-wide, read once
 * when the first stack is made): WEFT_WORKERS and WEFT_STACK_SIZE in
 * weft_config_init; WEFT_WARN_BLOCKING_MS, WEFT_DEADLOCK_CHECK and
 * WEFT_DUMP_SIGNAL here, for each runtime.
 */
static void env_config(weft_rt *rt, int *dump_signal) {
  const char *s = getenv("WEFT_WARN_BLOCKING_MS");
  char *end;
  long long v;

  rt->warn_blocking_ms = 500;
  if (s && *s) {
    v = strtoll(s, &end, 10);
    if (*end == '\0' && v >= 0)
      rt->warn_blocking_ms = v;
  }
  s = getenv("WEFT_DEADLOCK_CHECK");
  rt->deadlock_check = !(s && strcmp(s, "0") == 0);
  *dump_signal = dump_signal_number();
}

/* The I/O thread's periodic hook: the scheduler's rescue of tasks queued
 * behind a stuck worker, then the blocking monitor, which only reports. */
static void on_tick(weft_rt *rt) {
  weft__sched_rescue(rt);
  weft__monitor_tick(rt);
}

static void on_dump_signal(weft_rt *rt, int signum) {
  (void)signum;
  weft_rt_dump(rt, stderr);
}

static unsigned online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)(n > MAX_WORKERS ? MAX_WORKERS : n) : 1;
}

static int workers_init(weft_rt *rt) {
  void *mem;
  if (posix_memalign(&mem, WEFT_CACHELINE, rt->nworkers * sizeof(weft__worker)))
    return WEFT_ENOMEM;
  rt->workers = mem;
  memset(mem, 0, rt->nworkers * sizeof(weft__worker));
  rt->shards = calloc(rt->nworkers + 1, sizeof *rt->shards);
  if (!rt->shards)
    return WEFT_ENOMEM;
  for (unsigned i = 0; i <= rt->nworkers; i++)
    weft__spin_init(&rt->shards[i].lock);
  for (unsigned i = 0; i < rt->nworkers; i++) {
    weft__worker *w = &rt->workers[i];
    w->rt = rt;
    w->idx = i;
    w->rng = UINT64_C(0x9E3779B97F4A7C15) * (i + 1);
    if (weft__deque_init(&w->dq, 256))
      return WEFT_ENOMEM;
    w->dq_ready = true;
    atomic_init(&w->runnext, NULL);
  }
  return 0;
}

static void rt_destroy(weft_rt *rt) {
  if (rt->workers) {
    for (unsigned i = 0; i < rt->nworkers; i++) {
      weft__worker *w = &rt->workers[i];
      weft__stack_cache_drain(&w->stacks);
      weft__task_cache_drain(w);
      if (w->dq_ready)
        weft__deque_destroy(&w->dq);
    }
    free(rt->workers);
  }
  if (rt->shards) {
    weft__task_free_unjoined(rt);
    free(rt->shards);
  }
  if (rt->stacks.dflt)
    weft__stacks_destroy(&rt->stacks);
  pthread_mutex_destroy(&rt->inj_lock);
  pthread_mutex_destroy(&rt->idle_lock);
  pthread_mutex_destroy(&rt->wait_lock);
  pthread_cond_destroy(&rt->wait_cv);
  rt->magic = 0;
  free(rt);
}

/* Stop and join the first n workers' threads. */
static void workers_join(weft_rt *rt, unsigned n) {
  weft__sched_stop(rt);
  for (unsigned i = 0; i < n; i++)
    pthread_join(rt->workers[i].thread, NULL);
}

weft_rt *weft__runtimes;
pthread_mutex_t weft__runtimes_lock = PTHREAD_MUTEX_INITIALIZER;

static void debug_list_add(weft_rt *rt) {
  pthread_mutex_lock(&weft__runtimes_lock);
  rt->dbg_next = weft__runtimes;
  weft__runtimes = rt;
  pthread_mutex_unlock(&weft__runtimes_lock);
}

static void debug_list_remove(weft_rt *rt) {
  pthread_mutex_lock(&weft__runtimes_lock);
  for (weft_rt **p = &weft__runtimes; *p; p = &(*p)->dbg_next) {
    if (*p == rt) {
      *p = rt->dbg_next;
      break;
    }
  }
  pthread_mutex_unlock(&weft__runtimes_lock);
}

/* A condition variable whose timed waits use CLOCK_MONOTONIC (monitor.c). */
static void monotonic_cond_init(pthread_cond_t *cv) {
  pthread_condattr_t a;
  pthread_condattr_init(&a);
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  pthread_cond_init(cv, &a);
  pthread_condattr_destroy(&a);
}

/* ---- what the layers above the task hang on its life (runtime.h) ---- */

static void task_fn_returned(weft_task *t) {
  if (t->scopes)
    weft__scopes_free_all(t);
  if (t->gens)
    weft__gen_free_all(t);
}

static int task_done_new(weft_chan **out) {
  return weft_chan_new(out, 0, 0);
}

static void task_done_close(weft_chan *c) {
  weft_chan_close(c);
}

static void task_done_free(weft_chan *c) {
  weft_chan_free(c);
}

static const weft__task_hooks task_hooks = {
    .cancel_scopes = weft__scopes_cancel,
    .fn_returned = task_fn_returned,
    .done_new = task_done_new,
    .done_close = task_done_close,
    .done_free = task_done_free,
};

/* The fields a new runtime starts with, before its configuration. */
static void rt_init_fields(weft_rt *rt) {
  pthread_mutex_init(&rt->inj_lock, NULL);
  pthread_mutex_init(&rt->idle_lock, NULL);
  pthread_mutex_init(&rt->wait_lock, NULL);
  monotonic_cond_init(&rt->wait_cv);
  atomic_init(&rt->next_id, 1);
  weft__timers_init(&rt->timers);
  rt->task_hooks = &task_hooks;
}

int weft_rt_new(weft_rt **out, const weft_config *cfg) {
  weft_config dflt;
  weft_rt *rt;
  int rc;
  unsigned started = 0;
  weft__io_hooks hooks = {.tick = on_tick, .tick_ms = WEFT__TICK_MS, .on_signal = on_dump_signal};

  if (!out)
    return WEFT_EINVAL;
  *out = NULL;
  if (weft_self())
    return WEFT_EPERM;
  if (!cfg) {
    weft_config_init(&dflt);
    cfg = &dflt;
  }
  if (cfg->workers > MAX_WORKERS)
    return WEFT_EINVAL;
  rt = calloc(1, sizeof *rt);
  if (!rt)
    return WEFT_ENOMEM;
  rt_init_fields(rt);
  env_config(rt, &hooks.signum);
  rt->nworkers = cfg->workers ? cfg->workers : online_cpus();
  rt->oversubscribed = rt->nworkers > online_cpus();
  rt->stack_size = weft__stack_round(cfg->stack_size, DEFAULT_STACK);
  if (!rt->stack_size) {
    rc = WEFT_EINVAL;
    goto out_destroy;
  }
  if ((rc = weft__stacks_init(&rt->stacks, rt->stack_size)) || (rc = workers_init(rt)) ||
      (rc = weft__io_open(rt, &hooks, &rt->io)))
    goto out_destroy;
  weft__overflow_install();
  for (; started < rt->nworkers; started++) {
    rc = -pthread_create(&rt->workers[started].thread, NULL, weft__worker_main,
                         &rt->workers[started]);
    if (rc)
      goto out_join;
  }
  rt->magic = WEFT_RT_MAGIC;
  debug_list_add(rt);
  *out = rt;
  return 0;

out_join:
  workers_join(rt, started);
out_destroy:
  if (rt->io) {
    weft__io_stop(rt->io);
    weft__io_free(rt->io);
  }
  rt_destroy(rt);
  return rc;
}

int weft_rt_spawn(weft_rt *rt, weft_task **out, void *(*fn)(void *), void *arg) {
  return weft_rt_spawn_ex(rt, out, NULL, fn, arg);
}

int weft_rt_spawn_ex(weft_rt *rt, weft_task **out, const weft_spawn_attr *attr,
                     void *(*fn)(void *), void *arg) {
  weft__worker *w = weft__worker_current();
  if (!weft__rt_valid(rt) || !fn)
    return WEFT_EINVAL;
  if (!out && attr && !attr->detached)
    return WEFT_EINVAL;
  return weft__spawn(rt, w && w->rt == rt ? w : NULL, out, attr, fn, arg);
}

static bool no_tasks(void *arg) {
  weft_rt *rt = arg;
  return atomic_load(&rt->ntasks) == 0;
}

int weft_rt_wait(weft_rt *rt) {
  if (!weft__rt_valid(rt))
    return WEFT_EINVAL;
  if (weft_self())
    return WEFT_EPERM;
  return weft__wait_or_deadlock(rt, &rt->wait_lock, &rt->wait_cv, no_tasks, rt);
}

/* Wait for every task after weft__task_cancel_all: no deadlock check, the
 * cancelled tasks are on their way out. */
static void rt_wait_all(weft_rt *rt) {
  pthread_mutex_lock(&rt->wait_lock);
  while (atomic_load(&rt->ntasks) > 0)
    pthread_cond_wait(&rt->wait_cv, &rt->wait_lock);
  pthread_mutex_unlock(&rt->wait_lock);
}

int weft_rt_free(weft_rt *rt) {
  if (!weft__rt_valid(rt))
    return WEFT_EINVAL;
  if (weft_self())
    return WEFT_EPERM;
  debug_list_remove(rt);
  atomic_store(&rt->closing, true);
  weft__task_cancel_all(rt);
  rt_wait_all(rt);
  weft__io_stop(rt->io);
  workers_join(rt, rt->nworkers);
  weft__io_free(rt->io); /* idle workers read it until they are joined */
  rt_destroy(rt);
  return 0;
}

/* weft_main's main task and how the calling thread learns it finished. */
struct main_call {
  int (*fn)(void *);
  void *arg;
  int result;
  bool done;
  pthread_mutex_t lock;
  pthread_cond_t cv;
};

static bool main_done(void *arg) {
  return ((struct main_call *)arg)->done;
}

static void *main_task(void *arg) {
  struct main_call *m = arg;
  int r = m->fn(m->arg);
  pthread_mutex_lock(&m->lock);
  m->result = r;
  m->done = true;
  pthread_cond_signal(&m->cv);
  pthread_mutex_unlock(&m->lock);
  return NULL;
}

int weft_main(const weft_config *cfg, int (*fn)(void *), void *arg) {
  struct main_call m = {.fn = fn, .arg = arg};
  weft_spawn_attr attr;
  weft_rt *rt;
  int rc;

  if (!fn)
    return WEFT_EINVAL;
  if ((rc = weft_rt_new(&rt, cfg)))
    return rc;
  pthread_mutex_init(&m.lock, NULL);
  monotonic_cond_init(&m.cv);
  weft_spawn_attr_init(&attr);
  attr.name = "main";
  attr.detached = 1;
  rc = weft_rt_spawn_ex(rt, NULL, &attr, main_task, &m);
  if (rc == 0) {
    /* On a deadlock weft_rt_free below cancels the main task, which
     * unwinds; its result is dropped for WEFT_EDEADLK. */
    rc = weft__wait_or_deadlock(rt, &m.lock, &m.cv, main_done, &m);
    if (rc == 0)
      rc = m.result;
  }
  weft_rt_free(rt);
  pthread_cond_destroy(&m.cv);
  pthread_mutex_destroy(&m.lock);
  return rc;
}
