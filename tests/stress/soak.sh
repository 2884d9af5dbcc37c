#!/bin/sh
# tests/stress/soak.sh - the torture test as a soak, run by
# `make stress DURATION=600`:
#
#   soak.sh [DURATION]     (seconds, default 600)
#
# One run of DURATION seconds with 2 workers, then one of DURATION/5 (at
# least 10 s) with 8, each with a fresh seed (printed first). For each it
# prints the figures: tasks spawned per second sustained, peak live tasks,
# RSS at start (after weft_rt_new), at its peak, after the load (the
# runtime idle, up to 3 s) and at the end (after weft_rt_free). The runs
# check RSS after the load comes back within 10% of the start (--check-rss);
# SOAK_CHECK_RSS=0 reports it without failing.
#
#   TORTURE       the program (default tests/stress/torture)
#   TORTURE_SEED  the first run's seed (default: from the clock)
set -u

duration=${1:-600}
torture=${TORTURE:-tests/stress/torture}
seed=${TORTURE_SEED:-$(( $(date +%s) % 1000000 * 1000 ))}
rss_opt=--check-rss
[ "${SOAK_CHECK_RSS:-1}" = 0 ] && rss_opt=
second=$((duration / 5))
[ "$second" -lt 10 ] && second=10

if [ ! -x "$torture" ]; then
  echo "soak.sh: $torture is not built" >&2
  exit 99
fi

# Print the summary line's figures, one per line.
figures() {
  sed -n 's/^torture: \(ok\|figures\) //p' "$1" | tr ' ' '\n' | sed -n \
    -e 's/^spawned\/s=/  tasks spawned per second: /p' \
    -e 's/^tasks=/  tasks spawned:            /p' \
    -e 's/^peak_live=/  peak live tasks:          /p' \
    -e 's/^rss_start_kb=/  RSS at start (kB):        /p' \
    -e 's/^rss_peak_kb=/  RSS at peak (kB):         /p' \
    -e 's/^rss_idle_kb=/  RSS after the load (kB):  /p' \
    -e 's/^rss_end_kb=/  RSS at the end (kB):      /p' \
    -e 's/^anon_start_kb=/  anonymous RSS at start:   /p' \
    -e 's/^anon_idle_kb=/  anonymous RSS after load: /p'
}

failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT INT TERM
for pass in "2 $duration" "8 $second"; do
  # shellcheck disable=SC2086
  set -- $pass
  cmd="$torture --seed $seed --workers $1 --duration $2 $rss_opt"
  echo "soak.sh: $cmd"
  # shellcheck disable=SC2086
  timeout --kill-after=10 $(($2 + 60)) $cmd >"$log" 2>&1
  rc=$?
  cat "$log"
  echo "soak.sh: figures, $1 workers, $2 s:"
  figures "$log"
  if [ $rc -ne 0 ]; then
    echo "soak.sh: FAILED seed=$seed workers=$1 (exit $rc); reproduce: $cmd"
    failed=1
  fi
  seed=$((seed + 1))
done
exit $failed
