#!/usr/bin/env bash
# What a log call site costs the program around it: compiles N call sites in one function (as a program
# logs, bench/compile_sites.py writes them) through shmlog (C; C++ with printf formats; C++ with {}
# formats), Quill (its header from the peers' harness, as bench/peers.sh checks it out; also with its format
# checked at compile time, as shmlog checks its own) and printf, with each compiler and optimisation level
# asked for, in one run; prints, per case, the compiler's cpu seconds (user + system), its peak memory, the
# object's code (.text sections), both per call site (over the N sites), and what one more site adds (over
# the same file with no site: the headers' own cost taken off).
#
# usage: bash bench/compile.sh [--sites LIST] [--shapes issue|mix] [--compilers LIST] [--opts LIST]
#                              [--cases LIST] [--work DIR] [--header DIR] [--insns] [--dir DIR]
#   --sites LIST      call sites per file, comma-separated (default 200,2000)
#   --shapes S        issue: every site "k<N> a=%d b=%.2f s=%s" (int, double, string), as issue 49
#                     measured; mix: the sample producer's seven trading shapes in turn (default mix)
#   --compilers LIST  gcc,clang (default both)
#   --opts LIST       O0,O2 (default both)
#   --cases LIST      of c,cxx_printf,cxx_braces,quill,quill_checked,printf (default all); quill_checked is
#                     Quill's site with its format checked at compile time beside it (Quill checks none),
#                     as shmlog's sites are
#   --work DIR        where the peers' harness is (default build-peers, as bench/peers.sh)
#   --header DIR      shmlog's cases with the shmlog.h in DIR (another tree's, to compare two headers), not
#                     this tree's
#   --dir DIR         where the sources are written and compiled from, as an absolute path (default /tmp):
#                     a Quill site's cost grows with its file's path (Quill 11 finds the file name in it
#                     at compile time, a constant evaluation a site); a shmlog site's does not. Give a
#                     directory as deep as your sources' to see your build's
#   --insns           the compiler proper's instructions (cc1, cc1plus or clang -cc1 as -### runs it, counted
#                     by cachegrind) in place of its cpu time: steady on a loaded machine, G and M for s and ms
#                     (compare at the timed run's site counts: a signature's first site costs Quill about
#                     0.27 G instructions, most of its "a site more" at a few hundred sites)
#   e.g. bash bench/compile.sh --sites 200 --shapes issue --compilers gcc --opts O2
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/common.sh
. "$repo/bench/common.sh"
sites=200,2000 shapes=mix compilers=gcc,clang opts=O0,O2 cases=c,cxx_printf,cxx_braces,quill,quill_checked,printf
work=$repo/build-peers header="" insns="" parent=/tmp
args="$*"
while [ $# -gt 0 ]; do
    case $1 in
    --sites) sites=$2; shift 2 ;;
    --shapes) shapes=$2; shift 2 ;;
    --compilers) compilers=$2; shift 2 ;;
    --opts) opts=$2; shift 2 ;;
    --cases) cases=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --header) header=$(cd "$2" && pwd); shift 2 ;;
    --insns) insns=1; shift ;;
    --dir) parent=$2; shift 2 ;;
    -h | --help) sed -n '/^# usage/,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "compile.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
case $shapes in issue | mix) ;; *) echo "compile.sh: --shapes wants issue or mix, not '$shapes'" >&2; exit 2 ;; esac
for tool in /usr/bin/time size python3 ${insns:+valgrind}; do
    command -v "$tool" >/dev/null || { echo "compile.sh: $tool is missing: install it (scripts/setup.sh)" >&2; exit 1; }
done

[ -d "$parent" ] || { echo "compile.sh: --dir $parent is not a directory" >&2; exit 2; }
scratch=$(mktemp -d "$(cd "$parent" && pwd)/shmlog-compile.XXXXXX")
remove_at_exit "$scratch"
if [ -n "$header" ]; then
    cp "$header/shmlog.h" "$scratch/shmlog.h"
else
    python3 "$repo/producer/amalgamate.py" "$repo/producer/shmlog.h.in" "$scratch/shmlog.h"
fi
quill_include=""
case ",$cases," in *,quill,* | *,quill_checked,*) quill_include=$(peers_harness "$work")/quill/include ;; esac

# The compiler proper's instructions for one compile, in G (as -### prints its command, quoted for the shell):
# Clang's writes the object, GCC's the assembly (-S, where -c would name a temporary file).
count_insns() { # compiler std opt source
    local proper output=(-S -o "$scratch/obj.s")
    case $1 in clang*) output=(-c -o "$scratch/obj.o") ;; esac
    proper=$("$1" "$2" "-$3" "${output[@]}" "$4" -I"$scratch" ${quill_include:+-I"$quill_include"} -### 2>&1 |
        grep -E '(/cc1|/cc1plus|"-cc1") ')
    eval "valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null $proper" 2>&1 >/dev/null |
        awk '/ I +refs:/ {gsub(",", "", $NF); printf "%.4f", $NF / 1e9}'
}

# One compile: "cpu_s peak_kb text_bytes", or "failed" with the compiler's first lines on stderr.
compile_one() { # compiler std opt source
    local out=$scratch/obj.o
    if ! /usr/bin/time -o "$scratch/time" -f '%U %S %M' "$1" "$2" "-$3" -c "$4" -o "$out" -I"$scratch" \
        ${quill_include:+-I"$quill_include"} 2>"$scratch/err"; then
        echo "compile.sh: $1 -$3 $4 failed:" >&2
        head -n 5 "$scratch/err" >&2
        echo failed
        return
    fi
    read -r user sys kb <"$scratch/time"
    [ -n "$insns" ] && user=$(count_insns "$@") sys=0
    # every section whose name starts with .text (GCC puts cold paths in .text.unlikely)
    text=$(size -A "$out" | awk '$1 ~ /^\.text/ {t += $2} END {print t + 0}')
    echo "$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.4f", u + s}') $kb $text"
}

echo "# $(uname -sr), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg) before; shapes $shapes;" \
    "$(gcc --version | head -1); $(clang --version 2>/dev/null | head -1 || echo 'no clang')"
echo "# shmlog.h ${header:-of $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?')}; + bench/compile.sh $args"
echo "# sources in $scratch, ${#scratch} characters (a file's path adds its name)"
if [ -n "$insns" ]; then unit=("G insns" "Minsn/site" "+Minsn/site"); else unit=("cpu s" "ms/site" "+ms/site"); fi
printf '%-13s %-6s %-3s %6s %9s %9s %11s %10s %8s %11s %8s\n' case cc opt sites "${unit[0]}" "peak MB" ".text B" "${unit[1]}" \
    "B/site" "${unit[2]}" "+B/site"
IFS=, read -r -a site_list <<<"$sites"
IFS=, read -r -a compiler_list <<<"$compilers"
IFS=, read -r -a opt_list <<<"$opts"
IFS=, read -r -a case_list <<<"$cases"
for n in "${site_list[@]}"; do
    for cc in "${compiler_list[@]}"; do
        for opt in "${opt_list[@]}"; do
            for c in "${case_list[@]}"; do
                case $c in
                c | printf) ext=c std=-std=c11 tool=$cc ;;
                *) ext=cpp std=-std=c++17 tool=$([ "$cc" = gcc ] && echo g++ || echo clang++) ;;
                esac
                src=$scratch/$c.$n.$ext
                python3 "$repo/bench/compile_sites.py" "$c" "$shapes" "$n" "$src"
                python3 "$repo/bench/compile_sites.py" "$c" "$shapes" 0 "$scratch/$c.0.$ext"
                read -r cpu kb text <<<"$(compile_one "$tool" "$std" "$opt" "$src")"
                [ "$cpu" = failed ] && continue
                read -r cpu0 kb0 text0 <<<"$(compile_one "$tool" "$std" "$opt" "$scratch/$c.0.$ext")"
                awk -v c="$c" -v cc="$cc" -v o="$opt" -v n="$n" -v t="$cpu" -v kb="$kb" -v b="$text" -v t0="$cpu0" \
                    -v b0="$text0" 'BEGIN {
                    printf "%-13s %-6s %-3s %6d %9.3f %9.0f %11d %10.2f %8.0f %11.2f %8.0f\n", c, cc, o, n, t, kb / 1024,
                        b, t * 1000 / n, b / n, (t - t0) * 1000 / n, (b - b0) / n }'
            done
        done
    done
done
echo "# load $(cut -d' ' -f1-3 /proc/loadavg) after"
