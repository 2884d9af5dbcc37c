#!/bin/sh
# tests/fetch/httpd_soak.sh - examples/httpd/httpd under 1,000 misbehaving
# connections at once (malformed requests, byte-by-byte writers, slow and
# stalled readers, half requests, resets), round after round, while a
# checker's well-formed requests must all get the right file; then httpd
# must hold no more descriptors than before, stay under its memory bound
# and exit 0 on SIGTERM with nothing on stderr. The rounds and checks are
# in httpd_soak.py beside this script.
#
#   httpd_soak.sh           3 rounds (make check; 1 under ThreadSanitizer)
#   httpd_soak.sh SECONDS   rounds until SECONDS have passed (make soak)
#
# SOAK_SEED picks the misbehaviours (default 11). The server is $HTTPD
# (default examples/httpd/httpd, relative to the current directory). 1,000
# connections need more descriptors than the usual soft limit of 1,024:
# httpd_soak.py raises its soft limit to 1,200 (httpd raises its own to
# the hard limit), and says so and exits 77 (skipped) when the hard limit
# does not allow it.
set -u

HTTPD=${HTTPD:-examples/httpd/httpd}
here=$(dirname "$0")
seconds=${1:-}
seed=${SOAK_SEED:-11}

[ -x "$HTTPD" ] || { echo "httpd_soak: $HTTPD not built" >&2; exit 77; }
case $HTTPD in
/*) ;;
*) HTTPD=$(pwd)/$HTTPD ;;
esac
command -v python3 >/dev/null 2>&1 || { echo "httpd_soak: no python3" >&2; exit 77; }

# httpd's measured peak is 45 MB. AddressSanitizer's quarantine and
# shadow make it about 320 MB; ThreadSanitizer's shadow of the tasks'
# stacks about 1.2 GB (there the bound only catches a runaway), and its
# rounds take 20-35 s, so its tree runs one.
rss_mb=128
rounds=3
case ${WEFT_SANITIZERS:-no} in
*thread*) rss_mb=3072 rounds=1 ;;
*address*) rss_mb=1024 ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-httpd-soak.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

if [ -n "$seconds" ]; then
  python3 "$here/httpd_soak.py" --seconds "$seconds" --seed "$seed" --rss-mb $rss_mb "$HTTPD" "$tmp"
else
  python3 "$here/httpd_soak.py" --rounds $rounds --seed "$seed" --rss-mb $rss_mb "$HTTPD" "$tmp"
fi
