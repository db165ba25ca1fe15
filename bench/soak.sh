#!/usr/bin/env bash
# A fleet on one machine: HOSTS simulated hosts (each a collector with its own --host, shmlog-sample
# at RATE records/s and a following shmlog-ship) into one topic of the 3-node test cluster
# (scripts/kafka-dev.sh) for SECONDS, a `shmlog-dump mirror --follow` of the topic beside them:
#   - warm-up: a few records of each host first, through the whole path; then, measured:
#   - delay: each record's write-to-mirror delay, the time the mirror's copy of its file first held its
#     frame (the file's mtime at the write that reached the frame's end, bench/soak_arrivals.py) minus
#     the record's ts_ns (its log call): p50, p99, max over every record; the same by 10 s of the run;
#     and the frames' transport part (arrival minus the frame's newest record);
#   - lag: each shipper's shmlog_ship_lag_seconds (the age, by its seal time, of the oldest frame not
#     yet acknowledged), sampled every second over every host; and how long after the collectors
#     stopped every shipper had its files acknowledged;
#   - cpu: what each kind of process (collector, sample, shipper, mirror, the brokers' JVMs) took over
#     the run's middle, in cpu-seconds per wall-second, summed and per process, beside the machine's
#     busy cpus (/proc/stat: the other work on a shared machine shows there);
#   - once: each host's records in the mirror against its producer's count: every call written or in
#     a loss marker, none twice.
#   bench/soak.sh [--kills] [HOSTS [RATE [SECONDS]]]   (default 50 400 60)
#     --kills  broker 2 SIGKILLed a third of the way in (started again 10 s later) and host 1's shipper two
#              thirds of the way in (started again 2 s later); the killed and restarted processes are
#              left out of the cpu figures
#   SHMLOG_SHIP_ARGS: more shmlog-ship options for every shipper; SHMLOG_COLLECTOR_ARGS: the collectors';
#   SHMLOG_COLLECTOR: another build's shmlog-collector, to compare; SHMLOG_SOAK_KEEP=1: the scratch directory (files, arrivals, logs) is kept and named at the end
# Run it under `flock /tmp/shmlog-heavy.lock` on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
kills=""
[ "${1:-}" = --kills ] && { kills=1; shift; }
hosts=${1:-50}
rate=${2:-400}
seconds=${3:-60}
build=${SHMLOG_BUILD:-build}
collector=${SHMLOG_COLLECTOR:-$build/collector/shmlog-collector}
read -r -a ship_args <<<"${SHMLOG_SHIP_ARGS:-}"
read -r -a collector_args <<<"${SHMLOG_COLLECTOR_ARGS:-}"
[ -x "$build/ship/shmlog-ship" ] || { echo "bench/soak.sh: $build has no shmlog-ship (meson -Dkafka=enabled)" >&2; exit 1; }
[ -x "$build/bench/shmlog-bench-index" ] || { echo "bench/soak.sh: $build has no bench/shmlog-bench-index" >&2; exit 1; }

work=$(mktemp -d /tmp/shmlog-bench-soak.XXXXXX)
export KAFKA_DIR=$work/kafka
children=()
trap 'kill "${children[@]}" 2>/dev/null || true; wait 2>/dev/null; scripts/kafka-dev.sh stop >/dev/null 2>&1; [ -n "${SHMLOG_SOAK_KEEP:-}" ] || rm -rf "$work"' EXIT
echo "command: bench/soak.sh ${kills:+--kills }$hosts $rate $seconds${SHMLOG_SHIP_ARGS:+ (shippers: $SHMLOG_SHIP_ARGS)}${SHMLOG_COLLECTOR_ARGS:+ (collectors: $SHMLOG_COLLECTOR_ARGS)}${SHMLOG_COLLECTOR:+ (collector: $SHMLOG_COLLECTOR)}  ($(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg))"
bootstrap=$(scripts/kafka-dev.sh start 3 2>/dev/null | tail -n 1)
url=kafka://$bootstrap/soak
echo "cluster: 3 nodes of Kafka on loopback, $bootstrap"

declare -a col ship
# start_shipper I: host I's shipper (again, after a kill: it goes on from its state file).
start_shipper() {
    local h
    h=soak-h$(printf "%0${#hosts}d" "$((10#$1))")
    "$build/ship/shmlog-ship" --dir "$work/$h/out" --to "$url" --state "$work/$h/state" \
        --metrics-file "$work/$h/prom" --metrics-interval 1 "${ship_args[@]}" 2>>"$work/$h/ship.log" &
    ship[10#$1]=$!
    children+=("${ship[10#$1]}")
}
for i in $(seq -w 1 "$hosts"); do
    h=soak-h$i
    mkdir -p "$work/$h/seg" "$work/$h/out"
    "$collector" --dir "$work/$h/seg" --out "$work/$h/out" --host "$h" \
        --ship-state "$work/$h/state" "${collector_args[@]}" 2>"$work/$h/collector.log" &
    col[10#$i]=$!
    start_shipper "$i"
    children+=("${col[10#$i]}")
done
for _ in $(seq 600); do [ "$(ls "$work"/soak-h*/state 2>/dev/null | wc -l)" -ge "$hosts" ] && break; sleep 0.1; done
mkdir -p "$work/mirror"
bench/soak_arrivals.py "$work/mirror" "$work/arrivals.txt" &
watcher=$!
children+=("$watcher")
sleep 0.5 # its watch in place before the first frame
"$build/dump/shmlog-dump" mirror "$url" --out "$work/mirror" --follow 2>"$work/mirror.log" &
mirror=$!
children+=("$mirror")
# Warm-up: a few records of each host through the whole path (the shippers' producer ids and host map
# entries, the mirror's consumer and the offsets topic it makes, the brokers' first compiled code), so that
# what is measured is a fleet that runs, not one that starts.
for i in $(seq -w 1 "$hosts"); do
    SHMLOG_DIR=$work/soak-h$i/seg "$build/examples/shmlog-sample" --app "warm$i" --count 40 --threads 1 \
        --rate "$rate" >/dev/null 2>&1 &
done
warm_t0=$SECONDS
for _ in $(seq 1200); do [ "$(ls "$work/mirror" | grep -c '^soak-h')" -ge "$hosts" ] && break; sleep 0.1; done
echo "warm-up: every host's first frames in the mirror $((SECONDS - warm_t0)) s after they were logged"
sleep 2
(while :; do
    sleep 1
    awk '$1 ~ /^shmlog_ship_lag_seconds[{]/ { print $2 }' "$work"/soak-h*/prom 2>/dev/null
done) >"$work/lag.txt" &
sampler=$!
children+=("$sampler")
measured_ns=$(date +%s%N)
producers=()
for i in $(seq -w 1 "$hosts"); do
    SHMLOG_DIR=$work/soak-h$i/seg "$build/examples/shmlog-sample" --app "app$i" --count $((rate * seconds)) \
        --threads 1 --rate "$rate" >"$work/soak-h$i/sample.out" 2>&1 &
    producers+=($!)
done

# cpu by kind over the run's middle: "KIND PID TICKS" a line, then the machine's busy and all ticks
snap() {
    local kind p
    for kind in collector sample shipper mirror watcher broker; do
        case $kind in
        collector) set -- "${col[@]}" ;; sample) set -- "${producers[@]}" ;; shipper) set -- "${ship[@]}" ;;
        mirror) set -- "$mirror" ;; watcher) set -- "$watcher" ;;
        broker) set -- $(scripts/kafka-dev.sh pids | grep -v -- -) ;;
        esac
        for p; do awk -v k=$kind -v p="$p" '{ print k, p, $14 + $15 }' "/proc/$p/stat" 2>/dev/null || true; done
    done
    awk '$1 == "cpu" { all = 0; for (i = 2; i <= 9; i++) all += $i; print "machine", all - $5 - $6, all }' /proc/stat
    echo "time $(date +%s.%N) $(cut -d' ' -f1 /proc/loadavg)"
}
warm=$((seconds / 6 < 10 ? seconds / 6 : 10))
sleep "$warm"
snap >"$work/snap0"
rest=$((seconds - warm - 2 > 1 ? seconds - warm - 2 : 1))
if [ -n "$kills" ]; then
    # The issue's soak: broker 2 SIGKILLed a third of the way in and started again 10 s later, host 1's
    # shipper SIGKILLed two thirds of the way in and started again 2 s later.
    t0=$SECONDS
    sleep $((rest / 3))
    kill -KILL "$(scripts/kafka-dev.sh pids | sed -n 2p)"
    echo "kill: broker 2 at $((SECONDS - t0 + warm)) s of the run"
    sleep 10
    scripts/kafka-dev.sh start 3 >"$work/kafka-restart.log" 2>&1
    echo "restart: broker 2 running again at $((SECONDS - t0 + warm)) s"
    sleep $((rest * 2 / 3 - (SECONDS - t0) > 1 ? rest * 2 / 3 - (SECONDS - t0) : 1))
    kill -KILL "${ship[1]}"
    echo "kill: soak-h$(printf %0${#hosts}d 1)'s shipper at $((SECONDS - t0 + warm)) s"
    wait "${ship[1]}" 2>/dev/null || true
    sleep 2
    start_shipper 1
    sleep $((rest - (SECONDS - t0) > 1 ? rest - (SECONDS - t0) : 1))
else
    sleep "$rest"
fi
snap >"$work/snap1"
wait "${producers[@]}"
kill "$sampler"
for i in $(seq "$hosts"); do
    for _ in $(seq 100); do [ -z "$(ls -A "$work/soak-h$(printf %0${#hosts}d "$i")/seg")" ] && break; sleep 0.1; done
    kill -TERM "${col[$i]}"
done
wait "${col[@]}" 2>/dev/null || true
sleep 2 # a metrics write after the collectors' last frames
# Every shipper's files acknowledged (its lag in bytes 0), up to 10 minutes: how long the fleet took to
# catch up after its producers ended, then the whole topic mirrored again (the follower's copy may trail).
caught=$(date +%s.%N)
for _ in $(seq 600); do
    behind=0
    awk '$1 ~ /^shmlog_ship_lag_bytes[{]/ && $2 > 0 { b = 1 } END { exit !b }' "$work"/soak-h*/prom && behind=1
    [ $behind = 0 ] && break
    sleep 1
done
t2=$(date +%s.%N)
sleep 2 # the follower's last frames
kill -TERM "${ship[@]}" "$mirror" "$watcher"
wait "${ship[@]}" "$mirror" "$watcher" 2>/dev/null || true
"$build/dump/shmlog-dump" mirror "$url" --out "$work/whole" 2>>"$work/mirror.log"
python3 -c 'import sys; print(f"caught up: every shipper acknowledged to its files end {float(sys.argv[2]) - float(sys.argv[1]):.1f} s after the collectors were stopped")' "$caught" "$t2"
for i in $(seq -w 1 "$hosts"); do ls "$work/soak-h$i/out/"*.shlog; done | xargs "$build/bench/shmlog-bench-index" --frames >"$work/frames.txt"
python3 - "$work" "$hosts" "$(getconf CLK_TCK)" "$build/dump/shmlog-dump" "$measured_ns" <<'PY'
import bisect, collections, glob, json, os, re, subprocess, sys
work, hosts, hz, dump, measured = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
width = len(str(hosts))

def quantiles(xs):
    xs = sorted(xs)
    q = lambda p: xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")
    return f"p50 {q(0.5):.3f} s, p99 {q(0.99):.3f} s, max {q(1):.3f} s"

lags = [float(x) for x in open(f"{work}/lag.txt").read().split()]
print(f"lag (the oldest frame not acknowledged, {len(lags)} samples over every shipper): {quantiles(lags)}")

# Each frame of the collectors' files (closed, indexed), and when the mirror's copy of its file reached its end.
frames = collections.defaultdict(list)  # host -> [(file name, end, records, ns_min, ns_max)] in file order
for line in open(f"{work}/frames.txt"):
    path, _, end, recs, ns_min, ns_max = line.split()
    name = os.path.basename(path)
    frames[name.rsplit("-", 3)[0]].append((name, int(end), int(recs), int(ns_min), int(ns_max)))
grew = collections.defaultdict(list)  # file name -> [(size, mtime_ns)] as it grew
for line in open(f"{work}/arrivals.txt"):
    name, size, mtime = line.split()
    grew[name].append((int(size), int(mtime)))
for g in grew.values():
    g.sort()

def arrival(name, end):
    g = grew.get(name, [])
    i = bisect.bisect_left(g, (end, 0))
    return min(m for _, m in g[i:]) if i < len(g) else None

ok, delays, transport, by10, unseen = 0, [], [], collections.defaultdict(list), 0
for i in range(1, hosts + 1):
    h = f"soak-h{i:0{width}d}"
    said = open(f"{work}/{h}/sample.out").read()
    calls, written = (int(re.search(p, said).group(1)) for p in (r"(\d+) log calls", r"(\d+) written"))
    files = sorted(glob.glob(f"{work}/whole/{h}-*"))
    out = subprocess.run([dump, "read", *files, "--format", "json"], capture_output=True, text=True).stdout if files else ""
    lines = out.splitlines()
    every = [l for l in lines if '"msg":' in l]  # the warm-up's too: they fill the first frames
    app = f'"app":"app{i:0{width}d}"'
    recs = [l for l in every if app in l]
    lost = sum(json.loads(l)["loss"]["records"] for l in lines if '"loss":' in l and app in l)
    if len(recs) == written and written + lost == calls and len(set(recs)) == len(recs):
        ok += 1
    else:
        print(f"  {h}: {calls} calls, {written} written, {len(recs)} in the mirror ({len(set(recs))} distinct), {lost} lost")
    # A host's records in time order fill its frames in file order (one thread: its frames do not overlap in time).
    ts = sorted(int(l[len('{"ts_ns":'):l.index(",")]) for l in every)
    t0 = measured
    at = 0
    for name, end, n, ns_min, ns_max in frames.get(h, []):
        if not n:
            continue
        got = arrival(name, end)
        if got is None:
            unseen += n
        else:
            if ns_max >= measured:
                transport.append((got - ns_max) / 1e9)
            for t in ts[at:at + n]:
                if t >= measured:
                    delays.append((got - t) / 1e9)
                    by10[(t - t0) // 10**10].append((got - t) / 1e9)
        at += n
print(f"write-to-mirror delay ({len(delays)} records{f', {unseen} in frames the follower had not written' if unseen else ''}): "
      f"{quantiles(delays)}")
print("  p99 by 10 s of the run: " + " ".join(f"{sorted(v)[int(0.99 * len(v))]:.2f}" for _, v in sorted(by10.items())))
print(f"  frames' transport (arrival minus their newest record, {len(transport)} frames): {quantiles(transport)}")
print(f"once: {ok} of {hosts} hosts have every record in the mirror once (written, or counted lost by the producer)")

def snap(path):
    kinds, other = collections.defaultdict(dict), {}
    for line in open(path):
        f = line.split()
        if f[0] in ("machine", "time"):
            other[f[0]] = [float(x) for x in f[1:]]
        else:
            kinds[f[0]][f[1]] = int(f[2])
    return kinds, other

k0, o0 = snap(f"{work}/snap0")
k1, o1 = snap(f"{work}/snap1")
wall = o1["time"][0] - o0["time"][0]
machine = (o1["machine"][0] - o0["machine"][0]) / (o1["machine"][1] - o0["machine"][1]) * os.cpu_count()
print(f"cpu over {wall:.0f} s of the run (load {o0['time'][1]:.1f} to {o1['time'][1]:.1f}; the machine's cpus busy: "
      f"{machine:.2f} of {os.cpu_count()}), cpu-s per wall-s:")
total = 0
for kind in ("collector", "sample", "shipper", "mirror", "watcher", "broker"):
    per = sorted((k1[kind][p] - k0[kind][p]) / hz / wall for p in k1[kind] if p in k0[kind])
    if per:
        total += sum(per)
        print(f"  {kind:9} {len(per):3} processes: {sum(per):.3f} in all, each median {per[len(per) // 2]:.4f}, max {per[-1]:.4f}")
print(f"  all of them: {total:.3f}")
PY
[ -z "${SHMLOG_SOAK_KEEP:-}" ] || echo "kept: $work"
