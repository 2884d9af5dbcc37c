/*
 * sitemap.h - XML sitemaps as sitemaps.org describes them: a <urlset> of
 * <url> entries, each naming a page in its <loc>, or a <sitemapindex> of
 * <sitemap> entries, each naming another sitemap. A body is read whole
 * (gzip-compressed or not, told by its first bytes) into the list of page
 * URLs or of sitemap URLs it names, within the protocol's limits. It does
 * no I/O. Pure, any thread; one body per struct.
 */
#ifndef FETCH_SITEMAP_H
#define FETCH_SITEMAP_H

#include <stddef.h>

/* The protocol's limits: entries per sitemap, and its size uncompressed. */
#define SITEMAP_MAX_ENTRIES 50000
#define SITEMAP_MAX_BYTES (50 * 1024 * 1024)

/* Errors of sitemap_parse and sitemap_gunzip; sm->error says more. */
#define SITEMAP_ENOTXML (-1)    /* not XML: nothing was read */
#define SITEMAP_EROOT (-2)      /* XML, but its root is neither urlset nor sitemapindex */
#define SITEMAP_EMALFORMED (-3) /* an XML error inside the root: what came before is kept */
#define SITEMAP_ETOOMANY (-4)   /* over SITEMAP_MAX_ENTRIES entries: the first ones are kept */
#define SITEMAP_ETOOBIG (-5)    /* over SITEMAP_MAX_BYTES, uncompressed */
#define SITEMAP_EGZIP (-6)      /* gzip data that is corrupt or cut short */
#define SITEMAP_ENOMEM (-7)

struct sitemap {
  int index;       /* the root is sitemapindex: its entries are in sitemaps */
  char **urls;     /* a urlset's page URLs: distinct, in document order */
  size_t nurls;
  char **sitemaps; /* an index's sitemap URLs, likewise */
  size_t nsitemaps;
  size_t entries;  /* <url> or <sitemap> entries read, kept or not */
  size_t skipped;  /* entries without a usable <loc>: none, empty, over URL_MAX
                      bytes, not an absolute http(s) URL, or holding markup or an
                      entity reference */
  char error[112]; /* after an error: what went wrong, in a record's words */
};

/*
 * Read the len bytes at data, a sitemap as served: a body starting with
 * the gzip magic (1f 8b) is decompressed first, up to SITEMAP_MAX_BYTES
 * (a bomb is cut there). Each entry's first <loc> is kept when it is an
 * absolute http or https URL, normalised (url_normalize) and not seen
 * before in this body; another <loc> (an image's, a video's) is not the
 * entry's. Elements count by their local name in the root element's
 * namespace, whatever it is, or none. No DTD is loaded, no entity but the
 * five predefined ones and character references is expanded (a <loc>
 * holding another is skipped), nothing is read from the network, and
 * libxml2's limits on depth and text length hold. Fills *sm (free it with
 * sitemap_free, whatever this returns): after SITEMAP_EMALFORMED and
 * SITEMAP_ETOOMANY it holds what was read before the error (sitemap.c
 * says how much). Returns 0 or a SITEMAP_E* error with sm->error set. Does
 * not switch tasks: a parse starts and ends on one thread.
 */
int sitemap_parse(const char *data, size_t len, struct sitemap *sm);

void sitemap_free(struct sitemap *sm);

/* Nonzero when the len bytes at data start with the gzip magic. */
int sitemap_is_gzip(const char *data, size_t len);

/*
 * Decompress the gzip data (len bytes; several members are read as one
 * stream) into *out (malloc'd, NUL-terminated, *out_len bytes), stopping
 * at max_out bytes: decoding a bomb costs at most max_out bytes and the
 * time to make them. Returns 0, SITEMAP_EGZIP, SITEMAP_ETOOBIG or
 * SITEMAP_ENOMEM (*out is then NULL).
 */
int sitemap_gunzip(const char *data, size_t len, size_t max_out, char **out, size_t *out_len);

#endif
