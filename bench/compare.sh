#!/bin/bash
# compare.sh - shmlog side by side with LTTng-UST and spdlog on this machine.
#
# usage: bench/compare.sh [--reps N] [--quick]
#   --reps N  repetitions (default 3; with --quick, 1)
#   --quick   a tenth of the calls and three rate targets: a check that it all works
#
# Every peer logs the same three fields (u64 id, double px, int qty) from a
# producer pinned to cpu 0, with its consumer pinned to cpu 1, and writes to
# disk for real: shmlog through shmlog-collector, LTTng through its session
# daemons, spdlog through its async worker and a file sink. What reached the
# disk is counted afterwards (shmlog-dump stats, babeltrace2, wc -l), so loss
# is sent - counted whatever the peer says about itself.
#
# Per repetition and peer: latency (2 M timed calls in paced batches of 20
# after 200 k warm-up), throughput (10 M calls back to back), bytes on disk per
# record. Once per peer: the highest paced rate delivered without loss
# (1, 2, 5, 10, 20, 40 M/s targets, 1 s each, stopping at the first loss or
# once the producer cannot reach the target). Medians over the repetitions,
# with min and max; one table on stdout, bench/results/compare.csv and
# bench/results/latency.png.
#
# Installs the peers with apt-get when missing. BUILD_DIR overrides the build
# directory (default <repo>/build-peers).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build-peers}
results=$repo/bench/results
reps=""
quick=0
while [ $# -gt 0 ]; do
    case $1 in
    --reps) reps=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
[ -z "$reps" ] && { [ $quick = 1 ] && reps=1 || reps=3; }
case $reps in ''|*[!0-9]*|0) echo "compare.sh: --reps needs a positive number" >&2; exit 2 ;; esac

calls=2M warmup=200k burst=10M rates="1M 2M 5M 10M 20M 40M"
if [ $quick = 1 ]; then
    calls=200k warmup=20k burst=1M rates="1M 5M 20M"
fi
producer_cpu=0
consumer_cpu=1

# ==== Peers and build ====

peers_pkgs="liblttng-ust-dev lttng-tools babeltrace2 libspdlog-dev gnuplot-nox"
missing=""
for p in $peers_pkgs; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "# installing:$missing" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y $missing >&2
fi

if [ -f "$build/build.ninja" ]; then
    meson configure "$build" -Dbuildtype=release -Db_ndebug=true >/dev/null
else
    meson setup "$build" "$repo" -Dbuildtype=release -Db_ndebug=true >/dev/null
fi
if ! log=$(ninja -C "$build" bench/shmlog-bench-producer collector/shmlog-collector tools/shmlog-dump 2>&1); then
    printf '%s\n' "$log" >&2
    exit 1
fi
bench=$build/bench/shmlog-bench-producer
collector=$build/collector/shmlog-collector
dump=$build/tools/shmlog-dump
peers=$("$bench" --help | sed -n 's/.*all built: \(.*\))$/\1/p')

work=$(mktemp -d /tmp/shmlog-compare-XXXXXX)
segdir=""
collector_pid=""
cleanup() {
    [ -n "$collector_pid" ] && kill -TERM "$collector_pid" 2>/dev/null && wait "$collector_pid" 2>/dev/null
    lttng destroy shmlog-compare >/dev/null 2>&1 || true
    [ -n "$segdir" ] && rm -rf "$segdir"
    rm -rf "$work"
}
trap cleanup EXIT

# ==== LTTng session daemon, on the consumer cpu ====

pin_lttng_daemons() {
    local pid
    for pid in $(pgrep -x lttng-sessiond) $(pgrep -x lttng-consumerd); do
        taskset -a -c -p $consumer_cpu "$pid" >/dev/null
    done
}
if [[ " $peers " == *" lttng "* ]] && ! pgrep -x lttng-sessiond >/dev/null; then
    # Its consumer daemons are its children and inherit the affinity.
    taskset -c $consumer_cpu lttng-sessiond --daemonize
fi

# ==== One run of one peer ====
# run_peer PEER TAG ARGS...: runs the producer for PEER with ARGS, its
# consumer started before and stopped after; leaves in $work/TAG.csv the
# harness's CSV and in $work/TAG.disk "counted bytes".

count_lines() { wc -l < "$1"; }

run_peer() {
    local peer=$1 tag=$2; shift 2
    local out=$work/out-$tag counted bytes
    rm -rf "$out"; mkdir -p "$out"
    local common=(--cpu $producer_cpu --drain-cpu $consumer_cpu --workload args3 --csv "$work/$tag.csv")
    case $peer in
    shmlog)
        segdir=$(mktemp -d /dev/shm/shmlog-compare-XXXXXX)
        "$collector" --dir "$segdir" --out "$out" --cpu $consumer_cpu --poll busy >"$work/$tag.collector" 2>&1 &
        collector_pid=$!
        sleep 0.3
        "$bench" "${common[@]}" --backend shmlog --dir "$segdir" --collector "$@" >"$work/$tag.txt"
        kill -TERM "$collector_pid"; wait "$collector_pid" || true
        collector_pid=""
        rm -rf "$segdir"; segdir=""
        counted=$("$dump" stats "$out" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])')
        ;;
    lttng)
        lttng create shmlog-compare --output "$out/trace" >/dev/null
        lttng enable-channel -u -s shmlog-compare --discard --subbuf-size 1M --num-subbuf 8 ch >/dev/null
        lttng enable-event -u -s shmlog-compare -c ch 'bench:order,bench:order_note' >/dev/null
        lttng start shmlog-compare >/dev/null
        pin_lttng_daemons
        "$bench" "${common[@]}" --backend lttng "$@" >"$work/$tag.txt"
        lttng stop shmlog-compare >/dev/null
        lttng destroy shmlog-compare >/dev/null
        counted=$(babeltrace2 "$out/trace" -c sink.utils.counter 2>/dev/null | awk '/Event messages/ {n = $1} END {print n + 0}')
        ;;
    spdlog-*)
        "$bench" "${common[@]}" --backend "$peer" --out "$out" "$@" >"$work/$tag.txt"
        counted=$(count_lines "$out/spdlog-${peer#spdlog-}.log")
        ;;
    esac
    bytes=$(du -sb "$out" | cut -f1)
    echo "$counted $bytes" >"$work/$tag.disk"
    rm -rf "$out"
}

# ==== The runs ====

host="$(uname -sr), $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "# $host; load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# peers: $peers; producer on cpu $producer_cpu, consumers on cpu $consumer_cpu; reps $reps"
start=$(date +%s)
for rep in $(seq 1 "$reps"); do
    for peer in $peers; do
        run_peer "$peer" "lat-$peer-$rep" --phase latency --calls $calls --warmup $warmup --burst 1
        run_peer "$peer" "tput-$peer-$rep" --phase throughput --calls 1k --warmup 0 --burst $burst
        echo "# rep $rep $peer done ($(( $(date +%s) - start )) s; load $(cut -d' ' -f1 /proc/loadavg))" >&2
    done
done
for peer in $peers; do
    for rate in $rates; do
        # rate-PEER-RATE: 1 s of calls at RATE per second
        run_peer "$peer" "rate-$peer-$rate" --phase throughput --calls 1k --warmup 0 --burst "$rate" --rate "$rate"
        read -r counted _ <"$work/rate-$peer-$rate.disk"
        achieved=$(awk -F, '$3 == "throughput" {print $21}' "$work/rate-$peer-$rate.csv")
        sent=$(awk -F, '$3 == "throughput" {print $4}' "$work/rate-$peer-$rate.csv")
        echo "# rate $peer $rate: sent $sent, counted $counted, achieved $achieved/s" >&2
        # Past the first loss, or once the producer cannot keep the pace, a
        # higher target says nothing more.
        if [ "$counted" -lt "$sent" ] || awk -v a="$achieved" -v s="$sent" 'BEGIN {exit !(a < 0.9 * s)}'; then
            break
        fi
    done
done
echo "# runs took $(( $(date +%s) - start )) s; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

# ==== Report ====

mkdir -p "$results"
python3 "$repo/bench/compare_report.py" "$work" "$results" "$reps" "$calls" "$warmup" "$burst" "$rates" $peers
if command -v gnuplot >/dev/null; then
    gnuplot -e "results='$results'" "$repo/bench/latency.gp" 2>&1 | grep -v '^$' >&2 || true
    rm -f "$results/latency.dat"
fi
echo "# wrote $results/compare.csv and $results/latency.png"
