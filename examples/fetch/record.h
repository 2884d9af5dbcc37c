/*
 * record.h - fetch's output: one JSON object per requested URL, one per
 * line,
 *
 *   {"url":...,"status":200,"bytes":N,"wire_bytes":N,"ms":N,"depth":N,
 *    "links":N,"attempts":N}
 *
 * with "redirect" after "attempts" on a 3xx, "tls" for https: and "error"
 * last when the request failed. Strings are valid JSON whatever bytes they hold: quotes,
 * backslashes and control characters are escaped, and each byte that is
 * not part of valid UTF-8 becomes U+FFFD. Pure, any thread.
 */
#ifndef FETCH_RECORD_H
#define FETCH_RECORD_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>

struct record {
  const char *url;
  int status;     /* 0 unless a status line arrived */
  uint64_t bytes; /* body bytes, decoded */
  uint64_t wire_bytes; /* body bytes as received */
  int64_t ms;     /* how long the request took */
  int depth;
  size_t links;         /* distinct links found on the page */
  const char *redirect; /* NULL: none */
  const char *tls;      /* NULL: not https; else the protocol, "TLSv1.3" */
  const char *error;    /* NULL: none */
  int attempts;         /* requests made for the URL, retries included */
};

/* Append s as a JSON string, quotes included. */
void json_string(struct buf *b, const char *s);

/* Append r as one line of JSON, newline included. */
void record_format(struct buf *b, const struct record *r);

#endif
