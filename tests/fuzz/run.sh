#!/usr/bin/env bash
# Runs one libFuzzer harness for a while, starting from the committed corpus.
#
#   tests/fuzz/run.sh [--tap] TARGET [SECONDS] [libFuzzer options...]
#
# --tap (meson's fuzz suite): the fuzzer's output goes to $FUZZ_WORK/fuzz.log
# and the run is reported as one TAP line, with the log's tail when it fails.
#
# TARGET is segment, format or file; SECONDS defaults to 300. The fuzzer comes
# from a clang build (default build-fuzz, set FUZZ_BUILD to use another, or
# FUZZ_BIN to name the binary). New inputs go to $FUZZ_WORK/corpus (default
# <build>/tests/fuzz/work-TARGET), never to the committed corpus; a crash is
# saved as $FUZZ_WORK/crash-<sha1> and makes this script fail. For a crash:
#
#   build-fuzz/tests/fuzz/fuzz_TARGET -minimize_crash=1 -runs=100000 CRASH
#   cp <the minimized-from-... file> tests/fuzz/corpus/TARGET/crash-<what>
#
# and the replay test (meson test --suite fuzz-replay) covers it from then on.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tap=0
if [ "${1:-}" = --tap ]; then
    tap=1
    shift
fi
target=${1:?usage: run.sh TARGET [SECONDS] [libFuzzer options...]}
seconds=${2:-300}
shift $(( $# >= 2 ? 2 : 1 ))
case $target in
segment | format | file) ;;
*) echo "run.sh: unknown target '$target' (segment, format, file)" >&2; exit 2 ;;
esac
build=${FUZZ_BUILD:-$here/../../build-fuzz}
bin=${FUZZ_BIN:-$build/tests/fuzz/fuzz_$target}
work=${FUZZ_WORK:-$build/tests/fuzz/work-$target}
[ -x "$bin" ] || { echo "run.sh: no fuzzer at $bin (configure a clang build: CC=clang CXX=clang++ meson setup build-fuzz)" >&2; exit 2; }
mkdir -p "$work/corpus"
dict=()
[ -f "$here/$target.dict" ] && dict=(-dict="$here/$target.dict")
# -max_len: segments and files need inputs larger than libFuzzer's default.
fuzz=("$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=262144
    -print_final_stats=1 -artifact_prefix="$work/" "${dict[@]}" "$@" "$work/corpus" "$here/corpus/$target")
[ "$tap" = 1 ] || exec "${fuzz[@]}"

. "$here/../tap.sh"
log=$work/fuzz.log
if "${fuzz[@]}" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    ok "fuzz_$target: ${seconds} s, ${runs:-?} inputs, no crash, leak or timeout"
else
    not_ok "fuzz_$target: the fuzzer failed (log: $log, reproducer: $work/crash-* or leak-* or timeout-*)"
    tail -40 "$log" | diag /dev/stdin
fi
tap_finish
