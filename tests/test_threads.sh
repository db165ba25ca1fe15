#!/bin/bash
# Description: thread names end to end (tests/thread_producer.cpp): a real segment, shmlog-collector and shmlog-dump read; each thread's records carry the name it gave (pthread_setname_np then shmlog_thread_init, the C++ shmlog_thread_init("name"), shmlog_thread_name), a long name cut and ending in '~', a control character and a byte that is not UTF-8 as '?', a rename from the records after it, the unnamed main thread without one; in text (app[pid/tid:name]) and JSON ("thread"); read --thread by name and by tid; shmlog-dump ring names them and takes --thread; Python's to_arrow has the thread column and read()'s events the thread attribute; THREAD entries no shmlog writes (control bytes, a name outside the segment, 100000 bytes, tid 0) cost nothing but show as '?' and a cut name.
# usage: test_threads.sh (meson test sets SHMLOG_DUMP, COLLECTOR, THREAD_PRODUCER, HOSTILE_THREADS, PYTHON_SRC, READ_LIBRARY)
set -u
tmp=$(mktemp -d /tmp/shmlog-test-threads-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR THREAD_PRODUCER HOSTILE_THREADS
collector_dirs
collector_start "$tmp/collector.log" --dir "$seg" --out "$out" --max-delay-ms 20
"$THREAD_PRODUCER" >"$tmp/producer.out" 2>"$tmp/producer.err"
check "the producer named its threads and dropped nothing" test $? -eq 0 -a "$(grep '^done ' "$tmp/producer.out")" = "done 0"
diag "$tmp/producer.err"
check "the collector drained the producer" wait_for 15 bash -c "'$SHMLOG_DUMP' read '$out' 2>/dev/null | grep -q 'EXIT.*threads'"
# A hostile process's THREAD entries, read by the same collector.
"$HOSTILE_THREADS" >"$tmp/hostile.out" 2>"$tmp/hostile.err"
check "the hostile producer ran" test $? -eq 0 -a "$(grep '^done ' "$tmp/hostile.out")" = "done 0"
check "the collector drained it" wait_for 15 bash -c "'$SHMLOG_DUMP' read '$out' 2>/dev/null | grep -q 'EXIT.*hostile-threads'"
collector_stop
check_show "the collector said nothing of the bad names (they cost it nothing)" bash -c "! grep 'hostile-threads' '$tmp/collector.log'"
tid_of() { sed -n "s/^tid $1 //p" "$tmp/producer.out"; }

"$SHMLOG_DUMP" read "$out" >"$tmp/read.txt" 2>"$tmp/read.err"
diag "$tmp/read.err"
want_line() { # label, the thread part of the text line, message
    grep -q "threads\[[0-9]*/$(tid_of "$1")$2\] cpu[0-9]* thread_producer.cpp:[0-9]* hello from $3\$" "$tmp/read.txt"
}
check "text: pthread_setname_np then shmlog_thread_init() names the thread md-0" want_line pthread :md-0 pthread
check "text: the C++ shmlog_thread_init(\"order-gw\")" want_line cxx :order-gw cxx
check "text: a name past 32 bytes is cut at 31 and ends in ~" want_line long ":risk-calculator-for-every-venue~" long
check "text: a control character and a byte that is not UTF-8 show as ?" want_line control ':bad?name?' control
check "text: the record before a rename has the first name" want_line renamed :fx-a before-rename
check "text: the record after a rename has the new one" want_line renamed :fx-b after-rename
check "text: a thread never named shows its tid alone" want_line main '' main

"$SHMLOG_DUMP" read --app threads --format json "$out" >"$tmp/read.json" 2>>"$tmp/read.err"
check_show "JSON: \"thread\" after \"cpu\" for named threads, absent for the main thread" python3 - "$tmp/read.json" "$tmp/producer.out" <<'PY'
import json, sys
tids = {l.split()[1]: int(l.split()[2]) for l in open(sys.argv[2]) if l.startswith("tid ")}
want = {"pthread": "md-0", "cxx": "order-gw", "long": "risk-calculator-for-every-venue~", "control": "bad?name?",
        "before-rename": "fx-a", "after-rename": "fx-b", "main": None}
got = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("msg", "").startswith("hello from "):
        label = r["msg"][len("hello from "):]
        keys = list(r)
        if "thread" in r and keys.index("thread") != keys.index("cpu") + 1:
            print("thread not right after cpu:", keys)
            sys.exit(1)
        got[label] = r.get("thread")
print(got)
sys.exit(0 if got == want else 1)
PY

"$SHMLOG_DUMP" read --thread order-gw "$out" >"$tmp/by-name.txt" 2>>"$tmp/read.err"
check_show "read --thread NAME: that thread's records only" test "$(grep -c 'hello from' "$tmp/by-name.txt")" -eq 1 -a \
    "$(grep -c 'hello from cxx$' "$tmp/by-name.txt")" -eq 1
"$SHMLOG_DUMP" read --thread "$(tid_of renamed)" "$out" >"$tmp/by-tid.txt" 2>>"$tmp/read.err"
check_show "read --thread TID: both records of the renamed thread" test "$(grep -c 'hello from' "$tmp/by-tid.txt")" -eq 2
"$SHMLOG_DUMP" read --thread "$(tid_of main)" "$out" >"$tmp/by-main.txt" 2>>"$tmp/read.err"
check_show "read --thread TID: a thread without a name" grep -q 'hello from main$' "$tmp/by-main.txt"
"$SHMLOG_DUMP" read --thread no-such-thread "$out" >"$tmp/none.txt" 2>>"$tmp/read.err"
check_show "read --thread with a name no thread has: no record" test "$(grep -c 'hello from' "$tmp/none.txt")" -eq 0
"$SHMLOG_DUMP" read --thread "" "$out" >/dev/null 2>"$tmp/usage.err"
check_show "read --thread '': one usage error (exit 2) that says what it wants" test $? -eq 2 -a \
    "$(grep -c "thread wants" "$tmp/usage.err")" -eq 1

hostile_tid=$(sed -n 's/^tid //p' "$tmp/hostile.out")
"$SHMLOG_DUMP" read --app hostile-threads --format json "$out" >"$tmp/hostile.json" 2>"$tmp/hostile-read.err"
check_show "hostile THREAD entries: control bytes and a byte that is not UTF-8 as ?, an unreadable name as ?, a long one cut with ~, tid 0 ignored" \
    python3 - "$tmp/hostile.json" "$hostile_tid" <<'PY'
import json, sys
got = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("msg", "").startswith("hello from "):
        got[r["msg"][len("hello from "):]] = (r["tid"], r.get("thread"))
tid = int(sys.argv[2])
print(got)
long_name = got["hostile-long"][1]
ok = (got["hostile-bytes"] == (tid, "?[31mevil??") and got["hostile-offset"] == (tid, "?") and
      len(long_name.encode()) == 32 and long_name.endswith("~") and "\0" not in long_name and
      got["hostile-tid0"] == got["hostile-long"] and got["after"] == got["hostile-long"])
sys.exit(0 if ok else 1)
PY
"$SHMLOG_DUMP" read --app hostile-threads "$out" >"$tmp/hostile.txt" 2>>"$tmp/hostile-read.err"
check_show "hostile THREAD entries: the text lines hold no control byte" bash -c "grep -q 'hostile-threads\[[0-9]*/$hostile_tid:?\[31mevil??\]' '$tmp/hostile.txt' && ! LC_ALL=C grep -q \$'\x1b' '$tmp/hostile.txt'"

# The DataFrame: the thread column (a dictionary of the names, null for the unnamed thread), and thread=.
py=${SHMLOG_TEST_VENV:-/opt/shmlog-test/venv}/bin/python
check_show "Python: to_arrow's thread column is a dictionary of the names, read()'s events the same names; dataframe(thread=) by name and tid; polars" \
    env PYTHONPATH="$PYTHON_SRC" SHMLOG_READ_LIBRARY="$READ_LIBRARY" "$py" - "$out" "$tmp/producer.out" <<'PY'
import sys
try:  # checked here, not by a python of its own: importing them costs more than the check
    import pandas, pyarrow as pa, polars as pl
except ImportError as e:
    sys.exit(f"{sys.executable}: {e} (tests/python-requirements.txt): run scripts/setup.sh as root")
import shmlog
tids = {l.split()[1]: int(l.split()[2]) for l in open(sys.argv[2]) if l.startswith("tid ")}
t = shmlog.to_arrow(sys.argv[1], app="threads")
col = t.column("thread")
assert pa.types.is_dictionary(col.type), col.type
rows = {m[len("hello from "):]: th for m, th in zip(t.column("msg").to_pylist(), col.to_pylist())
        if m and m.startswith("hello from ")}
want = {"pthread": "md-0", "cxx": "order-gw", "long": "risk-calculator-for-every-venue~", "control": "bad?name?",
        "before-rename": "fx-a", "after-rename": "fx-b", "main": None}
assert rows == want, rows
events = {e.msg[len("hello from "):]: e.thread for e in shmlog.read(sys.argv[1], app="threads")
          if e.msg and e.msg.startswith("hello from ")}
assert events == want, events
assert [e.thread for e in shmlog.read(sys.argv[1], thread="order-gw")] == ["order-gw"]
df = shmlog.dataframe(sys.argv[1], thread="order-gw")
assert list(df["msg"]) == ["hello from cxx"], list(df["msg"])
assert str(df["thread"].dtype) == "category", df["thread"].dtype
df = shmlog.dataframe(sys.argv[1], thread=tids["renamed"])
assert list(df["thread"]) == ["fx-a", "fx-b"], list(df["thread"])
assert pl.from_arrow(t).filter(pl.col("thread") == "md-0").height == 1
try:
    shmlog.dataframe(sys.argv[1], thread="")
    sys.exit("an empty thread= was taken")
except ValueError as e:
    assert "thread must be" in str(e), e
print("ok")
PY
# The rings of a process no collector read: shmlog-dump ring names the threads from the process's THREAD
# entries (their names as they are now: both records of the renamed thread say fx-b) and takes --thread.
ringseg=$tmp/ringseg
mkdir -p "$ringseg"
SHMLOG_DIR=$ringseg "$THREAD_PRODUCER" >"$tmp/ring-producer.out" 2>"$tmp/ring-producer.err"
check "the producer ran again, no collector" test $? -eq 0 -a "$(grep '^done ' "$tmp/ring-producer.out")" = "done 0"
ring_tid() { sed -n "s/^tid $1 //p" "$tmp/ring-producer.out"; }
"$SHMLOG_DUMP" ring --dir "$ringseg" >"$tmp/ring.txt" 2>"$tmp/ring.err"
diag "$tmp/ring.err"
ring_line() { # label, the thread part of the text line, message
    grep -q "threads\[[0-9]*/$(ring_tid "$1")$2\] cpu[0-9]* thread_producer.cpp:[0-9]* hello from $3\$" "$tmp/ring.txt"
}
check "ring: text names each thread as the files do" ring_line pthread :md-0 pthread
check "ring: the C++ shmlog_thread_init(\"order-gw\")" ring_line cxx :order-gw cxx
check "ring: a renamed thread has its name of now" ring_line renamed :fx-b before-rename
check "ring: a thread never named shows its tid alone" ring_line main '' main
check_show "ring --thread by name: that thread's record alone" \
    bash -c "'$SHMLOG_DUMP' ring --dir '$ringseg' --thread order-gw | grep -c . | grep -qx 1 && '$SHMLOG_DUMP' ring --dir '$ringseg' --thread order-gw | grep -q 'hello from cxx\$'"
"$SHMLOG_DUMP" ring --dir "$ringseg" --thread "$(ring_tid renamed)" --format json >"$tmp/ring.json" 2>>"$tmp/ring.err"
check_show "ring --thread by tid, JSON: the renamed thread's two records, \"thread\":\"fx-b\"" python3 - "$tmp/ring.json" <<'PY'
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert [o["msg"] for o in objs] == ["hello from before-rename", "hello from after-rename"], objs
assert all(o.get("thread") == "fx-b" for o in objs), objs
print("ok")
PY

tap_done
