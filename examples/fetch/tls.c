/*
 * tls.c - TLS through memory BIOs (see tls.h).
 *
 * The protocol with OpenSSL. Each SSL object has two memory BIOs: rbio,
 * which the task fills with bytes it received, and wbio, which OpenSSL
 * fills with bytes to send. Every SSL_* call runs as one step:
 *
 *   1. ERR_clear_error(), then the SSL_* call;
 *   2. SSL_get_error() and, on failure, the reason (the verify result,
 *      the error queue), read at once into errbuf;
 *   3. only then does the task move bytes: it sends what wbio holds and,
 *      when OpenSSL wants more, receives into rbio. Both may park.
 *
 * Steps 1 and 2 never park, so they run on one thread: a task may resume
 * on another worker after step 3, and OpenSSL's error queue belongs to
 * the thread, not to the SSL object. The SSL object itself may move
 * between threads, since only the task holding the connection (under its
 * host's lease) touches it.
 */
#define _GNU_SOURCE
#include "tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tls_config {
  SSL_CTX *ctx;
  int verify;
};

struct tls {
  SSL *ssl;
  BIO *rbio; /* received bytes, for OpenSSL to read; owned by ssl */
  BIO *wbio; /* bytes OpenSSL wrote, to send; owned by ssl */
};

/* The ex_data slot of an SSL that points to its server's tls_cache. */
static int cache_index = -1;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_index_init(void) { cache_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL); }

/* OpenSSL has a new session for ssl's server (after a TLS 1.2 handshake,
 * or a TLS 1.3 ticket read after it): it replaces the server's last one.
 * Called inside an SSL_* call, on the task's thread. */
static int on_new_session(SSL *ssl, SSL_SESSION *session) {
  struct tls_cache *c = SSL_get_ex_data(ssl, cache_index);
  SSL_SESSION *old;
  if (!c)
    return 0;
  pthread_mutex_lock(&c->lock);
  old = c->session;
  c->session = session;
  pthread_mutex_unlock(&c->lock);
  SSL_SESSION_free(old);
  return 1; /* the cache keeps the reference */
}

int tls_config_new(struct tls_config **out, const char *ca_file, int insecure, char *err,
                   size_t errlen) {
  struct tls_config *cfg = calloc(1, sizeof *cfg);
  SSL_CTX *ctx;
  pthread_once(&cache_once, cache_index_init);
  if (!cfg || cache_index < 0 || !(ctx = SSL_CTX_new(TLS_client_method()))) {
    snprintf(err, errlen, "fetch: cannot set up TLS: out of memory");
    free(cfg);
    return -1;
  }
  cfg->ctx = ctx;
  cfg->verify = !insecure;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  ERR_clear_error();
  if (!insecure && SSL_CTX_set_default_verify_paths(ctx) != 1) {
    snprintf(err, errlen, "fetch: cannot load the system's trusted certificates");
    goto out_free;
  }
  if (ca_file && SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
    const char *why = ERR_reason_error_string(ERR_peek_last_error());
    snprintf(err, errlen, "fetch: --ca-file %s: no PEM certificates could be read (%s)", ca_file,
             why ? why : "unreadable");
    goto out_free;
  }
  *out = cfg;
  return 0;
out_free:
  tls_config_free(cfg);
  return -1;
}

void tls_config_free(struct tls_config *cfg) {
  if (!cfg)
    return;
  SSL_CTX_free(cfg->ctx);
  free(cfg);
}

void tls_cache_init(struct tls_cache *c) {
  pthread_mutex_init(&c->lock, NULL);
  c->session = NULL;
}

void tls_cache_destroy(struct tls_cache *c) {
  SSL_SESSION_free(c->session);
  c->session = NULL;
  pthread_mutex_destroy(&c->lock);
}

/* ---- moving the encrypted bytes (step 3) ---- */

/* Send everything OpenSSL has written. Returns 0 or a weft error. */
static int flush(struct tls *t, weft_sock *s, int64_t deadline) {
  char data[16384];
  int n;
  while ((n = BIO_read(t->wbio, data, sizeof data)) > 0) {
    int rc = weft_send(s, data, (size_t)n, deadline);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Receive bytes for OpenSSL to read. Returns their count, 0 at the end of
 * the stream, or a weft error. */
static ssize_t fill(struct tls *t, weft_sock *s, int64_t deadline) {
  char data[16384];
  ssize_t n = weft_recv(s, data, sizeof data, deadline);
  if (n > 0 && BIO_write(t->rbio, data, (int)n) != (int)n)
    return WEFT_ENOMEM;
  return n;
}

/* ---- why a call failed (step 2) ---- */

/* Put the reason of a failed SSL_* call in errbuf; returns TLS_FAILED. */
static int failure(struct tls *t, int verify, char *errbuf, size_t errlen) {
  long v = SSL_get_verify_result(t->ssl);
  unsigned long e = ERR_peek_last_error();
  const char *why = e ? ERR_reason_error_string(e) : NULL;
  if (verify && v != X509_V_OK &&
      (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH))
    snprintf(errbuf, errlen, "tls: host name mismatch");
  else if (verify && v != X509_V_OK)
    snprintf(errbuf, errlen, "tls: certificate verify failed: %s", X509_verify_cert_error_string(v));
  else
    snprintf(errbuf, errlen, "tls: %s", why ? why : "protocol error");
  return TLS_FAILED;
}

/* The reason for the end of the stream in the middle of a handshake. */
static int closed_early(char *errbuf, size_t errlen) {
  snprintf(errbuf, errlen, "tls: connection closed during the handshake");
  return TLS_FAILED;
}

/* ---- the calls ---- */

/* Set up a client SSL for host: SNI and the name check for a name, the
 * address check for an IP literal, ALPN, the server's last session. */
static int setup(struct tls *t, struct tls_config *cfg, struct tls_cache *cache,
                 const char *host) {
  unsigned char ip[16];
  int is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
  static const unsigned char alpn[] = "\x08http/1.1";
  SSL_SESSION *session;
  if (!(t->ssl = SSL_new(cfg->ctx)) || !(t->rbio = BIO_new(BIO_s_mem())))
    return -1;
  if (!(t->wbio = BIO_new(BIO_s_mem()))) {
    BIO_free(t->rbio);
    return -1;
  }
  SSL_set_bio(t->ssl, t->rbio, t->wbio);
  SSL_set_connect_state(t->ssl);
  SSL_set_ex_data(t->ssl, cache_index, cache);
  if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host) != 1
            : SSL_set1_host(t->ssl, host) != 1 || SSL_set_tlsext_host_name(t->ssl, host) != 1)
    return -1;
  if (SSL_set_alpn_protos(t->ssl, alpn, sizeof alpn - 1) != 0) /* 0 is success here */
    return -1;
  pthread_mutex_lock(&cache->lock);
  if ((session = cache->session))
    SSL_SESSION_up_ref(session);
  pthread_mutex_unlock(&cache->lock);
  if (session) {
    SSL_set_session(t->ssl, session);
    SSL_SESSION_free(session);
  }
  return 0;
}

int tls_connect(struct tls **out, struct tls_config *cfg, struct tls_cache *cache, weft_sock *s,
                const char *host, int64_t deadline, char *errbuf, size_t errlen) {
  struct tls *t = calloc(1, sizeof *t);
  int rc = 0;
  ERR_clear_error();
  if (!t || setup(t, cfg, cache, host) != 0) {
    tls_free(t);
    snprintf(errbuf, errlen, "tls: cannot set up the connection");
    return TLS_FAILED;
  }
  for (;;) {
    int r, e;
    ssize_t n;
    ERR_clear_error(); /* step 1 */
    r = SSL_do_handshake(t->ssl);
    e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r); /* step 2 */
    if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ)
      rc = e == SSL_ERROR_SYSCALL && !ERR_peek_last_error() ? closed_early(errbuf, errlen)
                                                            : failure(t, cfg->verify, errbuf, errlen);
    if (rc == 0) /* step 3: an alert is worth sending too, but a failure is final */
      rc = flush(t, s, deadline);
    else
      flush(t, s, 0);
    if (rc != 0 || e == SSL_ERROR_NONE)
      break;
    if ((n = fill(t, s, deadline)) <= 0) {
      rc = n == 0 ? closed_early(errbuf, errlen) : (int)n;
      break;
    }
  }
  if (rc == WEFT_ETIMEDOUT)
    snprintf(errbuf, errlen, "tls: handshake timed out");
  if (rc != 0) {
    tls_free(t);
    return rc == WEFT_ETIMEDOUT ? TLS_FAILED : rc;
  }
  *out = t;
  return 0;
}

int tls_send(struct tls *t, weft_sock *s, const void *data, size_t len, int64_t deadline,
             char *errbuf, size_t errlen) {
  while (len > 0) {
    int chunk = len > 65536 ? 65536 : (int)len, r, e;
    int rc;
    ERR_clear_error();
    r = SSL_write(t->ssl, data, chunk);
    e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
    rc = e == SSL_ERROR_NONE ? 0 : failure(t, 0, errbuf, errlen);
    if (rc == 0)
      rc = flush(t, s, deadline);
    if (rc != 0)
      return rc;
    data = (const char *)data + r;
    len -= (size_t)r;
  }
  return 0;
}

ssize_t tls_recv(struct tls *t, weft_sock *s, void *data, size_t len, int64_t deadline,
                 char *errbuf, size_t errlen) {
  for (;;) {
    int want = len > 65536 ? 65536 : (int)len, r, e, rc = 0;
    ssize_t n;
    ERR_clear_error();
    r = SSL_read(t->ssl, data, want);
    e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN)
      return 0; /* close_notify */
    if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ)
      rc = failure(t, 0, errbuf, errlen);
    if (rc == 0) /* a key update or a ticket's answer, rare */
      rc = flush(t, s, deadline);
    if (rc != 0)
      return rc;
    if (e == SSL_ERROR_NONE)
      return r;
    if ((n = fill(t, s, deadline)) <= 0)
      return n; /* the end of the stream, or the socket's error */
  }
}

const char *tls_version(const struct tls *t) { return SSL_get_version(t->ssl); }

void tls_free(struct tls *t) {
  if (!t)
    return;
  if (t->ssl)
    SSL_free(t->ssl); /* frees both BIOs */
  free(t);
}
