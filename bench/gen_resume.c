/*
 * gen_resume.c - the cost of driving a generator: a generator yields
 * 0..N-1 and the main task sums what weft_gen_next hands back, then checks
 * the sum. Each value costs one resume and one yield, two context switches
 * on the same worker with no queue or lock between them. The figure is
 * the wall time divided by N, in nanoseconds per resume and yield.
 *
 * Usage: gen_resume [-w WORKERS] [-n VALUES]
 * Prints "RESULT gen_resume <ns> ns/op" on stdout. Its twin is
 * bench/peers/go/gen_resume/main.go, Go's idiom for a generator: a
 * goroutine sending on an unbuffered channel.
 */
#define _POSIX_C_SOURCE 200809L
#define BENCH_NAME "gen_resume"

#include "bench.h"

#include <stdint.h>
#include <stdio.h>

/* Values and sums travel through void *, so they need 64 bits. */
_Static_assert(sizeof(intptr_t) >= 8, "gen_resume needs 64-bit pointers");

/* Yield 0..n-1, where n is the count arg points at. Inside a generator. */
static void *count_up(void *arg) {
  const unsigned long *n = arg;
  for (unsigned long i = 0; i < *n; i++)
    weft_gen_yield((void *)(uintptr_t)i);
  return NULL;
}

/* Drive g to its end; return the sum of what it yielded, or -1 when it
 * yielded more than n values. Inside the task that made g. */
static intptr_t drain(weft_gen *g, unsigned long n) {
  intptr_t sum = 0;
  unsigned long got = 0;
  for (;;) {
    void *v;
    int err = weft_gen_next(g, &v);
    if (err == WEFT_EDONE)
      return sum;
    if (err < 0)
      bench_die("weft_gen_next", err);
    if (++got > n)
      return -1;
    sum += (intptr_t)v;
  }
}

/* The main task: make the generator, drain it and time that. */
static int bench(void *arg) {
  struct bench_run *run = arg;
  weft_gen *g;

  int err = weft_gen_new(&g, count_up, &run->opts.count);
  if (err < 0)
    bench_die("weft_gen_new", err);
  double start = bench_now_ns();
  run->value = drain(g, run->opts.count);
  run->ns = bench_now_ns() - start;
  if ((err = weft_gen_free(g)) < 0)
    bench_die("weft_gen_free", err);
  return 0;
}

/* The command line: -n is the number of values yielded. */
static const struct bench_cli cli = {"w:n:", "[-w WORKERS] [-n VALUES]", 1000000000};

int main(int argc, char **argv) {
  struct bench_run run = {.opts = {.count = 10000000}};
  const struct bench_opts *o = &run.opts;

  bench_measure(argc, argv, &cli, bench, &run);
  long long want = (long long)o->count * ((long long)o->count - 1) / 2;
  fprintf(stderr, "gen_resume: %lu values in %.2f ms on %lu workers, sum %lld\n", o->count,
          run.ns / 1e6, o->workers, (long long)run.value);
  if (run.value != want) {
    fprintf(stderr, "gen_resume: wrong sum, want %lld\n", want);
    return 1;
  }
  bench_result("gen_resume", run.ns / (double)o->count, "ns/op");
  return 0;
}
