#!/usr/bin/env bash
# What one accepted user's call sites cost another (issue 47): user A (shmlog-atk) runs --floods processes of
# --sites call sites with formats of --fmt bytes each, logging them round-robin, which takes A past the
# collector's 64 MiB site budget; meanwhile user B (shmlog-grp), accepted too, logs --records records at
# 100 k a second (bursts of 100 every ms) into a 1 MiB ring. Prints B's drops (its producer's own count) and
# records read back, A's records logged and read back, the collector's cpu time, and then the peak RSS of
# `shmlog-dump read` and of Python's to_arrow over the first 16 files the run wrote (files of long sites).
#   bench/site_budget.sh [--floods N] [--sites N] [--fmt BYTES] [--records N] [--no-flood]
#   defaults: 5 processes, 12000 sites, 4000 bytes, 500000 records; --no-flood: B alone, the baseline
#   SHMLOG_BUILD: the build directory (default build). Needs root: it runs the producers as the two test users
#   (made as the test suite makes them, tests/test_users.h, when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

floods=5 sites=12000 fmt=4000 records=500000
while [ $# -gt 0 ]; do
    case "$1" in
    --floods) floods=${2:?--floods needs a value}; shift 2 ;;
    --sites) sites=${2:?--sites needs a value}; shift 2 ;;
    --fmt) fmt=${2:?--fmt needs a value}; shift 2 ;;
    --records) records=${2:?--records needs a value}; shift 2 ;;
    --no-flood) floods=0; shift ;;
    *) echo "site_budget.sh: unknown argument: $1 (see the comment at the top)" >&2; exit 2 ;;
    esac
done
for n in "$floods" "$sites" "$fmt" "$records"; do
    case "$n" in '' | *[!0-9]*) echo "site_budget.sh: counts are whole numbers: $n" >&2; exit 2 ;; esac
done
[ "$(id -u)" = 0 ] || { echo "site_budget.sh: needs root (runs producers as the test users)" >&2; exit 2; }

getent group shmlog-ops >/dev/null || groupadd --system shmlog-ops
getent passwd shmlog-atk >/dev/null || useradd --system --no-create-home --shell /usr/sbin/nologin shmlog-atk
getent passwd shmlog-grp >/dev/null ||
    useradd --system --no-create-home --shell /usr/sbin/nologin -G shmlog-ops shmlog-grp
as_user() { local u=$1; shift; setpriv --reuid="$(id -u "$u")" --regid="$(id -g "$u")" --clear-groups "$@"; }

build=${SHMLOG_BUILD:-build}
ninja -C "$build" collector/shmlog-collector dump/shmlog-dump tests/site_flood tests/test-collector-producer >/dev/null
build=$(cd "$build" && pwd)
# /dev/shm, not the shared hugepage pool: A's metas alone are 64 MiB each.
work=$(mktemp -d /tmp/shmlog-bench-sites.XXXXXX)
seg=/dev/shm/shmlog-bench-sites-$$
col= fpids=() fds=()
trap 'for p in $col "${fpids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work" "$seg"' EXIT
mkdir -p "$seg" "$work/out"
chmod 1777 "$seg"
chmod 0711 "$work"
export SHMLOG_DIR=$seg

"$build/collector/shmlog-collector" --dir "$seg" --out "$work/out" --allow-uid shmlog-atk --allow-uid shmlog-grp \
    2>"$work/collector.log" &
col=$!
sleep 0.5
for ((k = 0; k < floods; k++)); do
    mkfifo "$work/flood$k.in"
    as_user shmlog-atk "$build/tests/site_flood" "$sites" "$fmt" loop <"$work/flood$k.in" >"$work/flood$k.out" &
    fpids+=($!)
    exec {fd}>"$work/flood$k.in" # its stdin: closed, it stops
    fds+=("$fd")
done
for ((k = 0; k < floods; k++)); do
    until grep -q '^done ' "$work/flood$k.out" 2>/dev/null; do sleep 0.1; done
done
start=$(date +%s.%N)
b_out=$(as_user shmlog-grp "$build/tests/test-collector-producer" --app victim --threads 1 --count "$records" \
    --burst 100 --pause-us 1000 --ring-bytes 1048576 </dev/null)
b_dropped=$(awk '/^done /{print $2}' <<<"$b_out")
b_secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
cpu=$(awk '{print ($14 + $15) / 100}' "/proc/$col/stat")
for fd in "${fds[@]}"; do exec {fd}>&-; done
for p in "${fpids[@]}"; do wait "$p"; done
fpids=()
a_logged=$(awk '/^logged /{n += $2} END {print n + 0}' "$work"/flood*.out 2>/dev/null || echo 0)
kill -TERM "$col"
wait "$col" || true
col=
records_of() { "$build/dump/shmlog-dump" stats --app "$1" --format json "$work/out" |
    python3 -c 'import json, sys; print(json.loads(sys.stdin.readline())["records"])'; }
b_read=$(records_of victim)
a_read=$(records_of flood)
nfiles=$(find "$work/out" -name '*.shlog' | wc -l)
echo "B (shmlog-grp): dropped $b_dropped of $records (its producer's count) in $b_secs s, read back $b_read"
echo "A (shmlog-atk): $floods processes x $sites sites of $fmt bytes, $a_logged records logged, read back $a_read"
echo "collector: ${cpu} s of cpu from its start to B's end, $nfiles files; its lines about budgets:"
grep -h 'call sites of uid' "$work/collector.log" | sed 's/^/  /' || true

mkdir "$work/files16"
find "$work/out" -name '*.shlog' | sort | sed -n 1,16p | while read -r f; do ln "$f" "$work/files16/"; done
n16=$(find "$work/files16" -name '*.shlog' | wc -l)
if [ "$n16" -gt 0 ]; then
    rss=$( { /usr/bin/time -v "$build/dump/shmlog-dump" read --format json "$work/files16" >/dev/null; } 2>&1 |
        awk -F': ' '/Maximum resident/{print $2}')
    echo "shmlog-dump read over $n16 files ($(du -sh "$work/files16" | cut -f1)): peak RSS $rss kB"
    py=${SHMLOG_TEST_VENV:-/opt/shmlog-test/venv}/bin/python3
    export PYTHONPATH=python SHMLOG_READ_LIBRARY=$build/read/libshmlog-read.so.1
    if "$py" -c 'import shmlog, pyarrow' 2>/dev/null; then
        rss=$( { /usr/bin/time -v "$py" -c \
            'import sys, shmlog; t = shmlog.to_arrow(sys.argv[1]); print(t.num_rows)' "$work/files16" >/dev/null; } 2>&1 |
            awk -F': ' '/Maximum resident/{print $2}')
        echo "python to_arrow over $n16 files: peak RSS $rss kB"
    fi
fi
