#!/usr/bin/env bash
# The whole test suite: a release build, an ASan+UBSan build, and a TSan build
# of the suites TSan supports. Run from the repository root, as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh

run() { # name, meson options...
    local dir=build-test-$1; shift
    [ -d "$dir" ] || meson setup "$dir" "$@" >/dev/null
    # Quiet when it builds; the compiler's words when it does not.
    ninja -C "$dir" >"$dir/ninja.log" 2>&1 || { tail -n 40 "$dir/ninja.log"; echo "build failed: $dir"; exit 1; }
    echo "== meson test ($dir)"
    meson test -C "$dir" --print-errorlogs --num-processes 2
}

run release --buildtype=release
run asan --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false
run tsan --buildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false -Dtsan=true
echo "all test suites passed"
