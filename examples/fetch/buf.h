/*
 * buf.h - a growable byte buffer, kept NUL-terminated, that remembers an
 * allocation failure: after one, every append is a no-op and buf_failed()
 * says so, so a caller checks once at the end instead of after each call.
 */
#ifndef FETCH_BUF_H
#define FETCH_BUF_H

#include <stddef.h>

struct buf {
  char *data; /* NULL until the first append; NUL-terminated after it */
  size_t len;
  size_t cap;
  int failed; /* an allocation failed: the contents are incomplete */
};

#define BUF_INIT                                                                                   \
  { NULL, 0, 0, 0 }

void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Nonzero when an append failed. */
static inline int buf_failed(const struct buf *b) { return b->failed; }

/* Hand the contents to the caller (malloc'd, "" when empty; NULL after a
 * failure, which also frees them) and reset b. */
char *buf_take(struct buf *b);

/* Empty b, keeping its memory (freeing it after a failure). */
void buf_reset(struct buf *b);

/* Free the contents and reset b. */
void buf_free(struct buf *b);

#endif
