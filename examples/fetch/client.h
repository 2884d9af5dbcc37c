/*
 * client.h - one HTTP/1.1 GET over weft sockets, through the requested
 * server's connection pool (hosts.h), parsed by http.h. Plain sequential
 * code: the calling task parks in connect, send and receive.
 */
#ifndef FETCH_CLIENT_H
#define FETCH_CLIENT_H

#include "hosts.h"
#include "http.h"
#include "url.h"

#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

struct client {
  struct hosts *hosts;
  struct tls_config *tls; /* for https: URLs; NULL: made at the first (client_tls) */
  int own_tls;            /* tls was made here: client_destroy frees it */
  pthread_mutex_t tls_lock; /* guards tls and own_tls while tls is NULL */
  int compress;           /* ask for gzip, deflate and br */
  int capture;            /* keep each exchange's bytes in its response (--warc) */
  int64_t timeout_ms; /* the deadline of one request, from its start */
  char agent[48];     /* the User-Agent value */
};

/* What one GET came to. */
struct response {
  int status;     /* 0 unless a status line arrived */
  uint64_t bytes; /* body bytes, decoded */
  uint64_t wire_bytes; /* body bytes as received */
  int64_t ms;     /* from the start of the request to its end */
  int html;       /* Content-Type: text/html */
  char *body;     /* the kept body (NUL-terminated; keep_all only), or NULL */
  size_t body_len;
  char *location;    /* the Location header, or NULL */
  char *retry_after; /* the Retry-After header, or NULL */
  int err;           /* the weft error code that failed the request, or 0 */
  int resent;        /* 1: sent again on a new connection, the kept-alive one was closed */
  const char *tls;   /* https: the negotiated protocol ("TLSv1.3"), else NULL */
  const char *error; /* NULL on success, else why it failed, in a record's words */
  int cancelled;     /* the task was cancelled: error is "cancelled" */
  int truncated;     /* the body was cut at max_body (an error, unless CLIENT_TRUNCATE) */
  char errbuf[96];   /* storage for a composed error */
  /* With c->capture, once a status line has arrived (else NULL, "", 0;
   * NULL sent or got then means out of memory). Owned by the response. */
  char *sent;        /* the request, byte for byte as sent */
  size_t sent_len;
  char *got;         /* the response as received, before any parsing or decoding:
                        status line, headers, body; up to the cut when truncated */
  size_t got_len;
  char peer[48];     /* the server's address, numeric */
  time_t date;       /* when the request was sent */
};

/* client_get's flags. */
#define CLIENT_KEEP_ALL 1 /* keep every body in r->body */
#define CLIENT_TRUNCATE 2 /* a body over max_body is cut there, not an error */

/* Set up c for requests through hosts; tls (may be NULL) serves https:.
 * Without it the default settings (the system's trust store) are made at
 * the first https: request: loading that store costs 4 MB that a crawl of
 * http: sites never needs. Any thread. */
void client_init(struct client *c, struct hosts *hosts, struct tls_config *tls,
                 int64_t timeout_ms);

/* Free what c made. */
void client_destroy(struct client *c);

/*
 * GET u (an http or https URL) from its server h: wait for a lease on h,
 * then, with the deadline start + timeout over resolving, connecting, the
 * TLS handshake, sending and the whole response, send the request on an
 * idle connection or a new one and read the response. A reused connection the server closed before any
 * byte of the response arrived is retried once on a new connection (sink
 * has seen nothing of it then). max_body bounds the body: a longer one is
 * an error, or with CLIENT_TRUNCATE in flags is cut there (r->truncated,
 * the first max_body bytes kept). The body is kept with CLIENT_KEEP_ALL;
 * otherwise that of a 2xx text/html response goes to sink, if not NULL,
 * as it arrives. Fills *r (free with response_free). May switch.
 */
void client_get(struct client *c, struct host *h, const struct url *u, size_t max_body,
                int flags, http_sink_fn sink, void *sink_arg, struct response *r);

void response_free(struct response *r);

/* The record's words for the weft error code err of a socket call. Any thread. */
const char *client_strerror(int err, char *buf, size_t len);

#endif
