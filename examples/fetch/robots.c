/*
 * robots.c - robots.txt rules (see robots.h).
 *
 * Grouping follows RFC 9309 section 2.1: a group is one or more
 * User-agent lines followed by its rules; a User-agent line after a rule
 * starts the next group. Rules before the first User-agent line belong to
 * no group. A Crawl-delay line belongs to its group like a rule (the
 * first one of the groups that count wins); Sitemap lines belong to the
 * whole file, wherever they stand. Lines fetch does not know (typos,
 * Host, Clean-param) are ignored. A group may name fetch's token and "*"
 * at once; its rules then count for both. If any group names fetch's
 * token, only those groups count, even when they have no rules (an empty
 * group allows everything).
 *
 * Patterns are compared with request targets that url_normalize produced,
 * so they are brought to the same form first: percent-encodings of
 * unreserved characters decoded, the others in upper case, the bytes a
 * URI cannot hold percent-encoded, a missing leading "/" added. This is
 * done here rather than by uriparser's normalisation, which url.c uses: a
 * pattern is not a URI ('*' and '$' are wildcards, and '#' or "/../" in
 * one must stay as written, not start a fragment or lose a segment).
 */
#include "robots.h"

#include "../common/util.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct rule {
  char *pattern; /* normalised; a final '$' anchors it at the end */
  size_t len;    /* its priority: the longer pattern wins */
  int allow;
};

struct rules {
  struct rule *v;
  size_t len, cap;
};

struct robots {
  struct rules rules;
  long delay_ms;   /* Crawl-delay of the groups that count, or -1 */
  char **sitemaps; /* the Sitemap: values, as written */
  size_t nsitemaps;
};

#define DELAY_MAX_MS 86400000L /* a longer Crawl-delay is read as a day */

static void rules_free(struct rules *rs) {
  for (size_t i = 0; i < rs->len; i++)
    free(rs->v[i].pattern);
  free(rs->v);
  memset(rs, 0, sizeof *rs);
}

static int unreserved(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

static int uri_char(int c) {
  return unreserved(c) || (c && strchr(":/?#[]@!$&'()*+,;=", c));
}

/* The pattern of the len bytes at s in the form of a normalised target. */
static char *normalize_pattern(const char *s, size_t len) {
  struct buf b = BUF_INIT;
  if (len == 0 || (s[0] != '/' && s[0] != '*'))
    buf_putc(&b, '/');
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    int hi, lo;
    if (c == '%' && i + 2 < len && (hi = util_hex_value(s[i + 1])) >= 0 &&
        (lo = util_hex_value(s[i + 2])) >= 0) {
      int v = hi * 16 + lo;
      if (unreserved(v))
        buf_putc(&b, (char)v);
      else
        buf_printf(&b, "%%%02X", v);
      i += 2;
    } else if (uri_char(c) || c == '%') {
      buf_putc(&b, (char)c);
    } else {
      buf_printf(&b, "%%%02X", c);
    }
  }
  return buf_take(&b);
}

static int add_rule(struct rules *rs, const char *value, size_t len, int allow) {
  struct rule r = {normalize_pattern(value, len), 0, allow};
  if (!r.pattern)
    return -1;
  if (rs->len == rs->cap) {
    size_t cap = rs->cap ? rs->cap * 2 : 8;
    struct rule *v = realloc(rs->v, cap * sizeof *v);
    if (!v) {
      free(r.pattern);
      return -1;
    }
    rs->v = v;
    rs->cap = cap;
  }
  r.len = strlen(r.pattern);
  rs->v[rs->len++] = r;
  return 0;
}

/* What one line of the file says. */
struct line {
  const char *key, *value;
  size_t key_len, value_len;
};

static int is_space(char c) {
  return c == ' ' || c == '\t';
}

/* Split the line [s, e) into key and value, without comment and blanks.
 * Returns 0 when it has no colon. */
static int split_line(const char *s, const char *e, struct line *l) {
  const char *hash = memchr(s, '#', (size_t)(e - s)), *colon;
  if (hash)
    e = hash;
  if (!(colon = memchr(s, ':', (size_t)(e - s))))
    return 0;
  l->key = s;
  l->value = colon + 1;
  while (l->key < colon && is_space(*l->key))
    l->key++;
  while (colon > l->key && is_space(colon[-1]))
    colon--;
  while (l->value < e && is_space(*l->value))
    l->value++;
  while (e > l->value && is_space(e[-1]))
    e--;
  l->key_len = (size_t)(colon - l->key);
  l->value_len = (size_t)(e - l->value);
  return 1;
}

static int key_is(const struct line *l, const char *key) {
  return l->key_len == strlen(key) && strncasecmp(l->key, key, l->key_len) == 0;
}

static int token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

/* Whether a User-agent value names the product token agent: its leading
 * letters, '-' and '_' (not a version after them) equal agent, any case. */
static int names_agent(const struct line *l, const char *agent) {
  size_t n = 0;
  while (n < l->value_len && token_char(l->value[n]))
    n++;
  return n > 0 && n == strlen(agent) && strncasecmp(l->value, agent, n) == 0;
}

/* The parse state: the group being read and the rules gathered so far. */
struct parser {
  const char *agent;
  int in_agents;  /* the last record was a User-agent line */
  int group_mine; /* the current group names fetch's token */
  int group_star; /* the current group names "*" */
  int mine_seen;  /* some group named fetch's token */
  struct rules mine, star;
  long mine_delay, star_delay; /* the first Crawl-delay of each kind of group, or -1 */
  struct robots *out;          /* gathers the Sitemap lines */
};

/*
 * The Crawl-delay value v (n bytes): seconds, a whole or decimal number
 * ("10", "0.5"), in milliseconds; -1 when it is not such a number.
 */
static long parse_delay(const char *v, size_t n) {
  long ms = 0, scale = 1000;
  size_t i = 0;
  int digits = 0;
  for (; i < n && v[i] >= '0' && v[i] <= '9'; i++, digits++)
    if (ms <= DELAY_MAX_MS)
      ms = ms * 10 + (v[i] - '0') * 1000;
  if (i < n && v[i] == '.')
    for (i++; i < n && v[i] >= '0' && v[i] <= '9'; i++, digits++)
      if ((scale /= 10) > 0)
        ms += (v[i] - '0') * scale;
  if (!digits || i != n)
    return -1;
  return ms > DELAY_MAX_MS ? DELAY_MAX_MS : ms;
}

static int add_sitemap(struct robots *r, const char *v, size_t n) {
  char **grown, *url;
  if (n == 0 || r->nsitemaps >= 1000) /* more is abuse: the first thousand are read */
    return 0;
  if (!(grown = realloc(r->sitemaps, (r->nsitemaps + 1) * sizeof *grown)))
    return -1;
  r->sitemaps = grown;
  if (!(url = strndup(v, n)))
    return -1;
  r->sitemaps[r->nsitemaps++] = url;
  return 0;
}

static int parse_line(struct parser *p, const struct line *l) {
  int allow = key_is(l, "allow");
  if (key_is(l, "user-agent")) {
    if (!p->in_agents)
      p->group_mine = p->group_star = 0;
    p->in_agents = 1;
    if (names_agent(l, p->agent))
      p->group_mine = p->mine_seen = 1;
    else if (l->value_len > 0 && l->value[0] == '*')
      p->group_star = 1;
    return 0;
  }
  if (key_is(l, "sitemap"))
    return add_sitemap(p->out, l->value, l->value_len);
  if (key_is(l, "crawl-delay")) {
    long ms = parse_delay(l->value, l->value_len);
    p->in_agents = 0;
    if (p->group_mine && p->mine_delay < 0)
      p->mine_delay = ms;
    if (p->group_star && p->star_delay < 0)
      p->star_delay = ms;
    return 0;
  }
  if (!allow && !key_is(l, "disallow"))
    return 0;
  p->in_agents = 0;
  if (l->value_len == 0) /* "Disallow:" alone allows everything */
    return 0;
  if (p->group_mine && add_rule(&p->mine, l->value, l->value_len, allow) != 0)
    return -1;
  if (p->group_star && add_rule(&p->star, l->value, l->value_len, allow) != 0)
    return -1;
  return 0;
}

struct robots *robots_parse(const char *text, size_t len, const char *agent) {
  struct parser p = {.agent = agent, .mine_delay = -1, .star_delay = -1};
  const char *s = text, *end = text + len;
  struct robots *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  p.out = r;
  if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) /* a UTF-8 byte order mark */
    s += 3;
  while (s < end) {
    const char *e = s;
    struct line l;
    while (e < end && *e != '\n' && *e != '\r')
      e++;
    if (split_line(s, e, &l) && parse_line(&p, &l) != 0)
      goto out_nomem;
    s = e + 1;
  }
  r->rules = p.mine_seen ? p.mine : p.star;
  r->delay_ms = p.mine_seen ? p.mine_delay : p.star_delay;
  rules_free(p.mine_seen ? &p.star : &p.mine);
  return r;
out_nomem:
  rules_free(&p.mine);
  rules_free(&p.star);
  robots_free(r);
  return NULL;
}

/*
 * Whether the pattern p (m bytes) matches a prefix of t, or all of t when
 * it ends in '$'. Greedy with a single backtrack point, the last '*': the
 * classic wildcard algorithm, O(m * n) at worst and no recursion.
 */
static int match(const char *p, size_t m, const char *t) {
  int anchored = m > 0 && p[m - 1] == '$';
  size_t i = 0, star = (size_t)-1, resume = 0;
  const char *s = t;
  if (anchored)
    m--;
  while (*s) {
    if (i < m && p[i] == '*') {
      star = i++;
      resume = (size_t)(s - t);
    } else if (i < m && p[i] == *s) {
      i++;
      s++;
    } else if (i == m && !anchored) {
      return 1;
    } else if (star != (size_t)-1) {
      i = star + 1;
      s = t + ++resume;
    } else {
      return 0;
    }
  }
  while (i < m && p[i] == '*')
    i++;
  return i == m;
}

int robots_allowed(const struct robots *r, const char *target) {
  size_t best = 0;
  int found = 0, allow = 1;
  if (!r || strcmp(target, "/robots.txt") == 0)
    return 1;
  for (size_t i = 0; i < r->rules.len; i++) {
    const struct rule *ru = &r->rules.v[i];
    if (!match(ru->pattern, ru->len, target))
      continue;
    if (!found || ru->len > best || (ru->len == best && ru->allow)) {
      best = ru->len;
      allow = ru->allow;
      found = 1;
    }
  }
  return allow;
}

size_t robots_rules(const struct robots *r) {
  return r ? r->rules.len : 0;
}

long robots_crawl_delay_ms(const struct robots *r) {
  return r ? r->delay_ms : -1;
}

size_t robots_sitemaps(const struct robots *r, const char *const **urls) {
  *urls = r ? (const char *const *)r->sitemaps : NULL;
  return r ? r->nsitemaps : 0;
}

void robots_free(struct robots *r) {
  if (!r)
    return;
  rules_free(&r->rules);
  for (size_t i = 0; i < r->nsitemaps; i++)
    free(r->sitemaps[i]);
  free(r->sitemaps);
  free(r);
}
