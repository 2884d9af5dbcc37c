/*
 * linkdump - print the links fetch's HTML tokenizer (examples/fetch/html.h)
 * finds in files, for the differential test against html5lib
 * (tests/fetch/tokdiff.py), and check that feeding a file in pieces finds
 * the same links as feeding it whole.
 *
 *   linkdump [-s none|every|random] [-r SEED] FILE...
 *
 * For each FILE: a line "== FILE", then one line per link attribute in
 * document order, "ELEMENT<TAB>ATTR<TAB>VALUE", where VALUE shows the
 * bytes 0x21-0x7E but the backslash as themselves and every other byte as
 * \xHH. -s every also feeds the file split in two at every byte, and one
 * byte at a time; -s random feeds it in pieces of random sizes (three
 * ways, from SEED). Exit status: 0, 1 when a split feed found other links
 * than the whole feed, 2 on a usage or I/O error.
 */
#include "html.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A growable byte string: the listing of one feed. */
struct out {
  char *data;
  size_t len, cap;
};

static void put(struct out *o, const char *s, size_t n) {
  if (o->len + n > o->cap) {
    size_t cap = o->cap ? o->cap * 2 : 4096;
    while (cap < o->len + n)
      cap *= 2;
    if (!(o->data = realloc(o->data, cap))) {
      fprintf(stderr, "linkdump: out of memory\n");
      exit(2);
    }
    o->cap = cap;
  }
  memcpy(o->data + o->len, s, n);
  o->len += n;
}

static int on_link(void *arg, enum html_elem el, enum html_attr at, const char *v, size_t len) {
  struct out *o = arg;
  const char *el_name = html_elem_name(el), *at_name = html_attr_name(at);
  put(o, el_name, strlen(el_name));
  put(o, "\t", 1);
  put(o, at_name, strlen(at_name));
  put(o, "\t", 1);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)v[i];
    char hex[5];
    if (c > 0x20 && c < 0x7F && c != '\\') {
      put(o, (const char *)&c, 1);
    } else {
      snprintf(hex, sizeof hex, "\\x%02x", c);
      put(o, hex, 4);
    }
  }
  put(o, "\n", 1);
  return 0;
}

/* The listing of data fed in the pieces that cut (a sorted list of
 * offsets, ncut of them) makes. */
static void feed(const char *data, size_t len, const size_t *cuts, size_t ncut, struct out *o) {
  struct html_tok t;
  size_t at = 0;
  o->len = 0;
  html_init(&t, on_link, o);
  for (size_t i = 0; i <= ncut; i++) {
    size_t to = i < ncut ? cuts[i] : len;
    if (html_feed(&t, data + at, to - at) != 0) {
      fprintf(stderr, "linkdump: out of memory\n");
      exit(2);
    }
    at = to;
  }
  html_end(&t);
  html_destroy(&t);
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *data = NULL;
  size_t cap = 0, n = 0, got;
  if (!f) {
    fprintf(stderr, "linkdump: %s: %s\n", path, strerror(errno));
    exit(2);
  }
  do {
    if (n == cap && !(data = realloc(data, cap = cap ? cap * 2 : 65536))) {
      fprintf(stderr, "linkdump: out of memory\n");
      exit(2);
    }
    got = fread(data + n, 1, cap - n, f);
    n += got;
  } while (got > 0);
  if (ferror(f)) {
    fprintf(stderr, "linkdump: %s: read error\n", path);
    exit(2);
  }
  fclose(f);
  *len = n;
  return data;
}

static int same(const struct out *a, const struct out *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static int differs(const char *path, const char *how) {
  fprintf(stderr, "linkdump: %s: fed %s, the links differ from the whole feed\n", path, how);
  return 1;
}

/* Split checks of one file against its whole listing. Returns 0 or 1. */
static int check_splits(const char *path, const char *data, size_t len, const struct out *whole,
                        const char *mode, unsigned *seed) {
  struct out o = {0};
  size_t *cuts = malloc((len + 1) * sizeof *cuts);
  int bad = 0;
  char how[64];
  if (!cuts)
    exit(2);
  if (strcmp(mode, "every") == 0) {
    for (size_t i = 0; i <= len && !bad; i++) {
      cuts[0] = i;
      feed(data, len, cuts, 1, &o);
      snprintf(how, sizeof how, "split at byte %zu", i);
      bad = !same(&o, whole) && differs(path, how);
    }
    for (size_t i = 0; i < len; i++)
      cuts[i] = i + 1;
    feed(data, len, cuts, len ? len - 1 : 0, &o);
    bad = bad || (!same(&o, whole) && differs(path, "a byte at a time"));
  } else if (strcmp(mode, "random") == 0) {
    for (int round = 0; round < 3 && !bad; round++) {
      size_t n = 0, at = 0;
      while (1) {
        /* mostly short pieces, sometimes long ones */
        size_t step = 1 + (size_t)(rand_r(seed) % (round == 0 ? 8 : round == 1 ? 300 : 20000));
        if ((at += step) >= len)
          break;
        cuts[n++] = at;
      }
      feed(data, len, cuts, n, &o);
      snprintf(how, sizeof how, "in %zu random pieces", n + 1);
      bad = !same(&o, whole) && differs(path, how);
    }
  }
  free(cuts);
  free(o.data);
  return bad;
}

int main(int argc, char **argv) {
  const char *mode = "none";
  unsigned seed = 1;
  int opt, status = 0;
  struct out whole = {0};
  while ((opt = getopt(argc, argv, "s:r:")) != -1) {
    if (opt == 's' && (!strcmp(optarg, "none") || !strcmp(optarg, "every") ||
                       !strcmp(optarg, "random")))
      mode = optarg;
    else if (opt == 'r')
      seed = (unsigned)strtoul(optarg, NULL, 10);
    else {
      fprintf(stderr, "usage: linkdump [-s none|every|random] [-r SEED] FILE...\n");
      return 2;
    }
  }
  for (int i = optind; i < argc; i++) {
    size_t len;
    char *data = read_file(argv[i], &len);
    feed(data, len, NULL, 0, &whole);
    printf("== %s\n", argv[i]);
    if (whole.len > 0) /* no listing yet: data may be NULL */
      fwrite(whole.data, 1, whole.len, stdout);
    if (check_splits(argv[i], data, len, &whole, mode, &seed))
      status = 1;
    free(data);
  }
  free(whole.data);
  return fflush(stdout) == 0 ? status : 2;
}
