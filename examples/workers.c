/*
 * workers - a bounded pool of tasks fed by a channel, results gathered with
 * a wait group: four workers take jobs (numbers) from a buffered channel,
 * compute, and add to a total under a mutex; the main task closes the
 * channel when every job is queued and waits for the group.
 *
 *   workers [JOBS] [POOL]
 */
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>

struct pool {
  weft_chan *jobs;
  weft_wg *done;
  weft_mutex *lock;
  long total, handled[64];
};

struct worker {
  struct pool *p;
  int id;
};

static long collatz_steps(long n) {
  long steps = 0;
  while (n != 1) {
    n = n % 2 ? 3 * n + 1 : n / 2;
    steps++;
  }
  return steps;
}

static void *work(void *arg) {
  struct worker *w = arg;
  long job;
  while (weft_chan_recv(w->p->jobs, &job, -1) == 0) { /* until closed and drained */
    long r = collatz_steps(job);
    weft_mutex_lock(w->p->lock, -1);
    w->p->total += r;
    weft_mutex_unlock(w->p->lock);
    w->p->handled[w->id]++;
  }
  weft_wg_done(w->p->done);
  return NULL;
}

static int run(void *arg) {
  long *cfg = arg, jobs = cfg[0], size = cfg[1], expect = 0;
  struct pool p = {0};
  struct worker w[64];

  if (weft_chan_new(&p.jobs, sizeof(long), 16) || weft_wg_new(&p.done) || weft_mutex_new(&p.lock))
    return 1;
  weft_wg_add(p.done, size);
  for (int i = 0; i < size; i++) {
    w[i] = (struct worker){&p, i};
    weft_spawn(NULL, work, &w[i]);
  }
  for (long j = 1; j <= jobs; j++) {
    weft_chan_send(p.jobs, &j, -1); /* waits while the queue is full */
    expect += collatz_steps(j);
  }
  weft_chan_close(p.jobs);
  weft_wg_wait(p.done, -1);
  for (int i = 0; i < size; i++)
    printf("worker %d handled %ld jobs\n", i, p.handled[i]);
  printf("total steps %ld (%s)\n", p.total, p.total == expect ? "correct" : "WRONG");
  weft_chan_free(p.jobs);
  weft_wg_free(p.done);
  weft_mutex_free(p.lock);
  return p.total == expect ? 0 : 1;
}

int main(int argc, char **argv) {
  long cfg[2] = {argc > 1 ? atol(argv[1]) : 100000, argc > 2 ? atol(argv[2]) : 4};
  if (cfg[0] < 1 || cfg[1] < 1 || cfg[1] > 64) {
    fprintf(stderr, "usage: workers [JOBS] [POOL<=64]\n");
    return 2;
  }
  return weft_main(NULL, run, cfg);
}
