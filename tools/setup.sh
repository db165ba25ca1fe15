#!/usr/bin/env bash
# Prepares a Debian 12 machine for shmlog, as root: the packages it builds and
# tests with, 2 MiB hugepages reserved, and a hugetlbfs mount. Idempotent.
# Reports on stderr. With --print-seg-parent, prints on stdout where the
# scripts put segments: the hugetlbfs mount, or /dev/shm (4 KiB pages, said on
# stderr) when the mount is not writable. Also installs DuckDB for node, pinned,
# into /opt/shmlog-test/duckdb (for tests/test_duckdb.sh), and Apache Kafka's jars, pinned, through
# Maven into /opt/shmlog-test/kafka (for tools/kafka-dev.sh and the kafka suite).
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
# systemd-analyze, groff and man, curl; dpkg-dev and lintian for tools/package.sh and its test;
# Python's venv, setuptools, wheel and pandas for the Python package and its test;
# librdkafka for shmlog-ship and shmlog-dump's kafka:// sources, Java and Maven for the test cluster).
# Tests never install a package themselves.
packages=(gcc g++ clang pkg-config meson ninja-build python3 liburing-dev libzstd-dev libnuma-dev
          libcriterion-dev libmicrohttpd-dev numactl libclang-rt-14-dev
          rsyslog prometheus systemd groff-base man-db curl dpkg-dev lintian
          python3-venv python3-setuptools python3-wheel python3-pandas
          librdkafka-dev openjdk-17-jre-headless maven)

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

# DuckDB, for the test that queries shmlog-dump's JSON Lines with SQL (tests/test_duckdb.sh through
# tests/duckdb_query.mjs): the npm package, whose prebuilt library has the json extension built in,
# so the test never fetches anything. Pinned, in a directory of its own that the test looks in and
# nowhere else. npm comes with Node.js; Debian's nodejs and npm only when there is no npm at all,
# since a Node.js from elsewhere (NodeSource) brings its own npm and conflicts with Debian's.
duckdb_node_version=1.5.6-r.1
duckdb_node_dir=/opt/shmlog-test/duckdb
if ! command -v npm >/dev/null 2>&1; then
    echo "setup: installing nodejs npm" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
# Present means the pinned version, and that it loads (its native library is there for this machine).
duckdb_node_ok() {
    node -e '
        const [dir, want] = process.argv.slice(1);
        const pkg = dir + "/node_modules/@duckdb/node-api";
        if (require(pkg + "/package.json").version !== want) process.exit(1);
        require(pkg);' "$duckdb_node_dir" "$duckdb_node_version" >/dev/null 2>&1
}
if ! duckdb_node_ok; then
    echo "setup: installing @duckdb/node-api@$duckdb_node_version into $duckdb_node_dir" >&2
    mkdir -p "$duckdb_node_dir"
    npm_log=$(mktemp)
    # umask 022: the tests may run as another user, who reads it.
    if ! (umask 022 && npm install --prefix "$duckdb_node_dir" --save-exact --no-audit --no-fund \
            --no-update-notifier --loglevel=error "@duckdb/node-api@$duckdb_node_version") >"$npm_log" 2>&1; then
        why=$(grep '^npm error' "$npm_log" | head -n 2 | sed 's/^npm error //' | paste -sd ';' - || true)
        echo "setup: npm could not install @duckdb/node-api@$duckdb_node_version into $duckdb_node_dir: ${why:-$(tail -n 1 "$npm_log")}" >&2
        rm -f "$npm_log"
        exit 1
    fi
    rm -f "$npm_log"
    duckdb_node_ok || { echo "setup: @duckdb/node-api@$duckdb_node_version in $duckdb_node_dir does not load in node $(node --version)" >&2; exit 1; }
fi

# Kafka's jars for the test cluster (tools/kafka-dev.sh keeps the version and the place).
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
