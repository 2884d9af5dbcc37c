/*
 * fuzz_httpd.c - libFuzzer harness for httpd's request head parser
 * (examples/httpd/parse.c) and the mapping of a request target to a file
 * path (examples/httpd/path.c).
 *
 * Input: one control byte, then the bytes a client sent on a connection
 * (one request head or several, pipelined).
 *
 *   bit 0     the root: "/srv/www" (0) or "/" (1), which httpd keeps as
 *             the empty string
 *   bits 1-2  padding, to reach the limits with a small input: none (0),
 *             "a" repeated after the first '/' of the input, making the
 *             target long (1), or a header line "X-Pad: ppp..." after the
 *             first line feed, making the header block long (2, 3)
 *   bits 3-7  the padding's length: HTTPD_TARGET_MAX - 128 + 16 * k, or
 *             HTTPD_HEADERS_MAX - 256 + 16 * k
 *
 * The input is cut at HTTPD_IN_SIZE bytes (httpd never holds more) and
 * copied to a block of its exact size, so that a read past it is caught,
 * and the heads in it are taken one after another as httpd's conn_serve()
 * does.
 * Asserted:
 *  - parse_head returns a length within the input, 0 (more input)
 *    only when the buffer is not full, or minus 400, 414, 431 or 505;
 *  - a parsed head points into the buffer, its target is at most
 *    HTTPD_TARGET_MAX bytes and its version is 1.x;
 *  - path confinement: for GET and HEAD, path_map either refuses
 *    (400 or 403) or gives root + "/seg/seg": a path that, resolved
 *    lexically ("." and ".." applied, empty segments dropped), is still
 *    itself, hence lies under the root, holds no NUL, and leaves room in
 *    httpd's buffer for the "/index.html" a directory gets.
 */
#include "httpd/parse.h"
#include "httpd/path.h"

#include "fuzz.h"

#include <string.h>

/* Whether path, resolved lexically, stays under root and is unchanged:
 * every segment after the root is neither empty, "." nor "..". */
static void check_confined(const char *root, size_t root_len, const char *fs, size_t fs_len) {
  size_t i = root_len, depth = 0;
  FUZZ_CHECK(strlen(fs) == fs_len, "path length %zu, strlen %zu", fs_len, strlen(fs));
  FUZZ_CHECK(memcmp(fs, root, root_len) == 0, "'%s' does not start with the root", fs);
  FUZZ_CHECK(fs[i] == '/', "'%s': no '/' after the root", fs);
  if (fs_len == root_len + 1)
    return; /* the root itself */
  while (i < fs_len) {
    size_t s = ++i, n;
    while (i < fs_len && fs[i] != '/')
      i++;
    n = i - s;
    FUZZ_CHECK(n > 0, "'%s': an empty segment at %zu", fs, s);
    FUZZ_CHECK(!(n == 1 && fs[s] == '.'), "'%s': a '.' segment at %zu", fs, s);
    FUZZ_CHECK(!(n == 2 && fs[s] == '.' && fs[s + 1] == '.'), "'%s' leaves the root at %zu", fs, s);
    depth++;
  }
  FUZZ_CHECK(depth > 0, "'%s': no segment", fs);
}

/* Map the target of rq under root and check where it leads. */
static void check_path(const char *root, const struct request *rq) {
  size_t root_len = strlen(root), fs_len = 0, room = root_len + HTTPD_PATH_ROOM;
  char *fs = malloc(room);
  const char *path;
  size_t len;
  bool slash;
  int status;

  FUZZ_CHECK(fs != NULL, "out of memory");
  status = path_map(root, root_len, rq, fs, &fs_len, &slash);
  FUZZ_CHECK(status == 0 || status == 400 || status == 403, "path_map returned %d", status);
  if (status == 0) {
    FUZZ_CHECK(parse_target_path(rq, &path, &len) == 0 && len > 0 && path[0] == '/',
               "a mapped target without a path");
    check_confined(root, root_len, fs, fs_len);
    FUZZ_CHECK(fs_len + sizeof "/index.html" <= room, "a %zu-byte path in %zu bytes of room",
               fs_len, room);
  }
  free(fs);
}

/* A parsed head is well-formed and inside the buffer. */
static void check_head(const char *in, size_t in_len, long n, const struct request *rq) {
  FUZZ_CHECK(n > 0 && (size_t)n <= in_len, "a head of %ld bytes in %zu", n, in_len);
  FUZZ_CHECK(rq->method == in && rq->method_len > 0, "the method is not at the start");
  FUZZ_CHECK(rq->target > rq->method && rq->target + rq->target_len <= in + n,
             "the target lies outside the head");
  FUZZ_CHECK(rq->target_len > 0 && rq->target_len <= HTTPD_TARGET_MAX, "a %zu-byte target",
             rq->target_len);
  FUZZ_CHECK(rq->minor >= 0 && rq->minor <= 9, "HTTP/1.%d", rq->minor);
  FUZZ_CHECK(!rq->get || (rq->method_len == 3 && memcmp(rq->method, "GET", 3) == 0),
             "GET without GET");
}

/* Insert the padding bits 1-7 of ctl ask for into the input. Returns
 * the new input (malloc'd), or NULL when there is no place for it. */
static char *pad(const char *in, size_t *n, int ctl) {
  int mode = (ctl >> 1) & 3;
  size_t k = (size_t)(ctl >> 3), at, len;
  const char *where;
  char *out;
  if (mode == 0)
    return NULL;
  if (mode == 1) {
    where = memchr(in, '/', *n);
    len = HTTPD_TARGET_MAX - 128 + 16 * k;
  } else {
    where = memchr(in, '\n', *n);
    len = HTTPD_HEADERS_MAX - 256 + 16 * k;
  }
  if (!where || !(out = malloc(*n + len)))
    return NULL;
  at = (size_t)(where - in) + 1;
  memcpy(out, in, at);
  if (mode == 1) {
    memset(out + at, 'a', len);
  } else {
    memcpy(out + at, "X-Pad: ", 7);
    memset(out + at + 7, 'p', len - 9);
    memcpy(out + at + len - 2, "\r\n", 2);
  }
  memcpy(out + at + len, in + at, *n - at);
  *n += len;
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *root, *src;
  char *padded, *in;
  size_t in_len, n;
  struct request rq;
  int ctl;

  if (size < 1)
    return 0;
  ctl = data[0];
  root = (ctl & 1) ? "" : "/srv/www";
  src = (const char *)data + 1;
  n = size - 1;
  if ((padded = pad(src, &n, ctl)))
    src = padded;
  in_len = n < HTTPD_IN_SIZE ? n : HTTPD_IN_SIZE;
  in = fuzz_copy(src, in_len); /* exactly in_len bytes: a read past them is caught */
  free(padded);
  for (;;) {
    size_t before = in_len;
    long got = parse_head(in, &in_len, &rq);
    FUZZ_CHECK(in_len <= before, "the input grew from %zu to %zu bytes", before, in_len);
    if (got == 0) {
      FUZZ_CHECK(in_len < HTTPD_IN_SIZE, "a full buffer did not decide");
      break;
    }
    if (got < 0) {
      FUZZ_CHECK(got == -400 || got == -414 || got == -431 || got == -505, "status %ld", -got);
      break;
    }
    check_head(in, in_len, got, &rq);
    if (rq.get || rq.head)
      check_path(root, &rq);
    in_len -= (size_t)got;
    memmove(in, in + got, in_len);
  }
  free(in);
  return 0;
}
