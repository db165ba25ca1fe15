"""A column with no value in a batch (null in every row, or a bool false in every row) costs the batch no memory:
its buffers are views of one read-only region of zeros that every such column of every batch of the stream shares,
and the kernel gives the process no page of it however much a consumer reads it. pyarrow, polars and DuckDB read
those columns as nulls (or false), beside batches where the same column has values, as shmlog-dump reads the
records; a column kept after the rest of its stream was released still holds the region. The files: the real collector's of a sample producer, whose
"starting" record alone has count=, threads= and rate= and whose records have no trace, span or error."""
import gc
from typing import Any, Dict, List, Optional, Set, Tuple

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import shmlog
from conftest import Live
from dumpcmp import Problems, check_records_table, column_values, kind_of, run_dump

ROWS = 64  # rows a batch: the "starting" record's fields have values in one batch of many


def read_batches(live: Live, threads: int) -> List[pa.RecordBatch]:
    src = shmlog.open(str(live.out), batch_rows=ROWS, threads=threads)
    try:
        return list(pa.RecordBatchReader.from_stream(src))
    finally:
        src.close()


def valueless(a: pa.Array) -> bool:
    """Whether a column chunk has no value: null in every row, or a bool false in every row."""
    if a.null_count == len(a):
        return True
    return bool(pa.types.is_boolean(a.type) and a.null_count == 0 and not pc.any(a).as_py())


def buffers(a: pa.Array) -> List[pa.Buffer]:
    """The chunk's buffers, a dictionary's indices' and values' both; none of those pyarrow left out."""
    parts = [a.indices, a.dictionary] if pa.types.is_dictionary(a.type) else [a]
    return [b for p in parts for b in p.buffers() if b is not None]


def split_buffers(batches: List[pa.RecordBatch]) -> Tuple[Set[int], Set[int], Dict[str, Set[int]]]:
    """The addresses of the valueless chunks' buffers, of the others' (of size > 0), and, by column, the batches
    in which a column is valueless."""
    empty: Set[int] = set()
    full: Set[int] = set()
    where: Dict[str, Set[int]] = {}
    for i, b in enumerate(batches):
        for name, a in zip(b.schema.names, b.columns):
            if valueless(a):
                where.setdefault(name, set()).add(i)
                empty |= {x.address for x in buffers(a) if x.size}
            else:
                full |= {x.address for x in buffers(a) if x.size}
    return empty, full, where


def mapping(address: int) -> Optional[Dict[str, Any]]:
    """The mapping of /proc/self/smaps that holds address: its permissions, size and resident bytes."""
    found: Optional[Dict[str, Any]] = None
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
                if found is not None:
                    return found
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                if lo <= address < hi:
                    found = {"perms": head[1], "bytes": hi - lo}
            elif found is not None and head[0] in ("Rss:", "Anonymous:"):
                found[head[0]] = int(head[1]) * 1024
    return found


@pytest.mark.parametrize("threads", [1, 2])
def test_valueless_columns_share_one_zero_region(live: Live, threads: int) -> None:
    batches = read_batches(live, threads)
    assert len(batches) == (live.records + ROWS - 1) // ROWS
    empty, full, where = split_buffers(batches)
    # One address for every buffer of every valueless chunk, which no chunk with values uses.
    assert len(empty) == 1, sorted(empty)[:10]
    zero = empty.pop()
    assert zero not in full
    names = batches[0].schema.names
    # Null in every batch: no record has a trace, a span or an error; a flag no record has.
    for name in ("trace_id", "span", "error", "clamped"):
        assert where.get(name) == set(range(len(batches))), (name, where.get(name))
    # A column with values in the "starting" record's batch alone, null in the rest.
    for name in ("count", "threads", "rate"):
        assert name in names and len(where[name]) == len(batches) - 1, (name, where.get(name))
    # Read-only, and none of its pages resident though every view of it was read whole.
    for b in batches:
        for a in b.columns:
            if valueless(a):
                assert all(x.to_pybytes() == bytes(x.size) for x in buffers(a))
    region = mapping(zero)
    assert region is not None and region["perms"] == "r--p", region
    assert region["bytes"] >= ROWS * 8 and region["Rss:"] == 0, region
    # A column kept while the other columns, the batches and the stream are released: its region stays, zeros.
    kept = batches[-1].column("trace_id")
    del b, batches
    gc.collect()
    assert mapping(zero) == region
    assert kept.null_count == len(kept) and all(x.to_pybytes() == bytes(x.size) for x in buffers(kept))


def test_pyarrow_polars_and_duckdb_read_them(dump: str, live: Live) -> None:
    """Batches of 64 rows, in most of which the fields of the "starting" record and every trace column are null:
    pyarrow's table holds the dump's records value for value; polars and DuckDB read the same values, nulls
    where they are null, and work on those columns (fill, filter, count) as on any."""
    import duckdb
    import polars as pl
    objs, _, _ = run_dump(dump, [str(live.out)])
    recs = [o for o in objs if kind_of(o) == "record"]
    batches = read_batches(live, 2)
    t = pa.Table.from_batches(batches)
    problems = Problems()
    check_records_table(problems, "batches of %d rows" % ROWS, recs, t)
    assert not problems, problems.report()
    _, _, where = split_buffers(batches)
    mixed = [n for n, w in where.items() if len(w) < len(batches)]  # valueless in some batches, not in all
    assert {"count", "threads", "rate"} <= set(mixed), mixed
    tested = sorted(where)
    starting = [o for o in recs if "count" in o.get("fields", {})]
    assert len(starting) == 1, starting

    df = pl.DataFrame(shmlog.open(str(live.out), batch_rows=ROWS))
    back = df.to_arrow()
    for name in tested:
        assert column_values(back.column(name)) == column_values(t.column(name)), name
        assert df[name].null_count() == t.column(name).null_count, name
    assert df.filter(pl.col("count").is_not_null())["count"].to_list() == [starting[0]["fields"]["count"]]
    filled = df.with_columns(pl.col("count").fill_null(7), pl.col("trace_id").fill_null("none"))
    assert filled["count"].to_list().count(7) == len(df) - 1
    assert set(filled["trace_id"].to_list()) == {"none"}

    con = duckdb.connect(":memory:")
    src = shmlog.open(str(live.out), batch_rows=ROWS)
    rel = con.from_arrow(src)
    counts = rel.aggregate(", ".join('count("%s")' % n for n in tested)).fetchall()[0]
    assert list(counts) == [len(t) - t.column(n).null_count for n in tested]
    got = con.sql('SELECT "count", "threads", "rate", trace_id, span, error FROM rel').to_arrow_table()
    for name in got.column_names:
        assert column_values(got.column(name)) == column_values(t.column(name)), name
    assert con.sql('SELECT count(*) FROM rel WHERE "count" IS NULL AND trace_id IS NULL').fetchall()[0][0] == \
        len(t) - 1
