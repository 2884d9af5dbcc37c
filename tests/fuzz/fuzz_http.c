/*
 * fuzz_http.c - libFuzzer harness for fetch's HTTP response parser
 * (examples/fetch/http.c over http-parser, with decode.c for bodies that
 * have a Content-Encoding).
 *
 * Input: one control byte, then the bytes a server sent.
 *
 *   bit 0     keep_all: keep every body (fetch's robots.txt requests)
 *   bit 1     give http_resp_init a sink (fetch's page requests)
 *   bits 2-3  max_body: 0, 100, 4096 or 10 MiB
 *   bit 4     pad the head: after the first line feed, insert one header
 *             line "X-Pad: ppp..." of 65024 + 128 * (bits 5-7) bytes, so
 *             that with the input's own header lines the head lands on
 *             either side of HTTP_HEAD_MAX without a 64 KiB input.
 *
 * The response is parsed twice, fed whole and fed in pieces whose sizes
 * derive from the input, then closed (http_resp_eof) if still unfinished.
 * Asserted, each time:
 *  - every return is HTTP_MORE, HTTP_DONE or HTTP_FAILED, and once DONE
 *    or FAILED every later feed returns the same;
 *  - FAILED comes with an error; DONE with a final status (200-999);
 *  - the limits hold: at most HTTP_HEAD_MAX bytes of head are parsed, and
 *    no more than max_body body bytes are received, decoded or kept;
 *  - the body is accounted for: a kept body is every decoded byte, a
 *    streamed one reaches the sink whole and nothing else does, and
 *    without a Content-Encoding decoded and received counts agree;
 *  - the split does not matter: both runs end alike, with the same
 *    result, error and status, and a complete response with the same end,
 *    body, Location and Content-Type. Two exceptions: a br body may fail
 *    as corrupt one way and too long the other (decode.c, "Errors and
 *    splits"); and of a failed response, what was taken before the bad
 *    byte depends on the pieces (a header value or a body count cut where
 *    the feed stopped), which fetch does not rely on.
 */
#include "http.h"

#include "fuzz.h"

#include <string.h>

/* One parse's outcome, for the comparison of the two runs. */
struct outcome {
  int rc; /* HTTP_DONE or HTTP_FAILED: the final result */
  int status;
  int html;
  int keep_alive;
  size_t end; /* once done: the offset in the input where the response ended */
  uint64_t body_bytes;
  uint64_t wire_bytes;
  uint64_t body_hash; /* of the kept body, or of what the sink got */
  size_t body_len;
  char error[128];
  char *location;
  char *content_type;
};

/* What the sink received. */
struct sink_log {
  uint64_t bytes;
  uint64_t hash;
};

static int sink(void *arg, const char *data, size_t len) {
  struct sink_log *s = arg;
  FUZZ_CHECK(len > 0, "the sink got an empty piece");
  s->bytes += len;
  s->hash = fuzz_hash(data, len, s->hash);
  return 0;
}

static const size_t max_bodies[4] = {0, 100, 4096, 10 * 1024 * 1024};

/* The properties that hold after any feed. */
static void check_limits(const struct http_resp *r, size_t max_body) {
  FUZZ_CHECK(r->head_bytes <= HTTP_HEAD_MAX, "%zu bytes of head parsed", r->head_bytes);
  FUZZ_CHECK(r->wire_bytes <= max_body, "%llu bytes received, max_body %zu",
             (unsigned long long)r->wire_bytes, max_body);
  FUZZ_CHECK(r->body_bytes <= max_body, "%llu bytes decoded, max_body %zu",
             (unsigned long long)r->body_bytes, max_body);
  FUZZ_CHECK(r->body_len <= max_body, "%zu bytes kept, max_body %zu", r->body_len, max_body);
}

/* Feed in (n bytes) to r, whole when seed is 0, else in pieces; fill *o. */
static void parse(const char *in, size_t n, int ctl, uint64_t seed, struct outcome *o) {
  size_t max_body = max_bodies[(ctl >> 2) & 3], off = 0;
  struct sink_log log = {0, FUZZ_HASH_INIT};
  struct http_resp r;
  int rc = HTTP_MORE;

  http_resp_init(&r, max_body, ctl & 1, (ctl & 2) ? sink : NULL, &log);
  memset(o, 0, sizeof *o);
  while (off < n) {
    size_t len = seed ? fuzz_piece(&seed, n - off) : n - off;
    int prev = rc;
    char *piece = fuzz_copy(in + off, len);
    rc = http_resp_feed(&r, piece, len);
    free(piece);
    FUZZ_CHECK(rc == HTTP_MORE || rc == HTTP_DONE || rc == HTTP_FAILED, "feed returned %d", rc);
    FUZZ_CHECK(prev == HTTP_MORE || rc == prev, "feed returned %d after %d", rc, prev);
    if (rc == HTTP_DONE && prev == HTTP_MORE) {
      FUZZ_CHECK(r.extra <= len, "extra %zu of a %zu-byte feed", r.extra, len);
      o->end = off + len - r.extra;
    }
    check_limits(&r, max_body);
    off += len;
  }
  if (rc == HTTP_MORE) {
    rc = http_resp_eof(&r);
    FUZZ_CHECK(rc == HTTP_DONE || rc == HTTP_FAILED, "eof returned %d", rc);
    o->end = n;
    check_limits(&r, max_body);
  }
  FUZZ_CHECK(http_resp_eof(&r) == rc, "eof after the end changed the result");
  if (rc == HTTP_FAILED) {
    FUZZ_CHECK(r.error && *r.error, "failed without an error");
    snprintf(o->error, sizeof o->error, "%s", r.error);
  } else {
    FUZZ_CHECK(!r.error, "done with an error: %s", r.error);
    FUZZ_CHECK(r.status >= 200 && r.status <= 999, "done with status %d", r.status);
  }
  if (r.keep_all) {
    FUZZ_CHECK(r.body_len == r.body_bytes, "kept %zu of %llu decoded bytes", r.body_len,
               (unsigned long long)r.body_bytes);
    FUZZ_CHECK(!r.body || r.body[r.body_len] == '\0', "kept body not NUL-terminated");
    o->body_hash = r.body ? fuzz_hash(r.body, r.body_len, FUZZ_HASH_INIT) : FUZZ_HASH_INIT;
  } else {
    FUZZ_CHECK(!r.body, "a body was kept without keep_all");
    FUZZ_CHECK(log.bytes == (r.streaming ? r.body_bytes : 0), "the sink got %llu of %llu bytes",
               (unsigned long long)log.bytes, (unsigned long long)r.body_bytes);
    o->body_hash = log.hash;
  }
  if (!r.decoding)
    FUZZ_CHECK(r.body_bytes == r.wire_bytes, "identity body: %llu decoded, %llu received",
               (unsigned long long)r.body_bytes, (unsigned long long)r.wire_bytes);
  o->rc = rc;
  o->status = r.status;
  o->html = r.html;
  o->keep_alive = r.keep_alive;
  o->body_bytes = r.body_bytes;
  o->wire_bytes = r.wire_bytes;
  o->body_len = r.body_len;
  o->location = r.location ? strdup(r.location) : NULL;
  o->content_type = r.content_type ? strdup(r.content_type) : NULL;
  http_resp_destroy(&r);
}

static int same_string(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Whether errors a and b may differ: a br body both corrupt and too long
 * may fail either way, depending on the split (decode.c, "Errors and
 * splits"). */
static int br_either_way(const char *a, const char *b) {
  return (strcmp(a, "corrupt br data") == 0 && strcmp(b, "body over --max-body") == 0) ||
         (strcmp(b, "corrupt br data") == 0 && strcmp(a, "body over --max-body") == 0);
}

/* The two runs must agree. */
static void compare(const struct outcome *a, const struct outcome *b) {
  FUZZ_CHECK(a->rc == b->rc, "whole %d, split %d (%s | %s)", a->rc, b->rc, a->error, b->error);
  FUZZ_CHECK(strcmp(a->error, b->error) == 0 || br_either_way(a->error, b->error),
             "whole '%s', split '%s'", a->error, b->error);
  FUZZ_CHECK(a->status == b->status, "status whole %d, split %d", a->status, b->status);
  FUZZ_CHECK(a->rc != HTTP_DONE || a->end == b->end, "ended whole at %zu, split at %zu", a->end,
             b->end);
  if (a->rc == HTTP_FAILED)
    return; /* how much of a failed response was taken depends on where it broke */
  FUZZ_CHECK(a->body_bytes == b->body_bytes && a->wire_bytes == b->wire_bytes &&
                 a->body_len == b->body_len && a->body_hash == b->body_hash,
             "bodies differ: whole %llu bytes, split %llu", (unsigned long long)a->body_bytes,
             (unsigned long long)b->body_bytes);
  FUZZ_CHECK(a->html == b->html && a->keep_alive == b->keep_alive, "html or keep-alive differ");
  FUZZ_CHECK(same_string(a->location, b->location), "Location differs");
  FUZZ_CHECK(same_string(a->content_type, b->content_type), "Content-Type differs");
}

/* The input with bit 4's padding header inserted after its first line;
 * *n is updated. NULL when there is nothing to pad (no line feed). */
static char *pad_head(const char *in, size_t *n, int ctl) {
  const char *lf = memchr(in, '\n', *n);
  size_t pad = 65024 + 128 * (size_t)(ctl >> 5), head = lf ? (size_t)(lf - in) + 1 : 0;
  char *out;
  if (!lf || !(out = malloc(*n + pad)))
    return NULL;
  memcpy(out, in, head);
  memcpy(out + head, "X-Pad: ", 7);
  memset(out + head + 7, 'p', pad - 9);
  memcpy(out + head + pad - 2, "\r\n", 2);
  memcpy(out + head + pad, in + head, *n - head);
  *n += pad;
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct outcome whole, split;
  const char *in;
  char *padded = NULL;
  size_t n;
  int ctl;

  if (size < 1)
    return 0;
  ctl = data[0];
  in = (const char *)data + 1;
  n = size - 1;
  if ((ctl & 16) && (padded = pad_head(in, &n, ctl)))
    in = padded;
  parse(in, n, ctl, 0, &whole);
  parse(in, n, ctl, fuzz_hash(data, size, FUZZ_HASH_INIT) | 1, &split);
  compare(&whole, &split);
  free(whole.location);
  free(whole.content_type);
  free(split.location);
  free(split.content_type);
  free(padded);
  return 0;
}
