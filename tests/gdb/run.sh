#!/usr/bin/env bash
# tests/gdb/run.sh - drive GDB in batch mode against tests/gdb/target with
# contrib/weft-gdb.py loaded: `weft tasks` must list the parked tasks and
# `weft bt` must show the function each one parked in.
set -euo pipefail

srcdir=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
target=${GDB_TARGET:-tests/gdb/target}
if ! command -v gdb >/dev/null 2>&1; then
  echo "gdb is not installed (Debian package gdb)"
  exit 77
fi
case " ${WEFT_CONTEXT:-asm} " in
*ucontext*)
  echo "the ucontext build saves registers where weft bt cannot read them"
  exit 77
  ;;
esac
case ${WEFT_SANITIZERS:-no} in
no | "") ;;
*)
  echo "sanitizer build: the default build runs the GDB test"
  exit 77
  ;;
esac
[ -x "$target" ] || { echo "missing $target"; exit 1; }

out=$(gdb -batch -nx -q \
  -ex "source $srcdir/contrib/weft-gdb.py" \
  -ex 'set pagination off' \
  -ex 'break ready_for_gdb' \
  -ex 'run' \
  -ex 'weft tasks' \
  -ex 'weft bt receiver' \
  -ex 'weft bt sleeper' \
  -ex 'bt 1' \
  -ex 'continue' \
  --args "$target" 2>&1) || true
printf '%s\n' "$out"

fail() {
  echo "FAIL: $*"
  exit 1
}
grep -q "task [0-9]* 'receiver' parked (worker [0-9]*) on chan recv" <<<"$out" ||
  fail "weft tasks does not show the receiver parked on its channel"
grep -q "task [0-9]* 'sleeper' parked (worker [0-9]*) on sleep" <<<"$out" ||
  fail "weft tasks does not show the sleeper"
grep -q "task [0-9]* 'main' running" <<<"$out" || fail "weft tasks does not show main running"
# Each backtrace names the function the task parked in, below weft's own.
awk "/^task [0-9]+ 'receiver' parked:/{on=1; next} /^task /{on=0} on" <<<"$out" |
  grep -q "parked_in_channel_wait" || fail "weft bt receiver does not reach parked_in_channel_wait"
awk "/^task [0-9]+ 'sleeper' parked:/{on=1; next} /^task /{on=0} on" <<<"$out" |
  grep -q "parked_in_sleep" || fail "weft bt sleeper does not reach parked_in_sleep"
# The thread's own registers came back: it stops where it stopped, and the
# program runs to its end.
grep -q "#0 .*ready_for_gdb" <<<"$out" || fail "the stopped thread's registers were not restored"
grep -q "target: done" <<<"$out" || fail "the program did not finish after the inspection"
echo "PASS: weft tasks and weft bt"
