#!/bin/sh
# tests/fetch/polite.sh - fetch's politeness, retries, robots.txt statuses
# and URL filters, checked against polite.py's log of what arrived when.
# The arrival times are the kernel's (see polite.py): the pacing checks
# hold by construction, not by the server's scheduling luck.
#
#  - --delay and Crawl-delay space the requests to one host, robots.txt's
#    included, and never hold other hosts back; --max-crawl-delay caps a
#    Crawl-delay. A control run without a delay shows that the check can
#    fail: its requests are not spaced.
#  - 503 with Retry-After: 1 is retried after a second; without it, after
#    --retry-wait's backoff (so too with a Retry-After that is no number
#    nor date); --retries 0 makes one request; a 404 is not retried; a
#    reset or refused connection is.
#  - robots.txt (RFC 9309): 404 allows all; 503 or a reset connection
#    disallows the host, and the start URL's record says why.
#  - a robots.txt of binary junk, of 10 MB, or with a 1 MB line: read up to
#    512 KiB, parsed as far as it goes, no crash.
#  - Retry-After: 99999999 is a number like any other (no overflow).
#  - --accept and --reject choose the links followed, never the start URL;
#    a bad regex is a usage error naming its option.
#
# Every run must exit as expected within its limit, write valid JSON
# records with the documented fields, one per URL (hostile.py's runner).
# FETCH names the binary (default examples/fetch/fetch, relative to the
# current directory); exit 77 (skipped) when it does not exist.
me=polite
FETCH=${FETCH:-examples/fetch/fetch}
[ -x "$FETCH" ] || { echo "$me: $FETCH not built" >&2; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
polite="$here/polite.py"
command -v python3 >/dev/null 2>&1 || { echo "$me: no python3" >&2; exit 77; }
# Linux: 127.0.0.2 and up are loopback without setup, and SO_TIMESTAMPNS.
[ "$(uname -s)" = Linux ] || { echo "$me: needs Linux" >&2; exit 77; }
# The interpreter itself, found once, and without site (polite.py and
# hostile.py need only the standard library): a version manager's shim
# and site's .pth hooks can cost most of a second per start, and the
# runner starts once per run.
py=$(python3 -c 'import sys; print(sys.executable)')
[ -x "$py" ] || py=python3

tmp=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

"$py" -S "$polite" serve --log "$tmp/log" > "$tmp/port" &
server=$!
i=0
until [ -s "$tmp/port" ] && [ "$(wc -l < "$tmp/port")" -ge 2 ]; do
  i=$((i + 1))
  if [ $i -gt 100 ] || ! kill -0 "$server" 2>/dev/null; then
    echo "$me: the server did not start" >&2
    exit 1
  fi
  sleep 0.1
done
port=$(sed -n 1p "$tmp/port")
refused=$(sed -n 2p "$tmp/port")
plain="http://127.0.0.1:$port"   # robots.txt without Crawl-delay
slow="http://127.0.0.2:$port"    # Crawl-delay: 0.5
glacial="http://127.0.0.3:$port" # Crawl-delay: 30
none="http://127.0.0.4:$port"    # robots.txt: 404
down="http://127.0.0.5:$port"    # robots.txt: 503
broken="http://127.0.0.6:$port"  # robots.txt: connection reset
junk="http://127.0.0.7:$port"    # robots.txt: random bytes
huge="http://127.0.0.8:$port"    # robots.txt: 10 MB
longline="http://127.0.0.9:$port" # robots.txt: a line of 1 MB
failed=0

# fetch_run NAME LIMIT EXPECT [RUNNER-OPTION...] -- FETCH-ARG...
# One fetch run, killed 15 s past LIMIT seconds (and failed past LIMIT);
# EXPECT the checks (see polite.py and hostile.py), after stamped().
fetch_run() {
  name=$1 limit=$2 expect=$3
  shift 3
  opts=
  while [ "$1" != "--" ]; do opts="$opts $1"; shift; done
  shift
  # shellcheck disable=SC2086
  "$py" -S "$polite" run --port "$port" --log "$tmp/log" --name "$name" \
    --limit "$limit" --expect "stamped()
$expect" $opts -- "$FETCH" -q -o - -t 5000 "$@" || failed=$((failed + 1))
}

# ---- politeness

# --delay 300 on two hosts at once: each host's requests, robots.txt
# included, at least 300 ms apart; the two hosts' go side by side, not
# one host's delay after the other's.
fetch_run "--delay 300" 12 'for h in (PLAIN, NONE):
    paced(h, 300)
    check(len([r for r in requests if r["host"] == h]) == 8,
          "%s: robots.txt, the list and 6 pages expected" % h)
    for i in range(1, 7):
        one("/list/6/%d" % i, status=200, error=False, depth=1, host=h)
near = min(abs(a - b) for a in arrivals(PLAIN) for b in arrivals(NONE))
check(near < 0.15, "the two hosts paced as one: their requests %.0f ms apart "
      "at the nearest" % (near * 1000))
check(len(records) == 14, "14 records expected")' \
  -- -d 1 -c 8 --delay 300 "$plain/list/6/" "$none/list/6/"

# Crawl-delay: 0.5 on one host; its page links another host without one,
# whose 8 requests are not held back: at least 4 of them arrive between
# two of the paced host's, which are 500 ms apart (an ordering, not a
# timing, check; pacing both hosts as one would allow 1).
fetch_run "Crawl-delay 0.5" 12 'paced(SLOW, 500)
check(len(arrivals(SLOW)) == 5, "slow: robots.txt, the page and 3 more")
check(len(arrivals(PLAIN)) == 8, "plain: robots.txt, the list and 6 pages")
n = interleaved(SLOW, PLAIN)
check(n >= 4, "only %d of the unpaced host'"'"'s requests arrive between two "
      "of the paced host'"'"'s" % n)
spread(PLAIN, 50)
one("/list/6/", status=200, error=False, depth=1)
check(len(records) == 11, "11 records expected")' \
  -- -d 2 -c 8 --offsite "$slow/mix/3/127.0.0.1/6/"

# Crawl-delay: 30, capped at 200 ms by --max-crawl-delay: the crawl ends
# in about a second (a 30 s pace would take minutes).
fetch_run "--max-crawl-delay 200" 10 'paced(GLACIAL, 200)
check(len(arrivals(GLACIAL)) == 6, "robots.txt, the list and 4 pages expected")
check(len(records) == 5, "5 records expected")' \
  -- -d 1 -c 8 --max-crawl-delay 200 "$glacial/list/4/"

# The control: without a delay the same crawl is not spaced, so the
# checks above can fail.
fetch_run "no delay" 10 'spread(PLAIN, 50)
check(len(records) == 7, "7 records expected")' \
  -- -d 1 -c 8 "$plain/list/6/"

# ---- retries (robots.txt aside: every request below is the URL's own).
# The server counts the requests of each /fail/ path for its whole life:
# each run has its own.

# Retry-After: 1 wins over --retry-wait 50, whose waits (25 to 100 ms)
# would fail the pacing check.
fetch_run "503, Retry-After: 1" 10 "one('/fail/2/ra1/x', status=200, error=False)
check(attempts('/fail/2/ra1/x') == 3, 'attempts should be 3')
served('/fail/2/ra1/x', 3)
paced(PLAIN, 1000)" \
  -- --no-robots --retry-wait 50 "$plain/fail/2/ra1/x"

# Equal jitter: the first wait is in [100, 200] ms, the second in
# [200, 400].
fetch_run "503, --retry-wait 200" 10 "one('/fail/2/plain/backoff', status=200, error=False)
check(attempts('/fail/2/plain/backoff') == 3, 'attempts should be 3')
g = gaps(PLAIN)
check(len(g) == 2 and g[0] >= 100 - SLACK_MS and g[1] >= 200 - SLACK_MS,
      'waits of at least 100 and 200 ms expected: %s' % g)" \
  -- --no-robots --retry-wait 200 "$plain/fail/2/plain/backoff"

fetch_run "--retries 0" 10 "one('/fail/2/plain/once', status=503)
check(attempts('/fail/2/plain/once') == 1, 'attempts should be 1')
served('/fail/2/plain/once', 1)" \
  -- --no-robots --retries 0 "$plain/fail/2/plain/once"

# A Retry-After that is neither seconds nor an HTTP-date gets the
# backoff, not an immediate retry; a 404 is not retried.
fetch_run "Retry-After: yesterday, 404" 10 "p = '/fail/2/yesterday/x'
one(p, status=200, error=False)
check(attempts(p) == 3, p + ': attempts should be 3')
g = gaps(PLAIN, p)
check(len(g) == 2 and g[0] >= 25 - SLACK_MS and g[1] >= 50 - SLACK_MS,
      p + ': waits of at least 25 and 50 ms expected: %s' % g)
one('/missing/x', status=404, error=False)
check(attempts('/missing/x') == 1, 'a 404 is not retried')
served('/missing/x', 1)
check(len(records) == 2, '2 records expected')" \
  -- --no-robots --retry-wait 50 "$plain/fail/2/yesterday/x" "$plain/missing/x"

# Retry-After: 99999999 (about three years; fetch waits at most a
# minute, which this test does not sit through): with --retries 0 the 503
# is the URL's record, with no wait and no crash.
fetch_run "Retry-After: 99999999" 10 "one('/fail/2/huge/x', status=503)
check(attempts('/fail/2/huge/x') == 1, 'attempts should be 1')
served('/fail/2/huge/x', 1)" \
  -- --no-robots --retries 0 "$plain/fail/2/huge/x"

# A connection reset after the request, or refused, is retried. Alone in
# its run: on a reused keep-alive connection a reset before any byte of
# the answer is sent again at once, afresh (client.c, stale), and the
# server would see more requests than "attempts" counts.
fetch_run "reset, refused" 10 "one('/reset/x', status=0, error='reset')
check(attempts('/reset/x') == 3, '/reset/x: attempts should be 3')
served('/reset/x', 3)
u = 'http://127.0.0.1:$refused/'
one(u, status=0, error='refused')
check(attempts(u) == 3, u + ': attempts should be 3')
check(len(records) == 2, '2 records expected')" \
  -- --no-robots --retry-wait 50 "$plain/reset/x" "http://127.0.0.1:$refused/"

# ---- robots.txt statuses (RFC 9309, 2.3.1)

# 404 allows everything; 503, or a connection reset, disallows the whole
# host: only robots.txt is requested there, and the start URL's record
# says why.
fetch_run "robots.txt 404, 503, reset" 10 'for h in (NONE, DOWN, BROKEN):
    served("/robots.txt", 1, host=h)
for i in range(1, 4):
    one("/list/3/%d" % i, status=200, error=False, depth=1, host=NONE)
for h, word in ((DOWN, "503"), (BROKEN, "unreachable")):
    check(all(r["path"] == "/robots.txt" for r in requests if r["host"] == h),
          "%s: something but robots.txt requested" % h)
    r = one("/list/3/", status=0, host=h)
    e = r.get("error", "") if r else ""
    check("robots.txt" in e and word in e,
          "%s: the error should mention robots.txt and %s: %r" % (h, word, e))
check(len(records) == 6, "6 records expected")' \
  -- -d 1 "$none/list/3/" "$down/list/3/" "$broken/list/3/"

# ---- robots.txt that is junk, huge, or has a 1 MB line: fetch reads
# the first 512 KiB (RFC 9309 asks for at least 500 KiB) and parses what
# it can. Junk holds no rule: all is allowed. The rule at the top of the
# other two holds; the "Disallow: /list/" past 512 KiB does not (a line
# cut there is read as far as it goes, and the rest never arrives).
fetch_run "robots.txt junk, 10 MB, a 1 MB line" 30 'for h in (JUNK, HUGE, LONGLINE):
    served("/robots.txt", 1, host=h)
    one("/list/2/", status=200, error=False, depth=0, host=h)
    for i in (1, 2):
        one("/list/2/%d" % i, status=200, error=False, depth=1, host=h)
for h in (HUGE, LONGLINE):
    r = one("/private/x", status=0, host=h)
    check(r is not None and "robots.txt" in r.get("error", ""),
          "%s: /private/x should be disallowed: %r" % (h, r))
check(len(records) == 11, "11 records expected")' \
  -- -d 1 "$junk/list/2/" "$huge/list/2/" "$longline/list/2/" "$huge/private/x" "$longline/private/x"

# ---- --accept and --reject

fetch_run "--accept and --reject" 10 'check(sorted(r["path"] for r in requests) ==
      ["/blog/", "/docs/a.html", "/robots.txt"],
      "requested: %s" % sorted(r["path"] for r in requests))
one("/blog/", status=200, depth=0)
one("/docs/a.html", status=200, depth=1)
check(len(records) == 2, "2 records expected")' \
  -- -d 2 --accept '/docs/' --reject '\.pdf$' "$plain/blog/"
fetch_run "--reject alone" 10 'never("/docs/b.pdf")
one("/blog/x.html", status=200, depth=1)
check(len(records) == 3, "3 records expected")' \
  -- -d 2 --reject '\.pdf$' "$plain/blog/"
fetch_run "--accept alone" 10 'never("/blog/x.html")
one("/docs/b.pdf", status=200, depth=1)
check(len(records) == 3, "3 records expected")' \
  -- -d 2 --accept '/docs/' "$plain/blog/"
for opt in --accept --reject; do
  fetch_run "$opt (" 5 "check(not requests, 'a usage error made requests')
check('$opt' in stderr, 'the message should name $opt: %r' % stderr)" \
    --exit 2 -- "$opt" '(' "$plain/blog/"
done

if [ $failed -ne 0 ]; then
  echo "$me: $failed run(s) failed" >&2
  exit 1
fi
echo "$me: all runs passed"
