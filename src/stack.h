/*
 * stack.h - task stacks: carved from large mappings, guarded, cached.
 */
#ifndef WEFT_STACK_H
#define WEFT_STACK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct stack_chunk;
struct stack_pool;

/* One task stack. Fields are set when its chunk is mapped and never change,
 * except next, which belongs to whoever holds the stack in a free list. */
typedef struct weft__stack {
  char *lo;                  /* lowest usable byte; the guard page is just below */
  size_t size;               /* usable bytes */
  struct weft__stack *next;  /* free-list link (pool lock or owner's cache) */
  struct stack_chunk *chunk; /* the mapping it was carved from */
  struct stack_pool *pool;   /* the pool of stacks of this size */
  bool guarded;              /* a guard page is installed below lo */
  unsigned vg_id;            /* Valgrind's id for the registered stack */
  bool clean;                /* pages released while free; whoever holds it */
} weft__stack;

/* A worker's cache of default-size stacks. Owner worker only. */
#define WEFT_STACK_CACHE 256
typedef struct weft__stack_cache {
  unsigned n;
  weft__stack *items[WEFT_STACK_CACHE];
} weft__stack_cache;

/* Every stack pool of one runtime. The list is under lock; each pool has
 * its own lock for its free list. */
typedef struct weft__stacks {
  pthread_mutex_t lock;
  struct stack_pool *pools;
  struct stack_pool *dflt; /* the pool of the runtime's default size */
} weft__stacks;

/* Round a requested size as weft_config documents: 0 -> dflt, up to whole
 * pages and WEFT_STACK_MIN. Returns 0 for sizes above WEFT_STACK_MAX. */
size_t weft__stack_round(size_t size, size_t dflt);

int weft__stacks_init(weft__stacks *s, size_t default_size);
/* Give idle memory back: unmap fully free chunks, release the pages of
 * the other free stacks. Any thread. */
void weft__stacks_trim(weft__stacks *s);
/* Unmap everything. Every stack must have been put back. */
void weft__stacks_destroy(weft__stacks *s);

/* A stack of the given (rounded) size, or NULL when memory or address space
 * is exhausted. cache may be NULL (foreign threads). Any thread. */
weft__stack *weft__stack_get(weft__stacks *s, size_t size, weft__stack_cache *cache);
/* Give a stack back. cache may be NULL. Any thread. */
void weft__stack_put(weft__stack *st, weft__stack_cache *cache);
/* Empty a worker's cache into the pools. */
void weft__stack_cache_drain(weft__stack_cache *cache);

/* True when addr lies in the page below st (overflow). Async-signal-safe. */
bool weft__stack_guard_hit(const weft__stack *st, const void *addr);
/* False when an unguarded stack's canary was overwritten (overflow). */
bool weft__stack_intact(const weft__stack *st);

/* Counters for weft_rt_stats. */
void weft__stacks_count(weft__stacks *s, uint64_t *mapped, uint64_t *cached);

#endif /* WEFT_STACK_H */
