# tap.sh - what the shell tests share: TAP lines, checks, polling. Source it
# once $tmp names the test's scratch directory; end the test with tap_done.

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
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
