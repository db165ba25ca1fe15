#!/bin/bash
# Description: an order's trace across three processes (shmlog-sample --stage md | strategy | gateway, handing W3C traceparent lines on) under a real collector: every order's trace is found by its id (trace, read --trace, with and without the index) with its four steps from the three processes in time order; records carry trace_id and span in JSON; trace --stats's per-hop percentiles equal those computed here from read --format json; Python's read(trace=) finds a trace as --trace does, Arrow's trace_id and span columns hold what JSON does; serve's /api/query?trace= answers as read --trace; bad trace ids are usage errors.
# usage: test_trace.sh (meson test sets SHMLOG_DUMP, COLLECTOR, SHMLOG_SAMPLE, PYTHON_SRC, READ_LIBRARY)
set -u
tmp=$(mktemp -d /tmp/shmlog-test-trace-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR SHMLOG_SAMPLE

seg=$tmp/seg
out=$tmp/out
mkdir -p "$seg"
orders=300
collector_start "$tmp/collector.log" --dir "$seg" --out "$out" --max-delay-ms 2 --rotate-size 4k
export SHMLOG_DIR=$seg
"$SHMLOG_SAMPLE" --app md --stage md --count $orders --rate 3000 2>"$tmp/md.err" | tee "$tmp/traceparents" |
    "$SHMLOG_SAMPLE" --app strategy --stage strategy 2>"$tmp/strategy.err" |
    "$SHMLOG_SAMPLE" --app gateway --stage gateway 2>"$tmp/gateway.err"
check "the three stages dropped nothing" grep -q ' 0 dropped' "$tmp/md.err" "$tmp/strategy.err" "$tmp/gateway.err"
check "md handed on one traceparent per order" test "$(wc -l <"$tmp/traceparents")" -eq $orders
check "the collector removes the segments after the exit markers" segments_gone "$seg"
check "the collector exits 0 on SIGTERM" collector_stop
check "several files" test "$(ls "$out"/*.shlog | wc -l)" -ge 2

"$SHMLOG_DUMP" read --format json "$out" >"$tmp/all.json"
cut -d- -f2 "$tmp/traceparents" >"$tmp/ids"
first=$(head -1 "$tmp/ids")
# The venv scripts/setup.sh makes (tests/python-requirements.txt).
py=${SHMLOG_TEST_VENV:-/opt/shmlog-test/venv}/bin/python
# Every order: its records by trace id, from the three processes, the steps in order.
python3 - "$SHMLOG_DUMP" "$out" "$tmp/ids" >"$tmp/each.log" 2>&1 <<'EOF'
import json, os, subprocess, sys
dump, out, ids = sys.argv[1], sys.argv[2], [l.strip() for l in open(sys.argv[3])]
bad = 0
for i, tid in enumerate(ids):
    if i % 10 and i != len(ids) - 1:
        continue  # every tenth order and the last: each is a run of the reader over all files
    lines = subprocess.run([dump, "trace", tid, out, "--format", "json"], check=True,
                           capture_output=True, text=True).stdout.splitlines()
    recs = [json.loads(l) for l in lines]
    spans = [r["span"] for r in recs if r["func"] == "shmlog_trace_set"]
    apps = sorted({r["app"] for r in recs})
    ts = [r["ts_ns"] for r in recs]
    firsts = [r["since_first_ns"] for r in recs]
    prevs = [r["since_prev_ns"] for r in recs]
    ok = (len(recs) == 8 and spans == ["tick", "decision", "order_sent", "ack"] and
          apps == ["gateway", "md", "strategy"] and all(r["trace_id"] == tid for r in recs) and
          ts == sorted(ts) and firsts == [t - ts[0] for t in ts] and
          prevs == [0] + [b - a for a, b in zip(ts, ts[1:])])
    # read --trace, with and without the index, gives the same records
    reads = []
    for env in ({}, {"SHMLOG_NO_INDEX": "1"}):
        r = subprocess.run([dump, "read", "--trace", tid, out, "--format", "json"], check=True,
                           capture_output=True, text=True, env=dict(os.environ, **env)).stdout.splitlines()
        reads.append([json.loads(l) for l in r if '"msg"' in l])
    stripped = [{k: v for k, v in r.items() if not k.startswith("since_")} for r in recs]
    ok = ok and reads[0] == stripped and reads[1] == stripped
    if not ok:
        bad += 1
        print("trace %s: %d records, spans %s, apps %s" % (tid, len(recs), spans, apps))
print("checked", len(ids), "bad", bad)
sys.exit(1 if bad else 0)
EOF
check "every tenth order's trace: 8 records of md, strategy and gateway, steps tick decision order_sent ack, offsets right; read --trace the same with and without the index" test $? -eq 0
diag "$tmp/each.log"
python3 - "$tmp/all.json" "$tmp/ids" >"$tmp/fields.log" 2>&1 <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if '"msg"' in l]
ids = {l.strip() for l in open(sys.argv[2])}
traced = [r for r in recs if "trace_id" in r]
untraced = [r for r in recs if "trace_id" not in r]
# every record but the trace clears has a trace; each id's records come from the three apps
assert all(r["msg"].startswith("trace_id=0000") for r in untraced), [r["msg"] for r in untraced][:3]
assert {r["trace_id"] for r in traced} == ids, "ids differ"
assert len(traced) == 8 * len(ids), len(traced)
assert all(r["span"] in ("tick", "decision", "order_sent", "ack") for r in traced)
print("ok", len(traced))
EOF
check "read --format json: every record an order's stage wrote has its trace_id and span, and only those" test $? -eq 0
diag "$tmp/fields.log"

# Per-hop latency: trace --stats against the steps' times computed here.
"$SHMLOG_DUMP" trace --stats "$out" --format json >"$tmp/stats.json"
python3 - "$tmp/all.json" "$tmp/stats.json" >"$tmp/stats.log" 2>&1 <<'EOF'
import json, math, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if '"msg"' in l]
steps = {}
for r in recs:
    if "span" in r:
        # a step begins at the first record of its span in its trace
        s = steps.setdefault(r["trace_id"], {})
        s[r["span"]] = min(s.get(r["span"], r["ts_ns"]), r["ts_ns"])
hops = {}
totals = []
for s in steps.values():
    order = sorted(s.items(), key=lambda kv: kv[1])
    for (a, ta), (b, tb) in zip(order, order[1:]):
        hops.setdefault((a, b), []).append(tb - ta)
    if len(order) > 1:
        totals.append(order[-1][1] - order[0][1])
hops[("first", "last")] = totals
def pct(v, q):
    v = sorted(v)
    return v[max(math.ceil(q * len(v)), 1) - 1]
want = {(a, b): {"count": len(v), "p50_ns": pct(v, 0.5), "p99_ns": pct(v, 0.99), "p999_ns": pct(v, 0.999),
                 "max_ns": max(v)} for (a, b), v in hops.items()}
got = {}
for l in open(sys.argv[2]):
    o = json.loads(l)
    got[(o.pop("from"), o.pop("to"))] = o
print("want", want)
print("got ", got)
assert set(want) == {("tick", "decision"), ("decision", "order_sent"), ("order_sent", "ack"), ("first", "last")}
sys.exit(0 if got == want else 1)
EOF
check "trace --stats: count, p50, p99, p99.9 and max of every hop and end to end equal the ones computed from read --format json" test $? -eq 0
diag "$tmp/stats.log"
# Export: OTLP JSON read back through opentelemetry-proto's messages, Chrome's trace events field by field.
"$SHMLOG_DUMP" trace --export otlp "$out" >"$tmp/otlp.json"
"$SHMLOG_DUMP" trace --export chrome "$out" >"$tmp/chrome.json"
check_show "trace --export otlp: opentelemetry-proto's ExportTraceServiceRequest parses it (unknown fields refused); every order's 4 spans with the times of their records, a chain of parents" \
    "$py" - "$tmp/otlp.json" "$tmp/all.json" "$tmp/ids" <<'PY'
import json, sys
try:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
except ImportError as e:
    sys.exit(f"{sys.executable}: {e} (tests/python-requirements.txt): run scripts/setup.sh as root")
import base64
doc = json.load(open(sys.argv[1]))
# OTLP/JSON writes the ids in hex where protobuf's JSON mapping has base64 (the OTLP specification,
# "JSON Protobuf Encoding"): turned into the mapping's form for json_format, which checks the rest.
for rs in doc["resourceSpans"]:
    for ss in rs["scopeSpans"]:
        for s in ss["spans"]:
            for k in ("traceId", "spanId", "parentSpanId"):
                if k in s:
                    assert s[k] == s[k].lower() and len(s[k]) == (32 if k == "traceId" else 16), s[k]
                    s[k] = base64.b64encode(bytes.fromhex(s[k])).decode()
req = json_format.ParseDict(doc, ExportTraceServiceRequest())
recs = [json.loads(l) for l in open(sys.argv[2]) if '"msg"' in l]
ids = [l.strip() for l in open(sys.argv[3])]
# what the spans must be, from the records: per trace and span, the first and last record's time
want = {}
for r in recs:
    if "trace_id" in r:
        k = (r["trace_id"], r["span"])
        a, b = want.get(k, (r["ts_ns"], r["ts_ns"]))
        want[k] = (min(a, r["ts_ns"]), max(b, r["ts_ns"]))
got, by_id, apps = {}, {}, {}
for rs in req.resource_spans:
    attrs = {a.key: a.value for a in rs.resource.attributes}
    for ss in rs.scope_spans:
        assert ss.scope.name == "shmlog"
        for s in ss.spans:
            k = (s.trace_id.hex(), s.name)
            assert k not in got, k
            got[k] = (s.start_time_unix_nano, s.end_time_unix_nano)
            by_id[s.span_id] = s
            apps[k] = attrs["service.name"].string_value
assert got == want, [k for k in set(got) ^ set(want)][:5]
assert {t for t, _ in got} == set(ids)
order = ["tick", "decision", "order_sent", "ack"]
for t in ids:
    spans = sorted((s for s in by_id.values() if s.trace_id.hex() == t), key=lambda s: s.start_time_unix_nano)
    assert [s.name for s in spans] == order, [s.name for s in spans]
    assert spans[0].parent_span_id == b"" and all(b.parent_span_id == a.span_id for a, b in zip(spans, spans[1:]))
    assert [apps[(t, n)] for n in order] == ["md", "strategy", "gateway", "gateway"]
print("ok", len(got), "spans of", len(ids), "traces")
PY
check_show "trace --export chrome: the trace event format's fields, each of its type (ph X complete events, M process names), ts and dur in us giving every span's times" \
    "$py" - "$tmp/chrome.json" "$tmp/otlp.json" <<'PY'
import decimal, json, sys
d = json.load(open(sys.argv[1]), parse_float=decimal.Decimal)
otlp = json.load(open(sys.argv[2]))
assert set(d) == {"traceEvents", "displayTimeUnit", "otherData"} and d["displayTimeUnit"] == "ns"
t0 = int(d["otherData"]["start_ns"])
spans, names = {}, {}
for e in d["traceEvents"]:
    assert isinstance(e["name"], str) and isinstance(e["pid"], int) and isinstance(e["tid"], int), e
    assert isinstance(e["args"], dict), e
    if e["ph"] == "M":
        assert e["name"] == "process_name" and set(e) == {"name", "ph", "pid", "tid", "args"}, e
        names[e["pid"]] = e["args"]["name"]
        continue
    assert e["ph"] == "X" and set(e) == {"name", "cat", "ph", "ts", "dur", "pid", "tid", "args"}, e
    assert isinstance(e["cat"], str) and isinstance(e["ts"], decimal.Decimal) and e["ts"] >= 0 and e["dur"] >= 0, e
    start = t0 + int(e["ts"] * 1000)
    assert e["ts"] * 1000 == int(e["ts"] * 1000) and e["dur"] * 1000 == int(e["dur"] * 1000), e
    spans[(e["args"]["trace_id"], e["name"])] = (start, start + int(e["dur"] * 1000), e["pid"])
want = {}
for rs in otlp["resourceSpans"]:
    pid = int(next(a["value"]["intValue"] for a in rs["resource"]["attributes"] if a["key"] == "process.pid"))
    for ss in rs["scopeSpans"]:
        for s in ss["spans"]:
            want[(s["traceId"], s["name"])] = (int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"]), pid)
assert spans == want, len(set(spans) ^ set(want))
assert sorted(names.values()) == ["gateway@vm", "md@vm", "strategy@vm"] or len(names) == 3, names
print("ok", len(spans), "complete events,", len(names), "processes")
PY
"$SHMLOG_DUMP" trace --export otlp "$first" "$out" >"$tmp/otlp-one.json"
check "trace --export otlp ID: that trace's 4 spans alone" test "$(grep -c '"traceId"' "$tmp/otlp-one.json")" -eq 4
"$SHMLOG_DUMP" trace --export jaeger "$out" >/dev/null 2>&1
check "trace --export jaeger is a usage error" test $? -eq 2
"$SHMLOG_DUMP" trace --stats "$out" >"$tmp/stats.txt"
check "trace --stats as text: a header and a line per hop" test "$(grep -c ' -> ' "$tmp/stats.txt")" -eq 4
diag "$tmp/stats.txt"

# Python: trace= as the CLI's --trace (a hex string or an int), a bad one a ValueError.
check_show "Python: shmlog.read(trace=) gives the trace's 8 records, by hex string and by int; trace=0 is a ValueError" \
    env PYTHONPATH="$PYTHON_SRC" SHMLOG_READ_LIBRARY="$READ_LIBRARY" LD_PRELOAD="${PY_LD_PRELOAD:-}" \
    ASAN_OPTIONS=detect_leaks=0 "$py" - "$out" "$first" <<'PY'
import sys
import shmlog
out, tid = sys.argv[1], sys.argv[2]
by_str = [(e.app, e.msg, e.ts_ns) for e in shmlog.read(out, trace=tid)]
by_int = [(e.app, e.msg, e.ts_ns) for e in shmlog.read(out, trace=int(tid, 16))]
assert len(by_str) == 8 and by_str == by_int, by_str
assert sorted({a for a, _, _ in by_str}) == ["gateway", "md", "strategy"], by_str
try:
    shmlog.read(out, trace=0)
    sys.exit("trace=0 was taken")
except ValueError:
    pass
print("ok", len(by_str))
PY
check_show "Arrow: to_arrow's trace_id and span columns are read --format json's keys row for row (null where absent), the trace records' own fields as field.trace_id, field.span" \
    env PYTHONPATH="$PYTHON_SRC" SHMLOG_READ_LIBRARY="$READ_LIBRARY" LD_PRELOAD="${PY_LD_PRELOAD:-}" \
    ASAN_OPTIONS=detect_leaks=0 "$py" - "$out" "$tmp/all.json" <<'PY'
import json, sys
import shmlog
t = shmlog.to_arrow(sys.argv[1])
recs = [json.loads(l) for l in open(sys.argv[2]) if '"msg"' in l]
assert t.num_rows == len(recs), (t.num_rows, len(recs))
for k in ("trace_id", "span"):
    assert t.column(k).to_pylist() == [r.get(k) for r in recs], k
assert "field.trace_id" in t.column_names and "field.span" in t.column_names, t.column_names
print("ok", t.num_rows, "rows,", sum(1 for v in t.column("trace_id").to_pylist() if v), "with a trace")
PY
"$SHMLOG_DUMP" trace "${first#????????????????}" "$out" >"$tmp/short.txt" 2>&1
check "a trace id's low 64 bits alone name another trace (none here): exit 1" test $? -eq 1
"$SHMLOG_DUMP" trace "$first" "$out" >"$tmp/one.txt"
check "trace ID as text: 8 lines with the offsets in front" test "$(grep -c '^+ *[0-9.]*us +' "$tmp/one.txt")" -eq 8
# serve's /api/query?trace= answers what read --trace prints (built with libmicrohttpd).
if "$SHMLOG_DUMP" serve --help 2>&1 | grep -q 'not built'; then
    skip "serve: /api/query?trace=" "built without libmicrohttpd"
else
    "$SHMLOG_DUMP" serve "$out" --listen 127.0.0.1:0 2>"$tmp/serve.log" &
    pids+=($!)
    wait_for 10 grep -q 'listening on' "$tmp/serve.log" || diag "$tmp/serve.log"
    port=$(sed -n 's|.*listening on https\{0,1\}://[^ ]*:\([0-9]*\)/$|\1|p' "$tmp/serve.log")
    "$SHMLOG_DUMP" read --trace "$first" --format json "$out" >"$tmp/read-trace.jsonl"
    check "serve: /api/query?trace=ID answers read --trace ID's records, then the end line" bash -c \
        "curl -sf 'http://127.0.0.1:$port/api/query?trace=$first' >'$tmp/q.jsonl' &&
         head -n -1 '$tmp/q.jsonl' | cmp - '$tmp/read-trace.jsonl' && test \$(wc -l <'$tmp/read-trace.jsonl') -eq 11 &&
         tail -n 1 '$tmp/q.jsonl' | grep -q '^{\"end\":\"complete\"'"
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/query?trace=xyz")
    check "serve: /api/query?trace=xyz is a 400" test "$code" = 400
fi
for bad in 0 xyz 123456789012345678901234567890123; do
    "$SHMLOG_DUMP" read --trace "$bad" "$out" >/dev/null 2>"$tmp/bad.err"
    check "read --trace $bad is a usage error" test $? -eq 2
    "$SHMLOG_DUMP" trace "$bad" "$out" >/dev/null 2>"$tmp/bad.err"
    check "trace $bad is a usage error" test $? -eq 2
done
tap_finish
