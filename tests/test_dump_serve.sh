#!/bin/bash
# Description: shmlog-dump serve over a real collector's files, real HTTP on loopback: /api/query answers what shmlog-dump read prints for the same filters (thread's too; JSON Lines, JSON, text), its cursor pages back to the whole answer, /api/tail delivers a record written after it connected, /api/stats and /api/fields agree with read, a bad parameter is a 400 naming it, the time and size limits are said (the time limit inside a scan that matches nothing too), a non-loopback --listen needs --auth with a private token file (or --tls-client-ca), the bearer token is checked, TLS client certificates are checked (the CA's gets read's records, none or another CA's a 401, plain HTTP nothing), a client that pauses gets the whole answer, format=arrow is an Arrow IPC stream pyarrow reads as the JSON answer's records (also paged by its cursor and paused) and the table shmlog.to_arrow() gives (polars and DuckDB too), 200 slow or vanishing clients leave another query answered and the server's memory bounded, stalled request headers are refused past the per-address limit and timed out while a query beside them answers, and a tail waiting past that timeout is not cut.
# usage: test_dump_serve.sh (meson test sets SHMLOG_DUMP, COLLECTOR, SHMLOG_SAMPLE, SERVE_CLIENT)
set -u
tmp=$(mktemp -d /tmp/shmlog-test-dump-serve-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR SHMLOG_SAMPLE
tap_require curl curl
py=python3
client=${SERVE_CLIENT:?}

seg=$tmp/seg out=$tmp/out
mkdir -p "$seg"
collector_start "$tmp/collector.log" --dir "$seg" --out "$out" --rotate-size 4m --max-delay-ms 10
SHMLOG_DIR=$seg "$SHMLOG_SAMPLE" --app alpha --count 150000 --rate 300000 >/dev/null 2>&1
SHMLOG_DIR=$seg "$SHMLOG_SAMPLE" --app beta --count 50000 --rate 300000 >/dev/null 2>&1
segments_gone "$seg" || bail "the producers' segments stayed"

serve_start "$out" --listen 127.0.0.1:0
url=http://127.0.0.1:$port
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
idle_cpu() {
    local before
    before=$(cpu_ticks "$srv")
    sleep 2
    echo "$(($(cpu_ticks "$srv") - before)) ticks of cpu in 2 s"
    [ $(($(cpu_ticks "$srv") - before)) -le 20 ]
}
check_show "an idle server spends (almost) no cpu: its workers wait" idle_cpu

# same_query NAME QUERY READ-ARGS...: /api/query?QUERY is read --format json READ-ARGS... with the
# end line after it; text and JSON the same records
same_query() {
    local name=$1 q=$2
    shift 2
    "$SHMLOG_DUMP" read --format json "$out" "$@" 2>/dev/null >"$tmp/r.jsonl"
    "$SHMLOG_DUMP" read "$out" "$@" 2>/dev/null >"$tmp/r.txt"
    curl -sf "$url/api/query?$q" >"$tmp/q.jsonl" &&
        curl -sf -H 'Accept: text/plain' "$url/api/query?$q" >"$tmp/q.txt" &&
        curl -sf "$url/api/query?$q&format=json" >"$tmp/q.json" || return 1
    [ -s "$tmp/r.jsonl" ] || { echo "read printed nothing for $*: no test"; return 1; }
    head -n -1 "$tmp/q.jsonl" | cmp - "$tmp/r.jsonl" || return 1
    tail -n 1 "$tmp/q.jsonl" | grep -q '^{"end":"complete"' || return 1
    head -n -1 "$tmp/q.txt" | cmp - "$tmp/r.txt" || return 1
    tail -n 1 "$tmp/q.txt" | grep -q '^# end complete' || return 1
    "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); r=[json.loads(l) for l in open(sys.argv[2])]; sys.exit(d["events"] != r or d["end"] != "complete")' \
        "$tmp/q.json" "$tmp/r.jsonl"
}
ts_of() { sed -n "${1}p" "$tmp/all.jsonl" | sed 's/^{"ts_ns":\([0-9]*\).*/\1/'; }
"$SHMLOG_DUMP" read --format json "$out" 2>/dev/null >"$tmp/all.jsonl"
since=$(ts_of 1000) until=$(ts_of 1500)
check "query, every record, as read prints them" same_query all ""
check "query level=WARN" same_query level "level=WARN" --level WARN
check "query category=order app=beta" same_query category "category=order&app=beta" --category order --app beta
file_host=$(ls "$out" | sed -n '1s/-[0-9]\{8\}-[0-9]\{6\}-[0-9]*\.shlog.*//p')
check "query host=$file_host (the collector's --host)" same_query host "host=$file_host&level=WARN" --host "$file_host" \
    --level WARN
check "query where=sym=ESZ6 (repeatable: and qty>=100)" same_query where "where=sym%3DESZ6&where=qty%3E%3D100" \
    --where sym=ESZ6 --where 'qty>=100'
check "query grep=^reject" same_query grep "grep=%5Ereject" --grep '^reject'
check "query since and until (ns)" same_query window "since=$since&until=$until" --since "$since" --until "$until"
pid_beta=$(grep -m1 '"app":"beta"' "$tmp/all.jsonl" | sed 's/.*"pid":\([0-9]*\).*/\1/')
check "query pid" same_query pid "pid=$pid_beta&level=ERROR" --pid "$pid_beta" --level ERROR
tid_main=$(sed -n '1s/.*"tid":\([0-9]*\).*/\1/p' "$tmp/all.jsonl")
check "query thread=TID (a producer's main thread: its own records only)" same_query thread "thread=$tid_main" \
    --thread "$tid_main"
check "query thread=NAME" same_query thread-name "thread=shmlog-sample&app=beta&level=ERROR" --thread shmlog-sample \
    --app beta --level ERROR

check "the cursor pages (limit 7000) back to the whole answer" "$py" "$client" pages "$port" "" 7000 "$tmp/paged.jsonl"
check "  the pages, joined, are read's output" cmp "$tmp/paged.jsonl" "$tmp/all.jsonl"
check "the cursor pages a filtered answer too" "$py" "$client" pages "$port" "level=WARN" 999 "$tmp/paged-warn.jsonl"
"$SHMLOG_DUMP" read --format json --level WARN "$out" 2>/dev/null >"$tmp/warn.jsonl"
check "  the same as read --level WARN" cmp "$tmp/paged-warn.jsonl" "$tmp/warn.jsonl"

check_show "a client that pauses (its answer parked, its reader closed and opened again)" \
    "$py" "$client" slow "$port" "$tmp/slow.jsonl"
check "  gets the whole answer all the same" cmp "$tmp/slow.jsonl" "$tmp/all.jsonl"

# Arrow IPC answers, read by pyarrow (the test venv's): the same records as the JSON Lines answer.
vpy=${SHMLOG_TEST_VENV:-/opt/shmlog-test/venv}/bin/python
arrow=
if "$vpy" -c 'import pyarrow' 2>/dev/null; then
    arrow=${SERVE_ARROW:?}
    # beta's 50,000 records: the whole answer compared in Python takes seconds a check (more under ASan)
    check_show "format=arrow: pyarrow reads every record, column for column as the JSON answer" \
        "$vpy" "$arrow" same "$port" "app=beta"
    check_show "Accept: application/vnd.apache.arrow.stream, level=WARN" "$vpy" "$arrow" same "$port" "level=WARN" accept
    check_show "format=arrow where=sym=ESZ6 limit=1000: ends at the limit with its cursor" \
        "$vpy" "$arrow" same "$port" "where=sym%3DESZ6&limit=1000"
    check_show "format=arrow: the cursor pages (limit 7000) back to the whole answer" \
        "$vpy" "$arrow" pages "$port" "app=beta" 7000
    check_show "format=arrow: a client that pauses gets the whole answer" "$vpy" "$arrow" slow "$port" "app=beta"
    check_show "format=arrow markers=1: the loss and exit markers' rows, whole and paged by the cursor" \
        "$vpy" "$arrow" markers "$port" "" 2
    check_show "format=arrow level=WARN paged (999 rows a page): shmlog.to_arrow(level=\"WARN\")'s table, read by pyarrow, polars and DuckDB" \
        env PYTHONPATH="${PYTHON_SRC:?}" SHMLOG_READ_LIBRARY="${READ_LIBRARY:?}" LD_PRELOAD="${PYTHON_PRELOAD:-}" \
        ASAN_OPTIONS=detect_leaks=0 "$vpy" "$arrow" table "$port" "level=WARN" "$out" 999
    check "markers=1 without format=arrow is a 400 naming markers" python3 "$client" bad "$port" "/api/query?markers=1" markers
    check "format=arrow on /api/tail is a 400 naming format" \
        sh -c "curl -s -o /dev/null -w '%{http_code}' '$url/api/tail?format=arrow' | grep -qx 400"
else
    skip "format=arrow read by pyarrow" "$vpy lacks pyarrow (tests/python-requirements.txt): run scripts/setup.sh"
fi

check_show "tail: a record written after connecting arrives" "$py" "$client" tail "$port" gamma \
    env SHMLOG_DIR="$seg" "$SHMLOG_SAMPLE" --app gamma --count 20

# The tail reads on at the end of the file being written, and from its cursor again when the collector
# rotates (--rotate-size 4m): what it gives is what read prints afterwards, none twice, none missed.
# A tail sends a record as it arrives: a thread that moved cpus has two rings, whose records a
# reader of the growing file may meet out of time order, so the two are compared as sets. The tail is
# read until it gave as many records as read prints once the collector removed the producer's segment
# (it filed the whole ring): a collector starved on a loaded host may file a ring seconds late.
parts_before=$(ls "$out" | wc -l)
eps_count="i=0; while [ -n \"\$(ls -A '$seg')\" ] && [ \$i -lt 1200 ]; do sleep 0.1; i=\$((i + 1)); done
    '$SHMLOG_DUMP' read --format json --app eps --level ERROR '$out' 2>/dev/null | wc -l"
"$py" "$client" tail-all "$port" "app=eps&level=ERROR" "$tmp/tail-eps.jsonl" "$eps_count" \
    env SHMLOG_DIR="$seg" "$SHMLOG_SAMPLE" --app eps --count 1000000 --rate 500000 >"$tmp/tail-eps.out" 2>&1
"$SHMLOG_DUMP" read --format json --app eps --level ERROR "$out" 2>/dev/null >"$tmp/read-eps.jsonl"
sort "$tmp/tail-eps.jsonl" >"$tmp/tail-eps.sorted"
sort "$tmp/read-eps.jsonl" >"$tmp/read-eps.sorted"
check_show "tail over a rotation: the records read prints after it, none twice or missed ($(cat "$tmp/tail-eps.out"))" \
    sh -c "[ -s '$tmp/read-eps.jsonl' ] && [ \$(ls '$out' | wc -l) -gt $parts_before ] && cmp '$tmp/tail-eps.sorted' '$tmp/read-eps.sorted'"

"$SHMLOG_DUMP" read --format json "$out" 2>/dev/null >"$tmp/all.jsonl"
"$SHMLOG_DUMP" read --format json --level WARN "$out" 2>/dev/null >"$tmp/warn.jsonl"
stats_match() {
    curl -sf "$url/api/stats?level=WARN" >"$tmp/stats.json" || return 1
    "$py" -c '
import json, sys
s = json.load(open(sys.argv[1]))
recs = [json.loads(l) for l in open(sys.argv[2])]
recs = [r for r in recs if "level" in r and "loss_reason" not in r and "exit" not in r and "msg" in r]
by = {}
for r in recs:
    by[r["level"]] = by.get(r["level"], 0) + 1
apps = {}
for r in recs:
    apps[r["app"]] = apps.get(r["app"], 0) + 1
ok = s["records"] == len(recs) and all(s["levels"][k] == v for k, v in by.items()) and s["apps"] == apps \
    and s["end"] == "complete" and s["first_ts_ns"] == recs[0]["ts_ns"] and s["last_ts_ns"] == recs[-1]["ts_ns"]
print(s["records"], len(recs), by, s["levels"])
sys.exit(not ok)' "$tmp/stats.json" "$tmp/warn.jsonl"
}
check_show "stats (level=WARN) counts what read prints, by level and app" stats_match
fields_match() {
    curl -sf "$url/api/fields" >"$tmp/fields.json" || return 1
    "$py" -c '
import json, sys
f = json.load(open(sys.argv[1]))
recs = [json.loads(l) for l in open(sys.argv[2])]
recs = [r for r in recs if "msg" in r]
names = set(k for r in recs for k in r.get("fields", {}))
sites = set((r["app"], r["site"]) for r in recs)
got = set((s["app"], s["file"] + ":" + str(s["line"])) for s in f["sites"])
ok = set(f["fields"]) == names and got == sites and set(f["labels"]["app"]) == set(r["app"] for r in recs)
print(len(f["sites"]), "sites,", len(names), "field names")
sys.exit(not ok)' "$tmp/fields.json" "$tmp/all.jsonl"
}
check_show "fields lists every site, field name and app read shows" fields_match

# bad PARAM QUERY: a 400 whose body names PARAM
bad() { "$py" "$client" bad "$port" "/api/query?$2" "$1" >/dev/null; }
check "level=LOUD is a 400 naming level" bad level "level=LOUD"
check "since=yesterdayish is a 400 naming since" bad since "since=yesterdayish"
check "where=sym is a 400 naming where" bad where "where=sym"
check "grep=( is a 400 naming grep" bad grep "grep=%28"
check "limit=0 is a 400 naming limit" bad limit "limit=0"
check "cursor=x is a 400 naming cursor" bad cursor "cursor=x"
check "format=xml is a 400 naming format" bad format "format=xml"
check "an unknown parameter is a 400 naming it" bad colour "colour=red"
check "a parameter named with a quote: a 400 naming it in valid JSON" sh -c \
    "curl -s '$url/api/query?a%22b=1' | $py -c 'import json,sys; sys.exit(json.load(sys.stdin)[\"parameter\"] != \"a\\\"b\")'"
check "the server still answers" curl -sf "$url/health"

limit_said() { curl -sf "$url/api/query?$1" | tail -n 1 | grep -q "^{\"end\":\"$2\""; }
check "timeout_ms=1: the answer ends saying time" limit_said "timeout_ms=1" time
check "max_bytes=5000: the answer ends saying size" limit_said "max_bytes=5000" size
# A filter that matches nothing in eps's million records: the reader stops at the limit inside its scan,
# before it meets the markers at its end (eps's exit; under load, losses too). No run of three literal
# bytes in it (zq[0-9]xq[0-9]), so the index's word and gram filters cannot rule a frame out: it scans.
nothing='grep=zq%5B0-9%5Dxq%5B0-9%5D'
scan_stops() {
    local whole cut
    whole=$(curl -sf "$url/api/query?app=eps&$nothing" | tail -n 1)
    cut=$(curl -sf "$url/api/query?app=eps&$nothing&timeout_ms=100" | tail -n 1)
    echo "without a limit: $whole; timeout_ms=100: $cut"
    case $whole in '{"end":"complete","records":0,"events":'[1-9]*) ;; *) return 1 ;; esac
    case $cut in '{"end":"time","records":0,'*) ;; *) return 1 ;; esac
    [ "$(events_of "$cut")" -lt "$(events_of "$whole")" ]
}
events_of() { printf '%s' "$1" | sed 's/.*"events":\([0-9]*\).*/\1/'; }
check_show "timeout_ms=100 stops a scan that matches nothing, inside it" scan_stops
check_show "  /api/stats too" sh -c "curl -sf '$url/api/stats?app=eps&$nothing&timeout_ms=100' | grep '\"end\":\"time\"'"
# An Arrow answer holds only records: without the reader's deadline its scan would end complete.
[ -z "$arrow" ] || check_show "format=arrow timeout_ms=100 stops a scan that matches nothing" \
    "$vpy" "$arrow" end "$port" "app=eps&$nothing&timeout_ms=100" time
check_show "/metrics counts them" sh -c "curl -sf $url/metrics | grep -E '^shmlog_serve_(time|size)_limited_total [1-9]'"

crowd_ok() {
    "$py" "$client" crowd "$port" "$srv" 200 >"$tmp/crowd.out" 2>&1 || { cat "$tmp/crowd.out"; return 1; }
    cat "$tmp/crowd.out"
    local before peak parked
    before=$(sed -n 's/^BEFORE_KIB //p' "$tmp/crowd.out")
    peak=$(sed -n 's/^PEAK_KIB //p' "$tmp/crowd.out")
    parked=$(sed -n 's/^PARKED_KIB //p' "$tmp/crowd.out")
    # at most 256 answers at once, each its 576 KiB buffer and a reader: its merge bounded at 4 MiB and
    # the frame it decodes (a collector's frame holds at most 65,536 records: some 4 MiB of eps's), 200
    # of them 1.7 GiB, and the allocator's arenas around them; peaks of 1.2 to 1.6 GiB were seen. Parked,
    # the 100 that never read hold their buffers only
    [ $((peak - before)) -lt $((2048 * 1024)) ] && [ $((parked - before)) -lt $((384 * 1024)) ]
}
check_show "200 slow clients (half hang up mid-answer): another query answers; peak and parked RSS bounded" crowd_ok

# serve's idle timeout (10 s) and per-address limit (256), as dump_serve.c sets them
stall_ok() {
    "$py" "$client" stall "$port" "$srv" 300 256 10 >"$tmp/stall.out" 2>&1 || { cat "$tmp/stall.out"; return 1; }
    cat "$tmp/stall.out"
    local before stalled
    before=$(sed -n 's/^BEFORE_KIB //p' "$tmp/stall.out")
    stalled=$(sed -n 's/^STALLED_KIB //p' "$tmp/stall.out")
    # a stalled header holds a connection's memory pool, no job
    [ $((stalled - before)) -lt $((64 * 1024)) ]
}
check_show "300 stalled request headers from one address: another query answers, those over 256 are refused, the rest timed out; RSS bounded" stall_ok
check_show "a tail that waits past the idle timeout is not cut: a record written then arrives" \
    "$py" "$client" tail-idle "$port" 12 delta env SHMLOG_DIR="$seg" "$SHMLOG_SAMPLE" --app delta --count 20
check "the server is still up" curl -sf "$url/health"
serve_stop

# ---- access ----
"$SHMLOG_DUMP" serve "$out" --listen 0.0.0.0:0 >"$tmp/open.out" 2>&1
check "--listen 0.0.0.0 without --auth: exit 2" test $? -eq 2
check_show "  saying why" grep -q 'not a loopback address: give --auth' "$tmp/open.out"
printf 'a-token-of-32-bytes-0123456789ab\n' >"$tmp/token"
chmod 644 "$tmp/token"
"$SHMLOG_DUMP" serve "$out" --listen 0.0.0.0:0 --auth "$tmp/token" >"$tmp/open.out" 2>&1
check "a token file others may read: exit 2" test $? -eq 2
check_show "  saying so" grep -q 'others may read or write it' "$tmp/open.out"
chmod 600 "$tmp/token"
serve_start "$out" --listen 0.0.0.0:0 --auth "$tmp/token"
url=http://127.0.0.1:$port
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check "with a private token file it starts beyond loopback" test -n "$port"
check "no token: 401" test "$(code "$url/api/query?limit=1")" = 401
check "a wrong token: 401" test "$(code -H 'Authorization: Bearer a-token-of-32-bytes-0123456789ac' "$url/api/query?limit=1")" = 401
check "the token: 200" test "$(code -H 'Authorization: Bearer a-token-of-32-bytes-0123456789ab' "$url/api/query?limit=1")" = 200
check "/metrics needs it too" test "$(code "$url/metrics")" = 401
check "/health does not" test "$(code "$url/health")" = 200
kill "$srv"
wait "$srv"
tap_forget "$srv"

# TLS client certificates (libmicrohttpd's TLS, gnutls): a CA of the test's, a server and a client
# certificate it signed, and a client certificate of the same name that it did not sign.
if command -v openssl >/dev/null; then
    pki=$tmp/pki
    mkdir -p "$pki"
    newkey() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/$1.key" -subj "/CN=$2" "${@:3}"; }
    sign() { openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial -days 2 -out "$pki/$1.pem" -extfile <(echo "$2"); }
    {
        newkey ca "shmlog test ca" -x509 -days 2 -out "$pki/ca.pem" &&
            newkey server 127.0.0.1 -out "$pki/server.csr" && sign server subjectAltName=IP:127.0.0.1 &&
            newkey client reader -out "$pki/client.csr" && sign client extendedKeyUsage=clientAuth &&
            newkey rogue reader -x509 -days 2 -out "$pki/rogue.pem"
    } >"$tmp/pki.log" 2>&1 || { diag "$tmp/pki.log"; bail "openssl could not make the test's certificates"; }
    chmod 600 "$pki"/*.key
    serve_start "$out" --listen 0.0.0.0:0 --tls-cert "$pki/server.pem" --tls-key "$pki/server.key" --tls-client-ca "$pki/ca.pem"
    url=https://127.0.0.1:$port
    tls=(--cacert "$pki/ca.pem")
    check "with --tls-client-ca it starts beyond loopback, over https" grep -q 'listening on https://' "$tmp/serve.log"
    check "the CA's client certificate: 200, and read's records" bash -c \
        "curl -sf ${tls[*]} --cert '$pki/client.pem' --key '$pki/client.key' '$url/api/query?app=beta&level=WARN' | head -n -1 |
         cmp - <('$SHMLOG_DUMP' read --format json --app beta --level WARN '$out' 2>/dev/null)"
    check "no client certificate: 401" test "$(code "${tls[@]}" "$url/api/query?limit=1")" = 401
    check "a certificate another CA signed: 401" \
        test "$(code "${tls[@]}" --cert "$pki/rogue.pem" --key "$pki/rogue.key" "$url/api/query?limit=1")" = 401
    check "plain HTTP gets no answer" sh -c "! curl -sf 'http://127.0.0.1:$port/health'"
    check "/health answers without one" test "$(code "${tls[@]}" "$url/health")" = 200
    kill "$srv"
    wait "$srv"
    tap_forget "$srv"
    chmod 644 "$pki/server.key"
    "$SHMLOG_DUMP" serve "$out" --tls-cert "$pki/server.pem" --tls-key "$pki/server.key" >"$tmp/open.out" 2>&1
    check "a key file others may read: exit 2" test $? -eq 2
else
    skip "TLS client certificates" "no openssl to make the test's certificates"
fi

# ---- it serves only what the uid it runs as may read ----
# Two copies of a collector's closed file, one root's alone (0600), one others may read, served by nobody:
# a record of the private one would come twice.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
    shared=$tmp/uid
    mkdir -m 755 "$shared"
    chmod 711 "$tmp" # nobody passes through to $shared, and lists nothing else of the test's
    closed=$(ls "$out"/*.shlog | tail -1)
    install -m 644 "$closed" "$shared/readable.shlog"
    install -m 600 "$closed" "$shared/private.shlog"
    SERVE_AS="setpriv --reuid=nobody --regid=nogroup --clear-groups" serve_start "$shared" --listen 127.0.0.1:0
    url=http://127.0.0.1:$port
    check "serve runs as nobody" test "$(stat -c %U "/proc/$srv")" = nobody
    "$SHMLOG_DUMP" read --format json "$shared/readable.shlog" 2>/dev/null >"$tmp/readable.jsonl"
    curl -sf "$url/api/query" >"$tmp/uid-query.jsonl"
    # compared as sets: which records it serves is the point, and under ASan their order once differed from read's
    check "/api/query answers the readable file's records (as a set), as read prints them" \
        bash -c "[ -s '$tmp/readable.jsonl' ] && head -n -1 '$tmp/uid-query.jsonl' | sort | cmp - <(sort '$tmp/readable.jsonl')"
    check_show "  and its end line says it could not read the other: $(tail -n 1 "$tmp/uid-query.jsonl" | cut -c1-300)" \
        sh -c "tail -n 1 '$tmp/uid-query.jsonl' | grep -E '\"errors\":[1-9]' | grep -q 'private.shlog'"
    curl -sf "$url/api/stats" >"$tmp/uid-stats.json"
    check_show "/api/stats counts the readable file's records and says the error: $(cut -c1-300 "$tmp/uid-stats.json")" \
        python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); r = [json.loads(l) for l in open(sys.argv[2])]
n = sum("level" in e and "loss_reason" not in e and "exit" not in e and "msg" in e for e in r)
sys.exit(not (s["records"] == n and s["errors"] >= 1 and "private.shlog" in s.get("error", "")))' \
        "$tmp/uid-stats.json" "$tmp/readable.jsonl"
    check "the server is still up" curl -sf "$url/health"
    serve_stop
    chmod 700 "$tmp"
else
    skip "serve as another uid" "needs root, a user nobody and setpriv"
fi
check "the collector exits 0 on SIGTERM" collector_stop
tap_finish
