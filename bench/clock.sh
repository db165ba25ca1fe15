#!/usr/bin/env bash
# clock.sh - record time against the wall clock over a long run (the target: <= 2 us at all times,
# over 30 minutes, every process; README.md, "Guarantees", promises 1 us).
#
# usage: bench/clock.sh [--procs N] [--interval-ms M] [--minutes X] [--buckets K | --bucket-s S]
#                       [--skew-ppm P[,P...]] [--slew-ppm P [--slew-period-ms T]]
#   --procs N          producer processes, started together (default 2)
#   --interval-ms M    each logs one record every M ms (default 1000; fractions allowed)
#   --minutes X        for X minutes (default 30; fractions allowed, e.g. 1 or 0.5)
#   --buckets K        the table's rows per process: K equal slices of the run (default 10)
#   --bucket-s S       or slices of S seconds
#   --skew-ppm LIST    SHMLOG_TEST_TSC_SKEW_PPM per process (comma-separated, the last one repeats):
#                      each producer's own TSC calibration made wrong on purpose. Default: unset,
#                      the real case.
#   --slew-ppm P       while the producers run, the kernel clock's frequency is set to +P ppm, then
#                      -P ppm, and so on (root; tests/host_clock.py slew; at most 500), each for
#                      --slew-period-ms T (default 37: not in step with the collector's frames), and
#                      given back at the end: how far a change of the clock's rate between two anchors
#                      puts records off (a change of 2P ppm at each turn).
#
# Each producer (tests/clock_producer.c) reads CLOCK_REALTIME right before a log call (w0) and right
# after it returned (w1) and logs both; a real shmlog-collector (default flags) started here writes the
# files; `shmlog-dump read --format json` decodes them. Per process and time slice the report gives the
# distribution of (record time ts_ns - w0): p50 (signed), p99 and max of |ts - w0|, the gap w1 - w0 (the
# call's own duration, the part of ts - w0 that is not error), and the largest distance of ts outside
# [w0, w1] (the error proven by the two reads). Markdown table on stdout (also results/clock.md),
# per-record data in results/clock.dat, and results/clock.png when gnuplot is there (bench/clock.gp).
#
# Installs nothing. BUILD_DIR overrides the build directory (default <repo>/build-bench, configured
# release as bench/run.sh does when it is new), RESULTS_DIR the results directory (<repo>/bench/results).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build-bench}
results=${RESULTS_DIR:-$repo/bench/results}
procs=2
interval_ms=1000
minutes=30
buckets=10
bucket_s=
skews=
slew_ppm=
slew_period_ms=37
usage_error() { echo "clock.sh: $*" >&2; exit 2; }
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || usage_error "$1 needs a value"; }
while [ $# -gt 0 ]; do
    case $1 in
    --procs) need_value "$@"; procs=$2; shift 2 ;;
    --interval-ms) need_value "$@"; interval_ms=$2; shift 2 ;;
    --minutes) need_value "$@"; minutes=$2; shift 2 ;;
    --buckets) need_value "$@"; buckets=$2; bucket_s=; shift 2 ;;
    --bucket-s) need_value "$@"; bucket_s=$2; shift 2 ;;
    --skew-ppm) need_value "$@"; skews=$2; shift 2 ;;
    --slew-ppm) need_value "$@"; slew_ppm=$2; shift 2 ;;
    --slew-period-ms) need_value "$@"; slew_period_ms=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) usage_error "unknown argument: $1 (see --help)" ;;
    esac
done
is_num() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }
[[ $procs =~ ^[1-9][0-9]*$ ]] && [ "$procs" -le 64 ] || usage_error "--procs wants 1..64"
is_num "$interval_ms" || usage_error "--interval-ms wants a positive number"
is_num "$minutes" || usage_error "--minutes wants a positive number"
[[ $buckets =~ ^[1-9][0-9]*$ ]] || usage_error "--buckets wants a positive integer"
[ -z "$bucket_s" ] || is_num "$bucket_s" || usage_error "--bucket-s wants a positive number"
interval_us=$(python3 -c "print(round($interval_ms * 1000))")
seconds=$(python3 -c "print($minutes * 60)")
[ "$interval_us" -gt 0 ] || usage_error "--interval-ms wants a positive number"
python3 -c "import sys; sys.exit(0 if $seconds > 0 else 1)" || usage_error "--minutes wants a positive number"
[ -z "$slew_ppm" ] || is_num "$slew_ppm" || usage_error "--slew-ppm wants a positive number"
is_num "$slew_period_ms" || usage_error "--slew-period-ms wants a positive number"
IFS=, read -r -a skew_list <<<"$skews"
for s in "${skew_list[@]}"; do
    [[ $s =~ ^-?[0-9]+([.][0-9]+)?$ ]] || usage_error "--skew-ppm wants numbers, not '$s'"
done

# ==== Build ====
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$repo" -Dbuildtype=release -Db_ndebug=true >/dev/null
fi
# clock_producer is a test program; bench/meson.build declares it too when tests are off.
if ! log=$(ninja -C "$build" collector/shmlog-collector dump/shmlog-dump 2>&1); then
    printf '%s\n' "$log" >&2
    exit 1
fi
producer=
for t in tests/clock_producer bench/clock_producer; do
    if ninja -C "$build" "$t" >/dev/null 2>&1; then
        producer=$build/$t
        break
    fi
done
[ -n "$producer" ] || { echo "clock.sh: could not build clock_producer in $build" >&2; exit 1; }
collector=$build/collector/shmlog-collector
dump=$build/dump/shmlog-dump

# ==== Run ====
work=$(mktemp -d /tmp/shmlog-bench-clock.XXXXXX)
seg=/dev/shm/shmlog-bench-clock-$$
col=
prods=()
cleanup() {
    # SIGINT: the frequency changes give back the clock's own (their finally)
    [ -n "${slewer:-}" ] && kill -INT "$slewer" 2>/dev/null || true
    for p in "${prods[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    [ -n "$col" ] && kill -KILL "$col" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work" "$seg"
}
trap cleanup EXIT

say() { echo "$*" | tee -a "$work/header"; }
clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null || echo '?')
sync=$(timedatectl show -p NTPSynchronized --value 2>/dev/null || echo '?')
say "# $(uname -sr), $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), "\
"clocksource $clocksource, NTP synchronized: ${sync:-?}, load $(cut -d' ' -f1-3 /proc/loadavg)"
cmd="bench/clock.sh --procs $procs --interval-ms $interval_ms --minutes $minutes"
[ -n "$bucket_s" ] && cmd="$cmd --bucket-s $bucket_s" || cmd="$cmd --buckets $buckets"
[ -n "$skews" ] && cmd="$cmd --skew-ppm $skews"
[ -n "$slew_ppm" ] && cmd="$cmd --slew-ppm $slew_ppm --slew-period-ms $slew_period_ms"
say "# command: $cmd   (build $build)"

mkdir -m 700 "$seg"
"$collector" --dir "$seg" --out "$work/out" 2>"$work/collector.log" &
col=$!
sleep 0.3
kill -0 "$col" 2>/dev/null || { echo "clock.sh: the collector did not start:" >&2; cat "$work/collector.log" >&2; exit 1; }
: >"$work/procs"
for ((k = 0; k < procs; k++)); do
    skew=
    if [ ${#skew_list[@]} -gt 0 ]; then
        skew=${skew_list[$((k < ${#skew_list[@]} ? k : ${#skew_list[@]} - 1))]}
    fi
    if [ -n "$skew" ]; then
        SHMLOG_DIR=$seg SHMLOG_TEST_TSC_SKEW_PPM=$skew "$producer" --app clock$k --seconds "$seconds" \
            --interval-us "$interval_us" >"$work/producer$k.out" 2>"$work/producer$k.err" &
    else
        env -u SHMLOG_TEST_TSC_SKEW_PPM SHMLOG_DIR="$seg" "$producer" --app clock$k --seconds "$seconds" \
            --interval-us "$interval_us" >"$work/producer$k.out" 2>"$work/producer$k.err" &
    fi
    prods+=($!)
    echo "$! clock$k ${skew:-unset}" >>"$work/procs"
done
say "# $procs producers started $(date -u +%FT%TZ), running ${seconds} s each"
slewer=
if [ -n "$slew_ppm" ]; then
    python3 "$repo/tests/host_clock.py" slew "$slew_ppm" "$(python3 -c "print($slew_period_ms / 1000)")" "$seconds" &
    slewer=$!
fi
[ -z "$slewer" ] || wait "$slewer" || { echo "clock.sh: the frequency changes failed" >&2; exit 1; }
for ((k = 0; k < procs; k++)); do
    rc=0
    wait "${prods[$k]}" || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "clock.sh: producer clock$k exited $rc:" >&2
        cat "$work/producer$k.err" >&2
        exit 1
    fi
    say "# clock$k (pid ${prods[$k]}, skew $(sed -n "$((k + 1))s/.* //p" "$work/procs")): $(tail -1 "$work/producer$k.out")"
done
prods=()
# The collector drains the segments of processes that ended and removes them.
for _ in $(seq 100); do
    [ -z "$(ls -A "$seg")" ] && break
    sleep 0.1
done
kill -TERM "$col"
rc=0
wait "$col" || rc=$?
col=
[ "$rc" -eq 0 ] || { echo "clock.sh: the collector exited $rc:" >&2; tail -5 "$work/collector.log" >&2; }
"$dump" read --format json "$work/out" >"$work/read.json"

# ==== Report ====
mkdir -p "$results"
report_args=(--procs-file "$work/procs" --results "$results" --buckets "$buckets" --span-s "$seconds")
[ -n "$bucket_s" ] && report_args+=(--bucket-s "$bucket_s")
python3 "$repo/bench/clock_report.py" "${report_args[@]}" "$work/read.json" >"$work/report.md"
cat "$work/report.md"
cat "$work/header" "$work/report.md" >"$results/clock.md"
written="$results/clock.md, $results/clock.dat"
if command -v gnuplot >/dev/null; then
    if gnuplot -e "results='$results'" "$repo/bench/clock.gp" 2>&1 | grep -v '^$' >&2; then :; fi
    written="$written and $results/clock.png"
else
    echo "# gnuplot is not installed: plot skipped (the data is in $results/clock.dat; bench/clock.gp plots it)"
fi
echo "# wrote $written"
