/*
 * redis.c - the Redis client of redis.h: its tasks, its queues, and why
 * every reply reaches the caller that asked for it.
 *
 * Tasks
 *
 *   supervisor (one per client)  owns the connection: connects, sends
 *                     AUTH and PING and reads their replies itself (the
 *                     handshake), then runs one session on it; when the
 *                     session ends it closes the socket, puts the
 *                     unanswered calls back (requeue) and connects again,
 *                     with backoff, until the client's timeout; then it
 *                     fails every call (fail_all).
 *   writer (one per session)     takes the pending calls in order, moves
 *                     them to the end of the in-flight queue and writes
 *                     their bytes in one weft_send.
 *   reader (one per session)     reads replies and hands each to the call
 *                     at the head of the in-flight queue.
 *   callers (any)    queue a call (redis_submit) and park on its own
 *                     semaphore (redis_wait).
 *
 * A session's writer and reader are the two members of a weft scope that
 * the supervisor owns: the first of them to fail (a send or receive
 * error, the peer closing, a protocol error, a LOADING reply, no reply
 * for the timeout) cancels the other, and redis_close cancels the
 * supervisor, which cancels both.
 *
 * Queues (struct redis, under lock: a pthread mutex held for a few
 * instructions, never across a switch)
 *
 *   pending   calls submitted and not yet written on the current
 *             connection, oldest first.
 *   inflight  calls written on the current connection and not yet
 *             answered, in the order of their bytes on the wire.
 *
 * The pipeline protocol (the invariant: inflight lists exactly the calls
 * whose commands were given to the current connection and not yet
 * answered, in the order they were written).
 *  1. Only the writer moves calls from pending to inflight, and it moves
 *     a batch to the tail of inflight, in order, under lock, before it
 *     writes the batch's bytes, in the same order; only the writer writes
 *     to the session's socket. So the order of inflight is the order of
 *     the commands on the wire, and a reply can never arrive for a call
 *     not yet in inflight.
 *  2. Redis answers the commands of one connection in the order it read
 *     them, one reply each (the commands that break this are excluded in
 *     redis.h). So the next complete reply read belongs to the head of
 *     inflight: the reader pops the head and delivers, under lock.
 *  3. A connection's handshake is written and read by the supervisor
 *     before the session's tasks exist, so no handshake reply reaches the
 *     reader; each session has a new redisReader, so no partial reply of
 *     an old connection is ever completed by the bytes of a new one.
 *  4. When a session ends, both of its tasks have returned (the scope has
 *     been waited for) before the supervisor requeues: inflight, then
 *     pending, becomes the new pending, so the calls keep their order and
 *     are written again first thing on the next connection. inflight is
 *     empty when the next session starts, so step 2 starts over cleanly.
 *
 * A call's state (under lock)
 *
 *   CALL_QUEUED     in pending; its caller may take it out (gives up).
 *   CALL_SENT       in inflight; only the reader (a reply) or the
 *                   supervisor (requeue, fail_all) moves it.
 *   CALL_ABANDONED  in inflight, its caller gone: it stays there as a
 *                   placeholder for its reply, which is dropped with it;
 *                   a requeue drops it instead of sending it again.
 *   CALL_DONE       out of both queues, reply (or err) set, done posted
 *                   under lock: from then on the call is its caller's.
 *
 * A waiting caller is woken exactly once, by the post that makes its call
 * CALL_DONE (a reply, or fail_all with the client's failure). A caller
 * that stops waiting (deadline, cancel) takes the lock: a CALL_DONE call
 * it frees itself; a queued one it unlinks and frees; a sent one it marks
 * CALL_ABANDONED, and the reader or the supervisor frees it. So a call is
 * freed exactly once and never while someone else may still touch it.
 *
 * When the connection drops, the waiting callers keep waiting: their
 * calls go back to pending (step 4) and are written again when a new
 * connection is up, or fail with REDIS_EDOWN when none comes within the
 * timeout, or REDIS_EAUTH when the password is refused on reconnect.
 *
 * Rejected: hiredis's own connection (redisContext) on a thread of its
 * own: it would block a thread per client in connect and read, and the
 * crawler's tasks would wait on it through a second hand-off. A lock held
 * across the send, letting callers write directly: a caller parked in a
 * slow send would hold every other caller, and the reader would still
 * need the order of the writes.
 */
#define _GNU_SOURCE
#include "redis.h"

#include "resp.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH_MAX (64 * 1024) /* bytes of commands written in one send at most */
#define READ_CHUNK 16384      /* bytes read at once */
#define IDLE_POLL_MS 1000     /* the reader looks at the in-flight queue this often */
#define BACKOFF_FIRST_MS 25   /* the first wait before reconnecting */
#define BACKOFF_MAX_MS 2000   /* the longest */

enum call_state { CALL_QUEUED, CALL_SENT, CALL_ABANDONED, CALL_DONE };

struct redis_call {
  struct redis_call *next; /* under lock: in pending or inflight */
  struct redis *r;         /* immutable */
  char *cmd;               /* immutable: the command, formatted */
  size_t len;              /* immutable */
  int64_t sent_at;         /* under lock: weft_now() when the writer last took it */
  enum call_state state;   /* under lock */
  int err;                 /* under lock, with CALL_DONE: 0 or the client's failure */
  redisReply *reply;       /* under lock, with CALL_DONE: the reply when err is 0 */
  weft_sem *done;          /* posted once, under lock, when state becomes CALL_DONE */
};

/* A FIFO of calls. */
struct callq {
  struct redis_call *head;
  struct redis_call **tail;
};

struct redis {
  char *host;            /* immutable */
  char *port;            /* immutable */
  char *password;        /* immutable: REDISCLI_AUTH, or NULL */
  int64_t timeout_ms;    /* immutable */
  pthread_mutex_t lock;  /* guards the fields marked so; never held across a switch */
  struct callq pending;  /* under lock (see the pipeline protocol) */
  struct callq inflight; /* under lock */
  int failed;            /* under lock: 0, else the error every call gets */
  char why[256];         /* written under lock before failed is set; constant after */
  weft_sem *work;        /* posted when pending turns non-empty: wakes the writer */
  weft_sem *up;          /* posted once by the supervisor: first connection up, or failed */
  weft_wg *users;        /* calls between redis_submit and the end of redis_wait */
  weft_task *supervisor; /* redis_open and redis_close only */
  uint64_t seed;         /* supervisor only: the backoff's jitter */
  atomic_uint_fast64_t commands, sends, replies, connects; /* any thread (redis_stats) */
};

/* One connection's session: what the writer and reader share with the
 * supervisor, each field written by the task named. */
struct session {
  struct redis *r;
  weft_sock *sock;
  int writer_err;       /* writer: why it stopped */
  int reader_err;       /* reader: why it stopped */
  char reader_why[128]; /* reader: in words, when not a socket error */
  int64_t stuck_since;  /* reader: when the unanswered call it gave up on was sent, or 0 */
  atomic_uint replies;  /* reader: replies delivered in this session */
};

/* Internal reasons for a session or handshake to end (never returned). */
#define ELOADING (-5010) /* Redis is loading its data set */
#define EPROTO_ (-5011)  /* a reply that is not RESP, or that nobody asked for */

static void callq_init(struct callq *q) {
  q->head = NULL;
  q->tail = &q->head;
}

static void callq_push(struct callq *q, struct redis_call *c) {
  c->next = NULL;
  *q->tail = c;
  q->tail = &c->next;
}

static struct redis_call *callq_pop(struct callq *q) {
  struct redis_call *c = q->head;
  if (c && !(q->head = c->next))
    q->tail = &q->head;
  return c;
}

/* Take c out of q; whether it was there. */
static int callq_unlink(struct callq *q, struct redis_call *c) {
  struct redis_call **p;
  for (p = &q->head; *p; p = &(*p)->next) {
    if (*p == c) {
      *p = c->next;
      if (!*p)
        q->tail = p;
      return 1;
    }
  }
  return 0;
}

static void call_free(struct redis_call *c) {
  if (c->reply)
    freeReplyObject(c->reply);
  weft_sem_free(c->done);
  redisFreeCommand(c->cmd);
  free(c);
}

/* Free a list of calls linked by next (taken out of the queues). */
static void call_free_list(struct redis_call *c) {
  struct redis_call *next;
  for (; c; c = next) {
    next = c->next;
    call_free(c);
  }
}

/* Under lock: the call is answered (reply, or err). Wakes its caller, or
 * puts an abandoned call on *drop for the caller of this to free. */
static void call_finish(struct redis_call *c, redisReply *reply, int err,
                        struct redis_call **drop) {
  if (c->state == CALL_ABANDONED) {
    if (reply)
      freeReplyObject(reply);
    c->next = *drop;
    *drop = c;
    return;
  }
  c->state = CALL_DONE;
  c->reply = reply;
  c->err = err;
  weft_sem_post(c->done);
}

/* ---- the pipeline's three parties ---- */

/* The writer: moves batches from pending to inflight, then writes them
 * (the pipeline protocol, step 1). Returns why it stopped. May switch. */
static int redis_writer(void *arg) {
  struct session *s = arg;
  struct redis *r = s->r;
  char *buf = NULL;
  size_t cap = 0, len;
  int rc, oom;
  for (;;) {
    struct redis_call *c;
    len = 0;
    oom = 0;
    pthread_mutex_lock(&r->lock);
    while ((c = r->pending.head) && (len == 0 || len + c->len <= BATCH_MAX)) {
      if (len + c->len > cap) {
        size_t ncap = len + c->len > BATCH_MAX ? len + c->len : BATCH_MAX;
        char *nbuf = realloc(buf, ncap);
        if (!nbuf) {
          oom = 1; /* send what fits; a later round retries */
          break;
        }
        buf = nbuf;
        cap = ncap;
      }
      callq_pop(&r->pending);
      memcpy(buf + len, c->cmd, c->len);
      len += c->len;
      c->state = CALL_SENT;
      c->sent_at = weft_now();
      callq_push(&r->inflight, c);
    }
    pthread_mutex_unlock(&r->lock);
    if (len == 0) {
      if (oom) { /* no room for even one command: wait, retry */
        if ((rc = weft_sleep(10)) != 0)
          break;
        continue;
      }
      if ((rc = weft_sem_wait(r->work, -1)) != 0)
        break;
      continue;
    }
    atomic_fetch_add(&r->sends, 1);
    if ((rc = weft_send(s->sock, buf, len, -1)) != 0)
      break;
  }
  free(buf);
  s->writer_err = rc;
  return rc;
}

/* The reader's step 2: hand reply to the head of inflight. Returns 0, or
 * ELOADING (the call stays at the head, to be sent again) or EPROTO_. */
static int redis_deliver(struct session *s, redisReply *reply) {
  struct redis *r = s->r;
  struct redis_call *c, *drop = NULL;
  if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "LOADING", 7) == 0) {
    snprintf(s->reader_why, sizeof s->reader_why, "%s", reply->str);
    freeReplyObject(reply);
    return ELOADING;
  }
  pthread_mutex_lock(&r->lock);
  c = callq_pop(&r->inflight);
  if (c) {
    /* Counted before the caller wakes: a caller that reads redis_stats
     * right after its reply must see that reply counted. */
    atomic_fetch_add(&r->replies, 1);
    atomic_fetch_add(&s->replies, 1);
    call_finish(c, reply, 0, &drop);
  }
  pthread_mutex_unlock(&r->lock);
  if (!c) {
    snprintf(s->reader_why, sizeof s->reader_why, "a reply to no command");
    freeReplyObject(reply);
    return EPROTO_;
  }
  call_free_list(drop);
  return 0;
}

/* The deadline of the reader's next receive: the oldest unanswered
 * call's send + the timeout, or a poll when nothing is in flight. */
static int64_t reader_deadline(struct redis *r, int64_t *head_sent) {
  int64_t now = weft_now();
  pthread_mutex_lock(&r->lock);
  *head_sent = r->inflight.head ? r->inflight.head->sent_at : -1;
  pthread_mutex_unlock(&r->lock);
  return *head_sent >= 0 ? *head_sent + r->timeout_ms : now + IDLE_POLL_MS;
}

/* The reader: reads replies and delivers each (the pipeline protocol,
 * step 2). Returns why it stopped. May switch. */
static int redis_reader(void *arg) {
  struct session *s = arg;
  struct redis *r = s->r;
  redisReader *rd = resp_reader_new();
  char *buf = malloc(READ_CHUNK);
  int rc = 0;
  if (!rd || !buf) {
    rc = WEFT_ENOMEM;
    goto out;
  }
  while (rc == 0) {
    int64_t head_sent, deadline = reader_deadline(r, &head_sent);
    ssize_t n = weft_recv(s->sock, buf, READ_CHUNK, deadline);
    void *reply;
    if (n == WEFT_ETIMEDOUT) {
      if (head_sent >= 0 && weft_now() >= head_sent + r->timeout_ms) {
        s->stuck_since = head_sent;
        snprintf(s->reader_why, sizeof s->reader_why, "no reply for %" PRId64 " ms", r->timeout_ms);
        rc = WEFT_ETIMEDOUT;
      }
      continue;
    }
    if (n <= 0) {
      rc = n == 0 ? WEFT_ECONNRESET : (int)n;
      if (n == 0)
        snprintf(s->reader_why, sizeof s->reader_why, "Redis closed the connection");
      break;
    }
    if (redisReaderFeed(rd, buf, (size_t)n) != REDIS_OK) {
      rc = WEFT_ENOMEM;
      break;
    }
    while (rc == 0) {
      if (redisReaderGetReply(rd, &reply) != REDIS_OK) {
        snprintf(s->reader_why, sizeof s->reader_why, "bad reply: %.100s", resp_reader_error(rd));
        rc = EPROTO_;
      } else if (!reply) {
        break;
      } else {
        rc = redis_deliver(s, reply);
      }
    }
  }
out:
  if (rd)
    redisReaderFree(rd);
  free(buf);
  s->reader_err = rc;
  return rc;
}

/* ---- the supervisor ---- */

/* Describe err (a socket or session error) for the client's messages. */
static const char *session_words(int err, const char *why) {
  if (why && why[0])
    return why;
  if (err == WEFT_ECONNRESET)
    return "connection reset";
  if (err == WEFT_ECONNREFUSED)
    return "connection refused";
  return weft_strerror(err);
}

/* The handshake (the pipeline protocol, step 3): AUTH with the password
 * if there is one, then PING, written at once; their replies read here.
 * Returns 0, REDIS_EAUTH (fatal), ELOADING, or another error (transient);
 * why says what went wrong. May switch. */
static int redis_handshake(struct redis *r, weft_sock *sock, int64_t deadline, char *why,
                           size_t whylen) {
  const char *auth[2] = {"AUTH", r->password};
  const char *ping[1] = {"PING"};
  char *a = NULL, *p = NULL, *both = NULL, buf[512];
  int alen = 0, plen, want = r->password ? 2 : 1, got = 0, rc;
  redisReader *rd = resp_reader_new();
  if (r->password && (alen = redisFormatCommandArgv(&a, 2, auth, NULL)) < 0)
    a = NULL;
  plen = redisFormatCommandArgv(&p, 1, ping, NULL);
  if (!rd || plen < 0 || (r->password && !a) || !(both = malloc((size_t)alen + (size_t)plen))) {
    rc = WEFT_ENOMEM;
    snprintf(why, whylen, "out of memory");
    goto out;
  }
  if (alen > 0)
    memcpy(both, a, (size_t)alen);
  memcpy(both + alen, p, (size_t)plen);
  if ((rc = weft_send(sock, both, (size_t)alen + (size_t)plen, deadline)) != 0) {
    snprintf(why, whylen, "%s", session_words(rc, NULL));
    goto out;
  }
  while (got < want) {
    redisReply *reply;
    ssize_t n = weft_recv(sock, buf, sizeof buf, deadline);
    if (n <= 0) {
      rc = n == 0 ? WEFT_ECONNRESET : (int)n;
      snprintf(why, whylen, "%s", n == 0 ? "Redis closed the connection" : session_words(rc, NULL));
      goto out;
    }
    redisReaderFeed(rd, buf, (size_t)n);
    while (got < want) {
      if (redisReaderGetReply(rd, (void **)&reply) != REDIS_OK) {
        rc = EPROTO_;
        snprintf(why, whylen, "bad reply: %.100s", resp_reader_error(rd));
        goto out;
      }
      if (!reply)
        break;
      got++;
      if (reply->type == REDIS_REPLY_ERROR) {
        int auth_reply = r->password && got == 1;
        if (auth_reply) {
          rc = REDIS_EAUTH;
          snprintf(why, whylen, "the password in REDISCLI_AUTH was refused: %s", reply->str);
        } else if (strncmp(reply->str, "NOAUTH", 6) == 0) {
          rc = REDIS_EAUTH;
          snprintf(why, whylen, "a password is needed (set REDISCLI_AUTH): %s", reply->str);
        } else {
          rc = strncmp(reply->str, "LOADING", 7) == 0 ? ELOADING : EPROTO_;
          snprintf(why, whylen, "%s", reply->str);
        }
        freeReplyObject(reply);
        goto out;
      }
      freeReplyObject(reply);
    }
  }
  rc = 0;
out:
  if (rd)
    redisReaderFree(rd);
  free(both);
  redisFreeCommand(a);
  redisFreeCommand(p);
  return rc;
}

/* Connect and shake hands until deadline. Returns 0 with *out, or an
 * error as redis_handshake; why says what went wrong. May switch. */
static int redis_connect(struct redis *r, weft_sock **out, int64_t deadline, char *why,
                         size_t whylen) {
  weft_sock *sock;
  int rc = weft_tcp_connect(&sock, r->host, r->port, deadline);
  if (rc != 0) {
    snprintf(why, whylen, "%s", session_words(rc, NULL));
    return rc;
  }
  if ((rc = redis_handshake(r, sock, deadline, why, whylen)) != 0) {
    weft_sock_close(sock);
    return rc;
  }
  *out = sock;
  return 0;
}

/* Run one session on sock (the writer and the reader in a scope) until
 * the connection fails or the supervisor is cancelled. Returns the
 * session's error; *s says the rest. May switch. */
static int redis_session(struct redis *r, weft_sock *sock, struct session *s) {
  weft_scope *scope;
  int rc;
  memset(s, 0, sizeof *s);
  s->r = r;
  s->sock = sock;
  if ((rc = weft_scope_new(&scope)) != 0)
    return rc;
  if ((rc = weft_scope_go(scope, redis_writer, s)) == 0 &&
      (rc = weft_scope_go(scope, redis_reader, s)) == 0)
    rc = weft_scope_wait(scope, -1);
  weft_scope_free(scope);
  return rc;
}

/* Step 4 of the pipeline protocol: the unanswered calls go back to the
 * head of pending, abandoned ones are dropped. Supervisor only, between
 * sessions. Returns whether any call is waiting. */
static int redis_requeue(struct redis *r) {
  struct redis_call *c, *drop = NULL;
  struct callq q;
  int waiting;
  callq_init(&q);
  pthread_mutex_lock(&r->lock);
  while ((c = callq_pop(&r->inflight))) {
    if (c->state == CALL_ABANDONED) {
      c->next = drop;
      drop = c;
      continue;
    }
    c->state = CALL_QUEUED;
    callq_push(&q, c);
  }
  if (q.head) {
    *q.tail = r->pending.head;
    if (r->pending.head)
      q.tail = r->pending.tail;
    r->pending = q;
  }
  waiting = r->pending.head != NULL;
  pthread_mutex_unlock(&r->lock);
  call_free_list(drop);
  return waiting;
}

/* Fail the client: every call waiting and every later one gets err, why
 * in words. Supervisor only, after its last session. */
static void redis_fail(struct redis *r, int err, const char *why) {
  struct redis_call *c, *drop = NULL;
  pthread_mutex_lock(&r->lock);
  snprintf(r->why, sizeof r->why, "%s", why);
  r->failed = err;
  while ((c = callq_pop(&r->inflight)))
    call_finish(c, NULL, err, &drop);
  while ((c = callq_pop(&r->pending)))
    call_finish(c, NULL, err, &drop);
  pthread_mutex_unlock(&r->lock);
  call_free_list(drop);
}

/* The wait before reconnect attempt n (0, 1, ...): BACKOFF_FIRST_MS
 * doubled n times up to BACKOFF_MAX_MS, less a random part of up to half
 * ("equal jitter"), so clients that lost the same server spread out. */
static int64_t redis_backoff(struct redis *r, unsigned n) {
  int64_t d = BACKOFF_FIRST_MS;
  uint64_t x = r->seed;
  while (n-- > 0 && d < BACKOFF_MAX_MS)
    d *= 2;
  if (d > BACKOFF_MAX_MS)
    d = BACKOFF_MAX_MS;
  x ^= x << 13; /* xorshift64 */
  x ^= x >> 7;
  x ^= x << 17;
  r->seed = x;
  return d - (int64_t)(x % (uint64_t)(d / 2 + 1));
}

static void redis_announce(struct redis *r, int *announced) {
  if (!*announced) {
    *announced = 1;
    weft_sem_post(r->up);
  }
}

/* The supervisor task (see the top of this file). down_since is when the
 * client last became unable to serve its calls: the open, a connection
 * lost, or the send of a call that got no reply. */
static void *redis_supervise(void *arg) {
  struct redis *r = arg;
  struct session s;
  int64_t down_since = weft_now();
  unsigned attempt = 0;
  int announced = 0, rc, err = REDIS_EDOWN;
  char why[200] = "", tried[200], msg[256];
  for (;;) {
    weft_sock *sock;
    rc = redis_connect(r, &sock, down_since + r->timeout_ms, tried, sizeof tried);
    /* A last try cut short by the deadline keeps the reason of the one
     * before ("connection refused" says more than "deadline passed"). */
    if (rc != WEFT_ETIMEDOUT || !why[0])
      memcpy(why, tried, sizeof why);
    if (rc == 0) {
      atomic_fetch_add(&r->connects, 1);
      redis_announce(r, &announced);
      rc = redis_session(r, sock, &s);
      weft_sock_close(sock);
      int waiting = redis_requeue(r);
      if (rc == WEFT_ECANCELED && weft_canceled())
        break;
      int e = s.reader_err && s.reader_err != WEFT_ECANCELED ? s.reader_err : s.writer_err;
      snprintf(why, sizeof why, "%s", session_words(e, s.reader_err == e ? s.reader_why : NULL));
      /* A session that served its calls, or had none to serve, starts the
       * count afresh; one that delivered nothing keeps the old count. */
      if (s.stuck_since > 0) {
        down_since = s.stuck_since;
      } else if (atomic_load(&s.replies) > 0 || !waiting) {
        down_since = weft_now();
        attempt = 0;
        if (e != ELOADING)
          continue; /* reconnect at once */
      }
    } else if (rc == REDIS_EAUTH) {
      err = REDIS_EAUTH;
      break;
    } else if (rc == WEFT_ECANCELED && weft_canceled()) {
      break;
    }
    if (weft_now() - down_since >= r->timeout_ms) {
      rc = REDIS_EDOWN;
      break;
    }
    int64_t until = weft_now() + redis_backoff(r, attempt++);
    if (until > down_since + r->timeout_ms)
      until = down_since + r->timeout_ms;
    if (weft_sleep_until(until) == WEFT_ECANCELED) {
      rc = WEFT_ECANCELED;
      break;
    }
  }
  if (rc == WEFT_ECANCELED) {
    err = REDIS_ECLOSED;
    snprintf(msg, sizeof msg, "the client of Redis at %s:%s was closed", r->host, r->port);
  } else if (err == REDIS_EAUTH) {
    snprintf(msg, sizeof msg, "Redis at %s:%s: %s", r->host, r->port, why);
  } else {
    snprintf(msg, sizeof msg, "Redis at %s:%s unreachable for %" PRId64 " ms: %s", r->host, r->port,
             r->timeout_ms, why);
  }
  redis_fail(r, err, msg);
  redis_announce(r, &announced);
  return NULL;
}

/* ---- the API ---- */

static void redis_free(struct redis *r) {
  weft_sem_free(r->work);
  weft_sem_free(r->up);
  weft_wg_free(r->users);
  pthread_mutex_destroy(&r->lock);
  free(r->host);
  free(r->port);
  free(r->password);
  free(r);
}

static struct redis *redis_new(const char *host, const char *port, int64_t timeout_ms) {
  struct redis *r = calloc(1, sizeof *r);
  const char *pw = getenv("REDISCLI_AUTH");
  if (!r)
    return NULL;
  pthread_mutex_init(&r->lock, NULL);
  callq_init(&r->pending);
  callq_init(&r->inflight);
  r->timeout_ms = timeout_ms > 0 ? timeout_ms : REDIS_TIMEOUT_MS;
  r->seed = (uint64_t)(uintptr_t)r ^ ((uint64_t)weft_now() << 20) ^ (uint64_t)getpid() ^ 1;
  r->host = strdup(host);
  r->port = strdup(port);
  r->password = pw && pw[0] ? strdup(pw) : NULL;
  if (!r->host || !r->port || (pw && pw[0] && !r->password) || weft_sem_new(&r->work, 0) ||
      weft_sem_new(&r->up, 0) || weft_wg_new(&r->users)) {
    redis_free(r);
    return NULL;
  }
  return r;
}

int redis_open(struct redis **out, const char *host, const char *port, int64_t timeout_ms,
               char *err, size_t errlen) {
  struct redis *r;
  int rc;
  char spare[8];
  if (!err || !errlen) {
    err = spare;
    errlen = sizeof spare;
  }
  err[0] = '\0';
  if (!out || !host || !port) {
    snprintf(err, errlen, "redis_open: no host or port");
    return WEFT_EINVAL;
  }
  if (!(r = redis_new(host, port, timeout_ms))) {
    snprintf(err, errlen, "out of memory");
    return WEFT_ENOMEM;
  }
  if ((rc = weft_spawn(&r->supervisor, redis_supervise, r)) != 0) {
    snprintf(err, errlen, "cannot start the Redis client: %s", weft_strerror(rc));
    redis_free(r);
    return rc;
  }
  if ((rc = weft_sem_wait(r->up, -1)) == 0) {
    pthread_mutex_lock(&r->lock);
    rc = r->failed;
    pthread_mutex_unlock(&r->lock);
  } else {
    snprintf(err, errlen, "cancelled while connecting to Redis at %s:%s", host, port);
  }
  if (rc != 0) {
    if (rc != WEFT_ECANCELED)
      snprintf(err, errlen, "%s", r->why);
    redis_close(r);
    return rc;
  }
  *out = r;
  return 0;
}

int redis_submit(struct redis *r, struct redis_call **out, int argc, const char **argv,
                 const size_t *argvlen) {
  struct redis_call *c;
  int len, rc;
  if (!r || !out || argc <= 0 || !argv)
    return WEFT_EINVAL;
  if (!(c = calloc(1, sizeof *c)))
    return WEFT_ENOMEM;
  c->r = r;
  if ((len = redisFormatCommandArgv(&c->cmd, argc, argv, argvlen)) < 0 ||
      weft_sem_new(&c->done, 0) != 0) {
    redisFreeCommand(c->cmd);
    free(c);
    return WEFT_ENOMEM;
  }
  c->len = (size_t)len;
  weft_wg_add(r->users, 1);
  pthread_mutex_lock(&r->lock);
  if ((rc = r->failed) == 0) {
    int was_empty = r->pending.head == NULL;
    c->state = CALL_QUEUED;
    callq_push(&r->pending, c);
    if (was_empty)
      weft_sem_post(r->work);
  }
  pthread_mutex_unlock(&r->lock);
  if (rc != 0) {
    call_free(c);
    weft_wg_done(r->users);
    return rc;
  }
  atomic_fetch_add(&r->commands, 1);
  *out = c;
  return 0;
}

int redis_wait(struct redis_call *c, redisReply **reply, int64_t deadline) {
  struct redis *r;
  int rc, mine = 1;
  if (!c || !reply)
    return WEFT_EINVAL;
  r = c->r;
  *reply = NULL;
  rc = weft_sem_wait(c->done, deadline);
  pthread_mutex_lock(&r->lock);
  if (c->state == CALL_DONE) { /* answered, maybe just after the wait gave up */
    rc = c->err;
    *reply = c->reply;
    c->reply = NULL;
  } else if (c->state == CALL_QUEUED) {
    callq_unlink(&r->pending, c);
  } else {
    c->state = CALL_ABANDONED; /* the reader or the supervisor frees it */
    mine = 0;
  }
  pthread_mutex_unlock(&r->lock);
  if (mine)
    call_free(c);
  weft_wg_done(r->users);
  return rc;
}

int redis_command(struct redis *r, redisReply **reply, int argc, const char **argv,
                  const size_t *argvlen, int64_t deadline) {
  struct redis_call *c;
  int rc = redis_submit(r, &c, argc, argv, argvlen);
  if (rc != 0) {
    if (reply)
      *reply = NULL;
    return rc;
  }
  return redis_wait(c, reply, deadline);
}

const char *redis_strerror(struct redis *r, int err) {
  switch (err) {
  case REDIS_EDOWN:
  case REDIS_EAUTH:
    if (r && r->why[0]) /* constant once failed is set, which a call returning it saw */
      return r->why;
    return err == REDIS_EDOWN ? "Redis unreachable" : "Redis refused the password";
  case REDIS_ECLOSED:
    return "the Redis client was closed";
  default:
    return weft_strerror(err);
  }
}

int64_t redis_timeout_ms(const struct redis *r) {
  return r->timeout_ms;
}

void redis_stats(struct redis *r, struct redis_stats *st) {
  st->commands = atomic_load(&r->commands);
  st->sends = atomic_load(&r->sends);
  st->replies = atomic_load(&r->replies);
  st->connects = atomic_load(&r->connects);
}

void redis_close(struct redis *r) {
  int shield;
  if (!r)
    return;
  shield = weft_cancel_shield(1);
  weft_cancel(r->supervisor);
  weft_join(r->supervisor, NULL); /* it fails what is left with REDIS_ECLOSED */
  weft_wg_wait(r->users, -1);
  weft_cancel_shield(shield);
  redis_free(r);
}
