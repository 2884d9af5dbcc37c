/*
 * shared_reply.h - what the frontier's scripts answer (shared.c, and
 * docs/redis.md for each script's reply), read from hiredis's reply
 * trees. Pure functions: no I/O, no weft call, so tests/fuzz/fuzz_redis.c
 * feeds them whatever RESP bytes it likes. A reply of another shape than
 * the script's is SHARED_EREPLY with why saying what was wrong; an error
 * reply is SHARED_EREPLY with its message.
 */
#ifndef FETCH_SHARED_REPLY_H
#define FETCH_SHARED_REPLY_H

#include "shared.h"

#include <hiredis/hiredis.h>
#include <stddef.h>

/* shared_reply_open's outcomes. */
#define SHARED_OPEN_NEW 1  /* the crawl was created */
#define SHARED_OPEN_SAME 2 /* it existed, with the same options */

/* Bounds of what an entry may hold. */
#define SHARED_URL_MAX 65536
#define SHARED_HOST_MAX 1024 /* the longest host key an add takes */
#define SHARED_FLAGS_MAX 65535

/* The open script's reply: SHARED_OPEN_NEW, SHARED_OPEN_SAME,
 * SHARED_ECONFLICT (why: "options differ from the crawl's: depth (the
 * crawl has 2, this run 3), ..."), SHARED_EFOREIGN (why: the script's
 * words), SHARED_EREPLY. */
int shared_reply_open(const redisReply *r, char *why, size_t whylen);

/* The add script's reply to n URLs: how many were added (each added[i]
 * 0 or 1), or SHARED_EREPLY. */
long shared_reply_add(const redisReply *r, size_t n, int *added, char *why, size_t whylen);

/* The claim script's reply: SHARED_CLAIMED (e's host, url, depth, flags
 * and lease_ms set; the caller sets e->lease), SHARED_WAIT (*wait_ms >=
 * 0), SHARED_FINISHED, SHARED_LIMIT, SHARED_EREPLY or WEFT_ENOMEM. On
 * anything but SHARED_CLAIMED e holds no memory. */
int shared_reply_claim(const redisReply *r, struct shared_entry *e, int64_t *wait_ms, char *why,
                       size_t whylen);

/* The complete and release scripts' reply: 0, SHARED_LOST, SHARED_EREPLY. */
int shared_reply_done(const redisReply *r, char *why, size_t whylen);

/* The stats script's reply: 0 or SHARED_EREPLY. */
int shared_reply_stats(const redisReply *r, struct shared_stats *st, char *why, size_t whylen);

/* Split a queue entry "DEPTH FLAGS URL" (len bytes at s): 0 with its
 * parts, or -1 when it is not one (bad numbers, an empty or overlong
 * URL, a NUL). */
int shared_parse_entry(const char *s, size_t len, int *depth, int *flags, const char **url,
                       size_t *url_len);

#endif
