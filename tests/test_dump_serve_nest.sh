#!/bin/bash
# Description: shmlog-dump serve's format=arrow over a C++ producer's value trees (vectors, maps, sets, pairs, tuples, optionals, nested): the Arrow IPC answer, whole, filtered and paged by its cursor, is the table shmlog.to_arrow() gives for the same files and filters (its list, map and struct columns, their field metadata, the dictionaries), read by pyarrow, by polars's own IPC reader and by DuckDB.
# usage: test_dump_serve_nest.sh (meson test sets SHMLOG_DUMP, COLLECTOR, TREE_PRODUCER, SERVE_ARROW, PYTHON_SRC, READ_LIBRARY)
set -u
tmp=$(mktemp -d /tmp/shmlog-test-dump-serve-nest-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR TREE_PRODUCER
vpy=${SHMLOG_TEST_VENV:-/opt/shmlog-test/venv}/bin/python
"$vpy" -c 'import pyarrow, polars, duckdb' 2>/dev/null ||
    bail "$vpy lacks pyarrow, polars or duckdb (tests/python-requirements.txt): run scripts/setup.sh as root"

collector_dirs
collector_start "$tmp/collector.log" --dir "$seg" --out "$out" --max-delay-ms 20
"$TREE_PRODUCER" >"$tmp/producer.out" 2>"$tmp/producer.err"
check "the producer ran and dropped nothing" test $? -eq 0 -a "$(grep '^done ' "$tmp/producer.out")" = "done 0"
check "the collector drained the producer" wait_for 15 bash -c "'$SHMLOG_DUMP' read '$out' 2>/dev/null | grep -q 'EXIT.*tree-cxx'"
collector_stop

serve_start "$out" --listen 127.0.0.1:0
# Python loads libshmlog-read (an ASan build's needs its runtime first); the server keeps its own environment.
table() {
    env PYTHONPATH="${PYTHON_SRC:?}" SHMLOG_READ_LIBRARY="${READ_LIBRARY:?}" LD_PRELOAD="${PYTHON_PRELOAD:-}" \
        ASAN_OPTIONS=detect_leaks=0 "$vpy" "${SERVE_ARROW:?}" table "$port" "$@" 2>&1
}
check_show "format=arrow, every record: to_arrow()'s table, its list, map and struct columns" table "" "$out"
check_show "format=arrow grep=map: to_arrow(grep=\"map\")'s" table "grep=map" "$out"
check_show "format=arrow paged by its cursor, 7 rows a page: to_arrow()'s table" table "" "$out" 7
serve_stop
tap_done
