/*
 * fuzz_html.c - libFuzzer harness for fetch's streaming HTML link
 * tokenizer (examples/fetch/html.c, with the generated entities.c) and
 * the link list built on it (links.c, which resolves with url.c).
 *
 * Input: the bytes of a page.
 *
 * The tokenizer promises that a page may be split anywhere, so it is fed
 * the page three times: whole, in two pieces split at a point derived
 * from the input, and in small pieces whose sizes derive from the input.
 * Asserted:
 *  - all three report the same links, in the same order, with the same
 *    values (compared as a log of every callback);
 *  - every reported value is what html.h says: len bytes with no NUL,
 *    NUL-terminated, at most HTML_VALUE_MAX, of a link element's href or
 *    src (never a base's src);
 *  - the page's links (links_scan_*, split at the same point, against
 *    the page URL PAGE) equal links_extract's of the whole page, and
 *    each is a distinct http(s) URL in normal form: url_normalize leaves
 *    it as it is.
 *
 * links.c yields every 256 links when it runs in a weft task; here it
 * never does, and weft_stub.c stands in for the two weft calls it makes.
 */
#include "html.h"
#include "links.h"
#include "url.h"

#include "fuzz.h"

#include <string.h>

#define PAGE "http://example.com/dir/page.html?q=1"

/* A log of the tokenizer's callbacks: for each, the element, the
 * attribute and the value, as a digest and a count. */
struct link_log {
  uint64_t hash;
  size_t count;
};

static int on_link(void *arg, enum html_elem el, enum html_attr at, const char *value, size_t len) {
  struct link_log *log = arg;
  unsigned char head[2] = {(unsigned char)el, (unsigned char)at};
  FUZZ_CHECK(el <= HTML_BASE && (at == HTML_HREF || at == HTML_SRC), "element %d attribute %d",
             (int)el, (int)at);
  FUZZ_CHECK(!(el == HTML_BASE && at == HTML_SRC), "a base's src was reported");
  FUZZ_CHECK(len <= HTML_VALUE_MAX, "a value of %zu bytes", len);
  FUZZ_CHECK(value[len] == '\0' && strlen(value) == len, "the value holds a NUL or lacks one");
  log->hash = fuzz_hash(head, 2, log->hash);
  log->hash = fuzz_hash(value, len + 1, log->hash);
  log->count++;
  return 0;
}

/* Tokenize page (n bytes): first its split bytes (none when split is 0),
 * then the rest, whole when seed is 0, else in pieces sized from seed. */
static struct link_log tokenize(const char *page, size_t n, size_t split, uint64_t seed) {
  struct link_log log = {FUZZ_HASH_INIT, 0};
  struct html_tok t;
  size_t off = 0;

  html_init(&t, on_link, &log);
  while (off < n) {
    size_t len = off == 0 && split ? split : seed ? fuzz_piece(&seed, n - off) : n - off;
    char *piece = fuzz_copy(page + off, len);
    FUZZ_CHECK(html_feed(&t, piece, len) == 0, "html_feed failed");
    free(piece);
    off += len;
  }
  FUZZ_CHECK(html_end(&t) == 0, "html_end failed");
  html_destroy(&t);
  return log;
}

static void check_same(struct link_log a, struct link_log b, const char *how) {
  FUZZ_CHECK(a.count == b.count && a.hash == b.hash,
             "whole: %zu links, %s: %zu links (or values differ)", a.count, how, b.count);
}

/* The links of the page, scanned in two pieces, against those of
 * links_extract; each a distinct normal http(s) URL. */
static void check_links(const char *page, size_t n, size_t split) {
  struct links_scan s;
  struct links split_links, whole_links;

  links_scan_init(&s);
  FUZZ_CHECK(links_scan_feed(&s, page, split) == 0, "links_scan_feed failed");
  FUZZ_CHECK(links_scan_feed(&s, page + split, n - split) == 0, "links_scan_feed failed");
  FUZZ_CHECK(links_scan_finish(&s, PAGE, &split_links) == 0, "links_scan_finish failed");
  links_scan_destroy(&s);
  FUZZ_CHECK(links_extract(page, n, PAGE, &whole_links) == 0, "links_extract failed");
  FUZZ_CHECK(split_links.len == whole_links.len, "%zu links split, %zu whole", split_links.len,
             whole_links.len);
  for (size_t i = 0; i < split_links.len; i++) {
    const char *u = split_links.urls[i];
    char *again = NULL;
    FUZZ_CHECK(strcmp(u, whole_links.urls[i]) == 0, "link %zu: '%s' split, '%s' whole", i, u,
               whole_links.urls[i]);
    FUZZ_CHECK(url_is_scheme(u, "http") || url_is_scheme(u, "https"), "link '%s'", u);
    FUZZ_CHECK(url_normalize(u, &again) == 0 && strcmp(again, u) == 0,
               "link '%s' normalises to '%s'", u, again ? again : "(error)");
    free(again);
    for (size_t j = 0; j < i; j++)
      FUZZ_CHECK(strcmp(split_links.urls[j], u) != 0, "link '%s' twice", u);
  }
  links_free(&split_links);
  links_free(&whole_links);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *page = (const char *)data;
  uint64_t seed = fuzz_hash(data, size, FUZZ_HASH_INIT) | 1;
  size_t split = size ? (size_t)(seed >> 16) % (size + 1) : 0;
  struct link_log whole = tokenize(page, size, 0, 0);

  check_same(whole, tokenize(page, size, split, 0), "split in two");
  check_same(whole, tokenize(page, size, 0, seed), "in small pieces");
  check_links(page, size, split);
  return 0;
}
