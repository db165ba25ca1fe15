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
echo "quickstart: stats and verification:"
"$build"/dump/shmlog-dump stats "$out"
"$build"/dump/shmlog-dump verify "$out"/*.shlog
