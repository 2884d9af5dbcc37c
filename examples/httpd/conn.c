/*
 * conn.c - one connection of httpd: a task that reads a request head,
 * answers it and repeats, as plain sequential code (see conn.h).
 *
 * The loop, conn_serve: take a whole head from the input buffer
 * (parse_head); if there is none yet, receive more; answer a bad head
 * with its status and close; else resolve the target (file_resolve) and
 * send the file or a status, then drop the head from the buffer, which
 * may already hold the next, pipelined request. Requests are answered in
 * order, one at a time.
 *
 * Against slow clients every wait has a deadline: the whole request head
 * must arrive within -T of its first byte (or of the connection's
 * accept), an idle kept-alive connection waits at most -K for its next
 * request, and each send of an answer at most -S. On expiry the
 * connection is closed without an answer.
 *
 * A connection closed after an answer lingers: it shuts down its sending
 * side and reads what the client still sends for a while, so that unread
 * input does not turn the close into a reset that destroys the answer in
 * flight.
 */
#define _GNU_SOURCE
#include "conn.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "file.h"
#include "parse.h"
#include "path.h"

/* Room for an answer's status line and headers (a Location header echoes
 * up to a whole target), and the size of the pieces a file is sent in. */
#define OUT_SIZE (HTTPD_TARGET_MAX + 1024)
#define CHUNK 65536

/* How long and how much a connection lingers before it closes. */
#define LINGER_MS 2000
#define LINGER_BYTES (1024 * 1024)

/* One connection; owned by its task. */
struct conn {
  struct server *sv;
  weft_sock *sock;
  size_t in_len;         /* bytes in in[] not yet consumed */
  bool idle;             /* waiting for the first byte of a new request */
  int64_t head_deadline; /* when the current request head must be whole */
  int status;            /* the last answer's status and body length, for -v */
  int64_t sent;
  char peer[INET6_ADDRSTRLEN + 8];
  char in[HTTPD_IN_SIZE];
  char out[OUT_SIZE];
  char fs[]; /* root + URL path + "index.html": root_len + HTTPD_PATH_ROOM bytes */
};

/* ------------------------------------------------------------------ */
/* Answering                                                           */

static const char *conn_reason(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 301:
    return "Moved Permanently";
  case 400:
    return "Bad Request";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 414:
    return "URI Too Long";
  case 431:
    return "Request Header Fields Too Large";
  case 505:
    return "HTTP Version Not Supported";
  default:
    return "Internal Server Error";
  }
}

/* Format the status line and headers into c->out. extra is more header
 * lines (each ending in CRLF) or "". Returns the length. */
static size_t conn_format_head(struct conn *c, int status, const char *type, int64_t length,
                               bool keep_alive, int minor, const char *extra) {
  const char *connection = !keep_alive  ? "Connection: close\r\n"
                           : minor == 0 ? "Connection: keep-alive\r\n"
                                        : ""; /* 1.1 keeps alive unless told */
  char date[64];
  struct tm tm;
  time_t now = time(NULL);
  int n;

  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
  n = snprintf(c->out, sizeof c->out,
               "HTTP/1.1 %d %s\r\nServer: weft-httpd\r\nDate: %s\r\nContent-Type: %s\r\n"
               "Content-Length: %lld\r\n%s%s\r\n",
               status, conn_reason(status), date, type, (long long)length, connection, extra);
  return n < 0 || (size_t)n >= sizeof c->out ? 0 : (size_t)n;
}

static int conn_send(struct conn *c, const void *buf, size_t len) {
  return weft_send(c->sock, buf, len, weft_now() + c->sv->send_ms);
}

/* Answer with status and a short text body (none for HEAD). extra as in
 * format_head. Returns 0 or a WEFT_E* code. May switch. */
static int conn_answer_status(struct conn *c, int status, bool head, bool keep_alive, int minor,
                              const char *extra) {
  char body[64];
  int body_len = snprintf(body, sizeof body, "%d %s\n", status, conn_reason(status));
  size_t n =
      conn_format_head(c, status, "text/plain; charset=utf-8", body_len, keep_alive, minor, extra);

  if (n == 0)
    return WEFT_ENOMEM;
  if (!head) {
    if (n + (size_t)body_len > sizeof c->out)
      return WEFT_ENOMEM;
    memcpy(c->out + n, body, (size_t)body_len);
    n += (size_t)body_len;
  }
  c->status = status;
  c->sent = head ? 0 : body_len;
  return conn_send(c, c->out, n);
}

/* Answer with a file: the head and the body in pieces of CHUNK bytes, the
 * first piece sent with the head. A file that shrinks meanwhile ends the
 * connection (its length was promised). Returns 0 or a WEFT_E* code.
 * May switch. */
static int conn_answer_file(struct conn *c, const struct target *tg, bool head, bool keep_alive,
                            int minor) {
  size_t hlen = conn_format_head(c, 200, tg->type, tg->size, keep_alive, minor, ""), cap, used;
  int64_t off = 0;
  char *buf;
  int err = 0;

  c->status = 200;
  c->sent = head ? 0 : tg->size;
  if (hlen == 0)
    return WEFT_ENOMEM;
  if (head || tg->size == 0)
    return conn_send(c, c->out, hlen);
  cap = hlen + (tg->size < CHUNK ? (size_t)tg->size : CHUNK);
  if (!(buf = malloc(cap)))
    return WEFT_ENOMEM;
  memcpy(buf, c->out, hlen);
  used = hlen;
  while (!err && off < tg->size) {
    size_t want = cap - used;
    if ((int64_t)want > tg->size - off)
      want = (size_t)(tg->size - off);
    ssize_t n = weft_file_read(tg->fd, buf + used, want, off, weft_now() + FILE_MS);
    if (n <= 0) {
      err = n < 0 ? (int)n : WEFT_EPIPE; /* read error, or the file shrank */
      break;
    }
    off += n;
    err = conn_send(c, buf, used + (size_t)n);
    used = 0;
  }
  free(buf);
  return err;
}

/* Whether the connection stays open after answering rq with status. */
static bool conn_keeps_alive(const struct request *rq, int status) {
  if (status == 400 || status == 414 || status == 431 || status == 505 || rq->has_body)
    return false;
  if (rq->conn_close)
    return false;
  return rq->minor >= 1 || rq->conn_keep_alive;
}

/* Answer one request. Sets *keep to whether the connection stays open.
 * Returns 0 or a WEFT_E* code (the connection is then dropped).
 * May switch. */
static int conn_answer(struct conn *c, const struct request *rq, bool *keep) {
  struct target tg = {.fd = -1};
  char extra[HTTPD_TARGET_MAX + 64];
  const char *path;
  size_t len;
  int err;

  if (!rq->get && !rq->head) {
    *keep = conn_keeps_alive(rq, 405);
    return conn_answer_status(c, 405, false, *keep, rq->minor, "Allow: GET, HEAD\r\n");
  }
  file_resolve(c->sv->root, c->sv->root_len, rq, c->fs, &tg);
  *keep = conn_keeps_alive(rq, tg.status);
  if (tg.status == 200) {
    err = conn_answer_file(c, &tg, rq->head, *keep, rq->minor);
    weft_file_close(tg.fd);
    return err;
  }
  if (tg.status == 301) {
    const char *q = memchr(rq->target, '?', rq->target_len);
    parse_target_path(rq, &path, &len);
    snprintf(extra, sizeof extra, "Location: %.*s/%.*s\r\n", (int)len, path,
             q ? (int)(rq->target + rq->target_len - q) : 0, q ? q : "");
    return conn_answer_status(c, 301, rq->head, *keep, rq->minor, extra);
  }
  return conn_answer_status(c, tg.status, rq->head, *keep, rq->minor, "");
}

/* ------------------------------------------------------------------ */
/* The connection loop                                                 */

static void conn_log(struct conn *c, const struct request *rq) {
  if (!rq) {
    fprintf(stderr, "httpd: %s \"-\" %d %lld\n", c->peer, c->status, (long long)c->sent);
    return;
  }
  fprintf(stderr, "httpd: %s \"%.*s %.*s HTTP/1.%d\" %d %lld\n", c->peer, (int)rq->method_len,
          rq->method, rq->target_len > 200 ? 200 : (int)rq->target_len, rq->target, rq->minor,
          c->status, (long long)c->sent);
}

/* Receive more of a request head, waiting until the idle deadline for the
 * first byte of a request and until the request deadline for the rest.
 * Returns the count, 0 when the peer closed, or a WEFT_E* code
 * (WEFT_ETIMEDOUT when the deadline passed; WEFT_EINVAL for a full buffer,
 * which parse_head rules out). May switch. */
static ssize_t conn_receive(struct conn *c) {
  int64_t deadline = c->idle ? weft_now() + c->sv->idle_ms : c->head_deadline;
  ssize_t n;

  if (c->in_len == sizeof c->in)
    return WEFT_EINVAL;
  n = weft_recv(c->sock, c->in + c->in_len, sizeof c->in - c->in_len, deadline);
  if (n > 0) {
    if (c->idle)
      c->head_deadline = weft_now() + c->sv->request_ms;
    c->idle = false;
    c->in_len += (size_t)n;
  }
  return n;
}

/* Stop sending, then read and drop what the client still sends, for a
 * while, so that closing does not reset the connection under the answer
 * it has not read yet. May switch. */
static void conn_linger(struct conn *c) {
  int64_t deadline = weft_now() + LINGER_MS;
  size_t drained = 0;
  ssize_t n;

  if (weft_sock_shutdown(c->sock, SHUT_WR) != 0)
    return;
  while (drained < LINGER_BYTES && (n = weft_recv(c->sock, c->in, sizeof c->in, deadline)) > 0)
    drained += (size_t)n;
}

/* Serve requests until one ends the connection, the peer leaves, a
 * deadline passes or the task is cancelled. May switch. */
static void conn_serve(struct conn *c) {
  struct request rq;
  bool keep = true;
  long n;

  while (keep) {
    if ((n = parse_head(c->in, &c->in_len, &rq)) == 0) {
      if (conn_receive(c) <= 0)
        return;
      continue;
    }
    if (n < 0) {
      conn_answer_status(c, (int)-n, false, false, 1, "");
      if (c->sv->verbose)
        conn_log(c, NULL);
      conn_linger(c);
      return;
    }
    if (conn_answer(c, &rq, &keep) != 0)
      return;
    atomic_fetch_add(&c->sv->requests, 1);
    if (c->sv->verbose)
      conn_log(c, &rq);
    c->in_len -= (size_t)n;
    memmove(c->in, c->in + n, c->in_len);
    c->idle = c->in_len == 0;
    c->head_deadline = weft_now() + c->sv->request_ms;
  }
  conn_linger(c);
}

/* Describe the peer as "address:port" for the log. */
static void conn_describe_peer(struct conn *c) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char host[INET6_ADDRSTRLEN], port[8];

  strcpy(c->peer, "?");
  if (weft_sock_peer_addr(c->sock, (struct sockaddr *)&ss, &len) == 0 &&
      getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, port, sizeof port,
                  NI_NUMERICHOST | NI_NUMERICSERV) == 0)
    snprintf(c->peer, sizeof c->peer, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

/* The body of a connection task: it owns c and its socket. */
static void *conn_main(void *arg) {
  struct conn *c = arg;
  struct server *sv = c->sv;

  if (sv->verbose)
    conn_describe_peer(c);
  conn_serve(c);
  weft_sock_close(c->sock);
  free(c);
  atomic_fetch_sub(&sv->open, 1);
  return NULL;
}

/* A new connection's state, or NULL when out of memory. */
static struct conn *conn_new(struct server *sv, weft_sock *sock) {
  struct conn *c = malloc(sizeof *c + sv->root_len + HTTPD_PATH_ROOM);

  if (!c)
    return NULL;
  c->sv = sv;
  c->sock = sock;
  c->in_len = 0;
  c->idle = false;
  c->head_deadline = weft_now() + sv->request_ms;
  c->status = 0;
  c->sent = 0;
  return c;
}

/* Start a connection's task (see conn.h). */
int conn_start(struct server *sv, weft_sock *sock) {
  struct conn *c = conn_new(sv, sock);
  int rc;

  if (!c)
    return WEFT_ENOMEM;
  atomic_fetch_add(&sv->open, 1);
  if ((rc = weft_spawn(NULL, conn_main, c)) != 0) {
    atomic_fetch_sub(&sv->open, 1);
    free(c);
  }
  return rc;
}
