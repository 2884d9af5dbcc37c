/*
 * check_timer.c - sleeping and deadlines: never early, many sleepers in
 * deadline order, cancellation during a sleep, shutdown with sleepers, the
 * errors; and the timer heap itself (timers.c): its order, deletes, the
 * kicks it sends its host, and a timed wait that ends in time costing the
 * I/O thread nothing.
 */
#define _GNU_SOURCE
#include "io/io.h"
#include "runtime.h"
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

/* ---- never early ---- */

static atomic_int early;

static void *sleep_some(void *arg) {
  int64_t ms = (int64_t)(intptr_t)arg, deadline = weft_now() + ms;
  if (weft_sleep(ms) != 0)
    atomic_fetch_add(&early, 1000);
  if (weft_now() < deadline)
    atomic_fetch_add(&early, 1);
  /* and the absolute form */
  deadline = weft_now() + ms % 7;
  if (weft_sleep_until(deadline) != 0 || weft_now() < deadline)
    atomic_fetch_add(&early, 1);
  return NULL;
}

static int early_body(void *arg) {
  weft_task *t[2000];
  (void)arg;
  for (int i = 0; i < 2000; i++)
    ck_assert_int_eq(weft_spawn(&t[i], sleep_some, (void *)(intptr_t)(i % 37)), 0);
  for (int i = 0; i < 2000; i++) /* weft_main cancels what is left when we return */
    ck_assert_int_eq(weft_join(t[i], NULL), 0);
  return 0;
}

START_TEST(test_timer_wakeups_never_early) {
  ck_assert_int_eq(run_in_task(2, early_body, NULL), 0);
  ck_assert_int_eq(atomic_load(&early), 0);
}
END_TEST

/* ---- many sleepers: timing and order ---- */

struct sleepers {
  long n;
  int spacing;       /* ms between consecutive deadlines */
  int64_t base;
  atomic_long woke;  /* sequence of wakeups */
  long *order;       /* order[seq] = deadline index of the seq-th to wake */
  atomic_int errors;
};

static struct sleepers many;

static void *sleeper(void *arg) {
  long k = (long)(intptr_t)arg;
  int64_t deadline = many.base + k * many.spacing;
  if (weft_sleep_until(deadline) != 0 || weft_now() < deadline)
    atomic_fetch_add(&many.errors, 1);
  many.order[atomic_fetch_add(&many.woke, 1)] = k;
  return NULL;
}

static void *many_body(void *arg) {
  long groups = (long)(intptr_t)arg;
  for (long i = 0; i < many.n; i++) /* deadline indices interleaved */
    CHECK_HOT(weft_spawn(NULL, sleeper, (void *)(intptr_t)((i * 37) % groups)) == 0);
  /* The sleepers start when this returns (one worker); give them a second
   * to reach their sleep before the first deadline. */
  many.base = weft_now() + 1000;
  return NULL;
}

static void run_sleepers(long n, long groups, int spacing) {
  weft_config cfg;
  weft_rt *rt;

  memset(&many, 0, sizeof many);
  many.n = n;
  many.spacing = spacing;
  many.order = calloc((size_t)n, sizeof *many.order);
  ck_assert_ptr_nonnull(many.order);
  weft_config_init(&cfg);
  cfg.workers = 1; /* one worker: tasks run in the order they were woken */
  ck_assert_int_eq(weft_rt_new(&rt, &cfg), 0);
  ck_assert_int_eq(weft_rt_spawn(rt, NULL, many_body, (void *)(intptr_t)groups), 0);
  ck_assert_int_eq(weft_rt_wait(rt), 0);
  ck_assert_int_eq(weft_rt_free(rt), 0);
  ck_assert_int_eq(atomic_load(&many.errors), 0);
  ck_assert_int_eq(atomic_load(&many.woke), n);
}

/* 100,000 sleepers over 100 ms: every one wakes, none early. */
START_TEST(test_timer_many_sleepers_all_wake) {
  run_sleepers(scaled(100000), 100, 1);
  free(many.order);
}
END_TEST

/* Deadlines 2 ms apart, started in shuffled order, wake in deadline order. */
START_TEST(test_timer_sleepers_wake_in_deadline_order) {
  long n = scaled(500) < 20 ? 20 : scaled(500); /* all must reach their sleep within 1 s */
  run_sleepers(n, n, 2);
  for (long i = 0; i < many.n; i++)
    if (many.order[i] != i)
      ck_abort_msg("wakeup %ld was the sleeper with deadline index %ld", i, many.order[i]);
  free(many.order);
}
END_TEST

/* ---- cancellation ---- */

static void *long_sleep(void *arg) {
  (void)arg;
  return (void *)(intptr_t)weft_sleep(3600 * 1000);
}

static void *forever_sleep(void *arg) {
  (void)arg;
  return (void *)(intptr_t)weft_sleep_until(-1);
}

static int cancel_body(void *arg) {
  weft_task *a, *b;
  void *ra, *rb;
  (void)arg;
  ck_assert_int_eq(weft_spawn(&a, long_sleep, NULL), 0);
  ck_assert_int_eq(weft_spawn(&b, forever_sleep, NULL), 0);
  ck_assert_int_eq(weft_sleep(20), 0); /* both are asleep now */
  ck_assert_int_eq(weft_cancel(a), 0);
  ck_assert_int_eq(weft_cancel(b), 0);
  ck_assert_int_eq(weft_cancel(b), 0); /* twice: one cancel message */
  ck_assert_int_eq(weft_join(a, &ra), 0);
  ck_assert_int_eq(weft_join(b, &rb), 0);
  ck_assert_int_eq((int)(intptr_t)ra, WEFT_ECANCELED);
  ck_assert_int_eq((int)(intptr_t)rb, WEFT_ECANCELED);
  /* cancelled before it sleeps: returns at once */
  ck_assert_int_eq(weft_cancel(weft_self()), 0);
  ck_assert_int_eq(weft_sleep(3600 * 1000), WEFT_ECANCELED);
  return 0;
}

START_TEST(test_timer_cancel_during_sleep) {
  ck_assert_int_eq(run_in_task(2, cancel_body, NULL), 0);
}
END_TEST

/* A cancel racing the timer's own expiry: exactly one wins, nothing leaks. */
static void *short_sleep(void *arg) {
  int rc = weft_sleep((int64_t)(intptr_t)arg);
  return (void *)(intptr_t)(rc == 0 || rc == WEFT_ECANCELED);
}

static int race_body(void *arg) {
  (void)arg;
  for (int round = 0; round < 200; round++) {
    weft_task *t[8];
    void *r;
    for (int i = 0; i < 8; i++)
      ck_assert_int_eq(weft_spawn(&t[i], short_sleep, (void *)(intptr_t)(i % 3)), 0);
    ck_assert_int_eq(weft_sleep(round % 3), 0);
    for (int i = 0; i < 8; i++)
      weft_cancel(t[i]);
    for (int i = 0; i < 8; i++) { /* each ran, cancelled from its start or not */
      ck_assert_int_eq(weft_join(t[i], &r), 0);
      ck_assert_int_eq((int)(intptr_t)r, 1);
    }
  }
  return 0;
}

START_TEST(test_timer_cancel_races_expiry) {
  ck_assert_int_eq(run_in_task(2, race_body, NULL), 0);
}
END_TEST

/* ---- shutdown with sleepers ---- */

static atomic_int cancelled_sleeps;

static void *count_cancelled(void *arg) {
  (void)arg;
  if (weft_sleep_until(-1) == WEFT_ECANCELED)
    atomic_fetch_add(&cancelled_sleeps, 1);
  return NULL;
}

START_TEST(test_timer_shutdown_with_sleepers) {
  weft_config cfg;
  weft_rt *rt;
  long n = scaled(10000);
  weft_config_init(&cfg);
  cfg.workers = 2;
  ck_assert_int_eq(weft_rt_new(&rt, &cfg), 0);
  for (long i = 0; i < n; i++)
    CHECK_HOT(weft_rt_spawn(rt, NULL, count_cancelled, NULL) == 0);
  /* Wait (bounded by the test timeout) until most are asleep, then free. */
  while (1) {
    weft_stats st;
    weft_rt_stats(rt, &st, NULL, 0);
    if (st.switches >= (uint64_t)n)
      break;
    sched_yield();
  }
  ck_assert_int_eq(weft_rt_free(rt), 0);
  /* Every one was cancelled asleep, or ran cancelled from its start. */
  ck_assert_int_eq(atomic_load(&cancelled_sleeps), n);
}
END_TEST

/* ---- errors ---- */

static int errors_body(void *arg) {
  (void)arg;
  ck_assert_int_eq(weft_sleep(-1), WEFT_EINVAL);
  ck_assert_int_eq(weft_sleep(0), 0);
  ck_assert_int_eq(weft_sleep_until(0), 0);
  ck_assert_int_eq(weft_sleep_until(weft_now() - 5), 0);
  return 0;
}

START_TEST(test_timer_errors) {
  ck_assert_int_eq(weft_sleep(10), WEFT_EPERM);
  ck_assert_int_eq(weft_sleep_until(weft_now() + 10), WEFT_EPERM);
  ck_assert_int_eq(run_in_task(1, errors_body, NULL), 0);
}
END_TEST

/* ---- the heap (white box) ---- */

#define HEAP_N 2000

struct heap_timer {
  weft__timer tm;
  int id;
};

static int fired_ids[HEAP_N], nfired, nkicks;

static void record_fire(weft__timer *tm) {
  fired_ids[nfired++] = container_of(tm, struct heap_timer, tm)->id;
}

static void count_kick(struct weft__io *io) {
  (void)io;
  nkicks++;
}

/* A runtime with nothing but its heap, whose host is this thread. */
static weft_rt *heap_only(void) {
  weft_rt *rt = calloc(1, sizeof *rt);
  ck_assert_ptr_nonnull(rt);
  weft__timers_init(&rt->timers);
  rt->timers.kick = count_kick;
  nfired = nkicks = 0;
  return rt;
}

START_TEST(test_timer_heap_fires_in_order_and_never_a_deleted_one) {
  static struct heap_timer t[HEAP_N];
  weft_rt *rt = heap_only();
  unsigned seed = 12345;
  bool deleted[HEAP_N] = {false};
  int ndel = 0;

  /* Due times in the past (so all are due), shuffled, with repeats. */
  for (int i = 0; i < HEAP_N; i++) {
    t[i].id = i;
    t[i].tm.when = (int64_t)(rand_r(&seed) % 500);
    t[i].tm.fire = record_fire;
    weft__timer_add(rt, &t[i].tm);
  }
  ck_assert_int_eq(weft__timers_count(rt), HEAP_N);
  /* Delete a third of them, at every depth of the heap. */
  for (int i = 0; i < HEAP_N; i += 3) {
    ck_assert(weft__timer_del(rt, &t[i].tm));
    ck_assert(!weft__timer_del(rt, &t[i].tm)); /* gone already */
    deleted[i] = true;
    ndel++;
  }
  ck_assert_int_eq(weft__timers_count(rt), HEAP_N - ndel);
  ck_assert_int_eq(weft__timers_run(rt), INT64_MAX); /* nothing left */
  ck_assert_int_eq(nfired, HEAP_N - ndel);
  for (int k = 0; k < nfired; k++) {
    ck_assert(!deleted[fired_ids[k]]);
    if (k > 0)
      ck_assert_int_le(t[fired_ids[k - 1]].tm.when, t[fired_ids[k]].tm.when);
  }
  ck_assert_int_eq(weft__timers_count(rt), 0);
  for (int i = 0; i < HEAP_N; i++) /* fired ones are out of the heap too */
    ck_assert(!weft__timer_del(rt, &t[i].tm));
  free(rt);
}
END_TEST

START_TEST(test_timer_heap_kicks_its_host_only_for_an_earlier_deadline) {
  static struct heap_timer t[4];
  weft_rt *rt = heap_only();
  int64_t far = weft_now() + 3600 * 1000;

  for (int i = 0; i < 4; i++) {
    t[i].id = i;
    t[i].tm.fire = record_fire;
  }
  t[0].tm.when = far;
  weft__timer_add(rt, &t[0].tm); /* the first: the host must hear */
  ck_assert_int_eq(nkicks, 1);
  t[1].tm.when = far + 10;
  weft__timer_add(rt, &t[1].tm); /* later: the alarm rings early enough */
  ck_assert_int_eq(nkicks, 1);
  ck_assert(weft__timer_del(rt, &t[0].tm)); /* a delete never kicks */
  ck_assert_int_eq(nkicks, 1);
  t[2].tm.when = far - 10;
  weft__timer_add(rt, &t[2].tm); /* earlier than the alarm: kick */
  ck_assert_int_eq(nkicks, 2);
  /* The host's run fires nothing yet and reports the earliest left. */
  ck_assert_int_eq(weft__timers_run(rt), far - 10);
  ck_assert_int_eq(nfired, 0);
  t[3].tm.when = 0; /* already due: earlier, so a kick, and it fires */
  weft__timer_add(rt, &t[3].tm);
  ck_assert_int_eq(nkicks, 3);
  ck_assert_int_eq(weft__timers_run(rt), far - 10);
  ck_assert_int_eq(nfired, 1);
  ck_assert_int_eq(fired_ids[0], 3);
  ck_assert(weft__timer_del(rt, &t[1].tm));
  ck_assert(weft__timer_del(rt, &t[2].tm));
  free(rt);
}
END_TEST

/* A timer that is not `waited` may be freed by its own fire (an io op's
 * cancel drops the op): the host must not touch it afterwards. Under
 * ASan and Valgrind a write to it after fire is a use after free. */
static void free_on_fire(weft__timer *tm) {
  record_fire(tm);
  free(container_of(tm, struct heap_timer, tm));
}

START_TEST(test_timer_heap_never_touches_a_timer_its_fire_freed) {
  weft_rt *rt = heap_only();
  for (int i = 0; i < 64; i++) {
    struct heap_timer *t = calloc(1, sizeof *t);
    ck_assert_ptr_nonnull(t);
    t->id = i;
    t->tm.when = i % 5;
    t->tm.fire = free_on_fire;
    weft__timer_add(rt, &t->tm);
  }
  ck_assert_int_eq(weft__timers_run(rt), INT64_MAX);
  ck_assert_int_eq(nfired, 64);
  free(rt);
}
END_TEST

/* An io op with a deadline whose start finishes it and drops the I/O
 * thread's reference once the task has dropped its own: the op is freed
 * inside start, so the I/O thread must not touch it after start returns
 * (op.c, run_start). Under ASan and Valgrind a read of it is a use after
 * free; the order is forced, not left to timing. */
struct self_op {
  weft__io_op op;
};

static void self_start(weft__io_op *op) {
  weft__io_finish(op, 0);
  while (atomic_load(&op->refs) > 1) /* until the woken task let go */
    sched_yield();
  weft__io_op_unref(op); /* the last reference: op is freed here */
}

static void self_cancel(weft__io_op *op, int result) {
  (void)op;
  (void)result;
}

static const weft__io_op_kind self_kind = {
    .size = sizeof(struct self_op),
    .start = self_start,
    .cancel = self_cancel,
};

static int self_finishing_body(void *arg) {
  (void)arg;
  for (int i = 0; i < 100; i++) {
    weft__io_op *op = weft__io_op_new(&self_kind);
    ck_assert_ptr_nonnull(op);
    ck_assert_int_eq(weft__io_wait(op, weft_now() + 60000, true), 0);
    weft__io_op_unref(op);
  }
  ck_assert_int_eq(weft__timers_count(weft_self()->rt), 0);
  return 0;
}

START_TEST(test_timer_io_op_finished_in_its_start_is_left_alone) {
  ck_assert_int_eq(run_in_task(1, self_finishing_body, NULL), 0);
}
END_TEST

/* ---- a timed wait that ends in time ---- */

#define TIMED_ROUNDS 20000

static void *timed_echo(void *arg) {
  weft_chan **c = arg;
  int v;
  for (long i = 0; i < scaled(TIMED_ROUNDS); i++) {
    ck_assert_int_eq(weft_chan_recv(c[0], &v, weft_now() + 600000), 0);
    ck_assert_int_eq(weft_chan_send(c[1], &v, weft_now() + 600000), 0);
  }
  return NULL;
}

static uint64_t io_turns(weft_rt *rt) {
  uint64_t turns = 0;
  weft__io_quiet(rt->io, &turns);
  return turns;
}

/* Ping-pong on two unbuffered channels, every send and receive with a
 * deadline ten minutes out, so every one of them parks with its deadline
 * armed and ends in time. Each later deadline is later than the first,
 * which the I/O thread's alarm is set for, so after the first the heap
 * needs it no more: the I/O thread drains its inbox a handful of times,
 * not once or twice per wait. */
static int timed_in_time_body(void *arg) {
  weft_rt *rt = weft_self()->rt;
  weft_chan *c[2];
  weft_task *t;
  uint64_t before, after;
  int v = 0;
  (void)arg;
  ck_assert_int_eq(weft_chan_new(&c[0], sizeof(int), 0), 0);
  ck_assert_int_eq(weft_chan_new(&c[1], sizeof(int), 0), 0);
  before = io_turns(rt);
  ck_assert_int_eq(weft_spawn(&t, timed_echo, c), 0);
  for (int i = 0; i < scaled(TIMED_ROUNDS); i++) {
    ck_assert_int_eq(weft_chan_send(c[0], &i, weft_now() + 600000), 0);
    ck_assert_int_eq(weft_chan_recv(c[1], &v, weft_now() + 600000), 0);
    ck_assert_int_eq(v, i);
  }
  ck_assert_int_eq(weft_join(t, NULL), 0);
  after = io_turns(rt);
  ck_assert_uint_le(after - before, 8);
  ck_assert_int_eq(weft__timers_count(rt), 0);
  weft_chan_free(c[0]);
  weft_chan_free(c[1]);
  return 0;
}

START_TEST(test_timer_timed_waits_that_end_in_time_send_the_io_thread_nothing) {
  ck_assert_int_eq(run_in_task(1, timed_in_time_body, NULL), 0);
  ck_assert_int_eq(run_in_task(2, timed_in_time_body, NULL), 0);
}
END_TEST

static Suite *timer_suite(void) {
  Suite *s = suite_create("timer");
  TCase *core = tcase_create("core"), *errors = tcase_create("errors"),
        *stress = tcase_create("stress");
  tcase_add_test(core, test_timer_wakeups_never_early);
  tcase_add_test(core, test_timer_cancel_during_sleep);
  tcase_add_test(core, test_timer_cancel_races_expiry);
  tcase_add_test(core, test_timer_shutdown_with_sleepers);
  tcase_add_test(core, test_timer_heap_fires_in_order_and_never_a_deleted_one);
  tcase_add_test(core, test_timer_heap_kicks_its_host_only_for_an_earlier_deadline);
  tcase_add_test(core, test_timer_heap_never_touches_a_timer_its_fire_freed);
  tcase_add_test(core, test_timer_io_op_finished_in_its_start_is_left_alone);
  tcase_add_test(core, test_timer_timed_waits_that_end_in_time_send_the_io_thread_nothing);
  tcase_set_timeout(core, 120);
  tcase_add_test(errors, test_timer_errors);
  tcase_add_test(stress, test_timer_many_sleepers_all_wake);
  tcase_add_test(stress, test_timer_sleepers_wake_in_deadline_order);
  tcase_set_timeout(stress, 300);
  suite_add_tcase(s, core);
  suite_add_tcase(s, errors);
  suite_add_tcase(s, stress);
  return s;
}

WEFT_TEST_MAIN(timer_suite)
