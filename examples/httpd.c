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
 * TARGET_MAX bytes, 431 for a header block over HEADERS_MAX bytes, 505 for
 * an HTTP version other than 1.x. After 400, 414, 431 and 505 the
 * connection is closed.
 *
 * Staying inside DIR takes two checks. The URL path is decoded and split
 * into segments, and any ".." segment is refused, so no lexical path
 * leaves DIR. Symbolic links are followed, but only to files inside DIR:
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
 * Signals reach the program through a pipe, as in examples/echo.c: the
 * handler writes a byte and the main task waits for it with weft_fd_wait.
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

/* The longest request target (414 beyond), request line, and header block
 * (431 beyond: the bytes after the request line up to and including the
 * blank line). The input buffer holds the longest acceptable head, plus one
 * byte so that a full buffer always contains enough to decide. */
#define TARGET_MAX 8192
#define REQLINE_MAX (TARGET_MAX + 64)
#define HEADERS_MAX 16384
#define IN_SIZE (REQLINE_MAX + 1 + HEADERS_MAX)

/* Room for an answer's status line and headers (a Location header echoes
 * up to a whole target), and the size of the pieces a file is sent in. */
#define OUT_SIZE (TARGET_MAX + 1024)
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

/* One request head, parsed. The pointers point into the connection's
 * input buffer and are valid until the head is consumed. */
struct request {
  const char *method, *target;
  size_t method_len, target_len;
  int minor;            /* HTTP/1.minor */
  int hosts;            /* Host headers seen */
  bool get;             /* GET */
  bool head;            /* HEAD: the answer carries no body */
  bool has_body;        /* Content-Length > 0 or Transfer-Encoding */
  bool conn_close;      /* "Connection: close" */
  bool conn_keep_alive; /* "Connection: keep-alive" */
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
  char in[IN_SIZE];
  char out[OUT_SIZE];
  char url[TARGET_MAX + 16]; /* the decoded, normalised URL path */
  char fs[];                 /* root + url + "index.html" */
};

static int signal_pipe[2];

static void on_signal(int sig) {
  char c = (char)sig;
  int saved = errno;
  if (write(signal_pipe[1], &c, 1) < 0) {
    /* the pipe is full: a stop is already pending */
  }
  errno = saved;
}

/* ------------------------------------------------------------------ */
/* Parsing a request head                                              */

/* Whether c may appear in a token (a method or a header name). */
static bool is_tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

static size_t token_length(const char *s, size_t len) {
  size_t i = 0;
  while (i < len && is_tchar((unsigned char)s[i]))
    i++;
  return i;
}

/* Whether s (len bytes) equals the lower-case word, in any case. */
static bool equals_word(const char *s, size_t len, const char *word) {
  return len == strlen(word) && strncasecmp(s, word, len) == 0;
}

/* The status for a request line that has no line end within REQLINE_MAX
 * bytes: 414 when it is a method and an overlong target, else 400. */
static int overlong_line_status(const char *in, size_t len) {
  size_t m = token_length(in, len), t;
  if (m == 0 || m == len || in[m] != ' ')
    return 400;
  for (t = m + 1; t < len && in[t] != ' '; t++)
    ;
  return t - (m + 1) > TARGET_MAX ? 414 : 400;
}

/* Parse "METHOD SP TARGET SP HTTP/1.x" (len bytes, no line end).
 * Returns 0 or the status to answer. */
static int parse_request_line(const char *line, size_t len, struct request *rq) {
  size_t m = token_length(line, len), t, v;

  if (m == 0 || m == len || line[m] != ' ')
    return 400;
  for (t = m + 1; t < len && line[t] != ' '; t++)
    if ((unsigned char)line[t] < 0x21 || line[t] == 0x7f)
      return 400;
  if (t - (m + 1) > TARGET_MAX)
    return 414;
  if (t == m + 1 || t == len)
    return 400;
  v = t + 1;
  if (len - v != 8 || memcmp(line + v, "HTTP/", 5) != 0 || line[v + 6] != '.' ||
      line[v + 5] < '0' || line[v + 5] > '9' || line[v + 7] < '0' || line[v + 7] > '9')
    return 400;
  if (line[v + 5] != '1')
    return 505;
  rq->method = line;
  rq->method_len = m;
  rq->target = line + m + 1;
  rq->target_len = t - (m + 1);
  rq->minor = line[v + 7] - '0';
  rq->get = m == 3 && memcmp(line, "GET", 3) == 0; /* methods are case-sensitive */
  rq->head = m == 4 && memcmp(line, "HEAD", 4) == 0;
  return 0;
}

/* Note the tokens of a Connection header's value. */
static void parse_connection(const char *v, size_t len, struct request *rq) {
  while (len > 0) {
    const char *comma = memchr(v, ',', len);
    size_t n = comma ? (size_t)(comma - v) : len, s = 0, e = n;
    while (s < e && (v[s] == ' ' || v[s] == '\t'))
      s++;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
      e--;
    if (equals_word(v + s, e - s, "close"))
      rq->conn_close = true;
    else if (equals_word(v + s, e - s, "keep-alive"))
      rq->conn_keep_alive = true;
    v += n;
    len -= n;
    if (len > 0) { /* skip the comma */
      v++;
      len--;
    }
  }
}

/* A Content-Length value: decimal digits only. Returns 0 or 400. */
static int parse_content_length(const char *v, size_t len, struct request *rq) {
  bool nonzero = false;
  if (len == 0 || len > 18)
    return 400;
  for (size_t i = 0; i < len; i++) {
    if (v[i] < '0' || v[i] > '9')
      return 400;
    nonzero |= v[i] != '0';
  }
  rq->has_body |= nonzero;
  return 0;
}

/* Parse one header line (len bytes, no line end). Returns 0 or 400. */
static int parse_header(const char *line, size_t len, struct request *rq) {
  const char *colon = memchr(line, ':', len);
  size_t name_len, s, e;

  if (!colon || colon == line)
    return 400; /* no name; also a folded line, which starts with a space */
  name_len = (size_t)(colon - line);
  if (token_length(line, name_len) != name_len)
    return 400;
  s = name_len + 1;
  e = len;
  while (s < e && (line[s] == ' ' || line[s] == '\t'))
    s++;
  while (e > s && (line[e - 1] == ' ' || line[e - 1] == '\t'))
    e--;
  for (size_t i = s; i < e; i++)
    if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
      return 400;
  if (equals_word(line, name_len, "host"))
    rq->hosts++;
  else if (equals_word(line, name_len, "connection"))
    parse_connection(line + s, e - s, rq);
  else if (equals_word(line, name_len, "content-length"))
    return parse_content_length(line + s, e - s, rq);
  else if (equals_word(line, name_len, "transfer-encoding"))
    rq->has_body = true;
  return 0;
}

/* The length of the header block at block (up to and including its blank
 * line), looking at no more than len bytes; 0 when it is not complete. */
static size_t headers_length(const char *block, size_t len) {
  size_t pos = 0;
  while (pos < len) {
    const char *lf = memchr(block + pos, '\n', len - pos);
    if (!lf)
      return 0;
    size_t n = (size_t)(lf - (block + pos));
    if (n == 0 || (n == 1 && block[pos] == '\r'))
      return (size_t)(lf - block) + 1;
    pos += n + 1;
  }
  return 0;
}

/* Parse every header line of a complete block. Returns 0 or 400. */
static int parse_headers(const char *block, size_t len, struct request *rq) {
  size_t pos = 0;
  for (;;) {
    const char *lf = memchr(block + pos, '\n', len - pos);
    size_t n = (size_t)(lf - (block + pos)); /* the block ends with a line end */
    if (n > 0 && block[pos + n - 1] == '\r')
      n--;
    if (n == 0)
      break;
    if (parse_header(block + pos, n, rq))
      return 400;
    pos = (size_t)(lf - block) + 1;
  }
  if (rq->hosts > 1 || (rq->minor >= 1 && rq->hosts == 0))
    return 400;
  return 0;
}

/* Look for a whole request head at the start of the input. Returns its
 * length (> 0) with *rq filled, 0 when more input is needed, or minus the
 * status to answer when the head is bad or too large. */
static long take_head(struct conn *c, struct request *rq) {
  size_t skip = 0, line_len, hdr, end, scan;
  const char *lf;
  int status;

  while (skip < c->in_len && (c->in[skip] == '\r' || c->in[skip] == '\n'))
    skip++; /* blank lines before a request are allowed */
  if (skip > 0) {
    memmove(c->in, c->in + skip, c->in_len - skip);
    c->in_len -= skip;
  }
  scan = c->in_len < REQLINE_MAX + 1 ? c->in_len : REQLINE_MAX + 1;
  if (!(lf = memchr(c->in, '\n', scan)))
    return c->in_len > REQLINE_MAX ? -overlong_line_status(c->in, c->in_len) : 0;
  line_len = (size_t)(lf - c->in);
  if (line_len > 0 && c->in[line_len - 1] == '\r')
    line_len--;
  memset(rq, 0, sizeof *rq);
  if ((status = parse_request_line(c->in, line_len, rq)))
    return -status;
  hdr = (size_t)(lf - c->in) + 1;
  scan = c->in_len - hdr < HEADERS_MAX ? c->in_len - hdr : HEADERS_MAX;
  if (!(end = headers_length(c->in + hdr, scan)))
    return c->in_len - hdr >= HEADERS_MAX ? -431 : 0;
  if ((status = parse_headers(c->in + hdr, end, rq)))
    return -status;
  return (long)(hdr + end);
}

/* ------------------------------------------------------------------ */
/* From a URL to a file                                                 */

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Whether s (len bytes) starts with prefix, in any case. */
static bool starts_with(const char *s, size_t len, const char *prefix) {
  size_t n = strlen(prefix);
  return len >= n && strncasecmp(s, prefix, n) == 0;
}

/* The path part of a request target: origin-form ("/a/b?q") or
 * absolute-form ("http://host/a/b?q"), without the query. Sets *path and
 * *len. Returns 0 or 400. */
static int target_path(const struct request *rq, const char **path, size_t *len) {
  const char *t = rq->target, *end = t + rq->target_len, *q;

  if (starts_with(t, rq->target_len, "http://") || starts_with(t, rq->target_len, "https://")) {
    t = memchr(t, ':', rq->target_len) + 3;
    while (t < end && *t != '/' && *t != '?')
      t++;
    if (t == end || *t == '?') {
      *path = "/";
      *len = 1;
      return 0;
    }
  }
  if (*t != '/')
    return 400;
  q = memchr(t, '?', (size_t)(end - t));
  *path = t;
  *len = (size_t)((q ? q : end) - t);
  return 0;
}

/* Percent-decode path (len bytes) into out (room for len + 1). A malformed
 * escape or a NUL byte is a 400. Returns 0 or 400. */
static int percent_decode(const char *path, size_t len, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    int hi, lo;
    if (path[i] != '%') {
      out[o++] = path[i];
      continue;
    }
    if (i + 2 >= len)
      return 400;
    if ((hi = hex_value(path[i + 1])) < 0 || (lo = hex_value(path[i + 2])) < 0 || (hi | lo) == 0)
      return 400;
    out[o++] = (char)(hi << 4 | lo);
    i += 2;
  }
  out[o] = 0;
  return 0;
}

/* Rewrite the decoded path in url to "/seg/seg" (no empty or "." segments;
 * "/" for the root) and tell whether it named a directory (ended with a
 * slash). A ".." segment is a 403: no URL leaves DIR. Returns 0 or 403. */
static int normalise(char *url, bool *slash) {
  size_t len = strlen(url), o = 0, i = 0;

  *slash = len > 0 && url[len - 1] == '/';
  while (i < len) {
    size_t s = i, n;
    while (i < len && url[i] != '/')
      i++;
    n = i - s;
    i++; /* past the slash */
    if (n == 0 || (n == 1 && url[s] == '.'))
      continue;
    if (n == 2 && url[s] == '.' && url[s + 1] == '.')
      return 403;
    url[o++] = '/';
    memmove(url + o, url + s, n);
    o += n;
  }
  if (o == 0) {
    url[o++] = '/';
    *slash = true;
  }
  url[o] = 0;
  return 0;
}

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
static void resolve(struct conn *c, const struct request *rq, struct target *tg) {
  const char *path;
  size_t len, fs_len;
  struct stat st;
  bool slash;
  int fd;

  tg->fd = -1;
  if ((tg->status = target_path(rq, &path, &len)) ||
      (tg->status = percent_decode(path, len, c->url)) || (tg->status = normalise(c->url, &slash)))
    return;
  fs_len = (size_t)sprintf(c->fs, "%.*s%s", (int)c->sv->root_len, c->sv->root, c->url);
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
static bool keeps_alive(const struct request *rq, int status) {
  if (status == 400 || status == 414 || status == 431 || status == 505 || rq->has_body)
    return false;
  if (rq->conn_close)
    return false;
  return rq->minor >= 1 || rq->conn_keep_alive;
}

/* Answer one request. Sets *keep to whether the connection stays open.
 * Returns 0 or a WEFT_E* code (the connection is then dropped).
 * May switch. */
static int answer(struct conn *c, const struct request *rq, bool *keep) {
  struct target tg = {.fd = -1};
  char extra[TARGET_MAX + 64];
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
    target_path(rq, &path, &len);
    snprintf(extra, sizeof extra, "Location: %.*s/%.*s\r\n", (int)len, path,
             q ? (int)(rq->target + rq->target_len - q) : 0, q ? q : "");
    return answer_status(c, 301, rq->head, *keep, rq->minor, extra);
  }
  return answer_status(c, tg.status, rq->head, *keep, rq->minor, "");
}

/* ------------------------------------------------------------------ */
/* A connection                                                        */

static void log_request(struct conn *c, const struct request *rq) {
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
 * which take_head rules out). May switch. */
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
  struct request rq;
  bool keep = true;
  long n;

  while (keep) {
    if ((n = take_head(c, &rq)) == 0) {
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
  struct conn *c = malloc(sizeof *c + sv->root_len + TARGET_MAX + 32);
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
  char c;
  int rc = weft_tcp_listen(&sv->listener, sv->host, sv->port, 4096);

  if (rc) {
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
  while (weft_fd_wait(signal_pipe[0], WEFT_READABLE, -1) < 0 || read(signal_pipe[0], &c, 1) != 1)
    ;
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

static int catch_signals(void) {
  struct sigaction sa;

  if (pipe2(signal_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
    perror("httpd: pipe");
    return 1;
  }
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  return 0;
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
  if (catch_signals()) {
    free(sv.root);
    return 1;
  }
  rc = weft_main(&cfg, run, &sv);
  if (rc < 0)
    fprintf(stderr, "httpd: %s\n", weft_strerror(rc));
  free(sv.root);
  close(signal_pipe[0]);
  close(signal_pipe[1]);
  return rc == 0 ? 0 : 1;
}
