/*
 * check_fault.c - faults the runtime survives: running out of descriptors
 * and of address space, a task that blocks its worker thread (and the
 * warning that names it), storms of cancellations, shutdown with a hundred
 * thousand parked tasks, peers that misbehave, and stack overflow on
 * stacks that have no guard page.
 *
 * Check runs each test in a child process of its own (CK_FORK, the
 * default), so what a test does to the process stays there; still, tests
 * that lower a resource limit or redirect stderr undo it before they
 * assert anything, and the ones that must crash fork a child themselves.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SECONDS(n) (weft_now() + (int64_t)(n)*1000)

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1 /* their shadow memory needs terabytes of address space */
#endif

static void *identity(void *arg) {
  return arg;
}

/* Block the calling thread (not just the task) for ms milliseconds. */
static void block_thread_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* Inside a task: wait, parked, until *v >= want or ms pass. */
static bool await_at_least(atomic_long *v, long want, int64_t ms) {
  int64_t end = weft_now() + ms;
  while (atomic_load(v) < want) {
    if (weft_now() >= end || weft_sleep(5) != 0)
      return atomic_load(v) >= want;
  }
  return true;
}

/* From a plain thread: the runtime is idle and has given every task,
 * stack and I/O handle back. Idle workers return their cached stacks to
 * the pool after about a second, so this polls for up to ms. */
static bool settles(weft_rt *rt, int64_t ms, weft_stats *last) {
  int64_t end = weft_now() + ms;
  for (;;) {
    ck_assert_int_ge(weft_rt_stats(rt, last, NULL, 0), 1);
    bool idle = last->tasks_alive == 0 && last->stacks_mapped == last->stacks_cached;
#ifdef WEFT_STATS_HAS_IO_HANDLES
    idle = idle && last->io_handles == 0;
#endif
    if (idle)
      return true;
    if (weft_now() >= end)
      return false;
    block_thread_ms(20);
  }
}

static void expect_settles(weft_rt *rt) {
  weft_stats st;
  bool ok = settles(rt, 15000, &st);
#ifdef WEFT_STATS_HAS_IO_HANDLES
  uint64_t handles = st.io_handles;
#else
  uint64_t handles = 0;
#endif
  ck_assert_msg(ok,
                "runtime did not settle: tasks_alive %" PRIu64 ", stacks in use %" PRIu64
                " (mapped %" PRIu64 ", cached %" PRIu64 "), io handles %" PRIu64,
                st.tasks_alive, st.stacks_mapped - st.stacks_cached, st.stacks_mapped,
                st.stacks_cached, handles);
}

static weft_rt *new_rt(unsigned workers) {
  weft_config cfg;
  weft_rt *rt;
  weft_config_init(&cfg);
  cfg.workers = workers;
  ck_assert_int_eq(weft_rt_new(&rt, &cfg), 0);
  return rt;
}

/* ---- an echo server as tasks ---- */

struct echo_server {
  weft_sock *listener;
  char port[16];
  weft_task *acceptor;
  atomic_long accepted;
  atomic_long emfile; /* accepts that failed for want of a descriptor */
};

static void *echo_conn(void *arg) {
  weft_sock *c = arg;
  char buf[4096];
  ssize_t n;
  while ((n = weft_recv(c, buf, sizeof buf, -1)) > 0)
    if (weft_send(c, buf, (size_t)n, -1) != 0)
      break;
  weft_sock_close(c);
  return NULL;
}

/* A server's accept loop: out of descriptors, it backs off and retries,
 * as a server should; anything else ends it. */
static void *accept_loop(void *arg) {
  struct echo_server *sv = arg;
  for (;;) {
    weft_sock *c;
    int rc = weft_tcp_accept(sv->listener, &c, -1);
    if (rc == WEFT_EMFILE || rc == -ENFILE) {
      atomic_fetch_add(&sv->emfile, 1);
      if (weft_sleep(5) != 0)
        break;
      continue;
    }
    if (rc != 0)
      break;
    atomic_fetch_add(&sv->accepted, 1);
    if (weft_spawn(NULL, echo_conn, c) != 0)
      weft_sock_close(c);
  }
  return NULL;
}

static void echo_start(struct echo_server *sv) {
  memset(sv, 0, sizeof *sv);
  ck_assert_int_eq(weft_tcp_listen(&sv->listener, "127.0.0.1", "0", 64), 0);
  snprintf(sv->port, sizeof sv->port, "%d", weft_sock_port(sv->listener));
  ck_assert_int_eq(weft_spawn(&sv->acceptor, accept_loop, sv), 0);
}

static void echo_stop(struct echo_server *sv) {
  ck_assert_int_eq(weft_cancel(sv->acceptor), 0);
  ck_assert_int_eq(weft_join(sv->acceptor, NULL), 0);
  ck_assert_int_eq(weft_sock_close(sv->listener), 0);
}

/* Send msg on s and read it back: 0, or what went wrong. */
static int echo_round(weft_sock *s, const char *msg) {
  size_t len = strlen(msg), got = 0;
  char buf[256];
  ssize_t n;
  int rc = weft_send(s, msg, len, SECONDS(10));
  if (rc)
    return rc;
  while (got < len) {
    n = weft_recv(s, buf + got, len - got, SECONDS(10));
    if (n <= 0)
      return n == 0 ? WEFT_EPIPE : (int)n;
    got += (size_t)n;
  }
  return memcmp(buf, msg, len) == 0 ? 0 : WEFT_EINVAL;
}

/* ---- out of file descriptors ---- */

#define MAX_DUMMIES 4096

static int nofile_body(void *arg) {
  struct echo_server sv;
  weft_sock *c[4], *late;
  static int dummy[MAX_DUMMIES];
  int ndummy = 0, devnull, raw, err, rc;
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  char back[8];
  (void)arg;

  echo_start(&sv);
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(weft_tcp_connect(&c[i], "127.0.0.1", sv.port, SECONDS(10)), 0);
    ck_assert_int_eq(echo_round(c[i], "before"), 0);
  }
  /* A client socket made now and connected later needs no new descriptor
   * then: its connection reaches the listener when the process has none. */
  raw = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(raw, 0);
  devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ck_assert_int_ge(devnull, 0);
  while (ndummy < MAX_DUMMIES && (dummy[ndummy] = dup(devnull)) >= 0)
    ndummy++;
  err = errno;
  ck_assert_int_lt(ndummy, MAX_DUMMIES);
  ck_assert_int_eq(err, EMFILE);

  /* A new connect cannot even get a socket. */
  ck_assert_int_eq(weft_tcp_connect(&late, "127.0.0.1", sv.port, SECONDS(10)), WEFT_EMFILE);
  /* One that arrives cannot be accepted: the acceptor sees WEFT_EMFILE. */
  sin.sin_port = htons((uint16_t)atoi(sv.port));
  rc = connect(raw, (struct sockaddr *)&sin, sizeof sin);
  ck_assert(rc == 0 || errno == EINPROGRESS);
  ck_assert_msg(await_at_least(&sv.emfile, 1, 10000), "accept never reported WEFT_EMFILE");
  /* The connections already open keep echoing meanwhile. */
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(echo_round(c[i], "during"), 0);
  ck_assert_int_eq(atomic_load(&sv.accepted), 4);

  /* Descriptors free again: the waiting connection is accepted and served. */
  while (ndummy > 0)
    close(dummy[--ndummy]);
  ck_assert_msg(await_at_least(&sv.accepted, 5, 10000), "the pending connection was not accepted");
  ck_assert_int_eq(weft_fd_wait(raw, WEFT_WRITABLE, SECONDS(10)) & WEFT_WRITABLE, WEFT_WRITABLE);
  ck_assert_int_eq(send(raw, "raw!", 4, MSG_NOSIGNAL), 4);
  ck_assert_int_eq(weft_fd_wait(raw, WEFT_READABLE, SECONDS(10)) & WEFT_READABLE, WEFT_READABLE);
  ck_assert_int_eq(recv(raw, back, sizeof back, 0), 4);
  ck_assert_int_eq(memcmp(back, "raw!", 4), 0);
  close(raw);
  /* And a brand-new client is served too. */
  ck_assert_int_eq(weft_tcp_connect(&late, "127.0.0.1", sv.port, SECONDS(10)), 0);
  ck_assert_int_eq(echo_round(late, "after"), 0);
  ck_assert_int_eq(atomic_load(&sv.accepted), 6);
  ck_assert_int_eq(weft_sock_close(late), 0);
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(echo_round(c[i], "still"), 0);
    ck_assert_int_eq(weft_sock_close(c[i]), 0);
  }
  echo_stop(&sv);
  close(devnull);
  return 0;
}

START_TEST(test_fault_out_of_fds_echo_server_survives) {
  struct rlimit old, low;
  int rc;
  if (WEFT_ON_VALGRIND())
    return; /* Valgrind's own descriptors sit above any limit we could set */
  ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
  low = old;
  low.rlim_cur = old.rlim_max < 256 ? old.rlim_max : 256;
  ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
  rc = run_in_task(2, nofile_body, NULL);
  ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
  ck_assert_int_eq(rc, 0);
}
END_TEST

/* ---- out of address space ---- */

#ifndef SANITIZED
static size_t vm_size(void) {
  FILE *f = fopen("/proc/self/statm", "re");
  unsigned long pages = 0;
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fscanf(f, "%lu", &pages), 1);
  fclose(f);
  return pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* Lower the soft address-space limit to what is mapped now plus extra.
 * Only the soft limit: it can be raised back. */
static void limit_as(struct rlimit *old, size_t extra) {
  struct rlimit lim;
  ck_assert_int_eq(getrlimit(RLIMIT_AS, old), 0);
  lim = *old;
  lim.rlim_cur = vm_size() + extra;
  if (old->rlim_max != RLIM_INFINITY && lim.rlim_cur > old->rlim_max)
    lim.rlim_cur = old->rlim_max;
  ck_assert_int_eq(setrlimit(RLIMIT_AS, &lim), 0);
}

struct as_probe {
  int chan_rc, big_stack_rc, spawn_rc, gen_rc, after_rc;
  long spawned, woke, after_value;
};

static void *gen_noop(void *arg) {
  return arg;
}

static void *wait_on_gate(void *arg) {
  char x;
  return (void *)(intptr_t)weft_chan_recv(arg, &x, -1);
}

#define AS_MAX_TASKS 65536

/* Runs as a task. Every result is recorded and checked by the caller,
 * after the limit is raised again (a failing check needs memory too). */
static void *as_body(void *arg) {
  struct as_probe *p = arg;
  static weft_task *held[AS_MAX_TASKS];
  weft_spawn_attr attr;
  weft_chan *gate, *huge = NULL;
  weft_task *t;
  weft_gen *g = NULL;
  struct rlimit old;
  void *r;
  long n = 0;
  int rc = 0;

  if (weft_chan_new(&gate, 1, 0) != 0)
    return NULL;
  limit_as(&old, (size_t)256 << 20);
  /* A channel whose buffer needs 1 GiB. */
  p->chan_rc = weft_chan_new(&huge, 1, (size_t)1 << 30);
  /* A 512 MiB stack (within WEFT_STACK_MAX). */
  weft_spawn_attr_init(&attr);
  attr.stack_size = (size_t)512 << 20;
  p->big_stack_rc = weft_spawn_ex(&t, &attr, identity, NULL);
  if (p->big_stack_rc == 0)
    weft_join(t, NULL);
  /* Default stacks until they run out; the tasks stay parked. */
  while (n < AS_MAX_TASKS && (rc = weft_spawn(&held[n], wait_on_gate, gate)) == 0)
    n++;
  p->spawn_rc = rc;
  p->spawned = n;
  p->gen_rc = weft_gen_new(&g, gen_noop, NULL);
  if (g)
    weft_gen_free(g);
  /* Still under the limit: the parked tasks finish, and their stacks serve
   * a new task. */
  weft_chan_close(gate);
  for (long i = 0; i < n; i++)
    if (weft_join(held[i], &r) == 0 && (int)(intptr_t)r == WEFT_EPIPE)
      p->woke++;
  p->after_rc = weft_spawn(&t, identity, (void *)(intptr_t)42);
  if (p->after_rc == 0 && (p->after_rc = weft_join(t, &r)) == 0)
    p->after_value = (long)(intptr_t)r;
  setrlimit(RLIMIT_AS, &old);
  weft_chan_free(huge);
  weft_chan_free(gate);
  return NULL;
}
#endif

START_TEST(test_fault_out_of_address_space_enomem_then_recovers) {
#ifdef SANITIZED
  return; /* the sanitizer runtimes cannot live under RLIMIT_AS */
#else
  struct as_probe p = {0};
  weft_rt *rt = new_rt(2);
  weft_task *t;
  ck_assert_int_eq(weft_rt_spawn(rt, &t, as_body, &p), 0);
  ck_assert_int_eq(weft_detach(t), 0);
  ck_assert_int_eq(weft_rt_wait(rt), 0);
  printf("out of address space: %ld tasks parked in 256 MiB to spare, then WEFT_ENOMEM\n",
         p.spawned);
  fflush(stdout);
  ck_assert_int_eq(p.chan_rc, WEFT_ENOMEM);
  ck_assert_int_eq(p.big_stack_rc, WEFT_ENOMEM);
  ck_assert_int_eq(p.spawn_rc, WEFT_ENOMEM);
  ck_assert_int_gt(p.spawned, 0);
  ck_assert_int_lt(p.spawned, AS_MAX_TASKS);
  ck_assert_int_eq(p.gen_rc, WEFT_ENOMEM);
  ck_assert_int_eq(p.woke, p.spawned);
  ck_assert_int_eq(p.after_rc, 0);
  ck_assert_int_eq(p.after_value, 42);
  expect_settles(rt);
  ck_assert_int_eq(weft_rt_free(rt), 0);
#endif
}
END_TEST

START_TEST(test_fault_rt_new_without_address_space_fails_cleanly) {
#ifdef SANITIZED
  return;
#else
  weft_config cfg;
  weft_rt *rt = NULL;
  struct rlimit old;
  int rc;
  weft_config_init(&cfg);
  cfg.workers = 4;
  /* Less than one thread stack to spare: a thread cannot start. */
  limit_as(&old, (size_t)1 << 20);
  rc = weft_rt_new(&rt, &cfg);
  ck_assert_int_eq(setrlimit(RLIMIT_AS, &old), 0);
  printf("weft_rt_new without room for a thread: %d (%s)\n", rc, weft_strerror(rc));
  fflush(stdout);
  ck_assert_msg(rc == WEFT_ENOMEM || rc == -EAGAIN, "weft_rt_new returned %d (%s)", rc,
                weft_strerror(rc));
  ck_assert_ptr_null(rt);
  /* With the limit raised, the next runtime starts and runs. */
  rt = new_rt(4);
  ck_assert_int_eq(weft_rt_spawn(rt, NULL, identity, NULL), 0);
  ck_assert_int_eq(weft_rt_wait(rt), 0);
  ck_assert_int_eq(weft_rt_free(rt), 0);
#endif
}
END_TEST

/* ---- a task that blocks its worker thread ---- */

#define QUEUED 8

struct blocked_worker {
  atomic_long counter;        /* the counter task's rounds */
  atomic_long counted_during; /* of those, rounds while the blocker blocked */
  atomic_bool blocking;       /* the blocker is inside its blocking call */
  atomic_bool blocker_done;   /* it has returned from it */
  atomic_bool stop;
  pthread_t blocker_thread;
  int64_t block_start, block_end;
  weft_task *queued[QUEUED];
  atomic_int queued_late; /* queued tasks that ran after the blocker returned */
  atomic_int queued_same; /* queued tasks that ran on the blocked thread */
  int64_t ran_at[QUEUED];
};

static struct blocked_worker bw;

static void *counter_task(void *arg) {
  (void)arg;
  while (!atomic_load(&bw.stop)) {
    atomic_fetch_add(&bw.counter, 1);
    if (atomic_load(&bw.blocking))
      atomic_fetch_add(&bw.counted_during, 1);
    if (weft_sleep(1) != 0)
      break;
  }
  return NULL;
}

static void *queued_task(void *arg) {
  int i = (int)(intptr_t)arg;
  bw.ran_at[i] = weft_now();
  if (atomic_load(&bw.blocker_done))
    atomic_fetch_add(&bw.queued_late, 1);
  if (pthread_equal(pthread_self(), bw.blocker_thread))
    atomic_fetch_add(&bw.queued_same, 1);
  return NULL;
}

static void *blocker_task(void *arg) {
  (void)arg;
  bw.blocker_thread = pthread_self();
  bw.block_start = weft_now();
  /* Right before blocking: these sit in this worker's deque. */
  for (int i = 0; i < QUEUED; i++)
    CHECK_HOT(weft_spawn(&bw.queued[i], queued_task, (void *)(intptr_t)i) == 0);
  atomic_store(&bw.blocking, true);
  block_thread_ms(2000);
  atomic_store(&bw.blocking, false);
  atomic_store(&bw.blocker_done, true);
  bw.block_end = weft_now();
  return NULL;
}

static int blocked_worker_body(void *arg) {
  weft_task *counter, *blocker;
  (void)arg;
  ck_assert_int_eq(weft_spawn(&counter, counter_task, NULL), 0);
  ck_assert(await_at_least(&bw.counter, 1, 10000));
  ck_assert_int_eq(weft_spawn(&blocker, blocker_task, NULL), 0);
  ck_assert_int_eq(weft_join(blocker, NULL), 0);
  for (int i = 0; i < QUEUED; i++)
    ck_assert_int_eq(weft_join(bw.queued[i], NULL), 0);
  atomic_store(&bw.stop, true);
  ck_assert_int_eq(weft_join(counter, NULL), 0);
  return 0;
}

START_TEST(test_fault_blocked_worker_others_run_and_its_queue_is_stolen) {
  setenv("WEFT_WARN_BLOCKING_MS", "0", 1); /* this test is not about the warning */
  ck_assert_int_eq(run_in_task(2, blocked_worker_body, NULL), 0);
  unsetenv("WEFT_WARN_BLOCKING_MS");
  printf("blocked worker: counter ran %ld rounds during a 2 s block; queued tasks ran at",
         atomic_load(&bw.counted_during));
  for (int i = 0; i < QUEUED; i++)
    printf(" +%" PRId64, bw.ran_at[i] - bw.block_start);
  printf(" ms (block ended at +%" PRId64 " ms)\n", bw.block_end - bw.block_start);
  fflush(stdout);
  ck_assert_msg(atomic_load(&bw.counted_during) >= 10,
                "the counter task ran %ld rounds while one worker was blocked",
                atomic_load(&bw.counted_during));
  ck_assert_msg(atomic_load(&bw.queued_late) == 0,
                "%d of %d tasks queued on the blocked worker waited for it",
                atomic_load(&bw.queued_late), QUEUED);
  ck_assert_int_eq(atomic_load(&bw.queued_same), 0);
  for (int i = 0; i < QUEUED; i++)
    ck_assert_int_lt(bw.ran_at[i], bw.block_end);
}
END_TEST

/* A task that yielded on the worker that then blocks is runnable too: it
 * must not wait for that worker either. */
struct yielded {
  atomic_bool spinner_started, setup_done, blocking, stop;
  atomic_long rounds, rounds_during;
  pthread_t spinner_thread, blocker_thread;
};

static struct yielded yq;

static void *spinner_task(void *arg) {
  int64_t end = weft_now() + 20000;
  (void)arg;
  yq.spinner_thread = pthread_self();
  atomic_store(&yq.spinner_started, true);
  /* Hold this worker, without yielding, until the blocker is set up. */
  while (!atomic_load(&yq.setup_done) && weft_now() < end)
    ;
  return NULL;
}

static void *yielder_task(void *arg) {
  (void)arg;
  while (!atomic_load(&yq.stop)) {
    atomic_fetch_add(&yq.rounds, 1);
    if (atomic_load(&yq.blocking))
      atomic_fetch_add(&yq.rounds_during, 1);
    weft_yield();
  }
  return NULL;
}

static void *yield_blocker_task(void *arg) {
  weft_task *y;
  (void)arg;
  yq.blocker_thread = pthread_self();
  CHECK_HOT(weft_spawn(&y, yielder_task, NULL) == 0);
  /* Take turns with the yielder until it has run: it is then in this
   * worker's queue of yielded tasks while this one runs. */
  while (atomic_load(&yq.rounds) < 3)
    weft_yield();
  atomic_store(&yq.blocking, true);
  atomic_store(&yq.setup_done, true); /* the other worker is free from now */
  block_thread_ms(2000);
  atomic_store(&yq.blocking, false);
  atomic_store(&yq.stop, true);
  CHECK_HOT(weft_join(y, NULL) == 0);
  return NULL;
}

static int yielded_body(void *arg) {
  weft_task *s, *b;
  (void)arg;
  ck_assert_int_eq(weft_spawn(&s, spinner_task, NULL), 0);
  while (!atomic_load(&yq.spinner_started))
    ck_assert_int_eq(weft_sleep(1), 0);
  ck_assert_int_eq(weft_spawn(&b, yield_blocker_task, NULL), 0);
  ck_assert_int_eq(weft_join(b, NULL), 0);
  ck_assert_int_eq(weft_join(s, NULL), 0);
  return 0;
}

START_TEST(test_fault_blocked_worker_its_yielded_task_still_runs) {
  setenv("WEFT_WARN_BLOCKING_MS", "0", 1);
  ck_assert_int_eq(run_in_task(2, yielded_body, NULL), 0);
  unsetenv("WEFT_WARN_BLOCKING_MS");
  /* The setup held: the spinner and the blocker had a worker each. */
  ck_assert(!pthread_equal(yq.spinner_thread, yq.blocker_thread));
  ck_assert_msg(atomic_load(&yq.rounds_during) > 0,
                "a task that had yielded on the blocked worker did not run for the 2 s it "
                "was blocked, though the other worker was idle");
}
END_TEST

/* ---- the warning about a task that blocks its worker ---- */

static void *hog_task(void *arg) {
  block_thread_ms((long)(intptr_t)arg);
  return NULL;
}

/* Block the worker until the runtime's warning is on stderr (a file, see
 * stderr_of_run), or 60 s pass: the monitor gets every chance to speak,
 * however late its ticks come on a loaded machine. It polls with
 * nanosleep, not weft_sleep, on purpose: it must hold its worker, as a
 * task stuck in a system call does. The poll only paces the loop; the
 * condition it waits for is the warning itself. */
static void *hog_until_warned(void *arg) {
  char buf[4096];
  struct timespec ms = {0, 1000000};
  (void)arg;
  for (int i = 0; i < 60000; i++) {
    ssize_t n = pread(STDERR_FILENO, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    if (strstr(buf, " without yielding"))
      break;
    nanosleep(&ms, NULL);
  }
  return NULL;
}

/* The longest the busy yielder went between two yields, in ms: a thread
 * kept off its CPU that long looks blocked to the monitor, rightly. */
static atomic_long yielder_max_gap;

static void *busy_yielder_task(void *arg) {
  int64_t end = weft_now() + (int64_t)(intptr_t)arg, last = weft_now(), now;
  atomic_store(&yielder_max_gap, 0);
  while ((now = weft_now()) < end) {
    if (now - last > atomic_load(&yielder_max_gap))
      atomic_store(&yielder_max_gap, now - last);
    weft_yield();
    last = weft_now();
  }
  return NULL;
}

/* Run fn(arg) as a task named "hog" in a runtime made with
 * WEFT_WARN_BLOCKING_MS=env (unset for NULL) and return what the runtime
 * wrote to stderr meanwhile (malloc'd). *id gets the task's id. */
static char *stderr_of_run(const char *env, void *(*fn)(void *), long ms, uint64_t *id) {
  char path[] = "/tmp/weft-fault-XXXXXX", *text;
  weft_spawn_attr attr;
  weft_task *t;
  weft_rt *rt;
  int fd, saved;
  off_t len;

  fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  unlink(path);
  fflush(stderr);
  saved = dup(STDERR_FILENO);
  ck_assert_int_ge(saved, 0);
  ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
  if (env)
    setenv("WEFT_WARN_BLOCKING_MS", env, 1);
  else
    unsetenv("WEFT_WARN_BLOCKING_MS");

  rt = new_rt(2);
  weft_spawn_attr_init(&attr);
  attr.name = "hog";
  ck_assert_int_eq(weft_rt_spawn_ex(rt, &t, &attr, fn, (void *)(intptr_t)ms), 0);
  *id = weft_task_id(t);
  ck_assert_int_eq(weft_rt_wait(rt), 0);
  ck_assert_int_eq(weft_detach(t), 0);
  ck_assert_int_eq(weft_rt_free(rt), 0);

  unsetenv("WEFT_WARN_BLOCKING_MS");
  fflush(stderr);
  ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
  close(saved);
  len = lseek(fd, 0, SEEK_END);
  ck_assert_int_ge(len, 0);
  text = calloc(1, (size_t)len + 1);
  ck_assert_ptr_nonnull(text);
  ck_assert_int_eq(pread(fd, text, (size_t)len, 0), len);
  close(fd);
  return text;
}

/* Every warning line in err names task id 'hog' with at least min_ms;
 * returns how many there are. */
static int count_warnings(const char *err, uint64_t id, long min_ms) {
  char want[96];
  int n = 0;
  snprintf(want, sizeof want, "weft: task %" PRIu64 " 'hog' has run for ", id);
  for (const char *p = err; (p = strstr(p, "weft: task ")) != NULL; p++) {
    const char *eol = strchr(p, '\n');
    long ms;
    if (!strstr(p, " without yielding") || (eol && strstr(p, " without yielding") > eol))
      continue; /* not a blocking warning */
    ck_assert_msg(strncmp(p, want, strlen(want)) == 0, "warning names another task: %.300s", p);
    ms = strtol(p + strlen(want), NULL, 10);
    ck_assert_msg(ms >= min_ms, "warning reports %ld ms: %.300s", ms, p);
    n++;
  }
  return n;
}

START_TEST(test_fault_warn_blocking_names_the_task) {
  uint64_t id;
  char *err = stderr_of_run("200", hog_until_warned, 0, &id);
  int n = count_warnings(err, id, 200);
  ck_assert_msg(n >= 1, "no warning for a task that blocked its worker for 60 s; stderr: %.600s",
                err);
  printf("warning seen: %.*s", (int)strcspn(strstr(err, "weft: task "), "\n") + 1,
         strstr(err, "weft: task "));
  fflush(stdout);
  free(err);
}
END_TEST

START_TEST(test_fault_warn_blocking_default_is_on) {
  uint64_t id;
  char *err = stderr_of_run(NULL, hog_until_warned, 0, &id);
  ck_assert_msg(count_warnings(err, id, 500) >= 1, "no warning by default; stderr: %.600s", err);
  free(err);
}
END_TEST

START_TEST(test_fault_warn_blocking_zero_is_off) {
  uint64_t id;
  char *err = stderr_of_run("0", hog_task, 1000, &id);
  ck_assert_msg(strstr(err, "without yielding") == NULL, "warned with the check off: %.600s", err);
  free(err);
}
END_TEST

START_TEST(test_fault_warn_blocking_silent_for_a_task_that_yields) {
  uint64_t id;
  /* A busy task that calls weft_yield all the time blocks nobody. */
  char *err = stderr_of_run("200", busy_yielder_task, 1000, &id);
  /* A warning is wrong unless the machine kept the yielder off its CPU
   * for the threshold less one 100 ms tick. */
  ck_assert_msg(count_warnings(err, id, 0) == 0 || atomic_load(&yielder_max_gap) >= 100,
                "a task that yields all the time (at most %ld ms between yields) was reported "
                "as not yielding: %.600s",
                atomic_load(&yielder_max_gap), err);
  free(err);
}
END_TEST

/* ---- cancel storm ---- */

#define STORM_SOCKS 64
#define CANCELLERS 4

enum { BLOCK_SLEEP, BLOCK_RECV, BLOCK_CHAN, BLOCK_JOIN, BLOCK_KINDS };
static const char *const kind_name[BLOCK_KINDS] = {"weft_sleep", "weft_recv", "weft_chan_recv",
                                                   "weft_join"};

struct storm {
  long n;
  weft_task **victims;
  weft_sock *client[STORM_SOCKS], *server[STORM_SOCKS];
  weft_chan *quiet;     /* nobody ever sends on it */
  atomic_long blocking; /* victims about to enter their blocking call */
  long canceled[BLOCK_KINDS], other[BLOCK_KINDS];
  int64_t cancel_start, cancel_end;
};

static struct storm storm;

static void *sleep_forever(void *arg) {
  (void)arg;
  return (void *)(intptr_t)weft_sleep(3600 * 1000);
}

static void *victim(void *arg) {
  long i = (long)(intptr_t)arg;
  char buf[8];
  weft_task *target;
  int rc;

  switch (i % BLOCK_KINDS) {
  case BLOCK_SLEEP:
    atomic_fetch_add(&storm.blocking, 1);
    rc = weft_sleep(3600 * 1000);
    break;
  case BLOCK_RECV: /* many readers share each socket */
    atomic_fetch_add(&storm.blocking, 1);
    rc = (int)weft_recv(storm.client[i % STORM_SOCKS], buf, sizeof buf, -1);
    break;
  case BLOCK_CHAN:
    atomic_fetch_add(&storm.blocking, 1);
    rc = weft_chan_recv(storm.quiet, buf, -1);
    break;
  default: /* a join claims its target: each joiner has its own */
    if ((rc = weft_spawn(&target, sleep_forever, NULL)) != 0)
      break;
    atomic_fetch_add(&storm.blocking, 1);
    rc = weft_join(target, NULL);
    if (rc != 0) { /* the target lives on: stop it, never blocking */
      weft_cancel(target);
      weft_detach(target);
    }
    break;
  }
  return (void *)(intptr_t)rc;
}

static void *canceller(void *arg) {
  long k = (long)(intptr_t)arg, per = storm.n / CANCELLERS;
  long from = k * per, to = k == CANCELLERS - 1 ? storm.n : from + per;
  for (long i = from; i < to; i++)
    CHECK_HOT(weft_cancel(storm.victims[i]) == 0);
  return NULL;
}

static void *storm_body(void *arg) {
  weft_sock *l;
  weft_task *cancellers[CANCELLERS];
  char port[16];
  void *r;
  (void)arg;

  CHECK_HOT(weft_tcp_listen(&l, "127.0.0.1", "0", 128) == 0);
  snprintf(port, sizeof port, "%d", weft_sock_port(l));
  for (int i = 0; i < STORM_SOCKS; i++) {
    CHECK_HOT(weft_tcp_connect(&storm.client[i], "127.0.0.1", port, SECONDS(10)) == 0);
    CHECK_HOT(weft_tcp_accept(l, &storm.server[i], SECONDS(10)) == 0);
  }
  CHECK_HOT(weft_chan_new(&storm.quiet, 1, 0) == 0);
  for (long i = 0; i < storm.n; i++)
    CHECK_HOT(weft_spawn(&storm.victims[i], victim, (void *)(intptr_t)i) == 0);
  CHECK_HOT(await_at_least(&storm.blocking, storm.n, 120000));
  CHECK_HOT(weft_sleep(200) == 0); /* the last ones are parked too */

  /* At once, from several tasks, each a quarter. */
  storm.cancel_start = weft_now();
  for (long k = 0; k < CANCELLERS; k++)
    CHECK_HOT(weft_spawn(&cancellers[k], canceller, (void *)(intptr_t)k) == 0);
  for (long i = 0; i < storm.n; i++) {
    CHECK_HOT(weft_join(storm.victims[i], &r) == 0);
    if ((int)(intptr_t)r == WEFT_ECANCELED)
      storm.canceled[i % BLOCK_KINDS]++;
    else
      storm.other[i % BLOCK_KINDS]++;
  }
  for (int k = 0; k < CANCELLERS; k++)
    CHECK_HOT(weft_join(cancellers[k], NULL) == 0);
  storm.cancel_end = weft_now();

  for (int i = 0; i < STORM_SOCKS; i++) {
    CHECK_HOT(weft_sock_close(storm.client[i]) == 0);
    CHECK_HOT(weft_sock_close(storm.server[i]) == 0);
  }
  CHECK_HOT(weft_sock_close(l) == 0);
  CHECK_HOT(weft_chan_free(storm.quiet) == 0);
  return NULL;
}

START_TEST(test_fault_cancel_storm_every_blocked_call_returns_ecanceled) {
  weft_rt *rt = new_rt(2);
  weft_spawn_attr attr;
  weft_task *t;
  int64_t t0;

  /* 100,000 victims (ThreadSanitizer: a twentieth), a quarter in each
   * kind of wait, plus a sleeping target per joiner. */
  storm.n = scaled(100000) / BLOCK_KINDS * BLOCK_KINDS;
  storm.victims = calloc((size_t)storm.n, sizeof *storm.victims);
  ck_assert_ptr_nonnull(storm.victims);
  t0 = weft_now();
  weft_spawn_attr_init(&attr);
  attr.name = "storm";
  ck_assert_int_eq(weft_rt_spawn_ex(rt, &t, &attr, storm_body, NULL), 0);
  ck_assert_int_eq(weft_rt_wait(rt), 0);
  ck_assert_int_eq(weft_detach(t), 0);
  printf("cancel storm of %ld blocked tasks: %" PRId64 " ms to set up, %" PRId64
         " ms to cancel and join them all\n",
         storm.n, storm.cancel_start - t0, storm.cancel_end - storm.cancel_start);
  fflush(stdout);
  for (int k = 0; k < BLOCK_KINDS; k++)
    ck_assert_msg(storm.canceled[k] == storm.n / BLOCK_KINDS,
                  "%s: %ld of %ld returned WEFT_ECANCELED, %ld something else", kind_name[k],
                  storm.canceled[k], storm.n / BLOCK_KINDS, storm.other[k]);
  expect_settles(rt);
  ck_assert_int_eq(weft_rt_free(rt), 0);
  free(storm.victims);
}
END_TEST

/* ---- shutdown with many blocked tasks ---- */

struct crowd {
  long n;
  weft_chan *quiet;
  atomic_long blocking;
  atomic_bool ready;
};

static struct crowd crowd;

static void *crowd_member(void *arg) {
  char x;
  atomic_fetch_add(&crowd.blocking, 1);
  if ((intptr_t)arg & 1)
    weft_chan_recv(crowd.quiet, &x, -1);
  else
    weft_sleep(3600 * 1000);
  return NULL;
}

static void *crowd_setup(void *arg) {
  (void)arg;
  for (long i = 0; i < crowd.n; i++)
    CHECK_HOT(weft_spawn(NULL, crowd_member, (void *)(intptr_t)i) == 0);
  if (await_at_least(&crowd.blocking, crowd.n, 120000))
    weft_sleep(200);
  atomic_store(&crowd.ready, true);
  return NULL;
}

START_TEST(test_fault_shutdown_with_100k_blocked_tasks_frees_all) {
  weft_rt *rt = new_rt(2);
  weft_spawn_attr attr;
  int64_t t0, ms;
  int rc;

  crowd.n = scaled(100000);
  ck_assert_int_eq(weft_chan_new(&crowd.quiet, 1, 0), 0);
  weft_spawn_attr_init(&attr);
  attr.name = "crowd";
  attr.detached = 1;
  ck_assert_int_eq(weft_rt_spawn_ex(rt, NULL, &attr, crowd_setup, NULL), 0);
  t0 = weft_now();
  while (!atomic_load(&crowd.ready) && weft_now() - t0 < 180000)
    block_thread_ms(10);
  ck_assert(atomic_load(&crowd.ready));
  ck_assert_int_eq(atomic_load(&crowd.blocking), crowd.n);
  t0 = weft_now();
  rc = weft_rt_free(rt);
  ms = weft_now() - t0;
  printf("shutdown of %ld blocked tasks: %" PRId64 " ms\n", crowd.n, ms);
  fflush(stdout);
  ck_assert_int_eq(rc, 0);
  ck_assert_int_lt(ms, 30000);
  ck_assert_int_eq(weft_chan_free(crowd.quiet), 0); /* nobody uses it any more */
}
END_TEST

/* ---- peers that misbehave ---- */

#define PEER_CLIENTS 2
#define BIG_REPLY ((size_t)32 << 20)

struct line_server {
  weft_sock *listener;
  char port[16];
  int64_t first_read_ms; /* the first client's time to send its request */
  atomic_long done;      /* connections handled */
  int outcome[PEER_CLIENTS];
  int64_t took[PEER_CLIENTS];
};

static struct line_server ls;

/* Read one '\n'-terminated request within read_ms and answer it: "BIG"
 * gets 32 MiB within 1 s, anything else is echoed. Returns 0 or the
 * first error (0 from recv, the peer closing, counts as WEFT_EPIPE). */
static int serve_one(weft_sock *c, int64_t read_ms) {
  char req[128];
  size_t got = 0;
  ssize_t n;
  int64_t deadline = weft_now() + read_ms;
  int rc;

  while (!memchr(req, '\n', got)) {
    if (got == sizeof req)
      return WEFT_EINVAL;
    n = weft_recv(c, req + got, sizeof req - got, deadline);
    if (n <= 0)
      return n == 0 ? WEFT_EPIPE : (int)n;
    got += (size_t)n;
  }
  if (got == 4 && memcmp(req, "BIG\n", 4) == 0) {
    /* A small fixed send buffer (and the peer's receive buffer, see
     * deaf_peer): 32 MiB cannot fit in them, whatever the system's
     * limits let buffers grow to. */
    int bufsize = 64 * 1024;
    char *big = malloc(BIG_REPLY);
    if (!big)
      return WEFT_ENOMEM;
    setsockopt(weft_sock_fd(c), SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
    memset(big, 'x', BIG_REPLY);
    rc = weft_send(c, big, BIG_REPLY, weft_now() + 1000);
    free(big);
    return rc;
  }
  return weft_send(c, req, got, SECONDS(10));
}

static void *line_server_task(void *arg) {
  (void)arg;
  for (int i = 0; i < PEER_CLIENTS; i++) {
    weft_sock *c;
    int64_t t0;
    if (weft_tcp_accept(ls.listener, &c, SECONDS(30)) != 0)
      break;
    t0 = weft_now();
    /* The misbehaving first client gets what its case says; the good
     * one, whose request is on its way, gets time to spare on a loaded
     * machine. */
    ls.outcome[i] = serve_one(c, i == 0 ? ls.first_read_ms : 10000);
    ls.took[i] = weft_now() - t0;
    weft_sock_close(c);
    atomic_fetch_add(&ls.done, 1);
  }
  return NULL;
}

struct peer_case {
  void (*misbehave)(weft_sock *s);
  /* The server's wait for its request: short for the case that tests the
   * timeout, long for the others, whose request or reset is on its way
   * and must not race the deadline on a loaded machine. */
  int64_t read_ms;
};

/* The first client misbehaves as the case says; a good one follows. */
static int peer_body(void *arg) {
  const struct peer_case *pc = arg;
  weft_task *server;
  weft_sock *s, *good;

  memset(&ls, 0, sizeof ls);
  ls.first_read_ms = pc->read_ms;
  ck_assert_int_eq(weft_tcp_listen(&ls.listener, "127.0.0.1", "0", 8), 0);
  snprintf(ls.port, sizeof ls.port, "%d", weft_sock_port(ls.listener));
  ck_assert_int_eq(weft_spawn(&server, line_server_task, NULL), 0);
  ck_assert_int_eq(weft_tcp_connect(&s, "127.0.0.1", ls.port, SECONDS(10)), 0);
  pc->misbehave(s);
  /* The server goes on to the next client. */
  ck_assert_int_eq(weft_tcp_connect(&good, "127.0.0.1", ls.port, SECONDS(10)), 0);
  ck_assert_int_eq(echo_round(good, "hello\n"), 0);
  ck_assert_int_eq(weft_sock_close(good), 0);
  ck_assert_int_eq(weft_join(server, NULL), 0);
  ck_assert_int_eq(atomic_load(&ls.done), PEER_CLIENTS);
  ck_assert_int_eq(ls.outcome[1], 0);
  ck_assert_int_eq(weft_sock_close(ls.listener), 0);
  return 0;
}

static void silent_peer(weft_sock *s) {
  /* Connected, says nothing, stays until the server has given up. */
  ck_assert(await_at_least(&ls.done, 1, 30000));
  ck_assert_int_eq(weft_sock_close(s), 0);
}

static void resetting_peer(weft_sock *s) {
  struct linger lin = {1, 0};
  ck_assert_int_eq(weft_send(s, "GET /ha", 7, SECONDS(10)), 0); /* half a request */
  ck_assert_int_eq(weft_sleep(50), 0);
  ck_assert_int_eq(setsockopt(weft_sock_fd(s), SOL_SOCKET, SO_LINGER, &lin, sizeof lin), 0);
  ck_assert_int_eq(weft_sock_close(s), 0); /* RST */
  ck_assert(await_at_least(&ls.done, 1, 30000));
}

static void deaf_peer(weft_sock *s) {
  int bufsize = 64 * 1024;
  /* Asks for 32 MiB and never reads a byte, into a small fixed buffer. */
  ck_assert_int_eq(setsockopt(weft_sock_fd(s), SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize), 0);
  ck_assert_int_eq(weft_send(s, "BIG\n", 4, SECONDS(10)), 0);
  ck_assert(await_at_least(&ls.done, 1, 30000));
  ck_assert_int_eq(weft_sock_close(s), 0);
}

START_TEST(test_fault_silent_peer_recv_times_out_server_goes_on) {
  ck_assert_int_eq(run_in_task(2, peer_body, &(struct peer_case){silent_peer, 300}), 0);
  ck_assert_int_eq(ls.outcome[0], WEFT_ETIMEDOUT);
  ck_assert_int_ge(ls.took[0], 300);
}
END_TEST

START_TEST(test_fault_peer_reset_mid_request_server_goes_on) {
  ck_assert_int_eq(run_in_task(2, peer_body, &(struct peer_case){resetting_peer, 30000}), 0);
  ck_assert_msg(ls.outcome[0] == WEFT_ECONNRESET || ls.outcome[0] == WEFT_EPIPE,
                "recv after a reset returned %d (%s)", ls.outcome[0], weft_strerror(ls.outcome[0]));
}
END_TEST

START_TEST(test_fault_peer_that_never_reads_send_times_out_server_goes_on) {
  ck_assert_int_eq(run_in_task(2, peer_body, &(struct peer_case){deaf_peer, 30000}), 0);
  ck_assert_int_eq(ls.outcome[0], WEFT_ETIMEDOUT);
  ck_assert_int_ge(ls.took[0], 1000);
}
END_TEST

/* ---- stack overflow on stacks without a guard page ---- */

static volatile long depth_limit = 1L << 40; /* more frames than any stack holds */

static long recurse(long depth) {
  volatile char frame[512];
  frame[0] = (char)depth;
  if (depth > depth_limit)
    return frame[0];
  return recurse(depth + 1) + frame[0];
}

static void *runaway(void *arg) {
  (void)arg;
  return (void *)(intptr_t)recurse(0);
}

static long guard_budget(void) {
  long v = 65530;
  FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
  if (f) {
    if (fscanf(f, "%ld", &v) != 1)
      v = 65530;
    fclose(f);
  }
  return v / 2 - 8192 > 0 ? v / 2 - 8192 : 0;
}

/* In the child: use up the guard pages weft may make (the mprotect scheme
 * stops at a budget of mappings), keeping those tasks unstarted, then run
 * away on a stack carved after that. */
static int beyond_budget_body(void *arg) {
  long n = guard_budget() + 128;
  weft_spawn_attr attr;
  weft_task *t;
  (void)arg;
  weft_spawn_attr_init(&attr);
  attr.stack_size = WEFT_STACK_MIN;
  attr.detached = 1;
  for (long i = 0; i < n; i++) /* one worker, no switch: none starts */
    if (weft_spawn_ex(NULL, &attr, identity, NULL) != 0)
      return 3;
  attr.detached = 0;
  attr.name = "deep";
  attr.stack_size = 64 * 1024; /* a size of its own: a fresh, unguarded chunk */
  if (weft_spawn_ex(&t, &attr, runaway, NULL) != 0)
    return 3;
  weft_join(t, NULL);
  return 4; /* not reached: the overflow aborts */
}

static int unguarded_body(void *arg) {
  weft_spawn_attr attr;
  weft_task *t;
  (void)arg;
  weft_spawn_attr_init(&attr);
  attr.name = "deep";
  attr.stack_size = 64 * 1024;
  if (weft_spawn_ex(&t, &attr, runaway, NULL) != 0)
    return 3;
  weft_join(t, NULL);
  return 4;
}

/* Fork, run body as a task there with WEFT_STACK_GUARD=guard, and check
 * that the child aborted with weft's overflow report. */
static void expect_overflow_report(const char *guard, int (*body)(void *)) {
  char err[8192];
  int fds[2], status;
  ssize_t n, got = 0;
  pid_t pid;

  ck_assert_int_eq(pipe(fds), 0);
  fflush(NULL);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], STDERR_FILENO);
    setenv("WEFT_STACK_GUARD", guard, 1);
    setenv("WEFT_WARN_BLOCKING_MS", "0", 1);
    _exit(run_in_task(1, body, NULL));
  }
  close(fds[1]);
  for (;;) { /* keep the beginning, drain the rest */
    char sink[4096];
    bool room = got < (ssize_t)sizeof err - 1;
    n = room ? read(fds[0], err + got, sizeof err - 1 - (size_t)got)
             : read(fds[0], sink, sizeof sink);
    if (n <= 0)
      break;
    if (room)
      got += n;
  }
  err[got] = 0;
  close(fds[0]);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(strstr(err, "weft: stack overflow in task ") != NULL &&
                    strstr(err, " 'deep' (stack 65536 bytes)") != NULL,
                "no overflow report; child %s %d; stderr begins: %.600s",
                WIFSIGNALED(status) ? "killed by signal" : "exited with",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), err);
  ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %#x", status);
}

START_TEST(test_fault_overflow_beyond_guard_budget_reported) {
  if (WEFT_ON_VALGRIND())
    return; /* tens of thousands of mappings exceed Valgrind's segment table */
  expect_overflow_report("mprotect", beyond_budget_body);
}
END_TEST

START_TEST(test_fault_overflow_runaway_on_unguarded_stack_reported) {
  if (WEFT_ON_VALGRIND())
    return; /* Valgrind stops a runaway stack itself, before weft's handler */
  expect_overflow_report("canary", unguarded_body);
}
END_TEST

static Suite *fault_suite(void) {
  Suite *s = suite_create("fault");
  TCase *limits = tcase_create("limits"), *blocking = tcase_create("blocking"),
        *stress = tcase_create("stress"), *peers = tcase_create("peers"),
        *overflow = tcase_create("overflow");
  tcase_add_test(limits, test_fault_out_of_fds_echo_server_survives);
  tcase_add_test(limits, test_fault_out_of_address_space_enomem_then_recovers);
  tcase_add_test(limits, test_fault_rt_new_without_address_space_fails_cleanly);
  tcase_set_timeout(limits, 120);
  tcase_add_test(blocking, test_fault_blocked_worker_others_run_and_its_queue_is_stolen);
  tcase_add_test(blocking, test_fault_blocked_worker_its_yielded_task_still_runs);
  tcase_add_test(blocking, test_fault_warn_blocking_names_the_task);
  tcase_add_test(blocking, test_fault_warn_blocking_default_is_on);
  tcase_add_test(blocking, test_fault_warn_blocking_zero_is_off);
  tcase_add_test(blocking, test_fault_warn_blocking_silent_for_a_task_that_yields);
  tcase_set_timeout(blocking, 60);
  tcase_add_test(stress, test_fault_cancel_storm_every_blocked_call_returns_ecanceled);
  tcase_add_test(stress, test_fault_shutdown_with_100k_blocked_tasks_frees_all);
  tcase_set_timeout(stress, 600);
  tcase_add_test(peers, test_fault_silent_peer_recv_times_out_server_goes_on);
  tcase_add_test(peers, test_fault_peer_reset_mid_request_server_goes_on);
  tcase_add_test(peers, test_fault_peer_that_never_reads_send_times_out_server_goes_on);
  tcase_set_timeout(peers, 60);
  tcase_add_test(overflow, test_fault_overflow_beyond_guard_budget_reported);
  tcase_add_test(overflow, test_fault_overflow_runaway_on_unguarded_stack_reported);
  tcase_set_timeout(overflow, 120);
  suite_add_tcase(s, limits);
  suite_add_tcase(s, blocking);
  suite_add_tcase(s, stress);
  suite_add_tcase(s, peers);
  suite_add_tcase(s, overflow);
  return s;
}

WEFT_TEST_MAIN(fault_suite)
