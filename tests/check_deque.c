/*
 * check_deque.c - the Chase-Lev deque on its own: order, growth, and one
 * owner against several thieves on real threads with every item taken
 * exactly once.
 */
#include "deque.h"
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#define ITEM(i) ((void *)(uintptr_t)((i) + 1)) /* items are never NULL */
#define INDEX(p) ((long)(uintptr_t)(p)-1)

START_TEST(test_deque_owner_lifo_thief_fifo) {
  weft__deque d;
  bool lost = false;
  ck_assert_int_eq(weft__deque_init(&d, 16), 0);
  for (long i = 0; i < 4; i++)
    ck_assert(weft__deque_push(&d, ITEM(i)));
  ck_assert_int_eq(weft__deque_size(&d), 4);
  ck_assert_int_eq(INDEX(weft__deque_pop(&d)), 3);      /* newest */
  ck_assert_int_eq(INDEX(weft__deque_steal(&d, &lost)), 0); /* oldest */
  ck_assert_int_eq(INDEX(weft__deque_pop(&d)), 2);
  ck_assert_int_eq(INDEX(weft__deque_pop(&d)), 1);
  ck_assert_ptr_null(weft__deque_pop(&d));
  ck_assert_ptr_null(weft__deque_steal(&d, &lost));
  ck_assert(!lost);
  weft__deque_destroy(&d);
}
END_TEST

START_TEST(test_deque_grows_and_keeps_order) {
  weft__deque d;
  long n = 100000;
  ck_assert_int_eq(weft__deque_init(&d, 16), 0);
  for (long i = 0; i < n; i++)
    CHECK_HOT(weft__deque_push(&d, ITEM(i)));
  ck_assert_int_eq(weft__deque_size(&d), n);
  for (long i = n - 1; i >= 0; i--)
    CHECK_HOT(INDEX(weft__deque_pop(&d)) == i);
  ck_assert_ptr_null(weft__deque_pop(&d));
  weft__deque_destroy(&d);
}
END_TEST

/* ---- one owner, several thieves ---- */

#define THIEVES 3

struct race {
  weft__deque d;
  long n;                /* items the owner pushes */
  atomic_uchar *taken;   /* times each item was taken */
  atomic_long total;     /* items taken by anyone */
  atomic_bool owner_done;
  atomic_long stolen;
};

static void take(struct race *r, void *p) {
  long i = INDEX(p);
  CHECK_HOT(i >= 0 && i < r->n);
  atomic_fetch_add_explicit(&r->taken[i], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&r->total, 1, memory_order_relaxed);
}

static void *thief(void *arg) {
  struct race *r = arg;
  bool lost;
  unsigned empty = 0;
  for (;;) {
    void *p;
    lost = false;
    p = weft__deque_steal(&r->d, &lost);
    if (p) {
      take(r, p);
      atomic_fetch_add_explicit(&r->stolen, 1, memory_order_relaxed);
    } else if (!lost) {
      if (atomic_load(&r->owner_done) && weft__deque_size(&r->d) == 0)
        return NULL;
      if (++empty % 256 == 0)
        sched_yield(); /* more threads than cores: let the owner run */
    }
  }
}

START_TEST(test_deque_owner_and_thieves_take_each_item_once) {
  struct race r = {.n = scaled(5000000)};
  pthread_t th[THIEVES];
  long pushed = 0, ops = 0;
  unsigned seed = 12345;

  ck_assert_int_eq(weft__deque_init(&r.d, 16), 0);
  r.taken = calloc((size_t)r.n, sizeof *r.taken);
  ck_assert_ptr_nonnull(r.taken);
  for (int i = 0; i < THIEVES; i++)
    ck_assert_int_eq(pthread_create(&th[i], NULL, thief, &r), 0);
  /* 10M operations at full scale: 5M pushes and 5M takes (pops or steals).
   * The owner pushes every item and pops about a third of the time, so the
   * deque's size swings through empty, the last-item race and growth. */
  while (pushed < r.n) {
    int burst = (int)(rand_r(&seed) % 64) + 1;
    for (int i = 0; i < burst && pushed < r.n; i++, ops++)
      CHECK_HOT(weft__deque_push(&r.d, ITEM(pushed++)));
    int pops = (int)(rand_r(&seed) % 48);
    for (int i = 0; i < pops; i++, ops++) {
      void *p = weft__deque_pop(&r.d);
      if (p)
        take(&r, p);
    }
  }
  for (void *p; (p = weft__deque_pop(&r.d)); ops++)
    take(&r, p);
  atomic_store(&r.owner_done, true);
  for (int i = 0; i < THIEVES; i++)
    pthread_join(th[i], NULL);

  ck_assert_int_eq(atomic_load(&r.total), r.n);
  for (long i = 0; i < r.n; i++)
    if (atomic_load(&r.taken[i]) != 1)
      ck_abort_msg("item %ld taken %d times", i, (int)atomic_load(&r.taken[i]));
  ck_assert_int_gt(atomic_load(&r.stolen), 0);
  ck_assert_int_ge(ops, r.n);
  free(r.taken);
  weft__deque_destroy(&r.d);
}
END_TEST

static Suite *deque_suite(void) {
  Suite *s = suite_create("deque");
  TCase *core = tcase_create("core"), *stress = tcase_create("stress");
  tcase_add_test(core, test_deque_owner_lifo_thief_fifo);
  tcase_add_test(core, test_deque_grows_and_keeps_order);
  tcase_add_test(stress, test_deque_owner_and_thieves_take_each_item_once);
  tcase_set_timeout(stress, 600);
  suite_add_tcase(s, core);
  suite_add_tcase(s, stress);
  return s;
}

WEFT_TEST_MAIN(deque_suite)
