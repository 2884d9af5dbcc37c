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
#define BENCH_NAME "spawn"

#include "bench.h"

#include <stdio.h>

#define BATCH 1000

/* Return at once; the benchmark measures everything around this. */
static void *noop(void *arg) {
  return arg;
}

/* Spawn n <= BATCH tasks, then join each of them. Inside a task. */
static void run_batch(unsigned long n) {
  weft_task *tasks[BATCH];
  for (unsigned long i = 0; i < n; i++)
    bench_spawn(&tasks[i], noop, NULL);
  for (unsigned long i = 0; i < n; i++)
    bench_join(tasks[i]);
}

/* The main task: run every batch and time them together. */
static int bench(void *arg) {
  struct bench_run *run = arg;
  unsigned long left = run->opts.count;

  double start = bench_now_ns();
  while (left > 0) {
    unsigned long n = left < BATCH ? left : BATCH;
    run_batch(n);
    left -= n;
  }
  run->ns = bench_now_ns() - start;
  return 0;
}

/* The command line: -n is the number of tasks in all. */
static const struct bench_cli cli = {"w:n:", "[-w WORKERS] [-n TASKS]", 1000000000};

int main(int argc, char **argv) {
  struct bench_run run = {.opts = {.count = 1000000}};

  bench_measure(argc, argv, &cli, bench, &run);
  fprintf(stderr, "spawn: %lu tasks in %.2f ms on %lu workers\n", run.opts.count, run.ns / 1e6,
          run.opts.workers);
  bench_result("spawn", run.ns / (double)run.opts.count, "ns/task");
  return 0;
}
