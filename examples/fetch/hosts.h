/*
 * hosts.h - what fetch keeps per server (scheme, host and port): a connection pool
 * with a limit on open connections, and the server's robots.txt rules.
 *
 * The pool: a request first takes a lease (host_lease, a unit of the
 * host's semaphore, --per-host of them), then an idle connection if there
 * is one or a new one, and at the end gives the connection back (idle, or
 * closed) together with the lease (host_release). A connection is only
 * opened by a lease holder when no idle one is left, so idle plus busy
 * connections never exceed --per-host.
 *
 * Pacing (--delay, robots.txt's Crawl-delay): when a host has a delay, two
 * requests to it are sent at least that long apart. Two parts keep this
 * exact without holding crawlers up:
 *  - host_pace, called by the lease holder right before it sends, and
 *    host_sent, called once the send has returned, are the guarantee:
 *    under the host's lock host_pace claims "now" as the last send only
 *    when no other claimed send is under way and now >= last send +
 *    delay, on CLOCK_MONOTONIC in microseconds; otherwise it sleeps for
 *    the difference (or a millisecond, while a send is under way) and
 *    tries again. host_sent moves the last send to the moment send(2)
 *    returned and ends the claim. Claims are totally ordered by the lock
 *    and each comes at least the delay after the previous send ended,
 *    so no two sends are closer, whatever the tasks' timing (a request
 *    that waited for a new connection still claims just before its own
 *    send). A claim alone is not enough: between it and send(2) weft_send
 *    may yield the task (its budget) and the thread may be preempted,
 *    for tens of milliseconds on a loaded machine, and the next claim
 *    must not count from a send that had not happened yet.
 *  - host_reserve spreads the waiting out: a crawler about to request a
 *    URL of a paced host takes the next free slot (one delay after the
 *    last slot given out) and, if it lies in the future, hands the URL
 *    back to the dispatcher to be offered again at that time, instead of
 *    sleeping in host_pace with a crawler held. So a paced host holds at
 *    most the crawlers whose slot has come, and the others crawl other
 *    hosts at full speed.
 */
#ifndef FETCH_HOSTS_H
#define FETCH_HOSTS_H

#include "strmap.h"
#include "tls.h"

#include <pthread.h>
#include <stdatomic.h>
#include <weft.h>

struct robots;

/* A connection to a server: plain, or TLS over the socket. */
struct conn {
  weft_sock *sock;
  struct tls *tls;   /* NULL for http: */
  struct conn *next; /* in the idle list */
};

/* Close c and free it. May switch (the socket's close); never fails. */
void conn_close(struct conn *c);

struct host {
  char *key;               /* scheme://host:port; immutable */
  struct tls_cache tls;    /* the last TLS session, for https: servers */
  weft_sem *slots;         /* one unit per connection that may be open */
  pthread_mutex_t lock;    /* guards idle; held for a few instructions, never across a switch */
  struct conn *idle;       /* under lock: idle connections, the most recently used first */
  int64_t last_send_us;    /* under lock: CLOCK_MONOTONIC of the last paced send's claim, then
                              of its end (pacing) */
  int sending;             /* under lock: a claimed send has not ended yet (pacing) */
  int64_t next_slot;       /* under lock: weft_now() of the next free start slot (pacing) */
  atomic_long delay_ms;    /* any thread: the pacing delay; set once robots.txt is read */
  weft_mutex *robots_lock; /* held while robots.txt is read: the others park on it */
  int robots_read;         /* under robots_lock: the rules below are final */
  struct robots *robots;   /* under robots_lock; read-only once robots_read (NULL: allow all) */
  char robots_why[112];    /* likewise: why robots.txt disallows everything, or "" */
  atomic_int sitemaps_offered; /* any thread: its robots.txt's sitemaps went to the frontier
                                  (--sitemaps; crawl.c sets it once, by exchange) */
};

struct hosts {
  pthread_mutex_t lock; /* guards map; never held across a switch */
  struct strmap map;    /* under lock: key -> struct host * */
  long per_host;        /* immutable */
  long idle_max;        /* immutable: idle connections kept across all hosts at most */
  long delay_ms;        /* set before the first hosts_get: a new host's pacing delay */
  atomic_long idle;     /* any thread: idle connections across all hosts */
};

/* An empty table. Returns 0. Any thread. */
int hosts_init(struct hosts *t, long per_host, long idle_max);

/* Close every idle connection and free every host. No lease may be held.
 * Inside a task (closing a socket parks briefly). */
void hosts_destroy(struct hosts *t);

/* The host named key, made on first use. NULL when out of memory. Any task. */
struct host *hosts_get(struct hosts *t, const char *key);

/* Take a lease on h, waiting while --per-host are out. Returns 0 or
 * WEFT_ECANCELED. May switch. */
int host_lease(struct host *h);

/* Under a lease: an idle connection of h, or NULL when there is none. */
struct conn *host_take_idle(struct hosts *t, struct host *h);

/* Under a lease, right before a request is sent to h: wait until h's
 * delay has passed since the last send to h ended, and claim this
 * moment. *claimed says whether it did (h has a delay); then host_sent
 * must follow the send, whatever its outcome. Returns the milliseconds
 * waited, or WEFT_ECANCELED (nothing claimed). May switch. */
int64_t host_pace(struct host *h, int *claimed);

/* After the send that host_pace claimed: it ended now. Never switches. */
void host_sent(struct host *h);

/* The weft_now() time at which a request to h may start (now, if that
 * slot is free), reserving it: the next reservation gets one delay later.
 * Never switches. */
int64_t host_reserve(struct host *h, int64_t now);

/*
 * End a lease: c (may be NULL) goes back to h's idle list when reusable
 * and the table has room for it, else it is closed. Never fails and never
 * waits for anything but the socket's close, so a cancelled task may call
 * it. May switch (the close).
 */
void host_release(struct hosts *t, struct host *h, struct conn *c, int reusable);

#endif
