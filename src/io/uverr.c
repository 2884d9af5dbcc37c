/*
 * uverr.c - libuv's error codes as WEFT_E* codes (io.h), for every io
 * file that hands a libuv result to a task.
 */
#include "io/io.h"

#include <uv.h>

int weft__uv_error(int uv_code) {
  switch (uv_code) {
  case UV_EAI_NONAME:
  case UV_EAI_NODATA:
  case UV_EAI_SERVICE:
    return WEFT_EAI_NONAME;
  case UV_EAI_AGAIN:
    return WEFT_EAI_AGAIN;
  case UV_EAI_MEMORY:
    return WEFT_ENOMEM;
  case UV_EAI_FAIL:
  case UV_EAI_ADDRFAMILY:
  case UV_EAI_BADFLAGS:
  case UV_EAI_BADHINTS:
  case UV_EAI_FAMILY:
  case UV_EAI_OVERFLOW:
  case UV_EAI_PROTOCOL:
  case UV_EAI_SOCKTYPE:
    return WEFT_EAI_FAIL;
  case UV_EAI_CANCELED:
  case UV_ECANCELED:
    return WEFT_ECANCELED;
  default:
    return uv_code; /* -errno on Unix, as WEFT_E* */
  }
}
