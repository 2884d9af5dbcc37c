#!/bin/bash
# tests/man.sh - the manual pages are well-formed and cover the API.
#
# 1. Every page in man/ passes `mandoc -T lint -W warning` with no message
#    (or, without mandoc, `groff -ww -mandoc -z`; with neither: skip, 77).
# 2. Every page's .Dt names its own file (weft_chan.3: .Dt WEFT_CHAN 3).
# 3. Every function declared WEFT_API in include/weft.h is documented in a
#    section 3 page: named by .Nm, or given by .Fn/.Fo in a SYNOPSIS.
# 4. Each documented SYNOPSIS prototype equals the header's declaration,
#    spacing aside.
# 5. Every weft page a page cross-references with .Xr exists in man/.
#    (System pages such as open(2) are not checked.)
# Functions documented but not declared in weft.h are reported as notes.
set -euo pipefail

srcdir=${srcdir:-$(dirname "$0")/..}
mandir=$srcdir/man
header=$srcdir/include/weft.h
fail=0

err() {
  echo "man: $*" >&2
  fail=1
}

shopt -s nullglob
pages=("$mandir"/*.[1-9])
shopt -u nullglob
if [ ${#pages[@]} -eq 0 ]; then
  echo "man: no pages in $mandir" >&2
  exit 1
fi
if [ ! -r "$header" ]; then
  echo "man: cannot read $header" >&2
  exit 1
fi

# ---- 1. lint ----
if command -v mandoc >/dev/null 2>&1; then
  for p in "${pages[@]}"; do
    if ! out=$(mandoc -T lint -W warning "$p" 2>&1) || [ -n "$out" ]; then
      err "mandoc lint: ${p##*/}"
      printf '%s\n' "$out" >&2
    fi
  done
elif command -v groff >/dev/null 2>&1; then
  for p in "${pages[@]}"; do
    if ! out=$(groff -ww -mandoc -z "$p" 2>&1) || [ -n "$out" ]; then
      err "groff warnings: ${p##*/}"
      printf '%s\n' "$out" >&2
    fi
  done
else
  echo "man: neither mandoc nor groff is installed; pages not checked" >&2
  exit 77
fi

# ---- 2. titles ----
for p in "${pages[@]}"; do
  base=${p##*/}
  dt=$(awk '$1 == ".Dt" { print tolower($2) "." $3; exit }' "$p")
  [ "$dt" = "$base" ] || err "$base: .Dt says '${dt:-nothing}'"
done

# ---- 3 and 4. the API against the pages ----
# Canonical prototype: whitespace only between two identifier characters.
canon() {
  sed -e 's/[[:space:]][[:space:]]*/ /g' \
      -e 's/ \([^A-Za-z0-9_]\)/\1/g' -e 's/\([^A-Za-z0-9_]\) /\1/g' \
      -e 's/^ //' -e 's/ $//'
}

# The header's declarations, one per line: "name<TAB>prototype".
# Drop preprocessor lines and comments, then split the text at ';'.
header_protos() {
  grep -v '^[[:space:]]*#' "$header" |
    awk 'BEGIN { RS = "\001" } {
           gsub(/\/\*([^*]|\*+[^*\/])*\*+\//, " ")
           n = split($0, stmt, ";")
           for (i = 1; i <= n; i++) {
             s = stmt[i]
             gsub(/[ \t\n]+/, " ", s)
             sub(/^ /, "", s)
             if (match(s, /(^|[^A-Za-z0-9_])WEFT_API /) == 0)
               continue
             s = substr(s, RSTART + RLENGTH)
             if (match(s, /weft_[a-z0-9_]*[ ]*\(/) == 0)
               continue
             name = substr(s, RSTART, RLENGTH)
             sub(/[ ]*\($/, "", name)
             print name "\t" s
           }
         }'
}

# The pages' SYNOPSIS prototypes, one per line: "name<TAB>prototype".
# Understands .Ft, .Fn name "arg" ..., and .Fo name / .Fa "arg" / .Fc.
page_protos() {
  awk '
    function args(s,    out, n, i, part, a) {
      out = ""
      if (index(s, "\"") == 0) {
        n = split(s, a, " ")
        for (i = 1; i <= n; i++)
          out = out (out == "" ? "" : ", ") a[i]
        return out
      }
      n = split(s, part, "\"")
      for (i = 2; i <= n; i += 2)
        out = out (out == "" ? "" : ", ") part[i]
      return out
    }
    /^\.Sh / { syn = ($2 == "SYNOPSIS"); next }
    !syn { next }
    /^\.Ft / { type = substr($0, 5); next }
    /^\.Fn / {
      rest = substr($0, 5)
      name = rest; sub(/ .*/, "", name)
      rest = (index(rest, " ") ? substr(rest, index(rest, " ") + 1) : "")
      print name "\t" type " " name "(" args(rest) ")"
      next
    }
    /^\.Fo / { fo = $2; fa = ""; next }
    /^\.Fa / && fo != "" {
      a = args(substr($0, 5))
      fa = fa (fa == "" ? "" : ", ") a
      next
    }
    /^\.Fc/ && fo != "" { print fo "\t" type " " fo "(" fa ")"; fo = ""; next }
  ' "$@"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

header_protos | sort -u >"$tmp/header"
cut -f1 "$tmp/header" | sort -u >"$tmp/declared"
if [ ! -s "$tmp/declared" ]; then
  echo "man: found no WEFT_API function in $header" >&2
  exit 1
fi

sec3=("$mandir"/*.3)
: >"$tmp/pages"
for p in "${sec3[@]}"; do
  page_protos "$p" | awk -v page="${p##*/}" -F '\t' '{ print $1 "\t" $2 "\t" page }' >>"$tmp/pages"
done
{
  cut -f1 "$tmp/pages"
  awk '/^\.Sh / { name = ($2 == "NAME") } name && $1 == ".Nm" { print $2 }' "${sec3[@]}"
} | sort -u >"$tmp/documented"

missing=$(comm -23 "$tmp/declared" "$tmp/documented")
if [ -n "$missing" ]; then
  err "functions in weft.h without a manual page:"
  printf '  %s\n' $missing >&2
fi

extra=$(comm -13 "$tmp/declared" <(cut -f1 "$tmp/pages" | sort -u))
if [ -n "$extra" ]; then
  echo "man: note: documented in a SYNOPSIS but not declared in weft.h:" >&2
  printf '  %s\n' $extra >&2
fi

while IFS=$'\t' read -r name hproto; do
  want=$(printf '%s\n' "$hproto" | canon)
  while IFS=$'\t' read -r pname pproto page; do
    [ "$pname" = "$name" ] || continue
    got=$(printf '%s\n' "$pproto" | canon)
    if [ "$got" != "$want" ]; then
      err "$page: SYNOPSIS of $name differs from weft.h"
      printf '  page:   %s\n  header: %s\n' "$pproto" "$hproto" >&2
    fi
  done <"$tmp/pages"
done <"$tmp/header"

# ---- 5. cross references ----
for p in "${pages[@]}"; do
  awk '$1 == ".Xr" && $2 ~ /^weft/ { print $2 "." $3 }' "$p" | sort -u |
    while read -r ref; do
      [ -f "$mandir/$ref" ] || echo "${p##*/}: .Xr to missing page $ref"
    done
done >"$tmp/xr"
if [ -s "$tmp/xr" ]; then
  err "broken cross references:"
  sed 's/^/  /' "$tmp/xr" >&2
fi

if [ "$fail" -ne 0 ]; then
  exit 1
fi
echo "man: ${#pages[@]} pages, $(wc -l <"$tmp/declared") functions, all documented"
