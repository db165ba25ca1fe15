#!/usr/bin/env bash
# Description: scripts/package.sh builds shmlog, libshmlog-read1, libshmlog-dev and python3-shmlog from the checkout, lintian-clean, and a pure-Python wheel; dpkg installs them with their dependencies computed; the installed programs, shared library (in ldconfig's cache), headers, pkg-config files, man pages, unit and conffile are in place with their modes; a program built with pkg-config logs records the installed shmlog-dump reads; the collector runs through its unit where systemd is PID 1 (the installed binary directly elsewhere), and the installed shmlog-dump and a program built against the installed libshmlog-read both read back what the sample producer logged, as do Debian's python3 with python3-shmlog and a fresh venv that pip installed the wheel into with --no-index; remove keeps the logs and the conffile, purge leaves nothing of any of the packages (nor the library in ldconfig's cache); the host is left as the test found it, also when a check fails.
# usage: test_package.sh SOURCE_ROOT
set -u
src=$1
tmp=$(mktemp -d /tmp/shmlog-test-package-XXXXXX)
. "$(dirname "$0")/tap.sh"
tap_require dpkg-dev dpkg-deb dpkg-shlibdeps dpkg-buildflags
tap_require pkgconf pkg-config
if [ "$(id -u)" -ne 0 ]; then
    skip "install, run and purge the packages" "dpkg needs root"
    rm -rf "$tmp"
    tap_finish
fi

packages=(python3-shmlog libshmlog-dev libshmlog-read1 shmlog) # in an order dpkg can purge them one by one
installed() { # PACKAGE: dpkg knows it (installed, or its conffiles left after remove)
    local status
    status=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)
    [ -n "$status" ] && [ "$status" != not-installed ]
}
for p in "${packages[@]}"; do
    installed "$p" && bail "package $p is on this host: the test installs and purges its own build (dpkg --purge ${packages[*]} first)"
done
if [ -d /run/systemd/system ]; then
    with_systemd=1
    systemctl cat shmlog-collector.service >/dev/null 2>&1 &&
        bail "systemd already has a shmlog-collector.service (a meson install?): it would hide the package's"
else
    with_systemd=0
fi

# ---- what the test changes, and how it puts it back ----
hugepages_before=$(cat /proc/sys/vm/nr_hugepages)
# Directories the package makes or removes: their mode and owner before the test, or "none".
dir_state() { stat -c '%a %U %G' "$1" 2>/dev/null || echo none; }
host_dirs=(/var/log/shmlog /dev/shm/shmlog /dev/hugepages/shmlog)
# Debian leaves a package's system group on purge; a group the host did not have goes with the test.
group_before=$(getent group shmlog >/dev/null && echo yes || echo no)
declare -A dirs_before
for d in "${host_dirs[@]}"; do
    dirs_before[$d]=$(dir_state "$d")
done
# Purge removes /var/log/shmlog: a host's own files wait beside it until the test ends.
saved_logs=
if [ -e /var/log/shmlog ]; then
    saved_logs=/var/log/shmlog.test-package-$$
    mv /var/log/shmlog "$saved_logs" || bail "cannot move /var/log/shmlog aside"
fi
segs=$(mktemp -d /dev/shm/shmlog-test-package-XXXXXX)
restore_host() {
    [ "$with_systemd" -eq 1 ] && systemctl stop shmlog-collector.service >/dev/null 2>&1
    for p in "${packages[@]}"; do
        installed "$p" && dpkg --purge "$p" >/dev/null 2>&1
    done
    [ "$(cat /proc/sys/vm/nr_hugepages)" = "$hugepages_before" ] ||
        echo "$hugepages_before" >/proc/sys/vm/nr_hugepages 2>/dev/null
    local d
    for d in "${host_dirs[@]}"; do
        [ "$d" = /var/log/shmlog ] && [ -n "$saved_logs" ] && continue
        if [ "${dirs_before[$d]}" = none ]; then
            # Only this test's files can be in a log directory the host did not have; a segment
            # directory may hold another program's segments by now.
            if [ "$d" = /var/log/shmlog ]; then
                rm -rf "$d"
            elif [ -d "$d" ]; then
                rmdir "$d" 2>/dev/null
            fi
        elif [ ! -d "$d" ]; then
            # shellcheck disable=SC2086 # "mode user group"
            set -- ${dirs_before[$d]}
            mkdir -m "$1" "$d" && chown "$2:$3" "$d"
        fi
    done
    if [ -n "$saved_logs" ] && [ -e "$saved_logs" ]; then
        rm -rf /var/log/shmlog
        mv "$saved_logs" /var/log/shmlog
    fi
    rm -rf "$segs"
    [ "$group_before" = no ] && getent group shmlog >/dev/null && groupdel shmlog
}
trap 'restore_host; tap_cleanup' EXIT

# ---- build ----
version=$(meson introspect --projectinfo "$src/meson.build" | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
arch=$(dpkg --print-architecture)
if "$src/scripts/package.sh" --out "$tmp/debs" --build-dir "$tmp/build" >"$tmp/package.log" 2>&1; then
    ok "scripts/package.sh built shmlog $version"
else
    not_ok "scripts/package.sh"
    diag "$tmp/package.log"
    tap_finish
fi
runtime=$tmp/debs/shmlog_${version}_$arch.deb
reader=$tmp/debs/libshmlog-read1_${version}_$arch.deb
dev=$tmp/debs/libshmlog-dev_${version}_$arch.deb
pymod=$tmp/debs/python3-shmlog_${version}_all.deb
wheel=$tmp/debs/shmlog-$version-py3-none-any.whl
for deb in "$runtime" "$reader" "$dev" "$pymod" "$wheel"; do
    if [ -f "$deb" ]; then
        ok "${deb##*/}"
    else
        not_ok "${deb##*/} missing: $(cd "$tmp/debs" && echo *)"
        tap_finish
    fi
done

# ---- the packages' metadata ----
depends=$(dpkg-deb -f "$runtime" Depends)
missing=
for lib in libc6 liburing2 libzstd1 libnuma1 libmicrohttpd12 librdkafka1; do
    case ", $depends" in *", $lib "* | *", $lib," | *", $lib") ;; *) missing="$missing $lib" ;; esac
done
[ -z "$missing" ] && ok "shmlog Depends: $depends" || not_ok "shmlog Depends '$depends' lacks$missing"
lib_depends=$(dpkg-deb -f "$reader" Depends)
missing=
for dep in libc6 libzstd1; do
    case ", $lib_depends" in *", $dep "* | *", $dep," | *", $dep") ;; *) missing="$missing $dep" ;; esac
done
[ -z "$missing" ] && ok "libshmlog-read1 Depends: $lib_depends" || not_ok "libshmlog-read1 Depends '$lib_depends' lacks$missing"
section=$(dpkg-deb -f "$reader" Section)
[ "$section" = libs ] && ok "libshmlog-read1 Section: libs" || not_ok "libshmlog-read1 Section '$section', expected libs"
# Its shared object and nothing else of lib/: the SONAME's link and the file it names.
libs_in=$(dpkg-deb --fsys-tarfile "$reader" | tar -t | sed -n 's|^\./usr/lib/[^/]*/||p' | grep -v '^$' | LC_ALL=C sort | tr '\n' ' ')
[ "$libs_in" = "libshmlog-read.so.1 libshmlog-read.so.1.1.0 " ] && ok "libshmlog-read1 holds $libs_in" ||
    not_ok "libshmlog-read1 holds '$libs_in' in lib/, expected libshmlog-read.so.1 and libshmlog-read.so.1.1.0"
shlibs=$(dpkg-deb --ctrl-tarfile "$reader" | tar -xO ./shlibs 2>/dev/null)
[ "$shlibs" = "libshmlog-read 1 libshmlog-read1 (>= $version)" ] && ok "libshmlog-read1 shlibs: $shlibs" ||
    not_ok "libshmlog-read1 shlibs '$shlibs', expected 'libshmlog-read 1 libshmlog-read1 (>= $version)'"
triggers=$(dpkg-deb --ctrl-tarfile "$reader" | tar -xO ./triggers 2>/dev/null)
[ "$triggers" = "activate-noawait ldconfig" ] && ok "libshmlog-read1 triggers: $triggers" ||
    not_ok "libshmlog-read1 triggers '$triggers', expected 'activate-noawait ldconfig'"
runtime_has=$(dpkg-deb --fsys-tarfile "$runtime" | tar -t | grep -E '\.so(\.|$)')
[ -z "$runtime_has" ] && ok "shmlog holds no shared object (shmlog-dump links the reader's code)" ||
    not_ok "shmlog holds $(echo "$runtime_has" | tr '\n' ' ')"
dev_depends=$(dpkg-deb -f "$dev" Depends)
missing=
for dep in "libshmlog-read1 (= $version)" libnuma-dev; do
    case ", $dev_depends," in *", $dep,"*) ;; *) missing="$missing '$dep'" ;; esac
done
[ -z "$missing" ] && ok "libshmlog-dev Depends: $dev_depends" ||
    not_ok "libshmlog-dev Depends '$dev_depends' lacks$missing (libshmlog-read.so names this build's library; shmlog.pc links -lnuma)"
py_depends=$(dpkg-deb -f "$pymod" Depends)
missing=
for dep in python3 "libshmlog-read1 (= $version)"; do
    case ", $py_depends," in *", $dep,"*) ;; *) missing="$missing '$dep'" ;; esac
done
[ -z "$missing" ] && ok "python3-shmlog Depends: $py_depends" ||
    not_ok "python3-shmlog Depends '$py_depends' lacks$missing (the module binds this build's library)"
py_files=$(dpkg-deb --fsys-tarfile "$pymod" | tar -t | grep -E '\.py$|/METADATA$|/RECORD$' | LC_ALL=C sort | tr '\n' ' ')
want_py="./usr/lib/python3/dist-packages/shmlog-$version.dist-info/METADATA ./usr/lib/python3/dist-packages/shmlog/__init__.py ./usr/lib/python3/dist-packages/shmlog/__main__.py ./usr/lib/python3/dist-packages/shmlog/_arrow.py ./usr/lib/python3/dist-packages/shmlog/_native.py ./usr/lib/python3/dist-packages/shmlog/_pqjoin.py "
[ "$py_files" = "$want_py" ] && ok "python3-shmlog holds the module and its METADATA, no RECORD (pip leaves it to dpkg)" ||
    not_ok "python3-shmlog holds '$py_files', expected '$want_py'"
# Pure Python, for any python3: pip installs it with no compiler.
wheel_tag=$(python3 -c 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]).decode())' \
    "$wheel" "shmlog-$version.dist-info/WHEEL" 2>/dev/null | tr '\n' ' ')
case $wheel_tag in
    *"Root-Is-Purelib: true"*"Tag: py3-none-any"*) ok "the wheel is pure Python, py3-none-any" ;;
    *) not_ok "the wheel's WHEEL says '$wheel_tag'" ;;
esac
conffiles=$(dpkg-deb --ctrl-tarfile "$runtime" | tar -xO ./conffiles 2>/dev/null)
[ "$conffiles" = /etc/default/shmlog-collector ] && ok "conffiles: $conffiles" ||
    not_ok "conffiles '$conffiles', expected /etc/default/shmlog-collector"
if command -v lintian >/dev/null 2>&1; then
    check_show "lintian: no error, no warning" lintian --fail-on error,warning --tag-display-limit 0 "$runtime" "$reader" "$dev" "$pymod"
else
    skip "lintian" "not installed (Debian package lintian)"
fi

# A file of the packages that the host already has would be replaced, then removed by purge.
dpkg-deb --fsys-tarfile "$runtime" | tar -t >"$tmp/paths"
dpkg-deb --fsys-tarfile "$reader" | tar -t >>"$tmp/paths"
dpkg-deb --fsys-tarfile "$dev" | tar -t >>"$tmp/paths"
dpkg-deb --fsys-tarfile "$pymod" | tar -t >>"$tmp/paths"
clash=$(sed 's|^\./|/|' "$tmp/paths" | while read -r path; do
    [ -e "$path" ] && [ ! -d "$path" ] && echo "$path"
done)
[ -z "$clash" ] || bail "files of the packages are already on this host (a meson install?): $(echo "$clash" | tr '\n' ' ')"

# ---- install ----
if dpkg -i "$runtime" "$reader" "$dev" "$pymod" >"$tmp/install.log" 2>&1; then
    ok "dpkg -i shmlog libshmlog-read1 libshmlog-dev python3-shmlog"
    diag "$tmp/install.log"
else
    not_ok "dpkg -i"
    diag "$tmp/install.log"
    tap_finish
fi
dpkg -L "${packages[@]}" | sort -u >"$tmp/installed.list"
check "dpkg --verify: every installed file as packaged" dpkg --verify "${packages[@]}"

mode_is() { # PATH MODE [-L]: mode and owner (-L: of the file a link names)
    local have
    # shellcheck disable=SC2086 # no option, or -L
    have=$(stat ${3:-} -c '%a %U:%G' "$1" 2>/dev/null)
    [ "$have" = "$2 root:root" ] && ok "$1 $2 root:root" || not_ok "$1: '$have', expected '$2 root:root'"
}
for prog in shmlog-collector shmlog-dump shmlog-sample shmlog-ship; do
    mode_is "/usr/bin/$prog" 755
done
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
unit=$(grep -E '/systemd/system/shmlog-collector\.service$' "$tmp/installed.list")
for file in /usr/include/shmlog.h "/usr/lib/$multiarch/pkgconfig/shmlog.pc" /etc/default/shmlog-collector "$unit" \
    /usr/lib/tmpfiles.d/shmlog.conf /usr/lib/sysusers.d/shmlog.conf /usr/lib/sysctl.d/60-shmlog.conf \
    /usr/include/shmlog_read.h "/usr/lib/$multiarch/pkgconfig/shmlog-read.pc" \
    "/usr/lib/$multiarch/libshmlog-read.so.1.1.0" /usr/share/doc/shmlog/copyright \
    /usr/share/doc/libshmlog-read1/copyright /usr/share/doc/libshmlog-read1/changelog.gz \
    /usr/share/doc/libshmlog-dev/copyright /usr/lib/python3/dist-packages/shmlog/__init__.py \
    /usr/share/doc/python3-shmlog/copyright; do
    mode_is "$file" 644
done
# The SONAME's link (libshmlog-read1) names the shared object, the link to build with (libshmlog-dev)
# the SONAME's link; what they name has mode 644 (a shared object is not a program).
for link in libshmlog-read.so.1:libshmlog-read.so.1.1.0:libshmlog-read1 libshmlog-read.so:libshmlog-read.so.1:libshmlog-dev; do
    IFS=: read -r name want package <<<"$link"
    path=/usr/lib/$multiarch/$name
    target=$(readlink "$path")
    owner=$(dpkg -S "$path" 2>/dev/null | cut -d: -f1)
    if [ -L "$path" ] && [ "$target" = "$want" ] && [ "$owner" = "$package" ]; then
        ok "$path -> $target, of $package"
    else
        not_ok "$path: a link to '$target' of '$owner', expected a link to $want of $package"
    fi
done
mode_is "/usr/lib/$multiarch/libshmlog-read.so.1" 644 -L
# The package's ldconfig trigger ran at the end of dpkg -i (the cache names the directory ld.so.conf
# lists first: /lib/<multiarch> where /lib is a link to usr/lib).
cached=$(ldconfig -p | grep -F 'libshmlog-read.so.1 ' | sed 's/^[[:space:]]*//')
case $cached in
    *" => /lib/$multiarch/libshmlog-read.so.1" | *" => /usr/lib/$multiarch/libshmlog-read.so.1")
        ok "ldconfig -p: $cached" ;;
    *) not_ok "ldconfig -p lists '$cached' for libshmlog-read.so.1" ;;
esac
for prog in shmlog-collector shmlog-dump shmlog-ship; do
    out=$("/usr/bin/$prog" --version 2>&1)
    case $out in *"$version"*) ok "$prog --version: $out" ;; *) not_ok "$prog --version: '$out', expected $version" ;; esac
done
check "shmlog-sample --help" /usr/bin/shmlog-sample --help
for page in 8:shmlog-collector 8:shmlog-ship 1:shmlog-dump 1:shmlog-sample 3:shmlog 3:shmlog_read; do
    path=$(man -w "${page%%:*}" "${page#*:}" 2>/dev/null)
    case $path in
        "/usr/share/man/man${page%%:*}/${page#*:}.${page%%:*}.gz") ok "man ${page%%:*} ${page#*:}: $path" ;;
        *) not_ok "man ${page%%:*} ${page#*:} finds '$path'" ;;
    esac
done
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ "${exec_start%% *}" = /usr/bin/shmlog-collector ] && ok "the unit runs /usr/bin/shmlog-collector" ||
    not_ok "ExecStart=$exec_start"
if command -v systemd-analyze >/dev/null 2>&1; then
    # The installed unit as it is: its programs and man pages are where it names them.
    if systemd-analyze verify "$unit" >"$tmp/verify.log" 2>&1 && ! grep -q shmlog "$tmp/verify.log"; then
        ok "systemd-analyze verify $unit"
    else
        not_ok "systemd-analyze verify $unit"
        diag "$tmp/verify.log"
    fi
fi

# ---- what postinst did ----
# sysusers.d's group, then tmpfiles.d's directories (the logs readable by the group)
getent group shmlog >/dev/null && ok "postinst (sysusers.d): the group shmlog" || not_ok "postinst made no group shmlog"
for want in "/dev/shm/shmlog 1777 root root" "/var/log/shmlog 2750 root shmlog"; do
    d=${want%% *}
    [ "$(dir_state "$d")" = "${want#* }" ] && ok "postinst (tmpfiles.d): $d ${want#* }" ||
        not_ok "postinst: $d is '$(dir_state "$d")', expected '${want#* }'"
done
hugepages_now=$(cat /proc/sys/vm/nr_hugepages)
want_pages=$(sed -n 's/^vm\.nr_hugepages *= *\([0-9]*\)$/\1/p' /usr/lib/sysctl.d/60-shmlog.conf)
if [ "$hugepages_before" -ge "$want_pages" ]; then
    [ "$hugepages_now" = "$hugepages_before" ] && ok "postinst left vm.nr_hugepages at $hugepages_now (>= $want_pages)" ||
        not_ok "postinst changed vm.nr_hugepages from $hugepages_before to $hugepages_now"
elif [ "$hugepages_now" -gt "$hugepages_before" ] || grep -q 'could not be set now' "$tmp/install.log"; then
    ok "postinst raised vm.nr_hugepages from $hugepages_before to $hugepages_now (or said why not)"
else
    not_ok "postinst left vm.nr_hugepages at $hugepages_now, below $want_pages, without a word"
fi
if [ "$with_systemd" -eq 1 ]; then
    state="$(systemctl is-enabled shmlog-collector.service 2>&1) $(systemctl is-active shmlog-collector.service 2>&1)"
    [ "$state" = "disabled inactive" ] && ok "installed disabled and stopped" || not_ok "after install: $state"
fi

# ---- a program built against the installed header ----
mkdir -p "$tmp/c"
cat >"$tmp/c/impl.c" <<'EOF'
#define _GNU_SOURCE
#define SHMLOG_IMPLEMENTATION
#include <shmlog.h>
EOF
cat >"$tmp/c/main.c" <<'EOF'
#include <shmlog.h>

int main(void)
{
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "package-c";
    cfg.quiet = 1;
    if (shmlog_init(&cfg) != 0 || shmlog_thread_init() != 0)
        return 1;
    unsigned long id = 42;
    SHMLOG_INFO("packaged header works id=%lu", id);
    shmlog_shutdown();
    return 0;
}
EOF
if cflags=$(pkg-config --cflags shmlog) && libs=$(pkg-config --libs shmlog); then
    ok "pkg-config --cflags --libs shmlog: '$cflags' '$libs'"
else
    not_ok "pkg-config shmlog"
fi
# shellcheck disable=SC2086 # pkg-config's flags are word lists
if cc -std=c11 -Wall -Wextra -Werror $cflags "$tmp/c/impl.c" "$tmp/c/main.c" -o "$tmp/c/prog" $libs >"$tmp/c/build.log" 2>&1 &&
    SHMLOG_DIR="$segs/c" "$tmp/c/prog" && /usr/bin/shmlog-dump ring --dir "$segs/c" >"$tmp/c/ring.txt" 2>&1 &&
    grep -q 'packaged header works id=42' "$tmp/c/ring.txt"; then
    ok "a C program built with pkg-config logs a record the installed shmlog-dump reads"
else
    not_ok "a C program against the installed header"
    diag "$tmp/c/build.log" "$tmp/c/ring.txt" 2>/dev/null
fi

# ---- the collector, as installed ----
count=2000
app=package-$$
expect=$((count + 1)) # shmlog-sample's "starting" record and its calls
if [ "$with_systemd" -eq 1 ]; then
    logs=/var/log/shmlog
    check "systemctl start shmlog-collector" systemctl start shmlog-collector.service
    wait_for 30 systemctl is-active --quiet shmlog-collector.service
    check "the sample producer logs through the unit's collector" /usr/bin/shmlog-sample --app "$app" --count "$count"
    check "systemctl stop shmlog-collector (drains every ring)" systemctl stop shmlog-collector.service
else
    logs=$tmp/out
    skip "the collector through its unit" "systemd is not PID 1: the installed binary runs directly"
    mkdir -p "$segs/live"
    COLLECTOR=/usr/bin/shmlog-collector collector_start "$tmp/collector.log" --dir "$segs/live" --out "$logs"
    check "the sample producer logs" /usr/bin/shmlog-sample --app "$app" --count "$count" --dir "$segs/live"
    collector_stop
    rc=$?
    [ "$rc" -eq 0 ] && ok "the installed collector drains and exits 0 on SIGTERM" ||
        { not_ok "the collector exited $rc"; diag "$tmp/collector.log"; }
fi
# Exit markers pass the --app filter too: the records are the lines with a message.
records=$(/usr/bin/shmlog-dump read "$logs" --app "$app" --format json 2>"$tmp/read.err" | python3 -c '
import json, sys
print(sum(1 for line in sys.stdin if line.strip() and "msg" in json.loads(line) and json.loads(line).get("app") == sys.argv[1]))' "$app")
[ "$records" -eq "$expect" ] && ok "the installed shmlog-dump reads back all $expect records" ||
    { not_ok "shmlog-dump read found $records records of $app, expected $expect"; diag "$tmp/read.err"; }
check "shmlog-dump verify on the collector's files" /usr/bin/shmlog-dump verify "$logs"

# ---- a program built against the installed libshmlog-read ----
cat >"$tmp/c/read.c" <<'EOF'
#include <shmlog_read.h>
#include <stdio.h>
#include <string.h>

/* read DIR APP: the number of APP's records in the collector's files of DIR */
int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const char *paths[] = {argv[1]};
    struct shmlog_read_options o = SHMLOG_READ_OPTIONS_INIT;
    char err[256];
    struct shmlog_read *r;
    if (shmlog_read_open(&r, paths, 1, &o, err, sizeof err) != 0) {
        fprintf(stderr, "shmlog_read_open: %s\n", err);
        return 1;
    }
    const struct shmlog_read_event *ev;
    unsigned long records = 0;
    int rc;
    while ((rc = shmlog_read_next(r, &ev)) > 0) {
        if (ev->kind == SHMLOG_READ_RECORD && strcmp(ev->app, argv[2]) == 0)
            records++;
        else if (ev->kind == SHMLOG_READ_ERROR)
            fprintf(stderr, "%s\n", ev->error);
    }
    int damaged = shmlog_read_had_errors(r);
    shmlog_read_close(r);
    if (rc < 0 || damaged)
        return 1;
    printf("%lu\n", records);
    return 0;
}
EOF
if read_cflags=$(pkg-config --cflags shmlog-read) && read_libs=$(pkg-config --libs shmlog-read); then
    ok "pkg-config --cflags --libs shmlog-read: '$read_cflags' '$read_libs'"
else
    not_ok "pkg-config shmlog-read"
fi
# shellcheck disable=SC2086 # pkg-config's flags are word lists
if cc -std=c11 -Wall -Wextra -Werror $read_cflags "$tmp/c/read.c" -o "$tmp/c/read" $read_libs >"$tmp/c/read-build.log" 2>&1 &&
    readelf -d "$tmp/c/read" | grep -q 'NEEDED.*\[libshmlog-read\.so\.1\]'; then
    ok "a C program built with pkg-config shmlog-read loads libshmlog-read.so.1"
else
    not_ok "a C program against the installed shmlog_read.h"
    diag "$tmp/c/read-build.log"
fi
read_records=$("$tmp/c/read" "$logs" "$app" 2>"$tmp/c/read.err")
[ "$read_records" = "$expect" ] && ok "the program reads back all $expect records through the installed library" ||
    { not_ok "the program read '$read_records' records of $app, expected $expect"; diag "$tmp/c/read.err"; }

# ---- Python: the Debian package's module, and the wheel in a fresh venv, on the installed library ----
# PYTHON: where the module comes from, and APP's records in DIR, as shmlog.read() gives them.
py_count='import shmlog, sys
print(shmlog.__file__, sum(1 for e in shmlog.read(sys.argv[1], app=sys.argv[2])))'
got=$(cd / && env -u SHMLOG_READ_LIBRARY -u PYTHONPATH /usr/bin/python3 -c "$py_count" "$logs" "$app" 2>"$tmp/py.err")
[ "$got" = "/usr/lib/python3/dist-packages/shmlog/__init__.py $expect" ] &&
    ok "python3-shmlog: Debian's python3 reads back all $expect records" ||
    { not_ok "python3-shmlog: '$got', expected the module of /usr/lib/python3/dist-packages and $expect records"; diag "$tmp/py.err"; }
if /usr/bin/python3 -m venv "$tmp/wheel-venv" >"$tmp/wheel.log" 2>&1 &&
    "$tmp/wheel-venv/bin/pip" install --no-index --disable-pip-version-check "$wheel" >>"$tmp/wheel.log" 2>&1; then
    ok "pip install --no-index ${wheel##*/} into a fresh venv"
else
    not_ok "pip install --no-index ${wheel##*/}"
    diag "$tmp/wheel.log"
fi
got=$(cd / && env -u SHMLOG_READ_LIBRARY -u PYTHONPATH "$tmp/wheel-venv/bin/python" -c "$py_count" "$logs" "$app" 2>"$tmp/py.err")
[ "$got" = "$tmp/wheel-venv/lib/python3.$(/usr/bin/python3 -c 'import sys; print(sys.version_info[1])')/site-packages/shmlog/__init__.py $expect" ] &&
    ok "the wheel's module reads back all $expect records" ||
    { not_ok "the wheel's module: '$got', expected the venv's module and $expect records"; diag "$tmp/py.err"; }

# ---- remove keeps the logs and the conffile; purge removes everything ----
echo kept >/var/log/shmlog/test-package-marker
if dpkg --remove "${packages[@]}" >"$tmp/remove.log" 2>&1; then
    ok "dpkg --remove"
else
    not_ok "dpkg --remove"
    diag "$tmp/remove.log"
fi
[ -f /var/log/shmlog/test-package-marker ] && ok "remove keeps /var/log/shmlog" || not_ok "remove deleted /var/log/shmlog"
[ -f /etc/default/shmlog-collector ] && ok "remove keeps the conffile /etc/default/shmlog-collector" ||
    not_ok "remove deleted the conffile"
[ ! -e /usr/bin/shmlog-collector ] && ok "remove takes the programs" || not_ok "remove left /usr/bin/shmlog-collector"
if dpkg --purge "${packages[@]}" >"$tmp/purge.log" 2>&1; then
    ok "dpkg --purge"
else
    not_ok "dpkg --purge"
    diag "$tmp/purge.log"
fi
for p in "${packages[@]}"; do
    installed "$p" && not_ok "dpkg still knows $p after purge" || ok "$p purged"
done
left=$(while read -r path; do
    [ -e "$path" ] && [ ! -d "$path" ] && echo "$path"
done <"$tmp/installed.list")
[ -z "$left" ] && ok "every file dpkg -L listed is gone ($(wc -l <"$tmp/installed.list") paths)" ||
    not_ok "left after purge: $(echo "$left" | tr '\n' ' ')"
left=
for path in /etc/default/shmlog-collector /var/log/shmlog /usr/share/doc/shmlog /usr/share/doc/libshmlog-dev \
    /usr/share/doc/libshmlog-read1 /usr/share/shmlog /usr/share/doc/python3-shmlog \
    /usr/lib/python3/dist-packages/shmlog "/usr/lib/python3/dist-packages/shmlog-$version.dist-info" \
    /var/lib/systemd/deb-systemd-helper-enabled/shmlog-collector.service.dsh-also \
    "/usr/lib/$multiarch"/libshmlog-read.so*; do
    { [ -e "$path" ] || [ -L "$path" ]; } && left="$left $path"
done
[ -z "$left" ] && ok "purge removes the conffile, the logs, the docs, the shared library, the Python module with its bytecode and the unit's state" ||
    not_ok "left after purge:$left"
# The trigger ran again: the loader's cache forgot the library.
cached=$(ldconfig -p | grep -F libshmlog-read)
[ -z "$cached" ] && ok "ldconfig -p no longer lists libshmlog-read" || not_ok "ldconfig -p after purge: $cached"

# ---- the host as the test found it ----
restore_host
[ "$(cat /proc/sys/vm/nr_hugepages)" = "$hugepages_before" ] && ok "vm.nr_hugepages back at $hugepages_before" ||
    not_ok "vm.nr_hugepages is $(cat /proc/sys/vm/nr_hugepages), was $hugepages_before"
changed=
for d in "${host_dirs[@]}"; do
    [ "$(dir_state "$d")" = "${dirs_before[$d]}" ] || changed="$changed $d: ${dirs_before[$d]} -> $(dir_state "$d");"
done
[ -z "$changed" ] && ok "segment and log directories as before" || not_ok "changed:$changed"

tap_finish
