/*
 * check_stack.c - task stacks: overflow is reported (guard page, mprotect
 * guard, canary), a million live tasks fit under the default map limit,
 * sizes are rounded and checked.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- overflow, in a child process ---- */

static volatile long forever = 1L << 40; /* more frames than any stack holds */

static long grow_forever(long depth) {
  volatile char frame[1024];
  frame[0] = (char)depth;
  if (depth > forever)
    return frame[0];
  return grow_forever(depth + 1) + frame[0];
}

static void *overflow_task(void *arg) {
  (void)arg;
  return (void *)(intptr_t)grow_forever(0);
}

/* Recurse through about `bytes` of stack, then return. */
static long use_stack(long bytes) {
  volatile char frame[1024];
  frame[0] = 1;
  if (bytes <= 1024)
    return frame[0];
  return use_stack(bytes - 1024) + frame[0];
}

/* Fill the stack with frames down to limit, every byte written. */
static volatile char *dig_limit;
static long dig(void) {
  volatile char frame[256];
  for (int i = 0; i < 256; i++)
    frame[i] = 0x5a;
  if (frame < dig_limit)
    return frame[0];
  return dig() + frame[1];
}

/* Overrun the stack (whose size is arg) by about 1 KiB, within the unguarded
 * page below it, and come back: only the canary can tell. */
static void *overrun_task(void *arg) {
  volatile char here;
  dig_limit = &here - (long)(intptr_t)arg - 1024;
  long r = dig();
  weft_yield(); /* the scheduler checks the canary at this switch */
  return (void *)(intptr_t)r;
}

struct overflow_case {
  const char *guard; /* WEFT_STACK_GUARD for the child, or NULL */
  void *(*fn)(void *);
};

static int overflow_body(void *arg) {
  const struct overflow_case *c = arg;
  weft_spawn_attr attr;
  weft_task *t;
  weft_spawn_attr_init(&attr);
  attr.name = "deep";
  attr.stack_size = 64 * 1024;
  if (weft_spawn_ex(&t, &attr, c->fn, (void *)(intptr_t)(64 * 1024)) != 0)
    return 3;
  weft_join(t, NULL);
  return 4; /* not reached: the overflow aborts the process */
}

/* Run the case in a child; return its stderr and how it ended. */
static int run_overflow_child(const struct overflow_case *c, char *err, size_t errlen) {
  int fds[2], status;
  ssize_t n, got = 0;
  pid_t pid;

  ck_assert_int_eq(pipe(fds), 0);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    if (c->guard)
      setenv("WEFT_STACK_GUARD", c->guard, 1);
    _exit(run_in_task(1, overflow_body, (void *)c));
  }
  close(fds[1]);
  while ((n = read(fds[0], err + got, errlen - 1 - (size_t)got)) > 0)
    got += n;
  err[got] = 0;
  close(fds[0]);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  return status;
}

static void expect_overflow_report(const struct overflow_case *c) {
  char err[4096];
  int status = run_overflow_child(c, err, sizeof err);
  ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                "child did not abort (status %#x), stderr: %s", status, err);
  ck_assert_msg(strstr(err, "weft: stack overflow in task ") != NULL, "stderr: %s", err);
  ck_assert_msg(strstr(err, " 'deep' (stack 65536 bytes)") != NULL, "stderr: %s", err);
}

START_TEST(test_stack_overflow_guard_page) {
  struct overflow_case c = {NULL, overflow_task};
  expect_overflow_report(&c);
}
END_TEST

START_TEST(test_stack_overflow_mprotect_guard) {
  struct overflow_case c = {"mprotect", overflow_task};
  expect_overflow_report(&c);
}
END_TEST

START_TEST(test_stack_overflow_canary_without_guard) {
  struct overflow_case c = {"canary", overrun_task};
  expect_overflow_report(&c);
}
END_TEST

/* ---- a million live tasks ---- */

static long count_mappings(void) {
  FILE *f = fopen("/proc/self/maps", "re");
  long lines = 0;
  int ch;
  ck_assert_ptr_nonnull(f);
  while ((ch = fgetc(f)) != EOF)
    lines += ch == '\n';
  fclose(f);
  return lines;
}

static void *noop(void *arg) {
  return arg;
}

static int million_body(void *arg) {
  long n = *(long *)arg, maps;
  weft_task **t = malloc((size_t)n * sizeof *t);
  void *r;

  ck_assert_ptr_nonnull(t);
  /* One worker and no switch while spawning: every task is alive at once,
   * each with its own stack. */
  for (long i = 0; i < n; i++)
    CHECK_HOT(weft_spawn(&t[i], noop, (void *)(intptr_t)i) == 0);
  maps = count_mappings();
  ck_assert_msg(maps < 65530, "%ld mappings for %ld stacks", maps, n);
  for (long i = 0; i < n; i++) {
    CHECK_HOT(weft_join(t[i], &r) == 0);
    CHECK_HOT((long)(intptr_t)r == i);
  }
  free(t);
  return 0;
}

START_TEST(test_stack_million_live_tasks) {
  long n = scaled(1000000);
  ck_assert_int_eq(run_in_task(1, million_body, &n), 0);
}
END_TEST

/* ---- sizes ---- */

static void *stack_user(void *arg) {
  /* 10 KiB fits in WEFT_STACK_MIN, which tiny requests round up to. */
  return (void *)(intptr_t)use_stack((long)(intptr_t)arg);
}

static int sizes_body(void *arg) {
  weft_spawn_attr attr;
  weft_task *t;
  void *r;
  (void)arg;
  weft_spawn_attr_init(&attr);
  attr.stack_size = 1;
  ck_assert_int_eq(weft_spawn_ex(&t, &attr, stack_user, (void *)(intptr_t)(10 * 1024)), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((long)(intptr_t)r, 10);
  attr.stack_size = WEFT_STACK_MAX + 1;
  ck_assert_int_eq(weft_spawn_ex(&t, &attr, stack_user, NULL), WEFT_EINVAL);
  attr.stack_size = 100 * 1000 + 1; /* not a page multiple */
  ck_assert_int_eq(weft_spawn_ex(&t, &attr, stack_user, (void *)(intptr_t)(60 * 1024)), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((long)(intptr_t)r, 60);
  return 0;
}

START_TEST(test_stack_sizes_rounded_and_checked) {
  ck_assert_int_eq(run_in_task(2, sizes_body, NULL), 0);
}
END_TEST

static Suite *stack_suite(void) {
  Suite *s = suite_create("stack");
  TCase *core = tcase_create("core"), *limits = tcase_create("limits");
  tcase_add_test(core, test_stack_overflow_guard_page);
  tcase_add_test(core, test_stack_overflow_mprotect_guard);
  tcase_add_test(core, test_stack_overflow_canary_without_guard);
  tcase_add_test(core, test_stack_sizes_rounded_and_checked);
  tcase_set_timeout(core, 60);
  tcase_add_test(limits, test_stack_million_live_tasks);
  tcase_set_timeout(limits, 900);
  suite_add_tcase(s, core);
  suite_add_tcase(s, limits);
  return s;
}

WEFT_TEST_MAIN(stack_suite)
