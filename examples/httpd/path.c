/*
 * path.c - from a request target to a file under the root, and the check
 * that an opened file lies under it (see path.h).
 *
 * Staying inside the root takes two checks.
 *
 * The lexical half, path_map: the URL path is percent-decoded first and
 * split at '/' after that, so "%2e%2e" and "%2F" are seen as what they
 * decode to; a ".." segment is then refused outright rather than
 * resolved, and "." and empty segments are dropped. The result is root
 * followed by "/seg/seg" where no segment is "", "." or "..": a path
 * under root by construction. A NUL (%00) is refused, so the path the
 * kernel sees is the whole path checked here.
 *
 * The half for symbolic links, path_inside: links are followed, but only
 * to files inside the root. After opening a file the server resolves its
 * path with realpath(3), checks that the result lies under the root's own
 * real path, and that it names the very file it opened (same device and
 * inode), so a link swapped between the open and the check is caught too.
 *
 * The percent-decoding is written here rather than taken from uriparser,
 * which fetch uses: httpd builds without fetch's optional libraries, and
 * uriparser's unescaping passes a malformed escape through and turns %00
 * into a NUL, both of which httpd must refuse before anything is decoded.
 */
#define _GNU_SOURCE
#include "path.h"

#include <stdlib.h>
#include <string.h>

#include "../common/util.h"

/* Percent-decode path (len bytes) into out (room for len + 1). A malformed
 * escape or a NUL byte, encoded or not, is a 400. Returns 0 or 400. */
static int path_decode(const char *path, size_t len, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    int hi, lo;
    if (path[i] == 0)
      return 400; /* parse_head refuses it already; this file relies on no caller */
    if (path[i] != '%') {
      out[o++] = path[i];
      continue;
    }
    if (i + 2 >= len)
      return 400;
    if ((hi = util_hex_value(path[i + 1])) < 0 || (lo = util_hex_value(path[i + 2])) < 0 ||
        (hi | lo) == 0)
      return 400;
    out[o++] = (char)(hi << 4 | lo);
    i += 2;
  }
  out[o] = 0;
  return 0;
}

/* Rewrite the decoded path in url to "/seg/seg" (no empty or "." segments;
 * "/" for the root) and tell whether it named a directory (ended with a
 * slash). A ".." segment is a 403: no URL leaves DIR. Returns 0 or 403. */
static int path_normalise(char *url, bool *slash) {
  size_t len = strlen(url), o = 0, i = 0;

  *slash = len > 0 && url[len - 1] == '/';
  while (i < len) {
    size_t s = i, n;
    while (i < len && url[i] != '/')
      i++;
    n = i - s;
    i++; /* past the slash */
    if (n == 0 || (n == 1 && url[s] == '.'))
      continue;
    if (n == 2 && url[s] == '.' && url[s + 1] == '.')
      return 403;
    url[o++] = '/';
    memmove(url + o, url + s, n);
    o += n;
  }
  if (o == 0) {
    url[o++] = '/';
    *slash = true;
  }
  url[o] = 0;
  return 0;
}

/* Decode, check and normalise rq's URL path in place after the root. */
int path_map(const char *root, size_t root_len, const struct request *rq, char *fs, size_t *fs_len,
             bool *slash) {
  const char *path;
  size_t len;
  int status;

  if ((status = parse_target_path(rq, &path, &len)) ||
      (status = path_decode(path, len, fs + root_len)) ||
      (status = path_normalise(fs + root_len, slash)))
    return status;
  memcpy(fs, root, root_len);
  *fs_len = root_len + strlen(fs + root_len);
  return 0;
}

/* Whether real, a resolved path, is root itself or lies under it. */
static bool path_under(const char *root, size_t root_len, const char *real) {
  return strncmp(real, root, root_len) == 0 && (real[root_len] == '/' || real[root_len] == 0);
}

/* Resolve path and compare it with root and with st (see path.h). realpath
 * runs on the calling thread, but the open just before has warmed the
 * kernel's name cache, so it costs lookups, not disk reads. */
bool path_inside(const char *root, size_t root_len, const char *path, const struct stat *st) {
  char *real = realpath(path, NULL);
  struct stat rst;
  bool ok;

  if (!real)
    return false;
  ok = path_under(root, root_len, real) && stat(real, &rst) == 0 && rst.st_dev == st->st_dev &&
       rst.st_ino == st->st_ino;
  free(real);
  return ok;
}
