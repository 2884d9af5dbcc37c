/*
 * tls.h - TLS for fetch's https: requests, OpenSSL 3 driven from the task
 * through memory BIOs: OpenSSL never touches the socket, the task moves
 * the encrypted bytes with weft_send and weft_recv under the request's
 * deadline, so a handshake parks the task, never its worker, and the
 * handshakes and the crypto of many requests run on all workers at once.
 *
 * Verification is on unless the crawl says --insecure: the peer's chain
 * against the system's trust store (and --ca-file's certificates), its
 * name (or IP address, for an IP literal) against the URL's host, TLS 1.2
 * at least. SNI is sent for names, ALPN offers http/1.1, and each server
 * keeps its last session (TLS 1.3 ticket or TLS 1.2 session) to resume
 * the next connection with.
 */
#ifndef FETCH_TLS_H
#define FETCH_TLS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <weft.h>

/* The TLS settings of one crawl (an SSL_CTX). Any thread once made. */
struct tls_config;

/* A server's resumable session: in its struct host. */
struct tls_cache {
  pthread_mutex_t lock; /* guards session; never held across a switch */
  void *session;        /* under lock: an SSL_SESSION *, or NULL */
};

/* One connection's TLS state. One task at a time. */
struct tls;

/* What tls_connect, tls_send and tls_recv return besides weft's codes. */
#define TLS_FAILED (-10000) /* a TLS failure: tls_strerror says why */

/*
 * Make the crawl's settings: the system trust store plus the PEM
 * certificates of ca_file (may be NULL), or no verification at all when
 * insecure. Returns 0, or -1 with a message for the user in err.
 */
int tls_config_new(struct tls_config **out, const char *ca_file, int insecure, char *err,
                   size_t errlen);
void tls_config_free(struct tls_config *cfg);

void tls_cache_init(struct tls_cache *c);
void tls_cache_destroy(struct tls_cache *c);

/*
 * Run a client handshake over the connected socket s with the server
 * host (a name, or an IP literal without brackets), resuming cache's
 * session if it has one and keeping the new one there. Returns 0 with
 * *out set, a weft error of the socket (WEFT_ETIMEDOUT, WEFT_ECANCELED,
 * ...), or TLS_FAILED with the reason in errbuf ("tls: host name
 * mismatch", "tls: certificate verify failed: certificate has expired",
 * ...). May switch.
 */
int tls_connect(struct tls **out, struct tls_config *cfg, struct tls_cache *cache, weft_sock *s,
                const char *host, int64_t deadline, char *errbuf, size_t errlen);

/* Send len bytes. Returns 0, a weft error, or TLS_FAILED. May switch. */
int tls_send(struct tls *t, weft_sock *s, const void *data, size_t len, int64_t deadline,
             char *errbuf, size_t errlen);

/* Receive up to len bytes: their count, 0 at the end of the stream (a
 * close, with or without close_notify), a weft error, or TLS_FAILED. May
 * switch. */
ssize_t tls_recv(struct tls *t, weft_sock *s, void *data, size_t len, int64_t deadline,
                 char *errbuf, size_t errlen);

/* The negotiated protocol: "TLSv1.3", "TLSv1.2". */
const char *tls_version(const struct tls *t);

/* Free t (the socket is the caller's to close). Never switches. */
void tls_free(struct tls *t);

#endif
