/*
 * overflow.c - reporting stack overflow, never silent corruption.
 *
 * A task that runs off the bottom of its stack touches the guard page below
 * it (stack.c) and the kernel raises SIGSEGV on the worker thread. The
 * handler runs on the worker's alternate signal stack (the task's stack is
 * exhausted), finds the worker's current task, and if the faulting address
 * is in that task's guard page prints
 *     weft: stack overflow in task <id> '<name>' (stack <N> bytes)
 * and aborts. Any other fault is passed to the handler that was installed
 * before weft's, or to the default action, so linking weft does not change
 * how a program's own crashes are handled. Unguarded stacks are checked by
 * their canary when the task switches out and reported the same way.
 *
 * The handler is process-wide and installed once, by the first
 * weft_rt_new; it is weft's only signal handler.
 */
#define _GNU_SOURCE
#include "runtime.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

static struct sigaction previous;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

/* Append decimal v at p; async-signal-safe. */
static char *put_u64(char *p, uint64_t v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n)
    *p++ = tmp[--n];
  return p;
}

static char *put_str(char *p, const char *s, size_t max) {
  for (size_t i = 0; i < max && s[i]; i++)
    *p++ = s[i];
  return p;
}

_Noreturn void weft__overflow_report(const weft_task *t) {
  char msg[160], *p = msg;
  p = put_str(p, "weft: stack overflow in task ", 64);
  p = put_u64(p, t->id);
  p = put_str(p, " '", 4);
  p = put_str(p, t->name, WEFT_TASK_NAME);
  p = put_str(p, "' (stack ", 16);
  p = put_u64(p, t->cur_stack ? t->cur_stack->size : 0);
  p = put_str(p, " bytes)\n", 16);
  if (write(STDERR_FILENO, msg, (size_t)(p - msg)) < 0) {
    /* nothing more can be done */
  }
  abort();
}

/* Pass a fault that is not a task's overflow on, as if weft were absent. */
static void chain(int sig, siginfo_t *si, void *uc) {
  if (previous.sa_flags & SA_SIGINFO) {
    previous.sa_sigaction(sig, si, uc);
    return;
  }
  if (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN) {
    /* Returning re-executes the faulting access under the default action. */
    signal(sig, SIG_DFL);
    return;
  }
  previous.sa_handler(sig);
}

/* The stack pointer of the interrupted code, or NULL where unknown. */
static const char *fault_sp(void *uc) {
  ucontext_t *u = uc;
#if defined(__x86_64__)
  return (const char *)u->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
  return (const char *)u->uc_mcontext.sp;
#else
  (void)u;
  return NULL;
#endif
}

/*
 * An overflow is a fault in the guard page below the running stack, or any
 * fault while the stack pointer is below the stack: an unguarded stack
 * (canary mode, or past the mprotect budget) has writable memory below it,
 * so a runaway recursion faults somewhere further down, and the canary,
 * checked at switch-out, would never be reached.
 */
static void on_segv(int sig, siginfo_t *si, void *uc) {
  weft__worker *w = weft__worker_current();
  weft_task *t = w ? w->current : NULL;
  const char *sp = fault_sp(uc);
  if (t && t->cur_stack &&
      (weft__stack_guard_hit(t->cur_stack, si->si_addr) ||
       (sp && sp < t->cur_stack->lo && sp >= t->cur_stack->lo - ((size_t)1 << 30))))
    weft__overflow_report(t);
  chain(sig, si, uc);
}

static void install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &previous);
}

void weft__overflow_install(void) {
  pthread_once(&install_once, install);
}

/* The worker's alternate signal stack, so the handler can run when the
 * task's stack is exhausted. Owner worker thread. */
int weft__altstack_start(weft__worker *w) {
  size_t size = 64 * 1024;
  stack_t ss;
  w->altstack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (w->altstack == MAP_FAILED) {
    w->altstack = NULL;
    return WEFT_ENOMEM;
  }
  ss.ss_sp = w->altstack;
  ss.ss_size = size;
  ss.ss_flags = 0;
  return sigaltstack(&ss, NULL) == 0 ? 0 : WEFT_ENOMEM;
}

void weft__altstack_stop(weft__worker *w) {
  stack_t ss = {.ss_flags = SS_DISABLE};
  if (!w->altstack)
    return;
  sigaltstack(&ss, NULL);
  munmap(w->altstack, 64 * 1024);
  w->altstack = NULL;
}
