"""shmlog-dump serve's Arrow IPC answers read by pyarrow (test_dump_serve.sh, with the test venv's python).

usage: serve_arrow.py same PORT QUERY [accept]   the Arrow answer of /api/query?QUERY equals its JSON Lines answer
       serve_arrow.py pages PORT QUERY LIMIT     Arrow pages joined by their cursors equal the whole JSON answer
       serve_arrow.py slow PORT QUERY            a client that pauses past the server's parking time gets it all
       serve_arrow.py end PORT QUERY END         the Arrow answer ends saying END
       serve_arrow.py markers PORT QUERY LIMIT   markers=1's rows equal the JSON answer's loss and exit markers,
                                                 whole and paged by its cursor LIMIT rows a page
       serve_arrow.py table PORT QUERY FILES [LIMIT]  the Arrow answer (paged by its cursor LIMIT rows a page) is
                                                 shmlog.to_arrow(FILES) with QUERY's filters, schema and field
                                                 metadata too, through pyarrow, polars and DuckDB
"""
import io
import json
import math
import sys
import time
import urllib.parse
import urllib.request

import pyarrow as pa
import pyarrow.ipc as ipc


def url(port, query):
    return "http://127.0.0.1:%s/api/query?%s" % (port, query)


def arrow_answer(port, query, accept=False, pause=0):
    """The answer's table (checked in full) and its last batch's metadata (why it ended, the cursor)."""
    if accept:
        req = urllib.request.Request(url(port, query), headers={"Accept": "application/vnd.apache.arrow.stream"})
    else:
        req = urllib.request.Request(url(port, query + "&format=arrow" if query else "format=arrow"))
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.headers["Content-Type"] == "application/vnd.apache.arrow.stream", resp.headers["Content-Type"]
        reader = ipc.open_stream(resp)
        batches, meta = [], None
        while True:
            try:
                batch, m = reader.read_next_batch_with_custom_metadata()
            except StopIteration:
                break
            assert meta is None, "a batch after the one that said the end"
            if pause and len(batches) == 1:
                time.sleep(pause)  # the server closes the reader of a parked answer, and opens it again
            batch.validate(full=True)
            batches.append(batch)
            if m:
                meta = {k.decode(): v.decode() for k, v in m.items()}
                assert batch.num_rows == 0, "the end's batch has rows"
    assert meta is not None, "no batch said why the answer ended"
    return pa.Table.from_batches(batches, schema=reader.schema), meta


def json_answer(port, query):
    with urllib.request.urlopen(url(port, query), timeout=60) as resp:
        lines = [json.loads(l) for l in resp.read().splitlines()]
    return lines[:-1], lines[-1]


def is_record(event):
    return "loss" not in event and "exit" not in event


FIXED = ["level", "category", "app", "host", "pid", "tid", "cpu", "seq", "site", "func", "msg", "thread", "instance",
         "trace_id", "span", "hostname"]


def same_value(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def compare(table, events):
    """Row i of table is record i of events, column for key (the fields too); the first difference, or None."""
    records = [e for e in events if is_record(e)]
    if table.num_rows != len(records):
        return "%d rows, %d records" % (table.num_rows, len(records))
    names = set(table.column_names)
    cols = {n: table.column(n).to_pylist() for n in names if n != "ts"}
    ts = table.column("ts").cast(pa.int64()).to_pylist()
    for i, e in enumerate(records):
        if ts[i] != e["ts_ns"]:
            return "row %d: ts %d, ts_ns %d" % (i, ts[i], e["ts_ns"])
        for k in FIXED:
            if cols[k][i] != e.get(k):
                return "row %d: %s %r, json %r" % (i, k, cols[k][i], e.get(k))
        for k, v in e.get("fields", {}).items():
            candidates = [c for c in (k, "field." + k) if c in names and c not in FIXED]
            candidates += [c for c in names if c.startswith(k + ".") and c[len(k) + 1:] in
                           ("int", "uint", "float", "bool", "str", "ptr")]
            got = [cols[c][i] for c in candidates if cols[c][i] is not None]
            if len(got) != 1 or not same_value(got[0], v):
                return "row %d: field %s %r in %s, json %r" % (i, k, got, candidates, v)
    return None


def same(port, query, accept=""):
    table, meta = arrow_answer(port, query, accept == "accept")
    events, end = json_answer(port, query)
    if not events:
        print("the JSON answer is empty: no test")
        return 1
    diff = compare(table, events)
    if diff:
        print(diff)
        return 1
    want = {"end": end["end"], "records": str(end["records"]), "errors": str(end["errors"])}
    if is_record(events[-1]):  # an Arrow cursor counts rows: markers after the last record are not in it
        want["cursor"] = end["cursor"].split("_")[0]  # its time and count; JSON's names the rings too
    if {k: meta.get(k) for k in want} != want:
        print("the end's metadata", meta, "JSON's end", end)
        return 1
    print("%d rows, %d columns, %d batches; %s" % (table.num_rows, table.num_columns, len(table.column("ts").chunks),
                                                   meta))
    return 0


def pages(port, query, limit):
    cursor, tables, n = None, [], 0
    while True:
        q = "%s&limit=%s" % (query, limit) if query else "limit=%s" % limit
        if cursor:
            q += "&cursor=" + cursor
        table, meta = arrow_answer(port, q)
        n += 1
        if table.num_rows > int(limit):
            print("page %d: %d rows past limit=%s" % (n, table.num_rows, limit))
            return 1
        tables.append(table)
        if meta["end"] == "complete":
            break
        if meta["end"] != "limit" or n > 1000:
            print("page %d ended %s" % (n, meta))
            return 1
        cursor = meta["cursor"]
    whole = pa.concat_tables(tables, promote_options="permissive")
    events, end = json_answer(port, query)
    diff = compare(whole, events)
    if diff:
        print(diff)
        return 1
    print("%d pages, %d rows" % (n, whole.num_rows))
    return 0


def slow(port, query):
    table, meta = arrow_answer(port, query, pause=3)
    events, end = json_answer(port, query)
    diff = compare(table, events)
    if diff or meta["end"] != "complete":
        print(diff, meta)
        return 1
    print("%d rows after a pause of 3 s; %s" % (table.num_rows, meta))
    return 0


def marker_rows(table):
    cols = {n: table.column(n).to_pylist() for n in ("kind", "pid", "app", "host")}
    ts = table.column("ts").cast(pa.int64()).to_pylist()
    return [(ts[i], cols["kind"][i], cols["pid"][i], cols["app"][i], cols["host"][i]) for i in range(table.num_rows)]


def markers(port, query, limit):
    """markers=1: a row per loss and exit marker of the JSON answer, in its order; and paged by the cursor."""
    events, end = json_answer(port, query)
    want = [(e["ts_ns"], "loss" if "loss" in e else "exit", e["pid"], e["app"], e["host"])
            for e in events if not is_record(e)]
    q = query + "&markers=1" if query else "markers=1"
    table, meta = arrow_answer(port, q)
    if marker_rows(table) != want or meta["end"] != "complete" or meta["records"] != str(len(want)):
        print("markers=1:", marker_rows(table)[:3], meta, "JSON's:", want[:3])
        return 1
    cursor, got, n = None, [], 0
    while n < 1000:
        table, meta = arrow_answer(port, q + "&limit=%s" % limit + ("&cursor=" + cursor if cursor else ""))
        got += marker_rows(table)
        n += 1
        if meta["end"] != "limit":
            break
        cursor = meta["cursor"]
    if got != want or meta["end"] != "complete":
        print("paged:", len(got), "rows in", n, "pages", meta, "of", len(want))
        return 1
    print("%d markers (%s), %d pages of %s; columns %s" % (len(want), ", ".join(sorted({w[1] for w in want})), n,
                                                         limit, ", ".join(table.column_names)))
    return 0 if want else 1


def to_arrow(files, query):
    """shmlog.to_arrow() of files with the query's filters (the API's parameters are its keywords)."""
    import shmlog
    filters = {}
    for k, v in urllib.parse.parse_qsl(query):
        if k == "where":
            filters.setdefault(k, []).append(v)
        else:
            filters[k] = int(v) if k in ("pid", "limit") else v
    return shmlog.to_arrow(files, **filters)


def decoded(t):
    """t with its dictionary columns as their values: each page of an answer has dictionaries of its own."""
    for i, f in enumerate(t.schema):
        if pa.types.is_dictionary(f.type):
            t = t.set_column(i, f.with_type(f.type.value_type), t.column(i).cast(f.type.value_type))
    return t


def first_difference(got, want):
    if got.schema != want.schema or not got.schema.equals(want.schema, check_metadata=True):
        return "schema:\n%s\nto_arrow's:\n%s" % (got.schema.to_string(show_field_metadata=True),
                                                    want.schema.to_string(show_field_metadata=True))
    if got.num_rows != want.num_rows:
        return "%d rows, to_arrow's %d" % (got.num_rows, want.num_rows)
    for name in want.column_names:
        g, w = got.column(name).to_pylist(), want.column(name).to_pylist()
        if g != w:
            i = next(i for i in range(len(w)) if g[i] != w[i])
            return "column %s row %d: %r, to_arrow's %r" % (name, i, g[i], w[i])
    return None if decoded(got).equals(decoded(want), check_metadata=True) else "equal columns, unequal tables"


def same_table(port, query, files, limit=None):
    """The answer, whole or paged, is to_arrow()'s table; polars's own IPC reader and DuckDB read it as well."""
    want = to_arrow(files, query)
    if limit:
        cursor, pages, n = None, [], 0
        while n < 1000:
            q = "&".join(p for p in (query, "limit=" + limit, "cursor=" + cursor if cursor else "") if p)
            page, meta = arrow_answer(port, q)
            pages.append(page)
            n += 1
            if meta["end"] != "limit":
                break
            cursor = meta["cursor"]
        got = pa.concat_tables(pages)
    else:
        got, meta = arrow_answer(port, query)
        n = 1
    if meta["end"] != "complete":
        print("the answer ended", meta)
        return 1
    diff = first_difference(got, want)
    if diff:
        print("pyarrow:", diff)
        return 1
    import duckdb
    import polars
    q = query + "&format=arrow" if query else "format=arrow"
    with urllib.request.urlopen(url(port, q), timeout=60) as resp:
        raw = resp.read()
    df = polars.read_ipc_stream(io.BytesIO(raw))  # polars's own reader, not pyarrow's
    if not df.equals(polars.from_arrow(want), null_equal=True):
        print("polars reads", df.head(3), "to_arrow's", polars.from_arrow(want).head(3))
        return 1
    stream = ipc.open_stream(raw)  # DuckDB has no IPC reader of its own: it scans pyarrow's, column by column
    con = duckdb.connect()
    by_duckdb = con.sql("SELECT * FROM stream").to_arrow_table()
    con.register("want_t", want)
    if by_duckdb.to_pylist() != con.sql("SELECT * FROM want_t").to_arrow_table().to_pylist():
        print("DuckDB reads otherwise than to_arrow()'s table")
        return 1
    kinds = {k: sum(1 for f in want.schema if getattr(pa.types, "is_" + k)(f.type)) for k in ("list", "map", "struct")}
    print("%d rows, %d columns (%s), %d answers; pyarrow, polars and DuckDB read to_arrow()'s table" %
          (got.num_rows, got.num_columns, ", ".join("%d %s" % (v, k) for k, v in kinds.items()), n))
    return 0 if got.num_rows else 1


def main():
    mode, port = sys.argv[1], sys.argv[2]
    if mode == "same":
        return same(port, sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "")
    if mode == "pages":
        return pages(port, sys.argv[3], sys.argv[4])
    if mode == "slow":
        return slow(port, sys.argv[3])
    if mode == "markers":
        return markers(port, sys.argv[3], sys.argv[4])
    if mode == "table":
        return same_table(port, sys.argv[3], sys.argv[4], sys.argv[5] if len(sys.argv) > 5 else None)
    if mode == "end":
        table, meta = arrow_answer(port, sys.argv[3])
        print("%d rows; %s" % (table.num_rows, meta))
        return meta["end"] != sys.argv[4]
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
