/*
 * check_decode.c - examples/fetch/decode.c, the Content-Encoding
 * decoders: round trips of data made here by zlib's and brotli's own
 * encoders, fed whole, a byte at a time and split at every position;
 * corrupt and truncated streams; what follows the end of a stream;
 * decompression bombs cut at max_out; the header values. Needs no weft
 * runtime, so it has its own main rather than testutil.h's.
 */
#define _GNU_SOURCE
#include "../examples/fetch/decode.h"

#include <brotli/encode.h>
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MIB (1024 * 1024)

/* ---- helpers ---- */

/* A byte string the test owns. */
struct bytes {
  unsigned char *data;
  size_t len;
  size_t cap;
};

static void bytes_add(struct bytes *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
      cap *= 2;
    b->data = realloc(b->data, cap);
    ck_assert_ptr_nonnull(b->data);
    b->cap = cap;
  }
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
}

/* What a sink saw, and when it should fail. */
struct seen {
  struct bytes got; /* the bytes, unless count_only */
  int count_only;   /* keep only the counts (bombs) */
  uint64_t total;   /* bytes given */
  size_t calls;     /* calls made */
  size_t fail_on;   /* return nonzero on this call (1-based), 0: never */
  size_t max_piece; /* the largest piece */
};

/* The sink of every test: checks the piece size and records it. */
static int seen_sink(void *arg, const char *data, size_t len) {
  struct seen *s = arg;
  s->calls++;
  if (len == 0 || len > DECODE_PIECE)
    ck_abort_msg("sink got a piece of %zu bytes", len);
  if (len > s->max_piece)
    s->max_piece = len;
  if (s->fail_on && s->calls >= s->fail_on)
    return 1;
  s->total += len;
  if (!s->count_only)
    bytes_add(&s->got, data, len);
  return 0;
}

static void seen_free(struct seen *s) {
  free(s->got.data);
  memset(s, 0, sizeof *s);
}

/* Decode enc with coding c, fed in pieces of step bytes (0: whole), at
 * most max_out bytes out. Returns the first error of decoder_feed, else
 * decoder_end's result. */
static int decode_pieces(enum decode_coding c, const struct bytes *enc, size_t step, size_t max_out,
                         struct seen *s) {
  struct decoder d;
  int rc = 0;
  ck_assert_int_eq(decoder_init(&d, c, max_out, seen_sink, s), 0);
  for (size_t off = 0; off < enc->len && rc == 0; off += step ? step : enc->len) {
    size_t n = step && step < enc->len - off ? step : enc->len - off;
    rc = decoder_feed(&d, (const char *)enc->data + off, n);
  }
  if (rc == 0)
    rc = decoder_end(&d);
  ck_assert_uint_eq(decoder_out(&d), s->total);
  decoder_destroy(&d);
  return rc;
}

/* Decode enc fed as two pieces split at k. */
static int decode_split(enum decode_coding c, const struct bytes *enc, size_t k, struct seen *s) {
  struct decoder d;
  int rc;
  ck_assert_int_eq(decoder_init(&d, c, SIZE_MAX, seen_sink, s), 0);
  rc = decoder_feed(&d, (const char *)enc->data, k);
  if (rc == 0)
    rc = decoder_feed(&d, (const char *)enc->data + k, enc->len - k);
  if (rc == 0)
    rc = decoder_end(&d);
  decoder_destroy(&d);
  return rc;
}

/* Deterministic HTML-ish text of n bytes: compressible, not trivially. */
static struct bytes sample(size_t n) {
  static const char *const words[] = {"<p>",    "the ",  "crawler ", "fetches ", "<a href=\"/x\">",
                                      "pages ", "</a>",  "and ",     "links ",   "\n",
                                      "weft ",  "tasks "};
  struct bytes b = {0};
  uint32_t x = 12345;
  while (b.len < n) {
    const char *w;
    x = x * 1103515245u + 12345u;
    w = words[(x >> 16) % (sizeof words / sizeof *words)];
    bytes_add(&b, w, strlen(w) < n - b.len ? strlen(w) : n - b.len);
  }
  return b;
}

/* zlib's deflate of in: windowBits 16+15 is gzip, 15 zlib, -15 raw. */
static struct bytes zlib_encode(const struct bytes *in, int window_bits) {
  z_stream z = {0};
  struct bytes out = {0};
  ck_assert_int_eq(deflateInit2(&z, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  out.cap = deflateBound(&z, in->len) + 32;
  out.data = malloc(out.cap);
  ck_assert_ptr_nonnull(out.data);
  z.next_in = in->data;
  z.avail_in = in->len;
  z.next_out = out.data;
  z.avail_out = out.cap;
  ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.len = z.total_out;
  deflateEnd(&z);
  return out;
}

/* zlib-wrapped deflate of in, by compress2. */
static struct bytes zlib_compress2(const struct bytes *in) {
  struct bytes out = {0};
  uLongf len = compressBound(in->len);
  out.data = malloc(len);
  ck_assert_ptr_nonnull(out.data);
  ck_assert_int_eq(compress2(out.data, &len, in->data, in->len, 6), Z_OK);
  out.len = out.cap = len;
  return out;
}

/* brotli of in, by BrotliEncoderCompress. */
static struct bytes br_encode(const struct bytes *in) {
  struct bytes out = {0};
  size_t len = BrotliEncoderMaxCompressedSize(in->len);
  out.data = malloc(len ? len : 16);
  ck_assert_ptr_nonnull(out.data);
  ck_assert(BrotliEncoderCompress(5, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, in->len, in->data,
                                  &len, out.data));
  out.len = out.cap = len;
  return out;
}

/* The encoding of in under coding c; for DECODE_DEFLATE, raw picks raw
 * deflate over zlib-wrapped. */
static struct bytes encode(enum decode_coding c, int raw, const struct bytes *in) {
  switch (c) {
  case DECODE_GZIP:
    return zlib_encode(in, 16 + MAX_WBITS);
  case DECODE_DEFLATE:
    return raw ? zlib_encode(in, -MAX_WBITS) : zlib_compress2(in);
  case DECODE_BR:
    return br_encode(in);
  case DECODE_IDENTITY:
    break;
  }
  struct bytes copy = {0};
  bytes_add(&copy, in->data, in->len);
  return copy;
}

/* Assert that s saw exactly want. */
static void assert_seen(const struct seen *s, const struct bytes *want) {
  ck_assert_uint_eq(s->got.len, want->len);
  ck_assert(want->len == 0 || memcmp(s->got.data, want->data, want->len) == 0);
  ck_assert_uint_eq(s->total, want->len);
}

/* Round-trip a large input whole and a byte at a time, and a small one
 * split at every position, under coding c. */
static void round_trip(enum decode_coding c, int raw) {
  struct bytes big = sample(200 * 1024), small = sample(300);
  struct bytes ebig = encode(c, raw, &big), esmall = encode(c, raw, &small);
  size_t steps[] = {0, 1, 7, 4096};
  for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
    struct seen s = {0};
    ck_assert_int_eq(decode_pieces(c, &ebig, steps[i], SIZE_MAX, &s), 0);
    assert_seen(&s, &big);
    if (steps[i] == 0)
      ck_assert_uint_eq(s.max_piece, DECODE_PIECE); /* 200 KiB fed whole fills pieces */
    seen_free(&s);
  }
  for (size_t k = 0; k <= esmall.len; k++) {
    struct seen s = {0};
    ck_assert_int_eq(decode_split(c, &esmall, k, &s), 0);
    assert_seen(&s, &small);
    seen_free(&s);
  }
  free(big.data);
  free(small.data);
  free(ebig.data);
  free(esmall.data);
}

/* ---- core ---- */

START_TEST(test_decode_gzip_round_trip) {
  round_trip(DECODE_GZIP, 0);
}
END_TEST

START_TEST(test_decode_deflate_zlib_round_trip) {
  round_trip(DECODE_DEFLATE, 0);
}
END_TEST

START_TEST(test_decode_deflate_raw_round_trip) {
  round_trip(DECODE_DEFLATE, 1);
}
END_TEST

START_TEST(test_decode_br_round_trip) {
  round_trip(DECODE_BR, 0);
}
END_TEST

START_TEST(test_decode_identity_passes_through) {
  round_trip(DECODE_IDENTITY, 0);
}
END_TEST

/* Two gzip members decode to their concatenation, as `gzip -d` does,
 * however the bytes are split. */
START_TEST(test_decode_gzip_concatenated_members) {
  struct bytes a = sample(500), b = sample(700), both = {0}, enc = {0};
  struct bytes ea = encode(DECODE_GZIP, 0, &a), eb = encode(DECODE_GZIP, 0, &b);
  bytes_add(&both, a.data, a.len);
  bytes_add(&both, b.data, b.len);
  bytes_add(&enc, ea.data, ea.len);
  bytes_add(&enc, eb.data, eb.len);
  for (size_t k = 0; k <= enc.len; k++) {
    struct seen s = {0};
    ck_assert_int_eq(decode_split(DECODE_GZIP, &enc, k, &s), 0);
    assert_seen(&s, &both);
    seen_free(&s);
  }
  free(a.data);
  free(b.data);
  free(both.data);
  free(enc.data);
  free(ea.data);
  free(eb.data);
}
END_TEST

/* Bytes after a gzip member that do not start another (NUL padding, a
 * newline, a lone 1f, 1f without 8b) are ignored, split anywhere. */
START_TEST(test_decode_gzip_trailing_garbage_is_ignored) {
  static const struct {
    const char *bytes;
    size_t len;
  } tails[] = {{"\0\0\0\0", 4}, {"\r\n", 2}, {"\x1f", 1}, {"\x1f\x00garbage", 9}, {"x\x1f\x8b", 3}};
  struct bytes text = sample(400), member = encode(DECODE_GZIP, 0, &text);
  for (size_t t = 0; t < sizeof tails / sizeof *tails; t++) {
    struct bytes enc = {0};
    bytes_add(&enc, member.data, member.len);
    bytes_add(&enc, tails[t].bytes, tails[t].len);
    for (size_t k = 0; k <= enc.len; k++) {
      struct seen s = {0};
      ck_assert_int_eq(decode_split(DECODE_GZIP, &enc, k, &s), 0);
      assert_seen(&s, &text);
      seen_free(&s);
    }
    free(enc.data);
  }
  free(text.data);
  free(member.data);
}
END_TEST

/* Bytes after the end of a deflate (either form) or br stream are
 * ignored. */
START_TEST(test_decode_deflate_and_br_trailing_bytes_are_ignored) {
  struct bytes text = sample(400);
  for (int i = 0; i < 3; i++) {
    enum decode_coding c = i == 2 ? DECODE_BR : DECODE_DEFLATE;
    struct bytes enc = encode(c, i == 1, &text);
    struct seen s = {0};
    bytes_add(&enc, "\x1f\x8b trailing\n", 12);
    ck_assert_int_eq(decode_pieces(c, &enc, 3, SIZE_MAX, &s), 0);
    assert_seen(&s, &text);
    seen_free(&s);
    free(enc.data);
  }
  free(text.data);
}
END_TEST

/* A body of no bytes is complete in every coding and decodes to none. */
START_TEST(test_decode_empty_body_is_complete) {
  for (int c = DECODE_IDENTITY; c <= DECODE_BR; c++) {
    struct decoder d;
    struct seen s = {0};
    ck_assert_int_eq(decoder_init(&d, c, 100, seen_sink, &s), 0);
    ck_assert_int_eq(decoder_feed(&d, "", 0), 0);
    ck_assert_int_eq(decoder_end(&d), 0);
    ck_assert_uint_eq(decoder_out(&d), 0);
    ck_assert_uint_eq(s.calls, 0);
    decoder_destroy(&d);
  }
}
END_TEST

/* An empty input still encodes to a stream, which decodes to nothing. */
START_TEST(test_decode_encoded_empty_input) {
  struct bytes none = {0};
  for (int i = 0; i < 4; i++) {
    enum decode_coding c = i == 0 ? DECODE_GZIP : i == 3 ? DECODE_BR : DECODE_DEFLATE;
    struct bytes enc = encode(c, i == 2, &none);
    struct seen s = {0};
    ck_assert_uint_gt(enc.len, 0);
    ck_assert_int_eq(decode_pieces(c, &enc, 1, SIZE_MAX, &s), 0);
    ck_assert_uint_eq(s.total, 0);
    free(enc.data);
  }
}
END_TEST

START_TEST(test_decode_coding_of) {
  static const struct {
    const char *value;
    int rc;
    enum decode_coding coding;
  } cases[] = {
      {NULL, 0, DECODE_IDENTITY},
      {"", 0, DECODE_IDENTITY},
      {" \t ", 0, DECODE_IDENTITY},
      {"identity", 0, DECODE_IDENTITY},
      {"IDENTITY", 0, DECODE_IDENTITY},
      {"gzip", 0, DECODE_GZIP},
      {"GZip", 0, DECODE_GZIP},
      {" x-gzip\t", 0, DECODE_GZIP},
      {"X-GZIP", 0, DECODE_GZIP},
      {"deflate", 0, DECODE_DEFLATE},
      {"\tDeflate ", 0, DECODE_DEFLATE},
      {"br", 0, DECODE_BR},
      {" BR ", 0, DECODE_BR},
      {"gzip, br", -1, 0},
      {"gzip,gzip", -1, 0},
      {"deflate gzip", -1, 0},
      {"compress", -1, 0},
      {"x-compress", -1, 0},
      {"zstd", -1, 0},
      {"gzipx", -1, 0},
      {"gz", -1, 0},
      {"b", -1, 0},
      {"gzip;q=1", -1, 0},
      {"x-deflate", -1, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    enum decode_coding out = (enum decode_coding)99;
    ck_assert_msg(decode_coding_of(cases[i].value, &out) == cases[i].rc, "value '%s'",
                  cases[i].value ? cases[i].value : "(null)");
    if (cases[i].rc == 0)
      ck_assert_int_eq(out, cases[i].coding);
    else
      ck_assert_int_eq(out, 99); /* left alone */
  }
}
END_TEST

START_TEST(test_decode_strerror_words) {
  static const char *const corrupt[] = {NULL, "corrupt gzip data", "corrupt deflate data",
                                        "corrupt br data"};
  static const char *const truncated[] = {NULL, "truncated gzip data", "truncated deflate data",
                                          "truncated br data"};
  for (int c = DECODE_GZIP; c <= DECODE_BR; c++) {
    struct decoder d;
    ck_assert_int_eq(decoder_init(&d, c, 1, seen_sink, NULL), 0);
    ck_assert_str_eq(decoder_strerror(&d, DECODE_ECORRUPT), corrupt[c]);
    ck_assert_str_eq(decoder_strerror(&d, DECODE_ETRUNCATED), truncated[c]);
    ck_assert_str_eq(decoder_strerror(&d, DECODE_ETOOBIG), "body over --max-body");
    ck_assert_str_eq(decoder_strerror(&d, DECODE_ENOMEM), "out of memory");
    ck_assert_str_eq(decoder_strerror(&d, DECODE_ESINK), "out of memory");
    decoder_destroy(&d);
  }
}
END_TEST

/* ---- errors ---- */

/* Feed enc whole under coding c and expect DECODE_ECORRUPT from the feed
 * or the end, then from every later call. */
static void expect_corrupt(enum decode_coding c, const void *enc, size_t len) {
  struct decoder d;
  struct seen s = {0};
  int rc;
  ck_assert_int_eq(decoder_init(&d, c, SIZE_MAX, seen_sink, &s), 0);
  rc = decoder_feed(&d, enc, len);
  if (rc == 0)
    rc = decoder_end(&d);
  ck_assert_int_eq(rc, DECODE_ECORRUPT);
  ck_assert_int_eq(decoder_feed(&d, "more", 4), DECODE_ECORRUPT);
  ck_assert_int_eq(decoder_end(&d), DECODE_ECORRUPT);
  decoder_destroy(&d);
  seen_free(&s);
}

START_TEST(test_decode_corrupt_gzip) {
  struct bytes text = sample(2000), enc = encode(DECODE_GZIP, 0, &text);
  struct bytes bad = {0};
  bytes_add(&bad, enc.data, enc.len);
  bad.data[0] = 0x00; /* not the gzip magic */
  expect_corrupt(DECODE_GZIP, bad.data, bad.len);
  memcpy(bad.data, enc.data, enc.len);
  bad.data[2] = 7; /* a compression method other than deflate */
  expect_corrupt(DECODE_GZIP, bad.data, bad.len);
  memcpy(bad.data, enc.data, enc.len);
  bad.data[10] |= 0x06; /* the first block's type is 3, reserved */
  expect_corrupt(DECODE_GZIP, bad.data, bad.len);
  memcpy(bad.data, enc.data, enc.len);
  bad.data[enc.len - 8] ^= 0xff; /* the CRC-32 */
  expect_corrupt(DECODE_GZIP, bad.data, bad.len);
  memcpy(bad.data, enc.data, enc.len);
  bad.data[enc.len - 1] ^= 0x01; /* the length */
  expect_corrupt(DECODE_GZIP, bad.data, bad.len);
  free(text.data);
  free(enc.data);
  free(bad.data);
}
END_TEST

/* A second member that starts with the magic but is not gzip is
 * corrupt, not trailing garbage. */
START_TEST(test_decode_corrupt_second_gzip_member) {
  struct bytes text = sample(300), enc = encode(DECODE_GZIP, 0, &text);
  bytes_add(&enc, "\x1f\x8b\x07\x00garbage", 11);
  expect_corrupt(DECODE_GZIP, enc.data, enc.len);
  free(text.data);
  free(enc.data);
}
END_TEST

START_TEST(test_decode_corrupt_deflate) {
  struct bytes text = sample(2000), zenc = encode(DECODE_DEFLATE, 0, &text);
  struct bytes renc = encode(DECODE_DEFLATE, 1, &text);
  zenc.data[zenc.len - 1] ^= 0x01; /* the Adler-32 */
  expect_corrupt(DECODE_DEFLATE, zenc.data, zenc.len);
  renc.data[0] |= 0x06; /* raw: the first block's type is 3, reserved */
  expect_corrupt(DECODE_DEFLATE, renc.data, renc.len);
  expect_corrupt(DECODE_DEFLATE, "\x07", 1);                       /* the same, as the whole body */
  expect_corrupt(DECODE_DEFLATE, "\x78\xbb\x00\x00\x00\x01xx", 8); /* needs a dictionary */
  free(text.data);
  free(zenc.data);
  free(renc.data);
}
END_TEST

START_TEST(test_decode_corrupt_br) {
  expect_corrupt(DECODE_BR, "\x1c", 1);                 /* a reserved bit set */
  expect_corrupt(DECODE_BR, "\xff\xff\xff\xff", 4);     /* nonzero padding */
  expect_corrupt(DECODE_BR, "\x1c\x00\x00\x00more", 8); /* and with bytes after it */
}
END_TEST

/* Every proper non-empty prefix of a stream is DECODE_ETRUNCATED at
 * decoder_end, with feeds that succeed. */
static void expect_truncated_prefixes(enum decode_coding c, int raw) {
  struct bytes text = sample(300), enc = encode(c, raw, &text);
  for (size_t k = 1; k < enc.len; k++) {
    struct decoder d;
    struct seen s = {0};
    ck_assert_int_eq(decoder_init(&d, c, SIZE_MAX, seen_sink, &s), 0);
    ck_assert_int_eq(decoder_feed(&d, (const char *)enc.data, k), 0);
    ck_assert_msg(decoder_end(&d) == DECODE_ETRUNCATED, "coding %d prefix %zu of %zu", c, k,
                  enc.len);
    ck_assert_int_eq(decoder_end(&d), DECODE_ETRUNCATED);
    ck_assert_uint_le(s.total, text.len);
    decoder_destroy(&d);
    seen_free(&s);
  }
  free(text.data);
  free(enc.data);
}

START_TEST(test_decode_truncated_gzip) {
  expect_truncated_prefixes(DECODE_GZIP, 0);
}
END_TEST

START_TEST(test_decode_truncated_deflate) {
  expect_truncated_prefixes(DECODE_DEFLATE, 0);
  expect_truncated_prefixes(DECODE_DEFLATE, 1);
}
END_TEST

START_TEST(test_decode_truncated_br) {
  expect_truncated_prefixes(DECODE_BR, 0);
}
END_TEST

/* A body that ends inside a second gzip member is truncated. */
START_TEST(test_decode_truncated_second_gzip_member) {
  struct bytes text = sample(300), enc = encode(DECODE_GZIP, 0, &text);
  size_t one = enc.len;
  bytes_add(&enc, enc.data, one);
  for (size_t k = one + 2; k < enc.len; k++) {
    struct seen s = {0};
    struct bytes prefix = {enc.data, k, k};
    ck_assert_int_eq(decode_pieces(DECODE_GZIP, &prefix, 0, SIZE_MAX, &s), DECODE_ETRUNCATED);
    seen_free(&s);
  }
  free(text.data);
  free(enc.data);
}
END_TEST

/* A sink's nonzero return stops decoding with DECODE_ESINK: the sink is
 * not called again, and every later call returns the same. */
START_TEST(test_decode_sink_failure_stops_decoding) {
  struct bytes text = sample(100 * 1024);
  for (int i = 0; i < 5; i++) {
    enum decode_coding c = i == 4   ? DECODE_IDENTITY
                           : i == 3 ? DECODE_BR
                           : i      ? DECODE_DEFLATE
                                    : DECODE_GZIP;
    struct bytes enc = encode(c, i == 2, &text);
    struct decoder d;
    struct seen s = {.fail_on = 2};
    ck_assert_int_eq(decoder_init(&d, c, SIZE_MAX, seen_sink, &s), 0);
    ck_assert_int_eq(decoder_feed(&d, (const char *)enc.data, enc.len), DECODE_ESINK);
    ck_assert_uint_eq(s.calls, 2);
    ck_assert_uint_eq(decoder_out(&d), DECODE_PIECE); /* only the first piece was taken */
    ck_assert_int_eq(decoder_feed(&d, (const char *)enc.data, 1), DECODE_ESINK);
    ck_assert_int_eq(decoder_end(&d), DECODE_ESINK);
    ck_assert_uint_eq(s.calls, 2);
    ck_assert_str_eq(decoder_strerror(&d, DECODE_ESINK), "out of memory");
    decoder_destroy(&d);
    seen_free(&s);
    free(enc.data);
  }
  free(text.data);
}
END_TEST

/* ---- limits ---- */

/*
 * A deflate stream of mib MiB of zeros, raw, or as one gzip member when
 * gzip is set, made without holding the zeros: after a full flush zlib
 * starts afresh, so every further MiB compresses to the same bytes, made
 * once and repeated. The gzip trailer's CRC-32 is combined from one MiB's.
 */
static struct bytes zero_bomb(int gzip, unsigned mib) {
  static const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
  unsigned char *zeros = calloc(1, MIB), block[2][8192], tail[64];
  size_t block_len[2];
  struct bytes out = {0};
  z_stream z = {0};
  uLong crc1, crc;
  ck_assert_ptr_nonnull(zeros);
  ck_assert_uint_ge(mib, 2);
  ck_assert_int_eq(deflateInit2(&z, 9, Z_DEFLATED, -MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
  if (gzip)
    bytes_add(&out, header, sizeof header);
  for (int i = 0; i < 2; i++) {
    z.next_in = zeros;
    z.avail_in = MIB;
    z.next_out = block[i];
    z.avail_out = sizeof block[i];
    ck_assert_int_eq(deflate(&z, Z_FULL_FLUSH), Z_OK);
    ck_assert_uint_eq(z.avail_in, 0);
    block_len[i] = sizeof block[i] - z.avail_out;
  }
  ck_assert_uint_eq(block_len[0], block_len[1]);
  ck_assert(memcmp(block[0], block[1], block_len[0]) == 0); /* the repetition is sound */
  for (unsigned i = 0; i < mib; i++)
    bytes_add(&out, block[0], block_len[0]);
  z.next_out = tail;
  z.avail_out = sizeof tail;
  ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
  bytes_add(&out, tail, sizeof tail - z.avail_out);
  deflateEnd(&z);
  crc = crc1 = crc32(0, zeros, MIB);
  for (unsigned i = 1; i < mib; i++)
    crc = crc32_combine(crc, crc1, MIB);
  if (gzip) {
    uint32_t isize = (uint32_t)((uint64_t)mib * MIB);
    unsigned char trailer[8];
    for (int i = 0; i < 4; i++) {
      trailer[i] = (unsigned char)(crc >> (8 * i));
      trailer[4 + i] = (unsigned char)(isize >> (8 * i));
    }
    bytes_add(&out, trailer, sizeof trailer);
  }
  free(zeros);
  return out;
}

/* The bomb builder makes real streams, and max_out is inclusive: 4 MiB
 * decodes whole under max_out 4 MiB and is cut a byte short of it. */
START_TEST(test_decode_max_out_is_inclusive) {
  for (int gzip = 0; gzip <= 1; gzip++) {
    enum decode_coding c = gzip ? DECODE_GZIP : DECODE_DEFLATE;
    struct bytes bomb = zero_bomb(gzip, 4);
    struct seen s = {.count_only = 1};
    ck_assert_int_eq(decode_pieces(c, &bomb, 0, 4 * MIB, &s), 0);
    ck_assert_uint_eq(s.total, 4 * MIB);
    seen_free(&s);
    s.count_only = 1;
    ck_assert_int_eq(decode_pieces(c, &bomb, 0, 4 * MIB - 1, &s), DECODE_ETOOBIG);
    ck_assert_uint_eq(s.total, 4 * MIB - 1);
    seen_free(&s);
    free(bomb.data);
  }
}
END_TEST

/* 1 GiB of zeros as about 1 MB of gzip, fed in one call, is cut at
 * max_out: the sink sees exactly max_out bytes, and zlib has read only
 * the first of the 1024 repeated blocks or so, not the whole body. */
START_TEST(test_decode_gzip_bomb_cut_at_max_out) {
  struct bytes bomb = zero_bomb(1, 1024);
  struct seen s = {.count_only = 1};
  struct decoder d;
  ck_assert_uint_lt(bomb.len, 2 * MIB);
  ck_assert_int_eq(decoder_init(&d, DECODE_GZIP, MIB, seen_sink, &s), 0);
  ck_assert_int_eq(decoder_feed(&d, (const char *)bomb.data, bomb.len), DECODE_ETOOBIG);
  ck_assert_uint_eq(s.total, MIB);
  ck_assert_uint_eq(decoder_out(&d), MIB);
  ck_assert_uint_le(s.calls, MIB / DECODE_PIECE + 1);
  ck_assert_uint_lt(d.z.total_out, MIB + DECODE_PIECE + 1); /* decoded at most one piece more */
  ck_assert_uint_lt(d.z.total_in, bomb.len / 100);
  ck_assert_int_eq(decoder_feed(&d, (const char *)bomb.data, bomb.len), DECODE_ETOOBIG);
  ck_assert_int_eq(decoder_end(&d), DECODE_ETOOBIG);
  ck_assert_uint_eq(s.total, MIB);
  ck_assert_str_eq(decoder_strerror(&d, DECODE_ETOOBIG), "body over --max-body");
  decoder_destroy(&d);
  free(bomb.data);
}
END_TEST

/* The same as raw deflate fed in 4 KiB pieces: the error comes within
 * the first few pieces, not after the whole body. */
START_TEST(test_decode_deflate_bomb_cut_at_max_out) {
  struct bytes bomb = zero_bomb(0, 1024);
  struct seen s = {.count_only = 1};
  struct decoder d;
  size_t off = 0;
  int rc = 0;
  ck_assert_int_eq(decoder_init(&d, DECODE_DEFLATE, MIB, seen_sink, &s), 0);
  while (off < bomb.len && rc == 0) {
    size_t n = bomb.len - off < 4096 ? bomb.len - off : 4096;
    rc = decoder_feed(&d, (const char *)bomb.data + off, n);
    off += n;
  }
  ck_assert_int_eq(rc, DECODE_ETOOBIG);
  ck_assert_uint_lt(off, bomb.len / 100);
  ck_assert_uint_eq(s.total, MIB);
  ck_assert_uint_eq(decoder_out(&d), MIB);
  decoder_destroy(&d);
  free(bomb.data);
}
END_TEST

/* 1 GiB of zeros as br, made by brotli's streaming encoder 1 MiB at a
 * time and fed as it comes: the decoder fails with DECODE_ETOOBIG long
 * before the encoder has seen the whole GiB, and the sink sees max_out
 * bytes. */
START_TEST(test_decode_br_bomb_cut_at_max_out) {
  BrotliEncoderState *e = BrotliEncoderCreateInstance(NULL, NULL, NULL);
  unsigned char *zeros = calloc(1, MIB);
  struct seen s = {.count_only = 1};
  struct decoder d;
  uint64_t encoded_in = 0;
  int rc = 0;
  ck_assert_ptr_nonnull(e);
  ck_assert_ptr_nonnull(zeros);
  ck_assert(BrotliEncoderSetParameter(e, BROTLI_PARAM_QUALITY, 1));
  ck_assert_int_eq(decoder_init(&d, DECODE_BR, MIB, seen_sink, &s), 0);
  while (rc == 0 && encoded_in < 1024ull * MIB) {
    size_t avail_in = MIB, avail_out = 0;
    const uint8_t *next_in = zeros;
    while (rc == 0 && (avail_in > 0 || BrotliEncoderHasMoreOutput(e))) {
      size_t n = 0; /* in: take all there is */
      const uint8_t *out;
      ck_assert(BrotliEncoderCompressStream(e, BROTLI_OPERATION_FLUSH, &avail_in, &next_in,
                                            &avail_out, NULL, NULL));
      out = BrotliEncoderTakeOutput(e, &n);
      if (n)
        rc = decoder_feed(&d, (const char *)out, n);
    }
    encoded_in += MIB - avail_in;
  }
  ck_assert_int_eq(rc, DECODE_ETOOBIG);
  ck_assert_uint_le(encoded_in, 8 * MIB);
  ck_assert_uint_eq(s.total, MIB);
  ck_assert_uint_eq(decoder_out(&d), MIB);
  decoder_destroy(&d);
  BrotliEncoderDestroyInstance(e);
  free(zeros);
}
END_TEST

/* Identity counts toward max_out too. */
START_TEST(test_decode_identity_max_out) {
  struct decoder d;
  struct seen s = {0};
  ck_assert_int_eq(decoder_init(&d, DECODE_IDENTITY, 60, seen_sink, &s), 0);
  ck_assert_int_eq(decoder_feed(&d, "0123456789012345678901234567890123456789", 40), 0);
  ck_assert_int_eq(decoder_feed(&d, "0123456789012345678901234567890123456789", 40),
                   DECODE_ETOOBIG);
  ck_assert_uint_eq(s.total, 60);
  ck_assert_uint_eq(decoder_out(&d), 60);
  ck_assert_int_eq(decoder_end(&d), DECODE_ETOOBIG);
  decoder_destroy(&d);
  seen_free(&s);
}
END_TEST

static Suite *decode_suite(void) {
  Suite *s = suite_create("decode");
  TCase *core = tcase_create("core"), *errors = tcase_create("errors"),
        *limits = tcase_create("limits");
  tcase_add_test(core, test_decode_gzip_round_trip);
  tcase_add_test(core, test_decode_deflate_zlib_round_trip);
  tcase_add_test(core, test_decode_deflate_raw_round_trip);
  tcase_add_test(core, test_decode_br_round_trip);
  tcase_add_test(core, test_decode_identity_passes_through);
  tcase_add_test(core, test_decode_gzip_concatenated_members);
  tcase_add_test(core, test_decode_gzip_trailing_garbage_is_ignored);
  tcase_add_test(core, test_decode_deflate_and_br_trailing_bytes_are_ignored);
  tcase_add_test(core, test_decode_empty_body_is_complete);
  tcase_add_test(core, test_decode_encoded_empty_input);
  tcase_add_test(core, test_decode_coding_of);
  tcase_add_test(core, test_decode_strerror_words);
  tcase_add_test(errors, test_decode_corrupt_gzip);
  tcase_add_test(errors, test_decode_corrupt_second_gzip_member);
  tcase_add_test(errors, test_decode_corrupt_deflate);
  tcase_add_test(errors, test_decode_corrupt_br);
  tcase_add_test(errors, test_decode_truncated_gzip);
  tcase_add_test(errors, test_decode_truncated_deflate);
  tcase_add_test(errors, test_decode_truncated_br);
  tcase_add_test(errors, test_decode_truncated_second_gzip_member);
  tcase_add_test(errors, test_decode_sink_failure_stops_decoding);
  tcase_add_test(limits, test_decode_max_out_is_inclusive);
  tcase_add_test(limits, test_decode_gzip_bomb_cut_at_max_out);
  tcase_add_test(limits, test_decode_deflate_bomb_cut_at_max_out);
  tcase_add_test(limits, test_decode_br_bomb_cut_at_max_out);
  tcase_add_test(limits, test_decode_identity_max_out);
  tcase_set_timeout(core, 60);
  tcase_set_timeout(errors, 60);
  tcase_set_timeout(limits, 120);
  suite_add_tcase(s, core);
  suite_add_tcase(s, errors);
  suite_add_tcase(s, limits);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(decode_suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
