#!/usr/bin/env bash
# Bytes on disk per record for the trading-like mix of shmlog-sample (orders,
# market data ticks, risk warnings, strings), and the rates at which
# `shmlog-dump read --format json`, libshmlog-read (events, columns, Arrow
# batches; one and two readers on two threads) and the Python package
# (read(), to_arrow(), a stream read batch by batch, dataframe()) decode those
# files, on one core, side by side; to_arrow()'s peak memory against its
# table's size, and what as much fresh memory costs a process to touch; and
# dataframe() over the same files, in time and peak memory.
#   bench/files.sh [RECORDS] [--before TREE]   (default 10000000 records)
#   --before TREE: dataframe() and read --format json of an earlier tree too (its
#     build/ and python/; its Python run with Debian's python3 and pandas)
#   SHMLOG_MIX=uniform bench/files.sh ...   the white-noise mix of earlier releases
# The producer's line says how many records were dropped (then the file holds
# fewer than asked for). Python runs in the venv scripts/setup.sh makes (pyarrow,
# polars, duckdb, pandas pinned: tests/python-requirements.txt).
# bench/bench_encode.c measures the format alone, without the collector.
set -euo pipefail
cd "$(dirname "$0")/.."
records=10000000
before=
while [ $# -gt 0 ]; do
    case $1 in
    --before) before=$(cd "$2" && pwd); shift 2 ;;
    *) records=$1; shift ;;
    esac
done
build=${SHMLOG_BUILD:-build}
vpy=${SHMLOG_TEST_VENV:-/opt/shmlog-test/venv}/bin/python
"$vpy" -c 'import pyarrow, pandas' 2>/dev/null || { echo "files.sh: $vpy lacks pyarrow or pandas: run scripts/setup.sh" >&2; exit 1; }
mix=${SHMLOG_MIX:-trading}
[ -d "$build" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" >/dev/null

work=$(mktemp -d /tmp/shmlog-bench-files.XXXXXX)
seg=/dev/shm/shmlog-bench-files-$$
trap 'rm -rf "$work" "$seg"; [ -n "${col:-}" ] && kill "$col" 2>/dev/null || true' EXIT
echo "command: SHMLOG_MIX=$mix bench/files.sh $records  ($(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg))"

# The directory exists before the collector starts: it watches it from the
# first moment (one it has to find on a rescan, up to 1 s later, would cost
# the ring's overflow in drops).
mkdir -m 700 "$seg"
"$build/collector/shmlog-collector" --dir "$seg" --out "$work/out" --cpu 1 2>/dev/null &
col=$!
sleep 0.3
# Paced below the collector's zero-loss rate, so the file holds the whole mix.
SHMLOG_DIR=$seg taskset -c 0 "$build/examples/shmlog-sample" --app files-bench --count "$records" \
    --threads 1 --rate 2000000 --mix "$mix" 2>/dev/null
sleep 1.5
kill -TERM "$col"
wait "$col"
col=

python3 - "$build" "$work/out" "$before" <<'PY'
import json, os, subprocess, sys, time, resource
build, out, tree = sys.argv[1], sys.argv[2], sys.argv[3]
stats = json.loads(subprocess.run([f"{build}/dump/shmlog-dump", "stats", out, "--format", "json"],
                                  check=True, capture_output=True, text=True).stdout)
size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
records = stats.get("records") or 0
print(f"records on disk:        {records}")
print(f"bytes on disk:          {size}")
print(f"bytes per record:       {size / max(records, 1):.2f}")
# Best of 3: on a shared machine the other runs measure the neighbours too.
runs = []
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    with open(os.devnull, "w") as null:
        subprocess.run(["taskset", "-c", "0", f"{build}/dump/shmlog-dump", "read", out, "--format", "json"],
                       check=True, stdout=null)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    runs.append(((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall))
cpu, wall = min(runs)
print(f"read --format json:     {records / cpu / 1e6:.2f} M records/s per cpu-second ({cpu:.2f} s cpu, {wall:.2f} s wall;"
      f" best of 3: {', '.join(f'{c:.2f}' for c, _ in runs)} s cpu)")
if tree:
    runs = []
    for _ in range(3):
        b0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open(os.devnull, "w") as null:
            subprocess.run(["taskset", "-c", "0", f"{tree}/build/dump/shmlog-dump", "read", out, "--format", "json"],
                           check=True, stdout=null)
        a = resource.getrusage(resource.RUSAGE_CHILDREN)
        runs.append((a.ru_utime - b0.ru_utime) + (a.ru_stime - b0.ru_stime))
    print(f"read --format json, --before tree: {records / min(runs) / 1e6:.2f} M records/s per cpu-second "
          f"({min(runs):.2f} s cpu, best of 3)")
PY
# The reader library from C: events, columns, Arrow batches; one and two readers.
taskset -c 0 "$build/bench/shmlog-bench-reader" "$work/out"
"$build/bench/shmlog-bench-reader" --threads "$work/out"

# The Python package over it, on one core.
export SHMLOG_READ_LIBRARY=$build/read/libshmlog-read.so.1 PYTHONPATH=$PWD/python OPENBLAS_NUM_THREADS=1
taskset -c 0 "$vpy" - "$work/out" <<'PY'
import sys, time, shmlog, pyarrow as pa
out = sys.argv[1]
def best(fn, times=3):
    runs = []
    for _ in range(times):
        t0 = time.process_time()
        n = fn()
        runs.append(time.process_time() - t0)
    return n, min(runs), runs
def batches(**kw):
    n = 0
    for b in pa.RecordBatchReader.from_stream(shmlog.open(out, **kw)):
        n += b.num_rows
    return n
for what, fn in (("python read():", lambda: sum(1 for _ in shmlog.read(out))),
                 ("python to_arrow():", lambda: shmlog.to_arrow(out).num_rows),
                 ("python to_arrow(message=False):", lambda: shmlog.to_arrow(out, message=False).num_rows),
                 ("python to_arrow(fields=False):", lambda: shmlog.to_arrow(out, fields=False).num_rows),
                 ("python open(), batch by batch:", batches),
                 ("python dataframe():", lambda: len(shmlog.dataframe(out)))):
    times = 1 if what == "python read():" else 3  # one event per record in Python: slow, once is enough
    n, t, runs = best(fn, times)
    print(f"{what:<34} {n / t / 1e6:.2f} M records/s per cpu-second ({n} records, {t:.2f} s cpu, best of {times}; "
          f"first {runs[0]:.2f} s)")
PY

# Peak memory: to_arrow() and dataframe() each in a process of their own, against the table's size.
"$vpy" - "$work/out" <<'PY'
import subprocess, sys
out = sys.argv[1]
code = """
import resource, sys, time, shmlog, pyarrow as pa
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t0 = time.perf_counter(); c0 = time.process_time()
if sys.argv[2] == "to_arrow":
    obj = shmlog.to_arrow(sys.argv[1]); size = obj.nbytes; rows = obj.num_rows
else:
    obj = shmlog.dataframe(sys.argv[1]); size = int(obj.memory_usage(deep=True).sum()); rows = len(obj)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(rows, size, base, peak, wall, cpu)
"""
for what in ("to_arrow", "dataframe"):
    p = subprocess.run([sys.executable, "-c", code, out, what], check=True, capture_output=True, text=True)
    rows, size, base, peak, wall, cpu = p.stdout.split()
    rows, size, base, peak = int(rows), int(size), int(base), int(peak)
    print(f"python {what}() memory: {'table' if what == 'to_arrow' else 'frame'} {size / 2**20:.0f} MiB, peak RSS "
          f"{peak / 2**20:.0f} MiB ({peak / size:.2f}x; {(peak - base) / size:.2f}x above the {base / 2**20:.0f} MiB "
          f"after the imports); {rows} rows in {float(wall):.2f} s wall, {float(cpu):.2f} s cpu")
    if what == "to_arrow":
        table = size
# What the kernel takes to give a process that much fresh memory (its first touch of each page, then a
# memset): to_arrow() keeps every batch, so its table is all fresh memory, where a reader that releases
# its batches reuses them.
fresh = """
import ctypes, mmap, sys, time
n = int(sys.argv[1])
m = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
c0 = time.process_time()
ctypes.memset(ctypes.addressof(ctypes.c_char.from_buffer(m)), 1, n)
print(time.process_time() - c0)
"""
p = subprocess.run([sys.executable, "-c", fresh, str(table)], check=True, capture_output=True, text=True)
print(f"fresh memory of the table's size, first touched: {table / 2**20:.0f} MiB in {float(p.stdout):.2f} s cpu")
PY
if [ -n "$before" ]; then
    # The same dataframe() in the earlier tree: its package with Debian's python3 and pandas.
    SHMLOG_READ_LIBRARY=$before/build/read/libshmlog-read.so.1 PYTHONPATH=$before/python /usr/bin/python3 - "$work/out" <<'PY'
import resource, sys, time, shmlog
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t0 = time.perf_counter(); c0 = time.process_time()
df = shmlog.dataframe(sys.argv[1])
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
size = int(df.memory_usage(deep=True).sum())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(f"python dataframe() memory, --before tree: frame {size / 2**20:.0f} MiB, peak RSS {peak / 2**20:.0f} MiB "
      f"({peak / size:.2f}x); {len(df)} rows in {wall:.2f} s wall, {cpu:.2f} s cpu")
PY
fi
