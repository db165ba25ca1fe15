#!/bin/bash
# Description: SQL over a day of logs: DuckDB (Python's duckdb, pinned in the venv scripts/setup.sh makes, its json extension built in) reads the collector's files of two sample producers twice, as the JSON Lines shmlog-dump read --format json prints and as the Arrow stream of shmlog.open() (the PyCapsule interface, no JSON), and both answers are exactly python's from the same lines: the records and their times to the nanosecond (ts_ns past 2^53, not rounded through a double; the `time` text and the Arrow timestamp both the same nanosecond), counts by app and level, counts per second, the typed fields of one call site (new orders: count, sum, average and notional of the quantities, lowest and highest price, as exact decimals) by app, symbol and side, and the loss and exit markers.
# usage: test_duckdb.sh LIBDIR PYTHON_SRC (meson test sets SHMLOG_DUMP, COLLECTOR, SHMLOG_SAMPLE)
set -u
libdir=$(realpath -e -- "$1" || echo "/nonexistent/$1")
pysrc=$(realpath -e -- "$2" || echo "/nonexistent/$2")
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/shmlog-test-duckdb-XXXXXX)
. "$here/tap.sh"
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR SHMLOG_SAMPLE
unset TZ # times in UTC: the `time` text ends in Z

# DuckDB is installed by scripts/setup.sh, never here: without it this test fails.
vpy=${SHMLOG_TEST_VENV:-/opt/shmlog-test/venv}/bin/python
"$vpy" -c 'import duckdb, pyarrow' 2>/dev/null ||
    bail "$vpy cannot import duckdb and pyarrow (tests/python-requirements.txt): run scripts/setup.sh as root"
[ -e "$libdir/libshmlog-read.so.1" ] || bail "no $libdir/libshmlog-read.so.1: build the library first"
export SHMLOG_READ_LIBRARY=$libdir/libshmlog-read.so.1 PYTHONPATH=$pysrc
# query NAME SQL [--src]: DuckDB's rows as JSON Lines in $tmp/NAME.got (run in $tmp: the SQL reads
# day.jsonl); with --src, `src` and `markers` are shmlog.open() of the collector's files.
query() {
    local name=$1 sql=$2
    shift 2
    if [ "${1:-}" = --src ]; then
        (cd "$tmp" && "$vpy" "$here/duckdb_query.py" --src "$tmp/out" "$sql") >"$tmp/$name.got" 2>"$tmp/$name.err"
    else
        (cd "$tmp" && "$vpy" "$here/duckdb_query.py" "$sql") >"$tmp/$name.got" 2>"$tmp/$name.err"
    fi
}

query version "SELECT version() AS duckdb, extension_name, loaded, install_mode
               FROM duckdb_extensions() WHERE extension_name = 'json'"
check_show "DuckDB runs, its json extension built in (nothing to fetch)" \
    python3 -c "
import json, sys
rows = [json.loads(l) for l in open('$tmp/version.got')]
print(rows, open('$tmp/version.err').read())
assert len(rows) == 1 and rows[0]['loaded'] is True and rows[0]['install_mode'] == 'STATICALLY_LINKED'
"

# ---- a day of logs, in a few seconds: two apps, the trading mix ----
collector_dirs
collector_start "$tmp/collector.log" --dir "$seg" --out "$out" --max-delay-ms 20
# 50000 records/s each: over several seconds (for the per-second counts), and no drops (so
# the counts are the workload's: count + 1 "starting" record per app).
"$SHMLOG_SAMPLE" --app alpha --count 200000 --threads 2 --rate 50000 >"$tmp/alpha.out" 2>&1 &
alpha=$!
"$SHMLOG_SAMPLE" --app beta --count 100000 --threads 1 --rate 50000 >"$tmp/beta.out" 2>&1 &
beta=$!
wait "$alpha"
wait "$beta"
check "the producers dropped nothing" test "$(grep -l ' 0 dropped' "$tmp/alpha.out" "$tmp/beta.out" | wc -l)" -eq 2
check "the collector removes the segments after the exit markers" segments_gone "$seg"
check "collector exits 0 on SIGTERM" collector_stop
"$SHMLOG_DUMP" read --format json "$out" >"$tmp/day.jsonl" 2>"$tmp/dump.err"
check "read --format json exits 0, nothing on stderr" test $? -eq 0 -a ! -s "$tmp/dump.err"

# ---- python's answers, from the same lines (json module; prices as exact decimals) ----
# Records are the lines with a level: loss and exit markers have none (DuckDB: level IS NOT NULL).
cat >"$tmp/expect.py" <<'EOF'
import json, sys
from datetime import datetime, timezone
from decimal import Decimal

tmp = sys.argv[1]
lines = 0
recs = []
with open(tmp + "/day.jsonl") as f:
    for line in f:
        lines += 1
        o = json.loads(line, parse_float=Decimal)
        if "level" in o:
            recs.append(o)

def write(name, rows):
    with open("%s/%s.want" % (tmp, name), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")

def count_by(key):
    d = {}
    for r in recs:
        k = key(r)
        d[k] = d.get(k, 0) + 1
    return d

ts = [r["ts_ns"] for r in recs]
apps = count_by(lambda r: r["app"])
assert apps == {"alpha": 200001, "beta": 100001}, "records by app %s, not the workload's" % apps
write("count", [{"records": len(recs), "min_ts_ns": min(ts), "max_ts_ns": max(ts), "sum_ts_ns": sum(ts)}])

write("levels", [{"app": a, "level": l, "records": n} for (a, l), n in
                 sorted(count_by(lambda r: (r["app"], r["level"])).items())])
# At WARN or above by name, not by a comparison: the level's order is what the Arrow side must keep.
severe = count_by(lambda r: r["level"])
assert severe.get("WARN") and severe.get("ERROR"), "no WARN or no ERROR record to order: %s" % severe
severe_by_app = {}
for r in recs:
    if r["level"] in ("WARN", "ERROR", "FATAL"):
        severe_by_app[r["app"]] = severe_by_app.get(r["app"], 0) + 1
write("severe", [{"app": a, "records": n} for a, n in sorted(severe_by_app.items())])

def second(r):
    return datetime.fromtimestamp(r["ts_ns"] // 10**9, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")

def time_ns(r):
    """The `time` text (RFC 3339, UTC, 9 digits) as ns since the epoch."""
    t = r["time"]
    assert t.endswith("Z") and len(t) == 30, t
    s = datetime.strptime(t[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return int(s.timestamp()) * 10**9 + int(t[20:29])

per_second = {}
for r in recs:
    s = per_second.setdefault(second(r), [0, 0])
    s[0] += 1
    s[1] += time_ns(r) == r["ts_ns"]
assert len(per_second) >= 3, "records over %d seconds only" % len(per_second)
write("seconds", [{"second": k, "records": v[0], "time_agrees": v[1]} for k, v in sorted(per_second.items())])

# new orders: "new order id=%lu sym=%s side=%s px=%.4f qty=%d tif=%c"
groups = {}
for r in recs:
    if r["msg"].startswith("new order "):
        f = r["fields"]
        assert isinstance(f["px"], Decimal) and isinstance(f["qty"], int), f
        g = groups.setdefault((r["app"], f["sym"], f["side"]), {"n": 0, "sites": set(), "qty": 0, "px": [], "notional": 0})
        g["n"] += 1
        g["sites"].add(r["site"])
        g["qty"] += f["qty"]
        g["px"].append(f["px"])
        g["notional"] += f["px"] * f["qty"]
assert len(groups) == 2 * 8 * 2, "groups %s" % sorted(groups)
# DECIMAL(18,5) and its sums print with 5 decimals (python's Decimal formats them exactly); the average of an INTEGER column is the
# double nearest the exact quotient, as python's int / int.
write("orders", [{"app": k[0], "sym": k[1], "side": k[2], "orders": g["n"], "sites": len(g["sites"]),
                  "qty": g["qty"], "avg_qty": g["qty"] / g["n"], "min_px": format(min(g["px"]), ".5f"),
                  "max_px": format(max(g["px"]), ".5f"), "notional": format(g["notional"], ".5f")}
                 for k, g in sorted(groups.items())])
marks = []
with open(tmp + "/day.jsonl") as f:
    for line in f:
        o = json.loads(line)
        if "exit" in o:
            marks.append({"kind": "exit", "app": o["app"], "pid": o["pid"], "records": o["exit"]["records"],
                          "lost": o["exit"]["lost"], "how": o["exit"].get("how")})
assert len(marks) == 2, "exit markers %s" % marks
write("markers", sorted(marks, key=lambda m: (m["app"], m["pid"])))
print("%d lines, %d records, %d seconds, %d order groups, %d exits" % (lines, len(recs), len(per_second), len(groups),
                                                                       len(marks)))
EOF
check_show "python's answers from day.jsonl (the records are the workload's: 200001 alpha, 100001 beta; two exits)" \
    python3 "$tmp/expect.py" "$tmp"

# same NAME: DuckDB's rows are python's, value for value, of the same JSON types (an int is
# not a float, an exact decimal is its text).
cat >"$tmp/same.py" <<'EOF'
import json, sys
got_path, want_path = sys.argv[1:3]
def load(p):
    return [json.loads(l) for l in open(p)]
def typed(row):
    return [(k, type(v).__name__, v) for k, v in row.items()]
got, want = load(got_path), load(want_path)
for r in got[:3]:
    print(json.dumps(r))
if len(got) > 3:
    print("... %d rows" % len(got))
bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if typed(g) != typed(w)]
if len(got) != len(want):
    print("%d rows, expected %d" % (len(got), len(want)))
for i, g, w in bad[:5]:
    print("row %d: DuckDB %s\n       python %s" % (i + 1, json.dumps(g), json.dumps(w)))
sys.exit(1 if bad or len(got) != len(want) else 0)
EOF
same() {
    [ -s "$tmp/$1.err" ] && cat "$tmp/$1.err"
    python3 "$tmp/same.py" "$tmp/$1.got" "$tmp/${2:-$1}.want"
}

# ---- DuckDB's answers ----
# Columns and types given: ts_ns a BIGINT (never a double: 1.8e18 is past 2^53), prices exact
# decimals, quantities the INTEGER their format says; keys not named (exit, loss) are ignored.
day="read_json('day.jsonl', format = 'newline_delimited', columns = {
    ts_ns: 'BIGINT', time: 'VARCHAR', level: 'VARCHAR', app: 'VARCHAR', pid: 'UINTEGER', cpu: 'UINTEGER',
    seq: 'UBIGINT', site: 'VARCHAR', msg: 'VARCHAR',
    fields: 'STRUCT(sym VARCHAR, side VARCHAR, px DECIMAL(18,5), qty INTEGER)'})"

query count "SELECT count(*) AS records, min(ts_ns) AS min_ts_ns, max(ts_ns) AS max_ts_ns, sum(ts_ns) AS sum_ts_ns
             FROM $day WHERE level IS NOT NULL"
check_show "JSON: DuckDB sees every record (level IS NOT NULL), ts_ns to the nanosecond (min, max, sum)" same count
query arrow_count "SELECT count(*) AS records, min(epoch_ns(ts)) AS min_ts_ns, max(epoch_ns(ts)) AS max_ts_ns,
                          sum(epoch_ns(ts)) AS sum_ts_ns FROM src" --src
check_show "Arrow: DuckDB reads shmlog.open()'s stream: every record, ts a timestamp to the nanosecond" \
    same arrow_count count

# read_json_auto guesses the types itself: ts_ns must come out an integer there too.
query auto "SELECT count(*) AS records, min(ts_ns) AS min_ts_ns, max(ts_ns) AS max_ts_ns, sum(ts_ns) AS sum_ts_ns
            FROM read_json_auto('day.jsonl') WHERE level IS NOT NULL"
check "JSON: read_json_auto: the same records and ts_ns (detected as an integer)" same auto count

query levels "SELECT app, level, count(*) AS records FROM $day WHERE level IS NOT NULL GROUP BY ALL ORDER BY ALL"
check_show "JSON: records by app and level" same levels
# The dictionary columns are strings to SQL; ordered as text, as python orders them.
query arrow_levels "SELECT app::VARCHAR AS app, level::VARCHAR AS level, count(*) AS records FROM src
                    GROUP BY ALL ORDER BY ALL" --src
check "Arrow: records by app and level" same arrow_levels levels

# DuckDB reads an Arrow dictionary as VARCHAR, ordered as text ('ERROR' < 'WARN'); shmlog.to_duckdb()'s level
# is the ENUM shmlog_level in level order, which a string compares with once cast to it.
query arrow_severe "SELECT app::VARCHAR AS app, count(*) AS records FROM levels WHERE level >= 'WARN'::shmlog_level
                    GROUP BY ALL ORDER BY ALL" --src
check_show "Arrow: shmlog.to_duckdb(): level >= 'WARN'::shmlog_level counts the WARN, ERROR and FATAL records" \
    same arrow_severe severe
query arrow_text_order "SELECT count(*) FILTER (WHERE level >= 'WARN') AS text_order,
                               count(*) FILTER (WHERE level >= 'WARN'::shmlog_level) AS level_order FROM levels" --src
check_show "Arrow: shmlog.to_duckdb(): the bare string compares as text (WARN alone), the cast in level order" \
    python3 -c "
import json
row = json.load(open('$tmp/arrow_text_order.got'))
severe = sum(r['records'] for r in map(json.loads, open('$tmp/severe.want')))
print(row, severe)
assert row['level_order'] == severe > row['text_order'] > 0
"

# The second is cut from the integer: DuckDB rounds a TIMESTAMP_NS to microseconds before date_trunc, which
# moves a record in the last 500 ns of a second into the next one.
query seconds "SELECT make_timestamp(ts_ns // 1000000000 * 1000000) AS second, count(*) AS records,
                      count(*) FILTER (WHERE time::TIMESTAMP_NS = make_timestamp_ns(ts_ns)) AS time_agrees
               FROM $day WHERE level IS NOT NULL GROUP BY ALL ORDER BY ALL"
check_show "JSON: records per second of ts_ns; the time text parses to the same nanosecond" same seconds
# Each Arrow row next to its JSON line (the same app, process, ring and position): its ts is the `time` text.
query arrow_seconds "SELECT make_timestamp(epoch_ns(a.ts) // 1000000000 * 1000000) AS second, count(*) AS records,
                            count(*) FILTER (WHERE make_timestamp_ns(epoch_ns(a.ts)) = j.time::TIMESTAMP_NS)
                                AS time_agrees
                     FROM src a JOIN $day j ON a.app::VARCHAR = j.app AND a.pid = j.pid AND a.cpu = j.cpu
                                          AND a.seq = j.seq AND j.level IS NOT NULL
                     GROUP BY ALL ORDER BY ALL" --src
check "Arrow: records per second of ts, each at its line's time to the nanosecond" same arrow_seconds seconds

query orders "SELECT app, fields.sym AS sym, fields.side AS side, count(*) AS orders, count(DISTINCT site) AS sites,
                     sum(fields.qty) AS qty, avg(fields.qty) AS avg_qty, min(fields.px) AS min_px,
                     max(fields.px) AS max_px, sum(fields.px * fields.qty) AS notional
              FROM $day WHERE starts_with(msg, 'new order ') GROUP BY ALL ORDER BY ALL"
check_show "JSON: new orders (one call site) by app, symbol and side: count, quantity sum and average, price range, notional" \
    same orders
# The fields are typed columns: px a double (its shortest text is the JSON's, so DECIMAL(18,5) is exact), qty an int.
query arrow_orders "SELECT app::VARCHAR AS app, sym, side, count(*) AS orders, count(DISTINCT site) AS sites,
                           sum(qty) AS qty, avg(qty) AS avg_qty, min(px::DECIMAL(18,5)) AS min_px,
                           max(px::DECIMAL(18,5)) AS max_px, sum(px::DECIMAL(18,5) * qty) AS notional
                    FROM src WHERE starts_with(msg, 'new order ') GROUP BY ALL ORDER BY ALL" --src
check_show "Arrow: the same from the typed columns (px double, qty int32)" same arrow_orders orders

query arrow_markers "SELECT kind::VARCHAR AS kind, app::VARCHAR AS app, pid, exit_records AS records,
                            exit_lost AS lost, exit_how::VARCHAR AS how
                     FROM markers WHERE kind = 'exit' ORDER BY app, pid" --src
check_show "Arrow: the exit markers of shmlog.open(kind=\"markers\")" same arrow_markers markers

tap_done
