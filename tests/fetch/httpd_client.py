#!/usr/bin/env python3
"""Drive examples/httpd/httpd over raw sockets and check what it answers.

Usage: httpd_client.py HTTPD TMPDIR

Builds a site under TMPDIR/site (files of every served type, directories
with and without index.html, symbolic links inside and out) next to a
secret file outside it, starts two servers on port 0 (one with default
deadlines, one with 1-second ones), runs every check in order and prints
one line per check. The first failure prints "FAIL: ..." and exits 1;
the servers are killed whatever happens. Uses the python3 standard
library only.
"""

import hashlib
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import time
import traceback

IO_TIMEOUT = 15.0  # seconds any single read or write may take
CLIENTS = 1000  # concurrent connections of the load check
SHORT_MS = 1000  # the deadlines of the second server


class Failure(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise Failure(msg)


# --------------------------------------------------------------------------
# The site


def build_site(tmp):
    """Create TMPDIR/site and TMPDIR/secret.txt; return (site, files, secret)."""
    site = os.path.join(tmp, "site")
    secret = b"TOP-SECRET-" + os.urandom(8).hex().encode()
    files = {
        "index.html": b"<html><body>root index</body></html>\n",
        "page.html": b"<html><p>a page</p></html>\n",
        "a.txt": b"hello from a.txt\n",
        "style.css": b"body { color: black; }\n",
        "app.js": b"console.log('weft');\n",
        "data.json": b'{"weft": true}\n',
        "img.png": b"\x89PNG\r\n\x1a\n" + os.urandom(300),
        "photo.jpg": b"\xff\xd8\xff\xe0" + os.urandom(500),
        "photo2.jpeg": b"\xff\xd8\xff\xe1" + os.urandom(50),
        "anim.gif": b"GIF89a" + os.urandom(100),
        "logo.svg": b'<svg xmlns="http://www.w3.org/2000/svg"/>\n',
        "favicon.ico": b"\x00\x00\x01\x00" + os.urandom(60),
        "doc.pdf": b"%PDF-1.4\n" + os.urandom(200),
        "feed.xml": b"<?xml version='1.0'?><feed/>\n",
        "blob.bin": os.urandom(777),
        "noext": b"no extension here\n",
        "UPPER.PNG": b"\x89PNG upper\n",
        "empty.txt": b"",
        "with space.txt": b"a name with a space\n",
        "mid.bin": os.urandom(100 * 1024 + 17),
        "big.bin": os.urandom(3 * 1024 * 1024 + 123),
        "sub/index.html": b"<html>sub index</html>\n",
        "sub/page.txt": b"sub page\n",
        "sub/deeper/index.html": b"<html>deeper index</html>\n",
        "noindex/x.txt": b"a directory without an index\n",
        "evil/placeholder.txt": b"evil's index.html points outside\n",
    }
    for name, data in files.items():
        path = os.path.join(site, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    with open(os.path.join(tmp, "secret.txt"), "wb") as f:
        f.write(secret)
    # A 16 MiB file, sparse, for the send deadline.
    with open(os.path.join(site, "huge.bin"), "wb") as f:
        f.truncate(16 * 1024 * 1024)
    os.symlink("a.txt", os.path.join(site, "link.txt"))  # inside: allowed
    os.symlink("../secret.txt", os.path.join(site, "out"))
    os.symlink("..", os.path.join(site, "outdir"))
    os.symlink("../../secret.txt", os.path.join(site, "sub", "up"))
    os.symlink("../../secret.txt", os.path.join(site, "evil", "index.html"))
    return site, files, secret


# --------------------------------------------------------------------------
# HTTP over a raw socket


def request(method, target, version="1.1", headers=None, host=True):
    lines = ["%s %s HTTP/%s" % (method, target, version)]
    if host:
        lines.append("Host: 127.0.0.1")
    for name, value in headers or []:
        lines.append("%s: %s" % (name, value))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case name -> list of values
        self.body = body

    def header(self, name):
        values = self.headers.get(name.lower(), [])
        if len(values) > 1:
            raise Failure("header %s appears %d times" % (name, len(values)))
        return values[0] if values else None

    def length(self):
        value = self.header("Content-Length")
        expect(value is not None and value.isdigit(), "bad or missing Content-Length: %r" % value)
        return int(value)


def parse_head(head):
    """Parse a response head (bytes, without the blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    m = re.fullmatch(r"HTTP/1\.[01] (\d{3}) (.*)", lines[0])
    expect(m, "bad status line %r" % lines[0])
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        expect(sep and name and name == name.strip(), "bad header line %r" % line)
        headers.setdefault(name.lower(), []).append(value.strip())
    return int(m.group(1)), m.group(2), headers


class Client:
    """One connection to the server, reading responses off a buffer."""

    def __init__(self, port, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(IO_TIMEOUT)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def fill(self):
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            raise Failure("no answer within %.0f s" % IO_TIMEOUT)
        if not data:
            raise Failure("the server closed the connection early (%d bytes pending)" % len(self.buf))
        self.buf += data

    def read_response(self, head=False):
        """Read one response; HEAD responses (head=True) have no body."""
        while b"\r\n\r\n" not in self.buf:
            expect(len(self.buf) < 65536, "response head too long")
            self.fill()
        raw, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status, reason, headers = parse_head(raw)
        resp = Response(status, reason, headers, b"")
        n = 0 if head else resp.length()
        while len(self.buf) < n:
            self.fill()
        resp.body, self.buf = self.buf[:n], self.buf[n:]
        return resp

    def wait_closed(self, timeout):
        """Seconds until the server closes the connection, reading nothing
        more on the way; Failure if data comes or it stays open."""
        start = time.monotonic()
        expect(not self.buf, "unexpected bytes after the response: %r" % self.buf[:80])
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            raise Failure("connection still open after %.1f s" % timeout)
        except ConnectionResetError:
            data = b""
        finally:
            self.sock.settimeout(IO_TIMEOUT)
        expect(not data, "unexpected bytes instead of a close: %r" % data[:80])
        return time.monotonic() - start

    def close(self):
        self.sock.close()


def fetch(port, target, method="GET", version="1.1", headers=None):
    """One request on a fresh connection that asks to close; checks that
    nothing follows the response but the close."""
    c = Client(port)
    try:
        c.send(request(method, target, version, [("Connection", "close")] + (headers or [])))
        resp = c.read_response(head=(method == "HEAD"))
        c.wait_closed(IO_TIMEOUT)
        return resp
    finally:
        c.close()


def raw_exchange(port, data, head=False):
    """Send raw bytes, read one response, and require the server to close."""
    c = Client(port)
    try:
        c.send(data)
        resp = c.read_response(head=head)
        try:
            c.wait_closed(IO_TIMEOUT)
        except Failure as e:
            raise Failure("answered %d %s, then: %s" % (resp.status, resp.reason, e))
        return resp
    finally:
        c.close()


# --------------------------------------------------------------------------
# The server processes


class Server:
    def __init__(self, binary, site, tmp, name, args):
        self.name = name
        self.err_path = os.path.join(tmp, name + ".stderr")
        self.err = open(self.err_path, "wb")
        # stderr must hold nothing but the -v log: no sanitizer report. The
        # blocking monitor is off: on a loaded machine a worker thread the
        # kernel leaves unscheduled for half a second looks to it like a
        # task that does not yield, and that is not what this test checks.
        env = dict(os.environ, WEFT_WARN_BLOCKING_MS="0")
        self.proc = subprocess.Popen([binary] + args + [site], stdout=subprocess.PIPE,
                                     stderr=self.err, env=env)
        self.first_line = self.read_line(15.0)
        m = re.fullmatch(r"httpd: listening on 127\.0\.0\.1:(\d+)", self.first_line)
        expect(m, "%s: first line is %r, not 'httpd: listening on 127.0.0.1:PORT'"
               % (name, self.first_line))
        self.port = int(m.group(1))
        expect(self.port > 0, "%s: port 0 in its first line" % name)

    def read_line(self, timeout):
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        line = b""
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                sel.close()
                raise Failure("%s printed no line within %.0f s" % (self.name, timeout))
            b = os.read(self.proc.stdout.fileno(), 1)
            if not b:
                sel.close()
                raise Failure("%s exited before printing a line (status %s)"
                              % (self.name, self.proc.wait()))
            line += b
        sel.close()
        return line.decode().rstrip("\n")

    def stop(self, sig, timeout):
        """Send sig; return (exit status, seconds it took, rest of stdout)."""
        start = time.monotonic()
        self.proc.send_signal(sig)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failure("%s still running %.0f s after signal %d" % (self.name, timeout, sig))
        return self.proc.returncode, time.monotonic() - start, out.decode()

    def stderr(self):
        self.err.flush()
        with open(self.err_path, "rb") as f:
            return f.read().decode("latin-1")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


# --------------------------------------------------------------------------
# The checks


def check_usage(binary, site, tmp):
    cases = [
        ([], 2, "usage"),
        (["-T", "soon", site], 2, "-T"),
        (["-w", "0", site], 2, "-w"),
        ([os.path.join(tmp, "no-such-dir")], 1, "no-such-dir"),
        ([os.path.join(site, "a.txt")], 1, "not a directory"),
        (["-p", "99999", site], 1, "listen"),
    ]
    for args, status, word in cases:
        p = subprocess.run([binary] + args, capture_output=True, timeout=30)
        err = p.stderr.decode("latin-1")
        expect(p.returncode == status, "httpd %s: exit %d, want %d (stderr %r)"
               % (" ".join(args), p.returncode, status, err))
        expect(word in err, "httpd %s: stderr %r does not mention %r" % (" ".join(args), err, word))
        expect(not p.stdout, "httpd %s: printed %r on stdout" % (" ".join(args), p.stdout))
        expect("Sanitizer" not in err and "runtime error" not in err,
               "httpd %s: sanitizer report: %s" % (" ".join(args), err[-2000:]))


TYPES = {
    "index.html": "text/html; charset=utf-8", "page.html": "text/html; charset=utf-8",
    "a.txt": "text/plain", "style.css": "text/css", "app.js": "text/javascript",
    "data.json": "application/json", "img.png": "image/png", "photo.jpg": "image/jpeg",
    "photo2.jpeg": "image/jpeg", "anim.gif": "image/gif", "logo.svg": "image/svg+xml",
    "favicon.ico": "image/x-icon", "doc.pdf": "application/pdf", "feed.xml": "application/xml",
    "blob.bin": "application/octet-stream", "noext": "application/octet-stream",
    "UPPER.PNG": "image/png", "empty.txt": "text/plain", "mid.bin": "application/octet-stream",
    "big.bin": "application/octet-stream",
}


def check_get_types(port, files):
    for name, ctype in TYPES.items():
        r = fetch(port, "/" + name)
        expect(r.status == 200, "/%s: status %d" % (name, r.status))
        expect(r.body == files[name], "/%s: body differs (%d bytes, want %d)"
               % (name, len(r.body), len(files[name])))
        expect(r.length() == len(files[name]), "/%s: Content-Length %d, want %d"
               % (name, r.length(), len(files[name])))
        expect(r.header("Content-Type") == ctype, "/%s: Content-Type %r, want %r"
               % (name, r.header("Content-Type"), ctype))


def check_big_file(port, files):
    r = fetch(port, "/big.bin")
    want = files["big.bin"]
    expect(r.status == 200 and r.length() == len(want), "/big.bin: status %d, length %d"
           % (r.status, r.length()))
    expect(hashlib.sha256(r.body).digest() == hashlib.sha256(want).digest(),
           "/big.bin: body differs")


def check_head(port, files):
    c = Client(port)
    try:
        for name in ("a.txt", "big.bin", "empty.txt", "page.html"):
            c.send(request("HEAD", "/" + name))
            h = c.read_response(head=True)
            expect(h.status == 200, "HEAD /%s: status %d" % (name, h.status))
            expect(h.length() == len(files[name]), "HEAD /%s: Content-Length %d, want %d"
                   % (name, h.length(), len(files[name])))
            expect(h.header("Content-Type") == TYPES[name], "HEAD /%s: Content-Type %r"
                   % (name, h.header("Content-Type")))
            # Had a body followed, this response would be garbled by it.
            c.send(request("GET", "/a.txt"))
            g = c.read_response()
            expect(g.status == 200 and g.body == files["a.txt"],
                   "HEAD /%s sent a body: the next answer on the connection is wrong" % name)
        c.send(request("HEAD", "/missing"))
        h = c.read_response(head=True)
        expect(h.status == 404, "HEAD /missing: status %d" % h.status)
        c.send(request("GET", "/a.txt", headers=[("Connection", "close")]))
        g = c.read_response()
        expect(g.body == files["a.txt"], "HEAD of a 404 sent a body")
        c.wait_closed(IO_TIMEOUT)
    finally:
        c.close()


def check_index(port, files):
    for target, name in (("/", "index.html"), ("/sub/", "sub/index.html"),
                         ("/sub/deeper/", "sub/deeper/index.html"), ("/sub/?q=1", "sub/index.html")):
        r = fetch(port, target)
        expect(r.status == 200 and r.body == files[name], "%s: status %d, body %r"
               % (target, r.status, r.body[:60]))
        expect(r.header("Content-Type") == "text/html; charset=utf-8", "%s: Content-Type %r"
               % (target, r.header("Content-Type")))


def check_redirect(port, files):
    for target, location in (("/sub", "/sub/"), ("/sub/deeper", "/sub/deeper/"),
                             ("/sub?x=1&y=2", "/sub/?x=1&y=2"), ("/noindex", "/noindex/")):
        r = fetch(port, target)
        expect(r.status == 301, "%s: status %d, want 301" % (target, r.status))
        expect(r.header("Location") == location, "%s: Location %r, want %r"
               % (target, r.header("Location"), location))
        expect(len(r.body) == r.length(), "%s: body and Content-Length differ" % target)
    r = fetch(port, "/sub", method="HEAD")
    expect(r.status == 301 and r.header("Location") == "/sub/", "HEAD /sub: %d %r"
           % (r.status, r.header("Location")))
    r = fetch(port, fetch(port, "/sub").header("Location"))
    expect(r.status == 200 and r.body == files["sub/index.html"], "following /sub's redirect")


def check_not_found(port):
    for target in ("/missing.txt", "/sub/missing", "/a.txt/", "/noindex/", "/sub/deeper/nope/"):
        r = fetch(port, target)
        expect(r.status == 404, "%s: status %d, want 404" % (target, r.status))
        expect(len(r.body) == r.length(), "%s: body and Content-Length differ" % target)


def check_lookup(port, files):
    for target, name in (("/a.txt?x=1&y=/../secret", "a.txt"), ("/with%20space.txt", "with space.txt"),
                         ("/sub/%69ndex.html", "sub/index.html"), ("//sub//page.txt", "sub/page.txt"),
                         ("/./a.txt", "a.txt"), ("/link.txt", "a.txt"),
                         # out of the site and back in: links are judged by where they lead
                         ("/outdir/site/a.txt", "a.txt"),
                         ("http://127.0.0.1:%d/sub/page.txt" % port, "sub/page.txt")):
        r = fetch(port, target)
        expect(r.status == 200 and r.body == files[name], "%s: status %d, body %r"
               % (target, r.status, r.body[:60]))


def check_traversal(port, secret):
    targets = ["/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt",
               "/a/%2e%2e/%2e%2e/secret.txt", "/sub/%2e%2e/%2e%2e/secret.txt",
               "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt", "/sub%2f..%2f..%2fsecret.txt",
               "/sub/../../secret.txt", "/./../secret.txt", "//../secret.txt",
               "/sub/..%2F..%2Fsecret.txt", "/out", "/outdir/secret.txt",
               "/sub/up", "/evil/", "/evil/index.html", "/..", "/%2e%2e",
               # ".." is refused even where it would stay inside
               "/sub/../a.txt", "/sub/%2e%2e/a.txt"]
    for target in targets:
        r = fetch(port, target)
        expect(r.status in (403, 404), "%s: status %d, want 403 or 404" % (target, r.status))
        expect(secret not in r.body, "%s: the secret outside the site was served" % target)


def check_malformed(port, files):
    long_target = "/" + "a" * 9000
    long_headers = [("X-Fill-%d" % i, "v" * 1000) for i in range(20)]
    cases = [
        ("garbage request line", b"GARBAGE\r\n\r\n", 400),
        ("request line without version", b"GET /a.txt\r\n\r\n", 400),
        ("request line with extra word", b"GET /a.txt HTTP/1.1 more\r\nHost: x\r\n\r\n", 400),
        ("control byte in target", b"GET /a\x01.txt HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("bad header line", b"GET /a.txt HTTP/1.1\r\nHost: x\r\nThis is no header\r\n\r\n", 400),
        ("space before colon", b"GET /a.txt HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        ("folded header", b"GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n", 400),
        ("HTTP/1.1 without Host", b"GET /a.txt HTTP/1.1\r\n\r\n", 400),
        ("two Host headers", b"GET /a.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("bad Content-Length", b"GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", 400),
        ("bad percent escape", request("GET", "/%zz"), 400),
        ("truncated percent escape", request("GET", "/a%2"), 400),
        ("percent-encoded NUL", request("GET", "/a.txt%00.html"), 400),
        ("relative target", request("GET", "../secret.txt"), 400),
        ("target over 8 KiB", request("GET", long_target), 414),
        ("header block over 16 KiB", request("GET", "/a.txt", headers=long_headers), 431),
        ("HTTP/2.0", b"GET /a.txt HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ("POST with a body", b"POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 405),
        ("lower-case method", request("get", "/a.txt", headers=[("Connection", "close")]), 405),
    ]
    for what, data, status in cases:
        r = raw_exchange(port, data)  # also requires the close that follows
        expect(r.status == status, "%s: status %d, want %d" % (what, r.status, status))
        expect(len(r.body) == r.length(), "%s: body and Content-Length differ" % what)
        if status == 405:
            allow = {m.strip() for m in (r.header("Allow") or "").split(",")}
            expect(allow == {"GET", "HEAD"}, "%s: Allow %r" % (what, r.header("Allow")))
    # A target of exactly the limit is no 414; one byte more is.
    r = fetch(port, "/" + "b" * 8191)
    expect(r.status == 404, "8 KiB target: status %d, want 404" % r.status)
    r = raw_exchange(port, request("GET", "/" + "b" * 8192))
    expect(r.status == 414, "8 KiB + 1 target: status %d, want 414" % r.status)
    # A header block just under the limit is served.
    r = fetch(port, "/a.txt", headers=[("X-Fill-%d" % i, "v" * 1000) for i in range(15)])
    expect(r.status == 200 and r.body == files["a.txt"], "15 KiB of headers: status %d" % r.status)
    # An overlong target is refused as it arrives, not when its line ends.
    c = Client(port)
    try:
        c.send(b"GET /" + b"c" * 12000)
        r = c.read_response()
        expect(r.status == 414, "endless target: status %d, want 414" % r.status)
    finally:
        c.close()
    # A method without a body leaves the connection open.
    c = Client(port)
    try:
        c.send(request("DELETE", "/a.txt"))
        r = c.read_response()
        expect(r.status == 405, "DELETE: status %d" % r.status)
        c.send(request("GET", "/a.txt"))
        r = c.read_response()
        expect(r.status == 200 and r.body == files["a.txt"], "GET after DELETE's 405")
    finally:
        c.close()


def check_keep_alive(port, files):
    names = ["a.txt", "page.html", "mid.bin", "empty.txt", "sub/page.txt", "img.png"]
    c = Client(port)
    try:
        for name in names:
            c.send(request("GET", "/" + name))
            r = c.read_response()
            expect(r.status == 200 and r.body == files[name], "request for /%s on a kept-alive "
                   "connection: status %d" % (name, r.status))
            expect(r.header("Connection") is None, "HTTP/1.1 answer says Connection: %s"
                   % r.header("Connection"))
        c.send(request("GET", "/a.txt", headers=[("Connection", "close")]))
        r = c.read_response()
        expect(r.body == files["a.txt"] and (r.header("Connection") or "").lower() == "close",
               "Connection: close not echoed")
        c.wait_closed(IO_TIMEOUT)
    finally:
        c.close()
    # HTTP/1.0 closes unless asked to keep the connection.
    c = Client(port)
    try:
        c.send(request("GET", "/a.txt", version="1.0", host=False))
        r = c.read_response()
        expect(r.status == 200 and (r.header("Connection") or "").lower() == "close",
               "HTTP/1.0: status %d, Connection %r" % (r.status, r.header("Connection")))
        c.wait_closed(IO_TIMEOUT)
    finally:
        c.close()
    c = Client(port)
    try:
        for name in ("a.txt", "page.html"):
            c.send(request("GET", "/" + name, version="1.0", headers=[("Connection", "keep-alive")]))
            r = c.read_response()
            expect(r.status == 200 and r.body == files[name], "HTTP/1.0 keep-alive: /%s" % name)
            expect((r.header("Connection") or "").lower() == "keep-alive",
                   "HTTP/1.0 keep-alive: Connection %r" % r.header("Connection"))
    finally:
        c.close()


def check_pipelining(port, files):
    plan = [("GET", "/a.txt", 200, files["a.txt"]), ("GET", "/big.bin", 200, files["big.bin"]),
            ("HEAD", "/page.html", 200, b""), ("GET", "/missing", 404, None),
            ("GET", "/sub", 301, None), ("GET", "/sub/", 200, files["sub/index.html"]),
            ("DELETE", "/a.txt", 405, None), ("GET", "/empty.txt", 200, b""),
            ("GET", "/mid.bin", 200, files["mid.bin"]), ("GET", "/img.png", 200, files["img.png"])]
    c = Client(port)
    try:
        c.send(b"".join(request(m, t) for m, t, _, _ in plan)
               + request("GET", "/sub/page.txt", headers=[("Connection", "close")]))
        for i, (method, target, status, body) in enumerate(plan):
            r = c.read_response(head=(method == "HEAD"))
            expect(r.status == status, "pipelined #%d %s %s: status %d, want %d"
                   % (i, method, target, r.status, status))
            expect(body is None or r.body == body, "pipelined #%d %s %s: wrong body"
                   % (i, method, target))
        r = c.read_response()
        expect(r.body == files["sub/page.txt"], "last pipelined request: wrong body")
        c.wait_closed(IO_TIMEOUT)
    finally:
        c.close()
    # One request in small pieces.
    c = Client(port)
    try:
        data = request("GET", "/page.html")
        for i in range(0, len(data), 7):
            c.send(data[i:i + 7])
            time.sleep(0.01)
        r = c.read_response()
        expect(r.status == 200 and r.body == files["page.html"], "request sent in pieces")
    finally:
        c.close()


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        if hard == resource.RLIM_INFINITY or hard >= need:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    expect(soft == resource.RLIM_INFINITY or soft >= need,
           "RLIMIT_NOFILE is %d; %d concurrent clients need %d" % (soft, CLIENTS, need))


def check_concurrent(port, files):
    """CLIENTS connections open at once; each then sends a request and
    must get its full, correct answer."""
    raise_fd_limit(CLIENTS + 200)
    names = ["a.txt", "sub/index.html", "mid.bin", "page.html", "img.png"]
    sel = selectors.DefaultSelector()
    socks = []
    try:
        for i in range(CLIENTS):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            socks.append(s)
            err = s.connect_ex(("127.0.0.1", port))
            expect(err in (0, 115), "connect #%d: %s" % (i, os.strerror(err)))  # 115: EINPROGRESS
            sel.register(s, selectors.EVENT_WRITE, i)
        deadline = time.monotonic() + 60
        pending = CLIENTS
        while pending:
            left = deadline - time.monotonic()
            events = sel.select(left) if left > 0 else []
            expect(events, "%d of %d connections not established in 60 s" % (pending, CLIENTS))
            for key, _ in events:
                err = key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                expect(err == 0, "connect #%d: %s" % (key.data, os.strerror(err)))
                sel.unregister(key.fileobj)
                pending -= 1
        # Every connection is open now; each sends one request.
        state = {}
        for i, s in enumerate(socks):
            name = names[i % len(names)]
            data = request("GET", "/" + name)
            expect(s.send(data) == len(data), "client #%d: short send" % i)
            state[i] = [b"", None, name]
            sel.register(s, selectors.EVENT_READ, i)
        pending = CLIENTS
        deadline = time.monotonic() + 120
        while pending:
            left = deadline - time.monotonic()
            events = sel.select(left) if left > 0 else []
            expect(events, "%d of %d clients got no full answer in 120 s" % (pending, CLIENTS))
            for key, _ in events:
                i = key.data
                st = state[i]
                data = key.fileobj.recv(1 << 20)
                expect(data, "client #%d: closed after %d bytes" % (i, len(st[0])))
                st[0] += data
                if st[1] is None and b"\r\n\r\n" in st[0]:
                    raw, _, body = st[0].partition(b"\r\n\r\n")
                    status, _, headers = parse_head(raw)
                    expect(status == 200, "client #%d: status %d" % (i, status))
                    st[1] = int(headers["content-length"][0])
                    st[0] = body
                if st[1] is not None and len(st[0]) >= st[1]:
                    expect(st[0] == files[st[2]], "client #%d: wrong body for /%s" % (i, st[2]))
                    sel.unregister(key.fileobj)
                    pending -= 1
    finally:
        sel.close()
        for s in socks:
            s.close()


def check_slow_head(port):
    """Half a request head, then nothing: closed at the request deadline."""
    # The clock starts before the connect, the server's deadline at its
    # accept: took is never short of the deadline, however slow this is.
    start = time.monotonic()
    c = Client(port)
    try:
        c.send(b"GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        c.wait_closed(10 * SHORT_MS / 1000)
        took = time.monotonic() - start
    finally:
        c.close()
    expect(0.95 * SHORT_MS / 1000 <= took <= 10 * SHORT_MS / 1000,
           "half a head: closed after %.2f s, want about %.1f s" % (took, SHORT_MS / 1000))
    return took


def check_drip(port):
    """A head trickling in a byte at a time: the deadline covers the whole
    head, so the client is cut off long before it would finish."""
    data = request("GET", "/a.txt", headers=[("X-Pad", "p" * 150)])
    start = time.monotonic()  # before the connect, as in check_slow_head
    c = Client(port)
    try:
        c.sock.settimeout(0.05)
        for i in range(len(data)):
            try:
                c.sock.sendall(data[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                got = c.sock.recv(4096)
            except socket.timeout:
                continue
            except ConnectionResetError:
                got = b""
            expect(not got, "drip-fed head: got %r instead of a close" % got[:80])
            break
        took = time.monotonic() - start
        full = len(data) * 0.05
    finally:
        c.close()
    expect(took < full / 2, "drip-fed head: still open after %.2f s (sending all takes %.1f s)"
           % (took, full))
    expect(0.95 * SHORT_MS / 1000 <= took <= 10 * SHORT_MS / 1000,
           "drip-fed head: closed after %.2f s, want about %.1f s" % (took, SHORT_MS / 1000))


def check_silent(port):
    start = time.monotonic()  # before the connect, as in check_slow_head
    c = Client(port)
    try:
        c.wait_closed(10 * SHORT_MS / 1000)
        took = time.monotonic() - start
    finally:
        c.close()
    expect(0.95 * SHORT_MS / 1000 <= took <= 10 * SHORT_MS / 1000,
           "silent client: closed after %.2f s" % took)


def check_idle(port, files):
    c = Client(port)
    try:
        # From before the request: the server's idle deadline starts after
        # its answer, so took is never short of it, however slow this is.
        start = time.monotonic()
        c.send(request("GET", "/a.txt"))
        r = c.read_response()
        expect(r.body == files["a.txt"], "idle check: first answer wrong")
        c.wait_closed(10 * SHORT_MS / 1000)
        took = time.monotonic() - start
    finally:
        c.close()
    expect(0.95 * SHORT_MS / 1000 <= took <= 10 * SHORT_MS / 1000,
           "idle kept-alive connection: closed after %.2f s, want about %.1f s"
           % (took, SHORT_MS / 1000))


def check_send_deadline(port):
    """A client that asks for 16 MiB and reads nothing is dropped: reading
    later yields less than the file, then the end."""
    size = 16 * 1024 * 1024
    c = Client(port, rcvbuf=4096)
    try:
        c.send(request("GET", "/huge.bin"))
        time.sleep(3 * SHORT_MS / 1000)
        got = 0
        deadline = time.monotonic() + 30
        c.sock.settimeout(10)
        while True:
            expect(time.monotonic() < deadline, "send deadline: still receiving after 30 s")
            try:
                data = c.sock.recv(1 << 20)
            except ConnectionResetError:
                break
            except socket.timeout:
                raise Failure("send deadline: the connection stalled but stayed open")
            if not data:
                break
            got += len(data)
        expect(got > 0, "send deadline: nothing at all was sent")
        expect(got < size, "send deadline: the whole file arrived (%d bytes); it was not dropped" % got)
    finally:
        c.close()


def check_log(server):
    lines = [l for l in server.stderr().splitlines() if l]
    pat = re.compile(r'httpd: 127\.0\.0\.1:\d+ "(-|\S+ \S+ HTTP/1\.\d)" \d{3} \d+')
    bad = [l for l in lines if not pat.fullmatch(l)]
    expect(not bad, "-v: unexpected stderr lines: %r" % bad[:3])
    expect(any('"GET /a.txt HTTP/1.1" 200 %d' % 17 in l for l in lines),
           "-v: no log line for GET /a.txt: %r" % lines[:5])


def check_shutdown(server, sig, files, secs):
    """Signal the server while connections are open: it exits 0 in time,
    says it stopped, closes them, and writes nothing unexpected."""
    idle = []
    busy = Client(server.port, rcvbuf=4096)
    try:
        busy.send(request("GET", "/huge.bin"))  # parks in weft_send
        for _ in range(10):
            c = Client(server.port)
            idle.append(c)
            c.send(request("GET", "/a.txt"))
            expect(c.read_response().body == files["a.txt"], "before shutdown: wrong answer")
        status, took, out = server.stop(sig, 20)
        expect(status == 0, "exit status %d after signal %d" % (status, sig))
        expect(took < secs, "took %.2f s to exit after signal %d" % (took, sig))
        expect(re.search(r"^httpd: stopped:", out, re.M), "no 'httpd: stopped' line: %r" % out)
        for c in idle:
            c.wait_closed(5)
        try:
            probe = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            probe.close()
            raise Failure("port %d still accepts connections after exit" % server.port)
        except ConnectionRefusedError:
            pass
    finally:
        busy.close()
        for c in idle:
            c.close()


# --------------------------------------------------------------------------


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: httpd_client.py HTTPD TMPDIR\n")
        return 2
    binary, tmp = sys.argv[1], sys.argv[2]
    sys.stdout.reconfigure(line_buffering=True)

    def on_alarm(sig, frame):
        raise Failure("the whole test took over 10 minutes")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(600)
    servers = []
    try:
        site, files, secret = build_site(tmp)
        check_usage(binary, site, tmp)
        print("ok: bad command lines are refused with a message")
        a = Server(binary, site, tmp, "httpd", ["-w", "2"])
        servers.append(a)
        print("ok: starts on port 0 and prints %r" % a.first_line)
        short = str(SHORT_MS)
        b = Server(binary, site, tmp, "httpd-short", ["-T", short, "-K", short, "-S", short, "-v"])
        servers.append(b)
        expect(b.port != a.port, "two servers on port 0 got the same port")
        print("ok: a second server with 1 s deadlines listens on its own port")
        checks = [
            ("GET: body, Content-Length, Content-Type by extension", lambda: check_get_types(a.port, files)),
            ("GET: a 3 MiB file arrives whole", lambda: check_big_file(a.port, files)),
            ("HEAD: same headers as GET, no body", lambda: check_head(a.port, files)),
            ("a directory with a slash serves its index.html", lambda: check_index(a.port, files)),
            ("a directory without a slash gets 301 to the slashed URL", lambda: check_redirect(a.port, files)),
            ("404 for missing files and directories without index.html", lambda: check_not_found(a.port)),
            ("queries ignored, escapes decoded, inside links and absolute URLs served",
             lambda: check_lookup(a.port, files)),
            ("traversal and outside links give 403/404, never the outside file",
             lambda: check_traversal(a.port, secret)),
            ("malformed requests: 400, 414, 431, 405 with Allow, 505", lambda: check_malformed(a.port, files)),
            ("keep-alive: HTTP/1.1 reuse, Connection: close, HTTP/1.0", lambda: check_keep_alive(a.port, files)),
            ("pipelined requests answered in order", lambda: check_pipelining(a.port, files)),
            ("%d clients connected at once all get full answers" % CLIENTS,
             lambda: check_concurrent(a.port, files)),
            ("half a request head is cut off at the request deadline", lambda: check_slow_head(b.port)),
            ("a drip-fed head is cut off at the request deadline", lambda: check_drip(b.port)),
            ("a silent connection is closed at the request deadline", lambda: check_silent(b.port)),
            ("an idle kept-alive connection is closed after -K", lambda: check_idle(b.port, files)),
            ("a client that does not read is dropped at the send deadline",
             lambda: check_send_deadline(b.port)),
            ("-v logs one line per request", lambda: check_log(b)),
            ("SIGTERM with connections open: exit 0 promptly, connections closed",
             lambda: check_shutdown(a, signal.SIGTERM, files, 5)),
            ("SIGINT: exit 0 promptly", lambda: check_shutdown(b, signal.SIGINT, files, 5)),
        ]
        for name, fn in checks:
            fn()
            print("ok: " + name)
        err = a.stderr()
        expect(not err, "the server wrote to stderr: %r" % err[:2000])
        check_log(b)  # everything it wrote, to the end, is log lines
        print("ok: nothing on stderr but the -v log (no sanitizer reports)")
    except Exception as e:  # a Failure, or a check that broke (timeout, reset)
        if isinstance(e, Failure):
            print("FAIL: %s" % e)
        else:
            print("FAIL: %s" % "".join(traceback.format_exception(e)).rstrip())
        for s in servers:
            if s.proc.poll() is None:
                continue
            err = s.stderr()
            if err:
                print("%s stderr:\n%s" % (s.name, err[-4000:]))
        return 1
    finally:
        signal.alarm(0)
        for s in servers:
            s.kill()
    print("all httpd checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
