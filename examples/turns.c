/*
 * turns - tasks taking turns: the classic round-robin of coroutines, where
 * each one does a step and hands control back so the others can run.
 *
 *   turns [TASKS] [STEPS]
 *
 * With one worker the output interleaves strictly: every task's step k is
 * printed before any task's step k+1, because weft_yield() runs the
 * worker's other ready tasks before the caller again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>

struct turns {
  long tasks, steps;
};

static void *take_turns(void *arg) {
  struct turns *cfg = arg;
  const char *me = weft_task_name(weft_self());
  for (long step = 1; step <= cfg->steps; step++) {
    printf("%s: step %ld\n", me, step);
    weft_yield();
  }
  return NULL;
}

static int run(void *arg) {
  struct turns *cfg = arg;
  weft_task **t = calloc((size_t)cfg->tasks, sizeof *t);
  char name[32];
  int rc = 0;

  if (!t)
    return 1;
  for (long i = 0; i < cfg->tasks && rc == 0; i++) {
    weft_spawn_attr attr;
    weft_spawn_attr_init(&attr);
    snprintf(name, sizeof name, "task %ld", i + 1);
    attr.name = name;
    rc = weft_spawn_ex(&t[i], &attr, take_turns, cfg);
    if (rc)
      fprintf(stderr, "turns: spawn: %s\n", weft_strerror(rc));
  }
  for (long i = 0; i < cfg->tasks; i++)
    if (t[i])
      weft_join(t[i], NULL);
  free(t);
  return rc ? 1 : 0;
}

int main(int argc, char **argv) {
  struct turns cfg = {argc > 1 ? atol(argv[1]) : 3, argc > 2 ? atol(argv[2]) : 4};
  weft_config wc;

  if (cfg.tasks < 1 || cfg.steps < 1) {
    fprintf(stderr, "usage: turns [TASKS] [STEPS]\n");
    return 2;
  }
  weft_config_init(&wc);
  wc.workers = 1;
  return weft_main(&wc, run, &cfg);
}
