/*
 * fuzz_url.c - libFuzzer harness for fetch's URL resolution and normal
 * form (examples/fetch/url.c over uriparser).
 *
 * Input: a base URL and a reference, separated by the first NUL byte or,
 * when there is none, by the first line feed ("http://a/b/c\n../d").
 *
 * The property is stability: the normal form is a fixed point, and every
 * way of reaching a URL gives the same one. Asserted:
 *  - url_normalize of the base and of the reference, when it succeeds,
 *    gives at most URL_MAX bytes of plain URI characters (no fragment, no
 *    blank, percent-encodings in upper case), and normalising that again
 *    gives the same string;
 *  - url_join(base, ref) is such a fixed point too, and equals
 *    url_normalize(url_resolve(base, ref)), as url.h defines it, and
 *    url_base_join on a parsed base;
 *  - parse, serialise, parse: url_split of a normal http(s) URL, put back
 *    together as scheme://authority target, is the same URL (when it has
 *    no user info, which the parts leave out), and its port is a TCP port.
 */
#include "url.h"

#include "fuzz.h"

#include <string.h>

static int is_hex_upper(int c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* A normal form holds only URI characters, escapes in upper case, and
 * no fragment. */
static void check_chars(const char *u) {
  size_t n = strlen(u);
  FUZZ_CHECK(n <= URL_MAX, "%zu bytes", n);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)u[i];
    FUZZ_CHECK(c > ' ' && c < 0x7f && !strchr("\"<>\\^`{|}#", c), "byte 0x%02x at %zu in '%s'", c,
               i, u);
    if (c == '%')
      FUZZ_CHECK(i + 2 < n && is_hex_upper(u[i + 1]) && is_hex_upper(u[i + 2]),
                 "bad escape at %zu in '%s'", i, u);
  }
}

/* url is a normal form: clean, and normalising it changes nothing. */
static void check_fixed_point(const char *u) {
  char *again = NULL;
  int rc;
  check_chars(u);
  rc = url_normalize(u, &again);
  FUZZ_CHECK(rc == 0, "normalising '%s' again failed (%d)", u, rc);
  FUZZ_CHECK(strcmp(again, u) == 0, "'%s' normalised again is '%s'", u, again);
  free(again);
}

/* Normalise s; when that succeeds, check it is stable; return it (or NULL). */
static char *normalize_checked(const char *s) {
  char *u = NULL;
  int rc = url_normalize(s, &u);
  FUZZ_CHECK(rc == 0 || rc == URL_EINVAL, "url_normalize returned %d", rc);
  if (rc != 0)
    return NULL;
  check_fixed_point(u);
  return u;
}

/* The authority of the normal URL u has user info. */
static int has_userinfo(const char *u) {
  const char *a = strstr(u, "://"), *end;
  if (!a)
    return 0;
  a += 3;
  end = a + strcspn(a, "/?");
  return memchr(a, '@', (size_t)(end - a)) != NULL;
}

/* Parse, serialise, parse: the parts of an http(s) URL make it again. */
static void check_split(const char *u) {
  struct url parts;
  char *again;
  long port;
  int rc = url_split(u, &parts);
  FUZZ_CHECK(rc == 0 || rc == URL_EINVAL, "url_split returned %d", rc);
  if (rc != 0) {
    url_parts_free(&parts);
    return;
  }
  FUZZ_CHECK(url_is_scheme(u, "http") || url_is_scheme(u, "https"), "split '%s'", u);
  port = strtol(parts.port, NULL, 10);
  FUZZ_CHECK(port >= 1 && port <= 65535, "'%s' has port '%s'", u, parts.port);
  FUZZ_CHECK(parts.target[0] == '/', "'%s' has target '%s'", u, parts.target);
  if (!has_userinfo(u)) {
    size_t n = strlen(parts.scheme) + strlen(parts.authority) + strlen(parts.target) + 4;
    again = malloc(n);
    FUZZ_CHECK(again != NULL, "out of memory");
    snprintf(again, n, "%s://%s%s", parts.scheme, parts.authority, parts.target);
    FUZZ_CHECK(strcmp(again, u) == 0, "'%s' split and put together is '%s'", u, again);
    free(again);
  }
  url_parts_free(&parts);
}

/* Joining base and ref: a fixed point, and the same by every route. */
static void check_join(const char *base, const char *ref) {
  char *joined = NULL, *resolved = NULL, *renorm = NULL, *via_base = NULL;
  struct url_base *b;
  int rc = url_join(base, ref, &joined), rc2;

  FUZZ_CHECK(rc == 0 || rc == URL_EINVAL, "url_join returned %d", rc);
  if (url_base_new(base, &b) == 0) {
    rc2 = url_base_join(b, ref, &via_base);
    FUZZ_CHECK(rc2 == rc, "url_base_join %d, url_join %d", rc2, rc);
    FUZZ_CHECK(rc != 0 || strcmp(via_base, joined) == 0, "url_base_join '%s', url_join '%s'",
               via_base, joined);
    url_base_free(b);
    free(via_base);
  }
  if (rc != 0)
    return;
  check_fixed_point(joined);
  check_split(joined);
  rc = url_resolve(base, ref, &resolved);
  FUZZ_CHECK(rc == 0, "url_join('%s', '%s') worked, url_resolve failed (%d)", base, ref, rc);
  rc = url_normalize(resolved, &renorm);
  FUZZ_CHECK(rc == 0, "url_resolve gave '%s', which does not normalise (%d)", resolved, rc);
  FUZZ_CHECK(strcmp(renorm, joined) == 0, "join '%s', resolve then normalise '%s'", joined, renorm);
  free(renorm);
  free(resolved);
  free(joined);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1), *base, *ref, *sep;
  char *u;

  FUZZ_CHECK(text != NULL, "out of memory");
  memcpy(text, data, size);
  text[size] = '\0';
  base = text;
  if (strlen(text) < size) /* a NUL separates them */
    ref = text + strlen(text) + 1;
  else if ((sep = strchr(text, '\n'))) {
    *sep = '\0';
    ref = sep + 1;
  } else {
    ref = "";
  }
  if ((u = normalize_checked(base))) {
    check_split(u);
    free(u);
  }
  if ((u = normalize_checked(ref))) {
    check_split(u);
    free(u);
  }
  check_join(base, ref);
  free(text);
  return 0;
}
