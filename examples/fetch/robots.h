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

void robots_free(struct robots *r);

#endif
