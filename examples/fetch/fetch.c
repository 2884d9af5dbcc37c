/*
 * fetch - a parallel web crawler on weft: -c crawler tasks, each plain
 * sequential code parked on weft sockets, fed by a dispatcher task through
 * a channel, with a connection pool per server and one writer task.
 *
 *   fetch [OPTIONS] URL...        (fetch --help lists the options)
 *
 * It prints one JSON record per requested URL, a live progress line on a
 * terminal and a summary at the end; see cli.c for the options, crawl.c
 * for how the crawl runs, record.h for the records.
 *
 * This file is the program around the crawl: the command line, the start
 * URLs (arguments and -i FILE, read through weft's file calls), the output
 * file (with --state, crawl_resume opens it, to append, once it has brought
 * it in line with the journal), the --warc archive (warc.h), opened before
 * the first request, and signals. The main task holds SIGINT and SIGTERM
 * (common/stop.h) before the crawl starts, so none is missed; a watcher
 * task waits for them with weft_signal_wait, then releases them, so that
 * a second ^C kills at once, and stops the crawl, whose requests in
 * flight end with "cancelled" records.
 */
#define _GNU_SOURCE
#include "buf.h"
#include "cli.h"
#include "crawl.h"
#include "redis.h"
#include "tls.h"
#include "warc.h"

#include "../common/stop.h"
#include "../common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft.h>

/* Wait for a signal, then stop the crawl; ends when cancelled too. Either
 * way it releases the main task's hold on the signals. */
static void *watch_signals(void *arg) {
  struct crawl *c = arg;
  int rc = stop_wait();

  stop_release(); /* a second ^C kills at once */
  if (rc > 0)
    crawl_stop(c);
  return NULL; /* cancelled: the crawl is over */
}

/* Read all of fd into *out. Returns 0 or a weft error. */
static int read_fd(int fd, struct buf *out) {
  char data[16384];
  for (;;) {
    ssize_t n = weft_file_read(fd, data, sizeof data, -1, -1);
    if (n < 0)
      return (int)n;
    if (n == 0)
      return buf_failed(out) ? WEFT_ENOMEM : 0;
    buf_append(out, data, (size_t)n);
  }
}

/* Add each line of text as a start URL, skipping blank lines and '#'
 * comments. Returns 0 or -1 (out of memory). */
static int add_lines(struct crawl *c, char *text) {
  for (char *line = text, *next; line; line = next) {
    char *end;
    if ((next = strchr(line, '\n')))
      *next++ = '\0';
    while (*line == ' ' || *line == '\t' || *line == '\r')
      line++;
    end = line + strlen(line);
    while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
      *--end = '\0';
    if (*line && *line != '#' && crawl_add_start(c, line) != 0)
      return -1;
  }
  return 0;
}

/* Add the URLs of -i FILE ("-": standard input). Returns 0, or 2 after
 * saying why not. */
static int add_input(struct crawl *c, const char *path) {
  struct buf text = BUF_INIT;
  int fd = strcmp(path, "-") == 0 ? 0 : weft_file_open(path, O_RDONLY, 0, -1);
  int rc = fd < 0 ? fd : read_fd(fd, &text);
  if (fd > 0)
    weft_file_close(fd);
  if (rc == 0 && text.data && add_lines(c, text.data) != 0)
    rc = WEFT_ENOMEM;
  buf_free(&text);
  if (rc == 0)
    return 0;
  fprintf(stderr, "fetch: cannot read %s: %s\n", strcmp(path, "-") ? path : "standard input",
          weft_strerror(rc));
  return 2;
}

static int out_of_memory(void) {
  fprintf(stderr, "fetch: out of memory\n");
  return 1;
}

/* The crawl, as weft's main task. Returns the exit status. */
static int run(void *arg) {
  const struct options *o = arg;
  struct tls_config *tls = NULL;
  struct crawl *c;
  struct warc *warc = NULL;
  struct redis *redis = NULL;
  weft_task *watcher;
  char err[512];
  int fd = 1, rc = 0;
  /* TLS options are checked now; without them the defaults are made at
   * the first https: request (client.h). */
  if ((o->ca_file || o->insecure) &&
      tls_config_new(&tls, o->ca_file, o->insecure, err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  if (!(c = crawl_new(o, tls))) {
    tls_config_free(tls);
    return out_of_memory();
  }
  for (size_t i = 0; i < o->nurls && rc == 0; i++)
    if (crawl_add_start(c, o->urls[i]) != 0)
      rc = out_of_memory();
  if (rc == 0 && o->input)
    rc = add_input(c, o->input);
  if (rc != 0)
    goto out_free_crawl;
  if (o->redis) {
    /* Redis first: a crawl that cannot be joined leaves -o untouched. */
    if ((rc = redis_open(&redis, o->redis_host, o->redis_port, o->redis_timeout_ms, err,
                         sizeof err)) != 0) {
      fprintf(stderr, "fetch: --redis: %s\n", err);
      rc = 2;
      goto out_free_crawl;
    }
    if (crawl_share(c, redis) != CRAWL_READY) {
      rc = 2;
      goto out_free_crawl;
    }
  }
  if (o->state) {
    if ((rc = crawl_resume(c, &fd)) != CRAWL_READY) {
      rc = rc == CRAWL_FINISHED ? 0 : 2;
      goto out_free_crawl;
    }
  } else if (strcmp(o->output, "-") != 0 &&
             (fd = weft_file_open(o->output, O_WRONLY | O_CREAT | O_TRUNC, 0644, -1)) < 0) {
    fprintf(stderr, "fetch: cannot open %s: %s\n", o->output, weft_strerror(fd));
    rc = 2;
    goto out_free_crawl;
  }
  if (o->warc && (rc = warc_open(&warc, o, crawl_resumed(c))) != 0) {
    rc = 2; /* said on stderr */
    goto out_close_output;
  }
  crawl_archive(c, warc);
  if ((rc = stop_hold("fetch")) != 0)
    goto out_close_warc;
  if ((rc = weft_spawn(&watcher, watch_signals, c)) != 0) {
    stop_release();
    fprintf(stderr, "fetch: cannot start: %s\n", weft_strerror(rc));
    rc = 1;
    goto out_close_warc;
  }
  if ((rc = crawl_start(c, fd)) == 0) {
    rc = crawl_wait(c);
  } else {
    fprintf(stderr, "fetch: cannot start the crawl: %s\n", weft_strerror(rc));
    rc = 1;
  }
  weft_cancel(watcher); /* after crawl_wait, a late signal has nothing to stop */
  weft_join(watcher, NULL);
out_close_warc:
  if (warc_close(warc) != 0 && rc == 0)
    rc = 1; /* a record was lost (said on stderr), as for the records output */
out_close_output:
  if (fd != 1)
    weft_file_close(fd);
out_free_crawl:
  crawl_free(c);
  redis_close(redis);
  tls_config_free(tls);
  return rc;
}

int main(int argc, char **argv) {
  struct options o;
  weft_config cfg;
  char msg[512];
  int rc;

  switch (cli_parse(argc, argv, &o, msg, sizeof msg)) {
  case CLI_HELP:
    fputs(cli_usage, stdout);
    cli_free(&o);
    return 0;
  case CLI_USAGE:
    fprintf(stderr, "%s\nusage: fetch [OPTIONS] URL...   (fetch --help lists the options)\n", msg);
    cli_free(&o);
    return 2;
  }
  util_raise_fd_limit();
  weft_config_init(&cfg);
  if (o.workers)
    cfg.workers = o.workers;
  rc = weft_main(&cfg, run, &o);
  if (rc < 0) {
    fprintf(stderr, "fetch: %s\n", weft_strerror(rc));
    rc = 1;
  }
  cli_free(&o);
  return rc;
}
