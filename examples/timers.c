/*
 * timers - sleeps and deadlines: the classic non-blocking sleep, done with a
 * task per timer, and a deadline on a socket read.
 *
 * Three tasks sleep 300, 100 and 200 ms at once and report in the order
 * they wake (100, 200, 300), after about 300 ms in all, not 600: sleeping
 * parks a task, not its thread. Then a task reads from a socket nobody
 * writes to, with a deadline 150 ms away, and gets WEFT_ETIMEDOUT; and a
 * sleeper is cancelled from another task and gets WEFT_ECANCELED.
 */
#include <stdint.h>
#include <stdio.h>
#include <weft.h>

static int64_t t0;

static void *sleeper(void *arg) {
  int64_t ms = (int64_t)(intptr_t)arg;
  int rc = weft_sleep(ms);
  printf("%4lld ms: the %lld ms sleeper woke (%s)\n", (long long)(weft_now() - t0),
         (long long)ms, weft_strerror(rc));
  return NULL;
}

static void *read_with_deadline(void *arg) {
  weft_sock *s = arg;
  char buf[16];
  ssize_t n = weft_recv(s, buf, sizeof buf, weft_now() + 150);
  printf("%4lld ms: recv with a 150 ms deadline returned: %s\n", (long long)(weft_now() - t0),
         n < 0 ? weft_strerror((int)n) : "data");
  return NULL;
}

static int run(void *arg) {
  weft_task *t[3], *reader, *forever;
  weft_sock *l, *c;
  char port[16];
  (void)arg;

  t0 = weft_now();
  weft_spawn(&t[0], sleeper, (void *)(intptr_t)300);
  weft_spawn(&t[1], sleeper, (void *)(intptr_t)100);
  weft_spawn(&t[2], sleeper, (void *)(intptr_t)200);
  for (int i = 0; i < 3; i++)
    weft_join(t[i], NULL);

  t0 = weft_now();
  if (weft_tcp_listen(&l, "127.0.0.1", "0", 8) != 0)
    return 1;
  snprintf(port, sizeof port, "%d", weft_sock_port(l));
  if (weft_tcp_connect(&c, "127.0.0.1", port, weft_now() + 1000) != 0)
    return 1;
  weft_spawn(&reader, read_with_deadline, c);
  weft_join(reader, NULL);
  weft_sock_close(c);
  weft_sock_close(l);

  t0 = weft_now();
  weft_spawn(&forever, sleeper, (void *)(intptr_t)3600000);
  weft_sleep(50);
  weft_cancel(forever);
  weft_join(forever, NULL);
  return 0;
}

int main(void) {
  return weft_main(NULL, run, NULL);
}
