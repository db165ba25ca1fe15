"""Arrow streams written by several threads (open(threads=N)) give the batches of one thread, batch by batch
and byte for byte: over every corpus input (losses, rotation, every index version), a .part, a damaged file,
the real collector's files of a producer on two threads, with filters that the index answers (frames skipped)
and others, and batches small enough that many are in flight at once."""
import functools
import pathlib
import shutil
from typing import Any, Dict, List

import pyarrow as pa
import pytest

import shmlog
from conftest import Live, corpus_inputs

# Filters: none, ones the index rules frames out by, and ones only the records' read decides.
FILTERS: List[Dict[str, Any]] = [{}, {"level": "WARN"}, {"where": ["id=3"]}, {"category": "order"},
                                 {"grep": "o"}, {"limit": 40}]


def batches(path: "str | List[str]", threads: int, rows: int, **filters: Any) -> List[pa.RecordBatch]:
    src = shmlog.open(path, threads=threads, batch_rows=rows, **filters)
    try:
        return list(pa.RecordBatchReader.from_stream(src))
    finally:
        src.close()


def assert_same(path: "str | List[str]", rows: int = 7, **filters: Any) -> int:
    one = batches(path, 1, rows, **filters)
    for threads in (2, 4):
        many = batches(path, threads, rows, **filters)
        assert [b.num_rows for b in many] == [b.num_rows for b in one], (path, threads, filters)
        for i, (a, b) in enumerate(zip(one, many)):
            assert a.schema == b.schema, (path, threads, filters, i)
            for c in range(a.num_columns):
                x, y = a.column(c), b.column(c)
                if pa.types.is_dictionary(x.type):  # the same indices into the same dictionary
                    assert x.dictionary.to_pylist() == y.dictionary.to_pylist(), (path, threads, filters, i, c)
                    x, y = x.indices, y.indices
                assert repr(x.to_pylist()) == repr(y.to_pylist()), (path, threads, filters, i, c)  # NaN too
                # Byte for byte where no row is null (a null row's slot holds nothing).
                if x.null_count:
                    continue
                bufs_a = [x.to_pybytes() if x is not None else None for x in a.column(c).buffers()]
                bufs_b = [x.to_pybytes() if x is not None else None for x in b.column(c).buffers()]
                assert bufs_a == bufs_b, (path, threads, filters, i, a.schema.field(c).name)
    return sum(b.num_rows for b in one)


@pytest.mark.parametrize("path", corpus_inputs(), ids=lambda p: "/".join(p.parts[-2:]))
def test_corpus_inputs(path: pathlib.Path) -> None:
    for f in FILTERS:
        assert_same(str(path), **f)


def test_a_part_and_a_damaged_file(corpus: pathlib.Path, damaged: "dict[str, str]", tmp_path: pathlib.Path) -> None:
    files = sorted((corpus / "v2-index3" / "rotation").glob("*.shlog"))
    assert len(files) >= 2
    for f in files[:-1]:
        shutil.copy(f, tmp_path / f.name)
    shutil.copy(files[-1], tmp_path / (files[-1].name + ".part"))  # as a collector killed while writing it
    for f in FILTERS:
        assert_same(str(tmp_path), **f)
    assert_same(damaged["cut"])
    assert_same([damaged["garbage"], str(tmp_path)])


def test_the_collectors_files(live: Live) -> None:
    assert assert_same(str(live.out), rows=100) == live.records
    for f in FILTERS:
        assert_same(str(live.out), rows=64, **f)
    # The library's own batch size: a batch holds every row here.
    assert_same(str(live.out), rows=0)


def test_threads_is_checked(corpus: pathlib.Path) -> None:
    for bad in (-1, True, "2", 1 << 17):
        with pytest.raises(ValueError):
            shmlog.open(str(corpus / "v2" / "processes.shlog"), threads=bad)


def test_parquet_row_group_one_dictionary(live: Live, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A row group of many batches, each with dictionaries of its own: to_parquet() writes a dictionary column's
    chunk as one dictionary and its indices, where pyarrow's writer alone keeps the first batch's and writes the
    rest of the chunk as plain strings; the values read back are the table's."""
    import pyarrow.parquet as pq
    from shmlog._arrow import _WRITE_BATCH, _parquet_columns
    small_batches = functools.partial(shmlog._arrow.open, batch_rows=64)
    monkeypatch.setattr(shmlog._arrow, "open", small_batches)
    table = pa.RecordBatchReader.from_stream(small_batches(str(live.out))).read_all()
    group = 4096
    out, plain = tmp_path / "one.parquet", tmp_path / "plain.parquet"
    assert shmlog.to_parquet(str(live.out), str(out), row_group_rows=group, threads=2) == table.num_rows
    with pq.ParquetWriter(plain, table.schema, compression="zstd", write_batch_size=_WRITE_BATCH,
                          **_parquet_columns(table.schema)) as w:
        w.write_table(table, row_group_size=group)
    ours, theirs = pq.ParquetFile(out).metadata, pq.ParquetFile(plain).metadata
    site = table.schema.get_field_index("site")
    assert ours.num_row_groups == theirs.num_row_groups > 1
    for g in range(ours.num_row_groups):
        one = ours.row_group(g).column(site).total_uncompressed_size
        assert one * 4 < theirs.row_group(g).column(site).total_uncompressed_size, g
    assert pq.read_table(out).column("site").to_pylist() == table.column("site").to_pylist()


def test_parquet_row_groups_encoded_side_by_side(live: Live, tmp_path: pathlib.Path) -> None:
    """to_parquet() with several writers joins the row groups each encoded into the file one pyarrow writer makes
    of to_arrow()'s table (each row group's dictionaries unified), byte for byte, whatever the writers' count,
    which pyarrow, polars and DuckDB read as that table, row group by row group in order; as a writable file
    too, and with no row at all."""
    import duckdb
    import polars as pl
    import pyarrow.parquet as pq
    from shmlog._arrow import _WRITE_BATCH, _parquet_columns
    table = shmlog.to_arrow(str(live.out))
    rows = table.num_rows
    group = rows // 7 + 1  # the last row group shorter
    # The file one pyarrow writer makes of the table, byte for byte.
    one = tmp_path / "one.parquet"
    with pq.ParquetWriter(one, table.schema, compression="zstd", write_batch_size=_WRITE_BATCH,
                          **_parquet_columns(table.schema)) as w:
        for start in range(0, rows, group):
            w.write_table(table.slice(start, group).unify_dictionaries(), row_group_size=group)
    for writers in (1, 2, 3):
        out = tmp_path / ("w%d.parquet" % writers)
        assert shmlog.to_parquet(str(live.out), str(out), row_group_rows=group, threads=writers) == rows
        assert out.read_bytes() == one.read_bytes(), writers
        meta = pq.ParquetFile(out).metadata
        assert [meta.row_group(g).num_rows for g in range(meta.num_row_groups)] == \
            [min(group, rows - g * group) for g in range(meta.num_row_groups)], writers
        assert sum(meta.row_group(g).num_rows for g in range(meta.num_row_groups)) == rows
        back = pq.read_table(out)
        for name in table.column_names:  # a dictionary's values per row: its batches' dictionaries differ
            assert back.column(name).to_pylist() == table.column(name).to_pylist(), (writers, name)
        polars_df = pl.read_parquet(out)
        assert polars_df["seq"].to_list() == table.column("seq").to_pylist(), writers
        assert polars_df["msg"].to_list() == table.column("msg").to_pylist(), writers
        con = duckdb.connect(":memory:")
        got = con.sql("SELECT count(*), sum(seq), count(msg) FROM read_parquet('%s')" % out).fetchall()[0]
        assert got == (rows, sum(table.column("seq").to_pylist()), rows - table.column("msg").null_count), writers
    with open(tmp_path / "file.parquet", "wb") as f:
        assert shmlog.to_parquet(str(live.out), f, row_group_rows=group, threads=2) == rows
    assert pq.read_table(tmp_path / "file.parquet").column("seq").to_pylist() == table.column("seq").to_pylist()
    none = tmp_path / "none.parquet"
    assert shmlog.to_parquet(str(live.out), str(none), threads=2, until=1) == 0
    assert pq.read_table(none).num_rows == 0 and pq.read_table(none).schema.names == table.schema.names
