/*
 * signal.c - weft_signal_wait: tasks that wait for POSIX signals, served
 * by libuv's signal handles on the I/O thread, as an io op (op.c).
 * See docs/design.md, section 5.17.
 *
 * The table (struct weft__sigs, one per runtime, I/O thread only) has a
 * slot per signal number with a FIFO of the links of the ops waiting for
 * it. An op waiting for n signals has n links, one in each slot's FIFO.
 *
 *  - A slot is armed while its FIFO is not empty: the first link starts a
 *    uv_signal_t; when the last link leaves, the handle is stopped and
 *    closed. Dispositions are the process's, not a runtime's: a table
 *    under one process-wide lock counts the runtimes that arm each
 *    signal; the first saves the disposition the signal had, and the last
 *    puts it back once libuv has let go of the signal (libuv keeps its
 *    handler while any loop still watches it, such as its own SIGCHLD
 *    watch for child processes; then the disposition is libuv's and stays). So a program's own
 *    handler, SIG_IGN or the default action is back whenever no task
 *    waits, and at weft_rt_free, which cannot return while a task waits.
 *  - Each arrival wakes one waiter: libuv calls the callback once per
 *    signal received, and the callback finishes the op of the first link
 *    in that slot, with the signal's number. Finishing an op unlinks all
 *    its links, so one op is never woken twice; an arrival that finds the
 *    FIFO empty cannot happen, since the handle is stopped in the same
 *    turn of the loop that empties it.
 *  - weft_signal_hold keeps a slot armed with no waiter (holds > 0), so a
 *    program can start catching a signal before it announces that it is
 *    ready, and weft_signal_release lets go. An arrival that finds the
 *    FIFO empty while held is kept (`pending`, one per signal, as the
 *    kernel keeps one) and taken by the next wait. A hold or release is
 *    itself an io op the caller waits for, so when it returns the I/O
 *    thread has armed (or disarmed) the slot. weft_rt_free disarms what
 *    the program still holds (sigs_stop, the I/O thread's stop hook).
 *  - The deadline is the op's (op.c, "io op"); it and a cancel unlink
 *    the op like an arrival does. Everything here runs on the I/O thread,
 *    so the FIFOs and the op's `finished` flag need no lock; the io op
 *    protocol makes the wakeup happen exactly once.
 */
#include "io/io.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct sig_link {
  struct sig_link *next, *prev; /* the slot's FIFO */
  struct sig_op *op;
  int signum;
};

struct sig_slot {
  struct sig_link *head, *tail;
  unsigned holds;      /* weft_signal_hold calls not released */
  bool pending;        /* arrived while held and nobody waited */
  uv_signal_t *handle; /* while armed */
};

/* The process's dispositions while weft arms a signal (see the top). */
static pthread_mutex_t process_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  unsigned runtimes;      /* runtimes that arm it; under process_lock */
  struct sigaction saved; /* before the first armed it; under process_lock */
} process[NSIG];

struct weft__sigs {
  weft__io *io;
  struct sig_slot slot[NSIG];
};

struct sig_op {
  weft__io_op op;
  size_t n;
  struct sig_link links[]; /* one per signal asked for */
};

static void handle_closed(uv_handle_t *h) {
  free(h);
}

static void on_signal(uv_signal_t *h, int signum);
static struct weft__sigs *sigs_get(weft__io *io);
static void sigs_stop(weft__io *io);

/* Start watching signum: save its disposition and start a handle. */
static int arm(struct weft__sigs *sg, struct sig_slot *sl, int signum) {
  uv_signal_t *h = malloc(sizeof *h);
  int rc;
  if (!h)
    return WEFT_ENOMEM;
  uv_signal_init(weft__io_loop(sg->io), h);
  h->data = sg;
  pthread_mutex_lock(&process_lock);
  if (process[signum].runtimes == 0)
    sigaction(signum, NULL, &process[signum].saved);
  if ((rc = uv_signal_start(h, on_signal, signum)) == 0)
    process[signum].runtimes++;
  pthread_mutex_unlock(&process_lock);
  if (rc) {
    uv_close((uv_handle_t *)h, handle_closed);
    return rc;
  }
  sl->handle = h;
  return 0;
}

/* Nobody waits for signum any more: stop, and restore the disposition. */
static void disarm(struct sig_slot *sl, int signum) {
  struct sigaction now;
  pthread_mutex_lock(&process_lock);
  uv_signal_stop(sl->handle); /* libuv sets SIG_DFL when no loop watches signum */
  if (--process[signum].runtimes == 0 && sigaction(signum, NULL, &now) == 0 &&
      !(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_DFL)
    sigaction(signum, &process[signum].saved, NULL);
  pthread_mutex_unlock(&process_lock);
  uv_close((uv_handle_t *)sl->handle, handle_closed);
  sl->handle = NULL;
}

static void unlink_all(struct weft__sigs *sg, struct sig_op *s) {
  for (size_t i = 0; i < s->n; i++) {
    struct sig_link *l = &s->links[i];
    struct sig_slot *sl = &sg->slot[l->signum];
    if (!l->op)
      continue; /* never linked (arming failed) */
    if (l->prev)
      l->prev->next = l->next;
    else
      sl->head = l->next;
    if (l->next)
      l->next->prev = l->prev;
    else
      sl->tail = l->prev;
    l->op = NULL;
    if (!sl->head && !sl->holds && sl->handle)
      disarm(sl, l->signum);
  }
}

/* Wake s's task with result, once; drop the I/O thread's reference. */
static void sig_end(struct sig_op *s, int result) {
  struct weft__sigs *sg = *weft__io_sigs(s->op.io);
  if (s->op.finished) /* the op's own flag: I/O thread only */
    return;
  unlink_all(sg, s);
  weft__io_finish(&s->op, result);
  weft__io_op_unref(&s->op); /* the I/O thread's reference */
}

static void on_signal(uv_signal_t *h, int signum) {
  struct weft__sigs *sg = h->data;
  struct sig_link *l = sg->slot[signum].head;
  if (l)
    sig_end(l->op, signum);
  else
    sg->slot[signum].pending = true; /* held: the next wait takes it */
}

static void sig_start(weft__io_op *op) {
  struct sig_op *s = container_of(op, struct sig_op, op);
  struct weft__sigs *sg = sigs_get(op->io);
  int rc = 0;

  if (!sg) {
    sig_end(s, WEFT_ENOMEM);
    return;
  }
  for (size_t i = 0; i < s->n; i++) { /* one kept while held: no wait */
    struct sig_slot *sl = &sg->slot[s->links[i].signum];
    if (sl->pending) {
      sl->pending = false;
      sig_end(s, s->links[i].signum);
      return;
    }
  }
  for (size_t i = 0; i < s->n && !rc; i++) {
    struct sig_link *l = &s->links[i];
    struct sig_slot *sl = &sg->slot[l->signum];
    if (!sl->handle && (rc = arm(sg, sl, l->signum)))
      break;
    l->op = s;
    l->next = NULL;
    if ((l->prev = sl->tail))
      sl->tail->next = l;
    else
      sl->head = l;
    sl->tail = l;
  }
  if (rc)
    sig_end(s, rc);
}

/* Cancelled, or past its deadline (op.c). */
static void sig_cancel(weft__io_op *op, int result) {
  sig_end(container_of(op, struct sig_op, op), result);
}

static const weft__io_op_kind sig_kind = {
    .size = sizeof(struct sig_op),
    .start = sig_start,
    .cancel = sig_cancel,
};
WEFT__IO_OP_FIRST(struct sig_op);

/* ---- hold and release ---- */

struct hold_op {
  weft__io_op op;
  bool hold;
  size_t n;
  int signals[];
};

static void hold_cancel(weft__io_op *op, int result) {
  (void)op; /* not cancellable and no deadline: it ends in the same */
  (void)result; /* turn it starts */
}

static struct weft__sigs *sigs_get(weft__io *io) {
  struct weft__sigs **sgp = weft__io_sigs(io);
  if (!*sgp && (*sgp = calloc(1, sizeof **sgp))) {
    (*sgp)->io = io;
    weft__io_at_stop(io, sigs_stop); /* the table's signals go back at the end */
  }
  return *sgp;
}

static void hold_start(weft__io_op *op) {
  struct hold_op *h = container_of(op, struct hold_op, op);
  struct weft__sigs *sg = sigs_get(op->io);
  int rc = 0;
  if (!sg) {
    rc = WEFT_ENOMEM;
  } else if (h->hold) {
    size_t i;
    for (i = 0; i < h->n && !rc; i++) {
      struct sig_slot *sl = &sg->slot[h->signals[i]];
      if (!sl->handle && (rc = arm(sg, sl, h->signals[i])))
        break;
      sl->holds++;
    }
    while (rc && i-- > 0) { /* all or nothing */
      struct sig_slot *sl = &sg->slot[h->signals[i]];
      if (!--sl->holds && !sl->head && sl->handle)
        disarm(sl, h->signals[i]);
    }
  } else {
    for (size_t i = 0; i < h->n; i++)
      if (!sg->slot[h->signals[i]].holds)
        rc = WEFT_EINVAL; /* releasing what is not held: nothing changes */
    for (size_t i = 0; i < h->n && !rc; i++) {
      struct sig_slot *sl = &sg->slot[h->signals[i]];
      if (!--sl->holds) {
        sl->pending = false;
        if (!sl->head && sl->handle)
          disarm(sl, h->signals[i]);
      }
    }
  }
  weft__io_finish(op, rc);
  weft__io_op_unref(op); /* the I/O thread's reference: no handle of its own */
}

/* weft_rt_free: put back what the program still holds. I/O thread. */
/* Disarm every signal the program still holds (weft_rt_free): the I/O
 * thread's stop hook, set with the table. */
static void sigs_stop(weft__io *io) {
  struct weft__sigs *sg = *weft__io_sigs(io);
  for (int i = 1; sg && i < NSIG; i++) {
    struct sig_slot *sl = &sg->slot[i];
    sl->holds = 0;
    sl->pending = false;
    if (sl->handle)
      disarm(sl, i); /* no task waits at shutdown: only holds keep it */
  }
}

/* Check a list of signals: each catchable, in range, and listed once. */
static int check_signals(const int *signals, size_t n) {
  if (!signals || !n || n > NSIG)
    return WEFT_EINVAL;
  for (size_t i = 0; i < n; i++) {
    int sig = signals[i];
    if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP)
      return WEFT_EINVAL;
    for (size_t j = 0; j < i; j++)
      if (signals[j] == sig)
        return WEFT_EINVAL; /* each signal once */
  }
  return 0;
}

static const weft__io_op_kind hold_kind = {
    .size = sizeof(struct hold_op),
    .start = hold_start,
    .cancel = hold_cancel,
};
WEFT__IO_OP_FIRST(struct hold_op);

static int hold_or_release(const int *signals, size_t n, bool hold) {
  weft__io *io = weft__io_current();
  struct hold_op *h;
  int rc;
  if ((rc = check_signals(signals, n)))
    return rc;
  if (!io)
    return WEFT_EPERM;
  if (!(h = (struct hold_op *)weft__io_op_new_extra(&hold_kind, n * sizeof h->signals[0])))
    return WEFT_ENOMEM;
  h->hold = hold;
  h->n = n;
  memcpy(h->signals, signals, n * sizeof signals[0]);
  weft__wait_note(weft_self(), hold ? "signal hold" : "signal release", 0, -1);
  rc = weft__io_wait(&h->op, -1, false);
  weft__io_op_unref(&h->op);
  return rc;
}

int weft_signal_hold(const int *signals, size_t n) {
  return hold_or_release(signals, n, true);
}

int weft_signal_release(const int *signals, size_t n) {
  return hold_or_release(signals, n, false);
}

int weft_signal_wait(const int *signals, size_t n, int64_t deadline) {
  weft_task *t;
  struct sig_op *s;
  int rc;

  if ((rc = check_signals(signals, n)))
    return rc;
  if (!(t = weft__blocking_enter()))
    return WEFT_EPERM;
  if (weft__cancel_pending(t))
    return WEFT_ECANCELED;
  /* A deadline already past still goes to the I/O thread: a signal kept
   * by a hold is taken at the op's start, before its deadline is armed. */
  if (!(s = (struct sig_op *)weft__io_op_new_extra(&sig_kind, n * sizeof s->links[0])))
    return WEFT_ENOMEM;
  s->n = n;
  for (size_t i = 0; i < n; i++)
    s->links[i].signum = signals[i];
  weft__wait_note(weft_self(), "signal %lu", (uintptr_t)signals[0], deadline);
  rc = weft__io_wait(&s->op, deadline, true);
  weft__io_op_unref(&s->op);
  return rc;
}
