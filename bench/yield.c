/*
 * yield.c - the cost of weft_yield(): T tasks each yield Y times, and the
 * figure is the wall time divided by T * Y, in nanoseconds per yield.
 *
 * Usage: yield [-w WORKERS] [-t TASKS] [-n YIELDS_PER_TASK]
 * Prints "RESULT yield <ns> ns/op" on stdout. Its twin is
 * bench/peers/go/yield/main.go.
 */
#define _POSIX_C_SOURCE 200809L
#define BENCH_NAME "yield"

#include "bench.h"

#include <stdio.h>
#include <stdlib.h>

/* Yield as many times as the count arg points at. Inside a task. */
static void *yielder(void *arg) {
  unsigned long n = *(const unsigned long *)arg;
  for (unsigned long i = 0; i < n; i++)
    weft_yield();
  return NULL;
}

/* The main task: spawn the yielders, join them all and time it. */
static int bench(void *arg) {
  struct bench_run *run = arg;
  const struct bench_opts *o = &run->opts;
  weft_task **tasks = malloc(o->tasks * sizeof *tasks);
  if (tasks == NULL)
    bench_die("malloc", WEFT_ENOMEM);

  double start = bench_now_ns();
  for (unsigned long i = 0; i < o->tasks; i++)
    bench_spawn(&tasks[i], yielder, (void *)&o->count);
  for (unsigned long i = 0; i < o->tasks; i++)
    bench_join(tasks[i]);
  run->ns = bench_now_ns() - start;
  free(tasks);
  return 0;
}

/* The command line: -t is the number of tasks, -n the yields of each. */
static const struct bench_cli cli = {"w:t:n:", "[-w WORKERS] [-t TASKS] [-n YIELDS_PER_TASK]",
                                     1000000000};

int main(int argc, char **argv) {
  struct bench_run run = {.opts = {.tasks = 2, .count = 1000000}};
  const struct bench_opts *o = &run.opts;

  bench_measure(argc, argv, &cli, bench, &run);
  double ops = (double)o->tasks * (double)o->count;
  fprintf(stderr, "yield: %lu tasks x %lu yields in %.2f ms on %lu workers\n", o->tasks, o->count,
          run.ns / 1e6, o->workers);
  bench_result("yield", run.ns / ops, "ns/op");
  return 0;
}
