#!/bin/bash
# Description: an order's trace across two hosts through a real Kafka broker (scripts/kafka-dev.sh): md on hosta, strategy and gateway on hostb, each host a collector of its own (--host) and a shipper to one topic; every order's trace read from the topic (trace kafka://) holds its 8 records of the three processes and both hosts, in time order, and is the one read from the two hosts' files; read --trace and trace --stats from the topic give what they give from the files.
# usage: test_trace_kafka.sh KAFKA_DEV (meson test sets SHMLOG_DUMP, COLLECTOR, SHMLOG_SAMPLE, SHMLOG_SHIP)
set -u
kafka_dev=$1
tmp=$(mktemp -d /tmp/shmlog-test-trace-kafka-XXXXXX)
export KAFKA_DIR=$tmp/kafka
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR SHMLOG_SAMPLE SHMLOG_SHIP
dump=$SHMLOG_DUMP
tap_kafka_cluster "$kafka_dev" 1
url=kafka://$bootstrap/orders

orders=120
for h in hosta hostb; do
    mkdir -p "$tmp/$h/seg"
    collector_start "$tmp/$h/collector.log" --host "$h" --dir "$tmp/$h/seg" --out "$tmp/$h/out" --max-delay-ms 2 \
        --rotate-size 8k
    eval "col_$h=$col"
done
# The order leaves hosta as a W3C traceparent line, as it would in a network message.
SHMLOG_DIR=$tmp/hosta/seg "$SHMLOG_SAMPLE" --app md --stage md --count $orders --rate 2000 2>"$tmp/md.err" |
    tee "$tmp/traceparents" |
    SHMLOG_DIR=$tmp/hostb/seg "$SHMLOG_SAMPLE" --app strategy --stage strategy 2>"$tmp/strategy.err" |
    SHMLOG_DIR=$tmp/hostb/seg "$SHMLOG_SAMPLE" --app gateway --stage gateway 2>"$tmp/gateway.err"
check "the three stages dropped nothing" grep -q ' 0 dropped' "$tmp/md.err" "$tmp/strategy.err" "$tmp/gateway.err"
check "md handed on one traceparent per order" test "$(wc -l <"$tmp/traceparents")" -eq $orders
for h in hosta hostb; do
    check "$h: the collector removes the segments after the exit markers" segments_gone "$tmp/$h/seg"
    col=$(eval "echo \$col_$h")
    check "$h: the collector exits 0 on SIGTERM" collector_stop
    check "$h: shmlog-ship --once sends its closed files to the topic" \
        timeout 120 "$SHMLOG_SHIP" --dir "$tmp/$h/out" --to "$url" --state "$tmp/$h/ship.state" --once
done

cut -d- -f2 "$tmp/traceparents" >"$tmp/ids"
python3 - "$dump" "$url" "$tmp/hosta/out" "$tmp/hostb/out" "$tmp/ids" >"$tmp/each.log" 2>&1 <<'EOF'
import json, subprocess, sys
dump, url, outa, outb = sys.argv[1:5]
ids = [l.strip() for l in open(sys.argv[5])]
def lines(*args):
    return subprocess.run([dump, *args, "--format", "json"], check=True, capture_output=True, text=True,
                          timeout=120).stdout.splitlines()
bad = 0
for i, tid in enumerate(ids):
    if i % 12 and i != len(ids) - 1:
        continue  # every twelfth order and the last: each is a read of the whole topic
    topic = [json.loads(l) for l in lines("trace", tid, url)]
    files = [json.loads(l) for l in lines("trace", tid, outa, outb)]
    spans = [r["span"] for r in topic if r["func"] == "shmlog_trace_set"]
    ts = [r["ts_ns"] for r in topic]
    by_app = {(r["app"], r["pid"]) for r in topic}
    ok = (len(topic) == 8 and spans == ["tick", "decision", "order_sent", "ack"] and
          sorted(a for a, _ in by_app) == ["gateway", "md", "strategy"] and
          all(r["trace_id"] == tid for r in topic) and ts == sorted(ts) and topic == files)
    read_topic = [json.loads(l) for l in lines("read", "--trace", tid, url) if '"msg"' in l]
    stripped = [{k: v for k, v in r.items() if not k.startswith("since_")} for r in topic]
    ok = ok and read_topic == stripped
    if not ok:
        bad += 1
        print("trace %s: topic %d records, files %d, spans %s, apps %s, read --trace %d" %
              (tid, len(topic), len(files), spans, sorted(by_app), len(read_topic)))
print("checked", len(ids), "bad", bad)
sys.exit(1 if bad else 0)
EOF
check "every twelfth order's trace from the topic: 8 records of md (hosta), strategy and gateway (hostb) in time order, the same as from the two hosts' files; read --trace from the topic the same records" test $? -eq 0
diag "$tmp/each.log"
timeout 120 "$dump" trace --stats "$url" --format json >"$tmp/stats.topic"
"$dump" trace --stats "$tmp/hosta/out" "$tmp/hostb/out" --format json >"$tmp/stats.files"
check_show "trace --stats of the topic: the per-hop percentiles of the two hosts' files, 3 hops and end to end of every order" \
    bash -c "cat '$tmp/stats.topic'; cmp '$tmp/stats.topic' '$tmp/stats.files' &&
             test \"\$(grep -c '\"count\":$orders,' '$tmp/stats.topic')\" -eq 4"
tap_done
