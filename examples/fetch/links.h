/*
 * links.h - the links of an HTML page: the href and src of a, link, area,
 * frame and iframe elements, resolved against the page's URL or its first
 * <base href>, normalised (url_normalize) and de-duplicated. The page is
 * read by the streaming tokenizer of html.h as its bytes arrive; the raw
 * link values are held until the page ends, because a <base href>
 * anywhere in the page applies to every link in it, even those before it.
 * Any thread; one page per struct.
 */
#ifndef FETCH_LINKS_H
#define FETCH_LINKS_H

#include "html.h"

#include <stddef.h>
#include <stdint.h>

/* Errors of the links_* functions. */
#define LINKS_ENOMEM (-1)

struct links {
  char **urls; /* distinct http: and https: URLs in document order, malloc'd */
  size_t len;
  size_t cap;
};

/* A page being scanned. */
struct links_scan {
  struct html_tok tok;
  char *raw;      /* the raw link values, each NUL-terminated, in document order */
  size_t raw_len; /* bytes used in raw */
  size_t raw_cap;
  size_t base;    /* offset in raw of the first <base href>, or SIZE_MAX */
  int failed;     /* out of memory: the scan is lost */
};

/* Start scanning a page. */
void links_scan_init(struct links_scan *s);

/* Scan the next len bytes of the page (split anywhere). Returns 0 or
 * LINKS_ENOMEM; after a failure, further feeds fail too. */
int links_scan_feed(struct links_scan *s, const char *data, size_t len);

/*
 * The page has ended; page_url (an absolute, normalised URL) is where it
 * came from. Resolve its links into *out: only http: and https: links
 * with a host are kept; other schemes (mailto:, javascript:, ...) and
 * references that are not URLs are skipped. Yields every 256 links when
 * called from a task. Returns 0 or LINKS_ENOMEM (out is then empty). Free
 * out with links_free; s must still be destroyed.
 */
int links_scan_finish(struct links_scan *s, const char *page_url, struct links *out);

/* Free what s holds. */
void links_scan_destroy(struct links_scan *s);

/* The links of the len bytes of html, scanned in one piece. Returns 0 or
 * LINKS_ENOMEM. */
int links_extract(const char *html, size_t len, const char *page_url, struct links *out);

void links_free(struct links *l);

#endif
