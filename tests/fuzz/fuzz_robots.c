/*
 * fuzz_robots.c - libFuzzer harness for fetch's robots.txt rules
 * (examples/fetch/robots.c).
 *
 * Input: a robots.txt. Its first three lines are also read a second way,
 * as two patterns and a request target (each byte mapped to one of six:
 * 'a', 'b', '/', '*', '$', '.'; see rule_text), the low two bits of the
 * first byte choosing Allow or Disallow for each pattern.
 *
 * Asserted, for the file as it is:
 *  - it parses (no input makes robots_parse fail but a lack of memory);
 *  - /robots.txt is always allowed, and so is everything with no rules;
 *  - line ends do not matter: the file with every LF made CRLF, and with
 *    every CR made LF, gives the same rule count and the same answer for
 *    each target tried (the lines' values and a few fixed ones).
 * And for the two-rule file "User-agent: *" + the patterns: robots_allowed
 * agrees with a reference written from robots.h's words (the longest
 * matching pattern decides, '*' any run of bytes, a final '$' the end,
 * Allow winning a tie, no match allowed), which matches by dynamic
 * programming instead of robots.c's backtracking.
 */
#include "robots.h"

#include "fuzz.h"

#include <stdbool.h>
#include <string.h>

#define AGENT "weft-fetch"

/* How many targets each file is asked about. */
#define NTARGETS 16

static const char *const fixed_targets[] = {"/", "/robots.txt", "/a", "/a/b?c=d", "/%41", "/*$"};

/* The targets for a file: the fixed ones, then "/" plus the value of
 * each of its first lines (after the ':'), cut at 64 bytes. */
static size_t pick_targets(const char *text, size_t len, char t[][72]) {
  size_t k = 0, nfixed = sizeof fixed_targets / sizeof fixed_targets[0];
  const char *s = text, *end = text + len;
  for (; k < nfixed; k++)
    snprintf(t[k], sizeof t[k], "%s", fixed_targets[k]);
  while (s < end && k < NTARGETS) {
    const char *e = memchr(s, '\n', (size_t)(end - s)), *colon;
    size_t n;
    if (!e)
      e = end;
    if ((colon = memchr(s, ':', (size_t)(e - s)))) {
      n = (size_t)(e - colon - 1) < 64 ? (size_t)(e - colon - 1) : 64;
      t[k][0] = '/';
      memcpy(t[k] + 1, colon + 1, n);
      t[k][n + 1] = '\0';
      for (size_t i = 1; i <= n; i++)
        if ((unsigned char)t[k][i] <= ' ' || t[k][i] == '#' || t[k][i] == 0x7f)
          t[k][i] = '_'; /* a target is a normalised URL's: no blanks, no fragment */
      k++;
    }
    s = e + 1;
  }
  return k;
}

/* text with each byte `from` replaced by `to` (to may be two bytes). */
static char *replace(const char *text, size_t len, char from, const char *to, size_t *out_len) {
  size_t tl = strlen(to), n = 0;
  char *out = malloc(len * 2 + 1);
  FUZZ_CHECK(out != NULL, "out of memory");
  for (size_t i = 0; i < len; i++) {
    if (text[i] == from) {
      memcpy(out + n, to, tl);
      n += tl;
    } else {
      out[n++] = text[i];
    }
  }
  *out_len = n;
  return out;
}

/* The file, and its line-end variants, decide alike. */
static void check_file(const char *text, size_t len) {
  char targets[NTARGETS][72], *crlf, *lf;
  size_t nt = pick_targets(text, len, targets), crlf_len, lf_len;
  struct robots *r = robots_parse(text, len, AGENT), *r_crlf, *r_lf;

  FUZZ_CHECK(r != NULL, "robots_parse failed");
  crlf = replace(text, len, '\n', "\r\n", &crlf_len);
  lf = replace(text, len, '\r', "\n", &lf_len);
  r_crlf = robots_parse(crlf, crlf_len, AGENT);
  r_lf = robots_parse(lf, lf_len, AGENT);
  FUZZ_CHECK(r_crlf && r_lf, "robots_parse failed");
  FUZZ_CHECK(robots_rules(r) == robots_rules(r_crlf) && robots_rules(r) == robots_rules(r_lf),
             "%zu rules, %zu with CRLF, %zu with LF", robots_rules(r), robots_rules(r_crlf),
             robots_rules(r_lf));
  for (size_t i = 0; i < nt; i++) {
    int allowed = robots_allowed(r, targets[i]);
    FUZZ_CHECK(allowed == robots_allowed(r_crlf, targets[i]) &&
                   allowed == robots_allowed(r_lf, targets[i]),
               "'%s': the line ends changed the answer", targets[i]);
    FUZZ_CHECK(allowed || (robots_rules(r) > 0 && strcmp(targets[i], "/robots.txt") != 0),
               "'%s' disallowed", targets[i]);
  }
  robots_free(r);
  robots_free(r_crlf);
  robots_free(r_lf);
  free(crlf);
  free(lf);
}

/* ---- the reference ---- */

/* Whether the glob p (m bytes, '*' any run) matches all of t (n bytes). */
static bool glob_all(const char *p, size_t m, const char *t, size_t n) {
  bool *row = calloc(n + 1, sizeof *row), *next = calloc(n + 1, sizeof *next), *tmp, ok;
  FUZZ_CHECK(row && next, "out of memory");
  row[0] = true; /* the empty pattern matches the empty text */
  for (size_t i = 0; i < m; i++) {
    next[0] = row[0] && p[i] == '*';
    for (size_t j = 1; j <= n; j++)
      next[j] = p[i] == '*' ? (row[j] || next[j - 1]) : (row[j - 1] && p[i] == t[j - 1]);
    tmp = row;
    row = next;
    next = tmp;
  }
  ok = row[n];
  free(row);
  free(next);
  return ok;
}

/* Whether the normalised pattern p matches the target t, as robots.h says. */
static bool reference_match(const char *p, const char *t) {
  size_t m = strlen(p), n = strlen(t);
  if (m > 0 && p[m - 1] == '$')
    return glob_all(p, m - 1, t, n);
  for (size_t k = 0; k <= n; k++) /* a prefix of t */
    if (glob_all(p, m, t, k))
      return true;
  return false;
}

/* Line i (0-based) of text, each byte mapped to one of 'a', 'b', '/',
 * '*', '$' and '.', into out (at most 32 bytes). */
static void rule_text(const char *text, size_t len, int line, char *out) {
  static const char alphabet[] = "ab/*$.";
  const char *s = text, *end = text + len;
  size_t n = 0;
  for (int i = 0; i < line && s < end; i++) {
    const char *e = memchr(s, '\n', (size_t)(end - s));
    s = e ? e + 1 : end;
  }
  for (; s < end && *s != '\n' && n < 32; s++)
    out[n++] = alphabet[(unsigned char)*s % 6];
  out[n] = '\0';
}

/* A pattern as robots.c stores it: "/" in front unless it starts with
 * '/' or '*'. */
static void normalise_pattern(const char *p, char *out) {
  snprintf(out, 40, "%s%s", p[0] == '/' || p[0] == '*' ? "" : "/", p);
}

static void check_reference(const char *text, size_t len) {
  char p[2][40], np[2][40], target[40], file[256];
  int allow[2] = {len > 0 && (text[0] & 1), len > 0 && (text[0] & 2)};
  int want = 1, found = 0;
  size_t best = 0;
  struct robots *r;

  rule_text(text, len, 0, p[0]);
  rule_text(text, len, 1, p[1]);
  target[0] = '/';
  rule_text(text, len, 2, target + 1);
  snprintf(file, sizeof file, "User-agent: *\n%s: %s\n%s: %s\n", allow[0] ? "Allow" : "Disallow",
           p[0], allow[1] ? "Allow" : "Disallow", p[1]);
  for (int i = 0; i < 2; i++) {
    size_t l;
    if (!p[i][0])
      continue; /* an empty rule is no rule */
    normalise_pattern(p[i], np[i]);
    l = strlen(np[i]);
    if (!reference_match(np[i], target))
      continue;
    if (!found || l > best || (l == best && allow[i])) {
      best = l;
      want = allow[i];
      found = 1;
    }
  }
  r = robots_parse(file, strlen(file), AGENT);
  FUZZ_CHECK(r != NULL, "robots_parse failed");
  FUZZ_CHECK(robots_allowed(r, target) == want, "%s'%s' is %s, the reference says %s", file, target,
             want ? "disallowed" : "allowed", want ? "allowed" : "disallowed");
  robots_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_file((const char *)data, size);
  check_reference((const char *)data, size);
  return 0;
}
