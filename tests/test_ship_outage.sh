#!/bin/bash
# Description: a broker of the partition a host ships to, hung (SIGSTOP) and then killed (SIGKILL), costs the shipper at most 0.1 cpu-s a second over the 8 s that follow each, measured from /proc (librdkafka spun a core while the acknowledgements stalled and a message waited behind its in-flight window), and shipping goes on through both; a shipper started before its --dir exists waits for it.
# usage: test_ship_outage.sh KAFKA_DEV (meson test sets COLLECTOR, SHMLOG_SAMPLE, SHMLOG_SHIP, KAFKA_LEADER)
set -u
kafka_dev=$1
tmp=$(mktemp -d /tmp/shmlog-test-outage-XXXXXX)
export KAFKA_DIR=$tmp/kafka
. "$(dirname "$0")/tap.sh"
tap_programs COLLECTOR SHMLOG_SAMPLE SHMLOG_SHIP KAFKA_LEADER
tap_kafka_cluster "$kafka_dev" 3

# The shipper first, as a host's boot may start it: it waits for the collector's directory.
"$SHMLOG_SHIP" --dir "$tmp/out" --to "kafka://$bootstrap/outage" --state "$tmp/ship.state" --poll-ms 20 \
    --metrics-file "$tmp/ship.prom" --metrics-interval 1 >"$tmp/ship.log" 2>&1 &
ship=$!
pids+=($ship)
sleep 1.5
check "a shipper started before its --dir exists waits for it" \
    bash -c "kill -0 $ship && grep -q 'not there yet; waiting for it' '$tmp/ship.log'"
mkdir -p "$tmp/seg" "$tmp/out"
collector_start "$tmp/collector.log" --host outage --dir "$tmp/seg" --out "$tmp/out" --max-delay-ms 20
SHMLOG_DIR=$tmp/seg "$SHMLOG_SAMPLE" --app steady --count 100000000 --threads 1 --rate 2000 >"$tmp/sample.out" 2>&1 &
pids+=($!)

leader() { "$KAFKA_LEADER" "$bootstrap" outage 2>/dev/null; }
lead=-1
for _ in $(seq 60); do
    lead=$(leader)
    [ "${lead:--1}" -ge 1 ] 2>/dev/null && break
    sleep 1
done
[ "${lead:--1}" -ge 1 ] 2>/dev/null || bail "no message reached the topic (shipper: $(tail -n 3 "$tmp/ship.log"))"
# A follower's death stalls acks=all until the active controller fences it (the leader's moves the
# partition; the controller's own puts an election first): a follower that is not the controller.
controller=$(grep -h "Becoming the active controller" "$KAFKA_DIR"/node*/server.log | sort | tail -n 1 |
    sed -n 's/.*QuorumController id=\([0-9]*\).*/\1/p')
victim=$((lead % 3 + 1))
[ "$victim" = "$controller" ] && victim=$(((lead + 1) % 3 + 1))
ok "the host's partition is led by node $lead, the active controller is node ${controller:-unknown}: node $victim is hung, then killed"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
records() { awk '$1 ~ /^shmlog_ship_records_total[{]/ { print $2 }' "$tmp/ship.prom"; }
hz=$(getconf CLK_TCK)
node_pid() { sed -n "${1}p" <("$kafka_dev" pids); }
# outage HOW SIGNAL: the shipper's cpu and what it shipped over the 8 s after SIGNAL to the victim.
outage() {
    local before after shipped_before shipped_after cpu
    before=$(cpu_ticks "$ship")
    shipped_before=$(records)
    kill "-$2" "$(node_pid "$victim")"
    sleep 8
    after=$(cpu_ticks "$ship")
    sleep 2 # the metrics file of the last second
    shipped_after=$(records)
    cpu=$(awk -v t=$((after - before)) -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')
    check "node $victim $1: the shipper spent $cpu cpu-s in the next 8 s (at most 0.8: 0.1 a second)" \
        awk -v c="$cpu" 'BEGIN { exit !(c <= 0.8) }'
    check "node $victim $1: shipping went on, $shipped_before records acknowledged before, $shipped_after 10 s later" \
        test "${shipped_after:-0}" -gt "${shipped_before:-0}"
}
sleep 3
# Hung (SIGSTOP) first, for a stall that does not depend on how fast its death is seen: the leader
# waits for it until it is fenced (3 s without a heartbeat) or lags (5 s).
outage "hung (SIGSTOP)" STOP
kill -CONT "$(node_pid "$victim")"
# Back in sync: the next minute's messages are acknowledged within their second again.
sleep 10
outage "killed (SIGKILL)" KILL
check "the shipper is still running" kill -0 "$ship"
tap_finish
