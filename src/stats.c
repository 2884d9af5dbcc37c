/*
 * stats.c - weft_rt_stats: the workers' counters, read without stopping
 * them. Each counter has one writer (its worker) and is read relaxed, so a
 * total is a sum of recent values, not a snapshot.
 */
#include "runtime.h"

#include "io/io.h"

#include <string.h>

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static void read_worker(weft__worker *w, weft_stats *s) {
  memset(s, 0, sizeof *s);
  s->spawned = LOAD(w->n.spawned);
  s->completed = LOAD(w->n.completed);
  s->switches = LOAD(w->n.switches);
  s->steals = LOAD(w->n.steals);
  s->steal_attempts = LOAD(w->n.steal_attempts);
  s->parks = LOAD(w->n.parks);
  s->injected = LOAD(w->n.injected);
}

static void add(weft_stats *sum, const weft_stats *s) {
  sum->spawned += s->spawned;
  sum->completed += s->completed;
  sum->switches += s->switches;
  sum->steals += s->steals;
  sum->steal_attempts += s->steal_attempts;
  sum->parks += s->parks;
  sum->injected += s->injected;
}

int weft_rt_stats(weft_rt *rt, weft_stats *total, weft_stats *per_worker, size_t n) {
  weft_stats one, sum;
  if (!weft__rt_valid(rt))
    return WEFT_EINVAL;
  memset(&sum, 0, sizeof sum);
  for (unsigned i = 0; i < rt->nworkers; i++) {
    read_worker(&rt->workers[i], &one);
    if (per_worker && i < n)
      per_worker[i] = one;
    add(&sum, &one);
  }
  sum.spawned += LOAD(rt->foreign_spawned);
  sum.tasks_alive = (uint64_t)atomic_load(&rt->ntasks);
  weft__stacks_count(&rt->stacks, &sum.stacks_mapped, &sum.stacks_cached);
  if (total) {
    /* An armed deadline is a timer on the heap, not a libuv handle. */
    sum.io_handles = weft__io_handles(rt->io) + (uint64_t)weft__timers_count(rt);
    *total = sum;
  }
  return (int)rt->nworkers;
}
