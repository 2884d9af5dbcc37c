/*
 * target.c - a program for the GDB helper's test (tests/gdb/run.sh): it
 * parks a few named tasks in known functions, then calls ready_for_gdb(),
 * where the debugger stops and inspects them.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <weft.h>

#include "runtime.h" /* white-box: a task's state, to know both are parked */

static atomic_int parked;

/* The debugger's breakpoint: every task below is parked when this runs. */
__attribute__((noinline)) void ready_for_gdb(void) {
  __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static int parked_in_channel_wait(weft_chan *c) {
  int v = 0;
  atomic_fetch_add(&parked, 1);
  return weft_chan_recv(c, &v, -1) + v;
}

static void *receiver(void *arg) {
  return (void *)(long)parked_in_channel_wait(arg);
}

__attribute__((noinline)) static int parked_in_sleep(void) {
  atomic_fetch_add(&parked, 1);
  return weft_sleep(60 * 1000);
}

static void *sleeper(void *arg) {
  (void)arg;
  return (void *)(long)parked_in_sleep();
}

static int body(void *arg) {
  weft_chan *c;
  weft_task *a, *b;
  weft_spawn_attr attr;
  int v = 1;
  (void)arg;
  weft_chan_new(&c, sizeof(int), 0);
  weft_spawn_attr_init(&attr);
  attr.name = "receiver";
  weft_spawn_ex(&a, &attr, receiver, c);
  attr.name = "sleeper";
  weft_spawn_ex(&b, &attr, sleeper, NULL);
  /* Both are inside their waits before the debugger looks: each counted
   * itself just before its wait, then its state says it parked there. The
   * deadline only bounds a hang (run.sh then reports what it saw). */
  for (int64_t end = weft_now() + 60000; weft_now() < end; weft_sleep(1))
    if (atomic_load(&parked) == 2 &&
        atomic_load_explicit(&a->state, memory_order_relaxed) == TASK_PARKED &&
        atomic_load_explicit(&b->state, memory_order_relaxed) == TASK_PARKED)
      break;
  ready_for_gdb();
  weft_chan_send(c, &v, -1);
  weft_cancel(b);
  weft_join(a, NULL);
  weft_join(b, NULL);
  weft_chan_free(c);
  puts("target: done");
  return 0;
}

int main(void) {
  weft_config cfg;
  weft_config_init(&cfg);
  cfg.workers = 2;
  return weft_main(&cfg, body, NULL);
}
