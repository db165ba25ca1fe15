#!/usr/bin/env bash
# Description: the installed systemd unit passes `systemd-analyze verify` (which catches broken copies of it), keeps its hardening, is Type=notify, bounds retention, starts the installed collector with a command line it accepts; its set-up steps (sysusers.d, then tmpfiles.d) fail the start when they fail and make the group shmlog, the segment directories and the log directory (2750 root:shmlog) with their modes; the sysctl.d snippet sets an existing key; shmlog-dump serve's unit keeps its hardening and passes verify with the live=1 drop-in its comment gives, whose command line serves a dead process's rings.
# usage: test_systemd.sh BUILD_DIR
# Works without a running systemd (a container): everything is checked offline.
set -u
build=$1
tmp=$(mktemp -d /tmp/shmlog-test-systemd-XXXXXX)
segs=$(mktemp -d /dev/shm/shmlog-test-systemd-XXXXXX)
trap 'rm -rf "$tmp" "$segs"' EXIT
root=$tmp/root
. "$(dirname "$0")/tap.sh"
# The value of key $2 in unit file $1 (the last one wins, as in systemd).
unit_value() {
    sed -n "s/^$2=//p" "$1" | tail -n 1
}

# Debian ships systemd-analyze with systemd; a minimal container may not have it.
tap_require systemd systemd-analyze

if ! meson install -C "$build" --no-rebuild --destdir "$root" >"$tmp/install.log" 2>&1; then
    sed 's/^/#   /' "$tmp/install.log"
    not_ok "meson install --destdir"
    tap_finish
fi
unit=$(find "$root" -name shmlog-collector.service -path '*/systemd/system/*' | head -n 1)
if [ -z "$unit" ]; then
    not_ok "shmlog-collector.service installed into a systemd/system directory"
    tap_finish
fi
ok "unit installed as ${unit#"$root"}"

# ---- the command lines name installed programs ----
exec_start=$(unit_value "$unit" ExecStart)
collector=${exec_start%% *}
if [ -x "$root$collector" ]; then
    ok "ExecStart runs the installed $collector"
else
    not_ok "ExecStart names $collector, which meson did not install"
fi

# ---- systemd-analyze verify ----
# verify needs the programs at the paths the unit names: a copy of the unit
# whose only change is that the collector path points into DESTDIR. The
# Documentation= man pages are looked up in DESTDIR too.
mkdir -p "$tmp/verify" "$tmp/broken"
verify_unit="$tmp/verify/shmlog-collector.service"
sed "s|$collector |$root$collector |" "$unit" >"$verify_unit"
mandir=$(dirname "$(dirname "$(find "$root" -name shmlog-collector.8 | head -n 1)")")
# verify prints nothing for a good unit and, for many mistakes (unknown keys,
# bad values), only a warning with exit status 0: any line about our unit fails.
verify() {
    MANPATH="$mandir:" systemd-analyze verify "$1" >"$tmp/verify.log" 2>&1
    rc=$?
    [ "$rc" -eq 0 ] && ! grep -q 'shmlog' "$tmp/verify.log"
}
if verify "$verify_unit"; then
    ok "systemd-analyze verify: no error, no warning"
else
    not_ok "systemd-analyze verify"
    sed 's/^/#   /' "$tmp/verify.log"
fi

# The check above must be able to fail: each broken copy is reported.
broken=0
for mutation in 's/^KillSignal=.*/KillSignal=SIGFOO/' 's/^Restart=.*/Restart=sometimes/' \
    's/^ProtectSystem=/ProtectSystm=/' 's/^TimeoutStopSec=.*/TimeoutStopSec=ninety/' \
    's/^\[Service\]/[Servic]/' "s|^ExecStart=[^ ]*|ExecStart=$root/nonexistent/shmlog-collector|"; do
    sed "$mutation" "$verify_unit" >"$tmp/broken/shmlog-collector.service"
    if verify "$tmp/broken/shmlog-collector.service"; then
        not_ok "systemd-analyze verify did not report a broken unit ($mutation)"
        broken=$((broken + 1))
    fi
done
[ "$broken" -eq 0 ] && ok "systemd-analyze verify reports each of 6 broken copies"

# ---- what the unit must keep ----
# unit_keeps PREFIX UNIT KEY=VALUE...: one result a setting, the unit's value said when it differs.
unit_keeps() {
    local prefix=$1 file=$2 setting key
    shift 2
    for setting in "$@"; do
        key=${setting%%=*}
        if [ "$(unit_value "$file" "$key")" = "${setting#*=}" ]; then
            ok "$prefix$setting"
        else
            not_ok "$prefix$key is '$(unit_value "$file" "$key")', expected '${setting#*=}'"
        fi
    done
}
unit_keeps "" "$unit" Type=notify KillSignal=SIGTERM Restart=on-failure LimitMEMLOCK=infinity \
    ProtectSystem=strict NoNewPrivileges=yes
stop=$(unit_value "$unit" TimeoutStopSec)
case $stop in
    [0-9]*) if [ "${stop%%[!0-9]*}" -ge 30 ]; then ok "TimeoutStopSec=$stop leaves time to drain"; else not_ok "TimeoutStopSec=$stop is short for a drain"; fi ;;
    *) not_ok "TimeoutStopSec missing or not in seconds: '$stop'" ;;
esac
rw=$(unit_value "$unit" ReadWritePaths)
case " $rw " in
    *"/dev/hugepages "*"/dev/shm "* | *"/dev/shm "*"/dev/hugepages "*) ok "ReadWritePaths=$rw" ;;
    *) not_ok "ReadWritePaths '$rw' lacks /dev/hugepages or /dev/shm" ;;
esac
if grep -q '^EnvironmentFile=-/etc/default/shmlog-collector$' "$unit" &&
    grep -q '^ExecStart=.*\$SHMLOG_COLLECTOR_OPTS' "$unit"; then
    ok "flags come from SHMLOG_COLLECTOR_OPTS in /etc/default/shmlog-collector"
else
    not_ok "EnvironmentFile=-/etc/default/shmlog-collector and \$SHMLOG_COLLECTOR_OPTS in ExecStart"
fi
# The hardening as a whole: systemd's own score, 0 (best) to 10.
if systemd-analyze security --offline=yes --threshold=30 "$verify_unit" >"$tmp/security.log" 2>&1; then
    ok "systemd-analyze security: $(grep -o 'exposure level.*' "$tmp/security.log")"
else
    not_ok "systemd-analyze security: exposure above 3.0"
    grep -v '✓' "$tmp/security.log" | sed 's/^/#   /'
fi

# Retention an operator can leave as it is: a bound on the files kept.
case " $exec_start " in
    *" --max-bytes 0 "* | *" --keep 0 "*) not_ok "ExecStart keeps every file: $exec_start" ;;
    *" --max-bytes "[1-9]* | *" --keep "[1-9]*) ok "ExecStart bounds retention: $(echo "$exec_start" | grep -o -- '--\(max-bytes\|keep\) [^ ]*')" ;;
    *) not_ok "ExecStart has no --max-bytes or --keep bound: $exec_start" ;;
esac
case " $exec_start " in
    *" --group shmlog "*) ok "ExecStart makes the output readable by the group shmlog" ;;
    *) not_ok "ExecStart lacks --group shmlog: $exec_start" ;;
esac

# ---- the ExecStart command line, as systemd runs it without an environment file ----
# Same flags; the output goes to a temporary directory; --once makes it return.
# The group shmlog is the installed host's (sysusers.d, checked below): here
# the test's own group stands in for it.
mkdir -p "$segs/segments"
args=$(echo "$exec_start" | sed -e "s|^$collector||" -e 's|\$SHMLOG_COLLECTOR_OPTS||' -e "s|/var/log/shmlog|$tmp/out|" \
    -e "s|--group shmlog|--group $(id -g)|")
# shellcheck disable=SC2086 # the unit's arguments, split as systemd splits them
if "$root$collector" $args --dir "$segs/segments" --once >"$tmp/run.log" 2>&1 && [ -d "$tmp/out" ]; then
    ok "the collector accepts the unit's command line (--once)"
else
    not_ok "the collector rejects the unit's command line:$args"
    sed 's/^/#   /' "$tmp/run.log"
fi
default_file=$(find "$root" -name shmlog-collector.default | head -n 1)
opts=$(sed -n 's/^#SHMLOG_COLLECTOR_OPTS="\(.*\)"$/\1/p' "$default_file" 2>/dev/null)
# The example in the installed default file, minus pinning (cpus vary).
opts=$(echo "$opts" | sed 's/--cpu [0-9,]*//')
# shellcheck disable=SC2086
if [ -n "$opts" ] && "$root$collector" $args $opts --dir "$segs/segments" --once >"$tmp/run.log" 2>&1; then
    ok "the collector accepts the example flags of shmlog-collector.default: $opts"
else
    not_ok "the example flags of shmlog-collector.default ('$opts')"
    sed 's/^/#   /' "$tmp/run.log"
fi

# ---- shmlog-dump serve's unit, and the drop-in its comment gives for the rings (live=1) ----
serve_unit=$(find "$root" -name shmlog-dump-serve.service -path '*/systemd/system/*' | head -n 1)
if [ -z "$serve_unit" ]; then
    skip "shmlog-dump-serve.service" "not installed (a build without libmicrohttpd)"
else
    serve_exec=$(unit_value "$serve_unit" ExecStart)
    dump=${serve_exec%% *}
    mkdir -p "$tmp/serve/shmlog-dump-serve.service.d"
    sed "s|^ExecStart=$dump |ExecStart=$root$dump |" "$serve_unit" >"$tmp/serve/shmlog-dump-serve.service"
    # The drop-in exactly as the unit's comment spells it, after its "live=1" line.
    live_exec=$(sed -n '/live=1/,/^\[Unit\]/s|^#   \(ExecStart=.*--dir .*\)$|\1|p' "$serve_unit" | head -n 1)
    live_bind=$(sed -n '/live=1/,/^\[Unit\]/s|^#   \(BindReadOnlyPaths=.*\)$|\1|p' "$serve_unit" | head -n 1)
    printf '[Service]\nExecStart=\n%s\n%s\n' "${live_exec/$dump /$root$dump }" "$live_bind" \
        >"$tmp/serve/shmlog-dump-serve.service.d/live.conf"
    if [ -n "$live_exec" ] && [ -n "$live_bind" ] && verify "$tmp/serve/shmlog-dump-serve.service"; then
        ok "serve's unit with the comment's live=1 drop-in: systemd-analyze verify, no error or warning"
    else
        not_ok "serve's unit with its live=1 drop-in ('$live_exec', '$live_bind')"
        sed 's/^/#   /' "$tmp/verify.log"
    fi
    printf '[Service]\nBindReadOnlyPathz=/dev/hugepages/shmlog\n' >"$tmp/serve/shmlog-dump-serve.service.d/typo.conf"
    if verify "$tmp/serve/shmlog-dump-serve.service"; then
        not_ok "systemd-analyze verify took a drop-in's misspelt key"
    else
        ok "systemd-analyze verify reads the drop-ins (a misspelt key in one is reported)"
    fi
    rm "$tmp/serve/shmlog-dump-serve.service.d/typo.conf"
    unit_keeps "serve: " "$serve_unit" DynamicUser=yes SupplementaryGroups=shmlog ProtectSystem=strict \
        ReadOnlyPaths=/var/log/shmlog PrivateDevices=yes NoNewPrivileges=yes
    if systemd-analyze security --offline=yes --threshold=30 "$tmp/serve/shmlog-dump-serve.service" >"$tmp/security.log" 2>&1; then
        ok "serve: systemd-analyze security with the drop-in: $(grep -o 'exposure level.*' "$tmp/security.log")"
    else
        not_ok "serve: systemd-analyze security: exposure above 3.0"
        grep -v '✓' "$tmp/security.log" | sed 's/^/#   /'
    fi
    # The drop-in's command line run for real, its two paths here and a free port: a dead process's
    # ring records (the segments it names) come back with live=1.
    mkdir -p "$tmp/serve/out" "$segs/live"
    SHMLOG_DIR=$segs/live "$build/examples/shmlog-sample" --app unitlive --count 20 >"$tmp/sample.log" 2>&1
    serve_args=$(echo "${live_exec#ExecStart=}" | sed -e "s|^$dump||" -e "s|/var/log/shmlog|$tmp/serve/out|" \
        -e "s|/dev/hugepages/shmlog|$segs/live|")
    # shellcheck disable=SC2086 # the drop-in's arguments, split as systemd splits them
    "$root$dump" $serve_args --listen 127.0.0.1:0 2>"$tmp/serve.log" &
    serve_pid=$!
    for _ in $(seq 100); do grep -q 'listening on' "$tmp/serve.log" && break; sleep 0.1; done
    port=$(sed -n 's|.*listening on http://[^ ]*:\([0-9]*\)/$|\1|p' "$tmp/serve.log")
    got=$(curl -sf "http://127.0.0.1:${port:-1}/api/query?live=1&app=unitlive" | grep -c '"app":"unitlive"')
    kill "$serve_pid" 2>/dev/null
    wait "$serve_pid" 2>/dev/null
    if [ "$got" = 21 ]; then
        ok "the drop-in's command line serves the rings: 21 records of a dead process with live=1"
    else
        not_ok "the drop-in's command line: $got records with live=1 (21 logged)"
        sed 's/^/#   /' "$tmp/serve.log" "$tmp/sample.log"
    fi
fi

# ---- sysusers.d, then tmpfiles.d: the unit's ExecStartPre lines, applied to DESTDIR ----
if grep -q '^ExecStartPre=[+@:!]*-' "$unit"; then
    not_ok "an ExecStartPre ignores its failure ('-'): $(grep '^ExecStartPre=' "$unit" | tr '\n' ' ')"
else
    ok "no ExecStartPre hides its failure behind '-'"
fi
sysusers_conf=$(find "$root" -name shmlog.conf -path '*/sysusers.d/*' | head -n 1)
tmpfiles_conf=$(find "$root" -name shmlog.conf -path '*/tmpfiles.d/*' | head -n 1)
if [ -z "$tmpfiles_conf" ] || [ -z "$sysusers_conf" ]; then
    not_ok "shmlog.conf installed into the sysusers.d and tmpfiles.d directories"
else
    mkdir -p "$root/etc"
    npre=0
    while read -r pre; do
        npre=$((npre + 1))
        # shellcheck disable=SC2086
        if $pre --root="$root" >"$tmp/pre.log" 2>&1; then
            ok "ExecStartPre $npre ($pre) applies its snippet"
        else
            not_ok "ExecStartPre $npre: $pre --root=DESTDIR"
            sed 's/^/#   /' "$tmp/pre.log"
        fi
    done < <(sed -n 's/^ExecStartPre=[-+@:!]*//p' "$unit")
    check "ExecStartPre runs sysusers.d, then tmpfiles.d" test "$npre" -eq 2 -a \
        "$(sed -n 's/^ExecStartPre=[-+@:!]*//p' "$unit" | grep -o 'systemd-[a-z]*' | tr '\n' ' ')" = \
        "systemd-sysusers systemd-tmpfiles "
    check "sysusers.d makes the group shmlog" grep -q '^shmlog:' "$root/etc/group"
    for want in "/dev/hugepages/shmlog 1777 root root" "/dev/shm/shmlog 1777 root root" \
        "/var/log/shmlog 2750 root shmlog"; do
        dir=${want%% *}
        have=$(stat -c '%a %U' "$root$dir" 2>/dev/null)
        # --root gave the directory a gid from DESTDIR's /etc/group, not the host's
        gid=$(stat -c %g "$root$dir" 2>/dev/null)
        group=$(awk -F: -v gid="$gid" '$3 == gid { print $1; exit }' "$root/etc/group")
        [ -n "$group" ] || group=$(getent group "$gid" | cut -d: -f1)
        if [ "$have $group" = "${want#* }" ]; then
            ok "tmpfiles.d makes $dir ${want#* }"
        else
            not_ok "$dir: '$have $group', expected '${want#* }'"
        fi
    done
fi

# ---- sysctl.d ----
sysctl_conf=$(find "$root" -name '*shmlog.conf' -path '*/sysctl.d/*' | head -n 1)
if [ -z "$sysctl_conf" ]; then
    not_ok "a shmlog sysctl.d snippet installed"
else
    bad=$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$sysctl_conf" |
        grep -v -E '^[a-z0-9_.]+ *= *[0-9]+$')
    pages=$(sed -n 's/^vm\.nr_hugepages *= *\([0-9]*\)$/\1/p' "$sysctl_conf")
    if [ -z "$bad" ] && [ -n "$pages" ] && [ "$pages" -gt 0 ]; then
        ok "${sysctl_conf#"$root"}: vm.nr_hugepages = $pages"
    else
        not_ok "${sysctl_conf#"$root"}: lines not 'key = number': $bad; nr_hugepages '$pages'"
    fi
    for key in $(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$sysctl_conf" | sed 's/ *=.*//'); do
        if [ -e "/proc/sys/$(echo "$key" | tr . /)" ]; then
            ok "sysctl key $key exists"
        else
            not_ok "sysctl key $key does not exist in /proc/sys"
        fi
    done
fi

tap_finish
