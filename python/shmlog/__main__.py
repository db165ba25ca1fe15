"""python -m shmlog export FILE|DIR... OUT.parquet [filters]: shmlog-collector's
files to Parquet (zstd, row groups of 262,144 records), with
shmlog-dump read's filters and time forms."""
import argparse
import inspect
import sys
import warnings
from typing import List, Optional, cast

import shmlog


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m shmlog", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="write the records (or the loss and exit markers) to a Parquet file",
                       description="Writes the records of the files and directories given (each directory's "
                                   ".shlog and .shlog.part files) to OUT in Parquet, in time order, as "
                                   "shmlog.to_parquet() does; prints the rows written.")
    e.add_argument("paths", nargs="+", metavar="FILE|DIR")
    e.add_argument("out", metavar="OUT.parquet")
    e.add_argument("--level", help="this level and above: TRACE .. FATAL")
    e.add_argument("--category", help="one category (md, order, ..., or a program's own)")
    e.add_argument("--app", help="one application")
    e.add_argument("--host", help="the files of one host (the collector's --host)")
    e.add_argument("--pid", type=int, help="one process id")
    e.add_argument("--thread", help="one thread, by name or tid")
    e.add_argument("--trace", help="the records of one trace: its id, 1 to 32 hex digits")
    e.add_argument("--since", help="from this time: 2026-11-23T07:00Z, 2026-11-23, 07:00, -5m, -2h, ... (UTC "
                                   "when no zone is given)")
    e.add_argument("--until", help="before this time (the same forms)")
    e.add_argument("--grep", help="a POSIX extended regular expression on the message")
    e.add_argument("--where", action="append", help="a field's value: id=42, sym!=SPY, qty>=100 (repeatable: all hold)")
    e.add_argument("--limit", type=int, help="at most this many records")
    e.add_argument("--markers", action="store_true", help="the loss and exit markers instead of the records")
    e.add_argument("--no-fields", action="store_true", help="no column per field of the formats")
    e.add_argument("--row-group-rows", type=int, help="rows per row group (default %d)" %
                   inspect.signature(shmlog.to_parquet).parameters["row_group_rows"].default)
    e.add_argument("--compression", metavar="CODEC",
                   help="Parquet's codec: zstd (the default), lz4, snappy, gzip, brotli or none")
    e.add_argument("--jobs", type=int, default=0, metavar="N",
                   help="threads that write row groups, and that decode (default 0: a writer a cpu this process may "
                        "run on, and a decoder fewer)")
    a = p.parse_args(argv)
    try:
        with warnings.catch_warnings(record=True) as damage:
            warnings.simplefilter("always", shmlog.DamagedInputWarning)
            filters = cast(shmlog.Filters, {name: getattr(a, name) for name in shmlog.FILTERS})
            rows = shmlog.to_parquet(a.paths, a.out, kind="markers" if a.markers else "records", fields=not a.no_fields,
                                     threads=a.jobs, **{k: v for k, v in (("row_group_rows", a.row_group_rows),
                                                                          ("compression", a.compression)) if v is not None},
                                     **filters)
    except (OSError, ValueError, ImportError) as err:
        print("python -m shmlog export: %s" % err, file=sys.stderr)
        return 1
    for w in damage:
        print("python -m shmlog export: %s" % w.message, file=sys.stderr)
    print("%d rows written to %s" % (rows, a.out))
    return 1 if damage else 0


if __name__ == "__main__":
    sys.exit(main())
