#!/usr/bin/env bash
# Instructions a log call executes, per case of shmlog-bench-call (bench/bench_call.c), counted by callgrind:
# steadier than any timing on a shared machine. Valgrind has no rseq, so every reservation takes
# shmlog__reserve_slow there: its instructions are left out, and "empty" (the timing, the loop and the
# strings made between samples) is taken off, so what is left is the call's own work besides reserving.
# Compare two builds' programs the same way.
# usage: bench/call_insns.sh [--cxx] BUILD_DIR [SAMPLES]   (BUILD_DIR holds bench/shmlog-bench-call)
#   --cxx  the calls built as C++ (shmlog-bench-call-cxx), with the {} format cases args3{}, str45{},
#          stdstr45{} (the 45 bytes as a const std::string&) and vec8d{} (a std::vector<double> of 8)
set -euo pipefail
program=shmlog-bench-call cases="empty args3 str45 str200 args16 str1k" signature=""
if [ "${1:-}" = --cxx ]; then
    # callgrind names C++ functions with their parameters
    program=shmlog-bench-call-cxx cases="$cases args3{} str45{} stdstr45{} vec8d{}" signature="(*"
    shift
fi
build=${1:?usage: call_insns.sh [--cxx] BUILD_DIR [SAMPLES]}
samples=${2:-200}
call=$build/bench/$program
[ -x "$call" ] || { echo "call_insns.sh: no $call (ninja -C $build bench/$program)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/shmlog-call-insns.XXXXXX)
seg=$(mktemp -d /dev/shm/shmlog-call-insns.XXXXXX)
trap 'rm -rf "$tmp" "$seg"' EXIT
# Every sample is 20 calls the peers' way and 20 in brackets; no collector, and a ring that holds them all.
calls=$((samples * 20 * 2))
declare -A own
printf '%-8s %12s %12s %10s\n' case instructions reserve_slow per_call
for c in $cases; do
    fn=run_CASE_${c^^}
    fn=${fn/\{\}/_FMT}
    valgrind --tool=callgrind --callgrind-out-file="$tmp/$c.out" --toggle-collect="$fn$signature" \
        "$call" --dir "$seg" --no-collector --cases "$c" --samples "$samples" --wait-us 0 >/dev/null 2>"$tmp/$c.err"
    total=$(callgrind_annotate "$tmp/$c.out" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    slow=$(callgrind_annotate --inclusive=yes "$tmp/$c.out" |
        awk '/:shmlog__reserve_slow / {gsub(",", "", $1); print $1; found = 1} END {if (!found) print 0}')
    own[$c]=$((total - slow))
    if [ "$c" = empty ]; then
        printf '%-8s %12s %12s %10s\n' "$c" "$total" "$slow" "-"
    else
        printf '%-8s %12s %12s %10.1f\n' "$c" "$total" "$slow" \
            "$(awk -v a="${own[$c]}" -v b="${own[empty]}" -v n="$calls" 'BEGIN {print (a - b) / n}')"
    fi
done
