#!/usr/bin/env bash
# What stops of the collector cost: a producer paced at --rate on cpu 0 logs
# --records args3 calls while shmlog-collector drains them on cpu 1, and the
# collector is stopped (SIGSTOP ... SIGCONT) --stops times for --stop-ms each,
# 80 ms apart, from 250 ms into the run. A record a stop costs is dropped and
# counted by its ring: "lost" is that count, read from the files.
#
# A VM stops its guest now and then for milliseconds (bench/compare.sh's
# zero-loss searches lose records to such stops); this makes stops of a known
# length on demand, so what a change does to them can be measured apart from
# the machine's own. The stopper shares cpu 1 with the collector but sleeps
# except while the collector is stopped; it starts well before the producer
# and exits well after it, since an interpreter starting or exiting on cpu 1
# takes milliseconds from the collector.
#   bench/stops.sh [--rate R] [--records N] [--stop-ms MS] [--stops K] [--reps N] [--collector-args "..."]
#   defaults: 35M records/s, 35M records, 3 ms, 8 stops, 3 repetitions, no extra collector flags
#   (--collector-args "--rotate-size 8M" adds rotations: what each file's close and fsync costs the drain)
#   SHMLOG_BUILD: the build directory (default build)
set -euo pipefail
cd "$(dirname "$0")/.."

rate=35M records=35M stop_ms=3 stops=8 reps=3 collector_args=
while [ $# -gt 0 ]; do
    case "$1" in
    --rate) rate=${2:?--rate needs a value}; shift 2 ;;
    --records) records=${2:?--records needs a value}; shift 2 ;;
    --stop-ms) stop_ms=${2:?--stop-ms needs a value}; shift 2 ;;
    --stops) stops=${2:?--stops needs a value}; shift 2 ;;
    --reps) reps=${2:?--reps needs a value}; shift 2 ;;
    --collector-args) [ $# -ge 2 ] || { echo "stops.sh: --collector-args needs a value" >&2; exit 2; }
        collector_args=$2; shift 2 ;;
    *) echo "stops.sh: unknown argument: $1 (see the comment at the top)" >&2; exit 2 ;;
    esac
done
for n in "$stops" "$reps"; do
    case "$n" in '' | *[!0-9]*) echo "stops.sh: --stops and --reps take a whole number: $n" >&2; exit 2 ;; esac
done
awk -v m="$stop_ms" 'BEGIN {exit !(m + 0 > 0 && m + 0 <= 1000)}' ||
    { echo "stops.sh: --stop-ms takes milliseconds, more than 0 and at most 1000: $stop_ms" >&2; exit 2; }

read -r -a extra_collector_args <<<"$collector_args"

build=${SHMLOG_BUILD:-build}
[ -d "$build" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" >/dev/null
seg_parent=$(scripts/setup.sh --print-seg-parent)
work=$(mktemp -d /tmp/shmlog-bench-stops.XXXXXX)
seg=$seg_parent/shmlog-bench-stops-$$
col= stopper=
trap 'for p in $col $stopper; do kill "$p" 2>/dev/null || true; done; rm -rf "$work" "$seg"' EXIT

cat >"$work/stopper.py" <<'PY'
import os, signal, sys, time
pid, start, ms, count, tail = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
time.sleep(start)
took = []
for _ in range(count):
    t0 = time.perf_counter()
    os.kill(pid, signal.SIGSTOP)
    while time.perf_counter() - t0 < ms / 1e3:
        pass
    os.kill(pid, signal.SIGCONT)
    took.append((time.perf_counter() - t0) * 1e3)
    time.sleep(0.08)
time.sleep(tail)
print(" ".join("%.2f" % t for t in took))
PY

echo "command: bench/stops.sh --rate $rate --records $records --stop-ms $stop_ms --stops $stops --reps $reps${collector_args:+ --collector-args \"$collector_args\"}" \
    "(rings in $seg_parent; load $(cut -d' ' -f1-3 /proc/loadavg))"
for rep in $(seq "$reps"); do
    rm -rf "$seg" "$work/out"
    mkdir -m 700 "$seg"
    "$build/collector/shmlog-collector" --dir "$seg" --out "$work/out" --cpu 1 --poll busy \
        ${extra_collector_args[@]+"${extra_collector_args[@]}"} 2>"$work/collector.log" &
    col=$!
    sleep 0.3
    taskset -c 1 python3 "$work/stopper.py" "$col" 0.75 "$stop_ms" "$stops" 2 >"$work/stops" &
    stopper=$!
    sleep 0.5 # the stopper's interpreter is up and asleep before the first call
    "$build/bench/shmlog-bench-producer" --cpu 0 --drain-cpu 1 --backend shmlog --dir "$seg" --collector \
        --workload args3 --phase throughput --burst "$records" --rate "$rate" --calls 1k --warmup 0 >"$work/producer"
    wait "$stopper"
    stopper=
    kill -TERM "$col"
    wait "$col" || { echo "stops.sh: the collector failed:" >&2; cat "$work/collector.log" >&2; exit 1; }
    col=
    "$build/dump/shmlog-dump" stats --format json "$work/out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
rep, stops = sys.argv[1], open(sys.argv[2]).read().split()
print("rep %s: landed %d, lost %d in %s files; stops of %s ms" % (rep, d["records"], d["losses"]["total"], sys.argv[3], ", ".join(stops) or "none"))
' "$rep" "$work/stops" "$(ls "$work/out" | grep -c '\.shlog$')"
done
