"""Files the real collector writes of a real producer (conftest's live_writing and live): while it writes
(the open file a note, not damage) and once it stopped, read(), the Arrow stream, the DataFrames and the
filters hold what shmlog-dump reads; every record landed, in ring order, with one exit marker; the GIL is
free while C decodes; a live file cut in half reads as damage. The tests that need the collector running
come first in this file (pytest runs a file's tests in order)."""
import pathlib
import re
import threading
import time

import shmlog
from conftest import Live, segments_gone
from dumpcmp import Problems, check_arrow, check_damaged, check_filters, check_frame, check_stream


def test_producer_dropped_nothing(live_writing: Live) -> None:
    assert " 0 dropped" in live_writing.sample_output, live_writing.sample_output


def test_collector_removes_segments_after_exit_marker(live_writing: Live) -> None:
    assert segments_gone(live_writing.seg), sorted(p.name for p in live_writing.seg.iterdir())


def test_read_while_collector_writes(dump: str, live_writing: Live) -> None:
    problems = Problems()
    print(check_stream(problems, dump, [str(live_writing.out)]))
    assert not problems, problems.report()


def test_collector_exits_0_on_sigterm(live: Live) -> None:
    assert live.exit_status == 0


def test_read_equals_dump(dump: str, live: Live) -> None:
    problems = Problems()
    print(check_stream(problems, dump, [str(live.out)]))
    assert not problems, problems.report()


def test_every_record_and_one_exit_nothing_lost(live: Live) -> None:
    """The calls and 'starting', one exit marker last; each ring's records in ring order; typed columns."""
    ev = list(shmlog.read(str(live.out), kinds=shmlog.KINDS))
    n = {k: sum(e.kind == k for e in ev) for k in shmlog.KINDS}
    assert (n["record"], n["exit"], n["loss"], n["error"]) == (live.records, 1, 0, 0), n
    assert ev[-1].kind == "exit", [e.kind for e in ev if e.kind != "record"]
    last: "dict[int | None, int]" = {}
    for i, e in enumerate(ev):
        if e.kind == "record":
            assert e.seq is not None and last.get(e.cpu, -1) < e.seq, \
                "event %d: cpu %s seq %s after seq %s: not in ring order" % (i, e.cpu, e.seq, last[e.cpu])
            last[e.cpu] = e.seq
    ex = ev[-1]
    assert (ex.exit_records, ex.exit_lost, ex.exit_how) == (live.records, 0, "shutdown"), ex
    df = shmlog.dataframe(str(live.out))
    assert len(df) == live.records
    # heartbeat's seq= is column field.seq
    assert {c: str(df[c].dtype) for c in ("field.seq", "id", "qty", "px", "bid_sz")} == {
        "field.seq": "UInt64", "id": "UInt64", "qty": "Int32", "px": "Float64", "bid_sz": "UInt32"}


def test_arrow_stream_equals_dump(dump: str, live: Live, tmp_path: pathlib.Path) -> None:
    problems = Problems()
    print(check_arrow(problems, dump, [str(live.out)], str(tmp_path)))
    assert not problems, problems.report()


def test_dataframe_and_losses_equal_dump(dump: str, live: Live) -> None:
    problems = Problems()
    print(check_frame(problems, dump, [str(live.out)]))
    assert not problems, problems.report()


def test_level_order_same_in_pandas_polars_and_duckdb(live: Live) -> None:
    """level >= WARN keeps ERROR and FATAL in every engine: as many rows as read() has records at WARN or above."""
    import duckdb
    import polars as pl
    levels = [e.level for e in shmlog.read(str(live.out))]
    want = sum(lv in ("WARN", "ERROR", "FATAL") for lv in levels)
    assert levels.count("WARN") and levels.count("ERROR"), "the sample logs no WARN or no ERROR: nothing to order"
    df = shmlog.dataframe(str(live.out))
    polars_df = shmlog.to_polars(str(live.out))
    con = duckdb.connect(":memory:")
    rel = shmlog.to_duckdb(str(live.out), connection=con)
    got = {
        "pandas": int((df.level >= "WARN").sum()),
        "polars": polars_df.filter(pl.col("level") >= "WARN").height,
        "duckdb": rel.filter("level >= 'WARN'::shmlog_level").aggregate("count(*)").fetchall()[0][0],
        "duckdb sql": con.sql("SELECT count(*) FROM rel WHERE level >= 'WARN'::shmlog_level").fetchall()[0][0],
    }
    assert got == dict.fromkeys(got, want), (want, got)
    assert str(polars_df.schema["level"]).startswith("Enum"), polars_df.schema
    assert rel.types[rel.columns.index("level")] == con.sql("SELECT NULL::shmlog_level").types[0], rel.types


def test_string_views_hold_what_utf8_holds_in_every_engine(live: Live) -> None:
    """open(string_views=True) gives msg, trace_id and the string fields as Arrow's string_view and nothing
    else changed: pyarrow's table cast back to utf8, DuckDB's rows and polars' frame equal the utf8 stream's;
    to_polars() asks for them (polars' own string type) and gives the frame polars makes of utf8."""
    import duckdb
    import polars as pl
    import pyarrow as pa
    path = str(live.out)
    plain = pa.table(shmlog.open(path))
    views = pa.table(shmlog.open(path, string_views=True))
    strings = [f.name for f in plain.schema if f.type == pa.string()]
    assert {"msg", "trace_id", "sym", "tif"} <= set(strings), strings
    assert [f.name for f in views.schema if f.type == pa.string_view()] == strings, views.schema
    assert views.schema.names == plain.schema.names
    for name in plain.schema.names:
        back = views.column(name).cast(pa.string()) if name in strings else views.column(name)
        assert back.to_pylist() == plain.column(name).to_pylist(), name
    con = duckdb.connect(":memory:")
    src, src_views = shmlog.open(path), shmlog.open(path, string_views=True)
    query = "SELECT seq, msg, trace_id, sym, tif FROM %s ORDER BY seq, msg"
    assert con.sql(query % "src_views").fetchall() == con.sql(query % "src").fetchall()
    want = pl.DataFrame(shmlog.open(path)).with_columns(pl.col("level").cast(pl.Enum(list(shmlog._arrow._LEVEL_ORDER))))
    got = shmlog.to_polars(path)
    assert got.schema == want.schema and got.equals(want)
    assert got.schema["msg"] == pl.String


def test_char_field_is_its_character_in_every_engine(live: Live, tmp_path: pathlib.Path) -> None:
    """The sample's tif=%c: in read(), pyarrow, Parquet, pandas, polars and DuckDB a one-character string, the one
    the message shows, never its code (68 for D)."""
    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq
    shown = [m.group(1) for e in shmlog.read(str(live.out)) for m in [re.search(r" tif=(.)$", e.msg or "")] if m]
    assert set(shown) == {"D", "I"}, set(shown)
    fields = [e.fields["tif"] for e in shmlog.read(str(live.out)) if "tif" in (e.fields or {})]
    table = shmlog.to_arrow(str(live.out))
    shmlog.to_parquet(str(live.out), str(tmp_path / "tif.parquet"))
    parquet = pq.read_table(tmp_path / "tif.parquet")
    df = shmlog.dataframe(str(live.out))
    polars_df = shmlog.to_polars(str(live.out))
    con = duckdb.connect(":memory:")
    rel = shmlog.to_duckdb(str(live.out), connection=con)
    got = {
        "read": fields,
        "arrow": table.column("tif").drop_null().to_pylist(),
        "parquet": parquet.column("tif").drop_null().to_pylist(),
        "pandas": df["tif"].dropna().tolist(),
        "polars": polars_df["tif"].drop_nulls().to_list(),
        "duckdb": [r[0] for r in con.sql("SELECT tif FROM rel WHERE tif IS NOT NULL").fetchall()],
    }
    assert {k: v == shown for k, v in got.items()} == dict.fromkeys(got, True), {k: v[:5] for k, v in got.items()}
    assert (table.schema.field("tif").type, parquet.schema.field("tif").type) == (pa.string(), pa.string())
    assert polars_df.schema["tif"] == pl.String, polars_df.schema["tif"]
    assert rel.types[rel.columns.index("tif")] == "VARCHAR", rel.types
    assert pd.api.types.is_string_dtype(df["tif"]), df["tif"].dtype


def test_gil_free_while_c_decodes(live: Live) -> None:
    """A thread counting in Python runs on during one long to_arrow() (the same file many times: each
    copy decoded, its records dropped as duplicates) at a good part of its speed alone; with the GIL
    held through the call it would not move until the call returned."""
    paths = [live.first_file()] * 60
    count = [0]
    stop = [False]

    def spin() -> None:
        while not stop[0]:
            count[0] += 1

    th = threading.Thread(target=spin)
    th.start()
    try:
        time.sleep(0.1)
        c0, t0 = count[0], time.perf_counter()
        time.sleep(0.3)
        idle = (count[0] - c0) / (time.perf_counter() - t0)
        c0, t0 = count[0], time.perf_counter()
        t = shmlog.to_arrow(paths)
        busy = (count[0] - c0) / (time.perf_counter() - t0)
        took = time.perf_counter() - t0
    finally:
        stop[0] = True
        th.join()
    assert took >= 0.05, "to_arrow took %.3f s: too short to tell" % took
    assert busy >= 0.15 * idle, "a Python thread counted at %.0f/s during to_arrow (%.2f s), %.0f/s alone: " \
        "the GIL was held" % (busy, took, idle)
    print("%d rows from 60 copies in %.2f s; the other thread counted at %.0f%% of its speed alone" % (
        t.num_rows, took, 100 * busy / idle))


def test_filters_select_what_the_dump_selects(dump: str, live: Live) -> None:
    problems = Problems()
    print(check_filters(problems, dump, [str(live.out)]))
    assert not problems, problems.report()


def test_live_file_cut_in_half(dump: str, live: Live, tmp_path: pathlib.Path) -> None:
    data = pathlib.Path(live.first_file()).read_bytes()
    cut = tmp_path / "live-cut.shlog"
    cut.write_bytes(data[:len(data) // 2])
    problems = Problems()
    print(check_damaged(problems, dump, str(cut)))
    assert not problems, problems.report()
