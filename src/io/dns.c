/*
 * dns.c - name resolution through libuv's resolver (uv_getaddrinfo runs
 * getaddrinfo on libuv's thread pool), as an io op (op.c). Numeric
 * addresses never leave the task's worker.
 *
 * Cancelling a lookup wakes the task at once with WEFT_ECANCELED; the pool
 * job itself cannot be stopped once running, so its result, when it comes,
 * is freed on the I/O thread and dropped.
 */
#define _GNU_SOURCE
#include "io/sock.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct dns_op {
  weft__io_op op;
  uv_getaddrinfo_t req;     /* I/O thread only */
  const char *host, *port;  /* the caller's strings; valid while it waits */
  struct addrinfo hints;
  struct addrinfo *result;  /* handed to the task when it finished normally */
};

static void dns_destroy(weft__io_op *op) {
  struct dns_op *d = container_of(op, struct dns_op, op);
  if (d->result)
    uv_freeaddrinfo(d->result);
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  struct dns_op *d = req->data;
  if (!d->op.finished && status == 0) {
    d->result = res; /* the task takes it */
    weft__io_finish(&d->op, 0);
  } else {
    if (res)
      uv_freeaddrinfo(res); /* cancelled meanwhile: drop it */
    weft__io_finish(&d->op, weft__uv_error(status));
  }
  weft__io_op_unref(&d->op); /* the I/O thread's reference */
}

static void dns_start(weft__io_op *op) {
  struct dns_op *d = container_of(op, struct dns_op, op);
  int rc;
  d->req.data = d;
  rc = uv_getaddrinfo(weft__io_loop(op->io), &d->req, resolved, d->host, d->port, &d->hints);
  if (rc) {
    weft__io_finish(op, weft__uv_error(rc));
    weft__io_op_unref(op);
  }
}

static void dns_cancel(weft__io_op *op, int result) {
  struct dns_op *d = container_of(op, struct dns_op, op);
  /* Queued jobs are withdrawn (the callback then reports UV_EAI_CANCELED);
   * a running one is not, and its result is dropped when it arrives. */
  uv_cancel((uv_req_t *)&d->req);
  weft__io_finish(op, result);
}

static const weft__io_op_kind dns_kind = {
    .size = sizeof(struct dns_op),
    .start = dns_start,
    .cancel = dns_cancel,
    .destroy = dns_destroy,
};
WEFT__IO_OP_FIRST(struct dns_op);

/* Is host a numeric address (or empty, for a wildcard)? */
static int numeric(const char *host, const char *port, const struct addrinfo *hints,
                   struct addrinfo **out) {
  struct addrinfo h = *hints;
  int rc;
  h.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
  rc = getaddrinfo(host, port, &h, out);
  return rc == 0 ? 0 : -1;
}

static int check_port(const char *port) {
  char *end;
  long v;
  if (!port || !*port)
    return WEFT_EINVAL;
  v = strtol(port, &end, 10);
  if (*end || v < 0 || v > 65535)
    return WEFT_EINVAL;
  return 0;
}

int weft__resolve(const char *host, const char *port, int passive, struct addrinfo **out) {
  struct dns_op *d;
  struct addrinfo hints;
  weft__io *io = weft__io_current();
  int rc;

  *out = NULL;
  if (!io)
    return WEFT_EPERM;
  if ((rc = check_port(port)))
    return rc;
  if (host && !*host)
    host = NULL;
  if (!host && !passive)
    return WEFT_EINVAL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = (passive ? AI_PASSIVE : 0) | AI_ADDRCONFIG;
  if (!host || numeric(host, port, &hints, out) == 0) {
    if (!host && getaddrinfo(NULL, port, &hints, out) != 0)
      return WEFT_EINVAL;
    return 0;
  }
  if (strlen(host) > 253 || strpbrk(host, " /\\\t\r\n"))
    return WEFT_EINVAL; /* not a host name at all */
  d = (struct dns_op *)weft__io_op_new(&dns_kind);
  if (!d)
    return WEFT_ENOMEM;
  d->host = host;
  d->port = port;
  d->hints = hints;
  weft__wait_note(weft_self(), "name resolution", 0, -1);
  rc = weft__io_wait(&d->op, -1, true);
  if (rc == 0) {
    *out = d->result;
    d->result = NULL;
  }
  weft__io_op_unref(&d->op);
  return rc;
}

int weft_getaddrinfo(const char *host, const char *port, struct addrinfo **out) {
  if (!out)
    return WEFT_EINVAL;
  return weft__resolve(host, port, 0, out);
}

void weft_freeaddrinfo(struct addrinfo *ai) {
  if (ai)
    freeaddrinfo(ai); /* libuv's results come from getaddrinfo too */
}
