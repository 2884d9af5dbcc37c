/*
 * resp.c - hiredis's reply reader with an array bound (see resp.h).
 *
 * hiredis keeps its reply constructors static; a reader made by
 * redisReaderCreate points at them, so the first call copies that table
 * once and replaces only createArray with one that refuses a long array
 * (hiredis then fails the read as out of memory). The count refused is
 * noted in a thread-local variable, read by resp_reader_error in the same
 * thread right after the failed redisReaderGetReply.
 */
#include "resp.h"

#include <pthread.h>
#include <stdio.h>

static redisReplyObjectFunctions capped;
static void *(*hiredis_array)(const redisReadTask *, int);
static pthread_once_t capped_once = PTHREAD_ONCE_INIT;
static _Thread_local long long refused = -1; /* the count last refused, or -1 */
static _Thread_local char words[96];

static void *resp_array(const redisReadTask *task, int elements) {
  if (elements < 0 || elements > RESP_ARRAY_MAX) {
    refused = elements;
    return NULL;
  }
  return hiredis_array(task, elements);
}

static void resp_init(void) {
  redisReader *rd = redisReaderCreate();
  if (!rd)
    return;
  capped = *rd->fn;
  hiredis_array = capped.createArray;
  capped.createArray = resp_array;
  redisReaderFree(rd);
}

redisReader *resp_reader_new(void) {
  pthread_once(&capped_once, resp_init);
  if (!hiredis_array)
    return NULL;
  return redisReaderCreateWithFunctions(&capped);
}

const char *resp_reader_error(const redisReader *rd) {
  if (refused == -1)
    return rd->errstr;
  snprintf(words, sizeof words, "an array of %lld elements (at most %d are read)", refused,
           RESP_ARRAY_MAX);
  refused = -1;
  return words;
}
