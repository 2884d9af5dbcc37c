/*
 * pingpong - two tasks and an unbuffered channel: a ball goes back and
 * forth, each send a rendezvous with the other task's receive.
 *
 *   pingpong [ROUNDS] [WORKERS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>

struct table {
  weft_chan *to_pong, *to_ping;
  long rounds;
};

static void *pong(void *arg) {
  struct table *t = arg;
  long ball;
  while (weft_chan_recv(t->to_pong, &ball, -1) == 0) {
    ball++;
    if (weft_chan_send(t->to_ping, &ball, -1) != 0)
      break;
  }
  return NULL;
}

static int run(void *arg) {
  struct table *t = arg;
  weft_task *p;
  long ball = 0;
  int64_t t0;

  if (weft_chan_new(&t->to_pong, sizeof ball, 0) || weft_chan_new(&t->to_ping, sizeof ball, 0) ||
      weft_spawn(&p, pong, t))
    return 1;
  t0 = weft_now();
  for (long i = 0; i < t->rounds; i++) {
    weft_chan_send(t->to_pong, &ball, -1);
    weft_chan_recv(t->to_ping, &ball, -1);
    ball++;
  }
  weft_chan_close(t->to_pong); /* pong sees WEFT_EPIPE and returns */
  weft_join(p, NULL);
  printf("%ld round trips, ball at %ld, %lld ms\n", t->rounds, ball,
         (long long)(weft_now() - t0));
  weft_chan_free(t->to_pong);
  weft_chan_free(t->to_ping);
  return ball == 2 * t->rounds ? 0 : 1;
}

int main(int argc, char **argv) {
  struct table t = {.rounds = argc > 1 ? atol(argv[1]) : 100000};
  weft_config cfg;
  weft_config_init(&cfg);
  if (argc > 2)
    cfg.workers = (unsigned)atoi(argv[2]);
  return weft_main(&cfg, run, &t);
}
