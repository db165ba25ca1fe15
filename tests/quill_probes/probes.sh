#!/bin/bash
# The Quill probes (issue 54): one-call C++ programs a shop moving from Quill would write
# (tests/quill_probes/NN_*.cpp), each compiled alone against a shmlog.h with GCC 12 and Clang 14, C++17 and
# C++20, -Wall -Wextra -Wpedantic -Wconversion -Werror, then run with a real collector; each line read back
# (shmlog-dump read) is compared with what fmt::format prints for the same call (the probe's "want" lines).
# A probe whose first line is "/* refused: TEXT */" asks for what fmt refuses too, or for a bound the files
# fix: it must not compile, and its error must say TEXT.
# usage: probes.sh [--tap] [--each] HEADER_DIR COLLECTOR SHMLOG_DUMP
#   --each   compile each probe alone under every compiler and standard (the table; slow: 4 compiles a
#            probe); without it one program of all probes a compiler and standard, and each probe alone
#            only where that program failed
#   --tap    TAP lines (a test: fails when a probe stops compiling or reading back as fmt prints it)
# Prints the table: probe, compiles (g++/clang++ c++17/c++20), read back == fmt. PROBES="NN_name ..." takes
# only those probes.
set -u
tap=0 each=0
while [ $# -gt 0 ]; do
    case $1 in
    --tap) tap=1 ;;
    --each) each=1 ;;
    *) break ;;
    esac
    shift
done
[ $# -eq 3 ] || { sed -n 's/^# usage: /usage: /p' "$0" >&2; exit 2; }
header_dir=$(cd "$1" && pwd) COLLECTOR=$2 dump=$3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/shmlog-quill-probes-XXXXXX)
. "$here/../tap.sh"
trap tap_cleanup EXIT
[ -f "$header_dir/shmlog.h" ] || bail "no shmlog.h in $header_dir"
[ -x "$COLLECTOR" ] && [ -x "$dump" ] || bail "COLLECTOR and SHMLOG_DUMP must be programs ($COLLECTOR, $dump)"
tap_require g++-12 g++-12
tap_require clang++-14 clang++-14

if [ -n "${PROBES:-}" ]; then
    read -ra probes <<<"$PROBES"
else
    mapfile -t probes < <(cd "$here" && ls [0-9][0-9]_*.cpp | sed 's/\.cpp$//')
fi
combos=("g++-12 c++17" "g++-12 c++20" "clang++-14 c++17" "clang++-14 c++20")
flags=(-Wall -Wextra -Wpedantic -Wconversion -Werror)

# unit FILE PROBE...: a program of those probes (PROBE_FN named after each, called in order)
unit() {
    local out=$1 p i=0
    shift
    {
        echo '#define SHMLOG_IMPLEMENTATION'
        echo '#include "probe.h"'
        for p in "$@"; do
            echo "#define PROBE_FN probe_$i"
            echo "#include \"$here/$p.cpp\""
            echo '#undef PROBE_FN'
            i=$((i + 1))
        done
        echo 'int main()'
        echo '{'
        echo '    struct shmlog_config cfg;'
        echo '    shmlog_config_init(&cfg);'
        echo '    cfg.app = "quill-probes";'
        echo '    if (shmlog_init(&cfg) != 0)'
        echo '        return 1;'
        for ((i = 0; i < $#; i++)); do
            echo "    probe_$i();"
        done
        echo '    const unsigned long long dropped = shmlog_dropped();'
        echo '    shmlog_shutdown();'
        echo '    std::printf("done %llu\n", dropped);'
        echo '}'
    } >"$out"
}
# compile COMPILER STD OUT_BASE PROBE...: syntax and warnings of a unit of those probes; errors in OUT_BASE.err
compile() {
    local cxx=$1 std=$2 base=$3
    shift 3
    unit "$base.cpp" "$@"
    "$cxx" -std="$std" "${flags[@]}" -fsyntax-only -I "$here" -I "$header_dir" "$base.cpp" 2>"$base.err"
}
refusal() { sed -n '1s|^/\* refused: \(.*\) \*/$|\1|p' "$here/$1.cpp"; }

# failed_on[probe]: the compilers and standards it did not compile with; said[probe]: how many of those
# errors say what its first line asks for
declare -A failed_on said
mkdir -p "$tmp/units"
for p in "${probes[@]}"; do
    unit "$tmp/units/$p.cpp" "$p"
done
for combo in "${combos[@]}"; do
    read -r cxx std <<<"$combo"
    tag=${cxx%-*}-${std#c++}
    alone=("${probes[@]}")
    if [ "$each" -eq 0 ]; then
        together=() refused=()
        for p in "${probes[@]}"; do
            if [ -n "$(refusal "$p")" ]; then refused+=("$p"); else together+=("$p"); fi
        done
        compile "$cxx" "$std" "$tmp/all-$tag" "${together[@]}" && alone=("${refused[@]}")
    fi
    [ ${#alone[@]} -gt 0 ] && printf '%s\n' "${alone[@]}" | tag=$tag xargs -P 2 -I{} bash -c '"$0" -std="$1" "${@:5}" -fsyntax-only -I "$2" -I "$3" \
        "$4/{}.cpp" 2>"$4/{}.$tag.err"; echo $? >"$4/{}.$tag.rc"' "$cxx" "$std" "$here" "$header_dir" "$tmp/units" \
        "${flags[@]}"
    for p in "${alone[@]}"; do
        [ "$(cat "$tmp/units/$p.$tag.rc")" = 0 ] && continue
        failed_on[$p]="${failed_on[$p]:-} $tag"
        want=$(refusal "$p")
        if [ -n "$want" ] && grep -q "error:.*$want" "$tmp/units/$p.$tag.err"; then
            said[$p]=$((${said[$p]:-0} + 1))
        fi
    done
done

# One program of every probe that compiled everywhere, built with g++ -O2, run beside a collector.
runnable=()
for p in "${probes[@]}"; do
    [ -z "${failed_on[$p]:-}" ] && runnable+=("$p")
done
collector_dirs
collector_start "$tmp/collector.log" --dir "$seg" --out "$out" --max-delay-ms 20
unit "$tmp/run.cpp" "${runnable[@]}"
if ! g++-12 -std=c++17 -O2 -I "$here" -I "$header_dir" "$tmp/run.cpp" -o "$tmp/run" -lfmt -lnuma -lpthread \
    2>"$tmp/run.err"; then
    diag "$tmp/run.err"
    bail "the program of the probes that compiled does not link"
fi
"$tmp/run" >"$tmp/run.out" 2>"$tmp/run.err"
ran=$?
wait_for 30 bash -c "'$dump' read '$out' 2>/dev/null | grep -q 'EXIT.*quill-probes'"
collector_stop >/dev/null
"$dump" read "$out" >"$tmp/read.txt" 2>"$tmp/read.err"
sed -n 's/^.* \([0-9][0-9]_[a-z0-9_]*\)\.cpp:[0-9]* /\1 /p' "$tmp/read.txt" >"$tmp/got.txt"
sed -n 's/^want \([0-9][0-9]_[a-z0-9_]*\)\.cpp /\1 /p' "$tmp/run.out" >"$tmp/want.txt"

for p in "${probes[@]}"; do
    want=$(refusal "$p")
    if [ -z "${failed_on[$p]:-}" ]; then
        compiled=yes
    elif [ -n "$want" ] && [ "${said[$p]:-0}" -eq ${#combos[@]} ]; then
        compiled="refused, says why (as asked)"
    else
        compiled="no:${failed_on[$p]}"
    fi
    if [ -n "${failed_on[$p]:-}" ]; then
        same=-
    elif diff <(sed -n "s/^$p //p" "$tmp/want.txt") <(sed -n "s/^$p //p" "$tmp/got.txt") >"$tmp/$p.diff" &&
        grep -q "^$p " "$tmp/want.txt"; then
        same=yes
    else
        same="no: $( (sed -n 's/^> /got /p' "$tmp/$p.diff"; sed -n 's/^< /missing /p' "$tmp/$p.diff") | head -1 |
            cut -c1-64)"
    fi
    printf '%-30s %-34s %s\n' "$p" "$compiled" "$same" | tee -a "$tmp/table.txt"
    if [ "$tap" -eq 1 ]; then
        if [ -n "$want" ]; then
            if [ "$compiled" = "refused, says why (as asked)" ]; then ok "$p: refused, the error says \"$want\""; else
                not_ok "$p: should be refused with \"$want\" on every compiler and standard"
                diag "$tmp/units/$p."*.err 2>/dev/null | head -20
            fi
        elif [ "$compiled" = yes ] && [ "$same" = yes ]; then
            ok "$p: compiles and reads back as fmt prints it"
        else
            not_ok "$p: compiles: $compiled; read back == fmt: $same"
            for e in "$tmp/units/$p."*.err; do
                [ -s "$e" ] && grep -m3 'error' "$e" | sed 's/^/# /'
            done
            [ -s "$tmp/$p.diff" ] && diag "$tmp/$p.diff"
        fi
    fi
done >"$tmp/table.out"
if [ "$tap" -eq 1 ]; then
    grep -v '^[0-9][0-9]_' "$tmp/table.out"
    sed 's/^/# /' "$tmp/table.txt"
    check "the program of the probes ran and dropped nothing" test "$ran" -eq 0 -a "$(grep '^done ' "$tmp/run.out")" = "done 0"
    tap_done
else
    printf '%-30s %-34s %s\n' probe "compiles (g++/clang++, 17/20)" "read back == fmt"
    cat "$tmp/table.txt"
fi
