#!/usr/bin/env bash
# Builds the Debian packages of this checkout: shmlog (the programs, the systemd unit, tmpfiles.d, sysctl.d,
# /etc/default/shmlog-collector, the manual pages of sections 1 and 8, the docs), libshmlog-read1 (the
# shared object libshmlog-read.so.1 programs load at run time, with its shlibs file and ldconfig trigger)
# and libshmlog-dev (the rest of what `meson install` puts in include/ and lib/<multiarch>/: the headers,
# the unversioned .so link, the pkg-config files; and the manual pages of section 3); and the Python package
# python/ as a wheel (pure Python: pip installs it with no compiler and no network) and as python3-shmlog.
# A release build with prefix /usr and Debian's hardening flags, `meson install --destdir`, one tree per
# package, `dpkg-deb --build`. Needs dpkg-dev and the build dependencies (scripts/setup.sh); offline; no root.
# Packaging files: dist/debian/ (control, maintainer scripts, copyright, changelog).
set -euo pipefail

usage="usage: scripts/package.sh [--out DIR] [--build-dir DIR]"
die() {
    echo "package.sh: $*" >&2
    exit 1
}
usage_error() { # exit status 2, as the programs' wrong flags
    echo "package.sh: $*: $usage" >&2
    exit 2
}

src=$(cd "$(dirname "$0")/.." && pwd)
debian=$src/dist/debian
out=.
build=$src/build-deb
while [ $# -gt 0 ]; do
    case $1 in
        --out | --build-dir)
            if [ $# -lt 2 ] || [ -z "$2" ]; then usage_error "$1 needs a directory"; fi
            if [ "$1" = --out ]; then out=$2; else build=$2; fi
            shift 2
            ;;
        --out=* ) out=${1#*=}; shift ;;
        --build-dir=*) build=${1#*=}; shift ;;
        -h | --help)
            echo "$usage"
            echo "  --out DIR        where the .deb files go (default: the current directory)"
            echo "  --build-dir DIR  the package's own meson build directory (default: build-deb in the checkout)"
            exit 0
            ;;
        *) usage_error "unknown argument '$1'" ;;
    esac
done

for tool in meson:meson ninja:ninja-build dpkg-deb:dpkg dpkg-shlibdeps:dpkg-dev dpkg-parsechangelog:dpkg-dev \
    dpkg-architecture:dpkg-dev dpkg-buildflags:dpkg-dev readelf:binutils strip:binutils python3:python3 \
    /usr/bin/python3:python3; do
    command -v "${tool%%:*}" >/dev/null 2>&1 ||
        die "${tool%%:*} is not installed (Debian package ${tool#*:}): run scripts/setup.sh as root"
done
mkdir -p "$out" || die "cannot create the output directory $out"
out=$(cd "$out" && pwd)
mkdir -p "$build"
build=$(cd "$build" && pwd)

# ---- version, maintainer and date: meson.build and the changelog must agree ----
version=$(meson introspect --projectinfo "$src/meson.build" | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
changelog_version=$(dpkg-parsechangelog -l "$debian/changelog" -S Version)
[ "$changelog_version" = "$version" ] ||
    die "dist/debian/changelog's newest entry is $changelog_version, meson.build's version is $version: add an entry for $version at the top of the changelog"
maintainer=$(dpkg-parsechangelog -l "$debian/changelog" -S Maintainer)
# The changelog's date stamps every file, so the same checkout builds the same packages.
SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l "$debian/changelog" -S Timestamp)
export SOURCE_DATE_EPOCH
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)

# ---- build and install into a staging tree ----
# Debian's hardening (fortify, stack protector, full RELRO, bindnow) on top of the release build's own
# optimisation and without debug info: -O2 and -g would override -O3.
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
export DEB_CFLAGS_MAINT_STRIP="-O2 -g" DEB_CXXFLAGS_MAINT_STRIP="-O2 -g"
cd "$src"
eval "$(dpkg-buildflags --export=sh)"
log=$build/package.log
: >"$log"
run() { # runs a step with its output in the log, shown when it fails
    if ! "$@" >>"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "failed: $* (whole output: $log)"
    fi
}
options=(--prefix=/usr --libdir="lib/$multiarch" --buildtype=release -Dtests=disabled -Dmetrics=enabled -Dkafka=enabled)
if [ -f "$build/build.ninja" ]; then
    run meson setup --reconfigure "$build" "${options[@]}"
else
    run meson setup "$build" "${options[@]}"
fi
echo "package.sh: building shmlog $version in $build"
run ninja -C "$build"
stage=$build/package-stage
trees=$build/package-trees
rm -rf "$stage" "$trees"
run meson install -C "$build" --no-rebuild --strip --destdir "$stage"

# ---- one tree per package ----
rt=$trees/shmlog
lib=$trees/libshmlog-read1
dev=$trees/libshmlog-dev
py=$trees/python3-shmlog
mkdir -p "$trees" "$lib" "$dev/usr/lib" "$dev/usr/share/man"
cp -a "$stage" "$rt"
# The development package takes everything meson puts in include/ and lib/<multiarch>/ (headers,
# pkg-config files, the unversioned .so links to link with) but the shared objects programs load at run
# time (libfoo.so.N and the file it names), which go to the library package.
[ -d "$rt/usr/include" ] && mv "$rt/usr/include" "$dev/usr/"
if [ -d "$rt/usr/lib/$multiarch" ]; then
    mv "$rt/usr/lib/$multiarch" "$dev/usr/lib/"
    (cd "$dev" && find "usr/lib/$multiarch" \( -type f -o -type l \) -name '*.so.*') | while read -r so; do
        mkdir -p "$lib/$(dirname "$so")"
        mv "$dev/$so" "$lib/$so"
    done
fi
# Policy 8.1: the package of a shared object is named after its SONAME (libshmlog-read.so.1:
# libshmlog-read1; libfoo2.so.1 would be libfoo2-1) and holds no other library; its shlibs file says
# which package provides the SONAME, as dh_makeshlibs writes it: "libshmlog-read 1 libshmlog-read1
# (>= VERSION)" (the newest interface comes with the version that builds it).
lib_shlibs=
while read -r so; do
    soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]$/\1/p')
    [ -n "$soname" ] || die "${so#"$lib"} has no SONAME"
    name=${soname%.so.*} major=${soname##*.so.}
    case $name in *[0-9]) want=$name-$major ;; *) want=$name$major ;; esac
    [ "$want" = "${lib##*/}" ] ||
        die "meson installed ${so#"$lib"} (SONAME $soname), whose package is $want, not ${lib##*/}: give it its tree and dist/debian/$want.control"
    lib_shlibs="$lib_shlibs$name $major ${lib##*/} (>= $version)"$'\n'
done < <(find "$lib" -type f -name '*.so.*' | LC_ALL=C sort)
[ -n "$lib_shlibs" ] || die "meson install put no shared object in lib/$multiarch: libshmlog-read1 would be empty"
lib_shlibs=$(printf '%s' "$lib_shlibs" | LC_ALL=C sort -u)
# Section 3 documents the header: it goes with it.
[ -d "$rt/usr/share/man/man3" ] && mv "$rt/usr/share/man/man3" "$dev/usr/share/man/"
rmdir "$dev/usr/share/man" 2>/dev/null || true
# The example meson installs among the docs is the conffile the unit reads.
default_example=$rt/usr/share/doc/shmlog/shmlog-collector.default
[ -f "$default_example" ] || die "meson install did not install shmlog-collector.default into /usr/share/doc/shmlog"
install -D -m 0644 "$default_example" "$rt/etc/default/shmlog-collector"

# ---- the Python package: a wheel, and its files in python3-shmlog ----
# Debian's python3 (not a pyenv's first in PATH) with Debian's setuptools and wheel, offline: the PEP 517
# hook pip calls, on a copy (a build writes build/ and *.egg-info beside the sources).
py_src=$build/package-python
wheels=$build/package-wheel
rm -rf "$py_src" "$wheels"
cp -r "$src/python" "$py_src"
rm -rf "$py_src/build" "$py_src"/*.egg-info
mkdir -p "$wheels"
run env -C "$py_src" /usr/bin/python3 -c 'import sys; from setuptools import build_meta; build_meta.build_wheel(sys.argv[1])' "$wheels"
wheel=$wheels/shmlog-$version-py3-none-any.whl
[ -f "$wheel" ] || die "the Python package built no $(basename "$wheel") (python/'s version differs from meson's?): $(cd "$wheels" && echo *)"
# Debian's modules of every python3 version are in /usr/lib/python3/dist-packages; no RECORD, so pip
# leaves dpkg's files alone (it says "installed by debian"), as in the modules Debian builds.
run /usr/bin/python3 -m zipfile -e "$wheel" "$py/usr/lib/python3/dist-packages"
rm -f "$py/usr/lib/python3/dist-packages/shmlog-$version.dist-info/RECORD"

for tree in "$rt" "$lib" "$dev" "$py"; do
    package=${tree##*/}
    install -D -m 0644 "$debian/copyright" "$tree/usr/share/doc/$package/copyright"
    gzip -9n <"$debian/changelog" >"$tree/usr/share/doc/$package/changelog.gz"
    find "$tree/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9n {} + 2>/dev/null || true
    find "$tree" -type d -exec chmod 0755 {} +
    find "$tree" -type f -perm /0111 -exec chmod 0755 {} +
    find "$tree" -type f ! -perm /0111 -exec chmod 0644 {} +
done
# Shared objects are not programs: 0644, as dh_fixperms leaves them (the linker makes them 0755).
find "$lib" -type f -name '*.so.*' -exec chmod 0644 {} +

# ---- control files ----
is_elf() { [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }
# meson's --strip keeps the compiler's .comment and .note sections, which Debian strips too (as dh_strip).
while read -r file; do
    if is_elf "$file"; then run strip --remove-section=.comment --remove-section=.note "$file"; fi
done < <(find "$rt/usr/bin" -type f)
while read -r file; do # shared objects keep their dynamic symbols
    if is_elf "$file"; then run strip --remove-section=.comment --remove-section=.note --strip-unneeded "$file"; fi
done < <(find "$lib" -type f -name '*.so.*')
# Depends of the shared objects and programs a tree holds, from the libraries they link (dpkg-shlibdeps
# wants a debian/control to read; the package's own libraries are found in their tree, and what provides
# them in their shlibs file, given as debian/shlibs.local).
shlib_depends() {
    local tree=$1 elves=() file shlibs=$build/package-shlibdeps
    while read -r file; do
        if is_elf "$file"; then elves+=("$file"); fi
    done < <(find "$tree" -type f ! -path '*/DEBIAN/*' | LC_ALL=C sort)
    [ ${#elves[@]} -gt 0 ] || return 0
    mkdir -p "$shlibs/debian"
    printf 'Source: shmlog\n\nPackage: %s\nArchitecture: any\n' "${tree##*/}" >"$shlibs/debian/control"
    printf '%s\n' "$lib_shlibs" >"$shlibs/debian/shlibs.local"
    (cd "$shlibs" && dpkg-shlibdeps -O -l"$lib/usr/lib/$multiarch" -e "${elves[@]}" 2>>"$log") |
        sed -n 's/^shlibs:Depends=//p'
}
runtime_depends=$(shlib_depends "$rt")
[ -n "$runtime_depends" ] || die "dpkg-shlibdeps found no library dependencies for the programs (see $log)"
lib_depends=$(shlib_depends "$lib")
[ -n "$lib_depends" ] || die "dpkg-shlibdeps found no library dependencies for ${lib##*/} (see $log)"
# The unversioned .so links to the library package's shared object, of this very build. shmlog.pc's
# Libs (-lnuma -lpthread): a program links libnuma itself.
dev_depends="${lib##*/} (= $version), libnuma-dev"
dev_shlibs=$(shlib_depends "$dev")
[ -n "$dev_shlibs" ] && dev_depends="$dev_shlibs, $dev_depends"

sysctl_file=$(cd "$rt" && find . -path '*/sysctl.d/*shmlog.conf' | sed 's/^\.//')
[ -n "$sysctl_file" ] || die "meson install did not install a sysctl.d snippet"

write_control() { # tree, depends
    local tree=$1 package=${1##*/} size
    mkdir -p "$tree/DEBIAN"
    # As dpkg-gencontrol counts: each file's size in KiB rounded up, one per directory and link.
    size=$(cd "$tree" && find . -path ./DEBIAN -prune -o -printf '%y %s\n' |
        awk '$1 == "f" { kib += int(($2 + 1023) / 1024); next } { kib += 1 } END { print kib }')
    sed -e "s#@VERSION@#$version#" -e "s#@ARCH@#$arch#" -e "s#@MAINTAINER@#$maintainer#" \
        -e "s#@INSTALLED_SIZE@#$size#" -e "s#@DEPENDS@#$2#" "$debian/$package.control" >"$tree/DEBIAN/control"
    for script in postinst prerm postrm; do
        [ -f "$debian/$package.$script" ] || continue
        sed "s|@SYSCTL_FILE@|$sysctl_file|" "$debian/$package.$script" >"$tree/DEBIAN/$script"
        chmod 0755 "$tree/DEBIAN/$script"
    done
    [ -f "$debian/$package.conffiles" ] && cp "$debian/$package.conffiles" "$tree/DEBIAN/conffiles"
    if [ "$tree" = "$lib" ]; then
        # dpkg-shlibdeps of other packages reads it; the trigger has libc-bin run ldconfig once dpkg is
        # done (Policy 8.1.1), the cache then lists the SONAME's link.
        printf '%s\n' "$lib_shlibs" >"$tree/DEBIAN/shlibs"
        echo 'activate-noawait ldconfig' >"$tree/DEBIAN/triggers"
    fi
    (cd "$tree" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
        xargs -0 md5sum) >"$tree/DEBIAN/md5sums"
    chmod 0644 "$tree/DEBIAN/control" "$tree/DEBIAN/md5sums"
    for file in conffiles shlibs triggers; do
        [ -f "$tree/DEBIAN/$file" ] && chmod 0644 "$tree/DEBIAN/$file"
    done
    chmod 0755 "$tree/DEBIAN"
}
write_control "$rt" "$runtime_depends"
write_control "$lib" "$lib_depends"
write_control "$dev" "$dev_depends"
# The module binds the library of this very build (its API version).
write_control "$py" "python3, ${lib##*/} (= $version)"

cp "$wheel" "$out/"
echo "$out/${wheel##*/}"
for tree in "$rt" "$lib" "$dev" "$py"; do
    deb_arch=$arch
    [ "$tree" = "$py" ] && deb_arch=all
    deb=$out/${tree##*/}_${version}_$deb_arch.deb
    run dpkg-deb --root-owner-group -Zxz --build "$tree" "$deb"
    echo "$deb"
done
