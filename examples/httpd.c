/*
 * httpd - a static file server: GET and HEAD for the files under one
 * directory, one task per connection, written as plain sequential code
 * (read a request, answer it, repeat). It serves the demo site that
 * examples/fetch crawls.
 *
 *   httpd [-H host] [-p port] [-w workers] [-T ms] [-K ms] [-S ms] [-v] DIR
 *
 *   -H host     address to listen on (127.0.0.1; "" for every address)
 *   -p port     port (0, the default, takes any free port)
 *   -w workers  worker threads (default: one per online CPU)
 *   -T ms       request deadline: a request head must arrive whole within
 *               this time of its first byte (10000)
 *   -K ms       a kept-alive connection idle this long is closed (15000)
 *   -S ms       send deadline: each piece of an answer must leave within
 *               this time, else the connection is dropped (30000)
 *   -v          log one line per request on stderr
 *
 * The first line on stdout is "httpd: listening on ADDRESS:PORT". The
 * server runs until SIGINT or SIGTERM; then it closes its listener, and
 * weft_main's shutdown cancels the connection tasks, which close their
 * sockets and files and free their buffers. The exit status is 0.
 *
 * What it speaks: HTTP/1.0 and 1.1, persistent connections (1.1 unless
 * "Connection: close", 1.0 only with "Connection: keep-alive") and
 * pipelining (requests are answered in order). A directory's URL without a
 * trailing slash is redirected (301) to the one with it, which serves the
 * directory's index.html. Query strings are ignored. Files are sent in
 * pieces of CHUNK bytes read with weft_file_read, so their size does not
 * matter. A request that carries a body (no method served here needs one)
 * is answered and then its connection is closed.
 *
 * Errors: 400 for a malformed request line or header (or an HTTP/1.1
 * request without Host), 403 for a path that would leave DIR ("..", also
 * percent-encoded, or a symbolic link whose target is outside), 404, 405
 * with "Allow: GET, HEAD" for other methods, 414 for a request target over
 * HTTPD_TARGET_MAX bytes, 431 for a header block over HTTPD_HEADERS_MAX
 * bytes, 505 for an HTTP version other than 1.x. After 400, 414, 431 and
 * 505 the connection is closed.
 *
 * Parsing the request head and mapping its target to a path are in
 * httpd_parse.c, which does no I/O, so tests/fuzz/fuzz_httpd.c can drive
 * them alone.
 *
 * Staying inside DIR takes two checks. The URL path is decoded and split
 * into segments, and any ".." segment is refused, so no lexical path
 * leaves DIR (httpd_map_path). Symbolic links are followed, but only to files inside DIR:
 * after opening a file the server resolves its path with realpath(3),
 * checks that the result lies under DIR's own real path, and checks that
 * the result names the very file it opened (same device and inode), so a
 * link swapped between the open and the check is caught too.
 *
 * Against slow clients every wait has a deadline: the whole request head
 * must arrive within -T of its first byte (or of the connection's
 * accept), an idle kept-alive connection waits at most -K for its next
 * request, and each send of an answer at most -S. On expiry the
 * connection is closed without an answer.
 *
 * Signals reach the main task through weft_signal_wait. It holds SIGINT
 * and SIGTERM (weft_signal_hold) before it announces its port, so a
 * signal sent by someone who read that line is never missed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <weft.h>

#include "httpd_parse.h"

/* Room for an answer's status line and headers (a Location header echoes
 * up to a whole target), and the size of the pieces a file is sent in. */
#define OUT_SIZE (HTTPD_TARGET_MAX + 1024)
#define CHUNK 65536

/* A connection closed after an answer first drains what the client still
 * sends, so that unread input does not turn the close into a reset that
 * destroys the answer in flight: at most this long and this much. */
#define LINGER_MS 2000
#define LINGER_BYTES (1024 * 1024)

/* Deadline for each file open or read on the thread pool. */
#define FILE_MS 30000

/* The server's settings and counters. Written by main() before weft_main
 * starts; afterwards read-only but for the atomics. */
struct server {
  const char *host, *port;
  char *root;      /* DIR's real path */
  size_t root_len; /* its length, 0 for "/" (every path starts with '/') */
  int64_t request_ms, idle_ms, send_ms;
  bool verbose;
  weft_sock *listener;  /* main task only */
  weft_task *acceptor;  /* main task only */
  atomic_long open;     /* connections being served; any task */
  atomic_long served;   /* connections accepted; any task */
  atomic_long requests; /* requests answered; any task */
};

/* What a request resolved to: a file to send, or a status to answer. */
struct target {
  int status; /* 200, or 301/403/404/500 */
  int fd;     /* status 200: the open file */
  int64_t size;
  const char *type;
};

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

static const int stop_signals[] = {SIGINT, SIGTERM};

/* ------------------------------------------------------------------ */
/* From a URL to a file                                                 */

/* The Content-Type for a file name, by its extension. */
static const char *content_type(const char *name) {
  static const char *const types[][2] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"css", "text/css"},
      {"js", "text/javascript"},
      {"txt", "text/plain"},
      {"json", "application/json"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"svg", "image/svg+xml"},
      {"ico", "image/x-icon"},
      {"pdf", "application/pdf"},
      {"xml", "application/xml"},
  };
  const char *base = strrchr(name, '/'), *dot;

  dot = strrchr(base ? base : name, '.');
  if (dot)
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
      if (strcasecmp(dot + 1, types[i][0]) == 0)
        return types[i][1];
  return "application/octet-stream";
}

/* The status for a failed open. */
static int open_status(int err) {
  switch (err) {
  case WEFT_ENOENT:
  case -ENOTDIR:
  case -ENAMETOOLONG: return 404;
  case -EACCES:
  case -EPERM:
  case -ELOOP: return 403;
  default: return 500;
  }
}

/* Whether the file st describes (open, reached by path) lies inside the
 * server's root: path's real location must be under the root and be that
 * very file. realpath runs on the worker, but the open just before has
 * warmed the kernel's name cache, so it costs lookups, not disk reads. */
static bool inside_root(const struct server *sv, const char *path, const struct stat *st) {
  char *real = realpath(path, NULL);
  struct stat rst;
  bool ok;

  if (!real)
    return false;
  ok = strncmp(real, sv->root, sv->root_len) == 0 &&
       (real[sv->root_len] == '/' || real[sv->root_len] == 0) && stat(real, &rst) == 0 &&
       rst.st_dev == st->st_dev && rst.st_ino == st->st_ino;
  free(real);
  return ok;
}

/* Open path for reading if it lies inside the root, and stat it. Returns
 * the fd, or minus the status to answer. May switch. */
static int open_inside(struct conn *c, const char *path, struct stat *st) {
  int fd = weft_file_open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, weft_now() + FILE_MS);

  if (fd < 0)
    return fd == WEFT_ECANCELED || fd == WEFT_ETIMEDOUT ? -500 : -open_status(fd);
  if (fstat(fd, st) < 0) {
    weft_file_close(fd);
    return -500;
  }
  if (!inside_root(c->sv, path, st)) {
    weft_file_close(fd);
    return -403;
  }
  if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode)) {
    weft_file_close(fd);
    return -403; /* devices, fifos, sockets are not served */
  }
  return fd;
}

/* Resolve a GET or HEAD target to an open regular file or a status.
 * May switch. */
static void resolve(struct conn *c, const struct httpd_request *rq, struct target *tg) {
  size_t fs_len;
  struct stat st;
  bool slash;
  int fd;

  tg->fd = -1;
  if ((tg->status = httpd_map_path(c->sv->root, c->sv->root_len, rq, c->fs, &fs_len, &slash)))
    return;
  if ((fd = open_inside(c, c->fs, &st)) < 0) {
    tg->status = -fd;
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    weft_file_close(fd);
    if (!slash) {
      tg->status = 301;
      return;
    }
    strcpy(c->fs + fs_len, c->fs[fs_len - 1] == '/' ? "index.html" : "/index.html");
    if ((fd = open_inside(c, c->fs, &st)) < 0) {
      tg->status = -fd;
      return;
    }
    if (!S_ISREG(st.st_mode)) {
      weft_file_close(fd);
      tg->status = 404; /* an index.html that is a directory */
      return;
    }
  } else if (slash) {
    weft_file_close(fd);
    tg->status = 404; /* "file/" names no file */
    return;
  }
  tg->status = 200;
  tg->fd = fd;
  tg->size = (int64_t)st.st_size;
  tg->type = content_type(c->fs);
}

/* ------------------------------------------------------------------ */
/* Answering                                                           */

static const char *reason(int status) {
  switch (status) {
  case 200: return "OK";
  case 301: return "Moved Permanently";
  case 400: return "Bad Request";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 414: return "URI Too Long";
  case 431: return "Request Header Fields Too Large";
  case 505: return "HTTP Version Not Supported";
  default: return "Internal Server Error";
  }
}

/* Format the status line and headers into c->out. extra is more header
 * lines (each ending in CRLF) or "". Returns the length. */
static size_t format_head(struct conn *c, int status, const char *type, int64_t length,
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
               status, reason(status), date, type, (long long)length, connection, extra);
  return n < 0 || (size_t)n >= sizeof c->out ? 0 : (size_t)n;
}

static int send_all(struct conn *c, const void *buf, size_t len) {
  return weft_send(c->sock, buf, len, weft_now() + c->sv->send_ms);
}

/* Answer with status and a short text body (none for HEAD). extra as in
 * format_head. Returns 0 or a WEFT_E* code. May switch. */
static int answer_status(struct conn *c, int status, bool head, bool keep_alive, int minor,
                         const char *extra) {
  char body[64];
  int body_len = snprintf(body, sizeof body, "%d %s\n", status, reason(status));
  size_t n =
      format_head(c, status, "text/plain; charset=utf-8", body_len, keep_alive, minor, extra);

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
  return send_all(c, c->out, n);
}

/* Answer with a file: the head and the body in pieces of CHUNK bytes, the
 * first piece sent with the head. A file that shrinks meanwhile ends the
 * connection (its length was promised). Returns 0 or a WEFT_E* code.
 * May switch. */
static int answer_file(struct conn *c, const struct target *tg, bool head, bool keep_alive,
                       int minor) {
  size_t hlen = format_head(c, 200, tg->type, tg->size, keep_alive, minor, ""), cap, used;
  int64_t off = 0;
  char *buf;
  int err = 0;

  c->status = 200;
  c->sent = head ? 0 : tg->size;
  if (hlen == 0)
    return WEFT_ENOMEM;
  if (head || tg->size == 0)
    return send_all(c, c->out, hlen);
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
    err = send_all(c, buf, used + (size_t)n);
    used = 0;
  }
  free(buf);
  return err;
}

/* Whether the connection stays open after answering rq with status. */
static bool keeps_alive(const struct httpd_request *rq, int status) {
  if (status == 400 || status == 414 || status == 431 || status == 505 || rq->has_body)
    return false;
  if (rq->conn_close)
    return false;
  return rq->minor >= 1 || rq->conn_keep_alive;
}

/* Answer one request. Sets *keep to whether the connection stays open.
 * Returns 0 or a WEFT_E* code (the connection is then dropped).
 * May switch. */
static int answer(struct conn *c, const struct httpd_request *rq, bool *keep) {
  struct target tg = {.fd = -1};
  char extra[HTTPD_TARGET_MAX + 64];
  const char *path;
  size_t len;
  int err;

  if (!rq->get && !rq->head) {
    *keep = keeps_alive(rq, 405);
    return answer_status(c, 405, false, *keep, rq->minor, "Allow: GET, HEAD\r\n");
  }
  resolve(c, rq, &tg);
  *keep = keeps_alive(rq, tg.status);
  if (tg.status == 200) {
    err = answer_file(c, &tg, rq->head, *keep, rq->minor);
    weft_file_close(tg.fd);
    return err;
  }
  if (tg.status == 301) {
    const char *q = memchr(rq->target, '?', rq->target_len);
    httpd_target_path(rq, &path, &len);
    snprintf(extra, sizeof extra, "Location: %.*s/%.*s\r\n", (int)len, path,
             q ? (int)(rq->target + rq->target_len - q) : 0, q ? q : "");
    return answer_status(c, 301, rq->head, *keep, rq->minor, extra);
  }
  return answer_status(c, tg.status, rq->head, *keep, rq->minor, "");
}

/* ------------------------------------------------------------------ */
/* A connection                                                        */

static void log_request(struct conn *c, const struct httpd_request *rq) {
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
 * which httpd_take_head rules out). May switch. */
static ssize_t receive(struct conn *c) {
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
static void linger(struct conn *c) {
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
static void serve(struct conn *c) {
  struct httpd_request rq;
  bool keep = true;
  long n;

  while (keep) {
    if ((n = httpd_take_head(c->in, &c->in_len, &rq)) == 0) {
      if (receive(c) <= 0)
        return;
      continue;
    }
    if (n < 0) {
      answer_status(c, (int)-n, false, false, 1, "");
      if (c->sv->verbose)
        log_request(c, NULL);
      linger(c);
      return;
    }
    if (answer(c, &rq, &keep) != 0)
      return;
    atomic_fetch_add(&c->sv->requests, 1);
    if (c->sv->verbose)
      log_request(c, &rq);
    c->in_len -= (size_t)n;
    memmove(c->in, c->in + n, c->in_len);
    c->idle = c->in_len == 0;
    c->head_deadline = weft_now() + c->sv->request_ms;
  }
  linger(c);
}

/* Describe the peer as "address:port" for the log. */
static void describe_peer(struct conn *c) {
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
static void *connection(void *arg) {
  struct conn *c = arg;
  struct server *sv = c->sv;

  if (sv->verbose)
    describe_peer(c);
  serve(c);
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

static void *accept_loop(void *arg) {
  struct server *sv = arg;
  for (;;) {
    struct conn *c;
    weft_sock *s;
    int rc = weft_tcp_accept(sv->listener, &s, -1);
    if (rc == WEFT_ECANCELED)
      return NULL;
    if (rc == WEFT_EMFILE || rc == -ENFILE || rc == WEFT_ENOMEM) {
      weft_sleep(10); /* out of descriptors or memory: let connections end */
      continue;
    }
    if (rc) {
      fprintf(stderr, "httpd: accept: %s\n", weft_strerror(rc));
      continue;
    }
    atomic_fetch_add(&sv->open, 1);
    if (!(c = conn_new(sv, s)) || weft_spawn(NULL, connection, c) != 0) {
      atomic_fetch_sub(&sv->open, 1);
      free(c);
      weft_sock_close(s);
      continue;
    }
    atomic_fetch_add(&sv->served, 1);
  }
}

/* Print "httpd: listening on ADDRESS:PORT" from the listener's address. */
static void announce(struct server *sv) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char host[INET6_ADDRSTRLEN] = "?";

  if (weft_sock_local_addr(sv->listener, (struct sockaddr *)&ss, &len) == 0)
    getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, NULL, 0, NI_NUMERICHOST);
  printf(ss.ss_family == AF_INET6 ? "httpd: listening on [%s]:%d\n" : "httpd: listening on %s:%d\n",
         host, weft_sock_port(sv->listener));
  fflush(stdout);
}

/* The main task: listen, accept until a signal, then stop accepting. */
static int run(void *arg) {
  struct server *sv = arg;
  int rc = weft_signal_hold(stop_signals, 2);

  if (rc) {
    fprintf(stderr, "httpd: catching SIGINT and SIGTERM: %s\n", weft_strerror(rc));
    return 1;
  }
  if ((rc = weft_tcp_listen(&sv->listener, sv->host, sv->port, 4096))) {
    fprintf(stderr, "httpd: listen on %s:%s: %s\n", *sv->host ? sv->host : "*", sv->port,
            weft_strerror(rc));
    return 1;
  }
  announce(sv);
  if ((rc = weft_spawn(&sv->acceptor, accept_loop, sv))) {
    fprintf(stderr, "httpd: %s\n", weft_strerror(rc));
    weft_sock_close(sv->listener);
    return 1;
  }
  while ((rc = weft_signal_wait(stop_signals, 2, -1)) < 0 && rc != WEFT_ECANCELED)
    ; /* WEFT_ENOMEM: try again */
  weft_cancel(sv->acceptor);
  weft_join(sv->acceptor, NULL);
  weft_sock_close(sv->listener);
  printf("httpd: stopped: %ld connections, %ld requests, %ld open\n", atomic_load(&sv->served),
         atomic_load(&sv->requests), atomic_load(&sv->open));
  fflush(stdout);
  return 0; /* weft_main cancels the connection tasks and waits for them */
}

/* ------------------------------------------------------------------ */
/* Start-up                                                            */

static void usage(void) {
  fprintf(stderr,
          "usage: httpd [-H host] [-p port] [-w workers] [-T ms] [-K ms] [-S ms] [-v] DIR\n");
  exit(2);
}

/* A whole decimal number in [lo, hi], or usage(). */
static long number(const char *s, long lo, long hi, const char *what) {
  char *end;
  long v;

  errno = 0;
  v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    fprintf(stderr, "httpd: %s: '%s' is not a number from %ld to %ld\n", what, s, lo, hi);
    usage();
  }
  return v;
}

/* Make sv->root DIR's real path. Returns 0, or 1 after a message. */
static int set_root(struct server *sv, const char *dir) {
  struct stat st;

  if (!(sv->root = realpath(dir, NULL)) || stat(sv->root, &st) < 0) {
    fprintf(stderr, "httpd: %s: %s\n", dir, strerror(errno));
    goto out_free_root;
  }
  if (!S_ISDIR(st.st_mode)) {
    fprintf(stderr, "httpd: %s: not a directory\n", dir);
    goto out_free_root;
  }
  sv->root_len = strcmp(sv->root, "/") == 0 ? 0 : strlen(sv->root);
  return 0;

out_free_root:
  free(sv->root);
  sv->root = NULL;
  return 1;
}

/* Room for a thousand connections and more: the hard limit. */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int main(int argc, char **argv) {
  struct server sv = {
      .host = "127.0.0.1", .port = "0", .request_ms = 10000, .idle_ms = 15000, .send_ms = 30000};
  weft_config cfg;
  int opt, rc;

  weft_config_init(&cfg);
  while ((opt = getopt(argc, argv, "H:p:w:T:K:S:vh")) != -1) {
    switch (opt) {
    case 'H': sv.host = optarg; break;
    case 'p': sv.port = optarg; break;
    case 'w': cfg.workers = (unsigned)number(optarg, 1, 1024, "-w"); break;
    case 'T': sv.request_ms = number(optarg, 1, 86400000, "-T"); break;
    case 'K': sv.idle_ms = number(optarg, 1, 86400000, "-K"); break;
    case 'S': sv.send_ms = number(optarg, 1, 86400000, "-S"); break;
    case 'v': sv.verbose = true; break;
    default: usage();
    }
  }
  if (optind != argc - 1)
    usage();
  if (set_root(&sv, argv[optind]))
    return 1;
  raise_fd_limit();
  rc = weft_main(&cfg, run, &sv);
  if (rc < 0)
    fprintf(stderr, "httpd: %s\n", weft_strerror(rc));
  free(sv.root);
  return rc == 0 ? 0 : 1;
}
