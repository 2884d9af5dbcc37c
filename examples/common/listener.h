/*
 * listener.h - what the example servers (echo, httpd) do alike: listen on
 * a TCP address, accept each connection into a task of its own, and stop
 * accepting on SIGINT or SIGTERM. What a connection does is the
 * program's: it hands the listener a start function.
 *
 * Two tasks: the program's main task runs listener_run, which listens,
 * announces the address, spawns the acceptor and then waits for a stop
 * signal (stop.h); the acceptor loops on weft_tcp_accept and calls start
 * for each connection. After a signal the main task cancels the acceptor,
 * waits for it and closes the listening socket; the connection tasks go
 * on until weft_main's shutdown cancels them, once the main task returns.
 */
#ifndef EXAMPLES_LISTENER_H
#define EXAMPLES_LISTENER_H

#include <stdatomic.h>
#include <weft.h>

struct listener {
  const char *prog;        /* the program's name, for messages; set by the caller */
  const char *host, *port; /* where to listen; set by the caller */
  /* Serve sock in a task of its own, which from then on owns it. Returns
   * 0, or a WEFT_E* code (sock is then closed by the acceptor). Called in
   * the acceptor task; set by the caller. */
  int (*start)(void *arg, weft_sock *sock);
  void *arg;            /* start's first argument; set by the caller */
  weft_sock *sock;      /* the listening socket; main task only */
  weft_task *acceptor;  /* the accepting task; main task only */
  atomic_long accepted; /* connections started; any task */
};

/*
 * Take one of the servers' common options: -H host and -p port into l,
 * -w workers (1 to 1024) into cfg. Returns 1 when opt was one of them, 0
 * when it is not, -1 after a message on stderr when its argument is bad.
 * Call from main(), with getopt's opt and optarg.
 */
int listener_option(struct listener *l, weft_config *cfg, int opt, const char *arg);

/*
 * Listen on l->host:l->port, print "PROG: listening on ADDRESS:PORT" on
 * stdout (SIGINT and SIGTERM are held before, so a signal sent by someone
 * who read that line is not missed), and accept connections into l->start
 * until one of the signals arrives or the calling task is cancelled; then
 * stop accepting and close the listening socket. Returns 0, or 1 after a
 * message on stderr. May switch; the main task.
 */
int listener_run(struct listener *l);

#endif
