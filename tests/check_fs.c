/*
 * check_fs.c - files through libuv's thread pool (missing file, a 10 MiB
 * file read whole, offsets, cancellation of a read in progress) and
 * weft_offload (result, cancellation, errors).
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void make_dir(void) {
  strcpy(dir, "/tmp/weft-fs-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void path_in(char *out, size_t n, const char *name) {
  snprintf(out, n, "%s/%s", dir, name);
}

#define TEN_MIB (10 << 20)

static unsigned char pattern(size_t i) {
  return (unsigned char)(i * 131 + (i >> 13));
}

static int files_body(void *arg) {
  char path[128], *buf;
  size_t len;
  unsigned char *chunk = malloc(1 << 20);
  int fd;
  (void)arg;

  path_in(path, sizeof path, "missing");
  ck_assert_int_eq(weft_file_open(path, O_RDONLY, 0, -1), WEFT_ENOENT);
  ck_assert_int_eq(weft_file_read_all(path, &buf, &len), WEFT_ENOENT);
  ck_assert_ptr_null(buf);

  /* write 10 MiB in 1 MiB chunks at explicit offsets, read it back whole */
  path_in(path, sizeof path, "ten");
  fd = weft_file_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600, -1);
  ck_assert_int_ge(fd, 0);
  for (size_t off = 0; off < TEN_MIB; off += 1 << 20) {
    for (size_t i = 0; i < (1 << 20); i++)
      chunk[i] = pattern(off + i);
    ck_assert_int_eq(weft_file_write(fd, chunk, 1 << 20, (int64_t)off, -1), 1 << 20);
  }
  ck_assert_int_eq(weft_file_close(fd), 0);
  ck_assert_int_eq(weft_file_read_all(path, &buf, &len), 0);
  ck_assert_int_eq(len, TEN_MIB);
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)buf[i] != pattern(i))
      ck_abort_msg("byte %zu differs", i);
  ck_assert_int_eq(buf[len], 0);
  free(buf);

  /* a read at an offset, and at the file position */
  fd = weft_file_open(path, O_RDONLY, 0, -1);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(weft_file_read(fd, chunk, 16, 12345, -1), 16);
  ck_assert_int_eq(chunk[0], pattern(12345));
  ck_assert_int_eq(weft_file_read(fd, chunk, 16, -1, -1), 16);
  ck_assert_int_eq(chunk[0], pattern(0));
  ck_assert_int_eq(weft_file_read(fd, chunk, 16, TEN_MIB, -1), 0); /* end of file */
  ck_assert_int_eq(weft_file_read(fd, chunk, 16, 0, 0), WEFT_ETIMEDOUT);
  ck_assert_int_eq(weft_file_close(fd), 0);
  ck_assert_int_eq(weft_file_read(-1, chunk, 16, 0, -1), WEFT_EBADF);
  ck_assert_int_eq(weft_file_read_all(NULL, &buf, &len), WEFT_EINVAL);
  unlink(path);
  free(chunk);
  return 0;
}

START_TEST(test_fs_missing_and_ten_mib_file) {
  make_dir();
  ck_assert_int_eq(run_in_task(2, files_body, NULL), 0);
  rmdir(dir);
}
END_TEST

/* A read from a FIFO nobody writes blocks its pool thread: cancelling it
 * must wait for the job (it may write into the buffer), then report
 * WEFT_ECANCELED. */
static void *fifo_reader(void *arg) {
  char buf[8];
  int fd = (int)(intptr_t)arg;
  return (void *)(intptr_t)weft_file_read(fd, buf, sizeof buf, -1, -1);
}

static int cancel_body(void *arg) {
  char path[128];
  weft_task *t;
  void *r;
  int fd;
  (void)arg;
  path_in(path, sizeof path, "fifo");
  ck_assert_int_eq(mkfifo(path, 0600), 0);
  fd = weft_file_open(path, O_RDWR, 0, -1); /* RDWR: the open does not wait */
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(weft_spawn(&t, fifo_reader, (void *)(intptr_t)fd), 0);
  ck_assert_int_eq(weft_sleep(50), 0);
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_sleep(50), 0);
  ck_assert_int_eq(write(fd, "x", 1), 1); /* lets the pool thread's read finish */
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
  ck_assert_int_eq(weft_file_close(fd), 0);
  unlink(path);
  return 0;
}

START_TEST(test_fs_cancel_during_read) {
  make_dir();
  ck_assert_int_eq(run_in_task(2, cancel_body, NULL), 0);
  rmdir(dir);
}
END_TEST

/* ---- offload ---- */

static void *square(void *arg) {
  long v = (long)(intptr_t)arg;
  return (void *)(intptr_t)(v * v);
}

static int release_fd[2];

static void *block_until_released(void *arg) {
  char c;
  (void)arg;
  if (read(release_fd[0], &c, 1) != 1)
    return NULL;
  return (void *)(intptr_t)99;
}

static void *offload_and_report(void *arg) {
  void *r = NULL;
  (void)arg;
  return (void *)(intptr_t)weft_offload(block_until_released, NULL, &r);
}

static int offload_body(void *arg) {
  weft_task *t;
  void *r;
  (void)arg;
  ck_assert_int_eq(weft_offload(square, (void *)(intptr_t)12, &r), 0);
  ck_assert_int_eq((long)(intptr_t)r, 144);
  ck_assert_int_eq(weft_offload(square, NULL, NULL), 0);
  ck_assert_int_eq(weft_offload(NULL, NULL, &r), WEFT_EINVAL);
  /* cancelled while the job runs: the task returns at once */
  ck_assert_int_eq(pipe(release_fd), 0);
  ck_assert_int_eq(weft_spawn(&t, offload_and_report, NULL), 0);
  ck_assert_int_eq(weft_sleep(50), 0);
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
  ck_assert_int_eq(write(release_fd[1], "x", 1), 1); /* the job ends; its result is dropped */
  ck_assert_int_eq(weft_sleep(50), 0);
  return 0;
}

/* weft_offload_ex: the orphan callback says when a job the caller gave
 * up on is over, exactly once, and only for a WEFT_ECANCELED call. Each
 * job says it started on a pipe and blocks until released on another, so
 * the order is by construction. */
struct orphan_job {
  int started[2], release[2], orphaned[2];
  atomic_int calls, ran;
  void *result;
};

static void *orphan_job_run(void *arg) {
  struct orphan_job *j = arg;
  char c;
  if (write(j->started[1], "s", 1) != 1 || read(j->release[0], &c, 1) != 1)
    return NULL;
  return (void *)(intptr_t)77;
}

static void orphan_cb(void *arg, void *result, int ran) {
  struct orphan_job *j = arg;
  j->result = result;
  atomic_store(&j->ran, ran);
  atomic_fetch_add(&j->calls, 1);
  if (write(j->orphaned[1], "o", 1) != 1)
    abort();
}

static void *offload_ex_task(void *arg) {
  void *r = NULL;
  return (void *)(intptr_t)weft_offload_ex(orphan_job_run, arg, &r, orphan_cb);
}

static void read_byte(int fd) {
  char c;
  ck_assert_int_eq(weft_fd_wait(fd, WEFT_READABLE, weft_now() + 30000), WEFT_READABLE);
  ck_assert_int_eq(read(fd, &c, 1), 1);
}

static void orphan_job_init(struct orphan_job *j) {
  memset(j, 0, sizeof *j);
  ck_assert_int_eq(pipe(j->started), 0);
  ck_assert_int_eq(pipe(j->release), 0);
  ck_assert_int_eq(pipe(j->orphaned), 0);
}

static void orphan_job_free(struct orphan_job *j) {
  for (int i = 0; i < 2; i++) {
    close(j->started[i]);
    close(j->release[i]);
    close(j->orphaned[i]);
  }
}

static int offload_ex_body(void *arg) {
  struct orphan_job j, queued, *busy;
  weft_task *t;
  void *r;
  const char *env = getenv("UV_THREADPOOL_SIZE");
  int pool = env && atoi(env) > 0 ? atoi(env) : 4;
  (void)arg;

  /* Not cancelled: the result comes back and orphan is never called. */
  orphan_job_init(&j);
  ck_assert_int_eq(write(j.release[1], "r", 1), 1);
  ck_assert_int_eq(weft_offload_ex(orphan_job_run, &j, &r, orphan_cb), 0);
  ck_assert_int_eq((int)(intptr_t)r, 77);
  ck_assert_int_eq(atomic_load(&j.calls), 0);
  orphan_job_free(&j);

  /* Cancelled while fn runs: WEFT_ECANCELED at once, orphan only once fn
   * has returned, with its result. */
  orphan_job_init(&j);
  ck_assert_int_eq(weft_spawn(&t, offload_ex_task, &j), 0);
  read_byte(j.started[0]);
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
  ck_assert_int_eq(atomic_load(&j.calls), 0); /* fn still blocked */
  ck_assert_int_eq(write(j.release[1], "r", 1), 1);
  read_byte(j.orphaned[0]);
  ck_assert_int_eq(atomic_load(&j.calls), 1);
  ck_assert_int_eq(atomic_load(&j.ran), 1);
  ck_assert_int_eq((int)(intptr_t)j.result, 77);
  orphan_job_free(&j);

  /* Cancelled while queued behind a full pool: fn never runs. */
  busy = calloc((size_t)pool, sizeof *busy);
  ck_assert_ptr_nonnull(busy);
  weft_task **holders = calloc((size_t)pool, sizeof *holders);
  ck_assert_ptr_nonnull(holders);
  for (int i = 0; i < pool; i++) {
    orphan_job_init(&busy[i]);
    ck_assert_int_eq(weft_spawn(&holders[i], offload_ex_task, &busy[i]), 0);
    read_byte(busy[i].started[0]);
  }
  orphan_job_init(&queued);
  ck_assert_int_eq(weft_spawn(&t, offload_ex_task, &queued), 0);
  ck_assert(wait_parked(t, weft_now() + 30000)); /* its job is queued: the pool is full */
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
  read_byte(queued.orphaned[0]);
  ck_assert_int_eq(atomic_load(&queued.ran), 0);
  ck_assert_ptr_null(queued.result);
  for (int i = 0; i < pool; i++) {
    ck_assert_int_eq(write(busy[i].release[1], "r", 1), 1);
    ck_assert_int_eq(weft_join(holders[i], &r), 0);
    ck_assert_int_eq((int)(intptr_t)r, 0);
    ck_assert_int_eq(atomic_load(&busy[i].calls), 0);
    orphan_job_free(&busy[i]);
  }
  orphan_job_free(&queued);
  free(busy);
  free(holders);
  return 0;
}

static void *cancelled_then_offload(void *arg) {
  while (!weft_canceled())
    weft_yield();
  return offload_ex_task(arg);
}

static int offload_ex_cancelled_body(void *arg) {
  struct orphan_job j;
  weft_task *t;
  void *r;
  (void)arg;
  /* Already cancelled: orphan(arg, NULL, 0) before the call returns. */
  orphan_job_init(&j);
  ck_assert_int_eq(weft_spawn(&t, cancelled_then_offload, &j), 0);
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
  ck_assert_int_eq(atomic_load(&j.calls), 1);
  ck_assert_int_eq(atomic_load(&j.ran), 0);
  orphan_job_free(&j);
  return 0;
}

START_TEST(test_fs_offload_ex_orphan_called_once_when_the_job_is_over) {
  ck_assert_int_eq(run_in_task(2, offload_ex_body, NULL), 0);
  ck_assert_int_eq(run_in_task(2, offload_ex_cancelled_body, NULL), 0);
}
END_TEST

START_TEST(test_fs_offload) {
  void *r;
  ck_assert_int_eq(weft_offload(square, NULL, &r), WEFT_EPERM);
  ck_assert_int_eq(weft_file_open("/etc/hostname", O_RDONLY, 0, -1), WEFT_EPERM);
  ck_assert_int_eq(run_in_task(2, offload_body, NULL), 0);
}
END_TEST

static Suite *fs_suite(void) {
  Suite *s = suite_create("fs");
  TCase *core = tcase_create("core");
  tcase_add_test(core, test_fs_missing_and_ten_mib_file);
  tcase_add_test(core, test_fs_cancel_during_read);
  tcase_add_test(core, test_fs_offload);
  tcase_add_test(core, test_fs_offload_ex_orphan_called_once_when_the_job_is_over);
  tcase_set_timeout(core, 120);
  suite_add_tcase(s, core);
  return s;
}

WEFT_TEST_MAIN(fs_suite)
