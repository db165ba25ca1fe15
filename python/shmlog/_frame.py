"""DataFrames of a Reader's events: columns built in lists, then one
DataFrame (shmlog.dataframe and shmlog.losses document the columns)."""
import ctypes
import errno

import numpy as np
import pandas as pd

from . import _native as _n

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
FIXED = ("ts", "level", "category", "host", "app", "pid", "tid", "cpu", "seq", "site", "msg", "truncated", "clamped",
         "backtrace", "time_uncertain", "error", "fields")
# a field's column type by its C type: pointers are strings ("0x...")
_KIND = {_n.T_INT: "int", _n.T_UINT: "uint", _n.T_FLOAT: "float", _n.T_FLOAT32: "float", _n.T_BOOL: "bool",
         _n.T_STR: "str", _n.T_PTR: "str"}
_CONFLICT = "conflict"


def _ts(ts_ns):
    """ns since the epoch (uint64) as datetime64[ns, UTC]; a time past what
    it holds (2262-04-11; a marker's clamped 2^64 - 1) is NaT."""
    ns = np.asarray(ts_ns, dtype=np.uint64)
    out = ns.astype(np.int64)
    out[ns > np.uint64(np.iinfo(np.int64).max)] = np.iinfo(np.int64).min  # NaT
    return pd.to_datetime(out, unit="ns", utc=True)


def _categorical(values):
    return pd.Categorical(values)


def _field_column(kind, rows, values, n):
    """One field's column: a plain dtype when every row has the field, the
    nullable one (mask where it is missing) otherwise. rows: the rows that
    have it (ascending), values: theirs (numpy, or an object array of str)."""
    full = len(rows) == n
    if kind == "str":
        if full:
            return pd.array(values, dtype=object)
        col = np.full(n, None, dtype=object)
        col[rows] = values
        return pd.array(col, dtype="string")
    dtype = {"int": np.int64, "uint": np.uint64, "float": np.float64, "bool": np.bool_}[kind]
    if full:
        return np.asarray(values, dtype=dtype)
    data = np.zeros(n, dtype=dtype)
    mask = np.ones(n, dtype=np.bool_)
    data[rows] = values
    mask[rows] = False
    if kind == "float":
        return pd.arrays.FloatingArray(data, mask)  # NaN values stay NaN, missing ones are <NA>
    if kind == "bool":
        return pd.arrays.BooleanArray(data, mask)
    return pd.arrays.IntegerArray(data, mask)


# Rows per call of shmlog_read_next_columns, and the text and values they share.
_ROWS = 1 << 16
_TEXT = 16 << 20
_VALUES = _ROWS * 8


class _Batches:
    """shmlog_read_next_columns into numpy arrays, batch after batch; the
    events between batches that are not records go to the reader (errors
    are collected as Reader.__next__ collects them). The caller closes the
    reader."""

    def __init__(self, reader):
        self.reader = reader
        self.text_cap = _TEXT

    def __iter__(self):
        r = self.reader
        lib, h = r._lib, r._h
        while h is not None:
            cols = {k: np.empty(_ROWS, np.dtype(t)) for k, t in _n.COLUMN_ARRAYS.items()}
            cols["values"] = np.empty(_VALUES, np.uint64)
            text = np.empty(self.text_cap, np.uint8)  # not zeroed: only what the rows point at is read
            c = _n.columns({k: v.ctypes.data for k, v in cols.items()}, _ROWS, text.ctypes.data, self.text_cap,
                           cols["values"].ctypes.data, _VALUES)
            rows = lib.shmlog_read_next_columns(h, ctypes.byref(c))
            if rows == -errno.ENOBUFS:
                self.text_cap *= 2  # one record's message is longer than text: retry with more
                continue
            if rows < 0:
                r.close()
                raise MemoryError("shmlog: reading columns failed (%d)" % rows)
            if rows > 0:
                batch = {k: v[:rows] for k, v in cols.items() if k != "values"}
                batch["values"] = cols["values"]
                batch["text"] = memoryview(text)
                yield batch
                continue
            # not a record next: an error, a note, a loss, an exit, or the end
            rc = lib.shmlog_read_next(h, ctypes.byref(r._ev))
            if rc < 0:
                r.close()
                raise MemoryError("shmlog: out of memory reading (%d)" % rc)
            if rc == 0:
                # the reader stays open: the sources' tables are read after the last batch
                if r.errors or lib.shmlog_read_had_errors(h):
                    r._warn()
                return
            ev = r._ev.contents
            if ev.kind == _n.ERROR and not ev.flags & _n.NOTE:
                r.errors.append(_n.text(ev.error, r._cache) or "damaged input")


def records_frame(reader, with_fields):
    lib, h = reader._lib, reader._h
    parts = {k: [] for k in ("ts_ns", "seq", "tid", "cpu", "source", "level", "category", "flags")}
    msgs = []
    by_name = {}  # field name -> [kind, first (row, index), [rows arrays], [values arrays]]
    n = 0
    for b in _Batches(reader):
        rows = len(b["ts_ns"])
        for k in parts:
            parts[k].append(b[k])
        raw = b["text"]
        flags = b["flags"]
        msg_at = b["msg"]
        # the message of a row: None for an unknown site
        msgs.extend(None if f & _n.UNKNOWN_SITE else _n.text_at(raw, a) for f, a in zip(flags.tolist(), msg_at.tolist()))
        if with_fields:
            decoded = (flags & (_n.UNKNOWN_SITE | _n.CORRUPT)) == 0
            src = b["source"]
            for k in np.unique(src[decoded]).tolist():
                sp = lib.shmlog_read_source(h, k).contents
                if sp.nfields == 0:
                    continue
                sel = np.nonzero(decoded & (src == k))[0]
                at = b["values_at"][sel].astype(np.intp)
                for j in range(sp.nfields):
                    name = _n.text(sp.field_names[j], reader._cache)
                    t = sp.field_types[j]
                    kind = _KIND.get(t, _CONFLICT)
                    v = b["values"][at + j]
                    if t == _n.T_INT:
                        vals = v.view(np.int64)
                    elif t in (_n.T_FLOAT, _n.T_FLOAT32):
                        vals = v.view(np.float64)
                    elif t == _n.T_BOOL:
                        vals = v != 0
                    elif t == _n.T_STR:
                        vals = np.array([_n.text_at(raw, x) for x in v.tolist()], dtype=object)
                    elif t == _n.T_PTR:
                        vals = np.array(["0x%x" % x for x in v.tolist()], dtype=object)
                    else:
                        vals = v
                    f = by_name.get(name)
                    first = (n + int(sel[0]), j)
                    if f is None:
                        by_name[name] = f = [kind, first, [], []]
                    else:
                        if f[0] != kind:
                            f[0] = _CONFLICT
                        if first < f[1]:
                            f[1] = first
                    f[2].append(sel + n)
                    f[3].append(vals)
        n += rows

    def cat(k, dtype):
        return np.concatenate(parts[k]).astype(dtype, copy=False) if parts[k] else np.empty(0, dtype)

    source = cat("source", np.intp)
    flags = cat("flags", np.uint8)
    nsrc = int(source.max()) + 1 if n else 0
    srcs = [lib.shmlog_read_source(h, i).contents for i in range(nsrc)]
    c = reader._cache
    text = _n.text
    host = np.array([text(s.host, c) for s in srcs], dtype=object)
    app = np.array([text(s.app, c) for s in srcs], dtype=object)
    pid = np.array([s.pid for s in srcs], dtype=np.uint32)
    site = np.array([("%s:%d" % (text(s.site.contents.file, c), s.site.contents.line)) if s.site else None
                     for s in srcs], dtype=object)
    # a category's name is its process's: by (source, id)
    cat_key = source * 256 + cat("category", np.intp)
    keys, cat_codes = np.unique(cat_key, return_inverse=True)
    cat_names = [text(lib.shmlog_read_category_name(h, int(k) // 256, int(k) % 256), c) for k in keys.tolist()]
    level = cat("level", np.int8)
    level[(level < 0) | (level > 5)] = -1  # a damaged file's level: <NA>
    error = np.full(n, None, dtype=object)
    error[(flags & _n.CORRUPT) != 0] = "corrupt payload"
    error[(flags & _n.UNKNOWN_SITE) != 0] = "unknown site"
    cols = {
        "ts": _ts(cat("ts_ns", np.uint64)),
        "level": pd.Categorical.from_codes(level, categories=list(LEVELS), ordered=True),
        "category": _strings_categorical(cat_names, cat_codes),
        "host": _categorical(host[source]),
        "app": _categorical(app[source]),
        "pid": pid[source],
        "tid": cat("tid", np.uint32),
        "cpu": cat("cpu", np.uint32),
        "seq": cat("seq", np.uint64),
        "site": pd.array(site[source], dtype=object),
        "msg": pd.array(np.array(msgs, dtype=object), dtype=object),
        "truncated": (flags & _n.TRUNCATED) != 0,
        "clamped": (flags & _n.CLAMPED) != 0,
        "backtrace": (flags & _n.BACKTRACE) != 0,
        "time_uncertain": (flags & _n.TIME_UNCERTAIN) != 0,
        "error": pd.array(error, dtype=object),
    }
    if with_fields:
        cols.update(field_columns(by_name, n))
    return pd.DataFrame(cols)


def field_columns(by_name, n):
    """The field columns of n rows and the "fields" column, from by_name:
    field name -> [kind, (first row, index in its format), [rows arrays],
    [values arrays]]. Columns come in the order the fields first appear; a
    fixed column's name gets "field."; a name of two kinds, or two names that
    would share a column, go to the dicts of "fields"."""
    names = sorted(by_name, key=lambda name: by_name[name][1])
    wanted = {}
    for name in names:
        wanted.setdefault("field." + name if name in FIXED else name, []).append(name)
    cols = {}
    leftover = []
    for col, group in wanted.items():
        kind = by_name[group[0]][0]
        if len(group) > 1 or kind == _CONFLICT:
            leftover.extend(group)
            continue
        rows = np.concatenate(by_name[group[0]][2])
        values = np.concatenate(by_name[group[0]][3])
        order = np.argsort(rows, kind="stable")
        cols[col] = _field_column(kind, rows[order], values[order], n)
    dicts = [None] * n
    for name in leftover:
        for rows, values in zip(by_name[name][2], by_name[name][3]):
            for r, v in zip(rows.tolist(), values.tolist()):
                d = dicts[r]
                if d is None:
                    dicts[r] = d = {}
                d[name] = v
    fields_col = np.empty(n, dtype=object)
    fields_col[:] = dicts
    cols["fields"] = pd.array(fields_col, dtype=object)
    return cols


def _strings_categorical(names, codes):
    """A Categorical of names[codes] (names may repeat: the same name in two processes)."""
    uniq = sorted(set(names))
    index = {name: i for i, name in enumerate(uniq)}
    remap = np.array([index[name] for name in names], dtype=np.intp)
    return pd.Categorical.from_codes(remap[codes] if len(codes) else codes, categories=uniq)


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
