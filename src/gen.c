/*
 * gen.c - generators: asymmetric coroutines that a task drives, PEP 342's
 * send/yield/close in C.
 *
 * A generator has its own stack and context. weft_gen_send switches from
 * the driver (the task, or a generator the task is running: "yield from")
 * into the generator; weft_gen_yield switches back to whoever resumed it.
 * Both run on the driving task's worker, inside that task: no queue, no
 * lock, no other thread is involved, so a resume and a yield cost one
 * context switch each.
 *
 * The task's "current context" (cur_stack, cur_fiber, cur_fake, cur_gen in
 * runtime.h) follows the switches, because the scheduler needs it when the
 * generator blocks: a weft_sleep or weft_recv inside a generator parks the
 * whole task with the generator's context saved as the task's, and the
 * task later resumes right there, on the generator's stack, possibly on
 * another worker. The overflow check, AddressSanitizer and ThreadSanitizer
 * all look at the current context.
 *
 * States (Python's inspect.getgeneratorstate):
 *   CREATED -> (first send, NULL) -> RUNNING -> yield -> SUSPENDED -> ...
 *   RUNNING -> fn returns -> CLOSED (finished)
 *   CREATED or SUSPENDED -> weft_gen_close -> CLOSED
 * A generator belongs to the task that created it; every call on it but
 * weft_gen_state must come from that task. The task keeps a list of the
 * generators it has not freed (owner only, no lock); when its function
 * returns, weft__gen_free_all closes each (its cleanup runs) and frees it,
 * so a forgotten generator costs neither its stack nor a runtime abort.
 *
 * weft_gen_throw is weft_gen_send with an error: the generator's
 * weft_gen_yield returns NULL and weft_gen_thrown() gives the error until
 * the generator yields or resumes another; Python's gen.throw(), with an
 * errno-style code for the exception.
 */
#include "runtime.h"

#include "sanitizer.h"

#include <stdlib.h>

#define WEFT_GEN_MAGIC 0x67656e21u /* "gen!" */

struct weft_gen {
  uint32_t magic;
  int state;               /* WEFT_GEN_*; the owner task */
  bool finished;           /* fn returned */
  bool closing;            /* weft_gen_close is resuming it */
  int thrown;              /* the error weft_gen_throw resumed it with, or 0 */
  struct weft_gen *next, *prev; /* the owner's list of live generators */
  weft_task *owner;        /* immutable */
  weft_rt *rt;             /* immutable */
  void *(*fn)(void *);     /* immutable */
  void *arg;               /* immutable */
  void *value;             /* what the last send or yield passed */
  weft_ctx ctx;            /* the generator's context while suspended */
  weft_ctx caller;         /* its resumer's context while it runs */
  weft__stack *stack;
  void *asan_fake;
  void *tsan_fiber;
  /* The resumer's current context, restored when this one yields: */
  weft__stack *prev_stack;
  void *prev_fiber;
  void **prev_fake;
  struct weft_gen *prev_gen;
};

static bool gen_valid(const weft_gen *g) {
  return g && g->magic == WEFT_GEN_MAGIC;
}

/* Switch from the generator g back to its resumer. */
static void to_caller(weft_gen *g, bool finished) {
  weft_task *t = g->owner;
  t->cur_stack = g->prev_stack;
  t->cur_fiber = g->prev_fiber;
  t->cur_fake = g->prev_fake;
  t->cur_gen = g->prev_gen;
  weft__asan_start_switch(finished ? NULL : &g->asan_fake, g->prev_stack->lo,
                          g->prev_stack->size);
  weft__tsan_switch(g->prev_fiber);
  weft__ctx_switch(&g->ctx, &g->caller);
  weft__asan_finish_switch(g->asan_fake);
}

static void entry(void *arg) {
  weft_gen *g = arg;
  weft__asan_finish_switch(NULL);
  g->value = g->fn(g->arg);
  g->finished = true;
  g->state = WEFT_GEN_CLOSED;
  to_caller(g, true);
  weft__fatal(__FILE__, __LINE__, "a finished generator was resumed");
}

int weft_gen_new(weft_gen **out, void *(*fn)(void *), void *arg) {
  weft__worker *w = weft__worker_current();
  weft_task *t = w ? w->current : NULL;
  weft_gen *g;

  if (!out || !fn)
    return WEFT_EINVAL;
  *out = NULL;
  if (!t)
    return WEFT_EPERM;
  if (!(g = calloc(1, sizeof *g)))
    return WEFT_ENOMEM;
  g->stack = weft__stack_get(&t->rt->stacks, t->rt->stack_size, &w->stacks);
  if (!g->stack) {
    free(g);
    return WEFT_ENOMEM;
  }
  g->magic = WEFT_GEN_MAGIC;
  g->state = WEFT_GEN_CREATED;
  g->owner = t;
  g->rt = t->rt;
  g->fn = fn;
  g->arg = arg;
  weft__ctx_init(&g->ctx, g->stack->lo, g->stack->size, entry, g);
  if ((g->next = t->gens))
    t->gens->prev = g;
  t->gens = g;
  *out = g;
  return 0;
}

/* Resume g with in (and thrown: 0 or an error for weft_gen_thrown); on
 * return, g has yielded or finished. Owner only. */
static void resume(weft_gen *g, void *in, int thrown) {
  weft_task *t = g->owner;

  if (!g->tsan_fiber)
    g->tsan_fiber = weft__tsan_create();
  g->value = in;
  g->thrown = thrown;
  g->state = WEFT_GEN_RUNNING;
  g->prev_stack = t->cur_stack;
  g->prev_fiber = t->cur_fiber;
  g->prev_fake = t->cur_fake;
  g->prev_gen = t->cur_gen;
  t->cur_stack = g->stack;
  t->cur_fiber = g->tsan_fiber;
  t->cur_fake = &g->asan_fake;
  t->cur_gen = g;
  weft__asan_start_switch(g->prev_fake, g->stack->lo, g->stack->size);
  weft__tsan_switch(g->tsan_fiber);
  weft__ctx_switch(&g->caller, &g->ctx);
  weft__asan_finish_switch(*g->prev_fake);
}

/* The checks every resume makes. */
static int check_resume(const weft_gen *g) {
  weft_task *t = weft_self();
  if (!gen_valid(g))
    return WEFT_EINVAL;
  if (!t)
    return WEFT_EPERM;
  if (g->owner != t)
    return WEFT_EPERM; /* a generator belongs to its creator */
  if (g->state == WEFT_GEN_RUNNING)
    return WEFT_EBUSY; /* it is running: it resumed itself or an ancestor */
  if (g->state == WEFT_GEN_CLOSED)
    return WEFT_EDONE;
  return 0;
}

int weft_gen_send(weft_gen *g, void *in, void **out) {
  int rc = check_resume(g);
  if (rc)
    return rc;
  if (g->state == WEFT_GEN_CREATED && in != NULL)
    return WEFT_EINVAL; /* PEP 342: the first resume must send NULL */
  resume(g, in, 0);
  if (out)
    *out = g->value;
  return g->finished ? WEFT_EDONE : 0;
}

int weft_gen_next(weft_gen *g, void **out) {
  return weft_gen_send(g, NULL, out);
}

void *weft_gen_yield(void *value) {
  weft_task *t = weft_self();
  weft_gen *g = t ? t->cur_gen : NULL;
  if (!g)
    return NULL; /* not inside a generator: nothing to yield to */
  g->value = value;
  g->state = WEFT_GEN_SUSPENDED;
  to_caller(g, false);
  return g->value; /* what the next send brought */
}

int weft_gen_throw(weft_gen *g, int err, void **out) {
  int rc = check_resume(g);
  if (rc)
    return rc;
  if (!err)
    return WEFT_EINVAL;
  if (g->state == WEFT_GEN_CREATED) { /* raised at its first line: it never runs */
    g->state = WEFT_GEN_CLOSED;
    return err;
  }
  resume(g, NULL, err);
  if (out)
    *out = g->value;
  return g->finished ? WEFT_EDONE : 0;
}

int weft_gen_thrown(void) {
  weft_task *t = weft_self();
  return t && t->cur_gen ? t->cur_gen->thrown : 0;
}

int weft_gen_closing(void) {
  weft_task *t = weft_self();
  return t && t->cur_gen && t->cur_gen->closing;
}

int weft_gen_close(weft_gen *g) {
  int rc = check_resume(g);
  if (rc == WEFT_EDONE)
    return 0; /* closing a finished or closed generator just leaves it closed */
  if (rc)
    return rc;
  if (g->state == WEFT_GEN_CREATED) {
    g->state = WEFT_GEN_CLOSED;
    return 0;
  }
  g->closing = true;
  resume(g, NULL, 0);
  g->closing = false;
  if (!g->finished)
    return WEFT_EINVAL; /* it yielded instead of returning (Python's RuntimeError) */
  return 0;
}

int weft_gen_state(const weft_gen *g) {
  return gen_valid(g) ? g->state : WEFT_EINVAL;
}

int weft_gen_free(weft_gen *g) {
  weft__worker *w;
  int rc;
  if (!gen_valid(g))
    return WEFT_EINVAL;
  if (g->owner != weft_self())
    return WEFT_EPERM;
  if (g->state == WEFT_GEN_RUNNING)
    return WEFT_EBUSY;
  rc = weft_gen_close(g);
  /* Even if it refused to close, its stack is only memory now: its frames
   * are abandoned without running their cleanup, as Python does when such a
   * generator is collected. */
  if (!g->finished) /* abandoned frames leave their redzones poisoned */
    weft__asan_unpoison(g->stack->lo, g->stack->size);
  w = weft__worker_current();
  weft__stack_put(g->stack, w && w->rt == g->rt ? &w->stacks : NULL);
  if (g->tsan_fiber)
    weft__tsan_destroy(g->tsan_fiber);
  if (g->prev)
    g->prev->next = g->next;
  else
    g->owner->gens = g->next;
  if (g->next)
    g->next->prev = g->prev;
  g->magic = 0;
  free(g);
  return rc == WEFT_EINVAL ? WEFT_EINVAL : 0;
}

void weft__gen_free_all(weft_task *t) {
  /* A generator's cleanup may create or free generators: take the head
   * each time. None is running: the task's own function has returned. */
  while (t->gens)
    weft_gen_free(t->gens);
}
