/*
 * stop.c - stopping on SIGINT or SIGTERM (see stop.h).
 */
#include "stop.h"

#include <signal.h>
#include <stdio.h>
#include <weft.h>

static const int stop_signals[] = {SIGINT, SIGTERM};
#define STOP_NSIGNALS (sizeof stop_signals / sizeof stop_signals[0])

int stop_hold(const char *prog) {
  int rc = weft_signal_hold(stop_signals, STOP_NSIGNALS);

  if (rc)
    fprintf(stderr, "%s: catching SIGINT and SIGTERM: %s\n", prog, weft_strerror(rc));
  return rc ? 1 : 0;
}

int stop_wait(void) {
  int rc;

  while ((rc = weft_signal_wait(stop_signals, STOP_NSIGNALS, -1)) == WEFT_ENOMEM)
    weft_sleep(10);
  return rc;
}

void stop_release(void) {
  weft_signal_release(stop_signals, STOP_NSIGNALS);
}
