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
 *                     Then it hands the URL, its record and the URLs it
 *                     found back to the dispatcher. With --warc it appends
 *                     each response it received, robots.txt's, sitemaps'
 *                     and every retried attempt's too, to the archive
 *                     itself (warc.c, the append protocol).
 *   writer (one)      formats records, writes them to the output, draws
 *                     the progress line and, at the end, the summary.
 *   syncer (--state)  fdatasyncs the journal and the output every SYNC_MS.
 *
 * Channels
 *
 *   frontier  struct item *, unbuffered: dispatcher -> an idle crawler.
 *   events    struct event, buffered: crawler -> dispatcher, exactly one
 *             per URL taken from the frontier: "done with it, here is its
 *             record (if it gets one) and what it linked to", or "not yet:
 *             offer it again at time T" (its host's turn under --delay or
 *             Crawl-delay, or a retry's backoff), with the URL itself
 *             handed back.
 *   results   struct result *, buffered: dispatcher -> writer, one per
 *             record, in the order the dispatcher settled their URLs (and,
 *             once stopped, crawler -> writer: see the stop protocol).
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
 * The seen set and the queue. The set holds 16-byte fingerprints (fp.h),
 * not the URLs: a crawl of a million URLs costs it 32 MB whatever their
 * length. The queue keeps its oldest QUEUE_MEM URLs in memory as a list
 * (the head the frontier case sends from); past that, new URLs go to a
 * spill (spill.h): segment files in the --state directory, else in
 * $TMPDIR. Once anything is spilled every new URL goes there too, and
 * when the list runs down to QUEUE_LOW the oldest segment is read back
 * onto its end: the order stays first in, first out, and memory holds at
 * most QUEUE_MEM URLs and a segment, however many are queued. Invariant:
 * the list is empty only when the spill is (queued > 0 means a head).
 * Handed-back URLs rejoin at the list's head, never the spill.
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
 *     call and builds a "cancelled" record. Its event cannot be sent (the
 *     events channel is closed), so it gives the record to the writer
 *     itself: sent if the results channel has room (a cancelled task's
 *     call that need not wait completes); if the send would wait it
 *     fails, and the record goes on the late list, under late_lock, which
 *     the writer empties after the last crawler has finished. With
 *     --state the record is dropped instead: it is not in the journal, so
 *     a resumed crawl requests the URL again (see the journal protocol).
 *     Giving the connection back never blocks (hosts.c), so nothing leaks.
 *  4. crawl_wait waits for finished, then sets sealed under stop_lock
 *     before it waits for the crawlers' scope and frees it: a crawl_stop
 *     from then on does nothing, so weft_scope_cancel never sees a freed
 *     scope.
 *  The dispatcher itself is never cancelled: it always reaches the end of
 *  its loop and posts finished, even when stopped before it ran. It
 *  settles the events still buffered (their records are sent to the
 *  writer, journaled first with --state) and flushes the journal.
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
 * dispatcher's seen set holds a sitemap's fingerprint under a key of its
 * own (seen_fp): each sitemap is read once per crawl, so an index that
 * lists itself, or a cycle of them, ends, and a URL both linked and named
 * as a sitemap is fetched once as each. A sitemap gets a record only when it fails
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
 *
 * The journal (--state DIR). An append-only file of entries (journal.h)
 * that the dispatcher alone writes: J, a URL joined the queue (with its
 * depth, hops, start flag, sitemap level and error); D, a URL is finished
 * (named by its fingerprint in the seen set), with its record's JSON line
 * or none; C, the start URLs' J entries end. Entries come in groups, each
 * ended by a D or C: the URLs one event found that were new, then the D
 * of the URL the event finished. The journal protocol, in the dispatcher:
 *  1. offer() appends J for each URL new to the seen set to the pending
 *     frames (f->journal), as it queues it.
 *  2. completed(), right after offer() took the event's URLs, appends
 *     D(P) for the URL P the event finished, with P's record line, and
 *     holds P's record.
 *  3. When no more events wait (or the frames pass JOURNAL_BATCH),
 *     journal_flush() write(2)s the frames (state_append: nothing is
 *     buffered below it), and only once the write has returned sends the
 *     held records to the writer, in the order of their D entries.
 *  4. The frontier case is armed only while the URLs out (in_flight) and
 *     those settled but not yet written (unjournaled) are fewer than -c
 *     (may_send). Held records never wait on it: unjournaled > 0 means an
 *     event was waiting when the write was put off, so the receive case
 *     is ready and the write follows once the events run out.
 *  5. The syncer fdatasyncs the journal and the output every SYNC_MS.
 * A URL handed back (again) writes nothing: it stays joined, not done.
 * The writer alone writes the output, in the order it receives records,
 * and with --state nothing but the dispatcher's records reaches it (step
 * 3 of the stop protocol). So, whenever fetch is killed:
 *  (a) the journal holds a prefix of the frames written: a SIGKILL keeps
 *      every write(2) that returned and tears at most the one under way.
 *      Replay (state.c) keeps whole groups: it drops the first bad frame,
 *      all after it, and the J entries before it that no D or C ends.
 *  (b) So an event's effects are all in or all out. All in: what P found
 *      is queued or done, and P is done. All out: P is joined but not
 *      done, so it is queued again, redone, and finds the same URLs at the
 *      same depths. (Keeping J entries of a cut group would let other
 *      pages find those URLs first, a level deeper, while P is redone.)
 *  (c) The output holds the record lines of a prefix of the D entries,
 *      in order, perhaps then part of the next one: a record is written
 *      only after its D entry's write returned, so its D entry survived.
 * Resume (crawl_resume): the seen set is every J; the queue, every J
 * without a D, in journal order; the count of records, the D entries
 * with one. The output is cut after the last whole record it holds and
 * the journal's later records are written after it (state.c), so by (c)
 * it then holds each record of the journal once. A URL gets a D entry at
 * most once over all runs (once done it is never queued again), so every
 * record is written exactly once across runs, and by (b) none is lost. A
 * URL is requested again only if it was out at the kill (sent, its D not
 * written): by step 4, at most -c of them. The other order, output first
 * and journal after, would need the output read back to learn what it
 * holds, which a record's JSON cannot always tell (U+FFFD stands for any
 * bad byte); keeping each record in the journal costs its bytes twice on
 * disk and lets the journal alone decide.
 */
#define _GNU_SOURCE
#include "crawl.h"

#include "buf.h"
#include "client.h"
#include "fp.h"
#include "hosts.h"
#include "journal.h"
#include "links.h"
#include "record.h"
#include "redis.h"
#include "robots.h"
#include "shared.h"
#include "shared_reply.h"
#include "sitemap.h"
#include "spill.h"
#include "state.h"
#include "strmap.h"
#include "url.h"
#include "warc.h"

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
#define FLUSH_AT (64 * 1024)      /* output bytes buffered at most */
#define PROGRESS_MS 250           /* redraw interval of the progress line */
#define AGAIN 1                   /* process, request: the URL goes back to the dispatcher */
#define SITEMAP_MAX_NESTING 4     /* a sitemap index this deep (1: robots.txt's) is not followed */
#define SITEMAP_READERS 2         /* sitemaps read at once (see Sitemaps) */
#define QUEUE_MEM 100000          /* queued URLs kept in memory; more spill to disk */
#define QUEUE_LOW 1000            /* read a spilled segment back when fewer are left */
#define JOURNAL_BATCH (64 * 1024) /* journal bytes pending at most before a write */
#define SYNC_MS 1000              /* the journal and output reach the disk this often */

/* A URL to request. */
struct item {
  struct item *next; /* in the queue, or in a list of URLs found */
  int depth;
  int hops;           /* redirects followed to reach it */
  int start;          /* a start URL: it gets a record even if robots.txt disallows it */
  int attempts;       /* requests made for it so far (retries) */
  int resends;        /* and sent again on a new connection (client.h, resent) */
  int reserved;       /* it holds its host's start slot (see hosts.h, pacing) */
  int64_t not_before; /* handed back: offer it again at this weft_now() time */
  int sitemap;        /* 0: a page; else a sitemap, at this level of nesting (see Sitemaps) */
  int64_t last_sent;  /* weft_now() when its last request returned, 0: none (--redis) */
  const char *error;  /* static: record this error without a request */
  char url[];         /* normalised, or as given when error is set */
};

struct item_list {
  struct item *head, **tail;
};

/* Crawler -> dispatcher: done with one URL, or handing it back. */
struct event {
  struct item *found; /* URLs it linked or redirected to, to offer the queue */
  struct item *again; /* or NULL: the URL itself, to offer again at again->not_before */
  int recorded;       /* it got a record */
  struct item *done;  /* or NULL: the URL itself, finished (for the journal) */
  struct result *res; /* or NULL: its record, which the dispatcher sends the writer */
};

/* --redis: a crawler waits on one to learn that the writer wrote its
 * record (see One crawl in Redis). */
struct handoff {
  struct handoff *next; /* the writer's: written, not yet told */
  weft_sem *sem;        /* posted by the writer once the record's write returned */
  int written;          /* set by the writer before the post: 1 written, 0 lost */
};

/* Crawler -> writer: one record. */
struct result {
  struct result *next; /* on the late list */
  struct handoff *handoff; /* or NULL: tell this crawler when it is written (--redis) */
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
  int resumed;               /* set by crawl_resume: an existing journal was resumed */
  int out_fd;                /* set by crawl_start; then writer only */
  int progress;              /* immutable: draw the progress line */
  struct hosts hosts;        /* any task (its own locks) */
  struct client client;      /* immutable */
  struct warc *warc;         /* or NULL: --warc's file; set before crawl_start, then any crawler */
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
  struct fp_key key;         /* the fingerprints' key; immutable once crawl_start runs */
  int journaling;            /* --state: set by crawl_resume; immutable after */
  struct state state;        /* the journal: main task, then the dispatcher (appends) and
                                the syncer (fdatasync) from crawl_start to crawl_wait */
  struct fpset restored;     /* crawl_resume's seen set: main task, then the dispatcher's */
  long restored_records;     /* records the journal holds; immutable after crawl_resume */
  const char *spill_dir;     /* where the queue spills; immutable */
  long queue_mem, queue_low; /* QUEUE_MEM and QUEUE_LOW, or as the environment says; immutable */
  weft_sem *sync_stop;       /* posted once, by crawl_wait, to end the syncer */
  weft_task *syncer;         /* main task only */
  int journal_failed;        /* dispatcher only (then crawl_wait, after the join) */
  int64_t started;           /* weft_now() at crawl_start; immutable after */
  unsigned long pages;       /* writer only (then crawl_wait, after the join): records written */
  unsigned long errors;      /* writer only: records with an error */
  uint64_t bytes;            /* writer only: body bytes of all records */
  int write_failed;          /* writer only */
  struct shared *shared;     /* --redis: the shared crawl (crawl_share), else NULL; immutable */
  pthread_mutex_t hosts_lock; /* --redis: guards start_hosts, to which claims add */
  weft_mutex *wake_lock;     /* --redis: guards nothing but the wait on wake */
  weft_cond *wake;           /* --redis: broadcast when a lease ends or URLs were added */
  atomic_ulong wake_gen;     /* --redis: bumped under wake_lock before each broadcast */
  atomic_long alive;         /* --redis: crawlers running, plus crawl_start's own hold */
  atomic_int shared_failed;  /* --redis: Redis failed the crawl (said once, on stderr) */
  atomic_long lost;          /* --redis: results dropped, their lease taken over */
  atomic_long late_records;  /* --redis: records written, then complete said SHARED_LOST */
};

/* ---- items and results ---- */

/* The errors a start URL may carry instead of a request; a journal entry
 * names one by its index + 1. */
enum { START_INVALID, START_SCHEME, START_NOMEM };
static const char *const start_errors[] = {
    [START_INVALID] = "invalid URL",
    [START_SCHEME] = "unsupported URL scheme (fetch crawls http: and https:)",
    [START_NOMEM] = "out of memory",
};

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
  it->last_sent = 0;
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

/* The record res is. The writer and the journal both format it this way,
 * so a record's line in the journal is byte for byte its line in the
 * output. */
static void record_of(const struct result *res, struct record *rec) {
  struct record r = {res->url, res->status, res->bytes,   res->wire_bytes,
                     res->ms,  res->depth,  res->links,   res->redirect,
                     res->tls, res->error,  res->attempts};
  *rec = r;
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

/* Whether host is one of the start URLs' host names (with --redis, of the
 * shared crawl's, which claims add to). */
static int is_start_host(struct crawl *c, const char *host) {
  int yes;
  if (!c->shared)
    return strmap_has(&c->start_hosts, host);
  pthread_mutex_lock(&c->hosts_lock);
  yes = strmap_has(&c->start_hosts, host);
  pthread_mutex_unlock(&c->hosts_lock);
  return yes;
}

/* Whether url is crawled: http or https with a host, on a start host (by
 * name: another port or scheme of it counts, as an http: site that moved
 * to https: must) unless --offsite. */
static int followable(struct crawl *c, const char *url) {
  struct url u;
  int ok;
  if (!url_is_scheme(url, "http") && !url_is_scheme(url, "https"))
    return 0;
  ok = url_split(url, &u) == 0 && (c->o->offsite || is_start_host(c, u.host));
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
static int read_robots(struct crawl *c, struct host *h, const struct url *page, struct item *it) {
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
    client_get(&c->client, rh, &u, max, CLIENT_KEEP_ALL | CLIENT_TRUNCATE, NULL, NULL, &r);
    it->last_sent = weft_now();
    warc_exchange(c->warc, url, &r);
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
static int robots_check(struct crawl *c, struct host *h, const struct url *u, struct item *it) {
  int allowed;
  if (weft_mutex_lock(h->robots_lock, -1) != 0)
    return ROBOTS_CANCELLED;
  if (!h->robots_read && read_robots(c, h, u, it) != 0) {
    weft_mutex_unlock(h->robots_lock);
    return ROBOTS_CANCELLED;
  }
  if (!h->robots_read) {
    set_delay(c, h);
    /* --redis: every process paces the host by the same delay. A failure
     * here is Redis's, which the lease's own calls report. */
    if (c->shared && atomic_load(&h->delay_ms) != c->o->delay_ms)
      shared_set_delay(c->shared, u->origin, atomic_load(&h->delay_ms));
  }
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
  case WEFT_ETIMEDOUT:
    return 1;
  }
  if (r->error)
    return 0; /* a malformed response, TLS, DNS, --max-body: the same again */
  switch (r->status) {
  case 429:
  case 500:
  case 502:
  case 503:
  case 504:
    return 1;
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

/* Count the attempt that r answers for it. When it failed in a way worth
 * retrying and --retries allows one more, set it->not_before to when and
 * return 1; else 0. */
static int attempt_again(const struct crawl *c, struct item *it, const struct response *r) {
  it->attempts++;
  it->resends += r->resent;
  if (!retryable(r) || it->attempts > c->o->retries)
    return 0;
  it->not_before = weft_now() + retry_wait(c, r, it->attempts);
  return 1;
}

/* Fill in the fields of res that every final answer r gives. */
static void result_answered(struct result *res, const struct item *it, const struct response *r) {
  res->attempts = it->attempts + it->resends;
  res->status = r->status;
  res->bytes = r->bytes;
  res->wire_bytes = r->wire_bytes;
  res->ms = r->ms;
  res->tls = r->tls;
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
  it->last_sent = weft_now();
  warc_exchange(c->warc, it->url, &r); /* each attempt received is archived */
  if (attempt_again(c, it, &r)) {
    links_scan_destroy(&scan);
    response_free(&r);
    return AGAIN;
  }
  result_answered(res, it, &r);
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
  client_get(&c->client, h, u, SITEMAP_MAX_BYTES, CLIENT_KEEP_ALL, NULL, NULL, &r);
  it->last_sent = weft_now();
  warc_exchange(c->warc, it->url, &r);
  if (attempt_again(c, it, &r)) {
    response_free(&r);
    weft_sem_post(c->sitemap_slots);
    return AGAIN;
  }
  result_answered(res, it, &r);
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
static int process(struct crawl *c, struct item *it, struct item_list *found, struct result **out) {
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
  rc = c->o->robots ? robots_check(c, h, &u, it) : ROBOTS_ALLOWED;
  offer_robots_sitemaps(c, h, it, rc, found);
  /* With --redis, Redis gives each host its turns (see One crawl in Redis). */
  if (rc == ROBOTS_ALLOWED &&
      ((!c->shared && wait_turn(h, it)) || fetch_item(c, it, h, &u, out, found) == AGAIN)) {
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

/* The crawl was stopped and the dispatcher takes no more events: the
 * record goes straight to the writer, or, with --state, nowhere (stop
 * protocol, step 3); the rest is freed. */
static void undelivered(struct crawl *c, struct event *ev) {
  if (ev->res && !c->journaling)
    hand_over(c, ev->res);
  else if (ev->res)
    result_free(ev->res);
  items_free(ev->found);
  free(ev->again);
  free(ev->done);
}

static void *crawler(void *arg) {
  struct crawl *c = arg;
  struct item *it;
  while (weft_chan_recv(c->frontier, &it, -1) == 0) {
    struct item_list found;
    struct event ev = {.found = NULL};
    struct result *res;
    list_init(&found);
    if (process(c, it, &found, &res) == AGAIN) {
      ev.again = it; /* the dispatcher's again */
    } else {
      ev.done = it; /* the dispatcher's: it settles the URL and its record */
      ev.res = res;
      ev.recorded = res != NULL;
    }
    ev.found = found.head;
    if (weft_chan_send(c->events, &ev, -1) != 0)
      undelivered(c, &ev);
  }
  return NULL;
}

/* ---- one crawl in Redis (--redis; crawler tasks) ----
 *
 * With --redis HOST:PORT --crawl NAME the frontier is not the dispatcher's
 * but the shared crawl's in Redis (shared.h, docs/redis.md), and there is
 * no dispatcher: each crawler task loops on shared_claim. A claimed URL is
 * handled by process() as any other (robots.txt, the request, its links),
 * then settled in this order:
 *  1. the URLs it found are added (shared_add_many);
 *  2. if it gets a record and less than half a lease is left, the lease is
 *     renewed: SHARED_LOST means it was reaped and may be another
 *     process's now, so the result is dropped (that process records it);
 *  3. the record goes to the writer, and the crawler waits (shielded from
 *     cancellation: the writer holds a pointer to its handoff) until the
 *     writer's write(2) of it has returned;
 *  4. the lease is completed, and the process's idle crawlers are woken.
 * Step 1 before 4 is what lets the crawl end (docs/redis.md: while a
 * lease is live nobody sees "finished", so links added before it ends are
 * never missed). Step 3 before 4 means a completed URL always has its
 * record: a process killed before 4 loses its lease, never a record, and
 * whoever claims the URL after the lease expires fetches and records it
 * (at-least-once fetches). Killed before 3, the URL has one record, the
 * taker's. Killed between 3 and 4 (the write has returned, the complete
 * is not yet in Redis: one round trip), it has two, this process's and
 * the taker's, with the same url; no order of a file write and a Redis
 * call closes that window, so it is said in docs/redis.md (Limits) and a
 * reader of the union keeps one record per url. Step 2 keeps a
 * record from being written by a holder whose lease is about to lapse:
 * half a lease (15 s by default) is far more than steps 3-4 take. A
 * record can still be written twice if this process stalls that long
 * between 2 and 4; complete then answers SHARED_LOST, which is counted
 * and said at the end ("records written after their lease lapsed").
 *
 * Politeness. Redis gives each host its turns (its per-host cap and its
 * next turn; wait_turn is not used). A lease may make more than one
 * request (robots.txt, retries), which this process's host_pace spaces by
 * the host's delay as ever; the time its last request returned goes with
 * the complete (shared_entry.last_sent), which moves the host's next turn
 * to at least that time plus the delay. So with --per-host 1 the requests
 * of all processes to one host never overlap and start at least the
 * delay apart. A retry keeps its lease, renewed to cover the backoff.
 *
 * Idle crawlers. A claim that answers SHARED_WAIT sleeps on wake until
 * the time it was given, at most IDLE_POLL_MS (another process may add or
 * complete sooner), or until this process makes work claimable: adding k
 * new URLs wakes k idle crawlers, ending a lease one (its host has room
 * again), and a claim that succeeds wakes one more (there may be more to
 * claim; the chain stops at the first claim that answers SHARED_WAIT).
 * Waking them all each time made each page cost a claim per idle crawler.
 * A wakeup cannot be lost: a crawler reads wake_gen before it claims and
 * sleeps only while wake_gen is unchanged, checked under wake_lock; wake
 * bumps wake_gen under wake_lock before it signals, so an event between a
 * crawler's claim and its sleep keeps it from sleeping.
 *
 * End. SHARED_FINISHED or SHARED_LIMIT ends a crawler; the last crawler
 * to end posts finished (alive counts them and crawl_start's own hold).
 * A Redis failure (REDIS_EDOWN after --redis-timeout, a script error) is
 * said once and stops the crawl; the records written so far stay. On
 * SIGINT the cancelled crawlers drop what they had and release their
 * leases (shielded), so other processes take the URLs at once.
 */

#define FLAG_START 1          /* a shared entry's flags: a start URL */
#define FLAG_HOPS_SHIFT 1     /* 3 bits: the redirects followed to reach it */
#define FLAG_SITEMAP_SHIFT 4  /* 3 bits: its sitemap level (see Sitemaps) */
#define IDLE_POLL_MS 100      /* an idle crawler claims again at least this often */

static int item_flags(const struct item *it) {
  return (it->start ? FLAG_START : 0) | (it->hops & 7) << FLAG_HOPS_SHIFT |
         (it->sitemap & 7) << FLAG_SITEMAP_SHIFT;
}

/* The item a claimed entry names, or NULL when out of memory. */
static struct item *item_of_entry(const struct shared_entry *e) {
  struct item *it = item_new(e->url, e->depth, (e->flags >> FLAG_HOPS_SHIFT) & 7, NULL);
  if (it) {
    it->start = e->flags & FLAG_START;
    it->sitemap = (e->flags >> FLAG_SITEMAP_SHIFT) & 7;
  }
  return it;
}

/* Note url's host as a start host (under hosts_lock: followable reads it). */
static void note_start_host(struct crawl *c, const char *url) {
  struct url u;
  if (url_split(url, &u) == 0 && !is_start_host(c, u.host)) {
    pthread_mutex_lock(&c->hosts_lock);
    strmap_add(&c->start_hosts, u.host, NULL);
    pthread_mutex_unlock(&c->hosts_lock);
  }
  url_parts_free(&u);
}

static int note_start_name(void *arg, const char *name) {
  struct crawl *c = arg;
  pthread_mutex_lock(&c->hosts_lock);
  strmap_add(&c->start_hosts, name, NULL);
  pthread_mutex_unlock(&c->hosts_lock);
  return 0;
}

/* Say once why Redis failed the crawl, and stop it. */
static void shared_fail(struct crawl *c, int rc, const char *doing) {
  if (rc == WEFT_ECANCELED && weft_canceled())
    return; /* stopped: not Redis's fault */
  if (!atomic_exchange(&c->shared_failed, 1))
    fprintf(stderr, "fetch: --redis: %s: %s; stopping the crawl\n", doing,
            shared_strerror(c->shared, rc));
  crawl_stop(c);
}

/* Wake n of this process's idle crawlers (see Idle crawlers); n < 0: all. */
static void wake(struct crawl *c, long n) {
  int locked = weft_mutex_lock(c->wake_lock, -1) == 0;
  atomic_fetch_add(&c->wake_gen, 1);
  if (n < 0 || n >= c->o->concurrency)
    weft_cond_broadcast(c->wake);
  else
    while (n-- > 0)
      weft_cond_signal(c->wake);
  if (locked)
    weft_mutex_unlock(c->wake_lock);
}

/* Sleep until wait_ms from now (at most IDLE_POLL_MS) unless wake_gen
 * moves from gen. */
static void idle_wait(struct crawl *c, unsigned long gen, int64_t wait_ms) {
  int64_t deadline = weft_now() + (wait_ms < IDLE_POLL_MS ? wait_ms : IDLE_POLL_MS);
  if (wait_ms <= 0) {
    weft_yield();
    return;
  }
  if (weft_mutex_lock(c->wake_lock, -1) != 0)
    return;
  while (atomic_load(&c->wake_gen) == gen)
    if (weft_cond_wait(c->wake, c->wake_lock, deadline) != 0)
      break;
  weft_mutex_unlock(c->wake_lock);
}

/* Add the URLs of list (taking it) to the shared crawl. Returns 0 or an
 * error. */
static int add_found(struct crawl *c, struct item *list) {
  size_t n = 0, i = 0;
  struct shared_url *v;
  struct url *parts;
  long rc = 0;
  for (const struct item *it = list; it; it = it->next)
    n++;
  v = calloc(n ? n : 1, sizeof *v);
  parts = calloc(n ? n : 1, sizeof *parts);
  for (const struct item *it = list; v && parts && it; it = it->next) {
    /* A URL the add script would refuse (over 64 KiB, or a host key over
     * 1 KiB) is dropped, as one the local queue has no memory for is. */
    if (url_split(it->url, &parts[i]) != 0 || strlen(it->url) > SHARED_URL_MAX ||
        strlen(parts[i].origin) > SHARED_HOST_MAX) {
      url_parts_free(&parts[i]);
      continue;
    }
    v[i] = (struct shared_url){parts[i].origin, it->url, it->depth, item_flags(it)};
    i++;
  }
  if (!v || !parts)
    rc = WEFT_ENOMEM;
  else if (i > 0)
    rc = shared_add_many(c->shared, v, i, NULL);
  for (size_t j = 0; j < i; j++)
    url_parts_free(&parts[j]);
  free(v);
  free(parts);
  items_free(list);
  if (rc > 0)
    wake(c, rc); /* one idle crawler per new URL, at most */
  return rc < 0 ? (int)rc : 0;
}

/* Give e back (shielded: a cancelled crawler's calls would fail). */
static void release_shielded(struct crawl *c, struct shared_entry *e) {
  weft_cancel_shield(1);
  shared_release(c->shared, e);
  weft_cancel_shield(0);
  wake(c, 1);
}

/* Hand res to the writer and wait until it is written (step 3). Returns 1
 * written, 0 not (the output failed). */
static int write_record(struct crawl *c, struct result *res, struct handoff *ho) {
  int rc;
  res->handoff = ho;
  ho->written = 0;
  /* Shielded (shared_settle): the writer takes every record until
   * crawl_wait closes results, after the last crawler has ended, and
   * posts the handoff once it has written it. */
  if ((rc = weft_chan_send(c->results, &res, -1)) == 0)
    rc = weft_sem_wait(ho->sem, -1);
  else
    result_free(res);
  return rc == 0 && ho->written;
}

/* Settle a fetched URL: steps 1 to 4 (see One crawl in Redis). Shielded
 * by the caller: a stop that comes meanwhile must not leave a record
 * written and its lease live, which another process would record again. */
static void shared_settle(struct crawl *c, struct shared_entry *e, struct item *found,
                          struct result *res, struct handoff *ho) {
  int rc;
  if ((rc = add_found(c, found)) != 0) { /* step 1 */
    shared_fail(c, rc, "adding URLs");
    if (res)
      result_free(res);
    return; /* the lease lapses: the page is fetched again, by anyone */
  }
  if (res && e->deadline - weft_now() < shared_lease_ms(c->shared) / 2 &&
      (rc = shared_renew(c->shared, e, 0)) != 0) { /* step 2 */
    if (rc == SHARED_LOST)
      atomic_fetch_add(&c->lost, 1);
    else
      shared_fail(c, rc, "renewing a lease");
    result_free(res);
    return;
  }
  if (res && !write_record(c, res, ho)) { /* step 3 */
    shared_release(c->shared, e);
    wake(c, 1);
    return;
  }
  rc = shared_complete(c->shared, e, res != NULL); /* step 4 */
  if (rc == SHARED_LOST && res)
    atomic_fetch_add(&c->late_records, 1);
  else if (rc != 0 && rc != SHARED_LOST)
    shared_fail(c, rc, "completing a lease");
  wake(c, 1); /* its host has room for one more lease */
}

/* Handle the claimed entry e (see One crawl in Redis). */
static void shared_one(struct crawl *c, struct shared_entry *e, struct handoff *ho) {
  struct item *it = item_of_entry(e);
  struct item_list found;
  struct result *res = NULL;
  int rc;
  if (!it) {
    release_shielded(c, e);
    return;
  }
  /* Every page queued in the crawl is on a start host (by name) or the
   * crawl is --offsite: a link is queued when followable, or on its
   * page's own server, itself on one by induction. So a claimed page
   * names a start host even when this process joined before the start
   * URLs' hosts reached Redis. A sitemap may be on any host. */
  if (!it->sitemap)
    note_start_host(c, it->url);
  list_init(&found);
  while (process(c, it, &found, &res) == AGAIN) { /* a retry: keep the lease over the backoff */
    int64_t now = weft_now();
    if (it->not_before + shared_lease_ms(c->shared) / 2 > e->deadline &&
        (rc = shared_renew(c->shared, e, it->not_before - now + shared_lease_ms(c->shared))) != 0) {
      if (rc != SHARED_LOST)
        shared_fail(c, rc, "renewing a lease");
      else
        atomic_fetch_add(&c->lost, 1);
      items_free(found.head);
      free(it);
      return;
    }
    if (weft_sleep_until(it->not_before) != 0)
      break; /* stopped */
  }
  e->last_sent = it->last_sent;
  if (weft_canceled()) { /* stopped: another process takes the URL */
    if (res)
      result_free(res);
    items_free(found.head);
    release_shielded(c, e);
    free(it);
    return;
  }
  free(it);
  weft_cancel_shield(1);
  shared_settle(c, e, found.head, res, ho);
  weft_cancel_shield(0);
}

static void *shared_crawler(void *arg) {
  struct crawl *c = arg;
  struct handoff ho = {.sem = NULL};
  int rc = weft_sem_new(&ho.sem, 0);
  if (rc != 0)
    shared_fail(c, rc, "starting a crawler");
  while (rc == 0 && !atomic_load(&c->stopping)) {
    struct shared_entry e;
    int64_t wait = 0;
    unsigned long gen = atomic_load(&c->wake_gen);
    rc = shared_claim(c->shared, &e, &wait);
    if (rc == SHARED_CLAIMED) {
      wake(c, 1); /* there may be more: the next idle crawler tries (see Idle crawlers) */
      atomic_fetch_add(&c->in_flight, 1);
      shared_one(c, &e, &ho);
      atomic_fetch_sub(&c->in_flight, 1);
      shared_entry_free(&e);
      rc = 0;
    } else if (rc == SHARED_WAIT) {
      idle_wait(c, gen, wait);
      rc = 0;
    } else if (rc == SHARED_FINISHED || rc == SHARED_LIMIT) {
      wake(c, -1); /* the idle ones see it at once */
    } else {
      shared_fail(c, rc, "claiming a URL");
    }
  }
  if (ho.sem)
    weft_sem_free(ho.sem);
  if (atomic_fetch_sub(&c->alive, 1) == 1)
    weft_sem_post(c->finished);
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
  struct crawl *c;
  struct item_list queue;           /* the oldest queued URLs, in memory */
  long queued;                      /* in the list and in the spill */
  long in_flight;                   /* sent to a crawler, no event back yet */
  long recorded;                    /* events that said "recorded" */
  struct fpset seen;                /* the fingerprint of every URL ever queued */
  struct deferred later;            /* handed back; neither queued nor in flight */
  struct spill spill;               /* the newest queued URLs, past QUEUE_MEM in the list */
  struct buf journal;               /* --state: frames not yet written (the journal protocol) */
  struct buf line;                  /* scratch: a record's line for its D entry */
  struct result *held, **held_tail; /* records whose D entries are in journal, in order */
  long unjournaled;                 /* D entries in journal */
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

/* The index + 1 of a start URL's error in start_errors, 0 for none. */
static int error_code(const char *error) {
  for (size_t i = 0; error && i < sizeof start_errors / sizeof *start_errors; i++)
    if (strcmp(error, start_errors[i]) == 0)
      return (int)i + 1;
  return error ? START_INVALID + 1 : 0;
}

/* Append it as a J entry to b. Returns 0 or -1 (it cannot be one). */
static int put_join(struct buf *b, const struct item *it) {
  struct jentry e = {.type = JOURNAL_JOIN, .url = it->url, .url_len = strlen(it->url)};
  e.depth = (uint32_t)it->depth;
  e.hops = it->hops;
  e.start = it->start;
  e.sitemap = it->sitemap;
  e.error = error_code(it->error);
  return journal_put(b, &e);
}

/* The item a J entry describes, or NULL when out of memory. */
static struct item *item_of(const struct jentry *e) {
  struct item *it = malloc(sizeof *it + e->url_len + 1);
  if (!it)
    return NULL;
  memset(it, 0, sizeof *it);
  it->depth = (int)e->depth;
  it->hops = e->hops;
  it->start = e->start;
  it->sitemap = e->sitemap;
  if (e->error > 0)
    it->error = start_errors[(size_t)e->error - 1 < sizeof start_errors / sizeof *start_errors
                                 ? e->error - 1
                                 : START_INVALID];
  memcpy(it->url, e->url, e->url_len);
  it->url[e->url_len] = '\0';
  return it;
}

/* Queue it at the tail: in the list while nothing is spilled and the list
 * has room, else in the spill (which takes a copy). Out of memory: the
 * URL is dropped, as list_push drops one. */
static void queue_push(struct frontier *f, struct item *it) {
  struct buf frame = BUF_INIT;
  if (f->spill.len == 0 && f->queued < f->c->queue_mem) {
    list_push(&f->queue, it);
    f->queued++;
    return;
  }
  if (put_join(&frame, it) == 0 && !buf_failed(&frame) &&
      spill_push(&f->spill, frame.data, frame.len, 1) == 0)
    f->queued++;
  buf_free(&frame);
  free(it);
}

/* Read the oldest spilled URLs back onto the list's end, until the list
 * holds some or the spill is empty (keeping the queue's invariant). */
static void refill(struct frontier *f) {
  struct buf b = BUF_INIT;
  while (f->spill.len > 0 && f->queued - f->spill.len < f->c->queue_low) {
    size_t pos = 0, used;
    long n, got = 0;
    struct jentry e;
    spill_take(&f->spill, &b, &n);
    while (b.data && journal_next(b.data + pos, b.len - pos, &e, &used) == JOURNAL_OK) {
      struct item *it = item_of(&e);
      if (it) {
        list_push(&f->queue, it);
        got++;
      }
      pos += used;
    }
    f->queued -= n - got; /* lost: unreadable, or no memory */
    buf_reset(&b);
  }
  buf_free(&b);
}

/* Append a J entry for it to the pending frames (the journal protocol,
 * step 1). Returns 0, or -1 when it cannot be journaled (dropped). */
static int journal_join(struct frontier *f, const struct item *it) {
  return f->c->journaling ? put_join(&f->journal, it) : 0;
}

/* The fingerprint a URL has in the seen set: for a page, its URL's; for a
 * sitemap, its URL's under the key with one bit flipped, so that a URL
 * both linked and named as a sitemap is fetched as each (see Sitemaps). */
static struct fp seen_fp(const struct crawl *c, const char *url, size_t len, int sitemap) {
  struct fp_key k = c->key;
  k.bytes[0] ^= sitemap ? 1 : 0;
  return fp_of(&k, url, len);
}

/* Queue each URL of list not seen before; free the others. */
static void offer(struct frontier *f, struct item *list) {
  while (list) {
    struct item *next = list->next;
    struct fp fp = seen_fp(f->c, list->url, strlen(list->url), list->sitemap);
    if (fpset_add(&f->seen, fp) == 1 && journal_join(f, list) == 0)
      queue_push(f, list);
    else
      free(list); /* seen, or out of memory */
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
  if (f->spill.len > 0 && f->queued - f->spill.len < f->c->queue_low)
    refill(f);
}

/* Whether the frontier case may send: fewer than -c URLs out or settled
 * but not yet journaled (the journal protocol, step 4), the most a kill
 * can make a resumed crawl request again. */
static int may_send(const struct frontier *f) {
  return f->in_flight + f->unjournaled < f->c->o->concurrency;
}

/* Give res to the writer. The dispatcher is never cancelled and the
 * results channel closes only after it has ended, so the send succeeds. */
static void to_writer(struct crawl *c, struct result *res) {
  if (weft_chan_send(c->results, &res, -1) != 0)
    result_free(res);
}

/* Write the pending frames, then release the records they settle (the
 * journal protocol, step 3). After a failed write the crawl stops and
 * the held records are dropped: the output holds only journaled ones. */
static void journal_flush(struct frontier *f) {
  struct crawl *c = f->c;
  int rc = 0;
  if (buf_failed(&f->journal))
    rc = WEFT_ENOMEM;
  else if (f->journal.len > 0 && !c->journal_failed)
    rc = state_append(&c->state, f->journal.data, f->journal.len);
  if (rc != 0 && !c->journal_failed) {
    fprintf(stderr, "fetch: cannot write the journal in %s: %s; stopping the crawl\n", c->state.dir,
            weft_strerror(rc));
    c->journal_failed = 1;
    crawl_stop(c);
  }
  buf_reset(&f->journal);
  f->unjournaled = 0;
  while (f->held) {
    struct result *res = f->held;
    if (!(f->held = res->next))
      f->held_tail = &f->held;
    if (c->journal_failed)
      result_free(res);
    else
      to_writer(c, res);
  }
}

/* Append D(it) with res's line and hold res (the journal protocol, step 2). */
static void journal_done(struct frontier *f, const struct item *it, struct result *res) {
  struct jentry e = {.type = JOURNAL_DONE};
  int bad = 0;
  e.fp = seen_fp(f->c, it->url, strlen(it->url), it->sitemap);
  if (res) {
    struct record rec;
    record_of(res, &rec);
    buf_reset(&f->line);
    record_format(&f->line, &rec);
    e.line = f->line.data;
    e.line_len = f->line.len;
    res->next = NULL;
    *f->held_tail = res;
    f->held_tail = &res->next;
    bad = buf_failed(&f->line);
  }
  if (bad || journal_put(&f->journal, &e) != 0)
    f->journal.failed = 1; /* journal_flush reports it and stops the crawl */
  f->unjournaled++;
}

/* Settle the URL an event finished, after offer() took what it found:
 * journal it and release its record when the journal is written, or at
 * once without --state. A handed-back URL (ev->again) is not finished. */
static void completed(struct frontier *f, struct event *ev) {
  struct crawl *c = f->c;
  if (!ev->done)
    return;
  if (c->journaling)
    journal_done(f, ev->done, ev->res);
  else if (ev->res)
    to_writer(c, ev->res);
  free(ev->done);
  ev->done = NULL;
  ev->res = NULL;
  if (f->unjournaled > 0 && (weft_chan_len(c->events) == 0 || f->journal.len >= JOURNAL_BATCH))
    journal_flush(f);
}

/* An event still buffered when the loop ended: settled like any, so that
 * its record is written and, with --state, what it found is journaled. */
static void drained(struct frontier *f, struct event *ev) {
  if (f->c->journaling)
    offer(f, ev->found);
  else
    items_free(ev->found);
  completed(f, ev);
  free(ev->again);
}

/* Queue the URLs the journal has as joined and not done (in pass 2 of
 * the replay; pass 1, in crawl_resume, marked the done ones): marking
 * each as it is queued also skips a second J of one URL. */
static int requeue(void *arg, const struct jentry *e) {
  struct frontier *f = arg;
  struct item *it;
  if (e->type != JOURNAL_JOIN ||
      fpset_mark(&f->seen, seen_fp(f->c, e->url, e->url_len, e->sitemap)) != 1)
    return 0;
  if ((it = item_of(e)))
    queue_push(f, it);
  return 0;
}

/* Set up the dispatcher's frontier: with --state from the journal
 * (crawl_resume built the seen set and counted the records), else from
 * the start URLs. */
static void frontier_init(struct crawl *c, struct frontier *f) {
  int rc;
  f->c = c;
  list_init(&f->queue);
  spill_init(&f->spill, c->spill_dir);
  f->held_tail = &f->held;
  if (!c->journaling) {
    fpset_init(&f->seen);
    offer(f, c->seeds.head);
    list_init(&c->seeds);
    return;
  }
  f->seen = c->restored;
  fpset_init(&c->restored);
  f->recorded = c->restored_records;
  if ((rc = state_replay(&c->state, requeue, f)) != 0) {
    fprintf(stderr, "fetch: --state %s: cannot read the journal: %s; stopping the crawl\n",
            c->state.dir, weft_strerror(rc));
    c->journal_failed = 1; /* what was not queued is still in the journal */
    crawl_stop(c);
  }
}

/* Free what frontier_init made, writing what is pending first. */
static void frontier_destroy(struct frontier *f) {
  if (f->unjournaled > 0 || f->journal.len > 0)
    journal_flush(f);
  items_free(f->queue.head);
  list_init(&f->queue);
  spill_free(&f->spill);
  fpset_destroy(&f->seen);
  buf_free(&f->journal);
  buf_free(&f->line);
}

static void *dispatcher(void *arg) {
  struct crawl *c = arg;
  struct frontier f = {.queued = 0};
  long max = c->o->max_pages;
  struct event ev;
  frontier_init(c, &f);
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
    int room = f.queued > 0 && f.recorded + f.in_flight + (long)f.later.len < max && may_send(&f);
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
      completed(&f, &ev);
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
  while (weft_chan_try_recv(c->events, &ev) == 0)
    drained(&f, &ev);
  frontier_destroy(&f);
  later_free(&f.later);
  atomic_store(&c->queued, 0);
  atomic_store(&c->in_flight, 0);
  weft_sem_post(c->finished);
  return NULL;
}

/* ---- records (the writer task) ---- */

static void emit(struct crawl *c, struct buf *out, struct result *res, struct handoff **told) {
  struct record rec;
  if (res->handoff) {
    res->handoff->next = *told;
    *told = res->handoff;
  }
  record_of(res, &rec);
  record_format(out, &rec);
  c->pages++;
  c->errors += res->error != NULL;
  c->bytes += res->bytes;
  result_free(res);
}

/* Write out what is buffered; after a failure, drop it all. Then tell the
 * crawlers waiting for records of it (told) whether they were written. */
static void flush(struct crawl *c, struct buf *out, struct handoff **told) {
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
  while (*told) {
    struct handoff *h = *told;
    *told = h->next;
    h->written = !c->write_failed;
    weft_sem_post(h->sem); /* h may be gone once posted */
  }
}

static double seconds_since(int64_t start) {
  return (double)(weft_now() - start) / 1000.0;
}

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
  struct handoff *told = NULL;
  int64_t next = c->progress ? weft_now() + PROGRESS_MS : -1;
  double s;
  for (;;) {
    int rc = weft_chan_recv(c->results, &res, next);
    if (rc == 0) {
      emit(c, &out, res, &told);
      if (out.len >= FLUSH_AT || weft_chan_len(c->results) == 0)
        flush(c, &out, &told);
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
    emit(c, &out, late, &told);
  }
  flush(c, &out, &told);
  buf_free(&out);
  if (c->progress)
    fputs("\r\033[K", stderr);
  s = seconds_since(c->started);
  fprintf(stderr, "fetched %lu pages (%lu errors), %" PRIu64 " bytes in %.2f s, %.1f pages/s\n",
          c->pages, c->errors, c->bytes, s, s > 0 ? (double)c->pages / s : 0.0);
  return NULL;
}

/* ---- the crawl ---- */

/* Where the queue spills, and how much of it stays in memory (QUEUE_MEM,
 * or $FETCH_QUEUE_MEM). */
static void spill_dirs(struct crawl *c) {
  const char *tmp = getenv("TMPDIR"), *mem = getenv("FETCH_QUEUE_MEM");
  long n = mem ? atol(mem) : 0;
  c->spill_dir = c->o->state ? c->o->state : tmp && *tmp ? tmp : "/tmp";
  c->queue_mem = n > 0 ? n : QUEUE_MEM;
  c->queue_low = c->queue_mem / 2 < QUEUE_LOW ? c->queue_mem / 2 + 1 : QUEUE_LOW;
}

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
  fp_key_random(&c->key);
  spill_dirs(c);
  strmap_init(&c->start_hosts);
  list_init(&c->seeds);
  pthread_mutex_init(&c->stop_lock, NULL);
  pthread_mutex_init(&c->late_lock, NULL);
  pthread_mutex_init(&c->hosts_lock, NULL);
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
    error = start_errors[START_INVALID];
  else if (!url_is_scheme(url, "http") && !url_is_scheme(url, "https"))
    error = start_errors[START_SCHEME];
  else if ((rc = add_start_host(c, url)) == URL_ENOMEM)
    error = start_errors[START_NOMEM];
  else if (rc != 0)
    error = start_errors[START_INVALID];
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

/* ---- the journal, before the crawl (main task) ---- */

/* The options that define the crawl, as the journal's header keeps them:
 * what is crawled and where the records go. The others (-c, -t, -n,
 * --delay, --retries, ...) may change from one run to the next; -n counts
 * the records of every run. */
static void options_text(const struct crawl *c, struct buf *b) {
  static const struct fp_key zero;
  const struct options *o = c->o;
  struct buf seeds = BUF_INIT;
  unsigned char h[16];
  long n = 0;
  buf_puts(b, "output ");
  json_string(b, o->output);
  buf_printf(b, "\ndepth %ld\noffsite %d\nrobots %d\nsitemaps %d\n", o->depth, o->offsite,
             o->robots, o->sitemaps);
  for (size_t i = 0; i < o->naccept; i++) {
    buf_puts(b, "accept ");
    json_string(b, o->accept_src[i]);
    buf_putc(b, '\n');
  }
  for (size_t i = 0; i < o->nreject; i++) {
    buf_puts(b, "reject ");
    json_string(b, o->reject_src[i]);
    buf_putc(b, '\n');
  }
  for (const struct item *it = c->seeds.head; it; it = it->next, n++) {
    buf_puts(&seeds, it->url);
    buf_putc(&seeds, '\n');
  }
  fp_siphash128(&zero, seeds.data ? seeds.data : "", seeds.len, h);
  b->failed |= seeds.failed;
  buf_free(&seeds);
  buf_printf(b, "start-urls %ld ", n);
  for (int i = 0; i < 16; i++)
    buf_printf(b, "%02x", h[i]);
  buf_putc(b, '\n');
}

/* Journal the start URLs the journal does not have: all of them in a new
 * state, and any whose J entries a kill tore off in the first run. Pass 2
 * of the replay then queues them. Returns 0 or a weft error. */
static int journal_seeds(struct crawl *c, long *joined) {
  struct buf b = BUF_INIT;
  int rc = 0;
  for (const struct item *it = c->seeds.head; it && rc == 0; it = it->next) {
    int added = fpset_add(&c->restored, seen_fp(c, it->url, strlen(it->url), 0));
    if (added < 0)
      rc = WEFT_ENOMEM;
    else if (added > 0 && put_join(&b, it) != 0)
      rc = WEFT_EINVAL; /* a start URL too long for an entry */
    *joined += added > 0;
  }
  if (rc == 0 && b.len > 0) {
    struct jentry commit = {.type = JOURNAL_COMMIT};
    journal_put(&b, &commit); /* the start URLs are a group of their own */
    rc = buf_failed(&b) ? WEFT_ENOMEM : state_append(&c->state, b.data, b.len);
  }
  buf_free(&b);
  return rc;
}

/* What crawl_resume's replay (pass 1) gathers. */
struct replay {
  struct crawl *c;
  struct state_output out;
  long joined;   /* distinct URLs joined */
  long done;     /* distinct URLs done */
  char msg[512]; /* why the replay stopped, when it did */
};

#define REPLAY_STOPPED 1 /* replay_seen's "stop": msg says why */

/* Pass 1 of the replay: the seen set from the J entries, a mark on each
 * URL a D entry finished, the count of records, and each record to the
 * output's repair. */
static int replay_seen(void *arg, const struct jentry *e) {
  struct replay *r = arg;
  struct crawl *c = r->c;
  int rc;
  if (e->type == JOURNAL_JOIN) {
    if ((rc = fpset_add(&c->restored, seen_fp(c, e->url, e->url_len, e->sitemap))) < 0)
      return WEFT_ENOMEM;
    r->joined += rc;
    return 0;
  }
  if (e->type != JOURNAL_DONE)
    return 0;
  r->done += fpset_mark(&c->restored, e->fp) == 1;
  if (e->line_len == 0)
    return 0;
  c->restored_records++;
  return state_output_record(&r->out, e->line, e->line_len, r->msg, sizeof r->msg) == 0
             ? 0
             : REPLAY_STOPPED;
}

/* Say what the replay found and repaired. */
static void report_resume(const struct crawl *c, const struct replay *r, int fresh) {
  const char *dir = c->o->state, *out = c->o->output;
  if (c->state.damaged > 0)
    fprintf(stderr,
            "fetch: --state %s: the journal's last %" PRId64 " bytes were not whole entries (a "
            "write cut short); they are gone\n",
            dir, c->state.damaged);
  if (r->out.restored > 0 || r->out.dropped > 0)
    fprintf(stderr,
            "fetch: %s: %ld records written back from the journal, %" PRId64
            " bytes it does not hold cut\n",
            out, r->out.restored, r->out.dropped);
  if (!fresh && r->done < r->joined && c->restored_records < c->o->max_pages)
    fprintf(stderr, "fetch: resuming the crawl in %s: %ld of %ld URLs done, %ld records in %s\n",
            dir, r->done, r->joined, c->restored_records, out);
}

int crawl_resume(struct crawl *c, int *out_fd) {
  const struct options *o = c->o;
  struct replay r = {.c = c};
  struct buf text = BUF_INIT;
  int rc, fresh;
  *out_fd = -1;
  if (strcmp(o->output, "-") == 0) {
    fprintf(stderr, "fetch: --state needs -o FILE: a resumed crawl appends its records to it\n");
    return CRAWL_FAILED;
  }
  options_text(c, &text);
  rc = buf_failed(&text) ? STATE_ERROR
                         : state_open(&c->state, o->state, text.data, r.msg, sizeof r.msg);
  buf_free(&text);
  if (rc == STATE_ERROR) {
    fprintf(stderr, "%s\n", r.msg[0] ? r.msg : "fetch: out of memory");
    return CRAWL_FAILED;
  }
  c->journaling = 1;
  c->key = c->state.key;
  fresh = rc == STATE_NEW;
  c->resumed = !fresh;
  if (state_output_open(&r.out, o->output, fresh, r.msg, sizeof r.msg) != 0) {
    fprintf(stderr, "%s\n", r.msg);
    return CRAWL_FAILED;
  }
  if ((rc = state_replay(&c->state, replay_seen, &r)) == 0 &&
      state_output_finish(&r.out, r.msg, sizeof r.msg) != 0)
    rc = REPLAY_STOPPED;
  buf_free(&r.out.pending);
  if (rc != 0 || (rc = journal_seeds(c, &r.joined)) != 0) {
    if (rc == REPLAY_STOPPED)
      fprintf(stderr, "%s\n", r.msg);
    else
      fprintf(stderr, "fetch: --state %s: cannot use the journal: %s\n", o->state,
              weft_strerror(rc));
    weft_file_close(r.out.fd);
    return CRAWL_FAILED;
  }
  report_resume(c, &r, fresh);
  if (r.done < r.joined && c->restored_records < o->max_pages) {
    *out_fd = r.out.fd;
    return CRAWL_READY;
  }
  if (r.done < r.joined)
    fprintf(stderr, "fetch: the crawl in %s has its %ld records (-n); nothing to do\n", o->state,
            c->restored_records);
  else
    fprintf(stderr, "fetch: the crawl in %s is complete (%ld records in %s); nothing to do\n",
            o->state, c->restored_records, o->output);
  weft_file_close(r.out.fd);
  return CRAWL_FINISHED;
}

int crawl_resumed(const struct crawl *c) {
  return c->resumed;
}

/* ---- running it ---- */

/* With --state: the journal and the output reach the disk every SYNC_MS,
 * and once more when crawl_wait ends it (the journal protocol, step 5). */
static void *syncer(void *arg) {
  struct crawl *c = arg;
  int last;
  do {
    last = weft_sem_wait(c->sync_stop, weft_now() + SYNC_MS) == 0;
    state_sync(c->state.fd);
    state_sync(c->out_fd);
  } while (!last);
  return NULL;
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

static int shared_crawler_member(void *arg) {
  shared_crawler(arg);
  return 0;
}

/* End the syncer, after its last sync. */
static void syncer_stop(struct crawl *c) {
  if (!c->syncer)
    return;
  weft_sem_post(c->sync_stop);
  weft_join(c->syncer, NULL);
  c->syncer = NULL;
}

/* crawl_start with --redis: the writer and the crawlers, no dispatcher
 * (see One crawl in Redis). The start URLs fetch cannot use get their
 * records here: they never reach Redis. */
static int shared_start(struct crawl *c) {
  weft_spawn_attr attr;
  int rc;
  if ((rc = spawn(&c->writer, "writer", 0, writer, c)) != 0)
    return rc;
  for (struct item *it = c->seeds.head; it; it = it->next) {
    struct result *res = result_new(it);
    if (res)
      to_writer(c, set_error(res, it->error));
  }
  items_free(c->seeds.head);
  list_init(&c->seeds);
  atomic_store(&c->alive, 1); /* this function's hold, dropped below */
  pthread_mutex_lock(&c->stop_lock);
  weft_spawn_attr_init(&attr);
  attr.name = "crawler";
  attr.stack_size = CRAWLER_STACK;
  if (weft_scope_new(&c->crawlers) == 0) {
    while (c->ncrawlers < c->o->concurrency) {
      atomic_fetch_add(&c->alive, 1);
      if (weft_scope_go_ex(c->crawlers, &attr, shared_crawler_member, c) != 0) {
        atomic_fetch_sub(&c->alive, 1);
        break;
      }
      c->ncrawlers++;
    }
  }
  if (c->stopped || c->ncrawlers == 0)
    stop_locked(c);
  pthread_mutex_unlock(&c->stop_lock);
  if (atomic_fetch_sub(&c->alive, 1) == 1)
    weft_sem_post(c->finished);
  return 0;
}

int crawl_start(struct crawl *c, int out_fd) {
  int rc;
  c->out_fd = out_fd;
  c->started = weft_now();
  if (c->shared)
    return shared_start(c);
  if (c->journaling && ((rc = weft_sem_new(&c->sync_stop, 0)) != 0 ||
                        (rc = spawn(&c->syncer, "syncer", 0, syncer, c)) != 0))
    return rc;
  if ((rc = spawn(&c->writer, "writer", 0, writer, c)) != 0) {
    syncer_stop(c);
    return rc;
  }
  pthread_mutex_lock(&c->stop_lock);
  if ((rc = spawn(&c->dispatcher, "dispatcher", 0, dispatcher, c)) != 0) {
    pthread_mutex_unlock(&c->stop_lock);
    weft_chan_close(c->results);
    weft_join(c->writer, NULL);
    c->writer = NULL;
    syncer_stop(c);
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

void crawl_archive(struct crawl *c, struct warc *w) {
  c->warc = w;
  c->client.capture = w != NULL;
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
  if (c->dispatcher)
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
  syncer_stop(c);
  if (atomic_load(&c->lost) > 0)
    fprintf(stderr, "fetch: %ld results dropped: their lease had lapsed and another process may "
                    "have taken the URL (--lease is %ld ms)\n",
            atomic_load(&c->lost), c->o->lease_ms);
  if (atomic_load(&c->late_records) > 0)
    fprintf(stderr, "fetch: %ld records written after their lease lapsed: another process may "
                    "record those URLs too\n",
            atomic_load(&c->late_records));
  return c->write_failed || c->journal_failed || atomic_load(&c->shared_failed) ? 1 : 0;
}

/* The options that define a shared crawl, as "name=value" lines: what is
 * crawled (depth, filters, robots.txt, sitemaps, Crawl-delay's cap). The
 * first process stores them; a later one must give the same. -c, -t,
 * --retries, the outputs and the start URLs may differ per process. */
static void shared_options(const struct crawl *c, struct buf *b) {
  const struct options *o = c->o;
  buf_printf(b, "depth=%ld\noffsite=%d\nrobots=%d\nsitemaps=%d\nmax-crawl-delay=%ld\naccept=",
             o->depth, o->offsite, o->robots, o->sitemaps, o->max_crawl_delay_ms);
  for (size_t i = 0; i < o->naccept; i++) {
    buf_puts(b, i ? "," : "");
    json_string(b, o->accept_src[i]);
  }
  buf_puts(b, "\nreject=");
  for (size_t i = 0; i < o->nreject; i++) {
    buf_puts(b, i ? "," : "");
    json_string(b, o->reject_src[i]);
  }
  buf_putc(b, '\0');
}

int crawl_share(struct crawl *c, struct redis *r) {
  struct shared_config cfg = {.name = c->o->crawl};
  struct buf opts = BUF_INIT;
  struct item_list valid, errors;
  char err[1024];
  int rc;
  shared_options(c, &opts);
  if (buf_failed(&opts)) {
    buf_free(&opts);
    fprintf(stderr, "fetch: out of memory\n");
    return CRAWL_FAILED;
  }
  cfg.options = opts.data;
  cfg.per_host = c->o->per_host;
  cfg.delay_ms = c->o->delay_ms;
  cfg.max_pages = c->o->max_pages;
  cfg.lease_ms = c->o->lease_ms;
  rc = shared_open(&c->shared, r, &cfg, err, sizeof err);
  buf_free(&opts);
  if (rc != 0) {
    fprintf(stderr, "fetch: --redis %s --crawl %s: %s\n", c->o->redis, c->o->crawl, err);
    if (rc == SHARED_ECONFLICT)
      fprintf(stderr, "fetch: give the options the crawl was started with, or another --crawl\n");
    return CRAWL_FAILED;
  }
  if ((rc = weft_mutex_new(&c->wake_lock)) != 0 || (rc = weft_cond_new(&c->wake)) != 0) {
    fprintf(stderr, "fetch: cannot start: %s\n", weft_strerror(rc));
    return CRAWL_FAILED;
  }
  /* The start URLs' hosts join the crawl's, and this process learns the
   * others'; then the start URLs join the frontier (those already seen
   * are not queued again). */
  list_init(&valid);
  list_init(&errors);
  for (struct item *it = c->seeds.head, *next; it; it = next) {
    next = it->next;
    it->next = NULL;
    list_push(it->error ? &errors : &valid, it);
  }
  c->seeds = errors;
  rc = 0;
  for (size_t i = 0; rc == 0 && i < c->start_hosts.cap; i++)
    if (c->start_hosts.slots[i].key)
      rc = shared_start_host(c->shared, c->start_hosts.slots[i].key);
  if (rc == 0)
    rc = shared_start_hosts(c->shared, note_start_name, c);
  if (rc == 0)
    rc = add_found(c, valid.head);
  else
    items_free(valid.head);
  if (rc != 0) {
    fprintf(stderr, "fetch: --redis %s --crawl %s: %s\n", c->o->redis, c->o->crawl,
            shared_strerror(c->shared, rc));
    return CRAWL_FAILED;
  }
  return CRAWL_READY;
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
  if (c->sync_stop)
    weft_sem_free(c->sync_stop);
  if (c->journaling)
    state_close(&c->state);
  fpset_destroy(&c->restored);
  pthread_mutex_destroy(&c->stop_lock);
  pthread_mutex_destroy(&c->late_lock);
  pthread_mutex_destroy(&c->hosts_lock);
  shared_close(c->shared);
  if (c->wake)
    weft_cond_free(c->wake);
  if (c->wake_lock)
    weft_mutex_free(c->wake_lock);
  free(c);
}
