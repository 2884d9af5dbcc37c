/*
 * context.h - switch one CPU context to another.
 *
 * A context is what a suspended task or a worker's scheduler leaves behind:
 * with the assembly back-ends, the stack pointer of a frame holding the
 * callee-saved registers and the floating-point control words; with the
 * ucontext fallback, a whole ucontext_t. configure picks the back-end
 * (--with-context=asm|ucontext) and the file that implements it:
 *   switch-x86_64.S + frame-x86_64.c     x86-64 System V
 *   switch-aarch64.S + frame-aarch64.c   AArch64 AAPCS64
 *   ucontext.c                           any POSIX system
 */
#ifndef WEFT_CONTEXT_H
#define WEFT_CONTEXT_H

#ifdef HAVE_CONFIG_H
#include "config.h" /* configure's choices: context back-end, valgrind.h */
#endif
#include <stddef.h>

#ifdef WEFT_CTX_UCONTEXT
#include <ucontext.h>
typedef struct weft_ctx {
  ucontext_t uc;
} weft_ctx;
#else
typedef struct weft_ctx {
  void *sp; /* saved stack pointer; the registers sit in the frame it points at */
} weft_ctx;
#endif

/*
 * Prepare ctx so that the first switch to it calls entry(arg) on the stack
 * [lo, lo + size). entry must never return: it leaves by switching away.
 */
void weft__ctx_init(weft_ctx *ctx, void *lo, size_t size, void (*entry)(void *), void *arg);

/*
 * Save the running context into from and resume to. Returns when something
 * switches back to from. Callee-saved registers and the floating-point
 * control state travel with each context; everything else is the caller's.
 */
void weft__ctx_switch(weft_ctx *from, const weft_ctx *to);

#endif /* WEFT_CONTEXT_H */
