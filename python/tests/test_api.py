"""The package's own behaviour: bad paths and options raise the documented exceptions with the library's
text, also when the library is not found; text is decoded as shmlog-dump's JSON shows it; an empty
DataFrame keeps its dtypes; without pyarrow read() and open()'s capsule work and the Arrow calls say what
to install; to_arrow() imports no pandas."""
import datetime as dt
import inspect
import os
import pathlib
import re
import subprocess
import sys
from typing import Any, Callable

import pandas as pd
import pytest

import shmlog
from shmlog import _native


@pytest.fixture(scope="module")
def good(corpus: pathlib.Path) -> str:
    return str(corpus / "v2" / "processes.shlog")


# (what, the exception, the call on a good file, a text the message holds)
BAD_CALLS = [
    ("a path that does not exist", FileNotFoundError, lambda g: shmlog.read("/nonexistent/x.shlog"),
     "/nonexistent/x.shlog: No such file or directory"),
    ("one of two paths does not exist", OSError, lambda g: shmlog.read([g, "/nonexistent/y"]), "/nonexistent/y"),
    ("a bad regular expression", ValueError, lambda g: shmlog.read(g, grep="("), "bad regular expression '('"),
    ("a where term of no form", ValueError, lambda g: shmlog.read(g, where=["id=1", "qty>"]), "where 'qty>'"),
    ("a level no one has", ValueError, lambda g: shmlog.read(g, level="loud"), "WARN"),
    ("a level out of range", ValueError, lambda g: shmlog.read(g, level=6), None),
    ("a naive datetime", ValueError, lambda g: shmlog.read(g, since=dt.datetime(2026, 1, 1)), "time zone"),
    ("a naive pandas.Timestamp", ValueError, lambda g: shmlog.read(g, until=pd.Timestamp(2026, 1, 1)), "time zone"),
    ("a time string of no form", ValueError, lambda g: shmlog.read(g, since="yesterday"),
     "-5m, -2h, -1d (before now)"),
    ("a time string before the epoch", ValueError, lambda g: shmlog.open(g, until="1969-12-31"), "is not a time"),
    ("a time as a float", TypeError, lambda g: shmlog.read(g, since=1.5e18), None),
    ("open(kind=...) of no kind", ValueError, lambda g: shmlog.open(g, kind="losses"), "markers"),
    ("open() of no path", FileNotFoundError, lambda g: shmlog.open("/nonexistent/z"), "/nonexistent/z"),
    ("to_arrow() with a bad option", ValueError, lambda g: shmlog.to_arrow(g, grep="("), "bad regular expression"),
    ("a kind no one has", ValueError, lambda g: shmlog.read(g, kinds=("records",)), None),
    ("limit=0", ValueError, lambda g: shmlog.read(g, limit=0), None),
    ("no path", ValueError, lambda g: shmlog.read([]), None),
]


@pytest.mark.parametrize("what, exc, call, text", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_call_raises(good: str, what: str, exc: "type[BaseException]", call: Callable[[str], Any],
                         text: "str | None") -> None:
    with pytest.raises(exc, match=re.escape(text) if text else None):
        call(good)


def test_category_no_one_defines_matches_nothing(good: str) -> None:
    assert list(shmlog.read(good, category="nosuchcategory")) == []


def test_library_not_found_says_where_to_look(good: str) -> None:
    env = dict(os.environ, SHMLOG_READ_LIBRARY="/nonexistent/libshmlog-read.so.1")
    p = subprocess.run([sys.executable, "-c", "import shmlog; shmlog.read(%r)" % good], env=env,
                       capture_output=True, text=True)
    last = p.stderr.strip().split("\n")[-1]
    assert p.returncode != 0, p.stderr
    assert last.startswith("shmlog._native.LibraryNotFound: "), p.stderr
    assert "libshmlog-read1" in last and "SHMLOG_READ_LIBRARY" in last, p.stderr


# One U+FFFD per byte that starts no valid UTF-8 sequence (render_escape.c's rule for the JSON), where
# Python's "replace" puts one per invalid sequence.
DECODED = [(b"\xe2\x82A", "\ufffd\ufffdA"), (b"\xc3\xa9t\xc3\xa9", "\xe9t\xe9"),
           (b"\xed\xa0\x80", "\ufffd" * 3), (b"\xf4\x90\x80\x80", "\ufffd" * 4),
           (b"\xc0\xaf", "\ufffd" * 2), (b"\xf0\x9f\x98", "\ufffd" * 3),
           (b"a\x00\n\x7f\xf0\x9f\x98\x80", "a\x00\n\x7f\U0001f600")]


@pytest.mark.parametrize("raw, want", DECODED, ids=[r.hex() for r, _ in DECODED])
def test_text_decodes_as_the_dump_json(raw: bytes, want: str) -> None:
    assert _native.decode(raw) == want


def test_empty_dataframe_keeps_its_dtypes(good: str) -> None:
    empty = shmlog.dataframe(good, category="nosuchcategory")
    assert len(empty) == 0
    assert str(empty["ts"].dtype) == "datetime64[ns, UTC]"
    assert str(empty["seq"].dtype) == "uint64"
    assert str(empty["level"].dtype) == "category"


NO_PYARROW = """
import sys
sys.modules["pyarrow"] = None  # as if it were not installed
import shmlog
p = sys.argv[1]
assert sum(1 for _ in shmlog.read(p)) > 0
src = shmlog.open(p)
cap = src.__arrow_c_stream__()
assert type(cap).__name__ == "PyCapsule", cap
del cap
for name, call in (("to_arrow", lambda: shmlog.to_arrow(p)), ("to_parquet", lambda: shmlog.to_parquet(p, "x.parquet")),
                   ("dataframe", lambda: shmlog.dataframe(p)), ("losses", lambda: shmlog.losses(p))):
    try:
        call()
    except ImportError as e:
        assert "needs pyarrow" in str(e) and "pip install pyarrow" in str(e), (name, str(e))
        print(name + ": " + str(e))
    else:
        raise SystemExit(name + " worked without pyarrow")
"""


def test_without_pyarrow(good: str, tmp_path: pathlib.Path) -> None:
    """A process of its own, where importing pyarrow fails."""
    p = subprocess.run([sys.executable, "-c", NO_PYARROW, good], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr.strip().split("\n")[-1] or p.stdout
    assert len(p.stdout.strip().split("\n")) == 4, p.stdout


def test_to_arrow_imports_no_pandas(good: str) -> None:
    """A process of its own: pandas' import costs a query 0.25 cpu-s, and to_arrow() needs none of it."""
    code = "import sys, shmlog; n = shmlog.to_arrow(sys.argv[1]).num_rows; print(n, 'pandas' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", code, good], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    rows, pandas_imported = p.stdout.split()
    assert int(rows) > 0 and pandas_imported == "False", p.stdout


def test_a_misspelt_filter_is_a_type_error(good: str) -> None:
    with pytest.raises(TypeError, match="no filter is called levle"):
        shmlog.read(good, levle="warn")  # type: ignore[call-arg]


def test_signatures_show_each_filter() -> None:
    """help() and editors see the filters as keywords of each call, though they are defined once."""
    for call in (shmlog.read, shmlog.open, shmlog.to_arrow, shmlog.to_parquet, shmlog.dataframe):
        params = inspect.signature(call).parameters
        assert all(params[name].kind is inspect.Parameter.KEYWORD_ONLY and params[name].default is None
                   for name in shmlog.FILTERS), call.__name__
    assert shmlog.FILTERS == ("level", "category", "app", "host", "pid", "thread", "trace", "since", "until", "grep",
                              "where", "limit")
