/*
 * file.c - from a request to an open file (see file.h). path.c decides
 * which path a URL may name; this file opens it with weft_file_open,
 * which runs on libuv's thread pool, so a slow disk parks the connection
 * task, not its worker, and then has path.c check where the open led.
 */
#define _GNU_SOURCE
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <weft.h>

#include "path.h"

/* The Content-Type for a file name, by its extension. */
static const char *file_type(const char *name) {
  static const char *const types[][2] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"css", "text/css"},
      {"js", "text/javascript"},
      {"txt", "text/plain"},
      {"json", "application/json"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"svg", "image/svg+xml"},
      {"ico", "image/x-icon"},
      {"pdf", "application/pdf"},
      {"xml", "application/xml"},
  };
  const char *base = strrchr(name, '/'), *dot;

  dot = strrchr(base ? base : name, '.');
  if (dot)
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
      if (strcasecmp(dot + 1, types[i][0]) == 0)
        return types[i][1];
  return "application/octet-stream";
}

/* The status for a failed open. */
static int file_open_status(int err) {
  switch (err) {
  case WEFT_ENOENT:
  case -ENOTDIR:
  case -ENAMETOOLONG:
    return 404;
  case -EACCES:
  case -EPERM:
  case -ELOOP:
    return 403;
  default:
    return 500;
  }
}

/* Open path for reading if it lies inside the root, and stat it. Returns
 * the fd, or minus the status to answer. May switch. */
static int file_open_inside(const char *root, size_t root_len, const char *path, struct stat *st) {
  int fd = weft_file_open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, weft_now() + FILE_MS);

  if (fd < 0)
    return fd == WEFT_ECANCELED || fd == WEFT_ETIMEDOUT ? -500 : -file_open_status(fd);
  if (fstat(fd, st) < 0) {
    weft_file_close(fd);
    return -500;
  }
  if (!path_inside(root, root_len, path, st)) {
    weft_file_close(fd);
    return -403;
  }
  if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode)) {
    weft_file_close(fd);
    return -403; /* devices, fifos, sockets are not served */
  }
  return fd;
}

/* Open what rq names, or a status (see file.h). May switch. */
void file_resolve(const char *root, size_t root_len, const struct request *rq, char *fs,
                  struct target *tg) {
  size_t fs_len;
  struct stat st;
  bool slash;
  int fd;

  tg->fd = -1;
  if ((tg->status = path_map(root, root_len, rq, fs, &fs_len, &slash)))
    return;
  if ((fd = file_open_inside(root, root_len, fs, &st)) < 0) {
    tg->status = -fd;
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    weft_file_close(fd);
    if (!slash) {
      tg->status = 301;
      return;
    }
    strcpy(fs + fs_len, fs[fs_len - 1] == '/' ? "index.html" : "/index.html");
    if ((fd = file_open_inside(root, root_len, fs, &st)) < 0) {
      tg->status = -fd;
      return;
    }
    if (!S_ISREG(st.st_mode)) {
      weft_file_close(fd);
      tg->status = 404; /* an index.html that is a directory */
      return;
    }
  } else if (slash) {
    weft_file_close(fd);
    tg->status = 404; /* "file/" names no file */
    return;
  }
  tg->status = 200;
  tg->fd = fd;
  tg->size = (int64_t)st.st_size;
  tg->type = file_type(fs);
}
