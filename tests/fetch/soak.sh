#!/bin/sh
# tests/fetch/soak.sh - fetch crawls through mutant.py's server, which
# serves an endless site and mutates a third of its responses at random
# (bytes flipped, inserted, deleted; headers duplicated; lengths and chunk
# sizes bent; gzip corrupted or a bomb; connections cut, reset or
# stalled): see mutant.py's opening comment for the server and the
# checks. Two crawls per seed:
#
#   pages  -n RESPONSES (20,000) records, --retries 0: exactly that many
#          records, one per URL requested;
#   depth  to depth 6 (about 2,500 responses), --retries 2: every URL
#          requested, retries included, gets exactly one record when the
#          crawl ends by itself.
#
# Each must exit 0 within its limit with no sanitizer report, its peak
# RSS under a bound (64 MB; 1 GB under the sanitizers, see below), and
# records that agree with what the server sent.
#
# NOTE: the pages crawl runs with --retries 0 because with retries fetch
# loses records under -n: a URL whose retry is waiting in the dispatcher's
# deferred heap when the N-th record is written is dropped, though it was
# requested. SOAK_RETRIES=1 shows it (and checks a fix).
#
#   soak.sh            one seed (SOAK_SEED, default 11): make check
#   soak.sh SECONDS    seeds SOAK_SEED, SOAK_SEED + 1, ... until SECONDS
#                      have passed, stopping at the first failure (make
#                      soak SOAK_SECONDS=N, with a random SOAK_SEED)
#
# RESPONSES is SOAK_RESPONSES, else 20,000, divided by WEFT_TEST_SCALE
# except under AddressSanitizer, where the full count is the point (about
# half a minute; ThreadSanitizer's tree scales by 20). FETCH names the
# binary (default examples/fetch/fetch, relative to the current
# directory); exit 77 (skipped) when it does not exist.
me=soak
FETCH=${FETCH:-examples/fetch/fetch}
[ -x "$FETCH" ] || { echo "$me: $FETCH not built" >&2; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "$me: no python3" >&2; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-0}
seed=${SOAK_SEED:-11}
retries=${SOAK_RETRIES:-0}
responses=${SOAK_RESPONSES:-20000}
# fetch's measured peak is 17 MB; AddressSanitizer's shadow and its
# 256 MB quarantine of freed blocks make it about 400 MB, ThreadSanitizer
# about 100 MB.
rss_mb=64
case ${WEFT_SANITIZERS:-no} in
no | '') ;;
*) rss_mb=1024 ;;
esac
case ${WEFT_SANITIZERS:-no} in
*address*) ;;
*) [ -n "${SOAK_RESPONSES:-}" ] || responses=$((responses / ${WEFT_TEST_SCALE:-1})) ;;
esac
[ "$responses" -ge 100 ] || responses=100

fetch_args="-q --no-robots -o - -c 32 --per-host 32 -t 3000 --retry-wait 20"
start=$(date +%s)
while :; do
  echo "$me: seed $seed: pages crawl, $responses responses"
  # shellcheck disable=SC2086
  python3 "$here/mutant.py" soak --seed "$seed" --responses "$responses" --limit 300 \
    --rss-mb $rss_mb -- "$FETCH" $fetch_args -d 1000 --retries "$retries" || exit 1
  echo "$me: seed $seed: depth crawl"
  # shellcheck disable=SC2086
  python3 "$here/mutant.py" soak --seed "$seed" --responses 0 --limit 120 \
    --rss-mb $rss_mb -- "$FETCH" $fetch_args -d 6 --retries 2 || exit 1
  [ $(($(date +%s) - start)) -lt "$seconds" ] || break
  seed=$((seed + 1))
done
echo "$me: all crawls passed ($(($(date +%s) - start)) s)"
