/*
 * warc.c - the --warc file (see warc.h): who writes it, and how records
 * from many tasks reach it whole.
 *
 * Records come from the crawler tasks, on every worker thread, each right
 * after its request (crawl.c calls warc_exchange after every client_get,
 * robots.txt included). A crawler builds its two records itself, gzip
 * members and digests included, in memory of its own (warcrec.h), so that
 * work spreads over the workers; only the write is serialised.
 *
 * The append protocol. The file has one writer at a time: the holder of
 * w->lock, a weft_mutex, so a task waiting for it parks and its worker
 * runs other tasks meanwhile.
 *  1. Build the request and response records into a private buffer.
 *  2. Raise the cancel shield (weft_cancel_shield). A crawler cancelled by
 *     a stop (crawl.c, the stop protocol) would otherwise fail to take the
 *     lock and lose a response it has received; worse, a cancelled
 *     weft_file_write may have written part of its bytes without saying
 *     how many, leaving a torn record inside the file.
 *  3. Lock w->lock.
 *  4. Unless w->failed, write the buffer with one weft_file_write at the
 *     file's own position (offset -1), which only the lock holder moves.
 *     A short write is continued with the rest, which lands right behind
 *     it, since nobody else writes meanwhile. A failed write sets
 *     w->failed and is reported on stderr; since that happens under the
 *     lock, it is reported once, and every later holder sees failed and
 *     drops its records: the file ends in a partial record, and anything
 *     appended after it would be unreadable.
 *  5. Unlock, lower the shield, free the buffer.
 * So records never interleave, and a crash or SIGKILL can only cut the
 * record being written: the file is valid up to its last whole record.
 * The deadlocks this could add: a crawler holds at most h->robots_lock
 * (crawl.c, robots_check) when it takes w->lock, never the other way, and
 * the holder of w->lock waits for nothing but the disk.
 *
 * Rejected: a pthread mutex around write(2), which would hold the whole
 * worker thread, with every task queued on it, for each disk write; a
 * writer task fed by a channel, which serialises the same writes behind
 * an extra handoff per record and needs a way out for a cancelled crawler
 * that finds the channel full (crawl.c's late list); O_APPEND writes from
 * every task without a lock, which stay whole only while no write comes
 * up short.
 *
 * Ownership: the captured bytes belong to the response until its records
 * are built; warc_exchange frees them then, before it waits for the lock,
 * so a crawler neither holds a body twice while it waits nor carries it
 * through the rest of its page. The record buffer is the crawler's until
 * it is written, then freed.
 */
#define _GNU_SOURCE
#include "warc.h"

#include "buf.h"
#include "warcrec.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <weft.h>
#include <zlib.h>

struct warc {
  char *path;       /* immutable: for messages */
  int fd;           /* immutable until warc_close */
  int gz;           /* immutable: one gzip member per record */
  weft_mutex *lock; /* the append protocol: the file position, failed, lost */
  int failed;       /* under lock: a write failed (reported); later records are dropped */
  int lost;         /* under lock: a record could not be built (reported once) */
};

/* Write all len bytes at the file position. Returns 0 or a weft error. */
static int write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = weft_file_write(fd, data, len, -1, -1);
    if (n < 0)
      return (int)n;
    if (n == 0)
      return WEFT_EAGAIN; /* no progress: give up rather than spin */
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* The warcinfo record's fields. */
static void info_fields(struct buf *b, const struct options *o) {
  buf_printf(b, "software: weft-fetch/%s\r\n", weft_version());
  buf_puts(b, "format: WARC File Format 1.1\r\n");
  buf_printf(b, "robots: %s\r\n", o->robots ? "obey" : "ignore");
}

/*
 * Resuming a crawl (--state): the archive as the last run left it. The
 * append protocol makes a killed run's file valid up to its last whole
 * record, followed by at most one record cut short. The repair finds the
 * end of the last whole record and cuts the file there, so the resumed
 * run's records follow whole ones. It reads what it wrote:
 *   plain  records back to back, each "WARC/1.x" CR LF, header lines, an
 *          empty line, Content-Length bytes of block, then CR LF CR LF;
 *   .gz    one gzip member per record: a member whose stream inflates to
 *          its end is whole, one that runs out of bytes is the cut one.
 * A file that does not begin with a whole record is not one fetch wrote:
 * it is refused rather than cut to nothing. The scan runs on libuv's pool
 * (weft_offload), with blocking calls, once, before the first request.
 */
struct repair {
  int fd, gz;   /* in */
  int64_t size; /* out: the file's size before the cut */
  int64_t good; /* out: the end of the last whole record */
  int rc;       /* out: 0 or -errno */
};

#define WARC_HEAD_MAX (1 << 20) /* a record header longer than this is not one we wrote */

/* The length of the whole plain record at p (n bytes left), or 0. */
static size_t plain_record(const char *p, size_t n) {
  const char *end, *line;
  size_t head, len = 0;
  int have_len = 0;
  if (n < 9 || memcmp(p, "WARC/1.", 7) != 0)
    return 0;
  if (!(end = memmem(p, n < WARC_HEAD_MAX ? n : WARC_HEAD_MAX, "\r\n\r\n", 4)))
    return 0;
  head = (size_t)(end - p) + 4;
  for (line = p; line < end; line = (const char *)memchr(line, '\n', (size_t)(end - line)) + 1) {
    if (strncasecmp(line, "Content-Length:", 15) == 0) {
      char *stop;
      unsigned long long v = strtoull(line + 15, &stop, 10);
      if (stop == line + 15 || (*stop != '\r' && *stop != ' '))
        return 0;
      len = (size_t)v;
      have_len = v <= n;
    }
    if (!memchr(line, '\n', (size_t)(end - line)))
      break;
  }
  if (!have_len || len > n - head || n - head - len < 4 ||
      memcmp(p + head + len, "\r\n\r\n", 4) != 0)
    return 0;
  return head + len + 4;
}

/* The length of the whole gzip member at p (n bytes left), or 0. */
static size_t gzip_member(z_stream *z, const unsigned char *p, size_t n) {
  unsigned char scratch[16384];
  int st;
  if (inflateReset(z) != Z_OK)
    return 0;
  z->next_in = (unsigned char *)p;
  z->avail_in = n > UINT_MAX ? UINT_MAX : (unsigned)n;
  do {
    z->next_out = scratch;
    z->avail_out = sizeof scratch;
    st = inflate(z, Z_NO_FLUSH);
  } while (st == Z_OK);
  return st == Z_STREAM_END ? n - z->avail_in : 0;
}

static void *repair_run(void *arg) {
  struct repair *r = arg;
  struct stat st;
  const unsigned char *map;
  z_stream z = {0};
  size_t pos = 0, n;
  if (fstat(r->fd, &st) != 0) {
    r->rc = -errno;
    return NULL;
  }
  r->size = st.st_size;
  if (st.st_size > 0) {
    if ((map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, r->fd, 0)) == MAP_FAILED) {
      r->rc = -errno;
      return NULL;
    }
    if (r->gz && inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
      munmap((void *)map, (size_t)st.st_size);
      r->rc = -ENOMEM;
      return NULL;
    }
    while (pos < (size_t)st.st_size) {
      n = r->gz ? gzip_member(&z, map + pos, (size_t)st.st_size - pos)
                : plain_record((const char *)map + pos, (size_t)st.st_size - pos);
      if (n == 0)
        break;
      pos += n;
    }
    if (r->gz)
      inflateEnd(&z);
    munmap((void *)map, (size_t)st.st_size);
  }
  r->good = (int64_t)pos;
  if ((pos > 0 || st.st_size == 0) &&
      ((pos < (size_t)st.st_size && ftruncate(r->fd, (off_t)pos) != 0) ||
       lseek(r->fd, (off_t)pos, SEEK_SET) < 0))
    r->rc = -errno;
  return NULL;
}

/* Cut w's file after its last whole record, and place the file position
 * there. Returns 0, or a weft error (said on stderr). */
static int repair(struct warc *w) {
  struct repair r = {.fd = w->fd, .gz = w->gz};
  int rc = weft_offload(repair_run, &r, NULL);
  if (rc == 0)
    rc = r.rc;
  if (rc != 0) {
    fprintf(stderr, "fetch: --warc %s: cannot repair it: %s\n", w->path, weft_strerror(rc));
    return rc;
  }
  if (r.good == 0 && r.size > 0) {
    fprintf(stderr,
            "fetch: --warc %s: the crawl resumes, but the file does not begin with a whole WARC "
            "record%s; move it away to start a new archive\n",
            w->path, w->gz ? " in a gzip member" : "");
    return WEFT_EINVAL;
  }
  if (r.good < r.size)
    fprintf(stderr, "fetch: --warc %s: %" PRId64 " bytes of a record cut short cut off\n", w->path,
            r.size - r.good);
  return 0;
}

int warc_open(struct warc **out, const struct options *o, int resume) {
  size_t n = strlen(o->warc);
  struct buf fields = BUF_INIT, rec = BUF_INIT;
  struct warc *w = calloc(1, sizeof *w);
  int rc;
  if (!w || !(w->path = strdup(o->warc)) || weft_mutex_new(&w->lock) != 0) {
    rc = WEFT_ENOMEM;
    goto out_open;
  }
  w->gz = n > 3 && strcmp(o->warc + n - 3, ".gz") == 0;
  if ((w->fd = weft_file_open(o->warc, resume ? O_RDWR | O_CREAT : O_WRONLY | O_CREAT | O_TRUNC,
                              0644, -1)) < 0) {
    rc = w->fd;
    goto out_open;
  }
  if (resume && (rc = repair(w)) != 0) {
    weft_file_close(w->fd);
    goto out_free;
  }
  info_fields(&fields, o); /* each run begins with a warcinfo record of its own */
  rc = buf_failed(&fields) || warcrec_info(&rec, o->warc, time(NULL), fields.data, w->gz) != 0
           ? WEFT_ENOMEM
           : write_all(w->fd, rec.data, rec.len);
  buf_free(&fields);
  buf_free(&rec);
  if (rc == 0) {
    *out = w;
    return 0;
  }
  weft_file_close(w->fd);
out_open:
  fprintf(stderr, "fetch: --warc %s: %s\n", o->warc, weft_strerror(rc));
out_free:
  if (w) {
    weft_mutex_free(w->lock);
    free(w->path);
  }
  free(w);
  return rc;
}

/* WARC-Truncated for r: why its bytes end early, if they do. */
static const char *truncation(const struct response *r) {
  if (r->truncated)
    return "length";
  if (!r->error)
    return NULL;
  if (strcmp(r->error, "timed out") == 0)
    return "time";
  if (strcmp(r->error, "connection reset") == 0 ||
      strcmp(r->error, "connection closed mid-response") == 0)
    return "disconnect";
  return "unspecified";
}

/* Steps 2-5 of the append protocol for rec (NULL: a record that could not
 * be built, to report). */
static void append(struct warc *w, const struct buf *rec) {
  int shield = weft_cancel_shield(1), rc;
  if ((rc = weft_mutex_lock(w->lock, -1)) != 0) {
    fprintf(stderr, "fetch: --warc %s: a record is lost: %s\n", w->path, weft_strerror(rc));
    weft_cancel_shield(shield > 0);
    return;
  }
  if (!rec && !w->lost) {
    fprintf(stderr, "fetch: --warc %s: out of memory: a record is lost\n", w->path);
  } else if (rec && !w->failed && (rc = write_all(w->fd, rec->data, rec->len)) != 0) {
    fprintf(stderr, "fetch: --warc %s: cannot write: %s; no more records are written\n", w->path,
            weft_strerror(rc));
    w->failed = 1;
  }
  w->lost |= !rec;
  weft_mutex_unlock(w->lock);
  weft_cancel_shield(shield > 0);
}

void warc_exchange(struct warc *w, const char *uri, struct response *r) {
  struct buf rec = BUF_INIT;
  struct warc_exchange x = {uri,         r->peer, r->date,    r->sent,
                            r->sent_len, r->got,  r->got_len, truncation(r)};
  int ok;
  if (!w || !r->status)
    return;
  ok = r->sent && r->got && warcrec_exchange(&rec, &x, w->gz) == 0;
  free(r->sent);
  free(r->got);
  r->sent = r->got = NULL;
  append(w, ok ? &rec : NULL);
  buf_free(&rec);
}

int warc_close(struct warc *w) {
  int rc;
  if (!w)
    return 0;
  rc = w->failed || w->lost ? 1 : 0;
  weft_file_close(w->fd);
  weft_mutex_free(w->lock);
  free(w->path);
  free(w);
  return rc;
}
