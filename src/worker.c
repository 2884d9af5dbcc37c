/*
 * worker.c - the current thread's worker (worker.h).
 */
#include "worker.h"

static _Thread_local weft__worker *tls_worker;

/*
 * Tasks migrate between threads, and the compiler may keep a thread-local
 * address in a register across a call that switches; reading through
 * this function, which is never inlined and whose asm barrier hides the
 * load from the optimiser, gives the thread the task is running on now.
 */
__attribute__((noinline)) weft__worker *weft__worker_current(void) {
  weft__worker *w = tls_worker;
  __asm__ volatile("" : "+r"(w)::"memory");
  return w;
}

void weft__worker_set_current(weft__worker *w) {
  tls_worker = w;
}
