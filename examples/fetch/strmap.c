/*
 * strmap.c - the string hash map (see strmap.h).
 *
 * Keys come from the pages fetch reads, so a hostile server picks them.
 * The hash is FNV-1a started from a per-map random seed and finished with
 * a 64-bit mixer: not a keyed cryptographic hash, but the probe sequence
 * of one run cannot be worked out from another run. The seeds come from
 * one random key per process, drawn by the first map, and a count of maps
 * mixed into it: a crawler makes two short-lived maps per page, and a
 * getrandom call for each was a tenth of its system calls.
 */
#include "strmap.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static uint64_t random_seed(void) {
  uint64_t s;
  struct timespec ts;
  if (getrandom(&s, sizeof s, GRND_NONBLOCK) == (ssize_t)sizeof s)
    return s;
  clock_gettime(CLOCK_MONOTONIC, &ts); /* no entropy yet: still varies per run */
  return (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t)(uintptr_t)&s;
}

/* splitmix64's step: distinct inputs give unrelated outputs. */
static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15u;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

/* A seed for a new map. Any thread: the key is set once (two threads that
 * race both draw one, and the first store wins; relaxed, since the key
 * is all that is shared), the count is atomic. */
static uint64_t map_seed(void) {
  static _Atomic uint64_t key;
  static atomic_uint_fast64_t maps;
  uint64_t k = atomic_load_explicit(&key, memory_order_relaxed), none = 0;
  if (k == 0) {
    k = random_seed() | 1;
    if (!atomic_compare_exchange_strong_explicit(&key, &none, k, memory_order_relaxed,
                                                 memory_order_relaxed))
      k = none;
  }
  return mix(k + atomic_fetch_add_explicit(&maps, 1, memory_order_relaxed));
}

static uint64_t hash(uint64_t seed, const char *s) {
  uint64_t h = 0xcbf29ce484222325u ^ seed;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 0x100000001b3u;
  h ^= h >> 33; /* the finaliser of MurmurHash3: every bit reaches the low ones */
  h *= 0xff51afd7ed558ccdu;
  h ^= h >> 33;
  return h;
}

void strmap_init(struct strmap *m) {
  memset(m, 0, sizeof *m);
  m->seed = map_seed();
}

void strmap_destroy(struct strmap *m, void (*free_val)(void *)) {
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->slots[i].key)
      continue;
    if (free_val)
      free_val(m->slots[i].val);
    free(m->slots[i].key);
  }
  free(m->slots);
  m->slots = NULL;
  m->cap = m->len = 0;
}

/* The slot holding key, or the free slot where it would go. */
static struct strmap_slot *probe(const struct strmap *m, const char *key, uint64_t h) {
  size_t mask = m->cap - 1;
  for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
    struct strmap_slot *s = &m->slots[i];
    if (!s->key || (s->hash == h && strcmp(s->key, key) == 0))
      return s;
  }
}

void *strmap_get(const struct strmap *m, const char *key) {
  if (m->len == 0)
    return NULL;
  struct strmap_slot *s = probe(m, key, hash(m->seed, key));
  return s->key ? s->val : NULL;
}

int strmap_has(const struct strmap *m, const char *key) {
  return m->len > 0 && probe(m, key, hash(m->seed, key))->key != NULL;
}

/* Double the table (or make the first one). Returns 0 or -1. */
static int grow(struct strmap *m) {
  size_t cap = m->cap ? m->cap * 2 : 16;
  struct strmap_slot *old = m->slots, *slots = calloc(cap, sizeof *slots);
  size_t old_cap = m->cap;
  if (!slots)
    return -1;
  m->slots = slots;
  m->cap = cap;
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].key)
      *probe(m, old[i].key, old[i].hash) = old[i];
  free(old);
  return 0;
}

int strmap_add(struct strmap *m, const char *key, void *val) {
  uint64_t h = hash(m->seed, key);
  struct strmap_slot *s;
  if ((m->len + 1) * 4 > m->cap * 3 && grow(m) != 0) /* keep it at most 3/4 full */
    return -1;
  s = probe(m, key, h);
  if (s->key)
    return 0;
  if (!(s->key = strdup(key)))
    return -1;
  s->val = val;
  s->hash = h;
  m->len++;
  return 1;
}
