#!/bin/bash
# The Quill probes of issue 54 (tests/quill_probes/) before and after: each probe compiled alone with GCC 12
# and Clang 14, C++17 and C++20, and read back against fmt::format, once with this tree's build and once
# with another tree's (a build of the header, shmlog-collector and shmlog-dump, e.g. main at 800e3a9:
#   git worktree add /tmp/before 800e3a9 && cd /tmp/before && meson setup build &&
#   ninja -C build producer/shmlog.h collector/shmlog-collector tools/shmlog-dump, dump/ in newer trees).
# usage: bench/probes.sh [BUILD [BEFORE_BUILD]]   (BUILD: build; without BEFORE_BUILD, this tree's table only)
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
table() {
    local b dump
    b=$(cd "$1" && pwd)
    dump=$(ls "$b/dump/shmlog-dump" "$b/tools/shmlog-dump" 2>/dev/null | head -1) # tools/ in older trees
    "$src/tests/quill_probes/probes.sh" --each "$b/producer" "$b/collector/shmlog-collector" "$dump"
}
after=$(table "${1:-$src/build}")
if [ $# -lt 2 ]; then
    echo "$after"
    exit 0
fi
before=$(table "$2")
paste -d '\t' <(echo "$before" | cut -c1-95) <(echo "$after" | cut -c31-) | awk -F '\t' '
    NR == 1 { printf "%-30s | %-64s | %s\n", "probe", "before: compiles / read back == fmt", "after" ; next }
    { printf "%-30s | %-64s | %s\n", substr($1, 1, 30), substr($1, 32), $2 }'
