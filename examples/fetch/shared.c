/*
 * shared.c - one crawl's frontier in Redis (see shared.h; docs/redis.md
 * is the reference for the keys and the scripts).
 *
 * The scripts. Every read-modify-write of the frontier is one Lua script
 * (Redis runs a script alone, so each is atomic across all processes).
 * Each begins with the prelude below, takes the crawl's meta key as its
 * only KEYS entry and the key prefix as ARGV[1], and builds the other keys
 * from the prefix. All of them sit under the hash tag {NAME}, so they hash
 * to one slot, as a script's keys must on a cluster.
 *
 * Sent twice. The client sends a script again when the connection was
 * lost before its reply (redis.h), so each must give the same outcome run
 * twice as once:
 *  - add: SADD of the URL's fingerprint guards the push; a second run
 *    finds it seen (and says "not added": the URL is queued all the same);
 *  - claim: the caller picks the lease id (lease_base, unique to the
 *    handle, and a counter); a run that finds its lease returns that
 *    entry again instead of claiming another. A second run after the
 *    lease expired claims afresh under the same id, which is right: the
 *    first entry went back to the queue;
 *  - complete: leaves a tombstone (the done zset, kept keep_ms, longer
 *    than a client retries) so a second run still answers "ok";
 *  - release: a second run answers "lost" (harmless: it was released);
 *  - open: creating and comparing are both idempotent; set_delay is an
 *    HSET.
 *
 * Clocks. Every time stored (a host's next turn, a lease's deadline, a
 * tombstone) is Redis's TIME, read inside the script, so processes on
 * machines whose clocks disagree still pace hosts and expire leases
 * alike. Redis 7 replicates a script by its effects, so reading TIME
 * before writing is allowed.
 *
 * NOSCRIPT. The scripts are loaded with SCRIPT LOAD at open and run with
 * EVALSHA. Redis forgets them when it restarts: a run that answers
 * NOSCRIPT loads its script again and runs again (script_run).
 */
#define _GNU_SOURCE
#include "shared.h"

#include "shared_reply.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define SHARED_FORMAT "weft-fetch-frontier/1" /* the meta hash's format tag */
#define ADD_CHUNK 64                          /* URLs per run of the add script */
#define FIXED_ARGS 5                          /* EVALSHA sha 1 meta prefix */
#define RELOADS_MAX 3                         /* NOSCRIPT answers in a row before giving up */
#define KEEP_MIN_MS 60000                     /* tombstones are kept at least this long */

/* What every script starts with: the names it uses (see docs/redis.md). */
static const char prelude[] =
    "local p = ARGV[1]\n"
    "local TAG = '" SHARED_FORMAT "'\n"
    "local function now_ms()\n"
    "  local t = redis.call('TIME')\n"
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "end\n"
    /* The error reply when the crawl's meta hash is gone or foreign
     * (each script but open returns it before touching anything), or
     * nil. */
    "local function meta_check()\n"
    "  if redis.call('TYPE', p .. 'meta').ok ~= 'hash' or\n"
    "     redis.call('HGET', p .. 'meta', 'format') ~= TAG then\n"
    "    return redis.error_reply('WEFTGONE the crawl at ' .. p .. '* has no meta hash with format "
    "'"
    " .. TAG .. ' any more (was its data flushed or lost?)')\n"
    "  end\n"
    "end\n"
    "local function opt(name, default)\n"
    "  return tonumber(redis.call('HGET', p .. 'meta', 'opt:' .. name) or '') or default\n"
    "end\n"
    "local function split_lease(rec)\n"
    "  local a = string.find(rec, '\\n', 1, true)\n"
    "  local b = string.find(rec, '\\n', a + 1, true)\n"
    "  return string.sub(rec, 1, a - 1), string.sub(rec, a + 1, b - 1), string.sub(rec, b + 1)\n"
    "end\n"
    /* A host joins ready when it has a queued URL, room under its cap and
     * is not there yet, scored by its next turn. */
    "local function offer(host, cap)\n"
    "  if redis.call('ZSCORE', p .. 'ready', host) then return end\n"
    "  if redis.call('LLEN', p .. 'q:' .. host) == 0 then return end\n"
    "  local busy = tonumber(redis.call('HGET', p .. 'busy', host) or '0')\n"
    "  if cap > 0 and busy >= cap then return end\n"
    "  redis.call('ZADD', p .. 'ready', tonumber(redis.call('HGET', p .. 'pace', host) or '0'), "
    "host)\n"
    "end\n"
    "local function delay_of(host)\n"
    "  return tonumber(redis.call('HGET', p .. 'delay', host) or '') or opt('delay', 0)\n"
    "end\n"
    /* A lease ends whose last request returned since ms ago (-1: it made
     * none): the host's next turn is at least that return plus its delay,
     * so that requests made late in a lease (after robots.txt, a retry)
     * keep their distance from the next claim's.  Both clocks are whole
     * milliseconds: since may read up to 1 ms long and now up to 1 ms
     * short, so the turn adds 2 ms and is never early. */
    "local function pace_after(host, since, now)\n"
    "  if since < 0 then return end\n"
    "  local turn = now - since + delay_of(host) + 2\n"
    "  if turn > tonumber(redis.call('HGET', p .. 'pace', host) or '0') then\n"
    "    redis.call('HSET', p .. 'pace', host, turn)\n"
    "    redis.call('ZADD', p .. 'ready', 'XX', 'GT', turn, host)\n"
    "  end\n"
    "end\n"
    "local function unbusy(host, cap)\n"
    "  if redis.call('HINCRBY', p .. 'busy', host, -1) <= 0 then\n"
    "    redis.call('HDEL', p .. 'busy', host)\n"
    "  end\n"
    "  offer(host, cap)\n"
    "end\n"
    "local function requeue(id, rec, cap, counter)\n"
    "  local host, _, entry = split_lease(rec)\n"
    "  redis.call('LPUSH', p .. 'q:' .. host, entry)\n"
    "  redis.call('HINCRBY', p .. 'count', 'queued', 1)\n"
    "  redis.call('HINCRBY', p .. 'count', counter, 1)\n"
    "  redis.call('HDEL', p .. 'lease', id)\n"
    "  redis.call('ZREM', p .. 'leases', id)\n"
    "  unbusy(host, cap)\n"
    "end\n";

/* open: ARGV[2..] name, value pairs. {'new'}, {'same'}, {'foreign', why},
 * or {'conflict', name, theirs, ours, ...} ("=value", or "-": absent). */
static const char script_open[] =
    "local meta = p .. 'meta'\n"
    "local fixed = {seen = 'set', ready = 'zset', pace = 'hash', delay = 'hash', busy = 'hash',\n"
    "  leases = 'zset', lease = 'hash', done = 'zset', count = 'hash', starts = 'set'}\n"
    "local names = {}\n"
    "for k in pairs(fixed) do names[#names + 1] = k end\n"
    "table.sort(names)\n"
    "local t = redis.call('TYPE', meta).ok\n"
    "if t == 'none' then\n"
    "  for _, k in ipairs(names) do\n"
    "    local kt = redis.call('TYPE', p .. k).ok\n"
    "    if kt ~= 'none' then\n"
    "      return {'foreign', p .. k .. ' exists (a ' .. kt .. ') but ' .. meta .. ' does not'}\n"
    "    end\n"
    "  end\n"
    "  redis.call('HSET', meta, 'format', TAG)\n"
    "  for i = 2, #ARGV, 2 do redis.call('HSET', meta, 'opt:' .. ARGV[i], ARGV[i + 1]) end\n"
    "  return {'new'}\n"
    "end\n"
    "if t ~= 'hash' then return {'foreign', meta .. ' is a ' .. t .. ', not a hash'} end\n"
    "local f = redis.call('HGET', meta, 'format')\n"
    "if not f then return {'foreign', meta .. ' is a hash without a format field'} end\n"
    "if f ~= TAG then\n"
    "  return {'foreign', meta .. ' holds format \"' .. f .. '\", not \"' .. TAG .. '\"'}\n"
    "end\n"
    "for _, k in ipairs(names) do\n"
    "  local kt = redis.call('TYPE', p .. k).ok\n"
    "  if kt ~= 'none' and kt ~= fixed[k] then\n"
    "    return {'foreign', p .. k .. ' is a ' .. kt .. ', not a ' .. fixed[k]}\n"
    "  end\n"
    "end\n"
    "local have, ours, all = {}, {}, {}\n"
    "local h = redis.call('HGETALL', meta)\n"
    "for i = 1, #h, 2 do\n"
    "  if string.sub(h[i], 1, 4) == 'opt:' then\n"
    "    local n = string.sub(h[i], 5)\n"
    "    have[n] = h[i + 1]\n"
    "    all[#all + 1] = n\n"
    "  end\n"
    "end\n"
    "for i = 2, #ARGV, 2 do\n"
    "  ours[ARGV[i]] = ARGV[i + 1]\n"
    "  if not have[ARGV[i]] then all[#all + 1] = ARGV[i] end\n"
    "end\n"
    "table.sort(all)\n"
    "local r = {'conflict'}\n"
    "for _, n in ipairs(all) do\n"
    "  if have[n] ~= ours[n] then\n"
    "    r[#r + 1] = n\n"
    "    r[#r + 1] = have[n] and ('=' .. have[n]) or '-'\n"
    "    r[#r + 1] = ours[n] and ('=' .. ours[n]) or '-'\n"
    "  end\n"
    "end\n"
    "if #r > 1 then return r end\n"
    "return {'same'}\n";

/* add: ARGV[2..] host, depth, flags, url for each URL. One 0/1 each. */
static const char script_add[] =
    "local gone = meta_check()\n"
    "if gone then return gone end\n"
    "local cap = opt('per-host', 0)\n"
    "local out = {}\n"
    "for i = 2, #ARGV, 4 do\n"
    "  local host, url = ARGV[i], ARGV[i + 3]\n"
    "  local fp = (string.gsub(string.sub(redis.sha1hex(url), 1, 24), '..',\n"
    "    function(x) return string.char(tonumber(x, 16)) end))\n"
    "  if redis.call('SADD', p .. 'seen', fp) == 1 then\n"
    "    redis.call('RPUSH', p .. 'q:' .. host, ARGV[i + 1] .. ' ' .. ARGV[i + 2] .. ' ' .. url)\n"
    "    redis.call('HINCRBY', p .. 'count', 'queued', 1)\n"
    "    offer(host, cap)\n"
    "    out[#out + 1] = 1\n"
    "  else\n"
    "    out[#out + 1] = 0\n"
    "  end\n"
    "end\n"
    "return out\n";

/* claim: ARGV[2] lease id, [3] owner, [4] lease ms. {'claimed', host,
 * entry, ms left}, {'wait', ms}, {'finished'}, {'limit'}. */
static const char script_claim[] =
    "local gone = meta_check()\n"
    "if gone then return gone end\n"
    "local id, owner, lease_ms = ARGV[2], ARGV[3], tonumber(ARGV[4])\n"
    "local now = now_ms()\n"
    "local rec = redis.call('HGET', p .. 'lease', id)\n"
    "if rec then\n"
    "  local host, _, entry = split_lease(rec)\n"
    "  local dl = tonumber(redis.call('ZSCORE', p .. 'leases', id))\n"
    "  return {'claimed', host, entry, math.max(dl - now, 0)}\n"
    "end\n"
    "local cap = opt('per-host', 0)\n"
    "for _, x in ipairs(redis.call('ZRANGEBYSCORE', p .. 'leases', '-inf', now, 'LIMIT', 0, 100)) "
    "do\n"
    "  local r = redis.call('HGET', p .. 'lease', x)\n"
    "  if r then requeue(x, r, cap, 'reaped') else redis.call('ZREM', p .. 'leases', x) end\n"
    "end\n"
    "local live = redis.call('ZCARD', p .. 'leases')\n"
    "local lease_wait\n"
    "if live > 0 then\n"
    "  local first = redis.call('ZRANGE', p .. 'leases', 0, 0, 'WITHSCORES')\n"
    "  lease_wait = math.max(tonumber(first[2]) - now, 0)\n"
    "end\n"
    "local limit = opt('max-pages', 0)\n"
    "if limit > 0 then\n"
    "  local pages = tonumber(redis.call('HGET', p .. 'count', 'pages') or '0')\n"
    "  if pages >= limit then return {'limit'} end\n"
    "  if pages + live >= limit then return {'wait', lease_wait} end\n"
    "end\n"
    "for _ = 1, 16 do\n"
    "  local head = redis.call('ZRANGE', p .. 'ready', 0, 0, 'WITHSCORES')\n"
    "  if #head == 0 then\n"
    "    if live > 0 then return {'wait', lease_wait} end\n"
    /* Nothing was ever added: the crawl is not over before it began (a
     * process may join before the one with the start URLs). */
    "    if redis.call('SCARD', p .. 'seen') == 0 then return {'wait', 1000} end\n"
    "    local queued = tonumber(redis.call('HGET', p .. 'count', 'queued') or '0')\n"
    "    if queued ~= 0 then\n"
    "      return redis.error_reply('WEFTBROKEN ' .. queued .. ' URLs queued at ' .. p .. "
    "'* but no host is ready and no lease live')\n"
    "    end\n"
    "    return {'finished'}\n"
    "  end\n"
    "  local host, at = head[1], tonumber(head[2])\n"
    "  if at > now then\n"
    "    if lease_wait and lease_wait < at - now then return {'wait', lease_wait} end\n"
    "    return {'wait', at - now}\n"
    "  end\n"
    "  local entry = redis.call('LPOP', p .. 'q:' .. host)\n"
    "  if entry then\n"
    "    local busy = redis.call('HINCRBY', p .. 'busy', host, 1)\n"
    "    local turn = now + delay_of(host)\n"
    "    redis.call('HSET', p .. 'pace', host, turn)\n"
    "    if redis.call('LLEN', p .. 'q:' .. host) > 0 and (cap == 0 or busy < cap) then\n"
    "      redis.call('ZADD', p .. 'ready', turn, host)\n"
    "    else\n"
    "      redis.call('ZREM', p .. 'ready', host)\n"
    "    end\n"
    "    redis.call('HSET', p .. 'lease', id, host .. '\\n' .. owner .. '\\n' .. entry)\n"
    "    redis.call('ZADD', p .. 'leases', now + lease_ms, id)\n"
    "    redis.call('HINCRBY', p .. 'count', 'queued', -1)\n"
    "    redis.call('HINCRBY', p .. 'count', 'claims', 1)\n"
    "    return {'claimed', host, entry, lease_ms}\n"
    "  end\n"
    "  redis.call('ZREM', p .. 'ready', host)\n"
    "end\n"
    "return {'wait', 0}\n";

/* complete: ARGV[2] lease id, [3] "1" to count the page, [4] keep ms,
 * [5] ms since the lease's last request returned (-1: none). 'ok' or
 * 'lost'. */
static const char script_complete[] =
    "local gone = meta_check()\n"
    "if gone then return gone end\n"
    "local id, keep = ARGV[2], tonumber(ARGV[4])\n"
    "if redis.call('ZSCORE', p .. 'done', id) then return 'ok' end\n"
    "local rec = redis.call('HGET', p .. 'lease', id)\n"
    "if not rec then return 'lost' end\n"
    "local host = split_lease(rec)\n"
    "local now = now_ms()\n"
    "pace_after(host, tonumber(ARGV[5]), now)\n"
    "redis.call('HDEL', p .. 'lease', id)\n"
    "redis.call('ZREM', p .. 'leases', id)\n"
    "unbusy(host, opt('per-host', 0))\n"
    "if ARGV[3] == '1' then redis.call('HINCRBY', p .. 'count', 'pages', 1) end\n"
    "redis.call('ZADD', p .. 'done', now, id)\n"
    "redis.call('ZREMRANGEBYSCORE', p .. 'done', '-inf', now - keep)\n"
    "return 'ok'\n";

/* release: ARGV[2] lease id, [5] as complete's. 'ok' or 'lost'. */
static const char script_release[] =
    "local gone = meta_check()\n"
    "if gone then return gone end\n"
    "local rec = redis.call('HGET', p .. 'lease', ARGV[2])\n"
    "if not rec then return 'lost' end\n"
    "pace_after((split_lease(rec)), tonumber(ARGV[5]), now_ms())\n"
    "requeue(ARGV[2], rec, opt('per-host', 0), 'released')\n"
    "return 'ok'\n";

/* renew: ARGV[2] lease id, [3] ms. The lease's deadline becomes now + ms
 * if it is still the caller's (not reaped: an expired lease nobody has
 * reaped yet is still the caller's, and nobody else's): 'ok', or 'lost'. */
static const char script_renew[] =
    "local gone = meta_check()\n"
    "if gone then return gone end\n"
    "if not redis.call('HGET', p .. 'lease', ARGV[2]) then return 'lost' end\n"
    "redis.call('ZADD', p .. 'leases', now_ms() + tonumber(ARGV[3]), ARGV[2])\n"
    "return 'ok'\n";

/* stats: eight counts (shared_reply_stats's order). */
static const char script_stats[] =
    "local gone = meta_check()\n"
    "if gone then return gone end\n"
    "local function c(f) return tonumber(redis.call('HGET', p .. 'count', f) or '0') end\n"
    "return {redis.call('SCARD', p .. 'seen'), c('queued'), redis.call('ZCARD', p .. 'leases'),\n"
    "  c('pages'), redis.call('ZCARD', p .. 'ready'), c('reaped'), c('released'), c('claims')}\n";

enum script { S_OPEN, S_ADD, S_CLAIM, S_COMPLETE, S_RELEASE, S_STATS, S_RENEW, S_COUNT };

static const char *const script_body[S_COUNT] = {script_open,    script_add,   script_claim,
                                                 script_complete, script_release, script_stats,
                                                 script_renew};
static const char *const script_name[S_COUNT] = {"open",    "add",   "claim", "complete",
                                                 "release", "stats", "renew"};

struct shared {
  struct redis *r;                 /* immutable */
  char prefix[96];                 /* immutable: "weft-fetch:{NAME}:" */
  char meta[104];                  /* immutable: prefix + "meta" */
  int64_t lease_ms;                /* immutable */
  int64_t keep_ms;                 /* immutable: how long complete's tombstones last */
  char owner[128];                 /* immutable: "hostname/pid", in each lease record */
  char lease_base[20];             /* immutable: 16 random hex digits */
  char *source[S_COUNT];           /* immutable: prelude + body */
  char sha[S_COUNT][41];           /* immutable after open: SCRIPT LOAD's answers */
  atomic_uint_fast64_t next_lease; /* any task */
  atomic_uint_fast64_t reloads;    /* any task */
  pthread_mutex_t lock;            /* guards last; never held across a switch */
  char last[512];                  /* under lock: the last script error, in words */
};

static _Thread_local char strerror_buf[512];

/* Remember why (the words of an error) for shared_strerror. */
static void shared_note(struct shared *s, const char *why) {
  pthread_mutex_lock(&s->lock);
  snprintf(s->last, sizeof s->last, "%s", why);
  pthread_mutex_unlock(&s->lock);
}

/* ---- running scripts ---- */

/* Load script i (SCRIPT LOAD); its SHA-1 must be the one open got. */
static int script_load(struct shared *s, enum script i, int first) {
  const char *argv[3] = {"SCRIPT", "LOAD", s->source[i]};
  redisReply *reply;
  char why[200];
  int rc = redis_command(s->r, &reply, 3, argv, NULL, -1);
  if (rc != 0)
    return rc;
  if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
    snprintf(why, sizeof why, "SCRIPT LOAD of the %s script answered: %.*s", script_name[i],
             reply->type == REDIS_REPLY_ERROR ? (int)(reply->len > 150 ? 150 : reply->len) : 0,
             reply->type == REDIS_REPLY_ERROR ? reply->str : "");
    rc = SHARED_EREPLY;
  } else if (first) {
    memcpy(s->sha[i], reply->str, 40);
    s->sha[i][40] = '\0';
  } else if (memcmp(s->sha[i], reply->str, 40) != 0) {
    snprintf(why, sizeof why, "SCRIPT LOAD of the %s script gave another SHA-1", script_name[i]);
    rc = SHARED_EREPLY;
  }
  if (rc != 0)
    shared_note(s, why);
  freeReplyObject(reply);
  return rc;
}

/* Fill the first FIXED_ARGS of argv for script i. */
static void script_args(struct shared *s, enum script i, const char **argv) {
  argv[0] = "EVALSHA";
  argv[1] = s->sha[i];
  argv[2] = "1";
  argv[3] = s->meta;
  argv[4] = s->prefix;
}

static int is_noscript(const redisReply *reply) {
  return reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0;
}

/* After a run of script i answered reply: if that was NOSCRIPT, free it,
 * load the script again and run it again (argv as script_args left it).
 * Returns 0 with *reply the final answer, or an error. */
static int script_retry(struct shared *s, enum script i, int argc, const char **argv,
                        const size_t *lens, redisReply **reply) {
  int rc = 0;
  for (int n = 0; is_noscript(*reply); n++) {
    freeReplyObject(*reply);
    *reply = NULL;
    if (n == RELOADS_MAX) {
      shared_note(s, "Redis keeps forgetting the scripts (NOSCRIPT after SCRIPT LOAD)");
      return SHARED_EREPLY;
    }
    atomic_fetch_add(&s->reloads, 1);
    if ((rc = script_load(s, i, 0)) != 0 ||
        (rc = redis_command(s->r, reply, argc, argv, lens, -1)) != 0)
      return rc;
  }
  return rc;
}

/* Run script i with argv[FIXED_ARGS..argc) as its ARGV[2..]. */
static int script_run(struct shared *s, enum script i, int argc, const char **argv,
                      const size_t *lens, redisReply **reply) {
  int rc;
  script_args(s, i, argv);
  if ((rc = redis_command(s->r, reply, argc, argv, lens, -1)) != 0)
    return rc;
  return script_retry(s, i, argc, argv, lens, reply);
}

/* Turn a walker's SHARED_EREPLY into a noted error. */
static int shared_check(struct shared *s, int rc, const char *why) {
  if (rc == SHARED_EREPLY)
    shared_note(s, why);
  return rc;
}

/* ---- opening ---- */

static int name_ok(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > 64)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

static int option_name_ok(const char *s, size_t n) {
  if (n == 0 || n > 64)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
          s[i] == '-'))
      return 0;
  return 1;
}

/* The open script's arguments: cfg's option lines as name, value pairs,
 * then per-host, delay and max-pages. Copies go to *store (one block). */
static int open_args(const struct shared_config *cfg, const char ***argv, int *argc, char **store,
                     char *err, size_t errlen) {
  const char *o = cfg->options ? cfg->options : "";
  size_t lines = 4, n = FIXED_ARGS;
  char *copy, *line, *next;
  static const char *const reserved[] = {"per-host", "delay", "max-pages"};
  for (const char *c = o; *c; c++)
    lines += *c == '\n';
  if (!(copy = malloc(strlen(o) + 3 * 24 + 1)) ||
      !(*argv = calloc(FIXED_ARGS + 2 * lines, sizeof **argv))) {
    free(copy);
    snprintf(err, errlen, "out of memory");
    return WEFT_ENOMEM;
  }
  *store = copy;
  strcpy(copy, o);
  for (line = copy; line && *line; line = next) {
    char *eq;
    if ((next = strchr(line, '\n')))
      *next++ = '\0';
    if (!*line)
      continue;
    if (!(eq = strchr(line, '=')) || !option_name_ok(line, (size_t)(eq - line))) {
      snprintf(err, errlen, "option \"%.60s\": not name=value with a name of [a-z0-9_-]", line);
      return WEFT_EINVAL;
    }
    *eq = '\0';
    for (size_t k = FIXED_ARGS; k < n; k += 2)
      if (strcmp((*argv)[k], line) == 0) {
        snprintf(err, errlen, "option %s given twice", line);
        return WEFT_EINVAL;
      }
    for (size_t k = 0; k < 3; k++)
      if (strcmp(reserved[k], line) == 0) {
        snprintf(err, errlen, "option %s is set from the configuration's own field", line);
        return WEFT_EINVAL;
      }
    (*argv)[n++] = line;
    (*argv)[n++] = eq + 1;
  }
  char *nums = copy + strlen(o) + 1;
  long vals[3] = {cfg->per_host, cfg->delay_ms, cfg->max_pages};
  for (size_t k = 0; k < 3; k++) {
    if (vals[k] < 0) {
      snprintf(err, errlen, "%s must not be negative", reserved[k]);
      return WEFT_EINVAL;
    }
    (*argv)[n++] = reserved[k];
    (*argv)[n++] = nums;
    nums += sprintf(nums, "%ld", vals[k]) + 1;
  }
  *argc = (int)n;
  return 0;
}

static void shared_ids(struct shared *s) {
  uint64_t x[2] = {0, 0};
  char host[64] = "";
  if (getrandom(x, sizeof x, GRND_NONBLOCK) != (ssize_t)sizeof x) {
    x[0] = (uint64_t)weft_now() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    x[1] = (uint64_t)(uintptr_t)s;
  }
  snprintf(s->lease_base, sizeof s->lease_base, "%016" PRIx64, x[0] ^ (x[1] << 1));
  gethostname(host, sizeof host - 1);
  snprintf(s->owner, sizeof s->owner, "%s/%ld/%s", host, (long)getpid(), s->lease_base);
}

static struct shared *shared_new(struct redis *r, const struct shared_config *cfg) {
  struct shared *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  pthread_mutex_init(&s->lock, NULL);
  s->r = r;
  snprintf(s->prefix, sizeof s->prefix, "weft-fetch:{%s}:", cfg->name);
  snprintf(s->meta, sizeof s->meta, "%smeta", s->prefix);
  s->lease_ms = cfg->lease_ms > 0 ? cfg->lease_ms : SHARED_LEASE_MS;
  s->keep_ms = 2 * redis_timeout_ms(r);
  if (s->keep_ms < KEEP_MIN_MS)
    s->keep_ms = KEEP_MIN_MS;
  shared_ids(s);
  for (int i = 0; i < S_COUNT; i++) {
    size_t a = strlen(prelude), b = strlen(script_body[i]);
    if (!(s->source[i] = malloc(a + b + 1))) {
      shared_close(s);
      return NULL;
    }
    memcpy(s->source[i], prelude, a);
    memcpy(s->source[i] + a, script_body[i], b + 1);
  }
  return s;
}

int shared_open(struct shared **out, struct redis *r, const struct shared_config *cfg, char *err,
                size_t errlen) {
  struct shared *s = NULL;
  const char **argv = NULL;
  char *store = NULL, spare[8], why[512];
  redisReply *reply = NULL;
  int argc, rc;
  if (!err || !errlen) {
    err = spare;
    errlen = sizeof spare;
  }
  err[0] = '\0';
  if (!out || !r || !cfg) {
    snprintf(err, errlen, "shared_open: no crawl given");
    return WEFT_EINVAL;
  }
  if (!name_ok(cfg->name)) {
    snprintf(err, errlen, "crawl name \"%.64s\": 1 to 64 of A-Z a-z 0-9 . _ -",
             cfg->name ? cfg->name : "");
    return WEFT_EINVAL;
  }
  if ((rc = open_args(cfg, &argv, &argc, &store, err, errlen)) != 0)
    goto out;
  if (!(s = shared_new(r, cfg))) {
    snprintf(err, errlen, "out of memory");
    rc = WEFT_ENOMEM;
    goto out;
  }
  for (int i = 0; i < S_COUNT && rc == 0; i++)
    rc = script_load(s, (enum script)i, 1);
  if (rc == 0 && (rc = script_run(s, S_OPEN, argc, argv, NULL, &reply)) == 0) {
    rc = shared_reply_open(reply, why, sizeof why);
    if (rc == SHARED_ECONFLICT || rc == SHARED_EFOREIGN || rc == SHARED_EREPLY)
      snprintf(err, errlen, "crawl %s: %s", cfg->name, why);
    else
      rc = 0;
  } else if (rc != 0) {
    snprintf(err, errlen, "crawl %s: %s", cfg->name, shared_strerror(s, rc));
  }
out:
  if (reply)
    freeReplyObject(reply);
  free(store);
  free(argv);
  if (rc != 0) {
    shared_close(s);
    return rc;
  }
  *out = s;
  return 0;
}

/* ---- adding ---- */

static int url_ok(const struct shared_url *u) {
  size_t h = u->host ? strlen(u->host) : 0, n = u->url ? strlen(u->url) : 0;
  return h > 0 && h <= SHARED_HOST_MAX && !strchr(u->host, '\n') && n > 0 && n <= SHARED_URL_MAX &&
         u->depth >= 0 && u->flags >= 0 && u->flags <= SHARED_FLAGS_MAX;
}

/* The add script's arguments for urls[0..n) (n <= ADD_CHUNK); the
 * numbers are written into nums (24 bytes per URL). */
static int add_args(const struct shared_url *urls, size_t n, const char **argv, char *nums) {
  int argc = FIXED_ARGS;
  for (size_t i = 0; i < n; i++) {
    argv[argc++] = urls[i].host;
    argv[argc++] = nums;
    nums += sprintf(nums, "%d", urls[i].depth) + 1;
    argv[argc++] = nums;
    nums += sprintf(nums, "%d", urls[i].flags) + 1;
    argv[argc++] = urls[i].url;
  }
  return argc;
}

/* One chunk of shared_add_many in flight. */
struct add_chunk {
  const char *argv[FIXED_ARGS + 4 * ADD_CHUNK];
  char nums[24 * ADD_CHUNK];
  struct redis_call *call;
  int argc;
  size_t n;
};

long shared_add_many(struct shared *s, const struct shared_url *urls, size_t n, int *added) {
  size_t chunks = (n + ADD_CHUNK - 1) / ADD_CHUNK, i;
  struct add_chunk *c;
  long total = 0;
  int rc = 0;
  char why[200];
  for (i = 0; i < n; i++)
    if (!url_ok(&urls[i]))
      return WEFT_EINVAL;
  if (n == 0)
    return 0;
  if (!(c = calloc(chunks, sizeof *c)))
    return WEFT_ENOMEM;
  for (i = 0; i < chunks; i++) { /* submit every chunk, then wait: one pipeline */
    c[i].n = n - i * ADD_CHUNK < ADD_CHUNK ? n - i * ADD_CHUNK : ADD_CHUNK;
    c[i].argc = add_args(urls + i * ADD_CHUNK, c[i].n, c[i].argv, c[i].nums);
    script_args(s, S_ADD, c[i].argv);
    if (rc == 0)
      rc = redis_submit(s->r, &c[i].call, c[i].argc, c[i].argv, NULL);
  }
  for (i = 0; i < chunks; i++) {
    redisReply *reply = NULL;
    long got;
    int wrc;
    if (!c[i].call)
      continue;
    wrc = redis_wait(c[i].call, &reply, -1);
    if (wrc == 0)
      wrc = script_retry(s, S_ADD, c[i].argc, c[i].argv, NULL, &reply);
    if (wrc == 0) {
      got = shared_reply_add(reply, c[i].n, added ? added + i * ADD_CHUNK : NULL, why, sizeof why);
      wrc = got < 0 ? shared_check(s, (int)got, why) : 0;
      if (got > 0)
        total += got;
    }
    if (reply)
      freeReplyObject(reply);
    if (rc == 0)
      rc = wrc;
  }
  free(c);
  return rc != 0 ? rc : total;
}

int shared_add(struct shared *s, const char *host, const char *url, int depth, int flags) {
  struct shared_url u = {host, url, depth, flags};
  return (int)shared_add_many(s, &u, 1, NULL);
}

int shared_set_delay(struct shared *s, const char *host, int64_t delay_ms) {
  char key[120], ms[24];
  const char *argv[4] = {"HSET", key, host, ms};
  redisReply *reply;
  int rc;
  if (!host || !host[0] || delay_ms < 0)
    return WEFT_EINVAL;
  snprintf(key, sizeof key, "%sdelay", s->prefix);
  snprintf(ms, sizeof ms, "%" PRId64, delay_ms);
  if ((rc = redis_command(s->r, &reply, 4, argv, NULL, -1)) != 0)
    return rc;
  if (reply->type == REDIS_REPLY_ERROR) {
    char why[300];
    snprintf(why, sizeof why, "HSET %s: %.150s", key, reply->str);
    rc = shared_check(s, SHARED_EREPLY, why);
  }
  freeReplyObject(reply);
  return rc;
}

/* ---- leases ---- */

int shared_claim(struct shared *s, struct shared_entry *e, int64_t *wait_ms) {
  const char *argv[FIXED_ARGS + 3];
  char ms[24], why[200];
  redisReply *reply;
  int64_t spare, sent;
  int rc;
  memset(e, 0, sizeof *e);
  snprintf(e->lease, sizeof e->lease, "%s-%" PRIuFAST64, s->lease_base,
           atomic_fetch_add(&s->next_lease, 1));
  snprintf(ms, sizeof ms, "%" PRId64, s->lease_ms);
  argv[FIXED_ARGS] = e->lease;
  argv[FIXED_ARGS + 1] = s->owner;
  argv[FIXED_ARGS + 2] = ms;
  sent = weft_now(); /* before the script runs: the deadline below is never late */
  if ((rc = script_run(s, S_CLAIM, FIXED_ARGS + 3, argv, NULL, &reply)) != 0)
    return rc;
  rc = shared_reply_claim(reply, e, wait_ms ? wait_ms : &spare, why, sizeof why);
  freeReplyObject(reply);
  if (rc == SHARED_CLAIMED)
    e->deadline = sent + e->lease_ms;
  return shared_check(s, rc, why);
}

/* Complete or release lease e (script i). */
static int shared_end(struct shared *s, enum script i, const struct shared_entry *e, int counted) {
  const char *argv[FIXED_ARGS + 4];
  char keep[24], since[24], why[200];
  redisReply *reply;
  int rc;
  snprintf(keep, sizeof keep, "%" PRId64, s->keep_ms);
  snprintf(since, sizeof since, "%" PRId64, e->last_sent > 0 ? weft_now() - e->last_sent : -1);
  argv[FIXED_ARGS] = e->lease;
  argv[FIXED_ARGS + 1] = counted ? "1" : "0";
  argv[FIXED_ARGS + 2] = keep;
  argv[FIXED_ARGS + 3] = since;
  if ((rc = script_run(s, i, FIXED_ARGS + 4, argv, NULL, &reply)) != 0)
    return rc;
  rc = shared_reply_done(reply, why, sizeof why);
  freeReplyObject(reply);
  return shared_check(s, rc, why);
}

int shared_complete(struct shared *s, const struct shared_entry *e, int counted) {
  return shared_end(s, S_COMPLETE, e, counted);
}

int shared_release(struct shared *s, const struct shared_entry *e) {
  return shared_end(s, S_RELEASE, e, 0);
}

int shared_renew(struct shared *s, struct shared_entry *e, int64_t ms) {
  const char *argv[FIXED_ARGS + 2];
  char arg[24], why[200];
  redisReply *reply;
  int64_t sent;
  int rc;
  if (ms <= 0)
    ms = s->lease_ms;
  snprintf(arg, sizeof arg, "%" PRId64, ms);
  argv[FIXED_ARGS] = e->lease;
  argv[FIXED_ARGS + 1] = arg;
  sent = weft_now();
  if ((rc = script_run(s, S_RENEW, FIXED_ARGS + 2, argv, NULL, &reply)) != 0)
    return rc;
  rc = shared_check(s, shared_reply_done(reply, why, sizeof why), why);
  freeReplyObject(reply);
  if (rc == 0)
    e->deadline = sent + ms;
  return rc;
}

int64_t shared_lease_ms(const struct shared *s) {
  return s->lease_ms;
}

/* ---- the start hosts ---- */

/* The key of the crawl's start hosts (a set). */
static void starts_key(const struct shared *s, char *key, size_t len) {
  snprintf(key, len, "%sstarts", s->prefix);
}

int shared_start_host(struct shared *s, const char *name) {
  char key[sizeof s->prefix + 8];
  const char *argv[3] = {"SADD", key, name};
  redisReply *reply;
  int rc;
  starts_key(s, key, sizeof key);
  if ((rc = redis_command(s->r, &reply, 3, argv, NULL, -1)) != 0)
    return rc;
  if (reply->type != REDIS_REPLY_INTEGER) {
    shared_note(s, reply->type == REDIS_REPLY_ERROR ? reply->str : "SADD answered no integer");
    rc = SHARED_EREPLY;
  }
  freeReplyObject(reply);
  return rc;
}

int shared_start_hosts(struct shared *s, int (*fn)(void *arg, const char *name), void *arg) {
  char key[sizeof s->prefix + 8];
  const char *argv[2] = {"SMEMBERS", key};
  redisReply *reply;
  int rc;
  starts_key(s, key, sizeof key);
  if ((rc = redis_command(s->r, &reply, 2, argv, NULL, -1)) != 0)
    return rc;
  if (reply->type != REDIS_REPLY_ARRAY) {
    shared_note(s, reply->type == REDIS_REPLY_ERROR ? reply->str : "SMEMBERS answered no array");
    rc = SHARED_EREPLY;
  }
  for (size_t i = 0; rc == 0 && i < reply->elements; i++)
    if (reply->element[i]->type == REDIS_REPLY_STRING)
      rc = fn(arg, reply->element[i]->str);
  freeReplyObject(reply);
  return rc;
}

int shared_stats(struct shared *s, struct shared_stats *st) {
  const char *argv[FIXED_ARGS];
  char why[200];
  redisReply *reply;
  int rc;
  if ((rc = script_run(s, S_STATS, FIXED_ARGS, argv, NULL, &reply)) != 0)
    return rc;
  rc = shared_reply_stats(reply, st, why, sizeof why);
  freeReplyObject(reply);
  return shared_check(s, rc, why);
}

uint64_t shared_reloads(struct shared *s) {
  return atomic_load(&s->reloads);
}

const char *shared_strerror(struct shared *s, int err) {
  switch (err) {
  case SHARED_EREPLY:
    if (!s)
      return "Redis answered what the frontier's script never sends";
    pthread_mutex_lock(&s->lock);
    snprintf(strerror_buf, sizeof strerror_buf, "%s", s->last);
    pthread_mutex_unlock(&s->lock);
    return strerror_buf;
  case SHARED_ECONFLICT:
    return "the crawl exists with other options";
  case SHARED_EFOREIGN:
    return "the crawl's keys hold other data";
  default:
    return redis_strerror(s ? s->r : NULL, err);
  }
}

void shared_close(struct shared *s) {
  if (!s)
    return;
  for (int i = 0; i < S_COUNT; i++)
    free(s->source[i]);
  pthread_mutex_destroy(&s->lock);
  free(s);
}
