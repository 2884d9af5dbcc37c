# shellcheck shell=bash disable=SC2154 # $me is the sourcing script's
# tests/fetch/redislib.sh - Debian's redis-server for the tests that need
# one (redis.sh, shared.sh), sourced by bash with $me set to the script's
# name. Each server has its own folder: a config file, an AOF, a pid file
# and a log, on a port the kernel picked, bound to 127.0.0.1, daemonized;
# it is stopped by SHUTDOWN or by the pid in its pid file, never by name.
# WEFT_TEST_SCALE stretches the waits (sanitizer and Valgrind trees).

redis_scale=${WEFT_TEST_SCALE:-1}
case $redis_scale in '' | *[!0-9]* | 0) redis_scale=1 ;; esac

conf_get() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

# redis-cli for the server of CONF, with its password if it has one.
cli() {
  local conf=$1 pw
  shift
  pw=$(conf_get "$conf" requirepass)
  if [[ -n $pw ]]; then
    REDISCLI_AUTH=$pw redis-cli -p "$(conf_get "$conf" port)" "$@"
  else
    env -u REDISCLI_AUTH redis-cli -p "$(conf_get "$conf" port)" "$@"
  fi
}

# The pid of the server of CONF, from its pid file; nothing when none.
redis_pid() {
  local f
  f=$(conf_get "$1" pidfile)
  [[ -s $f ]] && cat "$f" 2>/dev/null
}

# A port nothing listens on now.
free_port() {
  "${py:-python3}" -S -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Start the server of CONF; wait up to 20 s (scaled) for its PING. A port
# still held by the previous process is retried.
redis_start() {
  local conf=$1 i
  for ((i = 1; i <= 200 * redis_scale; i++)); do
    if ((i % 20 == 1)); then
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

# Stop the server of CONF with SHUTDOWN and wait (20 s, scaled) for its
# process to end; then kill it. Returns 1 when it had to be killed.
redis_stop() {
  local conf=$1 pid i
  pid=$(redis_pid "$conf" || true)
  cli "$conf" shutdown >/dev/null 2>&1 || true
  [[ -n $pid ]] || return 0
  for ((i = 0; i < 400 * redis_scale; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  echo "$me: redis-server $pid did not stop on SHUTDOWN" >&2
  kill -9 "$pid" 2>/dev/null || true
  return 1
}

# make_redis DIR [CONFIG LINE]...: write DIR/redis.conf (append-only file,
# no snapshots) and start the server; a port taken meanwhile by someone
# else gets a new one. Exits the script when the server cannot start.
make_redis() {
  local dir=$1 line
  shift
  mkdir -p "$dir"
  for _ in 1 2 3 4 5; do
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
    redis_start "$dir/redis.conf" 2>/dev/null && return 0
    grep -q 'Address already in use' "$dir/redis.log" 2>/dev/null || break
  done
  echo "$me: cannot start redis-server in $dir:" >&2
  tail -n 20 "$dir/redis.log" >&2 || true
  exit 1
}

# Stop every server whose config is one of the files named (SIGTERM by
# pid, then wait up to 5 s for each): the cleanup on exit.
redis_kill_all() {
  local c pid
  for c in "$@"; do
    [[ -e $c ]] || continue
    pid=$(redis_pid "$c" || true)
    if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; fi
  done
  for c in "$@"; do
    [[ -e $c ]] || continue
    pid=$(redis_pid "$c" || true)
    [[ -n $pid ]] || continue
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
  done
}
