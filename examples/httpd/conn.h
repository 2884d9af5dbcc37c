/*
 * conn.h - httpd's connections: the server's settings that every
 * connection reads, and the task that serves one connection.
 */
#ifndef HTTPD_CONN_H
#define HTTPD_CONN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <weft.h>

#include "../common/listener.h"

/* The server's settings and counters. Written by main() before weft_main
 * starts; afterwards read-only but for the atomics. */
struct server {
  struct listener listener; /* -H, -p, and the acceptor (listener.h) */
  char *root;               /* DIR's real path */
  size_t root_len;          /* its length, 0 for "/" (every path starts with '/') */
  int64_t request_ms, idle_ms, send_ms;
  bool verbose;
  atomic_long open;     /* connections being served; any task */
  atomic_long requests; /* requests answered; any task */
};

/*
 * Serve the accepted connection sock in a task of its own, which from
 * then on owns sock and closes it. Counts it in sv->open while it lasts.
 * Returns 0, or WEFT_ENOMEM or another weft_spawn error (sock is then
 * still the caller's). Inside a task.
 */
int conn_start(struct server *sv, weft_sock *sock);

#endif
