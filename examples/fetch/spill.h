/*
 * spill.h - a FIFO of byte records on disk: where the frontier's queue
 * goes past its bound in memory (crawl.c, "The queue").
 *
 * Records are appended to a buffer in memory (the tail); each time it
 * reaches SPILL_SEGMENT bytes it is written out as one segment, a file
 * with no name (O_TMPFILE in the directory, else made and unlinked at
 * once), so that a crash leaves nothing behind to clean up. Reading takes
 * the oldest segment whole, or the tail when no segment is left: records
 * come back in the order they went in. The caller frames its records
 * (journal.h) so it can split what comes back.
 *
 * One owner task; the calls that touch files block (weft's file calls and
 * weft_offload: no system call blocks a worker).
 */
#ifndef FETCH_SPILL_H
#define FETCH_SPILL_H

#include "buf.h"

#define SPILL_SEGMENT (1u << 20) /* bytes a segment holds, about 15,000 URLs */

struct spill_seg {
  struct spill_seg *next;
  int fd;
  size_t size;
  long count;
};

struct spill {
  const char *dir;              /* where segments are made; outlives the spill */
  struct buf tail;              /* the newest records, not yet in a segment */
  long tail_count;              /* records in tail */
  struct spill_seg *segs;       /* written segments, oldest first */
  struct spill_seg **segs_tail; /* where the next one is linked */
  long len;                     /* records held in all */
  int failed;                   /* a segment could not be written: the tail keeps growing */
};

void spill_init(struct spill *s, const char *dir);

/*
 * Append the n bytes at data, holding count records. Returns 0, or -1 when
 * out of memory (nothing appended). A segment that cannot be written is
 * reported on stderr once; the records then stay in memory.
 */
int spill_push(struct spill *s, const void *data, size_t n, long count);

/*
 * Move the oldest records to the end of out: a whole segment, or the tail
 * when no segment is left; *count says how many. Returns 0 (*count is 0
 * when the spill is empty), or a weft error reading a segment: its records
 * are lost (*count of them), and the error was reported on stderr.
 */
int spill_take(struct spill *s, struct buf *out, long *count);

/* Drop every record and close the segments. */
void spill_free(struct spill *s);

#endif
