/*
 * echo - a TCP echo server: one task per connection, each plain sequential
 * code (receive, send back, repeat), thousands at once on a few threads.
 *
 *   echo [-H host] [-p port] [-w workers]
 *
 * It prints the address it listens on ("echo: listening on ADDRESS:PORT"),
 * serves until SIGINT or SIGTERM, then prints how many connections it
 * served and how many were open, and exits cleanly: weft_main's shutdown
 * cancels the connection tasks, which are parked in weft_recv, and they
 * close their sockets.
 *
 * Listening, accepting and stopping are common/listener.c's, shared with
 * httpd: the main task holds SIGINT and SIGTERM before it prints its
 * port, so a signal sent by someone who read that line is never missed,
 * and waits for one with weft_signal_wait. This file is what a
 * connection does.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <weft.h>

#include "common/listener.h"
#include "common/util.h"

struct server {
  struct listener listener;
  atomic_long open; /* connections being served; any task */
};

struct conn {
  struct server *sv;
  weft_sock *sock;
};

/* Echo until the peer closes, an error, or cancellation. May switch. */
static void serve(weft_sock *c) {
  char buf[16384];
  ssize_t n;
  while ((n = weft_recv(c, buf, sizeof buf, -1)) > 0)
    if (weft_send(c, buf, (size_t)n, -1) != 0)
      break;
  weft_sock_close(c);
}

/* The body of a connection task: it owns the socket. */
static void *connection(void *arg) {
  struct conn cn = *(struct conn *)arg;
  free(arg);
  serve(cn.sock);
  atomic_fetch_sub(&cn.sv->open, 1);
  return NULL;
}

/* listener.h's start: a task for the connection. */
static int start_conn(void *arg, weft_sock *sock) {
  struct server *sv = arg;
  struct conn *cn = malloc(sizeof *cn);
  int rc;

  if (!cn)
    return WEFT_ENOMEM;
  cn->sv = sv;
  cn->sock = sock;
  atomic_fetch_add(&sv->open, 1);
  if ((rc = weft_spawn(NULL, connection, cn)) != 0) {
    atomic_fetch_sub(&sv->open, 1);
    free(cn);
  }
  return rc;
}

/* The main task: accept until a signal, then say what was served. */
static int run(void *arg) {
  struct server *sv = arg;

  if (listener_run(&sv->listener))
    return 1;
  printf("echo: %ld connections served, %ld open at shutdown\n",
         atomic_load(&sv->listener.accepted), atomic_load(&sv->open));
  fflush(stdout);
  return 0; /* weft_main cancels the connection tasks and waits for them */
}

static void usage(void) {
  fprintf(stderr, "usage: echo [-H host] [-p port] [-w workers]\n");
  exit(2);
}

int main(int argc, char **argv) {
  struct server sv = {.listener = {.prog = "echo", .host = "127.0.0.1", .port = "7007"}};
  weft_config cfg;
  int opt;

  weft_config_init(&cfg);
  while ((opt = getopt(argc, argv, "H:p:w:h")) != -1)
    if (listener_option(&sv.listener, &cfg, opt, optarg) != 1)
      usage();
  if (optind != argc)
    usage();
  sv.listener.start = start_conn;
  sv.listener.arg = &sv;
  util_raise_fd_limit(); /* room for 10,000 connections and more */
  return weft_main(&cfg, run, &sv);
}
