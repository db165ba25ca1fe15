#!/usr/bin/env bash
# The analysts' paths on every core (issue 53): RECORDS of shmlog-sample's trading mix written by the real
# collector into about 4 files, then each path's wall time, cpu-seconds (user+sys) and peak RSS:
# shmlog.to_arrow() on one thread and on the cpus given, polars.DataFrame(shmlog.open()), shmlog.to_polars(),
# shmlog.dataframe(), `python -m shmlog export` (Parquet) on one thread and on the cpus given, and
# `shmlog-dump read --format json` on one core and on the cpus given (its --jobs default), into a file and
# into /dev/null (the rendering alone, without the kernel's copy into the page cache), and `shmlog-dump stats`
# on one core and on the cpus given. Each figure is the
# best wall time of RUNS runs, printed with its command. Last, how to_arrow() divides its cpu between the calling thread and the
# builders, and what that leaves as the least time on idle cpus (a machine shared with busy neighbours may
# not give a process its cpus: the split shows what the wall time cannot); the same of to_parquet(), by its
# threads (writers and decoders).
#   bench/parallel.sh [RECORDS] [--runs N] [--set DIR] [--keep DIR] [--before TREE] [--split] [--hugepages]
#                     [--parquet KEYWORDS]...
#   RECORDS: default 10.9M (the issue's table); --set: files made before (DIR/out); --keep: keep them in DIR;
#   --before TREE: the same paths with an earlier tree's build/ and python/ (no threads there)
#   --split: only the work splits below, not the table of paths
#   --hugepages: the work split of to_arrow() also with glibc's heap in transparent huge pages
#   (GLIBC_TUNABLES=glibc.malloc.hugetlb=1: madvise(MADV_HUGEPAGE) on what malloc takes from the kernel)
#   --parquet: the work split of to_parquet() with these keywords, a JSON object ('{"compression": "lz4"}');
#   repeated, each in turn, RUNS rounds of them (default: one run of to_parquet()'s defaults)
# Python runs in the venv scripts/setup.sh makes; the machine's cpus are those `nproc` says.
set -euo pipefail
args="$*"
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/bench/common.sh"
records=10.9M runs=2 set="" keep="" before="" split="" hugepages="" col="" seg="" scratch_dir="" parquet_keywords=()
while [ $# -gt 0 ]; do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --set) set=$(cd "$2" && pwd); shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    --before) before=$(cd "$2" && pwd); shift 2 ;;
    --split) split=1; shift ;;
    --hugepages) hugepages=1; shift ;;
    --parquet) parquet_keywords+=("$2"); shift 2 ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) records=$1; shift ;;
    esac
done
given=$records
records=$(count_value "$given") || { echo "parallel.sh: RECORDS wants a count like 10.9M, not '$given'" >&2; exit 2; }
build=${SHMLOG_BUILD:-$repo/build}
vpy=${SHMLOG_TEST_VENV:-/opt/shmlog-test/venv}/bin/python
"$vpy" -c 'import pyarrow, polars, pandas' 2>/dev/null || { echo "parallel.sh: $vpy lacks pyarrow, polars or pandas: run scripts/setup.sh" >&2; exit 1; }
build_programs "$build"
ninja -C "$build" examples/shmlog-sample read/libshmlog-read.so.1.1.0 >/dev/null
echo "command: bench/parallel.sh $args ($(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg); a machine shared with other jobs: wall times are theirs too)"

set_dir parallel "$set" "$keep"
if [ -z "$set" ]; then
    seg=$(segments_parent)/shmlog-bench-parallel-$$
    mkdir -m 700 "$seg"
    # About 4 files: the trading mix takes about 4.8 bytes a record.
    rotate=$(( records * 5 / 4 / 1048576 + 1 ))M
    "$collector" --dir "$seg" --out "$work/out" --cpu 1 --rotate-size "$rotate" 2>"$work/collector.log" &
    col=$!
    sleep 0.3
    # Paced below the collector's zero-loss rate, so the files hold the whole mix.
    SHMLOG_DIR=$seg taskset -c 0 "$build/examples/shmlog-sample" --app parallel-bench --count "$records" \
        --threads 1 --rate 1500000 --mix trading 2>&1 | sed 's/^/  /'
    sleep 1.5
    kill -TERM "$col"
    wait "$col"
    col=""
fi
echo "the set: $(ls "$work/out" | wc -l) files, $(cat "$work"/out/* | wc -c) bytes," \
    "$("$dump" stats "$work/out" --format json | "$vpy" -c 'import json,sys; print(json.load(sys.stdin)["records"])') records"
parquet=$(mktemp /tmp/shmlog-bench-parallel-XXXXXX.parquet)
json=$(mktemp /tmp/shmlog-bench-parallel-XXXXXX.json)
trap 'rm -f "$parquet" "$json"; remove_scratch' EXIT

# measure LABEL TREE BUILD CMD...: the best wall time of $runs runs of CMD, with that run's cpu and peak RSS.
measure() {
    local label=$1 tree=$2 lib=$3 best="" line
    shift 3
    for _ in $(seq "$runs"); do
        line=$(SHMLOG_READ_LIBRARY=$lib/read/libshmlog-read.so.1 PYTHONPATH=$tree/python OPENBLAS_NUM_THREADS=1 \
            /usr/bin/time -f '%e %U %S %M' "$@" 2>&1 >/dev/null | tail -1)
        if [ -z "$best" ] || awk -v a="${line%% *}" -v b="${best%% *}" 'BEGIN { exit !(a < b) }'; then best=$line; fi
    done
    echo "$best" | awk -v l="$label" '{ printf "| %s | %.2f s | %.2f s | %.0f MB |\n", l, $1, $2 + $3, $4 / 1024 }'
    echo "|   \`$* \` |" | sed "s|$work|SET|g; s|$tree|TREE|g"
}

table() {
    local tree=$1 lib=$2 threaded=$3
    echo "| path | wall | cpu | peak RSS |"
    echo "|---|---|---|---|"
    if [ "$threaded" = 1 ]; then
        measure "shmlog.to_arrow(threads=1)" "$tree" "$lib" "$vpy" -c \
            'import sys, shmlog; print(shmlog.to_arrow(sys.argv[1], threads=1).num_rows)' "$work/out"
        measure "shmlog.to_arrow() (every cpu)" "$tree" "$lib" "$vpy" -c \
            'import sys, shmlog; print(shmlog.to_arrow(sys.argv[1]).num_rows)' "$work/out"
    else
        measure "shmlog.to_arrow()" "$tree" "$lib" "$vpy" -c \
            'import sys, shmlog; print(shmlog.to_arrow(sys.argv[1]).num_rows)' "$work/out"
    fi
    measure "polars.DataFrame(shmlog.open())" "$tree" "$lib" "$vpy" -c \
        'import sys, shmlog, polars; print(polars.DataFrame(shmlog.open(sys.argv[1])).height)' "$work/out"
    measure "shmlog.to_polars() (string views)" "$tree" "$lib" "$vpy" -c \
        'import sys, shmlog; print(shmlog.to_polars(sys.argv[1]).height)' "$work/out"
    measure "shmlog.dataframe()" "$tree" "$lib" "$vpy" -c \
        'import sys, shmlog; print(len(shmlog.dataframe(sys.argv[1])))' "$work/out"
    if [ "$threaded" = 1 ]; then
        measure "python -m shmlog export --jobs 1 (Parquet)" "$tree" "$lib" "$vpy" -m shmlog export --jobs 1 \
            "$work/out" "$parquet"
    fi
    measure "python -m shmlog export (Parquet)" "$tree" "$lib" "$vpy" -m shmlog export "$work/out" "$parquet"
    measure "shmlog-dump read --format json > file (one core)" "$tree" "$lib" taskset -c 0 bash -c \
        '"$0" read "$1" --format json >"$2"' "$lib/dump/shmlog-dump" "$work/out" "$json"
    if [ "$threaded" = 1 ]; then
        measure "shmlog-dump read --format json > file (every cpu)" "$tree" "$lib" bash -c \
            '"$0" read "$1" --format json >"$2"' "$lib/dump/shmlog-dump" "$work/out" "$json"
        measure "shmlog-dump read --format json > /dev/null (one core)" "$tree" "$lib" taskset -c 0 \
            "$lib/dump/shmlog-dump" read "$work/out" --format json
        measure "shmlog-dump read --format json > /dev/null (every cpu)" "$tree" "$lib" \
            "$lib/dump/shmlog-dump" read "$work/out" --format json
        measure "shmlog-dump stats (one core)" "$tree" "$lib" taskset -c 0 "$lib/dump/shmlog-dump" stats "$work/out"
        measure "shmlog-dump stats (every cpu)" "$tree" "$lib" "$lib/dump/shmlog-dump" stats "$work/out"
    fi
}

if [ -z "$split" ]; then
    echo
    echo "this tree ($build):"
    table "$repo" "$build" 1
    if [ -n "$before" ]; then
        echo
        echo "before ($before):"
        table "$before" "$before/build" 0
    fi
fi

echo
echo "the work split of to_arrow() (cpu of the call alone, its table kept: the calling thread's, the builders' the rest;" \
    "the kernel's share and its page faults, which grow with the table's bytes):"
tunables=("")
[ -z "$hugepages" ] || tunables+=(glibc.malloc.hugetlb=1)
for tunable in "${tunables[@]}"; do
    for threads in 1 "$(nproc)"; do
        [ -z "$tunable" ] || echo -n "GLIBC_TUNABLES=$tunable ($(cat /sys/kernel/mm/transparent_hugepage/enabled)): "
        GLIBC_TUNABLES=$tunable SHMLOG_READ_LIBRARY=$build/read/libshmlog-read.so.1 PYTHONPATH=$repo/python \
            OPENBLAS_NUM_THREADS=1 "$vpy" - "$work/out" "$threads" <<'PY'
import resource, sys, time
import shmlog
def cpu(who):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime
d, n = sys.argv[1], int(sys.argv[2])
r0 = resource.getrusage(resource.RUSAGE_SELF)
m0, s0, w0 = cpu(resource.RUSAGE_THREAD), cpu(resource.RUSAGE_SELF), time.monotonic()
table = shmlog.to_arrow(d, threads=n)
m1, s1, w1 = cpu(resource.RUSAGE_THREAD), cpu(resource.RUSAGE_SELF), time.monotonic()
r1 = resource.getrusage(resource.RUSAGE_SELF)
rows = table.num_rows
# The table is freed after the call is timed, as a program that keeps it frees it later: returning its
# pages to the kernel (64 MiB heaps of the builders' arena) is not the call's work.
del table
s2, w2 = cpu(resource.RUSAGE_SELF), time.monotonic()
print(f"threads={n}: {rows} rows, {w1 - w0:.2f} s wall, {s1 - s0:.2f} cpu-s, calling thread {m1 - m0:.2f}, "
      f"builders {(s1 - s0) - (m1 - m0):.2f}; on {n} idle cpus at least {max(m1 - m0, (s1 - s0) / n):.2f} s; "
      f"kernel {r1.ru_stime - r0.ru_stime:.2f} cpu-s, {r1.ru_minflt - r0.ru_minflt} minor faults, "
      f"peak RSS {r1.ru_maxrss / 1024:.0f} MB; freeing the table after it {w2 - w1:.2f} s wall, {s2 - s1:.2f} cpu-s")
PY
    done
done

echo
echo "the work split of to_parquet() (its threads' cpu, sampled from /proc/self/task: the writers encode row groups side by side):"
[ ${#parquet_keywords[@]} -gt 0 ] && rounds=$runs || { parquet_keywords=("{}"); rounds=1; }
for _ in $(seq "$rounds"); do
for keywords in "${parquet_keywords[@]}"; do
SHMLOG_READ_LIBRARY=$build/read/libshmlog-read.so.1 PYTHONPATH=$repo/python OPENBLAS_NUM_THREADS=1 \
    "$vpy" - "$work/out" "$parquet" "$(nproc)" "$keywords" <<'PY'
import json, os, resource, sys, threading, time
import shmlog
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
d, out, cpus = sys.argv[1], sys.argv[2], int(sys.argv[3])
tick, me, seen, done = os.sysconf("SC_CLK_TCK"), threading.get_native_id(), {}, threading.Event()
def sample():  # a thread's last reading before it ends: its cpu within 20 ms
    while not done.wait(0.02):
        for tid in os.listdir("/proc/self/task"):
            try:
                f = open("/proc/self/task/%s/stat" % tid).read()
            except OSError:
                continue
            fields = f[f.rindex(")") + 2:].split()
            seen[int(tid)] = (int(fields[11]) + int(fields[12])) / tick
sampler = threading.Thread(target=sample)
sampler.start()
s0, w0 = cpu(), time.monotonic()
rows = shmlog.to_parquet(d, out, **json.loads(sys.argv[4]))
s1, w1 = cpu(), time.monotonic()
done.set()
sampler.join()
busy = sorted((c for t, c in seen.items() if t not in (me, sampler.native_id) and c >= 0.05), reverse=True)
print(f"{sys.argv[4]}: {rows} rows, {w1 - w0:.2f} s wall, {s1 - s0:.2f} cpu-s; its threads {', '.join('%.2f' % c for c in busy)}, "
      f"calling thread {seen.get(me, 0):.2f}; on {cpus} idle cpus at least {max(busy[:1] + [(s1 - s0) / cpus]):.2f} s; "
      f"kernel {resource.getrusage(resource.RUSAGE_SELF).ru_stime:.2f} cpu-s, peak RSS "
      f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB, {os.path.getsize(out)} bytes")
PY
done
done
