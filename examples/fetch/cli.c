/*
 * cli.c - fetch's command line (see cli.h).
 *
 * getopt_long runs with its own messages off (opterr = 0, and a leading
 * ':' so a missing argument is told apart from an unknown option) and
 * every error is phrased here, naming the option as the user could have
 * typed it. Numbers must be whole decimal numbers in range: "5x", "", a
 * sign alone or an overflowing value are usage errors, never silently 0.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cli_usage[] =
    "usage: fetch [OPTIONS] URL...\n"
    "Crawl the web from the start URLs; print one JSON record per requested URL.\n"
    "\n"
    "  -c, --concurrency N   requests in flight at most (default 32)\n"
    "  -d, --depth N         follow links N levels below the start URLs\n"
    "                        (default 0: only the given URLs)\n"
    "  -n, --max-pages N     stop after N pages (default 100000)\n"
    "  -t, --timeout MS      deadline per request: resolve, connect, send, whole\n"
    "                        response (default 10000)\n"
    "  -w, --workers N       worker threads (default: online CPUs)\n"
    "      --per-host N      open connections per host at most (default 8)\n"
    "      --offsite         also follow links to hosts other than the start URLs'\n"
    "                        hosts\n"
    "      --max-body BYTES  a longer body is cut off and recorded as an error\n"
    "                        (default 10485760)\n"
    "      --no-robots       do not read /robots.txt\n"
    "      --ca-file FILE    https: also trust the PEM certificates in FILE\n"
    "      --insecure        https: do not verify certificates or host names\n"
    "      --no-compression  ask for bodies as they are (default: gzip, deflate,\n"
    "                        br, decoded as they arrive)\n"
    "      --delay MS        at least MS between the starts of two requests to one\n"
    "                        host (default 0; robots.txt's Crawl-delay, if larger,\n"
    "                        wins)\n"
    "      --max-crawl-delay MS  obey a robots.txt Crawl-delay up to MS (default\n"
    "                        30000)\n"
    "      --sitemaps        also crawl the URLs of the sitemaps robots.txt names\n"
    "                        (XML, sitemap indexes, gzipped), at depth 1, whatever\n"
    "                        -d says; at most -n of them in all\n"
    "      --retries N       retry a refused, reset or timed-out connection and HTTP\n"
    "                        429, 500, 502, 503, 504 up to N times (default 2)\n"
    "      --retry-wait MS   the first wait before a retry, doubled each time, with\n"
    "                        jitter; a Retry-After up to 60 s wins (default 1000)\n"
    "      --accept REGEX    follow only URLs that match some --accept (POSIX\n"
    "                        extended, against the normalised absolute URL;\n"
    "                        repeatable; start URLs are always fetched)\n"
    "      --reject REGEX    never follow URLs that match (repeatable)\n"
    "      --warc FILE       also archive every response, robots.txt included, as\n"
    "                        WARC/1.1 (request and response records); FILE ending\n"
    "                        in .gz: one gzip member per record\n"
    "      --state DIR       keep a crash-safe journal of the crawl in DIR: the same\n"
    "                        command run again after a crash or SIGKILL resumes it,\n"
    "                        appending to -o FILE (which it needs)\n"
    "      --redis HOST:PORT one crawl shared by every fetch process given the same\n"
    "                        --redis and --crawl, on any machine (the password, if\n"
    "                        any, from REDISCLI_AUTH); start URLs are optional then\n"
    "      --crawl NAME      the shared crawl's name (1-64 of A-Z a-z 0-9 . _ -)\n"
    "      --lease MS        a claimed URL goes back to the shared crawl if not\n"
    "                        completed in MS (default 30000)\n"
    "      --redis-timeout MS  give up when Redis stays unreachable this long\n"
    "                        (default 60000)\n"
    "  -i, --input FILE      start URLs, one per line ('-' = stdin), in addition to\n"
    "                        URL...\n"
    "  -o, --output FILE     one JSON object per requested URL, one per line\n"
    "                        ('-' = stdout, the default)\n"
    "  -q, --quiet           no progress line\n"
    "  -h, --help            this text\n"
    "\n"
    "A record: {\"url\":...,\"status\":200,\"bytes\":N,\"wire_bytes\":N,\"ms\":N,\"depth\":N,\n"
    "\"links\":N,\"attempts\":N} (bytes: the body decoded; wire_bytes: as received;\n"
    "attempts: requests made for it, retries and a resend on a kept-alive\n"
    "connection the server had closed included),\n"
    "with \"redirect\" on a 3xx, \"tls\" (the protocol) for https:, and \"error\"\n"
    "when the request failed (\"tls: ...\" for a TLS failure). A URL that\n"
    "robots.txt disallows is not requested; only a start URL then gets a record\n"
    "(\"error\":\"disallowed by robots.txt\"). A sitemap (--sitemaps) gets a record\n"
    "only when it cannot be read, with its own URL and \"error\":\"sitemap: ...\".\n"
    "SIGINT or SIGTERM stops the crawl: requests in flight get\n"
    "\"error\":\"cancelled\". Exit status: 0 when the crawl ran (failed pages are in\n"
    "the records), 1 when the records or the --warc archive could not all be\n"
    "written or Redis failed the crawl (--redis), 2 on a usage error (or a --warc\n"
    "FILE that cannot be created, or a shared crawl that cannot be joined).\n";

enum { OPT_PER_HOST = 256, OPT_OFFSITE, OPT_MAX_BODY, OPT_NO_ROBOTS, OPT_CA_FILE, OPT_INSECURE,
       OPT_NO_COMPRESSION, OPT_DELAY, OPT_MAX_CRAWL_DELAY, OPT_SITEMAPS, OPT_RETRIES,
       OPT_RETRY_WAIT, OPT_ACCEPT, OPT_REJECT, OPT_WARC, OPT_STATE, OPT_REDIS, OPT_CRAWL,
       OPT_LEASE, OPT_REDIS_TIMEOUT };

static const struct option longopts[] = {
    {"concurrency", required_argument, NULL, 'c'},
    {"depth", required_argument, NULL, 'd'},
    {"max-pages", required_argument, NULL, 'n'},
    {"timeout", required_argument, NULL, 't'},
    {"workers", required_argument, NULL, 'w'},
    {"per-host", required_argument, NULL, OPT_PER_HOST},
    {"offsite", no_argument, NULL, OPT_OFFSITE},
    {"max-body", required_argument, NULL, OPT_MAX_BODY},
    {"no-robots", no_argument, NULL, OPT_NO_ROBOTS},
    {"ca-file", required_argument, NULL, OPT_CA_FILE},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"no-compression", no_argument, NULL, OPT_NO_COMPRESSION},
    {"delay", required_argument, NULL, OPT_DELAY},
    {"max-crawl-delay", required_argument, NULL, OPT_MAX_CRAWL_DELAY},
    {"sitemaps", no_argument, NULL, OPT_SITEMAPS},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"retry-wait", required_argument, NULL, OPT_RETRY_WAIT},
    {"accept", required_argument, NULL, OPT_ACCEPT},
    {"reject", required_argument, NULL, OPT_REJECT},
    {"warc", required_argument, NULL, OPT_WARC},
    {"state", required_argument, NULL, OPT_STATE},
    {"redis", required_argument, NULL, OPT_REDIS},
    {"crawl", required_argument, NULL, OPT_CRAWL},
    {"lease", required_argument, NULL, OPT_LEASE},
    {"redis-timeout", required_argument, NULL, OPT_REDIS_TIMEOUT},
    {"input", required_argument, NULL, 'i'},
    {"output", required_argument, NULL, 'o'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The option whose getopt value is val, as "-c/--concurrency" or "--offsite". */
static void option_name(int val, char *out, size_t len) {
  for (const struct option *o = longopts; o->name; o++) {
    if (o->val != val)
      continue;
    if (val < 256)
      snprintf(out, len, "-%c/--%s", val, o->name);
    else
      snprintf(out, len, "--%s", o->name);
    return;
  }
  snprintf(out, len, "-%c", val);
}

/* The range of each numeric option. */
struct number {
  int val;
  long lo, hi;
};

static const struct number numbers[] = {
    {'c', 1, 10000}, {'d', 0, 1000000},        {'n', 1, LONG_MAX},          {'t', 1, 86400000},
    {'w', 1, 1024},  {OPT_PER_HOST, 1, 10000}, {OPT_MAX_BODY, 1, 1L << 30},
    {OPT_DELAY, 0, 86400000}, {OPT_MAX_CRAWL_DELAY, 0, 86400000}, {OPT_RETRIES, 0, 100},
    {OPT_RETRY_WAIT, 0, 3600000}, {OPT_LEASE, 100, 86400000}, {OPT_REDIS_TIMEOUT, 1, 86400000},
};

static void store(struct options *o, int val, long v) {
  switch (val) {
  case 'c': o->concurrency = v; break;
  case 'd': o->depth = v; break;
  case 'n': o->max_pages = v; break;
  case 't': o->timeout_ms = v; break;
  case 'w': o->workers = (unsigned)v; break;
  case OPT_PER_HOST: o->per_host = v; break;
  case OPT_MAX_BODY: o->max_body = v; break;
  case OPT_DELAY: o->delay_ms = v; break;
  case OPT_MAX_CRAWL_DELAY: o->max_crawl_delay_ms = v; break;
  case OPT_RETRIES: o->retries = v; break;
  case OPT_RETRY_WAIT: o->retry_wait_ms = v; break;
  case OPT_LEASE: o->lease_ms = v; break;
  case OPT_REDIS_TIMEOUT: o->redis_timeout_ms = v; break;
  }
}

/* Parse arg as a whole decimal number in [lo, hi]. Returns 0 or -1. */
static int parse_number(const char *arg, long lo, long hi, long *out) {
  const char *p = arg + (*arg == '-' || *arg == '+');
  char *end;
  long v;
  if (*p < '0' || *p > '9')
    return -1;
  errno = 0;
  v = strtol(arg, &end, 10);
  if (errno == ERANGE || *end != '\0' || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

/* Store the numeric option val. Returns CLI_OK or CLI_USAGE. */
static int set_number(struct options *o, int val, const char *arg, char *msg, size_t len) {
  char name[32];
  long v;
  for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
    if (numbers[i].val != val)
      continue;
    if (parse_number(arg, numbers[i].lo, numbers[i].hi, &v) == 0) {
      store(o, val, v);
      return CLI_OK;
    }
    option_name(val, name, sizeof name);
    snprintf(msg, len, "fetch: %s: '%s' is not a whole number from %ld to %ld", name, arg,
             numbers[i].lo, numbers[i].hi);
    return CLI_USAGE;
  }
  return CLI_USAGE;
}

static void defaults(struct options *o) {
  memset(o, 0, sizeof *o);
  o->concurrency = 32;
  o->depth = 0;
  o->max_pages = 100000;
  o->timeout_ms = 10000;
  o->per_host = 8;
  o->max_body = 10485760;
  o->robots = 1;
  o->compress = 1;
  o->max_crawl_delay_ms = 30000;
  o->retries = 2;
  o->retry_wait_ms = 1000;
  o->lease_ms = 30000;
  o->redis_timeout_ms = 60000;
  o->output = "-";
}

/* Compile pattern as one more --accept or --reject (val) filter into
 * *set (n of them), its text into *src. Returns CLI_OK or CLI_USAGE with
 * msg saying why. */
static int add_filter(int val, const char *pattern, regex_t **set, const char ***src, size_t *n,
                      char *msg, size_t len) {
  regex_t *grown = realloc(*set, (*n + 1) * sizeof **set);
  const char **texts = grown ? realloc(*src, (*n + 1) * sizeof **src) : NULL;
  char name[32], why[128];
  int rc;
  option_name(val, name, sizeof name);
  if (grown)
    *set = grown;
  if (!texts) {
    snprintf(msg, len, "fetch: %s: out of memory", name);
    return CLI_USAGE;
  }
  *src = texts;
  texts[*n] = pattern;
  if ((rc = regcomp(&grown[*n], pattern, REG_EXTENDED | REG_NOSUB)) != 0) {
    regerror(rc, &grown[*n], why, sizeof why);
    snprintf(msg, len, "fetch: %s: '%s' is not a valid extended regular expression: %s", name,
             pattern, why);
    return CLI_USAGE;
  }
  ++*n;
  return CLI_OK;
}

static void free_filters(regex_t **set, const char ***src, size_t *n) {
  for (size_t i = 0; i < *n; i++)
    regfree(&(*set)[i]);
  free(*set);
  free(*src);
  *set = NULL;
  *src = NULL;
  *n = 0;
}

void cli_free(struct options *o) {
  free_filters(&o->accept, &o->accept_src, &o->naccept);
  free_filters(&o->reject, &o->reject_src, &o->nreject);
}

static int matches_any(const regex_t *set, size_t n, const char *url) {
  for (size_t i = 0; i < n; i++)
    if (regexec(&set[i], url, 0, NULL, 0) == 0)
      return 1;
  return 0;
}

int cli_url_wanted(const struct options *o, const char *url) {
  return (o->naccept == 0 || matches_any(o->accept, o->naccept, url)) &&
         !matches_any(o->reject, o->nreject, url);
}

/* Phrase getopt's complaint c ('?' or ':') about the option it just read. */
static int bad_option(int c, int argc, char **argv, char *msg, size_t len) {
  char name[32];
  const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
  if (c == ':') {
    option_name(optopt, name, sizeof name);
    snprintf(msg, len, "fetch: %s needs an argument", name);
  } else if (optopt >= 256) {
    option_name(optopt, name, sizeof name);
    snprintf(msg, len, "fetch: %s takes no argument", name);
  } else if (optopt > 0) {
    snprintf(msg, len, "fetch: unknown option '-%c'", optopt);
  } else {
    snprintf(msg, len, "fetch: unknown option '%s'", arg);
  }
  return CLI_USAGE;
}

/* Split --redis HOST:PORT ("[v6]:PORT" for an IPv6 address) into
 * o->redis_host and o->redis_port, and check that --crawl goes with it
 * and --state does not. Returns CLI_OK or CLI_USAGE. */
static int check_redis(struct options *o, char *msg, size_t len) {
  const char *colon, *host;
  size_t hlen;
  long port;
  if (!o->redis) {
    if (o->crawl) {
      snprintf(msg, len, "fetch: --crawl names a shared crawl: it needs --redis HOST:PORT");
      return CLI_USAGE;
    }
    return CLI_OK;
  }
  if (!o->crawl) {
    snprintf(msg, len, "fetch: --redis needs --crawl NAME (the shared crawl's name)");
    return CLI_USAGE;
  }
  if (o->state) {
    snprintf(msg, len, "fetch: --state and --redis cannot be combined (Redis keeps the shared "
                       "crawl's state)");
    return CLI_USAGE;
  }
  host = o->redis;
  colon = strrchr(o->redis, ':');
  if (*host == '[') {
    const char *close = strchr(host, ']');
    if (!close || close + 1 != colon)
      colon = NULL;
    host++;
    hlen = close ? (size_t)(close - host) : 0;
  } else {
    hlen = colon ? (size_t)(colon - host) : 0;
  }
  if (!colon || hlen == 0 || hlen >= sizeof o->redis_host ||
      parse_number(colon + 1, 1, 65535, &port) != 0 || colon[1] == '+') {
    snprintf(msg, len, "fetch: --redis: '%s' is not HOST:PORT (a port from 1 to 65535)",
             o->redis);
    return CLI_USAGE;
  }
  memcpy(o->redis_host, host, hlen);
  o->redis_host[hlen] = '\0';
  snprintf(o->redis_port, sizeof o->redis_port, "%ld", port);
  return CLI_OK;
}

int cli_parse(int argc, char **argv, struct options *o, char *msg, size_t msglen) {
  int c;
  defaults(o);
  snprintf(msg, msglen, "fetch: usage error");
  optind = 0; /* glibc: start over, so the parser can run more than once */
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":c:d:n:t:w:i:o:qh", longopts, NULL)) != -1) {
    switch (c) {
    case 'c':
    case 'd':
    case 'n':
    case 't':
    case 'w':
    case OPT_PER_HOST:
    case OPT_MAX_BODY:
    case OPT_DELAY:
    case OPT_MAX_CRAWL_DELAY:
    case OPT_RETRIES:
    case OPT_RETRY_WAIT:
    case OPT_LEASE:
    case OPT_REDIS_TIMEOUT:
      if (set_number(o, c, optarg, msg, msglen) != CLI_OK)
        return CLI_USAGE;
      break;
    case OPT_OFFSITE: o->offsite = 1; break;
    case OPT_NO_ROBOTS: o->robots = 0; break;
    case OPT_CA_FILE: o->ca_file = optarg; break;
    case OPT_INSECURE: o->insecure = 1; break;
    case OPT_NO_COMPRESSION: o->compress = 0; break;
    case OPT_SITEMAPS: o->sitemaps = 1; break;
    case OPT_ACCEPT:
      if (add_filter(c, optarg, &o->accept, &o->accept_src, &o->naccept, msg, msglen) != CLI_OK)
        return CLI_USAGE;
      break;
    case OPT_REJECT:
      if (add_filter(c, optarg, &o->reject, &o->reject_src, &o->nreject, msg, msglen) != CLI_OK)
        return CLI_USAGE;
      break;
    case OPT_WARC: o->warc = optarg; break;
    case OPT_STATE: o->state = optarg; break;
    case OPT_REDIS: o->redis = optarg; break;
    case OPT_CRAWL: o->crawl = optarg; break;
    case 'i': o->input = optarg; break;
    case 'o': o->output = optarg; break;
    case 'q': o->quiet = 1; break;
    case 'h': return CLI_HELP;
    default: return bad_option(c, argc, argv, msg, msglen);
    }
  }
  o->urls = argv + optind;
  o->nurls = (size_t)(argc - optind);
  if (o->nurls == 0 && !o->input && !o->redis) {
    snprintf(msg, msglen, "fetch: no URL given (name one, or a file of them with -i)");
    return CLI_USAGE;
  }
  if (o->input && !*o->input) {
    snprintf(msg, msglen, "fetch: -i/--input needs a file name");
    return CLI_USAGE;
  }
  if (o->ca_file && !*o->ca_file) {
    snprintf(msg, msglen, "fetch: --ca-file needs a file name");
    return CLI_USAGE;
  }
  if ((o->warc && !*o->warc) || (o->state && !*o->state)) {
    snprintf(msg, msglen, "fetch: %s needs a name", o->warc && !*o->warc ? "--warc" : "--state");
    return CLI_USAGE;
  }
  if (!*o->output) {
    snprintf(msg, msglen, "fetch: -o/--output needs a file name");
    return CLI_USAGE;
  }
  return check_redis(o, msg, msglen);
}
