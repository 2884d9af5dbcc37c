#!/bin/sh
# tests/fetch/hostile.sh - fetch against a server that breaks HTTP in every
# way hostile.py knows: each hostile page alone, then one crawl through all
# of them, a page with 100,000 links, and SIGINT in the middle of a crawl.
# Every run must exit 0, record every requested URL exactly once, say what
# went wrong in the record's "error", and finish within its deadline.
#
# FETCH names the binary (default examples/fetch/fetch, relative to the
# current directory); exit 77 (skipped) when it does not exist.
me=hostile
fetch_args='-q --no-robots -o -'
. "$(dirname "$0")/common.sh"

# What each page must produce, as a depth-0 run and inside the crawl.
# Errors are matched by keyword, any case; "status" is 0 unless a status
# line arrived.
e_bad_status='one("/bad-status", status=0, error="malformed")'
e_bad_header='one("/bad-header", status=(0, 200), error="malformed")'
e_huge_header='one("/huge-header", status=(0, 200), error="64 KiB|header")'
e_bad_chunk='one("/bad-chunk", status=200, error="chunk")'
e_big_body='one("/big-body", status=200, error="max-body|body", nbytes=(0, 100000))'
e_big_chunked='one("/big-chunked", status=200, error="max-body|body", nbytes=(0, 100000))'
e_big_close='one("/big-close", status=200, error="max-body|body", nbytes=(0, 100000))'
e_drip='one("/drip", status=200, error="timed out|timeout")'
e_reset='one("/reset", status=200, error="reset")'
e_close_early='one("/close-early", status=200, error="")'
e_slow_headers='one("/slow-headers", status=(0, 200), error="timed out|timeout")'
e_missing='one("/missing", status=404, error=False, links=0)'
# An endless chain: the start URL and five hops are requested, the sixth
# hop is not, and a record says why.
e_redirect_loop='
for i in range(6):
    one("/redirect-loop/%d" % i, status=302, redirect="/redirect-loop/%d" % (i + 1))
never("/redirect-loop/6")
check(any("redirect" in r.get("error", "").lower() for r in records
          if "/redirect-loop/" in r["url"]), "no record says too many redirects")'
# A two-cycle: each end requested once, neither an error.
e_loop='one("/loop-a", status=302, redirect="/loop-b", error=False)
one("/loop-b", status=302, redirect="/loop-a", error=False)'

# Each hostile page alone, at depth 0: exactly its own record(s).
t='-t 2000 --max-body 100000 --retry-wait 100'
for case in bad-status bad-header huge-header bad-chunk big-body big-chunked \
    big-close reset close-early missing; do
  var=$(echo "e_$case" | tr - _)
  eval "expect=\$$var"
  # shellcheck disable=SC2086
  fetch_run "$case" 6 "$expect
check(len(records) == 1, \"one record expected\")
one(\"/$case\", depth=0)" -- $t "$base/$case"
done
# The deadline covers the whole response: it must fire at 2 s, not before.
for case in drip slow-headers; do
  var=$(echo "e_$case" | tr - _)
  eval "expect=\$$var"
  # shellcheck disable=SC2086
  fetch_run "$case" 6 "$expect
check(len(records) == 1, \"one record expected\")
check(wall >= 1.8, \"gave up after %.1f s, the deadline is 2 s\" % wall)
check(1800 <= records[0][\"ms\"] <= 6000, \"ms should be about 2000\")" \
    -- $t --retries 0 "$base/$case"
done
# shellcheck disable=SC2086
fetch_run redirect-loop 6 "$e_redirect_loop
check(all(r[\"depth\"] == 0 for r in records), \"redirects keep the depth\")" \
  -- $t "$base/redirect-loop/0"
# shellcheck disable=SC2086
fetch_run loop-a-b 6 "$e_loop
check(len(records) == 2, \"two records expected\")" -- $t "$base/loop-a"
fetch_run ok 6 'one("/ok", status=200, error=False, depth=0,
    nbytes=body_bytes("/ok"), links=(len(HOSTILE) + 2, len(HOSTILE) + 3))
check(len(records) == 1, "depth 0 follows no links")' -- "$base/ok"

# 100,000 distinct links on one page: counted, not followed at depth 0,
# in bounded memory and time.
fetch_run many-links 30 'one("/many-links", status=200, error=False,
    links=MANY, nbytes=body_bytes("/many-links"))
check(len(records) == 1, "depth 0 follows no links")
rss_below(200)' -- "$base/many-links"

# One crawl through every hostile page: it goes on past each of them, and
# each requested URL (but the off-site one) has exactly one record.
# shellcheck disable=SC2086
fetch_run crawl 12 "one('/ok', status=200, depth=0, error=False)
$e_bad_status
$e_bad_header
$e_huge_header
$e_bad_chunk
$e_big_body
$e_big_chunked
$e_big_close
$e_drip
$e_reset
$e_close_early
$e_slow_headers
$e_missing
$e_redirect_loop
$e_loop
one('/many-links', status=200, error='max-body|body', depth=1)
for p in HOSTILE:
    served(p, attempts(p))
check(attempts('/reset') == 3 and attempts('/drip') == 3,
      'a reset and a timeout are retried twice (--retries 2, the default)')
check(attempts('/bad-chunk') == 1 and attempts('/missing') == 1,
      'a malformed response and a 404 are not retried')
served('/ok', 1)
never('/many/')
never('/', host=ALT)
absent('/offsite-target', host=ALT)
check(all(r['depth'] == (0 if r['url'] == base + '/ok' else 1)
          for r in records), 'depths should be 0 for /ok, 1 for the rest')
check(len(records) == 1 + len(HOSTILE) + 1 + 5 + 1,
      'expected %d records' % (1 + len(HOSTILE) + 1 + 5 + 1))" \
  -- -d 1 -c 8 $t "$base/ok"

# SIGINT with 21 requests in flight (sent once the server has seen all
# 21): each gets a "cancelled" record, the summary is printed, exit 0,
# within 4.5 s of the signal.
slow=
for i in $(seq 1 20); do slow="$slow $base/slow/20000/$i"; done
# shellcheck disable=SC2086
fetch_run sigint 4.5 'served("/drip", 1)
for i in range(1, 21):
    served("/slow/20000/%d" % i, 1)
for p in unfinished():
    one(p, error="cancel")
check(len(unfinished()) == 21, "21 requests should be in flight")' \
  --sigint-at-reqs 21 -- -t 30000 -c 32 --per-host 32 "$base/drip" $slow

if [ $failed -ne 0 ]; then
  echo "hostile: $failed run(s) failed" >&2
  exit 1
fi
echo "hostile: all runs passed"
