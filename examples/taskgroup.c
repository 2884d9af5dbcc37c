/*
 * taskgroup - a task with a done-callback (asyncio's Task callbacks),
 * and asyncio's TaskGroup, with weft's scopes:
 *
 *   taskgroup [JOBS] [FAIL]
 *
 * 1. Task and callback: a task computes a sum; weft_task_on_done prints
 *    its result when it finishes ("when we arrive, somebody wake me up"),
 *    and the main task joins it as well: the callback does not take the
 *    join.
 * 2. Fan-out with first-error cancel: JOBS members each "fetch" for a
 *    while (they sleep i * 10 ms); member FAIL (default 3; 0: none) fails
 *    after 25 ms, which cancels every member still sleeping.
 *    weft_scope_wait returns that member's error, and only after every
 *    member has finished.
 * 3. A timeout: a scope whose members outlast a 50 ms deadline;
 *    weft_scope_wait returns WEFT_ETIMEDOUT, the members keep running, and
 *    weft_scope_free cancels and waits for them.
 * 4. The first of several tasks: weft_select over the task-done channels
 *    of three tasks tells which finished first.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>

#define MY_EFAIL 1 /* a member's own failure code */

static void *sum_to(void *arg) {
  intptr_t n = (intptr_t)arg, s = 0;
  for (intptr_t i = 1; i <= n; i++)
    s += i;
  return (void *)s;
}

struct said {
  const char *what;
  weft_chan *printed; /* the callback closes it once it has printed */
};

static void print_result(weft_task *t, void *result, int canceled, void *arg) {
  struct said *sd = arg;
  (void)t;
  printf("callback: %s finished%s with %ld\n", sd->what, canceled ? " (cancelled)" : "",
         (long)(intptr_t)result);
  weft_chan_close(sd->printed);
}

struct job {
  long i, fail;
  atomic_long *finished, *canceled;
};

static int fetch_job(void *arg) {
  struct job *j = arg;
  int rc;
  if (j->i == j->fail) {
    rc = weft_sleep(25);
    atomic_fetch_add(j->finished, 1);
    if (rc == 0) {
      printf("job %ld: fails\n", j->i);
      return MY_EFAIL;
    }
    return rc;
  }
  rc = weft_sleep(j->i * 10);
  if (rc == WEFT_ECANCELED)
    atomic_fetch_add(j->canceled, 1);
  atomic_fetch_add(j->finished, 1);
  return rc;
}

static int fan_out(long jobs, long fail) {
  atomic_long finished = 0, canceled = 0;
  struct job *j = calloc((size_t)jobs, sizeof *j);
  weft_scope *s;
  int rc;

  if (!j || (rc = weft_scope_new(&s)) != 0) {
    free(j);
    return 1;
  }
  for (long i = 0; i < jobs; i++) {
    j[i] = (struct job){i + 1, fail, &finished, &canceled};
    if ((rc = weft_scope_go(s, fetch_job, &j[i])) != 0)
      fprintf(stderr, "taskgroup: weft_scope_go: %s\n", weft_strerror(rc));
  }
  rc = weft_scope_wait(s, -1);
  printf("fan-out: %ld jobs, wait returned %d (%s), %ld finished, %ld cancelled\n", jobs, rc,
         rc == MY_EFAIL ? "job failed" : rc ? weft_strerror(rc) : "all succeeded",
         atomic_load(&finished), atomic_load(&canceled));
  weft_scope_free(s);
  free(j);
  return 0;
}

static int slow_member(void *arg) {
  (void)arg;
  return weft_sleep(10000);
}

static int with_timeout(void) {
  weft_scope *s;
  int rc;
  if (weft_scope_new(&s) != 0)
    return 1;
  for (int i = 0; i < 3; i++)
    weft_scope_go(s, slow_member, NULL);
  rc = weft_scope_wait(s, weft_now() + 50);
  printf("timeout: wait returned %s; weft_scope_free cancels the rest\n", weft_strerror(rc));
  weft_scope_free(s);
  return 0;
}

static void *nap(void *arg) {
  weft_sleep((intptr_t)arg);
  return arg;
}

static int first_of(void) {
  static const intptr_t naps[3] = {60, 20, 40};
  weft_task *t[3];
  weft_select_case cases[3];
  int which;
  for (int i = 0; i < 3; i++) {
    weft_chan *done;
    if (weft_spawn(&t[i], nap, (void *)naps[i]) != 0 || weft_task_done(t[i], &done) != 0)
      return 1;
    cases[i] = (weft_select_case){.chan = done, .op = WEFT_SELECT_RECV};
  }
  which = weft_select(cases, 3, -1);
  printf("first of three: task %d (it napped %ld ms)\n", which, (long)naps[which]);
  for (int i = 0; i < 3; i++)
    weft_join(t[i], NULL);
  return 0;
}

static int run(void *arg) {
  long *cfg = arg;
  struct said sd = {"sum_to(100)", NULL};
  weft_task *t;
  void *r;

  if (weft_chan_new(&sd.printed, 0, 0) != 0 || weft_spawn(&t, sum_to, (void *)(intptr_t)100) != 0 ||
      weft_task_on_done(t, print_result, &sd) != 0)
    return 1;
  weft_join(t, &r);
  printf("join: sum_to(100) = %ld\n", (long)(intptr_t)r);
  weft_chan_recv(sd.printed, NULL, -1); /* the callback has printed: WEFT_EPIPE */
  weft_chan_free(sd.printed);
  return fan_out(cfg[0], cfg[1]) || with_timeout() || first_of();
}

int main(int argc, char **argv) {
  long cfg[2] = {argc > 1 ? atol(argv[1]) : 8, argc > 2 ? atol(argv[2]) : 3};
  if (cfg[0] < 1 || cfg[1] < 0) {
    fprintf(stderr, "usage: taskgroup [JOBS] [FAIL]\n");
    return 2;
  }
  return weft_main(NULL, run, cfg);
}
