"""shmlog: the records of shmlog-collector's files, in Python.

A binding of the C library libshmlog-read (ctypes; no compiled extension),
which reads files exactly as ``shmlog-dump read`` does: the files and
directories given, every host's files in sequence, merged in time order,
damaged frames skipped and reported.

    import shmlog, pyarrow as pa, polars as pl, duckdb
    src = shmlog.open("/var/log/shmlog", level="warn", since="-1h")
    pa.table(src); pl.DataFrame(src); duckdb.sql("SELECT app, count(*) FROM src GROUP BY ALL")
    table = shmlog.to_arrow("/var/log/shmlog", category="md")
    shmlog.to_parquet("/var/log/shmlog", "day.parquet", since="2026-11-23T00:00Z")
    for ev in shmlog.read("/var/log/shmlog", level="warn", category="md"):
        print(ev.ts_ns, ev.app, ev.msg, ev.fields)

Functions: open() (an Arrow stream source: __arrow_c_stream__), to_arrow()
(a pyarrow.Table), to_parquet(), to_polars() and to_duckdb() (level in level
order), read() (an iterator of Event), dataframe() and losses() (pandas
DataFrames through Arrow). The Arrow and pandas ones
import pyarrow (and pandas) when called. The C library is found through
$SHMLOG_READ_LIBRARY (a path), else as the system's libshmlog-read.so.1.
Command line: python -m shmlog export DIR out.parquet (--help).
"""
from __future__ import annotations

import collections
import ctypes
import datetime as _dt
import errno
import inspect
import numbers
import os
import re
import warnings
from typing import (TYPE_CHECKING, Any, Callable, Deque, Dict, FrozenSet, Iterable, List, NamedTuple, Optional,
                    Tuple, TypedDict, TypeVar, Union)

from . import _native as _n
from ._native import LibraryNotFound

if TYPE_CHECKING:
    import pandas
    import pyarrow
    from typing_extensions import Unpack

# The one place of the version: pyproject.toml reads it from here (tool.setuptools.dynamic), and
# python/tests/test_install.py checks that meson.build's project() names the same.
__version__ = "0.1.0"
__all__ = ["read", "open", "to_arrow", "to_parquet", "to_polars", "to_duckdb", "dataframe", "losses", "Event",
           "Reader", "Source", "DamagedInputWarning", "LibraryNotFound", "LEVELS", "KINDS", "Filters"]

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
KINDS = ("record", "loss", "exit", "error", "note")  # every kind: read(..., kinds=shmlog.KINDS)
_KIND_NAME = {_n.RECORD: "record", _n.LOSS: "loss", _n.EXIT: "exit", _n.ERROR: "error"}
_NOTE = -1  # internal kind of an ERROR event flagged SHMLOG_READ_NOTE
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


class DamagedInputWarning(UserWarning):
    """Part of the input was damaged or unreadable and was skipped; the
    message lists what the library reported."""


# A field's value: pointers as "0x...", None for a type added after API version 1.
FieldValue = Union[int, float, str, bool, None]
# A file or directory, or several.
Paths = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]",
              Iterable[Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]]]
# since/until: ns since the Unix epoch, an aware datetime or pandas.Timestamp, or a time string.
Time = Union[int, str, _dt.datetime]


class Filters(TypedDict, total=False):
    """The filters of read(), open(), to_arrow(), to_parquet() and dataframe(), keyword arguments
    each of them takes (read() says what they select); None is no filter."""
    level: Union[str, int, None]
    category: Optional[str]
    app: Union[str, bytes, None]
    host: Optional[str]
    pid: Optional[int]
    thread: Union[str, int, None]
    trace: Union[str, int, None]
    since: Optional[Time]
    until: Optional[Time]
    grep: Union[str, bytes, None]
    where: Union[str, Iterable[str], None]
    limit: Optional[int]


FILTERS: Tuple[str, ...] = tuple(Filters.__annotations__)

_F = TypeVar("_F", bound=Callable[..., Any])


def _takes_filters(fn: _F) -> _F:
    """fn(..., **filters) shown with each filter as a keyword-only parameter (help(), inspect,
    editors that read signatures), as if written out: the filters are defined once, in Filters."""
    sig = inspect.signature(fn)
    params = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                 annotation=getattr(annotation, "__forward_arg__", annotation))
               for name, annotation in Filters.__annotations__.items()]
    fn.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    return fn


class Event(NamedTuple):
    """One event of read(): a record, a loss marker, an exit marker, an
    error (damaged input) or a note (not damage: "... is still being
    written"). A namedtuple: ev.msg, ev._asdict().

    Records: kind, ts_ns, host, app, pid, tid, cpu, seq, level, category,
    site, msg, fields, truncated, clamped, backtrace, error, proc_start,
    time_uncertain, func, thread (None where the process named no thread),
    instance, hostname (the process's own name for its machine; host is the
    collector's --host; None in files from before the two were told apart).
    Losses: loss_reason ("dropped", "overwritten", "dead_writer", "corrupt",
    "no_ring", "unregistered", "before_init", "unencodable", "undecodable",
    "file_removed"),
    loss_records, loss_positions,
    loss_first_seq. Exits: exit_records, exit_lost, exit_how ("shutdown",
    "died"; None in files from before the distinction). Errors and notes:
    error, the message (ts_ns and pid 0, host and app None: they name a
    file, not a process). Attributes that do not apply to the kind are None
    (the three flags False).

    Strings from the producer are decoded as UTF-8 with each byte that does
    not start a valid sequence replaced by U+FFFD, exactly as shmlog-dump's
    JSON shows them. Float fields are Python floats: NaN and infinities as
    such (the JSON shows null), f32 arguments exactly widened to double
    (0.1f is 0.10000000149011612).
    """
    kind: str  # "record", "loss", "exit", "error" or "note"
    ts_ns: int  # ns since the Unix epoch, UTC (a loss's or exit's time as shown)
    host: Optional[str]  # None on an error event that names no process
    app: Optional[str]
    pid: int
    tid: Optional[int]  # records: the writer's kernel thread id; else None
    cpu: Optional[int]  # the ring's cpu; None for an exit, and for a loss of the whole process
    seq: Optional[int]  # records: the ring position (unique and increasing per ring); else None
    level: Optional[str]  # records: "TRACE" .. "FATAL"; else None
    category: Optional[str]  # records: "none", "trade", "market_data", ..., a program's own, "cat<n>"; else None
    site: Optional[str]  # records: "file:line" of the call site; None when the files do not define it
    msg: Optional[str]  # records: the rendered message; None when the site is unknown
    fields: Optional[Dict[str, FieldValue]]  # records: {name: value}; else None
    truncated: bool  # records: the producer cut a string argument
    clamped: bool  # records: level or category was out of range (shown as FATAL / none)
    backtrace: bool  # records: kept below the live level, written at a trigger or request
    # records: "unknown site" or "corrupt payload" when it did not decode, else None;
    # error events: what was damaged; notes: the note
    error: Optional[str]
    loss_reason: Optional[str]  # losses; else None
    loss_records: Optional[int]
    loss_positions: Optional[int]
    loss_first_seq: Optional[int]
    exit_records: Optional[int]  # exits; else None
    exit_lost: Optional[int]
    exit_how: Optional[str]
    proc_start: int  # with host and pid, who the process is (pids are reused); 0 when unknown
    time_uncertain: bool  # records: its time lies between anchors around a step of the wall clock (off by it?)
    func: Optional[str]  # records: the call site's function; None when the files do not name one
    thread: Optional[str]  # records: the name the files gave the writing thread when it wrote; else None
    # the process instance (32 hex digits): with host, tells apart two processes that pid and proc_start do
    # not (pid 1 of two containers); None in files from before it, and for errors
    instance: Optional[str]
    # the producer's own name for its machine, where the files keep it apart from host (the collector's --host);
    # None in files from before that (their host is the producer's name), and for errors
    hostname: Optional[str]

    @property
    def time(self) -> _dt.datetime:
        """ts_ns as a timezone-aware UTC datetime. datetime holds
        microseconds: the nanoseconds below are cut (floor), so use ts_ns
        to order or compare events exactly."""
        sec, ns = divmod(self.ts_ns, 1_000_000_000)
        return _dt.datetime.fromtimestamp(sec, _dt.timezone.utc).replace(microsecond=ns // 1000)


_event_new = tuple.__new__
# What a source's rows share (Reader._source): host, app, pid, proc_start, "file:line" or None, function or
# None, field names, field types, instance or None, hostname or None.
_SourceInfo = Tuple[Optional[str], Optional[str], int, int, Optional[str], Optional[str], Tuple[str, ...],
                    Tuple[int, ...], Optional[str], Optional[str]]
_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")


def _ns(value: Time, what: str) -> int:
    """since/until as ns since the epoch: an int, an aware datetime or an
    aware pandas.Timestamp (exact to the ns), or a str in shmlog-dump's
    forms ("-5m", "2026-11-23T07:00+01:00"; without a zone: UTC), which the
    library parses as the dump does."""
    if isinstance(value, bool):
        raise TypeError("shmlog: %s must be an int (ns since the Unix epoch), a datetime, a pandas.Timestamp or "
                        "a str" % what)
    if isinstance(value, str):
        ns = _n.parse_time(value, what)
    elif isinstance(value, numbers.Integral):
        ns = int(value)
    elif isinstance(value, _dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("shmlog: %s=%r has no time zone: give an aware datetime "
                             "(e.g. tzinfo=datetime.timezone.utc) or ns since the Unix epoch" % (what, value))
        ns_attr = getattr(value, "value", None)  # pandas.Timestamp: exact ns, UTC
        if type(value).__module__.startswith("pandas") and isinstance(ns_attr, numbers.Integral):
            ns = int(ns_attr)
        else:
            d = value - _EPOCH
            ns = (d.days * 86400 + d.seconds) * 1_000_000_000 + d.microseconds * 1000
    else:
        raise TypeError("shmlog: %s must be an int (ns since the Unix epoch), an aware datetime, a "
                        "pandas.Timestamp or a str (\"-5m\", \"2026-11-23T07:00Z\"), not %s" % (what, type(value).__name__))
    if ns <= 0 or ns >= 1 << 64:
        raise ValueError("shmlog: %s=%r is not after the Unix epoch" % (what, value))
    return ns


def _level(value: Union[str, int]) -> int:
    if isinstance(value, str):
        try:
            return LEVELS.index(value.upper())
        except ValueError:
            raise ValueError("shmlog: level %r is none of %s (any case)" % (value, ", ".join(LEVELS))) from None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and 0 <= value < len(LEVELS):
        return int(value)
    raise ValueError("shmlog: level must be a name (%s, any case) or 0..5, not %r" % (", ".join(LEVELS), value))


def _paths(paths: Paths) -> List[bytes]:
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    out = [os.fsencode(p) for p in paths]
    if not out:
        raise ValueError("shmlog: no path given (files or directories of shmlog-collector)")
    return out


def _options(filters: Filters) -> _n.Options:
    """struct shmlog_read_options of read()'s filters, checked."""
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise TypeError("shmlog: no filter is called %s (the filters: %s)" % (", ".join(unknown), ", ".join(FILTERS)))
    o = _n.options_init()
    level, category, app = filters.get("level"), filters.get("category"), filters.get("app")
    if level is not None:
        o.min_level = _level(level)
    if category is not None:
        o.category = str(category).encode()
    if app is not None:
        o.app = os.fsencode(app)
    host = filters.get("host")
    if host is not None:
        if not isinstance(host, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,63}", host):
            raise ValueError("shmlog: host must be a host's name as the collector's --host gives it (1 to 63 of "
                             "[A-Za-z0-9._-]), not %r" % (host,))
        if _n.library().shmlog_read_version() < _n.HOST_VERSION:
            raise _n.LibraryNotFound("shmlog: the loaded libshmlog-read has API version %d; host= needs %d or "
                                     "later" % (_n.library().shmlog_read_version(), _n.HOST_VERSION))
        o.host = host.encode()
    pid = filters.get("pid")
    if pid is not None:
        if isinstance(pid, bool) or not isinstance(pid, numbers.Integral) or not 0 < pid < 1 << 32:
            raise ValueError("shmlog: pid must be a process id (1..4294967295), not %r" % (pid,))
        o.pid = int(pid)
    thread = filters.get("thread")
    if thread is not None:
        if isinstance(thread, bool) or not isinstance(thread, (str, numbers.Integral)) or not str(thread) or \
                len(str(thread).encode()) > 32:
            raise ValueError("shmlog: thread must be a thread's name (1 to 32 bytes) or its tid, not %r" % (thread,))
        if _n.library().shmlog_read_version() < _n.THREAD_VERSION:
            raise _n.LibraryNotFound("shmlog: the loaded libshmlog-read has API version %d; thread= needs %d or "
                                     "later" % (_n.library().shmlog_read_version(), _n.THREAD_VERSION))
        o.thread = str(thread).encode()
    trace = filters.get("trace")
    if trace is not None:
        tid = ("%x" % trace) if isinstance(trace, numbers.Integral) and not isinstance(trace, bool) and \
            0 < trace < 1 << 128 else trace
        if not isinstance(tid, str) or not re.fullmatch(r"[0-9A-Fa-f]{1,32}", tid) or int(tid, 16) == 0:
            raise ValueError("shmlog: trace must be a trace id, 1 to 32 hex digits or an int of up to 128 bits, "
                             "not 0, not %r" % (trace,))
        if _n.library().shmlog_read_version() < _n.TRACE_VERSION:
            raise _n.LibraryNotFound("shmlog: the loaded libshmlog-read has API version %d; trace= needs %d or "
                                     "later" % (_n.library().shmlog_read_version(), _n.TRACE_VERSION))
        o.trace = tid.encode()
    since = filters.get("since")
    if since is not None:
        o.since_ns = _ns(since, "since")
    until = filters.get("until")
    if until is not None:
        o.until_ns = _ns(until, "until")
    grep = filters.get("grep")
    if grep is not None:
        o.grep = grep.encode() if isinstance(grep, str) else bytes(grep)
    where = filters.get("where")
    if where is not None:
        terms = [where] if isinstance(where, (str, bytes)) else list(where)
        if not all(isinstance(t, (str, bytes)) for t in terms):
            raise ValueError("shmlog: where must be a term such as 'id=42', or a list of them, not %r" % (where,))
        if terms:
            if _n.library().shmlog_read_version() < _n.WHERE_VERSION:
                raise _n.LibraryNotFound("shmlog: the loaded libshmlog-read has API version %d; where= needs %d or "
                                         "later" % (_n.library().shmlog_read_version(), _n.WHERE_VERSION))
            # The array is kept with the options (ctypes holds what a pointer field points to).
            o.where = (ctypes.c_char_p * len(terms))(*[t.encode() if isinstance(t, str) else bytes(t) for t in terms])
            o.nwhere = len(terms)
    limit = filters.get("limit")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or limit < 1:
            raise ValueError("shmlog: limit must be a positive int or None, not %r" % (limit,))
        o.limit = int(limit)
    return o


# A C reader: the library, its handle, and the options it may keep pointers into (alive as long as it).
OpenReader = Tuple[ctypes.CDLL, ctypes.c_void_p, _n.Options]


def _open(paths: Paths, filters: Filters) -> OpenReader:
    """A new C reader of paths. Raises as read() documents."""
    o = _options(filters)
    lib = _n.library()
    enc = _paths(paths)
    arr = (ctypes.c_char_p * len(enc))(*enc)
    err = ctypes.create_string_buffer(512)
    h = ctypes.c_void_p()
    rc = lib.shmlog_read_open(ctypes.byref(h), arr, len(enc), ctypes.byref(o), err, len(err))
    if rc != 0:
        msg = _n.decode(err.value) or os.strerror(-rc)
        if rc == -errno.EINVAL:  # a bad option
            raise ValueError(msg)
        if rc == -errno.ENOMEM:
            raise MemoryError(msg)
        raise OSError(-rc, msg)  # stat(2)'s errno: ENOENT is FileNotFoundError
    return lib, h, o


class Reader:
    """The iterator read() returns: Event objects in time order. Also a
    context manager; close() ends it early. After the last event,
    ``errors`` holds the messages of the damaged parts of the input that
    were skipped (error events not yielded), and a DamagedInputWarning
    lists them."""

    @_takes_filters
    def __init__(self, paths: Paths, *, kinds: Union[str, Iterable[str]] = ("record",), _fields: bool = True,
                 **filters: Unpack[Filters]) -> None:
        self._h: Optional[ctypes.c_void_p] = None
        if isinstance(kinds, str):
            kinds = (kinds,)
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise ValueError("shmlog: kinds %r: each must be one of %s" % (bad, ", ".join(KINDS)))
        self._want = frozenset(k for k, name in _KIND_NAME.items() if name in kinds) | (
            {_NOTE} if "note" in kinds else set())
        self._fields = _fields
        self.errors: List[str] = []
        self._cache: _n.TextCache = {}

        lib, h, self._opt = _open(paths, filters)
        self._lib = lib
        self._h = h
        version = lib.shmlog_read_version()
        self._thread_names = version >= _n.THREAD_VERSION  # an older library's events have none
        self._instances = version >= _n.INSTANCE_VERSION  # nor, before 6, instances
        self._hostnames = version >= _n.HOSTNAME_VERSION  # nor, before 10, the producers' own hostnames
        self._thread_column = version >= _n.THREAD_COLUMN_VERSION  # nor its batches
        self._ev = ctypes.POINTER(_n.Event)()
        self._fp = ctypes.POINTER(_n.Field)()
        self._len = ctypes.c_size_t()
        self._types: Tuple[int, ...] = ()  # of the last record's fields: one _native.T_* per field, in order
        self._pending: Deque[Event] = collections.deque()  # records of the last batch of columns, not yet yielded
        self._cols: Optional[Dict[str, Any]] = None  # the batch's arrays, made on first use (_fill)
        self._sources: Dict[int, _SourceInfo] = {}  # source index -> what its rows share, as str (_source)
        self._categories: Dict[Tuple[int, int], Optional[str]] = {}  # (source, category id) -> name

    def __iter__(self) -> Reader:
        return self

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        """Frees the C reader (iteration then ends)."""
        h, self._h = getattr(self, "_h", None), None  # None too when __init__ raised before setting it
        if h is not None:
            self._lib.shmlog_read_close(h)

    def __next__(self) -> Event:
        if self._pending:
            return self._pending.popleft()
        h = self._h
        if h is None:
            raise StopIteration
        lib = self._lib
        want = self._want
        # Records come in batches of columns, one call for many; any other
        # event (or a record too long for the batch's text) one at a time.
        if _n.RECORD in want and self._fill():
            return self._pending.popleft()
        while True:
            rc = lib.shmlog_read_next(h, ctypes.byref(self._ev))
            if rc <= 0:
                if rc < 0:
                    self.close()
                    raise MemoryError("shmlog: out of memory reading (%d)" % rc)
                had = lib.shmlog_read_had_errors(h)
                self.close()
                if self.errors or (had and _n.ERROR not in want):
                    self._warn()
                raise StopIteration
            ev = self._ev.contents
            kind = ev.kind
            if kind == _n.ERROR and ev.flags & _n.NOTE:
                kind = _NOTE
            if kind in want:
                return self._convert(ev, kind)
            if kind == _n.ERROR:
                self.errors.append(_n.text(ev.error, self._cache) or "damaged input")

    _ROWS = 4096

    def _fill(self) -> bool:
        """Reads the next records in columns into self._pending; False when
        the next event is not a record (or the end)."""
        c = self._cols
        if c is None:
            R = self._ROWS
            ctype = {"Q": ctypes.c_uint64, "I": ctypes.c_uint32, "B": ctypes.c_uint8}
            c = self._cols = {k: (ctype[t] * R)() for k, t in _n.COLUMN_ARRAYS.items()}
            per_row = 32 if self._lib.shmlog_read_version() >= _n.WIDE_VERSION else 16
            c["values"] = (ctypes.c_uint64 * (R * per_row))()
            c["text"] = (ctypes.c_char * (4 << 20))()
            c["_struct"] = _n.columns({k: ctypes.addressof(c[k]) for k in _n.COLUMN_ARRAYS}, R,
                                      ctypes.addressof(c["text"]), ctypes.sizeof(c["text"]),
                                      ctypes.addressof(c["values"]), R * per_row)
            raw = memoryview(c["values"]).cast("B")
            c["_u"], c["_i"], c["_f"] = raw.cast("Q"), raw.cast("q"), raw.cast("d")
            c["_text"] = memoryview(c["text"]).cast("B")
        rows = self._lib.shmlog_read_next_columns(self._h, ctypes.byref(c["_struct"]))
        if rows <= 0:
            if rows == -errno.ENOMEM:
                self.close()
                raise MemoryError("shmlog: out of memory reading")
            return False  # not a record next, the end, or one too long for the batch: one at a time
        text = c["_text"]
        vu, vi, vf = c["_u"], c["_i"], c["_f"]
        with_fields = self._fields
        # an older library leaves the thread column as it was: no names then
        threads = c["thread"][:rows] if self._thread_column else (_n.UINT64_MAX,) * rows
        new = _event_new
        pend = self._pending
        for ts, seq, tid, cpu, src, level, cat, flags, at_msg, at, at_thread in zip(
                c["ts_ns"][:rows], c["seq"][:rows], c["tid"][:rows], c["cpu"][:rows], c["source"][:rows],
                c["level"][:rows], c["category"][:rows], c["flags"][:rows], c["msg"][:rows],
                c["values_at"][:rows], threads):
            unknown = flags & _n.UNKNOWN_SITE
            corrupt = flags & _n.CORRUPT
            host, app, pid, start, site, func, names, types, instance, hostname = self._source(src, not corrupt)
            msg = None if unknown else _n.text_at(text, at_msg)
            fields: Dict[str, FieldValue] = {}
            if with_fields and not unknown and not corrupt:
                for j, name in enumerate(names):
                    t = types[j]
                    k = at + j
                    if t == _n.T_INT:
                        fields[name] = vi[k]
                    elif t == _n.T_UINT:
                        fields[name] = vu[k]
                    elif t == _n.T_FLOAT or t == _n.T_FLOAT32:
                        fields[name] = vf[k]
                    elif t == _n.T_STR:
                        fields[name] = _n.text_at(text, vu[k])
                    elif t == _n.T_BOOL:
                        fields[name] = vu[k] != 0
                    elif t == _n.T_PTR:
                        fields[name] = "0x%x" % vu[k]
                    else:  # a type added after API version 1
                        fields[name] = None
            pend.append(new(Event, (
                "record", ts, host, app, pid, tid, None if cpu == _n.UINT32_MAX else cpu, seq,
                _LEVELS[level] if level < 6 else "L%d" % level, self._category(src, cat), site, msg, fields,
                bool(flags & _n.TRUNCATED), bool(flags & _n.CLAMPED), bool(flags & _n.BACKTRACE),
                "unknown site" if unknown else "corrupt payload" if corrupt else None,
                None, None, None, None, None, None, None, start, bool(flags & _n.TIME_UNCERTAIN), func,
                None if at_thread == _n.UINT64_MAX else _n.text_at(text, at_thread), instance, hostname)))
        return True

    def _source(self, i: int, decoded: bool) -> _SourceInfo:
        """(host, app, pid, proc_start, "file:line" or None, function or None, field names, field types, instance or
        None, hostname or None) of source i.
        Its fields are known once a row of it decoded (the library learns them from the first)."""
        got = self._sources.get(i)
        if got is None:
            sp = self._lib.shmlog_read_source(self._h, i).contents
            c = self._cache
            site = func = None
            if sp.site:
                s = sp.site.contents
                site = "%s:%d" % (_n.text(s.file, c), s.line)
                func = _n.site_func(self._lib, s, c)
            names = tuple(_n.text(sp.field_names[j], c) or "" for j in range(sp.nfields))
            types = tuple(sp.field_types[j] for j in range(sp.nfields))
            instance = (_n.text(sp.instance, c) or None) if self._instances else None
            hostname = _n.text(sp.hostname, c) if self._hostnames and sp.hostname else None
            got = (_n.text(sp.host, c), _n.text(sp.app, c), sp.pid, sp.proc_start, site, func, names, types, instance,
                   hostname)
            if names or decoded:
                self._sources[i] = got
        return got

    def _category(self, src: int, cat: int) -> Optional[str]:
        name = self._categories.get((src, cat))
        if name is None:
            name = _n.text(self._lib.shmlog_read_category_name(self._h, src, cat), self._cache)
            self._categories[(src, cat)] = name
        return name

    def _warn(self) -> None:
        shown = self.errors[:10]
        more = len(self.errors) - len(shown)
        msg = "shmlog: damaged input skipped (%d error%s): %s%s" % (
            len(self.errors), "" if len(self.errors) == 1 else "s", "; ".join(shown) or "(no message)",
            "; and %d more" % more if more > 0 else "")
        warnings.warn(msg + " (read(..., kinds=(..., 'error')) yields them as events)", DamagedInputWarning,
                      stacklevel=3)

    def _convert(self, ev: _n.Event, kind: int) -> Event:
        """An Event holding copies of everything ev points to (valid only
        until the next call on the reader)."""
        c = self._cache
        text = _n.text
        cpu = ev.cpu
        if cpu == _n.UINT32_MAX:
            cpu = None
        if kind == _n.RECORD:
            flags = ev.flags
            h = self._h
            lib = self._lib
            sp = ev.site
            site = func = None
            if sp:
                s = sp.contents
                site = "%s:%d" % (text(s.file, c), s.line)
                func = _n.site_func(lib, s, c)
            p = lib.shmlog_read_message(h, ctypes.byref(self._len))
            msg = _n.decode(ctypes.string_at(p, self._len.value)) if p else None
            # a record that does not decode: no fields (-1), and the JSON's "error"
            nf = lib.shmlog_read_fields(h, ctypes.byref(self._fp))
            error = "unknown site" if flags & _n.UNKNOWN_SITE else "corrupt payload" if nf < 0 else None
            fields: Dict[str, FieldValue] = {}
            if self._fields:
                fields, self._types = self._read_fields(nf)
            return _event_new(Event, (
                "record", ev.ts_ns, text(ev.host, c), text(ev.app, c), ev.pid, ev.tid, cpu, ev.seq,
                text(ev.level_name, c), text(ev.category, c), site, msg, fields,
                bool(flags & _n.TRUNCATED), bool(flags & _n.CLAMPED), bool(flags & _n.BACKTRACE), error,
                None, None, None, None, None, None, None, ev.proc_start, bool(flags & _n.TIME_UNCERTAIN), func,
                (text(ev.thread, c) or None) if self._thread_names else None, self._instance(ev), self._hostname(ev)))
        if kind == _n.LOSS:
            return _event_new(Event, (
                "loss", ev.ts_ns, text(ev.host, c), text(ev.app, c), ev.pid, None, cpu, None,
                None, None, None, None, None, False, False, False, None,
                text(ev.loss_reason, c), ev.loss_records, ev.loss_positions, ev.loss_first_seq,
                None, None, None, ev.proc_start, False, None, None, self._instance(ev), self._hostname(ev)))
        if kind == _n.EXIT:
            return _event_new(Event, (
                "exit", ev.ts_ns, text(ev.host, c), text(ev.app, c), ev.pid, None, None, None,
                None, None, None, None, None, False, False, False, None,
                None, None, None, None,
                ev.exit_records, ev.exit_lost, text(ev.exit_how, c) or None, ev.proc_start, False, None, None,
                self._instance(ev), self._hostname(ev)))
        return _event_new(Event, (
            "note" if kind == _NOTE else "error", ev.ts_ns, text(ev.host, c), text(ev.app, c), ev.pid, None, cpu, None,
            None, None, None, None, None, False, False, False,
            text(ev.error, c) if kind in (_n.ERROR, _NOTE) else "unknown event kind %d" % kind,
            None, None, None, None, None, None, None, ev.proc_start, False, None, None, None, None))

    def _hostname(self, ev: _n.Event) -> Optional[str]:
        """The producer's own hostname of ev, or None (files from before it, an older library)."""
        return _n.text(ev.hostname, self._cache) if self._hostnames and ev.hostname else None

    def _instance(self, ev: _n.Event) -> Optional[str]:
        """The process instance of ev, or None (files from before it, an older library)."""
        return (_n.text(ev.instance, self._cache) or None) if self._instances else None

    def _read_fields(self, n: int) -> Tuple[Dict[str, FieldValue], Tuple[int, ...]]:
        """({name: value}, (type, ...)) of the n fields at self._fp."""
        out: Dict[str, FieldValue] = {}
        types = []
        fp = self._fp
        c = self._cache
        for i in range(n):
            f = fp[i]
            t = f.type
            v = f.v
            if t == _n.T_INT:
                val = v.i
            elif t == _n.T_UINT:
                val = v.u
            elif t == _n.T_FLOAT or t == _n.T_FLOAT32:
                val = v.f
            elif t == _n.T_STR:
                val = _n.decode(ctypes.string_at(v.s, f.str_len)) if v.s else ""
            elif t == _n.T_BOOL:
                val = v.u != 0
            elif t == _n.T_PTR:
                val = "0x%x" % v.u
            else:  # a type added after API version 1
                val = None
            out[_n.text(f.name, c) or ""] = val
            types.append(t)
        return out, tuple(types)


@_takes_filters
def read(paths: Paths, *, kinds: Union[str, Iterable[str]] = ("record",), **filters: Unpack[Filters]) -> Reader:
    """Events of shmlog-collector's files, in time order: a Reader (an
    iterator of Event).

    paths: a file or directory (str or os.PathLike), or a list of them; a
        directory stands for its .shlog files and the open .shlog.part.
    Filters, as shmlog-dump read's (records must pass all; loss and exit
    markers pass the app, host, pid and time filters only):
      level: this level and above: a name ("warn", any case) or 0 (TRACE) .. 5 (FATAL)
      category: one category by name, any case ("md" for market_data)
      app: one application; pid: one process id
      host: the files of one host, as the collector's --host names them (a
        topic's hosts too)
      since / until: events at or after / before: int ns since the Unix
        epoch, an aware datetime or an aware pandas.Timestamp (naive: ValueError)
      grep: a POSIX extended regular expression on the message
      trace: the records written while their thread worked for this trace
        (shmlog_trace_set): its id as 1 to 32 hex digits, or an int
      where: a term on the records' fields (as Event.fields names them), or a
        list of terms that must all hold: "id=42" (a string's bytes or a
        number), "sym!=SPY", "qty>=100" (<, <=, >, >= compare numbers)
      limit: at most this many records
    The files' indexes let these filters skip the frames that cannot match
    (SHMLOG_NO_INDEX=1 in the environment reads every frame: the same events).
    kinds: the kinds to yield, of "record", "loss", "exit", "error", "note"
      (KINDS: all). Error events not asked for are collected: after the
      last event a DamagedInputWarning lists them (also in Reader.errors).
      Notes (a file still being written or left open, which shmlog-dump
      prints on stderr without failing) are dropped unless asked for.

    Raises OSError (FileNotFoundError for ENOENT) with the library's message
    when a path cannot be found (one that is there but cannot be read is an
    error event), ValueError for a bad option (the library's message for a
    bad regular expression), LibraryNotFound (an ImportError) when
    libshmlog-read is not installed. All of these at the call, before the
    first event.
    """
    return Reader(paths, kinds=kinds, **filters)


@_takes_filters
def dataframe(paths: Paths, *, fields: bool = True, threads: int = 0, **filters: Unpack[Filters]) -> pandas.DataFrame:
    """The records of read(paths, ...) (same filters) as a pandas DataFrame,
    one row per record in time order, through Arrow (to_arrow(); needs
    pyarrow and pandas).

    Columns: ts (datetime64[ns, UTC], exact to the ns), level (an ordered
    Categorical TRACE < ... < FATAL: df[df.level >= "WARN"]), category, host,
    app, site, func, error (Categorical; site "file:line", NaN for a call site
    the files lack; func the call site's function, NaN where the files name
    none; error NaN, "unknown site" or "corrupt payload"), pid, tid,
    cpu (uint32), seq (uint64), msg (str; NaN for an unknown site),
    truncated, clamped, backtrace, time_uncertain (bool), hostname (the
    process's own name for its machine; NaN in files that keep none apart
    from host, the collector's --host).

    fields=True adds a column per field of the formats (to_arrow() names
    them): int8..int64, uint8..uint64, float32/float64 and bool when every
    row has the field, else pandas' nullable Int*, UInt*, Float*, boolean
    (<NA> where a row lacks it; a float's NaN stays NaN), and str.

    threads: to_arrow()'s (0: the cpus this process may run on).
    """
    from ._arrow import records_frame
    return records_frame(to_arrow(paths, fields=fields, threads=threads, **filters))


def losses(paths: Paths, *, app: Union[str, bytes, None] = None, pid: Optional[int] = None,
           since: Optional[Time] = None, until: Optional[Time] = None) -> pandas.DataFrame:
    """The loss and exit markers of the files as a pandas DataFrame, in time
    order (to_arrow(kind="markers"); needs pyarrow and pandas): ts
    (datetime64[ns, UTC]), kind ("loss"/"exit"), host, app (Categorical),
    pid (uint32), cpu (UInt32; <NA> for an exit and for a loss of the whole
    process), loss_reason (Categorical), loss_records, loss_positions,
    loss_first_seq (losses), exit_records, exit_lost (UInt64), exit_how
    (Categorical: "shutdown", "died"), <NA> where they do not apply."""
    from ._arrow import markers_frame
    return markers_frame(to_arrow(paths, app=app, pid=pid, since=since, until=until, kind="markers"))


from ._arrow import Source, open, to_arrow, to_duckdb, to_parquet, to_polars  # noqa: E402  (it imports the helpers above)
