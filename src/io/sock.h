/*
 * sock.h - what the socket, poll and resolver files of the I/O layer share.
 */
#ifndef WEFT_IO_SOCK_H
#define WEFT_IO_SOCK_H

#include "io/io.h"

#include <sys/socket.h>

#define WEFT_SOCK_MAGIC 0x736f636bu /* "sock" */

struct weft__watch;

struct weft_sock {
  uint32_t magic;            /* WEFT_SOCK_MAGIC until closed */
  int fd;                    /* non-blocking, close-on-exec; immutable */
  bool listener;             /* immutable */
  atomic_bool watched;       /* a wait was ever sent to the I/O thread */
  struct weft__watch *watch; /* I/O thread only (poll.c) */
};

/* A close op: poll.c closes the socket's watch. */
struct weft__sock_close_op {
  weft__io_op op;
  weft_sock *sock;
};

/* A weft_sock around a connected, non-blocking stream fd (proc.c's pipes). */
weft_sock *weft__sock_wrap(int fd);

int weft__poll_wait(weft_sock *sock, int fd, int events, int64_t deadline);
int weft__poll_forget(weft_sock *s);
void weft__poll_close_all(weft__io *io);

/* The I/O thread's list of watches (poll.c). I/O thread only. */
struct weft__watch **weft__io_watches(weft__io *io);

/* Resolve host:port (dns.c). Numeric hosts are parsed on the spot; names go
 * to libuv's resolver on the I/O thread. passive: for bind. Task only. */
int weft__resolve(const char *host, const char *port, int passive, struct addrinfo **out);

/* libuv's error codes as WEFT_E* codes (errno codes pass through). */
int weft__uv_error(int uv_code);

#endif /* WEFT_IO_SOCK_H */
