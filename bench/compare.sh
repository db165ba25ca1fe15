#!/bin/bash
# compare.sh - shmlog side by side with LTTng-UST and spdlog on this machine.
#
# usage: bench/compare.sh [--reps N] [--quick] [--workloads LIST] [--overload-rate R]
#   --reps N           repetitions (default 3; with --quick, 1)
#   --quick            a tenth of the calls, three rate targets, 1 s of overload:
#                      a check that it all works
#   --workloads LIST   comma-separated (default all: every one below)
#     args3            one producer on cpu 0 logs 3 fields (u64 id, double px,
#                      int qty): latency, burst throughput, bytes on disk per
#                      record, and the highest zero-loss paced rate
#     args3_str40      the same call with a 40-character string: latency, burst,
#                      bytes on disk
#     threads2         2 producer threads of one process, pinned to cpu 0 and cpu 1,
#                      each half of the calls: latency per thread, aggregate burst
#                      throughput and losses. The consumer then shares cpu 1 with a
#                      producer: the benchmark machine has 2 cores.
#     procs4           4 producer processes at once, all on cpu 0 (the consumer
#                      keeps cpu 1), each a quarter of the calls: latency
#                      percentiles merged over the processes, aggregate throughput
#                      (all calls over the span from the first start to the last
#                      end), losses on disk
#     overload         args3 paced above what the consumer drains, for 2 s: calls
#                      sent, records landed on disk, drops as the system reports
#                      them and as counted (sent - landed), the rate the producer
#                      achieved (spdlog block waits instead of dropping) and the
#                      latency of one call in 20 while full
#   --peers LIST       comma-separated peers to run (default every one built:
#                      shmlog, lttng, spdlog-block, spdlog-overrun)
#   --overload-rate R  the offered rate of overload: a count for every peer
#                      (default 60M: as fast as the producer goes, up to 60 M/s;
#                      LTTng's and spdlog's producers cannot outpace their
#                      consumers at a lower paced rate), or auto:
#                      1.5 x the peer's zero-loss rate found by the args3 rate
#                      search (run for it when args3 is not selected), the
#                      lowest target if none was loss-free
#
# Every peer writes to disk for real: shmlog through shmlog-collector, LTTng
# through its session daemons, spdlog through its async worker and a file sink;
# consumers are pinned to cpu 1. What reached the disk is counted afterwards
# (shmlog-dump stats, babeltrace2, wc -l), so loss is sent - counted whatever
# the peer says about itself; what the peer says is reported next to it
# (shmlog: loss records in its files; LTTng: the channel's discarded events;
# spdlog: its overrun counter).
#
# Per repetition, workload and peer: latency (2 M timed calls in paced batches
# of 20 after 200 k warm-up, shared among the producers), throughput (10 M
# calls back to back, shared the same way), bytes on disk per record. Once per
# repetition and peer: the highest paced rate delivered without loss (1, 2, 5,
# 10, 20, 30, 35, 40, 45, 50 M/s targets, 1 s each, stopping at the first loss
# or once the producer cannot reach the target; the highest rate achieved
# counts). Medians over the
# repetitions, with min and max; tables on stdout, compare.csv and latency.png
# (args3) in bench/results.
#
# Installs the peers with apt-get when missing, and runs scripts/setup.sh for
# shmlog's hugepages (its rings go on the hugetlbfs mount, as deployed; in
# /dev/shm on 4 KiB pages only without one). BUILD_DIR overrides the build
# directory (default <repo>/build-peers), RESULTS_DIR the results directory.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build-peers}
results=${RESULTS_DIR:-$repo/bench/results}
all_workloads="args3 args3_str40 threads2 procs4 overload"
reps=""
quick=0
workloads=$all_workloads
overload_rate=60M
only_peers=""
while [ $# -gt 0 ]; do
    case $1 in
    --reps) reps=${2-}; shift 2 || shift ;;
    --quick) quick=1; shift ;;
    --workloads) workloads=${2-}; shift 2 || shift ;;
    --overload-rate) overload_rate=${2-}; shift 2 || shift ;;
    --peers) only_peers=${2-}; shift 2 || shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
[ -z "$reps" ] && { [ $quick = 1 ] && reps=1 || reps=3; }
case $reps in ''|*[!0-9]*|0) echo "compare.sh: --reps needs a positive number" >&2; exit 2 ;; esac
workloads=${workloads//,/ }
[ "$workloads" = all ] && workloads=$all_workloads
[ -n "${workloads// /}" ] || { echo "compare.sh: --workloads needs at least one of: $all_workloads" >&2; exit 2; }
for w in $workloads; do
    [[ " $all_workloads " == *" $w "* ]] || { echo "compare.sh: --workloads: no such workload: $w (one of: $all_workloads)" >&2; exit 2; }
done
selected() { [[ " $workloads " == *" $1 "* ]]; }

. "$repo/bench/common.sh"
if [ "$overload_rate" != auto ] && ! count_value "$overload_rate" >/dev/null; then
    echo "compare.sh: --overload-rate: auto or a count such as 40M: $overload_rate" >&2
    exit 2
fi

# Totals; a workload of several producers gives each its share.
calls=2000000 warmup=200000 burst=10000000 rates="1M 2M 5M 10M 20M 30M 35M 40M 45M 50M" overload_s=2
if [ $quick = 1 ]; then
    calls=200000 warmup=20000 burst=1000000 rates="1M 5M 20M" overload_s=1
fi
producer_cpu=0
consumer_cpu=1
thread_cpus="0,1"
procs_cpus="0 0 0 0"

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

# shmlog runs as it is deployed: its rings on 2 MiB hugepages, from the
# hugetlbfs mount that scripts/setup.sh reserves pages for; on 4 KiB pages in
# /dev/shm only where there is none, and the header says so.
seg_parent=$("$repo/scripts/setup.sh" --print-seg-parent)
seg_pages="2 MiB hugepages (hugetlbfs at $seg_parent)"
[ "$seg_parent" != /dev/shm ] || seg_pages="4 KiB pages (/dev/shm: no writable hugetlbfs mount)"

if [ -f "$build/build.ninja" ]; then
    meson configure "$build" -Dbuildtype=release -Db_ndebug=true >/dev/null
else
    meson setup "$build" "$repo" -Dbuildtype=release -Db_ndebug=true >/dev/null
fi
build_programs "$build"
peers=$("$bench" --help | sed -n 's/.*all built: \(.*\))$/\1/p')
if [ -n "$only_peers" ]; then
    for p in ${only_peers//,/ }; do
        [[ " $peers " == *" $p "* ]] || { echo "compare.sh: --peers: $p is not built here (built: $peers)" >&2; exit 2; }
    done
    peers=${only_peers//,/ }
fi

# ==== Clean-up on every way out ====
# Producers still running, the collector, our LTTng session, the segment
# directory and the scratch directory go whether the run ends, fails or is
# interrupted.

work=$(mktemp -d /tmp/shmlog-compare-XXXXXX)
session=shmlog-compare-$$
session_live=0
segdir=""
collector_pid=""
producer_pids=()
cleanup() {
    set +e
    local pid
    for pid in "${producer_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${producer_pids[@]}"; do wait "$pid" 2>/dev/null; done
    if [ -n "$collector_pid" ]; then
        kill -TERM "$collector_pid" 2>/dev/null
        wait "$collector_pid" 2>/dev/null
    fi
    [ $session_live = 1 ] && lttng destroy "$session" >/dev/null 2>&1
    [ -n "$segdir" ] && rm -rf "$segdir"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

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

# consumer_start PEER OUT: the peer's consumer, writing under OUT.
consumer_start() {
    local peer=$1 out=$2
    case $peer in
    shmlog)
        segdir=$(mktemp -d "$seg_parent/shmlog-compare-XXXXXX")
        "$collector" --dir "$segdir" --out "$out" --cpu $consumer_cpu --poll busy >"$out.collector" 2>&1 &
        collector_pid=$!
        sleep 0.3
        ;;
    lttng)
        lttng create "$session" --output "$out/trace" >/dev/null
        session_live=1
        lttng enable-channel -u -s "$session" --discard --subbuf-size 1M --num-subbuf 8 ch >/dev/null
        lttng enable-event -u -s "$session" -c ch 'bench:order,bench:order_note' >/dev/null
        lttng start "$session" >/dev/null
        pin_lttng_daemons
        ;;
    esac
}

# consumer_stop PEER OUT: stops the consumer; sets counted, the records found
# on disk under OUT, and reported, the losses the peer reports through its own
# tools ("-" when it has none outside the process). Not in a subshell: it
# clears the state the clean-up reads.
consumer_stop() {
    local peer=$1 out=$2
    case $peer in
    shmlog)
        kill -TERM "$collector_pid"
        wait "$collector_pid" || echo "# shmlog-collector exited with $?: $(tail -3 "$out.collector")" >&2
        collector_pid=""
        rm -rf "$segdir"; segdir=""
        read -r counted reported < <("$dump" stats "$out" --format json |
            python3 -c 'import json,sys; s = json.load(sys.stdin); print(s["records"], s["losses"]["total"])')
        ;;
    lttng)
        lttng stop "$session" >/dev/null 2>&1
        # A channel whose count lttng cannot read shows 2^64 - 1 (or near it):
        # that makes the own count unknown, not a loss of 18 quintillion.
        reported=$(lttng list "$session" |
            awk '/Discarded events:/ {if ($3 + 0 >= 1e18) bad = 1; else n += $3} END {print bad ? "-" : n + 0}')
        lttng destroy "$session" >/dev/null
        session_live=0
        counted=$(babeltrace2 "$out/trace" -c sink.utils.counter 2>/dev/null | awk '/Event messages/ {n = $1} END {print n + 0}')
        ;;
    spdlog-*)
        counted=$(cat "$out"/p*/spdlog-*.log | wc -l)
        reported=-
        ;;
    esac
}

# open_gate GATE N: once the N producers of a run are set up, lets them
# start together. One that died before the gate ends the wait.
open_gate() {
    local gate=$1 n=$2 tries=0 pid ready
    while :; do
        ready=$(find "$gate" -maxdepth 1 -name 'ready.*' | wc -l)
        [ "$ready" -ge "$n" ] && break
        for pid in "${producer_pids[@]}"; do
            kill -0 "$pid" 2>/dev/null || { touch "$gate/go"; return; }
        done
        tries=$((tries + 1))
        if [ $tries -gt 1200 ]; then
            echo "# only $ready of $n producers ready after 60 s; starting them anyway" >&2
            break
        fi
        sleep 0.05
    done
    touch "$gate/go"
}

# run_peer PEER TAG "CPU..." ARGS...: one producer process per CPU runs with
# ARGS (several start together and write their timed calls to
# $work/TAG.pK.samples), the peer's consumer started before and stopped after.
# Leaves per process $work/TAG.pK.csv, and in $work/TAG.disk
# "counted bytes reported".
run_peer() {
    local peer=$1 tag=$2 cpus=$3; shift 3
    local out=$work/out-$tag nproc k=0 cpu pid failed=0 counted reported bytes gate=""
    nproc=$(wc -w <<<"$cpus")
    rm -rf "$out"; mkdir -p "$out"
    consumer_start "$peer" "$out"
    if [ "$nproc" -gt 1 ]; then
        gate=$work/gate-$tag
        mkdir "$gate"
    fi
    for cpu in $cpus; do
        local args=(--backend "$peer" --cpu "$cpu" --drain-cpu $consumer_cpu --csv "$work/$tag.p$k.csv")
        [ -n "$gate" ] && args+=(--start-gate "$gate" --samples "$work/$tag.p$k.samples")
        case $peer in
        shmlog) args+=(--dir "$segdir" --collector) ;;
        spdlog-*) mkdir -p "$out/p$k"; args+=(--out "$out/p$k") ;;
        esac
        "$bench" "${args[@]}" "$@" >"$work/$tag.p$k.txt" 2>"$work/$tag.p$k.err" &
        producer_pids+=($!)
        k=$((k + 1))
    done
    [ -n "$gate" ] && open_gate "$gate" "$nproc"
    for pid in "${producer_pids[@]}"; do
        wait "$pid" || failed=1
    done
    producer_pids=()
    consumer_stop "$peer" "$out"
    bytes=$(du -sb "$out" | cut -f1)
    echo "$counted $bytes $reported" >"$work/$tag.disk"
    rm -rf "$out" "$out.collector"
    for k in $(seq 0 $((nproc - 1))); do
        [ -s "$work/$tag.p$k.err" ] && sed "s/^/# $tag p$k: /" "$work/$tag.p$k.err" >&2
        rm -f "$work/$tag.p$k.err"
    done
    if [ $failed = 1 ]; then
        echo "compare.sh: a producer of $tag failed; its output:" >&2
        cat "$work/$tag".p*.txt >&2
        exit 1
    fi
}

# csv_field FILE KIND FIELD: FIELD of the row of a backend's producers together.
csv_field() {
    awk -F, -v kind="$2" -v field="$3" '
        NR == 1 {for (i = 1; i <= NF; i++) col[$i] = i; next}
        $3 == kind && $1 != "none" && $col["producer"] == "all" {print $col[field]}' "$1"
}

# zero_loss_search PEER REP: the paced rate targets, 1 s of calls each, up to
# the first loss or the first target the producer cannot keep; writes
# $work/rate.PEER.REP.best, "TARGET ACHIEVED-CALLS/S" of the highest rate
# achieved without loss (nothing when there is none), the one verdict the
# overload rate and the report both read. A producer behind its target can
# achieve less at a higher one.
zero_loss_search() {
    local peer=$1 rep=$2 rate tag counted sent achieved best=0
    rm -f "$work/rate.$peer.$rep.best"
    for rate in $rates; do
        tag=rate.$peer.$rep.$rate
        run_peer "$peer" "$tag" "$producer_cpu" --workload args3 --phase throughput --calls 1k --warmup 0 \
            --burst "$rate" --rate "$rate"
        read -r counted _ <"$work/$tag.disk"
        sent=$(csv_field "$work/$tag.p0.csv" throughput calls)
        achieved=$(csv_field "$work/$tag.p0.csv" throughput calls_per_s)
        echo "# rate $peer rep $rep $rate: sent $sent, counted $counted, achieved $achieved/s" >&2
        [ "$counted" -lt "$sent" ] && break
        if awk -v a="$achieved" -v b="$best" 'BEGIN {exit !(a > b)}'; then
            echo "$rate $achieved" >"$work/rate.$peer.$rep.best"
            best=$achieved
        fi
        # A producer that cannot keep the pace says nothing more at a higher target.
        awk -v a="$achieved" -v s="$sent" 'BEGIN {exit !(a < 0.9 * s)}' && break
    done
    return 0
}

# run_workload W PEER REP: the latency and the throughput run of W.
run_workload() {
    local w=$1 peer=$2 rep=$3 cpus=$producer_cpu n=1 extra=() workload=$1
    case $w in
    threads2) n=$(tr ',' ' ' <<<"$thread_cpus" | wc -w); extra=(--cpus "$thread_cpus"); workload=args3 ;;
    procs4) cpus=$procs_cpus; n=$(wc -w <<<"$cpus"); workload=args3 ;;
    esac
    run_peer "$peer" "$w.lat.$peer.$rep" "$cpus" "${extra[@]}" --workload $workload --phase latency \
        --calls $((calls / n)) --warmup $((warmup / n))
    run_peer "$peer" "$w.tput.$peer.$rep" "$cpus" "${extra[@]}" --workload $workload --phase throughput \
        --calls 1k --warmup 0 --burst $((burst / n))
}

# ==== The runs ====

host="$(uname -sr), $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "# $host; load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# peers: $peers; workloads: $workloads; reps $reps"
echo "# producer on cpu $producer_cpu, consumers on cpu $consumer_cpu; shmlog's rings on $seg_pages"
selected threads2 && echo "# threads2: producer threads on cpus $thread_cpus; each consumer shares cpu $consumer_cpu with one of them (2-core VM: no core of its own)"
selected procs4 && echo "# procs4: $(wc -w <<<"$procs_cpus") producer processes on cpus ${procs_cpus// /,} (time-shared); consumers keep cpu $consumer_cpu"
start=$(date +%s)
for rep in $(seq 1 "$reps"); do
    for w in $workloads; do
        [ $w = overload ] && continue
        for peer in $peers; do
            run_workload "$w" "$peer" "$rep"
        done
        echo "# rep $rep $w done ($(( $(date +%s) - start )) s; load $(cut -d' ' -f1 /proc/loadavg))" >&2
    done
done
# One search per repetition: one second at a rate is a sample of a machine
# whose speed drifts from minute to minute. Peers take turns within a rep.
if selected args3 || { selected overload && [ "$overload_rate" = auto ]; }; then
    for rep in $(seq 1 "$reps"); do
        for peer in $peers; do
            zero_loss_search "$peer" "$rep"
        done
    done
fi
if selected overload; then
    for peer in $peers; do
        if [ "$overload_rate" != auto ]; then
            offered=$(count_value "$overload_rate"); how="fixed: --overload-rate $overload_rate"
        elif best=$(cat "$work/rate.$peer".*.best 2>/dev/null | sort -k2 -g | tail -n 1) && [ -n "$best" ]; then
            read -r target achieved <<<"$best"
            offered=$(awk -v a="$achieved" 'BEGIN {printf "%.0f", 1.5 * a}')
            how="1.5 x the best zero-loss rate of the reps, $achieved/s (target $target)"
        else
            first=${rates%% *}
            offered=$(count_value "$first"); how="the lowest target, $first, already lost"
        fi
        echo "$offered $how" >"$work/overload.$peer.offered"
        echo "# overload $peer: offered $offered/s for $overload_s s ($how)" >&2
        for rep in $(seq 1 "$reps"); do
            run_peer "$peer" "overload.$peer.$rep" "$producer_cpu" --workload args3 --phase overload \
                --rate "$offered" --burst $((offered * overload_s)) --duration-ms $((overload_s * 1000)) \
                --calls 1k --warmup 0
        done
    done
fi
echo "# runs took $(( $(date +%s) - start )) s; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

# ==== Report ====

mkdir -p "$results"
python3 "$repo/bench/compare_report.py" --work "$work" --results "$results" --reps "$reps" \
    --calls "$calls" --warmup "$warmup" --burst "$burst" --rates "$rates" --workloads "$workloads" \
    --overload-seconds "$overload_s" --thread-cpus "$thread_cpus" --procs-cpus "$procs_cpus" \
    --consumer-cpu "$consumer_cpu" --peers "$peers"
written="$results/compare.csv"
if [ -f "$results/latency.dat" ]; then
    if command -v gnuplot >/dev/null; then
        gnuplot -e "results='$results'" "$repo/bench/latency.gp" 2>&1 | grep -v '^$' >&2 || true
        written="$written and $results/latency.png"
    fi
    rm -f "$results/latency.dat"
fi
echo "# wrote $written"
