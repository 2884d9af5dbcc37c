/*
 * html.h - the links of an HTML page, found by a streaming tokenizer.
 *
 * The tokenizer follows the WHATWG HTML tokenization rules wherever they
 * decide which URLs a page holds (tags, attributes, comments, DOCTYPE,
 * RAWTEXT/RCDATA elements, script data, plaintext, character references
 * in attribute values), and skips the rest: it builds no tree, so an
 * <a href> inside <select> or a <frame src> after body content is a link,
 * as it is to every crawler that reads tags. The bytes of the page are fed
 * as they arrive, split anywhere; the tokenizer keeps only its state and
 * the values of the link attributes of the tag being read, so its memory
 * is bounded whatever the page's size. Bytes are taken as UTF-8 and passed
 * through; no encoding is sniffed. Pure, any thread; one page per struct.
 */
#ifndef FETCH_HTML_H
#define FETCH_HTML_H

#include <stddef.h>

/* The longest attribute value kept: a longer one is skipped (no link). */
#define HTML_VALUE_MAX (64 * 1024)

/* The elements whose attributes are links. */
enum html_elem { HTML_A, HTML_LINK, HTML_AREA, HTML_FRAME, HTML_IFRAME, HTML_BASE };

/* The link attributes: href of each element above, src of all but base. */
enum html_attr { HTML_HREF, HTML_SRC };

/*
 * Called for each link attribute of a start tag, once the tag is complete,
 * in document order; for one tag href comes before src. value (len bytes,
 * NUL-terminated, never holding a NUL) has its character references
 * decoded and its CR and CRLF line breaks made LF. A nonzero return stops
 * the tokenizer: html_feed and html_end return it.
 */
typedef int (*html_link_fn)(void *arg, enum html_elem el, enum html_attr at, const char *value,
                            size_t len);

/* One attribute value being collected. */
struct html_value {
  char *data; /* malloc'd, grown up to HTML_VALUE_MAX + 1; reused across tags */
  size_t len;
  size_t cap;
  int state; /* enum in html.c: absent, collecting, complete, dropped */
};

/* The longest named character reference, with its ';', plus room. */
#define HTML_REF_MAX 48

struct html_tok {
  int state;         /* the tokenizer state (enum in html.c) */
  int text_state;    /* the text state an end-tag attempt falls back to */
  int raw_elem;      /* the element whose end tag ends RAWTEXT, RCDATA or script data */
  int elem;          /* the tag being read (enum in html.c) */
  int end_tag;       /* the tag being read is an end tag */
  int prev_cr;       /* the last byte consumed was CR (line breaks become LF) */
  char name[16];     /* the tag or attribute name so far, ASCII lower-cased */
  size_t name_len;   /* its whole length (only the first 16 bytes are kept) */
  int attr;          /* the attribute being read: -1 none, else enum html_attr */
  unsigned seen;     /* bit per enum html_attr: this tag already has one */
  struct html_value value[2]; /* per enum html_attr */
  int value_state;   /* the attribute value state a character reference returns to */
  char ref[HTML_REF_MAX]; /* a character reference being read, after the '&' */
  size_t ref_len;
  unsigned long code; /* a numeric reference's value, capped past 0x10FFFF */
  html_link_fn fn;
  void *arg;
};

/* Start tokenizing a page; fn gets its links. */
void html_init(struct html_tok *t, html_link_fn fn, void *arg);

/* Tokenize the next len bytes of the page. Returns 0, -1 (out of memory),
 * or what fn returned when it stopped the tokenizer. */
int html_feed(struct html_tok *t, const char *data, size_t len);

/* The page has ended: a tag left unfinished is dropped, as the standard
 * says. Returns 0. */
int html_end(struct html_tok *t);

/* Free what t holds. */
void html_destroy(struct html_tok *t);

/* "a", "link", ...; "href", "src". */
const char *html_elem_name(enum html_elem el);
const char *html_attr_name(enum html_attr at);

#endif
