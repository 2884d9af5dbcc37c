/*
 * fp.c - URL fingerprints (SipHash-2-4-128) and the fingerprint set (see
 * fp.h).
 *
 * SipHash is written out from its definition: four 64-bit words of state
 * started from the key and four constants, two rounds per 8-byte block
 * (the last block holds the length in its top byte), four finishing
 * rounds per 64-bit half of the output; the 128-bit variant xors 0xee
 * into v1 at the start and into v2 before the first half, 0xdd into v1
 * before the second. tests/check_fetch.c checks it against the authors'
 * published test vectors.
 *
 * The set indexes by the low bits of the fingerprint, which are already
 * uniform under a secret key: no further mixing is needed. It grows by
 * doubling, without stopping its owner for the whole copy: rehashing a
 * table of a million entries at once took the dispatcher 100 to 400 ms
 * (it then blocks a worker), so the old table stays beside the new one
 * and a few of its slots move over at each insertion or mark, the
 * lookups meanwhile trying the new table, then the old.
 */
#define _GNU_SOURCE
#include "fp.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define MARK (UINT64_C(1) << 63) /* the set's mark bit, in hi */

static uint64_t rotl(uint64_t x, int b) {
  return (x << b) | (x >> (64 - b));
}

static uint64_t load_le(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static void store_le(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++, v >>= 8)
    p[i] = (unsigned char)v;
}

struct sip {
  uint64_t v0, v1, v2, v3;
};

static void sip_rounds(struct sip *s, int n) {
  while (n-- > 0) {
    s->v0 += s->v1;
    s->v1 = rotl(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = rotl(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = rotl(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = rotl(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = rotl(s->v2, 32);
  }
}

static void sip_block(struct sip *s, uint64_t m) {
  s->v3 ^= m;
  sip_rounds(s, 2);
  s->v0 ^= m;
}

void fp_siphash128(const struct fp_key *k, const void *data, size_t n, unsigned char out[16]) {
  const unsigned char *p = data;
  uint64_t k0 = load_le(k->bytes), k1 = load_le(k->bytes + 8), last = (uint64_t)n << 56;
  struct sip s = {k0 ^ UINT64_C(0x736f6d6570736575), k1 ^ UINT64_C(0x646f72616e646f6d),
                  k0 ^ UINT64_C(0x6c7967656e657261), k1 ^ UINT64_C(0x7465646279746573)};
  size_t i = 0;
  s.v1 ^= 0xee;
  for (; i + 8 <= n; i += 8)
    sip_block(&s, load_le(p + i));
  for (int j = 0; i + (size_t)j < n; j++)
    last |= (uint64_t)p[i + (size_t)j] << (8 * j);
  sip_block(&s, last);
  s.v2 ^= 0xee;
  sip_rounds(&s, 4);
  store_le(out, s.v0 ^ s.v1 ^ s.v2 ^ s.v3);
  s.v1 ^= 0xdd;
  sip_rounds(&s, 4);
  store_le(out + 8, s.v0 ^ s.v1 ^ s.v2 ^ s.v3);
}

struct fp fp_of(const struct fp_key *k, const char *s, size_t n) {
  unsigned char h[16];
  struct fp fp;
  fp_siphash128(k, s, n, h);
  fp.lo = load_le(h);
  fp.hi = load_le(h + 8) & ~MARK;
  if (fp.lo == 0 && fp.hi == 0)
    fp.lo = 1; /* the free slot's value: move it (one input in 2^127) */
  return fp;
}

void fp_key_random(struct fp_key *k) {
  struct timespec ts;
  uint64_t x;
  if (getrandom(k->bytes, sizeof k->bytes, GRND_NONBLOCK) == (ssize_t)sizeof k->bytes)
    return;
  clock_gettime(CLOCK_MONOTONIC, &ts); /* no entropy yet: still varies per run */
  x = (uint64_t)ts.tv_nsec * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)(uintptr_t)k;
  store_le(k->bytes, x);
  store_le(k->bytes + 8, rotl(x, 29) ^ (uint64_t)ts.tv_sec);
}

/* ---- the set ---- */

void fpset_init(struct fpset *s) {
  memset(s, 0, sizeof *s);
}

void fpset_destroy(struct fpset *s) {
  free(s->slots);
  free(s->old);
  fpset_init(s);
}

static int slot_free(const struct fp *slot) {
  return slot->lo == 0 && slot->hi == 0;
}

/* In the table t of cap slots (cap > 0), the slot holding fp, or the free
 * slot where it would go. */
static struct fp *probe(struct fp *t, size_t cap, struct fp fp) {
  size_t mask = cap - 1, i = (size_t)fp.lo & mask;
  for (;; i = (i + 1) & mask) {
    struct fp *slot = &t[i];
    if (slot_free(slot) || (slot->lo == fp.lo && ((slot->hi ^ fp.hi) & ~MARK) == 0))
      return slot;
  }
}

/* The slot holding fp, in the table or in the old one, else the free slot
 * of the table where it would go. An entry found in the old table is one
 * not yet moved: a moved one is found in the table first. */
static struct fp *find(const struct fpset *s, struct fp fp) {
  struct fp *slot = probe(s->slots, s->cap, fp), *old;
  if (slot_free(slot) && s->old && !slot_free(old = probe(s->old, s->old_cap, fp)))
    return old;
  return slot;
}

/* Move up to n slots of the old table into the table; free it once all
 * are moved. */
static void move_old(struct fpset *s, size_t n) {
  for (; s->old && n > 0; n--) {
    struct fp *o;
    if (s->moved == s->old_cap) {
      free(s->old);
      s->old = NULL;
      s->old_cap = s->moved = 0;
      return;
    }
    o = &s->old[s->moved++];
    if (!slot_free(o))
      *probe(s->slots, s->cap, *o) = *o; /* the mark travels along */
  }
}

/* Double the table; the old one is moved over MOVE_STEP slots per
 * insertion or mark. From one doubling to the next at least 3/8 of the
 * new capacity is inserted, and the old table has half of it, so two
 * slots per insertion would do; the step leaves room. */
#define MOVE_STEP 8

static int grow(struct fpset *s) {
  size_t cap = s->cap ? s->cap * 2 : 1024;
  struct fp *bigger = calloc(cap, sizeof *bigger);
  if (!bigger)
    return -1;
  move_old(s, (size_t)-1); /* never left unfinished by the step above */
  s->old = s->slots;
  s->old_cap = s->cap;
  s->moved = 0;
  s->slots = bigger;
  s->cap = cap;
  return 0;
}

int fpset_add(struct fpset *s, struct fp fp) {
  struct fp *slot;
  if ((s->len + 1) * 4 > s->cap * 3 && grow(s) != 0)
    return -1;
  move_old(s, MOVE_STEP);
  slot = find(s, fp);
  if (!slot_free(slot))
    return 0;
  slot->lo = fp.lo;
  slot->hi = fp.hi & ~MARK;
  s->len++;
  return 1;
}

int fpset_has(const struct fpset *s, struct fp fp) {
  return s->cap > 0 && !slot_free(find(s, fp));
}

int fpset_mark(struct fpset *s, struct fp fp) {
  struct fp *slot;
  if (s->cap == 0)
    return -1;
  move_old(s, MOVE_STEP);
  if (slot_free(slot = find(s, fp)))
    return -1;
  if (slot->hi & MARK)
    return 0;
  slot->hi |= MARK;
  return 1;
}
