/*
 * shared.h - one crawl's frontier in Redis, shared by every fetch process
 * that names it (--crawl NAME): the seen set, the per-host queues, the
 * hosts' pacing and in-flight caps, the leases of claimed URLs, the page
 * counter of -n, and the end of the crawl. docs/redis.md describes the
 * keys and what each script does atomically.
 *
 * Every update is one Lua script, run by EVALSHA over a redis.h client
 * (loaded again on NOSCRIPT, as after a Redis restart), with Redis's own
 * clock for every time it stores, so the processes' clocks need not
 * agree. A script the client sends twice (a connection lost before its
 * reply) does no harm: an add finds its URL seen, a claim finds its lease
 * and returns the same entry, a complete finds its tombstone.
 *
 * How a crawler uses it: shared_add the start URLs; then in each crawler
 * task loop on shared_claim: CLAIMED, fetch the entry's URL, shared_add
 * the URLs the page produced, then shared_complete (in that order: while
 * the lease is live nobody sees the crawl as finished, so links added
 * before completing are never missed); SHARED_WAIT, sleep that long (or
 * less) and claim again; SHARED_FINISHED or SHARED_LIMIT, stop. On
 * shutdown, shared_release what was claimed and not fetched.
 */
#ifndef FETCH_SHARED_H
#define FETCH_SHARED_H

#include "redis.h"

#include <stddef.h>
#include <stdint.h>

struct shared;

/* shared_claim's outcomes (positive). */
#define SHARED_CLAIMED 1 /* *e holds a URL and its lease */
#define SHARED_WAIT                                                                                \
  2                       /* nothing claimable for *wait_ms: hosts paced or at their cap,          \
                             leases live, or -n filled by live leases */
#define SHARED_FINISHED 3 /* every queue empty and no lease live: the crawl is over */
#define SHARED_LIMIT 4    /* -n pages have been completed: claim nothing more */

/* shared_complete and shared_release: the lease expired and its URL went
 * back to the queue (another process may have it now): drop the result. */
#define SHARED_LOST 1

/* Errors (negative, distinct from the WEFT_E* and REDIS_E* codes). */
#define SHARED_ECONFLICT (-5101) /* the crawl exists with other options */
#define SHARED_EFOREIGN (-5102)  /* the crawl's keys hold other data */
#define SHARED_EREPLY (-5103)    /* a script failed or answered what it should not */

#define SHARED_LEASE_MS 30000 /* the default lease */

/* How a crawl is opened. */
struct shared_config {
  const char *name;    /* --crawl NAME: 1-64 of [A-Za-z0-9._-] */
  const char *options; /* the crawl's options, "name=value" lines ('\n'-separated); names
                          of [a-z0-9_-], values without a newline; may be NULL */
  long per_host;       /* --per-host: leases of one host live at once at most; 0: no cap */
  long delay_ms;       /* --delay: a host's default pacing delay */
  long max_pages;      /* -n: pages completed and leased at most; 0: no limit */
  int64_t lease_ms;    /* how long a claim is this process's; 0: SHARED_LEASE_MS */
};

/* A claimed URL. */
struct shared_entry {
  char *host;       /* the host key it was queued under (malloc'd) */
  char *url;        /* (malloc'd) */
  int depth;        /* as added */
  int flags;        /* as added (0-65535) */
  int64_t lease_ms; /* the lease's time left when claimed */
  char lease[64];   /* the lease's id */
  int64_t deadline; /* weft_now() time by which the lease surely still holds (set by
                       shared_claim and shared_renew from the time they sent the script) */
  int64_t last_sent; /* the caller's: weft_now() when the lease's last request returned, 0:
                        none; complete and release pace the host from it */
};

/* One URL to add. */
struct shared_url {
  const char *host; /* its host key (the crawler's "scheme://host:port") */
  const char *url;
  int depth; /* >= 0 */
  int flags; /* 0-65535, the crawler's own */
};

/* A moment's counts (one script: consistent with each other). */
struct shared_stats {
  int64_t seen;     /* URLs ever added */
  int64_t queued;   /* URLs in the queues */
  int64_t leased;   /* leases live (expired ones not yet reaped included) */
  int64_t pages;    /* leases completed and counted */
  int64_t ready;    /* hosts with a queued URL and room under their cap */
  int64_t reaped;   /* leases that expired and were requeued */
  int64_t released; /* leases given back */
  int64_t claims;   /* claims made */
};

/*
 * Open the crawl cfg->name through client r (which must outlive the
 * handle): load the scripts, and create the crawl with cfg's options
 * (per_host, delay_ms and max_pages join them as "per-host", "delay" and
 * "max-pages") unless it exists; if it does, its options must be the
 * same. Returns 0 and sets *out, or SHARED_ECONFLICT (err names each
 * option that differs, with both values), SHARED_EFOREIGN (err says which
 * key holds what), WEFT_EINVAL (a bad name, option or argument; err says
 * which), a client error (REDIS_*, WEFT_*), SHARED_EREPLY, WEFT_ENOMEM.
 * err (errlen bytes) may be NULL. May switch; inside a task.
 */
int shared_open(struct shared **out, struct redis *r, const struct shared_config *cfg, char *err,
                size_t errlen);

/* Add one URL: 1 if it was new (queued), 0 if it had been seen, or an
 * error. May switch; inside a task. */
int shared_add(struct shared *s, const char *host, const char *url, int depth, int flags);

/* Add n URLs, pipelined in a few scripts; added (may be NULL) gets 1 or 0
 * for each. Returns how many were new, or an error (some may have been
 * added then). May switch; inside a task. */
long shared_add_many(struct shared *s, const struct shared_url *urls, size_t n, int *added);

/* Set host's pacing delay for every process (the larger of --delay and
 * its robots.txt's Crawl-delay); it applies from its next claim on.
 * Returns 0 or an error. May switch; inside a task. */
int shared_set_delay(struct shared *s, const char *host, int64_t delay_ms);

/*
 * Claim the next URL: expired leases are requeued first, then the host
 * whose turn came first (its pacing time is past and its cap leaves room)
 * gives up the head of its queue, and the host's next turn is now plus
 * its delay. Returns SHARED_CLAIMED (*e filled: free with
 * shared_entry_free), SHARED_WAIT (*wait_ms: when the first host's turn
 * comes or the first lease expires, whichever is sooner; other processes
 * may add or complete sooner), SHARED_FINISHED, SHARED_LIMIT, or an
 * error. wait_ms may be NULL. May switch; inside a task.
 */
int shared_claim(struct shared *s, struct shared_entry *e, int64_t *wait_ms);

/* Extend e's lease to ms from now (<= 0: the handle's lease) if it is
 * still this process's, and move e->deadline. Returns 0, SHARED_LOST
 * (it was reaped: drop the result), or an error. May switch; inside a
 * task. */
int shared_renew(struct shared *s, struct shared_entry *e, int64_t ms);

/* The handle's lease in ms (cfg->lease_ms or SHARED_LEASE_MS). */
int64_t shared_lease_ms(const struct shared *s);

/* Add the host name to the crawl's set of start hosts (those whose links
 * are followed without --offsite). Returns 0 or an error. May switch;
 * inside a task. */
int shared_start_host(struct shared *s, const char *name);

/* Call fn with each of the crawl's start hosts; a nonzero return of fn
 * stops and is returned. Returns 0 or an error. May switch; inside a task. */
int shared_start_hosts(struct shared *s, int (*fn)(void *arg, const char *name), void *arg);

/* End e's lease: the page is done (counted toward -n when counted is
 * nonzero). With e->last_sent set, the host's next turn is at least its
 * delay after that request's start. Returns 0, SHARED_LOST (drop the result), or an error. May
 * switch; inside a task. */
int shared_complete(struct shared *s, const struct shared_entry *e, int counted);

/* Give e back unfetched, to the head of its host's queue. Returns 0,
 * SHARED_LOST, or an error. May switch; inside a task. */
int shared_release(struct shared *s, const struct shared_entry *e);

/* Read the crawl's counts. Returns 0 or an error. May switch. */
int shared_stats(struct shared *s, struct shared_stats *st);

/* Scripts loaded again after NOSCRIPT (a Redis restart) by this handle. */
uint64_t shared_reloads(struct shared *s);

/* A sentence for an error a call of s returned (the last script error
 * for SHARED_EREPLY, the client's for REDIS_*). Valid until the next
 * call of s. Any task. */
const char *shared_strerror(struct shared *s, int err);

/* Free what shared_claim put in e. */
void shared_entry_free(struct shared_entry *e);

/* Free the handle (not the crawl, nor the client). Its leases stay until
 * they expire: release them first. Never switches. */
void shared_close(struct shared *s);

#endif
