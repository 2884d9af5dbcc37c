#!/bin/sh
# tests/symbols.sh - the shared library exports weft_ names only (the rest
# is hidden by -fvisibility=hidden and the WEFT_API macro).
set -e
lib=.libs/libweft.so
[ -f "$lib" ] || { echo "symbols: $lib not built (static-only build?)" >&2; exit 77; }
others=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^weft_' | grep -v '^_init$\|^_fini$' || true)
if [ -n "$others" ]; then
  echo "symbols: exported names without the weft_ prefix:" >&2
  echo "$others" >&2
  exit 1
fi
echo "symbols: $(nm -D --defined-only "$lib" | grep -c ' weft_') weft_ symbols, nothing else"
