#!/usr/bin/env python3
"""httpd_soak.py - examples/httpd/httpd under a thousand misbehaving clients,
while a checker's well-formed requests must all be answered right.

Usage: httpd_soak.py [--rounds N | --seconds S] [--clients N] [--seed S]
                     [--rss-mb MB] HTTPD TMPDIR

Builds a site under TMPDIR/site, starts HTTPD on port 0 with short
deadlines (-T 3000 -S 3000: a request head must arrive within 3 s, each
piece of an answer leave within 3 s; -K 600000 keeps idle connections
open far longer than a round can take to open, however slow the machine:
the idle deadline itself is httpd_client.py's to check), and runs rounds until --rounds are
done or --seconds have passed (at least one round either way).

A round opens --clients connections (default 1000), in waves of WAVE.
The kernel's accept queue and SYN backlog are finite, and connect()
returning says nothing about the server having accepted: so each
connection first proves that httpd serves it, by a well-formed request
and its whole, correct answer on it (most behaviours), or by the error
answer to the malformed request it opens with; a wave starts only when
every connection of the one before has proved itself, so no more than
WAVE connections ever wait in the kernel's queues. The proven
connections wait, open, until all of the round's connections are open;
then they all misbehave at once:

  slow-writer    a request one byte at a time, 10-40 ms apart: answered,
                 or closed at the request deadline
  half-request   half a request head, then nothing: closed at the
                 request deadline, with no answer
  half-fin       half a request head, then FIN: closed, no answer
  reset-request  half a request head, then RST (SO_LINGER 0)
  reset-answer   GET /big.bin, a little of the answer, then RST
  slow-reader    GET /mid.bin (100 KiB) with a 4 KiB receive buffer,
                 read in small pieces: the file, or a prefix of it (cut
                 at the send deadline), then the close
  stalled-reader GET /big.bin with a 4 KiB receive buffer, nothing read
                 until the send deadline has passed, then up to 256 KiB:
                 a prefix of the file (whether httpd cut it by then
                 depends on the kernel's buffers, so it is not asserted)
  malformed      a malformed request (bad line, bad header, NUL, huge
                 target or header block, HTTP/2.0, random bytes, ...):
                 the status MALFORMED names (400, 414, 431, 505), then
                 the close; where several readings are lawful (blank
                 lines, bare LF, a GET with a body, random bytes) any
                 answer or none
  pipelined-junk a good request and a malformed one in one write: the
                 file, then as for malformed
  post-body      POST with a body half sent: 405, then closed
  pipelined      twenty good requests in one write, each answer right
  idle           a kept-alive connection that says nothing more
  silent         (not proven first) connect and send nothing: closed at
                 the request deadline, with no answer
  malformed-first (proven by its answer) malformed from the first byte
  connect-reset  (not proven) connect, then RST at once

The half-request, half-fin and silent ones must get no byte of an
answer. Every connection must reach its outcome within IO_TIMEOUT (a
generous bound: the deadlines above end each within seconds; missing
it means a hang); idle ones are closed by the client at the end of the
round.  All the while a
checker thread issues well-formed GET and HEAD requests, on fresh and on
kept-alive connections, for files of 0 bytes to 3 MiB, and compares each
answer with the file; a round ends only after the checker has finished
CHECKS_PER_ROUND requests during it.  A kept-alive connection that the
server closes before any byte of an answer is retried on a fresh one
(RFC 9112 section 9.3.1: that race is the client's to handle); any other
failure of a well-formed request fails the test.

After the last round: httpd's open descriptors return to what they were
before the first (no leaked sockets or files; waited for, up to 30 s,
since its tasks close on their own deadlines), its peak RSS (VmHWM) is
under --rss-mb, it still answers, and SIGTERM ends it with status 0
within 10 s and nothing on stderr (no sanitizer report, no crash).
Prints one line per round; exit status 0 when all passed, 1 on a
failure, 77 when RLIMIT_NOFILE cannot be raised enough.
"""

import asyncio
import hashlib
import os
import random
import re
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback

WAVE = 100  # connections opened before each wait for their proofs
IO_TIMEOUT = 60.0  # seconds any connection may take to reach its outcome
CHECKS_PER_ROUND = 30
REQUEST_MS, IDLE_MS, SEND_MS = 3000, 600000, 3000


class Failure(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise Failure(msg)


# ---------------------------------------------------------------- the site

def build_site(tmp):
    site = os.path.join(tmp, "site")
    files = {
        "a.txt": b"hello from a.txt\n",
        "empty.txt": b"",
        "page.html": b"<html><body>" + b"<p>weft</p>\n" * 300 + b"</body></html>\n",
        "mid.bin": os.urandom(100 * 1024 + 7),
        "big.bin": os.urandom(3 * 1024 * 1024 + 11),
        "sub/index.html": b"<html>sub index</html>\n",
        "sub/deep/x.json": b'{"x": 1}\n',
    }
    for name, data in files.items():
        path = os.path.join(site, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    files["sub/"] = files["sub/index.html"]
    return site, files


def request(target, method="GET", extra=b"", close=False):
    return (b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s\r\n"
            % (method.encode(), target.encode(), b"Connection: close\r\n" if close else b"",
               extra))


def parse_head(raw):
    """(status, headers) of a response head, or Failure."""
    lines = raw.decode("latin-1").split("\r\n")
    m = re.fullmatch(r"HTTP/1\.1 (\d{3}) .*", lines[0])
    expect(m, "bad status line %r" % lines[0][:100])
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        expect(sep, "bad header line %r" % line[:100])
        headers[name.strip().lower()] = value.strip()
    return int(m.group(1)), headers


# ---------------------------------------------------------------- the checker

class Closed(Exception):
    """The server closed a kept-alive connection before any byte of the
    answer: the request may be sent again."""


class Checker(threading.Thread):
    """Well-formed requests in a loop, each answer compared with the file.
    Any failure is kept in self.failure and ends the loop."""

    def __init__(self, port, files, seed):
        super().__init__(daemon=True)
        self.port, self.files = port, files
        self.rng = random.Random("%s/checker" % seed)
        self.lock = threading.Condition()
        self.done = 0
        self.retried = 0
        self.failure = None
        self.stopping = False

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=IO_TIMEOUT)
        s.settimeout(IO_TIMEOUT)
        return s

    def read_answer(self, s, buf, head_only, reused):
        while b"\r\n\r\n" not in buf:
            try:
                data = s.recv(65536)
            except ConnectionResetError:
                data = None
            except socket.timeout:
                raise Failure("no answer within %.0f s" % IO_TIMEOUT)
            if not data:
                if reused and not buf:
                    raise Closed()
                raise Failure("closed after %d bytes of the answer's head" % len(buf))
            buf += data
        raw, _, buf = buf.partition(b"\r\n\r\n")
        status, headers = parse_head(raw)
        n = 0 if head_only else int(headers.get("content-length", "-1"))
        expect(n >= 0, "no Content-Length")
        while len(buf) < n:
            try:
                data = s.recv(1 << 20)
            except socket.timeout:
                raise Failure("the body stalled for %.0f s" % IO_TIMEOUT)
            expect(data, "closed after %d of %d body bytes" % (len(buf), n))
            buf += data
        return status, headers, buf[:n], buf[n:]

    def check_one(self, s, name, reused, close):
        head = self.rng.random() < 0.15
        target = "/" + name
        s.sendall(request(target, "HEAD" if head else "GET", close=close))
        status, headers, body, rest = self.read_answer(s, b"", head, reused)
        want = self.files[name]
        expect(status == 200, "%s %s: status %d" % ("HEAD" if head else "GET", target, status))
        expect(headers.get("content-length") == str(len(want)),
               "%s: Content-Length %s, want %d" % (target, headers.get("content-length"),
                                                  len(want)))
        expect(head or hashlib.sha256(body).digest() == hashlib.sha256(want).digest(),
               "GET %s: the body differs from the file" % target)
        expect(not rest, "%s: %d unexpected bytes after the answer" % (target, len(rest)))

    def session(self):
        """One connection: a single request that asks to close, or up to
        eight kept alive."""
        names = sorted(self.files)
        if self.rng.random() < 0.4:
            s = self.connect()
            try:
                self.check_one(s, self.rng.choice(names), False, True)
            finally:
                s.close()
            self.count(1)
            return
        s = self.connect()
        try:
            for i in range(self.rng.randint(1, 8)):
                name = self.rng.choice(names)
                try:
                    self.check_one(s, name, i > 0, False)
                except Closed:
                    s.close()
                    with self.lock:
                        self.retried += 1
                    s = self.connect()
                    self.check_one(s, name, False, False)
                self.count(1)
        finally:
            s.close()

    def count(self, n):
        with self.lock:
            self.done += n
            self.lock.notify_all()

    def run(self):
        try:
            while not self.stopping:
                self.session()
        except Exception as e:  # a Failure, or a socket error: both fail
            with self.lock:
                self.failure = "a well-formed request failed: %s: %s" % (type(e).__name__, e)
                self.lock.notify_all()

    def wait_for(self, n, timeout):
        """Waits until n requests are done in all. Returns whether they
        were; raises the checker's failure."""
        with self.lock:
            ok = self.lock.wait_for(lambda: self.done >= n or self.failure, timeout)
            if self.failure:
                raise Failure(self.failure)
            return ok


# ---------------------------------------------------------------- the abusers

# Malformed requests and the statuses httpd must answer them with (then
# it closes); None: any answer, or none (blank lines are skipped, bare LF
# line ends and a GET with a body are accepted).
MALFORMED = [
    (b"GARBAGE\r\n\r\n", {400}),
    (b"GET /a.txt\r\n\r\n", {400}),
    (b"GET /a.txt HTTP/1.1 more\r\nHost: x\r\n\r\n", {400}),
    (b"GET /a\x01.txt HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
    (b"GET /a.txt HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", {400}),
    (b"GET /a.txt HTTP/1.1\r\nHost : x\r\n\r\n", {400}),
    (b"GET /a.txt HTTP/1.1\r\nHost: x\r\nX: 1\r\n folded\r\n\r\n", {400}),
    (b"GET /a.txt HTTP/1.1\r\n\r\n", {400}),
    (b"GET /a.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", {400}),
    (b"GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", {400}),
    (b"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
    (b"GET /a.txt%00 HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
    (b"GET ../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", {414}),
    (b"GET /a.txt HTTP/1.1\r\nHost: x\r\n" + b"X-Fill: " + b"v" * 17000 + b"\r\n\r\n", {431}),
    (b"GET /a.txt HTTP/2.0\r\nHost: x\r\n\r\n", {505}),
    (b"GET /a.txt HTTP/1.1\r\nHost: x\x00y\r\n\r\n", None),
    (b"\r\n\r\n\r\n\r\n", None),
    (b"GET /a.txt HTTP/1.1\nHost: x\n\n\x00\x00", None),
    (b"GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", None),
]


def random_junk(rng):
    return bytes(rng.randrange(1, 256) for _ in range(rng.randint(1, 300))) + b"\r\n\r\n", None


def malformed(rng):
    return rng.choice(MALFORMED + [random_junk(rng)])


class Conn:
    """One misbehaving connection of a round."""

    def __init__(self, rnd, i, kind):
        self.rnd, self.i, self.kind = rnd, i, kind
        self.rng = random.Random("%s/%d/%d" % (rnd.seed, rnd.number, i))
        self.sock = None
        self.proven = asyncio.get_running_loop().create_future()

    def fail(self, msg):
        raise Failure("round %d, connection %d (%s): %s" % (self.rnd.number, self.i, self.kind,
                                                            msg))

    async def send(self, data):
        await asyncio.wait_for(self.rnd.loop.sock_sendall(self.sock, data), IO_TIMEOUT)

    async def recv(self, n=65536):
        """Bytes, b"" at the close, or None for a reset."""
        try:
            return await asyncio.wait_for(self.rnd.loop.sock_recv(self.sock, n), IO_TIMEOUT)
        except (ConnectionResetError, BrokenPipeError):
            return None
        except asyncio.TimeoutError:
            self.fail("nothing from the server in %.0f s" % IO_TIMEOUT)

    async def answer(self, buf=b"", head=False):
        """One whole answer: (status, headers, body, rest), or None if the
        server closed first."""
        while b"\r\n\r\n" not in buf:
            data = await self.recv()
            if not data:
                return None if not buf else self.fail("closed inside an answer's head")
            buf += data
        raw, _, buf = buf.partition(b"\r\n\r\n")
        try:
            status, headers = parse_head(raw)
        except Failure as e:
            self.fail(str(e))
        n = 0 if head else int(headers.get("content-length", "0"))
        while len(buf) < n:
            data = await self.recv(1 << 20)
            if not data:
                self.fail("closed after %d of %d body bytes" % (len(buf), n))
            buf += data
        return status, headers, buf[:n], buf[n:]

    async def closed_silently(self):
        """The server must close (or reset) without sending anything."""
        data = await self.recv()
        if data:
            self.fail("an answer to an incomplete request: %r" % data[:80])

    async def good_exchange(self, name="a.txt"):
        """The proof: a well-formed request and its right answer."""
        await self.send(request("/" + name))
        got = await self.answer()
        if got is None:
            self.fail("closed instead of answering a well-formed request")
        status, _, body, rest = got
        if status != 200 or body != self.rnd.files[name] or rest:
            self.fail("a well-formed request got %d, %d bytes" % (status, len(body)))

    async def send_malformed(self, prefix=b""):
        """A malformed request, after prefix; then its answer must come
        (answer) and be one of the statuses it calls for."""
        data, statuses = malformed(self.rng)
        await self.send(prefix + data)
        self.statuses = statuses

    async def error_answer(self, buf=b""):
        got = await self.answer(buf)
        if self.statuses is None:
            return
        if got is None:
            self.fail("closed without the %s answer to a malformed request"
                      % "/".join(map(str, sorted(self.statuses))))
        if got[0] not in self.statuses:
            self.fail("status %d for a malformed request, want %s"
                      % (got[0], "/".join(map(str, sorted(self.statuses)))))

    def reset(self):
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    async def run(self):
        loop = self.rnd.loop
        self.sock = socket.socket()
        self.sock.setblocking(False)
        try:
            if self.kind in ("slow-reader", "stalled-reader"):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            try:
                await asyncio.wait_for(loop.sock_connect(self.sock, ("127.0.0.1", self.rnd.port)),
                                       IO_TIMEOUT)
            except (OSError, asyncio.TimeoutError) as e:
                self.fail("connect: %s" % e)
            if self.kind == "silent":
                self.proven.set_result(None)  # not gated: proves itself at its close
                await self.closed_silently()
                return
            if self.kind == "connect-reset":
                self.proven.set_result(None)
                self.reset()
                return
            if self.kind == "malformed-first":
                await self.send_malformed()
                await self.error_answer()
                self.proven.set_result(None)
                return
            await self.good_exchange(self.rng.choice(["a.txt", "empty.txt", "sub/index.html"]))
            self.proven.set_result(None)
            await self.rnd.all_open.wait()
            await getattr(self, "abuse_" + self.kind.replace("-", "_"))()
        except Failure:
            raise
        except Exception as e:
            self.fail("%s: %s" % (type(e).__name__, e))
        finally:
            if not self.proven.done():
                self.proven.set_result(None)
            if self.sock.fileno() >= 0:
                self.sock.close()

    async def abuse_slow_writer(self):
        data = request("/mid.bin")
        for i in range(len(data)):
            try:
                await self.send(data[i:i + 1])
            except (ConnectionResetError, BrokenPipeError):
                return  # cut at the request deadline
            await asyncio.sleep(self.rng.uniform(0.01, 0.04))
        got = await self.answer()
        if got is not None and (got[0] != 200 or got[2] != self.rnd.files["mid.bin"]):
            self.fail("status %d, %d bytes for the slow request" % (got[0], len(got[2])))

    async def abuse_half_request(self):
        data = request("/a.txt")
        await self.send(data[:self.rng.randrange(1, len(data) - 2)])
        await self.closed_silently()

    async def abuse_half_fin(self):
        data = request("/a.txt")
        await self.send(data[:self.rng.randrange(1, len(data) - 2)])
        self.sock.shutdown(socket.SHUT_WR)
        await self.closed_silently()

    async def abuse_reset_request(self):
        data = request("/page.html")
        await self.send(data[:self.rng.randrange(1, len(data) - 2)])
        self.reset()

    async def abuse_reset_answer(self):
        await self.send(request("/big.bin"))
        data = await self.recv()
        if not data:
            self.fail("no answer to GET /big.bin")
        self.reset()

    async def abuse_slow_reader(self):
        await self.send(request("/mid.bin", close=True))
        await self.read_prefix_of("mid.bin")

    async def abuse_stalled_reader(self):
        await self.send(request("/big.bin", close=True))
        # Read nothing until the server has given up on sending (after
        # the send deadline), which a closed or reset stream then shows.
        await asyncio.sleep(SEND_MS / 1000 + 0.5)
        await self.read_prefix_of("big.bin", 256 * 1024)

    async def read_prefix_of(self, name, most=None):
        """Reads to the close (or most bytes): a 200 head and the file, or
        a prefix of it (cut at the send deadline)."""
        buf = b""
        while most is None or len(buf) < most:
            data = await self.recv(self.rng.choice([512, 4096, 16384, 1 << 20]))
            if not data:
                break
            buf += data
        raw, sep, body = buf.partition(b"\r\n\r\n")
        if not sep or not raw.startswith(b"HTTP/1.1 200 "):
            self.fail("no 200 head for GET /%s: %r" % (name, buf[:80]))
        if body != self.rnd.files[name][:len(body)]:
            self.fail("the body of /%s differs from the file" % name)

    async def abuse_malformed(self):
        await self.send_malformed()
        await self.error_answer()

    async def abuse_pipelined_junk(self):
        await self.send_malformed(request("/a.txt"))
        got = await self.answer()
        if got is None or got[0] != 200 or got[2] != self.rnd.files["a.txt"]:
            self.fail("the good request before the junk was not answered right")
        await self.error_answer(got[3])

    async def abuse_post_body(self):
        await self.send(b"POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
                        + b"b" * self.rng.randint(0, 5000))
        got = await self.answer()
        if got is not None and got[0] != 405:
            self.fail("status %d for a POST, want 405" % got[0])

    async def abuse_pipelined(self):
        names = [self.rng.choice(["a.txt", "mid.bin", "page.html", "empty.txt"])
                 for _ in range(20)]
        await self.send(b"".join(request("/" + n) for n in names))
        buf = b""
        for n in names:
            got = await self.answer(buf)
            if got is None or got[0] != 200 or got[2] != self.rnd.files[n]:
                self.fail("pipelined GET /%s not answered right" % n)
            buf = got[3]

    async def abuse_idle(self):
        await self.rnd.finished.wait()


HELD = ["slow-writer", "half-request", "half-fin", "reset-request", "reset-answer",
        "slow-reader", "stalled-reader", "malformed", "pipelined-junk", "post-body",
        "pipelined", "idle"]
KINDS = HELD * 6 + ["silent", "malformed-first", "malformed-first", "connect-reset"]


class Round:
    def __init__(self, number, port, files, seed, clients):
        self.number, self.port, self.files, self.seed = number, port, files, seed
        self.clients = clients

    async def run(self):
        self.loop = asyncio.get_running_loop()
        self.all_open = asyncio.Event()
        self.finished = asyncio.Event()
        rng = random.Random("%s/%d" % (self.seed, self.number))
        kinds = [rng.choice(KINDS) for _ in range(self.clients)]
        conns, tasks = [], []
        for start in range(0, self.clients, WAVE):
            wave = [Conn(self, i, kinds[i]) for i in range(start, min(start + WAVE, self.clients))]
            conns += wave
            tasks += [asyncio.ensure_future(c.run()) for c in wave]
            # Each connection of the wave proves that httpd accepted and
            # serves it before the next wave connects (or fails the round).
            await self.wait_all(tasks, [c.proven for c in wave])
        self.peak = sum(1 for t in tasks if not t.done())
        self.all_open.set()
        held = [t for t, c in zip(tasks, conns) if c.kind != "idle"]
        await self.wait_all(tasks, held)
        self.finished.set()
        await self.wait_all(tasks, tasks)
        self.counts = {}
        for c in conns:
            self.counts[c.kind] = self.counts.get(c.kind, 0) + 1

    async def wait_all(self, tasks, awaited):
        """Waits until everything in awaited is done; the first of tasks
        to fail fails the round (and the rest are cancelled)."""
        while True:
            for t in tasks:
                if t.done() and not t.cancelled() and t.exception():
                    for u in tasks:
                        u.cancel()
                    raise t.exception()
            left = [a for a in awaited if not a.done()]
            if not left:
                return
            await asyncio.wait(set(left) | {t for t in tasks if not t.done()},
                               return_when=asyncio.FIRST_COMPLETED)


# ---------------------------------------------------------------- the server

class Server:
    def __init__(self, binary, site, tmp):
        self.err_path = os.path.join(tmp, "httpd.stderr")
        self.err = open(self.err_path, "wb")
        env = dict(os.environ, WEFT_WARN_BLOCKING_MS="0")
        self.proc = subprocess.Popen(
            [binary, "-T", str(REQUEST_MS), "-K", str(IDLE_MS), "-S", str(SEND_MS), site],
            stdout=subprocess.PIPE, stderr=self.err, env=env)
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        line, deadline = b"", time.monotonic() + 30
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            expect(left > 0 and sel.select(left), "httpd printed no line within 30 s")
            b = os.read(self.proc.stdout.fileno(), 1)
            if not b:
                raise Failure("httpd exited at once (status %s): %s"
                              % (self.proc.wait(), self.stderr()))
            line += b
        sel.close()
        m = re.fullmatch(r"httpd: listening on 127\.0\.0\.1:(\d+)\n", line.decode())
        expect(m, "httpd's first line is %r" % line)
        self.port = int(m.group(1))

    def alive(self):
        expect(self.proc.poll() is None, "httpd died (status %s): %s"
               % (self.proc.returncode, self.stderr()[-3000:]))

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def hwm_mb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            m = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M)
        return int(m.group(1)) / 1024.0

    def stderr(self):
        self.err.flush()
        with open(self.err_path, "rb") as f:
            return f.read().decode("latin-1")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            return False
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return True


def wait_fds(server, want, timeout):
    """Waits until httpd has want descriptors open; returns the count."""
    deadline = time.monotonic() + timeout
    while True:
        n = server.fds()
        if n <= want or time.monotonic() > deadline:
            return n
        time.sleep(0.1)


def main():
    args = sys.argv[1:]
    rounds, seconds, clients, seed, rss_mb = 1, None, 1000, "11", 0.0
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--rounds":
            rounds = int(args.pop(0))
        elif opt == "--seconds":
            seconds = float(args.pop(0))
        elif opt == "--clients":
            clients = int(args.pop(0))
        elif opt == "--seed":
            seed = args.pop(0)
        elif opt == "--rss-mb":
            rss_mb = float(args.pop(0))
        else:
            sys.exit("httpd_soak: unknown option %s" % opt)
    if len(args) != 2:
        sys.exit("usage: httpd_soak.py [--rounds N | --seconds S] [--clients N] [--seed S] "
                 "[--rss-mb MB] HTTPD TMPDIR")
    binary, tmp = args
    sys.stdout.reconfigure(line_buffering=True)
    if not raise_fd_limit(clients + 200):
        print("SKIP: RLIMIT_NOFILE's hard limit is %d; %d connections need %d"
              % (resource.getrlimit(resource.RLIMIT_NOFILE)[1], clients, clients + 200))
        return 77
    site, files = build_site(tmp)
    server, checker = None, None
    start = time.monotonic()
    try:
        server = Server(binary, site, tmp)
        print("httpd_soak: seed %s, %d connections a round, httpd on port %d"
              % (seed, clients, server.port))
        checker = Checker(server.port, files, seed)
        Checker(server.port, files, seed + "/before").session()  # warm up: file I/O
        base_fds = server.fds()
        checker.start()
        number = 0
        while True:
            number += 1
            t0 = time.monotonic()
            want = checker.done + CHECKS_PER_ROUND
            rnd = Round(number, server.port, files, seed, clients)
            asyncio.run(rnd.run())
            server.alive()
            # The round is over when the checker's requests ran through it.
            if not checker.wait_for(want, 10 * IO_TIMEOUT):
                raise Failure("the checker finished no %d requests in %.0f s"
                              % (CHECKS_PER_ROUND, 10 * IO_TIMEOUT))
            print("round %d: %d connections (%d open at once), %s; %d well-formed requests "
                  "right so far; %.1f s"
                  % (number, clients, rnd.peak,
                     " ".join("%s=%d" % kv for kv in sorted(rnd.counts.items())),
                     checker.done, time.monotonic() - t0))
            if seconds is None and number >= rounds:
                break
            if seconds is not None and time.monotonic() - start >= seconds:
                break
        checker.stopping = True
        checker.join(IO_TIMEOUT * 3)
        expect(not checker.is_alive(), "the checker is stuck")
        if checker.failure:
            raise Failure(checker.failure)
        server.alive()
        n = wait_fds(server, base_fds, 30)
        expect(n <= base_fds, "httpd has %d descriptors open 30 s after the clients left; "
               "%d before the first round" % (n, base_fds))
        hwm = server.hwm_mb()
        expect(not rss_mb or hwm < rss_mb, "httpd's peak RSS is %.0f MB; the bound is %.0f MB"
               % (hwm, rss_mb))
        c = Checker(server.port, files, seed + "/after")
        c.session()
        server.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = server.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            raise Failure("httpd still running 10 s after SIGTERM")
        expect(server.proc.returncode == 0, "httpd exited with %d after SIGTERM"
               % server.proc.returncode)
        err = server.stderr()
        expect(not err, "httpd wrote to stderr: %s" % err[-3000:])
        print("httpd_soak: %d rounds, %d well-formed requests all right (%d retried after a "
              "keep-alive close), httpd's peak RSS %.0f MB, %d descriptors before and after, "
              "%s; %.1f s" % (number, checker.done, checker.retried, hwm, base_fds,
                               out.decode().strip(), time.monotonic() - start))
        return 0
    except Exception as e:
        if isinstance(e, Failure):
            print("FAIL: %s" % e)
        else:
            print("FAIL: %s" % "".join(traceback.format_exception(e)).rstrip())
        print("  (seed %s; rerun: tests/fetch/httpd_soak.py --seed %s ...)" % (seed, seed))
        if server is not None:
            err = server.stderr()
            if err:
                print("httpd's stderr:\n%s" % err[-4000:])
        return 1
    finally:
        if checker is not None:
            checker.stopping = True
        if server is not None:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())
