/*
 * strmap.h - a hash map from strings to pointers, for fetch's sets of URLs
 * and its table of hosts. Open addressing with linear probing; the map
 * owns copies of its keys, never its values. Not thread-safe: each map has
 * one owner, or its user holds a lock around every call.
 */
#ifndef FETCH_STRMAP_H
#define FETCH_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap_slot {
  char *key; /* NULL: the slot is free */
  void *val;
  uint64_t hash;
};

struct strmap {
  struct strmap_slot *slots;
  size_t cap; /* a power of two, or 0 before the first insertion */
  size_t len;
  uint64_t seed; /* mixed into every hash, so the probe order is not guessable */
};

/* An empty map. */
void strmap_init(struct strmap *m);

/* Free the keys and the table; free_val (may be NULL) is called on each value. */
void strmap_destroy(struct strmap *m, void (*free_val)(void *));

/* The value stored under key, or NULL when there is none. */
void *strmap_get(const struct strmap *m, const char *key);

/* Nonzero when key is in the map (whatever its value, NULL included). */
int strmap_has(const struct strmap *m, const char *key);

/*
 * Store val under a copy of key unless key is there already. Returns 1
 * when it was added, 0 when key was present (its value is kept), -1 when
 * out of memory (the map is unchanged).
 */
int strmap_add(struct strmap *m, const char *key, void *val);

#endif
