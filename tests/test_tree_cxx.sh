#!/bin/bash
# Description: C++ containers (sequences, sets, maps, nested), pairs, tuples, variants, std::optional (of a SHMLOG_STRUCT too), filesystem paths, thread ids, smart pointers, wide strings, steady_clock time points, described enums and structs inside containers, and shmlog_codec types (a class's private fields copied, or formatted at the call) through a real segment, shmlog-collector and shmlog-dump read: every message, in text and in JSON, is what libfmt (fmt/ranges.h, fmt/std.h) prints for the same value; the JSON fields are arrays and objects; shmlog_read_fields() (Python's read) and the Arrow column hold the fmt text; a vector longer than a record holds is cut, flagged truncated and says how many elements did not fit.
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
    if table.schema.field(name).type == pa.string() and got != [text]:
        bad.append(("arrow", name, got, text))
print(len(want), "fields;", bad)
sys.exit(1 if bad else 0)
PY
tap_done
