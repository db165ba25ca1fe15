#!/usr/bin/env bash
# Description: the shipping recipe works: shmlog-dump's JSON Lines, forwarded
# through rsyslog over loopback TCP, arrive whole and parse with stable keys.
# usage: test_rsyslog.sh (meson test sets COLLECTOR, SHMLOG_DUMP, SHMLOG_SAMPLE)
set -euo pipefail
tmp=$(mktemp -d /tmp/shmlog-rsyslog.XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs COLLECTOR SHMLOG_DUMP SHMLOG_SAMPLE

tap_require rsyslog rsyslogd
tap_require python3 python3

# The receiving side, as a central rsyslog would be set up: imtcp in, the
# message as it came (the JSON object) out, one line each.
port=$((20000 + $$ % 20000))
mkdir -p "$tmp/spool"
cat > "$tmp/rsyslog.conf" <<CONF
global(workDirectory="$tmp/spool" maxMessageSize="64k")
module(load="imtcp")
template(name="json_only" type="string" string="%msg%\n")
ruleset(name="shmlog") {
    action(type="omfile" file="$tmp/received.jsonl" template="json_only")
}
input(type="imtcp" address="127.0.0.1" port="$port" ruleset="shmlog")
CONF
rsyslogd -n -f "$tmp/rsyslog.conf" -i "$tmp/rsyslog.pid" &
pids+=($!)
for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    sleep 0.1
done

# Something to ship: a producer, the collector, the files.
seg=$tmp/seg
SHMLOG_DIR=$seg "$SHMLOG_SAMPLE" --app shipper --count 2000 --threads 2 >/dev/null
"$COLLECTOR" --dir "$seg" --out "$tmp/out" --once 2>/dev/null
"$SHMLOG_DUMP" read "$tmp/out" --format json > "$tmp/sent.jsonl"
sent=$(wc -l < "$tmp/sent.jsonl")
[ "$sent" -ge 2000 ] || bail "only $sent records to send"

# The sending side of the recipe: one syslog message per JSON line, over TCP.
logger --tcp --server 127.0.0.1 --port "$port" --size 65536 --tag shmlog -f "$tmp/sent.jsonl"

for _ in $(seq 100); do
    [ -f "$tmp/received.jsonl" ] && [ "$(wc -l < "$tmp/received.jsonl")" -ge "$sent" ] && break
    sleep 0.1
done
if python3 - "$tmp/sent.jsonl" "$tmp/received.jsonl" >"$tmp/check.log" 2>&1 <<'PY'
import json, sys
sent = [json.loads(l) for l in open(sys.argv[1])]
got = [json.loads(l) for l in open(sys.argv[2])]
assert len(got) == len(sent), f"sent {len(sent)} received {len(got)}"
assert got == sent, "records changed in transit"
records = [r for r in got if "msg" in r]
keys = {"ts_ns", "time", "level", "category", "app", "pid", "tid", "cpu", "seq", "site", "msg", "fields"}
for r in records:
    missing = keys - r.keys()
    assert not missing, f"missing keys {missing} in {r}"
assert {r["app"] for r in records} == {"shipper"}
print(f"{len(got)} JSON lines through rsyslog, {len(records)} records, keys stable")
PY
then
    ok "JSON Lines through rsyslog over TCP arrive whole, keys stable"
else
    not_ok "JSON Lines through rsyslog over TCP"
fi
diag "$tmp/check.log"
tap_done
