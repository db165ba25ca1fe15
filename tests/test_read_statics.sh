#!/bin/bash
# Description: libshmlog-read keeps no state of its own and carries no command of shmlog-dump's: its shared object has no writable static variable (nothing in .data, .bss, .tdata or .tbss but the C runtime's own), so no lock that two readers could share (an Arrow stream's mutexes are in its handle, between its own builder threads), no read-write lock, no longjmp, no exit, and none of the dump's code or output buffer.
# usage: test_read_statics.sh LIBSHMLOG_READ.so
set -u
lib=$1
. "$(dirname "$0")/tap.sh"
tap_require binutils objdump
[ -e "$lib" ] || bail "no $lib: build the library first"
tmp=$(mktemp -d /tmp/shmlog-test-statics-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# The symbol table: "section size name" of every object in a writable section.
objdump -t "$lib" | awk '$0 ~ / (\.data|\.bss|\.tdata|\.tbss)[ \t]/ && $0 !~ /\.data\.rel\.ro/ { print $(NF-2), $(NF-1), $NF }' \
    >"$tmp/writable"
# What the C runtime puts in every shared object (crtstuff: completed.0, __dso_handle, __TMC_END__).
grep -v -E ' (completed\.[0-9]+|__dso_handle|__TMC_END__)$' "$tmp/writable" >"$tmp/ours"
check_show "no writable static of the library's own ($(wc -l <"$tmp/writable") writable symbols, all the C runtime's)" \
    bash -c "cat '$tmp/ours'; test ! -s '$tmp/ours'"

objdump -T "$lib" | awk '$4 == "*UND*" || $3 == "*UND*" { print $NF }' | sort -u >"$tmp/undefined"
# A mutex can only be a handle's (no writable static holds one: above); a read-write lock would be a reader's
# state shared with others.
check_show "no read-write lock, no longjmp, no exit among the functions it calls" \
    bash -c "grep -E '^(pthread_rwlock_.*|_?setjmp|_?longjmp|siglongjmp|__longjmp_chk|exit|_exit|abort)(@.*)?$' '$tmp/undefined'; test \$? -eq 1"

objdump -t "$lib" | awk '{ print $NF }' >"$tmp/names"
check_show "none of shmlog-dump's commands or output: no cmd_*, stats_*, verify_*, out_* or dump_* symbol" \
    bash -c "grep -E '^(cmd_|stats_|verify_|out_|dump_)' '$tmp/names'; test \$? -eq 1"
tap_done
