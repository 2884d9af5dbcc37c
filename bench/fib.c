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
#define BENCH_NAME "fib"

#include "bench.h"

#include <stdint.h>
#include <stdio.h>

#define ARG 27
#define WANT 196418

/* Spawn fn(n) and return its handle. Inside a task. */
static weft_task *spawn_n(void *(*fn)(void *), intptr_t n) {
  weft_task *t;
  bench_spawn(&t, fn, (void *)n);
  return t;
}

/* Return fib(n) for the n that arg carries, a task per call. Inside a task. */
static void *fib(void *arg) {
  intptr_t n = (intptr_t)arg;
  if (n < 2)
    return arg;
  weft_task *a = spawn_n(fib, n - 1);
  weft_task *b = spawn_n(fib, n - 2);
  intptr_t sum = bench_join(a);
  sum += bench_join(b);
  return (void *)sum;
}

/* The main task: time fib(ARG) from the root's spawn to its join. */
static int bench(void *arg) {
  struct bench_run *run = arg;
  double start = bench_now_ns();
  run->value = bench_join(spawn_n(fib, ARG));
  run->ns = bench_now_ns() - start;
  return 0;
}

int main(int argc, char **argv) {
  struct bench_run run = {.value = 0};

  bench_measure(argc, argv, &bench_cli_workers, bench, &run);
  fprintf(stderr, "fib: fib(%d) = %lld on %lu workers\n", ARG, (long long)run.value,
          run.opts.workers);
  if (run.value != WANT) {
    fprintf(stderr, "fib: wrong value, want %d\n", WANT);
    return 1;
  }
  bench_result("fib", run.ns / 1e6, "ms");
  return 0;
}
