#!/bin/bash
# Description: C++ calls with {} formats (tests/fmt_producer.cpp) through a real segment, shmlog-collector and shmlog-dump read: every message, in text and in JSON, is what fmt::format prints for the same format and arguments; the fields are named by the text before each placeholder (px={} gives px) or a named argument's name (shmlog::arg("npx", v), "nqty"_a = v) with the argument's value; fill characters, centring, {} widths and precisions, b, a sign in hex, 0x0 and chrono specs print as fmt prints them; the argument that is a lambda's call ran once; std::chrono durations print as fmt prints them (250µs, 3ms, 1.5s) and their fields hold the count; system_clock time points print as fmt 9 prints them, in UTC (2026-01-01 00:00:00; the field holds ns since the epoch) and a lambda's one runs once; std::optional prints as its value or none (its field as the value or null, a lambda's one runs once); SHMLOG_ENUM values print as their names (a value outside the list and {:#x} as numbers; the field holds the value); SHMLOG_STRUCT values print as {name=value, ...} (nested, with enums, strings, optionals, durations and time points as members; a char member as its character and the other one-byte integers as numbers, as they print as arguments) and their fields are nested objects (in shmlog_read_fields() and Arrow, typed columns per member: order.px); each record names its call site's function (func); each call site registered in the producer's meta segment the printf format and descriptor listed in tests/fmt_sites.txt, byte for byte.
# usage: test_fmt_cxx.sh (meson test sets SHMLOG_DUMP, COLLECTOR, FMT_PRODUCER, PYTHON_SRC, READ_LIBRARY)
set -u
tmp=$(mktemp -d /tmp/shmlog-test-fmt-cxx-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR FMT_PRODUCER
collector_dirs
collector_start "$tmp/collector.log" --dir "$seg" --out "$out" --max-delay-ms 20
"$FMT_PRODUCER" >"$tmp/producer.out" 2>"$tmp/producer.err"
check "the producer ran and dropped nothing" test $? -eq 0 -a "$(grep '^done ' "$tmp/producer.out")" = "done 0"
diag "$tmp/producer.err"
check "the argument that is a lambda's call ran once" grep -qx 'calls 1' "$tmp/producer.out"
check "the time point that is a lambda's call ran once" grep -qx 'tcalls 1' "$tmp/producer.out"
check "the std::optional that is a lambda's call ran once" grep -qx 'ocalls 1' "$tmp/producer.out"
check "the SHMLOG_STRUCT that is a lambda's call ran once" grep -qx 'scalls 1' "$tmp/producer.out"
sed -n 's/^want //p' "$tmp/producer.out" >"$tmp/want.txt"
wanted=$(wc -l <"$tmp/want.txt")
check "the producer made its calls" test "$wanted" -ge 18
sed -n 's/^site //p' "$tmp/producer.out" >"$tmp/sites.txt"
check "each site registered the printf format and descriptor of tests/fmt_sites.txt (the translation of its {} format)" \
    diff "$(dirname "$0")/fmt_sites.txt" "$tmp/sites.txt"
check "the collector drained the producer" wait_for 15 bash -c "'$SHMLOG_DUMP' read '$out' 2>/dev/null | grep -q 'EXIT.*fmt-cxx'"
collector_stop

"$SHMLOG_DUMP" read "$out" >"$tmp/read.txt" 2>"$tmp/read.err"
sed -n 's/^.* fmt_producer\.cpp:[0-9]* //p' "$tmp/read.txt" >"$tmp/got.txt"
check_show "text: every message is fmt::format's" diff "$tmp/want.txt" "$tmp/got.txt"

"$SHMLOG_DUMP" read --format json "$out" >"$tmp/read.json" 2>"$tmp/read-json.err"
python3 - "$tmp/read.json" >"$tmp/got-json.txt" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "fmt_producer.cpp:" in r.get("site", ""):
        print(r["msg"])
PY
check_show "JSON: every msg is fmt::format's" diff "$tmp/want.txt" "$tmp/got-json.txt"
check_show "JSON: fields by name with the argument values (px={:.2f} keeps px's value, b={} a bool, a string, a pointer, an empty std::optional null, a SHMLOG_STRUCT a nested object; a char and a described enum as the message shows them: "x", "Sell", an unnamed value's digits)" python3 - "$tmp/read.json" <<'PY'
import json, sys
fields = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    for k, v in r.get("fields", {}).items():
        fields.setdefault(k, v)
want = {"px": 101.255, "qty": 10, "side": "Buy", "venue": "XNAS", "hex": 255, "zero": -42, "b": True,
        "f": False, "str": "Buy", "cut": "abc", "u64": 18446744073709551615, "i8": -5, "lambda": 10,
        "id": 7, "every": 5, "suppressed": 0, "lat": 250, "wait": 3, "h": 1, "d": 1.5, "eside": "Sell", "evenue": "XNYS",
        "eright": "Buy", "eleft": "XNAS", "eout": "9", "ehex": 7, "pside": "Cross", "pvenue": "XNAS",
        "at": 1767225600123456789, "us": 1767225600123456000,
        "oqty": 10, "onone": None, "opx": 2.5, "oname": "XNAS", "ononame": None, "oright": None, "oleft": 10,
        "after": 7, "oside": "Sell", "onoside": None, "oat": 1767225600123456789, "onoat": None, "olat": 250,
        "ob": True, "oonce": None, "pqty": 10, "pnone": None, "pname": None,
        "order": {"id": 7, "px": 2.5, "qty": 10, "side": "Sell", "sym": "AAPL", "tag": 5, "wait": 3,
                  "leg": {"venue": 200, "px": 1.25}, "live": True},
        "sonce": {"venue": 1, "px": 0.1},
        "empty": {"id": 7, "px": 2.5, "qty": 10, "side": "Sell", "sym": 'a "quoted" sym', "tag": None, "wait": 3,
                  "leg": {"venue": 200, "px": 1.25}, "live": True},
        "stamp": {"what": "open", "at": 1767225600123456789, "venue": "XNAS", "next": "ab"}, "opt": None,
        "arr": "XNAS", "char": "x", "code": 120, "npx": 2.5, "nqty": 10, "sfill": "ab", "neg": -7, "hms": 3725,
        "fill": {"side": "B", "sc": -3, "uc": 250, "i8": -5, "u8": 200, "oc": "S"},
        "nofill": {"side": "B", "sc": -3, "uc": 250, "i8": -5, "u8": 200, "oc": None}}
bad = {k: (fields.get(k, "missing"), v) for k, v in want.items()
       if fields.get(k, "missing") != v or type(fields.get(k)) != type(v)}
print(bad)
sys.exit(1 if bad else 0)
PY
sed -n 's/^where //p' "$tmp/producer.out" >"$tmp/where.txt"
check_show "JSON: each record's func is its call site's function (main, a function, a method, a template; a lambda argument's call is main's)" python3 - "$tmp/read.json" "$tmp/where.txt" <<'PY'
import json, sys
where = dict(line.split() for line in open(sys.argv[2]))
bad, seen = [], 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "fmt_producer.cpp:" not in r.get("site", ""):
        continue
    seen += 1
    want = where.get(r["msg"], "main")
    if r.get("func") != want:
        bad.append((r["msg"], r.get("func"), want))
print(seen, "records;", len(where), "outside main; wrong:", bad)
sys.exit(1 if bad or len(where) != 3 or seen < 20 else 0)
PY
# A struct's members as shmlog_read_fields() (libshmlog-read, Python's read) and the Arrow columns give them.
py=${SHMLOG_TEST_VENV:-/opt/shmlog-test/venv}/bin/python
if ! "$py" -c 'import pyarrow' 2>/dev/null; then
    bail "$py lacks pyarrow (tests/python-requirements.txt): run scripts/setup.sh as root"
fi
check_show "libshmlog-read and Arrow: a SHMLOG_STRUCT's members are typed fields of their own (order.px, order.leg.venue; a char member and an enum member strings, as the message shows them); an empty std::optional is null in Arrow" \
    env PYTHONPATH="$PYTHON_SRC" SHMLOG_READ_LIBRARY="$READ_LIBRARY" "$py" - "$out" <<'PY'
import sys, shmlog, pyarrow as pa
want = {"order.id": (7, pa.uint64()), "order.px": (2.5, pa.float64()), "order.qty": (10, pa.int32()),
        "order.side": ("Sell", pa.string()), "order.sym": ("AAPL", pa.string()), "order.tag": (5, pa.int32()),
        "order.wait": (3, pa.int64()), "order.leg.venue": (200, pa.uint8()), "order.leg.px": (1.25, pa.float64()),
        "order.live": (True, pa.bool_()), "sonce.venue": (1, pa.uint8()), "sonce.px": (0.1, pa.float64()),
        "stamp.what": ("open", pa.string()), "stamp.at": (1767225600123456789, pa.int64()),
        "fill.side": ("B", pa.string()), "fill.sc": (-3, pa.int8()), "fill.uc": (250, pa.uint8()),
        "fill.oc": ("S", pa.string()), "char": ("x", pa.string()), "code": (120, pa.int8())}
# each field's record: the message it begins
msgs = {"order": "struct order=", "sonce": "struct order=", "stamp": "stamp=", "fill": "fill=", "char": "char=", "code": "char="}
bad = []
fields = {}
for prefix in set(msgs.values()):
    fields.update(next(e.fields for e in shmlog.read(sys.argv[1]) if e.msg.startswith(prefix)))
table = shmlog.to_arrow(sys.argv[1])
row = [m.as_py() for m in table.column("msg")]
for name, (value, typ) in want.items():
    if fields.get(name) != value:
        bad.append(("read", name, fields.get(name), value))
    if name not in table.column_names or table.schema.field(name).type != typ:
        bad.append(("arrow type", name, name in table.column_names and table.schema.field(name).type, typ))
        continue
    at = next(i for i, m in enumerate(row) if m.startswith(msgs[name.split(".")[0]]))
    if table.column(name)[at].as_py() != value:
        bad.append(("arrow", name, table.column(name)[at].as_py(), value))
# an empty std::optional: null in Arrow (a struct member's and an argument's), 0 in shmlog_read_fields()
empty = next(i for i, m in enumerate(row) if m.startswith("printf struct empty="))
opt = next(i for i, m in enumerate(row) if m.startswith("opt oqty="))
got = (table.column("empty.tag")[empty].as_py(), table.column("empty.qty")[empty].as_py(),
       table.column("onone")[opt].as_py(), table.column("oqty")[opt].as_py(), table.column("ononame")[opt].as_py())
if got != (None, 10, None, 10, None):
    bad.append(("arrow nulls", got))
if next(e.fields for e in shmlog.read(sys.argv[1]) if e.msg.startswith("printf struct empty="))["empty.tag"] != 0:
    bad.append("shmlog_read_fields of an empty optional is not 0")
if "order" in fields or "order" in table.column_names:
    bad.append("the struct itself is a field")
print(bad)
sys.exit(1 if bad else 0)
PY
tap_done
