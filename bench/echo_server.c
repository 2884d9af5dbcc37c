/*
 * echo_server.c - a TCP echo server on weft, the server half of the echo
 * benchmark. It listens on 127.0.0.1; an acceptor task spawns one detached
 * task per connection, and that task sends back whatever it receives until
 * the peer closes its side.
 *
 * Usage: echo_server [-w WORKERS] [-p PORT]
 * PORT 0 (the default) takes any free port. Once it listens, the server
 * prints "PORT <n>" on stdout and serves until it is killed. SIGTERM and
 * SIGINT keep their default action and end it at once: it holds nothing
 * that needs cleaning up. There is no RESULT line; the load and the figure
 * come from bench/peers/go/echo_client. Its twin is
 * bench/peers/go/echo_server/main.go.
 */
#define _POSIX_C_SOURCE 200809L
#define BENCH_NAME "echo_server"

#include "bench.h"

/* Bytes one receive may take; a request of the benchmark is 64. */
#define BUF_SIZE 4096

/* Send back everything the peer sends until it closes, then close. A
 * connection that fails (the peer reset it, say) is closed quietly.
 * The body of a connection task; may switch. */
static void *serve_conn(void *arg) {
  weft_sock *s = arg;
  char buf[BUF_SIZE];

  for (;;) {
    ssize_t n = weft_recv(s, buf, sizeof buf, -1);
    if (n <= 0 || weft_send(s, buf, (size_t)n, -1) < 0)
      break;
  }
  weft_sock_close(s);
  return NULL;
}

int main(int argc, char **argv) {
  bench_server_main(argc, argv, serve_conn);
  return 0;
}
