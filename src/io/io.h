/*
 * io.h - the I/O thread as the rest of weft sees it: start and stop it,
 * and the "io op" protocol by which a task waits for something the I/O
 * thread watches. No libuv type appears here; only files under src/io/
 * include uv.h.
 */
#ifndef WEFT_IO_H
#define WEFT_IO_H

#include "runtime.h"

typedef struct weft__io weft__io;

/* A message to the I/O thread: run(m) is called there, in the order the
 * messages were sent. */
typedef struct weft__io_msg {
  struct weft__io_msg *next; /* inbox link; the sender's until it is sent */
  void (*run)(struct weft__io_msg *m);
} weft__io_msg;

/*
 * An io op: one blocking wait of one task on the I/O thread (a poll, a
 * resolver, file or process request...). Protocol "io op" (op.c). Each
 * kind of op is a const table; the op is its struct's first member, made
 * by weft__io_op_new and freed when its last reference goes.
 */
typedef struct weft__io_op weft__io_op;
typedef struct weft__io_op_kind {
  size_t size;                      /* of the struct that starts with the op */
  void (*start)(weft__io_op *op);   /* I/O thread: begin the libuv work */
  /* I/O thread: stop it, for cancellation (WEFT_ECANCELED) or the
   * deadline (WEFT_ETIMEDOUT); it must still end in weft__io_finish,
   * with result unless it finished otherwise meanwhile. Called at most
   * once for each reason, and not after the op finished. */
  void (*cancel)(weft__io_op *op, int result);
  void (*destroy)(weft__io_op *op); /* any thread, last reference gone,
                                     * before the free; NULL: nothing */
} weft__io_op_kind;

struct weft__io_op {
  weft__io_msg start_msg;  /* sent when the task has parked */
  weft__io_msg cancel_msg; /* sent at most once, by a canceller */
  const weft__io_op_kind *kind; /* immutable */
  weft__io *io;            /* immutable */
  weft_task *task;         /* the waiting task; immutable */
  weft__timer deadline;    /* when < 0: none; on the heap from start to finish */
  atomic_int refs;         /* the task's, the I/O thread's, a cancel message's */
  atomic_bool cancel_sent; /* cancel_msg was sent */
  bool finished;           /* I/O thread only: the task was woken */
  bool cancellable;        /* immutable: false for waits that must run to their end */
};

/* What the runtime hangs on the I/O thread (rt.c), called there: a
 * periodic hook, and one for a signal; and what the I/O layer's own parts
 * hang on it (io.c): a periodic hook run before the runtime's, and one run
 * first when it stops. The I/O thread knows nothing of what they do. */
typedef struct weft__io_hooks {
  void (*tick)(weft_rt *rt); /* every tick_ms; NULL: none */
  unsigned tick_ms;
  void (*on_signal)(weft_rt *rt, int signum); /* when signum arrives */
  int signum;                                 /* 0: none */
  void (*io_tick)(weft__io *io);              /* before tick; NULL: none */
  void (*io_stop)(weft__io *io);              /* first at stop; NULL: none */
  void (*io_alarm)(weft__io *io); /* the alarm rang or was kicked; NULL: none */
} weft__io_hooks;

/* The I/O layer put together (io.c): the I/O thread with the sockets'
 * set, the fd watches and the timers hung on it, and the runtime's hooks
 * into them (rt->idle_poll, idle_block, idle_kick, timers.kick) set.
 * Before the workers start. */
int weft__io_open(weft_rt *rt, const weft__io_hooks *hooks, weft__io **out);
/* The host alone (loop.c): the thread, its loop and the hooks. */
int weft__io_start(weft_rt *rt, const weft__io_hooks *hooks, weft__io **out);
/* Stop the thread once no op is pending; every handle is closed and the
 * loop closes cleanly. Foreign thread (weft_rt_free). */
void weft__io_stop(weft__io *io);
/* Free it, once the workers are joined (they may read it until then). */
void weft__io_free(weft__io *io);

/* The calling task's runtime's I/O thread, or NULL outside a task. */
weft__io *weft__io_current(void);

/* Send m to the I/O thread. Any thread. */
void weft__io_send(weft__io *io, weft__io_msg *m);

/* The host's alarm, for hooks.io_alarm (the timers' host, timer.c): ring
 * at deadline (weft_now()'s clock; INT64_MAX: never), I/O thread only;
 * and run the hook soon on the I/O thread, any thread (kicks not yet
 * taken are one). */
void weft__io_alarm_at(weft__io *io, int64_t deadline);
void weft__io_alarm_kick(weft__io *io);

/* A zeroed op of kind, holding no reference yet, or NULL. Any thread. The
 * kind's struct must start with its op: WEFT__IO_OP_FIRST checks it. */
#define WEFT__IO_OP_FIRST(type) _Static_assert(offsetof(type, op) == 0, #type ": the op comes first")
weft__io_op *weft__io_op_new(const weft__io_op_kind *kind);
/* The same with extra bytes after the kind's struct (a flexible array). */
weft__io_op *weft__io_op_new_extra(const weft__io_op_kind *kind, size_t extra);
/* Park the calling task until the I/O thread finishes op (the caller has
 * filled its own fields) or deadline passes (weft_now() ms, -1: none; the
 * op is then cancelled with WEFT_ETIMEDOUT). Returns the result given to
 * weft__io_finish, or WEFT_ECANCELED (only when cancellable: a wait that
 * is not, such as a close, ignores cancellation). The caller still holds
 * its reference: read the op's results, then weft__io_op_unref. Task only. */
int weft__io_wait(weft__io_op *op, int64_t deadline, bool cancellable);
/* I/O thread: wake op's task with result, once; later calls do nothing. */
void weft__io_finish(weft__io_op *op, int result);
void weft__io_op_unref(weft__io_op *op);

/* The I/O thread's count of tasks' waits it holds (deadlock detection):
 * add delta. I/O thread only. */
void weft__io_waits_add(weft__io *io, int delta);
/* True when the I/O thread holds no wait and has no message queued; adds
 * its activity counter to *epoch. Any thread (a snapshot). */
bool weft__io_quiet(weft__io *io, uint64_t *epoch);
/* Open libuv handles besides the I/O thread's own. Any thread; asks the
 * I/O thread and waits for its answer. */
uint64_t weft__io_handles(weft__io *io);

/* weft_signal_wait's table (signal.c), freed with the I/O thread. I/O
 * thread only. */
struct weft__sigs;
struct weft__sigs **weft__io_sigs(weft__io *io);
/* A hook the I/O thread runs once when it stops, before it closes its
 * handles: signal.c sets it with its table, to give the signals the
 * program still holds their dispositions back. One slot. I/O thread. */
void weft__io_at_stop(weft__io *io, void (*fn)(weft__io *io));

/* A worker about to go idle reads one batch of the sockets' readiness
 * events if tasks wait there and no other thread is reading them
 * (netpoll.c); the tasks it wakes are readied on this worker. Returns how
 * many events it read, or -1 when no task waits there. Worker only. */
int weft__netpoll_poll(weft__io *io);
/* An idle worker blocks until the epoll set has events or the kick is
 * written, or ms milliseconds pass (-1: no limit); then drains the kick
 * and reads a batch of the set's events, as weft__netpoll_poll does but
 * whether or not tasks wait there (netpoll.c). Returns how many events it
 * read, or -1 when the time ran out. Worker only. */
int weft__netpoll_block(weft__io *io, int ms);
/* Wake the worker blocked in weft__netpoll_block, or the next one to
 * block. Any thread. */
void weft__netpoll_kick(weft__io *io);

/* The timers' host (timer.c): hooks.io_alarm, and rt->timers.kick. */
void weft__io_timers_alarm(weft__io *io);
void weft__io_timers_kick(weft__io *io);

/* libuv's error codes as WEFT_E* codes; errno codes pass through
 * (uverr.c). Any thread. */
int weft__uv_error(int uv_code);

/* The runtime the I/O thread serves. Any thread. */
weft_rt *weft__io_rt(weft__io *io);

/* The libuv loop; I/O thread only (returned as void * to keep uv.h out). */
void *weft__io_loop(weft__io *io);

#endif /* WEFT_IO_H */
