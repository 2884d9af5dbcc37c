/*
 * state.h - fetch's --state directory: the journal file (journal.h), its
 * replay, and the output file brought back in line with it on resume.
 * crawl.c decides what the entries are and when they are written; see its
 * opening comment ("The journal") for why a crawl killed at any moment
 * resumes with every record written exactly once.
 *
 * One owner task at a time; every call that touches a file blocks (weft's
 * file calls, weft_offload: no system call blocks a worker).
 */
#ifndef FETCH_STATE_H
#define FETCH_STATE_H

#include "buf.h"
#include "fp.h"
#include "journal.h"

#include <stddef.h>
#include <stdint.h>

#define STATE_JOURNAL "journal" /* the journal's name in the directory */

struct state {
  const char *dir;
  int fd;             /* the journal: O_RDWR | O_APPEND, locked (flock); -1 when closed */
  int64_t entries_at; /* where the entries start: the header's end */
  int64_t valid;      /* the journal's good bytes once replayed; -1 before */
  int64_t damaged;    /* bytes the first replay cut off the end (a torn write or garbage) */
  struct fp_key key;  /* the crawl's fingerprint key, from the header */
};

/* What state_open found. */
#define STATE_NEW 0    /* no journal (or only a torn first write): a new one, with its header */
#define STATE_RESUME 1 /* a journal of this very crawl */
#define STATE_ERROR 2  /* msg says why: exit 2 */

/*
 * Open the state directory dir (making it if missing), lock its journal
 * against a second fetch, and read the journal's header: options (the
 * crawl-defining options as text, one per line; see crawl.c) must be
 * what it holds. A new journal gets a header with options and a random
 * key. Returns STATE_NEW, STATE_RESUME or STATE_ERROR with msg (len
 * bytes) a one-line message starting "fetch: "; s->fd is -1 only after
 * STATE_ERROR.
 */
int state_open(struct state *s, const char *dir, const char *options, char *msg, size_t len);

/*
 * Call visit for each entry after the header, in order, until it returns
 * nonzero. The first replay stops at the first frame that is not whole
 * and good, cuts the file there (s->damaged says how much went) and sets
 * s->valid; later ones read that much. Returns 0, visit's value, or a
 * weft error.
 */
int state_replay(struct state *s, int (*visit)(void *arg, const struct jentry *e), void *arg);

/* Append the n bytes at data (whole frames) to the journal: write(2)
 * through weft_file_write, no buffering. Returns 0 or a weft error. */
int state_append(struct state *s, const void *data, size_t n);

/* fdatasync(fd) on libuv's pool. Returns 0 or a weft error. */
int state_sync(int fd);

/* Unlock and close the journal. */
void state_close(struct state *s);

/*
 * The output file on resume: the records of the journal's 'D' entries,
 * in order, are what it must hold, each once. state_output_open opens it
 * (O_APPEND; truncated when fresh); each record the replay meets goes to
 * state_output_record; state_output_finish cuts what is left past the
 * last record and writes what was missing.
 */
struct state_output {
  const char *path;
  int fd;
  int64_t size;       /* the file's size when opened */
  int64_t expect;     /* bytes of the records met so far */
  int64_t cut;        /* -1, or where the file was cut: records from there on are rewritten */
  int64_t dropped;    /* bytes cut off that no record of the journal holds */
  long restored;      /* records written back */
  struct buf pending; /* records to write back, in order */
};

/* Returns 0, or STATE_ERROR with msg. */
int state_output_open(struct state_output *out, const char *path, int fresh, char *msg, size_t len);
int state_output_record(struct state_output *out, const char *line, size_t n, char *msg,
                        size_t len);
int state_output_finish(struct state_output *out, char *msg, size_t len);

#endif
