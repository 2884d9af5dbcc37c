#!/bin/sh
# tests/fetch/httpd.sh - check examples/httpd/httpd, the static file server the
# crawler demo runs against: files, HEAD, index.html and redirects, status
# codes for bad requests, no escape from the served directory, keep-alive
# and pipelining, 1,000 concurrent clients, deadlines against slow
# clients, and a clean exit on SIGTERM and SIGINT.
#
# The server is $HTTPD (default examples/httpd/httpd, relative to the current
# directory); the checks are in httpd_client.py beside this script. Each
# check prints a line; the first failure prints FAIL and exits 1.
set -u

HTTPD=${HTTPD:-examples/httpd/httpd}
here=$(dirname "$0")

if [ ! -x "$HTTPD" ]; then
  echo "FAIL: $HTTPD is not an executable (set HTTPD)"
  exit 1
fi
case $HTTPD in
/*) ;;
*) HTTPD=$(pwd)/$HTTPD ;;
esac
if ! command -v python3 >/dev/null 2>&1; then
  echo "SKIP: python3 not found"
  exit 77
fi

# The 1,000-client check needs over a thousand descriptors in the client.
nofile=$(ulimit -n)
if [ "$nofile" != unlimited ] && [ "$nofile" -lt 4096 ]; then
  ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -H -n)" 2>/dev/null || :
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-httpd.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

python3 "$here/httpd_client.py" "$HTTPD" "$tmp"
