#!/bin/bash
# Description: shmlog-dump serve's live=1 over a real collector, real producers and their segments: with the collector stopped, /api/query?live=1 answers the records only the rings hold (of a producer that exited, one SIGKILLed, one still running) as shmlog-dump ring shows them, after the files' records and none of them twice; live=0 does not; while the collector drains them (and after), every live=1 query holds each record once; a slot a live thread reserved and has not committed (preempted there) does not hide the records committed after it in its ring (up to a second such slot), and when committed between two pages of a query its record comes in the second; /api/tail?live=1 delivers a ring's records while the collector is stopped and none again when the collector writes them; hostile segments (garbage, a truncated meta segment) leave answers whole and the server up; live=1 on /api/stats or with format=arrow is a 400 naming live.
# usage: test_dump_serve_live.sh (meson test sets SHMLOG_DUMP, COLLECTOR, TEST_PRODUCER, PRODUCER_CHILD, SERVE_CLIENT)
set -u
tmp=$(mktemp -d /tmp/shmlog-test-dump-serve-live-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR TEST_PRODUCER PRODUCER_CHILD
tap_require curl curl
client=${SERVE_CLIENT:?}

seg=$tmp/seg out=$tmp/out
mkdir -p "$seg"
export SHMLOG_DIR=$seg
collector_start "$tmp/collector.log" --dir "$seg" --out "$out" --max-delay-ms 10
"$TEST_PRODUCER" --app filed --threads 2 --count 3000 >/dev/null 2>&1
segments_gone "$seg" || bail "the first producer's segments stayed"

serve_start "$out" --dir "$seg" --listen 127.0.0.1:0
url=http://127.0.0.1:$port

# The collector stops draining: what producers log now stays in their rings.
kill -STOP "$col"
"$TEST_PRODUCER" --app gone --threads 2 --count 2000 --long-every 5 >/dev/null 2>&1
"$TEST_PRODUCER" --app killed --threads 1 --forever --burst 50 --pause-us 1000 >"$tmp/killed.out" 2>&1 &
killed=$!
pids+=("$killed")
wait_for 10 grep -q ready "$tmp/killed.out"
sleep 0.3
kill -KILL "$killed"
wait "$killed" 2>/dev/null || true
mkfifo "$tmp/hold"
"$TEST_PRODUCER" --app running --threads 1 --count 500 --hold >"$tmp/running.out" 2>&1 <"$tmp/hold" &
running=$!
pids+=("$running")
exec 8>"$tmp/hold" # the held producer's stdin: it runs until this closes
wait_for 10 grep -q '^done' "$tmp/running.out" || bail "the running producer did not log"

# records FILE: the records of a JSON Lines answer (markers and the end line out), times out (a ring's
# reader maps a TSC with its own anchor of the clock: the same record may differ by a few ns)
records() {
    python3 -c '
import json, sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    if "msg" in o and "end" not in o:
        o.pop("ts_ns"); o.pop("time")
        print(json.dumps(o, sort_keys=True))' "$1"
}
"$SHMLOG_DUMP" read --format json "$out" 2>/dev/null >"$tmp/files.jsonl"
"$SHMLOG_DUMP" ring --format json --dir "$seg" 2>/dev/null >"$tmp/ring.jsonl"
records "$tmp/files.jsonl" >"$tmp/files.rec"
records "$tmp/ring.jsonl" | sort >"$tmp/ring.rec"
check_show "the rings hold the three producers' records, not in the files ($(wc -l <"$tmp/ring.rec") records)" \
    sh -c "grep -q '\"app\": \"gone\"' '$tmp/ring.rec' && grep -q '\"app\": \"killed\"' '$tmp/ring.rec' &&
           grep -q '\"app\": \"running\"' '$tmp/ring.rec' && ! grep -q '\"app\": \"filed\"' '$tmp/ring.rec' &&
           ! grep -qE '\"app\": \"(gone|killed|running)\"' '$tmp/files.rec'"
curl -sf "$url/api/query" >"$tmp/q0.jsonl"
same_records() { records "$1" | cmp - "$2"; }
check "live=0: the files' records only" same_records "$tmp/q0.jsonl" "$tmp/files.rec"
curl -sf "$url/api/query?live=1" >"$tmp/q1.jsonl"
records "$tmp/q1.jsonl" >"$tmp/q1.rec"
check_show "live=1: the files' records, then the rings' as ring shows them ($(tail -n 1 "$tmp/q1.jsonl"))" \
    sh -c "head -n $(wc -l <"$tmp/files.rec") '$tmp/q1.rec' | cmp - '$tmp/files.rec' &&
           tail -n +$(($(wc -l <"$tmp/files.rec") + 1)) '$tmp/q1.rec' | sort | cmp - '$tmp/ring.rec' &&
           tail -n 1 '$tmp/q1.jsonl' | grep -q '^{\"end\":\"complete\"'"
# A ring keeps its own order (slots in the order they were reserved, whose times a preempted caller can
# invert) and rings merge by time: each record is its ring's next and no other ring's next is older.
in_order() {
    python3 -c '
import json, sys
from collections import defaultdict
recs = [json.loads(l) for l in open(sys.argv[1]) if "msg" in l and "\"end\"" not in l][int(sys.argv[2]):]
rings = defaultdict(list)
for r in recs:
    rings[(r["pid"], r["cpu"])].append(r)
for q in rings.values():
    if [r["seq"] for r in q] != sorted(r["seq"] for r in q):
        sys.exit("a ring out of its own order")
heads = {k: 0 for k in rings}
for r in recs:
    k = (r["pid"], r["cpu"])
    older = [o for o, i in heads.items() if o != k and i < len(rings[o]) and rings[o][i]["ts_ns"] < r["ts_ns"]]
    if older:
        sys.exit("a record of %s sent before an older next one of %s" % (k, older[0]))
    heads[k] += 1' "$tmp/q1.jsonl" "$(wc -l <"$tmp/files.rec")"
}
check "  the rings' records in time order (each ring in its own)" in_order
filtered() {
    "$SHMLOG_DUMP" ring --format json --dir "$seg" --app killed --grep 'i=[0-9]*7 ' 2>/dev/null >"$tmp/rk.jsonl"
    curl -sf "$url/api/query?live=1&app=killed&grep=i%3D%5B0-9%5D*7%20" >"$tmp/qk.jsonl" || return 1
    echo "$(records "$tmp/rk.jsonl" | wc -l) records"
    [ -s "$tmp/rk.jsonl" ] && records "$tmp/qk.jsonl" | sort | cmp - <(records "$tmp/rk.jsonl" | sort)
}
check_show "live=1 with filters: app=killed grep='i=[0-9]*7 ' is ring's --app killed --grep" filtered
paged() {
    python3 "$client" pages "$port" live=1 700 "$tmp/paged.jsonl" || return 1
    records "$tmp/paged.jsonl" | cmp - "$tmp/q1.rec"
}
check_show "live=1 pages by its cursor: limit=700 pages join to the whole answer" paged

# Hostile segments beside them: garbage named as a ring and a meta segment, and a meta segment cut short.
head -c 65536 /dev/urandom >"$seg/evil-4242-cpu0.ring"
head -c 65536 /dev/urandom >"$seg/evil-4242.meta"
cp "$seg/$(ls "$seg" | grep -m1 '^running-.*\.meta$')" "$tmp/meta.copy"
head -c 4096 "$tmp/meta.copy" >"$seg/cut-4343.meta"
curl -sf "$url/api/query?live=1" >"$tmp/q2.jsonl"
check "hostile segments: the live=1 answer is whole all the same" same_records "$tmp/q2.jsonl" "$tmp/q1.rec"
check "  and the server is up" curl -sf "$url/health"
rm -f "$seg/evil-4242-cpu0.ring" "$seg/evil-4242.meta" "$seg/cut-4343.meta"

# The tail: a producer logs while the collector is stopped; its records come from its ring, and
# not again when the collector writes them.
python3 "$client" tail-for "$port" "app=tailed&live=1" 12 "$tmp/tail.jsonl" &
tailer=$!
pids+=("$tailer")
sleep 1
"$TEST_PRODUCER" --app tailed --threads 1 --count 40 >/dev/null 2>&1
tailed() { records "$tmp/tail.jsonl" | grep '"app": "tailed"'; }
tail_has() { [ "$(tailed | wc -l)" -eq "$1" ]; }
check "tail?live=1: a ring's 40 records arrive with the collector stopped" wait_for 8 tail_has 40

# The collector drains again: each query meanwhile holds every record once, and so does the tail.
total=$(wc -l <"$tmp/q1.rec")
exec 8>&- # the held producer ends (its records are all in its ring)
kill -CONT "$col"
once() {
    local i n
    for i in 1 2 3 4 5 6 7 8; do
        curl -sf "$url/api/query?live=1" >"$tmp/qd.jsonl" || return 1
        records "$tmp/qd.jsonl" | grep -v '"app": "tailed"' >"$tmp/qd.rec"
        n=$(sort -u "$tmp/qd.rec" | wc -l)
        echo "query $i: $(wc -l <"$tmp/qd.rec") records, $n distinct, of $total"
        [ "$(wc -l <"$tmp/qd.rec")" -eq "$total" ] && [ "$n" -eq "$total" ] || return 1
    done
}
check_show "while the collector drains the rings, every live=1 query holds each record once" once
segments_gone "$seg" 20
after() {
    "$SHMLOG_DUMP" read --format json "$out" 2>/dev/null | grep -v '"app":"tailed"' >"$tmp/after.jsonl"
    records "$tmp/after.jsonl" | sort | cmp - <(sort "$tmp/q1.rec")
}
check "after it: the files hold them, read and live=1 agree" after
wait "$tailer"
check_show "the tail gave the 40 records once, none again from the files ($(tailed | wc -l), $(tailed | sort -u | wc -l) distinct)" \
    sh -c "[ $(tailed | wc -l) -eq 40 ] && [ $(tailed | sort -u | wc -l) -eq 40 ]"

# A producer logs while the collector drains and queries run: each live=1 answer of its last
# second holds each thread's records i = m, m + 1, ... up to its last without a gap or a repeat, whether
# a record was in the files or still in its ring when the query read it (or moved between the two meanwhile).
"$TEST_PRODUCER" --app stream --threads 2 --count 40000 --burst 20 --pause-us 2000 >"$tmp/stream.out" 2>&1 &
stream=$!
pids+=("$stream")
wait_for 10 grep -q ready "$tmp/stream.out"
sleep 0.5
contiguous() {
    python3 -c '
import json, re, sys
seen = {}
for l in open(sys.argv[1]):
    o = json.loads(l)
    m = re.match(r"t=(\d+) i=(\d+) ", o.get("msg", ""))
    if m:
        seen.setdefault(m.group(1), []).append(int(m.group(2)))
bad = [t for t, v in seen.items() if sorted(v) != list(range(min(v), min(v) + len(v)))]
print(" ".join("t%s:%d" % (t, len(v)) for t, v in sorted(seen.items())), "gaps or repeats in", bad if bad else "none")
sys.exit(1 if bad or not seen else 0)' "$1"
}
streaming() {
    local n=0 bad=0
    while kill -0 "$stream" 2>/dev/null || [ $n -lt 3 ]; do
        curl -sf "$url/api/query?app=stream&live=1&since=-1s" >"$tmp/qs.jsonl" || return 1
        kill -0 "$stream" 2>/dev/null && { contiguous "$tmp/qs.jsonl" || bad=1; }
        n=$((n + 1))
    done
    wait "$stream"
    echo "$n queries while it logged; the producer said: $(cat "$tmp/stream.out" | tr '\n' ' ')"
    grep -q '^done 0$' "$tmp/stream.out" && [ $bad = 0 ] && [ $n -ge 3 ]
}
check_show "queries while a producer logs and the collector drains: no record missed or repeated" streaming

# A thread preempted between its reserve and its commit: the other threads' records after its slot in that ring
# are committed, and a query shows them (a thread that then moved to another cpu's ring would have a gap). A
# query passes over one such slot of a ring (its cursor names it) and ends that ring's part at a second. When
# such threads run again between two pages, the record each commits comes in the next page, in its time's
# place, and nothing of the first page comes again.
kill -STOP "$col"
mkfifo "$tmp/late.hold"
"$PRODUCER_CHILD" "$seg" late 0 1 1000 hole-late <"$tmp/late.hold" >"$tmp/late.out" 2>&1 &
pids+=($!)
exec 7>"$tmp/late.hold"
wait_for 10 grep -q ready "$tmp/late.out" || bail "the late producer did not log"
# late_check PAGE... : the seqs of the pages, each once, are 0..N-1 (N: $late_n), and "late commit" is at
# $late_at (indices into the last page)
late_check() {
    python3 -c '
import json, re, sys
n, at, pages = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
msgs = [[json.loads(l)["msg"] for l in open(p) if "\"msg\"" in l] for p in pages]
seqs = [int(re.search(r"seq=(\d+)", m).group(1)) for page in msgs for m in page if "seq=" in m]
late = [i for i, m in enumerate(msgs[-1]) if m == "late commit"]
print("pages of %s records; the late ones at %s of the last; %d seqs, %d distinct" %
      ([len(p) for p in msgs], late, len(seqs), len(set(seqs))))
sys.exit(0 if sorted(seqs) == list(range(n)) and late == [int(i) for i in at.split(",") if i] and
         sum(map(len, msgs)) == n + len(late) else 1)' "$late_n" "$late_at" "$@"
}
late_whole() {
    curl -sf "$url/api/query?live=1&app=late" >"$tmp/qlw.jsonl" || return 1
    late_n=2000 late_at="" late_check "$tmp/qlw.jsonl" && tail -n 1 "$tmp/qlw.jsonl" | grep -q '"end":"complete"'
}
check_show "live=1: the 1000 records committed after a live writer's uncommitted slot, up to a second such slot" late_whole
late_pages() {
    curl -sf "$url/api/query?live=1&app=late&limit=1500" >"$tmp/ql1.jsonl" || return 1
    echo commit >&7
    wait_for 10 grep -q committed "$tmp/late.out" || return 1
    local cursor
    cursor=$(tail -n 1 "$tmp/ql1.jsonl" | python3 -c 'import json, sys; print(json.load(sys.stdin)["cursor"])')
    curl -sf "$url/api/query?live=1&app=late&cursor=$cursor" >"$tmp/ql2.jsonl" || return 1
    late_n=3000 late_at=0,501 late_check "$tmp/ql1.jsonl" "$tmp/ql2.jsonl"
}
check_show "live=1 pages: slots passed over and committed between two pages come in the second, once" late_pages
exec 7>&-
kill -CONT "$col"

# bad PARAM PATH: a 400 whose body names PARAM
bad() { python3 "$client" bad "$port" "/$2" "$1" >/dev/null; }
check "live=2 is a 400 naming live" bad live "api/query?live=2"
check "live=1 on /api/stats is a 400 naming live" bad live "api/stats?live=1"
check "live=1 with format=arrow is a 400 naming live" bad live "api/query?live=1&format=arrow"
serve_stop
check "the collector exits 0 on SIGTERM" collector_stop
tap_finish
