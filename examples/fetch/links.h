/*
 * links.h - the links of an HTML page: the href and src of a, link, area,
 * frame and iframe elements, resolved against the page's URL or its
 * <base href>, normalised (url_normalize) and de-duplicated. Parsing is
 * Gumbo's (the HTML5 algorithm: entities decoded, tag and attribute names
 * in any case, comments and script text skipped). Any thread.
 */
#ifndef FETCH_LINKS_H
#define FETCH_LINKS_H

#include <stddef.h>
#include <stdint.h>

/* Errors of links_extract. */
#define LINKS_ENOMEM (-1)
#define LINKS_EBUDGET (-2) /* the parse outgrew its memory or time budget */

struct links {
  char **urls; /* distinct http: and https: URLs in document order, malloc'd */
  size_t len;
  size_t cap;
};

/*
 * Find the links in the len bytes of html, a page fetched from page_url
 * (an absolute, normalised URL). Only http: and https: links with a host
 * are kept; other schemes (mailto:, javascript:, ...) and references that
 * are not URLs are skipped. The parse may use 32 times len plus
 * 32 MiB of memory and must end by deadline (weft_now() milliseconds, -1:
 * none); past either it is abandoned with LINKS_EBUDGET. Returns 0,
 * LINKS_ENOMEM, LINKS_EBUDGET; out is empty after a failure. Free out
 * with links_free.
 */
int links_extract(const char *html, size_t len, const char *page_url, int64_t deadline,
                  struct links *out);

void links_free(struct links *l);

#endif
