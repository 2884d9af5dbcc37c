/*
 * check_redis.c - the Redis client (examples/fetch/redis.c) and the shared
 * frontier (shared.c) against a real redis-server, which
 * tests/fetch/redis.sh starts and names in the environment (REDIS_PORT,
 * REDIS_CONF, REDIS_AUTH_PORT, REDIS_AUTH_PASSWORD, REDIS_CTL,
 * REDIS_FREE_PORT); without them every test is skipped by passing, so
 * the program is only meaningful under that script. Some tests also run a
 * fake server of their own (fake_*), a few lines of RESP over weft
 * sockets, for what a real one will not do on cue: answer LOADING, drop a
 * connection after reading a command, never answer.
 *
 * Every outcome checked is one the protocols guarantee; no check depends
 * on timing (waits are for states, with generous deadlines).
 */
#define _GNU_SOURCE
#include "testutil.h"

#include "../examples/fetch/redis.h"
#include "../examples/fetch/shared.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define LONG_WAIT 30000 /* ms: a deadline that only a hang reaches */

/* ---- helpers ---- */

static const char *env(const char *name) {
  const char *v = getenv(name);
  return v && v[0] ? v : NULL;
}

/* Whether redis.sh set the scene; a test returns at once otherwise. */
static int have_server(void) {
  return env("REDIS_PORT") && env("REDIS_CONF") && env("REDIS_CTL");
}

static struct redis *open_port(const char *port, int64_t timeout_ms) {
  struct redis *r = NULL;
  char err[256];
  int rc = redis_open(&r, "127.0.0.1", port, timeout_ms, err, sizeof err);
  ck_assert_msg(rc == 0, "redis_open: %d: %s", rc, err);
  return r;
}

static struct redis *open_plain(void) {
  return open_port(env("REDIS_PORT"), LONG_WAIT);
}

/* Run a command given as C strings; the reply must come. */
static redisReply *cmd(struct redis *r, int argc, ...) {
  const char *argv[16];
  redisReply *reply;
  va_list ap;
  int rc;
  va_start(ap, argc);
  for (int i = 0; i < argc; i++)
    argv[i] = va_arg(ap, const char *);
  va_end(ap);
  rc = redis_command(r, &reply, argc, argv, NULL, weft_now() + LONG_WAIT);
  ck_assert_msg(rc == 0, "%s: %d: %s", argv[0], rc, redis_strerror(r, rc));
  return reply;
}

static long long cmd_int(struct redis *r, int argc, ...) {
  const char *argv[16];
  redisReply *reply;
  long long v;
  va_list ap;
  va_start(ap, argc);
  for (int i = 0; i < argc; i++)
    argv[i] = va_arg(ap, const char *);
  va_end(ap);
  ck_assert_int_eq(redis_command(r, &reply, argc, argv, NULL, weft_now() + LONG_WAIT), 0);
  ck_assert_msg(reply->type == REDIS_REPLY_INTEGER, "%s: reply type %d (%s)", argv[0], reply->type,
                reply->type == REDIS_REPLY_ERROR ? reply->str : "");
  v = reply->integer;
  freeReplyObject(reply);
  return v;
}

static void flushall(struct redis *r) {
  freeReplyObject(cmd(r, 1, "FLUSHALL"));
}

/* tests/fetch/redis.sh ctl REDIS_CONF start|stop, waited for. */
static void server_ctl(const char *action) {
  char *argv[] = {
      "bash", (char *)env("REDIS_CTL"), "ctl", (char *)env("REDIS_CONF"), (char *)action, NULL};
  weft_proc_opts o;
  weft_proc *p;
  int64_t status;
  int sig;
  weft_proc_opts_init(&o);
  o.argv = argv;
  o.stdio[0] = WEFT_STDIO_NULL;
  ck_assert_int_eq(weft_proc_spawn(&p, &o, NULL), 0);
  ck_assert_int_eq(weft_proc_wait(p, &status, &sig, weft_now() + 60000), 0);
  ck_assert_msg(status == 0 && sig == 0, "redis.sh ctl %s: exit %d, signal %d", action, (int)status,
                sig);
  weft_proc_free(p);
}

/* A value of INFO's "name:value" line, or -1. */
static long info_field(struct redis *r, const char *section, const char *name) {
  redisReply *reply = cmd(r, 2, "INFO", section);
  long v = -1;
  char *at;
  ck_assert_int_eq(reply->type, REDIS_REPLY_STRING);
  if ((at = strstr(reply->str, name)) && at[strlen(name)] == ':')
    v = atol(at + strlen(name) + 1);
  freeReplyObject(reply);
  return v;
}

/* Kill every normal client but r's own connection; how many went. */
static long long kill_clients(struct redis *r) {
  return cmd_int(r, 4, "CLIENT", "KILL", "TYPE", "normal");
}

/* ---- a fake server: RESP over weft sockets, misbehaving on cue ---- */

struct fake {
  weft_sock *listener;
  char port[16];
  int loading_pings;   /* the first N connections answer PING with LOADING */
  int loading_echo_at; /* this connection answers its first ECHO with LOADING */
  int drop_at;         /* this connection closes on its first ECHO, unanswered */
  int mute;            /* ECHO is never answered */
  atomic_int conns;    /* connections accepted */
};

struct fake_conn {
  struct fake *f;
  weft_sock *sock;
  int n; /* its number, from 1 */
};

static int fake_reply(struct fake_conn *c, const char *s, size_t len) {
  return weft_send(c->sock, s, len, weft_now() + LONG_WAIT);
}

/* Answer one command; nonzero to close the connection. */
static int fake_command(struct fake_conn *c, redisReply *req, int *echoes) {
  static const char loading[] = "-LOADING Redis is loading the dataset in memory\r\n";
  char buf[600];
  const char *name;
  if (req->type != REDIS_REPLY_ARRAY || req->elements == 0)
    return 1;
  name = req->element[0]->str;
  if (strcasecmp(name, "PING") == 0) {
    if (c->n <= c->f->loading_pings)
      return fake_reply(c, loading, sizeof loading - 1);
    return fake_reply(c, "+PONG\r\n", 7);
  }
  if (strcasecmp(name, "ECHO") == 0 && req->elements == 2) {
    if (++*echoes == 1 && c->n == c->f->drop_at)
      return 1;
    if (*echoes == 1 && c->n == c->f->loading_echo_at)
      return fake_reply(c, loading, sizeof loading - 1);
    if (c->f->mute)
      return 0;
    int n =
        snprintf(buf, sizeof buf, "$%zu\r\n%.500s\r\n", req->element[1]->len, req->element[1]->str);
    return fake_reply(c, buf, (size_t)n);
  }
  return fake_reply(c, "-ERR unknown command\r\n", 22);
}

static void *fake_serve(void *arg) {
  struct fake_conn *c = arg;
  redisReader *rd = redisReaderCreate();
  char buf[4096];
  int echoes = 0, stop = 0;
  while (!stop) {
    ssize_t n = weft_recv(c->sock, buf, sizeof buf, -1);
    void *req;
    if (n <= 0)
      break;
    redisReaderFeed(rd, buf, (size_t)n);
    while (!stop && redisReaderGetReply(rd, &req) == REDIS_OK && req) {
      stop = fake_command(c, req, &echoes) != 0;
      freeReplyObject(req);
    }
  }
  redisReaderFree(rd);
  weft_sock_close(c->sock);
  free(c);
  return NULL;
}

static void *fake_accept(void *arg) {
  struct fake *f = arg;
  for (;;) {
    struct fake_conn *c = calloc(1, sizeof *c);
    if (weft_tcp_accept(f->listener, &c->sock, -1) != 0) {
      free(c);
      return NULL;
    }
    c->f = f;
    c->n = atomic_fetch_add(&f->conns, 1) + 1;
    ck_assert_int_eq(weft_spawn(NULL, fake_serve, c), 0);
  }
}

/* Start f (its fields set) on a free port; the accept task ends when the
 * runtime does. */
static void fake_start(struct fake *f) {
  ck_assert_int_eq(weft_tcp_listen(&f->listener, "127.0.0.1", "0", 16), 0);
  snprintf(f->port, sizeof f->port, "%d", weft_sock_port(f->listener));
  ck_assert_int_eq(weft_spawn(NULL, fake_accept, f), 0);
}

/* ---- the client ---- */

struct echo_task {
  struct redis *r;
  int id, count;
  atomic_long *done; /* replies checked, across tasks */
};

static void *echo_loop(void *arg) {
  struct echo_task *t = arg;
  char want[64];
  for (int j = 0; j < t->count; j++) {
    snprintf(want, sizeof want, "task %d says %d", t->id, j);
    redisReply *reply = cmd(t->r, 2, "ECHO", want);
    CHECK_HOT(reply->type == REDIS_REPLY_STRING && strcmp(reply->str, want) == 0);
    freeReplyObject(reply);
    if (t->done)
      atomic_fetch_add(t->done, 1);
  }
  return NULL;
}

static int pipeline_body(void *arg) {
  enum { TASKS = 64 };
  struct echo_task t[TASKS];
  weft_task *h[TASKS];
  struct redis_call *calls[300];
  struct redis_stats st;
  struct redis *r;
  long count = scaled(200) + 1;
  (void)arg;
  if (!have_server())
    return 0;
  r = open_plain();
  for (int i = 0; i < TASKS; i++) {
    t[i] = (struct echo_task){r, i, (int)count, NULL};
    ck_assert_int_eq(weft_spawn(&h[i], echo_loop, &t[i]), 0);
  }
  /* one task's own pipeline: 300 submits, then 300 waits, in order */
  for (int i = 0; i < 300; i++) {
    char v[32];
    const char *argv[2] = {"ECHO", v};
    snprintf(v, sizeof v, "own %d", i);
    ck_assert_int_eq(redis_submit(r, &calls[i], 2, argv, NULL), 0);
  }
  for (int i = 0; i < 300; i++) {
    redisReply *reply;
    char v[32];
    snprintf(v, sizeof v, "own %d", i);
    ck_assert_int_eq(redis_wait(calls[i], &reply, weft_now() + LONG_WAIT), 0);
    ck_assert_str_eq(reply->str, v);
    freeReplyObject(reply);
  }
  for (int i = 0; i < TASKS; i++)
    ck_assert_int_eq(weft_join(h[i], NULL), 0);
  redis_stats(r, &st);
  ck_assert_uint_eq(st.commands, TASKS * count + 300);
  ck_assert_uint_eq(st.replies, st.commands);
  ck_assert_uint_eq(st.connects, 1);
  ck_assert_uint_le(st.sends, st.commands);
  redis_close(r);
  return 0;
}

START_TEST(test_redis_pipeline_many_tasks_each_gets_its_reply) {
  ck_assert_int_eq(run_in_task(4, pipeline_body, NULL), 0);
}
END_TEST

static int auth_body(void *arg) {
  const char *mode = arg;
  struct redis *r = NULL;
  char err[256];
  int rc;
  if (!have_server() || !env("REDIS_AUTH_PORT"))
    return 0;
  if (strcmp(mode, "ok") == 0) {
    setenv("REDISCLI_AUTH", env("REDIS_AUTH_PASSWORD"), 1);
    r = open_port(env("REDIS_AUTH_PORT"), LONG_WAIT);
    freeReplyObject(cmd(r, 3, "SET", "authed", "yes"));
    redisReply *reply = cmd(r, 2, "GET", "authed");
    ck_assert_str_eq(reply->str, "yes");
    freeReplyObject(reply);
    redis_close(r);
    return 0;
  }
  if (strcmp(mode, "wrong") == 0)
    setenv("REDISCLI_AUTH", "not-the-password", 1);
  else
    unsetenv("REDISCLI_AUTH");
  /* an hour's timeout: a refusal must end it at once, not a retry */
  rc = redis_open(&r, "127.0.0.1", env("REDIS_AUTH_PORT"), 3600 * 1000, err, sizeof err);
  ck_assert_int_eq(rc, REDIS_EAUTH);
  ck_assert_ptr_null(r);
  ck_assert_msg(strstr(err, "127.0.0.1:") != NULL, "%s", err);
  if (strcmp(mode, "wrong") == 0)
    ck_assert_msg(strstr(err, "REDISCLI_AUTH was refused") != NULL, "%s", err);
  else
    ck_assert_msg(strstr(err, "needed (set REDISCLI_AUTH)") != NULL, "%s", err);
  return 0;
}

START_TEST(test_redis_auth_password_accepted) {
  ck_assert_int_eq(run_in_task(2, auth_body, "ok"), 0);
}
END_TEST

START_TEST(test_redis_auth_wrong_password_fails_at_once) {
  ck_assert_int_eq(run_in_task(2, auth_body, "wrong"), 0);
}
END_TEST

START_TEST(test_redis_auth_missing_password_fails_at_once) {
  ck_assert_int_eq(run_in_task(2, auth_body, "none"), 0);
}
END_TEST

static int unreachable_body(void *arg) {
  struct redis *r = NULL;
  char err[256], where[64];
  (void)arg;
  if (!env("REDIS_FREE_PORT"))
    return 0;
  ck_assert_int_eq(redis_open(&r, "127.0.0.1", env("REDIS_FREE_PORT"), 300, err, sizeof err),
                   REDIS_EDOWN);
  snprintf(where, sizeof where, "Redis at 127.0.0.1:%s unreachable for 300 ms",
           env("REDIS_FREE_PORT"));
  ck_assert_msg(strstr(err, where) && strstr(err, "refused"), "%s", err);
  return 0;
}

START_TEST(test_redis_unreachable_fails_within_timeout) {
  ck_assert_int_eq(run_in_task(2, unreachable_body, NULL), 0);
}
END_TEST

struct blpop {
  struct redis *r;
  redisReply *reply;
};

static void *blpop_task(void *arg) {
  struct blpop *b = arg;
  b->reply = cmd(b->r, 3, "BLPOP", "blpop-list", "0");
  return NULL;
}

/* Wait until INFO says n clients are blocked and r has made connects
 * connections. */
static void wait_blocked(struct redis *watch, struct redis *r, long n, uint64_t connects) {
  int64_t deadline = weft_now() + LONG_WAIT;
  struct redis_stats st;
  for (;;) {
    redis_stats(r, &st);
    if (st.connects == connects && info_field(watch, "clients", "blocked_clients") == n)
      return;
    ck_assert_msg(weft_now() < deadline, "no blocked client after 30 s");
    weft_sleep(5);
  }
}

static int kill_pending_body(void *arg) {
  struct redis *r, *admin;
  struct blpop b;
  weft_task *t;
  struct redis_stats st;
  (void)arg;
  if (!have_server())
    return 0;
  admin = open_plain();
  flushall(admin);
  r = open_plain();
  b.r = r;
  ck_assert_int_eq(weft_spawn(&t, blpop_task, &b), 0);
  wait_blocked(admin, r, 1, 1);
  ck_assert_int_ge(kill_clients(admin), 1);
  wait_blocked(admin, r, 1, 2); /* the BLPOP, sent again on the new connection */
  ck_assert_int_eq(cmd_int(admin, 3, "RPUSH", "blpop-list", "after the kill"), 1);
  ck_assert_int_eq(weft_join(t, NULL), 0);
  ck_assert_int_eq(b.reply->type, REDIS_REPLY_ARRAY);
  ck_assert_int_eq(b.reply->elements, 2);
  ck_assert_str_eq(b.reply->element[1]->str, "after the kill");
  freeReplyObject(b.reply);
  redis_stats(r, &st);
  ck_assert_uint_eq(st.connects, 2);
  redis_close(r);
  redis_close(admin);
  return 0;
}

START_TEST(test_redis_pending_command_completes_after_kill) {
  ck_assert_int_eq(run_in_task(2, kill_pending_body, NULL), 0);
}
END_TEST

static int kill_stream_body(void *arg) {
  enum { TASKS = 8 };
  struct echo_task t[TASKS];
  weft_task *h[TASKS];
  struct redis *r, *admin;
  struct redis_stats st;
  atomic_long done = 0;
  long count = scaled(600) + 50, kills = 0;
  (void)arg;
  if (!have_server())
    return 0;
  admin = open_plain();
  r = open_plain();
  for (int i = 0; i < TASKS; i++) {
    t[i] = (struct echo_task){r, i, (int)count, &done};
    ck_assert_int_eq(weft_spawn(&h[i], echo_loop, &t[i]), 0);
  }
  /* kill the connection three times while the echoes stream */
  for (long last = 0, round = 0; round < 3 && atomic_load(&done) < TASKS * count; round++) {
    while (atomic_load(&done) < last + 20 && atomic_load(&done) < TASKS * count)
      weft_sleep(1);
    last = atomic_load(&done);
    kills += kill_clients(admin) > 0;
  }
  for (int i = 0; i < TASKS; i++)
    ck_assert_int_eq(weft_join(h[i], NULL), 0);
  ck_assert_int_eq(atomic_load(&done), TASKS * count);
  redis_stats(r, &st);
  ck_assert_uint_ge(st.connects, kills > 0 ? 2 : 1);
  redis_close(r);
  redis_close(admin);
  return 0;
}

START_TEST(test_redis_connection_killed_mid_stream) {
  ck_assert_int_eq(run_in_task(4, kill_stream_body, NULL), 0);
}
END_TEST

struct restart_task {
  struct redis *r;
  struct shared *s;
  long long card;
  int added;
};

static void *restart_sadd(void *arg) {
  struct restart_task *t = arg;
  ck_assert_int_eq(cmd_int(t->r, 3, "SADD", "restart-set", "while down"), 1);
  t->card = cmd_int(t->r, 2, "SCARD", "restart-set");
  return NULL;
}

static void *restart_add(void *arg) {
  struct restart_task *t = arg;
  t->added = shared_add(t->s, "http://r.test:80", "http://r.test/while-down", 0, 0);
  return NULL;
}

static struct shared *open_crawl(struct redis *r, const char *name, const char *options,
                                 long per_host, long delay_ms, long max_pages, int64_t lease_ms) {
  struct shared_config cfg = {name, options, per_host, delay_ms, max_pages, lease_ms};
  struct shared *s = NULL;
  char err[512];
  int rc = shared_open(&s, r, &cfg, err, sizeof err);
  ck_assert_msg(rc == 0, "shared_open %s: %d: %s", name, rc, err);
  return s;
}

/* Two "processes" on one crawl: two clients, a handle through each. The
 * server is flushed first. */
struct two {
  struct redis *r[2];
  struct shared *s[2];
};

static void two_open(struct two *t, const char *name, const char *options, long per_host,
                     long max_pages) {
  for (int i = 0; i < 2; i++)
    t->r[i] = open_plain();
  flushall(t->r[0]);
  for (int i = 0; i < 2; i++)
    t->s[i] = open_crawl(t->r[i], name, options, per_host, 0, max_pages, 0);
}

static void two_close(struct two *t) {
  for (int i = 0; i < 2; i++) {
    shared_close(t->s[i]);
    redis_close(t->r[i]);
  }
}

static int restart_body(void *arg) {
  struct redis *r;
  struct shared *s;
  struct restart_task t = {0};
  struct shared_stats st;
  weft_task *a, *b;
  char m[32];
  (void)arg;
  if (!have_server())
    return 0;
  r = open_plain();
  flushall(r);
  s = open_crawl(r, "restart", "depth=1", 0, 0, 0, 0);
  for (int i = 0; i < 100; i++) {
    snprintf(m, sizeof m, "m%d", i);
    ck_assert_int_eq(cmd_int(r, 3, "SADD", "restart-set", m), 1);
  }
  ck_assert_int_eq(shared_add(s, "http://r.test:80", "http://r.test/", 0, 0), 1);
  server_ctl("stop");
  t.r = r;
  t.s = s;
  ck_assert_int_eq(weft_spawn(&a, restart_sadd, &t), 0);
  ck_assert_int_eq(weft_spawn(&b, restart_add, &t), 0);
  ck_assert(wait_parked(a, weft_now() + LONG_WAIT)); /* its SADD waits for the server */
  server_ctl("start");
  ck_assert_int_eq(weft_join(a, NULL), 0);
  ck_assert_int_eq(weft_join(b, NULL), 0);
  ck_assert_int_eq(t.card, 101); /* the first 100 came back from the AOF */
  ck_assert_int_eq(t.added, 1);
  ck_assert_uint_ge(shared_reloads(s), 1); /* the restart forgot the scripts */
  ck_assert_int_eq(shared_stats(s, &st), 0);
  ck_assert_int_eq(st.seen, 2);
  ck_assert_int_eq(st.queued, 2);
  ck_assert_int_eq(shared_add(s, "http://r.test:80", "http://r.test/", 0, 0), 0);
  shared_close(s);
  redis_close(r);
  return 0;
}

START_TEST(test_redis_restart_with_aof_survived_and_noscript_handled) {
  ck_assert_int_eq(run_in_task(2, restart_body, NULL), 0);
}
END_TEST

static int loading_body(void *arg) {
  struct fake f = {.loading_pings = 2, .loading_echo_at = 3, .drop_at = 4};
  struct redis *r;
  struct redis_stats st;
  redisReply *reply;
  (void)arg;
  fake_start(&f);
  r = open_port(f.port, LONG_WAIT); /* connections 1 and 2: LOADING; 3 is up */
  ck_assert_int_eq(atomic_load(&f.conns), 3);
  /* connection 3 answers LOADING, 4 drops it unanswered, 5 answers */
  reply = cmd(r, 2, "ECHO", "through it all");
  ck_assert_str_eq(reply->str, "through it all");
  freeReplyObject(reply);
  ck_assert_int_eq(atomic_load(&f.conns), 5);
  redis_stats(r, &st);
  ck_assert_uint_eq(st.connects, 3);
  ck_assert_uint_eq(st.replies, 1); /* LOADING is not a reply to anyone */
  redis_close(r);
  weft_sock_close(f.listener);
  return 0;
}

START_TEST(test_redis_loading_and_dropped_command_retried) {
  ck_assert_int_eq(run_in_task(2, loading_body, NULL), 0);
}
END_TEST

static int mute_body(void *arg) {
  struct fake f = {.mute = 1};
  struct redis *r;
  redisReply *reply;
  const char *argv[2] = {"ECHO", "anyone?"};
  struct redis_call *c;
  (void)arg;
  fake_start(&f);
  r = open_port(f.port, 300);
  ck_assert_int_eq(redis_command(r, &reply, 2, argv, NULL, -1), REDIS_EDOWN);
  ck_assert_ptr_null(reply);
  ck_assert_msg(strstr(redis_strerror(r, REDIS_EDOWN), "no reply for 300 ms"), "%s",
                redis_strerror(r, REDIS_EDOWN));
  ck_assert_int_eq(redis_submit(r, &c, 2, argv, NULL), REDIS_EDOWN); /* later calls too */
  redis_close(r);
  weft_sock_close(f.listener);
  return 0;
}

START_TEST(test_redis_no_reply_within_timeout_fails_every_call) {
  ck_assert_int_eq(run_in_task(2, mute_body, NULL), 0);
}
END_TEST

static int deadline_body(void *arg) {
  struct fake f = {.mute = 1};
  struct redis *r;
  redisReply *reply;
  const char *argv[2] = {"ECHO", "x"};
  (void)arg;
  fake_start(&f);
  r = open_port(f.port, LONG_WAIT);
  /* the caller's own deadline gives up on the call, not on the client */
  ck_assert_int_eq(redis_command(r, &reply, 2, argv, NULL, weft_now() + 50), WEFT_ETIMEDOUT);
  redis_close(r); /* frees the abandoned call */
  weft_sock_close(f.listener);
  return 0;
}

START_TEST(test_redis_caller_deadline_abandons_call) {
  ck_assert_int_eq(run_in_task(2, deadline_body, NULL), 0);
}
END_TEST

/* ---- the shared frontier ---- */

struct adder {
  struct shared *s;
  int first, n;
  atomic_long *added;
};

static void *add_range(void *arg) {
  struct adder *a = arg;
  struct shared_url u[50];
  char urls[50][64], hosts[50][32];
  int got[50];
  for (int i = 0; i < a->n; i += 50) {
    int k = 0;
    for (; k < 50 && i + k < a->n; k++) {
      int x = (a->first + i + k) % a->n;
      snprintf(hosts[k], sizeof hosts[k], "http://h%d.test:80", x % 7);
      snprintf(urls[k], sizeof urls[k], "http://h%d.test/p%d", x % 7, x);
      u[k] = (struct shared_url){hosts[k], urls[k], 1, 0};
    }
    long n = shared_add_many(a->s, u, (size_t)k, got);
    ck_assert_int_ge(n, 0);
    long sum = 0;
    for (int j = 0; j < k; j++)
      sum += got[j];
    ck_assert_int_eq(sum, n);
    atomic_fetch_add(a->added, n);
  }
  return NULL;
}

static int dedupe_body(void *arg) {
  enum { TASKS = 8 };
  struct two t;
  struct adder a[TASKS];
  weft_task *h[TASKS];
  struct shared_stats st;
  atomic_long added = 0;
  (void)arg;
  if (!have_server())
    return 0;
  two_open(&t, "dedupe", "depth=3", 0, 0);
  /* URLs 0..999, each added by every task (from a different start), over
   * two handles */
  for (int i = 0; i < TASKS; i++) {
    a[i] = (struct adder){t.s[i % 2], i * 125, 1000, &added};
    ck_assert_int_eq(weft_spawn(&h[i], add_range, &a[i]), 0);
  }
  for (int i = 0; i < TASKS; i++)
    ck_assert_int_eq(weft_join(h[i], NULL), 0);
  ck_assert_int_eq(atomic_load(&added), 1000);
  ck_assert_int_eq(shared_stats(t.s[0], &st), 0);
  ck_assert_int_eq(st.seen, 1000);
  ck_assert_int_eq(st.queued, 1000);
  two_close(&t);
  return 0;
}

START_TEST(test_shared_adds_dedupe_across_handles) {
  ck_assert_int_eq(run_in_task(4, dedupe_body, NULL), 0);
}
END_TEST

/* Claim and expect outcome want; returns it (e filled when CLAIMED). */
static int claim(struct shared *s, struct shared_entry *e, int64_t *wait_ms, int want) {
  int rc = shared_claim(s, e, wait_ms);
  ck_assert_msg(rc == want, "shared_claim: %d, not %d (%s)", rc, want, shared_strerror(s, rc));
  return rc;
}

static int pacing_body(void *arg) {
  struct redis *r;
  struct shared *s, *other;
  struct shared_entry e[4], x;
  int64_t wait_ms;
  const char *A = "http://a.test:80", *B = "http://b.test:80";
  (void)arg;
  if (!have_server())
    return 0;
  r = open_plain();
  flushall(r);
  s = open_crawl(r, "pacing", "", 0, 0, 0, 0);
  other = open_crawl(r, "pacing", "", 0, 0, 0, 0);
  ck_assert_int_eq(shared_set_delay(s, A, 3600 * 1000), 0);
  ck_assert_int_eq(shared_add(s, A, "http://a.test/1", 0, 0), 1);
  ck_assert_int_eq(shared_add(s, A, "http://a.test/2", 0, 0), 1);
  for (int i = 1; i <= 3; i++) {
    char u[32];
    snprintf(u, sizeof u, "http://b.test/%d", i);
    ck_assert_int_eq(shared_add(s, B, u, 0, 7), 1);
  }
  /* a's first URL; then a waits its hour while b, without a delay, goes on */
  claim(s, &e[0], &wait_ms, SHARED_CLAIMED);
  ck_assert_str_eq(e[0].url, "http://a.test/1");
  ck_assert_str_eq(e[0].host, A);
  for (int i = 1; i <= 3; i++) {
    claim(i % 2 ? other : s, &e[i], &wait_ms, SHARED_CLAIMED);
    ck_assert_str_eq(e[i].host, B);
    ck_assert_int_eq(e[i].flags, 7);
  }
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(shared_complete(s, &e[i], 1), 0);
    shared_entry_free(&e[i]);
  }
  /* only a's second URL is left, and its turn is an hour away, for everyone */
  claim(s, &x, &wait_ms, SHARED_WAIT);
  ck_assert_int_gt(wait_ms, 3000 * 1000);
  claim(other, &x, &wait_ms, SHARED_WAIT);
  ck_assert_int_gt(wait_ms, 3000 * 1000);
  shared_close(other);
  shared_close(s);

  /* the crawl's --delay paces a host without its own */
  s = open_crawl(r, "paced-default", "", 0, 3600 * 1000, 0, 0);
  ck_assert_int_eq(shared_add(s, B, "http://b.test/1", 0, 0), 1);
  ck_assert_int_eq(shared_add(s, B, "http://b.test/2", 0, 0), 1);
  claim(s, &x, &wait_ms, SHARED_CLAIMED);
  ck_assert_int_eq(shared_complete(s, &x, 1), 0);
  shared_entry_free(&x);
  claim(s, &x, &wait_ms, SHARED_WAIT);
  ck_assert_int_gt(wait_ms, 3000 * 1000);
  shared_close(s);
  redis_close(r);
  return 0;
}

START_TEST(test_shared_claims_honour_host_pacing) {
  ck_assert_int_eq(run_in_task(2, pacing_body, NULL), 0);
}
END_TEST

static int cap_body(void *arg) {
  struct redis *r;
  struct shared *s;
  struct shared_entry e[3], x;
  struct shared_stats st;
  int64_t wait_ms;
  const char *A = "http://a.test:80";
  (void)arg;
  if (!have_server())
    return 0;
  r = open_plain();
  flushall(r);
  s = open_crawl(r, "cap", "", 2, 0, 0, 0);
  for (int i = 0; i < 5; i++) {
    char u[32];
    snprintf(u, sizeof u, "http://a.test/%d", i);
    ck_assert_int_eq(shared_add(s, A, u, 0, 0), 1);
  }
  claim(s, &e[0], &wait_ms, SHARED_CLAIMED);
  claim(s, &e[1], &wait_ms, SHARED_CLAIMED);
  claim(s, &x, &wait_ms, SHARED_WAIT); /* two live: a is at its cap */
  ck_assert_int_eq(shared_stats(s, &st), 0);
  ck_assert_int_eq(st.leased, 2);
  ck_assert_int_eq(st.ready, 0);
  ck_assert_int_eq(shared_complete(s, &e[0], 1), 0);
  claim(s, &e[2], &wait_ms, SHARED_CLAIMED); /* room again */
  ck_assert_str_eq(e[2].url, "http://a.test/2");
  claim(s, &x, &wait_ms, SHARED_WAIT);
  for (int i = 0; i < 3; i++)
    shared_entry_free(&e[i]);
  shared_close(s);
  redis_close(r);
  return 0;
}

START_TEST(test_shared_per_host_cap) {
  ck_assert_int_eq(run_in_task(2, cap_body, NULL), 0);
}
END_TEST

static int lease_body(void *arg) {
  struct redis *r;
  struct shared *quick, *slow;
  struct shared_entry mine, theirs, again;
  struct shared_stats st;
  int64_t wait_ms;
  int rc;
  (void)arg;
  if (!have_server())
    return 0;
  r = open_plain();
  flushall(r);
  quick = open_crawl(r, "lease", "", 0, 0, 0, 100);
  slow = open_crawl(r, "lease", "", 0, 0, 0, 0);
  ck_assert_int_eq(shared_add(quick, "http://l.test:80", "http://l.test/", 2, 0), 1);
  claim(quick, &mine, &wait_ms, SHARED_CLAIMED);
  ck_assert_int_le(mine.lease_ms, 100);
  /* nothing else to claim until the lease expires; then it is requeued */
  while ((rc = shared_claim(slow, &theirs, &wait_ms)) == SHARED_WAIT) {
    ck_assert_int_le(wait_ms, 100);
    weft_sleep(wait_ms + 1);
  }
  ck_assert_int_eq(rc, SHARED_CLAIMED);
  ck_assert_str_eq(theirs.url, "http://l.test/");
  ck_assert_int_eq(theirs.depth, 2);
  ck_assert_int_eq(shared_complete(quick, &mine, 1), SHARED_LOST);
  ck_assert_int_eq(shared_release(quick, &mine), SHARED_LOST);
  ck_assert_int_eq(shared_complete(slow, &theirs, 1), 0);
  ck_assert_int_eq(shared_complete(slow, &theirs, 1), 0); /* sent twice: still ok */
  ck_assert_int_eq(shared_stats(slow, &st), 0);
  ck_assert_int_eq(st.reaped, 1);
  ck_assert_int_eq(st.pages, 1);
  claim(slow, &again, &wait_ms, SHARED_FINISHED);
  shared_entry_free(&mine);
  shared_entry_free(&theirs);

  /* released: back at the head of its queue */
  ck_assert_int_eq(shared_add(slow, "http://l.test:80", "http://l.test/a", 0, 0), 1);
  ck_assert_int_eq(shared_add(slow, "http://l.test:80", "http://l.test/b", 0, 0), 1);
  claim(slow, &mine, &wait_ms, SHARED_CLAIMED);
  ck_assert_str_eq(mine.url, "http://l.test/a");
  ck_assert_int_eq(shared_release(slow, &mine), 0);
  ck_assert_int_eq(shared_release(slow, &mine), SHARED_LOST);
  claim(slow, &again, &wait_ms, SHARED_CLAIMED);
  ck_assert_str_eq(again.url, "http://l.test/a");
  shared_entry_free(&mine);
  shared_entry_free(&again);
  shared_close(quick);
  shared_close(slow);
  redis_close(r);
  return 0;
}

START_TEST(test_shared_leases_expire_and_are_requeued) {
  ck_assert_int_eq(run_in_task(2, lease_body, NULL), 0);
}
END_TEST

static int renew_body(void *arg) {
  struct redis *r;
  struct shared *quick, *other;
  struct shared_entry mine, theirs;
  int64_t wait_ms, start;
  (void)arg;
  if (!have_server())
    return 0;
  r = open_plain();
  flushall(r);
  quick = open_crawl(r, "renew", "", 0, 0, 0, 100);
  other = open_crawl(r, "renew", "", 0, 0, 0, 100);
  ck_assert_int_eq(shared_add(quick, "http://n.test:80", "http://n.test/", 0, 0), 1);
  start = weft_now();
  claim(quick, &mine, &wait_ms, SHARED_CLAIMED);
  ck_assert_int_le(mine.deadline, weft_now() + 100); /* counted from before the claim */
  ck_assert_int_ge(mine.deadline, start + 100);
  ck_assert_int_eq(shared_renew(quick, &mine, 3600 * 1000), 0);
  ck_assert_int_ge(mine.deadline, start + 3600 * 1000);
  weft_sleep(150); /* past the first deadline: renewed, the lease is not reaped */
  claim(other, &theirs, &wait_ms, SHARED_WAIT);
  ck_assert_int_gt(wait_ms, 3000 * 1000);
  ck_assert_int_eq(shared_complete(quick, &mine, 1), 0);
  ck_assert_int_eq(shared_renew(quick, &mine, 0), SHARED_LOST); /* completed: not ours */
  shared_entry_free(&mine);

  /* a lapsed lease another handle reaped cannot be renewed */
  ck_assert_int_eq(shared_add(quick, "http://n.test:80", "http://n.test/2", 0, 0), 1);
  claim(quick, &mine, &wait_ms, SHARED_CLAIMED);
  weft_sleep(150);
  claim(other, &theirs, &wait_ms, SHARED_CLAIMED); /* reaped, then claimed */
  ck_assert_str_eq(theirs.url, "http://n.test/2");
  ck_assert_int_eq(shared_renew(quick, &mine, 0), SHARED_LOST);
  ck_assert_int_eq(shared_complete(other, &theirs, 1), 0);
  shared_entry_free(&mine);
  shared_entry_free(&theirs);
  shared_close(quick);
  shared_close(other);
  redis_close(r);
  return 0;
}

START_TEST(test_shared_renew_keeps_lease_and_lost_once_reaped) {
  ck_assert_int_eq(run_in_task(2, renew_body, NULL), 0);
}
END_TEST

/* complete with last_sent set: the host's next turn counts from that
 * request, not from the claim. The lower bound asserted holds by
 * construction (complete measures the time since last_sent on this
 * clock). The upper one tells the two apart only when this task went on
 * from last_sent to the second claim in less time than it slept before:
 * a round where the machine stalled it longer proves nothing either way
 * and is run again, up to 20 times. */
static int pace_after_body(void *arg) {
  enum { DELAY = 3000 };
  struct redis *r;
  struct shared *s;
  struct shared_entry e, x;
  int64_t wait_ms, claimed, after;
  const char *A = "http://p.test:80";
  int round;
  (void)arg;
  if (!have_server())
    return 0;
  r = open_plain();
  for (round = 0; round < 20; round++) {
    flushall(r);
    s = open_crawl(r, "pace-after", "", 1, 0, 0, 0);
    ck_assert_int_eq(shared_set_delay(s, A, DELAY), 0);
    ck_assert_int_eq(shared_add(s, A, "http://p.test/1", 0, 0), 1);
    ck_assert_int_eq(shared_add(s, A, "http://p.test/2", 0, 0), 1);
    claim(s, &e, &wait_ms, SHARED_CLAIMED);
    claimed = weft_now(); /* the claim-time turn is at most this + DELAY */
    weft_sleep(1000);
    e.last_sent = weft_now(); /* a request of the lease returned a second after the claim */
    ck_assert_int_eq(shared_complete(s, &e, 1), 0);
    claim(s, &x, &wait_ms, SHARED_WAIT);
    after = weft_now();
    ck_assert_int_ge(wait_ms, e.last_sent + DELAY - after);
    if (after - e.last_sent < e.last_sent - claimed)
      break; /* a round that tells the two apart */
    shared_entry_free(&e);
    shared_close(s);
  }
  ck_assert_msg(round < 20, "20 rounds stalled for over a second each");
  ck_assert_msg(wait_ms > claimed + DELAY - e.last_sent,
                "waits %" PRId64 " ms: the turn still counts from the claim", wait_ms);
  shared_entry_free(&e);
  shared_close(s);
  redis_close(r);
  return 0;
}

START_TEST(test_shared_complete_paces_host_from_last_request) {
  ck_assert_int_eq(run_in_task(2, pace_after_body, NULL), 0);
}
END_TEST

struct names {
  int a, b, other;
};

static int count_name(void *arg, const char *name) {
  struct names *n = arg;
  if (strcmp(name, "a.test") == 0)
    n->a++;
  else if (strcmp(name, "b.test") == 0)
    n->b++;
  else
    n->other++;
  return 0;
}

static int unseeded_body(void *arg) {
  struct two t;
  struct shared_entry e;
  struct names n = {0, 0, 0};
  int64_t wait_ms;
  (void)arg;
  if (!have_server())
    return 0;
  two_open(&t, "unseeded", "", 0, 0);
  /* nothing added yet: a process that joins first waits, it does not end */
  claim(t.s[1], &e, &wait_ms, SHARED_WAIT);
  ck_assert_int_gt(wait_ms, 0);
  ck_assert_int_eq(shared_start_host(t.s[0], "a.test"), 0);
  ck_assert_int_eq(shared_start_host(t.s[1], "b.test"), 0);
  ck_assert_int_eq(shared_start_host(t.s[1], "a.test"), 0);
  ck_assert_int_eq(shared_start_hosts(t.s[1], count_name, &n), 0);
  ck_assert_int_eq(n.a, 1);
  ck_assert_int_eq(n.b, 1);
  ck_assert_int_eq(n.other, 0);
  ck_assert_int_eq(shared_add(t.s[0], "http://a.test:80", "http://a.test/", 0, 1), 1);
  claim(t.s[1], &e, &wait_ms, SHARED_CLAIMED);
  ck_assert_int_eq(shared_complete(t.s[1], &e, 1), 0);
  shared_entry_free(&e);
  claim(t.s[0], &e, &wait_ms, SHARED_FINISHED);
  two_close(&t);
  return 0;
}

START_TEST(test_shared_unseeded_crawl_waits_and_start_hosts_shared) {
  ck_assert_int_eq(run_in_task(2, unseeded_body, NULL), 0);
}
END_TEST

/* A crawl over a tree: each page at depth < 2 links to three more. */
struct crawler {
  struct shared *s;
  atomic_long *pages;
  int killing; /* connections are being killed: an add sent twice says "seen" */
  int finished, limited;
};

static void *crawl_loop(void *arg) {
  struct crawler *c = arg;
  for (;;) {
    struct shared_entry e;
    int64_t wait_ms;
    int rc = shared_claim(c->s, &e, &wait_ms);
    if (rc == SHARED_WAIT) {
      weft_sleep(wait_ms < 20 ? wait_ms : 20);
      continue;
    }
    if (rc == SHARED_FINISHED || rc == SHARED_LIMIT) {
      c->finished = rc == SHARED_FINISHED;
      c->limited = rc == SHARED_LIMIT;
      return NULL;
    }
    ck_assert_msg(rc == SHARED_CLAIMED, "claim: %d: %s", rc, shared_strerror(c->s, rc));
    if (e.depth < 2) {
      struct shared_url u[3];
      char urls[3][256];
      for (int k = 0; k < 3; k++) {
        snprintf(urls[k], sizeof urls[k], "%s/%d", e.url, k);
        u[k] = (struct shared_url){e.host, urls[k], e.depth + 1, 0};
      }
      long n = shared_add_many(c->s, u, 3, NULL);
      ck_assert_msg(c->killing ? n >= 0 && n <= 3 : n == 3, "shared_add_many: %ld", n);
    }
    rc = shared_complete(c->s, &e, 1);
    ck_assert_msg(rc == 0, "complete: %d: %s", rc, shared_strerror(c->s, rc));
    atomic_fetch_add(c->pages, 1);
    shared_entry_free(&e);
  }
}

static int finished_body(void *arg) {
  enum { TASKS = 8 };
  int killing = arg != NULL;
  struct redis *admin;
  struct two t;
  struct crawler c[TASKS];
  weft_task *h[TASKS];
  struct shared_stats st;
  atomic_long pages = 0;
  if (!have_server())
    return 0;
  two_open(&t, "tree", "depth=2", 2, 0);
  admin = open_plain();
  for (int i = 0; i < 4; i++) {
    char host[32], url[64];
    snprintf(host, sizeof host, "http://t%d.test:80", i % 2);
    snprintf(url, sizeof url, "http://t%d.test/root%d", i % 2, i);
    ck_assert_int_eq(shared_add(t.s[0], host, url, 0, 0), 1);
  }
  for (int i = 0; i < TASKS; i++) {
    c[i] = (struct crawler){t.s[i % 2], &pages, killing, 0, 0};
    ck_assert_int_eq(weft_spawn(&h[i], crawl_loop, &c[i]), 0);
  }
  for (long last = 0, round = 0; killing && round < 4 && atomic_load(&pages) < 52; round++) {
    while (atomic_load(&pages) < last + 5 && atomic_load(&pages) < 52)
      weft_sleep(1);
    last = atomic_load(&pages);
    kill_clients(admin);
  }
  for (int i = 0; i < TASKS; i++) {
    ck_assert_int_eq(weft_join(h[i], NULL), 0);
    ck_assert_msg(c[i].finished, "crawler %d did not see the end", i);
  }
  ck_assert_int_eq(atomic_load(&pages), 4 * (1 + 3 + 9)); /* each page exactly once */
  ck_assert_int_eq(shared_stats(t.s[1], &st), 0);
  ck_assert_int_eq(st.seen, 52);
  ck_assert_int_eq(st.pages, 52);
  ck_assert_int_eq(st.queued, 0);
  ck_assert_int_eq(st.leased, 0);
  ck_assert_int_eq(st.claims, 52);
  two_close(&t);
  redis_close(admin);
  return 0;
}

START_TEST(test_shared_finished_seen_by_every_process) {
  ck_assert_int_eq(run_in_task(4, finished_body, NULL), 0);
}
END_TEST

START_TEST(test_shared_crawl_survives_killed_connections) {
  ck_assert_int_eq(run_in_task(4, finished_body, "kill"), 0);
}
END_TEST

static int limit_body(void *arg) {
  enum { TASKS = 6 };
  struct two t;
  struct crawler c[TASKS];
  weft_task *h[TASKS];
  struct shared_entry x;
  atomic_long pages = 0;
  (void)arg;
  if (!have_server())
    return 0;
  two_open(&t, "limit", "", 0, 5);
  for (int i = 0; i < 20; i++) {
    char host[32], url[64];
    snprintf(host, sizeof host, "http://n%d.test:80", i);
    snprintf(url, sizeof url, "http://n%d.test/", i);
    ck_assert_int_eq(shared_add(t.s[0], host, url, 2, 0), 1); /* depth 2: no links */
  }
  for (int i = 0; i < TASKS; i++) {
    c[i] = (struct crawler){t.s[i % 2], &pages, 0, 0, 0};
    ck_assert_int_eq(weft_spawn(&h[i], crawl_loop, &c[i]), 0);
  }
  for (int i = 0; i < TASKS; i++) {
    ck_assert_int_eq(weft_join(h[i], NULL), 0);
    ck_assert(c[i].limited);
  }
  ck_assert_int_eq(atomic_load(&pages), 5);
  claim(t.s[0], &x, NULL, SHARED_LIMIT);
  claim(t.s[1], &x, NULL, SHARED_LIMIT);
  two_close(&t);
  return 0;
}

START_TEST(test_shared_page_limit_across_handles) {
  ck_assert_int_eq(run_in_task(4, limit_body, NULL), 0);
}
END_TEST

static int conflict_body(void *arg) {
  struct redis *r;
  struct shared *s, *t = NULL;
  struct shared_config cfg = {"opts", "depth=3\nrobots=1\naccept=^http://x/", 4, 0, 0, 0};
  char err[512];
  (void)arg;
  if (!have_server())
    return 0;
  r = open_plain();
  flushall(r);
  s = open_crawl(r, "opts", "depth=2\nrobots=1\n", 8, 0, 0, 0);
  ck_assert_int_eq(shared_open(&t, r, &cfg, err, sizeof err), SHARED_ECONFLICT);
  ck_assert_ptr_null(t);
  ck_assert_msg(strstr(err, "accept (the crawl has none, this run ^http://x/)") &&
                    strstr(err, "depth (the crawl has 2, this run 3)") &&
                    strstr(err, "per-host (the crawl has 8, this run 4)") && !strstr(err, "robots"),
                "%s", err);
  /* the same options in another order are the same */
  shared_close(open_crawl(r, "opts", "robots=1\ndepth=2", 8, 0, 0, 0));
  /* bad names and options, refused before Redis is asked */
  cfg = (struct shared_config){"a{b}", NULL, 0, 0, 0, 0};
  ck_assert_int_eq(shared_open(&t, r, &cfg, err, sizeof err), WEFT_EINVAL);
  cfg = (struct shared_config){"ok", "depth=1\ndepth=2", 0, 0, 0, 0};
  ck_assert_int_eq(shared_open(&t, r, &cfg, err, sizeof err), WEFT_EINVAL);
  ck_assert_msg(strstr(err, "depth given twice"), "%s", err);
  cfg = (struct shared_config){"ok", "delay=5", 0, 0, 0, 0};
  ck_assert_int_eq(shared_open(&t, r, &cfg, err, sizeof err), WEFT_EINVAL);
  cfg = (struct shared_config){"ok", "Depth=5", 0, 0, 0, 0};
  ck_assert_int_eq(shared_open(&t, r, &cfg, err, sizeof err), WEFT_EINVAL);
  shared_close(s);
  redis_close(r);
  return 0;
}

START_TEST(test_shared_options_conflict_names_the_keys) {
  ck_assert_int_eq(run_in_task(2, conflict_body, NULL), 0);
}
END_TEST

static int foreign_body(void *arg) {
  struct redis *r;
  struct shared *s = NULL;
  struct shared_config cfg = {"x", "", 0, 0, 0, 0};
  redisReply *reply;
  char err[512];
  (void)arg;
  if (!have_server())
    return 0;
  r = open_plain();
  flushall(r);
  freeReplyObject(cmd(r, 3, "SET", "weft-fetch:{str}:meta", "hello"));
  freeReplyObject(cmd(r, 4, "HSET", "weft-fetch:{bare}:meta", "owner", "someone"));
  freeReplyObject(cmd(r, 3, "SET", "weft-fetch:{orphan}:seen", "x"));
  freeReplyObject(cmd(r, 4, "HSET", "weft-fetch:{old}:meta", "format", "weft-fetch-frontier/0"));
  freeReplyObject(cmd(r, 4, "HSET", "weft-fetch:{typed}:meta", "format", "weft-fetch-frontier/1"));
  freeReplyObject(cmd(r, 3, "SET", "weft-fetch:{typed}:leases", "x"));
  static const struct {
    const char *name, *words;
  } cases[] = {
      {"str", "weft-fetch:{str}:meta is a string, not a hash"},
      {"bare", "weft-fetch:{bare}:meta is a hash without a format field"},
      {"orphan",
       "weft-fetch:{orphan}:seen exists (a string) but weft-fetch:{orphan}:meta does not"},
      {"old", "holds format \"weft-fetch-frontier/0\""},
      {"typed", "weft-fetch:{typed}:leases is a string, not a zset"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cfg.name = cases[i].name;
    ck_assert_int_eq(shared_open(&s, r, &cfg, err, sizeof err), SHARED_EFOREIGN);
    ck_assert_msg(strstr(err, cases[i].words), "%s: %s", cases[i].name, err);
  }
  /* nothing was overwritten */
  reply = cmd(r, 2, "GET", "weft-fetch:{str}:meta");
  ck_assert_str_eq(reply->str, "hello");
  freeReplyObject(reply);
  ck_assert_int_eq(cmd_int(r, 2, "HLEN", "weft-fetch:{bare}:meta"), 1);
  ck_assert_int_eq(cmd_int(r, 2, "EXISTS", "weft-fetch:{orphan}:meta"), 0);
  redis_close(r);
  return 0;
}

START_TEST(test_shared_foreign_keys_refused_untouched) {
  ck_assert_int_eq(run_in_task(2, foreign_body, NULL), 0);
}
END_TEST

static Suite *redis_suite(void) {
  Suite *s = suite_create("redis");
  TCase *core = tcase_create("core");
  TCase *errors = tcase_create("errors");
  TCase *stress = tcase_create("stress");
  TCase *shared = tcase_create("shared");
  tcase_add_test(core, test_redis_pipeline_many_tasks_each_gets_its_reply);
  tcase_add_test(core, test_redis_auth_password_accepted);
  tcase_add_test(core, test_redis_pending_command_completes_after_kill);
  tcase_add_test(core, test_redis_loading_and_dropped_command_retried);
  tcase_add_test(core, test_redis_restart_with_aof_survived_and_noscript_handled);
  tcase_set_timeout(core, 120);
  tcase_add_test(errors, test_redis_auth_wrong_password_fails_at_once);
  tcase_add_test(errors, test_redis_auth_missing_password_fails_at_once);
  tcase_add_test(errors, test_redis_unreachable_fails_within_timeout);
  tcase_add_test(errors, test_redis_no_reply_within_timeout_fails_every_call);
  tcase_add_test(errors, test_redis_caller_deadline_abandons_call);
  tcase_set_timeout(errors, 60);
  tcase_add_test(stress, test_redis_connection_killed_mid_stream);
  tcase_add_test(stress, test_shared_crawl_survives_killed_connections);
  tcase_set_timeout(stress, 300);
  tcase_add_test(shared, test_shared_adds_dedupe_across_handles);
  tcase_add_test(shared, test_shared_claims_honour_host_pacing);
  tcase_add_test(shared, test_shared_per_host_cap);
  tcase_add_test(shared, test_shared_leases_expire_and_are_requeued);
  tcase_add_test(shared, test_shared_finished_seen_by_every_process);
  tcase_add_test(shared, test_shared_page_limit_across_handles);
  tcase_add_test(shared, test_shared_options_conflict_names_the_keys);
  tcase_add_test(shared, test_shared_foreign_keys_refused_untouched);
  tcase_add_test(shared, test_shared_renew_keeps_lease_and_lost_once_reaped);
  tcase_add_test(shared, test_shared_complete_paces_host_from_last_request);
  tcase_add_test(shared, test_shared_unseeded_crawl_waits_and_start_hosts_shared);
  tcase_set_timeout(shared, 120);
  suite_add_tcase(s, core);
  suite_add_tcase(s, errors);
  suite_add_tcase(s, stress);
  suite_add_tcase(s, shared);
  return s;
}

WEFT_TEST_MAIN(redis_suite)
