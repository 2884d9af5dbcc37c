/*
 * hosts.c - per-server state: connection pool and robots.txt (see hosts.h).
 *
 * The table and each idle list are guarded by plain pthread mutexes, not
 * weft_mutex: they are held for a few instructions, never across a call
 * that may switch, and a task that has been cancelled must still be able
 * to give its connection back (a weft_mutex_lock would return
 * WEFT_ECANCELED to it). Waiting that may be long (a lease, robots.txt
 * being read by another task) uses weft's semaphore and mutex, which park
 * the task instead of its worker.
 */
#include "hosts.h"

#include "robots.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int hosts_init(struct hosts *t, long per_host, long idle_max) {
  pthread_mutex_init(&t->lock, NULL);
  strmap_init(&t->map);
  t->per_host = per_host;
  t->idle_max = idle_max;
  t->delay_ms = 0;
  atomic_init(&t->idle, 0);
  return 0;
}

void conn_close(struct conn *c) {
  tls_free(c->tls);
  weft_sock_close(c->sock);
  free(c);
}

static void host_free(void *p) {
  struct host *h = p;
  struct conn *c, *next;
  for (c = h->idle; c; c = next) {
    next = c->next;
    conn_close(c);
  }
  tls_cache_destroy(&h->tls);
  weft_sem_free(h->slots);
  weft_mutex_free(h->robots_lock);
  pthread_mutex_destroy(&h->lock);
  robots_free(h->robots);
  free(h->key);
  free(h);
}

void hosts_destroy(struct hosts *t) {
  strmap_destroy(&t->map, host_free);
  pthread_mutex_destroy(&t->lock);
}

static struct host *host_new(const char *key, long per_host, long delay_ms) {
  struct host *h = calloc(1, sizeof *h);
  if (!h)
    return NULL;
  pthread_mutex_init(&h->lock, NULL);
  atomic_init(&h->delay_ms, delay_ms);
  atomic_init(&h->sitemaps_offered, 0);
  tls_cache_init(&h->tls);
  if (!(h->key = strdup(key)) || weft_sem_new(&h->slots, (unsigned long)per_host) != 0 ||
      weft_mutex_new(&h->robots_lock) != 0) {
    host_free(h);
    return NULL;
  }
  return h;
}

struct host *hosts_get(struct hosts *t, const char *key) {
  struct host *h, *fresh = NULL;
  pthread_mutex_lock(&t->lock);
  h = strmap_get(&t->map, key);
  pthread_mutex_unlock(&t->lock);
  if (h)
    return h;
  /* Made outside the lock (it allocates); a racing task may win. */
  if (!(fresh = host_new(key, t->per_host, t->delay_ms)))
    return NULL;
  pthread_mutex_lock(&t->lock);
  if (!(h = strmap_get(&t->map, key)) && strmap_add(&t->map, key, fresh) == 1) {
    h = fresh;
    fresh = NULL;
  }
  pthread_mutex_unlock(&t->lock);
  if (fresh)
    host_free(fresh);
  return h;
}

int host_lease(struct host *h) { return weft_sem_wait(h->slots, -1); }

struct conn *host_take_idle(struct hosts *t, struct host *h) {
  struct conn *c;
  pthread_mutex_lock(&h->lock);
  if ((c = h->idle))
    h->idle = c->next;
  pthread_mutex_unlock(&h->lock);
  if (c)
    atomic_fetch_sub(&t->idle, 1);
  return c;
}

void host_release(struct hosts *t, struct host *h, struct conn *c, int reusable) {
  int kept = 0;
  if (c && reusable && atomic_fetch_add(&t->idle, 1) < t->idle_max) {
    pthread_mutex_lock(&h->lock);
    c->next = h->idle;
    h->idle = c;
    pthread_mutex_unlock(&h->lock);
    kept = 1;
  } else if (c && reusable) {
    atomic_fetch_sub(&t->idle, 1);
  }
  if (c && !kept)
    conn_close(c);
  weft_sem_post(h->slots);
}

static int64_t monotonic_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t host_pace(struct host *h, int *claimed) {
  int64_t delay_us = atomic_load(&h->delay_ms) * 1000, waited = 0;
  *claimed = 0;
  if (delay_us <= 0)
    return 0;
  for (;;) {
    int64_t now = monotonic_us(), due;
    pthread_mutex_lock(&h->lock);
    if (h->sending)
      due = now + 1000; /* its end is not known yet: look again in a while */
    else
      due = h->last_send_us > 0 ? h->last_send_us + delay_us : now;
    if (now >= due) {
      h->last_send_us = now; /* the claim: see hosts.h, pacing */
      h->sending = 1;
    }
    pthread_mutex_unlock(&h->lock);
    if (now >= due) {
      *claimed = 1;
      return waited / 1000;
    }
    /* Round up, and one more millisecond: weft's timers count whole
     * milliseconds and may fire early within the one they fall in. */
    if (weft_sleep((due - now + 999) / 1000 + 1) == WEFT_ECANCELED)
      return WEFT_ECANCELED;
    waited += monotonic_us() - now;
  }
}

void host_sent(struct host *h) {
  int64_t now = monotonic_us();
  pthread_mutex_lock(&h->lock);
  h->last_send_us = now; /* the send's end: see hosts.h, pacing */
  h->sending = 0;
  pthread_mutex_unlock(&h->lock);
}

int64_t host_reserve(struct host *h, int64_t now) {
  int64_t delay = atomic_load(&h->delay_ms), slot;
  pthread_mutex_lock(&h->lock);
  slot = h->next_slot > now ? h->next_slot : now;
  h->next_slot = slot + delay;
  pthread_mutex_unlock(&h->lock);
  return slot;
}
