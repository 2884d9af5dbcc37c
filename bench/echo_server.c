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

#include <weft.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Bytes one receive may take; a request of the benchmark is 64. */
#define BUF_SIZE 4096

/* The command line's settings. */
struct opts {
  unsigned workers;
  unsigned port;
};

/* Print what failed and why, then end the process. */
static void die(const char *what, int err) {
  fprintf(stderr, "echo_server: %s: %s\n", what, weft_strerror(err));
  exit(1);
}

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

/* Give a new connection its own detached task, or close it when no task
 * can be had. Inside a task. */
static void start_conn(weft_sock *s) {
  int err = weft_spawn(NULL, serve_conn, s);
  if (err < 0) {
    fprintf(stderr, "echo_server: weft_spawn: %s\n", weft_strerror(err));
    weft_sock_close(s);
  }
}

/* Accept connections for ever. Running out of descriptors is waited out;
 * any other failure ends the process. Inside a task. */
static void accept_loop(weft_sock *l) {
  for (;;) {
    weft_sock *s;
    int err = weft_tcp_accept(l, &s, -1);
    if (err == WEFT_EMFILE || err == -ENFILE) {
      weft_sleep(10);
      continue;
    }
    if (err < 0)
      die("weft_tcp_accept", err);
    start_conn(s);
  }
}

/* The main task: listen, announce the port, serve. */
static int serve(void *arg) {
  const struct opts *o = arg;
  char port[16];
  weft_sock *l;

  snprintf(port, sizeof port, "%u", o->port);
  int err = weft_tcp_listen(&l, "127.0.0.1", port, 0);
  if (err < 0)
    die("weft_tcp_listen", err);
  printf("PORT %d\n", weft_sock_port(l));
  fflush(stdout);
  fprintf(stderr, "echo_server: listening on 127.0.0.1:%d with %u workers\n", weft_sock_port(l),
          o->workers);
  accept_loop(l);
  return 0;
}

/* Store s as a whole number in [min, max] in *out; false when it is not one. */
static bool parse_num(const char *s, unsigned long min, unsigned long max, unsigned *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v < min || v > max)
    return false;
  *out = (unsigned)v;
  return true;
}

/* Print how to call the program and exit with status 2. */
static void usage(void) {
  fprintf(stderr, "usage: echo_server [-w WORKERS] [-p PORT]\n");
  exit(2);
}

/* Parse the command line into *o, or print the usage and exit. */
static void parse_args(int argc, char **argv, struct opts *o) {
  int c;
  while ((c = getopt(argc, argv, "w:p:")) != -1) {
    bool ok = false;
    if (c == 'w')
      ok = parse_num(optarg, 1, 1024, &o->workers);
    else if (c == 'p')
      ok = parse_num(optarg, 0, 65535, &o->port);
    if (!ok)
      usage();
  }
  if (optind != argc)
    usage();
}

int main(int argc, char **argv) {
  struct opts o = {2, 0};
  weft_config cfg;

  parse_args(argc, argv, &o);
  weft_config_init(&cfg);
  cfg.workers = o.workers;

  int err = weft_main(&cfg, serve, &o);
  if (err != 0)
    die("weft_main", err);
  return 0;
}
