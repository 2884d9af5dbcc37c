/*
 * record.c - JSON records (see record.h).
 */
#include "record.h"

#include <inttypes.h>

/* The length of the valid UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), or 0 if there is none. */
static size_t utf8_len(const unsigned char *s) {
  unsigned char c = s[0];
  unsigned char lo = 0x80, hi = 0xbf;
  size_t n;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4;
  else
    return 0;
  if (c == 0xe0)
    lo = 0xa0; /* overlong */
  else if (c == 0xed)
    hi = 0x9f; /* surrogates */
  else if (c == 0xf0)
    lo = 0x90; /* overlong */
  else if (c == 0xf4)
    hi = 0x8f; /* past U+10FFFF */
  if (s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if (s[i] < 0x80 || s[i] > 0xbf)
      return 0;
  return n;
}

void json_string(struct buf *b, const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  buf_putc(b, '"');
  while (*s) {
    size_t n = utf8_len(s);
    if (n == 0) {
      buf_puts(b, "\\ufffd");
      s++;
      continue;
    }
    switch (*s) {
    case '"': buf_puts(b, "\\\""); break;
    case '\\': buf_puts(b, "\\\\"); break;
    case '\b': buf_puts(b, "\\b"); break;
    case '\f': buf_puts(b, "\\f"); break;
    case '\n': buf_puts(b, "\\n"); break;
    case '\r': buf_puts(b, "\\r"); break;
    case '\t': buf_puts(b, "\\t"); break;
    default:
      if (*s < 0x20 || *s == 0x7f)
        buf_printf(b, "\\u%04x", *s);
      else
        buf_append(b, s, n);
    }
    s += n;
  }
  buf_putc(b, '"');
}

void record_format(struct buf *b, const struct record *r) {
  buf_puts(b, "{\"url\":");
  json_string(b, r->url);
  buf_printf(b,
             ",\"status\":%d,\"bytes\":%" PRIu64 ",\"wire_bytes\":%" PRIu64 ",\"ms\":%" PRId64
             ",\"depth\":%d,\"links\":%zu,\"attempts\":%d",
             r->status, r->bytes, r->wire_bytes, r->ms, r->depth, r->links, r->attempts);
  if (r->redirect) {
    buf_puts(b, ",\"redirect\":");
    json_string(b, r->redirect);
  }
  if (r->tls) {
    buf_puts(b, ",\"tls\":");
    json_string(b, r->tls);
  }
  if (r->error) {
    buf_puts(b, ",\"error\":");
    json_string(b, r->error);
  }
  buf_puts(b, "}\n");
}
