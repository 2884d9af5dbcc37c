#!/usr/bin/env python3
"""gensite.py - generate a linked static web site for crawling weft's fetch.

Usage:
  gensite.py DIR [--pages N] [--seed S] [--depth D] [--reachable FILE]
  gensite.py DIR --no-generate --depth D --reachable FILE

Writes N HTML pages (default 5000) under DIR, which must be empty or
missing, and, with --reachable, a JSON file that lists every URL a crawler
starting at / with depth limit D (default 50) must request and the status
it must get. --no-generate skips the writing and computes that file for a
site already in DIR (one made with the same program), for another D.

The site
  /index.html             the start page, served for /
  /s/<k>/<name>.html      most pages, in buckets k; a few names hold a
                          space, linked as %20
  /d/<k>/index.html       directory pages, linked as /d/<k>/, as
                          /d/<k>/index.html (a distinct URL with the same
                          page) or as /d/<k>, which a static server answers
                          with 301 and Location: /d/<k>/
  /private/<i>.html       pages that robots.txt disallows; they link to one
                          URL each that no other page links to
  /robots.txt             "Disallow: /private/" for every user agent
  /style.css, /notes.txt  linked from every page; notes.txt is text/plain
                          and holds anchor markup that must not be followed

Links come in many spellings: absolute paths, ./x and ../x relative paths,
paths that climb above the root (RFC 3986 drops the extra ".."), paths with
"." and ".." segments, fragments, empty hrefs, upper-case tags, single,
double and no quotes, and the a, link, area, iframe and frame elements (a
frame in the body, outside any frameset). Pages also
carry links a crawler must not request: mailto:, javascript:, tel:, data:,
ftp: and off-site URLs (hosts under .invalid), an img src, anchors inside
comments and scripts, and links from pages deeper than the limit. Some
links are broken (404).

Depth semantics: the start URL has depth 0; a link found on a page of depth
d has depth d + 1 and is requested only when d + 1 <= D; the target of a
redirect has the depth of the URL that redirected. Every page has one
depth, whatever order a crawler discovers the site in: a page of depth d
links only to URLs of depth d + 1 and to URLs the start page links to
(which a crawler has seen before it fetches anything else), and a
redirect's target is linked only from pages one level above the
redirecting URL. So any correct crawler, however concurrent, requests the
same set of URLs, each at the depth the file gives. Most pages lie within
six levels of the start; a few chains run to depths 15, 30 and 50, so the
depth limit decides whether they are crawled. The deepest chain ends with a
redirect at depth 50 and a page linking one level deeper.

The reachable file is computed from the files on disk, not from the plan
that made them: a breadth-first walk that serves each URL as a static
server does (a file: 200; a directory without the trailing slash: 301 to
the slash form; a directory: its index.html; anything else: 404), parses
HTML with html.parser, takes href/src of a, link, area, frame and iframe,
resolves them with urllib.parse.urljoin and drops fragments. Its JSON:

  {"depth": D, "pages": N, "robots_disallow": ["/private/"],
   "urls": [{"path": "/", "status": 200, "depth": 0, "bytes": 2190,
             "html": true}, ...,
            {"path": "/d/3", "status": 301, "depth": 2,
             "redirect": "/d/3/"}, ...],
   "urls_robots": [... the same for a crawler that obeys robots.txt]}

With --reachable the generator also checks its output: every page is reachable
within depth 50, at exactly the depth it was placed, and the depth-
uniqueness property above holds for every link and redirect.
"""

import argparse
import html.parser
import json
import os
import random
from collections import deque
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

BASE = "http://site.invalid"
MAX_DEPTH = 50
ROBOTS_DISALLOW = "/private/"
LINK_TAGS = {"a", "link", "area", "frame", "iframe"}
LINK_ATTRS = {"href", "src"}

WORDS = (
    "thread task worker stack queue steal park wake yield spawn join channel "
    "select timer socket buffer loop event deadline cancel signal mutex "
    "cond group barrier page link crawl fetch serve index host path depth "
    "frontier record status header body byte token parse resolve follow "
    "redirect robots agent limit budget window batch cache line core hot "
    "cold fast slow small large early late first last north south east "
    "west river stone field garden bridge harbour lantern meadow orchard "
    "quarry valley willow amber cobalt copper ivory scarlet silver umber "
    "violet the a of and to in is it that for on with as by at from"
).split()

OFFSITE = [
    "http://example.invalid/",
    "https://www.example.invalid/about.html",
    "//cdn.example.invalid/lib.js",
    "HTTP://EXAMPLE.INVALID/Upper.html",
    "ftp://files.example.invalid/pub/",
]
NOFOLLOW = [
    "mailto:webmaster@example.invalid",
    "javascript:void(0)",
    "JavaScript:history.back()",
    "tel:+15555550100",
    "data:text/html,%3Ch1%3Ehi%3C%2Fh1%3E",
]


class Page:
    """One HTML file of the plan: its URL, file, depth and outgoing links."""

    def __init__(self, url, path, level, kind):
        self.url = url  # canonical URL path, percent-encoded
        self.path = path  # file under DIR
        self.level = level  # the depth every crawler must see it at
        self.kind = kind  # root, bulk, dir, chain, private
        self.forms = None  # dir pages: which in-link spellings are used
        self.links = []  # (element, target URL path) pairs
        self.extra = []  # raw hrefs that must not be followed


# ---- link spellings ----


def split_dir(url):
    """Return the directory segments and the last segment of a URL path."""
    parts = url[1:].split("/")
    return parts[:-1], parts[-1]


def relative(src, target):
    """Spell target as a path relative to the page at src."""
    sdirs, _ = split_dir(src)
    tdirs, name = split_dir(target)
    common = 0
    while common < min(len(sdirs), len(tdirs)) and sdirs[common] == tdirs[common]:
        common += 1
    rest = tdirs[common:]
    rel = "../" * (len(sdirs) - common) + "".join(d + "/" for d in rest) + name
    return rel or "./"


def spell(src, target, rng):
    """Return an href on page src that resolves to target."""
    r = rng.random()
    if r < 0.35:
        href = target
    elif r < 0.75:
        href = relative(src, target)
        if not href.startswith(".") and rng.random() < 0.4:
            href = "./" + href
    elif r < 0.85:
        climb = src.count("/") - 1 + rng.randint(1, 3)
        href = "../" * climb + target[1:]
    else:
        href = "/" + rng.choice(["./", "x/../", "s/./../", "d/9/../../"]) + target[1:]
    if rng.random() < 0.15:
        href += rng.choice(["#top", "#main", "#"])
    got = urldefrag(urljoin(BASE + src, href))[0]
    if got != BASE + target:
        raise AssertionError(f"{href!r} on {src} resolves to {got}, not {target}")
    return href


def dir_link(page, rng):
    """Return the URL path of one in-link to the directory page."""
    form = rng.choice(page.forms)
    base = page.url  # /d/<k>/
    return {"slash": base, "noslash": base[:-1], "index": base + "index.html"}[form]


# ---- the plan ----


def level_sizes(total):
    """Split total pages into levels 1, 2, ... growing about fourfold."""
    sizes, size = [], 8
    while total > 2 * size:
        sizes.append(size)
        total -= size
        size *= 4
    sizes.append(total)
    return sizes


class Plan:
    """The pages and links of one site, before it is written."""

    def __init__(self, npages, rng):
        self.rng = rng
        self.pages = []
        self.by_level = {}
        self.bucket_names = {}
        self.buckets = max(4, npages // 100)
        self.ndirs = 0
        self.nbroken = 0
        self.root = self.add(Page("/", "index.html", 0, "root"))
        self.root_targets = ["/", "/index.html", "/style.css", "/notes.txt"]
        nprivate = max(2, npages // 250)
        chain_ends = [(50, True), (50, False), (30, False), (15, False)]
        nchain = sum(end - 2 for end, _ in chain_ends)
        nbulk = npages - 1 - nprivate - nchain
        if nbulk < 100:
            raise SystemExit(f"gensite.py: --pages must be at least {npages - nbulk + 100}")
        self.make_bulk(level_sizes(nbulk))
        self.make_private(nprivate)
        for end, redirect in chain_ends:
            self.make_chain(end, redirect)
        self.link_forward()
        for page in self.pages:
            self.decorate(page)

    def add(self, page):
        self.pages.append(page)
        self.by_level.setdefault(page.level, []).append(page)
        return page

    def new_bulk(self, level):
        k = self.rng.randrange(self.buckets)
        names = self.bucket_names.setdefault(k, 0)
        self.bucket_names[k] = names + 1
        if self.rng.random() < 0.01:
            stem, url_stem = f"page {names}", f"page%20{names}"
        else:
            stem = url_stem = str(names)
        return Page(f"/s/{k}/{url_stem}.html", f"s/{k}/{stem}.html", level, "bulk")

    def new_dir(self, level, forms):
        k = self.ndirs
        self.ndirs += 1
        page = Page(f"/d/{k}/", f"d/{k}/index.html", level, "dir")
        page.forms = forms
        return page

    def make_bulk(self, sizes):
        """Fill levels 1.. with pages, some of them directory pages."""
        rng = self.rng
        last = len(sizes)
        for level, size in enumerate(sizes, 1):
            for i in range(size):
                if level < last and (i < 2 or rng.random() < 0.03):
                    # The first directory of levels 1 and 2 is reached
                    # only through its redirect.
                    if i == 0:
                        forms = ["noslash"]
                    else:
                        forms = rng.choice([["noslash"], ["slash"], ["slash", "noslash", "index"]])
                    page = self.new_dir(level, forms)
                else:
                    page = self.new_bulk(level)
                self.add(page)
                parents = self.by_level[level - 1]
                self.parent_of(page, rng.choice(parents))

    def parent_of(self, page, parent):
        """Link parent to page, the link that puts page at its level."""
        target = dir_link(page, self.rng) if page.kind == "dir" else page.url
        parent.links.append((self.element(), target))
        if parent is self.root:
            self.root_targets.append(target)

    def make_private(self, count):
        """Add leaf pages under /private/, which robots.txt disallows."""
        levels = [lv for lv in self.by_level if lv >= 2]
        for i in range(count):
            level = self.rng.choice(levels)
            page = self.add(Page(f"/private/{i}.html", f"private/{i}.html", level, "private"))
            parents = [p for p in self.by_level[level - 1] if p.kind in ("bulk", "dir")]
            self.parent_of(page, self.rng.choice(parents))
            self.broken(page, f"/s/0/only-from-private-{i}.html")

    def make_chain(self, end, redirect):
        """Add a chain of pages from level 3 to level end, one link each."""
        parents = [p for p in self.by_level[2] if p.kind in ("bulk", "dir")]
        parent = self.rng.choice(parents)
        for level in range(3, end + 1):
            if redirect and level == end:
                page = self.new_dir(level, ["noslash"])
            else:
                page = self.new_bulk(level)
                page.kind = "chain"
            self.add(page)
            self.parent_of(page, parent)
            parent = page
        # One level past the end: never requested under a limit of 50.
        self.broken(parent, f"/s/0/too-deep-{end}.html")

    def link_forward(self):
        """Give pages extra links to random pages one level down."""
        rng = self.rng
        for page in self.pages:
            if page.kind not in ("bulk", "dir"):
                continue
            below = [p for p in self.by_level.get(page.level + 1, []) if p.kind != "chain"]
            for _ in range(rng.randint(0, 4) if below else 0):
                target = rng.choice(below)
                url = dir_link(target, rng) if target.kind == "dir" else target.url
                page.links.append((self.element(), url))
                if page is self.root:
                    self.root_targets.append(url)

    def element(self):
        """Pick the element a forward link is written as."""
        r = self.rng.random()
        if r < 0.88:
            return "a"
        return "iframe" if r < 0.91 else "frame" if r < 0.93 else "area" if r < 0.97 else "link"

    def broken(self, page, url=None):
        """Link page to a URL that no file answers."""
        if url is None:
            self.nbroken += 1
            k = self.rng.randrange(self.buckets)
            url = self.rng.choice([f"/s/{k}/missing-{self.nbroken}.html", f"/gone-{self.nbroken}/"])
        page.links.append(("a", url))

    def decorate(self, page):
        """Add back links, self links, broken links and links not to follow."""
        rng = self.rng
        if page is self.root:
            page.links += [("a", "/index.html"), ("link", "/style.css"), ("a", "/notes.txt")]
            self.broken(page)
            self.root_targets.append(page.links[-1][1])
            page.extra += OFFSITE + NOFOLLOW
            return
        page.links.append(("link", "/style.css"))
        if page.kind == "private":
            page.links.append(("a", "/"))
            return
        for _ in range(rng.randint(1, 3)):
            page.links.append(("a", rng.choice(self.root_targets)))
        if page.level == 1 and page.kind == "bulk" and not any(
            self.is_broken(u) for _, u in page.links
        ):
            self.broken(page)
        elif rng.random() < 0.05:
            self.broken(page)
        if rng.random() < 0.2:
            page.extra.append(rng.choice(OFFSITE + NOFOLLOW))

    def is_broken(self, url):
        return "missing-" in url or url.startswith("/gone-")


# ---- writing ----


def words(rng, n):
    return " ".join(rng.choices(WORDS, k=n))


def quoted(rng, name, value):
    r = rng.random()
    if r < 0.6:
        return f'{name}="{value}"'
    if r < 0.85:
        return f"{name}='{value}'"
    return f"{name}={value} "


def anchor(rng, href, label):
    r = rng.random()
    if r < 0.7:
        return f"<a {quoted(rng, 'href', href)}>{label}</a>"
    if r < 0.8:
        return f"<A HREF='{href}'>{label}</A>"
    if r < 0.9:
        return f'<a class="nav" title="{label}"\n   {quoted(rng, "href", href)}\n  >{label}</a>'
    return f'<a id="l{rng.randrange(1000)}" {quoted(rng, "href", href)}>{label}</a>'


def render(page, rng, serial):
    """Return the HTML of one page."""
    head, body = [], []
    for element, target in page.links:
        href = spell(page.url, target, rng)
        label = words(rng, 2)
        if element == "link":
            rel = "stylesheet" if target.endswith(".css") else rng.choice(["next", "alternate", "help"])
            head.append(f'<link rel="{rel}" {quoted(rng, "href", href)}>')
        elif element == "iframe":
            body.append(f'<li><iframe {quoted(rng, "src", href)} title="{label}"></iframe></li>')
        elif element == "frame":
            # A frame outside any frameset: tree builders drop it, crawlers
            # that read tags (and browsers' preload scanners) follow it.
            body.append(f'<li><frame {quoted(rng, "src", href)}></li>')
        elif element == "area":
            body.append(
                f'<li><map name="m{serial}"><area shape="rect" coords="0,0,10,10" '
                f'{quoted(rng, "href", href)} alt="{label}"></map></li>'
            )
        else:
            body.append(f"<li>{anchor(rng, href, label)}</li>")
    rng.shuffle(body)
    body.append(f'<li><a href="#top">top</a> <a href="">this page</a> <a name="n{serial}">{words(rng, 2)}</a></li>')
    for href in page.extra:
        body.append(f"<li>{anchor(rng, href, words(rng, 2))}</li>")
    traps = []
    if serial % 7 == 0:
        traps.append(f'<!-- old menu: <a href="/s/trap-comment-{serial}.html">gone</a> -->')
    if serial % 11 == 0:
        traps.append(
            "<script>\nvar menu = '<a href=\"/s/trap-script-"
            f"{serial}.html\">later</a>';\n</script>"
        )
    if page.kind == "root":
        traps.append('<p><img src="/img/logo.png" alt="logo"></p>')
        # The only way to /framed.html: a frame after body content, and an
        # <a> inside a <select>, which a tree builder would both drop.
        traps.append('<p>framed:</p><frame src="/framed.html">'
                     '<select><option>x<a href="/selected.html">in a select</a></select>')
    title = f"{page.kind} {page.url}"
    paragraphs = "\n".join(f"<p>{words(rng, rng.randint(40, 120))}</p>" for _ in range(rng.randint(1, 3)))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{title}</title>\n" + "\n".join(head) + "\n</head>\n<body>\n"
        f'<h1 id="top">{title}</h1>\n{paragraphs}\n<ul id="main">\n'
        + "\n".join(body) + "\n</ul>\n" + "\n".join(traps)
        + f"\n<p>{words(rng, 20)}</p>\n</body>\n</html>\n"
    )


def write_site(root, plan, rng):
    """Write the pages and the other files; return {file: HTML} of the pages."""
    written = {}
    made = set()
    for serial, page in enumerate(plan.pages):
        path = os.path.join(root, page.path)
        folder = os.path.dirname(path)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        text = render(page, rng, serial)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        written[path] = text
    with open(os.path.join(root, "robots.txt"), "w") as f:
        f.write(f"# generated by gensite.py\nUser-agent: *\nDisallow: {ROBOTS_DISALLOW}\n")
    for name in ("framed", "selected"):
        with open(os.path.join(root, name + ".html"), "w") as f:
            f.write(f"<!DOCTYPE html>\n<title>{name}</title>\n<p>reached only through the start page's {name} link</p>\n")
    with open(os.path.join(root, "style.css"), "w") as f:
        f.write("body { font-family: sans-serif; max-width: 40em; margin: auto; }\n")
    with open(os.path.join(root, "notes.txt"), "w") as f:
        f.write(
            "Plain text, not HTML: a crawler must not look for links here.\n"
            '<a href="/s/trap-in-text.html">not a link</a>\n'
            '<iframe src="/s/trap-in-text-2.html"></iframe>\n'
        )
    return written


# ---- the oracle ----


class Links(html.parser.HTMLParser):
    """Collect href/src values of the elements a crawler follows."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found = []

    def handle_starttag(self, tag, attrs):
        if tag in LINK_TAGS:
            for name, value in attrs:
                if name in LINK_ATTRS and value is not None:
                    self.found.append(value)

    handle_startendtag = handle_starttag


def serve(root, path):
    """Answer path as a static file server would: (status, file, location)."""
    fs = os.path.join(root, unquote(path).lstrip("/"))
    if os.path.isdir(fs):
        if not path.endswith("/"):
            return 301, None, path + "/"
        fs = os.path.join(fs, "index.html")
    if os.path.isfile(fs):
        return 200, fs, None
    return 404, None, None


def resolve(src, href):
    """Resolve href on page src to a same-site path, or None."""
    url = urldefrag(urljoin(BASE + src, href.strip()))[0]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or f"{parts.scheme}://{parts.netloc}" != BASE:
        return None
    return parts.path or "/"


class Site:
    """The files of a site as a static server sees them, each page parsed once."""

    def __init__(self, root, written=None):
        self.root = root
        self.written = written or {}  # file -> the HTML just written there
        self.parsed = {}  # file -> hrefs and srcs found in it

    def links(self, fs):
        if fs not in self.parsed:
            text = self.written.get(fs)
            if text is None:
                with open(fs, encoding="utf-8") as f:
                    text = f.read()
            parser = Links()
            parser.feed(text)
            parser.close()
            self.parsed[fs] = parser.found
        return self.parsed[fs]


def walk(site, limit, robots):
    """Return {path: record} for a crawl of the site on disk.

    A 0-1 breadth-first walk: a link costs one level, a redirect none, so
    every URL gets its least depth. Records also keep the resolved links
    (key "out") for the generator's own checks.
    """
    depth = {"/": 0}
    queue = deque(["/"])
    done = {}
    while queue:
        path = queue.popleft()
        if path in done:
            continue
        d = depth[path]
        status, fs, location = serve(site.root, path)
        rec = {"path": path, "status": status, "depth": d}
        done[path] = rec
        if status == 301:
            rec["redirect"] = location
            if depth.get(location, MAX_DEPTH + 2) > d:
                depth[location] = d
                queue.appendleft(location)
            continue
        if status != 200:
            continue
        rec["bytes"] = os.path.getsize(fs)
        rec["html"] = fs.endswith(".html")
        if not rec["html"]:
            continue
        rec["out"] = [u for u in (resolve(path, h) for h in site.links(fs)) if u]
        if d + 1 > limit:
            continue
        for url in rec["out"]:
            if robots and url.startswith(ROBOTS_DISALLOW):
                continue
            if depth.get(url, MAX_DEPTH + 2) > d + 1:
                depth[url] = d + 1
                queue.append(url)
    return done


def public(records):
    out = []
    for path in sorted(records):
        rec = dict(records[path])
        rec.pop("out", None)
        out.append(rec)
    return out


def self_check(plan, records):
    """Fail unless the written site has the properties the docstring promises."""
    problems = []
    for page in plan.pages:
        urls = [page.url]
        if page.kind == "dir":
            urls += [page.url + "index.html"]
        found = [records[u] for u in urls if u in records]
        if not found:
            problems.append(f"{page.url} is not reachable within depth {MAX_DEPTH}")
        for rec in found:
            if rec["depth"] != page.level:
                problems.append(f"{rec['path']} has depth {rec['depth']}, planned {page.level}")
    if max(r["depth"] for r in records.values()) != MAX_DEPTH:
        problems.append(f"no URL at depth {MAX_DEPTH}")
    root_links = set(records["/"]["out"]) | {"/"}
    for rec in records.values():
        d = rec["depth"]
        for url in rec.get("out", []) if d < MAX_DEPTH else []:
            got = records[url]["depth"]
            if got != d + 1 and url not in root_links and url != rec["path"]:
                problems.append(f"{rec['path']} (depth {d}) links to {url} (depth {got})")
        if rec["status"] == 301 and records[rec["redirect"]]["depth"] != d:
            problems.append(f"redirect {rec['path']} -> {rec['redirect']} changes depth")
    statuses = {r["status"] for r in records.values()}
    if statuses != {200, 301, 404}:
        problems.append(f"statuses seen: {sorted(statuses)}")
    for d in (1, 2):
        if not any(r["status"] == 301 and r["depth"] == d for r in records.values()):
            problems.append(f"no redirect at depth {d}")
    if problems:
        raise SystemExit("gensite.py: generated site is wrong:\n  " + "\n  ".join(problems[:20]))


def main():
    ap = argparse.ArgumentParser(description="Generate a linked static site for crawl tests.")
    ap.add_argument("dir")
    ap.add_argument("--pages", type=int, default=5000, help="HTML pages to write (default 5000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--depth", type=int, default=MAX_DEPTH, help="depth limit for --reachable (default 50)")
    ap.add_argument("--reachable", metavar="FILE", help="write the URLs a crawl must request to FILE")
    ap.add_argument("--no-generate", action="store_true", help="use the site already in DIR")
    args = ap.parse_args()
    if args.depth < 0:
        ap.error("--depth must not be negative")
    root = args.dir
    npages = None
    site = Site(root)
    if not args.no_generate:
        if os.path.exists(root) and os.listdir(root):
            ap.error(f"{root} is not empty")
        os.makedirs(root, exist_ok=True)
        rng = random.Random(args.seed)
        plan = Plan(args.pages, rng)
        site.written = write_site(root, plan, rng)
        npages = len(plan.pages)
        if args.reachable:
            self_check(plan, walk(site, MAX_DEPTH, False))
    elif not os.path.isfile(os.path.join(root, "index.html")):
        ap.error(f"{root} holds no site")
    if args.reachable:
        if npages is None:
            npages = sum(
                1 for _, _, files in os.walk(root) for f in files if f.endswith(".html")
            )
        doc = {
            "depth": args.depth,
            "pages": npages,
            "robots_disallow": [ROBOTS_DISALLOW],
            "urls": public(walk(site, args.depth, False)),
            "urls_robots": public(walk(site, args.depth, True)),
        }
        with open(args.reachable, "w") as f:
            json.dump(doc, f, indent=0)
            f.write("\n")


if __name__ == "__main__":
    main()
