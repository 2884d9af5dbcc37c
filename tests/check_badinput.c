/*
 * check_badinput.c - every public function given bad input: NULL pointers,
 * sizes out of range, calls from the wrong context, operations done twice,
 * and objects that are not what the call expects (another type, or no
 * object at all). Each call returns the code weft.h documents and the
 * runtime keeps working: after every bad call a task is spawned and
 * joined and a value crosses a channel (from a plain thread: a task is
 * spawned and seen to run).
 *
 * What the other suites already assert (check_task, check_chan, check_sync,
 * check_gen, check_sock, check_fs, check_proc, check_timer) is not repeated.
 * Freed objects are never passed: reading freed memory is itself a bug
 * (AddressSanitizer reports it), so "detected while the memory is not
 * reused" is left to the suites that own each type.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SECONDS(n) (weft_now() + (int64_t)(n)*1000)

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1 /* their allocators abort on a huge malloc instead of failing */
#endif

/* ---- the runtime still works ---- */

static weft_rt *outside_rt; /* a plain thread's runtime, for its sanity checks */
static atomic_long outside_runs;

static void *give(void *arg) {
  return arg;
}

static void *count_run(void *arg) {
  (void)arg;
  atomic_fetch_add(&outside_runs, 1);
  return NULL;
}

static void sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Inside a task: a task runs and is joined, a value crosses a channel.
 * On a plain thread with outside_rt set: a task spawned there runs. */
static void still_works(void) {
  if (weft_self()) {
    weft_task *t;
    weft_chan *c;
    void *r;
    long v = 7, w = 0;
    ck_assert_int_eq(weft_spawn(&t, give, (void *)(intptr_t)5), 0);
    ck_assert_int_eq(weft_join(t, &r), 0);
    ck_assert_int_eq((long)(intptr_t)r, 5);
    ck_assert_int_eq(weft_chan_new(&c, sizeof v, 1), 0);
    ck_assert_int_eq(weft_chan_send(c, &v, SECONDS(10)), 0);
    ck_assert_int_eq(weft_chan_recv(c, &w, SECONDS(10)), 0);
    ck_assert_int_eq(w, 7);
    ck_assert_int_eq(weft_chan_free(c), 0);
  } else if (outside_rt) {
    long before = atomic_load(&outside_runs);
    int64_t end = SECONDS(10);
    ck_assert_int_eq(weft_rt_spawn(outside_rt, NULL, count_run, NULL), 0);
    while (atomic_load(&outside_runs) == before && weft_now() < end)
      sleep_ms(1);
    ck_assert_msg(atomic_load(&outside_runs) > before,
                  "a task spawned after the bad call never ran");
  }
}

/* Assert that a call returned want, naming the call and what it returned
 * when it did not, then that the runtime still works. */
#define EXPECT(call, want)                                                                         \
  do {                                                                                             \
    long got_ = (long)(call);                                                                      \
    ck_assert_msg(got_ == (long)(want), "%s returned %ld (%s), expected %s (%ld)", #call, got_,    \
                  weft_strerror((int)got_), #want, (long)(want));                                  \
    still_works();                                                                                 \
  } while (0)

static void in_task(int (*body)(void *)) {
  ck_assert_int_eq(run_in_task(2, body, NULL), 0);
}

/* A zeroed buffer larger than any weft object, to pass as one. */
static _Alignas(64) unsigned char blank_mem[4096];

static void *blank(void) {
  memset(blank_mem, 0, sizeof blank_mem);
  return blank_mem;
}

/* ==== errors: NULL pointers and sizes out of range ==== */

START_TEST(test_strerror_any_value_named) {
  ck_assert_ptr_nonnull(weft_version());
  ck_assert_str_eq(weft_strerror(INT_MIN), "unknown error");
  ck_assert_str_eq(weft_strerror(INT_MAX), "unknown error");
  ck_assert_ptr_nonnull(weft_strerror(EPERM)); /* a positive errno: no crash */
}
END_TEST

START_TEST(test_init_functions_null_harmless) {
  weft_config_init(NULL);
  weft_spawn_attr_init(NULL);
  weft_proc_opts_init(NULL);
  ck_assert_int_eq(run_in_task(1, (int (*)(void *))NULL, NULL), WEFT_EINVAL);
}
END_TEST

/* Values weft_config_init must ignore, leaving the defaults. */
START_TEST(test_config_env_malformed_values_ignored) {
  static const char *const workers[] = {"abc", "0", "1025", "-2", "3x", "", "4294967298"};
  static const char *const stacks[] = {
      "abc", "-1", "1t", "2g", "16kk", "", "99999999999999999999", "0x1000", "1025m"};
  weft_config cfg;
  for (size_t i = 0; i < sizeof workers / sizeof workers[0]; i++) {
    setenv("WEFT_WORKERS", workers[i], 1);
    weft_config_init(&cfg);
    ck_assert_msg(cfg.workers == 0, "WEFT_WORKERS=\"%s\" gave %u workers", workers[i], cfg.workers);
  }
  unsetenv("WEFT_WORKERS");
  for (size_t i = 0; i < sizeof stacks / sizeof stacks[0]; i++) {
    setenv("WEFT_STACK_SIZE", stacks[i], 1);
    weft_config_init(&cfg);
    ck_assert_msg(cfg.stack_size == 256 * 1024, "WEFT_STACK_SIZE=\"%s\" gave %zu", stacks[i],
                  cfg.stack_size);
  }
  unsetenv("WEFT_STACK_SIZE");
}
END_TEST

/* A suffix that shifts the number past 64 bits is out of range too. */
START_TEST(test_config_env_stack_size_overflowing_suffix_ignored) {
  static const char *const stacks[] = {"17179869185g", "9223372036854775807k", "8796093022209m"};
  weft_config cfg;
  for (size_t i = 0; i < sizeof stacks / sizeof stacks[0]; i++) {
    setenv("WEFT_STACK_SIZE", stacks[i], 1);
    weft_config_init(&cfg);
    ck_assert_msg(cfg.stack_size == 256 * 1024, "WEFT_STACK_SIZE=\"%s\" gave %zu", stacks[i],
                  cfg.stack_size);
  }
  unsetenv("WEFT_STACK_SIZE");
}
END_TEST

START_TEST(test_rt_new_workers_over_1024_or_stack_size_max_einval) {
  weft_config cfg;
  weft_rt *rt;
  weft_config_init(&cfg);
  cfg.workers = 1025;
  ck_assert_int_eq(weft_rt_new(&rt, &cfg), WEFT_EINVAL);
  weft_config_init(&cfg);
  cfg.stack_size = SIZE_MAX;
  ck_assert_int_eq(weft_rt_new(&rt, &cfg), WEFT_EINVAL);
  cfg.stack_size = SIZE_MAX / 2;
  ck_assert_int_eq(weft_rt_new(&rt, &cfg), WEFT_EINVAL);
  /* nothing leaked or broke: a runtime starts and runs */
  weft_config_init(&cfg);
  cfg.workers = 2;
  ck_assert_int_eq(weft_rt_new(&rt, &cfg), 0);
  outside_rt = rt;
  still_works();
  outside_rt = NULL;
  ck_assert_int_eq(weft_rt_free(rt), 0);
}
END_TEST

START_TEST(test_rt_spawn_ex_bad_attr_einval) {
  weft_spawn_attr attr;
  weft_task *t;
  weft_config cfg;
  weft_config_init(&cfg);
  cfg.workers = 2;
  ck_assert_int_eq(weft_rt_new(&outside_rt, &cfg), 0);
  weft_spawn_attr_init(&attr);
  EXPECT(weft_rt_spawn_ex(outside_rt, NULL, &attr, give, NULL), WEFT_EINVAL); /* not detached */
  EXPECT(weft_rt_spawn_ex(outside_rt, &t, &attr, NULL, NULL), WEFT_EINVAL);
  EXPECT(weft_rt_spawn_ex(NULL, &t, &attr, give, NULL), WEFT_EINVAL);
  attr.stack_size = SIZE_MAX;
  EXPECT(weft_rt_spawn_ex(outside_rt, &t, &attr, give, NULL), WEFT_EINVAL);
  attr.stack_size = WEFT_STACK_MAX + 1;
  EXPECT(weft_rt_spawn_ex(outside_rt, &t, &attr, give, NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_rt_free(outside_rt), 0);
  outside_rt = NULL;
}
END_TEST

START_TEST(test_rt_stats_and_dump_null_arguments) {
  weft_config cfg;
  weft_stats per[2];
  weft_config_init(&cfg);
  cfg.workers = 2;
  ck_assert_int_eq(weft_rt_new(&outside_rt, &cfg), 0);
  EXPECT(weft_rt_stats(outside_rt, NULL, NULL, 5), 2); /* every output may be NULL */
  EXPECT(weft_rt_stats(outside_rt, NULL, NULL, 0), 2);
  memset(&per[1], 0xab, sizeof per[1]);
  EXPECT(weft_rt_stats(outside_rt, NULL, per, 1), 2); /* room for one: one written */
  for (size_t i = 0; i < sizeof per[1]; i++)
    ck_assert_int_eq(((unsigned char *)&per[1])[i], 0xab);
  EXPECT(weft_rt_dump(NULL, stderr), WEFT_EINVAL);
  EXPECT(weft_rt_dump(outside_rt, NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_rt_free(outside_rt), 0);
  outside_rt = NULL;
}
END_TEST

static int spawn_sizes_body(void *arg) {
  weft_spawn_attr attr;
  weft_task *t;
  void *r;
  (void)arg;
  weft_spawn_attr_init(&attr);
  attr.stack_size = SIZE_MAX;
  EXPECT(weft_spawn_ex(&t, &attr, give, NULL), WEFT_EINVAL);
  attr.stack_size = SIZE_MAX - 4096 + 2; /* would wrap when rounded up to a page */
  EXPECT(weft_spawn_ex(&t, &attr, give, NULL), WEFT_EINVAL);
  /* the largest size allowed is allowed */
  attr.stack_size = WEFT_STACK_MAX;
  EXPECT(weft_spawn_ex(&t, &attr, give, (void *)(intptr_t)9), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((long)(intptr_t)r, 9);
  return 0;
}

START_TEST(test_spawn_ex_stack_size_beyond_max_einval) {
  in_task(spawn_sizes_body);
}
END_TEST

static int sleep_range_body(void *arg) {
  (void)arg;
  EXPECT(weft_sleep(INT64_MIN), WEFT_EINVAL);
  EXPECT(weft_sleep(-1000), WEFT_EINVAL);
  EXPECT(weft_sleep_until(weft_now() - 1000), 0); /* a deadline past: at once */
  EXPECT(weft_sleep_until(0), 0);
  return 0;
}

START_TEST(test_sleep_negative_ms_einval) {
  in_task(sleep_range_body);
}
END_TEST

static void *sleep_max(void *arg) {
  (void)arg;
  return (void *)(intptr_t)weft_sleep(INT64_MAX);
}

static void *sleep_until_max(void *arg) {
  (void)arg;
  return (void *)(intptr_t)weft_sleep_until(INT64_MAX);
}

static int sleep_huge_body(void *arg) {
  weft_task *a, *b;
  void *r;
  (void)arg;
  ck_assert_int_eq(weft_spawn(&a, sleep_max, NULL), 0);
  ck_assert_int_eq(weft_spawn(&b, sleep_until_max, NULL), 0);
  ck_assert_int_eq(weft_sleep(100), 0);
  /* Still asleep after 100 ms: neither woke at once. */
  ck_assert_int_eq(weft_cancel(a), 0);
  ck_assert_int_eq(weft_cancel(b), 0);
  ck_assert_int_eq(weft_join(a, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
  ck_assert_int_eq(weft_join(b, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
  still_works();
  return 0;
}

START_TEST(test_sleep_int64_max_sleeps_until_canceled) {
  in_task(sleep_huge_body);
}
END_TEST

/* ---- channels ---- */

static int chan_new_body(void *arg) {
  weft_chan *c;
  (void)arg;
  EXPECT(weft_chan_new(&c, SIZE_MAX, 2), WEFT_EINVAL);
  EXPECT(weft_chan_new(&c, 2, SIZE_MAX), WEFT_EINVAL);
  EXPECT(weft_chan_new(&c, (size_t)1 << 33, (size_t)1 << 33), WEFT_EINVAL);
  return 0;
}

START_TEST(test_chan_new_overflowing_size_einval) {
  in_task(chan_new_body);
}
END_TEST

static void *signal_once(void *arg) {
  return (void *)(intptr_t)weft_chan_send(arg, NULL, SECONDS(10));
}

static int chan_zero_body(void *arg) {
  weft_chan *c;
  weft_task *t;
  long v = 5;
  void *r;
  (void)arg;
  /* Elements of 0 bytes: pure signals; the element pointer may be NULL
   * (nothing is read or written through it). */
  EXPECT(weft_chan_new(&c, 0, 1000), 0);
  EXPECT(weft_chan_cap(c), 1000);
  EXPECT(weft_chan_send(c, NULL, 0), 0);
  EXPECT(weft_chan_send(c, &v, 0), 0);
  EXPECT(weft_chan_len(c), 2);
  EXPECT(weft_chan_recv(c, NULL, 0), 0);
  EXPECT(weft_chan_try_recv(c, &v), 0);
  ck_assert_int_eq(v, 5);
  ck_assert_int_eq(weft_chan_free(c), 0);
  /* and unbuffered */
  EXPECT(weft_chan_new(&c, 0, 0), 0);
  ck_assert_int_eq(weft_spawn(&t, signal_once, c), 0);
  EXPECT(weft_chan_recv(c, NULL, SECONDS(10)), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, 0);
  ck_assert_int_eq(weft_chan_free(c), 0);
  return 0;
}

START_TEST(test_chan_zero_size_elements_with_null_pointer_are_signals) {
  in_task(chan_zero_body);
}
END_TEST

#ifndef SANITIZED
static int chan_huge_body(void *arg) {
  weft_chan *c = NULL;
  (void)arg;
  /* 4 EiB: more than any address space */
  EXPECT(weft_chan_new(&c, (size_t)1 << 62, 1), WEFT_ENOMEM);
  ck_assert_ptr_null(c);
  return 0;
}
#endif

START_TEST(test_chan_new_unallocatable_buffer_enomem) {
#ifdef SANITIZED
  return; /* the sanitizers' allocators abort on such a request */
#else
  in_task(chan_huge_body);
#endif
}
END_TEST

static int chan_cap_long_body(void *arg) {
  weft_chan *c = NULL;
  int rc;
  (void)arg;
  /* weft_chan_cap and weft_chan_len answer in a long: a capacity beyond
   * LONG_MAX could not be told, so it is out of range. */
  rc = weft_chan_new(&c, 0, (size_t)LONG_MAX + 1);
  if (rc == 0) {
    long cap = weft_chan_cap(c);
    weft_chan_free(c);
    ck_abort_msg("weft_chan_new(&c, 0, LONG_MAX + 1) returned 0; weft_chan_cap(c) then says %ld",
                 cap);
  }
  EXPECT(rc, WEFT_EINVAL);
  return 0;
}

START_TEST(test_chan_new_capacity_beyond_long_max_einval) {
  in_task(chan_cap_long_body);
}
END_TEST

static int chan_null_elem_body(void *arg) {
  weft_chan *c;
  long v = 1;
  (void)arg;
  ck_assert_int_eq(weft_chan_new(&c, sizeof v, 1), 0);
  EXPECT(weft_chan_send(c, NULL, SECONDS(1)), WEFT_EINVAL);
  EXPECT(weft_chan_recv(c, NULL, SECONDS(1)), WEFT_EINVAL);
  EXPECT(weft_chan_try_recv(c, NULL), WEFT_EINVAL);
  EXPECT(weft_chan_len(c), 0); /* nothing was sent by the bad calls */
  EXPECT(weft_chan_recv(NULL, &v, SECONDS(1)), WEFT_EINVAL);
  EXPECT(weft_chan_try_recv(NULL, &v), WEFT_EINVAL);
  EXPECT(weft_chan_try_send(NULL, &v), WEFT_EINVAL);
  EXPECT(weft_chan_cap(NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_chan_free(c), 0);
  return 0;
}

START_TEST(test_chan_null_chan_or_elem_einval) {
  in_task(chan_null_elem_body);
}
END_TEST

static int select_bad_body(void *arg) {
  weft_chan *a, *b;
  long v = 3, x = 0;
  weft_select_case k[2];
  static const int bad_ops[] = {0, 3, -1, WEFT_SELECT_SEND | WEFT_SELECT_RECV};
  (void)arg;
  ck_assert_int_eq(weft_chan_new(&a, sizeof v, 1), 0);
  ck_assert_int_eq(weft_chan_new(&b, sizeof v, 1), 0);
  ck_assert_int_eq(weft_chan_try_send(a, &v), 0);
  for (size_t i = 0; i < sizeof bad_ops / sizeof bad_ops[0]; i++) {
    /* case 0 could complete, case 1 is bad: the call is refused whole */
    k[0] = (weft_select_case){.chan = a, .op = WEFT_SELECT_RECV, .elem = &x};
    k[1] = (weft_select_case){.chan = b, .op = bad_ops[i], .elem = &v};
    EXPECT(weft_select(k, 2, -1), WEFT_EINVAL);
    EXPECT(weft_chan_len(a), 1);
  }
  k[1] = (weft_select_case){.chan = b, .op = WEFT_SELECT_SEND, .elem = NULL};
  EXPECT(weft_select(k, 2, -1), WEFT_EINVAL);
  k[1] = (weft_select_case){.chan = b, .op = WEFT_SELECT_RECV, .elem = NULL};
  EXPECT(weft_select(k, 2, -1), WEFT_EINVAL);
  EXPECT(weft_chan_len(a), 1);
  ck_assert_int_eq(x, 0);
  ck_assert_int_eq(weft_chan_free(a), 0);
  ck_assert_int_eq(weft_chan_free(b), 0);
  return 0;
}

START_TEST(test_select_bad_op_or_null_elem_einval_and_no_case_taken) {
  in_task(select_bad_body);
}
END_TEST

static int select_empty_body(void *arg) {
  weft_select_case k[2] = {{.chan = NULL, .op = WEFT_SELECT_RECV},
                           {.chan = NULL, .op = WEFT_SELECT_SEND}};
  int64_t t0;
  (void)arg;
  EXPECT(weft_select(NULL, 0, 0), WEFT_ETIMEDOUT);
  t0 = weft_now();
  EXPECT(weft_select(NULL, 0, t0 + 50), WEFT_ETIMEDOUT);
  ck_assert_int_ge(weft_now(), t0 + 50);
  /* cases on no channel are never ready */
  t0 = weft_now();
  EXPECT(weft_select(k, 2, t0 + 50), WEFT_ETIMEDOUT);
  ck_assert_int_ge(weft_now(), t0 + 50);
  return 0;
}

START_TEST(test_select_no_cases_or_null_chans_waits_until_deadline) {
  in_task(select_empty_body);
}
END_TEST

/* ---- synchronisation ---- */

static int sync_null_body(void *arg) {
  weft_mutex *m;
  weft_cond *c;
  (void)arg;
  EXPECT(weft_cond_new(NULL), WEFT_EINVAL);
  EXPECT(weft_wg_new(NULL), WEFT_EINVAL);
  EXPECT(weft_sem_new(NULL, 1), WEFT_EINVAL);
  EXPECT(weft_mutex_trylock(NULL), WEFT_EINVAL);
  EXPECT(weft_mutex_unlock(NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_mutex_new(&m), 0);
  ck_assert_int_eq(weft_cond_new(&c), 0);
  ck_assert_int_eq(weft_mutex_lock(m, -1), 0);
  EXPECT(weft_cond_wait(NULL, m, SECONDS(1)), WEFT_EINVAL);
  EXPECT(weft_cond_wait(c, NULL, SECONDS(1)), WEFT_EINVAL);
  EXPECT(weft_mutex_unlock(m), 0); /* still held after the refused waits */
  EXPECT(weft_cond_signal(NULL), WEFT_EINVAL);
  EXPECT(weft_cond_broadcast(NULL), WEFT_EINVAL);
  EXPECT(weft_wg_add(NULL, 1), WEFT_EINVAL);
  EXPECT(weft_wg_done(NULL), WEFT_EINVAL);
  EXPECT(weft_wg_wait(NULL, SECONDS(1)), WEFT_EINVAL);
  EXPECT(weft_sem_wait(NULL, SECONDS(1)), WEFT_EINVAL);
  EXPECT(weft_sem_trywait(NULL), WEFT_EINVAL);
  EXPECT(weft_sem_post(NULL), WEFT_EINVAL);
  EXPECT(weft_once_do(&(weft_once)WEFT_ONCE_INIT, NULL, NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_cond_free(c), 0);
  ck_assert_int_eq(weft_mutex_free(m), 0);
  return 0;
}

START_TEST(test_sync_null_objects_einval) {
  in_task(sync_null_body);
}
END_TEST

/* weft.h, on the synchronisation objects: "WEFT_EINVAL for NULL or freed
 * objects" (unlike weft_chan_free, documented as 0 for NULL). */
START_TEST(test_sync_free_null_einval) {
  ck_assert_int_eq(weft_mutex_free(NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_cond_free(NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_wg_free(NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_sem_free(NULL), WEFT_EINVAL);
}
END_TEST

static int wg_overflow_body(void *arg) {
  weft_wg *g;
  (void)arg;
  ck_assert_int_eq(weft_wg_new(&g), 0);
  EXPECT(weft_wg_add(g, LONG_MIN), WEFT_EINVAL);
  EXPECT(weft_wg_add(g, 1), 0);
  EXPECT(weft_wg_add(g, LONG_MAX), WEFT_EINVAL); /* the counter would overflow */
  EXPECT(weft_wg_add(g, LONG_MIN), WEFT_EINVAL);
  EXPECT(weft_wg_wait(g, 0), WEFT_ETIMEDOUT); /* the counter is 1, untouched */
  EXPECT(weft_wg_done(g), 0);
  EXPECT(weft_wg_wait(g, 0), 0);
  ck_assert_int_eq(weft_wg_free(g), 0);
  return 0;
}

START_TEST(test_wg_add_overflow_einval) {
  in_task(wg_overflow_body);
}
END_TEST

static int sem_max_body(void *arg) {
  weft_sem *s;
  int rc;
  (void)arg;
  ck_assert_int_eq(weft_sem_new(&s, ULONG_MAX), 0);
  rc = weft_sem_post(s); /* one unit more than the counter holds */
  ck_assert_msg(rc < 0, "weft_sem_post at ULONG_MAX units returned %d", rc);
  EXPECT(weft_sem_trywait(s), 0); /* the units are still there */
  ck_assert_int_eq(weft_sem_free(s), 0);
  return 0;
}

START_TEST(test_sem_post_at_max_count_refused_not_wrapped) {
  in_task(sem_max_body);
}
END_TEST

/* ---- generators ---- */

static int gen_null_body(void *arg) {
  void *out;
  (void)arg;
  EXPECT(weft_gen_send(NULL, NULL, &out), WEFT_EINVAL);
  EXPECT(weft_gen_close(NULL), WEFT_EINVAL);
  EXPECT(weft_gen_free(NULL), WEFT_EINVAL);
  return 0;
}

START_TEST(test_gen_null_generator_einval) {
  in_task(gen_null_body);
}
END_TEST

/* ---- sockets and descriptors ---- */

static int sock_null_body(void *arg) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  (void)arg;
  EXPECT(weft_sock_shutdown(NULL, SHUT_RDWR), WEFT_EBADF);
  EXPECT(weft_sock_local_addr(NULL, (struct sockaddr *)&ss, &len), WEFT_EBADF);
  EXPECT(weft_sock_peer_addr(NULL, (struct sockaddr *)&ss, &len), WEFT_EBADF);
  EXPECT(weft_sock_port(NULL), WEFT_EBADF);
  EXPECT(weft_sock_fd(NULL), WEFT_EBADF);
  return 0;
}

START_TEST(test_sock_null_socket_ebadf) {
  in_task(sock_null_body);
}
END_TEST

static int sock_args_body(void *arg) {
  weft_sock *l, *c, *s, *none;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char port[16], buf[4];
  (void)arg;
  ck_assert_int_eq(weft_tcp_listen(&l, "127.0.0.1", "0", -5), 0); /* backlog <= 0: SOMAXCONN */
  snprintf(port, sizeof port, "%d", weft_sock_port(l));
  ck_assert_int_eq(weft_tcp_connect(&c, "127.0.0.1", port, SECONDS(10)), 0);
  ck_assert_int_eq(weft_tcp_accept(l, &s, SECONDS(10)), 0);
  EXPECT(weft_tcp_accept(l, NULL, SECONDS(1)), WEFT_EINVAL);
  EXPECT(weft_tcp_accept(c, &none, SECONDS(1)), WEFT_EINVAL); /* not a listener */
  EXPECT(weft_send(l, "x", 1, SECONDS(1)), WEFT_EINVAL);      /* a listener */
  EXPECT(weft_send(c, NULL, 4, SECONDS(1)), WEFT_EINVAL);
  EXPECT(weft_recv(c, NULL, 4, SECONDS(1)), WEFT_EINVAL);
  EXPECT(weft_sock_local_addr(c, NULL, &len), WEFT_EINVAL);
  EXPECT(weft_sock_peer_addr(c, (struct sockaddr *)&ss, NULL), WEFT_EINVAL);
  EXPECT(weft_sock_shutdown(c, -1), WEFT_EINVAL);
  EXPECT(weft_sock_shutdown(c, 3), WEFT_EINVAL);
  /* the connection is unharmed */
  EXPECT(weft_send(c, "ping", 4, SECONDS(10)), 0);
  EXPECT(weft_recv(s, buf, 4, SECONDS(10)), 4);
  ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
  ck_assert_int_eq(weft_sock_close(c), 0);
  ck_assert_int_eq(weft_sock_close(s), 0);
  ck_assert_int_eq(weft_sock_close(l), 0);
  return 0;
}

START_TEST(test_sock_wrong_kind_or_null_buffers_einval) {
  in_task(sock_args_body);
}
END_TEST

static int ports_body(void *arg) {
  static const char *const bad[] = {"99999", "65536", "abc", "", "80x", "0x50", "-80"};
  struct addrinfo *ai;
  weft_sock *s;
  (void)arg;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    EXPECT(weft_tcp_connect(&s, "127.0.0.1", bad[i], SECONDS(5)), WEFT_EINVAL);
    EXPECT(weft_tcp_listen(&s, "127.0.0.1", bad[i], 8), WEFT_EINVAL);
    EXPECT(weft_getaddrinfo("127.0.0.1", bad[i], &ai), WEFT_EINVAL);
    EXPECT(weft_getaddrinfo("localhost", bad[i], &ai), WEFT_EINVAL);
  }
  EXPECT(weft_tcp_connect(&s, "127.0.0.1", NULL, SECONDS(5)), WEFT_EINVAL);
  EXPECT(weft_tcp_listen(&s, "127.0.0.1", NULL, 8), WEFT_EINVAL);
  EXPECT(weft_getaddrinfo("127.0.0.1", NULL, &ai), WEFT_EINVAL);
  EXPECT(weft_getaddrinfo(NULL, "80", &ai), WEFT_EINVAL);
  EXPECT(weft_tcp_connect(&s, "", "80", SECONDS(5)), WEFT_EINVAL);
  EXPECT(weft_tcp_connect(NULL, "127.0.0.1", "80", SECONDS(5)), WEFT_EINVAL);
  weft_freeaddrinfo(NULL); /* harmless */
  /* 65535 is a port */
  EXPECT(weft_getaddrinfo("127.0.0.1", "65535", &ai), 0);
  weft_freeaddrinfo(ai);
  return 0;
}

START_TEST(test_ports_out_of_range_or_not_numbers_einval) {
  in_task(ports_body);
}
END_TEST

static int fd_wait_body(void *arg) {
  static const int bad[] = {4, 8, -1, 0x100, WEFT_READABLE | 4, WEFT_WRITABLE | 0x40};
  int p[2], closed;
  (void)arg;
  ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    EXPECT(weft_fd_wait(p[1], bad[i], SECONDS(1)), WEFT_EINVAL);
  EXPECT(weft_fd_wait(-5, WEFT_READABLE, SECONDS(1)), WEFT_EBADF);
  /* a descriptor number that is not open (nor soon reused) */
  closed = fcntl(p[0], F_DUPFD_CLOEXEC, 4000);
  ck_assert_int_ge(closed, 0);
  close(closed);
  EXPECT(weft_fd_wait(closed, WEFT_READABLE, SECONDS(5)), WEFT_EBADF);
  /* the pipe is unharmed */
  EXPECT(weft_fd_wait(p[1], WEFT_WRITABLE, SECONDS(5)) & WEFT_WRITABLE, WEFT_WRITABLE);
  close(p[0]);
  close(p[1]);
  return 0;
}

START_TEST(test_fd_wait_bad_events_einval_and_closed_fd_ebadf) {
  in_task(fd_wait_body);
}
END_TEST

static int fd_wait_file_body(void *arg) {
  char path[] = "/tmp/weft-badinput-XXXXXX";
  int fd = mkstemp(path), rc;
  int64_t t0;
  (void)arg;
  ck_assert_int_ge(fd, 0);
  unlink(path);
  /* epoll cannot watch a regular file: an error at once, never a hang */
  t0 = weft_now();
  rc = weft_fd_wait(fd, WEFT_READABLE, SECONDS(10));
  ck_assert_msg(rc < 0 && rc != WEFT_ETIMEDOUT, "weft_fd_wait on a file returned %d (%s)", rc,
                weft_strerror(rc));
  ck_assert_int_lt(weft_now() - t0, 5000);
  printf("weft_fd_wait on a regular file: %d (%s)\n", rc, weft_strerror(rc));
  fflush(stdout);
  still_works();
  close(fd);
  return 0;
}

START_TEST(test_fd_wait_regular_file_fails_at_once) {
  in_task(fd_wait_file_body);
}
END_TEST

/* ---- files ---- */

static int files_body(void *arg) {
  char buf[8], *all;
  size_t len;
  int fd;
  (void)arg;
  EXPECT(weft_file_open(NULL, O_RDONLY, 0, SECONDS(5)), WEFT_EINVAL);
  EXPECT(weft_file_open("", O_RDONLY, 0, SECONDS(5)), WEFT_ENOENT);
  fd = weft_file_open("/dev/null", O_RDWR, 0, SECONDS(5));
  ck_assert_int_ge(fd, 0);
  EXPECT(weft_file_read(fd, NULL, 8, 0, SECONDS(5)), WEFT_EINVAL);
  EXPECT(weft_file_write(fd, NULL, 8, 0, SECONDS(5)), WEFT_EINVAL);
  EXPECT(weft_file_write(-1, "x", 1, 0, SECONDS(5)), WEFT_EBADF);
  EXPECT(weft_file_read_all("/dev/null", NULL, &len), WEFT_EINVAL);
  EXPECT(weft_file_read_all("/dev/null", &all, NULL), WEFT_EINVAL);
  EXPECT(weft_file_read(fd, buf, sizeof buf, 0, SECONDS(5)), 0); /* unharmed */
  EXPECT(weft_file_close(fd), 0);
  EXPECT(weft_file_read(fd, buf, sizeof buf, 0, SECONDS(5)), WEFT_EBADF); /* closed */
  EXPECT(weft_file_close(fd), WEFT_EBADF); /* twice */
  EXPECT(weft_file_close(-1), WEFT_EBADF);
  return 0;
}

START_TEST(test_files_null_buffers_einval_bad_or_closed_fd_ebadf) {
  in_task(files_body);
}
END_TEST

/* ---- child processes ---- */

static int proc_args_body(void *arg) {
  char *argv[] = {"sleep", "30", NULL}, *no_prog[] = {NULL};
  weft_proc_opts o;
  weft_proc *p;
  int64_t status;
  (void)arg;
  weft_proc_opts_init(&o);
  o.argv = argv;
  EXPECT(weft_proc_spawn(NULL, &o, NULL), WEFT_EINVAL);
  EXPECT(weft_proc_spawn(&p, NULL, NULL), WEFT_EINVAL);
  o.argv = no_prog;
  EXPECT(weft_proc_spawn(&p, &o, NULL), WEFT_EINVAL);
  o.argv = argv;
  o.stdio[2] = -1;
  EXPECT(weft_proc_spawn(&p, &o, NULL), WEFT_EINVAL);
  o.stdio[2] = WEFT_STDIO_INHERIT;
  EXPECT(weft_proc_kill(NULL, SIGTERM), WEFT_EINVAL);
  EXPECT(weft_proc_pid(NULL), WEFT_EINVAL);
  EXPECT(weft_proc_free(NULL), WEFT_EINVAL);
  /* signal numbers out of range, on a live child */
  EXPECT(weft_proc_spawn(&p, &o, NULL), 0);
  EXPECT(weft_proc_kill(p, -1), WEFT_EINVAL);
  EXPECT(weft_proc_kill(p, 100000), WEFT_EINVAL);
  EXPECT(weft_proc_wait(p, &status, NULL, 0), WEFT_ETIMEDOUT); /* still running */
  EXPECT(weft_proc_kill(p, SIGKILL), 0);
  EXPECT(weft_proc_wait(p, NULL, NULL, SECONDS(10)), 0);
  EXPECT(weft_proc_free(p), 0);
  return 0;
}

START_TEST(test_proc_bad_args_and_signals_einval) {
  in_task(proc_args_body);
}
END_TEST

/* ==== context: calls from where they are not allowed ==== */

/* Objects a task makes for a plain thread to misuse. */
struct objs {
  weft_chan *chan; /* of long, capacity 1 */
  weft_mutex *m;
  weft_cond *c;
  weft_wg *g; /* counter 1 */
  weft_sem *s;
  weft_sock *listener, *client, *server;
  char port[16];
  weft_gen *gen;
  weft_proc *proc;
  weft_task *sleeper;
  int pipe[2], file;
  atomic_bool ready, done;
};

static struct objs o;

static void *sleep_long(void *arg) {
  (void)arg;
  return (void *)(intptr_t)weft_sleep(3600 * 1000);
}

static void *owner_task(void *arg) {
  char *argv[] = {"sleep", "30", NULL}, b;
  weft_proc_opts po;
  void *r;
  (void)arg;
  CHECK_HOT(weft_chan_new(&o.chan, sizeof(long), 1) == 0);
  CHECK_HOT(weft_mutex_new(&o.m) == 0);
  CHECK_HOT(weft_cond_new(&o.c) == 0);
  CHECK_HOT(weft_wg_new(&o.g) == 0 && weft_wg_add(o.g, 1) == 0);
  CHECK_HOT(weft_sem_new(&o.s, 0) == 0);
  CHECK_HOT(weft_tcp_listen(&o.listener, "127.0.0.1", "0", 8) == 0);
  snprintf(o.port, sizeof o.port, "%d", weft_sock_port(o.listener));
  CHECK_HOT(weft_tcp_connect(&o.client, "127.0.0.1", o.port, SECONDS(10)) == 0);
  CHECK_HOT(weft_tcp_accept(o.listener, &o.server, SECONDS(10)) == 0);
  /* A wait on the client: the I/O thread now watches it. */
  CHECK_HOT(weft_recv(o.client, &b, 1, weft_now() + 10) == WEFT_ETIMEDOUT);
  CHECK_HOT(weft_gen_new(&o.gen, give, NULL) == 0);
  weft_proc_opts_init(&po);
  po.argv = argv;
  CHECK_HOT(weft_proc_spawn(&o.proc, &po, NULL) == 0);
  CHECK_HOT(weft_spawn(&o.sleeper, sleep_long, NULL) == 0);
  CHECK_HOT(pipe2(o.pipe, O_NONBLOCK | O_CLOEXEC) == 0);
  CHECK_HOT((o.file = weft_file_open("/dev/null", O_RDWR, 0, SECONDS(10))) >= 0);
  atomic_store(&o.ready, true);

  while (!atomic_load(&o.done))
    CHECK_HOT(weft_sleep(5) == 0);

  /* Everything still works for its owner. */
  CHECK_HOT(weft_gen_next(o.gen, &r) == WEFT_EDONE);
  CHECK_HOT(weft_gen_free(o.gen) == 0);
  CHECK_HOT(weft_proc_kill(o.proc, SIGKILL) == 0);
  CHECK_HOT(weft_proc_wait(o.proc, NULL, NULL, SECONDS(10)) == 0);
  CHECK_HOT(weft_proc_free(o.proc) == 0);
  CHECK_HOT(weft_join(o.sleeper, &r) == 0 && (int)(intptr_t)r == WEFT_ECANCELED);
  CHECK_HOT(weft_send(o.server, "k", 1, SECONDS(10)) == 0);
  CHECK_HOT(weft_recv(o.client, &b, 1, SECONDS(10)) == 1);
  CHECK_HOT(weft_sock_close(o.client) == 0);
  CHECK_HOT(weft_sock_close(o.server) == 0);
  CHECK_HOT(weft_sock_close(o.listener) == 0);
  CHECK_HOT(weft_wg_wait(o.g, 0) == WEFT_ETIMEDOUT && weft_wg_done(o.g) == 0);
  CHECK_HOT(weft_chan_free(o.chan) == 0 && weft_mutex_free(o.m) == 0);
  CHECK_HOT(weft_cond_free(o.c) == 0 && weft_wg_free(o.g) == 0 && weft_sem_free(o.s) == 0);
  CHECK_HOT(weft_file_close(o.file) == 0);
  close(o.pipe[0]);
  close(o.pipe[1]);
  return NULL;
}

START_TEST(test_blocking_calls_from_plain_thread_eperm) {
  char *argv[] = {"true", NULL}, buf[4], *all;
  weft_config cfg;
  weft_proc_opts po;
  weft_select_case k = {.op = WEFT_SELECT_RECV};
  weft_task *t;
  weft_sock *sk;
  weft_proc *p;
  weft_gen *g;
  struct addrinfo *ai;
  void *out;
  long v = 1;
  size_t len;
  int64_t end;

  weft_config_init(&cfg);
  cfg.workers = 2;
  ck_assert_int_eq(weft_rt_new(&outside_rt, &cfg), 0);
  ck_assert_int_eq(weft_rt_spawn(outside_rt, NULL, owner_task, NULL), 0);
  for (end = SECONDS(30); !atomic_load(&o.ready) && weft_now() < end;)
    sleep_ms(5);
  ck_assert(atomic_load(&o.ready));
  ck_assert_ptr_null(weft_self());
  k.chan = o.chan;
  k.elem = &v;
  weft_proc_opts_init(&po);
  po.argv = argv;

  EXPECT(weft_spawn(&t, give, NULL), WEFT_EPERM);
  EXPECT(weft_spawn_ex(&t, NULL, give, NULL), WEFT_EPERM);
  EXPECT(weft_join(o.sleeper, NULL), WEFT_EPERM);
  EXPECT(weft_sleep(1), WEFT_EPERM);
  EXPECT(weft_sleep_until(weft_now() + 1), WEFT_EPERM);
  EXPECT(weft_chan_send(o.chan, &v, -1), WEFT_EPERM);
  EXPECT(weft_chan_recv(o.chan, &v, -1), WEFT_EPERM);
  EXPECT(weft_select(&k, 1, -1), WEFT_EPERM);
  EXPECT(weft_mutex_lock(o.m, -1), WEFT_EPERM);
  EXPECT(weft_cond_wait(o.c, o.m, -1), WEFT_EPERM);
  EXPECT(weft_wg_wait(o.g, -1), WEFT_EPERM);
  EXPECT(weft_sem_wait(o.s, -1), WEFT_EPERM);
  EXPECT(weft_tcp_listen(&sk, "127.0.0.1", "0", 8), WEFT_EPERM);
  EXPECT(weft_tcp_accept(o.listener, &sk, -1), WEFT_EPERM);
  EXPECT(weft_tcp_connect(&sk, "127.0.0.1", o.port, -1), WEFT_EPERM);
  EXPECT(weft_recv(o.client, buf, 1, -1), WEFT_EPERM);
  EXPECT(weft_send(o.client, "x", 1, -1), WEFT_EPERM);
  EXPECT(weft_sock_close(o.client), WEFT_EPERM); /* watched by the I/O thread */
  EXPECT(weft_fd_wait(o.pipe[0], WEFT_READABLE, -1), WEFT_EPERM);
  EXPECT(weft_getaddrinfo("127.0.0.1", "80", &ai), WEFT_EPERM);
  EXPECT(weft_file_open("/dev/null", O_RDONLY, 0, -1), WEFT_EPERM);
  EXPECT(weft_file_read(o.file, buf, 1, 0, -1), WEFT_EPERM);
  EXPECT(weft_file_write(o.file, "x", 1, 0, -1), WEFT_EPERM);
  EXPECT(weft_file_read_all("/dev/null", &all, &len), WEFT_EPERM);
  EXPECT(weft_offload(give, NULL, NULL), WEFT_EPERM);
  EXPECT(weft_proc_spawn(&p, &po, NULL), WEFT_EPERM);
  EXPECT(weft_proc_wait(o.proc, NULL, NULL, -1), WEFT_EPERM);
  EXPECT(weft_proc_kill(o.proc, 0), WEFT_EPERM);
  EXPECT(weft_proc_free(o.proc), WEFT_EPERM);
  EXPECT(weft_gen_new(&g, give, NULL), WEFT_EPERM);
  EXPECT(weft_gen_send(o.gen, NULL, &out), WEFT_EPERM);
  EXPECT(weft_gen_next(o.gen, &out), WEFT_EPERM);
  EXPECT(weft_gen_close(o.gen), WEFT_EPERM);
  EXPECT(weft_gen_free(o.gen), WEFT_EPERM);

  /* What any thread may do, it may. */
  EXPECT(weft_gen_state(o.gen), WEFT_GEN_CREATED);
  ck_assert_ptr_null(weft_gen_yield(&v));
  EXPECT(weft_gen_closing(), 0);
  EXPECT(weft_canceled(), 0);
  EXPECT(weft_chan_try_send(o.chan, &v), 0);
  EXPECT(weft_chan_try_recv(o.chan, &v), 0);
  EXPECT(weft_mutex_trylock(o.m), 0);
  EXPECT(weft_mutex_unlock(o.m), 0);
  EXPECT(weft_cond_signal(o.c), 0);
  EXPECT(weft_cond_broadcast(o.c), 0);
  EXPECT(weft_sem_post(o.s), 0);
  EXPECT(weft_sem_trywait(o.s), 0);
  EXPECT(weft_wg_add(o.g, 1), 0);
  EXPECT(weft_wg_done(o.g), 0);
  ck_assert_int_ge(weft_sock_fd(o.client), 0);
  ck_assert_int_gt(weft_sock_port(o.listener), 0);
  EXPECT(weft_cancel(o.sleeper), 0);

  atomic_store(&o.done, true);
  ck_assert_int_eq(weft_rt_wait(outside_rt), 0);
  ck_assert_int_eq(weft_rt_free(outside_rt), 0);
  outside_rt = NULL;
}
END_TEST

/* A generator belongs to the task that made it. */
static void *gen_two(void *arg) {
  (void)arg;
  weft_gen_yield((void *)(intptr_t)1);
  return (void *)(intptr_t)2;
}

static void *drive_foreign(void *arg) {
  weft_gen *g = arg;
  void *out = NULL;
  int rc[4];
  rc[0] = weft_gen_next(g, &out);
  rc[1] = weft_gen_close(g);
  rc[2] = weft_gen_free(g);
  rc[3] = weft_gen_state(g); /* any task may look */
  return (void *)(intptr_t)(rc[0] == WEFT_EPERM && rc[1] == WEFT_EPERM && rc[2] == WEFT_EPERM &&
                            rc[3] == WEFT_GEN_SUSPENDED && out == NULL);
}

static int gen_foreign_body(void *arg) {
  weft_gen *g;
  weft_task *t;
  void *r;
  (void)arg;
  ck_assert_int_eq(weft_gen_new(&g, gen_two, NULL), 0);
  ck_assert_int_eq(weft_gen_next(g, &r), 0);
  ck_assert_int_eq(weft_spawn(&t, drive_foreign, g), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_msg((intptr_t)r == 1, "another task could drive, close or free the generator");
  still_works();
  ck_assert_int_eq(weft_gen_next(g, &r), WEFT_EDONE); /* untouched: its owner goes on */
  ck_assert_int_eq((long)(intptr_t)r, 2);
  ck_assert_int_eq(weft_gen_free(g), 0);
  return 0;
}

START_TEST(test_gen_next_close_free_from_other_task_eperm) {
  in_task(gen_foreign_body);
}
END_TEST

static weft_gen *self_gen;

static void *closes_itself(void *arg) {
  int a = weft_gen_close(self_gen), b = weft_gen_free(self_gen);
  (void)arg;
  return (void *)(intptr_t)(a == WEFT_EBUSY && b == WEFT_EBUSY);
}

static int gen_self_body(void *arg) {
  void *r;
  (void)arg;
  ck_assert_int_eq(weft_gen_new(&self_gen, closes_itself, NULL), 0);
  ck_assert_int_eq(weft_gen_next(self_gen, &r), WEFT_EDONE);
  ck_assert_msg((intptr_t)r == 1, "a running generator could close or free itself");
  still_works();
  ck_assert_int_eq(weft_gen_free(self_gen), 0);
  return 0;
}

START_TEST(test_gen_close_or_free_from_inside_itself_ebusy) {
  in_task(gen_self_body);
}
END_TEST

/* A lock held by one task, misused by another. */
struct held {
  weft_mutex *m;
  weft_cond *c;
};

static void *misuse_lock(void *arg) {
  struct held *h = arg;
  int a = weft_mutex_unlock(h->m), b = weft_cond_wait(h->c, h->m, SECONDS(1));
  return (void *)(intptr_t)(a == WEFT_EPERM && b == WEFT_EPERM);
}

static int lock_other_body(void *arg) {
  struct held h;
  weft_task *t;
  void *r;
  (void)arg;
  ck_assert_int_eq(weft_mutex_new(&h.m), 0);
  ck_assert_int_eq(weft_cond_new(&h.c), 0);
  ck_assert_int_eq(weft_mutex_lock(h.m, -1), 0);
  ck_assert_int_eq(weft_spawn(&t, misuse_lock, &h), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_msg((intptr_t)r == 1, "a task unlocked or waited with a mutex another task holds");
  EXPECT(weft_mutex_trylock(h.m), WEFT_EBUSY); /* still held, by us */
  EXPECT(weft_mutex_unlock(h.m), 0);
  ck_assert_int_eq(weft_cond_free(h.c), 0);
  ck_assert_int_eq(weft_mutex_free(h.m), 0);
  return 0;
}

START_TEST(test_mutex_held_by_other_task_unlock_and_cond_wait_eperm) {
  in_task(lock_other_body);
}
END_TEST

/* ==== double: operations done twice, or on an object in use ==== */

static void *quick(void *arg) {
  return arg;
}

static int cancel_finished_body(void *arg) {
  weft_task *t;
  void *r;
  (void)arg;
  ck_assert_int_eq(weft_spawn(&t, quick, (void *)(intptr_t)11), 0);
  ck_assert_int_eq(weft_sleep(20), 0); /* it has finished */
  EXPECT(weft_cancel(t), 0);
  EXPECT(weft_cancel(t), 0);
  EXPECT(weft_join(t, &r), 0); /* it ran: its result, not WEFT_ECANCELED */
  ck_assert_int_eq((long)(intptr_t)r, 11);
  return 0;
}

START_TEST(test_cancel_finished_task_harmless_join_gets_result) {
  in_task(cancel_finished_body);
}
END_TEST

static void *recv_on(void *arg) {
  char b;
  return (void *)(intptr_t)weft_recv(arg, &b, 1, SECONDS(30));
}

static int close_in_use_body(void *arg) {
  weft_sock *l, *c, *s;
  weft_task *t;
  char port[16];
  void *r;
  (void)arg;
  ck_assert_int_eq(weft_tcp_listen(&l, "127.0.0.1", "0", 8), 0);
  snprintf(port, sizeof port, "%d", weft_sock_port(l));
  ck_assert_int_eq(weft_tcp_connect(&c, "127.0.0.1", port, SECONDS(10)), 0);
  ck_assert_int_eq(weft_tcp_accept(l, &s, SECONDS(10)), 0);
  ck_assert_int_eq(weft_spawn(&t, recv_on, c), 0);
  /* It waits in recv (closing before it got there would hand it a freed
   * socket). */
  ck_assert(wait_parked(t, SECONDS(60)));
  EXPECT(weft_sock_close(c), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, WEFT_EBADF);
  ck_assert_int_eq(weft_sock_close(s), 0);
  ck_assert_int_eq(weft_sock_close(l), 0);
  return 0;
}

START_TEST(test_sock_close_while_recv_waits_wakes_it_ebadf) {
  in_task(close_in_use_body);
}
END_TEST

/* ==== foreign: objects of another type, or no object at all ==== */

static int zeroed_chan_body(void *arg) {
  weft_chan *c = blank();
  weft_select_case k = {.chan = c, .op = WEFT_SELECT_RECV};
  long v = 1;
  (void)arg;
  k.elem = &v;
  EXPECT(weft_chan_send(c, &v, 0), WEFT_EINVAL);
  EXPECT(weft_chan_recv(c, &v, 0), WEFT_EINVAL);
  EXPECT(weft_chan_try_send(c, &v), WEFT_EINVAL);
  EXPECT(weft_chan_try_recv(c, &v), WEFT_EINVAL);
  EXPECT(weft_chan_len(c), WEFT_EINVAL);
  EXPECT(weft_chan_cap(c), WEFT_EINVAL);
  EXPECT(weft_select(&k, 1, 0), WEFT_EINVAL);
  EXPECT(weft_chan_close(c), WEFT_EINVAL);
  EXPECT(weft_chan_free(c), WEFT_EINVAL);
  return 0;
}

START_TEST(test_foreign_zeroed_chan_einval) {
  in_task(zeroed_chan_body);
}
END_TEST

/* Every mutex call on m, which is not a mutex. */
static void not_a_mutex(weft_mutex *m) {
  weft_cond *c;
  EXPECT(weft_mutex_lock(m, 0), WEFT_EINVAL);
  EXPECT(weft_mutex_trylock(m), WEFT_EINVAL);
  EXPECT(weft_mutex_unlock(m), WEFT_EINVAL);
  ck_assert_int_eq(weft_cond_new(&c), 0);
  EXPECT(weft_cond_wait(c, m, 0), WEFT_EINVAL);
  ck_assert_int_eq(weft_cond_free(c), 0);
  EXPECT(weft_mutex_free(m), WEFT_EINVAL);
}

static int zeroed_mutex_body(void *arg) {
  (void)arg;
  not_a_mutex(blank());
  return 0;
}

START_TEST(test_foreign_zeroed_mutex_einval) {
  in_task(zeroed_mutex_body);
}
END_TEST

static int zeroed_cond_body(void *arg) {
  weft_cond *c = blank();
  weft_mutex *m;
  (void)arg;
  ck_assert_int_eq(weft_mutex_new(&m), 0);
  ck_assert_int_eq(weft_mutex_lock(m, -1), 0);
  EXPECT(weft_cond_wait(c, m, 0), WEFT_EINVAL);
  EXPECT(weft_mutex_unlock(m), 0);
  EXPECT(weft_cond_signal(c), WEFT_EINVAL);
  EXPECT(weft_cond_broadcast(c), WEFT_EINVAL);
  EXPECT(weft_cond_free(c), WEFT_EINVAL);
  ck_assert_int_eq(weft_mutex_free(m), 0);
  return 0;
}

START_TEST(test_foreign_zeroed_cond_einval) {
  in_task(zeroed_cond_body);
}
END_TEST

static int zeroed_wg_body(void *arg) {
  weft_wg *g = blank();
  (void)arg;
  EXPECT(weft_wg_add(g, 1), WEFT_EINVAL);
  EXPECT(weft_wg_done(g), WEFT_EINVAL);
  EXPECT(weft_wg_wait(g, 0), WEFT_EINVAL);
  EXPECT(weft_wg_free(g), WEFT_EINVAL);
  return 0;
}

START_TEST(test_foreign_zeroed_wg_einval) {
  in_task(zeroed_wg_body);
}
END_TEST

static int zeroed_sem_body(void *arg) {
  weft_sem *s = blank();
  (void)arg;
  EXPECT(weft_sem_wait(s, 0), WEFT_EINVAL);
  EXPECT(weft_sem_trywait(s), WEFT_EINVAL);
  EXPECT(weft_sem_post(s), WEFT_EINVAL);
  EXPECT(weft_sem_free(s), WEFT_EINVAL);
  return 0;
}

START_TEST(test_foreign_zeroed_sem_einval) {
  in_task(zeroed_sem_body);
}
END_TEST

static int zeroed_gen_body(void *arg) {
  weft_gen *g = blank();
  void *out;
  (void)arg;
  EXPECT(weft_gen_send(g, NULL, &out), WEFT_EINVAL);
  EXPECT(weft_gen_next(g, &out), WEFT_EINVAL);
  EXPECT(weft_gen_close(g), WEFT_EINVAL);
  EXPECT(weft_gen_state(g), WEFT_EINVAL);
  EXPECT(weft_gen_free(g), WEFT_EINVAL);
  return 0;
}

START_TEST(test_foreign_zeroed_gen_einval) {
  in_task(zeroed_gen_body);
}
END_TEST

/* Every socket call on s, which is not a socket. */
static void not_a_sock(weft_sock *s) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  weft_sock *c;
  char b[4];
  EXPECT(weft_recv(s, b, sizeof b, 0), WEFT_EBADF);
  EXPECT(weft_send(s, "x", 1, 0), WEFT_EBADF);
  EXPECT(weft_tcp_accept(s, &c, 0), WEFT_EBADF);
  EXPECT(weft_sock_shutdown(s, SHUT_RDWR), WEFT_EBADF);
  EXPECT(weft_sock_local_addr(s, (struct sockaddr *)&ss, &len), WEFT_EBADF);
  EXPECT(weft_sock_peer_addr(s, (struct sockaddr *)&ss, &len), WEFT_EBADF);
  EXPECT(weft_sock_port(s), WEFT_EBADF);
  EXPECT(weft_sock_fd(s), WEFT_EBADF);
  EXPECT(weft_sock_close(s), WEFT_EBADF);
}

static int zeroed_sock_body(void *arg) {
  (void)arg;
  not_a_sock(blank());
  return 0;
}

START_TEST(test_foreign_zeroed_sock_ebadf) {
  in_task(zeroed_sock_body);
}
END_TEST

static int zeroed_task_body(void *arg) {
  weft_task *t = blank();
  (void)arg;
  EXPECT(weft_join(t, NULL), WEFT_EINVAL);
  EXPECT(weft_detach(t), WEFT_EINVAL);
  EXPECT(weft_cancel(t), WEFT_EINVAL);
  return 0;
}

START_TEST(test_foreign_zeroed_task_einval) {
  in_task(zeroed_task_body);
}
END_TEST

/* The process calls, one test each: a crash in one hides nothing else.
 * weft_proc_kill uses signal 0, which checks and delivers nothing. */
static int zeroed_proc_wait_body(void *arg) {
  (void)arg;
  EXPECT(weft_proc_wait(blank(), NULL, NULL, weft_now() + 100), WEFT_EINVAL);
  return 0;
}

static int zeroed_proc_kill_body(void *arg) {
  (void)arg;
  EXPECT(weft_proc_kill(blank(), 0), WEFT_EINVAL);
  return 0;
}

static int zeroed_proc_pid_body(void *arg) {
  (void)arg;
  EXPECT(weft_proc_pid(blank()), WEFT_EINVAL);
  return 0;
}

static int zeroed_proc_free_body(void *arg) {
  (void)arg;
  EXPECT(weft_proc_free(blank()), WEFT_EINVAL);
  return 0;
}

START_TEST(test_foreign_zeroed_proc_wait_einval) {
  in_task(zeroed_proc_wait_body);
}
END_TEST

START_TEST(test_foreign_zeroed_proc_kill_einval) {
  in_task(zeroed_proc_kill_body);
}
END_TEST

START_TEST(test_foreign_zeroed_proc_pid_einval) {
  in_task(zeroed_proc_pid_body);
}
END_TEST

START_TEST(test_foreign_zeroed_proc_free_einval) {
  in_task(zeroed_proc_free_body);
}
END_TEST

/* The runtime calls, from a plain thread with a real runtime beside. */
static void with_real_rt(void) {
  weft_config cfg;
  weft_config_init(&cfg);
  cfg.workers = 2;
  ck_assert_int_eq(weft_rt_new(&outside_rt, &cfg), 0);
}

static void free_real_rt(void) {
  ck_assert_int_eq(weft_rt_free(outside_rt), 0);
  outside_rt = NULL;
}

START_TEST(test_foreign_zeroed_rt_spawn_einval) {
  weft_spawn_attr attr;
  weft_task *t;
  with_real_rt();
  weft_spawn_attr_init(&attr);
  attr.detached = 1;
  EXPECT(weft_rt_spawn(blank(), &t, give, NULL), WEFT_EINVAL);
  EXPECT(weft_rt_spawn_ex(blank(), NULL, &attr, give, NULL), WEFT_EINVAL);
  free_real_rt();
}
END_TEST

START_TEST(test_foreign_zeroed_rt_wait_einval) {
  with_real_rt();
  EXPECT(weft_rt_wait(blank()), WEFT_EINVAL);
  free_real_rt();
}
END_TEST

START_TEST(test_foreign_zeroed_rt_free_einval) {
  with_real_rt();
  EXPECT(weft_rt_free(blank()), WEFT_EINVAL);
  free_real_rt();
}
END_TEST

START_TEST(test_foreign_zeroed_rt_stats_and_dump_einval) {
  weft_stats st;
  FILE *devnull = fopen("/dev/null", "we");
  with_real_rt();
  ck_assert_ptr_nonnull(devnull);
  EXPECT(weft_rt_stats(blank(), &st, NULL, 0), WEFT_EINVAL);
  EXPECT(weft_rt_dump(blank(), devnull), WEFT_EINVAL);
  fclose(devnull);
  free_real_rt();
}
END_TEST

/* Real objects passed as another type. */
static int cross_type_body(void *arg) {
  weft_chan *ch;
  weft_mutex *m;
  weft_cond *c;
  weft_wg *g;
  weft_sem *s;
  weft_gen *gen;
  long v = 1;
  void *out;
  (void)arg;
  ck_assert_int_eq(weft_chan_new(&ch, sizeof v, 1), 0);
  ck_assert_int_eq(weft_mutex_new(&m), 0);
  ck_assert_int_eq(weft_cond_new(&c), 0);
  ck_assert_int_eq(weft_wg_new(&g), 0);
  ck_assert_int_eq(weft_sem_new(&s, 1), 0);
  ck_assert_int_eq(weft_gen_new(&gen, give, NULL), 0);

  not_a_mutex((weft_mutex *)ch);
  not_a_mutex((weft_mutex *)s);
  EXPECT(weft_chan_try_send((weft_chan *)m, &v), WEFT_EINVAL);
  EXPECT(weft_chan_try_recv((weft_chan *)gen, &v), WEFT_EINVAL);
  EXPECT(weft_chan_close((weft_chan *)c), WEFT_EINVAL);
  EXPECT(weft_chan_free((weft_chan *)g), WEFT_EINVAL);
  EXPECT(weft_cond_signal((weft_cond *)m), WEFT_EINVAL);
  EXPECT(weft_wg_add((weft_wg *)s, 1), WEFT_EINVAL);
  EXPECT(weft_sem_post((weft_sem *)g), WEFT_EINVAL);
  EXPECT(weft_sem_free((weft_sem *)c), WEFT_EINVAL);
  EXPECT(weft_gen_next((weft_gen *)ch, &out), WEFT_EINVAL);
  EXPECT(weft_gen_free((weft_gen *)m), WEFT_EINVAL);
  not_a_sock((weft_sock *)ch);
  not_a_sock((weft_sock *)gen);

  /* each object is still what it was */
  EXPECT(weft_chan_try_send(ch, &v), 0);
  EXPECT(weft_chan_len(ch), 1);
  EXPECT(weft_mutex_trylock(m), 0);
  EXPECT(weft_mutex_unlock(m), 0);
  EXPECT(weft_sem_trywait(s), 0);
  EXPECT(weft_wg_wait(g, 0), 0);
  EXPECT(weft_gen_state(gen), WEFT_GEN_CREATED);
  ck_assert_int_eq(weft_gen_free(gen), 0);
  ck_assert_int_eq(weft_sem_free(s), 0);
  ck_assert_int_eq(weft_wg_free(g), 0);
  ck_assert_int_eq(weft_cond_free(c), 0);
  ck_assert_int_eq(weft_mutex_free(m), 0);
  ck_assert_int_eq(weft_chan_free(ch), 0);
  return 0;
}

START_TEST(test_foreign_object_of_another_type_einval) {
  in_task(cross_type_body);
}
END_TEST

/* weft_once_do on storage WEFT_ONCE_INIT never made, from a thread that
 * reports back within 2 s (a call that spins forever is a failure). */
struct once_try {
  weft_once *o;
  int rc;
  atomic_bool returned;
};

static void once_fn(void *arg) {
  (void)arg;
}

static void *try_once(void *arg) {
  struct once_try *t = arg;
  t->rc = weft_once_do(t->o, once_fn, NULL);
  atomic_store(&t->returned, true);
  return NULL;
}

START_TEST(test_foreign_once_with_garbage_state_einval) {
  static weft_once garbage = {0x5a5a5a5a};
  static struct once_try t = {.o = &garbage};
  pthread_t th;
  int64_t end = SECONDS(2);
  ck_assert_int_eq(pthread_create(&th, NULL, try_once, &t), 0);
  while (!atomic_load(&t.returned) && weft_now() < end)
    sleep_ms(5);
  ck_assert_msg(atomic_load(&t.returned), "weft_once_do on a garbage weft_once did not return");
  pthread_join(th, NULL);
  ck_assert_int_eq(t.rc, WEFT_EINVAL);
}
END_TEST

static Suite *badinput_suite(void) {
  Suite *s = suite_create("badinput");
  TCase *errors = tcase_create("errors"), *context = tcase_create("context"),
        *twice = tcase_create("double"), *foreign = tcase_create("foreign");

  tcase_add_test(errors, test_strerror_any_value_named);
  tcase_add_test(errors, test_init_functions_null_harmless);
  tcase_add_test(errors, test_config_env_malformed_values_ignored);
  tcase_add_test(errors, test_config_env_stack_size_overflowing_suffix_ignored);
  tcase_add_test(errors, test_rt_new_workers_over_1024_or_stack_size_max_einval);
  tcase_add_test(errors, test_rt_spawn_ex_bad_attr_einval);
  tcase_add_test(errors, test_rt_stats_and_dump_null_arguments);
  tcase_add_test(errors, test_spawn_ex_stack_size_beyond_max_einval);
  tcase_add_test(errors, test_sleep_negative_ms_einval);
  tcase_add_test(errors, test_sleep_int64_max_sleeps_until_canceled);
  tcase_add_test(errors, test_chan_new_overflowing_size_einval);
  tcase_add_test(errors, test_chan_zero_size_elements_with_null_pointer_are_signals);
  tcase_add_test(errors, test_chan_new_unallocatable_buffer_enomem);
  tcase_add_test(errors, test_chan_new_capacity_beyond_long_max_einval);
  tcase_add_test(errors, test_chan_null_chan_or_elem_einval);
  tcase_add_test(errors, test_select_bad_op_or_null_elem_einval_and_no_case_taken);
  tcase_add_test(errors, test_select_no_cases_or_null_chans_waits_until_deadline);
  tcase_add_test(errors, test_sync_null_objects_einval);
  tcase_add_test(errors, test_sync_free_null_einval);
  tcase_add_test(errors, test_wg_add_overflow_einval);
  tcase_add_test(errors, test_sem_post_at_max_count_refused_not_wrapped);
  tcase_add_test(errors, test_gen_null_generator_einval);
  tcase_add_test(errors, test_sock_null_socket_ebadf);
  tcase_add_test(errors, test_sock_wrong_kind_or_null_buffers_einval);
  tcase_add_test(errors, test_ports_out_of_range_or_not_numbers_einval);
  tcase_add_test(errors, test_fd_wait_bad_events_einval_and_closed_fd_ebadf);
  tcase_add_test(errors, test_fd_wait_regular_file_fails_at_once);
  tcase_add_test(errors, test_files_null_buffers_einval_bad_or_closed_fd_ebadf);
  tcase_add_test(errors, test_proc_bad_args_and_signals_einval);
  tcase_set_timeout(errors, 60);

  tcase_add_test(context, test_blocking_calls_from_plain_thread_eperm);
  tcase_add_test(context, test_gen_next_close_free_from_other_task_eperm);
  tcase_add_test(context, test_gen_close_or_free_from_inside_itself_ebusy);
  tcase_add_test(context, test_mutex_held_by_other_task_unlock_and_cond_wait_eperm);
  tcase_set_timeout(context, 60);

  tcase_add_test(twice, test_cancel_finished_task_harmless_join_gets_result);
  tcase_add_test(twice, test_sock_close_while_recv_waits_wakes_it_ebadf);
  tcase_set_timeout(twice, 60);

  tcase_add_test(foreign, test_foreign_zeroed_chan_einval);
  tcase_add_test(foreign, test_foreign_zeroed_mutex_einval);
  tcase_add_test(foreign, test_foreign_zeroed_cond_einval);
  tcase_add_test(foreign, test_foreign_zeroed_wg_einval);
  tcase_add_test(foreign, test_foreign_zeroed_sem_einval);
  tcase_add_test(foreign, test_foreign_zeroed_gen_einval);
  tcase_add_test(foreign, test_foreign_zeroed_sock_ebadf);
  tcase_add_test(foreign, test_foreign_zeroed_task_einval);
  tcase_add_test(foreign, test_foreign_zeroed_proc_wait_einval);
  tcase_add_test(foreign, test_foreign_zeroed_proc_kill_einval);
  tcase_add_test(foreign, test_foreign_zeroed_proc_pid_einval);
  tcase_add_test(foreign, test_foreign_zeroed_proc_free_einval);
  tcase_add_test(foreign, test_foreign_zeroed_rt_spawn_einval);
  tcase_add_test(foreign, test_foreign_zeroed_rt_wait_einval);
  tcase_add_test(foreign, test_foreign_zeroed_rt_free_einval);
  tcase_add_test(foreign, test_foreign_zeroed_rt_stats_and_dump_einval);
  tcase_add_test(foreign, test_foreign_object_of_another_type_einval);
  tcase_add_test(foreign, test_foreign_once_with_garbage_state_einval);
  tcase_set_timeout(foreign, 30);

  suite_add_tcase(s, errors);
  suite_add_tcase(s, context);
  suite_add_tcase(s, twice);
  suite_add_tcase(s, foreign);
  return s;
}

WEFT_TEST_MAIN(badinput_suite)
