/*
 * subprocess - run several child processes at once and collect each one's
 * output as it finishes: the classic polled subprocess, without polling. Each
 * child gets a task that reads its stdout pipe with weft_recv (parking, not
 * spinning) and waits for its exit.
 *
 *   subprocess [COMMAND...]     each COMMAND runs under sh -c
 *
 * Without arguments it runs a few commands of different lengths; their
 * reports come back shortest first, in about the time of the longest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

struct child {
  const char *command;
  int64_t started;
};

static void *run_child(void *arg) {
  struct child *c = arg;
  char *argv[] = {"sh", "-c", (char *)c->command, NULL};
  char buf[4096];
  size_t used = 0;
  ssize_t n;
  weft_proc_opts o;
  weft_proc *p;
  weft_sock *io[3];
  int64_t status;
  int sig, rc;

  weft_proc_opts_init(&o);
  o.argv = argv;
  o.stdio[0] = WEFT_STDIO_NULL;
  o.stdio[1] = WEFT_STDIO_PIPE;
  o.stdio[2] = WEFT_STDIO_INHERIT;
  if ((rc = weft_proc_spawn(&p, &o, io))) {
    fprintf(stderr, "subprocess: %s: %s\n", c->command, weft_strerror(rc));
    return NULL;
  }
  while (used < sizeof buf - 1 && (n = weft_recv(io[1], buf + used, sizeof buf - 1 - used, -1)) > 0)
    used += (size_t)n;
  buf[used] = 0;
  weft_sock_close(io[1]);
  weft_proc_wait(p, &status, &sig, -1);
  weft_proc_free(p);
  printf("[%5lld ms] %s -> exit %lld%s: %s", (long long)(weft_now() - c->started), c->command,
         (long long)status, sig ? " (killed)" : "", used ? buf : "(no output)\n");
  fflush(stdout);
  return NULL;
}

static int run(void *arg) {
  char **commands = arg;
  struct child *c;
  weft_task **t;
  int n = 0;

  while (commands[n])
    n++;
  c = calloc((size_t)n, sizeof *c);
  t = calloc((size_t)n, sizeof *t);
  if (!c || !t)
    return 1;
  for (int i = 0; i < n; i++) {
    c[i].command = commands[i];
    c[i].started = weft_now();
    if (weft_spawn(&t[i], run_child, &c[i]) != 0)
      t[i] = NULL;
  }
  for (int i = 0; i < n; i++)
    if (t[i])
      weft_join(t[i], NULL);
  free(t);
  free(c);
  return 0;
}

int main(int argc, char **argv) {
  static char *demo[] = {"sleep 0.3; echo slow", "sleep 0.1; echo quick", "sleep 0.2; uname -s",
                         "echo at once", NULL};
  return weft_main(NULL, run, argc > 1 ? argv + 1 : demo);
}
