/*
 * decode.h - streaming decoders for the Content-Encodings a crawler meets:
 * gzip and deflate (zlib) and br (brotli). Encoded body bytes go in as
 * they arrive, split anywhere; decoded bytes come out through an
 * http_sink_fn in pieces of at most DECODE_PIECE bytes. The decoded size
 * is bounded by max_out, and a decompression bomb is cut there without
 * decoding the rest, in memory that does not grow with the input (see
 * decode.c). It does no I/O. Pure, any thread; one body per struct.
 */
#ifndef FETCH_DECODE_H
#define FETCH_DECODE_H

#include <brotli/decode.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

/* The largest piece of decoded bytes handed to the sink at once. */
/* Takes a body's bytes as they come (http.h, decode.h). Returns 0, or
 * nonzero to stop. */
typedef int (*http_sink_fn)(void *arg, const char *data, size_t len);

#define DECODE_PIECE (16 * 1024)

/* Errors of the decoder_* functions. */
#define DECODE_ECORRUPT (-1)   /* the encoded bytes are not valid for the coding */
#define DECODE_ETRUNCATED (-2) /* the encoded body ended inside the stream */
#define DECODE_ETOOBIG (-3)    /* the decoded body is longer than max_out */
#define DECODE_ENOMEM (-4)     /* an allocation failed */
#define DECODE_ESINK (-5)      /* the sink returned nonzero */

enum decode_coding { DECODE_IDENTITY, DECODE_GZIP, DECODE_DEFLATE, DECODE_BR };

/*
 * The coding a Content-Encoding header value names: "gzip", "x-gzip",
 * "deflate", "br" or "identity", case-insensitive, surrounding blanks
 * ignored; NULL, empty or blank is identity. Returns 0, or -1 for an
 * unknown or stacked ("gzip, br") coding, leaving *out alone.
 */
int decode_coding_of(const char *content_encoding, enum decode_coding *out);

/* Where the encoded stream stands (see decode.c). */
enum decode_state {
  DECODE_AT_START, /* no encoded byte yet; deflate: sniffing for a zlib header */
  DECODE_IN_BODY,  /* inside a stream (gzip: a member) */
  DECODE_BETWEEN,  /* gzip: a member ended; another may follow */
  DECODE_AT_END    /* the stream ended: later bytes are ignored */
};

/* A body being decoded. Caller-owned storage; every field belongs to
 * the decoder_* functions. */
struct decoder {
  enum decode_coding coding;
  enum decode_state state;
  size_t max_out;    /* more decoded bytes than this is DECODE_ETOOBIG */
  http_sink_fn sink; /* gets the decoded bytes */
  void *sink_arg;
  uint64_t out;          /* decoded bytes given to the sink, at most max_out */
  int err;               /* 0, or the first error: every later call returns it */
  unsigned char held[2]; /* bytes read ahead to decide what follows */
  size_t held_len;
  unsigned char *buf;     /* DECODE_PIECE bytes of decoded output, malloc'd; NULL for identity */
  int zlib_live;          /* z was initialised: inflateEnd it */
  z_stream z;             /* gzip and deflate */
  BrotliDecoderState *br; /* br, or NULL */
};

/* Start decoding a body of coding c: decoded bytes go to sink(sink_arg,
 * ...) as they are produced, at most max_out of them in all. Returns 0
 * or DECODE_ENOMEM (d then holds nothing). */
int decoder_init(struct decoder *d, enum decode_coding c, size_t max_out, http_sink_fn sink,
                 void *sink_arg);

/*
 * Decode len more encoded bytes (split anywhere). Returns 0, or
 * DECODE_ECORRUPT, DECODE_ETOOBIG (the sink got the first max_out bytes),
 * DECODE_ENOMEM or DECODE_ESINK; after an error, every later call
 * returns the same one and decodes nothing.
 */
int decoder_feed(struct decoder *d, const char *data, size_t len);

/* The encoded body has ended. Returns 0, DECODE_ETRUNCATED when it ended
 * inside the stream, or the earlier error. An empty body is complete. */
int decoder_end(struct decoder *d);

/* The decoded bytes produced (and given to the sink) so far. */
uint64_t decoder_out(const struct decoder *d);

/* The words of a fetch record for the error err of d: "corrupt gzip
 * data", "truncated br data", "body over --max-body", "out of memory"
 * (also for DECODE_ESINK, as http.h's sinks fail only for memory). */
const char *decoder_strerror(const struct decoder *d, int err);

/* Free what d holds. */
void decoder_destroy(struct decoder *d);

#endif
