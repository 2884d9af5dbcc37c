/*
 * check_sync.c - task-aware mutex, condition variable, wait group,
 * semaphore and once: exact counts under contention, no starvation, the
 * semantics of each, deadlines and cancellation on every blocking call.
 */
#include "testutil.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- mutex ---- */

struct counter {
  weft_mutex *m;
  long value; /* plain: only the mutex protects it */
  long per_task;
};

static void *incrementer(void *arg) {
  struct counter *c = arg;
  for (long i = 0; i < c->per_task; i++) {
    CHECK_HOT(weft_mutex_lock(c->m, -1) == 0);
    long v = c->value;
    if (i % 64 == 0)
      weft_yield(); /* hold the lock across a switch now and then */
    c->value = v + 1;
    CHECK_HOT(weft_mutex_unlock(c->m) == 0);
  }
  return NULL;
}

static int counter_body(void *arg) {
  struct counter c = {.per_task = *(long *)arg};
  long tasks = 1000;
  weft_task **t = calloc((size_t)tasks, sizeof *t);
  ck_assert_int_eq(weft_mutex_new(&c.m), 0);
  for (long i = 0; i < tasks; i++)
    CHECK_HOT(weft_spawn(&t[i], incrementer, &c) == 0);
  for (long i = 0; i < tasks; i++)
    CHECK_HOT(weft_join(t[i], NULL) == 0);
  ck_assert_int_eq(c.value, tasks * c.per_task);
  ck_assert_int_eq(weft_mutex_free(c.m), 0);
  free(t);
  return 0;
}

START_TEST(test_sync_mutex_counter_exact) {
  long per_task = scaled(1000);
  ck_assert_int_eq(run_in_task(2, counter_body, &per_task), 0);
}
END_TEST

/* A task that keeps re-taking the lock cannot starve a waiter. */
static atomic_bool stop_hog;

static void *hog(void *arg) {
  weft_mutex *m = arg;
  while (!atomic_load(&stop_hog)) {
    weft_mutex_lock(m, -1);
    weft_yield(); /* the waiter gets to run while we hold it */
    weft_mutex_unlock(m);
  }
  return NULL;
}

static int starve_body(void *arg) {
  weft_mutex *m;
  weft_task *h;
  (void)arg;
  ck_assert_int_eq(weft_mutex_new(&m), 0);
  ck_assert_int_eq(weft_spawn(&h, hog, m), 0);
  weft_yield();
  for (int i = 0; i < 20; i++) { /* each lock must come, within the generous deadline */
    ck_assert_int_eq(weft_mutex_lock(m, weft_now() + 10000), 0);
    ck_assert_int_eq(weft_mutex_unlock(m), 0);
  }
  atomic_store(&stop_hog, true);
  ck_assert_int_eq(weft_join(h, NULL), 0);
  ck_assert_int_eq(weft_mutex_free(m), 0);
  return 0;
}

START_TEST(test_sync_mutex_waiter_not_starved) {
  ck_assert_int_eq(run_in_task(1, starve_body, NULL), 0);
}
END_TEST

static void *lock_forever(void *arg) {
  return (void *)(intptr_t)weft_mutex_lock(arg, -1);
}

static int mutex_errors_body(void *arg) {
  weft_mutex *m;
  weft_task *t;
  void *r;
  (void)arg;
  ck_assert_int_eq(weft_mutex_new(&m), 0);
  ck_assert_int_eq(weft_mutex_unlock(m), WEFT_EPERM); /* not held */
  ck_assert_int_eq(weft_mutex_trylock(m), 0);
  ck_assert_int_eq(weft_mutex_trylock(m), WEFT_EBUSY);
  ck_assert_int_eq(weft_mutex_free(m), WEFT_EBUSY);
  ck_assert_int_eq(weft_mutex_lock(m, weft_now() + 20), WEFT_ETIMEDOUT);
  ck_assert_int_eq(weft_spawn(&t, lock_forever, m), 0);
  ck_assert(wait_parked(t, weft_now() + 60000));
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
  ck_assert_int_eq(weft_mutex_unlock(m), 0);
  ck_assert_int_eq(weft_mutex_free(m), 0);
  ck_assert_int_eq(weft_mutex_lock(NULL, -1), WEFT_EINVAL);
  return 0;
}

START_TEST(test_sync_mutex_errors_deadline_cancel) {
  ck_assert_int_eq(run_in_task(2, mutex_errors_body, NULL), 0);
}
END_TEST

/* ---- condition variable ---- */

struct box {
  weft_mutex *m;
  weft_cond *c;
  int items, woken;
};

static void *consumer(void *arg) {
  struct box *b = arg;
  CHECK_HOT(weft_mutex_lock(b->m, -1) == 0);
  while (b->items == 0)
    CHECK_HOT(weft_cond_wait(b->c, b->m, -1) == 0);
  b->items--;
  b->woken++;
  CHECK_HOT(weft_mutex_unlock(b->m) == 0);
  return NULL;
}

static void *cond_cancelled(void *arg) {
  struct box *b = arg;
  int rc;
  weft_mutex_lock(b->m, -1);
  rc = weft_cond_wait(b->c, b->m, -1);
  /* the mutex is ours again, even though the wait was cancelled */
  if (weft_mutex_unlock(b->m) != 0)
    rc = -1;
  return (void *)(intptr_t)rc;
}

static int cond_body(void *arg) {
  struct box b = {0};
  weft_task *t[10];
  void *r;
  (void)arg;
  ck_assert_int_eq(weft_mutex_new(&b.m), 0);
  ck_assert_int_eq(weft_cond_new(&b.c), 0);
  ck_assert_int_eq(weft_cond_wait(b.c, b.m, -1), WEFT_EPERM); /* m not held */
  for (int i = 0; i < 10; i++)
    ck_assert_int_eq(weft_spawn(&t[i], consumer, &b), 0);
  for (int i = 0; i < 10; i++) /* all ten wait */
    ck_assert(wait_parked(t[i], weft_now() + 60000));
  /* signal: one item, one consumer */
  ck_assert_int_eq(weft_mutex_lock(b.m, -1), 0);
  b.items = 1;
  ck_assert_int_eq(weft_cond_signal(b.c), 0);
  ck_assert_int_eq(weft_mutex_unlock(b.m), 0);
  /* Wait for the one it woke to take the item (woken is read under the
   * mutex: it is not atomic). One item: nobody else can. */
  for (int64_t end = weft_now() + 60000, woken = 0; woken < 1;) {
    ck_assert(weft_now() < end && weft_sleep(1) == 0);
    ck_assert_int_eq(weft_mutex_lock(b.m, -1), 0);
    woken = b.woken;
    ck_assert_int_eq(weft_mutex_unlock(b.m), 0);
  }
  ck_assert_int_eq(b.woken, 1);
  /* broadcast: nine items, everyone else */
  ck_assert_int_eq(weft_mutex_lock(b.m, -1), 0);
  b.items = 9;
  ck_assert_int_eq(weft_cond_broadcast(b.c), 0);
  ck_assert_int_eq(weft_mutex_unlock(b.m), 0);
  for (int i = 0; i < 10; i++)
    ck_assert_int_eq(weft_join(t[i], NULL), 0);
  ck_assert_int_eq(b.woken, 10);
  /* a deadline: ETIMEDOUT, with the mutex held again */
  ck_assert_int_eq(weft_mutex_lock(b.m, -1), 0);
  ck_assert_int_eq(weft_cond_wait(b.c, b.m, weft_now() + 20), WEFT_ETIMEDOUT);
  ck_assert_int_eq(weft_mutex_trylock(b.m), WEFT_EBUSY);
  ck_assert_int_eq(weft_mutex_unlock(b.m), 0);
  /* cancellation: ECANCELED, with the mutex held again */
  ck_assert_int_eq(weft_spawn(&t[0], cond_cancelled, &b), 0);
  ck_assert(wait_parked(t[0], weft_now() + 60000)); /* in the wait, not before its lock */
  ck_assert_int_eq(weft_cancel(t[0]), 0);
  ck_assert_int_eq(weft_join(t[0], &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
  ck_assert_int_eq(weft_cond_free(b.c), 0);
  ck_assert_int_eq(weft_mutex_free(b.m), 0);
  return 0;
}

START_TEST(test_sync_cond_signal_broadcast_deadline_cancel) {
  ck_assert_int_eq(run_in_task(2, cond_body, NULL), 0);
}
END_TEST

/* ---- wait group ---- */

static atomic_int wg_ran;

static void *wg_worker(void *arg) {
  weft_sleep(1);
  atomic_fetch_add(&wg_ran, 1);
  weft_wg_done(arg);
  return NULL;
}

static int wg_body(void *arg) {
  weft_wg *g;
  (void)arg;
  ck_assert_int_eq(weft_wg_new(&g), 0);
  ck_assert_int_eq(weft_wg_wait(g, -1), 0); /* zero: returns at once */
  ck_assert_int_eq(weft_wg_add(g, 100), 0);
  for (int i = 0; i < 100; i++)
    ck_assert_int_eq(weft_spawn(NULL, wg_worker, g), 0);
  ck_assert_int_eq(weft_wg_wait(g, weft_now() + 10000), 0);
  ck_assert_int_eq(atomic_load(&wg_ran), 100);
  ck_assert_int_eq(weft_wg_done(g), WEFT_EINVAL); /* below zero */
  ck_assert_int_eq(weft_wg_add(g, 1), 0);
  ck_assert_int_eq(weft_wg_wait(g, weft_now() + 20), WEFT_ETIMEDOUT);
  ck_assert_int_eq(weft_wg_done(g), 0);
  ck_assert_int_eq(weft_wg_free(g), 0);
  return 0;
}

START_TEST(test_sync_wait_group) {
  ck_assert_int_eq(run_in_task(2, wg_body, NULL), 0);
}
END_TEST

/* ---- semaphore ---- */

struct sem_test {
  weft_sem *s;
  atomic_int inside, max_inside;
};

static void *sem_user(void *arg) {
  struct sem_test *st = arg;
  int now;
  CHECK_HOT(weft_sem_wait(st->s, -1) == 0);
  now = atomic_fetch_add(&st->inside, 1) + 1;
  int seen = atomic_load(&st->max_inside);
  while (now > seen && !atomic_compare_exchange_weak(&st->max_inside, &seen, now))
    ;
  weft_sleep(2);
  atomic_fetch_sub(&st->inside, 1);
  CHECK_HOT(weft_sem_post(st->s) == 0);
  return NULL;
}

static int sem_body(void *arg) {
  struct sem_test st = {0};
  weft_task *t[20];
  (void)arg;
  ck_assert_int_eq(weft_sem_new(&st.s, 2), 0);
  for (int i = 0; i < 20; i++)
    ck_assert_int_eq(weft_spawn(&t[i], sem_user, &st), 0);
  for (int i = 0; i < 20; i++)
    ck_assert_int_eq(weft_join(t[i], NULL), 0);
  ck_assert_int_eq(atomic_load(&st.max_inside), 2);
  ck_assert_int_eq(weft_sem_trywait(st.s), 0);
  ck_assert_int_eq(weft_sem_trywait(st.s), 0);
  ck_assert_int_eq(weft_sem_trywait(st.s), WEFT_EAGAIN);
  ck_assert_int_eq(weft_sem_wait(st.s, weft_now() + 20), WEFT_ETIMEDOUT);
  ck_assert_int_eq(weft_sem_post(st.s), 0);
  ck_assert_int_eq(weft_sem_wait(st.s, 0), 0);
  ck_assert_int_eq(weft_sem_free(st.s), 0);
  return 0;
}

START_TEST(test_sync_semaphore_bounds_concurrency) {
  ck_assert_int_eq(run_in_task(2, sem_body, NULL), 0);
}
END_TEST

/* ---- once ---- */

static weft_once once = WEFT_ONCE_INIT;
static atomic_int once_runs;

static void once_fn(void *arg) {
  (void)arg;
  atomic_fetch_add(&once_runs, 1);
  weft_yield(); /* others arrive while it runs */
}

static void *once_caller(void *arg) {
  (void)arg;
  CHECK_HOT(weft_once_do(&once, once_fn, NULL) == 0);
  CHECK_HOT(atomic_load(&once_runs) == 1); /* done when we return */
  return NULL;
}

static int once_body(void *arg) {
  weft_task *t[100];
  (void)arg;
  for (int i = 0; i < 100; i++)
    ck_assert_int_eq(weft_spawn(&t[i], once_caller, NULL), 0);
  for (int i = 0; i < 100; i++)
    ck_assert_int_eq(weft_join(t[i], NULL), 0);
  ck_assert_int_eq(atomic_load(&once_runs), 1);
  ck_assert_int_eq(weft_once_do(NULL, once_fn, NULL), WEFT_EINVAL);
  return 0;
}

START_TEST(test_sync_once_runs_once) {
  ck_assert_int_eq(run_in_task(2, once_body, NULL), 0);
}
END_TEST

/* Cancellation of a task parked in weft_wg_wait and in weft_sem_wait. */
static void *wg_wait_forever(void *arg) {
  return (void *)(intptr_t)weft_wg_wait(arg, -1);
}

static void *sem_wait_forever(void *arg) {
  return (void *)(intptr_t)weft_sem_wait(arg, -1);
}

static int cancel_body(void *arg) {
  weft_wg *g;
  weft_sem *s;
  weft_task *a, *b;
  void *r;
  (void)arg;
  ck_assert_int_eq(weft_wg_new(&g), 0);
  ck_assert_int_eq(weft_wg_add(g, 1), 0);
  ck_assert_int_eq(weft_sem_new(&s, 0), 0);
  ck_assert_int_eq(weft_spawn(&a, wg_wait_forever, g), 0);
  ck_assert_int_eq(weft_spawn(&b, sem_wait_forever, s), 0);
  ck_assert(wait_parked(a, weft_now() + 60000));
  ck_assert(wait_parked(b, weft_now() + 60000));
  ck_assert_int_eq(weft_wg_free(g), WEFT_EBUSY);
  ck_assert_int_eq(weft_sem_free(s), WEFT_EBUSY);
  ck_assert_int_eq(weft_cancel(a), 0);
  ck_assert_int_eq(weft_cancel(b), 0);
  ck_assert_int_eq(weft_join(a, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
  ck_assert_int_eq(weft_join(b, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
  ck_assert_int_eq(weft_sem_post(s), 0); /* the cancelled waiter took nothing */
  ck_assert_int_eq(weft_sem_trywait(s), 0);
  ck_assert_int_eq(weft_wg_done(g), 0);
  ck_assert_int_eq(weft_wg_free(g), 0);
  ck_assert_int_eq(weft_sem_free(s), 0);
  return 0;
}

START_TEST(test_sync_cancel_wg_and_sem_waits) {
  ck_assert_int_eq(run_in_task(2, cancel_body, NULL), 0);
}
END_TEST

START_TEST(test_sync_outside_a_task) {
  weft_mutex *m;
  weft_wg *g;
  weft_sem *s;
  ck_assert_int_eq(weft_mutex_new(&m), 0);
  ck_assert_int_eq(weft_mutex_lock(m, -1), WEFT_EPERM);
  ck_assert_int_eq(weft_mutex_trylock(m), 0); /* non-blocking calls: any thread */
  ck_assert_int_eq(weft_mutex_unlock(m), 0);
  ck_assert_int_eq(weft_mutex_free(m), 0);
  ck_assert_int_eq(weft_wg_new(&g), 0);
  ck_assert_int_eq(weft_wg_add(g, 1), 0);
  ck_assert_int_eq(weft_wg_wait(g, -1), WEFT_EPERM);
  ck_assert_int_eq(weft_wg_done(g), 0);
  ck_assert_int_eq(weft_wg_free(g), 0);
  ck_assert_int_eq(weft_sem_new(&s, 0), 0);
  ck_assert_int_eq(weft_sem_wait(s, -1), WEFT_EPERM);
  ck_assert_int_eq(weft_sem_free(s), 0);
  ck_assert_int_eq(weft_mutex_new(NULL), WEFT_EINVAL);
}
END_TEST

/* A task cancelled while it takes its mutex back after a condition wait
 * still returns holding the mutex (the relock ignores cancellation). */
struct relock {
  weft_mutex *m;
  weft_cond *c;
  int waiting, wait_rc, unlock_rc;
};

static void *cond_waiter(void *arg) {
  struct relock *r = arg;
  weft_mutex_lock(r->m, -1);
  r->waiting = 1;
  r->wait_rc = weft_cond_wait(r->c, r->m, -1);
  r->unlock_rc = weft_mutex_unlock(r->m); /* must hold it, cancelled or not */
  return NULL;
}

static int cancel_during_relock(void *arg) {
  struct relock r = {0};
  weft_task *t;
  (void)arg;
  ck_assert_int_eq(weft_mutex_new(&r.m), 0);
  ck_assert_int_eq(weft_cond_new(&r.c), 0);
  ck_assert_int_eq(weft_spawn(&t, cond_waiter, &r), 0);
  while (!r.waiting)
    weft_yield();
  ck_assert_int_eq(weft_mutex_lock(r.m, -1), 0); /* the waiter is in cond_wait now */
  ck_assert_int_eq(weft_cond_signal(r.c), 0);
  for (int i = 0; i < 10; i++)
    weft_yield(); /* one worker: the waiter runs and parks relocking m, which we hold */
  ck_assert_int_eq(weft_cancel(t), 0);
  for (int i = 0; i < 10; i++)
    weft_yield();
  ck_assert_int_eq(weft_mutex_unlock(r.m), 0);
  ck_assert_int_eq(weft_join(t, NULL), 0);
  ck_assert_int_eq(r.wait_rc, 0); /* the signal came first */
  ck_assert_int_eq(r.unlock_rc, 0);
  weft_cond_free(r.c);
  weft_mutex_free(r.m);
  return 0;
}

START_TEST(test_sync_cancel_during_cond_relock_still_returns_holding_the_mutex) {
  ck_assert_int_eq(run_in_task(1, cancel_during_relock, NULL), 0);
}
END_TEST

static Suite *sync_suite(void) {
  Suite *s = suite_create("sync");
  TCase *core = tcase_create("core"), *errors = tcase_create("errors"),
        *stress = tcase_create("stress");
  tcase_add_test(core, test_sync_mutex_waiter_not_starved);
  tcase_add_test(core, test_sync_cond_signal_broadcast_deadline_cancel);
  tcase_add_test(core, test_sync_wait_group);
  tcase_add_test(core, test_sync_cancel_during_cond_relock_still_returns_holding_the_mutex);
  tcase_add_test(core, test_sync_semaphore_bounds_concurrency);
  tcase_add_test(core, test_sync_once_runs_once);
  tcase_add_test(core, test_sync_cancel_wg_and_sem_waits);
  tcase_set_timeout(core, 120);
  tcase_add_test(errors, test_sync_mutex_errors_deadline_cancel);
  tcase_add_test(errors, test_sync_outside_a_task);
  tcase_add_test(stress, test_sync_mutex_counter_exact);
  tcase_set_timeout(stress, 600);
  suite_add_tcase(s, core);
  suite_add_tcase(s, errors);
  suite_add_tcase(s, stress);
  return s;
}

WEFT_TEST_MAIN(sync_suite)
