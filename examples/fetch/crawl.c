/*
 * crawl.c - the crawl: its tasks, who owns what, how work flows and how
 * it ends.
 *
 * Tasks
 *
 *   dispatcher (one)  owns the frontier: the FIFO queue of URLs waiting to
 *                     be requested and the set of every URL ever queued
 *                     (so each URL is requested at most once). Nobody else
 *                     touches either, so neither has a lock.
 *   crawler (-c)      takes one URL at a time and handles it in plain
 *                     sequential code that parks on weft sockets: robots
 *                     check, GET through the host's connection pool, links.
 *                     Then it hands the record to the writer and the URLs
 *                     it found to the dispatcher.
 *   writer (one)      formats records, writes them to the output, draws
 *                     the progress line and, at the end, the summary.
 *
 * Channels
 *
 *   frontier  struct item *, unbuffered: dispatcher -> an idle crawler.
 *   events    struct event, buffered: crawler -> dispatcher, exactly one
 *             per URL taken from the frontier: "done with it, here is what
 *             it linked to", or "not yet: offer it again at time T" (its
 *             host's turn under --delay or Crawl-delay, or a retry's
 *             backoff), with the URL itself handed back.
 *   results   struct result *, buffered: crawler -> writer, one per record.
 *
 * The frontier protocol. The dispatcher loops on weft_select over two
 * cases: receive an event (always), and send the head of its queue on the
 * frontier (only while the queue is not empty and --max-pages leaves
 * room). Crawlers discover URLs faster than they consume them, so the
 * queue is unbounded and lives in the dispatcher's memory; the channels
 * only carry handoffs. This is why the crawl cannot deadlock: a crawler
 * only ever blocks sending an event to the dispatcher, and the dispatcher
 * always has the receive case armed, whatever the state of its queue.
 * (Had crawlers pushed links straight into a bounded frontier channel,
 * all of them could block on a full channel that only they drain.)
 *
 * Deferred URLs. A URL handed back waits in the dispatcher's min-heap on
 * its time (struct deferred); it is neither queued nor in flight, and no
 * crawler holds it. Before each select the dispatcher moves the URLs whose
 * time has come to the head of the queue, and the select's deadline is
 * the earliest time left, so a due URL waits at most for one handoff.
 *
 * Termination. The dispatcher counts the URLs in flight (sent on the
 * frontier, no event back yet). A crawler sends its event only after it
 * has finished with the URL, and that event carries every URL the page
 * produced, so "queue empty, nothing deferred and nothing in flight"
 * means no URL can ever appear again: the dispatcher closes the frontier,
 * the idle crawlers' receives fail with WEFT_EPIPE and they return.
 *
 * --max-pages N. The dispatcher counts records (each event says whether
 * its URL got one: a link robots.txt disallows gets none, a start URL
 * gets one saying so) and sends a URL only while records + in flight < N,
 * so at most N records are written and at most N requests made
 * (robots.txt requests aside). It ends when nothing is in flight and N
 * records exist, dropping what is queued.
 *
 * The stop protocol (SIGINT, via crawl_stop).
 *  1. Under stop_lock, unless sealed: set stopping, close the events
 *     channel and cancel the crawlers' scope (weft_scope_cancel: the
 *     crawlers running, and any the scope would start, are cancelled).
 *  2. The dispatcher wakes from its select (the receive case fails once
 *     the buffered events are drained; it also checks stopping), closes
 *     the frontier and posts finished.
 *  3. A crawler parked in a request gets WEFT_ECANCELED from its socket
 *     call and builds a "cancelled" record. It sends it to the writer if
 *     the results channel has room (a cancelled task's call that need not
 *     wait completes); if the send would wait it fails, and the record
 *     goes on the late list, under late_lock, which the writer empties
 *     after the last crawler has finished. Giving the
 *     connection back never blocks (hosts.c), so nothing leaks.
 *  4. crawl_wait waits for finished, then sets sealed under stop_lock
 *     before it waits for the crawlers' scope and frees it: a crawl_stop
 *     from then on does nothing, so weft_scope_cancel never sees a freed
 *     scope.
 *  The dispatcher itself is never cancelled: it always reaches the end of
 *  its loop and posts finished, even when stopped before it ran.
 *
 * Sitemaps (--sitemaps). A sitemap is an item of its own kind in the
 * frontier (item->sitemap > 0: its level, 1 for one a robots.txt names,
 * one more per sitemap index it was found through), so it takes a page's
 * path: the queue, the robots.txt check, pacing, retries, any crawler. The
 * first crawler past a host's robots.txt check with a page adds the
 * sitemaps that file names to the URLs it found (host->sitemaps_offered
 * picks it). The crawler that takes a sitemap GETs it whole (client_get
 * with keep_all), has it parsed on libuv's thread pool (sitemap.h: XML,
 * gzip told by its magic bytes, the protocol's limits) and offers its
 * pages at depth 1, whatever -d says, those followable() accepts; or, for
 * an index, the sitemaps it lists, one level deeper, up to
 * SITEMAP_MAX_NESTING. A redirect is followed as a page's is. The
 * dispatcher sees only their key in its seen set, "sitemap " and the URL:
 * each sitemap is read once per crawl, so an index that lists itself, or a
 * cycle of them, ends, and a URL both linked and named as a sitemap is
 * fetched once as each. A sitemap gets a record only when it fails
 * ("error":"sitemap: ...", depth 0, "links" the URLs it listed), so every
 * item still makes one event and at most one record: the frontier
 * protocol, termination, --max-pages and the stop protocol hold as they
 * are (a crawler cancelled during a parse leaves it to the pool job, which
 * owns the body and frees it all when done). Two bounds keep a site from
 * making the crawl read without end or hold all memory: sitemaps add at
 * most --max-pages URLs to a crawl, pages and sitemaps together
 * (sitemap_urls), and at most SITEMAP_READERS are read at once
 * (sitemap_slots), each holding up to SITEMAP_MAX_BYTES of body, as much
 * decompressed, and a pool thread. Rejected: the crawler that reads a
 * host's robots.txt fetching its sitemaps itself. It would read an index
 * of thousands of sitemaps one by one, holding its page's event and every
 * URL found until the last; pacing, retries and cancellation would need
 * doing again; and the set of sitemaps read would be shared by crawlers,
 * under a lock.
 */
#define _GNU_SOURCE
#include "crawl.h"

#include "buf.h"
#include "client.h"
#include "hosts.h"
#include "links.h"
#include "record.h"
#include "robots.h"
#include "sitemap.h"
#include "strmap.h"
#include "url.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft.h>

#define MAX_REDIRECTS 5              /* hops followed from one URL */
#define ROBOTS_MAX_BODY (512 * 1024) /* RFC 9309 asks for at least 500 KiB */
#define EVENTS_CAP 256
#define RESULTS_CAP 256
#define CRAWLER_STACK (512 * 1024)
#define FLUSH_AT (64 * 1024) /* output bytes buffered at most */
#define PROGRESS_MS 250      /* redraw interval of the progress line */
#define AGAIN 1              /* process, request: the URL goes back to the dispatcher */
#define SITEMAP_MAX_NESTING 4 /* a sitemap index this deep (1: robots.txt's) is not followed */
#define SITEMAP_READERS 2     /* sitemaps read at once (see Sitemaps) */

/* A URL to request. */
struct item {
  struct item *next; /* in the queue, or in a list of URLs found */
  int depth;
  int hops;          /* redirects followed to reach it */
  int start;         /* a start URL: it gets a record even if robots.txt disallows it */
  int attempts;      /* requests made for it so far (retries) */
  int resends;       /* and sent again on a new connection (client.h, resent) */
  int reserved;      /* it holds its host's start slot (see hosts.h, pacing) */
  int64_t not_before; /* handed back: offer it again at this weft_now() time */
  int sitemap;        /* 0: a page; else a sitemap, at this level of nesting (see Sitemaps) */
  const char *error; /* static: record this error without a request */
  char url[];        /* normalised, or as given when error is set */
};

struct item_list {
  struct item *head, **tail;
};

/* Crawler -> dispatcher: done with one URL, or handing it back. */
struct event {
  struct item *found; /* URLs it linked or redirected to, to offer the queue */
  struct item *again; /* or NULL: the URL itself, to offer again at again->not_before */
  int recorded;       /* it got a record */
};

/* Crawler -> writer: one record. */
struct result {
  struct result *next; /* on the late list */
  char *url;
  char *redirect; /* or NULL */
  int status, depth, attempts;
  uint64_t bytes, wire_bytes;
  int64_t ms;
  size_t links;
  const char *tls;   /* or NULL: the protocol of an https: response (static) */
  const char *error; /* or NULL; points to errbuf */
  char errbuf[128];
};

struct crawl {
  const struct options *o;   /* immutable */
  int out_fd;                /* set by crawl_start; then writer only */
  int progress;              /* immutable: draw the progress line */
  struct hosts hosts;        /* any task (its own locks) */
  struct client client;      /* immutable */
  struct strmap start_hosts; /* the start URLs' host names; read-only after crawl_start */
  struct item_list seeds; /* the start URLs: main task until crawl_start, then the dispatcher's */
  weft_chan *frontier;    /* struct item *, unbuffered: dispatcher -> crawlers */
  weft_chan *events;      /* struct event: crawlers -> dispatcher */
  weft_chan *results;     /* struct result *: crawlers -> writer */
  weft_sem *finished;     /* posted once, by the dispatcher as it ends */
  weft_task *dispatcher;  /* main task only (spawn, join) */
  weft_task *writer;      /* main task only */
  weft_scope *crawlers;   /* the crawler tasks; owned by the main task */
  long ncrawlers;         /* started; fixed once crawl_start returns */
  pthread_mutex_t stop_lock; /* the stop protocol: guards stopped, sealed */
  int stopped;               /* under stop_lock: crawl_stop has run */
  int sealed;                /* under stop_lock: crawl_wait is joining; stop does nothing */
  atomic_int stopping;       /* any thread: set by crawl_stop, read by the dispatcher */
  pthread_mutex_t late_lock; /* guards late */
  struct result *late;       /* under late_lock: records a cancelled crawler could not hand over */
  atomic_long queued;        /* written by the dispatcher, read by the writer: progress line */
  atomic_long in_flight;     /* likewise */
  atomic_long disallowed;    /* any task: URLs robots.txt kept fetch from, for the progress line */
  atomic_long sitemap_urls;  /* any crawler: URLs offered from sitemaps, at most --max-pages */
  weft_sem *sitemap_slots;   /* SITEMAP_READERS units: one held while a sitemap is read */
  int64_t started;           /* weft_now() at crawl_start; immutable after */
  unsigned long pages;       /* writer only (then crawl_wait, after the join): records written */
  unsigned long errors;      /* writer only: records with an error */
  uint64_t bytes;            /* writer only: body bytes of all records */
  int write_failed;          /* writer only */
};

/* ---- items and results ---- */

static struct item *item_new(const char *url, int depth, int hops, const char *error) {
  size_t n = strlen(url) + 1;
  struct item *it = malloc(sizeof *it + n);
  if (!it)
    return NULL;
  it->next = NULL;
  it->depth = depth;
  it->hops = hops;
  it->start = 0;
  it->attempts = 0;
  it->resends = 0;
  it->reserved = 0;
  it->not_before = 0;
  it->sitemap = 0;
  it->error = error;
  memcpy(it->url, url, n);
  return it;
}

static void items_free(struct item *it) {
  while (it) {
    struct item *next = it->next;
    free(it);
    it = next;
  }
}

static void list_init(struct item_list *l) {
  l->head = NULL;
  l->tail = &l->head;
}

static void list_push(struct item_list *l, struct item *it) {
  if (!it)
    return; /* out of memory: the URL is dropped */
  it->next = NULL;
  *l->tail = it;
  l->tail = &it->next;
}

static struct result *result_new(const struct item *it) {
  struct result *r = calloc(1, sizeof *r);
  if (r && !(r->url = strdup(it->url))) {
    free(r);
    return NULL;
  }
  if (r) {
    r->depth = it->depth;
    r->attempts = it->attempts; /* request() counts its own */
  }
  return r;
}

static void result_free(struct result *r) {
  free(r->url);
  free(r->redirect);
  free(r);
}

static struct result *set_error(struct result *r, const char *why) {
  snprintf(r->errbuf, sizeof r->errbuf, "%s", why);
  r->error = r->errbuf;
  return r;
}

/* ---- one URL (crawler tasks) ---- */

static int is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* Whether url is crawled: http or https with a host, on a start host (by
 * name: another port or scheme of it counts, as an http: site that moved
 * to https: must) unless --offsite. */
static int followable(const struct crawl *c, const char *url) {
  struct url u;
  int ok;
  if (!url_is_scheme(url, "http") && !url_is_scheme(url, "https"))
    return 0;
  ok = url_split(url, &u) == 0 && (c->o->offsite || strmap_has(&c->start_hosts, u.host));
  url_parts_free(&u);
  return ok && cli_url_wanted(c->o, url);
}

/* Nothing on h may be requested: its robots.txt could not be read, for
 * the reason why (RFC 9309, 2.3.1.4: a server error or an unreachable
 * server means complete disallow). Under h->robots_lock. */
static void deny_all(struct host *h, const char *why) {
  static const char all[] = "User-agent: *\nDisallow: /\n";
  h->robots = robots_parse(all, sizeof all - 1, CRAWL_AGENT);
  snprintf(h->robots_why, sizeof h->robots_why, "%s", why);
}

/* h's pacing delay once its robots.txt is read: the larger of --delay and
 * its Crawl-delay, which --max-crawl-delay caps. The next request's slot
 * comes one delay after the robots.txt request, so the first page waits
 * in the frontier rather than in a crawler. Under h->robots_lock. */
static void set_delay(struct crawl *c, struct host *h) {
  long crawl_delay = robots_crawl_delay_ms(h->robots), delay = c->o->delay_ms;
  if (crawl_delay > c->o->max_crawl_delay_ms)
    crawl_delay = c->o->max_crawl_delay_ms;
  atomic_store(&h->delay_ms, crawl_delay > delay ? crawl_delay : delay);
  host_reserve(h, weft_now()); /* robots.txt's request just took the slot of now */
}

/*
 * Read h's robots.txt into h->robots, following up to MAX_REDIRECTS
 * redirects, as RFC 9309 says: a 2xx is parsed; a 4xx (or too many
 * redirects) leaves it NULL, allowing everything; a 5xx, or a server that
 * cannot be reached, disallows everything (deny_all). Returns 0, or -1
 * when the task was cancelled. Under h->robots_lock.
 */
static int read_robots(struct crawl *c, struct host *h, const struct url *page) {
  size_t max = c->o->max_body < ROBOTS_MAX_BODY ? (size_t)c->o->max_body : ROBOTS_MAX_BODY;
  char *url;
  int rc = 0;
  if (asprintf(&url, "%s://%s/robots.txt", page->scheme, page->authority) < 0)
    return 0;
  for (int hops = 0; hops <= MAX_REDIRECTS; hops++) {
    struct url u;
    struct host *rh;
    struct response r;
    char *next;
    if (url_split(url, &u) != 0 || !(rh = hosts_get(&c->hosts, u.origin))) {
      url_parts_free(&u);
      break;
    }
    client_get(&c->client, rh, &u, max, 1, NULL, NULL, &r);
    url_parts_free(&u);
    if (r.cancelled) {
      rc = -1;
    } else if (is_redirect(r.status) && !r.error && r.location &&
               url_join(url, r.location, &next) == 0) {
      free(url);
      url = next;
      response_free(&r);
      continue;
    } else if (r.status / 100 == 2 && !r.error) {
      h->robots = robots_parse(r.body ? r.body : "", r.body_len, CRAWL_AGENT);
    } else if (r.status >= 500 || (r.status == 0 && r.error)) {
      char why[sizeof h->robots_why];
      if (r.status >= 500)
        snprintf(why, sizeof why, "robots.txt answered %d: nothing on this host is crawled",
                 r.status);
      else
        snprintf(why, sizeof why, "robots.txt unreachable (%s): nothing on this host is crawled",
                 r.error);
      deny_all(h, why);
    }
    response_free(&r);
    break;
  }
  free(url);
  return rc;
}

enum { ROBOTS_ALLOWED, ROBOTS_DISALLOWED, ROBOTS_CANCELLED };

/* Whether h's robots.txt lets fetch request u, reading it first if no task
 * has. The others wanting the same host park on robots_lock meanwhile. */
static int robots_check(struct crawl *c, struct host *h, const struct url *u) {
  int allowed;
  if (weft_mutex_lock(h->robots_lock, -1) != 0)
    return ROBOTS_CANCELLED;
  if (!h->robots_read && read_robots(c, h, u) != 0) {
    weft_mutex_unlock(h->robots_lock);
    return ROBOTS_CANCELLED;
  }
  if (!h->robots_read)
    set_delay(c, h);
  h->robots_read = 1;
  allowed = robots_allowed(h->robots, u->target);
  weft_mutex_unlock(h->robots_lock);
  return allowed ? ROBOTS_ALLOWED : ROBOTS_DISALLOWED;
}

/* A 3xx: record where it points, and follow it at the same depth. */
static void redirect(struct crawl *c, const struct item *it, const struct response *r,
                     struct result *res, struct item_list *found) {
  char *target;
  int rc;
  if (!r->location) {
    set_error(res, "redirect without a Location header");
    return;
  }
  if ((rc = url_join(it->url, r->location, &target)) != 0) {
    set_error(res, rc == URL_ENOMEM ? "out of memory" : "invalid redirect location");
    return;
  }
  res->redirect = target;
  if (it->hops >= MAX_REDIRECTS)
    set_error(res, "too many redirects");
  else if (followable(c, target))
    list_push(found, item_new(target, it->depth, it->hops + 1, NULL));
}

/* The length of url's origin, "http://host:port/" as written in it: a
 * normalised URL with that prefix is on the same server. */
static size_t origin_len(const char *url) {
  const char *p = strstr(url, "://");
  return p ? (size_t)(p + 3 - url) + strcspn(p + 3, "/") + 1 : 0;
}

/* An HTML page, scanned as it arrived: count its links and offer those
 * within the depth limit. A link to the page's own server is followable,
 * since the page was (a page is only requested when followable, or as a
 * start URL, whose server is a start server); others are checked. */
static void offer_links(struct crawl *c, const struct item *it, struct links_scan *scan,
                        struct result *res, struct item_list *found) {
  size_t own = origin_len(it->url);
  struct links l;
  if (links_scan_finish(scan, it->url, &l) != 0) {
    set_error(res, "out of memory");
    return;
  }
  res->links = l.len;
  for (size_t i = 0; it->depth < c->o->depth && i < l.len; i++) {
    const char *u = l.urls[i];
    if ((own > 0 && strncmp(u, it->url, own) == 0) ? cli_url_wanted(c->o, u) : followable(c, u))
      list_push(found, item_new(l.urls[i], it->depth + 1, 0, NULL));
    if (i % 1024 == 1023)
      weft_yield(); /* a page of 100,000 links: let the worker's other tasks run */
  }
  links_free(&l);
}

static int scan_feed(void *arg, const char *data, size_t len) {
  return links_scan_feed(arg, data, len);
}

/* Whether a failed attempt is worth another: the connection was refused,
 * reset or timed out, or the server said 429, 500, 502, 503 or 504. */
static int retryable(const struct response *r) {
  switch (r->err) {
  case WEFT_ECONNREFUSED:
  case WEFT_ECONNRESET:
  case WEFT_EPIPE:
  case WEFT_ETIMEDOUT: return 1;
  }
  if (r->error)
    return 0; /* a malformed response, TLS, DNS, --max-body: the same again */
  switch (r->status) {
  case 429:
  case 500:
  case 502:
  case 503:
  case 504: return 1;
  }
  return 0;
}

/* A number from a counter shared by all crawlers: splitmix64, for jitter. */
static uint64_t jitter_bits(void) {
  static atomic_uint_fast64_t state = 0x9e3779b97f4a7c15u;
  uint64_t z = atomic_fetch_add(&state, 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

#define RETRY_AFTER_CAP_MS 60000 /* a longer Retry-After is cut to this */

/* How long to wait before attempt number n + 1 (n >= 1 made): the
 * server's Retry-After if it gave a valid one (up to a minute), else
 * --retry-wait doubled per attempt, half of it fixed and half random
 * ("equal jitter": retries of many URLs spread out, none comes sooner
 * than half the backoff). */
static int64_t retry_wait(const struct crawl *c, const struct response *r, int n) {
  int64_t ms = r->retry_after ? http_retry_after_ms(r->retry_after, time(NULL)) : -1;
  int64_t base = c->o->retry_wait_ms;
  if (ms >= 0)
    return ms > RETRY_AFTER_CAP_MS ? RETRY_AFTER_CAP_MS : ms;
  for (int i = 1; i < n && base < 3600000; i++)
    base *= 2;
  return base / 2 + (base > 1 ? (int64_t)(jitter_bits() % (uint64_t)(base / 2 + 1)) : 0);
}

/* GET u from its server h and fill res; offer what it links or redirects
 * to. An HTML body is scanned for links as it arrives, never kept whole.
 * Returns 0, or AGAIN when the attempt failed in a way worth retrying and
 * --retries allows one more: then it->not_before says when, and res is
 * left for the caller to drop. */
static int request(struct crawl *c, struct item *it, struct host *h, const struct url *u,
                   struct result *res, struct item_list *found) {
  struct links_scan scan;
  struct response r;
  links_scan_init(&scan);
  client_get(&c->client, h, u, (size_t)c->o->max_body, 0, scan_feed, &scan, &r);
  it->attempts++;
  it->resends += r.resent;
  if (retryable(&r) && it->attempts <= c->o->retries) {
    it->not_before = weft_now() + retry_wait(c, &r, it->attempts);
    links_scan_destroy(&scan);
    response_free(&r);
    return AGAIN;
  }
  res->attempts = it->attempts + it->resends;
  res->status = r.status;
  res->bytes = r.bytes;
  res->wire_bytes = r.wire_bytes;
  res->ms = r.ms;
  res->tls = r.tls;
  if (r.error)
    set_error(res, r.error);
  else if (is_redirect(r.status))
    redirect(c, it, &r, res, found);
  else if (r.status / 100 == 2 && r.html)
    offer_links(c, it, &scan, res, found);
  links_scan_destroy(&scan);
  response_free(&r);
  return 0;
}

/* ---- sitemaps (crawler tasks; see Sitemaps above) ---- */

static int is_http(const char *url) {
  return url_is_scheme(url, "http") || url_is_scheme(url, "https");
}

/* Take one of the crawl's --max-pages sitemap URLs. Returns 1, or 0 when
 * sitemaps have given that many. */
static int sitemap_claim(struct crawl *c) {
  long used = atomic_load(&c->sitemap_urls);
  do {
    if (used >= c->o->max_pages)
      return 0;
  } while (!atomic_compare_exchange_weak(&c->sitemap_urls, &used, used + 1));
  return 1;
}

/* Offer the normalised URL url as a sitemap at level, hops redirects on. */
static void sitemap_offer(struct crawl *c, const char *url, int level, int hops,
                          struct item_list *found) {
  struct item *it;
  if (!sitemap_claim(c) || !(it = item_new(url, 0, hops, NULL)))
    return;
  it->sitemap = level;
  list_push(found, it);
}

/* A sitemap's record: "sitemap: " and why. */
static void sitemap_failed(struct result *res, const char *why) {
  snprintf(res->errbuf, sizeof res->errbuf, "sitemap: %.118s", why);
  res->error = res->errbuf;
}

/* Offer the sitemaps h's robots.txt names, once per host, if it was read
 * for a page (rc: robots_check's answer); a relative one is resolved
 * against the robots.txt URL. */
static void offer_robots_sitemaps(struct crawl *c, struct host *h, const struct item *it, int rc,
                                  struct item_list *found) {
  const char *const *names;
  char *base, *url;
  size_t n;
  if (!c->o->sitemaps || it->sitemap || rc == ROBOTS_CANCELLED ||
      atomic_load(&h->sitemaps_offered) || atomic_exchange(&h->sitemaps_offered, 1))
    return;
  n = robots_sitemaps(h->robots, &names); /* final: robots_check took robots_lock */
  if (n == 0 || asprintf(&base, "%.*srobots.txt", (int)origin_len(it->url), it->url) < 0)
    return;
  for (size_t i = 0; i < n; i++) {
    if (url_join(base, names[i], &url) != 0)
      continue;
    if (is_http(url))
      sitemap_offer(c, url, 1, 0, found);
    free(url);
  }
  free(base);
}

/* A sitemap answered 3xx: offer its target as the same sitemap. */
static void sitemap_redirect(struct crawl *c, const struct item *it, const struct response *r,
                             struct result *res, struct item_list *found) {
  char *target;
  if (!r->location || url_join(it->url, r->location, &target) != 0) {
    sitemap_failed(res, "redirect without a valid Location");
    return;
  }
  res->redirect = target;
  if (it->hops >= MAX_REDIRECTS)
    sitemap_failed(res, "too many redirects");
  else if (!is_http(target))
    sitemap_failed(res, "redirect to a URL that is not http: or https:");
  else
    sitemap_offer(c, target, it->sitemap, it->hops + 1, found);
}

/* Offer what the sitemap sm lists: its pages at depth 1 that followable()
 * accepts, or an index's sitemaps one level deeper. */
static void sitemap_offer_all(struct crawl *c, const struct item *it, const struct sitemap *sm,
                              struct result *res, struct item_list *found) {
  char buf[64];
  res->links = sm->index ? sm->nsitemaps : sm->nurls;
  if (sm->index && it->sitemap >= SITEMAP_MAX_NESTING) {
    snprintf(buf, sizeof buf, "an index nested over %d deep: not followed", SITEMAP_MAX_NESTING);
    sitemap_failed(res, buf);
    return;
  }
  for (size_t i = 0; i < sm->nsitemaps; i++)
    sitemap_offer(c, sm->sitemaps[i], it->sitemap + 1, 0, found);
  for (size_t i = 0; i < sm->nurls; i++) {
    if (followable(c, sm->urls[i]) && sitemap_claim(c))
      list_push(found, item_new(sm->urls[i], 1, 0, NULL));
    if (i % 1024 == 1023) {
      weft_yield(); /* 50,000 URLs: let the worker's other tasks run */
      if (weft_canceled())
        break; /* stopped: the dispatcher takes no more URLs */
    }
  }
}

/* A sitemap's parse, as a job for weft_offload_ex: it owns the body. */
struct sitemap_job {
  char *body; /* or NULL: empty */
  size_t len;
  struct sitemap sm;
  int rc;
};

static void *sitemap_job_run(void *arg) {
  struct sitemap_job *j = arg;
  j->rc = sitemap_parse(j->body ? j->body : "", j->len, &j->sm);
  return NULL;
}

static void sitemap_job_free(struct sitemap_job *j) {
  sitemap_free(&j->sm);
  free(j->body);
  free(j);
}

/* A cancelled crawler left the job: free it once it is over. I/O thread. */
static void sitemap_job_orphan(void *arg, void *result, int ran) {
  (void)result;
  (void)ran;
  sitemap_job_free(arg);
}

/* Read the sitemap body of r (taking it) and offer what it lists; what is
 * read before an error (sitemap.h) is offered too. The parse runs on
 * libuv's thread pool, as 50 MB of XML or gzip is most of a second of CPU
 * that would hold a worker. The job owns the body, so a crawler cancelled
 * meanwhile returns at once and the job is freed when it ends. */
static void sitemap_read(struct crawl *c, const struct item *it, struct response *r,
                         struct result *res, struct item_list *found) {
  struct sitemap_job *job = calloc(1, sizeof *job);
  int rc;
  if (!job) {
    sitemap_failed(res, "out of memory");
    return;
  }
  job->body = r->body;
  job->len = r->body_len;
  r->body = NULL;
  if ((rc = weft_offload_ex(sitemap_job_run, job, NULL, sitemap_job_orphan)) == WEFT_ECANCELED) {
    sitemap_failed(res, "cancelled"); /* sitemap_job_orphan frees the job */
    return;
  }
  if (rc != 0)
    sitemap_job_run(job); /* no memory to queue it: here, then */
  sitemap_offer_all(c, it, &job->sm, res, found);
  if (job->rc != 0)
    sitemap_failed(res, job->sm.error);
  sitemap_job_free(job);
}

/*
 * GET the sitemap it->url from its server h, holding one of the
 * sitemap_slots, and offer what it lists. Returns AGAIN as request()
 * does, or 0: then *out is its record if it failed, else NULL (freed),
 * which process() leaves so, as it does any allowed URL's record.
 */
static int sitemap_request(struct crawl *c, struct item *it, struct host *h, const struct url *u,
                           struct result **out, struct item_list *found) {
  struct result *res = *out;
  struct response r;
  char why[48];
  if (weft_sem_wait(c->sitemap_slots, -1) != 0) {
    sitemap_failed(res, "cancelled");
    return 0;
  }
  client_get(&c->client, h, u, SITEMAP_MAX_BYTES, 1, NULL, NULL, &r);
  it->attempts++;
  it->resends += r.resent;
  if (retryable(&r) && it->attempts <= c->o->retries) {
    it->not_before = weft_now() + retry_wait(c, &r, it->attempts);
    response_free(&r);
    weft_sem_post(c->sitemap_slots);
    return AGAIN;
  }
  res->attempts = it->attempts + it->resends;
  res->status = r.status;
  res->bytes = r.bytes;
  res->wire_bytes = r.wire_bytes;
  res->ms = r.ms;
  res->tls = r.tls;
  if (r.error && strcmp(r.error, "body over --max-body") == 0) { /* http.h's words */
    snprintf(why, sizeof why, "over %d MB", SITEMAP_MAX_BYTES >> 20);
    sitemap_failed(res, why);
  } else if (r.error) {
    sitemap_failed(res, r.error);
  } else if (is_redirect(r.status)) {
    sitemap_redirect(c, it, &r, res, found);
  } else if (r.status / 100 != 2) {
    snprintf(why, sizeof why, "HTTP status %d", r.status);
    sitemap_failed(res, why);
  } else {
    sitemap_read(c, it, &r, res, found);
  }
  response_free(&r);
  weft_sem_post(c->sitemap_slots);
  if (!res->error) {
    result_free(res);
    *out = NULL;
  }
  return 0;
}

/* GET a page (request) or read a sitemap (sitemap_request) whose turn
 * has come: 0 or AGAIN, *out as process() says. */
static int fetch_item(struct crawl *c, struct item *it, struct host *h, const struct url *u,
                      struct result **out, struct item_list *found) {
  if (it->sitemap)
    return sitemap_request(c, it, h, u, out, found);
  return request(c, it, h, u, *out, found);
}

/* robots.txt disallows it: a start URL's record says so, others get none. */
static struct result *disallowed(struct crawl *c, const struct item *it, struct host *h,
                                 struct result *res) {
  atomic_fetch_add(&c->disallowed, 1);
  if (it->start) /* robots_why is final once robots_read (robots_check took the lock) */
    return set_error(res, h->robots_why[0] ? h->robots_why : "disallowed by robots.txt");
  result_free(res);
  return NULL;
}

/* Whether it must wait for its host's turn (see hosts.h, pacing): if so,
 * it->not_before is its reserved slot. A URL holds one slot at a time. */
static int wait_turn(struct host *h, struct item *it) {
  int64_t now, slot;
  if (it->reserved || atomic_load(&h->delay_ms) <= 0) {
    it->reserved = 0; /* the slot is used now */
    return 0;
  }
  now = weft_now();
  if ((slot = host_reserve(h, now)) <= now)
    return 0;
  it->reserved = 1;
  it->not_before = slot;
  return 1;
}

/* Handle it->url. Returns AGAIN when it goes back to the dispatcher to be
 * offered again at it->not_before (its host's turn, or a retry); else 0
 * with *out its record, or NULL when it gets none: a link or redirect
 * target that robots.txt disallows, or no memory for one. */
static int process(struct crawl *c, struct item *it, struct item_list *found,
                   struct result **out) {
  struct result *res = *out = result_new(it);
  struct host *h;
  struct url u;
  int rc;
  if (!res)
    return 0;
  if (it->error)
    return set_error(res, it->error), 0;
  if ((rc = url_split(it->url, &u)) != 0) {
    url_parts_free(&u);
    return set_error(res, rc == URL_ENOMEM ? "out of memory" : "invalid URL"), 0;
  }
  if (!(h = hosts_get(&c->hosts, u.origin))) {
    url_parts_free(&u);
    return set_error(res, "out of memory"), 0;
  }
  rc = c->o->robots ? robots_check(c, h, &u) : ROBOTS_ALLOWED;
  offer_robots_sitemaps(c, h, it, rc, found);
  if (rc == ROBOTS_ALLOWED &&
      (wait_turn(h, it) || fetch_item(c, it, h, &u, out, found) == AGAIN)) {
    url_parts_free(&u);
    result_free(res);
    *out = NULL;
    return AGAIN;
  }
  url_parts_free(&u);
  if (rc == ROBOTS_CANCELLED)
    *out = set_error(res, "cancelled");
  else if (rc == ROBOTS_DISALLOWED)
    *out = disallowed(c, it, h, res);
  return 0;
}

/* Give res to the writer; a cancelled crawler cannot, and leaves it on
 * the late list (stop protocol, step 3). */
static void hand_over(struct crawl *c, struct result *res) {
  if (weft_chan_send(c->results, &res, -1) == 0)
    return;
  pthread_mutex_lock(&c->late_lock);
  res->next = c->late;
  c->late = res;
  pthread_mutex_unlock(&c->late_lock);
}

static void *crawler(void *arg) {
  struct crawl *c = arg;
  struct item *it;
  while (weft_chan_recv(c->frontier, &it, -1) == 0) {
    struct item_list found;
    struct event ev = {NULL, NULL, 0};
    struct result *res;
    list_init(&found);
    if (process(c, it, &found, &res) == AGAIN) {
      ev.again = it; /* the dispatcher's again */
      it = NULL;
    } else if (res) {
      ev.recorded = 1;
      hand_over(c, res);
    }
    ev.found = found.head;
    if (weft_chan_send(c->events, &ev, -1) != 0) {
      items_free(ev.found); /* stopped: the dispatcher is gone */
      free(ev.again);
    }
    free(it);
  }
  return NULL;
}

/* ---- the frontier (the dispatcher task) ---- */

/* URLs handed back until a time (their host's turn, a retry): a binary
 * min-heap on not_before. */
struct deferred {
  struct item **v;
  size_t len, cap;
};

/* The dispatcher's own state: dispatcher task only. */
struct frontier {
  struct item_list queue;
  long queued;
  long in_flight; /* sent to a crawler, no event back yet */
  long recorded;  /* events that said "recorded" */
  struct strmap seen;
  struct deferred later; /* handed back; neither queued nor in flight */
};

static void later_swap(struct deferred *d, size_t i, size_t j) {
  struct item *t = d->v[i];
  d->v[i] = d->v[j];
  d->v[j] = t;
}

/* Add it to d. Out of memory: the URL is dropped, as list_push drops one. */
static void later_push(struct deferred *d, struct item *it) {
  size_t i;
  if (d->len == d->cap) {
    size_t cap = d->cap ? d->cap * 2 : 64;
    struct item **v = realloc(d->v, cap * sizeof *v);
    if (!v) {
      free(it);
      return;
    }
    d->v = v;
    d->cap = cap;
  }
  it->next = NULL;
  d->v[i = d->len++] = it;
  for (; i > 0 && d->v[(i - 1) / 2]->not_before > d->v[i]->not_before; i = (i - 1) / 2)
    later_swap(d, i, (i - 1) / 2);
}

/* Remove and return d's earliest item (d not empty). */
static struct item *later_pop(struct deferred *d) {
  struct item *top = d->v[0];
  size_t i = 0;
  d->v[0] = d->v[--d->len];
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < d->len && d->v[l]->not_before < d->v[m]->not_before)
      m = l;
    if (r < d->len && d->v[r]->not_before < d->v[m]->not_before)
      m = r;
    if (m == i)
      return top;
    later_swap(d, i, m);
    i = m;
  }
}

static void later_free(struct deferred *d) {
  while (d->len > 0)
    free(later_pop(d));
  free(d->v);
}

/* Move the handed-back URLs whose time has come to the head of the queue,
 * ahead of new ones: a URL holding its host's slot should use it now.
 * Returns the time the next one is due, or -1 when none waits. */
static int64_t later_due(struct frontier *f) {
  int64_t now = weft_now();
  while (f->later.len > 0 && f->later.v[0]->not_before <= now) {
    struct item *it = later_pop(&f->later);
    if (!(it->next = f->queue.head))
      f->queue.tail = &it->next;
    f->queue.head = it;
    f->queued++;
  }
  return f->later.len > 0 ? f->later.v[0]->not_before : -1;
}

/* Add it to seen: strmap_add's answer. A sitemap's key is "sitemap " and
 * its URL, so a URL both linked and named as a sitemap is fetched as each. */
static int seen_add(struct strmap *seen, const struct item *it) {
  char *key;
  int rc;
  if (!it->sitemap)
    return strmap_add(seen, it->url, NULL);
  if (asprintf(&key, "sitemap %s", it->url) < 0)
    return -1;
  rc = strmap_add(seen, key, NULL);
  free(key);
  return rc;
}

/* Queue each URL of list not seen before; free the others. */
static void offer(struct frontier *f, struct item *list) {
  while (list) {
    struct item *next = list->next;
    if (seen_add(&f->seen, list) == 1) {
      list_push(&f->queue, list);
      f->queued++;
    } else {
      free(list);
    }
    list = next;
  }
}

/* Drop the queue's head, which a crawler now owns: rest is what followed
 * it, read before the handoff (the crawler may have freed it since). */
static void dequeued(struct frontier *f, struct item *rest) {
  if (!(f->queue.head = rest))
    f->queue.tail = &f->queue.head;
  f->queued--;
  f->in_flight++;
}

static void *dispatcher(void *arg) {
  struct crawl *c = arg;
  struct frontier f = {.queued = 0};
  long max = c->o->max_pages;
  struct event ev;
  list_init(&f.queue);
  strmap_init(&f.seen);
  offer(&f, c->seeds.head);
  list_init(&c->seeds);
  while (!atomic_load(&c->stopping) &&
         (f.in_flight > 0 || f.later.len > 0 || (f.queued > 0 && f.recorded < max))) {
    int64_t due = later_due(&f);
    struct item *head = f.queue.head, *rest = head ? head->next : NULL;
    weft_select_case cases[2] = {
        {c->events, WEFT_SELECT_RECV, &ev, 0},
        {c->frontier, WEFT_SELECT_SEND, &head, 0},
    };
    /* A handed-back URL keeps its place: it was taken from the queue and
     * will get its record, so it counts against --max-pages as one in
     * flight does, and the crawl waits for it. */
    int room = f.queued > 0 && f.recorded + f.in_flight + (long)f.later.len < max;
    int i;
    atomic_store(&c->queued, f.queued + (long)f.later.len);
    atomic_store(&c->in_flight, f.in_flight);
    i = weft_select(cases, room ? 2 : 1, due);
    if (i == WEFT_ETIMEDOUT)
      continue; /* a handed-back URL is due */
    if (i == 0 && cases[0].result == 0) {
      f.in_flight--;
      f.recorded += ev.recorded;
      offer(&f, ev.found);
      if (ev.again)
        later_push(&f.later, ev.again); /* seen already: not offered again */
    } else if (i == 1 && cases[1].result == 0) {
      dequeued(&f, rest);
    } else {
      break; /* stopped (the events channel closed) */
    }
  }
  weft_chan_close(c->frontier);
  weft_chan_close(c->events); /* already closed when stopped */
  while (weft_chan_try_recv(c->events, &ev) == 0) {
    items_free(ev.found);
    free(ev.again);
  }
  items_free(f.queue.head);
  later_free(&f.later);
  strmap_destroy(&f.seen, NULL);
  atomic_store(&c->queued, 0);
  atomic_store(&c->in_flight, 0);
  weft_sem_post(c->finished);
  return NULL;
}

/* ---- records (the writer task) ---- */

static void emit(struct crawl *c, struct buf *out, struct result *res) {
  struct record rec = {res->url,   res->status,   res->bytes, res->wire_bytes, res->ms,
                       res->depth, res->links, res->redirect, res->tls,   res->error, res->attempts};
  record_format(out, &rec);
  c->pages++;
  c->errors += res->error != NULL;
  c->bytes += res->bytes;
  result_free(res);
}

/* Write out what is buffered; after a failure, drop it all. */
static void flush(struct crawl *c, struct buf *out) {
  size_t off = 0;
  if (buf_failed(out) && !c->write_failed) {
    fprintf(stderr, "fetch: out of memory formatting the records\n");
    c->write_failed = 1;
  }
  while (off < out->len && !c->write_failed) {
    ssize_t n = weft_file_write(c->out_fd, out->data + off, out->len - off, -1, -1);
    if (n <= 0) {
      fprintf(stderr, "fetch: cannot write the records: %s\n",
              n < 0 ? weft_strerror((int)n) : "no progress");
      c->write_failed = 1;
    } else {
      off += (size_t)n;
    }
  }
  buf_reset(out);
}

static double seconds_since(int64_t start) { return (double)(weft_now() - start) / 1000.0; }

static void draw_progress(struct crawl *c) {
  double s = seconds_since(c->started), b = (double)c->bytes;
  long skipped = atomic_load(&c->disallowed);
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  for (; b >= 1024 && u < 4; u++)
    b /= 1024;
  fprintf(stderr, "\r%lu pages, %ld in flight, %ld queued, %lu errors, %.1f pages/s, %.1f %s",
          c->pages, atomic_load(&c->in_flight), atomic_load(&c->queued), c->errors,
          s > 0 ? (double)c->pages / s : 0.0, b, units[u]);
  if (skipped > 0)
    fprintf(stderr, ", %ld disallowed by robots.txt", skipped);
  fputs("\033[K", stderr);
}

static void *writer(void *arg) {
  struct crawl *c = arg;
  struct buf out = BUF_INIT;
  struct result *res, *late;
  int64_t next = c->progress ? weft_now() + PROGRESS_MS : -1;
  double s;
  for (;;) {
    int rc = weft_chan_recv(c->results, &res, next);
    if (rc == 0) {
      emit(c, &out, res);
      if (out.len >= FLUSH_AT || weft_chan_len(c->results) == 0)
        flush(c, &out);
    } else if (rc == WEFT_ETIMEDOUT) {
      draw_progress(c);
      next = weft_now() + PROGRESS_MS;
    } else {
      break; /* closed and drained: every crawler has been joined */
    }
  }
  pthread_mutex_lock(&c->late_lock);
  late = c->late;
  c->late = NULL;
  pthread_mutex_unlock(&c->late_lock);
  for (; late; late = res) {
    res = late->next;
    emit(c, &out, late);
  }
  flush(c, &out);
  buf_free(&out);
  if (c->progress)
    fputs("\r\033[K", stderr);
  s = seconds_since(c->started);
  fprintf(stderr, "fetched %lu pages (%lu errors), %" PRIu64 " bytes in %.2f s, %.1f pages/s\n",
          c->pages, c->errors, c->bytes, s, s > 0 ? (double)c->pages / s : 0.0);
  return NULL;
}

/* ---- the crawl ---- */

struct crawl *crawl_new(const struct options *o, struct tls_config *tls) {
  struct crawl *c = calloc(1, sizeof *c);
  long idle_max = o->concurrency * 2 > 64 ? o->concurrency * 2 : 64;
  if (!c)
    return NULL;
  c->o = o;
  c->out_fd = -1;
  c->progress = !o->quiet && isatty(2);
  hosts_init(&c->hosts, o->per_host, idle_max);
  c->hosts.delay_ms = o->delay_ms;
  client_init(&c->client, &c->hosts, tls, o->timeout_ms);
  c->client.compress = o->compress;
  strmap_init(&c->start_hosts);
  list_init(&c->seeds);
  pthread_mutex_init(&c->stop_lock, NULL);
  pthread_mutex_init(&c->late_lock, NULL);
  atomic_init(&c->stopping, 0);
  atomic_init(&c->queued, 0);
  atomic_init(&c->in_flight, 0);
  atomic_init(&c->disallowed, 0);
  atomic_init(&c->sitemap_urls, 0);
  if (weft_chan_new(&c->frontier, sizeof(struct item *), 0) ||
      weft_chan_new(&c->events, sizeof(struct event), EVENTS_CAP) ||
      weft_chan_new(&c->results, sizeof(struct result *), RESULTS_CAP) ||
      weft_sem_new(&c->finished, 0) || weft_sem_new(&c->sitemap_slots, SITEMAP_READERS)) {
    crawl_free(c);
    return NULL;
  }
  return c;
}

/* Note the host of the http(s) URL url as a start host. Returns 0,
 * URL_EINVAL (no host), URL_ENOMEM. */
static int add_start_host(struct crawl *c, const char *url) {
  struct url u;
  int rc = url_split(url, &u);
  if (rc == 0 && strmap_add(&c->start_hosts, u.host, NULL) < 0)
    rc = URL_ENOMEM;
  url_parts_free(&u);
  return rc;
}

int crawl_add_start(struct crawl *c, const char *raw) {
  const char *error = NULL;
  struct item *it;
  char *url = NULL;
  int rc = url_normalize(raw, &url);
  if (rc == URL_ENOMEM)
    return -1;
  if (rc != 0)
    error = "invalid URL";
  else if (!url_is_scheme(url, "http") && !url_is_scheme(url, "https"))
    error = "unsupported URL scheme (fetch crawls http: and https:)";
  else if ((rc = add_start_host(c, url)) == URL_ENOMEM)
    error = "out of memory";
  else if (rc != 0)
    error = "invalid URL";
  it = item_new(url ? url : raw, 0, 0, error);
  free(url);
  if (it)
    it->start = 1;
  if (!it || rc == URL_ENOMEM) {
    free(it);
    return -1;
  }
  list_push(&c->seeds, it);
  return 0;
}

static int spawn(weft_task **t, const char *name, size_t stack, void *(*fn)(void *), void *arg) {
  weft_spawn_attr attr;
  weft_spawn_attr_init(&attr);
  attr.name = name;
  attr.stack_size = stack;
  return weft_spawn_ex(t, &attr, fn, arg);
}

/* Cancel the crawlers and wake the dispatcher (stop protocol, step 1).
 * Under stop_lock. */
static void stop_locked(struct crawl *c) {
  atomic_store(&c->stopping, 1);
  weft_chan_close(c->events);
  if (c->crawlers)
    weft_scope_cancel(c->crawlers);
}

/* A crawler as a member of the crawlers' scope: it never fails the scope
 * (its errors are records), so one crawler's trouble stops no other. */
static int crawler_member(void *arg) {
  crawler(arg);
  return 0;
}

int crawl_start(struct crawl *c, int out_fd) {
  int rc;
  c->out_fd = out_fd;
  c->started = weft_now();
  if ((rc = spawn(&c->writer, "writer", 0, writer, c)) != 0)
    return rc;
  pthread_mutex_lock(&c->stop_lock);
  if ((rc = spawn(&c->dispatcher, "dispatcher", 0, dispatcher, c)) != 0) {
    pthread_mutex_unlock(&c->stop_lock);
    weft_chan_close(c->results);
    weft_join(c->writer, NULL);
    c->writer = NULL;
    return rc;
  }
  if (weft_scope_new(&c->crawlers) == 0) {
    weft_spawn_attr attr;
    weft_spawn_attr_init(&attr);
    attr.name = "crawler";
    attr.stack_size = CRAWLER_STACK;
    while (c->ncrawlers < c->o->concurrency &&
           weft_scope_go_ex(c->crawlers, &attr, crawler_member, c) == 0)
      c->ncrawlers++;
  }
  if (c->stopped || c->ncrawlers == 0) /* stopped before it started, or no crawler at all */
    stop_locked(c);
  pthread_mutex_unlock(&c->stop_lock);
  return 0;
}

void crawl_stop(struct crawl *c) {
  pthread_mutex_lock(&c->stop_lock);
  if (!c->stopped && !c->sealed) {
    c->stopped = 1;
    stop_locked(c);
  }
  pthread_mutex_unlock(&c->stop_lock);
}

int crawl_wait(struct crawl *c) {
  weft_sem_wait(c->finished, -1);
  pthread_mutex_lock(&c->stop_lock); /* stop protocol, step 4 */
  c->sealed = 1;
  pthread_mutex_unlock(&c->stop_lock);
  weft_join(c->dispatcher, NULL);
  c->dispatcher = NULL;
  if (c->crawlers) {
    weft_scope_free(c->crawlers); /* waits for every crawler (all are ending) */
    c->crawlers = NULL;
  }
  c->ncrawlers = 0;
  weft_chan_close(c->results);
  weft_join(c->writer, NULL);
  c->writer = NULL;
  return c->write_failed ? 1 : 0;
}

void crawl_free(struct crawl *c) {
  struct result *r, *next;
  hosts_destroy(&c->hosts);
  client_destroy(&c->client);
  strmap_destroy(&c->start_hosts, NULL);
  items_free(c->seeds.head);
  for (r = c->late; r; r = next) {
    next = r->next;
    result_free(r);
  }
  weft_chan_free(c->frontier);
  weft_chan_free(c->events);
  weft_chan_free(c->results);
  weft_sem_free(c->finished);
  weft_sem_free(c->sitemap_slots);
  pthread_mutex_destroy(&c->stop_lock);
  pthread_mutex_destroy(&c->late_lock);
  free(c);
}
