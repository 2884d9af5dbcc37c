# tests/fetch/common.sh - what cli.sh and hostile.sh share, sourced by
# both with $me set to the script's name: find fetch (FETCH, default
# examples/fetch/fetch relative to the current directory; exit 77 when it
# is not built), start hostile.py with its request log in a temporary
# folder that goes away on exit, and fetch_run, which runs fetch once with
# $fetch_args before the run's own arguments and counts a failed check.
FETCH=${FETCH:-examples/fetch/fetch}
[ -x "$FETCH" ] || { echo "$me: $FETCH not built" >&2; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
hostile="$here/hostile.py"
command -v python3 >/dev/null 2>&1 || { echo "$me: no python3" >&2; exit 77; }

tmp=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

python3 "$hostile" serve --log "$tmp/log" > "$tmp/port" &
server=$!
i=0
until [ -s "$tmp/port" ] && [ "$(wc -l < "$tmp/port")" -ge 2 ]; do
  i=$((i + 1))
  [ $i -le 100 ] || { echo "$me: the server did not start" >&2; exit 1; }
  sleep 0.1
done
port=$(sed -n 1p "$tmp/port")
alt=$(sed -n 2p "$tmp/port")
base="http://127.0.0.1:$port"
failed=0

# fetch_run NAME LIMIT EXPECT [RUNNER-OPTION...] -- FETCH-ARG...
# One fetch run with exactly the given arguments; LIMIT is the wall-clock
# bound in seconds, EXPECT the checks (see hostile.py).
fetch_run() {
  name=$1 limit=$2 expect=$3
  shift 3
  opts=
  while [ "$1" != "--" ]; do opts="$opts $1"; shift; done
  shift
  # shellcheck disable=SC2086
  python3 "$hostile" run --port "$port" --log "$tmp/log" --name "$name" \
    --limit "$limit" --expect "$expect" $opts \
    -- "$FETCH" $fetch_args "$@" || failed=$((failed + 1))
}
