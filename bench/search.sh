#!/usr/bin/env bash
# Finding things in a day of logs (issue 50): a day-like set of shmlog-sample's trading mix written by the
# real collector (RECORDS paced over SPAN seconds, so the records spread over that much TSC time; order ids
# repeat a few times: new, ack, fills, reject), then the questions an analyst asks: a 1 ms and a 1 s window
# at the start, the middle and the end, a 1 s window after the end, one order id, a rare word of the
# messages, a word that is in none (each also as a whole word, which the index is asked for), --level ERROR; each through shmlog-dump read, through Python (shmlog.to_arrow), with the index and as a
# full scan (SHMLOG_NO_INDEX=1), and through DuckDB over the Parquet of the same records (python -m shmlog
# export), one run, one core (taskset -c 0, DuckDB on one thread), the files in the page cache. The table
# has wall and cpu seconds, the records each answers, and the bytes each read (rchar of /proc/PID/io:
# read(2) and pread(2), the page cache's too); then the index's size and what it costs to build.
#   bench/search.sh [RECORDS] [SPAN] [--keep DIR] [--set DIR] [--no-scan]
#     RECORDS  records in the set (default 200M); SPAN: seconds it spans (default 7200): the producer runs
#              that long, at RECORDS / SPAN records per second
#     --keep DIR  make the set in DIR and keep it (DIR/out, DIR/set.parquet); --set DIR: ask a kept set
#     --no-scan   leave out the full scans (SHMLOG_NO_INDEX=1), a kept set's minutes for each question
# The answers must agree: each question's record count through every engine is checked against DuckDB's,
# and a row that differs is marked.
set -euo pipefail
args="$*"
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/common.sh
. "$repo/bench/common.sh"
records=200M span=7200 keep="" set="" pos=0
while [ $# -gt 0 ]; do
    case $1 in
    --keep) keep=$2; shift 2 ;;
    --set) set=$(cd "$2" && pwd); shift 2 ;;
    --no-scan) export SEARCH_NO_SCAN=1; shift ;;
    -h | --help) sed -n '/^#   bench/,/^# and a row/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) if [ $pos = 0 ]; then records=$1; else span=$1; fi; pos=$((pos + 1)); shift ;;
    esac
done
given=$records
records=$(count_value "$given") || { echo "search.sh: RECORDS wants a count like 200M, not '$given'" >&2; exit 2; }
case $span in '' | *[!0-9]* | 0) echo "search.sh: SPAN wants seconds, not '$span'" >&2; exit 2 ;; esac
build=${SHMLOG_BUILD:-$repo/build}
vpy=${SHMLOG_TEST_VENV:-/opt/shmlog-test/venv}/bin/python
"$vpy" -c 'import pyarrow, duckdb' 2>/dev/null || { echo "search.sh: $vpy lacks pyarrow or duckdb: run scripts/setup.sh" >&2; exit 1; }
build_programs "$build"
ninja -C "$build" examples/shmlog-sample bench/shmlog-bench-index read/libshmlog-read.so.1.1.0 >/dev/null
sample=$build/examples/shmlog-sample
export SHMLOG_READ_LIBRARY=$build/read/libshmlog-read.so.1 PYTHONPATH=$repo/python OPENBLAS_NUM_THREADS=1
echo "command: bench/search.sh $args ($(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg); a machine shared with other jobs: wall times are theirs too)"

set_dir search "$set" "$keep"
if [ -z "$set" ]; then
    seg=$(segments_parent)/shmlog-bench-search-$$
    mkdir -m 700 "$seg"
    rate=$(( (records + span - 1) / span ))
    "$collector" --dir "$seg" --out "$work/out" --cpu 1 2>"$work/collector.log" &
    col=$!
    sleep 0.3
    echo "making the set: $records records at $rate per second over ${span} s"
    SHMLOG_DIR=$seg taskset -c 0 "$sample" --app search-bench --count "$records" --threads 1 --rate "$rate" \
        --mix trading 2>&1 | sed 's/^/  /'
    sleep 1.5
    read -r -a st <"/proc/$col/stat"
    kill -TERM "$col"
    wait "$col"
    col=""
    echo "collector: $(( (st[13] + st[14]) * 1000 / $(getconf CLK_TCK) )) ms cpu for the set (index included; bench/index.sh: its share)"
    t0=$(date +%s.%N)
    "$vpy" -m shmlog export "$work/out" "$work/set.parquet" >/dev/null
    echo "export to Parquet: $(python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.1f}')" "$t0") s wall"
fi

# The index: its bytes beside the files', and what rebuilding it costs (shmlog-dump index over a copy whose
# footers are cut off, as a crashed collector leaves a file).
ix_bytes=0
for f in "$work"/out/*.shlog; do
    b=$("$build/bench/shmlog-bench-index" "$f" | sed -n 's/.*; index \([0-9]*\) bytes.*/\1/p' | head -1)
    ix_bytes=$((ix_bytes + ${b:-0}))
done
file_bytes=$(cat "$work"/out/*.shlog | wc -c)
cut=$(mktemp -d /tmp/shmlog-bench-search-cut.XXXXXX)
for f in "$work"/out/*.shlog; do
    cp "$f" "$cut/"
    at=$(tail -c 32 "$f" | od -An -tu8 -N8 | tr -d ' ')
    truncate -s "$at" "$cut/$(basename "$f")"
done
rebuild=$( { /usr/bin/time -f '%e %U %S' taskset -c 0 "$dump" index "$cut" >/dev/null; } 2>&1 | tail -1)
rm -rf "$cut"
echo "index: $ix_bytes bytes of $file_bytes ($(python3 -c "print(f'{100*$ix_bytes/$file_bytes:.2f}')") %);" \
    "rebuilt by shmlog-dump index in $(echo "$rebuild" | awk '{printf "%.2f s wall, %.2f s cpu", $1, $2 + $3}')"

taskset -c 0 "$vpy" - "$work" "$dump" <<'PY'
import json, os, subprocess, sys, tempfile, time
import shmlog
work, dump = sys.argv[1], sys.argv[2]
out, parquet = os.path.join(work, "out"), os.path.join(work, "set.parquet")
stats = json.loads(subprocess.run([dump, "stats", out, "--format", "json"], check=True, capture_output=True,
                                  text=True).stdout)
first, last = stats["first_ns"], stats["last_ns"]
print(f"set: {stats['records']} records in {stats['files']} files, {stats['bytes']} bytes, "
      f"{(last - first) / 3.6e12:.2f} h of records ({stats['span_s']:.0f} s)")

# What each engine is told, per question: CLI arguments, to_arrow() keywords, a DuckDB condition.
has_where = b"--where" in subprocess.run([dump, "--help"], capture_output=True).stdout
import inspect
py_where = ("where" in inspect.signature(shmlog.to_arrow).parameters or
            "where" in getattr(getattr(shmlog, "Filters", None), "__annotations__", {}))
def ms(ns): return ns // 1_000_000
questions = []
for width, name in ((1_000_000, "1 ms"), (1_000_000_000, "1 s")):
    for place, at in (("start", first), ("middle", (first + last) // 2), ("end", last + 1 - width)):
        questions.append((f"{name} window, {place}", dict(since=at, until=at + width),
                          f"epoch_ns(ts) >= {at} AND epoch_ns(ts) < {at + width}"))
mid = (first + last) // 2
import duckdb
con = duckdb.connect()
con.execute("SET threads = 1")
row = con.execute(f"SELECT id FROM read_parquet('{parquet}') WHERE id IS NOT NULL AND epoch_ns(ts) >= {mid} "
                  "ORDER BY ts LIMIT 1").fetchone()
order = row[0] if row else 0
questions.append((f"order id={order}", dict(where=f"id={order}"), f"id = {order}"))
questions.append(("1 s window, none (after the end)", dict(since=last + 1_000_000_000, until=last + 2_000_000_000),
                  f"epoch_ns(ts) >= {last + 1_000_000_000} AND epoch_ns(ts) < {last + 2_000_000_000}"))
questions.append(("rare word 'prevention'", dict(grep="prevention"), "msg LIKE '%prevention%'"))
questions.append(("word in none 'zebra'", dict(grep="zebra"), "msg LIKE '%zebra%'"))
# Whole words (between two non-word bytes of the pattern): asked of the index (version 6).
questions.append(("whole word ' prevention:'", dict(grep=" prevention:"), "msg LIKE '% prevention:%'"))
questions.append(("whole word in none ' zebra '", dict(grep=" zebra "), "msg LIKE '% zebra %'"))
questions.append(("--level ERROR", dict(level="ERROR"), "level IN ('ERROR', 'FATAL')"))

def cli_args(q):
    a = []
    for k, v in q.items():
        if k == "where" and not has_where:  # before --where: the same records by a regular expression
            name, value = v.split("=", 1)
            a += ["--grep", f"(^| ){name}={value}( |$)"]
        else:
            a += [f"--{k}", str(v)]
    return a

def py_kwargs(q):
    kw = dict(q)
    if "where" in kw and not py_where:
        name, value = kw.pop("where").split("=", 1)
        kw["grep"] = f"(^| ){name}={value}( |$)"
    if "level" in kw:
        kw["level"] = kw["level"].lower()
    return kw

# One measured child: wall, cpu and rchar of it alone (a shell that runs it and then prints its own
# /proc/PID/io, which holds the child's once reaped), its standard output in a file.
def measure(argv, env=None):
    with tempfile.NamedTemporaryFile(dir="/dev/shm", delete=False) as o:
        path = o.name
    script = 'out=$1; shift; "$@" >"$out"; s=$?; grep ^rchar: /proc/$$/io; exit $s'
    t0 = time.monotonic()
    p = subprocess.Popen(["sh", "-c", script, "sh", path] + argv, stdout=subprocess.PIPE, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    io = p.stdout.read().decode()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise SystemExit(f"search.sh: {argv[:3]}... exited {p.returncode}")
    with open(path, "rb") as f:
        text = f.read()
    os.unlink(path)
    return wall, ru.ru_utime + ru.ru_stime, int(io.split()[1]), text

PY_QUERY = """
import json, sys, shmlog
kw = json.loads(sys.argv[2])
print(shmlog.to_arrow(sys.argv[1], **kw).num_rows)
"""
DUCK_QUERY = """
import sys, duckdb
con = duckdb.connect(); con.execute("SET threads = 1")
print(con.sql(f"SELECT * FROM read_parquet('{sys.argv[1]}') WHERE {sys.argv[2]}").to_arrow_table().num_rows)
"""
# What the interpreter, its imports and a first record cost, taken off each Python and DuckDB row (the
# least of three): the rest is the question's.
base = {}
for what, argv in (("python", [sys.executable, "-c", PY_QUERY, out, json.dumps({"limit": 1})]),
                   ("duckdb", [sys.executable, "-c", DUCK_QUERY, parquet, "true LIMIT 1"])):
    base[what] = min((measure(argv)[:3] for _ in range(3)), key=lambda m: m[1])

no_index = dict(os.environ, SHMLOG_NO_INDEX="1")
rows = []
for title, q, cond in questions:
    got = {}
    for engine, argv, env, kind in (
            ("shmlog-dump read", [dump, "read", out, "--format", "json"] + cli_args(q), None, "lines"),
            ("shmlog-dump read, full scan", [dump, "read", out, "--format", "json"] + cli_args(q), no_index, "lines"),
            ("python to_arrow", [sys.executable, "-c", PY_QUERY, out, json.dumps(py_kwargs(q))], None, "python"),
            ("python to_arrow, full scan", [sys.executable, "-c", PY_QUERY, out, json.dumps(py_kwargs(q))], no_index,
             "python"),
            ("duckdb over parquet", [sys.executable, "-c", DUCK_QUERY, parquet, cond], None, "duckdb")):
        if env is no_index and os.environ.get("SEARCH_NO_SCAN"):
            continue
        wall, cpu, rchar, text = measure(argv, env)
        if kind == "lines":  # records: loss and exit markers pass the time filters only
            n = sum(1 for line in text.splitlines() if b'"loss":' not in line and b'"exit":' not in line)
        else:
            n = int(text.split()[-1])
            b = base["python" if kind == "python" else "duckdb"]
            wall, cpu, rchar = max(wall - b[0], 0), max(cpu - b[1], 0), max(rchar - b[2], 0)
        got[engine] = n
        rows.append((title, engine, wall, cpu, n, rchar))
    want = got["duckdb over parquet"]
    for i in range(len(rows) - len(got), len(rows)):
        if rows[i][4] != want:
            rows[i] = rows[i][:1] + (rows[i][1] + " (DIFFERS)",) + rows[i][2:]

print()
print(f"{'question':<28} {'engine':<30} {'wall s':>8} {'cpu s':>8} {'records':>10} {'bytes read':>14}")
for title, engine, wall, cpu, n, rchar in rows:
    print(f"{title:<28} {engine:<30} {wall:8.3f} {cpu:8.3f} {n:10d} {rchar:14d}")
print(f"\n(--where: {'yes' if has_where else 'not in this build: --grep on name=value'}; to_arrow(where=): "
      f"{'yes' if py_where else 'no: grep='}; Python and DuckDB rows less their interpreter's start and a "
      f"first record ({base['python'][0]:.2f} s, {base['duckdb'][0]:.2f} s wall); files in the page cache)")
PY
