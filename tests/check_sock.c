/*
 * check_sock.c - TCP on loopback through the I/O thread: echo with many
 * clients, large payloads through partial reads and writes, IPv6, name
 * resolution, refused and reset connections, deadlines, cancellation,
 * SIGPIPE, weft_fd_wait, shutdown with tasks blocked in recv, bad input.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#define SECONDS(n) (weft_now() + (n)*1000)

/* ---- an echo server as tasks ---- */

struct server {
  weft_sock *listener;
  char port[16];
  weft_task *acceptor;
  atomic_int conns;
};

static void *echo_conn(void *arg) {
  weft_sock *c = arg;
  char buf[16384];
  ssize_t n;
  while ((n = weft_recv(c, buf, sizeof buf, -1)) > 0)
    if (weft_send(c, buf, (size_t)n, -1) != 0)
      break;
  weft_sock_close(c);
  return NULL;
}

static void *acceptor(void *arg) {
  struct server *sv = arg;
  weft_sock *c;
  while (weft_tcp_accept(sv->listener, &c, -1) == 0) {
    atomic_fetch_add(&sv->conns, 1);
    CHECK_HOT(weft_spawn(NULL, echo_conn, c) == 0);
  }
  return NULL;
}

static void server_start(struct server *sv, const char *host) {
  memset(sv, 0, sizeof *sv);
  ck_assert_int_eq(weft_tcp_listen(&sv->listener, host, "0", 1024), 0);
  snprintf(sv->port, sizeof sv->port, "%d", weft_sock_port(sv->listener));
  ck_assert_int_eq(weft_spawn(&sv->acceptor, acceptor, sv), 0);
}

static void server_stop(struct server *sv) {
  ck_assert_int_eq(weft_cancel(sv->acceptor), 0);
  ck_assert_int_eq(weft_join(sv->acceptor, NULL), 0);
  ck_assert_int_eq(weft_sock_close(sv->listener), 0);
}

/* ---- many clients ---- */

/* All the clients run at once, but at most CLIENT_SLOTS of them are between
 * connect and their first echo: a connection the server has not accepted
 * yet sits in the listen queue, and a full queue drops handshakes, which
 * the kernel then retries on its own schedule (seconds), not ours. With
 * this bound the queue (asked for 1024, and no kernel caps it below 128)
 * never fills, so no connect depends on a retry arriving in time. */
#define CLIENT_SLOTS 64

static struct server echo_sv;
static weft_sem *client_slots; /* CLIENT_SLOTS units; any task */
static atomic_int client_failures;

/* One echo round: send msg, read it back. True if it came back whole. */
static bool client_round(weft_sock *s, const char *msg, size_t len) {
  char back[64];
  size_t got = 0;
  ssize_t n;
  if (weft_send(s, msg, len, SECONDS(30)) != 0)
    return false;
  while (got < len && (n = weft_recv(s, back + got, len - got, SECONDS(30))) > 0)
    got += (size_t)n;
  return got == len && memcmp(msg, back, len) == 0;
}

static void *client(void *arg) {
  long id = (long)(intptr_t)arg;
  char msg[64];
  weft_sock *s;
  size_t len;
  bool ok;

  snprintf(msg, sizeof msg, "hello from client %ld", id);
  len = strlen(msg);
  CHECK_HOT(weft_sem_wait(client_slots, -1) == 0);
  ok = weft_tcp_connect(&s, "127.0.0.1", echo_sv.port, SECONDS(30)) == 0;
  if (ok) {
    ok = client_round(s, msg, len); /* proves the accept */
    CHECK_HOT(weft_sem_post(client_slots) == 0);
    for (int round = 1; round < 3 && ok; round++)
      ok = client_round(s, msg, len);
    weft_sock_close(s);
  } else {
    CHECK_HOT(weft_sem_post(client_slots) == 0);
  }
  if (!ok)
    atomic_fetch_add(&client_failures, 1);
  return NULL;
}

static int many_clients_body(void *arg) {
  long n = *(long *)arg;
  weft_task **t = calloc((size_t)n, sizeof *t);
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(weft_sem_new(&client_slots, CLIENT_SLOTS), 0);
  server_start(&echo_sv, "127.0.0.1");
  for (long i = 0; i < n; i++)
    CHECK_HOT(weft_spawn(&t[i], client, (void *)(intptr_t)i) == 0);
  for (long i = 0; i < n; i++)
    CHECK_HOT(weft_join(t[i], NULL) == 0);
  server_stop(&echo_sv);
  ck_assert_int_eq(atomic_load(&echo_sv.conns), n);
  ck_assert_int_eq(weft_sem_free(client_slots), 0);
  free(t);
  return 0;
}

START_TEST(test_sock_echo_with_1000_clients) {
  long n = scaled(1000);
  ck_assert_int_eq(run_in_task(2, many_clients_body, &n), 0);
  ck_assert_int_eq(atomic_load(&client_failures), 0);
}
END_TEST

/* ---- 1 MiB each way through partial reads and writes ---- */

#define BIG (1 << 20)

static void *big_sender(void *arg) {
  weft_sock *s = arg;
  unsigned char *buf = malloc(BIG);
  for (int i = 0; i < BIG; i++)
    buf[i] = (unsigned char)(i * 7 + i / 251);
  int rc = weft_send(s, buf, BIG, SECONDS(60));
  free(buf);
  return (void *)(intptr_t)rc;
}

static int big_body(void *arg) {
  struct server sv;
  weft_sock *s;
  weft_task *sender;
  unsigned char *back = malloc(BIG);
  size_t got = 0;
  ssize_t n;
  void *r;
  int reads = 0, bufsize = 32 * 1024;
  (void)arg;

  server_start(&sv, "127.0.0.1");
  ck_assert_int_eq(weft_tcp_connect(&s, "127.0.0.1", sv.port, SECONDS(10)), 0);
  /* Small fixed buffers (the kernel doubles them, and stops tuning them),
   * so that 1 MiB is far more than they hold whatever the system's
   * defaults: both sides see partial transfers and wait for the I/O thread
   * in between. */
  ck_assert_int_eq(setsockopt(weft_sock_fd(s), SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize), 0);
  ck_assert_int_eq(setsockopt(weft_sock_fd(s), SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize), 0);
  ck_assert_int_eq(weft_spawn(&sender, big_sender, s), 0);
  while (got < BIG && (n = weft_recv(s, back + got, BIG - got, SECONDS(60))) > 0) {
    got += (size_t)n;
    reads++;
  }
  ck_assert_int_eq(weft_join(sender, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, 0);
  ck_assert_int_eq(got, BIG);
  ck_assert_int_gt(reads, 1);
  for (int i = 0; i < BIG; i++)
    if (back[i] != (unsigned char)(i * 7 + i / 251))
      ck_abort_msg("byte %d differs", i);
  ck_assert_int_eq(weft_sock_close(s), 0);
  server_stop(&sv);
  free(back);
  return 0;
}

START_TEST(test_sock_one_mib_payload) {
  ck_assert_int_eq(run_in_task(2, big_body, NULL), 0);
}
END_TEST

/* ---- addresses and names ---- */

static int names_body(void *arg) {
  struct server v4, v6;
  weft_sock *s;
  struct addrinfo *ai;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char buf[8];
  (void)arg;

  server_start(&v4, "127.0.0.1");
  /* localhost goes through libuv's resolver */
  ck_assert_int_eq(weft_getaddrinfo("localhost", v4.port, &ai), 0);
  ck_assert_ptr_nonnull(ai);
  weft_freeaddrinfo(ai);
  ck_assert_int_eq(weft_tcp_connect(&s, "localhost", v4.port, SECONDS(10)), 0);
  ck_assert_int_eq(weft_sock_peer_addr(s, (struct sockaddr *)&ss, &len), 0);
  ck_assert_int_eq(ss.ss_family, AF_INET);
  ck_assert_int_eq(weft_send(s, "ping", 4, SECONDS(10)), 0);
  ck_assert_int_eq(weft_recv(s, buf, 4, SECONDS(10)), 4);
  ck_assert_int_eq(weft_sock_close(s), 0);
  server_stop(&v4);

  server_start(&v6, "::1");
  ck_assert_int_eq(weft_tcp_connect(&s, "::1", v6.port, SECONDS(10)), 0);
  len = sizeof ss;
  ck_assert_int_eq(weft_sock_local_addr(s, (struct sockaddr *)&ss, &len), 0);
  ck_assert_int_eq(ss.ss_family, AF_INET6);
  ck_assert_int_eq(weft_send(s, "ping", 4, SECONDS(10)), 0);
  ck_assert_int_eq(weft_recv(s, buf, 4, SECONDS(10)), 4);
  ck_assert_int_eq(weft_sock_close(s), 0);
  server_stop(&v6);

  ck_assert_int_eq(weft_tcp_connect(&s, "no-such-host.invalid", "80", SECONDS(10)),
                   WEFT_EAI_NONAME);
  ck_assert_str_eq(weft_strerror(WEFT_EAI_NONAME), "host name not known");
  return 0;
}

START_TEST(test_sock_ipv6_localhost_and_unknown_host) {
  ck_assert_int_eq(run_in_task(2, names_body, NULL), 0);
}
END_TEST

/* ---- refused, reset, SIGPIPE ---- */

static int errors_body(void *arg) {
  weft_sock *l, *s, *c;
  char port[16], buf[16];
  struct linger lin = {1, 0};
  (void)arg;

  /* refused: a port held by a socket that is bound but not listening, so
   * nothing else (another test running meanwhile) can be listening there */
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sinlen = sizeof sin;
  int bound = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(bound, 0);
  ck_assert_int_eq(bind(bound, (struct sockaddr *)&sin, sizeof sin), 0);
  ck_assert_int_eq(getsockname(bound, (struct sockaddr *)&sin, &sinlen), 0);
  snprintf(port, sizeof port, "%d", ntohs(sin.sin_port));
  ck_assert_int_eq(weft_tcp_connect(&s, "127.0.0.1", port, SECONDS(10)), WEFT_ECONNREFUSED);
  close(bound);

  /* reset: the peer closes with SO_LINGER 0 */
  ck_assert_int_eq(weft_tcp_listen(&l, "127.0.0.1", "0", 8), 0);
  snprintf(port, sizeof port, "%d", weft_sock_port(l));
  ck_assert_int_eq(weft_tcp_connect(&s, "127.0.0.1", port, SECONDS(10)), 0);
  ck_assert_int_eq(weft_tcp_accept(l, &c, SECONDS(10)), 0);
  setsockopt(weft_sock_fd(c), SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
  ck_assert_int_eq(weft_sock_close(c), 0);
  ck_assert_int_eq(weft_recv(s, buf, sizeof buf, SECONDS(10)), WEFT_ECONNRESET);
  ck_assert_int_eq(weft_sock_close(s), 0);

  /* a send to a closed peer: an error, never SIGPIPE */
  ck_assert_int_eq(weft_tcp_connect(&s, "127.0.0.1", port, SECONDS(10)), 0);
  ck_assert_int_eq(weft_tcp_accept(l, &c, SECONDS(10)), 0);
  ck_assert_int_eq(weft_sock_close(c), 0);
  int rc = 0;
  static char chunk[65536];
  for (int i = 0; i < 100 && rc == 0; i++)
    rc = weft_send(s, chunk, sizeof chunk, SECONDS(10));
  ck_assert(rc == WEFT_EPIPE || rc == WEFT_ECONNRESET);
  ck_assert_int_eq(weft_sock_close(s), 0);
  ck_assert_int_eq(weft_sock_close(l), 0);
  return 0;
}

START_TEST(test_sock_refused_reset_and_no_sigpipe) {
  signal(SIGPIPE, SIG_DFL); /* the default action would kill the process */
  ck_assert_int_eq(run_in_task(2, errors_body, NULL), 0);
}
END_TEST

/* ---- deadlines ---- */

/* Connections held open in a listener's queue, which nobody accepts. */
#define FILL_MAX 64
struct queue_fill {
  weft_sock *conn[FILL_MAX];
  int n;
};

/* The listener's accept queue: how many connections wait in it, and
 * whether it is full. For a listener, Linux's TCP_INFO gives the queue's
 * length as tcpi_unacked and its limit (the backlog) as tcpi_sacked; the
 * queue is full once the length exceeds the limit, and from then on every
 * SYN is dropped, syncookies or not. */
static unsigned listen_queued(weft_sock *l, bool *full) {
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  ck_assert_int_eq(getsockopt(weft_sock_fd(l), IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
  *full = ti.tcpi_unacked > ti.tcpi_sacked;
  return ti.tcpi_unacked;
}

/* Connect to l, never accepting, until its accept queue is full, each
 * connection seen in the queue before the next (by construction, not by a
 * connect that happens to take long); then check that a connect times out.
 * How many connections that takes is the kernel's business; this counts
 * them rather than assuming. */
static void fill_listen_queue(weft_sock *l, const char *port, struct queue_fill *f) {
  weft_sock *s;
  int64_t t0;
  bool full;
  unsigned before = listen_queued(l, &full);
  for (f->n = 0; !full; f->n++) {
    ck_assert_msg(f->n < FILL_MAX, "%d connects did not fill a backlog of 1", FILL_MAX);
    ck_assert_int_eq(weft_tcp_connect(&s, "127.0.0.1", port, SECONDS(30)), 0);
    f->conn[f->n] = s;
    for (t0 = weft_now(); listen_queued(l, &full) == before; weft_sleep(1))
      ck_assert_msg(weft_now() < t0 + 30000, "a connection never reached the accept queue");
    before = listen_queued(l, &full);
  }
  t0 = weft_now();
  ck_assert_int_eq(weft_tcp_connect(&s, "127.0.0.1", port, t0 + 300), WEFT_ETIMEDOUT);
  ck_assert_int_ge(weft_now(), t0 + 300);
}

static void drain_listen_queue(struct queue_fill *f) {
  while (f->n > 0)
    ck_assert_int_eq(weft_sock_close(f->conn[--f->n]), 0);
}

static int deadline_body(void *arg) {
  weft_sock *l, *s, *c;
  char port[16], buf[4];
  struct queue_fill fill;
  int64_t t0;
  (void)arg;

  ck_assert_int_eq(weft_tcp_listen(&l, "127.0.0.1", "0", 1), 0);
  snprintf(port, sizeof port, "%d", weft_sock_port(l));
  /* accept with nobody connecting */
  t0 = weft_now();
  ck_assert_int_eq(weft_tcp_accept(l, &c, t0 + 50), WEFT_ETIMEDOUT);
  ck_assert_int_ge(weft_now(), t0 + 50);
  /* recv with nothing sent */
  ck_assert_int_eq(weft_tcp_connect(&s, "127.0.0.1", port, SECONDS(10)), 0);
  t0 = weft_now();
  ck_assert_int_eq(weft_recv(s, buf, sizeof buf, t0 + 50), WEFT_ETIMEDOUT);
  ck_assert_int_ge(weft_now(), t0 + 50);
  ck_assert_int_eq(weft_recv(s, buf, sizeof buf, 0), WEFT_ETIMEDOUT); /* 0: do not wait */
  ck_assert_int_eq(weft_sock_close(s), 0);
  /* connect to a listener whose queue is full: SYNs go unanswered, and the
   * connect that finds it so times out (fill_listen_queue checks it) */
  fill_listen_queue(l, port, &fill);
  drain_listen_queue(&fill);
  ck_assert_int_eq(weft_sock_close(l), 0);
  return 0;
}

START_TEST(test_sock_deadlines_on_accept_recv_connect) {
  ck_assert_int_eq(run_in_task(2, deadline_body, NULL), 0);
}
END_TEST

/* ---- cancellation ---- */

static void *blocked_recv(void *arg) {
  char buf[8];
  return (void *)(intptr_t)weft_recv(arg, buf, sizeof buf, -1);
}

static void *blocked_connect(void *arg) {
  weft_sock *s;
  return (void *)(intptr_t)weft_tcp_connect(&s, "127.0.0.1", arg, -1);
}

static int cancel_body(void *arg) {
  struct server sv;
  weft_sock *l, *s;
  weft_task *t;
  char port[16];
  struct queue_fill fill;
  void *r;
  (void)arg;

  server_start(&sv, "127.0.0.1");
  ck_assert_int_eq(weft_tcp_connect(&s, "127.0.0.1", sv.port, SECONDS(10)), 0);
  ck_assert_int_eq(weft_spawn(&t, blocked_recv, s), 0);
  ck_assert(wait_parked(t, SECONDS(60)));
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
  /* the socket still works after a cancelled wait on it */
  ck_assert_int_eq(weft_send(s, "abc", 3, SECONDS(10)), 0);
  char buf[3];
  ck_assert_int_eq(weft_recv(s, buf, 3, SECONDS(10)), 3);
  ck_assert_int_eq(weft_sock_close(s), 0);
  server_stop(&sv);

  /* cancel a connect stuck on a full listen queue */
  ck_assert_int_eq(weft_tcp_listen(&l, "127.0.0.1", "0", 1), 0);
  snprintf(port, sizeof port, "%d", weft_sock_port(l));
  fill_listen_queue(l, port, &fill);
  ck_assert_int_eq(weft_spawn(&t, blocked_connect, port), 0);
  ck_assert(wait_parked(t, SECONDS(60)));
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
  drain_listen_queue(&fill);
  ck_assert_int_eq(weft_sock_close(l), 0);
  return 0;
}

/* ---- closing a socket that tasks wait on ---- */

static void *blocked_send(void *arg) {
  static char big[1 << 16];
  int rc;
  while ((rc = weft_send(arg, big, sizeof big, -1)) == 0)
    ;
  return (void *)(intptr_t)rc;
}

/* A listener on a port the kernel picks, a client socket connected to it
 * (*a) and the server's end (*b). Task only. */
static void connected_pair(weft_sock **l, weft_sock **a, weft_sock **b) {
  char port[16];
  ck_assert_int_eq(weft_tcp_listen(l, "127.0.0.1", "0", 8), 0);
  snprintf(port, sizeof port, "%d", weft_sock_port(*l));
  ck_assert_int_eq(weft_tcp_connect(a, "127.0.0.1", port, SECONDS(10)), 0);
  ck_assert_int_eq(weft_tcp_accept(*l, b, SECONDS(10)), 0);
}

/* A reader and a writer parked in untimed waits on one socket (the
 * writer once the peer, which never reads, has let the buffers fill):
 * closing the socket wakes both with WEFT_EBADF, and the socket's memory
 * outlives them (AddressSanitizer would see it otherwise). */
static int close_wakes_body(void *arg) {
  weft_sock *l, *a, *b;
  weft_task *r, *w;
  void *res;
  (void)arg;
  connected_pair(&l, &a, &b);
  ck_assert_int_eq(weft_spawn(&r, blocked_recv, a), 0);
  ck_assert_int_eq(weft_spawn(&w, blocked_send, a), 0);
  ck_assert(wait_parked(r, SECONDS(60)));
  ck_assert(wait_parked(w, SECONDS(60)));
  ck_assert_int_eq(weft_sock_close(a), 0);
  ck_assert_int_eq(weft_join(r, &res), 0);
  ck_assert_int_eq((int)(intptr_t)res, WEFT_EBADF);
  ck_assert_int_eq(weft_join(w, &res), 0);
  ck_assert_int_eq((int)(intptr_t)res, WEFT_EBADF);
  ck_assert_int_eq(weft_sock_close(b), 0);
  ck_assert_int_eq(weft_sock_close(l), 0);
  return 0;
}

/* Many tasks parked in untimed receives on one socket, then as many
 * bytes in one send: every reader gets one. Readiness is edge-triggered
 * (netpoll.c), so a wakeup of one reader alone would leave the others
 * parked beside bytes already there, and the joins would never return. */
#define SHARED_READERS 64

static void *read_one_byte(void *arg) {
  char c;
  return (void *)(intptr_t)weft_recv(arg, &c, 1, -1);
}

static int many_readers_body(void *arg) {
  weft_sock *l, *a, *b;
  weft_task *r[SHARED_READERS];
  char bytes[SHARED_READERS];
  void *res;
  (void)arg;
  connected_pair(&l, &a, &b);
  for (int i = 0; i < SHARED_READERS; i++) {
    ck_assert_int_eq(weft_spawn(&r[i], read_one_byte, a), 0);
    ck_assert(wait_parked(r[i], SECONDS(60)));
  }
  memset(bytes, 'x', sizeof bytes);
  ck_assert_int_eq(weft_send(b, bytes, sizeof bytes, SECONDS(10)), 0);
  for (int i = 0; i < SHARED_READERS; i++) {
    ck_assert_int_eq(weft_join(r[i], &res), 0);
    ck_assert_int_eq((int)(intptr_t)res, 1);
  }
  ck_assert_int_eq(weft_sock_close(a), 0);
  ck_assert_int_eq(weft_sock_close(b), 0);
  ck_assert_int_eq(weft_sock_close(l), 0);
  return 0;
}

/* A runtime whose only socket of the set is readable with nobody waiting
 * on it sleeps. The parked worker that sleeps on the sockets' set ("park"
 * K5 by polling, sched.c) must read such an event even though no task
 * waits: left in the set it keeps the set readable, and the sleeper would
 * wake again at once, forever. CPU time measures it (a spin burns the
 * whole second), as test_sched_idle_runtime_uses_no_cpu does. */
static int unread_socket_body(void *arg) {
  weft_sock *l, *a, *b;
  weft_task *r;
  char bytes[100] = {0};
  void *res;
  double before, used, bound = idle_cpu_bound();
  (void)arg;
  connected_pair(&l, &a, &b);
  /* An untimed receive that parks: a joins the set. */
  ck_assert_int_eq(weft_spawn(&r, read_one_byte, a), 0);
  ck_assert(wait_parked(r, SECONDS(60)));
  ck_assert_int_eq(weft_send(b, bytes, 1, SECONDS(10)), 0);
  ck_assert_int_eq(weft_join(r, &res), 0);
  ck_assert_int_eq((int)(intptr_t)res, 1);
  /* Now bytes nobody reads: a's readiness event sits in the set. */
  ck_assert_int_eq(weft_send(b, bytes, sizeof bytes, SECONDS(10)), 0);
  before = cpu_seconds();
  ck_assert_int_eq(weft_sleep(1000), 0);
  used = cpu_seconds() - before;
  ck_assert_msg(used < bound, "the runtime used %.1f ms of CPU in 1 s asleep (bound %.0f ms)",
                used * 1e3, bound * 1e3);
  ck_assert_int_eq(weft_sock_close(a), 0);
  ck_assert_int_eq(weft_sock_close(b), 0);
  ck_assert_int_eq(weft_sock_close(l), 0);
  return 0;
}

START_TEST(test_sock_idle_with_an_unread_socket_uses_no_cpu) {
  ck_assert_int_eq(run_in_task(2, unread_socket_body, NULL), 0);
}
END_TEST

START_TEST(test_sock_many_readers_of_one_socket) {
  ck_assert_int_eq(run_in_task(2, many_readers_body, NULL), 0);
}
END_TEST

START_TEST(test_sock_close_wakes_tasks_waiting_on_it) {
  ck_assert_int_eq(run_in_task(2, close_wakes_body, NULL), 0);
}
END_TEST

START_TEST(test_sock_cancel_during_recv_and_connect) {
  ck_assert_int_eq(run_in_task(2, cancel_body, NULL), 0);
}
END_TEST

/* ---- cancelling a connect while its name is still being resolved ---- */

static int pool_block[2];
static atomic_int pool_blocked; /* pool threads inside block_pool_thread */

static void *block_pool_thread(void *arg) {
  char c;
  (void)arg;
  atomic_fetch_add(&pool_blocked, 1);
  if (read(pool_block[0], &c, 1) != 1)
    return NULL;
  return NULL;
}

static void *occupy_pool(void *arg) {
  (void)arg;
  return (void *)(intptr_t)weft_offload(block_pool_thread, NULL, NULL);
}

static void *connect_localhost(void *arg) {
  weft_sock *s;
  (void)arg;
  return (void *)(intptr_t)weft_tcp_connect(&s, "localhost", "9", -1);
}

static int resolve_cancel_body(void *arg) {
  weft_task *busy[4], *t;
  void *r;
  (void)arg;
  /* libuv's pool has 4 threads: with all of them blocked, the lookup of
   * "localhost" stays queued, and the connect is cancelled mid-resolution. */
  ck_assert_int_eq(pipe(pool_block), 0);
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(weft_spawn(&busy[i], occupy_pool, NULL), 0);
  for (int64_t end = SECONDS(60); atomic_load(&pool_blocked) < 4;)
    ck_assert(weft_now() < end && weft_sleep(1) == 0);
  ck_assert_int_eq(weft_spawn(&t, connect_localhost, NULL), 0);
  ck_assert(wait_parked(t, SECONDS(60)));
  ck_assert_int_eq(weft_cancel(t), 0);
  ck_assert_int_eq(weft_join(t, &r), 0);
  ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
  ck_assert_int_eq(write(pool_block[1], "xxxx", 4), 4);
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(weft_join(busy[i], &r), 0);
    ck_assert_int_eq((int)(intptr_t)r, 0);
  }
  return 0;
}

START_TEST(test_sock_cancel_connect_while_resolving) {
  setenv("UV_THREADPOOL_SIZE", "4", 1);
  ck_assert_int_eq(run_in_task(2, resolve_cancel_body, NULL), 0);
}
END_TEST

/* ---- out of file descriptors ---- */

static int emfile_body(void *arg) {
  weft_sock *l, *c[4], *acc;
  char port[16];
  int spare[64], nspare = 0, rc;
  (void)arg;
  ck_assert_int_eq(weft_tcp_listen(&l, "127.0.0.1", "0", 64), 0);
  snprintf(port, sizeof port, "%d", weft_sock_port(l));
  for (int i = 0; i < 4; i++) /* connect before the fds run out */
    ck_assert_int_eq(weft_tcp_connect(&c[i], "127.0.0.1", port, weft_now() + 10000), 0);
  while (nspare < 64 && (spare[nspare] = dup(0)) >= 0) /* use up every fd */
    nspare++;
  ck_assert_int_lt(nspare, 64);
  rc = weft_tcp_accept(l, &acc, weft_now() + 10000);
  ck_assert_int_eq(rc, WEFT_EMFILE);
  ck_assert_str_eq(weft_strerror(rc), "too many open files");
  while (nspare > 0) /* fds free up: the listener serves again */
    close(spare[--nspare]);
  ck_assert_int_eq(weft_tcp_accept(l, &acc, weft_now() + 10000), 0);
  ck_assert_int_eq(weft_send(c[0], "hi", 2, weft_now() + 10000), 0);
  char buf[2];
  ck_assert_int_eq(weft_recv(acc, buf, 2, weft_now() + 10000), 2);
  ck_assert_int_eq(weft_sock_close(acc), 0);
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(weft_sock_close(c[i]), 0);
  ck_assert_int_eq(weft_sock_close(l), 0);
  return 0;
}

START_TEST(test_sock_out_of_fds_then_serves_again) {
  /* A low limit, set before the runtime starts (the test runs forked). */
  struct rlimit rl = {64, 64};
  if (WEFT_ON_VALGRIND())
    return; /* Valgrind's own descriptors sit above any limit we could set */
  ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
  ck_assert_int_eq(run_in_task(1, emfile_body, NULL), 0);
}
END_TEST

/* ---- weft_fd_wait on a pipe ---- */

static void *pipe_writer(void *arg) {
  int fd = (int)(intptr_t)arg;
  weft_sleep(30);
  return (void *)(intptr_t)write(fd, "x", 1);
}

static int fdwait_body(void *arg) {
  int p[2];
  weft_task *t;
  char c;
  (void)arg;
  ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
  ck_assert_int_eq(weft_fd_wait(p[0], WEFT_READABLE, weft_now() + 20), WEFT_ETIMEDOUT);
  ck_assert_int_eq(weft_spawn(&t, pipe_writer, (void *)(intptr_t)p[1]), 0);
  ck_assert_int_eq(weft_fd_wait(p[0], WEFT_READABLE, SECONDS(10)) & WEFT_READABLE, WEFT_READABLE);
  ck_assert_int_eq(read(p[0], &c, 1), 1);
  ck_assert_int_eq(weft_join(t, NULL), 0);
  ck_assert_int_eq(weft_fd_wait(p[1], WEFT_WRITABLE, SECONDS(10)) & WEFT_WRITABLE, WEFT_WRITABLE);
  ck_assert_int_eq(weft_fd_wait(p[0], 0, -1), WEFT_EINVAL);
  ck_assert_int_eq(weft_fd_wait(-1, WEFT_READABLE, -1), WEFT_EBADF);
  close(p[0]);
  close(p[1]);
  return 0;
}

START_TEST(test_sock_fd_wait_on_a_pipe) {
  ck_assert_int_eq(run_in_task(2, fdwait_body, NULL), 0);
}
END_TEST

/* weft_fd_wait on a weft_sock's own fd, alongside a weft_recv on the
 * socket, in both orders: both are woken by one arrival (an fd with two
 * libuv polls would wake only one of them). */
static void *recv_one(void *arg) {
  char c;
  return (void *)(intptr_t)weft_recv(arg, &c, 1, SECONDS(60));
}

static void *fd_wait_readable(void *arg) {
  return (void *)(intptr_t)weft_fd_wait(weft_sock_fd(arg), WEFT_READABLE, SECONDS(60));
}

static void both_wake(weft_sock *s, void *(*first)(void *), void *(*second)(void *)) {
  weft_task *a, *b;
  void *ra, *rb;
  ck_assert_int_eq(weft_spawn(&a, first, s), 0);
  ck_assert(wait_parked(a, SECONDS(60))); /* a parks first */
  ck_assert_int_eq(weft_spawn(&b, second, s), 0);
  ck_assert(wait_parked(b, SECONDS(60)));
  ck_assert_int_eq(weft_send(s, "x", 1, SECONDS(30)), 0); /* the echo makes s readable */
  ck_assert_int_eq(weft_join(a, &ra), 0);
  ck_assert_int_eq(weft_join(b, &rb), 0);
  ck_assert_msg((intptr_t)ra == 1 || (intptr_t)ra == WEFT_READABLE, "first: %d (%s)",
                (int)(intptr_t)ra, weft_strerror((int)(intptr_t)ra));
  ck_assert_msg((intptr_t)rb == 1 || (intptr_t)rb == WEFT_READABLE, "second: %d (%s)",
                (int)(intptr_t)rb, weft_strerror((int)(intptr_t)rb));
}

static int fd_wait_sock_body(void *arg) {
  struct server sv;
  weft_sock *s;
  char c;
  (void)arg;
  server_start(&sv, "127.0.0.1");
  /* A fresh socket: the fd_wait's watch comes first, the socket adopts it. */
  ck_assert_int_eq(weft_tcp_connect(&s, "127.0.0.1", sv.port, SECONDS(10)), 0);
  both_wake(s, fd_wait_readable, recv_one);
  /* Now the socket has its watch, and the fd_wait joins it. */
  both_wake(s, recv_one, fd_wait_readable);
  ck_assert_int_eq(weft_recv(s, &c, 1, 0), WEFT_ETIMEDOUT); /* each byte read once */
  ck_assert_int_eq(weft_sock_close(s), 0);
  server_stop(&sv);
  return 0;
}

START_TEST(test_sock_fd_wait_on_a_sockets_own_fd_shares_its_watch) {
  ck_assert_int_eq(run_in_task(2, fd_wait_sock_body, NULL), 0);
}
END_TEST

/* ---- shutdown with tasks blocked in recv ---- */

/*
 * Thousands of holders each connect, prove the server accepted them, and
 * park in recv; the server's echo tasks park in recv too; then
 * weft_rt_free cancels them all and every socket must be closed.
 *
 * A connect that returns 0 proves nothing about accept: when the listen
 * queue is full the kernel drops the handshake's last ACK (or a syncookie
 * ACK), the client believes it is connected and the server never accepts
 * it. So a holder counts as ready only when the server has echoed its byte,
 * and an attempt not proved within its patience is abandoned and retried
 * with twice the patience. That makes the test correct whatever the kernel's
 * queue sizes and however slow the machine: no wait below has to be long
 * enough, each only has to end. The slots only keep the listen queue from
 * overflowing in the common case (fewer retries); correctness does not
 * rest on them.
 */

#define HOLDER_SLOTS 128          /* connects in flight at once */
#define HOLDER_PATIENCE_MS 5000   /* a first attempt's time to be echoed */
#define HOLDER_PATIENCE_MAX 60000 /* the doubling stops here */

struct holders {
  long n;                /* holders to start; set before the runtime */
  struct server sv;      /* written by start_holders before it spawns */
  weft_sem *slots;       /* HOLDER_SLOTS units; any task */
  atomic_long ready;     /* holders proved accepted; any task */
  atomic_long retries;   /* attempts abandoned; any task */
  atomic_int last_error; /* the last abandoned attempt's code; any task */
  int ready_pipe[2];     /* one byte when ready reaches n */
};

static struct holders hd;

/* Accept until cancelled, spawning an echo task per connection, then close
 * the listener (nothing else will: the test ends in weft_rt_free). */
static void *holders_acceptor(void *arg) {
  struct server *sv = arg;
  weft_sock *c;
  int rc;
  while ((rc = weft_tcp_accept(sv->listener, &c, -1)) != WEFT_ECANCELED)
    if (rc == 0)
      CHECK_HOT(weft_spawn(NULL, echo_conn, c) == 0);
  weft_sock_close(sv->listener);
  return NULL;
}

/* One attempt: connect and have one byte echoed, all before deadline.
 * Returns 0 with *out set, or the first error (nothing left open). */
static int holder_try(weft_sock **out, int64_t deadline) {
  weft_sock *s;
  char c;
  ssize_t n;
  int rc = weft_tcp_connect(&s, "127.0.0.1", hd.sv.port, deadline);
  if (rc != 0)
    return rc;
  rc = weft_send(s, "h", 1, deadline);
  if (rc == 0 && (n = weft_recv(s, &c, 1, deadline)) != 1)
    rc = n == 0 ? WEFT_ECONNRESET : (int)n;
  if (rc != 0) {
    weft_sock_close(s);
    return rc;
  }
  *out = s;
  return 0;
}

/* Connect until the server proves it accepted. Returns the socket, or NULL
 * when cancelled. */
static weft_sock *holder_connect(void) {
  int64_t patience = HOLDER_PATIENCE_MS, deadline;
  weft_sock *s = NULL;
  int rc;
  for (;;) {
    if (weft_sem_wait(hd.slots, -1) != 0)
      return NULL; /* cancelled */
    deadline = weft_now() + patience;
    rc = holder_try(&s, deadline);
    weft_sem_post(hd.slots);
    if (rc == 0)
      return s;
    if (rc == WEFT_ECANCELED)
      return NULL;
    atomic_fetch_add(&hd.retries, 1);
    atomic_store(&hd.last_error, rc);
    /* A fast failure (no port, no fd) waits out its patience before
     * retrying, so that it does not spin. */
    if (weft_sleep_until(deadline) != 0)
      return NULL;
    if (patience < HOLDER_PATIENCE_MAX)
      patience *= 2;
  }
}

static void *hold_and_recv(void *arg) {
  weft_sock *s = holder_connect();
  char buf[8];
  (void)arg;
  if (!s)
    return NULL;
  if (atomic_fetch_add(&hd.ready, 1) + 1 == hd.n)
    CHECK_HOT(write(hd.ready_pipe[1], "r", 1) == 1);
  weft_recv(s, buf, sizeof buf, -1); /* until weft_rt_free cancels it */
  weft_sock_close(s);
  return NULL;
}

static void *start_holders(void *arg) {
  (void)arg;
  memset(&hd.sv, 0, sizeof hd.sv);
  ck_assert_int_eq(weft_tcp_listen(&hd.sv.listener, "127.0.0.1", "0", 1024), 0);
  snprintf(hd.sv.port, sizeof hd.sv.port, "%d", weft_sock_port(hd.sv.listener));
  ck_assert_int_eq(weft_spawn(NULL, holders_acceptor, &hd.sv), 0);
  for (long i = 0; i < hd.n; i++)
    CHECK_HOT(weft_spawn(NULL, hold_and_recv, NULL) == 0);
  return NULL;
}

/* The sockets this process has open, from /proc/self/fd. */
static int count_sockets(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  char path[300], target[64];
  ssize_t len;
  int n = 0;
  ck_assert_ptr_nonnull(d);
  while ((e = readdir(d)) != NULL) {
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    len = readlink(path, target, sizeof target - 1);
    if (len > 0) {
      target[len] = '\0';
      n += strncmp(target, "socket:", 7) == 0;
    }
  }
  closedir(d);
  return n;
}

START_TEST(test_sock_shutdown_with_tasks_blocked_in_recv) {
  weft_config cfg;
  weft_rt *rt;
  struct pollfd ready = {.events = POLLIN};
  int64_t deadline;
  int sockets_before, rc = 0;
  /* 5,000 holders and their 5,000 echo tasks, all blocked in recv. Under
   * ThreadSanitizer, which counts each started task as a thread and allows
   * 8128, a fifth of that. Under Valgrind, which runs one thread at a time,
   * a tenth, to keep the run short. */
#ifdef __SANITIZE_THREAD__
  hd.n = 1000;
#else
  hd.n = WEFT_ON_VALGRIND() ? 500 : 5000;
#endif
  ck_assert_int_eq(pipe(hd.ready_pipe), 0);
  ready.fd = hd.ready_pipe[0];
  ck_assert_int_eq(weft_sem_new(&hd.slots, HOLDER_SLOTS), 0);
  sockets_before = count_sockets();
  weft_config_init(&cfg);
  cfg.workers = 2;
  ck_assert_int_eq(weft_rt_new(&rt, &cfg), 0);
  ck_assert_int_eq(weft_rt_spawn(rt, NULL, start_holders, NULL), 0);
  /* Not a guess at how long connecting takes: every holder retries until
   * it is proved, so this only bounds a hang, below the case's timeout. */
  deadline = weft_now() + 240 * 1000;
  while (rc == 0 && weft_now() < deadline)
    if ((rc = poll(&ready, 1, (int)(deadline - weft_now()))) < 0 && errno == EINTR)
      rc = 0;
  ck_assert_msg(rc == 1, "%ld of %ld holders proved accepted within 240 s (%ld retries, last: %s)",
                atomic_load(&hd.ready), hd.n, atomic_load(&hd.retries),
                weft_strerror(atomic_load(&hd.last_error)));
  /* rt_free cancels the holders, the echo tasks and the acceptor, and each
   * closes its socket. */
  ck_assert_int_eq(weft_rt_free(rt), 0);
  ck_assert_int_eq(count_sockets(), sockets_before);
  ck_assert_int_eq(weft_sem_free(hd.slots), 0);
  close(hd.ready_pipe[0]);
  close(hd.ready_pipe[1]);
}
END_TEST

/* ---- bad input ---- */

static int bad_body(void *arg) {
  weft_sock *s;
  char buf[4];
  (void)arg;
  ck_assert_int_eq(weft_recv(NULL, buf, 4, -1), WEFT_EBADF);
  ck_assert_int_eq(weft_send(NULL, buf, 4, -1), WEFT_EBADF);
  ck_assert_int_eq(weft_sock_close(NULL), WEFT_EBADF);
  ck_assert_int_eq(weft_tcp_accept(NULL, &s, -1), WEFT_EBADF);
  ck_assert_int_eq(weft_tcp_listen(&s, "127.0.0.1", "99999", 8), WEFT_EINVAL);
  ck_assert_int_eq(weft_tcp_listen(&s, "127.0.0.1", "http", 8), WEFT_EINVAL);
  ck_assert_int_eq(weft_tcp_listen(NULL, "127.0.0.1", "0", 8), WEFT_EINVAL);
  ck_assert_int_eq(weft_tcp_connect(&s, "127.0.0.1", "-1", -1), WEFT_EINVAL);
  ck_assert_int_eq(weft_tcp_connect(&s, "bad host name", "80", -1), WEFT_EINVAL);
  ck_assert_int_eq(weft_tcp_connect(&s, NULL, "80", -1), WEFT_EINVAL);
  ck_assert_int_eq(weft_tcp_listen(&s, "127.0.0.1", "0", 8), 0);
  ck_assert_int_eq(weft_recv(s, buf, 4, -1), WEFT_EINVAL); /* a listener */
  ck_assert_int_eq(weft_sock_shutdown(s, 42), WEFT_EINVAL);
  ck_assert_int_eq(weft_sock_close(s), 0);
  ck_assert_int_eq(weft_getaddrinfo("x", "80", NULL), WEFT_EINVAL);
  return 0;
}

START_TEST(test_sock_bad_input) {
  weft_sock *s;
  char buf[4];
  ck_assert_int_eq(weft_tcp_connect(&s, "127.0.0.1", "80", -1), WEFT_EPERM);
  ck_assert_int_eq(weft_recv(NULL, buf, 4, -1), WEFT_EPERM);
  ck_assert_int_eq(weft_fd_wait(0, WEFT_READABLE, -1), WEFT_EPERM);
  ck_assert_int_eq(run_in_task(2, bad_body, NULL), 0);
}
END_TEST

static Suite *sock_suite(void) {
  Suite *s = suite_create("sock");
  TCase *core = tcase_create("core"), *errors = tcase_create("errors"),
        *stress = tcase_create("stress");
  tcase_add_test(core, test_sock_one_mib_payload);
  tcase_add_test(core, test_sock_ipv6_localhost_and_unknown_host);
  tcase_add_test(core, test_sock_deadlines_on_accept_recv_connect);
  tcase_add_test(core, test_sock_cancel_during_recv_and_connect);
  tcase_add_test(core, test_sock_close_wakes_tasks_waiting_on_it);
  tcase_add_test(core, test_sock_many_readers_of_one_socket);
  tcase_add_test(core, test_sock_idle_with_an_unread_socket_uses_no_cpu);
  tcase_add_test(core, test_sock_fd_wait_on_a_pipe);
  tcase_add_test(core, test_sock_fd_wait_on_a_sockets_own_fd_shares_its_watch);
  tcase_add_test(core, test_sock_cancel_connect_while_resolving);
  tcase_add_test(core, test_sock_out_of_fds_then_serves_again);
  tcase_set_timeout(core, 120);
  tcase_add_test(errors, test_sock_refused_reset_and_no_sigpipe);
  tcase_add_test(errors, test_sock_bad_input);
  tcase_set_timeout(errors, 60);
  tcase_add_test(stress, test_sock_echo_with_1000_clients);
  tcase_add_test(stress, test_sock_shutdown_with_tasks_blocked_in_recv);
  tcase_set_timeout(stress, 300);
  suite_add_tcase(s, core);
  suite_add_tcase(s, errors);
  suite_add_tcase(s, stress);
  return s;
}

WEFT_TEST_MAIN(sock_suite)
