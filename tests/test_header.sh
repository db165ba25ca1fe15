#!/usr/bin/env bash
# Description: the installed shmlog.h alone builds a program as C11 and as C++17 (gcc, g++, clang, clang++) with -pedantic -Werror, which links with -lnuma -lpthread, runs, and leaves its segments; a constant level or category out of range and a format that is not a literal are compile errors that say so, with each compiler, at -O0 and -O2.
# usage: test_header.sh BUILD_DIR SOURCE_DIR
set -u
build=$1
src=$2
tmp=$(mktemp -d /tmp/shmlog-test-header-XXXXXX)
segs=$(mktemp -d /dev/shm/shmlog-test-header-XXXXXX)
trap 'rm -rf "$tmp" "$segs"' EXIT
. "$(dirname "$0")/tap.sh"

if ! meson install -C "$build" --no-rebuild --destdir "$tmp/root" >"$tmp/install.log" 2>&1; then
    diag "$tmp/install.log"
    bail "meson install failed"
fi
header=$(find "$tmp/root" -name shmlog.h -path '*/include/*' | head -n 1)
if [ -z "$header" ]; then
    bail "shmlog.h was not installed to an include directory"
fi
inc=$(dirname "$header")
echo "# installed header: ${header#"$tmp/root"}"

warn="-pedantic -Wall -Wextra -Werror"
# name, C or C++ compiler, language flags
builds() {
    name=$1
    cc=$2
    std=$3
    out="$tmp/$name"
    mkdir -p "$out"
    if ! command -v "$cc" >/dev/null 2>&1; then
        not_ok "$name: $cc not found"
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
                ok "$name ($expected records in $slots slots, $rings ring(s))"
                return
            fi
            echo "segments: $metas meta, $rings rings, $slots slots for $expected records" >>"$out/log"
        fi
    fi
    not_ok "$name"
    sed 's/^/#   /' "$out/log"
}

builds gcc-c11 gcc "-std=c11"
builds gxx-cxx17 g++ "-std=c++17 -x c++"
builds clang-c11 clang "-std=c11"
builds clangxx-cxx17 clang++ "-std=c++17 -x c++"

# Misuse the compiler can see is a compile error that says what to do: name,
# compiler, language flags, optimisation, the call, what the error must say.
refused() {
    name=$1
    cc=$2
    std=$3
    opt=$4
    call=$5
    says=$6
    out="$tmp/refused-$name"
    mkdir -p "$out"
    printf '#include "shmlog.h"\nint f(int n, char **v);\nint f(int n, char **v)\n{\n    (void)n; (void)v;\n    %s;\n    return 0;\n}\n' \
        "$call" >"$out/use.c"
    if "$cc" $std $warn $opt -I"$inc" -c "$out/use.c" -o "$out/use.o" >"$out/log" 2>&1; then
        not_ok "$name: compiled: $call"
    elif ! grep -q "$says" "$out/log"; then
        not_ok "$name: the error does not say '$says'"
        sed 's/^/#   /' "$out/log"
    elif [ "$(grep -c "error" "$out/log")" -gt 2 ]; then
        not_ok "$name: more than one error for one mistake"
        sed 's/^/#   /' "$out/log"
    else
        ok "$name: $(grep -m1 -o "$says.*" "$out/log" | head -c 100)"
    fi
}
for c in "gcc-c11 gcc -std=c11" "gxx-cxx17 g++ -std=c++17 -x c++" "clang-c11 clang -std=c11" \
         "clangxx-cxx17 clang++ -std=c++17 -x c++"; do
    set -- $c
    compiler_name=$1 compiler=$2
    shift 2
    for opt in -O0 -O2; do
        refused "$compiler_name$opt-category" "$compiler" "$*" $opt 'SHMLOG_LOG(7, SHMLOG_LEVEL_INFO, "x %d", 1)' \
            "category out of range: use SHMLOG_CAT_NONE .. SHMLOG_CAT_PORTFOLIO"
        refused "$compiler_name$opt-level" "$compiler" "$*" $opt 'SHMLOG_LOG(SHMLOG_CAT_ORDER, 9, "x %d", 1)' \
            "level out of range: use SHMLOG_LEVEL_TRACE .. SHMLOG_LEVEL_FATAL"
        refused "$compiler_name$opt-format" "$compiler" "$*" $opt 'const char *fmts[2] = {"a=%d", "b=%d"}; SHMLOG_INFO(fmts[n & 1], n)' \
            "the format must be a string literal"
    done
done

tap_done
