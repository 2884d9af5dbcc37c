#!/usr/bin/env bash
# tests/fetch/crawl.sh - crawl a generated site with weft's fetch and check
# every record against what the site says a crawl must request.
#
# Usage: tests/fetch/crawl.sh   (from a build tree, as `make check` runs it)
#
# gensite.py writes a site of CRAWL_PAGES pages (default 500) and the set of
# URLs a crawl from / must request, with status, depth and size of each, for
# depth limits 50 and 2, with and without robots.txt. The site is served
# twice: by a Python http.server (HTTP/1.0, one connection per request,
# with an access log) and by weft's httpd. Against each server fetch runs
# three crawls:
#
#   full      fetch -d 50 -c 16 -q --no-robots -o FILE http://127.0.0.1:PORT/
#   shallow   the same with -d 2
#   robots    the full crawl without --no-robots: /private/ is disallowed
#
# and each is checked: fetch exits 0 and prints its summary line, whose
# page, error and byte counts match the records; every record is for a URL
# on the server, appears once, and the set of URLs is exactly the expected
# one (so mailto:, javascript:, off-site links, links in comments, scripts
# and text/plain files, img sources and links past the depth limit were not
# requested); each has the expected status and depth, 200s the file's size
# in bytes, 301s a "redirect" to the slash form; no record has an error.
# Against the Python server the access log must show each of those URLs
# requested exactly once and nothing else (but /robots.txt, once, when
# robots are obeyed).
#
# Environment: FETCH (default ./examples/fetch/fetch), HTTPD (default
# ./examples/httpd/httpd), CRAWL_PAGES, CRAWL_SEED (default 1), CRAWL_TIMEOUT
# (seconds per crawl, default 120). Exit status: 0 when every check passed,
# 1 when one failed, 77 (skipped) when fetch or httpd is not built.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fetch=${FETCH:-./examples/fetch/fetch}
httpd=${HTTPD:-./examples/httpd/httpd}
pages=${CRAWL_PAGES:-500}
seed=${CRAWL_SEED:-1}
limit=${CRAWL_TIMEOUT:-120}
tmp=
server_pid=
port=
failed=0

say() {
  printf 'crawl.sh: %s\n' "$*" >&2
}

# Exit 77 unless fetch, httpd and python3 are all there, naming what is not.
check_tools() {
  local missing=()
  [[ -x $fetch ]] || missing+=("fetch ($fetch)")
  [[ -x $httpd ]] || missing+=("httpd ($httpd)")
  command -v python3 >/dev/null || missing+=("python3")
  if ((${#missing[@]})); then
    say "SKIP: missing: ${missing[*]}"
    exit 77
  fi
}

# The Python reference server: SimpleHTTPRequestHandler on a free port
# with a deep listen queue; it prints "listening on 127.0.0.1:PORT" and logs
# each request on stderr.
python_server() {
  exec python3 -u -c '
import functools, http.server, sys

class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True

handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
server = Server(("127.0.0.1", 0), handler)
print("listening on 127.0.0.1:%d" % server.server_address[1])
server.serve_forever()
' "$@"
}

# Start a server (a command ending in the site's folder) in the background
# and set server_pid and port from the last number of its first stdout line.
start_server() {
  local i line
  : >"$tmp/server.out"
  "$@" >"$tmp/server.out" 2>"$tmp/server.log" &
  server_pid=$!
  for ((i = 0; i < 100; i++)); do
    if (($(wc -l <"$tmp/server.out") >= 1)); then
      line=$(head -n 1 "$tmp/server.out")
      port=$(grep -oE '[0-9]+' <<<"$line" | tail -n 1 || true)
      [[ -n $port ]] && return 0
      break
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  say "$1 did not say where it listens:"
  tail -n 5 "$tmp/server.out" "$tmp/server.log" >&2 || true
  stop_server
  return 1
}

# Stop the running server; fail when it had already died.
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

# Run one crawl of the server on $port and check it. Arguments: a name,
# the expected-URL file, "robots" or "no-robots", whether the server log
# can be checked (1 or 0), then fetch's options.
crawl() {
  local name=$1 expect=$2 robots=$3 logged=$4 rc=0
  shift 4
  local records=$tmp/$name.jsonl
  local log_from
  log_from=$(wc -l <"$tmp/server.log")
  say "$name: $fetch $* -o $records http://127.0.0.1:$port/"
  timeout "$limit" "$fetch" "$@" -o "$records" "http://127.0.0.1:$port/" \
    2>"$tmp/$name.err" || rc=$?
  sleep 0.2 # let the server finish writing its log
  tail -n +"$((log_from + 1))" "$tmp/server.log" >"$tmp/$name.log"
  ((logged)) || : >"$tmp/$name.log"
  if check "$name" "$expect" "$robots" "$rc" "$records" "$tmp/$name.err" "$tmp/$name.log" "$logged"; then
    say "$name: ok"
  else
    failed=1
  fi
}

# Check one crawl's outcome; print what is wrong and fail if anything is.
check() {
  python3 - "$@" "$port" <<'PY'
import json, re, sys
from collections import Counter
from urllib.parse import urljoin, urlsplit

name, expect_file, robots, rc, records_file, err_file, log_file, logged, port = sys.argv[1:]
origin = f"http://127.0.0.1:{port}"
problems = []

def bad(msg):
    problems.append(msg)

def show(items, limit=8):
    items = sorted(items)
    if not items:
        return "none"
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more

doc = json.load(open(expect_file))
expected = {u["path"]: u for u in doc["urls_robots" if robots == "robots" else "urls"]}

if rc != "0":
    bad(f"fetch exited with status {rc}" + (" (timed out)" if rc == "124" else ""))

records = []
try:
    lines = open(records_file).read().splitlines()
except OSError as e:
    lines = []
    bad(f"no records file: {e}")
for n, line in enumerate(lines, 1):
    try:
        rec = json.loads(line)
        if not isinstance(rec, dict):
            raise ValueError("not an object")
    except ValueError as e:
        bad(f"record {n} is not a JSON object ({e}): {line[:100]}")
        continue
    records.append(rec)

seen = Counter()
got = {}
for rec in records:
    url = rec.get("url")
    if not isinstance(url, str):
        bad(f"record without a url: {rec}")
        continue
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != origin or parts.query or parts.fragment or "#" in url:
        bad(f"record for a URL that is not a plain path on {origin}: {url}")
        continue
    path = parts.path or "/"
    seen[path] += 1
    got[path] = rec
    for key in ("status", "bytes", "ms", "depth", "links"):
        if not isinstance(rec.get(key), int) or rec[key] < 0:
            bad(f"{path}: field {key!r} is missing or not a count: {rec}")
    if "error" in rec:
        bad(f"{path}: error {rec['error']!r}")

dups = [f"{p} x{c}" for p, c in seen.items() if c > 1]
if dups:
    bad(f"URLs recorded more than once: {show(dups)}")
missing = set(expected) - set(got)
extra = set(got) - set(expected)
if missing:
    bad(f"{len(missing)} URLs not requested: {show(missing)}")
if extra:
    bad(f"{len(extra)} URLs requested that must not be: {show(extra)}")

for path in sorted(set(got) & set(expected)):
    rec, want = got[path], expected[path]
    if rec.get("status") != want["status"]:
        bad(f"{path}: status {rec.get('status')}, expected {want['status']}")
        continue
    if rec.get("depth") != want["depth"]:
        bad(f"{path}: depth {rec.get('depth')}, expected {want['depth']}")
    if want["status"] == 200 and rec.get("bytes") != want["bytes"]:
        bad(f"{path}: {rec.get('bytes')} bytes, the file has {want['bytes']}")
    if want["status"] == 301:
        target = rec.get("redirect")
        if not isinstance(target, str) or urljoin(rec["url"], target) != origin + want["redirect"]:
            bad(f"{path}: redirect {target!r}, expected {origin + want['redirect']}")
    elif "redirect" in rec:
        bad(f"{path}: a {rec.get('status')} with a redirect field")

summary = None
try:
    err_text = open(err_file).read()
except OSError:
    err_text = ""
for line in err_text.splitlines():
    m = re.search(r"fetched (\d+) pages \((\d+) errors?\), (\d+) bytes in ([0-9.]+) s, ([0-9.]+) pages/s", line)
    if m:
        summary = m
if summary is None:
    bad("no summary line 'fetched N pages (E errors), B bytes in S s, R pages/s' on stderr")
else:
    n, e, b = (int(summary.group(i)) for i in (1, 2, 3))
    if n != len(records):
        bad(f"summary says {n} pages, the records are {len(records)}")
    errors = sum(1 for r in records if "error" in r)
    if e != errors:
        bad(f"summary says {e} errors, {errors} records have one")
    total = sum(r.get("bytes", 0) for r in records if isinstance(r.get("bytes"), int))
    if b != total:
        bad(f"summary says {b} bytes, the records add up to {total}")

if logged == "1":
    requests = Counter()
    statuses = {}
    for line in open(log_file):
        m = re.search(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3})', line)
        if m:
            path = urlsplit(m.group(2)).path
            requests[path] += 1
            statuses[path] = int(m.group(3))
    want = set(expected) | ({"/robots.txt"} if robots == "robots" else set())
    if set(requests) != want:
        bad(f"server log: requested but not expected: {show(set(requests) - want)}; "
            f"expected but not requested: {show(want - set(requests))}")
    again = [f"{p} x{c}" for p, c in requests.items() if c > 1]
    if again:
        bad(f"server log: requested more than once: {show(again)}")

for p in problems[:40]:
    print(f"crawl.sh: {name}: {p}", file=sys.stderr)
if len(problems) > 40:
    print(f"crawl.sh: {name}: ... {len(problems) - 40} more problems", file=sys.stderr)
if problems:
    print(f"crawl.sh: {name}: fetch's stderr ends with:", file=sys.stderr)
    for line in err_text.splitlines()[-5:]:
        print(f"    {line}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
}

# Run the three crawls against one server (a label, then its command).
against() {
  local label=$1 logged=$2
  shift 2
  say "serving the site with $label"
  if ! start_server "$@"; then
    failed=1
    return 0
  fi
  crawl "$label-full" "$tmp/r50.json" no-robots "$logged" -d 50 -c 16 -q --no-robots
  crawl "$label-shallow" "$tmp/r2.json" no-robots "$logged" -d 2 -c 16 -q --no-robots
  crawl "$label-robots" "$tmp/r50.json" robots "$logged" -d 50 -c 16 -q
  stop_server || failed=1
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
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-crawl.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  say "generating a site of $pages pages (seed $seed)"
  python3 "$here/gensite.py" "$tmp/site" --pages "$pages" --seed "$seed" --reachable "$tmp/r50.json"
  python3 "$here/gensite.py" "$tmp/site" --no-generate --depth 2 --reachable "$tmp/r2.json"
  against python 1 python_server "$tmp/site"
  against httpd 0 "$httpd" -p 0 "$tmp/site"
  if ((failed)); then
    say "FAIL"
    return 1
  fi
  say "PASS"
}

main "$@"
