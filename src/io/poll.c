/*
 * poll.c - waiting for a file descriptor to become readable or writable:
 * the "wait second" half of "try first, wait second" (sock.c).
 *
 * A task tries its syscall on its own worker; only on EAGAIN does it ask
 * the I/O thread to watch the fd, as an io op (op.c), and park.
 *
 * libuv allows one uv_poll_t per fd in a loop (a second one makes epoll
 * misbehave), but several tasks may wait on one socket (a reader and a
 * writer). So each fd has one watch on the I/O thread, holding the list of
 * waiting ops; the poll's event mask is the union of what they wait for
 * and is stopped when nobody waits. A weft_sock keeps its watch until it
 * is closed; weft_fd_wait on any other fd makes a watch for that one wait
 * and closes it afterwards, and a second concurrent wait on the same fd
 * gets WEFT_EBUSY. weft_fd_wait on a weft_sock's fd joins the socket's
 * watch, and a socket whose fd a weft_fd_wait watches already adopts that
 * watch, so an fd never has two.
 *
 * Every structure here is touched by the I/O thread only, except the op's
 * immutable request fields, written by the task before it parks.
 */
#include "io/sock.h"

#include <stdlib.h>
#include <uv.h>

struct weft__watch {
  uv_poll_t poll;
  int fd;
  weft_sock *sock;            /* owner, or NULL for a one-wait watch */
  struct poll_op *waiters;    /* the ops waiting on this fd */
  struct weft__watch *next;   /* every watch of this I/O thread */
  struct weft__watch **prevp;
  weft__io_op *closer;        /* a close op to finish once the poll is closed */
  int armed;                  /* the events the poll is started with, 0: stopped */
};

struct poll_op {
  weft__io_op op;
  weft_sock *sock;            /* or NULL: fd_wait */
  int fd;
  int events;                 /* UV_READABLE | UV_WRITABLE wanted */
  int revents;                /* what was ready */
  struct weft__watch *watch;
  struct poll_op *next;       /* watch->waiters, then the list to wake */
  int rc;                     /* the result, between complete and wake_all */
};

static void watch_update(struct weft__watch *w);

/* Take p off its watch and note its result; the caller wakes it with
 * wake_all after watch_update, so that libuv has let go of a one-wait
 * watch's fd (epoll_ctl) before the task can close it and the number is
 * reused. */
static void complete(struct poll_op *p, int rc, struct poll_op **wake) {
  struct poll_op **pp = &p->watch->waiters;
  while (*pp != p)
    pp = &(*pp)->next;
  *pp = p->next;
  p->rc = rc;
  p->next = *wake;
  *wake = p;
}

static void wake_all(struct poll_op *p) {
  struct poll_op *next;
  for (; p; p = next) {
    next = p->next;
    weft__io_finish(&p->op, p->rc);
    weft__io_op_unref(&p->op); /* the I/O thread's reference */
  }
}

static void watch_closed(uv_handle_t *h) {
  struct weft__watch *w = h->data;
  if (w->closer)
    weft__io_finish(w->closer, 0);
  free(w);
}

static void watch_close(struct weft__watch *w) {
  *w->prevp = w->next;
  if (w->next)
    w->next->prevp = w->prevp;
  if (w->sock)
    w->sock->watch = NULL;
  uv_close((uv_handle_t *)&w->poll, watch_closed);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  struct weft__watch *w = h->data;
  struct poll_op *p, *next, *wake = NULL;
  bool useful = false;

  if (status < 0)
    w->armed = 0; /* libuv stopped the poll */
  for (p = w->waiters; p; p = next) {
    next = p->next;
    if (status < 0) {
      /* libuv reports POLLERR as UV_EBADF and stops the poll. The waiters
       * retry their system call, which tells the real error (a refused
       * connect's SO_ERROR, a reset's ECONNRESET). */
      p->revents = p->events;
      complete(p, 0, &wake);
      useful = true;
    } else if (p->events & events) {
      p->revents = events & (p->events | UV_DISCONNECT);
      complete(p, 0, &wake);
      useful = true;
    }
  }
  if (!useful) /* nobody wanted this: arm for the waiters there are */
    w->armed = 0;
  watch_update(w);
  wake_all(wake);
}

/*
 * The poll follows the waiters lazily. Stopping and restarting a uv_poll_t
 * costs epoll_ctl calls, and a connection that waits, reads, answers and
 * waits again would pay them on every request. So a socket's poll stays
 * armed after its waiters are served, and is narrowed to what the current
 * waiters want only when it fires for nobody (readiness is level-triggered,
 * so that happens at most once per idle spell). A one-wait watch closes as
 * soon as its wait is over.
 */
static void watch_update(struct weft__watch *w) {
  int want = 0;
  for (struct poll_op *p = w->waiters; p; p = p->next)
    want |= p->events;
  if (!w->sock && !want) {
    watch_close(w);
    return;
  }
  if (w->armed == 0 && want == 0) {
    uv_poll_stop(&w->poll);
    return;
  }
  if ((want | w->armed) != w->armed) {
    w->armed |= want;
    uv_poll_start(&w->poll, w->armed, on_poll);
  } else if (w->armed && !uv_is_active((uv_handle_t *)&w->poll)) {
    uv_poll_start(&w->poll, w->armed, on_poll);
  }
}

static struct weft__watch *watch_new(weft__io *io, int fd, weft_sock *sock, int *rc) {
  struct weft__watch *w = calloc(1, sizeof *w), **head = weft__io_watches(io);
  if (!w) {
    *rc = WEFT_ENOMEM;
    return NULL;
  }
  *rc = sock ? uv_poll_init_socket(weft__io_loop(io), &w->poll, fd)
             : uv_poll_init(weft__io_loop(io), &w->poll, fd);
  if (*rc) {
    free(w);
    return NULL;
  }
  w->poll.data = w;
  w->fd = fd;
  w->sock = sock;
  w->next = *head;
  if (w->next)
    w->next->prevp = &w->next;
  w->prevp = head;
  *head = w;
  return w;
}

/* The watch for p's fd: the socket's own, or a fresh one-wait watch. */
/* The watch p waits on: its socket's, the one already on its fd, or a new
 * one. I/O thread only. */
static struct weft__watch *watch_for(struct poll_op *p, int *rc) {
  weft__io *io = p->op.io;
  struct weft__watch *w = p->sock ? p->sock->watch : NULL;

  for (w = w ? w : *weft__io_watches(io); w && w->fd != p->fd; w = w->next)
    ;
  if (!w) {
    w = watch_new(io, p->fd, p->sock, rc);
  } else if (!w->sock && !p->sock) {
    *rc = WEFT_EBUSY; /* another task waits on this fd already */
    return NULL;
  } else if (!w->sock) {
    w->sock = p->sock; /* a weft_fd_wait's watch becomes the socket's */
  }
  if (w && p->sock)
    p->sock->watch = w;
  return w;
}

static void poll_start(weft__io_op *op) {
  struct poll_op *p = container_of(op, struct poll_op, op);
  int rc = 0;

  p->watch = watch_for(p, &rc);
  if (!p->watch) {
    weft__io_finish(op, rc);
    weft__io_op_unref(op); /* the I/O thread's reference */
    return;
  }
  p->next = p->watch->waiters;
  p->watch->waiters = p;
  watch_update(p->watch);
}

/* Cancelled, or past its deadline (op.c). */
static void poll_cancel(weft__io_op *op, int result) {
  struct poll_op *p = container_of(op, struct poll_op, op), *wake = NULL;
  struct weft__watch *w = p->watch;
  complete(p, result, &wake);
  watch_update(w);
  wake_all(wake);
}

static const weft__io_op_kind poll_kind = {
    .size = sizeof(struct poll_op),
    .start = poll_start,
    .cancel = poll_cancel,
};
WEFT__IO_OP_FIRST(struct poll_op);

/* Wait until fd (of sock, or a foreign fd when sock is NULL) has one of
 * events (UV_READABLE, UV_WRITABLE). Returns the ready events, or an error.
 * Task only; parks. */
int weft__poll_wait(weft_sock *sock, int fd, int events, int64_t deadline) {
  struct poll_op *p;
  int rc;

  if (deadline == 0)
    return WEFT_ETIMEDOUT;
  p = (struct poll_op *)weft__io_op_new(&poll_kind);
  if (!p)
    return WEFT_ENOMEM;
  p->sock = sock;
  p->fd = fd;
  p->events = events;
  if (sock)
    atomic_store(&sock->watched, true);
  weft__wait_note(weft_self(),
                  events == WEFT_READABLE   ? "fd %lu readable"
                  : events == WEFT_WRITABLE ? "fd %lu writable"
                                            : "fd %lu readable or writable",
                  (uintptr_t)fd, deadline);
  rc = weft__io_wait(&p->op, deadline, true);
  if (rc == 0)
    rc = p->revents;
  weft__io_op_unref(&p->op);
  return rc;
}

/* ---- closing a watched socket ---- */

static void close_start(weft__io_op *op) {
  weft_sock *s = ((struct weft__sock_close_op *)op)->sock;
  struct weft__watch *w = s->watch;
  struct poll_op *p;

  if (!w) {
    weft__io_finish(op, 0);
    weft__io_op_unref(op);
    return;
  }
  struct poll_op *wake = NULL;
  while ((p = w->waiters)) /* tasks still waiting on it learn it is gone */
    complete(p, WEFT_EBADF, &wake);
  w->closer = op;
  watch_close(w);
  wake_all(wake);
  weft__io_op_unref(op); /* finished, and done with, in watch_closed */
}

static void close_cancel(weft__io_op *op, int result) {
  (void)op; /* a close runs to its end (and has no deadline): the */
  (void)result; /* watch's close callback finishes it */
}

static const weft__io_op_kind close_kind = {
    .size = sizeof(struct weft__sock_close_op),
    .start = close_start,
    .cancel = close_cancel,
};
WEFT__IO_OP_FIRST(struct weft__sock_close_op);

/* Close the I/O thread's watch of s (waking its waiters with WEFT_EBADF)
 * and wait until libuv has let go of the fd. Task only; parks, not
 * cancellable. */
int weft__poll_forget(weft_sock *s) {
  struct weft__sock_close_op *c = (struct weft__sock_close_op *)weft__io_op_new(&close_kind);
  int rc;
  if (!c)
    return WEFT_ENOMEM;
  c->sock = s;
  rc = weft__io_wait(&c->op, -1, false);
  weft__io_op_unref(&c->op);
  return rc;
}

/* At shutdown: close every watch still open (sockets never closed). */
void weft__poll_close_all(weft__io *io) {
  struct weft__watch *w;
  while ((w = *weft__io_watches(io)))
    watch_close(w);
}
