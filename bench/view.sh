#!/usr/bin/env bash
# shmlog-dump view over a large set (issue 51): the set is shmlog-sample's trading mix written by the real
# collector (RECORDS calls paced at RATE a second, 2 threads), then view runs in a tmux terminal of 120 x 40
# and each key is timed from send-keys until its screen's top line changed (polled every 10 ms): the first
# screen, End, PgUp, PgUp, Home, End, a search for a rare word and its next match; the top line of the
# screen is printed before and after each key, and each whole screen saved (VIEW_SCREENS, default
# /tmp/shmlog-view-screens, NN-KEY.txt); then the viewer's peak RSS (VmHWM) against `shmlog-dump read`'s.
#   bench/view.sh [RECORDS] [RATE]      (defaults 4M and 1.5M)
#   bench/view.sh --set DIR             a set kept by `bench/search.sh --keep DIR` (its DIR/out)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/common.sh
. "$repo/bench/common.sh"
set=""
if [ "${1:-}" = --set ]; then
    [ -d "${2:-}/out" ] || { echo "view.sh: --set wants a directory kept by bench/search.sh --keep (with out/ in it)" >&2; exit 2; }
    set=$(cd "$2/out" && pwd)
else
    records=$(count_value "${1:-4M}") || { echo "view.sh: RECORDS wants a count like 4M" >&2; exit 2; }
    rate=$(count_value "${2:-1.5M}") || { echo "view.sh: RATE wants a count like 1.5M" >&2; exit 2; }
fi
build=${SHMLOG_BUILD:-$repo/build}
build_programs "$build"
ninja -C "$build" examples/shmlog-sample >/dev/null
command -v tmux >/dev/null || { echo "view.sh: tmux is not installed (scripts/setup.sh)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/shmlog-bench-view-XXXXXX)
remove_at_exit "$tmp"
sock=shmlog-bench-view-$$
term() { tmux -L "$sock" -f /dev/null "$@"; }
trap 'term kill-server >/dev/null 2>&1 || true; remove_scratch' EXIT
if [ -n "$set" ]; then
    ln -s "$set" "$tmp/out"
else
    seg=$(segments_parent)/shmlog-bench-view-$$
    mkdir -p "$seg"
    "$collector" --dir "$seg" --out "$tmp/out" --max-delay-ms 20 >"$tmp/collector.log" 2>&1 &
    col=$!
    sleep 1
    SHMLOG_DIR=$seg "$build/examples/shmlog-sample" --app big --count "$records" --threads 2 --rate "$rate"
    sleep 2
    kill -TERM "$col" && wait "$col" || true
    col=""
fi
unset TZ
lines=$(/usr/bin/time -f '%M' -o "$tmp/read.rss" "$dump" read "$tmp/out/" 2>/dev/null | wc -l)
echo "set: $lines records in $(du -shL "$tmp/out" | cut -f1), $(ls "$tmp/out/" | wc -l) file(s); read's peak RSS $(cat "$tmp/read.rss") KiB"

now() { date +%s.%N; }
screens=${VIEW_SCREENS:-/tmp/shmlog-view-screens}
rm -rf "$screens" && mkdir -p "$screens"
shots=0
# shot NAME: the whole screen as it is now, into the next NN-NAME.txt
shot() { shots=$((shots + 1)); term capture-pane -p >"$(printf '%s/%02d-%s.txt' "$screens" "$shots" "$1")"; }
top() { term capture-pane -p | head -1; }
# timed KEY: seconds from send-keys until the top line changed ("unchanged after 120" if it never did).
timed() {
    local before t0 polls=0
    before=$(top)
    t0=$(now)
    term send-keys "$1"
    while [ "$(top)" = "$before" ]; do
        polls=$((polls + 1))
        [ $polls -lt 12000 ] || { echo "unchanged after 120"; return; }
        sleep 0.01
    done
    awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'
}
t0=$(now)
term new-session -d -x 120 -y 40 "exec $dump view $tmp/out"
while ! term capture-pane -p | grep -q 'filters:'; do sleep 0.01; done
first=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
pid=$(term display-message -p '#{pane_pid}')
hwm_first=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
echo "first screen: $first s, VmHWM $hwm_first KiB (screens after each key in $screens)"
shot first
for key in End PPage PPage Home End; do
    echo "  top line before: $(top)"
    echo "$key: $(timed $key) s"
    shot "$key"
done
echo "  top line before: $(top)"
# A rare word: the sample's reject messages, searched from the start, then the next match.
echo "Home: $(timed Home) s"
shot Home
echo "  top line before: $(top)"
term send-keys '/'
term send-keys -l 'reject'
echo "/reject Enter: $(timed Enter) s"
shot search-reject
echo "  top line after: $(top)"
echo "n: $(timed n) s"
shot n
echo "  top line after: $(top)"
echo "after them: VmHWM $(awk '/^VmHWM/ {print $2}' "/proc/$pid/status") KiB, VmRSS $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status") KiB"
term send-keys q
