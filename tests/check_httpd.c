/*
 * check_httpd.c - the parts of examples/httpd that read what a client
 * sent, without a network: the request head parser (parse.c) and the
 * confinement of a request to the served directory (path.c), the lexical
 * half on targets of every kind of trickery and the half for symbolic
 * links on a real directory tree.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include "../examples/httpd/parse.h"
#include "../examples/httpd/path.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ---- */

/* An input buffer of httpd's size holding text (len bytes). */
struct input {
  char buf[HTTPD_IN_SIZE];
  size_t len;
};

static void input_set(struct input *in, const char *text, size_t len) {
  ck_assert_uint_le(len, sizeof in->buf);
  memcpy(in->buf, text, len);
  in->len = len;
}

/* parse_head on text as the whole input. */
static long take(struct input *in, const char *text, struct request *rq) {
  input_set(in, text, strlen(text));
  return parse_head(in->buf, &in->len, rq);
}

/* The status parse_head gives text: 0 when it parses (or needs more). */
static int head_status(const char *text) {
  struct input in;
  struct request rq;
  long n = take(&in, text, &rq);
  return n < 0 ? (int)-n : 0;
}

/* A request with this target, as the parser would leave it. */
static struct request with_target(const char *target, size_t len) {
  struct request rq = {.method = "GET", .method_len = 3, .get = true, .minor = 1};
  rq.target = target;
  rq.target_len = len;
  return rq;
}

/* path_map of target under root; the path in fs (room for it given). */
static int map(const char *root, const char *target, char *fs, size_t room, bool *slash) {
  struct request rq = with_target(target, strlen(target));
  size_t root_len = strlen(root), fs_len = 0;
  int status;

  ck_assert_uint_ge(room, root_len + HTTPD_PATH_ROOM);
  status = path_map(root, root_len, &rq, fs, &fs_len, slash);
  if (status == 0)
    ck_assert_uint_eq(fs_len, strlen(fs));
  return status;
}

#define ROOM (64 + HTTPD_PATH_ROOM)

/* Assert that target maps under "/srv" to want. */
static void map_ok(const char *target, const char *want, bool want_slash) {
  char fs[ROOM];
  bool slash = !want_slash;
  ck_assert_msg(map("/srv", target, fs, sizeof fs, &slash) == 0, "'%s' refused", target);
  ck_assert_msg(strcmp(fs, want) == 0, "'%s' mapped to '%s', not '%s'", target, fs, want);
  ck_assert_msg(slash == want_slash, "'%s': slash %d", target, slash);
}

/* Assert that path_map refuses target with status. */
static void map_refused(const char *target, size_t len, int want) {
  struct request rq = with_target(target, len);
  char fs[ROOM];
  size_t fs_len;
  bool slash;
  int status = path_map("/srv", 4, &rq, fs, &fs_len, &slash);
  ck_assert_msg(status == want, "'%.*s': %d, not %d", (int)len, target, status, want);
}

/* Assert that path_map refuses each of the n targets with status want. */
static void map_all_refused(const char *const *targets, size_t n, int want) {
  for (size_t i = 0; i < n; i++)
    map_refused(targets[i], strlen(targets[i]), want);
}

/* Assert that parse_head refuses each of the n heads with status want. */
static void heads_refused(const char *const *texts, size_t n, int want) {
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(head_status(texts[i]) == want, "case %zu ('%.40s'): %d, not %d", i, texts[i],
                  head_status(texts[i]), want);
}

#define COUNT(a) (sizeof(a) / sizeof(a)[0])

/* ---- core: well-formed requests ---- */

START_TEST(test_httpd_parse_get) {
  const char *text = "GET /a/b.html?x=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: t\r\n\r\n";
  struct input in;
  struct request rq;

  ck_assert_int_eq(take(&in, text, &rq), (long)strlen(text));
  ck_assert(rq.get && !rq.head);
  ck_assert_int_eq(rq.minor, 1);
  ck_assert_int_eq(rq.hosts, 1);
  ck_assert(rq.method == in.buf && rq.method_len == 3);
  ck_assert_uint_eq(rq.target_len, strlen("/a/b.html?x=1"));
  ck_assert(memcmp(rq.target, "/a/b.html?x=1", rq.target_len) == 0);
  ck_assert(!rq.has_body && !rq.conn_close && !rq.conn_keep_alive);
}
END_TEST

START_TEST(test_httpd_parse_head_and_http10) {
  struct input in;
  struct request rq;

  /* HTTP/1.0 needs no Host; bare LF line ends are read too. */
  ck_assert_int_gt(take(&in, "HEAD / HTTP/1.0\n\n", &rq), 0);
  ck_assert(rq.head && !rq.get);
  ck_assert_int_eq(rq.minor, 0);
  ck_assert_int_gt(take(&in, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &rq), 0);
  ck_assert(rq.conn_keep_alive && !rq.conn_close);
  ck_assert_int_gt(take(&in, "GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close \r\n\r\n", &rq),
                   0);
  ck_assert(rq.conn_close);
  /* Methods are case-sensitive: "get" is some other method. */
  ck_assert_int_gt(take(&in, "get / HTTP/1.1\r\nHost: h\r\n\r\n", &rq), 0);
  ck_assert(!rq.get && !rq.head);
  ck_assert_int_gt(take(&in, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n", &rq), 0);
  ck_assert(rq.has_body);
  ck_assert_int_gt(take(&in, "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 000\r\n\r\n", &rq), 0);
  ck_assert(!rq.has_body);
  ck_assert_int_gt(
      take(&in, "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &rq), 0);
  ck_assert(rq.has_body);
}
END_TEST

START_TEST(test_httpd_parse_pipelined) {
  const char *one = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n";
  const char *two = "HEAD /22 HTTP/1.1\r\nHost: h\r\n\r\n";
  const char *text =
      "\r\n\r\nGET /1 HTTP/1.1\r\nHost: h\r\n\r\nHEAD /22 HTTP/1.1\r\nHost: h\r\n\r\nGET /3";
  struct input in;
  struct request rq;
  long n;

  /* Blank lines before a request are dropped from the buffer. */
  n = take(&in, text, &rq);
  ck_assert_int_eq(n, (long)strlen(one));
  ck_assert_uint_eq(in.len, strlen(text) - 4);
  ck_assert(rq.get && rq.target_len == 2 && memcmp(rq.target, "/1", 2) == 0);
  in.len -= (size_t)n;
  memmove(in.buf, in.buf + n, in.len);
  n = parse_head(in.buf, &in.len, &rq);
  ck_assert_int_eq(n, (long)strlen(two));
  ck_assert(rq.head && rq.target_len == 3 && memcmp(rq.target, "/22", 3) == 0);
  in.len -= (size_t)n;
  memmove(in.buf, in.buf + n, in.len);
  /* The third is not whole yet: more input is needed, nothing consumed. */
  ck_assert_int_eq(parse_head(in.buf, &in.len, &rq), 0);
  ck_assert_uint_eq(in.len, strlen("GET /3"));
}
END_TEST

START_TEST(test_httpd_parse_incomplete) {
  static const char *const parts[] = {
      "",
      "G",
      "GET / HTTP/1.1",
      "GET / HTTP/1.1\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\n\r",
  };
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    struct input in;
    struct request rq;
    ck_assert_msg(take(&in, parts[i], &rq) == 0, "'%s' decided", parts[i]);
  }
}
END_TEST

START_TEST(test_httpd_target_path_forms) {
  const char *path;
  size_t len;
  struct request rq;

  rq = with_target("/a/b?q=/c", 9);
  ck_assert_int_eq(parse_target_path(&rq, &path, &len), 0);
  ck_assert(len == 4 && memcmp(path, "/a/b", 4) == 0);
  rq = with_target("http://host:8080/x/y?z", 22);
  ck_assert_int_eq(parse_target_path(&rq, &path, &len), 0);
  ck_assert(len == 4 && memcmp(path, "/x/y", 4) == 0);
  rq = with_target("HTTPS://host", 12);
  ck_assert_int_eq(parse_target_path(&rq, &path, &len), 0);
  ck_assert(len == 1 && path[0] == '/');
  rq = with_target("http://host?q", 13);
  ck_assert_int_eq(parse_target_path(&rq, &path, &len), 0);
  ck_assert(len == 1 && path[0] == '/');
}
END_TEST

START_TEST(test_httpd_path_map_normal) {
  map_ok("/", "/srv/", true);
  map_ok("/index.html", "/srv/index.html", false);
  map_ok("/a/b/", "/srv/a/b", true);
  map_ok("/a//b/./c", "/srv/a/b/c", false);
  map_ok("/a/%62.txt?x=..", "/srv/a/b.txt", false); /* the query is not the path */
  map_ok("/%7euser/a%20b", "/srv/~user/a b", false);
  map_ok("/..a/a..", "/srv/..a/a..", false); /* dots inside a name are a name */
  map_ok("/.../x", "/srv/.../x", false);
  map_ok("/.", "/srv/", true);
}
END_TEST

/* "/" as the root is kept as the empty string: every path starts with '/'. */
START_TEST(test_httpd_path_map_root_slash) {
  char fs[ROOM];
  bool slash;

  ck_assert_int_eq(map("", "/etc/hosts", fs, sizeof fs, &slash), 0);
  ck_assert_str_eq(fs, "/etc/hosts");
  ck_assert_int_eq(map("", "/", fs, sizeof fs, &slash), 0);
  ck_assert_str_eq(fs, "/");
  ck_assert(slash);
  ck_assert_int_eq(map("", "/../etc", fs, sizeof fs, &slash), 403);
}
END_TEST

/* Absolute paths stay under the root: "//etc/passwd" and an absolute-form
 * target name files under it, never the system's own. */
START_TEST(test_httpd_path_map_absolute) {
  map_ok("//etc/passwd", "/srv/etc/passwd", false);
  map_ok("/%2fetc/passwd", "/srv/etc/passwd", false);
  map_ok("http://evil/etc/passwd", "/srv/etc/passwd", false);
  map_ok("http://evil", "/srv/", true);
  map_refused("etc/passwd", 10, 400);
  map_refused("*", 1, 400);
  map_refused("file:///etc/passwd", 18, 400);
  map_refused("ftp://h/etc/passwd", 18, 400);
}
END_TEST

/* ---- errors: bad heads and paths that leave the root ---- */

START_TEST(test_httpd_parse_bad_request_lines) {
  static const char *const bad[] = {
      "GET\r\n\r\n",
      "GET /\r\n\r\n",
      "GET / \r\n\r\n",
      " GET / HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET / HTTP/1.1 \r\nHost: h\r\n\r\n",
      "GET / http/1.1\r\nHost: h\r\n\r\n",
      "GET / HTTP/1.x\r\nHost: h\r\n\r\n",
      "GET / HTTP/11\r\nHost: h\r\n\r\n",
      "GET / HTTP/1.10\r\nHost: h\r\n\r\n",
      "G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n",
  };
  heads_refused(bad, COUNT(bad), 400);
  ck_assert_int_eq(head_status("GET / HTTP/2.0\r\n\r\n"), 505);
  ck_assert_int_eq(head_status("GET / HTTP/0.9\r\n\r\n"), 505);
}
END_TEST

/* A NUL in the request line is a bad byte, not the end of the line. */
START_TEST(test_httpd_parse_nul_in_request) {
  static const char text[] = "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n";
  struct input in;
  struct request rq;

  input_set(&in, text, sizeof text - 1);
  ck_assert_int_eq(parse_head(in.buf, &in.len, &rq), -400);
}
END_TEST

START_TEST(test_httpd_parse_bad_headers) {
  static const char *const bad[] = {
      "GET / HTTP/1.1\r\n\r\n",                               /* 1.1 without Host */
      "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",         /* two Hosts */
      "GET / HTTP/1.1\r\nHost: h\r\nNo colon\r\n\r\n",        /* no name */
      "GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n",             /* empty name */
      "GET / HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n",     /* a space in a name */
      "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n folded\r\n\r\n", /* obsolete folding */
      "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01z\r\n\r\n",       /* a control byte */
      "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1234567890123456789\r\n\r\n",
  };
  heads_refused(bad, COUNT(bad), 400);
}
END_TEST

START_TEST(test_httpd_path_dot_dot) {
  static const char *const bad[] = {
      "/..",     "/../",    "/../etc/passwd",  "/a/../../b", "/a/..",
      "/./../x", "//..//x", "/a/b/../../../c", "/..?x",      "http://h/../x",
  };
  map_all_refused(bad, COUNT(bad), 403);
}
END_TEST

/* Percent-encoded dots are dots, and an encoded slash is a slash: the path
 * is decoded before it is split into segments. */
START_TEST(test_httpd_path_encoded_dot_dot) {
  static const char *const bad[] = {
      "/%2e%2e/etc/passwd", "/%2E%2E/x",       "/.%2e/x", "/%2e./x", "/a/%2e%2e/%2e%2e/x",
      "/a%2f..%2fb",        "/a%2F%2e%2e%2Fb", "/%2f..",  "/..%2f",  "/x/%2e%2e",
  };
  map_all_refused(bad, COUNT(bad), 403);
  /* Encoded once is decoded once: "%252e" is the name "%2e", inside. */
  map_ok("/%252e%252e/x", "/srv/%2e%2e/x", false);
}
END_TEST

START_TEST(test_httpd_path_bad_escapes_and_nul) {
  static const char nul[] = "/a\0/../../etc";
  static const char *const bad[] = {
      "/%00", "/a%00.html", "/%", "/a%", "/a%2", "/%zz", "/%2g", "/%g2", "/%%41",
  };
  map_all_refused(bad, COUNT(bad), 400);
  /* A raw NUL, which the parser never passes, is refused here too. */
  map_refused(nul, sizeof nul - 1, 400);
}
END_TEST

/* ---- limits ---- */

START_TEST(test_httpd_parse_target_limit) {
  size_t cap = HTTPD_REQLINE_MAX + 64;
  char *text = calloc(1, cap), *p = text;
  struct input in;
  struct request rq;

  ck_assert_ptr_nonnull(text);
  /* A target of exactly HTTPD_TARGET_MAX bytes is taken. */
  p += sprintf(p, "GET /");
  memset(p, 'a', HTTPD_TARGET_MAX - 1);
  p += HTTPD_TARGET_MAX - 1;
  p += sprintf(p, " HTTP/1.1\r\nHost: h\r\n\r\n");
  ck_assert_int_eq(take(&in, text, &rq), (long)strlen(text));
  ck_assert_uint_eq(rq.target_len, HTTPD_TARGET_MAX);
  /* One more byte is a 414, with or without the line's end. */
  p = text + sprintf(text, "GET /");
  memset(p, 'a', HTTPD_TARGET_MAX);
  p += HTTPD_TARGET_MAX;
  sprintf(p, " HTTP/1.1\r\nHost: h\r\n\r\n");
  ck_assert_int_eq(head_status(text), 414);
  memset(text, 0, cap);
  p = text + sprintf(text, "GET /");
  memset(p, 'a', HTTPD_REQLINE_MAX + 10);
  ck_assert_int_eq(head_status(text), 414);
  /* A line too long that is no request line at all is a 400. */
  memset(text, 'x', HTTPD_REQLINE_MAX + 10);
  text[HTTPD_REQLINE_MAX + 10] = 0;
  ck_assert_int_eq(head_status(text), 400);
  free(text);
}
END_TEST

START_TEST(test_httpd_parse_headers_limit) {
  const char *line = "GET / HTTP/1.1\r\n";
  size_t l = strlen(line), pad;
  struct input in;
  struct request rq;

  /* A header block of exactly HTTPD_HEADERS_MAX bytes, blank line included. */
  pad = HTTPD_HEADERS_MAX - strlen("Host: h\r\nX: \r\n\r\n");
  memcpy(in.buf, line, l);
  in.len = l + (size_t)sprintf(in.buf + l, "Host: h\r\nX: ");
  memset(in.buf + in.len, 'p', pad);
  in.len += pad;
  memcpy(in.buf + in.len, "\r\n\r\n", 4);
  in.len += 4;
  ck_assert_uint_eq(in.len - l, HTTPD_HEADERS_MAX);
  ck_assert_int_eq(parse_head(in.buf, &in.len, &rq), (long)in.len);
  /* One more byte of header is a 431. */
  in.len = l + (size_t)sprintf(in.buf + l, "Host: h\r\nX: ");
  memset(in.buf + in.len, 'p', pad + 1);
  in.len += pad + 1;
  memcpy(in.buf + in.len, "\r\n\r\n", 4);
  in.len += 4;
  ck_assert_int_eq(parse_head(in.buf, &in.len, &rq), -431);
  /* So is a block that has not ended within HTTPD_HEADERS_MAX bytes. */
  in.len = l + (size_t)sprintf(in.buf + l, "Host: h\r\nX: ");
  memset(in.buf + in.len, 'p', HTTPD_HEADERS_MAX);
  in.len += HTTPD_HEADERS_MAX;
  ck_assert_int_eq(parse_head(in.buf, &in.len, &rq), -431);
  /* One byte short of the limit, the same block is not decided yet. */
  in.len = l + HTTPD_HEADERS_MAX - 1;
  ck_assert_int_eq(parse_head(in.buf, &in.len, &rq), 0);
}
END_TEST

/* A full buffer always decides: never "more input" when there is no room. */
START_TEST(test_httpd_parse_full_buffer_decides) {
  static const char *const starts[] = {"", "GET /", "GET / HTTP/1.1\r\nHost: h\r\nX: ", "\r\n"};
  for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
    struct input in;
    struct request rq;
    size_t n = strlen(starts[i]);
    long got;

    memcpy(in.buf, starts[i], n);
    memset(in.buf + n, i == 3 ? '\n' : 'z', sizeof in.buf - n);
    in.len = sizeof in.buf;
    got = parse_head(in.buf, &in.len, &rq);
    if (i == 3) /* all blank lines: dropped, and then there is room */
      ck_assert(got == 0 && in.len == 0);
    else
      ck_assert_msg(got < 0, "start %zu: %ld", i, got);
  }
}
END_TEST

/* The longest target leaves room for "/index.html" after the root. */
START_TEST(test_httpd_path_map_longest) {
  char *target = malloc(HTTPD_TARGET_MAX + 1), *fs = malloc(64 + HTTPD_PATH_ROOM);
  size_t fs_len;
  bool slash;
  struct request rq;

  ck_assert(target && fs);
  memset(target, 'a', HTTPD_TARGET_MAX);
  target[0] = '/';
  target[HTTPD_TARGET_MAX - 1] = '/';
  rq = with_target(target, HTTPD_TARGET_MAX);
  ck_assert_int_eq(path_map("/srv/www", 8, &rq, fs, &fs_len, &slash), 0);
  ck_assert(slash);
  ck_assert_uint_ge(8 + HTTPD_PATH_ROOM, fs_len + sizeof "/index.html");
  free(target);
  free(fs);
}
END_TEST

/* ---- path_inside, on a real tree ---- */

/* A scratch tree: DIR/root (the served root) with a file, a directory
 * and links, and DIR/rootx, a sibling whose name starts with the root's. */
struct tree {
  char dir[64], root[96], real[PATH_MAX];
};

static void tree_file(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, "x", 1), 1);
  close(fd);
}

static void tree_make(struct tree *t) {
  char p[256];

  strcpy(t->dir, "/tmp/check_httpd.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(t->dir));
  snprintf(t->root, sizeof t->root, "%s/root", t->dir);
  ck_assert_int_eq(mkdir(t->root, 0755), 0);
  ck_assert_ptr_nonnull(realpath(t->root, t->real));
#define AT(fmt, ...) (snprintf(p, sizeof p, fmt, __VA_ARGS__), p)
  ck_assert_int_eq(mkdir(AT("%s/sub", t->root), 0755), 0);
  tree_file(AT("%s/sub/in.txt", t->root));
  ck_assert_int_eq(mkdir(AT("%s/rootx", t->dir), 0755), 0);
  tree_file(AT("%s/rootx/out.txt", t->dir));
  tree_file(AT("%s/out.txt", t->dir));
  ck_assert_int_eq(symlink("sub/in.txt", AT("%s/link-in", t->root)), 0);
  ck_assert_int_eq(symlink("../out.txt", AT("%s/link-out", t->root)), 0);
  ck_assert_int_eq(symlink("../rootx/out.txt", AT("%s/link-sibling", t->root)), 0);
  ck_assert_int_eq(symlink("/", AT("%s/link-slash", t->root)), 0);
#undef AT
}

static void tree_remove(struct tree *t) {
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* path_inside for root + rel, with the stat of what rel names. */
static bool inside(const struct tree *t, const char *rel) {
  char path[PATH_MAX];
  struct stat st;

  snprintf(path, sizeof path, "%s/%s", t->root, rel);
  if (stat(path, &st) < 0)
    return false;
  return path_inside(t->real, strlen(t->real), path, &st);
}

START_TEST(test_httpd_path_inside_plain) {
  struct tree t;

  tree_make(&t);
  ck_assert(inside(&t, "sub/in.txt"));
  ck_assert(inside(&t, "sub"));
  ck_assert(inside(&t, "."));
  /* Lexically outside, as no mapped path is, but caught here too. */
  ck_assert(!inside(&t, "../out.txt"));
  ck_assert(!inside(&t, "../rootx/out.txt")); /* the root's name is a prefix */
  ck_assert(!inside(&t, "sub/../../out.txt"));
  tree_remove(&t);
}
END_TEST

START_TEST(test_httpd_path_inside_links) {
  struct tree t;

  tree_make(&t);
  ck_assert(inside(&t, "link-in"));
  ck_assert(!inside(&t, "link-out"));
  ck_assert(!inside(&t, "link-sibling"));
  ck_assert(!inside(&t, "link-slash/etc"));
  tree_remove(&t);
}
END_TEST

/* A stat of another file than the path names (a link swapped between the
 * open and the check) is refused. */
START_TEST(test_httpd_path_inside_other_file) {
  struct tree t;
  char path[PATH_MAX], other[PATH_MAX];
  struct stat st;

  tree_make(&t);
  snprintf(path, sizeof path, "%s/sub/in.txt", t.root);
  snprintf(other, sizeof other, "%s/out.txt", t.dir);
  ck_assert_int_eq(stat(other, &st), 0);
  ck_assert(!path_inside(t.real, strlen(t.real), path, &st));
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert(path_inside(t.real, strlen(t.real), path, &st));
  snprintf(path, sizeof path, "%s/missing", t.root);
  ck_assert(!path_inside(t.real, strlen(t.real), path, &st));
  /* The root "/" (root_len 0) holds everything. */
  ck_assert_int_eq(stat(other, &st), 0);
  ck_assert(path_inside("", 0, other, &st));
  tree_remove(&t);
}
END_TEST

static Suite *httpd_suite(void) {
  Suite *s = suite_create("httpd");
  TCase *core = tcase_create("core");
  TCase *errors = tcase_create("errors");
  TCase *limits = tcase_create("limits");

  tcase_add_test(core, test_httpd_parse_get);
  tcase_add_test(core, test_httpd_parse_head_and_http10);
  tcase_add_test(core, test_httpd_parse_pipelined);
  tcase_add_test(core, test_httpd_parse_incomplete);
  tcase_add_test(core, test_httpd_target_path_forms);
  tcase_add_test(core, test_httpd_path_map_normal);
  tcase_add_test(core, test_httpd_path_map_root_slash);
  tcase_add_test(core, test_httpd_path_map_absolute);
  tcase_add_test(core, test_httpd_path_inside_plain);
  tcase_add_test(core, test_httpd_path_inside_links);
  tcase_add_test(errors, test_httpd_parse_bad_request_lines);
  tcase_add_test(errors, test_httpd_parse_nul_in_request);
  tcase_add_test(errors, test_httpd_parse_bad_headers);
  tcase_add_test(errors, test_httpd_path_dot_dot);
  tcase_add_test(errors, test_httpd_path_encoded_dot_dot);
  tcase_add_test(errors, test_httpd_path_bad_escapes_and_nul);
  tcase_add_test(errors, test_httpd_path_inside_other_file);
  tcase_add_test(limits, test_httpd_parse_target_limit);
  tcase_add_test(limits, test_httpd_parse_headers_limit);
  tcase_add_test(limits, test_httpd_parse_full_buffer_decides);
  tcase_add_test(limits, test_httpd_path_map_longest);
  suite_add_tcase(s, core);
  suite_add_tcase(s, errors);
  suite_add_tcase(s, limits);
  return s;
}

WEFT_TEST_MAIN(httpd_suite)
