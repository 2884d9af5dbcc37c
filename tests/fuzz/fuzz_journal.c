/*
 * fuzz_journal.c - libFuzzer harness for the reader of fetch's crawl
 * journal (examples/fetch/journal.c), which a kill, a full disk or
 * anything else may leave holding any bytes at all.
 *
 * Input: a control byte, then the journal's bytes. Control bit 0 set:
 * before reading, the harness walks the frames by their length fields and
 * writes each one's correct crc, so the fuzzer reaches the payload
 * decoder instead of spending itself on crc32 (a length past the input's
 * end stops the walk). The other bits choose split points (fuzz_rand).
 *
 * Asserted, besides no crash, leak or undefined behaviour:
 *  - the reader accepts a prefix of the input that ends on a frame
 *    boundary, and stops there for good: what follows is short (a torn
 *    tail) or bad, never skipped over;
 *  - each accepted entry is well formed (journal.h): a known type, a
 *    header with the magic, a URL without NUL, a record of one line ending
 *    in a newline, a fingerprint with its top bit clear and not zero;
 *  - writing the accepted entries again with journal_put gives back the
 *    accepted bytes exactly (one encoding per entry);
 *  - the input cut anywhere reads as the entries wholly before the cut;
 *  - read through a small buffer refilled in pieces, as state.c's replay
 *    does, the input gives the same entries and the same end.
 */
#include "journal.h"

#include "fuzz.h"

#include <zlib.h>

/* Walk the frames of data (n bytes) and set each one's crc. */
static void fix_crcs(unsigned char *data, size_t n) {
  size_t pos = 0;
  while (n - pos >= JOURNAL_FRAME) {
    unsigned char *p = data + pos;
    uint32_t len =
        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    uint32_t crc;
    if (len == 0 || len > n - pos - JOURNAL_FRAME)
      return;
    crc = (uint32_t)crc32(crc32(0L, p, 4), p + JOURNAL_FRAME, len);
    for (int i = 0; i < 4; i++)
      p[4 + i] = (unsigned char)(crc >> (8 * i));
    pos += JOURNAL_FRAME + len;
  }
}

/* Read all of data; return how many entries, with where each ends in
 * ends (the first max of them) and *stop the reason the last call gave. */
static size_t read_all(const unsigned char *data, size_t n, size_t *ends, size_t max, int *stop) {
  size_t pos = 0, count = 0, used;
  struct jentry e;
  int r;
  while ((r = journal_next(data + pos, n - pos, &e, &used)) == JOURNAL_OK) {
    FUZZ_CHECK(used >= JOURNAL_FRAME + 1 && used <= n - pos, "used %zu of %zu", used, n - pos);
    pos += used;
    if (count < max)
      ends[count] = pos;
    count++;
  }
  *stop = r;
  return count;
}

static void check_entry(const struct jentry *e) {
  switch (e->type) {
  case JOURNAL_HEADER:
    FUZZ_CHECK(e->text_len >= sizeof JOURNAL_MAGIC - 1 &&
                   memcmp(e->text, JOURNAL_MAGIC, sizeof JOURNAL_MAGIC - 1) == 0,
               "a header without the magic");
    break;
  case JOURNAL_JOIN:
    FUZZ_CHECK(e->hops >= 0 && e->hops <= 255 && (e->start == 0 || e->start == 1) &&
                   e->sitemap >= 0 && e->sitemap <= 127 && e->error >= 0 && e->error <= 255,
               "a join's small fields out of range");
    FUZZ_CHECK(e->url_len == 0 || !memchr(e->url, '\0', e->url_len), "a NUL in a URL");
    break;
  case JOURNAL_DONE:
    FUZZ_CHECK((e->fp.lo | e->fp.hi) != 0 && e->fp.hi >> 63 == 0, "a bad fingerprint");
    FUZZ_CHECK(e->line_len == 0 ||
                   (e->line[e->line_len - 1] == '\n' && !memchr(e->line, '\n', e->line_len - 1)),
               "a record that is not one line");
    break;
  case JOURNAL_COMMIT:
    break;
  default:
    FUZZ_CHECK(0, "entry type %d", e->type);
  }
}

/* Each accepted entry is well formed, and writing them again gives back
 * the accepted bytes. */
static void check_reencoding(const unsigned char *data, size_t end) {
  struct buf again = BUF_INIT;
  size_t pos = 0, used;
  struct jentry e;
  while (pos < end) {
    FUZZ_CHECK(journal_next(data + pos, end - pos, &e, &used) == JOURNAL_OK, "not whole again");
    check_entry(&e);
    FUZZ_CHECK(journal_put(&again, &e) == 0, "an accepted entry cannot be written");
    pos += used;
  }
  FUZZ_CHECK(!buf_failed(&again), "out of memory");
  FUZZ_CHECK(again.len == end && (end == 0 || memcmp(again.data, data, end) == 0),
             "%zu bytes read, %zu written back differ", end, again.len);
  buf_free(&again);
}

/* Read through a buffer of at most 64 bytes more than a frame needs,
 * refilled in pieces: the same entries, the same end. */
static void check_pieces(const unsigned char *data, size_t n, size_t count, size_t end,
                         uint64_t seed) {
  unsigned char *buf = malloc(n ? n : 1);
  size_t have = 0, pos = 0, fed = 0, got = 0, consumed = 0, used;
  struct jentry e;
  FUZZ_CHECK(buf != NULL, "out of memory");
  for (;;) {
    int r = journal_next(buf + pos, have - pos, &e, &used);
    if (r == JOURNAL_OK) {
      pos += used;
      got++;
      continue;
    }
    if (r == JOURNAL_BAD || fed == n)
      break;
    memmove(buf, buf + pos, have - pos); /* keep the partial frame, as state.c does */
    consumed += pos;
    have -= pos;
    pos = 0;
    {
      size_t piece = fuzz_piece(&seed, n - fed);
      memcpy(buf + have, data + fed, piece);
      have += piece;
      fed += piece;
    }
  }
  FUZZ_CHECK(got == count && consumed + pos == end,
             "in pieces: %zu entries ending at %zu, "
             "whole: %zu ending at %zu",
             got, consumed + pos, count, end);
  free(buf);
}

/* The length field of the frame at p (4 bytes there). */
static size_t length_at(const unsigned char *p) {
  return (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size) {
  unsigned char *data;
  size_t n, count, end, *ends;
  uint64_t seed;
  int stop;
  if (size == 0)
    return 0;
  n = size - 1;
  data = (unsigned char *)fuzz_copy(input + 1, n);
  ends = malloc((n / (JOURNAL_FRAME + 1) + 1) * sizeof *ends); /* a frame is 9 bytes at least */
  FUZZ_CHECK(ends != NULL, "out of memory");
  if (input[0] & 1)
    fix_crcs(data, n);
  seed = fuzz_hash(input, size, FUZZ_HASH_INIT);

  count = read_all(data, n, ends, n / (JOURNAL_FRAME + 1) + 1, &stop);
  end = count ? ends[count - 1] : 0;
  FUZZ_CHECK(stop == JOURNAL_BAD || n - end < JOURNAL_FRAME ||
                 n - end - JOURNAL_FRAME < length_at(data + end),
             "stopped as short at %zu with a whole frame after it", end);
  check_reencoding(data, end);

  /* cut anywhere: the entries wholly before the cut */
  for (int i = 0; i < 8; i++) {
    size_t cut = (size_t)(fuzz_rand(&seed) % (n + 1)), want = 0;
    while (want < count && ends[want] <= cut)
      want++;
    FUZZ_CHECK(read_all(data, cut, NULL, 0, &stop) == want,
               "cut at %zu: not the %zu entries "
               "before it",
               cut, want);
  }
  check_pieces(data, n, count, end, seed);
  free(ends);
  free(data);
  return 0;
}
