/*
 * check_gen.c - generators: the classic generator examples as tests
 * (priming, sending values, the return value, close running cleanup,
 * yielding after close, nested generators, a generator that sleeps),
 * states, ownership, and a million-element pipeline.
 */
#include "testutil.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define V(x) ((void *)(intptr_t)(x))
#define I(p) ((long)(intptr_t)(p))

/* A running average (the classic averager): receives numbers, yields the
 * average so far; on close it records that its cleanup ran. */
static bool averager_cleaned;

static void *averager(void *arg) {
  long total = 0, count = 0, avg = 0;
  (void)arg;
  for (;;) {
    void *in = weft_gen_yield(V(avg));
    if (weft_gen_closing()) {
      averager_cleaned = true;
      return NULL;
    }
    total += I(in);
    count++;
    avg = total / count;
  }
}

static int averager_body(void *arg) {
  weft_gen *g;
  void *out;
  (void)arg;
  ck_assert_int_eq(weft_gen_new(&g, averager, NULL), 0);
  ck_assert_int_eq(weft_gen_state(g), WEFT_GEN_CREATED);
  ck_assert_int_eq(weft_gen_send(g, V(10), &out), WEFT_EINVAL); /* must prime with NULL */
  ck_assert_int_eq(weft_gen_next(g, &out), 0);                  /* priming */
  ck_assert_int_eq(I(out), 0);
  ck_assert_int_eq(weft_gen_state(g), WEFT_GEN_SUSPENDED);
  ck_assert_int_eq(weft_gen_send(g, V(10), &out), 0);
  ck_assert_int_eq(I(out), 10);
  ck_assert_int_eq(weft_gen_send(g, V(30), &out), 0);
  ck_assert_int_eq(I(out), 20);
  ck_assert_int_eq(weft_gen_send(g, V(5), &out), 0);
  ck_assert_int_eq(I(out), 15);
  ck_assert_int_eq(weft_gen_close(g), 0); /* cleanup runs */
  ck_assert(averager_cleaned);
  ck_assert_int_eq(weft_gen_state(g), WEFT_GEN_CLOSED);
  ck_assert_int_eq(weft_gen_send(g, V(1), &out), WEFT_EDONE);
  ck_assert_int_eq(weft_gen_close(g), 0); /* closing twice is harmless */
  ck_assert_int_eq(weft_gen_free(g), 0);
  return 0;
}

START_TEST(test_gen_priming_send_and_close_cleanup) {
  ck_assert_int_eq(run_in_task(1, averager_body, NULL), 0);
}
END_TEST

/* Yields 1..n, then returns n * 100 (StopIteration.value). */
static void *count_to(void *arg) {
  for (long i = 1; i <= I(arg); i++)
    weft_gen_yield(V(i));
  return V(I(arg) * 100);
}

static int return_body(void *arg) {
  weft_gen *g;
  void *out;
  long sum = 0;
  int rc;
  (void)arg;
  ck_assert_int_eq(weft_gen_new(&g, count_to, V(4)), 0);
  while ((rc = weft_gen_next(g, &out)) == 0)
    sum += I(out);
  ck_assert_int_eq(rc, WEFT_EDONE);
  ck_assert_int_eq(I(out), 400);
  ck_assert_int_eq(sum, 10);
  ck_assert_int_eq(weft_gen_next(g, &out), WEFT_EDONE); /* finished stays finished */
  ck_assert_int_eq(weft_gen_state(g), WEFT_GEN_CLOSED);
  ck_assert_int_eq(weft_gen_free(g), 0);
  /* a created generator closes without running */
  ck_assert_int_eq(weft_gen_new(&g, count_to, V(4)), 0);
  ck_assert_int_eq(weft_gen_close(g), 0);
  ck_assert_int_eq(weft_gen_state(g), WEFT_GEN_CLOSED);
  ck_assert_int_eq(weft_gen_next(g, &out), WEFT_EDONE);
  ck_assert_int_eq(weft_gen_free(g), 0);
  return 0;
}

START_TEST(test_gen_return_value_and_done) {
  ck_assert_int_eq(run_in_task(1, return_body, NULL), 0);
}
END_TEST

/* Ignores close and yields again: close reports it (Python's RuntimeError). */
static void *stubborn(void *arg) {
  (void)arg;
  for (;;)
    weft_gen_yield(V(1));
  return NULL;
}

static int stubborn_body(void *arg) {
  weft_gen *g;
  (void)arg;
  ck_assert_int_eq(weft_gen_new(&g, stubborn, NULL), 0);
  ck_assert_int_eq(weft_gen_next(g, NULL), 0);
  ck_assert_int_eq(weft_gen_close(g), WEFT_EINVAL);
  ck_assert_int_eq(weft_gen_state(g), WEFT_GEN_SUSPENDED);
  ck_assert_int_eq(weft_gen_free(g), WEFT_EINVAL); /* freed all the same */
  return 0;
}

START_TEST(test_gen_yield_after_close_is_an_error) {
  ck_assert_int_eq(run_in_task(1, stubborn_body, NULL), 0);
}
END_TEST

/* "yield from": the outer generator drives an inner one and passes values
 * both ways; its own state is RUNNING while the inner one runs. */
static weft_gen *outer_g;

static void *doubler(void *arg) {
  void *in = NULL;
  (void)arg;
  ck_assert_int_eq(weft_gen_state(outer_g), WEFT_GEN_RUNNING);
  for (;;) {
    in = weft_gen_yield(V(I(in) * 2));
    if (I(in) < 0)
      return V(-1);
  }
}

static void *delegator(void *arg) {
  weft_gen *inner;
  void *out, *in;
  (void)arg;
  ck_assert_int_eq(weft_gen_new(&inner, doubler, NULL), 0);
  ck_assert_int_eq(weft_gen_next(inner, &out), 0);
  in = weft_gen_yield(out); /* pass the inner generator's values through */
  while (weft_gen_send(inner, in, &out) == 0)
    in = weft_gen_yield(out);
  weft_gen_free(inner);
  return V(I(out) * 1000);
}

static int nested_body(void *arg) {
  void *out;
  (void)arg;
  ck_assert_int_eq(weft_gen_new(&outer_g, delegator, NULL), 0);
  ck_assert_int_eq(weft_gen_next(outer_g, &out), 0);
  ck_assert_int_eq(I(out), 0);
  ck_assert_int_eq(weft_gen_send(outer_g, V(21), &out), 0);
  ck_assert_int_eq(I(out), 42);
  ck_assert_int_eq(weft_gen_send(outer_g, V(5), &out), 0);
  ck_assert_int_eq(I(out), 10);
  ck_assert_int_eq(weft_gen_send(outer_g, V(-1), &out), WEFT_EDONE);
  ck_assert_int_eq(I(out), -1000);
  ck_assert_int_eq(weft_gen_free(outer_g), 0);
  return 0;
}

START_TEST(test_gen_nested_yield_from) {
  ck_assert_int_eq(run_in_task(2, nested_body, NULL), 0);
}
END_TEST

/* A generator that blocks: the driving task parks with it active. */
static void *sleepy(void *arg) {
  (void)arg;
  for (long i = 0; i < 5; i++) {
    int64_t t0 = weft_now();
    if (weft_sleep(5) != 0 || weft_now() < t0 + 5)
      return V(-1);
    weft_gen_yield(V(i));
  }
  return V(99);
}

static void *spin_yield(void *arg) {
  atomic_bool *stop = arg;
  while (!atomic_load(stop))
    weft_yield();
  return NULL;
}

static int sleepy_body(void *arg) {
  weft_gen *g;
  weft_task *other;
  atomic_bool stop = false;
  void *out;
  long i = 0;
  int rc;
  (void)arg;
  /* another task keeps the workers busy while ours is parked in the sleep */
  ck_assert_int_eq(weft_spawn(&other, spin_yield, &stop), 0);
  ck_assert_int_eq(weft_gen_new(&g, sleepy, NULL), 0);
  while ((rc = weft_gen_next(g, &out)) == 0)
    ck_assert_int_eq(I(out), i++);
  ck_assert_int_eq(rc, WEFT_EDONE);
  ck_assert_int_eq(I(out), 99);
  ck_assert_int_eq(weft_gen_free(g), 0);
  atomic_store(&stop, true);
  ck_assert_int_eq(weft_join(other, NULL), 0);
  return 0;
}

START_TEST(test_gen_that_sleeps) {
  ck_assert_int_eq(run_in_task(2, sleepy_body, NULL), 0);
}
END_TEST

/* ---- ownership and bad input ---- */

static void *resume_foreign(void *arg) {
  void *out;
  return V(weft_gen_next(arg, &out));
}

static void *self_resumer(void *arg) {
  (void)arg;
  return V(weft_gen_next(outer_g, NULL)); /* resumes itself: it is running */
}

static int errors_body(void *arg) {
  weft_gen *g;
  weft_task *t;
  void *r;
  (void)arg;
  ck_assert_int_eq(weft_gen_new(NULL, count_to, NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_gen_new(&g, NULL, NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_gen_next(NULL, NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_gen_state(NULL), WEFT_EINVAL);
  ck_assert_ptr_null(weft_gen_yield(V(1))); /* not inside a generator */
  ck_assert_int_eq(weft_gen_closing(), 0);
  ck_assert_int_eq(weft_gen_new(&g, count_to, V(3)), 0);
  ck_assert_int_eq(weft_spawn(&t, resume_foreign, g), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq(I(r), WEFT_EPERM);
  ck_assert_int_eq(weft_gen_free(g), 0);
  ck_assert_int_eq(weft_gen_new(&outer_g, self_resumer, NULL), 0);
  ck_assert_int_eq(weft_gen_next(outer_g, &r), WEFT_EDONE);
  ck_assert_int_eq(I(r), WEFT_EBUSY);
  ck_assert_int_eq(weft_gen_free(outer_g), 0);
  return 0;
}

START_TEST(test_gen_ownership_and_errors) {
  weft_gen *g;
  ck_assert_int_eq(weft_gen_new(&g, count_to, NULL), WEFT_EPERM);
  ck_assert_int_eq(run_in_task(2, errors_body, NULL), 0);
}
END_TEST

/* ---- a pipeline: producer -> filter -> consumer, a million elements ---- */

static void *numbers(void *arg) {
  for (long i = 0; i < I(arg); i++)
    weft_gen_yield(V(i));
  return NULL;
}

/* Drives the producer; yields the squares of its even numbers. */
static void *even_squares(void *arg) {
  weft_gen *src = arg;
  void *v;
  while (weft_gen_next(src, &v) == 0)
    if (I(v) % 2 == 0)
      weft_gen_yield(V(I(v) * I(v) % 1000003));
  return NULL;
}

static int pipeline_body(void *arg) {
  long n = *(long *)arg, sum = 0, expect = 0;
  weft_gen *src, *filt;
  void *v;
  ck_assert_int_eq(weft_gen_new(&src, numbers, V(n)), 0);
  ck_assert_int_eq(weft_gen_new(&filt, even_squares, src), 0);
  while (weft_gen_next(filt, &v) == 0)
    sum += I(v);
  for (long i = 0; i < n; i += 2)
    expect += i * i % 1000003;
  ck_assert_int_eq(sum, expect);
  ck_assert_int_eq(weft_gen_free(filt), 0);
  ck_assert_int_eq(weft_gen_free(src), 0);
  return 0;
}

START_TEST(test_gen_million_element_pipeline) {
  long n = scaled(1000000);
  ck_assert_int_eq(run_in_task(2, pipeline_body, &n), 0);
}
END_TEST

static Suite *gen_suite(void) {
  Suite *s = suite_create("gen");
  TCase *core = tcase_create("core"), *stress = tcase_create("stress");
  tcase_add_test(core, test_gen_priming_send_and_close_cleanup);
  tcase_add_test(core, test_gen_return_value_and_done);
  tcase_add_test(core, test_gen_yield_after_close_is_an_error);
  tcase_add_test(core, test_gen_nested_yield_from);
  tcase_add_test(core, test_gen_that_sleeps);
  tcase_add_test(core, test_gen_ownership_and_errors);
  tcase_set_timeout(core, 60);
  tcase_add_test(stress, test_gen_million_element_pipeline);
  tcase_set_timeout(stress, 300);
  suite_add_tcase(s, core);
  suite_add_tcase(s, stress);
  return s;
}

WEFT_TEST_MAIN(gen_suite)
