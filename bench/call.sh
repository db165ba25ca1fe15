#!/usr/bin/env bash
# One log call timed the peers' way and in its own bracket (shmlog-bench-call, bench/bench_call.c): two ints
# and a double, two ints and a 45-byte string, the same with 200 bytes and with 1 KiB, 16 numbers. The producer runs on cpu 0
# with the spin policy, shmlog-collector on cpu 1 (--poll busy) writes every record to a scratch directory,
# and what it wrote is counted afterwards: a record that did not land shows as a loss.
# usage: bench/call.sh [--build DIR] [--reps N] [--cxx] [ARGS for shmlog-bench-call...]
#   --build DIR  a configured build (default: <repo>/build-bench, release, made if missing)
#   --reps N     runs, one after the other (default 1); the table of each, then the median of each figure
#   --cxx        the calls built as C++ (shmlog-bench-call-cxx), with the {} format cases args3{}, str45{} and
#                stdstr45{} (the 45 bytes as a const std::string&) and vec8d{} (a std::vector<double> of 8)
# e.g. bench/call.sh --reps 3 --samples 10000
#      bench/call.sh --cxx --reps 3 --cases 'args3,args3{},str45,str45{}'
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/common.sh
. "$repo/bench/common.sh"
build="" reps=1 program=shmlog-bench-call cxx_flag=""
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --cxx) program=shmlog-bench-call-cxx cxx_flag=" --cxx"; shift ;;
    *) break ;;
    esac
done
[ -n "$build" ] || release_build "$repo"
build_programs "$build"
if ! log=$(ninja -C "$build" "bench/$program" 2>&1); then
    printf '%s\n' "$log" >&2
    exit 1
fi
call=$build/bench/$program

work=$(mktemp -d /tmp/shmlog-bench-call.XXXXXX)
remove_at_exit "$work"
seg=$(mktemp -d "$(segments_parent)/bench-call.XXXXXX")

echo "# $(uname -sr), $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')," \
    "load $(cut -d' ' -f1-3 /proc/loadavg), segments in ${seg%/*}"
echo "# + bench/call.sh --reps $reps${cxx_flag} $*   ($(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?'))"
for rep in $(seq 1 "$reps"); do
    out=$work/out-$rep
    "$collector" --dir "$seg" --out "$out" --cpu 1 --poll busy >"$work/collector-$rep.log" 2>&1 &
    col=$!
    "$call" --dir "$seg" --cpu 0 --csv "$work/run-$rep.csv" "$@" | tee "$work/run-$rep.txt"
    kill -TERM "$col"
    wait "$col" || { echo "call.sh: the collector exited with $?:" >&2; cat "$work/collector-$rep.log" >&2; exit 1; }
    col=""
    written=$(awk '/^# records written/ {sub(",", "", $4); print $4}' "$work/run-$rep.txt")
    stats=$("$dump" stats "$out" --format json)
    landed=$(python3 -c 'import json, sys; s = json.loads(sys.argv[1]); print(s["records"], s["losses"]["total"])' \
        "$stats" 2>/dev/null || echo "? ?")
    echo "# run $rep: $written records written, in the files: $landed (records, lost)"
done
if [ "$reps" -gt 1 ]; then
    echo "# median of $reps runs, ns per call:"
    python3 - "$work"/run-*.csv <<'PY'
import csv, statistics, sys
rows = {}
for f in sys.argv[1:]:
    for r in csv.DictReader(open(f)):
        rows.setdefault((r["case"], r["way"]), []).append(r)
cols = ["p50_ns", "p75_ns", "p90_ns", "p99_ns", "p999_ns", "p9999_ns", "max_ns"]
print("%-10s %-8s %s" % ("case", "way", " ".join("%8s" % c[:-3] for c in cols)))
for (case, way), rs in rows.items():
    print("%-10s %-8s %s" % (case, way, " ".join("%8.1f" % statistics.median(float(r[c]) for r in rs) for c in cols)))
PY
fi
