#!/bin/bash
# Description: shmlog-collector's metrics: a real Prometheus server scrapes --metrics-listen and its query API returns the records a producer logged; promtool accepts the scraped text; a segment renamed to a hostile app name is refused and reaches no label; per-ring and per-process series are right; the clock series say what the cpu flags, sysfs and adjtimex say (TSC invariant, clocksource, synchronised, errors) and count anchors; the --metrics-file textfile is valid and replaced atomically (rename: new inode, never seen half written, no .tmp left); non-loopback addresses are refused; the HTTP thread stays off the --cpu drain cpu.
# usage: test_metrics.sh (meson test sets COLLECTOR and TEST_PRODUCER). Needs the Debian
# prometheus package (scripts/setup.sh installs it).
set -u
root=$(mktemp -d /tmp/shmlog-test-metrics-XXXXXX)
tmp=$root # tap.sh's scratch directory
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
trap 'exit 1' TERM INT
tap_programs COLLECTOR TEST_PRODUCER

# How long wait_for polls, in seconds.
timeout=20

# refused WORD ARGS...: the collector exits 2 with one line on stderr that has WORD.
refused() {
    local word=$1
    shift
    "$COLLECTOR" --dir "$seg" --out "$root/refused-out" "$@" 2>"$root/refused.log" 3>&-
    local status=$?
    [ $status -eq 2 ] && [ "$(wc -l <"$root/refused.log")" -eq 1 ] && grep -q -- "$word" "$root/refused.log" ||
        { echo "# exit $status:"; diag "$root/refused.log"; return 1; }
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ==== Prometheus and promtool ====

tap_require prometheus prometheus promtool
tap_require curl curl
tap_require python3 python3
echo "# $(prometheus --version 2>&1 | head -1)"

# ==== The collector and a producer ====

seg=$root/seg out=$root/out textdir=$root/textfile
mkdir -p "$seg" "$textdir"
textfile=$textdir/shmlog.prom
export SHMLOG_DIR=$seg

collector_start "$root/collector.log" --dir "$seg" --out "$out" --metrics-listen 127.0.0.1:0 \
    --metrics-file "$textfile" --metrics-interval 1
port_line() { grep -q 'metrics on http://127.0.0.1:[0-9]*/metrics' "$root/collector.log"; }
wait_for "$timeout" port_line || { diag "$root/collector.log"; bail "the collector did not report its metrics address"; }
port=$(sed -n 's#.*metrics on http://127.0.0.1:\([0-9]*\)/metrics.*#\1#p' "$root/collector.log" | head -1)
url=http://127.0.0.1:$port/metrics
ok "collector serves $url"
check "a second collector on the same port: exit 2, one line" refused 'Address already in use' --metrics-listen "127.0.0.1:$port"

# The producer holds its segments until fd 3 closes, so its ring series stay.
threads=2 count=40000
mkfifo "$root/hold"
"$TEST_PRODUCER" --threads $threads --count $count --hold <"$root/hold" >"$root/producer.out" &
prod_pid=$!
pids+=("$prod_pid")
exec 3>"$root/hold"
producer_done() { grep -q '^done ' "$root/producer.out"; }
wait_for "$timeout" producer_done || bail "the producer did not finish"
dropped=$(sed -n 's/^done //p' "$root/producer.out")
expected=$((threads * count - dropped))
echo "# producer $prod_pid logged $((threads * count)) records, dropped $dropped"

# A meta segment named with a quote, a backslash, a newline and a byte that is
# not UTF-8 (any local user can name a file so): the app comes from inside the
# segment, never from its name, so the copy is refused and no label has it.
weird_app=$'we"ird\\app\nx\xff'
# Copied then renamed, so the collector meets it whole (a half-copied one is
# refused too, but for its size, which the check below does not look for).
cp "$seg/tprod-$prod_pid.meta" "$seg/copying" && mv "$seg/copying" "$seg/$weird_app-$prod_pid.meta"

scrape() { curl -sf "$url" >"$root/scrape.txt"; }
value() { # value NAME_WITH_LABELS [file]
    awk -v k="$1" 'index($0, k " ") == 1 { print $NF; found = 1 } END { exit !found }' "${2:-$root/scrape.txt}"
}
drained() { scrape && [ "$(value shmlog_collector_records_total)" = "$expected" ] &&
            grep -q "differs from the app 'tprod' inside" "$root/collector.log"; }
check "the scrape shows all $expected records drained, and the renamed segment was refused" wait_for "$timeout" drained

# ==== The scraped text ====

if promtool check metrics <"$root/scrape.txt" >"$root/promtool.out" 2>&1 && [ ! -s "$root/promtool.out" ]; then
    ok "promtool check metrics: no problem in the scrape"
else
    not_ok "promtool check metrics found problems"
    diag "$root/promtool.out"
fi
for name in shmlog_ring_records_total shmlog_ring_bytes_total shmlog_ring_dropped_records_total \
            shmlog_ring_fill_ratio shmlog_ring_lag_seconds shmlog_process_call_sites shmlog_process_level \
            shmlog_process_out_of_range_total shmlog_category_level shmlog_category_records_total \
            shmlog_collector_files_total shmlog_collector_written_bytes_total shmlog_collector_records_total \
            shmlog_collector_fast_frames_total \
            shmlog_collector_compression_ratio shmlog_collector_write_errors_total \
            shmlog_collector_rotations_total shmlog_collector_cpu_seconds_total \
            shmlog_collector_segments_rejected_total shmlog_collector_losses_total \
            shmlog_clock_tsc_invariant shmlog_clock_info shmlog_clock_synchronized \
            shmlog_clock_estimated_error_seconds shmlog_clock_max_error_seconds shmlog_clock_tsc_hz \
            shmlog_clock_anchor_error_seconds shmlog_clock_anchors_total shmlog_clock_steps_total; do
    type=gauge
    case $name in *_total) type=counter ;; esac
    grep -qx "# TYPE $name $type" "$root/scrape.txt" && grep -q "^# HELP $name " "$root/scrape.txt" ||
        not_ok "$name has no HELP or no TYPE $type"
done
ok "every metric has HELP and TYPE lines (counters end in _total)"

# The names the Grafana dashboard may use (tests/test_grafana.sh holds it to
# this list) must be exactly the ones exposed, with the same types.
contract=$(dirname "$0")/../dist/shmlog-metrics.txt
if [ -f "$contract" ]; then
    missing='' extra=''
    while read -r name type _; do
        case $name in '' | '#'*) continue ;; esac
        grep -qx "# TYPE $name $type" "$root/scrape.txt" || missing="$missing $name($type)"
    done <"$contract"
    for name in $(awk '/^# TYPE / { print $3 }' "$root/scrape.txt"); do
        grep -q "^$name " "$contract" || extra="$extra $name"
    done
    check "the exposed families are exactly dist/shmlog-metrics.txt${missing:+; missing:$missing}${extra:+; not listed:$extra}" \
        [ -z "$missing$extra" ]
else
    skip "the exposed families are the listed ones" "no dist/shmlog-metrics.txt to compare with"
fi

ring_sum=$(awk -v p="$prod_pid" 'index($0, "shmlog_ring_records_total{app=\"tprod\",pid=\"" p "\"") == 1 { s += $NF } END { print s + 0 }' "$root/scrape.txt")
check "per-ring records of the producer add up to $expected (got $ring_sum)" [ "$ring_sum" = "$expected" ]
ring_bytes=$(awk -v p="$prod_pid" 'index($0, "shmlog_ring_bytes_total{app=\"tprod\",pid=\"" p "\"") == 1 { s += $NF } END { print s + 0 }' "$root/scrape.txt")
check "per-ring payload bytes are at least 20 per record (got $ring_bytes)" [ "$ring_bytes" -ge $((expected * 20)) ]
check "the producer's call sites (1) and live level (INFO = 2)" \
    [ "$(value "shmlog_process_call_sites{app=\"tprod\",pid=\"$prod_pid\"}")" = 1 -a \
      "$(value "shmlog_process_level{app=\"tprod\",pid=\"$prod_pid\"}")" = 2 ]
fills_ok() { awk '/^shmlog_ring_(fill_ratio|lag_seconds)\{/ { if ($NF < 0 || ($1 ~ /fill/ && $NF > 1)) bad = 1; n++ } END { exit bad || !n }' "$root/scrape.txt"; }
check "ring fill ratios are in [0, 1] and lags not negative" fills_ok
check "no label carries the renamed segment's name, and the producer is one process" \
    [ "$(grep -c 'app="we' "$root/scrape.txt")" = 0 -a "$(grep -c '^shmlog_process_level{' "$root/scrape.txt")" = 1 ]
check "compression ratio is above 1 (got $(value shmlog_collector_compression_ratio))" \
    awk -v r="$(value shmlog_collector_compression_ratio)" 'BEGIN { exit !(r > 1) }'
# ==== The host's clocks ====

# What the series must say, read from the kernel's own sources, not through shm/clock.c.
read -r want_inv want_cs want_sync want_est want_max <<<"$(python3 "$(dirname "$0")/host_clock.py")"
echo "# expected: tsc invariant $want_inv, clocksource $want_cs, synchronised $want_sync (esterror ${want_est} s, maxerror ${want_max} s)"
check "shmlog_clock_tsc_invariant is $want_inv, as /proc/cpuinfo's flags say (got $(value shmlog_clock_tsc_invariant))" \
    [ "$(value shmlog_clock_tsc_invariant)" = "$want_inv" ]
check "shmlog_clock_info has the current clocksource, $want_cs: $(grep '^shmlog_clock_info' "$root/scrape.txt")" \
    [ "$(grep -c '^shmlog_clock_info{' "$root/scrape.txt")" = 1 -a "$(value "shmlog_clock_info{clocksource=\"$want_cs\"}")" = 1 ]
check "shmlog_clock_synchronized is $want_sync, as adjtimex says (got $(value shmlog_clock_synchronized))" \
    [ "$(value shmlog_clock_synchronized)" = "$want_sync" ]
# The kernel's errors move with every NTP update (and maxerror grows by 500
# ppm a second between them): within 10 ms, or 10 %, of what adjtimex said.
near() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && (d <= 0.01 || d <= 0.1 * b)) }'; }
check "shmlog_clock_estimated_error_seconds is near adjtimex's $want_est s (got $(value shmlog_clock_estimated_error_seconds))" \
    near "$(value shmlog_clock_estimated_error_seconds)" "$want_est"
check "shmlog_clock_max_error_seconds is near adjtimex's $want_max s (got $(value shmlog_clock_max_error_seconds))" \
    near "$(value shmlog_clock_max_error_seconds)" "$want_max"
# One frame written (records_total above) means anchors around it.
check "shmlog_clock_anchors_total > 0 once a frame was written (got $(value shmlog_clock_anchors_total))" \
    awk -v v="$(value shmlog_clock_anchors_total)" 'BEGIN { exit !(v != "" && v + 0 > 0) }'
is_count() { case $1 in '' | *[!0-9]*) return 1 ;; esac; }
check "shmlog_clock_steps_total is a count (got $(value shmlog_clock_steps_total))" \
    is_count "$(value shmlog_clock_steps_total)"
check "shmlog_clock_anchor_error_seconds is in [0, 1 ms] (got $(value shmlog_clock_anchor_error_seconds))" \
    awk -v v="$(value shmlog_clock_anchor_error_seconds)" 'BEGIN { exit !(v != "" && v + 0 >= 0 && v + 0 <= 0.001) }'
check "shmlog_clock_tsc_hz is a cpu's rate, 100 MHz .. 10 GHz (got $(value shmlog_clock_tsc_hz))" \
    awk -v v="$(value shmlog_clock_tsc_hz)" 'BEGIN { exit !(v != "" && v + 0 >= 1e8 && v + 0 <= 1e10) }'

check "GET /nope is 404" [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope")" = 404 ]
check "POST /metrics is 405" [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url")" = 405 ]
check "the content type is the text format 0.0.4" \
    sh -c "curl -sI '$url' | grep -qi '^content-type: text/plain; version=0.0.4'"

# ==== A real Prometheus server scrapes it ====

pport=$(free_port)
cat >"$root/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: shmlog
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
prometheus --config.file="$root/prometheus.yml" --storage.tsdb.path="$root/tsdb" \
    --web.listen-address="127.0.0.1:$pport" >"$root/prometheus.log" 2>&1 3>&- &
prom_pid=$!
pids+=("$prom_pid")
api=http://127.0.0.1:$pport/api/v1
# The first value of an instant vector query, or nothing.
query() {
    curl -sf "$api/query" --data-urlencode "query=$1" |
        python3 -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")' 2>/dev/null
}
prom_has() { [ "$(query 'shmlog_collector_records_total > 0')" = "$expected" ]; }
timeout=60
if wait_for "$timeout" prom_has; then
    ok "Prometheus' API: shmlog_collector_records_total > 0 is $expected"
else
    not_ok "Prometheus never returned shmlog_collector_records_total = $expected (got '$(query shmlog_collector_records_total)')"
    diag "$root/prometheus.log"
fi
timeout=20
check "Prometheus' target is up" [ "$(query 'up{job="shmlog"}')" = 1 ]
health=$(curl -sf "$api/targets" | python3 -c 'import json, sys
t = json.load(sys.stdin)["data"]["activeTargets"]
print(t[0]["health"] if len(t) == 1 and not t[0]["lastError"] else "bad")' 2>/dev/null)
check "the target's last scrape had no error (health $health)" [ "$health" = up ]
check "Prometheus sums the producer's ring series to $expected" \
    [ "$(query "sum(shmlog_ring_records_total{app=\"tprod\",pid=\"$prod_pid\"})")" = "$expected" ]
# dropped, dead_writer, overwritten, corrupt, no_ring, unregistered, before_init, unencodable, file_removed
check "Prometheus has every loss reason the collector counts" [ "$(query 'count(shmlog_collector_losses_total)')" = 9 ]

# ==== The textfile ====

if promtool check metrics <"$textfile" >"$root/promtool-file.out" 2>&1 && [ ! -s "$root/promtool-file.out" ]; then
    ok "promtool check metrics: no problem in the textfile"
else
    not_ok "promtool check metrics found problems in the textfile"
    diag "$root/promtool-file.out"
fi
# Read it for about 4 s while it is rewritten every second: every read must be
# whole (its last family's last line present) and the inode must change
# (a rename over it, not a rewrite in place; a freed inode number may come
# back, so changes are counted, not distinct numbers).
last=$(stat -c %i "$textfile") changes=0 torn=0 reads=0
end=$((SECONDS + 4))
while [ $SECONDS -lt $end ]; do
    i=$(stat -c %i "$textfile")
    [ "$i" != "$last" ] && changes=$((changes + 1))
    last=$i
    tail -n 1 "$textfile" | grep -q '^shmlog_collector_losses_total{reason="file_removed"} [0-9]*$' || torn=$((torn + 1))
    reads=$((reads + 1))
    sleep 0.01
done
check "the textfile was whole in all $reads reads while rewritten ($torn torn)" [ $torn -eq 0 ]
check "the textfile was replaced by rename ($changes inode changes in 4 s)" [ $changes -ge 2 ]
check "the textfile shows the records" [ "$(value shmlog_collector_records_total "$textfile")" = "$expected" ]

# ==== Shutdown: the final textfile ====

exec 3>&- # the producer exits; the collector drains it and removes its segments
exited() { ! kill -0 "$prod_pid" 2>/dev/null || [ "$(awk '{ print $3 }' "/proc/$prod_pid/stat")" = Z ]; }
wait_for "$timeout" exited || bail "the producer did not exit when its stdin closed"
wait "$prod_pid"
tap_forget "$prod_pid"
old_pid=$prod_pid
gone() { [ "$(ls -A "$seg")" = "$weird_app-$old_pid.meta" ]; }
check "the exited producer's segments were removed, the refused renamed meta left alone" wait_for "$timeout" gone
check "the collector exits 0 on SIGTERM" collector_stop
check "no textfile .tmp is left" [ ! -e "$textfile.tmp" ]
check "the last textfile has the final count and no ring of the exited producer" \
    [ "$(value shmlog_collector_records_total "$textfile")" = "$expected" -a \
      -z "$(grep "^shmlog_ring_records_total{app=\"tprod\",pid=\"$old_pid\"" "$textfile")" ]
kill "$prom_pid"
wait "$prom_pid" 2>/dev/null
tap_forget "$prom_pid"

# ==== Flags ====

for addr in 0.0.0.0:9464 '[::]:9464' 10.1.2.3:9464 '[2001:db8::1]:9464'; do
    check "--metrics-listen $addr is refused (not loopback): exit 2, one line" \
        refused --metrics-allow-remote --metrics-listen "$addr"
done
for addr in 127.0.0.1 localhost:http 127.0.0.1:70000 ':9464' '[::1:9464'; do
    check "--metrics-listen '$addr' is a bad address: exit 2, one line" refused --metrics-listen --metrics-listen "$addr"
done
check "an unwritable --metrics-file: exit 2, one line" \
    refused --metrics-file --metrics-file "$root/no/such/dir/m.prom"
check "--metrics-interval 0: exit 2, one line" refused --metrics-interval --metrics-interval 0

# ==== The HTTP thread is not on the drain cpu ====

if [ "$(nproc)" -ge 2 ]; then
    collector_start "$root/collector.log" --dir "$seg" --out "$out" --cpu 0 --metrics-listen 127.0.0.1:0
    wait_for "$timeout" port_line
    cpus_of() { awk '/^Cpus_allowed_list/ { print $2 }' "$1/status"; }
    has_cpu0() { # a cpu list ("0", "0-3", "1,3-5") names cpu 0
        python3 -c 'import sys
c = set()
for part in sys.argv[1].split(","):
    a, _, b = part.partition("-")
    c.update(range(int(a), int(b or a) + 1))
sys.exit(0 if 0 in c else 1)' "$1"
    }
    mine=$(cpus_of "/proc/$col/task/$col")
    others=0 on_drain_cpu=''
    for t in /proc/$col/task/*; do
        [ "${t##*/}" = "$col" ] && continue
        case $(cat "$t/comm") in iou-*) continue ;; esac # io_uring's kernel workers follow the ring
        others=$((others + 1))
        has_cpu0 "$(cpus_of "$t")" && on_drain_cpu="$on_drain_cpu $(cat "$t/comm"):$(cpus_of "$t")"
    done
    collector_stop
    echo "# drain thread on cpus $mine; $others other thread(s); on cpu 0:${on_drain_cpu:- none}"
    check "--cpu 0: the drain thread runs on cpu 0 only, the metrics thread elsewhere" \
        [ "$mine" = 0 -a $others -ge 1 -a -z "$on_drain_cpu" ]
else
    skip "one cpu" "no other cpu for the HTTP thread"
fi

tap_done
