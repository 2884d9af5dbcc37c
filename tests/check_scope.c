/*
 * check_scope.c - structured concurrency and the calls that came with it:
 * scopes (every member succeeding, the first failure cancelling the rest,
 * ten thousand members cancelled at once, a cancel coming down a tree of
 * scopes, members starting members, deadlines, weft_scope_cancel,
 * weft_scope_free, scopes a task leaves behind, bad input),
 * weft_join_until, task-done channels under weft_select, on-done
 * callbacks, weft_task_was_canceled, cancel shields, the calls a cancelled
 * task still completes, weft_gen_throw in every generator state,
 * generators a task leaves behind, and weft_signal_wait (one waiter per
 * arrival, deadlines, cancellation, bad input, the disposition given back,
 * also with a child process or another runtime watching the same
 * signal), weft_signal_hold and weft_signal_release.
 *
 * Every test is sequenced by channels and wait_parked, never by sleeping:
 * a deadline is either a safety net (SAFE_MS, where the expected outcome
 * is not a timeout) or the subject of the test; the one time budget (the
 * join race below) bounds the work of a loop, not its outcome.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define V(x) ((void *)(intptr_t)(x))
#define I(p) ((long)(intptr_t)(p))

/* A safety net for waits whose expected outcome is not a timeout. */
#define SAFE_MS 10000

static int64_t safe(void) {
  return weft_now() + SAFE_MS;
}

static void *identity(void *arg) {
  return arg;
}

static weft_chan *chan(size_t elem_size, size_t capacity) {
  weft_chan *c;
  ck_assert_int_eq(weft_chan_new(&c, elem_size, capacity), 0);
  return c;
}

/* A task says "here I am" before it blocks, so that the test can
 * wait_parked on it. */
static void report_self(weft_chan *handles) {
  weft_task *me = weft_self();
  CHECK_HOT(weft_chan_send(handles, &me, safe()) == 0);
}

/* Take n reports and wait until each of those tasks is parked. */
static bool park_all(weft_chan *handles, int n) {
  for (int i = 0; i < n; i++) {
    weft_task *t;
    if (weft_chan_recv(handles, &t, safe()) != 0 || !wait_parked(t, safe()))
      return false;
  }
  return true;
}

/* Wait until *v reaches want, for counters moved by tasks we cannot join
 * (members, callbacks). Inside a task. */
static bool reaches(atomic_int *v, int want) {
  int64_t end = safe();
  while (atomic_load(v) < want)
    if (weft_now() >= end || weft_sleep(1) != 0)
      return false;
  return atomic_load(v) == want;
}

/* Receives one int from the channel arg and returns it (or the error). */
static void *recv_one(void *arg) {
  int v = 0, rc = weft_chan_recv(arg, &v, -1);
  return V(rc == 0 ? v : rc);
}

/* Waits until the channel arg (of element size 0) is closed. */
static void *wait_closed(void *arg) {
  return V(weft_chan_recv(arg, NULL, -1));
}

static void *sleep_forever(void *arg) {
  (void)arg;
  return V(weft_sleep_until(-1));
}

/* ================================================================== */
/* Scopes                                                              */
/* ================================================================== */

/* Members that block until cancelled, and what they saw. */
struct blockers {
  weft_chan *handles;  /* NULL, or where each reports itself before blocking */
  weft_chan *never;    /* of int; nobody sends on it */
  atomic_int canceled; /* got WEFT_ECANCELED, and weft_task_was_canceled said 1 */
  atomic_int finished;
};

static void blockers_init(struct blockers *b, size_t reports) {
  b->handles = reports ? chan(sizeof(weft_task *), reports) : NULL;
  b->never = chan(sizeof(int), 0);
}

static void blockers_free(struct blockers *b) {
  ck_assert_int_eq(weft_chan_free(b->handles), 0);
  ck_assert_int_eq(weft_chan_free(b->never), 0);
}

static int blocked_end(struct blockers *b, int rc) {
  if (rc == WEFT_ECANCELED && weft_task_was_canceled(weft_self()) == 1)
    atomic_fetch_add(&b->canceled, 1);
  atomic_fetch_add(&b->finished, 1);
  return rc;
}

/* Sleeps until cancelled. */
static int sleeper(void *arg) {
  struct blockers *b = arg;
  if (b->handles)
    report_self(b->handles);
  return blocked_end(b, weft_sleep_until(-1));
}

/* Receives from a channel nobody sends on, until cancelled. */
static int receiver(void *arg) {
  struct blockers *b = arg;
  int v;
  if (b->handles)
    report_self(b->handles);
  return blocked_end(b, weft_chan_recv(b->never, &v, -1));
}

/* Cancelled, it fails with an error of its own (-ENOENT). */
static int late_failer(void *arg) {
  struct blockers *b = arg;
  int rc;
  if (b->handles)
    report_self(b->handles);
  rc = blocked_end(b, weft_sleep_until(-1));
  return rc == WEFT_ECANCELED ? -ENOENT : -EFAULT;
}

static int fail_eio(void *arg) {
  (void)arg;
  return -EIO;
}

/* Records whether it started cancelled, then sleeps until cancelled. */
struct probe {
  int canceled_at_start;
  int rc;
};

static int probe(void *arg) {
  struct probe *p = arg;
  p->canceled_at_start = weft_canceled();
  p->rc = weft_sleep_until(-1);
  return p->rc;
}

/* ---- every member succeeds ---- */

static atomic_int succeeded;

static int succeed(void *arg) {
  (void)arg;
  weft_yield();
  atomic_fetch_add(&succeeded, 1);
  return 0;
}

/* Named through weft_scope_go_ex's attributes. */
static int named(void *arg) {
  (void)arg;
  atomic_fetch_add(&succeeded, 1);
  return strcmp(weft_task_name(weft_self()), "member") == 0 ? 0 : -EINVAL;
}

static int all_succeed_body(void *arg) {
  weft_spawn_attr attr;
  weft_scope *s;
  (void)arg;
  ck_assert_int_eq(weft_scope_new(&s), 0);
  ck_assert_ptr_nonnull(s);
  for (int i = 0; i < 100; i++)
    ck_assert_int_eq(weft_scope_go(s, succeed, NULL), 0);
  weft_spawn_attr_init(&attr);
  attr.name = "member";
  attr.detached = 0; /* ignored: a member belongs to its scope */
  attr.stack_size = 64 * 1024;
  ck_assert_int_eq(weft_scope_go_ex(s, &attr, named, NULL), 0);
  ck_assert_int_eq(weft_scope_go_ex(s, NULL, succeed, NULL), 0);
  ck_assert_int_eq(weft_scope_wait(s, safe()), 0);
  ck_assert_int_eq(atomic_load(&succeeded), 102);
  ck_assert_int_eq(weft_scope_wait(s, 0), 0); /* nothing left: the outcome at once */
  ck_assert_int_eq(weft_scope_wait(s, -1), 0);
  ck_assert_int_eq(weft_scope_free(s), 0);

  /* an empty scope */
  ck_assert_int_eq(weft_scope_new(&s), 0);
  ck_assert_int_eq(weft_scope_wait(s, -1), 0);
  ck_assert_int_eq(weft_scope_free(s), 0);
  return 0;
}

START_TEST(test_scope_all_members_succeed) {
  ck_assert_int_eq(run_in_task(2, all_succeed_body, NULL), 0);
}
END_TEST

/* ---- the first failure is kept, the others are cancelled ---- */

static int first_failure_body(void *arg) {
  struct blockers b = {0};
  struct probe p = {0};
  weft_scope *s;
  (void)arg;
  blockers_init(&b, 3);
  ck_assert_int_eq(weft_scope_new(&s), 0);
  ck_assert_int_eq(weft_scope_go(s, sleeper, &b), 0);
  ck_assert_int_eq(weft_scope_go(s, receiver, &b), 0);
  ck_assert_int_eq(weft_scope_go(s, late_failer, &b), 0);
  ck_assert(park_all(b.handles, 3)); /* all three are blocked */
  ck_assert_int_eq(weft_scope_go(s, fail_eio, NULL), 0);
  /* -EIO came first; late_failer's -ENOENT, after the cancel, is not kept */
  ck_assert_int_eq(weft_scope_wait(s, safe()), -EIO);
  ck_assert_int_eq(atomic_load(&b.finished), 3);
  ck_assert_int_eq(atomic_load(&b.canceled), 3);

  /* The failure cancelled the scope for good: a member started now
   * starts cancelled, and the outcome stays the first failure. */
  ck_assert_int_eq(weft_scope_go(s, probe, &p), 0);
  ck_assert_int_eq(weft_scope_wait(s, safe()), -EIO);
  ck_assert_int_eq(p.canceled_at_start, 1);
  ck_assert_int_eq(p.rc, WEFT_ECANCELED);
  ck_assert_int_eq(weft_scope_free(s), 0);
  blockers_free(&b);
  return 0;
}

START_TEST(test_scope_first_failure_kept_and_others_cancelled) {
  ck_assert_int_eq(run_in_task(2, first_failure_body, NULL), 0);
}
END_TEST

/* A member returning WEFT_ECANCELED in a scope nobody cancelled fails it:
 * only the echo of a cancel of the scope is excused. */
static int claims_canceled(void *arg) {
  (void)arg;
  return WEFT_ECANCELED;
}

static int own_ecanceled_body(void *arg) {
  struct blockers b = {0};
  weft_scope *s;
  (void)arg;
  blockers_init(&b, 1);
  ck_assert_int_eq(weft_scope_new(&s), 0);
  ck_assert_int_eq(weft_scope_go(s, sleeper, &b), 0);
  ck_assert(park_all(b.handles, 1));
  ck_assert_int_eq(weft_scope_go(s, claims_canceled, NULL), 0);
  ck_assert_int_eq(weft_scope_wait(s, safe()), WEFT_ECANCELED);
  ck_assert_int_eq(atomic_load(&b.canceled), 1); /* it failed the scope */
  ck_assert_int_eq(weft_scope_free(s), 0);
  blockers_free(&b);
  return 0;
}

START_TEST(test_scope_member_ecanceled_before_any_cancel_is_a_failure) {
  ck_assert_int_eq(run_in_task(2, own_ecanceled_body, NULL), 0);
}
END_TEST

/* ---- ten thousand members cancelled by one failure ---- */

struct crowd {
  weft_wg *started; /* every member is done with it before it blocks */
  weft_chan *never;
  atomic_int ticket, canceled, finished;
};

static int crowd_member(void *arg) {
  struct crowd *c = arg;
  bool recv = atomic_fetch_add(&c->ticket, 1) % 2;
  int v, rc;
  CHECK_HOT(weft_wg_done(c->started) == 0);
  rc = recv ? weft_chan_recv(c->never, &v, -1) : weft_sleep_until(-1);
  if (rc == WEFT_ECANCELED)
    atomic_fetch_add(&c->canceled, 1);
  atomic_fetch_add(&c->finished, 1);
  return rc;
}

/* Fails once every other member has started. */
static int crowd_failer(void *arg) {
  struct crowd *c = arg;
  return weft_wg_wait(c->started, -1) == 0 ? -EIO : -EFAULT;
}

static int crowd_body(void *arg) {
  long n = *(long *)arg;
  struct crowd c = {0};
  weft_spawn_attr attr;
  weft_scope *s;
  ck_assert_int_eq(weft_wg_new(&c.started), 0);
  ck_assert_int_eq(weft_wg_add(c.started, n), 0);
  c.never = chan(sizeof(int), 0);
  weft_spawn_attr_init(&attr);
  attr.stack_size = 64 * 1024;
  ck_assert_int_eq(weft_scope_new(&s), 0);
  for (long i = 0; i < n; i++) {
    CHECK_HOT(weft_scope_go_ex(s, &attr, crowd_member, &c) == 0);
    if (i % 256 == 255)
      weft_yield(); /* a long loop: let this worker run the others too */
  }
  ck_assert_int_eq(weft_scope_go(s, crowd_failer, &c), 0);
  ck_assert_int_eq(weft_scope_wait(s, -1), -EIO);
  ck_assert_int_eq(atomic_load(&c.finished), n);
  ck_assert_int_eq(atomic_load(&c.canceled), n);
  ck_assert_int_eq(weft_scope_free(s), 0);
  ck_assert_int_eq(weft_wg_free(c.started), 0);
  ck_assert_int_eq(weft_chan_free(c.never), 0);
  return 0;
}

START_TEST(test_scope_ten_thousand_members_cancelled_by_one_failure) {
  long n = scaled(10000);
  ck_assert_int_eq(run_in_task(4, crowd_body, &n), 0);
}
END_TEST

/* ---- nested scopes cancelled from the top ---- */

/*
 * top owns a scope of NEST_K members; each member owns a scope of NEST_J
 * grandchildren sleeping until cancelled, and the first member's scope
 * also holds one shielded grandchild that finishes only when the test
 * opens the gate. The test cancels top alone: the cancel must reach every
 * grandchild, and top's wait must return WEFT_ECANCELED only once the
 * whole tree, the shielded one included, has finished.
 */
#define NEST_K 4
#define NEST_J 4

struct nest {
  weft_chan *handles; /* every member and grandchild reports itself */
  weft_chan *gate;    /* of int; lets the shielded grandchild go */
  atomic_int ticket;
  atomic_int g_canceled, g_finished;  /* grandchildren */
  atomic_int m_ecanceled, m_finished; /* members */
  int g_at_return, m_at_return;       /* what top saw when its wait returned */
  int shielded_ok;
};

static int nest_grandchild(void *arg) {
  struct nest *n = arg;
  int rc;
  report_self(n->handles);
  rc = weft_sleep_until(-1);
  if (rc == WEFT_ECANCELED && weft_task_was_canceled(weft_self()) == 1)
    atomic_fetch_add(&n->g_canceled, 1);
  atomic_fetch_add(&n->g_finished, 1);
  return rc;
}

static int nest_shielded(void *arg) {
  struct nest *n = arg;
  int v = 0, rc;
  weft_cancel_shield(1);
  report_self(n->handles);
  rc = weft_chan_recv(n->gate, &v, -1);
  n->shielded_ok =
      rc == 0 && v == 1 && weft_canceled() == 0 && weft_task_was_canceled(weft_self()) == 1;
  weft_cancel_shield(0);
  atomic_fetch_add(&n->g_finished, 1);
  return 0;
}

static int nest_member(void *arg) {
  struct nest *n = arg;
  weft_scope *s;
  int rc;
  CHECK_HOT(weft_scope_new(&s) == 0);
  for (int j = 0; j < NEST_J; j++)
    CHECK_HOT(weft_scope_go(s, nest_grandchild, n) == 0);
  if (atomic_fetch_add(&n->ticket, 1) == 0)
    CHECK_HOT(weft_scope_go(s, nest_shielded, n) == 0);
  report_self(n->handles);
  rc = weft_scope_wait(s, -1);
  if (rc == WEFT_ECANCELED)
    atomic_fetch_add(&n->m_ecanceled, 1);
  CHECK_HOT(weft_scope_free(s) == 0);
  atomic_fetch_add(&n->m_finished, 1);
  return rc;
}

static void *nest_top(void *arg) {
  struct nest *n = arg;
  weft_scope *s;
  int rc;
  CHECK_HOT(weft_scope_new(&s) == 0);
  for (int k = 0; k < NEST_K; k++)
    CHECK_HOT(weft_scope_go(s, nest_member, n) == 0);
  rc = weft_scope_wait(s, -1);
  n->g_at_return = atomic_load(&n->g_finished);
  n->m_at_return = atomic_load(&n->m_finished);
  CHECK_HOT(weft_scope_free(s) == 0);
  return V(rc);
}

static int nested_body(void *arg) {
  struct nest n = {0};
  weft_task *top;
  weft_chan *top_done;
  int one = 1;
  void *r;
  (void)arg;
  n.handles = chan(sizeof(weft_task *), NEST_K + NEST_K * NEST_J + 1);
  n.gate = chan(sizeof(int), 1);
  ck_assert_int_eq(weft_spawn(&top, nest_top, &n), 0);
  ck_assert_int_eq(weft_task_done(top, &top_done), 0);
  ck_assert(park_all(n.handles, NEST_K + NEST_K * NEST_J + 1)); /* the whole tree */
  ck_assert(wait_parked(top, safe()));
  ck_assert_int_eq(weft_cancel(top), 0);
  /* Every grandchild but the shielded one sees the cancel. */
  ck_assert(reaches(&n.g_finished, NEST_K * NEST_J));
  ck_assert_int_eq(atomic_load(&n.g_canceled), NEST_K * NEST_J);
  /* The shielded one still runs, so top still waits. */
  ck_assert_int_eq(weft_chan_try_recv(top_done, NULL), WEFT_EAGAIN);
  ck_assert_int_eq(weft_chan_send(n.gate, &one, safe()), 0);
  ck_assert_int_eq(weft_join(top, &r), 0);
  ck_assert_int_eq(I(r), WEFT_ECANCELED);
  /* top's wait returned after everything below it had finished */
  ck_assert_int_eq(n.g_at_return, NEST_K * NEST_J + 1);
  ck_assert_int_eq(n.m_at_return, NEST_K);
  ck_assert_int_eq(atomic_load(&n.m_ecanceled), NEST_K);
  ck_assert(n.shielded_ok);
  ck_assert_int_eq(weft_chan_free(n.handles), 0);
  ck_assert_int_eq(weft_chan_free(n.gate), 0);
  return 0;
}

START_TEST(test_scope_nested_cancelled_from_the_top) {
  ck_assert_int_eq(run_in_task(2, nested_body, NULL), 0);
}
END_TEST

/* ---- members start members of their own scope ---- */

static weft_scope *tree_scope;
static atomic_int tree_count;

/* Counts itself and starts two members one level down. */
static int tree_member(void *arg) {
  long depth = I(arg);
  atomic_fetch_add(&tree_count, 1);
  weft_yield();
  for (int i = 0; depth > 0 && i < 2; i++)
    if (weft_scope_go(tree_scope, tree_member, V(depth - 1)) != 0)
      return -EIO;
  return 0;
}

/* A leaf deep in the tree fails; the siblings are cancelled. */
static int failing_tree_member(void *arg) {
  long depth = I(arg);
  if (depth == 0)
    return -EIO;
  CHECK_HOT(weft_scope_go(tree_scope, failing_tree_member, V(depth - 1)) == 0);
  return weft_sleep_until(-1); /* WEFT_ECANCELED: not a failure */
}

static int tree_body(void *arg) {
  (void)arg;
  ck_assert_int_eq(weft_scope_new(&tree_scope), 0);
  ck_assert_int_eq(weft_scope_go(tree_scope, tree_member, V(6)), 0);
  ck_assert_int_eq(weft_scope_wait(tree_scope, safe()), 0);
  ck_assert_int_eq(atomic_load(&tree_count), 127); /* 2^7 - 1 */
  ck_assert_int_eq(weft_scope_free(tree_scope), 0);

  ck_assert_int_eq(weft_scope_new(&tree_scope), 0);
  ck_assert_int_eq(weft_scope_go(tree_scope, failing_tree_member, V(10)), 0);
  ck_assert_int_eq(weft_scope_wait(tree_scope, safe()), -EIO);
  ck_assert_int_eq(weft_scope_free(tree_scope), 0);
  return 0;
}

START_TEST(test_scope_members_start_members) {
  ck_assert_int_eq(run_in_task(2, tree_body, NULL), 0);
}
END_TEST

/* ---- a deadline: WEFT_ETIMEDOUT, the members keep running ---- */

struct gated {
  weft_chan *gate; /* of int */
  atomic_int finished;
};

/* Returns 0 once it receives 7. */
static int gated_member(void *arg) {
  struct gated *g = arg;
  int v = 0, rc = weft_chan_recv(g->gate, &v, -1);
  atomic_store(&g->finished, 1);
  return rc == 0 && v == 7 ? 0 : -EIO;
}

static int deadline_body(void *arg) {
  struct gated g = {.gate = chan(sizeof(int), 1)};
  weft_scope *s;
  int seven = 7;
  (void)arg;
  ck_assert_int_eq(weft_scope_new(&s), 0);
  ck_assert_int_eq(weft_scope_go(s, gated_member, &g), 0);
  ck_assert_int_eq(weft_scope_wait(s, weft_now() + 30), WEFT_ETIMEDOUT);
  ck_assert_int_eq(atomic_load(&g.finished), 0);           /* it needs the gate */
  ck_assert_int_eq(weft_scope_wait(s, 0), WEFT_ETIMEDOUT); /* past: at once */
  ck_assert_int_eq(weft_scope_wait(s, weft_now() - 1000), WEFT_ETIMEDOUT);
  /* it kept running: it takes the value and succeeds */
  ck_assert_int_eq(weft_chan_send(g.gate, &seven, safe()), 0);
  ck_assert_int_eq(weft_scope_wait(s, -1), 0);
  ck_assert_int_eq(atomic_load(&g.finished), 1);
  ck_assert_int_eq(weft_scope_free(s), 0);
  ck_assert_int_eq(weft_chan_free(g.gate), 0);
  return 0;
}

START_TEST(test_scope_wait_deadline_then_wait_again) {
  ck_assert_int_eq(run_in_task(2, deadline_body, NULL), 0);
}
END_TEST

/* ---- weft_scope_cancel ---- */

static void *cancel_scope_task(void *arg) {
  return V(weft_scope_cancel(arg));
}

static int cancel_body(void *arg) {
  struct blockers b = {0};
  struct probe p = {0};
  weft_scope *s;
  weft_task *t;
  void *r;
  (void)arg;
  blockers_init(&b, 3);
  ck_assert_int_eq(weft_scope_new(&s), 0);
  ck_assert_int_eq(weft_scope_go(s, sleeper, &b), 0);
  ck_assert_int_eq(weft_scope_go(s, receiver, &b), 0);
  ck_assert(park_all(b.handles, 2));
  /* any task of the runtime may cancel it */
  ck_assert_int_eq(weft_spawn(&t, cancel_scope_task, s), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq(I(r), 0);
  /* a member started after the cancel starts cancelled */
  ck_assert_int_eq(weft_scope_go(s, probe, &p), 0);
  ck_assert_int_eq(weft_scope_wait(s, safe()), WEFT_ECANCELED);
  ck_assert_int_eq(atomic_load(&b.canceled), 2);
  ck_assert_int_eq(p.canceled_at_start, 1);
  ck_assert_int_eq(p.rc, WEFT_ECANCELED);
  ck_assert_int_eq(weft_scope_cancel(s), 0); /* again: harmless */
  ck_assert_int_eq(weft_scope_wait(s, safe()), WEFT_ECANCELED);
  ck_assert_int_eq(weft_scope_free(s), 0);

  /* A member that fails with an error of its own after the cancel: its
   * failure, not WEFT_ECANCELED, is the outcome. */
  ck_assert_int_eq(weft_scope_new(&s), 0);
  ck_assert_int_eq(weft_scope_go(s, late_failer, &b), 0);
  ck_assert(park_all(b.handles, 1));
  ck_assert_int_eq(weft_scope_cancel(s), 0);
  ck_assert_int_eq(weft_scope_wait(s, safe()), -ENOENT);
  ck_assert_int_eq(weft_scope_free(s), 0);
  blockers_free(&b);
  return 0;
}

START_TEST(test_scope_cancel_and_members_started_after_it) {
  ck_assert_int_eq(run_in_task(2, cancel_body, NULL), 0);
}
END_TEST

/* ---- weft_scope_free cancels and waits ---- */

struct held {
  weft_chan *handles, *gate;
  atomic_int finished;
  int got;
};

/* Shielded: it finishes only when the gate opens, cancel or no cancel. */
static int held_member(void *arg) {
  struct held *h = arg;
  int v = 0, rc;
  weft_cancel_shield(1);
  report_self(h->handles);
  rc = weft_chan_recv(h->gate, &v, safe());
  h->got = rc == 0 ? v : rc;
  atomic_store(&h->finished, 1);
  return 0;
}

struct releaser {
  weft_task *waiter;
  weft_chan *gate;
};

/* Sends 1 on the gate once the waiter is parked. */
static void *releaser(void *arg) {
  struct releaser *r = arg;
  int one = 1;
  if (!wait_parked(r->waiter, safe()))
    return V(0);
  return V(weft_chan_send(r->gate, &one, safe()) == 0);
}

static int free_body(void *arg) {
  struct blockers b = {0};
  struct held h = {0};
  struct releaser rel;
  weft_scope *s;
  weft_task *t;
  void *r;
  (void)arg;
  blockers_init(&b, 0);
  ck_assert_int_eq(weft_scope_new(&s), 0);
  for (int i = 0; i < 50; i++)
    ck_assert_int_eq(weft_scope_go(s, i % 2 ? receiver : sleeper, &b), 0);
  ck_assert_int_eq(weft_scope_free(s), 0);
  ck_assert_int_eq(atomic_load(&b.finished), 50);
  ck_assert_int_eq(atomic_load(&b.canceled), 50);

  /* Not interruptible: the owner, cancelled, still waits in free for a
   * member that takes its time. */
  h.handles = chan(sizeof(weft_task *), 1);
  h.gate = chan(sizeof(int), 1);
  ck_assert_int_eq(weft_scope_new(&s), 0);
  ck_assert_int_eq(weft_scope_go(s, held_member, &h), 0);
  ck_assert(park_all(h.handles, 1));
  ck_assert_int_eq(weft_cancel(weft_self()), 0);
  rel.waiter = weft_self();
  rel.gate = h.gate;
  ck_assert_int_eq(weft_spawn(&t, releaser, &rel), 0);
  ck_assert_int_eq(weft_scope_free(s), 0);
  ck_assert_int_eq(atomic_load(&h.finished), 1);
  ck_assert_int_eq(h.got, 1);
  ck_assert_int_eq(weft_cancel_shield(1), 0); /* to join while cancelled */
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq(I(r), 1);
  ck_assert_int_eq(weft_cancel_shield(0), 1);
  blockers_free(&b);
  ck_assert_int_eq(weft_chan_free(h.handles), 0);
  ck_assert_int_eq(weft_chan_free(h.gate), 0);
  return 0;
}

START_TEST(test_scope_free_cancels_and_waits) {
  ck_assert_int_eq(run_in_task(2, free_body, NULL), 0);
}
END_TEST

/* ---- a task returns without freeing its scope ---- */

#define LEFT_MEMBERS 20

static void *leaves_scope(void *arg) {
  struct blockers *b = arg;
  weft_scope *s;
  CHECK_HOT(weft_scope_new(&s) == 0);
  for (int i = 0; i < LEFT_MEMBERS; i++)
    CHECK_HOT(weft_scope_go(s, i % 2 ? receiver : sleeper, b) == 0);
  return V(123); /* no weft_scope_free */
}

static int leaked_scope_body(void *arg) {
  struct blockers b = {0};
  weft_task *t;
  void *r;
  (void)arg;
  blockers_init(&b, 0);
  ck_assert_int_eq(weft_spawn(&t, leaves_scope, &b), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq(I(r), 123);
  /* the members were cancelled and had finished when the join returned */
  ck_assert_int_eq(atomic_load(&b.finished), LEFT_MEMBERS);
  ck_assert_int_eq(atomic_load(&b.canceled), LEFT_MEMBERS);
  blockers_free(&b);
  return 0;
}

START_TEST(test_scope_left_by_its_task_is_freed_before_the_join_returns) {
  ck_assert_int_eq(run_in_task(2, leaked_scope_body, NULL), 0);
}
END_TEST

/* A member that leaves a scope of its own: that scope's members are
 * cancelled and finished before the member counts as finished, so the
 * outer wait never returns while they run. */
static struct blockers *left_by_member;

static int member_leaves_scope(void *arg) {
  (void)arg;
  return leaves_scope(left_by_member) == V(123) ? 0 : -EIO;
}

static int member_leaked_scope_body(void *arg) {
  struct blockers b = {0};
  weft_scope *s;
  (void)arg;
  blockers_init(&b, 0);
  left_by_member = &b;
  ck_assert_int_eq(weft_scope_new(&s), 0);
  ck_assert_int_eq(weft_scope_go(s, member_leaves_scope, NULL), 0);
  ck_assert_int_eq(weft_scope_wait(s, -1), 0); /* their WEFT_ECANCELED was no failure */
  ck_assert_int_eq(atomic_load(&b.finished), LEFT_MEMBERS);
  ck_assert_int_eq(atomic_load(&b.canceled), LEFT_MEMBERS);
  ck_assert_int_eq(weft_scope_free(s), 0);
  blockers_free(&b);
  return 0;
}

START_TEST(test_scope_left_by_a_member_is_freed_before_the_outer_wait_returns) {
  ck_assert_int_eq(run_in_task(2, member_leaked_scope_body, NULL), 0);
}
END_TEST

/* ---- bad input ---- */

/* Another task of the runtime: neither wait nor free is its to call. */
static void *not_the_owner(void *arg) {
  weft_scope *s = arg;
  if (weft_scope_wait(s, -1) != WEFT_EPERM || weft_scope_wait(s, 0) != WEFT_EPERM)
    return V(0);
  return V(weft_scope_free(s) == WEFT_EPERM);
}

struct plain_calls {
  weft_scope *s;
  int go_rc, wait_rc, free_rc, new_rc;
  bool new_nulled;
};

/* A plain thread, outside any task. */
static void *plain_thread(void *arg) {
  struct plain_calls *p = arg;
  weft_scope *x = (weft_scope *)p;
  p->go_rc = weft_scope_go(p->s, succeed, NULL);
  p->wait_rc = weft_scope_wait(p->s, -1);
  p->free_rc = weft_scope_free(p->s);
  p->new_rc = weft_scope_new(&x);
  p->new_nulled = x == NULL;
  return NULL;
}

static int scope_errors_body(void *arg) {
  struct plain_calls p = {0};
  weft_spawn_attr attr;
  weft_scope *s;
  pthread_t th;
  weft_task *t;
  void *r;
  (void)arg;
  ck_assert_int_eq(weft_scope_new(NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_scope_new(&s), 0);
  ck_assert_int_eq(weft_scope_go(NULL, succeed, NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_scope_go(s, NULL, NULL), WEFT_EINVAL);
  weft_spawn_attr_init(&attr);
  ck_assert_int_eq(weft_scope_go_ex(NULL, &attr, succeed, NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_scope_go_ex(s, &attr, NULL, NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_scope_cancel(NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_scope_wait(NULL, -1), WEFT_EINVAL);
  ck_assert_int_eq(weft_scope_free(NULL), WEFT_EINVAL);

  ck_assert_int_eq(weft_spawn(&t, not_the_owner, s), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq(I(r), 1);

  /* The thread runs a few calls that return at once; joining it holds
   * this worker for that long only. */
  p.s = s;
  ck_assert_int_eq(pthread_create(&th, NULL, plain_thread, &p), 0);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_int_eq(p.go_rc, WEFT_EPERM);
  ck_assert_int_eq(p.wait_rc, WEFT_EPERM);
  ck_assert_int_eq(p.free_rc, WEFT_EPERM);
  ck_assert_int_eq(p.new_rc, WEFT_EPERM);
  ck_assert(p.new_nulled);

  ck_assert_int_eq(weft_scope_wait(s, 0), 0); /* nothing started */
  ck_assert_int_eq(weft_scope_free(s), 0);
  return 0;
}

START_TEST(test_scope_errors) {
  weft_scope *s = (weft_scope *)&s;
  ck_assert_int_eq(weft_scope_new(&s), WEFT_EPERM); /* outside a task */
  ck_assert_ptr_null(s);
  ck_assert_int_eq(weft_scope_wait(NULL, -1), WEFT_EINVAL);
  ck_assert_int_eq(run_in_task(2, scope_errors_body, NULL), 0);
}
END_TEST

/* A scope of one runtime cannot start members from a task of another. */
static struct {
  _Atomic(weft_scope *) s;
  atomic_int other_done;
  int go_rc, wait_rc;
} xrt;

static void *xrt_owner(void *arg) {
  weft_scope *s;
  (void)arg;
  CHECK_HOT(weft_scope_new(&s) == 0);
  atomic_store(&xrt.s, s);
  weft_sleep_until(-1); /* until the test cancels it */
  CHECK_HOT(weft_scope_free(s) == 0);
  return NULL;
}

static void *xrt_other(void *arg) {
  weft_scope *s = atomic_load(&xrt.s);
  (void)arg;
  xrt.go_rc = weft_scope_go(s, succeed, NULL);
  xrt.wait_rc = weft_scope_wait(s, -1);
  return NULL;
}

START_TEST(test_scope_of_another_runtime_is_refused) {
  weft_config cfg;
  weft_rt *a, *b;
  weft_task *owner;
  int64_t end;
  weft_config_init(&cfg);
  cfg.workers = 1;
  ck_assert_int_eq(weft_rt_new(&a, &cfg), 0);
  ck_assert_int_eq(weft_rt_new(&b, &cfg), 0);
  ck_assert_int_eq(weft_rt_spawn(a, &owner, xrt_owner, NULL), 0);
  for (end = weft_now() + SAFE_MS; !atomic_load(&xrt.s) && weft_now() < end;)
    sched_yield();
  ck_assert_ptr_nonnull(atomic_load(&xrt.s));
  ck_assert_int_eq(weft_rt_spawn(b, NULL, xrt_other, NULL), 0);
  ck_assert_int_eq(weft_rt_wait(b), 0);
  ck_assert_int_eq(xrt.go_rc, WEFT_EINVAL);
  ck_assert_int_eq(xrt.wait_rc, WEFT_EPERM);
  ck_assert_int_eq(weft_cancel(owner), 0);
  ck_assert_int_eq(weft_detach(owner), 0);
  ck_assert_int_eq(weft_rt_free(a), 0);
  ck_assert_int_eq(weft_rt_free(b), 0);
}
END_TEST

/* ================================================================== */
/* weft_join_until                                                     */
/* ================================================================== */

static int join_until_body(void *arg) {
  weft_chan *gate = chan(sizeof(int), 1);
  weft_task *t;
  int five = 5, seven = 7;
  void *r = V(-1);
  (void)arg;
  ck_assert_int_eq(weft_spawn(&t, recv_one, gate), 0);
  ck_assert_int_eq(weft_join_until(t, &r, weft_now() + 30), WEFT_ETIMEDOUT);
  ck_assert_int_eq(I(r), -1);                                  /* untouched */
  ck_assert_int_eq(weft_join_until(t, &r, 0), WEFT_ETIMEDOUT); /* past: at once */
  ck_assert_int_eq(weft_join_until(t, &r, weft_now() - 1000), WEFT_ETIMEDOUT);
  /* still joinable */
  ck_assert_int_eq(weft_chan_send(gate, &five, safe()), 0);
  ck_assert_int_eq(weft_join_until(t, &r, safe()), 0);
  ck_assert_int_eq(I(r), 5);

  /* without a deadline it is weft_join */
  ck_assert_int_eq(weft_spawn(&t, identity, V(8)), 0);
  ck_assert_int_eq(weft_join_until(t, &r, -1), 0);
  ck_assert_int_eq(I(r), 8);

  ck_assert_int_eq(weft_join_until(NULL, &r, -1), WEFT_EINVAL);
  ck_assert_int_eq(weft_join_until(weft_self(), &r, -1), WEFT_EDEADLK);

  /* a cancelled caller: WEFT_ECANCELED, and the task stays joinable */
  ck_assert_int_eq(weft_spawn(&t, recv_one, gate), 0);
  ck_assert_int_eq(weft_cancel(weft_self()), 0);
  ck_assert_int_eq(weft_join_until(t, &r, safe()), WEFT_ECANCELED);
  ck_assert_int_eq(weft_chan_send(gate, &seven, safe()), 0); /* room: completes */
  ck_assert_int_eq(weft_cancel_shield(1), 0);
  ck_assert_int_eq(weft_join_until(t, &r, safe()), 0);
  ck_assert_int_eq(I(r), 7);
  ck_assert_int_eq(weft_chan_free(gate), 0);
  return 0;
}

START_TEST(test_join_until_deadline_then_join) {
  void *r;
  ck_assert_int_eq(weft_join_until((weft_task *)&r, &r, -1), WEFT_EPERM); /* outside */
  ck_assert_int_eq(run_in_task(2, join_until_body, NULL), 0);
}
END_TEST

/* One worker: after weft_yield the task has run to its end. */
static int join_until_finished_body(void *arg) {
  weft_task *t;
  void *r;
  (void)arg;
  ck_assert_int_eq(weft_spawn(&t, identity, V(3)), 0);
  weft_yield();
  ck_assert_int_eq(weft_join_until(t, &r, weft_now() - 1000), 0); /* past, but finished */
  ck_assert_int_eq(I(r), 3);
  ck_assert_int_eq(weft_spawn(&t, identity, V(4)), 0);
  weft_yield();
  ck_assert_int_eq(weft_join_until(t, &r, 0), 0);
  ck_assert_int_eq(I(r), 4);
  return 0;
}

START_TEST(test_join_until_past_deadline_on_finished_task) {
  ck_assert_int_eq(run_in_task(1, join_until_finished_body, NULL), 0);
}
END_TEST

/*
 * weft_task_done's channel is closed "when t finishes", and
 * weft_join_until with a past deadline succeeds "unless t has finished":
 * so once the done channel is closed, a join that does not wait must
 * succeed, as in "select the first task done, then join it". The window
 * is narrow, so many tasks are tried: up to n, for at most 2 seconds (the
 * budget bounds the work under sanitizers, not the outcome).
 */
static int join_after_done_body(void *arg) {
  long n = *(long *)arg, i, early = 0;
  int64_t budget_end = weft_now() + 2000;
  for (i = 0; i < n && !early && weft_now() < budget_end; i++) {
    weft_task *t;
    weft_chan *done;
    void *r;
    int rc;
    CHECK_HOT(weft_spawn(&t, identity, V(i)) == 0);
    CHECK_HOT(weft_task_done(t, &done) == 0);
    CHECK_HOT(weft_chan_recv(done, NULL, -1) == WEFT_EPIPE);
    if ((rc = weft_join_until(t, &r, 0)) == WEFT_ETIMEDOUT) {
      early++;
      rc = weft_join(t, &r);
    }
    CHECK_HOT(rc == 0 && I(r) == i);
  }
  ck_assert_msg(early == 0,
                "task %ld of %ld: weft_join_until with a past deadline returned WEFT_ETIMEDOUT "
                "after the task's done channel was closed",
                i, n);
  return 0;
}

START_TEST(test_join_until_past_deadline_after_done_channel_closed) {
  long n = scaled(500000);
  ck_assert_int_eq(run_in_task(2, join_after_done_body, &n), 0);
}
END_TEST

/* ================================================================== */
/* weft_task_done                                                      */
/* ================================================================== */

#define DONE_N 100

static int select_done_body(void *arg) {
  weft_task *t[DONE_N];
  weft_chan *rel[DONE_N];
  weft_select_case cases[DONE_N];
  void *r;
  (void)arg;
  for (int i = 0; i < DONE_N; i++) {
    rel[i] = chan(0, 0);
    ck_assert_int_eq(weft_spawn(&t[i], wait_closed, rel[i]), 0);
    cases[i].op = WEFT_SELECT_RECV;
    cases[i].elem = NULL;
    ck_assert_int_eq(weft_task_done(t[i], &cases[i].chan), 0);
  }
  /* every task waits for its release: none has finished */
  ck_assert_int_eq(weft_select(cases, DONE_N, 0), WEFT_ETIMEDOUT);
  /* release them one by one, in an order of our own (37 is prime to 100):
   * each time the select finds exactly the one released */
  for (int k = 0; k < DONE_N; k++) {
    int i = (k * 37 + 11) % DONE_N;
    ck_assert_int_eq(weft_chan_close(rel[i]), 0);
    ck_assert_int_eq(weft_select(cases, DONE_N, safe()), i);
    ck_assert_int_eq(cases[i].result, WEFT_EPIPE);
    cases[i].chan = NULL; /* a NULL channel is never ready */
  }
  for (int i = 0; i < DONE_N; i++) {
    ck_assert_int_eq(weft_join(t[i], &r), 0);
    ck_assert_int_eq(I(r), WEFT_EPIPE);
    ck_assert_int_eq(weft_chan_free(rel[i]), 0);
  }
  return 0;
}

START_TEST(test_task_done_select_over_100_channels) {
  ck_assert_int_eq(run_in_task(4, select_done_body, NULL), 0);
}
END_TEST

static int done_channel_body(void *arg) {
  weft_chan *rel = chan(0, 0), *c = NULL, *c2 = NULL;
  weft_select_case k;
  weft_task *t;
  void *r;
  (void)arg;
  /* A finished task (one worker: weft_yield let it run to its end). */
  ck_assert_int_eq(weft_spawn(&t, identity, V(4)), 0);
  weft_yield();
  ck_assert_int_eq(weft_task_done(t, &c), 0);
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(weft_chan_try_recv(c, NULL), WEFT_EPIPE); /* closed already */
  ck_assert_int_eq(weft_chan_recv(c, NULL, safe()), WEFT_EPIPE);
  ck_assert_int_eq(weft_task_done(t, &c2), 0);
  ck_assert_ptr_eq(c2, c);
  k = (weft_select_case){.chan = c, .op = WEFT_SELECT_RECV};
  ck_assert_int_eq(weft_select(&k, 1, 0), 0);
  ck_assert_int_eq(k.result, WEFT_EPIPE);
  ck_assert_int_eq(weft_chan_cap(c), 0);
  ck_assert_int_eq(weft_join(t, &r), 0); /* it does not consume the join */
  ck_assert_int_eq(I(r), 4);

  /* A running task: the same channel each time, open until it finishes. */
  ck_assert_int_eq(weft_spawn(&t, wait_closed, rel), 0);
  ck_assert_int_eq(weft_task_done(t, &c), 0);
  ck_assert_int_eq(weft_task_done(t, &c2), 0);
  ck_assert_ptr_eq(c2, c);
  ck_assert_int_eq(weft_chan_try_recv(c, NULL), WEFT_EAGAIN);
  ck_assert_int_eq(weft_chan_close(rel), 0);
  ck_assert_int_eq(weft_chan_recv(c, NULL, safe()), WEFT_EPIPE);
  ck_assert_int_eq(weft_join(t, NULL), 0);

  ck_assert_int_eq(weft_task_done(NULL, &c), WEFT_EINVAL);
  ck_assert_ptr_null(c);
  ck_assert_int_eq(weft_spawn(&t, identity, NULL), 0);
  ck_assert_int_eq(weft_task_done(t, NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_join(t, NULL), 0);
  ck_assert_int_eq(weft_chan_free(rel), 0);
  return 0;
}

START_TEST(test_task_done_finished_task_and_same_channel) {
  ck_assert_int_eq(run_in_task(1, done_channel_body, NULL), 0);
}
END_TEST

/* ================================================================== */
/* weft_task_on_done                                                   */
/* ================================================================== */

struct cblog {
  weft_chan *log;     /* of int: each callback sends its letter at its end */
  weft_chan *started; /* of int: A has started */
  weft_chan *gate_a;  /* of int: lets A finish */
  atomic_int a_done, b_done;
  int b_saw_a_done, c_saw_b_done;
  weft_task *expect_t;
  void *expect_result;
  int expect_canceled;
  atomic_int args_ok; /* callbacks that got the expected t, result, canceled */
};

static void cb_args(struct cblog *l, weft_task *t, void *result, int canceled) {
  if (t == l->expect_t && result == l->expect_result && canceled == l->expect_canceled)
    atomic_fetch_add(&l->args_ok, 1);
}

static void cb_log(struct cblog *l, int letter) {
  CHECK_HOT(weft_chan_send(l->log, &letter, safe()) == 0);
}

/* Blocks until the test opens gate_a. */
static void cb_a(weft_task *t, void *result, int canceled, void *arg) {
  struct cblog *l = arg;
  int one = 1, v;
  cb_args(l, t, result, canceled);
  CHECK_HOT(weft_chan_send(l->started, &one, safe()) == 0);
  CHECK_HOT(weft_chan_recv(l->gate_a, &v, safe()) == 0);
  atomic_store(&l->a_done, 1);
  cb_log(l, 'A');
}

static void cb_b(weft_task *t, void *result, int canceled, void *arg) {
  struct cblog *l = arg;
  cb_args(l, t, result, canceled);
  l->b_saw_a_done = atomic_load(&l->a_done);
  atomic_store(&l->b_done, 1);
  cb_log(l, 'B');
}

static void cb_c(weft_task *t, void *result, int canceled, void *arg) {
  struct cblog *l = arg;
  cb_args(l, t, result, canceled);
  l->c_saw_b_done = atomic_load(&l->b_done);
  cb_log(l, 'C');
}

static void cblog_init(struct cblog *l) {
  l->log = chan(sizeof(int), 8);
  l->started = chan(sizeof(int), 1);
  l->gate_a = chan(sizeof(int), 1);
}

static void cblog_free(struct cblog *l) {
  ck_assert_int_eq(weft_chan_free(l->log), 0);
  ck_assert_int_eq(weft_chan_free(l->started), 0);
  ck_assert_int_eq(weft_chan_free(l->gate_a), 0);
}

static int on_done_order_body(void *arg) {
  struct cblog l = {0};
  weft_chan *gate = chan(sizeof(int), 1);
  weft_task *t;
  int v, fortytwo = 42, one = 1;
  void *r;
  (void)arg;
  cblog_init(&l);
  ck_assert_int_eq(weft_spawn(&t, recv_one, gate), 0);
  l.expect_t = t;
  l.expect_result = V(42);
  l.expect_canceled = 0;
  ck_assert_int_eq(weft_task_on_done(t, cb_a, &l), 0);
  ck_assert_int_eq(weft_task_on_done(t, cb_b, &l), 0);
  ck_assert_int_eq(weft_task_on_done(t, cb_c, &l), 0);
  ck_assert_int_eq(weft_chan_send(gate, &fortytwo, safe()), 0); /* t returns 42 */
  ck_assert_int_eq(weft_chan_recv(l.started, &v, safe()), 0);   /* A runs, and blocks */
  ck_assert_int_eq(weft_chan_len(l.log), 0);                    /* B waits behind it */
  ck_assert_int_eq(weft_chan_send(l.gate_a, &one, safe()), 0);
  for (const char *want = "ABC"; *want; want++) {
    ck_assert_int_eq(weft_chan_recv(l.log, &v, safe()), 0);
    ck_assert_int_eq(v, *want);
  }
  ck_assert_int_eq(l.b_saw_a_done, 1); /* one after another */
  ck_assert_int_eq(l.c_saw_b_done, 1);
  ck_assert_int_eq(atomic_load(&l.args_ok), 3);
  /* the join is still there */
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq(I(r), 42);
  cblog_free(&l);
  ck_assert_int_eq(weft_chan_free(gate), 0);
  return 0;
}

START_TEST(test_task_on_done_callbacks_run_in_order_one_at_a_time) {
  ck_assert_int_eq(run_in_task(2, on_done_order_body, NULL), 0);
}
END_TEST

/* Records its arguments and sends its letter. */
struct seen {
  weft_chan *log;
  weft_task *t;
  void *result;
  int canceled;
};

static void cb_record(weft_task *t, void *result, int canceled, void *arg) {
  struct seen *s = arg;
  int letter = 'R';
  s->t = t;
  s->result = result;
  s->canceled = canceled;
  CHECK_HOT(weft_chan_send(s->log, &letter, safe()) == 0);
}

static void expect_record(struct seen *s, weft_task *t, void *result, int canceled) {
  int v;
  ck_assert_int_eq(weft_chan_recv(s->log, &v, safe()), 0);
  ck_assert_int_eq(v, 'R');
  ck_assert_ptr_eq(s->t, t);
  ck_assert_ptr_eq(s->result, result);
  ck_assert_int_eq(s->canceled, canceled);
}

static int on_done_finished_body(void *arg) {
  struct seen s = {.log = chan(sizeof(int), 4)};
  weft_chan *done, *gate = chan(sizeof(int), 1);
  weft_task *t;
  int nine = 9;
  void *r;
  (void)arg;
  /* a task that has finished already: the callback is scheduled at once */
  ck_assert_int_eq(weft_spawn(&t, identity, V(5)), 0);
  ck_assert_int_eq(weft_task_done(t, &done), 0);
  ck_assert_int_eq(weft_chan_recv(done, NULL, safe()), WEFT_EPIPE);
  ck_assert_int_eq(weft_task_on_done(t, cb_record, &s), 0);
  expect_record(&s, t, V(5), 0);
  ck_assert_int_eq(weft_task_on_done(t, cb_record, &s), 0); /* and again, later */
  expect_record(&s, t, V(5), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq(I(r), 5);

  /* a cancelled task: canceled is 1 */
  ck_assert_int_eq(weft_spawn(&t, sleep_forever, NULL), 0);
  ck_assert_int_eq(weft_task_on_done(t, cb_record, &s), 0);
  ck_assert(wait_parked(t, safe()));
  ck_assert_int_eq(weft_cancel(t), 0);
  expect_record(&s, t, V(WEFT_ECANCELED), 1);
  ck_assert_int_eq(weft_join(t, NULL), 0);

  /* a detached task: the callback still runs */
  ck_assert_int_eq(weft_spawn(&t, recv_one, gate), 0);
  ck_assert_int_eq(weft_task_on_done(t, cb_record, &s), 0);
  ck_assert_int_eq(weft_detach(t), 0);
  ck_assert_int_eq(weft_chan_send(gate, &nine, safe()), 0);
  expect_record(&s, t, V(9), 0);

  ck_assert_int_eq(weft_task_on_done(NULL, cb_record, &s), WEFT_EINVAL);
  ck_assert_int_eq(weft_spawn(&t, identity, NULL), 0);
  ck_assert_int_eq(weft_task_on_done(t, NULL, NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_join(t, NULL), 0);
  ck_assert_int_eq(weft_chan_free(s.log), 0);
  ck_assert_int_eq(weft_chan_free(gate), 0);
  return 0;
}

START_TEST(test_task_on_done_finished_cancelled_and_detached_tasks) {
  ck_assert_int_eq(run_in_task(2, on_done_finished_body, NULL), 0);
}
END_TEST

/* ================================================================== */
/* weft_task_was_canceled                                              */
/* ================================================================== */

static int was_canceled_body(void *arg) {
  weft_chan *gate = chan(sizeof(int), 1), *done;
  weft_task *t;
  void *r;
  (void)arg;
  ck_assert_int_eq(weft_task_was_canceled(NULL), WEFT_EINVAL);
  ck_assert_int_eq(weft_task_was_canceled(weft_self()), 0);
  /* never cancelled, finished */
  ck_assert_int_eq(weft_spawn(&t, identity, V(1)), 0);
  ck_assert_int_eq(weft_task_done(t, &done), 0);
  ck_assert_int_eq(weft_chan_recv(done, NULL, safe()), WEFT_EPIPE);
  ck_assert_int_eq(weft_task_was_canceled(t), 0);
  ck_assert_int_eq(weft_join(t, NULL), 0);
  /* cancelled: 1 at once, and still 1 once it has finished */
  ck_assert_int_eq(weft_spawn(&t, recv_one, gate), 0);
  ck_assert_int_eq(weft_task_was_canceled(t), 0);
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_task_was_canceled(t), 1);
  ck_assert_int_eq(weft_task_done(t, &done), 0);
  ck_assert_int_eq(weft_chan_recv(done, NULL, safe()), WEFT_EPIPE);
  ck_assert_int_eq(weft_task_was_canceled(t), 1);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq(I(r), WEFT_ECANCELED);
  /* a shielded task was cancelled all the same */
  ck_assert_int_eq(weft_cancel_shield(1), 0);
  ck_assert_int_eq(weft_cancel(weft_self()), 0);
  ck_assert_int_eq(weft_canceled(), 0);
  ck_assert_int_eq(weft_task_was_canceled(weft_self()), 1);
  ck_assert_int_eq(weft_chan_free(gate), 0);
  return 0;
}

START_TEST(test_task_was_canceled) {
  ck_assert_int_eq(run_in_task(2, was_canceled_body, NULL), 0);
}
END_TEST

/* The calls of weft_task_* that may come from any thread, from the test's
 * own; weft_task_on_done may not. Then a cancel that comes from
 * weft_rt_free reaches a callback as canceled == 1. */
static atomic_int rtfree_canceled = -1;
static atomic_int watcher_rc = 1;

static void cb_store_canceled(weft_task *t, void *result, int canceled, void *arg) {
  (void)t;
  (void)result;
  (void)arg;
  atomic_store(&rtfree_canceled, canceled);
}

static void *watcher(void *arg) {
  atomic_store(&watcher_rc, weft_task_on_done(arg, cb_store_canceled, NULL));
  return NULL;
}

static void cb_unused(weft_task *t, void *result, int canceled, void *arg) {
  (void)t;
  (void)result;
  (void)canceled;
  (void)arg;
}

START_TEST(test_task_calls_from_outside_and_cancel_by_rt_free) {
  weft_config cfg;
  weft_rt *rt;
  weft_task *t;
  weft_chan *done, *again;
  int64_t end;
  weft_config_init(&cfg);
  cfg.workers = 2;
  ck_assert_int_eq(weft_rt_new(&rt, &cfg), 0);
  ck_assert_int_eq(weft_rt_spawn(rt, &t, sleep_forever, NULL), 0);
  ck_assert_int_eq(weft_task_on_done(t, cb_unused, NULL), WEFT_EPERM);
  ck_assert_int_eq(weft_task_done(t, &done), 0);
  ck_assert_int_eq(weft_task_done(t, &again), 0);
  ck_assert_ptr_eq(done, again);
  ck_assert_int_eq(weft_task_was_canceled(t), 0);
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_task_was_canceled(t), 1);
  ck_assert_int_eq(weft_rt_wait(rt), 0);
  ck_assert_int_eq(weft_chan_try_recv(done, NULL), WEFT_EPIPE);
  ck_assert_int_eq(weft_task_was_canceled(t), 1);
  ck_assert_int_eq(weft_detach(t), 0); /* finished: this releases it */

  /* weft_rt_free's cancel */
  ck_assert_int_eq(weft_rt_spawn(rt, &t, sleep_forever, NULL), 0);
  ck_assert_int_eq(weft_rt_spawn(rt, NULL, watcher, t), 0);
  for (end = weft_now() + SAFE_MS; atomic_load(&watcher_rc) == 1 && weft_now() < end;)
    sched_yield();
  ck_assert_int_eq(atomic_load(&watcher_rc), 0);
  ck_assert_int_eq(weft_detach(t), 0);
  ck_assert_int_eq(weft_rt_free(rt), 0);
  ck_assert_int_eq(atomic_load(&rtfree_canceled), 1);
}
END_TEST

/* ================================================================== */
/* Cancel shields                                                      */
/* ================================================================== */

struct cleanup {
  int first_rc;          /* the cancelled wait */
  int prev_raise;        /* weft_cancel_shield(1)'s answer */
  int canceled_shielded; /* weft_canceled() while shielded */
  int was_shielded;      /* weft_task_was_canceled(self) while shielded */
  int sleep_rc;
  int64_t slept;
  int prev_lower;       /* weft_cancel_shield(0)'s answer */
  int canceled_lowered; /* weft_canceled() after */
  int next_rc;          /* the next blocking call */
};

/* Cancelled, its cleanup takes 100 ms, shielded. */
static void *cleans_up_for_100ms(void *arg) {
  struct cleanup *c = arg;
  int64_t t0;
  c->first_rc = weft_sleep_until(-1);
  c->prev_raise = weft_cancel_shield(1);
  c->canceled_shielded = weft_canceled();
  c->was_shielded = weft_task_was_canceled(weft_self());
  t0 = weft_now();
  c->sleep_rc = weft_sleep(100);
  c->slept = weft_now() - t0;
  c->prev_lower = weft_cancel_shield(0);
  c->canceled_lowered = weft_canceled();
  c->next_rc = weft_sleep(100);
  return NULL;
}

/* Shielded before the cancel comes, which arrives during its 100 ms. */
static void *shielded_sleep(void *arg) {
  struct cleanup *c = arg;
  int64_t t0;
  c->prev_raise = weft_cancel_shield(1);
  t0 = weft_now();
  c->sleep_rc = weft_sleep(100);
  c->slept = weft_now() - t0;
  c->canceled_shielded = weft_canceled();
  c->prev_lower = weft_cancel_shield(0);
  c->next_rc = weft_sleep_until(-1);
  return NULL;
}

static int shield_sleep_body(void *arg) {
  struct cleanup a = {0}, b = {0};
  weft_task *t;
  (void)arg;
  ck_assert_int_eq(weft_spawn(&t, cleans_up_for_100ms, &a), 0);
  ck_assert(wait_parked(t, safe()));
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_join(t, NULL), 0);
  ck_assert_int_eq(a.first_rc, WEFT_ECANCELED);
  ck_assert_int_eq(a.prev_raise, 0);
  ck_assert_int_eq(a.canceled_shielded, 0);
  ck_assert_int_eq(a.was_shielded, 1);
  ck_assert_int_eq(a.sleep_rc, 0);
  ck_assert_int_ge(a.slept, 100);
  ck_assert_int_eq(a.prev_lower, 1);
  ck_assert_int_eq(a.canceled_lowered, 1);
  ck_assert_int_eq(a.next_rc, WEFT_ECANCELED);

  ck_assert_int_eq(weft_spawn(&t, shielded_sleep, &b), 0);
  ck_assert(wait_parked(t, safe())); /* in its shielded sleep */
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_join(t, NULL), 0);
  ck_assert_int_eq(b.prev_raise, 0);
  ck_assert_int_eq(b.sleep_rc, 0); /* not woken by the cancel */
  ck_assert_int_ge(b.slept, 100);
  ck_assert_int_eq(b.canceled_shielded, 0);
  ck_assert_int_eq(b.prev_lower, 1);
  ck_assert_int_eq(b.next_rc, WEFT_ECANCELED); /* delivered late, not lost */
  return 0;
}

START_TEST(test_shield_cleanup_waits_100ms_after_a_cancel) {
  ck_assert_int_eq(run_in_task(2, shield_sleep_body, NULL), 0);
}
END_TEST

struct parked_shield {
  weft_chan *handles, *gate, *never;
  int rc, v, canceled_shielded, next_rc;
};

static void *shielded_receiver(void *arg) {
  struct parked_shield *p = arg;
  int x;
  weft_cancel_shield(1);
  report_self(p->handles);
  p->rc = weft_chan_recv(p->gate, &p->v, -1);
  p->canceled_shielded = weft_canceled();
  weft_cancel_shield(0);
  p->next_rc = weft_chan_recv(p->never, &x, -1);
  return NULL;
}

static int shield_parked_body(void *arg) {
  struct parked_shield p = {0};
  weft_task *t;
  int nine = 9;
  (void)arg;
  p.handles = chan(sizeof(weft_task *), 1);
  p.gate = chan(sizeof(int), 1);
  p.never = chan(sizeof(int), 0);
  ck_assert_int_eq(weft_spawn(&t, shielded_receiver, &p), 0);
  ck_assert(park_all(p.handles, 1));
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert(wait_parked(t, safe())); /* still parked */
  /* Had the cancel woken it, its receive would have said WEFT_ECANCELED;
   * it gets the value sent after the cancel instead. */
  ck_assert_int_eq(weft_chan_send(p.gate, &nine, safe()), 0);
  ck_assert_int_eq(weft_join(t, NULL), 0);
  ck_assert_int_eq(p.rc, 0);
  ck_assert_int_eq(p.v, 9);
  ck_assert_int_eq(p.canceled_shielded, 0);
  ck_assert_int_eq(p.next_rc, WEFT_ECANCELED);
  ck_assert_int_eq(weft_chan_free(p.handles), 0);
  ck_assert_int_eq(weft_chan_free(p.gate), 0);
  ck_assert_int_eq(weft_chan_free(p.never), 0);
  return 0;
}

START_TEST(test_shield_cancel_while_parked_does_not_wake) {
  ck_assert_int_eq(run_in_task(2, shield_parked_body, NULL), 0);
}
END_TEST

/* A shielded owner waits for its members (the header's "waiting for
 * children"): its cancel does not reach them while it is shielded, and
 * reaches the scope once the shield is down. */
struct shielded_owner {
  weft_chan *handles, *gate, *late_gate;
  int member_got, member_canceled;
  int first_rc, canceled_lowered, second_rc, late_rc;
};

static int so_member(void *arg) {
  struct shielded_owner *o = arg;
  int v = 0, rc;
  report_self(o->handles);
  rc = weft_chan_recv(o->gate, &v, -1);
  o->member_got = rc == 0 ? v : rc;
  o->member_canceled = weft_task_was_canceled(weft_self());
  return rc;
}

/* The member started once the shield is down: it starts cancelled. It
 * holds a shield of its own until the test lets it go, so that it is
 * still running when the owner enters its second wait (a wait that found
 * the scope empty would return 0 at once, as docs/design.md 6.5 allows),
 * and only then meets the cancel. */
static int so_late(void *arg) {
  struct shielded_owner *o = arg;
  int v = 0;
  weft_cancel_shield(1);
  report_self(o->handles);
  CHECK_HOT(weft_chan_recv(o->late_gate, &v, -1) == 0); /* shielded: waits */
  weft_cancel_shield(0);
  o->late_rc = weft_sleep_until(-1);
  return o->late_rc;
}

static void *so_owner(void *arg) {
  struct shielded_owner *o = arg;
  weft_scope *s;
  CHECK_HOT(weft_scope_new(&s) == 0);
  CHECK_HOT(weft_scope_go(s, so_member, o) == 0);
  weft_cancel_shield(1);
  o->first_rc = weft_scope_wait(s, -1);
  weft_cancel_shield(0);
  o->canceled_lowered = weft_canceled();
  CHECK_HOT(weft_scope_go(s, so_late, o) == 0);
  o->second_rc = weft_scope_wait(s, -1);
  CHECK_HOT(weft_scope_free(s) == 0);
  return NULL;
}

static int shielded_owner_body(void *arg) {
  struct shielded_owner o = {0};
  weft_task *t;
  int four = 4, five = 5;
  (void)arg;
  o.handles = chan(sizeof(weft_task *), 1);
  o.gate = chan(sizeof(int), 1);
  o.late_gate = chan(sizeof(int), 1);
  ck_assert_int_eq(weft_spawn(&t, so_owner, &o), 0);
  ck_assert(park_all(o.handles, 1));
  ck_assert(wait_parked(t, safe())); /* shielded, in its wait */
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_chan_send(o.gate, &four, safe()), 0);
  /* The late member waits behind its shield; the owner, which started it
   * after its first wait, parks next in its second wait, cancelled. */
  ck_assert(park_all(o.handles, 1));
  ck_assert(wait_parked(t, safe()));
  ck_assert_int_eq(weft_chan_send(o.late_gate, &five, safe()), 0);
  ck_assert_int_eq(weft_join(t, NULL), 0);
  ck_assert_int_eq(o.member_got, 4); /* not cancelled: it got the value */
  ck_assert_int_eq(o.member_canceled, 0);
  ck_assert_int_eq(o.first_rc, 0);
  ck_assert_int_eq(o.canceled_lowered, 1);
  ck_assert_int_eq(o.second_rc, WEFT_ECANCELED);
  ck_assert_int_eq(o.late_rc, WEFT_ECANCELED);
  ck_assert_int_eq(weft_chan_free(o.handles), 0);
  ck_assert_int_eq(weft_chan_free(o.gate), 0);
  ck_assert_int_eq(weft_chan_free(o.late_gate), 0);
  return 0;
}

START_TEST(test_shield_owner_waits_for_its_members_uncancelled) {
  ck_assert_int_eq(run_in_task(2, shielded_owner_body, NULL), 0);
}
END_TEST

/* A cancel that reached a shielded owner reaches its scopes' members when
 * the shield is lowered, with no scope call in between: the owner raises
 * the shield again and waits, shielded, for the member to report that it
 * was cancelled. */
struct lowered {
  weft_chan *handles, *said;
};

static int lowered_member(void *arg) {
  struct lowered *l = arg;
  int rc;
  report_self(l->handles);
  rc = weft_sleep_until(-1);
  CHECK_HOT(weft_chan_send(l->said, &rc, -1) == 0); /* room for one: no wait */
  return rc;
}

static void *lowered_owner(void *arg) {
  struct lowered *l = arg;
  weft_scope *s;
  int rc = 0, got = 0;
  CHECK_HOT(weft_scope_new(&s) == 0);
  CHECK_HOT(weft_scope_go(s, lowered_member, l) == 0);
  weft_cancel_shield(1);
  CHECK_HOT(park_all(l->handles, 1));
  while (!weft_task_was_canceled(weft_self())) /* the test cancels us now */
    CHECK_HOT(weft_sleep(1) == 0);
  weft_cancel_shield(0); /* the cancel goes on to the member */
  weft_cancel_shield(1);
  rc = weft_chan_recv(l->said, &got, weft_now() + 30000);
  weft_cancel_shield(0);
  CHECK_HOT(weft_scope_free(s) == 0);
  return (void *)(intptr_t)(rc == 0 && got == WEFT_ECANCELED);
}

static int lowered_body(void *arg) {
  struct lowered l;
  weft_task *t;
  void *r;
  (void)arg;
  l.handles = chan(sizeof(weft_task *), 1);
  l.said = chan(sizeof(int), 1);
  ck_assert_int_eq(weft_spawn(&t, lowered_owner, &l), 0);
  ck_assert(wait_parked(t, safe())); /* it parks only once shielded */
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, 1);
  ck_assert_int_eq(weft_chan_free(l.handles), 0);
  ck_assert_int_eq(weft_chan_free(l.said), 0);
  return 0;
}

START_TEST(test_shield_lowered_passes_a_held_cancel_to_members) {
  ck_assert_int_eq(run_in_task(2, lowered_body, NULL), 0);
}
END_TEST

static int shield_values_body(void *arg) {
  (void)arg;
  ck_assert_int_eq(weft_cancel_shield(0), 0);
  ck_assert_int_eq(weft_cancel_shield(5), 0); /* any nonzero raises it */
  ck_assert_int_eq(weft_cancel_shield(1), 1);
  ck_assert_int_eq(weft_cancel_shield(0), 1);
  ck_assert_int_eq(weft_cancel_shield(0), 0);
  return 0;
}

START_TEST(test_shield_returns_previous_setting) {
  ck_assert_int_eq(weft_cancel_shield(1), WEFT_EPERM); /* outside a task */
  ck_assert_int_eq(weft_canceled(), 0);
  ck_assert_int_eq(run_in_task(1, shield_values_body, NULL), 0);
}
END_TEST

/* ================================================================== */
/* A cancelled task completes what needs no wait                       */
/* ================================================================== */

static int no_wait_body(void *arg) {
  weft_chan *c = chan(sizeof(int), 1), *rv = chan(sizeof(int), 0), *done;
  weft_mutex *m;
  weft_cond *cv;
  weft_sem *sem;
  weft_wg *g;
  weft_scope *s;
  weft_task *fin, *rx, *slow;
  weft_select_case k[2];
  int one = 1, seven = 7, v = 0;
  void *r;
  (void)arg;
  ck_assert_int_eq(weft_mutex_new(&m), 0);
  ck_assert_int_eq(weft_cond_new(&cv), 0);
  ck_assert_int_eq(weft_sem_new(&sem, 1), 0);
  ck_assert_int_eq(weft_wg_new(&g), 0);
  ck_assert_int_eq(weft_scope_new(&s), 0);
  /* Prepared beforehand: a finished task (its done channel closed, and on
   * one worker it has been through its end), a receiver parked on rv. */
  ck_assert_int_eq(weft_spawn(&fin, identity, V(6)), 0);
  ck_assert_int_eq(weft_spawn(&rx, recv_one, rv), 0);
  ck_assert(wait_parked(rx, safe()));
  ck_assert_int_eq(weft_task_done(fin, &done), 0);

  ck_assert_int_eq(weft_cancel(weft_self()), 0);
  ck_assert(weft_canceled());

  /* mutex: a free one locks; a held one would wait */
  ck_assert_int_eq(weft_mutex_lock(m, -1), 0);
  ck_assert_int_eq(weft_mutex_lock(m, -1), WEFT_ECANCELED);
  ck_assert_int_eq(weft_cond_wait(cv, m, -1), WEFT_ECANCELED); /* always waits */
  ck_assert_int_eq(weft_mutex_unlock(m), 0);                   /* held all along */
  /* semaphore: a unit is taken; none would wait */
  ck_assert_int_eq(weft_sem_wait(sem, -1), 0);
  ck_assert_int_eq(weft_sem_wait(sem, -1), WEFT_ECANCELED);
  /* channel: room sends, data receives, a waiting receiver takes a value */
  ck_assert_int_eq(weft_chan_send(c, &one, -1), 0);
  ck_assert_int_eq(weft_chan_send(c, &one, -1), WEFT_ECANCELED); /* full */
  ck_assert_int_eq(weft_chan_recv(c, &v, -1), 0);
  ck_assert_int_eq(v, 1);
  ck_assert_int_eq(weft_chan_recv(c, &v, -1), WEFT_ECANCELED); /* empty */
  ck_assert_int_eq(weft_chan_send(rv, &seven, -1), 0);
  ck_assert_int_eq(weft_chan_recv(done, NULL, -1), WEFT_EPIPE); /* closed */
  /* select: a ready case completes; none ready would wait */
  k[0] = (weft_select_case){.chan = c, .op = WEFT_SELECT_SEND, .elem = &one};
  k[1] = (weft_select_case){.chan = rv, .op = WEFT_SELECT_RECV, .elem = &v};
  ck_assert_int_eq(weft_select(k, 2, -1), 0);
  ck_assert_int_eq(k[0].result, 0);
  ck_assert_int_eq(weft_select(k, 2, -1), WEFT_ECANCELED); /* c full, rv empty */
  /* wait group: at zero it returns; above, it would wait */
  ck_assert_int_eq(weft_wg_wait(g, -1), 0);
  ck_assert_int_eq(weft_wg_add(g, 1), 0);
  ck_assert_int_eq(weft_wg_wait(g, -1), WEFT_ECANCELED);
  ck_assert_int_eq(weft_wg_done(g), 0);
  /* join: a finished task is joined; a running one would wait */
  ck_assert_int_eq(weft_join(fin, &r), 0);
  ck_assert_int_eq(I(r), 6);
  ck_assert_int_eq(weft_spawn(&slow, recv_one, rv), 0); /* spawning needs no wait */
  ck_assert_int_eq(weft_join(slow, &r), WEFT_ECANCELED);
  /* a scope with no member left */
  ck_assert_int_eq(weft_scope_wait(s, -1), 0);
  ck_assert_int_eq(weft_scope_free(s), 0);

  /* cleanup, shielded */
  ck_assert_int_eq(weft_cancel(slow), 0);
  ck_assert_int_eq(weft_cancel_shield(1), 0);
  ck_assert_int_eq(weft_join(slow, &r), 0);
  ck_assert_int_eq(I(r), WEFT_ECANCELED);
  ck_assert_int_eq(weft_join(rx, &r), 0);
  ck_assert_int_eq(I(r), 7);
  ck_assert_int_eq(weft_mutex_free(m), 0);
  ck_assert_int_eq(weft_cond_free(cv), 0);
  ck_assert_int_eq(weft_sem_free(sem), 0);
  ck_assert_int_eq(weft_wg_free(g), 0);
  ck_assert_int_eq(weft_chan_free(c), 0);
  ck_assert_int_eq(weft_chan_free(rv), 0);
  return 0;
}

START_TEST(test_cancelled_task_completes_calls_that_need_no_wait) {
  ck_assert_int_eq(run_in_task(1, no_wait_body, NULL), 0);
}
END_TEST

/* ================================================================== */
/* Generators: weft_gen_throw, and generators left behind              */
/* ================================================================== */

struct catch_log {
  void *in1, *in2;
  int thrown1, thrown_inner, thrown_after_inner, thrown2, thrown3;
};

static void *report_thrown(void *arg) {
  (void)arg;
  return V(weft_gen_thrown());
}

/* Catches the first error (yields again), not the second (returns). */
static void *catcher(void *arg) {
  struct catch_log *l = arg;
  weft_gen *inner;
  void *r;
  l->in1 = weft_gen_yield(V(1));
  l->thrown1 = weft_gen_thrown();
  /* The error stays until this generator is resumed again; a generator
   * it drives meanwhile sees none. */
  CHECK_HOT(weft_gen_new(&inner, report_thrown, NULL) == 0);
  CHECK_HOT(weft_gen_next(inner, &r) == WEFT_EDONE);
  l->thrown_inner = (int)I(r);
  l->thrown_after_inner = weft_gen_thrown();
  CHECK_HOT(weft_gen_free(inner) == 0);
  l->in2 = weft_gen_yield(V(2));
  l->thrown2 = weft_gen_thrown();
  weft_gen_yield(V(3));
  l->thrown3 = weft_gen_thrown();
  return V(99);
}

static atomic_int never_ran;

static void *must_not_run(void *arg) {
  (void)arg;
  atomic_fetch_add(&never_ran, 1);
  return NULL;
}

/* Yields 1..n; returns when closed. */
static void *count_up(void *arg) {
  for (long i = 1; i <= I(arg); i++) {
    weft_gen_yield(V(i));
    if (weft_gen_closing())
      break;
  }
  return NULL;
}

static weft_gen *self_g;

static void *throws_into_itself(void *arg) {
  (void)arg;
  return V(weft_gen_throw(self_g, -EIO, NULL));
}

/* Drives an inner generator that throws into this one, which is running. */
static void *throws_into_outer(void *arg) {
  return V(weft_gen_throw(arg, -EIO, NULL));
}

static void *drives_thrower(void *arg) {
  weft_gen *inner;
  void *r = NULL;
  (void)arg;
  CHECK_HOT(weft_gen_new(&inner, throws_into_outer, self_g) == 0);
  CHECK_HOT(weft_gen_next(inner, &r) == WEFT_EDONE);
  CHECK_HOT(weft_gen_free(inner) == 0);
  return r;
}

static void *throw_foreign(void *arg) {
  return V(weft_gen_throw(arg, -EIO, NULL));
}

static int gen_throw_body(void *arg) {
  struct catch_log l = {0};
  weft_gen *g;
  weft_task *t;
  void *out = NULL;
  (void)arg;
  ck_assert_int_eq(weft_gen_thrown(), 0); /* not in a generator */

  /* suspended: caught, then not */
  ck_assert_int_eq(weft_gen_new(&g, catcher, &l), 0);
  ck_assert_int_eq(weft_gen_next(g, &out), 0);
  ck_assert_int_eq(I(out), 1);
  ck_assert_int_eq(weft_gen_state(g), WEFT_GEN_SUSPENDED);
  ck_assert_int_eq(weft_gen_throw(g, -EIO, &out), 0); /* it yielded again */
  ck_assert_int_eq(I(out), 2);
  ck_assert_ptr_null(l.in1); /* its yield returned NULL */
  ck_assert_int_eq(l.thrown1, -EIO);
  ck_assert_int_eq(l.thrown_inner, 0);
  ck_assert_int_eq(l.thrown_after_inner, -EIO);
  ck_assert_int_eq(weft_gen_state(g), WEFT_GEN_SUSPENDED);
  ck_assert_int_eq(weft_gen_send(g, V(5), &out), 0);
  ck_assert_int_eq(I(out), 3);
  ck_assert_ptr_eq(l.in2, V(5));
  ck_assert_int_eq(l.thrown2, 0);                                 /* a plain send clears it */
  ck_assert_int_eq(weft_gen_throw(g, -ENOENT, &out), WEFT_EDONE); /* it returned */
  ck_assert_int_eq(I(out), 99);
  ck_assert_int_eq(l.thrown3, -ENOENT);
  ck_assert_int_eq(weft_gen_state(g), WEFT_GEN_CLOSED);
  /* closed (finished) */
  ck_assert_int_eq(weft_gen_throw(g, -EIO, &out), WEFT_EDONE);
  ck_assert_int_eq(weft_gen_free(g), 0);

  /* created: closed without running, the error returned */
  ck_assert_int_eq(weft_gen_new(&g, must_not_run, NULL), 0);
  ck_assert_int_eq(weft_gen_throw(g, -EPIPE, &out), -EPIPE);
  ck_assert_int_eq(weft_gen_state(g), WEFT_GEN_CLOSED);
  ck_assert_int_eq(weft_gen_next(g, &out), WEFT_EDONE);
  ck_assert_int_eq(weft_gen_throw(g, -EIO, &out), WEFT_EDONE); /* closed */
  ck_assert_int_eq(weft_gen_free(g), 0);
  ck_assert_int_eq(weft_gen_new(&g, must_not_run, NULL), 0);
  ck_assert_int_eq(weft_gen_throw(g, EIO, NULL), EIO); /* any nonzero code */
  ck_assert_int_eq(weft_gen_free(g), 0);
  ck_assert_int_eq(atomic_load(&never_ran), 0);
  /* closed by weft_gen_close */
  ck_assert_int_eq(weft_gen_new(&g, count_up, V(3)), 0);
  ck_assert_int_eq(weft_gen_next(g, &out), 0);
  ck_assert_int_eq(weft_gen_close(g), 0);
  ck_assert_int_eq(weft_gen_throw(g, -EIO, &out), WEFT_EDONE);
  ck_assert_int_eq(weft_gen_free(g), 0);

  /* running: into itself, and into its driver from a generator it drives */
  ck_assert_int_eq(weft_gen_new(&self_g, throws_into_itself, NULL), 0);
  ck_assert_int_eq(weft_gen_next(self_g, &out), WEFT_EDONE);
  ck_assert_int_eq(I(out), WEFT_EBUSY);
  ck_assert_int_eq(weft_gen_free(self_g), 0);
  ck_assert_int_eq(weft_gen_new(&self_g, drives_thrower, NULL), 0);
  ck_assert_int_eq(weft_gen_next(self_g, &out), WEFT_EDONE);
  ck_assert_int_eq(I(out), WEFT_EBUSY);
  ck_assert_int_eq(weft_gen_free(self_g), 0);

  /* err 0: refused, and the generator was not resumed */
  ck_assert_int_eq(weft_gen_new(&g, count_up, V(3)), 0);
  ck_assert_int_eq(weft_gen_throw(g, 0, &out), WEFT_EINVAL); /* created */
  ck_assert_int_eq(weft_gen_state(g), WEFT_GEN_CREATED);
  ck_assert_int_eq(weft_gen_next(g, &out), 0);
  ck_assert_int_eq(I(out), 1);
  ck_assert_int_eq(weft_gen_throw(g, 0, &out), WEFT_EINVAL); /* suspended */
  ck_assert_int_eq(weft_gen_state(g), WEFT_GEN_SUSPENDED);
  ck_assert_int_eq(weft_gen_next(g, &out), 0);
  ck_assert_int_eq(I(out), 2);
  /* another task's generator, and NULL */
  ck_assert_int_eq(weft_spawn(&t, throw_foreign, g), 0);
  ck_assert_int_eq(weft_join(t, &out), 0);
  ck_assert_int_eq(I(out), WEFT_EPERM);
  ck_assert_int_eq(weft_gen_state(g), WEFT_GEN_SUSPENDED);
  ck_assert_int_eq(weft_gen_throw(NULL, -EIO, &out), WEFT_EINVAL);
  ck_assert_int_eq(weft_gen_free(g), 0);
  return 0;
}

START_TEST(test_gen_throw_into_every_state) {
  ck_assert_int_eq(weft_gen_thrown(), 0); /* outside a task */
  ck_assert_int_eq(run_in_task(2, gen_throw_body, NULL), 0);
}
END_TEST

/* ---- generators a task leaves behind ---- */

static struct {
  atomic_int cleaned;      /* a suspended generator's cleanup ran */
  atomic_int closing_seen; /* weft_gen_closing() was true in it */
  atomic_int slept;        /* a cleanup that blocked for a moment, and could */
  atomic_int ready;        /* the second task holds its generator */
} leak;

static void *with_cleanup(void *arg) {
  bool blocks = I(arg);
  for (;;) {
    weft_gen_yield(V(1));
    if (weft_gen_closing()) {
      atomic_fetch_add(&leak.closing_seen, 1);
      if (blocks && weft_sleep(1) == 0)
        atomic_fetch_add(&leak.slept, 1);
      atomic_fetch_add(&leak.cleaned, 1);
      return NULL;
    }
  }
}

/* Ignores close: freed all the same, its cleanup skipped. */
static void *stubborn(void *arg) {
  (void)arg;
  for (;;)
    weft_gen_yield(V(1));
  return NULL;
}

/* A suspended generator with cleanup, a created one, a stubborn one: none
 * freed. */
static void *leaves_generators(void *arg) {
  weft_gen *a, *b, *c;
  (void)arg;
  CHECK_HOT(weft_gen_new(&a, with_cleanup, V(1)) == 0);
  CHECK_HOT(weft_gen_next(a, NULL) == 0);
  CHECK_HOT(weft_gen_new(&b, must_not_run, NULL) == 0);
  CHECK_HOT(weft_gen_new(&c, stubborn, NULL) == 0);
  CHECK_HOT(weft_gen_next(c, NULL) == 0);
  return V(77);
}

/* Holds a suspended generator until weft_rt_free cancels it. */
static void *leaves_generator_when_cancelled(void *arg) {
  weft_gen *a;
  (void)arg;
  CHECK_HOT(weft_gen_new(&a, with_cleanup, V(0)) == 0);
  CHECK_HOT(weft_gen_next(a, NULL) == 0);
  atomic_store(&leak.ready, 1);
  weft_sleep_until(-1);
  return NULL;
}

START_TEST(test_gen_leaked_generators_closed_at_runtime_shutdown) {
  weft_config cfg;
  weft_rt *rt;
  int64_t end;
  weft_config_init(&cfg);
  cfg.workers = 2;
  ck_assert_int_eq(weft_rt_new(&rt, &cfg), 0);
  ck_assert_int_eq(weft_rt_spawn(rt, NULL, leaves_generators, NULL), 0);
  ck_assert_int_eq(weft_rt_spawn(rt, NULL, leaves_generator_when_cancelled, NULL), 0);
  for (end = weft_now() + SAFE_MS; !atomic_load(&leak.ready) && weft_now() < end;)
    sched_yield();
  ck_assert_int_eq(atomic_load(&leak.ready), 1);
  /* The first task ends by itself (its cleanup may block: it is not
   * cancelled); the second is cancelled by weft_rt_free. */
  for (end = weft_now() + SAFE_MS; atomic_load(&leak.cleaned) < 1 && weft_now() < end;)
    sched_yield();
  ck_assert_int_eq(atomic_load(&leak.cleaned), 1);
  ck_assert_int_eq(weft_rt_free(rt), 0); /* no abort, nothing left */
  ck_assert_int_eq(atomic_load(&leak.cleaned), 2);
  ck_assert_int_eq(atomic_load(&leak.closing_seen), 2);
  ck_assert_int_eq(atomic_load(&leak.slept), 1);
  ck_assert_int_eq(atomic_load(&never_ran), 0);
}
END_TEST

static int leaked_gen_join_body(void *arg) {
  weft_task *t;
  void *r;
  (void)arg;
  ck_assert_int_eq(weft_spawn(&t, leaves_generators, NULL), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq(I(r), 77);
  /* closed before the join returned */
  ck_assert_int_eq(atomic_load(&leak.cleaned), 1);
  ck_assert_int_eq(atomic_load(&leak.closing_seen), 1);
  ck_assert_int_eq(atomic_load(&leak.slept), 1);
  ck_assert_int_eq(atomic_load(&never_ran), 0);
  return 0;
}

START_TEST(test_gen_leaked_generators_closed_before_the_join_returns) {
  ck_assert_int_eq(run_in_task(2, leaked_gen_join_body, NULL), 0);
}
END_TEST

/* ================================================================== */
/* weft_signal_wait                                                    */
/* ================================================================== */

/* The program's own handlers, counting what reaches them. */
static atomic_int usr1_seen, usr2_seen;

static void on_usr1(int sig) {
  (void)sig;
  atomic_fetch_add(&usr1_seen, 1);
}

static void on_usr2(int sig) {
  (void)sig;
  atomic_fetch_add(&usr2_seen, 1);
}

static void own_handlers(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_usr1;
  ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
  sa.sa_handler = on_usr2;
  ck_assert_int_eq(sigaction(SIGUSR2, &sa, NULL), 0);
}

static bool handler_is(int sig, void (*h)(int)) {
  struct sigaction now;
  return sigaction(sig, NULL, &now) == 0 && now.sa_handler == h;
}

/*
 * When this returns, every message this task, or a task it saw parked,
 * sent to the I/O thread before has been run there: the I/O thread runs
 * its inbox in sending order (src/io/loop.c), and a hold or a release is
 * an io op the caller waits for (weft.h), sent after theirs. So a waiter
 * that wait_parked has seen parked has started its signal wait: its
 * signal is armed, and it is linked behind the waiters seen before it.
 * (weft_sleep would not do: a 1 ms sleep whose deadline has passed by the
 * time it looks, as under Valgrind, returns without the I/O thread.)
 * SIGURG is otherwise unused here; the hold gives it back at once.
 */
static void io_barrier(void) {
  static const int urg[] = {SIGURG};
  ck_assert_int_eq(weft_signal_hold(urg, 1), 0);
  ck_assert_int_eq(weft_signal_release(urg, 1), 0);
}

static void *wait_for(void *arg) {
  int sig = (int)I(arg);
  return V(weft_signal_wait(&sig, 1, -1));
}

struct sig_result {
  int idx, rc;
};

struct sig_waiter {
  weft_chan *results;
  int idx;
};

static void *usr1_waiter(void *arg) {
  struct sig_waiter *w = arg;
  int sig = SIGUSR1;
  struct sig_result r = {w->idx, weft_signal_wait(&sig, 1, -1)};
  CHECK_HOT(weft_chan_send(w->results, &r, safe()) == 0);
  return NULL;
}

static int one_arrival_body(void *arg) {
  weft_chan *results = chan(sizeof(struct sig_result), 3);
  struct sig_waiter w[3];
  struct sig_result r;
  weft_task *t[3];
  (void)arg;
  for (int i = 0; i < 3; i++) { /* one at a time: they wait in this order */
    w[i] = (struct sig_waiter){results, i};
    ck_assert_int_eq(weft_spawn(&t[i], usr1_waiter, &w[i]), 0);
    ck_assert(wait_parked(t[i], safe()));
  }
  io_barrier();
  ck_assert(!handler_is(SIGUSR1, on_usr1)); /* weft has the disposition */
  for (int k = 0; k < 3; k++) {
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    ck_assert_int_eq(weft_chan_recv(results, &r, safe()), 0);
    ck_assert_int_eq(r.rc, SIGUSR1);
    ck_assert_int_eq(r.idx, k); /* the longest waiting first */
    /* exactly one: the others still wait */
    for (int j = k + 1; j < 3; j++)
      ck_assert_int_eq(atomic_load_explicit(&t[j]->state, memory_order_relaxed), TASK_PARKED);
  }
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(weft_join(t[i], NULL), 0);
  ck_assert_int_eq(weft_chan_try_recv(results, &r), WEFT_EAGAIN);
  ck_assert_int_eq(atomic_load(&usr1_seen), 0); /* every arrival went to a waiter */
  /* The last waiter's wakeup came after its signal was disarmed and the
   * program's handler put back (signal.c: end() unlinks, then wakes). */
  ck_assert(handler_is(SIGUSR1, on_usr1));
  /* with nobody waiting, an arrival reaches the program's handler */
  ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
  ck_assert(reaches(&usr1_seen, 1));
  ck_assert_int_eq(weft_chan_free(results), 0);
  return 0;
}

START_TEST(test_signal_sigusr1_wakes_one_of_three_waiters) {
  own_handlers();
  ck_assert_int_eq(run_in_task(2, one_arrival_body, NULL), 0);
  ck_assert(handler_is(SIGUSR1, on_usr1));
}
END_TEST

static void *wait_for_both(void *arg) {
  static const int both[] = {SIGUSR1, SIGUSR2};
  (void)arg;
  return V(weft_signal_wait(both, 2, -1));
}

static int sig_deadline_cancel_body(void *arg) {
  static const int usr1[] = {SIGUSR1};
  weft_task *t;
  int64_t d;
  void *r;
  (void)arg;
  /* the deadline */
  d = weft_now() + 30;
  ck_assert_int_eq(weft_signal_wait(usr1, 1, d), WEFT_ETIMEDOUT);
  ck_assert_int_ge(weft_now(), d);
  ck_assert(handler_is(SIGUSR1, on_usr1));                        /* given back */
  ck_assert_int_eq(weft_signal_wait(usr1, 1, 0), WEFT_ETIMEDOUT); /* past: at once */
  ck_assert_int_eq(weft_signal_wait(usr1, 1, weft_now() - 1000), WEFT_ETIMEDOUT);
  ck_assert(handler_is(SIGUSR1, on_usr1));

  /* cancelled while it waits */
  ck_assert_int_eq(weft_spawn(&t, wait_for, V(SIGUSR2)), 0);
  ck_assert(wait_parked(t, safe()));
  io_barrier();
  ck_assert(!handler_is(SIGUSR2, on_usr2));
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq(I(r), WEFT_ECANCELED);
  ck_assert(handler_is(SIGUSR2, on_usr2)); /* given back */

  /* two signals in one wait: the one that comes is returned, both are
   * given back */
  ck_assert_int_eq(weft_spawn(&t, wait_for_both, NULL), 0);
  ck_assert(wait_parked(t, safe()));
  io_barrier();
  ck_assert(!handler_is(SIGUSR1, on_usr1));
  ck_assert(!handler_is(SIGUSR2, on_usr2));
  ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq(I(r), SIGUSR2);
  ck_assert(handler_is(SIGUSR1, on_usr1));
  ck_assert(handler_is(SIGUSR2, on_usr2));

  /* cancelled before the call: at once */
  ck_assert_int_eq(weft_cancel(weft_self()), 0);
  ck_assert_int_eq(weft_signal_wait(usr1, 1, -1), WEFT_ECANCELED);
  ck_assert(handler_is(SIGUSR1, on_usr1));
  ck_assert_int_eq(atomic_load(&usr1_seen), 0);
  ck_assert_int_eq(atomic_load(&usr2_seen), 0);
  return 0;
}

START_TEST(test_signal_deadline_and_cancellation) {
  own_handlers();
  ck_assert_int_eq(run_in_task(2, sig_deadline_cancel_body, NULL), 0);
}
END_TEST

static int sig_bad_input_body(void *arg) {
  static const int usr1[] = {SIGUSR1};
  static const int bad[][3] = {
      {SIGKILL},
      {SIGSTOP},
      {0},
      {NSIG},
      {-1},
      {SIGUSR1, SIGUSR1},
      {SIGUSR1, SIGKILL},
      {SIGUSR2, SIGUSR1, SIGUSR2},
  };
  static const size_t bad_n[] = {1, 1, 1, 1, 1, 2, 2, 3};
  (void)arg;
  ck_assert_int_eq(weft_signal_wait(NULL, 1, -1), WEFT_EINVAL);
  ck_assert_int_eq(weft_signal_wait(usr1, 0, -1), WEFT_EINVAL);
  for (size_t i = 0; i < sizeof bad_n / sizeof bad_n[0]; i++)
    ck_assert_msg(weft_signal_wait(bad[i], bad_n[i], -1) == WEFT_EINVAL, "bad set %zu", i);
  ck_assert(handler_is(SIGUSR1, on_usr1)); /* nothing was armed */
  return 0;
}

START_TEST(test_signal_bad_input) {
  static const int usr1[] = {SIGUSR1};
  own_handlers();
  ck_assert_int_eq(weft_signal_wait(usr1, 1, -1), WEFT_EPERM); /* outside a task */
  ck_assert_int_eq(run_in_task(1, sig_bad_input_body, NULL), 0);
}
END_TEST

/* weft_signal_hold: caught from when it returns, whether or not a task
 * waits; an arrival nobody waits for is kept for the next wait; holds
 * count; weft_rt_free releases what is still held. */
static int hold_body(void *arg) {
  static const int usr1[] = {SIGUSR1}, usr2[] = {SIGUSR2}, both[] = {SIGUSR1, SIGUSR2};
  static const int kill9[] = {SIGKILL}, twice[] = {SIGUSR1, SIGUSR1};
  (void)arg;
  ck_assert_int_eq(weft_signal_hold(NULL, 1), WEFT_EINVAL);
  ck_assert_int_eq(weft_signal_hold(usr1, 0), WEFT_EINVAL);
  ck_assert_int_eq(weft_signal_hold(kill9, 1), WEFT_EINVAL);
  ck_assert_int_eq(weft_signal_hold(twice, 2), WEFT_EINVAL);
  ck_assert_int_eq(weft_signal_release(usr1, 1), WEFT_EINVAL); /* not held */
  ck_assert(handler_is(SIGUSR1, on_usr1));

  ck_assert_int_eq(weft_signal_hold(usr1, 1), 0);
  ck_assert(!handler_is(SIGUSR1, on_usr1)); /* caught now */
  ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
  /* kept if it came before the wait, or taken by it while it waits */
  ck_assert_int_eq(weft_signal_wait(usr1, 1, safe()), SIGUSR1);
  ck_assert_int_eq(weft_signal_wait(usr1, 1, 0), WEFT_ETIMEDOUT); /* one arrival, taken */
  ck_assert(!handler_is(SIGUSR1, on_usr1)); /* the wait ended, the hold did not */

  /* holds count: each needs its release */
  ck_assert_int_eq(weft_signal_hold(both, 2), 0);
  ck_assert_int_eq(weft_signal_release(usr1, 1), 0);
  ck_assert(!handler_is(SIGUSR1, on_usr1));
  ck_assert_int_eq(weft_signal_release(both, 2), 0);
  ck_assert(handler_is(SIGUSR1, on_usr1));
  ck_assert(handler_is(SIGUSR2, on_usr2));

  /* a release of something not held changes nothing */
  ck_assert_int_eq(weft_signal_hold(usr1, 1), 0);
  ck_assert_int_eq(weft_signal_release(both, 2), WEFT_EINVAL);
  ck_assert(!handler_is(SIGUSR1, on_usr1));

  /* not cancellable: a cancelled task still holds and releases */
  ck_assert_int_eq(weft_cancel(weft_self()), 0);
  ck_assert_int_eq(weft_signal_hold(usr2, 1), 0);
  ck_assert(!handler_is(SIGUSR2, on_usr2));
  ck_assert_int_eq(weft_signal_release(usr2, 1), 0);
  ck_assert(handler_is(SIGUSR2, on_usr2));
  ck_assert_int_eq(atomic_load(&usr1_seen), 0);
  return 0; /* SIGUSR1 still held */
}

START_TEST(test_signal_hold_and_release) {
  static const int usr1[] = {SIGUSR1};
  own_handlers();
  ck_assert_int_eq(weft_signal_hold(usr1, 1), WEFT_EPERM); /* outside a task */
  ck_assert_int_eq(weft_signal_release(usr1, 1), WEFT_EPERM);
  ck_assert_int_eq(run_in_task(2, hold_body, NULL), 0);
  ck_assert(handler_is(SIGUSR1, on_usr1)); /* released at shutdown */
  ck_assert(handler_is(SIGUSR2, on_usr2));
  ck_assert_int_eq(atomic_load(&usr1_seen), 0);
}
END_TEST

/* A task still waiting at shutdown: weft_main's shutdown cancels it, and
 * the program's handler is back when weft_main returns. */
static int sig_shutdown_body(void *arg) {
  weft_task *t;
  (void)arg;
  ck_assert_int_eq(weft_spawn(&t, wait_for, V(SIGUSR1)), 0);
  ck_assert(wait_parked(t, safe()));
  io_barrier();
  ck_assert(!handler_is(SIGUSR1, on_usr1));
  ck_assert_int_eq(weft_detach(t), 0);
  return 0;
}

START_TEST(test_signal_disposition_back_after_shutdown) {
  own_handlers();
  ck_assert_int_eq(run_in_task(2, sig_shutdown_body, NULL), 0);
  int64_t end;
  ck_assert(handler_is(SIGUSR1, on_usr1));
  ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
  for (end = weft_now() + SAFE_MS; atomic_load(&usr1_seen) < 1 && weft_now() < end;)
    sched_yield();
  ck_assert_int_eq(atomic_load(&usr1_seen), 1);
}
END_TEST

/*
 * A wait for SIGCHLD that ends while a child process runs. libuv watches
 * SIGCHLD for weft_proc_wait with a signal handle of its own; the wait's
 * signal handle was first, so libuv's handler is the one installed, and
 * stays needed after the wait's handle stops. Putting back the disposition
 * saved before the wait (SIG_DFL) must not take it from libuv.
 */
static int sigchld_body(void *arg) {
  char *argv[] = {"cat", NULL};
  weft_proc_opts o;
  weft_sock *pipes[3];
  weft_proc *p;
  weft_task *t;
  int64_t status = -1;
  void *r;
  int rc;
  (void)arg;
  ck_assert_int_eq(weft_spawn(&t, wait_for, V(SIGCHLD)), 0);
  ck_assert(wait_parked(t, safe()));
  io_barrier(); /* SIGCHLD is armed */
  weft_proc_opts_init(&o);
  o.argv = argv;
  o.stdio[0] = WEFT_STDIO_PIPE;
  o.stdio[1] = WEFT_STDIO_NULL;
  ck_assert_int_eq(weft_proc_spawn(&p, &o, pipes), 0);
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq(I(r), WEFT_ECANCELED); /* nobody waits for SIGCHLD now */
  ck_assert_msg(!handler_is(SIGCHLD, SIG_DFL), "SIGCHLD set back to SIG_DFL under libuv's feet");
  ck_assert_int_eq(weft_sock_close(pipes[0]), 0); /* EOF: cat exits */
  rc = weft_proc_wait(p, &status, NULL, safe());
  if (rc != 0)
    weft_proc_kill(p, SIGKILL);
  ck_assert_msg(rc == 0, "weft_proc_wait: %s (the child's exit went unseen)", weft_strerror(rc));
  ck_assert_int_eq(status, 0);
  ck_assert_int_eq(weft_proc_free(p), 0);
  return 0;
}

START_TEST(test_signal_wait_for_sigchld_leaves_child_processes_watched) {
  ck_assert_int_eq(run_in_task(2, sigchld_body, NULL), 0);
}
END_TEST

/*
 * Two runtimes wait for SIGUSR1. The first to arm saved the program's
 * handler; the second saved libuv's. When the first stops waiting while
 * the second still waits, the program's handler must not come back: the
 * second runtime's waiter still owns the signal.
 */
static atomic_int b_armed, b_result = 1;

static void *b_waiter(void *arg) {
  int sig = SIGUSR1;
  (void)arg;
  /* No deadline: the test sends the signal, however long its steps take
   * on a loaded machine; the test case's timeout guards a hang. */
  atomic_store(&b_result, weft_signal_wait(&sig, 1, -1));
  return NULL;
}

static void *b_arm(void *arg) {
  weft_task *w;
  (void)arg;
  CHECK_HOT(weft_spawn(&w, b_waiter, NULL) == 0);
  CHECK_HOT(wait_parked(w, safe()));
  io_barrier();
  atomic_store(&b_armed, 1);
  CHECK_HOT(weft_join(w, NULL) == 0);
  return NULL;
}

START_TEST(test_signal_two_runtimes_wait_for_the_same_signal) {
  weft_config cfg;
  weft_rt *a, *b;
  weft_task *ta;
  int64_t end;
  own_handlers();
  weft_config_init(&cfg);
  cfg.workers = 1;
  ck_assert_int_eq(weft_rt_new(&a, &cfg), 0);
  ck_assert_int_eq(weft_rt_new(&b, &cfg), 0);
  ck_assert_int_eq(weft_rt_spawn(a, &ta, wait_for, V(SIGUSR1)), 0);
  for (end = weft_now() + SAFE_MS; handler_is(SIGUSR1, on_usr1) && weft_now() < end;)
    sched_yield();
  ck_assert(!handler_is(SIGUSR1, on_usr1)); /* a's wait has armed it */
  ck_assert_int_eq(weft_rt_spawn(b, NULL, b_arm, NULL), 0);
  for (end = weft_now() + SAFE_MS; !atomic_load(&b_armed) && weft_now() < end;)
    sched_yield();
  ck_assert_int_eq(atomic_load(&b_armed), 1);
  ck_assert_int_eq(weft_cancel(ta), 0);
  ck_assert_int_eq(weft_rt_wait(a), 0); /* a's waiter has returned */
  ck_assert_int_eq(weft_detach(ta), 0);
  ck_assert(!handler_is(SIGUSR1, on_usr1)); /* b still waits */
  ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
  ck_assert_int_eq(weft_rt_wait(b), 0);
  ck_assert_int_eq(atomic_load(&b_result), SIGUSR1);
  ck_assert_int_eq(atomic_load(&usr1_seen), 0);
  ck_assert_int_eq(weft_rt_free(a), 0);
  ck_assert_int_eq(weft_rt_free(b), 0);
  ck_assert(handler_is(SIGUSR1, on_usr1));
}
END_TEST

/* ================================================================== */

static Suite *scope_suite(void) {
  Suite *s = suite_create("scope");
  TCase *core = tcase_create("core"), *errors = tcase_create("errors"),
        *stress = tcase_create("stress");
  tcase_add_test(core, test_scope_all_members_succeed);
  tcase_add_test(core, test_scope_first_failure_kept_and_others_cancelled);
  tcase_add_test(core, test_scope_member_ecanceled_before_any_cancel_is_a_failure);
  tcase_add_test(core, test_scope_nested_cancelled_from_the_top);
  tcase_add_test(core, test_scope_members_start_members);
  tcase_add_test(core, test_scope_wait_deadline_then_wait_again);
  tcase_add_test(core, test_scope_cancel_and_members_started_after_it);
  tcase_add_test(core, test_scope_free_cancels_and_waits);
  tcase_add_test(core, test_scope_left_by_its_task_is_freed_before_the_join_returns);
  tcase_add_test(core, test_scope_left_by_a_member_is_freed_before_the_outer_wait_returns);
  tcase_add_test(core, test_join_until_deadline_then_join);
  tcase_add_test(core, test_join_until_past_deadline_on_finished_task);
  tcase_add_test(core, test_task_done_select_over_100_channels);
  tcase_add_test(core, test_task_done_finished_task_and_same_channel);
  tcase_add_test(core, test_task_on_done_callbacks_run_in_order_one_at_a_time);
  tcase_add_test(core, test_task_on_done_finished_cancelled_and_detached_tasks);
  tcase_add_test(core, test_task_was_canceled);
  tcase_add_test(core, test_task_calls_from_outside_and_cancel_by_rt_free);
  tcase_add_test(core, test_shield_cleanup_waits_100ms_after_a_cancel);
  tcase_add_test(core, test_shield_cancel_while_parked_does_not_wake);
  tcase_add_test(core, test_shield_owner_waits_for_its_members_uncancelled);
  tcase_add_test(core, test_shield_lowered_passes_a_held_cancel_to_members);
  tcase_add_test(core, test_cancelled_task_completes_calls_that_need_no_wait);
  tcase_add_test(core, test_gen_throw_into_every_state);
  tcase_add_test(core, test_gen_leaked_generators_closed_at_runtime_shutdown);
  tcase_add_test(core, test_gen_leaked_generators_closed_before_the_join_returns);
  tcase_add_test(core, test_signal_sigusr1_wakes_one_of_three_waiters);
  tcase_add_test(core, test_signal_deadline_and_cancellation);
  tcase_add_test(core, test_signal_disposition_back_after_shutdown);
  tcase_add_test(core, test_signal_hold_and_release);
  tcase_add_test(core, test_signal_wait_for_sigchld_leaves_child_processes_watched);
  tcase_add_test(core, test_signal_two_runtimes_wait_for_the_same_signal);
  tcase_set_timeout(core, 60);
  tcase_add_test(errors, test_scope_errors);
  tcase_add_test(errors, test_scope_of_another_runtime_is_refused);
  tcase_add_test(errors, test_shield_returns_previous_setting);
  tcase_add_test(errors, test_signal_bad_input);
  tcase_set_timeout(errors, 60);
  tcase_add_test(stress, test_scope_ten_thousand_members_cancelled_by_one_failure);
  tcase_add_test(stress, test_join_until_past_deadline_after_done_channel_closed);
  tcase_set_timeout(stress, 120);
  suite_add_tcase(s, core);
  suite_add_tcase(s, errors);
  suite_add_tcase(s, stress);
  return s;
}

WEFT_TEST_MAIN(scope_suite)
