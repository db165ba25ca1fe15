"""DataFrames of a Reader's events: columns built in lists, then one
DataFrame (shmlog.dataframe and shmlog.losses document the columns)."""
import numpy as np
import pandas as pd

from . import _native as _n

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
_LEVEL_CODE = {name: i for i, name in enumerate(LEVELS)}
FIXED = ("ts", "level", "category", "host", "app", "pid", "tid", "cpu", "seq", "site", "msg", "truncated", "clamped",
         "backtrace", "error", "fields")
# a field's column type by its C type: pointers are strings ("0x...")
_KIND = {_n.T_INT: "int", _n.T_UINT: "uint", _n.T_FLOAT: "float", _n.T_FLOAT32: "float", _n.T_BOOL: "bool",
         _n.T_STR: "str", _n.T_PTR: "str"}
_CONFLICT = "conflict"


def _ts(ts_ns):
    return pd.to_datetime(np.array(ts_ns, dtype=np.int64), unit="ns", utc=True)


def _categorical(values):
    return pd.Categorical(values)


def _field_column(kind, rows, values, n):
    """One field's column: a plain dtype when every row has the field, the
    nullable one (mask where it is missing) otherwise."""
    full = len(rows) == n
    if kind == "str":
        if full:
            return pd.array(np.array(values, dtype=object), dtype=object)
        col = [None] * n
        for r, v in zip(rows, values):
            col[r] = v
        return pd.array(col, dtype="string")
    dtype = {"int": np.int64, "uint": np.uint64, "float": np.float64, "bool": np.bool_}[kind]
    if full:
        return np.array(values, dtype=dtype)
    data = np.zeros(n, dtype=dtype)
    mask = np.ones(n, dtype=np.bool_)
    idx = np.array(rows, dtype=np.intp)
    data[idx] = np.array(values, dtype=dtype)
    mask[idx] = False
    if kind == "float":
        return pd.arrays.FloatingArray(data, mask)  # NaN values stay NaN, missing ones are <NA>
    if kind == "bool":
        return pd.arrays.BooleanArray(data, mask)
    return pd.arrays.IntegerArray(data, mask)


def records_frame(reader, with_fields):
    ts, level, category, host, app, pid, tid, cpu, seq = [], [], [], [], [], [], [], [], []
    site, msg, truncated, clamped, backtrace, error = [], [], [], [], [], []
    by_name = {}  # field name -> [kind, rows, values]
    n = 0
    for ev in reader:
        ts.append(ev.ts_ns)
        level.append(_LEVEL_CODE[ev.level])
        category.append(ev.category)
        host.append(ev.host)
        app.append(ev.app)
        pid.append(ev.pid)
        tid.append(ev.tid)
        cpu.append(ev.cpu)
        seq.append(ev.seq)
        site.append(ev.site)
        msg.append(ev.msg)
        truncated.append(ev.truncated)
        clamped.append(ev.clamped)
        backtrace.append(ev.backtrace)
        error.append(ev.error)
        if with_fields and ev.fields:
            for (name, value), t in zip(ev.fields.items(), reader._types):
                kind = _KIND.get(t, _CONFLICT)
                f = by_name.get(name)
                if f is None:
                    by_name[name] = f = [kind, [], []]
                elif f[0] != kind:
                    f[0] = _CONFLICT
                f[1].append(n)
                f[2].append(value)
        n += 1

    cols = {
        "ts": _ts(ts),
        "level": pd.Categorical.from_codes(np.array(level, dtype=np.int8), categories=list(LEVELS), ordered=True),
        "category": _categorical(category),
        "host": _categorical(host),
        "app": _categorical(app),
        "pid": np.array(pid, dtype=np.uint32),
        "tid": np.array(tid, dtype=np.uint32),
        "cpu": np.array(cpu, dtype=np.uint32),
        "seq": np.array(seq, dtype=np.uint64),
        "site": pd.array(np.array(site, dtype=object), dtype=object),
        "msg": pd.array(np.array(msg, dtype=object), dtype=object),
        "truncated": np.array(truncated, dtype=np.bool_),
        "clamped": np.array(clamped, dtype=np.bool_),
        "backtrace": np.array(backtrace, dtype=np.bool_),
        "error": pd.array(np.array(error, dtype=object), dtype=object),
    }
    if with_fields:
        # column names: a fixed column's name gets "field."; two fields that
        # would share a column go to the dicts, like a type conflict
        wanted = {}
        for name in by_name:
            wanted.setdefault("field." + name if name in FIXED else name, []).append(name)
        leftover = []
        for col, names in wanted.items():
            if len(names) > 1 or by_name[names[0]][0] == _CONFLICT:
                leftover.extend(names)
                continue
            kind, rows, values = by_name[names[0]]
            cols[col] = _field_column(kind, rows, values, n)
        dicts = [None] * n
        for name in leftover:
            _, rows, values = by_name[name]
            for r, v in zip(rows, values):
                d = dicts[r]
                if d is None:
                    dicts[r] = d = {}
                d[name] = v
        fields_col = np.empty(n, dtype=object)
        fields_col[:] = dicts
        cols["fields"] = pd.array(fields_col, dtype=object)
    return pd.DataFrame(cols)


def _nullable(values, dtype):
    """A nullable integer array of values with None as <NA>."""
    n = len(values)
    data = np.zeros(n, dtype=dtype)
    mask = np.ones(n, dtype=np.bool_)
    for i, v in enumerate(values):
        if v is not None:
            data[i] = v
            mask[i] = False
    return pd.arrays.IntegerArray(data, mask)


def markers_frame(reader):
    names = ("ts_ns", "kind", "host", "app", "pid", "cpu", "loss_reason", "loss_records", "loss_positions",
             "loss_first_seq", "exit_records", "exit_lost", "exit_how")
    lists = {k: [] for k in names}
    for ev in reader:
        for k in names:
            lists[k].append(getattr(ev, k))
    cols = {
        "ts": _ts(lists["ts_ns"]),
        "kind": pd.Categorical(lists["kind"], categories=["loss", "exit"]),
        "host": _categorical(lists["host"]),
        "app": _categorical(lists["app"]),
        "pid": np.array(lists["pid"], dtype=np.uint32),
        "cpu": _nullable(lists["cpu"], np.uint32),
        "loss_reason": pd.array(np.array(lists["loss_reason"], dtype=object), dtype=object),
    }
    for k in ("loss_records", "loss_positions", "loss_first_seq", "exit_records", "exit_lost"):
        cols[k] = _nullable(lists[k], np.uint64)
    cols["exit_how"] = pd.array(np.array(lists["exit_how"], dtype=object), dtype=object)
    return pd.DataFrame(cols)
