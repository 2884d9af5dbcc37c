/*
 * shared_reply.c - the frontier scripts' replies, read (see
 * shared_reply.h; the shapes are docs/redis.md's). Every element is
 * checked for its type before it is read: a reply is bytes from the
 * network, and after a Redis restart or with a foreign key it may be
 * anything.
 */
#include "shared_reply.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 3, 4))) static int reply_bad(char *why, size_t whylen,
                                                           const char *fmt, ...) {
  va_list ap;
  if (why && whylen) {
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
  }
  return SHARED_EREPLY;
}

/* An error reply's message as the failure, or a wrong shape. */
static int reply_unexpected(const redisReply *r, const char *script, char *why, size_t whylen) {
  if (!r)
    return reply_bad(why, whylen, "the %s script: no reply", script);
  if (r->type == REDIS_REPLY_ERROR)
    return reply_bad(why, whylen, "the %s script failed: %.*s", script,
                     (int)(r->len > 200 ? 200 : r->len), r->str);
  return reply_bad(why, whylen, "the %s script answered a reply of type %d it never sends", script,
                   r->type);
}

/* Whether r is a string (bulk or status) equal to s. */
static int reply_is(const redisReply *r, const char *s) {
  size_t n = strlen(s);
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) && r->len == n &&
         memcmp(r->str, s, n) == 0;
}

static int reply_is_string(const redisReply *r) {
  return r && r->type == REDIS_REPLY_STRING;
}

/* Whether r is an array of n elements at least, its first a string (the
 * tag). */
static int reply_tagged(const redisReply *r, size_t n) {
  return r && r->type == REDIS_REPLY_ARRAY && r->elements >= n && r->elements >= 1 &&
         reply_is_string(r->element[0]);
}

/* Append to buf (a NUL-terminated string of at most cap - 1 bytes). */
__attribute__((format(printf, 3, 4))) static void put(char *buf, size_t cap, const char *fmt, ...) {
  size_t len = strnlen(buf, cap);
  va_list ap;
  if (len + 1 >= cap)
    return;
  va_start(ap, fmt);
  vsnprintf(buf + len, cap - len, fmt, ap);
  va_end(ap);
}

/* One side of a conflict: "=value" or "-" (absent), as "2" or "none". */
static void put_side(char *buf, size_t cap, const redisReply *v) {
  if (v->len >= 1 && v->str[0] == '=')
    put(buf, cap, "%.*s", (int)(v->len - 1 > 60 ? 60 : v->len - 1), v->str + 1);
  else
    put(buf, cap, "none");
}

int shared_reply_open(const redisReply *r, char *why, size_t whylen) {
  size_t i;
  if (!reply_tagged(r, 1))
    return reply_unexpected(r, "open", why, whylen);
  if (r->elements == 1 && reply_is(r->element[0], "new"))
    return SHARED_OPEN_NEW;
  if (r->elements == 1 && reply_is(r->element[0], "same"))
    return SHARED_OPEN_SAME;
  if (r->elements == 2 && reply_is(r->element[0], "foreign") && reply_is_string(r->element[1])) {
    if (why && whylen)
      snprintf(why, whylen, "%.*s", (int)(r->element[1]->len > 300 ? 300 : r->element[1]->len),
               r->element[1]->str);
    return SHARED_EFOREIGN;
  }
  if (!reply_is(r->element[0], "conflict") || r->elements < 4 || (r->elements - 1) % 3 != 0)
    return reply_bad(why, whylen, "the open script answered an array it never sends");
  for (i = 1; i < r->elements; i++)
    if (!reply_is_string(r->element[i]) || memchr(r->element[i]->str, '\0', r->element[i]->len))
      return reply_bad(why, whylen, "the open script named a conflict that is not a string");
  if (why && whylen) {
    why[0] = '\0';
    put(why, whylen, "options differ from the crawl's:");
    for (i = 1; i < r->elements; i += 3) {
      const redisReply *name = r->element[i];
      put(why, whylen, "%s %.*s (the crawl has ", i > 1 ? "," : "",
          (int)(name->len > 60 ? 60 : name->len), name->str);
      put_side(why, whylen, r->element[i + 1]);
      put(why, whylen, ", this run ");
      put_side(why, whylen, r->element[i + 2]);
      put(why, whylen, ")");
    }
  }
  return SHARED_ECONFLICT;
}

long shared_reply_add(const redisReply *r, size_t n, int *added, char *why, size_t whylen) {
  long count = 0;
  size_t i;
  if (!r || r->type != REDIS_REPLY_ARRAY)
    return reply_unexpected(r, "add", why, whylen);
  if (r->elements != n)
    return reply_bad(why, whylen, "the add script answered %zu results for %zu URLs", r->elements,
                     n);
  for (i = 0; i < n; i++) {
    const redisReply *e = r->element[i];
    if (!e || e->type != REDIS_REPLY_INTEGER || (e->integer != 0 && e->integer != 1))
      return reply_bad(why, whylen, "the add script's result %zu is not 0 or 1", i);
    if (added)
      added[i] = (int)e->integer;
    count += e->integer;
  }
  return count;
}

int shared_parse_entry(const char *s, size_t len, int *depth, int *flags, const char **url,
                       size_t *url_len) {
  const char *end = s + len, *p = s;
  long v[2];
  for (int k = 0; k < 2; k++) {
    const char *start = p;
    long n = 0;
    while (p < end && *p >= '0' && *p <= '9' && p - start < 10)
      n = n * 10 + (*p++ - '0');
    if (p == start || p == end || *p != ' ')
      return -1;
    p++;
    v[k] = n;
  }
  if (v[0] > INT_MAX || v[1] > SHARED_FLAGS_MAX || p == end || (size_t)(end - p) > SHARED_URL_MAX ||
      memchr(p, '\0', (size_t)(end - p)))
    return -1;
  *depth = (int)v[0];
  *flags = (int)v[1];
  *url = p;
  *url_len = (size_t)(end - p);
  return 0;
}

/* The claimed case: {"claimed", host, entry, lease_ms}. */
static int reply_claimed(const redisReply *r, struct shared_entry *e, char *why, size_t whylen) {
  const redisReply *host = r->element[1], *entry = r->element[2], *ms = r->element[3];
  const char *url;
  size_t url_len;
  if (r->elements != 4 || !reply_is_string(host) || !reply_is_string(entry) || !ms ||
      ms->type != REDIS_REPLY_INTEGER)
    return reply_bad(why, whylen, "the claim script's entry is not host, entry, lease time");
  if (host->len == 0 || host->len > 1024 || memchr(host->str, '\0', host->len))
    return reply_bad(why, whylen, "the claim script's host is empty, too long or holds a NUL");
  if (shared_parse_entry(entry->str, entry->len, &e->depth, &e->flags, &url, &url_len) != 0)
    return reply_bad(why, whylen, "the claim script's entry is not \"DEPTH FLAGS URL\"");
  e->lease_ms = ms->integer < 0 ? 0 : ms->integer;
  e->host = strndup(host->str, host->len);
  e->url = strndup(url, url_len);
  if (!e->host || !e->url) {
    free(e->host);
    free(e->url);
    e->host = e->url = NULL;
    return WEFT_ENOMEM;
  }
  return SHARED_CLAIMED;
}

/* Here rather than in shared.c: it frees what reply_claimed allocates. */
void shared_entry_free(struct shared_entry *e) {
  if (!e)
    return;
  free(e->host);
  free(e->url);
  e->host = e->url = NULL;
}

int shared_reply_claim(const redisReply *r, struct shared_entry *e, int64_t *wait_ms, char *why,
                       size_t whylen) {
  e->host = e->url = NULL;
  if (!reply_tagged(r, 1))
    return reply_unexpected(r, "claim", why, whylen);
  if (reply_is(r->element[0], "claimed") && r->elements >= 4)
    return reply_claimed(r, e, why, whylen);
  if (reply_is(r->element[0], "wait") && r->elements == 2 && r->element[1] &&
      r->element[1]->type == REDIS_REPLY_INTEGER) {
    long long ms = r->element[1]->integer;
    *wait_ms = ms < 0 ? 0 : ms;
    return SHARED_WAIT;
  }
  if (reply_is(r->element[0], "finished") && r->elements == 1)
    return SHARED_FINISHED;
  if (reply_is(r->element[0], "limit") && r->elements == 1)
    return SHARED_LIMIT;
  return reply_bad(why, whylen, "the claim script answered an array it never sends");
}

int shared_reply_done(const redisReply *r, char *why, size_t whylen) {
  if (reply_is(r, "ok"))
    return 0;
  if (reply_is(r, "lost"))
    return SHARED_LOST;
  return reply_unexpected(r, "complete", why, whylen);
}

int shared_reply_stats(const redisReply *r, struct shared_stats *st, char *why, size_t whylen) {
  int64_t v[8];
  if (!r || r->type != REDIS_REPLY_ARRAY)
    return reply_unexpected(r, "stats", why, whylen);
  if (r->elements != 8)
    return reply_bad(why, whylen, "the stats script answered %zu counts, not 8", r->elements);
  for (size_t i = 0; i < 8; i++) {
    if (!r->element[i] || r->element[i]->type != REDIS_REPLY_INTEGER)
      return reply_bad(why, whylen, "the stats script's count %zu is not an integer", i);
    v[i] = r->element[i]->integer;
  }
  st->seen = v[0];
  st->queued = v[1];
  st->leased = v[2];
  st->pages = v[3];
  st->ready = v[4];
  st->reaped = v[5];
  st->released = v[6];
  st->claims = v[7];
  return 0;
}
