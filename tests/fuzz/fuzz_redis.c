/*
 * fuzz_redis.c - libFuzzer harness for the shared frontier's reply
 * handling (examples/fetch/shared_reply.c), fed through hiredis's reply
 * reader as the Redis client feeds it.
 *
 * Input: bytes as Redis might send them (RESP). They go through the
 * client's reader (resp.h: hiredis's, with an array bound) whole and again in pieces (split points
 * from the input); every complete reply, up to 64, is given to each of the walkers as if it were
 * that script's answer. The input itself is also read as a queue entry (shared_parse_entry).
 *
 * Asserted:
 *  - whole and in pieces, the reader yields the same replies (digest) and
 *    the same error state;
 *  - each walker returns only what shared_reply.h lists, and the same
 *    thing twice for the same reply;
 *  - an error's words are a NUL-terminated string within the buffer given,
 *    however small;
 *  - the open walker says "conflict" only for a reply tagged so, and never
 *    creates or compares anything itself;
 *  - the add walker's count is the number of 1s it stored, each 0 or 1;
 *  - the claim walker's entry, when CLAIMED: a host of 1-1024 bytes and a
 *    URL of 1-SHARED_URL_MAX bytes without a NUL, a depth >= 0, flags in
 *    0-SHARED_FLAGS_MAX, a lease time >= 0, and "DEPTH FLAGS URL" written
 *    again parses back to the same; otherwise it holds no memory; a wait
 *    is >= 0;
 *  - shared_parse_entry accepts only what its contract says, and what it
 *    accepts round-trips.
 */
#include "resp.h"
#include "shared_reply.h"

#include "fuzz.h"

#include <stdio.h>
#include <string.h>

#define REPLIES_MAX 64

/* A digest of a reply tree, to compare two readings by. */
static uint64_t reply_hash(const redisReply *r, uint64_t h) {
  int t = r->type;
  h = fuzz_hash(&t, sizeof t, h);
  switch (r->type) {
  case REDIS_REPLY_INTEGER:
    return fuzz_hash(&r->integer, sizeof r->integer, h);
  case REDIS_REPLY_ARRAY:
    h = fuzz_hash(&r->elements, sizeof r->elements, h);
    for (size_t i = 0; i < r->elements; i++)
      h = reply_hash(r->element[i], h);
    return h;
  case REDIS_REPLY_NIL:
    return h;
  default:
    return fuzz_hash(r->str, r->len, h);
  }
}

/* Read every reply of data fed in pieces (whole when seed is 0). Returns
 * the count; *err says whether the reader failed. */
static size_t read_all(const uint8_t *data, size_t size, uint64_t seed, redisReply **out,
                       int *err) {
  redisReader *rd = resp_reader_new();
  size_t n = 0, off = 0;
  *err = 0;
  FUZZ_CHECK(rd != NULL, "redisReaderCreate failed");
  while (off < size && !*err && n < REPLIES_MAX) {
    size_t piece = seed ? fuzz_piece(&seed, size - off) : size - off;
    char *copy = fuzz_copy(data + off, piece);
    FUZZ_CHECK(redisReaderFeed(rd, copy, piece) == REDIS_OK, "feed failed");
    free(copy);
    off += piece;
    for (;;) {
      void *reply;
      if (redisReaderGetReply(rd, &reply) != REDIS_OK) {
        *err = 1;
        break;
      }
      if (!reply)
        break;
      if (n == REPLIES_MAX) {
        freeReplyObject(reply);
        break;
      }
      out[n++] = reply;
    }
  }
  redisReaderFree(rd);
  return n;
}

static void check_words(const char *why, size_t len) {
  FUZZ_CHECK(memchr(why, '\0', len) != NULL, "error words not terminated within %zu bytes", len);
}

static void check_open(const redisReply *r, size_t small) {
  char why[512], tiny[64];
  int rc = shared_reply_open(r, why, sizeof why);
  FUZZ_CHECK(rc == SHARED_OPEN_NEW || rc == SHARED_OPEN_SAME || rc == SHARED_ECONFLICT ||
                 rc == SHARED_EFOREIGN || rc == SHARED_EREPLY,
             "open: %d", rc);
  if (rc < 0)
    check_words(why, sizeof why);
  if (rc == SHARED_ECONFLICT)
    FUZZ_CHECK(r->type == REDIS_REPLY_ARRAY && r->element[0]->len == 8 &&
                   memcmp(r->element[0]->str, "conflict", 8) == 0 &&
                   strncmp(why, "options differ", 14) == 0,
               "a conflict from a reply not tagged so: %s", why);
  FUZZ_CHECK(shared_reply_open(r, tiny, small) == rc, "open: not deterministic");
  if (rc < 0)
    check_words(tiny, small);
}

static void check_add(const redisReply *r) {
  size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 3;
  int *added = calloc(n ? n : 1, sizeof *added);
  char why[256];
  long rc, ones = 0;
  FUZZ_CHECK(added != NULL, "out of memory");
  rc = shared_reply_add(r, n, added, why, sizeof why);
  FUZZ_CHECK(rc == SHARED_EREPLY || (rc >= 0 && (size_t)rc <= n), "add: %ld of %zu", rc, n);
  if (rc >= 0) {
    for (size_t i = 0; i < n; i++) {
      FUZZ_CHECK(added[i] == 0 || added[i] == 1, "add: result %zu is %d", i, added[i]);
      ones += added[i];
    }
    FUZZ_CHECK(ones == rc, "add: %ld ones, count %ld", ones, rc);
  } else {
    check_words(why, sizeof why);
  }
  FUZZ_CHECK(shared_reply_add(r, n, NULL, why, sizeof why) == rc, "add: not deterministic");
  free(added);
}

static void check_claim(const redisReply *r, size_t small) {
  struct shared_entry e, again;
  int64_t wait_ms = -1, wait2 = -1;
  char why[256], tiny[64], entry[SHARED_URL_MAX + 64];
  int rc = shared_reply_claim(r, &e, &wait_ms, why, sizeof why), depth, flags;
  const char *url;
  size_t url_len;
  FUZZ_CHECK(rc == SHARED_CLAIMED || rc == SHARED_WAIT || rc == SHARED_FINISHED ||
                 rc == SHARED_LIMIT || rc == SHARED_EREPLY,
             "claim: %d", rc);
  if (rc == SHARED_CLAIMED) {
    size_t hl = strlen(e.host), ul = strlen(e.url);
    FUZZ_CHECK(hl >= 1 && hl <= 1024 && ul >= 1 && ul <= SHARED_URL_MAX, "claim: host %zu, url %zu",
               hl, ul);
    FUZZ_CHECK(e.depth >= 0 && e.flags >= 0 && e.flags <= SHARED_FLAGS_MAX && e.lease_ms >= 0,
               "claim: depth %d flags %d lease %lld", e.depth, e.flags, (long long)e.lease_ms);
    int n = snprintf(entry, sizeof entry, "%d %d %s", e.depth, e.flags, e.url);
    FUZZ_CHECK(shared_parse_entry(entry, (size_t)n, &depth, &flags, &url, &url_len) == 0 &&
                   depth == e.depth && flags == e.flags && url_len == ul &&
                   memcmp(url, e.url, ul) == 0,
               "claim: the entry does not round-trip");
  } else {
    FUZZ_CHECK(e.host == NULL && e.url == NULL, "claim: memory held after %d", rc);
  }
  if (rc == SHARED_WAIT)
    FUZZ_CHECK(wait_ms >= 0, "claim: wait %lld", (long long)wait_ms);
  if (rc < 0)
    check_words(why, sizeof why);
  FUZZ_CHECK(shared_reply_claim(r, &again, &wait2, tiny, small) == rc, "claim: not deterministic");
  if (rc == SHARED_CLAIMED)
    FUZZ_CHECK(strcmp(e.url, again.url) == 0 && strcmp(e.host, again.host) == 0,
               "claim: another entry the second time");
  if (rc < 0)
    check_words(tiny, small);
  shared_entry_free(&e);
  shared_entry_free(&again);
}

static void check_done_stats(const redisReply *r) {
  struct shared_stats st;
  char why[256];
  int rc = shared_reply_done(r, why, sizeof why);
  FUZZ_CHECK(rc == 0 || rc == SHARED_LOST || rc == SHARED_EREPLY, "done: %d", rc);
  if (rc < 0)
    check_words(why, sizeof why);
  rc = shared_reply_stats(r, &st, why, sizeof why);
  FUZZ_CHECK(rc == 0 || rc == SHARED_EREPLY, "stats: %d", rc);
  FUZZ_CHECK(rc != 0 || (r->type == REDIS_REPLY_ARRAY && r->elements == 8), "stats from a non-8");
  if (rc < 0)
    check_words(why, sizeof why);
}

/* The input as a queue entry. */
static void check_entry(const uint8_t *data, size_t size) {
  char *copy = fuzz_copy(data, size);
  const char *url;
  size_t url_len;
  int depth, flags;
  if (shared_parse_entry(copy, size, &depth, &flags, &url, &url_len) == 0) {
    FUZZ_CHECK(depth >= 0 && flags >= 0 && flags <= SHARED_FLAGS_MAX, "entry: %d %d", depth, flags);
    FUZZ_CHECK(url > copy && url + url_len == copy + size && url_len >= 1 &&
                   url_len <= SHARED_URL_MAX && !memchr(url, '\0', url_len),
               "entry: a URL outside the input or with a NUL");
  }
  free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  redisReply *whole[REPLIES_MAX], *split[REPLIES_MAX];
  int err_whole, err_split;
  uint64_t seed = fuzz_hash(data, size, FUZZ_HASH_INIT) | 1;
  size_t n = read_all(data, size, 0, whole, &err_whole);
  size_t m = read_all(data, size, seed, split, &err_split);
  size_t small = 1 + (size ? data[0] % 48 : 0);
  FUZZ_CHECK(n == m, "whole: %zu replies, in pieces: %zu", n, m);
  for (size_t i = 0; i < n; i++) {
    FUZZ_CHECK(reply_hash(whole[i], FUZZ_HASH_INIT) == reply_hash(split[i], FUZZ_HASH_INIT),
               "reply %zu differs in pieces", i);
    check_open(whole[i], small);
    check_add(whole[i]);
    check_claim(whole[i], small);
    check_done_stats(whole[i]);
    freeReplyObject(whole[i]);
    freeReplyObject(split[i]);
  }
  if (n < REPLIES_MAX)
    FUZZ_CHECK(err_whole == err_split, "a reader error whole %d, in pieces %d", err_whole,
               err_split);
  check_entry(data, size);
  return 0;
}
