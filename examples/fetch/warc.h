/*
 * warc.h - fetch's WARC/1.1 archive (--warc FILE): the file, opened with
 * its warcinfo record before the crawl, then a request and a response
 * record for every response received, appended by the crawler tasks
 * themselves (see warc.c for how records from many tasks reach the file
 * whole), closed after the crawl. The records are built by warcrec.h.
 */
#ifndef FETCH_WARC_H
#define FETCH_WARC_H

#include "cli.h"
#include "client.h"

struct warc;

/*
 * Create (or truncate) the file o->warc and write its warcinfo record; a
 * name ending in ".gz" makes every record a gzip member of its own. With
 * resume (a --state crawl resumed), keep the file instead: cut it after
 * its last whole record (a killed run may have left one cut short, said
 * on stderr) and append this run's warcinfo and records there; a file
 * that does not begin with a whole record is refused (WEFT_EINVAL, said
 * on stderr). Returns 0 with *out set, or a weft error (the open's, the
 * repair's or the write's, or WEFT_ENOMEM) with nothing left open. Inside
 * a task; may switch.
 */
int warc_open(struct warc **out, const struct options *o, int resume);

/*
 * Archive the exchange r, a response to a GET of uri made by a client
 * with capture set: its request and response records, if a status line
 * arrived (r->status); nothing when w is NULL. Frees the captured bytes
 * (r->sent, r->got) once the records are built. A failed write is reported on
 * stderr (once) and every later record is dropped; a record that cannot
 * be built for want of memory is reported and skipped. Either makes
 * warc_close return 1. Any task, also a cancelled one; may switch.
 */
void warc_exchange(struct warc *w, const char *uri, struct response *r);

/* Close the file and free w (NULL: nothing). Returns 0, or 1 when a
 * record was lost. After every warc_exchange has returned; inside a task. */
int warc_close(struct warc *w);

#endif
