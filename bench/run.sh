#!/bin/sh
# Builds the producer benchmark in release mode and runs it. Arguments go to
# shmlog-bench-producer (see --help), e.g. bench/run.sh --csv out.csv
# BUILD_DIR overrides the build directory (default: <repo>/build-bench).
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build-bench}
if [ -f "$build/build.ninja" ]; then
    meson configure "$build" -Dbuildtype=release -Db_ndebug=true
else
    meson setup "$build" "$repo" -Dbuildtype=release -Db_ndebug=true
fi
if ! log=$(ninja -C "$build" bench/shmlog-bench-producer 2>&1); then
    printf '%s\n' "$log" >&2
    exit 1
fi
exe="$build/bench/shmlog-bench-producer"
# Where the figures come from: timings mean little without the machine.
echo "# $(uname -sr), $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), "\
"hugepages free: $(awk '/HugePages_Free/ {print $2}' /proc/meminfo)"
printf '+ %s' "$exe"
for arg in "$@"; do
    printf " '%s'" "$arg"
done
printf '\n'
exec "$exe" "$@"
