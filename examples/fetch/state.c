/*
 * state.c - the --state directory (see state.h).
 *
 * The journal is DIR/journal, opened O_APPEND and locked with flock, so a
 * second fetch on the same directory is refused rather than interleaved
 * with the first; the lock goes with the process, so a killed fetch never
 * leaves it held.
 *
 * Its first frame is the header. A journal whose first frame never got
 * wholly written (the file ends inside it: a kill during the very first
 * write, before any URL was requested) is started afresh; one whose first
 * frame is whole but bad, or not a header, is not a journal this program
 * wrote and is left alone (STATE_ERROR).
 *
 * Replay reads the entries in chunks of REPLAY_CHUNK (growing the buffer
 * for a frame longer than that), so a journal of millions of URLs costs
 * its reader one chunk of memory, and the J entries of the group being
 * read (one page's new links). The first replay cuts the file at the end
 * of the last whole group before anything is appended: the next frame
 * must start where a reader will look for it, and the J entries of a cut
 * group must not join a later group (crawl.c, "The journal", (b)).
 *
 * The system calls that may block (mkdir, flock, ftruncate, fstat,
 * fdatasync) run on libuv's pool through weft_offload, their arguments in
 * a struct on the caller's stack. That is safe because no caller is ever
 * cancelled (the main task, the dispatcher, the syncer): a cancelled
 * weft_offload would return while the job could still write the struct.
 *
 * The output, on resume. The writer writes records only after their 'D'
 * entries are in the journal, in the journal's order (crawl.c, "The
 * journal"), so the file holds the journal's records in order, then
 * possibly part of the next one; or, after a power loss, less than the
 * journal, or more. state_output_* keep the longest run of whole records
 * the file holds, cut anything after it, and write the journal's
 * remaining records there. The one check that the file is really the
 * crawl's is that the byte before the cut is a newline; a file that fails
 * it is refused (STATE_ERROR), never rewritten.
 */
#define _GNU_SOURCE
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <weft.h>

#include "../common/util.h"

#define REPLAY_CHUNK (1u << 20)
#define OUTPUT_BATCH (64u << 10) /* records written back per write */

/* ---- blocking system calls, on libuv's pool ---- */

enum sys_op { SYS_MKDIR, SYS_LOCK, SYS_TRUNCATE, SYS_STAT, SYS_SYNC };

struct sys_job {
  enum sys_op op;
  const char *path; /* SYS_MKDIR */
  int fd;
  int64_t size; /* SYS_TRUNCATE: the length; SYS_STAT: the file's size */
  int regular;  /* SYS_STAT: a regular file */
  int rc;       /* 0 or -errno */
};

static void *sys_run(void *arg) {
  struct sys_job *j = arg;
  struct stat st;
  int rc = 0;
  switch (j->op) {
  case SYS_MKDIR:
    rc = mkdir(j->path, 0777);
    break;
  case SYS_LOCK:
    rc = flock(j->fd, LOCK_EX | LOCK_NB);
    break;
  case SYS_TRUNCATE:
    rc = ftruncate(j->fd, (off_t)j->size);
    break;
  case SYS_SYNC:
    rc = fdatasync(j->fd);
    break;
  case SYS_STAT:
    if ((rc = fstat(j->fd, &st)) == 0) {
      j->size = (int64_t)st.st_size;
      j->regular = S_ISREG(st.st_mode);
    }
    break;
  }
  j->rc = rc == 0 ? 0 : -errno;
  return NULL;
}

/* Run job; returns its -errno, or weft_offload's error. */
static int sys(struct sys_job *job) {
  int rc = weft_offload(sys_run, job, NULL);
  return rc != 0 ? rc : job->rc;
}

static int sys_fd(enum sys_op op, int fd, int64_t size) {
  struct sys_job job = {op, NULL, fd, size, 0, 0};
  return sys(&job);
}

int state_sync(int fd) {
  return sys_fd(SYS_SYNC, fd, 0);
}

/* Write all n bytes at data at the end of fd (O_APPEND). */
static int append_all(int fd, const char *data, size_t n) {
  while (n > 0) {
    ssize_t w = weft_file_write(fd, data, n, -1, -1);
    if (w <= 0)
      return w < 0 ? (int)w : -EIO;
    data += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Read exactly n bytes at off. Returns 1, 0 when the file ends first, or
 * a weft error. */
static int read_exactly(int fd, void *buf, size_t n, int64_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = weft_file_read(fd, (char *)buf + got, n - got, off + (int64_t)got, -1);
    if (r < 0)
      return (int)r;
    if (r == 0)
      return 0;
    got += (size_t)r;
  }
  return 1;
}

/* ---- the header ---- */

static void hex(char *out, const unsigned char *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", b[i]);
}

/* The line of text (len bytes) that starts at s, without its newline, in
 * out (at most 80 bytes shown). */
static void show_line(const char *s, const char *end, char *out, size_t len) {
  const char *nl = memchr(s, '\n', (size_t)(end - s));
  int n = (int)((nl ? nl : end) - s);
  snprintf(out, len, "%.*s%s", n > 80 ? 80 : n, s, n > 80 ? "..." : "");
}

/* Compare the options in the header (have) with this command's (want);
 * on a difference, say which line differs. */
static int same_options(const char *have, size_t have_len, const char *want, const char *dir,
                        char *msg, size_t len) {
  size_t want_len = strlen(want), i = 0, line = 0;
  char was[96], is[96];
  if (have_len == want_len && memcmp(have, want, want_len) == 0)
    return 1;
  for (; i < have_len && i < want_len && have[i] == want[i]; i++)
    if (have[i] == '\n')
      line = i + 1;
  show_line(have + line, have + have_len, was, sizeof was);
  show_line(want + line, want + want_len, is, sizeof is);
  snprintf(msg, len,
           "fetch: --state %s holds another crawl: its journal says '%s' where this command "
           "has '%s' (run the same command, or use another directory)",
           dir, *was ? was : "(nothing)", *is ? is : "(nothing)");
  return 0;
}

/* Check the header entry e against options; set s->key. */
static int check_header(struct state *s, const struct jentry *e, const char *options, char *msg,
                        size_t len) {
  const char *p = e->text + sizeof JOURNAL_MAGIC - 1, *end = e->text + e->text_len;
  if (end - p < 37 || memcmp(p, "key ", 4) != 0 || p[36] != '\n' ||
      util_unhex(p + 4, s->key.bytes, sizeof s->key.bytes) != 0) {
    snprintf(msg, len, "fetch: --state %s: the journal's header is not one fetch writes", s->dir);
    return STATE_ERROR;
  }
  p += 37;
  return same_options(p, (size_t)(end - p), options, s->dir, msg, len) ? STATE_RESUME : STATE_ERROR;
}

/* Start the journal afresh: empty it, then write a header with a new key. */
static int new_journal(struct state *s, const char *options, char *msg, size_t len) {
  struct buf b = BUF_INIT, text = BUF_INIT;
  struct jentry e = {.type = JOURNAL_HEADER};
  char key[33];
  int rc;
  fp_key_random(&s->key);
  hex(key, s->key.bytes, sizeof s->key.bytes);
  buf_puts(&text, JOURNAL_MAGIC);
  buf_printf(&text, "key %s\n", key);
  buf_puts(&text, options);
  e.text = text.data;
  e.text_len = text.len;
  if (buf_failed(&text) || journal_put(&b, &e) != 0 || buf_failed(&b))
    rc = WEFT_ENOMEM;
  else if ((rc = sys_fd(SYS_TRUNCATE, s->fd, 0)) == 0 &&
           (rc = append_all(s->fd, b.data, b.len)) == 0)
    rc = state_sync(s->fd);
  s->entries_at = (int64_t)b.len;
  buf_free(&b);
  buf_free(&text);
  if (rc == 0)
    return STATE_NEW;
  snprintf(msg, len, "fetch: --state %s: cannot write the journal: %s", s->dir, weft_strerror(rc));
  return STATE_ERROR;
}

/* The size of the frame whose first 4 bytes are at p. */
static size_t frame_size(const unsigned char *p) {
  uint32_t n = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  return JOURNAL_FRAME + (size_t)n;
}

/* Read the first frame: the header, or nothing yet. */
static int read_header(struct state *s, const char *options, char *msg, size_t len) {
  unsigned char head[JOURNAL_FRAME], *frame;
  struct jentry e;
  size_t n, used;
  int rc = read_exactly(s->fd, head, sizeof head, 0);
  if (rc == 0)
    return new_journal(s, options, msg, len); /* empty, or torn in its first frame */
  if (rc < 0)
    goto unreadable;
  n = frame_size(head) - JOURNAL_FRAME;
  if (n == 0 || n > JOURNAL_MAX)
    goto not_ours;
  if (!(frame = malloc(JOURNAL_FRAME + n))) {
    rc = WEFT_ENOMEM;
    goto unreadable;
  }
  memcpy(frame, head, sizeof head);
  if ((rc = read_exactly(s->fd, frame + JOURNAL_FRAME, n, JOURNAL_FRAME)) != 1) {
    free(frame);
    if (rc == 0)
      return new_journal(s, options, msg, len);
    goto unreadable;
  }
  if (journal_next(frame, JOURNAL_FRAME + n, &e, &used) != JOURNAL_OK || e.type != JOURNAL_HEADER) {
    free(frame);
    goto not_ours;
  }
  s->entries_at = (int64_t)used;
  rc = check_header(s, &e, options, msg, len);
  free(frame);
  return rc;
not_ours:
  snprintf(msg, len,
           "fetch: --state %s: %s is not a fetch journal, or its start is damaged (move it away "
           "to start the crawl over)",
           s->dir, STATE_JOURNAL);
  return STATE_ERROR;
unreadable:
  snprintf(msg, len, "fetch: --state %s: cannot read the journal: %s", s->dir, weft_strerror(rc));
  return STATE_ERROR;
}

int state_open(struct state *s, const char *dir, const char *options, char *msg, size_t len) {
  struct sys_job mk = {SYS_MKDIR, dir, -1, 0, 0, 0};
  char path[PATH_MAX];
  int rc;
  memset(s, 0, sizeof *s);
  s->dir = dir;
  s->fd = -1;
  s->valid = -1;
  if ((rc = sys(&mk)) != 0 && rc != -EEXIST) {
    snprintf(msg, len, "fetch: --state %s: cannot make the directory: %s", dir, weft_strerror(rc));
    return STATE_ERROR;
  }
  if (snprintf(path, sizeof path, "%s/%s", dir, STATE_JOURNAL) >= (int)sizeof path) {
    snprintf(msg, len, "fetch: --state %s: the name is too long", dir);
    return STATE_ERROR;
  }
  if ((s->fd = weft_file_open(path, O_RDWR | O_CREAT | O_APPEND, 0644, -1)) < 0) {
    snprintf(msg, len, "fetch: --state %s: cannot open %s: %s", dir, path, weft_strerror(s->fd));
    s->fd = -1;
    return STATE_ERROR;
  }
  if ((rc = sys_fd(SYS_LOCK, s->fd, 0)) != 0) {
    snprintf(msg, len, "fetch: --state %s: %s", dir,
             rc == -EWOULDBLOCK ? "another fetch is using it" : weft_strerror(rc));
    rc = STATE_ERROR;
  } else {
    rc = read_header(s, options, msg, len);
  }
  if (rc == STATE_ERROR)
    state_close(s);
  return rc;
}

void state_close(struct state *s) {
  if (s->fd >= 0)
    weft_file_close(s->fd);
  s->fd = -1;
}

int state_append(struct state *s, const void *data, size_t n) {
  int rc = append_all(s->fd, data, n);
  if (rc == 0 && s->valid >= 0)
    s->valid += (int64_t)n; /* a later replay reads it too */
  return rc;
}

/* ---- replay ---- */

/* Cut the journal at good, its first replay's end. */
static int cut_damage(struct state *s, int64_t good) {
  struct sys_job st = {SYS_STAT, NULL, s->fd, 0, 0, 0};
  int rc = sys(&st);
  if (rc == 0 && st.size > good && (rc = sys_fd(SYS_TRUNCATE, s->fd, good)) == 0)
    s->damaged = st.size - good;
  if (rc == 0)
    s->valid = good;
  return rc;
}

/* Visit the J entries of a group (its frames, held in group), then end,
 * the D or C that ends it. */
static int visit_group(struct buf *group, const struct jentry *end,
                       int (*visit)(void *arg, const struct jentry *e), void *arg) {
  size_t pos = 0, used;
  struct jentry j;
  int rc = 0;
  while (rc == 0 && pos < group->len &&
         journal_next(group->data + pos, group->len - pos, &j, &used) == JOURNAL_OK) {
    rc = visit(arg, &j);
    pos += used;
  }
  buf_reset(group);
  return rc != 0 ? rc : visit(arg, end);
}

int state_replay(struct state *s, int (*visit)(void *arg, const struct jentry *e), void *arg) {
  size_t cap = REPLAY_CHUNK, have = 0, pos = 0;
  unsigned char *data = malloc(cap);
  struct buf group = BUF_INIT; /* the frames of the group being read */
  int64_t off = s->entries_at; /* the file offset of data[0] */
  int64_t good = off;          /* the end of the last whole group */
  int rc = 0, eof = 0;
  if (!data)
    return WEFT_ENOMEM;
  for (;;) {
    struct jentry e;
    size_t used;
    int r = journal_next(data + pos, have - pos, &e, &used);
    if (r == JOURNAL_OK && e.type == JOURNAL_JOIN) {
      buf_append(&group, data + pos, used);
      if (buf_failed(&group)) {
        rc = WEFT_ENOMEM;
        goto out;
      }
      pos += used;
      continue;
    }
    if (r == JOURNAL_OK && e.type != JOURNAL_HEADER) {
      if ((rc = visit_group(&group, &e, visit, arg)) != 0)
        goto out;
      pos += used;
      good = off + (int64_t)pos;
      continue;
    }
    if (r != JOURNAL_SHORT || eof)
      break; /* the end, or damage */
    memmove(data, data + pos, have - pos);
    off += (int64_t)pos;
    have -= pos;
    pos = 0;
    if (have >= 4 && frame_size(data) > cap && frame_size(data) <= JOURNAL_FRAME + JOURNAL_MAX) {
      unsigned char *bigger = realloc(data, frame_size(data));
      if (!bigger) {
        rc = WEFT_ENOMEM;
        goto out;
      }
      data = bigger;
      cap = frame_size(data);
    }
    {
      size_t want = cap - have;
      ssize_t got;
      if (s->valid >= 0 && (int64_t)want > s->valid - off - (int64_t)have)
        want = (size_t)(s->valid - off - (int64_t)have);
      got = want > 0 ? weft_file_read(s->fd, data + have, want, off + (int64_t)have, -1) : 0;
      if (got < 0) {
        rc = (int)got;
        goto out;
      }
      eof = got == 0;
      have += (size_t)got;
    }
  }
  if (s->valid < 0)
    rc = cut_damage(s, good); /* a group cut short goes too */
out:
  buf_free(&group);
  free(data);
  return rc;
}

/* ---- the output ---- */

int state_output_open(struct state_output *out, const char *path, int fresh, char *msg,
                      size_t len) {
  struct sys_job st = {SYS_STAT, NULL, -1, 0, 0, 0};
  int rc;
  memset(out, 0, sizeof *out);
  out->path = path;
  out->cut = -1;
  out->fd = weft_file_open(path, O_RDWR | O_CREAT | O_APPEND | (fresh ? O_TRUNC : 0), 0644, -1);
  if (out->fd < 0) {
    snprintf(msg, len, "fetch: cannot open %s: %s", path, weft_strerror(out->fd));
    return STATE_ERROR;
  }
  st.fd = out->fd;
  if ((rc = sys(&st)) != 0 || !st.regular) {
    if (rc != 0)
      snprintf(msg, len, "fetch: cannot open %s: %s", path, weft_strerror(rc));
    else
      snprintf(msg, len, "fetch: --state needs -o to name a regular file, and %s is not one", path);
    weft_file_close(out->fd);
    out->fd = -1;
    return STATE_ERROR;
  }
  out->size = st.size;
  return 0;
}

/* Cut the output at pos, the end of a run of whole records, after
 * checking that a record ends there. */
static int cut_output(struct state_output *out, int64_t pos, char *msg, size_t len) {
  char last = '\n';
  int rc = pos > 0 ? read_exactly(out->fd, &last, 1, pos - 1) : 1;
  if (rc == 1 && last != '\n') {
    snprintf(msg, len,
             "fetch: %s does not hold the records the journal says it does (was it changed?); "
             "move it away to have them written anew",
             out->path);
    return STATE_ERROR;
  }
  if (rc == 1)
    rc = sys_fd(SYS_TRUNCATE, out->fd, pos);
  if (rc != 0) {
    snprintf(msg, len, "fetch: cannot repair %s: %s", out->path,
             weft_strerror(rc == 0 ? -EIO : rc));
    return STATE_ERROR;
  }
  out->cut = pos;
  out->dropped = out->size - pos;
  return 0;
}

static int write_pending(struct state_output *out, char *msg, size_t len) {
  int rc = buf_failed(&out->pending) ? WEFT_ENOMEM
                                     : append_all(out->fd, out->pending.data, out->pending.len);
  buf_reset(&out->pending);
  if (rc == 0)
    return 0;
  snprintf(msg, len, "fetch: cannot write the records back to %s: %s", out->path,
           weft_strerror(rc));
  return STATE_ERROR;
}

int state_output_record(struct state_output *out, const char *line, size_t n, char *msg,
                        size_t len) {
  if (out->cut < 0 && out->expect + (int64_t)n <= out->size) {
    out->expect += (int64_t)n; /* the file holds it */
    return 0;
  }
  if (out->cut < 0 && cut_output(out, out->expect, msg, len) != 0)
    return STATE_ERROR;
  buf_append(&out->pending, line, n);
  out->expect += (int64_t)n;
  out->restored++;
  return out->pending.len >= OUTPUT_BATCH ? write_pending(out, msg, len) : 0;
}

int state_output_finish(struct state_output *out, char *msg, size_t len) {
  int rc = 0;
  if (out->cut < 0 && out->size > out->expect)
    rc = cut_output(out, out->expect, msg, len);
  if (rc == 0 && out->pending.len > 0)
    rc = write_pending(out, msg, len);
  buf_free(&out->pending);
  return rc;
}
