/*
 * check_task.c - the task lifecycle and every documented error: spawn,
 * join, detach, cancel, names and ids, calls from the wrong place, bad
 * arguments, allocation failure, shutdown with tasks alive.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static void *identity(void *arg) {
  return arg;
}

static void *forever_yielding(void *arg) {
  (void)arg;
  while (!weft_canceled())
    weft_yield();
  return (void *)(intptr_t)7;
}

/* ---- core ---- */

static int lifecycle_body(void *arg) {
  weft_spawn_attr attr;
  weft_task *a, *b;
  void *r;
  (void)arg;

  ck_assert_ptr_nonnull(weft_self());
  ck_assert_str_eq(weft_task_name(weft_self()), "main");
  ck_assert_int_eq(weft_spawn(&a, identity, (void *)(intptr_t)41), 0);
  weft_spawn_attr_init(&attr);
  attr.name = "a name longer than thirty-one bytes is cut";
  ck_assert_int_eq(weft_spawn_ex(&b, &attr, identity, (void *)(intptr_t)42), 0);
  ck_assert_str_eq(weft_task_name(b), "a name longer than thirty-one b");
  ck_assert_int_ne(weft_task_id(a), 0);
  ck_assert_int_ne(weft_task_id(a), weft_task_id(b));
  ck_assert_int_ne(weft_task_id(a), weft_task_id(weft_self()));
  ck_assert_int_eq(weft_join(a, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, 41);
  ck_assert_int_eq(weft_join(b, NULL), 0);
  /* detached: with a NULL handle, by attribute, and by weft_detach */
  ck_assert_int_eq(weft_spawn(NULL, identity, NULL), 0);
  attr.detached = 1;
  ck_assert_int_eq(weft_spawn_ex(NULL, &attr, identity, NULL), 0);
  ck_assert_int_eq(weft_spawn(&a, identity, NULL), 0);
  ck_assert_int_eq(weft_detach(a), 0);
  ck_assert_int_eq(weft_task_id(NULL), 0);
  ck_assert_ptr_null(weft_task_name(NULL));
  return 5;
}

START_TEST(test_task_lifecycle) {
  ck_assert_int_eq(run_in_task(2, lifecycle_body, NULL), 5);
}
END_TEST

/* A detached task that finishes before weft_detach is released by it. */
static int detach_after_finish_body(void *arg) {
  weft_task *t;
  (void)arg;
  ck_assert_int_eq(weft_spawn(&t, identity, NULL), 0);
  weft_yield(); /* one worker: t runs to its end here */
  ck_assert_int_eq(weft_detach(t), 0);
  return 0;
}

START_TEST(test_task_detach_after_finish) {
  ck_assert_int_eq(run_in_task(1, detach_after_finish_body, NULL), 0);
}
END_TEST

/* ---- cancellation ---- */

struct joiner_arg {
  weft_task *target;
  int rc;
  atomic_int started;
};

static void *joiner(void *arg) {
  struct joiner_arg *j = arg;
  atomic_store(&j->started, 1);
  j->rc = weft_join(j->target, NULL);
  return NULL;
}

static atomic_int ran_count;

static void *counted(void *arg) {
  atomic_fetch_add(&ran_count, 1);
  return arg;
}

/* Reports what a task cancelled before its start sees: 1 when it ran
 * cancelled and its first blocking call said so. */
static void *cancelled_from_start(void *arg) {
  int canceled = weft_canceled();
  int rc = weft_sleep(60000);
  atomic_fetch_add(&ran_count, 1);
  return (void *)(intptr_t)(canceled && rc == WEFT_ECANCELED && arg == &ran_count);
}

static int cancel_body(void *arg) {
  struct joiner_arg j = {0};
  weft_task *victim, *jt, *unstarted;
  void *r;
  (void)arg;

  /* A task parked in weft_join returns WEFT_ECANCELED; the target stays
   * joinable. */
  ck_assert_int_eq(weft_spawn(&victim, forever_yielding, NULL), 0);
  j.target = victim;
  ck_assert_int_eq(weft_spawn(&jt, joiner, &j), 0);
  ck_assert(wait_parked(jt, weft_now() + 60000));
  ck_assert_int_eq(weft_cancel(jt), 0);
  ck_assert_int_eq(weft_join(jt, NULL), 0);
  ck_assert_int_eq(j.rc, WEFT_ECANCELED);
  ck_assert_int_eq(weft_cancel(victim), 0);
  ck_assert_int_eq(weft_join(victim, &r), 0); /* it saw weft_canceled() and returned */
  ck_assert_int_eq((int)(intptr_t)r, 7);

  /* One worker and no switch: cancelled before it started, it still runs,
   * cancelled from its first line, and join hands back what it returned. */
  ck_assert_int_eq(weft_spawn(&unstarted, cancelled_from_start, &ran_count), 0);
  ck_assert_int_eq(weft_cancel(unstarted), 0);
  ck_assert_int_eq(weft_cancel(unstarted), 0); /* twice is harmless */
  ck_assert_int_eq(atomic_load(&ran_count), 0);
  ck_assert_int_eq(weft_join(unstarted, &r), 0);
  ck_assert_int_eq(atomic_load(&ran_count), 1);
  ck_assert_int_eq((int)(intptr_t)r, 1);

  /* A cancelled task's next blocking call returns at once. */
  ck_assert_int_eq(weft_spawn(&victim, identity, NULL), 0);
  ck_assert_int_eq(weft_cancel(weft_self()), 0);
  ck_assert(weft_canceled());
  ck_assert_int_eq(weft_join(victim, NULL), WEFT_ECANCELED);
  return 0;
}

START_TEST(test_task_cancel) {
  ck_assert_int_eq(run_in_task(1, cancel_body, NULL), 0);
}
END_TEST

/* ---- errors ---- */

static int errors_body(void *arg) {
  weft_spawn_attr attr;
  weft_task *t, *u;
  weft_rt *rt;
  (void)arg;

  ck_assert_int_eq(weft_spawn(&t, NULL, NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_spawn_ex(&t, NULL, NULL, NULL), WEFT_EINVAL);
  weft_spawn_attr_init(&attr);
  ck_assert_int_eq(weft_spawn_ex(NULL, &attr, identity, NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_join(NULL, NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_join(weft_self(), NULL), WEFT_EDEADLK);
  ck_assert_int_eq(weft_detach(NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_cancel(NULL), WEFT_EINVAL);

  /* joining a detached task */
  ck_assert_int_eq(weft_spawn(&t, forever_yielding, NULL), 0);
  ck_assert_int_eq(weft_detach(t), 0);
  ck_assert_int_eq(weft_join(t, NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_detach(t), WEFT_EINVAL);
  ck_assert_int_eq(weft_cancel(t), 0);

  /* joining twice: while another join holds it, and after it was released */
  ck_assert_int_eq(weft_spawn(&t, forever_yielding, NULL), 0);
  struct joiner_arg j = {.target = t};
  ck_assert_int_eq(weft_spawn(&u, joiner, &j), 0);
  /* The joiner may run on the other worker: once it is parked in its
   * join, it has claimed t. */
  ck_assert(wait_parked(u, weft_now() + 60000));
  ck_assert_int_eq(weft_join(t, NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_detach(t), WEFT_EINVAL);
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_join(u, NULL), 0);
  ck_assert_int_eq(j.rc, 0);
  ck_assert_int_eq(weft_join(t, NULL), WEFT_EINVAL);

  /* runtime calls that must not run inside a task */
  ck_assert_int_eq(weft_rt_new(&rt, NULL), WEFT_EPERM);
  ck_assert_int_eq(weft_main(NULL, errors_body, NULL), WEFT_EPERM);
  return 0;
}

START_TEST(test_task_errors) {
  ck_assert_int_eq(run_in_task(2, errors_body, NULL), 0);
}
END_TEST

struct inside {
  weft_rt *rt;
  int wait_rc, free_rc;
};

static void *call_rt_inside(void *arg) {
  struct inside *in = arg;
  in->wait_rc = weft_rt_wait(in->rt);
  in->free_rc = weft_rt_free(in->rt);
  return NULL;
}

START_TEST(test_task_errors_outside_and_runtime) {
  weft_config cfg;
  weft_rt *rt;
  weft_task *t = NULL;
  struct inside in = {0};

  /* outside any task */
  ck_assert_ptr_null(weft_self());
  ck_assert_int_eq(weft_spawn(&t, identity, NULL), WEFT_EPERM);
  ck_assert_int_eq(weft_join((weft_task *)&cfg, NULL), WEFT_EPERM);
  weft_yield(); /* documented no-op */
  ck_assert_int_eq(weft_canceled(), 0);
  ck_assert_int_eq(weft_main(NULL, NULL, NULL), WEFT_EINVAL);

  /* runtime arguments */
  ck_assert_int_eq(weft_rt_new(NULL, NULL), WEFT_EINVAL);
  weft_config_init(&cfg);
  cfg.workers = 100000;
  ck_assert_int_eq(weft_rt_new(&rt, &cfg), WEFT_EINVAL);
  weft_config_init(&cfg);
  cfg.stack_size = WEFT_STACK_MAX + 1;
  ck_assert_int_eq(weft_rt_new(&rt, &cfg), WEFT_EINVAL);
  ck_assert_int_eq(weft_rt_spawn(NULL, NULL, identity, NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_rt_wait(NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_rt_free(NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_rt_stats(NULL, NULL, NULL, 0), WEFT_EINVAL);

  weft_config_init(&cfg);
  cfg.workers = 2;
  ck_assert_int_eq(weft_rt_new(&rt, &cfg), 0);
  ck_assert_int_eq(weft_rt_spawn(rt, &t, NULL, NULL), WEFT_EINVAL);
  in.rt = rt;
  ck_assert_int_eq(weft_rt_spawn(rt, &t, call_rt_inside, &in), 0);
  ck_assert_int_eq(weft_rt_wait(rt), 0);
  ck_assert_int_eq(in.wait_rc, WEFT_EPERM);
  ck_assert_int_eq(in.free_rc, WEFT_EPERM);
  ck_assert_int_eq(weft_detach(t), 0);
  ck_assert_int_eq(weft_rt_free(rt), 0);
}
END_TEST

START_TEST(test_task_strerror_names_every_code) {
  static const int codes[] = {WEFT_EPERM,   WEFT_ENOENT,       WEFT_EBADF,      WEFT_EAGAIN,
                              WEFT_ENOMEM,  WEFT_EBUSY,        WEFT_EINVAL,     WEFT_EMFILE,
                              WEFT_EPIPE,   WEFT_EDEADLK,      WEFT_ETIMEDOUT,  WEFT_ECANCELED,
                              WEFT_ECONNREFUSED, WEFT_ECONNRESET, WEFT_EDONE};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    ck_assert_str_ne(weft_strerror(codes[i]), "unknown error");
  ck_assert_str_eq(weft_strerror(12345), "unknown error");
  ck_assert_str_eq(weft_strerror(0), "success");
}
END_TEST

/* ---- shutdown with tasks alive ---- */

static void *parked_joiner(void *arg) {
  weft_task *target = arg;
  int rc = weft_join(target, NULL);
  return (void *)(intptr_t)rc;
}

static void *spawn_many(void *arg) {
  weft_task *last = NULL;
  (void)arg;
  for (int i = 0; i < 1000; i++) {
    weft_task *t;
    CHECK_HOT(weft_spawn(&t, forever_yielding, NULL) == 0);
    if (last)
      CHECK_HOT(weft_spawn(NULL, parked_joiner, last) == 0);
    last = t;
  }
  for (int i = 0; i < 1000; i++)
    CHECK_HOT(weft_spawn(NULL, counted, NULL) == 0);
  return NULL;
}

START_TEST(test_task_rt_free_cancels_live_tasks) {
  weft_config cfg;
  weft_rt *rt;
  weft_task *t;
  weft_config_init(&cfg);
  cfg.workers = 2;
  ck_assert_int_eq(weft_rt_new(&rt, &cfg), 0);
  ck_assert_int_eq(weft_rt_spawn(rt, &t, spawn_many, NULL), 0);
  ck_assert_int_eq(weft_detach(t), 0);
  /* Some run, some are parked in join, some never start: all must go. */
  ck_assert_int_eq(weft_rt_free(rt), 0);
}
END_TEST

/* weft_rt_free and the tasks it finds unstarted: each still runs,
 * cancelled, and releases the buffer it was handed. */
#define HOLDERS 64

static struct {
  atomic_int spawned; /* the spinner has spawned its holders */
  atomic_int freed;   /* holders that released their buffer */
  atomic_int late;    /* holders spawned during weft_rt_free */
  atomic_int wrong;   /* holders whose first blocking call did not say cancelled */
} held;

static void *holder(void *arg) {
  char *buf = arg;
  if (weft_sleep(60000) != WEFT_ECANCELED || buf[0] != 'h')
    atomic_fetch_add(&held.wrong, 1);
  free(buf);
  atomic_fetch_add(&held.freed, 1);
  return NULL;
}

static void spawn_holder(void) {
  char *buf = malloc(256);
  CHECK_HOT(buf != NULL);
  buf[0] = 'h';
  CHECK_HOT(weft_spawn(NULL, holder, buf) == 0);
}

/* Holds the only worker, without yielding, until weft_rt_free cancels it:
 * the holders queued behind it have not started by then. */
static void *spinner(void *arg) {
  (void)arg;
  for (int i = 0; i < HOLDERS; i++)
    spawn_holder();
  atomic_store(&held.spawned, 1);
  while (!weft_canceled())
    ;
  for (int i = 0; i < HOLDERS / 4; i++) { /* spawned while the runtime shuts down */
    spawn_holder();
    atomic_fetch_add(&held.late, 1);
  }
  return NULL;
}

START_TEST(test_task_rt_free_runs_unstarted_tasks_so_they_release_what_they_hold) {
  weft_config cfg;
  weft_rt *rt;
  setenv("WEFT_WARN_BLOCKING_MS", "0", 1); /* the spinner blocks on purpose */
  weft_config_init(&cfg);
  cfg.workers = 1;
  ck_assert_int_eq(weft_rt_new(&rt, &cfg), 0);
  ck_assert_int_eq(weft_rt_spawn(rt, NULL, spinner, NULL), 0);
  while (!atomic_load(&held.spawned))
    sched_yield();
  ck_assert_int_eq(weft_rt_free(rt), 0);
  unsetenv("WEFT_WARN_BLOCKING_MS");
  ck_assert_int_eq(atomic_load(&held.late), HOLDERS / 4);
  ck_assert_int_eq(atomic_load(&held.freed), HOLDERS + HOLDERS / 4);
  ck_assert_int_eq(atomic_load(&held.wrong), 0);
}
END_TEST

START_TEST(test_task_two_runtimes_independent) {
  weft_config cfg;
  weft_rt *a, *b;
  weft_task *ta, *tb;
  weft_config_init(&cfg);
  cfg.workers = 1;
  ck_assert_int_eq(weft_rt_new(&a, &cfg), 0);
  ck_assert_int_eq(weft_rt_new(&b, &cfg), 0);
  ck_assert_int_eq(weft_rt_spawn(a, &ta, forever_yielding, NULL), 0);
  ck_assert_int_eq(weft_rt_spawn(b, &tb, identity, NULL), 0);
  ck_assert_int_eq(weft_rt_wait(b), 0); /* a's endless task does not hold b */
  ck_assert_int_eq(weft_detach(tb), 0);
  ck_assert_int_eq(weft_rt_free(b), 0);
  ck_assert_int_eq(weft_cancel(ta), 0);
  ck_assert_int_eq(weft_detach(ta), 0);
  ck_assert_int_eq(weft_rt_free(a), 0);
}
END_TEST

START_TEST(test_task_runtime_loop_frees_everything) {
  for (int i = 0; i < 100; i++) {
    weft_config cfg;
    weft_rt *rt;
    weft_config_init(&cfg);
    cfg.workers = 2;
    ck_assert_int_eq(weft_rt_new(&rt, &cfg), 0);
    for (int k = 0; k < 10; k++)
      ck_assert_int_eq(weft_rt_spawn(rt, NULL, identity, NULL), 0);
    ck_assert_int_eq(weft_rt_free(rt), 0);
  }
}
END_TEST

/* ---- allocation failure ---- */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1 /* they reserve terabytes of shadow: no RLIMIT_AS here */
#endif

#ifndef SANITIZED
static int enomem_body(void *arg) {
  long n = 0, cap = 1 << 20;
  weft_task **t = malloc((size_t)cap * sizeof *t);
  int rc = 0;
  (void)arg;
  ck_assert_ptr_nonnull(t);
  /* A 64 MiB stack each: the address space limit is reached quickly. */
  weft_spawn_attr attr;
  weft_spawn_attr_init(&attr);
  attr.stack_size = 64u << 20;
  while (n < cap && (rc = weft_spawn_ex(&t[n], &attr, identity, NULL)) == 0)
    n++;
  ck_assert_int_eq(rc, WEFT_ENOMEM);
  ck_assert_int_gt(n, 0);
  for (long i = 0; i < n; i++)
    CHECK_HOT(weft_join(t[i], NULL) == 0);
  /* The runtime still works. */
  ck_assert_int_eq(weft_spawn(&t[0], identity, (void *)(intptr_t)3), 0);
  void *r;
  ck_assert_int_eq(weft_join(t[0], &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, 3);
  free(t);
  return 0;
}
#endif

START_TEST(test_task_spawn_out_of_memory) {
#ifdef SANITIZED
  return; /* the sanitizer runtimes cannot live under RLIMIT_AS */
#else
  struct rlimit lim = {(rlim_t)4 << 30, (rlim_t)4 << 30};
  ck_assert_int_eq(setrlimit(RLIMIT_AS, &lim), 0);
  ck_assert_int_eq(run_in_task(1, enomem_body, NULL), 0);
#endif
}
END_TEST

static Suite *task_suite(void) {
  Suite *s = suite_create("task");
  TCase *core = tcase_create("core"), *errors = tcase_create("errors"),
        *limits = tcase_create("limits");
  tcase_add_test(core, test_task_lifecycle);
  tcase_add_test(core, test_task_detach_after_finish);
  tcase_add_test(core, test_task_cancel);
  tcase_add_test(core, test_task_rt_free_cancels_live_tasks);
  tcase_add_test(core, test_task_rt_free_runs_unstarted_tasks_so_they_release_what_they_hold);
  tcase_add_test(core, test_task_two_runtimes_independent);
  tcase_add_test(core, test_task_runtime_loop_frees_everything);
  tcase_set_timeout(core, 120);
  tcase_add_test(errors, test_task_errors);
  tcase_add_test(errors, test_task_errors_outside_and_runtime);
  tcase_add_test(errors, test_task_strerror_names_every_code);
  tcase_set_timeout(errors, 60);
  tcase_add_test(limits, test_task_spawn_out_of_memory);
  tcase_set_timeout(limits, 120);
  suite_add_tcase(s, core);
  suite_add_tcase(s, errors);
  suite_add_tcase(s, limits);
  return s;
}

WEFT_TEST_MAIN(task_suite)
