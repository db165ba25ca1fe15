#!/bin/bash
# Description: long string arguments and rate limits through a real segment, shmlog-collector and every reader. A 4 KiB FIX-like message (SOH-separated tag=value pairs) logged from C (a printf format) and from C++ (a std::string to a {} format, a C string to a printf format) reads back byte for byte through shmlog-dump read in text (SOH shown as \x01) and JSON, libshmlog-read and Python; a string past the process's argument bound is cut, the record marked truncated, and the string and number after it read back whole; 3000 records of 1000 to 4000 bytes through a 1024-slot ring (many laps) under the collector all read back whole, in order; a rate-limited call (SHMLOG_INFO_EVERY(50, ...) from C, std::chrono milliseconds, seconds, microseconds and integer ms from C++) called 100,000 times leaves in the files records whose count plus their suppressed= fields is 100,000 per site (the calls no later record carried come in a "rate limit: suppressed=" record at exit), in text and JSON; shmlog-dump shows the long records of a live ring.
# usage: test_long_args.sh (meson test sets SHMLOG_DUMP, COLLECTOR, LONG_PRODUCER, LONG_PRODUCER_CXX, PYTHON_SRC, READ_LIBRARY)
set -u
tmp=$(mktemp -d /tmp/shmlog-test-long-args-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR LONG_PRODUCER LONG_PRODUCER_CXX
py=${SHMLOG_TEST_VENV:-/opt/shmlog-test/venv}/bin/python
collector_dirs
collector_start "$tmp/collector.log" --dir "$seg" --out "$out" --max-delay-ms 20

"$LONG_PRODUCER" >"$tmp/c.out" 2>"$tmp/c.err"
check "C: the producer ran and dropped nothing" test $? -eq 0 -a "$(grep '^done ' "$tmp/c.out")" = "done 0"
"$LONG_PRODUCER_CXX" >"$tmp/cxx.out" 2>"$tmp/cxx.err"
check "C++: the producer ran and dropped nothing" test $? -eq 0 -a "$(grep '^done ' "$tmp/cxx.out")" = "done 0"
diag "$tmp/c.err" "$tmp/cxx.err"
"$LONG_PRODUCER" --wrap 3000 >"$tmp/wrap.out" 2>"$tmp/wrap.err"
check "wrap: the producer ran and dropped nothing" test $? -eq 0 -a "$(grep '^done ' "$tmp/wrap.out")" = "done 0"
"$LONG_PRODUCER" --every 100000 >"$tmp/every.out" 2>"$tmp/every.err"
check "every: the producer ran" test $? -eq 0
check "the collector drained the producers" wait_for 30 bash -c \
    "test \$('$SHMLOG_DUMP' read '$out' 2>/dev/null | grep -c 'EXIT.*long-') -ge 4"
collector_stop

"$SHMLOG_DUMP" read "$out" >"$tmp/read.txt" 2>"$tmp/read.err"
"$SHMLOG_DUMP" read --format json "$out" >"$tmp/read.json" 2>"$tmp/read-json.err"
diag "$tmp/read.err"

# same WANT GOT: the two files' lines alike; else the first that differs, cut short
same() {
    python3 - "$1" "$2" <<'PY'
import sys
a, b = (open(f, "rb").read().split(b"\n") for f in sys.argv[1:])
for i, (x, y) in enumerate(zip(a, b)):
    if x != y:
        print("line", i + 1, "differs:", len(x), "bytes wanted, read", len(y), ":", y[:160])
        sys.exit(1)
print(len(a), "lines wanted,", len(b), "read")
sys.exit(0 if len(a) == len(b) else 1)
PY
}
# text: each wanted message, its SOH bytes escaped as the text reader escapes control bytes
for who in c cxx wrap; do
    sed -n 's/^want //p' "$tmp/$who.out" | sed 's/\x01/\\x01/g' >"$tmp/$who.want"
done
sed -n 's/^.* long_producer\.c:[0-9]* //p' "$tmp/read.txt" | grep -v '^big=\|^tick\|^rate limit\|^wide ' >"$tmp/c-all.got"
check_show "text (C): the 4 KiB FIX message and the wrapped ring's 3000 long records read back byte for byte, in order" \
    same <(cat "$tmp/c.want" "$tmp/wrap.want") "$tmp/c-all.got"
sed -n 's/^.* long_producer_cxx\.cpp:[0-9]* //p' "$tmp/read.txt" | grep '^fix=' >"$tmp/cxx.got"
check_show "text (C++): the 4 KiB FIX message, as a std::string and as a C string, reads back byte for byte" \
    same "$tmp/cxx.want" "$tmp/cxx.got"
check "text: the whole 4 KiB messages are not marked cut" bash -c "! grep 'fix=8=FIX' '$tmp/read.txt' | grep -q -i 'trunc'"

check_show "JSON: the messages read back byte for byte (SOH as \\u0001), the cut record is marked truncated and the arguments after the cut string are whole" \
    python3 - "$tmp/read.json" "$tmp/c.out" "$tmp/cxx.out" "$tmp/wrap.out" <<'PY'
import json, sys
want = []
for f in sys.argv[2:]:
    want += [l[5:].rstrip("\n") for l in open(f, encoding="utf-8", newline="\n") if l.startswith("want ")]
got, cut = [], []
for line in open(sys.argv[1]):
    r = json.loads(line)
    site = r.get("site", "")
    if "long_producer" not in site:
        continue
    msg = r["msg"]
    if msg.startswith("big="):
        cut.append(r)
    elif msg.startswith("fix=") or msg.startswith("i="):
        got.append(msg)
bad = [i for i, (a, b) in enumerate(zip(want, got)) if a != b]
print(len(want), "wanted,", len(got), "read; differ at", bad[:5])
ok = not bad and len(want) == len(got) and len(want) == 3003
print("cut records:", [(r["msg"][:12], len(r["msg"]), r.get("truncated"), r["fields"].get("after"), r["fields"].get("n")) for r in cut])
ok = ok and len(cut) == 2 and all(r.get("truncated") is True and r["fields"].get("after") == "intact" and r["fields"].get("n") == 7
                                  and 1000 < len(r["fields"]["big"]) < 20000 for r in cut)
sys.exit(0 if ok else 1)
PY

# 32 arguments (SHMLOG_MAX_ARGS), from C and C++: the text as printf prints it, 32 fields in JSON
sed -n 's/^wide //p' "$tmp/c.out" "$tmp/cxx.out" >"$tmp/wide.want"
sed -n 's/^.* long_producer\(_cxx\)\{0,1\}\.c\(pp\)\{0,1\}:[0-9]* //p' "$tmp/read.txt" | grep '^wide ' >"$tmp/wide.got"
check_show "text: a call of 32 arguments, from C and from C++, reads back as printf prints it" \
    same "$tmp/wide.want" "$tmp/wide.got"
check_show "JSON: a call of 32 arguments has its 32 fields, a1 .. a32, each as the call passed it" \
    python3 - "$tmp/read.json" <<'PY'
import json, sys
want = {"a%d" % i: i for i in range(1, 33)}
want.update(a2="two", a4=4.5, a5=-5, a31="thirty-one")
wide = [json.loads(l) for l in open(sys.argv[1]) if '"wide ' in l]
print(len(wide), "records;", [sorted(set(r["fields"].items()) ^ set(want.items())) for r in wide])
sys.exit(0 if len(wide) == 2 and all(r["fields"] == want for r in wide) else 1)
PY
if "$py" -c 'import pyarrow' 2>/dev/null; then
    check_show "Python: a call of 32 arguments has its message and 32 fields, from C and C++" \
        env PYTHONPATH="$PYTHON_SRC" SHMLOG_READ_LIBRARY="$READ_LIBRARY" "$py" - "$out" "$tmp/wide.want" <<'PY'
import sys, shmlog
want = open(sys.argv[2]).read().splitlines()
wide = [ev for ev in shmlog.read(sys.argv[1]) if ev.msg.startswith("wide ")]
print([ev.msg == w for ev, w in zip(wide, want)], [len(ev.fields) for ev in wide])
sys.exit(0 if [ev.msg for ev in wide] == want and all(len(ev.fields) == 32 and ev.fields["a32"] == 32
                                                       and ev.fields["a31"] == "thirty-one" for ev in wide) else 1)
PY
    check_show "Arrow (Python DataFrame): the 32 fields are columns a1 .. a32" \
        env PYTHONPATH="$PYTHON_SRC" SHMLOG_READ_LIBRARY="$READ_LIBRARY" "$py" - "$out" <<'PY'
import sys, shmlog
df = shmlog.dataframe(sys.argv[1])
wide = df[df["msg"].str.startswith("wide ")]
cols = ["a%d" % i for i in range(1, 33)]
print(len(wide), [c for c in cols if c not in df.columns])
sys.exit(0 if len(wide) == 2 and all(c in df.columns for c in cols) and list(wide["a32"]) == [32, 32]
         and list(wide["a2"]) == ["two", "two"] else 1)
PY
else
    skip "Python and Arrow: 32 arguments" "$py lacks pyarrow"
fi

check_show "the bound: a cut string fills the process's argument bound (4236 bytes: 76 slots) less the arguments after it" \
    python3 - "$tmp/read.json" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("msg", "").startswith("big="):
        f = r["fields"]
        # the payload: each string's 2-byte header and bytes, the int's 4
        used = 2 + len(f["big"]) + 2 + len(f["after"]) + 4
        print(r["site"], used)
        if used != 4236:
            sys.exit(1)
PY

if "$py" -c 'import pyarrow' 2>/dev/null; then
    check_show "libshmlog-read and Python: the 4 KiB FIX messages read back byte for byte, the cut record is marked and its later arguments are whole" \
        env PYTHONPATH="$PYTHON_SRC" SHMLOG_READ_LIBRARY="$READ_LIBRARY" "$py" - "$out" "$tmp/c.out" "$tmp/cxx.out" <<'PY'
import sys, shmlog
want = []
for f in sys.argv[2:]:
    want += [l[5:].rstrip("\n") for l in open(f, encoding="utf-8", newline="\n") if l.startswith("want ")]
got, cut = [], []
for ev in shmlog.read(sys.argv[1]):
    if ev.msg.startswith("fix="):
        got.append(ev.msg)
        assert ev.fields["fix"].startswith("8=FIX.4.4\x01") and len(ev.fields["fix"]) == 4096, ev.fields["fix"][:20]
    elif ev.msg.startswith("big="):
        cut.append(ev)
print(len(want), len(got), [(e.truncated, e.fields["after"], e.fields["n"]) for e in cut])
ok = got == want and len(cut) == 2 and all(e.truncated and e.fields["after"] == "intact" and e.fields["n"] == 7 for e in cut)
sys.exit(0 if ok else 1)
PY
else
    skip "libshmlog-read and Python" "$py lacks pyarrow"
fi

# Rate limits: per site, the records written plus their suppressed counts make every call.
check_show "rate limits: per site (C's 50 ms; C++'s milliseconds(100), seconds(1), microseconds(200), 50 ms), records + suppressed = 100,000 in JSON, and the calls no later record carried are in a 'rate limit: suppressed=' record" \
    python3 - "$tmp/read.json" <<'PY'
import json, sys, collections
records, suppressed, markers = collections.Counter(), collections.Counter(), collections.Counter()
for line in open(sys.argv[1]):
    r = json.loads(line)
    msg = r.get("msg", "")
    if "long_producer" not in r.get("site", ""):
        continue
    site = r["site"].rsplit(":", 1)[0].rsplit("/", 1)[-1] + ":" + r["site"].rsplit(":", 1)[1]
    if msg.startswith("rate limit: suppressed="):
        markers[site] += 1
        suppressed[site] += r["fields"]["suppressed"]
    elif msg.startswith(("tick ", "ms ", "s ", "us ", "int ")):
        records[site] += 1
        suppressed[site] += r["fields"]["suppressed"]
print({s: (records[s], suppressed[s], markers[s]) for s in records})
ok = len(records) == 5 and all(records[s] + suppressed[s] == 100000 for s in records)
ok = ok and sum(markers.values()) >= 4 and all(records[s] >= 1 for s in records)
sys.exit(0 if ok else 1)
PY
check "rate limits: text shows the suppressed count of the marker" grep -q 'long_producer\.c:[0-9]* rate limit: suppressed=[1-9]' "$tmp/read.txt"

check_show "verify: the files hold no loss and no damage" "$SHMLOG_DUMP" verify "$out"

# A live ring: shmlog-dump shows what the ring holds, long records whole.
mkdir -p "$tmp/live"
SHMLOG_DIR="$tmp/live" "$LONG_PRODUCER" >"$tmp/live.out" 2>&1
"$SHMLOG_DUMP" ring --dir "$tmp/live" >"$tmp/live.txt" 2>"$tmp/live.err"
check_show "shmlog-dump on the segments left behind: the 4 KiB FIX message whole" \
    grep -qF "$(sed -n 's/^want //p' "$tmp/live.out" | head -1 | sed 's/\x01/\\x01/g')" "$tmp/live.txt"
tap_finish
