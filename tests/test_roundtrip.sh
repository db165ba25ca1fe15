#!/usr/bin/env bash
# Description: invariant 11 through the real pipeline: generated producers of random call sites (every
# argument type the header takes, in C and C++; 0 to 32 arguments (SHMLOG_MAX_ARGS); strings at and around every slot
# boundary and the payload bound; %.*s, std::string_view, .c_str() of a temporary; C strings whose NUL is 0 to
# 63 bytes before a PROT_NONE guard page and %.*s buffers and views without a NUL that end at one, each of every
# length to past the bound, so a byte read past them in that page kills the producer), built with
# -O2 -Wall -Wextra -Werror, run pinned to one cpu, drained by shmlog-collector --once; every call is a
# record in `shmlog-dump ring`, `shmlog-dump read` and libshmlog-read, each as libc's snprintf renders
# the same call (a record marked truncated: of the documented cut), with no loss and no damage. LANG fmt:
# {} formats of every spec fmt takes over the scalar, string, chrono and SHMLOG_ENUM types
# (tests/roundtrip_fmt_gen.py), each record as fmt::format (libfmt) renders the same call.
# usage: test_roundtrip.sh INCLUDE_DIR SITES:SEED:LANG[:CC]... (meson test sets SHMLOG_DUMP, COLLECTOR,
#   ROUNDTRIP_READ)
#   INCLUDE_DIR holds shmlog.h; each run: SITES call sites from SEED, LANG c, cxx or fmt, compiled with CC
#   (default gcc / g++). SHMLOG_TEST_KEEP=1 keeps the work directory; ROUNDTRIP_CFLAGS replaces the flags.
set -u
inc=$1
shift
src=$(cd "$(dirname "$0")" && pwd)
. "$src/tap.sh"
tmp=$(mktemp -d /tmp/shmlog-roundtrip-XXXXXX)
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR ROUNDTRIP_READ
cpu=$(python3 -c 'import os; print(min(os.sched_getaffinity(0)))')
warn=${ROUNDTRIP_CFLAGS:--O2 -Wall -Wextra -Werror}

one() { # sites seed lang cc
    local sites=$1 seed=$2 lang=$3 cc=$4 dir="$tmp/$2-$3-$4" ext=c std=-std=gnu11 flags=$warn libs= oracle=snprintf
    local gen=("$src/roundtrip_gen.py" "$inc/shmlog.h" "$seed" "$sites" "$lang" "$dir/src" 2)
    [ "$lang" = cxx ] && ext=cpp std=-std=c++17
    if [ "$lang" = fmt ]; then # {} formats against libfmt; -O1: the calls' code is not what is tested
        ext=cpp std=-std=c++17 libs=-lfmt oracle=fmt::format
        flags=${ROUNDTRIP_CFLAGS:--O1 -Wall -Wextra -Wpedantic -Wconversion -Wold-style-cast -Werror}
        gen=("$src/roundtrip_fmt_gen.py" "$inc/shmlog.h" "$seed" "$sites" "$dir/src" 2)
    fi
    mkdir -p "$dir/seg" "$dir/out"
    if ! python3 "${gen[@]}" >"$dir/log" 2>&1; then
        not_ok "seed $seed $lang: the generator failed"
        diag "$dir/log"
        return
    fi
    # the parts in parallel: the machine has two cores
    local objs=() builds=() f
    for f in "$dir"/src/*."$ext"; do
        "$cc" $std $flags -I"$inc" -c "$f" -o "$f.o" >"$f.log" 2>&1 &
        builds+=($!)
        objs+=("$f.o")
    done
    local broken=0
    for p in "${builds[@]}"; do wait "$p" || broken=1; done
    if [ $broken = 1 ] || ! "$cc" "${objs[@]}" -o "$dir/prog" $libs -lnuma -lpthread >"$dir/log" 2>&1; then
        not_ok "seed $seed $lang $cc: the generated producer does not build warning-free at $flags"
        cat "$dir"/src/*.log "$dir/log" | head -n 30 | sed 's/^/#   /'
        return
    fi
    # TZ: fmt 9 writes a time point in the local zone, the readers in UTC
    if ! TZ=UTC SHMLOG_DIR="$dir/seg" "$dir/prog" "$dir/expected" "$cpu" 2>"$dir/log"; then
        not_ok "seed $seed $lang: the producer failed"
        diag "$dir/log"
        return
    fi
    "$SHMLOG_DUMP" ring --dir "$dir/seg" --format json >"$dir/ring.json" 2>"$dir/ring.err"
    "$COLLECTOR" --once --dir "$dir/seg" --out "$dir/out" 2>"$dir/collector.err"
    "$SHMLOG_DUMP" read "$dir/out" --format json >"$dir/read.json" 2>"$dir/read.err"
    "$ROUNDTRIP_READ" "$dir/out" >"$dir/lib.txt" 2>"$dir/lib.err"
    if python3 "$src/roundtrip_check.py" "$dir/expected" "$dir/ring.json" "$dir/read.json" "$dir/lib.txt" \
        >"$dir/check" 2>&1; then
        ok "seed $seed $lang $cc: $(grep -c '' "$dir/expected") calls of $sites sites read back as $oracle renders them"
    else
        not_ok "seed $seed $lang $cc: the readers differ from $oracle"
        sed 's/^/#   /' "$dir/check"
        cat "$dir/ring.err" "$dir/read.err" "$dir/lib.err" | grep -v 'not synchronised' | head -n 5 | sed 's/^/#   /'
    fi
    grep -v 'not synchronised\|^shmlog-collector: exiting' "$dir/collector.err" | head -n 5 | sed 's/^/#   collector: /'
}

tap_require python3 python3
for run in "$@"; do
    IFS=: read -r sites seed lang cc <<<"$run"
    [ -n "$cc" ] || { [ "$lang" = c ] && cc=gcc || cc=g++; }
    tap_require "$cc" "$cc"
    one "$sites" "$seed" "$lang" "$cc"
done
tap_done
