#!/usr/bin/env bash
# tests/fetch/shared.sh - fetch --redis HOST:PORT --crawl NAME: several
# fetch processes share one crawl through Redis (docs/redis.md).
#
# Usage: tests/fetch/shared.sh   (from a build tree, as `make check` runs it)
#
# Servers, all on loopback, on ports the kernel picked, each stopped by its
# PID on exit:
#   redis    Debian's redis-server with its own config and data directory
#            (appendonly yes, appendfsync always, save ""), daemonized with
#            a pid file, as tests/fetch/redis.sh starts it; stopped and
#            started again on the same port and directory by the restart
#            check, so the crawl must come back from the AOF;
#   auth     another with requirepass, for the password checks;
#   site     gensite.py's site of SHARED_PAGES pages (default 500), served
#            by a Python http.server that appends the path of every request
#            to an access log as it arrives (HTTP/1.0: one connection per
#            request); again by a second one that, while the file
#            $tmp/gate exists, holds every request that arrives after its
#            first 20 answers until the file is removed (for the kill
#            check); and by weft's httpd (for the restart check);
#   polite   polite.py serve: every request stamped with the kernel's
#            arrival time, and the time its answer was sent ("done"); it
#            also holds a port bound but never listening, where a
#            connection is refused while it runs.
#
# The checks (each prints "shared.sh: ok: ..." or "shared.sh: FAIL: ..."):
#   three     three processes (-d 50 -c 8; the start URL given to one, the
#             others given none, all started together) crawl the site: all
#             exit 0; the union of their records is the reachable set, one
#             record per URL, each with the expected status, depth and size;
#             the access log shows each URL requested exactly once and
#             nothing else but /robots.txt, at most once per process; each
#             process's summary counts its own records.
#   kill      three processes with --lease 1500 (6000 in the sanitizer
#             trees) crawl the gated copy of the site, the gate closed. The
#             one that seeds the crawl starts alone: after 20 answers the
#             server holds its requests, so it holds leases it cannot
#             complete and the crawl cannot end, whatever the machine's
#             speed. It is stopped (SIGSTOP; every thread) and Redis asked
#             for the leases it holds: none, or one of a URL it has
#             recorded (stopped between writing a record and completing its
#             lease, the window in which a death gives a second record), and
#             it goes on and is asked again; some, and it gets SIGKILL. Its
#             wait status must be 137 and it must have held a lease, or the
#             check fails as vacuous. Then the other two start and the gate
#             opens. They exit 0; the union of all
#             outputs, the victim's included (every line of it a whole
#             record), is the reachable set, one record per URL; the access
#             log shows each URL, and a URL requested twice only if it was
#             one of the victim's leases: exactly twice, not in the victim's
#             output, at most its -c of them. The crawl counts at least that
#             many leases reaped.
#   polite    two processes, --per-host 1 --delay 50, crawl 41 pages of
#             polite.py's host 127.0.0.1: every path requested once (but
#             robots.txt, once per process); no two requests (robots.txt's
#             included) arrive less than 50 ms apart, less polite.py's
#             SLACK_MS (1 ms: the kernel stamps a send tens of microseconds
#             after fetch took its time; across processes the next turn is
#             counted from when the previous request returned, later
#             still); none arrives before the answer to the previous one
#             was sent (no overlap). The control (no --delay, --per-host 4)
#             must show a gap under 50 ms, so the check can fail.
#   restart   three processes crawl the site served by httpd, paced by
#             --per-host 4 --delay 5 so that it takes seconds; after 50
#             records Redis is shut down (SHUTDOWN, then its PID gone) and
#             started again on the same port and directory; every process
#             (default --redis-timeout) exits 0 and the union of records is
#             the reachable set, one record per URL.
#   refused   exit 2 and a message saying what is wrong: a Redis port
#             nothing listens on (polite.py's refused port, --redis-timeout
#             1000: within 20 s, and the message names HOST:PORT); a wrong
#             password (the message mentions the password), while the right
#             one crawls; a crawl whose meta key is a string (it names the
#             key); a crawl stored with -d 1 joined with -d 2 (it names
#             depth); usage errors (--redis without --crawl, --crawl
#             without --redis, --state with --redis, --redis without a
#             port or with 99999). A process refused at join leaves its -o
#             file as it was; one refused for usage creates none.
#
# Environment: FETCH (default ./examples/fetch/fetch), HTTPD (default
# ./examples/httpd/httpd), SHARED_PAGES (default 500), SHARED_CHECKS (the
# checks to run, default "three kill polite restart refused"), WEFT_TEST_SCALE
# (default 1; the time bounds are multiplied by it). Exit status: 0 when
# every check passed, 1 when one failed, 77 (skipped) when fetch, httpd,
# redis-server, redis-cli or python3 is missing.
set -uo pipefail
me=shared.sh

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fetch=${FETCH:-./examples/fetch/fetch}
httpd=${HTTPD:-./examples/httpd/httpd}
pages=${SHARED_PAGES:-500}
scale=${WEFT_TEST_SCALE:-1}
case $scale in '' | *[!0-9]* | 0) scale=1 ;; esac
failed=0

say() { printf '%s: %s\n' "$me" "$*" >&2; }
ok() { say "ok: $*"; }
fail() {
  say "FAIL: $*"
  failed=1
}

missing=()
[[ -x $fetch ]] || missing+=("fetch ($fetch)")
[[ -x $httpd ]] || missing+=("httpd ($httpd)")
for p in redis-server redis-cli python3; do
  command -v $p >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  say "SKIP: missing: ${missing[*]}"
  exit 77
fi
# The system's interpreter, without site: python3 on PATH may be a version
# manager's shim, and site's hooks cost time at every start. The helpers
# need only the standard library.
py=/usr/bin/python3
[[ -x $py ]] || py=$(command -v python3)
pyrun() { "$py" -S "$@"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-shared.XXXXXX")
pids=() # every background process this script started and has not reaped

# forget PID: it was reaped (wait): its PID may be reused, never kill it.
forget() {
  local i
  for i in "${!pids[@]}"; do [[ ${pids[$i]} == "$1" ]] && unset "pids[$i]"; done
}

# shellcheck source=tests/fetch/redislib.sh
. "$here/redislib.sh"

cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
  redis_kill_all "$tmp"/redis-*/redis.conf
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# Start a server in the background; $1 names its files under $tmp, the
# rest is the command. Sets srv_pid and srv_port from the last number of
# its first stdout line.
srv_pid='' srv_port=''
start_server() {
  local name=$1 i line
  shift
  "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  srv_pid=$!
  pids+=("$srv_pid")
  for ((i = 0; i < 200 * scale; i++)); do
    line=$(head -n 1 "$tmp/$name.out")
    srv_port=$(grep -oE '[0-9]+' <<<"$line" | tail -n 1)
    [[ -n $srv_port ]] && return 0
    kill -0 "$srv_pid" 2>/dev/null || break
    sleep 0.1
  done
  say "$name did not say where it listens:"
  tail -n 5 "$tmp/$name.out" "$tmp/$name.err" >&2
  exit 1
}

lines() { if [[ -e $1 ]]; then wc -l <"$1"; else echo 0; fi; }

# ---- the helpers in Python

# The site's server: static files, and the path of each request appended
# to the access log when its head has arrived (flushed at once, so a
# request of a fetch killed a moment later is in it); with a third
# argument GATE N, a request that arrives after its first N answers waits
# while the file GATE exists, before it is answered.
cat >"$tmp/site.py" <<'PY'
import functools, http.server, os, sys, threading, time
site, log_path = sys.argv[1], sys.argv[2]
gate = sys.argv[3] if len(sys.argv) > 4 else None
free = int(sys.argv[4]) if gate else 0
answered = 0
log = open(log_path, "a", buffering=1)
lock = threading.Lock()

class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        global answered
        with lock:
            log.write(self.path + "\n")
            held = gate is not None and answered >= free
        while held and os.path.exists(gate):
            time.sleep(0.01)
        super().do_GET()
        with lock:
            answered += 1

    def log_message(self, *args):
        pass

class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True

server = Server(("127.0.0.1", 0), functools.partial(Handler, directory=site))
print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
server.serve_forever()
PY

# check.py records EXPECT ORIGIN [--log FILE --procs N] [--victim FILE
# --victim-c N] [--summary] OUTPUT... : the union of the outputs against
# the expected URLs (EXPECT: gensite.py's JSON, its urls_robots; or a file
# of "PATH STATUS DEPTH" lines), and the access log against them.
cat >"$tmp/check.py" <<'PY'
import json, re, sys
from collections import Counter
from urllib.parse import urljoin, urlsplit

args = sys.argv[1:]
mode, expect_file, origin = args[:3]
rest = args[3:]
opts = {"--log": None, "--procs": "1", "--victim": None, "--victim-c": "0",
        "--errs": None, "--claimed": None}
outputs = []
while rest:
    a = rest.pop(0)
    if a in opts:
        opts[a] = rest.pop(0)
    else:
        outputs.append(a)
problems = []

def bad(msg):
    problems.append(msg)

def show(items, limit=8):
    items = sorted(items)
    more = " (+%d more)" % (len(items) - limit) if len(items) > limit else ""
    return ", ".join(items[:limit]) + more if items else "none"

if expect_file.endswith(".json"):
    expected = {u["path"]: u for u in json.load(open(expect_file))["urls_robots"]}
else:
    expected = {}
    for line in open(expect_file):
        p, s, d = line.split()
        expected[p] = {"path": p, "status": int(s), "depth": int(d)}

def read_records(path):
    """[(path, record)], problems counted."""
    out = []
    try:
        data = open(path, "rb").read()
    except OSError as e:
        bad("%s: cannot read: %s" % (path, e))
        return out
    if data and not data.endswith(b"\n"):
        bad("%s: ends inside a line: %r" % (path, data[-80:]))
    for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or not isinstance(rec.get("url"), str):
                raise ValueError("not an object with a url")
        except ValueError as e:
            bad("%s: line %d is not a record (%s): %s" % (path, n, e, line[:100]))
            continue
        url = rec["url"]
        parts = urlsplit(url)
        if "%s://%s" % (parts.scheme, parts.netloc) != origin or parts.query or "#" in url:
            bad("record for a URL that is not a plain path on %s: %s" % (origin, url))
            continue
        out.append((parts.path or "/", rec))
    return out

per_file = [read_records(f) for f in outputs]
seen = Counter()
got = {}
for recs in per_file:
    for path, rec in recs:
        seen[path] += 1
        got[path] = rec
dups = ["%s x%d" % (p, c) for p, c in seen.items() if c > 1]
if dups:
    bad("%d URLs recorded more than once: %s" % (len(dups), show(dups)))
missing = set(expected) - set(got)
extra = set(got) - set(expected)
if missing:
    bad("%d URLs without a record: %s" % (len(missing), show(missing)))
if extra:
    bad("%d records for URLs not expected: %s" % (len(extra), show(extra)))
for path in sorted(set(got) & set(expected)):
    rec, want = got[path], expected[path]
    if "error" in rec:
        bad("%s: error %r" % (path, rec["error"]))
    if rec.get("status") != want["status"]:
        bad("%s: status %r, expected %d" % (path, rec.get("status"), want["status"]))
        continue
    if rec.get("depth") != want["depth"]:
        bad("%s: depth %r, expected %d" % (path, rec.get("depth"), want["depth"]))
    if want["status"] == 200 and "bytes" in want and rec.get("bytes") != want["bytes"]:
        bad("%s: %r bytes, the file has %d" % (path, rec.get("bytes"), want["bytes"]))
    if want["status"] == 301:
        target = rec.get("redirect")
        if not isinstance(target, str) or urljoin(rec["url"], target) != origin + want["redirect"]:
            bad("%s: redirect %r, expected %s" % (path, target, origin + want["redirect"]))

# Each process's summary line counts its own records.
if opts["--errs"]:
    for out, err, recs in zip(outputs, opts["--errs"].split(","), per_file):
        m = None
        for line in open(err, errors="replace"):
            m = re.search(r"fetched (\d+) pages", line) or m
        if m is None:
            bad("%s: no summary line 'fetched N pages ...'" % err)
        elif int(m.group(1)) != len(recs):
            bad("%s: the summary says %s pages, its output has %d records"
                % (err, m.group(1), len(recs)))

victim_paths = set()
if opts["--victim"]:
    victim_paths = {p for p, _ in read_records(opts["--victim"])}

if opts["--log"]:
    requests = Counter(urlsplit(l.strip()).path for l in open(opts["--log"]) if l.strip())
    robots = requests.pop("/robots.txt", 0)
    procs = int(opts["--procs"])
    if not 1 <= robots <= procs:
        bad("access log: /robots.txt requested %d times, expected 1 to %d (once per process)"
            % (robots, procs))
    if set(requests) != set(expected):
        bad("access log: requested but not expected: %s; expected but not requested: %s"
            % (show(set(requests) - set(expected)), show(set(expected) - set(requests))))
    again = {p: c for p, c in requests.items() if c > 1}
    if not opts["--victim"]:
        if again:
            bad("access log: requested more than once: %s"
                % show(["%s x%d" % kv for kv in again.items()]))
    else:
        limit = int(opts["--victim-c"])
        if any(c > 2 for c in again.values()):
            bad("access log: requested more than twice: %s"
                % show(["%s x%d" % kv for kv in again.items() if kv[1] > 2]))
        if len(again) > limit:
            bad("access log: %d URLs requested twice, more than the victim's -c %d: %s"
                % (len(again), limit, show(again)))
        recorded = set(again) & victim_paths
        if recorded:
            bad("access log: requested twice though the victim recorded them: %s"
                % show(recorded))
        claimed = {urlsplit(l.strip()).path for l in open(opts["--claimed"]) if l.strip()}
        if set(again) - claimed:
            bad("access log: requested twice but not among the victim's leases (%s): %s"
                % (show(claimed), show(set(again) - claimed)))
        torn = claimed & victim_paths
        if torn:
            bad("the victim held the lease of URLs it had recorded: killed between "
                "writing their record and completing their lease, so another process "
                "fetched and recorded them again: %s" % show(torn))
        print("requested twice (the victim's lost leases): %s" % show(again))

print("records per process: %s" % " ".join(str(len(r)) for r in per_file))
for p in problems[:40]:
    print("PROBLEM: " + p)
if len(problems) > 40:
    print("PROBLEM: ... %d more" % (len(problems) - 40))
sys.exit(1 if problems else 0)
PY

# polite.py's log, from line FROM: polite-check.py LOG FROM HOST DELAY MODE.
# MODE "paced": every request to HOST arrives at least DELAY ms (less
# SLACK_MS) after the one before, and after that one's answer was sent
# ("done"). MODE "spread": some two arrive less than DELAY ms apart.
# Either way no path but /robots.txt (once per process) is requested twice.
cat >"$tmp/polite-check.py" <<'PY'
import json, sys
from collections import Counter
from urllib.parse import urlsplit
sys.path.insert(0, sys.argv[6])
from polite import SLACK_MS
log, start, host, delay, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5]
open_req = {}   # cid -> index in reqs of its request not yet answered
reqs = []       # [arrival, done or None, path, stamp kind]
for n, line in enumerate(open(log)):
    if n < start:
        continue
    f = line.split()
    if len(f) >= 6 and f[1] == "req" and f[3] == host:
        open_req[f[2]] = len(reqs)
        reqs.append([float(f[0]), None, f[4], f[5]])
    elif len(f) >= 3 and f[1] == "done" and f[2] in open_req:
        reqs[open_req.pop(f[2])][1] = float(f[0])
reqs.sort()
# Which process recorded each path (the outputs follow): robots.txt, which
# has no record, shows as "?".
owner = {}
for n, out in enumerate(sys.argv[7:], 1):
    for line in open(out):
        owner[urlsplit(json.loads(line)["url"]).path] = n
problems = []
if len(reqs) < 2:
    problems.append("fewer than two requests to %s" % host)
users = [r for r in reqs if r[3] != "kernel"]
if users:
    problems.append("%d requests without a kernel arrival stamp" % len(users))
paths = Counter(r[2] for r in reqs)
robots = paths.pop("/robots.txt", 0)
if robots > 2:
    problems.append("/robots.txt requested %d times by two processes" % robots)
again = sorted("%s x%d" % kv for kv in paths.items() if kv[1] > 1)
if again:
    problems.append("requested more than once: %s" % " ".join(again[:8]))
gaps = [(b[0] - a[0]) * 1000 for a, b in zip(reqs, reqs[1:])]
shortest = min(gaps) if gaps else 0
if mode == "paced":
    for a, b in zip(reqs, reqs[1:]):
        g = (b[0] - a[0]) * 1000
        if g < delay - SLACK_MS:
            problems.append("%s (process %s) arrived %.3f ms after %s (process %s); the delay is %g ms"
                            % (b[2], owner.get(b[2], "?"), g, a[2], owner.get(a[2], "?"), delay))
        if a[1] is None:
            problems.append("%s: no answer logged" % a[2])
        elif b[0] < a[1]:
            problems.append("%s arrived %.3f ms before the answer to %s was sent: they overlap"
                            % (b[2], (a[1] - b[0]) * 1000, a[2]))
    i = gaps.index(shortest) if gaps else 0
    who = lambda r: "%s (process %s)" % (r[2], owner.get(r[2], "?"))
    print("%d requests, the shortest gap %.3f ms (delay %g ms, slack %g ms): %s, then %s"
          % (len(reqs), shortest, delay, SLACK_MS, who(reqs[i]) if gaps else "-",
             who(reqs[i + 1]) if gaps else "-"))
else:
    if gaps and shortest >= delay:
        problems.append("no two requests closer than %g ms (shortest %.3f ms): "
                        "the control does not show that the check can fail" % (delay, shortest))
    overlaps = sum(1 for a, b in zip(reqs, reqs[1:]) if a[1] is None or b[0] < a[1])
    print("%d requests, the shortest gap %.3f ms, %d overlapping the one before"
          % (len(reqs), shortest, overlaps))
for p in problems[:20]:
    print("PROBLEM: " + p)
sys.exit(1 if problems else 0)
PY

# ---- running fetch

# fetch_bg NAME ARG...: fetch with stderr to $tmp/NAME.err in the
# background; its PID in fpid.
fpid=
fetch_bg() {
  local name=$1
  shift
  "$fetch" "$@" 2>"$tmp/$name.err" &
  fpid=$!
  pids+=("$fpid")
}

# wait_all LIMIT PID...: wait up to LIMIT seconds for the processes to end
# (then kill them); sets rcs to their exit statuses (124: timed out).
rcs=()
wait_all() {
  local limit=$1 p alive i timed_out=0
  shift
  for ((i = 0; i < limit * 10; i++)); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for p in "$@"; do
    if kill -0 "$p" 2>/dev/null; then
      kill -KILL "$p" 2>/dev/null
      timed_out=1
    fi
  done
  rcs=()
  for p in "$@"; do
    if wait "$p" 2>/dev/null; then rcs+=(0); else rcs+=($?); fi
    forget "$p"
  done
  if ((timed_out)); then
    for i in "${!rcs[@]}"; do [[ ${rcs[i]} == 137 ]] && rcs[i]=124; done
  fi
}

# all_zero NAME: fail unless every status in rcs is 0 (naming the others
# and the tail of their stderr, $tmp/NAME.N.err).
all_zero() {
  local name=$1 i bad=0
  for i in "${!rcs[@]}"; do
    if [[ ${rcs[$i]} != 0 ]]; then
      bad=1
      fail "$name: process $((i + 1)) exited with status ${rcs[$i]}$([[ ${rcs[$i]} == 124 ]] && echo " (timed out)"); its stderr ends:"
      tail -n 5 "$tmp/$name.$((i + 1)).err" | sed 's/^/    /' >&2
    fi
  done
  return $bad
}

# checker NAME ARG...: check.py records ..., its report on stderr; fails
# the check NAME with it.
checker() {
  local name=$1 out rc=0
  shift
  out=$(pyrun "$tmp/check.py" records "$@") || rc=$?
  if ((rc)); then
    fail "$name:"
    sed 's/^/    /' <<<"$out" >&2
    return 1
  fi
  sed "s/^/$me: $name: /" <<<"$out" >&2
}

# ---- setup

say "generating a site of $pages pages"
pyrun "$here/gensite.py" "$tmp/site" --pages "$pages" --seed 1 --reachable "$tmp/expect.json" ||
  { say "gensite.py failed"; exit 1; }

make_redis "$tmp/redis-plain" "appendfsync always"
rconf=$tmp/redis-plain/redis.conf
rport=$(conf_get "$rconf" port)
make_redis "$tmp/redis-auth" "appendfsync always" "requirepass weft-secret"
aport=$(conf_get "$tmp/redis-auth/redis.conf" port)
unset REDISCLI_AUTH
redis=(--redis "127.0.0.1:$rport")

: >"$tmp/access.log"
start_server site "$py" -S "$tmp/site.py" "$tmp/site" "$tmp/access.log"
wport=$srv_port
origin="http://127.0.0.1:$wport"

# polite.py prints its port, then a port bound but never listening, where
# a connection is refused for as long as it runs.
start_server polite "$py" -S "$here/polite.py" serve --log "$tmp/polite.log"
pport=$srv_port
for ((i = 0; i < 100 * scale; i++)); do
  refused=$(sed -n 2p "$tmp/polite.out")
  [[ -n $refused ]] && break
  sleep 0.1
done
[[ -n $refused ]] || { say "polite.py did not print its refused port"; exit 1; }

# The same site behind a gate: while $tmp/gate exists, a request after the
# first 20 answers is held, so the kill check's victim holds leases it
# cannot complete when it is stopped, however fast the machine.
: >"$tmp/slow.log"
start_server slow "$py" -S "$tmp/site.py" "$tmp/site" "$tmp/slow.log" "$tmp/gate" 20
sport=$srv_port

start_server httpd "$httpd" -p 0 "$tmp/site"
hport=$srv_port

crawl_opts=(-d 50 -c 8 -q -t 30000 --retries 0)

# ---- three: three processes share a crawl

check_three() {
  local from i p=() outs=() errs=
  from=$(lines "$tmp/access.log")
  for i in 1 2 3; do
    rm -f "$tmp/three.$i.jsonl"
    outs+=("$tmp/three.$i.jsonl")
    errs+=${errs:+,}$tmp/three.$i.err
  done
  fetch_bg three.1 "${redis[@]}" --crawl three "${crawl_opts[@]}" -o "${outs[0]}" "$origin/"
  p+=("$fpid")
  fetch_bg three.2 "${redis[@]}" --crawl three "${crawl_opts[@]}" -o "${outs[1]}"
  p+=("$fpid")
  fetch_bg three.3 "${redis[@]}" --crawl three "${crawl_opts[@]}" -o "${outs[2]}"
  p+=("$fpid")
  wait_all $((60 * scale)) "${p[@]}"
  all_zero three || return
  tail -n +"$((from + 1))" "$tmp/access.log" >"$tmp/three.log"
  checker three "$tmp/expect.json" "$origin" --log "$tmp/three.log" --procs 3 \
    --errs "$errs" "${outs[@]}" || return
  ok "three: three processes, one start URL, each URL recorded and requested once"
}

# ---- kill: one of three processes gets SIGKILL mid-crawl

# victim_leases PID CRAWL: the URL of each lease PID holds in CRAWL, one a
# line (the owner of a lease is HOSTNAME/PID/RANDOM; docs/redis.md).
victim_leases() {
  cli "$rconf" --json hvals "weft-fetch:{$2}:lease" | "$py" -S -c '
import json, sys
for v in json.load(sys.stdin) or []:
    host, owner, entry = v.split("\n", 2)
    if owner.split("/")[-2] == sys.argv[1]:
        print(entry.split(" ", 2)[2])
' "$1"
}

# stopped PID: wait until every thread of PID is stopped (SIGSTOP is
# delivered asynchronously); fails if PID is gone.
stopped() {
  local t st
  for ((;;)); do
    st=1
    for t in /proc/"$1"/task/*/stat; do
      [[ -e $t ]] || return 1
      # The state is the field after the command's closing parenthesis.
      [[ $(sed 's/.*) //' "$t" 2>/dev/null | cut -c1) == [tT] ]] || st=0
    done
    ((st)) && return 0
    sleep 0.005
  done
}

# torn CLAIMED OUTPUT: how many URLs in CLAIMED (one a line) OUTPUT has a
# record of.
torn() {
  pyrun -c '
import json, sys
claimed = {l.strip() for l in open(sys.argv[1]) if l.strip()}
recorded = set()
for line in open(sys.argv[2], errors="replace"):
    try:
        recorded.add(json.loads(line)["url"])
    except (ValueError, KeyError, TypeError):
        pass
print(len(claimed & recorded))
' "$1" "$2"
}

check_kill() {
  local from i p=() outs=() victim rc n=0 held=0 opts reaped lease
  local origin_s="http://127.0.0.1:$sport"
  from=$(lines "$tmp/slow.log")
  # Longer leases in the sanitizer trees, where a live process may stall
  # for half a lease between renewing and completing one.
  lease=$((1500 * (scale < 4 ? scale : 4)))
  opts=("${crawl_opts[@]}" --lease "$lease")
  for i in 1 2 3; do
    rm -f "$tmp/kill.$i.jsonl"
    outs+=("$tmp/kill.$i.jsonl")
  done
  : >"$tmp/kill.claimed"
  # The victim seeds the crawl and runs alone until the server holds its
  # requests (the gate is closed from the start).
  : >"$tmp/gate"
  fetch_bg kill.1 "${redis[@]}" --crawl kill "${opts[@]}" -o "${outs[0]}" "$origin_s/"
  victim=$fpid
  # Stop it, and kill it if Redis shows it holding a lease and none of
  # its leases is of a URL it has already recorded; otherwise let it go on
  # and try again. This ends: once the server holds every request it
  # sends, the leases it holds are of URLs it cannot record, and the crawl
  # cannot end. Once every thread is stopped, all it sent is in Redis's
  # socket before redis-cli connects, and Redis runs it first; its output
  # no longer changes. A lease of a recorded URL is one stopped between
  # writing the record and completing the lease: killed there, its URL
  # would be recorded again by the process that takes it over, the one
  # duplicate fetch --redis allows (docs/redis.md, Limits).
  for ((i = 0; i < 600 * scale; i++)); do
    kill -STOP "$victim" 2>/dev/null || break
    stopped "$victim" || break
    victim_leases "$victim" kill >"$tmp/kill.claimed"
    held=$(lines "$tmp/kill.claimed")
    if ((held > 0)) && (($(torn "$tmp/kill.claimed" "${outs[0]}") == 0)); then
      break
    fi
    held=0
    kill -CONT "$victim"
    sleep 0.05
  done
  n=$(lines "${outs[0]}")
  kill -KILL "$victim" 2>/dev/null
  rc=0
  wait "$victim" 2>/dev/null || rc=$?
  forget "$victim"
  # The other two join the crawl, and the server answers again.
  fetch_bg kill.2 "${redis[@]}" --crawl kill "${opts[@]}" -o "${outs[1]}"
  p+=("$fpid")
  fetch_bg kill.3 "${redis[@]}" --crawl kill "${opts[@]}" -o "${outs[2]}"
  p+=("$fpid")
  rm -f "$tmp/gate"
  if [[ $rc != 137 ]] || ((held == 0)); then
    wait_all $((60 * scale)) "${p[@]}"
    fail "kill: vacuous: the victim was not killed mid-crawl holding a lease ($n records," \
      "$held leases when stopped, wait status $rc); its stderr ends:"
    tail -n 5 "$tmp/kill.1.err" | sed 's/^/    /' >&2
    return
  fi
  say "kill: the victim got SIGKILL after $n records, holding $held leases:" \
    "$(sed "s|^$origin_s||" "$tmp/kill.claimed" | tr '\n' ' ')"
  wait_all $((60 * scale)) "${p[@]}"
  rcs=(0 "${rcs[@]}")
  all_zero kill || return
  tail -n +"$((from + 1))" "$tmp/slow.log" >"$tmp/kill.log"
  checker kill "$tmp/expect.json" "$origin_s" --log "$tmp/kill.log" --procs 3 \
    --victim "${outs[0]}" --victim-c 8 --claimed "$tmp/kill.claimed" "${outs[@]}" || return
  reaped=$(cli "$rconf" hget "weft-fetch:{kill}:count" reaped)
  if ((${reaped:-0} < held)); then
    fail "kill: $held leases of the victim, but the crawl counts ${reaped:-0} reaped"
    return
  fi
  ok "kill: a process killed mid-crawl, its $held leases reaped and taken over, each URL recorded once"
}

# ---- polite: --per-host 1 --delay 50 across two processes

# polite_run NAME CHECK-MODE FETCH-OPTION...: two processes (the start URL
# to the first) crawl /list/40/ on polite.py's 127.0.0.1; both must exit
# 0 and record the 41 pages once each; then polite-check.py MODE.
polite_run() {
  local name=$1 mode=$2 from i p=() outs=() out rc=0
  shift 2
  from=$(lines "$tmp/polite.log")
  {
    echo "/list/40/ 200 0"
    for i in $(seq 1 40); do echo "/list/40/$i 200 1"; done
  } >"$tmp/polite.expect"
  for i in 1 2; do
    rm -f "$tmp/$name.$i.jsonl"
    outs+=("$tmp/$name.$i.jsonl")
  done
  fetch_bg "$name.1" "${redis[@]}" --crawl "$name" -d 1 -c 4 -q -t 30000 --retries 0 "$@" \
    -o "${outs[0]}" "http://127.0.0.1:$pport/list/40/"
  p+=("$fpid")
  fetch_bg "$name.2" "${redis[@]}" --crawl "$name" -d 1 -c 4 -q -t 30000 --retries 0 "$@" \
    -o "${outs[1]}"
  p+=("$fpid")
  wait_all $((60 * scale)) "${p[@]}"
  all_zero "$name" || return 1
  checker "$name" "$tmp/polite.expect" "http://127.0.0.1:$pport" "${outs[@]}" || return 1
  out=$(pyrun "$tmp/polite-check.py" "$tmp/polite.log" "$from" 127.0.0.1 50 "$mode" "$here" \
    "${outs[@]}") || rc=$?
  if ((rc)); then
    fail "$name:"
    sed 's/^/    /' <<<"$out" >&2
    return 1
  fi
  sed "s/^/$me: $name: /" <<<"$out" >&2
}

check_polite() {
  polite_run polite paced --per-host 1 --delay 50 &&
    ok "polite: two processes, --per-host 1 --delay 50: requests 50 ms apart, none overlapping"
  polite_run polite-control spread --per-host 4 &&
    ok "polite: the control (no --delay, --per-host 4) has requests under 50 ms apart"
}

# ---- restart: Redis shut down and started again mid-crawl

check_restart() {
  local i p=() outs=() n alive opts total
  opts=("${crawl_opts[@]}" --per-host 4 --delay 5)
  total=$(pyrun -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["urls_robots"]))' "$tmp/expect.json")
  for i in 1 2 3; do
    rm -f "$tmp/restart.$i.jsonl"
    outs+=("$tmp/restart.$i.jsonl")
  done
  fetch_bg restart.1 "${redis[@]}" --crawl restart "${opts[@]}" -o "${outs[0]}" "http://127.0.0.1:$hport/"
  p+=("$fpid")
  fetch_bg restart.2 "${redis[@]}" --crawl restart "${opts[@]}" -o "${outs[1]}"
  p+=("$fpid")
  fetch_bg restart.3 "${redis[@]}" --crawl restart "${opts[@]}" -o "${outs[2]}"
  p+=("$fpid")
  for ((i = 0; i < 600 * scale; i++)); do
    n=$(cat "${outs[@]}" 2>/dev/null | wc -l)
    ((n >= 50)) && break
    sleep 0.05
  done
  alive=0
  for i in "${p[@]}"; do kill -0 "$i" 2>/dev/null && alive=$((alive + 1)); done
  redis_stop "$rconf" || fail "restart: redis did not stop"
  n=$(cat "${outs[@]}" 2>/dev/null | wc -l)
  if ((alive < 3 || n >= total)); then
    wait_all $((60 * scale)) "${p[@]}"
    redis_start "$rconf" || exit 1
    fail "restart: vacuous: Redis stopped with $alive of 3 processes running and $n of $total records written"
    return
  fi
  say "restart: Redis stopped after $n of $total records; starting it again"
  redis_start "$rconf" || exit 1
  wait_all $((90 * scale)) "${p[@]}"
  all_zero restart || return
  checker restart "$tmp/expect.json" "http://127.0.0.1:$hport" "${outs[@]}" || return
  ok "restart: Redis restarted mid-crawl (AOF), the crawl went on, each URL recorded once"
}

# ---- refused: exit 2 and a message

# refuse NAME WANT SECONDS [VAR=VALUE...] -- FETCH-ARG...: fetch must exit 2
# within SECONDS (scaled), its stderr must contain WANT (a fixed string,
# case-insensitive), and its -o file, $tmp/NAME.jsonl, filled beforehand,
# must be left as it was.
refuse() {
  local name=$1 want=$2 limit=$3 envs=() t0 t1 out=$tmp/$1.jsonl
  shift 3
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  printf '{"url":"http://untouched.invalid/","status":200}\n' >"$out"
  cp "$out" "$tmp/$name.before"
  t0=$(date +%s)
  env "${envs[@]}" "$fetch" "$@" -q -o "$out" "http://127.0.0.1:$pport/list/2/" 2>"$tmp/$name.err" &
  fpid=$!
  pids+=("$fpid")
  wait_all $((limit * scale)) "$fpid"
  t1=$(date +%s)
  if [[ ${rcs[0]} != 2 ]]; then
    fail "$name: exit status ${rcs[0]}, expected 2 (after $((t1 - t0)) s); stderr:"
    sed 's/^/    /' "$tmp/$name.err" >&2
  elif ! grep -qiF -- "$want" "$tmp/$name.err"; then
    fail "$name: the message does not say '$want':"
    sed 's/^/    /' "$tmp/$name.err" >&2
  elif ! cmp -s "$out" "$tmp/$name.before"; then
    fail "$name: the -o file was changed: $(head -c 200 "$out")"
  else
    ok "$name: exit 2 in $((t1 - t0)) s: $(head -n 1 "$tmp/$name.err")"
  fi
}

# usage NAME WANT FETCH-ARG...: a usage error: exit 2 at once, WANT in the
# message, and the -o file it was given not created.
usage() {
  local name=$1 want=$2 out=$tmp/$1.jsonl rc=0
  shift 2
  rm -f "$out"
  timeout $((20 * scale)) "$fetch" "$@" -q -o "$out" "http://127.0.0.1:$pport/list/2/" \
    2>"$tmp/$name.err" || rc=$?
  if [[ $rc != 2 ]]; then
    fail "$name: exit status $rc, expected 2; stderr:"
    sed 's/^/    /' "$tmp/$name.err" >&2
  elif ! grep -qiF -- "$want" "$tmp/$name.err"; then
    fail "$name: the message does not say '$want':"
    sed 's/^/    /' "$tmp/$name.err" >&2
  elif [[ -e $out ]]; then
    fail "$name: the -o file was created"
  else
    ok "$name: exit 2: $(head -n 1 "$tmp/$name.err")"
  fi
}

check_refused() {
  local rc=0 n
  refuse "refused-unreachable" "127.0.0.1:$refused" 20 -- \
    --redis "127.0.0.1:$refused" --crawl unreachable --redis-timeout 1000

  refuse "refused-password" password 20 REDISCLI_AUTH=wrong -- \
    --redis "127.0.0.1:$aport" --crawl auth
  rm -f "$tmp/auth.jsonl"
  REDISCLI_AUTH=weft-secret timeout $((60 * scale)) "$fetch" --redis "127.0.0.1:$aport" \
    --crawl auth -d 1 -q -o "$tmp/auth.jsonl" "http://127.0.0.1:$pport/list/2/" \
    2>"$tmp/auth.err" || rc=$?
  n=$(lines "$tmp/auth.jsonl")
  if [[ $rc != 0 || $n != 3 ]]; then
    fail "auth: the right password: exit status $rc, $n records (expected 0 and 3); stderr:"
    sed 's/^/    /' "$tmp/auth.err" >&2
  else
    ok "auth: the right password (REDISCLI_AUTH) crawls: 3 records"
  fi

  cli "$rconf" set "weft-fetch:{foreign}:meta" "not a crawl" >/dev/null
  refuse "refused-foreign" "weft-fetch:{foreign}:meta" 20 -- \
    "${redis[@]}" --crawl foreign

  rc=0
  timeout $((60 * scale)) "$fetch" "${redis[@]}" --crawl depth -d 1 -q \
    -o "$tmp/depth1.jsonl" "http://127.0.0.1:$pport/list/2/" 2>"$tmp/depth1.err" || rc=$?
  if [[ $rc != 0 ]]; then
    fail "depth: the crawl with -d 1 exited with status $rc; stderr:"
    sed 's/^/    /' "$tmp/depth1.err" >&2
  fi
  refuse "refused-depth" depth 20 -- "${redis[@]}" --crawl depth -d 2

  usage "usage-no-crawl" "--crawl" "${redis[@]}"
  usage "usage-no-redis" "--redis" --crawl lonely
  usage "usage-state" "--state" --state "$tmp/state" "${redis[@]}" --crawl state
  usage "usage-no-port" "nonsense" --redis nonsense --crawl x
  usage "usage-big-port" "99999" --redis 127.0.0.1:99999 --crawl x
}

for c in ${SHARED_CHECKS:-three kill polite restart refused}; do
  case $c in
  three | kill | polite | restart | refused) "check_$c" ;;
  *) fail "SHARED_CHECKS: no check '$c' (three kill polite restart refused)" ;;
  esac
done

if ((failed)); then
  say "FAIL"
  exit 1
fi
say "PASS"
