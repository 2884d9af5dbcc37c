#!/usr/bin/env python3
"""mutant.py - a seeded HTTP/1.1 server that serves an endless site of
valid responses and mutates some of them at random, and the checker of a
fetch crawl through it (tests/fetch/soak.sh).

  mutant.py soak --seed S --responses N [--limit SECONDS] [--rss-mb MB]
                 [--log FILE] -- FETCH ARG...

    Starts the server on 127.0.0.1, on a port the kernel picks, runs
    FETCH ARG... --accept ^ORIGIN/ --max-body 1000000 -n N ORIGIN/p/0
    (ORIGIN is http://127.0.0.1:PORT, regex-quoted in --accept; ARG
    should include -o - and a -t timeout; --responses 0: no -n), then
    checks the run against the server's log and prints one line per
    failure; exits 1 if any. With --log the log is also written to
    FILE, one JSON object per response. The --accept keeps fetch on this
    server: a link with a bent port must not send it to whatever else
    listens on this machine.

  mutant.py serve --seed S [--log FILE]

    The server alone: prints its port and serves until killed.

  mutant.py show --seed S --port P PATH [N]

    Prints, as Python bytes, the response the server gives to the N-th
    request (from 0) of PATH, and what was done to it: every response is
    a function of the seed, the port (absolute links carry it), the path
    and how often that path was requested before, never of timing or of
    the order in which the crawl reached it. A failure report names the
    path and N.

The site.  Every path is a page.  /p/ID (ID a number) links to its four
children /p/4ID+1 .. /p/4ID+4, so the crawl never runs out, to earlier
pages and to itself, each spelled one of LINK_FORMS' ways (absolute,
upper-case scheme, network-path, relative to the page or to a <base
href>, with a fragment, dot segments, character references, blanks
around it) and one child twice, which fetch must resolve and
de-duplicate; to an off-site copy on 127.0.0.2, counted but not
followed; to a stylesheet /css/ID.css (some); and it hides links in a
comment and a script, which are not links.  Any other path is the page
of a number hashed from it, so links that a mutation bent still lead
somewhere.  The first three levels (/p/0 to /p/20) are plain pages,
never mutated, so the crawl cannot die out at its start.  Some pages
are instead a redirect to a child (301, 302, 303, 307, 308), a 404, a
204, text/plain, a 503 with Retry-After: 0 on the first request only, a
body over fetch's --max-body (1 MB), or a header block of 60 KiB
(allowed) or 70 KiB (over fetch's 64 KiB).  Bodies come with
Content-Length, chunked (random chunk sizes, leading zeros, extensions,
trailers), read to the close, as HTTP/1.0, gzip (also in two members, or
as x-gzip) or deflate (zlib or raw) encoded, after a 100 or 103 interim
response, and clean ones are written in random pieces (sometimes the
head a byte at a time).

The mutations (about a third of the responses, one to three each):
bytes flipped, inserted or deleted anywhere; headers duplicated
(Content-Length alike or different, Transfer-Encoding, Content-Type,
Content-Encoding, Location); Content-Length changed (short, long, huge,
negative, not a number); a chunk size changed (off by some, not hex,
huge, with an extension, its CRLF missing); Transfer-Encoding and
Content-Length both; the status line bent (2000, 20, HTTP/2, 101, ICY);
header lines broken (no colon, space before the colon, folded, a NUL,
bare LF); the Content-Encoding lying (gzip on a plain body, unknown,
stacked, a corrupt or truncated gzip stream, a gzip bomb of 5 MB of
zeros); garbage after the end; and the delivery cut: the connection
closed (FIN) or reset (RST, SO_LINGER 0) at a random byte, or left
stalled there until the client gives up.  After a mutated response the
server closes the connection (so no client is left waiting on garbled
framing, and a garbled response never poisons the next one); after a
clean one it keeps the connection when the framing allows.

The log: one object per response, in the order they were completed:
seq, cid (connection), k (its index on the connection), path, n (how
often the path was requested before: the checker orders a path's
responses by it), kind, muts (the mutations), clean (no mutation),
framing, expect (what fetch must record for the page unbent: status,
bytes, wire_bytes, links, redirect, error), len (the response's bytes),
head_end, cut, sent (bytes the server wrote), outcome ("done", "cut",
"reset", "stall", "gone": the client went away first).

The checks of a soak run:
  - fetch exits 0, within --limit (it is killed 15 s after), with no
    sanitizer report on stderr, and its summary line counts its records;
  - exactly N records (--responses 0: no -n, the crawl ends at its
    depth), each a JSON object with the documented fields, no URL twice
    (hostile.py's parser);
  - every path the server was asked for has exactly one record, and no
    record is for a path never asked for (but a redirect hop cut off by
    the hop limit); each path asked for at least once and at most as
    often as its record's "attempts" (which also counts a resend after
    a kept-alive connection was found closed, whose first send the
    server may never have read: in all, no more such sends than the
    connections it closed after a whole mutated response);
  - a record whose last response was clean and fully sent says what the
    server sent: status, bytes, wire_bytes, links, redirect, and no error;
    a page built to exceed --max-body or the 64 KiB head says so, clean
    or bent only by a gzip bomb; only "timed out" after the full timeout
    is excused, for a machine too loaded to read a page in time;
  - a record whose last response was a lone mutation with a certain
    outcome says so: cut inside a delimited response or reset anywhere:
    an error; a stall: "timed out"; a gzip bomb: "max-body" (but in a
    204, which has no body whatever its head says);
  - peak RSS (the kernel's, from wait4) under --rss-mb.
"""

import gzip
import json
import os
import random
import re
import socket
import struct
import sys
import tempfile
import threading
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile  # noqa: E402  the record parser, the summary check, the runner

ADDR = "127.0.0.1"
ALT = "127.0.0.2"  # off-site links point here; fetch never requests them
MAX_BODY = 1000000  # fetch's --max-body in a soak
CHILDREN = 4
MUTATE = 0.33  # the share of responses mutated
STALL_MAX = 120.0  # a stalled connection is dropped after this long anyway
IDLE_MAX = 120.0  # an idle kept-alive connection likewise
ROOTS = {"/p/%d" % i for i in range(21)}  # the first three levels: never bent

WORDS = ("weft task worker fiber stack channel select deque steal park wake "
         "crawl fetch page link frontier record socket deadline timer yield "
         "queue chunk gzip header status body close reset stall mutant").split()


def rng_for(seed, *what):
    """A generator seeded by the seed and what it is for: string seeds
    are hashed with SHA-512, the same in every run and Python."""
    return random.Random("%s/%s" % (seed, "/".join(str(w) for w in what)))


# ---------------------------------------------------------------- the site

def page_id(path):
    m = re.fullmatch(r"/p/(\d{1,30})", path)
    if m:
        return int(m.group(1))
    return 10 ** 6 + zlib.crc32(path.encode("latin-1", "replace")) % 10 ** 6


def make_corpus(size):
    """The text pages are cut from: made once, the same in every run."""
    r = random.Random("mutant-corpus")
    out, n = [], 0
    while n < size:
        words = " ".join(r.choice(WORDS) for _ in range(r.randint(5, 40)))
        para = "<p>%s &amp; <b>%s</b> &lt;%d&gt; caf&eacute;</p>\n" % (
            words, r.choice(WORDS), r.randint(0, 999))
        out.append(para)
        n += len(para)
    return "".join(out)


CORPUS = make_corpus(1 << 20)


def filler(r, size):
    """About size bytes of whole paragraphs of the corpus."""
    out, n = [], 0
    while n < size:
        at = CORPUS.index("<p>", r.randrange(len(CORPUS) // 2))
        end = CORPUS.index("</p>\n", at + min(size - n, len(CORPUS) // 4)) + 5
        out.append(CORPUS[at:end])
        n += end - at
    return "".join(out)


# The spellings of a link to /p/ID: each resolves to it (from a page
# with <base href="/p/"> when base, else from a page at /p/<something>
# when one_level, else from anywhere). Values are HTML attribute text.
LINK_FORMS = [
    (lambda i, own: "/p/%d" % i, "any"),
    (lambda i, own: "%s/p/%d" % (own, i), "any"),
    (lambda i, own: "/p/%d#s%d" % (i, i % 10), "any"),
    (lambda i, own: "HTTP://%s/p/%d" % (own[7:], i), "any"),
    (lambda i, own: "%s/p/%d#frag" % (own, i), "any"),
    (lambda i, own: "//%s/p/%d" % (own[7:], i), "any"),
    (lambda i, own: "/p/./%d" % i, "any"),
    (lambda i, own: "/p/x/../%d" % i, "any"),
    (lambda i, own: "&#x2F;p&#47;%d" % i, "any"),
    (lambda i, own: " /p/%d\n" % i, "any"),
    (lambda i, own: "../p/%d" % i, "one_level"),
    (lambda i, own: "%d" % i, "base"),
]


def html_page(r, port, path, size):
    """An HTML page of about size bytes. Returns (body, distinct links)."""
    pid = page_id(path)
    own = "http://%s:%d" % (ADDR, port)
    base = r.random() < 0.2
    where = {"any", "base" if base else
             "one_level" if re.fullmatch(r"/p/[^/]*", path) else "any"}
    if base:
        where.add("one_level")  # ../p/X from /p/ is /p/X too
    forms = [f for f, w in LINK_FORMS if w in where]
    kids = [CHILDREN * pid + i for i in range(1, CHILDREN + 1)]
    back = sorted({r.randrange(pid) for _ in range(r.randint(0, 3))} if pid else set())
    ids = kids + back + [r.choice(kids), pid]  # a child again, and itself
    r.shuffle(ids)
    links = {"/p/%d" % i for i in ids}
    items = []
    for i in ids:
        q = r.choice(['"', "'", ""])
        h = r.choice(forms)(i, own)
        if h != h.strip():
            q = '"'
        tag = r.choice(["a", "A"])
        items.append("<li><%s href=%s%s%s>%s</%s></li>\n" % (tag, q, h, q, r.choice(WORDS), tag))
    offsite = "http://%s:%d/p/%d" % (ALT, port, pid)
    text = filler(r, max(0, size - 600))
    cut = r.randint(0, len(text))
    style = '<link rel=stylesheet href="/css/%d.css">' % pid if r.random() < 0.3 else ""
    body = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            "<title>page %d</title>\n%s%s"
            "</head>\n<body><h1>Page %d</h1>\n%s"
            "<!-- <a href=\"/p/999999999\">in a comment</a> -->\n<ul>\n%s</ul>\n"
            "<script>var s = '<a href=\"/p/888888888\">in a script</a>';</script>\n"
            "<p><a href=\"%s\">elsewhere</a> <a href=\"mailto:x@example.com\">mail</a>"
            "</p>\n%s</body></html>\n"
            % (pid, '<base href="/p/">' if base else "", style, pid, text[:cut],
               "".join(items), offsite, text[cut:]))
    return body.encode(), len(links) + 1 + bool(style)  # + the off-site copy


class Page:
    """What a path is, before framing: status, fields, body, what fetch
    must find in it."""

    def __init__(self, status, ctype, body, links=0, location=None, error=None,
                 fields=(), redirect=None, head_pad=0):
        self.status, self.ctype, self.body = status, ctype, body
        self.links, self.location, self.error = links, location, error
        self.fields, self.redirect, self.head_pad = list(fields), redirect, head_pad


REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 303: "See Other",
           307: "Temporary Redirect", 308: "Permanent Redirect", 404: "Not Found",
           503: "Service Unavailable"}


def make_page(seed, port, path, n):
    """The page at path, the n-th time it is asked for."""
    r = rng_for(seed, "page", path)
    if path.startswith("/css/"):
        return "css", Page(200, "text/css", b"body { color: #%06x; }\n" % r.randrange(1 << 24))
    x = r.random()
    if path in ROOTS:
        x = 1.0  # a plain page: the crawl cannot die out at its start
    if x < 0.04:
        pid = page_id(path)
        kid = CHILDREN * pid + r.randint(1, CHILDREN)
        loc = r.choice(["/p/%d" % kid, "http://%s:%d/p/%d" % (ADDR, port, kid),
                        "../p/%d" % kid if re.fullmatch(r"/p/[^/]*", path) else "/p/%d" % kid])
        status = r.choice([301, 302, 303, 307, 308])
        return "redirect", Page(status, "text/html", b"<p>moved</p>\n", location=loc,
                                redirect="/p/%d" % kid)
    if x < 0.07:
        return "404", Page(404, "text/html", b"<html><body><a href=/p/1>no</a></body></html>\n")
    if x < 0.09:
        return "text", Page(200, "text/plain", filler(r, r.randint(10, 5000)).encode())
    if x < 0.11 and n == 0:
        return "503", Page(503, "text/html", b"<p>busy</p>\n", fields=[("Retry-After", "0")])
    if x < 0.113:
        body, links = html_page(r, port, path, r.randint(MAX_BODY + 1, MAX_BODY + 200000))
        return "big", Page(200, "text/html", body, links, error="max-body")
    if x < 0.117:
        body, links = html_page(r, port, path, 2000)
        return "head60k", Page(200, "text/html", body, links, head_pad=60 * 1024)
    if x < 0.120:
        body, links = html_page(r, port, path, 2000)
        return "head70k", Page(200, "text/html", body, links, head_pad=70 * 1024,
                               error="64 KiB")
    if x < 0.123:
        return "204", Page(204, "text/html", b"")
    y = r.random()
    size = (r.randint(200, 8000) if y < 0.95 else r.randint(8000, 60000) if y < 0.995
            else r.randint(60000, 300000))
    body, links = html_page(r, port, path, size)
    return "html", Page(200, r.choice(["text/html", "text/html; charset=utf-8",
                                       "TEXT/HTML"]), body, links)


# ---------------------------------------------------------------- framing

class Response:
    """One response: its bytes and how they are delivered."""

    def __init__(self):
        self.data = b""
        self.head_end = 0      # offset just past the head's blank line
        self.framing = "length"  # "length", "chunked" or "close"
        self.ending = "keep"   # "keep", "close", "reset" or "stall"
        self.cut = None        # deliver only data[:cut], then the ending
        self.pieces = [0]      # offsets where a new send starts
        self.muts = []
        self.expect = {}
        self.kind = ""


def head_bytes(status_line, fields):
    """The head; a field whose value is None is written as a bare line."""
    lines = [k if v is None else "%s: %s" % (k, v) for k, v in fields]
    return (status_line + "\r\n" + "".join(x + "\r\n" for x in lines)
            + "\r\n").encode("latin-1")


def chunked(r, body, chunk_lines=None):
    """body in chunks of random sizes; chunk_lines collects the offsets of
    the size lines, for a mutation to find."""
    out, i = [], 0
    while i < len(body):
        n = min(len(body) - i, r.choice([1, 7, 100, 1000, 4096, 16384, r.randint(1, 40000)]))
        size = "%x" % n if r.random() < 0.8 else "%X" % n
        if r.random() < 0.1:
            size = "0" * r.randint(1, 3) + size  # leading zeros are allowed
        if r.random() < 0.1:
            size += ";ext=%d" % r.randint(0, 9)
        if chunk_lines is not None:
            chunk_lines.append((sum(len(x) for x in out), n))
        out.append(size.encode() + b"\r\n" + body[i:i + n] + b"\r\n")
        i += n
    out.append(b"0\r\n" + (b"X-Trailer: yes\r\n" if r.random() < 0.2 else b"") + b"\r\n")
    return b"".join(out)


def encode(r, coding, body):
    """body in the coding: gzip (gzip2: two members), x-gzip, deflate (the
    zlib format RFC 9110 names) or deflate-raw (what some servers send)."""
    if coding in ("gzip", "x-gzip"):
        return gzip.compress(body, mtime=0)
    if coding == "gzip2":
        k = r.randrange(len(body) + 1)
        return gzip.compress(body[:k], mtime=0) + gzip.compress(body[k:], mtime=0)
    if coding == "deflate":
        return zlib.compress(body)
    if coding == "deflate-raw":
        c = zlib.compressobj(wbits=-15)
        return c.compress(body) + c.flush()
    return body


BOMB = gzip.compress(b"\0" * (5 * MAX_BODY), mtime=0)  # 5 MB of zeros in 5 KB


def build(seed, port, path, n, accept_gzip=True):
    """The response to the n-th request of path, mutated or not."""
    kind, page = make_page(seed, port, path, n)
    r = rng_for(seed, "resp", path, n)
    resp = Response()
    resp.kind = kind
    muts = choose_mutations(r) if r.random() < MUTATE and path not in ROOTS else []
    body = page.body
    coding = None
    if accept_gzip and kind in ("html", "text") and r.random() < 0.18:
        coding = r.choice(["gzip", "gzip", "gzip", "x-gzip", "gzip2", "deflate", "deflate-raw"])
    if "bomb" in muts:
        coding = "gzip"
    wire = BOMB if "bomb" in muts else encode(r, coding, body)
    coding = {"gzip2": "gzip", "deflate-raw": "deflate"}.get(coding, coding)
    version = "HTTP/1.1"
    f = r.random()
    framing = ("length" if f < 0.55 else "chunked" if f < 0.85 else "close")
    if page.status != 200:
        framing = "length"
    if page.head_pad and framing == "close":
        framing = "length"
    if framing == "length" and r.random() < 0.05:
        version = "HTTP/1.0"
    fields = [("Content-Type", page.ctype), ("Server", "mutant")]
    if page.location:
        fields.append(("Location", page.location))
    fields += page.fields
    if coding:
        fields.append(("Content-Encoding", coding))
    if framing == "length" and (page.status != 204 or r.random() < 0.5):
        fields.append(("Content-Length", str(len(wire))))
    elif framing == "chunked":
        fields.append(("Transfer-Encoding", "chunked"))
    else:
        fields.append(("Connection", "close"))
    if version == "HTTP/1.0":
        fields.append(("Connection", "close"))
    if page.head_pad:
        i = 0
        while sum(len(k) + len(v) + 4 for k, v in fields) < page.head_pad:
            fields.append(("X-Pad-%04d" % i, "p" * 1000))
            i += 1
    chunk_lines = []
    status_line = "%s %d %s" % (version, page.status, REASONS.get(page.status, "Whatever"))
    # Structural mutations: before the bytes are laid out.
    for m in muts:
        fields, status_line, wire, framing = mutate_structure(
            r, m, fields, status_line, wire, framing)
    interim = b""
    if r.random() < 0.03:
        interim = r.choice([b"HTTP/1.1 100 Continue\r\n\r\n",
                            b"HTTP/1.1 103 Early Hints\r\nLink: </css/1.css>; rel=preload\r\n\r\n"])
    head = interim + head_bytes(status_line, fields)
    framed = chunked(r, wire, chunk_lines) if framing == "chunked" else wire
    chunk_lines = [(len(head) + off, size) for off, size in chunk_lines]
    resp.data = head + framed
    resp.head_end = len(head)
    resp.framing = framing
    resp.ending = "close" if framing == "close" or version == "HTTP/1.0" else "keep"
    # Byte-level mutations and the cut delivery: on the laid-out bytes.
    for m in muts:
        mutate_bytes(r, m, resp, chunk_lines)
    if muts and resp.ending == "keep":
        resp.ending = "close"
    resp.muts = muts
    # A clean response is delivered in pieces: separate sends (TCP_NODELAY),
    # so reads split. A mutated one is sent whole: were its tail sent later,
    # fetch could end the response before it, reuse the connection, and
    # take the tail for the next answer if it arrived after its check
    # (client.c, take_idle): a race no client can win.
    end = len(resp.data) if resp.cut is None else resp.cut
    x = r.random() if not muts else 1.0
    if x < 0.3:
        resp.pieces = sorted({0} | {r.randrange(max(1, end)) for _ in range(r.randint(1, 6))})
    elif x < 0.32:
        resp.pieces = list(range(min(end, resp.head_end + 20)))  # a byte at a time
    if page.status // 100 == 3:
        resp.expect = {"status": page.status, "bytes": len(body), "wire_bytes": len(wire),
                       "links": 0, "redirect": page.redirect, "error": None}
    else:
        html = page.status // 100 == 2 and page.ctype.lower().startswith("text/html")
        resp.expect = {"status": page.status, "bytes": len(body), "wire_bytes": len(wire),
                       "links": page.links if html else 0, "redirect": None,
                       "error": page.error}
    return resp


# ---------------------------------------------------------------- mutations

STRUCTURAL = ["dup-header", "content-length", "te-and-cl", "status-line", "bad-header",
              "encoding-lie", "gzip-corrupt"]
BYTEWISE = ["flip", "insert", "delete", "chunk-size", "extra"]
DELIVERY = ["truncate", "reset", "stall"]


def choose_mutations(r):
    """One mutation mostly, up to three; at most one way to end delivery."""
    pool = STRUCTURAL * 2 + BYTEWISE * 3 + ["truncate"] * 4 + ["reset"] * 3 + ["bomb"]
    count = 1 if r.random() < 0.75 else r.randint(2, 3)
    muts = []
    for _ in range(count):
        m = r.choice(pool)
        if m in DELIVERY and any(x in DELIVERY for x in muts):
            continue
        muts.append(m)
    if r.random() < 0.012:  # a stall costs fetch its whole timeout: rarely
        muts = ["stall"]
    return muts


def field_index(fields, name):
    for i, (k, _) in enumerate(fields):
        if k.lower() == name.lower():
            return i
    return -1


def mutate_structure(r, m, fields, status_line, wire, framing):
    """Mutation m of the head's lines, the status line or the encoded
    body (wire), before they are laid out."""
    if m == "dup-header":
        what = r.choice(["cl-same", "cl-other", "te", "ctype", "coding", "location"])
        i = field_index(fields, "Content-Length")
        if what == "cl-same" and i >= 0:
            fields.insert(r.randint(0, len(fields)), fields[i])
        elif what == "cl-other" and i >= 0:
            fields.insert(r.randint(0, len(fields)),
                          ("Content-Length", str(max(0, len(wire) + r.randint(-50, 50)))))
        elif what == "te":
            fields.append(("Transfer-Encoding", "chunked"))
            framing = "chunked"
        elif what == "ctype":
            fields.append(("Content-Type", r.choice(["text/plain", "text/html", "image/png"])))
        elif what == "coding":
            fields.append(("Content-Encoding", r.choice(["gzip", "identity", "br"])))
        else:
            fields.append(("Location", "/p/%d" % r.randrange(10 ** 6)))
    elif m == "content-length":
        i = field_index(fields, "Content-Length")
        v = r.choice([str(max(0, len(wire) - r.randint(1, 100))),
                      str(len(wire) + r.randint(1, 100)),
                      "0", "99999999999999999999", "-1", "12abc", " %d " % len(wire), "",
                      "+%d" % len(wire), "0x%x" % len(wire), "%d, %d" % (len(wire), len(wire))])
        if i >= 0:
            fields[i] = ("Content-Length", v)
        else:
            fields.append(("Content-Length", v))
    elif m == "te-and-cl":
        if field_index(fields, "Content-Length") < 0:
            fields.append(("Content-Length", str(len(wire))))
        if field_index(fields, "Transfer-Encoding") < 0:
            fields.append(("Transfer-Encoding", "chunked"))
        framing = r.choice(["chunked", "length"])
    elif m == "status-line":
        version, status = status_line.split(" ")[:2]
        status_line = r.choice([
            "%s %s0 OK" % (version, status), "%s %s OK" % (version, status[:2]),
            "HTTP/2 %s OK" % status, "%s 101 Switching Protocols" % version,
            "ICY %s OK" % status, "%s %s" % (version, status), "%s  %s  OK" % (version, status),
            "%s 999 Odd" % version, "%s %s OK\x00" % (version, status),
            "HTTP/1.1 %s %s" % (status, "r" * r.randint(100, 5000)), "HTTP/0.9 %s OK" % status])
    elif m == "bad-header":
        line = r.choice([("This line has no colon", None), ("X-Space ", "before the colon"),
                         ("X-Nul", "a\x00b"), ("X-Fold", "one\r\n  two"),
                         ("X-Bare", "lf\nX-Next: x"),
                         ("", "empty name"), ("X-Long", "v" * r.randint(1000, 20000)),
                         ("X-Ctl", "\x01\x02\x7f"), ("  X-Indented", "first")])
        fields.insert(r.randint(0, len(fields)), line)
    elif m == "encoding-lie":
        i = field_index(fields, "Content-Encoding")
        v = r.choice(["gzip", "deflate", "x-compress", "gzip, br", "br", "gzip, gzip", "GZIP "])
        if i >= 0:
            fields[i] = ("Content-Encoding", v)
        else:
            fields.append(("Content-Encoding", v))
    elif m == "gzip-corrupt":
        if field_index(fields, "Content-Encoding") < 0:
            fields.append(("Content-Encoding", "gzip"))
            wire = gzip.compress(wire, mtime=0)
        how = r.choice(["flip", "truncate", "trailing"])
        b = bytearray(wire)
        if how == "flip" and b:
            for _ in range(r.randint(1, 4)):
                b[r.randrange(len(b))] ^= r.randint(1, 255)
        elif how == "truncate":
            del b[r.randrange(max(1, len(b))):]
        else:
            b += bytes(r.randrange(256) for _ in range(r.randint(1, 30)))
        wire = bytes(b)
        i = field_index(fields, "Content-Length")
        if i >= 0:
            fields[i] = ("Content-Length", str(len(wire)))
    return fields, status_line, wire, framing


def mutate_bytes(r, m, resp, chunk_lines):
    """Mutation m of the laid-out bytes, or of how they are delivered."""
    d = bytearray(resp.data)
    if m == "flip" and d:
        for _ in range(r.randint(1, 4)):
            d[r.randrange(len(d))] ^= 1 << r.randrange(8) if r.random() < 0.5 else r.randint(1, 255)
    elif m == "insert":
        at = r.randrange(len(d) + 1)
        ins = r.choice([bytes(r.randrange(256) for _ in range(r.randint(1, 16))), b"\r\n",
                        b"\r\n\r\n", b":", b"\x00", b"0\r\n\r\n", b"HTTP/1.1 200 OK\r\n"])
        d[at:at] = ins
    elif m == "delete" and d:
        at = r.randrange(len(d))
        del d[at:at + r.randint(1, 64)]
    elif m == "chunk-size" and chunk_lines:
        off, size = r.choice(chunk_lines)
        end = d.find(b"\r\n", off)
        new = r.choice([b"%x" % (size + r.randint(1, 50)), b"%x" % max(0, size - r.randint(1, 50)),
                        b"zz", b"ffffffffffffffffff", b"-1", b"%x;" % size, b" %x" % size,
                        b"0x%x" % size, b"%x" % size + b"\n"])
        if end >= 0:
            d[off:end] = new
    elif m == "extra":
        d += r.choice([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", b"garbage\r\n",
                       bytes(r.randrange(256) for _ in range(r.randint(1, 100)))])
    elif m in ("truncate", "reset", "stall"):
        resp.ending = "close" if m == "truncate" else m
        resp.cut = r.randrange(max(1, len(d)))
    resp.data = bytes(d)
    if resp.cut is not None:
        resp.cut = min(resp.cut, len(resp.data))


# ---------------------------------------------------------------- server

class Server:
    """The mutating server: one thread per connection, a log in memory
    (and in a file, if given)."""

    def __init__(self, seed, log_path=None):
        self.seed = seed
        self.sock = socket.socket()
        self.sock.bind((ADDR, 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.counts = {}  # path -> requests so far
        self.log = []
        self.logf = open(log_path, "w") if log_path else None
        self.active = 0
        self.idle_closes = 0  # kept-alive connections closed after IDLE_MAX
        self.idle = threading.Condition(self.lock)
        self.stopping = False

    def start(self):
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        cid = 0
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            cid += 1
            with self.lock:
                self.active += 1
            threading.Thread(target=self.serve_conn, args=(conn, cid), daemon=True).start()

    def record(self, entry):
        with self.lock:
            entry["seq"] = len(self.log)
            self.log.append(entry)
            if self.logf:
                self.logf.write(json.dumps(entry) + "\n")
                self.logf.flush()

    def serve_conn(self, conn, cid):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(IDLE_MAX)
        buf, k = b"", 0
        try:
            while True:
                try:
                    raw, buf = hostile.read_head(conn, buf)
                except socket.timeout:
                    with self.lock:
                        self.idle_closes += k > 0  # fetch may send on it again
                    break
                if raw is None:
                    break
                req = hostile.parse_request(raw)
                if req is None:
                    break
                _, path, _, fields = req
                with self.lock:
                    n = self.counts.get(path, 0)
                    self.counts[path] = n + 1
                resp = build(self.seed, self.port, path, n,
                             "gzip" in fields.get("accept-encoding", ""))
                outcome, sent = deliver(conn, resp)
                self.record({"cid": cid, "k": k, "path": path, "n": n, "kind": resp.kind,
                             "muts": resp.muts, "clean": not resp.muts,
                             "framing": resp.framing, "expect": resp.expect,
                             "len": len(resp.data), "head_end": resp.head_end,
                             "cut": resp.cut, "sent": sent,
                             "outcome": outcome})
                if outcome != "done" or resp.ending != "keep" or buf:
                    break
                k += 1
        except OSError:
            pass
        finally:
            conn.close()
            with self.lock:
                self.active -= 1
                self.idle.notify_all()

    def wait_idle(self, timeout):
        """Waits until no connection is open. Returns whether it came."""
        with self.lock:
            return self.idle.wait_for(lambda: self.active == 0, timeout)


def deliver(conn, resp):
    """Sends resp as it says. Returns (outcome, bytes sent)."""
    end = len(resp.data) if resp.cut is None else resp.cut
    marks = [p for p in resp.pieces if p < end] + [end]
    sent = 0
    try:
        for a, b in zip(marks, marks[1:]):
            conn.sendall(resp.data[a:b])
            sent = b
        if resp.ending == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return "reset", sent
        if resp.ending == "stall":
            conn.settimeout(STALL_MAX)
            try:
                while conn.recv(65536):
                    pass
            except OSError:
                pass
            return "stall", sent
        if resp.cut is not None:
            conn.shutdown(socket.SHUT_WR)
            return "cut", sent
        if resp.ending == "close":
            conn.shutdown(socket.SHUT_WR)
        return "done", sent
    except OSError:
        return "gone", sent


# ---------------------------------------------------------------- checker

class Check:
    def __init__(self, limit=30):
        self.failures = []
        self.limit = limit
        self.more = 0

    def fail(self, msg):
        if len(self.failures) < self.limit:
            self.failures.append(msg)
        else:
            self.more += 1


def url_key(url, port):
    """The request target of a URL on the server (a "?" with no query
    kept, as fetch sends it), or None for a URL elsewhere."""
    origin = "http://%s:%d/" % (ADDR, port)
    return url[len(origin) - 1:].split("#")[0] if url.startswith(origin) else None


def lone(e, *muts):
    return len(e["muts"]) == 1 and e["muts"][0] in muts


def incomplete(e):
    """The response was cut before its end, and it was delimited by a
    length or chunks, or the cut fell inside its head: incomplete for
    any client."""
    return (e["cut"] is not None and e["cut"] < e["len"]
            and (e["framing"] != "close" or e["cut"] < e["head_end"]))


def check_record(chk, rec, e, timeout_ms, seed, port):
    """One record against the last response the server gave for it."""
    where = "%s (mutant.py show --seed %s --port %d '%s' %d)" % (
        json.dumps(rec), seed, port, e["path"], e["n"])
    err = rec.get("error")
    if e["expect"]["error"] and (e["clean"] or lone(e, "bomb")):
        # Built to fail, whatever the delivery came to: fetch may stop
        # reading at once, and the server then sees the client gone.
        if e["outcome"] in ("done", "gone") and not (err and e["expect"]["error"] in err) \
                and not (err and "timed out" in err and rec["ms"] >= 0.9 * timeout_ms):
            chk.fail("%s response: the record should say %r: %s"
                     % (e["kind"], e["expect"]["error"], where))
        return None
    if e["clean"] and e["outcome"] == "done":
        x = e["expect"]
        if err and ("timed out" in err and rec["ms"] >= 0.9 * timeout_ms):
            return "slow"
        wrong = [k for k in ("status", "bytes", "wire_bytes", "links")
                 if k in rec and rec[k] != x[k]]
        if err:
            chk.fail("clean %s response recorded as an error: %s" % (e["kind"], where))
        elif wrong:
            chk.fail("clean %s response: %s should be %s: %s" % (
                e["kind"], ", ".join(wrong), ", ".join(str(x[k]) for k in wrong), where))
        elif x["redirect"] and not rec.get("redirect", "").endswith(x["redirect"]):
            chk.fail("clean redirect: \"redirect\" should end with %s: %s"
                     % (x["redirect"], where))
        return None
    if e["expect"]["error"]:
        return None  # built to fail, and bent too: it may fail either way
    if lone(e, "stall") and e["outcome"] == "stall" and not (err and "timed out" in err):
        chk.fail("a stalled response should be recorded as timed out: %s" % where)
    elif (lone(e, "truncate", "reset") and e["outcome"] in ("cut", "reset")
          and (incomplete(e) or e["outcome"] == "reset") and not err):
        chk.fail("a response %s before its end should be an error: %s"
                 % ("reset" if e["outcome"] == "reset" else "cut", where))
    elif (lone(e, "bomb") and e["outcome"] == "done" and e["kind"] != "204"
          and not (err and "max-body" in err)):
        chk.fail("a gzip bomb should be cut at --max-body: %s" % where)
    return None


def check_run(chk, recs, log, port, n_want, timeout_ms, seed, idle_closes):
    if n_want and len(recs) != n_want:
        chk.fail("%d records, expected %d (-n)" % (len(recs), n_want))
    by_path = {}
    for e in log:
        by_path.setdefault(e["path"], []).append(e)
    for es in by_path.values():
        es.sort(key=lambda e: e["n"])  # the order of the requests, not of their ends
    recorded = {}
    for rec in recs:
        key = url_key(rec["url"], port)
        if key is None:
            chk.fail("a record for a URL not on the server: %s" % json.dumps(rec))
            continue
        recorded[key] = rec
        if key not in by_path and "redirect" not in rec.get("error", "").lower():
            chk.fail("a record for a path never requested: %s" % json.dumps(rec))
    slow = unseen = 0
    for path, es in by_path.items():
        rec = recorded.get(path)
        if rec is None:
            chk.fail("%s was requested %d times but has no record (its last response: %s)"
                     % (path, len(es), json.dumps(es[-1])))
            continue
        # "attempts" counts every request the server may have seen: a
        # resend after a kept-alive connection was found closed (client.c)
        # counts, though the first send may never have been read.
        if not 1 <= len(es) <= rec["attempts"]:
            chk.fail("%s requested %d times, its record says %d attempts: %s"
                     % (path, len(es), rec["attempts"], json.dumps(rec)))
        unseen += rec["attempts"] - len(es)
        if check_record(chk, rec, es[-1], timeout_ms, seed, port) == "slow":
            slow += 1
    # A send the server never read went on a connection it had closed
    # after a whole response: after a mutated one (a clean one keeps it),
    # or idle for IDLE_MAX.
    closed = idle_closes + sum(1 for e in log if e["muts"] and e["outcome"] in ("done", "cut"))
    if unseen > closed:
        chk.fail("the records count %d more attempts than the server saw requests; it "
                 "closed only %d connections fetch could have sent on again" % (unseen, closed))
    return slow


def summarize(log):
    kinds, muts, outcomes = {}, {}, {}
    for e in log:
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
        outcomes[e["outcome"]] = outcomes.get(e["outcome"], 0) + 1
        for m in e["muts"]:
            muts[m] = muts.get(m, 0) + 1
    fmt = lambda d: " ".join("%s=%d" % kv for kv in sorted(d.items()))
    return "kinds: %s\n  mutations: %s\n  outcomes: %s" % (fmt(kinds), fmt(muts), fmt(outcomes))


def soak(argv):
    opts = {"--seed": "1", "--responses": "20000", "--limit": "600", "--rss-mb": "0",
            "--log": None}
    while argv and argv[0] != "--":
        opt = argv.pop(0)
        if opt not in opts or not argv:
            sys.exit("mutant: soak: unknown option or missing value: %s" % opt)
        opts[opt] = argv.pop(0)
    cmd = argv[1:]
    if not cmd:
        sys.exit("mutant: soak: no command after --")
    seed, n_want = opts["--seed"], int(opts["--responses"])
    limit, rss_mb = float(opts["--limit"]), float(opts["--rss-mb"])
    timeout_ms = 10000
    for i, a in enumerate(cmd):
        if a in ("-t", "--timeout") and i + 1 < len(cmd):
            timeout_ms = int(cmd[i + 1])
    srv = Server(seed, opts["--log"])
    srv.start()
    base = "http://%s:%d" % (ADDR, srv.port)
    cmd = cmd + ["--accept", "^%s/" % re.escape(base), "--max-body", str(MAX_BODY)]
    cmd += (["-n", str(n_want)] if n_want else []) + [base + "/p/0"]
    chk = Check()
    with tempfile.TemporaryDirectory() as tmp:
        out_path, err_path = os.path.join(tmp, "out"), os.path.join(tmp, "err")
        code, wall, peak_mb, killed = hostile.execute(cmd, None, None, limit, out_path, err_path)
        with open(out_path, "rb") as f:
            out = f.read().decode("utf-8", "replace")
        with open(err_path, "rb") as f:
            err = f.read().decode("utf-8", "replace")
    if not srv.wait_idle(30):
        chk.fail("the server still has %d connections open 30 s after fetch exited"
                 % srv.active)
    srv.stopping = True
    with srv.lock:
        log = list(srv.log)
    if killed:
        chk.fail("still running %.0f s past its %.0f s limit: killed" % (wall - limit, limit))
    elif wall > limit:
        chk.fail("took %.1f s, limit %.0f s" % (wall, limit))
    if code != 0:
        chk.fail("exit status %s" % (code if code >= 0 else "signal %d" % -code))
    if hostile.SANITIZER.search(err):
        chk.fail("sanitizer report on stderr")
    run = hostile.Run(srv.port, "soak")
    recs = hostile.parse_records(run, out)
    for msg in run.failures:
        chk.fail(msg)
    if code == 0:
        run.failures = []
        hostile.check_summary(run, err, recs)
        for msg in run.failures:
            chk.fail(msg)
    slow = check_run(chk, recs, log, srv.port, n_want, timeout_ms, seed, srv.idle_closes)
    if rss_mb and peak_mb >= rss_mb:
        chk.fail("peak RSS %.0f MB, the bound is %.0f MB" % (peak_mb, rss_mb))
    errors = sum(1 for r in recs if "error" in r)
    print("mutant: seed %s: %d records (%d errors), %d responses served, %.1f s, "
          "peak RSS %.0f MB%s" % (seed, len(recs), errors, len(log), wall, peak_mb,
                                  ", %d clean pages timed out (slow machine)" % slow
                                  if slow else ""))
    print("  " + summarize(log))
    if not chk.failures:
        return 0
    print("FAIL: seed %s" % seed)
    print("  command: %s" % " ".join(cmd))
    for msg in chk.failures:
        print("  - " + msg)
    if chk.more:
        print("  - ... and %d more" % chk.more)
    tail = err.strip().splitlines()[-40:]
    if tail:
        print("  stderr (last lines):")
        for line in tail:
            print("    " + line[:300])
    return 1


def serve(argv):
    seed, log_path = "1", None
    while argv:
        opt = argv.pop(0)
        if opt == "--seed":
            seed = argv.pop(0)
        elif opt == "--log":
            log_path = argv.pop(0)
        else:
            sys.exit("mutant: serve: unknown option %s" % opt)
    srv = Server(seed, log_path)
    print(srv.port, flush=True)
    srv.accept_loop()


def show(argv):
    seed, port = "1", None
    while argv and argv[0].startswith("--"):
        opt = argv.pop(0)
        if opt == "--seed":
            seed = argv.pop(0)
        elif opt == "--port":
            port = int(argv.pop(0))
        else:
            sys.exit("mutant: show: unknown option %s" % opt)
    if port is None or not argv:
        sys.exit("usage: mutant.py show --seed S --port P PATH [N]")
    n = int(argv[1]) if len(argv) > 1 else 0
    resp = build(seed, port, argv[0], n)
    print("kind %s, framing %s, mutations %s, ending %s, cut %s of %d bytes, sent in pieces "
          "at %s" % (resp.kind, resp.framing, resp.muts or "none", resp.ending, resp.cut,
                     len(resp.data), resp.pieces))
    print("clean, fetch must record: %s" % json.dumps(resp.expect))
    data = resp.data if resp.cut is None else resp.data[:resp.cut]
    print(repr(data))


def main():
    argv = sys.argv[1:]
    mode = argv.pop(0) if argv else ""
    if mode == "soak":
        sys.exit(soak(argv))
    if mode == "serve":
        serve(argv)
    elif mode == "show":
        show(argv)
    else:
        sys.exit("usage: mutant.py soak|serve|show ... (see the opening comment)")


if __name__ == "__main__":
    main()
