/*
 * journal.h - the entries of fetch's crawl journal (--state) and their
 * framing on disk; state.c writes and replays the file, crawl.c decides
 * what goes in it.
 *
 * A journal is a sequence of frames, each
 *
 *   length   4 bytes, little-endian: the payload's size, 1 to JOURNAL_MAX
 *   crc      4 bytes, little-endian: zlib's crc32 of the length's 4 bytes
 *            and then of the payload
 *   payload  a type byte and the entry's fields:
 *
 *   'H' header  the first frame, and only there: text, "fetch-journal 1\n"
 *               then "key " and the fingerprint key in 32 hex digits, a
 *               newline, then the crawl's options, one per line
 *   'J' join    a URL joined the frontier: depth (4 bytes, little-endian),
 *               hops (1), flags (1; bit 0: a start URL; bits 1-7: 0 for a
 *               page, else the level of a sitemap), error (1: 0, or the
 *               1-based index of the start URL's error in crawl.c's
 *               table), the URL's bytes (the rest; no NUL)
 *   'D' done    a URL is finished: its fingerprint (lo then hi, 8 bytes
 *               each, little-endian), then its record's JSON line with
 *               the newline, or nothing when it got no record
 *   'C' commit  nothing more: ends a group that has no D (the start URLs)
 *
 * After the header, entries come in groups: J entries, then the D or C
 * that ends them (the URLs one page found, then that page's D). A reader
 * takes a group whole or not at all.
 *
 * A frame is accepted only whole, with a matching crc and a well-formed
 * payload; a reader stops at the first frame that is not, so what it
 * accepts is always a prefix of what was written: a write torn by a kill,
 * or garbage after it, is never trusted (see state.c for what happens to
 * the bytes after it).
 *
 * Pure, any thread.
 */
#ifndef FETCH_JOURNAL_H
#define FETCH_JOURNAL_H

#include "buf.h"
#include "fp.h"

#include <stddef.h>
#include <stdint.h>

#define JOURNAL_MAX (16u << 20) /* the longest payload */
#define JOURNAL_FRAME 8         /* bytes before the payload */

enum { JOURNAL_HEADER = 'H', JOURNAL_JOIN = 'J', JOURNAL_DONE = 'D', JOURNAL_COMMIT = 'C' };

/* The magic first line of a header's text. */
#define JOURNAL_MAGIC "fetch-journal 1\n"

/* One decoded entry. Its pointers point into the bytes it was read from. */
struct jentry {
  int type; /* JOURNAL_* */
  /* header */
  const char *text;
  size_t text_len;
  /* join */
  uint32_t depth;
  int hops;  /* 0-255 */
  int start;   /* 0 or 1 */
  int sitemap; /* 0-127: 0 for a page */
  int error; /* 0-255 */
  const char *url;
  size_t url_len;
  /* done */
  struct fp fp;
  const char *line; /* its record, or NULL (line_len 0) */
  size_t line_len;
};

/* Append a frame holding e (its type's fields) to b. Returns 0, or -1 when
 * e cannot be an entry (a field out of range, a NUL in a URL, a record
 * that is not one line, too long); b is then unchanged. Out of memory
 * shows in buf_failed(b). */
int journal_put(struct buf *b, const struct jentry *e);

/* The results of journal_next. */
#define JOURNAL_OK 1     /* *e and *used are set */
#define JOURNAL_SHORT 0  /* the bytes end inside a frame */
#define JOURNAL_BAD (-1) /* not a frame: a bad length, crc or payload */

/*
 * Decode the frame at the start of the avail bytes at data. Returns
 * JOURNAL_OK with *e its entry and *used its size, JOURNAL_SHORT when
 * avail ends before the frame does (a torn tail, or a buffer to refill),
 * or JOURNAL_BAD. Reads no byte past data + avail.
 */
int journal_next(const void *data, size_t avail, struct jentry *e, size_t *used);

#endif
