#!/bin/bash
# Description: readers that skip frames by the files' index give exactly what they give reading every frame (SHMLOG_NO_INDEX=1): read (JSON: every field of a text line and more) and stats over the files of two producers under a real collector, rotated, and a .part its collector left when killed, for time windows at the start, middle and end, empty windows, levels, categories, app, pid, --where terms (=, !=, numbers) and their combinations, and --grep patterns (index version 6 asks its frames for the words a match shows whole: a word no message holds rules frames out; version 8 asks its index frames' gram filters for the runs of word bytes a match shows, whole or not, so a part of a word no message holds rules frames out too; case, numbers, alternation and groups rule out none); and over a corpus file without an index; over the corpus files of every index version, and those whose threads' traces hold over frames (index version 5 restates a skipped frame's trace records; a file of version 3 is read from its trace site on), --where, --thread and --trace give the same records and trace ids. A query that rules frames out skips them (stats says how many); a bad --where is one usage error naming it.
# usage: test_read_index.sh CORPUS_DIR (meson test sets SHMLOG_DUMP, COLLECTOR, SHMLOG_SAMPLE)
set -u
corpus=$1
tmp=$(mktemp -d /tmp/shmlog-test-read-index-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR SHMLOG_SAMPLE

seg=$tmp/seg
out=$tmp/out
mkdir -p "$seg"
# Small files and frames: many frames, several files, and index frames in each.
collector_start "$tmp/collector.log" --dir "$seg" --out "$out" --max-delay-ms 10 --rotate-size 48k
SHMLOG_DIR=$seg "$SHMLOG_SAMPLE" --app alpha --count 20000 --threads 2 --rate 20000 >"$tmp/alpha.out" 2>&1 &
sample=$!
SHMLOG_DIR=$seg "$SHMLOG_SAMPLE" --app beta --count 8000 --threads 1 --rate 8000 >"$tmp/beta.out" 2>&1
wait $sample
check "the producers dropped nothing" grep -q ' 0 dropped' "$tmp/alpha.out" "$tmp/beta.out"
check "the collector removes the segments after the exit markers" segments_gone "$seg"
check "the collector exits 0 on SIGTERM" collector_stop
# Then a collector killed while its file is open: a .part, indexed as far as it was written; in it
# losses (a producer of a small ring while the collector is stopped) and that producer's exit.
collector_start "$tmp/collector2.log" --dir "$seg" --out "$out" --max-delay-ms 10 --rotate-size 64M
SHMLOG_DIR=$seg "$TEST_PRODUCER" --app lossy --threads 1 --forever --ring-bytes 65536 --burst 50 --pause-us 2000 \
    >"$tmp/lossy.out" 2>&1 &
lossy=$!
wait_for 10 grep -q ready "$tmp/lossy.out"
SHMLOG_DIR=$seg "$SHMLOG_SAMPLE" --app gamma --count 10000 --threads 1 --rate 10000 >"$tmp/gamma.out" 2>&1 &
gamma=$!
sleep 0.3
kill -STOP "$col"
sleep 0.4
kill -CONT "$col"
wait $gamma
kill -TERM $lossy
wait $lossy 2>/dev/null
segments_gone "$seg"
collector_stop KILL
check "the killed collector left a .part" compgen -G "$out/*.shlog.part"
check "several closed files" test "$(ls "$out"/*.shlog | wc -l)" -ge 3
check "the stopped collector's producer of a small ring dropped records" grep -q '"loss"' \
    <("$SHMLOG_DUMP" read --format json --app lossy "$out")

"$SHMLOG_DUMP" read --format json "$out" >"$tmp/everything.json"
# Times and values to ask about, from what the files hold.
python3 - "$tmp/everything.json" >"$tmp/picks" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
recs = [r for r in recs if "msg" in r]
ts = sorted(r["ts_ns"] for r in recs)
n = len(ts)
ids = [r["fields"]["id"] for r in recs if "id" in r.get("fields", {})]
pid = next(r["pid"] for r in recs if r["app"] == "beta")
print("first=%d mid=%d last=%d" % (ts[0], ts[n // 2], ts[-1]))
print("q1=%d q3=%d" % (ts[n // 4], ts[3 * n // 4]))
# The widest gap between two records: a window in it holds none.
gap = max(range(n - 1), key=lambda i: ts[i + 1] - ts[i])
print("gap=%d" % (ts[gap] + 1))
print("id_mid=%d id_last=%d id_none=%d" % (ids[len(ids) // 2], ids[-1], max(ids) + 1000))
print("beta_pid=%d" % pid)
# A thread of beta's, by its number: its records, and a thread's name no record has.
print("beta_tid=%d" % next(r["tid"] for r in recs if r["app"] == "beta" and r["tid"] != r["pid"]))
# Around the first loss marker and the lossy producer's exit: windows that hold them.
lines = [json.loads(l) for l in open(sys.argv[1])]
loss = next(r["ts_ns"] for r in lines if "loss" in r)
end = next(r["ts_ns"] for r in lines if "exit" in r and r.get("app") == "lossy")
print("loss=%d lossy_exit=%d" % (loss, end))
# An id one of whose records has a qty of 100 or more: what --where id=N --where qty>=100 keeps.
big = [r["fields"]["id"] for r in recs if "id" in r.get("fields", {}) and isinstance(r["fields"].get("qty"), int) and r["fields"]["qty"] >= 100]
print("id_big_qty=%d" % big[len(big) // 2])
EOF
. "$tmp/picks"
ms=1000000

queries=(
    "--since $first --until $((first + ms))"
    "--since $mid --until $((mid + ms))"
    "--since $last --until $((last + ms))"
    "--since $((last - 50 * ms))"
    "--until $((first + 30 * ms))"
    "--since $q1 --until $q3"
    "--since $gap --until $((gap + 1))"
    "--since $((last + 1000 * ms))"
    "--until $((first - 1000 * ms))"
    "--level ERROR"
    "--level WARN"
    "--level FATAL"
    "--category risk"
    "--category md --level INFO"
    "--app beta"
    "--app nobody"
    "--pid $beta_pid"
    "--pid 1"
    "--where id=$id_mid"
    "--where id=$id_last"
    "--where id=$id_none"
    "--where sym=SPY"
    "--where sym=NOSUCH"
    "--where sym!=SPY --level WARN"
    "--where qty>=500"
    "--where qty<2 --where sym=AAPL"
    "--where px>588.5 --where px<=600"
    "--where tif=D --app beta"
    "--where id=$id_mid --app alpha"
    "--where sym=TSLA --since $q1 --until $((q1 + 20 * ms))"
    "--level ERROR --since $mid --until $((mid + 100 * ms)) --app alpha"
    "--grep throttle --level ERROR"
    "--thread shmlog-sample --level ERROR --since $q3"
    "--thread shmlog-sample"
    "--thread nobody"
    "--thread $beta_tid"
    "--thread $beta_tid --since $q1 --until $q3"
    "--thread 1"
    "--since $((loss - 2 * ms)) --until $((loss + 2 * ms))"
    "--since $loss --until $((loss + 1))"
    "--since $((lossy_exit - ms)) --until $((lossy_exit + ms))"
    "--app lossy --level WARN"
    "--app gamma --since $loss"
)
same=0
differ=()
skipped_any=0
unread=0
for q in "${queries[@]}"; do
    # JSON has every field of the text line and more (ts_ns, the fields).
    # shellcheck disable=SC2086 # each query is its words
    "$SHMLOG_DUMP" read --format json $q "$out" >"$tmp/ix.json" 2>"$tmp/ix.err"
    # shellcheck disable=SC2086
    SHMLOG_NO_INDEX=1 "$SHMLOG_DUMP" read --format json $q "$out" >"$tmp/all.json" 2>"$tmp/all.err"
    # shellcheck disable=SC2086
    "$SHMLOG_DUMP" stats --format json $q "$out" >"$tmp/ix.stats" 2>/dev/null
    # shellcheck disable=SC2086
    SHMLOG_NO_INDEX=1 "$SHMLOG_DUMP" stats --format json $q "$out" >"$tmp/all.stats" 2>/dev/null
    nskip=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["index_skipped_frames"])' "$tmp/ix.stats")
    [ "$nskip" -gt 0 ] && skipped_any=$((skipped_any + 1))
    unread=$((unread + $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["index_unread_frames"])' "$tmp/ix.stats")))
    sed -i 's/"index_skipped_frames":[0-9]*,"index_unread_frames":[0-9]*,//' "$tmp/ix.stats" "$tmp/all.stats"
    if cmp -s "$tmp/ix.json" "$tmp/all.json" && cmp -s "$tmp/ix.err" "$tmp/all.err" &&
        cmp -s "$tmp/ix.stats" "$tmp/all.stats"; then
        same=$((same + 1))
        echo "# same ($(wc -l <"$tmp/ix.json") lines, $nskip frames skipped): $q"
    else
        differ+=("$q")
        for f in json err stats; do
            diff "$tmp/ix.$f" "$tmp/all.$f" | head -5 | diag /dev/stdin
        done
    fi
done
# check_none_differ WHAT QUERY...: WHAT holds when no query is given; each one given differs
check_none_differ() {
    local what=$1 q
    shift
    check "$what" test $# -eq 0
    for q in "$@"; do
        diag <(echo "differs: $q")
    done
}
check_none_differ "each of ${#queries[@]} queries prints the same with the index as reading every frame (read, stats)" \
    "${differ[@]}"
check "the index ruled out frames in most queries ($skipped_any of ${#queries[@]})" test "$skipped_any" -ge 20
check "most frames ruled out are taken from the index unread (plain: $unread)" test "$unread" -gt 0
# The closed files' frames are large (the producers' rings drain in big batches); the .part's are
# small (a 64 KiB ring drained often): a small frame's own filter, at most 4 % of its bytes, says
# "maybe" to most keys, and the filter of its index frame's 16 (index version 4) rules them out.
closed=("$out"/*.shlog)
part=("$out"/*.shlog.part)
stats_skipped() { "$SHMLOG_DUMP" stats --format json "$@" | python3 -c 'import json,sys; print(json.load(sys.stdin)["index_skipped_frames"])'; }
# Each closed file's frames: its frames of records and its footer, which no query reads as records.
closed_records=$(($(SHMLOG_NO_INDEX=1 "$SHMLOG_DUMP" stats --format json "${closed[@]}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["frames"])') - ${#closed[@]}))
check "an id no record has: at least 3/4 of the closed files' frames of records are ruled out" \
    test "$(stats_skipped --where "id=$id_none" "${closed[@]}")" -ge $((closed_records * 3 / 4))
part_frames=$(SHMLOG_NO_INDEX=1 "$SHMLOG_DUMP" stats --format json "${part[@]}" 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["frames"])')
check "an id no record has: 3/4 of the .part's small frames are ruled out, but the 63 after its last index frame" \
    test "$(stats_skipped --where "id=$id_none" "${part[@]}" 2>/dev/null)" -ge $((part_frames * 3 / 4 - 63))
# A file's first frame names its threads again, and only plain frames are asked for threads.
check "--thread of a name no thread has: the closed files' plain frames, most of them, are ruled out (index version 3 holds their threads)" \
    test "$(stats_skipped --thread nobody "${closed[@]}")" -ge $((closed_records / 2))
check "--thread of one thread: frames of the others' records only are ruled out" \
    test "$(stats_skipped --thread "$beta_tid" "$out")" -gt 0
# ---- --grep through the index (version 6: a frame's messages' whole words are its keys) ----
# Each pattern gives the same with the index as reading every frame; those of a word it holds whole
# (between literal non-word bytes, or after ^) rule out the frames without it, the others none.
grep_same=0
grep_differ=()
greps=(" zebra " "^zebra " "^heartbeat " " throttle" "exchange throttle" "=exchange " "reason=exchange throttle\$"
    " collar" "=BTC-PERP " "sym=EURUSD " "venue=CME " "^tick sym=AAPL " "opposite side" "self-trade" "trade "
    "thrott" "hrottle" "Throttle" " Throttle" " THROTTLE " "zebra" "collar\$" "x?collar " "(exchange) throttle"
    "exchange|zebra" " zebra|^tick " "\\bthrottle\\b" "[t]hrottle " " zebr[a] " " zebra+ " "pnl realized="
    "side=buy " " 1 " " 12 " "id=[0-9]+ " "sym=SP." "\\." "ack id" " qty=1 " "liquidity=A" "util=[0-9.]+%"
    " dead " " nil " " INF " " nan " "=XNAS " "=XNAS\\>" "\\<XNAS " "=xnas " " order " "near limit " ".zebra "
    "\\ zebra\\ " "{zebra} " " zebra{1} " "a\\|zebra "
    "zebr" "ebra" "hrottl" "rottle" "xchange thr" "ge thro" "URUS" "EURUS" "BTC-PER" "TC-P" "ym=ESZ" "ym=zz"
    "zeb+ra" "thr[o]ttle" "thro.tle" "zzz" "ack id=[0-9]+ " "reject.*zebra" "(zebra)?thrott" "rottlez" "Ack"
    "THROTTL" "ickx" "tick sym" "ck sy" "k sym=A" "ostrich|rottl" "ebra\\." "dea" "fill.*venue=XN")
for p in "${greps[@]}"; do
    "$SHMLOG_DUMP" read --format json --grep "$p" "$out" >"$tmp/gix.json" 2>&1
    SHMLOG_NO_INDEX=1 "$SHMLOG_DUMP" read --format json --grep "$p" "$out" >"$tmp/gall.json" 2>&1
    if cmp -s "$tmp/gix.json" "$tmp/gall.json"; then
        grep_same=$((grep_same + 1))
        echo "# same ($(wc -l <"$tmp/gix.json") lines, $(stats_skipped --grep "$p" "$out") frames skipped): --grep '$p'"
    else
        grep_differ+=("--grep '$p'")
        diff "$tmp/gix.json" "$tmp/gall.json" | head -5 | diag /dev/stdin
    fi
done
check_none_differ "each of ${#greps[@]} --grep patterns prints the same with the index as reading every frame" \
    "${grep_differ[@]}"
check "--grep ' zebra ' (a whole word no message holds): at least 3/4 of the closed files' frames ruled out" \
    test "$(stats_skipped --grep ' zebra ' "${closed[@]}")" -ge $((closed_records * 3 / 4))
check "--grep '^zebra ' and ' zebra\\.': ruled out as well" \
    test "$(stats_skipped --grep '^zebra ' "${closed[@]}")" -ge $((closed_records * 3 / 4)) -a \
    "$(stats_skipped --grep ' zebra\.' "${closed[@]}")" -ge $((closed_records * 3 / 4))
for p in " (zebra) " "Zebra|x" " zebra|x" " dead " " 12 " " nil " " NaN " " z " "zz" "abcdef" "(zebra)+"; do
    check "--grep '$p' (no run of word bytes a match shows, or one a number may show) rules out no frame" \
        test "$(stats_skipped --grep "$p" "$out")" -eq 0
done
# Index version 8: an index frame's gram filter holds the runs of three bytes of its frames' words, at
# most 0.25 % of its frames' bytes: the small files above have none. A host's larger frames (one file,
# frames sealed by age) have them, so a part of a word no message holds rules out their frames.
grams=$tmp/grams
collector_start "$tmp/collector3.log" --dir "$seg" --out "$grams"
SHMLOG_DIR=$seg "$SHMLOG_SAMPLE" --app delta --count 60000 --threads 1 --rate 30000 >"$tmp/delta.out" 2>&1
segments_gone "$seg"
check "the collector of larger frames exits 0 on SIGTERM" collector_stop
gram_frames=$(($(SHMLOG_NO_INDEX=1 "$SHMLOG_DUMP" stats --format json "$grams" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["frames"])') - 1))
gram_differ=()
for p in "zebra" " zebra" "zebra " ".zebra " " zebr[a] " " zebra+ " "\\<zebra\\>" " zebra\$" "ebra" "rottlez" \
    "xchange throttlez" "zeb.ra" "hrottl" "xchange thr" "URUS" "BTC-PER" "ack id" "thr[o]ttle" "zeb+ra" "(zebra)?thrott"; do
    "$SHMLOG_DUMP" read --format json --grep "$p" "$grams" >"$tmp/gix.json" 2>&1
    SHMLOG_NO_INDEX=1 "$SHMLOG_DUMP" read --format json --grep "$p" "$grams" >"$tmp/gall.json" 2>&1
    if cmp -s "$tmp/gix.json" "$tmp/gall.json"; then
        echo "# same ($(wc -l <"$tmp/gix.json") lines, $(stats_skipped --grep "$p" "$grams") of $gram_frames frames skipped): --grep '$p'"
    else
        gram_differ+=("--grep '$p'")
    fi
done
check_none_differ "parts of words over larger frames: each prints the same with the index as reading every frame" \
    "${gram_differ[@]}"
for p in "zebra" " zebra" "zebra " ".zebra " " zebr[a] " " zebra+ " "\\<zebra\\>" " zebra\$" "ebra" "rottlez" \
    "xchange throttlez" "zeb.ra"; do
    check "--grep '$p' (a run of word bytes no message holds): at least 3/4 of the larger frames ruled out" \
        test "$(stats_skipped --grep "$p" "$grams")" -ge $((gram_frames * 3 / 4))
done
for p in "hrottl" "xchange thr" "URUS" "BTC-PER"; do
    check "--grep '$p' (a part of words messages hold) is read where it is: not every frame ruled out" \
        test "$(stats_skipped --grep "$p" "$grams")" -lt "$gram_frames"
done
check "SHMLOG_NO_INDEX=1 skips none" test "$(SHMLOG_NO_INDEX=1 stats_skipped --level FATAL "$out")" -eq 0
check "no filter skips none" test "$(stats_skipped "$out")" -eq 0

# ---- A file without an index (written before it) reads as ever ----
old=$corpus/v2-clock/processes.shlog
for q in "--level WARN" "--app clockapp" "--where n=3" "--since 0 --until 1"; do
    # shellcheck disable=SC2086
    "$SHMLOG_DUMP" read --format json $q "$old" >"$tmp/old-ix.json" 2>&1
    # shellcheck disable=SC2086
    SHMLOG_NO_INDEX=1 "$SHMLOG_DUMP" read --format json $q "$old" >"$tmp/old-all.json" 2>&1
    check "a file without an index, $q: the same" cmp "$tmp/old-ix.json" "$tmp/old-all.json"
done

# ---- Corpus files of every index version: the plain frames of 2 and 3 go unread, the answer the same ----
corpus_same_with_index() { # file, query (its words)
    # shellcheck disable=SC2086
    "$SHMLOG_DUMP" read --format json $2 "$1" >"$tmp/c-ix.json" 2>&1
    # shellcheck disable=SC2086
    SHMLOG_NO_INDEX=1 "$SHMLOG_DUMP" read --format json $2 "$1" >"$tmp/c-all.json" 2>&1
    check "${1#"$corpus"/} $2: the same with the index" cmp "$tmp/c-ix.json" "$tmp/c-all.json"
}
for f in "$corpus"/v2-index/index.shlog "$corpus"/v2-index2/index.shlog "$corpus"/v2-index2/losses.shlog \
    "$corpus"/v2-index2/rotation "$corpus"/v2-index3/index.shlog "$corpus"/v2-index3/losses.shlog \
    "$corpus"/v2-index3/rotation "$corpus"/v2-index4/index.shlog "$corpus"/v2-index4/losses.shlog \
    "$corpus"/v2-index4/rotation "$corpus"/v2-index5/index.shlog "$corpus"/v2-index5/losses.shlog \
    "$corpus"/v2-index5/rotation "$corpus"/v2-index6/index.shlog "$corpus"/v2-index6/losses.shlog \
    "$corpus"/v2-index6/rotation "$corpus"/v2-index6/records.shlog "$corpus"/v2-index6/processes.shlog \
    "$corpus"/v2-index7/index.shlog "$corpus"/v2-index7/losses.shlog "$corpus"/v2-index7/rotation \
    "$corpus"/v2-index7/records.shlog "$corpus"/v2-index7/processes.shlog "$corpus"/v2-index7/grouped.shlog \
    "$corpus"/v2-index8/index.shlog "$corpus"/v2-index8/losses.shlog "$corpus"/v2-index8/rotation \
    "$corpus"/v2-index8/records.shlog "$corpus"/v2-index8/processes.shlog "$corpus"/v2-index8/grouped.shlog \
    "$corpus"/v2-index8/grams.shlog "$corpus"/v2-index9/index.shlog "$corpus"/v2-index9/losses.shlog \
    "$corpus"/v2-index9/rotation "$corpus"/v2-index9/records.shlog "$corpus"/v2-index9/processes.shlog \
    "$corpus"/v2-index9/grouped.shlog "$corpus"/v2-index9/grams.shlog "$corpus"/v2-index9/traces.shlog; do
    for q in "--where order=7005" "--level ERROR" "--app pricer" "--since 0 --until 1" "--grep zebra" \
        "--grep note=rare-" "--grep -word\$" "--grep =routine\$" "--grep ^fill.order=7005." "--grep ^reject.sym=" \
        "--grep ,truncated:" "--thread 501" "--thread pricer-main" "--grep are-" "--grep ebra" "--grep outin" \
        "--grep ardva" "--grep =XLO" "--grep uarterl"; do
        corpus_same_with_index "$f" "$q"
    done
done
corpus_unread() { "$SHMLOG_DUMP" stats --format json --where order=7005 "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["index_unread_frames"])'; }
check "index version 2: frames of records ruled out go unread" test "$(corpus_unread "$corpus/v2-index2/index.shlog")" -ge 30
check "index version 3: frames of records ruled out go unread (their anchors from the summaries)" \
    test "$(corpus_unread "$corpus/v2-index3/index.shlog")" -ge 30
for v in 4 5 6 7 8 9; do
    check "index version $v: frames of records ruled out go unread" \
        test "$(corpus_unread "$corpus/v2-index$v/index.shlog")" -ge 30
done
for q in "--grep =okapi\$" "--grep =V0q3\$" "--grep =V20q3\$" "--grep =zebra\$" "--where venue=okapi" \
    "--where venue=V20q3" "--since 0 --until 1"; do
    corpus_same_with_index "$corpus/v2-index7/grouped.shlog" "$q"
done
grouped_skipped() { "$SHMLOG_DUMP" stats --format json --where "venue=$1" "$corpus/v2-index7/grouped.shlog" | python3 -c 'import json,sys; print(json.load(sys.stdin)["index_skipped_frames"])'; }
# grouped.shlog's 48 frames of quotes have no filter of their own: the first 16 their group's, the
# others none; its last frame has no records (ruled out by any query)
check "index version 7: a venue in none of grouped.shlog's frames: the 16 of a group filter ruled out" \
    test "$(grouped_skipped zebra)" -eq 17
check "index version 7: a venue of every frame of the first group: none of grouped.shlog's quotes ruled out" \
    test "$(grouped_skipped V0q3)" -eq 1
check "index version 7: a venue of frame 20: the frames of the group filter ruled out, none of those without one" \
    test "$(grouped_skipped V20q3)" -eq 17
corpus_grep_skipped() { "$SHMLOG_DUMP" stats --format json --grep "$2" "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["index_skipped_frames"])'; }
check "index version 6: --grep note=rare- (a word its messages show whole) rules out the frames without it" \
    test "$(corpus_grep_skipped "$corpus/v2-index6/index.shlog" note=rare-)" -ge 35
check "index version 8: --grep ebra (a part of a word no message holds) rules out grams.shlog's 20 frames of orders" \
    test "$(corpus_grep_skipped "$corpus/v2-index8/grams.shlog" ebra)" -ge 20
check "index version 8: --grep ardva (in the first index frame's frames) rules out the 4 of the footer only" \
    test "$(corpus_grep_skipped "$corpus/v2-index8/grams.shlog" ardva)" -eq 5
check "index version 7: --grep ebra rules out none (its index frames hold no grams)" \
    test "$(corpus_grep_skipped "$corpus/v2-index7/index.shlog" ebra)" -eq 0
check "index version 5: --grep note=rare- rules out none (its entries do not say their messages' words are keys)" \
    test "$(corpus_grep_skipped "$corpus/v2-index5/index.shlog" note=rare-)" -eq 0
# Traces held over frames (index version 5 restates a skipped frame's trace records), and a file of
# index version 3 with trace records (read from its trace site's definition on).
for f in "$corpus"/v2-index5/traces.shlog "$corpus"/v2-index5/trace.shlog "$corpus"/v2-trace/trace.shlog \
    "$corpus"/v2-index6/traces.shlog "$corpus"/v2-index6/trace.shlog "$corpus"/v2-index7/traces.shlog; do
    for q in "--where order=9030" "--where order=9052" "--where order=9103" "--since 0 --until 1" \
        "--thread 802 --where order=9104" "--trace 5ac0ffee000000000000000000000010" \
        "--trace 5ac0ffee000000000000000000000017" "--trace 5ac0ffee000000000000000000000018" "--trace 9017" \
        "--trace 4bf92f3577b34da6a3ce929d0e0e4736" "--trace 1234"; do
        corpus_same_with_index "$f" "$q"
    done
done
check "traces.shlog --where order=9103: its record's trace, set 2 frames before, is carried over the frames skipped" \
    grep -q '"trace_id":"5ac0ffee000000000000000000000020"' <("$SHMLOG_DUMP" read --format json --where order=9103 \
    "$corpus/v2-index5/traces.shlog")
traces_skipped() { "$SHMLOG_DUMP" stats --format json "$@" "$corpus/v2-index5/traces.shlog" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["index_skipped_frames"], s["index_unread_frames"])'; }
read -r ruled taken < <(traces_skipped --where order=9103)
check "traces.shlog --where order=9103: most frames ruled out ($ruled), most of them unread ($taken)" \
    test "$ruled" -ge 35 -a "$taken" -ge 30
read -r ruled taken < <(traces_skipped --trace 5ac0ffee000000000000000000000017)
check "traces.shlog --trace of a trace set and replaced within one frame: the others ruled out ($ruled)" \
    test "$ruled" -ge 35
read -r ruled taken < <(traces_skipped --trace 9017)
check "traces.shlog --trace of a trace held over 10 frames: the other frames ruled out ($ruled)" \
    test "$ruled" -ge 25
check "index version 1: none unread (its entries do not say a frame is plain)" \
    test "$(corpus_unread "$corpus/v2-index/index.shlog")" -eq 0

# ---- --where: what it selects, and a bad term ----
"$SHMLOG_DUMP" read --format json --where "id=$id_big_qty" --where "qty>=100" "$out" >"$tmp/id.json"
check "--where id=N --where qty>=100 keeps exactly the records whose fields hold both" python3 -c "
import json
def holds(r):
    f = r.get('fields', {})
    return f.get('id') == $id_big_qty and isinstance(f.get('qty'), int) and f['qty'] >= 100
want = [l for l in open('$tmp/everything.json') if 'msg' in json.loads(l) and holds(json.loads(l))]
got = [l for l in open('$tmp/id.json') if 'msg' in json.loads(l)]
assert got == want and len(want) > 0, (len(got), len(want))
"
# A %c field is its character in JSON, and a term finds it by that character or by its number.
"$SHMLOG_DUMP" read --format json --where "tif=D" --where "sym=SPY" "$out" >"$tmp/tif.json"
"$SHMLOG_DUMP" read --format json --where "tif=68" --where "sym=SPY" "$out" >"$tmp/tif68.json"
"$SHMLOG_DUMP" read --format json --where "tif!=D" --where "sym=SPY" "$out" >"$tmp/tifne.json"
check "--where tif=D (a %c field) keeps exactly the records whose JSON field is \"D\"; tif=68 the same; tif!=D the others" \
    python3 -c "
import json
recs = [json.loads(l) for l in open('$tmp/everything.json')]
spy = [r for r in recs if 'msg' in r and r.get('fields', {}).get('sym') == 'SPY' and 'tif' in r['fields']]
def msgs(p):
    return [json.loads(l) for l in open(p) if 'msg' in json.loads(l)]
want = [r for r in spy if r['fields']['tif'] == 'D']
assert len(want) > 0 and len(want) < len(spy), (len(want), len(spy))
assert msgs('$tmp/tif.json') == want, 'tif=D'
assert msgs('$tmp/tif68.json') == want, 'tif=68'
assert msgs('$tmp/tifne.json') == [r for r in spy if r['fields']['tif'] != 'D'], 'tif!=D'
"
"$SHMLOG_DUMP" read --where 'qty>' "$out" >"$tmp/bad.out" 2>"$tmp/bad.err"
check "a bad --where is a usage error (2)" test $? -eq 2
check "... whose one line names the term" grep -q "^shmlog-dump: --where 'qty>': " "$tmp/bad.err"
tap_finish
