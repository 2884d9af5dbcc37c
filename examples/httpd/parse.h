/*
 * parse.h - httpd's request head parser: it finds a whole request head in
 * the bytes a connection has received and says what it asks for. It does
 * no I/O and calls nothing of weft's, so that tests/check_httpd.c and
 * tests/fuzz/fuzz_httpd.c can drive it alone. Pure, any thread.
 */
#ifndef HTTPD_PARSE_H
#define HTTPD_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/* The longest request target (414 beyond), request line, and header block
 * (431 beyond: the bytes after the request line up to and including the
 * blank line). The input buffer holds the longest acceptable head, plus one
 * byte so that a full buffer always contains enough to decide. */
#define HTTPD_TARGET_MAX 8192
#define HTTPD_REQLINE_MAX (HTTPD_TARGET_MAX + 64)
#define HTTPD_HEADERS_MAX 16384
#define HTTPD_IN_SIZE (HTTPD_REQLINE_MAX + 1 + HTTPD_HEADERS_MAX)

/* One request head, parsed. The pointers point into the connection's
 * input buffer and are valid until the head is consumed. */
struct request {
  const char *method, *target;
  size_t method_len, target_len;
  int minor;            /* HTTP/1.minor */
  int hosts;            /* Host headers seen */
  bool get;             /* GET */
  bool head;            /* HEAD: the answer carries no body */
  bool has_body;        /* Content-Length > 0 or Transfer-Encoding */
  bool conn_close;      /* "Connection: close" */
  bool conn_keep_alive; /* "Connection: keep-alive" */
};

/*
 * Look for a whole request head at the start of in (*in_len bytes, at
 * most HTTPD_IN_SIZE). Blank lines before it are dropped from in (and
 * *in_len). Returns the head's length (> 0) with *rq filled, 0 when more
 * input is needed (never when *in_len is HTTPD_IN_SIZE), or minus the
 * status to answer when the head is bad or too large: 400, 414, 431, 505.
 */
long parse_head(char *in, size_t *in_len, struct request *rq);

/* The path part of rq's target: origin-form ("/a/b?q") or absolute-form
 * ("http://host/a/b?q"), without the query. Sets *path and *len. Returns
 * 0 or 400 (a target that is neither: "*", "a/b", "ftp://h/"). */
int parse_target_path(const struct request *rq, const char **path, size_t *len);

#endif
