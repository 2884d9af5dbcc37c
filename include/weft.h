/*
 * weft.h - the public interface of libweft.
 *
 * weft runs many stackful tasks on N worker threads. Each worker owns a
 * deque of ready tasks and steals from the others when it runs dry. A task
 * is plain sequential C: when it blocks (joins another task, later sleeps or
 * waits on a socket) the runtime parks it and runs others on that worker.
 *
 * Conventions (weft(7) describes them at more length):
 *  - Every function returns 0 (or a count) on success and a negative
 *    WEFT_E* code on failure; the codes equal -errno where one exists.
 *    weft_strerror() names them. No function aborts on bad input.
 *  - Blocking calls are legal only inside a task; elsewhere they return
 *    WEFT_EPERM. A blocking call parks the task, never the worker thread.
 *  - weft never sets errno and installs no signal handler except the stack
 *    overflow handler (SIGSEGV, chaining to any previous one), plus those
 *    that the program asks for: libuv's SIGCHLD handler once
 *    weft_proc_spawn is used, WEFT_DUMP_SIGNAL's when that is set, and
 *    libuv's handler for a signal while a task waits for it in
 *    weft_signal_wait.
 */
#ifndef WEFT_H
#define WEFT_H

#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(WEFT_BUILDING) && defined(__GNUC__)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0

/* The library's version as "MAJOR.MINOR.PATCH". Any thread. */
WEFT_API const char *weft_version(void);

/* ------------------------------------------------------------------ */
/* Error codes: negative, -errno where one exists.                    */

#define WEFT_EPERM (-EPERM)         /* not allowed from this context */
#define WEFT_ENOENT (-ENOENT)       /* no such file or entry */
#define WEFT_EBADF (-EBADF)         /* bad or closed descriptor */
#define WEFT_EAGAIN (-EAGAIN)       /* would block */
#define WEFT_ENOMEM (-ENOMEM)       /* out of memory or address space */
#define WEFT_EBUSY (-EBUSY)         /* object in use */
#define WEFT_EINVAL (-EINVAL)       /* invalid argument */
#define WEFT_EMFILE (-EMFILE)       /* too many open files */
#define WEFT_ENFILE (-ENFILE)       /* too many open files in the system */
#define WEFT_EPIPE (-EPIPE)         /* closed channel or pipe */
#define WEFT_EDEADLK (-EDEADLK)     /* would wait forever */
#define WEFT_ETIMEDOUT (-ETIMEDOUT) /* deadline passed */
#define WEFT_ECANCELED (-ECANCELED) /* the task was cancelled */
#define WEFT_ECONNREFUSED (-ECONNREFUSED)
#define WEFT_ECONNRESET (-ECONNRESET)
#define WEFT_EDONE (-4095)          /* a generator has returned */
#define WEFT_ESRCH (-ESRCH)         /* no such process (it has exited) */
#define WEFT_EAI_NONAME (-3008)     /* host name unknown to the resolver */
#define WEFT_EAI_AGAIN (-3001)      /* resolver: temporary failure, try again */
#define WEFT_EAI_FAIL (-3002)       /* resolver: permanent failure */

/* A static string naming err (a WEFT_E* code or any -errno). Any thread. */
WEFT_API const char *weft_strerror(int err);

/* ------------------------------------------------------------------ */
/* Runtime                                                             */

typedef struct weft_rt weft_rt;
typedef struct weft_task weft_task;

typedef struct weft_config {
  /* Worker threads. 0 means one per online CPU. At most 1024. */
  unsigned workers;
  /* Default task stack size in bytes (address space; pages are committed
   * on first touch). Rounded up to whole pages and to at least
   * WEFT_STACK_MIN; at most WEFT_STACK_MAX. 0 means 256 KiB. */
  size_t stack_size;
} weft_config;

#define WEFT_STACK_MIN ((size_t)16 * 1024)
#define WEFT_STACK_MAX ((size_t)1024 * 1024 * 1024)

/*
 * Fill cfg with the defaults, then apply the environment:
 * WEFT_WORKERS (worker count) and WEFT_STACK_SIZE (bytes, or with a k/m
 * suffix). Malformed environment values are ignored. Any thread.
 *
 * weft_rt_new also reads, from the environment:
 *   WEFT_WARN_BLOCKING_MS  warn on stderr, naming the task, when a task has
 *                          run this long without yielding (it blocks its
 *                          worker); default 500, 0 turns it off
 *   WEFT_DEADLOCK_CHECK    0 turns deadlock detection off (weft_rt_wait)
 *   WEFT_DUMP_SIGNAL       a signal that prints weft_rt_dump to stderr
 */
WEFT_API void weft_config_init(weft_config *cfg);

/*
 * Create a runtime and start its worker threads. cfg may be NULL for
 * weft_config_init()'s values. Returns 0 and sets *out, WEFT_EINVAL for a
 * NULL out or an out-of-range field, WEFT_ENOMEM, or -errno when a thread
 * cannot be started. Does not block. Any thread except a task's.
 */
WEFT_API int weft_rt_new(weft_rt **out, const weft_config *cfg);

/*
 * Spawn a task running fn(arg) in rt. When out is NULL the task is
 * detached; otherwise *out is a handle to pass to weft_join or
 * weft_detach exactly once. Returns 0, WEFT_EINVAL (NULL rt or fn),
 * WEFT_ENOMEM. Does not block. Any thread, including foreign ones.
 */
WEFT_API int weft_rt_spawn(weft_rt *rt, weft_task **out, void *(*fn)(void *), void *arg);

/*
 * Block the calling (non-task) thread until rt has no task left. Returns
 * 0, WEFT_EINVAL for NULL, WEFT_EPERM from inside a task of any runtime,
 * or WEFT_EDEADLK when the runtime deadlocks: tasks remain, every one is
 * parked, and nothing the runtime watches (a running task, a timer, a
 * deadline, I/O) can wake any of them, as when two tasks each receive from
 * a channel only the other would send on. It then prints "weft: deadlock"
 * and weft_rt_dump's listing to stderr; the tasks stay parked until
 * weft_rt_free cancels them. The check runs every 100 ms and needs two
 * agreeing looks. A thread outside the runtime that will later wake a task
 * (weft_chan_try_send from a plain thread, weft_rt_spawn) is invisible to
 * it: such programs set WEFT_DEADLOCK_CHECK=0 in the environment.
 */
WEFT_API int weft_rt_wait(weft_rt *rt);

/*
 * Shut rt down: cancel every task still alive (a parked one returns
 * WEFT_ECANCELED from its blocking call; one that has not started, or is
 * spawned meanwhile, runs cancelled, so it can release what it was
 * handed), wait for them to finish, join the worker threads and free
 * everything.
 * A task that never reaches a blocking call keeps this waiting. Returns 0,
 * WEFT_EINVAL for NULL, WEFT_EPERM from inside a task. Blocks.
 */
WEFT_API int weft_rt_free(weft_rt *rt);

/*
 * Run fn(arg) as the main task of a new runtime configured by cfg (NULL
 * for defaults), wait for it, shut the runtime down as weft_rt_free does,
 * and return fn's value. Returns WEFT_EINVAL for a NULL fn, WEFT_EPERM
 * from inside a task, weft_rt_new's error, or WEFT_EDEADLK when the
 * runtime deadlocks before fn returns (see weft_rt_wait: the dump is
 * printed, then every task is cancelled and the runtime freed). Blocks.
 */
WEFT_API int weft_main(const weft_config *cfg, int (*fn)(void *), void *arg);

/* Counters of one worker, or of the whole runtime. */
typedef struct weft_stats {
  uint64_t spawned;        /* tasks created (by this worker) */
  uint64_t completed;      /* tasks that finished (on this worker) */
  uint64_t switches;       /* context switches into tasks */
  uint64_t steals;         /* tasks taken from other workers */
  uint64_t steal_attempts; /* attempts to steal, successful or not */
  uint64_t parks;          /* times the worker went to sleep */
  uint64_t injected;       /* tasks taken from the injection queue */
  uint64_t tasks_alive;    /* total only: tasks spawned and not finished */
  uint64_t stacks_mapped;  /* total only: stacks carved from mappings */
  uint64_t stacks_cached;  /* total only: stacks mapped but not in use */
  uint64_t io_handles;     /* total only: libuv handles open on the I/O thread
                            * (socket and fd watches, timers, processes),
                            * besides its own fixed ones; a socket that
                            * waited without a deadline counts as one watch
                            * until it is closed */
} weft_stats;
#define WEFT_STATS_HAS_IO_HANDLES 1

/*
 * Read rt's counters. *total (may be NULL) receives the sums; per_worker
 * (may be NULL) receives up to n entries, one per worker. Returns the
 * number of workers, or WEFT_EINVAL for a NULL rt. Counters are read
 * without stopping the workers, so a sum may be a moment old. Any thread.
 */
WEFT_API int weft_rt_stats(weft_rt *rt, weft_stats *total, weft_stats *per_worker, size_t n);

/*
 * Print every live task of rt to out, one line each: id, name, state, the
 * worker it runs or last ran on, and for a parked task what it waits on
 * (channel, fd, timer and the time left, join of task N, mutex...) and for
 * how long. Tasks are read without stopping the runtime, so the picture
 * may be a moment old. Returns 0 or WEFT_EINVAL for a NULL argument. Any
 * thread, including a task (it does not block on tasks).
 *
 * With WEFT_DUMP_SIGNAL set in the environment when the runtime starts (a
 * signal name such as SIGUSR1, or a number), the I/O thread prints this
 * dump to stderr each time that signal arrives. Without it weft installs
 * no handler for it.
 */
WEFT_API int weft_rt_dump(weft_rt *rt, FILE *out);

/* ------------------------------------------------------------------ */
/* Tasks                                                               */

/* Attributes of one spawn; initialise with weft_spawn_attr_init. */
typedef struct weft_spawn_attr {
  size_t stack_size; /* 0: the runtime's default; rounded as in weft_config */
  const char *name;  /* copied, at most 31 bytes kept; NULL: no name */
  int detached;      /* nonzero: no handle is returned, nobody joins */
} weft_spawn_attr;

/* Zero every attribute (defaults). Any thread. */
WEFT_API void weft_spawn_attr_init(weft_spawn_attr *attr);

/*
 * Spawn a task running fn(arg) in the calling task's runtime. out == NULL
 * makes it detached. The new task is queued on the caller's worker and may
 * run there or be stolen by another. Returns 0, WEFT_EINVAL (NULL fn),
 * WEFT_ENOMEM, WEFT_EPERM outside a task. Does not block. Inside a task.
 */
WEFT_API int weft_spawn(weft_task **out, void *(*fn)(void *), void *arg);

/*
 * As weft_spawn, with attributes (attr may be NULL). With attr->detached
 * set, out may be NULL and nothing is stored there. Inside a task.
 */
WEFT_API int weft_spawn_ex(weft_task **out, const weft_spawn_attr *attr, void *(*fn)(void *), void *arg);

/*
 * As weft_rt_spawn, with attributes (attr may be NULL). Any thread.
 */
WEFT_API int weft_rt_spawn_ex(weft_rt *rt, weft_task **out, const weft_spawn_attr *attr,
                              void *(*fn)(void *), void *arg);

/*
 * Wait for t to finish and release it; *result (result may be NULL)
 * receives fn's return value. Blocks (parks the caller). Returns 0 once t
 * has finished (a cancelled t too: its fn ran and returned),
 * WEFT_ECANCELED when the caller is cancelled while waiting (t stays
 * joinable),
 * WEFT_EINVAL for NULL, a detached task, a task another join already
 * claimed, or a released handle (detected while its memory is not reused),
 * WEFT_EDEADLK for the caller itself, WEFT_EPERM outside a task.
 * Inside a task.
 */
WEFT_API int weft_join(weft_task *t, void **result);

/*
 * weft_join with an absolute deadline on weft_now()'s clock (-1: none).
 * At the deadline it returns WEFT_ETIMEDOUT and t stays joinable; a
 * deadline already past returns WEFT_ETIMEDOUT at once unless t has
 * finished. Also WEFT_ENOMEM (the deadline's timer). Otherwise as
 * weft_join. Inside a task.
 */
WEFT_API int weft_join_until(weft_task *t, void **result, int64_t deadline);

/*
 * Let t run on unjoined: it is released when it finishes. Returns 0,
 * WEFT_EINVAL for NULL, an already detached task, or one being joined.
 * Does not block. Any thread.
 */
WEFT_API int weft_detach(weft_task *t);

/*
 * Ask t to stop: the blocking weft call it is parked in, or its next call
 * that would have to wait, returns WEFT_ECANCELED. The cancel is sticky
 * but refuses only waiting: a call that need not wait still completes (a
 * free mutex, a semaphore with a unit, a channel with room or data, a
 * wait group at zero, a finished task's join, a scope with no member
 * left), and only a call that would wait returns WEFT_ECANCELED, at once.
 * The calls served by the I/O thread (sleeps, sockets, weft_fd_wait, name
 * resolution, files, weft_offload, weft_proc_wait, weft_signal_wait)
 * return it as soon as they are called. Calls that never block
 * (weft_chan_try_send, weft_chan_try_recv, weft_sock_close, ...) work as
 * usual. The cancel reaches the members of every scope t owns, and
 * theirs; not the tasks t started with weft_spawn. A task that has not
 * started yet still runs, cancelled from its start, as a cancelled
 * pthread runs to its first cancellation point: its function can then
 * release what it was handed, and a join returns 0 with its result.
 * Cancelling a task that has finished, or twice, is harmless. Returns 0
 * or WEFT_EINVAL for NULL. Does not block. Any thread, while the handle
 * is valid.
 */
WEFT_API int weft_cancel(weft_task *t);

/* ------------------------------------------------------------------ */
/* Scopes: structured concurrency                                      */
/*
 * A scope (Trio's nursery, asyncio's TaskGroup, Go's errgroup) runs member
 * tasks and waits for all of them. A member returning nonzero fails the
 * scope: the first failure is kept and every other member is cancelled.
 * A cancel of the task that owns a scope reaches its members, and theirs
 * (scopes nest). A scope never leaves a member running behind a return of
 * weft_scope_wait (but at its deadline) or weft_scope_free; the scopes a
 * task never freed are freed when its function returns.
 */
typedef struct weft_scope weft_scope;

/* Make a scope owned by the calling task. Returns 0, WEFT_EINVAL (NULL
 * out), WEFT_ENOMEM, WEFT_EPERM outside a task. Inside a task. */
WEFT_API int weft_scope_new(weft_scope **out);

/*
 * Start a member task running fn(arg); its return value is its outcome (0:
 * success). The owner and the members may start members. A member started
 * in a cancelled scope starts cancelled. Returns 0, WEFT_EINVAL (NULL or
 * freed s or fn, a scope of another runtime), WEFT_ENOMEM, WEFT_EPERM
 * outside a task. Does not block. Inside a task.
 */
WEFT_API int weft_scope_go(weft_scope *s, int (*fn)(void *), void *arg);
/* As weft_scope_go, with attributes (attr may be NULL; its detached field
 * is ignored: a member belongs to the scope). */
WEFT_API int weft_scope_go_ex(weft_scope *s, const weft_spawn_attr *attr, int (*fn)(void *),
                              void *arg);

/* Cancel every member, and every member started later. Returns 0 or
 * WEFT_EINVAL. Does not block. Any task of the runtime. */
WEFT_API int weft_scope_cancel(weft_scope *s);

/*
 * Wait for every member to finish, then return the first failure, or
 * WEFT_ECANCELED when weft_scope_cancel was called and no member failed,
 * or 0. A member's WEFT_ECANCELED after the scope was cancelled is not a
 * failure. At the deadline (-1: none) it returns WEFT_ETIMEDOUT and the
 * members keep running. When the caller is cancelled, the members are
 * cancelled with it and WEFT_ECANCELED is returned once they have all
 * finished. Also WEFT_EINVAL (NULL or freed s), WEFT_EPERM (not the
 * owner). Blocks; the owner only.
 */
WEFT_API int weft_scope_wait(weft_scope *s, int64_t deadline);

/* Cancel the members still running, wait for them without being
 * interruptible, and free s. Returns 0, WEFT_EINVAL (NULL or freed s),
 * WEFT_EPERM (not the owner). Blocks; the owner only. */
WEFT_API int weft_scope_free(weft_scope *s);

/* Nonzero when the calling task has been cancelled and is not shielded
 * (weft_cancel_shield); 0 outside a task. */
WEFT_API int weft_canceled(void);

/*
 * Whether t was cancelled (weft_cancel, or a cancel that reached it through
 * a scope or weft_rt_free): 1 or 0, whether or not it has finished, while
 * the handle is valid; WEFT_EINVAL for NULL or a released handle. Any
 * thread.
 */
WEFT_API int weft_task_was_canceled(const weft_task *t);

/*
 * Shield the calling task from cancellation (on != 0) or lower the shield
 * (on == 0). While shielded, its blocking calls do not see a cancel and
 * weft_canceled() says 0: for cleanup that must wait, such as flushing
 * output or waiting for children. A cancel that arrives meanwhile is kept
 * and delivered by the first blocking call after the shield is lowered.
 * Returns the previous setting (0 or 1), WEFT_EPERM outside a task. Inside
 * a task.
 */
WEFT_API int weft_cancel_shield(int on);

/*
 * The channel that is closed when t finishes: a receive on it (or a
 * weft_select case) returns WEFT_EPIPE from then on, so a select can wait
 * for "the first of these tasks, this channel, or a timeout". It carries
 * no values (element size 0). It belongs to the task: every call returns
 * the same channel; do not close or free it; it is freed when t is
 * released (joined, or finished after weft_detach), so nobody may still
 * wait on it then. Returns 0, WEFT_EINVAL (NULL out, NULL or released t),
 * WEFT_ENOMEM. Any thread, while the handle is valid.
 */
struct weft_chan; /* weft_chan, below */
WEFT_API int weft_task_done(weft_task *t, struct weft_chan **out);

/*
 * Run fn(t, result, canceled, arg) once after t finishes, in a task of its
 * own (so it may block): result is t's return value, canceled what
 * weft_task_was_canceled said when it finished, and t only an identity (it
 * may have been joined and released by then). When t has finished
 * already, fn is scheduled at once. The callbacks of one task run one
 * after another, in the order they were added; one that blocks delays the
 * next. It does not consume the join. Returns 0, WEFT_EINVAL (NULL fn,
 * NULL or released t), WEFT_ENOMEM, WEFT_EPERM outside a task. Inside a
 * task, while the handle is valid.
 */
WEFT_API int weft_task_on_done(weft_task *t,
                               void (*fn)(weft_task *t, void *result, int canceled, void *arg),
                               void *arg);

/*
 * Let the other ready tasks of this worker run before the caller runs
 * again. Outside a task it does nothing. Inside a task.
 */
WEFT_API void weft_yield(void);

/* The calling task, or NULL outside a task. Any thread. */
WEFT_API weft_task *weft_self(void);

/* A task's id: unique in its runtime, never 0. 0 for NULL. */
WEFT_API uint64_t weft_task_id(const weft_task *t);

/* A task's name ("" when it has none; NULL for NULL). */
WEFT_API const char *weft_task_name(const weft_task *t);

/* Milliseconds on a monotonic clock (CLOCK_MONOTONIC), the clock of every
 * deadline. Any thread. */
WEFT_API int64_t weft_now(void);

/*
 * Park the calling task for ms milliseconds (its worker runs other tasks).
 * It never wakes early; how late it wakes depends on load. Returns 0,
 * WEFT_ECANCELED when the task is cancelled (before or during), WEFT_EINVAL
 * for a negative ms, WEFT_ENOMEM, WEFT_EPERM outside a task. Blocks.
 */
WEFT_API int weft_sleep(int64_t ms);

/*
 * Park the calling task until weft_now() >= deadline; -1 sleeps until the
 * task is cancelled. A deadline already past returns 0 at once. Returns as
 * weft_sleep. Blocks; inside a task.
 */
WEFT_API int weft_sleep_until(int64_t deadline);

/* ------------------------------------------------------------------ */
/* Channels                                                            */

typedef struct weft_chan weft_chan;

/*
 * A channel of elements of elem_size bytes (0 is allowed: a pure signal).
 * capacity 0 makes a rendezvous channel: a send returns only when a
 * receiver has the value; otherwise a bounded FIFO of capacity elements.
 * Any number of senders and receivers, on any workers. Returns 0,
 * WEFT_EINVAL (NULL out, a size that overflows), WEFT_ENOMEM. Any thread.
 */
WEFT_API int weft_chan_new(weft_chan **out, size_t elem_size, size_t capacity);

/*
 * Send the elem_size bytes at elem, waiting while the channel is full (or,
 * unbuffered, until a receiver takes it). Returns 0, WEFT_EPIPE when the
 * channel is closed (before or while waiting), WEFT_ETIMEDOUT,
 * WEFT_ECANCELED (a cancelled task still sends when there is room or a
 * waiting receiver: only waiting is refused), WEFT_EINVAL (NULL or freed
 * channel, NULL elem), WEFT_EPERM outside a task. Blocks; inside a task.
 */
WEFT_API int weft_chan_send(weft_chan *c, const void *elem, int64_t deadline);

/*
 * Receive into elem, waiting while the channel is empty. After a close,
 * what was buffered is still received; then WEFT_EPIPE. Other returns as
 * weft_chan_send. Blocks; inside a task.
 */
WEFT_API int weft_chan_recv(weft_chan *c, void *elem, int64_t deadline);

/* Send or receive only if it can be done at once: 0, WEFT_EAGAIN,
 * WEFT_EPIPE, WEFT_EINVAL. Never blocks; any thread. */
WEFT_API int weft_chan_try_send(weft_chan *c, const void *elem);
WEFT_API int weft_chan_try_recv(weft_chan *c, void *elem);

/* Close: waiting receivers and senders wake with WEFT_EPIPE; buffered
 * elements stay receivable. Returns 0, WEFT_EINVAL when already closed or
 * invalid. Does not block; any thread. */
WEFT_API int weft_chan_close(weft_chan *c);

/* Free c. Returns 0 (also for NULL), WEFT_EBUSY while a task is sending or
 * receiving on it, WEFT_EINVAL for a freed channel (while its memory is
 * not reused). Any thread. */
WEFT_API int weft_chan_free(weft_chan *c);

/* Elements buffered now, and the capacity; WEFT_EINVAL for NULL. Any thread. */
WEFT_API long weft_chan_len(weft_chan *c);
WEFT_API long weft_chan_cap(const weft_chan *c);

#define WEFT_SELECT_SEND 1
#define WEFT_SELECT_RECV 2

/* One case of weft_select. A case with a NULL chan is never ready. */
typedef struct weft_select_case {
  weft_chan *chan;
  int op;     /* WEFT_SELECT_SEND or WEFT_SELECT_RECV */
  void *elem; /* the value to send, or where to receive */
  int result; /* out, for the case that completed: 0, or WEFT_EPIPE (closed) */
} weft_select_case;

/*
 * Wait until one of the n cases can complete, complete exactly that one,
 * and return its index (its result in cases[i].result; a receive from a
 * closed, drained channel or a send to a closed one completes with
 * WEFT_EPIPE). Among several ready cases one is picked at random, so none
 * starves. Returns WEFT_ETIMEDOUT (deadline 0: none was ready),
 * WEFT_ECANCELED, WEFT_EINVAL (a bad case), WEFT_ENOMEM, WEFT_EPERM outside
 * a task. Blocks; inside a task.
 */
WEFT_API int weft_select(weft_select_case *cases, size_t n, int64_t deadline);

/* ------------------------------------------------------------------ */
/* Task-aware synchronisation: waiting parks the task, never the thread */
/*
 * Every object here is made with _new and freed with _free (WEFT_EBUSY
 * while a task waits on it or, for a mutex, while it is locked). The calls
 * that wait take a deadline and return WEFT_ETIMEDOUT / WEFT_ECANCELED;
 * they are legal only inside a task (WEFT_EPERM elsewhere). In a
 * cancelled task, a call that need not wait still completes (a free
 * mutex, a semaphore with a unit, a wait group at zero); only one that
 * would wait returns WEFT_ECANCELED (weft_cond_wait always does). The
 * calls that only wake others (unlock, signal, broadcast, wg add/done, sem
 * post and trywait, mutex trylock) never block and may be called from any
 * thread.
 * WEFT_EINVAL for NULL or freed objects (the _free calls included), and
 * from weft_sem_post when the count is at ULONG_MAX.
 */
typedef struct weft_mutex weft_mutex;
typedef struct weft_cond weft_cond;
typedef struct weft_wg weft_wg;
typedef struct weft_sem weft_sem;

WEFT_API int weft_mutex_new(weft_mutex **out);
WEFT_API int weft_mutex_free(weft_mutex *m);
/* Lock m. A waiter that has waited over a millisecond gets the lock handed
 * to it at the next unlock, so none starves. Blocks; inside a task. */
WEFT_API int weft_mutex_lock(weft_mutex *m, int64_t deadline);
/* 0, or WEFT_EBUSY when m is locked. Never blocks. */
WEFT_API int weft_mutex_trylock(weft_mutex *m);
/* 0, or WEFT_EPERM when the caller (task or thread) does not hold m. */
WEFT_API int weft_mutex_unlock(weft_mutex *m);

WEFT_API int weft_cond_new(weft_cond **out);
WEFT_API int weft_cond_free(weft_cond *c);
/*
 * Atomically release m (which the calling task must hold: else WEFT_EPERM)
 * and wait for a signal; m is held again when this returns, whatever it
 * returns (0, WEFT_ETIMEDOUT, WEFT_ECANCELED). Spurious wakeups do not
 * happen, but re-check your condition anyway. Blocks; inside a task.
 */
WEFT_API int weft_cond_wait(weft_cond *c, weft_mutex *m, int64_t deadline);
/* Wake one / every task waiting on c. Any thread. */
WEFT_API int weft_cond_signal(weft_cond *c);
WEFT_API int weft_cond_broadcast(weft_cond *c);

/* A wait group (Go's sync.WaitGroup). */
WEFT_API int weft_wg_new(weft_wg **out);
WEFT_API int weft_wg_free(weft_wg *g);
/* Add n (may be negative) to the counter; at 0 every waiter wakes.
 * WEFT_EINVAL when it would go below 0. Any thread. */
WEFT_API int weft_wg_add(weft_wg *g, long n);
/* weft_wg_add(g, -1). */
WEFT_API int weft_wg_done(weft_wg *g);
/* Wait until the counter is 0. Blocks; inside a task. */
WEFT_API int weft_wg_wait(weft_wg *g, int64_t deadline);

/* A counting semaphore starting at initial. */
WEFT_API int weft_sem_new(weft_sem **out, unsigned long initial);
WEFT_API int weft_sem_free(weft_sem *s);
/* Take a unit, waiting for one. Blocks; inside a task. */
WEFT_API int weft_sem_wait(weft_sem *s, int64_t deadline);
/* Take a unit if there is one: 0 or WEFT_EAGAIN. Any thread. */
WEFT_API int weft_sem_trywait(weft_sem *s);
/* Give a unit back (to the oldest waiter, if any). Any thread. */
WEFT_API int weft_sem_post(weft_sem *s);

/* Run-once: static storage initialised with WEFT_ONCE_INIT. */
typedef struct weft_once {
  int state;
} weft_once;
#define WEFT_ONCE_INIT {0}
/* Run fn(arg) exactly once for o; concurrent callers return after it has
 * finished (tasks yield meanwhile, threads sched_yield). Returns 0 or
 * WEFT_EINVAL. Any thread; fn must not call weft_once_do on o itself. */
WEFT_API int weft_once_do(weft_once *o, void (*fn)(void *), void *arg);

/* ------------------------------------------------------------------ */
/* Generators: coroutines a task drives (PEP 342's send/yield/close)   */
/*
 * A generator runs fn(arg) on its own stack, but only while its driver (the
 * task that created it, or a generator that task is running) resumes it
 * with weft_gen_send or weft_gen_next, and only until fn calls
 * weft_gen_yield. fn may call blocking weft functions: the driving task
 * parks with the generator active and resumes there. All calls but
 * weft_gen_state must come from the creating task (else WEFT_EPERM).
 */
typedef struct weft_gen weft_gen;

#define WEFT_GEN_CREATED 0   /* not started */
#define WEFT_GEN_SUSPENDED 1 /* stopped at a weft_gen_yield */
#define WEFT_GEN_RUNNING 2   /* running (it, or a generator it drives) */
#define WEFT_GEN_CLOSED 3    /* finished or closed */

/* Create a generator without running it. Returns 0, WEFT_EINVAL (NULL out
 * or fn), WEFT_ENOMEM, WEFT_EPERM outside a task. Inside a task. */
WEFT_API int weft_gen_new(weft_gen **out, void *(*fn)(void *), void *arg);

/*
 * Resume g; inside it, weft_gen_yield returns in. Returns 0 with the next
 * yielded value in *out (out may be NULL), or WEFT_EDONE with fn's return
 * value in *out when fn returned (later resumes: WEFT_EDONE again). Errors:
 * WEFT_EINVAL (NULL or freed g, a non-NULL first send), WEFT_EBUSY (g is
 * running), WEFT_EPERM (another task's generator). Switches to g and back.
 */
WEFT_API int weft_gen_send(weft_gen *g, void *in, void **out);
/* weft_gen_send(g, NULL, out). */
WEFT_API int weft_gen_next(weft_gen *g, void **out);

/* Inside a generator: hand value to the resumer and stop until the next
 * resume; returns what that resume sent. Outside a generator it returns
 * NULL and does nothing. */
WEFT_API void *weft_gen_yield(void *value);

/*
 * Close g: a suspended generator is resumed with weft_gen_yield returning
 * NULL and weft_gen_closing() true, so its cleanup runs; it must then
 * return. Returns 0, or WEFT_EINVAL if it yielded again instead (it stays
 * suspended; Python's RuntimeError). A created or finished generator is
 * just marked closed. Also WEFT_EBUSY, WEFT_EPERM as weft_gen_send.
 */
WEFT_API int weft_gen_close(weft_gen *g);

/* Nonzero inside a generator that weft_gen_close is resuming. */
WEFT_API int weft_gen_closing(void);

/*
 * Throw err (nonzero, an errno-style code) into g, PEP 342's throw():
 * g resumes with its weft_gen_yield returning NULL and weft_gen_thrown()
 * returning err, until g is resumed again. Then as weft_gen_send: 0 and
 * the next yielded value in *out, or WEFT_EDONE and fn's return value. A
 * generator that has not started is closed without running and err is
 * returned, as Python raises at its first line. Errors: WEFT_EINVAL (err
 * 0, NULL or freed g), WEFT_EDONE (closed), WEFT_EBUSY, WEFT_EPERM as
 * weft_gen_send.
 */
WEFT_API int weft_gen_throw(weft_gen *g, int err, void **out);

/* Inside a generator resumed by weft_gen_throw: the error thrown; 0
 * otherwise (also outside a generator). */
WEFT_API int weft_gen_thrown(void);

/* WEFT_GEN_CREATED, _SUSPENDED, _RUNNING or _CLOSED; WEFT_EINVAL for NULL. */
WEFT_API int weft_gen_state(const weft_gen *g);

/* Generators a task leaves unfreed are closed (their cleanup runs) and
 * freed when its function returns. */

/* Close g if needed and free it. Returns 0, WEFT_EINVAL (NULL, or it
 * refused to close: it is freed all the same, its cleanup skipped),
 * WEFT_EBUSY while it runs, WEFT_EPERM from another task. */
WEFT_API int weft_gen_free(weft_gen *g);

/* ------------------------------------------------------------------ */
/* Sockets, file descriptors, names (the I/O thread)                   */
/*
 * Every call that waits takes an absolute deadline in weft_now()
 * milliseconds (-1: none, 0: do not wait) and returns WEFT_ETIMEDOUT when
 * it passes, WEFT_ECANCELED when the task is cancelled (before or during
 * the call), WEFT_EPERM outside a task. Sockets are non-blocking: the task
 * tries the system call on its worker and parks only when it would block.
 * SIGPIPE is never raised (MSG_NOSIGNAL).
 */

typedef struct weft_sock weft_sock;
struct addrinfo; /* <netdb.h>; declared here so strict C modes see one type */

#define WEFT_READABLE 1
#define WEFT_WRITABLE 2

/*
 * Listen on host:port (host NULL or "" for every address; port "0" for
 * any free port, see weft_sock_port). backlog <= 0 means SOMAXCONN. Host
 * names are resolved as by weft_getaddrinfo; the first address that binds
 * is used. Returns 0, WEFT_EINVAL (NULL out, a port out of 0-65535 or not a
 * number, a malformed host), a resolver error, or -errno from bind/listen.
 * May block (name resolution). Inside a task.
 */
WEFT_API int weft_tcp_listen(weft_sock **out, const char *host, const char *port, int backlog);

/*
 * Accept a connection (TCP_NODELAY set). Returns 0, WEFT_EBADF for a NULL
 * or closed socket, WEFT_EINVAL when l is not a listener or out is NULL,
 * WEFT_EMFILE/WEFT_ENFILE when out of descriptors (l stays usable),
 * WEFT_ETIMEDOUT, WEFT_ECANCELED. Blocks; inside a task.
 */
WEFT_API int weft_tcp_accept(weft_sock *l, weft_sock **out, int64_t deadline);

/*
 * Connect to host:port, resolving the name through libuv and trying every
 * address in order until one answers (TCP_NODELAY set). Returns 0,
 * WEFT_EINVAL (NULL out or host, bad port), WEFT_EAI_NONAME for an unknown
 * host (or another WEFT_EAI_* code), WEFT_ECONNREFUSED, WEFT_ETIMEDOUT,
 * WEFT_ECANCELED (also while resolving), or another -errno. Blocks;
 * inside a task.
 */
WEFT_API int weft_tcp_connect(weft_sock **out, const char *host, const char *port,
                              int64_t deadline);

/*
 * Receive up to len bytes. Returns the count (0: the peer closed its side),
 * WEFT_EBADF, WEFT_EINVAL (a listener, NULL buf), WEFT_ECONNRESET,
 * WEFT_ETIMEDOUT, WEFT_ECANCELED, or another -errno. Blocks; inside a task.
 */
WEFT_API ssize_t weft_recv(weft_sock *s, void *buf, size_t len, int64_t deadline);

/*
 * Send all len bytes, waiting as needed. Returns 0 when all were sent, or
 * WEFT_EBADF, WEFT_EINVAL, WEFT_EPIPE/WEFT_ECONNRESET (peer gone),
 * WEFT_ETIMEDOUT, WEFT_ECANCELED (some bytes may have been sent then).
 * Blocks; inside a task.
 */
WEFT_API int weft_send(weft_sock *s, const void *buf, size_t len, int64_t deadline);

/* Shut down reading (SHUT_RD), writing (SHUT_WR) or both. Returns 0,
 * WEFT_EBADF, WEFT_EINVAL, -errno. Does not block. Any thread. */
WEFT_API int weft_sock_shutdown(weft_sock *s, int how);

/*
 * Close s and free it. Tasks still waiting on it wake with WEFT_EBADF.
 * Returns 0, WEFT_EBADF for NULL or an already closed socket (detected
 * while the memory is not reused), WEFT_EPERM from outside a task for a
 * socket that was ever waited on. Parks briefly while the I/O thread lets
 * go of it; not cancellable.
 */
WEFT_API int weft_sock_close(weft_sock *s);

/* The local or peer address (getsockname/getpeername). Returns 0,
 * WEFT_EBADF, WEFT_EINVAL, -errno. Any thread. */
WEFT_API int weft_sock_local_addr(weft_sock *s, struct sockaddr *addr, socklen_t *len);
WEFT_API int weft_sock_peer_addr(weft_sock *s, struct sockaddr *addr, socklen_t *len);
/* The local port number, or WEFT_EBADF. Any thread. */
WEFT_API int weft_sock_port(weft_sock *s);
/* The descriptor, for setsockopt and the like (do not close it), or
 * WEFT_EBADF. Any thread. */
WEFT_API int weft_sock_fd(weft_sock *s);

/*
 * Wait until fd (a pipe, an eventfd, a socket of the program's own; it
 * should be non-blocking) is readable and/or writable as events asks
 * (WEFT_READABLE | WEFT_WRITABLE). On a weft_sock's fd (weft_sock_fd),
 * once one of the socket's own calls has waited, it waits alongside them
 * and any number of tasks may; before that the fd is treated as any
 * other (one waiter, and weft_sock_close does not wake it).
 * Returns the ready events (positive), WEFT_EBADF (also when the weft_sock
 * is closed meanwhile), WEFT_EINVAL (no or unknown events), WEFT_EBUSY when
 * another task waits on the same non-socket fd through weft_fd_wait,
 * WEFT_ETIMEDOUT, WEFT_ECANCELED. Blocks; inside a task.
 */
WEFT_API int weft_fd_wait(int fd, int events, int64_t deadline);

/*
 * Resolve host:port for a TCP connection through libuv's resolver (numeric
 * addresses without it). *out is freed with weft_freeaddrinfo. Returns 0,
 * WEFT_EINVAL, WEFT_EAI_NONAME, WEFT_EAI_AGAIN, WEFT_EAI_FAIL, WEFT_ENOMEM,
 * WEFT_ECANCELED. Blocks; inside a task.
 */
WEFT_API int weft_getaddrinfo(const char *host, const char *port, struct addrinfo **out);
WEFT_API void weft_freeaddrinfo(struct addrinfo *ai);

/* ------------------------------------------------------------------ */
/* Files and blocking work (libuv's thread pool)                       */

/*
 * Open a file (open(2) flags and mode; O_CLOEXEC is added). Returns the fd,
 * WEFT_ENOENT, WEFT_EINVAL (NULL path), another -errno, WEFT_ETIMEDOUT,
 * WEFT_ECANCELED. Blocks; inside a task. A cancelled or timed-out open
 * that completes anyway has its fd closed.
 */
WEFT_API int weft_file_open(const char *path, int flags, int mode, int64_t deadline);

/*
 * Read or write up to len bytes at offset (-1: at the file position).
 * Returns the count (0 at end of file), WEFT_EBADF, WEFT_EINVAL, -errno,
 * WEFT_ETIMEDOUT, WEFT_ECANCELED. A request already running on the pool is
 * waited for even when cancelled, so buf is never written after the call
 * returns; so a read from a FIFO or tty that never gets data holds its
 * task, and weft_rt_free, for ever. Blocks; inside a task.
 */
WEFT_API ssize_t weft_file_read(int fd, void *buf, size_t len, int64_t offset, int64_t deadline);
WEFT_API ssize_t weft_file_write(int fd, const void *buf, size_t len, int64_t offset,
                                 int64_t deadline);
/* close(2) for a file opened with weft_file_open. Returns 0 or -errno. */
WEFT_API int weft_file_close(int fd);

/*
 * Read the whole file at path in chunks (the task parks between them) into
 * a malloc'd buffer, NUL-terminated for convenience; *len excludes the NUL.
 * Free *buf with free(). Returns 0, WEFT_EINVAL, WEFT_ENOENT, WEFT_ENOMEM,
 * WEFT_ECANCELED, -errno. Blocks; inside a task.
 */
WEFT_API int weft_file_read_all(const char *path, char **buf, size_t *len);

/*
 * Run fn(arg) on libuv's thread pool while the calling task is parked, for
 * code that must block (a library doing its own I/O); *result (result may
 * be NULL) receives fn's value. Returns 0, WEFT_EINVAL (NULL fn), WEFT_ENOMEM,
 * WEFT_ECANCELED: a cancelled call returns at once, but a job already
 * running cannot be stopped; it runs to its end and its result is dropped,
 * so arg must stay valid until fn returns. Blocks; inside a task.
 */
WEFT_API int weft_offload(void *(*fn)(void *), void *arg, void **result);

/*
 * weft_offload, telling when a job the caller gave up on is over. For each
 * call that returns WEFT_ECANCELED, and only for those, orphan (may be
 * NULL) is called exactly once, when the job can no longer touch arg:
 * orphan(arg, result, 1) once fn has returned, or orphan(arg, NULL, 0)
 * when fn never ran. It runs on weft's I/O thread (or, for a call
 * cancelled before the job was queued, in the caller before it returns),
 * so it must not block; it typically frees arg and result. Returns as
 * weft_offload. Blocks; inside a task.
 */
WEFT_API int weft_offload_ex(void *(*fn)(void *), void *arg, void **result,
                             void (*orphan)(void *arg, void *result, int ran));

/* ------------------------------------------------------------------ */
/* Child processes (uv_spawn)                                          */

typedef struct weft_proc weft_proc;

#define WEFT_STDIO_INHERIT 0 /* the child shares the parent's stream */
#define WEFT_STDIO_NULL 1    /* /dev/null */
#define WEFT_STDIO_PIPE 2    /* a pipe: the parent's end is a weft_sock */

typedef struct weft_proc_opts {
  const char *file; /* the program (PATH is searched); NULL: argv[0] */
  char **argv;      /* NULL-terminated; argv[0] required */
  char **env;       /* NULL-terminated "NAME=value"; NULL: the parent's */
  const char *cwd;  /* NULL: the parent's */
  int stdio[3];     /* stdin, stdout, stderr: WEFT_STDIO_* */
} weft_proc_opts;

/* Zero the options: inherit every stream, the parent's env and cwd. */
WEFT_API void weft_proc_opts_init(weft_proc_opts *o);

/*
 * Start a child process. For each stream opts asks to pipe, pipes[i] gets
 * the parent's end as a weft_sock (use weft_send on stdin, weft_recv on
 * stdout/stderr; close them with weft_sock_close; closing stdin sends EOF);
 * the others are set to NULL. pipes may be NULL when nothing is piped.
 * Returns 0, WEFT_EINVAL, WEFT_ENOENT (no such program), WEFT_ENOMEM,
 * -errno. Parks briefly; inside a task.
 */
WEFT_API int weft_proc_spawn(weft_proc **out, const weft_proc_opts *opts, weft_sock *pipes[3]);

/*
 * Wait for the child to exit. *exit_status gets its exit code, *term_signal
 * the signal that killed it (0 if none); either may be NULL. Waiting again
 * after the exit returns the same. Returns 0, WEFT_EINVAL, WEFT_EBUSY
 * (another task waits on it), WEFT_ETIMEDOUT (the child keeps running),
 * WEFT_ECANCELED. Blocks; inside a task.
 */
WEFT_API int weft_proc_wait(weft_proc *p, int64_t *exit_status, int *term_signal,
                            int64_t deadline);

/* Send sig to the child. Returns 0, WEFT_EINVAL, WEFT_ESRCH once it has
 * exited (never a recycled pid). Inside a task. */
WEFT_API int weft_proc_kill(weft_proc *p, int sig);

/* The child's process id, or WEFT_EINVAL. */
WEFT_API int weft_proc_pid(const weft_proc *p);

/* Free an exited child's record. Returns 0, WEFT_EINVAL, WEFT_EBUSY while
 * it runs (kill and wait first). Inside a task. */
WEFT_API int weft_proc_free(weft_proc *p);

/* ------------------------------------------------------------------ */
/* Signals                                                             */

/*
 * Wait until one of the n signals arrives and return its number, served by
 * the I/O thread (no handler of the program's own is needed, and no
 * self-pipe). Several tasks may wait for the same signal: each arrival
 * wakes one of them, the longest waiting first. While at least one task
 * waits for a signal, weft owns its disposition; the disposition the
 * process had before comes back when no task waits for it any more (and
 * so at weft_rt_free). A signal that arrives while nobody waits gets that
 * disposition. Returns the signal number, WEFT_ETIMEDOUT at the deadline
 * (-1: none), WEFT_ECANCELED, WEFT_EINVAL (NULL signals, n 0, a number
 * out of range, SIGKILL or SIGSTOP, a signal listed twice), WEFT_ENOMEM,
 * WEFT_EPERM outside a task. Blocks; inside a task.
 */
WEFT_API int weft_signal_wait(const int *signals, size_t n, int64_t deadline);

/*
 * Catch the n signals for weft_signal_wait from now on, whether or not a
 * task waits, until weft_signal_release (holds count: each hold needs its
 * release). A signal that arrives while held and nobody waits is kept,
 * once per signal as the kernel keeps it, for the next wait. For a program
 * that must not miss a signal between announcing that it is ready and
 * waiting: hold, announce, then wait. When it returns the signals are
 * caught. weft_rt_free releases what is still held. Returns 0,
 * WEFT_EINVAL as weft_signal_wait, WEFT_ENOMEM, WEFT_EPERM outside a task.
 * Parks briefly while the I/O thread arms them; not cancellable.
 */
WEFT_API int weft_signal_hold(const int *signals, size_t n);

/* Undo one weft_signal_hold of each of the n signals; a signal neither
 * held nor waited for gets its previous disposition back, and a kept
 * arrival is dropped. Returns 0, WEFT_EINVAL (also when one of them is
 * not held: then nothing changes), WEFT_EPERM outside a task. Parks
 * briefly; not cancellable. */
WEFT_API int weft_signal_release(const int *signals, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_H */
