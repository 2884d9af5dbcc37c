/*
 * crawl.h - the crawl itself: a dispatcher task that owns the frontier, a
 * pool of crawler tasks that request pages, and a writer task that prints
 * the records (see crawl.c for how they fit together).
 */
#ifndef FETCH_CRAWL_H
#define FETCH_CRAWL_H

#include "cli.h"
#include "tls.h"

struct crawl;
struct warc;

/* The product token fetch looks for in robots.txt. */
#define CRAWL_AGENT "weft-fetch"

/* A crawl configured by o (which must outlive it). NULL when out of
 * memory. Any thread. */
struct crawl *crawl_new(const struct options *o, struct tls_config *tls);

/*
 * Add a start URL (as the user wrote it) before crawl_start. One fetch
 * cannot use still gets a record: "invalid URL", "HTTPS is not supported
 * yet", "unsupported URL scheme". Returns 0, or -1 when out of memory.
 */
int crawl_add_start(struct crawl *c, const char *url);

/* What crawl_resume found. */
#define CRAWL_READY 0    /* the crawl goes on: crawl_start it */
#define CRAWL_FINISHED 1 /* nothing is left to do (it said so on stderr): exit 0 */
#define CRAWL_FAILED 2   /* it said why on stderr: exit 2, before any request */

/*
 * With --state DIR, after the last crawl_add_start: open DIR's journal
 * (making DIR and the journal when missing; a journal made by a command
 * with other crawl options is refused), replay it into the seen set and
 * the queue, and bring the output file (-o, which must name a regular
 * file) in line with it: *out_fd is then the output, opened to append.
 * A new journal starts with the start URLs; the output is truncated. A
 * short report goes to stderr (resumed, repaired). Returns CRAWL_READY,
 * CRAWL_FINISHED or CRAWL_FAILED. Inside a task.
 */
int crawl_resume(struct crawl *c, int *out_fd);

struct redis;

/*
 * With --redis: join (or begin) the shared crawl --crawl NAME through the
 * client r (which must outlive c): its stored options must be this
 * command's (else it says which differ), the start URLs' hosts join its
 * start hosts and the start URLs its frontier. Then crawl_start runs
 * crawlers that claim URLs from Redis (crawl.c, One crawl in Redis).
 * Returns CRAWL_READY, or CRAWL_FAILED after saying why on stderr (exit
 * 2). After the last crawl_add_start; inside a task.
 */
int crawl_share(struct crawl *c, struct redis *r);

/* 1 when crawl_resume went on with an existing journal (the outputs keep
 * what earlier runs wrote), else 0. */
int crawl_resumed(const struct crawl *c);
/* Archive every response, robots.txt's included, in w (warc.h; NULL: do
 * not), which must stay open until crawl_wait returns. Before crawl_start. */
void crawl_archive(struct crawl *c, struct warc *w);

/* Spawn the dispatcher, the crawlers and the writer, which writes the
 * records to out_fd. Returns 0 or a weft error (then nothing is running).
 * Inside a task. */
int crawl_start(struct crawl *c, int out_fd);

/*
 * Stop the crawl: requests in flight are cancelled (each gets its record,
 * "cancelled"), nothing more is requested. Harmless before crawl_start,
 * after the crawl has ended, and twice. Does not block. Any task.
 */
void crawl_stop(struct crawl *c);

/*
 * Wait for the crawl to end (the frontier empty and nothing in flight,
 * --max-pages reached, or crawl_stop), let every task finish, flush the
 * records and print the summary line on stderr. Returns 0, or 1 when the
 * records, or the journal, could not all be written. Inside a task; the
 * calling task must not be cancelled meanwhile.
 */
int crawl_wait(struct crawl *c);

/* Free c (after crawl_wait, or when crawl_start was never called or failed).
 * Inside a task (it closes the idle connections). */
void crawl_free(struct crawl *c);

#endif
