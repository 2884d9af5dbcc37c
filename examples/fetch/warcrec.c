/*
 * warcrec.c - WARC/1.1 records (see warcrec.h).
 *
 * A record is a version line, header fields, an empty line, the block
 * (Content-Length bytes) and two CRLFs:
 *
 *   WARC/1.1
 *   WARC-Type: response
 *   WARC-Record-ID: <urn:uuid:...>        random, version 4
 *   WARC-Date: 2026-01-31T12:00:00Z       UTC, when the request was sent
 *   WARC-Target-URI: http://host/path
 *   WARC-IP-Address: 192.0.2.1
 *   WARC-Concurrent-To: <urn:uuid:...>    the request record, and back
 *   WARC-Block-Digest: sha1:...
 *   WARC-Payload-Digest: sha1:...
 *   WARC-Truncated: length                only when the block is cut
 *   Content-Type: application/http;msgtype=response
 *   Content-Length: N
 *
 *   <block>
 *
 * The response block is the response exactly as received (status line,
 * headers, body with its transfer coding), so a reader can replay it; the
 * payload, which the payload digest covers, is the entity body within it:
 * the chunked framing removed, the content coding (gzip, br) kept. The
 * block is parsed once more here with http-parser for that, so the digest
 * does not depend on how client.c read the response, and the function is
 * the same one the fuzz harness drives (tests/fuzz/fuzz_warc.c). A digest
 * is "sha1:" and the base32 of the SHA-1 (RFC 4648, upper case, no
 * padding: 20 bytes make 32 characters exactly).
 *
 * With gz each record goes through its own deflate stream with a gzip
 * wrapper, so the file is a series of gzip members, one per record, that
 * gunzip reads whole and an archive reader can seek between. The record
 * is streamed through zlib piece by piece (head, block, trailer), never
 * assembled uncompressed.
 */
#include "warcrec.h"

#include <http_parser.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

/* ---- digests and IDs ---- */

/* "sha1:" and the base32 of the 20-byte hash h, into out (WARCREC_DIGEST_LEN + 1). */
static void digest_format(const unsigned char h[20], char *out) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  unsigned bits = 0, acc = 0;
  char *p = out + 5;
  memcpy(out, "sha1:", 5);
  for (int i = 0; i < 20; i++) {
    acc = (acc << 8) | h[i];
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      *p++ = alphabet[(acc >> bits) & 31];
    }
  }
  *p = '\0'; /* 160 bits: no bits left over */
}

/* A SHA-1 in progress. NULL when out of memory. */
static EVP_MD_CTX *sha1_new(void) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (md && EVP_DigestInit_ex(md, EVP_sha1(), NULL) != 1) {
    EVP_MD_CTX_free(md);
    return NULL;
  }
  return md;
}

/* Finish md into a digest string and free it. Returns 0 or -1. */
static int sha1_end(EVP_MD_CTX *md, char *out) {
  unsigned char h[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  int ok = EVP_DigestFinal_ex(md, h, &n) == 1 && n == 20;
  EVP_MD_CTX_free(md);
  if (ok)
    digest_format(h, out);
  return ok ? 0 : -1;
}

/* The digest of len bytes at data. Returns 0 or -1. */
static int digest_of(const char *data, size_t len, char *out) {
  EVP_MD_CTX *md = sha1_new();
  if (!md)
    return -1;
  if (EVP_DigestUpdate(md, data, len) != 1) {
    EVP_MD_CTX_free(md);
    return -1;
  }
  return sha1_end(md, out);
}

/* A new record ID, "<urn:uuid:" a random version 4 UUID ">", into out
 * (48 bytes). Returns 0, or -1 when OpenSSL has no randomness. */
static int record_id(char out[48]) {
  unsigned char u[16];
  if (RAND_bytes(u, sizeof u) != 1)
    return -1;
  u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4 */
  u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* the RFC 4122 variant */
  snprintf(out, 48,
           "<urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x>", u[0],
           u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
           u[15]);
  return 0;
}

/* ---- the payload ---- */

struct payload {
  EVP_MD_CTX *md;
  http_sink_fn sink;
  void *sink_arg;
  int head_done; /* the final response's head is complete */
  int failed;
};

static int payload_head(http_parser *p) {
  struct payload *pl = p->data;
  if (p->status_code / 100 == 1)
    return 1; /* interim: no body; the final response follows */
  pl->head_done = 1;
  return p->status_code == 204 || p->status_code == 304; /* 1: no body, whatever the headers say */
}

static int payload_body(http_parser *p, const char *at, size_t len) {
  struct payload *pl = p->data;
  if (EVP_DigestUpdate(pl->md, at, len) != 1 || (pl->sink && pl->sink(pl->sink_arg, at, len))) {
    pl->failed = 1;
    return -1;
  }
  return 0;
}

static int payload_end(http_parser *p) {
  if (p->status_code / 100 != 1)
    http_parser_pause(p, 1); /* the final response is over: what follows is not its body */
  return 0;
}

static const http_parser_settings payload_settings = {
    .on_headers_complete = payload_head,
    .on_body = payload_body,
    .on_message_complete = payload_end,
};

int warcrec_payload(const char *resp, size_t len, http_sink_fn sink, void *sink_arg, char *digest) {
  struct payload pl = {sha1_new(), sink, sink_arg, 0, 0};
  http_parser p;
  if (!pl.md)
    return -1;
  http_parser_init(&p, HTTP_RESPONSE);
  p.data = &pl;
  http_parser_execute(&p, &payload_settings, resp, len); /* stops at an error or the end */
  if (pl.failed || !pl.head_done) {
    EVP_MD_CTX_free(pl.md);
    return pl.failed ? -1 : 1;
  }
  return sha1_end(pl.md, digest);
}

/* ---- writing a record ---- */

/* Where a record's bytes go: straight into out, or through a gzip member. */
struct rec_out {
  struct buf *out;
  int gz;
  z_stream z;
  int failed;
};

static int out_start(struct rec_out *s, struct buf *out, int gz) {
  memset(s, 0, sizeof *s);
  s->out = out;
  s->gz = gz;
  if (gz && deflateInit2(&s->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK)
    return -1;
  return 0;
}

/* Run deflate with flush over what s->z holds, appending its output. */
static void out_deflate(struct rec_out *s, int flush) {
  unsigned char chunk[8192];
  int rc;
  do {
    s->z.next_out = chunk;
    s->z.avail_out = sizeof chunk;
    rc = deflate(&s->z, flush);
    if (rc == Z_STREAM_ERROR) {
      s->failed = 1;
      return;
    }
    buf_append(s->out, chunk, sizeof chunk - s->z.avail_out);
  } while (s->z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
}

static void out_put(struct rec_out *s, const void *data, size_t len) {
  const unsigned char *p = data;
  if (!s->gz) {
    buf_append(s->out, data, len);
    return;
  }
  while (len > 0 && !s->failed) {
    uInt n = len > UINT_MAX / 2 ? UINT_MAX / 2 : (uInt)len;
    s->z.next_in = (unsigned char *)p;
    s->z.avail_in = n;
    out_deflate(s, Z_NO_FLUSH);
    p += n;
    len -= n;
  }
}

/* End the record (the gzip member). Returns 0, or -1 if anything failed. */
static int out_end(struct rec_out *s) {
  if (s->gz) {
    if (!s->failed)
      out_deflate(s, Z_FINISH);
    deflateEnd(&s->z);
  }
  return s->failed || buf_failed(s->out) ? -1 : 0;
}

/* One record's header fields; NULL ones are left out. */
struct record {
  const char *type;
  const char *id;
  const char *date;
  const char *uri;
  const char *ip;
  const char *concurrent;
  const char *filename;
  const char *block_digest;
  const char *payload_digest;
  const char *truncated;
  const char *content_type;
  const char *block;
  size_t block_len;
};

/* Append "name: value" CRLF to head, a byte below 0x20 or 0x7f %-encoded. */
static void field(struct buf *head, const char *name, const char *value) {
  if (!value || !*value)
    return;
  buf_printf(head, "%s: ", name);
  for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
    if (*p < 0x20 || *p == 0x7f)
      buf_printf(head, "%%%02X", *p);
    else
      buf_putc(head, (char)*p);
  }
  buf_puts(head, "\r\n");
}

/* Append the record r to out. Returns 0 or -1. */
static int record_put(struct buf *out, const struct record *r, int gz) {
  struct buf head = BUF_INIT;
  struct rec_out s;
  int rc;
  buf_puts(&head, "WARC/1.1\r\n");
  field(&head, "WARC-Type", r->type);
  field(&head, "WARC-Record-ID", r->id);
  field(&head, "WARC-Date", r->date);
  field(&head, "WARC-Target-URI", r->uri);
  field(&head, "WARC-IP-Address", r->ip);
  field(&head, "WARC-Concurrent-To", r->concurrent);
  field(&head, "WARC-Filename", r->filename);
  field(&head, "WARC-Block-Digest", r->block_digest);
  field(&head, "WARC-Payload-Digest", r->payload_digest);
  field(&head, "WARC-Truncated", r->truncated);
  field(&head, "Content-Type", r->content_type);
  buf_printf(&head, "Content-Length: %zu\r\n\r\n", r->block_len);
  if (buf_failed(&head) || out_start(&s, out, gz) != 0) {
    buf_free(&head);
    return -1;
  }
  out_put(&s, head.data, head.len);
  out_put(&s, r->block, r->block_len);
  out_put(&s, "\r\n\r\n", 4);
  rc = out_end(&s);
  buf_free(&head);
  return rc;
}

/* date as WARC-Date wants it, into out (21 bytes). */
static void date_format(time_t date, char out[21]) {
  struct tm tm;
  if (!gmtime_r(&date, &tm) || strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf(out, 21, "1970-01-01T00:00:00Z");
}

int warcrec_info(struct buf *out, const char *filename, time_t date, const char *fields, int gz) {
  const char *base = strrchr(filename, '/');
  char id[48], when[21], digest[WARCREC_DIGEST_LEN + 1];
  struct record r = {.type = "warcinfo",
                     .id = id,
                     .date = when,
                     .filename = base ? base + 1 : filename,
                     .block_digest = digest,
                     .content_type = "application/warc-fields",
                     .block = fields,
                     .block_len = strlen(fields)};
  if (record_id(id) != 0 || digest_of(r.block, r.block_len, digest) != 0)
    return -1;
  date_format(date, when);
  return record_put(out, &r, gz);
}

int warcrec_exchange(struct buf *out, const struct warc_exchange *x, int gz) {
  char req_id[48], resp_id[48], when[21];
  char req_digest[WARCREC_DIGEST_LEN + 1], block_digest[WARCREC_DIGEST_LEN + 1];
  char payload_digest[WARCREC_DIGEST_LEN + 1];
  struct record req = {.type = "request",
                       .id = req_id,
                       .date = when,
                       .uri = x->uri,
                       .ip = x->ip,
                       .concurrent = resp_id,
                       .block_digest = req_digest,
                       .content_type = "application/http;msgtype=request",
                       .block = x->request,
                       .block_len = x->request_len};
  struct record resp = {.type = "response",
                        .id = resp_id,
                        .date = when,
                        .uri = x->uri,
                        .ip = x->ip,
                        .concurrent = req_id,
                        .block_digest = block_digest,
                        .payload_digest = payload_digest,
                        .truncated = x->truncated,
                        .content_type = "application/http;msgtype=response",
                        .block = x->response,
                        .block_len = x->response_len};
  int rc;
  if (record_id(req_id) != 0 || record_id(resp_id) != 0 ||
      digest_of(x->request, x->request_len, req_digest) != 0 ||
      digest_of(x->response, x->response_len, block_digest) != 0)
    return -1;
  if ((rc = warcrec_payload(x->response, x->response_len, NULL, NULL, payload_digest)) < 0)
    return -1;
  if (rc == 1)
    resp.payload_digest = NULL; /* no complete head: no payload to speak of */
  date_format(x->date, when);
  if (record_put(out, &req, gz) != 0)
    return -1;
  return record_put(out, &resp, gz);
}
