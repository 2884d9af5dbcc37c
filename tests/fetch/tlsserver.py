#!/usr/bin/env python3
"""tlsserver.py - misbehaving TLS servers for tests/fetch/tls.sh, and the
runner that checks one fetch run against them. Standard library only.

  tlsserver.py serve --certs DIR [--log FILE] [--lifetime SECONDS]

    DIR holds what tls.sh made: leaf.pem and leaf.key (localhost and
    127.0.0.1, signed by ca.pem), expired.pem (the same names and key,
    expired), other.pem and other.key (other.invalid only, signed by
    ca.pem), self.pem and self.key (localhost and 127.0.0.1, self-signed).
    Listens on 127.0.0.1, one port per behaviour below, each chosen by
    the kernel; makes the compressed bodies; then prints "NAME PORT" for
    each behaviour and a last line "ready". It exits on SIGTERM, when its
    parent dies, or after --lifetime seconds (default 7200: only an orphan's bound), so it is never
    left behind. With --log it appends "NAME PATH ACCEPT-ENCODING" for
    each request read (ACCEPT-ENCODING "-" when there was none).

  tlsserver.py run --ports FILE [--log FILE] [--limit S] [--exit N]
                   [--name NAME] [--expect EXPR]... -- FETCH ARG...

    Runs fetch once (killed 15 s past --limit), then checks it and prints
    "ok: NAME" or "FAIL: NAME" and one line per failure; exits 1 if any.
    Always checked: the exit status (default 0), the wall clock within
    --limit, no sanitizer report, every output line a JSON record with
    fetch's fields, no URL recorded twice, the summary line counting the
    records and their errors. Each --expect is Python run with the helpers
    of expect_names() (one, url, served, check, ...).

The behaviours (ports):
  good         a CA-signed leaf, HTTP/1.1 (Connection: close) with paths:
                 /              200 linking to every path below
                 /page/<any>    a small page
                 /gzip /deflate a valid gzip (zlib) encoded page
                 /br            a valid br encoded page (when an encoder is)
                 /gzip-bomb     gzip of 256 MiB of zeros, about 250 KB
                 /br-bomb       br of 1 GiB of zeros, about 2 KB (when an
                                encoder is)
                 /gzip-corrupt  a gzip page whose first deflate block has
                                the reserved type 3
                 /br-corrupt    a br page whose stream header has a
                                reserved window size
                 /zstd          "Content-Encoding: zstd" and plain bytes
  wrong-name   a leaf for other.invalid only, signed by the CA
  expired      an expired leaf, signed by the CA
  self-signed  a self-signed leaf for the right names
  stall        accepts, reads, never answers (until the client goes)
  close-hs     answers half of its first handshake flight, then closes
  plain-http   answers the ClientHello with a plain HTTP/1.1 response
  garbage      answers the ClientHello with handshake records of random
               bytes, then waits for the client to go
  reset        completes the handshake, then resets (SO_LINGER 0 close)

br bodies need an encoder: the brotli command (Debian package brotli)
or, failing that, libbrotlienc.so.1 through ctypes. Without either,
/br and /br-bomb answer 404 and "br" is "-" in the "good" line's
extra field: the serve output's first line is "good PORT br" or
"good PORT -".
"""

import ctypes
import ctypes.util
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

ADDR = "127.0.0.1"
# Decoded sizes of the bombs. Deflate cannot do better than about 1032:1,
# so a gzip bomb's wire size must stay well below fetch's --max-body
# (1,000,000 in tls.sh) for the decoded size to be what trips it.
GZIP_BOMB = 256 << 20  # about 250 KB on the wire
BR_BOMB = 1 << 30  # about 2 KB on the wire
CHUNK = 1 << 20

BEHAVIOURS = ["good", "wrong-name", "expired", "self-signed", "stall",
              "close-hs", "plain-http", "garbage", "reset"]
PATHS = ["/page/1", "/page/2", "/gzip", "/deflate", "/br", "/gzip-bomb",
         "/br-bomb", "/gzip-corrupt", "/br-corrupt", "/zstd"]


# ---------------------------------------------------------------- bodies

def page(title, n=200):
    """An HTML page of about n lines that compresses well."""
    lines = ["<!doctype html><title>%s</title><h1>%s</h1>" % (title, title)]
    lines += ["<p>Line %d of %s: the quick brown fox jumps over the lazy "
              "dog.</p>" % (i, title) for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def links_page():
    body = "".join('<a href="%s">%s</a>\n' % (p, p) for p in PATHS)
    return ("<!doctype html><title>tls</title>\n" + body).encode()


def gzip_bytes(data):
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def gzip_bomb():
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    zeros = bytes(CHUNK)
    out = [c.compress(zeros) for _ in range(GZIP_BOMB // CHUNK)]
    out.append(c.flush())
    return b"".join(out)


def gzip_corrupt(data):
    """A gzip stream whose first deflate block header says BTYPE 3, which
    RFC 1951 reserves: every inflater must fail on it, at once."""
    z = bytearray(gzip_bytes(data))
    z[10] |= 0x06  # byte 10 follows the 10-byte header: BFINAL, BTYPE
    return bytes(z)


def br_corrupt(valid):
    """A br stream whose header (RFC 7932 9.1) has the window-size code
    1-000-001 and then a 1: reserved with or without large windows."""
    return b"\x91" + (valid[1:] if valid else b"\x00" * 64 + page("br")[:200])


class BrotliLib:
    """libbrotlienc's streaming encoder through ctypes."""

    def __init__(self):
        name = ctypes.util.find_library("brotlienc") or "libbrotlienc.so.1"
        lib = ctypes.CDLL(name)
        vp, sz = ctypes.c_void_p, ctypes.c_size_t
        lib.BrotliEncoderCreateInstance.restype = vp
        lib.BrotliEncoderCreateInstance.argtypes = [vp, vp, vp]
        lib.BrotliEncoderSetParameter.argtypes = [vp, ctypes.c_int,
                                                  ctypes.c_uint32]
        lib.BrotliEncoderCompressStream.argtypes = [
            vp, ctypes.c_int, ctypes.POINTER(sz), ctypes.POINTER(vp),
            ctypes.POINTER(sz), ctypes.POINTER(vp), vp]
        lib.BrotliEncoderTakeOutput.restype = vp
        lib.BrotliEncoderTakeOutput.argtypes = [vp, ctypes.POINTER(sz)]
        lib.BrotliEncoderHasMoreOutput.argtypes = [vp]
        lib.BrotliEncoderIsFinished.argtypes = [vp]
        lib.BrotliEncoderDestroyInstance.argtypes = [vp]
        self.lib = lib

    def compress(self, chunks, quality=5):
        """The br stream of the concatenated chunks (an iterable)."""
        lib = self.lib
        st = lib.BrotliEncoderCreateInstance(None, None, None)
        lib.BrotliEncoderSetParameter(st, 1, quality)  # BROTLI_PARAM_QUALITY
        out = []

        def step(op, buf, n):
            avail = ctypes.c_size_t(n)
            nxt = ctypes.c_void_p(ctypes.addressof(buf) if buf else None)
            zero, nout = ctypes.c_size_t(0), ctypes.c_void_p(None)
            while True:
                if not lib.BrotliEncoderCompressStream(
                        st, op, ctypes.byref(avail), ctypes.byref(nxt),
                        ctypes.byref(zero), ctypes.byref(nout), None):
                    raise RuntimeError("BrotliEncoderCompressStream failed")
                while lib.BrotliEncoderHasMoreOutput(st):
                    size = ctypes.c_size_t(0)
                    p = lib.BrotliEncoderTakeOutput(st, ctypes.byref(size))
                    out.append(ctypes.string_at(p, size.value))
                if avail.value == 0 and (
                        op != 2 or lib.BrotliEncoderIsFinished(st)):
                    return

        try:
            for chunk in chunks:
                buf = ctypes.create_string_buffer(chunk, len(chunk))
                step(0, buf, len(chunk))  # BROTLI_OPERATION_PROCESS
            step(2, None, 0)  # BROTLI_OPERATION_FINISH
        finally:
            lib.BrotliEncoderDestroyInstance(st)
        return b"".join(out)


def br_encoder():
    """A function (chunks -> br bytes), or None when there is no encoder:
    the brotli command first, libbrotlienc second."""
    cmd = shutil.which("brotli")
    if cmd:
        def run_cmd(chunks):
            with tempfile.TemporaryFile() as out:
                p = subprocess.Popen([cmd, "-q", "5", "-c"],
                                     stdin=subprocess.PIPE, stdout=out)
                for chunk in chunks:
                    p.stdin.write(chunk)
                p.stdin.close()
                if p.wait() != 0:
                    raise RuntimeError("brotli exited %d" % p.returncode)
                out.seek(0)
                return out.read()
        return run_cmd
    try:
        return BrotliLib().compress
    except (OSError, AttributeError):
        return None


def make_bodies():
    """path -> (Content-Encoding or None, body)."""
    text = page("encoded")
    bodies = {
        "/": (None, links_page()),
        "/gzip": ("gzip", gzip_bytes(text)),
        "/deflate": ("deflate", zlib.compress(text, 6)),
        "/gzip-bomb": ("gzip", gzip_bomb()),
        "/gzip-corrupt": ("gzip", gzip_corrupt(text)),
        "/zstd": ("zstd", text),
    }
    enc = br_encoder()
    valid = None
    if enc:
        valid = enc([text])
        bodies["/br"] = ("br", valid)
        zeros = bytes(CHUNK)
        bodies["/br-bomb"] = ("br", enc(zeros for _ in range(BR_BOMB // CHUNK)))
    bodies["/br-corrupt"] = ("br", br_corrupt(valid))
    return bodies, text, enc is not None


# ---------------------------------------------------------------- server

class Log:
    """Appends a line per request (O_APPEND, so the runner may empty the
    file while the server runs). Any thread."""

    def __init__(self, path):
        self.f = open(path, "a") if path else None
        self.lock = threading.Lock()

    def request(self, name, path, accept):
        if not self.f:
            return
        with self.lock:
            self.f.write("%s %s %s\n" % (name, path, accept or "-"))
            self.f.flush()


def read_record(conn, buf=b""):
    """Read until buf holds one whole TLS record; return buf, or b"" when
    the client went first."""
    while len(buf) < 5 or len(buf) < 5 + struct.unpack("!H", buf[3:5])[0]:
        data = conn.recv(65536)
        if not data:
            return b""
        buf += data
    return buf


def wait_gone(conn, secs):
    """Read and drop whatever the client sends until it closes or secs
    pass."""
    end = time.monotonic() + secs
    while time.monotonic() < end:
        r, _, _ = select.select([conn], [], [], 0.5)
        if r and not conn.recv(65536):
            return


def read_head(s):
    """The request head as (path, headers), or None."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = s.recv(65536)
        if not data or len(buf) > 65536:
            return None
        buf += data
    lines = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    m = re.match(r"[A-Z]+ (\S+) HTTP/1\.[01]$", lines[0])
    if not m:
        return None
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return m.group(1), headers


def respond(s, status, body, encoding=None):
    head = ["HTTP/1.1 %d %s" % (status, "OK" if status == 200 else "Not Found"),
            "Content-Type: text/html",
            "Content-Length: %d" % len(body),
            "Connection: close"]
    if encoding:
        head.append("Content-Encoding: " + encoding)
    s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)


def serve_http(name, s, bodies, log):
    req = read_head(s)
    if not req:
        return
    path, headers = req
    log.request(name, path, headers.get("accept-encoding"))
    if path in bodies:
        encoding, body = bodies[path]
        respond(s, 200, body, encoding)
    elif path.startswith("/page/"):
        respond(s, 200, page(path))
    else:
        respond(s, 404, b"<p>not found</p>\n")


def serve_tls(name, conn, ctx, bodies, log):
    """A good server with ctx's certificate: the handshake fails on the
    client's side for every certificate but the good one's."""
    s = ctx.wrap_socket(conn, server_side=True)
    try:
        serve_http(name, s, bodies, log)
    finally:
        s.close()


def serve_close_hs(conn, ctx):
    """Send the first half of the server's first flight, then close."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_side=True)
    while not out.pending:
        data = conn.recv(65536)
        if not data:
            return
        inc.write(data)
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
    flight = out.read()
    conn.sendall(flight[:len(flight) // 2])


def serve_plain_http(conn):
    if read_record(conn):
        body = b"<p>plain HTTP on a TLS port</p>\n"
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n"
                     % len(body) + body)


def serve_garbage(conn):
    if read_record(conn):
        rng = random.Random(7)
        for _ in range(4):
            junk = bytes(rng.randrange(256) for _ in range(300))
            conn.sendall(b"\x16\x03\x03" + struct.pack("!H", len(junk)) + junk)
        wait_gone(conn, 30)


def serve_reset(conn, ctx):
    s = ctx.wrap_socket(conn, server_side=True)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def serve_conn(name, conn, ctxs, bodies, log):
    """One connection of behaviour name. Errors of the client's making
    (alerts, resets, a close) end it quietly."""
    try:
        conn.settimeout(30)
        if name == "stall":
            wait_gone(conn, 30)
        elif name == "close-hs":
            serve_close_hs(conn, ctxs["good"])
        elif name == "plain-http":
            serve_plain_http(conn)
        elif name == "garbage":
            serve_garbage(conn)
        elif name == "reset":
            serve_reset(conn, ctxs["good"])
        else:
            serve_tls(name, conn, ctxs[name], bodies, log)
    except (OSError, ssl.SSLError, ValueError):
        pass
    finally:
        conn.close()


def contexts(certs):
    def ctx(cert, key):
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        c.load_cert_chain(os.path.join(certs, cert), os.path.join(certs, key))
        return c
    return {"good": ctx("leaf.pem", "leaf.key"),
            "expired": ctx("expired.pem", "leaf.key"),
            "wrong-name": ctx("other.pem", "other.key"),
            "self-signed": ctx("self.pem", "self.key")}


def accept_loop(name, listener, ctxs, bodies, log):
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve_conn,
                         args=(name, conn, ctxs, bodies, log),
                         daemon=True).start()


def serve(argv):
    certs, log_path, lifetime = None, None, 7200.0
    while argv:
        opt = argv.pop(0)
        if opt == "--certs":
            certs = argv.pop(0)
        elif opt == "--log":
            log_path = argv.pop(0)
        elif opt == "--lifetime":
            lifetime = float(argv.pop(0))
        else:
            sys.exit("tlsserver: serve: unknown option %s" % opt)
    if not certs:
        sys.exit("tlsserver: serve: need --certs DIR")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    ctxs = contexts(certs)
    bodies, _, have_br = make_bodies()
    log = Log(log_path)
    ports = []
    for name in BEHAVIOURS:
        s = socket.socket()
        s.bind((ADDR, 0))
        s.listen(64)
        ports.append((name, s.getsockname()[1]))
        threading.Thread(target=accept_loop, args=(name, s, ctxs, bodies, log),
                         daemon=True).start()
    for name, port in ports:
        extra = (" br" if have_br else " -") if name == "good" else ""
        print("%s %d%s" % (name, port, extra))
    print("ready", flush=True)
    parent = os.getppid()
    deadline = time.monotonic() + lifetime
    while time.monotonic() < deadline and os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


# ---------------------------------------------------------------- runner

FIELDS = {"url": str, "status": int, "bytes": int, "ms": int, "depth": int,
          "links": int}
OPTIONAL = {"redirect": str, "error": str, "tls": str, "wire_bytes": int}
SANITIZER = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|"
                       r"WARNING: ThreadSanitizer|runtime error:")
SUMMARY = re.compile(r"fetched (\d+) pages? \((\d+) errors?\), (\d+) bytes "
                     r"in ([0-9.]+) s, ([0-9.]+) pages/s")


class Run:
    def __init__(self, name):
        self.name = name
        self.failures = []

    def fail(self, msg):
        self.failures.append(msg)


def parse_records(run, text):
    recs = []
    for i, line in enumerate(text.splitlines(), 1):
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
                if k in rec and (not isinstance(rec[k], t)
                                 or isinstance(rec[k], bool))]
        if bad:
            run.fail("record %d: missing or mistyped %s: %r"
                     % (i, ", ".join(bad), line[:200]))
            continue
        if rec["status"] == 0 and "error" not in rec:
            run.fail("record %d: status 0 without an error: %r" % (i, line))
        recs.append(rec)
    seen = {}
    for rec in recs:
        seen[rec["url"]] = seen.get(rec["url"], 0) + 1
    for u, n in seen.items():
        if n > 1:
            run.fail("%s recorded %d times" % (u, n))
    return recs


def check_summary(run, err, recs):
    m = SUMMARY.search(err)
    if not m:
        run.fail("no summary line 'fetched N pages (E errors), B bytes in S s,"
                 " R pages/s' on stderr")
        return
    n, e = int(m.group(1)), int(m.group(2))
    errors = sum(1 for r in recs if "error" in r)
    if n != len(recs) or e != errors:
        run.fail("summary says %d pages (%d errors), the output has %d "
                 "records (%d errors)" % (n, e, len(recs), errors))


def sanitized(exe):
    d, b = os.path.split(exe)
    for c in (exe, os.path.join(d, ".libs", b), os.path.join(d, ".libs", "lt-" + b)):
        try:
            with open(c, "rb") as f:
                data = f.read()
        except OSError:
            continue
        if b"__asan_init" in data or b"__tsan_init" in data:
            return True
    return False


def read_ports(path):
    ports, have_br = {}, False
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                ports[parts[0]] = int(parts[1])
                if parts[0] == "good":
                    have_br = parts[2:] == ["br"]
    return ports, have_br


def read_log(path):
    reqs = []
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split(" ", 2)
                if len(parts) == 3:
                    reqs.append({"name": parts[0], "path": parts[1],
                                 "accept": parts[2]})
    return reqs


def expect_names(run, recs, reqs, ports, extra):
    """The names an --expect expression may use."""

    def url(name, path="/", host=ADDR):
        return "https://%s:%d%s" % (host, ports[name], path)

    def one(u, status=None, error=None, error_start=None, tls=None,
            nbytes=None, wire=None, depth=None):
        """The single record of URL u, checked: status an int or a tuple
        of allowed ones; error True = some error, False = none, a string
        = exactly that; error_start a prefix the error must have; tls a
        string or tuple of allowed "tls" values (False: no "tls"); nbytes
        and wire ("bytes", "wire_bytes") an int or (lo, hi)."""
        found = [r for r in recs if r["url"] == u]
        if len(found) != 1:
            run.fail("%s: expected one record, found %d" % (u, len(found)))
            return None
        r = found[0]
        what = json.dumps(r)
        if status is not None:
            allowed = status if isinstance(status, tuple) else (status,)
            if r["status"] not in allowed:
                run.fail("%s: status should be %s" % (what, " or ".join(
                    str(s) for s in allowed)))
        e = r.get("error")
        if error is True and e is None:
            run.fail("%s: should have an error" % what)
        elif error is False and e is not None:
            run.fail("%s: unexpected error" % what)
        elif isinstance(error, str) and e != error:
            run.fail("%s: error should be %r" % (what, error))
        if error_start is not None and not (e or "").startswith(error_start):
            run.fail("%s: error should start with %r" % (what, error_start))
        if tls is False and "tls" in r:
            run.fail("%s: should have no \"tls\"" % what)
        elif tls is not None and tls is not False:
            allowed = tls if isinstance(tls, tuple) else (tls,)
            if r.get("tls") not in allowed:
                run.fail("%s: \"tls\" should be %s" % (what, " or ".join(allowed)))
        for field, want in (("bytes", nbytes), ("wire_bytes", wire)):
            if want is None:
                continue
            lo, hi = want if isinstance(want, tuple) else (want, want)
            if not isinstance(r.get(field), int) or not lo <= r[field] <= hi:
                run.fail("%s: %s should be %s" % (what, field, lo if lo == hi
                                                  else "%d..%d" % (lo, hi)))
        if depth is not None and r["depth"] != depth:
            run.fail("%s: depth should be %d" % (what, depth))
        return r

    def served(name, path, n=1):
        got = sum(1 for q in reqs if (q["name"], q["path"]) == (name, path))
        if got != n:
            run.fail("%s on %s: served %d times, expected %d"
                     % (path, name, got, n))

    def check(cond, msg):
        if not cond:
            run.fail(msg)

    def rss_below(mb):
        limit = mb * (3 if extra["sanitized"] else 1)
        if extra["rss_mb"] >= limit:
            run.fail("peak RSS %.0f MB, limit %d MB" % (extra["rss_mb"], limit))

    text = page("encoded")
    names = dict(url=url, one=one, served=served, check=check,
                 rss_below=rss_below, records=recs, requests=reqs,
                 ports=ports, ADDR=ADDR, PAGE=len(text),
                 GZIP=len(gzip_bytes(text)), DEFLATE=len(zlib.compress(text, 6)),
                 TLS=("TLSv1.2", "TLSv1.3"))
    names.update(extra)
    return names


def execute(cmd, limit, out_path, err_path):
    """Run fetch. Returns (status, wall seconds, peak RSS in MB, killed);
    status is the exit code, or -signal."""
    def child_setup():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)

    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.monotonic()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=err, preexec_fn=child_setup)
    killed = False
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if not killed and time.monotonic() - start > limit + 15:
            p.kill()
            killed = True
        time.sleep(0.01)
    wall = time.monotonic() - start
    p.returncode = 0
    code = (os.WEXITSTATUS(status) if os.WIFEXITED(status)
            else -os.WTERMSIG(status))
    return code, wall, usage.ru_maxrss / 1024.0, killed


def run_fetch(argv):
    opts = {"--ports": None, "--log": None, "--limit": "10", "--exit": "0",
            "--name": "fetch"}
    expects = []
    while argv and argv[0] != "--":
        opt = argv.pop(0)
        if opt == "--expect":
            expects.append(argv.pop(0))
        elif opt in opts:
            opts[opt] = argv.pop(0)
        else:
            sys.exit("tlsserver: run: unknown option %s" % opt)
    cmd = argv[1:]
    if not cmd or opts["--ports"] is None:
        sys.exit("tlsserver: run: need --ports FILE and -- FETCH ARG...")
    run = Run(opts["--name"])
    limit = float(opts["--limit"])
    ports, have_br = read_ports(opts["--ports"])
    if opts["--log"]:
        open(opts["--log"], "w").close()
    with tempfile.TemporaryDirectory() as tmp:
        out_path, err_path = os.path.join(tmp, "out"), os.path.join(tmp, "err")
        code, wall, rss_mb, killed = execute(cmd, limit, out_path, err_path)
        with open(out_path, "rb") as f:
            out = f.read().decode("utf-8", "replace")
        with open(err_path, "rb") as f:
            err = f.read().decode("utf-8", "replace")
    time.sleep(0.05)  # let the server log its last request
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
    if code == 0:
        check_summary(run, err, recs)
    extra = {"wall": wall, "code": code, "rss_mb": rss_mb, "stderr": err,
             "sanitized": sanitized(cmd[0]), "have_br": have_br}
    names = expect_names(run, recs, read_log(opts["--log"]), ports, extra)
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
        tail = err.strip().splitlines()[-10:]
        if tail:
            print("  stderr (last lines):")
            for line in tail:
                print("    " + line[:300])
        return 1
    print("ok: %s (%.1f s, %d records)" % (run.name, wall, len(recs)))
    return 0


def main():
    argv = sys.argv[1:]
    mode = argv.pop(0) if argv else ""
    if mode == "serve":
        serve(argv)
    elif mode == "run":
        sys.exit(run_fetch(argv))
    else:
        sys.exit("usage: tlsserver.py serve --certs DIR [--log FILE] "
                 "[--lifetime S] | tlsserver.py run --ports FILE [...] "
                 "-- FETCH ARG...")


if __name__ == "__main__":
    main()
