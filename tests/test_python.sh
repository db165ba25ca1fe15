#!/bin/bash
# Description: the Python package (python/) installs offline with pip into a venv, and by the README's line as written (a plain venv of Debian's python3, pip's build isolation fetching setuptools from the Python registry) reads a corpus file; it passes mypy --strict, and its
# pytest tests (python/tests/, run with the venv's python against the installed package) prove that it binds libshmlog-read with the header's exact struct layouts, and reads what shmlog-dump reads: on every corpus file, on files the real collector wrote, with each filter and time string, and on damaged files, shmlog.read() gives the events of `read --format json` key for key with exact types; shmlog.open()'s Arrow stream, read by pyarrow (and equally by polars), holds the same records and markers value for value in typed columns (a batch's column of no value a view of the stream's one read-only zero region, which no page of is resident, read alike by pyarrow, polars and DuckDB), as does to_arrow(), to_parquet() and `python -m shmlog export` read back, and dataframe()/losses() with the documented dtypes; the GIL is free while C decodes; damage is a warning (or error events), never a crash; and without pyarrow the Arrow calls say so while read() works.
# usage: test_python.sh CORPUS_DIR LIBDIR PYTHON_SRC (meson test sets SHMLOG_DUMP, COLLECTOR, SHMLOG_SAMPLE)
set -u
# absolute: the test runs in its scratch directory
abs() { realpath -e -- "$1" || echo "/nonexistent/$1"; }
corpus=$(abs "$1")
libdir=$(abs "$2")
pysrc=$(abs "$3")
header_dir=$(abs "$(dirname "$0")/../read/include") # shmlog_read.h, for the layout check
tmp=$(mktemp -d /tmp/shmlog-test-python-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR SHMLOG_SAMPLE
meson_build=$(abs "$(dirname "$0")/../meson.build") # its project version, for the one-version test
unset TZ
# The venv scripts/setup.sh makes: pyarrow, polars, duckdb, pandas, pytest and mypy, pinned (tests/python-requirements.txt).
shared=${SHMLOG_TEST_VENV:-/opt/shmlog-test/venv}
"$shared/bin/python" -c 'import venv, ensurepip, setuptools, pyarrow, polars, duckdb, pandas, pytest, mypy' 2>/dev/null ||
    bail "$shared lacks venv, setuptools, pyarrow, polars, duckdb, pandas, pytest or mypy (tests/python-requirements.txt): run scripts/setup.sh as root"
lib=$libdir/libshmlog-read.so.1
[ -e "$lib" ] || bail "no $lib: build the library first"

# ---- install: offline, from a copy (a build writes build/ and *.egg-info beside the sources) ----
# A venv of its own for the package, which sees the shared venv's packages (a .pth file) before
# Debian's (setuptools and wheel, to build it offline).
cp -r "$pysrc" "$tmp/src"
rm -rf "$tmp/src/build" "$tmp/src"/*.egg-info
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
site=$("$shared/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
check "python3 -m venv; pip install --no-build-isolation --no-index python/" \
    bash -c "'$shared/bin/python' -m venv --system-site-packages '$tmp/venv' &&
             echo '$site' >\"\$('$tmp/venv/bin/python' -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])')/shared.pth\" &&
             '$tmp/venv/bin/pip' install --no-build-isolation --no-index '$tmp/src'"
vpy=$tmp/venv/bin/python
[ -x "$vpy" ] || bail "no venv"

# The README's install line as it stands, with Debian's python3 (a pyenv's differs), in a directory where
# python/ is a copy of the package: the venv's python imports it from anywhere and reads a file. pip builds
# it in isolation, with setuptools from the Python registry (CI's machines reach it).
readme_install=$(grep -m1 '^python3 -m venv' "$pysrc/../README.md" | sed 's/ *#.*//')
mkdir "$tmp/readme" && cp -r "$pysrc" "$tmp/readme/python" && rm -rf "$tmp/readme/python/build" "$tmp/readme/python"/*.egg-info
check_show "README's install line, as written, in a fresh venv of Debian's python3: $readme_install" \
    bash -c "cd '$tmp/readme' && [ -n \"\$1\" ] && PATH=/usr/bin:/bin bash -c \"\$1\" >pip.log 2>&1 || { tail -n 5 pip.log; exit 1; }
             cd / && '$tmp/readme/venv/bin/python' -c 'import shmlog; print(shmlog.__file__)' | grep -F '$tmp/readme/venv/' &&
             SHMLOG_READ_LIBRARY='$lib' '$tmp/readme/venv/bin/python' -c 'import shmlog, sys; n = sum(1 for _ in shmlog.read(sys.argv[1])); print(n, \"records\"); sys.exit(n == 0)' '$corpus/v2-records/records.shlog'" \
    _ "$readme_install"
export SHMLOG_READ_LIBRARY=$lib
cd "$tmp" || bail "cd $tmp" # the sources are not on sys.path: the installed package is what runs

# The shared venv has mypy (tests/python-requirements.txt); the package's configuration is in pyproject.toml.
check_show "mypy --strict: the package's annotations hold" \
    bash -c "cd '$tmp/src' && '$vpy' -m mypy --cache-dir '$tmp/mypy-cache' --no-error-summary --strict shmlog && echo 'mypy --strict: no issue in shmlog/'"

# ---- python/tests: one TAP line per pytest test (its failure's report below it) ----
export SHMLOG_TEST_CORPUS=$corpus SHMLOG_TEST_HEADER_DIR=$header_dir SHMLOG_TEST_MESON_BUILD=$meson_build
PYTHONDONTWRITEBYTECODE=1 "$vpy" -m pytest -q -rfEs --junitxml="$tmp/junit.xml" "$tmp/src/tests" >"$tmp/pytest.log" 2>&1
status=$?
[ -s "$tmp/junit.xml" ] || { diag "$tmp/pytest.log"; bail "pytest wrote no report (status $status)"; }
while IFS=$'\t' read -r outcome name; do
    case $outcome in
        ok) ok "$name" ;;
        skip) skip "$name" "skipped" ;;
        *) not_ok "$name" ;;
    esac
done < <("$vpy" -c '
import sys, xml.etree.ElementTree as ET
for case in ET.parse(sys.argv[1]).iter("testcase"):
    name = "%s::%s" % (case.get("classname").rpartition(".")[2], case.get("name"))
    kinds = {child.tag for child in case}
    print("%s\t%s" % ("fail" if kinds & {"failure", "error"} else "skip" if "skipped" in kinds else "ok", name))
' "$tmp/junit.xml")
if [ "$status" -ne 0 ]; then
    shown=$(diag "$tmp/pytest.log")
    printf '%s\n' "$shown"
    printf '%s\n' "$shown" >&2
fi
tail -n 1 "$tmp/pytest.log" | diag # pytest's count

tap_done
