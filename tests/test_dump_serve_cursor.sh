#!/bin/bash
# Description: shmlog-dump serve's cursors at the rings' edge: a real collector files what two producer threads log in bursts (records nanoseconds apart across rings) while a client pages through /api/query?live=1, and another reconnects to /api/tail?live=1, each round with the collector stopped so that the round ends in the rings' part and the collector files that part before the next round resumes from the cursor; every record arrives exactly once, and a cursor an answer did not give is a 400.
# usage: test_dump_serve_cursor.sh (meson test sets SHMLOG_DUMP, COLLECTOR, TEST_PRODUCER, SERVE_CLIENT)
set -u
tmp=$(mktemp -d /tmp/shmlog-test-dump-serve-cursor-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR TEST_PRODUCER
client=${SERVE_CLIENT:?}

seg=$tmp/seg out=$tmp/out
mkdir -p "$seg"
export SHMLOG_DIR=$seg
collector_start "$tmp/collector.log" --dir "$seg" --out "$out" --max-delay-ms 10
serve_start "$out" --dir "$seg" --listen 127.0.0.1:0

# once FILE THREADS COUNT: FILE's records hold "t=T i=I" for each thread T and I in 0..COUNT-1 exactly once
once() {
    python3 -c '
import collections, json, re, sys
n = collections.Counter()
for l in open(sys.argv[1]):
    m = re.match(r"t=(\d+) i=(\d+) ", json.loads(l).get("msg", ""))
    if m:
        n[(int(m.group(1)), int(m.group(2)))] += 1
want = {(t, i) for t in range(int(sys.argv[2])) for i in range(int(sys.argv[3]))}
twice = sorted(k for k, v in n.items() if v > 1)
missed = sorted(want - set(n))
print("%d records, %d distinct; twice: %d %s; missed: %d %s" % (sum(n.values()), len(n), len(twice), twice[:4],
                                                                  len(missed), missed[:4]))
sys.exit(1 if twice or missed or set(n) - want else 0)' "$@"
}
producer=("$TEST_PRODUCER" --threads 2 --count 3000 --burst 8 --pause-us 4000)

pages() {
    python3 "$client" edge-pages "$port" "$col" "app=paged&live=1" 300 "$tmp/pages.jsonl" "${producer[@]}" --app paged &&
        once "$tmp/pages.jsonl" 2 3000
}
check_show "live=1 query pages by cursor across the rings' edge: each record once" pages
tail_rounds() {
    python3 "$client" edge-tail "$port" "$col" "app=tailed&live=1" "$tmp/tail.jsonl" "${producer[@]}" --app tailed &&
        once "$tmp/tail.jsonl" 2 3000
}
check_show "live=1 tail reconnecting by cursor across the rings' edge: each record once" tail_rounds
filed() {
    curl -sf "http://127.0.0.1:$port/api/query?app=paged" >"$tmp/filed.jsonl" && once "$tmp/filed.jsonl" 2 3000
}
check_show "  the files hold them all, once" filed

bad() { python3 "$client" bad "$port" "/api/query?cursor=$1" cursor >/dev/null; }
check "a cursor with a ring cut short is a 400 naming cursor" bad "5-1_m0-0_12.34.1"
check "a cursor past 2^64 is a 400 naming cursor" bad "18446744073709551616-0"
check "a cursor with text after it is a 400 naming cursor" bad "5-1x"
check "a cursor naming a ring's unsent slot at or past its position is a 400 naming cursor" bad "5-1_m0-0_12.34.1.7h7"
check "a cursor with an unsent slot cut short is a 400 naming cursor" bad "5-1_m0-0_12.34.1.7h"
serve_stop
check "the collector exits 0 on SIGTERM" collector_stop
tap_finish
