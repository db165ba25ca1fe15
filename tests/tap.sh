# tap.sh - what every shell test shares: TAP lines, checks, polling, the
# programs a test needs. Bash. Source it (". "$(dirname "$0")/tap.sh"") at the
# top of the test; check, check_show and tap_cleanup use $tmp, the test's
# scratch directory. End the test with tap_done (or tap_finish, which exits).
#
#   ok NAME / not_ok NAME / skip NAME REASON     one TAP line
#   check NAME CMD... / check_show NAME CMD...   the command's status decides
#   wait_for SECONDS CMD...                      polls until the command succeeds
#   diag FILE...                                 files as TAP comments
#   bail REASON                                  "Bail out!", exit 1
#   tap_require PACKAGE CMD...                   bails unless every CMD is installed
#   tap_done / tap_finish                        the plan and the summary; exit status

passed=0
failed=0
# Children to kill when the test ends, and its scratch directory to remove
# (kept with SHMLOG_TEST_KEEP=1): `trap tap_cleanup EXIT`.
pids=()
tap_cleanup() {
    for p in "${pids[@]}"; do
        kill -KILL "$p" 2>/dev/null
    done
    wait 2>/dev/null
    if [ -n "${SHMLOG_TEST_KEEP:-}" ]; then
        echo "# kept $tmp"
    else
        rm -rf "${tmp:?}"
    fi
}
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }
skipped=0
skip() { echo "ok - $1 # SKIP $2"; skipped=$((skipped + 1)); }
diag() { sed 's/^/# /' "$@"; }
bail() {
    echo "Bail out! $*"
    exit 1
}

# tap_require PACKAGE CMD...: the test needs these programs, which the Debian
# package PACKAGE has. Tests never install anything: tools/setup.sh does.
tap_require() {
    local package=$1 cmd
    shift
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 ||
            bail "$cmd is not installed (Debian package $package): run tools/setup.sh as root"
    done
}

# check NAME COMMAND...: the command's exit status decides; its output is
# shown (as TAP comments) when it fails.
check() {
    local name=$1
    shift
    if "$@" >"${tmp:?}/check.log" 2>&1; then
        ok "$name"
    else
        not_ok "$name"
        sed 's/^/#   /' "$tmp/check.log" | head -40
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
        not_ok "$name"
        sed 's/^/#   /' "$tmp/check.log" | head -40
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

tap_done() {
    echo "1..$((passed + failed + skipped))"
    echo "# $passed passed, $failed failed, $skipped skipped"
    [ "$failed" -eq 0 ]
}
tap_finish() {
    tap_done
    exit
}
