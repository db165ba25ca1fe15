"""duckdb_query.py - runs SQL in DuckDB (Python's duckdb, from the venv scripts/setup.sh
makes) and prints the rows of the last statement as JSON Lines: one object per row, its
keys the column names in order. tests/test_duckdb.sh uses it to query what
`shmlog-dump read --format json` prints and what shmlog.open() streams.

    duckdb_query.py [--src FILE|DIR] SQL

--src makes `src`, a shmlog.open() of FILE|DIR, a table the SQL reads (FROM src),
`markers` the same of its loss and exit markers (DuckDB reads their Arrow streams), and
`levels` shmlog.to_duckdb() of FILE|DIR (src with level the ENUM shmlog_level).

Values are exact, so that a test compares them with numbers it computed itself:
integers of any width are bare JSON numbers with all their digits; floats are the
shortest text that reads back to the same double, with a ".0" when integral, NaN and
infinities as strings; DECIMAL, dates, times and timestamps are DuckDB's text for them
(nanoseconds kept); NULL is null. Nothing is fetched: an extension that is not built in
fails the query. Exit status: 0, 1 when DuckDB fails (the message on stderr), 2 on a
usage error.
"""
import datetime
import decimal
import json
import math
import sys

import duckdb


def encode(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return json.dumps(repr(v))
        text = repr(v)
        return text if ("." in text or "e" in text) else text + ".0"
    if isinstance(v, (decimal.Decimal, datetime.date, datetime.time, datetime.timedelta)):
        return json.dumps(str(v))
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k) + ":" + encode(x) for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(encode(x) for x in v) + "]"
    return json.dumps(v)


def main(argv):
    src_path = None
    if len(argv) == 3 and argv[0] == "--src":
        src_path, sql = argv[1], argv[2]
    elif len(argv) == 1 and argv[0]:
        sql = argv[0]
    else:
        print("usage: duckdb_query.py [--src FILE|DIR] SQL", file=sys.stderr)
        return 2
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                             "autoload_known_extensions": False})
    if src_path is not None:
        import shmlog
        src = shmlog.open(src_path)  # noqa: F841 (DuckDB finds it by its name)
        markers = shmlog.open(src_path, kind="markers")  # noqa: F841
        levels = shmlog.to_duckdb(src_path, connection=con)  # noqa: F841 (level the ENUM shmlog_level)
    try:
        rel = con.sql(sql)
        names = rel.columns
        rows = rel.fetchall()
    except duckdb.Error as e:
        print("duckdb_query: %s" % str(e).replace("\n", " | "), file=sys.stderr)
        return 1
    out = []
    for row in rows:
        out.append("{" + ",".join(json.dumps(n) + ":" + encode(v) for n, v in zip(names, row)) + "}\n")
    sys.stdout.write("".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
