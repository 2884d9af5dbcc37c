/*
 * redis.h - a Redis client over weft sockets, for the shared crawl
 * (docs/redis.md): one connection per client, shared by any number of
 * tasks on any workers, with commands pipelined on it.
 *
 * hiredis does no I/O here: its formatter writes the commands
 * (redisFormatCommandArgv) and its reader parses the replies
 * (redisReader); the bytes go over weft_send and weft_recv. Callers park
 * on their own call until its reply comes; a writer task batches what
 * they queued into one send and a reader task hands each reply to its
 * caller in the order the commands were sent (redis.c, "the pipeline").
 *
 * Faults. A lost connection is made again with exponential backoff and
 * jitter, and every command that had not got its reply is sent again on
 * the new one: a command may so run twice, so only idempotent commands
 * (or scripts made so, as shared.c's are) may be sent through a client.
 * A LOADING reply (Redis reading its AOF after a restart) counts as "not
 * reachable yet". When Redis stays unreachable for longer than the
 * client's timeout (from the moment the connection was lost, or the open,
 * or from when the oldest unanswered command was sent), every waiting
 * and every later call fails with REDIS_EDOWN. A refused password fails
 * them with REDIS_EAUTH at once; it is not retried.
 *
 * Authentication: the password in the environment variable REDISCLI_AUTH
 * (as redis-cli takes it) is sent with AUTH first on every connection.
 *
 * Not for: commands whose replies do not pair one to one with requests
 * (SUBSCRIBE, MONITOR, CLIENT REPLY), and commands that block on the
 * server for longer than the timeout (a BLPOP with no timeout that waits
 * that long counts as an unreachable server).
 */
#ifndef FETCH_REDIS_H
#define FETCH_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <weft.h>

struct redis;
struct redis_call;

/* Errors of this client, beside the WEFT_E* codes (distinct from them). */
#define REDIS_EDOWN (-5001)   /* unreachable for longer than the timeout */
#define REDIS_EAUTH (-5002)   /* the password was refused, or one is needed */
#define REDIS_ECLOSED (-5003) /* redis_close has been called */

/* The default of the timeout (the crawler's future --redis-timeout). */
#define REDIS_TIMEOUT_MS 60000

/*
 * Connect to Redis at host:port and start the client's tasks; return when
 * the first connection is up (AUTH accepted, PING answered), or when it
 * could not be made within timeout_ms (<= 0: REDIS_TIMEOUT_MS). Returns 0
 * and sets *out, or REDIS_EDOWN, REDIS_EAUTH, WEFT_EINVAL (NULL argument),
 * WEFT_ENOMEM, WEFT_ECANCELED; then err (errlen bytes, may be NULL) says
 * why in a sentence naming host:port. May switch; inside a task.
 */
int redis_open(struct redis **out, const char *host, const char *port, int64_t timeout_ms,
               char *err, size_t errlen);

/*
 * Queue one command (argc arguments; argvlen may be NULL for C strings)
 * and return at once: *out is the call, which redis_wait must be given
 * exactly once. Several submits before their waits pipeline the commands
 * of one task. Returns 0, WEFT_EINVAL, WEFT_ENOMEM, or the client's
 * failure (REDIS_EDOWN, REDIS_EAUTH, REDIS_ECLOSED). Never switches; any
 * task.
 */
int redis_submit(struct redis *r, struct redis_call **out, int argc, const char **argv,
                 const size_t *argvlen);

/*
 * Wait for the reply of call c until deadline (weft_now() ms; -1: as long
 * as the client lives) and release c. Returns 0 with *reply set (free it
 * with freeReplyObject; an error reply is a reply, of type
 * REDIS_REPLY_ERROR), REDIS_EDOWN, REDIS_EAUTH, REDIS_ECLOSED (the client
 * failed or closed first), WEFT_ETIMEDOUT, WEFT_ECANCELED. A call given
 * up on (the last two) may still run on the server. May switch; inside a
 * task.
 */
int redis_wait(struct redis_call *c, redisReply **reply, int64_t deadline);

/* redis_submit, then redis_wait. May switch; inside a task. */
int redis_command(struct redis *r, redisReply **reply, int argc, const char **argv,
                  const size_t *argvlen, int64_t deadline);

/*
 * A sentence for err as a call of r returned it: for REDIS_EDOWN and
 * REDIS_EAUTH, why the client failed ("Redis at 127.0.0.1:6379
 * unreachable for 60000 ms: connection refused"); else a short name. The
 * string lives as long as r. Any thread.
 */
const char *redis_strerror(struct redis *r, int err);

/* The client's timeout in ms (what redis_open made of its argument). */
int64_t redis_timeout_ms(const struct redis *r);

/* What a client has done so far (each counter read atomically). */
struct redis_stats {
  uint64_t commands; /* calls submitted */
  uint64_t sends;    /* batches written (one weft_send each) */
  uint64_t replies;  /* replies read */
  uint64_t connects; /* connections made (AUTH and PING passed); 1 + reconnects */
};

/* Read r's counters into *st. Any thread. */
void redis_stats(struct redis *r, struct redis_stats *st);

/*
 * Stop the client: calls still waiting fail with REDIS_ECLOSED; wait until
 * every call has been waited for (redis_wait), then close the connection
 * and free r. No call may start after it. Not cancellable. May switch;
 * inside a task.
 */
void redis_close(struct redis *r);

#endif
