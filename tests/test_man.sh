#!/usr/bin/env bash
# Description: the man pages render without a groff (or mandoc) warning, have the sections a man page needs, and document exactly the flags and commands that shmlog-collector --help, shmlog-dump --help and shmlog-ship --help print.
# usage: test_man.sh PAGE... (meson test sets COLLECTOR, SHMLOG_DUMP, and SHMLOG_SHIP when it is built)
set -u
tmp=$(mktemp -d /tmp/shmlog-test-man-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_programs COLLECTOR SHMLOG_DUMP
tap_require groff-base groff
tap_require man-db man

# Long options in text: "--name" tokens, one per line, sorted.
long_options() {
    grep -o -- '--[a-z][a-z0-9-]*' "$1" | sort -u
}

# Plain ASCII rendering (no bold or underline overstrikes): "\-" becomes "-".
# Lines long enough that no word is hyphenated at a line end.
render() {
    groff -man -Tascii -P-cbou -rLL=1000n "$1" 2>/dev/null
}

for page in "$@"; do
    name=$(basename "$page")
    # All warnings (-ww), at the width man uses on an 80-column terminal.
    if groff -man -Tutf8 -ww -z -rLL=78n "$page" >"$tmp/groff.log" 2>&1 && [ ! -s "$tmp/groff.log" ]; then
        ok "$name: groff -man -ww renders it without warnings"
    else
        not_ok "$name: groff -man -ww"
        sed 's/^/#   /' "$tmp/groff.log"
    fi
    if MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$page" >/dev/null 2>"$tmp/man.log" && [ ! -s "$tmp/man.log" ]; then
        ok "$name: man -l renders it without warnings"
    else
        not_ok "$name: man -l"
        sed 's/^/#   /' "$tmp/man.log"
    fi
    if command -v mandoc >/dev/null 2>&1; then
        if mandoc -T lint -W warning "$page" >"$tmp/mandoc.log" 2>&1; then
            ok "$name: mandoc -T lint"
        else
            not_ok "$name: mandoc -T lint"
            sed 's/^/#   /' "$tmp/mandoc.log"
        fi
    fi
    section=${name##*.}
    title=$(sed -n 's/^\.TH \([^ ]*\) \([^ ]*\) .*/\1 \2/p' "$page" | sed 's/\\-/-/g')
    want="$(echo "${name%.*}" | tr 'a-z' 'A-Z') $section"
    if [ "$title" = "$want" ]; then
        ok "$name: .TH $want"
    else
        not_ok "$name: .TH is '$title', expected '$want'"
    fi
    missing=""
    for sh in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
        grep -q "^\.SH \"\{0,1\}$sh\"\{0,1\}\$" "$page" || missing="$missing $sh"
    done
    if [ -z "$missing" ]; then
        ok "$name: NAME, SYNOPSIS, DESCRIPTION, SEE ALSO"
    else
        not_ok "$name: missing sections:$missing"
    fi
    if grep -q '@[A-Za-z_]*@' "$page"; then
        not_ok "$name: unsubstituted @VARIABLE@: $(grep -o '@[A-Za-z_]*@' "$page" | tr '\n' ' ')"
    else
        ok "$name: every @VARIABLE@ substituted"
    fi
done

# The page named $1 among the arguments.
page_of() {
    for p in $pages; do
        case $(basename "$p") in "$1") echo "$p"; return ;; esac
    done
}
pages="$*"

# The documented flags are the implemented ones, both ways.
# compare WHAT DOCUMENTED IMPLEMENTED (files of sorted names)
compare() {
    undocumented=$(comm -13 "$2" "$3" | tr '\n' ' ')
    stale=$(comm -23 "$2" "$3" | tr '\n' ' ')
    if [ -z "$undocumented" ] && [ -z "$stale" ]; then
        ok "$1: the man page documents exactly the $(wc -l <"$3") implemented"
    else
        not_ok "$1: undocumented: [ $undocumented] documented but not implemented: [ $stale]"
    fi
}

collector_page=$(page_of shmlog-collector.8)
if [ -n "$collector_page" ]; then
    if "$COLLECTOR" --help >"$tmp/collector.help" 2>&1; then
        render "$collector_page" >"$tmp/collector.txt"
        long_options "$tmp/collector.help" >"$tmp/c.impl"
        # Flags of the OPTIONS section (the rest of the page also names other
        # programs' options, e.g. shmlog-dump's).
        sed -n '/^OPTIONS/,/^[A-Z]/p' "$tmp/collector.txt" | long_options /dev/stdin >"$tmp/c.doc"
        compare "shmlog-collector options" "$tmp/c.doc" "$tmp/c.impl"
    else
        not_ok "shmlog-collector --help failed"
    fi
fi

ship_page=$(page_of shmlog-ship.8)
if [ -n "$ship_page" ]; then
    if [ -n "${SHMLOG_SHIP:-}" ] && "$SHMLOG_SHIP" --help >"$tmp/ship.help" 2>&1; then
        render "$ship_page" >"$tmp/ship.txt"
        long_options "$tmp/ship.help" >"$tmp/s.impl"
        sed -n '/^OPTIONS/,/^[A-Z]/p' "$tmp/ship.txt" | long_options /dev/stdin >"$tmp/s.doc"
        compare "shmlog-ship options" "$tmp/s.doc" "$tmp/s.impl"
    else
        not_ok "shmlog-ship --help failed (SHMLOG_SHIP=${SHMLOG_SHIP:-})"
    fi
fi

dump_page=$(page_of shmlog-dump.1)
if [ -n "$dump_page" ]; then
    if "$SHMLOG_DUMP" --help >"$tmp/dump.help" 2>&1; then
        render "$dump_page" >"$tmp/dump.txt"
        # Commands: the words at the start of "  name  summary" lines of --help.
        sed -n '/^commands:/,/^[a-z]*:$/p' "$tmp/dump.help" |
            sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p' | sort -u >"$tmp/cmd.impl"
        # ... and the tags of the COMMANDS section of the page.
        sed -n '/^COMMANDS/,/^[A-Z]/p' "$tmp/dump.txt" |
            sed -n 's/^       \([a-z][a-z-]*\).*/\1/p' | sort -u >"$tmp/cmd.doc"
        compare "shmlog-dump commands" "$tmp/cmd.doc" "$tmp/cmd.impl"
        # Options: every command's usage line lists what it takes.
        : >"$tmp/dump.usage"
        while read -r cmd; do
            "$SHMLOG_DUMP" "$cmd" --help >>"$tmp/dump.usage" 2>&1
        done <"$tmp/cmd.impl"
        cat "$tmp/dump.help" >>"$tmp/dump.usage"
        long_options "$tmp/dump.usage" >"$tmp/o.impl"
        sed -n '/^OPTIONS/,/^OUTPUT/p' "$tmp/dump.txt" | long_options /dev/stdin >"$tmp/o.doc"
        compare "shmlog-dump options" "$tmp/o.doc" "$tmp/o.impl"
        # JSON Lines keys: the page lists the keys the renderer writes.
        missing=""
        for key in ts_ns time level category app pid tid cpu seq site msg fields truncated; do
            sed -n '/^   JSON Lines/,/^[A-Z]/p' "$tmp/dump.txt" | grep -q "^       \(.*, \)\{0,1\}$key\([, ]\|\$\)" ||
                missing="$missing $key"
        done
        if [ -z "$missing" ]; then
            ok "shmlog-dump.1: every JSON Lines key is described"
        else
            not_ok "shmlog-dump.1: JSON Lines keys not described:$missing"
        fi
    else
        not_ok "shmlog-dump --help failed"
    fi
fi

tap_done
