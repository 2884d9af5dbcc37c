/*
 * fuzz_warc.c - libFuzzer harness for fetch's WARC records
 * (examples/fetch/warcrec.c), fed what fetch's client would capture: the
 * received bytes go through examples/fetch/http.c first, as in client.c,
 * and the response block is what the parser says the response spans
 * (http.h, msg_len), or everything when it is unfinished.
 *
 * Input: one control byte, then (with bit 6) a target URI up to the first
 * line feed, then the bytes a server sent.
 *
 *   bit 0     gz: each record a gzip member
 *   bit 3     truncate: a body over max_body ends the response (robots.txt)
 *   bits 4-5  max_body: 0, 100, 4096 or 10 MiB
 *   bit 6     the URI comes from the input (else "http://example.test/")
 *
 * Asserted:
 *  - the parser's cut: msg_len never exceeds the bytes fed; a done
 *    response spans all but its extra bytes; for a body without a
 *    Content-Encoding, fed whole and in pieces, the response ends (or is
 *    cut) at the same byte;
 *  - the records build (nothing but a lack of memory fails), as exactly
 *    two records (two gzip members when gz, each holding one record):
 *    "WARC/1.1", header lines "Name: value" with no control byte in a
 *    value (a URI holding CR LF cannot add a header), an empty line,
 *    Content-Length bytes of block, CRLF CRLF, nothing else;
 *  - a request record whose block is the request, then a response record
 *    whose block is the captured bytes exactly; WARC-Target-URI the URI,
 *    control bytes %-encoded; WARC-Truncated as the parse said;
 *  - WARC-Record-IDs <urn:uuid:...> of version 4, distinct, each record's
 *    WARC-Concurrent-To the other's ID;
 *  - WARC-Block-Digest the block's SHA-1 in base32, recomputed here with
 *    a base32 encoder of the harness's own;
 *  - the payload (warcrec_payload's pieces) is made of the block's own
 *    bytes, in order, never overlapping: removing transfer coding only
 *    drops bytes; without "chunked" anywhere in the block it is one run;
 *    WARC-Payload-Digest is its digest, and is there exactly when the
 *    block holds a complete head.
 */
#define _GNU_SOURCE /* memmem */
#include "http.h"
#include "warcrec.h"

#include "fuzz.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <zlib.h>

#define REQUEST "GET / HTTP/1.1\r\nHost: example.test\r\n\r\n"

static const size_t max_bodies[4] = {0, 100, 4096, 10 * 1024 * 1024};

/* ---- the capture, as client.c makes it ---- */

struct capture {
  int st;          /* the parse's last result */
  size_t len;      /* the block: the first len bytes of the input */
  int truncated;   /* cut at max_body */
  int decoding;    /* the body had a Content-Encoding */
  const char *why; /* WARC-Truncated */
};

/* Feed in to an http_resp (whole when seed is 0, else in pieces). */
static void capture(const char *in, size_t n, int ctl, uint64_t seed, struct capture *c) {
  size_t max_body = max_bodies[(ctl >> 4) & 3], off = 0;
  struct http_resp r;
  int st = HTTP_MORE;
  http_resp_init(&r, max_body, 1, NULL, NULL);
  r.truncate = (ctl & 8) != 0;
  while (off < n && st == HTTP_MORE) {
    size_t len = seed ? fuzz_piece(&seed, n - off) : n - off;
    char *piece = fuzz_copy(in + off, len);
    st = http_resp_feed(&r, piece, len);
    free(piece);
    off += len;
  }
  if (st != HTTP_MORE) {
    FUZZ_CHECK(r.msg_len <= r.received, "msg_len %zu of %zu fed", r.msg_len, r.received);
    FUZZ_CHECK(st != HTTP_DONE || r.msg_len + r.extra == r.received,
               "done: msg_len %zu + extra %zu != %zu fed", r.msg_len, r.extra, r.received);
  }
  c->st = st;
  c->len = st == HTTP_MORE ? n : r.msg_len;
  c->truncated = r.truncated;
  c->decoding = r.decoding;
  c->why = r.truncated ? "length" : st == HTTP_FAILED ? "unspecified" : NULL;
  http_resp_destroy(&r);
}

/* ---- reading the records back ---- */

struct rec {
  char type[16];
  char id[64];
  char concurrent[64];
  char uri[2048];
  char block_digest[64];
  char payload_digest[64];
  char truncated[32];
  char length[32];
  int has_payload_digest;
  const char *block;
  size_t block_len;
};

/* Where the value of each header the harness reads goes. */
static char *rec_slot(struct rec *r, const char *name, size_t len, size_t *size) {
  static char ignored[1024];
  struct {
    const char *name;
    char *dst;
    size_t size;
  } slots[] = {
      {"WARC-Type", r->type, sizeof r->type},
      {"WARC-Record-ID", r->id, sizeof r->id},
      {"WARC-Concurrent-To", r->concurrent, sizeof r->concurrent},
      {"WARC-Target-URI", r->uri, sizeof r->uri},
      {"WARC-Block-Digest", r->block_digest, sizeof r->block_digest},
      {"WARC-Payload-Digest", r->payload_digest, sizeof r->payload_digest},
      {"WARC-Truncated", r->truncated, sizeof r->truncated},
      {"Content-Length", r->length, sizeof r->length},
  };
  for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
    if (len == strlen(slots[i].name) && strncmp(name, slots[i].name, len) == 0) {
      *size = slots[i].size;
      return slots[i].dst;
    }
  }
  *size = sizeof ignored;
  return ignored;
}

/* Parse the record at the start of p (n bytes) into r; returns its length. */
static size_t rec_parse(const char *p, size_t n, struct rec *r) {
  const char *end = p + n, *line = p + 10, *eol;
  unsigned long long length;
  memset(r, 0, sizeof *r);
  FUZZ_CHECK(n >= 10 && memcmp(p, "WARC/1.1\r\n", 10) == 0, "no version line");
  while ((eol = memmem(line, (size_t)(end - line), "\r\n", 2)) != line) {
    const char *colon, *v;
    size_t size;
    char *dst;
    FUZZ_CHECK(eol, "a header line without CRLF");
    colon = memchr(line, ':', (size_t)(eol - line));
    FUZZ_CHECK(colon && colon + 1 < eol && colon[1] == ' ', "a header line without ': ': %.*s",
               (int)(eol - line), line);
    for (v = colon + 2; v < eol; v++)
      FUZZ_CHECK((unsigned char)*v >= 0x20 && *v != 0x7f, "control byte 0x%02x in a value",
                 (unsigned char)*v);
    dst = rec_slot(r, line, (size_t)(colon - line), &size);
    snprintf(dst, size, "%.*s", (int)(eol - colon - 2), colon + 2);
    r->has_payload_digest |= dst == r->payload_digest;
    line = eol + 2;
  }
  FUZZ_CHECK(*r->length && strspn(r->length, "0123456789") == strlen(r->length),
             "Content-Length '%s'", r->length);
  length = strtoull(r->length, NULL, 10);
  r->block = eol + 2;
  FUZZ_CHECK((size_t)(end - r->block) >= 4 && length <= (unsigned long long)(end - r->block) - 4,
             "Content-Length %llu past the end", length);
  r->block_len = (size_t)length;
  FUZZ_CHECK(memcmp(r->block + length, "\r\n\r\n", 4) == 0, "no CRLF CRLF after the block");
  return (size_t)(r->block + length + 4 - p);
}

/* Gunzip the member at the start of p (n bytes) into a malloc'd buffer;
 * *used bytes of p were the member. */
static char *gunzip(const char *p, size_t n, size_t *used, size_t *out_len) {
  size_t cap = 4096;
  char *out = malloc(cap);
  z_stream z;
  int rc;
  memset(&z, 0, sizeof z);
  FUZZ_CHECK(out && inflateInit2(&z, 31) == Z_OK, "inflateInit2");
  z.next_in = (unsigned char *)p;
  z.avail_in = (uInt)n;
  z.next_out = (unsigned char *)out;
  z.avail_out = (uInt)cap;
  while ((rc = inflate(&z, Z_NO_FLUSH)) == Z_OK || rc == Z_BUF_ERROR) {
    FUZZ_CHECK(z.avail_out == 0, "a gzip member cut short (inflate %d)", rc);
    if (!(out = realloc(out, cap * 2)))
      abort();
    z.next_out = (unsigned char *)out + cap;
    z.avail_out = (uInt)cap;
    cap *= 2;
  }
  FUZZ_CHECK(rc == Z_STREAM_END, "inflate: %d", rc);
  *used = n - z.avail_in;
  *out_len = cap - z.avail_out;
  inflateEnd(&z);
  return out;
}

/* ---- reference digests and encodings ---- */

/* "sha1:" and the base32 (RFC 4648) of the hash h, bit by bit. */
static void ref_base32(const unsigned char h[20], char out[64]) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  char *p = out + 5;
  memcpy(out, "sha1:", 5);
  for (int bit = 0; bit < 160; bit += 5) {
    int v = 0;
    for (int k = 0; k < 5; k++)
      v = (v << 1) | ((h[(bit + k) / 8] >> (7 - (bit + k) % 8)) & 1);
    *p++ = alphabet[v];
  }
  *p = '\0';
}

static void ref_digest(const void *data, size_t len, char out[64]) {
  unsigned char h[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  FUZZ_CHECK(EVP_Digest(data, len, h, &n, EVP_sha1(), NULL) == 1 && n == 20, "EVP_Digest");
  ref_base32(h, out);
}

/* The URI as a header value: control bytes %XX. */
static void ref_uri(const char *uri, char *out, size_t n) {
  size_t k = 0;
  for (const unsigned char *s = (const unsigned char *)uri; *s && k + 4 < n; s++)
    k += (size_t)snprintf(out + k, n - k, (*s < 0x20 || *s == 0x7f) ? "%%%02X" : "%c", *s);
  out[k] = '\0';
}

static void check_id(const char *id) {
  static const char hex[] = "0123456789abcdef";
  FUZZ_CHECK(strlen(id) == 47 && strncmp(id, "<urn:uuid:", 10) == 0 && id[46] == '>',
             "record ID %s", id);
  for (int i = 10; i < 46; i++) {
    int dash = i == 18 || i == 23 || i == 28 || i == 33;
    FUZZ_CHECK(dash ? id[i] == '-' : strchr(hex, id[i]) != NULL, "record ID %s", id);
  }
  FUZZ_CHECK(id[24] == '4' && strchr("89ab", id[29]), "not a version 4 UUID: %s", id);
}

/* Record i (0 request, 1 response): its type, block and block digest. */
static void check_record(const struct rec *r, size_t i, const char *block, size_t len) {
  char digest[64];
  FUZZ_CHECK(strcmp(r->type, i ? "response" : "request") == 0, "record %zu: type %s", i, r->type);
  FUZZ_CHECK(r->block_len == len && memcmp(r->block, block, len) == 0,
             "the %s block is not the bytes given", r->type);
  ref_digest(r->block, r->block_len, digest);
  FUZZ_CHECK(strcmp(r->block_digest, digest) == 0, "block digest %s, not %s", r->block_digest,
             digest);
}

/* Whether word (lower case) appears in the len bytes at s, in any case. */
static int contains_ci(const char *s, size_t len, const char *word) {
  size_t w = strlen(word);
  for (size_t i = 0; i + w <= len; i++) {
    size_t k = 0;
    while (k < w && tolower((unsigned char)s[i + k]) == word[k])
      k++;
    if (k == w)
      return 1;
  }
  return 0;
}

/* ---- the payload's pieces ---- */

struct pieces {
  const char *block;
  size_t block_len;
  const char *next; /* where the last piece ended */
  size_t runs;      /* pieces not adjacent to the one before */
  size_t total;
  EVP_MD_CTX *md;
};

static int piece(void *arg, const char *data, size_t len) {
  struct pieces *p = arg;
  FUZZ_CHECK(data >= p->block && len <= p->block_len &&
                 (size_t)(data - p->block) <= p->block_len - len,
             "a payload piece outside the block");
  FUZZ_CHECK(!p->next || data >= p->next, "payload pieces overlap or go back");
  p->runs += data != p->next;
  p->next = data + len;
  p->total += len;
  FUZZ_CHECK(EVP_DigestUpdate(p->md, data, len) == 1, "EVP_DigestUpdate");
  return 0;
}

/* The payload as warcrec_payload hands it over, against the record. */
static void check_payload(const struct rec *resp, const char *block, size_t len) {
  char digest[WARCREC_DIGEST_LEN + 1], ref[64];
  struct pieces pl = {block, len, NULL, 0, 0, EVP_MD_CTX_new()};
  unsigned char h[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  int rc;
  FUZZ_CHECK(pl.md && EVP_DigestInit_ex(pl.md, EVP_sha1(), NULL) == 1, "EVP_DigestInit_ex");
  rc = warcrec_payload(block, len, piece, &pl, digest);
  FUZZ_CHECK(rc == 0 || rc == 1, "warcrec_payload returned %d", rc);
  FUZZ_CHECK(resp->has_payload_digest == (rc == 0), "payload digest %s, warcrec_payload %d",
             resp->has_payload_digest ? "present" : "absent", rc);
  FUZZ_CHECK(EVP_DigestFinal_ex(pl.md, h, &n) == 1 && n == 20, "EVP_DigestFinal_ex");
  EVP_MD_CTX_free(pl.md);
  if (rc != 0)
    return;
  ref_base32(h, ref);
  FUZZ_CHECK(strcmp(resp->payload_digest, ref) == 0 && strcmp(digest, ref) == 0,
             "payload digest %s, the pieces' %s", resp->payload_digest, ref);
  FUZZ_CHECK(pl.runs <= 1 || contains_ci(block, len, "chunked"),
             "a payload without chunked coding in %zu runs", pl.runs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *in, *uri = "http://example.test/";
  char uri_buf[513], want_uri[2048];
  struct capture whole, split;
  struct warc_exchange x;
  struct buf out = BUF_INIT;
  struct rec recs[2];
  char *texts[2] = {NULL, NULL};
  size_t n, off = 0, nrecs = 0;
  int ctl;

  if (size < 1)
    return 0;
  ctl = data[0];
  in = (const char *)data + 1;
  n = size - 1;
  if (ctl & 64) {
    size_t max = n < 512 ? n : 512;
    const char *lf = memchr(in, '\n', max);
    size_t len = lf ? (size_t)(lf - in) : max;
    memcpy(uri_buf, in, len);
    uri_buf[len] = '\0'; /* a NUL inside ends the URI, as it does a C string */
    uri = uri_buf;
    in += len + (lf != NULL);
    n -= len + (lf != NULL);
  }

  /* the capture, whole and split */
  capture(in, n, ctl, 0, &whole);
  capture(in, n, ctl, fuzz_hash(data, size, FUZZ_HASH_INIT) | 1, &split);
  if (!whole.decoding && (whole.st == HTTP_DONE || whole.truncated))
    FUZZ_CHECK(whole.st == split.st && whole.len == split.len,
               "whole ends at %zu (%d), split at %zu (%d)", whole.len, whole.st, split.len,
               split.st);

  /* the records, read back */
  x = (struct warc_exchange){uri, "192.0.2.1", 0,        REQUEST, strlen(REQUEST),
                             in,  whole.len,   whole.why};
  FUZZ_CHECK(warcrec_exchange(&out, &x, ctl & 1) == 0, "warcrec_exchange failed");
  while (off < out.len) {
    const char *text = out.data + off;
    size_t len = out.len - off, used;
    FUZZ_CHECK(nrecs < 2, "more than two records");
    if (ctl & 1) {
      text = texts[nrecs] = gunzip(out.data + off, out.len - off, &used, &len);
      FUZZ_CHECK(rec_parse(text, len, &recs[nrecs]) == len,
                 "a gzip member holds more than a record");
    } else {
      used = rec_parse(text, len, &recs[nrecs]);
    }
    check_record(&recs[nrecs], nrecs, nrecs ? in : REQUEST, nrecs ? whole.len : strlen(REQUEST));
    off += used;
    nrecs++;
  }
  FUZZ_CHECK(nrecs == 2, "%zu records", nrecs);
  check_id(recs[0].id);
  check_id(recs[1].id);
  FUZZ_CHECK(strcmp(recs[0].id, recs[1].id) != 0, "the same ID twice");
  FUZZ_CHECK(strcmp(recs[0].concurrent, recs[1].id) == 0 &&
                 strcmp(recs[1].concurrent, recs[0].id) == 0,
             "the records are not linked");
  ref_uri(uri, want_uri, sizeof want_uri);
  FUZZ_CHECK(strcmp(recs[0].uri, want_uri) == 0 && strcmp(recs[1].uri, want_uri) == 0,
             "WARC-Target-URI %s, not %s", recs[1].uri, want_uri);
  FUZZ_CHECK(strcmp(recs[1].truncated, whole.why ? whole.why : "") == 0 && !*recs[0].truncated,
             "WARC-Truncated '%s'", recs[1].truncated);
  FUZZ_CHECK(!recs[0].has_payload_digest, "a payload digest on the request");
  check_payload(&recs[1], in, whole.len);
  free(texts[0]);
  free(texts[1]);
  buf_free(&out);
  return 0;
}
