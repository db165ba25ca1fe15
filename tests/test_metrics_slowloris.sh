#!/bin/bash
# Description: shmlog-collector's metrics endpoint keeps answering while local slowloris clients hold connections: 40, then 200, connections from 127.0.0.1 (the scraper's own address) that trickle one header line a second and reconnect when dropped are held at first and closed by the server within its request deadline, and a scraper once a second gets 200 and the metrics text every time.
# usage: test_metrics_slowloris.sh (meson test sets COLLECTOR). Loopback only; about 35 s.
set -u
root=$(mktemp -d /tmp/shmlog-test-slowloris-XXXXXX)
tmp=$root # tap.sh's scratch directory
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
trap 'exit 1' TERM INT
tap_programs COLLECTOR
tap_require curl curl
tap_require python3 python3

# How long wait_for polls, in seconds.
timeout=20

# The server's request deadline (3 s in collector/metrics.c) and the slack
# allowed for the sweep and the client noticing the close.
deadline=3 slack=2
# As many held connections as the old server had slots (16): enough to blind it.
old_slots=16

# ==== The attacker ====

# slowloris.py PORT N SECONDS OUT: opens N connections that each send a request
# line and one header, then one more header line a second; every second the
# ones the server closed are opened again (as slowloris does), until SECONDS.
# OUT gets "held K" (of the first N, still open 0.5 s later), then at the end
# "opened", "closed" (by the server), "failed" (connects) and "max_life" (the
# longest a connection stayed open, in seconds, counting those still open).
cat >"$root/slowloris.py" <<'EOF'
import select, socket, sys, time

port, n, duration, out = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
conns = {}  # socket -> when it connected
lives = []  # seconds from connect to the server's close
opened = failed = 0


def connect():
    global opened, failed
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    except OSError:
        failed += 1
        return
    s.setblocking(False)
    conns[s] = time.monotonic()
    opened += 1


def gone(s):
    lives.append(time.monotonic() - conns.pop(s))
    s.close()


def watch(until):
    """Notes the connections the server closes, until the monotonic time until."""
    while conns:
        left = until - time.monotonic()
        if left <= 0:
            return
        readable, _, _ = select.select(list(conns), [], [], left)
        for s in readable:
            try:
                if not s.recv(4096):
                    gone(s)
            except BlockingIOError:
                pass
            except OSError:
                gone(s)


start = time.monotonic()
for _ in range(n):
    connect()
watch(time.monotonic() + 0.5)
with open(out, "a") as f:
    print("held", len(conns), file=f)
tick = 0
while time.monotonic() - start < duration:
    tick += 1
    watch(start + tick)
    for s in list(conns):
        try:
            s.send(b"X-Trickle-%d: x\r\n" % tick)
        except BlockingIOError:
            pass
        except OSError:
            gone(s)
    while len(conns) < n and time.monotonic() - start < duration:
        connect()
now = time.monotonic()
longest = max(lives + [now - t for t in conns.values()] + [0])
with open(out, "a") as f:
    print("opened", opened, file=f)
    print("closed", len(lives), file=f)
    print("failed", failed, file=f)
    print("max_life %.1f" % longest, file=f)
EOF

# ==== The collector ====

seg=$root/seg out=$root/out
mkdir -p "$seg"
export SHMLOG_DIR=$seg
collector_start "$root/collector.log" --dir "$seg" --out "$out" --metrics-listen 127.0.0.1:0
port_line() { grep -q 'metrics on http://127.0.0.1:[0-9]*/metrics' "$root/collector.log"; }
wait_for "$timeout" port_line || { diag "$root/collector.log"; bail "the collector did not report its metrics address"; }
port=$(sed -n 's#.*metrics on http://127.0.0.1:\([0-9]*\)/metrics.*#\1#p' "$root/collector.log" | head -1)
url=http://127.0.0.1:$port/metrics
scrape_ok() {
    [ "$(curl -s --max-time 2 -o "$root/scrape.txt" -w '%{http_code}' "$url")" = 200 ] &&
        grep -q '^shmlog_collector_records_total [0-9]' "$root/scrape.txt"
}
check "collector serves $url" wait_for "$timeout" scrape_ok

# ==== Slowloris while a scraper scrapes once a second ====

# attack N SECONDS: N slowloris connections; the scraper runs for SECONDS.
attack() {
    local conns=$1 seconds=$2 report=$root/attack-$1.txt
    timeout $((seconds + 20)) python3 "$root/slowloris.py" "$port" "$conns" $((seconds + 2)) "$report" &
    att_pid=$!
    pids+=("$att_pid")
    held() { grep -q '^held ' "$report" 2>/dev/null; }
    wait_for "$timeout" held || bail "the slowloris client did not start"
    local kept
    kept=$(sed -n 's/^held //p' "$report")
    check "$conns slowloris connections: $kept held open at the start (at least $old_slots)" [ "$kept" -ge $old_slots ]

    local scrapes=0 answered=0 end=$((SECONDS + seconds)) code
    while [ $SECONDS -lt $end ]; do
        scrapes=$((scrapes + 1))
        code=$(curl -s --max-time 2 -o "$root/scrape.txt" -w '%{http_code}' "$url")
        if [ "$code" = 200 ] && grep -q '^shmlog_collector_records_total [0-9]' "$root/scrape.txt"; then
            answered=$((answered + 1))
        else
            echo "# scrape $scrapes at ${SECONDS}s: HTTP $code"
        fi
        sleep 1
    done
    check "under $conns slowloris connections: $answered of $scrapes scrapes answered 200 with metrics" \
        [ $answered -eq $scrapes -a $scrapes -ge $((seconds / 2)) ]

    wait "$att_pid"
    local status=$?
    tap_forget "$att_pid"
    [ $status -eq 0 ] || { echo "# slowloris.py exit $status"; diag "$report"; }
    diag "$report"
    local life closed
    life=$(sed -n 's/^max_life //p' "$report")
    closed=$(sed -n 's/^closed //p' "$report")
    check "the server closed them ($closed closed) within ${deadline}s + ${slack}s (the longest lived ${life:-?}s)" \
        awk -v l="${life:-999}" -v c="${closed:-0}" -v m=$((deadline + slack)) 'BEGIN { exit !(c > 0 && l <= m) }'
}
attack 40 15
attack 200 8

# ==== Afterwards ====

check "the collector is still running" kill -0 "$col"
check "a scrape after the attacks is answered" scrape_ok
check "the collector exits 0 on SIGTERM" collector_stop
if grep -v 'metrics on http' "$root/collector.log" | grep -q .; then
    echo "# collector log:"
    head -20 "$root/collector.log" | diag
fi

tap_done
