/*
 * task.c - the task lifecycle: spawn, run, park and wake, join, detach,
 * cancel, yield, exit, and parking with a deadline. docs/design.md gives
 * the task states in section 4.1 and these protocols in 5.6 ("park"), 5.7
 * ("cancel"), 5.8 ("shield"), 5.9 ("join"), 5.10 ("done") and 5.15
 * ("deadline").
 *
 * Ownership
 * ---------
 * A task struct is allocated at spawn and released (returned to a worker's
 * cache or freed) exactly once, by whoever learns last that both (a) the
 * task has finished and (b) nobody will read its result: the finishing
 * worker for a detached task, the joiner otherwise, or weft_detach when it
 * comes after the finish. The join word below decides which. The stack is
 * released by the worker that saw the task exit, once it is off that stack.
 *
 * Protocol "join" (the word t->join)
 * ----------------------------------
 *   NONE       running, nobody waiting, not detached
 *   DETACHED   nobody will join; the finisher releases t
 *   DONE       finished; result is final
 *   <task *>   that task is parked waiting for t
 * A handle is claimed once (t->claimed, by join or detach), so at most one
 * joiner ever registers. The finisher does exchange(join, DONE) with
 * acq_rel after writing the result: if it gets DETACHED it releases t, if
 * a joiner it wakes it, if NONE it leaves t for a later join/detach, which
 * sees DONE (acquire) and so sees the result. A joiner registers itself
 * with CAS(NONE -> self) after its context is saved ("park"); if the CAS
 * fails the task is DONE and it wakes itself.
 *
 * Protocol "park" (a task is never visible to its waker unsaved)
 * ---------------------------------------------------------------
 * A task that blocks must not become visible to its waker before its
 * context is saved, or the waker could resume it on another worker while
 * it is still running here. So it never registers itself:
 *   1. weft__park(publish, arg, cancellable): if cancellation was requested
 *      (and the wait is cancellable), return WEFT_ECANCELED at once.
 *      Else set the worker's action to ACT_PARK and switch to the
 *      scheduler.
 *   2. The scheduler, off the task's stack, takes t->wait_lock, marks t
 *      PARKED and calls publish(t, arg), which registers t with its waker
 *      and sets t->withdraw. Then, still under wait_lock, it checks
 *      cancel_req; if set and withdraw succeeds, it wakes t with
 *      WEFT_ECANCELED. Unlock.
 *   3. A waker that takes t out of the wait structure calls weft__wake,
 *      which records the result and makes t READY.
 *   4. Resumed, t clears withdraw under wait_lock and returns the result.
 *
 * Protocol "cancel"
 * -----------------
 * weft_cancel(t) stores cancel_req (seq_cst), then takes t->wait_lock and,
 * if t->withdraw is set, calls it; if it withdrew t, the canceller wakes t
 * with WEFT_ECANCELED. Exactly one of waker and canceller wakes t: both
 * remove t from the same wait structure by a CAS or under that structure's
 * lock, and only the one that removed it wakes it. wait_lock orders the
 * canceller against step 2: if the canceller locks first it sees no
 * withdraw, but step 2 then sees cancel_req (stored before the canceller's
 * lock); if step 2 locks first the canceller sees withdraw. The wait object
 * stays alive while t is registered with it (for join: only t, the joiner,
 * can release the joinee), and step 4 clears withdraw before t can go on,
 * so a canceller never calls a stale withdraw.
 * A task cancelled before it first runs still runs, as a cancelled
 * pthread runs to its first cancellation point: its first blocking call
 * returns WEFT_ECANCELED. Its function is the only code that knows what
 * its argument holds (a socket, a buffer), so it alone can release it;
 * finishing the task unrun would leak that. The same holds for tasks that
 * weft_rt_free cancels before they start.
 *
 * Protocol "shield"
 * -----------------
 * weft_cancel_shield sets t->shield, and only t itself writes it, while
 * it runs. Every place that delivers a cancel asks weft__cancel_pending
 * (cancel_req and not shield) instead of cancel_req: park step 1 (the
 * task itself), park step 2 (its worker, right after the switch, in the
 * task's program order) and the canceller, which reads shield only after
 * it found t->withdraw set under wait_lock, i.e. while t is parked; the
 * task wrote shield before it parked, and step 2's unlock of wait_lock
 * publishes that to the canceller's lock. A shielded task is left waiting;
 * cancel_req stays set, so the first blocking call after the shield is
 * lowered returns WEFT_ECANCELED: the cancel is delivered late, not lost.
 *
 * Protocol "done" (weft_task_done and weft_task_on_done)
 * ------------------------------------------------------
 * The finisher, still on the task's stack with fn returned, stores
 * finishing (seq_cst) and then loads done_chan and ondone. weft_task_done
 * and weft_task_on_done install their object by CAS (seq_cst) and then
 * load finishing. By the total order of seq_cst operations at least one
 * side sees the other: either the finisher closes the channel and wakes
 * the callbacks' runner, or the installer sees finishing and does it
 * itself. If both see each other, done_closed (an exchange) lets exactly
 * one close the channel, and the callbacks' own lock (struct
 * weft__ondone) lets the runner see `finished` exactly once. Both objects
 * are freed with the task struct (task_release), never before: the
 * channel belongs to the task's handle, and the callbacks hold their own
 * reference.
 *
 * Registry: every task struct not yet released is on one shard's list (the
 * spawning worker's, or the foreign shard), so weft_rt_free can cancel all
 * of them and free the finished ones nobody joined, and the dump can list
 * them. Tasks mostly finish where they were spawned, so a shard's lock is
 * rarely contended.
 */
#include "runtime.h"

#include "sanitizer.h"

#include <stdlib.h>
#include <string.h>

#define JOIN_NONE ((uintptr_t)0)
#define JOIN_DETACHED ((uintptr_t)1)
#define JOIN_DONE ((uintptr_t)2)

#define TASK_CACHE 1024
#define ID_BLOCK 1024

/* ---- allocation ---- */

static weft_task *task_alloc(weft__worker *w) {
  weft_task *t;
  if (w && w->tcache) {
    t = w->tcache;
    w->tcache = t->next;
    w->ntcache--;
    memset(t, 0, sizeof *t);
    return t;
  }
  return calloc(1, sizeof(weft_task));
}

static void registry_remove(weft_rt *rt, weft_task *t);

static void ondone_unref(struct weft__ondone *od);

/* What a task struct owns besides itself: the done channel and its
 * reference to the callbacks. */
static void task_free_parts(weft_task *t) {
  weft_chan *c = atomic_load_explicit(&t->done_chan, memory_order_relaxed);
  struct weft__ondone *od = atomic_load_explicit(&t->ondone, memory_order_relaxed);
  if (c)
    t->rt->task_hooks->done_free(c);
  if (od)
    ondone_unref(od);
}

/* Release a task struct. The handle becomes invalid: its magic says so
 * while the memory is not reused. */
static void task_release(weft_task *t) {
  weft__worker *w = weft__worker_current();
  task_free_parts(t);
  registry_remove(t->rt, t);
  t->magic = WEFT_TASK_DEAD;
  if (w && w->rt == t->rt && w->ntcache < TASK_CACHE) {
    t->next = w->tcache;
    w->tcache = t;
    w->ntcache++;
    return;
  }
  free(t);
}

void weft__task_cache_drain(weft__worker *w) {
  weft_task *t, *next;
  for (t = w->tcache; t; t = next) {
    next = t->next;
    free(t);
  }
  w->tcache = NULL;
  w->ntcache = 0;
}

static uint64_t next_id(weft_rt *rt, weft__worker *w) {
  if (!w)
    return atomic_fetch_add(&rt->next_id, 1);
  if (w->id_next == w->id_end) {
    w->id_next = atomic_fetch_add(&rt->next_id, ID_BLOCK);
    w->id_end = w->id_next + ID_BLOCK;
  }
  return w->id_next++;
}

/* ---- registry ---- */

static void registry_add(weft_rt *rt, weft_task *t) {
  struct weft__shard *s = &rt->shards[t->shard];
  weft__spin_lock(&s->lock);
  t->reg_prev = NULL;
  t->reg_next = s->head;
  if (s->head)
    s->head->reg_prev = t;
  s->head = t;
  weft__spin_unlock(&s->lock);
}

static void registry_remove(weft_rt *rt, weft_task *t) {
  struct weft__shard *s = &rt->shards[t->shard];
  weft__spin_lock(&s->lock);
  if (t->reg_prev)
    t->reg_prev->reg_next = t->reg_next;
  else
    s->head = t->reg_next;
  if (t->reg_next)
    t->reg_next->reg_prev = t->reg_prev;
  weft__spin_unlock(&s->lock);
}

/* ---- spawn ---- */

int weft__spawn(weft_rt *rt, weft__worker *w, weft_task **out, const weft_spawn_attr *attr,
                void *(*fn)(void *), void *arg) {
  bool detached = !out || (attr && attr->detached);
  size_t size = weft__stack_round(attr ? attr->stack_size : 0, rt->stack_size);
  weft_task *t;

  if (!fn || !size)
    return WEFT_EINVAL;
  t = task_alloc(w);
  if (!t)
    return WEFT_ENOMEM;
  t->stack = weft__stack_get(&rt->stacks, size, w ? &w->stacks : NULL);
  if (!t->stack) {
    free(t);
    return WEFT_ENOMEM;
  }
  t->fn = fn;
  atomic_init(&t->last_worker, WEFT__NO_WORKER); /* not started: the dump reads it */
  t->arg = arg;
  t->rt = rt;
  t->magic = WEFT_TASK_MAGIC;
  t->id = next_id(rt, w);
  t->shard = w ? (int)w->idx : (int)rt->nworkers;
  if (attr && attr->name)
    strncpy(t->name, attr->name, sizeof t->name - 1);
  atomic_init(&t->join, detached ? JOIN_DETACHED : JOIN_NONE);
  atomic_init(&t->claimed, detached);
  weft__spin_init(&t->wait_lock);
  weft__ctx_init(&t->ctx, t->stack->lo, t->stack->size, weft__task_entry, t);
  t->cur_stack = t->stack;
  t->cur_fake = &t->asan_fake;

  atomic_fetch_add(&rt->ntasks, 1);
  registry_add(rt, t);
  /* After registering: weft_rt_free either finds t in the registry or set
   * closing before our read (its store precedes its registry scan). */
  if (atomic_load(&rt->closing))
    atomic_store(&t->cancel_req, true);
  if (w)
    WEFT_COUNT(w->n.spawned);
  else
    atomic_fetch_add(&rt->foreign_spawned, 1);
  if (out)
    *out = detached ? NULL : t;
  weft__ready(t);
  return 0;
}

/* ---- running and finishing ---- */

/* The first code on a task's stack. */
void weft__task_entry(void *arg) {
  weft_task *t = arg;
  weft__worker *w;

  weft__asan_finish_switch(NULL);
  t->result = t->fn(t->arg);
  weft__task_end(t);
  w = weft__worker_current();
  w->action = ACT_EXIT;
  weft__switch_out(w, t, true);
  weft__fatal(__FILE__, __LINE__, "a finished task was resumed");
}

/* Everything after the task's last instruction: release the stack, leave the
 * registry, then the "join" exchange. Owner worker, off t's stack. */
void weft__task_exit(weft__worker *w, weft_task *t) {
  weft_rt *rt = t->rt;
  uintptr_t old;

  WEFT_DEBUG_CHECK(t->withdraw == NULL && t->stack);
  atomic_store_explicit(&t->state, TASK_DONE, memory_order_relaxed);
  weft__stack_put(t->stack, &w->stacks);
  t->stack = NULL;
  if (t->tsan_fiber) {
    weft__tsan_destroy(t->tsan_fiber);
    t->tsan_fiber = NULL;
  }
  WEFT_COUNT(w->n.completed);
  old = atomic_exchange_explicit(&t->join, JOIN_DONE, memory_order_acq_rel); /* "join" */
  if (old == JOIN_DETACHED)
    task_release(t);
  else if (old != JOIN_NONE)
    weft__wake((weft_task *)old, 0);
  /* t may be gone now. */
  if (atomic_fetch_sub(&rt->ntasks, 1) == 1) {
    pthread_mutex_lock(&rt->wait_lock);
    pthread_cond_broadcast(&rt->wait_cv);
    pthread_mutex_unlock(&rt->wait_lock);
  }
}

/* Before a task's first switch. A task cancelled before it starts still
 * runs (its first blocking call returns WEFT_ECANCELED), so that its
 * function can release what it was handed. Owner worker only. */
void weft__task_run_first(weft_task *t) {
  t->started = true;
  t->tsan_fiber = weft__tsan_create();
  t->cur_fiber = t->tsan_fiber;
}

/* "park", step 2: t switched out to park; publish it where its waker
 * will find it, and take it back at once if a cancel is pending. Owner
 * worker, off t's stack (its context is saved). */
void weft__task_parked(weft__worker *w, weft_task *t) {
  weft__spin_lock(&t->wait_lock);
  atomic_store_explicit(&t->state, TASK_PARKED, memory_order_relaxed);
  w->publish(t, w->publish_arg);
  if (t->withdraw && weft__cancel_pending(t) && t->withdraw(t)) {
    t->withdraw = NULL;
    weft__wake(t, WEFT_ECANCELED);
  }
  weft__spin_unlock(&t->wait_lock);
}

/* ---- park and wake ---- */

static weft_task *self_in(weft__worker **wp) {
  weft__worker *w = weft__worker_current();
  *wp = w;
  return w ? w->current : NULL;
}

int weft__park(weft__publish_fn publish, void *arg, bool cancellable) {
  weft__worker *w;
  weft_task *t = self_in(&w);
  int rc;

  if (cancellable && weft__cancel_pending(t)) /* "park", step 1 */
    return WEFT_ECANCELED;
  atomic_store_explicit(&t->wait_since, weft__coarse_ms(), memory_order_relaxed);
  w->action = ACT_PARK;
  w->publish = publish;
  w->publish_arg = arg;
  weft__switch_out(w, t, false);
  weft__spin_lock(&t->wait_lock); /* step 4 */
  t->withdraw = NULL;
  t->wait_obj = NULL;
  rc = t->wake_result;
  weft__spin_unlock(&t->wait_lock);
  return rc;
}

/* "park", step 3. The caller has removed t from what it waited on. */
void weft__wake(weft_task *t, int result) {
  t->wake_result = result;
  weft__ready(t);
}

/* ---- park with a deadline ----
 *
 * weft__park_until: weft__park with a deadline, for waits whose waker is
 * not the I/O thread (channels, select, locks, join, scopes) and for
 * sleeps. The deadline is a timer on the runtime's heap (timers.c), added
 * and removed by the task's own worker with no message, so a timed wait
 * that ends in time costs a lock and an unlink, and the I/O thread hears
 * of it only when it became the earliest deadline.
 *
 * Protocol "deadline" (docs/design.md, section 5.15):
 *  1. The publish wrapper runs the wait's own publish; if that left the
 *     task waiting (withdraw set), it marks the deadline armed and adds
 *     its timer (protocol "timers", T1). Still under the task's
 *     wait_lock, so no waker can end the wait before `armed` is written.
 *  2. When the timer fires, the host calls dl_fire, which takes the task's
 *     wait_lock and, if the task is still waiting and withdraw takes it
 *     back, wakes it with WEFT_ETIMEDOUT. This is the "cancel" protocol of
 *     task.c with another result, so a real wakeup and the deadline cannot
 *     both wake the task.
 *  3. The task, resumed for whatever reason, deletes the timer if it was
 *     armed (T3). If the delete finds it fired or firing, the task waits
 *     until dl_fire has returned: only then may it leave, since the
 *     deadline lives on its stack and dl_fire touches the task.
 * Lock order: wait_lock, then the heap's lock (step 1); dl_fire runs with
 * no heap lock held (T2), so it may take wait_lock.
 */

struct deadline {
  weft__timer timer;
  weft_task *task;          /* immutable */
  weft__publish_fn publish; /* the wait's own publish step; immutable */
  void *arg;
  bool armed; /* written in the publish step under task->wait_lock; spares
               * the heap's lock when the wait ended in its publish step */
};

static void dl_publish(weft_task *t, void *arg) {
  struct deadline *d = arg;
  d->publish(t, d->arg);
  if (!t->withdraw)
    return; /* the wait is over already: no timer needed */
  d->armed = true;
  weft__timer_add(t->rt, &d->timer);
}

static void dl_fire(weft__timer *tm) {
  struct deadline *d = container_of(tm, struct deadline, timer);
  weft_task *t = d->task;
  weft__spin_lock(&t->wait_lock);
  if (t->withdraw && t->withdraw(t)) {
    t->withdraw = NULL;
    weft__wake(t, WEFT_ETIMEDOUT);
  }
  weft__spin_unlock(&t->wait_lock);
}

int weft__park_until(weft__publish_fn publish, void *arg, int64_t when) {
  weft_task *t = weft_self();
  struct deadline d = {.task = t, .publish = publish, .arg = arg};
  int rc;

  if (when < 0)
    return weft__park(publish, arg, true);
  d.timer.when = when;
  d.timer.fire = dl_fire;
  d.timer.waited = true; /* it lives on this stack: step 3 waits out a fire */
  rc = weft__park(dl_publish, &d, true);
  /* armed was written before the wake that resumed us (step 1). */
  if (d.armed && !weft__timer_del(t->rt, &d.timer))
    weft__timer_wait_fired(&d.timer);
  return rc;
}

/* ---- the public task calls ---- */

weft_task *weft_self(void) {
  weft__worker *w;
  return self_in(&w);
}

int weft_spawn(weft_task **out, void *(*fn)(void *), void *arg) {
  return weft_spawn_ex(out, NULL, fn, arg);
}

int weft_spawn_ex(weft_task **out, const weft_spawn_attr *attr, void *(*fn)(void *), void *arg) {
  weft__worker *w;
  if (!self_in(&w))
    return WEFT_EPERM;
  if (!out && attr && !attr->detached)
    return WEFT_EINVAL;
  return weft__spawn(w->rt, w, out, attr, fn, arg);
}

void weft_spawn_attr_init(weft_spawn_attr *attr) {
  if (attr)
    memset(attr, 0, sizeof *attr);
}

static bool task_valid(const weft_task *t) {
  return t && t->magic == WEFT_TASK_MAGIC;
}

/* "join": register the parked joiner with the joinee (arg). */
static bool join_withdraw(weft_task *self);

static void join_publish(weft_task *self, void *arg) {
  weft_task *t = arg;
  uintptr_t expect = JOIN_NONE;
  if (atomic_compare_exchange_strong_explicit(&t->join, &expect, (uintptr_t)self,
                                              memory_order_acq_rel, memory_order_acquire)) {
    self->withdraw = join_withdraw;
    self->wait_obj = t;
    return;
  }
  weft__wake(self, 0); /* t finished meanwhile */
}

static bool join_withdraw(weft_task *self) {
  weft_task *t = self->wait_obj;
  uintptr_t expect = (uintptr_t)self;
  return atomic_compare_exchange_strong(&t->join, &expect, JOIN_NONE);
}

int weft_join(weft_task *t, void **result) {
  return weft_join_until(t, result, -1);
}

int weft_join_until(weft_task *t, void **result, int64_t deadline) {
  weft__worker *w;
  weft_task *self = self_in(&w);
  int rc = 0;

  if (!self)
    return WEFT_EPERM;
  if (!task_valid(t))
    return WEFT_EINVAL;
  if (t == self)
    return WEFT_EDEADLK;
  if (atomic_exchange(&t->claimed, true))
    return WEFT_EINVAL; /* detached, or another join holds it */
  if (atomic_load_explicit(&t->join, memory_order_acquire) != JOIN_DONE) {
    if (deadline >= 0 && deadline <= weft_now())
      rc = WEFT_ETIMEDOUT;
    else {
      weft__wait_note(self, "join of task %lu", (uintptr_t)t->id, deadline);
      rc = weft__park_until(join_publish, t, deadline);
    }
    /* A task whose function has returned ("done": its done channel may be
     * closed, its callbacks running) has finished as far as anyone can
     * see; only its switch-out is left. Its deadline is past then. */
    if (rc == WEFT_ETIMEDOUT && atomic_load(&t->finishing)) {
      weft__wait_note(self, "join of task %lu", (uintptr_t)t->id, -1);
      rc = weft__park(join_publish, t, true);
    }
    if (rc) { /* cancelled or timed out: t stays joinable */
      atomic_store(&t->claimed, false);
      return rc;
    }
  }
  if (result)
    *result = t->result;
  task_release(t);
  return 0;
}

int weft_detach(weft_task *t) {
  uintptr_t expect = JOIN_NONE;
  if (!task_valid(t) || atomic_exchange(&t->claimed, true))
    return WEFT_EINVAL;
  if (!atomic_compare_exchange_strong_explicit(&t->join, &expect, JOIN_DETACHED,
                                               memory_order_acq_rel, memory_order_acquire))
    task_release(t); /* already DONE: nobody else will */
  return 0;
}

/* "cancel". t must be valid (the registry, a handle or a scope's member
 * list holds it). The cancel reaches the members of t's scopes too
 * (scope.c), unless t is shielded: then they hear of it when the shield
 * is lowered (weft_cancel_shield). */
void weft__cancel(weft_task *t) {
  atomic_store(&t->cancel_req, true);
  weft__spin_lock(&t->wait_lock);
  if (!atomic_load_explicit(&t->shield, memory_order_relaxed)) { /* "shield" */
    if (t->withdraw && t->withdraw(t)) {
      t->withdraw = NULL;
      weft__wake(t, WEFT_ECANCELED);
    }
    if (t->scopes)
      t->rt->task_hooks->cancel_scopes(t);
  }
  weft__spin_unlock(&t->wait_lock);
}

int weft_cancel(weft_task *t) {
  if (!task_valid(t))
    return WEFT_EINVAL;
  weft__cancel(t);
  return 0;
}

/* Free the finished tasks nobody joined or detached. Workers stopped. */
void weft__task_free_unjoined(weft_rt *rt) {
  for (unsigned i = 0; i <= rt->nworkers; i++) {
    weft_task *t, *next;
    for (t = rt->shards[i].head; t; t = next) {
      next = t->reg_next;
      WEFT_CHECK(atomic_load(&t->join) == JOIN_DONE);
      task_free_parts(t);
      free(t);
    }
    rt->shards[i].head = NULL;
  }
}

void weft__task_cancel_all(weft_rt *rt) {
  for (unsigned i = 0; i <= rt->nworkers; i++) {
    struct weft__shard *s = &rt->shards[i];
    weft__spin_lock(&s->lock);
    for (weft_task *t = s->head; t; t = t->reg_next)
      weft__cancel(t);
    weft__spin_unlock(&s->lock);
  }
}

int weft_canceled(void) {
  weft_task *t = weft_self();
  return t ? weft__cancel_pending(t) : 0;
}

int weft_task_was_canceled(const weft_task *t) {
  if (!task_valid(t))
    return WEFT_EINVAL;
  return atomic_load(&t->cancel_req) ? 1 : 0;
}

int weft_cancel_shield(int on) {
  weft_task *t = weft_self();
  bool was;
  if (!t)
    return WEFT_EPERM;
  was = atomic_load_explicit(&t->shield, memory_order_relaxed);
  atomic_store_explicit(&t->shield, on != 0, memory_order_relaxed); /* "shield" */
  if (was && !on && atomic_load(&t->cancel_req)) {
    /* A cancel that came behind the shield reaches the task's scopes now,
     * as weft__cancel would have (its own blocking calls see it anyway). */
    weft__spin_lock(&t->wait_lock);
    if (t->scopes)
      t->rt->task_hooks->cancel_scopes(t);
    weft__spin_unlock(&t->wait_lock);
  }
  return was;
}

/* ---- completion: "done" ---- */

/* Close t's done channel, once, whoever sees the need first. */
static void done_close(weft_task *t, weft_chan *c) {
  if (!atomic_exchange(&t->done_closed, true))
    t->rt->task_hooks->done_close(c);
}

int weft_task_done(weft_task *t, weft_chan **out) {
  weft_chan *c, *expect = NULL;
  int rc;
  if (!out)
    return WEFT_EINVAL;
  *out = NULL;
  if (!task_valid(t))
    return WEFT_EINVAL;
  if (!(c = atomic_load(&t->done_chan))) {
    if ((rc = t->rt->task_hooks->done_new(&c)))
      return rc;
    if (!atomic_compare_exchange_strong(&t->done_chan, &expect, c)) { /* seq_cst */
      t->rt->task_hooks->done_free(c);
      c = expect;
    } else if (atomic_load(&t->finishing)) { /* seq_cst; pairs with task_end */
      done_close(t, c);
    }
  }
  *out = c;
  return 0;
}

/*
 * The callbacks of one task: a queue the runner task drains in order. The
 * runner is a detached task of weft's; it exists while `running`, waits
 * (not cancellably: it must run the callbacks whatever happens) until the
 * task has finished, then runs each callback in turn and ends when the
 * queue is empty. References: the task struct's, and the runner's.
 */
struct ondone_cb {
  struct ondone_cb *next;
  void (*fn)(weft_task *t, void *result, int canceled, void *arg);
  void *arg;
};

struct weft__ondone {
  weft__spinlock lock;
  struct ondone_cb *head, *tail; /* under lock */
  bool finished;                 /* under lock: result and canceled are final */
  bool running;                  /* under lock: a runner exists */
  int refs;                      /* under lock */
  weft_task *runner_waiting;     /* under lock: the runner, parked for finished */
  weft_task *task;               /* immutable; an identity once t is released */
  void *result;                  /* written once, before finished */
  int canceled;
};

static void ondone_unref(struct weft__ondone *od) {
  int left;
  weft__spin_lock(&od->lock);
  left = --od->refs;
  weft__spin_unlock(&od->lock);
  if (!left)
    free(od);
}

/* Park publish step of the runner: wait unless the task has finished. */
static void ondone_publish(weft_task *self, void *arg) {
  struct weft__ondone *od = arg;
  bool done;
  weft__spin_lock(&od->lock);
  done = od->finished;
  if (!done)
    od->runner_waiting = self;
  weft__spin_unlock(&od->lock);
  if (done)
    weft__wake(self, 0);
}

/* t has finished: record its outcome, once, and wake a waiting runner. */
static void ondone_finish(struct weft__ondone *od, weft_task *t) {
  weft_task *runner = NULL;
  weft__spin_lock(&od->lock);
  if (!od->finished) {
    od->result = t->result;
    od->canceled = atomic_load(&t->cancel_req);
    od->finished = true;
    runner = od->runner_waiting;
    od->runner_waiting = NULL;
  }
  weft__spin_unlock(&od->lock);
  if (runner)
    weft__wake(runner, 0);
}

static void *ondone_run(void *arg) {
  struct weft__ondone *od = arg;
  struct ondone_cb *cb;
  bool done;

  weft__spin_lock(&od->lock);
  done = od->finished;
  weft__spin_unlock(&od->lock);
  if (!done) {
    weft__wait_note(weft_self(), "task %lu to finish (on_done)", (uintptr_t)od->task->id, -1);
    weft__park(ondone_publish, od, false); /* not cancellable; finish wakes it */
  }
  for (;;) {
    weft__spin_lock(&od->lock);
    if ((cb = od->head) && !(od->head = cb->next))
      od->tail = NULL;
    if (!cb)
      od->running = false;
    weft__spin_unlock(&od->lock);
    if (!cb)
      break;
    cb->fn(od->task, od->result, od->canceled, cb->arg);
    free(cb);
  }
  ondone_unref(od);
  return NULL;
}

int weft_task_on_done(weft_task *t, void (*fn)(weft_task *t, void *result, int canceled, void *arg),
                      void *arg) {
  weft__worker *w;
  struct weft__ondone *od, *expect = NULL;
  struct ondone_cb *cb;
  weft_spawn_attr attr;
  bool spawn;
  int rc;

  if (!task_valid(t) || !fn)
    return WEFT_EINVAL;
  if (!self_in(&w))
    return WEFT_EPERM;
  if (!(cb = calloc(1, sizeof *cb)))
    return WEFT_ENOMEM;
  cb->fn = fn;
  cb->arg = arg;
  if (!(od = atomic_load(&t->ondone))) {
    if (!(od = calloc(1, sizeof *od))) {
      free(cb);
      return WEFT_ENOMEM;
    }
    weft__spin_init(&od->lock);
    od->refs = 1; /* the task struct's */
    od->task = t;
    if (!atomic_compare_exchange_strong(&t->ondone, &expect, od)) { /* seq_cst */
      free(od);
      od = expect;
    } else if (atomic_load(&t->finishing)) { /* seq_cst; pairs with task_end */
      ondone_finish(od, t); /* task_end may not have seen od */
    }
  }
  weft__spin_lock(&od->lock);
  if (od->tail)
    od->tail->next = cb;
  else
    od->head = cb;
  od->tail = cb;
  if ((spawn = !od->running)) {
    od->running = true;
    od->refs++; /* the runner's */
  }
  weft__spin_unlock(&od->lock);
  if (!spawn)
    return 0;
  weft_spawn_attr_init(&attr);
  attr.detached = 1;
  attr.name = "on_done";
  if (!(rc = weft__spawn(w->rt, w, NULL, &attr, ondone_run, od)))
    return 0;
  /* No runner: take the callback back (no runner can have taken it). */
  weft__spin_lock(&od->lock);
  struct ondone_cb **pp = &od->head, *prev = NULL;
  while (*pp != cb) {
    prev = *pp;
    pp = &(*pp)->next;
  }
  *pp = cb->next;
  if (od->tail == cb)
    od->tail = prev;
  od->running = false;
  od->refs--;
  weft__spin_unlock(&od->lock);
  free(cb);
  return rc;
}

/* After fn returned, still on t's stack ("done"): free the scopes and
 * generators it left, then close the done channel and release the
 * callbacks' runner. */
void weft__task_end(weft_task *t) {
  struct weft__ondone *od;
  weft_chan *c;

  if (t->scopes || t->gens)
    t->rt->task_hooks->fn_returned(t);
  atomic_store(&t->finishing, true); /* seq_cst; pairs with the installers' CAS */
  if ((c = atomic_load(&t->done_chan)))
    done_close(t, c);
  if ((od = atomic_load(&t->ondone)))
    ondone_finish(od, t);
}

void weft_yield(void) {
  weft__worker *w;
  weft_task *t = self_in(&w);
  if (t)
    weft__yield(w, t);
}

uint64_t weft_task_id(const weft_task *t) {
  return t ? t->id : 0;
}

const char *weft_task_name(const weft_task *t) {
  return t ? t->name : NULL;
}
