#!/usr/bin/env bash
# What one trace costs a reader (read --trace ID) with the trace ids in the
# index (FORMAT.md, "Trace ids in the index", version 5) and without: the
# sample's order path (md | strategy | gateway, a trace per order) under one
# collector, then for a few orders' traces the frames read (stats), and the
# best wall and cpu time of three runs of read --trace with the index, with
# SHMLOG_NO_INDEX=1 (every frame decoded, what --trace did before), and with
# an earlier tree's shmlog-dump on the same files (--before TREE: its build/).
#   bench/trace.sh [ORDERS] [RATE] [--before TREE]   (default 100000 orders at 20000 a second)
set -euo pipefail
cd "$(dirname "$0")/.."
orders=100000 rate=20000 before= pos=0
while [ $# -gt 0 ]; do
    case $1 in
    --before) before=$(cd "$2" && pwd); shift 2 ;;
    *) if [ $pos = 0 ]; then orders=$1; else rate=$1; fi; pos=$((pos + 1)); shift ;;
    esac
done
build=${SHMLOG_BUILD:-build}
ninja -C "$build" collector/shmlog-collector examples/shmlog-sample dump/shmlog-dump >/dev/null
work=$(mktemp -d /tmp/shmlog-bench-trace.XXXXXX)
seg=/dev/shm/shmlog-bench-trace-$$
trap 'rm -rf "$work" "$seg"' EXIT
echo "command: bench/trace.sh $orders $rate${before:+ --before $before}  ($(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg))"
mkdir -m 700 "$seg"
"$build/collector/shmlog-collector" --dir "$seg" --out "$work/out" 2>/dev/null &
col=$!
sleep 0.3
export SHMLOG_DIR=$seg
"$build/examples/shmlog-sample" --app md --stage md --count "$orders" --rate "$rate" 2>/dev/null | tee "$work/parents" |
    "$build/examples/shmlog-sample" --app strategy --stage strategy 2>/dev/null |
    "$build/examples/shmlog-sample" --app gateway --stage gateway 2>/dev/null
sleep 1
kill -TERM "$col"
wait "$col" || true
dump=$build/dump/shmlog-dump
python3 -c 'import json,sys; s=json.load(sys.stdin); print("files: %d records in %d frames, %d bytes" % (s["records"], s["frames"], s["bytes"]))' \
    < <("$dump" stats --format json "$work/out")
# best of three: wall and cpu seconds of one read --trace, and its lines
best() {
    python3 - "$@" <<'PY'
import os, resource, subprocess, sys, time
walls, cpus = [], []
for _ in range(3):
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(sys.argv[1:], check=True, capture_output=True).stdout
    walls.append(time.perf_counter() - t0)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpus.append(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime)
print("%.3f s wall, %.3f cpu-s, %d lines" % (min(walls), min(cpus), out.count(b"\n")))
PY
}
n=$(wc -l <"$work/parents")
for k in 1 $((n / 2)) "$n"; do
    id=$(sed -n "${k}p" "$work/parents" | cut -d- -f2)
    echo "order $k's trace $id:"
    "$dump" stats --format json --trace "$id" "$work/out" | python3 -c 'import json,sys; s=json.load(sys.stdin); print("  frames: %d, ruled out by the index %d (unread %d), decoded %d" % (s["frames"], s["index_skipped_frames"], s["index_unread_frames"], s["frames"] - s["index_unread_frames"]))'
    echo "  read --trace, index:             $(best "$dump" read --trace "$id" "$work/out")"
    echo "  read --trace, SHMLOG_NO_INDEX=1: $(SHMLOG_NO_INDEX=1 best "$dump" read --trace "$id" "$work/out")"
    [ -n "$before" ] && echo "  read --trace, before's dump:     $(best "$before/build/dump/shmlog-dump" read --trace "$id" "$work/out")"
done
