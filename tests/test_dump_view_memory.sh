#!/bin/bash
# Description: shmlog-dump view over a set of millions of records (four million calls) (a real collector's file) holds a screen, not the set: its peak RSS after paging to the end, back, home and to the end again stays within 16 MiB of its peak after the first screen, and under 128 MiB (the reader's merge memory and a screen; the records decoded would be over 256 MiB); the last screen is read's last lines.
# usage: test_dump_view_memory.sh (meson test sets SHMLOG_DUMP, COLLECTOR, SHMLOG_SAMPLE)
set -u
tmp=$(mktemp -d /tmp/shmlog-test-dump-view-memory-XXXXXX)
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/view_tmux.sh"
trap 'view_tmux_stop; tap_cleanup' EXIT
tap_programs SHMLOG_DUMP COLLECTOR SHMLOG_SAMPLE
tap_require tmux tmux
unset TZ

seg=$tmp/seg
out=$tmp/out
mkdir -p "$seg"
collector_start "$tmp/collector.log" --dir "$seg" --out "$out" --max-delay-ms 20
# Paced under what the collector drains here, so that none is dropped.
SHMLOG_DIR=$seg "$SHMLOG_SAMPLE" --app large --count 4000000 --threads 2 --rate 1500000 >"$tmp/sample.out" 2>&1
diag "$tmp/sample.out"
check "the collector removes the segments after the exit marker" segments_gone "$seg" 30
check "the collector exits 0 on SIGTERM" collector_stop
"$SHMLOG_DUMP" read "$out" 2>/dev/null | cut -c1-$VIEW_COLS | sed 's/ *$//' >"$tmp/all.txt"
check_show "the set has millions of records (a starved collector may drop some of the four million calls)" test "$(wc -l <"$tmp/all.txt")" -ge 2000000

hwm() { awk '/^VmHWM/ {print $2}' "/proc/$(view_pid)/status"; }
view_start "$SHMLOG_DUMP" view "$out"
head -n "$VIEW_ROWS" "$tmp/all.txt" >"$tmp/want_first"
check "the first screen is read's first lines" wait_for 60 screen_is "$tmp/want_first"
first=$(hwm)
tail -n "$VIEW_ROWS" "$tmp/all.txt" >"$tmp/want_end"
view_keys "end" End
check "End: read's last lines" wait_for 60 screen_is "$tmp/want_end"
view_keys "five pages up" PPage PPage PPage PPage PPage
tail -n $((6 * VIEW_ROWS)) "$tmp/all.txt" | head -n "$VIEW_ROWS" >"$tmp/want_back"
check "five pages up from the end: the lines five screens before the last" wait_for 60 screen_is "$tmp/want_back"
view_keys "home" Home
check "Home: the first screen" wait_for 60 screen_is "$tmp/want_first"
view_keys "end" End
check "End again" wait_for 60 screen_is "$tmp/want_end"
last=$(hwm)
echo "VmHWM after the first screen: $first KiB; after end, five pages up, home and end: $last KiB" >"$tmp/rss"
check_show "the peak RSS grew by 16 MiB at most" test "$last" -le $((first + 16384))
check_show "and stays under 128 MiB" test "$last" -lt $((128 * 1024))
view_keys "quit" q
check "q quits" wait_for 10 view_gone
diag "$tmp/rss" "$tmp/screens.log"
tap_finish
