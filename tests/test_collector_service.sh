#!/bin/bash
# Description: shmlog-collector as a service: it sends READY=1 on $NOTIFY_SOCKET (a path or an abstract name) once it drains, and STOPPING=1 on SIGTERM; with --group G its output directory is group G, set-group-ID and g+rx, and every file it writes is mode 0640 in group G even under umask 077; an unknown group is one usage error.
# usage: test_collector_service.sh (meson test sets COLLECTOR, TEST_PRODUCER, SHMLOG_DUMP)
set -u
tmp=$(mktemp -d /tmp/shmlog-test-collector-service-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs COLLECTOR TEST_PRODUCER SHMLOG_DUMP
collector_dirs

# ---- readiness: a socket this test binds, as systemd does ----
cat >"$tmp/notify.py" <<'PY'
import os, socket, subprocess, sys
sock_name, out, collector, seg = sys.argv[1:5]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sock_name.replace("@", "\0", 1) if sock_name.startswith("@") else sock_name)
s.settimeout(20)
env = dict(os.environ, NOTIFY_SOCKET=sock_name)
c = subprocess.Popen([collector, "--dir", seg, "--out", out], env=env, stderr=subprocess.DEVNULL)
ready = s.recv(4096).decode()
# READY=1 comes once the loop drains: the output directory is there by then.
print("got", ready, "out exists:", os.path.isdir(out))
c.terminate()
stopping = s.recv(4096).decode()
print("got", stopping, "exit", c.wait())
sys.exit(0 if ready == "READY=1" and stopping == "STOPPING=1" and os.path.isdir(out) and c.returncode == 0 else 1)
PY
check_show "READY=1 on a NOTIFY_SOCKET path once draining, STOPPING=1 on SIGTERM, exit 0" \
    python3 "$tmp/notify.py" "$tmp/notify.sock" "$tmp/out-notify" "$COLLECTOR" "$seg"
check_show "the same on an abstract NOTIFY_SOCKET (@name)" \
    python3 "$tmp/notify.py" "@shmlog-test-notify-$$" "$tmp/out-notify2" "$COLLECTOR" "$seg"
"$COLLECTOR" --dir "$seg" --out "$tmp/out-none" --once >"$tmp/none.log" 2>&1
check "without NOTIFY_SOCKET nothing is said about it" test $? -eq 0 -a -z "$(grep NOTIFY "$tmp/none.log")"

# ---- --group: output readable by a group ----
group=
for g in daemon nogroup users; do
    getent group "$g" >/dev/null && group=$g && break
done
[ -n "$group" ] || bail "no group daemon, nogroup or users on this host"
gid=$(getent group "$group" | cut -d: -f3)
out=$tmp/out-group
umask_before=$(umask)
umask 077
collector_start "$tmp/collector.log" --dir "$seg" --out "$out" --group "$group" --max-delay-ms 20
umask "$umask_before"
# Two producers with a rotation (SIGHUP) between them: files made both ways.
"$TEST_PRODUCER" --threads 1 --count 2000 >"$tmp/producer.out"
segments_gone "$seg"
kill -HUP "$col"
sleep 0.3
"$TEST_PRODUCER" --threads 1 --count 2000 >>"$tmp/producer.out"
check "the producers dropped nothing" test "$(grep -c '^done 0$' "$tmp/producer.out")" -eq 2
check "the collector removes the segments after the exit markers" segments_gone "$seg"
check "the collector exits 0" collector_stop
check "--group: the directory is $group, set-group-ID, 2750" test "$(stat -c '%a %g' "$out")" = "2750 $gid"
files=$(ls "$out"/*.shlog | wc -l)
wrong=$(find "$out" -type f \( ! -perm 0640 -o ! -gid "$gid" \) | wc -l)
check "--group: every file ($files, rotated) is 0640 in group $group under umask 077" test "$files" -ge 2 -a "$wrong" -eq 0
ls -ln "$out" | head -4 | diag /dev/stdin
check "the files read back whole" "$SHMLOG_DUMP" verify "$out"
"$COLLECTOR" --dir "$seg" --out "$tmp/out-bad" --group no-such-group-$$ --once >/dev/null 2>"$tmp/bad.err"
check "--group of an unknown group: exit 2, one line" test $? -eq 2 -a "$(wc -l <"$tmp/bad.err")" -eq 1
diag "$tmp/bad.err"

# ---- rotation's fsync is never the drain thread's ----
# The drain loop is the collector's main thread (its tid is its pid); a file
# closed at rotation is synced by the writer through io_uring. strace -f
# attaches to every thread and records each fsync-like call with its tid.
out=$tmp/out-sync
collector_start "$tmp/collector-sync.log" --dir "$seg" --out "$out" --rotate-size 64k --max-delay-ms 5
strace -f -qq -p "$col" -o "$tmp/sync.strace" -e trace=fsync,fdatasync,sync_file_range,syncfs,io_uring_enter &
tracer=$!
pids+=("$tracer")
wait_for 10 traced "$col" || bail "strace did not attach to every thread of the collector"
"$TEST_PRODUCER" --threads 2 --count 200000 --long-every 3 >"$tmp/producer-sync.out"
segments_gone "$seg"
kill -HUP "$col"
sleep 0.3
check "the collector exits 0 (rotations by size and SIGHUP, --fsync rotate)" collector_stop
wait "$tracer" 2>/dev/null
files=$(ls "$out"/*.shlog | wc -l)
check "the files rotated ($files of them)" test "$files" -ge 3
check "strace saw the drain thread (its io_uring_enter calls)" grep -Eq "^$col +io_uring_enter" "$tmp/sync.strace"
check_show "the drain thread made no fsync-like call" sh -c "! grep -E '^$col +(fsync|fdatasync|sync_file_range|syncfs)\(' '$tmp/sync.strace'"
check "the files read back whole" "$SHMLOG_DUMP" verify "$out"

tap_done
