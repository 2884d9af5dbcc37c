/*
 * testutil.h - what the Check programs share: a main() that runs one suite
 * through the automake driver, and a way to run a test body as a task.
 */
#ifndef WEFT_TESTUTIL_H
#define WEFT_TESTUTIL_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <weft.h>

#include "runtime.h" /* white-box: a task's state, for wait_parked */
#include "sanitizer.h" /* WEFT_ASAN, WEFT_TSAN */

/* Run body(arg) as the main task of a fresh runtime with n workers and
 * return what it returned. The runtime lives inside the forked test. */
static inline int run_in_task(unsigned workers, int (*body)(void *), void *arg) {
  weft_config cfg;
  weft_config_init(&cfg);
  cfg.workers = workers;
  return weft_main(&cfg, body, arg);
}

/* Scale heavy loops down under sanitizers or Valgrind (WEFT_TEST_SCALE=N
 * divides them); the assertions stay the same. */
static inline long scaled(long n) {
  const char *s = getenv("WEFT_TEST_SCALE");
  long d = s ? atol(s) : 1;
  return d > 1 ? n / d : n;
}

/* True under Valgrind, for the few tests whose subject Valgrind does not
 * model: it ignores floating-point rounding modes, and it keeps file
 * descriptors of its own that a lowered RLIMIT_NOFILE cannot cover. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WEFT_ON_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#endif
#endif
#ifndef WEFT_ON_VALGRIND
#define WEFT_ON_VALGRIND() 0
#endif

/*
 * Wait until task t is parked in a blocking call and registered with its
 * waker, or until deadline: true if it is. The replacement for sleeping a
 * little and hoping the other task has got there. It reads the state that
 * "park" step 2 (src/task.c) writes, then takes t->wait_lock, which step 2
 * holds until publish has registered t, and looks again. Meant for a task
 * that stays parked until the test acts on it. May switch; inside a task.
 */
static inline bool wait_parked(weft_task *t, int64_t deadline) {
  for (;;) {
    if (atomic_load_explicit(&t->state, memory_order_relaxed) == TASK_PARKED) {
      weft__spin_lock(&t->wait_lock);
      weft__spin_unlock(&t->wait_lock);
      if (atomic_load_explicit(&t->state, memory_order_relaxed) == TASK_PARKED)
        return true;
    }
    if (weft_now() >= deadline || weft_sleep(1) != 0)
      return false;
  }
}

/* The CPU time this process has used, user and system, in seconds: the
 * measure of the idle tests (a spinning thread burns its wall time, a
 * sleeping one next to nothing, however busy the machine). */
static inline double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The CPU time an idle runtime may use in one second. A spinning worker
 * burns the whole second (Valgrind runs one thread at a time, so a second
 * at most there). Sleeping ones cost only the I/O thread's ticks and the
 * idle trim, which Valgrind's emulation makes some fifty times dearer and
 * the sanitizers' bookkeeping a few times: the bound is wider there,
 * still far below a spin. */
static inline double idle_cpu_bound(void) {
#if defined(WEFT_ASAN) || defined(WEFT_TSAN)
  return 0.100;
#else
  return WEFT_ON_VALGRIND() ? 0.250 : 0.020;
#endif
}

/* An assertion for hot loops: Check's own ck_assert records every passing
 * check through a pipe, which costs a system call; this costs a compare. */
#define CHECK_HOT(cond)                                                                            \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      ck_abort_msg("%s:%d: assertion '%s' failed", __FILE__, __LINE__, #cond);                     \
  } while (0)

#define WEFT_TEST_MAIN(suite_fn)                                                                   \
  int main(void) {                                                                                 \
    SRunner *sr = srunner_create(suite_fn());                                                      \
    int failed;                                                                                    \
    srunner_run_all(sr, CK_NORMAL);                                                                \
    failed = srunner_ntests_failed(sr);                                                            \
    srunner_free(sr);                                                                              \
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;                                                   \
  }

#endif /* WEFT_TESTUTIL_H */
