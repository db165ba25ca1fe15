#!/usr/bin/env bash
# The round trip of tests/test_roundtrip.sh as a soak, not in the suite: random seeds, C and C++, gcc and
# clang in turn, until TOTAL call sites passed (default 1,000,000: about 8 hours on 2 cores, compiling
# dominates). Stops at the first seed that differs and prints how to run it again; the last line says
# how many sites passed. Run it under the heavy lock on a shared machine.
# usage: tests/roundtrip_soak.sh BUILD_DIR [TOTAL [SITES_PER_RUN]]
set -u
build=${1:?usage: roundtrip_soak.sh BUILD_DIR [TOTAL [SITES_PER_RUN]]}
total=${2:-1000000}
per=${3:-1000}
here=$(cd "$(dirname "$0")" && pwd)
runs=("c:gcc" "cxx:g++" "c:clang" "cxx:clang++")
done_sites=0 k=0
while [ "$done_sites" -lt "$total" ]; do
    seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
    spec="$per:$seed:${runs[$((k % ${#runs[@]}))]}"
    k=$((k + 1))
    out=$(bash "$here/test_roundtrip.sh" "$build/producer" "$build/dump/shmlog-dump" \
        "$build/collector/shmlog-collector" "$build/tests/roundtrip_read" "$spec" 2>&1)
    if ! grep -q '^ok ' <<<"$out"; then
        echo "$out"
        echo "FAILED at $spec after $done_sites sites; again, keeping its files:"
        echo "  SHMLOG_TEST_KEEP=1 bash tests/test_roundtrip.sh $build/producer $build/dump/shmlog-dump" \
            "$build/collector/shmlog-collector $build/tests/roundtrip_read $spec"
        exit 1
    fi
    done_sites=$((done_sites + per))
    echo "$(date +%T) $spec ok: $done_sites sites"
done
echo "soak passed: $done_sites call sites, $((2 * done_sites)) calls, every one as snprintf renders it"
