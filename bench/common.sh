# common.sh - what the bench scripts share; sourced, not run.

# "40M" -> 40000000; nothing and failure for what is not a count.
count_value() {
    awk -v s="$1" 'BEGIN {
        if (match(s, /^[0-9]+(\.[0-9]+)?[kMG]?$/) == 0) exit 1
        m = substr(s, length(s)); n = s + 0
        if (m == "k") n *= 1e3; else if (m == "M") n *= 1e6; else if (m == "G") n *= 1e9
        if (n < 1) exit 1
        printf "%.0f\n", n }'
}

# release_build REPO: sets build to REPO/build-bench, configured release without assertions (set up when
# missing), the build the bench scripts use unless told another.
release_build() {
    build=$1/build-bench
    if [ -f "$build/build.ninja" ]; then
        meson configure "$build" -Dbuildtype=release -Db_ndebug=true >/dev/null
    else
        meson setup "$build" "$1" -Dbuildtype=release -Db_ndebug=true >/dev/null
    fi
}

# build_programs DIR: builds the bench producer, the collector and the dump in
# DIR and sets bench, collector and dump to them; exits with ninja's output.
build_programs() {
    local log
    if ! log=$(ninja -C "$1" bench/shmlog-bench-producer collector/shmlog-collector dump/shmlog-dump 2>&1); then
        printf '%s\n' "$log" >&2
        exit 1
    fi
    bench=$1/bench/shmlog-bench-producer
    collector=$1/collector/shmlog-collector
    dump=$1/dump/shmlog-dump
}

# segments_parent: where a benchmark's segment directories go: the hugetlbfs mount when it is writable, as an
# application has its segments, else /dev/shm.
segments_parent() {
    local huge
    huge=$(awk '$3 == "hugetlbfs" {print $2; exit}' /proc/mounts)
    if [ -n "$huge" ] && [ -w "$huge" ]; then echo "$huge"; else echo /dev/shm; fi
}

# set_dir NAME SET KEEP: sets work to a set's folder: SET, made before, when given; else KEEP, made now and
# kept; else a scratch folder /tmp/shmlog-bench-NAME.*, removed at exit.
set_dir() {
    if [ -n "$2" ]; then
        work=$2
    elif [ -n "$3" ]; then
        mkdir -p "$3"
        work=$(cd "$3" && pwd)
        remove_at_exit "$(mktemp -d "/tmp/shmlog-bench-$1-scratch.XXXXXX")"
    else
        work=$(mktemp -d "/tmp/shmlog-bench-$1.XXXXXX")
        remove_at_exit "$work"
    fi
}

# remove_at_exit DIR: however the script ends, the collector whose pid is in $col stops, and the segment
# directory in $seg and DIR go.
remove_at_exit() {
    scratch_dir=$1 seg="" col=""
    trap remove_scratch EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}
remove_scratch() {
    set +e
    [ -n "$col" ] && kill -TERM "$col" 2>/dev/null && wait "$col"
    [ -n "$seg" ] && rm -rf "$seg"
    rm -rf "$scratch_dir"
}

# peers_harness WORK [FROM]: the copy of Quill's public benchmark harness (odygrd/logger_benchmarks, Quill's
# headers in its quill/include) that the peers' scripts build in, WORK/harness, cloned (or copied) from FROM
# once; its path on stdout.
peers_harness() {
    local src=$1/harness from=${2:-/work/.mirror/odygrd+logger_benchmarks/repo}
    mkdir -p "$1"
    if [ ! -d "$src" ]; then
        if git -C "$from" rev-parse --git-dir >/dev/null 2>&1; then
            git clone -q "$from" "$src"
        elif [ -f "$from/CMakeLists.txt" ]; then
            cp -a "$from" "$src"
        else
            echo "$0: $from is neither a git repository nor a checkout of the harness: clone github.com/odygrd/logger_benchmarks and give its path with --harness" >&2
            exit 1
        fi
    fi
    echo "$src"
}
