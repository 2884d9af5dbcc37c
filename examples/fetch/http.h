/*
 * http.h - the HTTP/1.1 response side of fetch: a wrapper over
 * http-parser that enforces fetch's limits (a 64 KiB header block, a
 * maximum body), keeps what the crawler needs (status, Location,
 * Content-Type, the body of HTML pages as it streams in) and names what went wrong in the
 * words of fetch's records. It does no I/O: the caller feeds it the bytes
 * it receives. Pure, any thread; one response per struct.
 */
#ifndef FETCH_HTTP_H
#define FETCH_HTTP_H

#include "decode.h"

#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The most bytes of status line and header fields one response may have. */
#define HTTP_HEAD_MAX (64 * 1024)

/* What http_resp_feed and http_resp_eof return. */
#define HTTP_MORE 0    /* the response is not complete: feed more */
#define HTTP_DONE 1    /* the response is complete */
#define HTTP_FAILED -1 /* it cannot be completed: see error */


/* Which header the value being parsed belongs to. */
enum http_field {
  HTTP_FIELD_OTHER,
  HTTP_FIELD_LOCATION,
  HTTP_FIELD_CONTENT_TYPE,
  HTTP_FIELD_CONTENT_ENCODING
};

struct http_resp {
  http_parser parser;
  size_t max_body;     /* a longer body fails the response (see truncate) */
  int truncate;        /* set after init: a longer body is cut at max_body, and the response done */
  int truncated;       /* the body was cut at max_body (failed, or done with truncate) */
  size_t msg_len;      /* once done or failed: the bytes fed that the response spans (to the cut) */
  const char *feed;    /* inside http_resp_feed: its data, where the cut is found */
  size_t feed_off;     /* inside http_resp_feed: the bytes fed before data */
  int keep_all;        /* keep every body; otherwise keep none */
  size_t received;     /* bytes fed so far */
  size_t head_bytes;   /* bytes fed before the (last) header block ended */
  int status;          /* the status code; 0 until the status line has arrived */
  int headers_done;    /* the final response's header block has ended */
  int done;            /* the response is complete */
  int html;            /* Content-Type is text/html */
  int keep_alive;      /* once done: the connection may carry another request */
  uint64_t body_bytes; /* body bytes, decoded (see Content-Encoding below) */
  uint64_t wire_bytes; /* body bytes as received (chunked framing removed) */
  http_sink_fn sink;   /* or NULL: gets the body of a 2xx text/html response */
  void *sink_arg;
  int streaming;       /* this response's body goes to sink */
  char *body;          /* the kept body (NUL-terminated), or NULL */
  size_t body_len;
  size_t body_cap;
  char *location;     /* the first Location header, or NULL */
  char *content_type; /* the first Content-Type header, or NULL */
  char *content_encoding; /* the first Content-Encoding header, or NULL */
  char *retry_after;  /* the first Retry-After header, or NULL */
  int decoding;       /* the body is decoded by dec (a coding other than identity) */
  struct decoder dec;
  char name[16];      /* the start of the header name being parsed */
  size_t name_len;    /* its full length so far */
  int in_value;       /* the last callback was a header value */
  enum http_field field;
  char **value;      /* where the current value goes, or NULL to drop it */
  size_t extra;      /* once done: bytes fed after the end of the response */
  const char *error; /* once failed: why, in a record's words */
  char errbuf[96];   /* storage for a composed error */
};

/* Start a response. max_body bounds the body. keep_all keeps any body;
 * otherwise the body of a 2xx text/html response goes to sink (unless it
 * is NULL) as it arrives, and is not kept. Setting r->truncate then makes
 * a body over max_body end the response (HTTP_DONE, truncated set, the
 * first max_body bytes kept, decoded ones for a Content-Encoding) where
 * it would fail it. */
void http_resp_init(struct http_resp *r, size_t max_body, int keep_all, http_sink_fn sink,
                    void *sink_arg);

/*
 * Feed len received bytes. Returns HTTP_MORE, HTTP_DONE (r->extra says
 * how many of the bytes were past the end), or HTTP_FAILED with r->error
 * one of "header block over 64 KiB", "bad chunk size", "body over
 * --max-body", "malformed response: <what>". A response already done or
 * failed returns the same again. Once it is, r->msg_len says how many of
 * all the bytes fed make up the response: up to its end, or up to the
 * max_body cut when truncated (a Content-Length over max_body without
 * truncate: the head alone), else every byte fed.
 */
int http_resp_feed(struct http_resp *r, const char *data, size_t len);

/*
 * The peer closed the connection. Returns HTTP_DONE for a response
 * delimited by the close (or already complete), else HTTP_FAILED with
 * r->error "connection closed without a response" (nothing was received)
 * or "connection closed mid-response".
 */
int http_resp_eof(struct http_resp *r);

/* Free what r holds. */
void http_resp_destroy(struct http_resp *r);

/* Nonzero when the Content-Type value says text/html. */
int http_is_html(const char *content_type);

/*
 * The wait a Retry-After value asks for, in milliseconds: delay-seconds
 * ("120") or an HTTP-date (RFC 9110's IMF-fixdate, "Sun, 06 Nov 1994
 * 08:49:37 GMT") compared with now (seconds since the epoch). A date in
 * the past gives 0, a longer wait than a day gives a day. -1 when the
 * value is neither ("yesterday", "-5", ""). Pure, any thread.
 */
int64_t http_retry_after_ms(const char *value, time_t now);

#endif
