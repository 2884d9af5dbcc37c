/*
 * check_sched.c - the scheduler: a million-task spawn/join tree, stealing
 * and migration, fairness (yield, the injection queue), foreign spawners,
 * idle workers that cost no CPU, more workers than cores.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>

/* ---- the spawn/join tree (skynet) ---- */

static const long pow10[8] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};

/* arg packs (first leaf number << 4) | level; a node of level L covers
 * 10^L leaves numbered from its first. */
static void *tree_node(void *arg) {
  intptr_t v = (intptr_t)arg;
  long first = (long)(v >> 4), level = (long)(v & 15), sum = 0;
  weft_task *child[10];
  void *r;

  if (level == 0)
    return (void *)(intptr_t)first;
  for (long i = 0; i < 10; i++)
    CHECK_HOT(weft_spawn(&child[i], tree_node,
                         (void *)(intptr_t)(((first + i * pow10[level - 1]) << 4) | (level - 1))) ==
              0);
  for (long i = 0; i < 10; i++) {
    CHECK_HOT(weft_join(child[i], &r) == 0);
    sum += (long)(intptr_t)r;
  }
  return (void *)(intptr_t)sum;
}

static int tree_body(void *arg) {
  long levels = *(long *)arg;
  weft_task *root;
  void *r;
  ck_assert_int_eq(weft_spawn(&root, tree_node, (void *)(intptr_t)levels), 0);
  ck_assert_int_eq(weft_join(root, &r), 0);
  *(long *)arg = (long)(intptr_t)r;
  return 0;
}

static void tree_with(unsigned workers) {
  long v = 6, n = pow10[6];
  while (v > 3 && pow10[v] > scaled(pow10[6])) /* sanitizer builds: a smaller tree */
    v--;
  n = pow10[v];
  ck_assert_int_eq(run_in_task(workers, tree_body, &v), 0);
  ck_assert_int_eq(v, n * (n - 1) / 2); /* 499999500000 */
}

START_TEST(test_sched_million_task_tree_sum) {
  tree_with(2);
}
END_TEST

START_TEST(test_sched_more_workers_than_cores) {
  tree_with(8);
}
END_TEST

/* ---- stealing and migration ---- */

struct migrate {
  weft_rt *rt;
  atomic_int moved;   /* tasks that resumed on another thread */
  atomic_long parent; /* the spawning task's thread */
  atomic_int elsewhere; /* a hopper started on another thread */
};

/* The kernel's thread id. Not pthread_self(): glibc declares it const, so
 * the compiler may reuse its first result after the task has migrated. */
static long thread_id(void) {
  return syscall(SYS_gettid);
}

static void *hop(void *arg) {
  struct migrate *m = arg;
  long start = thread_id();
  volatile unsigned long spin = 0;
  if (start != atomic_load(&m->parent))
    atomic_store(&m->elsewhere, 1);
  for (int i = 0; i < 50; i++) {
    for (int j = 0; j < 20000; j++)
      spin += (unsigned long)j;
    weft_yield();
  }
  if (start != thread_id())
    atomic_fetch_add(&m->moved, 1);
  return NULL;
}

/* Spawned from a task, the hoppers start in its worker's deque: the other
 * worker must steal them. */
static void *spawn_hoppers(void *arg) {
  struct migrate *m = arg;
  weft_spawn_attr a;
  int64_t until = weft_now() + 10000;
  weft_spawn_attr_init(&a);
  a.detached = 1;
  atomic_store(&m->parent, thread_id());
  for (int i = 0; i < 200; i++)
    CHECK_HOT(weft_spawn_ex(NULL, &a, hop, arg) == 0);
  /* Hold this worker, so the only way for a hopper to start is to be
   * stolen by the other one (however late the system runs its thread). */
  while (!atomic_load(&m->elsewhere) && weft_now() < until)
    ;
  return NULL;
}

START_TEST(test_sched_steals_and_migrates) {
  struct migrate m = {0};
  weft_config cfg;
  weft_stats total, per[2];

  weft_config_init(&cfg);
  cfg.workers = 2;
  ck_assert_int_eq(weft_rt_new(&m.rt, &cfg), 0);
  ck_assert_int_eq(weft_rt_spawn(m.rt, NULL, spawn_hoppers, &m), 0);
  ck_assert_int_eq(weft_rt_wait(m.rt), 0);
  ck_assert_int_eq(weft_rt_stats(m.rt, &total, per, 2), 2);
  ck_assert_int_gt(total.steals, 0);
  ck_assert_int_ge(total.steal_attempts, total.steals > 0 ? 1 : 0);
  ck_assert_int_gt(atomic_load(&m.moved), 0);
  ck_assert_int_eq(total.spawned, 201);
  ck_assert_int_eq(total.completed, 201);
  ck_assert_int_eq(per[0].completed + per[1].completed, 201);
  ck_assert_int_eq(total.tasks_alive, 0);
  ck_assert_int_eq(weft_rt_free(m.rt), 0);
}
END_TEST

/* ---- fairness ---- */

static atomic_int order_log[8];
static atomic_int order_n;

static void *mark(void *arg) {
  atomic_store(&order_log[atomic_fetch_add(&order_n, 1)], (int)(intptr_t)arg);
  return NULL;
}

static int yield_order_body(void *arg) {
  weft_task *t[3];
  (void)arg;
  /* One worker: the three tasks are ready when the main task yields, so
   * all of them run before it does again. */
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(weft_spawn(&t[i], mark, (void *)(intptr_t)(i + 1)), 0);
  weft_yield();
  mark((void *)(intptr_t)9);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(weft_join(t[i], NULL), 0);
  return 0;
}

START_TEST(test_sched_yield_runs_others_first) {
  ck_assert_int_eq(run_in_task(1, yield_order_body, NULL), 0);
  ck_assert_int_eq(atomic_load(&order_n), 4);
  ck_assert_int_eq(atomic_load(&order_log[3]), 9);
}
END_TEST

static atomic_bool released;

static void *spin_yielding(void *arg) {
  long n = 0;
  (void)arg;
  while (!atomic_load(&released)) {
    weft_yield();
    n++;
  }
  return (void *)(intptr_t)n;
}

static void *release(void *arg) {
  (void)arg;
  atomic_store(&released, true);
  return NULL;
}

static int yield_starve_body(void *arg) {
  weft_task *spinners[4], *r;
  (void)arg;
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(weft_spawn(&spinners[i], spin_yielding, NULL), 0);
  weft_yield(); /* let them start looping */
  ck_assert_int_eq(weft_spawn(&r, release, NULL), 0);
  ck_assert_int_eq(weft_join(r, NULL), 0);
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(weft_join(spinners[i], NULL), 0);
  return 0;
}

START_TEST(test_sched_yield_loop_cannot_starve) {
  ck_assert_int_eq(run_in_task(1, yield_starve_body, NULL), 0);
  ck_assert(atomic_load(&released));
}
END_TEST

/*
 * A chain of tasks, each spawning its successor and returning, keeps the
 * worker's own deque non-empty forever. A task injected from a foreign
 * thread must still run: the injection queue is looked at every 61 ticks.
 */
static atomic_bool injected_ran;
static atomic_long chain_links;

static void *chain(void *arg) {
  long limit = (long)(intptr_t)arg;
  if (atomic_load(&injected_ran))
    return NULL;
  if (atomic_fetch_add(&chain_links, 1) >= limit)
    return NULL; /* give up: the injected task was starved */
  CHECK_HOT(weft_spawn(NULL, chain, arg) == 0);
  return NULL;
}

static void *injected(void *arg) {
  (void)arg;
  atomic_store(&injected_ran, true);
  return NULL;
}

START_TEST(test_sched_injection_queue_not_starved) {
  weft_config cfg;
  weft_rt *rt;
  long limit = 5000000;

  weft_config_init(&cfg);
  cfg.workers = 1;
  ck_assert_int_eq(weft_rt_new(&rt, &cfg), 0);
  ck_assert_int_eq(weft_rt_spawn(rt, NULL, chain, (void *)(intptr_t)limit), 0);
  while (atomic_load(&chain_links) < 1000) /* the chain is running */
    sched_yield();
  ck_assert_int_eq(weft_rt_spawn(rt, NULL, injected, NULL), 0);
  ck_assert_int_eq(weft_rt_wait(rt), 0);
  ck_assert(atomic_load(&injected_ran));
  ck_assert_int_lt(atomic_load(&chain_links), limit);
  ck_assert_int_eq(weft_rt_free(rt), 0);
}
END_TEST

/* ---- foreign threads spawning ---- */

struct foreign {
  weft_rt *rt;
  long per_thread; /* tasks each foreign thread spawns */
  atomic_long ran;
};

static void *count_run(void *arg) {
  atomic_fetch_add(&((struct foreign *)arg)->ran, 1);
  return NULL;
}

static void *foreign_spawner(void *arg) {
  struct foreign *f = arg;
  for (long i = 0; i < f->per_thread; i++) {
    weft_task *t = NULL;
    CHECK_HOT(weft_rt_spawn(f->rt, i % 2 ? &t : NULL, count_run, f) == 0);
    if (t)
      CHECK_HOT(weft_detach(t) == 0);
  }
  return NULL;
}

START_TEST(test_sched_foreign_threads_spawn) {
  struct foreign f = {0};
  pthread_t th[4];
  weft_config cfg;
  weft_stats total;

  /* scaled: ThreadSanitizer makes each of these tasks cost a thread's bookkeeping */
  f.per_thread = scaled(10000);
  weft_config_init(&cfg);
  cfg.workers = 2;
  ck_assert_int_eq(weft_rt_new(&f.rt, &cfg), 0);
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(pthread_create(&th[i], NULL, foreign_spawner, &f), 0);
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  ck_assert_int_eq(weft_rt_wait(f.rt), 0);
  ck_assert_int_eq(atomic_load(&f.ran), 4 * f.per_thread);
  weft_rt_stats(f.rt, &total, NULL, 0);
  ck_assert_int_eq(total.spawned, 4 * f.per_thread);
  ck_assert_int_eq(total.completed, 4 * f.per_thread);
  ck_assert_int_gt(total.injected, 0);
  ck_assert_int_eq(weft_rt_free(f.rt), 0);
}
END_TEST

/* ---- idle workers sleep ---- */

START_TEST(test_sched_idle_runtime_uses_no_cpu) {
  weft_config cfg;
  weft_rt *rt;
  struct timespec window = {1, 0};
  double before, used;

  weft_config_init(&cfg);
  cfg.workers = 4;
  ck_assert_int_eq(weft_rt_new(&rt, &cfg), 0);
  /* Some work first, so the workers have been awake and gone idle. */
  for (int i = 0; i < 100; i++)
    ck_assert_int_eq(weft_rt_spawn(rt, NULL, release, NULL), 0);
  ck_assert_int_eq(weft_rt_wait(rt), 0);
  before = cpu_seconds();
  /* The measured window itself: one second of wall time, nothing to do. */
  clock_nanosleep(CLOCK_MONOTONIC, 0, &window, NULL);
  used = cpu_seconds() - before;
  double bound = idle_cpu_bound();
  ck_assert_msg(used < bound, "idle runtime used %.1f ms of CPU in 1 s (bound %.0f ms)",
                used * 1e3, bound * 1e3);
  ck_assert_int_eq(weft_rt_free(rt), 0);
}
END_TEST

static Suite *sched_suite(void) {
  Suite *s = suite_create("sched");
  TCase *core = tcase_create("core"), *stress = tcase_create("stress");
  tcase_add_test(core, test_sched_steals_and_migrates);
  tcase_add_test(core, test_sched_yield_runs_others_first);
  tcase_add_test(core, test_sched_yield_loop_cannot_starve);
  tcase_add_test(core, test_sched_injection_queue_not_starved);
  tcase_add_test(core, test_sched_foreign_threads_spawn);
  tcase_add_test(core, test_sched_idle_runtime_uses_no_cpu);
  tcase_set_timeout(core, 120);
  tcase_add_test(stress, test_sched_million_task_tree_sum);
  tcase_add_test(stress, test_sched_more_workers_than_cores);
  tcase_set_timeout(stress, 900);
  suite_add_tcase(s, core);
  suite_add_tcase(s, stress);
  return s;
}

WEFT_TEST_MAIN(sched_suite)
