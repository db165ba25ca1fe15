#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine, as root: install what is missing,
# reserve hugepages, build, then run the collector, a sample producer, and the
# dump of what landed on disk.
set -euo pipefail
cd "$(dirname "$0")/.."
seg_parent=$(bash scripts/setup.sh --print-seg-parent)

# SHMLOG_BUILD: the build directory (default ./build).
build=${SHMLOG_BUILD:-build}
[ -d "$build" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" >/dev/null
echo "quickstart: built into ./$build"

work=$(mktemp -d /tmp/shmlog-quickstart.XXXXXX)
seg_dir=$seg_parent/shmlog-quickstart-$$
export SHMLOG_DIR=$seg_dir
out=$work/out
mkdir -p "$out"

"$build"/collector/shmlog-collector --dir "$seg_dir" --out "$out" &
collector=$!
trap 'kill $collector 2>/dev/null || true; rm -rf "$seg_dir"' EXIT

"$build"/examples/shmlog-sample --app quickstart --count 200000 --threads 2 --rate 2000000
# An order's path through three processes, each working for the order's trace (W3C traceparent on the pipes).
"$build"/examples/shmlog-sample --app md --stage md --count 1000 --rate 10000 |
    "$build"/examples/shmlog-sample --app strategy --stage strategy |
    "$build"/examples/shmlog-sample --app gateway --stage gateway
echo "quickstart: live segments while the collector drains:"
"$build"/dump/shmlog-dump segments --dir "$seg_dir" || true

kill -TERM $collector
wait $collector
trap 'rm -rf "$seg_dir"' EXIT

echo "quickstart: files written to $out:"
ls -l "$out"
echo "quickstart: the first records, as text and as JSON Lines:"
"$build"/dump/shmlog-dump read "$out" --limit 5
"$build"/dump/shmlog-dump read "$out" --format json --limit 3
trace=$("$build"/dump/shmlog-dump read "$out" --app md --format json --limit 1 |
    sed -n 's/.*"trace_id":"\([0-9a-f]*\)".*/\1/p')
echo "quickstart: the first order's trace $trace across md, strategy and gateway, and the hops' latency:"
"$build"/dump/shmlog-dump trace "$trace" "$out"
"$build"/dump/shmlog-dump trace --stats "$out"
echo "quickstart: stats and verification:"
"$build"/dump/shmlog-dump stats "$out"
"$build"/dump/shmlog-dump verify "$out"/*.shlog
