/*
 * consumer.c - a program outside the project that links libweft: spawns
 * tasks that pass values through a channel and checks the sum.
 */
#include <stdio.h>
#include <weft.h>

static weft_chan *ch;

static void *produce(void *arg) {
  for (long i = 1; i <= 100; i++)
    weft_chan_send(ch, &i, -1);
  weft_chan_close(ch);
  return arg;
}

static int body(void *arg) {
  long v, sum = 0;
  weft_task *t;
  (void)arg;
  if (weft_chan_new(&ch, sizeof v, 4) || weft_spawn(&t, produce, NULL))
    return 1;
  while (weft_chan_recv(ch, &v, -1) == 0)
    sum += v;
  weft_join(t, NULL);
  weft_chan_free(ch);
  printf("weft %s: sum %ld\n", weft_version(), sum);
  return sum == 5050 ? 0 : 1;
}

int main(void) {
  return weft_main(NULL, body, NULL);
}
