/*
 * buf.c - the growable byte buffer (see buf.h).
 */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Make room for len more bytes and the NUL. Returns 0 or -1 (b failed). */
static int reserve(struct buf *b, size_t len) {
  size_t need, cap;
  char *p;
  if (b->failed)
    return -1;
  if (len > (size_t)-1 / 2 - b->len)
    goto fail;
  need = b->len + len + 1;
  if (need <= b->cap)
    return 0;
  cap = b->cap ? b->cap : 64;
  while (cap < need)
    cap *= 2;
  if (!(p = realloc(b->data, cap)))
    goto fail;
  b->data = p;
  b->cap = cap;
  return 0;
fail:
  b->failed = 1;
  return -1;
}

void buf_append(struct buf *b, const void *data, size_t len) {
  if (reserve(b, len) != 0)
    return;
  if (len)
    memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s) { buf_append(b, s, strlen(s)); }

void buf_putc(struct buf *b, char c) { buf_append(b, &c, 1); }

void buf_printf(struct buf *b, const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->failed = 1;
    return;
  }
  if (reserve(b, (size_t)n) != 0)
    return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

char *buf_take(struct buf *b) {
  char *p;
  if (!b->failed && !b->data)
    buf_append(b, "", 0);
  if (b->failed) {
    buf_free(b);
    return NULL;
  }
  p = b->data;
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}

void buf_reset(struct buf *b) {
  if (b->failed) {
    buf_free(b);
    return;
  }
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

void buf_free(struct buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->failed = 0;
}
