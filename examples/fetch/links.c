/*
 * links.c - link extraction with Gumbo (see links.h).
 *
 * Gumbo is a correct HTML5 parser but was not written for hostile input,
 * and two of its habits matter to a crawler:
 *
 *  - gumbo_destroy_output frees the tree recursively, one C frame per
 *    level, so a page of 20,000 nested <div>s overflows a 256 KiB stack;
 *  - the tree construction rescans the stack of open elements, so time
 *    grows with the square of the nesting depth (100,000 nested <div>s
 *    take about a minute), and a page may cost 20 times its size in nodes.
 *
 * So every allocation Gumbo makes comes from a bump allocator (the "parse
 * arena"): chunks from malloc, carved in order, single frees ignored, all
 * chunks freed together at the end. Freeing the tree is then a walk of a
 * short list of chunks, never gumbo_destroy_output, and small nodes cost
 * no per-allocation header (a block list with headers doubled the memory
 * of a page of 100,000 links). The arena counts its bytes and, every 256
 * allocations, looks at the clock; when the budget of memory or time runs
 * out it longjmps out of Gumbo back to links_extract, which frees the
 * chunks: Gumbo keeps no state outside the memory it got from the arena,
 * so abandoning it midway leaks nothing. Meanwhile the arena yields every
 * few milliseconds, so a long parse does not hold up its worker's other
 * tasks. The tree itself is walked with an explicit stack.
 */
#define _GNU_SOURCE
#include "links.h"

#include "strmap.h"
#include "url.h"

#include <gumbo.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

/* A chunk of the parse arena: allocations are carved from data in order. */
struct chunk {
  struct chunk *next;
  size_t size; /* bytes in data */
  size_t used;
  max_align_t data[]; /* aligned as malloc's memory */
};

#define CHUNK_FIRST ((size_t)64 * 1024)
#define CHUNK_MAX ((size_t)4 * 1024 * 1024)
#define ALIGN (_Alignof(max_align_t))

struct arena {
  struct chunk *head; /* the chunk being carved; the older ones follow */
  size_t total;       /* bytes of all chunks */
  size_t budget;      /* the most total allowed */
  size_t next_size;   /* the size of the next chunk */
  unsigned long calls;
  int64_t deadline; /* weft_now() milliseconds, or -1 */
  int64_t yielded;  /* weft_now() when the parse last let other tasks run */
  jmp_buf abandon;  /* where an exhausted budget returns to */
};

/* How long a parse computes before it lets the other tasks of its worker
 * run (weft_yield; nothing outside a task). A big page takes a second of
 * CPU, which would otherwise hold up every task queued behind it. */
#define PACE_MS 10

/* Every 256 allocations: give up past the deadline, yield now and then. */
static void arena_tick(struct arena *a) {
  int64_t now = weft_now();
  if (a->deadline >= 0 && now > a->deadline)
    longjmp(a->abandon, 1);
  if (now - a->yielded >= PACE_MS) {
    weft_yield();
    a->yielded = weft_now();
  }
}

/* A new chunk with room for size bytes, put where it is carved next
 * (unless it is an outsized one, which only serves this allocation). */
static struct chunk *arena_grow(struct arena *a, size_t size) {
  size_t cap = size > a->next_size ? size : a->next_size;
  struct chunk *c;
  if (cap > a->budget - a->total || !(c = malloc(sizeof *c + cap)))
    longjmp(a->abandon, 1);
  a->total += cap;
  c->size = cap;
  c->used = 0;
  if (size > a->next_size / 8 && a->head) { /* outsized: keep carving the current chunk */
    c->next = a->head->next;
    a->head->next = c;
    return c;
  }
  c->next = a->head;
  a->head = c;
  if (a->next_size < CHUNK_MAX)
    a->next_size *= 2;
  return c;
}

static void *arena_alloc(void *userdata, size_t size) {
  struct arena *a = userdata;
  struct chunk *c = a->head;
  size_t align;
  void *p;
  if (++a->calls % 256 == 0)
    arena_tick(a);
  if (size > SIZE_MAX / 2)
    longjmp(a->abandon, 1);
  /* An object smaller than ALIGN cannot need ALIGN's alignment: 8 will do. */
  align = size < ALIGN ? 8 : ALIGN;
  if (c)
    c->used = (c->used + align - 1) / align * align;
  if (!c || c->used > c->size || c->size - c->used < size)
    c = arena_grow(a, size);
  p = (char *)c->data + c->used;
  c->used += size ? size : 1;
  return p;
}

/* Gumbo frees little before the end (a page of 100,000 links allocates
 * 1.2 times its peak), so single frees are ignored and the arena goes back
 * to malloc all at once. */
static void arena_free(void *userdata, void *ptr) {
  (void)userdata;
  (void)ptr;
}

/* Free every chunk: the whole tree, or a parse abandoned midway. */
static void arena_release(struct arena *a) {
  struct chunk *c = a->head, *next;
  for (; c; c = next) {
    next = c->next;
    free(c);
  }
  free(a);
}

/* A growable array of pointers. */
struct ptrs {
  const void **v;
  size_t len, cap;
};

static int ptrs_push(struct ptrs *p, const void *x) {
  if (p->len == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 64;
    const void **v = realloc(p->v, cap * sizeof *v);
    if (!v)
      return -1;
    p->v = v;
    p->cap = cap;
  }
  p->v[p->len++] = x;
  return 0;
}

static int is_link_tag(GumboTag t) {
  return t == GUMBO_TAG_A || t == GUMBO_TAG_LINK || t == GUMBO_TAG_AREA || t == GUMBO_TAG_FRAME ||
         t == GUMBO_TAG_IFRAME;
}

/* Push the attribute name of el, if present, onto refs. */
static int push_attr(struct ptrs *refs, const GumboElement *el, const char *name) {
  GumboAttribute *a = gumbo_get_attribute(&el->attributes, name);
  return a ? ptrs_push(refs, a->value) : 0;
}

/* The raw link values of the tree in document order, and the first
 * <base href>. Returns 0 or LINKS_ENOMEM. */
static int collect(GumboNode *root, struct ptrs *refs, const char **base) {
  struct ptrs stack = {0};
  int rc = ptrs_push(&stack, root);
  while (rc == 0 && stack.len > 0) {
    const GumboNode *n = stack.v[--stack.len];
    const GumboVector *kids;
    if (n->type == GUMBO_NODE_DOCUMENT) {
      kids = &n->v.document.children;
    } else if (n->type == GUMBO_NODE_ELEMENT || n->type == GUMBO_NODE_TEMPLATE) {
      const GumboElement *el = &n->v.element;
      GumboAttribute *a;
      if (el->tag == GUMBO_TAG_BASE && !*base && (a = gumbo_get_attribute(&el->attributes, "href")))
        *base = a->value;
      if (is_link_tag(el->tag) &&
          (push_attr(refs, el, "href") != 0 || push_attr(refs, el, "src") != 0))
        rc = -1;
      kids = &el->children;
    } else {
      continue;
    }
    for (unsigned i = kids->length; rc == 0 && i-- > 0;) /* the first child on top */
      rc = ptrs_push(&stack, kids->data[i]);
  }
  free(stack.v);
  return rc == 0 ? 0 : LINKS_ENOMEM;
}

/* A URL that fetch records as a link: http or https, with a host. */
static int is_web_url(const char *u) {
  const char *p, *end, *at;
  if (url_is_scheme(u, "http"))
    p = u + 5;
  else if (url_is_scheme(u, "https"))
    p = u + 6;
  else
    return 0;
  if (strncmp(p, "//", 2) != 0)
    return 0;
  p += 2;
  end = p + strcspn(p, "/?"); /* the authority: [userinfo@]host[:port] */
  if ((at = memrchr(p, '@', (size_t)(end - p))))
    p = at + 1;
  return p < end && *p != ':';
}

static int links_push(struct links *l, char *u) {
  if (l->len == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    char **v = realloc(l->urls, cap * sizeof *v);
    if (!v)
      return -1;
    l->urls = v;
    l->cap = cap;
  }
  l->urls[l->len++] = u;
  return 0;
}

/* Resolve each ref against base_url and add the new web URLs to out. */
static int resolve_all(const struct ptrs *refs, const char *base_url, struct links *out) {
  struct url_base *base;
  struct strmap seen;
  int rc = url_base_new(base_url, &base);
  if (rc != 0)
    return rc == URL_ENOMEM ? LINKS_ENOMEM : 0;
  strmap_init(&seen);
  for (size_t i = 0; i < refs->len && rc == 0; i++) {
    char *u;
    int r = url_base_join(base, refs->v[i], &u);
    if (i % 256 == 255)
      weft_yield(); /* see PACE_MS: 256 links take about a millisecond */
    if (r == URL_ENOMEM)
      rc = LINKS_ENOMEM;
    if (r != 0)
      continue;
    if (is_web_url(u) && (r = strmap_add(&seen, u, NULL)) == 1 && (r = links_push(out, u)) == 0)
      continue;
    if (r < 0)
      rc = LINKS_ENOMEM;
    free(u);
  }
  strmap_destroy(&seen, NULL);
  url_base_free(base);
  return rc;
}

/* Parse html into *tree, or return -1 when the arena's budget ran out (the
 * arena then holds whatever Gumbo had allocated). setjmp sits in a frame
 * of its own that changes no local after it. */
static int parse_guarded(struct arena *a, const GumboOptions *opts, const char *html, size_t len,
                         GumboOutput **tree) {
  if (setjmp(a->abandon))
    return -1;
  *tree = gumbo_parse_with_options(opts, html, len);
  return 0;
}

int links_extract(const char *html, size_t len, const char *page_url, int64_t deadline,
                  struct links *out) {
  GumboOptions opts = kGumboDefaultOptions;
  struct arena *a = calloc(1, sizeof *a);
  struct ptrs refs = {0};
  const char *base_ref = NULL;
  char *base = NULL;
  GumboOutput *tree;
  int rc;

  memset(out, 0, sizeof *out);
  if (!a)
    return LINKS_ENOMEM;
  a->budget = len > (SIZE_MAX - (32u << 20)) / 32 ? SIZE_MAX : 32 * len + (32u << 20);
  a->next_size = CHUNK_FIRST;
  a->deadline = deadline;
  a->yielded = weft_now();
  opts.allocator = arena_alloc;
  opts.deallocator = arena_free;
  opts.userdata = a;
  opts.max_errors = 0; /* keep no parse errors: they only cost memory */
  if (parse_guarded(a, &opts, html, len, &tree) != 0) {
    arena_release(a);
    return LINKS_EBUDGET;
  }
  rc = collect(tree->document, &refs, &base_ref);
  if (rc == 0 && base_ref && url_join(page_url, base_ref, &base) == URL_ENOMEM)
    rc = LINKS_ENOMEM;
  if (rc == 0)
    rc = resolve_all(&refs, base ? base : page_url, out);
  free(base);
  free(refs.v);
  arena_release(a);
  if (rc != 0)
    links_free(out);
  return rc;
}

void links_free(struct links *l) {
  for (size_t i = 0; i < l->len; i++)
    free(l->urls[i]);
  free(l->urls);
  memset(l, 0, sizeof *l);
}
