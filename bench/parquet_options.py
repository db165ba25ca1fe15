"""Parquet export's writer options and table shapes, one at a time (issue 53): each row group of
to_arrow()'s table written by one ParquetWriter of its own, as to_parquet()'s writers do, on this thread,
for each option set in turn, ROUNDS rounds alternating them (a shared machine's load moves: compare within
a round). The shapes are what a schema change would write instead: the table without its field columns,
its rows ordered by site within each row group (a field column then null or not in runs), and a table per
site with only the field columns that site fills (as one file per record shape would be). Prints each
set's cpu-s (RUSAGE_THREAD, the encoding alone, best round) and the bytes written.
  SHMLOG_READ_LIBRARY=build/read/libshmlog-read.so.1 PYTHONPATH=python python bench/parquet_options.py SET/out [NAME...]
  ROUNDS=N (default 2), ROW_GROUP=rows (default 1048576)"""
import os
import resource
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import shmlog
from shmlog._arrow import _FIXED, _WRITE_BATCH, _parquet_columns


def thread_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_utime + r.ru_stime


table = shmlog.to_arrow(sys.argv[1])
rounds = int(os.environ.get("ROUNDS", "2"))
group = int(os.environ.get("ROW_GROUP", str(1 << 20)))
names = table.schema.names
base = dict(compression="zstd", write_batch_size=_WRITE_BATCH, **_parquet_columns(table.schema))
floats = ("id", "px", "exch_id", "field.seq", "bid", "ask", "realized", "unrealized", "gross")
fields = [n for n in names if n not in _FIXED]
filtered = ("ts", "level", "category", "app", "host", "pid", "tid", "seq", "site", "thread", "trace_id")


def options(**changed: object) -> dict:
    return {**base, **changed}


def site_keys(t: pa.Table) -> pa.Array:
    """Each row's site as a number (its dictionary index, or itself)."""
    col = t["site"].combine_chunks()
    return col.indices if pa.types.is_dictionary(col.type) else col


def by_site_in_groups() -> list:
    """The table with each row group's rows in site order (a stable sort: time order within a site)."""
    parts = [table.slice(s, group) for s in range(0, table.num_rows, group)]
    return [pa.concat_tables([p.take(pc.sort_indices(site_keys(p))) for p in parts])]


def per_site() -> list:
    """A table per site, with the fixed columns and only the field columns the site fills."""
    keys = site_keys(table)
    out = []
    for k in pc.unique(keys).to_pylist():
        t = table.filter(pc.equal(keys, k))
        out.append(t.select([n for n in names if n not in fields or t[n].null_count < t.num_rows]))
    return out


def msg_and_rest(msg: object, rest: object) -> dict:
    return {n: msg if n == "msg" else rest for n in names}


# name: (each row group's dictionaries unified first, the writer's options (None: the export's for each
# table's schema), the tables written (None: the table))
SETS = {
    "as main": (False, options()),
    "unified": (True, options()),
    "snappy": (True, options(compression="snappy")),
    "lz4": (True, options(compression="lz4")),
    "none": (True, options(compression="none")),
    "zstd level -1": (True, options(compression_level=-1)),
    "zstd level -5": (True, options(compression_level=-5)),
    "msg lz4, rest zstd": (True, options(compression=msg_and_rest("lz4", "zstd"))),
    "msg snappy, rest zstd": (True, options(compression=msg_and_rest("snappy", "zstd"))),
    "msg zstd, rest lz4": (True, options(compression=msg_and_rest("zstd", "lz4"))),
    "statistics on ts, level and keys only": (True, options(write_statistics=[n for n in filtered if n in names])),
    "page index": (True, options(write_page_index=True)),
    "64 KiB data pages": (True, options(data_page_size=64 << 10)),
    "no dictionary for ids and prices": (True, options(use_dictionary=[n for n in base["use_dictionary"]
                                                                       if n not in floats])),
    "dictionaries only where Arrow has them": (True, options(use_dictionary=[
        f.name for f in table.schema if pa.types.is_dictionary(f.type)])),
    "field columns: no dictionary, no statistics": (True, options(
        use_dictionary=[n for n in base["use_dictionary"] if n not in fields],
        write_statistics=[n for n in base["write_statistics"] if n not in fields])),
    "field columns: no dictionary, no statistics, lz4": (True, options(
        use_dictionary=[n for n in base["use_dictionary"] if n not in fields],
        write_statistics=[n for n in base["write_statistics"] if n not in fields],
        compression={n: "lz4" if n in fields else "zstd" for n in names})),
    "field columns: no dictionary, no statistics, uncompressed": (True, options(
        use_dictionary=[n for n in base["use_dictionary"] if n not in fields],
        write_statistics=[n for n in base["write_statistics"] if n not in fields],
        compression={n: "none" if n in fields else "zstd" for n in names})),
}
SHAPES = {
    "no field columns": lambda: [table.drop_columns(fields)],
    "rows by site in each row group": by_site_in_groups,
    "a table per site, its own field columns": per_site,
}
chosen = {k: SETS[k] + (None,) if k in SETS else (True, None, SHAPES[k]()) for k in sys.argv[2:]} if sys.argv[2:] \
    else {**{k: v + (None,) for k, v in SETS.items()}, **{k: (True, None, f()) for k, f in SHAPES.items()}}
best: dict = {}
size: dict = {}
for r in range(rounds):
    for name, (unify, opts, tables) in chosen.items():
        cpu = 0.0
        size[name] = 0
        for whole in tables or [table]:
            writer_options = opts or {**base, **_parquet_columns(whole.schema)}
            for start in range(0, whole.num_rows, group):
                t0 = thread_cpu()
                t = whole.slice(start, group)
                if unify:
                    t = t.unify_dictionaries()
                sink = pa.BufferOutputStream()
                with pq.ParquetWriter(sink, whole.schema, **writer_options) as w:
                    w.write_table(t, row_group_size=group)
                size[name] += sink.getvalue().size
                cpu += thread_cpu() - t0
        best[name] = min(best.get(name, cpu), cpu)
        print("round %d, %s: %.2f cpu-s, %d bytes, load %.1f" % (r, name, cpu, size[name], os.getloadavg()[0]),
              flush=True)
print("| options | encoding cpu-s (best of %d) | bytes |\n|---|---|---|" % rounds)
for name in chosen:
    print("| %s | %.2f | %s |" % (name, best[name], format(size[name], ",")))
