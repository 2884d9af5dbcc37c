/*
 * skynet.c - the skynet benchmark: one million leaf tasks in a ten-ary
 * tree, six levels deep. Every inner node spawns its ten children, joins
 * them and returns the sum of their results; a leaf returns its number.
 * The figure is the wall time of the whole tree in milliseconds.
 *
 * Usage: skynet [-w WORKERS]
 * Prints "RESULT skynet <ms> ms" on stdout. Its twin is
 * bench/peers/go/skynet/main.go.
 */
#define _POSIX_C_SOURCE 200809L
#define BENCH_NAME "skynet"

#include "bench.h"

#include <stdint.h>
#include <stdio.h>

#define LEAVES 1000000
#define FANOUT 10
#define WANT 499999500000LL

/* Sums travel through the void * a task returns, so they need 64 bits. */
_Static_assert(sizeof(intptr_t) >= 8, "skynet needs 64-bit pointers");

/* One node of the tree: the first leaf number below it and its leaf count. */
struct node {
  intptr_t num;
  intptr_t size;
};

/*
 * Return the sum of the leaf numbers below the node arg points at. The
 * children's nodes live on this task's stack, which outlives them because
 * every child is joined before the function returns. Inside a task.
 */
static void *skynet(void *arg) {
  const struct node *self = arg;
  if (self->size == 1)
    return (void *)self->num;

  struct node kids[FANOUT];
  weft_task *tasks[FANOUT];
  intptr_t step = self->size / FANOUT;
  for (int i = 0; i < FANOUT; i++) {
    kids[i] = (struct node){self->num + i * step, step};
    bench_spawn(&tasks[i], skynet, &kids[i]);
  }
  intptr_t sum = 0;
  for (int i = 0; i < FANOUT; i++)
    sum += bench_join(tasks[i]);
  return (void *)sum;
}

/* The main task: time the whole tree from the root's spawn to its join. */
static int bench(void *arg) {
  struct bench_run *run = arg;
  struct node root = {0, LEAVES};
  weft_task *t;

  double start = bench_now_ns();
  bench_spawn(&t, skynet, &root);
  run->value = bench_join(t);
  run->ns = bench_now_ns() - start;
  return 0;
}

int main(int argc, char **argv) {
  struct bench_run run = {.value = 0};

  bench_measure(argc, argv, &bench_cli_workers, bench, &run);
  fprintf(stderr, "skynet: sum %lld on %lu workers\n", (long long)run.value, run.opts.workers);
  if (run.value != WANT) {
    fprintf(stderr, "skynet: wrong sum, want %lld\n", WANT);
    return 1;
  }
  bench_result("skynet", run.ns / 1e6, "ms");
  return 0;
}
