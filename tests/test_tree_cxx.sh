#!/bin/bash
# Description: C++ containers (sequences, sets, maps, nested), pairs, tuples, variants, std::optional (of a SHMLOG_STRUCT too), filesystem paths, thread ids, smart pointers, wide strings, steady_clock time points, described enums and structs inside containers, and shmlog_codec types (a class's private fields copied, or formatted at the call) through a real segment, shmlog-collector and shmlog-dump read: every message, in text and in JSON, is what libfmt (fmt/ranges.h, fmt/std.h) prints for the same value; the JSON fields are arrays and objects; shmlog_read_fields() (Python's read) holds the fmt text, and the Arrow column too, but a list, map or struct (a pair, a tuple: fields 0, 1, ...) column of typed values where the field's sites give one shape (equal to the values written, through pyarrow, polars and DuckDB), the text where they give two; a vector longer than a record holds is cut, flagged truncated and says how many elements did not fit.
# usage: test_tree_cxx.sh (meson test sets SHMLOG_DUMP, COLLECTOR, TREE_PRODUCER, PYTHON_SRC, READ_LIBRARY)
set -u
tmp=$(mktemp -d /tmp/shmlog-test-tree-cxx-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR TREE_PRODUCER
collector_dirs
collector_start "$tmp/collector.log" --dir "$seg" --out "$out" --max-delay-ms 20
"$TREE_PRODUCER" >"$tmp/producer.out" 2>"$tmp/producer.err"
check "the producer ran and dropped nothing" test $? -eq 0 -a "$(grep '^done ' "$tmp/producer.out")" = "done 0"
diag "$tmp/producer.err"
sed -n 's/^want //p' "$tmp/producer.out" >"$tmp/want.txt"
check "the producer made its calls" test "$(wc -l <"$tmp/want.txt")" -ge 45
check "the collector drained the producer" wait_for 15 bash -c "'$SHMLOG_DUMP' read '$out' 2>/dev/null | grep -q 'EXIT.*tree-cxx'"
collector_stop

"$SHMLOG_DUMP" read "$out" >"$tmp/read.txt" 2>"$tmp/read.err"
sed -n 's/^.* tree_producer\.cpp:[0-9]* //p' "$tmp/read.txt" | grep -v '^many=' >"$tmp/got.txt"
check_show "text: every message is libfmt's" diff "$tmp/want.txt" "$tmp/got.txt"

"$SHMLOG_DUMP" read --format json "$out" >"$tmp/read.json" 2>"$tmp/read-json.err"
check_show "JSON: every msg is libfmt's; the fields are arrays and objects; the cut vector is truncated and marked" \
    python3 - "$tmp/read.json" "$tmp/want.txt" "$tmp/producer.out" <<'PY'
import json, sys
want = [l.rstrip("\n") for l in open(sys.argv[2])]
fields, msgs, bad, many = {}, [], [], None
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "tree_producer.cpp:" not in r.get("site", ""):
        continue
    if r["msg"].startswith("many="):
        many = r
        continue
    msgs.append(r["msg"])
    fields.update(r["fields"])
if msgs != want:
    bad.append(("msgs", [(m, w) for m, w in zip(msgs, want) if m != w], len(msgs), len(want)))
for l in open(sys.argv[3]):
    if l.startswith("json "):
        _, name, value = l.rstrip("\n").split(" ", 2)
        if fields.get(name, "missing") != json.loads(value):
            bad.append((name, fields.get(name, "missing"), value))
total = int(next(l.split()[1] for l in open(sys.argv[3]) if l.startswith("cut ")))
if many is None:
    bad.append("no cut record")
else:
    shown = many["fields"]["many"]
    text = many["msg"]
    more = int(text.rsplit("... ", 1)[1].split(" more]")[0]) if " more]" in text else -1
    if shown != list(range(len(shown))) or len(shown) < 10 or len(shown) + more != total or not many.get("truncated"):
        bad.append(("cut", len(shown), more, total, many.get("truncated")))
print(bad)
sys.exit(1 if bad else 0)
PY
check "text: the cut vector ends in how many elements did not fit, flagged truncated" \
    grep -qE 'many=\[0, 1, 2, .*, [0-9]+, \.\.\. [0-9]+ more\] <truncated>$' "$tmp/read.txt"

py=${SHMLOG_TEST_VENV:-/opt/shmlog-test/venv}/bin/python
if ! "$py" -c 'import pyarrow' 2>/dev/null; then
    bail "$py lacks pyarrow (tests/python-requirements.txt): run scripts/setup.sh as root"
fi
check_show "libshmlog-read and Arrow: a value tree's field and column hold its fmt text" \
    env PYTHONPATH="$PYTHON_SRC" SHMLOG_READ_LIBRARY="$READ_LIBRARY" "$py" - "$out" "$tmp/want.txt" "$tmp/producer.out" <<'PY'
import sys, shmlog, pyarrow as pa
want = dict(l.rstrip("\n").split("=", 1) for l in open(sys.argv[2]))
for l in open(sys.argv[3]):  # a call of several trees: its first field's text
    if l.startswith("field "):
        _, name, text = l.rstrip("\n").split(" ", 2)
        want[name] = text
bad = []
read = {}
for e in shmlog.read(sys.argv[1]):
    read.update(e.fields)
table = shmlog.to_arrow(sys.argv[1])
for name, text in want.items():
    if read.get(name) != text and str(read.get(name)) != text:
        bad.append(("read", name, read.get(name), text))
    if name not in table.column_names:
        bad.append(("no column", name))
        continue
    got = [v for v in table.column(name).to_pylist() if v is not None]
    if table.schema.field(name).type == pa.string() and got[-1:] != [text]:  # a name of several sites: the last
        bad.append(("arrow", name, got, text))
print(len(want), "fields;", bad)
sys.exit(1 if bad else 0)
PY

check_show "Arrow: a tree's field of one shape is a list, map or struct (a pair's, a tuple's) column of typed values, equal to the values written (a cut one's whole elements); of two shapes, the text; polars and DuckDB read them" \
    env PYTHONPATH="$PYTHON_SRC" SHMLOG_READ_LIBRARY="$READ_LIBRARY" "$py" - "$out" "$tmp/producer.out" "$tmp/read.json" <<'PY'
import json, sys, shmlog, pyarrow as pa
table = shmlog.to_arrow(sys.argv[1])
bad, checked = [], 0
for l in open(sys.argv[2]):
    kind, name, *value = l.rstrip("\n").split(" ", 2)
    if kind not in ("arrow", "arrowtext"):
        continue
    checked += 1
    t = table.schema.field(name).type
    got = [json.loads(json.dumps(v)) for v in table.column(name).to_pylist() if v is not None]
    if kind == "arrowtext":
        if t != pa.string():
            bad.append(("not text", name, str(t)))
    elif not (pa.types.is_list(t) or pa.types.is_map(t) or pa.types.is_struct(t)) or got != [json.loads(value[0])]:
        bad.append((name, str(t), got, value[0]))
many = next(json.loads(l)["fields"]["many"] for l in open(sys.argv[3]) if '"many=' in l)
if table.column("many").drop_null().to_pylist() != [many]:
    bad.append(("many", table.column("many").drop_null().to_pylist()[:1], len(many)))
if not pa.types.is_list(table.schema.field("doubles").type) or table.schema.field("doubles").type.value_type != pa.float64():
    bad.append(("doubles type", str(table.schema.field("doubles").type)))
table.validate(full=True)
try:
    import polars, duckdb
except ImportError:
    polars = duckdb = None
if polars is not None:
    df = polars.from_arrow(table.select(["doubles", "map", "nested"]))
    if df["nested"].drop_nulls().to_list() != [[[1, 2], [], [3]]]:
        bad.append(("polars", df["nested"].drop_nulls().to_list()))
    con = duckdb.connect()
    con.register("t", table.select(["map", "doubles"]))
    q = "select (select map['b'] from t where map is not null), (select [doubles[1], len(doubles)] from t where doubles is not null)"
    if con.sql(q).fetchall() != [(2, [1.5, 5])]:
        bad.append(("duckdb", con.sql(q).fetchall()))
print(checked, "columns;", bad)
sys.exit(1 if bad or checked < 20 else 0)
PY
tap_done
