#!/usr/bin/env python3
"""query_once.py - one question in a fresh interpreter, its imports timed apart from it:
the imports' cpu-s, then the query's wall, cpu-s and bytes read (rchar of /proc/self/io).

usage: query_once.py shmlog DIR '{"where": "id=N"}'    (shmlog.to_arrow(DIR, **kwargs))
       query_once.py duckdb FILE.parquet "id = N"      (SELECT * FROM read_parquet(FILE) WHERE ...)
Run it under taskset -c N for one core; bench/search.sh measures whole processes instead.
"""
import json
import sys
import time


def rchar() -> int:
    with open("/proc/self/io") as f:
        return int(f.read().split("rchar:")[1].split()[0])


engine, target = sys.argv[1], sys.argv[2]
c0 = time.process_time()
if engine == "shmlog":
    import pyarrow  # noqa: F401  (to_arrow's import, counted with the imports)
    import shmlog
    kwargs = json.loads(sys.argv[3])
else:
    import duckdb
    con = duckdb.connect()
    con.execute("SET threads = 1")
c1, r0, w0 = time.process_time(), rchar(), time.perf_counter()
if engine == "shmlog":
    n = shmlog.to_arrow(target, **kwargs).num_rows
else:
    n = con.sql(f"SELECT * FROM read_parquet('{target}') WHERE {sys.argv[3]}").to_arrow_table().num_rows
w1, c2, r1 = time.perf_counter(), time.process_time(), rchar()
print(f"import {c1 - c0:.3f} cpu-s; query {w1 - w0:.3f} s wall, {c2 - c1:.3f} cpu-s, {r1 - r0} bytes read, "
      f"{n} records")
