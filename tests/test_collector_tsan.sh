#!/usr/bin/env bash
# Description: the collector under ThreadSanitizer: its drain loop, the
# metrics HTTP thread and the textfile thread run while two producer threads
# write; a race aborts the collector (halt_on_error), and every record lands.
# usage: test_collector_tsan.sh (meson test sets COLLECTOR, SHMLOG_DUMP, SHMLOG_SAMPLE)
set -euo pipefail
tmp=$(mktemp -d /tmp/shmlog-tsan.XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs COLLECTOR SHMLOG_DUMP SHMLOG_SAMPLE
tap_require python3 python3
export TSAN_OPTIONS="halt_on_error=1 exitcode=66"
seg=$tmp/seg
mkdir -p "$seg"

collector_start "$tmp/collector.log" --dir "$seg" --out "$tmp/out" --rotate-size 1M \
    --metrics-listen 127.0.0.1:0 --metrics-file "$tmp/metrics.prom" --metrics-interval 1
for round in 1 2 3; do
    SHMLOG_DIR=$seg "$SHMLOG_SAMPLE" --app tsan$round --count 100000 --threads 2 \
        --rate 500000 > "$tmp/sample$round.out" 2>/dev/null
    kill -HUP "$col" # rotate under load, from the signal path
done
segments_gone "$seg" 30 || bail "the collector did not drain the samples' segments"
rc=0
collector_stop || rc=$?
if [ "$rc" -ne 0 ]; then
    diag "$tmp/collector.log"; bail "collector exited $rc"
fi
expected=0
for round in 1 2 3; do
    written=$(sed -n 's/.* \([0-9]*\) written.*/\1/p' "$tmp/sample$round.out")
    expected=$((expected + written))
done
got=$("$SHMLOG_DUMP" stats "$tmp/out" --format json |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])')
if [ "$got" -eq "$expected" ]; then
    ok "$got records through a TSan collector with metrics threads, no race"
else
    not_ok "files hold $got records, producers wrote $expected"
fi
tap_done
