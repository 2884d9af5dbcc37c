/*
 * pipeline - the classic producer -> filter -> consumer pipeline, built from
 * generators, with values sent both ways: the consumer drives the filter,
 * the filter drives the producer, and the consumer sends each stage a new
 * threshold through weft_gen_send as it goes.
 *
 *   pipeline [N]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>

#define V(x) ((void *)(intptr_t)(x))
#define I(p) ((long)(intptr_t)(p))

/* Yields 1..n; each send it receives resets where it counts from. */
static void *produce(void *arg) {
  for (long i = 1; i <= I(arg); i++) {
    void *in = weft_gen_yield(V(i));
    if (in)
      i = I(in) - 1; /* the consumer asked to skip ahead */
  }
  return V(0);
}

/* Drives the producer; passes on multiples of k. A sent value becomes the
 * new k (values flow back up the pipeline). */
static void *filter(void *arg) {
  weft_gen *src = arg;
  long k = 3;
  void *v, *in;
  while (weft_gen_next(src, &v) == 0) {
    if (I(v) % k)
      continue;
    in = weft_gen_yield(v);
    if (in)
      k = I(in);
  }
  return V(-1);
}

static int run(void *arg) {
  long n = *(long *)arg, sum = 0, count = 0;
  weft_gen *src, *filt;
  void *v;

  if (weft_gen_new(&src, produce, V(n)) || weft_gen_new(&filt, filter, src))
    return 1;
  if (weft_gen_next(filt, &v) != 0) /* prime: the first multiple of 3 */
    return 1;
  while (1) {
    sum += I(v);
    count++;
    /* halfway, switch the filter to multiples of 5 */
    void *send = count == 10 ? V(5) : NULL;
    if (weft_gen_send(filt, send, &v) != 0)
      break;
  }
  printf("consumed %ld values, sum %ld\n", count, sum);
  printf("filter state after the end: %s\n",
         weft_gen_state(filt) == WEFT_GEN_CLOSED ? "closed" : "not closed");
  weft_gen_free(filt);
  weft_gen_free(src);
  return 0;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 100;
  return weft_main(NULL, run, &n);
}
