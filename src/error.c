/*
 * error.c - naming error codes, and the always-on assertion.
 */
#define _GNU_SOURCE
#include "weft-int.h"

#include <string.h>

#include <stdio.h>
#include <stdlib.h>

const char *weft_strerror(int err) {
  switch (err) {
  case 0: return "success";
  case WEFT_EPERM: return "operation not permitted here (blocking call outside a task?)";
  case WEFT_ENOENT: return "no such file or directory";
  case WEFT_EBADF: return "bad or closed descriptor";
  case WEFT_EAGAIN: return "resource temporarily unavailable";
  case WEFT_ENOMEM: return "out of memory";
  case WEFT_EBUSY: return "resource busy";
  case WEFT_EINVAL: return "invalid argument";
  case WEFT_EMFILE: return "too many open files";
  case WEFT_EPIPE: return "broken pipe or closed channel";
  case WEFT_EDEADLK: return "operation would deadlock";
  case WEFT_ETIMEDOUT: return "deadline passed";
  case WEFT_ECANCELED: return "task cancelled";
  case WEFT_ECONNREFUSED: return "connection refused";
  case WEFT_ECONNRESET: return "connection reset by peer";
  case WEFT_EDONE: return "generator finished";
  case WEFT_EAI_NONAME: return "host name not known";
  case WEFT_EAI_AGAIN: return "temporary failure in name resolution";
  case WEFT_EAI_FAIL: return "name resolution failed";
  case WEFT_ESRCH: return "no such process";
  case -ENFILE: return "too many open files in the system";
  case -EADDRINUSE: return "address already in use";
  case -ENOTCONN: return "socket not connected";
  case -EHOSTUNREACH: return "host unreachable";
  case -ENETUNREACH: return "network unreachable";
  default: break;
  }
  if (err < 0 && err > -4096) { /* any other -errno: the C library's text */
    const char *d = strerrordesc_np(-err);
    if (d)
      return d;
  }
  switch (err) {
  default: return "unknown error";
  }
}

_Noreturn void weft__fatal(const char *file, int line, const char *what) {
  fprintf(stderr, "weft: internal error at %s:%d: %s\n", file, line, what);
  abort();
}
