/*
 * stop.h - how the long-running examples (echo, httpd, fetch) stop: on
 * SIGINT or SIGTERM, received by a task with weft_signal_wait
 * (weft_signal(3)), so no handler of the program's own runs in signal
 * context.
 *
 * The main task holds the two signals (stop_hold) before it tells anyone
 * it is ready (a port, a first request), so that a signal sent by someone
 * who heard that is never missed; a task then waits for one (stop_wait).
 * A program that lets go of them (stop_release) dies of the next one, as
 * a program without handlers does.
 */
#ifndef EXAMPLES_STOP_H
#define EXAMPLES_STOP_H

/* Hold SIGINT and SIGTERM for stop_wait. Returns 0, or 1 after a message
 * on stderr that starts with prog. Inside a task. */
int stop_hold(const char *prog);

/* Wait for SIGINT or SIGTERM, held by stop_hold; out of memory, try
 * again a little later. Returns the signal's number, or WEFT_ECANCELED
 * when the task is cancelled (WEFT_EPERM outside a task). May switch. */
int stop_wait(void);

/* Let go of the signals stop_hold held. Inside a task. */
void stop_release(void);

#endif
