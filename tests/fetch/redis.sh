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

conf_get() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

# redis-cli for the server of CONF, with its password if it has one.
cli() {
  local conf=$1 pw
  shift
  pw=$(conf_get "$conf" requirepass)
  if [ -n "$pw" ]; then
    REDISCLI_AUTH=$pw redis-cli -p "$(conf_get "$conf" port)" "$@"
  else
    env -u REDISCLI_AUTH redis-cli -p "$(conf_get "$conf" port)" "$@"
  fi
}

server_pid() {
  local f
  f=$(conf_get "$1" pidfile)
  [ -s "$f" ] && cat "$f" 2>/dev/null
}

# Start the server of CONF; wait up to 20 s for its PING. A port still
# held by the previous process is retried.
start() {
  local conf=$1 i
  for i in $(seq 1 200); do
    if [ $((i % 20)) = 1 ]; then
      rm -f "$(conf_get "$conf" pidfile)"
      redis-server "$conf" >/dev/null
    fi
    if cli "$conf" ping 2>/dev/null | grep -q -E 'PONG|NOAUTH'; then
      return 0
    fi
    sleep 0.1
  done
  echo "$me: redis-server $conf did not start; its log:" >&2
  tail -n 20 "$(conf_get "$conf" logfile)" >&2
  return 1
}

# Stop the server of CONF and wait for its process to end.
stop() {
  local conf=$1 pid i
  pid=$(server_pid "$conf" || true)
  cli "$conf" shutdown >/dev/null 2>&1 || true
  [ -n "$pid" ] || return 0
  for i in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
}

if [ "${1:-}" = ctl ]; then
  [ $# = 3 ] || { echo "usage: $me ctl CONF start|stop" >&2; exit 2; }
  case $3 in
  start) start "$2" ;;
  stop) stop "$2" ;;
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
  local c pid
  for c in "$tmp"/*/redis.conf; do
    [ -e "$c" ] || continue
    pid=$(server_pid "$c" || true)
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
  done
  for c in "$tmp"/*/redis.conf; do
    [ -e "$c" ] || continue
    pid=$(server_pid "$c" || true)
    for _ in $(seq 1 100); do
      [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# make_server NAME [CONFIG LINE]...: write NAME's config and start it; a
# port taken meanwhile by someone else gets a new one.
make_server() {
  local name=$1 dir=$tmp/$1 try
  shift
  mkdir -p "$dir"
  for try in 1 2 3 4 5; do
    {
      echo "port $(free_port)"
      echo "bind 127.0.0.1"
      echo "dir $dir"
      echo "appendonly yes"
      echo "save \"\""
      echo "daemonize yes"
      echo "pidfile $dir/redis.pid"
      echo "logfile $dir/redis.log"
      for line in "$@"; do echo "$line"; done
    } >"$dir/redis.conf"
    if start "$dir/redis.conf" 2>/dev/null; then
      return 0
    fi
    grep -q 'Address already in use' "$dir/redis.log" 2>/dev/null || break
  done
  echo "$me: cannot start redis-server ($name):" >&2
  tail -n 20 "$dir/redis.log" >&2 || true
  exit 1
}

make_server plain
make_server auth "requirepass weft-secret"

export REDIS_PORT REDIS_CONF REDIS_AUTH_PORT REDIS_AUTH_PASSWORD REDIS_CTL REDIS_FREE_PORT
REDIS_CONF=$tmp/plain/redis.conf
REDIS_PORT=$(conf_get "$REDIS_CONF" port)
REDIS_AUTH_PORT=$(conf_get "$tmp/auth/redis.conf" port)
REDIS_AUTH_PASSWORD=weft-secret
REDIS_CTL=$self
REDIS_FREE_PORT=$(free_port)
unset REDISCLI_AUTH
"$CHECK_REDIS"
