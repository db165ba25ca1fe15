#!/usr/bin/env bash
# shmlog beside its peers in Quill's public benchmark harness (odygrd/logger_benchmarks,
# benchmarks/call_site_latency: 20 calls between two rdtscp, then a 2 to 2.2 ms wait, the sample is the
# difference / 20), built and run on this machine: Quill (unbounded queue), fmtlog, PlatformLab NanoLog,
# MS binlog, spdlog, and shmlog through bench/harness/shmlog_call_site_latency.cpp compiled into the same
# build with the same flags. The harness's cases: two ints and a double, two ints and a 45-byte
# std::string const&; and, for Quill and shmlog, the double call from 1,000 distinct call sites in a
# shuffled order (many_sites: bench/harness/many_sites.h), where a site's code is not always hot.
#
# The harness pins its producer threads to cpus 1.. and the peers' backends to cpu 5; a copy of it is
# patched so that every producer runs on cpu 0 and every backend on cpu 1 (each program also starts under
# `taskset -c 1`, so a backend thread that pins nothing, NanoLog's, is on cpu 1 too). shmlog runs as a
# trading program would: the spin policy, shmlog-collector started here on cpu 1 with --poll busy, its
# segments on hugepages when hugetlbfs is mounted; afterwards the records in the collector's files are
# counted against the calls made, and a run where they differ says so in the table.
#
# usage: bench/peers.sh [options]
#   --harness PATH   the harness: a checkout or a (bare) git repository
#                    (default /work/.mirror/odygrd+logger_benchmarks/repo); never changed: it is copied
#   --work DIR       the patched copy, its build, each run's output (default <repo>/build-peers; kept, so
#                    a second run builds nothing)
#   --build DIR      a configured meson build of this repository (default <repo>/build-bench, release,
#                    made if missing): shmlog.h, shmlog-collector, shmlog-dump
#   --runs N         runs of every program, interleaved (default 3); the table has the medians
#   --threads LIST   producer thread counts, all on cpu 0 (default 1; the harness's own is 1,4)
#   --samples N      samples per thread (default the harness's, 10,000)
#   --loggers LIST   of quill,fmtlog,nanolog,binlog,spdlog,shmlog (default all)
#   --cases LIST     of int_int_double,int_int_largestr,many_sites (default all); e.g. many_sites alone with
#                    more --samples, where the p99.9 of 10,000 moves from run to run more than loggers differ
#   --header DIR     shmlog's programs from the shmlog.h in DIR (another tree's, to compare two headers with
#                    one collector; give each its own --work), not the build's
#   --quick          --runs 1 --samples 500: a check that it all builds and runs
#   --cachegrind     no timing: each program once under valgrind's callgrind (cache and branch simulation,
#                    --samples 500 unless given), and per timed call of the log function: instructions,
#                    I1/D1 misses, last-level misses, mispredicts; steadier than any timing on a loaded
#                    machine. Valgrind has no rseq, so shmlog reserves by shmlog__reserve_slow there (more
#                    instructions than its real call), and one simulated cache serves all of a program's
#                    threads (Quill's backend thread's too; shmlog's collector is another process)
# e.g. flock /tmp/shmlog-heavy.lock bash bench/peers.sh
#      bash bench/peers.sh --quick --loggers quill,shmlog
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/common.sh
. "$repo/bench/common.sh"
harness=/work/.mirror/odygrd+logger_benchmarks/repo
all_cases="int_int_double int_int_largestr many_sites"
cases=$all_cases
work=$repo/build-peers build="" header="" runs=3 threads=1 samples="" loggers=quill,fmtlog,nanolog,binlog,spdlog,shmlog
cachegrind=0
producer_cpu=0 backend_cpu=1
args="$*"
while [ $# -gt 0 ]; do
    case $1 in
    --harness) harness=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --header) header=$(cd "$2" && pwd); shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --samples) samples=$2; shift 2 ;;
    --loggers) loggers=$2; shift 2 ;;
    --cases) cases=${2//,/ }; shift 2 ;;
    --quick) runs=1 samples=500; shift ;;
    --cachegrind) cachegrind=1; shift ;;
    -h | --help) sed -n '/^# usage/,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "peers.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ "$cachegrind" = 0 ] || { runs=1 samples=${samples:-500}; }
case $runs in '' | *[!0-9]* | 0) echo "peers.sh: --runs wants a count, not '$runs'" >&2; exit 2 ;; esac
case $samples in *[!0-9]* | 0) echo "peers.sh: --samples wants a count, not '$samples'" >&2; exit 2 ;; esac
case $threads in '' | *[!0-9,]* | ,* | *, | *,,*) echo "peers.sh: --threads wants counts like 1,2, not '$threads'" >&2; exit 2 ;; esac
tools="cmake git python3 stdbuf taskset timeout"
[ "$cachegrind" = 0 ] || tools="$tools valgrind callgrind_annotate"
for tool in $tools; do
    command -v "$tool" >/dev/null || { echo "peers.sh: $tool is missing: install it (apt-get install $tool)" >&2; exit 1; }
done
if [ "$(nproc --all)" -le "$backend_cpu" ]; then
    echo "peers.sh: the backends go to cpu $backend_cpu, and this machine has $(nproc --all) cpu" >&2
    exit 1
fi

# The programs, by logger: the harness's target name before the case.
declare -A target=(
    [quill]=benchmark_quill_unbounded_call_site_latency
    [fmtlog]=benchmark_fmtlog_call_site_latency
    [nanolog]=benchmark_platformlab_call_site_latency
    [binlog]=benchmark_ms_binlog_call_site_latency
    [spdlog]=benchmark_spdlog_call_site_latency
    [shmlog]=benchmark_shmlog_call_site_latency
)
for c in $cases; do
    case " $all_cases " in *" $c "*) ;; *) echo "peers.sh: no case $c: use ${all_cases// /,}" >&2; exit 2 ;; esac
done
[ -n "$cases" ] || { echo "peers.sh: --cases wants ${all_cases// /,} or some of them" >&2; exit 2; }
# The many-sites case (1,000 distinct call sites in a shuffled order) is built for Quill and shmlog only.
has_case() { [ "$2" != many_sites ] || [ "$1" = quill ] || [ "$1" = shmlog ]; }
IFS=, read -r -a selected <<<"$loggers"
for l in "${selected[@]}"; do
    [ -n "${target[$l]:-}" ] || { echo "peers.sh: no logger $l: use quill,fmtlog,nanolog,binlog,spdlog,shmlog" >&2; exit 2; }
done
want_shmlog=0
for l in "${selected[@]}"; do [ "$l" = shmlog ] && want_shmlog=1; done

# shmlog's header, collector and dump, as bench/call.sh builds them.
if [ "$want_shmlog" = 1 ]; then
    [ -n "$build" ] || release_build "$repo"
    build=$(cd "$build" && pwd) # the harness's build runs in its own directory
    if ! log=$(ninja -C "$build" producer/shmlog.h collector/shmlog-collector dump/shmlog-dump 2>&1); then
        printf '%s\n' "$log" >&2
        exit 1
    fi
    collector=$build/collector/shmlog-collector
    dump=$build/dump/shmlog-dump
fi

# The copy: cloned (or copied) once, then patched in place; a file is rewritten only when its patched
# text differs, so a second run rebuilds nothing.
mkdir -p "$work"
work=$(cd "$work" && pwd)
src=$(peers_harness "$work" "$harness")
harness_rev=$(git -C "$src" log -1 --format='%h %cs' 2>/dev/null || echo "copy of $harness")
python3 - "$src" "$producer_cpu" "$backend_cpu" "$threads" "$samples" <<'PY'
import pathlib, re, sys
src, producer_cpu, backend_cpu, threads, samples = sys.argv[1:]
src = pathlib.Path(src)
bench = src / "benchmarks" / "call_site_latency"

def patch(path, edits, append=""):
    """Patches the harness's own text (kept beside as .orig), so that a run with other options starts from it
    again. Each (old, new, how many) must match as many times: a harness that changed fails here, clearly."""
    orig = path.with_name(path.name + ".orig")
    if not orig.exists():
        orig.write_text(path.read_text())
    text = orig.read_text()
    for old, new, count in edits:
        found = len(re.findall(old, text))
        if found != count:
            sys.exit(f"peers.sh: {path}: expected {count} of /{old}/, found {found}: the harness changed")
        text = re.sub(old, new, text)
    text += append
    if text != path.read_text():
        path.write_text(text)

# Only the peers measured, and no other benchmark directory: one that fails to configure cannot stop them.
patch(src / "CMakeLists.txt", [
    (r"\nadd_subdirectory\(third_party/(Iyengar_NanoLog|reckless|g3log|xtr|bqlog)\)", "\n# not measured: \\g<0>", 5),
    (r"\nset\(ADD_G3LOG_UNIT_TEST OFF\)", "", 1),
    (r"\n\s*add_subdirectory\(third_party/boost\)", "\n    message(STATUS \"Boost.Log: not measured\")", 1),
])
patch(src / "benchmarks" / "CMakeLists.txt", [(r"\nadd_subdirectory\(backend_total_time\)", "", 1)])
# The producer threads on one cpu, and the thread counts and samples asked for.
patch(bench / "call_site_latency_bench.h", [(r"set_thread_affinity\(current_thread_num\);",
                                             f"set_thread_affinity({producer_cpu});", 2)])
common = [(r"#define THREAD_LIST_COUNT std::vector<int32_t> \{[^}]*\}",
           f"#define THREAD_LIST_COUNT std::vector<int32_t> {{ {threads.replace(',', ', ')} }}", 1)]
if samples:
    common.append((r"#define ITERATIONS std::size_t \{[^}]*\}", f"#define ITERATIONS std::size_t {{ {samples} }}", 1))
patch(bench / "call_site_latency_bench_common.h", common)
# Every backend on the other cpu.
for name in ["fmtlog", "ms_binlog", "spdlog"]:
    patch(bench / f"benchmark_{name}_call_site_latency.cpp",
          [(r"set_thread_affinity\(5\)", f"set_thread_affinity({backend_cpu})", 1)])
# Quill's program also as the many-sites case (bench/harness/many_sites.h), as shmlog's entry has it.
patch(bench / "benchmark_quill_call_site_latency.cpp",
      [(r"backend_options\.cpu_affinity = 5;", f"backend_options.cpu_affinity = {backend_cpu};", 1),
       (r"#include <string>\n", "#include <string>\n#ifdef BENCH_MANY_SITES\n#include \"many_sites.h\"\n#endif\n", 1),
       (r"#ifdef BENCH_INT_INT_DOUBLE\n  char const\* benchmark_type",
        "#if defined(BENCH_MANY_SITES)\n  char const* benchmark_type = \"[benchmark_type: many_sites]\";\n"
        "#define MANY_SITES_LOG(N) LOG_INFO(logger, \"Logging site \" #N \" int: {}, int: {}, double: {}\", i, j, d)\n"
        "  auto log_func = [logger](uint64_t i, uint64_t j, double d) { MANY_SITES_SWITCH };\n"
        "#elif defined(BENCH_INT_INT_DOUBLE)\n  char const* benchmark_type", 1),
       (r"auto on_start = \[logger\]\(\)\n  \{\n    LOG_INFO\(logger, \"Warm up\"\);\n",
        "auto on_start = [logger, &log_func]()\n  {\n    LOG_INFO(logger, \"Warm up\");\n"
        "#ifdef BENCH_MANY_SITES\n    MANY_SITES_WARM(log_func);\n#else\n    (void)log_func;\n#endif\n", 1)])
# shmlog's two programs, from this repository's source and header (given at configure time).
patch(bench / "CMakeLists.txt", [], append="""
# shmlog (added by shmlog's bench/peers.sh)
if (SHMLOG_HARNESS_SOURCE)
    foreach (bench_case INT_INT_DOUBLE INT_INT_LARGESTR)
        string(TOLOWER ${bench_case} case_name)
        set(TARGET_NAME benchmark_shmlog_call_site_latency_${case_name})
        add_executable(${TARGET_NAME} ${SHMLOG_HARNESS_SOURCE})
        target_include_directories(${TARGET_NAME} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR} ${SHMLOG_INCLUDE_DIR})
        target_compile_definitions(${TARGET_NAME} PRIVATE BENCH_${bench_case})
        target_link_libraries(${TARGET_NAME} PRIVATE numa Threads::Threads)
    endforeach ()
    # the many-sites case: the harness's double call, from 1,000 sites (shmlog's bench/harness/many_sites.h)
    get_filename_component(SHMLOG_HARNESS_DIR ${SHMLOG_HARNESS_SOURCE} DIRECTORY)
    set(TARGET_NAME benchmark_shmlog_call_site_latency_many_sites)
    add_executable(${TARGET_NAME} ${SHMLOG_HARNESS_SOURCE})
    target_include_directories(${TARGET_NAME} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR} ${SHMLOG_INCLUDE_DIR} ${SHMLOG_HARNESS_DIR})
    target_compile_definitions(${TARGET_NAME} PRIVATE BENCH_INT_INT_DOUBLE BENCH_MANY_SITES)
    target_link_libraries(${TARGET_NAME} PRIVATE numa Threads::Threads)
    set(TARGET_NAME benchmark_quill_unbounded_call_site_latency_many_sites)
    add_executable(${TARGET_NAME} benchmark_quill_call_site_latency.cpp)
    target_include_directories(${TARGET_NAME} PRIVATE ${SHMLOG_HARNESS_DIR})
    target_compile_definitions(${TARGET_NAME} PRIVATE BENCH_INT_INT_DOUBLE BENCH_MANY_SITES)
    target_link_libraries(${TARGET_NAME} PRIVATE quill)
endif ()
""")
PY

# Configure and build; a program that does not build is reported and left out of the runs.
bdir=$work/build
logs=$work/logs
mkdir -p "$logs"
generator=()
command -v ninja >/dev/null && [ ! -f "$bdir/Makefile" ] && generator=(-G Ninja)
shmlog_defs=()
[ "$want_shmlog" = 1 ] && shmlog_defs=(-DSHMLOG_HARNESS_SOURCE="$repo/bench/harness/shmlog_call_site_latency.cpp"
    -DSHMLOG_INCLUDE_DIR="${header:-$build/producer}")
if ! cmake -S "$src" -B "$bdir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "${shmlog_defs[@]}" \
    >"$logs/configure.log" 2>&1; then
    echo "peers.sh: the harness did not configure (cmake in $bdir):" >&2
    tail -n 30 "$logs/configure.log" >&2
    exit 1
fi
declare -A built=()
skipped=()
for l in "${selected[@]}"; do
    for c in $cases; do
        has_case "$l" "$c" || continue
        t=${target[$l]}_$c
        if cmake --build "$bdir" --target "$t" -j 2 >"$logs/$t.log" 2>&1; then
            built[$l.$c]=1
        else
            echo "peers.sh: $l did not build ($t): left out; $logs/$t.log says why:" >&2
            grep -m 5 -E 'error|Error' "$logs/$t.log" >&2 || tail -n 5 "$logs/$t.log" >&2
            skipped+=("$l $c $logs/$t.log")
        fi
    done
done

# The runs: every program once per run, in turn, so that load that comes and goes falls on all of them.
out=$work/runs
rm -rf "$out"
mkdir -p "$out"
scratch=$(mktemp -d /tmp/shmlog-peers.XXXXXX)
remove_at_exit "$scratch"
segments_on=$(segments_parent)
IFS=, read -r -a thread_counts <<<"$threads"
# A thread count takes samples x 2.1 ms on a quiet machine whatever the threads (they wait side by side), and
# several times that where compilers share cpu 0: a program is stopped as hung only well past that.
limit=$((120 + ${#thread_counts[@]} * ${samples:-10000} * 20 / 1000))
simulate=()
if [ "$cachegrind" = 1 ]; then
    limit=$((limit * 10))
    simulate=(valgrind --tool=callgrind --cache-sim=yes --branch-sim=yes)
fi

started=$(date +%s)
echo "# $(uname -sr), $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')," \
    "load $(cut -d' ' -f1-3 /proc/loadavg) before; producers on cpu $producer_cpu, backends on cpu $backend_cpu"
echo "# harness odygrd/logger_benchmarks $harness_rev; shmlog $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?')," \
    "segments in $segments_on"
echo "# + bench/peers.sh $args"
for run in $(seq 1 "$runs"); do
    for c in $cases; do
        for l in "${selected[@]}"; do
            [ -n "${built[$l.$c]:-}" ] || continue
            t=${target[$l]}_$c
            res=$out/$run.$l.$c.txt
            rm -rf "${scratch:?}"/*
            if [ "$l" = shmlog ]; then
                seg=$(mktemp -d "$segments_on/peers-bench.XXXXXX")
                "$collector" --dir "$seg" --out "$scratch/files" --cpu "$backend_cpu" --poll busy \
                    >"$out/$run.$l.$c.collector.log" 2>&1 &
                col=$!
            fi
            status=0
            (cd "$scratch" && SHMLOG_DIR=$seg timeout "$limit" stdbuf -oL taskset -c "$backend_cpu" "${simulate[@]}" \
                ${simulate[0]:+--callgrind-out-file="$out/$run.$l.$c.callgrind"} "$bdir/benchmarks/call_site_latency/$t") \
                >"$res" 2>&1 || status=$?
            if [ "$l" = shmlog ]; then
                kill -TERM "$col"
                wait "$col" || echo "# collector exited with $?" >>"$res"
                col=""
                rm -rf "$seg"
                seg=""
                stats=$("$dump" stats "$scratch/files" --format json 2>&1 || true)
                python3 - "$stats" >>"$res" <<'PY' || true
import json, sys
try:
    s = json.loads(sys.argv[1])
    print("shmlog: in the files: records %d, lost %d" % (s["records"], s["losses"]["total"]))
except Exception as e:
    print("shmlog: in the files: unreadable stats (%s)" % e)
PY
            fi
            [ "$status" = 0 ] || echo "# exit status $status" >>"$res"
            outcome="$(grep -c '^Thread Count' "$res" || true) tables"
            [ "$status" = 0 ] || outcome="$outcome, exit status $status"
            [ "$status" = 124 ] && outcome="$outcome (stopped as hung after $limit s)"
            printf '# run %d %-7s %-17s %s\n' "$run" "$l" "$c" "$outcome"
        done
    done
done
echo "# load $(cut -d' ' -f1-3 /proc/loadavg) after; $(($(date +%s) - started)) s of runs"

if [ "$cachegrind" = 1 ]; then
    # The log function's calls from the timed loop (through the harness's std::function; the warm-up's calls
    # are the lambda's own): samples x 20 per thread, and the one untimed call before them.
    calls=0
    for n in "${thread_counts[@]}"; do calls=$((calls + n * (samples * 20 + 1))); done
    printf '\nper timed call, callgrind (%d calls each): Ir instructions, I1/D1 misses (D1 reads, writes), LL the\n' "$calls"
    printf 'last-level misses, Bcm/Bim the mispredicted conditional/indirect branches\n'
    printf '%-8s %-17s %7s %6s %6s %6s %6s %6s %6s\n' logger case Ir I1mr D1mr D1mw LLm Bcm Bim
    for f in "$out"/1.*.callgrind; do
        [ -e "$f" ] || continue
        name=${f##*/1.} name=${name%.callgrind}
        callgrind_annotate --inclusive=yes --threshold=100 "$f" 2>/dev/null |
            awk -v calls="$calls" -v l="${name%%.*}" -v c="${name#*.}" '
                /^ *[0-9,]+ .*_Function_handler<void \(unsigned long, unsigned long, .*_M_invoke/ {
                    gsub(/\([ 0-9.]*%\)/, ""); gsub(",", "")
                    # Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw Bc Bcm Bi Bim
                    printf "%-8s %-17s %7.1f %6.2f %6.2f %6.2f %6.2f %6.2f %6.2f\n", l, c, $1 / calls, $4 / calls,
                        $5 / calls, $6 / calls, ($7 + $8 + $9) / calls, $11 / calls, $13 / calls
                    found = 1
                }
                END { if (!found) printf "%-8s %-17s no log function found in the profile\n", l, c }'
    done
    exit 0
fi

PEERS_CASES=$cases python3 - "$out" "$runs" "$loggers" "${skipped[@]}" <<'PY'
import collections, os, pathlib, re, statistics, sys
out, runs, loggers = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(",")
skipped = {tuple(s.split(" ", 2)[:2]): s.split(" ", 2)[2] for s in sys.argv[4:]}
names = {"quill": "Quill (unbounded)", "fmtlog": "fmtlog", "nanolog": "PlatformLab NanoLog",
         "binlog": "MS binlog", "spdlog": "spdlog", "shmlog": "shmlog"}
cases = os.environ["PEERS_CASES"].split()
cols = ["50th", "75th", "90th", "95th", "99th", "99.9th", "worst"]
fig = collections.defaultdict(list)   # (logger, case, threads) -> [row per run]
notes = collections.defaultdict(list)
for f in sorted(out.glob("*.txt")):
    run, logger, case = f.name.split(".")[:3]
    text = f.read_text()
    for m in re.finditer(r"Thread Count (\d+) - Total messages \d+ .*\n.*\n\s*\|([\d |]+)\|", text):
        fig[(logger, case, int(m.group(1)))].append([int(v) for v in m.group(2).split("|")])
    if logger == "shmlog":
        w = re.search(r"shmlog: records written (\d+), dropped (\d+)", text)
        r = re.search(r"shmlog: in the files: records (\d+), lost (\d+)", text)
        if not w or not r or w.group(1) != r.group(1) or w.group(2) != "0" or r.group(2) != "0":
            notes[(logger, case)].append("run %s: records did NOT all land (written %s, dropped %s; in the files %s, lost %s)"
                                         % (run, w and w.group(1), w and w.group(2), r and r.group(1), r and r.group(2)))
    if "# exit status" in text or not re.search(r"Thread Count", text):
        notes[(logger, case)].append("run %s: failed, see %s" % (run, f))
thread_counts = sorted({k[2] for k in fig})
med = {k: [statistics.median(r[i] for r in v) for i in range(len(cols))] for k, v in fig.items()}
print("\nmedians of %d run(s), ns per call (the harness's percentiles: sample n x q of the sorted samples)" % runs)
print("%-20s %-17s %7s %5s %6s %7s %7s %7s" % ("logger", "case", "threads", "runs", "p50", "p99", "p99.9", "worst"))
for case in cases:
    for logger in loggers:
        if case == "many_sites" and logger not in ("quill", "shmlog"):
            continue
        for n in thread_counts:
            k = (logger, case, n)
            if k in med:
                m = med[k]
                print("%-20s %-17s %7d %5d %6.0f %7.0f %7.0f %7.0f" % (names[logger], case, n, len(fig[k]), m[0], m[4], m[5], m[6]))
            else:
                why = "  did not build: " + skipped[(logger, case)] if (logger, case) in skipped else ""
                print("%-20s %-17s %7d %5s %6s %7s %7s %7s%s" % (names[logger], case, n, 0, "-", "-", "-", "-", why))
for (logger, case), ns in sorted(notes.items()):
    for n in ns:
        print("! %s %s: %s" % (names[logger], case, n))
# Issue 36's test: the string call within a quarter of the number call at p50, within twice at p99.9, and
# at least as good as the best peer's string call.
for n in thread_counts:
    d, s = med.get(("shmlog", "int_int_double", n)), med.get(("shmlog", "int_int_largestr", n))
    if not d or not s:
        continue
    peers = [med[(l, "int_int_largestr", n)] for l in loggers if l != "shmlog" and (l, "int_int_largestr", n) in med]
    line = "shmlog, %d thread(s): string / number call p50 %.0f/%.0f = %.2f (<= 1.25?), p99.9 %.0f/%.0f = %.2f (<= 2?)" % (
        n, s[0], d[0], s[0] / d[0], s[5], d[5], s[5] / d[5])
    if peers:
        line += "; best peer's string call p50 %.0f, p99.9 %.0f" % (min(p[0] for p in peers), min(p[5] for p in peers))
    print(line)
sys.exit(1 if notes else 0)
PY
