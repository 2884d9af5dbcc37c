/*
 * ucontext.c - the portable back-end: makecontext/swapcontext. Slower than
 * the assembly (swapcontext saves the signal mask with a system call) but
 * correct wherever POSIX ucontext exists. glibc saves the floating-point
 * environment with the context, so rounding modes travel as with asm.
 */
#include "context/context.h"

#include <stdint.h>
#include <stdlib.h>

/* makecontext passes int arguments only: a pointer travels in two halves. */
static void uc_start(unsigned hi, unsigned lo, unsigned ehi, unsigned elo) {
  void *arg = (void *)(((uintptr_t)hi << 16 << 16) | lo);
  void (*entry)(void *) = (void (*)(void *))(((uintptr_t)ehi << 16 << 16) | elo);
  entry(arg);
  abort(); /* entry never returns */
}

void weft__ctx_init(weft_ctx *ctx, void *lo, size_t size, void (*entry)(void *), void *arg) {
  uintptr_t a = (uintptr_t)arg, e = (uintptr_t)entry;

  getcontext(&ctx->uc);
  ctx->uc.uc_stack.ss_sp = lo;
  ctx->uc.uc_stack.ss_size = size;
  ctx->uc.uc_link = NULL;
  makecontext(&ctx->uc, (void (*)(void))uc_start, 4, (unsigned)(a >> 16 >> 16), (unsigned)a,
              (unsigned)(e >> 16 >> 16), (unsigned)e);
}

void weft__ctx_switch(weft_ctx *from, const weft_ctx *to) {
  swapcontext(&from->uc, &to->uc);
}
