/*
 * io.c - the I/O layer put together. loop.c is a host: a thread, a libuv
 * loop, an inbox and hooks, and it calls none of the parts below by name.
 * This file hangs them on it and hands the runtime its ways in:
 *
 *  - the sockets' epoll set (netpoll.c, protocol "netpoll"): the workers
 *    read it and one parked worker sleeps on it (rt->idle_poll,
 *    idle_block, idle_kick; sched.c, "park" K5 by polling), and the tick
 *    reads it as a backstop;
 *  - the fd watches (poll.c): closed first when the thread stops, for
 *    the sockets the program never closed;
 *  - the host of the runtime's timer heap (timer.c, protocol "timers"):
 *    the alarm hook, and rt->timers.kick.
 *
 * So the layer's files call the host and the host calls none of them:
 * docs/design.md, section 2.
 */
#include "io/sock.h"

int weft__io_open(weft_rt *rt, const weft__io_hooks *hooks, weft__io **out) {
  weft__io_hooks h = *hooks;
  h.io_tick = weft__netpoll_dispatch;
  h.io_stop = weft__poll_close_all;
  h.io_alarm = weft__io_timers_alarm;
  /* Before the workers start: immutable while they run (runtime.h). */
  rt->idle_poll = weft__netpoll_poll;
  rt->idle_block = weft__netpoll_block;
  rt->idle_kick = weft__netpoll_kick;
  rt->timers.kick = weft__io_timers_kick;
  return weft__io_start(rt, &h, out);
}
