#!/usr/bin/env bash
# tests/fuzz/run.sh - build the libFuzzer harnesses of tests/fuzz and run
# each one over its corpus (see tests/fuzz/README.md).
#
#   tests/fuzz/run.sh [-t SECONDS] [-o HARNESS]... [BUILDDIR]
#
#   -t SECONDS  how long each harness fuzzes (default $FUZZ_SECONDS, else
#               60). 0 fuzzes nothing: each harness runs its committed
#               corpus once (regression mode).
#   -o HARNESS  run only this harness (repeatable): http decode url html
#               robots sitemap httpd journal warc redis
#   BUILDDIR    where everything made goes (default $PWD/tests/fuzz):
#               bin/ the harnesses, obj/ their objects, gen/ entities.c,
#               work/NAME the working corpora, logs/NAME.log, crashes/NAME/
#               the inputs that failed. The committed corpus is only read.
#
# `make fuzz FUZZ_SECONDS=N` calls it from the build tree.
#
# The harnesses are built here with clang-14 straight from the sources
# (the project's configured compiler may be gcc, which has no libFuzzer),
# with -fsanitize=fuzzer,address,undefined, and linked with the system's
# libraries: liburiparser, zlib, libbrotlidec, libbrotlienc, libxml2,
# libcrypto and hiredis through pkg-config, -lhttp_parser (it ships no .pc).
# They link no weft runtime: only the parsing files and tests/fuzz/weft_stub.c. The fetch sources
# include no config.h, so none is needed; entities.c is generated into
# BUILDDIR/gen by examples/fetch/gen-entities.py ($PYTHON3, else python3).
#
# Each harness fuzzes a scratch copy of its committed corpus
# (BUILDDIR/work/NAME, kept between runs, so coverage accumulates
# locally), one at a time, in-process (no -jobs/-fork), with a per-input
# timeout and a memory limit. A crash, a leak, a timeout, an out-of-memory
# or a broken property fails the harness; the script then prints the tail
# of its log and the path of the input that did it, runs the others,
# and exits 1. It exits 77 (skipped) when clang-14 or its libFuzzer
# runtime is missing, and 0 when every harness passed.
#
# Environment: FUZZ_SECONDS (as -t), FUZZ_CC (default clang-14),
# FUZZ_TIMEOUT (seconds one input may take, default 10), FUZZ_RSS_MB
# (default 1024), PYTHON3.
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
me=tests/fuzz/run.sh
all=(http decode url html robots sitemap httpd journal warc redis)

usage() {
  echo "usage: $me [-t SECONDS] [-o HARNESS]... [BUILDDIR]" >&2
  exit 2
}

seconds=${FUZZ_SECONDS:-60}
only=()
while getopts t:o: opt; do
  case $opt in
  t) seconds=$OPTARG ;;
  o) only+=("$OPTARG") ;;
  *) usage ;;
  esac
done
shift $((OPTIND - 1))
(($# <= 1)) || usage
out=${1:-$PWD/tests/fuzz}
[[ $seconds =~ ^[0-9]+$ ]] || { echo "$me: -t wants whole seconds, not '$seconds'" >&2; exit 2; }
((${#only[@]})) || only=("${all[@]}")
for h in "${only[@]}"; do
  [[ " ${all[*]} " == *" $h "* ]] || { echo "$me: no harness '$h' (${all[*]})" >&2; exit 2; }
done

cc=${FUZZ_CC:-clang-14}
python=${PYTHON3:-python3}
timeout=${FUZZ_TIMEOUT:-10}
rss_mb=${FUZZ_RSS_MB:-1024}

# ---- the harnesses: their sources (beyond tests/fuzz/fuzz_NAME.c) and libraries ----
fetch=examples/fetch
declare -A parts=(
  [http]="$fetch/http.c $fetch/decode.c"
  [decode]="$fetch/decode.c"
  [url]="$fetch/url.c $fetch/buf.c"
  [html]="$fetch/html.c @entities.c $fetch/links.c $fetch/url.c $fetch/buf.c $fetch/strmap.c tests/fuzz/weft_stub.c"
  [robots]="$fetch/robots.c $fetch/buf.c examples/common/util.c"
  [sitemap]="$fetch/sitemap.c $fetch/decode.c $fetch/url.c $fetch/buf.c $fetch/strmap.c"
  [httpd]="examples/httpd/parse.c examples/httpd/path.c examples/common/util.c"
  [journal]="$fetch/journal.c $fetch/fp.c $fetch/buf.c"
  [warc]="$fetch/warcrec.c $fetch/http.c $fetch/decode.c $fetch/buf.c"
  [redis]="$fetch/shared_reply.c $fetch/resp.c"
)
declare -A packages=(
  [http]="zlib libbrotlidec"
  [decode]="zlib libbrotlidec libbrotlienc"
  [url]="liburiparser"
  [html]="liburiparser"
  [robots]=""
  [sitemap]="libxml-2.0 zlib libbrotlidec liburiparser"
  [httpd]=""
  [journal]="zlib"
  [warc]="zlib libbrotlidec libcrypto"
  [redis]="hiredis"
)
declare -A extra_libs=([http]="-lhttp_parser" [warc]="-lhttp_parser")

# ---- skip unless clang-14 can build a fuzzer ----
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "$me: $cc not found: fuzzing skipped (Debian: apt-get install clang-14 libclang-rt-14-dev)"
  exit 77
fi
mkdir -p "$out/bin" "$out/obj" "$out/gen" "$out/logs"
probe=$out/obj/probe
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' >"$probe.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$probe.c" -o "$probe" 2>"$probe.log"; then
  echo "$me: $cc cannot link -fsanitize=fuzzer (is libclang-rt-14-dev installed?): fuzzing skipped"
  sed 's/^/  /' "$probe.log" | head -n 5
  exit 77
fi

# ---- build ----
# shellcheck disable=SC2054 # the commas are -fsanitize's
cflags=(-std=gnu11 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined
  -fno-sanitize-recover=all -Wall -Wextra
  -I"$src/$fetch" -I"$src/examples" -I"$src/include" -I"$src/tests/fuzz")
need_pkgs=()
for h in "${only[@]}"; do
  read -ra words <<<"${packages[$h]}"
  need_pkgs+=("${words[@]}")
done
if ((${#need_pkgs[@]})); then
  pc_cflags=$(pkg-config --cflags "${need_pkgs[@]}") ||
    { echo "$me: pkg-config cannot find ${need_pkgs[*]}" >&2; exit 1; }
  read -ra words <<<"$pc_cflags"
  cflags+=("${words[@]}")
fi

# Compile a file (a path in the source tree, or @NAME for one generated
# into BUILDDIR/gen) to BUILDDIR/obj, named for its whole path (two
# folders may hold files of one name), unless its object is up to date;
# print the object's path.
compile() {
  local file=$1 path obj
  if [[ $file == @* ]]; then path=$out/gen/${file#@}; else path=$src/$file; fi
  obj=${file#@}
  obj=$out/obj/${obj//\//_}
  obj=${obj%.c}.o
  if [[ ! -e $obj || $path -nt $obj || $0 -nt $obj ]] || dep_newer "$obj"; then
    "$cc" "${cflags[@]}" -fsanitize=fuzzer-no-link -MMD -MF "$obj.d" -c "$path" -o "$obj" ||
      { echo "$me: compiling $file failed" >&2; return 1; }
  fi
  echo "$obj"
}

# Whether a header obj was built from has changed since (its -MMD file).
dep_newer() {
  local obj=$1 dep deps
  [[ -e $obj.d ]] || return 0
  read -ra deps <<<"$(sed -e 's/^[^:]*://' -e 's/\\$//' "$obj.d" | tr '\n' ' ')"
  for dep in "${deps[@]}"; do
    [[ $dep -nt $obj ]] && return 0
  done
  return 1
}

echo "=== fuzz: building ${only[*]} with $cc into $out"
if [[ " ${only[*]} " == *" html "* ]]; then
  if [[ ! -e $out/gen/entities.c || $src/$fetch/gen-entities.py -nt $out/gen/entities.c ]]; then
    "$python" "$src/$fetch/gen-entities.py" "$out/gen/entities.c" ||
      { echo "$me: $fetch/gen-entities.py failed" >&2; exit 1; }
  fi
fi
for h in "${only[@]}"; do
  objs=()
  for f in tests/fuzz/fuzz_$h.c ${parts[$h]}; do
    obj=$(compile "$f") || exit 1
    objs+=("$obj")
  done
  read -ra libs <<<"${extra_libs[$h]:-}"
  if [[ -n ${packages[$h]} ]]; then
    read -ra words <<<"${packages[$h]}"
    read -ra words <<<"$(pkg-config --libs "${words[@]}")"
    libs+=("${words[@]}")
  fi
  "$cc" -fsanitize=fuzzer,address,undefined "${objs[@]}" "${libs[@]}" -o "$out/bin/fuzz_$h" ||
    { echo "$me: linking fuzz_$h failed" >&2; exit 1; }
done

# ---- run ----
# Stop at the first error of any kind; leaks are reported by libFuzzer.
export ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"

# The stat:: value named $2 in log $1.
stat_of() {
  sed -n "s/^stat::$2: *//p" "$1" | tail -n 1
}

# What a failed run's log says went wrong: from the first report of a
# broken property, a sanitizer, a leak, a timeout or running out of
# memory, 30 lines without AddressSanitizer's shadow map.
report() {
  awk '/property broken|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|ALARM: working on the last Unit/ { p = 1 }
       /^Shadow bytes/ { p = 0 }
       p' "$1" | head -n 30
}

failed=()
for h in "${only[@]}"; do
  corpus=$src/tests/fuzz/corpus/$h
  work=$out/work/$h
  crashes=$out/crashes/$h
  log=$out/logs/$h.log
  mkdir -p "$work" "$crashes"
  flags=(-timeout="$timeout" -rss_limit_mb="$rss_mb" -malloc_limit_mb="$rss_mb"
    -error_exitcode=1 -timeout_exitcode=1 -artifact_prefix="$crashes/" -print_final_stats=1)
  [[ ! -e $src/tests/fuzz/$h.dict ]] || flags+=(-dict="$src/tests/fuzz/$h.dict")
  rc=0
  if ((seconds == 0)); then
    "$out/bin/fuzz_$h" "${flags[@]}" "$corpus"/* >"$log" 2>&1 || rc=$?
  else
    cp "$corpus"/* "$work"/
    "$out/bin/fuzz_$h" "${flags[@]}" -max_total_time="$seconds" "$work" >"$log" 2>&1 || rc=$?
  fi
  runs=$(stat_of "$log" number_of_executed_units)
  rate=$(stat_of "$log" average_exec_per_sec)
  rss=$(stat_of "$log" peak_rss_mb)
  if ((rc == 0 && seconds == 0)); then
    echo "fuzz: $h: ok, ${runs:-?} corpus inputs"
    continue
  elif ((rc == 0)); then
    echo "fuzz: $h: ok, ${runs:-?} runs, ${rate:-?} exec/s, peak ${rss:-?} MB, corpus $(find "$work" -type f | wc -l) files"
    continue
  fi
  failed+=("$h")
  echo "fuzz: $h: FAILED (exit $rc); from $log:"
  report "$log" | sed 's/^/  /'
  input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
  [[ -n $input ]] || input=$(sed -n 's/^Running: \(.*\)$/\1/p' "$log" | tail -n 1)
  echo "fuzz: $h: the input: ${input:-(none saved; see the log)}"
done
if ((${#failed[@]})); then
  echo "fuzz: failed: ${failed[*]} (add each input to tests/fuzz/corpus/NAME/ once fixed)"
  exit 1
fi
echo "fuzz: all passed (${only[*]}; ${seconds} s each)"
