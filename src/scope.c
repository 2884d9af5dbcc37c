/*
 * scope.c - scopes (Trio's nurseries, asyncio's TaskGroup, Go's errgroup):
 * a task starts member tasks in a scope, waits for all of them, and the
 * first member that fails cancels the others. See docs/design.md, section
 * 5.16.
 *
 * Structure
 * ---------
 * A scope belongs to the task that made it (its owner) and is on the
 * owner's list t->scopes, which the owner changes and cancellers read,
 * both under the owner's wait_lock. Members are detached tasks of weft's
 * running member_main, which links the member into the scope's list when
 * it starts and unlinks it when its function returns; `live` counts the
 * members started and not yet finished (counted at weft_scope_go, so a
 * member that has not run yet holds the scope open).
 *
 * Cancellation
 * ------------
 * `canceled` is sticky. Setting it (scope_cancel) cancels every member on
 * the list, and a member that starts later sees it under the same lock
 * and starts cancelled, so no member escapes a cancel: either it is on
 * the list when the cancel walks it, or it links itself after and reads
 * `canceled` first. A scope is cancelled by weft_scope_cancel, by a
 * member's failure, by weft_scope_free, and by a cancel of its owner:
 * task.c's weft__cancel calls weft__scopes_cancel(t) under t->wait_lock, so a
 * cancel reaches the members of every scope the task owns, and theirs in
 * turn. Locks are taken down the tree only (an owner's wait_lock, its
 * scope's lock, a member's wait_lock, that member's scopes...), and a
 * member's finish takes only its scope's lock, so no cycle can form.
 *
 * Waiting (protocol "park" of task.c)
 * -----------------------------------
 * The owner parks with scope_publish, which, under the scope's lock,
 * either sees live == 0 and wakes the owner at once, or records it as
 * `waiter`. The last member to finish takes `waiter` under the same lock
 * and wakes it; a canceller or the deadline takes it back through
 * scope_withdraw, under the same lock too. Whoever removes the waiter
 * wakes it, so it is woken exactly once. A cancelled owner cancels the
 * members and then waits for them without a withdraw (scope_publish_hard),
 * so that weft_scope_wait never returns while a member still runs, unless
 * its deadline passed.
 */
#include "runtime.h"

#include <stdlib.h>

#define WEFT_SCOPE_MAGIC 0x73636f70u /* "scop" */

struct member {
  struct member *next, *prev; /* the scope's list; under lock */
  weft_scope *scope;
  weft_task *task;            /* set when it starts; under lock */
  int (*fn)(void *);
  void *arg;
};

struct weft_scope {
  uint32_t magic;
  weft_rt *rt;                /* immutable */
  weft_task *owner;           /* immutable */
  weft_scope *next, *prev;    /* the owner's list; under owner->wait_lock */
  weft__spinlock lock;
  struct member *members;     /* started and running; under lock */
  long live;                  /* started (at weft_scope_go) and not finished; under lock */
  int first_err;              /* the first failure; under lock */
  bool canceled;              /* sticky; under lock */
  bool user_canceled;         /* weft_scope_cancel was called; under lock */
  weft_task *waiter;          /* the owner, parked in wait; under lock */
};

static bool scope_valid(const weft_scope *s) {
  return s && s->magic == WEFT_SCOPE_MAGIC;
}

/* Cancel every member; s->lock held. */
static void cancel_members_locked(weft_scope *s) {
  s->canceled = true;
  for (struct member *m = s->members; m; m = m->next)
    weft__cancel(m->task);
}

static void scope_cancel(weft_scope *s) {
  weft__spin_lock(&s->lock);
  cancel_members_locked(s);
  weft__spin_unlock(&s->lock);
}

/* task.c's cancel(t), under t->wait_lock: the cancel reaches the members
 * of every scope t owns. */
void weft__scopes_cancel(weft_task *t) {
  for (weft_scope *s = t->scopes; s; s = s->next)
    scope_cancel(s);
}

static void *member_main(void *arg) {
  struct member *m = arg;
  weft_scope *s = m->scope;
  weft_task *self = weft_self(), *waiter = NULL;
  int rc;

  weft__spin_lock(&s->lock);
  m->task = self;
  m->prev = NULL;
  if ((m->next = s->members))
    s->members->prev = m;
  s->members = m;
  if (s->canceled) /* it started after the scope was cancelled */
    atomic_store(&self->cancel_req, true);
  weft__spin_unlock(&s->lock);

  rc = m->fn(m->arg);
  /* Its own scopes go first (their members cancelled and finished), so
   * that when this member counts as finished, nothing it started runs. */
  if (self->scopes)
    weft__scopes_free_all(self);

  weft__spin_lock(&s->lock);
  if (m->prev)
    m->prev->next = m->next;
  else
    s->members = m->next;
  if (m->next)
    m->next->prev = m->prev;
  /* A member's WEFT_ECANCELED after the scope was cancelled is the
   * cancel's echo, not a failure of its own. */
  if (rc && !s->first_err && !(s->canceled && rc == WEFT_ECANCELED)) {
    s->first_err = rc;
    cancel_members_locked(s);
  }
  if (--s->live == 0) {
    waiter = s->waiter;
    s->waiter = NULL;
  }
  weft__spin_unlock(&s->lock);
  free(m);
  /* s may be freed as soon as the owner sees live == 0: not touched now. */
  if (waiter)
    weft__wake(waiter, 0);
  return NULL;
}

int weft_scope_new(weft_scope **out) {
  weft_task *t = weft_self();
  weft_scope *s;
  if (!out)
    return WEFT_EINVAL;
  *out = NULL;
  if (!t)
    return WEFT_EPERM;
  if (!(s = calloc(1, sizeof *s)))
    return WEFT_ENOMEM;
  s->magic = WEFT_SCOPE_MAGIC;
  s->rt = t->rt;
  s->owner = t;
  weft__spin_init(&s->lock);
  weft__spin_lock(&t->wait_lock);
  s->prev = NULL;
  if ((s->next = t->scopes))
    t->scopes->prev = s;
  t->scopes = s;
  weft__spin_unlock(&t->wait_lock);
  *out = s;
  return 0;
}

int weft_scope_go_ex(weft_scope *s, const weft_spawn_attr *attr, int (*fn)(void *), void *arg) {
  weft__worker *w = weft__worker_current();
  weft_spawn_attr a;
  struct member *m;
  int rc;

  if (!scope_valid(s) || !fn)
    return WEFT_EINVAL;
  if (!w || !w->current)
    return WEFT_EPERM;
  if (w->rt != s->rt)
    return WEFT_EINVAL; /* a scope of another runtime */
  if (!(m = calloc(1, sizeof *m)))
    return WEFT_ENOMEM;
  m->scope = s;
  m->fn = fn;
  m->arg = arg;
  if (attr)
    a = *attr;
  else
    weft_spawn_attr_init(&a);
  a.detached = 1; /* the scope, not a handle, waits for it */
  weft__spin_lock(&s->lock);
  s->live++;
  weft__spin_unlock(&s->lock);
  if ((rc = weft__spawn(s->rt, w, NULL, &a, member_main, m))) {
    weft_task *waiter = NULL;
    weft__spin_lock(&s->lock);
    if (--s->live == 0) {
      waiter = s->waiter;
      s->waiter = NULL;
    }
    weft__spin_unlock(&s->lock);
    if (waiter)
      weft__wake(waiter, 0);
    free(m);
  }
  return rc;
}

int weft_scope_go(weft_scope *s, int (*fn)(void *), void *arg) {
  return weft_scope_go_ex(s, NULL, fn, arg);
}

int weft_scope_cancel(weft_scope *s) {
  if (!scope_valid(s))
    return WEFT_EINVAL;
  weft__spin_lock(&s->lock);
  s->user_canceled = true;
  cancel_members_locked(s);
  weft__spin_unlock(&s->lock);
  return 0;
}

/* "Waiting": take the parked owner back (canceller, deadline). Called with
 * the owner's wait_lock held. */
static bool scope_withdraw(weft_task *self) {
  weft_scope *s = self->wait_obj;
  bool mine;
  weft__spin_lock(&s->lock);
  if ((mine = s->waiter == self))
    s->waiter = NULL;
  weft__spin_unlock(&s->lock);
  return mine;
}

static void publish_members(weft_task *self, weft_scope *s, bool withdrawable) {
  bool done;
  weft__spin_lock(&s->lock);
  if (!(done = s->live == 0)) {
    s->waiter = self;
    if (withdrawable) {
      self->withdraw = scope_withdraw;
      self->wait_obj = s;
    }
  }
  weft__spin_unlock(&s->lock);
  if (done)
    weft__wake(self, 0);
}

static void scope_publish(weft_task *self, void *arg) {
  publish_members(self, arg, true);
}

static void scope_publish_hard(weft_task *self, void *arg) {
  publish_members(self, arg, false);
}

/* Wait for every member, cancel or no cancel. */
static void scope_wait_all(weft_task *self, weft_scope *s) {
  weft__wait_note(self, "scope %#lx", (uintptr_t)s, -1);
  weft__park(scope_publish_hard, s, false);
}

static int outcome(weft_scope *s) {
  int rc;
  weft__spin_lock(&s->lock);
  rc = s->first_err ? s->first_err : s->user_canceled ? WEFT_ECANCELED : 0;
  weft__spin_unlock(&s->lock);
  return rc;
}

int weft_scope_wait(weft_scope *s, int64_t deadline) {
  weft_task *self = weft_self();
  long live;
  int rc;

  if (!scope_valid(s))
    return WEFT_EINVAL;
  if (!self)
    return WEFT_EPERM;
  if (s->owner != self)
    return WEFT_EPERM;
  weft__spin_lock(&s->lock);
  live = s->live;
  weft__spin_unlock(&s->lock);
  if (live == 0)
    return outcome(s);
  if (deadline >= 0 && deadline <= weft_now() && !weft__cancel_pending(self))
    return WEFT_ETIMEDOUT;
  weft__wait_note(self, "scope %#lx", (uintptr_t)s, deadline);
  rc = weft__park_until(scope_publish, s, deadline);
  if (rc == WEFT_ECANCELED) {
    /* The owner was cancelled: its members go with it, and the scope
     * returns only once they have finished. */
    scope_cancel(s);
    scope_wait_all(self, s);
    return WEFT_ECANCELED;
  }
  if (rc)
    return rc; /* WEFT_ETIMEDOUT (members keep running), WEFT_ENOMEM */
  return outcome(s);
}

/* Cancel, wait without interruption, unlink from the owner, free. */
static void scope_destroy(weft_task *self, weft_scope *s) {
  scope_cancel(s);
  scope_wait_all(self, s);
  weft__spin_lock(&self->wait_lock);
  if (s->prev)
    s->prev->next = s->next;
  else
    self->scopes = s->next;
  if (s->next)
    s->next->prev = s->prev;
  weft__spin_unlock(&self->wait_lock);
  s->magic = 0;
  free(s);
}

int weft_scope_free(weft_scope *s) {
  weft_task *self = weft_self();
  if (!scope_valid(s))
    return WEFT_EINVAL;
  if (!self || s->owner != self)
    return WEFT_EPERM;
  scope_destroy(self, s);
  return 0;
}

/* The owner's function returned with scopes it never freed: as
 * weft_scope_free for each, so no member outlives its owner. */
void weft__scopes_free_all(weft_task *t) {
  while (t->scopes)
    scope_destroy(t, t->scopes);
}
