#!/bin/bash
# Description: where shmlog-dump and the collector look without flags (SHMLOG_OUT for both; read, stats and verify read it when given no FILE|DIR; --help says so); follow in a directory with no file says once, on stderr, which directory it waits on, then prints the records when they come; follow waits for a .part still without its header (the collector names a file only after its header is written, shown with that write held back) instead of calling it damaged; status exits 4 with its reason when no collector writes to --out, when the collector that did is gone, and when a stopped collector lets a ring wait, 0 with a collector draining, and 5, naming it, when the collector runs a binary replaced on disk.
# usage: test_dump_ops.sh (meson test sets SHMLOG_DUMP, COLLECTOR, TEST_PRODUCER, SLOW_HEADER)
set -u
tmp=$(mktemp -d /tmp/shmlog-test-dump-ops-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR TEST_PRODUCER SLOW_HEADER
unset SHMLOG_OUT TZ
mkdir -p "$tmp/elsewhere"
cd "$tmp/elsewhere" || bail "cd $tmp/elsewhere"

# ---- follow before the collector's first file, with SHMLOG_OUT ----
seg=$tmp/seg1
out=$tmp/out1
mkdir -p "$seg"
export SHMLOG_DIR=$seg
SHMLOG_OUT=$out "$SHMLOG_DUMP" follow --format json >"$tmp/follow.json" 2>"$tmp/follow.err" &
follow=$!
pids+=("$follow")
check "follow with no file yet says which directory it waits on" \
    wait_for 10 grep -qF "waiting for the collector's first file in $out (\$SHMLOG_OUT, which does not exist yet)" \
    "$tmp/follow.err"
# The collector takes SHMLOG_OUT as its --out too.
SHMLOG_OUT=$out collector_start "$tmp/collector1.log" --dir "$seg" --max-delay-ms 20
"$TEST_PRODUCER" --threads 1 --count 500 >"$tmp/producer1.out" &
prod=$!
pids+=("$prod")
wait "$prod"
check "follow prints the records once the collector's first file comes" \
    wait_for 15 bash -c "test \$(grep -Ec '\"pid\":$prod,\"instance\":\"[0-9a-f]{32}\",\"tid\"' '$tmp/follow.json') -eq 500"
kill -INT "$follow"
wait "$follow"
check "follow stops with exit 0" test $? -eq 0
check "follow said it waits once, and nothing else" test "$(wc -l <"$tmp/follow.err")" -eq 1
diag "$tmp/follow.err"
check "the collector writes to SHMLOG_OUT when given no --out" test -n "$(ls "$out"/*.shlog* 2>/dev/null)"

# ---- read, stats, verify: SHMLOG_OUT when no FILE|DIR ----
SHMLOG_OUT=$out "$SHMLOG_DUMP" read --format json >"$tmp/read.json" 2>"$tmp/read.err"
check "read without FILE|DIR reads SHMLOG_OUT" test $? -eq 0 -a "$(grep -Ec "\"pid\":$prod,\"instance\":\"[0-9a-f]{32}\",\"tid\"" "$tmp/read.json")" -eq 500
SHMLOG_OUT=$out "$SHMLOG_DUMP" stats >"$tmp/stats.txt" 2>&1
check "stats without FILE|DIR reads SHMLOG_OUT" grep -q '^records: 50[0-9] ' "$tmp/stats.txt"
collector_stop
SHMLOG_OUT=$out "$SHMLOG_DUMP" verify >"$tmp/verify.txt" 2>&1
check "verify without FILE|DIR reads SHMLOG_OUT" test $? -eq 0 -a -s "$tmp/verify.txt"
# Without SHMLOG_OUT: the installed service's directory when it is there, else ./shmlog-out.
default=./shmlog-out
[ -r /var/log/shmlog ] && [ -x /var/log/shmlog ] && default=/var/log/shmlog
if [ "$default" = ./shmlog-out ]; then
    "$SHMLOG_DUMP" read >/dev/null 2>"$tmp/nodir.err"
    check "read without SHMLOG_OUT names ./shmlog-out and SHMLOG_OUT, exit 1, one line" \
        test $? -eq 1 -a "$(wc -l <"$tmp/nodir.err")" -eq 1 -a -n "$(grep -F './shmlog-out' "$tmp/nodir.err" | grep SHMLOG_OUT)"
    diag "$tmp/nodir.err"
else
    skip "read without SHMLOG_OUT names ./shmlog-out" "this host has /var/log/shmlog"
fi
mkdir -p "$tmp/elsewhere/shmlog-out"
cp "$out"/*.shlog "$tmp/elsewhere/shmlog-out/"
if [ "$default" = ./shmlog-out ]; then
    check "read without SHMLOG_OUT or /var/log/shmlog reads ./shmlog-out" \
        test "$("$SHMLOG_DUMP" read --format json | grep -Ec "\"pid\":$prod,\"instance\":\"[0-9a-f]{32}\",\"tid\"")" -eq 500
else
    skip "read without SHMLOG_OUT reads ./shmlog-out" "this host has /var/log/shmlog"
fi
check "--help names SHMLOG_OUT, /var/log/shmlog and ./shmlog-out" \
    bash -c "'$SHMLOG_DUMP' --help | grep -A2 -- '--out O' | tr '\n' ' ' | grep 'SHMLOG_OUT.*/var/log/shmlog.*./shmlog-out'"

# ---- follow and a .part still being made: waited for, not taken for damage ----
# A .part shorter than a header, with no later file, is one a collector is making: follow looks at it
# again until its header is there, instead of calling it damaged and never reading it.
whole=$(ls -S "$tmp/out1"/*.shlog | head -1)
name=$(basename "$whole")
want=$("$SHMLOG_DUMP" read --format json "$whole" | wc -l)
out=$tmp/out-making
mkdir -p "$out"
: >"$out/$name.part"
"$SHMLOG_DUMP" follow --out "$out" --format json >"$tmp/making.json" 2>"$tmp/making.err" &
follow=$!
pids+=("$follow")
# Asleep between polls: it has looked at the empty .part at least once.
wait_for 10 grep -q nanosleep "/proc/$follow/wchan" || sleep 1
cat "$whole" >"$out/$name.part"
mv "$out/$name.part" "$out/$name"
check "follow prints every record of a .part whose header came after it looked ($want)" \
    wait_for 15 bash -c "test \$(wc -l <'$tmp/making.json') -eq $want"
kill -INT "$follow"
wait "$follow"
check "follow stops with exit 0 after a .part still being made" test $? -eq 0
check "follow says nothing of a .part still being made" test ! -s "$tmp/making.err"
diag "$tmp/making.err"

# ---- the collector's .part appears with its header ----
# With the header's write held back 300 ms, a watcher polling the directory every 2 ms sees each .part
# only whole-headed: the file is named after its header is written.
seg=$tmp/seg-slow
out=$tmp/out-slow
mkdir -p "$seg" "$out"
export SHMLOG_DIR=$seg
python3 -c '
import os, sys, time
d, stop = sys.argv[1], sys.argv[2]
smallest = None
while not os.path.exists(stop):
    for n in os.listdir(d):
        if n.endswith(".shlog.part"):
            try:
                size = os.stat(os.path.join(d, n)).st_size
            except FileNotFoundError:
                continue
            smallest = size if smallest is None else min(smallest, size)
    time.sleep(0.002)
print(-1 if smallest is None else smallest)
' "$out" "$tmp/watch.stop" >"$tmp/watch.out" &
watcher=$!
pids+=("$watcher")
LD_PRELOAD=$SLOW_HEADER SLOW_HEADER_MS=300 SLOW_HEADER_MARK=$tmp/slow.mark \
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
    collector_start "$tmp/collector-slow.log" --dir "$seg" --out "$out" --max-delay-ms 20
"$TEST_PRODUCER" --threads 1 --count 100 >"$tmp/producer-slow.out"
wait_for 15 test -s "$tmp/slow.mark"
wait_for 15 bash -c "ls '$out'/*.shlog.part"
sleep 0.2
touch "$tmp/watch.stop"
wait "$watcher"
header=$(sed -n 's/^header of \([0-9]*\) bytes.*/\1/p' "$tmp/slow.mark" | head -1)
check "the collector's header write was held back (the module was preloaded)" test -n "$header"
diag "$tmp/slow.mark"
check "the collector's .part never appears shorter than its header (${header:-?} bytes)" \
    test "$(cat "$tmp/watch.out")" -ge "${header:-1}"
diag "$tmp/watch.out"
collector_stop
check "the collector writes every record of the file whose header was held back" \
    test "$("$SHMLOG_DUMP" read --format json "$out" | wc -l)" -ge 100

# ---- status: exit 4 and why, unless a collector drains ----
seg=$tmp/seg2
out=$tmp/out2
mkdir -p "$seg" "$out"
export SHMLOG_DIR=$seg
# No producer, no collector: nothing runs that writes to --out.
"$SHMLOG_DUMP" status --dir "$seg" --out "$out" --watch 0.1 >"$tmp/status0.txt" 2>&1
check "status exits 4 when no collector runs for --out" test $? -eq 4
check "status says no collector runs" grep -qF "status: no collector draining: no shmlog-collector runs, and none has an open file in $out" \
    "$tmp/status0.txt"
diag "$tmp/status0.txt"
# An idle collector, no producer: it has no file open yet, and runs.
collector_start "$tmp/collector-idle.log" --dir "$seg" --out "$out"
check "status exits 0 while an idle collector runs for --out" \
    wait_for 10 bash -c "'$SHMLOG_DUMP' status --dir '$seg' --out '$out' --watch 0.1 >/dev/null 2>&1"
collector_stop
# On one cpu: a thread that moved while the collector is stopped below would make a ring no collector
# claimed yet, and status would rightly name that one instead.
taskset -c 0 "$TEST_PRODUCER" --threads 1 --forever --burst 2 --pause-us 10000 >"$tmp/producer2.out" &
prod=$!
pids+=("$prod")
wait_for 10 grep -q ready "$tmp/producer2.out"
"$SHMLOG_DUMP" status --dir "$seg" --out "$out" --watch 0.2 >"$tmp/status1.txt" 2>&1
check "status exits 4 when no collector drains a producer's ring" test $? -eq 4
check "status says which ring no collector drains" grep -q "status: no collector draining: [0-9]* rings\? \(is\|are\) drained by no running collector (the first: tprod\[$prod\] cpu[0-9]*)" \
    "$tmp/status1.txt"
diag "$tmp/status1.txt"
SHMLOG_OUT=$out "$SHMLOG_DUMP" status --dir "$seg" --watch 0.2 --format json >"$tmp/status1.json" 2>&1
check "status --format json exits 4 with no_collector and draining false" python3 -c "
import json, sys
s = json.load(open('$tmp/status1.json'))
sys.exit(0 if 'no running collector' in s['no_collector'] and not s['collector']['draining'] else 1)"

collector_start "$tmp/collector2.log" --dir "$seg" --out "$out" --max-delay-ms 20
check "the collector opens its file" wait_for 10 bash -c "ls '$out'/*.part"
# The collector claims the producer's ring within its first scan.
wait_for 10 bash -c "'$SHMLOG_DUMP' status --dir '$seg' --out '$out' --watch 0.1 >/dev/null 2>&1"
"$SHMLOG_DUMP" status --dir "$seg" --out "$out" --watch 0.3 >"$tmp/status2.txt" 2>&1
check "status exits 0 while the collector drains" test $? -eq 0
check "status says ok" grep -q '^status: ok, no drops during the sample' "$tmp/status2.txt"
"$SHMLOG_DUMP" status --dir "$seg" --out "$out" --watch 0.1 --format json >"$tmp/status2.json" 2>&1
check "status --format json: draining true, no_collector null" python3 -c "
import json, sys
s = json.load(open('$tmp/status2.json'))
sys.exit(0 if s['no_collector'] is None and s['collector']['draining'] else 1)"

# Stopped: alive, claiming the ring, draining nothing. The oldest record
# waits past status's 5 s bound (by the clock, not by anyone's speed).
kill -STOP "$col"
sleep 6
"$SHMLOG_DUMP" status --dir "$seg" --out "$out" --watch 0.3 >"$tmp/status3.txt" 2>&1
check "status exits 4 when the collector is stopped and a ring waits" test $? -eq 4
check "status names the waiting ring" grep -q "status: no collector draining: collector pid $col has not drained cpu[0-9]* for [0-9.]* s" \
    "$tmp/status3.txt"
diag "$tmp/status3.txt"
kill -CONT "$col"
check "status exits 0 again once it drains" \
    wait_for 15 bash -c "'$SHMLOG_DUMP' status --dir '$seg' --out '$out' --watch 0.2 >/dev/null 2>&1"

# Gone: the ring it claimed is drained by nobody.
collector_stop KILL 2>/dev/null
"$SHMLOG_DUMP" status --dir "$seg" --out "$out" --watch 0.2 >"$tmp/status4.txt" 2>&1
check "status exits 4 when the collector is gone" test $? -eq 4
check "status says the rings are drained by no running collector" grep -q "status: no collector draining: [0-9]* rings\? \(is\|are\) drained by no running collector" \
    "$tmp/status4.txt"
kill -KILL "$prod"
wait "$prod" 2>/dev/null
rm -rf "$seg" && mkdir -p "$seg"
# Gone, with no producer left: its open file names a pid that no longer runs.
"$SHMLOG_DUMP" status --dir "$seg" --out "$out" --watch 0.2 >"$tmp/status5.txt" 2>&1
check "status exits 4 when the collector that wrote --out's open file is gone" test $? -eq 4
check "status names the pid that is gone" grep -q "status: no collector draining: collector pid $col, which writes .*, is not running" \
    "$tmp/status5.txt"
diag "$tmp/status5.txt"

# ---- status: a collector whose binary was replaced on disk (an upgrade without a restart) ----
seg=$tmp/seg3
out=$tmp/out3
mkdir -p "$seg" "$out" "$tmp/oldbin"
export SHMLOG_DIR=$seg
cp "$COLLECTOR" "$tmp/oldbin/shmlog-collector"
COLLECTOR=$tmp/oldbin/shmlog-collector collector_start "$tmp/collector3.log" --dir "$seg" --out "$out" --max-delay-ms 20
"$TEST_PRODUCER" --threads 1 --count 100 >"$tmp/producer3.out"
check "the collector from the copied binary opens its file" wait_for 10 bash -c "ls '$out'/*.part"
"$SHMLOG_DUMP" status --dir "$seg" --out "$out" --watch 0.1 >"$tmp/status6.txt" 2>&1
check "status exits 0 while the collector's binary is the one it started from" test $? -eq 0
# Drops while a collector drains (held up for the sample, not long enough to count as stuck): 3.
"$TEST_PRODUCER" --threads 1 --forever --ring-bytes 65536 --burst 50 --pause-us 200 >"$tmp/producer4.out" &
prod=$!
pids+=("$prod")
wait_for 10 grep -q ready "$tmp/producer4.out"
wait_for 10 bash -c "'$SHMLOG_DUMP' status --dir '$seg' --out '$out' --watch 0.1 >/dev/null 2>&1"
kill -STOP "$col"
"$SHMLOG_DUMP" status --dir "$seg" --out "$out" --watch 1 >"$tmp/status8.txt" 2>&1
status_rc=$?
kill -CONT "$col"
check "status exits 3 when a producer drops while a collector drains" test "$status_rc" -eq 3
check "status says only the drops" test "$(grep -c '^status: ' "$tmp/status8.txt")" -eq 1 -a \
    "$(grep -c '^status: [0-9]* records dropped during the sample' "$tmp/status8.txt")" -eq 1
diag "$tmp/status8.txt"
kill -KILL "$prod"
wait "$prod" 2>/dev/null
rm "$tmp/oldbin/shmlog-collector"
"$SHMLOG_DUMP" status --dir "$seg" --out "$out" --watch 0.1 >"$tmp/status7.txt" 2>&1
check "status exits 5 when the collector runs a binary replaced on disk" test $? -eq 5
check "status names the collector and the deleted binary" grep -qF \
    "status: stale collector: collector pid $col runs $tmp/oldbin/shmlog-collector (deleted), a binary replaced on disk" \
    "$tmp/status7.txt"
diag "$tmp/status7.txt"
"$SHMLOG_DUMP" status --dir "$seg" --out "$out" --watch 0.1 --format json >"$tmp/status7.json" 2>&1
check "status --format json exits 5 with stale_collector and no_collector null" python3 -c "
import json, sys
s = json.load(open('$tmp/status7.json'))
sys.exit(0 if '(deleted)' in s['stale_collector'] and s['no_collector'] is None else 1)"
collector_stop

tap_done
