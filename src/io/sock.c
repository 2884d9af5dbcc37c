/*
 * sock.c - TCP over IPv4 and IPv6: listen, accept, connect, recv, send,
 * shutdown, close, addresses, and weft_fd_wait.
 *
 * Try first, wait second: sockets are non-blocking,
 * and a task makes the system call itself, on its worker. Only on EAGAIN
 * does it wait for readiness through the I/O thread (poll.c) and retry, so
 * a busy connection never leaves its worker.
 *
 * SIGPIPE never kills the process and weft never changes its disposition:
 * every send passes MSG_NOSIGNAL. errno is read right after the call that
 * set it, before anything could switch this task to another thread.
 */
#define _GNU_SOURCE
#include "io/sock.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

_Static_assert(WEFT_READABLE == UV_READABLE && WEFT_WRITABLE == UV_WRITABLE,
               "weft's event bits are libuv's");

static bool sock_valid(const weft_sock *s) {
  return s && s->magic == WEFT_SOCK_MAGIC;
}

static weft_sock *sock_new(int fd, bool listener) {
  weft_sock *s = calloc(1, sizeof *s);
  if (s) {
    s->magic = WEFT_SOCK_MAGIC;
    s->fd = fd;
    s->listener = listener;
    weft__spin_init(&s->pd.lock);
    atomic_init(&s->pd.joined, false);
  }
  return s;
}

weft_sock *weft__sock_wrap(int fd) {
  return sock_new(fd, false);
}

static void nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Common entry checks of a blocking socket call. */
static int enter(const weft_sock *s) {
  weft_task *t = weft__blocking_enter();
  if (!t)
    return WEFT_EPERM;
  if (!sock_valid(s))
    return WEFT_EBADF;
  if (weft__cancel_pending(t))
    return WEFT_ECANCELED;
  return 0;
}

/* Wait until s may be ready for events: untimed waits in the socket's
 * own waiting room (netpoll.c), timed ones through an io op whose timer
 * starts with it (poll.c). Returns >= 0 (try again) or an error. */
static int wait_ready(weft_sock *s, int events, int64_t deadline) {
  if (deadline < 0)
    return weft__netpoll_wait(s, events);
  return weft__poll_wait(s, s->fd, events, deadline);
}

/* ---- listen and accept ---- */

static int listen_on(const struct addrinfo *ai, int backlog) {
  int one = 1, fd, rc;
  fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0)
    return -errno;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ai->ai_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
    rc = -errno;
    close(fd);
    return rc;
  }
  return fd;
}

int weft_tcp_listen(weft_sock **out, const char *host, const char *port, int backlog) {
  struct addrinfo *ai, *a;
  int fd = WEFT_EINVAL, rc;

  if (!out)
    return WEFT_EINVAL;
  *out = NULL;
  if (backlog <= 0)
    backlog = SOMAXCONN;
  if ((rc = weft__resolve(host, port, 1, &ai)))
    return rc;
  for (a = ai; a; a = a->ai_next) /* the first address that binds */
    if ((fd = listen_on(a, backlog)) >= 0)
      break;
  freeaddrinfo(ai);
  if (fd < 0)
    return fd;
  if (!(*out = sock_new(fd, true))) {
    close(fd);
    return WEFT_ENOMEM;
  }
  return 0;
}

int weft_tcp_accept(weft_sock *l, weft_sock **out, int64_t deadline) {
  int rc, fd;

  if (!out)
    return WEFT_EINVAL;
  *out = NULL;
  if ((rc = enter(l)))
    return rc;
  if (!l->listener)
    return WEFT_EINVAL;
  for (;;) {
    fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0)
      break;
    rc = -errno;
    if (rc == -EINTR || rc == -ECONNABORTED)
      continue;
    if (rc != -EAGAIN && rc != -EWOULDBLOCK)
      return rc; /* WEFT_EMFILE and friends: the listener stays usable */
    if ((rc = wait_ready(l, WEFT_READABLE, deadline)) < 0)
      return rc;
  }
  nodelay(fd);
  if (!(*out = sock_new(fd, false))) {
    close(fd);
    return WEFT_ENOMEM;
  }
  return 0;
}

/* ---- connect ---- */

/* One address: a non-blocking connect, waited for through the I/O thread. */
static int connect_one(const struct addrinfo *a, int64_t deadline, int *out_fd) {
  int fd, rc, err = 0;
  socklen_t len = sizeof err;

  fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
  if (fd < 0)
    return -errno;
  if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
    rc = -errno;
    if (rc != -EINPROGRESS)
      goto out_close;
    rc = weft__poll_wait(NULL, fd, WEFT_WRITABLE, deadline);
    if (rc < 0)
      goto out_close;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
      err = errno;
    if (err) {
      rc = -err;
      goto out_close;
    }
  }
  nodelay(fd);
  *out_fd = fd;
  return 0;

out_close:
  close(fd);
  return rc;
}

int weft_tcp_connect(weft_sock **out, const char *host, const char *port, int64_t deadline) {
  struct addrinfo *ai, *a;
  weft_task *t;
  int rc, fd = -1;

  if (!out)
    return WEFT_EINVAL;
  *out = NULL;
  if (!(t = weft__blocking_enter()))
    return WEFT_EPERM;
  if (weft__cancel_pending(t))
    return WEFT_ECANCELED;
  if (!host || !*host)
    return WEFT_EINVAL;
  if ((rc = weft__resolve(host, port, 0, &ai)))
    return rc;
  rc = WEFT_EINVAL;
  for (a = ai; a; a = a->ai_next) { /* every address, in order */
    rc = connect_one(a, deadline, &fd);
    if (rc == 0 || rc == WEFT_ECANCELED || rc == WEFT_ETIMEDOUT)
      break;
  }
  freeaddrinfo(ai);
  if (rc)
    return rc;
  if (!(*out = sock_new(fd, false))) {
    close(fd);
    return WEFT_ENOMEM;
  }
  return 0;
}

/* ---- data ---- */

/* Entry checks of recv and send. */
static int enter_data(const weft_sock *s, const void *buf, size_t len) {
  int rc = enter(s);
  if (rc)
    return rc;
  if ((!buf && len) || s->listener)
    return WEFT_EINVAL;
  return 0;
}

/* One recv or send, tried on this worker first; on EAGAIN, wait for the
 * I/O thread's word that the socket is ready, and try again. Returns the
 * count moved or an error. */
static ssize_t transfer(weft_sock *s, bool out, void *buf, size_t len, int64_t deadline) {
  ssize_t n;
  int rc;
  for (;;) {
    n = out ? send(s->fd, buf, len, MSG_NOSIGNAL) : recv(s->fd, buf, len, 0);
    if (n >= 0)
      return n;
    rc = -errno; /* read at once: a wait below may move this task to another thread */
    if (rc == -EINTR)
      continue;
    if (rc != -EAGAIN && rc != -EWOULDBLOCK)
      return rc;
    rc = wait_ready(s, out ? WEFT_WRITABLE : WEFT_READABLE, deadline);
    if (rc < 0)
      return rc;
  }
}

ssize_t weft_recv(weft_sock *s, void *buf, size_t len, int64_t deadline) {
  int rc = enter_data(s, buf, len);
  return rc ? rc : transfer(s, false, buf, len, deadline);
}

int weft_send(weft_sock *s, const void *buf, size_t len, int64_t deadline) {
  char *p = (char *)buf;
  ssize_t n;
  int rc = enter_data(s, buf, len);

  while (rc == 0 && len > 0) {
    n = transfer(s, true, p, len, deadline);
    if (n < 0)
      return (int)n;
    p += n;
    len -= (size_t)n;
  }
  return rc;
}

int weft_sock_shutdown(weft_sock *s, int how) {
  if (!sock_valid(s))
    return WEFT_EBADF;
  if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
    return WEFT_EINVAL;
  return shutdown(s->fd, how) < 0 ? -errno : 0;
}

int weft_sock_close(weft_sock *s) {
  int rc = 0;
  if (!sock_valid(s))
    return WEFT_EBADF;
  if ((atomic_load(&s->watched) || atomic_load(&s->pd.joined)) && !weft_self())
    return WEFT_EPERM; /* the I/O thread must let go first: from a task */
  if (atomic_load(&s->watched))
    rc = weft__poll_forget(s);
  s->magic = 0;
  if (atomic_load_explicit(&s->pd.joined, memory_order_relaxed)) {
    int err = weft__netpoll_close(s); /* closes the fd; the I/O thread frees s */
    return rc ? rc : err;
  }
  if (close(s->fd) < 0 && rc == 0)
    rc = -errno;
  free(s);
  return rc;
}

/* ---- addresses ---- */

static int addr_of(weft_sock *s, struct sockaddr *addr, socklen_t *len, bool peer) {
  if (!sock_valid(s))
    return WEFT_EBADF;
  if (!addr || !len)
    return WEFT_EINVAL;
  if ((peer ? getpeername(s->fd, addr, len) : getsockname(s->fd, addr, len)) < 0)
    return -errno;
  return 0;
}

int weft_sock_local_addr(weft_sock *s, struct sockaddr *addr, socklen_t *len) {
  return addr_of(s, addr, len, false);
}

int weft_sock_peer_addr(weft_sock *s, struct sockaddr *addr, socklen_t *len) {
  return addr_of(s, addr, len, true);
}

int weft_sock_port(weft_sock *s) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int rc = weft_sock_local_addr(s, (struct sockaddr *)&ss, &len);
  if (rc)
    return rc;
  if (ss.ss_family == AF_INET)
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  if (ss.ss_family == AF_INET6)
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return WEFT_EINVAL;
}

int weft_sock_fd(weft_sock *s) {
  return sock_valid(s) ? s->fd : WEFT_EBADF;
}

/* ---- any other fd ---- */

int weft_fd_wait(int fd, int events, int64_t deadline) {
  weft_task *t = weft__blocking_enter();
  if (!t)
    return WEFT_EPERM;
  if (fd < 0)
    return WEFT_EBADF;
  if (!events || (events & ~(WEFT_READABLE | WEFT_WRITABLE)))
    return WEFT_EINVAL;
  if (weft__cancel_pending(t))
    return WEFT_ECANCELED;
  return weft__poll_wait(NULL, fd, events, deadline);
}
