/*
 * skynet.c - the skynet benchmark: one million leaf tasks in a ten-ary
 * tree, six levels deep. Every inner node spawns its ten children, joins
 * them and returns the sum of their results; a leaf returns its number.
 * The figure is the wall time of the whole tree in milliseconds.
 *
 * Usage: skynet [-w WORKERS]
 * Prints "RESULT skynet <ms> ms" on stdout. Its twin is
 * bench/peers/go/skynet/main.go.
 */
#define _POSIX_C_SOURCE 200809L

#include <weft.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define LEAVES 1000000
#define FANOUT 10
#define WANT 499999500000LL

/* Sums travel through the void * a task returns, so they need 64 bits. */
_Static_assert(sizeof(intptr_t) >= 8, "skynet needs 64-bit pointers");

/* One node of the tree: the first leaf number below it and its leaf count. */
struct node {
  intptr_t num;
  intptr_t size;
};

/* What the main task hands back to main(). */
struct run {
  intptr_t sum;
  double ms;
};

/* Print what failed and why, then end the process. */
static void die(const char *what, int err) {
  fprintf(stderr, "skynet: %s: %s\n", what, weft_strerror(err));
  exit(1);
}

/* Milliseconds on the monotonic clock. */
static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Join t and return its result as a number. Inside a task. */
static intptr_t join_value(weft_task *t) {
  void *res;
  int err = weft_join(t, &res);
  if (err < 0)
    die("weft_join", err);
  return (intptr_t)res;
}

/*
 * Return the sum of the leaf numbers below the node arg points at. The
 * children's nodes live on this task's stack, which outlives them because
 * every child is joined before the function returns. Inside a task.
 */
static void *skynet(void *arg) {
  const struct node *self = arg;
  if (self->size == 1)
    return (void *)self->num;

  struct node kids[FANOUT];
  weft_task *tasks[FANOUT];
  intptr_t step = self->size / FANOUT;
  for (int i = 0; i < FANOUT; i++) {
    kids[i] = (struct node){self->num + i * step, step};
    int err = weft_spawn(&tasks[i], skynet, &kids[i]);
    if (err < 0)
      die("weft_spawn", err);
  }
  intptr_t sum = 0;
  for (int i = 0; i < FANOUT; i++)
    sum += join_value(tasks[i]);
  return (void *)sum;
}

/* The main task: time the whole tree from the root's spawn to its join. */
static int bench(void *arg) {
  struct run *run = arg;
  struct node root = {0, LEAVES};
  weft_task *t;

  double start = now_ms();
  int err = weft_spawn(&t, skynet, &root);
  if (err < 0)
    die("weft_spawn", err);
  run->sum = join_value(t);
  run->ms = now_ms() - start;
  return 0;
}

/* Return s as a whole number in [1, max], or 0 when it is not one. */
static unsigned long parse_count(const char *s, unsigned long max) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v > max)
    return 0;
  return v;
}

/* Print how to call the program and exit with status 2. */
static void usage(void) {
  fprintf(stderr, "usage: skynet [-w WORKERS]\n");
  exit(2);
}

/* Parse the command line into *workers, or print the usage and exit. */
static void parse_args(int argc, char **argv, unsigned *workers) {
  int c;
  while ((c = getopt(argc, argv, "w:")) != -1) {
    if (c != 'w')
      usage();
    *workers = (unsigned)parse_count(optarg, 1024);
    if (*workers == 0)
      usage();
  }
  if (optind != argc)
    usage();
}

int main(int argc, char **argv) {
  weft_config cfg;
  struct run run = {0, 0.0};

  weft_config_init(&cfg);
  cfg.workers = 2;
  parse_args(argc, argv, &cfg.workers);

  int err = weft_main(&cfg, bench, &run);
  if (err != 0)
    die("weft_main", err);
  fprintf(stderr, "skynet: sum %lld on %u workers\n", (long long)run.sum, cfg.workers);
  if (run.sum != WANT) {
    fprintf(stderr, "skynet: wrong sum, want %lld\n", WANT);
    return 1;
  }
  printf("RESULT skynet %.2f ms\n", run.ms);
  return 0;
}
