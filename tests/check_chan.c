/*
 * check_chan.c - channels: ping-pong across workers, many senders and
 * receivers with every value received exactly once, rendezvous, close
 * waking every waiter, draining after close, deadlines, cancellation,
 * non-blocking calls, bad input.
 */
#include "testutil.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* ---- ping-pong ---- */

struct pong {
  weft_chan *ping, *pong;
  long rounds;
};

static void *ponger(void *arg) {
  struct pong *p = arg;
  long v;
  while (weft_chan_recv(p->ping, &v, -1) == 0)
    if (weft_chan_send(p->pong, &v, -1) != 0)
      break;
  return NULL;
}

static int pingpong_body(void *arg) {
  struct pong p = {.rounds = *(long *)arg};
  weft_task *t;
  ck_assert_int_eq(weft_chan_new(&p.ping, sizeof(long), 0), 0);
  ck_assert_int_eq(weft_chan_new(&p.pong, sizeof(long), 0), 0);
  ck_assert_int_eq(weft_spawn(&t, ponger, &p), 0);
  for (long i = 0; i < p.rounds; i++) {
    long back = -1;
    CHECK_HOT(weft_chan_send(p.ping, &i, -1) == 0);
    CHECK_HOT(weft_chan_recv(p.pong, &back, -1) == 0);
    CHECK_HOT(back == i);
  }
  ck_assert_int_eq(weft_chan_close(p.ping), 0);
  ck_assert_int_eq(weft_join(t, NULL), 0);
  ck_assert_int_eq(weft_chan_free(p.ping), 0);
  ck_assert_int_eq(weft_chan_free(p.pong), 0);
  return 0;
}

START_TEST(test_chan_ping_pong_across_workers) {
  long rounds = scaled(1000000);
  ck_assert_int_eq(run_in_task(2, pingpong_body, &rounds), 0);
}
END_TEST

/* ---- many senders, many receivers ---- */

#define SENDERS 4
#define RECEIVERS 4

struct mpmc {
  weft_chan *c;
  long per_sender;
  atomic_uchar *seen;
  atomic_long received;
};

static struct mpmc m;

static void *mp_sender(void *arg) {
  long base = (long)(intptr_t)arg * m.per_sender;
  for (long i = 0; i < m.per_sender; i++) {
    long v = base + i;
    CHECK_HOT(weft_chan_send(m.c, &v, -1) == 0);
  }
  return NULL;
}

static void *mp_receiver(void *arg) {
  long v;
  (void)arg;
  while (weft_chan_recv(m.c, &v, -1) == 0) {
    CHECK_HOT(v >= 0 && v < SENDERS * m.per_sender);
    atomic_fetch_add_explicit(&m.seen[v], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m.received, 1, memory_order_relaxed);
  }
  return NULL;
}

static int mpmc_body(void *arg) {
  weft_task *s[SENDERS], *r[RECEIVERS];
  m.c = NULL;
  ck_assert_int_eq(weft_chan_new(&m.c, sizeof(long), (size_t)(intptr_t)arg), 0);
  for (long i = 0; i < RECEIVERS; i++)
    ck_assert_int_eq(weft_spawn(&r[i], mp_receiver, NULL), 0);
  for (long i = 0; i < SENDERS; i++)
    ck_assert_int_eq(weft_spawn(&s[i], mp_sender, (void *)(intptr_t)i), 0);
  for (int i = 0; i < SENDERS; i++)
    ck_assert_int_eq(weft_join(s[i], NULL), 0);
  ck_assert_int_eq(weft_chan_close(m.c), 0); /* receivers drain, then see EPIPE */
  for (int i = 0; i < RECEIVERS; i++)
    ck_assert_int_eq(weft_join(r[i], NULL), 0);
  ck_assert_int_eq(weft_chan_free(m.c), 0);
  return 0;
}

static void run_mpmc(long per_sender, size_t cap) {
  m.per_sender = per_sender;
  m.seen = calloc((size_t)(SENDERS * per_sender), 1);
  atomic_store(&m.received, 0);
  ck_assert_int_eq(run_in_task(2, mpmc_body, (void *)(intptr_t)cap), 0);
  ck_assert_int_eq(atomic_load(&m.received), SENDERS * per_sender);
  for (long i = 0; i < SENDERS * per_sender; i++)
    if (atomic_load(&m.seen[i]) != 1)
      ck_abort_msg("value %ld received %d times", i, (int)atomic_load(&m.seen[i]));
  free(m.seen);
}

START_TEST(test_chan_4x4_buffered_each_value_once) {
  run_mpmc(scaled(250000), 64);
}
END_TEST

START_TEST(test_chan_4x4_unbuffered_each_value_once) {
  run_mpmc(scaled(50000), 0);
}
END_TEST

/* ---- rendezvous ---- */

static long got_value;

static void *rendezvous_receiver(void *arg) {
  return (void *)(intptr_t)weft_chan_recv(arg, &got_value, -1);
}

static int rendezvous_body(void *arg) {
  weft_chan *c;
  weft_task *t;
  long v = 77;
  void *r;
  (void)arg;
  ck_assert_int_eq(weft_chan_new(&c, sizeof(long), 0), 0);
  ck_assert_int_eq(weft_spawn(&t, rendezvous_receiver, c), 0);
  ck_assert(wait_parked(t, weft_now() + 60000)); /* the receiver is parked in recv */
  ck_assert_int_eq(weft_chan_send(c, &v, -1), 0);
  ck_assert_int_eq(got_value, 77); /* the receiver has it when send returns */
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, 0);
  ck_assert_int_eq(weft_chan_try_send(c, &v), WEFT_EAGAIN); /* nobody waits */
  ck_assert_int_eq(weft_chan_free(c), 0);
  return 0;
}

START_TEST(test_chan_rendezvous_send_returns_when_received) {
  ck_assert_int_eq(run_in_task(1, rendezvous_body, NULL), 0);
}
END_TEST

/* ---- close ---- */

static atomic_int epipe_count;

static void *blocked_recv(void *arg) {
  long v;
  if (weft_chan_recv(arg, &v, -1) == WEFT_EPIPE)
    atomic_fetch_add(&epipe_count, 1);
  return NULL;
}

static void *blocked_send(void *arg) {
  long v = 1;
  if (weft_chan_send(arg, &v, -1) == WEFT_EPIPE)
    atomic_fetch_add(&epipe_count, 1);
  return NULL;
}

static int close_body(void *arg) {
  weft_chan *rc, *sc, *b;
  weft_task *t[200];
  long v;
  (void)arg;
  ck_assert_int_eq(weft_chan_new(&rc, sizeof(long), 0), 0);
  ck_assert_int_eq(weft_chan_new(&sc, sizeof(long), 0), 0);
  for (int i = 0; i < 100; i++) {
    ck_assert_int_eq(weft_spawn(&t[i], blocked_recv, rc), 0);
    ck_assert_int_eq(weft_spawn(&t[100 + i], blocked_send, sc), 0);
  }
  for (int i = 0; i < 200; i++) /* all 200 are parked */
    ck_assert(wait_parked(t[i], weft_now() + 60000));
  ck_assert_int_eq(weft_chan_free(rc), WEFT_EBUSY);
  ck_assert_int_eq(weft_chan_close(rc), 0);
  ck_assert_int_eq(weft_chan_close(sc), 0);
  for (int i = 0; i < 200; i++)
    ck_assert_int_eq(weft_join(t[i], NULL), 0);
  ck_assert_int_eq(atomic_load(&epipe_count), 200);
  ck_assert_int_eq(weft_chan_close(rc), WEFT_EINVAL); /* twice */
  ck_assert_int_eq(weft_chan_free(rc), 0);
  ck_assert_int_eq(weft_chan_free(sc), 0);

  /* buffered values survive the close */
  ck_assert_int_eq(weft_chan_new(&b, sizeof(long), 4), 0);
  for (v = 1; v <= 3; v++)
    ck_assert_int_eq(weft_chan_send(b, &v, -1), 0);
  ck_assert_int_eq(weft_chan_len(b), 3);
  ck_assert_int_eq(weft_chan_cap(b), 4);
  ck_assert_int_eq(weft_chan_close(b), 0);
  ck_assert_int_eq(weft_chan_send(b, &v, -1), WEFT_EPIPE);
  for (long want = 1; want <= 3; want++) {
    ck_assert_int_eq(weft_chan_recv(b, &v, -1), 0);
    ck_assert_int_eq(v, want);
  }
  ck_assert_int_eq(weft_chan_recv(b, &v, -1), WEFT_EPIPE);
  ck_assert_int_eq(weft_chan_try_recv(b, &v), WEFT_EPIPE);
  ck_assert_int_eq(weft_chan_free(b), 0);
  return 0;
}

START_TEST(test_chan_close_wakes_every_waiter) {
  ck_assert_int_eq(run_in_task(2, close_body, NULL), 0);
}
END_TEST

/* ---- deadlines and cancellation ---- */

static void *recv_forever(void *arg) {
  long v;
  return (void *)(intptr_t)weft_chan_recv(arg, &v, -1);
}

static void *send_forever(void *arg) {
  long v = 5;
  return (void *)(intptr_t)weft_chan_send(arg, &v, -1);
}

static int deadline_body(void *arg) {
  weft_chan *c;
  weft_task *t;
  long v = 1;
  void *r;
  int64_t t0;
  (void)arg;
  ck_assert_int_eq(weft_chan_new(&c, sizeof(long), 0), 0);
  t0 = weft_now();
  ck_assert_int_eq(weft_chan_recv(c, &v, t0 + 30), WEFT_ETIMEDOUT);
  ck_assert_int_ge(weft_now(), t0 + 30);
  t0 = weft_now();
  ck_assert_int_eq(weft_chan_send(c, &v, t0 + 30), WEFT_ETIMEDOUT);
  ck_assert_int_ge(weft_now(), t0 + 30);
  ck_assert_int_eq(weft_chan_recv(c, &v, 0), WEFT_ETIMEDOUT); /* 0: do not wait */
  /* a value arriving before the deadline wins */
  ck_assert_int_eq(weft_spawn(&t, send_forever, c), 0);
  ck_assert_int_eq(weft_chan_recv(c, &v, weft_now() + 5000), 0);
  ck_assert_int_eq(v, 5);
  ck_assert_int_eq(weft_join(t, NULL), 0);
  /* cancellation of a parked receiver and a parked sender */
  ck_assert_int_eq(weft_spawn(&t, recv_forever, c), 0);
  ck_assert(wait_parked(t, weft_now() + 60000));
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
  ck_assert_int_eq(weft_spawn(&t, send_forever, c), 0);
  ck_assert(wait_parked(t, weft_now() + 60000));
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
  ck_assert_int_eq(weft_chan_try_recv(c, &v), WEFT_EAGAIN); /* nothing was left behind */
  ck_assert_int_eq(weft_chan_free(c), 0);
  return 0;
}

START_TEST(test_chan_deadline_and_cancel) {
  ck_assert_int_eq(run_in_task(2, deadline_body, NULL), 0);
}
END_TEST

/* A cancelled task: a send that needs no wait completes (there is room),
 * one that would wait fails at once, and weft_chan_try_send never waits. */
static void *last_word(void *arg) {
  weft_chan *c = arg;
  long v = 42;
  while (!weft_canceled()) /* it may start before the cancel arrives */
    weft_yield();
  int to_room = weft_chan_send(c, &v, weft_now() + 5000);
  int would_wait = weft_chan_send(c, &v, weft_now() + 5000);
  int tried = weft_chan_try_send(c, &v);
  return (void *)(intptr_t)(to_room == 0 && would_wait == WEFT_ECANCELED && tried == WEFT_EAGAIN);
}

static int last_word_body(void *arg) {
  weft_chan *c;
  weft_task *t;
  long v = 0;
  void *r;
  (void)arg;
  ck_assert_int_eq(weft_chan_new(&c, sizeof(long), 1), 0);
  ck_assert_int_eq(weft_spawn(&t, last_word, c), 0);
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, 1);
  ck_assert_int_eq(weft_chan_try_recv(c, &v), 0);
  ck_assert_int_eq(v, 42);
  ck_assert_int_eq(weft_chan_free(c), 0);
  return 0;
}

START_TEST(test_chan_cancelled_task_sends_to_room_but_never_waits) {
  ck_assert_int_eq(run_in_task(2, last_word_body, NULL), 0);
}
END_TEST

/* Deadlines racing real wakeups: each operation ends exactly once. */
static void *racer(void *arg) {
  weft_chan *c = arg;
  long v = 0, ok = 0;
  for (int i = 0; i < 300; i++) {
    int rc = (i % 2) ? weft_chan_send(c, &v, weft_now() + i % 3)
                     : weft_chan_recv(c, &v, weft_now() + i % 3);
    if (rc == 0)
      ok++;
    else if (rc != WEFT_ETIMEDOUT)
      return (void *)(intptr_t)-1;
  }
  return (void *)(intptr_t)ok;
}

static int race_body(void *arg) {
  weft_chan *c;
  weft_task *t[4];
  void *r;
  (void)arg;
  ck_assert_int_eq(weft_chan_new(&c, sizeof(long), 0), 0);
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(weft_spawn(&t[i], racer, c), 0);
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(weft_join(t[i], &r), 0);
    ck_assert_int_ge((long)(intptr_t)r, 0);
  }
  ck_assert_int_eq(weft_chan_free(c), 0);
  return 0;
}

START_TEST(test_chan_deadlines_race_wakeups) {
  ck_assert_int_eq(run_in_task(2, race_body, NULL), 0);
}
END_TEST

/* ---- select ---- */

/* Four ready channels: over 100,000 picks each is chosen 20-30%. */
static int fairness_body(void *arg) {
  weft_chan *c[4];
  weft_select_case k[4];
  long picks[4] = {0}, n = *(long *)arg, v = 7;
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(weft_chan_new(&c[i], sizeof(long), 1), 0);
    ck_assert_int_eq(weft_chan_send(c[i], &v, -1), 0);
  }
  for (long round = 0; round < n; round++) {
    for (int i = 0; i < 4; i++)
      k[i] = (weft_select_case){.chan = c[i], .op = WEFT_SELECT_RECV, .elem = &v};
    int idx = weft_select(k, 4, -1);
    CHECK_HOT(idx >= 0 && idx < 4 && k[idx].result == 0 && v == 7);
    picks[idx]++;
    CHECK_HOT(weft_chan_send(c[idx], &v, -1) == 0); /* ready again */
  }
  for (int i = 0; i < 4; i++) {
    ck_assert_msg(picks[i] >= n / 5 && picks[i] <= n * 3 / 10, "case %d picked %ld of %ld", i,
                  picks[i], n);
    ck_assert_int_eq(weft_chan_free(c[i]), 0);
  }
  return 0;
}

START_TEST(test_chan_select_fair_among_ready_cases) {
  long n = scaled(100000) < 4000 ? 4000 : scaled(100000);
  ck_assert_int_eq(run_in_task(1, fairness_body, &n), 0);
}
END_TEST

static void *delayed_send(void *arg) {
  long v = 42;
  weft_sleep(20);
  return (void *)(intptr_t)weft_chan_send(arg, &v, -1);
}

static void *delayed_recv(void *arg) {
  long v;
  weft_sleep(20);
  if (weft_chan_recv(arg, &v, -1) != 0)
    return (void *)(intptr_t)-1;
  return (void *)(intptr_t)v;
}

static int select_body(void *arg) {
  weft_chan *a, *b, *d;
  weft_task *t;
  weft_select_case k[3];
  long in = 0, out = 9;
  void *r;
  int idx;
  (void)arg;
  ck_assert_int_eq(weft_chan_new(&a, sizeof(long), 0), 0);
  ck_assert_int_eq(weft_chan_new(&b, sizeof(long), 0), 0);
  ck_assert_int_eq(weft_chan_new(&d, sizeof(long), 0), 0);
  /* a mix of receive and send cases; a sender arrives on b */
  k[0] = (weft_select_case){.chan = a, .op = WEFT_SELECT_RECV, .elem = &in};
  k[1] = (weft_select_case){.chan = b, .op = WEFT_SELECT_RECV, .elem = &in};
  k[2] = (weft_select_case){.chan = d, .op = WEFT_SELECT_SEND, .elem = &out};
  ck_assert_int_eq(weft_select(k, 3, 0), WEFT_ETIMEDOUT); /* none ready */
  ck_assert_int_eq(weft_spawn(&t, delayed_send, b), 0);
  idx = weft_select(k, 3, weft_now() + 5000);
  ck_assert_int_eq(idx, 1);
  ck_assert_int_eq(k[1].result, 0);
  ck_assert_int_eq(in, 42);
  ck_assert_int_eq(weft_join(t, &r), 0);
  /* exactly one case took effect: nothing is left queued on a or d */
  ck_assert_int_eq(weft_chan_try_send(a, &out), WEFT_EAGAIN);
  ck_assert_int_eq(weft_chan_try_recv(d, &in), WEFT_EAGAIN);
  /* now a receiver arrives on d: the send case completes */
  ck_assert_int_eq(weft_spawn(&t, delayed_recv, d), 0);
  idx = weft_select(k, 3, weft_now() + 5000);
  ck_assert_int_eq(idx, 2);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((long)(intptr_t)r, 9);
  /* deadline, and a closed channel completes its case with EPIPE */
  ck_assert_int_eq(weft_select(k, 3, weft_now() + 20), WEFT_ETIMEDOUT);
  ck_assert_int_eq(weft_chan_close(a), 0);
  idx = weft_select(k, 3, -1);
  ck_assert_int_eq(idx, 0);
  ck_assert_int_eq(k[0].result, WEFT_EPIPE);
  /* bad input */
  k[0].op = 99;
  ck_assert_int_eq(weft_select(k, 3, -1), WEFT_EINVAL);
  ck_assert_int_eq(weft_select(NULL, 2, -1), WEFT_EINVAL);
  for (weft_chan **c = (weft_chan *[]){a, b, d}, **e = c + 3; c < e; c++)
    ck_assert_int_eq(weft_chan_free(*c), 0);
  return 0;
}

START_TEST(test_chan_select_one_case_takes_effect) {
  ck_assert_int_eq(run_in_task(2, select_body, NULL), 0);
}
END_TEST

static void *select_forever(void *arg) {
  weft_select_case k = {.chan = arg, .op = WEFT_SELECT_RECV, .elem = &(long){0}};
  return (void *)(intptr_t)weft_select(&k, 1, -1);
}

/* Many selects and plain senders racing on shared channels: every value is
 * received once, by a plain receive or by exactly one select case. */
static atomic_long sel_total;

static void *selector(void *arg) {
  weft_chan **c = arg;
  long v;
  for (;;) {
    weft_select_case k[2] = {{.chan = c[0], .op = WEFT_SELECT_RECV, .elem = &v},
                             {.chan = c[1], .op = WEFT_SELECT_RECV, .elem = &v}};
    int idx = weft_select(k, 2, -1);
    if (idx < 0 || k[idx].result == WEFT_EPIPE)
      return NULL;
    atomic_fetch_add(&sel_total, v);
  }
}

static int select_race_body(void *arg) {
  weft_chan *c[2];
  weft_task *t[4], *x;
  long n = *(long *)arg, expect = 0;
  void *r;
  ck_assert_int_eq(weft_chan_new(&c[0], sizeof(long), 0), 0);
  ck_assert_int_eq(weft_chan_new(&c[1], sizeof(long), 0), 0);
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(weft_spawn(&t[i], selector, c), 0);
  for (long i = 1; i <= n; i++) {
    CHECK_HOT(weft_chan_send(c[i % 2], &i, -1) == 0);
    expect += i;
  }
  ck_assert_int_eq(weft_chan_close(c[0]), 0);
  ck_assert_int_eq(weft_chan_close(c[1]), 0);
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(weft_join(t[i], NULL), 0);
  ck_assert_int_eq(atomic_load(&sel_total), expect);
  /* a cancelled select returns ECANCELED and leaves nothing queued */
  weft_chan *e;
  ck_assert_int_eq(weft_chan_new(&e, sizeof(long), 0), 0);
  ck_assert_int_eq(weft_spawn(&x, select_forever, e), 0);
  ck_assert(wait_parked(x, weft_now() + 60000));
  ck_assert_int_eq(weft_cancel(x), 0);
  ck_assert_int_eq(weft_join(x, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
  ck_assert_int_eq(weft_chan_try_send(e, &expect), WEFT_EAGAIN);
  for (int i = 0; i < 2; i++)
    ck_assert_int_eq(weft_chan_free(c[i]), 0);
  ck_assert_int_eq(weft_chan_free(e), 0);
  return 0;
}

START_TEST(test_chan_select_races_each_value_once) {
  long n = scaled(100000);
  ck_assert_int_eq(run_in_task(2, select_race_body, &n), 0);
}
END_TEST

/* ---- bad input ---- */

START_TEST(test_chan_bad_input) {
  weft_chan *c;
  long v = 1;
  ck_assert_int_eq(weft_chan_new(NULL, 8, 1), WEFT_EINVAL);
  ck_assert_int_eq(weft_chan_new(&c, SIZE_MAX / 2, 4), WEFT_EINVAL);
  ck_assert_int_eq(weft_chan_new(&c, sizeof v, 2), 0);
  ck_assert_int_eq(weft_chan_send(c, &v, -1), WEFT_EPERM); /* outside a task */
  ck_assert_int_eq(weft_chan_try_send(c, &v), 0);          /* any thread */
  ck_assert_int_eq(weft_chan_try_send(c, NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_chan_try_recv(c, &v), 0);
  ck_assert_int_eq(weft_chan_try_recv(c, &v), WEFT_EAGAIN);
  ck_assert_int_eq(weft_chan_send(NULL, &v, -1), WEFT_EINVAL);
  ck_assert_int_eq(weft_chan_len(NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_chan_close(NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_chan_free(c), 0);
  ck_assert_int_eq(weft_chan_free(NULL), 0);
}
END_TEST

/* A select parked on a receive whose channel is then closed returns that
 * case, its result WEFT_EPIPE (not the wakeup's error code). */
static void *close_later(void *arg) {
  weft_sleep(50);
  weft_chan_close(arg);
  return NULL;
}

static int select_parked_then_closed(void *arg) {
  weft_chan *a, *b;
  weft_task *t;
  int va = 0, vb = 0, rc;
  weft_select_case cases[2];
  (void)arg;
  ck_assert_int_eq(weft_chan_new(&a, sizeof(int), 0), 0);
  ck_assert_int_eq(weft_chan_new(&b, sizeof(int), 0), 0);
  cases[0] = (weft_select_case){.chan = a, .op = WEFT_SELECT_RECV, .elem = &va, .result = 99};
  cases[1] = (weft_select_case){.chan = b, .op = WEFT_SELECT_RECV, .elem = &vb, .result = 99};
  ck_assert_int_eq(weft_spawn(&t, close_later, b), 0);
  rc = weft_select(cases, 2, weft_now() + 5000);
  ck_assert_int_eq(rc, 1);
  ck_assert_int_eq(cases[1].result, WEFT_EPIPE);
  ck_assert_int_eq(cases[0].result, 99); /* untouched: that case did not complete */
  ck_assert_int_eq(weft_join(t, NULL), 0);
  weft_chan_free(a);
  weft_chan_free(b);
  return 0;
}

START_TEST(test_chan_select_parked_then_closed_reports_the_case) {
  ck_assert_int_eq(run_in_task(2, select_parked_then_closed, NULL), 0);
}
END_TEST

static Suite *chan_suite(void) {
  Suite *s = suite_create("chan");
  TCase *core = tcase_create("core"), *errors = tcase_create("errors"),
        *stress = tcase_create("stress");
  tcase_add_test(core, test_chan_rendezvous_send_returns_when_received);
  tcase_add_test(core, test_chan_close_wakes_every_waiter);
  tcase_add_test(core, test_chan_deadline_and_cancel);
  tcase_add_test(core, test_chan_cancelled_task_sends_to_room_but_never_waits);
  tcase_add_test(core, test_chan_deadlines_race_wakeups);
  tcase_add_test(core, test_chan_select_one_case_takes_effect);
  tcase_add_test(core, test_chan_select_fair_among_ready_cases);
  tcase_add_test(core, test_chan_select_parked_then_closed_reports_the_case);
  tcase_set_timeout(core, 120);
  tcase_add_test(errors, test_chan_bad_input);
  tcase_add_test(stress, test_chan_ping_pong_across_workers);
  tcase_add_test(stress, test_chan_4x4_buffered_each_value_once);
  tcase_add_test(stress, test_chan_4x4_unbuffered_each_value_once);
  tcase_add_test(stress, test_chan_select_races_each_value_once);
  tcase_set_timeout(stress, 600);
  suite_add_tcase(s, core);
  suite_add_tcase(s, errors);
  suite_add_tcase(s, stress);
  return s;
}

WEFT_TEST_MAIN(chan_suite)
