#!/usr/bin/env bash
# tail.sh - the producer's per-call latency tail at paced rates, each next to the machine's floor, and
# the delay from a log call until `shmlog-dump follow` prints the record.
#
# usage: bench/tail.sh [--rates "10k 100k 1M 7M"] [--build DIR] [--collector-args "..."]
#                      [--out-dir DIR] [--calls-scale F]
#   --rates LIST           calls per second, k/M/G suffixes, spaces or commas (default "10k 100k 1M 7M")
#   --build DIR            the build directory (default <repo>/build-bench, set up release when missing):
#                          another commit's build is measured by the same script
#   --collector-args ARGS  extra shmlog-collector flags, split on spaces (default none)
#   --out-dir DIR          where the raw output and the table go (default bench/results/tail-<date>)
#   --calls-scale F        timed and warm-up calls times F (default 1; e.g. 0.1 for a check that it works)
#
# Per rate, shmlog-bench-producer --phase latency --workload args3 times every call in batches of 20
# with a spin pause between batches: pause = 20 / rate minus the batch's own time (20 x 75 ns, the bracket included). The
# calls per rate: rate x 10 s, at least 200k and at most 2M; 200k warm-up calls before them. Each run
# times the empty bracket, one rdtsc in the bracket (the floor of a call that stores a timestamp) and the
# shmlog call, each at that pace, so a run lasts about 3 x (calls + warm-up) / rate.
#   A, through the collector: shmlog-collector (--cpu 1, default flags otherwise) drains a fresh segment
#      directory on hugetlbfs into a fresh out directory; the producer runs on cpu 0 and, with
#      --probe-ms 10, logs an untimed WARN "bench probe seq=K" between batches every 10 ms.
#      `shmlog-dump follow --level WARN --format json` runs on cpu 1, and a filter stamps each line with
#      CLOCK_REALTIME on arrival: follow delay = arrival - the record's ts_ns (p50, p99, max; probes
#      seen / sent). The calls that reached the files are counted afterwards (shmlog-dump stats).
#   B, no consumer: the same run with --no-drain and a ring that holds every call (256Mi or more, a
#      power of two): what a call that writes memory costs with nobody reading it. Drops must be 0.
# Raw output (bench text, CSV, collector log, probe arrivals) in the out directory; a Markdown table on
# stdout and in OUT/tail.md, its rows per rate, its header the machine and the command.
#
# Installs nothing. SEG_PARENT overrides where segment directories go (default /dev/hugepages).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=$repo/build-bench
rates="10k 100k 1M 7M"
collector_args=""
out_dir=""
calls_scale=1
seg_parent=${SEG_PARENT:-/dev/hugepages}
cmdline=""
[ $# -eq 0 ] || cmdline=$(printf ' %q' "$@")
usage_error() { echo "tail.sh: $*" >&2; exit 2; }
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || usage_error "$1 needs a value"; }
while [ $# -gt 0 ]; do
    case $1 in
    --rates) need_value "$@"; rates=$2; shift 2 ;;
    --build) need_value "$@"; build=$2; shift 2 ;;
    --collector-args) [ $# -ge 2 ] || usage_error "$1 needs a value"; collector_args=$2; shift 2 ;;
    --out-dir) need_value "$@"; out_dir=$2; shift 2 ;;
    --calls-scale) need_value "$@"; calls_scale=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) usage_error "unknown argument: $1 (see --help)" ;;
    esac
done

. "$repo/bench/common.sh"
rates=${rates//,/ }
read -r -a rate_list <<<"$rates"
[ ${#rate_list[@]} -gt 0 ] || usage_error "--rates needs at least one rate"
for r in "${rate_list[@]}"; do
    count_value "$r" >/dev/null || usage_error "--rates: not a rate such as 100k or 7M: $r"
done
[[ $calls_scale =~ ^[0-9]+([.][0-9]+)?$ ]] && awk -v f="$calls_scale" 'BEGIN {exit !(f > 0)}' ||
    usage_error "--calls-scale wants a positive number"
read -r -a extra_collector_args <<<"$collector_args"
[ -n "$out_dir" ] || out_dir=$repo/bench/results/tail-$(date +%Y%m%d-%H%M%S)
[ -d "$seg_parent" ] && [ -w "$seg_parent" ] || { echo "tail.sh: $seg_parent is not a writable directory" \
    "(SEG_PARENT: a hugetlbfs mount)" >&2; exit 1; }

# ==== Build ====
if [ ! -f "$build/build.ninja" ]; then
    [ "$build" = "$repo/build-bench" ] || { echo "tail.sh: $build is not a build directory" >&2; exit 1; }
    meson setup "$build" "$repo" -Dbuildtype=release -Db_ndebug=true >/dev/null
fi
build=$(cd "$build" && pwd)
build_programs "$build"
# An older commit's producer has no probe: its runs measure the tail alone.
probing=0
"$bench" --help | grep -q -- --probe-ms && probing=1
# Which tree the figures belong to, since --build may point at another commit's.
src=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["directories"]["source"])' \
    "$build/meson-info/meson-info.json" 2>/dev/null || echo "?")
commit=$(git -C "$src" describe --always --dirty 2>/dev/null || echo "?")

# ==== Clean-up on every way out ====
# The producer, the collector, follow and its filter, the segment directories (hugepages stay taken
# until their files go) and the scratch directory with the collector's files.
work=$(mktemp -d /tmp/shmlog-bench-tail.XXXXXX)
prod="" col="" follower="" stamper=""
segs=()
cleanup() {
    set +e
    local p
    for p in $prod $follower $col $stamper; do kill -TERM "$p" 2>/dev/null; done
    for p in $prod $follower $col $stamper; do wait "$p" 2>/dev/null; done
    for p in "${segs[@]}"; do rm -rf "$p"; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# Stamps each line of follow with CLOCK_REALTIME as it arrives, before parsing it, and keeps the
# probes: "seq ts_ns arrival_ns". Loss and exit markers pass follow's level filter; they are skipped.
cat >"$work/stamp.py" <<'PY'
import json, sys, time
out = open(sys.argv[1], "w")
for line in iter(sys.stdin.buffer.readline, b""):
    now = time.time_ns()
    try:
        o = json.loads(line)
    except ValueError:
        continue
    f = o.get("fields") or {}
    if o.get("msg", "").startswith("bench probe ") and "seq" in f:
        out.write("%d %d %d\n" % (f["seq"], o["ts_ns"], now))
out.close()
PY

mkdir -p "$out_dir"
res=$(cd "$out_dir" && pwd)
say() { echo "$*" | tee -a "$res/header"; }
: >"$res/header"
: >"$res/runs"
model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
say "# $(uname -sr), $(nproc) cpus, $model, hugepages free: $(awk '/HugePages_Free/ {print $2}' /proc/meminfo)," \
    "load $(cut -d' ' -f1-3 /proc/loadavg)"
say "# + bench/tail.sh$cmdline   (build $build: $src at $commit)"
[ $probing = 1 ] || say "# this build's producer has no --probe-ms: no follow delay"

# stop_pid VAR: SIGTERM to the process in VAR, waits for it, clears VAR; its exit status.
stop_pid() {
    local pid=${!1} rc=0
    printf -v "$1" '%s' ""
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || rc=$?
    return $rc
}

# run_producer TAG ARGS...: the producer bench in the background, so a signal to this script ends it
# too; its text in TAG.txt, its CSV in TAG.csv, its stderr in TAG.err.
run_producer() {
    local tag=$1 rc=0
    shift
    "$bench" "$@" --csv "$res/$tag.csv" >"$res/$tag.txt" 2>"$res/$tag.err" &
    prod=$!
    wait "$prod" || rc=$?
    prod=""
    if [ $rc -ne 0 ]; then
        echo "tail.sh: $tag: the producer exited $rc:" >&2
        cat "$res/$tag.err" "$res/$tag.txt" >&2
        exit 1
    fi
}

# ==== The runs ====
hugepage_bytes=$(awk '/Hugepagesize/ {print $2 * 1024}' /proc/meminfo)
start=$(date +%s)
for label in "${rate_list[@]}"; do
    rate=$(count_value "$label")
    # The batch itself takes about 20 x 75 ns with the bracket; the pause makes up the rest of 20 calls' share of a second.
    pause=$(awk -v r="$rate" 'BEGIN {p = 20e9 / r - 20 * 75; printf "%.0f\n", (p > 0 ? p : 0)}')
    # About 10 s of timed calls, but at least 200k for a p99.99 of 20 samples, and at most 2M.
    calls=$(awk -v r="$rate" -v f="$calls_scale" 'BEGIN {
        c = r * 10; c = c < 200000 ? 200000 : c > 2000000 ? 2000000 : c; c *= f
        printf "%.0f\n", (c < 1000 ? 1000 : c) }')
    warmup=$(awk -v f="$calls_scale" 'BEGIN {printf "%.0f\n", 200000 * f}')
    # No consumer: every call stays in the ring, one 64-byte slot each (args3).
    ring=$((256 << 20))
    while [ $ring -lt $(( (calls + warmup) * 64 )) ]; do ring=$((ring * 2)); done
    need_pages=$(( ring * $(nproc) / hugepage_bytes ))
    free_pages=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
    [ "$free_pages" -ge "$need_pages" ] ||
        echo "# $label: run B's rings need $need_pages hugepages (one $((ring >> 20)) MiB ring per cpu)," \
            "$free_pages free: it may fail" >&2
    seconds=$(awk -v c="$calls" -v w="$warmup" -v r="$rate" 'BEGIN {printf "%.1f", 3 * (c + w) / r}')
    echo "# $label calls/s: pause $pause ns, $calls timed + $warmup warm-up calls, about $seconds s per run;" \
        "no-consumer ring $((ring >> 20)) MiB ($(( $(date +%s) - start )) s so far)" >&2
    common=(--phase latency --workload args3 --batch 20 --pause-ns "$pause" --calls "$calls" --warmup "$warmup"
            --backend shmlog --cpu 0 --drain-cpu 1)

    # A: through the collector, followed.
    seg=$(mktemp -d "$seg_parent/shmlog-bench-tail.XXXXXX")
    segs+=("$seg")
    out=$work/out-$label
    "$collector" --dir "$seg" --out "$out" --cpu 1 "${extra_collector_args[@]}" >"$res/$label.A.collector.log" 2>&1 &
    col=$!
    sleep 0.3
    kill -0 "$col" 2>/dev/null || { echo "tail.sh: the collector did not start:" >&2
        cat "$res/$label.A.collector.log" >&2; exit 1; }
    probe_args=()
    if [ $probing = 1 ]; then
        # On cpu 1 with the collector: cpu 0 is the producer's alone. A fifo keeps both pids at hand.
        mkfifo "$work/follow-$label"
        taskset -c 1 python3 -u "$work/stamp.py" "$res/$label.A.follow" <"$work/follow-$label" &
        stamper=$!
        taskset -c 1 "$dump" follow --out "$out" --level WARN --format json >"$work/follow-$label" \
            2>"$res/$label.A.follow.err" &
        follower=$!
        # The interpreter's start takes milliseconds of cpu 1 from the collector: over before the calls.
        sleep 0.5
        probe_args=(--probe-ms 10)
    fi
    run_producer "$label.A" "${common[@]}" --dir "$seg" --collector "${probe_args[@]}"
    # The collector reads a quiet ring within --max-delay-ms and writes its frame soon after: 1 s is
    # plenty for the last probes to reach follow.
    sleep 1
    stop_pid follower || true
    # The filter ends at follow's end of file: a signal would lose the lines it has not written yet.
    if [ -n "$stamper" ]; then
        wait "$stamper" || echo "# $label: the follow filter failed" >&2
        stamper=""
    fi
    stop_pid col || echo "# $label: shmlog-collector exited with $?: $(tail -3 "$res/$label.A.collector.log")" >&2
    "$dump" stats "$out" --format json >"$res/$label.A.stats.json" 2>"$res/$label.A.stats.err" ||
        echo "# $label: shmlog-dump stats failed: $(tail -3 "$res/$label.A.stats.err")" >&2
    rm -rf "$out" "$seg"

    # B: no consumer; the ring holds every call.
    seg=$(mktemp -d "$seg_parent/shmlog-bench-tail.XXXXXX")
    segs+=("$seg")
    run_producer "$label.B" "${common[@]}" --dir "$seg" --no-drain --ring-bytes "$ring"
    rm -rf "$seg"

    printf '%s %s %s %s %s %s %s\n' "$label" "$rate" "$pause" "$calls" "$warmup" "$ring" "$probing" >>"$res/runs"
done
echo "# runs took $(( $(date +%s) - start )) s; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" |
    tee -a "$res/header"

# ==== Report ====
python3 "$repo/bench/tail_report.py" --results "$res" >"$res/report.md"
cat "$res/header" "$res/report.md" >"$res/tail.md"
rm -f "$res/header" "$res/report.md"
echo
cat "$res/tail.md"
echo "# wrote $res/tail.md and the raw output next to it"
