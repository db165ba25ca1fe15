# tap.sh - what every shell test shares: TAP lines, checks, polling, the
# programs a test needs. Bash. Source it (". "$(dirname "$0")/tap.sh"") at the
# top of the test; check, check_show and tap_cleanup use $tmp, the test's
# scratch directory. End the test with tap_done (or tap_finish, which exits).
#
#   ok NAME / not_ok NAME / skip NAME REASON     one TAP line
#   check NAME CMD... / check_show NAME CMD...   the command's status decides
#   wait_for SECONDS CMD...                      polls until the command succeeds
#   wait_growing STALL MAX FILE CMD...           polls until the command succeeds, while FILE
#                                                grows (STALL seconds without, MAX in all)
#   diag FILE...                                 files as TAP comments
#   bail REASON                                  "Bail out!", exit 1
#   tap_require PACKAGE CMD...                   bails unless every CMD is installed
#   tap_programs NAME...                         the project's programs the test runs: bails
#                                                unless each environment variable names one
#   tap_kafka_cluster KAFKA_DEV N                N brokers on loopback for the test; $bootstrap
#   collector_start LOG ARGS...                  $COLLECTOR ARGS... in the background, once it
#                                                said READY=1; $col is its pid
#   collector_stop [SIGNAL]                      SIGNAL (TERM) to $col; its exit status
#   segments_gone DIR [SECONDS]                  waits until the collector removed the segments
#   traced PID                                   every thread of PID has a tracer (strace -f -p attached)
#   tap_done / tap_finish                        the plan and the summary; exit status

passed=0
failed=0
# Children to kill when the test ends, and its scratch directory to remove
# (kept with SHMLOG_TEST_KEEP=1): `trap tap_cleanup EXIT`.
pids=()
tap_cleanup() {
    for p in "${pids[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
    wait 2>/dev/null
    if [ -n "${SHMLOG_TEST_KEEP:-}" ]; then
        echo "# kept $tmp"
    else
        rm -rf "${tmp:?}"
    fi
}
# tap_forget PID: a child the test waited for leaves pids (its pid may be
# another process's by the end).
tap_forget() {
    local p kept=()
    for p in "${pids[@]}"; do
        [ "$p" = "$1" ] || kept+=("$p")
    done
    pids=("${kept[@]}")
}
ok() { echo "ok - $1"; passed=$((passed + 1)); }
# A failure's line and details go to stderr too: meson test --print-errorlogs (the CI's
# log) shows a TAP test's stderr, not its stdout. (Not tee /dev/stderr: it reopens a
# file stderr and truncates it.)
tap_say() {
    printf '%s\n' "$1"
    printf '%s\n' "$1" >&2
}
not_ok() {
    tap_say "not ok - $1"
    failed=$((failed + 1))
}
skipped=0
skip() { echo "ok - $1 # SKIP $2"; skipped=$((skipped + 1)); }
diag() {
    local text
    text=$(sed 's/^/# /' "$@") || true
    [ -z "$text" ] || tap_say "$text"
}
bail() {
    tap_say "Bail out! $*"
    exit 1
}

# tap_require PACKAGE CMD...: the test needs these programs, which the Debian
# package PACKAGE has. Tests never install anything: scripts/setup.sh does.
tap_require() {
    local package=$1 cmd
    shift
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 ||
            bail "$cmd is not installed (Debian package $package): run scripts/setup.sh as root"
    done
}

# tap_kafka_cluster KAFKA_DEV N: N brokers on loopback (scripts/kafka-dev.sh), stopped when the test
# ends; $bootstrap names them.
tap_kafka_cluster() {
    kafka_dev=$1
    trap '"$kafka_dev" stop >/dev/null 2>&1; tap_cleanup' EXIT
    tap_require openjdk-17-jre-headless java
    "$kafka_dev" start "$2" >"$tmp/kafka-start.log" 2>&1 || { diag "$tmp/kafka-start.log"; bail "the cluster did not start"; }
    bootstrap=$(tail -n 1 "$tmp/kafka-start.log")
    ok "$2 brokers on loopback: $bootstrap"
}

# check_failed NAME: not_ok, and the check's output as TAP comments, on stderr too
# (written, not reopened: `tee /dev/stderr` would truncate a stderr that is a file).
check_failed() {
    not_ok "$1"
    local shown
    shown=$(sed 's/^/#   /' "$tmp/check.log" | head -40)
    [ -n "$shown" ] || return 0
    printf '%s\n' "$shown"
    printf '%s\n' "$shown" >&2
}

# check NAME COMMAND...: the command's exit status decides; its output is
# shown (as TAP comments) when it fails.
check() {
    local name=$1
    shift
    if "$@" >"${tmp:?}/check.log" 2>&1; then
        ok "$name"
    else
        check_failed "$name"
    fi
}

# check_show NAME COMMAND...: the same, showing the output when it passes too
# (a measurement worth reading in the log).
check_show() {
    local name=$1
    shift
    if "$@" >"${tmp:?}/check.log" 2>&1; then
        ok "$name"
        sed 's/^/#   /' "$tmp/check.log" | head -20
    else
        check_failed "$name"
    fi
}

# wait_for SECONDS COMMAND...: polls until the command succeeds.
wait_for() {
    local tries=$(($1 * 20))
    shift
    for _ in $(seq "$tries"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}

# wait_growing STALL MAX FILE COMMAND...: polls until the command succeeds, as long as FILE (what a
# process writes on its way there) grew within the last STALL seconds, and MAX seconds in all: a
# slow writer (ASan on a loaded machine) is waited for, a stuck one is not.
wait_growing() {
    local stall=$1 max=$2 file=$3 size last=-1 since=$SECONDS start=$SECONDS
    shift 3
    while [ $((SECONDS - start)) -lt "$max" ]; do
        "$@" >/dev/null 2>&1 && return 0
        size=$(stat -c %s "$file" 2>/dev/null || echo 0)
        [ "$size" = "$last" ] || since=$SECONDS
        last=$size
        [ $((SECONDS - since)) -lt "$stall" ] || return 1
        sleep 0.2
    done
    return 1
}

# tap_programs NAME...: the programs of the project this test runs, passed the
# one way every test takes them: meson test sets COLLECTOR, SHMLOG_DUMP,
# SHMLOG_SAMPLE, TEST_PRODUCER, ... to their paths in the build (test_programs_env
# in tests/meson.build; the C tests read the same names).
tap_programs() {
    local name
    for name in "$@"; do
        [ -x "${!name:-}" ] || bail "$name does not name a program (${!name:-unset}): run through meson test"
    done
}

# collector_dirs: $seg and $out under $tmp; $seg made and exported as SHMLOG_DIR, so that the
# producers the test starts make their segments there ($out is the collector's to make).
collector_dirs() {
    seg=${tmp:?}/seg out=$tmp/out
    mkdir -p "$seg"
    export SHMLOG_DIR=$seg
}

# collector_start LOG ARGS...: starts $COLLECTOR ARGS... (stdout and stderr in
# LOG) and returns once it drains: when it sends READY=1 on a $NOTIFY_SOCKET of
# the test's own, as it tells a service manager. $col is its pid (in pids, so
# tap_cleanup ends it). Bails, with LOG, when it exits or stays silent instead.
collector_start() {
    local log=$1 sock listener
    shift
    sock=$(mktemp -u "${tmp:?}/notify-XXXXXX")
    python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(60)
while b"READY=1" not in s.recv(4096).split(b"\n"):
    pass
open(sys.argv[1] + ".ready", "w").close()
' "$sock" &
    listener=$!
    wait_for 10 test -S "$sock" || bail "collector_start: no socket at $sock to hear READY=1 on"
    NOTIFY_SOCKET=$sock "${COLLECTOR:?}" "$@" >"$log" 2>&1 &
    col=$!
    pids+=("$col")
    while [ ! -e "$sock.ready" ] && kill -0 "$col" 2>/dev/null && kill -0 "$listener" 2>/dev/null; do
        sleep 0.01
    done
    if [ -e "$sock.ready" ]; then
        wait "$listener"
        rm -f "$sock" "$sock.ready"
        return 0
    fi
    kill "$listener" 2>/dev/null || true
    diag "$log"
    bail "the collector ($COLLECTOR $*) did not say READY=1 (its output above)"
}

# collector_stop [SIGNAL]: SIGNAL (TERM) to the collector collector_start
# started, and its exit status once it is gone.
collector_stop() {
    local status
    kill -"${1:-TERM}" "$col"
    wait "$col"
    status=$?
    tap_forget "$col"
    return $status
}

# serve_start ARGS...: shmlog-dump serve ARGS... in the background (under $SERVE_AS if set), its stderr
# in $tmp/serve.log; $srv, and $port once it listens.
serve_start() {
    : >"$tmp/serve.log"
    ${SERVE_AS:-} "${SHMLOG_DUMP:?}" serve "$@" 2>"$tmp/serve.log" &
    srv=$!
    pids+=("$srv")
    wait_for 10 grep -q 'listening on' "$tmp/serve.log" || { diag "$tmp/serve.log"; bail "serve did not start"; }
    port=$(sed -n 's|.*listening on https\{0,1\}://[^ ]*:\([0-9]*\)/$|\1|p' "$tmp/serve.log")
}

# serve_stop: SIGTERM to the server serve_start started; checks that it
# exits 0 and that its stderr holds no sanitizer finding.
serve_stop() {
    kill "$srv"
    wait "$srv"
    check "serve exits 0 on SIGTERM" test $? -eq 0
    tap_forget "$srv"
    check "serve said no sanitizer finding" eval '! grep -qE "Sanitizer|runtime error" "$tmp/serve.log"'
}

# segments_gone DIR [SECONDS]: waits (10 s) until DIR is empty, the collector
# having removed the segments of the producers that exited; 1 if it is not.
dir_empty() { [ -z "$(ls -A "$1")" ]; }
segments_gone() {
    wait_for "${2:-10}" dir_empty "$1"
}

# traced PID: every thread of PID has a tracer (an strace -f -p PID started in the background attached).
traced() { ! grep -q '^TracerPid:[[:space:]]*0$' /proc/"$1"/task/*/status; }

tap_done() {
    echo "1..$((passed + failed + skipped))"
    echo "# $passed passed, $failed failed, $skipped skipped"
    [ "$failed" -eq 0 ]
}
tap_finish() {
    tap_done
    exit
}
