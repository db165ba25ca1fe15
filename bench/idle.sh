#!/usr/bin/env bash
# What an idle collector costs: --producers processes each make their segments, log one record and sleep;
# shmlog-collector drains them (--poll adaptive, the default) and then has nothing to do. Its cpu time over
# --seconds (utime + stime from /proc/PID/stat) is printed as a share of one core, with the descriptors it
# holds. --planted N first fills the segment directory with N segment-named files of another uid (nobody,
# as root) or of ours, that are not segments: what a hostile local user can put in a shared directory.
#   bench/idle.sh [--producers N] [--seconds S] [--ring-bytes B] [--planted N] [--collector PATH]
#   defaults: 600 producers, 30 s, 1 MiB rings (600 default rings would take 6 GB), nothing planted, the
#   build's collector (--collector: another build's, to compare)
#   SHMLOG_BUILD: the build directory (default build)
set -euo pipefail
cd "$(dirname "$0")/.."

producers=600 seconds=30 ring_bytes=$((1 << 20)) planted=0 collector=
while [ $# -gt 0 ]; do
    case "$1" in
    --producers) producers=${2:?--producers needs a value}; shift 2 ;;
    --seconds) seconds=${2:?--seconds needs a value}; shift 2 ;;
    --ring-bytes) ring_bytes=${2:?--ring-bytes needs a value}; shift 2 ;;
    --planted) planted=${2:?--planted needs a value}; shift 2 ;;
    --collector) collector=${2:?--collector needs a path}; shift 2 ;;
    *) echo "idle.sh: unknown argument: $1 (see the comment at the top)" >&2; exit 2 ;;
    esac
done
for n in "$producers" "$seconds" "$ring_bytes" "$planted"; do
    case "$n" in '' | *[!0-9]*) echo "idle.sh: every option takes a whole number: $n" >&2; exit 2 ;; esac
done

build=${SHMLOG_BUILD:-build}
ninja -C "$build" collector/shmlog-collector bench/shmlog-bench-idle-producer >/dev/null
collector=${collector:-$build/collector/shmlog-collector}
work=$(mktemp -d /tmp/shmlog-bench-idle.XXXXXX)
seg=/dev/shm/shmlog-bench-idle-$$ # tmpfs: 600 producers' segments would fill the hugepage pool
col=
pids=()
cleanup() {
    [ -n "$col" ] && kill -TERM "$col" 2>/dev/null && wait "$col" 2>/dev/null
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait "${pids[@]}" 2>/dev/null || true
    rm -rf "$work" "$seg"
}
trap cleanup EXIT
mkdir -p "$seg" "$work/out"
chmod 1777 "$seg"

if [ "$planted" -gt 0 ]; then
    # Names the collector parses as segments (APP-PID-cpuN.ring, APP-PID.meta), made by another uid when
    # we are root: refused by owner, never opened.
    as=()
    [ "$(id -u)" = 0 ] && as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    "${as[@]}" /usr/bin/python3 -c '
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    name = "planted-%d-cpu0.ring" % (100000 + i) if i % 2 else "planted-%d.meta" % (100000 + i)
    os.close(os.open(os.path.join(d, name), os.O_CREAT | os.O_WRONLY, 0o600))
' "$seg" "$planted"
fi

"$collector" --dir "$seg" --out "$work/out" 2>"$work/collector.log" &
col=$!
for ((i = 0; i < producers; i++)); do
    SHMLOG_DIR=$seg "$build/bench/shmlog-bench-idle-producer" "$ring_bytes" >"$work/p$i" 2>&1 &
    pids+=($!)
done
for ((i = 0; i < producers; i++)); do
    until grep -q ready "$work/p$i" 2>/dev/null; do
        kill -0 "${pids[$i]}" 2>/dev/null || { echo "idle.sh: producer $i failed: $(cat "$work/p$i")" >&2; exit 1; }
        sleep 0.05
    done
done
sleep $((3 + planted / 30000)) # the collector attaches the last segments, writes their records, lists the planted names

ticks() { awk '{print $14 + $15}' "/proc/$col/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks) s0=$(date +%s.%N)
sleep "$seconds"
t1=$(ticks) s1=$(date +%s.%N)
fds=$(ls "/proc/$col/fd" | wc -l)
awk -v t="$((t1 - t0))" -v hz="$hz" -v a="$s0" -v b="$s1" -v p="$producers" -v r="$ring_bytes" -v n="$planted" \
    -v f="$fds" 'BEGIN {
    printf "idle collector: %.1f %% of a core over %.0f s; %d producers (rings of %d bytes), %d planted files, %d descriptors\n",
        100 * t / hz / (b - a), b - a, p, r, n, f }'
