"""What the tests compare: the shmlog package's events, Arrow tables and DataFrames
against shmlog-dump read --format json, field for field with exact types. A check
collects every difference it finds in a Problems list (a failed test then shows
them all, not only the first)."""
import datetime as dt
import glob
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
OPTIONAL_KEYS = ["truncated", "clamped", "backtrace", "time_uncertain", "error", "func", "thread", "instance", "trace_id",
                 "span", "hostname"]


class Problems(list):
    """The differences a check found; a test asserts there are none."""

    def fail(self, msg):
        self.append(msg)

    def report(self):
        shown = self[:30]
        more = "\n... and %d more" % (len(self) - 30) if len(self) > 30 else ""
        return "\n".join(shown) + more


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
    if j.get("hostname") != e.hostname:
        ne("hostname", j.get("hostname"), e.hostname)
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
        # A loss of the whole process has no "cpu" key and no cpu: None.
        if j.get("cpu") != e.cpu:
            ne("cpu", j.get("cpu"), e.cpu)
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


def compare_streams(problems, what, objs, events):
    if len(objs) != len(events):
        problems.fail("%s: dump %d lines, python %d events" % (what, len(objs), len(events)))
    for i, (j, e) in enumerate(zip(objs, events)):
        for d in diff_event(i, j, e):
            problems.fail("%s: %s" % (what, d))


def check_stream(problems, dump, paths, golden=None):
    """read(kinds=KINDS) equals read --format json line for line (and the
    corpus's checked-in output, which no build of the library made); its
    error and note events are the dump's stderr lines; no warning when
    errors are yielded."""
    objs, err, status = run_dump(dump, paths)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        events = list(shmlog.read(list(paths), kinds=shmlog.KINDS))
    for x in w:
        problems.fail("a warning with kinds=KINDS: %s" % x.message)
    shown = [e for e in events if e.kind in ("record", "loss", "exit")]
    compare_streams(problems, " ".join(paths), objs, shown)
    if golden:
        with open(golden, encoding="utf-8") as f:
            compare_streams(problems, golden, [json.loads(l) for l in f.read().split("\n") if l], shown)
    said = ["shmlog-dump: " + ("note: " if e.kind == "note" else "") + e.error for e in events
            if e.kind in ("error", "note")]
    if said != err:
        problems.fail("error and note events %r, the dump's stderr %r" % (said, err))
    if status != (1 if any(e.kind == "error" for e in events) else 0):
        problems.fail("dump exit status %d, python error events %d" % (status, sum(e.kind == "error" for e in events)))
    n = {k: sum(e.kind == k for e in events) for k in shmlog.KINDS}
    return ("%d lines equal: %d records, %d losses, %d exits, %d errors, %d notes" % (
        len(objs), n["record"], n["loss"], n["exit"], n["error"], n["note"]))


def arrow_ts(ns):
    """A time as an Arrow timestamp[ns] holds it: past 2262 (a clamped 2^64 - 1), its largest value."""
    return min(ns, 2**63 - 1)


def plain(v):
    import numpy as np
    return v.item() if isinstance(v, np.generic) else v


FIXED = ["ts", "level", "category", "app", "host", "pid", "tid", "cpu", "seq", "site", "func", "msg", "truncated", "clamped",
         "backtrace", "time_uncertain", "error", "thread", "instance", "trace_id", "span", "hostname"]
KIND_SUFFIXES = ("", ".int", ".uint", ".float", ".bool", ".str", ".ptr")


def field_value_ok(want, got, arrow_type):
    """A JSON field value and the Arrow one (as to_pylist() gives it)."""
    import pyarrow as pa
    if isinstance(want, str) and want.startswith("0x") and pa.types.is_unsigned_integer(arrow_type):
        return type(got) is int and got == int(want, 16)  # a pointer: the JSON shows it in hex
    return same_value(want, got)


def check_records_table(problems, what, recs, t, row0=0):
    """The records of the dump (JSON objects) and the Arrow table t, row for row and value for value."""
    import pyarrow as pa
    want_types = {"ts": pa.timestamp("ns", tz="UTC"), "pid": pa.uint32(), "tid": pa.uint32(), "cpu": pa.uint32(),
                  "seq": pa.uint64(), "msg": pa.string(), "truncated": pa.bool_(), "clamped": pa.bool_(),
                  "backtrace": pa.bool_(), "time_uncertain": pa.bool_()}
    if t.column_names[:len(FIXED)] != FIXED:
        problems.fail("%s: the fixed columns first, in order: %s" % (what, t.column_names[:len(FIXED)]))
        return
    for c, ty in want_types.items():
        if t.schema.field(c).type != ty:
            problems.fail("%s: column %s is %s, expected %s" % (what, c, t.schema.field(c).type, ty))
    for c in ("level", "category", "app", "host", "site", "func", "error", "thread", "instance", "hostname"):
        ty = t.schema.field(c).type
        if not pa.types.is_dictionary(ty) or ty.value_type != pa.string():
            problems.fail("%s: column %s is %s, expected a dictionary of strings" % (what, c, ty))
    if not t.schema.field("level").type.ordered:
        problems.fail("%s: level is not an ordered dictionary" % what)
    if t.num_rows != len(recs):
        problems.fail("%s: %d rows, the dump %d records" % (what, t.num_rows, len(recs)))
        return
    cols = {c: t.column(c).to_pylist() for c in t.column_names}
    ts_ns = t.column("ts").cast(pa.int64()).to_pylist()
    field_cols = [c for c in t.column_names if c not in FIXED]
    # A field's columns are those whose metadata names it (its name as the formats spell it: seq= is column
    # field.seq, a name of two kinds id.int and id.str).
    columns_of: "dict[str, list[str]]" = {}
    for c in field_cols:
        field = (t.schema.field(c).metadata or {}).get(b"shmlog.field")
        if field is None:
            problems.fail("%s: field column %s has no shmlog.field metadata" % (what, c))
            return
        columns_of.setdefault(field.decode(), []).append(c)
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
        for k in ("trace_id", "span", "hostname"):
            if cols[k][i] != o.get(k):
                bad.append((k, o.get(k), cols[k][i]))
        # each field in exactly one column, of its kind; every other field column null
        holds = set()
        for name, v in o["fields"].items():
            cands = columns_of.get(name, [])
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
            problems.fail("%s row %d (pid %s seq %s): %s: dump %r, arrow %r" % (what, row0 + i, o["pid"], o["seq"], *b))
        if bad and len(problems) > 20:
            return


def check_markers_table(problems, what, marks, t):
    import pyarrow as pa
    names = ["ts", "kind", "app", "host", "pid", "cpu", "loss_reason", "loss_records", "loss_positions",
             "loss_first_seq", "exit_records", "exit_lost", "exit_how", "instance", "hostname"]
    if t.column_names != names:
        problems.fail("%s: markers' columns %s" % (what, t.column_names))
        return
    if t.num_rows != len(marks):
        problems.fail("%s: %d marker rows, the dump %d markers" % (what, t.num_rows, len(marks)))
        return
    rows = t.to_pylist()
    ts_ns = t.column("ts").cast(pa.int64()).to_pylist()
    for i, (o, r) in enumerate(zip(marks, rows)):
        k = kind_of(o)
        want = (arrow_ts(o["ts_ns"]), k, o["app"], o["host"], o["pid"], o.get("cpu"),
                o["loss"]["reason"] if k == "loss" else None, o["loss"]["records"] if k == "loss" else None,
                o["loss"]["positions"] if k == "loss" else None, o["loss"]["first_seq"] if k == "loss" else None,
                o["exit"]["records"] if k == "exit" else None, o["exit"]["lost"] if k == "exit" else None,
                o["exit"].get("how") if k == "exit" else None, o.get("instance"), o.get("hostname"))
        got = (ts_ns[i], r["kind"], r["app"], r["host"], r["pid"], r["cpu"], r["loss_reason"], r["loss_records"],
               r["loss_positions"], r["loss_first_seq"], r["exit_records"], r["exit_lost"], r["exit_how"], r["instance"],
               r["hostname"])
        if got != want:
            problems.fail("%s marker %d: dump %r, arrow %r" % (what, i, want, got))
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

def parquet_codecs(f):
    """The codecs of a pyarrow.parquet.ParquetFile's column chunks."""
    return {f.metadata.row_group(g).column(c).compression for g in range(f.metadata.num_row_groups)
            for c in range(f.metadata.num_columns)}


def check_arrow(problems, dump, paths, workdir):
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
    check_records_table(problems, "pa.table(open())", recs, t)
    small = pa.RecordBatchReader.from_stream(shmlog.open(list(paths), batch_rows=3))
    batches = list(small)
    if any(b.num_rows > 3 for b in batches) or (recs and len(batches) < (len(recs) + 2) // 3):
        problems.fail("batch_rows=3: batches of %s rows" % [b.num_rows for b in batches])
    t3 = pa.Table.from_batches(batches, small.schema)
    if not same_table(t3, t):
        problems.fail("batches of 3 rows are not the same table")
    if not same_table(shmlog.to_arrow(list(paths)), t):
        problems.fail("to_arrow() is not pa.table(open())")
    m = pa.table(shmlog.open(list(paths), kind="markers"))
    check_markers_table(problems, "open(kind='markers')", marks, m)
    # polars: the same stream, the same values
    df = pl.DataFrame(shmlog.open(list(paths)))
    if df.shape != (t.num_rows, t.num_columns) or df.columns != t.column_names:
        problems.fail("polars: shape %s columns %s" % (df.shape, df.columns[:20]))
    else:
        back = df.to_arrow()
        for c in t.column_names:
            if column_values(t.column(c)) != column_values(back.column(c)):
                problems.fail("polars: column %s differs" % c)
                break
    # Parquet: zstd, row groups of at most row_group_rows, ts and seq as deltas, msg plain, read back equal
    out = os.path.join(workdir, "t.parquet")
    rows = shmlog.to_parquet(list(paths), out, row_group_rows=10)
    f = pq.ParquetFile(out)
    groups = [f.metadata.row_group(g).num_rows for g in range(f.metadata.num_row_groups)]
    codecs = parquet_codecs(f)
    encodings = {f.metadata.schema.column(c).name: f.metadata.row_group(0).column(c).encodings
                 for c in range(f.metadata.num_columns)} if groups else {}
    if groups and ("DELTA_BINARY_PACKED" not in encodings["ts"] or "DELTA_BINARY_PACKED" not in encodings["seq"]
                   or "RLE_DICTIONARY" in encodings["msg"] or "RLE_DICTIONARY" not in encodings["app"]):
        problems.fail("to_parquet: encodings %s" % {c: encodings[c] for c in ("ts", "seq", "msg", "app")})
    back = pq.read_table(out)
    if rows != t.num_rows or sum(groups) != rows or any(g != 10 for g in groups[:-1]) or groups[-1] > 10 or \
            codecs - {"ZSTD"}:
        problems.fail("to_parquet: %d rows, row groups %s, codecs %s" % (rows, groups, codecs))
    if not same_table(back, t):
        problems.fail("to_parquet: read back differs")
    cli = out + ".cli"  # the shell's export, with a codec of its own
    p = subprocess.run([sys.executable, "-m", "shmlog", "export", *paths, cli, "--compression", "lz4"],
                       capture_output=True, text=True)
    if p.returncode != 0 or p.stdout.strip() != "%d rows written to %s" % (rows, cli) or \
            not same_table(pq.read_table(cli), t) or parquet_codecs(pq.ParquetFile(cli)) != {"LZ4"}:
        problems.fail("python -m shmlog export: status %d, %r %r" % (p.returncode, p.stdout, p.stderr))
    return ("%d rows x %d columns (%d fields), %d markers; polars, to_arrow, Parquet (%d row groups) agree" % (
        t.num_rows, t.num_columns, t.num_columns - len(FIXED), m.num_rows, len(groups)))


def check_frame(problems, dump, paths):
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
        problems.fail("%d rows, the dump %d records" % (len(df), len(recs)))
        return None
    fixed = {"ts": "datetime64[ns, UTC]", "level": "category", "category": "category", "app": "category",
             "host": "category", "pid": "uint32", "tid": "uint32", "cpu": "uint32", "seq": "uint64", "site": "category",
             "func": "category", "msg": "str", "truncated": "bool", "clamped": "bool", "backtrace": "bool",
             "time_uncertain": "bool", "error": "category", "thread": "category", "instance": "category",
             "trace_id": "str", "span": "category", "hostname": "category"}
    if list(df.columns[:len(fixed)]) != list(fixed):
        problems.fail("the fixed columns first, in order: %s" % list(df.columns))
    for c, t in fixed.items():
        if c not in df.columns or str(df[c].dtype) != t:
            problems.fail("column %s: dtype %s, expected %s" % (c, c in df.columns and df[c].dtype, t))
    if list(df["level"].cat.categories) != list(shmlog.LEVELS) or not df["level"].cat.ordered:
        problems.fail("level: an ordered Categorical of %s" % (shmlog.LEVELS,))
    if df["ts"].astype("int64").tolist() != [arrow_ts(o["ts_ns"]) for o in recs]:
        problems.fail("ts differs from ts_ns")
    for c in ("level", "category", "app", "host", "pid", "tid", "cpu", "seq"):
        got = [plain(v) for v in df[c].tolist()]
        for i, o in enumerate(recs):
            if not same_value(o[c], got[i]):
                problems.fail("row %d: %s: dump %r, dataframe %r" % (i, c, o[c], got[i]))
                break
    for i, o in enumerate(recs):
        msg = None if o.get("error") == "unknown site" else o["msg"]
        m = df["msg"].iloc[i]
        if (m if isinstance(m, str) else None) != msg:
            problems.fail("row %d: msg: dump %r, dataframe %r" % (i, msg, m))
            break
        e = df["error"].iloc[i]
        if (e if isinstance(e, str) else None) != o.get("error"):
            problems.fail("row %d: error: dump %r, dataframe %r" % (i, o.get("error"), e))
            break
        th = df["thread"].iloc[i]
        if (th if isinstance(th, str) else None) != o.get("thread"):
            problems.fail("row %d: thread: dump %r, dataframe %r" % (i, o.get("thread"), th))
            break
        ins = df["instance"].iloc[i]
        if (ins if isinstance(ins, str) else None) != o.get("instance"):
            problems.fail("row %d: instance: dump %r, dataframe %r" % (i, o.get("instance"), ins))
        for k in ("trace_id", "span", "hostname"):
            v = df[k].iloc[i]
            if (v if isinstance(v, str) else None) != o.get(k):
                problems.fail("row %d: %s: dump %r, dataframe %r" % (i, k, o.get(k), v))
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
            problems.fail("column %s: dtype %s (%s)" % (c, t, "every row has it" if all(has) else "some rows lack it"))
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
                    problems.fail("row %d: column %s: dump %r, dataframe %r" % (i, c, w, g))
                    break
            elif has[i]:
                problems.fail("row %d: column %s has %r, the record no field %s" % (i, c, vals[i], base))
                break
    marks = [o for o in objs if kind_of(o) != "record"]
    lf = shmlog.losses(list(paths))
    want_dtypes = {"ts": "datetime64[ns, UTC]", "kind": "category", "pid": "uint32", "cpu": "UInt32",
                   "loss_records": "UInt64", "exit_lost": "UInt64"}
    if len(lf) != len(marks):
        problems.fail("losses(): %d rows, the dump %d markers" % (len(lf), len(marks)))
    for c, t in want_dtypes.items():
        if str(lf[c].dtype) != t:
            problems.fail("losses() column %s: dtype %s, expected %s" % (c, lf[c].dtype, t))
    for i, o in enumerate(marks[:len(lf)]):
        r = lf.iloc[i]
        k = kind_of(o)
        got = (r["ts"].value, r["kind"], r["app"], int(r["pid"]), None if r["cpu"] is pd.NA else int(r["cpu"]),
               None if r["loss_records"] is pd.NA else int(r["loss_records"]),
               None if r["exit_lost"] is pd.NA else int(r["exit_lost"]),
               r["loss_reason"] if isinstance(r["loss_reason"], str) else None,
               r["exit_how"] if isinstance(r["exit_how"], str) else None)
        want = (arrow_ts(o["ts_ns"]), k, o["app"], o["pid"], o.get("cpu"),
                o["loss"]["records"] if k == "loss" else None, o["exit"]["lost"] if k == "exit" else None,
                o["loss"]["reason"] if k == "loss" else None, o["exit"].get("how") if k == "exit" else None)
        if got != want:
            problems.fail("losses() row %d: dump %r, python %r" % (i, want, got))
            break
    return ("%d rows, %d field columns; %d markers" % (len(df), nfield, len(marks)))


def rfc3339(ns, offset=0):
    """ns as "YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ", or in a zone offset seconds east of UTC."""
    sec, frac = divmod(ns, 10**9)
    t = dt.datetime.fromtimestamp(sec + offset, dt.timezone.utc)
    zone = "Z" if not offset else "%+03d:%02d" % (offset // 3600, offset % 3600 // 60)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%09d" % frac + zone


def files_host(paths):
    """The host of the first .shlog file of paths, from its header (FORMAT.md: 64 bytes at 40)."""
    for p in paths:
        files = sorted(glob.glob(os.path.join(p, "*.shlog*"))) if os.path.isdir(p) else [p]
        for f in files:
            with open(f, "rb") as fh:
                return fh.read(104)[40:104].split(b"\0")[0].decode()
    raise AssertionError("no file in %s" % (paths,))


def check_filters(problems, dump, paths):
    """Each filter of read() selects exactly what the dump's option does,
    records and markers, in order."""
    import pandas as pd
    objs, _, _ = run_dump(dump, paths)
    recs = [o for o in objs if kind_of(o) == "record"]
    ts = sorted(o["ts_ns"] for o in objs)
    b1, b2 = ts[len(ts) // 3], ts[2 * len(ts) // 3]
    first = recs[len(recs) // 2]
    app, pid = first["app"], first["pid"]
    file_host = files_host(paths)
    cases = [
        ("level='warn'", dict(level="warn"), ["--level", "warn"]),
        ("level=4", dict(level=4), ["--level", "ERROR"]),
        ("category='md'", dict(category="md"), ["--category", "md"]),
        ("category=%r" % first["category"].upper(), dict(category=first["category"].upper()),
         ["--category", first["category"]]),
        ("app=%r" % app, dict(app=app), ["--app", app]),
        ("host=%r" % file_host, dict(host=file_host), ["--host", file_host]),
        ("host='no-such-host'", dict(host="no-such-host"), ["--host", "no-such-host"]),
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
    ]
    # A field of a record, asked by its value and by an order of numbers.
    named = [(k, v) for o in recs for k, v in o.get("fields", {}).items() if "." not in k
             and isinstance(v, (str, int)) and not isinstance(v, bool)]
    if named:
        k, v = named[len(named) // 2]
        cases += [("where=%s=%s" % (k, v), dict(where="%s=%s" % (k, v)), ["--where", "%s=%s" % (k, v)])]
        if len({v2 for k2, v2 in named if k2 == k}) > 1:
            cases += [("where=%s!=%s" % (k, v), dict(where="%s!=%s" % (k, v)), ["--where", "%s!=%s" % (k, v)])]
        num = [(k2, v2) for k2, v2 in named if isinstance(v2, int)]
        if num:
            k2 = num[0][0]
            lo, hi = min(v2 for n2, v2 in num if n2 == k2), max(v2 for n2, v2 in num if n2 == k2)
            terms = ["%s>=%d" % (k2, lo), "%s<=%d" % (k2, hi)]
            cases += [("where=%s" % terms, dict(where=terms), ["--where", terms[0], "--where", terms[1]])]
    cases += [
        ("level, app and limit", dict(level="INFO", app=app, limit=3), ["--level", "info", "--app", app,
                                                                         "--limit", "3"]),
    ]
    import pyarrow as pa
    lines = []
    for name, kw, opts in cases:
        want, err, status = run_dump(dump, paths, opts)
        got = [e for e in shmlog.read(list(paths), kinds=("record", "loss", "exit"), **kw)]
        compare_streams(problems, "%s (%s)" % (name, " ".join(opts)), want, got)
        t = pa.table(shmlog.open(list(paths), **kw))
        check_records_table(problems, "open(%s)" % name, [o for o in want if kind_of(o) == "record"], t)
        check_markers_table(problems, "open(%s, kind='markers')" % name, [o for o in want if kind_of(o) != "record"],
                            pa.table(shmlog.open(list(paths), kind="markers", **kw)))
        nrec = sum(e.kind == "record" for e in got)
        if not nrec and name.split("=")[0] in ("app", "pid", "since", "until", "limit", "where"):
            problems.fail("%s: selects no record: the case proves nothing" % name)
        lines.append("%-45s %5d records, %3d markers (of %d, %d)" % (name, nrec, len(got) - nrec, len(recs),
                                                                     len(objs) - len(recs)))
    return ("\n".join(lines))


def check_damaged(problems, dump, path):
    """A damaged file: the dump's records, its stderr lines as error events,
    and by default a DamagedInputWarning naming them; never an exception."""
    objs, err, status = run_dump(dump, [path])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = shmlog.read(path, kinds=("record", "loss", "exit"))
        events = list(r)
    compare_streams(problems, path, objs, events)
    if status != 1:
        problems.fail("the dump's exit status is %d, not 1" % status)
    msgs = [str(x.message) for x in w if issubclass(x.category, shmlog.DamagedInputWarning)]
    if len(msgs) != 1 or len(w) != 1:
        problems.fail("warnings: %r" % [str(x.message) for x in w])
    if ["shmlog-dump: " + m for m in r.errors] != err or not r.errors:
        problems.fail("Reader.errors %r, the dump's stderr %r" % (r.errors, err))
    for m in r.errors:
        if msgs and m not in msgs[0]:
            problems.fail("the warning does not say %r: %r" % (m, msgs[0]))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ev = [e for e in shmlog.read(path, kinds=shmlog.KINDS) if e.kind == "error"]
    if [e.error for e in ev] != r.errors or w:
        problems.fail("kinds=KINDS: error events %r and warnings %r" % ([e.error for e in ev], [str(x.message) for x in w]))
    # Arrow: the same records, the damage in Source.errors and in one warning of to_arrow() and dataframe()
    import pyarrow as pa
    src = shmlog.open(path)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        t = pa.table(src)
    if w or src.errors != r.errors or not src.had_errors():
        problems.fail("pa.table(open()): warnings %r (none wanted: the consumer reads), Source.errors %r, read()'s %r"
             % ([str(x.message) for x in w], src.errors, r.errors))
    check_records_table(problems, path, [o for o in objs if kind_of(o) == "record"], t)
    for call in (lambda: shmlog.to_arrow(path), lambda: shmlog.dataframe(path)):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            got = call()
        arrow_msgs = [str(x.message) for x in w if issubclass(x.category, shmlog.DamagedInputWarning)]
        if len(got) != sum(e.kind == "record" for e in events) or len(arrow_msgs) != 1 or len(w) != 1 or \
                any(m not in arrow_msgs[0] for m in r.errors):
            problems.fail("to_arrow()/dataframe(): %d rows, warnings %r" % (len(got), [str(x.message) for x in w]))
    return ("%d records, %d markers; warned: %s" % (sum(e.kind == "record" for e in events),
                                                  sum(e.kind != "record" for e in events), msgs and msgs[0]))
