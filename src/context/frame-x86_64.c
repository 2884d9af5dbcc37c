/*
 * frame-x86_64.c - the first frame of a new x86-64 context, laid out as
 * switch-x86_64.S saves and restores it.
 */
#include "context/context.h"

#include <stdint.h>
#include <string.h>

void weft__ctx_start(void);

enum {
  SLOT_FPU = 0, /* MXCSR in the low half, x87 control word in the high */
  SLOT_R15,
  SLOT_R14,
  SLOT_R13,
  SLOT_R12,
  SLOT_RBX,
  SLOT_RBP,
  SLOT_RET,
  SLOT_PAD, /* keeps %rsp 16-byte aligned when weft__ctx_start runs */
  SLOT_PAD2,
  FRAME_SLOTS
};

/* Defaults of a fresh thread: all exceptions masked, round to nearest. */
#define MXCSR_DEFAULT 0x1F80u
#define X87CW_DEFAULT 0x037Fu

void weft__ctx_init(weft_ctx *ctx, void *lo, size_t size, void (*entry)(void *), void *arg) {
  uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
  uint64_t *frame = (uint64_t *)top - FRAME_SLOTS;

  memset(frame, 0, FRAME_SLOTS * sizeof *frame);
  frame[SLOT_FPU] = MXCSR_DEFAULT | ((uint64_t)X87CW_DEFAULT << 32);
  frame[SLOT_R12] = (uint64_t)(uintptr_t)entry;
  frame[SLOT_R13] = (uint64_t)(uintptr_t)arg;
  frame[SLOT_RET] = (uint64_t)(uintptr_t)weft__ctx_start;
  ctx->sp = frame;
}
