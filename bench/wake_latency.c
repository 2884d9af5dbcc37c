/*
 * wake_latency.c - how long a parked task waits between the event that
 * wakes it and the moment it runs, in two parts:
 *
 *  - chan: a receiver task parked on an unbuffered channel; a sender task
 *    reads CLOCK_MONOTONIC, puts the time in the message and sends it.
 *    The receiver reads the clock as soon as weft_chan_recv returns. The
 *    sender sends again once the receiver has handled the message and
 *    GAP_NS has passed. With two or more workers it spins meanwhile, so
 *    that its worker stays busy and the receiver can only run on another
 *    one: the figure is a cross-worker wake (an idle worker is woken and
 *    takes the receiver from the sender's worker's runnext slot once the
 *    grace period has passed, sched.c's protocol "runnext"). There is no
 *    pinning, so the message carries the sender's thread, and only those
 *    received on another thread count; the program fails when fewer than
 *    a tenth do. With one worker there is no other worker: the sender
 *    waits with weft_yield, and the figure is the send plus the switch to
 *    the receiver on the same worker.
 *
 *  - sock: a task parked in weft_recv on a loopback TCP connection; the
 *    other end belongs to a child process, outside the runtime, that every
 *    GAP_NS reads the clock and writes the time (8 bytes). The reader
 *    reads the clock when weft_recv returns. The runtime is idle between
 *    messages, so the figure is the whole way from the write to the task
 *    running: the I/O thread's poll, the hand-over to a worker, waking
 *    that worker and switching to the task.
 *
 * Each part records WARMUP messages it does not count, then N (-n), and
 * reports the 50th and 99th percentiles (nearest rank) in microseconds.
 *
 * Usage: wake_latency [-w WORKERS] [-n SAMPLES]
 * Prints four lines on stdout:
 *   RESULT wake_chan_p50 <us> us
 *   RESULT wake_chan_p99 <us> us
 *   RESULT wake_sock_p50 <us> us
 *   RESULT wake_sock_p99 <us> us
 * Its twin is bench/peers/go/wake_latency/main.go.
 */
#define _GNU_SOURCE /* syscall */
#define BENCH_NAME "wake_latency"

#include "bench.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* From one message to the next: long enough for the woken task to park
 * again and for the idle workers to go to sleep. */
#define GAP_NS 200000
/* Messages at the start of each part that are not counted. */
#define WARMUP 100
/* How long the socket part waits for its writer, in ms. */
#define IO_TIMEOUT_MS 10000

/* What the channel carries: when it was sent, and from which thread. */
struct stamp {
  int64_t ns;       /* CLOCK_MONOTONIC right before weft_chan_send */
  long thread;      /* the sender's worker thread (thread_id) */
};

/* The delays one part measured. */
struct samples {
  double *us;            /* the delays counted, in microseconds */
  unsigned long kept;    /* how many */
  unsigned long dropped; /* chan: received on the sender's own thread */
};

/* What the channel part's two tasks share. */
struct chan_part {
  weft_chan *c;          /* sender to receiver, unbuffered */
  unsigned long count;   /* messages to count, after WARMUP */
  bool one_worker;       /* no other worker: the sender yields while it waits */
  atomic_ulong received; /* messages the receiver has handled; any thread */
  struct samples result; /* the receiver's */
};

/* The kernel's id of the calling thread. Not pthread_self(): glibc
 * declares it const, so the compiler may keep its first result in a loop
 * after the task has moved to another thread (a sender that started on
 * one worker and then ran on the other stamped every message with the
 * first, and the receiver's messages all looked local). */
static long thread_id(void) {
  return syscall(SYS_gettid);
}

/* The monotonic clock in nanoseconds. Any thread. */
static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Room for n delays, or die. */
static void samples_init(struct samples *s, unsigned long n) {
  s->us = malloc(n * sizeof *s->us);
  if (!s->us)
    bench_die("malloc", WEFT_ENOMEM);
  s->kept = 0;
  s->dropped = 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Sort the kept delays. */
static void samples_sort(struct samples *s) {
  qsort(s->us, s->kept, sizeof *s->us, cmp_double);
}

/* The p-th percentile (nearest rank: the smallest delay with p% of them
 * at or below it) of the sorted delays, of which there is one at least. */
static double percentile(const struct samples *s, unsigned long p) {
  unsigned long rank = (p * s->kept + 99) / 100;
  return s->us[rank > 0 ? rank - 1 : 0];
}

/* Wait until the receiver has handled n messages and the clock reads
 * deadline: spinning, so that the worker stays busy, or with one worker
 * yielding, so that the receiver can run. Inside a task. */
static void wait_for(struct chan_part *p, unsigned long n, int64_t deadline) {
  /* Acquire; pairs with the release in receiver(). */
  while (atomic_load_explicit(&p->received, memory_order_acquire) < n || mono_ns() < deadline)
    if (p->one_worker)
      weft_yield();
}

/* Send WARMUP + count stamps, each once the receiver has handled the one
 * before and GAP_NS after it. Inside a task. */
static void *sender(void *arg) {
  struct chan_part *p = arg;
  for (unsigned long i = 0; i < WARMUP + p->count; i++) {
    struct stamp s = {.thread = thread_id()};
    s.ns = mono_ns();
    int err = weft_chan_send(p->c, &s, -1);
    if (err < 0)
      bench_die("weft_chan_send", err);
    wait_for(p, i + 1, s.ns + GAP_NS);
  }
  return NULL;
}

/* Count the delay of stamp s, received at now on the calling thread:
 * with one worker always, else when the sender was on another thread. */
static void chan_record(struct chan_part *p, const struct stamp *s, int64_t now) {
  struct samples *r = &p->result;
  if (!p->one_worker && s->thread == thread_id())
    r->dropped++;
  else
    r->us[r->kept++] = (double)(now - s->ns) / 1e3;
}

/* Receive every stamp and count those after the warm-up. Inside a task. */
static void *receiver(void *arg) {
  struct chan_part *p = arg;
  for (unsigned long i = 0; i < WARMUP + p->count; i++) {
    struct stamp s;
    int err = weft_chan_recv(p->c, &s, -1);
    int64_t now = mono_ns();
    if (err < 0)
      bench_die("weft_chan_recv", err);
    if (i >= WARMUP)
      chan_record(p, &s, now);
    /* Release; pairs with the acquire in wait_for(). */
    atomic_store_explicit(&p->received, i + 1, memory_order_release);
  }
  return NULL;
}

/* The channel part. Inside a task. */
static void chan_part(struct chan_part *p) {
  weft_task *recv_task, *send_task;
  int err = weft_chan_new(&p->c, sizeof(struct stamp), 0);
  if (err < 0)
    bench_die("weft_chan_new", err);
  bench_spawn(&recv_task, receiver, p);
  bench_spawn(&send_task, sender, p);
  bench_join(send_task);
  bench_join(recv_task);
  err = weft_chan_free(p->c);
  if (err < 0)
    bench_die("weft_chan_free", err);
}

/* ---- the socket part ---- */

/* What the socket part needs. */
struct sock_part {
  int port_fd;             /* the pipe to the writer: the port goes there */
  unsigned long count;     /* messages to count, after WARMUP */
  unsigned long coalesced; /* messages that arrived with an earlier one */
  struct samples result;
};

/* Listen on 127.0.0.1, tell the writer the port and accept its
 * connection. Inside a task. */
static weft_sock *accept_writer(int port_fd) {
  weft_sock *l, *s;
  int err = weft_tcp_listen(&l, "127.0.0.1", "0", 1);
  if (err < 0)
    bench_die("weft_tcp_listen", err);
  int port = weft_sock_port(l);
  if (write(port_fd, &port, sizeof port) != (ssize_t)sizeof port)
    bench_die("write to the writer", -errno);
  err = weft_tcp_accept(l, &s, weft_now() + IO_TIMEOUT_MS);
  if (err < 0)
    bench_die("weft_tcp_accept", err);
  weft_sock_close(l);
  return s;
}

/* Count the delay of one stamp that arrived at now, after the warm-up. */
static void sock_record(struct sock_part *p, unsigned long i, int64_t stamp, int64_t now) {
  if (i >= WARMUP && i - WARMUP < p->count)
    p->result.us[p->result.kept++] = (double)(now - stamp) / 1e3;
}

/* Read the writer's stamps until it closes; a read that brings more than
 * one counts the later ones as coalesced. Inside a task. */
static void read_stamps(struct sock_part *p, weft_sock *s) {
  unsigned char buf[4096];
  size_t have = 0;
  unsigned long i = 0;
  for (;;) {
    ssize_t n = weft_recv(s, buf + have, sizeof buf - have, weft_now() + IO_TIMEOUT_MS);
    int64_t now = mono_ns();
    if (n < 0)
      bench_die("weft_recv", (int)n);
    if (n == 0)
      break;
    have += (size_t)n;
    size_t off = 0;
    for (; have - off >= sizeof(int64_t); off += sizeof(int64_t), i++) {
      int64_t stamp;
      memcpy(&stamp, buf + off, sizeof stamp);
      p->coalesced += off > 0;
      sock_record(p, i, stamp, now);
    }
    memmove(buf, buf + off, have - off);
    have -= off;
  }
  if (i != WARMUP + p->count) {
    fprintf(stderr, "wake_latency: %lu stamps from the writer, want %lu\n", i, WARMUP + p->count);
    exit(1);
  }
}

/* The socket part. Inside a task. */
static void sock_part(struct sock_part *p) {
  weft_sock *s = accept_writer(p->port_fd);
  read_stamps(p, s);
  weft_sock_close(s);
}

/* ---- the writer, a child process ---- */

/* Connect to 127.0.0.1:port with TCP_NODELAY; -1 on failure. */
static int writer_connect(int port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
    return -1;
  return fd;
}

/* The child: wait for the port, connect, and write n stamps GAP_NS apart. */
static _Noreturn void writer(int port_fd, unsigned long n) {
  struct timespec gap = {0, GAP_NS};
  int port, fd;
  if (read(port_fd, &port, sizeof port) != (ssize_t)sizeof port || (fd = writer_connect(port)) < 0)
    _exit(1);
  for (unsigned long i = 0; i < n; i++) {
    nanosleep(&gap, NULL);
    int64_t stamp = mono_ns();
    if (write(fd, &stamp, sizeof stamp) != (ssize_t)sizeof stamp)
      _exit(1);
  }
  close(fd);
  _exit(0);
}

/* Start the writer process before the runtime's threads exist; returns
 * its pid and the pipe's end for the port in *port_fd. */
static pid_t start_writer(unsigned long n, int *port_fd) {
  int p[2];
  if (pipe(p) < 0)
    bench_die("pipe", -errno);
  pid_t pid = fork();
  if (pid < 0)
    bench_die("fork", -errno);
  if (pid == 0) {
    close(p[1]);
    writer(p[0], n);
  }
  close(p[0]);
  *port_fd = p[1];
  return pid;
}

/* ---- main ---- */

/* Both parts. */
struct wake_run {
  struct bench_opts opts;
  struct chan_part chan;
  struct sock_part sock;
};

/* The main task: the channel part, then the socket part. */
static int bench(void *arg) {
  struct wake_run *run = arg;
  chan_part(&run->chan);
  sock_part(&run->sock);
  return 0;
}

/* Print a part's two percentiles as RESULT lines. */
static void report(const char *part, const struct samples *s) {
  char name[32];
  snprintf(name, sizeof name, "wake_%s_p50", part);
  bench_result(name, percentile(s, 50), "us");
  snprintf(name, sizeof name, "wake_%s_p99", part);
  bench_result(name, percentile(s, 99), "us");
}

/* The command line: -n is the number of messages each part counts. */
static const struct bench_cli cli = {"w:n:", "[-w WORKERS] [-n SAMPLES]", 10000000};

int main(int argc, char **argv) {
  struct wake_run run = {.opts = {.count = 2000}};
  int status;

  bench_parse_args(argc, argv, &cli, &run.opts);
  unsigned long n = run.opts.count;
  run.chan.count = n;
  run.chan.one_worker = run.opts.workers == 1;
  atomic_init(&run.chan.received, 0);
  run.sock.count = n;
  samples_init(&run.chan.result, n);
  samples_init(&run.sock.result, n);
  pid_t pid = start_writer(WARMUP + n, &run.sock.port_fd);
  /* The sender holds its worker on purpose; unless told otherwise, the
   * runtime need not warn about it. */
  setenv("WEFT_WARN_BLOCKING_MS", "0", 0);

  bench_main(run.opts.workers, bench, &run);
  close(run.sock.port_fd);
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "wake_latency: the writer process failed\n");
    return 1;
  }

  struct samples *c = &run.chan.result, *k = &run.sock.result;
  samples_sort(c);
  samples_sort(k);
  fprintf(stderr,
          "wake_latency: %lu workers; chan: %lu counted, %lu on the sender's thread"
          "; sock: %lu counted (fastest %.2f us), %lu arrived with an earlier one\n",
          run.opts.workers, c->kept, c->dropped, k->kept, k->us[0], run.sock.coalesced);
  if (c->kept == 0 || c->kept < n / 10) {
    fprintf(stderr, "wake_latency: fewer than a tenth of the messages crossed workers\n");
    return 1;
  }
  report("chan", c);
  report("sock", k);
  return 0;
}
