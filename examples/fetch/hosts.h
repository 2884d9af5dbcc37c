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
  weft_mutex *robots_lock; /* held while robots.txt is read: the others park on it */
  int robots_read;         /* under robots_lock: the rules below are final */
  struct robots *robots;   /* under robots_lock; read-only once robots_read (NULL: allow all) */
};

struct hosts {
  pthread_mutex_t lock; /* guards map; never held across a switch */
  struct strmap map;    /* under lock: key -> struct host * */
  long per_host;        /* immutable */
  long idle_max;        /* immutable: idle connections kept across all hosts at most */
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

/*
 * End a lease: c (may be NULL) goes back to h's idle list when reusable
 * and the table has room for it, else it is closed. Never fails and never
 * waits for anything but the socket's close, so a cancelled task may call
 * it. May switch (the close).
 */
void host_release(struct hosts *t, struct host *h, struct conn *c, int reusable);

#endif
