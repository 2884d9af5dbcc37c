/*
 * entities.h - the named character references of the HTML standard, as
 * generated at build time by gen-entities.py from the table Python's
 * standard library carries (html.entities.html5): every name, with its ';'
 * and, for the legacy ones, without.
 */
#ifndef FETCH_ENTITIES_H
#define FETCH_ENTITIES_H

#include <stddef.h>

struct html_entity {
  const char *name;  /* without the '&': "amp;", "amp", "CounterClockwiseContourIntegral;" */
  const char *value; /* its characters in UTF-8 */
};

/* Sorted by name in strcmp order. */
extern const struct html_entity html_entities[];
extern const size_t html_nentities;

#endif
