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
#define BENCH_NAME "sleepers"

#include "bench.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#define SLEEP_MS 100

/* Sleep once and return weft_sleep's result as the task's value. */
static void *sleeper(void *arg) {
  (void)arg;
  return (void *)(intptr_t)weft_sleep(SLEEP_MS);
}

/* Spawn n sleepers, storing their handles in tasks. Inside a task. */
static void spawn_all(weft_task **tasks, unsigned long n) {
  for (unsigned long i = 0; i < n; i++)
    bench_spawn(&tasks[i], sleeper, NULL);
}

/* Join n sleepers and check that each slept without error. Inside a task. */
static void join_all(weft_task **tasks, unsigned long n) {
  for (unsigned long i = 0; i < n; i++) {
    intptr_t res = bench_join(tasks[i]);
    if (res != 0)
      bench_die("weft_sleep", (int)res);
  }
}

/* The main task: spawn every sleeper, join them, and time the whole. */
static int bench(void *arg) {
  struct bench_run *run = arg;
  unsigned long n = run->opts.count;
  weft_task **tasks = malloc(n * sizeof *tasks);
  if (!tasks)
    bench_die("malloc", WEFT_ENOMEM);

  double start = bench_now_ns();
  spawn_all(tasks, n);
  join_all(tasks, n);
  run->ns = bench_now_ns() - start;
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

/* The command line: -n is the number of sleepers. */
static const struct bench_cli cli = {"w:n:", "[-w WORKERS] [-n TASKS]", 100000000};

int main(int argc, char **argv) {
  struct bench_run run = {.opts = {.count = 100000}};

  bench_measure(argc, argv, &cli, bench, &run);
  double ms = run.ns / 1e6;
  long rss = peak_rss_kib();
  fprintf(stderr, "sleepers: %lu tasks slept %d ms in %.2f ms on %lu workers; peak RSS %ld KiB\n",
          run.opts.count, SLEEP_MS, ms, run.opts.workers, rss);
  bench_result("sleepers", ms, "ms");
  printf("RESULT sleepers_rss %ld KiB\n", rss);
  return 0;
}
