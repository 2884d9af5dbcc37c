#!/usr/bin/env python3
"""polite.py - a server that stamps each request with the kernel's arrival
time, for testing fetch's pacing, retries, robots.txt statuses and
filters, and the runner that checks one fetch run against its log.

  polite.py serve [--log FILE] [--lifetime SECONDS]

    Listens on one port the kernel picks, on each address of HOSTS below
    (127.0.0.1 to 127.0.0.9: nine host names, each with its own
    robots.txt), and holds a second socket bound on 127.0.0.1 but never
    listening, so that a connection to its port is refused for as long
    as the server runs (a port merely found free could be taken by
    another process meanwhile).  Prints the port, then the refused port,
    one per line.  Serves each connection on its own thread.  It exits
    on SIGTERM, when its parent dies, or after --lifetime seconds
    (default 7200: only an orphan's bound).  With --log it appends hostile.py's event lines (open,
    req, done, close), except that a "req" line's time is when the
    kernel received the first segment of the request head (see
    Arrival times below), followed by "kernel", or "user" when no kernel
    stamp came with the data.

  polite.py run --port P --log FILE [...] -- FETCH ARG...

    hostile.py's runner (see there: the exit status, the JSON of every
    record, one record per URL, the summary, ...) with these helpers
    added for --expect:

      arrivals(host, path=None)  the arrival times (s) of host's requests
                                 (of path only, if given), sorted
      gaps(host, path=None)      the gaps between them, in ms
      paced(host, ms)            check that every gap of host is at least
                                 ms - SLACK_MS, and print the shortest
      spread(host, ms)           check that some gap of host is < ms
      interleaved(a, b)          the most requests to host b that arrive
                                 between two consecutive ones to host a
      stamped()                  check that every request carried a
                                 kernel stamp

Arrival times.  Fetch claims each send to a paced host on its monotonic
clock right before send(2) (hosts.h, pacing).  The server must not stand
in for that clock with the moment its Python thread got round to reading,
which scheduling can delay by any amount.  So SO_TIMESTAMPNS is set on
the listening sockets, and accepted ones inherit it: the kernel, which
turns stamping on moments after the first such setsockopt (long before
the first request), stamps every segment as it arrives, on loopback in
the sender's own send(2) (netif_rx).  Before reading a request head the
server peeks one byte with recvmsg to get the SCM_TIMESTAMPNS of its
first segment (fetch sends one request at a time per connection and
never pipelines).  The stamp is on CLOCK_REALTIME; it is moved to
CLOCK_MONOTONIC by the offset between the two clocks read together, so a
step of the wall clock during a run does not show as a gap (NTP slews
both clocks alike).

Hosts (Host header) and their robots.txt:
  127.0.0.1  plain     200, "Disallow: /private/", no Crawl-delay
  127.0.0.2  slow      200, "Crawl-delay: 0.5"
  127.0.0.3  glacial   200, "Crawl-delay: 30"
  127.0.0.4  none      404
  127.0.0.5  down      503
  127.0.0.6  broken    the connection is reset once the request is read
  127.0.0.7  junk      200, 64 KiB of random bytes
  127.0.0.8  huge      200, 10 MB: "Disallow: /private/", comments, and
                       past 512 KiB "Disallow: /list/"
  127.0.0.9  longline  200, "Disallow: /private/", a line of 1 MB, then
                       "Disallow: /list/"

Paths served on every host:
  /list/N/           links to /list/N/1 ... /list/N/N
  /list/N/I          a page without links
  /mix/N/HOST/M/     links to /list/N/1 ... /list/N/N and to
                     http://HOST:PORT/list/M/
  /fail/N/KIND/ANY   the first N requests of this exact path get 503
                     (KIND "plain": no Retry-After; "ra1": Retry-After: 1;
                     "yesterday": Retry-After: yesterday; "huge":
                     Retry-After: 99999999), later ones 200
  /reset/ANY         the connection is reset once the request is read
  /blog/             links to /docs/a.html, /docs/b.pdf, /blog/x.html
  /blog/x.html       links to /docs/a.html, /docs/b.pdf
  /docs/a.html       links to /docs/b.pdf, /blog/x.html, itself
  /docs/b.pdf        a few bytes of application/pdf
  anything else      404
"""

import os
import random
import re
import select
import signal
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HOSTS = ["127.0.0.%d" % i for i in range(1, 10)]
PLAIN, SLOW, GLACIAL, NONE, DOWN, BROKEN, JUNK, HUGE, LONGLINE = HOSTS

# Fetch claims a send's time, then sends, and the kernel stamps a
# loopback segment in the sender's own send(2): tens of microseconds after
# the claim. Claims are at least the delay apart, so two arrivals at one
# host are at least the delay apart less that latency of the earlier
# request; 1 ms bounds it with a wide margin. (A worker preempted between
# its claim and its send could exceed it; the two sends would then really
# be closer than the delay, and the failure would be fetch's.)
SLACK_MS = 1.0

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux's value
TIMESPEC = struct.Struct("ll")

ROBOTS = {
    PLAIN: (200, "User-agent: *\nDisallow: /private/\n"),
    SLOW: (200, "User-agent: *\nCrawl-delay: 0.5\nDisallow: /private/\n"),
    GLACIAL: (200, "User-agent: *\nCrawl-delay: 30\nDisallow: /private/\n"),
    NONE: (404, "not here\n"),
    DOWN: (503, "down for maintenance\n"),
    BROKEN: (None, ""),
    # 64 KiB of random bytes (a fixed seed): no rule in it.
    JUNK: (200, random.Random(9309).randbytes(65536)),
    # 10 MB: a rule, then comments, then past the first 512 KiB (all fetch
    # reads) "Disallow: /list/", which must not be obeyed.
    HUGE: (200, ("User-agent: *\nDisallow: /private/\n" +
                 ("# " + "x" * 77 + "\n") * (10 * 1000 * 1000 // 80) +
                 "Disallow: /list/\n")),
    # A rule, then one line of 1 MB, then "Disallow: /list/" after it.
    LONGLINE: (200, ("User-agent: *\nDisallow: /private/\n# " +
                     "y" * (1 << 20) + "\nDisallow: /list/\n")),
}

FAIL_FIELDS = {
    "plain": [],
    "ra1": [("Retry-After", "1")],
    "yesterday": [("Retry-After", "yesterday")],
    "huge": [("Retry-After", "99999999")],
}

FILTER_SITE = {
    "/blog/": ["/docs/a.html", "/docs/b.pdf", "/blog/x.html"],
    "/blog/x.html": ["/docs/a.html", "/docs/b.pdf"],
    "/docs/a.html": ["/docs/b.pdf", "/blog/x.html", "/docs/a.html"],
}


# ---------------------------------------------------------------- server

class Log:
    """Appends event lines to the log file (O_APPEND, so the runner may
    empty it while the server runs). Any thread."""

    def __init__(self, path):
        self.f = open(path, "a") if path else None
        self.lock = threading.Lock()

    def event(self, *fields, t=None):
        if not self.f:
            return
        with self.lock:
            self.f.write("%.6f %s\n" % (time.monotonic() if t is None else t,
                                        " ".join(str(x) for x in fields)))
            self.f.flush()


def realtime_offset():
    """CLOCK_REALTIME minus CLOCK_MONOTONIC, from a pair of readings that
    no preemption split (retried while the bracket exceeds 50 us)."""
    best = None
    for _ in range(20):
        a = time.monotonic()
        r = time.time()
        b = time.monotonic()
        if best is None or b - a < best[0]:
            best = (b - a, r - (a + b) / 2)
        if b - a < 50e-6:
            break
    return best[1]


def arrival(conn):
    """Waits for the next byte and returns (monotonic time its segment
    arrived, "kernel"), or (now, "user") when the kernel gave no stamp.
    None at end of stream or on a reset."""
    try:
        data, anc, _, _ = conn.recvmsg(1, socket.CMSG_SPACE(TIMESPEC.size),
                                       socket.MSG_PEEK)
    except OSError:
        return None
    if not data:
        return None
    for level, kind, raw in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS \
                and len(raw) >= TIMESPEC.size:
            sec, nsec = TIMESPEC.unpack(raw[:TIMESPEC.size])
            return sec + nsec / 1e9 - realtime_offset(), "kernel"
    return time.monotonic(), "user"


def read_head(conn, buf):
    """Reads up to the end of a request head. Returns (head, rest, when),
    when being arrival()'s answer for its first byte, or None at end of
    stream or when the head exceeds 64 KiB."""
    when = None
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            return buf[:end], buf[end + 4:], when
        if len(buf) > 65536:
            return None
        if not buf:
            when = arrival(conn)
            if when is None:
                return None
        try:
            data = conn.recv(65536)
        except OSError:
            return None
        if not data:
            return None
        buf += data


def parse_request(raw):
    """(target, host name from the Host header), or None."""
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return None
    host = ""
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "host":
            host = value.strip()
    host = re.sub(r":\d+$", "", host)
    return parts[1], host


def links_page(title, hrefs):
    items = "".join('<li><a href="%s">%s</a></li>\n' % (h, h) for h in hrefs)
    return ("<!DOCTYPE html>\n<html><head><title>%s</title></head>\n"
            "<body><h1>%s</h1>\n<ul>\n%s</ul></body></html>\n"
            % (title, title, items))


class Server:
    def __init__(self, port, log):
        self.port = port
        self.log = log
        self.lock = threading.Lock()
        self.counts = {}  # under lock: path -> requests so far (/fail/)

    def count(self, path):
        with self.lock:
            self.counts[path] = self.counts.get(path, 0) + 1
            return self.counts[path]

    def route(self, host, path):
        """(status, content type, body, extra header fields), or None to
        reset the connection."""
        html = "text/html"
        if path == "/robots.txt":
            status, text = ROBOTS.get(host, (404, ""))
            return None if status is None else (status, "text/plain", text, [])
        m = re.fullmatch(r"/list/(\d+)/(\d+)?", path)
        if m and m.group(2):
            return 200, html, links_page(path, []), []
        if m:
            n = int(m.group(1))
            return 200, html, links_page(path, [
                "/list/%d/%d" % (n, i) for i in range(1, n + 1)]), []
        m = re.fullmatch(r"/mix/(\d+)/([0-9.]+)/(\d+)/", path)
        if m:
            n = int(m.group(1))
            hrefs = ["/list/%d/%d" % (n, i) for i in range(1, n + 1)]
            hrefs.append("http://%s:%d/list/%s/" % (m.group(2), self.port,
                                                   m.group(3)))
            return 200, html, links_page(path, hrefs), []
        m = re.fullmatch(r"/fail/(\d+)/(\w+)/.*", path)
        if m and m.group(2) in FAIL_FIELDS:
            if self.count(path) <= int(m.group(1)):
                return (503, html, links_page("try later", []),
                        FAIL_FIELDS[m.group(2)])
            return 200, html, links_page(path, []), []
        if path.startswith("/reset/"):
            return None
        if path in FILTER_SITE:
            return 200, html, links_page(path, FILTER_SITE[path]), []
        if path == "/docs/b.pdf":
            return 200, "application/pdf", "%PDF-1.4\n%%EOF\n", []
        return 404, html, links_page("not found", []), []

    def respond(self, conn, cid, status, ctype, body, fields):
        if isinstance(body, str):
            body = body.encode()
        lines = ["HTTP/1.1 %d %s" % (status, "OK" if status == 200 else "-"),
                 "Content-Type: %s" % ctype,
                 "Content-Length: %d" % len(body)]
        lines += ["%s: %s" % kv for kv in fields]
        self.log.event("done", cid, len(body))
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def serve_conn(self, conn, cid):
        addr = conn.getsockname()[0]
        self.log.event("open", cid, addr)
        buf = b""
        try:
            while True:
                got = read_head(conn, buf)
                if got is None:
                    break
                raw, buf, (t, how) = got
                req = parse_request(raw)
                if req is None:
                    break
                path, host = req
                self.log.event("req", cid, addr, path, how, t=t)
                answer = self.route(host, path)
                if answer is None:
                    # SO_LINGER with a zero timeout: close sends a reset.
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
                    self.log.event("abort", cid)
                    break
                self.respond(conn, cid, *answer)
        except OSError:
            self.log.event("abort", cid)
        finally:
            self.log.event("close", cid)
            conn.close()


def listen_all():
    """One listener per address of HOSTS, all on the port the kernel picks
    for the first (tried a few times, in case another process holds that
    port on another address)."""
    for _ in range(20):
        listeners = []
        try:
            for addr in HOSTS:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                listeners.append(s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                s.bind((addr, listeners[0].getsockname()[1]
                        if len(listeners) > 1 else 0))
                s.listen(128)
            return listeners
        except OSError as e:
            err = e
            for s in listeners:
                s.close()
    sys.exit("polite: cannot listen on %s with one port: %s"
             % (", ".join(HOSTS), err))


def serve(argv):
    log_path, lifetime = None, 7200.0
    while argv:
        opt = argv.pop(0)
        if opt == "--log":
            log_path = argv.pop(0)
        elif opt == "--lifetime":
            lifetime = float(argv.pop(0))
        else:
            sys.exit("polite: serve: unknown option %s" % opt)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    listeners = listen_all()
    refused = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    refused.bind((PLAIN, 0))  # bound, never listening: connections refused
    port = listeners[0].getsockname()[1]
    server = Server(port, Log(log_path))
    print(port, flush=True)
    print(refused.getsockname()[1], flush=True)
    parent = os.getppid()
    deadline = time.monotonic() + lifetime
    cid = 0
    while time.monotonic() < deadline and os.getppid() == parent:
        ready, _, _ = select.select(listeners, [], [], 0.5)
        for s in ready:
            conn, _ = s.accept()
            cid += 1
            threading.Thread(target=server.serve_conn, args=(conn, cid),
                             daemon=True).start()
    os._exit(0)


# ---------------------------------------------------------------- runner

def read_stamps(path):
    """(host, path, arrival time, stamp kind) of each request in the log."""
    out = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 6 and p[1] == "req":
                out.append((p[3], p[4], float(p[0]), p[5]))
    return out


def pacing_helpers(run, log_path):
    stamps = read_stamps(log_path)

    def arrivals(host, path=None):
        return sorted(t for h, p, t, _ in stamps
                      if h == host and path in (None, p))

    def gaps(host, path=None):
        ts = arrivals(host, path)
        return [(b - a) * 1000.0 for a, b in zip(ts, ts[1:])]

    def paced(host, ms):
        """Says the shortest gap, for the margin's sake."""
        g = gaps(host)
        if not g:
            run.fail("%s: fewer than two requests, nothing to pace" % host)
        elif min(g) < ms - SLACK_MS:
            run.fail("%s: two requests %.3f ms apart, the delay is %d ms "
                     "(gaps: %s)" % (host, min(g), ms,
                                     " ".join("%.1f" % x for x in g)))
        else:
            print("  %s: %d gaps, the shortest %.3f ms (delay %d ms)"
                  % (host, len(g), min(g), ms))

    def spread(host, ms):
        g = gaps(host)
        if not g or min(g) >= ms:
            run.fail("%s: no two requests closer than %d ms, yet nothing "
                     "paces them (gaps: %s)" % (host, ms, " ".join(
                         "%.1f" % x for x in g)))

    def interleaved(a, b):
        ta, tb = arrivals(a), arrivals(b)
        return max([sum(1 for t in tb if lo < t < hi)
                    for lo, hi in zip(ta, ta[1:])] or [0])

    def stamped():
        users = [h for h, _, _, how in stamps if how != "kernel"]
        if users:
            run.fail("%d request(s) without a kernel arrival stamp"
                     % len(users))

    return dict(arrivals=arrivals, gaps=gaps, paced=paced, spread=spread,
                interleaved=interleaved, stamped=stamped, SLACK_MS=SLACK_MS,
                PLAIN=PLAIN, SLOW=SLOW, GLACIAL=GLACIAL, NONE=NONE,
                DOWN=DOWN, BROKEN=BROKEN, JUNK=JUNK, HUGE=HUGE,
                LONGLINE=LONGLINE)


def run_fetch(argv):
    """hostile.py's runner, its --expect names extended by pacing_helpers
    (hostile.helpers is wrapped: it builds the names an --expect sees)."""
    sys.path.insert(0, HERE)
    import hostile
    log_path = argv[argv.index("--log") + 1] if "--log" in argv else None
    base = hostile.helpers

    def helpers(run, recs, reqs, extra):
        names = base(run, recs, reqs, extra)
        names.update(pacing_helpers(run, log_path))
        return names

    hostile.helpers = helpers
    return hostile.run_fetch(argv)


def main():
    argv = sys.argv[1:]
    mode = argv.pop(0) if argv else "serve"
    if mode == "serve":
        serve(argv)
    elif mode == "run":
        sys.exit(run_fetch(argv))
    else:
        sys.exit("usage: polite.py serve [--log FILE] [--lifetime S] | "
                 "polite.py run --port P --log FILE [...] -- FETCH ARG...")


if __name__ == "__main__":
    main()
