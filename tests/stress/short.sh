#!/bin/sh
# tests/stress/short.sh - the torture test's short form, run by `make check`:
# four runs of about 4 s each, one per worker count (1, 2, 4 and 8; more
# workers than cores must work too), each with its own seed, printed first.
# Reproduce a failure with the command it prints. (RSS is not waited for:
# --idle 0; tests/stress/soak.sh reports it.)
#
#   TORTURE      the program (default tests/stress/torture)
#   TORTURE_SEED the first run's seed (default: from the clock); the others
#                follow it
#   WEFT_TEST_SCALE > 1 (the sanitizer trees) keeps fewer tasks alive
#                (ThreadSanitizer counts each live task as a thread), runs
#                shorter and gives the end of the run more time: under
#                ThreadSanitizer a loaded machine runs about 60 tasks a
#                second, and the drain of the live ones took 13-28 s
#
# A run fails by its exit status (a task still waiting grace seconds after
# the end, the program's hang check), or by outliving that by 10 s.
set -u

torture=${TORTURE:-tests/stress/torture}
scale=${WEFT_TEST_SCALE:-1}
seed=${TORTURE_SEED:-$(( $(date +%s) % 1000000 * 1000 ))}
duration=4
grace=20
limits=
if [ "$scale" -gt 1 ] 2>/dev/null; then
  duration=2
  grace=90
  limits="--max-live 800"
fi

if [ ! -x "$torture" ]; then
  echo "short.sh: $torture is not built" >&2
  exit 99
fi

failed=0
for workers in 1 2 4 8; do
  cmd="$torture --seed $seed --workers $workers --duration $duration --grace $grace --idle 0 $limits"
  echo "short.sh: $cmd"
  # $cmd is split on purpose: the program and its options.
  # shellcheck disable=SC2086
  timeout --kill-after=5 $((duration + grace + 10)) $cmd
  rc=$?
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    echo "short.sh: FAILED seed=$seed workers=$workers: still running $((duration + grace + 10)) s after start"
    failed=1
  elif [ $rc -ne 0 ]; then
    echo "short.sh: FAILED seed=$seed workers=$workers (exit $rc); reproduce: $cmd"
    failed=1
  fi
  seed=$((seed + 1))
done
exit $failed
