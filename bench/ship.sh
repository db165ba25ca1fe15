#!/usr/bin/env bash
# shmlog-ship on one core, and the central side, on a Kafka cluster on
# loopback (scripts/kafka-dev.sh, 3 nodes, replication 3, acks=all):
#   1. backlog: RECORDS of shmlog-sample's trading mix already in files, shipped
#      with --once, the shipper pinned to cpu 0 (the brokers take cpu 1 and
#      what is left): records/s and MB/s per cpu-second of the shipper, its cpu
#      per record, and what the context headers cost;
#   2. live: a producer at RATE records/s for SECONDS through the collector
#      and a following shipper: the shipper's lag (bytes, and seconds by the
#      seal time of the oldest frame not acknowledged), sampled every second;
#   3. central: `shmlog-dump mirror` of the topic (the consumer side): records/s
#      and MB/s, `shmlog-dump read` of the mirror, and `read kafka://` of the
#      topic itself (no files between).
#   bench/ship.sh [RECORDS [RATE [SECONDS]]]   (default 10000000 1000000 10)
#   bench/ship.sh --rates "R1 R2 ..." [SECONDS]  (default "100 400 2000 20000" 30)
#      one simulated host per rate (a collector, shmlog-sample at R records/s,
#      a following shipper) for SECONDS: the shipper's cpu per record and share
#      of a core while the producer runs, the bytes on the wire (keys, frames,
#      headers) per byte of the files, and the context headers' share of them.
# Run it under `flock /tmp/shmlog-heavy.lock` on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
rates=
if [ "${1:-}" = --rates ]; then
    rates=${2:-100 400 2000 20000}
    shift 2 || shift $#
fi
records=${1:-10000000}
rate=${2:-1000000}
seconds=${3:-10}
build=${SHMLOG_BUILD:-build}
[ -d "$build" ] || meson setup "$build" --buildtype=release -Dkafka=enabled >/dev/null
ninja -C "$build" >/dev/null
[ -x "$build/ship/shmlog-ship" ] || { echo "bench/ship.sh: $build has no shmlog-ship (meson -Dkafka=enabled)" >&2; exit 1; }

work=$(mktemp -d /tmp/shmlog-bench-ship.XXXXXX)
export KAFKA_DIR=$work/kafka
seg=/dev/shm/shmlog-bench-ship-$$
col=
shipper=
trap 'kill $col $shipper 2>/dev/null || true; scripts/kafka-dev.sh stop >/dev/null 2>&1; rm -rf "$work" "$seg"' EXIT
if [ -n "$rates" ]; then args="--rates \"$rates\" ${1:-30}"; else args="$records $rate $seconds"; fi
echo "command: bench/ship.sh $args  ($(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg))"
bootstrap=$(scripts/kafka-dev.sh start 3 2>/dev/null | tail -n 1)
echo "cluster: 3 nodes of Kafka on loopback, $bootstrap"

collect() { # out dir, producer options...
    local out=$1
    shift
    mkdir -p -m 700 "$seg"
    "$build/collector/shmlog-collector" --dir "$seg" --out "$out" --host bench --cpu 1 2>/dev/null &
    col=$!
    sleep 0.3
    SHMLOG_DIR=$seg taskset -c 0 "$build/examples/shmlog-sample" --app ship-bench "$@" 2>&1 | sed 's/^/  /'
}
stop_collector() {
    for _ in $(seq 100); do [ -z "$(ls -A "$seg")" ] && break; sleep 0.1; done
    kill -TERM "$col"
    wait "$col" || true
    col=
}
metric() { # file name
    awk -v n="$2" '$1 ~ "^"n"[{]" { print $2 }' "$1"
}

# ---- per-host rates ----
proc_ticks() { # pid: utime + stime of every thread, in clock ticks
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}
if [ -n "$rates" ]; then
    seconds=${1:-30}
    hz=$(getconf CLK_TCK)
    echo "rate/s  records  shipper cpu ms  ns/record  % of a core  messages  file B  file B/record  wire B  wire/file  context share"
    for r in $rates; do
        rm -rf "$work/rate"
        mkdir -p "$work/rate/out"
        taskset -c 0 "$build/ship/shmlog-ship" --dir "$work/rate/out" --to "kafka://$bootstrap/rate-$r" \
            --state "$work/rate/state" --metrics-file "$work/rate/prom" 2>/dev/null &
        shipper=$!
        # connected and the topic made before the clock starts (its first write is the state's, at once)
        for _ in $(seq 300); do [ -f "$work/rate/state" ] && break; sleep 0.1; done
        sleep 1
        c0=$(proc_ticks "$shipper")
        t0=$(date +%s.%N)
        collect "$work/rate/out" --count $((r * seconds)) --threads 1 --rate "$r" >/dev/null
        t1=$(date +%s.%N)
        c1=$(proc_ticks "$shipper")
        stop_collector
        sleep 2 # the last frames acknowledged; the metrics are written at exit
        kill -TERM "$shipper"
        wait "$shipper" || true
        shipper=
        m=$work/rate/prom
        python3 - "$r" "$c0" "$c1" "$hz" "$t0" "$t1" "$(metric "$m" shmlog_ship_records_total)" \
            "$(metric "$m" shmlog_ship_messages_total)" "$(metric "$m" shmlog_ship_wire_bytes_total)" \
            "$(metric "$m" shmlog_ship_context_bytes_total)" \
            "$(du -cb "$work"/rate/out/*.shlog | tail -n 1 | cut -f1)" <<'PY'
import sys
r, c0, c1, hz, t0, t1, rec, msgs, wire, ctx, disk = (float(x) for x in sys.argv[1:])
cpu = (c1 - c0) / hz
print(f"{r:6.0f}  {rec:7.0f}  {cpu * 1e3:14.0f}  {cpu * 1e9 / max(rec, 1):9.0f}  {100 * cpu / (t1 - t0):11.2f}  "
      f"{msgs:8.0f}  {disk:6.0f}  {disk / max(rec, 1):13.2f}  {wire:6.0f}  {wire / disk:9.2f}  {100 * ctx / max(wire, 1):12.1f}%")
PY
    done
    exit 0
fi

# ---- 1. backlog, one core ----
echo "backlog: $records records"
collect "$work/backlog" --count "$records" --threads 1 --rate 2000000
stop_collector
bytes=$(du -cb "$work"/backlog/*.shlog | tail -n 1 | cut -f1)
t0=$(date +%s.%N)
taskset -c 0 "$build/ship/shmlog-ship" --dir "$work/backlog" --to "kafka://$bootstrap/backlog" \
    --state "$work/backlog.state" --once --metrics-file "$work/backlog.prom" 2>/dev/null
t1=$(date +%s.%N)
m=$work/backlog.prom
python3 - "$(metric "$m" shmlog_ship_records_total)" "$(metric "$m" shmlog_ship_bytes_total)" \
    "$(metric "$m" shmlog_ship_context_bytes_total)" "$(metric "$m" shmlog_ship_messages_total)" \
    "$(metric "$m" shmlog_ship_cpu_seconds_total)" "$t0" "$t1" "$bytes" <<'PY'
import sys
rec, b, ctx, msgs, cpu, t0, t1, disk = (float(x) for x in sys.argv[1:])
wall = t1 - t0
print(f"  shipped:          {rec:.0f} records, {msgs:.0f} messages, {b / 1e6:.1f} MB of frames ({disk / 1e6:.1f} MB of files)")
print(f"  context headers:  {ctx / 1e3:.1f} kB, {100 * ctx / b:.2f}% of the frames' bytes, {ctx / msgs:.0f} B a message")
print(f"  shipper cpu:      {cpu:.2f} s for {wall:.2f} s wall: {rec / cpu / 1e6:.2f} M records/s per core, "
      f"{b / cpu / 1e6:.1f} MB/s per core, {cpu * 1e9 / rec:.0f} ns of cpu per record")
print(f"  wall clock:       {rec / wall / 1e6:.2f} M records/s, {b / wall / 1e6:.1f} MB/s (brokers on the other cpu)")
PY

taskset -c 0 "$build/bench/shmlog-bench-context" "$work/backlog" 3

# ---- 2. live, at RATE ----
echo "live: $rate records/s for $seconds s, shipper following"
mkdir -p "$work/live"
taskset -c 0 "$build/ship/shmlog-ship" --dir "$work/live" --to "kafka://$bootstrap/live" --state "$work/live.state" \
    --metrics-file "$work/live.prom" --metrics-interval 1 2>/dev/null &
shipper=$!
(for _ in $(seq $((seconds + 4))); do
    sleep 1
    [ -f "$work/live.prom" ] && echo "$(metric "$work/live.prom" shmlog_ship_lag_seconds) $(metric "$work/live.prom" shmlog_ship_lag_bytes)"
done) >"$work/lag.txt" &
sampler=$!
collect "$work/live" --count $((rate * seconds)) --threads 1 --rate "$rate"
stop_collector
wait "$sampler"
kill -TERM "$shipper"
wait "$shipper" || true
shipper=
python3 - "$work/lag.txt" "$(metric "$work/live.prom" shmlog_ship_records_total)" \
    "$(metric "$work/live.prom" shmlog_ship_cpu_seconds_total)" <<'PY'
import sys
rows = [tuple(float(x) for x in l.split()) for l in open(sys.argv[1]) if len(l.split()) == 2]
rec, cpu = float(sys.argv[2]), float(sys.argv[3])
if rows:
    secs = sorted(r[0] for r in rows)
    print(f"  lag, sampled each second: max {secs[-1]:.3f} s, median {secs[len(secs) // 2]:.3f} s; "
          f"bytes max {max(r[1] for r in rows) / 1e3:.0f} kB ({len(rows)} samples)")
print(f"  shipper cpu: {cpu:.2f} s for {rec:.0f} records ({cpu * 1e9 / max(rec, 1):.0f} ns a record)")
PY

# ---- 3. central: the mirror and a read of it ----
echo "central: mirror of the backlog topic"
t0=$(date +%s.%N)
taskset -c 0 "$build/dump/shmlog-dump" mirror "kafka://$bootstrap/backlog" --out "$work/mirror" 2>/dev/null
t1=$(date +%s.%N)
t2=$(date +%s.%N)
taskset -c 0 "$build/dump/shmlog-dump" read "$work/mirror" --format json >/dev/null
t3=$(date +%s.%N)
taskset -c 0 "$build/dump/shmlog-dump" read "kafka://$bootstrap/backlog" --format json >/dev/null
t4=$(date +%s.%N)
python3 - "$records" "$bytes" "$t0" "$t1" "$t2" "$t3" "$t4" <<'PY'
import sys
rec, b, t0, t1, t2, t3, t4 = (float(x) for x in sys.argv[1:])
print(f"  mirror:           {rec / (t1 - t0) / 1e6:.2f} M records/s, {b / (t1 - t0) / 1e6:.1f} MB/s ({t1 - t0:.2f} s)")
print(f"  read --format json of the mirror: {rec / (t3 - t2) / 1e6:.2f} M records/s")
print(f"  read --format json of the topic:  {rec / (t4 - t3) / 1e6:.2f} M records/s, {b / (t4 - t3) / 1e6:.1f} MB/s")
PY
cmp -s <(cd "$work/backlog" && cat *.shlog) <(cd "$work/mirror" && cat bench-*) && echo "  the mirror's files are the backlog's, byte for byte"
