#!/usr/bin/env bash
# tests/fetch/warc.sh - fetch --warc: the archive of a crawl, checked by an
# independent reader (tests/fetch/warcread.py), against fetch's own records,
# against what the server sent, and against Debian's wget as a control.
#
# Usage: tests/fetch/warc.sh   (from a build tree, as `make check` runs it)
#
# A Python server on a port the kernel picks serves a small site over
# HTTP/1.1 with keep-alive:
#
#   /robots.txt     700 KiB: "Disallow: /private/" first, "Disallow: /mid/"
#                   at 300 KiB, "Disallow: /late/" at the end; fetch reads
#                   robots.txt up to min(--max-body, 512 KiB), cut there
#   /               HTML linking everything below
#   /chunked        HTML sent chunked (with a chunk extension)
#   /gzip           HTML with Content-Encoding: gzip
#   /missing        404; /redirect: 301 to /page/4
#   /big            1,000,000 bytes with a Content-Length
#   /big-chunked    1,000,000 bytes chunked
#   /private/secret, /mid/page, /late/page, /page/N, /plain.txt
#   /tree/N         20 KiB pages linking /tree/8N+1 .. /tree/8N+8, without
#                   end, each after 5 ms (not linked from /)
#
# and the checks:
#
#   crawl A     fetch --max-body 100000 --warc a.warc: robots.txt is cut at
#               100000 bytes, so /private/ is obeyed and /mid/, /late/
#               are crawled; /big fails at its head, /big-chunked at the
#               cut, both archived with WARC-Truncated: length
#   crawl B     fetch --max-body 600000 --warc b.warc.gz: robots.txt is
#               cut at 512 KiB (so /mid/ is obeyed too), one gzip member
#               per record
#   each        exit 0; warcread.py --fetch accepts the archive; every
#               record of fetch's output with a status has a response
#               record with that status and every response record (but
#               robots.txt's) a record; robots.txt has one, truncated;
#               the payload digests of /chunked and /gzip are those of
#               the body as a plain HTTP client gets it (de-chunked by
#               http.client; the gzip bytes undecoded); WARC-IP-Address
#               is 127.0.0.1
#   open        --warc in a missing directory and --warc /dev/full: exit
#               2, "fetch: --warc FILE: why", no request, no record
#   write error crawl A with a file size limit (ulimit -f, SIGXFSZ
#               ignored) that the archive passes: exit 1, the error
#               said once, every record of the crawl still written, the
#               archive valid up to its last whole record
#   wget        wget -r --warc-file of the same site (no CDX, no proxy,
#               no configuration file): warcread.py accepts it too, once
#               told that wget 1.21 digests a chunked payload with its
#               chunk framing in (/chunked, /big-chunked)
#   SIGKILL     fetch crawling /tree/ killed with SIGKILL once its
#               archive passes 3 MB (a.warc, then .gz): warcread.py
#               --torn-tail accepts what is left
#   any run     no sanitizer report on fetch's stderr (the ASan tree)
#   reader      a.warc cut inside a header, a block and a trailer is
#               refused strictly and accepted with --torn-tail; a byte
#               changed inside a block, or garbage after its end, is
#               refused either way
#
# Environment: FETCH (default ./examples/fetch/fetch), WARC_TIMEOUT
# (seconds per crawl, default 120). Exit status: 0 when every check
# passed, 1 when one failed, 77 (skipped) when fetch or python3 is missing.
# Without wget the control is skipped (and said so); the rest still runs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fetch=${FETCH:-./examples/fetch/fetch}
limit=${WARC_TIMEOUT:-120}
reader=$here/warcread.py
tmp=
server_pid=
port=
failed=0

say() {
  printf 'warc.sh: %s\n' "$*" >&2
}

bad() {
  say "FAIL: $*"
  failed=1
}

# Fail when a sanitizer reported on fetch's stderr (file $2) in run $1.
sanitized() {
  if grep -q -E 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:' "$2"; then
    bad "$1: a sanitizer report:"
    grep -m 3 -E 'Sanitizer|runtime error:' "$2" >&2
  fi
}

check_tools() {
  local missing=()
  [[ -x $fetch ]] || missing+=("fetch ($fetch)")
  command -v python3 >/dev/null || missing+=("python3")
  if ((${#missing[@]})); then
    say "SKIP: missing: ${missing[*]}"
    exit 77
  fi
}

# The site above. Prints "listening on 127.0.0.1:PORT", then logs "GET
# PATH" on stderr for each request.
site_server() {
  exec python3 -u -c '
import base64, gzip, http.server, random, sys, time

def page(title, links, fill=b""):
    body = "<html><head><title>%s</title></head><body>\n" % title
    body += "".join("<a href=\"%s\">%s</a>\n" % (l, l) for l in links)
    return body.encode() + fill + b"</body></html>\n"

def pad(text, size):
    line = b"# " + b"p" * 61 + b"\n"
    return text + line * ((size - len(text)) // len(line))

ROBOTS = pad(b"User-agent: *\nDisallow: /private/\n", 300 * 1024) + b"Disallow: /mid/\n"
ROBOTS = pad(ROBOTS, 700 * 1024) + b"Disallow: /late/\n"
HOME = page("home", ["/chunked", "/gzip", "/missing", "/big", "/big-chunked", "/redirect",
                     "/plain.txt", "/private/secret", "/mid/page", "/late/page", "/page/1"])
CHUNKED = page("chunked", ["/page/2"])
GZIP = gzip.compress(page("gzip", ["/page/3"]), mtime=0)
BIG = b"0123456789abcdef" * 62500

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, ctype="text/html", fields=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for name, value in fields:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_chunked(self, pieces, ctype="text/html"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, piece in enumerate(pieces):
            ext = b";note=x" if i == 1 else b""
            self.wfile.write(b"%x%s\r\n%s\r\n" % (len(piece), ext, piece))
        self.wfile.write(b"0\r\n\r\n")

    def do_GET(self):
        p = self.path
        print("GET " + p, file=sys.stderr, flush=True)
        try:
            self.route(p)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def route(self, p):
        if p == "/robots.txt":
            self.send(200, ROBOTS, "text/plain")
        elif p == "/":
            self.send(200, HOME)
        elif p == "/chunked":
            self.send_chunked([CHUNKED[i:i + 7] for i in range(0, len(CHUNKED), 7)])
        elif p == "/gzip":
            self.send(200, GZIP, fields=[("Content-Encoding", "gzip")])
        elif p == "/big":
            self.send(200, BIG, "text/plain")
        elif p == "/big-chunked":
            self.send_chunked([BIG[i:i + 10000] for i in range(0, len(BIG), 10000)], "text/plain")
        elif p == "/redirect":
            self.send(301, b"", fields=[("Location", "/page/4")])
        elif p == "/plain.txt":
            self.send(200, b"<a href=\"/not-a-link\">text</a>\n", "text/plain")
        elif p in ("/private/secret", "/mid/page", "/late/page") or p.startswith("/page/"):
            self.send(200, page(p, []))
        elif p.startswith("/tree/") and p[6:].isdigit():
            n = int(p[6:])
            time.sleep(0.005)
            fill = base64.b64encode(random.Random(n).randbytes(15000)) + b"\n"
            self.send(200, page(p, ["/tree/%d" % (8 * n + i) for i in range(1, 9)], fill))
        else:
            self.send(404, b"not found\n", "text/plain")

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request, address):
        pass  # a client gone mid-response (fetch cuts bodies, SIGKILL)

server = Server(("127.0.0.1", 0), Handler)
print("listening on 127.0.0.1:%d" % server.server_address[1])
server.serve_forever()
'
}

start_server() {
  local i
  site_server >"$tmp/server.out" 2>"$tmp/server.log" &
  server_pid=$!
  for ((i = 0; i < 100; i++)); do
    port=$(grep -oE '[0-9]+$' "$tmp/server.out" 2>/dev/null || true)
    [[ -n $port ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  say "the server did not start:"
  tail -n 5 "$tmp/server.log" >&2 || true
  exit 1
}

# Requests the server has logged so far.
requests() {
  wc -l <"$tmp/server.log"
}

# fetch_crawl NAME WARC MAX-BODY: crawl / into NAME.jsonl and WARC.
fetch_crawl() {
  local name=$1 warc=$2 max=$3 rc=0
  say "$name: $fetch -q -d 5 -c 4 --max-body $max --warc $warc http://127.0.0.1:$port/"
  timeout "$limit" "$fetch" -q -d 5 -c 4 --max-body "$max" --warc "$warc" -o "$tmp/$name.jsonl" \
    "http://127.0.0.1:$port/" 2>"$tmp/$name.err" || rc=$?
  if ((rc != 0)); then
    bad "$name: fetch exited with $rc:"
    tail -n 5 "$tmp/$name.err" >&2
  fi
  sanitized "$name" "$tmp/$name.err"
  if ! python3 "$reader" --fetch --list "$warc" >"$tmp/$name.list"; then
    bad "$name: warcread.py refuses $warc"
  fi
}

# compare NAME MAX-BODY: the archive's records against fetch's and the site.
compare() {
  python3 - "$1" "$2" "$tmp" "$port" <<'PY' || failed=1
import hashlib, base64, json, sys, urllib.request

name, max_body, tmp, port = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
origin = f"http://127.0.0.1:{port}"
problems = []
bad = problems.append

recs = [json.loads(l) for l in open(f"{tmp}/{name}.jsonl")]
warc = [json.loads(l) for l in open(f"{tmp}/{name}.list")]
by_url = {r["url"]: r for r in recs}
responses = {}
for w in warc:
    if w["type"] == "response":
        if w["uri"] in responses:
            bad(f"two response records for {w['uri']}")
        responses[w["uri"]] = w
        if w["ip"] != "127.0.0.1":
            bad(f"{w['uri']}: WARC-IP-Address {w['ip']}")

robots = origin + "/robots.txt"
if robots not in responses:
    bad("no response record for robots.txt")
elif responses[robots]["truncated"] != "length" or responses[robots]["status"] != 200:
    bad(f"robots.txt: {responses[robots]}")
for url, r in by_url.items():
    if r["status"] and url not in responses:
        bad(f"{url}: a record with status {r['status']}, no response record")
    elif r["status"] and responses[url]["status"] != r["status"]:
        bad(f"{url}: status {r['status']}, the archive says {responses[url]['status']}")
for url in responses:
    if url != robots and url not in by_url:
        bad(f"{url}: a response record, no record in fetch's output")

paths = {u[len(origin):] for u in by_url}
want = {"/", "/chunked", "/gzip", "/missing", "/big", "/big-chunked", "/redirect", "/plain.txt",
        "/late/page", "/page/1", "/page/2", "/page/3", "/page/4"}
if max_body < 300 * 1024:
    want.add("/mid/page")  # its Disallow line lies past the cut
if paths != want:
    bad(f"crawled {sorted(paths)}, expected {sorted(want)}")
for path in ("/big", "/big-chunked"):
    r, w = by_url.get(origin + path), responses.get(origin + path)
    over = max_body < 1000000
    if r and over and r.get("error") != "body over --max-body":
        bad(f"{path}: record {r}")
    if w and w["truncated"] != ("length" if over else None):
        bad(f"{path}: WARC-Truncated {w['truncated']}")
for url, w in responses.items():
    if url not in (robots, origin + "/big", origin + "/big-chunked") and w["truncated"]:
        bad(f"{url}: WARC-Truncated {w['truncated']}")

def digest(data):
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()

for path in ("/chunked", "/gzip"):
    with urllib.request.urlopen(origin + path) as f:  # de-chunked by http.client; gzip kept
        body = f.read()
    w = responses.get(origin + path)
    if w and w["payload_digest"] != digest(body):
        bad(f"{path}: WARC-Payload-Digest {w['payload_digest']}, the body's is {digest(body)}")

for p in problems:
    print(f"warc.sh: {name}: {p}", file=sys.stderr)
print(f"warc.sh: {name}: {len(recs)} records, {len(responses)} response records: "
      + ("ok" if not problems else "FAILED"), file=sys.stderr)
sys.exit(1 if problems else 0)
PY
}

# open_error NAME WARC REASON: exit 2 with the message, nothing requested.
open_error() {
  local name=$1 warc=$2 why=$3 rc=0 before
  before=$(requests)
  "$fetch" -q --warc "$warc" -o "$tmp/$name.jsonl" "http://127.0.0.1:$port/" 2>"$tmp/$name.err" || rc=$?
  ((rc == 2)) || bad "$name: exit $rc, expected 2"
  grep -qxF "fetch: --warc $warc: $why" "$tmp/$name.err" ||
    bad "$name: stderr is '$(head -c 200 "$tmp/$name.err")', expected 'fetch: --warc $warc: $why'"
  [[ ! -s $tmp/$name.jsonl ]] || bad "$name: records were written"
  sanitized "$name" "$tmp/$name.err"
  (($(requests) == before)) || bad "$name: requests were made"
  ((failed)) || say "$name: ok"
}

# A write error half-way: exit 1, said once, the crawl goes on.
write_error() {
  local rc=0 n
  say "write error: crawl A with ulimit -f 150 (KiB)"
  (
    trap '' XFSZ
    ulimit -f 150
    exec "$fetch" -q -d 5 -c 4 --max-body 100000 --warc "$tmp/full.warc" -o "$tmp/full.jsonl" \
      "http://127.0.0.1:$port/"
  ) 2>"$tmp/full.err" || rc=$?
  ((rc == 1)) || bad "write error: exit $rc, expected 1"
  sanitized "write error" "$tmp/full.err"
  n=$(grep -c "^fetch: --warc $tmp/full.warc: cannot write: " "$tmp/full.err" || true)
  ((n == 1)) || bad "write error: said $n times: $(head -c 300 "$tmp/full.err")"
  if [[ $(cut -d, -f1 "$tmp/full.jsonl" | sort) != $(cut -d, -f1 "$tmp/a.jsonl" | sort) ]]; then
    bad "write error: the crawl did not go on: its records differ from crawl A's"
  fi
  python3 "$reader" --fetch --torn-tail "$tmp/full.warc" || bad "write error: the archive is not valid up to its tail"
}

control_wget() {
  local rc=0
  if ! command -v wget >/dev/null; then
    say "SKIP the control: no wget (Debian: apt-get install wget)"
    return 0
  fi
  say "wget: wget -r -l 5 --warc-file of the same site"
  (cd "$tmp" && timeout "$limit" wget --no-config --no-proxy --no-hsts -e robots=on -r -l 5 -nv \
    --tries=1 --timeout=10 --warc-file="$tmp/wget" --warc-tempdir="$tmp" -P "$tmp/wget-files" \
    "http://127.0.0.1:$port/") >"$tmp/wget.out" 2>&1 || rc=$?
  # 8: some page got an error status (the 404), which the site has on purpose
  ((rc == 0 || rc == 8)) || { bad "wget exited with $rc"; tail -n 5 "$tmp/wget.out" >&2; }
  # wget digests a chunked payload with its framing: --raw-chunked-digest
  python3 "$reader" --raw-chunked-digest "$tmp/wget.warc.gz" 2>&1 | tee "$tmp/wget.read" >&2 ||
    bad "warcread.py refuses wget's archive"
  grep -q "ok, .* records; 2 payload digests over the chunk framing" "$tmp/wget.read" ||
    bad "wget's archive: expected its 2 chunked responses digested with their framing"
}

# kill_mid NAME WARC: SIGKILL fetch half-way through /tree/, check the rest.
kill_mid() {
  local name=$1 warc=$2 pid i size=0
  "$fetch" -q -d 100 -c 8 --no-robots --warc "$warc" -o "$tmp/$name.jsonl" \
    "http://127.0.0.1:$port/tree/0" 2>"$tmp/$name.err" &
  pid=$!
  for ((i = 0; i < limit * 10; i++)); do
    size=$(stat -c %s "$warc" 2>/dev/null || echo 0)
    ((size < 3000000)) || break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! kill -KILL "$pid" 2>/dev/null; then
    bad "$name: fetch was no longer running when its archive had $size bytes"
  fi
  wait "$pid" 2>/dev/null || true
  say "$name: killed at $(stat -c %s "$warc") bytes"
  python3 "$reader" --fetch --torn-tail "$warc" || bad "$name: the archive is not valid up to its tail"
}

# The reader itself: torn tails are tolerated only at the end. Each set of
# files goes through one run of the reader (it says "FILE: ok" for each
# file it accepts), since a Python start is slow on a loaded machine.
reader_checks() {
  local src=$tmp/a.warc size cut cuts=() f
  size=$(stat -c %s "$src")
  # inside the warcinfo's header, a block, the middle, a trailer
  for cut in 200 $((size / 3)) $((size / 2 + 17)) $((size - 2)); do
    head -c "$cut" "$src" >"$tmp/cut-$cut.warc"
    cuts+=("$tmp/cut-$cut.warc")
  done
  size=$(stat -c %s "$tmp/b.warc.gz")
  head -c $((size - 100)) "$tmp/b.warc.gz" >"$tmp/cut.warc.gz"
  cuts+=("$tmp/cut.warc.gz")
  python3 - "$src" "$tmp/flip.warc" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
i = data.find(b"<html>", len(data) // 2)  # inside a block, past the middle if one is there
i = (i if i >= 0 else data.index(b"<html>")) + 1
data[i] = ord("H")
open(sys.argv[2], "wb").write(data)
PY
  { cat "$src"; printf 'garbage\r\n'; } >"$tmp/junk.warc"
  python3 "$reader" --fetch "${cuts[@]}" >/dev/null 2>"$tmp/strict.read" || true
  python3 "$reader" --fetch --torn-tail "${cuts[@]}" >/dev/null 2>"$tmp/torn.read" || true
  python3 "$reader" --fetch --torn-tail "$tmp/flip.warc" "$tmp/junk.warc" >/dev/null \
    2>"$tmp/broken.read" || true
  for f in "${cuts[@]}"; do
    ! grep -qF "$f: ok" "$tmp/strict.read" || bad "reader: ${f##*/} accepted without --torn-tail"
    grep -qF "$f: ok" "$tmp/torn.read" || bad "reader: ${f##*/} refused with --torn-tail"
  done
  ! grep -qF "flip.warc: ok" "$tmp/broken.read" || bad "reader: a changed byte in a block accepted"
  ! grep -qF "junk.warc: ok" "$tmp/broken.read" || bad "reader: garbage after the last record accepted"
  ((failed)) || say "reader: ok"
}

cleanup() {
  if [[ -n $server_pid ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  [[ -n $tmp ]] && rm -rf "$tmp"
}

main() {
  check_tools
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-warc.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  start_server
  fetch_crawl a "$tmp/a.warc" 100000
  compare a 100000
  fetch_crawl b "$tmp/b.warc.gz" 600000
  compare b 600000
  open_error "open-missing-dir" "$tmp/no/such/dir/x.warc" "no such file or directory"
  open_error "open-dev-full" /dev/full "No space left on device"
  write_error
  control_wget
  kill_mid "SIGKILL" "$tmp/kill.warc"
  kill_mid "SIGKILL .gz" "$tmp/kill.warc.gz"
  reader_checks
  if ((failed)); then
    say "FAIL"
    return 1
  fi
  say "PASS"
}

main "$@"
