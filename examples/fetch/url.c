/*
 * url.c - resolution, normal form and request parts of URLs (see url.h).
 *
 * uriparser parses, resolves (RFC 3986 section 5.2, including the removal
 * of dot segments) and normalises (section 6.2.2: case, percent-encoding,
 * dot segments). What it leaves to its user is done here:
 *
 *  - Cleaning. An href is not always a valid URI reference: pages hold
 *    spaces, non-ASCII bytes and stray '%'s. Browsers percent-encode those
 *    bytes, so fetch does too, before uriparser sees the text.
 *  - Scheme-based normalisation (section 6.2.3): the default port and an
 *    empty port are dropped, an empty http path becomes "/".
 *  - Recomposition (section 5.3) without the fragment, and with an IPv6
 *    address in its canonical text form (RFC 5952) rather than uriparser's
 *    fully expanded one, so one address has one spelling.
 */
#define _GNU_SOURCE
#include "url.h"

#include "buf.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uriparser/Uri.h>

#define RANGE_LEN(r) ((size_t)((r).afterLast - (r).first))

static int is_hex(int c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Bytes that may stand unencoded in a URI reference (RFC 3986 section 2). */
static int uri_char(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("-._~:/?#[]@!$&'()*+,;=", c));
}

/*
 * Trim, drop tabs and newlines, percent-encode what a URI cannot hold
 * (including a second '#', and a '%' not followed by two hex digits).
 * Returns 0, URL_EINVAL (the result is longer than URL_MAX), URL_ENOMEM.
 */
static int clean(const char *in, char **out) {
  const unsigned char *s = (const unsigned char *)in, *e = s + strlen(in);
  struct buf b = BUF_INIT;
  int fragment = 0;
  while (s < e && *s <= ' ')
    s++;
  while (e > s && e[-1] <= ' ')
    e--;
  for (; s < e && b.len <= URL_MAX; s++) {
    if (*s == '\t' || *s == '\n' || *s == '\r')
      continue;
    if (*s == '%' && e - s >= 3 && is_hex(s[1]) && is_hex(s[2]))
      buf_putc(&b, '%');
    else if (uri_char(*s) && !(*s == '#' && fragment))
      buf_putc(&b, (char)*s);
    else
      buf_printf(&b, "%%%02X", *s);
    fragment |= *s == '#';
  }
  if (b.len > URL_MAX) {
    buf_free(&b);
    return URL_EINVAL;
  }
  return (*out = buf_take(&b)) ? 0 : URL_ENOMEM;
}

/* Parse the cleaned text s into *u. On failure *u needs no freeing. */
static int parse(UriUriA *u, const char *s) {
  const char *where;
  int rc = uriParseSingleUriA(u, s, &where);
  if (rc == URI_SUCCESS)
    return 0;
  return rc == URI_ERROR_MALLOC ? URL_ENOMEM : URL_EINVAL;
}

/* Clean, then parse. *text keeps the cleaned text u points into. */
static int clean_parse(UriUriA *u, const char *in, char **text) {
  int rc = clean(in, text);
  if (rc == 0 && (rc = parse(u, *text)) != 0) {
    free(*text);
    *text = NULL;
  }
  return rc;
}

static int has_authority(const UriUriA *u);

/* u as uriparser writes it, but for a path that would start with "//"
 * without an authority: it gets "/." in front, as in put_path. */
static int to_string(const UriUriA *u, char **out) {
  size_t at = u->scheme.first ? RANGE_LEN(u->scheme) + 1 : 0;
  int n;
  if (uriToStringCharsRequiredA(u, &n) != URI_SUCCESS)
    return URL_EINVAL;
  if (!(*out = malloc((size_t)n + 3)))
    return URL_ENOMEM;
  if (uriToStringA(*out, u, n + 1, NULL) != URI_SUCCESS) {
    free(*out);
    return URL_EINVAL;
  }
  if (!has_authority(u) && strncmp(*out + at, "//", 2) == 0) {
    memmove(*out + at + 2, *out + at, strlen(*out + at) + 1);
    memcpy(*out + at, "/.", 2);
  }
  return 0;
}

/*
 * A path with no authority whose first segment is empty reads, as text,
 * as an absolute path: segments "", "x" are written ":/x". Resolution
 * can leave such a list unmarked (the reference "op:.//x" loses its "."
 * and keeps the empty segment after it). Make the parsed form say what
 * its text says, or normalising it would treat the empty segment as a
 * segment ("%2e." after it would remove it and give "op:x", where the
 * text gives "op:/x"). The lone empty segment is the empty path and stays.
 */
static void make_path_absolute(UriUriA *u) {
  UriPathSegmentA *head = u->pathHead;
  if (has_authority(u) || u->absolutePath || !head || head->text.first != head->text.afterLast ||
      !head->next)
    return;
  u->pathHead = head->next;
  free(head); /* uriparser's default memory manager allocates with malloc */
  u->absolutePath = URI_TRUE;
}

/* Resolve the parsed reference r against the parsed base b into *dest. */
static int add_base(UriUriA *dest, const UriUriA *r, const UriUriA *b) {
  switch (uriAddBaseUriExA(dest, r, b, URI_RESOLVE_STRICTLY)) {
  case URI_SUCCESS: make_path_absolute(dest); return 0;
  case URI_ERROR_MALLOC: return URL_ENOMEM;
  default: return URL_EINVAL;
  }
}

int url_resolve(const char *base, const char *ref, char **out) {
  UriUriA b, r, dest;
  char *btext, *rtext;
  int rc;
  if ((rc = clean_parse(&b, base, &btext)) != 0)
    return rc;
  if ((rc = clean_parse(&r, ref, &rtext)) != 0)
    goto out_free_base;
  rc = URL_EINVAL;
  if (!b.scheme.first)
    goto out_free_ref;
  if ((rc = add_base(&dest, &r, &b)) != 0)
    goto out_free_ref;
  rc = to_string(&dest, out);
  uriFreeUriMembersA(&dest);
out_free_ref:
  uriFreeUriMembersA(&r);
  free(rtext);
out_free_base:
  uriFreeUriMembersA(&b);
  free(btext);
  return rc;
}

static void put_range(struct buf *b, UriTextRangeA r) {
  if (r.first)
    buf_append(b, r.first, RANGE_LEN(r));
}

static unsigned default_port(const UriUriA *u) {
  size_t n = RANGE_LEN(u->scheme);
  if (n == 4 && strncasecmp(u->scheme.first, "http", 4) == 0)
    return 80;
  if (n == 5 && strncasecmp(u->scheme.first, "https", 5) == 0)
    return 443;
  return 0;
}

static int is_http(const UriUriA *u) { return default_port(u) != 0; }

static int has_authority(const UriUriA *u) {
  return u->hostText.first || u->hostData.ip4 || u->hostData.ip6 || u->hostData.ipFuture.first;
}

/* The port as a number: 0 when absent or empty, -1 when over 65535 or
 * zero ("http://h:0/" would name port 0 but be fetched from port 80). */
static long port_number(const UriUriA *u) {
  long v = 0;
  for (const char *p = u->portText.first; p && p < u->portText.afterLast; p++)
    if ((v = v * 10 + (*p - '0')) > 65535)
      return -1;
  return v == 0 && u->portText.first != u->portText.afterLast ? -1 : v;
}

/* A registered name: uriparser's normalisation lower-cases all of it,
 * the hex digits of its percent-encodings too, which the normal form
 * keeps in upper case (section 6.2.2.1) as in every other part. */
static void put_reg_name(struct buf *b, UriTextRangeA r) {
  int hex = 0; /* hex digits still to come of a percent-encoding */
  for (const char *p = r.first; p && p < r.afterLast; p++) {
    char c = hex && *p >= 'a' && *p <= 'f' ? (char)(*p - 'a' + 'A') : *p;
    hex = c == '%' ? 2 : hex ? hex - 1 : 0;
    buf_putc(b, c);
  }
}

/* The host as it appears in a URL: an IP literal in brackets. */
static void put_host(struct buf *b, const UriUriA *u) {
  char text[INET6_ADDRSTRLEN];
  if (u->hostData.ip6 && inet_ntop(AF_INET6, u->hostData.ip6->data, text, sizeof text)) {
    buf_printf(b, "[%s]", text);
  } else if (u->hostData.ipFuture.first) {
    buf_putc(b, '[');
    put_range(b, u->hostData.ipFuture);
    buf_putc(b, ']');
  } else {
    put_reg_name(b, u->hostText);
  }
}

/*
 * The path (section 5.3); an empty one is "/" for http and https. With no
 * authority a path cannot start with "//" (section 3.3): it would read
 * back as one ("http:a/..//evil/" is not "http://evil/"). Such a path
 * gets "/." in front, as the WHATWG URL standard's serialiser does; dot
 * segment removal takes it off again, so the form is stable.
 */
static void put_path(struct buf *b, const UriUriA *u) {
  int slash = has_authority(u) || u->absolutePath;
  size_t start = b->len;
  if (!u->pathHead && (u->absolutePath || (has_authority(u) && is_http(u))))
    buf_putc(b, '/');
  for (const UriPathSegmentA *s = u->pathHead; s; s = s->next) {
    if (slash || s != u->pathHead)
      buf_putc(b, '/');
    put_range(b, s->text);
  }
  if (!has_authority(u) && !buf_failed(b) && b->len - start >= 2 &&
      memcmp(b->data + start, "//", 2) == 0) {
    buf_append(b, "/.", 2);
    if (!buf_failed(b)) {
      memmove(b->data + start + 2, b->data + start, b->len - start - 2);
      memcpy(b->data + start, "/.", 2);
    }
  }
}

/* Recompose u without its fragment, dropping a default or empty port. */
static int compose(const UriUriA *u, char **out) {
  struct buf b = BUF_INIT;
  long port = port_number(u);
  if (port < 0)
    return URL_EINVAL;
  put_range(&b, u->scheme);
  buf_putc(&b, ':');
  if (has_authority(u)) {
    buf_puts(&b, "//");
    if (u->userInfo.first) {
      put_range(&b, u->userInfo);
      buf_putc(&b, '@');
    }
    put_host(&b, u);
    if (u->portText.first && RANGE_LEN(u->portText) > 0 && (unsigned long)port != default_port(u))
      buf_printf(&b, ":%ld", port);
  }
  put_path(&b, u);
  if (u->query.first) {
    buf_putc(&b, '?');
    put_range(&b, u->query);
  }
  return (*out = buf_take(&b)) ? 0 : URL_ENOMEM;
}

/* Normalise the parsed absolute URI u and recompose it into *out. */
static int normalize_parsed(UriUriA *u, char **out) {
  const unsigned mask = URI_NORMALIZE_SCHEME | URI_NORMALIZE_USER_INFO | URI_NORMALIZE_HOST |
                        URI_NORMALIZE_PATH | URI_NORMALIZE_QUERY;
  int rc;
  if (!u->scheme.first)
    return URL_EINVAL;
  rc = uriNormalizeSyntaxExA(u, mask);
  if (rc != URI_SUCCESS)
    return rc == URI_ERROR_MALLOC ? URL_ENOMEM : URL_EINVAL;
  if ((rc = compose(u, out)) == 0 && strlen(*out) > URL_MAX) {
    free(*out);
    rc = URL_EINVAL;
  }
  return rc;
}

int url_normalize(const char *in, char **out) {
  UriUriA u;
  char *text;
  int rc = clean_parse(&u, in, &text);
  if (rc != 0)
    return rc;
  rc = normalize_parsed(&u, out);
  uriFreeUriMembersA(&u);
  free(text);
  return rc;
}

struct url_base {
  UriUriA uri;
  char *text; /* the cleaned text uri points into */
};

int url_base_new(const char *base, struct url_base **out) {
  struct url_base *b = malloc(sizeof *b);
  int rc;
  if (!b)
    return URL_ENOMEM;
  if ((rc = clean_parse(&b->uri, base, &b->text)) != 0) {
    free(b);
    return rc;
  }
  if (!b->uri.scheme.first) {
    url_base_free(b);
    return URL_EINVAL;
  }
  *out = b;
  return 0;
}

int url_base_join(const struct url_base *b, const char *ref, char **out) {
  UriUriA r, dest;
  char *text;
  int rc = clean_parse(&r, ref, &text);
  if (rc != 0)
    return rc;
  if ((rc = add_base(&dest, &r, &b->uri)) == 0) {
    rc = normalize_parsed(&dest, out);
    uriFreeUriMembersA(&dest);
  }
  uriFreeUriMembersA(&r);
  free(text);
  return rc;
}

void url_base_free(struct url_base *b) {
  if (!b)
    return;
  uriFreeUriMembersA(&b->uri);
  free(b->text);
  free(b);
}

int url_join(const char *base, const char *ref, char **out) {
  struct url_base *b;
  int rc = url_base_new(base, &b);
  if (rc != 0)
    return rc;
  rc = url_base_join(b, ref, out);
  url_base_free(b);
  return rc;
}

int url_is_scheme(const char *url, const char *scheme) {
  size_t n = strlen(scheme);
  return strncasecmp(url, scheme, n) == 0 && url[n] == ':';
}

/* The parts of the parsed http(s) URI u. */
static int split_parsed(const UriUriA *u, struct url *p) {
  struct buf host = BUF_INIT, target = BUF_INIT;
  char text[INET6_ADDRSTRLEN];
  unsigned dport = default_port(u);
  long port = port_number(u);
  if (!dport || port < 0 || u->hostData.ipFuture.first || !u->hostText.first ||
      RANGE_LEN(u->hostText) == 0)
    return URL_EINVAL;
  if (port == 0)
    port = dport;
  if (u->hostData.ip6 && inet_ntop(AF_INET6, u->hostData.ip6->data, text, sizeof text))
    buf_puts(&host, text);
  else
    put_range(&host, u->hostText);
  put_path(&target, u);
  if (u->query.first) {
    buf_putc(&target, '?');
    put_range(&target, u->query);
  }
  p->host = buf_take(&host);
  p->target = buf_take(&target);
  p->scheme = strndup(u->scheme.first, RANGE_LEN(u->scheme));
  if (!p->host || !p->target || !p->scheme)
    return URL_ENOMEM;
  for (char *c = p->scheme; *c; c++)
    *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
  {
    const char *l = u->hostData.ip6 ? "[" : "", *r = u->hostData.ip6 ? "]" : "";
    if (asprintf(&p->port, "%ld", port) < 0)
      p->port = NULL;
    if (asprintf(&p->key, "%s%s%s:%ld", l, p->host, r, port) < 0)
      p->key = NULL;
    if (!p->key || asprintf(&p->origin, "%s://%s", p->scheme, p->key) < 0)
      p->origin = NULL;
    if ((unsigned long)port == dport ? asprintf(&p->authority, "%s%s%s", l, p->host, r) < 0
                                     : asprintf(&p->authority, "%s", p->key) < 0)
      p->authority = NULL;
  }
  return p->port && p->key && p->origin && p->authority ? 0 : URL_ENOMEM;
}

int url_split(const char *url, struct url *p) {
  UriUriA u;
  char *text;
  int rc;
  memset(p, 0, sizeof *p);
  if ((rc = clean_parse(&u, url, &text)) != 0)
    return rc;
  rc = split_parsed(&u, p);
  uriFreeUriMembersA(&u);
  free(text);
  return rc;
}

void url_parts_free(struct url *p) {
  free(p->scheme);
  free(p->host);
  free(p->port);
  free(p->authority);
  free(p->key);
  free(p->origin);
  free(p->target);
  memset(p, 0, sizeof *p);
}
