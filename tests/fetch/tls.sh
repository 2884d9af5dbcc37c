#!/usr/bin/env bash
# tests/fetch/tls.sh - fetch over https: against nginx serving a generated
# site, and against tlsserver.py's broken TLS servers and broken encodings.
#
# Usage: tests/fetch/tls.sh   (from a build tree, as `make check` runs it)
#
# Certificates are made at run time with the openssl command, into a
# temporary folder, so no committed file can expire: a CA, a leaf for
# localhost and 127.0.0.1 signed by it, the same leaf expired (issued by
# `openssl ca` with a start and end date in 2020, which OpenSSL 3.0's x509
# command cannot set), a leaf for other.invalid only, and a self-signed
# leaf for the right names. `openssl verify` must agree with each before
# fetch sees them.
#
# nginx (Debian's nginx-light) runs with a configuration written here, on
# free loopback ports, with four servers of one generated site (gensite.py,
# TLS_PAGES pages, default 300): tls (https, the CA-signed leaf), gz (the
# same with gzip on), redir (http, 301 to tls for every path) and plain
# (http). Its access log gives each request's port, Host, path, status,
# Accept-Encoding and gzip ratio. The crawls, each checked like crawl.sh
# checks its own (exit 0, the summary line, every URL of the site's
# expected set once with its status, depth, size and redirect, nothing
# else, no error) and also: every https record has "tls" TLSv1.2 or
# TLSv1.3, no http record has one, and (but in c and the second e) the
# access log shows each expected path requested exactly once on each
# server crawled, plus /robots.txt once per scheme, host and port when
# robots are obeyed:
#
#   a  https://127.0.0.1:TLS/ with --ca-file, with and without robots, and
#      together with http://127.0.0.1:PLAIN/ (robots.txt on each)
#   b  https://localhost:TLS/ (the name checked against a DNS name), and
#      together with 127.0.0.1 (robots.txt once per host)
#   c  without --ca-file the start URL's record is the only one, and says
#      "tls: certificate verify failed: unable to get local issuer
#      certificate"; with --insecure instead the crawl is whole
#   d  https://127.0.0.1:GZ/: the same set, every request sent with
#      "Accept-Encoding: gzip, deflate, br" and answered gzipped, "bytes"
#      the file's size, "wire_bytes" smaller for each HTML page of 1 KiB
#      or more; with --no-compression every request says "identity", no
#      answer is gzipped and "wire_bytes" equals "bytes"
#   e  http://127.0.0.1:REDIR/ gives one record, a 301 to
#      https://127.0.0.1:TLS/, then the https site's set (with robots too,
#      by the records alone)
#
# tlsserver.py serves one port per broken behaviour. With --ca-file the
# CA's, -t 3000 and --max-body 1000000, each alone must give its record:
#
#   wrong-name    "tls: host name mismatch" (as 127.0.0.1 and as localhost)
#   expired       "tls: certificate verify failed: certificate has expired"
#   self-signed   "tls: certificate verify failed: self-signed certificate"
#   stall         "tls: handshake timed out" after about -t (1000 here)
#   close-hs, plain-http, garbage
#                 an error starting "tls: "
#   reset         an error
#   /gzip-bomb    "body over --max-body", "bytes" at most 1000000 and
#   /br-bomb      "wire_bytes" below it, peak RSS below 150 MB (they
#                 inflate to 256 MiB and 1 GiB from 250 KB and 2 KB)
#   /gzip-corrupt "corrupt gzip data"
#   /br-corrupt   "corrupt br data"
#   /zstd         "unsupported Content-Encoding: zstd"
#   /gzip /deflate /br
#                 200, no error, "bytes" the page's size, "wire_bytes" the
#                 encoded size
#
# and with --insecure the three certificate cases crawl. Then one run with
# every start URL at once (and -d 1 from the good server's link page) must
# give all of these records together, each failure confined to its own.
# Every fetch run must exit 0 within its deadline.
#
# The compression checks (d and the encoded bodies) need fetch's
# --no-compression: without it they are skipped and the rest runs. /br
# and /br-bomb need a br encoder (the brotli command, package brotli, or
# libbrotlienc through ctypes); without one they are skipped.
#
# Under Valgrind (TLS_VALGRIND set to a command that runs a program under
# memcheck and exits non-zero on any error, as tests/valgrind.sh does; the
# valgrind tree's `make check-valgrind` sets it): the crawls a-robots,
# a-schemes, c-untrusted, d-gzip and e-redirect-robots of a site of
# TLS_PAGES pages (default 240 here, the least gensite.py makes), each fetch under that command, and
# none of tlsserver.py's cases, whose deadlines and memory bounds are a
# native run's. A Valgrind error fails the crawl by its exit status, with
# Valgrind's report in the stderr shown.
#
# Environment: FETCH (default ./examples/fetch/fetch), NGINX (default:
# nginx on PATH, else /usr/sbin/nginx), TLS_PAGES, TLS_TIMEOUT (seconds
# per crawl, default 120, 600 under Valgrind), TLS_VALGRIND, TLS_KEEP (when set, the temporary folder with
# the certificates, nginx's configuration and logs and each crawl's
# records stays). Exit status: 0 when every check passed, 1 when one
# failed, 77 (skipped) when fetch is not built or has no --ca-file, or
# openssl, python3 or nginx is missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fetch=${FETCH:-./examples/fetch/fetch}
nginx=${NGINX:-}
valgrind=${TLS_VALGRIND:-}
if [[ -n $valgrind ]]; then
  pages=${TLS_PAGES:-240}
  limit=${TLS_TIMEOUT:-600}
else
  pages=${TLS_PAGES:-300}
  limit=${TLS_TIMEOUT:-120}
fi
tmp=
nginx_pid=
server_pid=
compression=0
failed=0

say() {
  printf 'tls.sh: %s\n' "$*" >&2
}

skip() {
  say "SKIP: $*"
  exit 77
}

# Exit 77 unless fetch (with --ca-file), openssl, python3 and nginx are
# there, naming what is not. Sets nginx and compression.
check_tools() {
  [[ -x $fetch ]] || skip "fetch is not built ($fetch)"
  local help
  help=$("$fetch" -h 2>&1 || true)
  grep -q -- --ca-file <<<"$help" || skip "$fetch has no --ca-file"
  if grep -q -- --no-compression <<<"$help"; then
    compression=1
  else
    say "$fetch has no --no-compression: skipping the compression checks"
  fi
  command -v openssl >/dev/null || skip "no openssl command (package openssl)"
  command -v python3 >/dev/null || skip "no python3"
  if [[ -z $nginx ]]; then
    nginx=$(command -v nginx || true)
    [[ -n $nginx || ! -x /usr/sbin/nginx ]] || nginx=/usr/sbin/nginx
  fi
  [[ -n $nginx && -x $nginx ]] || skip "no nginx (install the package nginx-light)"
}

# ---- certificates ----

# Make the certificates of the header in $tmp/certs and check each with
# openssl verify.
make_certs() {
  local d=$tmp/certs k out
  mkdir -p "$d/ca"
  for k in ca leaf other self; do
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/$k.key" 2>/dev/null
  done
  openssl req -x509 -new -key "$d/ca.key" -out "$d/ca.pem" -days 2 -subj "/CN=weft test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
    >"$d/leaf.ext"
  printf 'subjectAltName=DNS:other.invalid\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
    >"$d/other.ext"
  openssl req -new -key "$d/leaf.key" -subj /CN=localhost -out "$d/leaf.csr"
  openssl req -new -key "$d/other.key" -subj /CN=other.invalid -out "$d/other.csr"
  openssl x509 -req -in "$d/leaf.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -set_serial 2 \
    -days 2 -extfile "$d/leaf.ext" -out "$d/leaf.pem" 2>/dev/null
  openssl x509 -req -in "$d/other.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -set_serial 3 \
    -days 2 -extfile "$d/other.ext" -out "$d/other.pem" 2>/dev/null
  # The expired leaf: x509 -req in OpenSSL 3.0 starts a certificate now,
  # `openssl ca` takes any dates.
  : >"$d/ca/index.txt"
  echo 04 >"$d/ca/serial"
  cat >"$d/ca.cnf" <<EOF
[ ca ]
default_ca = weft
[ weft ]
database = $d/ca/index.txt
new_certs_dir = $d/ca
serial = $d/ca/serial
certificate = $d/ca.pem
private_key = $d/ca.key
default_md = sha256
policy = any
unique_subject = no
[ any ]
commonName = supplied
EOF
  openssl ca -batch -config "$d/ca.cnf" -notext -startdate 20200101000000Z \
    -enddate 20200102000000Z -in "$d/leaf.csr" -extfile "$d/leaf.ext" \
    -out "$d/expired.pem" 2>"$d/ca.log" || { cat "$d/ca.log" >&2; return 1; }
  openssl req -x509 -new -key "$d/self.key" -out "$d/self.pem" -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1"
  openssl verify -CAfile "$d/ca.pem" "$d/leaf.pem" "$d/other.pem" >/dev/null
  out=$(openssl verify -CAfile "$d/ca.pem" "$d/expired.pem" 2>&1 || true)
  grep -q 'certificate has expired' <<<"$out" || { say "expired.pem: $out"; return 1; }
  out=$(openssl verify -CAfile "$d/ca.pem" "$d/self.pem" 2>&1 || true)
  grep -q 'self-signed certificate' <<<"$out" || { say "self.pem: $out"; return 1; }
  openssl verify -CAfile "$d/ca.pem" -verify_hostname localhost -verify_ip 127.0.0.1 \
    "$d/leaf.pem" >/dev/null
  out=$(openssl verify -CAfile "$d/ca.pem" -verify_ip 127.0.0.1 "$d/other.pem" 2>&1 || true)
  grep -q 'mismatch' <<<"$out" || { say "other.pem: $out"; return 1; }
}

# ---- nginx ----

# Print N free loopback ports on one line: bound to port 0 together, so
# they differ. They are free when this returns; nginx may still lose one
# to a race.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# Whether [::1] can be bound here: then the tls server also listens there,
# for a fetch that resolves localhost to ::1 first.
have_ipv6() {
  python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null
}

# Write nginx's configuration for the ports in $tls_port, $gz_port,
# $redir_port and $plain_port.
write_nginx_conf() {
  local dir=$tmp/nginx six=
  have_ipv6 && six="listen [::1]:$tls_port ssl;"
  cat >"$dir/nginx.conf" <<EOF
# Written by tests/fetch/tls.sh for one run.
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {
  worker_connections 1024;
}
http {
  types {
    text/html html;
    text/css css;
    text/plain txt;
  }
  default_type application/octet-stream;
  log_format weft '\$server_port|\$host|\$request_uri|\$status|\$http_accept_encoding|\$gzip_ratio';
  access_log $dir/access.log weft;
  keepalive_requests 100000;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  ssl_certificate $tmp/certs/leaf.pem;
  ssl_certificate_key $tmp/certs/leaf.key;
  ssl_protocols TLSv1.2 TLSv1.3;
  server {
    listen 127.0.0.1:$tls_port ssl;
    $six
    root $tmp/site;
  }
  server {
    listen 127.0.0.1:$gz_port ssl;
    root $tmp/site;
    # text/html is always among gzip_types.
    gzip on;
    gzip_min_length 0;
  }
  server {
    listen 127.0.0.1:$redir_port;
    return 301 https://127.0.0.1:$tls_port\$request_uri;
  }
  server {
    listen 127.0.0.1:$plain_port;
    root $tmp/site;
  }
}
EOF
}

# Wait until the nginx at nginx_pid answers on all four ports: / over
# https with the CA's verification, the others on TCP. Fails when it exits
# or 10 s pass.
nginx_ready() {
  python3 - "$nginx_pid" "$tmp/certs/ca.pem" "$tls_port" "$gz_port" "$redir_port" "$plain_port" <<'PY'
import os, socket, ssl, sys, time, urllib.request
pid, ca = int(sys.argv[1]), sys.argv[2]
tls_port, *others = (int(p) for p in sys.argv[3:])
ctx = ssl.create_default_context(cafile=ca)
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)
    try:
        with urllib.request.urlopen("https://127.0.0.1:%d/" % tls_port, timeout=1,
                                    context=ctx) as r:
            r.read()
        for p in others:
            socket.create_connection(("127.0.0.1", p), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}

# Start nginx on free loopback ports and set nginx_pid and the ports. When
# another process takes a port first, try other ones.
start_nginx() {
  local dir=$tmp/nginx attempt
  mkdir -p "$dir"
  # Run as root, nginx's worker runs as nobody: it must reach the site.
  chmod 711 "$tmp"
  chmod -R a+rX "$tmp/site"
  for ((attempt = 1; attempt <= 5; attempt++)); do
    read -r tls_port gz_port redir_port plain_port < <(free_ports 4)
    write_nginx_conf
    : >"$dir/error.log"
    "$nginx" -e "$dir/error.log" -p "$dir/" -c "$dir/nginx.conf" </dev/null >"$dir/out.log" 2>&1 &
    nginx_pid=$!
    nginx_ready && return 0
    if kill -0 "$nginx_pid" 2>/dev/null; then
      say "nginx started but does not answer (can its worker read $tmp/site?):"
      tail -n 5 "$dir/out.log" "$dir/error.log" >&2 || true
      stop_nginx
      return 1
    fi
    wait "$nginx_pid" 2>/dev/null || true
    nginx_pid=
    grep -q 'Address already in use' "$dir/error.log" "$dir/out.log" || break
    say "a port was taken before nginx bound it; trying others"
  done
  say "nginx did not start:"
  tail -n 5 "$dir/out.log" "$dir/error.log" >&2 || true
  return 1
}

stop_nginx() {
  local pid=$nginx_pid
  [[ -n $pid ]] || return 0
  nginx_pid=
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# ---- crawls of nginx ----

# crawl NAME EXPECT ROBOTS [CHECK-OPTION...] -- FETCH-ARG...: run fetch
# once with the arguments (start URLs among them) and check the run with
# check_crawl and the options.
crawl() {
  local name=$1 expect=$2 robots=$3 rc=0 from opts=()
  shift 3
  while [[ $1 != -- ]]; do
    opts+=("$1")
    shift
  done
  shift
  from=$(wc -l <"$tmp/nginx/access.log")
  local run=("$fetch")
  # fetch is libtool's wrapper script in a build tree: libtool's execute
  # mode runs the program itself under the command.
  if [[ -n $valgrind && -x ./libtool ]]; then
    run=(./libtool --mode=execute "$valgrind" "$fetch")
  elif [[ -n $valgrind ]]; then
    run=("$valgrind" "$fetch")
  fi
  timeout "$limit" "${run[@]}" -q -c 16 -o "$tmp/$name.jsonl" "$@" 2>"$tmp/$name.err" || rc=$?
  # nginx writes a request's log line after its answer has gone out: wait
  # until the log holds a line for every record with a status (each one an
  # answered request), not for a guessed while.
  python3 - "$tmp/nginx/access.log" "$from" "$tmp/$name.jsonl" <<'PY' || true
import json, sys, time
log, start, records = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    want = sum(1 for line in open(records, errors="replace")
               if line.strip() and json.loads(line).get("status"))
except (OSError, ValueError):
    want = 0
end = time.monotonic() + 30
while time.monotonic() < end:
    with open(log, errors="replace") as f:
        if sum(1 for _ in f) - start >= want:
            break
    time.sleep(0.02)
PY
  tail -n +"$((from + 1))" "$tmp/nginx/access.log" >"$tmp/$name.log"
  if check_crawl --name "$name" --expect "$expect" --robots "$robots" --rc "$rc" \
    --records "$tmp/$name.jsonl" --err "$tmp/$name.err" --log "$tmp/$name.log" "${opts[@]}"; then
    say "ok: $name"
  else
    say "FAIL: $name: $fetch $*"
    failed=1
  fi
}

# Check one crawl; print what is wrong and fail if anything is. Options:
#   --origin URL        a site crawled (scheme://host:port); repeatable.
#                       Its records must be exactly the expected set.
#   --start-redirect U=T  U's record is a 301 to T (an extra record)
#   --wire gzip|identity  check "wire_bytes" as the header says
#   --accept VALUE      every request of the run sent this Accept-Encoding
#   --no-log            do not check the access log's requests
#   --only-start URL=ERROR  the run's one record: URL, with exactly ERROR
check_crawl() {
  python3 - "$@" <<'PY'
import argparse, json, re, sys
from collections import Counter
from urllib.parse import urljoin, urlsplit

ap = argparse.ArgumentParser()
for opt in ("--name", "--expect", "--robots", "--rc", "--records", "--err", "--log",
            "--wire", "--accept", "--only-start"):
    ap.add_argument(opt)
ap.add_argument("--origin", action="append", default=[])
ap.add_argument("--start-redirect", action="append", default=[])
ap.add_argument("--no-log", action="store_true")
a = ap.parse_args()
problems = []
bad = problems.append

def show(items, limit=8):
    items = sorted(items)
    if not items:
        return "none"
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more

doc = json.load(open(a.expect))
robots = a.robots == "robots"
expected = {u["path"]: u for u in doc["urls_robots" if robots else "urls"]}

if a.rc != "0":
    bad(f"fetch exited with status {a.rc}" + (" (timed out)" if a.rc == "124" else ""))

records = []
try:
    lines = open(a.records).read().splitlines()
except OSError as e:
    lines = []
    bad(f"no records file: {e}")
for n, line in enumerate(lines, 1):
    try:
        rec = json.loads(line)
        if not isinstance(rec, dict) or not isinstance(rec.get("url"), str):
            raise ValueError("not an object with a url")
    except ValueError as e:
        bad(f"record {n} is not a JSON object with a url ({e}): {line[:100]}")
        continue
    records.append(rec)

def is_count(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0

for rec in records:
    for key in ("status", "bytes", "ms", "depth", "links"):
        if not is_count(rec.get(key)):
            bad(f"{rec['url']}: field {key!r} is missing or not a count: {rec}")
    if a.wire and not is_count(rec.get("wire_bytes")):
        bad(f"{rec['url']}: field 'wire_bytes' is missing or not a count: {rec}")
    https = rec["url"].startswith("https:")
    if https and "error" not in rec and rec.get("tls") not in ("TLSv1.2", "TLSv1.3"):
        bad(f"{rec['url']}: \"tls\" should be TLSv1.2 or TLSv1.3: {rec}")
    if not https and "tls" in rec:
        bad(f"{rec['url']}: an http: record with \"tls\": {rec}")

if a.only_start:
    start, _, error = a.only_start.partition("=")
    if len(records) != 1 or records[0]["url"] != start:
        bad(f"expected the one record of {start}, got {len(records)}: "
            f"{show(r['url'] for r in records)}")
    elif records[0].get("error") != error or records[0].get("status") != 0:
        bad(f"{start}: expected status 0 and error {error!r}: {records[0]}")

seen = Counter(r["url"] for r in records)
dups = [f"{u} x{c}" for u, c in seen.items() if c > 1]
if dups:
    bad(f"URLs recorded more than once: {show(dups)}")
byurl = {r["url"]: r for r in records}

claimed = set()
for item in a.start_redirect:
    start, _, target = item.partition("=")
    claimed.add(start)
    rec = byurl.get(start)
    if rec is None:
        bad(f"no record of the start URL {start}")
    elif (rec.get("status") != 301 or "error" in rec or rec.get("depth") != 0
          or urljoin(start, rec.get("redirect", "")) != target):
        bad(f"{start}: expected a 301 to {target} at depth 0 without error: {rec}")

for origin in a.origin:
    got = {}
    for rec in records:
        parts = urlsplit(rec["url"])
        if f"{parts.scheme}://{parts.netloc}" != origin:
            continue
        claimed.add(rec["url"])
        if parts.query or parts.fragment or "#" in rec["url"]:
            bad(f"record for a URL that is not a plain path: {rec['url']}")
            continue
        got[parts.path or "/"] = rec
    missing = set(expected) - set(got)
    extra = set(got) - set(expected)
    if missing:
        bad(f"{origin}: {len(missing)} URLs not requested: {show(missing)}")
    if extra:
        bad(f"{origin}: {len(extra)} URLs requested that must not be: {show(extra)}")
    for path in sorted(set(got) & set(expected)):
        rec, want = got[path], expected[path]
        if "error" in rec:
            bad(f"{origin}{path}: error {rec['error']!r}")
        if rec.get("status") != want["status"]:
            bad(f"{origin}{path}: status {rec.get('status')}, expected {want['status']}")
            continue
        if rec.get("depth") != want["depth"]:
            bad(f"{origin}{path}: depth {rec.get('depth')}, expected {want['depth']}")
        if want["status"] == 200 and rec.get("bytes") != want["bytes"]:
            bad(f"{origin}{path}: {rec.get('bytes')} bytes, the file has {want['bytes']}")
        if want["status"] == 301:
            target = rec.get("redirect")
            if not isinstance(target, str) or urljoin(rec["url"], target) != origin + want["redirect"]:
                bad(f"{origin}{path}: redirect {target!r}, expected {origin + want['redirect']}")
        wire = rec.get("wire_bytes")
        if want["status"] == 200 and is_count(wire):
            if a.wire == "identity" and wire != rec["bytes"]:
                bad(f"{origin}{path}: wire_bytes {wire} != bytes {rec['bytes']} without compression")
            if a.wire == "gzip" and want.get("html") and want["bytes"] >= 1024 and wire >= rec["bytes"]:
                bad(f"{origin}{path}: wire_bytes {wire} not below bytes {rec['bytes']} with gzip")

unclaimed = [r["url"] for r in records if r["url"] not in claimed]
if unclaimed and not a.only_start:
    bad(f"{len(unclaimed)} records of URLs on no site crawled: {show(unclaimed)}")

err_text = open(a.err).read() if a.err else ""
summary = None
for line in err_text.splitlines():
    m = re.search(r"fetched (\d+) pages? \((\d+) errors?\), (\d+) bytes in ([0-9.]+) s, ([0-9.]+) pages/s", line)
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
    # Decoded or as received: the contract does not say which.
    sums = {sum(r[k] for r in records if is_count(r.get(k)))
            for k in ("bytes", "wire_bytes") if any(k in r for r in records)}
    if b not in sums:
        bad(f"summary says {b} bytes, the records add up to {' or '.join(map(str, sorted(sums)))}")

# The access log: port|host|path|status|accept-encoding|gzip ratio.
log = []
for line in open(a.log):
    f = line.rstrip("\n").split("|")
    if len(f) == 6:
        log.append(dict(port=int(f[0]), host=f[1], path=urlsplit(f[2]).path,
                        status=int(f[3]), accept=f[4], ratio=f[5]))
if a.accept is not None:
    wrong = {q["accept"] for q in log if q["accept"] != a.accept}
    if wrong:
        bad(f"Accept-Encoding should be {a.accept!r} on every request, was also {show(wrong)}")
if a.wire == "gzip":
    plain = [q["path"] for q in log
             if q["status"] == 200 and q["ratio"] == "-" and expected.get(q["path"], {}).get("html")]
    if plain:
        bad(f"nginx did not gzip {len(plain)} HTML pages: {show(plain)}")
if a.wire == "identity":
    gz = [q["path"] for q in log if q["ratio"] != "-"]
    if gz:
        bad(f"nginx gzipped {len(gz)} answers: {show(gz)}")
if not a.no_log and not a.only_start:
    for origin in a.origin:
        parts = urlsplit(origin)
        reqs = Counter(q["path"] for q in log
                       if q["port"] == parts.port and q["host"] == parts.hostname)
        want = set(expected) | ({"/robots.txt"} if robots else set())
        if set(reqs) != want:
            bad(f"{origin}: access log: requested but not expected: {show(set(reqs) - want)}; "
                f"expected but not requested: {show(want - set(reqs))}")
        again = [f"{p} x{c}" for p, c in reqs.items() if c > 1]
        if again:
            bad(f"{origin}: access log: requested more than once: {show(again)}")

for p in problems[:40]:
    print(f"tls.sh: {a.name}: {p}", file=sys.stderr)
if len(problems) > 40:
    print(f"tls.sh: {a.name}: ... {len(problems) - 40} more problems", file=sys.stderr)
if problems:
    print(f"tls.sh: {a.name}: fetch's stderr ends with:", file=sys.stderr)
    for line in err_text.splitlines()[-5:]:
        print(f"    {line}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
}

# The crawls of the header's a to e.
nginx_crawls() {
  local ca=$tmp/certs/ca.pem r50=$tmp/r50.json
  local t=https://127.0.0.1:$tls_port tl=https://localhost:$tls_port
  local gz=https://127.0.0.1:$gz_port plain=http://127.0.0.1:$plain_port
  local redir=http://127.0.0.1:$redir_port
  local untrusted="$t/=tls: certificate verify failed: unable to get local issuer certificate"
  if [[ -n $valgrind ]]; then
    crawl a-robots "$r50" robots --origin "$t" -- --ca-file "$ca" -d 50 "$t/"
    crawl a-schemes "$r50" robots --origin "$t" --origin "$plain" -- \
      --ca-file "$ca" -d 50 "$t/" "$plain/"
    crawl c-untrusted "$r50" no-robots --only-start "$untrusted" -- --no-robots -d 50 "$t/"
    if ((compression)); then
      crawl d-gzip "$r50" no-robots --origin "$gz" --wire gzip --accept "gzip, deflate, br" -- \
        --ca-file "$ca" --no-robots -d 50 "$gz/"
    fi
    crawl e-redirect-robots "$r50" robots --origin "$t" --start-redirect "$redir/=$t/" --no-log -- \
      --ca-file "$ca" -d 50 "$redir/"
    return 0
  fi
  crawl a-no-robots "$r50" no-robots --origin "$t" -- --ca-file "$ca" --no-robots -d 50 "$t/"
  crawl a-robots "$r50" robots --origin "$t" -- --ca-file "$ca" -d 50 "$t/"
  crawl a-schemes "$r50" robots --origin "$t" --origin "$plain" -- \
    --ca-file "$ca" -d 50 "$t/" "$plain/"
  crawl b-localhost "$r50" no-robots --origin "$tl" -- --ca-file "$ca" --no-robots -d 50 "$tl/"
  crawl b-hosts "$r50" robots --origin "$t" --origin "$tl" -- --ca-file "$ca" -d 50 "$t/" "$tl/"
  crawl c-untrusted "$r50" no-robots --only-start "$untrusted" -- --no-robots -d 50 "$t/"
  crawl c-insecure "$r50" no-robots --origin "$t" -- --insecure --no-robots -d 50 "$t/"
  if ((compression)); then
    crawl d-gzip "$r50" no-robots --origin "$gz" --wire gzip --accept "gzip, deflate, br" -- \
      --ca-file "$ca" --no-robots -d 50 "$gz/"
    crawl d-identity "$r50" no-robots --origin "$gz" --wire identity --accept identity -- \
      --ca-file "$ca" --no-robots --no-compression -d 50 "$gz/"
  fi
  crawl e-redirect "$r50" no-robots --origin "$t" --start-redirect "$redir/=$t/" -- \
    --ca-file "$ca" --no-robots -d 50 "$redir/"
  crawl e-redirect-robots "$r50" robots --origin "$t" --start-redirect "$redir/=$t/" --no-log -- \
    --ca-file "$ca" -d 50 "$redir/"
}

# ---- tlsserver.py ----

start_tlsserver() {
  local i
  python3 "$here/tlsserver.py" serve --certs "$tmp/certs" --log "$tmp/tls.log" \
    >"$tmp/ports" 2>"$tmp/tlsserver.err" &
  server_pid=$!
  # Making the bombs takes a few seconds.
  for ((i = 0; i < 600; i++)); do
    grep -qx ready "$tmp/ports" && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  say "tlsserver.py did not start:"
  tail -n 5 "$tmp/tlsserver.err" >&2 || true
  return 1
}

stop_tlsserver() {
  local pid=$server_pid
  [[ -n $pid ]] || return 0
  server_pid=
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# hostile NAME LIMIT EXPECT FETCH-ARG...: one fetch run checked by
# tlsserver.py run (see there for the names EXPECT may use).
hostile() {
  local name=$1 lim=$2 expect=$3
  shift 3
  python3 "$here/tlsserver.py" run --ports "$tmp/ports" --log "$tmp/tls.log" \
    --name "$name" --limit "$lim" --expect "$expect" \
    -- "$fetch" -q --no-robots -o - "$@" >&2 || failed=1
}

# The cases: each one's start URL and what its record must say (the
# arguments of tlsserver.py's one() but the URL).
declare -A port case_url case_expect
cases=()

# add_case NAME SERVER PATH HOST EXPECT
add_case() {
  cases+=("$1")
  case_url[$1]=https://$4:${port[$2]}$3
  case_expect[$1]=$5
}

define_cases() {
  local name p rest have_br=
  while read -r name p rest; do
    [[ $name == ready ]] || port[$name]=$p
    [[ $name != good ]] || have_br=$rest
  done <"$tmp/ports"
  local ip=127.0.0.1 verify='status=0, error="tls: certificate verify failed: '
  add_case wrong-name wrong-name / $ip 'status=0, error="tls: host name mismatch"'
  add_case wrong-name-dns wrong-name / localhost 'status=0, error="tls: host name mismatch"'
  add_case expired expired / $ip "${verify}certificate has expired\""
  add_case self-signed self-signed / $ip "${verify}self-signed certificate\""
  add_case close-hs close-hs / $ip 'status=0, error_start="tls: "'
  add_case plain-http plain-http / $ip 'status=0, error_start="tls: "'
  add_case garbage garbage / $ip 'status=0, error_start="tls: "'
  add_case reset reset / $ip 'error=True'
  ((compression)) || return 0
  local ok='status=200, error=False, tls=TLS, nbytes=PAGE'
  # Cut off by the decoded size: the bombs are far smaller on the wire.
  local bomb='status=200, error="body over --max-body", nbytes=(0, 1000000), wire=(0, 999999)'
  add_case gzip good /gzip $ip "$ok, wire=GZIP"
  add_case deflate good /deflate $ip "$ok, wire=DEFLATE"
  add_case gzip-bomb good /gzip-bomb $ip "$bomb"
  add_case gzip-corrupt good /gzip-corrupt $ip 'status=200, error="corrupt gzip data"'
  add_case br-corrupt good /br-corrupt $ip 'status=200, error="corrupt br data"'
  add_case zstd good /zstd $ip 'status=200, error="unsupported Content-Encoding: zstd"'
  if [[ $have_br == br ]]; then
    add_case br good /br $ip "$ok, wire=(1, PAGE // 4)"
    add_case br-bomb good /br-bomb $ip "$bomb"
  else
    say "no br encoder (the brotli command or libbrotlienc): skipping /br and /br-bomb"
  fi
}

hostile_runs() {
  local ca=$tmp/certs/ca.pem c expect starts=() depth
  local good=https://127.0.0.1:${port[good]} stall=https://127.0.0.1:${port[stall]}/
  # Each alone, at depth 0: exactly its own record; the bombs in bounded
  # memory.
  for c in "${cases[@]}"; do
    expect="one('${case_url[$c]}', depth=0, ${case_expect[$c]})
check(len(records) == 1, 'one record expected')"
    [[ $c != *bomb ]] || expect+=$'\nrss_below(150)'
    hostile "$c" 8 "$expect" --ca-file "$ca" -t 3000 --max-body 1000000 "${case_url[$c]}"
  done
  # The handshake's deadline: about -t, neither before nor long after.
  hostile stall 6 "one('$stall', depth=0, status=0, error='tls: handshake timed out')
check(len(records) == 1, 'one record expected')
check(900 <= records[0]['ms'] <= 4000, 'ms should be about 1000')
check(wall >= 0.9, 'gave up after %.1f s, the deadline is 1 s' % wall)" \
    --ca-file "$ca" -t 1000 "$stall"
  # --insecure: the certificate cases crawl.
  for c in wrong-name expired self-signed; do
    hostile "$c-insecure" 8 "one('${case_url[$c]}', status=200, error=False, tls=TLS, depth=0)" \
      --insecure -t 3000 "${case_url[$c]}"
  done
  # All at once, and -d 1 from the good server's link page, which links
  # to every path of the good server: each record as alone.
  expect="one('$good/', status=200, error=False, tls=TLS, depth=0)
one('$good/page/1', status=200, error=False, tls=TLS, depth=1)
one('$stall', status=0, error='tls: handshake timed out', depth=0)"
  for c in "${cases[@]}"; do
    depth=0
    if [[ ${case_url[$c]} == "$good"/* ]]; then
      depth=1
    else
      starts+=("${case_url[$c]}")
    fi
    expect+=$'\n'"one('${case_url[$c]}', depth=$depth, ${case_expect[$c]})"
  done
  hostile all-at-once 12 "$expect" --ca-file "$ca" -t 2000 --max-body 1000000 -d 1 -c 16 \
    "$stall" "${starts[@]}" "$good/"
}

cleanup() {
  stop_nginx
  stop_tlsserver
  if [[ -n $tmp && -n ${TLS_KEEP:-} ]]; then
    say "kept $tmp"
  elif [[ -n $tmp ]]; then
    rm -rf "$tmp"
  fi
}

main() {
  check_tools
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-tls.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  say "making certificates"
  make_certs || { say "FAIL: the certificates"; exit 1; }
  say "generating a site of $pages pages"
  python3 "$here/gensite.py" "$tmp/site" --pages "$pages" --seed 1 --reachable "$tmp/r50.json"
  if start_nginx; then
    say "nginx: tls $tls_port, gz $gz_port, redir $redir_port, plain $plain_port"
    nginx_crawls
    stop_nginx
  else
    failed=1
  fi
  if [[ -n $valgrind ]]; then
    say "under $valgrind: tlsserver.py's cases are a native run's"
  elif start_tlsserver; then
    define_cases
    hostile_runs
    stop_tlsserver
  else
    failed=1
  fi
  if ((failed)); then
    say "FAIL"
    return 1
  fi
  say "PASS"
}

main "$@"
