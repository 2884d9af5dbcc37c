/*
 * decode.c - the Content-Encoding decoders (see decode.h).
 *
 * zlib does gzip and deflate, brotli's decoder does br; this file adds
 * the streaming, the limits and the rules for what real servers send.
 *
 * Bounded output (the bomb rule). A few kilobytes of gzip or br can
 * stand for gigabytes. Each decoder decodes into one DECODE_PIECE buffer
 * and gives every buffer's worth to the sink before decoding more; once
 * the total would pass max_out, the sink gets the bytes up to max_out and
 * the decoder fails with DECODE_ETOOBIG without decoding the rest. So at
 * most DECODE_PIECE bytes past max_out are ever decoded, the time spent
 * is bounded by max_out, and the memory does not grow with the input:
 * zlib's 32 KiB window and ~7 KiB state; brotli's state and its ring
 * buffer, which is the window the stream declares (at most 16 MiB, as
 * large windows stay disabled; smaller when the stream is shorter); and
 * the 16 KiB buffer. A growing output buffer was rejected: it is what a
 * bomb exploits.
 *
 * Deflate (the "sniff"). RFC 9110 says "deflate" is the zlib format
 * (RFC 1950), but some servers send raw deflate (RFC 1951). Like
 * browsers and curl, the decoder tells them apart by the first two
 * bytes: a zlib header (method 8, a window of at most 32 KiB and a
 * header checksum that is a multiple of 31) means zlib, anything else
 * raw deflate. The bytes are held until both have arrived (or the body
 * ends), then inflated in the chosen mode. curl instead retries raw after
 * zlib reports "incorrect header check"; that needs the rejected bytes
 * kept anyway, so reading them first is simpler.
 *
 * What follows the end. A gzip body may hold several members, as
 * `gzip -d` and RFC 1952 allow; all are decoded. After a member, the
 * next two bytes are read ahead (the "probe"): the gzip magic 1f 8b
 * starts another member, and errors in it are errors of the body;
 * anything else is trailing garbage (padding NULs, a stray newline) and
 * is ignored, as `gzip -d` does (with a warning) and as browsers do for
 * every byte after the first member. curl fails such a body instead; a
 * crawler would rather keep the page a browser shows. Bytes after the end
 * of a deflate or br stream are ignored too.
 *
 * An empty body is complete in every coding (servers send
 * "Content-Encoding: gzip" with Content-Length: 0); one that ends inside
 * a stream, a member or the sniff is DECODE_ETRUNCATED.
 *
 * Errors and splits. The bytes decoded before an error are delivered
 * before it is reported, so a gzip or deflate body gives the same bytes
 * and the same first error however it was split: a body both corrupt and
 * too long fails as too long when its first max_out decoded bytes come
 * before the corruption. brotli cannot promise as much: it keeps decoded
 * bytes in its ring buffer and hands them out when it needs more input
 * or the buffer fills, and an error drops those held back. So a br body
 * fed whole may deliver fewer of its bytes before a corruption than the
 * same body fed in pieces, and fail as corrupt where the pieces failed as
 * too long; what is delivered is a prefix of the decoded bytes either way.
 *
 * States, in d->state: DECODE_AT_START until the first encoded byte
 * (deflate: until the sniff decides), DECODE_IN_BODY while inflating,
 * DECODE_BETWEEN after a gzip member (probing), DECODE_AT_END once the
 * stream has ended. An error is sticky in d->err and overrides them.
 */
#include "decode.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int decode_coding_of(const char *content_encoding, enum decode_coding *out) {
  const char *s = content_encoding ? content_encoding : "";
  size_t len;
  while (*s == ' ' || *s == '\t')
    s++;
  len = strlen(s);
  while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
    len--;
  if (len == 0 || (len == 8 && strncasecmp(s, "identity", 8) == 0))
    *out = DECODE_IDENTITY;
  else if ((len == 4 && strncasecmp(s, "gzip", 4) == 0) ||
           (len == 6 && strncasecmp(s, "x-gzip", 6) == 0))
    *out = DECODE_GZIP;
  else if (len == 7 && strncasecmp(s, "deflate", 7) == 0)
    *out = DECODE_DEFLATE;
  else if (len == 2 && strncasecmp(s, "br", 2) == 0)
    *out = DECODE_BR;
  else
    return -1;
  return 0;
}

/* Record err as d's error, unless it already has one; return d's error. */
static int decode_fail(struct decoder *d, int err) {
  if (!d->err)
    d->err = err;
  return d->err;
}

/* Give the sink the next n decoded bytes, cut at max_out (the bomb rule). */
static int decode_deliver(struct decoder *d, const void *p, size_t n) {
  uint64_t room = (uint64_t)d->max_out - d->out;
  int over = n > room;
  if (over)
    n = (size_t)room;
  if (n && d->sink(d->sink_arg, p, n) != 0)
    return decode_fail(d, DECODE_ESINK);
  d->out += n;
  return over ? decode_fail(d, DECODE_ETOOBIG) : 0;
}

/* Identity: pass the n bytes at p to the sink in pieces. */
static int identity_feed(struct decoder *d, const unsigned char *p, size_t n) {
  while (n > 0) {
    size_t k = n < DECODE_PIECE ? n : DECODE_PIECE;
    int e = decode_deliver(d, p, k);
    if (e)
      return e;
    p += k;
    n -= k;
  }
  return 0;
}

/* Read ahead into d->held until it has two bytes; returns how many of
 * the n bytes at p it took. */
static size_t decode_hold(struct decoder *d, const unsigned char *p, size_t n) {
  size_t k = 0;
  while (d->held_len < 2 && k < n)
    d->held[d->held_len++] = p[k++];
  return k;
}

/* Start d->z for coding c. Returns 0 or DECODE_ENOMEM. */
static int zlib_start(struct decoder *d, enum decode_coding c) {
  if (inflateInit2(&d->z, c == DECODE_GZIP ? 16 + MAX_WBITS : MAX_WBITS) != Z_OK)
    return DECODE_ENOMEM;
  d->zlib_live = 1;
  return 0;
}

/* A failed inflate's code as a DECODE_E* error (Z_NEED_DICT: a preset
 * dictionary no HTTP body can name, so corrupt). */
static int zlib_fail(struct decoder *d, int rc) {
  return decode_fail(d, rc == Z_MEM_ERROR ? DECODE_ENOMEM : DECODE_ECORRUPT);
}

/* Inflate the n bytes at p until they are used up or the stream (gzip:
 * the member) ends; *used says how many were taken. */
static int zlib_run(struct decoder *d, const unsigned char *p, size_t n, size_t *used) {
  z_stream *z = &d->z;
  uInt chunk = n < UINT_MAX ? (uInt)n : UINT_MAX;
  int rc;
  z->next_in = (Bytef *)p;
  z->avail_in = chunk;
  do {
    int e;
    z->next_out = d->buf;
    z->avail_out = DECODE_PIECE;
    rc = inflate(z, Z_NO_FLUSH);
    /* The bytes decoded before a corruption go out first, so the error
     * is the same however the body was split (the bomb rule first). */
    if ((e = decode_deliver(d, d->buf, DECODE_PIECE - z->avail_out)) != 0)
      return e;
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
      return zlib_fail(d, rc);
  } while (rc == Z_OK && (z->avail_in > 0 || z->avail_out == 0));
  *used = chunk - z->avail_in;
  if (rc == Z_STREAM_END)
    d->state = d->coding == DECODE_GZIP ? DECODE_BETWEEN : DECODE_AT_END;
  return 0;
}

/* Inflate the bytes held by the sniff or the probe. */
static int zlib_run_held(struct decoder *d) {
  size_t used, n = d->held_len;
  d->held_len = 0;
  return zlib_run(d, d->held, n, &used);
}

/* Deflate: whether the two bytes at h are a zlib header (RFC 1950
 * section 2.2): method 8, a window of at most 32 KiB, FCHECK. */
static int is_zlib_header(const unsigned char *h) {
  return (h[0] & 0x0f) == 8 && (h[0] >> 4) <= 7 && ((h[0] << 8) | h[1]) % 31 == 0;
}

/* Deflate: the sniff has its bytes (or the body ended); choose zlib or
 * raw deflate and inflate them. */
static int deflate_sniffed(struct decoder *d) {
  if (!(d->held_len == 2 && is_zlib_header(d->held)) && inflateReset2(&d->z, -MAX_WBITS) != Z_OK)
    return decode_fail(d, DECODE_ENOMEM);
  d->state = DECODE_IN_BODY;
  return zlib_run_held(d);
}

/* Gzip: the probe after a member; another member starts with 1f 8b,
 * anything else is ignored to the end of the body. */
static int gzip_probed(struct decoder *d) {
  if (d->held[0] != 0x1f || (d->held_len == 2 && d->held[1] != 0x8b)) {
    d->held_len = 0;
    d->state = DECODE_AT_END;
    return 0;
  }
  if (d->held_len < 2)
    return 0;
  if (inflateReset(&d->z) != Z_OK)
    return decode_fail(d, DECODE_ENOMEM);
  d->state = DECODE_IN_BODY;
  return zlib_run_held(d);
}

/* A failed brotli decode as a DECODE_E* error. */
static int br_fail(struct decoder *d) {
  BrotliDecoderErrorCode c = BrotliDecoderGetErrorCode(d->br);
  int oom = c <= BROTLI_DECODER_ERROR_ALLOC_CONTEXT_MODES &&
            c >= BROTLI_DECODER_ERROR_ALLOC_BLOCK_TYPE_TREES;
  return decode_fail(d, oom ? DECODE_ENOMEM : DECODE_ECORRUPT);
}

/* Decode the n bytes at p until they are used up or the stream ends;
 * *used says how many were taken. */
static int br_run(struct decoder *d, const unsigned char *p, size_t n, size_t *used) {
  size_t avail_in = n;
  const uint8_t *next_in = p;
  BrotliDecoderResult r;
  do {
    size_t avail_out = DECODE_PIECE;
    uint8_t *next_out = d->buf;
    int e;
    r = BrotliDecoderDecompressStream(d->br, &avail_in, &next_in, &avail_out, &next_out, NULL);
    if ((e = decode_deliver(d, d->buf, DECODE_PIECE - avail_out)) != 0)
      return e; /* as in zlib_run, but see "Errors and splits" above */
    if (r == BROTLI_DECODER_RESULT_ERROR)
      return br_fail(d);
    /* NEEDS_MORE_INPUT may come with the buffer full and more output
     * held back: take it now, not at the next feed (which may not come). */
  } while (r == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT || BrotliDecoderHasMoreOutput(d->br));
  *used = n - avail_in;
  if (r == BROTLI_DECODER_RESULT_SUCCESS)
    d->state = DECODE_AT_END;
  return 0;
}

/* Take the next of the n encoded bytes at p as d's state says; *used
 * says how many were taken (none only when the state moved on). */
static int decode_step(struct decoder *d, const unsigned char *p, size_t n, size_t *used) {
  *used = 0;
  switch (d->state) {
  case DECODE_AT_START:
    if (d->coding != DECODE_DEFLATE) {
      d->state = DECODE_IN_BODY;
      return 0;
    }
    *used = decode_hold(d, p, n);
    return d->held_len == 2 ? deflate_sniffed(d) : 0;
  case DECODE_IN_BODY:
    return d->coding == DECODE_BR ? br_run(d, p, n, used) : zlib_run(d, p, n, used);
  case DECODE_BETWEEN:
    *used = decode_hold(d, p, n);
    return gzip_probed(d);
  case DECODE_AT_END:
    *used = n;
    return 0;
  }
  fprintf(stderr, "decode: bad state %d\n", (int)d->state);
  abort();
}

int decoder_init(struct decoder *d, enum decode_coding c, size_t max_out, http_sink_fn sink,
                 void *sink_arg) {
  memset(d, 0, sizeof *d);
  d->coding = c;
  d->max_out = max_out;
  d->sink = sink;
  d->sink_arg = sink_arg;
  if (c == DECODE_IDENTITY)
    return 0;
  if (!(d->buf = malloc(DECODE_PIECE)))
    goto out_fail;
  if (c == DECODE_BR ? !(d->br = BrotliDecoderCreateInstance(NULL, NULL, NULL))
                     : zlib_start(d, c) != 0)
    goto out_free_buf;
  return 0;
out_free_buf:
  free(d->buf);
  d->buf = NULL;
out_fail:
  return decode_fail(d, DECODE_ENOMEM);
}

int decoder_feed(struct decoder *d, const char *data, size_t len) {
  const unsigned char *p = (const unsigned char *)data;
  if (d->err)
    return d->err;
  if (d->coding == DECODE_IDENTITY)
    return identity_feed(d, p, len);
  while (len > 0) {
    size_t used;
    int e = decode_step(d, p, len, &used);
    if (e)
      return e;
    p += used;
    len -= used;
  }
  return 0;
}

int decoder_end(struct decoder *d) {
  int e;
  if (d->err)
    return d->err;
  if (d->state == DECODE_AT_START && d->held_len > 0 && (e = deflate_sniffed(d)) != 0)
    return e;
  if (d->coding != DECODE_IDENTITY && d->state == DECODE_IN_BODY)
    return decode_fail(d, DECODE_ETRUNCATED);
  return 0;
}

uint64_t decoder_out(const struct decoder *d) {
  return d->out;
}

const char *decoder_strerror(const struct decoder *d, int err) {
  static const char *const corrupt[] = {"corrupt identity data", "corrupt gzip data",
                                        "corrupt deflate data", "corrupt br data"};
  static const char *const truncated[] = {"truncated identity data", "truncated gzip data",
                                          "truncated deflate data", "truncated br data"};
  switch (err) {
  case DECODE_ECORRUPT:
    return corrupt[d->coding];
  case DECODE_ETRUNCATED:
    return truncated[d->coding];
  case DECODE_ETOOBIG:
    return "body over --max-body";
  case DECODE_ENOMEM:
  case DECODE_ESINK:
    return "out of memory";
  default:
    return "decoding failed";
  }
}

void decoder_destroy(struct decoder *d) {
  if (d->zlib_live)
    inflateEnd(&d->z);
  d->zlib_live = 0;
  if (d->br)
    BrotliDecoderDestroyInstance(d->br);
  d->br = NULL;
  free(d->buf);
  d->buf = NULL;
}
