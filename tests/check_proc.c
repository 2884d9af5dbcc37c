/*
 * check_proc.c - child processes: exit codes, a signal-killed child, a
 * child killed at its deadline, pipes in both directions, several children
 * at once, cancellation of a wait, bad input.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static int sh(weft_proc **p, const char *script, weft_sock *pipes[3], int out_mode) {
  char *argv[4]; /* read by the I/O thread during the spawn, which we wait for */
  weft_proc_opts o;
  argv[0] = "sh";
  argv[1] = "-c";
  argv[2] = (char *)script;
  argv[3] = NULL;
  weft_proc_opts_init(&o);
  o.argv = argv;
  o.stdio[0] = pipes ? WEFT_STDIO_PIPE : WEFT_STDIO_NULL;
  o.stdio[1] = out_mode;
  o.stdio[2] = out_mode;
  return weft_proc_spawn(p, &o, pipes);
}

static int exit_body(void *arg) {
  weft_proc *p;
  int64_t status;
  int sig;
  (void)arg;
  ck_assert_int_eq(sh(&p, "exit 3", NULL, WEFT_STDIO_NULL), 0);
  ck_assert_int_gt(weft_proc_pid(p), 0);
  ck_assert_int_eq(weft_proc_wait(p, &status, &sig, weft_now() + 10000), 0);
  ck_assert_int_eq(status, 3);
  ck_assert_int_eq(sig, 0);
  ck_assert_int_eq(weft_proc_wait(p, &status, &sig, -1), 0); /* again: same answer */
  ck_assert_int_eq(status, 3);
  ck_assert_int_eq(weft_proc_kill(p, SIGTERM), WEFT_ESRCH);
  ck_assert_int_eq(weft_proc_free(p), 0);

  ck_assert_int_eq(sh(&p, "kill -9 $$", NULL, WEFT_STDIO_NULL), 0);
  ck_assert_int_eq(weft_proc_wait(p, &status, &sig, weft_now() + 10000), 0);
  ck_assert_int_eq(sig, SIGKILL);
  ck_assert_int_eq(weft_proc_free(p), 0);

  /* killed at its deadline */
  ck_assert_int_eq(sh(&p, "exec sleep 30", NULL, WEFT_STDIO_NULL), 0);
  ck_assert_int_eq(weft_proc_wait(p, &status, &sig, weft_now() + 100), WEFT_ETIMEDOUT);
  ck_assert_int_eq(weft_proc_free(p), WEFT_EBUSY);
  ck_assert_int_eq(weft_proc_kill(p, SIGKILL), 0);
  ck_assert_int_eq(weft_proc_wait(p, &status, &sig, weft_now() + 10000), 0);
  ck_assert_int_eq(sig, SIGKILL);
  ck_assert_int_eq(weft_proc_free(p), 0);
  return 0;
}

START_TEST(test_proc_exit_codes_signals_deadline) {
  ck_assert_int_eq(run_in_task(2, exit_body, NULL), 0);
}
END_TEST

static int pipe_body(void *arg) {
  weft_proc *p;
  weft_sock *io[3];
  char buf[256];
  size_t got = 0;
  ssize_t n;
  int64_t status;
  (void)arg;
  /* cat echoes stdin to stdout; stderr gets a line of its own */
  ck_assert_int_eq(sh(&p, "echo warning >&2; cat", io, WEFT_STDIO_PIPE), 0);
  ck_assert_ptr_nonnull(io[0]);
  ck_assert_ptr_nonnull(io[1]);
  ck_assert_ptr_nonnull(io[2]);
  ck_assert_int_eq(weft_send(io[0], "through the child\n", 18, weft_now() + 10000), 0);
  ck_assert_int_eq(weft_sock_close(io[0]), 0); /* EOF for cat */
  while ((n = weft_recv(io[1], buf + got, sizeof buf - got, weft_now() + 10000)) > 0)
    got += (size_t)n;
  ck_assert_int_eq(n, 0);
  ck_assert_int_eq(got, 18);
  ck_assert(memcmp(buf, "through the child\n", 18) == 0);
  n = weft_recv(io[2], buf, sizeof buf, weft_now() + 10000);
  ck_assert_int_eq(n, 8);
  ck_assert(memcmp(buf, "warning\n", 8) == 0);
  ck_assert_int_eq(weft_proc_wait(p, &status, NULL, weft_now() + 10000), 0);
  ck_assert_int_eq(status, 0);
  ck_assert_int_eq(weft_sock_close(io[1]), 0);
  ck_assert_int_eq(weft_sock_close(io[2]), 0);
  ck_assert_int_eq(weft_proc_free(p), 0);
  return 0;
}

START_TEST(test_proc_pipes_both_ways) {
  ck_assert_int_eq(run_in_task(2, pipe_body, NULL), 0);
}
END_TEST

/* Several children at once, their output collected as each finishes.
 * "At once" by construction, not by the clock: each child waits for a line
 * on its stdin, and none gets its line before all ten have been started
 * (each task reports on `started`, then waits for `gate` to close). */
static weft_chan *started, *gate;

static void *run_child(void *arg) {
  long i = (long)(intptr_t)arg;
  char script[64], buf[64];
  weft_proc *p;
  weft_sock *io[3];
  ssize_t n;
  long got = -1;
  int one = 1, x;
  snprintf(script, sizeof script, "read go; echo %ld", i * i);
  int rc = sh(&p, script, io, WEFT_STDIO_PIPE);
  weft_chan_send(started, &one, -1); /* a failed start too: the test ends */
  if (rc != 0)
    return (void *)(intptr_t)-1;
  while (weft_chan_recv(gate, &x, -1) == 0)
    ;
  if (weft_send(io[0], "go\n", 3, -1) == 0) {
    n = weft_recv(io[1], buf, sizeof buf - 1, -1);
    if (n > 0) {
      buf[n] = 0;
      got = atol(buf);
    }
  }
  weft_sock_close(io[0]);
  weft_sock_close(io[1]);
  weft_sock_close(io[2]);
  weft_proc_wait(p, NULL, NULL, -1);
  weft_proc_free(p);
  return (void *)(intptr_t)got;
}

static int many_body(void *arg) {
  weft_task *t[10];
  void *r;
  int x;
  (void)arg;
  ck_assert_int_eq(weft_chan_new(&started, sizeof(int), 10), 0);
  ck_assert_int_eq(weft_chan_new(&gate, sizeof(int), 0), 0);
  for (long i = 0; i < 10; i++)
    ck_assert_int_eq(weft_spawn(&t[i], run_child, (void *)(intptr_t)i), 0);
  /* Ten children alive, each blocked reading its stdin. */
  for (long i = 0; i < 10; i++)
    ck_assert_int_eq(weft_chan_recv(started, &x, -1), 0);
  ck_assert_int_eq(weft_chan_close(gate), 0);
  for (long i = 0; i < 10; i++) {
    ck_assert_int_eq(weft_join(t[i], &r), 0);
    ck_assert_int_eq((long)(intptr_t)r, i * i);
  }
  ck_assert_int_eq(weft_chan_free(started), 0);
  ck_assert_int_eq(weft_chan_free(gate), 0);
  return 0;
}

START_TEST(test_proc_several_children_at_once) {
  ck_assert_int_eq(run_in_task(2, many_body, NULL), 0);
}
END_TEST

static void *waiter(void *arg) {
  return (void *)(intptr_t)weft_proc_wait(arg, NULL, NULL, -1);
}

static int cancel_body(void *arg) {
  weft_proc *p;
  weft_task *t;
  void *r;
  weft_proc_opts o;
  char *argv[] = {"no-such-program-weft", NULL};
  (void)arg;
  ck_assert_int_eq(sh(&p, "exec sleep 30", NULL, WEFT_STDIO_NULL), 0);
  ck_assert_int_eq(weft_spawn(&t, waiter, p), 0);
  ck_assert(wait_parked(t, weft_now() + 60000));
  ck_assert_int_eq(weft_proc_wait(p, NULL, NULL, 0), WEFT_EBUSY); /* one waiter at a time */
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
  ck_assert_int_eq(weft_proc_kill(p, SIGKILL), 0);
  ck_assert_int_eq(weft_proc_wait(p, NULL, NULL, weft_now() + 10000), 0);
  ck_assert_int_eq(weft_proc_free(p), 0);

  weft_proc_opts_init(&o);
  o.argv = argv;
  ck_assert_int_eq(weft_proc_spawn(&p, &o, NULL), WEFT_ENOENT);
  o.argv = NULL;
  ck_assert_int_eq(weft_proc_spawn(&p, &o, NULL), WEFT_EINVAL);
  o.argv = argv;
  o.stdio[1] = WEFT_STDIO_PIPE;
  ck_assert_int_eq(weft_proc_spawn(&p, &o, NULL), WEFT_EINVAL); /* a pipe, nowhere to put it */
  o.stdio[1] = 7;
  ck_assert_int_eq(weft_proc_spawn(&p, &o, NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_proc_wait(NULL, NULL, NULL, -1), WEFT_EINVAL);
  return 0;
}

START_TEST(test_proc_cancel_wait_and_bad_input) {
  ck_assert_int_eq(run_in_task(2, cancel_body, NULL), 0);
}
END_TEST

static Suite *proc_suite(void) {
  Suite *s = suite_create("proc");
  TCase *core = tcase_create("core");
  tcase_add_test(core, test_proc_exit_codes_signals_deadline);
  tcase_add_test(core, test_proc_pipes_both_ways);
  tcase_add_test(core, test_proc_several_children_at_once);
  tcase_add_test(core, test_proc_cancel_wait_and_bad_input);
  tcase_set_timeout(core, 120);
  suite_add_tcase(s, core);
  return s;
}

WEFT_TEST_MAIN(proc_suite)
