#!/usr/bin/env bash
# tests/fetch/redis.sh - the Redis client (examples/fetch/redis.c) and the
# shared frontier (shared.c) against Debian's redis-server.
#
# Usage: tests/fetch/redis.sh              (from a build tree, as `make check` runs it)
#        tests/fetch/redis.sh ctl CONF start|stop   (what the suite calls)
#
# Two servers of its own, each with a config file, an AOF and a data
# directory in a temporary folder, on ports the kernel picked, bound to
# 127.0.0.1, daemonized with a pid file:
#   plain   --appendonly yes --save '': the suite stops and starts it
#           mid-test (SHUTDOWN, then the same port and directory), so its
#           data must come back from the AOF;
#   auth    the same with requirepass, for AUTH.
# Then it runs the Check suite tests/check_redis (CHECK_REDIS), which
# finds them through REDIS_PORT, REDIS_CONF, REDIS_AUTH_PORT,
# REDIS_AUTH_PASSWORD, REDIS_CTL (this script) and REDIS_FREE_PORT (a
# port nothing listens on). Both servers are stopped by their pid and the
# folder removed on exit, whatever happened.
#
# In ctl mode it stops (SHUTDOWN, then waits for the process to end) or
# starts (and waits until PING is answered) the server of CONF.
#
# Exit status: the suite's; 77 (skipped) when redis-server, redis-cli,
# python3 or the suite is missing.
set -euo pipefail
me=redis.sh

# shellcheck source=tests/fetch/redislib.sh
. "$(dirname "$0")/redislib.sh"

if [ "${1:-}" = ctl ]; then
  [ $# = 3 ] || { echo "usage: $me ctl CONF start|stop" >&2; exit 2; }
  case $3 in
  start) redis_start "$2" ;;
  stop) redis_stop "$2" ;;
  *) echo "$me: ctl: start or stop, not $3" >&2; exit 2 ;;
  esac
  exit
fi

CHECK_REDIS=${CHECK_REDIS:-tests/check_redis}
[ -x "$CHECK_REDIS" ] || { echo "$me: $CHECK_REDIS not built" >&2; exit 77; }
for p in redis-server redis-cli python3; do
  command -v $p >/dev/null 2>&1 || { echo "$me: no $p (Debian: redis-server, python3)" >&2; exit 77; }
done
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")

tmp=$(mktemp -d)
cleanup() {
  redis_kill_all "$tmp"/*/redis.conf
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

make_redis "$tmp/plain"
make_redis "$tmp/auth" "requirepass weft-secret"

export REDIS_PORT REDIS_CONF REDIS_AUTH_PORT REDIS_AUTH_PASSWORD REDIS_CTL REDIS_FREE_PORT
REDIS_CONF=$tmp/plain/redis.conf
REDIS_PORT=$(conf_get "$REDIS_CONF" port)
REDIS_AUTH_PORT=$(conf_get "$tmp/auth/redis.conf" port)
REDIS_AUTH_PASSWORD=weft-secret
REDIS_CTL=$self
REDIS_FREE_PORT=$(free_port)
unset REDISCLI_AUTH
"$CHECK_REDIS"
