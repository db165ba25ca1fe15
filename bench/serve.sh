#!/usr/bin/env bash
# shmlog-dump serve (issue 51): RECORDS of shmlog-sample's trading mix written by the real collector
# (--max-delay-ms 10), served on loopback, then
#   1. /api/query for a 1 ms window in the middle of the set: time to the first byte and to the end (curl's
#      time_starttransfer and time_total), RUNS times, and the records it answered against read's;
#   2. /api/query?limit=1000000 streamed to /dev/null by curl: the time, and the server's peak RSS (VmHWM)
#      against its RSS before;
#   3. /api/tail, and shmlog-dump follow beside it: a producer logs 100 records a second for 5 s (in bursts
#      of 64: shmlog-sample paces every 64 calls); for each
#      record the client receives, its wall-clock time at receipt minus the record's ts_ns (the log call's
#      time, so the figure holds the collector's delay, section 4, as well as the server's 20 ms poll or
#      follow's 100 ms one); then /api/tail?live=1, whose records come from the rings (20 ms poll).
#   4. the collector's own floor: a burst's first log call to the next growth of the open .part.
#   5. beside 200 slow clients, 300 stalled request headers and malformed requests: another query's
#      answer, each malformed request's status, the 1 ms window again, and the server's RSS;
#   6. the search page in headless chromium: the 1 ms window, a field's filter (SERVE_WHERE, default
#      sym=ESZ6), a record's detail and the live tail, timed from the click, a screenshot of each (into
#      SERVE_SHOTS, default /tmp/shmlog-serve-page).
#   bench/serve.sh [RECORDS] [RUNS]     (defaults 2M and 5)
#   bench/serve.sh --set DIR [RUNS]     over a set kept by `bench/search.sh --keep DIR` (sections 1 and 2
#                                       over the set alone; the rest over it linked into the served
#                                       directory, where 3, 4 and 6 log beside it)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/common.sh
. "$repo/bench/common.sh"
set=""
if [ "${1:-}" = --set ]; then
    [ -d "${2:-}/out" ] || { echo "serve.sh: --set wants a directory kept by bench/search.sh --keep (with out/ in it)" >&2; exit 2; }
    set=$(cd "$2/out" && pwd)
    shift 2
    set -- "the kept set's" "$@"
fi
given=${1:-2M}
runs=${2:-5}
records=$given
[ -n "$set" ] || records=$(count_value "$given") || { echo "serve.sh: RECORDS wants a count like 2M, not '$given'" >&2; exit 2; }
build=${SHMLOG_BUILD:-$repo/build}
ninja -C "$build" dump/shmlog-dump collector/shmlog-collector examples/shmlog-sample >/dev/null
dump=$build/dump/shmlog-dump
tmp=$(mktemp -d /tmp/shmlog-bench-serve-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/seg" "$tmp/out"
# Hard links: the set is read, never written, and the collector only adds files of its own beside it.
[ -n "$set" ] && { cp -al "$set/." "$tmp/out/" 2>/dev/null || cp -a "$set/." "$tmp/out/"; }
"$build/collector/shmlog-collector" --dir "$tmp/seg" --out "$tmp/out" --max-delay-ms 10 >"$tmp/collector.log" 2>&1 &
pids+=($!)
sleep 1
[ -n "$set" ] || SHMLOG_DIR=$tmp/seg "$build/examples/shmlog-sample" --app bench --count "$records" --rate 400000 >/dev/null
sleep 1

# serve [DIR]: a server over DIR (the served directory by default) and the live segments.
serve() {
    "$dump" serve "${1:-$tmp/out}" --dir "$tmp/seg" --listen 127.0.0.1:0 2>"$tmp/serve.log" &
    srv=$!
    pids+=("$srv")
    for _ in $(seq 100); do grep -q 'listening on' "$tmp/serve.log" && break; sleep 0.05; done
    port=$(sed -n 's|.*listening on http://[^ ]*:\([0-9]*\)/$|\1|p' "$tmp/serve.log")
    url=http://127.0.0.1:$port
}
rss() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$srv/status"; }

echo "# $(date -u +%FT%TZ) $(nproc) cpus; $records records (bench/serve.sh $*)"
queried=${set:-$tmp/out}
serve "$queried"
read -r first last < <(curl -s "$url/api/stats" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["first_ts_ns"], s["last_ts_ns"])')
mid=$(((first + last) / 2))
want=$("$dump" read --format json --since "$mid" --until $((mid + 1000000)) "$queried" 2>/dev/null | wc -l)
echo "## 1 ms window in the middle ($mid ns): read prints $want lines"
for i in $(seq "$runs"); do
    python3 - "$port" "/api/query?since=$mid&until=$((mid + 1000000))" <<'EOF'
import socket, sys, time
t = time.perf_counter()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET %s HTTP/1.0\r\nHost: x\r\n\r\n" % sys.argv[2].encode())
data, first = b"", None
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
    body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    if first is None and b"\n" in body:
        first = time.perf_counter() - t
total = time.perf_counter() - t
lines = data.split(b"\r\n\r\n", 1)[1].split(b"\n")[:-1]
print("first record %.1f ms, all %.1f ms, %d lines + the end line: %s" % (first * 1e3, total * 1e3, len(lines) - 1, lines[-1][:40].decode()))
EOF
done
/usr/bin/time -f "read --since --until of the same window: %e s wall, %U+%S s cpu, %M KiB peak" \
    "$dump" read --format json --since "$mid" --until $((mid + 1000000)) "$queried" 2>&1 >/dev/null | grep -v '^shmlog-dump: note'
kill "$srv"
wait "$srv" 2>/dev/null || true

serve "$queried"
before=$(rss VmRSS)
echo "## 1 M records streamed"
curl -s -o /dev/null -w "%{size_download} bytes in %{time_total} s, first byte %{time_starttransfer} s\n" \
    "$url/api/query?limit=1000000"
echo "server RSS before ${before} KiB, peak (VmHWM) $(rss VmHWM) KiB"
if [ -n "$set" ]; then
    kill "$srv"
    wait "$srv" 2>/dev/null || true
    serve
fi

# tail_latency APP QUERY: /api/tail?QUERY while APP logs 100 records a second for 5 s
tail_latency() {
python3 - "$port" "$tmp/seg" "$build/examples/shmlog-sample" "$1" "$2" <<'EOF'
import json, os, socket, subprocess, sys, time
port, seg, sample, app, query = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"GET /api/tail?%s HTTP/1.0\r\nHost: x\r\n\r\n" % query.encode())  # not chunked: a chunk's size would cut a line
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(4096)
buf = head.split(b"\r\n\r\n", 1)[1]
p = subprocess.Popen([sample, "--app", app, "--count", "500", "--rate", "100"], env=dict(os.environ, SHMLOG_DIR=seg),
                     stdout=subprocess.DEVNULL)
lat = []
s.settimeout(3)
while len(lat) < 501:
    try:
        b = s.recv(65536)
    except socket.timeout:
        break
    now = time.time_ns()
    buf += b
    *lines, buf = buf.split(b"\n")
    for l in lines:
        if l.startswith(b"data: "):
            r = json.loads(l[6:])
            if "msg" in r:
                lat.append((now - r["ts_ns"]) / 1e6)
p.wait()
lat.sort()
q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
print("serve /api/tail?%s, %d records: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms" % (query, len(lat), q(0.5), q(0.9), q(0.99), lat[-1]))
EOF
}
echo "## tail: record's time to its receipt, 100 records/s for 5 s"
tail_cpu_before=$(awk '{print $14 + $15}' "/proc/$srv/stat")
tail_latency lat app=lat
echo "serve's cpu time over the tail: $(awk -v b="$tail_cpu_before" '{print ($14 + $15 - b) / 100}' "/proc/$srv/stat") s"
echo "## tail?live=1: the same, each record from its ring (polled every 20 ms), before the collector writes it"
tail_cpu_before=$(awk '{print $14 + $15}' "/proc/$srv/stat")
tail_latency latlive 'app=latlive&live=1'
echo "serve's cpu time over the live tail: $(awk -v b="$tail_cpu_before" '{print ($14 + $15 - b) / 100}' "/proc/$srv/stat") s"
python3 - "$dump" "$tmp/out" "$tmp/seg" "$build/examples/shmlog-sample" <<'EOF'
import json, os, subprocess, sys, time
dump, out, seg, sample = sys.argv[1:5]
f = subprocess.Popen([dump, "follow", "--out", out, "--format", "json"], stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL)
time.sleep(1)
p = subprocess.Popen([sample, "--app", "lat2", "--count", "500", "--rate", "100"], env=dict(os.environ, SHMLOG_DIR=seg),
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
lat = []
deadline = time.time() + 15
while len(lat) < 501 and time.time() < deadline:
    l = f.stdout.readline()
    now = time.time_ns()
    if not l:
        break
    r = json.loads(l)
    if r.get("app") == "lat2" and "msg" in r:
        lat.append((now - r["ts_ns"]) / 1e6)
f.kill()
p.wait()
lat.sort()
q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
print("shmlog-dump follow, %d records: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms" % (len(lat), q(0.5), q(0.9), q(0.99), lat[-1]))
EOF
echo "serve's cpu time over the run: $(awk '{print ($14 + $15) / 100}' "/proc/$srv/stat") s"

# The collector's own floor, with no reader's poll in it: shmlog-sample paces every 64 calls, so at
# 100 records a second it logs bursts of 64 records 0.64 s apart; the first growth of the open file after
# a burst's first log call is that record reaching the file.
echo "## the collector's floor: a burst's first record to the open file's next growth, 8 bursts"
python3 - "$tmp/out" "$tmp/seg" "$build/examples/shmlog-sample" "$dump" <<'EOF'
import glob, json, os, subprocess, sys, time
out, seg, sample, dump = sys.argv[1:5]
grows = []
last = None
p = subprocess.Popen([sample, "--app", "floor", "--count", "512", "--rate", "100"], env=dict(os.environ, SHMLOG_DIR=seg),
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
deadline = time.time() + 7
while time.time() < deadline:
    parts = glob.glob(os.path.join(out, "*.shlog.part"))
    size = os.stat(parts[0]).st_size if parts else None
    if last is not None and size is not None and size != last:
        grows.append(time.time_ns())
    last = size
    time.sleep(0.0005)
p.wait()
recs = subprocess.run([dump, "read", "--format", "json", "--app", "floor", out], capture_output=True).stdout.split(b"\n")
ts = [json.loads(l)["ts_ns"] for l in recs if l.startswith(b"{") and b'"msg"' in l]
firsts = [t for i, t in enumerate(ts) if i == 0 or t - ts[i - 1] > 100000000]
lat = sorted((min(g for g in grows if g >= t) - t) / 1e6 for t in firsts if any(g >= t for g in grows))
print("collector (--max-delay-ms 10), %d bursts: %s ms" % (len(lat), ", ".join("%.1f" % x for x in lat)))
EOF

# 5. Beside a crowd: N clients ask for the whole answer (half read a little and hang up, half never read),
# 300 request headers stall, malformed requests come in; each time another query must answer, and the
# server's RSS stays within the bound test_dump_serve.sh holds it to.
echo "## a crowd: 200 slow clients, 300 stalled request headers, malformed requests"
python3 "$repo/tests/serve_client.py" crowd "$port" "$srv" 200 | grep -v '_KIB '
python3 "$repo/tests/serve_client.py" stall "$port" "$srv" 300 256 10 | grep -v '_KIB '
for q in 'since=yesterday' 'level=LOUD' 'where=px%3E%3Dabc' 'limit=-1' 'format=xml' 'grep=%28' 'cursor=AAAA'; do
    printf '/api/query?%s: %s\n' "$q" "$(curl -s -o /dev/null -w '%{http_code}' "$url/api/query?$q")"
done
python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET \x01\x02 HTTP/9\r\n\r\n")
print("a request line of garbage: %s" % s.recv(64).split(b"\r\n")[0].decode(errors="replace"))
PY
curl -s -o /dev/null -w "then the 1 ms window again: first byte %{time_starttransfer} s, all %{time_total} s\n" \
    "$url/api/query?since=$mid&until=$((mid + 1000000))"
echo "server RSS now $(rss VmRSS) KiB, peak (VmHWM) $(rss VmHWM) KiB"

# 6. The search page in Debian's chromium (headless, playwright-core as scripts/setup.sh installs it):
# the 1 ms window, a field's filter in it, a record's detail and the live tail, with a screenshot of each.
shots=${SERVE_SHOTS:-/tmp/shmlog-serve-page}
modules=/opt/shmlog-test/browser/node_modules
if [ -f "$modules/playwright-core/package.json" ] && command -v chromium >/dev/null; then
    echo "## the search page in headless chromium (screenshots in $shots)"
    ninja -C "$build" tests/test-collector-producer >/dev/null
    NODE_PATH=$modules node "$repo/bench/serve_page.js" "$url" "$mid" $((mid + 1000000)) "${SERVE_WHERE:-sym=ESZ6}" \
        "$shots" "$build/tests/test-collector-producer" "$tmp/seg"
else
    echo "## the search page: skipped (playwright-core or chromium missing: scripts/setup.sh installs them)"
fi
