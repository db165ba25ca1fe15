"""Arrow out of libshmlog-read: the stream source (open()), pyarrow tables,
Parquet, and pandas DataFrames made of them. The batches are the C
library's (shmlog_read_arrow(), the Arrow C stream interface), handed to
pyarrow, polars or DuckDB in a PyCapsule: no value passes through a Python
object, and the decoding runs in C calls, which ctypes makes without the GIL.
"""
from __future__ import annotations

import builtins
import collections
import ctypes
import os
import queue
import threading
import warnings
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, Iterator, List, Optional, Tuple

from . import _native as _n
from . import DamagedInputWarning, Filters, OpenReader, Paths, _open, _options, _takes_filters

if TYPE_CHECKING:
    import duckdb
    import pandas
    import polars
    import pyarrow
    from typing_extensions import Unpack

_CAPSULE_NAME = b"arrow_array_stream"
# Parquet: rows per row group (a million took as much to 9 % more cpu-s, and 2.5 times the memory: bench/RESULTS.md).
_ROW_GROUP = 1 << 18
_PLAIN = ("msg",)  # Parquet: no dictionary, no statistics (_parquet_columns())
_DELTA = ("ts", "seq")  # Parquet: delta-encoded, no dictionary (_parquet_columns())
# Parquet: values the writer encodes at a time (pyarrow's 1024 spends 8 % more of the writer's cpu).
_WRITE_BATCH = 1 << 14

# The PyCapsule protocol's capsule: made here with ctypes, its destructor
# releases a stream no consumer took (a consumer that takes it moves the
# struct out and leaves release NULL) and frees the struct.
_libc = ctypes.CDLL(None)
_libc.malloc.argtypes = [ctypes.c_size_t]
_libc.malloc.restype = ctypes.c_void_p
_libc.free.argtypes = [ctypes.c_void_p]
_libc.free.restype = None
_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_capsule_new.restype = ctypes.py_object
_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_capsule_pointer.restype = ctypes.c_void_p


def _free_capsule(capsule: int) -> None:
    ptr = _capsule_pointer(capsule, _CAPSULE_NAME)
    if ptr:
        stream = _n.ArrowArrayStream.from_address(ptr)
        if stream.release:
            stream.release(ptr)
        _libc.free(ptr)


_capsule_free = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(_free_capsule)  # kept: the C side holds its address


def _pyarrow(what: str) -> Any:
    try:
        import pyarrow
    except ImportError:
        raise ImportError("shmlog.%s needs pyarrow, which is not installed: pip install pyarrow "
                          "(shmlog.read() needs nothing more)" % what) from None
    return pyarrow


def _stream_capsule(handle: ctypes.c_void_p, kind: str, fields: bool, message: bool, batch_rows: int,
                    threads: int, string_views: bool) -> object:
    """A PyCapsule of a new Arrow stream of the reader handle (which it holds)."""
    lib = _n.library_v2()
    o = _n.ArrowOptions()
    o.size = ctypes.sizeof(o)
    o.what = _n.ARROW_MARKERS if kind == "markers" else _n.ARROW_RECORDS
    o.batch_rows = batch_rows
    o.fields = 1 if fields else 0
    o.message = 1 if message else 0
    o.threads = threads
    o.trees = 1
    o.string_views = 1 if string_views else 0
    ptr = _libc.malloc(ctypes.sizeof(_n.ArrowArrayStream))
    if not ptr:
        raise MemoryError("shmlog: out of memory for an Arrow stream")
    ctypes.memset(ptr, 0, ctypes.sizeof(_n.ArrowArrayStream))
    err = ctypes.create_string_buffer(512)
    rc = lib.shmlog_read_arrow(handle, ctypes.byref(o), ptr, err, len(err))
    if rc != 0:
        _libc.free(ptr)
        raise (MemoryError if rc == -12 else ValueError)(_n.decode(err.value))
    return _capsule_new(ptr, _CAPSULE_NAME, ctypes.cast(_capsule_free, ctypes.c_void_p))


class Source:
    """Records (or loss and exit markers) of shmlog-collector's files as an
    Arrow stream: anything that takes an object with ``__arrow_c_stream__``
    reads it, each time afresh from the files, with no copy through Python:

        src = shmlog.open("/var/log/shmlog", level="warn")
        pyarrow.table(src)
        polars.DataFrame(src)
        duckdb.sql("SELECT app, count(*) FROM src GROUP BY ALL")

    ``errors`` then holds what the last stream found damaged and skipped;
    ``notes`` what it noted that is no damage (a file still being written).
    """

    @_takes_filters
    def __init__(self, paths: Paths, *, kind: str = "records", fields: bool = True, message: bool = True,
                 batch_rows: int = 0, threads: int = 0, string_views: bool = False,
                 **filters: Unpack[Filters]) -> None:
        self._last: Optional[OpenReader] = None  # the last stream's reader
        if kind not in ("records", "markers"):
            raise ValueError("shmlog: kind is \"records\" or \"markers\" (loss and exit markers), not %r" % (kind,))
        if not isinstance(batch_rows, int) or isinstance(batch_rows, bool) or not 0 <= batch_rows <= 1 << 20:
            raise ValueError("shmlog: batch_rows is 0 (the library's choice) to %d, not %r" % (1 << 20, batch_rows))
        if not isinstance(threads, int) or isinstance(threads, bool) or not 0 <= threads <= 1 << 16:
            raise ValueError("shmlog: threads is 0 (the cpus this process may run on) or a count, not %r" % (threads,))
        self._paths = paths
        self._filters = filters
        # Checked now, as read() checks them: a bad option or path raises here, not in the consumer.
        _options(filters)
        _n.library_v2()
        lib, h, _ = _open(paths, filters)
        lib.shmlog_read_close(h)
        self.kind = kind
        self._fields = fields
        self._message = message
        self._batch_rows = batch_rows
        self._threads = threads
        self._string_views = bool(string_views)

    def _reader(self) -> ctypes.c_void_p:
        if self._last is not None:
            self._last[0].shmlog_read_close(self._last[1])
            self._last = None
        self._last = _open(self._paths, self._filters)
        return self._last[1]

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        """A PyCapsule holding a struct ArrowArrayStream of a new read of the
        files (the Arrow PyCapsule interface). requested_schema is not used:
        the schema is the files' (shmlog_read(3))."""
        return _stream_capsule(self._reader(), self.kind, self._fields, self._message, self._batch_rows,
                               self._threads, self._string_views)

    def _messages(self, notes: bool) -> List[str]:
        if self._last is None:
            return []
        lib, h = self._last[0], self._last[1]
        out: List[str] = []
        note = ctypes.c_int()
        i = 0
        while True:
            p = lib.shmlog_read_stream_message(h, i, ctypes.byref(note))
            if not p:
                return out
            if bool(note.value) == notes:
                out.append(_n.decode(ctypes.string_at(p)))
            i += 1

    @property
    def errors(self) -> List[str]:
        """The damage the last stream met and skipped (at most 256 messages)."""
        return self._messages(False)

    @property
    def notes(self) -> List[str]:
        """What the last stream noted that is no damage."""
        return self._messages(True)

    def had_errors(self) -> bool:
        """Whether the last stream met damage."""
        return self._last is not None and bool(self._last[0].shmlog_read_had_errors(self._last[1]))

    def close(self) -> None:
        """Frees the last stream's reader (a stream still read holds it on its own)."""
        last = getattr(self, "_last", None)  # None too when __init__ raised before setting it
        if last is not None:
            last[0].shmlog_read_close(last[1])
            self._last = None

    def __del__(self) -> None:
        self.close()

    def reader(self) -> pyarrow.RecordBatchReader:
        """A pyarrow.RecordBatchReader of a new read (needs pyarrow)."""
        pa = _pyarrow("open().reader()")
        return pa.RecordBatchReader.from_stream(self)

    def __repr__(self) -> str:
        return "shmlog.Source(%r, kind=%r)" % (self._paths, self.kind)


@_takes_filters
def open(paths: Paths, *, kind: str = "records", fields: bool = True, message: bool = True, batch_rows: int = 0,
         threads: int = 0, string_views: bool = False, **filters: Unpack[Filters]) -> Source:
    """The records of shmlog-collector's files (or their loss and exit
    markers, kind="markers") as an Arrow stream source: a Source, whose
    ``__arrow_c_stream__`` pyarrow.table(), polars.DataFrame() and DuckDB
    (``duckdb.sql("... FROM src")``) read. Each read reads the files again.

    paths and the filters are read()'s; since/until also take shmlog-dump's
    time strings ("-5m", "-2h", "2026-11-23T07:00+01:00", "2026-11-23",
    "07:00" today; a time without a zone is UTC). fields=False leaves out the
    fields' columns, message=False the msg column. threads: how many
    threads write the batches (0: the cpus this process may run on; the
    batches are the same whatever the count). string_views=True gives the
    string columns (msg, trace_id, string fields) as Arrow's string_view,
    which polars keeps as they are where it copies utf8 into views of its
    own (to_polars() asks for them); pyarrow and DuckDB read either. The
    columns: shmlog_read(3), and python/README.md.
    """
    return Source(paths, kind=kind, fields=fields, message=message, batch_rows=batch_rows, threads=threads,
                  string_views=string_views, **filters)


def _warn_damage(src: Source) -> None:
    errors = src.errors
    if errors or src.had_errors():
        shown = errors[:10]
        warnings.warn("shmlog: damaged input skipped (%d error%s): %s%s" % (
            len(errors), "" if len(errors) == 1 else "s", "; ".join(shown) or "(no message)",
            "; and %d more" % (len(errors) - len(shown)) if len(errors) > len(shown) else ""),
            DamagedInputWarning, stacklevel=3)


@_takes_filters
def to_arrow(paths: Paths, *, kind: str = "records", fields: bool = True, message: bool = True, threads: int = 0,
             **filters: Unpack[Filters]) -> pyarrow.Table:
    """open(...) read into a pyarrow.Table (needs pyarrow). Damaged input is
    skipped with a shmlog.DamagedInputWarning that lists it."""
    pa = _pyarrow("to_arrow()")
    src = open(paths, kind=kind, fields=fields, message=message, threads=threads, **filters)
    try:
        # Not pa.table(src): it asks whether src is a pandas DataFrame, importing pandas (0.25 cpu-s).
        table = pa.RecordBatchReader.from_stream(src).read_all()
        _warn_damage(src)
        return table
    finally:
        src.close()


def _row_groups(stream: pyarrow.RecordBatchReader, rows: int,
                held: int) -> Iterator[Tuple[List[pyarrow.RecordBatch], Callable[[], None]]]:
    """stream's batches in lists of rows rows (the last of what is left),
    gathered on a thread of their own while the caller writes those before:
    the C stream and pyarrow's writer both run without the GIL. Each list
    comes with the call that says the caller is done with it; at most held
    lists are held, those gathered and the one being gathered."""
    ready: queue.Queue[Any] = queue.Queue()
    slots = threading.Semaphore(held)  # a slot a list, given back once the caller wrote it
    stop = threading.Event()
    end = object()

    def take_slot() -> bool:
        while not stop.is_set():
            if slots.acquire(timeout=0.1):
                return True
        return False

    def gather() -> None:
        try:
            if not take_slot():
                return
            group: List[Any] = []
            got = 0
            for batch in stream:
                if stop.is_set():
                    return
                while got + batch.num_rows >= rows:
                    # A row group's end: the batch's head goes to it, its tail to the next.
                    head = rows - got
                    group.append(batch.slice(0, head))
                    ready.put(group)
                    batch = batch.slice(head)
                    group, got = [], 0
                    if not take_slot():
                        return
                if batch.num_rows:
                    group.append(batch)
                    got += batch.num_rows
            if got:
                ready.put(group)
            ready.put(end)
        except BaseException as err:  # the caller's to raise
            ready.put(err)

    gatherer = threading.Thread(target=gather, name="shmlog-parquet-read", daemon=True)
    gatherer.start()
    try:
        while True:
            item = ready.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item, slots.release
            del item
    finally:
        stop.set()
        gatherer.join()


def _parquet_columns(schema: pyarrow.Schema) -> Dict[str, Any]:
    """ParquetWriter's per-column options for the stream's schema: msg plain
    (its values are nearly all distinct, so the writer's dictionary fills and
    is dropped, and its min/max says nothing a query could skip by); ts and seq,
    which rise record by record, as deltas (a dictionary of distinct values is
    work for nothing); every other column dictionary-encoded with statistics."""
    names = schema.names
    delta = [n for n in _DELTA if n in names]
    keyed = [n for n in names if n not in _PLAIN]
    return {"use_dictionary": [n for n in keyed if n not in delta], "write_statistics": keyed,
            "column_encoding": {n: "DELTA_BINARY_PACKED" for n in delta} or None}


@_takes_filters
def to_parquet(paths: Paths, out: Any, *, kind: str = "records", fields: bool = True, message: bool = True,
               row_group_rows: int = _ROW_GROUP, compression: str = "zstd", threads: int = 0,
               **filters: Unpack[Filters]) -> int:
    """open(...) written to the Parquet file out (a path or a writable
    binary file) with pyarrow: row groups of row_group_rows records (the
    last of the rest), each column compressed with compression (zstd; any
    codec pyarrow's ParquetWriter takes: "lz4", "snappy", "none", or a
    dict of column to codec, a column left out not compressed); msg plain (no dictionary, no statistics), ts
    and seq delta-encoded, the dictionary columns one dictionary a row
    group. zstd is the default because the faster codecs save little: on
    10.9 M records of the trading mix lz4 took 2 to 9 % less cpu-s and
    wrote 250 MB against zstd's 157 MB (bench/RESULTS.md, issue 53). Row
    groups are encoded side by side, one a writer thread, while the next
    is read; as many row groups as writers (two at least) are in memory.
    threads: the writers, and open()'s decoding threads; 0: a writer a cpu
    this process may run on, and the decoders the cpus less one (at least
    one). Returns the rows written."""
    pa = _pyarrow("to_parquet()")
    import pyarrow.parquet as pq
    if not isinstance(row_group_rows, int) or isinstance(row_group_rows, bool) or row_group_rows < 1:
        raise ValueError("shmlog: row_group_rows is a count of at least 1, not %r" % (row_group_rows,))
    writers = threads
    if threads == 0 and not isinstance(threads, bool):
        # A decoder fewer than the cpus: the writers are the slower stage.
        writers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        threads = max(1, writers - 1)
    src = open(paths, kind=kind, fields=fields, message=message, threads=threads, **filters)
    try:
        stream = pa.RecordBatchReader.from_stream(src)
        options = dict(compression=compression, write_batch_size=_WRITE_BATCH, **_parquet_columns(stream.schema))
        try:
            pq.ParquetWriter(pa.BufferOutputStream(), stream.schema, **options).close()
        except pa.ArrowException as err:  # a codec pyarrow lacks: said before out is made
            raise ValueError("shmlog: %s" % err) from None

        def encode(group: List[pyarrow.RecordBatch], done: Callable[[], None]) -> Tuple[pyarrow.Buffer, int]:
            """The group as a Parquet file of one row group (none: no group), in memory, and its rows."""
            try:
                sink = pa.BufferOutputStream()
                rows = 0
                with pq.ParquetWriter(sink, stream.schema, **options) as w:
                    if group:
                        # One dictionary a column for the group: pyarrow's writer keeps a column chunk's first
                        # dictionary and writes the rest of the chunk as plain values once a batch's differs.
                        t = pa.Table.from_batches(group, stream.schema).unify_dictionaries()
                        del group[:]
                        rows = t.num_rows
                        w.write_table(t, row_group_size=row_group_rows)
                        del t
                return sink.getvalue(), rows
            finally:
                done()

        # As many row groups held as writers (two at least, one gathered while one is written): on a cpu each,
        # the writers keep them busy, and a group gathered beyond would wait for a cpu and take memory.
        rows = _write_parts(out, encode, _row_groups(stream, row_group_rows, max(2, writers)), writers)
        _warn_damage(src)
        return rows
    finally:
        src.close()


def _write_parts(out: Any, encode: Callable[[List[pyarrow.RecordBatch], Callable[[], None]], Tuple[Any, int]],
                 groups: Iterator[Tuple[List[pyarrow.RecordBatch], Callable[[], None]]], writers: int) -> int:
    """The groups encoded by writers threads, joined into the Parquet file out in their order; the rows written."""
    from concurrent.futures import ThreadPoolExecutor
    from ._pqjoin import Joiner
    rows = 0
    f = builtins.open(out, "wb") if isinstance(out, (str, bytes, os.PathLike)) else out
    try:
        joined = Joiner(f)
        pending: Deque[Any] = collections.deque()
        with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="shmlog-parquet-write") as pool:
            def take() -> None:
                nonlocal rows
                part, n = pending.popleft().result()
                joined.add(part)
                rows += n
            for group, done in groups:
                pending.append(pool.submit(encode, group, done))
                del group
                while pending and (pending[0].done() or len(pending) > writers):
                    take()
            if not rows and not pending:
                pending.append(pool.submit(encode, [], lambda: None))  # no rows: a file of the schema alone
            while pending:
                take()
        joined.close()
    finally:
        if f is not out:
            f.close()
    return rows


# ==== polars and DuckDB ====

# Every name the level column's dictionary can hold, in level order (a damaged record's 6 and 7 last).
_LEVEL_ORDER = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "L6", "L7")
_DUCKDB_LEVEL = "shmlog_level"


@_takes_filters
def to_polars(paths: Paths, *, kind: str = "records", fields: bool = True, message: bool = True, threads: int = 0,
              **filters: Unpack[Filters]) -> polars.DataFrame:
    """open(...) read into a polars DataFrame (needs polars), level a
    polars Enum in level order, so that pl.col("level") >= "WARN" keeps
    ERROR and FATAL. Damaged input is skipped with a DamagedInputWarning."""
    try:
        import polars as pl
    except ImportError:
        raise ImportError("shmlog.to_polars() needs polars, which is not installed: pip install polars") from None
    # Its string columns as views: polars' own string type, taken without a copy (bench/RESULTS.md, issue 53).
    # Asked of polars 1 and later only: an older one, which this package was never tested with, gets utf8.
    major = pl.__version__.split(".")[0]
    views = major.isdigit() and int(major) >= 1
    src = open(paths, kind=kind, fields=fields, message=message, threads=threads, string_views=views, **filters)
    try:
        df = pl.DataFrame(src)
        _warn_damage(src)
    finally:
        src.close()
    # polars reads Arrow's ordered dictionary as a Categorical, which compares as text.
    if "level" in df.columns:
        df = df.with_columns(pl.col("level").cast(pl.Enum(list(_LEVEL_ORDER))))
    return df


@_takes_filters
def to_duckdb(paths: Paths, *, connection: Any = None, kind: str = "records", fields: bool = True,
              message: bool = True, threads: int = 0, **filters: Unpack[Filters]) -> duckdb.DuckDBPyRelation:
    """open(...) as a relation of the DuckDB connection (needs duckdb; by
    default duckdb's default connection, the one duckdb.sql() runs on),
    level of the ENUM type shmlog_level it creates there, in level order:
    WHERE level >= 'WARN'::shmlog_level keeps ERROR and FATAL (DuckDB
    compares an ENUM with a bare string as text). The relation reads the
    files each time a query runs."""
    try:
        import duckdb
    except ImportError:
        raise ImportError("shmlog.to_duckdb() needs duckdb, which is not installed: pip install duckdb") from None
    con = connection if connection is not None else duckdb.default_connection()
    src = open(paths, kind=kind, fields=fields, message=message, threads=threads, **filters)
    rel = con.from_arrow(src)
    if "level" not in rel.columns:
        return rel
    # DuckDB reads an Arrow dictionary, ordered or not, as VARCHAR.
    con.execute("CREATE TYPE IF NOT EXISTS %s AS ENUM (%s)" % (
        _DUCKDB_LEVEL, ", ".join("'%s'" % name for name in _LEVEL_ORDER)))
    return rel.project("* REPLACE (level::%s AS level)" % _DUCKDB_LEVEL)


# ==== pandas ====

_FIXED = ("ts", "level", "category", "app", "host", "pid", "tid", "cpu", "seq", "site", "func", "msg", "truncated",
          "clamped", "backtrace", "time_uncertain", "error", "thread", "instance", "trace_id", "span", "hostname")


def _pandas(what: str) -> Any:
    try:
        import pandas
    except ImportError:
        raise ImportError("shmlog.%s needs pandas, which is not installed: pip install pandas" % what) from None
    return pandas


def _nullable(pd: Any, pa: Any, t: Any) -> Any:
    """pandas' nullable dtype for Arrow type t (ints, floats, bool), else None."""
    m = {pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
         pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(),
         pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype(), pa.float32(): pd.Float32Dtype(),
         pa.float64(): pd.Float64Dtype(), pa.bool_(): pd.BooleanDtype()}
    return m.get(t)


def _frame(table: pyarrow.Table, columns_order: List[str]) -> pandas.DataFrame:
    """A DataFrame of the table: numbers as numpy arrays where no row is null
    and as pandas' nullable arrays where some are; dictionaries as
    Categoricals, the level's ordered; timestamps as datetime64[ns, UTC]."""
    pd = _pandas("dataframe()")
    pa = _pyarrow("dataframe()")
    cols = {}
    for name in columns_order:
        col = table.column(name)
        dtype = _nullable(pd, pa, col.type) if col.null_count else None
        if dtype is not None:
            cols[name] = pd.Series(dtype.__from_arrow__(col), copy=False)
        else:
            cols[name] = col.to_pandas()
    return pd.DataFrame(cols, copy=False)


def records_frame(table: pyarrow.Table) -> pandas.DataFrame:
    return _frame(table, table.column_names)


def markers_frame(table: pyarrow.Table) -> pandas.DataFrame:
    pd = _pandas("losses()")
    df = _frame(table, table.column_names)
    # Missing values of the markers are <NA> whatever a batch held.
    for c in ("cpu",):
        if str(df[c].dtype) != "UInt32":
            df[c] = df[c].astype(pd.UInt32Dtype())
    for c in ("loss_records", "loss_positions", "loss_first_seq", "exit_records", "exit_lost"):
        if str(df[c].dtype) != "UInt64":
            df[c] = df[c].astype(pd.UInt64Dtype())
    return df
