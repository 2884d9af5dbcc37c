/*
 * sleepers.c - many tasks asleep at once: a main task spawns N tasks
 * (default 100,000) that each sleep 100 ms, then joins them all. The
 * figures are the wall time from the first spawn to the last join, which
 * cannot be less than 100 ms, and the process's peak resident memory,
 * which shows what a parked task costs.
 *
 * Usage: sleepers [-w WORKERS] [-n TASKS]
 * Prints "RESULT sleepers <ms> ms" and "RESULT sleepers_rss <KiB> KiB" on
 * stdout. Its twin is bench/peers/go/sleepers/main.go.
 */
#define _POSIX_C_SOURCE 200809L

#include <weft.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define SLEEP_MS 100

/* The command line's settings. */
struct opts {
  unsigned workers;
  unsigned long tasks;
};

/* What main() hands the main task and gets back from it. */
struct run {
  const struct opts *opts;
  double ms;
};

/* Print what failed and why, then end the process. */
static void die(const char *what, int err) {
  fprintf(stderr, "sleepers: %s: %s\n", what, weft_strerror(err));
  exit(1);
}

/* Milliseconds on the monotonic clock. */
static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Sleep once and return weft_sleep's result as the task's value. */
static void *sleeper(void *arg) {
  (void)arg;
  return (void *)(intptr_t)weft_sleep(SLEEP_MS);
}

/* Spawn n sleepers, storing their handles in tasks. Inside a task. */
static void spawn_all(weft_task **tasks, unsigned long n) {
  for (unsigned long i = 0; i < n; i++) {
    int err = weft_spawn(&tasks[i], sleeper, NULL);
    if (err < 0)
      die("weft_spawn", err);
  }
}

/* Join n sleepers and check that each slept without error. Inside a task. */
static void join_all(weft_task **tasks, unsigned long n) {
  for (unsigned long i = 0; i < n; i++) {
    void *res;
    int err = weft_join(tasks[i], &res);
    if (err < 0)
      die("weft_join", err);
    if ((intptr_t)res != 0)
      die("weft_sleep", (int)(intptr_t)res);
  }
}

/* The main task: spawn every sleeper, join them, and time the whole. */
static int bench(void *arg) {
  struct run *run = arg;
  unsigned long n = run->opts->tasks;
  weft_task **tasks = malloc(n * sizeof *tasks);
  if (!tasks)
    die("malloc", WEFT_ENOMEM);

  double start = now_ms();
  spawn_all(tasks, n);
  join_all(tasks, n);
  run->ms = now_ms() - start;
  free(tasks);
  return 0;
}

/* The process's peak resident set size in KiB (Linux's unit for it). */
static long peak_rss_kib(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return -1;
  return ru.ru_maxrss;
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
  fprintf(stderr, "usage: sleepers [-w WORKERS] [-n TASKS]\n");
  exit(2);
}

/* Parse the command line into *o, or print the usage and exit. */
static void parse_args(int argc, char **argv, struct opts *o) {
  int c;
  while ((c = getopt(argc, argv, "w:n:")) != -1) {
    unsigned long v = c == '?' ? 0 : parse_count(optarg, c == 'w' ? 1024 : 100000000);
    if (v == 0)
      usage();
    if (c == 'w')
      o->workers = (unsigned)v;
    else
      o->tasks = v;
  }
  if (optind != argc)
    usage();
}

int main(int argc, char **argv) {
  struct opts o = {2, 100000};
  struct run run = {&o, 0.0};
  weft_config cfg;

  parse_args(argc, argv, &o);
  weft_config_init(&cfg);
  cfg.workers = o.workers;

  int err = weft_main(&cfg, bench, &run);
  if (err != 0)
    die("weft_main", err);
  long rss = peak_rss_kib();
  fprintf(stderr, "sleepers: %lu tasks slept %d ms in %.2f ms on %u workers; peak RSS %ld KiB\n",
          o.tasks, SLEEP_MS, run.ms, o.workers, rss);
  printf("RESULT sleepers %.2f ms\n", run.ms);
  printf("RESULT sleepers_rss %ld KiB\n", rss);
  return 0;
}
