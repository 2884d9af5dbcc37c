/*
 * psum - a parallel sum by divide and conquer: each task splits its range
 * in two, spawns a task for one half, sums the other itself and joins. The
 * tasks spread over the workers by stealing; no thread is ever blocked.
 *
 *   psum [N] [WORKERS]     sums 1..N (default 100000000) and checks it
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>

#define LEAF 100000 /* below this, a plain loop */

struct range {
  int64_t lo, hi; /* [lo, hi) */
  int64_t sum;
};

static void *sum_range(void *arg) {
  struct range *r = arg;
  if (r->hi - r->lo <= LEAF) {
    for (int64_t i = r->lo; i < r->hi; i++)
      r->sum += i;
    return NULL;
  }
  int64_t mid = r->lo + (r->hi - r->lo) / 2;
  struct range left = {r->lo, mid, 0}, right = {mid, r->hi, 0};
  weft_task *t;
  if (weft_spawn(&t, sum_range, &left) != 0) {
    sum_range(&left); /* out of memory: do it here */
    t = NULL;
  }
  sum_range(&right);
  if (t)
    weft_join(t, NULL);
  r->sum = left.sum + right.sum;
  return NULL;
}

static int run(void *arg) {
  struct range *r = arg;
  sum_range(r);
  return 0;
}

int main(int argc, char **argv) {
  int64_t n = argc > 1 ? atoll(argv[1]) : 100000000;
  struct range r = {1, n + 1, 0};
  weft_config cfg;

  if (n < 1) {
    fprintf(stderr, "usage: psum [N] [WORKERS]\n");
    return 2;
  }
  weft_config_init(&cfg);
  if (argc > 2)
    cfg.workers = (unsigned)atoi(argv[2]);
  if (weft_main(&cfg, run, &r) != 0)
    return 1;
  printf("sum 1..%lld = %lld (%s)\n", (long long)n, (long long)r.sum,
         r.sum == n * (n + 1) / 2 ? "correct" : "WRONG");
  return r.sum == n * (n + 1) / 2 ? 0 : 1;
}
