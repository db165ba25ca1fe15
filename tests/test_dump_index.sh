#!/bin/bash
# Description: shmlog-dump index on real files: a corpus file from before the index, and collector files whose index was cut off or damaged, read the same records before and after (read, byte for byte), keep their bytes at their offsets and then have a footer index; an indexed file, a .part and another uid's file are left alone; a kill -9 in the middle of a rewrite leaves the file as it was.
# usage: test_dump_index.sh (meson test sets SHMLOG_DUMP, COLLECTOR, SHMLOG_SAMPLE, SHMLOG_CORPUS)
set -u
tmp=$(mktemp -d /tmp/shmlog-test-dump-index-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs SHMLOG_DUMP COLLECTOR SHMLOG_SAMPLE
[ -d "${SHMLOG_CORPUS:-}" ] || bail "SHMLOG_CORPUS does not name the corpus: run through meson test"

# footer FILE: 0 when FILE's last 32 bytes are an index trailer ("SLIE" last).
footer() { [ "$(tail -c 4 "$1")" = SLIE ]; }
# same_read FILE BEFORE: FILE reads (text and JSON) as BEFORE.txt and BEFORE.json.
same_read() {
    "$SHMLOG_DUMP" read "$1" | cmp -s - "$2.txt" && "$SHMLOG_DUMP" read --format json "$1" | cmp -s - "$2.json"
}
keep_read() {
    "$SHMLOG_DUMP" read "$1" >"$2.txt" && "$SHMLOG_DUMP" read --format json "$1" >"$2.json"
}

# ---- a file from before the index ----
old=$tmp/old/losses.shlog
mkdir -p "$tmp/old"
cp "$SHMLOG_CORPUS/v2/losses.shlog" "$old"
keep_read "$old" "$tmp/old-before"
check "the corpus file has no footer" eval '! footer "$old"'
"$SHMLOG_DUMP" index --check "$old" >"$tmp/check.out"
check "index --check says it has none and exits 1" test $? -eq 1
check "index --check wrote nothing" cmp -s "$old" "$SHMLOG_CORPUS/v2/losses.shlog"
check_show "index --check names the file" grep -q 'losses.shlog: no index' "$tmp/check.out"
check "index gives it one (exit 0)" "$SHMLOG_DUMP" index "$old"
check "it now ends in a footer" footer "$old"
check "its bytes before it are the file's, at the same offsets" \
    cmp -n "$(stat -c %s "$SHMLOG_CORPUS/v2/losses.shlog")" "$old" "$SHMLOG_CORPUS/v2/losses.shlog"
check "read prints the same records, text and JSON, byte for byte" same_read "$old" "$tmp/old-before"
check "verify finds it whole" "$SHMLOG_DUMP" verify "$old"
"$SHMLOG_DUMP" index "$old" >"$tmp/again.out"
check "index of an indexed file exits 0" test $? -eq 0
check_show "and says it has one" grep -q 'already indexed' "$tmp/again.out"
check "nothing is left beside it" test "$(ls -A "$tmp/old")" = losses.shlog

# ---- the collector's files: index cut off, index damaged ----
seg=$tmp/seg out=$tmp/out
mkdir -p "$seg"
collector_start "$tmp/collector.log" --dir "$seg" --out "$out" --rotate-size 160k --max-delay-ms 20
SHMLOG_DIR=$seg "$SHMLOG_SAMPLE" --app ix --count 150000 --threads 1 --rate 1000000 --mix trading >"$tmp/sample.out" 2>&1
check "the collector removes the segments after the exit marker" segments_gone "$seg"
check "the collector exits 0 on SIGTERM" collector_stop
files=("$out"/*.shlog)
check "the collector wrote several files" test "${#files[@]}" -ge 3
all_footers() { local f; for f in "$@"; do footer "$f" || return 1; done; }
check "every file the collector closed (rotated, and the last at SIGTERM) ends in a footer" all_footers "${files[@]}"
cut=${files[0]} bad=${files[1]} whole=${files[2]}
for f in "$cut" "$bad" "$whole"; do keep_read "$f" "$f.before"; cp "$f" "$f.orig"; done
# the footer's offset is the trailer's first u64: cut the file there, as a crashed collector's .part is
footer_at=$(tail -c 32 "$cut" | od -An -tu8 -N8 | tr -d ' ')
truncate -s "$footer_at" "$cut"
keep_read "$cut" "$cut.before"
# a byte of the footer's trailer changed (the file size it records): its check fails, and the footer's
# frame, a skippable frame whatever its payload holds, still reads as one
size=$(stat -c %s "$bad")
printf '\xff' | dd of="$bad" bs=1 seek=$((size - 19)) conv=notrunc status=none
check "the file with a damaged footer still reads as it did" same_read "$bad" "$bad.before"
"$SHMLOG_DUMP" index --check "$out" >"$tmp/dir-check.out"
check "index --check of the directory exits 1" test $? -eq 1
check_show "it names the cut file" grep -q "$(basename "$cut"): no index" "$tmp/dir-check.out"
check_show "it names the damaged file" grep -q "$(basename "$bad"): no index" "$tmp/dir-check.out"
check_show "it says the whole one is indexed" grep -q "$(basename "$whole"): already indexed" "$tmp/dir-check.out"
check "index of the directory exits 0" "$SHMLOG_DUMP" index "$out"
check "the cut file ends in a footer" footer "$cut"
check "the cut file reads as before" same_read "$cut" "$cut.before"
check "the cut file's bytes are where they were (a shipper part-way through goes on)" \
    cmp -n "$footer_at" "$cut" "$cut.orig"
check "the damaged file ends in a footer" footer "$bad"
check "the damaged file reads as before" same_read "$bad" "$bad.before"
check "the whole file is unchanged" cmp -s "$whole" "$whole.orig"
check "index --check of the directory now exits 0" "$SHMLOG_DUMP" index --check "$out"

# ---- what it refuses ----
cp "$cut.orig" "$tmp/x.shlog.part"
"$SHMLOG_DUMP" index "$tmp/x.shlog.part" 2>"$tmp/part.err"
check "a .part is refused (exit 1)" test $? -eq 1
check_show "as being written" grep -q 'being written' "$tmp/part.err"
check "and left as it was" cmp -s "$tmp/x.shlog.part" "$cut.orig"
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    mkdir -m 1777 "$tmp/shared"
    cp "$SHMLOG_CORPUS/v2/losses.shlog" "$tmp/shared/other.shlog"
    chown nobody "$tmp/shared/other.shlog"
    "$SHMLOG_DUMP" index "$tmp/shared/other.shlog" 2>"$tmp/uid.err"
    check "another uid's file is refused (exit 1)" test $? -eq 1
    check_show "naming its owner" grep -q 'owned by uid' "$tmp/uid.err"
    check "and left as it was" cmp -s "$tmp/shared/other.shlog" "$SHMLOG_CORPUS/v2/losses.shlog"
else
    skip "another uid's file is refused" "needs root and a user nobody"
fi

# ---- kill -9 in the middle of the rewrite ----
# the new file beside it is the sign that the rewrite is under way: killed
# then, the old file must be as it was, whatever was written of the new one
victim=$tmp/kill/victim.shlog
mkdir -p "$tmp/kill"
killed=0
for try in 1 2 3 4 5 6 7 8; do
    cp "$cut.orig" "$victim"
    truncate -s "$footer_at" "$victim"
    "$SHMLOG_DUMP" index "$victim" >/dev/null 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null && ! compgen -G "$tmp/kill/.victim.shlog.index-*" >/dev/null; do :; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if compgen -G "$tmp/kill/.victim.shlog.index-*" >/dev/null; then
        killed=1
        break
    fi
done
if [ "$killed" = 1 ]; then
    check "killed mid-rewrite: the file reads as before" same_read "$victim" "$cut.before"
    check "killed mid-rewrite: verify finds it whole" "$SHMLOG_DUMP" verify "$victim"
    check "killed mid-rewrite: it has no footer yet" eval '! footer "$victim"'
    check "index after the kill gives it one" "$SHMLOG_DUMP" index "$victim"
    check "and it reads as before" same_read "$victim" "$cut.before"
else
    skip "kill -9 mid-rewrite" "the rewrite finished before the kill in 8 tries"
fi

tap_finish
