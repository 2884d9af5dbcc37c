/*
 * resp.h - hiredis's reply reader (RESP) with fetch's bounds, for every
 * reader that reads what a Redis server sends (redis.c; the fuzz harness
 * tests/fuzz/fuzz_redis.c reads through the same one).
 *
 * hiredis 0.14 allocates the element vector of an array as soon as it
 * reads the array's header, whatever count the header claims: a stream
 * that says "*155555555" asks for 1.2 GB before a single element has
 * arrived (the fuzzer found it). Here an array of more than RESP_ARRAY_MAX
 * elements, or of a negative count other than the nil array, is a
 * protocol error instead. Bulk strings need no bound of the kind: hiredis
 * makes one only once all its bytes have arrived.
 */
#ifndef FETCH_RESP_H
#define FETCH_RESP_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#define RESP_ARRAY_MAX 65536 /* elements of one array at most (the scripts send up to 64) */

/* A reader with the bound, freed with redisReaderFree; NULL when out of
 * memory. Any thread. */
redisReader *resp_reader_new(void);

/* Why redisReaderGetReply just failed on rd, in this thread, without a
 * switch between: the array too long, or hiredis's own words. */
const char *resp_reader_error(const redisReader *rd);

#endif
