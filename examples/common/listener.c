/*
 * listener.c - listening, accepting and stopping for the example servers
 * (see listener.h).
 */
#define _GNU_SOURCE
#include "listener.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <sys/socket.h>

#include "stop.h"
#include "util.h"

/* The listen(2) backlog: room for a burst of a thousand clients. */
#define LISTENER_BACKLOG 4096

/* Accept connections until cancelled, handing each to l->start. May
 * switch; the acceptor task. */
static void *listener_accept(void *arg) {
  struct listener *l = arg;

  for (;;) {
    weft_sock *s;
    int rc = weft_tcp_accept(l->sock, &s, -1);

    if (rc == WEFT_ECANCELED)
      return NULL;
    if (rc == WEFT_EMFILE || rc == -ENFILE || rc == WEFT_ENOMEM) {
      weft_sleep(10); /* out of descriptors or memory: let connections end */
      continue;
    }
    if (rc) {
      fprintf(stderr, "%s: accept: %s\n", l->prog, weft_strerror(rc));
      continue;
    }
    if (l->start(l->arg, s) != 0) {
      weft_sock_close(s);
      continue;
    }
    atomic_fetch_add(&l->accepted, 1);
  }
}

/* Print "PROG: listening on ADDRESS:PORT" from the socket's own address. */
static void listener_announce(struct listener *l) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char host[INET6_ADDRSTRLEN] = "?";

  ss.ss_family = AF_INET;
  if (weft_sock_local_addr(l->sock, (struct sockaddr *)&ss, &len) == 0)
    getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, NULL, 0, NI_NUMERICHOST);
  printf(ss.ss_family == AF_INET6 ? "%s: listening on [%s]:%d\n" : "%s: listening on %s:%d\n",
         l->prog, host, weft_sock_port(l->sock));
  fflush(stdout);
}

/* -H, -p or -w (see listener.h). */
int listener_option(struct listener *l, weft_config *cfg, int opt, const char *arg) {
  long workers;

  switch (opt) {
  case 'H':
    l->host = arg;
    return 1;
  case 'p':
    l->port = arg;
    return 1;
  case 'w':
    if (util_number(l->prog, "-w", arg, 1, 1024, &workers))
      return -1;
    cfg->workers = (unsigned)workers;
    return 1;
  default:
    return 0;
  }
}

/* Listen, accept until a signal, stop (see listener.h). May switch. */
int listener_run(struct listener *l) {
  int rc;

  if (stop_hold(l->prog))
    return 1;
  if ((rc = weft_tcp_listen(&l->sock, l->host, l->port, LISTENER_BACKLOG))) {
    fprintf(stderr, "%s: listen on %s:%s: %s\n", l->prog, *l->host ? l->host : "*", l->port,
            weft_strerror(rc));
    return 1;
  }
  listener_announce(l);
  if ((rc = weft_spawn(&l->acceptor, listener_accept, l))) {
    fprintf(stderr, "%s: %s\n", l->prog, weft_strerror(rc));
    weft_sock_close(l->sock);
    return 1;
  }
  stop_wait(); /* a signal, or cancelled: stop either way */
  weft_cancel(l->acceptor);
  weft_join(l->acceptor, NULL);
  weft_sock_close(l->sock);
  return 0;
}
