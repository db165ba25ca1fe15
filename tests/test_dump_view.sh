#!/bin/bash
# Description: shmlog-dump view driven through tmux over a real collector's files: the first screen is read's first lines (also with the command line's filters), and a resized terminal redraws to its size; page down and up move by a screen and back to the same text; a jump to a time shows the first record at or after it; a search highlights its matches and n/N move between the lines grep finds in read's output; a level, app, category, thread and pid filter typed in each shows read's records for the same flag; the detail pane shows the record's fields; follow shows a record written after the viewer started; --live adds the records only the rings hold (the collector stopped) as ring prints them, and with --follow shows a ring's new records and each once after the collector wrote them; a corrupt file gives a line in the status bar and the viewer stays up; q and ^C quit, with nothing on stderr. Every screen before and after each key is in the log.
# usage: test_dump_view.sh (meson test sets SHMLOG_DUMP, COLLECTOR, SHMLOG_SAMPLE)
set -u
tmp=$(mktemp -d /tmp/shmlog-test-dump-view-XXXXXX)
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
# 20000 calls over a second: many frames, and times that differ at every record.
SHMLOG_DIR=$seg "$SHMLOG_SAMPLE" --app viewed --count 20000 --threads 2 --rate 20000 >"$tmp/sample.out" 2>&1
check "the producer dropped nothing" grep -q ' 0 dropped' "$tmp/sample.out"
# another app, pid and threads for the app, pid and thread filters to leave out
SHMLOG_DIR=$seg "$SHMLOG_SAMPLE" --app other --count 2000 --threads 1 --rate 20000 >"$tmp/other.out" 2>&1
check "the other producer dropped nothing" grep -q ' 0 dropped' "$tmp/other.out"
check "the collector removes the segments after the exit marker" segments_gone "$seg"
"$SHMLOG_DUMP" read "$out" 2>/dev/null >"$tmp/full.txt"
cut -c1-$VIEW_COLS "$tmp/full.txt" | sed 's/ *$//' >"$tmp/all.txt"
check "read prints more than two screens" test "$(wc -l <"$tmp/all.txt")" -gt $((3 * VIEW_ROWS))
# lines FILE FROM: the screen's worth of FILE's lines from line FROM (1-based).
lines() { tail -n +"$2" "$1" | head -n "$VIEW_ROWS"; }

# ---- the first screen, pages ----
view_start "$SHMLOG_DUMP" view "$out"
lines "$tmp/all.txt" 1 >"$tmp/want1"
check "the first screen is read's first $VIEW_ROWS lines" wait_for 20 screen_is "$tmp/want1"
check_show "the status line says the time of the cursor's record, no filters and follow off" \
    status_has "$(head -c 30 "$tmp/all.txt") | filters: none | follow off"
# A smaller terminal: 29 rows of 100 columns and the status line.
head -n 29 "$tmp/full.txt" | cut -c1-100 | sed 's/ *$//' >"$tmp/want_small"
small_is() { diff <(screen | head -n 29 | drop_empty_tail) "$tmp/want_small"; }
printf -- '---- before: resize to 100x30\n%s\n' "$(screen_settled)" >>"$tmp/screens.log"
view_tmux resize-window -x 100 -y 30
check "resized to 100x30, it redraws: read's first 29 lines, cut at 100 columns" wait_for 20 small_is
printf -- '---- after: resize to 100x30\n%s\n' "$(screen_settled)" >>"$tmp/screens.log"
view_tmux resize-window -x "$VIEW_COLS" -y "$VIEW_LINES"
check "and back to 120x40: the first screen again" wait_for 20 screen_is "$tmp/want1"
view_keys "page down" NPage
lines "$tmp/all.txt" $((VIEW_ROWS + 1)) >"$tmp/want2"
check "page down shows read's next $VIEW_ROWS lines" wait_for 20 screen_is "$tmp/want2"
view_keys "page down" NPage
lines "$tmp/all.txt" $((2 * VIEW_ROWS + 1)) >"$tmp/want3"
check "page down again: the screen after it" wait_for 20 screen_is "$tmp/want3"
view_keys "page up" PPage
check "page up: the second screen again" wait_for 20 screen_is "$tmp/want2"
view_keys "page up" PPage
check "page up: the first screen again" wait_for 20 screen_is "$tmp/want1"
view_keys "end" End
tail -n "$VIEW_ROWS" "$tmp/all.txt" >"$tmp/want_end"
check "End shows read's last $VIEW_ROWS lines" wait_for 20 screen_is "$tmp/want_end"
check "and the status line says [end]" status_has "[end]"
view_keys "home" Home
check "Home shows the first screen" wait_for 20 screen_is "$tmp/want1"
view_keys "line down to the bottom and one more" $(printf 'j %.0s' $(seq "$VIEW_ROWS"))
lines "$tmp/all.txt" 2 >"$tmp/want_line"
check "j past the bottom row scrolls by one line" wait_for 20 screen_is "$tmp/want_line"
view_keys "line up to the top and one more" $(printf 'k %.0s' $(seq "$VIEW_ROWS"))
check "k past the top row scrolls back by one line" wait_for 20 screen_is "$tmp/want1"

# ---- jump to a time ----
"$SHMLOG_DUMP" read --format json "$out" 2>/dev/null >"$tmp/all.json"
at=$(python3 -c "
import json
recs = [json.loads(l) for l in open('$tmp/all.json')]
print(recs[len(recs) // 2]['ts_ns'] - 1)")
"$SHMLOG_DUMP" read --since "$at" "$out" 2>/dev/null | cut -c1-$VIEW_COLS | sed 's/ *$//' | head -n "$VIEW_ROWS" >"$tmp/want_jump"
view_keys "jump to the time of the middle record less 1 ns" : "$at" Enter
check "the jump shows read --since's first screen" wait_for 20 screen_is "$tmp/want_jump"

# ---- search ----
pattern='reject id=[0-9]+'
grep -nE "$pattern" "$tmp/full.txt" | awk -F: '$1 > 1' | head -3 | cut -d: -f2- | cut -c1-$VIEW_COLS |
    sed 's/ *$//' >"$tmp/matches"
check "read has three lines that match /$pattern/" test "$(wc -l <"$tmp/matches")" -eq 3
view_keys "home" Home
view_keys "search /$pattern" / "$pattern" Enter
check "/ puts the first matching line after the cursor on top" wait_for 20 top_is "$(sed -n 1p "$tmp/matches")"
check "the match is highlighted (reverse video)" top_highlighted "reject id="
view_keys "next match" n
check "n: the next line grep finds" wait_for 20 top_is "$(sed -n 2p "$tmp/matches")"
view_keys "next match" n
check "n again: the third" wait_for 20 top_is "$(sed -n 3p "$tmp/matches")"
view_keys "previous match" N
check "N: back to the second" wait_for 20 top_is "$(sed -n 2p "$tmp/matches")"
view_keys "search back ?" '?' "$pattern" Enter
check "?: back to the first" wait_for 20 top_is "$(sed -n 1p "$tmp/matches")"

# ---- filters typed in ----
view_keys "home" Home
view_keys "level filter WARN" l WARN Enter
"$SHMLOG_DUMP" read --level WARN "$out" 2>/dev/null | cut -c1-$VIEW_COLS | sed 's/ *$//' >"$tmp/warn.txt"
lines "$tmp/warn.txt" 1 >"$tmp/want_warn"
check "level WARN typed in: the records read --level WARN prints" wait_for 20 screen_is "$tmp/want_warn"
check_show "the status line names the filter" status_has "filters: level>=WARN"
view_keys "detail pane" Enter
first_warn=$("$SHMLOG_DUMP" read --level WARN --format json "$out" 2>/dev/null | head -1)
msg=$(printf '%s' "$first_warn" | python3 -c "import json,sys; print(json.load(sys.stdin)['msg'])")
check "the detail pane shows the record's message" wait_for 20 screen_has "message   $msg"
check "and its format" screen_has "format    "
view_keys "detail pane off, filters cleared, home" Enter x Home
check "x clears the typed filters: Home shows the first screen again" wait_for 20 screen_is "$tmp/want1"
view_keys "where filter" w 'qty>=100' Enter
"$SHMLOG_DUMP" read --where 'qty>=100' "$out" 2>/dev/null | cut -c1-$VIEW_COLS | sed 's/ *$//' | head -n "$VIEW_ROWS" >"$tmp/want_where"
check "where qty>=100 typed in: read --where's records" wait_for 20 screen_is "$tmp/want_where"
view_keys "a where the reader refuses" w 'qty>=x' Enter
check_show "a bad where term is a line in the status bar, the screen unchanged" \
    wait_for 20 status_has "where 'qty>=x'"
check "the screen is still the where's" screen_is "$tmp/want_where"
# typed_filter_is NAME KEY VALUE STATUS READ-FLAGS...: KEY with VALUE typed in (the filters cleared before)
# shows read's first screen for READ-FLAGS, which leaves records out, and the status line names STATUS
typed_filter_is() {
    local name=$1 key=$2 value=$3 status=$4
    shift 4
    view_keys "filters cleared, home, then $name $value" x Home "$key" "$value" Enter
    "$SHMLOG_DUMP" read "$@" "$out" 2>/dev/null | cut -c1-$VIEW_COLS | sed 's/ *$//' >"$tmp/filtered.txt"
    [ -s "$tmp/filtered.txt" ] && [ "$(wc -l <"$tmp/filtered.txt")" -lt "$(wc -l <"$tmp/all.txt")" ] ||
        { echo "read $* leaves no record out, or keeps none"; return 1; }
    lines "$tmp/filtered.txt" 1 >"$tmp/want_filtered"
    wait_for 20 screen_is "$tmp/want_filtered" && status_has "filters: $status"
}
pid_other=$(grep -m1 '"app":"other"' "$tmp/all.json" | sed 's/.*"pid":\([0-9]*\).*/\1/')
# the highest of viewed's thread ids: one thread of a process that has others
tid_viewed=$(grep '"app":"viewed"' "$tmp/all.json" | sed -n 's/.*"tid":\([0-9]*\).*/\1/p' | sort -u | tail -1)
check_show "a other typed in: read --app other's records" typed_filter_is app a other "app=other" --app other
check_show "c order typed in: read --category order's records" typed_filter_is category c order "cat=order" \
    --category order
check_show "T $tid_viewed typed in: read --thread $tid_viewed's records" typed_filter_is thread T "$tid_viewed" \
    "thread=$tid_viewed" --thread "$tid_viewed"
check_show "p $pid_other typed in: read --pid $pid_other's records" typed_filter_is pid p "$pid_other" \
    "pid=$pid_other" --pid "$pid_other"
view_keys "quit" q
check "q quits" wait_for 10 view_gone

# ---- the command line's filters ----
view_start "$SHMLOG_DUMP" view --level ERROR --category order --app viewed "$out"
"$SHMLOG_DUMP" read --level ERROR --category order --app viewed "$out" 2>/dev/null | cut -c1-$VIEW_COLS |
    sed 's/ *$//' | head -n "$VIEW_ROWS" >"$tmp/want_cli"
check "view --level ERROR --category order --app viewed: read's records for the same flags" \
    wait_for 20 screen_is "$tmp/want_cli"
view_keys "quit" q

# ---- follow ----
view_start "$SHMLOG_DUMP" view --follow "$out"
check "--follow starts at the end" wait_for 20 screen_is "$tmp/want_end"
SHMLOG_DIR=$seg "$SHMLOG_SAMPLE" --app latecomer --count 200 --threads 1 --rate 1000 >"$tmp/late.out" 2>&1
check "a record written after the viewer started comes on screen" wait_for 20 screen_has "latecomer\\[.*heartbeat"
check "follow on in the status line" status_has "follow on"
view_keys "follow off" F
check "F turns it off" wait_for 10 status_has "follow off"
view_keys "quit" q

# ---- the live rings: what the collector (stopped) has not written ----
kill -STOP "$col"
SHMLOG_DIR=$seg "$SHMLOG_SAMPLE" --app ringonly --count 20 --threads 1 --rate 1000 >/dev/null 2>&1
# records_of FILE: its lines of ringonly's records, the time (the first field) out: a ring's reader maps
# a TSC with its own anchor of the clock
records_of() { grep -E '^[^ ]+ +[A-Z]+ .*ringonly\[' "$1" | grep -vE '^[^ ]+ +(EXIT|LOSS) ' | cut -c1-$VIEW_COLS | cut -d' ' -f2- | sed 's/ *$//'; }
"$SHMLOG_DUMP" ring --dir "$seg" --app ringonly 2>/dev/null >"$tmp/ring.txt"
check_show "ring shows ringonly's records ($(records_of "$tmp/ring.txt" | wc -l)), the files none" \
    sh -c "grep -q 'ringonly\[' '$tmp/ring.txt' && ! '$SHMLOG_DUMP' read --app ringonly '$out' 2>/dev/null | grep -q ."
view_start "$SHMLOG_DUMP" view --app ringonly "$out"
view_keys "(nothing: the files hold none of it)"
check "without --live the viewer shows none of them" sh -c "! tmux -L '$view_sock' -f '$tmp/tmux.conf' capture-pane -p | grep -q 'ringonly\['"
view_keys "quit" q
live_is() { screen >"$tmp/live.screen"; diff <(records_of "$tmp/live.screen") <(records_of "$tmp/ring.txt"); }
view_start "$SHMLOG_DUMP" view --live --dir "$seg" --app ringonly "$out"
check "--live: the rings' records as ring prints them (times aside)" wait_for 20 live_is
view_keys "quit" q
view_start "$SHMLOG_DUMP" view --follow --live --dir "$seg" --app ringonly "$out"
check "--follow --live: the same" wait_for 20 live_is
SHMLOG_DIR=$seg "$SHMLOG_SAMPLE" --app ringonly --count 5 --threads 1 --rate 1000 >/dev/null 2>&1
rows=$("$SHMLOG_DUMP" ring --dir "$seg" --app ringonly 2>/dev/null | tee "$tmp/ring2.txt" | grep -c 'ringonly\[')
# (the lines, cut at the screen's width, of two ticks may be the same: counted, not compared)
ringonly_rows() { screen >"$tmp/live.screen"; [ "$(records_of "$tmp/live.screen" | wc -l)" -eq "$1" ]; }
check "another producer's records in its ring come on screen ($rows in all), the collector still stopped" \
    wait_for 20 ringonly_rows "$rows"
kill -CONT "$col"
check "the collector writes them (its exit markers come from the files)" wait_for 20 screen_has "EXIT +ringonly\\["
check_show "and each record is on screen once" wait_for 10 ringonly_rows "$rows"
view_keys "quit" q
check "the collector exits 0 on SIGTERM" collector_stop

# ---- a corrupt file ----
file=$(ls "$out"/*.shlog | head -1)
cp "$file" "$tmp/corrupt.shlog"
size=$(stat -c %s "$tmp/corrupt.shlog")
printf '\xde\xad\xbe\xef\xde\xad\xbe\xef' | dd of="$tmp/corrupt.shlog" bs=1 seek=$((size / 2)) conv=notrunc status=none
"$SHMLOG_DUMP" read "$tmp/corrupt.shlog" >/dev/null 2>"$tmp/corrupt.err"
check_show "read says the file is damaged" grep -q . "$tmp/corrupt.err"
view_start "$SHMLOG_DUMP" view "$tmp/corrupt.shlog"
view_keys "end of a corrupt file" End
# The end is found by the index, which rules the damaged frame out unread; a search reads every frame.
view_keys "search the whole file for a word no record holds" Home / "no-record-holds-this" Enter
check_show "the status line says the input is damaged" wait_for 20 status_has "damaged input"
check "the viewer is still up" view_alive
view_keys "home" Home
check "and still answers keys: Home shows the first record" wait_for 20 top_is "$(head -1 "$tmp/all.txt")"
view_keys "interrupt" C-c
check "^C quits too" wait_for 10 view_gone
check "the viewers said nothing on stderr (no sanitizer report)" test ! -s "$tmp/view.err"
diag "$tmp/screens.log"
tap_finish
