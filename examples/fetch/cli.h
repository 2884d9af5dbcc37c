/*
 * cli.h - fetch's command line (getopt_long). Pure but for getopt's
 * globals: one thread at a time.
 */
#ifndef FETCH_CLI_H
#define FETCH_CLI_H

#include <stddef.h>

struct options {
  long concurrency;   /* -c: requests in flight at most */
  long depth;         /* -d: levels of links followed below the start URLs */
  long max_pages;     /* -n: requests made at most */
  long timeout_ms;    /* -t: deadline of one request */
  unsigned workers;   /* -w: worker threads; 0 = weft's default */
  long per_host;      /* --per-host: open connections to one host at most */
  int offsite;        /* --offsite: follow links to any host */
  long max_body;      /* --max-body: longest body kept */
  int robots;         /* 0 with --no-robots */
  const char *ca_file; /* --ca-file: more trusted certificates (PEM), or NULL */
  int insecure;        /* --insecure: no certificate or host name checks */
  int compress;        /* 0 with --no-compression: ask for identity only */
  const char *input;  /* -i: a file of start URLs ("-" = stdin), or NULL */
  const char *output; /* -o: where records go ("-" = stdout) */
  int quiet;          /* -q: no progress line */
  char **urls;        /* the start URLs on the command line (into argv) */
  size_t nurls;
};

/* What cli_parse returns. */
#define CLI_OK 0
#define CLI_HELP 1  /* -h: print cli_usage to stdout, exit 0 */
#define CLI_USAGE 2 /* a usage error: msg says what; exit 2 */

/*
 * Parse argv into *o (defaults first). On CLI_USAGE, msg (msglen bytes)
 * holds a one-line message starting with "fetch: ". getopt_long may
 * reorder argv.
 */
int cli_parse(int argc, char **argv, struct options *o, char *msg, size_t msglen);

/* The text of -h. */
extern const char cli_usage[];

#endif
