#!/bin/sh
# Description: the installed shmlog.h alone builds a program as C11 and as C++17 (gcc, g++, clang, clang++) with -pedantic -Werror, which links with -lnuma -lpthread, runs, and leaves its segments.
# usage: test_header.sh BUILD_DIR SOURCE_DIR
set -u
build=$1
src=$2
tmp=$(mktemp -d /tmp/shmlog-test-header-XXXXXX)
segs=$(mktemp -d /dev/shm/shmlog-test-header-XXXXXX)
trap 'rm -rf "$tmp" "$segs"' EXIT
passed=0
failed=0

if ! meson install -C "$build" --no-rebuild --destdir "$tmp/root" >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log"
    echo "meson install failed"
    echo "0 passed, 1 failed"
    exit 1
fi
header=$(find "$tmp/root" -name shmlog.h -path '*/include/*' | head -n 1)
if [ -z "$header" ]; then
    echo "shmlog.h was not installed to an include directory"
    echo "0 passed, 1 failed"
    exit 1
fi
inc=$(dirname "$header")
echo "# installed header: ${header#"$tmp/root"}"

warn="-pedantic -Wall -Wextra -Werror"
# name, C or C++ compiler, language flags
check() {
    name=$1
    cc=$2
    std=$3
    out="$tmp/$name"
    mkdir -p "$out"
    if ! command -v "$cc" >/dev/null 2>&1; then
        echo "not ok - $name: $cc not found"
        failed=$((failed + 1))
        return
    fi
    # Only the file with SHMLOG_IMPLEMENTATION needs _GNU_SOURCE; the user's
    # files need nothing but the header.
    if "$cc" $std $warn -D_GNU_SOURCE -I"$inc" -c "$src/header_impl.c" -o "$out/impl.o" >"$out/log" 2>&1 &&
        "$cc" $std $warn -I"$inc" -c "$src/header_use.c" -o "$out/use.o" >>"$out/log" 2>&1 &&
        "$cc" "$out/impl.o" "$out/use.o" -o "$out/prog" -lnuma -lpthread >>"$out/log" 2>&1; then
        dir="$segs/$name"
        if expected=$("$out/prog" "$dir" 2>>"$out/log"); then
            metas=$(find "$dir" -name '*.meta' | wc -l)
            rings=$(find "$dir" -name '*.ring' | wc -l)
            # every record the program wrote is in its rings: sum the ring heads (u64 at offset 256)
            slots=0
            for r in "$dir"/*.ring; do
                head=$(od -An -t u8 -j 256 -N 8 "$r" | tr -d ' ')
                slots=$((slots + head))
            done
            if [ "$metas" -eq 1 ] && [ "$rings" -ge 1 ] && [ "$slots" -ge "$expected" ]; then
                echo "ok - $name ($expected records in $slots slots, $rings ring(s))"
                passed=$((passed + 1))
                return
            fi
            echo "segments: $metas meta, $rings rings, $slots slots for $expected records" >>"$out/log"
        fi
    fi
    echo "not ok - $name"
    sed 's/^/#   /' "$out/log"
    failed=$((failed + 1))
}

check gcc-c11 gcc "-std=c11"
check gxx-cxx17 g++ "-std=c++17 -x c++"
check clang-c11 clang "-std=c11"
check clangxx-cxx17 clang++ "-std=c++17 -x c++"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
