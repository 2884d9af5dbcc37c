/*
 * bench.h - what the benchmark programs share. Every helper is static
 * inline, so each program stays one .c file and needs no extra object.
 *
 * A program defines _POSIX_C_SOURCE (for getopt and clock_gettime) and
 * BENCH_NAME, its name in messages, before it includes this header:
 *
 *   #define _POSIX_C_SOURCE 200809L
 *   #define BENCH_NAME "skynet"
 *   #include "bench.h"
 *
 * The helpers fall into four groups: failing loudly (bench_die and the
 * spawn and join wrappers), the command line (bench_parse_args, which knows
 * -w, -t, -n and -p), running and reporting (bench_main, bench_measure,
 * bench_now_ns, bench_result), and the scaffolding of the two servers.
 *
 * A measuring program keeps its workload, its main task and its main():
 * main() sets the defaults in a struct bench_run, calls bench_measure, and
 * reports with bench_result. A server keeps only the body of a connection
 * task; bench_server_main parses -w and -p, listens on 127.0.0.1, prints
 * "PORT <n>" on stdout and gives every connection a detached task running
 * that body. Nothing touches signals: SIGTERM and SIGINT keep their default
 * action and end a server at once.
 */
#ifndef WEFT_BENCH_H
#define WEFT_BENCH_H

#ifndef BENCH_NAME
#error "define BENCH_NAME, the program's name, before including bench.h"
#endif

#include <weft.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* The worker threads every program runs on without -w, and the most -w
 * accepts. */
#define BENCH_WORKERS 2
#define BENCH_MAX_WORKERS 1024

/* The command line's settings. A program sets the defaults of the ones it
 * accepts before parsing, except workers, which is always BENCH_WORKERS. */
struct bench_opts {
  unsigned long workers; /* -w: worker threads */
  unsigned long tasks;   /* -t: tasks */
  unsigned long count;   /* -n: tasks or operations, as the program says */
  unsigned long port;    /* -p: TCP port, 0 for any free one */
};

/* What a program accepts on its command line. */
struct bench_cli {
  const char *flags;       /* getopt's option string, drawn from "w:t:n:p:" */
  const char *usage;       /* the options as the usage line shows them */
  unsigned long count_max; /* the largest -t or -n */
};

/* The command line of a program that takes -w alone. */
static const struct bench_cli bench_cli_workers = {"w:", "[-w WORKERS]", 0};

/* What a measuring program's main task gets: the settings, and room for
 * what it measures. */
struct bench_run {
  struct bench_opts opts; /* the command line's settings */
  intptr_t value;         /* what the workload computed, where it has a result */
  double ns;              /* the workload's wall time in nanoseconds */
};

/* A server's main task's argument. */
struct bench_server {
  const struct bench_opts *opts; /* workers and port */
  void *(*serve_conn)(void *);   /* a connection task's body; it owns the weft_sock * */
};

/* Print what failed and why, then end the process with status 1. */
static inline _Noreturn void bench_die(const char *what, int err) {
  fprintf(stderr, BENCH_NAME ": %s: %s\n", what, weft_strerror(err));
  exit(1);
}

/* Spawn fn(arg) with its handle in *t, or die. Inside a task. */
static inline void bench_spawn(weft_task **t, void *(*fn)(void *), void *arg) {
  int err = weft_spawn(t, fn, arg);
  if (err < 0)
    bench_die("weft_spawn", err);
}

/* Join t and return its result as a number, or die. Inside a task. */
static inline intptr_t bench_join(weft_task *t) {
  void *res;
  int err = weft_join(t, &res);
  if (err < 0)
    bench_die("weft_join", err);
  return (intptr_t)res;
}

/* Store s in *out when it is a whole number in [min, max], and return
 * whether it is one. */
static inline bool bench_parse_num(const char *s, unsigned long min, unsigned long max,
                                   unsigned long *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v < min || v > max)
    return false;
  *out = v;
  return true;
}

/* Print how to call the program and exit with status 2. */
static inline _Noreturn void bench_usage(const struct bench_cli *cli) {
  fprintf(stderr, "usage: " BENCH_NAME " %s\n", cli->usage);
  exit(2);
}

/* Store the argument arg of option c in *o, and return whether it is valid.
 * getopt hands over only the options in cli->flags, or '?'. */
static inline bool bench_set_opt(struct bench_opts *o, int c, const char *arg,
                                 const struct bench_cli *cli) {
  switch (c) {
  case 'w':
    return bench_parse_num(arg, 1, BENCH_MAX_WORKERS, &o->workers);
  case 't':
    return bench_parse_num(arg, 1, cli->count_max, &o->tasks);
  case 'n':
    return bench_parse_num(arg, 1, cli->count_max, &o->count);
  case 'p':
    return bench_parse_num(arg, 0, 65535, &o->port);
  default:
    return false;
  }
}

/* Parse the command line into *o, or print the usage and exit. */
static inline void bench_parse_args(int argc, char **argv, const struct bench_cli *cli,
                                    struct bench_opts *o) {
  int c;
  o->workers = BENCH_WORKERS;
  while ((c = getopt(argc, argv, cli->flags)) != -1)
    if (!bench_set_opt(o, c, optarg, cli))
      bench_usage(cli);
  if (optind != argc)
    bench_usage(cli);
}

/* Run fn(arg) as the main task of a new runtime with the given number of
 * workers, and die when the runtime fails or fn returns non-zero. Blocks. */
static inline void bench_main(unsigned long workers, int (*fn)(void *), void *arg) {
  weft_config cfg;
  weft_config_init(&cfg);
  cfg.workers = (unsigned)workers;

  int err = weft_main(&cfg, fn, arg);
  if (err != 0)
    bench_die("weft_main", err);
}

/* Parse the command line into run->opts, which holds the defaults, then
 * run fn(run) as the main task on as many workers as it says. Blocks. */
static inline void bench_measure(int argc, char **argv, const struct bench_cli *cli,
                                 int (*fn)(void *), struct bench_run *run) {
  bench_parse_args(argc, argv, cli, &run->opts);
  bench_main(run->opts.workers, fn, run);
}

/* Nanoseconds on the monotonic clock. */
static inline double bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Print one figure as the line "RESULT <name> <value> <unit>" on stdout,
 * where bench/run looks for it. */
static inline void bench_result(const char *name, double value, const char *unit) {
  printf("RESULT %s %.2f %s\n", name, value, unit);
}

/* Give a new connection its own detached task running serve_conn, or close
 * it when no task can be had. Inside a task. */
static inline void bench_start_conn(void *(*serve_conn)(void *), weft_sock *s) {
  int err = weft_spawn(NULL, serve_conn, s);
  if (err < 0) {
    fprintf(stderr, BENCH_NAME ": weft_spawn: %s\n", weft_strerror(err));
    weft_sock_close(s);
  }
}

/* Accept connections on l for ever. Running out of descriptors is waited
 * out; any other failure ends the process. Inside a task. */
static inline _Noreturn void bench_accept_loop(weft_sock *l, void *(*serve_conn)(void *)) {
  for (;;) {
    weft_sock *s;
    int err = weft_tcp_accept(l, &s, -1);
    if (err == WEFT_EMFILE || err == -ENFILE) {
      weft_sleep(10);
      continue;
    }
    if (err < 0)
      bench_die("weft_tcp_accept", err);
    bench_start_conn(serve_conn, s);
  }
}

/* A server's main task: listen, announce the port, serve. Never returns. */
static inline int bench_serve(void *arg) {
  const struct bench_server *srv = arg;
  char port[16];
  weft_sock *l;

  snprintf(port, sizeof port, "%lu", srv->opts->port);
  int err = weft_tcp_listen(&l, "127.0.0.1", port, 0);
  if (err < 0)
    bench_die("weft_tcp_listen", err);
  printf("PORT %d\n", weft_sock_port(l));
  fflush(stdout);
  fprintf(stderr, BENCH_NAME ": listening on 127.0.0.1:%d with %lu workers\n",
          weft_sock_port(l), srv->opts->workers);
  bench_accept_loop(l, srv->serve_conn);
}

/* The whole of a server's main(): parse [-w WORKERS] [-p PORT], then serve
 * with serve_conn as the body of every connection task until killed. */
static inline void bench_server_main(int argc, char **argv, void *(*serve_conn)(void *)) {
  static const struct bench_cli cli = {"w:p:", "[-w WORKERS] [-p PORT]", 0};
  struct bench_opts o = {.port = 0};
  struct bench_server srv = {&o, serve_conn};

  bench_parse_args(argc, argv, &cli, &o);
  bench_main(o.workers, bench_serve, &srv);
}

#endif /* WEFT_BENCH_H */
