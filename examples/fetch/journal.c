/*
 * journal.c - journal frames and entries (see journal.h).
 *
 * The crc covers the length field as well as the payload, so a length
 * damaged into another plausible value still fails the check instead of
 * framing the wrong bytes. A frame whose crc matches but whose payload
 * is malformed is treated like a bad crc: crc32 is no defence against a
 * deliberate forgery, only against accidents, and an entry this program
 * could not have written is an accident nobody should build on.
 */
#include "journal.h"

#include <string.h>
#include <zlib.h>

static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++, v >>= 8)
    p[i] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put64(unsigned char *p, uint64_t v) {
  put32(p, (uint32_t)v);
  put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get64(const unsigned char *p) {
  return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint32_t frame_crc(const unsigned char *len_field, const unsigned char *payload, size_t n) {
  uLong crc = crc32(0L, len_field, 4);
  return (uint32_t)crc32(crc, payload, (uInt)n);
}

/* Whether the n bytes at s are one record line: no newline but the last. */
static int one_line(const char *s, size_t n) {
  return n == 0 || (s[n - 1] == '\n' && memchr(s, '\n', n - 1) == NULL);
}

/* The payload size of e, or 0 when e cannot be an entry. */
static size_t payload_size(const struct jentry *e) {
  switch (e->type) {
  case JOURNAL_HEADER:
    return e->text_len >= sizeof JOURNAL_MAGIC - 1 &&
                   memcmp(e->text, JOURNAL_MAGIC, sizeof JOURNAL_MAGIC - 1) == 0
               ? 1 + e->text_len
               : 0;
  case JOURNAL_JOIN:
    if (e->hops < 0 || e->hops > 255 || (e->start != 0 && e->start != 1) || e->sitemap < 0 ||
        e->sitemap > 127 || e->error < 0 ||
        e->error > 255 || (e->url_len > 0 && memchr(e->url, '\0', e->url_len)))
      return 0;
    return 8 + e->url_len;
  case JOURNAL_DONE:
    if (!one_line(e->line, e->line_len) || (e->fp.lo == 0 && e->fp.hi == 0) || e->fp.hi >> 63)
      return 0;
    return 17 + e->line_len;
  case JOURNAL_COMMIT:
    return 1;
  }
  return 0;
}

int journal_put(struct buf *b, const struct jentry *e) {
  static const unsigned char unset[JOURNAL_FRAME]; /* length and crc, filled in at the end */
  size_t n = payload_size(e), at = b->len;
  unsigned char *p;
  if (n == 0 || n > JOURNAL_MAX)
    return -1;
  buf_append(b, unset, sizeof unset);
  buf_putc(b, (char)e->type);
  switch (e->type) {
  case JOURNAL_HEADER:
    buf_append(b, e->text, e->text_len);
    break;
  case JOURNAL_JOIN: {
    unsigned char f[7];
    put32(f, e->depth);
    f[4] = (unsigned char)e->hops;
    f[5] = (unsigned char)(e->start | e->sitemap << 1);
    f[6] = (unsigned char)e->error;
    buf_append(b, f, sizeof f);
    buf_append(b, e->url, e->url_len);
    break;
  }
  case JOURNAL_DONE: {
    unsigned char f[16];
    put64(f, e->fp.lo);
    put64(f + 8, e->fp.hi);
    buf_append(b, f, sizeof f);
    buf_append(b, e->line, e->line_len);
    break;
  }
  }
  if (buf_failed(b))
    return 0;
  p = (unsigned char *)b->data + at;
  put32(p, (uint32_t)n);
  put32(p + 4, frame_crc(p, p + JOURNAL_FRAME, n));
  return 0;
}

/* Decode payload p (n bytes, n >= 1) into *e. Returns JOURNAL_OK or BAD. */
static int decode(const unsigned char *p, size_t n, struct jentry *e) {
  memset(e, 0, sizeof *e);
  e->type = p[0];
  switch (p[0]) {
  case JOURNAL_HEADER:
    e->text = (const char *)p + 1;
    e->text_len = n - 1;
    break;
  case JOURNAL_JOIN:
    if (n < 8)
      return JOURNAL_BAD;
    e->depth = get32(p + 1);
    e->hops = p[5];
    e->start = p[6] & 1;
    e->sitemap = p[6] >> 1;
    e->error = p[7];
    e->url = (const char *)p + 8;
    e->url_len = n - 8;
    break;
  case JOURNAL_DONE:
    if (n < 17)
      return JOURNAL_BAD;
    e->fp.lo = get64(p + 1);
    e->fp.hi = get64(p + 9);
    e->line = n > 17 ? (const char *)p + 17 : NULL;
    e->line_len = n - 17;
    break;
  case JOURNAL_COMMIT:
    break;
  default:
    return JOURNAL_BAD;
  }
  return payload_size(e) == n ? JOURNAL_OK : JOURNAL_BAD; /* the writer's own checks */
}

int journal_next(const void *data, size_t avail, struct jentry *e, size_t *used) {
  const unsigned char *p = data;
  uint32_t n;
  if (avail < JOURNAL_FRAME)
    return JOURNAL_SHORT;
  n = get32(p);
  if (n == 0 || n > JOURNAL_MAX)
    return JOURNAL_BAD;
  if (avail - JOURNAL_FRAME < n)
    return JOURNAL_SHORT;
  if (get32(p + 4) != frame_crc(p, p + JOURNAL_FRAME, n))
    return JOURNAL_BAD;
  if (decode(p + JOURNAL_FRAME, n, e) != JOURNAL_OK)
    return JOURNAL_BAD;
  *used = JOURNAL_FRAME + n;
  return JOURNAL_OK;
}
