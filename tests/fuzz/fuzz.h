/*
 * fuzz.h - what the libFuzzer harnesses of tests/fuzz share.
 *
 * A harness asserts the property its name claims, not only that nothing
 * crashed: FUZZ_CHECK aborts with a message naming the broken property,
 * and libFuzzer saves the input that broke it like any crash. The checks
 * are always on (no NDEBUG can remove them).
 *
 * Streaming parsers are fed the same bytes whole and split, at points
 * derived from the input (fuzz_hash, fuzz_rand), so the fuzzer controls
 * the split without a format of its own and a saved crash reproduces.
 */
#ifndef FUZZ_FUZZ_H
#define FUZZ_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Report a broken property and abort (libFuzzer saves the input). */
__attribute__((noreturn, format(printf, 4, 5))) static inline void
fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s:%d: property broken: %s: ", file, line, cond);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  abort();
}

/* Abort with a message unless cond holds. An expression, like assert. */
#define FUZZ_CHECK(cond, ...) ((cond) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__))

/* FNV-1a of n bytes: a seed for split points, and a cheap digest of
 * output to compare two runs by. */
static inline uint64_t fuzz_hash(const void *p, size_t n, uint64_t h) {
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++)
    h = (h ^ s[i]) * 0x100000001b3ull;
  return h;
}

#define FUZZ_HASH_INIT 0xcbf29ce484222325ull

/* The next number of a small generator (xorshift64*) seeded by fuzz_hash. */
static inline uint64_t fuzz_rand(uint64_t *state) {
  uint64_t x = *state ? *state : 1;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545f4914f6cdd1dull;
}

/* The size of the next piece of a split feed: mostly 1 to 16 bytes, some
 * up to 256, a few the whole rest. */
static inline size_t fuzz_piece(uint64_t *state, size_t left) {
  uint64_t r = fuzz_rand(state);
  size_t n;
  switch (r & 7) {
  case 0:
    n = left;
    break;
  case 1:
  case 2:
    n = 1 + (size_t)(r >> 8) % 256;
    break;
  default:
    n = 1 + (size_t)(r >> 8) % 16;
    break;
  }
  return n < left ? n : left;
}

/* A copy of the n bytes at p in a block of exactly n bytes (malloc'd),
 * for feeding one piece: AddressSanitizer then catches a parser that
 * reads past the piece it was given, or keeps a pointer into it after the
 * call. */
static inline char *fuzz_copy(const void *p, size_t n) {
  char *c = malloc(n ? n : 1);
  if (!c)
    abort();
  if (n)
    memcpy(c, p, n);
  return c;
}

#endif
