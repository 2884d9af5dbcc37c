#!/bin/sh
# tests/layers.sh - the library's files call only down the layers of
# docs/design.md 2.1 (a higher layer reaches a lower one's code only
# through hooks), and the only call cycle is the scheduler and task pair
# (2.3). scripts/cycles --check reads this build tree's objects with nm.
src=${srcdir:-.}
if ! command -v nm >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1; then
  echo "layers: nm or python3 missing; not checked" >&2
  exit 77
fi
if ! ls src/libweft_la-*.o >/dev/null 2>&1; then
  echo "layers: no library objects in $(pwd)/src (a libtool build without them?)" >&2
  exit 77
fi
exec python3 "$src/scripts/cycles" --check .
