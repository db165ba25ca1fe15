#!/bin/bash
# Description: each field of the collector's struct ring, struct proc and struct frame is written by one file, the one its comment in collector/collector.h names ([drain.c]); a write anywhere else (=, a compound assignment, ++ or --, its address handed to a callee that may write it, the whole struct memset or assigned) fails with its file and line (tests/field_owners.py). --self-test also proves each kind of write is caught, on a doctored copy of collector/.
#
# usage: test_field_owners.sh [--self-test] SOURCE_ROOT    (TAP on stdout)
set -u

self_test=0
if [ "${1:-}" = --self-test ]; then
    self_test=1
    shift
fi
root=${1:?usage: test_field_owners.sh [--self-test] SOURCE_ROOT}
scanner=$(dirname "$0")/field_owners.py
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }

out=$(python3 "$scanner" "$root/collector" 2>&1)
rc=$?
if [ $rc -eq 0 ]; then
    ok "every field of ring, proc and frame written only by its owner"
else
    not_ok "fields written outside their owner (rc $rc)"
    printf '%s\n' "$out" | sed 's/^/# /'
fi

if [ $self_test -eq 1 ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    # Each case: a file, a line appended to its last function's body (before
    # the closing brace), and what the scanner must say.
    check_case() {
        local name=$1 file=$2 code=$3 expect=$4
        rm -rf "$work/collector" "$work/shm"
        cp -r "$root/collector" "$root/shm" "$work/"
        python3 - "$work/collector/$file" "$code" <<'EOF'
import sys
path, code = sys.argv[1], sys.argv[2]
text = open(path).read()
end = text.rstrip().rfind("}")
open(path, "w").write(text[:end] + code + "\n" + text[end:])
EOF
        local said
        said=$(python3 "$scanner" "$work/collector" 2>&1)
        if [ $? -eq 1 ] && printf '%s\n' "$said" | grep -q -- "$expect"; then
            ok "self-test: $name is caught"
        else
            not_ok "self-test: $name is not caught"
            printf '%s\n' "$said" | sed 's/^/# /'
        fi
    }
    last_fn_ring='{ struct ring *probe_r = NULL; struct proc *probe_p = NULL; struct frame *probe_f = NULL; (void)probe_p; (void)probe_f; (void)probe_r;'
    check_case "an assignment in the metrics observer" observe.c \
        "$last_fn_ring probe_r->broken = 1; }" "observe.c:.*ring.broken written here, owned by procs.c"
    check_case "a compound assignment" output.c \
        "$last_fn_ring probe_r->read_pos += 4; }" "output.c:.*ring.read_pos written here"
    check_case "a prefix increment through a member" scan.c \
        "$last_fn_ring ++probe_r->proc->records; }" "scan.c:.*proc.records written here, owned by frame.c"
    check_case "a postfix decrement of an array element" bells.c \
        "$last_fn_ring probe_p->by_category[2]--; }" "bells.c:.*proc.by_category written here, owned by drain.c"
    check_case "a memset of the whole struct" writer.c \
        "$last_fn_ring memset(probe_r, 0, sizeof(*probe_r)); }" "writer.c:.*ring.tail written here"
    check_case "a struct assigned through its pointer" observe.c \
        "$last_fn_ring *probe_f = (struct frame){0}; }" "observe.c:.*frame.state written here, owned by writer.c"
    check_case "an address handed to a callee that may write" observe.c \
        "$last_fn_ring (void)shm_ring_view_init(&probe_r->view, &probe_r->seg, NULL, 0); }" "observe.c:.*ring.view written here, owned by procs.c"
    check_case "a member whose object cannot be told" observe.c \
        "{ extern void *probe_v; ((struct ring *)probe_v)->quiet = 1; }" "quiet written, and the type of"
    # A field without an owner in its comment.
    rm -rf "$work/collector" "$work/shm"
    cp -r "$root/collector" "$root/shm" "$work/"
    sed -i 's|^\(    int quiet; *\)/\* \[drain.c\] |\1/* |' "$work/collector/collector.h"
    said=$(python3 "$scanner" "$work/collector" 2>&1)
    if [ $? -eq 1 ] && printf '%s\n' "$said" | grep -q "ring.quiet: no \[owner.c\]"; then
        ok "self-test: a field without an owner is caught"
    else
        not_ok "self-test: a field without an owner is not caught"
        printf '%s\n' "$said" | sed 's/^/# /'
    fi
    # A read that looks like a write is not one.
    check_case "nothing but reads (control)" observe.c \
        "$last_fn_ring if (probe_r->quiet == 1 && probe_r->broken != 0) (void)shm_ring_tail(&probe_r->view); probe_r->bound = 1; }" \
        "observe.c:.*ring.bound written here"
    said=$(python3 "$scanner" "$work/collector" 2>&1)
    if printf '%s\n' "$said" | grep -q "ring.quiet\|ring.broken\|ring.view"; then
        not_ok "self-test: reads (==, !=, a const argument) taken for writes"
        printf '%s\n' "$said" | sed 's/^/# /'
    else
        ok "self-test: reads (==, !=, a const argument) are not writes"
    fi
fi

echo "1..$n"
exit $failed
