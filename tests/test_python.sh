#!/bin/bash
# Description: the Python package (python/) installs offline with pip into a venv, binds libshmlog-read with the header's exact struct layouts, and reads what shmlog-dump reads: on every corpus file, on files the real collector wrote, with each filter, and on damaged files, shmlog.read() gives the events of `read --format json` key for key with exact types, shmlog.dataframe() its records with the documented dtypes, and damage is a warning (or error events), never a crash.
# usage: test_python.sh DUMP COLLECTOR SAMPLE CORPUS_DIR LIBDIR PYTHON_SRC
set -u
# absolute: the test runs in its scratch directory
abs() { realpath -e -- "$1" || echo "/nonexistent/$1"; }
dump=$(abs "$1")
collector=$(abs "$2")
sample=$(abs "$3")
corpus=$(abs "$4")
libdir=$(abs "$5")
pysrc=$(abs "$6")
header_dir=$(abs "$(dirname "$0")/../tools") # shmlog_read.h, for the layout check
tmp=$(mktemp -d /tmp/shmlog-test-python-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
unset TZ
# Debian's python3 with its pandas (python3-pandas), not one earlier on PATH.
py=${SHMLOG_TEST_PYTHON:-/usr/bin/python3}
"$py" -c 'import venv, ensurepip, pandas, setuptools' 2>/dev/null ||
    bail "$py lacks venv, pandas or setuptools (Debian packages python3-venv python3-pandas python3-setuptools python3-wheel): run tools/setup.sh as root"
lib=$libdir/libshmlog-read.so.1
[ -e "$lib" ] || bail "no $lib: build the library first"

# ---- install: offline, from a copy (a build writes build/ and *.egg-info beside the sources) ----
cp -r "$pysrc" "$tmp/src"
rm -rf "$tmp/src/build" "$tmp/src"/*.egg-info
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
check "python3 -m venv --system-site-packages; pip install --no-build-isolation --no-index python/" \
    bash -c "'$py' -m venv --system-site-packages '$tmp/venv' &&
             '$tmp/venv/bin/pip' install --no-build-isolation --no-index '$tmp/src'"
vpy=$tmp/venv/bin/python
[ -x "$vpy" ] || bail "no venv"
export SHMLOG_READ_LIBRARY=$lib
cd "$tmp" || bail "cd $tmp" # the sources are not on sys.path: the installed package is what runs
check "the installed package is imported, from the venv, and loads the library (API version 1)" "$vpy" -c "
import shmlog, shmlog._native as n
assert shmlog.__file__.startswith('$tmp/venv/'), shmlog.__file__
assert n.library().shmlog_read_version() == 1
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
OPTIONAL_KEYS = ["truncated", "clamped", "backtrace", "time_uncertain", "error"]
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
    if kind == "record":
        extra = set(j) - set(RECORD_KEYS) - set(OPTIONAL_KEYS)
        if extra:
            ne("keys unknown to the test", sorted(extra), None)
        for k in ("level", "category", "tid", "cpu", "seq"):
            if not same_value(j[k], getattr(e, k)):
                ne(k, j[k], getattr(e, k))
        if j["site"] != e.site or (e.site is not None and type(e.site) is not str):
            ne("site", j["site"], e.site)
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


def plain(v):
    import numpy as np
    return v.item() if isinstance(v, np.generic) else v


def cmd_frame(dump, *paths):
    """dataframe(): the dump's records, fixed columns with their dtypes,
    one column per field (plain dtype when every row has it, nullable
    otherwise), and losses() its markers."""
    import numpy as np
    import pandas as pd
    expect = {}
    if paths[0].startswith("--expect="):
        expect = json.loads(paths[0][len("--expect="):])
        paths = paths[1:]
    objs, _, _ = run_dump(dump, paths)
    recs = [o for o in objs if kind_of(o) == "record"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = shmlog.dataframe(list(paths))
    if len(df) != len(recs):
        fail("%d rows, the dump %d records" % (len(df), len(recs)))
        finish()
    fixed = {"ts": "datetime64[ns, UTC]", "level": "category", "category": "category", "host": "category",
             "app": "category", "pid": "uint32", "tid": "uint32", "cpu": "uint32", "seq": "uint64", "site": "object",
             "msg": "object", "truncated": "bool", "clamped": "bool", "backtrace": "bool", "time_uncertain": "bool",
             "error": "object"}
    for c, t in fixed.items():
        if c not in df.columns or str(df[c].dtype) != t:
            fail("column %s: dtype %s, expected %s" % (c, c in df.columns and df[c].dtype, t))
    if "fields" not in df.columns or str(df["fields"].dtype) != "object":
        fail("no object column 'fields'")
    if list(df.columns[:len(fixed)]) != list(fixed):
        fail("the fixed columns first, in order: %s" % list(df.columns))
    if list(df["level"].cat.categories) != list(shmlog.LEVELS) or not df["level"].cat.ordered:
        fail("level: an ordered Categorical of %s" % (shmlog.LEVELS,))
    want_ts = pd.to_datetime([o["ts_ns"] for o in recs], utc=True)
    if not (pd.Series(want_ts).reset_index(drop=True) == df["ts"]).all() or \
            df["ts"].astype("int64").tolist() != [o["ts_ns"] for o in recs]:
        fail("ts differs from pandas.to_datetime(ts_ns, utc=True)")
    cols = {c: [plain(v) for v in df[c].tolist()] for c in df.columns}
    for c in ("level", "category", "host", "app", "pid", "tid", "cpu", "seq", "site"):
        got = cols[c]
        for i, o in enumerate(recs):
            if not same_value(o[c], got[i]) and not (o[c] is None and got[i] is None):
                fail("row %d: %s: dump %r, dataframe %r" % (i, c, o[c], got[i]))
                break
    for i, o in enumerate(recs):
        msg = None if o.get("error") == "unknown site" else o["msg"]
        if cols["msg"][i] != msg or cols["error"][i] != o.get("error"):
            fail("row %d: msg/error: dump %r/%r, dataframe %r/%r" % (i, msg, o.get("error"), cols["msg"][i],
                                                                      cols["error"][i]))
        for k in ("truncated", "clamped", "backtrace", "time_uncertain"):
            if cols[k][i] is not o.get(k, False):
                fail("row %d: %s" % (i, k))
    # fields: a column per name, or the dict column for names of several types
    names = {}
    for o in recs:
        for k in o["fields"]:
            names.setdefault(k, "field." + k if k in fixed or k == "fields" else k)
    extra = set(df.columns) - set(fixed) - {"fields"} - set(names.values())
    if extra:
        fail("columns that are no field: %s" % sorted(extra))
    for name, col in names.items():
        has = [name in o["fields"] for o in recs]
        if col not in df.columns:
            for i, o in enumerate(recs):
                d = cols["fields"][i]
                if has[i] and (not isinstance(d, dict) or not same_value(o["fields"][name], d.get(name))):
                    fail("row %d: field %s has no column and is not in 'fields': %r" % (i, name, d))
                    break
            continue
        t = str(df[col].dtype)
        nullable = not all(has)
        allowed = {"Int64", "UInt64", "Float64", "boolean", "string"} if nullable else \
            {"int64", "uint64", "float64", "bool", "object"}
        if t not in allowed:
            fail("column %s: dtype %s, expected one of %s (%s)" % (col, t, sorted(allowed),
                                                                   "some rows lack it" if nullable else "every row has it"))
        if name in expect and t != expect[name]:
            fail("column %s: dtype %s, expected %s" % (col, t, expect[name]))
        got = cols[col]
        for i, o in enumerate(recs):
            if has[i]:
                ok = same_value(o["fields"][name], got[i])
            else:
                ok = got[i] is pd.NA
            if not ok:
                fail("row %d: column %s: dump %r, dataframe %r" % (i, col, o["fields"].get(name, "(none)"), got[i]))
                break
    for name in expect:
        if name not in names:
            fail("no field %s in the records" % name)
    # losses(): the markers
    marks = [o for o in objs if kind_of(o) != "record"]
    lf = shmlog.losses(list(paths))
    if len(lf) != len(marks):
        fail("losses(): %d rows, the dump %d markers" % (len(lf), len(marks)))
    else:
        want_dtypes = {"ts": "datetime64[ns, UTC]", "kind": "category", "pid": "uint32", "cpu": "UInt32",
                       "loss_records": "UInt64", "exit_lost": "UInt64"}
        for c, t in want_dtypes.items():
            if str(lf[c].dtype) != t:
                fail("losses() column %s: dtype %s, expected %s" % (c, lf[c].dtype, t))
        for i, o in enumerate(marks):
            r = lf.iloc[i]
            k = kind_of(o)
            got = (r["ts"].value, r["kind"], r["app"], int(r["pid"]),
                   None if r["cpu"] is pd.NA else int(r["cpu"]),
                   None if r["loss_records"] is pd.NA else int(r["loss_records"]),
                   None if r["exit_lost"] is pd.NA else int(r["exit_lost"]), r["loss_reason"], r["exit_how"])
            # past what datetime64[ns] holds (a time clamped to 2^64 - 1): NaT, not OverflowError
            want = (o["ts_ns"] if o["ts_ns"] < 2**63 else pd.NaT.value, k, o["app"], o["pid"],
                    None if k == "exit" or o["cpu"] == UINT32_MAX else o["cpu"],
                    o["loss"]["records"] if k == "loss" else None, o["exit"]["lost"] if k == "exit" else None,
                    o["loss"]["reason"] if k == "loss" else None, o["exit"].get("how") if k == "exit" else None)
            if got != want:
                fail("losses() row %d: dump %r, python %r" % (i, want, got))
                break
    nfield = sum(c in df.columns for c in names.values())
    finish("%d rows, %d field columns, %d names in 'fields'; %d markers" % (len(df), nfield,
                                                                          len(names) - nfield, len(marks)))


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
        ("grep", dict(grep="sym=(ES|NQ)|heart"), ["--grep", "sym=(ES|NQ)|heart"]),
        ("limit=5", dict(limit=5), ["--limit", "5"]),
        ("level, app and limit", dict(level="INFO", app=app, limit=3), ["--level", "info", "--app", app,
                                                                         "--limit", "3"]),
    ]
    lines = []
    for name, kw, opts in cases:
        want, err, status = run_dump(dump, paths, opts)
        got = [e for e in shmlog.read(list(paths), kinds=("record", "loss", "exit"), **kw)]
        compare_streams("%s (%s)" % (name, " ".join(opts)), want, got)
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
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        df = shmlog.dataframe(path)
    if len(df) != sum(e.kind == "record" for e in events) or [str(x.message) for x in w] != msgs:
        fail("dataframe(): %d rows, warnings %r" % (len(df), [str(x.message) for x in w]))
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
    expect_raise("a time as a str", TypeError, lambda: shmlog.read(good, since="2026-01-01"))
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
            or df["qty"].dtype != "Int64" or df["px"].dtype != "Float64":
        fail("dataframe: %d rows, dtypes %s" % (len(df), df.dtypes.to_dict()))
    finish("%d records, exit %r; heartbeat's seq= is column field.seq" % (n["record"], ex and ex[0].exit_how))


def cmd_synthetic(path):
    """The DataFrame's rules, on events the files at hand do not hold: a name
    with two types, a name clashing with a column, NaN beside <NA>."""
    import pandas as pd
    from shmlog import _frame, _native as n

    def frame(rows):
        """What records_frame() makes of rows of (fields, types): the fixed
        columns of one record per row, and field_columns() of their fields."""
        import numpy as np
        by_name = {}
        for r, (fields, types) in enumerate(rows):
            for j, ((name, value), t) in enumerate(zip(fields.items(), types)):
                kind = _frame._KIND[t]
                f = by_name.setdefault(name, [kind, (r, j), [], []])
                if f[0] != kind:
                    f[0] = _frame._CONFLICT
                f[2].append(np.array([r], dtype=np.intp))
                f[3].append(np.array([value], dtype=object if kind == "str" else None))
        cols = {c: [0] * len(rows) for c in _frame.FIXED if c != "fields"}
        cols.update(_frame.field_columns(by_name, len(rows)))
        return pd.DataFrame(cols)

    rows = [
        ({"x": 1, "seq": 5, "v": float("nan"), "s": "a", "b": True}, (n.T_INT, n.T_UINT, n.T_FLOAT, n.T_STR, n.T_BOOL)),
        ({"x": "one", "seq": 6, "v": 2.5, "b": False, "p": "0x10"}, (n.T_STR, n.T_UINT, n.T_FLOAT, n.T_BOOL, n.T_PTR)),
        ({"u": 18446744073709551615}, (n.T_UINT,)),
    ]
    df = frame(rows)
    want = {"field.seq": "UInt64", "v": "Float64", "s": "string", "b": "boolean", "p": "string", "u": "UInt64"}
    got = {c: str(df[c].dtype) for c in want if c in df.columns}
    if got != want or "x" in df.columns or "seq" != df.columns[8]:
        fail("columns %s" % df.dtypes.to_dict())
        finish()
    if df["fields"].tolist() != [{"x": 1}, {"x": "one"}, None]:
        fail("fields column %r" % df["fields"].tolist())
    v = df["v"].tolist()
    if not (isinstance(v[0], float) and math.isnan(v[0]) and v[1] == 2.5 and v[2] is pd.NA):
        fail("v: NaN stays a value, a missing field is <NA>: %r" % v)
    if df["u"].tolist()[2] != 18446744073709551615 or df["u"].tolist()[0] is not pd.NA:
        fail("u: %r" % df["u"].tolist())
    full = frame(rows[:2])
    want = {"field.seq": "uint64", "v": "float64", "b": "bool", "s": "string"}
    got = {c: str(full[c].dtype) for c in want}
    if got != want:
        fail("with every row: %r" % got)
    # text: one U+FFFD per byte that starts no valid UTF-8 sequence (render_escape.c's
    # rule for the JSON), where Python's "replace" puts one per invalid sequence
    for raw, want in ((b"\xe2\x82A", "\ufffd\ufffdA"), (b"\xc3\xa9t\xc3\xa9", "\xe9t\xe9"),
                      (b"\xed\xa0\x80", "\ufffd" * 3), (b"\xf4\x90\x80\x80", "\ufffd" * 4),
                      (b"\xc0\xaf", "\ufffd" * 2), (b"\xf0\x9f\x98", "\ufffd" * 3),
                      (b"a\x00\n\x7f\xf0\x9f\x98\x80", "a\x00\n\x7f\U0001f600")):
        if n.decode(raw) != want:
            fail("decode(%r): %r, expected %r" % (raw, n.decode(raw), want))
    empty = shmlog.dataframe(path, category="nosuchcategory")
    if len(empty) or str(empty["ts"].dtype) != "datetime64[ns, UTC]" or str(empty["seq"].dtype) != "uint64":
        fail("an empty DataFrame keeps its dtypes: %s" % empty.dtypes.to_dict())
    finish("fields column: %r" % df["fields"].tolist())


# SHMLOG_READ_<name> of the header, and the binding's constant
CONSTS = [("RECORD", "RECORD"), ("LOSS", "LOSS"), ("EXIT", "EXIT"), ("ERROR", "ERROR"), ("TRUNCATED", "TRUNCATED"),
          ("CLAMPED", "CLAMPED"), ("BACKTRACE", "BACKTRACE"), ("UNKNOWN_SITE", "UNKNOWN_SITE"), ("NOTE", "NOTE"),
          ("TIME_UNCERTAIN", "TIME_UNCERTAIN"),
          ("BOOL", "T_BOOL"), ("INT", "T_INT"), ("UINT", "T_UINT"), ("FLOAT", "T_FLOAT"), ("STR", "T_STR"),
          ("PTR", "T_PTR"), ("FLOAT32", "T_FLOAT32"), ("VERSION", "API_VERSION")]


def cmd_layout(c_output):
    """The ctypes structures and constants equal the C compiler's."""
    from shmlog import _native as n
    c = open(c_output).read().split("\n")
    c = [l for l in c if l]
    py = []
    for cname, cls in (("shmlog_read_site", n.Site), ("shmlog_read_field", n.Field), ("shmlog_read_event", n.Event),
                       ("shmlog_read_options", n.Options)):
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
    for cname, cls in (("shmlog_read_site", n.Site), ("shmlog_read_field", n.Field), ("shmlog_read_event", n.Event),
                       ("shmlog_read_options", n.Options)):
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
        pycheck stream "$dump" --golden="$golden" "$input"
    expect=
    [ "$name" = v2-categories/processes.shlog ] &&
        expect='--expect={"u64":"UInt64","i64":"Int64","u8":"UInt64","i8":"Int64","b":"boolean","f32":"Float64","ptr":"string","sym":"string"}'
    check "dataframe() has the dump's records, dtypes as documented; losses() its markers: $name" \
        pycheck frame "$dump" $expect "$input"
done
check_show "filters select what the dump's options select (records and markers): v2-categories/processes.shlog" \
    pycheck filters "$dump" "$corpus/v2-categories/processes.shlog"
check "filters: v2-categories/losses.shlog" pycheck filters "$dump" "$corpus/v2-categories/losses.shlog"
check "filters: v2/rotation (two files)" pycheck filters "$dump" "$corpus/v2/rotation"
check_show "DataFrame rules: a name of two types goes to 'fields', a clash gets 'field.', NaN is no <NA>; text decoding" \
    pycheck synthetic "$corpus/v2/processes.shlog"
check_show "bad paths and options: FileNotFoundError, ValueError, TypeError, LibraryNotFound, with their text" \
    pycheck errors "$dump" "$corpus/v2/processes.shlog"

# ---- damaged files: cut inside a frame, garbage after the last, no file at all ----
src=$corpus/v2-categories/processes.shlog
size=$(stat -c %s "$src")
head -c $((size * 2 / 3)) "$src" >"$tmp/cut.shlog"
{ cat "$src"; head -c 300 /dev/urandom; } >"$tmp/garbage.shlog"
{ head -c 4096 /dev/urandom; } >"$tmp/noise.shlog"
check_show "a file cut inside a frame: the records before, a DamagedInputWarning, error events on request" \
    pycheck damaged "$dump" "$tmp/cut.shlog"
check "garbage after the last frame: every record, the warning" pycheck damaged "$dump" "$tmp/garbage.shlog"
check "no shmlog file at all: no record, the warning" pycheck damaged "$dump" "$tmp/noise.shlog"

# ---- live files: the real collector and a real producer ----
seg=$tmp/seg
out=$tmp/out
mkdir -p "$seg"
"$collector" --dir "$seg" --out "$out" --max-delay-ms 20 >"$tmp/collector.log" 2>&1 &
col=$!
pids+=("$col")
sleep 0.3
count=10000
SHMLOG_DIR=$seg "$sample" --app pylive --count $count --threads 2 --rate 40000 >"$tmp/sample.out" 2>&1
check "the producer dropped nothing" grep -q ' 0 dropped' "$tmp/sample.out"
for _ in $(seq 100); do # the collector removes the segments after the exit marker
    [ -z "$(ls -A "$seg")" ] && break
    sleep 0.1
done
check_show "while the collector writes: the same events, and the open file is a note, not damage" \
    pycheck stream "$dump" "$out"
kill -TERM "$col"
wait "$col"
check "collector exits 0 on SIGTERM" test $? -eq 0
check_show "live files: read(kinds=KINDS) equals read --format json, key for key" pycheck stream "$dump" "$out"
check_show "live files: $((count + 1)) records (the calls and 'starting'), one exit, nothing lost; typed columns" \
    pycheck count "$out" $((count + 1))
check "live files: dataframe() and losses() as the dump" pycheck frame "$dump" "$out"
check_show "live files: filters select what the dump's options select" pycheck filters "$dump" "$out"
live=$(ls "$out"/*.shlog | head -1)
size=$(stat -c %s "$live")
head -c $((size / 2)) "$live" >"$tmp/live-cut.shlog"
check_show "a live file cut in half: the records before, the warning" pycheck damaged "$dump" "$tmp/live-cut.shlog"

tap_done
