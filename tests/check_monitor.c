/*
 * check_monitor.c - watching a runtime: deadlock detection, the task dump
 * (by call and by signal), the I/O handle count, and idle memory trimming.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- capturing stderr (each Check test runs in its own process) ---- */

static FILE *capture;
static int saved_stderr = -1;

static void capture_start(void) {
  capture = tmpfile();
  ck_assert_ptr_nonnull(capture);
  fflush(stderr);
  saved_stderr = dup(2);
  ck_assert_int_ge(saved_stderr, 0);
  ck_assert_int_eq(dup2(fileno(capture), 2), 2);
}

/* Whether what has been captured so far contains s. */
static bool captured_has(const char *s) {
  struct stat st;
  char *buf;
  bool has;
  fflush(stderr);
  ck_assert_int_eq(fstat(fileno(capture), &st), 0);
  buf = calloc(1, (size_t)st.st_size + 1);
  ck_assert_ptr_nonnull(buf);
  ck_assert_int_eq(pread(fileno(capture), buf, (size_t)st.st_size, 0), st.st_size);
  has = strstr(buf, s) != NULL;
  free(buf);
  return has;
}

/* rt's dump (free it), taken again every 10 ms until it contains each of
 * the n strings in want, or 10 s pass. */
static char *dump_until(weft_rt *rt, const char *const *want, int n) {
  int64_t end = weft_now() + 10000;
  for (;;) {
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    int i = 0;
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(weft_rt_dump(rt, out), 0);
    fclose(out);
    while (i < n && strstr(buf, want[i]))
      i++;
    if (i == n || weft_now() >= end)
      return buf;
    free(buf);
    usleep(10 * 1000);
  }
}

/* Stop capturing; returns what was written (free it). */
static char *capture_end(void) {
  long len;
  char *buf;
  fflush(stderr);
  dup2(saved_stderr, 2);
  close(saved_stderr);
  len = ftell(capture);
  buf = calloc(1, (size_t)len + 1);
  ck_assert_ptr_nonnull(buf);
  rewind(capture);
  ck_assert_int_eq((long)fread(buf, 1, (size_t)len, capture), len);
  fclose(capture);
  return buf;
}

static weft_rt *new_rt(unsigned workers) {
  weft_config cfg;
  weft_rt *rt;
  weft_config_init(&cfg);
  cfg.workers = workers;
  ck_assert_int_eq(weft_rt_new(&rt, &cfg), 0);
  return rt;
}

/* ---- deadlock ---- */

struct pair {
  weft_chan *a, *b;
  int rc_a, rc_b;
};

static void *recv_a_then_send_b(void *arg) {
  struct pair *p = arg;
  int v = 1;
  p->rc_a = weft_chan_recv(p->a, &v, -1);
  if (p->rc_a == 0)
    weft_chan_send(p->b, &v, -1);
  return NULL;
}

static void *recv_b_then_send_a(void *arg) {
  struct pair *p = arg;
  int v = 2;
  p->rc_b = weft_chan_recv(p->b, &v, -1);
  if (p->rc_b == 0)
    weft_chan_send(p->a, &v, -1);
  return NULL;
}

static void *make_channels(void *arg) {
  struct pair *p = arg;
  ck_assert_int_eq(weft_chan_new(&p->a, sizeof(int), 0), 0);
  ck_assert_int_eq(weft_chan_new(&p->b, sizeof(int), 0), 0);
  return NULL;
}

static void *free_channels(void *arg) {
  struct pair *p = arg;
  weft_chan_free(p->a);
  weft_chan_free(p->b);
  return NULL;
}

/* Run fn as a task of rt from this (foreign) thread and wait for it. */
static void run_one(weft_rt *rt, void *(*fn)(void *), void *arg) {
  weft_task *t;
  ck_assert_int_eq(weft_rt_spawn(rt, &t, fn, arg), 0);
  /* A foreign thread cannot join; wait for the runtime to drain instead. */
  ck_assert_int_eq(weft_rt_wait(rt), 0);
  (void)t;
}

START_TEST(test_rt_wait_reports_two_tasks_waiting_on_each_other) {
  weft_rt *rt = new_rt(2);
  struct pair p = {0};
  char *err;
  int rc;

  ck_assert_int_eq(weft_rt_spawn(rt, NULL, make_channels, &p), 0);
  ck_assert_int_eq(weft_rt_wait(rt), 0);
  ck_assert_int_eq(weft_rt_spawn(rt, NULL, recv_a_then_send_b, &p), 0);
  ck_assert_int_eq(weft_rt_spawn(rt, NULL, recv_b_then_send_a, &p), 0);
  capture_start();
  rc = weft_rt_wait(rt);
  err = capture_end();
  ck_assert_int_eq(rc, WEFT_EDEADLK);
  ck_assert_msg(strstr(err, "weft: deadlock"), "no deadlock message in: %s", err);
  ck_assert_msg(strstr(err, "2 tasks alive"), "dump header missing: %s", err);
  ck_assert_msg(strstr(err, "chan recv"), "dump does not say what they wait on: %s", err);
  free(err);
  /* The tasks are still there: freeing the runtime cancels them. */
  ck_assert_int_eq(weft_rt_free(rt), 0);
  ck_assert_int_eq(p.rc_a, WEFT_ECANCELED);
  ck_assert_int_eq(p.rc_b, WEFT_ECANCELED);
  (void)run_one;
  (void)free_channels;
  /* The channels belong to no task any more; free them from a new runtime. */
  rt = new_rt(1);
  ck_assert_int_eq(weft_rt_spawn(rt, NULL, free_channels, &p), 0);
  ck_assert_int_eq(weft_rt_wait(rt), 0);
  ck_assert_int_eq(weft_rt_free(rt), 0);
}
END_TEST

static void *forever_recv(void *arg) {
  int v;
  return (void *)(intptr_t)weft_chan_recv(arg, &v, -1);
}

static weft_chan *stuck_chan;

static int main_joins_a_stuck_task(void *arg) {
  weft_task *t;
  void *res = NULL;
  (void)arg;
  ck_assert_int_eq(weft_chan_new(&stuck_chan, sizeof(int), 1), 0);
  ck_assert_int_eq(weft_spawn(&t, forever_recv, stuck_chan), 0);
  if (weft_join(t, &res) == WEFT_ECANCELED) /* shutdown after the deadlock */
    weft_detach(t); /* it is cancelled too; the runtime frees it */
  return 7;
}

START_TEST(test_weft_main_returns_edeadlk_and_cleans_up) {
  char *err;
  int rc;
  capture_start();
  rc = run_in_task(2, main_joins_a_stuck_task, NULL);
  err = capture_end();
  ck_assert_int_eq(rc, WEFT_EDEADLK);
  ck_assert_int_eq(weft_chan_free(stuck_chan), 0); /* every task is gone now */
  ck_assert_msg(strstr(err, "'main'") && strstr(err, "join of task"),
                "the dump should show main joining: %s", err);
  free(err);
}
END_TEST

/* Not deadlocks: a task that sleeps will wake the one waiting on it, and a
 * task waiting on I/O may be woken from outside. */
static void *sleep_then_send(void *arg) {
  int v = 5;
  weft_sleep(300);
  weft_chan_send(arg, &v, -1);
  return NULL;
}

static int waits_on_sleeper(void *arg) {
  weft_chan *c;
  weft_task *t;
  int v = 0;
  (void)arg;
  ck_assert_int_eq(weft_chan_new(&c, sizeof(int), 0), 0);
  ck_assert_int_eq(weft_spawn(&t, sleep_then_send, c), 0);
  ck_assert_int_eq(weft_chan_recv(c, &v, -1), 0);
  ck_assert_int_eq(weft_join(t, NULL), 0);
  weft_chan_free(c);
  return v;
}

START_TEST(test_no_deadlock_while_a_timer_can_wake_a_task) {
  ck_assert_int_eq(run_in_task(2, waits_on_sleeper, NULL), 5);
}
END_TEST

static int sv[2];

static void *late_writer(void *arg) {
  (void)arg;
  usleep(400 * 1000);
  ck_assert_int_eq(write(sv[1], "x", 1), 1);
  return NULL;
}

static int waits_on_fd(void *arg) {
  (void)arg;
  return weft_fd_wait(sv[0], WEFT_READABLE, -1);
}

START_TEST(test_no_deadlock_while_io_can_wake_a_task) {
  pthread_t th;
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  ck_assert_int_eq(pthread_create(&th, NULL, late_writer, NULL), 0);
  ck_assert_int_eq(run_in_task(1, waits_on_fd, NULL), WEFT_READABLE);
  pthread_join(th, NULL);
  close(sv[0]);
  close(sv[1]);
}
END_TEST

/* The same with a weft socket's untimed waits (netpoll.c): a task parked
 * in weft_tcp_accept, then in weft_recv, with no deadline, while a thread
 * outside the runtime connects and writes late. */
static char late_port[16];

static void *late_client(void *arg) {
  struct sockaddr_in sa = {.sin_family = AF_INET};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  (void)arg;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons((uint16_t)atoi(late_port));
  usleep(400 * 1000);
  ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  usleep(400 * 1000);
  ck_assert_int_eq(write(fd, "x", 1), 1);
  usleep(100 * 1000);
  close(fd);
  return NULL;
}

static int waits_on_sock(void *arg) {
  weft_sock *l, *s;
  pthread_t th;
  char c;
  ssize_t n;
  (void)arg;
  ck_assert_int_eq(weft_tcp_listen(&l, "127.0.0.1", "0", 8), 0);
  snprintf(late_port, sizeof late_port, "%d", weft_sock_port(l));
  ck_assert_int_eq(pthread_create(&th, NULL, late_client, NULL), 0);
  ck_assert_int_eq(weft_tcp_accept(l, &s, -1), 0);
  n = weft_recv(s, &c, 1, -1);
  pthread_join(th, NULL);
  ck_assert_int_eq(weft_sock_close(s), 0);
  ck_assert_int_eq(weft_sock_close(l), 0);
  return (int)n;
}

START_TEST(test_no_deadlock_while_a_socket_can_wake_a_task) {
  ck_assert_int_eq(run_in_task(1, waits_on_sock, NULL), 1);
}
END_TEST

START_TEST(test_deadlock_check_can_be_turned_off) {
  weft_rt *rt;
  struct pair p = {0};
  ck_assert_int_eq(setenv("WEFT_DEADLOCK_CHECK", "0", 1), 0);
  rt = new_rt(1);
  ck_assert_int_eq(weft_rt_spawn(rt, NULL, make_channels, &p), 0);
  ck_assert_int_eq(weft_rt_wait(rt), 0);
  ck_assert_int_eq(weft_rt_spawn(rt, NULL, recv_a_then_send_b, &p), 0);
  ck_assert_int_eq(weft_rt_spawn(rt, NULL, recv_b_then_send_a, &p), 0);
  /* weft_rt_wait would now block forever; the tasks are asleep, though,
   * and no deadlock is reported during a second of looking. */
  usleep(1000 * 1000);
  {
    weft_stats st;
    weft_rt_stats(rt, &st, NULL, 0);
    ck_assert_uint_eq(st.tasks_alive, 2);
  }
  ck_assert_int_eq(weft_rt_free(rt), 0);
  ck_assert_int_eq(p.rc_a, WEFT_ECANCELED);
  rt = new_rt(1);
  ck_assert_int_eq(weft_rt_spawn(rt, NULL, free_channels, &p), 0);
  ck_assert_int_eq(weft_rt_wait(rt), 0);
  ck_assert_int_eq(weft_rt_free(rt), 0);
}
END_TEST

/* ---- the dump ---- */

struct scene {
  weft_chan *c;
  weft_mutex *m;
  weft_task *sleeper, *joined;
  int fds[2];
  atomic_int parked;
};

static void *scene_chan(void *arg) {
  struct scene *s = arg;
  int v;
  atomic_fetch_add(&s->parked, 1);
  weft_chan_recv(s->c, &v, -1);
  return NULL;
}

static void *scene_sleep(void *arg) {
  struct scene *s = arg;
  atomic_fetch_add(&s->parked, 1);
  weft_sleep(60 * 1000);
  return NULL;
}

static void *scene_fd(void *arg) {
  struct scene *s = arg;
  atomic_fetch_add(&s->parked, 1);
  weft_fd_wait(s->fds[0], WEFT_READABLE, weft_now() + 60 * 1000);
  return NULL;
}

static void *scene_mutex(void *arg) {
  struct scene *s = arg;
  atomic_fetch_add(&s->parked, 1);
  if (weft_mutex_lock(s->m, -1) == 0)
    weft_mutex_unlock(s->m);
  return NULL;
}

static void *scene_join(void *arg) {
  struct scene *s = arg;
  atomic_fetch_add(&s->parked, 1);
  weft_join(s->sleeper, NULL);
  return NULL;
}

static void *scene_holder(void *arg) {
  struct scene *s = arg;
  if (weft_mutex_lock(s->m, -1) == 0) {
    atomic_fetch_add(&s->parked, 1);
    weft_sleep(60 * 1000);
    weft_mutex_unlock(s->m);
  }
  return NULL;
}

static void *scene_setup(void *arg) {
  struct scene *s = arg;
  weft_spawn_attr a;
  ck_assert_int_eq(weft_chan_new(&s->c, sizeof(int), 0), 0);
  ck_assert_int_eq(weft_mutex_new(&s->m), 0);
  weft_spawn_attr_init(&a);
  a.detached = 1;
  a.name = "holder";
  weft_spawn_ex(NULL, &a, scene_holder, s);
  while (atomic_load(&s->parked) < 1)
    weft_yield();
  a.name = "on-chan";
  weft_spawn_ex(NULL, &a, scene_chan, s);
  a.name = "on-fd";
  weft_spawn_ex(NULL, &a, scene_fd, s);
  a.name = "on-mutex";
  weft_spawn_ex(NULL, &a, scene_mutex, s);
  a.detached = 0;
  a.name = "sleeper";
  weft_spawn_ex(&s->sleeper, &a, scene_sleep, s);
  a.name = "joiner";
  weft_spawn_ex(&s->joined, &a, scene_join, s);
  return NULL;
}

START_TEST(test_dump_names_what_each_task_waits_on) {
  weft_rt *rt = new_rt(2);
  struct scene s = {0};
  struct pair p = {0};
  char *buf, want_join[64];

  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s.fds), 0);
  ck_assert_int_eq(weft_rt_spawn(rt, NULL, scene_setup, &s), 0);
  while (atomic_load(&s.parked) < 6)
    usleep(1000);
  snprintf(want_join, sizeof want_join, "join of task %llu",
           (unsigned long long)weft_task_id(s.sleeper));
  /* Each task announced itself just before its wait: the dump shows them
   * all once they are parked. */
  buf = dump_until(rt,
                   (const char *const[]){"'on-chan' waiting for", "'sleeper' waiting for",
                                         "'on-fd' waiting for", "'on-mutex' waiting for",
                                         "'joiner' waiting for", want_join},
                   6);
  ck_assert_msg(strstr(buf, "'on-chan' waiting for") && strstr(buf, "chan recv"), "%s", buf);
  ck_assert_msg(strstr(buf, "'sleeper' waiting for") && strstr(buf, "sleep, deadline in"), "%s",
                buf);
  ck_assert_msg(strstr(buf, "'on-fd' waiting for") && strstr(buf, "readable, deadline in"), "%s",
                buf);
  ck_assert_msg(strstr(buf, "'on-mutex' waiting for") && strstr(buf, "mutex lock"), "%s", buf);
  ck_assert_msg(strstr(buf, "'joiner' waiting for") && strstr(buf, want_join), "%s", buf);
  ck_assert_int_eq(weft_rt_dump(NULL, stderr), WEFT_EINVAL);
  ck_assert_int_eq(weft_rt_dump(rt, NULL), WEFT_EINVAL);
  free(buf);
  ck_assert_int_eq(weft_rt_free(rt), 0);
  close(s.fds[0]);
  close(s.fds[1]);
  /* The mutex and channel outlive the runtime's tasks; their memory is the
   * program's: free them with a fresh runtime. */
  rt = new_rt(1);
  p.a = s.c;
  ck_assert_int_eq(weft_rt_spawn(rt, NULL, free_channels, &p), 0);
  ck_assert_int_eq(weft_rt_wait(rt), 0);
  ck_assert_int_eq(weft_rt_free(rt), 0);
  weft_mutex_free(s.m);
}
END_TEST

static void *sleep_long(void *arg) {
  (void)arg;
  weft_sleep(60 * 1000);
  return NULL;
}

START_TEST(test_dump_signal_prints_tasks_when_asked) {
  weft_rt *rt;
  weft_spawn_attr a;
  char *err;
  struct sigaction old;

  ck_assert_int_eq(setenv("WEFT_DUMP_SIGNAL", "SIGUSR1", 1), 0);
  rt = new_rt(1);
  weft_spawn_attr_init(&a);
  a.detached = 1;
  a.name = "napper";
  ck_assert_int_eq(weft_rt_spawn_ex(rt, NULL, &a, sleep_long, NULL), 0);
  free(dump_until(rt, (const char *const[]){"'napper' waiting for"}, 1)); /* it is asleep */
  capture_start();
  ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
  for (int64_t end = weft_now() + 10000; !captured_has("'napper' waiting for") && weft_now() < end;)
    usleep(10 * 1000);
  err = capture_end();
  ck_assert_msg(strstr(err, "'napper' waiting for") && strstr(err, "sleep"), "got: %s", err);
  free(err);
  ck_assert_int_eq(weft_rt_free(rt), 0);
  /* Opt-in only: without the variable no handler is installed. */
  ck_assert_int_eq(unsetenv("WEFT_DUMP_SIGNAL"), 0);
  rt = new_rt(1);
  ck_assert_int_eq(sigaction(SIGUSR2, NULL, &old), 0);
  ck_assert_ptr_eq((void *)old.sa_handler, (void *)SIG_DFL);
  ck_assert_int_eq(weft_rt_free(rt), 0);
}
END_TEST

/* ---- counters and trimming ---- */

static void *accept_one(void *arg) {
  weft_sock *l = arg, *c = NULL;
  int rc = weft_tcp_accept(l, &c, -1);
  if (rc == 0)
    weft_sock_close(c);
  return (void *)(intptr_t)rc;
}

static int io_handles_follow_sockets(void *arg) {
  weft_rt *rt = arg;
  weft_sock *l, *c;
  weft_task *t;
  weft_stats st;
  void *res;
  char port[16];

  (void)rt;
  ck_assert_int_eq(weft_tcp_listen(&l, "127.0.0.1", "0", 0), 0);
  ck_assert_int_eq(weft_spawn(&t, accept_one, l), 0);
  /* The accept parks, and the I/O thread opens a watch for it. */
  for (int64_t end = weft_now() + 30000;; weft_sleep(1)) {
    weft_rt_stats(*(weft_rt **)arg, &st, NULL, 0);
    if (st.io_handles >= 1 || weft_now() >= end)
      break;
  }
  ck_assert_uint_ge(st.io_handles, 1);
  snprintf(port, sizeof port, "%d", weft_sock_port(l));
  ck_assert_int_eq(weft_tcp_connect(&c, "127.0.0.1", port, -1), 0);
  ck_assert_int_eq(weft_join(t, &res), 0);
  ck_assert_int_eq((int)(intptr_t)res, 0);
  weft_sock_close(c);
  weft_sock_close(l);
  weft_rt_stats(*(weft_rt **)arg, &st, NULL, 0);
  ck_assert_uint_eq(st.io_handles, 0);
  return 0;
}

static void *call_body(void *arg) {
  return (void *)(intptr_t)io_handles_follow_sockets(arg);
}

START_TEST(test_stats_count_io_handles_until_sockets_close) {
  weft_rt *rt = new_rt(2);
  weft_stats st;
  ck_assert_int_eq(weft_rt_spawn(rt, NULL, call_body, &rt), 0);
  ck_assert_int_eq(weft_rt_wait(rt), 0);
  ck_assert_int_eq(weft_rt_stats(rt, &st, NULL, 0), 2);
  ck_assert_uint_eq(st.io_handles, 0);
  ck_assert_int_eq(weft_rt_free(rt), 0);
}
END_TEST

/* Parks until the test has spawned every nap, so all are alive at once
 * however slowly the spawning goes. */
static void *nap(void *arg) {
  weft_wg_wait(arg, -1);
  return NULL;
}

START_TEST(test_idle_workers_give_stacks_back) {
  weft_rt *rt = new_rt(2);
  long n = scaled(20000);
  weft_stats st;
  weft_wg *all_spawned;

  ck_assert_int_eq(weft_wg_new(&all_spawned), 0);
  ck_assert_int_eq(weft_wg_add(all_spawned, 1), 0);
  for (long i = 0; i < n; i++)
    ck_assert_int_eq(weft_rt_spawn(rt, NULL, nap, all_spawned), 0);
  ck_assert_int_eq(weft_wg_done(all_spawned), 0);
  ck_assert_int_eq(weft_rt_wait(rt), 0);
  ck_assert_int_eq(weft_wg_free(all_spawned), 0);
  weft_rt_stats(rt, &st, NULL, 0);
  ck_assert_uint_ge(st.stacks_mapped, (uint64_t)n / 2); /* they were all alive at once */
  /* Idle for longer than the trim delay: the stacks' chunks are unmapped.
   * The deadline only bounds a hang. */
  for (int64_t end = weft_now() + 30000; weft_now() < end;) {
    usleep(10 * 1000);
    weft_rt_stats(rt, &st, NULL, 0);
    if (st.stacks_mapped == 0)
      break;
  }
  ck_assert_uint_eq(st.stacks_mapped, 0);
  ck_assert_uint_eq(st.tasks_alive, 0);
  ck_assert_int_eq(weft_rt_free(rt), 0);
}
END_TEST

static Suite *monitor_suite(void) {
  Suite *s = suite_create("monitor");
  TCase *tc = tcase_create("deadlock");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_rt_wait_reports_two_tasks_waiting_on_each_other);
  tcase_add_test(tc, test_weft_main_returns_edeadlk_and_cleans_up);
  tcase_add_test(tc, test_no_deadlock_while_a_timer_can_wake_a_task);
  tcase_add_test(tc, test_no_deadlock_while_io_can_wake_a_task);
  tcase_add_test(tc, test_no_deadlock_while_a_socket_can_wake_a_task);
  tcase_add_test(tc, test_deadlock_check_can_be_turned_off);
  suite_add_tcase(s, tc);
  tc = tcase_create("dump");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_dump_names_what_each_task_waits_on);
  tcase_add_test(tc, test_dump_signal_prints_tasks_when_asked);
  suite_add_tcase(s, tc);
  tc = tcase_create("resources");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_stats_count_io_handles_until_sockets_close);
  tcase_add_test(tc, test_idle_workers_give_stacks_back);
  suite_add_tcase(s, tc);
  return s;
}

WEFT_TEST_MAIN(monitor_suite)
