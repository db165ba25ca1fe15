#!/usr/bin/env bash
# Description: on a host where Criterion and libmicrohttpd are not installed (hidden in a private mount namespace: their headers and pkg-config files gone; ncursesw's pkg-config file too), `meson setup` with the default options configures without tests and metrics, ninja builds the collector, shmlog-dump and the header, and the built collector and dump run; and `shmlog-dump view` says it was built without ncursesw; asking for a missing feature (-Dtests=enabled, -Dmetrics=enabled, -Dview=enabled) fails the setup with the dependency's name.
# usage: test_runtime_deps.sh SOURCE_ROOT        (as root: it needs a mount namespace)
set -u
src=$1
tmp=$(mktemp -d /tmp/shmlog-test-deps-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
[ "$(id -u)" -eq 0 ] || bail "needs root (unshare --mount)"
tap_require util-linux unshare
tap_require meson meson

pcdir=$(pkg-config --variable=pcfiledir criterion 2>/dev/null) ||
    bail "Criterion is not installed here, nothing to hide (run scripts/setup.sh)"
mhd_header=$(echo '#include <microhttpd.h>' | cpp -H -o /dev/null 2>&1 | sed -n 's/^\. //p' | head -1)
[ -n "$mhd_header" ] || bail "microhttpd.h not found, nothing to hide (run scripts/setup.sh)"
crit_include=$(pkg-config --variable=includedir criterion)/criterion

# Inside the namespace: the pkg-config directory without the two .pc files,
# an empty directory over Criterion's headers, an empty file over microhttpd.h.
cat >"$tmp/inside.sh" <<EOF
set -eu
mkdir -p "$tmp/pc" "$tmp/empty"
cp -a "$pcdir"/. "$tmp/pc/"
rm -f "$tmp/pc/criterion.pc" "$tmp/pc/libmicrohttpd.pc" "$tmp/pc/ncursesw.pc"
mount --bind "$tmp/pc" "$pcdir"
mount --bind "$tmp/empty" "$crit_include"
: >"$tmp/empty.h"
mount --bind "$tmp/empty.h" "$mhd_header"
"\$@"
EOF
hidden() { unshare --mount --propagation private bash "$tmp/inside.sh" "$@"; }

check "in the namespace, pkg-config finds neither Criterion nor libmicrohttpd nor ncursesw" \
    hidden bash -c '! pkg-config --exists criterion && ! pkg-config --exists libmicrohttpd && ! pkg-config --exists ncursesw'
check "and the machine outside still has both" pkg-config --exists criterion libmicrohttpd

if hidden meson setup "$tmp/build" "$src" >"$tmp/setup.log" 2>&1; then
    ok "meson setup with default options, without Criterion and libmicrohttpd"
    if grep -qE 'tests *: *NO' "$tmp/setup.log" && grep -qE 'metrics over HTTP.*: *NO' "$tmp/setup.log"; then
        ok "the summary says tests and metrics over HTTP are off"
    else
        not_ok "the summary says tests and metrics over HTTP are off"
        diag "$tmp/setup.log"
    fi
    if hidden ninja -C "$tmp/build" >"$tmp/ninja.log" 2>&1; then
        ok "ninja builds the runtime"
        check "shmlog-collector runs (--version)" "$tmp/build/collector/shmlog-collector" --version
        check "shmlog-dump runs (--help)" "$tmp/build/dump/shmlog-dump" --help
        "$tmp/build/dump/shmlog-dump" view "$tmp" >/dev/null 2>"$tmp/view.err"
        view_status=$?
        check_show "without ncursesw, shmlog-dump view says so in one line and exits 2" \
            bash -c "[ $view_status -eq 2 ] && grep -q 'built without ncursesw' '$tmp/view.err' && [ \$(wc -l <'$tmp/view.err') -eq 1 ]"
        check "the header is generated" test -s "$tmp/build/producer/shmlog.h"
        check "no test program was built" bash -c "! ls '$tmp'/build/tests/test_* >/dev/null 2>&1"
    else
        not_ok "ninja builds the runtime"
        tail -40 "$tmp/ninja.log" | diag /dev/stdin
    fi
else
    not_ok "meson setup with default options, without Criterion and libmicrohttpd"
    tail -40 "$tmp/setup.log" | diag /dev/stdin
fi

for feature in tests:criterion metrics:libmicrohttpd view:ncursesw; do
    opt=${feature%%:*} dep=${feature#*:}
    if hidden meson setup "$tmp/build-$opt" "$src" -D"$opt"=enabled >"$tmp/setup-$opt.log" 2>&1; then
        not_ok "-D$opt=enabled without $dep fails the setup"
    elif grep -q "Dependency \"$dep\" not found" "$tmp/setup-$opt.log"; then
        ok "-D$opt=enabled without $dep fails the setup, naming $dep"
    else
        not_ok "-D$opt=enabled without $dep fails the setup, naming $dep"
        tail -20 "$tmp/setup-$opt.log" | diag /dev/stdin
    fi
done
tap_finish
