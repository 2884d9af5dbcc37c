/*
 * stack.c - task stacks.
 *
 * Layout. A stack is usable memory with one guard page below it (stacks grow
 * down, so an overflow runs into the guard). Stacks of one size are carved
 * from chunks: one anonymous mapping of up to CHUNK_STACKS stacks,
 *
 *     chunk: [guard|stack 0][guard|stack 1] ... [guard|stack n-1]
 *
 * The kernel commits pages on first touch, so an idle 256 KiB stack costs
 * the one or two pages its task actually used.
 *
 * Why chunks. Linux allows vm.max_map_count (65530 by default) mappings per
 * process. A guard made with mprotect splits a mapping in two, so one
 * mmap+mprotect per stack stops near 32k stacks. Instead:
 *  - GUARD_MADVISE: Linux >= 6.13 installs guard markers with
 *    madvise(MADV_GUARD_INSTALL), which splits nothing: a chunk of 64 stacks
 *    is one mapping, and a million stacks need about 16k mappings.
 *  - GUARD_MPROTECT: older kernels get mprotect guards while a process-wide
 *    budget of mappings lasts (half of max_map_count, less a margin for the
 *    program itself); stacks carved after that are unguarded.
 *  - Unguarded stacks carry a canary in their lowest word, checked by the
 *    scheduler each time a task switches out (weft__stack_intact): an
 *    overflow is still reported, never a failed spawn or silent corruption.
 * WEFT_STACK_GUARD=mprotect|canary forces the older schemes (for tests).
 *
 * Caches. A freed stack goes to its worker's cache (no lock, no syscall);
 * an overflowing cache moves half of itself to the pool, and an empty one
 * takes half its capacity from the pool, each under one lock. Stacks keep
 * their touched pages while pooled: releasing them on every return made a
 * workload that keeps a thousand tasks alive fault its stacks back in on
 * each round. When a chunk cannot
 * be mapped (address space or mappings exhausted), every chunk whose stacks
 * are all free is unmapped, in every pool of the runtime, and the mapping is
 * tried once more; only then does spawn fail with WEFT_ENOMEM.
 * Who may hold a stack where: docs/design.md, section 5.18.
 */
#define _GNU_SOURCE
#include "stack.h"

#include "sanitizer.h"
#include "weft-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define CHUNK_BYTES ((size_t)16 << 20)
#define CHUNK_STACKS 64
#define CANARY UINT64_C(0x77656674f00dcafe)

enum guard_mode { GUARD_MADVISE, GUARD_MPROTECT, GUARD_CANARY };

struct stack_chunk {
  char *base; /* the mapping */
  size_t len;
  unsigned nstacks;
  unsigned nfree;            /* stacks of this chunk in the pool; under pool->lock */
  struct stack_chunk *next;  /* pool->chunks; under pool->lock */
  weft__stack stacks[];
};

struct stack_pool {
  pthread_mutex_t lock;
  size_t size;               /* usable bytes per stack; immutable */
  weft__stack *free;         /* under lock */
  size_t nfree;              /* under lock */
  size_t nmapped;            /* under lock */
  struct stack_chunk *chunks; /* under lock */
  bool cacheable;            /* the default size: workers cache these; immutable */
  struct stack_pool *next;   /* weft__stacks.pools; under weft__stacks.lock */
};

static pthread_once_t mode_once = PTHREAD_ONCE_INIT;
static enum guard_mode mode;
static atomic_long mprotect_budget; /* guards mprotect may still make */

size_t weft__page_size(void) {
  static atomic_size_t page;
  size_t p = atomic_load_explicit(&page, memory_order_relaxed);
  if (!p) {
    p = (size_t)sysconf(_SC_PAGESIZE);
    atomic_store_explicit(&page, p, memory_order_relaxed);
  }
  return p;
}

static long max_map_count(void) {
  long v = 65530;
  FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
  if (f) {
    if (fscanf(f, "%ld", &v) != 1)
      v = 65530;
    fclose(f);
  }
  return v;
}

/* Does this kernel support guard markers? Try on a scratch mapping. */
static bool madvise_guards_work(void) {
  size_t pg = weft__page_size();
  void *p = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  bool ok;
  if (p == MAP_FAILED)
    return false;
  ok = madvise(p, pg, MADV_GUARD_INSTALL) == 0;
  munmap(p, 2 * pg);
  return ok;
}

static void choose_mode(void) {
  const char *force = getenv("WEFT_STACK_GUARD");
  long budget = max_map_count() / 2 - 8192;

  atomic_store(&mprotect_budget, budget > 0 ? budget : 0);
  if (force && strcmp(force, "canary") == 0)
    mode = GUARD_CANARY;
  else if (force && strcmp(force, "mprotect") == 0)
    mode = GUARD_MPROTECT;
  else
    mode = madvise_guards_work() ? GUARD_MADVISE : GUARD_MPROTECT;
}

size_t weft__stack_round(size_t size, size_t dflt) {
  size_t pg = weft__page_size();
  if (size == 0)
    size = dflt;
  if (size > WEFT_STACK_MAX)
    return 0;
  if (size < WEFT_STACK_MIN)
    size = WEFT_STACK_MIN;
  return (size + pg - 1) & ~(pg - 1);
}

static bool install_guard(char *guard, size_t pg) {
  switch (mode) {
  case GUARD_MADVISE:
    return madvise(guard, pg, MADV_GUARD_INSTALL) == 0;
  case GUARD_MPROTECT:
    if (atomic_fetch_sub(&mprotect_budget, 1) <= 0)
      return false;
    return mprotect(guard, pg, PROT_NONE) == 0;
  case GUARD_CANARY:
    break;
  }
  return false;
}

/* Map a chunk and carve it into stacks. Under pool->lock. */
static struct stack_chunk *chunk_new(struct stack_pool *pool) {
  size_t pg = weft__page_size(), stride = pool->size + pg;
  unsigned n = (unsigned)(CHUNK_BYTES / stride);
  struct stack_chunk *c;

  if (n < 1)
    n = 1;
  if (n > CHUNK_STACKS)
    n = CHUNK_STACKS;
  c = calloc(1, sizeof *c + n * sizeof(weft__stack));
  if (!c)
    return NULL;
  c->len = n * stride;
  c->nstacks = n;
  c->base = mmap(NULL, c->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (c->base == MAP_FAILED) {
    free(c);
    return NULL;
  }
  /* Transparent huge pages would commit 2 MiB where a stack touches 4 KiB. */
  madvise(c->base, c->len, MADV_NOHUGEPAGE);
  for (unsigned i = 0; i < n; i++) {
    weft__stack *st = &c->stacks[i];
    st->lo = c->base + i * stride + pg;
    st->size = pool->size;
    st->chunk = c;
    st->pool = pool;
    st->guarded = install_guard(st->lo - pg, pg);
    st->vg_id = weft__vg_stack_register(st->lo, st->lo + st->size);
  }
  return c;
}

static void chunk_free(struct stack_chunk *c) {
  for (unsigned i = 0; i < c->nstacks; i++)
    weft__vg_stack_deregister(c->stacks[i].vg_id);
  munmap(c->base, c->len);
  free(c);
}

/* Return one stack to its pool. Under pool->lock. */
static void pool_push(struct stack_pool *pool, weft__stack *st) {
  st->next = pool->free;
  pool->free = st;
  pool->nfree++;
  st->chunk->nfree++;
}

/* Map a new chunk into the pool. Under pool->lock. */
static void pool_grow(struct stack_pool *pool) {
  struct stack_chunk *c = chunk_new(pool);
  if (!c)
    return;
  c->next = pool->chunks;
  pool->chunks = c;
  pool->nmapped += c->nstacks;
  for (unsigned i = c->nstacks; i-- > 0;)
    pool_push(pool, &c->stacks[i]);
}

/* Take up to n stacks from the pool into out[], mapping a chunk when it is
 * empty. Returns how many. */
static unsigned pool_pop(struct stack_pool *pool, weft__stack **out, unsigned n) {
  unsigned got = 0;
  pthread_mutex_lock(&pool->lock);
  if (!pool->free)
    pool_grow(pool);
  while (got < n && pool->free) {
    weft__stack *st = pool->free;
    pool->free = st->next;
    pool->nfree--;
    st->chunk->nfree--;
    out[got++] = st;
  }
  pthread_mutex_unlock(&pool->lock);
  return got;
}

/* Unmap the chunks whose stacks are all in the pool. Under pool->lock. */
static void pool_trim(struct stack_pool *pool) {
  struct stack_chunk **cp = &pool->chunks, *c;
  weft__stack **sp = &pool->free;

  while (*sp) { /* unlink the stacks of fully free chunks */
    if ((*sp)->chunk->nfree == (*sp)->chunk->nstacks)
      *sp = (*sp)->next;
    else
      sp = &(*sp)->next;
  }
  while ((c = *cp)) {
    if (c->nfree == c->nstacks) {
      *cp = c->next;
      pool->nfree -= c->nstacks;
      pool->nmapped -= c->nstacks;
      chunk_free(c);
    } else {
      cp = &c->next;
    }
  }
}

/* When address space runs out: give back every fully free chunk. */
static void trim_all(weft__stacks *s) {
  pthread_mutex_lock(&s->lock);
  for (struct stack_pool *p = s->pools; p; p = p->next) {
    pthread_mutex_lock(&p->lock);
    pool_trim(p);
    pthread_mutex_unlock(&p->lock);
  }
  pthread_mutex_unlock(&s->lock);
}

/*
 * An idle worker's trim (sched.c): unmap the fully free chunks, then drop
 * the touched pages of the free stacks left (their chunks still hold a
 * stack in use). A stack remembers it is clean until it is handed out
 * again, so repeated trims cost nothing.
 */
void weft__stacks_trim(weft__stacks *s) {
  pthread_mutex_lock(&s->lock);
  for (struct stack_pool *p = s->pools; p; p = p->next) {
    pthread_mutex_lock(&p->lock);
    pool_trim(p);
    for (weft__stack *st = p->free; st; st = st->next) {
      if (!st->clean) {
        madvise(st->lo, st->size, MADV_DONTNEED);
        st->clean = true;
      }
    }
    pthread_mutex_unlock(&p->lock);
  }
  pthread_mutex_unlock(&s->lock);
}

static struct stack_pool *pool_new(size_t size) {
  struct stack_pool *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  pthread_mutex_init(&p->lock, NULL);
  p->size = size;
  return p;
}

static void pool_free(struct stack_pool *p) {
  struct stack_chunk *c, *next;
  WEFT_CHECK(p->nfree == p->nmapped); /* every stack was put back */
  for (c = p->chunks; c; c = next) {
    next = c->next;
    chunk_free(c);
  }
  pthread_mutex_destroy(&p->lock);
  free(p);
}

/* The pool for size, created on first use. Any thread. */
static struct stack_pool *pool_for(weft__stacks *s, size_t size) {
  struct stack_pool *p;
  if (likely(s->dflt->size == size))
    return s->dflt;
  pthread_mutex_lock(&s->lock);
  for (p = s->pools; p && p->size != size; p = p->next)
    ;
  if (!p && (p = pool_new(size))) {
    p->next = s->pools;
    s->pools = p;
  }
  pthread_mutex_unlock(&s->lock);
  return p;
}

int weft__stacks_init(weft__stacks *s, size_t default_size) {
  pthread_once(&mode_once, choose_mode);
  pthread_mutex_init(&s->lock, NULL);
  s->dflt = s->pools = pool_new(default_size);
  if (!s->dflt) {
    pthread_mutex_destroy(&s->lock);
    return WEFT_ENOMEM;
  }
  s->dflt->cacheable = true;
  return 0;
}

void weft__stacks_destroy(weft__stacks *s) {
  struct stack_pool *p, *next;
  for (p = s->pools; p; p = next) {
    next = p->next;
    pool_free(p);
  }
  pthread_mutex_destroy(&s->lock);
}

/* Prepare a stack for a new task: the canary of an unguarded one. */
static weft__stack *fresh(weft__stack *st) {
  st->clean = false;
  if (!st->guarded)
    *(uint64_t *)st->lo = CANARY;
  return st;
}

/* Refill an empty cache with half its capacity under one lock. */
static bool cache_refill(struct stack_pool *pool, weft__stack_cache *cache) {
  cache->n = pool_pop(pool, cache->items, WEFT_STACK_CACHE / 2);
  return cache->n > 0;
}

weft__stack *weft__stack_get(weft__stacks *s, size_t size, weft__stack_cache *cache) {
  struct stack_pool *pool = pool_for(s, size);
  weft__stack *st = NULL;
  if (!pool)
    return NULL;
  if (cache && pool->cacheable) {
    if (cache->n > 0 || cache_refill(pool, cache))
      return fresh(cache->items[--cache->n]);
  } else if (pool_pop(pool, &st, 1)) {
    return fresh(st);
  }
  /* Out of memory or mappings: give back what idles and try once more. */
  trim_all(s);
  return pool_pop(pool, &st, 1) ? fresh(st) : NULL;
}

/* Move the older half of a full cache to the pool under one lock. */
static void cache_spill(weft__stack_cache *cache, unsigned keep) {
  struct stack_pool *pool;
  unsigned i, n = cache->n - keep;
  if (n == 0)
    return;
  pool = cache->items[0]->pool;
  pthread_mutex_lock(&pool->lock);
  for (i = 0; i < n; i++)
    pool_push(pool, cache->items[i]);
  pthread_mutex_unlock(&pool->lock);
  memmove(cache->items, cache->items + n, keep * sizeof cache->items[0]);
  cache->n = keep;
}

/*
 * A finished task's last frames (its entry and the final switch-out) never
 * returned, so AddressSanitizer still has their redzones poisoned. They sit
 * at the top of the stack; every deeper frame returned and unpoisoned its
 * own. Clearing only the top keeps the shadow memory of a million mostly
 * unused stacks untouched.
 */
#define ASAN_DIRTY_TOP ((size_t)16 * 1024)

void weft__stack_put(weft__stack *st, weft__stack_cache *cache) {
  struct stack_pool *pool = st->pool;
  size_t dirty = st->size < ASAN_DIRTY_TOP ? st->size : ASAN_DIRTY_TOP;

  weft__asan_unpoison(st->lo + st->size - dirty, dirty);
  if (cache && pool->cacheable) {
    if (cache->n == WEFT_STACK_CACHE)
      cache_spill(cache, WEFT_STACK_CACHE / 2);
    cache->items[cache->n++] = st;
    return;
  }
  pthread_mutex_lock(&pool->lock);
  pool_push(pool, st);
  pthread_mutex_unlock(&pool->lock);
}

void weft__stack_cache_drain(weft__stack_cache *cache) {
  if (cache->n)
    cache_spill(cache, 0);
}

/* A fault in the page below an unguarded stack is an overflow too: there
 * the neighbour is unmapped memory. */
bool weft__stack_guard_hit(const weft__stack *st, const void *addr) {
  const char *a = addr;
  return a >= st->lo - weft__page_size() && a < st->lo;
}

bool weft__stack_intact(const weft__stack *st) {
  return st->guarded || *(const uint64_t *)st->lo == CANARY;
}

void weft__stacks_count(weft__stacks *s, uint64_t *mapped, uint64_t *cached) {
  struct stack_pool *p;
  *mapped = *cached = 0;
  pthread_mutex_lock(&s->lock);
  for (p = s->pools; p; p = p->next) {
    pthread_mutex_lock(&p->lock);
    *mapped += p->nmapped;
    *cached += p->nfree;
    pthread_mutex_unlock(&p->lock);
  }
  pthread_mutex_unlock(&s->lock);
}
