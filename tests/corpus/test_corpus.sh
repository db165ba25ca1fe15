#!/bin/bash
# Description: every file of the format corpus (tests/corpus/README), of every version and variant a release wrote, is read by today's shmlog-dump to exactly what is checked in beside it: read --format json, read as text, stats (on one thread and on three) and verify, with nothing on standard error and exit status 0.
# usage: test_corpus.sh DUMP CORPUS_DIR
#        test_corpus.sh --write DUMP CORPUS_DIR/VERSION
#   --write: writes the outputs a new version's files do not have yet; never replaces one.
set -u
write=0
if [ "${1:-}" = --write ]; then
    write=1
    shift
fi
dump=$(realpath "$1")
corpus=$(realpath "$2")
tmp=$(mktemp -d /tmp/shmlog-test-corpus-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/../tap.sh"
# The outputs are in UTC: TZ in the environment would show local time.
unset TZ

# What each input is read with, and the suffix of its expected output. stats on three threads (each
# counting every third frame, or counting again on one where duplicates or damage ask it) says what one says.
commands=("read --format json:read.json" "read:read.txt" "stats --jobs 1:stats.txt" "stats --jobs 3:stats.txt"
    "verify:verify.txt")

# check_input VERSION_DIR INPUT: INPUT is a .shlog file or a directory of them, relative to VERSION_DIR
# (the outputs name it so: they do not depend on where the corpus is).
check_input() {
    local dir=$1 input=$2 name=${2%.shlog} entry args suffix want
    for entry in "${commands[@]}"; do
        args=${entry%%:*}
        suffix=${entry##*:}
        want=$dir/$name.$suffix
        # shellcheck disable=SC2086 # args is several words
        (cd "$dir" && "$dump" $args "$input") >"$tmp/out" 2>"$tmp/err"
        local status=$?
        local what="${dir#"$corpus"/}/$input: $args"
        if [ $write = 1 ] && [ ! -e "$want" ]; then
            if [ $status -ne 0 ] || [ -s "$tmp/err" ]; then
                not_ok "$what: exit $status, not written"
                sed 's/^/#   /' "$tmp/err" | head -5
                continue
            fi
            cp "$tmp/out" "$want"
            ok "$what: written to ${want#"$corpus"/}"
            continue
        fi
        if [ ! -e "$want" ]; then
            not_ok "$what: no ${want#"$corpus"/} (test_corpus.sh --write makes it, for new files only)"
        elif [ $status -ne 0 ] || [ -s "$tmp/err" ]; then
            not_ok "$what: exit $status"
            sed 's/^/#   /' "$tmp/err" | head -5
        elif ! cmp -s "$want" "$tmp/out"; then
            not_ok "$what: differs from ${want#"$corpus"/}"
            diff "$want" "$tmp/out" | head -10 | sed 's/^/#   /'
        else
            ok "$what"
        fi
    done
}

if [ $write = 1 ]; then
    versions=("$corpus")
else
    versions=("$corpus"/*/)
fi
inputs=0
for v in "${versions[@]}"; do
    v=${v%/}
    [ -d "$v" ] || continue
    for input in "$v"/*.shlog "$v"/*/; do
        [ -e "$input" ] || continue
        input=${input%/}
        check_input "$v" "${input#"$v"/}"
        inputs=$((inputs + 1))
    done
done
if [ "$inputs" -ge 3 ]; then
    ok "the corpus has $inputs inputs"
else
    not_ok "the corpus has $inputs inputs"
fi
tap_done
