/*
 * generators - the three generator methods of PEP 342, send(), throw()
 * and close(), and delegation ("yield from"), with weft's generators:
 *
 *   generators [VALUES...]
 *
 * 1. The averager (PEP 342): a generator that receives numbers with
 *    weft_gen_send and yields the running average of what it has seen.
 * 2. Delegation: a grouper generator drives one averager per group and
 *    hands each group's values through to it, as "yield from" does, and
 *    returns the group's final average when the group ends.
 * 3. throw(): a reader generator is told, by weft_gen_throw, that its input
 *    failed (WEFT_ETIMEDOUT here); its weft_gen_yield returns NULL,
 *    weft_gen_thrown() says why, it reports the error and yields again; a
 *    second throw makes it return.
 * 4. close(): the averager's cleanup runs when weft_gen_close resumes it.
 *
 * Values are whole numbers (default: 10 20 30 40).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

/* Values travel as pointers to doubles owned by the sender. */
static void *averager(void *arg) {
  double total = 0, average = 0;
  long count = 0;
  (void)arg;
  for (;;) {
    double *x = weft_gen_yield(&average);
    if (!x) { /* closed, or the group ended */
      if (weft_gen_closing())
        printf("averager: closed after %ld values\n", count);
      return NULL;
    }
    total += *x;
    count++;
    average = total / (double)count;
  }
}

/* "yield from": pass each value sent to the grouper on to its averager;
 * a NULL ends the group, and the grouper returns the last average. */
static void *grouper(void *arg) {
  double *result = arg, *avg = NULL;
  weft_gen *inner;
  if (weft_gen_new(&inner, averager, NULL) != 0 || weft_gen_next(inner, (void **)&avg) != 0)
    return NULL;
  for (;;) {
    double *x = weft_gen_yield(NULL);
    if (!x)
      break;
    weft_gen_send(inner, x, (void **)&avg);
  }
  *result = *avg;
  weft_gen_free(inner); /* closes it: its cleanup says so */
  return result;
}

static void *reader(void *arg) {
  long *lines = arg;
  for (;;) {
    void *in = weft_gen_yield(lines);
    int err = weft_gen_thrown();
    if (err == WEFT_ECANCELED) {
      printf("reader: told to stop (%s); returns after %ld lines\n", weft_strerror(err), *lines);
      return lines;
    }
    if (err) {
      printf("reader: input failed (%s); goes on\n", weft_strerror(err));
      continue;
    }
    if (in)
      (*lines)++;
  }
}

static int run(void *arg) {
  char **argv = arg;
  double values[64];
  int n = 0;
  double *avg;
  weft_gen *g;

  for (; argv[n] && n < 64; n++)
    values[n] = atof(argv[n]);

  /* 1. send */
  if (weft_gen_new(&g, averager, NULL) != 0 || weft_gen_next(g, (void **)&avg) != 0)
    return 1;
  for (int i = 0; i < n; i++) {
    weft_gen_send(g, &values[i], (void **)&avg);
    printf("averager: sent %g, average %g\n", values[i], *avg);
  }
  /* 4. close */
  weft_gen_close(g);
  weft_gen_free(g);

  /* 2. delegation */
  double result = 0;
  void *out = NULL;
  if (weft_gen_new(&g, grouper, &result) != 0 || weft_gen_next(g, NULL) != 0)
    return 1;
  for (int i = 0; i < n; i++)
    weft_gen_send(g, &values[i], NULL);
  if (weft_gen_send(g, NULL, &out) == WEFT_EDONE && out == &result)
    printf("grouper: the group's average is %g\n", result);
  weft_gen_free(g);

  /* 3. throw */
  long lines = 0, one = 1;
  if (weft_gen_new(&g, reader, &lines) != 0 || weft_gen_next(g, NULL) != 0)
    return 1;
  weft_gen_send(g, &one, NULL);
  weft_gen_send(g, &one, NULL);
  int rc = weft_gen_throw(g, WEFT_ETIMEDOUT, NULL);
  printf("throw %s: %s\n", weft_strerror(WEFT_ETIMEDOUT), rc == 0 ? "it yielded again" : weft_strerror(rc));
  weft_gen_send(g, &one, NULL);
  rc = weft_gen_throw(g, WEFT_ECANCELED, &out);
  printf("throw %s: %s, %ld lines\n", weft_strerror(WEFT_ECANCELED),
         rc == WEFT_EDONE ? "it returned" : weft_strerror(rc), *(long *)out);
  weft_gen_free(g);
  return 0;
}

int main(int argc, char **argv) {
  static char *defaults[] = {"10", "20", "30", "40", NULL};
  return weft_main(NULL, run, argc > 1 ? argv + 1 : defaults);
}
