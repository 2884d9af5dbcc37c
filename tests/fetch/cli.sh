#!/bin/sh
# tests/fetch/cli.sh - fetch's command line: usage errors (exit 2 with a
# message, no records, no crash), -h, start URLs fetch cannot or need not
# reach, -i and -o, and the crawl rules the options set (-d, -n, -c,
# --per-host, --offsite, robots.txt), checked against hostile.py's log of
# what was requested.
#
# FETCH names the binary (default examples/fetch/fetch, relative to the
# current directory); exit 77 (skipped) when it does not exist.
me=cli
fetch_args=
. "$(dirname "$0")/common.sh"

# usage NAME FETCH-ARG...: exit 2, a message on stderr, no records, and
# nothing requested.  The URL given where one is needed is the server's,
# so a fetch that wrongly accepts the options makes requests and fails.
usage() {
  name=$1
  shift
  fetch_run "usage: $name" 5 'check(not requests, "a usage error made requests")' \
    --exit 2 -- "$@"
}
u="$base/ok"
usage "no URL"
usage "no URL, only options" -q --no-robots
usage "unknown option" --bogus "$u"
usage "unknown short option" -Z "$u"
usage "-c without its number" "$u" -c
usage "--concurrency without its number" "$u" --concurrency
usage "-c abc" -c abc "$u"
usage "-c 5x" -c 5x "$u"
usage "-c 0" -c 0 "$u"
usage "-c -1" -c -1 "$u"
usage "-n -5" -n -5 "$u"
usage "-d -1" -d -1 "$u"
usage "-t 0" -t 0 "$u"
usage "-t -100" -t -100 "$u"
usage "-w 0" -w 0 "$u"
usage "--per-host 0" --per-host 0 "$u"
usage "--max-body garbage" --max-body 12abc "$u"
usage "--max-body empty" --max-body "" "$u"
usage "-c huge" -c 99999999999999999999999 "$u"
usage "--offsite with an argument" --offsite=yes "$u"

# An input file that cannot be read is an error before the crawl starts.
fetch_run "-i missing file" 5 'check(not requests, "requests made")' \
  --exit 1,2 -- -i "$tmp/no-such-file" "$u"

# -h: exit 0, the usage on stdout or stderr, nothing requested.
if out=$(timeout 10 "$FETCH" -h 2>&1); rc=$?; [ $rc -ne 0 ]; then
  echo "FAIL: -h exits $rc"; failed=$((failed + 1))
elif ! printf '%s\n' "$out" | grep -q -- '--concurrency'; then
  echo "FAIL: -h does not print the usage (no --concurrency):"
  printf '%s\n' "$out" | sed 's/^/    /' | head -20
  failed=$((failed + 1))
else
  echo "ok: -h"
fi
if out=$(timeout 10 "$FETCH" --help 2>&1) &&
   printf '%s\n' "$out" | grep -q -- '--max-body'; then
  echo "ok: --help"
else
  echo "FAIL: --help does not exit 0 with the usage"; failed=$((failed + 1))
fi

# Something that is not a URL: a usage error, or an error record; never a
# crash.
fetch_run "not a URL" 10 'check(code == 2 or all("error" in r for r in records) and records,
      "exit 0 needs an error record for the bad URL")' \
  --exit 0,2 -- -q -o - --no-robots "::::"

# Start URLs fetch cannot use: each one a record with an error, exit 0.
# An https: URL to this plain-HTTP server fails its handshake (the server
# waits for a request line that never comes, so the handshake times out).
fetch_run "https to plain HTTP" 10 'one("https://127.0.0.1:%d/ok" % port, status=0, error="tls: ")
check(len(records) == 1, "one record expected")' \
  -- -q -o - --no-robots -t 1000 "https://127.0.0.1:$port/ok"
fetch_run "other scheme" 10 'check(len(records) == 1 and "unsupported URL scheme" in records[0].get("error", ""),
      "one record with an unsupported-scheme error expected")' \
  -- -q -o - --no-robots "ftp://127.0.0.1:$port/ok"
free=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
fetch_run refused 10 "one('http://127.0.0.1:$free/', status=0, error='refused')
check(len(records) == 1, 'one record expected')" \
  -- -q -o - --no-robots "http://127.0.0.1:$free/"
fetch_run "unknown host" 10 'one("http://nonexistent.invalid/", status=0, error="")
check(len(records) == 1, "one record expected")' \
  -- -q -o - --no-robots -t 5000 "http://nonexistent.invalid/"
# A usable URL next to an unusable one: both recorded, the good one fine.
fetch_run "refused and ok" 10 "one('http://127.0.0.1:$free/x', status=0, error='refused')
one('/page/fine', status=200, error=False)
check(len(records) == 2, 'two records expected')" \
  -- -q -o - --no-robots "http://127.0.0.1:$free/x" "$base/page/fine"

# -i FILE and -i -: their URLs join the ones on the command line; one
# appearing twice is requested once.
printf '%s\n' "$base/page/a" "$base/page/b" "$base/page/c" > "$tmp/urls"
fetch_run "-i file" 10 'for p in ("a", "b", "c"):
    one("/page/" + p, status=200, error=False, depth=0)
check(len(records) == 3, "three records expected")' \
  -- -q -o - --no-robots -i "$tmp/urls" "$base/page/c"
printf '%s\n' "$base/page/d" "$base/page/e" > "$tmp/stdin"
fetch_run "-i -" 10 'for p in ("d", "e", "f"):
    one("/page/" + p, status=200, error=False, depth=0)
check(len(records) == 3, "three records expected")' \
  --stdin "$tmp/stdin" -- -q -o - --no-robots --input - "$base/page/f"
fetch_run "-i file only" 10 'check(len(records) == 3, "three records expected")' \
  -- -q -o - --no-robots -i "$tmp/urls"

# -o FILE: the records go there and not to stdout; -q leaves only the
# summary on stderr.
fetch_run "-o file" 10 'one("/page/o", status=200, error=False)
check(len(records) == 1, "one record expected in the file")
check(not any(l.startswith("{") for l in stdout.splitlines()),
      "records on stdout with -o FILE")
check(len([l for l in stderr.splitlines() if l.strip()]) == 1,
      "with -q, stderr should hold the summary only")' \
  --records "$tmp/records" -- -q --no-robots -o "$tmp/records" "$base/page/o"

# -d: links followed to that depth only; the same page linked three ways
# is requested once; --no-robots means robots.txt is never read.
fetch_run "-d 0" 10 'one("/dups", status=200, depth=0, links=(2, 4))
check(len(records) == 1, "depth 0 follows no links")' \
  -- -q -o - --no-robots -d 0 "$base/dups"
for w in 1 4; do
  fetch_run "-d 1 -w $w" 10 'one("/dups", status=200, depth=0)
one("/dup-target", status=200, depth=1, error=False)
served("/dup-target", 1)
never("/robots.txt")
check(len(records) == 2, "two records expected")' \
    -- -q -o - --no-robots -d 1 -w "$w" "$base/dups"
done

# -n: the crawl stops after N pages though 100,000 more are linked.
fetch_run "-n 50" 30 'check(len(records) == 50, "50 records expected")
check(len(requests) == 50, "50 requests expected, %d served" % len(requests))
one("/many-links", status=200, error=False, depth=0)' \
  -- -q -o - --no-robots -d 1 -n 50 -c 8 "$base/many-links"

# -c and --per-host bound the requests in flight (the server counts the
# overlap of its own request intervals: a lower bound on fetch's).
slow=
for i in $(seq 1 12); do slow="$slow $base/slow/300/$i"; done
# shellcheck disable=SC2086
fetch_run "-c 3" 15 'n = inflight_max()
check(n <= 3, "%d requests in flight, -c 3" % n)
check(len(records) == 12, "12 records expected")' \
  -- -q -o - --no-robots -c 3 $slow
# shellcheck disable=SC2086
fetch_run "--per-host 2" 15 'n = inflight_max()
check(n <= 2, "%d requests in flight to one host, --per-host 2" % n)
check(len(records) == 12, "12 records expected")' \
  -- -q -o - --no-robots -c 32 --per-host 2 $slow

# --offsite: links to another host are followed only when asked.
if [ "$alt" != "-" ]; then
  fetch_run "no --offsite" 10 'one("/offsite-page", status=200)
one("/page/onsite", status=200)
absent("/offsite-target", host=ALT)
never("/", host=ALT)
check(len(records) == 2, "two records expected")' \
    -- -q -o - --no-robots -d 1 "$base/offsite-page"
  fetch_run "--offsite" 10 'one("/offsite-page", status=200)
one("/page/onsite", status=200)
one("/offsite-target", status=200, error=False, depth=1, host=ALT)
check(len(records) == 3, "three records expected")' \
    -- -q -o - --no-robots --offsite -d 1 "$base/offsite-page"
else
  echo "skip: --offsite (cannot listen on 127.0.0.2)"
fi

# robots.txt: read once, its Disallow obeyed, and no record of its own.
fetch_run robots 10 'served("/robots.txt", 1)
never("/private/")
one("/robots-page", status=200)
one("/public/a", status=200, depth=1)' \
  -- -q -o - -d 1 "$base/robots-page"

if [ $failed -ne 0 ]; then
  echo "cli: $failed check(s) failed" >&2
  exit 1
fi
echo "cli: all checks passed"
