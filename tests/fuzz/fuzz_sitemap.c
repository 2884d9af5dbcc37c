/*
 * fuzz_sitemap.c - libFuzzer harness for fetch's sitemaps
 * (examples/fetch/sitemap.c, over libxml2's reader and decode.c's gzip).
 *
 * Input: a sitemap body as a server would send it (XML, or gzip when it
 * starts with 1f 8b).
 *
 * Asserted:
 *  - sitemap_parse returns 0 or one of sitemap.h's errors, and sets
 *    sm->error exactly when it fails; the out-of-memory error never comes
 *    (the fuzzer's malloc limit is far above what a small input needs);
 *  - what it keeps is what sitemap.h says: a urlset keeps only page URLs,
 *    an index only sitemap URLs; each is an absolute http(s) URL in
 *    url_normalize's normal form (normalising it again changes nothing),
 *    at most URL_MAX bytes, and none twice; no more are kept than
 *    entries were read, kept and skipped together not more either, and
 *    entries stop at SITEMAP_MAX_ENTRIES + 1;
 *  - parsing is deterministic: the same input again gives the same result;
 *  - gzip is transparent: the input gzip-compressed gives the same result
 *    as the input itself (unless the input is gzip already, or over the
 *    size limit);
 *  - the bomb rule: sitemap_gunzip never returns more than max_out bytes,
 *    and fails with SITEMAP_ETOOBIG when the data holds more.
 */
#include "sitemap.h"
#include "url.h"

#include "fuzz.h"

#include <string.h>
#include <zlib.h>

/* A sitemap's outcome, to compare two parses by. */
struct outcome {
  int rc, index;
  size_t nurls, nsitemaps, entries, skipped;
  uint64_t digest; /* of every URL kept, in order */
};

static void check_urls(char *const *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char *again;
    FUZZ_CHECK(url_is_scheme(v[i], "http") || url_is_scheme(v[i], "https"), "'%s' kept", v[i]);
    FUZZ_CHECK(strlen(v[i]) <= URL_MAX, "a URL of %zu bytes kept", strlen(v[i]));
    FUZZ_CHECK(url_normalize(v[i], &again) == 0, "'%s' kept, url_normalize rejects it", v[i]);
    FUZZ_CHECK(strcmp(again, v[i]) == 0, "'%s' kept, its normal form is '%s'", v[i], again);
    free(again);
    for (size_t j = 0; j < i && n <= 256; j++)
      FUZZ_CHECK(strcmp(v[i], v[j]) != 0, "'%s' kept twice", v[i]);
  }
}

static struct outcome parse(const char *data, size_t len) {
  struct sitemap sm;
  struct outcome o;
  o.rc = sitemap_parse(data, len, &sm);
  FUZZ_CHECK(o.rc <= 0 && o.rc >= SITEMAP_ENOMEM, "sitemap_parse returned %d", o.rc);
  FUZZ_CHECK(o.rc != SITEMAP_ENOMEM, "out of memory on %zu bytes", len);
  FUZZ_CHECK((o.rc != 0) == (sm.error[0] != '\0'), "rc %d with error '%s'", o.rc, sm.error);
  FUZZ_CHECK(sm.index ? sm.nurls == 0 : sm.nsitemaps == 0, "an %s kept %zu URLs, %zu sitemaps",
             sm.index ? "index" : "urlset", sm.nurls, sm.nsitemaps);
  FUZZ_CHECK(sm.nurls + sm.nsitemaps + sm.skipped <= sm.entries, "%zu + %zu + %zu > %zu entries",
             sm.nurls, sm.nsitemaps, sm.skipped, sm.entries);
  FUZZ_CHECK(sm.entries <= SITEMAP_MAX_ENTRIES + 1, "%zu entries read", sm.entries);
  check_urls(sm.urls, sm.nurls);
  check_urls(sm.sitemaps, sm.nsitemaps);
  o.index = sm.index;
  o.nurls = sm.nurls;
  o.nsitemaps = sm.nsitemaps;
  o.entries = sm.entries;
  o.skipped = sm.skipped;
  o.digest = FUZZ_HASH_INIT;
  for (size_t i = 0; i < sm.nurls; i++)
    o.digest = fuzz_hash(sm.urls[i], strlen(sm.urls[i]) + 1, o.digest);
  for (size_t i = 0; i < sm.nsitemaps; i++)
    o.digest = fuzz_hash(sm.sitemaps[i], strlen(sm.sitemaps[i]) + 1, o.digest);
  sitemap_free(&sm);
  return o;
}

static int same(const struct outcome *a, const struct outcome *b) {
  return a->rc == b->rc && a->index == b->index && a->nurls == b->nurls &&
         a->nsitemaps == b->nsitemaps && a->entries == b->entries && a->skipped == b->skipped &&
         a->digest == b->digest;
}

/* The n bytes at data as one gzip member (malloc'd, *out_len bytes). */
static char *gzip(const uint8_t *data, size_t n, size_t *out_len) {
  z_stream z;
  size_t cap = n + n / 100 + 64;
  char *out = malloc(cap);
  FUZZ_CHECK(out != NULL, "out of memory");
  memset(&z, 0, sizeof z);
  FUZZ_CHECK(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK,
             "deflateInit2 failed");
  z.next_in = (Bytef *)data;
  z.avail_in = (uInt)n;
  z.next_out = (Bytef *)out;
  z.avail_out = (uInt)cap;
  FUZZ_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END, "deflate did not finish");
  *out_len = z.total_out;
  deflateEnd(&z);
  return out;
}

/* The bomb rule with a small limit. */
static void check_gunzip(const char *data, size_t len) {
  size_t max_out = len % 512, out_len;
  char *out;
  int rc = sitemap_gunzip(data, len, max_out, &out, &out_len);
  if (rc == 0) {
    FUZZ_CHECK(out != NULL && out_len <= max_out && out[out_len] == '\0',
               "%zu bytes out, max_out %zu", out_len, max_out);
    free(out);
  } else {
    FUZZ_CHECK(out == NULL && (rc == SITEMAP_ETOOBIG || rc == SITEMAP_EGZIP),
               "sitemap_gunzip returned %d", rc);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy = fuzz_copy(data, size), *gz;
  struct outcome first = parse(copy, size), again = parse(copy, size), zipped;
  size_t gz_len;
  FUZZ_CHECK(same(&first, &again), "two parses of the same input differ");
  if (!sitemap_is_gzip(copy, size) && size <= SITEMAP_MAX_BYTES) {
    gz = gzip(data, size, &gz_len);
    zipped = parse(gz, gz_len);
    FUZZ_CHECK(same(&first, &zipped), "gzip changed the result: rc %d -> %d, %zu -> %zu URLs",
               first.rc, zipped.rc, first.nurls, zipped.nurls);
    free(gz);
  }
  if (sitemap_is_gzip(copy, size))
    check_gunzip(copy, size);
  free(copy);
  return 0;
}
