/*
 * clock.h - the runtime's clocks, on the ground floor (docs/design.md,
 * section 2): every layer reads them, and they call nothing of weft's.
 *
 * weft_now() (weft.h) is CLOCK_MONOTONIC in milliseconds: the clock of
 * every deadline. weft__coarse_ms() is CLOCK_MONOTONIC_COARSE, a few ms
 * of resolution for a few ns a read: for the dump's "waiting for" and the
 * blocking monitor, which read it on every park.
 */
#ifndef WEFT_CLOCK_H
#define WEFT_CLOCK_H

#include <stdint.h>

int64_t weft__coarse_ms(void);

#endif /* WEFT_CLOCK_H */
