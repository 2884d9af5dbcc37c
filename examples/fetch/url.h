/*
 * url.h - URLs for fetch: RFC 3986 reference resolution, the normal form
 * fetch compares and records URLs in, and the parts an HTTP request needs.
 * Parsing is uriparser's; these functions add what a crawler needs around
 * it. Pure functions, any thread.
 */
#ifndef FETCH_URL_H
#define FETCH_URL_H

#include <stddef.h>

/* Errors of the url_* functions. */
#define URL_EINVAL (-1) /* not a URL, or not the kind asked for */
#define URL_ENOMEM (-2)

/* The longest URL fetch accepts, in bytes after percent-encoding. */
#define URL_MAX 8192

/*
 * Resolve the reference ref against the absolute URI base as RFC 3986
 * section 5.2 says (strict mode: "http:g" stays "http:g"), without any
 * further normalisation. *out is malloc'd. Returns 0, URL_EINVAL (base
 * not absolute, either one not a URI reference), URL_ENOMEM.
 */
int url_resolve(const char *base, const char *ref, char **out);

/*
 * The normal form of the absolute URI in: scheme and host in lower case,
 * percent-encodings in upper case and decoded where they encode an
 * unreserved character, dot segments removed, an empty or default port
 * dropped (http 80, https 443), an empty http(s) path made "/", the
 * fragment dropped. Before parsing, surrounding whitespace is trimmed,
 * tabs and newlines are removed and the bytes a URI cannot hold (spaces,
 * non-ASCII, a lone '%', ...) are percent-encoded, as browsers do with an
 * href. Returns 0, URL_EINVAL (no scheme, not a URI, a port of 0 or over
 * 65535, longer than URL_MAX), URL_ENOMEM.
 */
int url_normalize(const char *in, char **out);

/* url_resolve, then url_normalize: how a link on a page becomes a URL. */
int url_join(const char *base, const char *ref, char **out);

/* A base URL parsed once, to join many references against (a page's links). */
struct url_base;

/* Parse the absolute URL base. Returns 0, URL_EINVAL, URL_ENOMEM. */
int url_base_new(const char *base, struct url_base **out);

/* url_join(base, ref, out), without parsing base again. */
int url_base_join(const struct url_base *b, const char *ref, char **out);

void url_base_free(struct url_base *b);

/* Nonzero when url's scheme is scheme (ASCII, any case). */
int url_is_scheme(const char *url, const char *scheme);

/* What a request to an http(s) URL needs, every string malloc'd. */
struct url {
  char *scheme;    /* "http" or "https" */
  char *host;      /* for the resolver: an IPv6 literal without brackets */
  char *port;      /* decimal, the scheme's default when the URL has none */
  char *authority; /* the Host header: host (in brackets if IPv6), ":port" unless default */
  char *key;       /* host:port, the port always present */
  char *origin;    /* scheme://host:port: names the server (its pool, its robots.txt) */
  char *target;    /* the request target: path and query, at least "/" */
};

/*
 * Split the normalised URL url (an output of url_normalize) into *u.
 * Returns 0, URL_EINVAL (not http or https, no host), URL_ENOMEM. Free
 * with url_parts_free (also after a failure).
 */
int url_split(const char *url, struct url *u);
void url_parts_free(struct url *u);

#endif
