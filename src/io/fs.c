/*
 * fs.c - files through uv_fs_* and blocking work through uv_queue_work,
 * both on libuv's thread pool, as io ops (op.c).
 *
 * A pool job that has started cannot be stopped. For file operations the
 * task waits for it even when cancelled or past its deadline: the job may
 * be writing into the task's buffer, or may have opened a file that must
 * then be closed; regular-file operations are short. The request is
 * withdrawn with uv_cancel where it is still queued, and the result of a
 * cancelled one is dropped (an opened fd closed). weft_offload runs code
 * that may block for long, so a cancelled offload wakes its task at once
 * and the job's result is dropped when it finishes; its argument must
 * outlive the job (see weft.h).
 */
#define _GNU_SOURCE
#include "io/io.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

enum fs_kind { FS_OPEN, FS_READ, FS_WRITE };

struct fs_op {
  weft__io_op op;
  enum fs_kind kind;        /* immutable */
  const char *path;         /* FS_OPEN */
  int flags, mode;          /* FS_OPEN */
  int fd;                   /* FS_READ, FS_WRITE */
  uv_buf_t buf;             /* FS_READ, FS_WRITE */
  int64_t offset;           /* -1: the file position */
  uv_fs_t req;              /* I/O thread only */
  int stop;                 /* I/O thread: WEFT_ECANCELED or WEFT_ETIMEDOUT once asked */
};

static void fs_done(uv_fs_t *req) {
  struct fs_op *f = req->data;
  ssize_t r = req->result;

  uv_fs_req_cleanup(req);
  if (f->stop && f->kind == FS_OPEN && r >= 0)
    close((int)r); /* opened after all: nobody will use it */
  weft__io_finish(&f->op, f->stop ? f->stop : r < 0 ? weft__uv_error((int)r) : (int)r);
  weft__io_op_unref(&f->op); /* the I/O thread's reference */
}

/* Cancelled or past its deadline (op.c): ask the job to stop; fs_done
 * still delivers the wakeup, with the first reason. */
static void fs_cancel(weft__io_op *op, int why) {
  struct fs_op *f = container_of(op, struct fs_op, op);
  if (!f->stop)
    f->stop = why;
  uv_cancel((uv_req_t *)&f->req);
}

static void fs_start(weft__io_op *op) {
  struct fs_op *f = container_of(op, struct fs_op, op);
  uv_loop_t *loop = weft__io_loop(op->io);
  int rc = 0;

  f->req.data = f;
  switch (f->kind) {
  case FS_OPEN:
    rc = uv_fs_open(loop, &f->req, f->path, f->flags, f->mode, fs_done);
    break;
  case FS_READ:
    rc = uv_fs_read(loop, &f->req, f->fd, &f->buf, 1, f->offset, fs_done);
    break;
  case FS_WRITE:
    rc = uv_fs_write(loop, &f->req, f->fd, &f->buf, 1, f->offset, fs_done);
    break;
  }
  if (rc) {
    weft__io_finish(op, weft__uv_error(rc));
    weft__io_op_unref(op); /* the I/O thread's reference */
  }
}

static const weft__io_op_kind fs_kind = {
    .size = sizeof(struct fs_op),
    .start = fs_start,
    .cancel = fs_cancel,
};
WEFT__IO_OP_FIRST(struct fs_op);

static ssize_t fs_run(const struct fs_op *tmpl, int64_t deadline) {
  weft_task *t = weft__blocking_enter();
  struct fs_op *f;
  int rc;

  if (!t)
    return WEFT_EPERM;
  if (weft__cancel_pending(t))
    return WEFT_ECANCELED;
  if (deadline == 0)
    return WEFT_ETIMEDOUT;
  f = (struct fs_op *)weft__io_op_new(&fs_kind);
  if (!f)
    return WEFT_ENOMEM;
  *f = *tmpl; /* its op is all zero but the kind */
  f->op.kind = &fs_kind;
  weft__wait_note(weft_self(), "file operation", 0, deadline);
  rc = weft__io_wait(&f->op, deadline, true);
  weft__io_op_unref(&f->op);
  return rc;
}

int weft_file_open(const char *path, int flags, int mode, int64_t deadline) {
  struct fs_op f = {.kind = FS_OPEN, .path = path, .flags = flags | O_CLOEXEC, .mode = mode};
  if (!path)
    return WEFT_EINVAL;
  return (int)fs_run(&f, deadline);
}

static ssize_t rw(enum fs_kind kind, int fd, void *buf, size_t len, int64_t offset,
                  int64_t deadline) {
  struct fs_op f = {.kind = kind, .fd = fd, .offset = offset < 0 ? -1 : offset};
  if (fd < 0)
    return WEFT_EBADF;
  if (!buf && len)
    return WEFT_EINVAL;
  if (len > INT32_MAX)
    len = INT32_MAX; /* a short count, as read(2) may return */
  f.buf = uv_buf_init(buf, (unsigned)len);
  return fs_run(&f, deadline);
}

ssize_t weft_file_read(int fd, void *buf, size_t len, int64_t offset, int64_t deadline) {
  return rw(FS_READ, fd, buf, len, offset, deadline);
}

ssize_t weft_file_write(int fd, const void *buf, size_t len, int64_t offset, int64_t deadline) {
  return rw(FS_WRITE, fd, (void *)buf, len, offset, deadline);
}

int weft_file_close(int fd) {
  if (fd < 0)
    return WEFT_EBADF;
  return close(fd) < 0 ? -errno : 0;
}

/* Read a whole file in chunks, parking between them (the classic
 * generator examples' load_file, done with tasks). */
int weft_file_read_all(const char *path, char **out, size_t *len) {
  size_t cap = 65536, used = 0;
  char *buf, *bigger;
  ssize_t n;
  int fd;

  if (!path || !out || !len)
    return WEFT_EINVAL;
  *out = NULL;
  *len = 0;
  if ((fd = weft_file_open(path, O_RDONLY, 0, -1)) < 0)
    return fd;
  if (!(buf = malloc(cap + 1))) {
    close(fd);
    return WEFT_ENOMEM;
  }
  while ((n = weft_file_read(fd, buf + used, cap - used, (int64_t)used, -1)) > 0) {
    used += (size_t)n;
    if (used == cap) {
      if (!(bigger = realloc(buf, cap * 2 + 1))) {
        n = WEFT_ENOMEM;
        break;
      }
      buf = bigger;
      cap *= 2;
    }
  }
  close(fd);
  if (n < 0) {
    free(buf);
    return (int)n;
  }
  buf[used] = 0; /* handy for text; len excludes it */
  *out = buf;
  *len = used;
  return 0;
}

/* ---- weft_offload ---- */

struct work_op {
  weft__io_op op;
  void *(*fn)(void *);
  void *arg;
  void *result;             /* written by the pool thread, read after the wakeup */
  void (*orphan)(void *arg, void *result, int ran); /* immutable; may be NULL */
  bool started;             /* work_start ran; I/O thread, then read by the woken task */
  uv_work_t work;           /* I/O thread only */
};

static void work_run(uv_work_t *w) {
  struct work_op *o = w->data;
  o->result = o->fn(o->arg);
}

static void work_after(uv_work_t *w, int status) {
  struct work_op *o = w->data;
  bool ran = status != UV_ECANCELED;
  /* The task was told WEFT_ECANCELED (by work_cancel while fn ran, or now
   * for a job dequeued unrun): the job is the orphan callback's now. */
  bool orphaned = o->op.finished || !ran;
  /* libuv orders work_run before this callback, so result is visible. */
  weft__io_finish(&o->op, ran ? 0 : WEFT_ECANCELED);
  if (orphaned && o->orphan)
    o->orphan(o->arg, ran ? o->result : NULL, ran);
  weft__io_op_unref(&o->op);
}

static void work_start(weft__io_op *op) {
  struct work_op *o = container_of(op, struct work_op, op);
  int rc;
  o->started = true;
  o->work.data = o;
  rc = uv_queue_work(weft__io_loop(op->io), &o->work, work_run, work_after);
  if (rc) {
    weft__io_finish(op, weft__uv_error(rc));
    weft__io_op_unref(op);
  }
}

static void work_cancel(weft__io_op *op, int result) {
  struct work_op *o = container_of(op, struct work_op, op);
  if (uv_cancel((uv_req_t *)&o->work) != 0) /* running: let it run, drop its result */
    weft__io_finish(op, result);
}

static const weft__io_op_kind work_kind = {
    .size = sizeof(struct work_op),
    .start = work_start,
    .cancel = work_cancel,
};
WEFT__IO_OP_FIRST(struct work_op);

int weft_offload(void *(*fn)(void *), void *arg, void **result) {
  return weft_offload_ex(fn, arg, result, NULL);
}

int weft_offload_ex(void *(*fn)(void *), void *arg, void **result,
                    void (*orphan)(void *arg, void *result, int ran)) {
  weft_task *t;
  struct work_op *o;
  int rc;

  if (!fn)
    return WEFT_EINVAL;
  if (!(t = weft__blocking_enter()))
    return WEFT_EPERM;
  if (weft__cancel_pending(t)) {
    if (orphan)
      orphan(arg, NULL, 0);
    return WEFT_ECANCELED;
  }
  if (!(o = (struct work_op *)weft__io_op_new(&work_kind)))
    return WEFT_ENOMEM;
  o->fn = fn;
  o->arg = arg;
  o->orphan = orphan;
  weft__wait_note(weft_self(), "offloaded work", 0, -1);
  rc = weft__io_wait(&o->op, -1, true);
  if (rc == 0 && result)
    *result = o->result;
  /* Cancelled before it parked (a cancel from another thread since the
   * check above): the job was never queued, and the I/O thread never saw
   * it. Otherwise the wakeup came from the I/O thread after work_start,
   * which orders `started` before this read, and work_after calls orphan. */
  if (rc == WEFT_ECANCELED && !o->started && orphan)
    orphan(arg, NULL, 0);
  weft__io_op_unref(&o->op);
  return rc;
}
