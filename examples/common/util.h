/*
 * util.h - the few helpers that several examples need alike (echo, httpd,
 * fetch): raising the descriptor limit of a server, reading a number
 * from the command line, and reading hex digits. No weft calls; any thread.
 */
#ifndef EXAMPLES_UTIL_H
#define EXAMPLES_UTIL_H

#include <stddef.h>

/* Room for many connections: raise the soft limit on open descriptors to
 * the hard one. Failing leaves the limit as it was. Call from main(). */
void util_raise_fd_limit(void);

/* Parse s, an option what's argument, as a whole decimal number in
 * [lo, hi] into *out. Returns 0, or -1 after a message on stderr:
 * "PROG: WHAT: 'S' is not a number from LO to HI". */
int util_number(const char *prog, const char *what, const char *s, long lo, long hi, long *out);

/* The value of the hex digit c (0-9, a-f, A-F), or -1. */
int util_hex_value(int c);

/* Decode 2n hex digits at s (at least that many bytes, not necessarily
 * NUL-terminated) into the n bytes at out. Returns 0, or -1 at the first
 * character that is not a hex digit (out is then partly written). */
int util_unhex(const char *s, unsigned char *out, size_t n);

#endif
