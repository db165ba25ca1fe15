#!/usr/bin/env bash
# Description: the installed shmlog.h alone builds a program as C11 and as C++17 (gcc, g++, clang, clang++) with -pedantic -Werror, which links with -lnuma -lpthread, runs, and leaves its segments (its calls before shmlog_init say so once on stderr): every argument type (in C++ std::string, std::string_view, enum class), %.*s, the rate-limited macros, and SHMLOG_ACTIVE_LEVEL, whose calls below it evaluate nothing and leave no trace in an -O2 object; string literals and char arrays of every size, first or after other arguments, build at -O2 and -O3 with -Wall -Wextra -Werror; every kind of C++ call, and the implementation (SHMLOG_IMPLEMENTATION), build with no warning under -Wold-style-cast -Wuseless-cast -Wconversion -Wsign-conversion -Wshadow -Wpedantic -Werror in C++17 and C++20, and the implementation as C11 under -Wconversion -Wsign-conversion -Wshadow; misuse is one compile error that says what is wrong, with each compiler, at -O0 and -O2: a constant level or category out of range, a format that is not a literal, a format that does not match its arguments, 33 arguments (32 in a rate-limited call), an argument of a type a record cannot hold, a bad SHMLOG_ACTIVE_LEVEL, a C++ {} format whose placeholders do not fit its arguments (the note names the placeholder and the reason: too few or too many arguments, a type or precision the argument cannot take, both styles in one format, an unmatched brace, positional indexes out of order, a unit without a suffix on a std::chrono duration), an enum of 49 names, and (C) an implementation file without _GNU_SOURCE; a diagnostic about one argument is printed once. Built with -fsanitize=address (gcc and clang) the same program runs with no report: the header then scans C strings with memchr, not in aligned blocks that read past the NUL.
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
# name, C or C++ compiler, language flags[, flags for the compiler and the link: a sanitizer]
builds() {
    name=$1
    cc=$2
    std="$3 ${4:-}"
    link=${4:-}
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
        "$cc" $std $warn -I"$inc" -c "$src/header_floor.c" -o "$out/floor.o" >>"$out/log" 2>&1 &&
        "$cc" $link "$out/impl.o" "$out/use.o" "$out/floor.o" -o "$out/prog" -lnuma -lpthread >>"$out/log" 2>&1; then
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
            early=$(grep -c "header_use.c:[0-9]*: a log call before shmlog_init() writes nothing" "$out/log")
            if [ "$metas" -eq 1 ] && [ "$rings" -ge 1 ] && [ "$slots" -ge "$expected" ] && [ "$early" -eq 1 ]; then
                ok "$name ($expected records in $slots slots, $rings ring(s); the calls before init said so once)"
                return
            fi
            echo "the calls before init said so $early times on stderr" >>"$out/log"
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
# Under ASan the header scans a C string with memchr, not in aligned blocks, whose bytes past the NUL
# (header_use.c's short literals) ASan would report; gcc says so by __SANITIZE_ADDRESS__, clang by
# __has_feature. The library's memory lives until exit, so leaks are not asked.
ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:exitcode=23 builds gcc-c11-asan gcc "-std=c11" "-fsanitize=address"
ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:exitcode=23 builds clang-c11-asan clang "-std=c11" "-fsanitize=address"

# SHMLOG_ACTIVE_LEVEL leaves nothing of the calls below it in an optimised
# object: not even their formats, while the call at the floor keeps its own.
floor_object() {
    name=$1
    cc=$2
    std=$3
    out="$tmp/floor-$name"
    mkdir -p "$out"
    if ! "$cc" $std $warn -O2 -I"$inc" -c "$src/header_floor.c" -o "$out/floor.o" >"$out/log" 2>&1; then
        not_ok "$name: header_floor.c at -O2"
        sed 's/^/#   /' "$out/log"
    elif grep -q -a "floor-removed" "$out/floor.o" || ! grep -q -a "floor-kept" "$out/floor.o"; then
        not_ok "$name: a call below SHMLOG_ACTIVE_LEVEL left its format in the -O2 object"
    else
        ok "$name: SHMLOG_ACTIVE_LEVEL: nothing of the calls below it in the -O2 object"
    fi
}
floor_object gcc-c11 gcc "-std=c11"
floor_object gxx-cxx17 g++ "-std=c++17 -x c++"
floor_object clang-c11 clang "-std=c11"
floor_object clangxx-cxx17 clang++ "-std=c++17 -x c++"

# String literals and char arrays of every size that matters (each up to 8 bytes, around every slot
# boundary and the payload bound, and past it), first or after other arguments, build with no warning at
# -O2 and -O3 -Wall -Wextra -Werror: GCC once saw a copy "exceeding every object" in their bounds.
python3 - "$tmp/sizes.c" <<'PY'
import sys
sizes = set(range(9))
for b in range(36, 429, 56):  # where the payload moves to the next slot, and its end (428)
    for k in range(-7, 1):  # the strings below start 2 or 6 bytes in
        sizes.add(b + k)
sizes |= {1000}
out = ["#include <shmlog.h>", "#include <stddef.h>"]
for n in sorted(sizes):  # a function each: one of hundreds of calls would take the optimiser minutes
    lit = '"' + "x" * n + '"'
    out += ["void size%d(int k);" % n, "void size%d(int k)" % n, "{"]
    out.append('    SHMLOG_INFO("s=%%s", %s);' % lit)
    out.append('    SHMLOG_INFO("k=%%d s=%%s t=%%s", k, %s, "t");' % lit)
    out.append("    { char a%d[%d]; for (int i = 0; i < %d; i++) a%d[i] = 'y'; a%d[%d] = 0;" % (n, n + 1, n, n, n, n))
    out.append('      SHMLOG_INFO("a=%%s k=%%d", a%d, k); }' % n)
    out.append("    { static const char c%d[%d] = %s;" % (n, n + 1, lit))
    out.append('      SHMLOG_INFO("k=%%d c=%%.*s d=%%s", k, k, c%d, c%d); }' % (n, n))
    out.append("}")
# The call in which GCC 12 saw it (-Wstringop-overflow in shmlog__put_bytes), reduced from a generated one.
out += ["static char mix_a[] = \"%s\", mix_b[] = \"bbbbbbbbbbbbbb\";" % ("a" * 120), "void mix(int c);",
        "void mix(int c)", "{",
        '    SHMLOG_INFO("%s %#zx %.*s %d %f %.36s %11d %d %s", c ? mix_a : mix_b, (size_t)c, c ? -1 : 3, "", c,',
        '                (double)c, c ? "%s" : "%s", c, c, c ? mix_b : mix_a);' % ("c" * 58, "d" * 400), "}"]
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PY
# two compilers at a time: the machine has two cores
sizes_builds=("gcc-c11 gcc -std=c11" "gxx-cxx17 g++ -std=c++17 -x c++" "clang-c11 clang -std=c11"
              "clangxx-cxx17 clang++ -std=c++17 -x c++")
for c in "${sizes_builds[@]}"; do
    set -- $c
    name=$1 compiler=$2
    shift 2
    for opt in -O2 -O3; do
        "$compiler" "$@" $warn $opt -I"$inc" -c "$tmp/sizes.c" -o "$tmp/sizes-$name$opt.o" \
            >"$tmp/sizes-$name$opt.log" 2>&1 &
    done
    wait
    for opt in -O2 -O3; do
        if [ -s "$tmp/sizes-$name$opt.o" ] && [ ! -s "$tmp/sizes-$name$opt.log" ]; then
            ok "$name$opt: string literals and arrays of every size, no warning"
        else
            not_ok "$name$opt: string literals and arrays of every size"
            head -n 20 "$tmp/sizes-$name$opt.log" | sed 's/^/#   /'
        fi
    done
done

# The warnings C++ shops build with: the macros' expansions, and the implementation
# (SHMLOG_IMPLEMENTATION), add none of their own, in C++17 and C++20, at -O0 and -O2
# (-Wuseless-cast is GCC's alone); the implementation as C under the conversion warnings too.
strict="-Wall -Wextra -Wpedantic -Wold-style-cast -Wconversion -Wsign-conversion -Wshadow -Werror"
strict_c="-Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Werror"
# what, log name, compiler and flags..., source: one TAP line
builds_clean() {
    local what=$1 log="$tmp/strict-$2.log"
    shift 2
    local file=${*: -1}
    if "${@:1:$#-1}" -I"$inc" -c "$src/$file" -o "$log.o" >"$log" 2>&1; then
        ok "$what, no warning"
    else
        not_ok "$what warns"
        grep -m 20 "warning\|error" "$log" | sed 's/^/#   /'
    fi
}
for c in "g++ -Wuseless-cast" "clang++"; do
    set -- $c
    compiler=$1
    shift
    for std in c++17 c++20; do
        for opt in -O0 -O2; do
            builds_clean "$compiler -std=$std $opt: every kind of call under $strict${*:+ $*}" "$compiler-$std$opt" \
                "$compiler" -std=$std $opt $strict "$@" header_strict.cpp
            builds_clean "$compiler -std=$std $opt: the implementation under $strict${*:+ $*}" "impl-$compiler-$std$opt" \
                "$compiler" -x c++ -std=$std $opt $strict "$@" -D_GNU_SOURCE header_impl.c
        done
    done
done
for compiler in gcc clang; do
    for opt in -O0 -O2; do
        builds_clean "$compiler -std=c11 $opt: the implementation under $strict_c" "impl-$compiler-c11$opt" \
            "$compiler" -std=c11 $opt $strict_c -D_GNU_SOURCE header_impl.c
    done
done

# Misuse the compiler can see is a compile error that says what to do: name,
# compiler, language flags, optimisation, the call, what the error must say
# (a grep pattern), and optionally what precedes the #include. One mistake is
# one diagnostic that says "error:" (-Werror's warnings count; the compilers'
# closing tallies do not).
refused() {
    name=$1
    cc=$2
    std=$3
    opt=$4
    call=$5
    says=$6
    prelude=${7:-}
    out="$tmp/refused-$name"
    mkdir -p "$out"
    printf '%s\n#include "shmlog.h"\nint f(int n, char **v);\nint f(int n, char **v)\n{\n    (void)n; (void)v;\n    %s;\n    return 0;\n}\n' \
        "$prelude" "$call" >"$out/use.c"
    if "$cc" $std $warn $opt -I"$inc" -c "$out/use.c" -o "$out/use.o" >"$out/log" 2>&1; then
        not_ok "$name: compiled: $call"
    elif ! grep -q "$says" "$out/log"; then
        not_ok "$name: the error does not say '$says'"
        sed 's/^/#   /' "$out/log"
    elif [ "$(grep -c "error:" "$out/log")" -gt 1 ]; then
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
        refused "$compiler_name$opt-category" "$compiler" "$*" $opt 'SHMLOG_LOG(64, SHMLOG_LEVEL_INFO, "x %d", 1)' \
            "category out of range: use SHMLOG_CAT_NONE .. SHMLOG_CAT_PORTFOLIO or an id from shmlog_category()"
        refused "$compiler_name$opt-level" "$compiler" "$*" $opt 'SHMLOG_LOG(SHMLOG_CAT_ORDER, 9, "x %d", 1)' \
            "level out of range: use SHMLOG_LEVEL_TRACE .. SHMLOG_LEVEL_FATAL"
        refused "$compiler_name$opt-format" "$compiler" "$*" $opt 'const char *fmts[2] = {"a=%d", "b=%d"}; SHMLOG_INFO(fmts[n & 1], n)' \
            "the format must be a string literal"
        # -Wformat sees the arguments (in C++ as they are stored), once
        refused "$compiler_name$opt-mismatch" "$compiler" "$*" $opt 'SHMLOG_INFO("x=%d s=%s", 1.5, "s")' \
            "%d.\{1,3\} expects\|format specifies type"
        refused "$compiler_name$opt-33-arguments" "$compiler" "$*" $opt \
            'SHMLOG_INFO("%d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, n)' \
            "at most 32 arguments after the format (SHMLOG_MAX_ARGS, .*split the call"
        refused "$compiler_name$opt-32-arguments-every" "$compiler" "$*" $opt \
            'SHMLOG_INFO_EVERY(10, "%d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, n)' \
            "at most 31 arguments after the format of a rate-limited call.*split the call"
        refused "$compiler_name$opt-struct" "$compiler" "$*" $opt \
            'struct pair { int a, b; } p = {1, 2}; SHMLOG_INFO("p=%d", p)' "unsupported argument type"
        refused "$compiler_name$opt-active-level" "$compiler" "$*" $opt 'SHMLOG_INFO("x=%d", n)' \
            "SHMLOG_ACTIVE_LEVEL must be SHMLOG_LEVEL_TRACE .. SHMLOG_LEVEL_OFF" "#define SHMLOG_ACTIVE_LEVEL 9"
        # a warning about one argument (here an overflowing shift) is printed once
        refused "$compiler_name$opt-once" "$compiler" "$*" $opt 'SHMLOG_INFO("x=%d", 1 << 40)' \
            "shift count\\|shift-count"
    done
done

# The implementation in a C file without _GNU_SOURCE: one error that says
# what to do, first and alone.
for c in "gcc-c11 gcc" "clang-c11 clang"; do
    set -- $c
    refused "$1-gnu-source" "$2" "-std=c11" -O0 'SHMLOG_INFO("x=%d", n)' \
        "compile the file that defines SHMLOG_IMPLEMENTATION with -D_GNU_SOURCE" "#define SHMLOG_IMPLEMENTATION"
    refused "$1-gnu-source-late" "$2" "-std=c11" -O0 'SHMLOG_INFO("x=%d", n)' \
        "_GNU_SOURCE was defined after a system header" \
        "$(printf '#include <stdio.h>\n#define _GNU_SOURCE\n#define SHMLOG_IMPLEMENTATION')"
done

# C++ {} formats: a mismatch is one error whose note names the placeholder (from 1; 0 is the
# whole format) and the reason, in C++17 and C++20, with each compiler.
names49=$(seq -f 'N%g' 1 49 | paste -sd, | sed 's/,/, /g')
for c in "gxx g++" "clangxx clang++"; do
    set -- $c
    for fstd in c++17 c++20; do
        for fopt in -O0 -O2; do
            fname="$1-$fstd$fopt-fmt"
            flags="-std=$fstd -x c++"
            refused "$fname-too-few" "$2" "$flags" $fopt 'SHMLOG_INFO("a={} b={}", n)' \
                "fmt_placeholder<2, shmlog_detail::fmt_reason::no_argument_for_placeholder>"
            refused "$fname-too-many" "$2" "$flags" $fopt 'SHMLOG_INFO("a={}", n, n)' \
                "fmt_placeholder<2, shmlog_detail::fmt_reason::more_arguments_than_placeholders>"
            refused "$fname-type" "$2" "$flags" $fopt 'SHMLOG_INFO("a={} s={:d}", n, "text")' \
                "fmt_placeholder<2, shmlog_detail::fmt_reason::type_does_not_fit_argument>"
            refused "$fname-float-on-int" "$2" "$flags" $fopt 'SHMLOG_INFO("px={:.2f}", n)' \
                "fmt_placeholder<1, shmlog_detail::fmt_reason::type_does_not_fit_argument>"
            refused "$fname-precision-on-int" "$2" "$flags" $fopt 'SHMLOG_INFO("a={} q={:.2}", 1.5, n)' \
                "fmt_placeholder<2, shmlog_detail::fmt_reason::precision_on_integer>"
            refused "$fname-sign-on-text" "$2" "$flags" $fopt 'SHMLOG_INFO("s={:+}", "text")' \
                "fmt_placeholder<1, shmlog_detail::fmt_reason::sign_hash_or_zero_on_text>"
            refused "$fname-brace" "$2" "$flags" $fopt 'SHMLOG_INFO("a={} }", n)' \
                "fmt_placeholder<2, shmlog_detail::fmt_reason::unmatched_brace>"
            refused "$fname-order" "$2" "$flags" $fopt 'SHMLOG_INFO("a={1} b={0}", n, n)' \
                "fmt_placeholder<1, shmlog_detail::fmt_reason::positional_index_out_of_order>"
            refused "$fname-every" "$2" "$flags" $fopt 'SHMLOG_WARN_EVERY(100, "a={} b={}", n)' \
                "fmt_placeholder<2, shmlog_detail::fmt_reason::no_argument_for_placeholder>"
            refused "$fname-duration-unit" "$2" "$flags" $fopt \
                'SHMLOG_INFO("t={}", (std::chrono::duration<int, std::ratio<7>>(n)))' \
                "fmt_placeholder<1, shmlog_detail::fmt_reason::duration_unit_unsupported>"
            refused "$fname-optional-of-unsupported" "$2" "$flags" $fopt \
                'SHMLOG_INFO("v={}", std::optional<std::vector<U>>())' "is of a type shmlog cannot log" \
                "$(printf '#include "shmlog.h"\n#include <vector>\nstruct U { int a; };')"
            refused "$fname-container-of-unsupported" "$2" "$flags" $fopt \
                'SHMLOG_INFO("m={}", (std::map<int, U>()))' "is of a type shmlog cannot log" \
                "$(printf '#include "shmlog.h"\n#include <map>\nstruct U { int a; };')"
            refused "$fname-optional-33rd-argument" "$2" "$flags" $fopt \
                'SHMLOG_INFO("{} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}", n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, std::optional<int>(n))' \
                "each std::optional counting as two"
            refused "$fname-enum-49-names" "$2" "$flags" $fopt 'SHMLOG_INFO("e={}", E::N1)' \
                "SHMLOG_ENUM takes at most 48 names" \
                "$(printf '#include "shmlog.h"\nenum class E { %s };\nSHMLOG_ENUM(E, %s);' "$names49" "$names49")"
            refused "$fname-enum-misspelled" "$2" "$flags" $fopt 'SHMLOG_INFO("e={}", E::Buy)' \
                "Sel.* not a member\|no member named 'Sel'" "$(printf '#include "shmlog.h"\nenum class E { Buy, Sell };\nSHMLOG_ENUM(E, Buy, Sel);')"
            refused "$fname-struct-32-members" "$2" "$flags" $fopt 'SHMLOG_INFO("s={}", S{})' \
                "SHMLOG_STRUCT takes at most 31 members" \
                "$(printf '#include "shmlog.h"\nstruct S { int m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22, m23, m24, m25, m26, m27, m28, m29, m30, m31, m32; };\nSHMLOG_STRUCT(S, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22, m23, m24, m25, m26, m27, m28, m29, m30, m31, m32);')"
            refused "$fname-struct-past-32-arguments" "$2" "$flags" $fopt 'SHMLOG_INFO("o={} n={}", O{}, n)' \
                "each SHMLOG_STRUCT as one plus its members" \
                "$(printf '#include "shmlog.h"\nstruct I { int a, b, c, d, e, f, g, h, i, j, k, l, m, o, p; };\nSHMLOG_STRUCT(I, a, b, c, d, e, f, g, h, i, j, k, l, m, o, p);\nstruct O { I x; int y, z, w, v, u, t, s, r, q, pp, oo, nn, mm, ll, kk; };\nSHMLOG_STRUCT(O, x, y, z, w, v, u, t, s, r, q, pp, oo, nn, mm, ll, kk);')"
            refused "$fname-struct-spec" "$2" "$flags" $fopt 'SHMLOG_INFO("s={:>8}", S{})' \
                "fmt_placeholder<1, shmlog_detail::fmt_reason::spec_on_struct_unsupported>" \
                "$(printf '#include "shmlog.h"\nstruct S { int a; };\nSHMLOG_STRUCT(S, a);')"
            refused "$fname-struct-member-unsupported" "$2" "$flags" $fopt 'SHMLOG_INFO("s={}", S{})' \
                "SHMLOG_STRUCT member may not be a container" \
                "$(printf '#include "shmlog.h"\n#include <vector>\nstruct S { int a; std::vector<int> v; };\nSHMLOG_STRUCT(S, a, v);')"
        done
    done
done

# C++: what a record cannot hold is one error that names the type problem
for c in "gxx-cxx17 g++" "clangxx-cxx17 clang++"; do
    set -- $c
    refused "$1-unsupported-class" "$2" "-std=c++17 -x c++" -O0 \
        'struct price { long mantissa; int exponent; } px = {10125, -2}; SHMLOG_INFO("px=%ld", px)' \
        "unsupported argument type"
done

tap_done
