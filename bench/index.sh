#!/usr/bin/env bash
# What the index in the files (FORMAT.md, "Index") costs the collector and what
# it rules out, on shmlog-sample's trading mix: the collector's cpu-seconds
# (/proc/PID/stat) for RECORDS paced at RATE per second, run by run beside an
# earlier tree's collector (--before TREE: its build/), the bytes per record,
# and for the last file each tree wrote, the index's size and how many frames
# a few questions leave to read (shmlog-bench-index, which reads every index
# version). A low RATE gives a slow host's small frames, sealed by age.
#   bench/index.sh [RECORDS] [RATE] [--before TREE] [--runs N]   (default 8000000 800000, 3 runs)
# Cpu time, not wall time: on a shared machine a run's wall time is the neighbours'.
set -euo pipefail
cd "$(dirname "$0")/.."
records=8000000 rate=800000 before= runs=3 pos=0
while [ $# -gt 0 ]; do
    case $1 in
    --before) before=$(cd "$2" && pwd); shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) if [ $pos = 0 ]; then records=$1; else rate=$1; fi; pos=$((pos + 1)); shift ;;
    esac
done
build=${SHMLOG_BUILD:-build}
ninja -C "$build" collector/shmlog-collector examples/shmlog-sample dump/shmlog-dump bench/shmlog-bench-index >/dev/null
work=$(mktemp -d /tmp/shmlog-bench-index.XXXXXX)
trap 'rm -rf "$work" /dev/shm/shmlog-bench-index-$$' EXIT
echo "command: bench/index.sh $records $rate${before:+ --before $before} --runs $runs  ($(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg))"

# run TREE_BUILD: one collector run, its cpu-seconds and bytes per record
run() {
    local b=$1 seg=/dev/shm/shmlog-bench-index-$$
    local out=$work/out-$2
    rm -rf "$seg" "$out"
    mkdir -m 700 "$seg"
    "$b/collector/shmlog-collector" --dir "$seg" --out "$out" --cpu 1 2>/dev/null &
    local col=$!
    sleep 0.3
    SHMLOG_DIR=$seg taskset -c 0 "$b/examples/shmlog-sample" --app index-bench --count "$records" --threads 1 \
        --rate "$rate" --mix trading 2>/dev/null
    sleep 1.5
    local st
    read -r -a st <"/proc/$col/stat"
    kill -TERM "$col"
    wait "$col" || true
    local n bytes
    n=$("$build/dump/shmlog-dump" stats "$out" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])')
    bytes=$(du -sb "$out" | cut -f1)
    python3 -c "import sys; t=int(sys.argv[1])+int(sys.argv[2]); hz=int(sys.argv[3]); n=int(sys.argv[4]); b=int(sys.argv[5]);
print(f'{sys.argv[6]:>7}: collector {t/hz:.2f} cpu-s for {n} records ({n/(t/hz)/1e6:.2f} M records per cpu-second), {b/n:.3f} bytes per record')" \
        "${st[13]}" "${st[14]}" "$(getconf CLK_TCK)" "$n" "$bytes" "$2"
}
for ((i = 1; i <= runs; i++)); do
    [ -n "$before" ] && run "$before/build" before
    run "$build" index
done
# Questions: an order id of the file (its middle ack's), one past every id, symbols and words
# that are and are not there, levels.
for f in ${before:+"$work"/out-before/*.shlog} "$work"/out-index/*.shlog; do
    echo "${f#"$work"/}:"
    id=$("$build/dump/shmlog-dump" read "$f" | grep -o 'ack id=[0-9]*' | awk '{a[NR] = $0} END {print a[int((NR + 1) / 2)]}' |
        cut -d= -f2)
    "$build/bench/shmlog-bench-index" "$f" "id=${id:-0}" id=99999999999 sym=EURUSD sym=IBM venue=XNAS throttle zebra \
        LEVEL:4 LEVEL:0 "@index-bench"
done
