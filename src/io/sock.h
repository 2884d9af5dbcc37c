/*
 * sock.h - what the socket, poll and resolver files of the I/O layer share.
 */
#ifndef WEFT_IO_SOCK_H
#define WEFT_IO_SOCK_H

#include "io/io.h"

#include <sys/socket.h>

#define WEFT_SOCK_MAGIC 0x736f636bu /* "sock" */

struct weft__watch;

/* A socket's waiting room for untimed waits (netpoll.c, protocol
 * "netpoll"). Index 0 is reading, 1 writing. */
struct weft__np_wait;
struct weft__pd {
  weft__spinlock lock;
  atomic_bool joined;     /* in the runtime's epoll set; set under lock */
  bool closed;            /* under lock */
  bool ready[2];          /* under lock: an event came while nobody waited */
  struct weft__np_wait *waiters[2]; /* under lock: the tasks parked on it */
  int refs;               /* under lock: the socket's own and each waiter's */
  weft__io *io;           /* set when it joins, under lock; immutable after */
  weft__io_msg free_msg;  /* the last reference frees the socket through it */
};

struct weft_sock {
  uint32_t magic;            /* WEFT_SOCK_MAGIC until closed */
  int fd;                    /* non-blocking, close-on-exec; immutable */
  bool listener;             /* immutable */
  atomic_bool watched;       /* a wait was ever sent to the I/O thread */
  struct weft__watch *watch; /* I/O thread only (poll.c) */
  struct weft__pd pd;        /* netpoll.c */
};

/* A close op: poll.c closes the socket's watch. */
struct weft__sock_close_op {
  weft__io_op op;
  weft_sock *sock;
};

/* A weft_sock around a connected, non-blocking stream fd (proc.c's pipes). */
weft_sock *weft__sock_wrap(int fd);

int weft__poll_wait(weft_sock *sock, int fd, int events, int64_t deadline);

/* Untimed waits on a socket, and its close once it joined the runtime's
 * epoll set (netpoll.c, protocol "netpoll"). Task only. */
int weft__netpoll_wait(weft_sock *s, int events);
int weft__netpoll_close(weft_sock *s);
/* The tick's backstop: read the epoll set's events, if tasks wait there,
 * and wake their tasks. I/O thread. */
void weft__netpoll_dispatch(weft__io *io);
/* The set's lock: held while a batch of its events is read and handled. */
weft__spinlock *weft__io_np_lock(weft__io *io);
/* Tasks waiting in the set now (relaxed; a hint). Any thread. */
long weft__io_netwaits(weft__io *io);
/* The runtime's epoll set (loop.c); any thread. */
int weft__io_epfd(weft__io *io);
/* The waiting set (the epoll set and the kick) and the kick's eventfd
 * (loop.c); any thread. */
int weft__io_waitfd(weft__io *io);
int weft__io_kickfd(weft__io *io);
/* Count tasks waiting in netpoll rooms (deadlock detection); any thread. */
void weft__io_netwaits_add(weft__io *io, int delta);
/* Count sockets in the set (weft_rt_stats's io_handles); any thread. */
void weft__io_netsocks_add(weft__io *io, int delta);
int weft__poll_forget(weft_sock *s);
void weft__poll_close_all(weft__io *io);

/* The I/O thread's list of watches (poll.c). I/O thread only. */
struct weft__watch **weft__io_watches(weft__io *io);

/* Resolve host:port (dns.c). Numeric hosts are parsed on the spot; names go
 * to libuv's resolver on the I/O thread. passive: for bind. Task only. */
int weft__resolve(const char *host, const char *port, int passive, struct addrinfo **out);

#endif /* WEFT_IO_SOCK_H */
