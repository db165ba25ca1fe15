#!/bin/bash
# Description: every external symbol of a layer's static library starts with that layer's prefix (the renderer's render_, the reader library's read_ or its API's shmlog_read_), read from the built archives with nm; a global without it fails this test with its name.
#
# usage: test_prefixes.sh PREFIX[,PREFIX...]=LIBRARY.a ...
#   Each argument names a library and the prefixes its globals may carry (an
#   underscore follows each). A self-test first builds an archive with one
#   stray global and expects the check to name it, so the check can fail.
set -u
. "$(dirname "$0")/tap.sh"
tmp=$(mktemp -d /tmp/shmlog-test-prefixes-XXXXXX)
trap tap_cleanup EXIT
tap_require binutils nm ar
tap_require gcc cc

# strays PREFIXES LIBRARY: the library's defined globals that carry none of
# the comma-separated prefixes, one a line.
strays() {
    local pattern
    pattern="^($(echo "$1" | sed 's/,/_|/g')_)"
    # AddressSanitizer's one-definition markers (__odr_asan.NAME) are the compiler's, not ours.
    nm -g --defined-only "$2" | awk 'NF == 3 { print $3 }' | grep -Ev "$pattern" | grep -v '^__odr_asan\.' | sort -u
}

# The check names a stray global, and passes a library without one.
printf 'int render_kept(void) { return 0; }\nint stray_global(void) { return 1; }\n' >"$tmp/stray.c"
printf 'int render_kept(void) { return 0; }\nstatic int own(void) { return 1; }\nint render_own(void) { return own(); }\n' >"$tmp/clean.c"
if cc -c -o "$tmp/stray.o" "$tmp/stray.c" && cc -c -o "$tmp/clean.o" "$tmp/clean.c" &&
    ar rcs "$tmp/libstray.a" "$tmp/stray.o" && ar rcs "$tmp/libclean.a" "$tmp/clean.o"; then
    found=$(strays render "$tmp/libstray.a")
    clean=$(strays render "$tmp/libclean.a")
    if [ "$found" = stray_global ] && [ -z "$clean" ]; then
        ok "self-test: a stray global is named, a prefixed library passes"
    else
        not_ok "self-test: a stray global is named, a prefixed library passes (got '$found', '$clean')"
    fi
else
    not_ok "self-test: the test archives build"
fi

[ $# -gt 0 ] || bail "usage: $0 PREFIX[,PREFIX...]=LIBRARY.a ..."
for arg in "$@"; do
    prefixes=${arg%%=*}
    lib=${arg#*=}
    [ -f "$lib" ] || bail "$lib: no such library (build the project first)"
    found=$(strays "$prefixes" "$lib")
    if [ -z "$found" ]; then
        ok "$(basename "$lib"): every global starts with ${prefixes//,/_ or }_"
    else
        not_ok "$(basename "$lib"): globals without ${prefixes//,/_ or }_: $(echo "$found" | tr '\n' ' ')"
    fi
done
tap_done
