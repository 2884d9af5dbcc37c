/*
 * path.h - where a request may lead: httpd's mapping of a URL path to a
 * file path under the served directory (the root), and the check that a
 * file reached through symbolic links still lies under it. Together they
 * are the confinement: no path httpd opens lies outside the root.
 * No weft calls; any thread.
 */
#ifndef HTTPD_PATH_H
#define HTTPD_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "parse.h"

/* The room path_map needs past the root's length: the longest decoded
 * URL path, the "/index.html" a directory gets, and the NUL. */
#define HTTPD_PATH_ROOM (HTTPD_TARGET_MAX + 32)

/*
 * The file rq's target names under root (root_len bytes, no trailing
 * slash: 0 for "/"): root, then the percent-decoded URL path rewritten
 * to "/seg/seg" (no empty or "." segments; "/" for the root), into fs,
 * which has room for root_len + HTTPD_PATH_ROOM bytes. Sets *fs_len and
 * *slash (the URL path ended with a slash: it names a directory). A ".."
 * segment, also percent-encoded or behind an encoded slash, is refused,
 * so the path never leaves root lexically. Returns 0, 400 (not a path,
 * a malformed escape or %00) or 403 (a ".." segment).
 */
int path_map(const char *root, size_t root_len, const struct request *rq, char *fs, size_t *fs_len,
             bool *slash);

/*
 * Whether the file st describes, opened by path, lies under root (a real
 * path, root_len bytes as for path_map): path's real location, symbolic
 * links resolved, must be under root and be that very file (same device
 * and inode), so a link swapped between the open and this check is
 * caught too. Touches the file system (realpath, stat), never blocks on
 * the network. Any thread.
 */
bool path_inside(const char *root, size_t root_len, const char *path, const struct stat *st);

#endif
