#!/bin/bash
# Description: shmlog-dump shows times in UTC without TZ (the corpus's checked-in output, byte for byte) and with --utc, and in TZ's local time with its offset otherwise (text and JSON, ts_ns unchanged, the offset switching at the exact second of a DST transition); each --since/--until form (with and without a zone, a date alone, a clock time today, relative to now, Unix time) selects exactly the records at or after (before) the time it names, and a value that is none of them is one usage error listing the forms.
# usage: test_dump_time.sh CORPUS_DIR (meson test sets SHMLOG_DUMP, COLLECTOR, SHMLOG_SAMPLE)
set -u
corpus=$1
tmp=$(mktemp -d /tmp/shmlog-test-dump-time-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR SHMLOG_SAMPLE
unset TZ

# ---- UTC and local time, on a corpus file ----
file=$corpus/v2-clock/processes.shlog
want_txt=$corpus/v2-clock/processes.read.txt
want_json=$corpus/v2-clock/processes.read.json
(cd "$(dirname "$file")" && "$SHMLOG_DUMP" read processes.shlog) >"$tmp/utc.txt"
check "without TZ: read prints the checked-in UTC output" cmp "$want_txt" "$tmp/utc.txt"
(cd "$(dirname "$file")" && TZ=Europe/Paris "$SHMLOG_DUMP" read --utc processes.shlog) >"$tmp/utc2.txt"
check "TZ=Europe/Paris with --utc: the same UTC output" cmp "$want_txt" "$tmp/utc2.txt"
(cd "$(dirname "$file")" && TZ=Europe/Paris "$SHMLOG_DUMP" read processes.shlog) >"$tmp/paris.txt"
(cd "$(dirname "$file")" && TZ=Europe/Paris "$SHMLOG_DUMP" read --format json processes.shlog) >"$tmp/paris.json"
(cd "$(dirname "$file")" && TZ=America/New_York "$SHMLOG_DUMP" read --format json processes.shlog) >"$tmp/ny.json"
head -n 2 "$tmp/paris.txt" | diag /dev/stdin
# Each line is the UTC line with its time moved into the zone, the rest the same.
cat >"$tmp/zone.py" <<'EOF'
import json, sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

def local(ts_ns, zone):
    """RFC 3339 with nanoseconds and the zone's offset, from python's zoneinfo."""
    t = datetime.fromtimestamp(ts_ns // 10**9, timezone.utc).astimezone(ZoneInfo(zone))
    off = t.utcoffset().total_seconds() // 60
    sign = "-" if off < 0 else "+"
    off = abs(int(off))
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%09d%s%02d:%02d" % (ts_ns % 10**9, sign, off // 60, off % 60)
EOF
check "TZ=Europe/Paris: every text line is the UTC line at +01:00, the rest unchanged" python3 -c "
import json, sys
sys.path.insert(0, '$tmp')
from zone import local
want = [json.loads(l) for l in open('$want_json')]
utc = open('$want_txt').read().splitlines()
got = open('$tmp/paris.txt').read().splitlines()
assert len(got) == len(utc) == len(want), (len(got), len(utc))
for w, u, g in zip(want, utc, got):
    t = local(w['ts_ns'], 'Europe/Paris')
    assert t.endswith('+01:00'), t
    assert g == t + u[len(w['time']):], (g, u)
"
for zone in Europe/Paris America/New_York; do
    f=$tmp/paris.json
    [ $zone = America/New_York ] && f=$tmp/ny.json
    check "TZ=$zone: JSON 'time' in the zone with its offset; ts_ns and every other key unchanged" python3 -c "
import json, sys
sys.path.insert(0, '$tmp')
from zone import local
want = [json.loads(l) for l in open('$want_json')]
got = [json.loads(l) for l in open('$f')]
assert len(got) == len(want)
for w, g in zip(want, got):
    assert g['time'] == local(w['ts_ns'], '$zone'), (g['time'], w['ts_ns'])
    g['time'] = w['time']
    assert g == w, (g, w)
"
done

# ---- live records: a DST transition, and the --since/--until forms ----
seg=$tmp/seg
out=$tmp/out
mkdir -p "$seg"
collector_start "$tmp/collector.log" --dir "$seg" --out "$out" --max-delay-ms 20
# 3000 calls at 1000/s: records over three seconds or more.
SHMLOG_DIR=$seg "$SHMLOG_SAMPLE" --app timed --count 3000 --threads 1 --rate 1000 >"$tmp/sample.out" 2>&1
check "the producer dropped nothing" grep -q ' 0 dropped' "$tmp/sample.out"
check "the collector removes the segments after the exit marker" segments_gone "$seg"
check "the collector exits 0 on SIGTERM" collector_stop
"$SHMLOG_DUMP" read --format json "$out" >"$tmp/all.json"
check "read the live file" test -s "$tmp/all.json"

# A POSIX TZ whose summer time (+01:00) starts at the second of the middle record:
# "n" rules count days from 0 (tm_yday) at a local (here UTC) time of day.
read -r dst_tz dst_sec <<<"$(python3 -c "
import json
from datetime import datetime, timezone
ts = [json.loads(l)['ts_ns'] for l in open('$tmp/all.json')]
mid = sorted(ts)[len(ts) // 2] // 10**9
t = datetime.fromtimestamp(mid, timezone.utc)
yday = t.timetuple().tm_yday - 1
print('AAA0BBB-1,%d/%s,%d/00:00:00' % (yday, t.strftime('%H:%M:%S'), (yday + 180) % 365), mid)
")"
TZ=$dst_tz "$SHMLOG_DUMP" read --format json "$out" >"$tmp/dst.json"
TZ=$dst_tz "$SHMLOG_DUMP" read "$out" >"$tmp/dst.txt"
check "TZ=$dst_tz: +00:00 before the transition second, +01:00 from it, text and JSON alike" python3 -c "
import json
from datetime import datetime, timezone, timedelta
got = [json.loads(l) for l in open('$tmp/dst.json')]
txt = open('$tmp/dst.txt').read().splitlines()
assert len(got) == len(txt)
before = after = 0
for g, t in zip(got, txt):
    s = g['ts_ns'] // 10**9
    off = 1 if s >= $dst_sec else 0
    before += not off
    after += off
    want = datetime.fromtimestamp(s, timezone.utc) + timedelta(hours=off)
    want = want.strftime('%Y-%m-%dT%H:%M:%S') + '.%09d+0%d:00' % (g['ts_ns'] % 10**9, off)
    assert g['time'] == want, (g['time'], want)
    assert t.startswith(want + ' '), (t, want)
assert before and after, (before, after)
print(before, 'records before,', after, 'from the transition')
"

# count_since FILTER...: lines (records and markers) read --format json prints with the filters.
count_with() {
    "$SHMLOG_DUMP" read --format json "$out" "$@" 2>"$tmp/count.err" | wc -l
}
# expect_count WHAT WANT FILTER...: the filter selects WANT lines.
expect_count() {
    local what=$1 want=$2 got
    shift 2
    got=$(count_with "$@")
    if [ "$got" = "$want" ] && [ ! -s "$tmp/count.err" ]; then
        ok "$what ($* -> $want)"
    else
        not_ok "$what ($*): $got lines, expected $want"
        diag "$tmp/count.err"
    fi
}
# Boundaries at a record's exact nanosecond, in each form, and how many
# lines are at or after each (python's zoneinfo converts, not shmlog's code).
python3 - "$tmp/all.json" >"$tmp/forms" <<'EOF'
import json, sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
ts = sorted(json.loads(l)["ts_ns"] for l in open(sys.argv[1]))
b = ts[len(ts) // 3]
since = sum(t >= b for t in ts)
sec, frac = divmod(b, 10**9)
paris = datetime.fromtimestamp(sec, timezone.utc).astimezone(ZoneInfo("Europe/Paris"))
utc = datetime.fromtimestamp(sec, timezone.utc)
off = paris.utcoffset().total_seconds() // 60
zone = "%s%02d:%02d" % ("-" if off < 0 else "+", abs(off) // 60, abs(off) % 60)
minute = int(paris.replace(second=0).timestamp()) * 10**9
midnight = int(paris.replace(hour=0, minute=0, second=0).timestamp()) * 10**9
print("local_full", paris.strftime("%Y-%m-%dT%H:%M:%S") + ".%09d" % frac, since, sep="|")
print("utc_z", utc.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % frac, since, sep="|")
print("offset", utc.strftime("%Y-%m-%d %H:%M:%S") + ".%09d+00:00" % frac, since, sep="|")
print("local_offset", paris.strftime("%Y-%m-%dT%H:%M:%S") + ".%09d%s" % (frac, zone), since, sep="|")
print("clock_today", paris.strftime("%H:%M:%S") + ".%09d" % frac, since, sep="|")
print("clock_minute", paris.strftime("%H:%M"), sum(t >= minute for t in ts), sep="|")
print("date_only", paris.strftime("%Y-%m-%d"), sum(t >= midnight for t in ts), sep="|")
print("utc_clock_today", utc.strftime("%H:%M:%S") + ".%09d" % frac, since, sep="|")
print("unix_frac", "%d.%09d" % (sec, frac), since, sep="|")
print("unix_ns", "%d" % b, since, sep="|")
print("total", "-", len(ts), sep="|")
EOF
form() { sed -n "s/^$1|//p" "$tmp/forms" | cut -d'|' -f1; }
want() { sed -n "s/^$1|//p" "$tmp/forms" | cut -d'|' -f2; }
total=$(want total)
export TZ=Europe/Paris
for f in local_full utc_z offset local_offset clock_today clock_minute date_only unix_frac unix_ns; do
    expect_count "TZ=Europe/Paris --since, $f form" "$(want $f)" --since "$(form $f)"
    expect_count "TZ=Europe/Paris --until, $f form" "$((total - $(want $f)))" --until "$(form $f)"
done
expect_count "--utc: a clock time without a zone is UTC's" "$(want utc_clock_today)" --utc --since "$(form utc_clock_today)"
unset TZ
expect_count "without TZ: a date and time without a zone is UTC's" "$(want utc_z)" --since "$(form utc_z | tr -d Z)"
expect_count "without TZ: a clock time today is UTC's" "$(want utc_clock_today)" --since "$(form utc_clock_today)"

# Relative times: whatever the dump's speed, the boundary lies between
# "now" taken before and after it ran, minus the interval.
for rel in 2s 5m 2h 1d; do
    t0=$(date +%s%N)
    "$SHMLOG_DUMP" read --format json "$out" --since "-$rel" >"$tmp/rel.json" 2>"$tmp/rel.err"
    t1=$(date +%s%N)
    check "--since -$rel: every line from (now - $rel), none before" python3 -c "
import json
unit = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400}['$rel'[-1]] * int('$rel'[:-1]) * 10**9
every = [json.loads(l)['ts_ns'] for l in open('$tmp/all.json')]
got = [json.loads(l)['ts_ns'] for l in open('$tmp/rel.json')]
assert all(t >= $t0 - unit for t in got), 'a line before the boundary'
assert sum(t >= $t1 - unit for t in every) <= len(got), 'a line after the boundary is missing'
assert open('$tmp/rel.err').read() == ''
print(len(got), 'of', len(every))
"
done
expect_count "--until -1d: nothing written today is before a day ago" 0 --until -1d
expect_count "--since -1d: everything" "$total" --since -1d

# ---- refused values: one line, exit 2, the accepted forms named ----
for bad in 25:00 2026-13-01 -5x yesterday 2026-11-23T03 12:3 -m; do
    "$SHMLOG_DUMP" read "$out" --since "$bad" >/dev/null 2>"$tmp/bad.err"
    status=$?
    if [ $status -eq 2 ] && [ "$(wc -l <"$tmp/bad.err")" -eq 1 ] && grep -q -- "-5m" "$tmp/bad.err" &&
        grep -q "03:31" "$tmp/bad.err"; then
        ok "--since '$bad' is refused with the accepted forms"
    else
        not_ok "--since '$bad': exit $status"
        diag "$tmp/bad.err"
    fi
done
diag "$tmp/bad.err"

tap_done
