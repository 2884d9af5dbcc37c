/*
 * spill.c - the on-disk FIFO (see spill.h).
 *
 * A segment is written once, whole, and read once, whole, then closed,
 * which frees its blocks: disk use follows what is queued, not what ever
 * was. Segments are unnamed, so the directory never lists them and a
 * crawl killed at any moment leaves no file behind; the price is a file
 * descriptor per segment held, one per 15,000 URLs or so queued beyond
 * the bound in memory (fetch raises its descriptor limit to the hard
 * one). The open runs through weft_offload with its arguments on the
 * caller's stack, which is safe because the one caller, the dispatcher,
 * is never cancelled.
 */
#define _GNU_SOURCE
#include "spill.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft.h>

void spill_init(struct spill *s, const char *dir) {
  memset(s, 0, sizeof *s);
  s->dir = dir;
  s->segs_tail = &s->segs;
}

/* Open an unnamed file in job->dir: weft_offload job, on libuv's pool. */
struct open_job {
  const char *dir;
  int fd; /* or -errno */
};

static void *open_unnamed(void *arg) {
  struct open_job *job = arg;
  char path[4096];
  if ((job->fd = open(job->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) >= 0)
    return NULL;
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
    job->fd = -errno;
    return NULL;
  }
  /* a file system without O_TMPFILE: a named file, unlinked at once */
  if (snprintf(path, sizeof path, "%s/fetch-spill.XXXXXX", job->dir) >= (int)sizeof path)
    job->fd = -ENAMETOOLONG;
  else if ((job->fd = mkostemp(path, O_CLOEXEC)) < 0)
    job->fd = -errno;
  else
    unlink(path);
  return NULL;
}

/* Write all n bytes at data to fd from offset 0. Returns 0 or a weft error. */
static int write_all(int fd, const char *data, size_t n) {
  size_t off = 0;
  while (off < n) {
    ssize_t w = weft_file_write(fd, data + off, n - off, (int64_t)off, -1);
    if (w <= 0)
      return w < 0 ? (int)w : -EIO;
    off += (size_t)w;
  }
  return 0;
}

/* Write the tail out as the newest segment. Returns 0 or a weft error. */
static int write_segment(struct spill *s) {
  struct open_job job = {s->dir, -1};
  struct spill_seg *seg = malloc(sizeof *seg);
  int rc;
  if (!seg)
    return WEFT_ENOMEM;
  if ((rc = weft_offload(open_unnamed, &job, NULL)) == 0 && (rc = job.fd) >= 0 &&
      (rc = write_all(job.fd, s->tail.data, s->tail.len)) == 0) {
    seg->next = NULL;
    seg->fd = job.fd;
    seg->size = s->tail.len;
    seg->count = s->tail_count;
    *s->segs_tail = seg;
    s->segs_tail = &seg->next;
    buf_reset(&s->tail);
    s->tail_count = 0;
    return 0;
  }
  if (job.fd >= 0)
    weft_file_close(job.fd);
  free(seg);
  return rc;
}

int spill_push(struct spill *s, const void *data, size_t n, long count) {
  size_t before = s->tail.len;
  int rc;
  buf_append(&s->tail, data, n);
  if (buf_failed(&s->tail)) {
    s->tail.failed = 0; /* reserve failed before writing: the old bytes are intact */
    s->tail.len = before;
    return -1;
  }
  s->tail_count += count;
  s->len += count;
  if (s->tail.len >= SPILL_SEGMENT && !s->failed && (rc = write_segment(s)) != 0) {
    fprintf(stderr, "fetch: cannot write the queue's overflow to %s: %s; it stays in memory\n",
            s->dir, weft_strerror(rc));
    s->failed = 1;
  }
  return 0;
}

/* Read segment seg whole to the end of out. Returns 0 or a weft error. */
static int read_segment(const struct spill_seg *seg, struct buf *out) {
  size_t off = 0, at = out->len;
  while (off < seg->size) {
    char chunk[65536];
    size_t want = seg->size - off < sizeof chunk ? seg->size - off : sizeof chunk;
    ssize_t r = weft_file_read(seg->fd, chunk, want, (int64_t)off, -1);
    if (r <= 0) {
      out->len = at;
      if (out->data)
        out->data[at] = '\0';
      return r < 0 ? (int)r : -EIO; /* the file is shorter than written */
    }
    buf_append(out, chunk, (size_t)r);
    off += (size_t)r;
  }
  return buf_failed(out) ? WEFT_ENOMEM : 0;
}

int spill_take(struct spill *s, struct buf *out, long *count) {
  struct spill_seg *seg = s->segs;
  int rc;
  if (!seg) {
    *count = s->tail_count;
    if (s->tail.len > 0)
      buf_append(out, s->tail.data, s->tail.len);
    buf_reset(&s->tail);
    s->len -= s->tail_count;
    s->tail_count = 0;
    return buf_failed(out) ? WEFT_ENOMEM : 0;
  }
  if (!(s->segs = seg->next))
    s->segs_tail = &s->segs;
  rc = read_segment(seg, out);
  if (rc != 0)
    fprintf(stderr, "fetch: cannot read back %ld queued URLs from %s: %s; they are dropped\n",
            seg->count, s->dir, weft_strerror(rc));
  weft_file_close(seg->fd);
  *count = seg->count;
  s->len -= seg->count;
  free(seg);
  return rc;
}

void spill_free(struct spill *s) {
  while (s->segs) {
    struct spill_seg *seg = s->segs;
    s->segs = seg->next;
    weft_file_close(seg->fd);
    free(seg);
  }
  buf_free(&s->tail);
  spill_init(s, s->dir);
}
