/*
 * yield.c - the cost of weft_yield(): T tasks each yield Y times, and the
 * figure is the wall time divided by T * Y, in nanoseconds per yield.
 *
 * Usage: yield [-w WORKERS] [-t TASKS] [-n YIELDS_PER_TASK]
 * Prints "RESULT yield <ns> ns/op" on stdout. Its twin is
 * bench/peers/go/yield/main.go.
 */
#define _POSIX_C_SOURCE 200809L

#include <weft.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* The command line's settings. */
struct opts {
  unsigned workers;
  unsigned long tasks;
  unsigned long yields;
};

/* What main() hands the main task and gets back from it. */
struct run {
  const struct opts *opts;
  double ns;
};

/* Print what failed and why, then end the process. */
static void die(const char *what, int err) {
  fprintf(stderr, "yield: %s: %s\n", what, weft_strerror(err));
  exit(1);
}

/* Nanoseconds on the monotonic clock. */
static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Yield as many times as the count arg points at. Inside a task. */
static void *yielder(void *arg) {
  unsigned long n = *(const unsigned long *)arg;
  for (unsigned long i = 0; i < n; i++)
    weft_yield();
  return NULL;
}

/* The main task: spawn the yielders, join them all and time it. */
static int bench(void *arg) {
  struct run *run = arg;
  const struct opts *o = run->opts;
  weft_task **tasks = malloc(o->tasks * sizeof *tasks);
  if (tasks == NULL)
    die("malloc", WEFT_ENOMEM);

  double start = now_ns();
  for (unsigned long i = 0; i < o->tasks; i++) {
    int err = weft_spawn(&tasks[i], yielder, (void *)&o->yields);
    if (err < 0)
      die("weft_spawn", err);
  }
  for (unsigned long i = 0; i < o->tasks; i++) {
    int err = weft_join(tasks[i], NULL);
    if (err < 0)
      die("weft_join", err);
  }
  run->ns = now_ns() - start;
  free(tasks);
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
  fprintf(stderr, "usage: yield [-w WORKERS] [-t TASKS] [-n YIELDS_PER_TASK]\n");
  exit(2);
}

/* Parse the command line into *o, or print the usage and exit. */
static void parse_args(int argc, char **argv, struct opts *o) {
  int c;
  while ((c = getopt(argc, argv, "w:t:n:")) != -1) {
    unsigned long v = c == '?' ? 0 : parse_count(optarg, c == 'w' ? 1024 : 1000000000);
    if (v == 0)
      usage();
    if (c == 'w')
      o->workers = (unsigned)v;
    else if (c == 't')
      o->tasks = v;
    else
      o->yields = v;
  }
  if (optind != argc)
    usage();
}

int main(int argc, char **argv) {
  struct opts o = {2, 2, 1000000};
  struct run run = {&o, 0.0};
  weft_config cfg;

  parse_args(argc, argv, &o);
  weft_config_init(&cfg);
  cfg.workers = o.workers;

  int err = weft_main(&cfg, bench, &run);
  if (err != 0)
    die("weft_main", err);
  double ops = (double)o.tasks * (double)o.yields;
  fprintf(stderr, "yield: %lu tasks x %lu yields in %.2f ms on %u workers\n", o.tasks, o.yields,
          run.ns / 1e6, o.workers);
  printf("RESULT yield %.2f ns/op\n", run.ns / ops);
  return 0;
}
