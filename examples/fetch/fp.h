/*
 * fp.h - URL fingerprints and the set of them that is the crawl's memory
 * of every URL it has queued.
 *
 * A fingerprint is SipHash-2-4 with a 128-bit output, keyed, with its top
 * bit cleared: 127 bits. The set keeps the fingerprints alone, 16 bytes a
 * URL whatever its length, instead of the strings. Two URLs that collide
 * would make the second look seen and never be crawled; among n URLs the
 * odds that any two collide are about n^2 / 2^128, so 3 * 10^-21 for a
 * crawl of a billion URLs, far below the odds of a memory error. The key
 * is random (drawn per crawl, or kept in the --state journal so that a
 * resumed crawl computes the same fingerprints), so a hostile site cannot
 * search for a collision offline, nor for a long probe run in the set.
 *
 * Pure; a set has one owner (not thread-safe).
 */
#ifndef FETCH_FP_H
#define FETCH_FP_H

#include <stddef.h>
#include <stdint.h>

/* SipHash's key: 16 bytes, read as two little-endian words. */
struct fp_key {
  unsigned char bytes[16];
};

/* A fingerprint: never all zero, top bit of hi always clear. */
struct fp {
  uint64_t lo, hi;
};

/* SipHash-2-4, 128-bit output, of the n bytes at data, as the 16 bytes its
 * authors' reference writes (lo then hi, each little-endian). */
void fp_siphash128(const struct fp_key *k, const void *data, size_t n, unsigned char out[16]);

/* The fingerprint of the n bytes at s. */
struct fp fp_of(const struct fp_key *k, const char *s, size_t n);

/* A random key (getrandom; a clock-derived one when there is no entropy yet). */
void fp_key_random(struct fp_key *k);

static inline int fp_equal(struct fp a, struct fp b) {
  return a.lo == b.lo && a.hi == b.hi;
}

/*
 * The set: open addressing with linear probing over 16-byte slots (an all
 * zero slot is free), at most 3/4 full, growing by doubling a step at a
 * time (fp.c). Each member carries one mark bit,
 * kept in the slot's top bit, which fingerprints never use: the resume
 * sets it on the URLs the journal says are done.
 */
struct fpset {
  struct fp *slots;
  size_t cap;     /* a power of two, or 0 before the first insertion */
  size_t len;     /* members, in slots and old */
  struct fp *old; /* or NULL: the table before the last doubling, still being moved */
  size_t old_cap;
  size_t moved; /* old's slots below this are moved */
};

void fpset_init(struct fpset *s);
void fpset_destroy(struct fpset *s);

/* Add fp. Returns 1 when it was added, 0 when it was there, -1 when out of
 * memory (the set is unchanged). */
int fpset_add(struct fpset *s, struct fp fp);

/* Nonzero when fp is in the set. */
int fpset_has(const struct fpset *s, struct fp fp);

/* Set fp's mark. Returns 1 when it was set now, 0 when it was set
 * already, -1 when fp is not in the set. */
int fpset_mark(struct fpset *s, struct fp fp);

/* Bytes the set holds (its tables). */
static inline size_t fpset_bytes(const struct fpset *s) {
  return (s->cap + s->old_cap) * sizeof *s->slots;
}

#endif
