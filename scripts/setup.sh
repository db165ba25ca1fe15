#!/usr/bin/env bash
# Prepares a Debian 12 machine for shmlog, as root: the packages it builds and
# tests with, 2 MiB hugepages reserved, and a hugetlbfs mount. Idempotent.
# Reports on stderr. With --print-seg-parent, prints on stdout where the
# scripts put segments: the hugetlbfs mount, or /dev/shm (4 KiB pages, said on
# stderr) when the mount is not writable. Also makes a Python venv with
# pyarrow, polars, DuckDB and pandas, pinned (tests/python-requirements.txt), in
# /opt/shmlog-test/venv (for tests/test_python.sh, tests/test_duckdb.sh and bench/files.sh),
# and fetches Apache Kafka's jars, pinned, through Maven into /opt/shmlog-test/kafka
# (for scripts/kafka-dev.sh and the kafka suite).
#   SHMLOG_HUGEPAGES   pages to reserve (default 512 = 1 GiB)
set -euo pipefail

print_seg_parent=0
case "${1:-}" in
--print-seg-parent) print_seg_parent=1 ;;
"") ;;
*) echo "setup.sh: unknown argument: $1 (only --print-seg-parent)" >&2; exit 2 ;;
esac

want_pages=${SHMLOG_HUGEPAGES:-512}
# Building needs the first line; the tests need the rest (Criterion, libmicrohttpd,
# and the programs the shell tests run: Prometheus and promtool, rsyslogd,
# systemd-analyze, groff and man, curl, strace; dpkg-dev and lintian for scripts/package.sh and its test;
# Python's venv, setuptools and wheel for the Python package, its test venv and its offline install;
# librdkafka for shmlog-ship and shmlog-dump's kafka:// sources, Java and Maven for the test cluster;
# ncursesw for shmlog-dump view, and tmux, which its tests drive it through; chromium and node for the
# search page's test, tests/test_dump_serve_page.sh).
# Tests never install a package themselves.
packages=(gcc g++ clang pkg-config meson ninja-build python3 liburing-dev libzstd-dev libnuma-dev libfmt-dev
          libcriterion-dev libmicrohttpd-dev numactl strace libclang-rt-14-dev
          rsyslog prometheus systemd groff-base man-db curl dpkg-dev lintian
          python3-venv python3-setuptools python3-wheel
          librdkafka-dev openjdk-17-jre-headless maven
          libncurses-dev tmux chromium nodejs)

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: run as root (it installs packages and reserves hugepages)" >&2
    exit 1
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# pyarrow, polars, DuckDB and pandas for the tests that read the Arrow streams (tests/test_python.sh,
# tests/test_duckdb.sh) and for bench/files.sh, pytest and mypy for python/'s tests: pinned with their dependencies and their wheels' hashes,
# from PyPI, in a venv of Debian's python3 that the tests look in and nowhere else. Present means
# installed from these requirements (a stamp of them) and importable.
venv=/opt/shmlog-test/venv
requirements=$(cd "$(dirname "$0")/.." && pwd)/tests/python-requirements.txt
want_stamp=$(sha256sum "$requirements" | cut -d' ' -f1)
venv_ok() {
    [ "$(cat "$venv/.shmlog-requirements" 2>/dev/null)" = "$want_stamp" ] &&
        "$venv/bin/python" -c 'import pyarrow, polars, duckdb, pandas, pytest, mypy' >/dev/null 2>&1
}
if ! venv_ok; then
    echo "setup: installing pyarrow, polars, duckdb, pandas, pytest and mypy (pinned) into $venv" >&2
    pip_log=$(mktemp)
    # umask 022: the tests may run as another user, who reads it.
    if ! (umask 022 && rm -rf "$venv" && /usr/bin/python3 -m venv "$venv" &&
            "$venv/bin/pip" install --disable-pip-version-check --no-cache-dir --require-hashes --only-binary :all: \
                -r "$requirements") >"$pip_log" 2>&1; then
        echo "setup: pip could not install $requirements into $venv: $(grep -E 'ERROR|error' "$pip_log" | head -n 2 | paste -sd ';' - || tail -n 1 "$pip_log")" >&2
        rm -f "$pip_log"
        exit 1
    fi
    rm -f "$pip_log"
    echo "$want_stamp" >"$venv/.shmlog-requirements"
    venv_ok || { echo "setup: $venv does not import pyarrow, polars, duckdb, pandas, pytest and mypy" >&2; exit 1; }
fi

# playwright-core, which drives Debian's chromium in tests/test_dump_serve_page.sh: from npm, pinned with its
# hash by tests/browser/package-lock.json, in /opt/shmlog-test/browser, where the test looks. It downloads no
# browser. npm comes with Debian's nodejs package only as the package npm (a nodejs from elsewhere brings its own).
browser=/opt/shmlog-test/browser
browser_lock=$(cd "$(dirname "$0")/.." && pwd)/tests/browser/package-lock.json
if ! command -v npm >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
if ! cmp -s "$browser_lock" "$browser/package-lock.json" || [ ! -f "$browser/node_modules/playwright-core/package.json" ]; then
    echo "setup: installing playwright-core (pinned) into $browser" >&2
    if ! (umask 022 && rm -rf "$browser" && mkdir -p "$browser" &&
            cp "$(dirname "$browser_lock")/package.json" "$browser_lock" "$browser/" &&
            cd "$browser" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null); then
        echo "setup: npm could not install playwright-core into $browser" >&2
        exit 1
    fi
fi

# Kafka's jars for the test cluster (scripts/kafka-dev.sh keeps the version and the place).
bash "$(dirname "$0")/kafka-dev.sh" fetch

have=$(cat /proc/sys/vm/nr_hugepages)
if [ "$have" -lt "$want_pages" ]; then
    echo "$want_pages" > /proc/sys/vm/nr_hugepages
    have=$(cat /proc/sys/vm/nr_hugepages)
    [ "$have" -ge "$want_pages" ] || echo "setup: warning: only $have of $want_pages hugepages could be reserved" >&2
fi

mnt=$(awk '$3 == "hugetlbfs" { print $2; exit }' /proc/mounts)
if [ -z "$mnt" ]; then
    mnt=/dev/hugepages
    mkdir -p "$mnt"
    mount -t hugetlbfs -o pagesize=2M,mode=1777 nodev "$mnt"
fi
echo "setup: $(cat /proc/sys/vm/nr_hugepages) hugepages reserved, hugetlbfs at $mnt" >&2
if [ $print_seg_parent = 1 ]; then
    if [ -w "$mnt" ]; then
        echo "$mnt"
    else
        echo "setup: $mnt is not writable: segments go to /dev/shm, on 4 KiB pages" >&2
        echo /dev/shm
    fi
fi
