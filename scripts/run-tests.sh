#!/usr/bin/env bash
# The whole test suite: a release build, an ASan+UBSan build, and a TSan build
# of the suites TSan supports, and the fuzzers for a bounded time; every suite, the slow and host-changing ones too
# (the 'full' setup; plain `meson test` runs the default one, without them).
# The test, metrics and Kafka features are required here: a missing Criterion,
# libmicrohttpd or librdkafka fails the setup instead of leaving tests out.
# Run from the repository root, as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

run() { # name, meson options...
    local dir=build-test-$1; shift
    local reconf=()
    [ -d "$dir" ] && reconf=(--reconfigure)
    meson setup "${reconf[@]}" "$dir" -Dtests=enabled -Dmetrics=enabled -Dkafka=enabled "$@" >/dev/null
    # Quiet when it builds; the compiler's words when it does not.
    ninja -C "$dir" >"$dir/ninja.log" 2>&1 || { tail -n 40 "$dir/ninja.log"; echo "build failed: $dir"; exit 1; }
    # A sanitizer's build runs the same checks two to four times slower (the python suite: 90 s in
    # release, 268 s under ASan with nothing beside it, past 300 s beside a busy neighbour), so its
    # timeouts are three times the release's.
    local slower=1
    case $dir in *-asan | *-tsan) slower=3 ;; esac
    echo "== meson test ($dir)"
    meson test -C "$dir" --setup full --print-errorlogs --num-processes 2 --timeout-multiplier "$slower"
}

run release --buildtype=release
run asan --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false
run tsan --buildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false -Dtsan=true
# The libFuzzer harnesses (clang), each for 20 s from the committed corpus
# (tests/fuzz/run.sh runs one longer); only they are built in this directory.
fuzz=build-test-fuzz
freconf=()
[ -d "$fuzz" ] && freconf=(--reconfigure)
CC=clang CXX=clang++ meson setup "${freconf[@]}" "$fuzz" -Dtests=enabled --buildtype=debugoptimized >/dev/null
ninja -C "$fuzz" tests/fuzz/fuzz_segment tests/fuzz/fuzz_format tests/fuzz/fuzz_file >"$fuzz/ninja.log" 2>&1 ||
    { tail -n 40 "$fuzz/ninja.log"; echo "build failed: $fuzz"; exit 1; }
echo "== meson test ($fuzz, suite fuzz)"
meson test -C "$fuzz" --setup full --suite fuzz --no-rebuild --print-errorlogs
echo "all test suites passed"
