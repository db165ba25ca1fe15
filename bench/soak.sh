#!/usr/bin/env bash
# A fleet on one machine: HOSTS simulated hosts (each a collector with its own --host, shmlog-sample
# at RATE records/s and a following shmlog-ship) into one topic of the 3-node test cluster
# (scripts/kafka-dev.sh) for SECONDS, a `shmlog-dump mirror --follow` of the topic beside them:
#   - lag: each shipper's shmlog_ship_lag_seconds (the age, by its seal time, of the oldest frame not
#     yet acknowledged), sampled every second over every host: p50, p99, max (a sampled gauge, not
#     each record's delay); and how long after the collectors stopped every shipper had its files
#     acknowledged;
#   - cost: each shipper's cpu (utime + stime) per record and share of a core, median and max over hosts;
#   - once: each host's records in the mirror against its producer's count: every call written or in
#     a loss marker, none twice.
#   bench/soak.sh [HOSTS [RATE [SECONDS]]]   (default 50 400 60)
# Run it under `flock /tmp/shmlog-heavy.lock` on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${1:-50}
rate=${2:-400}
seconds=${3:-60}
build=${SHMLOG_BUILD:-build}
[ -x "$build/ship/shmlog-ship" ] || { echo "bench/soak.sh: $build has no shmlog-ship (meson -Dkafka=enabled)" >&2; exit 1; }

work=$(mktemp -d /tmp/shmlog-bench-soak.XXXXXX)
export KAFKA_DIR=$work/kafka
children=()
trap 'kill "${children[@]}" 2>/dev/null || true; wait 2>/dev/null; scripts/kafka-dev.sh stop >/dev/null 2>&1; rm -rf "$work"' EXIT
echo "command: bench/soak.sh $hosts $rate $seconds  ($(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg))"
bootstrap=$(scripts/kafka-dev.sh start 3 2>/dev/null | tail -n 1)
url=kafka://$bootstrap/soak
echo "cluster: 3 nodes of Kafka on loopback, $bootstrap"

declare -a col ship
for i in $(seq -w 1 "$hosts"); do
    h=soak-h$i
    mkdir -p "$work/$h/seg" "$work/$h/out"
    "$build/collector/shmlog-collector" --dir "$work/$h/seg" --out "$work/$h/out" --host "$h" \
        --ship-state "$work/$h/state" 2>"$work/$h/collector.log" &
    col[10#$i]=$!
    "$build/ship/shmlog-ship" --dir "$work/$h/out" --to "$url" --state "$work/$h/state" \
        --metrics-file "$work/$h/prom" --metrics-interval 1 2>"$work/$h/ship.log" &
    ship[10#$i]=$!
    children+=("${col[10#$i]}" "${ship[10#$i]}")
done
for _ in $(seq 600); do [ "$(ls "$work"/soak-h*/state 2>/dev/null | wc -l)" -ge "$hosts" ] && break; sleep 0.1; done
mkdir -p "$work/mirror"
"$build/dump/shmlog-dump" mirror "$url" --out "$work/mirror" --follow 2>"$work/mirror.log" &
mirror=$!
children+=("$mirror")
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
for i in $(seq "$hosts"); do ticks "${ship[$i]}"; done >"$work/cpu0"
t0=$(date +%s.%N)
(while :; do
    sleep 1
    for i in $(seq -w 1 "$hosts"); do
        awk '$1 ~ /^shmlog_ship_lag_seconds[{]/ { print $2 }' "$work/soak-h$i/prom" 2>/dev/null
    done
done) >"$work/lag.txt" &
sampler=$!
children+=("$sampler")
producers=()
for i in $(seq -w 1 "$hosts"); do
    SHMLOG_DIR=$work/soak-h$i/seg "$build/examples/shmlog-sample" --app "app$i" --count $((rate * seconds)) \
        --threads 1 --rate "$rate" >"$work/soak-h$i/sample.out" 2>&1 &
    producers+=($!)
done
wait "${producers[@]}"
t1=$(date +%s.%N)
kill "$sampler"
for i in $(seq "$hosts"); do ticks "${ship[$i]}"; done >"$work/cpu1"
for i in $(seq "$hosts"); do
    for _ in $(seq 100); do [ -z "$(ls -A "$work/soak-h$(printf %0${#hosts}d "$i")/seg")" ] && break; sleep 0.1; done
    kill -TERM "${col[$i]}"
done
wait "${col[@]}" 2>/dev/null || true
sleep 2 # a metrics write after the collectors' last frames
# Every shipper's files acknowledged (its lag in bytes 0), up to 10 minutes: how long the fleet took to
# catch up after its producers ended, then the whole topic mirrored (the follower's copy may trail).
caught=$(date +%s.%N)
for _ in $(seq 600); do
    behind=0
    for i in $(seq -w 1 "$hosts"); do
        awk '$1 ~ /^shmlog_ship_lag_bytes[{]/ && $2 > 0 { b = 1 } END { exit !b }' "$work/soak-h$i/prom" && behind=1
    done
    [ $behind = 0 ] && break
    sleep 1
done
t2=$(date +%s.%N)
kill -TERM "${ship[@]}" "$mirror"
wait "${ship[@]}" "$mirror" 2>/dev/null || true
rm -rf "$work/mirror"
"$build/dump/shmlog-dump" mirror "$url" --out "$work/mirror" 2>>"$work/mirror.log"
python3 -c 'import sys; print(f"caught up: every shipper acknowledged to its files end {float(sys.argv[2]) - float(sys.argv[1]):.1f} s after the collectors were stopped")' "$caught" "$t2"
python3 - "$work" "$hosts" "$(getconf CLK_TCK)" "$t0" "$t1" "$build/dump/shmlog-dump" <<'PY'
import glob, json, os, re, subprocess, sys
work, hosts, hz, t0, t1, dump = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
c0 = [int(x) for x in open(f"{work}/cpu0").read().split()]
c1 = [int(x) for x in open(f"{work}/cpu1").read().split()]
wall = t1 - t0
lags = sorted(float(x) for x in open(f"{work}/lag.txt").read().split())
q = lambda p: lags[min(len(lags) - 1, int(p * len(lags)))] if lags else float("nan")
print(f"lag (the oldest frame not acknowledged, {len(lags)} samples over every shipper): p50 {q(0.5):.3f} s, "
      f"p99 {q(0.99):.3f} s, max {q(1):.3f} s")
ok, per_rec, share = 0, [], []
width = len(str(hosts))
for i in range(1, hosts + 1):
    h = f"soak-h{i:0{width}d}"
    said = open(f"{work}/{h}/sample.out").read()
    calls, written = (int(re.search(p, said).group(1)) for p in (r"(\d+) log calls", r"(\d+) written"))
    files = sorted(glob.glob(f"{work}/mirror/{h}-*"))
    out = subprocess.run([dump, "read", *files, "--format", "json"], capture_output=True, text=True).stdout if files else ""
    lines = out.splitlines()
    recs = [l for l in lines if '"msg":' in l]
    lost = sum(json.loads(l)["loss"]["records"] for l in lines if '"loss":' in l)
    if len(recs) == written and written + lost == calls and len(set(recs)) == len(recs):
        ok += 1
    else:
        print(f"  {h}: {calls} calls, {written} written, {len(recs)} in the mirror ({len(set(recs))} distinct), {lost} lost")
    cpu = (c1[i - 1] - c0[i - 1]) / hz
    per_rec.append(cpu * 1e9 / max(calls, 1))
    share.append(100 * cpu / wall)
per_rec.sort(), share.sort()
print(f"once: {ok} of {hosts} hosts have every record in the mirror once (written, or counted lost by the producer)")
print(f"shipper cpu per host over {wall:.0f} s: median {per_rec[len(per_rec) // 2]:.0f} ns a record, "
      f"{share[len(share) // 2]:.2f}% of a core; max {per_rec[-1]:.0f} ns, {share[-1]:.2f}%")
PY
