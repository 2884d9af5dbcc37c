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
    "  -i, --input FILE      start URLs, one per line ('-' = stdin), in addition to\n"
    "                        URL...\n"
    "  -o, --output FILE     one JSON object per requested URL, one per line\n"
    "                        ('-' = stdout, the default)\n"
    "  -q, --quiet           no progress line\n"
    "  -h, --help            this text\n"
    "\n"
    "A record: {\"url\":...,\"status\":200,\"bytes\":N,\"wire_bytes\":N,\"ms\":N,\"depth\":N,\n"
    "\"links\":N} (bytes: the body decoded; wire_bytes: as received),\n"
    "with \"redirect\" on a 3xx, \"tls\" (the protocol) for https:, and \"error\"\n"
    "when the request failed (\"tls: ...\" for a TLS failure). A URL that\n"
    "robots.txt disallows is not requested; only a start URL then gets a record\n"
    "(\"error\":\"disallowed by robots.txt\"). SIGINT or SIGTERM stops the crawl:\n"
    "requests in flight get \"error\":\"cancelled\". Exit status: 0 when the crawl\n"
    "ran (failed pages are in the records), 1 when the records could not be\n"
    "written, 2 on a usage error.\n";

enum { OPT_PER_HOST = 256, OPT_OFFSITE, OPT_MAX_BODY, OPT_NO_ROBOTS, OPT_CA_FILE, OPT_INSECURE,
       OPT_NO_COMPRESSION };

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
  o->output = "-";
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
      if (set_number(o, c, optarg, msg, msglen) != CLI_OK)
        return CLI_USAGE;
      break;
    case OPT_OFFSITE: o->offsite = 1; break;
    case OPT_NO_ROBOTS: o->robots = 0; break;
    case OPT_CA_FILE: o->ca_file = optarg; break;
    case OPT_INSECURE: o->insecure = 1; break;
    case OPT_NO_COMPRESSION: o->compress = 0; break;
    case 'i': o->input = optarg; break;
    case 'o': o->output = optarg; break;
    case 'q': o->quiet = 1; break;
    case 'h': return CLI_HELP;
    default: return bad_option(c, argc, argv, msg, msglen);
    }
  }
  o->urls = argv + optind;
  o->nurls = (size_t)(argc - optind);
  if (o->nurls == 0 && !o->input) {
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
  if (!*o->output) {
    snprintf(msg, msglen, "fetch: -o/--output needs a file name");
    return CLI_USAGE;
  }
  return CLI_OK;
}
