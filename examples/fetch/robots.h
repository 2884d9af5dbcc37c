/*
 * robots.h - robots.txt as RFC 9309 reads it: the rules of the groups for
 * fetch's product token if the file has any, else those of the "*" groups;
 * the longest matching Allow or Disallow pattern decides ("*" matches any
 * run of bytes, a final "$" the end), Allow winning a tie; an empty
 * Disallow allows everything. Pure, any thread; a parsed file is
 * read-only and may be shared.
 */
#ifndef FETCH_ROBOTS_H
#define FETCH_ROBOTS_H

#include <stddef.h>

struct robots;

/*
 * Parse the len bytes of a robots.txt for the crawler whose product token
 * is agent ("weft-fetch"). Returns the rules, or NULL when out of memory.
 */
struct robots *robots_parse(const char *text, size_t len, const char *agent);

/* Nonzero when r lets the crawler request target (a request target: path
 * and query, normalised by url_normalize). A NULL r allows everything. */
int robots_allowed(const struct robots *r, const char *target);

/* The number of rules that apply to the crawler. */
size_t robots_rules(const struct robots *r);

/* The Crawl-delay of the groups that apply, in milliseconds (fractions
 * of a second kept, at most a day), or -1 when they give none or r is NULL. */
long robots_crawl_delay_ms(const struct robots *r);

/* The file's Sitemap: URLs as written, in order, the first 1,000 at most:
 * sets *urls (valid while r lives) and returns how many. */
size_t robots_sitemaps(const struct robots *r, const char *const **urls);

void robots_free(struct robots *r);

#endif
