#!/usr/bin/env bash
# tests/fetch/tokenizer.sh - fetch's HTML tokenizer (examples/fetch/html.c)
# against an HTML5 tokenizer nobody here wrote: Debian's html5lib.
#
# The corpus:
#   hard cases     tests/fetch/tokcases/make_hard.py writes them: each state
#                  of the standard that decides which links a page holds,
#                  references split anywhere, broken markup, values past
#                  the 64 KiB limit;
#   generated      a site of tests/fetch/gensite.py (the crawl tests' kind);
#   manuals        the HTML manuals of Debian's python3.11-doc and
#                  postgresql-doc-15 (1,699 pages, 67 MB of real HTML).
#
# For each file, the ordered list of (element, attribute, value) that
# linkdump (tests/fetch/linkdump.c, the tokenizer alone) finds must equal
# the list html5lib's tokenizer gives (tests/fetch/tokdiff.py says how the
# two are made comparable). Every hard case is also fed split at every
# byte and a byte at a time, and must agree with the standard as
# make_hard.py writes it down; every other file is fed in random pieces
# three ways. Any difference fails the test.
#
# WEFT_TOKDIFF_CORPUS=small leaves out the manuals (scripts/test sets it
# for the trees after the first: the tokenizer is plain C, and html5lib's
# half-minute over the manuals need not be repeated in each). Exit 77
# (skipped) when linkdump is not built; html5lib and the manuals are
# required (scripts/test installs them), and missing ones fail the test.
set -euo pipefail
me=tokenizer.sh
here=$(cd "$(dirname "$0")" && pwd)
linkdump=${LINKDUMP:-tests/fetch/linkdump}
py=/usr/bin/python3 # Debian's python: html5lib is installed for it
manuals="/usr/share/doc/python3.11/html /usr/share/doc/postgresql-doc-15/html"
corpus=${WEFT_TOKDIFF_CORPUS:-full}
seed=${WEFT_TOKDIFF_SEED:-$(date +%s)}

say() { printf '%s: %s\n' "$me" "$*" >&2; }

[ -x "$linkdump" ] || { say "$linkdump not built"; exit 77; }
"$py" -c 'import html5lib' 2>/dev/null ||
  { say "html5lib is missing for $py: apt-get install python3-html5lib"; exit 1; }
if [ "$corpus" = full ]; then
  for d in $manuals; do
    [ -d "$d" ] || { say "$d is missing: apt-get install python3.11-doc postgresql-doc-15"; exit 1; }
  done
else
  manuals=
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
failed=0

say "hard cases: split at every byte, against the standard"
"$py" "$here/tokcases/make_hard.py" "$tmp/hard"
"$py" "$here/tokcases/make_hard.py" --verify "$linkdump" || failed=1

say "generated site and manuals: random pieces (seed $seed)"
"$py" "$here/gensite.py" "$tmp/site" --pages 300 --seed "$seed"
# shellcheck disable=SC2086 # the manuals are a list of folders
find "$tmp/site" $manuals -name '*.html' -print0 | sort -z |
  xargs -0 -n 200 "$linkdump" -s random -r "$seed" >/dev/null || failed=1

say "everything against html5lib"
# shellcheck disable=SC2086
"$py" "$here/tokdiff.py" "$linkdump" "$tmp/hard" "$tmp/site" $manuals || failed=1

if ((failed)); then
  say "FAIL"
  exit 1
fi
say "PASS"
