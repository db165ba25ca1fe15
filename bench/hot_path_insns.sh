#!/usr/bin/env bash
# The instructions a log call compiles to, whole function, with the header of a build: the 3-argument call
# bench_producer times (u64, double, int) and the same with a 40-byte string, at -O2, as C (gcc, clang) and
# C++ (g++, clang++). A change to the header's packing that adds work per call shows here before any timing
# can; compare two builds' headers with the same compilers.
# usage: bench/hot_path_insns.sh INCLUDE_DIR    (INCLUDE_DIR holds shmlog.h, e.g. build/producer)
set -eu
inc=${1:?usage: hot_path_insns.sh INCLUDE_DIR}
tmp=$(mktemp -d /tmp/shmlog-hot-path-insns-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/probe.c" <<'EOF'
#include "shmlog.h"
#ifdef __cplusplus
extern "C" {
#endif
extern unsigned long id;
extern double px;
extern int qty;
extern const char *note;
void args3(void);
void args3_str40(void);
#ifdef __cplusplus
}
#endif
void args3(void) { SHMLOG_INFO("order id=%lu px=%f qty=%d", id, px, qty); }
void args3_str40(void) { SHMLOG_INFO("order id=%lu px=%f qty=%d note=%s", id, px, qty, note); }
EOF
printf '%-10s %8s %12s\n' compiler args3 args3_str40
for cc in "gcc -std=gnu11" "clang -std=gnu11" "g++ -std=c++17 -x c++" "clang++ -std=c++17 -x c++"; do
    # shellcheck disable=SC2086 # cc is a command and its flags
    $cc -O2 -I"$inc" -c "$tmp/probe.c" -o "$tmp/probe.o"
    counts=()
    for f in args3 args3_str40; do
        counts+=("$(objdump -d --no-show-raw-insn "$tmp/probe.o" |
            awk -v f="<$f>:" '$2 == f { p = 1; next } p && /^$/ { exit } p' | grep -c '^ ')")
    done
    printf '%-10s %8s %12s\n' "${cc%% *}" "${counts[0]}" "${counts[1]}"
done
