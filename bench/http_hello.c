/*
 * http_hello.c - a minimal HTTP/1.1 server on weft that answers every
 * request with "Hello, World!", the server half of the http benchmark.
 * It listens on 127.0.0.1; an acceptor task spawns one detached task per
 * connection.
 *
 * A connection task reads into a buffer and answers each complete request
 * head (everything up to the blank line) in turn, so pipelined requests
 * are answered in order and their answers leave in as few sends as fit.
 * Connections are kept alive; the task closes its connection on EOF, on
 * an error, after answering a request that says "Connection: close", or
 * when a request head does not fit its buffer. Request bodies are not
 * supported: this serves GET-style load such as wrk's.
 *
 * Usage: http_hello [-w WORKERS] [-p PORT]
 * PORT 0 (the default) takes any free port. Once it listens, the server
 * prints "PORT <n>" on stdout and serves until it is killed (SIGTERM and
 * SIGINT keep their default action). There is no RESULT line; the load
 * comes from wrk. Its twin is bench/peers/go/http_hello/main.go.
 */
#define _POSIX_C_SOURCE 200809L
#define BENCH_NAME "http_hello"

#include "bench.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* The largest request head, and the room for answers not yet sent. */
#define IN_SIZE 8192
#define OUT_SIZE 4096

static const char response[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Length: 13\r\n"
                               "Content-Type: text/plain\r\n"
                               "\r\n"
                               "Hello, World!";

/* One connection's state; it lives on its task's stack. */
struct conn {
  weft_sock *sock;
  size_t in_len;  /* bytes received and not yet consumed */
  size_t out_len; /* bytes of answers not yet sent */
  bool closing;   /* a request asked to close the connection */
  char in[IN_SIZE];
  char out[OUT_SIZE];
};

/* The length of the request head at the start of buf (up to and including
 * its blank line), or 0 when the head is not complete yet. */
static size_t head_length(const char *buf, size_t len) {
  for (size_t i = 3; i < len; i++)
    if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
      return i + 1;
  return 0;
}

/* Whether the header line at line (len bytes, no line end) is
 * "Connection: close", in any case and with any spaces after the colon. */
static bool is_connection_close(const char *line, size_t len) {
  static const char name[] = "connection:";
  size_t i = sizeof name - 1;

  if (len < i || strncasecmp(line, name, i) != 0)
    return false;
  while (i < len && (line[i] == ' ' || line[i] == '\t'))
    i++;
  return len - i >= 5 && strncasecmp(line + i, "close", 5) == 0;
}

/* Whether the request head (len bytes) asks to close the connection. */
static bool wants_close(const char *head, size_t len) {
  const char *end = head + len;
  const char *line = memchr(head, '\n', len); /* skip the request line */

  while (line && ++line < end) {
    const char *next = memchr(line, '\n', (size_t)(end - line));
    size_t n = next ? (size_t)(next - line) : (size_t)(end - line);
    if (n > 0 && line[n - 1] == '\r')
      n--;
    if (is_connection_close(line, n))
      return true;
    line = next;
  }
  return false;
}

/* Send the answers gathered so far. Returns 0 or a WEFT_E* code. May switch. */
static int flush(struct conn *c) {
  int err = weft_send(c->sock, c->out, c->out_len, -1);
  c->out_len = 0;
  return err;
}

/* Queue one answer, sending the queue first when it is full. Returns 0 or
 * a WEFT_E* code. May switch. */
static int answer(struct conn *c) {
  size_t n = sizeof response - 1;
  if (c->out_len + n > sizeof c->out) {
    int err = flush(c);
    if (err < 0)
      return err;
  }
  memcpy(c->out + c->out_len, response, n);
  c->out_len += n;
  return 0;
}

/* Answer every complete request head in the input, stopping after one that
 * asks to close, and keep what is left of the input. Returns 0 or a WEFT_E*
 * code. May switch. */
static int answer_all(struct conn *c) {
  size_t done = 0, n;

  while (!c->closing && (n = head_length(c->in + done, c->in_len - done)) > 0) {
    c->closing = wants_close(c->in + done, n);
    int err = answer(c);
    if (err < 0)
      return err;
    done += n;
  }
  c->in_len -= done;
  memmove(c->in, c->in + done, c->in_len);
  return 0;
}

/* Read requests and answer them until the connection should end, then
 * close it. The body of a connection task; may switch. */
static void *serve_conn(void *arg) {
  struct conn c = {.sock = arg};

  while (!c.closing && c.in_len < sizeof c.in) {
    ssize_t n = weft_recv(c.sock, c.in + c.in_len, sizeof c.in - c.in_len, -1);
    if (n <= 0)
      break;
    c.in_len += (size_t)n;
    if (answer_all(&c) < 0 || flush(&c) < 0)
      break;
  }
  weft_sock_close(c.sock);
  return NULL;
}

int main(int argc, char **argv) {
  bench_server_main(argc, argv, serve_conn);
  return 0;
}
