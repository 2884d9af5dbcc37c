/*
 * file.h - what a GET or HEAD request resolves to: an open regular file
 * under the root with its size and type, or the status to answer instead.
 */
#ifndef HTTPD_FILE_H
#define HTTPD_FILE_H

#include <stdint.h>

#include "parse.h"

/* Deadline for each file open or read on the thread pool. */
#define FILE_MS 30000

/* What a request resolved to: a file to send, or a status to answer. */
struct target {
  int status; /* 200, or 301/400/403/404/500 */
  int fd;     /* status 200: the open file, which the caller closes; else -1 */
  int64_t size;
  const char *type; /* its Content-Type */
};

/*
 * Resolve rq's target under root (root_len bytes, as for path_map) to an
 * open regular file or a status, into *tg. fs is the room for the path
 * (root_len + HTTPD_PATH_ROOM bytes). A directory's URL without its
 * trailing slash is a 301, with it the directory's index.html. May switch
 * (the open goes through weft's thread pool); inside a task.
 */
void file_resolve(const char *root, size_t root_len, const struct request *rq, char *fs,
                  struct target *tg);

#endif
