/*
 * loop.c - the I/O thread: one per runtime, owning a libuv loop.
 * docs/design.md: section 3.2 (what it owns), 5.13 (the inbox), 5.14
 * ("io op"), 7 (what one thread for all I/O wakeups costs).
 *
 * Concepts
 * --------
 * weft_rt_new starts exactly one I/O thread, which runs uv_run on a loop
 * nobody else touches: no libuv function is called on that loop from any
 * other thread except uv_async_send, libuv's one thread-safe call. Workers
 * (and cancellers on any thread) talk to it with messages:
 *
 *   sender                                 I/O thread
 *   1. push the message on the inbox,      3. the async callback takes the
 *      a lock-free stack (CAS on the          whole inbox with one exchange,
 *      head; release)                         reverses it into sending order
 *   2. uv_async_send (libuv coalesces        (acquire) and runs each message
 *      wakeups; a send during step 3          in turn
 *      triggers another callback)
 *
 * Taking everything in one exchange means no ABA problem (nothing is popped
 * one by one) and one wakeup serves a whole batch, which is where the speed
 * comes from. libuv clears its pending flag before it calls the async
 * callback, so a message pushed after step 3's exchange is followed by a
 * fresh uv_async_send that runs the callback again: none is left behind.
 *
 * Protocol "io op", by which a task waits on the I/O thread, is in op.c.
 *
 * Shutdown: weft_rt_free has cancelled every task and waited for all of
 * them, so no op is pending. The stop message closes the async handle and
 * any handle left (uv_walk); uv_run then returns, and uv_loop_close must
 * return 0.
 */
#define _GNU_SOURCE
#include "io/io.h"
#include "io/sock.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <uv.h>

struct weft__io {
  uv_loop_t loop;           /* I/O thread only */
  uv_async_t async;         /* uv_async_send from any thread */
  _Atomic(weft__io_msg *) inbox; /* lock-free stack; any thread pushes */
  pthread_t thread;
  weft_rt *rt;              /* immutable */
  weft__io_msg stop_msg;
  struct weft__watch *watches; /* every fd watch (poll.c); I/O thread only */
  struct weft__sigs *sigs;  /* weft_signal_wait's table (signal.c); I/O thread only */
  void (*at_stop)(weft__io *io); /* weft__io_at_stop; I/O thread only */
  /* For deadlock detection (monitor.c): written by the I/O thread only,
   * read by anyone (relaxed). */
  atomic_uint_fast64_t waits; /* tasks' waits it holds: ops started and not
                               * finished */
  atomic_uint_fast64_t turns; /* inbox drains: it did something */
  /* Protocol "netpoll" (netpoll.c): the epoll set of sockets' untimed
   * waits, read by the workers (and by the tick, as a backstop); the
   * waiting set an idle worker blocks on (the set and the kick); and the
   * tasks waiting in the set. */
  int epfd;                 /* immutable */
  int waitfd;               /* epoll of {epfd, kickfd}, level-triggered; immutable */
  int kickfd;               /* eventfd: wakes the worker blocked on waitfd; immutable */
  atomic_int_fast64_t netwaits; /* any thread (relaxed RMW) */
  atomic_int_fast64_t netsocks; /* sockets in the set and not yet freed (weft_rt_stats) */
  weft__spinlock np_lock;   /* whoever reads a batch of the set's events */
  weft__io_hooks hooks;     /* immutable */
  uv_timer_t tick;          /* hooks.tick's timer (when set) */
  uv_timer_t alarm;         /* hooks.io_alarm's timer (when set) */
  weft__io_msg alarm_msg;   /* weft__io_alarm_kick's message */
  atomic_bool alarm_kicked; /* alarm_msg is sent and not yet taken */
  uv_signal_t hook_signal;  /* hooks.signum's watcher (when set) */
};

/* ---- the I/O thread's own counters (see struct weft__io) ---- */

void weft__io_waits_add(weft__io *io, int delta) {
  atomic_store_explicit(&io->waits,
                        atomic_load_explicit(&io->waits, memory_order_relaxed) + (uint64_t)delta,
                        memory_order_relaxed);
}

void weft__io_netwaits_add(weft__io *io, int delta) {
  atomic_fetch_add_explicit(&io->netwaits, delta, memory_order_relaxed);
}

void weft__io_netsocks_add(weft__io *io, int delta) {
  atomic_fetch_add_explicit(&io->netsocks, delta, memory_order_relaxed);
}

weft__spinlock *weft__io_np_lock(weft__io *io) {
  return &io->np_lock;
}

long weft__io_netwaits(weft__io *io) {
  return (long)atomic_load_explicit(&io->netwaits, memory_order_relaxed);
}

int weft__io_epfd(weft__io *io) {
  return io->epfd;
}

int weft__io_waitfd(weft__io *io) {
  return io->waitfd;
}

int weft__io_kickfd(weft__io *io) {
  return io->kickfd;
}

bool weft__io_quiet(weft__io *io, uint64_t *epoch) {
  *epoch += atomic_load_explicit(&io->turns, memory_order_relaxed);
  return atomic_load_explicit(&io->waits, memory_order_relaxed) == 0 &&
         atomic_load_explicit(&io->netwaits, memory_order_relaxed) == 0 &&
         atomic_load_explicit(&io->inbox, memory_order_relaxed) == NULL;
}

/* A handle count for weft_rt_stats: asked of the I/O thread by message,
 * since only it may walk the loop. The asker waits on a condition
 * variable (it may be a worker: the I/O thread never waits for workers,
 * so the wait is short and cannot deadlock). */
struct handles_msg {
  weft__io_msg msg;
  weft__io *io;
  pthread_mutex_t lock;
  pthread_cond_t cv;
  bool done;
  uint64_t count;
};

static void count_handle(uv_handle_t *h, void *arg) {
  struct handles_msg *q = arg;
  weft__io *io = q->io;
  if (!uv_is_closing(h) && h != (uv_handle_t *)&io->async && h != (uv_handle_t *)&io->tick &&
      h != (uv_handle_t *)&io->alarm && h != (uv_handle_t *)&io->hook_signal)
    q->count++;
}

static void handles_run(weft__io_msg *m) {
  struct handles_msg *q = container_of(m, struct handles_msg, msg);
  uv_walk(&q->io->loop, count_handle, q);
  pthread_mutex_lock(&q->lock);
  q->done = true;
  pthread_cond_signal(&q->cv);
  pthread_mutex_unlock(&q->lock);
}

uint64_t weft__io_handles(weft__io *io) {
  struct handles_msg q = {.msg.run = handles_run, .io = io};
  /* A socket in the netpoll set counts as the watch it replaces. Its
   * free message (netpoll.c) reaches the I/O thread before this one when
   * the socket was closed first. */
  if (pthread_equal(pthread_self(), io->thread)) {
    uv_walk(&io->loop, count_handle, &q);
    return q.count + (uint64_t)atomic_load(&io->netsocks);
  }
  pthread_mutex_init(&q.lock, NULL);
  pthread_cond_init(&q.cv, NULL);
  weft__io_send(io, &q.msg);
  pthread_mutex_lock(&q.lock);
  while (!q.done)
    pthread_cond_wait(&q.cv, &q.lock);
  pthread_mutex_unlock(&q.lock);
  pthread_cond_destroy(&q.cv);
  pthread_mutex_destroy(&q.lock);
  return q.count + (uint64_t)atomic_load(&io->netsocks);
}

struct weft__watch **weft__io_watches(weft__io *io) {
  return &io->watches;
}

static void drain(uv_async_t *a) {
  weft__io *io = a->data;
  weft__io_msg *m, *next, *fifo = NULL;

  /* Acquire: pairs with the release CAS in weft__io_send. */
  m = atomic_exchange_explicit(&io->inbox, NULL, memory_order_acquire);
  atomic_store_explicit(&io->turns, atomic_load_explicit(&io->turns, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  for (; m; m = next) { /* newest first: reverse into sending order */
    next = m->next;
    m->next = fifo;
    fifo = m;
  }
  for (m = fifo; m; m = next) {
    next = m->next; /* run() may free m */
    m->run(m);
  }
}

void weft__io_send(weft__io *io, weft__io_msg *m) {
  weft__io_msg *head = atomic_load_explicit(&io->inbox, memory_order_relaxed);
  do
    m->next = head;
  while (!atomic_compare_exchange_weak_explicit(&io->inbox, &head, m, memory_order_release,
                                                memory_order_relaxed));
  uv_async_send(&io->async);
}

static void close_any(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void stop(weft__io_msg *m) {
  weft__io *io = container_of(m, weft__io, stop_msg);
  if (io->hooks.io_stop)
    io->hooks.io_stop(io); /* io.c: the watches of sockets never closed */
  if (io->at_stop)
    io->at_stop(io); /* signal.c: the signals it still holds */
  uv_walk(&io->loop, close_any, NULL);
}

static void *io_main(void *arg) {
  weft__io *io = arg;
  uv_run(&io->loop, UV_RUN_DEFAULT);
  /* A busy result means a handle outlived shutdown: a leak, so a bug. */
  WEFT_CHECK(uv_loop_close(&io->loop) == 0);
  return NULL;
}

static void tick_cb(uv_timer_t *tm) {
  weft__io *io = tm->data;
  if (io->hooks.io_tick)
    io->hooks.io_tick(io); /* io.c: the netpoll backstop */
  if (io->hooks.tick)
    io->hooks.tick(io->rt);
}

/* The waiting set: the epoll set and the kick, both level-triggered, so
 * that a worker blocked on it wakes while either has something. Returns 0
 * or -errno. */
static int waitfd_open(weft__io *io) {
  struct epoll_event set = {.events = EPOLLIN, .data.u32 = 0};
  struct epoll_event kick = {.events = EPOLLIN, .data.u32 = 1};
  int rc = 0;
  io->kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  io->waitfd = epoll_create1(EPOLL_CLOEXEC);
  if (io->kickfd < 0 || io->waitfd < 0 || epoll_ctl(io->waitfd, EPOLL_CTL_ADD, io->epfd, &set) < 0 ||
      epoll_ctl(io->waitfd, EPOLL_CTL_ADD, io->kickfd, &kick) < 0) {
    rc = -errno;
    if (io->kickfd >= 0)
      close(io->kickfd);
    if (io->waitfd >= 0)
      close(io->waitfd);
  }
  return rc;
}

static void alarm_cb(uv_timer_t *tm) {
  weft__io *io = tm->data;
  io->hooks.io_alarm(io);
}

/* The kick's acq_rel exchanges: a kick absorbed into one not yet taken
 * happens before the take (an RMW reads the last write before it), so
 * the hook sees what the kicker did before kicking. */
static void alarm_take(weft__io_msg *m) {
  weft__io *io = container_of(m, weft__io, alarm_msg);
  atomic_exchange_explicit(&io->alarm_kicked, false, memory_order_acq_rel);
  io->hooks.io_alarm(io);
}

void weft__io_alarm_kick(weft__io *io) {
  if (!atomic_exchange_explicit(&io->alarm_kicked, true, memory_order_acq_rel))
    weft__io_send(io, &io->alarm_msg);
}

/* Milliseconds from now to deadline on the loop's clock, at least 0. */
static uint64_t loop_timeout(weft__io *io, int64_t deadline) {
  int64_t now;
  uv_update_time(&io->loop);
  now = (int64_t)uv_now(&io->loop);
  return deadline > now ? (uint64_t)(deadline - now) : 0;
}

void weft__io_alarm_at(weft__io *io, int64_t when) {
  if (when == INT64_MAX)
    uv_timer_stop(&io->alarm);
  else
    uv_timer_start(&io->alarm, alarm_cb, loop_timeout(io, when), 0);
}

static void signal_cb(uv_signal_t *h, int signum) {
  weft__io *io = h->data;
  io->hooks.on_signal(io->rt, signum);
}

/* The hooks' handles: the tick's and the alarm's timers and the signal's
 * watcher. Before the thread starts: nobody else touches the loop yet. */
static void hooks_init(weft__io *io, const weft__io_hooks *hooks) {
  if ((hooks->tick || hooks->io_tick) && hooks->tick_ms > 0) {
    uv_timer_init(&io->loop, &io->tick);
    io->tick.data = io;
    uv_timer_start(&io->tick, tick_cb, hooks->tick_ms, hooks->tick_ms);
  }
  if (hooks->io_alarm) {
    uv_timer_init(&io->loop, &io->alarm);
    io->alarm.data = io;
    io->alarm_msg.run = alarm_take;
  }
  if (hooks->on_signal && hooks->signum > 0 && uv_signal_init(&io->loop, &io->hook_signal) == 0) {
    io->hook_signal.data = io;
    if (uv_signal_start(&io->hook_signal, signal_cb, hooks->signum) != 0)
      uv_close((uv_handle_t *)&io->hook_signal, NULL);
  }
}

int weft__io_start(weft_rt *rt, const weft__io_hooks *hooks, weft__io **out) {
  weft__io *io = calloc(1, sizeof *io);
  int rc;

  if (!io)
    return WEFT_ENOMEM;
  io->rt = rt;
  io->hooks = *hooks;
  io->stop_msg.run = stop;
  weft__spin_init(&io->np_lock);
  if ((rc = uv_loop_init(&io->loop)))
    goto out_free;
  if ((rc = uv_async_init(&io->loop, &io->async, drain)))
    goto out_loop;
  io->async.data = io;
  if ((io->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 || (rc = waitfd_open(io)) < 0) {
    rc = io->epfd < 0 ? -errno : rc;
    if (io->epfd >= 0)
      close(io->epfd);
    uv_close((uv_handle_t *)&io->async, NULL);
    uv_run(&io->loop, UV_RUN_NOWAIT);
    goto out_loop;
  }
  hooks_init(io, hooks);
  if ((rc = -pthread_create(&io->thread, NULL, io_main, io)))
    goto out_async;
  *out = io;
  return 0;

out_async:
  uv_walk(&io->loop, close_any, NULL);
  uv_run(&io->loop, UV_RUN_NOWAIT);
  close(io->epfd);
  close(io->waitfd);
  close(io->kickfd);
out_loop:
  uv_loop_close(&io->loop);
out_free:
  free(io);
  return rc;
}

void weft__io_stop(weft__io *io) {
  weft__io_send(io, &io->stop_msg);
  pthread_join(io->thread, NULL);
  free(io->sigs);
}

/* After weft__io_stop and after the workers are joined: until then a
 * worker going idle may still read the set, block on the waiting set or
 * read netwaits (rt->idle_poll, idle_block). */
void weft__io_free(weft__io *io) {
  close(io->epfd);
  close(io->waitfd);
  close(io->kickfd);
  free(io);
}

void weft__io_at_stop(weft__io *io, void (*fn)(weft__io *io)) {
  io->at_stop = fn;
}

struct weft__sigs **weft__io_sigs(weft__io *io) {
  return &io->sigs;
}

weft_rt *weft__io_rt(weft__io *io) {
  return io->rt;
}

void *weft__io_loop(weft__io *io) {
  return &io->loop;
}
