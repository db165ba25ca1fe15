#!/bin/bash
# Description: shmlog-dump serve's search page in a real browser (Debian's chromium, headless, driven by playwright-core) over a real collector's files: it shows a window's records as /api/query answers them, a field's filter narrows it to the API's answer, a click shows a record's fields, a record with <script> and other markup is shown as text and runs nothing, "more" pages a limited answer by the API's cursor back to the whole window, the live tail shows a record written after the page loaded, the live tail resumes from its cursor when the server is killed and started again under it (the records written before, while it was down and after, each once), and behind --auth the page says 401 until its token field has the token, and its live tail (fetch with the token in a header, in no URL) shows a record written after it connected. Screenshots go to PAGE_SHOTS.
# usage: test_dump_serve_page.sh (meson test sets SHMLOG_DUMP, COLLECTOR, SHMLOG_SAMPLE, TEST_PRODUCER, PAGE_DRIVER, PAGE_SHOTS)
set -u
tmp=$(mktemp -d /tmp/shmlog-test-dump-serve-page-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR SHMLOG_SAMPLE TEST_PRODUCER
tap_require chromium chromium
tap_require nodejs node
# playwright-core, pinned by tests/browser/package-lock.json, where scripts/setup.sh installs it
browser_modules=/opt/shmlog-test/browser/node_modules
[ -f "$browser_modules/playwright-core/package.json" ] ||
    bail "playwright-core is not in $browser_modules: run scripts/setup.sh as root"
shots=${PAGE_SHOTS:-$tmp/shots}

collector_dirs
collector_start "$tmp/collector.log" --dir "$seg" --out "$out" --max-delay-ms 10
"$SHMLOG_SAMPLE" --app alpha --count 20000 --rate 200000 >/dev/null 2>&1
hostile='<script>window.shmlogPwned=1</script><img src=x onerror="window.shmlogPwned=2"><b>bold</b>'
"$TEST_PRODUCER" --app hostile --count 2 --text "$hostile" >/dev/null
segments_gone "$seg" || bail "the producers' segments stayed"

"$SHMLOG_DUMP" serve "$out" --listen 127.0.0.1:0 2>"$tmp/serve.log" &
pids+=($!)
echo $! >"$tmp/serve.pid"
wait_for 10 grep -q 'listening on' "$tmp/serve.log" || { diag "$tmp/serve.log"; bail "serve did not start"; }
port=$(sed -n 's|.*listening on http://[^ ]*:\([0-9]*\)/$|\1|p' "$tmp/serve.log")
# PAGE_RESTART down|up: the page's server killed (SIGKILL), and started again on its port.
cat >"$tmp/restart.sh" <<EOF
#!/bin/bash
case \$1 in
down) kill -KILL \$(cat "$tmp/serve.pid") ;;
up)
    : >"$tmp/serve-again.log"
    "$SHMLOG_DUMP" serve "$out" --listen 127.0.0.1:$port 2>"$tmp/serve-again.log" </dev/null >/dev/null &
    echo \$! >"$tmp/serve.pid"
    for i in \$(seq 100); do grep -q 'listening on' "$tmp/serve-again.log" && exit 0; sleep 0.1; done
    exit 1 ;;
esac
EOF
chmod +x "$tmp/restart.sh"
stop_page_server() { kill "$(cat "$tmp/serve.pid")" 2>/dev/null; }
token=page-test-token-$$-$RANDOM-$RANDOM
(umask 077 && echo "$token" >"$tmp/token")
"$SHMLOG_DUMP" serve "$out" --listen 127.0.0.1:0 --auth "$tmp/token" 2>"$tmp/serve-auth.log" &
pids+=($!)
wait_for 10 grep -q 'listening on' "$tmp/serve-auth.log" || { diag "$tmp/serve-auth.log"; bail "serve --auth did not start"; }
auth_port=$(sed -n 's|.*listening on http://[^ ]*:\([0-9]*\)/$|\1|p' "$tmp/serve-auth.log")

# The window: the 2000th to the 2300th record's times, in ns, from read (not from the server under test).
"$SHMLOG_DUMP" read --format json --app alpha "$out" 2>/dev/null >"$tmp/all.jsonl"
ts_of() { sed -n "${1}p" "$tmp/all.jsonl" | sed 's/^{"ts_ns":\([0-9]*\).*/\1/'; }
since=$(ts_of 2000) until=$(ts_of 2300)

check "the page is served with a Content-Security-Policy that allows no inline script" \
    bash -c "curl -sfi http://127.0.0.1:$port/ | grep -i '^Content-Security-Policy: ' | grep -v unsafe-inline | grep -q \"script-src 'self'\""

PAGE_RESTART=$tmp/restart.sh NODE_PATH=$browser_modules node "${PAGE_DRIVER:?}" "http://127.0.0.1:$port" "$since" "$until" "$shots" \
    "$hostile" "tail-marker-$$-$RANDOM" "http://127.0.0.1:$auth_port" "$token" >"$tmp/driver.log" 2>"$tmp/driver.err"
while IFS= read -r line; do
    case $line in
    "ok - "*) ok "${line#ok - }" ;;
    "not ok - "*) not_ok "${line#not ok - }" ;;
    *) echo "$line" ;;
    esac
done <"$tmp/driver.log"
stop_page_server
grep -q ' - the page ran without errors$' "$tmp/driver.log" || { not_ok "the browser run finished"; diag "$tmp/driver.err"; }
tap_finish
