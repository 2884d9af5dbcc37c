/*
 * warcrec.h - the records of fetch's WARC/1.1 archive (--warc): the
 * warcinfo record that opens the file, and the request and response
 * records of one HTTP exchange, each record whole in memory, plain or as
 * a gzip member of its own. It builds bytes and does no I/O (warc.h
 * writes them). Pure but for OpenSSL's RAND_bytes, which draws the record
 * IDs; any thread.
 */
#ifndef FETCH_WARCREC_H
#define FETCH_WARCREC_H

#include "buf.h"
#include "decode.h"

#include <stddef.h>
#include <time.h>

/* One exchange, as client.c captured it. The strings are NUL-terminated;
 * a byte below 0x20 in one is written %-encoded, so no value can end a
 * header line early. */
struct warc_exchange {
  const char *uri;     /* WARC-Target-URI: the URL requested */
  const char *ip;      /* WARC-IP-Address: the server's address, or NULL or "" if unknown */
  time_t date;         /* WARC-Date: when the request was sent */
  const char *request; /* the request record's block: the bytes sent */
  size_t request_len;
  const char *response; /* the response record's block: the bytes received */
  size_t response_len;
  const char *truncated; /* WARC-Truncated: "length", "time", "disconnect",
                            "unspecified"; NULL when the response is whole */
};

/* The length of "sha1:" and the base32 of a SHA-1 (RFC 4648, no padding). */
#define WARCREC_DIGEST_LEN (5 + 32)

/*
 * Append to out the warcinfo record that starts a file named filename
 * (its last path component goes in WARC-Filename), dated date, whose
 * block is fields: "name: value" lines, each ending in CRLF. gz: as one
 * gzip member. Returns 0, or -1 (out of memory, no randomness, a zlib
 * error: out then holds an incomplete record).
 */
int warcrec_info(struct buf *out, const char *filename, time_t date, const char *fields, int gz);

/*
 * Append to out the request record of x, then its response record, each
 * naming the other in WARC-Concurrent-To. The response record carries
 * WARC-Block-Digest and, when its block holds a complete HTTP head,
 * WARC-Payload-Digest (see warcrec_payload); the request record a block
 * digest. gz: each record a gzip member. Returns 0 or -1, as warcrec_info.
 */
int warcrec_exchange(struct buf *out, const struct warc_exchange *x, int gz);

/*
 * The payload of the HTTP response block resp (len bytes): the body of
 * its final response (after any 1xx), chunked transfer coding removed and
 * content coding kept, parsed by http-parser; it ends where the block or
 * the message does. Hands it to sink (unless NULL) in pieces that point
 * into resp, in order, and writes "sha1:" and its base32 SHA-1 to digest
 * (WARCREC_DIGEST_LEN + 1 bytes). Returns 0, 1 when resp holds no
 * complete final head (no payload then; digest untouched), -1 when out of
 * memory or the sink returned nonzero.
 */
int warcrec_payload(const char *resp, size_t len, http_sink_fn sink, void *sink_arg, char *digest);

#endif
