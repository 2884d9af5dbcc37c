/*
 * fuzz_decode.c - libFuzzer harness for fetch's Content-Encoding
 * decoders (examples/fetch/decode.c: gzip and deflate by zlib, br by
 * brotli) with a small max_out.
 *
 * Input: two control bytes, then a payload.
 *
 *   byte 0, bits 0-1  the coding: identity, gzip, deflate, br
 *   byte 0, bit 2     round trip: the payload is encoded here first (by
 *                     zlib's or brotli's own encoder) and must decode to
 *                     itself; else the payload is decoded as it is
 *   byte 0, bit 3     max_out is byte 1; else byte 1 * 128 (up to 32640,
 *                     so a cut can fall past the first DECODE_PIECE)
 *   byte 0, bits 4-5  round trip: deflate in the zlib format (0) or raw
 *                     (1); gzip in two members (bit 4) and with trailing
 *                     garbage (bit 5); br at quality 0 to 3 (a higher
 *                     one takes milliseconds an input under ASan)
 *
 * The body is decoded twice, fed whole and in pieces whose sizes derive
 * from the input. Asserted, each time:
 *  - the bomb rule: at most max_out bytes reach the sink, in pieces of 1
 *    to DECODE_PIECE bytes, and decoder_out counts them; DECODE_ETOOBIG
 *    comes only with exactly max_out bytes delivered;
 *  - errors are sticky: after one, feeding more returns it again and
 *    delivers nothing, and decoder_end returns it too;
 *  - the split does not matter: both runs deliver the same bytes and end
 *    with the same results; but for a br body that fails, where brotli
 *    drops the bytes it held back (decode.c, "Errors and splits"): then
 *    both runs fail, as corrupt or too long, and what one delivered is a
 *    prefix of what the other did;
 *  - a round trip gives back the payload, cut at max_out (then with
 *    DECODE_ETOOBIG), else whole with no error.
 */
#include "decode.h"

#include "fuzz.h"

#include <brotli/encode.h>
#include <string.h>

/* What the sink received. */
struct sink_log {
  unsigned char *data; /* the first cap bytes delivered, to compare */
  size_t cap;
  uint64_t bytes;
  uint64_t hash;
};

static int sink(void *arg, const char *p, size_t len) {
  struct sink_log *s = arg;
  FUZZ_CHECK(len > 0 && len <= DECODE_PIECE, "a piece of %zu bytes", len);
  if (s->bytes < s->cap)
    memcpy(s->data + s->bytes, p, len < s->cap - s->bytes ? len : s->cap - s->bytes);
  s->bytes += len;
  s->hash = fuzz_hash(p, len, s->hash);
  return 0;
}

/* One decode's outcome. */
struct outcome {
  int feed_err; /* the first error a feed returned, or 0 */
  int end_err;  /* what decoder_end returned */
  uint64_t bytes;
  uint64_t hash;
};

/* Decode in (n bytes) with coding c, whole when seed is 0, else in
 * pieces. The first cap bytes delivered go to out. */
static void decode(enum decode_coding c, size_t max_out, const unsigned char *in, size_t n,
                   uint64_t seed, unsigned char *out, size_t cap, struct outcome *o) {
  struct sink_log log = {out, cap, 0, FUZZ_HASH_INIT};
  struct decoder d;
  size_t off = 0;
  int err = 0;

  FUZZ_CHECK(decoder_init(&d, c, max_out, sink, &log) == 0, "decoder_init failed");
  while (off < n) {
    size_t len = seed ? fuzz_piece(&seed, n - off) : n - off;
    uint64_t before = log.bytes;
    char *piece = fuzz_copy(in + off, len);
    int e = decoder_feed(&d, piece, len);
    free(piece);
    FUZZ_CHECK(e == 0 || e == DECODE_ECORRUPT || e == DECODE_ETOOBIG, "feed returned %d", e);
    FUZZ_CHECK(!err || (e == err && log.bytes == before), "error %d, then %d and %llu bytes", err,
               e, (unsigned long long)(log.bytes - before));
    err = e;
    FUZZ_CHECK(decoder_out(&d) == log.bytes && log.bytes <= max_out,
               "out %llu, sink %llu, max_out %zu", (unsigned long long)decoder_out(&d),
               (unsigned long long)log.bytes, max_out);
    FUZZ_CHECK(e != DECODE_ETOOBIG || log.bytes == max_out, "too big after %llu of %zu bytes",
               (unsigned long long)log.bytes, max_out);
    off += len;
  }
  o->feed_err = err;
  o->end_err = decoder_end(&d);
  FUZZ_CHECK(!err || o->end_err == err, "end returned %d after error %d", o->end_err, err);
  FUZZ_CHECK(err || o->end_err == 0 || o->end_err == DECODE_ETRUNCATED ||
                 o->end_err == DECODE_ECORRUPT,
             "end returned %d", o->end_err);
  FUZZ_CHECK(decoder_out(&d) == log.bytes, "decoder_out changed at the end");
  o->bytes = log.bytes;
  o->hash = log.hash;
  decoder_destroy(&d);
}

/* A growable encoded body. */
struct body {
  unsigned char *data;
  size_t len;
};

/* Append n bytes of p to b, zlib-encoded with window bits w. */
static void zlib_encode(struct body *b, const unsigned char *p, size_t n, int w, int level) {
  z_stream z;
  size_t bound;
  memset(&z, 0, sizeof z);
  FUZZ_CHECK(deflateInit2(&z, level, Z_DEFLATED, w, 8, Z_DEFAULT_STRATEGY) == Z_OK, "deflateInit2");
  bound = deflateBound(&z, (uLong)n) + 32;
  b->data = realloc(b->data, b->len + bound);
  FUZZ_CHECK(b->data != NULL, "out of memory");
  z.next_in = (Bytef *)p;
  z.avail_in = (uInt)n;
  z.next_out = b->data + b->len;
  z.avail_out = (uInt)bound;
  FUZZ_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END, "deflate did not finish");
  b->len += bound - z.avail_out;
  deflateEnd(&z);
}

/* Encode the payload as byte 0 of the input says. */
static void encode(enum decode_coding c, int ctl, const unsigned char *p, size_t n,
                   struct body *b) {
  static const int br_quality[4] = {0, 1, 2, 3};
  int level = (int)(n % 10);
  switch (c) {
  case DECODE_IDENTITY:
    b->data = malloc(n + 1);
    FUZZ_CHECK(b->data != NULL, "out of memory");
    memcpy(b->data, p, n);
    b->len = n;
    break;
  case DECODE_GZIP:
    if (ctl & 16) { /* two members */
      zlib_encode(b, p, n / 2, 16 + MAX_WBITS, level);
      zlib_encode(b, p + n / 2, n - n / 2, 16 + MAX_WBITS, level);
    } else {
      zlib_encode(b, p, n, 16 + MAX_WBITS, level);
    }
    if (ctl & 32) { /* trailing garbage, as some servers send */
      b->data = realloc(b->data, b->len + 2);
      FUZZ_CHECK(b->data != NULL, "out of memory");
      memcpy(b->data + b->len, "\0\n", 2);
      b->len += 2;
    }
    break;
  case DECODE_DEFLATE:
    zlib_encode(b, p, n, (ctl & 16) ? -MAX_WBITS : MAX_WBITS, level);
    break;
  case DECODE_BR: {
    size_t len = BrotliEncoderMaxCompressedSize(n) + 16;
    b->data = malloc(len);
    FUZZ_CHECK(b->data != NULL, "out of memory");
    FUZZ_CHECK(BrotliEncoderCompress(br_quality[(ctl >> 4) & 3], BROTLI_DEFAULT_WINDOW,
                                     BROTLI_MODE_GENERIC, n, p, &len, b->data),
               "brotli could not encode %zu bytes", n);
    b->len = len;
    break;
  }
  }
}

/* Decode the round trip's body and compare with the payload. */
static void round_trip(enum decode_coding c, int ctl, size_t max_out, const unsigned char *p,
                       size_t n, uint64_t seed) {
  struct body b = {NULL, 0};
  struct outcome o;
  size_t want = n < max_out ? n : max_out;
  unsigned char *out = malloc(want + 1);

  FUZZ_CHECK(out != NULL, "out of memory");
  encode(c, ctl, p, n, &b);
  decode(c, max_out, b.data, b.len, seed, out, want, &o);
  FUZZ_CHECK(o.bytes == want, "round trip gave %llu of %zu bytes", (unsigned long long)o.bytes,
             want);
  FUZZ_CHECK(memcmp(out, p, want) == 0, "round trip changed the bytes");
  FUZZ_CHECK(o.feed_err == (n > max_out ? DECODE_ETOOBIG : 0), "round trip: feed error %d",
             o.feed_err);
  FUZZ_CHECK(o.end_err == o.feed_err, "round trip: end error %d", o.end_err);
  free(b.data);
  free(out);
}

/* Fed whole and in pieces, a body decodes alike. */
static void check_same(const struct outcome *whole, const struct outcome *split) {
  FUZZ_CHECK(whole->feed_err == split->feed_err && whole->end_err == split->end_err,
             "whole ended %d/%d, split %d/%d", whole->feed_err, whole->end_err, split->feed_err,
             split->end_err);
  FUZZ_CHECK(whole->bytes == split->bytes && whole->hash == split->hash,
             "whole gave %llu bytes, split %llu", (unsigned long long)whole->bytes,
             (unsigned long long)split->bytes);
}

/* A br body that failed both ways: failed alike, but for how far it got. */
static void check_br_failures(const struct outcome *a, const unsigned char *a_out,
                              const struct outcome *b, const unsigned char *b_out) {
  size_t n = a->bytes < b->bytes ? (size_t)a->bytes : (size_t)b->bytes;
  FUZZ_CHECK((a->end_err == DECODE_ECORRUPT || a->end_err == DECODE_ETOOBIG) &&
                 (b->end_err == DECODE_ECORRUPT || b->end_err == DECODE_ETOOBIG),
             "br failed with %d whole, %d split", a->end_err, b->end_err);
  FUZZ_CHECK(memcmp(a_out, b_out, n) == 0, "br: the bytes delivered differ within the first %zu",
             n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  enum decode_coding c;
  struct outcome whole, split;
  unsigned char *whole_out, *split_out;
  uint64_t seed;
  size_t max_out;
  int ctl;

  if (size < 2)
    return 0;
  ctl = data[0];
  c = (enum decode_coding)(ctl & 3);
  max_out = (ctl & 8) ? data[1] : (size_t)data[1] * 128;
  seed = fuzz_hash(data, size, FUZZ_HASH_INIT) | 1;
  data += 2;
  size -= 2;
  if (ctl & 4) {
    round_trip(c, ctl, max_out, data, size, seed);
    return 0;
  }
  whole_out = malloc(max_out + 1);
  split_out = malloc(max_out + 1);
  FUZZ_CHECK(whole_out && split_out, "out of memory");
  decode(c, max_out, data, size, 0, whole_out, max_out, &whole);
  decode(c, max_out, data, size, seed, split_out, max_out, &split);
  if (c == DECODE_BR && whole.end_err && split.end_err &&
      (whole.end_err != split.end_err || whole.bytes != split.bytes))
    check_br_failures(&whole, whole_out, &split, split_out);
  else
    check_same(&whole, &split);
  free(whole_out);
  free(split_out);
  return 0;
}
