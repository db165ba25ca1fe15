#!/usr/bin/env bash
# Description: the shipping recipe works: shmlog-dump's JSON Lines, forwarded
# through rsyslog over loopback TCP, arrive whole and parse with stable keys.
# usage: test_rsyslog.sh COLLECTOR DUMP SAMPLE
set -euo pipefail
collector=$1
dump=$2
sample=$3
work=$(mktemp -d /tmp/shmlog-rsyslog.XXXXXX)
rsyslog_pid=
cleanup() {
    [ -n "$rsyslog_pid" ] && kill "$rsyslog_pid" 2>/dev/null && wait "$rsyslog_pid" 2>/dev/null
    rm -rf "$work" /dev/shm/shmlog-rsyslog-$$
}
trap cleanup EXIT
. "$(dirname "$0")/tap.sh"


tap_require rsyslog rsyslogd
tap_require python3 python3

# The receiving side, as a central rsyslog would be set up: imtcp in, the
# message as it came (the JSON object) out, one line each.
port=$((20000 + $$ % 20000))
mkdir -p "$work/spool"
cat > "$work/rsyslog.conf" <<CONF
global(workDirectory="$work/spool" maxMessageSize="64k")
module(load="imtcp")
template(name="json_only" type="string" string="%msg%\n")
ruleset(name="shmlog") {
    action(type="omfile" file="$work/received.jsonl" template="json_only")
}
input(type="imtcp" address="127.0.0.1" port="$port" ruleset="shmlog")
CONF
rsyslogd -n -f "$work/rsyslog.conf" -i "$work/rsyslog.pid" &
rsyslog_pid=$!
for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    sleep 0.1
done

# Something to ship: a producer, the collector, the files.
seg=/dev/shm/shmlog-rsyslog-$$
SHMLOG_DIR=$seg "$sample" --app shipper --count 2000 --threads 2 >/dev/null
"$collector" --dir "$seg" --out "$work/out" --once 2>/dev/null
"$dump" read "$work/out" --format json > "$work/sent.jsonl"
sent=$(wc -l < "$work/sent.jsonl")
[ "$sent" -ge 2000 ] || bail "only $sent records to send"

# The sending side of the recipe: one syslog message per JSON line, over TCP.
logger --tcp --server 127.0.0.1 --port "$port" --size 65536 --tag shmlog -f "$work/sent.jsonl"

for _ in $(seq 100); do
    [ -f "$work/received.jsonl" ] && [ "$(wc -l < "$work/received.jsonl")" -ge "$sent" ] && break
    sleep 0.1
done
if python3 - "$work/sent.jsonl" "$work/received.jsonl" >"$work/check.log" 2>&1 <<'PY'
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
diag "$work/check.log"
tap_done
