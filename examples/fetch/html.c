/*
 * html.c - the streaming link tokenizer (see html.h).
 *
 * This is the tokenization stage of the WHATWG HTML standard ("13.2.5
 * Tokenization"), cut down to what decides which links a page holds. Each
 * state below is the standard's state of the same name; where two of the
 * standard's states differ only in the parse errors they report or in
 * text fetch does not keep, they are one state here:
 *
 *  - RCDATA and RAWTEXT are one text state: character references in text
 *    are never kept, so the two read the same.
 *  - DOCTYPE is read as a bogus comment: in every DOCTYPE state, even
 *    inside a quoted identifier, '>' ends the DOCTYPE.
 *  - The comment less-than-sign states only report nested comments;
 *    where a comment ends is the same without them.
 *  - <![CDATA[ is a bogus comment: it is a CDATA section only in foreign
 *    content (SVG, MathML), which needs the tree construction stage.
 *
 * The tree construction stage is not run. The standard has it switch the
 * tokenizer into RCDATA for title and textarea, RAWTEXT for style, xmp,
 * iframe, noembed and noframes, script data for script and PLAINTEXT for
 * plaintext; this tokenizer switches after each such start tag itself.
 * So tree rules never hide a link: an <a href> in a <select> or a <frame>
 * in a body is reported.
 *
 * The input stream's preprocessing is done where it shows: a CR or CRLF
 * in a kept attribute value becomes LF, and a NUL in a name or value
 * becomes U+FFFD. Elsewhere CR is whitespace like LF, and NUL is a byte
 * like any other, which tokenizes the same.
 *
 * Streaming. Each state consumes what it can of the bytes it is given and
 * the state carries over to the next feed, so the page may be split
 * anywhere. What must be remembered across a split is small and bounded:
 * the first 16 bytes of a tag or attribute name, a character reference of
 * at most HTML_REF_MAX bytes, and the values of a link tag's href and src,
 * each at most HTML_VALUE_MAX bytes. Values of other attributes, text,
 * comments and scripts are skipped without being kept, with memchr where
 * a state waits for one byte.
 */
#include "html.h"

#include <stdlib.h>
#include <string.h>

#include "entities.h"

/* Tokenizer states, named as in the standard. */
enum {
  S_DATA,
  S_TAG_OPEN,
  S_END_TAG_OPEN,
  S_TAG_NAME,
  S_BEFORE_ATTR_NAME,
  S_ATTR_NAME,
  S_AFTER_ATTR_NAME,
  S_BEFORE_ATTR_VALUE,
  S_VALUE_DQ, /* attribute value (double-quoted) */
  S_VALUE_SQ, /* attribute value (single-quoted) */
  S_VALUE_UQ, /* attribute value (unquoted) */
  S_AFTER_VALUE_Q,
  S_SELF_CLOSING,
  S_MARKUP_DECL,      /* after "<!" */
  S_MARKUP_DASH,      /* after "<!-" */
  S_BOGUS_COMMENT,    /* also DOCTYPE and <![CDATA[ */
  S_COMMENT_START,
  S_COMMENT_START_DASH,
  S_COMMENT,
  S_COMMENT_END_DASH,
  S_COMMENT_END,
  S_COMMENT_END_BANG,
  S_RAWTEXT, /* RAWTEXT and RCDATA */
  S_RAW_LT,
  S_RAW_END_OPEN, /* end tag open of RAWTEXT, script data or escaped script data */
  S_RAW_END_NAME, /* their end tag name; a mismatch returns to text_state */
  S_SCRIPT,       /* script data */
  S_SCRIPT_LT,
  S_ESC_START,
  S_ESC_START_DASH,
  S_ESC,
  S_ESC_DASH,
  S_ESC_DASH_DASH,
  S_ESC_LT,
  S_DESC_START, /* script data double escape start */
  S_DESC,
  S_DESC_DASH,
  S_DESC_DASH_DASH,
  S_DESC_LT,
  S_DESC_END,
  S_PLAINTEXT,
  S_CHARREF, /* character reference, in an attribute value */
  S_NAMED_REF,
  S_NUMERIC_REF,
  S_HEX_START,
  S_HEX,
  S_DEC,
};

/* Elements the tokenizer tells apart: enum html_elem first, then those
 * whose start tag switches it into a text state. */
enum {
  E_TITLE = HTML_BASE + 1,
  E_TEXTAREA,
  E_STYLE,
  E_XMP,
  E_NOEMBED,
  E_NOFRAMES,
  E_SCRIPT,
  E_PLAINTEXT,
  E_OTHER,
};

static const struct {
  char name[10];
  unsigned char len;
} elems[E_OTHER] = {
    {"a", 1},     {"link", 4},     {"area", 4}, {"frame", 5},   {"iframe", 6},
    {"base", 4},  {"title", 5},    {"textarea", 8}, {"style", 5},   {"xmp", 3},
    {"noembed", 7}, {"noframes", 8}, {"script", 6},  {"plaintext", 9},
};

/* States of a link attribute's value in the current tag. */
enum { V_ABSENT, V_PRESENT, V_DROPPED };

#define ATTR_NONE (-1)

const char *html_elem_name(enum html_elem el) { return elems[el].name; }

const char *html_attr_name(enum html_attr at) { return at == HTML_HREF ? "href" : "src"; }

/* Bytes that end a run of plain bytes in a name (C_NAME_END) or in a
 * kept value (C_VALUE_END), for the loops that skip such runs. */
enum { C_NAME_END = 1, C_VALUE_END = 2 };

static const unsigned char byte_class[256] = {
    [0] = C_NAME_END | C_VALUE_END,
    ['\t'] = C_NAME_END | C_VALUE_END,
    ['\n'] = C_NAME_END | C_VALUE_END,
    ['\f'] = C_NAME_END | C_VALUE_END,
    ['\r'] = C_NAME_END | C_VALUE_END,
    [' '] = C_NAME_END | C_VALUE_END,
    ['/'] = C_NAME_END,
    ['>'] = C_NAME_END | C_VALUE_END,
    ['='] = C_NAME_END,
    ['"'] = C_VALUE_END,
    ['\''] = C_VALUE_END,
    ['&'] = C_VALUE_END,
};

/* The length of the run of bytes at p before end that class c does not end. */
static size_t run(const unsigned char *p, const unsigned char *end, int c) {
  const unsigned char *q = p;
  while (q < end && !(byte_class[*q] & c))
    q++;
  return (size_t)(q - p);
}

static int is_space(int c) { return c == ' ' || c == '\n' || c == '\t' || c == '\f' || c == '\r'; }

static int is_alpha(int c) { return (unsigned)((c | 0x20) - 'a') < 26; }

static int is_digit(int c) { return (unsigned)(c - '0') < 10; }

static int is_hex(int c) { return is_digit(c) || (unsigned)((c | 0x20) - 'a') < 6; }

static int is_alnum(int c) { return is_alpha(c) || is_digit(c); }

static int lower(int c) { return (unsigned)(c - 'A') < 26 ? c + 32 : c; }

/* Whether the name read so far is s, of n bytes. */
static int name_is(const struct html_tok *t, const char *s, size_t n) {
  return t->name_len == n && memcmp(t->name, s, n) == 0;
}

#define NAME_IS(t, lit) name_is(t, lit, sizeof lit - 1)

/* Append c (lower-cased) to the name being read; NUL becomes U+FFFD. */
static void name_put(struct html_tok *t, int c) {
  static const char fffd[3] = {(char)0xEF, (char)0xBF, (char)0xBD};
  const char *s = c == 0 ? fffd : NULL;
  for (size_t i = 0, n = s ? 3 : 1; i < n; i++, t->name_len++)
    if (t->name_len < sizeof t->name)
      t->name[t->name_len] = s ? s[i] : (char)lower(c);
}

/* Append the bytes p[0..n) of a name, none of them NUL or an upper-case
 * letter of note: only the first bytes are kept, the length counts all. */
static void name_put_run(struct html_tok *t, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n && t->name_len + i < sizeof t->name; i++)
    t->name[t->name_len + i] = (char)lower(p[i]);
  t->name_len += n;
}

/* ---- link attribute values ---- */

/* Append n bytes to the value being read. Returns 0 or -1 (no memory). */
static int value_put(struct html_tok *t, const char *s, size_t n) {
  struct html_value *v = &t->value[t->attr];
  if (v->state != V_PRESENT)
    return 0;
  if (n > HTML_VALUE_MAX - v->len) {
    v->state = V_DROPPED; /* too long to be a link fetch follows */
    return 0;
  }
  if (v->len + n + 1 > v->cap) {
    size_t cap = v->cap ? v->cap : 256;
    char *d;
    while (cap < v->len + n + 1)
      cap *= 2;
    if (cap > HTML_VALUE_MAX + 1)
      cap = HTML_VALUE_MAX + 1;
    if (!(d = realloc(v->data, cap)))
      return -1;
    v->data = d;
    v->cap = cap;
  }
  memcpy(v->data + v->len, s, n);
  v->len += n;
  return 0;
}

/* Append the code point c as UTF-8. */
static int value_put_code(struct html_tok *t, unsigned long c) {
  char u[4];
  size_t n;
  if (c < 0x80) {
    u[0] = (char)c;
    n = 1;
  } else if (c < 0x800) {
    u[0] = (char)(0xC0 | c >> 6);
    u[1] = (char)(0x80 | (c & 0x3F));
    n = 2;
  } else if (c < 0x10000) {
    u[0] = (char)(0xE0 | c >> 12);
    u[1] = (char)(0x80 | (c >> 6 & 0x3F));
    u[2] = (char)(0x80 | (c & 0x3F));
    n = 3;
  } else {
    u[0] = (char)(0xF0 | c >> 18);
    u[1] = (char)(0x80 | (c >> 12 & 0x3F));
    u[2] = (char)(0x80 | (c >> 6 & 0x3F));
    u[3] = (char)(0x80 | (c & 0x3F));
    n = 4;
  }
  return value_put(t, u, n);
}

/* Append one input byte of a value: the input stream's preprocessing
 * makes CR and CRLF one LF and NUL U+FFFD. */
static int value_byte(struct html_tok *t, int c) {
  int was_cr = t->prev_cr;
  char b = (char)c;
  t->prev_cr = c == '\r';
  if (c == '\r')
    b = '\n';
  else if (c == '\n' && was_cr)
    return 0;
  else if (c == 0)
    return value_put_code(t, 0xFFFD);
  return value_put(t, &b, 1);
}

/* ---- tags ---- */

static void tag_begin(struct html_tok *t, int end_tag) {
  t->end_tag = end_tag;
  t->name_len = 0;
  t->attr = ATTR_NONE;
  t->seen = 0;
  t->value[HTML_HREF].state = V_ABSENT;
  t->value[HTML_SRC].state = V_ABSENT;
}

/* The tag's name is complete: which element it is. */
static void tag_named(struct html_tok *t) {
  t->elem = E_OTHER;
  if (t->name_len > sizeof "plaintext" - 1)
    return;
  for (int e = 0; e < E_OTHER; e++)
    if (name_is(t, elems[e].name, elems[e].len)) {
      t->elem = e;
      break;
    }
}

static void attr_begin(struct html_tok *t) {
  t->name_len = 0;
  t->attr = ATTR_NONE;
}

/* The attribute's name is complete: keep its value if it is the first
 * href or src of a link element's start tag (the first of a duplicated
 * attribute wins). */
static void attr_named(struct html_tok *t) {
  int a = NAME_IS(t, "href") ? HTML_HREF : NAME_IS(t, "src") ? HTML_SRC : ATTR_NONE;
  t->attr = ATTR_NONE;
  if (a == ATTR_NONE || (t->seen & 1u << a))
    return;
  t->seen |= 1u << a;
  if (t->end_tag || t->elem > HTML_BASE || (t->elem == HTML_BASE && a == HTML_SRC))
    return;
  t->attr = a;
  t->value[a].state = V_PRESENT; /* with no '=', the value is empty */
  t->value[a].len = 0;
}

/* The value of the attribute starts: line breaks are counted afresh. */
static void value_begin(struct html_tok *t) { t->prev_cr = 0; }

/* Report a finished link value. */
static int report(struct html_tok *t, int a) {
  struct html_value *v = &t->value[a];
  if (v->state != V_PRESENT)
    return 0;
  if (!v->data && !(v->data = malloc(v->cap = 256)))
    return -1;
  v->data[v->len] = '\0';
  return t->fn(t->arg, (enum html_elem)t->elem, (enum html_attr)a, v->data, v->len);
}

/* The tag is complete: report its links, then go to the state that
 * follows its element. Returns 0 or what the callback returned. */
static int tag_emit(struct html_tok *t) {
  int rc = 0;
  t->state = S_DATA;
  if (t->end_tag)
    return 0;
  if (t->elem <= HTML_BASE && (rc = report(t, HTML_HREF)) == 0)
    rc = report(t, HTML_SRC);
  t->raw_elem = t->elem;
  switch (t->elem) {
  case HTML_IFRAME:
  case E_TITLE:
  case E_TEXTAREA:
  case E_STYLE:
  case E_XMP:
  case E_NOEMBED:
  case E_NOFRAMES: t->state = t->text_state = S_RAWTEXT; break;
  case E_SCRIPT: t->state = t->text_state = S_SCRIPT; break;
  case E_PLAINTEXT: t->state = S_PLAINTEXT; break;
  default: break;
  }
  return rc;
}

/* ---- character references in link values ---- */

/* The character that ends an attribute value of the state s. */
static int value_quote(int s) { return s == S_VALUE_DQ ? '"' : s == S_VALUE_SQ ? '\'' : '>'; }

/* Compare the reference name name with ref[0..len), in the table's order
 * (strcmp's, a longer name after its prefix). */
static int entity_cmp(const char *name, const char *ref, size_t len) {
  int cmp = strncmp(name, ref, len);
  return cmp != 0 ? cmp : name[len] != '\0';
}

/* The index of the first reference name not below ref[0..len). */
static size_t entity_search(const char *ref, size_t len) {
  size_t lo = 0, hi = html_nentities;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (entity_cmp(html_entities[mid].name, ref, len) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* The named reference ref[0..len) exactly, or NULL. */
static const struct html_entity *entity_find(const char *ref, size_t len) {
  size_t i = entity_search(ref, len);
  return i < html_nentities && entity_cmp(html_entities[i].name, ref, len) == 0
             ? &html_entities[i]
             : NULL;
}

/* Whether some named reference starts with ref[0..len). */
static int entity_prefix(const char *ref, size_t len) {
  size_t i = entity_search(ref, len);
  return i < html_nentities && strncmp(html_entities[i].name, ref, len) == 0;
}

/*
 * The named reference in ref ended before the byte next: decode the
 * longest reference name that ref starts with. In an attribute value a
 * name without its ';' followed by an alphanumeric or '=' stays as it was
 * written ("?a=1&copy=2" is a query, not a copyright sign).
 */
static int named_ref_end(struct html_tok *t, int next) {
  const struct html_entity *e = NULL;
  size_t k = t->ref_len;
  int after;
  for (; k > 0 && !(e = entity_find(t->ref, k)); k--)
    ;
  if (!e)
    return value_put(t, "&", 1) == 0 ? value_put(t, t->ref, t->ref_len) : -1;
  after = k < t->ref_len ? (unsigned char)t->ref[k] : next;
  if (t->ref[k - 1] != ';' && (is_alnum(after) || after == '='))
    return value_put(t, "&", 1) == 0 ? value_put(t, t->ref, t->ref_len) : -1;
  if (value_put(t, e->value, strlen(e->value)) != 0)
    return -1;
  return value_put(t, t->ref + k, t->ref_len - k);
}

/* What a numeric reference to code stands for: the standard's table for
 * the C1 range (bytes of windows-1252), U+FFFD for NUL, surrogates and
 * values past Unicode. */
static unsigned long numeric_char(unsigned long code) {
  static const unsigned short c1[32] = {
      0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
      0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
      0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
  };
  if (code == 0 || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
    return 0xFFFD;
  if (code >= 0x80 && code <= 0x9F)
    return c1[code - 0x80];
  return code;
}

/* One byte c in a character reference state. Returns 1 when c was
 * consumed, 0 when it is to be read again in the state now current (the
 * next reference state, or the value's own), -1 when out of memory. */
static int charref_step(struct html_tok *t, int c) {
  int rc = 0, consumed = 1;
  switch (t->state) {
  case S_CHARREF:
    if (c == '#') {
      t->state = S_NUMERIC_REF;
      return 1;
    }
    if (is_space(c) || c == '<' || c == '&' || c == value_quote(t->value_state)) {
      rc = value_put(t, "&", 1);
      consumed = 0;
      break;
    }
    t->ref_len = 0;
    t->state = S_NAMED_REF;
    return 0;
  case S_NAMED_REF:
    /* No name holds a NUL, and the comparisons below (strncmp) would take
     * one for the end of ref and read a shorter name past its end. */
    if (c != 0 && t->ref_len + 1 < sizeof t->ref) {
      t->ref[t->ref_len] = (char)c;
      if (entity_prefix(t->ref, t->ref_len + 1)) {
        t->ref_len++;
        return 1;
      }
    }
    rc = named_ref_end(t, c);
    consumed = 0;
    break;
  case S_NUMERIC_REF:
    if (c == 'x' || c == 'X') {
      t->ref[0] = (char)c;
      t->state = S_HEX_START;
      return 1;
    }
    t->code = 0;
    if (is_digit(c)) {
      t->state = S_DEC;
      return 0;
    }
    rc = value_put(t, "&#", 2);
    consumed = 0;
    break;
  case S_HEX_START:
    t->code = 0;
    if (is_hex(c)) {
      t->state = S_HEX;
      return 0;
    }
    if ((rc = value_put(t, "&#", 2)) == 0)
      rc = value_put(t, t->ref, 1);
    consumed = 0;
    break;
  case S_HEX:
  case S_DEC:
    if (t->state == S_HEX ? is_hex(c) : is_digit(c)) {
      int d = is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
      t->code = t->code * (t->state == S_HEX ? 16 : 10) + (unsigned long)d;
      if (t->code > 0x10FFFF)
        t->code = 0x110000; /* any value past Unicode means U+FFFD */
      return 1;
    }
    rc = value_put_code(t, numeric_char(t->code));
    consumed = c == ';';
    break;
  }
  t->state = t->value_state;
  return rc != 0 ? -1 : consumed;
}

/* ---- the states ---- */

/* Step through the states for the byte at *pp (advancing *pp when the
 * byte is consumed) or for a whole run of bytes one state skips. Returns
 * 0, -1 (out of memory) or the link callback's nonzero return. */
static int step(struct html_tok *t, const unsigned char **pp, const unsigned char *end) {
  const unsigned char *p = *pp, *q;
  int c = *p, rc = 0;
  size_t n;
  switch (t->state) {
  case S_DATA:
    q = memchr(p, '<', (size_t)(end - p));
    if (!q) {
      p = end;
      break;
    }
    p = q + 1;
    t->state = S_TAG_OPEN;
    break;
  case S_TAG_OPEN:
    if (c == '!') {
      t->state = S_MARKUP_DECL;
      p++;
    } else if (c == '/') {
      t->state = S_END_TAG_OPEN;
      p++;
    } else if (is_alpha(c)) {
      tag_begin(t, 0);
      t->state = S_TAG_NAME;
    } else {
      t->state = c == '?' ? S_BOGUS_COMMENT : S_DATA;
    }
    break;
  case S_END_TAG_OPEN:
    if (is_alpha(c)) {
      tag_begin(t, 1);
      t->state = S_TAG_NAME;
    } else if (c == '>') {
      t->state = S_DATA;
      p++;
    } else {
      t->state = S_BOGUS_COMMENT;
    }
    break;
  case S_TAG_NAME:
    if ((n = run(p, end, C_NAME_END)) > 0) { /* a run stops at '=' too, appended below */
      name_put_run(t, p, n);
      p += n;
      break;
    }
    p++;
    if (is_space(c)) {
      tag_named(t);
      t->state = S_BEFORE_ATTR_NAME;
    } else if (c == '/') {
      tag_named(t);
      t->state = S_SELF_CLOSING;
    } else if (c == '>') {
      tag_named(t);
      rc = tag_emit(t);
    } else {
      name_put(t, c);
    }
    break;
  case S_BEFORE_ATTR_NAME:
    if (is_space(c)) {
      p++;
    } else if (c == '/' || c == '>') {
      t->state = S_AFTER_ATTR_NAME;
    } else {
      attr_begin(t);
      t->state = S_ATTR_NAME;
      if (c == '=') { /* a name that starts with '=' */
        name_put(t, c);
        p++;
      }
    }
    break;
  case S_ATTR_NAME:
    if (is_space(c) || c == '/' || c == '>') {
      attr_named(t);
      t->state = S_AFTER_ATTR_NAME;
    } else if (c == '=') {
      attr_named(t);
      t->state = S_BEFORE_ATTR_VALUE;
      p++;
    } else if ((n = run(p, end, C_NAME_END)) > 0) {
      name_put_run(t, p, n);
      p += n;
    } else {
      name_put(t, c); /* NUL */
      p++;
    }
    break;
  case S_AFTER_ATTR_NAME:
    if (is_space(c)) {
      p++;
    } else if (c == '/') {
      t->state = S_SELF_CLOSING;
      p++;
    } else if (c == '=') {
      t->state = S_BEFORE_ATTR_VALUE;
      p++;
    } else if (c == '>') {
      p++;
      rc = tag_emit(t);
    } else {
      attr_begin(t);
      t->state = S_ATTR_NAME;
    }
    break;
  case S_BEFORE_ATTR_VALUE:
    if (is_space(c)) {
      p++;
    } else if (c == '"' || c == '\'') {
      t->state = c == '"' ? S_VALUE_DQ : S_VALUE_SQ;
      value_begin(t);
      p++;
    } else if (c == '>') {
      p++;
      rc = tag_emit(t);
    } else {
      t->state = S_VALUE_UQ;
      value_begin(t);
    }
    break;
  case S_VALUE_DQ:
  case S_VALUE_SQ:
    if (t->attr == ATTR_NONE) { /* not a link: skip to the closing quote */
      q = memchr(p, t->state == S_VALUE_DQ ? '"' : '\'', (size_t)(end - p));
      if (!q) {
        p = end;
        break;
      }
      p = q + 1;
      t->state = S_AFTER_VALUE_Q;
      break;
    }
    if ((n = run(p, end, C_VALUE_END)) > 0) {
      rc = value_put(t, (const char *)p, n);
      p += n;
      t->prev_cr = 0;
      break;
    }
    p++;
    if (c == value_quote(t->state)) {
      t->state = S_AFTER_VALUE_Q;
    } else if (c == '&') {
      t->value_state = t->state;
      t->state = S_CHARREF;
    } else {
      rc = value_byte(t, c);
    }
    break;
  case S_VALUE_UQ:
    if (is_space(c)) {
      t->state = S_BEFORE_ATTR_NAME;
      p++;
    } else if (c == '>') {
      p++;
      rc = tag_emit(t);
    } else if (t->attr == ATTR_NONE) {
      p += (n = run(p, end, C_VALUE_END)) > 0 ? n : 1;
    } else if ((n = run(p, end, C_VALUE_END)) > 0) {
      rc = value_put(t, (const char *)p, n);
      p += n;
      t->prev_cr = 0;
    } else if (c == '&') {
      t->value_state = t->state;
      t->state = S_CHARREF;
      p++;
    } else {
      rc = value_byte(t, c);
      p++;
    }
    break;
  case S_AFTER_VALUE_Q:
    if (is_space(c)) {
      t->state = S_BEFORE_ATTR_NAME;
      p++;
    } else if (c == '/') {
      t->state = S_SELF_CLOSING;
      p++;
    } else if (c == '>') {
      p++;
      rc = tag_emit(t);
    } else {
      t->state = S_BEFORE_ATTR_NAME;
    }
    break;
  case S_SELF_CLOSING:
    if (c == '>') {
      p++;
      rc = tag_emit(t); /* the flag changes nothing for the elements read here */
    } else {
      t->state = S_BEFORE_ATTR_NAME;
    }
    break;
  case S_MARKUP_DECL:
  case S_MARKUP_DASH:
    if (c == '-') {
      t->state = t->state == S_MARKUP_DECL ? S_MARKUP_DASH : S_COMMENT_START;
      p++;
    } else {
      t->state = S_BOGUS_COMMENT; /* DOCTYPE and CDATA read alike: see the top */
    }
    break;
  case S_BOGUS_COMMENT:
    q = memchr(p, '>', (size_t)(end - p));
    p = q ? q + 1 : end;
    if (q)
      t->state = S_DATA;
    break;
  case S_COMMENT_START:
  case S_COMMENT_START_DASH:
    if (c == '-') {
      t->state = t->state == S_COMMENT_START ? S_COMMENT_START_DASH : S_COMMENT_END;
      p++;
    } else if (c == '>') { /* <!--> and <!---> */
      t->state = S_DATA;
      p++;
    } else {
      t->state = S_COMMENT;
    }
    break;
  case S_COMMENT:
    q = memchr(p, '-', (size_t)(end - p));
    p = q ? q + 1 : end;
    if (q)
      t->state = S_COMMENT_END_DASH;
    break;
  case S_COMMENT_END_DASH:
    if (c == '-') {
      t->state = S_COMMENT_END;
      p++;
    } else {
      t->state = S_COMMENT;
    }
    break;
  case S_COMMENT_END:
    if (c == '>') {
      t->state = S_DATA;
      p++;
    } else if (c == '!') {
      t->state = S_COMMENT_END_BANG;
      p++;
    } else if (c == '-') {
      p++;
    } else {
      t->state = S_COMMENT;
    }
    break;
  case S_COMMENT_END_BANG: /* --!> ends a comment too */
    if (c == '-') {
      t->state = S_COMMENT_END_DASH;
      p++;
    } else if (c == '>') {
      t->state = S_DATA;
      p++;
    } else {
      t->state = S_COMMENT;
    }
    break;
  case S_RAWTEXT:
    q = memchr(p, '<', (size_t)(end - p));
    p = q ? q + 1 : end;
    if (q)
      t->state = S_RAW_LT;
    break;
  case S_RAW_LT:
    if (c == '/') {
      t->state = S_RAW_END_OPEN;
      p++;
    } else {
      t->state = S_RAWTEXT;
    }
    break;
  case S_RAW_END_OPEN:
    if (is_alpha(c)) {
      t->name_len = 0;
      t->state = S_RAW_END_NAME;
    } else {
      t->state = t->text_state;
    }
    break;
  case S_RAW_END_NAME: {
    /* An end tag only where it names the element that started the text
     * (the standard's "appropriate end tag"). */
    int fits = name_is(t, elems[t->raw_elem].name, elems[t->raw_elem].len);
    if (fits && (is_space(c) || c == '/' || c == '>')) {
      tag_begin(t, 1);
      t->elem = E_OTHER;
      t->state = is_space(c) ? S_BEFORE_ATTR_NAME : S_SELF_CLOSING;
      if (c == '>')
        rc = tag_emit(t);
      p++;
    } else if (is_alpha(c)) {
      name_put(t, c);
      p++;
    } else {
      t->state = t->text_state;
    }
    break;
  }
  case S_SCRIPT:
    q = memchr(p, '<', (size_t)(end - p));
    p = q ? q + 1 : end;
    if (q)
      t->state = S_SCRIPT_LT;
    break;
  case S_SCRIPT_LT:
    if (c == '/') {
      t->text_state = S_SCRIPT;
      t->state = S_RAW_END_OPEN;
      p++;
    } else if (c == '!') {
      t->state = S_ESC_START;
      p++;
    } else {
      t->state = S_SCRIPT;
    }
    break;
  case S_ESC_START:
  case S_ESC_START_DASH:
    if (c == '-') {
      t->state = t->state == S_ESC_START ? S_ESC_START_DASH : S_ESC_DASH_DASH;
      p++;
    } else {
      t->state = S_SCRIPT;
    }
    break;
  case S_ESC:
  case S_ESC_DASH:
  case S_ESC_DASH_DASH:
    if (c == '-') {
      t->state = t->state == S_ESC ? S_ESC_DASH : S_ESC_DASH_DASH;
    } else if (c == '<') {
      t->state = S_ESC_LT;
    } else if (c == '>' && t->state == S_ESC_DASH_DASH) {
      t->state = S_SCRIPT;
    } else if (t->state == S_ESC) { /* nothing to see up to the next '-' or '<' */
      while (p < end && *p != '-' && *p != '<')
        p++;
      break;
    } else {
      t->state = S_ESC;
    }
    p++;
    break;
  case S_ESC_LT:
    if (c == '/') {
      t->text_state = S_ESC;
      t->state = S_RAW_END_OPEN;
      p++;
    } else if (is_alpha(c)) {
      t->name_len = 0;
      t->state = S_DESC_START;
    } else {
      t->state = S_ESC;
    }
    break;
  case S_DESC_START:
  case S_DESC_END:
    if (is_space(c) || c == '/' || c == '>') {
      int script = NAME_IS(t, "script");
      if (t->state == S_DESC_START)
        t->state = script ? S_DESC : S_ESC;
      else
        t->state = script ? S_ESC : S_DESC;
      p++;
    } else if (is_alpha(c)) {
      name_put(t, c);
      p++;
    } else {
      t->state = t->state == S_DESC_START ? S_ESC : S_DESC;
    }
    break;
  case S_DESC:
  case S_DESC_DASH:
  case S_DESC_DASH_DASH:
    if (c == '-') {
      t->state = t->state == S_DESC ? S_DESC_DASH : S_DESC_DASH_DASH;
    } else if (c == '<') {
      t->state = S_DESC_LT;
    } else if (c == '>' && t->state == S_DESC_DASH_DASH) {
      t->state = S_SCRIPT;
    } else {
      t->state = S_DESC;
    }
    p++;
    break;
  case S_DESC_LT:
    if (c == '/') {
      t->name_len = 0;
      t->state = S_DESC_END;
      p++;
    } else {
      t->state = S_DESC;
    }
    break;
  case S_PLAINTEXT: p = end; break;
  default: /* the character reference states */
    rc = charref_step(t, c);
    if (rc > 0)
      p++;
    rc = rc < 0 ? -1 : 0;
    break;
  }
  *pp = p;
  return rc;
}

void html_init(struct html_tok *t, html_link_fn fn, void *arg) {
  memset(t, 0, sizeof *t);
  t->state = S_DATA;
  t->text_state = S_RAWTEXT;
  t->elem = E_OTHER;
  t->raw_elem = E_OTHER;
  t->attr = ATTR_NONE;
  t->fn = fn;
  t->arg = arg;
}

int html_feed(struct html_tok *t, const char *data, size_t len) {
  const unsigned char *p = (const unsigned char *)data, *end = p + len;
  while (p < end) {
    int rc = step(t, &p, end);
    if (rc != 0)
      return rc;
  }
  return 0;
}

int html_end(struct html_tok *t) {
  t->state = S_DATA; /* an unfinished tag is dropped with its links */
  return 0;
}

void html_destroy(struct html_tok *t) {
  free(t->value[HTML_HREF].data);
  free(t->value[HTML_SRC].data);
  t->value[HTML_HREF].data = t->value[HTML_SRC].data = NULL;
}
