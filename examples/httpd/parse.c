/*
 * parse.c - httpd's request heads (see parse.h).
 *
 * Everything here reads bytes a client chose, so it is written to be
 * fuzzed (tests/fuzz/fuzz_httpd.c): lengths are checked before every
 * read, and nothing depends on a NUL the client did not send. The
 * request line is read first and alone, so that an overlong target is a
 * 414 even before its line ends; then the header block is looked for up
 * to its blank line within HTTPD_HEADERS_MAX bytes (431 beyond), and only
 * a whole block is parsed.
 *
 * Why by hand, when fetch reads responses with Debian's http-parser:
 * httpd is built in every configuration, with weft and libuv alone, while
 * http-parser is one of fetch's optional dependencies (configure builds
 * fetch only when they are all there). And http-parser bounds the whole
 * head by one compile-time size (HTTP_MAX_HEADER_SIZE, 80 KiB in
 * Debian's build) with one error, where httpd answers an overlong target
 * with 414 and an overlong header block with 431 under limits of its own
 * (parse.h). What is parsed is small: a request line and header fields,
 * and no bodies: a request that announces one is answered and its
 * connection closed (conn.c).
 */
#define _GNU_SOURCE
#include "parse.h"

#include <string.h>
#include <strings.h>

/* Whether c may appear in a token (a method or a header name). */
static bool is_tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

static size_t token_length(const char *s, size_t len) {
  size_t i = 0;
  while (i < len && is_tchar((unsigned char)s[i]))
    i++;
  return i;
}

/* Whether s (len bytes) equals the lower-case word, in any case. */
static bool equals_word(const char *s, size_t len, const char *word) {
  return len == strlen(word) && strncasecmp(s, word, len) == 0;
}

/* The status for a request line that has no line end within HTTPD_REQLINE_MAX
 * bytes: 414 when it is a method and an overlong target, else 400. */
static int overlong_line_status(const char *in, size_t len) {
  size_t m = token_length(in, len), t;
  if (m == 0 || m == len || in[m] != ' ')
    return 400;
  for (t = m + 1; t < len && in[t] != ' '; t++)
    ;
  return t - (m + 1) > HTTPD_TARGET_MAX ? 414 : 400;
}

/* Parse "METHOD SP TARGET SP HTTP/1.x" (len bytes, no line end).
 * Returns 0 or the status to answer. */
static int parse_request_line(const char *line, size_t len, struct request *rq) {
  size_t m = token_length(line, len), t, v;

  if (m == 0 || m == len || line[m] != ' ')
    return 400;
  for (t = m + 1; t < len && line[t] != ' '; t++)
    if ((unsigned char)line[t] < 0x21 || line[t] == 0x7f)
      return 400;
  if (t - (m + 1) > HTTPD_TARGET_MAX)
    return 414;
  if (t == m + 1 || t == len)
    return 400;
  v = t + 1;
  if (len - v != 8 || memcmp(line + v, "HTTP/", 5) != 0 || line[v + 6] != '.' ||
      line[v + 5] < '0' || line[v + 5] > '9' || line[v + 7] < '0' || line[v + 7] > '9')
    return 400;
  if (line[v + 5] != '1')
    return 505;
  rq->method = line;
  rq->method_len = m;
  rq->target = line + m + 1;
  rq->target_len = t - (m + 1);
  rq->minor = line[v + 7] - '0';
  rq->get = m == 3 && memcmp(line, "GET", 3) == 0; /* methods are case-sensitive */
  rq->head = m == 4 && memcmp(line, "HEAD", 4) == 0;
  return 0;
}

/* Note the tokens of a Connection header's value. */
static void parse_connection(const char *v, size_t len, struct request *rq) {
  while (len > 0) {
    const char *comma = memchr(v, ',', len);
    size_t n = comma ? (size_t)(comma - v) : len, s = 0, e = n;
    while (s < e && (v[s] == ' ' || v[s] == '\t'))
      s++;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
      e--;
    if (equals_word(v + s, e - s, "close"))
      rq->conn_close = true;
    else if (equals_word(v + s, e - s, "keep-alive"))
      rq->conn_keep_alive = true;
    v += n;
    len -= n;
    if (len > 0) { /* skip the comma */
      v++;
      len--;
    }
  }
}

/* A Content-Length value: decimal digits only. Returns 0 or 400. */
static int parse_content_length(const char *v, size_t len, struct request *rq) {
  bool nonzero = false;
  if (len == 0 || len > 18)
    return 400;
  for (size_t i = 0; i < len; i++) {
    if (v[i] < '0' || v[i] > '9')
      return 400;
    nonzero |= v[i] != '0';
  }
  rq->has_body |= nonzero;
  return 0;
}

/* Parse one header line (len bytes, no line end). Returns 0 or 400. */
static int parse_header(const char *line, size_t len, struct request *rq) {
  const char *colon = memchr(line, ':', len);
  size_t name_len, s, e;

  if (!colon || colon == line)
    return 400; /* no name; also a folded line, which starts with a space */
  name_len = (size_t)(colon - line);
  if (token_length(line, name_len) != name_len)
    return 400;
  s = name_len + 1;
  e = len;
  while (s < e && (line[s] == ' ' || line[s] == '\t'))
    s++;
  while (e > s && (line[e - 1] == ' ' || line[e - 1] == '\t'))
    e--;
  for (size_t i = s; i < e; i++)
    if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
      return 400;
  if (equals_word(line, name_len, "host"))
    rq->hosts++;
  else if (equals_word(line, name_len, "connection"))
    parse_connection(line + s, e - s, rq);
  else if (equals_word(line, name_len, "content-length"))
    return parse_content_length(line + s, e - s, rq);
  else if (equals_word(line, name_len, "transfer-encoding"))
    rq->has_body = true;
  return 0;
}

/* The length of the header block at block (up to and including its blank
 * line), looking at no more than len bytes; 0 when it is not complete. */
static size_t headers_length(const char *block, size_t len) {
  size_t pos = 0;
  while (pos < len) {
    const char *lf = memchr(block + pos, '\n', len - pos);
    if (!lf)
      return 0;
    size_t n = (size_t)(lf - (block + pos));
    if (n == 0 || (n == 1 && block[pos] == '\r'))
      return (size_t)(lf - block) + 1;
    pos += n + 1;
  }
  return 0;
}

/* Parse every header line of a complete block. Returns 0 or 400. */
static int parse_headers(const char *block, size_t len, struct request *rq) {
  size_t pos = 0;
  for (;;) {
    const char *lf = memchr(block + pos, '\n', len - pos);
    size_t n = (size_t)(lf - (block + pos)); /* the block ends with a line end */
    if (n > 0 && block[pos + n - 1] == '\r')
      n--;
    if (n == 0)
      break;
    if (parse_header(block + pos, n, rq))
      return 400;
    pos = (size_t)(lf - block) + 1;
  }
  if (rq->hosts > 1 || (rq->minor >= 1 && rq->hosts == 0))
    return 400;
  return 0;
}

/* Find and parse the request head at the start of in (see parse.h). */
long parse_head(char *in, size_t *in_len, struct request *rq) {
  size_t skip = 0, line_len, hdr, end, scan;
  const char *lf;
  int status;

  while (skip < *in_len && (in[skip] == '\r' || in[skip] == '\n'))
    skip++; /* blank lines before a request are allowed */
  if (skip > 0) {
    memmove(in, in + skip, *in_len - skip);
    *in_len -= skip;
  }
  scan = *in_len < HTTPD_REQLINE_MAX + 1 ? *in_len : HTTPD_REQLINE_MAX + 1;
  if (!(lf = memchr(in, '\n', scan)))
    return *in_len > HTTPD_REQLINE_MAX ? -overlong_line_status(in, *in_len) : 0;
  line_len = (size_t)(lf - in);
  if (line_len > 0 && in[line_len - 1] == '\r')
    line_len--;
  memset(rq, 0, sizeof *rq);
  if ((status = parse_request_line(in, line_len, rq)))
    return -status;
  hdr = (size_t)(lf - in) + 1;
  scan = *in_len - hdr < HTTPD_HEADERS_MAX ? *in_len - hdr : HTTPD_HEADERS_MAX;
  if (!(end = headers_length(in + hdr, scan)))
    return *in_len - hdr >= HTTPD_HEADERS_MAX ? -431 : 0;
  if ((status = parse_headers(in + hdr, end, rq)))
    return -status;
  return (long)(hdr + end);
}

/* ------------------------------------------------------------------ */
/* The request target                                                  */

/* Whether s (len bytes) starts with prefix, in any case. */
static bool starts_with(const char *s, size_t len, const char *prefix) {
  size_t n = strlen(prefix);
  return len >= n && strncasecmp(s, prefix, n) == 0;
}

/* The path part of a request target: origin-form ("/a/b?q") or
 * absolute-form ("http://host/a/b?q"), without the query. Sets *path and
 * *len. Returns 0 or 400. */
int parse_target_path(const struct request *rq, const char **path, size_t *len) {
  const char *t = rq->target, *end = t + rq->target_len, *q;

  if (starts_with(t, rq->target_len, "http://") || starts_with(t, rq->target_len, "https://")) {
    t = memchr(t, ':', rq->target_len) + 3;
    while (t < end && *t != '/' && *t != '?')
      t++;
    if (t == end || *t == '?') {
      *path = "/";
      *len = 1;
      return 0;
    }
  }
  if (*t != '/')
    return 400;
  q = memchr(t, '?', (size_t)(end - t));
  *path = t;
  *len = (size_t)((q ? q : end) - t);
  return 0;
}
