#!/bin/bash
# Description: record times against the wall clock, end to end: three clock_producer processes, each with its own TSC calibration made wrong on purpose (SHMLOG_TEST_TSC_SKEW_PPM = 1000, -700, 0), log CLOCK_REALTIME around each call at ~1 record/ms for ~3 s through a real shmlog-collector; in `shmlog-dump read --format json` of its files every record's ts_ns lies within [w0 - 5 us, w1 + 5 us] (w0: CLOCK_REALTIME read before the call, w1: read after it returned; BOUND = 5 us covers the anchors' error and the interpolation between them), every record of every process is there, and the merge is in true order (no record b after a record a with w1_b < w0_a - 5 us). A step while the collector is stopped (SIGSTOP, +5 s, SIGCONT 2 s later) and while none runs (stopped, +5 s, a new one 2 s later): the records between the anchors around it are flagged time_uncertain and never interpolated over it, every other record meets the bound. Then, without a collector, `shmlog-dump ring --format json` of a skewed producer's rings (while it runs and after it exited) meets the same bound. Last, the host's CLOCK_REALTIME is stepped +0.5 s and back under a producer and a collector: the records of 30 ms after each step at most keep the old clock, all others meet the bound (order is not checked across a step), and stats counts both steps. A step of the wall clock during the run (w0 - CLOCK_MONOTONIC jumps) is reported and the records from 200 ms before to 500 ms after it are left out. SHMLOG_TEST_KEEP=1 keeps the work directory.
# usage: test_clock_e2e.sh DUMP COLLECTOR CLOCK_PRODUCER
set -u
dump=$1
collector=$2
producer=$3
bound_ns=5000
tmp=$(mktemp -d /tmp/shmlog-test-clock-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT

# check_times.py BOUND JSONL [--expect PID:N]... [--min N] [--order] [--steps N --guard-ms B:A] [--flagged-ok]
#   Checks every "clock" record (tests/clock_producer.c) whose successor is in
#   the output: w0 - BOUND <= ts_ns <= w1 + BOUND, w1 being the successor's
#   w1prev (or the end record's w1). --expect PID:N: that process's records
#   seq 0..N-1 and its end record are all there. --min N: every process shown
#   has at least N records. --order: the output is in true order.
#   Prints, per process, the records checked and the largest errors.
#   A step of the wall clock (someone set CLOCK_REALTIME: w0 - m0 jumps by more
#   than 20 us and stays) is no error of the reader's: the records of every
#   process from 200 ms before it to 500 ms after it (monotonic) are left out of
#   the bound check, and the order is checked between the steps only; the steps
#   and what was left out are printed. More than half the records left out fails.
#   --steps N: the test stepped the clock N times itself (each seen by every
#   process); --guard-ms B:A: what is left out around each, B ms before and A
#   after, instead. --flagged-ok: a record flagged time_uncertain (between
#   anchors around a step) is not checked, only counted: every other one is.
cat >"$tmp/check_times.py" <<'EOF'
import json, sys
bound = int(sys.argv[1])
path = sys.argv[2]
args = sys.argv[3:]
STEP_MIN = 20000                 # ns: a change of w0 - m0 this large is a step of the wall clock
GUARD = (200000000, 500000000)   # ns of CLOCK_MONOTONIC before and after a step left unchecked
expect, min_n, order, want_steps, flagged_ok = {}, 0, False, None, False
while args:
    a = args.pop(0)
    if a == '--expect':
        p, n = args.pop(0).split(':')
        expect[int(p)] = int(n)
    elif a == '--min':
        min_n = int(args.pop(0))
    elif a == '--order':
        order = True
    elif a == '--steps':
        want_steps = int(args.pop(0))
    elif a == '--flagged-ok':
        flagged_ok = True
    elif a == '--guard-ms':
        b, a_ = args.pop(0).split(':')
        GUARD = (int(float(b) * 1e6), int(float(a_) * 1e6))
    else:
        sys.exit('check_times.py: unknown argument ' + a)

procs = {}   # pid -> {'rec': {seq: (ts, w0, w1prev, m0)}, 'end': (seq, w1)}
shown = []   # (pid, seq) of clock records in output order
bad_lines = 0
for line in open(path):
    try:
        o = json.loads(line)
    except ValueError:
        bad_lines += 1
        continue
    f = o.get('fields')
    msg = o.get('msg', '')
    if not f or not msg.startswith('clock '):
        continue
    p = procs.setdefault(o['pid'], {'rec': {}, 'end': None})
    if msg.startswith('clock end '):
        p['end'] = (f['seq'], f['w1'])
    else:
        p['rec'][f['seq']] = (o['ts_ns'], f['w0'], f['w1prev'], f['m0'], o.get('time_uncertain', False))
        shown.append((o['pid'], f['seq']))

def w1_of(p, seq):
    nxt = p['rec'].get(seq + 1)
    if nxt is not None:
        return nxt[2]
    if p['end'] is not None and p['end'][0] == seq + 1:
        return p['end'][1]
    return None

# Steps of the wall clock: w0 - m0 is the clock's offset plus the delay between
# the two reads (>= 0, large when preempted there): the least over 5 records on
# each side of a pair of consecutive records tells a lasting change from one
# preempted read.
steps = []   # (monotonic ns, size ns, pid, seq)
for pid, p in procs.items():
    seqs = sorted(p['rec'])
    off = [p['rec'][s][1] - p['rec'][s][3] for s in seqs]  # w0 - m0
    i = 0
    while i + 1 < len(seqs):
        before = min(off[max(0, i - 4):i + 1])
        after = min(off[i + 1:i + 6])
        if abs(after - before) > STEP_MIN:
            steps.append((p['rec'][seqs[i + 1]][3], after - before, pid, seqs[i + 1]))
            i += 5
        i += 1
steps.sort()
def guarded(m0):
    return any(t - GUARD[0] <= m0 <= t + GUARD[1] for t, _, _, _ in steps)
def epoch(m0):
    return sum(1 for t, _, _, _ in steps if t <= m0)
for t, size, pid, seq in steps:
    print('the wall clock stepped by %+d ns (seen by pid %d around seq %d): records within -%d/+%d ms of it not checked' %
          (size, pid, seq, GUARD[0] // 1000000, GUARD[1] // 1000000))

fail = []
if want_steps is not None and len(steps) != want_steps * len(procs):
    fail.append('%d steps of the wall clock seen, %d made under %d processes' % (len(steps), want_steps, len(procs)))
if bad_lines:
    fail.append('%d lines are not JSON' % bad_lines)
for pid, n in expect.items():
    p = procs.get(pid)
    if p is None:
        fail.append('pid %d: no record at all (expected %d)' % (pid, n))
        continue
    missing = [s for s in range(n) if s not in p['rec']]
    if missing or len(p['rec']) != n:
        fail.append('pid %d: %d records, expected seq 0..%d (%d missing, first %s)' %
                    (pid, len(p['rec']), n - 1, len(missing), missing[:5]))
    if p['end'] is None or p['end'][0] != n:
        fail.append('pid %d: no end record after seq %d' % (pid, n - 1))
for pid in procs:
    if expect and pid not in expect:
        fail.append('pid %d: records of a process not started here' % pid)

print('bound %d ns; per process: records checked, ts-w0 (min/median/max), ts-w1 (max), w1-w0 (median/max), '
      'max |error| outside [w0, w1] (ns)' % bound)
for pid in sorted(procs):
    p = procs[pid]
    n = skipped = skipped_worst = flagged = flagged_worst = 0
    lo, hi, gaps, worst, examples = [], [], [], 0, []
    for seq in sorted(p['rec']):
        ts, w0, _, m0, uncertain = p['rec'][seq]
        w1 = w1_of(p, seq)
        if w1 is None:
            continue
        err = max(w0 - ts, ts - w1, 0)
        if uncertain and flagged_ok:
            flagged += 1
            flagged_worst = max(flagged_worst, err)
            continue
        if guarded(m0):
            skipped += 1
            skipped_worst = max(skipped_worst, err)
            continue
        n += 1
        lo.append(ts - w0)
        hi.append(ts - w1)
        gaps.append(w1 - w0)
        worst = max(worst, err)
        if err > bound and len(examples) < 3:
            examples.append('seq %d: ts_ns %d, w0 %d, w1 %d: ts-w0 %+d ns, ts-w1 %+d ns' %
                            (seq, ts, w0, w1, ts - w0, ts - w1))
    if flagged:
        print('pid %d: %d records flagged time_uncertain not checked (their max |error| %d ns)' %
              (pid, flagged, flagged_worst))
    if skipped:
        print('pid %d: %d records near a step of the wall clock not checked (their max |error| %d ns)' %
              (pid, skipped, skipped_worst))
        if skipped > n:
            fail.append('pid %d: the wall clock stepped too often to check: %d records left out, %d checked' %
                        (pid, skipped, n))
    if n == 0:
        fail.append('pid %d: no record with a successor to check' % pid)
        continue
    lo_s, gaps_s = sorted(lo), sorted(gaps)
    nbad = sum(1 for a, b in zip(lo, hi) if a < -bound or b > bound)
    print('pid %d: %d records, ts-w0 %+d/%+d/%+d, ts-w1 max %+d, w1-w0 %d/%d, max |error| %d ns%s' %
          (pid, n, lo_s[0], lo_s[n // 2], lo_s[-1], max(hi), gaps_s[n // 2], gaps_s[-1], worst,
           '' if nbad == 0 else ' (%d records outside the bound)' % nbad))
    for e in examples:
        print('  pid %d %s' % (pid, e))
    if nbad:
        fail.append('pid %d: %d of %d records outside [w0 - %d, w1 + %d] ns, max |error| %d ns' %
                    (pid, nbad, n, bound, bound, worst))
    if n + skipped < min_n:
        fail.append('pid %d: only %d records, expected at least %d' % (pid, n + skipped, min_n))

if order:
    # per epoch between steps: the largest w0 printed so far, and where
    max_w0, inversions, first = {}, 0, None
    for pid, seq in shown:
        p = procs[pid]
        ts, w0, _, m0, _ = p['rec'][seq]
        if guarded(m0):
            continue
        e = epoch(m0)
        w1 = w1_of(p, seq)
        top = max_w0.get(e)
        if w1 is not None and top is not None and w1 < top[0] - bound:
            inversions += 1
            if first is None:
                first = 'pid %d seq %d (w1 %d) printed after pid %d seq %d (w0 %d): %d ns early' % (
                    pid, seq, w1, top[1], top[2], top[0], top[0] - w1)
        if top is None or w0 > top[0]:
            max_w0[e] = (w0, pid, seq)
    print('order: %d records in output order, %d printed after a record they truly precede' %
          (len(shown), inversions))
    if inversions:
        fail.append('%d records out of true order; first: %s' % (inversions, first))

for f in fail:
    print('FAIL: ' + f)
sys.exit(1 if fail else 0)
EOF
check_times() { python3 "$tmp/check_times.py" "$bound_ns" "$@"; }
# show_err FILE: a command's stderr, when it wrote any, as TAP comments.
show_err() { [ -s "$1" ] && sed 's/^/#   stderr: /' "$1" | head -10; return 0; }
# done_count FILE: N from the producer's "done N DROPPED" line, when it dropped nothing.
done_count() { sed -n 's/^done \([0-9]*\) 0$/\1/p' "$1"; }

# start_collector: a collector on $seg (made here) writing to $out; its pid in $col.
start_collector() {
    mkdir -p "$seg"
    "$collector" --dir "$seg" --out "$out" >"$out.log" 2>&1 &
    col=$!
    pids+=("$col")
    sleep 0.3
}

# ---- through the collector: three processes, three wrong calibrations ----
seg=$tmp/seg1
out=$tmp/out1
start_collector
skews=(1000 -700 0)
prods=()
for k in 0 1 2; do
    SHMLOG_DIR=$seg SHMLOG_TEST_TSC_SKEW_PPM=${skews[$k]} \
        "$producer" --app clk$k --seconds 3 --interval-us 1000 >"$tmp/producer$k.out" 2>"$tmp/producer$k.err" &
    prods+=($!)
    pids+=($!)
done
expects=()
prod_ok=1
for k in 0 1 2; do
    wait "${prods[$k]}"
    rc=$?
    n=$(done_count "$tmp/producer$k.out")
    echo "# producer clk$k pid ${prods[$k]} (skew ${skews[$k]} ppm): exit $rc, $(cat "$tmp/producer$k.out" | tail -1)"
    if [ "$rc" -ne 0 ] || [ -z "$n" ]; then
        prod_ok=0
        sed 's/^/#   /' "$tmp/producer$k.err" | head -5
    else
        expects+=(--expect "${prods[$k]}:$n")
    fi
done
check "the three producers ran and dropped nothing" test "$prod_ok" -eq 1
# The collector drains the segments of the processes that ended, then exits on SIGTERM.
dir_empty() { [ -z "$(ls -A "$1")" ]; }
check "the collector drained and removed the producers' segments" wait_for 10 dir_empty "$seg"
kill -TERM "$col"
wait "$col"
col_rc=$?
check "the collector exits 0 on SIGTERM" test "$col_rc" -eq 0
[ "$col_rc" -eq 0 ] || sed 's/^/#   /' "$out.log" | tail -10
"$dump" read --format json "$out" >"$tmp/read.json" 2>"$tmp/read.err"
check "shmlog-dump read --format json exits 0" test $? -eq 0
show_err "$tmp/read.err"
check_show "read: every record of every process within ${bound_ns} ns of [w0, w1], in true order" \
    check_times "$tmp/read.json" "${expects[@]}" --min 1000 --order

# ---- no collector: shmlog-dump ring on a skewed producer's segments ----
seg=$tmp/seg2
mkdir -p "$seg"
# 8 MiB rings (the default) hold the ~2000 records many times over.
SHMLOG_DIR=$seg SHMLOG_TEST_TSC_SKEW_PPM=1000 \
    "$producer" --app clkring --seconds 2 --interval-us 1000 --ring-bytes 8388608 \
    >"$tmp/producer-ring.out" 2>"$tmp/producer-ring.err" &
prod=$!
pids+=("$prod")
wait_for 10 grep -q ready "$tmp/producer-ring.out"
sleep 1.5
"$dump" ring --dir "$seg" --format json >"$tmp/ring-alive.json" 2>"$tmp/ring-alive.err"
alive_rc=$?
wait "$prod"
prod_rc=$?
n=$(done_count "$tmp/producer-ring.out")
echo "# producer clkring pid $prod (skew 1000 ppm): exit $prod_rc, $(tail -1 "$tmp/producer-ring.out")"
check "the ring producer ran and dropped nothing" test "$prod_rc" -eq 0 -a -n "$n"
check "shmlog-dump ring while the producer runs exits 0" test "$alive_rc" -eq 0
show_err "$tmp/ring-alive.err"
check_show "ring, live process: the records shown within ${bound_ns} ns of [w0, w1]" \
    check_times "$tmp/ring-alive.json" --min 500 --order
"$dump" ring --dir "$seg" --format json >"$tmp/ring-dead.json" 2>"$tmp/ring-dead.err"
check "shmlog-dump ring after the producer exited exits 0" test $? -eq 0
show_err "$tmp/ring-dead.err"
check_show "ring, exited process: every record within ${bound_ns} ns of [w0, w1]" \
    check_times "$tmp/ring-dead.json" --expect "$prod:${n:-0}" --min 1000 --order

# ---- steps of the wall clock: +0.5 s, then -0.5 s, under a producer and a collector ----
# The host's clock is set twice (meson runs this test alone): the collector
# learns of each set from the kernel and anchors at once, so only the records
# of the few milliseconds between a step and that anchor keep the old clock.
# Order is not checked here: a record of that window, on the old clock, holds
# back the records behind it in its ring's stream of the merge.
seg=$tmp/seg3
out=$tmp/out3
start_collector
SHMLOG_DIR=$seg "$producer" --app clkstep --seconds 8 --interval-us 1000 \
    >"$tmp/producer-step.out" 2>"$tmp/producer-step.err" &
prod=$!
pids+=("$prod")
wait_for 10 grep -q ready "$tmp/producer-step.out"
# +0.5 s once python runs, -0.5 s two seconds later: both within the producer's 8 s.
python3 "$(dirname "$0")/host_clock.py" step 0.5 2 -0.5
wait "$prod"
prod_rc=$?
n=$(done_count "$tmp/producer-step.out")
check "the producer under steps ran and dropped nothing" test "$prod_rc" -eq 0 -a -n "$n"
wait_for 10 dir_empty "$seg"
kill -TERM "$col"
wait "$col"
"$dump" read --format json "$out" >"$tmp/read-step.json" 2>"$tmp/read-step.err"
show_err "$tmp/read-step.err"
check_show "steps: every record within ${bound_ns} ns of [w0, w1] but those of 30 ms after each step" \
    check_times "$tmp/read-step.json" --expect "$prod:${n:-0}" --steps 2 --guard-ms 2:30
check_show "steps: every record within ${bound_ns} ns of [w0, w1] but those flagged time_uncertain" \
    check_times "$tmp/read-step.json" --expect "$prod:${n:-0}" --steps 2 --guard-ms 0:0 --flagged-ok
"$dump" stats "$out" >"$tmp/stats-step.txt" 2>&1
check "stats counts the two steps of the wall clock" grep -q ", 2 steps of the wall clock" "$tmp/stats-step.txt"

# ---- a step while the collector is stopped, and while none runs ----
# The collector cannot anchor a step it does not see as it happens: the
# records between its anchor before and its first after are flagged
# time_uncertain (they may be on either clock), and never interpolated over
# the step. Stopped: SIGSTOP, +5 s, SIGCONT 2 s later (its timerfd says a
# step came, not when). Restarted: the next collector's first anchor differs
# from the last one's in its offset from CLOCK_MONOTONIC. Each step is undone
# while a collector runs.
for how in stopped restarted; do
    seg=$tmp/seg-$how
    out=$tmp/out-$how
    start_collector
    SHMLOG_DIR=$seg "$producer" --app clk$how --seconds 8 --interval-us 1000 \
        >"$tmp/producer-$how.out" 2>"$tmp/producer-$how.err" &
    prod=$!
    pids+=("$prod")
    wait_for 10 grep -q ready "$tmp/producer-$how.out"
    sleep 1
    if [ $how = stopped ]; then
        kill -STOP "$col"
    else
        kill -TERM "$col"
        wait "$col"
    fi
    python3 "$(dirname "$0")/host_clock.py" step 5
    sleep 2
    if [ $how = stopped ]; then
        kill -CONT "$col"
    else
        start_collector
    fi
    sleep 1
    python3 "$(dirname "$0")/host_clock.py" step -5
    wait "$prod"
    prod_rc=$?
    n=$(done_count "$tmp/producer-$how.out")
    check "$how: the producer ran and dropped nothing" test "$prod_rc" -eq 0 -a -n "$n"
    wait_for 10 dir_empty "$seg"
    kill -TERM "$col"
    wait "$col"
    "$dump" read --format json "$out" >"$tmp/read-$how.json" 2>"$tmp/read-$how.err"
    show_err "$tmp/read-$how.err"
    check "$how: the records around the step no collector saw are flagged time_uncertain" \
        test "$(grep -c '"time_uncertain":true' "$tmp/read-$how.json")" -ge 1000
    check_show "$how: every record within ${bound_ns} ns of [w0, w1] but those flagged time_uncertain" \
        check_times "$tmp/read-$how.json" --expect "$prod:${n:-0}" --steps 2 --guard-ms 0:0 --flagged-ok
done

tap_done
