/*
 * links.c - a page's links, from the tokenizer's raw values to URLs (see
 * links.h).
 *
 * The raw values go into one growing buffer, NUL after each, so a page of
 * 100,000 links costs one allocation that doubles, not 100,000. Only the
 * first <base href> counts, as in browsers; its offset in the buffer is
 * kept, and the base URL it makes is known only once the page has ended.
 */
#define _GNU_SOURCE
#include "links.h"

#include "strmap.h"
#include "url.h"

#include <stdlib.h>
#include <string.h>
#include <weft.h>

#define NO_BASE SIZE_MAX

/* Keep a raw value; the first <base href> is remembered as the base. */
static int on_link(void *arg, enum html_elem el, enum html_attr at, const char *value,
                   size_t len) {
  struct links_scan *s = arg;
  (void)at;
  if (el == HTML_BASE && s->base != NO_BASE)
    return 0;
  if (len + 1 > s->raw_cap - s->raw_len) {
    size_t cap = s->raw_cap ? s->raw_cap : 4096;
    char *raw;
    while (cap - s->raw_len < len + 1)
      cap *= 2;
    if (!(raw = realloc(s->raw, cap)))
      return LINKS_ENOMEM;
    s->raw = raw;
    s->raw_cap = cap;
  }
  if (el == HTML_BASE)
    s->base = s->raw_len;
  memcpy(s->raw + s->raw_len, value, len + 1);
  s->raw_len += len + 1;
  return 0;
}

void links_scan_init(struct links_scan *s) {
  memset(s, 0, sizeof *s);
  s->base = NO_BASE;
  html_init(&s->tok, on_link, s);
}

int links_scan_feed(struct links_scan *s, const char *data, size_t len) {
  if (!s->failed && html_feed(&s->tok, data, len) != 0)
    s->failed = 1;
  return s->failed ? LINKS_ENOMEM : 0;
}

void links_scan_destroy(struct links_scan *s) {
  html_destroy(&s->tok);
  free(s->raw);
  s->raw = NULL;
  s->raw_len = s->raw_cap = 0;
}

/* A URL that fetch records as a link: http or https, with a host. */
static int is_web_url(const char *u) {
  const char *p, *end, *at;
  if (url_is_scheme(u, "http"))
    p = u + 5;
  else if (url_is_scheme(u, "https"))
    p = u + 6;
  else
    return 0;
  if (strncmp(p, "//", 2) != 0)
    return 0;
  p += 2;
  end = p + strcspn(p, "/?"); /* the authority: [userinfo@]host[:port] */
  if ((at = memrchr(p, '@', (size_t)(end - p))))
    p = at + 1;
  return p < end && *p != ':';
}

static int links_push(struct links *l, char *u) {
  if (l->len == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    char **v = realloc(l->urls, cap * sizeof *v);
    if (!v)
      return -1;
    l->urls = v;
    l->cap = cap;
  }
  l->urls[l->len++] = u;
  return 0;
}

/*
 * Resolve each raw value of s (but the base) against base_url and add the
 * new web URLs to out. A page repeats itself: its navigation links appear
 * twice, and a third of a manual's links are "#section" references to
 * itself. Since the fragment of a reference changes nothing in the URL it
 * resolves to, once fragments are dropped, each value is cut at its '#'
 * and resolved only the first time it is seen.
 */
static int resolve_all(struct links_scan *s, const char *base_url, struct links *out) {
  struct url_base *base;
  struct strmap seen, raw_seen;
  size_t i = 0;
  int rc = url_base_new(base_url, &base);
  if (rc != 0)
    return rc == URL_ENOMEM ? LINKS_ENOMEM : 0;
  strmap_init(&seen);
  strmap_init(&raw_seen);
  for (size_t off = 0, len; off < s->raw_len && rc == 0; off += len + 1) {
    char *raw = s->raw + off, *u;
    int r;
    len = strlen(raw);
    if (off == s->base)
      continue;
    raw[strcspn(raw, "#")] = '\0';
    if ((r = strmap_add(&raw_seen, raw, NULL)) <= 0) {
      rc = r < 0 ? LINKS_ENOMEM : 0;
      continue;
    }
    if (++i % 256 == 0 && weft_self())
      weft_yield(); /* 256 links take about a millisecond: let the worker's other tasks run */
    if ((r = url_base_join(base, raw, &u)) == URL_ENOMEM)
      rc = LINKS_ENOMEM;
    if (r != 0)
      continue;
    if (is_web_url(u) && (r = strmap_add(&seen, u, NULL)) == 1 && (r = links_push(out, u)) == 0)
      continue;
    if (r < 0)
      rc = LINKS_ENOMEM;
    free(u);
  }
  strmap_destroy(&raw_seen, NULL);
  strmap_destroy(&seen, NULL);
  url_base_free(base);
  return rc;
}

int links_scan_finish(struct links_scan *s, const char *page_url, struct links *out) {
  char *base = NULL;
  int rc = s->failed ? LINKS_ENOMEM : 0;
  memset(out, 0, sizeof *out);
  html_end(&s->tok);
  if (rc == 0 && s->base != NO_BASE && url_join(page_url, s->raw + s->base, &base) == URL_ENOMEM)
    rc = LINKS_ENOMEM;
  if (rc == 0)
    rc = resolve_all(s, base ? base : page_url, out);
  free(base);
  if (rc != 0)
    links_free(out);
  return rc;
}

int links_extract(const char *html, size_t len, const char *page_url, struct links *out) {
  struct links_scan s;
  int rc;
  links_scan_init(&s);
  links_scan_feed(&s, html, len);
  rc = links_scan_finish(&s, page_url, out);
  links_scan_destroy(&s);
  return rc;
}

void links_free(struct links *l) {
  for (size_t i = 0; i < l->len; i++)
    free(l->urls[i]);
  free(l->urls);
  memset(l, 0, sizeof *l);
}
