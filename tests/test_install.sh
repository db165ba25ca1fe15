#!/usr/bin/env bash
# Description: `meson install --destdir` puts the header, pkg-config file, programs, systemd unit, sysctl.d/tmpfiles.d/sysusers.d snippets, man pages and dashboard in place; a C and a C++ program built with only `pkg-config --cflags --libs shmlog` against that tree log records that the installed shmlog-dump decodes.
# usage: test_install.sh BUILD_DIR
set -u
build=$1
tmp=$(mktemp -d /tmp/shmlog-test-install-XXXXXX)
segs=$(mktemp -d /dev/shm/shmlog-test-install-XXXXXX)
trap 'rm -rf "$tmp" "$segs"' EXIT
root=$tmp/root
. "$(dirname "$0")/tap.sh"

if meson install -C "$build" --no-rebuild --destdir "$root" >"$tmp/install.log" 2>&1; then
    ok "meson install --destdir"
else
    sed 's/^/#   /' "$tmp/install.log"
    not_ok "meson install --destdir"
    tap_finish
fi

# Where this build installs: prefix and the directories under it.
meson introspect "$build" --buildoptions --projectinfo >"$tmp/introspect.json" 2>"$tmp/introspect.log" ||
    { sed 's/^/#   /' "$tmp/introspect.log"; not_ok "meson introspect"; tap_finish; }
eval "$(python3 - "$tmp/introspect.json" <<'PY'
import json, os, sys
text = open(sys.argv[1]).read()
# --buildoptions then --projectinfo: one JSON object holding both.
data = json.loads(text)
opts = {o['name']: o['value'] for o in data['buildoptions']}
prefix = opts['prefix']
def under(d):
    return d if os.path.isabs(d) else os.path.join(prefix, d)
print("prefix='%s'" % prefix)
for name in ('bindir', 'includedir', 'libdir', 'mandir', 'datadir'):
    print("%s='%s'" % (name, under(opts[name])))
print("version='%s'" % data['projectinfo']['version'])
PY
)" || { not_ok "reading the install directories"; tap_finish; }
echo "# prefix $prefix, version $version"

# ---- the installed tree ----
check_file() { # what, path (relative to DESTDIR), test flag
    if [ "$3" "$root$2" ]; then
        ok "$1: $2"
    else
        not_ok "$1: $2 missing"
    fi
}
check_found() { # what, find arguments...
    what=$1
    shift
    hit=$(find "$root" "$@" | head -n 1)
    if [ -n "$hit" ]; then
        ok "$what: ${hit#"$root"}"
    else
        not_ok "$what: nothing installed matching $*"
    fi
}
check_file header "$includedir/shmlog.h" -f
check_file pkg-config "$libdir/pkgconfig/shmlog.pc" -f
check_file collector "$bindir/shmlog-collector" -x
check_file dump "$bindir/shmlog-dump" -x
check_file "man page" "$mandir/man3/shmlog.3" -f
check_file "man page" "$mandir/man8/shmlog-collector.8" -f
check_file "man page" "$mandir/man1/shmlog-dump.1" -f
check_file "man page" "$mandir/man1/shmlog-sample.1" -f
check_found "systemd unit" -path '*/lib/systemd/system/shmlog-collector.service'
check_found "sysctl.d" -path '*/lib/sysctl.d/*shmlog.conf'
check_found "tmpfiles.d" -path '*/lib/tmpfiles.d/shmlog.conf'
check_found "sysusers.d" -path '*/lib/sysusers.d/shmlog.conf'
check_found "Grafana dashboard" -path "*$datadir/*" -name 'grafana-shmlog.json'
check_found "the file format's specification" -path "*$datadir/doc/shmlog/FORMAT.md"
# The installed header is the generated one, not a part of it.
if grep -q 'SHMLOG_IMPLEMENTATION' "$root$includedir/shmlog.h" 2>/dev/null &&
    ! grep -q '^//@include' "$root$includedir/shmlog.h"; then
    ok "shmlog.h is the amalgamated header"
else
    not_ok "shmlog.h is not the amalgamated header"
fi

for prog in shmlog-collector shmlog-dump; do
    if out=$("$root$bindir/$prog" --version 2>&1) && echo "$out" | grep -q -F "$version"; then
        ok "$prog --version: $out"
    else
        not_ok "$prog --version printed '$out', expected version $version"
    fi
done

# ---- pkg-config against DESTDIR ----
# The .pc file names the final prefix; the sysroot makes its paths resolve
# inside DESTDIR, as a cross or staged build would see them.
pc() {
    PKG_CONFIG_PATH="$root$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_LIBDIR="$root$libdir/pkgconfig" \
        pkg-config "$@"
}
if modversion=$(pc --modversion shmlog 2>&1) && [ "$modversion" = "$version" ]; then
    ok "pkg-config --modversion shmlog: $modversion"
else
    not_ok "pkg-config --modversion shmlog: '$modversion', expected $version"
fi
cflags=$(pc --cflags shmlog) || not_ok "pkg-config --cflags shmlog"
libs=$(pc --libs shmlog) || not_ok "pkg-config --libs shmlog"
echo "# cflags: $cflags"
echo "# libs: $libs"
incdir=$(echo "$cflags" | tr ' ' '\n' | sed -n 's/^-I//p' | head -n 1)
if [ -f "$incdir/shmlog.h" ] && [ "$incdir" = "$root$includedir" ]; then
    ok "Cflags -I names the installed include directory"
else
    not_ok "Cflags '$cflags' do not name $root$includedir"
fi
case " $libs " in
    *" -lnuma "*) case " $libs " in *" -lpthread "* | *" -pthread "*) ok "Libs: $libs" ;; *) not_ok "Libs '$libs' lack pthread" ;; esac ;;
    *) not_ok "Libs '$libs' lack -lnuma" ;;
esac

# ---- consumer programs built from the installed tree only ----
# The implementation goes into one file, compiled with _GNU_SOURCE; the rest of
# the program includes the header alone.
mkdir -p "$tmp/c" "$tmp/cxx"
cat >"$tmp/c/impl.c" <<'EOF'
#define _GNU_SOURCE
#define SHMLOG_IMPLEMENTATION
#include <shmlog.h>
EOF
cat >"$tmp/c/main.c" <<'EOF'
#include <shmlog.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "install-c";
    cfg.quiet = 1; /* the test directory is not on hugetlbfs */
    int err = shmlog_init(&cfg);
    printf("shmlog_init=%d\n", err);
    if (err != 0) {
        fprintf(stderr, "shmlog_init: %s\n", strerror(-err));
        return 1;
    }
    if (shmlog_thread_init() != 0)
        return 1;
    unsigned long id = 42;
    SHMLOG_INFO("installed header works id=%lu lang=%s", id, "c11");
    SHMLOG_ORDER(WARN, "order reject id=%lu px=%f", id, 101.25);
    shmlog_shutdown();
    return 0;
}
EOF
cat >"$tmp/cxx/main.cpp" <<'EOF'
#define SHMLOG_IMPLEMENTATION
#include <shmlog.h>
#include <cstdio>
#include <cstring>

int main()
{
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "install-cxx";
    cfg.quiet = 1;
    int err = shmlog_init(&cfg);
    std::printf("shmlog_init=%d\n", err);
    if (err != 0) {
        std::fprintf(stderr, "shmlog_init: %s\n", std::strerror(-err));
        return 1;
    }
    if (shmlog_thread_init() != 0)
        return 1;
    unsigned long id = 42;
    SHMLOG_INFO("installed header works id=%lu lang=%s", id, "c++17");
    SHMLOG_ORDER(WARN, "order reject id=%lu px=%f", id, 101.25);
    shmlog_shutdown();
    return 0;
}
EOF
cc=${CC:-cc}
cxx=${CXX:-c++}
warn="-Wall -Wextra -Werror"
# shellcheck disable=SC2086 # flags from pkg-config are word lists
if "$cc" -std=c11 $warn $cflags -c "$tmp/c/impl.c" -o "$tmp/c/impl.o" >"$tmp/c/build.log" 2>&1 &&
    "$cc" -std=c11 $warn $cflags -c "$tmp/c/main.c" -o "$tmp/c/main.o" >>"$tmp/c/build.log" 2>&1 &&
    "$cc" "$tmp/c/impl.o" "$tmp/c/main.o" -o "$tmp/c/prog" $libs >>"$tmp/c/build.log" 2>&1; then
    ok "C11 program built with pkg-config --cflags --libs shmlog"
else
    not_ok "C11 program build"
    sed 's/^/#   /' "$tmp/c/build.log"
fi
# shellcheck disable=SC2086
if "$cxx" -std=c++17 $warn $cflags "$tmp/cxx/main.cpp" -o "$tmp/cxx/prog" $libs >"$tmp/cxx/build.log" 2>&1; then
    ok "C++17 program built with pkg-config --cflags --libs shmlog"
else
    not_ok "C++17 program build"
    sed 's/^/#   /' "$tmp/cxx/build.log"
fi

# Each logs into its own SHMLOG_DIR; the installed shmlog-dump reads the rings.
for lang in c cxx; do
    [ -x "$tmp/$lang/prog" ] || continue
    dir="$segs/$lang"
    if SHMLOG_DIR="$dir" "$tmp/$lang/prog" >"$tmp/$lang/run.out" 2>"$tmp/$lang/run.err" &&
        grep -q '^shmlog_init=0$' "$tmp/$lang/run.out"; then
        ok "$lang program: shmlog_init returned 0 with SHMLOG_DIR=$dir"
    else
        not_ok "$lang program: $(cat "$tmp/$lang/run.out")"
        sed 's/^/#   /' "$tmp/$lang/run.err"
        continue
    fi
    app=install-$lang
    metas=$(find "$dir" -name "$app-*.meta" | wc -l)
    rings=$(find "$dir" -name "$app-*-cpu*.ring" | wc -l)
    if [ "$metas" -eq 1 ] && [ "$rings" -ge 1 ]; then
        ok "$lang program: 1 meta and $rings ring segment(s) in SHMLOG_DIR"
    else
        not_ok "$lang program: $metas meta and $rings ring segments in $dir"
    fi
    if "$root$bindir/shmlog-dump" ring --dir "$dir" --format json >"$tmp/$lang/dump.json" 2>"$tmp/$lang/dump.err"; then
        lang_name=$([ "$lang" = c ] && echo c11 || echo c++17)
        if python3 - "$tmp/$lang/dump.json" "$app" "$lang_name" <<'PY'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
app, lang = sys.argv[2], sys.argv[3]
want = [("INFO", "none", "installed header works id=42 lang=" + lang, {"id": 42, "lang": lang}),
        ("WARN", "order", "order reject id=42 px=101.250000", {"id": 42, "px": 101.25})]
got = [(r.get("level"), r.get("category"), r.get("msg"), r.get("fields")) for r in records if r.get("app") == app]
if got != want:
    print("#   got %r" % got)
    sys.exit(1)
PY
        then
            ok "$lang program: the installed shmlog-dump decodes both records"
        else
            not_ok "$lang program: shmlog-dump ring output differs"
            sed 's/^/#   /' "$tmp/$lang/dump.json"
        fi
    else
        not_ok "$lang program: shmlog-dump ring failed"
        sed 's/^/#   /' "$tmp/$lang/dump.err"
    fi
done

tap_finish
