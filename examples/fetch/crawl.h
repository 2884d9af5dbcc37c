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
 * records could not all be written. Inside a task; the calling task must
 * not be cancelled meanwhile.
 */
int crawl_wait(struct crawl *c);

/* Free c (after crawl_wait, or when crawl_start was never called or failed).
 * Inside a task (it closes the idle connections). */
void crawl_free(struct crawl *c);

#endif
