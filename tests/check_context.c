#include "testutil.h"
static int sum_body(void *arg) { (void)arg; return 42; }
START_TEST(test_sched_smoke) { ck_assert_int_eq(run_in_task(2, sum_body, NULL), 42); }
END_TEST
static Suite *sched_suite(void) {
  Suite *s = suite_create("sched");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_sched_smoke);
  suite_add_tcase(s, tc);
  return s;
}
WEFT_TEST_MAIN(sched_suite)
