#!/bin/bash
# Description: shmlog-dump read, stats and verify on files the real collector wrote from real sample producers: the records are exactly the known workload, in time order, JSON lines parse with the documented keys, each filter narrows to exactly what it should, stats count the workload, and verify (and read) tell good, truncated and bit-flipped files apart by exit status; stats on 2 and 3 threads says what it says on one, of good, damaged and growing files and of every input of the file fuzzer's corpus.
# usage: test_dump_files.sh (meson test sets SHMLOG_DUMP, COLLECTOR, SHMLOG_SAMPLE)
set -u
tmp=$(mktemp -d /tmp/shmlog-test-dump-files-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR SHMLOG_SAMPLE

collector_dirs

# ---- the workload: two processes at once, several files ----
# shmlog-sample logs call n (0..count-1 over all threads) at a level and
# category fixed by n % 16, plus one INFO "starting" record: the multiset of
# levels, categories and sites is known exactly when nothing is dropped.
collector_start "$tmp/collector.log" --host files-host --dir "$seg" --out "$out" --rotate-size 64k --max-delay-ms 20
"$SHMLOG_SAMPLE" --app alpha --count 20000 --threads 2 --rate 40000 >"$tmp/alpha.out" 2>&1 &
alpha=$!
"$SHMLOG_SAMPLE" --app beta --count 8000 --threads 1 --rate 40000 >"$tmp/beta.out" 2>&1 &
beta=$!
wait "$alpha"
wait "$beta"
check "the collector removes the segments after the exit markers" segments_gone "$seg"
check "collector exits 0 on SIGTERM" collector_stop
check "the producers dropped nothing (the counts below are exact)" \
    grep -q ' 0 dropped' "$tmp/alpha.out" "$tmp/beta.out"
check "rotation made several files" test "$(ls "$out"/*.shlog | wc -l)" -ge 3

"$SHMLOG_DUMP" read --format json "$out" >"$tmp/all.json" 2>"$tmp/all.err"
check "read --format json of the directory exits 0, nothing on stderr" \
    test $? -eq 0 -a ! -s "$tmp/all.err"

# ---- every line, the multiset, the order ----
cat >"$tmp/lib.py" <<'EOF'
import json, re, socket, sys

RECORD_KEYS = ["ts_ns", "time", "level", "category", "host", "app", "pid", "tid", "cpu", "seq", "site", "msg",
               "fields"]
LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]

def load(path):
    """Every line as an object; fails on a line that is not one JSON object."""
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            obj = json.loads(line)
            assert isinstance(obj, dict), "line %d is not an object" % n
            out.append(obj)
    return out

def records(objs):
    return [o for o in objs if "loss" not in o and "exit" not in o]

def expected(count):
    """(levels, categories) of shmlog-sample --count count, starting record included."""
    lv = {"INFO": 1}
    cat = {"none": 1}
    for n in range(count):
        k = n % 16
        level = "WARN" if k == 12 else "ERROR" if k == 14 else "INFO"
        c = ("market_data" if k <= 5 else "order" if k <= 9 or k == 14 else "trade" if k <= 11 else
             "risk" if k == 12 else "portfolio" if k == 13 else "none")
        lv[level] = lv.get(level, 0) + 1
        cat[c] = cat.get(c, 0) + 1
    return lv, cat

def count_by(recs, key):
    d = {}
    for r in recs:
        d[r[key]] = d.get(r[key], 0) + 1
    return d
EOF

cat >"$tmp/check_all.py" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from lib import *
objs = load(sys.argv[2])
recs = records(objs)
errors = []
for o in objs:
    if "loss" in o:
        keys = ["ts_ns", "time", "host", "app", "pid", "cpu", "loss"]
    elif "exit" in o:
        keys = ["ts_ns", "time", "host", "app", "pid", "exit"]
    else:
        keys = RECORD_KEYS + [k for k in ("truncated", "error") if k in o]
        if "thread" in o:  # a named thread's: right after cpu
            keys.insert(keys.index("cpu") + 1, "thread")
        if "func" in o:  # a site that names its function: right after site
            keys.insert(keys.index("site") + 1, "func")
    keys.insert(keys.index("pid") + 1, "instance")  # live processes have one: right after pid
    keys.insert(keys.index("host") + 1, "hostname")  # the producer's own name, right after the collector's
    if list(o.keys()) != keys or not re.fullmatch("[0-9a-f]{32}", o["instance"]):
        errors.append("keys %s" % list(o.keys()))
        break
    if o["host"] != "files-host" or o["hostname"] != socket.gethostname():
        errors.append("host %r (not the collector's --host files-host), hostname %r (not this machine's %r)"
                      % (o["host"], o["hostname"], socket.gethostname()))
        break
for r in recs:
    if not (isinstance(r["ts_ns"], int) and isinstance(r["pid"], int) and isinstance(r["seq"], int)
            and isinstance(r["fields"], dict) and r["level"] in LEVELS and r["time"].endswith("Z")):
        errors.append("bad types: %s" % r)
        break
ids = set((r["pid"], r["cpu"], r["seq"]) for r in recs)
if len(ids) != len(recs):
    errors.append("a record twice: %d records, %d distinct" % (len(recs), len(ids)))
# Time order, with the records of one ring in ring order: a writer preempted
# between taking its time and reserving its slot has an older time than the
# record before it in its ring. So the order is that of each ring's running
# latest time.
ring_time = {}
ts = []
for o in objs:
    ring = (o["pid"], o.get("cpu"))
    ring_time[ring] = max(ring_time.get(ring, 0), o["ts_ns"])
    ts.append(ring_time[ring])
back = [i for i in range(1, len(ts)) if ts[i] < ts[i - 1]]
if back:
    i = back[0]
    errors.append("%d lines go back in time, first at line %d: %s" % (len(back), i + 1, [
        {k: o.get(k) for k in ("ts_ns", "app", "pid", "tid", "cpu", "seq", "loss", "exit") if k in o}
        for o in objs[max(0, i - 2):i + 2]]))
by_app = count_by(recs, "app")
if by_app != {"alpha": 20001, "beta": 8001}:
    errors.append("records by app %s" % by_app)
for app, count in (("alpha", 20000), ("beta", 8000)):
    lv, cat = expected(count)
    mine = [r for r in recs if r["app"] == app]
    if count_by(mine, "level") != lv:
        errors.append("%s levels %s, expected %s" % (app, count_by(mine, "level"), lv))
    if count_by(mine, "category") != cat:
        errors.append("%s categories %s, expected %s" % (app, count_by(mine, "category"), cat))
exits = [o for o in objs if "exit" in o]
if sorted(o["app"] for o in exits) != ["alpha", "beta"] or any(o["exit"].get("how") != "shutdown" for o in exits):
    errors.append("exit markers %s" % exits)
if any("loss" in o for o in objs):
    errors.append("loss markers without drops")
ticks = [r for r in recs if r["msg"].startswith("tick ")]
if not ticks or set(ticks[0]["fields"]) != {"sym", "bid", "ask", "bid_sz", "ask_sz"} \
        or not isinstance(ticks[0]["fields"]["bid"], float):
    errors.append("tick fields %s" % (ticks[0]["fields"] if ticks else None))
print("\n".join(errors))
sys.exit(1 if errors else 0)
EOF
check "every line is JSON with the documented keys; the records are exactly the workload, in time order, once each, with exit markers" \
    python3 "$tmp/check_all.py" "$tmp" "$tmp/all.json"

# ---- --host in a directory: a file named for another host is not opened ----
mkdir "$tmp/hosts"
cp "$out"/*.shlog "$tmp/hosts/"
printf 'no header at all' >"$tmp/hosts/files-20260101-000000-000001.shlog" # host "files", a prefix of files-host
"$SHMLOG_DUMP" read --format json --host files-host "$tmp/hosts" >"$tmp/hosts.json" 2>"$tmp/hosts.err"
check "read DIR --host files-host: its records, and the file of host files never opened (nothing said of it)" \
    bash -c "[ $? = 0 ] && [ ! -s '$tmp/hosts.err' ] && cmp -s '$tmp/all.json' '$tmp/hosts.json'"
"$SHMLOG_DUMP" read --host files "$tmp/hosts" >"$tmp/hosts-files.out" 2>"$tmp/hosts-files.err"
check "read DIR --host files opens that file alone and says it is damaged; no record of files-host" \
    bash -c "grep -q 'files-20260101-000000-000001.shlog' '$tmp/hosts-files.err' && [ ! -s '$tmp/hosts-files.out' ]"

"$SHMLOG_DUMP" read "$out" >"$tmp/all.txt"
check "the text output has a line per JSON line" test "$(wc -l <"$tmp/all.txt")" -eq "$(wc -l <"$tmp/all.json")"
check "text lines show records and exit markers, which say the sample shut down" \
    grep -q '^20[0-9-]*T[0-9:.]*Z EXIT  alpha\[[0-9]*\]: process shut down; 20001 records, 0 lost$' "$tmp/all.txt"

# ---- filters: each gives exactly the lines the full output says it should ----
alpha_pid=$(python3 -c "
import json
for l in open('$tmp/all.json'):
    o = json.loads(l)
    if o['app'] == 'alpha': print(o['pid']); break")
mid_time=$(python3 -c "
import json
ts = sorted(json.loads(l)['ts_ns'] for l in open('$tmp/all.json'))
print(ts[len(ts) // 3], ts[2 * len(ts) // 3])")
since_ns=${mid_time% *}
until_ns=${mid_time#* }
since_rfc=$(python3 -c "
import datetime
ns = $since_ns
t = datetime.datetime.fromtimestamp(ns // 10**9, datetime.timezone.utc)
print(t.strftime('%Y-%m-%dT%H:%M:%S') + '.%09dZ' % (ns % 10**9))")

cat >"$tmp/check_filter.py" <<'EOF'
import re, sys
sys.path.insert(0, sys.argv[1])
from lib import *
full, got, what = load(sys.argv[2]), load(sys.argv[3]), sys.argv[4]
arg = sys.argv[5] if len(sys.argv) > 5 else None
def keep_record(r):
    if what == "level": return LEVELS.index(r["level"]) >= LEVELS.index(arg)
    if what == "category": return r["category"] == arg
    if what == "app": return r["app"] == arg
    if what == "pid": return r["pid"] == int(arg)
    if what == "since": return r["ts_ns"] >= int(arg)
    if what == "until": return r["ts_ns"] < int(arg)
    if what == "grep": return re.search(arg, r["msg"]) is not None
    if what == "combined": return r["app"] == "alpha" and r["level"] in ("WARN", "ERROR") and r["category"] == "order"
    raise SystemExit("unknown filter " + what)
want = [r for r in records(full) if keep_record(r)]
have = records(got)
key = lambda r: (r["pid"], r["cpu"], r["seq"])
if sorted(map(key, want)) != sorted(map(key, have)):
    print("%s %s: %d records, expected %d" % (what, arg, len(have), len(want)))
    sys.exit(1)
if not want or len(want) == len(records(full)):
    print("%s %s: the filter should narrow the output (%d of %d)" % (what, arg, len(want), len(records(full))))
    sys.exit(1)
if what in ("since", "until"):
    for m in got:
        if not keep_record(m):
            print("marker outside the time range: %s" % m)
            sys.exit(1)
EOF
filter() { # name what arg dump-args...
    local name=$1 what=$2 arg=$3
    shift 3
    "$SHMLOG_DUMP" read --format json "$out" "$@" >"$tmp/f.json" 2>"$tmp/f.err"
    check "read $name" python3 "$tmp/check_filter.py" "$tmp" "$tmp/all.json" "$tmp/f.json" "$what" "$arg"
}
filter "--level WARN" level WARN --level WARN
filter "--level error (any case)" level ERROR --level error
filter "--category market_data" category market_data --category market_data
filter "--category none" category none --category none
filter "--app beta" app beta --app beta
filter "--pid (alpha's)" pid "$alpha_pid" --pid "$alpha_pid"
filter "--since (ns)" since "$since_ns" --since "$since_ns"
filter "--since (RFC 3339 with nanoseconds)" since "$since_ns" --since "$since_rfc"
filter "--until (ns)" until "$until_ns" --until "$until_ns"
filter "--grep (POSIX ERE on the message)" grep 'sym=(AAPL|ESZ6) ' --grep 'sym=(AAPL|ESZ6) '
filter "--app --level --category together" combined - --app alpha --level WARN --category order

"$SHMLOG_DUMP" read "$out" --limit 7 >"$tmp/limit.txt"
check "read --limit 7 prints 7 records" test "$(wc -l <"$tmp/limit.txt")" -eq 7
"$SHMLOG_DUMP" read "$out" --since 2026-13-01T00:00:00Z >/dev/null 2>"$tmp/usage.err"
check "a bad --since is a usage error (exit 2, one line)" test $? -eq 2 -a "$(wc -l <"$tmp/usage.err")" -eq 1
"$SHMLOG_DUMP" read "$out" --grep '(' >/dev/null 2>"$tmp/usage.err"
check "a bad --grep is a usage error (exit 2)" test $? -eq 2
# The workload's records (some 3 MB of them in the merge) within 1.2 s: past
# 1 MiB the earliest go on before the window, in best-effort order.
"$SHMLOG_DUMP" read --format json "$out" --merge-memory 1 >"$tmp/merge1.json" 2>"$tmp/merge1.err"
check "read --merge-memory 1 exits 0, nothing on stderr" test $? -eq 0 -a ! -s "$tmp/merge1.err"
check "read --merge-memory 1 gives the same lines as read, each once" \
    cmp <(sort "$tmp/all.json") <(sort "$tmp/merge1.json")
"$SHMLOG_DUMP" read "$out" --merge-memory 0 >/dev/null 2>"$tmp/usage.err"
check "--merge-memory 0 is a usage error (exit 2, one line)" test $? -eq 2 -a "$(wc -l <"$tmp/usage.err")" -eq 1

# The lines rendered by helper threads: the same bytes on any number.
for jobs in 1 2 3; do
    "$SHMLOG_DUMP" read --format json --jobs "$jobs" "$out" >"$tmp/jobs$jobs.json" 2>"$tmp/jobs.err"
    check "read --jobs $jobs gives the bytes of read, nothing on stderr" \
        bash -c "cmp '$tmp/all.json' '$tmp/jobs$jobs.json' && test ! -s '$tmp/jobs.err'"
done
"$SHMLOG_DUMP" read -j 2 "$out" >"$tmp/jobs2.txt" 2>/dev/null
check "read -j 2 in text gives the bytes of read in text" cmp "$tmp/all.txt" "$tmp/jobs2.txt"
"$SHMLOG_DUMP" read --jobs 65 "$out" >/dev/null 2>"$tmp/usage.err"
check "--jobs 65 is a usage error (exit 2, one line)" test $? -eq 2 -a "$(wc -l <"$tmp/usage.err")" -eq 1

# ---- stats ----
"$SHMLOG_DUMP" stats --format json "$out" >"$tmp/stats.json"
check "stats --format json exits 0" test $? -eq 0
cat >"$tmp/check_stats.py" <<'EOF'
import json, os, sys
sys.path.insert(0, sys.argv[1])
from lib import *
full = load(sys.argv[2])
recs = records(full)
st = json.load(open(sys.argv[3]))
out = sys.argv[4]
errors = []
files = [os.path.join(out, f) for f in os.listdir(out) if f.endswith(".shlog")]
size = sum(os.path.getsize(f) for f in files)
def want(k, v):
    if st.get(k) != v:
        errors.append("%s: %r, expected %r" % (k, st.get(k), v))
want("files", len(files))
want("bytes", size)
want("records", 28002)
want("duplicates", 0)
want("bad_frames", 0)
want("levels", count_by(recs, "level"))
want("categories", count_by(recs, "category"))
want("apps", {"alpha": 20001, "beta": 8001})
want("first_ns", min(r["ts_ns"] for r in recs))
want("last_ns", max(r["ts_ns"] for r in recs))
if st["losses"]["total"] != 0:
    errors.append("losses %s" % st["losses"])
if abs(st["bytes_per_record"] - size / 28002) > 1e-6:
    errors.append("bytes_per_record %s" % st["bytes_per_record"])
span = (st["last_ns"] - st["first_ns"]) / 1e9
if abs(st["records_per_s"] - 28002 / span) > 1e-3 * st["records_per_s"]:
    errors.append("records_per_s %s" % st["records_per_s"])
by_site = {}
for r in recs:
    by_site[(r["app"], r["site"])] = by_site.get((r["app"], r["site"]), 0) + 1
top = sorted(by_site.values(), reverse=True)[:20]
if [s["records"] for s in st["sites"]] != top:
    errors.append("sites %s, expected counts %s" % ([s["records"] for s in st["sites"]], top))
for s in st["sites"]:
    if by_site.get((s["app"], s["site"])) != s["records"]:
        errors.append("site %s" % s)
print("\n".join(errors))
sys.exit(1 if errors else 0)
EOF
check "stats match the workload (records, levels, categories, apps, sites, bytes, span, rate)" \
    python3 "$tmp/check_stats.py" "$tmp" "$tmp/all.json" "$tmp/stats.json" "$out"
"$SHMLOG_DUMP" stats "$out" >"$tmp/stats.txt"
check "stats as text" grep -q '^records: 28002 (0 duplicates dropped)' "$tmp/stats.txt"
"$SHMLOG_DUMP" stats --format json --app beta "$out" >"$tmp/stats_beta.json"
check "stats with a filter counts what passes it" \
    python3 -c "import json,sys; s=json.load(open('$tmp/stats_beta.json')); sys.exit(s['records'] != 8001)"

# ---- verify, read of damaged files ----
"$SHMLOG_DUMP" verify "$out"/*.shlog >"$tmp/verify.txt"
check "verify of the good files exits 0" test $? -eq 0
check "verify prints one ok line per file" \
    test "$(grep -c ': ok: ' "$tmp/verify.txt")" -eq "$(ls "$out"/*.shlog | wc -l)"
big=$(ls -S "$out"/*.shlog | head -1)
size=$(stat -c %s "$big")
cp "$big" "$tmp/truncated.shlog"
truncate -s $((size - 100)) "$tmp/truncated.shlog"
"$SHMLOG_DUMP" verify "$tmp/truncated.shlog" >"$tmp/verify.txt" 2>"$tmp/verify.err"
check "verify of a truncated file exits 1 and reports the torn tail" \
    test $? -eq 1 -a "$(grep -c 'torn' "$tmp/verify.txt")" -eq 1
cp "$big" "$tmp/flipped.shlog"
# one bit in the middle of the file, inside some frame's compressed bytes
python3 -c "
import sys
p = '$tmp/flipped.shlog'
b = bytearray(open(p, 'rb').read())
b[len(b) // 2] ^= 0x10
open(p, 'wb').write(b)"
"$SHMLOG_DUMP" verify "$tmp/flipped.shlog" >"$tmp/verify.txt" 2>"$tmp/verify.err"
check "verify of a bit-flipped file exits 1 and says DAMAGED" \
    test $? -eq 1 -a "$(grep -c 'DAMAGED' "$tmp/verify.txt")" -eq 1
good_records=$(sed -n 's/.*good frames, \([0-9]*\) records.*/\1/p' "$tmp/verify.txt")
"$SHMLOG_DUMP" read "$tmp/flipped.shlog" >"$tmp/flipped.txt" 2>"$tmp/flipped.err"
read_status=$?
check "read of a bit-flipped file reports the frame on stderr and exits 1" \
    test "$read_status" -eq 1 -a "$(grep -c 'frame' "$tmp/flipped.err")" -ge 1
check "read of a bit-flipped file goes on: every record of the good frames ($good_records)" \
    test "$(grep -vc 'EXIT\|LOSS' "$tmp/flipped.txt")" -eq "${good_records:--1}"
"$SHMLOG_DUMP" read "$tmp/truncated.shlog" >/dev/null 2>&1
check "read of a truncated file exits 1" test $? -eq 1
"$SHMLOG_DUMP" verify "$out"/*.shlog "$tmp/flipped.shlog" >/dev/null 2>&1
check "verify exits 1 when any one file is damaged" test $? -eq 1
echo "not a shmlog file at all, just text" >"$tmp/junk.shlog"
"$SHMLOG_DUMP" verify "$tmp/junk.shlog" >"$tmp/verify.txt" 2>&1
check "verify of a file that is not a shmlog file exits 1" test $? -eq 1

# ---- stats on threads ----
# Each thread counts the records of its share of the frames; files with duplicates or damage, which count
# by the order of the frames, are counted again on one thread. On any number the report is one thread's,
# and so are its messages and exit status.
stats_same() { # WHAT ARGS...: stats -j 1, -j 2 and -j 3 in text and JSON give the same bytes, stderr and status
    local what=$1 j fmt
    shift
    for fmt in text json; do
        "$SHMLOG_DUMP" stats --format $fmt -j 1 "$@" >"$tmp/st1.out" 2>"$tmp/st1.err"
        echo "status $?" >>"$tmp/st1.err"
        for j in 2 3; do
            "$SHMLOG_DUMP" stats --format $fmt -j $j "$@" >"$tmp/stj.out" 2>"$tmp/stj.err"
            echo "status $?" >>"$tmp/stj.err"
            if ! cmp -s "$tmp/st1.out" "$tmp/stj.out" || ! cmp -s "$tmp/st1.err" "$tmp/stj.err"; then
                not_ok "stats -j $j ($fmt) of $what gives what -j 1 gives"
                diff "$tmp/st1.out" "$tmp/stj.out" | head -5 | sed 's/^/#   /'
                diff "$tmp/st1.err" "$tmp/stj.err" | head -5 | sed 's/^/#   /'
                return
            fi
        done
    done
    ok "stats -j 2 and -j 3 of $what give the bytes, messages and status of -j 1"
}
# opens_of FILE ARGS...: how many times stats ARGS opens FILE (its header once, then each counting engine)
opens_of() {
    local file=$1
    shift
    strace -f -qq -e trace=openat -o "$tmp/stats.strace" "$SHMLOG_DUMP" stats "$@" >/dev/null 2>&1
    grep -c "\"$file\"" "$tmp/stats.strace"
}
stats_same "the good files" "$out"
stats_same "the good files, --app beta --level warn" --app beta --level warn "$out"
stats_same "the good files, --grep" --grep 'a=[0-9]*7 ' "$out"
mkdir "$tmp/twice"
cp "$out"/*.shlog "$tmp/twice/"
cp "$big" "$tmp/twice/again-$(basename "$big")"
stats_same "files one of which is there twice (its records duplicates)" "$tmp/twice"
check "the copy's records are counted once, as duplicates dropped" \
    python3 -c "import json,sys; s=json.load(open('$tmp/st1.out')); sys.exit(s['records'] != 28002 or not s['duplicates'])"
# One file and its copy, on a count of threads that does not divide its frames: no frame of the copy is
# counted by the thread that counted the same frame of the file, so no thread meets a duplicate by itself;
# the ring positions the copy takes again are what tells them.
frames=$("$SHMLOG_DUMP" stats --format json -j 1 "$big" | python3 -c "import json,sys; print(json.load(sys.stdin)['frames'])")
jobs=2
while [ $((frames % jobs)) -eq 0 ]; do jobs=$((jobs + 1)); done
mkdir "$tmp/copy"
cp "$big" "$tmp/copy/"
cp "$big" "$tmp/copy/again-$(basename "$big")"
"$SHMLOG_DUMP" stats --format json -j 1 "$tmp/copy" >"$tmp/copy1.json"
"$SHMLOG_DUMP" stats --format json -j $jobs "$tmp/copy" >"$tmp/copyj.json"
check "stats -j $jobs of a file of $frames frames and its copy gives what -j 1 gives" cmp "$tmp/copy1.json" "$tmp/copyj.json"
check "the copy's records are all duplicates dropped" \
    python3 -c "import json,sys; s=json.load(open('$tmp/copy1.json')); sys.exit(s['duplicates'] != s['records'] or not s['records'])"
check "stats -j $jobs counted them again on one thread" \
    test "$(opens_of "$tmp/copy/$(basename "$big")" -j $jobs "$tmp/copy")" -eq $((jobs + 2))
# A file still being written (its collector's lock held, its last frame cut short): each thread reads it to
# the size it had when listed, so the threads end at the same frame, and then while it grows.
mkdir "$tmp/live"
part="$tmp/live/$(basename "$big" .shlog).shlog.part"
head -c $((size / 2)) "$big" >"$part"
python3 - "$part" "$big" "$tmp/live.ready" "$tmp/live.go" "$tmp/live.stop" <<'PY' &
import fcntl, os, struct, sys, time
part, src, ready, go, stop = sys.argv[1:]
fd = os.open(part, os.O_RDWR)
F_OFD_SETLK = 37  # the collector's lock on its .part (shlog_part_in_use)
fcntl.fcntl(fd, F_OFD_SETLK, struct.pack("hhxxxxqqixxxx", fcntl.F_WRLCK, 0, 0, 1, 0))
open(ready, "w").close()
data = open(src, "rb").read()
end = time.monotonic() + 120  # a test that died leaves no holder behind
def told(name):
    return os.path.exists(name) or not os.path.exists(os.path.dirname(part)) or time.monotonic() > end
while not told(go) and not told(stop):
    time.sleep(0.01)
at = os.path.getsize(part)
while at < len(data) and not told(stop):
    os.pwrite(fd, data[at:at + 512], at)  # about 100 KB a second: it grows all through a stats run
    at += 512
    time.sleep(0.005)
while not told(stop):
    time.sleep(0.01)
PY
holder=$!
for _ in $(seq 500); do [ -e "$tmp/live.ready" ] && break; sleep 0.01; done
stats_same "a file still being written" "$tmp/live"
check "whose torn tail is a note, not damage" \
    grep -q "^status 0" "$tmp/st1.err" -a -n "$(grep 'note:.*file ends inside a frame' "$tmp/st1.err")"
touch "$tmp/live.go"
# opened to be listed (is its collector's lock held, its header), then once a thread; once more would be
# its count again on one thread
check "stats -j 3 of the file as it grows reads it on three threads and keeps their counts" \
    test "$(opens_of "$part" -j 3 "$tmp/live")" -eq 5
touch "$tmp/live.stop"
wait "$holder"
stats_same "a truncated file" "$tmp/truncated.shlog"
stats_same "a bit-flipped file" "$tmp/flipped.shlog"
stats_same "good, bit-flipped and junk files" "$out" "$tmp/flipped.shlog" "$tmp/junk.shlog"
# The file fuzzer's seeds and the inputs it once found: damaged, cut and hostile files of every kind.
for input in "$(dirname "$0")"/fuzz/corpus/file/*; do
    stats_same "the file fuzzer's input $(basename "$input")" "$input"
done
check "stats -j 3 reads the good file $(basename "$big") on three threads, once each" \
    test "$(opens_of "$big" -j 3 "$big")" -eq 4
check "stats -j 1 reads it once" test "$(opens_of "$big" -j 1 "$big")" -eq 2
check "stats -j 3 of files with duplicates counts them again on one thread" \
    test "$(opens_of "$tmp/twice/$(basename "$big")" -j 3 "$tmp/twice")" -eq 5

tap_done
