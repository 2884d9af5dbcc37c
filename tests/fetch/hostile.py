#!/usr/bin/env python3
"""hostile.py - a misbehaving HTTP/1.1 server for testing weft's fetch
example, and the runner that checks one fetch run against it.

  hostile.py serve [--log FILE] [--lifetime SECONDS]

    Listens on 127.0.0.1 on a port the kernel picks, and on 127.0.0.2 with
    the same port when it can (a second host name for the off-site rules).
    Prints the port, then "127.0.0.2" or "-", one per line, and serves each
    connection on its own thread.  It exits on SIGTERM, when its parent
    dies, or after --lifetime seconds (default 7200: only an orphan's bound), so it is never left
    behind.  With --log it appends one line per event, for the runner:

      T open CID HOST      a connection was accepted on HOST
      T req CID HOST PATH  a request head was read
      T done CID BYTES     the response is complete but for its last write
      T abort CID          the handler gave up (client gone, or it stalls)
      T close CID          the connection was closed

    "done" is logged before the last byte leaves, so a request's req..done
    interval lies inside the client's own view of it: the number of
    overlapping intervals is a lower bound on fetch's requests in flight.

  hostile.py run --port P --log FILE [--limit S] [--exit N] [--sigint S]
                 [--sigint-at-reqs N] [--stdin FILE] [--records FILE] [--name NAME]
                 [--expect EXPR]... -- FETCH ARG...

    Empties the log, runs fetch once (SIGINT default in the child, killed
    if it runs 15 s past --limit), then checks the run and prints one line
    per failure; exits 1 if any.  Always checked: the exit status (one of
    the comma-separated --exit list, default 0), no sanitizer report on
    stderr, the wall clock within --limit, every output line a JSON record
    with the fields fetch documents, no URL recorded twice, no path served
    twice, and a record for every path served (but /robots.txt).  After
    exit 0, the summary line must be there and count the records and their
    errors; after any other exit, stderr must say why; after exit 2 (a
    usage error) there must be no records.  --sigint-at-reqs N sends
    SIGINT once the log holds N requests (a state, not a guess at how
    long fetch takes to send them), and the run must then end within
    --limit of the signal.  Each --expect is Python run with the helpers below
    (one, absent, served, never, inflight_max, check, rss_below, ...).

Paths served (a link page lists every hostile one):
  / and /ok          200 text/html linking every hostile path below, plus
                     an off-site link to 127.0.0.2
  /bad-status        "HTTP/1.1 abc" as the status line
  /bad-header        a header line without a colon
  /huge-header       about 100 KiB of X-Junk headers before the body
  /bad-chunk         chunked, with a chunk size that is not hex
  /big-body          Content-Length 1,000,000 and the whole body
  /big-chunked       the same 1 MB, chunked, no Content-Length
  /big-close         the same 1 MB, read to close, no length at all
  /drip              Content-Length 50,000, one body byte per second
  /reset             10,000 of 100,000 promised bytes, then a TCP reset
  /close-early       keep-alive, 100 of 5,000 promised bytes, then FIN
  /slow-headers      the status line, then nothing
  /redirect-loop/N   302 to /redirect-loop/N+1, without end
  /loop-a, /loop-b   302 to each other (absolute, then relative Location)
  /many-links        200 with 100,000 distinct links to /many/<i> (404)
  /slow/MS/<any>     200 after MS milliseconds (gives up if the client goes)
  /page/<any>        a small 200 page without links
  /dups              /dup-target linked three ways, and itself
  /offsite-page      links to /offsite-target on 127.0.0.2 and 127.0.0.1
  /robots.txt        "Disallow: /private/"
  /robots-page       links to /private/a, /private/b and /public/a
  anything else      404
"""

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ADDR = "127.0.0.1"
ALT = "127.0.0.2"
BIG = 1000000
MANY = 100000

HOSTILE = [
    "/bad-status", "/bad-header", "/huge-header", "/bad-chunk", "/big-body",
    "/big-chunked", "/big-close", "/drip", "/reset", "/close-early",
    "/slow-headers", "/redirect-loop/0", "/loop-a", "/many-links",
]


# ---------------------------------------------------------------- server

class Log:
    """Appends event lines to the log file (O_APPEND, so the runner may
    empty it while the server runs). Any thread."""

    def __init__(self, path):
        self.f = open(path, "a") if path else None
        self.lock = threading.Lock()

    def event(self, *fields):
        if not self.f:
            return
        with self.lock:
            self.f.write("%.6f %s\n" % (time.monotonic(),
                                        " ".join(str(x) for x in fields)))
            self.f.flush()


class Exchange:
    """One request on one connection: the socket and the log handle."""

    def __init__(self, conn, cid, log, port):
        self.conn = conn
        self.cid = cid
        self.log = log
        self.port = port
        self.ended = False

    def send(self, data):
        self.conn.sendall(data if isinstance(data, bytes) else data.encode())

    def finish(self, data, body_len):
        """Logs "done", then writes the last bytes of the response."""
        self.ended = True
        self.log.event("done", self.cid, body_len)
        self.send(data)

    def abort(self):
        if not self.ended:
            self.ended = True
            self.log.event("abort", self.cid)


def connected_for(conn, secs):
    """Waits secs seconds; False as soon as the client closes or resets.
    A client that sends more meanwhile is not watched any further."""
    end = time.monotonic() + secs
    ready, _, _ = select.select([conn], [], [], secs)
    if not ready:
        return True
    try:
        if conn.recv(1, socket.MSG_PEEK) == b"":
            return False
    except OSError:
        return False
    time.sleep(max(0.0, end - time.monotonic()))
    return True


def head(status, reason, fields):
    lines = ["HTTP/1.1 %d %s" % (status, reason)]
    lines += ["%s: %s" % kv for kv in fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def respond(ex, status, reason, body, ctype="text/html", fields=()):
    body = body.encode() if isinstance(body, str) else body
    h = head(status, reason, [("Content-Type", ctype),
                              ("Content-Length", len(body))] + list(fields))
    ex.finish(h + body, len(body))
    return True


def links_page(title, hrefs):
    items = "".join('<li><a href="%s">%s</a></li>\n' % (h, h) for h in hrefs)
    return ("<!DOCTYPE html>\n<html><head><title>%s</title></head>\n"
            "<body><h1>%s</h1>\n<ul>\n%s</ul></body></html>\n"
            % (title, title, items))


def ok_links(port):
    """The /ok page's links: relative, absolute-path and absolute forms."""
    hrefs = ["/ok", "/missing", "bad-status"] + HOSTILE[1:]
    hrefs[hrefs.index("/reset")] = "http://%s:%d/reset" % (ADDR, port)
    return hrefs + ["http://%s:%d/offsite-target" % (ALT, port)]


MANY_BODY = None


def many_body():
    global MANY_BODY
    if MANY_BODY is None:
        parts = ["<!DOCTYPE html>\n<html><body>\n"]
        parts += ['<a href="/many/%d">%d</a>\n' % (i, i) for i in range(MANY)]
        parts.append("</body></html>\n")
        MANY_BODY = "".join(parts).encode()
    return MANY_BODY


def stream_big(ex, fields, chunked):
    ex.send(head(200, "OK", [("Content-Type", "text/html")] + fields))
    piece = b"<p>" + b"b" * 16377 + b"</p>\n"
    sent = 0
    while sent < BIG:
        n = min(len(piece), BIG - sent)
        data = piece[:n]
        if chunked:
            data = b"%x\r\n%s\r\n" % (n, data)
        sent += n
        if sent < BIG:
            ex.send(data)
        else:
            ex.finish(data + (b"0\r\n\r\n" if chunked else b""), BIG)


def route_hostile(ex, path):
    """The misbehaving responses. Returns whether the connection may be
    reused, or None if the path is not one of them."""
    if path == "/bad-status":
        ex.finish(b"HTTP/1.1 abc\r\nContent-Length: 2\r\n\r\nhi", 2)
        return False
    if path == "/bad-header":
        ex.finish(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                  b"this header line has no colon\r\n"
                  b"Content-Length: 2\r\n\r\nhi", 2)
        return False
    if path == "/huge-header":
        ex.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n")
        for i in range(100):
            ex.send(b"X-Junk-%03d: %s\r\n" % (i, b"j" * 1010))
        ex.finish(b"Content-Length: 2\r\n\r\nhi", 2)
        return False
    if path == "/bad-chunk":
        ex.finish(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n"
                  b"zz\r\nhello\r\n0\r\n\r\n", 5)
        return False
    if path == "/big-body":
        stream_big(ex, [("Content-Length", BIG)], False)
        return True
    if path == "/big-chunked":
        stream_big(ex, [("Transfer-Encoding", "chunked")], True)
        return True
    if path == "/big-close":
        stream_big(ex, [("Connection", "close")], False)
        return False
    if path == "/drip":
        ex.send(head(200, "OK", [("Content-Type", "text/html"),
                                 ("Content-Length", 50000)]))
        while connected_for(ex.conn, 1.0):
            ex.send(b"d")
        return False
    if path == "/reset":
        ex.send(head(200, "OK", [("Content-Type", "text/html"),
                                 ("Content-Length", 100000)]))
        ex.send(b"r" * 10000)
        time.sleep(0.2)
        ex.conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                           b"\x01\x00\x00\x00\x00\x00\x00\x00")
        return False
    if path == "/close-early":
        ex.send(head(200, "OK", [("Content-Type", "text/html"),
                                 ("Content-Length", 5000),
                                 ("Connection", "keep-alive")]))
        ex.send(b"c" * 100)
        ex.conn.shutdown(socket.SHUT_WR)
        return False
    if path == "/slow-headers":
        ex.send(b"HTTP/1.1 200 OK\r\n")
        while connected_for(ex.conn, 1.0):
            pass
        return False
    return None


def route_pages(ex, path):
    """The well-formed responses."""
    base = "http://%s:%d" % (ADDR, ex.port)
    m = re.fullmatch(r"/redirect-loop/(\d+)", path)
    if m:
        return respond(ex, 302, "Found", "",
                       fields=[("Location",
                                "/redirect-loop/%d" % (int(m.group(1)) + 1))])
    if path == "/loop-a":
        return respond(ex, 302, "Found", "",
                       fields=[("Location", base + "/loop-b")])
    if path == "/loop-b":
        return respond(ex, 302, "Found", "", fields=[("Location", "/loop-a")])
    m = re.fullmatch(r"/slow/(\d+)(/.*)?", path)
    if m:
        if not connected_for(ex.conn, int(m.group(1)) / 1000.0):
            return False
        return respond(ex, 200, "OK", links_page(path, []))
    if path in ("/", "/ok"):
        return respond(ex, 200, "OK", links_page("ok", ok_links(ex.port)))
    if path == "/many-links":
        return respond(ex, 200, "OK", many_body())
    if path == "/dups":
        return respond(ex, 200, "OK", links_page("dups", [
            "/dup-target", "dup-target", base + "/dup-target", "/dups"]))
    if path == "/offsite-page":
        return respond(ex, 200, "OK", links_page("offsite", [
            "http://%s:%d/offsite-target" % (ALT, ex.port),
            "/page/onsite"]))
    if path == "/robots.txt":
        return respond(ex, 200, "OK", "User-agent: *\nDisallow: /private/\n",
                       ctype="text/plain")
    if path == "/robots-page":
        return respond(ex, 200, "OK", links_page("robots", [
            "/private/a", "/private/b", "/public/a"]))
    if (path.startswith("/page/") or path.startswith("/private/")
            or path in ("/public/a", "/dup-target", "/offsite-target")):
        return respond(ex, 200, "OK", links_page(path, []))
    return respond(ex, 404, "Not Found", links_page("not found", []))


def read_head(conn, buf):
    """Reads up to the end of a request head. Returns (head, rest), or
    (None, b"") at end of stream or when the head exceeds 64 KiB."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            return buf[:end], buf[end + 4:]
        if len(buf) > 65536:
            return None, b""
        data = conn.recv(65536)
        if not data:
            return None, b""
        buf += data


def parse_request(raw):
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return None
    fields = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    target = parts[1]
    if target.startswith("http://"):
        u = urllib.parse.urlsplit(target)
        target = (u.path or "/") + ("?" + u.query if u.query else "")
    return parts[0], target, parts[2], fields


def serve_conn(conn, cid, port, log):
    host = conn.getsockname()[0]
    log.event("open", cid, host)
    buf = b""
    try:
        while True:
            raw, buf = read_head(conn, buf)
            if raw is None:
                break
            req = parse_request(raw)
            if req is None:
                conn.sendall(head(400, "Bad Request",
                                  [("Content-Length", 0),
                                   ("Connection", "close")]))
                break
            method, path, version, fields = req
            log.event("req", cid, host, path)
            ex = Exchange(conn, cid, log, port)
            try:
                keep = route_hostile(ex, path)
                if keep is None:
                    keep = route_pages(ex, path)
            finally:
                ex.abort()
            if (not keep or version != "HTTP/1.1"
                    or fields.get("connection", "").lower() == "close"):
                break
    except OSError:
        pass
    finally:
        conn.close()
        log.event("close", cid)


def serve(argv):
    log_path, lifetime = None, 7200.0
    while argv:
        opt = argv.pop(0)
        if opt == "--log":
            log_path = argv.pop(0)
        elif opt == "--lifetime":
            lifetime = float(argv.pop(0))
        else:
            sys.exit("hostile: serve: unknown option %s" % opt)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    log = Log(log_path)
    listeners = [socket.socket()]
    listeners[0].bind((ADDR, 0))
    port = listeners[0].getsockname()[1]
    alt = socket.socket()
    try:
        alt.bind((ALT, port))
        listeners.append(alt)
    except OSError:
        alt.close()
    for s in listeners:
        s.listen(256)
    many_body()
    print(port, flush=True)
    print(ALT if len(listeners) > 1 else "-", flush=True)
    parent = os.getppid()
    deadline = time.monotonic() + lifetime
    cid = 0
    while time.monotonic() < deadline and os.getppid() == parent:
        ready, _, _ = select.select(listeners, [], [], 0.5)
        for s in ready:
            conn, _ = s.accept()
            cid += 1
            threading.Thread(target=serve_conn, args=(conn, cid, port, log),
                             daemon=True).start()
    os._exit(0)


# ---------------------------------------------------------------- runner

FIELDS = {"url": str, "status": int, "bytes": int, "ms": int, "depth": int,
          "links": int, "attempts": int}
OPTIONAL = {"redirect": str, "error": str}
SANITIZER = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|"
                       r"WARNING: ThreadSanitizer|runtime error:")
SUMMARY = re.compile(r"fetched (\d+) pages? \((\d+) errors?\), (\d+) bytes "
                     r"in ([0-9.]+) s, ([0-9.]+) pages/s")


class Run:
    """One fetch run, its records and the server's log of it."""

    def __init__(self, port, name):
        self.port = port
        self.name = name
        self.failures = []

    def fail(self, msg):
        self.failures.append(msg)

    def key(self, url):
        """(host, path) of a URL on the hostile server, else None."""
        try:
            u = urllib.parse.urlsplit(url)
            if u.scheme != "http" or u.port != self.port:
                return None
            return (u.hostname, (u.path or "/") +
                    ("?" + u.query if u.query else ""))
        except ValueError:
            return None


def parse_records(run, text):
    recs = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for i, line in enumerate(lines, 1):
        try:
            rec = json.loads(line)
        except ValueError as e:
            run.fail("output line %d is not JSON (%s): %r" % (i, e, line[:200]))
            continue
        if not isinstance(rec, dict):
            run.fail("output line %d is not an object: %r" % (i, line[:200]))
            continue
        bad = [k for k, t in FIELDS.items()
               if not isinstance(rec.get(k), t) or isinstance(rec.get(k), bool)]
        bad += [k for k, t in OPTIONAL.items()
                if k in rec and not isinstance(rec[k], t)]
        if bad:
            run.fail("record %d: missing or mistyped %s: %r"
                     % (i, ", ".join(bad), line[:200]))
            continue
        if any(rec[k] < 0 for k in FIELDS if k != "url"):
            run.fail("record %d: negative number: %r" % (i, line[:200]))
        if rec["status"] == 0 and "error" not in rec:
            run.fail("record %d: status 0 without an error: %r" % (i, line))
        if (rec["status"] in (301, 302, 303, 307, 308)
                and "error" not in rec and "redirect" not in rec):
            run.fail("record %d: a %d without \"redirect\": %r"
                     % (i, rec["status"], line))
        recs.append(rec)
    seen = {}
    for rec in recs:
        seen[rec["url"]] = seen.get(rec["url"], 0) + 1
    for url, n in seen.items():
        if n > 1:
            run.fail("%s recorded %d times" % (url, n))
    return recs


def parse_log(path):
    """Requests as dicts: host, path, t (req), end (done time or None),
    bytes (body length when done)."""
    reqs, current = [], {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            t, ev, cid = float(parts[0]), parts[1], parts[2]
            if ev == "req":
                r = {"host": parts[3], "path": parts[4], "t": t, "end": None,
                     "bytes": None, "aborted": False}
                reqs.append(r)
                current[cid] = r
            elif ev in ("done", "abort") and cid in current:
                r = current.pop(cid)
                r["end"] = t
                if ev == "done":
                    r["bytes"] = int(parts[3])
                else:
                    r["aborted"] = True
    return reqs


def check_summary(run, err, recs):
    m = SUMMARY.search(err)
    if not m:
        run.fail("no summary line 'fetched N pages (E errors), B bytes in S s,"
                 " R pages/s' on stderr")
        return None
    n, e = int(m.group(1)), int(m.group(2))
    errors = sum(1 for r in recs if "error" in r)
    if n != len(recs) or e != errors:
        run.fail("summary says %d pages (%d errors), the output has %d "
                 "records (%d errors): %r" % (n, e, len(recs), errors,
                                              m.group(0)))
    return m.groups()


def check_served(run, recs, reqs):
    """Each path served at most as often as its record's "attempts" (once
    without a record), and each one served has a record."""
    count = {}
    for r in reqs:
        k = (r["host"], r["path"])
        count[k] = count.get(k, 0) + 1
    recorded = {run.key(rec["url"]) for rec in recs}
    attempts = {run.key(rec["url"]): max(1, rec.get("attempts", 1))
                for rec in recs}
    for (host, path), n in sorted(count.items()):
        if n > attempts.get((host, path), 1):
            run.fail("http://%s:%d%s requested %d times, its record says %d "
                     "attempts" % (host, run.port, path, n,
                                   attempts.get((host, path), 1)))
        if path != "/robots.txt" and (host, path) not in recorded:
            run.fail("http://%s:%d%s was requested but has no record"
                     % (host, run.port, path))
    for rec in recs:
        if run.key(rec["url"]) == (ADDR, "/robots.txt") or \
                run.key(rec["url"]) == (ALT, "/robots.txt"):
            run.fail("robots.txt has a record: %r" % rec)


def sanitized(cmd):
    """Whether the fetch binary (or the one its libtool wrapper runs)
    carries sanitizer instrumentation, which costs memory."""
    exe = cmd[0]
    cands = [exe]
    d, b = os.path.split(exe)
    cands += [os.path.join(d, ".libs", b), os.path.join(d, ".libs", "lt-" + b)]
    for c in cands:
        try:
            with open(c, "rb") as f:
                data = f.read()
        except OSError:
            continue
        if b"__asan_init" in data or b"__tsan_init" in data:
            return True
    return False


def helpers(run, recs, reqs, extra):
    """The names an --expect expression may use."""

    def matching(path, host):
        if "://" in path:
            return [r for r in recs if r["url"] == path]
        return [r for r in recs if run.key(r["url"]) == (host, path)]

    def one(path, status=None, error=None, links=None, depth=None,
            redirect=None, nbytes=None, host=ADDR):
        """The single record of http://HOST:PORT/PATH (or of the URL PATH
        when it has a scheme), checked: status is an
        int or a tuple of allowed ones; error None = any, False = none,
        "" = some, or "kw|kw" (one must occur, any case); links and nbytes
        an int or (lo, hi); redirect a suffix of the "redirect" field."""
        found = matching(path, host)
        if len(found) != 1:
            run.fail("%s: expected one record, found %d" % (path, len(found)))
            return None
        r = found[0]
        what = "%s: %s" % (path, json.dumps(r))
        if status is not None:
            allowed = status if isinstance(status, tuple) else (status,)
            if r["status"] not in allowed:
                run.fail("%s: status should be %s" % (what, " or ".join(
                    str(s) for s in allowed)))
        if error is False and "error" in r:
            run.fail("%s: unexpected error" % what)
        if isinstance(error, str) and "error" not in r:
            run.fail("%s: should have an error" % what)
        elif isinstance(error, str):
            e = r["error"].lower()
            if not any(k.lower() in e for k in error.split("|")):
                run.fail("%s: error should mention %s" % (
                    what, " or ".join(repr(k) for k in error.split("|"))))
        for field, want in (("links", links), ("bytes", nbytes)):
            if want is None:
                continue
            lo, hi = want if isinstance(want, tuple) else (want, want)
            if not lo <= r[field] <= hi:
                run.fail("%s: %s should be %s" % (what, field, lo if lo == hi
                                                  else "%d..%d" % (lo, hi)))
        if depth is not None and r["depth"] != depth:
            run.fail("%s: depth should be %d" % (what, depth))
        if redirect is not None and not r.get("redirect", "").endswith(
                redirect):
            run.fail("%s: \"redirect\" should end with %s" % (what, redirect))
        return r

    def absent(path, host=ADDR):
        if matching(path, host):
            run.fail("%s on %s should have no record" % (path, host))

    def served(path, n=1, host=ADDR):
        got = sum(1 for r in reqs if (r["host"], r["path"]) == (host, path))
        if got != n:
            run.fail("%s on %s: served %d times, expected %d"
                     % (path, host, got, n))

    def attempts(path, host=ADDR):
        """The "attempts" of path's record (1 when it has none)."""
        found = matching(path, host)
        return found[0].get("attempts", 1) if found else 1

    def never(prefix, host=None):
        for r in reqs:
            if r["path"].startswith(prefix) and host in (None, r["host"]):
                run.fail("%s on %s was requested" % (r["path"], r["host"]))

    def body_bytes(path, host=ADDR):
        for r in reqs:
            if (r["host"], r["path"]) == (host, path) and r["bytes"] is not None:
                return r["bytes"]
        run.fail("%s: the server did not complete it" % path)
        return -1

    def inflight_max():
        events = []
        for r in reqs:
            events.append((r["t"], 1))
            events.append((r["end"] if r["end"] is not None else 1e18, -1))
        most = cur = 0
        for _, d in sorted(events, key=lambda e: (e[0], e[1])):
            cur += d
            most = max(most, cur)
        return most

    def unfinished():
        """Paths whose response the server never completed."""
        return [r["path"] for r in reqs if r["bytes"] is None]

    def check(cond, msg):
        if not cond:
            run.fail(msg)

    def rss_below(mb):
        limit = mb * (3 if extra["sanitized"] else 1)
        if extra["rss_mb"] >= limit:
            run.fail("peak RSS %.0f MB, limit %d MB" % (extra["rss_mb"], limit))

    names = dict(one=one, absent=absent, served=served, never=never,
                 attempts=attempts,
                 body_bytes=body_bytes, inflight_max=inflight_max,
                 unfinished=unfinished, check=check, rss_below=rss_below,
                 records=recs, requests=reqs, ADDR=ADDR, ALT=ALT,
                 HOSTILE=HOSTILE, BIG=BIG, MANY=MANY, port=run.port,
                 base="http://%s:%d" % (ADDR, run.port))
    names.update(extra)
    return names


def count_reqs(log_path):
    """How many requests the log holds, /robots.txt's aside."""
    try:
        with open(log_path) as f:
            return sum(1 for line in f
                       if line.split()[1:2] == ["req"] and line.split()[4:5] != ["/robots.txt"])
    except OSError:
        return 0


def execute(cmd, stdin_path, sigint, limit, out_path, err_path, sigint_reqs=None, log_path=None):
    """Runs fetch. Returns (status, wall seconds, peak RSS in MB, killed);
    status is the exit code, or -signal. With sigint_reqs, SIGINT goes
    once the log holds that many requests, and the wall seconds count
    from the signal."""
    def child_setup():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)

    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.monotonic()
        p = subprocess.Popen(cmd, stdin=stdin, stdout=out, stderr=err,
                             preexec_fn=child_setup)
    interrupted = sigint is None and sigint_reqs is None
    killed = False
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        elapsed = time.monotonic() - start
        if not interrupted and (elapsed >= sigint if sigint_reqs is None
                                else count_reqs(log_path) >= sigint_reqs):
            p.send_signal(signal.SIGINT)
            interrupted = True
            if sigint_reqs is not None:
                start = time.monotonic()  # --limit counts from the signal
                elapsed = 0
        # Before a --sigint-at-reqs signal the wait is for fetch to get
        # its requests out: a hang guard only.
        guard = 120 if not interrupted and sigint_reqs is not None else limit + 15
        if not killed and elapsed > guard:
            p.kill()
            killed = True
        time.sleep(0.01)
    wall = time.monotonic() - start
    p.returncode = 0
    if stdin_path:
        stdin.close()
    code = (os.WEXITSTATUS(status) if os.WIFEXITED(status)
            else -os.WTERMSIG(status))
    return code, wall, usage.ru_maxrss / 1024.0, killed


def run_fetch(argv):
    opts = {"--port": None, "--log": None, "--limit": "10", "--exit": "0",
            "--sigint": None, "--sigint-at-reqs": None, "--stdin": None, "--records": None,
            "--name": "fetch"}
    expects = []
    while argv and argv[0] != "--":
        opt = argv.pop(0)
        if opt == "--expect":
            expects.append(argv.pop(0))
        elif opt in opts:
            opts[opt] = argv.pop(0)
        else:
            sys.exit("hostile: run: unknown option %s" % opt)
    cmd = argv[1:]
    if not cmd or opts["--port"] is None or opts["--log"] is None:
        sys.exit("hostile: run: need --port, --log and -- FETCH ARG...")
    run = Run(int(opts["--port"]), opts["--name"])
    limit = float(opts["--limit"])
    open(opts["--log"], "w").close()
    if opts["--records"] and os.path.exists(opts["--records"]):
        os.unlink(opts["--records"])
    with tempfile.TemporaryDirectory() as tmp:
        out_path, err_path = os.path.join(tmp, "out"), os.path.join(tmp, "err")
        code, wall, rss_mb, killed = execute(
            cmd, opts["--stdin"],
            None if opts["--sigint"] is None else float(opts["--sigint"]),
            limit, out_path, err_path,
            None if opts["--sigint-at-reqs"] is None else int(opts["--sigint-at-reqs"]),
            opts["--log"])
        time.sleep(0.05)
        with open(out_path, "rb") as f:
            stdout = f.read().decode("utf-8", "replace")
        out = stdout
        if opts["--records"]:
            try:
                with open(opts["--records"], "rb") as f:
                    out = f.read().decode("utf-8", "replace")
            except OSError as e:
                run.fail("no records file: %s" % e)
                out = ""
        with open(err_path, "rb") as f:
            err = f.read().decode("utf-8", "replace")
    if killed:
        run.fail("still running %.0f s past its %.1f s limit: killed"
                 % (wall - limit, limit))
    elif wall > limit:
        run.fail("took %.1f s, limit %.1f s" % (wall, limit))
    if code not in [int(x) for x in opts["--exit"].split(",")]:
        run.fail("exit status %s, expected %s" % (
            code if code >= 0 else "signal %d" % -code, opts["--exit"]))
    if SANITIZER.search(err):
        run.fail("sanitizer report on stderr")
    recs = parse_records(run, out)
    summary = None
    if code == 0:
        summary = check_summary(run, err, recs)
    elif not err.strip():
        run.fail("failed without a message on stderr")
    if code == 2 and recs:
        run.fail("a usage error, yet %d records" % len(recs))
    reqs = parse_log(opts["--log"])
    check_served(run, recs, reqs)
    extra = {"wall": wall, "code": code, "rss_mb": rss_mb, "stderr": err,
             "stdout": stdout, "summary": summary,
             "sanitized": sanitized(cmd)}
    names = helpers(run, recs, reqs, extra)
    for expr in expects:
        try:
            exec(compile(expr, "--expect", "exec"), names)
        except Exception as e:  # a broken expectation is a failure too
            run.fail("expectation %r raised %s: %s"
                     % (expr, type(e).__name__, e))
    if run.failures:
        print("FAIL: %s (exit %s, %.1f s, %d records)"
              % (run.name, code, wall, len(recs)))
        print("  command: %s" % " ".join(cmd))
        for msg in run.failures:
            print("  - %s" % msg)
        tail = err.strip().splitlines()[-15:]
        if tail:
            print("  stderr (last lines):")
            for line in tail:
                print("    " + line[:300])
        return 1
    print("ok: %s (%.1f s, %d records, %d requests served)"
          % (run.name, wall, len(recs), len(reqs)))
    return 0


def main():
    argv = sys.argv[1:]
    mode = argv.pop(0) if argv else "serve"
    if mode == "serve":
        serve(argv)
    elif mode == "run":
        sys.exit(run_fetch(argv))
    else:
        sys.exit("usage: hostile.py serve [--log FILE] [--lifetime S] | "
                 "hostile.py run --port P --log FILE [...] -- FETCH ARG...")


if __name__ == "__main__":
    main()
