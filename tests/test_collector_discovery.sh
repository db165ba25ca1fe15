#!/bin/bash
# Description: the collector drains a process whose ring it first saw before it had taken the process's meta, and that got no inotify event after the ring was published: strace holds each of the producer's mlock calls 0.5 s (its meta is seen unpublished and looked at again, and its ring's header comes 0.5 s after the ring's last event) and each of the collector's close calls 0.2 s (so the ring's events come before the meta's), and the producer's records are in the collector's files within 5 s while it runs, not at the next listing of the directory (a minute apart under an inotify watch). Then 32 producers started at once: all their records are in the files within 5 s while they run.
# usage: test_collector_discovery.sh (meson test sets SHMLOG_DUMP, COLLECTOR, TEST_PRODUCER)
set -u
tmp=$(mktemp -d /tmp/shmlog-test-discovery-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR TEST_PRODUCER
tap_require strace strace
collector_dirs

# has_records APP N: the collector's files hold N records of app APP now.
has_records() {
    test "$("$SHMLOG_DUMP" read --format json "$out" 2>/dev/null | grep -c "\"app\":\"$1\"")" -eq "$2"
}

# producers N APP [WRAP...]: N producers of 300 records each (run under WRAP...), started at once,
# that stay alive (--hold) until $tmp/hold is opened for writing and closed.
producers() {
    local k n=$1 app=$2
    shift 2
    rm -f "$tmp/hold"
    mkfifo "$tmp/hold"
    for k in $(seq "$n"); do
        "$@" "$TEST_PRODUCER" --app "$app" --threads 1 --count 300 --hold <"$tmp/hold" >"$tmp/$app-$k.out" 2>&1 &
        pids+=($!)
        held+=($!)
    done
    exec 4>"$tmp/hold"
}
# release: the producers producers() started end.
release() {
    exec 4>&-
    for p in "${held[@]}"; do
        wait "$p"
        tap_forget "$p"
    done
    held=()
}
held=()

# ---- a ring whose process the collector had not taken yet when the ring came ----
# The producer's mlock calls held 0.5 s: its meta is seen unpublished and looked at again and again.
# The collector's close calls held 0.2 s: the producer publishes its meta and makes its ring while
# the collector closes the meta it looked at, so the ring's events come before the meta's, and
# the ring, whose header comes 0.5 s later with no event, is retried as a segment being made.
collector_start "$tmp/collector.log" --dir "$seg" --out "$out" --max-delay-ms 20
strace -f -qq -p "$col" -o /dev/null -e trace=close -e inject=close:delay_enter=200000 &
tracer=$!
pids+=("$tracer")
wait_for 10 traced "$col" || bail "strace did not attach to every thread of the collector"
producers 1 late strace -f -qq -o /dev/null -e trace=mlock -e inject=mlock:delay_exit=500000
check "the producer logged its 300 records" wait_for 30 grep -q '^done 0$' "$tmp/late-1.out"
check "its records are in the files within 5 s, while it runs" wait_for 5 has_records late 300
kill "$tracer"
wait "$tracer"
tap_forget "$tracer"
release

# ---- many processes at once ----
n=32
producers "$n" many
for k in $(seq "$n"); do
    wait_for 30 grep -q '^done 0$' "$tmp/many-$k.out" || not_ok "producer $k logged its 300 records"
done
check "the $n producers' records are in the files within 5 s, while they run" wait_for 5 has_records many $((n * 300))
release
collector_stop
check "the collector exits 0" test $? -eq 0
check "the collector reported no segment" eval '! grep -q "ignoring segment" "$tmp/collector.log"'
tap_done
