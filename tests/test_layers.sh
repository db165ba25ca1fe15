#!/bin/bash
# Description: every #include "..." (and every //@include of the header template) in the rooms shm/, producer/, format/, render/, read/, dump/, collector/, ship/ and examples/ points along an allowed arrow between them; a wrong-way include fails this test with its file, line and the rule it breaks; the arrows ARCHITECTURE.md draws are the arrows the includes and the reader library's objects have; and no file of a module (shm, the format library, the renderer, the reader library, shmlog-dump, the collector) is in a circle of calls with others, read from the built objects' symbols.
#
# The rooms, from the ground up (an arrow A -> B: A may include B):
#
#   shm        -> shm                      the segment ABI (shmlog_abi.h, shmlog_atomic.h,
#                                          shmlog_os.h), reader, host clock, names; no producer
#   producer   -> producer, shm            shmlog.h (generated from the producer's parts and
#                                          the shm ABI it writes), the producer implementation
#   format     -> format, shm              the file-format library (include/shlog_file.h public;
#                                          its encoder, decoder and their shared coding private):
#                                          the collector and the readers both link it
#   render     -> render, shm, format/include/shlog_file.h
#                                          the text and JSON renderer (include/render.h public)
#   read       -> read, shm, format/include/shlog_file.h, render/include/
#                                          libshmlog-read and its engine (include/shmlog_read.h
#                                          installed; the engine's headers beside the sources)
#   dump       -> dump, read, shm, format/include/shlog_file.h, render/include/
#                                          shmlog-dump, the engine's consumer: its headers too
#   collector  -> collector, shm, format/include/shlog_file.h
#                                          the daemon
#   ship       -> ship, shm, format/include/shlog_file.h
#                                          shmlog-ship, the files to Kafka
#   examples   -> producer/shmlog.h        applications of the public header, nothing else
#   tests, bench -> anything               (not checked)
#
# The build enforces the coarse part too: each room's meson targets get only
# the include directories they may use (implicit_include_directories: false),
# so a wrong-way include of another room's header fails to compile. This
# test adds what include directories cannot say (which header of an allowed
# room: the format library's and the renderer's include/ alone; relative
# paths) and names the line.
#
# One prefix per layer: shmlog_ and SHMLOG_ name what the installed header
# shmlog.h declares (shmlog__ its internals) and nothing else; the segment
# reader, clock map and names of shm/ use shm_ and SHM_, the file-format
# library shlog_ and SHLOG_, the renderer render_ and RENDER_; a program's
# private headers (collector.h, dump.h, render_private.h) use no prefix. The
# second check: no header of the rooms but the installed ones uses a
# shmlog_ or SHMLOG_ name, outside comments and strings, that shmlog.h does
# not declare.
#
# ARCHITECTURE.md draws the arrows between the rooms, and the reader
# library's between its files, in blocks headed "arrows NAME"; the third
# check (tests/doc_arrows.py) fails when a block draws an arrow the includes
# or the module's objects do not have, or they have one the block does not.
#
# Inside a module, files call one way too. The last checks read the built
# objects (nm, tests/file_circles.py): a file points at another when it uses
# a symbol the other defines, and a circle (files that all reach one another)
# fails its module's line. Each MODULE=DIR argument names a module and the
# meson <target>.p directories holding its objects (':' between several).
#
# usage: test_layers.sh SOURCE_ROOT [MODULE=DIR[:DIR]...]
#                                          (TAP on stdout; exit 1 when an arrow is broken)
#        test_layers.sh --self-test SOURCE_ROOT [MODULE=DIR[:DIR]...]
#                                          also proves each check on a copy with wrong-way
#                                          includes, names and calls added, and on a
#                                          doctored ARCHITECTURE.md
set -u

self_test=0
if [ "${1:-}" = --self-test ]; then
    self_test=1
    shift
fi
root=${1:?usage: test_layers.sh [--self-test] SOURCE_ROOT [MODULE=DIR[:DIR]...]}
shift
modules=("$@")
layers="shm producer format render read dump collector ship examples"
circles=$(dirname "$0")/file_circles.py
doc_arrows=$(dirname "$0")/doc_arrows.py

# The folder (layer) that holds header NAME included from FILE, as the compiler
# would find it: a path is taken relative to the including file; a bare name in
# the including file's folder first, then in the other folders (where_is, one
# find for the whole tree). The generated shmlog.h is the producer's.
declare -A where_is path_of
index_tree() {
    local f base
    where_is=()
    path_of=()
    while read -r f; do
        base=${f##*/}
        path_of[$base]=$f
        [[ " ${where_is[$base]:-} " == *" ${f%%/*} "* ]] || where_is[$base]="${where_is[$base]:+${where_is[$base]} }${f%%/*}"
    done < <(cd "$root" && find $layers tests bench -type f 2>/dev/null)
}
# The path, relative to the root, of header NAME included from FILE.
path_of_include() {
    local file=$1 name=$2 dir=${1%/*}
    if [[ $name == */* ]]; then
        realpath -m --relative-to="$root" "$root/$dir/$name"
    elif [ -e "$root/$dir/$name" ]; then
        echo "$dir/$name"
    elif [ "$name" = shmlog.h ]; then
        echo producer/shmlog.h
    else
        echo "${path_of[$name]:-unknown}"
    fi
}
# owner_of FILE NAME: sets $owner to the room of header NAME included from FILE (a variable, not
# its output: a subshell for each of the tree's includes was most of this test's time).
owner_of() {
    local file=$1 name=$2 path
    if [[ $name == */* ]]; then
        path=$(path_of_include "$file" "$name")
        owner=${path%%/*}
    elif [ -e "$root/${file%/*}/$name" ]; then
        owner=${file%%/*}
    elif [ "$name" = shmlog.h ]; then
        owner=producer
    else
        owner=${where_is[$name]:-unknown}
    fi
}

# 0 if FILE (relative to the root) may include NAME, which lives in room TO:
# a room below it, and of a room below that others include, its include/ only.
allowed() {
    local file=$1 name=$2 to=$3 from=${1%%/*} path
    [ "$from" = "$to" ] && return 0
    path=$(path_of_include "$file" "$name")
    case "$from:$to" in
    examples:producer)
        [ "$path" = producer/shmlog.h ]
        return
        ;;
    producer:shm | format:shm | render:shm | read:shm | dump:shm | collector:shm | ship:shm | dump:read)
        return 0
        ;;
    render:format | read:format | dump:format | collector:format | ship:format)
        [ "$path" = format/include/shlog_file.h ]
        return
        ;;
    read:render | dump:render)
        [[ $path == render/include/* ]]
        return
        ;;
    esac
    return 1
}

rule_of() {
    case "$1" in
    examples/*) echo "examples/ may include shmlog.h only" ;;
    shm/*) echo "shm/ may include shm/ only" ;;
    producer/*) echo "producer/ may include producer/ and shm/" ;;
    format/*) echo "format/ may include format/ and shm/ only" ;;
    render/*) echo "render/ may include render/, shm/ and format's shlog_file.h" ;;
    read/*) echo "read/ may include read/, shm/, format's shlog_file.h and render/include/" ;;
    dump/*) echo "dump/ may include dump/, read/, shm/, format's shlog_file.h and render/include/" ;;
    collector/*) echo "collector/ may include collector/, shm/ and format's shlog_file.h" ;;
    ship/*) echo "ship/ may include ship/, shm/ and format's shlog_file.h" ;;
    esac
}

# Checks every include line under the root; prints one "not ok" per broken
# arrow and returns the number of them (capped at 255 by the shell); $only
# names the files to read when not all. Each
# include of another room is also written to $arrows_out as "FROM TO".
check_tree() {
    local bad=0 files file lineno text name to arrows=${arrows_out:-/dev/null}
    : >"$arrows"
    index_tree
    files=${only:-$(cd "$root" && find $layers -type f \( -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.in' \) | sort)}
    for file in $files; do
        while IFS=: read -r lineno text; do
            if [[ $text =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]] ||
                [[ $text =~ ^[[:space:]]*//@include[[:space:]]+([^[:space:]]+) ]]; then
                name=${BASH_REMATCH[1]}
            else
                continue
            fi
            owner_of "$file" "$name"
            to=$owner
            # unknown, or a name in two folders (ambiguous): refused as well
            if [ "$to" = unknown ] || [[ $to == *' '* ]] || ! allowed "$file" "$name" "$to"; then
                echo "not ok - $file:$lineno: ${text#"${text%%[![:space:]]*}"} (in $to): $(rule_of "$file")"
                bad=$((bad + 1))
            fi
            [ "$to" != "${file%%/*}" ] && echo "${file%%/*} $to" >>"$arrows"
        done < <(grep -nE '^[[:space:]]*(#[[:space:]]*include[[:space:]]*"|//@include[[:space:]])' "$root/$file")
    done
    return $((bad > 255 ? 255 : bad))
}

# The headers amalgamated into shmlog.h (the //@include lines of its template)
# and the reader library's: the installed API. Prints "FILE: NAME" for each shmlog_/SHMLOG_ name another
# header of the layers uses and those do not declare; returns how many.
installed_parts() {
    local inc
    echo "$root/producer/shmlog.h.in"
    echo "$root/read/include/shmlog_read.h" # the reader library's, installed beside it
    sed -n 's|^//@include[[:space:]]*||p' "$root/producer/shmlog.h.in" | while read -r inc; do
        realpath -m "$root/producer/$inc"
    done
}
# Code without its comments and string literals.
strip_comments() {
    perl -0777 -pe 's{/\*.*?\*/}{ }gs; s{//[^\n]*}{}g; s{"(?:\\.|[^"\\])*"}{""}g' "$@"
}
check_prefixes() {
    local bad=0 file name parts
    local -A installed=()
    mapfile -t parts < <(installed_parts)
    for name in $(strip_comments "${parts[@]}" | grep -oE '\b(shmlog|SHMLOG)_\w+' | sort -u); do
        installed[$name]=1
    done
    for file in $(cd "$root" && find $layers -type f -name '*.h' | sort); do
        [[ " ${parts[*]} " == *" $(realpath -m "$root/$file") "* ]] && continue
        for name in $(strip_comments "$root/$file" | grep -oE '\b(shmlog|SHMLOG)_\w+' | sort -u); do
            [ -n "${installed[$name]:-}" ] && continue
            echo "not ok - $file: $name has the installed API's prefix but is not in an installed header"
            bad=$((bad + 1))
        done
    done
    return $((bad > 255 ? 255 : bad))
}

# One TAP line: report NUMBER STATUS OK-TEXT NOT-OK-TEXT DETAILS (printed above a failure).
report() {
    if [ "$2" -eq 0 ]; then
        echo "ok $1 - $3"
    else
        [ -z "${5:-}" ] || echo "$5"
        echo "not ok $1 - $4"
    fi
}

n=$((3 + ${#modules[@]}))
[ $self_test = 1 ] && n=$((n + 5))
echo "1..$n"
t=3 # the TAP number of the last line printed
work=$(mktemp -d /tmp/shmlog-test-layers-XXXXXX)
trap 'rm -rf "$work"' EXIT
out=$(arrows_out=$work/includes check_tree)
status=$?
report 1 $status "every include in $layers points along an allowed arrow" \
    "includes against the arrows (see the lines above)" "$(sed 's/^not ok - /# wrong way: /' <<<"$out")"

out=$(check_prefixes)
pstatus=$?
report 2 $pstatus "shmlog_ and SHMLOG_ name only what the installed headers (shmlog.h, shmlog_read.h) declare" \
    "internal names with the installed API's prefix (see the lines above)" "$(sed 's/^not ok - /# wrong prefix: /' <<<"$out")"

# The arrows ARCHITECTURE.md draws: the rooms' against the includes just read,
# a module's against its objects.
out=$(python3 "$doc_arrows" "$root/ARCHITECTURE.md" --includes "$work/includes" "${modules[@]}" 2>&1)
dstatus=$?
report 3 $dstatus "the arrows ARCHITECTURE.md draws are the includes' and the objects' arrows" \
    "ARCHITECTURE.md and the code differ in their arrows (above): change the one that is wrong" "$(sed 's/^/# /' <<<"$out")"

# The circles of files in each module's objects: one python for all the modules (a python each was
# half of this test's time on a busy machine); a circle's first line begins with its module's name.
cstatus=0
all=$(python3 "$circles" "${modules[@]}" 2>&1)
found_any=$?
for m in "${modules[@]}"; do
    t=$((t + 1))
    name=${m%%=*}
    if [ $found_any -ge 2 ]; then # a usage error or no objects: every module fails with its message
        out=$all
    else
        out=$(awk -v m="$name: " '/^[^ ]/ { mine = index($0, m) == 1 } mine' <<<"$all")
    fi
    if [ -z "$out" ]; then
        echo "ok $t - $name: no circle of files (its objects' symbols)"
    else
        echo "$out" | sed 's/^/# /'
        echo "not ok $t - $name: files in a circle (above): move what both sides use below them"
        cstatus=1
    fi
done

if [ $self_test = 1 ]; then
    # The same check on a copy with one wrong-way include per rule: each must be named.
    tmp=$work/copy
    mkdir "$tmp"
    for l in $layers; do cp -r "$root/$l" "$tmp/"; done
    mkdir -p "$tmp/tests" "$tmp/bench"
    printf '#include "shmlog.h"\n' >>"$tmp/shm/names.c"
    printf '#include "render.h"\n' >>"$tmp/collector/alert.c"
    printf '#include "shlog_coding.h"\n' >>"$tmp/collector/alert.c"
    printf '#include "metrics.h"\n' >>"$tmp/format/shlog_encode.c"
    printf '#include "alert.h"\n' >>"$tmp/read/read_decode.c"
    printf '#include "../collector/collector.c"\n' >>"$tmp/render/render.c"
    printf '#include "dump.h"\n' >>"$tmp/producer/producer.c"
    printf '#include "collector.h"\n' >>"$tmp/ship/follow.c"
    got=$(root=$tmp check_tree | grep -c '^not ok')
    t=$((t + 1))
    if [ "$got" -eq 8 ]; then
        echo "ok $t - a copy with 8 wrong-way includes is refused, each line named"
    else
        root=$tmp check_tree | sed 's/^/# /'
        echo "not ok $t - a copy with 8 wrong-way includes: $got named"
    fi
    # Each rule between the rooms of the readers and the examples, on a fresh copy of theirs.
    rooms_got=0
    for probe in 'render/render.c dump.h' 'render/render_text.c read_engine.h' 'read/read_merge.c dump.h' \
        'read/read_decode.c render_private.h' 'dump/dump_read.c render_private.h' 'dump/dump_args.c metrics.h' \
        'examples/sample_producer.c reader.h' 'examples/sample_producer.c render.h' 'format/shlog_encode.c render.h' \
        'render/render.c shmlog_read.h'; do
        rm -rf "$tmp/render" "$tmp/read" "$tmp/dump" "$tmp/examples" "$tmp/format"
        for l in render read dump examples format; do cp -r "$root/$l" "$tmp/"; done
        printf '#include "%s"\n' "${probe#* }" >>"$tmp/${probe%% *}"
        if root=$tmp only=${probe%% *} check_tree | grep -q "^not ok - ${probe%% *}:"; then
            rooms_got=$((rooms_got + 1))
        else
            echo "# not refused: ${probe%% *} including ${probe#* }"
        fi
    done
    t=$((t + 1))
    report $t $((rooms_got != 10)) "10 wrong-way includes between render, read, dump, examples and format are each refused" \
        "of 10 wrong-way includes between render, read, dump, examples and format, $rooms_got refused"
    # ARCHITECTURE.md doctored: an arrow drawn backwards is not in the code; the arrows out of
    # a name left out leave the code's arrows out of it undrawn. Each block must fail both ways.
    dgot=0
    for how in reverse drop; do
        python3 "$doc_arrows" --doctor $how "$root/ARCHITECTURE.md" >"$work/ARCHITECTURE.$how.md"
        dout=$(python3 "$doc_arrows" "$work/ARCHITECTURE.$how.md" --includes "$work/includes" "${modules[@]}" 2>&1)
        want="draws .* the code has no such arrow"
        [ $how = drop ] && want="ARCHITECTURE.md does not draw it"
        for block in $(sed -n 's/^```arrows[[:space:]]\+\([^[:space:]]*\).*/\1/p' "$root/ARCHITECTURE.md"); do
            if [ "$block" != rooms ] && [[ " ${modules[*]} " != *" $block="* ]]; then
                continue
            fi
            if grep -q "^$block: .*$want" <<<"$dout"; then
                dgot=$((dgot + 1))
            else
                echo "$dout" | sed "s/^/# $how: /"
                echo "# $how: the block $block was not refused"
                dgot=-100
            fi
        done
    done
    t=$((t + 1))
    report $t $((dgot < 2)) \
        "ARCHITECTURE.md with an arrow drawn backwards, or a name's arrows left out, is refused in each of its $((dgot / 2)) checked blocks" \
        "a doctored ARCHITECTURE.md was not refused in every block"
    printf '/* shmlog_not_a_name */\nint shmlog_reader_probe(void);\n' >>"$tmp/shm/reader.h"
    printf '#define SHMLOG_DUMP_PROBE "SHMLOG_IN_A_STRING"\n' >>"$tmp/dump/dump.h"
    pgot=$(root=$tmp check_prefixes | grep -c '^not ok')
    t=$((t + 1))
    if [ "$pgot" -eq 2 ]; then
        echo "ok $t - a copy with 2 internal names of the installed prefix is refused, each named"
    else
        root=$tmp check_prefixes | sed 's/^/# /'
        echo "not ok $t - a copy with 2 internal shmlog_ names: $pgot named"
    fi
    # Objects of three files, a -> b -> c -> a, and d -> a one way: the circle
    # is named whole, d is not in it; with a c that calls nothing there is none.
    mkdir -p "$tmp/objs/circle" "$tmp/objs/line"
    printf 'int b(void);\nint a(void) { return b(); }\n' >"$tmp/objs/a.c"
    printf 'int c(void);\nint b(void) { return c(); }\n' >"$tmp/objs/b.c"
    printf 'int a(void);\nint c(void) { return a(); }\n' >"$tmp/objs/c.c"
    printf 'int a(void);\nint d(void) { return a(); }\n' >"$tmp/objs/d.c"
    cc_ok=1
    for f in a b c d; do "${CC:-cc}" -c -o "$tmp/objs/circle/$f.c.o" "$tmp/objs/$f.c" || cc_ok=0; done
    for f in a b d; do cp "$tmp/objs/circle/$f.c.o" "$tmp/objs/line/"; done
    printf 'int c(void) { return 0; }\n' >"$tmp/objs/c1.c"
    "${CC:-cc}" -c -o "$tmp/objs/line/c.c.o" "$tmp/objs/c1.c" || cc_ok=0
    cout=$(python3 "$circles" "probe=$tmp/objs/circle")
    cfound=$?
    python3 "$circles" "probe=$tmp/objs/line" >/dev/null
    lfound=$?
    t=$((t + 1))
    if [ $cc_ok = 1 ] && [ $cfound -eq 1 ] && [ "$(head -1 <<<"$cout")" = "probe: a.c b.c c.c" ] && [ $lfound -eq 0 ]; then
        echo "ok $t - objects calling a -> b -> c -> a are named as one circle, d and a line of calls are not"
    else
        echo "$cout" | sed 's/^/# /'
        echo "not ok $t - the circle a -> b -> c -> a: status $cfound, a line of calls: status $lfound"
        cgot=1
    fi
fi
[ $status -eq 0 ] && [ $pstatus -eq 0 ] && [ $dstatus -eq 0 ] && [ $cstatus -eq 0 ] && [ "${got:-8}" -eq 8 ] &&
    [ "${pgot:-2}" -eq 2 ] && [ "${rooms_got:-10}" -eq 10 ] && [ "${dgot:-2}" -ge 2 ] &&
    [ -z "${cgot:-}" ]
