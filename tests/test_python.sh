#!/bin/bash
# Description: the Python package (python/) installs offline with pip into a venv, binds libshmlog-read with the header's exact struct layouts, and reads what shmlog-dump reads: on every corpus file, on files the real collector wrote, with each filter and time string, and on damaged files, shmlog.read() gives the events of `read --format json` key for key with exact types; shmlog.open()'s Arrow stream, read by pyarrow (and equally by polars), holds the same records and markers value for value in typed columns, as does to_arrow(), to_parquet() and `python -m shmlog export` read back, and dataframe()/losses() with the documented dtypes; the GIL is free while C decodes; damage is a warning (or error events), never a crash; and without pyarrow the Arrow calls say so while read() works.
# usage: test_python.sh CORPUS_DIR LIBDIR PYTHON_SRC (meson test sets SHMLOG_DUMP, COLLECTOR, SHMLOG_SAMPLE)
set -u
# absolute: the test runs in its scratch directory
abs() { realpath -e -- "$1" || echo "/nonexistent/$1"; }
corpus=$(abs "$1")
libdir=$(abs "$2")
pysrc=$(abs "$3")
header_dir=$(abs "$(dirname "$0")/../read/include") # shmlog_read.h, for the layout check
tmp=$(mktemp -d /tmp/shmlog-test-python-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR SHMLOG_SAMPLE
unset TZ
# The venv scripts/setup.sh makes: pyarrow, polars, duckdb and pandas, pinned (tests/python-requirements.txt).
shared=${SHMLOG_TEST_VENV:-/opt/shmlog-test/venv}
"$shared/bin/python" -c 'import venv, ensurepip, setuptools, pyarrow, polars, pandas' 2>/dev/null ||
    bail "$shared lacks venv, setuptools, pyarrow, polars or pandas (tests/python-requirements.txt): run scripts/setup.sh as root"
lib=$libdir/libshmlog-read.so.1
[ -e "$lib" ] || bail "no $lib: build the library first"

# ---- install: offline, from a copy (a build writes build/ and *.egg-info beside the sources) ----
# A venv of its own for the package, which sees the shared venv's packages (a .pth file) before
# Debian's (setuptools and wheel, to build it offline).
cp -r "$pysrc" "$tmp/src"
rm -rf "$tmp/src/build" "$tmp/src"/*.egg-info
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
site=$("$shared/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
check "python3 -m venv; pip install --no-build-isolation --no-index python/" \
    bash -c "'$shared/bin/python' -m venv --system-site-packages '$tmp/venv' &&
             echo '$site' >\"\$('$tmp/venv/bin/python' -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])')/shared.pth\" &&
             '$tmp/venv/bin/pip' install --no-build-isolation --no-index '$tmp/src'"
vpy=$tmp/venv/bin/python
[ -x "$vpy" ] || bail "no venv"
export SHMLOG_READ_LIBRARY=$lib
cd "$tmp" || bail "cd $tmp" # the sources are not on sys.path: the installed package is what runs
check "the installed package is imported, from the venv, and loads the library (API version 6)" "$vpy" -c "
import shmlog, shmlog._native as n
assert shmlog.__file__.startswith('$tmp/venv/'), shmlog.__file__
assert n.library().shmlog_read_version() == 6
"

cat >"$tmp/pycheck.py" <<'EOF'
"""Checks of the shmlog package against shmlog-dump: pycheck.py COMMAND ARGS."""
import datetime as dt
import json
import math
import os
import struct
import subprocess
import sys
import warnings

import shmlog

RECORD_KEYS = ["ts_ns", "time", "level", "category", "host", "app", "pid", "tid", "cpu", "seq", "site", "msg",
               "fields"]
OPTIONAL_KEYS = ["truncated", "clamped", "backtrace", "time_uncertain", "error", "func", "thread", "instance"]
UINT32_MAX = 4294967295
failures = []


def fail(msg):
    failures.append(msg)


def finish(summary=""):
    for f in failures[:30]:
        print(f)
    if len(failures) > 30:
        print("... and %d more" % (len(failures) - 30))
    if summary and not failures:
        print(summary)
    sys.exit(1 if failures else 0)


def run_dump(dump, paths, opts=()):
    """(objects, stderr lines, exit status) of read --format json."""
    p = subprocess.run([dump, "read", "--format", "json", *paths, *opts], capture_output=True)
    out = p.stdout.decode("utf-8")  # strict: the dump's JSON is valid UTF-8
    # split on "\n" only: a message may hold U+2028, which str.splitlines() splits on
    objs = [json.loads(line) for line in out.split("\n") if line]
    return objs, [l for l in p.stderr.decode("utf-8", "replace").split("\n") if l], p.returncode


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def same_value(j, p):
    """A JSON field value and the Python one: same type, same value."""
    if isinstance(j, bool) or isinstance(p, bool):
        return type(j) is type(p) and j == p
    if isinstance(j, int):
        return type(p) is int and j == p
    if j is None:  # NaN and infinities
        return type(p) is float and not math.isfinite(p)
    if isinstance(j, float):
        if type(p) is not float or not math.isfinite(p) or math.copysign(1, j) != math.copysign(1, p):
            return False
        if j == p:
            return True
        # an f32 argument: exactly widened in Python, its shortest float32 form in the JSON
        try:
            return f32(p) == p and f32(j) == p
        except OverflowError:
            return False
    if isinstance(j, str):
        return type(p) is str and j == p
    return False


def kind_of(j):
    return "loss" if "loss" in j else "exit" if "exit" in j else "record"


def diff_event(i, j, e):
    """Differences between dump line i and Python event e."""
    out = []

    def ne(key, want, got):
        out.append("event %d (%s pid %s seq %s): %s: dump %r, python %r" % (
            i, kind_of(j), j.get("pid"), j.get("seq"), key, want, got))

    kind = kind_of(j)
    if e.kind != kind:
        ne("kind", kind, e.kind)
        return out
    for k in ("ts_ns", "host", "app", "pid"):
        if not same_value(j[k], getattr(e, k)):
            ne(k, j[k], getattr(e, k))
    if j.get("instance") != e.instance:
        ne("instance", j.get("instance"), e.instance)
    if kind == "record":
        extra = set(j) - set(RECORD_KEYS) - set(OPTIONAL_KEYS)
        if extra:
            ne("keys unknown to the test", sorted(extra), None)
        for k in ("level", "category", "tid", "cpu", "seq"):
            if not same_value(j[k], getattr(e, k)):
                ne(k, j[k], getattr(e, k))
        if j["site"] != e.site or (e.site is not None and type(e.site) is not str):
            ne("site", j["site"], e.site)
        if j.get("func") != e.func:
            ne("func", j.get("func"), e.func)
        if j.get("thread") != e.thread:
            ne("thread", j.get("thread"), e.thread)
        if j.get("error") == "unknown site":
            if e.msg is not None or not j["msg"].startswith("<unknown site "):
                ne("msg (unknown site: None)", j["msg"], e.msg)
        elif not same_value(j["msg"], e.msg):
            ne("msg", j["msg"], e.msg)
        if type(e.fields) is not dict or list(j["fields"]) != list(e.fields):
            ne("field names", list(j["fields"]), e.fields and list(e.fields))
        else:
            for name, v in j["fields"].items():
                if not same_value(v, e.fields[name]):
                    ne("fields[%r]" % name, v, e.fields[name])
        for k in ("truncated", "clamped", "backtrace", "time_uncertain"):
            if j.get(k, False) is not getattr(e, k):
                ne(k, j.get(k, False), getattr(e, k))
        if j.get("error") != e.error:
            ne("error", j.get("error"), e.error)
        sec, ns = divmod(e.ts_ns, 10**9)
        want_time = dt.datetime.fromtimestamp(sec, dt.timezone.utc) + dt.timedelta(microseconds=ns // 1000)
        if e.time != want_time or e.time.tzinfo is None:
            ne("time", want_time, e.time)
    elif kind == "loss":
        want_cpu = None if j["cpu"] == UINT32_MAX else j["cpu"]
        if want_cpu != e.cpu:
            ne("cpu", j["cpu"], e.cpu)
        for k in ("reason", "records", "positions", "first_seq"):
            if not same_value(j["loss"][k], getattr(e, "loss_" + k)):
                ne("loss." + k, j["loss"][k], getattr(e, "loss_" + k))
    else:
        for k in ("records", "lost"):
            if not same_value(j["exit"][k], getattr(e, "exit_" + k)):
                ne("exit." + k, j["exit"][k], getattr(e, "exit_" + k))
        if j["exit"].get("how") != e.exit_how:
            ne("exit.how", j["exit"].get("how"), e.exit_how)
    return out


def compare_streams(what, objs, events):
    if len(objs) != len(events):
        fail("%s: dump %d lines, python %d events" % (what, len(objs), len(events)))
    for i, (j, e) in enumerate(zip(objs, events)):
        for d in diff_event(i, j, e):
            fail("%s: %s" % (what, d))


def cmd_stream(dump, *paths):
    """read(kinds=KINDS) equals read --format json line for line (and the
    corpus's checked-in output, which no build of the library made); its
    error and note events are the dump's stderr lines; no warning when
    errors are yielded."""
    golden = None
    if paths[0].startswith("--golden="):
        golden = paths[0][len("--golden="):]
        paths = paths[1:]
    objs, err, status = run_dump(dump, paths)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        events = list(shmlog.read(list(paths), kinds=shmlog.KINDS))
    for x in w:
        fail("a warning with kinds=KINDS: %s" % x.message)
    shown = [e for e in events if e.kind in ("record", "loss", "exit")]
    compare_streams(" ".join(paths), objs, shown)
    if golden:
        with open(golden, encoding="utf-8") as f:
            compare_streams(golden, [json.loads(l) for l in f.read().split("\n") if l], shown)
    said = ["shmlog-dump: " + ("note: " if e.kind == "note" else "") + e.error for e in events
            if e.kind in ("error", "note")]
    if said != err:
        fail("error and note events %r, the dump's stderr %r" % (said, err))
    if status != (1 if any(e.kind == "error" for e in events) else 0):
        fail("dump exit status %d, python error events %d" % (status, sum(e.kind == "error" for e in events)))
    n = {k: sum(e.kind == k for e in events) for k in shmlog.KINDS}
    finish("%d lines equal: %d records, %d losses, %d exits, %d errors, %d notes" % (
        len(objs), n["record"], n["loss"], n["exit"], n["error"], n["note"]))


def arrow_ts(ns):
    """A time as an Arrow timestamp[ns] holds it: past 2262 (a clamped 2^64 - 1), its largest value."""
    return min(ns, 2**63 - 1)


def plain(v):
    import numpy as np
    return v.item() if isinstance(v, np.generic) else v


FIXED = ["ts", "level", "category", "app", "host", "pid", "tid", "cpu", "seq", "site", "func", "msg", "truncated", "clamped",
         "backtrace", "time_uncertain", "error", "thread", "instance"]
KIND_SUFFIXES = ("", ".int", ".uint", ".float", ".bool", ".str", ".ptr")


def field_value_ok(want, got, arrow_type):
    """A JSON field value and the Arrow one (as to_pylist() gives it)."""
    import pyarrow as pa
    if isinstance(want, str) and want.startswith("0x") and pa.types.is_unsigned_integer(arrow_type):
        return type(got) is int and got == int(want, 16)  # a pointer: the JSON shows it in hex
    return same_value(want, got)


def check_records_table(what, recs, t, row0=0):
    """The records of the dump (JSON objects) and the Arrow table t, row for row and value for value."""
    import pyarrow as pa
    want_types = {"ts": pa.timestamp("ns", tz="UTC"), "pid": pa.uint32(), "tid": pa.uint32(), "cpu": pa.uint32(),
                  "seq": pa.uint64(), "msg": pa.string(), "truncated": pa.bool_(), "clamped": pa.bool_(),
                  "backtrace": pa.bool_(), "time_uncertain": pa.bool_()}
    if t.column_names[:len(FIXED)] != FIXED:
        fail("%s: the fixed columns first, in order: %s" % (what, t.column_names[:len(FIXED)]))
        return
    for c, ty in want_types.items():
        if t.schema.field(c).type != ty:
            fail("%s: column %s is %s, expected %s" % (what, c, t.schema.field(c).type, ty))
    for c in ("level", "category", "app", "host", "site", "func", "error", "thread", "instance"):
        ty = t.schema.field(c).type
        if not pa.types.is_dictionary(ty) or ty.value_type != pa.string():
            fail("%s: column %s is %s, expected a dictionary of strings" % (what, c, ty))
    if not t.schema.field("level").type.ordered:
        fail("%s: level is not an ordered dictionary" % what)
    if t.num_rows != len(recs):
        fail("%s: %d rows, the dump %d records" % (what, t.num_rows, len(recs)))
        return
    cols = {c: t.column(c).to_pylist() for c in t.column_names}
    ts_ns = t.column("ts").cast(pa.int64()).to_pylist()
    field_cols = [c for c in t.column_names if c not in FIXED]
    for i, o in enumerate(recs):
        bad = []
        if ts_ns[i] != arrow_ts(o["ts_ns"]):
            bad.append(("ts", o["ts_ns"], ts_ns[i]))
        for c in ("level", "category", "app", "host", "pid", "tid", "cpu", "seq", "site"):
            if not (same_value(o[c], cols[c][i]) or (o[c] is None and cols[c][i] is None)):
                bad.append((c, o[c], cols[c][i]))
        msg = None if o.get("error") == "unknown site" else o["msg"]
        if cols["msg"][i] != msg:
            bad.append(("msg", msg, cols["msg"][i]))
        for k in ("truncated", "clamped", "backtrace", "time_uncertain"):
            if cols[k][i] is not o.get(k, False):
                bad.append((k, o.get(k, False), cols[k][i]))
        if cols["error"][i] != o.get("error"):
            bad.append(("error", o.get("error"), cols["error"][i]))
        if cols["func"][i] != o.get("func"):
            bad.append(("func", o.get("func"), cols["func"][i]))
        if cols["thread"][i] != o.get("thread"):
            bad.append(("thread", o.get("thread"), cols["thread"][i]))
        if cols["instance"][i] != o.get("instance"):
            bad.append(("instance", o.get("instance"), cols["instance"][i]))
        # each field in exactly one column, of its kind; every other field column null
        holds = set()
        for name, v in o["fields"].items():
            prefix = "field." if name in FIXED or name == "fields" else ""
            cands = [prefix + name + k for k in KIND_SUFFIXES if prefix + name + k in cols]
            full = [c for c in cands if cols[c][i] is not None]
            if len(full) != 1 or not field_value_ok(v, cols[full[0]][i], t.schema.field(full[0]).type):
                bad.append(("field " + name, v, {c: cols[c][i] for c in cands}))
            holds.update(full)
        extra = [c for c in field_cols if c not in holds and cols[c][i] is not None]
        if extra:
            bad.append(("columns no field of the record", None, {c: cols[c][i] for c in extra}))
        if o.get("error") == "corrupt payload" and holds:
            bad.append(("a corrupt record's fields", None, holds))
        for b in bad[:3]:
            fail("%s row %d (pid %s seq %s): %s: dump %r, arrow %r" % (what, row0 + i, o["pid"], o["seq"], *b))
        if bad and len(failures) > 20:
            return


def check_markers_table(what, marks, t):
    import pyarrow as pa
    names = ["ts", "kind", "app", "host", "pid", "cpu", "loss_reason", "loss_records", "loss_positions",
             "loss_first_seq", "exit_records", "exit_lost", "exit_how", "instance"]
    if t.column_names != names:
        fail("%s: markers' columns %s" % (what, t.column_names))
        return
    if t.num_rows != len(marks):
        fail("%s: %d marker rows, the dump %d markers" % (what, t.num_rows, len(marks)))
        return
    rows = t.to_pylist()
    ts_ns = t.column("ts").cast(pa.int64()).to_pylist()
    for i, (o, r) in enumerate(zip(marks, rows)):
        k = kind_of(o)
        want = (arrow_ts(o["ts_ns"]), k, o["app"], o["host"], o["pid"], None if k == "exit" or o["cpu"] == UINT32_MAX else o["cpu"],
                o["loss"]["reason"] if k == "loss" else None, o["loss"]["records"] if k == "loss" else None,
                o["loss"]["positions"] if k == "loss" else None, o["loss"]["first_seq"] if k == "loss" else None,
                o["exit"]["records"] if k == "exit" else None, o["exit"]["lost"] if k == "exit" else None,
                o["exit"].get("how") if k == "exit" else None, o.get("instance"))
        got = (ts_ns[i], r["kind"], r["app"], r["host"], r["pid"], r["cpu"], r["loss_reason"], r["loss_records"],
               r["loss_positions"], r["loss_first_seq"], r["exit_records"], r["exit_lost"], r["exit_how"], r["instance"])
        if got != want:
            fail("%s marker %d: dump %r, arrow %r" % (what, i, want, got))
            return


def column_values(col):
    """A column's values as python's, dictionaries as their strings, NaN as a marker equal to itself."""
    import pyarrow as pa
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    nan = ("NaN",)
    return [nan if isinstance(v, float) and v != v else v for v in col.to_pylist()]


def same_table(a, b):
    """Two tables of the same columns and values, however they are cut into batches."""
    return a.column_names == b.column_names and all(
        column_values(a.column(c)) == column_values(b.column(c)) for c in a.column_names)


def cmd_arrow(dump, *paths):
    """shmlog.open(): pyarrow's table of its stream holds the dump's records
    value for value (typed fields, nulls elsewhere), its markers' stream the
    dump's markers; polars reads the same stream to the same values;
    to_arrow(), to_parquet() (read back, row groups, zstd) and python -m
    shmlog export are that table."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import polars as pl
    objs, _, _ = run_dump(dump, paths)
    recs = [o for o in objs if kind_of(o) == "record"]
    marks = [o for o in objs if kind_of(o) != "record"]
    src = shmlog.open(list(paths))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = pa.table(src)
    check_records_table("pa.table(open())", recs, t)
    small = pa.RecordBatchReader.from_stream(shmlog.open(list(paths), batch_rows=3))
    batches = list(small)
    if any(b.num_rows > 3 for b in batches) or (recs and len(batches) < (len(recs) + 2) // 3):
        fail("batch_rows=3: batches of %s rows" % [b.num_rows for b in batches])
    t3 = pa.Table.from_batches(batches, small.schema)
    if not same_table(t3, t):
        fail("batches of 3 rows are not the same table")
    if not same_table(shmlog.to_arrow(list(paths)), t):
        fail("to_arrow() is not pa.table(open())")
    m = pa.table(shmlog.open(list(paths), kind="markers"))
    check_markers_table("open(kind='markers')", marks, m)
    # polars: the same stream, the same values
    df = pl.DataFrame(shmlog.open(list(paths)))
    if df.shape != (t.num_rows, t.num_columns) or df.columns != t.column_names:
        fail("polars: shape %s columns %s" % (df.shape, df.columns[:20]))
    else:
        back = df.to_arrow()
        for c in t.column_names:
            if column_values(t.column(c)) != column_values(back.column(c)):
                fail("polars: column %s differs" % c)
                break
    # Parquet: zstd, row groups of at most row_group_rows, read back equal
    out = os.path.join(os.getcwd(), "t%d.parquet" % os.getpid())
    rows = shmlog.to_parquet(list(paths), out, row_group_rows=10)
    f = pq.ParquetFile(out)
    groups = [f.metadata.row_group(g).num_rows for g in range(f.metadata.num_row_groups)]
    codecs = {f.metadata.row_group(g).column(c).compression for g in range(f.metadata.num_row_groups)
              for c in range(f.metadata.num_columns)}
    back = pq.read_table(out)
    if rows != t.num_rows or sum(groups) != rows or any(g != 10 for g in groups[:-1]) or groups[-1] > 10 or \
            codecs - {"ZSTD"}:
        fail("to_parquet: %d rows, row groups %s, codecs %s" % (rows, groups, codecs))
    if not same_table(back, t):
        fail("to_parquet: read back differs")
    p = subprocess.run([sys.executable, "-m", "shmlog", "export", *paths, out + ".cli"], capture_output=True,
                       text=True)
    if p.returncode != 0 or p.stdout.strip() != "%d rows written to %s" % (rows, out + ".cli") or \
            not same_table(pq.read_table(out + ".cli"), t):
        fail("python -m shmlog export: status %d, %r %r" % (p.returncode, p.stdout, p.stderr))
    os.unlink(out)
    os.unlink(out + ".cli")
    finish("%d rows x %d columns (%d fields), %d markers; polars, to_arrow, Parquet (%d row groups) agree" % (
        t.num_rows, t.num_columns, t.num_columns - len(FIXED), m.num_rows, len(groups)))


def cmd_frame(dump, *paths):
    """dataframe(): the dump's records, fixed columns with their dtypes, one
    column per field (a numpy dtype when every row has it, pandas' nullable
    one otherwise), and losses() its markers."""
    import pandas as pd
    objs, _, _ = run_dump(dump, paths)
    recs = [o for o in objs if kind_of(o) == "record"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = shmlog.dataframe(list(paths))
    if len(df) != len(recs):
        fail("%d rows, the dump %d records" % (len(df), len(recs)))
        finish()
    fixed = {"ts": "datetime64[ns, UTC]", "level": "category", "category": "category", "app": "category",
             "host": "category", "pid": "uint32", "tid": "uint32", "cpu": "uint32", "seq": "uint64", "site": "category",
             "func": "category", "msg": "str", "truncated": "bool", "clamped": "bool", "backtrace": "bool",
             "time_uncertain": "bool", "error": "category", "thread": "category", "instance": "category"}
    if list(df.columns[:len(fixed)]) != list(fixed):
        fail("the fixed columns first, in order: %s" % list(df.columns))
    for c, t in fixed.items():
        if c not in df.columns or str(df[c].dtype) != t:
            fail("column %s: dtype %s, expected %s" % (c, c in df.columns and df[c].dtype, t))
    if list(df["level"].cat.categories) != list(shmlog.LEVELS) or not df["level"].cat.ordered:
        fail("level: an ordered Categorical of %s" % (shmlog.LEVELS,))
    if df["ts"].astype("int64").tolist() != [arrow_ts(o["ts_ns"]) for o in recs]:
        fail("ts differs from ts_ns")
    for c in ("level", "category", "app", "host", "pid", "tid", "cpu", "seq"):
        got = [plain(v) for v in df[c].tolist()]
        for i, o in enumerate(recs):
            if not same_value(o[c], got[i]):
                fail("row %d: %s: dump %r, dataframe %r" % (i, c, o[c], got[i]))
                break
    for i, o in enumerate(recs):
        msg = None if o.get("error") == "unknown site" else o["msg"]
        m = df["msg"].iloc[i]
        if (m if isinstance(m, str) else None) != msg:
            fail("row %d: msg: dump %r, dataframe %r" % (i, msg, m))
            break
        e = df["error"].iloc[i]
        if (e if isinstance(e, str) else None) != o.get("error"):
            fail("row %d: error: dump %r, dataframe %r" % (i, o.get("error"), e))
            break
        th = df["thread"].iloc[i]
        if (th if isinstance(th, str) else None) != o.get("thread"):
            fail("row %d: thread: dump %r, dataframe %r" % (i, o.get("thread"), th))
            break
        ins = df["instance"].iloc[i]
        if (ins if isinstance(ins, str) else None) != o.get("instance"):
            fail("row %d: instance: dump %r, dataframe %r" % (i, o.get("instance"), ins))
            break
    allowed_full = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64",
                    "bool", "str"}
    allowed_nullable = {"Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Float32", "Float64",
                        "boolean", "str"}
    nfield = 0
    for c in df.columns[len(fixed):]:
        nfield += 1
        col = df[c]
        t = str(col.dtype)
        has = col.notna().tolist()
        if t not in (allowed_full if all(has) else allowed_nullable):
            fail("column %s: dtype %s (%s)" % (c, t, "every row has it" if all(has) else "some rows lack it"))
        name = c[len("field."):] if c.startswith("field.") else c
        base, _, kind = name.rpartition(".")
        if kind not in ("int", "uint", "float", "bool", "str", "ptr") or not base:
            base = name
        vals = col.tolist()
        for i, o in enumerate(recs):
            if has[i] and base in o["fields"]:
                w, g = o["fields"][base], plain(vals[i])
                if isinstance(w, str) and w.startswith("0x"):
                    w = int(w, 16)
                if not (same_value(w, g) or (w is None and isinstance(g, float) and math.isnan(g))):
                    fail("row %d: column %s: dump %r, dataframe %r" % (i, c, w, g))
                    break
            elif has[i]:
                fail("row %d: column %s has %r, the record no field %s" % (i, c, vals[i], base))
                break
    marks = [o for o in objs if kind_of(o) != "record"]
    lf = shmlog.losses(list(paths))
    want_dtypes = {"ts": "datetime64[ns, UTC]", "kind": "category", "pid": "uint32", "cpu": "UInt32",
                   "loss_records": "UInt64", "exit_lost": "UInt64"}
    if len(lf) != len(marks):
        fail("losses(): %d rows, the dump %d markers" % (len(lf), len(marks)))
    for c, t in want_dtypes.items():
        if str(lf[c].dtype) != t:
            fail("losses() column %s: dtype %s, expected %s" % (c, lf[c].dtype, t))
    for i, o in enumerate(marks[:len(lf)]):
        r = lf.iloc[i]
        k = kind_of(o)
        got = (r["ts"].value, r["kind"], r["app"], int(r["pid"]), None if r["cpu"] is pd.NA else int(r["cpu"]),
               None if r["loss_records"] is pd.NA else int(r["loss_records"]),
               None if r["exit_lost"] is pd.NA else int(r["exit_lost"]),
               r["loss_reason"] if isinstance(r["loss_reason"], str) else None,
               r["exit_how"] if isinstance(r["exit_how"], str) else None)
        want = (arrow_ts(o["ts_ns"]), k, o["app"], o["pid"], None if k == "exit" or o["cpu"] == UINT32_MAX else o["cpu"],
                o["loss"]["records"] if k == "loss" else None, o["exit"]["lost"] if k == "exit" else None,
                o["loss"]["reason"] if k == "loss" else None, o["exit"].get("how") if k == "exit" else None)
        if got != want:
            fail("losses() row %d: dump %r, python %r" % (i, want, got))
            break
    finish("%d rows, %d field columns; %d markers" % (len(df), nfield, len(marks)))


def rfc3339(ns, offset=0):
    """ns as "YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ", or in a zone offset seconds east of UTC."""
    sec, frac = divmod(ns, 10**9)
    t = dt.datetime.fromtimestamp(sec + offset, dt.timezone.utc)
    zone = "Z" if not offset else "%+03d:%02d" % (offset // 3600, offset % 3600 // 60)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%09d" % frac + zone


def cmd_filters(dump, *paths):
    """Each filter of read() selects exactly what the dump's option does,
    records and markers, in order."""
    import pandas as pd
    objs, _, _ = run_dump(dump, paths)
    recs = [o for o in objs if kind_of(o) == "record"]
    ts = sorted(o["ts_ns"] for o in objs)
    b1, b2 = ts[len(ts) // 3], ts[2 * len(ts) // 3]
    first = recs[len(recs) // 2]
    app, pid = first["app"], first["pid"]
    cases = [
        ("level='warn'", dict(level="warn"), ["--level", "warn"]),
        ("level=4", dict(level=4), ["--level", "ERROR"]),
        ("category='md'", dict(category="md"), ["--category", "md"]),
        ("category=%r" % first["category"].upper(), dict(category=first["category"].upper()),
         ["--category", first["category"]]),
        ("app=%r" % app, dict(app=app), ["--app", app]),
        ("pid=%d" % pid, dict(pid=pid), ["--pid", str(pid)]),
        ("since=int ns", dict(since=b1), ["--since", str(b1)]),
        ("until=int ns", dict(until=b2), ["--until", str(b2)]),
        ("since=datetime (µs)", dict(since=dt.datetime.fromtimestamp(b1 // 10**9, dt.timezone.utc).replace(
            microsecond=b1 % 10**9 // 1000)), ["--since", str(b1 // 1000 * 1000)]),
        ("until=pandas.Timestamp (ns), aware, not UTC", dict(until=pd.Timestamp(b2, tz="UTC").tz_convert(
            "Europe/Paris")), ["--until", str(b2)]),
        ("since and until", dict(since=b1, until=b2), ["--since", str(b1), "--until", str(b2)]),
        ("since=str RFC 3339 ns", dict(since=rfc3339(b1)), ["--since", rfc3339(b1)]),
        ("until=str +01:00", dict(until=rfc3339(b2, 3600)), ["--until", rfc3339(b2, 3600)]),
        ("since=str -1000d", dict(since="-1000d"), ["--since", "-1000d"]),
        ("until=str Unix seconds", dict(until="%d.%09d" % divmod(b2, 10**9)),
         ["--until", "%d.%09d" % divmod(b2, 10**9)]),
        ("grep", dict(grep="sym=(ES|NQ)|heart"), ["--grep", "sym=(ES|NQ)|heart"]),
        ("limit=5", dict(limit=5), ["--limit", "5"]),
        ("level, app and limit", dict(level="INFO", app=app, limit=3), ["--level", "info", "--app", app,
                                                                         "--limit", "3"]),
    ]
    import pyarrow as pa
    lines = []
    for name, kw, opts in cases:
        want, err, status = run_dump(dump, paths, opts)
        got = [e for e in shmlog.read(list(paths), kinds=("record", "loss", "exit"), **kw)]
        compare_streams("%s (%s)" % (name, " ".join(opts)), want, got)
        t = pa.table(shmlog.open(list(paths), **kw))
        check_records_table("open(%s)" % name, [o for o in want if kind_of(o) == "record"], t)
        check_markers_table("open(%s, kind='markers')" % name, [o for o in want if kind_of(o) != "record"],
                            pa.table(shmlog.open(list(paths), kind="markers", **kw)))
        nrec = sum(e.kind == "record" for e in got)
        if not nrec and name.split("=")[0] in ("app", "pid", "since", "until", "limit"):
            fail("%s: selects no record: the case proves nothing" % name)
        lines.append("%-45s %5d records, %3d markers (of %d, %d)" % (name, nrec, len(got) - nrec, len(recs),
                                                                     len(objs) - len(recs)))
    finish("\n".join(lines))


def cmd_damaged(dump, path):
    """A damaged file: the dump's records, its stderr lines as error events,
    and by default a DamagedInputWarning naming them; never an exception."""
    objs, err, status = run_dump(dump, [path])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = shmlog.read(path, kinds=("record", "loss", "exit"))
        events = list(r)
    compare_streams(path, objs, events)
    if status != 1:
        fail("the dump's exit status is %d, not 1" % status)
    msgs = [str(x.message) for x in w if issubclass(x.category, shmlog.DamagedInputWarning)]
    if len(msgs) != 1 or len(w) != 1:
        fail("warnings: %r" % [str(x.message) for x in w])
    if ["shmlog-dump: " + m for m in r.errors] != err or not r.errors:
        fail("Reader.errors %r, the dump's stderr %r" % (r.errors, err))
    for m in r.errors:
        if msgs and m not in msgs[0]:
            fail("the warning does not say %r: %r" % (m, msgs[0]))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ev = [e for e in shmlog.read(path, kinds=shmlog.KINDS) if e.kind == "error"]
    if [e.error for e in ev] != r.errors or w:
        fail("kinds=KINDS: error events %r and warnings %r" % ([e.error for e in ev], [str(x.message) for x in w]))
    # Arrow: the same records, the damage in Source.errors and in one warning of to_arrow() and dataframe()
    import pyarrow as pa
    src = shmlog.open(path)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        t = pa.table(src)
    if w or src.errors != r.errors or not src.had_errors():
        fail("pa.table(open()): warnings %r (none wanted: the consumer reads), Source.errors %r, read()'s %r"
             % ([str(x.message) for x in w], src.errors, r.errors))
    check_records_table(path, [o for o in objs if kind_of(o) == "record"], t)
    for call in (lambda: shmlog.to_arrow(path), lambda: shmlog.dataframe(path)):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            got = call()
        arrow_msgs = [str(x.message) for x in w if issubclass(x.category, shmlog.DamagedInputWarning)]
        if len(got) != sum(e.kind == "record" for e in events) or len(arrow_msgs) != 1 or len(w) != 1 or \
                any(m not in arrow_msgs[0] for m in r.errors):
            fail("to_arrow()/dataframe(): %d rows, warnings %r" % (len(got), [str(x.message) for x in w]))
    finish("%d records, %d markers; warned: %s" % (sum(e.kind == "record" for e in events),
                                                  sum(e.kind != "record" for e in events), msgs and msgs[0]))


def expect_raise(what, exc, fn, text=None):
    try:
        fn()
    except exc as e:
        if text and text not in str(e):
            fail("%s: %s without %r: %s" % (what, exc.__name__, text, e))
        return
    except Exception as e:
        fail("%s: %s (%s), expected %s" % (what, type(e).__name__, e, exc.__name__))
        return
    fail("%s: no %s" % (what, exc.__name__))


def cmd_errors(dump, good):
    """Bad paths and options: the documented exceptions, with the library's text."""
    import pandas as pd
    expect_raise("a path that does not exist", FileNotFoundError, lambda: shmlog.read("/nonexistent/x.shlog"),
                 "/nonexistent/x.shlog: No such file or directory")
    expect_raise("one of two paths does not exist", OSError, lambda: shmlog.read([good, "/nonexistent/y"]),
                 "/nonexistent/y")
    expect_raise("a bad regular expression", ValueError, lambda: shmlog.read(good, grep="("),
                 "bad regular expression '('")
    expect_raise("a level no one has", ValueError, lambda: shmlog.read(good, level="loud"), "WARN")
    expect_raise("a level out of range", ValueError, lambda: shmlog.read(good, level=6))
    expect_raise("a naive datetime", ValueError, lambda: shmlog.read(good, since=dt.datetime(2026, 1, 1)),
                 "time zone")
    expect_raise("a naive pandas.Timestamp", ValueError, lambda: shmlog.read(good, until=pd.Timestamp(2026, 1, 1)),
                 "time zone")
    expect_raise("a time string of no form", ValueError, lambda: shmlog.read(good, since="yesterday"),
                 "-5m, -2h, -1d (before now)")
    expect_raise("a time string before the epoch", ValueError, lambda: shmlog.open(good, until="1969-12-31"),
                 "is not a time")
    expect_raise("a time as a float", TypeError, lambda: shmlog.read(good, since=1.5e18))
    expect_raise("open(kind=...) of no kind", ValueError, lambda: shmlog.open(good, kind="losses"), "markers")
    expect_raise("open() of no path", FileNotFoundError, lambda: shmlog.open("/nonexistent/z"), "/nonexistent/z")
    expect_raise("to_arrow() with a bad option", ValueError, lambda: shmlog.to_arrow(good, grep="("),
                 "bad regular expression")
    expect_raise("a kind no one has", ValueError, lambda: shmlog.read(good, kinds=("records",)))
    expect_raise("limit=0", ValueError, lambda: shmlog.read(good, limit=0))
    expect_raise("no path", ValueError, lambda: shmlog.read([]))
    if list(shmlog.read(good, category="nosuchcategory")):
        fail("a category no one defines matches something")
    env = dict(os.environ, SHMLOG_READ_LIBRARY="/nonexistent/libshmlog-read.so.1")
    p = subprocess.run([sys.executable, "-c", "import shmlog; shmlog.read(%r)" % good], env=env,
                       capture_output=True, text=True)
    last = p.stderr.strip().split("\n")[-1]
    if p.returncode == 0 or not last.startswith("shmlog._native.LibraryNotFound: ") or "libshmlog-read1" not in last \
            or "SHMLOG_READ_LIBRARY" not in last:
        fail("SHMLOG_READ_LIBRARY pointing nowhere: %r" % p.stderr)
    finish("the library unfound: " + last)


def cmd_gil(path, copies):
    """The GIL is free while C decodes: a thread counting in Python runs on
    during one long to_arrow() (the same file many times: each copy decoded,
    its records dropped as duplicates) at a good part of its speed alone;
    with the GIL held through the call it would not move until the call returned."""
    import threading
    import time
    paths = [path] * int(copies)
    count = [0]
    stop = [False]

    def spin():
        while not stop[0]:
            count[0] += 1

    th = threading.Thread(target=spin)
    th.start()
    time.sleep(0.1)
    c0, t0 = count[0], time.perf_counter()
    time.sleep(0.3)
    idle = (count[0] - c0) / (time.perf_counter() - t0)
    c0, t0 = count[0], time.perf_counter()
    t = shmlog.to_arrow(paths)
    busy = (count[0] - c0) / (time.perf_counter() - t0)
    took = time.perf_counter() - t0
    stop[0] = True
    th.join()
    if took < 0.05:
        fail("to_arrow took %.3f s: too short to tell" % took)
    if busy < 0.15 * idle:
        fail("a Python thread counted at %.0f/s during to_arrow (%.2f s), %.0f/s alone: the GIL was held"
             % (busy, took, idle))
    finish("%d rows from %s copies in %.2f s; the other thread counted at %.0f%% of its speed alone" % (
        t.num_rows, copies, took, 100 * busy / idle))


def cmd_nopyarrow(path):
    """Without pyarrow: open() and its capsule, and read(), work; to_arrow(),
    to_parquet(), dataframe() and losses() raise ImportError saying what to install."""
    code = """
import sys
sys.modules["pyarrow"] = None  # as if it were not installed
import shmlog
p = sys.argv[1]
assert sum(1 for _ in shmlog.read(p)) > 0
src = shmlog.open(p)
cap = src.__arrow_c_stream__()
assert type(cap).__name__ == "PyCapsule", cap
del cap
for name, call in (("to_arrow", lambda: shmlog.to_arrow(p)), ("to_parquet", lambda: shmlog.to_parquet(p, "x.parquet")),
                   ("dataframe", lambda: shmlog.dataframe(p)), ("losses", lambda: shmlog.losses(p))):
    try:
        call()
    except ImportError as e:
        assert "needs pyarrow" in str(e) and "pip install pyarrow" in str(e), (name, str(e))
        print(name + ": " + str(e))
    else:
        raise SystemExit(name + " worked without pyarrow")
"""
    p = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True)
    if p.returncode != 0:
        fail("without pyarrow: %s" % (p.stderr.strip().split("\n")[-1] or p.stdout))
    finish(p.stdout.strip().split("\n")[0])


def cmd_count(path, want):
    """The live workload: want records and one exit marker, nothing lost."""
    ev = list(shmlog.read(path, kinds=shmlog.KINDS))
    n = {k: sum(e.kind == k for e in ev) for k in shmlog.KINDS}
    if n["record"] != int(want) or n["exit"] != 1 or n["loss"] or n["error"]:
        fail("kinds %r, expected %s records and one exit" % (n, want))
    ex = [e for e in ev if e.kind == "exit"]
    if ev and ev[-1].kind != "exit":
        fail("the exit marker is not the last event: %r" % ([e.kind for e in ev if e.kind != "record"],))
    last = {}
    for i, e in enumerate(ev):
        if e.kind == "record":
            if last.get(e.cpu, -1) >= e.seq:
                fail("event %d: cpu %d seq %d after seq %d: not in ring order" % (i, e.cpu, e.seq, last[e.cpu]))
                break
            last[e.cpu] = e.seq
    if ex and (ex[0].exit_records != int(want) or ex[0].exit_lost != 0 or ex[0].exit_how != "shutdown"):
        fail("exit marker %r" % (ex[0],))
    df = shmlog.dataframe(path)
    if len(df) != int(want) or df["field.seq"].dtype != "UInt64" or df["id"].dtype != "UInt64" \
            or df["qty"].dtype != "Int32" or df["px"].dtype != "Float64" or df["bid_sz"].dtype != "UInt32":
        fail("dataframe: %d rows, dtypes %s" % (len(df), df.dtypes.to_dict()))
    finish("%d records, exit %r; heartbeat's seq= is column field.seq" % (n["record"], ex and ex[0].exit_how))


def cmd_synthetic(path):
    """Text decoding, and an empty DataFrame's dtypes."""
    from shmlog import _native as n
    # text: one U+FFFD per byte that starts no valid UTF-8 sequence (render_escape.c's
    # rule for the JSON), where Python's "replace" puts one per invalid sequence
    for raw, want in ((b"\xe2\x82A", "\ufffd\ufffdA"), (b"\xc3\xa9t\xc3\xa9", "\xe9t\xe9"),
                      (b"\xed\xa0\x80", "\ufffd" * 3), (b"\xf4\x90\x80\x80", "\ufffd" * 4),
                      (b"\xc0\xaf", "\ufffd" * 2), (b"\xf0\x9f\x98", "\ufffd" * 3),
                      (b"a\x00\n\x7f\xf0\x9f\x98\x80", "a\x00\n\x7f\U0001f600")):
        if n.decode(raw) != want:
            fail("decode(%r): %r, expected %r" % (raw, n.decode(raw), want))
    empty = shmlog.dataframe(path, category="nosuchcategory")
    if len(empty) or str(empty["ts"].dtype) != "datetime64[ns, UTC]" or str(empty["seq"].dtype) != "uint64" \
            or str(empty["level"].dtype) != "category":
        fail("an empty DataFrame keeps its dtypes: %s" % empty.dtypes.to_dict())
    finish("text decoding; an empty DataFrame: %d columns" % len(empty.columns))


# SHMLOG_READ_<name> of the header, and the binding's constant
CONSTS = [("RECORD", "RECORD"), ("LOSS", "LOSS"), ("EXIT", "EXIT"), ("ERROR", "ERROR"), ("TRUNCATED", "TRUNCATED"),
          ("CLAMPED", "CLAMPED"), ("BACKTRACE", "BACKTRACE"), ("UNKNOWN_SITE", "UNKNOWN_SITE"), ("NOTE", "NOTE"),
          ("TIME_UNCERTAIN", "TIME_UNCERTAIN"),
          ("BOOL", "T_BOOL"), ("INT", "T_INT"), ("UINT", "T_UINT"), ("FLOAT", "T_FLOAT"), ("STR", "T_STR"),
          ("PTR", "T_PTR"), ("FLOAT32", "T_FLOAT32"), ("VERSION", "INSTANCE_VERSION"),
          ("ARROW_RECORDS", "ARROW_RECORDS"),
          ("ARROW_MARKERS", "ARROW_MARKERS")]


def STRUCTS(n):
    """The C structs the binding mirrors, and its ctypes classes."""
    return (("shmlog_read_site", n.Site), ("shmlog_read_field", n.Field), ("shmlog_read_event", n.Event),
            ("shmlog_read_options", n.Options), ("shmlog_read_arrow_options", n.ArrowOptions),
            ("shmlog_read_columns", n.Columns), ("ArrowArrayStream", n.ArrowArrayStream))


def cmd_layout(c_output):
    """The ctypes structures and constants equal the C compiler's."""
    from shmlog import _native as n
    c = open(c_output).read().split("\n")
    c = [l for l in c if l]
    py = []
    for cname, cls in STRUCTS(n):
        py.append("%s %d" % (cname, __import__("ctypes").sizeof(cls)))
        for f in cls._fields_:
            d = getattr(cls, f[0])
            py.append("%s.%s %d %d" % (cname, f[0], d.offset, d.size))
    for f in n._Value._fields_:
        py.append("v.%s %d %d" % (f[0], getattr(n._Value, f[0]).offset, getattr(n._Value, f[0]).size))
    py += ["%s %d" % (c, getattr(n, attr)) for c, attr in CONSTS]
    o = n.options_init()
    py.append("init %d %d" % (o.size, o.min_level))
    if py != c:
        for a, b in zip(py, c + [""] * len(py)):
            if a != b:
                fail("python %r, C %r" % (a, b))
    finish("%d lines equal" % len(c))


def ctypes_fields():
    """The C program's lines, from the same names (so a renamed field fails to compile)."""
    from shmlog import _native as n
    out = []
    for cname, cls in STRUCTS(n):
        out.append('printf("%s %%zu\\n", sizeof(struct %s));' % (cname, cname))
        for f in cls._fields_:
            out.append('printf("%s.%s %%zu %%zu\\n", offsetof(struct %s, %s), sizeof(((struct %s *)0)->%s));'
                       % (cname, f[0], cname, f[0], cname, f[0]))
    for f in n._Value._fields_:
        out.append('printf("v.%s %%zu %%zu\\n", offsetof(struct shmlog_read_field, v.%s) - '
                   'offsetof(struct shmlog_read_field, v), sizeof(((struct shmlog_read_field *)0)->v.%s));'
                   % (f[0], f[0], f[0]))
    for k, _ in CONSTS:
        out.append('printf("%s %%d\\n", (int)SHMLOG_READ_%s);' % (k, k))
    out.append('{ struct shmlog_read_options o = SHMLOG_READ_OPTIONS_INIT; printf("init %zu %d\\n", o.size, '
               'o.min_level); }')
    print("#include <stddef.h>\n#include <stdio.h>\n#include \"shmlog_read.h\"\nint main(void)\n{")
    print("\n".join("    " + l for l in out))
    print("    return 0;\n}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "layout-c":
        ctypes_fields()
    else:
        globals()["cmd_" + cmd](*sys.argv[2:])
EOF
pycheck() { "$vpy" "$tmp/pycheck.py" "$@"; }

# ---- the binding's layouts: ctypes against the C compiler, on the header ----
cc=${CC:-cc}
if command -v "$cc" >/dev/null 2>&1 && [ -f "$header_dir/shmlog_read.h" ]; then
    pycheck layout-c >"$tmp/layout.c"
    if "$cc" -std=c11 -I"$header_dir" -o "$tmp/layout" "$tmp/layout.c" 2>"$tmp/layout.err"; then
        "$tmp/layout" >"$tmp/layout.out"
        check_show "ctypes structures and constants: every size and offset as the C compiler lays out shmlog_read.h" \
            pycheck layout "$tmp/layout.out"
    else
        not_ok "the layout program compiles against shmlog_read.h (a field of the binding the header lacks?)"
        diag "$tmp/layout.err"
    fi
else
    skip "ctypes structures against the C compiler" "no $cc or no $header_dir/shmlog_read.h"
fi

# ---- the corpus: every file and rotation directory ----
for input in "$corpus"/*/*.shlog "$corpus"/*/rotation; do
    name=${input#"$corpus"/}
    golden=${input%.shlog}.read.json
    check "read(kinds=KINDS) equals read --format json and the checked-in $(basename "$golden"), key for key: $name" \
        pycheck stream "$SHMLOG_DUMP" --golden="$golden" "$input"
    check "open()'s Arrow stream (pyarrow, polars), to_arrow(), to_parquet(), export: the dump's records and markers: $name" \
        pycheck arrow "$SHMLOG_DUMP" "$input"
    check "dataframe() has the dump's records, dtypes as documented; losses() its markers: $name" \
        pycheck frame "$SHMLOG_DUMP" "$input"
done
check_show "filters select what the dump's options select (records and markers): v2-categories/processes.shlog" \
    pycheck filters "$SHMLOG_DUMP" "$corpus/v2-categories/processes.shlog"
check "filters: v2-categories/losses.shlog" pycheck filters "$SHMLOG_DUMP" "$corpus/v2-categories/losses.shlog"
check "filters: v2/rotation (two files)" pycheck filters "$SHMLOG_DUMP" "$corpus/v2/rotation"
check_show "text decoding; an empty DataFrame keeps its dtypes" pycheck synthetic "$corpus/v2/processes.shlog"
check_show "without pyarrow: read() and open()'s capsule work, the Arrow calls say to install it" \
    pycheck nopyarrow "$corpus/v2/processes.shlog"
check_show "bad paths and options: FileNotFoundError, ValueError, TypeError, LibraryNotFound, with their text" \
    pycheck errors "$SHMLOG_DUMP" "$corpus/v2/processes.shlog"

# ---- damaged files: cut inside a frame, garbage after the last, no file at all ----
src=$corpus/v2-categories/processes.shlog
size=$(stat -c %s "$src")
head -c $((size * 2 / 3)) "$src" >"$tmp/cut.shlog"
{ cat "$src"; head -c 300 /dev/urandom; } >"$tmp/garbage.shlog"
{ head -c 4096 /dev/urandom; } >"$tmp/noise.shlog"
check_show "a file cut inside a frame: the records before, a DamagedInputWarning, error events on request" \
    pycheck damaged "$SHMLOG_DUMP" "$tmp/cut.shlog"
check "garbage after the last frame: every record, the warning" pycheck damaged "$SHMLOG_DUMP" "$tmp/garbage.shlog"
check "no shmlog file at all: no record, the warning" pycheck damaged "$SHMLOG_DUMP" "$tmp/noise.shlog"

# ---- live files: the real collector and a real producer ----
seg=$tmp/seg
out=$tmp/out
mkdir -p "$seg"
collector_start "$tmp/collector.log" --dir "$seg" --out "$out" --max-delay-ms 20
count=10000
SHMLOG_DIR=$seg "$SHMLOG_SAMPLE" --app pylive --count $count --threads 2 --rate 40000 >"$tmp/sample.out" 2>&1
check "the producer dropped nothing" grep -q ' 0 dropped' "$tmp/sample.out"
check "the collector removes the segments after the exit marker" segments_gone "$seg"
check_show "while the collector writes: the same events, and the open file is a note, not damage" \
    pycheck stream "$SHMLOG_DUMP" "$out"
check "collector exits 0 on SIGTERM" collector_stop
check_show "live files: read(kinds=KINDS) equals read --format json, key for key" pycheck stream "$SHMLOG_DUMP" "$out"
check_show "live files: $((count + 1)) records (the calls and 'starting'), one exit, nothing lost; typed columns" \
    pycheck count "$out" $((count + 1))
check_show "live files: open()'s Arrow stream and what is made of it hold the dump's records and markers" \
    pycheck arrow "$SHMLOG_DUMP" "$out"
check "live files: dataframe() and losses() as the dump" pycheck frame "$SHMLOG_DUMP" "$out"
check_show "the GIL is free while C decodes: another Python thread runs on during to_arrow()" \
    pycheck gil "$(ls "$out"/*.shlog | head -1)" 60
check_show "live files: filters select what the dump's options select" pycheck filters "$SHMLOG_DUMP" "$out"
live=$(ls "$out"/*.shlog | head -1)
size=$(stat -c %s "$live")
head -c $((size / 2)) "$live" >"$tmp/live-cut.shlog"
check_show "a live file cut in half: the records before, the warning" pycheck damaged "$SHMLOG_DUMP" "$tmp/live-cut.shlog"

tap_done
