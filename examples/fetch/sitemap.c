/*
 * sitemap.c - sitemaps (see sitemap.h).
 *
 * The XML is libxml2's to parse, through its streaming interface
 * (xmlTextReader): the reader hands out one node at a time and frees the
 * ones it has walked past, so reading 50 MB of sitemap costs the body, the
 * URLs kept and a few nodes, never a tree of the document (xmlReadMemory
 * would build one several times the body's size). A SAX handler would do
 * as well, but spreads the state machine below over callbacks; the
 * reader's pull loop keeps it in one place.
 *
 * What counts. The root element names the kind: urlset (entries <url>) or
 * sitemapindex (entries <sitemap>). An entry is a child of the root with
 * that local name; its <loc> is a child of the entry named loc; both must
 * be in the root's namespace (usually sitemaps.org's; a sitemap without
 * one is read too). Depth and namespace together keep out the <loc> of an
 * extension, as in <url><image:image><image:loc>. Only an entry's first
 * <loc> counts. The text of a <loc> is the concatenation of its text and
 * CDATA nodes, with the predefined entities and character references
 * decoded by the parser, trimmed of XML whitespace; a <loc> that holds an
 * element or an entity reference, or more than URL_MAX bytes, is skipped
 * (and counted in sm->skipped), as is one that url_normalize rejects or
 * that is not http: or https:.
 *
 * Hostile XML. The reader runs with XML_PARSE_NONET and without
 * XML_PARSE_NOENT, DTDLOAD, DTDATTR, DTDVALID and HUGE: no DTD and no
 * external entity is ever loaded, internal entities are not substituted
 * (the reader reports a reference as a node of its own), and libxml2's
 * limits stay on: 256 levels of nesting, 10 MB in one text node, and its
 * entity loop and amplification checks, so the billion laughs end in an
 * XML error. Errors go to a handler on this reader (XML_PARSE_NOERROR and
 * NOWARNING keep libxml2 off stderr), which keeps the first.
 *
 * Errors. A body that is empty, or whose first byte after blanks is
 * neither '<' nor a UTF-8 byte order mark, is not XML without asking
 * libxml2 (whose words for "hello" would be "Document is empty"). An XML
 * error before the reader has delivered the root element is
 * SITEMAP_ENOTXML; after it, SITEMAP_EMALFORMED, and the entries
 * delivered before the error are kept: a sitemap with one bare '&' in a
 * URL, or junk after its end, still gives the URLs before it. The reader
 * parses ahead of what it delivers, in pieces of a few hundred bytes, so
 * the entries in the piece where the error lies are lost with it. Past
 * SITEMAP_MAX_ENTRIES entries the reading stops (SITEMAP_ETOOMANY).
 *
 * Gzip. A body starting with 1f 8b is gzip whatever its Content-Type
 * (sitemap.xml.gz is served as application/gzip or octet-stream, without
 * Content-Encoding). decode.c's decoder inflates it, with its bomb rule:
 * output stops at SITEMAP_MAX_BYTES, and so does the work.
 *
 * Threads. libxml2 2.9 must be initialised once before threads use it
 * (a first xmlInitParser racing another is unsafe); pthread_once does it
 * at the first parse. Its per-thread state belongs to the OS thread: a
 * parse calls nothing that could switch tasks, so it runs on one thread
 * from start to end.
 */
#define _GNU_SOURCE
#include "sitemap.h"

#include "buf.h"
#include "decode.h"
#include "strmap.h"
#include "url.h"

#include <libxml/xmlreader.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The type of a structured error handler's error (const since 2.12). */
#if LIBXML_VERSION >= 21200
typedef const xmlError *sitemap_xml_error;
#else
typedef xmlError *sitemap_xml_error;
#endif

#define LOC_MAX URL_MAX /* a longer <loc> is skipped without being copied */

/* A list of strings, malloc'd. */
struct strs {
  char **v;
  size_t len, cap;
};

/* One parse: the reader's position and what it has found. */
struct parse {
  xmlTextReaderPtr reader;
  struct sitemap *sm;
  struct strs found;  /* the URLs kept: sm's urls or sitemaps, as the root says */
  struct strmap seen; /* the URLs kept */
  const char *ns;     /* the root's namespace URI (the reader's string), or NULL */
  const char *entry;  /* "url" or "sitemap" */
  int root_seen;      /* the root element has begun */
  int in_entry;       /* inside an entry (depth 1) */
  int has_loc;        /* the entry's first <loc> has begun */
  int in_loc;         /* inside that <loc> (depth 2) */
  int loc_bad;        /* it holds markup, an entity reference or too many bytes */
  struct buf loc;     /* its text so far */
  int xml_line;       /* the first libxml2 error: its line and message */
  char xml_msg[80];
};

static int fail(struct sitemap *sm, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Set sm->error from fmt; return err. */
static int fail(struct sitemap *sm, int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(sm->error, sizeof sm->error, fmt, ap);
  va_end(ap);
  return err;
}

static int strs_push(struct strs *s, char *str) {
  if (s->len == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    char **v = realloc(s->v, cap * sizeof *v);
    if (!v)
      return -1;
    s->v = v;
    s->cap = cap;
  }
  s->v[s->len++] = str;
  return 0;
}

static void strs_free(char **v, size_t len) {
  for (size_t i = 0; i < len; i++)
    free(v[i]);
  free(v);
}

void sitemap_free(struct sitemap *sm) {
  strs_free(sm->urls, sm->nurls);
  strs_free(sm->sitemaps, sm->nsitemaps);
  sm->urls = sm->sitemaps = NULL;
  sm->nurls = sm->nsitemaps = 0;
}

int sitemap_is_gzip(const char *data, size_t len) {
  return len >= 2 && (unsigned char)data[0] == 0x1f && (unsigned char)data[1] == 0x8b;
}

/* ---- gzip ---- */

static int gunzip_sink(void *arg, const char *data, size_t len) {
  struct buf *b = arg;
  buf_append(b, data, len);
  return buf_failed(b);
}

int sitemap_gunzip(const char *data, size_t len, size_t max_out, char **out, size_t *out_len) {
  struct buf b = BUF_INIT;
  struct decoder d;
  int rc;
  *out = NULL;
  *out_len = 0;
  if (decoder_init(&d, DECODE_GZIP, max_out, gunzip_sink, &b) != 0)
    return SITEMAP_ENOMEM;
  if ((rc = decoder_feed(&d, data, len)) == 0)
    rc = decoder_end(&d);
  decoder_destroy(&d);
  if (rc == 0) {
    *out_len = b.len;
    return (*out = buf_take(&b)) ? 0 : SITEMAP_ENOMEM;
  }
  buf_free(&b);
  if (rc == DECODE_ETOOBIG)
    return SITEMAP_ETOOBIG;
  return rc == DECODE_ENOMEM || rc == DECODE_ESINK ? SITEMAP_ENOMEM : SITEMAP_EGZIP;
}

/* ---- the XML ---- */

static void init_libxml(void) { xmlInitParser(); }

/* Keep libxml2's first error, its message without the final newline. */
static void on_xml_error(void *arg, sitemap_xml_error e) {
  struct parse *p = arg;
  size_t n;
  if (p->xml_msg[0] || !e)
    return;
  p->xml_line = e->line;
  snprintf(p->xml_msg, sizeof p->xml_msg, "%s", e->message ? e->message : "parser error");
  n = strlen(p->xml_msg);
  while (n > 0 && (p->xml_msg[n - 1] == '\n' || p->xml_msg[n - 1] == ' '))
    p->xml_msg[--n] = '\0';
}

static int is_xml_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Whether the reader's node is named name in the root's namespace. */
static int named(const struct parse *p, const char *name) {
  const char *local = (const char *)xmlTextReaderConstLocalName(p->reader);
  const char *ns = (const char *)xmlTextReaderConstNamespaceUri(p->reader);
  return local && strcmp(local, name) == 0 && (ns && p->ns ? strcmp(ns, p->ns) == 0 : ns == p->ns);
}

/* The root element: it says what the entries are. */
static int on_root(struct parse *p) {
  const char *local = (const char *)xmlTextReaderConstLocalName(p->reader);
  p->root_seen = 1;
  p->ns = (const char *)xmlTextReaderConstNamespaceUri(p->reader);
  if (local && strcmp(local, "urlset") == 0) {
    p->entry = "url";
  } else if (local && strcmp(local, "sitemapindex") == 0) {
    p->entry = "sitemap";
    p->sm->index = 1;
  } else {
    return fail(p->sm, SITEMAP_EROOT, "root element <%.40s> is not urlset or sitemapindex",
                local ? local : "?");
  }
  return 0;
}

/* An entry's <loc> has ended: keep its URL if it is a usable one. */
static int end_loc(struct parse *p) {
  char *s = p->loc.data, *url;
  size_t n = p->loc.len;
  int rc;
  p->in_loc = 0;
  if (buf_failed(&p->loc))
    return fail(p->sm, SITEMAP_ENOMEM, "out of memory");
  while (n > 0 && is_xml_space(s[n - 1]))
    s[--n] = '\0';
  if (p->loc_bad || n == 0 || (rc = url_normalize(s, &url)) == URL_EINVAL) {
    p->sm->skipped++;
    return 0;
  }
  if (rc != 0)
    return fail(p->sm, SITEMAP_ENOMEM, "out of memory");
  if (!url_is_scheme(url, "http") && !url_is_scheme(url, "https")) {
    p->sm->skipped++;
    free(url);
    return 0;
  }
  if ((rc = strmap_add(&p->seen, url, NULL)) == 1 && strs_push(&p->found, url) == 0)
    return 0;
  free(url);
  return rc == 0 ? 0 : fail(p->sm, SITEMAP_ENOMEM, "out of memory");
}

/* An element starts at depth. */
static int on_element(struct parse *p, int depth) {
  int empty = xmlTextReaderIsEmptyElement(p->reader) == 1;
  if (depth == 0)
    return on_root(p);
  if (depth == 1 && named(p, p->entry)) {
    if (p->sm->entries++ == SITEMAP_MAX_ENTRIES)
      return fail(p->sm, SITEMAP_ETOOMANY, "over %d entries: the rest is ignored",
                  SITEMAP_MAX_ENTRIES);
    p->in_entry = !empty;
    p->has_loc = 0;
    p->sm->skipped += empty; /* <url/>: no <loc> */
  } else if (depth == 2 && p->in_entry && !p->has_loc && named(p, "loc")) {
    p->has_loc = 1;
    p->in_loc = !empty;
    p->loc_bad = 0;
    buf_reset(&p->loc);
    p->sm->skipped += empty;
  } else if (p->in_loc) {
    p->loc_bad = 1; /* markup inside <loc> */
  }
  return 0;
}

/* An element ends at depth (an empty one, <x/>, has no end node). */
static int on_end(struct parse *p, int depth) {
  if (depth == 2 && p->in_loc)
    return end_loc(p);
  if (depth == 1 && p->in_entry) {
    p->in_entry = 0;
    p->sm->skipped += !p->has_loc;
  }
  return 0;
}

/* Text inside an entry's <loc>: append it, up to LOC_MAX bytes. */
static void on_text(struct parse *p) {
  const char *v = (const char *)xmlTextReaderConstValue(p->reader);
  size_t n;
  if (!v || p->loc_bad)
    return;
  if (p->loc.len == 0)
    while (is_xml_space(*v))
      v++; /* leading whitespace: never counted against LOC_MAX */
  if ((n = strlen(v)) > LOC_MAX - p->loc.len)
    p->loc_bad = 1;
  else
    buf_append(&p->loc, v, n);
}

/* The reader's current node. Returns 0 or an error. */
static int on_node(struct parse *p) {
  int depth = xmlTextReaderDepth(p->reader);
  switch (xmlTextReaderNodeType(p->reader)) {
  case XML_READER_TYPE_ELEMENT: return on_element(p, depth);
  case XML_READER_TYPE_END_ELEMENT: return on_end(p, depth);
  case XML_READER_TYPE_TEXT:
  case XML_READER_TYPE_CDATA:
  case XML_READER_TYPE_WHITESPACE:
  case XML_READER_TYPE_SIGNIFICANT_WHITESPACE:
    if (p->in_loc && depth == 3)
      on_text(p);
    return 0;
  case XML_READER_TYPE_ENTITY_REFERENCE:
    p->loc_bad |= p->in_loc; /* not substituted: the <loc> would be incomplete */
    return 0;
  default: return 0;
  }
}

/* Why the reader failed, as sm->error. */
static int xml_failed(struct parse *p) {
  const char *msg = p->xml_msg[0] ? p->xml_msg : "parser error";
  if (!p->root_seen)
    return fail(p->sm, SITEMAP_ENOTXML, "not XML (line %d: %s)", p->xml_line, msg);
  return fail(p->sm, SITEMAP_EMALFORMED, "malformed XML at line %d: %s", p->xml_line, msg);
}

static int parse_xml(const char *data, size_t len, struct sitemap *sm) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  struct parse p = {.sm = sm, .loc = BUF_INIT};
  int rc = 0, more = 1;
  while (len > 0 && is_xml_space(*data))
    data++, len--; /* a blank line before <?xml is a common slip */
  if (len == 0)
    return fail(sm, SITEMAP_ENOTXML, "not XML (the body is empty)");
  if (*data != '<' && (len < 3 || memcmp(data, "\xef\xbb\xbf", 3) != 0))
    return fail(sm, SITEMAP_ENOTXML, "not XML (it does not start with '<')");
  pthread_once(&once, init_libxml);
  p.reader = xmlReaderForMemory(data, (int)len, NULL, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (!p.reader)
    return fail(sm, SITEMAP_ENOMEM, "out of memory");
  xmlTextReaderSetStructuredErrorHandler(p.reader, on_xml_error, &p);
  strmap_init(&p.seen);
  while (rc == 0 && (more = xmlTextReaderRead(p.reader)) == 1)
    rc = on_node(&p);
  if (rc == 0 && more < 0)
    rc = xml_failed(&p);
  xmlFreeTextReader(p.reader);
  strmap_destroy(&p.seen, NULL);
  buf_free(&p.loc);
  if (sm->index) {
    sm->sitemaps = p.found.v;
    sm->nsitemaps = p.found.len;
  } else {
    sm->urls = p.found.v;
    sm->nurls = p.found.len;
  }
  return rc;
}

int sitemap_parse(const char *data, size_t len, struct sitemap *sm) {
  char *plain = NULL;
  size_t plain_len;
  int rc;
  memset(sm, 0, sizeof *sm);
  if (sitemap_is_gzip(data, len)) {
    rc = sitemap_gunzip(data, len, SITEMAP_MAX_BYTES, &plain, &plain_len);
    if (rc == SITEMAP_ETOOBIG)
      return fail(sm, rc, "over %d MB uncompressed", SITEMAP_MAX_BYTES >> 20);
    if (rc != 0)
      return fail(sm, rc,
                  rc == SITEMAP_ENOMEM ? "out of memory" : "corrupt or truncated gzip data");
    data = plain;
    len = plain_len;
  } else if (len > SITEMAP_MAX_BYTES) {
    return fail(sm, SITEMAP_ETOOBIG, "over %d MB", SITEMAP_MAX_BYTES >> 20);
  }
  rc = parse_xml(data, len, sm);
  free(plain);
  return rc;
}
