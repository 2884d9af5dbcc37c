#!/usr/bin/env bash
# tests/fetch/resume.sh - fetch --state: a crawl killed with SIGKILL at any
# moment resumes where it was, every URL gets exactly one record across
# the runs, and no URL is requested twice but those in flight at a kill.
#
# Usage: tests/fetch/resume.sh   (from a build tree, as `make check` runs it)
#
# gensite.py writes a site of RESUME_PAGES pages (default 400) and the set
# of URLs a crawl that obeys robots.txt must record. A Python server (on a
# port the kernel picks, stopped by its PID) serves it, waits RESUME_DELAY
# seconds (default 0.01) before each answer, and logs the path of every
# request it receives. It also has a gate (kill_when): while the file
# $tmp/gate names a number N, every request after the first N it has
# received waits until the file is gone, so that each kill lands inside
# the crawl however fast the crawl runs. The crawl is
#
#   fetch -d 50 -c 4 -q --retries 0 -t 30000 --state DIR -o FILE
#         http://127.0.0.1:PORT/
#
# with FETCH_QUEUE_MEM=64, so that its queue also spills (crawl.c, "The
# seen set and the queue"). The checks:
#
#   kills     the crawl is killed with SIGKILL three times, early (at its
#             first requests), in the middle (a third of the records
#             written) and while writing (two thirds written); after the
#             third kill the output's last whole records are cut and a
#             torn line is left, as a kill between the journal's write and
#             the output's, or inside the latter, leaves it. Then the same
#             command runs to its end. Its records: each expected URL
#             exactly once, nothing else, every line JSON. The server's
#             log: every expected URL, nothing else but /robots.txt (once
#             a run), and at most -c repeated requests per kill.
#   finished  the same command again exits 0, says the crawl is complete,
#             requests nothing and leaves the output as it was.
#   refused   another command (-d 3) against the state exits 2 with a
#             message and requests nothing; so does a state directory that
#             cannot be made (under a regular file) or written (sysfs's
#             /sys/kernel), and --state with -o -.
#   warc      --warc with --state, plain and .gz: a record cut short
#             at the archive's end is cut off when the crawl resumes, the
#             archive passes warcread.py whole with a warcinfo per run and
#             a response for every recorded URL; a --warc file that is not
#             an archive is refused, untouched.
#   torn      a journal cut at RESUME_TORN random offsets (default 4;
#             RESUME_SEED fixes them) with random bytes appended: each
#             resumes without a crash, says it dropped the damage, and ends
#             with each expected URL recorded exactly once.
#
# Environment: FETCH (default ./examples/fetch/fetch), RESUME_PAGES,
# RESUME_DELAY, RESUME_TORN, RESUME_SEED, RESUME_TIMEOUT (seconds a run
# may take, default 60), RESUME_KEEP (set: keep the temporary directory). Exit status: 0 when every check passed, 1 when
# one failed, 77 (skipped) when fetch or python3 is missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fetch=${FETCH:-./examples/fetch/fetch}
pages=${RESUME_PAGES:-400}
delay=${RESUME_DELAY:-0.01}
torn_runs=${RESUME_TORN:-4}
seed=${RESUME_SEED:-$RANDOM}
limit=${RESUME_TIMEOUT:-60}
conc=4
# No retries and a long deadline: on a loaded machine a slow answer must
# not become a second request that the log would count against a kill.
crawl_opts="-d 50 -c $conc -q --retries 0 -t 30000"
tmp=
server_pid=
fetch_pid=
port=
failed=0

say() {
  printf 'resume.sh: %s\n' "$*" >&2
}

fail() {
  say "FAIL: $*"
  failed=1
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

# The server: the site's files, RESUME_DELAY before each answer, and each
# request's path appended to the log as it arrives (flushed at once, so a
# request from a fetch killed a moment later is in it).
start_server() {
  local i
  python3 -u -c '
import functools, http.server, os, sys, threading, time
site, log_path, delay, gate = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
log = open(log_path, "a", buffering=1)
lock = threading.Lock()
arrived = 0

def gate_at():
    try:
        with open(gate) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None

class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        global arrived
        with lock:
            log.write(self.path + "\n")
            index = arrived
            arrived += 1
        n = gate_at()
        while n is not None and index >= n:
            time.sleep(0.005)
            n = gate_at()
        time.sleep(delay)
        super().do_GET()

    def log_message(self, *args):
        pass

class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True

server = Server(("127.0.0.1", 0), functools.partial(Handler, directory=site))
print("listening on 127.0.0.1:%d" % server.server_address[1])
server.serve_forever()
' "$tmp/site" "$tmp/requests.log" "$delay" "$tmp/gate" >"$tmp/server.out" 2>"$tmp/server.err" &
  server_pid=$!
  for ((i = 0; i < 100; i++)); do
    port=$(grep -oE '[0-9]+$' "$tmp/server.out" 2>/dev/null | head -n 1 || true)
    [[ -n $port ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  say "the server did not start:"
  cat "$tmp/server.err" >&2 || true
  exit 1
}

requests() {
  wc -l <"$tmp/requests.log"
}

lines() {
  if [[ -e $1 ]]; then wc -l <"$1"; else echo 0; fi
}

# fetch with the crawl's options; extra arguments come first.
run_fetch() {
  # shellcheck disable=SC2086 # crawl_opts are words
  FETCH_QUEUE_MEM=64 timeout "$limit" "$fetch" "$@" $crawl_opts "http://127.0.0.1:$port/"
}

# Start the crawl on state $1 and output $2 (and any more arguments) in
# the background, wait until `$3` (a shell condition) holds, then SIGKILL
# it. The kill lands inside the crawl by construction, not by timing:
# before the crawl starts the server's gate is closed after $4 more
# requests than it has seen (the server holds each request from there on
# until the gate opens), so the crawl cannot end before the kill at any
# speed, and $4 is chosen so that the condition can become true within
# the requests the gate lets through. The gate opens after the kill.
# Fails if the crawl ends first or the condition does not come to hold.
kill_when() {
  local state=$1 out=$2 cond=$3 free=$4 i
  shift 4
  echo $(($(requests) + free)) >"$tmp/gate"
  # shellcheck disable=SC2086 # crawl_opts are words
  FETCH_QUEUE_MEM=64 "$fetch" --state "$state" -o "$out" "$@" $crawl_opts \
    "http://127.0.0.1:$port/" 2>>"$tmp/fetch.err" &
  fetch_pid=$!
  for ((i = 0; i < limit * 500; i++)); do
    if eval "$cond"; then
      kill -KILL "$fetch_pid" 2>/dev/null || true
      wait "$fetch_pid" 2>/dev/null || true
      fetch_pid=
      rm -f "$tmp/gate"
      return 0
    fi
    if ! kill -0 "$fetch_pid" 2>/dev/null; then
      wait "$fetch_pid" 2>/dev/null || true
      fetch_pid=
      rm -f "$tmp/gate"
      fail "the crawl ended before the kill ($cond)"
      return 1
    fi
    sleep 0.002
  done
  rm -f "$tmp/gate"
  fail "timed out waiting for: $cond"
  return 1
}

# The requests the gate must let through for the output $1 to reach $2
# lines: each answer but /robots.txt's is one record, and a few more
# leave room for the output's writer (a record is written once the
# crawler that fetched it hands it over).
free_for() {
  local have
  have=$(lines "$1")
  echo $((1 + conc + ($2 > have ? $2 - have : 0)))
}

# Check a crawl's records: each expected URL once, nothing else.
check_records() {
  python3 - "$tmp/expect.json" "$1" "$port" "$2" <<'PY'
import json, sys
from collections import Counter
from urllib.parse import urlsplit
expect_file, records_file, port, name = sys.argv[1:]
expected = {u["path"] for u in json.load(open(expect_file))["urls_robots"]}
origin = f"http://127.0.0.1:{port}"
seen, problems = Counter(), []
data = open(records_file, "rb").read()
if data and not data.endswith(b"\n"):
    problems.append("the output ends inside a line")
for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
    try:
        url = json.loads(line)["url"]
    except (ValueError, KeyError, TypeError) as e:
        problems.append(f"line {n} is not a record ({e}): {line[:80]}")
        continue
    parts = urlsplit(url)
    seen[(parts.path or "/") if url.startswith(origin) else url] += 1
dups = sorted(p for p, c in seen.items() if c > 1)
if dups:
    problems.append(f"{len(dups)} URLs recorded more than once: {dups[:8]}")
missing, extra = expected - set(seen), set(seen) - expected
if missing:
    problems.append(f"{len(missing)} URLs without a record: {sorted(missing)[:8]}")
if extra:
    problems.append(f"{len(extra)} records for URLs not expected: {sorted(extra)[:8]}")
for p in problems:
    print(f"resume.sh: {name}: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
}

# Check the server's log: lines from $1 on, after $2 kills and $3 runs.
check_requests() {
  python3 - "$tmp/expect.json" "$tmp/requests.log" "$@" "$conc" <<'PY'
import json, sys
from collections import Counter
from urllib.parse import urlsplit
expect_file, log_file, start, kills, runs, conc = sys.argv[1:]
kills, runs, conc = int(kills), int(runs), int(conc)
expected = {u["path"] for u in json.load(open(expect_file))["urls_robots"]}
lines = open(log_file).read().splitlines()[int(start):]
got = Counter(urlsplit(l).path for l in lines)
robots = got.pop("/robots.txt", 0)
problems = []
if robots > runs:
    problems.append(f"/robots.txt requested {robots} times in {runs} runs")
missing, extra = expected - set(got), set(got) - expected
if missing:
    problems.append(f"{len(missing)} expected URLs never requested: {sorted(missing)[:8]}")
if extra:
    problems.append(f"{len(extra)} URLs requested that must not be: {sorted(extra)[:8]}")
again = sum(c - 1 for c in got.values())
if again > conc * kills:
    rep = sorted(f"{p} x{c}" for p, c in got.items() if c > 1)
    problems.append(f"{again} repeated requests after {kills} kills with -c {conc} "
                    f"(at most {conc * kills}): {rep[:12]}")
print(f"resume.sh: {len(lines)} requests, {again} repeated after {kills} kills", file=sys.stderr)
for p in problems:
    print(f"resume.sh: requests: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
}

# Cut the last two whole records off the output and leave half of the
# one before as a torn line.
tear_output() {
  python3 - "$1" <<'PY'
import sys
path = sys.argv[1]
data = open(path, "rb").read()
lines = data.splitlines(keepends=True)
keep = lines[:-3] if len(lines) > 3 else []
torn = lines[-3][: len(lines[-3]) // 2] if len(lines) > 3 else b""
open(path, "wb").write(b"".join(keep) + torn)
print(len(lines), "->", len(keep), "whole lines and a torn one", file=sys.stderr)
PY
}

test_kills() {
  local st=$tmp/state out=$tmp/out.jsonl total third rc=0
  total=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["urls_robots"]))' "$tmp/expect.json")
  third=$((total / 3))
  say "kills: $total URLs to record, -c $conc"
  # shellcheck disable=SC2016 # evaluated in kill_when
  kill_when "$st" "$out" '(($(requests) >= 1))' $((1 + conc)) || return 0
  say "kills: early kill: $(lines "$out") records"
  kill_when "$st" "$out" "((\$(lines $out) >= $third))" "$(free_for "$out" "$third")" || return 0
  say "kills: middle kill: $(lines "$out") records"
  kill_when "$st" "$out" "((\$(lines $out) >= 2 * $third))" "$(free_for "$out" $((2 * third)))" ||
    return 0
  say "kills: kill while writing: $(lines "$out") records"
  tear_output "$out"
  run_fetch --state "$st" -o "$out" 2>"$tmp/last.err" || rc=$?
  cat "$tmp/last.err" >&2
  ((rc == 0)) || fail "kills: the last run exited $rc"
  grep -q "records written back from the journal" "$tmp/last.err" ||
    fail "kills: the last run did not say it wrote records back"
  check_records "$out" kills || fail "kills: records"
  check_requests 0 3 4 || fail "kills: requests"
}

test_finished() {
  local st=$tmp/state out=$tmp/out.jsonl before sum rc=0
  before=$(requests)
  sum=$(cksum <"$out")
  run_fetch --state "$st" -o "$out" 2>"$tmp/again.err" || rc=$?
  ((rc == 0)) || fail "finished: exit $rc"
  grep -q "is complete.*nothing to do" "$tmp/again.err" ||
    fail "finished: no 'complete ... nothing to do' on stderr: $(cat "$tmp/again.err")"
  (($(requests) == before)) || fail "finished: $(($(requests) - before)) requests made"
  [[ $(cksum <"$out") == "$sum" ]] || fail "finished: the output changed"
  say "finished: ok"
}

# refused NAME EXPECTED-MESSAGE FETCH-ARG...: exit 2, the message, no request.
refused() {
  local name=$1 want=$2 before rc=0
  shift 2
  before=$(requests)
  FETCH_QUEUE_MEM=64 timeout "$limit" "$fetch" "$@" -q "http://127.0.0.1:$port/" \
    2>"$tmp/refused.err" || rc=$?
  ((rc == 2)) || fail "$name: exit $rc, expected 2"
  grep -q -- "$want" "$tmp/refused.err" ||
    fail "$name: stderr lacks '$want': $(cat "$tmp/refused.err")"
  (($(requests) == before)) || fail "$name: $(($(requests) - before)) requests made"
  say "$name: ok"
}

test_refused() {
  local out=$tmp/out.jsonl
  refused "another command" "holds another crawl" --state "$tmp/state" -o "$out" -d 3 -c "$conc"
  : >"$tmp/plain-file"
  refused "state under a file" "cannot make the directory" --state "$tmp/plain-file/state" \
    -o "$tmp/other.jsonl" -d 50
  refused "output to stdout" "needs -o FILE" --state "$tmp/state-stdout" -o - -d 50
  # A directory that exists but cannot take the journal, even for root:
  # sysfs refuses new files.
  if [[ -d /sys/kernel ]]; then
    refused "state not writable" "cannot open /sys/kernel/journal" --state /sys/kernel \
      -o "$tmp/other.jsonl" -d 50
  fi
}

test_torn() {
  local snap=$tmp/snap i offset rc
  say "torn: seed $seed"
  mkdir -p "$snap"
  kill_when "$snap/state" "$snap/out.jsonl" "((\$(lines $snap/out.jsonl) >= 60))" \
    "$(free_for "$snap/out.jsonl" 60)" || return 0
  cp -r "$snap" "$tmp/snap.orig"
  for ((i = 0; i < torn_runs; i++)); do
    rm -rf "$snap"
    cp -r "$tmp/snap.orig" "$snap"
    offset=$(python3 - "$snap/state/journal" "$seed" "$i" <<'PY'
import random, struct, sys
path, seed, i = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(path, "rb").read()
rng = random.Random(seed * 1000 + i)
header = 8 + struct.unpack("<I", data[:4])[0]
cut = rng.randrange(header, len(data))
garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
open(path, "wb").write(data[:cut] + garbage)
print(cut)
PY
)
    rc=0
    run_fetch --state "$snap/state" -o "$snap/out.jsonl" 2>"$tmp/torn.err" || rc=$?
    if ((rc != 0)); then
      fail "torn $i (cut at $offset): exit $rc: $(tail -n 3 "$tmp/torn.err")"
      continue
    fi
    grep -q "were not whole entries" "$tmp/torn.err" ||
      fail "torn $i (cut at $offset): no word of the damage on stderr"
    check_records "$snap/out.jsonl" "torn $i (cut at $offset)" || fail "torn $i: records"
    [[ -z ${RESUME_KEEP:-} ]] || cp -r "$snap" "$tmp/torn.$i"
  done
  say "torn: $torn_runs cuts done"
}

# --warc with --state, FILE plain and FILE.gz: a run killed in the middle
# leaves a record cut short at the archive's end (appended here, as a
# kill inside a write leaves one); the resumed run cuts it off, says so,
# and appends its own warcinfo and records. The archive must then pass
# warcread.py --fetch whole (no torn tail), and every URL with a status in
# the records must have a response record in it.
test_warc() {
  local name w st out rc
  for name in a.warc b.warc.gz; do
    w=$tmp/$name st=$tmp/warc-state-$name out=$tmp/warc-out-$name.jsonl
    kill_when "$st" "$out" "((\$(lines $out) >= 100))" "$(free_for "$out" 100)" --warc "$w" ||
      return 0
    python3 - "$w" <<'PY'
import gzip, sys
path = sys.argv[1]
torn = (b"WARC/1.1\r\nWARC-Type: response\r\nContent-Length: 5000\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>")
if path.endswith(".gz"):
    torn = gzip.compress(torn + b"x" * 4000)[:-100]
open(path, "ab").write(torn)
PY
    rc=0
    run_fetch --state "$st" -o "$out" --warc "$w" 2>"$tmp/warc.err" || rc=$?
    ((rc == 0)) || fail "warc $name: the resumed run exited $rc: $(tail -n 3 "$tmp/warc.err")"
    grep -q "cut short cut off" "$tmp/warc.err" ||
      fail "warc $name: no word of the torn record on stderr: $(cat "$tmp/warc.err")"
    check_records "$out" "warc $name" || fail "warc $name: records"
    python3 "$here/warcread.py" --fetch "$w" 2>"$tmp/warcread.err" ||
      fail "warc $name: warcread.py refuses the resumed archive: $(tail -n 5 "$tmp/warcread.err")"
    python3 "$here/warcread.py" --list "$w" 2>/dev/null | python3 -c '
import json, sys
records, name = sys.argv[1], sys.argv[2]
got, infos = set(), 0
for line in sys.stdin:
    r = json.loads(line)
    infos += r["type"] == "warcinfo"
    if r["type"] == "response":
        got.add(r["uri"])
want = {json.loads(l)["url"] for l in open(records) if json.loads(l).get("status")}
missing = want - got
if infos != 2:
    print(f"resume.sh: warc {name}: {infos} warcinfo records, expected one per run (2)", file=sys.stderr)
if missing:
    print(f"resume.sh: warc {name}: {len(missing)} recorded URLs without a response record: "
          f"{sorted(missing)[:5]}", file=sys.stderr)
sys.exit(1 if missing or infos != 2 else 0)
' "$out" "$name" || fail "warc $name: the archive lacks records"
    say "warc $name: ok"
  done
  # A crawl resumed with --warc naming a file that is not an archive.
  kill_when "$tmp/warc-state-x" "$tmp/warc-out-x.jsonl" "((\$(lines $tmp/warc-out-x.jsonl) >= 20))" \
    "$(free_for "$tmp/warc-out-x.jsonl" 20)" || return 0
  cp "$tmp/expect.json" "$tmp/not-a-warc"
  # shellcheck disable=SC2086 # crawl_opts are words
  refused "warc not ours" "does not begin with a whole WARC record" --state "$tmp/warc-state-x" \
    -o "$tmp/warc-out-x.jsonl" --warc "$tmp/not-a-warc" $crawl_opts
  cmp -s "$tmp/expect.json" "$tmp/not-a-warc" || fail "warc not ours: the file was changed"
}

cleanup() {
  if [[ -n $fetch_pid ]]; then kill -KILL "$fetch_pid" 2>/dev/null || true; fi
  if [[ -n $server_pid ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [[ -n $tmp && -n ${RESUME_KEEP:-} ]]; then
    say "kept $tmp"
  elif [[ -n $tmp ]]; then
    rm -rf "$tmp"
  fi
}

main() {
  check_tools
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-resume.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  : >"$tmp/requests.log"
  : >"$tmp/fetch.err"
  python3 "$here/gensite.py" "$tmp/site" --pages "$pages" --seed 3 --reachable "$tmp/expect.json" \
    >/dev/null
  start_server
  test_kills
  test_finished
  test_refused
  test_torn
  test_warc
  if grep -q "Sanitizer\|runtime error:" "$tmp/fetch.err"; then
    fail "a sanitizer spoke in a killed run"
  fi
  if ((failed)); then
    say "fetch's stderr in the killed runs:"
    tail -n 20 "$tmp/fetch.err" >&2
    say "FAIL"
    return 1
  fi
  say "PASS"
}

main "$@"
