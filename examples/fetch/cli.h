/*
 * cli.h - fetch's command line (getopt_long). Pure but for getopt's
 * globals: one thread at a time.
 */
#ifndef FETCH_CLI_H
#define FETCH_CLI_H

#include <regex.h>
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
  long delay_ms;       /* --delay: least time between two request starts to one host */
  long max_crawl_delay_ms; /* --max-crawl-delay: robots.txt's Crawl-delay capped at this */
  int sitemaps;        /* --sitemaps: robots.txt's Sitemap: URLs join the frontier */
  long retries;        /* --retries: more attempts after a retryable failure */
  long retry_wait_ms;  /* --retry-wait: the first backoff, doubled per attempt */
  regex_t *accept;     /* --accept: compiled (REG_EXTENDED | REG_NOSUB), naccept of them */
  const char **accept_src; /* the patterns as given (into argv), naccept of them */
  size_t naccept;
  regex_t *reject;     /* --reject: likewise */
  const char **reject_src;
  size_t nreject;
  const char *warc;    /* --warc: WARC/1.1 output file (".gz": gzip per record), or NULL */
  const char *state;   /* --state: the crawl journal's directory, or NULL */
  const char *redis;   /* --redis HOST:PORT as given, or NULL */
  char redis_host[256]; /* --redis: its host, without the brackets of an IPv6 address */
  char redis_port[8];   /* --redis: its port */
  const char *crawl;    /* --crawl: the shared crawl's name, or NULL */
  long lease_ms;        /* --lease */
  long redis_timeout_ms; /* --redis-timeout */
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

/* Free what cli_parse allocated in *o (the compiled filters). Harmless
 * after a failed parse and twice. */
void cli_free(struct options *o);

/* Whether the normalised absolute URL passes the filters: it matches some
 * --accept (or none was given) and no --reject. */
int cli_url_wanted(const struct options *o, const char *url);

/* The text of -h. */
extern const char cli_usage[];

#endif
