/*
 * frame-aarch64.c - the first frame of a new AArch64 context, laid out as
 * switch-aarch64.S saves and restores it.
 */
#include "context/context.h"

#include <stdint.h>
#include <string.h>

void weft__ctx_start(void);

enum {
  SLOT_X19 = 0,
  SLOT_X20 = 1,
  SLOT_X29 = 10,
  SLOT_X30 = 11,
  SLOT_FPCR = 20, /* 0: round to nearest, no traps, like a fresh thread */
  FRAME_SLOTS = 22
};

void weft__ctx_init(weft_ctx *ctx, void *lo, size_t size, void (*entry)(void *), void *arg) {
  uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
  uint64_t *frame = (uint64_t *)top - FRAME_SLOTS;

  memset(frame, 0, FRAME_SLOTS * sizeof *frame);
  frame[SLOT_X19] = (uint64_t)(uintptr_t)entry;
  frame[SLOT_X20] = (uint64_t)(uintptr_t)arg;
  frame[SLOT_X29] = 0;
  frame[SLOT_X30] = (uint64_t)(uintptr_t)weft__ctx_start;
  frame[SLOT_FPCR] = 0;
  ctx->sp = frame;
}
