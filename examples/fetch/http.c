/*
 * http.c - the response parser wrapper (see http.h).
 *
 * http-parser does the HTTP/1.1 framing: the status line, header fields,
 * Content-Length, chunked transfer coding and bodies delimited by the
 * close. This file adds fetch's limits and its vocabulary:
 *
 *  - The header block is bounded here, not by http-parser's compile-time
 *    limit: while the headers are not complete, at most HTTP_HEAD_MAX
 *    bytes in all are fed to the parser, and a block still unfinished
 *    after them fails the response. Interim (1xx) heads count too.
 *  - The body is bounded by max_body: a Content-Length over it fails the
 *    response at once, and a chunked or read-to-close body fails as the
 *    byte past the limit arrives. Either way no more than max_body bytes
 *    are kept. With truncate the body is cut there instead and the
 *    response is done, marked truncated: robots.txt must be read up to
 *    its first 500 KiB whatever its size (RFC 9309).
 *  - msg_len says where the response ended in the bytes fed, which
 *    --warc's capture (client.c) keeps: the end of the message, or the
 *    max_body cut, found from the pointer http-parser hands on_body (the
 *    bytes being fed are remembered in feed and feed_off). A Content-
 *    Length over the limit without truncate makes http-parser skip the
 *    body, so the parser stops right after the head and fails there.
 *  - A complete response pauses the parser, so bytes past its end (which a
 *    well-behaved server never sends to a client that waits) are counted
 *    in extra and the connection is not reused.
 *  - 204 and 304 have no body whatever their headers say; interim 1xx
 *    responses are skipped; a 101 is an error, since fetch never asks to
 *    switch protocols.
 */
#define _GNU_SOURCE /* strptime, timegm */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct http_resp *resp(http_parser *p) { return p->data; }

/* Record why r failed; returns the value that stops http-parser. */
static int fail(struct http_resp *r, const char *why) {
  if (!r->error)
    r->error = why;
  return -1;
}

/* Record why r failed, for the feeding functions. */
static int stop(struct http_resp *r, const char *why) {
  fail(r, why);
  return HTTP_FAILED;
}

/* Append len bytes of a header value to the malloc'd string *s, a NUL
 * made a space (RFC 9110 section 5.5 allows that). http-parser lets a NUL
 * through as a value's first byte; kept, it would end the string where
 * the bytes happened to be split. Returns 0 or -1. */
static int append(char **s, const char *at, size_t len) {
  size_t old = *s ? strlen(*s) : 0;
  char *p = realloc(*s, old + len + 1);
  if (!p)
    return -1;
  memcpy(p + old, at, len);
  for (size_t i = old; i < old + len; i++)
    if (p[i] == '\0')
      p[i] = ' ';
  p[old + len] = '\0';
  *s = p;
  return 0;
}

static int on_status(http_parser *p, const char *at, size_t len) {
  (void)at;
  (void)len;
  resp(p)->status = p->status_code;
  return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
  struct http_resp *r = resp(p);
  if (r->in_value) { /* a new field begins */
    r->in_value = 0;
    r->name_len = 0;
  }
  for (size_t i = 0; i < len && r->name_len + i < sizeof r->name; i++)
    r->name[r->name_len + i] = at[i];
  r->name_len += len;
  return 0;
}

/* Which header the name just parsed is, and where its value goes. */
static void classify(struct http_resp *r) {
  size_t n = r->name_len;
  r->field = HTTP_FIELD_OTHER;
  r->value = NULL;
  if (n == 8 && strncasecmp(r->name, "location", 8) == 0 && !r->location) {
    r->field = HTTP_FIELD_LOCATION;
    r->value = &r->location;
  } else if (n == 12 && strncasecmp(r->name, "content-type", 12) == 0 && !r->content_type) {
    r->field = HTTP_FIELD_CONTENT_TYPE;
    r->value = &r->content_type;
  } else if (n == 16 && strncasecmp(r->name, "content-encoding", 16) == 0 &&
             !r->content_encoding) {
    r->field = HTTP_FIELD_CONTENT_ENCODING;
    r->value = &r->content_encoding;
  } else if (n == 11 && strncasecmp(r->name, "retry-after", 11) == 0 && !r->retry_after) {
    r->value = &r->retry_after; /* HTTP_FIELD_OTHER: nothing is decided while parsing */
  }
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
  struct http_resp *r = resp(p);
  if (!r->in_value) {
    r->in_value = 1;
    classify(r);
    if (r->value && append(r->value, "", 0) != 0)
      return fail(r, "out of memory");
  }
  if (r->value && append(r->value, at, len) != 0)
    return fail(r, "out of memory");
  return 0;
}

static int body_out(void *arg, const char *at, size_t len);

/* A body with a Content-Encoding is decoded as it arrives, into body_out;
 * its decoded size is bounded by max_body as a plain body's is. */
static int start_decoding(struct http_resp *r) {
  enum decode_coding coding;
  if (decode_coding_of(r->content_encoding, &coding) != 0) {
    snprintf(r->errbuf, sizeof r->errbuf, "unsupported Content-Encoding: %.60s",
             r->content_encoding);
    return fail(r, r->errbuf);
  }
  if (coding == DECODE_IDENTITY)
    return 0;
  r->decoding = 1;
  if (decoder_init(&r->dec, coding, r->max_body, body_out, r) != 0)
    return fail(r, "out of memory");
  return 0;
}

static int on_headers_complete(http_parser *p) {
  struct http_resp *r = resp(p);
  r->status = p->status_code;
  r->in_value = 0;
  r->name_len = 0;
  if (r->status < 100) /* http-parser takes "HTTP/1.1 20" or "000"; RFC 9112 wants 3 digits */
    return fail(r, "malformed response: invalid status code");
  if (r->status / 100 == 1)
    return 1; /* an interim response: no body, whatever its headers say (RFC 9110 15.2) */
  r->headers_done = 1;
  r->html = r->content_type && http_is_html(r->content_type);
  r->streaming = !r->keep_all && r->sink && r->html && r->status / 100 == 2;
  if (r->status == 204 || r->status == 304)
    return 1; /* no body, whatever the headers say */
  if ((p->flags & F_CONTENTLENGTH) && !(p->flags & F_CHUNKED) &&
      p->content_length > r->max_body && !r->truncate) {
    r->truncated = 1; /* skip the body: on_message_complete fails the response at the head's end */
    return 1;
  }
  return start_decoding(r);
}

/* Keep len more body bytes. Returns 0 or -1 (out of memory). */
static int keep(struct http_resp *r, const char *at, size_t len) {
  size_t need = r->body_len + len + 1;
  if (need > r->body_cap) {
    size_t cap = r->body_cap ? r->body_cap : 16384;
    char *b;
    while (cap < need)
      cap *= 2;
    if (cap > r->max_body + 1)
      cap = r->max_body + 1;
    if (!(b = realloc(r->body, cap)))
      return -1;
    r->body = b;
    r->body_cap = cap;
  }
  memcpy(r->body + r->body_len, at, len);
  r->body_len += len;
  r->body[r->body_len] = '\0';
  return 0;
}

/* Decoded body bytes: kept, or given to the sink. */
static int body_out(void *arg, const char *at, size_t len) {
  struct http_resp *r = arg;
  r->body_bytes += len;
  if (r->keep_all && len && keep(r, at, len) != 0)
    return -1;
  if (r->streaming && len && r->sink(r->sink_arg, at, len) != 0)
    return -1;
  return 0;
}

/* Why the decoder stopped, in a record's words. */
static int decode_failed(struct http_resp *r, int err) {
  if (err == DECODE_ETOOBIG)
    return fail(r, "body over --max-body");
  if (err == DECODE_ESINK)
    return fail(r, "out of memory");
  snprintf(r->errbuf, sizeof r->errbuf, "%s", decoder_strerror(&r->dec, err));
  return fail(r, r->errbuf);
}

/* The body reached max_body at end, a pointer into the bytes being fed:
 * the response fails, or with truncate it is done, cut there. */
static int cut(struct http_resp *r, const char *end) {
  r->truncated = 1;
  r->msg_len = r->feed_off + (size_t)(end - r->feed);
  if (!r->truncate)
    return fail(r, "body over --max-body");
  r->done = 1;
  r->keep_alive = 0; /* the rest of the body is still on its way */
  http_parser_pause(&r->parser, 1);
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
  struct http_resp *r = resp(p);
  int over = len > r->max_body - r->wire_bytes, rc;
  if (over)
    len = r->max_body - r->wire_bytes;
  r->wire_bytes += len;
  if (r->decoding && (rc = decoder_feed(&r->dec, at, len)) != 0) {
    if (rc != DECODE_ETOOBIG)
      return decode_failed(r, rc);
    over = 1; /* the decoded body reached max_body */
  } else if (!r->decoding && body_out(r, at, len) != 0) {
    return fail(r, "out of memory");
  }
  return over ? cut(r, at + len) : 0;
}

/* Forget an interim response's headers. */
static void reset_interim(struct http_resp *r) {
  free(r->location);
  free(r->content_type);
  free(r->content_encoding);
  free(r->retry_after);
  r->location = r->content_type = r->content_encoding = r->retry_after = NULL;
  r->status = 0;
}

static int on_message_complete(http_parser *p) {
  struct http_resp *r = resp(p);
  int rc;
  if (p->status_code == 101)
    return fail(r, "malformed response: unexpected 101 Switching Protocols");
  if (p->status_code / 100 == 1) {
    reset_interim(r);
    return 0;
  }
  if (r->truncated) /* a Content-Length over max_body: the head alone */
    return fail(r, "body over --max-body");
  if (r->decoding && (rc = decoder_end(&r->dec)) != 0) {
    if (rc != DECODE_ETOOBIG || !r->truncate)
      return decode_failed(r, rc);
    r->truncated = 1; /* output held back to the end went past max_body */
  }
  r->done = 1;
  r->keep_alive = http_should_keep_alive(p);
  http_parser_pause(p, 1); /* stop at the end of this response */
  return 0;
}

static const http_parser_settings settings = {
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http_resp_init(struct http_resp *r, size_t max_body, int keep_all, http_sink_fn sink,
                    void *sink_arg) {
  memset(r, 0, sizeof *r);
  r->sink = sink;
  r->sink_arg = sink_arg;
  http_parser_init(&r->parser, HTTP_RESPONSE);
  r->parser.data = r;
  r->max_body = max_body;
  r->keep_all = keep_all;
}

/* Name the parser's error e in a record's words. */
static int parser_failed(struct http_resp *r, enum http_errno e) {
  if (r->error)
    return HTTP_FAILED; /* a callback said why */
  switch (e) {
  case HPE_INVALID_CHUNK_SIZE: r->error = "bad chunk size"; break;
  case HPE_INVALID_CONTENT_LENGTH:
    r->error = r->parser.flags & F_CHUNKED ? "bad chunk size"
                                           : "malformed response: invalid Content-Length";
    break;
  case HPE_HEADER_OVERFLOW: r->error = "header block over 64 KiB"; break;
  default:
    snprintf(r->errbuf, sizeof r->errbuf, "malformed response: %s", http_errno_description(e));
    r->error = r->errbuf;
  }
  return HTTP_FAILED;
}

/* r has just ended with st, its parser stopped after byte at of all those
 * fed: note where the response ends (unless a cut did) and what followed. */
static int ended(struct http_resp *r, int st, size_t at) {
  if (!r->msg_len)
    r->msg_len = st == HTTP_DONE || r->truncated ? at : r->received;
  r->extra = st == HTTP_DONE ? r->received - r->msg_len : 0;
  return st;
}

int http_resp_feed(struct http_resp *r, const char *data, size_t len) {
  size_t off = 0;
  if (r->error)
    return HTTP_FAILED;
  if (r->done)
    return HTTP_DONE;
  r->feed = data;
  r->feed_off = r->received;
  r->received += len;
  while (off < len) {
    size_t n = len - off, used;
    int in_head = !r->headers_done;
    if (in_head && r->head_bytes >= HTTP_HEAD_MAX)
      return ended(r, stop(r, "header block over 64 KiB"), 0);
    if (in_head && n > HTTP_HEAD_MAX - r->head_bytes)
      n = HTTP_HEAD_MAX - r->head_bytes;
    used = http_parser_execute(&r->parser, &settings, data + off, n);
    if (in_head)
      r->head_bytes += used;
    off += used;
    if (r->done)
      return ended(r, HTTP_DONE, r->feed_off + off);
    if (HTTP_PARSER_ERRNO(&r->parser) != HPE_OK)
      return ended(r, parser_failed(r, HTTP_PARSER_ERRNO(&r->parser)), r->feed_off + off);
    if (used < n)
      return ended(r, stop(r, "malformed response: unexpected protocol upgrade"), 0);
  }
  return HTTP_MORE;
}

int http_resp_eof(struct http_resp *r) {
  if (r->error)
    return HTTP_FAILED;
  if (r->done)
    return HTTP_DONE;
  if (r->received == 0)
    return stop(r, "connection closed without a response");
  http_parser_execute(&r->parser, &settings, NULL, 0);
  if (r->done)
    return ended(r, HTTP_DONE, r->received);
  return ended(r, stop(r, "connection closed mid-response"), r->received);
}

void http_resp_destroy(struct http_resp *r) {
  free(r->body);
  free(r->location);
  free(r->content_type);
  free(r->content_encoding);
  free(r->retry_after);
  if (r->decoding)
    decoder_destroy(&r->dec);
  r->decoding = 0;
  r->body = r->location = r->content_type = r->content_encoding = r->retry_after = NULL;
}

int http_is_html(const char *ct) {
  while (*ct == ' ' || *ct == '\t')
    ct++;
  if (strncasecmp(ct, "text/html", 9) != 0)
    return 0;
  ct += 9;
  return *ct == '\0' || *ct == ';' || *ct == ' ' || *ct == '\t';
}

#define RETRY_AFTER_MAX_MS 86400000LL

int64_t http_retry_after_ms(const char *v, time_t now) {
  const char *p = v;
  struct tm tm;
  int64_t secs = 0;
  time_t when;
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p >= '0' && *p <= '9') {
    for (; *p >= '0' && *p <= '9'; p++)
      if (secs <= RETRY_AFTER_MAX_MS / 1000)
        secs = secs * 10 + (*p - '0');
    while (*p == ' ' || *p == '\t')
      p++;
    if (*p)
      return -1;
    return secs * 1000 > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS : secs * 1000;
  }
  memset(&tm, 0, sizeof tm);
  if (!(p = strptime(p, "%a, %d %b %Y %H:%M:%S GMT", &tm)))
    return -1;
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p || (when = timegm(&tm)) == (time_t)-1)
    return -1;
  if (when <= now)
    return 0;
  return (int64_t)(when - now) * 1000 > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS
                                                           : (int64_t)(when - now) * 1000;
}
