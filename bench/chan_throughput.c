/*
 * chan_throughput.c - the throughput of a contended buffered channel: 4
 * producer tasks and 4 consumer tasks move N longs in all through one
 * channel of capacity 1024. Producer p sends its quarter of 0..N-1; the
 * consumers receive until the channel is closed and return what they
 * received, and the main task checks the count and the sum. The figure is
 * the wall time divided by N, in nanoseconds per element.
 *
 * Usage: chan_throughput [-w WORKERS] [-n ELEMENTS]
 * Prints "RESULT chan_throughput <ns> ns/op" on stdout. Its twin is
 * bench/peers/go/chan_throughput/main.go.
 */
#define _POSIX_C_SOURCE 200809L
#define BENCH_NAME "chan_throughput"

#include "bench.h"

#include <stdio.h>

#define PRODUCERS 4
#define CONSUMERS 4
#define CAPACITY 1024

/* One producer's share: the values first..last-1. */
struct share {
  weft_chan *c;
  long first;
  long last;
};

/* What one consumer received. */
struct tally {
  weft_chan *c;
  long count;
  long long sum;
};

/* Send the values of the share arg points at. Inside a task. */
static void *produce(void *arg) {
  const struct share *s = arg;
  for (long v = s->first; v < s->last; v++) {
    int err = weft_chan_send(s->c, &v, -1);
    if (err < 0)
      bench_die("weft_chan_send", err);
  }
  return NULL;
}

/* Receive until the channel is closed and empty, counting and summing
 * into the tally arg points at. Inside a task. */
static void *consume(void *arg) {
  struct tally *t = arg;
  for (;;) {
    long v;
    int err = weft_chan_recv(t->c, &v, -1);
    if (err == WEFT_EPIPE)
      return NULL;
    if (err < 0)
      bench_die("weft_chan_recv", err);
    t->count++;
    t->sum += v;
  }
}

/* Whether the tallies add up to every value of 0..n-1 once, by count and
 * sum; says what is wrong on stderr when they do not. */
static bool check(const struct tally *tallies, unsigned long n) {
  long count = 0;
  long long sum = 0;
  for (int i = 0; i < CONSUMERS; i++) {
    count += tallies[i].count;
    sum += tallies[i].sum;
  }
  long long want = (long long)n * ((long long)n - 1) / 2;
  if (count == (long)n && sum == want)
    return true;
  fprintf(stderr, "chan_throughput: received %ld values summing to %lld, want %lu and %lld\n",
          count, sum, n, want);
  return false;
}

/*
 * The main task: start the consumers and the producers, join the
 * producers, close the channel, join the consumers, and time it all.
 * run->value says whether the tallies were right.
 */
static int bench(void *arg) {
  struct bench_run *run = arg;
  long n = (long)run->opts.count;
  struct share shares[PRODUCERS];
  struct tally tallies[CONSUMERS];
  weft_task *prod[PRODUCERS], *cons[CONSUMERS];
  weft_chan *c;

  int err = weft_chan_new(&c, sizeof(long), CAPACITY);
  if (err < 0)
    bench_die("weft_chan_new", err);
  double start = bench_now_ns();
  for (int i = 0; i < CONSUMERS; i++) {
    tallies[i] = (struct tally){c, 0, 0};
    bench_spawn(&cons[i], consume, &tallies[i]);
  }
  for (int i = 0; i < PRODUCERS; i++) {
    shares[i] = (struct share){c, n * i / PRODUCERS, n * (i + 1) / PRODUCERS};
    bench_spawn(&prod[i], produce, &shares[i]);
  }
  for (int i = 0; i < PRODUCERS; i++)
    bench_join(prod[i]);
  if ((err = weft_chan_close(c)) < 0)
    bench_die("weft_chan_close", err);
  for (int i = 0; i < CONSUMERS; i++)
    bench_join(cons[i]);
  run->ns = bench_now_ns() - start;

  run->value = check(tallies, run->opts.count);
  if ((err = weft_chan_free(c)) < 0)
    bench_die("weft_chan_free", err);
  return 0;
}

/* The command line: -n is the number of elements in all. */
static const struct bench_cli cli = {"w:n:", "[-w WORKERS] [-n ELEMENTS]", 1000000000};

int main(int argc, char **argv) {
  struct bench_run run = {.opts = {.count = 4000000}};
  const struct bench_opts *o = &run.opts;

  bench_measure(argc, argv, &cli, bench, &run);
  fprintf(stderr, "chan_throughput: %lu elements in %.2f ms on %lu workers\n", o->count,
          run.ns / 1e6, o->workers);
  if (!run.value)
    return 1;
  bench_result("chan_throughput", run.ns / (double)o->count, "ns/op");
  return 0;
}
