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
 */
#include "client.h"

#include "buf.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void client_init(struct client *c, struct hosts *hosts, int64_t timeout_ms) {
  c->hosts = hosts;
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

/* A parser failure, as opposed to a (negative) weft error. */
#define PARSE_FAILED 1

/* Send the request on s and read the response into p. Returns 0 (p is
 * complete), PARSE_FAILED (p->error says why) or a weft error. */
static int exchange(weft_sock *s, const struct buf *req, struct http_resp *p, int64_t deadline) {
  char data[16384];
  int rc = weft_send(s, req->data, req->len, deadline);
  if (rc != 0)
    return rc;
  for (;;) {
    ssize_t n = weft_recv(s, data, sizeof data, deadline);
    int st;
    if (n < 0)
      return (int)n;
    st = n > 0 ? http_resp_feed(p, data, (size_t)n) : http_resp_eof(p);
    if (st == HTTP_DONE)
      return 0;
    if (st == HTTP_FAILED)
      return PARSE_FAILED;
  }
}

/* Whether a failed attempt on a reused connection may be sent again: the
 * server closed it before answering. */
static int stale(int rc, const struct http_resp *p) {
  return p->received == 0 && (rc == WEFT_EPIPE || rc == WEFT_ECONNRESET || rc == PARSE_FAILED);
}

/* Move p's outcome into r. */
static void fill(struct response *r, struct http_resp *p, int rc) {
  r->status = p->status;
  r->bytes = p->body_bytes;
  r->html = p->html;
  r->body = p->body;
  r->body_len = p->body_len;
  r->location = p->location;
  p->body = p->location = NULL;
  if (rc == PARSE_FAILED) {
    snprintf(r->errbuf, sizeof r->errbuf, "%s", p->error);
    r->error = r->errbuf;
  } else if (rc < 0) {
    r->error = client_strerror(rc, r->errbuf, sizeof r->errbuf);
    r->cancelled = rc == WEFT_ECANCELED;
  }
}

void client_get(struct client *c, struct host *h, const struct url *u, size_t max_body,
                int keep_all, http_sink_fn sink, void *sink_arg, struct response *r) {
  struct buf req = BUF_INIT;
  struct http_resp p;
  weft_sock *s = NULL;
  int64_t start, deadline;
  int rc;

  memset(r, 0, sizeof *r);
  if ((rc = host_lease(h)) != 0) {
    r->error = client_strerror(rc, r->errbuf, sizeof r->errbuf);
    r->cancelled = rc == WEFT_ECANCELED;
    return;
  }
  start = weft_now();
  deadline = start + c->timeout_ms;
  buf_printf(&req,
             "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept-Encoding: identity\r\n"
             "Connection: keep-alive\r\n\r\n",
             u->target, u->authority, c->agent);
  http_resp_init(&p, max_body, keep_all, sink, sink_arg);
  rc = buf_failed(&req) ? WEFT_ENOMEM : 0;
  for (int attempt = 0; rc == 0; attempt++) {
    int reused = attempt == 0 && (s = host_take_idle(c->hosts, h)) != NULL;
    if (!s && (rc = weft_tcp_connect(&s, u->host, u->port, deadline)) != 0) {
      s = NULL;
      break;
    }
    rc = exchange(s, &req, &p, deadline);
    if (!reused || !stale(rc, &p))
      break;
    weft_sock_close(s); /* closed by the server while idle: once more, afresh */
    s = NULL;
    http_resp_destroy(&p);
    http_resp_init(&p, max_body, keep_all, sink, sink_arg);
    rc = 0;
  }
  fill(r, &p, rc);
  r->ms = weft_now() - start;
  host_release(c->hosts, h, s, rc == 0 && p.keep_alive && p.extra == 0);
  http_resp_destroy(&p);
  buf_free(&req);
}

void response_free(struct response *r) {
  free(r->body);
  free(r->location);
  r->body = r->location = NULL;
}
