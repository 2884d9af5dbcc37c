/*
 * chan_pingpong.c - the latency of an unbuffered channel: two tasks bounce
 * a long N times over two rendezvous channels. The pinger sends i on ping
 * and waits for i + 1 on pong; the ponger answers each value with its
 * successor. The figure is the wall time divided by N, in nanoseconds per
 * round trip (two rendezvous sends and two receives).
 *
 * With -w 1 both tasks share one worker, so a round trip is two task
 * switches on it; with -w 2 they may run on two workers, and then every
 * send wakes a task on the other one.
 *
 * Then it does it again with a deadline a second ahead on every send and
 * receive: each one that waits arms a timer and, ending in time, takes it
 * back. That is the cost of a timed wait that does not time out.
 *
 * Usage: chan_pingpong [-w WORKERS] [-n ROUND_TRIPS]
 * Prints "RESULT chan_pingpong <ns> ns/op" and "RESULT chan_timed <ns>
 * ns/op" on stdout. Its twin is bench/peers/go/chan_pingpong/main.go.
 */
#define _POSIX_C_SOURCE 200809L
#define BENCH_NAME "chan_pingpong"

#include "bench.h"

#include <stdint.h>
#include <stdio.h>

/* Sums of up to 2^32 values travel through the void * a task returns. */
_Static_assert(sizeof(intptr_t) >= 8, "chan_pingpong needs 64-bit pointers");

/* What the two tasks share. */
struct pair {
  weft_chan *ping;      /* pinger to ponger */
  weft_chan *pong;      /* ponger to pinger */
  unsigned long rounds; /* round trips to make */
  bool timed;           /* a deadline a second ahead on every wait */
};

/* The deadline of a wait: none, or a second from now. */
static int64_t deadline(const struct pair *p) {
  return p->timed ? weft_now() + 1000 : -1;
}

/* Send v on c, or die. Inside a task. */
static void send_long(const struct pair *p, weft_chan *c, long v) {
  int err = weft_chan_send(c, &v, deadline(p));
  if (err < 0)
    bench_die("weft_chan_send", err);
}

/*
 * Send 0..rounds-1 on ping, checking that each comes back on pong one
 * higher, then close ping. Returns the number of wrong answers. Inside a
 * task.
 */
static void *pinger(void *arg) {
  const struct pair *p = arg;
  intptr_t wrong = 0;
  for (unsigned long i = 0; i < p->rounds; i++) {
    long v;
    send_long(p, p->ping, (long)i);
    int err = weft_chan_recv(p->pong, &v, deadline(p));
    if (err < 0)
      bench_die("weft_chan_recv", err);
    wrong += v != (long)i + 1;
  }
  int err = weft_chan_close(p->ping);
  if (err < 0)
    bench_die("weft_chan_close", err);
  return (void *)wrong;
}

/* Answer every value on ping with its successor on pong until ping is
 * closed. Returns the sum of the values received. Inside a task. */
static void *ponger(void *arg) {
  const struct pair *p = arg;
  intptr_t sum = 0;
  for (;;) {
    long v;
    int err = weft_chan_recv(p->ping, &v, deadline(p));
    if (err == WEFT_EPIPE)
      return (void *)sum;
    if (err < 0)
      bench_die("weft_chan_recv", err);
    sum += v;
    send_long(p, p->pong, v + 1);
  }
}

/* Make an unbuffered channel of longs, or die. Any thread. */
static weft_chan *new_chan(void) {
  weft_chan *c;
  int err = weft_chan_new(&c, sizeof(long), 0);
  if (err < 0)
    bench_die("weft_chan_new", err);
  return c;
}

/* Free c, or die. Any thread. */
static void free_chan(weft_chan *c) {
  int err = weft_chan_free(c);
  if (err < 0)
    bench_die("weft_chan_free", err);
}

/* Both runs' figures: wall times, and the ponger's sums (-1 when the
 * pinger saw a wrong answer). */
static double timed_ns;
static intptr_t timed_value;

/* One run: start both tasks, join them and time it. Inside a task. */
static void run_pair(bool timed, unsigned long rounds, double *ns, intptr_t *value) {
  struct pair p = {new_chan(), new_chan(), rounds, timed};
  weft_task *ping_task, *pong_task;

  double start = bench_now_ns();
  bench_spawn(&pong_task, ponger, &p);
  bench_spawn(&ping_task, pinger, &p);
  intptr_t wrong = bench_join(ping_task);
  intptr_t sum = bench_join(pong_task);
  *ns = bench_now_ns() - start;

  *value = wrong != 0 ? -1 : sum;
  free_chan(p.ping);
  free_chan(p.pong);
}

/* The main task: the untimed run, then the timed one. */
static int bench(void *arg) {
  struct bench_run *run = arg;
  run_pair(false, run->opts.count, &run->ns, &run->value);
  run_pair(true, run->opts.count, &timed_ns, &timed_value);
  return 0;
}

/* The command line: -n is the number of round trips. */
static const struct bench_cli cli = {"w:n:", "[-w WORKERS] [-n ROUND_TRIPS]", 1000000000};

int main(int argc, char **argv) {
  struct bench_run run = {.opts = {.count = 1000000}};
  const struct bench_opts *o = &run.opts;

  bench_measure(argc, argv, &cli, bench, &run);
  long long want = (long long)o->count * ((long long)o->count - 1) / 2;
  fprintf(stderr, "chan_pingpong: %lu round trips in %.2f ms on %lu workers, sum %lld\n", o->count,
          run.ns / 1e6, o->workers, (long long)run.value);
  fprintf(stderr, "chan_pingpong: timed: %.2f ms, sum %lld\n", timed_ns / 1e6,
          (long long)timed_value);
  if (run.value != want || timed_value != want) {
    fprintf(stderr, "chan_pingpong: wrong answer or sum, want sum %lld\n", want);
    return 1;
  }
  bench_result("chan_pingpong", run.ns / (double)o->count, "ns/op");
  bench_result("chan_timed", timed_ns / (double)o->count, "ns/op");
  return 0;
}
