#!/usr/bin/env bash
# tests/fetch/sitemaps.sh - fetch --sitemaps against a site whose pages are
# reachable only through its sitemaps, and whose sitemaps go wrong in every
# way the crawler must survive.
#
# Usage: tests/fetch/sitemaps.sh   (from a build tree, as `make check` runs it)
#
# A Python http.server subclass (HTTP/1.1, keep-alive, on a port the kernel
# picks, stopped by its PID) serves a site made in memory. Its start page
# links nowhere. Its robots.txt disallows /private/ and names these
# sitemaps (the first one by a relative URL):
#
#   /sitemap.xml       a urlset: /only/plain.html, the start page again,
#                      /private/p.html, an off-site URL, /only/rejected.html
#                      (which --reject drops), "not a url" and a 10,000-byte
#                      <loc>
#   /gz.xml.gz         a gzipped urlset (application/x-gzip, no
#                      Content-Encoding): /only/gz.html
#   /ce.xml            a urlset sent with Content-Encoding: gzip:
#                      /only/ce.html
#   /index.xml         a sitemap index listing itself, /child.xml
#                      (/only/child.html) and /loop-a.xml, which lists
#                      /loop-b.xml, which lists /loop-a.xml and /loop-page.xml
#                      (/only/loop.html)
#   /moved.xml         301 to /moved-target.xml: /only/moved.html
#   /deep/1.xml        indexes nested five deep, /deep/5.xml holding a page
#   /bad.xml           not XML
#   /bomb.xml.gz       60 MiB of zeros gzipped into about 60 KiB (60 members)
#   /missing.xml       404
#
# Three crawls from / at the default depth 0, each checked against its
# records and the server's access log:
#
#   sitemaps   --sitemaps --reject rejected: the start page and the six
#              /only/ pages at depth 1; an error record for /bad.xml ("not
#              XML"), /bomb.xml.gz ("over 50 MB uncompressed"),
#              /missing.xml ("HTTP status 404") and /deep/4.xml (nested too
#              deep); no other record. Each sitemap (the index that lists
#              itself and the loop included) and each page requested once,
#              /deep/5.xml, /private/ and the rejected page never. No
#              crawler holds its worker long enough for weft to warn (the
#              parse runs on the thread pool).
#   plain      no --sitemaps: the start page only, and no sitemap requested.
#   budget     --sitemaps -n 3: sitemaps contribute 3 URLs at most, the
#              first three robots.txt names; the start page's record only.
#
# Environment: FETCH (default ./examples/fetch/fetch), SITEMAPS_TIMEOUT
# (seconds per crawl, default 60). Exit status: 0 when every check passed,
# 1 when one failed, 77 (skipped) when fetch or python3 is missing.
set -euo pipefail

fetch=${FETCH:-./examples/fetch/fetch}
limit=${SITEMAPS_TIMEOUT:-60}
tmp=
server_pid=
port=
failed=0

say() {
  printf 'sitemaps.sh: %s\n' "$*" >&2
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

# The site's server: it prints "listening on 127.0.0.1:PORT", then logs
# each request on stderr as http.server does ("GET /path HTTP/1.1" 200).
site_server() {
  exec python3 -u -c '
import gzip, http.server

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

server = Server(("127.0.0.1", 0), None)
origin = "http://127.0.0.1:%d" % server.server_address[1]
NS = "http://www.sitemaps.org/schemas/sitemap/0.9"

def urlset(*locs):
    body = "".join("<url><loc>%s</loc></url>\n" % l for l in locs)
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"%s\">\n%s</urlset>\n"
            % (NS, body)).encode()

def index(*locs):
    body = "".join("<sitemap><loc>%s</loc></sitemap>\n" % l for l in locs)
    return ("<sitemapindex xmlns=\"%s\">\n%s</sitemapindex>\n" % (NS, body)).encode()

XML = {"Content-Type": "application/xml"}
site = {
    "/": (200, {"Content-Type": "text/html"}, b"<html><body>No links here.</body></html>"),
    "/robots.txt": (200, {"Content-Type": "text/plain"}, ("User-agent: *\nDisallow: /private/\n"
        "Sitemap: /sitemap.xml\n" + "".join("Sitemap: %s%s\n" % (origin, p) for p in (
            "/gz.xml.gz", "/ce.xml", "/index.xml", "/moved.xml", "/deep/1.xml", "/bad.xml",
            "/bomb.xml.gz", "/missing.xml"))).encode()),
    "/sitemap.xml": (200, XML, urlset(origin + "/only/plain.html", origin + "/",
        origin + "/private/p.html", "http://offsite.invalid/x", origin + "/only/rejected.html",
        "not a url", origin + "/" + "x" * 10000)),
    "/gz.xml.gz": (200, {"Content-Type": "application/x-gzip"},
        gzip.compress(urlset(origin + "/only/gz.html"), mtime=0)),
    "/ce.xml": (200, dict(XML, **{"Content-Encoding": "gzip"}),
        gzip.compress(urlset(origin + "/only/ce.html"), mtime=0)),
    "/index.xml": (200, XML, index(origin + "/index.xml", origin + "/child.xml",
        origin + "/loop-a.xml")),
    "/child.xml": (200, XML, urlset(origin + "/only/child.html")),
    "/loop-a.xml": (200, XML, index(origin + "/loop-b.xml")),
    "/loop-b.xml": (200, XML, index(origin + "/loop-a.xml", origin + "/loop-page.xml")),
    "/loop-page.xml": (200, XML, urlset(origin + "/only/loop.html")),
    "/moved.xml": (301, {"Location": "/moved-target.xml"}, b""),
    "/moved-target.xml": (200, XML, urlset(origin + "/only/moved.html")),
    "/deep/5.xml": (200, XML, urlset(origin + "/only/deep.html")),
    "/bad.xml": (200, XML, b"Sorry, the sitemap is being rebuilt.\n"),
    "/bomb.xml.gz": (200, {"Content-Type": "application/gzip"},  # 60 members of 1 MiB
        gzip.compress(b"\0" * (1 << 20), compresslevel=9, mtime=0) * 60),
}
for i in range(1, 5):
    site["/deep/%d.xml" % i] = (200, XML, index("%s/deep/%d.xml" % (origin, i + 1)))
for p in ("plain", "gz", "ce", "child", "loop", "moved", "rejected", "deep"):
    site["/only/%s.html" % p] = (200, {"Content-Type": "text/html"}, b"<html>%s</html>" % p.encode())
site["/private/p.html"] = (200, {"Content-Type": "text/html"}, b"<html>private</html>")

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        status, headers, body = site.get(self.path, (404, {"Content-Type": "text/plain"}, b"no\n"))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

server.RequestHandlerClass = Handler
print("listening on 127.0.0.1:%d" % server.server_address[1])
server.serve_forever()
'
}

# Start the server and set server_pid and port.
start_server() {
  local i line
  site_server >"$tmp/server.out" 2>"$tmp/server.log" &
  server_pid=$!
  for ((i = 0; i < 300; i++)); do
    if [[ -s $tmp/server.out ]]; then
      line=$(head -n 1 "$tmp/server.out")
      port=${line##*:}
      [[ $port =~ ^[0-9]+$ ]] && return 0
      break
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  say "the server did not say where it listens:"
  tail -n 5 "$tmp/server.out" "$tmp/server.log" >&2 || true
  return 1
}

stop_server() {
  local pid=$server_pid rc=0
  [[ -n $pid ]] || return 0
  server_pid=
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null || rc=$?
    say "the server exited early with status $rc"
    return 1
  fi
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# One crawl of / and its checks: a name (the expectations' key), then
# fetch's options.
crawl() {
  local name=$1 rc=0 log_from
  shift
  log_from=$(wc -l <"$tmp/server.log")
  say "$name: $fetch $* -q -o $tmp/$name.jsonl http://127.0.0.1:$port/"
  timeout "$limit" "$fetch" "$@" -q -o "$tmp/$name.jsonl" "http://127.0.0.1:$port/" \
    2>"$tmp/$name.err" || rc=$?
  sleep 0.2 # let the server finish writing its log
  tail -n +"$((log_from + 1))" "$tmp/server.log" >"$tmp/$name.log"
  if check "$name" "$rc" "$tmp/$name.jsonl" "$tmp/$name.err" "$tmp/$name.log"; then
    say "$name: ok"
  else
    failed=1
  fi
}

check() {
  python3 - "$@" "$port" <<'PY'
import json, re, sys
from collections import Counter
from urllib.parse import urlsplit

name, rc, records_file, err_file, log_file, port = sys.argv[1:]
origin = f"http://127.0.0.1:{port}"
problems = []
bad = problems.append

pages = ["/only/plain.html", "/only/gz.html", "/only/ce.html", "/only/child.html",
         "/only/loop.html", "/only/moved.html"]
maps = ["/sitemap.xml", "/gz.xml.gz", "/ce.xml", "/index.xml", "/child.xml", "/loop-a.xml",
        "/loop-b.xml", "/loop-page.xml", "/moved.xml", "/moved-target.xml", "/deep/1.xml",
        "/deep/2.xml", "/deep/3.xml", "/deep/4.xml", "/bad.xml", "/bomb.xml.gz",
        "/missing.xml"]
# path -> (depth, the start of its error or None)
if name == "sitemaps":
    want = {"/": (0, None), **{p: (1, None) for p in pages},
            "/bad.xml": (0, "sitemap: not XML"),
            "/bomb.xml.gz": (0, "sitemap: over 50 MB uncompressed"),
            "/missing.xml": (0, "sitemap: HTTP status 404"),
            "/deep/4.xml": (0, "sitemap: an index nested over 4 deep")}
    requested = ["/robots.txt", "/"] + pages + maps
else:
    want = {"/": (0, None)}
    requested = ["/robots.txt", "/"] + (maps[:3] if name == "budget" else [])

if rc != "0":
    bad(f"fetch exited with status {rc}" + (" (timed out)" if rc == "124" else ""))
records = []
for n, line in enumerate(open(records_file).read().splitlines(), 1):
    try:
        records.append(json.loads(line))
    except ValueError as e:
        bad(f"record {n} is not JSON ({e}): {line[:100]}")
seen = Counter()
for rec in records:
    url = rec.get("url", "")
    if not url.startswith(origin + "/"):
        bad(f"a record for a URL not on the site: {url}")
        continue
    path = urlsplit(url).path
    seen[path] += 1
    if path not in want:
        bad(f"{path}: a record that must not be: {rec}")
        continue
    depth, error = want[path]
    if rec.get("depth") != depth:
        bad(f"{path}: depth {rec.get('depth')}, expected {depth}")
    if error is None and "error" in rec:
        bad(f"{path}: error {rec['error']!r}")
    elif error is not None and not str(rec.get("error", "")).startswith(error):
        bad(f"{path}: error {rec.get('error')!r}, expected one starting {error!r}")
    if error is None and rec.get("status") != 200:
        bad(f"{path}: status {rec.get('status')}")
for path in want:
    if seen[path] != 1:
        bad(f"{path}: {seen[path]} records, expected 1")

err_text = open(err_file).read()
if "without yielding" in err_text:
    bad("a crawler held its worker (the parse belongs on the thread pool)")
m = re.search(r"fetched (\d+) pages \((\d+) errors?\)", err_text)
if not m:
    bad("no summary line on stderr")
elif int(m.group(1)) != len(records) or int(m.group(2)) != sum("error" in r for r in records):
    bad(f"the summary says {m.group(0)!r}, the records are {len(records)}")

log = Counter()
for line in open(log_file):
    m = re.search(r'"GET (\S+) HTTP/1\.[01]" (\d{3})', line)
    if m:
        log[m.group(1)] += 1
if set(log) != set(requested):
    bad(f"server log: requested but not expected: {sorted(set(log) - set(requested))}; "
        f"expected but not requested: {sorted(set(requested) - set(log))}")
again = [f"{p} x{c}" for p, c in log.items() if c > 1]
if again:
    bad(f"server log: requested more than once: {again}")

for p in problems:
    print(f"sitemaps.sh: {name}: {p}", file=sys.stderr)
if problems:
    print(f"sitemaps.sh: {name}: fetch's stderr ends with:", file=sys.stderr)
    for line in err_text.splitlines()[-5:]:
        print(f"    {line}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
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
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-sitemaps.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  start_server || exit 1
  crawl sitemaps --sitemaps --reject rejected
  crawl plain
  crawl budget --sitemaps -n 3
  stop_server || failed=1
  if ((failed)); then
    say "FAIL"
    return 1
  fi
  say "PASS"
}

main "$@"
