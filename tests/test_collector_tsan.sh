#!/usr/bin/env bash
# Description: the collector under ThreadSanitizer: its drain loop, the
# metrics HTTP thread and the textfile thread run while two producer threads
# write; a race aborts the collector (halt_on_error), and every record lands.
# usage: test_collector_tsan.sh COLLECTOR DUMP SAMPLE
set -euo pipefail
collector=$1
dump=$2
sample=$3
work=$(mktemp -d /tmp/shmlog-tsan.XXXXXX)
seg=/dev/shm/shmlog-tsan-$$
col=
trap '[ -n "$col" ] && kill -9 "$col" 2>/dev/null; rm -rf "$work" "$seg"' EXIT
. "$(dirname "$0")/tap.sh"
tap_require python3 python3
export TSAN_OPTIONS="halt_on_error=1 exitcode=66"

"$collector" --dir "$seg" --out "$work/out" --rotate-size 1M \
    --metrics-listen 127.0.0.1:0 --metrics-file "$work/metrics.prom" --metrics-interval 1 \
    2> "$work/collector.log" &
col=$!
for round in 1 2 3; do
    SHMLOG_DIR=$seg "$sample" --app tsan$round --count 100000 --threads 2 \
        --rate 500000 > "$work/sample$round.out" 2>/dev/null
    kill -HUP "$col" # rotate under load, from the signal path
done
sleep 1.5
kill -TERM "$col"
rc=0; wait "$col" || rc=$?
col=
if [ "$rc" -ne 0 ]; then
    diag "$work/collector.log"; bail "collector exited $rc"
fi
expected=0
for round in 1 2 3; do
    written=$(sed -n 's/.* \([0-9]*\) written.*/\1/p' "$work/sample$round.out")
    expected=$((expected + written))
done
got=$("$dump" stats "$work/out" --format json |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])')
if [ "$got" -eq "$expected" ]; then
    ok "$got records through a TSan collector with metrics threads, no race"
else
    not_ok "files hold $got records, producers wrote $expected"
fi
tap_done
