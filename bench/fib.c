/*
 * fib.c - fork-join Fibonacci with a task per call: fib(n) for n >= 2
 * spawns tasks for n - 1 and n - 2 and joins both; fib(n) for n < 2 is n.
 * fib(27) makes 635,621 tasks. The figure is the wall time in
 * milliseconds.
 *
 * Usage: fib [-w WORKERS]
 * Prints "RESULT fib <ms> ms" on stdout. Its twin is
 * bench/peers/go/fib/main.go.
 */
#define _POSIX_C_SOURCE 200809L

#include <weft.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define ARG 27
#define WANT 196418

/* What the main task hands back to main(). */
struct run {
  intptr_t value;
  double ms;
};

/* Print what failed and why, then end the process. */
static void die(const char *what, int err) {
  fprintf(stderr, "fib: %s: %s\n", what, weft_strerror(err));
  exit(1);
}

/* Milliseconds on the monotonic clock. */
static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Spawn fn(n) and return its handle. Inside a task. */
static weft_task *spawn_n(void *(*fn)(void *), intptr_t n) {
  weft_task *t;
  int err = weft_spawn(&t, fn, (void *)n);
  if (err < 0)
    die("weft_spawn", err);
  return t;
}

/* Join t and return its result as a number. Inside a task. */
static intptr_t join_value(weft_task *t) {
  void *res;
  int err = weft_join(t, &res);
  if (err < 0)
    die("weft_join", err);
  return (intptr_t)res;
}

/* Return fib(n) for the n that arg carries, a task per call. Inside a task. */
static void *fib(void *arg) {
  intptr_t n = (intptr_t)arg;
  if (n < 2)
    return arg;
  weft_task *a = spawn_n(fib, n - 1);
  weft_task *b = spawn_n(fib, n - 2);
  intptr_t sum = join_value(a);
  sum += join_value(b);
  return (void *)sum;
}

/* The main task: time fib(ARG) from the root's spawn to its join. */
static int bench(void *arg) {
  struct run *run = arg;
  double start = now_ms();
  run->value = join_value(spawn_n(fib, ARG));
  run->ms = now_ms() - start;
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
  fprintf(stderr, "usage: fib [-w WORKERS]\n");
  exit(2);
}

/* Parse the command line into *workers, or print the usage and exit. */
static void parse_args(int argc, char **argv, unsigned *workers) {
  int c;
  while ((c = getopt(argc, argv, "w:")) != -1) {
    if (c != 'w')
      usage();
    *workers = (unsigned)parse_count(optarg, 1024);
    if (*workers == 0)
      usage();
  }
  if (optind != argc)
    usage();
}

int main(int argc, char **argv) {
  weft_config cfg;
  struct run run = {0, 0.0};

  weft_config_init(&cfg);
  cfg.workers = 2;
  parse_args(argc, argv, &cfg.workers);

  int err = weft_main(&cfg, bench, &run);
  if (err != 0)
    die("weft_main", err);
  fprintf(stderr, "fib: fib(%d) = %lld on %u workers\n", ARG, (long long)run.value, cfg.workers);
  if (run.value != WANT) {
    fprintf(stderr, "fib: wrong value, want %d\n", WANT);
    return 1;
  }
  printf("RESULT fib %.2f ms\n", run.ms);
  return 0;
}
