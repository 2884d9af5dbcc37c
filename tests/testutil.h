/*
 * testutil.h - what the Check programs share: a main() that runs one suite
 * through the automake driver, and a way to run a test body as a task.
 */
#ifndef WEFT_TESTUTIL_H
#define WEFT_TESTUTIL_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <weft.h>

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
