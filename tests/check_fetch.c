/*
 * check_fetch.c - the pure parts of examples/fetch, without a network:
 * URL resolution (the whole RFC 3986 section 5.4 table), normalisation and
 * request parts; link extraction from HTML; robots.txt; sitemaps; the HTTP
 * response parser and its limits; JSON records; WARC records; the command
 * line; and the crawl's memory (the "journal" case): URL fingerprints and
 * their set, journal frames, whole and torn, the queue's spill to disk, and
 * the --state directory's replay and output repair (these last two as weft
 * tasks).
 */
#define _GNU_SOURCE
#include "testutil.h"

#include "../examples/fetch/buf.h"
#include "../examples/fetch/cli.h"
#include "../examples/fetch/fp.h"
#include "../examples/fetch/http.h"
#include "../examples/fetch/journal.h"
#include "../examples/fetch/links.h"
#include "../examples/fetch/record.h"
#include "../examples/fetch/robots.h"
#include "../examples/fetch/sitemap.h"
#include "../examples/fetch/spill.h"
#include "../examples/fetch/state.h"
#include "../examples/fetch/strmap.h"
#include "../examples/fetch/url.h"
#include "../examples/fetch/warcrec.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---- URLs ---- */

struct pair {
  const char *in, *out;
};

#define RFC_BASE "http://a/b/c/d;p?q"

/* RFC 3986 section 5.4.1, "Normal Examples". */
static const struct pair rfc_normal[] = {
    {"g:h", "g:h"},
    {"g", "http://a/b/c/g"},
    {"./g", "http://a/b/c/g"},
    {"g/", "http://a/b/c/g/"},
    {"/g", "http://a/g"},
    {"//g", "http://g"},
    {"?y", "http://a/b/c/d;p?y"},
    {"g?y", "http://a/b/c/g?y"},
    {"#s", "http://a/b/c/d;p?q#s"},
    {"g#s", "http://a/b/c/g#s"},
    {"g?y#s", "http://a/b/c/g?y#s"},
    {";x", "http://a/b/c/;x"},
    {"g;x", "http://a/b/c/g;x"},
    {"g;x?y#s", "http://a/b/c/g;x?y#s"},
    {"", "http://a/b/c/d;p?q"},
    {".", "http://a/b/c/"},
    {"./", "http://a/b/c/"},
    {"..", "http://a/b/"},
    {"../", "http://a/b/"},
    {"../g", "http://a/b/g"},
    {"../..", "http://a/"},
    {"../../", "http://a/"},
    {"../../g", "http://a/g"},
};

/* RFC 3986 section 5.4.2, "Abnormal Examples" (strict parser for "http:g"). */
static const struct pair rfc_abnormal[] = {
    {"../../../g", "http://a/g"},
    {"../../../../g", "http://a/g"},
    {"/./g", "http://a/g"},
    {"/../g", "http://a/g"},
    {"g.", "http://a/b/c/g."},
    {".g", "http://a/b/c/.g"},
    {"g..", "http://a/b/c/g.."},
    {"..g", "http://a/b/c/..g"},
    {"./../g", "http://a/b/g"},
    {"./g/.", "http://a/b/c/g/"},
    {"g/./h", "http://a/b/c/g/h"},
    {"g/../h", "http://a/b/c/h"},
    {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
    {"g;x=1/../y", "http://a/b/c/y"},
    {"g?y/./x", "http://a/b/c/g?y/./x"},
    {"g?y/../x", "http://a/b/c/g?y/../x"},
    {"g#s/./x", "http://a/b/c/g#s/./x"},
    {"g#s/../x", "http://a/b/c/g#s/../x"},
    {"http:g", "http:g"},
};

static void check_resolve_table(const struct pair *t, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char *out = NULL;
    int rc = url_resolve(RFC_BASE, t[i].in, &out);
    ck_assert_msg(rc == 0, "resolving '%s' failed: %d", t[i].in, rc);
    ck_assert_msg(strcmp(out, t[i].out) == 0, "'%s' resolved to '%s', RFC 3986 says '%s'", t[i].in,
                  out, t[i].out);
    free(out);
  }
}

START_TEST(test_fetch_rfc3986_normal_examples) {
  check_resolve_table(rfc_normal, sizeof rfc_normal / sizeof rfc_normal[0]);
}
END_TEST

START_TEST(test_fetch_rfc3986_abnormal_examples) {
  check_resolve_table(rfc_abnormal, sizeof rfc_abnormal / sizeof rfc_abnormal[0]);
}
END_TEST

static void check_normalize(const char *in, const char *want) {
  char *out = NULL;
  int rc = url_normalize(in, &out);
  ck_assert_msg(rc == 0, "normalising '%s' failed: %d", in, rc);
  ck_assert_msg(strcmp(out, want) == 0, "'%s' normalised to '%s', expected '%s'", in, out, want);
  free(out);
}

START_TEST(test_fetch_url_normalize) {
  /* scheme and host case, dot segments, percent-encoding, fragment */
  check_normalize("HTTP://Example.COM/a/./b/../c/%7e%41%2f?Q=%aa#frag",
                  "http://example.com/a/c/~A%2F?Q=%AA");
  /* default, explicit-default, empty and other ports */
  check_normalize("http://a:80/x", "http://a/x");
  check_normalize("http://a:080/x", "http://a/x");
  check_normalize("http://a:/x", "http://a/x");
  check_normalize("http://a:8080/x", "http://a:8080/x");
  check_normalize("https://a:443/x", "https://a/x");
  check_normalize("https://a:80/x", "https://a:80/x");
  /* an empty http path is "/"; an empty query stays */
  check_normalize("http://a", "http://a/");
  check_normalize("http://a?", "http://a/?");
  check_normalize("http://a/b/../../..", "http://a/");
  /* IPv6 in its canonical form */
  check_normalize("http://[FE80:0:0:0:0:0:0:AB]:8080/x", "http://[fe80::ab]:8080/x");
  /* what browsers encode: spaces, non-ASCII, a lone '%', a second '#' */
  check_normalize("  http://a/b c\n", "http://a/b%20c");
  check_normalize("http://a/\xc3\xa9", "http://a/%C3%A9");
  check_normalize("http://a/%zz", "http://a/%25zz");
  check_normalize("http://a/p\t/q", "http://a/p/q");
  check_normalize("http://a/x#y#z", "http://a/x");
  /* other schemes keep their shape */
  check_normalize("MAILTO:x@y", "mailto:x@y");
}
END_TEST

START_TEST(test_fetch_url_normalize_rejects) {
  static const char *bad[] = {
      "::::",        "no-scheme/path", "/just/a/path", "http://a:99999/", "http://a:65536/",
      "http://[::1/"};
  char *out = NULL, *huge = malloc(URL_MAX + 100);
  ck_assert_ptr_nonnull(huge);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ck_assert_msg(url_normalize(bad[i], &out) == URL_EINVAL, "'%s' was accepted", bad[i]);
  strcpy(huge, "http://a/");
  memset(huge + 9, 'x', URL_MAX);
  huge[URL_MAX + 9] = '\0';
  ck_assert_int_eq(url_normalize(huge, &out), URL_EINVAL);
  free(huge);
  ck_assert_int_eq(url_resolve("relative/base", "g", &out), URL_EINVAL);
}
END_TEST

START_TEST(test_fetch_url_join) {
  static const struct pair joins[] = {
      {"//g", "http://g/"},
      {"#s", "http://a/b/c/d;p?q"},
      {"../../../../g", "http://a/g"},
      {"HTTP://B.example:80/./x", "http://b.example/x"},
      {"g h#frag", "http://a/b/c/g%20h"},
  };
  struct url_base *base;
  for (size_t i = 0; i < sizeof joins / sizeof joins[0]; i++) {
    char *out = NULL, *again = NULL;
    ck_assert_int_eq(url_join(RFC_BASE, joins[i].in, &out), 0);
    ck_assert_str_eq(out, joins[i].out);
    ck_assert_int_eq(url_base_new(RFC_BASE, &base), 0);
    ck_assert_int_eq(url_base_join(base, joins[i].in, &again), 0);
    ck_assert_str_eq(again, out);
    url_base_free(base);
    free(out);
    free(again);
  }
  ck_assert_int_eq(url_base_new("not absolute", &base), URL_EINVAL);
}
END_TEST

/* A reference with its own scheme and no authority whose path, once its
 * dot segments go, starts with an empty segment ("op:.//x" is "op:/x"):
 * joining and resolving-then-normalising agree, and a ".." after the
 * empty segment stops at the root instead of eating it. */
START_TEST(test_fetch_url_join_no_authority) {
  static const struct pair joins[] = {
      {"op:.//%2e./ec", "op:/ec"},
      {"op:.//x/y", "op:/x/y"},
      {"op:.//", "op:/"},
      {"op:a/b", "op:a/b"},
  };
  for (size_t i = 0; i < sizeof joins / sizeof joins[0]; i++) {
    char *joined = NULL, *resolved = NULL, *renorm = NULL;
    ck_assert_int_eq(url_join("h:.////", joins[i].in, &joined), 0);
    ck_assert_str_eq(joined, joins[i].out);
    ck_assert_int_eq(url_resolve("h:.////", joins[i].in, &resolved), 0);
    ck_assert_int_eq(url_normalize(resolved, &renorm), 0);
    ck_assert_str_eq(renorm, joined);
    free(joined);
    free(resolved);
    free(renorm);
  }
}
END_TEST

START_TEST(test_fetch_url_split) {
  struct url u;
  ck_assert_int_eq(url_split("http://example.com:8080/p/q?x=1", &u), 0);
  ck_assert_str_eq(u.scheme, "http");
  ck_assert_str_eq(u.host, "example.com");
  ck_assert_str_eq(u.port, "8080");
  ck_assert_str_eq(u.authority, "example.com:8080");
  ck_assert_str_eq(u.key, "example.com:8080");
  ck_assert_str_eq(u.target, "/p/q?x=1");
  url_parts_free(&u);
  ck_assert_int_eq(url_split("http://user:pw@a", &u), 0);
  ck_assert_str_eq(u.port, "80");
  ck_assert_str_eq(u.authority, "a");
  ck_assert_str_eq(u.key, "a:80");
  ck_assert_str_eq(u.target, "/");
  url_parts_free(&u);
  ck_assert_int_eq(url_split("http://[::1]:81/x", &u), 0);
  ck_assert_str_eq(u.host, "::1");
  ck_assert_str_eq(u.authority, "[::1]:81");
  ck_assert_str_eq(u.key, "[::1]:81");
  url_parts_free(&u);
  ck_assert_int_eq(url_split("https://a/", &u), 0);
  ck_assert_str_eq(u.scheme, "https");
  ck_assert_str_eq(u.port, "443");
  url_parts_free(&u);
  ck_assert_int_eq(url_split("mailto:x@y", &u), URL_EINVAL);
  url_parts_free(&u);
  ck_assert_int_eq(url_split("http:g", &u), URL_EINVAL);
  url_parts_free(&u);
  ck_assert_int_eq(url_split("http:///x", &u), URL_EINVAL);
  url_parts_free(&u);
  ck_assert(url_is_scheme("HTTP://a/", "http"));
  ck_assert(!url_is_scheme("https://a/", "http"));
}
END_TEST

/* ---- links ---- */

/* The links of html on page, as one string "url url ...". */
static char *links_of(const char *html, const char *page) {
  struct links l;
  struct buf b = BUF_INIT;
  ck_assert_int_eq(links_extract(html, strlen(html), page, &l), 0);
  for (size_t i = 0; i < l.len; i++) {
    if (i)
      buf_putc(&b, ' ');
    buf_puts(&b, l.urls[i]);
  }
  links_free(&l);
  return buf_take(&b);
}

static void check_links(const char *html, const char *page, const char *want) {
  char *got = links_of(html, page);
  ck_assert_msg(strcmp(got, want) == 0, "links of %s\n  got:  %s\n  want: %s", html, got, want);
  free(got);
}

START_TEST(test_fetch_links_attribute_forms) {
  check_links("<a href=\"d.html\">1</a><a href='s.html'>2</a><a href=u.html>3</a>",
              "http://h/dir/page.html",
              "http://h/dir/d.html http://h/dir/s.html http://h/dir/u.html");
  /* entities are decoded; tag and attribute names may be in upper case */
  check_links("<A HREF=\"q?a=1&amp;b=2\">x</A><a hReF=\"&#47;abs\">y</a>", "http://h/",
              "http://h/q?a=1&b=2 http://h/abs");
  /* surrounding blanks are trimmed, spaces inside encoded */
  check_links("<a href=\"  my page.html \">x</a>", "http://h/", "http://h/my%20page.html");
}
END_TEST

START_TEST(test_fetch_links_base_href) {
  check_links("<head><base href=\"http://other/base/\"></head><a href=\"x\">x</a>", "http://h/p/q",
              "http://other/base/x");
  /* a relative base resolves against the page; only the first base counts */
  check_links("<base href=\"/b/\"><base href=\"/ignored/\"><a href=\"x\">x</a>", "http://h/p/q",
              "http://h/b/x");
  /* a <base> without href does not count */
  check_links("<base target=_top><base href=\"../up/\"><a href=x>x</a>", "http://h/p/q",
              "http://h/up/x");
}
END_TEST

START_TEST(test_fetch_links_elements) {
  check_links("<link rel=stylesheet href=/s.css><a href=/a>a</a><map><area href=/area></map>"
              "<iframe src=/if></iframe><img src=/img.png><script>x='<a href=/js>'</script>"
              "<!-- <a href=/comment> --><p data-href=/no>p</p>",
              "http://h/", "http://h/s.css http://h/a http://h/area http://h/if");
  check_links("<frameset><frame src=/f1><frame src=/f2></frameset>", "http://h/",
              "http://h/f1 http://h/f2");
  /* href and src of one element both count */
  check_links("<iframe src=/s href=/h></iframe>", "http://h/", "http://h/h http://h/s");
}
END_TEST

START_TEST(test_fetch_links_schemes_and_duplicates) {
  check_links("<a href=mailto:x@y>m</a><a href=\"javascript:void(0)\">j</a>"
              "<a href=\"data:text/html,x\">d</a><a href=ftp://f/x>f</a><a href=tel:1>t</a>"
              "<a href=https://s/x>s</a><a href=HTTP://H:80/a>h</a>",
              "http://h/", "https://s/x http://h/a");
  /* fragments dropped, then duplicates removed; the page's own URL counts */
  check_links("<a href=x#1>1</a><a href=x#2>2</a><a href=./x>3</a><a href=http://h/x>4</a>"
              "<a href=\"\">self</a><a href=#top>top</a>",
              "http://h/", "http://h/x http://h/");
  /* not URLs at all: skipped */
  check_links("<a href=\"http://[::1\">bad</a><a href=\"http://a:99999/\">bad port</a>",
              "http://h/", "");
}
END_TEST

START_TEST(test_fetch_links_many) {
  long n = scaled(100000);
  struct buf html = BUF_INIT;
  struct links l;
  char last[64];
  buf_puts(&html, "<!DOCTYPE html><html><body>\n");
  for (long i = 0; i < n; i++)
    buf_printf(&html, "<a href=\"/many/%ld\">%ld</a>\n", i, i);
  buf_puts(&html, "</body></html>\n");
  ck_assert(!buf_failed(&html));
  ck_assert_int_eq(links_extract(html.data, html.len, "http://h/", &l), 0);
  ck_assert_int_eq(l.len, n);
  ck_assert_str_eq(l.urls[0], "http://h/many/0");
  snprintf(last, sizeof last, "http://h/many/%ld", n - 1);
  ck_assert_str_eq(l.urls[n - 1], last);
  links_free(&l);
  buf_free(&html);
}
END_TEST

/* Deep nesting on a small task stack: the tokenizer keeps no stack of
 * open elements, so 400,000 nested <div>s cost what any 2 MB page costs;
 * a recursion per level would overflow the 64 KiB stack and weft's
 * overflow handler would abort the test. */
static int deep_body(void *arg) {
  const struct buf *html = arg;
  struct links l;
  int rc = links_extract(html->data, html->len, "http://h/", &l);
  int n = rc == 0 ? (int)l.len : -1;
  if (rc == 0)
    links_free(&l);
  return n;
}

static void *deep_task(void *arg) { return (void *)(intptr_t)deep_body(arg); }

static int deep_main(void *arg) {
  weft_spawn_attr attr;
  weft_task *t;
  void *r;
  weft_spawn_attr_init(&attr);
  attr.stack_size = 64 * 1024;
  ck_assert_int_eq(weft_spawn_ex(&t, &attr, deep_task, arg), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  return (int)(intptr_t)r;
}

START_TEST(test_fetch_links_deep_nesting_small_stack) {
  struct buf html = BUF_INIT;
  for (int i = 0; i < 400000; i++)
    buf_puts(&html, "<div>");
  buf_puts(&html, "<a href=/deep>deep</a>");
  ck_assert(!buf_failed(&html));
  ck_assert_int_eq(run_in_task(2, deep_main, &html), 1);
  buf_free(&html);
}
END_TEST

/* The lengths of the link values the tokenizer reports. */
struct lengths {
  size_t n;
  size_t len[4];
};

static int note_length(void *arg, enum html_elem el, enum html_attr at, const char *v, size_t len) {
  struct lengths *l = arg;
  (void)el;
  (void)at;
  ck_assert_uint_eq(strlen(v), len);
  if (l->n < 4)
    l->len[l->n] = len;
  l->n++;
  return 0;
}

/* A value over HTML_VALUE_MAX is skipped, and the page after it is still
 * scanned; one of exactly HTML_VALUE_MAX bytes is kept. */
START_TEST(test_fetch_links_oversized_value_is_skipped) {
  struct buf html = BUF_INIT;
  struct html_tok t;
  struct lengths l = {0};
  buf_puts(&html, "<a href=\"");
  for (int i = 0; i <= HTML_VALUE_MAX; i++)
    buf_putc(&html, 'x');
  buf_puts(&html, "\">big</a><a href='");
  for (int i = 0; i < HTML_VALUE_MAX; i++)
    buf_putc(&html, 'y');
  buf_puts(&html, "'>fits</a><a href=/after>after</a>");
  ck_assert(!buf_failed(&html));
  html_init(&t, note_length, &l);
  ck_assert_int_eq(html_feed(&t, html.data, html.len), 0);
  html_end(&t);
  html_destroy(&t);
  ck_assert_uint_eq(l.n, 2);
  ck_assert_uint_eq(l.len[0], HTML_VALUE_MAX);
  ck_assert_uint_eq(l.len[1], strlen("/after"));
  buf_free(&html);
}
END_TEST

/* The tokenizer's rules, not a tree's: an <a> in a <select>, a <frame> in
 * a body, a <base> after the links it applies to; text elements hide
 * what looks like tags. */
START_TEST(test_fetch_links_tokenizer_rules) {
  check_links("<body><p>text</p><frame src=/f><select><a href=/in-select>x</a></select>",
              "http://h/", "http://h/f http://h/in-select");
  check_links("<a href=x>x</a><base href=/b/><a href=y>y</a>", "http://h/p/",
              "http://h/b/x http://h/b/y");
  check_links("<title><a href=/no1></title><textarea><a href=/no2></textarea>"
              "<style><a href=/no3></style><xmp><a href=/no4></xmp><noembed><a href=/no5>"
              "</noembed><noframes><a href=/no6></noframes><iframe><a href=/no7></iframe>"
              "<script><!--<script></script><a href=/no8></script>--></script><a href=/yes>",
              "http://h/", "http://h/yes");
  check_links("<!--><a href=/a><!---><a href=/b><!-- --!><a href=/c><!-- <a href=/no> -->"
              "<? <a href=/no2> ?><!DOCTYPE html '>'><a href=/d><![CDATA[<a href=/no3>]]>",
              "http://h/", "http://h/a http://h/b http://h/c http://h/d");
  check_links("<a href=/first href=/second src=/s>x</a><A HREF=/upper>", "http://h/",
              "http://h/first http://h/s http://h/upper");
  check_links("<a href=\"/?a=1&copy=2&amp;b&copy;&#x41;&#150;&notit;\">", "http://h/",
              "http://h/?a=1&copy=2&b%C2%A9A%E2%80%93&notit;");
  check_links("<plaintext><a href=/no>", "http://h/", "");
  check_links("<a href=/unfinished", "http://h/", "");
}
END_TEST

/* A page fed in pieces, split at every byte and a byte at a time, finds
 * the links it finds whole: the state carries over every boundary,
 * including those inside a tag name, a value and a character reference. */
START_TEST(test_fetch_links_split_anywhere) {
  static const char html[] =
      "<!DOCTYPE html><base href=\"/b&amp;/\"><!-- <a href=no> --><A\n HREF = '&lt;x&#x3e;\r\ny'"
      "><script>'</script >'<a href=/s1></script><title>&amp;</title><a href=\"&CounterClockwise"
      "ContourIntegral;&notin;&noti;\" src=z>";
  struct links whole, part;
  size_t len = sizeof html - 1;
  ck_assert_int_eq(links_extract(html, len, "http://h/", &whole), 0);
  ck_assert_int_eq(whole.len, 4); /* "</script >" ends the script: /s1 is a link */
  for (size_t at = 0; at <= len; at++) {
    struct links_scan s;
    links_scan_init(&s);
    ck_assert_int_eq(links_scan_feed(&s, html, at), 0);
    ck_assert_int_eq(links_scan_feed(&s, html + at, len - at), 0);
    ck_assert_int_eq(links_scan_finish(&s, "http://h/", &part), 0);
    links_scan_destroy(&s);
    ck_assert_int_eq(part.len, whole.len);
    for (size_t i = 0; i < whole.len; i++)
      ck_assert_str_eq(part.urls[i], whole.urls[i]);
    links_free(&part);
  }
  ck_assert_str_eq(whole.urls[0], "http://h/b&/%3Cx%3Ey"); /* URLs lose their line breaks */
  links_free(&whole);
}
END_TEST

/* ---- robots.txt ---- */

static struct robots *robots(const char *text) {
  struct robots *r = robots_parse(text, strlen(text), "weft-fetch");
  ck_assert_ptr_nonnull(r);
  return r;
}

START_TEST(test_fetch_robots_star_group) {
  struct robots *r = robots("User-agent: *\nDisallow: /private/\nDisallow: /tmp\n");
  ck_assert(!robots_allowed(r, "/private/a.html"));
  ck_assert(!robots_allowed(r, "/private/"));
  ck_assert(!robots_allowed(r, "/tmp"));
  ck_assert(!robots_allowed(r, "/tmpfile?x=1"));
  ck_assert(robots_allowed(r, "/private"));
  ck_assert(robots_allowed(r, "/public/tmp"));
  ck_assert(robots_allowed(r, "/"));
  ck_assert(robots_allowed(r, "/robots.txt"));
  robots_free(r);
  ck_assert(robots_allowed(NULL, "/anything"));
}
END_TEST

START_TEST(test_fetch_robots_specific_group_wins) {
  const char *text = "User-agent: *\nDisallow: /\n\n"
                     "User-agent: weft-fetch\nDisallow: /x/\n";
  struct robots *r = robots(text);
  ck_assert(robots_allowed(r, "/"));
  ck_assert(robots_allowed(r, "/page"));
  ck_assert(!robots_allowed(r, "/x/y"));
  robots_free(r);
  /* a group of fetch's own with no rules allows everything */
  r = robots("User-agent: *\nDisallow: /\n\nUser-agent: WEFT-Fetch/0.1\nAllow:\n");
  ck_assert(robots_allowed(r, "/anything"));
  ck_assert_int_eq(robots_rules(r), 0);
  robots_free(r);
  /* other crawlers' groups do not apply, not even to a longer token */
  r = robots("User-agent: otherbot\nDisallow: /\nUser-agent: weft-fetcher\nDisallow: /\n");
  ck_assert(robots_allowed(r, "/"));
  robots_free(r);
}
END_TEST

START_TEST(test_fetch_robots_empty_disallow) {
  struct robots *r = robots("User-agent: *\nDisallow:\n");
  ck_assert(robots_allowed(r, "/"));
  ck_assert(robots_allowed(r, "/any/path"));
  robots_free(r);
  r = robots("");
  ck_assert(robots_allowed(r, "/"));
  robots_free(r);
}
END_TEST

START_TEST(test_fetch_robots_grouping) {
  /* consecutive User-agent lines share one group; a User-agent after a
   * rule starts a new one; rules before any User-agent count for none;
   * comments, CRLF, blanks around the colon and a BOM are fine */
  const char *text = "\xef\xbb\xbf"
                     "Disallow: /orphan\r\n"
                     "User-agent: a\r\n"
                     "User-Agent : weft-fetch # us\r\n"
                     "Disallow : /shared # the rest is a comment\r\n"
                     "User-agent: b\r\n"
                     "Disallow: /b-only\r\n"
                     "Sitemap: http://h/sitemap.xml\r\n";
  struct robots *r = robots(text);
  ck_assert(robots_allowed(r, "/orphan"));
  ck_assert(!robots_allowed(r, "/shared"));
  ck_assert(robots_allowed(r, "/b-only"));
  ck_assert_int_eq(robots_rules(r), 1);
  robots_free(r);
  /* two groups naming fetch merge */
  r = robots("User-agent: weft-fetch\nDisallow: /1\nUser-agent: x\nDisallow: /x\n"
             "User-agent: weft-fetch\nDisallow: /2\n");
  ck_assert(!robots_allowed(r, "/1"));
  ck_assert(!robots_allowed(r, "/2"));
  ck_assert(robots_allowed(r, "/x"));
  robots_free(r);
}
END_TEST

START_TEST(test_fetch_robots_longest_match) {
  struct robots *r = robots("User-agent: *\nDisallow: /p\nAllow: /p/public\n"
                            "Disallow: /tie\nAllow: /tie\n");
  ck_assert(!robots_allowed(r, "/p"));
  ck_assert(!robots_allowed(r, "/p/other"));
  ck_assert(robots_allowed(r, "/p/public"));
  ck_assert(robots_allowed(r, "/p/public/x"));
  ck_assert(robots_allowed(r, "/tie/x")); /* equal length: Allow wins */
  robots_free(r);
}
END_TEST

START_TEST(test_fetch_robots_wildcards) {
  struct robots *r = robots("User-agent: *\nDisallow: /*.pdf$\nDisallow: /a*b/\n"
                            "Disallow: /exact$\nDisallow: /%7Euser/\nDisallow: /sp ace\n");
  ck_assert(!robots_allowed(r, "/doc.pdf"));
  ck_assert(!robots_allowed(r, "/dir/x.pdf"));
  ck_assert(robots_allowed(r, "/doc.pdf?x=1"));
  ck_assert(robots_allowed(r, "/doc.pdfx"));
  ck_assert(!robots_allowed(r, "/ab/"));
  ck_assert(!robots_allowed(r, "/a/x/b/y"));
  ck_assert(robots_allowed(r, "/a/x/c/y"));
  ck_assert(!robots_allowed(r, "/exact"));
  ck_assert(robots_allowed(r, "/exact/more"));
  ck_assert(!robots_allowed(r, "/~user/home")); /* patterns are normalised like URLs */
  ck_assert(!robots_allowed(r, "/sp%20ace"));
  robots_free(r);
}
END_TEST

START_TEST(test_fetch_robots_many_wildcards_stay_fast) {
  struct buf text = BUF_INIT, path = BUF_INIT;
  long stars = scaled(2000), len = scaled(8000);
  struct robots *r;
  int64_t start;
  buf_puts(&text, "User-agent: *\nDisallow: /");
  for (long i = 0; i < stars; i++)
    buf_puts(&text, "*a");
  buf_puts(&text, "b$\n");
  buf_putc(&path, '/');
  for (long i = 0; i < len; i++)
    buf_putc(&path, 'a');
  ck_assert(!buf_failed(&text) && !buf_failed(&path));
  r = robots_parse(text.data, text.len, "weft-fetch");
  ck_assert_ptr_nonnull(r);
  start = weft_now();
  ck_assert(robots_allowed(r, path.data));
  ck_assert_int_lt(weft_now() - start, 5000);
  robots_free(r);
  buf_free(&text);
  buf_free(&path);
}
END_TEST

START_TEST(test_fetch_robots_crawl_delay_and_sitemaps) {
  const char *text = "Sitemap: http://h/a.xml\n"
                     "User-agent: *\nCrawl-delay: 7\nDisallow: /x\n\n"
                     "User-agent: weft-fetch\nCrawl-delay: 0.25\nCrawl-delay: 9\nDisallow: /y\n"
                     "Sitemap: http://h/b.xml.gz\n";
  const char *const *maps;
  struct robots *r = robots(text);
  ck_assert_int_eq(robots_crawl_delay_ms(r), 250); /* the first of fetch's own group */
  ck_assert_uint_eq(robots_sitemaps(r, &maps), 2); /* wherever they stand */
  ck_assert_str_eq(maps[0], "http://h/a.xml");
  ck_assert_str_eq(maps[1], "http://h/b.xml.gz");
  ck_assert(robots_allowed(r, "/x") && !robots_allowed(r, "/y"));
  robots_free(r);
  r = robots("User-agent: *\nCrawl-delay: 1.5\nUser-agent: other\nCrawl-delay: 3\n");
  ck_assert_int_eq(robots_crawl_delay_ms(r), 1500);
  robots_free(r);
  r = robots("User-agent: *\nCrawl-delay: soon\n");
  ck_assert_int_eq(robots_crawl_delay_ms(r), -1); /* not a number: ignored */
  robots_free(r);
  r = robots("User-agent: *\nCrawl-delay: 99999999999999999999\n");
  ck_assert_int_eq(robots_crawl_delay_ms(r), 86400000);
  robots_free(r);
  r = robots("User-agent: other\nCrawl-delay: 5\nDisallow: /\n");
  ck_assert_int_eq(robots_crawl_delay_ms(r), -1); /* another crawler's */
  ck_assert_uint_eq(robots_sitemaps(r, &maps), 0);
  robots_free(r);
  ck_assert_int_eq(robots_crawl_delay_ms(NULL), -1);
}
END_TEST

/* ---- the HTTP response parser ---- */

/* Feed the len bytes of text (SIZE_MAX: up to its NUL) in pieces of step
 * bytes (0: all at once), then the close when eof. Returns the last
 * HTTP_* result. */
static int feed(struct http_resp *r, const char *text, size_t len, size_t step, int eof) {
  int st = HTTP_MORE;
  if (len == SIZE_MAX)
    len = strlen(text);
  for (size_t off = 0; off < len && st == HTTP_MORE; off += step ? step : len) {
    size_t n = step && step < len - off ? step : len - off;
    st = http_resp_feed(r, text + off, n);
  }
  if (eof && st == HTTP_MORE)
    st = http_resp_eof(r);
  return st;
}

START_TEST(test_fetch_http_content_length) {
  static const char text[] = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                             "Content-Length: 11\r\nLocation: /not-a-redirect\r\n\r\nhello world";
  for (size_t step = 0; step <= 7; step++) {
    struct http_resp r;
    http_resp_init(&r, 1000, 1, NULL, NULL);
    ck_assert_int_eq(feed(&r, text, sizeof text - 1, step, 0), HTTP_DONE);
    ck_assert_int_eq(r.status, 200);
    ck_assert(r.html);
    ck_assert(r.keep_alive);
    ck_assert_int_eq(r.body_bytes, 11);
    ck_assert_str_eq(r.body, "hello world");
    ck_assert_str_eq(r.content_type, "text/html; charset=utf-8");
    ck_assert_str_eq(r.location, "/not-a-redirect");
    ck_assert_int_eq(r.extra, 0);
    http_resp_destroy(&r);
  }
}
END_TEST

START_TEST(test_fetch_http_chunked) {
  static const char text[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                             "Content-Type: text/plain\r\n\r\n"
                             "5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";
  for (size_t step = 0; step <= 5; step++) {
    struct http_resp r;
    http_resp_init(&r, 1000, 1, NULL, NULL);
    ck_assert_int_eq(feed(&r, text, sizeof text - 1, step, 0), HTTP_DONE);
    ck_assert_int_eq(r.body_bytes, 12);
    ck_assert_str_eq(r.body, "hello, world");
    ck_assert(!r.html);
    ck_assert(r.keep_alive);
    http_resp_destroy(&r);
  }
}
END_TEST

/* What an HTTP sink was given. */
static int sink_into(void *arg, const char *data, size_t len) {
  buf_append(arg, data, len);
  return 0;
}

/* Without keep_all, a 2xx HTML body goes to the sink as it arrives, in
 * pieces, and is not kept; other bodies go nowhere. */
START_TEST(test_fetch_http_html_body_streams_to_the_sink) {
  static const char html[] = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: "
                             "chunked\r\n\r\n4\r\n<a h\r\n8\r\nref=/x>y\r\n1\r\n\n\r\n0\r\n\r\n";
  static const char missing[] =
      "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 3\r\n\r\n<p>";
  static const char plain[] =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc";
  for (size_t step = 0; step <= 5; step++) {
    struct http_resp r;
    struct buf got = BUF_INIT;
    http_resp_init(&r, 1000, 0, sink_into, &got);
    ck_assert_int_eq(feed(&r, html, sizeof html - 1, step, 0), HTTP_DONE);
    ck_assert_ptr_null(r.body);
    ck_assert_int_eq(r.body_bytes, 13);
    ck_assert_uint_eq(got.len, 13);
    ck_assert(memcmp(got.data, "<a href=/x>y\n", 13) == 0);
    http_resp_destroy(&r);
    got.len = 0;
    http_resp_init(&r, 1000, 0, sink_into, &got);
    ck_assert_int_eq(feed(&r, missing, sizeof missing - 1, step, 0), HTTP_DONE);
    http_resp_destroy(&r);
    http_resp_init(&r, 1000, 0, sink_into, &got);
    ck_assert_int_eq(feed(&r, plain, sizeof plain - 1, step, 0), HTTP_DONE);
    http_resp_destroy(&r);
    ck_assert_uint_eq(got.len, 0);
    buf_free(&got);
  }
}
END_TEST

START_TEST(test_fetch_http_read_to_close) {
  static const char text[] = "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<p>to the end</p>";
  struct http_resp r;
  http_resp_init(&r, 1000, 1, NULL, NULL);
  ck_assert_int_eq(feed(&r, text, sizeof text - 1, 3, 0), HTTP_MORE);
  ck_assert_int_eq(http_resp_eof(&r), HTTP_DONE);
  ck_assert_str_eq(r.body, "<p>to the end</p>");
  ck_assert(!r.keep_alive);
  http_resp_destroy(&r);
  /* a text/plain body is counted, not kept, unless asked */
  http_resp_init(&r, 1000, 0, NULL, NULL);
  ck_assert_int_eq(feed(&r, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc", SIZE_MAX, 0, 1),
                   HTTP_DONE);
  ck_assert_int_eq(r.body_bytes, 3);
  ck_assert_ptr_null(r.body);
  http_resp_destroy(&r);
}
END_TEST

START_TEST(test_fetch_http_malformed_status_line) {
  static const char *bad[] = {"HTTP/1.1 abc\r\n\r\n", "garbage\r\n\r\n", "HTTP/x.y 200 OK\r\n\r\n",
                              "HTTP/1.1 20\x01 OK\r\n\r\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct http_resp r;
    http_resp_init(&r, 1000, 0, NULL, NULL);
    ck_assert_int_eq(feed(&r, bad[i], strlen(bad[i]), 0, 0), HTTP_FAILED);
    ck_assert_msg(strncmp(r.error, "malformed response: ", 20) == 0, "%s: error '%s'", bad[i],
                  r.error);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(http_resp_feed(&r, "more", 4), HTTP_FAILED); /* it stays failed */
    http_resp_destroy(&r);
  }
}
END_TEST

START_TEST(test_fetch_http_malformed_header) {
  static const char text[] =
      "HTTP/1.1 200 OK\r\nthis line has no colon\r\nContent-Length: 2\r\n\r\nhi";
  struct http_resp r;
  http_resp_init(&r, 1000, 0, NULL, NULL);
  ck_assert_int_eq(feed(&r, text, sizeof text - 1, 0, 0), HTTP_FAILED);
  ck_assert_int_eq(strncmp(r.error, "malformed response: ", 20), 0);
  ck_assert_int_eq(r.status, 200); /* the status line had arrived */
  http_resp_destroy(&r);
}
END_TEST

/* A response whose header block is exactly size bytes. */
static struct buf head_of_size(size_t size) {
  struct buf b = BUF_INIT;
  const char *start = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: ";
  buf_puts(&b, start);
  while (b.len < size - 4)
    buf_putc(&b, 'p');
  buf_puts(&b, "\r\n\r\nhi");
  ck_assert(!buf_failed(&b));
  return b;
}

START_TEST(test_fetch_http_header_block_limit) {
  struct http_resp r;
  struct buf ok = head_of_size(HTTP_HEAD_MAX), over = head_of_size(HTTP_HEAD_MAX + 1);
  http_resp_init(&r, 1000, 1, NULL, NULL);
  ck_assert_int_eq(feed(&r, ok.data, ok.len, 4096, 0), HTTP_DONE);
  ck_assert_str_eq(r.body, "hi");
  http_resp_destroy(&r);
  for (size_t step = 0; step <= 4096; step += 4096) {
    http_resp_init(&r, 1000, 1, NULL, NULL);
    ck_assert_int_eq(feed(&r, over.data, over.len, step, 0), HTTP_FAILED);
    ck_assert_str_eq(r.error, "header block over 64 KiB");
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_le(r.head_bytes, HTTP_HEAD_MAX);
    http_resp_destroy(&r);
  }
  buf_free(&ok);
  buf_free(&over);
}
END_TEST

START_TEST(test_fetch_http_header_flood) {
  struct http_resp r;
  char line[1100];
  int st = HTTP_MORE, i;
  http_resp_init(&r, 1000, 0, NULL, NULL);
  ck_assert_int_eq(http_resp_feed(&r, "HTTP/1.1 200 OK\r\n", 17), HTTP_MORE);
  memset(line, 'j', sizeof line);
  memcpy(line, "X-Junk: ", 8);
  memcpy(line + sizeof line - 2, "\r\n", 2);
  for (i = 0; i < 1000 && st == HTTP_MORE; i++)
    st = http_resp_feed(&r, line, sizeof line);
  ck_assert_int_eq(st, HTTP_FAILED);
  ck_assert_int_lt(i, 70); /* stopped at 64 KiB, not at the end of the flood */
  ck_assert_str_eq(r.error, "header block over 64 KiB");
  http_resp_destroy(&r);
}
END_TEST

START_TEST(test_fetch_http_bad_chunk_size) {
  static const char *bad[] = {
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct http_resp r;
    http_resp_init(&r, 1000, 0, NULL, NULL);
    ck_assert_int_eq(feed(&r, bad[i], strlen(bad[i]), 0, 0), HTTP_FAILED);
    ck_assert_str_eq(r.error, "bad chunk size");
    ck_assert_int_eq(r.status, 200);
    http_resp_destroy(&r);
  }
}
END_TEST

/* Retry-After (RFC 9110, 10.2.3): seconds or an IMF-fixdate; junk is -1,
 * a past date 0, anything longer than a day a day, never an overflow. */
START_TEST(test_fetch_http_retry_after) {
  const time_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
  ck_assert_int_eq(http_retry_after_ms("1", now), 1000);
  ck_assert_int_eq(http_retry_after_ms(" 120 ", now), 120000);
  ck_assert_int_eq(http_retry_after_ms("0", now), 0);
  ck_assert_int_eq(http_retry_after_ms("99999999", now), 86400000);
  ck_assert_int_eq(http_retry_after_ms("99999999999999999999999999999999", now), 86400000);
  ck_assert_int_eq(http_retry_after_ms("yesterday", now), -1);
  ck_assert_int_eq(http_retry_after_ms("-5", now), -1);
  ck_assert_int_eq(http_retry_after_ms("", now), -1);
  ck_assert_int_eq(http_retry_after_ms("12abc", now), -1);
  ck_assert_int_eq(http_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", now), 0);
  ck_assert_int_eq(http_retry_after_ms("Sun, 06 Nov 1994 08:50:07 GMT", now), 30000);
  ck_assert_int_eq(http_retry_after_ms("Sat, 05 Nov 1994 08:49:37 GMT", now), 0);
  ck_assert_int_eq(http_retry_after_ms("Fri, 31 Dec 9999 23:59:59 GMT", now), 86400000);
  ck_assert_int_eq(http_retry_after_ms("Sun, 06 Nov 1994 08:50:07 GMT trailing", now), -1);
  ck_assert_int_eq(http_retry_after_ms("Sun, 06 Nov 1994", now), -1);
}
END_TEST

START_TEST(test_fetch_http_max_body) {
  static const char by_length[] = "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nxxxx";
  static const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n";
  static const char to_close[] = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n0123456789abc";
  struct http_resp r;
  /* a Content-Length over the limit fails before any body byte */
  http_resp_init(&r, 10, 1, NULL, NULL);
  ck_assert_int_eq(feed(&r, by_length, sizeof by_length - 1, 0, 0), HTTP_FAILED);
  ck_assert_str_eq(r.error, "body over --max-body");
  ck_assert_int_eq(r.body_bytes, 0);
  http_resp_destroy(&r);
  /* a chunked or read-to-close body is cut at the limit */
  http_resp_init(&r, 10, 1, NULL, NULL);
  ck_assert_int_eq(feed(&r, chunked, sizeof chunked - 1, 1, 0), HTTP_FAILED);
  ck_assert_str_eq(r.error, "body over --max-body");
  ck_assert_int_eq(r.body_bytes, 10);
  ck_assert_str_eq(r.body, "1234567812");
  http_resp_destroy(&r);
  http_resp_init(&r, 10, 0, NULL, NULL);
  ck_assert_int_eq(feed(&r, to_close, sizeof to_close - 1, 0, 1), HTTP_FAILED);
  ck_assert_str_eq(r.error, "body over --max-body");
  ck_assert_int_eq(r.body_bytes, 10);
  http_resp_destroy(&r);
  /* exactly at the limit is fine */
  http_resp_init(&r, 8, 1, NULL, NULL);
  ck_assert_int_eq(feed(&r, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n12345678", SIZE_MAX, 0, 0),
                   HTTP_DONE);
  ck_assert_int_eq(r.body_bytes, 8);
  http_resp_destroy(&r);
}
END_TEST

START_TEST(test_fetch_http_truncate) {
  static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n";
  static const char by_length[] = "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n"
                                  "0123456789abcdefghijNEXT";
  static const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n";
  size_t chunked_cut = strlen(chunked) - strlen("345678\r\n0\r\n\r\n");
  struct http_resp r;
  /* with truncate, the response is done at max_body, whatever the framing
   * and however the bytes are split; msg_len marks the cut */
  for (size_t step = 0; step <= 5; step++) {
    http_resp_init(&r, 10, 1, NULL, NULL);
    r.truncate = 1;
    ck_assert_int_eq(feed(&r, by_length, sizeof by_length - 1, step, 0), HTTP_DONE);
    ck_assert(r.truncated);
    ck_assert_ptr_null(r.error);
    ck_assert_str_eq(r.body, "0123456789");
    ck_assert(!r.keep_alive);
    ck_assert_uint_eq(r.msg_len, sizeof head - 1 + 10);
    ck_assert_int_eq(http_resp_eof(&r), HTTP_DONE);
    http_resp_destroy(&r);
    http_resp_init(&r, 10, 1, NULL, NULL);
    r.truncate = 1;
    ck_assert_int_eq(feed(&r, chunked, sizeof chunked - 1, step, 0), HTTP_DONE);
    ck_assert(r.truncated);
    ck_assert_str_eq(r.body, "1234567812");
    ck_assert_uint_eq(r.msg_len, chunked_cut);
    http_resp_destroy(&r);
  }
  /* without it the response fails, cut at the same byte; a Content-Length
   * over the limit fails at the end of the head */
  http_resp_init(&r, 10, 1, NULL, NULL);
  ck_assert_int_eq(feed(&r, chunked, sizeof chunked - 1, 0, 0), HTTP_FAILED);
  ck_assert(r.truncated);
  ck_assert_uint_eq(r.msg_len, chunked_cut);
  http_resp_destroy(&r);
  http_resp_init(&r, 10, 1, NULL, NULL);
  ck_assert_int_eq(feed(&r, by_length, sizeof by_length - 1, 3, 0), HTTP_FAILED);
  ck_assert_str_eq(r.error, "body over --max-body");
  ck_assert(r.truncated);
  ck_assert_uint_eq(r.msg_len, sizeof head - 1);
  http_resp_destroy(&r);
  /* within the limit nothing is cut: msg_len is the response's end */
  http_resp_init(&r, 100, 1, NULL, NULL);
  r.truncate = 1;
  ck_assert_int_eq(feed(&r, by_length, sizeof by_length - 1, 0, 0), HTTP_DONE);
  ck_assert(!r.truncated);
  ck_assert_uint_eq(r.msg_len, sizeof head - 1 + 20);
  ck_assert_uint_eq(r.extra, 4);
  http_resp_destroy(&r);
}
END_TEST

START_TEST(test_fetch_http_truncate_decoded) {
  /* a gzip body decoding to more than max_body: the first max_body decoded
   * bytes, the response done (robots.txt of a server that compresses) */
  static char plain[5000], text[6000];
  unsigned char gz[512];
  struct http_resp r;
  z_stream z;
  size_t head, n;
  memset(plain, 'a', sizeof plain);
  memset(&z, 0, sizeof z);
  ck_assert_int_eq(deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
  z.next_in = (unsigned char *)plain;
  z.avail_in = sizeof plain;
  z.next_out = gz;
  z.avail_out = sizeof gz;
  ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
  n = sizeof gz - z.avail_out;
  deflateEnd(&z);
  head = (size_t)snprintf(text, sizeof text,
                          "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                          "Content-Length: %zu\r\n\r\n",
                          n);
  memcpy(text + head, gz, n);
  http_resp_init(&r, 100, 1, NULL, NULL);
  r.truncate = 1;
  ck_assert_int_eq(feed(&r, text, head + n, 0, 0), HTTP_DONE);
  ck_assert(r.truncated);
  ck_assert_uint_eq(r.body_len, 100);
  ck_assert_uint_le(r.msg_len, head + n);
  http_resp_destroy(&r);
}
END_TEST

START_TEST(test_fetch_http_interim_and_bodiless) {
  static const char cont[] = "HTTP/1.1 100 Continue\r\nLocation: /interim\r\n\r\n"
                             "HTTP/1.1 302 Found\r\nLocation: /final\r\nContent-Length: 0\r\n\r\n";
  static const char nobody[] = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n";
  static const char upgrade[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n"
                                "Connection: upgrade\r\n\r\nxx";
  struct http_resp r;
  http_resp_init(&r, 100, 0, NULL, NULL);
  ck_assert_int_eq(feed(&r, cont, sizeof cont - 1, 0, 0), HTTP_DONE);
  ck_assert_int_eq(r.status, 302);
  ck_assert_str_eq(r.location, "/final");
  http_resp_destroy(&r);
  http_resp_init(&r, 100, 0, NULL, NULL);
  ck_assert_int_eq(feed(&r, nobody, sizeof nobody - 1, 0, 0), HTTP_DONE);
  ck_assert_int_eq(r.status, 204);
  ck_assert_int_eq(r.body_bytes, 0);
  http_resp_destroy(&r);
  http_resp_init(&r, 100, 0, NULL, NULL);
  ck_assert_int_eq(feed(&r, upgrade, sizeof upgrade - 1, 0, 0), HTTP_FAILED);
  ck_assert_int_eq(strncmp(r.error, "malformed response: ", 20), 0);
  http_resp_destroy(&r);
}
END_TEST

START_TEST(test_fetch_http_closed_early) {
  static const char part[] = "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\nccc";
  struct http_resp r;
  http_resp_init(&r, 10000, 0, NULL, NULL);
  ck_assert_int_eq(http_resp_eof(&r), HTTP_FAILED);
  ck_assert_str_eq(r.error, "connection closed without a response");
  http_resp_destroy(&r);
  http_resp_init(&r, 10000, 0, NULL, NULL);
  ck_assert_int_eq(feed(&r, part, sizeof part - 1, 0, 1), HTTP_FAILED);
  ck_assert_str_eq(r.error, "connection closed mid-response");
  ck_assert_int_eq(r.status, 200);
  ck_assert_int_eq(r.body_bytes, 3);
  http_resp_destroy(&r);
  http_resp_init(&r, 10000, 0, NULL, NULL);
  ck_assert_int_eq(feed(&r, "HTTP/1.1 200 OK\r\nContent-", SIZE_MAX, 0, 1), HTTP_FAILED);
  ck_assert_str_eq(r.error, "connection closed mid-response");
  http_resp_destroy(&r);
}
END_TEST

START_TEST(test_fetch_http_bytes_after_the_end) {
  static const char text[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 200 OK\r\n";
  struct http_resp r;
  http_resp_init(&r, 100, 1, NULL, NULL);
  ck_assert_int_eq(feed(&r, text, sizeof text - 1, 0, 0), HTTP_DONE);
  ck_assert_str_eq(r.body, "hi");
  ck_assert_int_eq(r.extra, 17);
  http_resp_destroy(&r);
}
END_TEST

START_TEST(test_fetch_http_is_html) {
  ck_assert(http_is_html("text/html"));
  ck_assert(http_is_html("  TEXT/HTML; charset=utf-8"));
  ck_assert(http_is_html("text/html ;q=1"));
  ck_assert(!http_is_html("text/htmlx"));
  ck_assert(!http_is_html("text/plain"));
  ck_assert(!http_is_html("application/xhtml+xml"));
  ck_assert(!http_is_html(""));
}
END_TEST

/* ---- WARC records ---- */

/* The value of the first "name: " line in text, up to its CRLF (static),
 * or NULL. */
static const char *warc_field(const char *text, const char *name) {
  static char value[256];
  char key[64];
  const char *p, *end;
  snprintf(key, sizeof key, "\r\n%s: ", name);
  if (!(p = strstr(text, key)))
    return NULL;
  p += strlen(key);
  end = strstr(p, "\r\n");
  snprintf(value, sizeof value, "%.*s", (int)(end - p), p);
  return value;
}

START_TEST(test_fetch_warc_payload_digest) {
  static const char chunked[] = "HTTP/1.1 100 Continue\r\n\r\n"
                                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "1;ext=1\r\na\r\n2\r\nbc\r\n0\r\n\r\n";
  static const char cut[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc";
  static const char empty[] = "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n";
  char d[WARCREC_DIGEST_LEN + 1];
  /* SHA-1("abc") in base32 (RFC 4648): the payload, chunked or cut short */
  ck_assert_int_eq(warcrec_payload(chunked, sizeof chunked - 1, NULL, NULL, d), 0);
  ck_assert_str_eq(d, "sha1:VGMT4NSHA2AWVOR6EVYXQUGCNSONBWE5");
  ck_assert_int_eq(warcrec_payload(cut, sizeof cut - 1, NULL, NULL, d), 0);
  ck_assert_str_eq(d, "sha1:VGMT4NSHA2AWVOR6EVYXQUGCNSONBWE5");
  ck_assert_int_eq(warcrec_payload(empty, sizeof empty - 1, NULL, NULL, d), 0);
  ck_assert_str_eq(d, "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ"); /* SHA-1 of nothing */
  /* no complete head: no payload */
  ck_assert_int_eq(warcrec_payload(cut, 20, NULL, NULL, d), 1);
}
END_TEST

START_TEST(test_fetch_warc_exchange_records) {
  static const char req[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello, world";
  struct warc_exchange x = {"http://h/\r\nX-Injected: 1", "192.0.2.1", 0, req, sizeof req - 1,
                            resp, sizeof resp - 1, "length"};
  struct buf out = BUF_INIT;
  char req_id[64], resp_id[64], len[32];
  const char *second;
  ck_assert_int_eq(warcrec_exchange(&out, &x, 0), 0);
  ck_assert(!buf_failed(&out));
  second = strstr(out.data + 1, "WARC/1.1\r\n");
  ck_assert_ptr_nonnull(second);
  ck_assert(strncmp(out.data, "WARC/1.1\r\nWARC-Type: request\r\n", 30) == 0);
  ck_assert(strncmp(second, "WARC/1.1\r\nWARC-Type: response\r\n", 31) == 0);
  snprintf(req_id, sizeof req_id, "%s", warc_field(out.data, "WARC-Record-ID"));
  snprintf(resp_id, sizeof resp_id, "%s", warc_field(second, "WARC-Record-ID"));
  ck_assert_str_ne(req_id, resp_id);
  ck_assert_str_eq(warc_field(out.data, "WARC-Concurrent-To"), resp_id);
  ck_assert_str_eq(warc_field(second, "WARC-Concurrent-To"), req_id);
  ck_assert_uint_eq(strlen(resp_id), strlen("<urn:uuid:>") + 36);
  ck_assert_int_eq(resp_id[10 + 14], '4'); /* version 4 */
  ck_assert_str_eq(warc_field(second, "WARC-Date"), "1970-01-01T00:00:00Z");
  ck_assert_str_eq(warc_field(second, "WARC-IP-Address"), "192.0.2.1");
  ck_assert_str_eq(warc_field(second, "WARC-Target-URI"), "http://h/%0D%0AX-Injected: 1");
  ck_assert_ptr_null(strstr(out.data, "\r\nX-Injected"));
  ck_assert_str_eq(warc_field(second, "WARC-Truncated"), "length");
  ck_assert(strstr(out.data, "WARC-Truncated") > second); /* not on the request */
  ck_assert_str_eq(warc_field(second, "WARC-Payload-Digest"),
                   "sha1:W7RD5QU26IVQWTSB3IY6Q2GVOITBEHEE"); /* SHA-1("hello, world") */
  ck_assert_str_eq(warc_field(second, "Content-Type"), "application/http;msgtype=response");
  snprintf(len, sizeof len, "%zu", sizeof resp - 1);
  ck_assert_str_eq(warc_field(second, "Content-Length"), len);
  ck_assert_ptr_nonnull(strstr(second, "\r\n\r\nHTTP/1.1 200 OK\r\n"));
  ck_assert_uint_gt(out.len, sizeof resp + 3);
  ck_assert(memcmp(out.data + out.len - 4 - (sizeof resp - 1), resp, sizeof resp - 1) == 0);
  ck_assert(memcmp(out.data + out.len - 4, "\r\n\r\n", 4) == 0);
  buf_free(&out);
}
END_TEST

START_TEST(test_fetch_warc_gzip_members) {
  static const char req[] = "GET / HTTP/1.1\r\n\r\n";
  static const char resp[] = "HTTP/1.1 204 No Content\r\n\r\n";
  struct warc_exchange x = {"http://h/", "", 0, req, sizeof req - 1, resp, sizeof resp - 1, NULL};
  struct buf out = BUF_INIT;
  unsigned char text[4096];
  size_t off = 0, members = 0;
  ck_assert_int_eq(warcrec_exchange(&out, &x, 1), 0);
  /* two gzip members, each one whole record */
  while (off < out.len) {
    z_stream z;
    memset(&z, 0, sizeof z);
    ck_assert_int_eq(inflateInit2(&z, 31), Z_OK);
    z.next_in = (unsigned char *)out.data + off;
    z.avail_in = (uInt)(out.len - off);
    z.next_out = text;
    z.avail_out = sizeof text - 1;
    ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    text[sizeof text - 1 - z.avail_out] = '\0';
    ck_assert(strncmp((char *)text, "WARC/1.1\r\n", 10) == 0);
    ck_assert_ptr_null(strstr((char *)text + 1, "WARC/1.1"));
    ck_assert_ptr_null(warc_field((char *)text, "WARC-IP-Address")); /* unknown: left out */
    off += z.total_in;
    members++;
    inflateEnd(&z);
  }
  ck_assert_uint_eq(members, 2);
  buf_free(&out);
}
END_TEST

/* ---- records ---- */

static void check_json(const char *in, const char *want) {
  struct buf b = BUF_INIT;
  json_string(&b, in);
  ck_assert(!buf_failed(&b));
  ck_assert_msg(strcmp(b.data, want) == 0, "json_string: got %s, want %s", b.data, want);
  buf_free(&b);
}

START_TEST(test_fetch_json_escaping) {
  check_json("plain", "\"plain\"");
  check_json("q\"b\\s/", "\"q\\\"b\\\\s/\"");
  check_json("\b\f\n\r\t\x01\x1f\x7f", "\"\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\"");
  check_json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
             "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  /* not UTF-8: a lone continuation byte, Latin-1, overlong '/', a surrogate,
   * past U+10FFFF, a sequence cut short */
  check_json("\x80", "\"\\ufffd\"");
  check_json("\xe9t\xe9", "\"\\ufffdt\\ufffd\"");
  check_json("\xc0\xaf", "\"\\ufffd\\ufffd\"");
  check_json("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
  check_json("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
  check_json("\xe2\x82", "\"\\ufffd\\ufffd\"");
}
END_TEST

START_TEST(test_fetch_record_format) {
  struct buf b = BUF_INIT;
  struct record ok = {"http://h/a", 200, 1234, 1234, 56, 1, 7, NULL, NULL, NULL, 3};
  struct record moved = {"http://h/\"x\"", 302, 0, 0, 3, 0, 0, "http://h/y", NULL,
                         "too many redirects", 0};
  struct record secure = {"https://h/", 200, 10, 1, 2, 0, 0, NULL, "TLSv1.3", NULL, 0};
  record_format(&b, &ok);
  ck_assert_str_eq(b.data, "{\"url\":\"http://h/a\",\"status\":200,\"bytes\":1234,\"wire_bytes\":1234,\"ms\":56,"
                           "\"depth\":1,\"links\":7,\"attempts\":3}\n");
  buf_reset(&b);
  record_format(&b, &moved);
  ck_assert_str_eq(b.data, "{\"url\":\"http://h/\\\"x\\\"\",\"status\":302,\"bytes\":0,\"wire_bytes\":0,\"ms\":3,"
                           "\"depth\":0,\"links\":0,\"attempts\":0,\"redirect\":\"http://h/y\","
                           "\"error\":\"too many redirects\"}\n");
  buf_reset(&b);
  record_format(&b, &secure);
  ck_assert_str_eq(b.data, "{\"url\":\"https://h/\",\"status\":200,\"bytes\":10,\"wire_bytes\":1,\"ms\":2,"
                           "\"depth\":0,\"links\":0,\"attempts\":0,\"tls\":\"TLSv1.3\"}\n");
  buf_free(&b);
}
END_TEST

START_TEST(test_fetch_retry_after) {
  time_t now = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */
  ck_assert_int_eq(http_retry_after_ms("1", now), 1000);
  ck_assert_int_eq(http_retry_after_ms(" 120 ", now), 120000);
  ck_assert_int_eq(http_retry_after_ms("0", now), 0);
  ck_assert_int_eq(http_retry_after_ms("99999999", now), 86400000); /* a day at most */
  ck_assert_int_eq(http_retry_after_ms("999999999999999999999999", now), 86400000);
  ck_assert_int_eq(http_retry_after_ms("Tue, 14 Nov 2023 22:13:50 GMT", now), 30000);
  ck_assert_int_eq(http_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", now), 0); /* past */
  ck_assert_int_eq(http_retry_after_ms("yesterday", now), -1);
  ck_assert_int_eq(http_retry_after_ms("-5", now), -1);
  ck_assert_int_eq(http_retry_after_ms("", now), -1);
  ck_assert_int_eq(http_retry_after_ms("5s", now), -1);
  ck_assert_int_eq(http_retry_after_ms("Tue, 14 Nov 2023 22:13:50 GMT junk", now), -1);
}
END_TEST

/* ---- the command line ---- */

/* Parse a NULL-terminated argument list (argv[0] included). The argv array
 * outlives the call: o->urls points into it. */
static int parse(struct options *o, char *msg, size_t len, const char *const *args) {
  static char *argv[32];
  int argc = 0;
  while (args[argc]) {
    argv[argc] = (char *)args[argc];
    argc++;
  }
  argv[argc] = NULL;
  return cli_parse(argc, argv, o, msg, len);
}

START_TEST(test_fetch_cli_defaults) {
  struct options o;
  char msg[256];
  const char *args[] = {"fetch", "http://h/", NULL};
  ck_assert_int_eq(parse(&o, msg, sizeof msg, args), CLI_OK);
  ck_assert_int_eq(o.concurrency, 32);
  ck_assert_int_eq(o.depth, 0);
  ck_assert_int_eq(o.max_pages, 100000);
  ck_assert_int_eq(o.timeout_ms, 10000);
  ck_assert_uint_eq(o.workers, 0);
  ck_assert_int_eq(o.per_host, 8);
  ck_assert_int_eq(o.max_body, 10485760);
  ck_assert(!o.offsite && o.robots && !o.quiet);
  ck_assert_ptr_null(o.input);
  ck_assert_str_eq(o.output, "-");
  ck_assert_int_eq(o.nurls, 1);
  ck_assert_str_eq(o.urls[0], "http://h/");
}
END_TEST

START_TEST(test_fetch_cli_every_option) {
  struct options o;
  char msg[256];
  const char *shorts[] = {"fetch",  "-c",  "5",         "-d3",       "-n",        "7",
                          "-t",     "250", "-w",        "2",         "-q",        "-i",
                          "in.txt", "-o",  "out.jsonl", "http://a/", "http://b/", NULL};
  const char *longs[] = {"fetch",
                         "http://a/",
                         "--concurrency=5",
                         "--depth",
                         "3",
                         "--max-pages=7",
                         "--timeout",
                         "250",
                         "--workers=2",
                         "--per-host",
                         "3",
                         "--offsite",
                         "--max-body=1024",
                         "--no-robots",
                         "--input=-",
                         "--output",
                         "-",
                         "--quiet",
                         NULL};
  ck_assert_int_eq(parse(&o, msg, sizeof msg, shorts), CLI_OK);
  ck_assert_int_eq(o.concurrency, 5);
  ck_assert_int_eq(o.depth, 3);
  ck_assert_int_eq(o.max_pages, 7);
  ck_assert_int_eq(o.timeout_ms, 250);
  ck_assert_uint_eq(o.workers, 2);
  ck_assert(o.quiet);
  ck_assert_str_eq(o.input, "in.txt");
  ck_assert_str_eq(o.output, "out.jsonl");
  ck_assert_int_eq(o.nurls, 2);
  ck_assert_str_eq(o.urls[1], "http://b/");
  ck_assert_int_eq(parse(&o, msg, sizeof msg, longs), CLI_OK);
  ck_assert_int_eq(o.concurrency, 5);
  ck_assert_int_eq(o.depth, 3);
  ck_assert_int_eq(o.max_pages, 7);
  ck_assert_int_eq(o.per_host, 3);
  ck_assert_int_eq(o.max_body, 1024);
  ck_assert(o.offsite && !o.robots && o.quiet);
  ck_assert_str_eq(o.input, "-");
  ck_assert_int_eq(o.nurls, 1);
  ck_assert_str_eq(o.urls[0], "http://a/");
}
END_TEST

START_TEST(test_fetch_cli_usage_errors) {
  static const struct {
    const char *args[6];
    const char *says;
  } cases[] = {
      {{"fetch", NULL}, "no URL"},
      {{"fetch", "-q", "--no-robots", NULL}, "no URL"},
      {{"fetch", "--bogus", "http://h/", NULL}, "unknown option '--bogus'"},
      {{"fetch", "-Z", "http://h/", NULL}, "unknown option '-Z'"},
      {{"fetch", "http://h/", "-c", NULL}, "-c/--concurrency needs an argument"},
      {{"fetch", "http://h/", "--per-host", NULL}, "--per-host needs an argument"},
      {{"fetch", "-c", "abc", "http://h/", NULL}, "-c/--concurrency: 'abc'"},
      {{"fetch", "-c", "5x", "http://h/", NULL}, "'5x' is not a whole number"},
      {{"fetch", "-c", "0", "http://h/", NULL}, "from 1 to"},
      {{"fetch", "-c", "-1", "http://h/", NULL}, "'-1'"},
      {{"fetch", "-c", "99999999999999999999999", "http://h/", NULL}, "not a whole number"},
      {{"fetch", "-n", "-5", "http://h/", NULL}, "-n/--max-pages"},
      {{"fetch", "-d", "-1", "http://h/", NULL}, "from 0 to"},
      {{"fetch", "-d", "", "http://h/", NULL}, "-d/--depth: ''"},
      {{"fetch", "-d", " 1", "http://h/", NULL}, "-d/--depth: ' 1'"},
      {{"fetch", "-t", "0", "http://h/", NULL}, "-t/--timeout"},
      {{"fetch", "-w", "0", "http://h/", NULL}, "-w/--workers"},
      {{"fetch", "-w", "5000", "http://h/", NULL}, "from 1 to 1024"},
      {{"fetch", "--per-host", "0", "http://h/", NULL}, "--per-host: '0'"},
      {{"fetch", "--max-body", "12abc", "http://h/", NULL}, "--max-body"},
      {{"fetch", "--max-body", "", "http://h/", NULL}, "--max-body: ''"},
      {{"fetch", "--offsite=yes", "http://h/", NULL}, "--offsite takes no argument"},
      {{"fetch", "-o", "", "http://h/", NULL}, "-o/--output"},
      {{"fetch", "--accept", "(", "http://h/", NULL}, "--accept: '(' is not a valid"},
      {{"fetch", "--accept=a", "--reject", "x[", "http://h/", NULL}, "--reject: 'x['"},
      {{"fetch", "--retries", "101", "http://h/", NULL}, "--retries: '101'"},
      {{"fetch", "--retry-wait", "-1", "http://h/", NULL}, "--retry-wait"},
      {{"fetch", "--delay", "1s", "http://h/", NULL}, "--delay: '1s'"},
      {{"fetch", "--max-crawl-delay", "", "http://h/", NULL}, "--max-crawl-delay"},
      {{"fetch", "--warc", "", "http://h/", NULL}, "--warc needs a name"},
      {{"fetch", "--state=", "http://h/", NULL}, "--state needs a name"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct options o;
    char msg[256];
    int rc = parse(&o, msg, sizeof msg, cases[i].args);
    cli_free(&o);
    ck_assert_msg(rc == CLI_USAGE, "case %zu (%s) parsed: %d", i, cases[i].says, rc);
    ck_assert_msg(strncmp(msg, "fetch: ", 7) == 0 && strstr(msg, cases[i].says),
                  "case %zu: message '%s' does not say '%s'", i, msg, cases[i].says);
  }
}
END_TEST

START_TEST(test_fetch_cli_crawler_options) {
  struct options o;
  char msg[256];
  const char *none[] = {"fetch", "http://h/", NULL};
  const char *args[] = {"fetch", "--delay=250", "--max-crawl-delay", "5000", "--sitemaps",
                        "--retries=0", "--retry-wait", "10", "--accept", "/docs/",
                        "--accept=\\.html$", "--reject", "[?&]session=", "--warc=a.warc.gz",
                        "--state", "st", "http://h/", NULL};
  ck_assert_int_eq(parse(&o, msg, sizeof msg, none), CLI_OK);
  ck_assert_int_eq(o.delay_ms, 0);
  ck_assert_int_eq(o.max_crawl_delay_ms, 30000);
  ck_assert_int_eq(o.retries, 2);
  ck_assert_int_eq(o.retry_wait_ms, 1000);
  ck_assert(!o.sitemaps && !o.warc && !o.state);
  ck_assert(cli_url_wanted(&o, "http://h/anything")); /* no filter: everything */
  cli_free(&o);
  ck_assert_int_eq(parse(&o, msg, sizeof msg, args), CLI_OK);
  ck_assert_int_eq(o.delay_ms, 250);
  ck_assert_int_eq(o.max_crawl_delay_ms, 5000);
  ck_assert(o.sitemaps);
  ck_assert_int_eq(o.retries, 0);
  ck_assert_int_eq(o.retry_wait_ms, 10);
  ck_assert_str_eq(o.warc, "a.warc.gz");
  ck_assert_str_eq(o.state, "st");
  ck_assert_uint_eq(o.naccept, 2);
  ck_assert_uint_eq(o.nreject, 1);
  ck_assert_str_eq(o.accept_src[1], "\\.html$"); /* as given: the journal's header keeps it */
  ck_assert_str_eq(o.reject_src[0], "[?&]session=");
  ck_assert(cli_url_wanted(&o, "http://h/docs/a"));   /* the first accept */
  ck_assert(cli_url_wanted(&o, "http://h/b.html"));   /* the second */
  ck_assert(!cli_url_wanted(&o, "http://h/b.htm"));   /* neither */
  ck_assert(!cli_url_wanted(&o, "http://h/docs/a?session=1")); /* rejected wins */
  cli_free(&o);
  cli_free(&o); /* twice is harmless */
}
END_TEST

START_TEST(test_fetch_cli_help_and_input_only) {
  struct options o;
  char msg[256];
  const char *help[] = {"fetch", "-c", "3", "--help", NULL};
  const char *input_only[] = {"fetch", "-i", "urls.txt", NULL};
  ck_assert_int_eq(parse(&o, msg, sizeof msg, help), CLI_HELP);
  ck_assert_ptr_nonnull(strstr(cli_usage, "--concurrency"));
  ck_assert_ptr_nonnull(strstr(cli_usage, "--max-body"));
  ck_assert_int_eq(parse(&o, msg, sizeof msg, input_only), CLI_OK);
  ck_assert_int_eq(o.nurls, 0);
  ck_assert_str_eq(o.input, "urls.txt");
}
END_TEST

/* ---- sitemaps ---- */

#define SM_NS "http://www.sitemaps.org/schemas/sitemap/0.9"

/* Parse text (a C string) and expect rc. */
static int sitemap_of(const char *text, struct sitemap *sm) {
  return sitemap_parse(text, strlen(text), sm);
}

/* The URLs of n strings, space-separated, into a static buffer. */
static const char *joined(char *const *v, size_t n) {
  static char out[4096];
  size_t len = 0;
  out[0] = '\0';
  for (size_t i = 0; i < n; i++)
    len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", i ? " " : "", v[i]);
  return out;
}

/* gzip the n bytes at data (repeated times times) into *out. */
static size_t gzip_of(const void *data, size_t n, int times, char **out) {
  z_stream z = {0};
  struct buf b = BUF_INIT;
  unsigned char chunk[65536];
  ck_assert_int_eq(deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
  for (int i = 0; i < times; i++) {
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)n;
    do {
      z.next_out = chunk;
      z.avail_out = sizeof chunk;
      ck_assert_int_ne(deflate(&z, i + 1 == times ? Z_FINISH : Z_NO_FLUSH), Z_STREAM_ERROR);
      buf_append(&b, chunk, sizeof chunk - z.avail_out);
    } while (z.avail_out == 0);
  }
  deflateEnd(&z);
  ck_assert(!buf_failed(&b));
  *out = b.data;
  return b.len;
}

START_TEST(test_fetch_sitemap_urlset) {
  struct sitemap sm;
  ck_assert_int_eq(sitemap_of("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                              "<urlset xmlns=\"" SM_NS "\">\n"
                              "  <url><loc>http://h/a</loc><lastmod>2024-01-01</lastmod></url>\n"
                              "  <url><priority>0.5</priority>"
                              "<loc>HTTP://H/b/../c#frag</loc></url>\n"
                              "  <url><loc>http://h/a</loc></url>\n"
                              "  <url><loc>http://h/first</loc><loc>http://h/second</loc></url>\n"
                              "</urlset>\n",
                              &sm),
                   0);
  ck_assert(!sm.index);
  ck_assert_str_eq(joined(sm.urls, sm.nurls), "http://h/a http://h/c http://h/first");
  ck_assert_uint_eq(sm.nsitemaps, 0);
  ck_assert_uint_eq(sm.entries, 4);
  ck_assert_uint_eq(sm.skipped, 0); /* the duplicate is dropped, not skipped */
  sitemap_free(&sm);
  ck_assert_int_eq(sitemap_of("<urlset/>", &sm), 0); /* empty, no namespace */
  ck_assert_uint_eq(sm.nurls + sm.entries, 0);
  sitemap_free(&sm);
}
END_TEST

START_TEST(test_fetch_sitemap_index) {
  struct sitemap sm;
  ck_assert_int_eq(
      sitemap_of("<sitemapindex xmlns=\"" SM_NS "\">"
                 "<sitemap><loc>http://h/s1.xml</loc><lastmod>2024-01-01</lastmod></sitemap>"
                 "<sitemap><loc>https://h/s2.xml.gz</loc></sitemap>"
                 "<sitemap><loc>http://h/s1.xml</loc></sitemap>"
                 "<url><loc>http://h/not-an-entry-here</loc></url>"
                 "</sitemapindex>",
                 &sm),
      0);
  ck_assert(sm.index);
  ck_assert_str_eq(joined(sm.sitemaps, sm.nsitemaps), "http://h/s1.xml https://h/s2.xml.gz");
  ck_assert_uint_eq(sm.nurls, 0);
  ck_assert_uint_eq(sm.entries, 3);
  sitemap_free(&sm);
}
END_TEST

/* Entries and <loc> count in the root's namespace, at their depth: an
 * extension's <image:loc> is no page, a prefixed sitemap namespace is the
 * sitemap namespace, and a <loc> in another namespace is not the entry's. */
START_TEST(test_fetch_sitemap_namespaces) {
  struct sitemap sm;
  ck_assert_int_eq(
      sitemap_of("<urlset xmlns=\"" SM_NS "\" "
                 "xmlns:image=\"http://www.google.com/schemas/sitemap-image/1.1\" "
                 "xmlns:x=\"urn:other\">"
                 "<url><image:image><image:loc>http://h/img.jpg</image:loc></image:image>"
                 "<loc>http://h/page</loc></url>"
                 "<url><x:loc>http://h/other-ns</x:loc><loc>http://h/real</loc></url>"
                 "<x:url><loc>http://h/not-an-entry</loc></x:url>"
                 "</urlset>",
                 &sm),
      0);
  ck_assert_str_eq(joined(sm.urls, sm.nurls), "http://h/page http://h/real");
  sitemap_free(&sm);
  ck_assert_int_eq(sitemap_of("<sm:urlset xmlns:sm=\"" SM_NS "\">"
                              "<sm:url><sm:loc>http://h/p</sm:loc></sm:url>"
                              "<url><loc>http://h/no-namespace</loc></url></sm:urlset>",
                              &sm),
                   0);
  ck_assert_str_eq(joined(sm.urls, sm.nurls), "http://h/p");
  sitemap_free(&sm);
}
END_TEST

/* A <loc>'s text: CDATA, entities and character references decoded,
 * whitespace around it trimmed, pieces joined. */
START_TEST(test_fetch_sitemap_loc_text) {
  struct sitemap sm;
  ck_assert_int_eq(sitemap_of("<urlset>"
                              "<url><loc><![CDATA[http://h/cdata?a=1&b=2]]></loc></url>"
                              "<url><loc>http://h/e?a=1&amp;b=&lt;&#38;&#x41;</loc></url>"
                              "<url><loc>\n\t  http://h/ws  \r\n </loc></url>"
                              "<url><loc> http://h/<![CDATA[mixed]]>/x </loc></url>"
                              "<url><loc>http://h/sp ace/é</loc></url>"
                              "</urlset>",
                              &sm),
                   0);
  ck_assert_str_eq(joined(sm.urls, sm.nurls), "http://h/cdata?a=1&b=2 http://h/e?a=1&b=%3C&A "
                                              "http://h/ws http://h/mixed/x "
                                              "http://h/sp%20ace/%C3%A9");
  ck_assert_uint_eq(sm.skipped, 0);
  sitemap_free(&sm);
}
END_TEST

/* Entries without a usable <loc> are skipped and counted, and the rest
 * is read. */
START_TEST(test_fetch_sitemap_invalid_locs_skipped) {
  struct sitemap sm;
  ck_assert_int_eq(sitemap_of("<urlset>"
                              "<url/><url><lastmod>x</lastmod></url><url><loc/></url>"
                              "<url><loc>   </loc></url>"
                              "<url><loc>/relative/path</loc></url>"
                              "<url><loc>ftp://h/file</loc></url>"
                              "<url><loc>mailto:a@h</loc></url>"
                              "<url><loc>http://h:99999/</loc></url>"
                              "<url><loc>http://h/<b>bold</b></loc></url>"
                              "<url><loc>http://h/ok</loc></url>"
                              "</urlset>",
                              &sm),
                   0);
  ck_assert_str_eq(joined(sm.urls, sm.nurls), "http://h/ok");
  ck_assert_uint_eq(sm.entries, 10);
  ck_assert_uint_eq(sm.skipped, 9);
  sitemap_free(&sm);
}
END_TEST

/* An entity the document declares is not substituted (its <loc> is
 * skipped), an external one is never loaded, and the billion laughs fail
 * as not XML, fast. */
START_TEST(test_fetch_sitemap_entities_not_expanded) {
  struct sitemap sm;
  struct buf x = BUF_INIT;
  int64_t start;
  ck_assert_int_eq(sitemap_of("<?xml version=\"1.0\"?>\n"
                              "<!DOCTYPE urlset [<!ENTITY h \"http://h/\">"
                              "<!ENTITY ext SYSTEM \"file:///etc/passwd\">]>\n"
                              "<urlset><url><loc>&h;page</loc></url><url><loc>&ext;</loc></url>"
                              "<url><loc>http://h/plain</loc></url></urlset>",
                              &sm),
                   0);
  ck_assert_str_eq(joined(sm.urls, sm.nurls), "http://h/plain");
  ck_assert_uint_eq(sm.skipped, 2);
  sitemap_free(&sm);
  buf_puts(&x, "<?xml version=\"1.0\"?><!DOCTYPE urlset [<!ENTITY l0 \"lol\">");
  for (int i = 1; i < 10; i++) {
    buf_printf(&x, "<!ENTITY l%d \"", i);
    for (int j = 0; j < 10; j++)
      buf_printf(&x, "&l%d;", i - 1);
    buf_puts(&x, "\">");
  }
  buf_puts(&x, "]><urlset><url><loc>http://h/&l9;</loc></url></urlset>");
  start = weft_now();
  ck_assert_int_eq(sitemap_parse(x.data, x.len, &sm), SITEMAP_ENOTXML);
  ck_assert_int_lt(weft_now() - start, 5000);
  ck_assert_uint_eq(sm.nurls, 0);
  ck_assert_ptr_nonnull(strstr(sm.error, "entity"));
  sitemap_free(&sm);
  buf_free(&x);
}
END_TEST

START_TEST(test_fetch_sitemap_gzip) {
  const char *xml = "<urlset xmlns=\"" SM_NS "\"><url><loc>http://h/gz</loc></url></urlset>";
  struct sitemap sm;
  char *gz, *plain;
  size_t len = gzip_of(xml, strlen(xml), 1, &gz), plain_len;
  ck_assert(sitemap_is_gzip(gz, len) && !sitemap_is_gzip(xml, strlen(xml)));
  ck_assert_int_eq(sitemap_gunzip(gz, len, 1 << 20, &plain, &plain_len), 0);
  ck_assert_uint_eq(plain_len, strlen(xml));
  ck_assert_str_eq(plain, xml);
  free(plain);
  ck_assert_int_eq(sitemap_parse(gz, len, &sm), 0);
  ck_assert_str_eq(joined(sm.urls, sm.nurls), "http://h/gz");
  sitemap_free(&sm);
  ck_assert_int_eq(sitemap_parse(gz, len - 4, &sm), SITEMAP_EGZIP); /* cut short */
  ck_assert_str_eq(sm.error, "corrupt or truncated gzip data");
  sitemap_free(&sm);
  gz[len / 2] ^= 0x55;
  ck_assert_int_eq(sitemap_gunzip(gz, len, 1 << 20, &plain, &plain_len), SITEMAP_EGZIP);
  ck_assert_ptr_null(plain);
  free(gz);
}
END_TEST

/* A gzip bomb is cut at the limit: 60 MiB of zeros in 270 KiB of gzip. */
START_TEST(test_fetch_sitemap_gzip_bomb) {
  static const char zeros[1 << 20];
  struct sitemap sm;
  char *gz, *plain;
  size_t len = gzip_of(zeros, sizeof zeros, 60, &gz), plain_len;
  ck_assert_uint_lt(len, 512 * 1024);
  ck_assert_int_eq(sitemap_gunzip(gz, len, 4096, &plain, &plain_len), SITEMAP_ETOOBIG);
  ck_assert_ptr_null(plain);
  ck_assert_int_eq(sitemap_parse(gz, len, &sm), SITEMAP_ETOOBIG);
  ck_assert_str_eq(sm.error, "over 50 MB uncompressed");
  sitemap_free(&sm);
  free(gz);
}
END_TEST

START_TEST(test_fetch_sitemap_not_xml) {
  struct sitemap sm;
  ck_assert_int_eq(sitemap_of("", &sm), SITEMAP_ENOTXML);
  ck_assert_str_eq(sm.error, "not XML (the body is empty)");
  sitemap_free(&sm);
  ck_assert_int_eq(sitemap_of("http://h/a\nhttp://h/b\n", &sm), SITEMAP_ENOTXML);
  ck_assert_str_eq(sm.error, "not XML (it does not start with '<')");
  sitemap_free(&sm);
  ck_assert_int_eq(sitemap_of("<<<>>> not xml", &sm), SITEMAP_ENOTXML);
  ck_assert_ptr_nonnull(strstr(sm.error, "not XML (line 1: "));
  sitemap_free(&sm);
  ck_assert_int_eq(sitemap_of("<html><body><a href=/x>x</a></body></html>", &sm), SITEMAP_ENOTXML);
  ck_assert_str_eq(sm.error, "not XML (line 1: AttValue: \" or ' expected)");
  sitemap_free(&sm);
  ck_assert_int_eq(sitemap_of("<html><body><p>x</p></body></html>", &sm), SITEMAP_EROOT);
  ck_assert_str_eq(sm.error, "root element <html> is not urlset or sitemapindex");
  sitemap_free(&sm);
  ck_assert_int_eq(sitemap_of("\n\n<?xml version=\"1.0\"?><urlset><url><loc>http://h/a</loc>"
                              "</url></urlset>",
                              &sm),
                   0); /* blank lines before the declaration are forgiven */
  ck_assert_uint_eq(sm.nurls, 1);
  sitemap_free(&sm);
}
END_TEST

/* An XML error after the root began keeps the entries read before it
 * (libxml2 reads ahead: those in the last few hundred bytes before it
 * may go with it): here the usual slip, a bare '&' in a URL. */
START_TEST(test_fetch_sitemap_malformed_keeps_entries) {
  struct buf x = BUF_INIT;
  struct sitemap sm;
  buf_puts(&x, "<urlset>\n");
  for (int i = 0; i < 100; i++)
    buf_printf(&x, "<url><loc>http://h/%d</loc></url>\n", i);
  buf_puts(&x, "<url><loc>http://h/q?a=1&b=2</loc></url>\n");
  for (int i = 100; i < 200; i++)
    buf_printf(&x, "<url><loc>http://h/%d</loc></url>\n", i);
  buf_puts(&x, "</urlset>\n");
  ck_assert(!buf_failed(&x));
  ck_assert_int_eq(sitemap_parse(x.data, x.len, &sm), SITEMAP_EMALFORMED);
  ck_assert_uint_ge(sm.nurls, 80);
  ck_assert_uint_le(sm.nurls, 100);
  ck_assert_str_eq(sm.urls[0], "http://h/0");
  ck_assert_str_eq(sm.error, "malformed XML at line 102: EntityRef: expecting ';'");
  sitemap_free(&sm);
  buf_free(&x);
}
END_TEST

/* 50,000 entries are read, the 50,001st ends the reading. */
START_TEST(test_fetch_sitemap_too_many_entries) {
  struct buf x = BUF_INIT;
  struct sitemap sm;
  buf_puts(&x, "<urlset>");
  for (int i = 0; i <= SITEMAP_MAX_ENTRIES; i++)
    buf_printf(&x, "<url><loc>http://h/%d</loc></url>", i);
  buf_puts(&x, "</urlset>");
  ck_assert(!buf_failed(&x));
  ck_assert_int_eq(sitemap_parse(x.data, x.len, &sm), SITEMAP_ETOOMANY);
  ck_assert_uint_eq(sm.nurls, SITEMAP_MAX_ENTRIES);
  ck_assert_str_eq(sm.urls[SITEMAP_MAX_ENTRIES - 1], "http://h/49999");
  ck_assert_str_eq(sm.error, "over 50000 entries: the rest is ignored");
  sitemap_free(&sm);
  buf_free(&x);
}
END_TEST

/* A huge <loc> is skipped without being kept; one of URL_MAX bytes is
 * read; over 50 MB of plain XML is refused before parsing. */
START_TEST(test_fetch_sitemap_huge_loc_and_body) {
  struct buf x = BUF_INIT;
  struct sitemap sm;
  char *big;
  buf_puts(&x, "<urlset><url><loc>http://h/");
  for (int i = 0; i < 1000000; i++)
    buf_putc(&x, 'a');
  buf_puts(&x, "</loc></url><url><loc>http://h/");
  for (size_t i = strlen("http://h/"); i < URL_MAX; i++)
    buf_putc(&x, 'b');
  buf_puts(&x, "</loc></url><url><loc>http://h/after</loc></url></urlset>");
  ck_assert(!buf_failed(&x));
  ck_assert_int_eq(sitemap_parse(x.data, x.len, &sm), 0);
  ck_assert_uint_eq(sm.nurls, 2);
  ck_assert_uint_eq(strlen(sm.urls[0]), URL_MAX);
  ck_assert_str_eq(sm.urls[1], "http://h/after");
  ck_assert_uint_eq(sm.skipped, 1);
  sitemap_free(&sm);
  buf_free(&x);
  big = malloc(SITEMAP_MAX_BYTES + 1);
  ck_assert_ptr_nonnull(big);
  memset(big, ' ', SITEMAP_MAX_BYTES + 1);
  memcpy(big, "<urlset>", 8);
  ck_assert_int_eq(sitemap_parse(big, SITEMAP_MAX_BYTES + 1, &sm), SITEMAP_ETOOBIG);
  ck_assert_str_eq(sm.error, "over 50 MB");
  sitemap_free(&sm);
  free(big);
}
END_TEST

/* Deep nesting on a crawler's stack (512 KiB): libxml2 stops at 256
 * levels, and its parser does not recurse per level meanwhile. */
static void *sitemap_deep_task(void *arg) {
  const struct buf *x = arg;
  struct sitemap sm;
  intptr_t rc = sitemap_parse(x->data, x->len, &sm);
  sitemap_free(&sm);
  return (void *)rc;
}

static int sitemap_deep_main(void *arg) {
  weft_spawn_attr attr;
  weft_task *t;
  void *r;
  weft_spawn_attr_init(&attr);
  attr.stack_size = 512 * 1024;
  ck_assert_int_eq(weft_spawn_ex(&t, &attr, sitemap_deep_task, arg), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  return (int)(intptr_t)r;
}

START_TEST(test_fetch_sitemap_deep_nesting_small_stack) {
  struct buf x = BUF_INIT;
  buf_puts(&x, "<urlset><url><loc>http://h/a</loc>");
  for (int i = 0; i < 100000; i++)
    buf_puts(&x, "<x>");
  ck_assert(!buf_failed(&x));
  ck_assert_int_eq(run_in_task(2, sitemap_deep_main, &x), SITEMAP_EMALFORMED);
  buf_free(&x);
}
END_TEST

/* ---- the string map ---- */

START_TEST(test_fetch_strmap) {
  struct strmap m;
  char key[32];
  int one = 1;
  strmap_init(&m);
  ck_assert(!strmap_has(&m, "x"));
  ck_assert_ptr_null(strmap_get(&m, "x"));
  for (int i = 0; i < 10000; i++) {
    snprintf(key, sizeof key, "k%d", i);
    CHECK_HOT(strmap_add(&m, key, i % 2 ? &one : NULL) == 1);
  }
  for (int i = 0; i < 10000; i++) {
    snprintf(key, sizeof key, "k%d", i);
    CHECK_HOT(strmap_has(&m, key));
    CHECK_HOT(strmap_get(&m, key) == (i % 2 ? &one : NULL));
    CHECK_HOT(strmap_add(&m, key, &one) == 0);
  }
  ck_assert_int_eq(m.len, 10000);
  ck_assert(!strmap_has(&m, "k10000"));
  strmap_destroy(&m, NULL);
}
END_TEST

/* ---- the crawl's memory: fingerprints, the journal, the spill ---- */

/* SipHash-2-4-128 under the key 00 01 .. 0f of the message 00 01 .. n-1,
 * from the algorithm's authors' test vectors. */
static const struct {
  size_t n;
  const char *hex;
} sip128_vectors[] = {
    {0, "a3817f04ba25a8e66df67214c7550293"},  {1, "da87c1d86b99af44347659119b22fc45"},
    {7, "a1f1ebbed8dbc153c0b84aa61ff08239"},  {8, "3b62a9ba6258f5610f83e264f31497b4"},
    {15, "5493e99933b0a8117e08ec0f97cfc3d9"}, {16, "6ee2a4ca67b054bbfd3315bf85230577"},
    {63, "5150d1772f50834a503e069a973fbd7c"},
};

START_TEST(test_fetch_siphash128_vectors) {
  struct fp_key k;
  unsigned char msg[64], out[16];
  char hex[33];
  for (int i = 0; i < 16; i++)
    k.bytes[i] = (unsigned char)i;
  for (int i = 0; i < 64; i++)
    msg[i] = (unsigned char)i;
  for (size_t i = 0; i < sizeof sip128_vectors / sizeof sip128_vectors[0]; i++) {
    fp_siphash128(&k, msg, sip128_vectors[i].n, out);
    for (int j = 0; j < 16; j++)
      snprintf(hex + 2 * j, 3, "%02x", out[j]);
    ck_assert_msg(strcmp(hex, sip128_vectors[i].hex) == 0, "%zu bytes: %s, expected %s",
                  sip128_vectors[i].n, hex, sip128_vectors[i].hex);
  }
}
END_TEST

START_TEST(test_fetch_fingerprints_keyed_and_127_bits) {
  struct fp_key a, b;
  struct fp x, y;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  b.bytes[15] = 1;
  x = fp_of(&a, "http://h/", 9);
  y = fp_of(&a, "http://h/", 9);
  ck_assert(fp_equal(x, y));                           /* a function of the key and URL */
  ck_assert(!fp_equal(x, fp_of(&b, "http://h/", 9)));  /* another key, another value */
  ck_assert(!fp_equal(x, fp_of(&a, "http://h/a", 10))); /* another URL */
  for (int i = 0; i < 1000; i++) {
    char url[32];
    int n = snprintf(url, sizeof url, "http://h/%d", i);
    struct fp f = fp_of(&a, url, (size_t)n);
    CHECK_HOT((f.hi >> 63) == 0 && (f.lo | f.hi) != 0); /* the set's mark bit stays free */
  }
}
END_TEST

static struct fp fp_n(const struct fp_key *k, const char *prefix, int i) {
  char url[64];
  int n = snprintf(url, sizeof url, "http://%s/%d", prefix, i);
  return fp_of(k, url, (size_t)n);
}

/* Adds, marks and lookups while the set doubles (the old table being
 * moved a few slots at a time) find every member once, with its mark. */
START_TEST(test_fetch_fpset) {
  struct fp_key k;
  struct fpset s;
  int n = (int)scaled(200000);
  fp_key_random(&k);
  fpset_init(&s);
  ck_assert(!fpset_has(&s, fp_n(&k, "h", 0)));
  ck_assert_int_eq(fpset_mark(&s, fp_n(&k, "h", 0)), -1);
  for (int i = 0; i < n; i++) {
    CHECK_HOT(fpset_add(&s, fp_n(&k, "h", i)) == 1);
    if (i % 3 == 0)
      CHECK_HOT(fpset_mark(&s, fp_n(&k, "h", i)) == 1); /* marks survive growth */
  }
  ck_assert_uint_eq(s.len, (size_t)n);
  ck_assert_uint_le(s.len * 4, s.cap * 3); /* at most 3/4 full */
  ck_assert_uint_eq(fpset_bytes(&s), (s.cap + s.old_cap) * 16); /* old: a doubling under way */
  for (int i = 0; i < n; i++) {
    CHECK_HOT(fpset_has(&s, fp_n(&k, "h", i)));
    CHECK_HOT(fpset_add(&s, fp_n(&k, "h", i)) == 0);
    CHECK_HOT(fpset_mark(&s, fp_n(&k, "h", i)) == (i % 3 == 0 ? 0 : 1));
    CHECK_HOT(!fpset_has(&s, fp_n(&k, "other", i)));
    CHECK_HOT(fpset_mark(&s, fp_n(&k, "other", i)) == -1);
  }
  ck_assert_uint_eq(s.len, (size_t)n);
  fpset_destroy(&s);
}
END_TEST

/* A journal of every kind of entry: a header, a group of two joins ended
 * by a done with a record, a done without one, a commit. */
static void sample_journal(struct buf *b, struct jentry *e, size_t *n) {
  static const char header[] = JOURNAL_MAGIC "key 000102030405060708090a0b0c0d0e0f\ndepth 3\n";
  static const char line[] = "{\"url\":\"http://h/\",\"status\":200}\n";
  struct fp_key k;
  memset(&k, 7, sizeof k);
  memset(e, 0, 6 * sizeof *e);
  e[0] = (struct jentry){.type = JOURNAL_HEADER, .text = header, .text_len = sizeof header - 1};
  e[1] = (struct jentry){.type = JOURNAL_JOIN, .depth = 0, .start = 1, .url = "http://h/",
                         .url_len = 9};
  e[2] = (struct jentry){.type = JOURNAL_JOIN, .depth = 70000, .hops = 5, .sitemap = 4,
                         .error = 2, .url = "not a URL \xff", .url_len = 11};
  e[3] = (struct jentry){.type = JOURNAL_DONE, .fp = fp_of(&k, "http://h/", 9), .line = line,
                         .line_len = sizeof line - 1};
  e[4] = (struct jentry){.type = JOURNAL_DONE, .fp = fp_of(&k, "x", 1)};
  e[5] = (struct jentry){.type = JOURNAL_COMMIT};
  *n = 6;
  for (size_t i = 0; i < *n; i++)
    ck_assert_int_eq(journal_put(b, &e[i]), 0);
  ck_assert(!buf_failed(b));
}

static void assert_same_entry(const struct jentry *a, const struct jentry *b) {
  ck_assert_int_eq(a->type, b->type);
  ck_assert_uint_eq(a->text_len, b->text_len);
  ck_assert(a->text_len == 0 || memcmp(a->text, b->text, a->text_len) == 0);
  ck_assert_uint_eq(a->depth, b->depth);
  ck_assert_int_eq(a->hops, b->hops);
  ck_assert_int_eq(a->start, b->start);
  ck_assert_int_eq(a->sitemap, b->sitemap);
  ck_assert_int_eq(a->error, b->error);
  ck_assert_uint_eq(a->url_len, b->url_len);
  ck_assert(a->url_len == 0 || memcmp(a->url, b->url, a->url_len) == 0);
  ck_assert(fp_equal(a->fp, b->fp));
  ck_assert_uint_eq(a->line_len, b->line_len);
  ck_assert(a->line_len == 0 || memcmp(a->line, b->line, a->line_len) == 0);
}

/* How many whole entries the first len bytes of data hold, as a reader
 * sees them; *end is where they end. */
static size_t count_entries(const char *data, size_t len, size_t *end) {
  size_t pos = 0, used, n = 0;
  struct jentry e;
  while (journal_next(data + pos, len - pos, &e, &used) == JOURNAL_OK) {
    pos += used;
    n++;
  }
  *end = pos;
  return n;
}

START_TEST(test_fetch_journal_roundtrip) {
  struct buf b = BUF_INIT;
  struct jentry want[6], got;
  size_t n, pos = 0, used;
  sample_journal(&b, want, &n);
  for (size_t i = 0; i < n; i++) {
    ck_assert_int_eq(journal_next(b.data + pos, b.len - pos, &got, &used), JOURNAL_OK);
    assert_same_entry(&got, &want[i]);
    pos += used;
  }
  ck_assert_uint_eq(pos, b.len);
  ck_assert_int_eq(journal_next(b.data + pos, 0, &got, &used), JOURNAL_SHORT);
  buf_free(&b);
}
END_TEST

START_TEST(test_fetch_journal_torn_and_corrupt) {
  struct buf b = BUF_INIT;
  struct jentry e[6];
  size_t n, ends[7] = {0}, end, pos = 0, used;
  sample_journal(&b, e, &n);
  for (size_t i = 0; i < n; i++) {
    struct jentry got;
    journal_next(b.data + pos, b.len - pos, &got, &used);
    ends[i + 1] = pos += used;
  }
  /* cut anywhere: exactly the entries wholly before the cut */
  for (size_t cut = 0; cut <= b.len; cut++) {
    size_t whole = 0;
    while (whole < n && ends[whole + 1] <= cut)
      whole++;
    CHECK_HOT(count_entries(b.data, cut, &end) == whole && end == ends[whole]);
  }
  /* any byte changed: the reader stops at the entry that holds it */
  for (size_t at = 0; at < b.len; at++) {
    size_t hit = 0;
    while (ends[hit + 1] <= at)
      hit++;
    for (int bit = 0; bit < 8; bit += 3) {
      b.data[at] ^= (char)(1 << bit);
      CHECK_HOT(count_entries(b.data, b.len, &end) == hit && end == ends[hit]);
      b.data[at] ^= (char)(1 << bit);
    }
  }
  /* garbage after a whole journal changes nothing before it */
  buf_append(&b, "\x07\x00\x00\x00garbage!", 12);
  ck_assert_uint_eq(count_entries(b.data, b.len, &end), n);
  ck_assert_uint_eq(end, ends[n]);
  buf_free(&b);
}
END_TEST

START_TEST(test_fetch_journal_rejects) {
  struct buf b = BUF_INIT;
  struct jentry e;
  size_t used;
  unsigned char frame[16] = {0};
  e = (struct jentry){.type = JOURNAL_JOIN, .url = "a\0b", .url_len = 3};
  ck_assert_int_eq(journal_put(&b, &e), -1); /* a NUL in a URL */
  e = (struct jentry){.type = JOURNAL_JOIN, .hops = 256, .url = "a", .url_len = 1};
  ck_assert_int_eq(journal_put(&b, &e), -1);
  e = (struct jentry){.type = JOURNAL_JOIN, .sitemap = 128, .url = "a", .url_len = 1};
  ck_assert_int_eq(journal_put(&b, &e), -1);
  e = (struct jentry){.type = JOURNAL_DONE, .fp = {1, 0}, .line = "a\nb\n", .line_len = 4};
  ck_assert_int_eq(journal_put(&b, &e), -1); /* two lines */
  e = (struct jentry){.type = JOURNAL_DONE, .fp = {1, 0}, .line = "ab", .line_len = 2};
  ck_assert_int_eq(journal_put(&b, &e), -1); /* no newline */
  e = (struct jentry){.type = JOURNAL_DONE, .fp = {0, 0}};
  ck_assert_int_eq(journal_put(&b, &e), -1); /* not a fingerprint */
  e = (struct jentry){.type = JOURNAL_HEADER, .text = "hello", .text_len = 5};
  ck_assert_int_eq(journal_put(&b, &e), -1); /* no magic */
  e = (struct jentry){.type = 'X'};
  ck_assert_int_eq(journal_put(&b, &e), -1);
  ck_assert_uint_eq(b.len, 0); /* nothing appended */
  /* a zero length, a length past JOURNAL_MAX: bad at once, not "short" */
  ck_assert_int_eq(journal_next(frame, sizeof frame, &e, &used), JOURNAL_BAD);
  frame[3] = 0x7f;
  ck_assert_int_eq(journal_next(frame, sizeof frame, &e, &used), JOURNAL_BAD);
  buf_free(&b);
}
END_TEST

/* A scratch directory for the tests that make files. */
static char scratch[64];

static void make_scratch(void) {
  strcpy(scratch, "/tmp/weft-fetch-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(scratch));
}

static void remove_scratch(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
  ck_assert_int_eq(system(cmd), 0);
}

/* Push URLs 0..n-1 as join frames, taking back what is oldest whenever
 * take says so; check they come back in order. */
static int spill_body(void *arg) {
  struct spill sp;
  struct buf frame = BUF_INIT, out = BUF_INIT;
  long n = *(long *)arg, next = 0, count;
  char url[64];
  spill_init(&sp, scratch);
  for (long i = 0; i < n || sp.len > 0; i++) {
    if (i < n) {
      struct jentry e = {.type = JOURNAL_JOIN, .depth = (uint32_t)i, .url = url};
      e.url_len = (size_t)snprintf(url, sizeof url, "http://h/page/%ld", i);
      buf_reset(&frame);
      ck_assert_int_eq(journal_put(&frame, &e), 0);
      ck_assert_int_eq(spill_push(&sp, frame.data, frame.len, 1), 0);
      if (i % 4096 == 0)
        weft_yield(); /* a long loop in a task: let the worker's others run */
    }
    if (i >= n || i % 50000 == 49999) { /* take some back while pushing, then the rest */
      size_t pos = 0, used;
      struct jentry e;
      ck_assert_int_eq(spill_take(&sp, &out, &count), 0);
      while (journal_next(out.data + pos, out.len - pos, &e, &used) == JOURNAL_OK) {
        CHECK_HOT(e.depth == (uint32_t)next);
        next++;
        count--;
        pos += used;
      }
      ck_assert_int_eq(count, 0);
      ck_assert_uint_eq(pos, out.len);
      buf_reset(&out);
    }
  }
  ck_assert_int_eq(next, n);
  ck_assert(!sp.failed);
  spill_free(&sp);
  buf_free(&frame);
  buf_free(&out);
  return 0;
}

START_TEST(test_fetch_spill_fifo) {
  long n = scaled(200000) > 60000 ? scaled(200000) : 60000; /* 2.4 to 8 MB: several segments */
  DIR *d;
  make_scratch();
  ck_assert_int_eq(run_in_task(2, spill_body, &n), 0);
  /* segments have no names: nothing is left in the directory */
  ck_assert_ptr_nonnull(d = opendir(scratch));
  for (struct dirent *de; (de = readdir(d));)
    ck_assert_msg(de->d_name[0] == '.', "%s left behind", de->d_name);
  closedir(d);
  remove_scratch();
}
END_TEST

struct replay_count {
  long joins, dones, commits;
};

static int count_visit(void *arg, const struct jentry *e) {
  struct replay_count *r = arg;
  r->joins += e->type == JOURNAL_JOIN;
  r->dones += e->type == JOURNAL_DONE;
  r->commits += e->type == JOURNAL_COMMIT;
  return 0;
}

static void append_entry(struct state *s, const struct jentry *e) {
  struct buf b = BUF_INIT;
  ck_assert_int_eq(journal_put(&b, e), 0);
  ck_assert_int_eq(state_append(s, b.data, b.len), 0);
  buf_free(&b);
}

static int64_t file_size(const char *path) {
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  return (int64_t)st.st_size;
}

/* A new state, two whole groups and half of a third, then garbage: the
 * replay keeps the two, cuts the rest off the file, and a second replay
 * reads the same; another crawl's options are refused; a second fetch on
 * the same directory is refused. */
static int state_body(void *arg) {
  struct state s, other;
  struct replay_count r = {0, 0, 0};
  struct jentry join = {.type = JOURNAL_JOIN, .url = "http://h/a", .url_len = 10};
  struct jentry done = {.type = JOURNAL_DONE, .fp = {1, 2}};
  struct jentry commit = {.type = JOURNAL_COMMIT};
  char dir[128], path[160], msg[512];
  int64_t good;
  (void)arg;
  snprintf(dir, sizeof dir, "%s/state", scratch);
  snprintf(path, sizeof path, "%s/%s", dir, STATE_JOURNAL);
  ck_assert_int_eq(state_open(&s, dir, "depth 3\n", msg, sizeof msg), STATE_NEW);
  ck_assert_int_eq(state_open(&other, dir, "depth 3\n", msg, sizeof msg), STATE_ERROR);
  ck_assert_ptr_nonnull(strstr(msg, "another fetch is using it"));
  append_entry(&s, &join);
  append_entry(&s, &commit);
  append_entry(&s, &join);
  append_entry(&s, &join);
  append_entry(&s, &done);
  good = file_size(path);
  append_entry(&s, &join); /* a group without its end */
  ck_assert_int_eq(state_append(&s, "\x05\x00\x00\x00\x01\x02", 6), 0); /* a torn frame */
  state_close(&s);

  ck_assert_int_eq(state_open(&s, dir, "depth 4\n", msg, sizeof msg), STATE_ERROR);
  ck_assert_msg(strstr(msg, "'depth 3'") && strstr(msg, "'depth 4'"), "%s", msg);
  ck_assert_int_eq(state_open(&s, dir, "depth 3\n", msg, sizeof msg), STATE_RESUME);
  ck_assert_int_eq(state_replay(&s, count_visit, &r), 0);
  ck_assert_int_eq(r.joins, 3);
  ck_assert_int_eq(r.dones, 1);
  ck_assert_int_eq(r.commits, 1);
  ck_assert_int_eq(s.valid, good);
  ck_assert_int_eq(file_size(path), good);
  ck_assert_int_gt(s.damaged, 6);
  append_entry(&s, &commit); /* appended after the cut: the next replay reads it */
  memset(&r, 0, sizeof r);
  ck_assert_int_eq(state_replay(&s, count_visit, &r), 0);
  ck_assert_int_eq(r.joins, 3);
  ck_assert_int_eq(r.commits, 2);
  state_close(&s);
  return 0;
}

START_TEST(test_fetch_state_replay_cuts_torn_groups) {
  make_scratch();
  ck_assert_int_eq(run_in_task(1, state_body, NULL), 0);
  remove_scratch();
}
END_TEST

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
}

static char *read_file(const char *path) {
  static char text[4096];
  FILE *f = fopen(path, "r");
  size_t n;
  ck_assert_ptr_nonnull(f);
  n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  fclose(f);
  return text;
}

/* Repair an output file that holds text against the journal's records
 * "a\n", "bb\n", "ccc\n". Returns state_output_finish's result. */
static int repair(const char *path, const char *text, char *msg, size_t len) {
  static const char *const records[] = {"a\n", "bb\n", "ccc\n"};
  struct state_output out;
  int rc = 0;
  write_file(path, text);
  ck_assert_int_eq(state_output_open(&out, path, 0, msg, len), 0);
  for (int i = 0; i < 3 && rc == 0; i++)
    rc = state_output_record(&out, records[i], strlen(records[i]), msg, len);
  if (rc == 0)
    rc = state_output_finish(&out, msg, len);
  buf_free(&out.pending);
  weft_file_close(out.fd);
  return rc;
}

static int output_body(void *arg) {
  static const struct {
    const char *before, *after;
  } cases[] = {
      {"a\nbb\nccc\n", "a\nbb\nccc\n"}, /* whole: untouched */
      {"", "a\nbb\nccc\n"},             /* lost: written anew */
      {"a\nbb\n", "a\nbb\nccc\n"},      /* behind the journal */
      {"a\nbb\ncc", "a\nbb\nccc\n"},    /* torn in a record */
      {"a\nb", "a\nbb\nccc\n"},
      {"a\nbb\nccc\nzz\n", "a\nbb\nccc\n"}, /* a record the journal lost: cut */
      {"a\nbb\nccc\nzz", "a\nbb\nccc\n"},
  };
  char path[160], msg[512];
  (void)arg;
  snprintf(path, sizeof path, "%s/out.jsonl", scratch);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ck_assert_int_eq(repair(path, cases[i].before, msg, sizeof msg), 0);
    ck_assert_msg(strcmp(read_file(path), cases[i].after) == 0, "case %zu: '%s'", i,
                  read_file(path));
  }
  /* a file that is not the crawl's is refused, not rewritten */
  ck_assert_int_eq(repair(path, "xyzzy", msg, sizeof msg), STATE_ERROR);
  ck_assert_ptr_nonnull(strstr(msg, "does not hold the records"));
  ck_assert_str_eq(read_file(path), "xyzzy");
  return 0;
}

START_TEST(test_fetch_state_output_repair) {
  make_scratch();
  ck_assert_int_eq(run_in_task(1, output_body, NULL), 0);
  remove_scratch();
}
END_TEST

static Suite *fetch_suite(void) {
  Suite *s = suite_create("fetch");
  TCase *core = tcase_create("core"), *errors = tcase_create("errors"),
        *limits = tcase_create("limits"), *sitemap = tcase_create("sitemap"),
        *journal = tcase_create("journal");
  tcase_add_test(core, test_fetch_rfc3986_normal_examples);
  tcase_add_test(core, test_fetch_rfc3986_abnormal_examples);
  tcase_add_test(core, test_fetch_url_normalize);
  tcase_add_test(core, test_fetch_url_join);
  tcase_add_test(core, test_fetch_url_join_no_authority);
  tcase_add_test(core, test_fetch_url_split);
  tcase_add_test(core, test_fetch_links_attribute_forms);
  tcase_add_test(core, test_fetch_links_base_href);
  tcase_add_test(core, test_fetch_links_elements);
  tcase_add_test(core, test_fetch_links_schemes_and_duplicates);
  tcase_add_test(core, test_fetch_links_tokenizer_rules);
  tcase_add_test(core, test_fetch_links_split_anywhere);
  tcase_add_test(core, test_fetch_robots_star_group);
  tcase_add_test(core, test_fetch_robots_crawl_delay_and_sitemaps);
  tcase_add_test(core, test_fetch_robots_specific_group_wins);
  tcase_add_test(core, test_fetch_robots_empty_disallow);
  tcase_add_test(core, test_fetch_robots_grouping);
  tcase_add_test(core, test_fetch_robots_longest_match);
  tcase_add_test(core, test_fetch_robots_wildcards);
  tcase_add_test(core, test_fetch_http_content_length);
  tcase_add_test(core, test_fetch_http_chunked);
  tcase_add_test(core, test_fetch_http_read_to_close);
  tcase_add_test(core, test_fetch_http_html_body_streams_to_the_sink);
  tcase_add_test(core, test_fetch_http_interim_and_bodiless);
  tcase_add_test(core, test_fetch_http_is_html);
  tcase_add_test(core, test_fetch_json_escaping);
  tcase_add_test(core, test_fetch_record_format);
  tcase_add_test(core, test_fetch_cli_defaults);
  tcase_add_test(core, test_fetch_cli_every_option);
  tcase_add_test(core, test_fetch_cli_crawler_options);
  tcase_add_test(core, test_fetch_retry_after);
  tcase_add_test(core, test_fetch_cli_help_and_input_only);
  tcase_add_test(core, test_fetch_strmap);
  tcase_add_test(core, test_fetch_warc_payload_digest);
  tcase_add_test(core, test_fetch_warc_exchange_records);
  tcase_add_test(core, test_fetch_warc_gzip_members);
  tcase_add_test(errors, test_fetch_url_normalize_rejects);
  tcase_add_test(errors, test_fetch_http_malformed_status_line);
  tcase_add_test(errors, test_fetch_http_malformed_header);
  tcase_add_test(errors, test_fetch_http_bad_chunk_size);
  tcase_add_test(errors, test_fetch_http_closed_early);
  tcase_add_test(errors, test_fetch_http_bytes_after_the_end);
  tcase_add_test(errors, test_fetch_cli_usage_errors);
  tcase_add_test(limits, test_fetch_http_header_block_limit);
  tcase_add_test(limits, test_fetch_http_header_flood);
  tcase_add_test(limits, test_fetch_http_max_body);
  tcase_add_test(limits, test_fetch_http_retry_after);
  tcase_add_test(limits, test_fetch_http_truncate);
  tcase_add_test(limits, test_fetch_http_truncate_decoded);
  tcase_add_test(limits, test_fetch_links_many);
  tcase_add_test(limits, test_fetch_links_deep_nesting_small_stack);
  tcase_add_test(limits, test_fetch_links_oversized_value_is_skipped);
  tcase_add_test(limits, test_fetch_robots_many_wildcards_stay_fast);
  tcase_set_timeout(limits, 60);
  tcase_add_test(sitemap, test_fetch_sitemap_urlset);
  tcase_add_test(sitemap, test_fetch_sitemap_index);
  tcase_add_test(sitemap, test_fetch_sitemap_namespaces);
  tcase_add_test(sitemap, test_fetch_sitemap_loc_text);
  tcase_add_test(sitemap, test_fetch_sitemap_invalid_locs_skipped);
  tcase_add_test(sitemap, test_fetch_sitemap_entities_not_expanded);
  tcase_add_test(sitemap, test_fetch_sitemap_gzip);
  tcase_add_test(sitemap, test_fetch_sitemap_gzip_bomb);
  tcase_add_test(sitemap, test_fetch_sitemap_not_xml);
  tcase_add_test(sitemap, test_fetch_sitemap_malformed_keeps_entries);
  tcase_add_test(sitemap, test_fetch_sitemap_too_many_entries);
  tcase_add_test(sitemap, test_fetch_sitemap_huge_loc_and_body);
  tcase_add_test(sitemap, test_fetch_sitemap_deep_nesting_small_stack);
  tcase_set_timeout(sitemap, 120);
  tcase_add_test(journal, test_fetch_siphash128_vectors);
  tcase_add_test(journal, test_fetch_fingerprints_keyed_and_127_bits);
  tcase_add_test(journal, test_fetch_fpset);
  tcase_add_test(journal, test_fetch_journal_roundtrip);
  tcase_add_test(journal, test_fetch_journal_torn_and_corrupt);
  tcase_add_test(journal, test_fetch_journal_rejects);
  tcase_add_test(journal, test_fetch_spill_fifo);
  tcase_add_test(journal, test_fetch_state_replay_cuts_torn_groups);
  tcase_add_test(journal, test_fetch_state_output_repair);
  tcase_set_timeout(journal, 120);
  suite_add_tcase(s, core);
  suite_add_tcase(s, errors);
  suite_add_tcase(s, limits);
  suite_add_tcase(s, sitemap);
  suite_add_tcase(s, journal);
  return s;
}

WEFT_TEST_MAIN(fetch_suite)
