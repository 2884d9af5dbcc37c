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
 * pieces of 64 KiB read with weft_file_read, so their size does not
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
 * The files, by concern:
 *
 *   parse.c  the request head parser: bytes in, a request or a status out
 *   path.c   confinement: a URL path to a file path under DIR, and the
 *            check that a file reached through symbolic links is inside
 *   file.c   a request to an open file (or a status), through weft's files
 *   conn.c   a connection's task: receive, answer, repeat, with deadlines
 *            against slow clients (-T, -K, -S)
 *   main.c   this file: the command line, the root, and the main task
 *            (listening, accepting and stopping: common/listener.c)
 *
 * parse.c and path.c do no I/O of weft's, so tests/check_httpd.c and
 * tests/fuzz/fuzz_httpd.c drive them alone.
 *
 * Listening, accepting and stopping are common/listener.c's, shared with
 * echo: the main task holds SIGINT and SIGTERM before it announces its
 * port, so a signal sent by someone who read that line is never missed,
 * and waits for one with weft_signal_wait.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <weft.h>

#include "../common/util.h"
#include "conn.h"

/* listener.h's start: a task for the connection (conn.h). */
static int start_conn(void *arg, weft_sock *sock) {
  return conn_start(arg, sock);
}

/* The main task: accept until a signal, then say what was served. */
static int run(void *arg) {
  struct server *sv = arg;

  if (listener_run(&sv->listener))
    return 1;
  printf("httpd: stopped: %ld connections, %ld requests, %ld open\n",
         atomic_load(&sv->listener.accepted), atomic_load(&sv->requests), atomic_load(&sv->open));
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

/* The milliseconds of option what, from 1 ms to a day, or usage(). */
static int64_t milliseconds(const char *s, const char *what) {
  long v;

  if (util_number("httpd", what, s, 1, 86400000, &v))
    usage();
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

int main(int argc, char **argv) {
  struct server sv = {.listener = {.prog = "httpd", .host = "127.0.0.1", .port = "0"},
                      .request_ms = 10000,
                      .idle_ms = 15000,
                      .send_ms = 30000};
  weft_config cfg;
  int opt, rc;

  weft_config_init(&cfg);
  while ((opt = getopt(argc, argv, "H:p:w:T:K:S:vh")) != -1) {
    switch (opt) {
    case 'T':
      sv.request_ms = milliseconds(optarg, "-T");
      break;
    case 'K':
      sv.idle_ms = milliseconds(optarg, "-K");
      break;
    case 'S':
      sv.send_ms = milliseconds(optarg, "-S");
      break;
    case 'v':
      sv.verbose = true;
      break;
    default: /* -H, -p, -w */
      if (listener_option(&sv.listener, &cfg, opt, optarg) != 1)
        usage();
    }
  }
  if (optind != argc - 1)
    usage();
  if (set_root(&sv, argv[optind]))
    return 1;
  sv.listener.start = start_conn;
  sv.listener.arg = &sv;
  util_raise_fd_limit(); /* room for a thousand connections and more */
  rc = weft_main(&cfg, run, &sv);
  if (rc < 0)
    fprintf(stderr, "httpd: %s\n", weft_strerror(rc));
  free(sv.root);
  return rc == 0 ? 0 : 1;
}
