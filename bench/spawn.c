/*
 * spawn.c - the cost of a spawn and its join: a main task spawns a batch
 * of 1000 tasks that return at once, joins each, and repeats until N tasks
 * have run. The figure is the wall time divided by N, in nanoseconds per
 * task.
 *
 * Usage: spawn [-w WORKERS] [-n TASKS]
 * Prints "RESULT spawn <ns> ns/task" on stdout. Its twin is
 * bench/peers/go/spawn/main.go.
 */
#define _POSIX_C_SOURCE 200809L

#include <weft.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define BATCH 1000

/* The command line's settings. */
struct opts {
  unsigned workers;
  unsigned long total;
};

/* What main() hands the main task and gets back from it. */
struct run {
  const struct opts *opts;
  double ns;
};

/* Print what failed and why, then end the process. */
static void die(const char *what, int err) {
  fprintf(stderr, "spawn: %s: %s\n", what, weft_strerror(err));
  exit(1);
}

/* Nanoseconds on the monotonic clock. */
static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Return at once; the benchmark measures everything around this. */
static void *noop(void *arg) {
  return arg;
}

/* Spawn n <= BATCH tasks, then join each of them. Inside a task. */
static void run_batch(unsigned long n) {
  weft_task *tasks[BATCH];
  for (unsigned long i = 0; i < n; i++) {
    int err = weft_spawn(&tasks[i], noop, NULL);
    if (err < 0)
      die("weft_spawn", err);
  }
  for (unsigned long i = 0; i < n; i++) {
    int err = weft_join(tasks[i], NULL);
    if (err < 0)
      die("weft_join", err);
  }
}

/* The main task: run every batch and time them together. */
static int bench(void *arg) {
  struct run *run = arg;
  unsigned long left = run->opts->total;

  double start = now_ns();
  while (left > 0) {
    unsigned long n = left < BATCH ? left : BATCH;
    run_batch(n);
    left -= n;
  }
  run->ns = now_ns() - start;
  return 0;
}

/* Return s as a whole number in [1, max], or 0 when it is not one. */
static unsigned long parse_count(const char *s, unsigned long max) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v > max)
    return 0;
  return v;
}

/* Print how to call the program and exit with status 2. */
static void usage(void) {
  fprintf(stderr, "usage: spawn [-w WORKERS] [-n TASKS]\n");
  exit(2);
}

/* Parse the command line into *o, or print the usage and exit. */
static void parse_args(int argc, char **argv, struct opts *o) {
  int c;
  while ((c = getopt(argc, argv, "w:n:")) != -1) {
    unsigned long v = c == '?' ? 0 : parse_count(optarg, c == 'w' ? 1024 : 1000000000);
    if (v == 0)
      usage();
    if (c == 'w')
      o->workers = (unsigned)v;
    else
      o->total = v;
  }
  if (optind != argc)
    usage();
}

int main(int argc, char **argv) {
  struct opts o = {2, 1000000};
  struct run run = {&o, 0.0};
  weft_config cfg;

  parse_args(argc, argv, &o);
  weft_config_init(&cfg);
  cfg.workers = o.workers;

  int err = weft_main(&cfg, bench, &run);
  if (err != 0)
    die("weft_main", err);
  fprintf(stderr, "spawn: %lu tasks in %.2f ms on %u workers\n", o.total, run.ns / 1e6,
          o.workers);
  printf("RESULT spawn %.2f ns/task\n", run.ns / (double)o.total);
  return 0;
}
