/*
 * echo - a TCP echo server: one task per connection, each plain sequential
 * code (receive, send back, repeat), thousands at once on a few threads.
 *
 *   echo [-H host] [-p port] [-w workers]
 *
 * It prints the port it listens on, serves until SIGINT or SIGTERM, then
 * prints how many connections it served and how many were open, and exits
 * cleanly: weft_main's shutdown cancels the connection tasks, which are
 * parked in weft_recv, and they close their sockets.
 *
 * Signals reach the program through a pipe: the handler writes a byte, and
 * a task waits for it with weft_fd_wait, so nothing but a write(2) runs in
 * signal context.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <weft.h>

struct server {
  const char *host, *port;
  weft_sock *listener;
  weft_task *acceptor;
  atomic_long open, total;
};

static int signal_pipe[2];

static void on_signal(int sig) {
  char c = (char)sig;
  int saved = errno;
  if (write(signal_pipe[1], &c, 1) < 0) {
    /* the pipe is full: a stop is already pending */
  }
  errno = saved;
}

/* Echo until the peer closes, an error, or cancellation. */
static void serve(weft_sock *c) {
  char buf[16384];
  ssize_t n;
  while ((n = weft_recv(c, buf, sizeof buf, -1)) > 0)
    if (weft_send(c, buf, (size_t)n, -1) != 0)
      break;
  weft_sock_close(c);
}

struct conn {
  struct server *sv;
  weft_sock *sock;
};

static void *connection(void *arg) {
  struct conn cn = *(struct conn *)arg;
  free(arg);
  serve(cn.sock);
  atomic_fetch_sub(&cn.sv->open, 1);
  return NULL;
}

static void *accept_loop(void *arg) {
  struct server *sv = arg;
  for (;;) {
    weft_sock *c;
    int rc = weft_tcp_accept(sv->listener, &c, -1);
    if (rc == WEFT_ECANCELED)
      return NULL;
    if (rc == WEFT_EMFILE || rc == -ENFILE) { /* out of fds: wait a little, go on */
      weft_sleep(10);
      continue;
    }
    if (rc) {
      fprintf(stderr, "echo: accept: %s\n", weft_strerror(rc));
      continue;
    }
    struct conn *cn = malloc(sizeof *cn);
    if (cn) {
      cn->sv = sv;
      cn->sock = c;
      atomic_fetch_add(&sv->open, 1);
    }
    if (!cn || weft_spawn(NULL, connection, cn) != 0) {
      if (cn)
        atomic_fetch_sub(&sv->open, 1);
      free(cn);
      weft_sock_close(c);
      continue;
    }
    atomic_fetch_add(&sv->total, 1);
  }
}

static int run(void *arg) {
  struct server *sv = arg;
  char c;
  int rc = weft_tcp_listen(&sv->listener, sv->host, sv->port, 4096);
  if (rc) {
    fprintf(stderr, "echo: listen on %s:%s: %s\n", sv->host ? sv->host : "*", sv->port,
            weft_strerror(rc));
    return 1;
  }
  printf("echo: listening on port %d\n", weft_sock_port(sv->listener));
  fflush(stdout);
  if ((rc = weft_spawn(&sv->acceptor, accept_loop, sv))) {
    fprintf(stderr, "echo: %s\n", weft_strerror(rc));
    return 1;
  }
  while (weft_fd_wait(signal_pipe[0], WEFT_READABLE, -1) < 0 || read(signal_pipe[0], &c, 1) != 1)
    ;
  printf("echo: %ld connections served, %ld open at shutdown\n", atomic_load(&sv->total),
         atomic_load(&sv->open));
  fflush(stdout);
  weft_cancel(sv->acceptor);
  weft_join(sv->acceptor, NULL);
  weft_sock_close(sv->listener);
  return 0; /* weft_main cancels the connection tasks and waits for them */
}

static void usage(void) {
  fprintf(stderr, "usage: echo [-H host] [-p port] [-w workers]\n");
  exit(2);
}

/* Room for 10,000 connections and more: the hard limit, not the soft one. */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int main(int argc, char **argv) {
  struct server sv = {.host = "127.0.0.1", .port = "7007"};
  struct sigaction sa;
  weft_config cfg;
  int opt;

  weft_config_init(&cfg);
  while ((opt = getopt(argc, argv, "H:p:w:h")) != -1) {
    switch (opt) {
    case 'H': sv.host = optarg; break;
    case 'p': sv.port = optarg; break;
    case 'w': cfg.workers = (unsigned)atoi(optarg); break;
    default: usage();
    }
  }
  if (optind != argc)
    usage();
  raise_fd_limit();
  if (pipe2(signal_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
    perror("echo: pipe");
    return 1;
  }
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  return weft_main(&cfg, run, &sv);
}
