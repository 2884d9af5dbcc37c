/*
 * client.c - one GET through the connection pool (see client.h).
 *
 * The deadline starts once the lease is held, so time spent queueing
 * behind other requests to the same server is not charged to this one,
 * and it covers everything after: resolving the name and connecting
 * (weft_tcp_connect), sending, and every byte of the response.
 *
 * Keep-alive has a race no client can avoid: a server may close an idle
 * connection just as a request is sent on it. Such a request fails before
 * any byte of a response arrives (a reset, a broken pipe or a bare close),
 * and since the server never saw it, it is sent once more on a new
 * connection. A failure after the first response byte is never retried.
 *
 * An idle connection is probed before it is reused (take_idle): bytes
 * that arrived on it after its last response ended are the rest of a
 * response longer than it said, and must never be read as the answer to
 * the next request (RFC 9112, section 6.3); an end of stream or a reset
 * there means the server has closed it. Either way it is closed instead.
 *
 * With c->capture (--warc) the exchange is kept for the archive: the
 * request as sent, each received buffer appended as it comes off the
 * connection (before the parser or a decoder sees it), cut afterwards
 * where the parser says the response ended (http.h, msg_len), and the
 * peer's address. Without it none of this is done or allocated.
 */
#include "client.h"

#include "buf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <string.h>

void client_init(struct client *c, struct hosts *hosts, struct tls_config *tls,
                 int64_t timeout_ms) {
  c->hosts = hosts;
  c->tls = tls;
  c->own_tls = 0;
  pthread_mutex_init(&c->tls_lock, NULL);
  c->compress = 1;
  c->capture = 0;
  c->timeout_ms = timeout_ms;
  snprintf(c->agent, sizeof c->agent, "weft-fetch/%s", weft_version());
}

const char *client_strerror(int err, char *buf, size_t len) {
  switch (err) {
  case WEFT_ETIMEDOUT: return "timed out";
  case WEFT_ECANCELED: return "cancelled";
  case WEFT_ECONNREFUSED: return "connection refused";
  case WEFT_ECONNRESET:
  case WEFT_EPIPE: return "connection reset";
  case WEFT_EAI_NONAME: return "unknown host";
  case WEFT_EAI_AGAIN: return "name lookup failed for now (resolver: try again)";
  case WEFT_EAI_FAIL: return "name lookup failed";
  case -EHOSTUNREACH: return "host unreachable";
  case -ENETUNREACH: return "network unreachable";
  case WEFT_EMFILE:
  case -ENFILE: return "too many open files";
  case WEFT_ENOMEM: return "out of memory";
  default: snprintf(buf, len, "connection failed: %s", weft_strerror(err)); return buf;
  }
}

/* A parser failure, as opposed to a (negative) weft error or TLS_FAILED
 * (which sets the response's errbuf). */
#define PARSE_FAILED 1

/* Send on c, through TLS for https. Returns 0, a weft error, or
 * TLS_FAILED with errbuf set. */
static int conn_send(struct conn *c, const void *data, size_t len, int64_t deadline,
                     char *errbuf, size_t errlen) {
  if (!c->tls)
    return weft_send(c->sock, data, len, deadline);
  return tls_send(c->tls, c->sock, data, len, deadline, errbuf, errlen);
}

/* Receive on c, likewise; 0 at the end of the stream. */
static ssize_t conn_recv(struct conn *c, void *data, size_t len, int64_t deadline, char *errbuf,
                         size_t errlen) {
  if (!c->tls)
    return weft_recv(c->sock, data, len, deadline);
  return tls_recv(c->tls, c->sock, data, len, deadline, errbuf, errlen);
}

/* Send the request on c (ending h's claimed send, if claimed) and read
 * the response into p, and into cap as received unless cap is NULL.
 * Returns 0 (p is complete), PARSE_FAILED (p->error says why), TLS_FAILED
 * (errbuf says why) or a weft error. */
static int exchange(struct host *h, int claimed, struct conn *c, const struct buf *req,
                    struct http_resp *p, struct buf *cap, int64_t deadline, char *errbuf,
                    size_t errlen) {
  char data[16384];
  int rc;
  if (cap)
    buf_reset(cap); /* a resent request starts afresh */
  rc = conn_send(c, req->data, req->len, deadline, errbuf, errlen);
  if (claimed)
    host_sent(h); /* see hosts.h, pacing */
  if (rc != 0)
    return rc;
  for (;;) {
    ssize_t n = conn_recv(c, data, sizeof data, deadline, errbuf, errlen);
    int st;
    if (n < 0)
      return (int)n;
    if (cap)
      buf_append(cap, data, (size_t)n);
    st = n > 0 ? http_resp_feed(p, data, (size_t)n) : http_resp_eof(p);
    if (st == HTTP_DONE)
      return 0;
    if (st == HTTP_FAILED)
      return PARSE_FAILED;
  }
}

void client_destroy(struct client *c) {
  if (c->own_tls)
    tls_config_free(c->tls);
  pthread_mutex_destroy(&c->tls_lock);
}

/* The TLS settings, made with the defaults on first use. NULL when they
 * cannot be (out of memory, no trust store). Never switches: the lock is
 * held only while OpenSSL reads the store. */
static struct tls_config *client_tls(struct client *c, char *errbuf, size_t errlen) {
  struct tls_config *cfg;
  char err[256] = "fetch: cannot set up TLS";
  pthread_mutex_lock(&c->tls_lock);
  if (!c->tls && tls_config_new(&c->tls, NULL, 0, err, sizeof err) == 0)
    c->own_tls = 1;
  cfg = c->tls;
  pthread_mutex_unlock(&c->tls_lock);
  if (!cfg)
    snprintf(errbuf, errlen, "tls: %.80s", err + (strncmp(err, "fetch: ", 7) == 0 ? 7 : 0));
  return cfg;
}

/* Open a new connection to u's server h: TCP, then TLS for https. Returns
 * 0, TLS_FAILED (errbuf says why) or a weft error. */
static int conn_open(struct client *cl, struct host *h, const struct url *u, int64_t deadline,
                     struct conn **out, char *errbuf, size_t errlen) {
  struct conn *c = calloc(1, sizeof *c);
  int rc;
  if (!c)
    return WEFT_ENOMEM;
  if ((rc = weft_tcp_connect(&c->sock, u->host, u->port, deadline)) != 0) {
    free(c);
    return rc;
  }
  if (strcmp(u->scheme, "https") == 0) {
    struct tls_config *cfg = client_tls(cl, errbuf, errlen);
    rc = cfg ? tls_connect(&c->tls, cfg, &h->tls, c->sock, u->host, deadline, errbuf, errlen)
             : TLS_FAILED;
    if (rc != 0) {
      c->tls = NULL;
      conn_close(c);
      return rc;
    }
  }
  *out = c;
  return 0;
}

/* An idle connection to h still fit for a request: nothing, not even the
 * end of the stream, has arrived on it since its last response ended.
 * Those that are not are closed. NULL when none is left. Does not wait
 * (deadline 0); may switch while closing. */
static struct conn *take_idle(struct client *c, struct host *h) {
  struct conn *cn;
  char byte, err[96];
  while ((cn = host_take_idle(c->hosts, h)) != NULL) {
    if (conn_recv(cn, &byte, 1, 0, err, sizeof err) == WEFT_ETIMEDOUT)
      return cn;
    conn_close(cn);
  }
  return NULL;
}

/* Whether a failed attempt on a reused connection may be sent again: the
 * server closed it before answering. */
static int stale(int rc, const struct http_resp *p) {
  return p->received == 0 &&
         (rc == WEFT_EPIPE || rc == WEFT_ECONNRESET || rc == PARSE_FAILED || rc == TLS_FAILED);
}

/* Move p's outcome into r. */
static void fill(struct response *r, struct http_resp *p, int rc) {
  r->status = p->status;
  r->bytes = p->body_bytes;
  r->wire_bytes = p->wire_bytes;
  r->html = p->html;
  r->truncated = p->truncated;
  r->body = p->body;
  r->body_len = p->body_len;
  r->location = p->location;
  r->retry_after = p->retry_after;
  p->body = p->location = p->retry_after = NULL;
  if (rc == PARSE_FAILED) {
    snprintf(r->errbuf, sizeof r->errbuf, "%s", p->error);
    r->error = r->errbuf;
  } else if (rc == TLS_FAILED) {
    r->error = r->errbuf; /* written by the TLS layer */
  } else if (rc < 0) {
    r->err = rc;
    r->error = client_strerror(rc, r->errbuf, sizeof r->errbuf);
    r->cancelled = rc == WEFT_ECANCELED;
  }
}

/* Start p for a response to a request made with client_get's flags. */
static void resp_init(struct http_resp *p, size_t max_body, int flags, http_sink_fn sink,
                      void *sink_arg) {
  http_resp_init(p, max_body, flags & CLIENT_KEEP_ALL, sink, sink_arg);
  p->truncate = (flags & CLIENT_TRUNCATE) != 0;
}

/* Hand r what was captured of an exchange that got a status line: the
 * request, the response up to where it ended, the address of cn's peer. */
static void keep_capture(struct response *r, struct buf *req, struct buf *cap,
                         const struct http_resp *p, struct conn *cn) {
  struct sockaddr_storage sa;
  socklen_t salen = sizeof sa;
  if (!p->status)
    return;
  r->got_len = (p->done || p->error) && p->msg_len < cap->len ? p->msg_len : cap->len;
  r->sent_len = req->len;
  r->got = buf_take(cap);
  r->sent = buf_take(req);
  if (cn && weft_sock_peer_addr(cn->sock, (struct sockaddr *)&sa, &salen) == 0) {
    if (sa.ss_family == AF_INET)
      inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, r->peer, sizeof r->peer);
    else if (sa.ss_family == AF_INET6)
      inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, r->peer, sizeof r->peer);
  }
}

void client_get(struct client *c, struct host *h, const struct url *u, size_t max_body,
                int flags, http_sink_fn sink, void *sink_arg, struct response *r) {
  struct buf req = BUF_INIT, got = BUF_INIT;
  struct http_resp p;
  struct conn *cn = NULL;
  int64_t start, deadline, paced;
  int rc;

  memset(r, 0, sizeof *r);
  if ((rc = host_lease(h)) != 0) {
    r->err = rc;
    r->error = client_strerror(rc, r->errbuf, sizeof r->errbuf);
    r->cancelled = rc == WEFT_ECANCELED;
    return;
  }
  start = weft_now();
  deadline = start + c->timeout_ms;
  if (c->capture)
    r->date = time(NULL);
  buf_printf(&req,
             "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept-Encoding: %s\r\n"
             "Connection: keep-alive\r\n\r\n",
             u->target, u->authority, c->agent, c->compress ? "gzip, deflate, br" : "identity");
  resp_init(&p, max_body, flags, sink, sink_arg);
  rc = buf_failed(&req) ? WEFT_ENOMEM : 0;
  for (int attempt = 0; rc == 0; attempt++) {
    int reused = attempt == 0 && (cn = take_idle(c, h)) != NULL;
    if (!cn && (rc = conn_open(c, h, u, deadline, &cn, r->errbuf, sizeof r->errbuf)) != 0) {
      cn = NULL;
      break;
    }
    int claimed;
    if ((paced = host_pace(h, &claimed)) < 0) { /* see hosts.h, pacing */
      rc = (int)paced;
      break;
    }
    deadline += paced; /* waiting for the host's turn is not the request's time */
    if (c->capture)
      r->date = time(NULL); /* when the request goes out, after its turn came */
    rc = exchange(h, claimed, cn, &req, &p, c->capture ? &got : NULL, deadline, r->errbuf,
                  sizeof r->errbuf);
    if (!reused || !stale(rc, &p))
      break;
    conn_close(cn); /* closed by the server while idle: once more, afresh */
    r->resent = 1;
    cn = NULL;
    http_resp_destroy(&p);
    resp_init(&p, max_body, flags, sink, sink_arg);
    rc = 0;
  }
  fill(r, &p, rc);
  if (cn && cn->tls)
    r->tls = tls_version(cn->tls);
  r->ms = weft_now() - start;
  if (c->capture)
    keep_capture(r, &req, &got, &p, cn);
  host_release(c->hosts, h, cn, rc == 0 && p.keep_alive && p.extra == 0);
  http_resp_destroy(&p);
  buf_free(&req);
  buf_free(&got);
}

void response_free(struct response *r) {
  free(r->body);
  free(r->location);
  free(r->retry_after);
  free(r->sent);
  free(r->got);
  r->body = r->location = r->retry_after = r->sent = r->got = NULL;
}
