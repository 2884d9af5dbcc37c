/*
 * worker.h - which worker the calling thread is (worker.c), on the
 * ground floor: the scheduler sets it when a worker thread starts and
 * ends, and every layer that must know whether it runs on a worker reads
 * it, without pulling in the scheduler.
 */
#ifndef WEFT_WORKER_H
#define WEFT_WORKER_H

typedef struct weft__worker weft__worker; /* runtime.h */

/* The calling thread's worker, or NULL (the I/O thread, a foreign
 * thread). Any thread. */
weft__worker *weft__worker_current(void);

/* Make w the calling thread's worker (NULL: none). sched.c's worker
 * loop only, at its start and end. */
void weft__worker_set_current(weft__worker *w);

#endif /* WEFT_WORKER_H */
