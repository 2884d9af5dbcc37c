/*
 * signal.c - weft_signal_wait: tasks that wait for POSIX signals, served
 * by libuv's signal handles on the I/O thread, as an io op (loop.c).
 *
 * The table (struct weft__sigs, one per runtime, I/O thread only) has a
 * slot per signal number with a FIFO of the links of the ops waiting for
 * it. An op waiting for n signals has n links, one in each slot's FIFO.
 *
 *  - A slot is armed while its FIFO is not empty: the first link saves the
 *    process's disposition of the signal (sigaction) and starts a
 *    uv_signal_t; when the last link leaves, the handle is stopped and
 *    closed and the saved disposition is put back. So a program's own
 *    handler, SIG_IGN or the default action is back whenever no task
 *    waits, and at weft_rt_free, which cannot return while a task waits.
 *  - Each arrival wakes one waiter: libuv calls the callback once per
 *    signal received, and the callback finishes the op of the first link
 *    in that slot, with the signal's number. Finishing an op unlinks all
 *    its links, so one op is never woken twice; an arrival that finds the
 *    FIFO empty cannot happen, since the handle is stopped in the same
 *    turn of the loop that empties it.
 *  - A deadline is a timer in the op; a cancel (loop.c, "io op") unlinks
 *    the op like an arrival does. Everything here runs on the I/O thread,
 *    so the FIFOs and the `done` flag need no lock; the io op protocol
 *    makes the wakeup happen exactly once.
 */
#include "io/io.h"

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
  uv_signal_t *handle; /* while armed */
  struct sigaction saved; /* the disposition before arming */
};

struct weft__sigs {
  weft__io *io;
  struct sig_slot slot[NSIG];
};

struct sig_op {
  weft__io_op op;
  uv_timer_t timer;   /* the deadline, when there is one */
  int64_t deadline;   /* -1: none */
  bool done;          /* finished; I/O thread only */
  size_t n;
  struct sig_link links[]; /* one per signal asked for */
};

static void destroy(weft__io_op *op) {
  free(container_of(op, struct sig_op, op));
}

static void handle_closed(uv_handle_t *h) {
  free(h);
}

static void on_signal(uv_signal_t *h, int signum);

/* Start watching signum: save its disposition and start a handle. */
static int arm(struct weft__sigs *sg, struct sig_slot *sl, int signum) {
  uv_signal_t *h = malloc(sizeof *h);
  int rc;
  if (!h)
    return WEFT_ENOMEM;
  sigaction(signum, NULL, &sl->saved);
  uv_signal_init(weft__io_loop(sg->io), h);
  h->data = sg;
  if ((rc = uv_signal_start(h, on_signal, signum))) {
    uv_close((uv_handle_t *)h, handle_closed);
    return rc;
  }
  sl->handle = h;
  return 0;
}

/* Nobody waits for signum any more: stop, and restore the disposition. */
static void disarm(struct sig_slot *sl, int signum) {
  uv_signal_stop(sl->handle); /* libuv sets SIG_DFL when it was the last */
  uv_close((uv_handle_t *)sl->handle, handle_closed);
  sl->handle = NULL;
  sigaction(signum, &sl->saved, NULL);
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
    if (!sl->head && sl->handle)
      disarm(sl, l->signum);
  }
}

static void op_closed(uv_handle_t *h) {
  struct sig_op *s = h->data;
  weft__io_op_unref(&s->op); /* the I/O thread's reference */
}

/* Wake s's task with result, once; drop the I/O thread's reference. */
static void end(struct sig_op *s, int result) {
  struct weft__sigs *sg = *weft__io_sigs(s->op.io);
  if (s->done)
    return;
  s->done = true;
  unlink_all(sg, s);
  weft__io_finish(&s->op, result);
  if (s->deadline >= 0) {
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, op_closed);
  } else {
    weft__io_op_unref(&s->op);
  }
}

static void on_signal(uv_signal_t *h, int signum) {
  struct weft__sigs *sg = h->data;
  struct sig_link *l = sg->slot[signum].head;
  if (l)
    end(l->op, signum);
}

static void on_deadline(uv_timer_t *tm) {
  struct sig_op *s = tm->data;
  int64_t left = s->deadline - weft_now();
  if (left > 0) { /* the loop clock ran ahead of ours (timer.c) */
    uv_timer_start(&s->timer, on_deadline, (uint64_t)left, 0);
    return;
  }
  end(s, WEFT_ETIMEDOUT);
}

static void start(weft__io_op *op) {
  struct sig_op *s = container_of(op, struct sig_op, op);
  struct weft__sigs **sgp = weft__io_sigs(op->io), *sg = *sgp;
  int rc = 0;

  if (s->deadline >= 0) {
    uv_timer_init(weft__io_loop(op->io), &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, on_deadline, weft__io_timeout(op->io, s->deadline), 0);
  }
  if (!sg && (sg = calloc(1, sizeof *sg))) {
    sg->io = op->io;
    *sgp = sg;
  }
  if (!sg) {
    end(s, WEFT_ENOMEM);
    return;
  }
  for (size_t i = 0; i < s->n && !rc; i++) {
    struct sig_link *l = &s->links[i];
    struct sig_slot *sl = &sg->slot[l->signum];
    if (!sl->head && (rc = arm(sg, sl, l->signum)))
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
    end(s, rc);
}

static void cancel(weft__io_op *op) {
  end(container_of(op, struct sig_op, op), WEFT_ECANCELED);
}

int weft_signal_wait(const int *signals, size_t n, int64_t deadline) {
  weft__io *io = weft__io_current();
  struct sig_op *s;
  int rc;

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
  if (!io)
    return WEFT_EPERM;
  if (weft_canceled())
    return WEFT_ECANCELED;
  if (deadline >= 0 && deadline <= weft_now())
    return WEFT_ETIMEDOUT;
  if (!(s = calloc(1, sizeof *s + n * sizeof s->links[0])))
    return WEFT_ENOMEM;
  s->deadline = deadline;
  s->n = n;
  for (size_t i = 0; i < n; i++)
    s->links[i].signum = signals[i];
  weft__wait_note(weft_self(), "signal %lu", (uintptr_t)signals[0], deadline);
  s->op.start = start;
  s->op.cancel = cancel;
  s->op.destroy = destroy;
  rc = weft__io_wait(io, &s->op, true);
  weft__io_op_unref(&s->op);
  return rc;
}
