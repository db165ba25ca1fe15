#!/usr/bin/env python3
"""Checks one round trip (tests/test_roundtrip.sh): every call the generated producer made is a record in
each reader's output, in call order, with the text libc's snprintf made of the same call (of the cut
strings when the record is marked truncated, and marked exactly then), and no reader reports a loss or
damage.

usage: roundtrip_check.py EXPECTED RING_JSON READ_JSON LIB_LINES
Prints one summary line per reader; exit 1 when any differs.
"""
import json
import sys

expected_path, ring_path, read_path, lib_path = sys.argv[1:5]


def expected_calls():
    out = []
    with open(expected_path, encoding="utf-8") as f:
        for line in f:
            flag, _, text = line.rstrip("\n").partition(" ")
            out.append((flag == "1", text))
    return out


def from_json(path):
    """(records, other events) of shmlog-dump's JSON Lines."""
    recs, other = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            o = json.loads(line)
            if "msg" in o:
                recs.append((bool(o.get("truncated", False)), o["msg"]))
            elif "error" in o:
                other.append("record error: " + o["error"])
            elif "loss" in o:
                other.append("loss: %s" % json.dumps(o["loss"]))
    return recs, other


def from_lib(path):
    recs, other = [], []
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            kind, _, rest = line.rstrip("\n").partition(" ")
            if kind == "R":
                flag, _, text = rest.partition(" ")
                recs.append((flag == "1", text))
            elif kind in ("L", "E"):
                other.append(line.rstrip("\n"))
    return recs, other


def compare(name, want, got, other):
    bad = list(other)
    if len(got) != len(want):
        bad.append("%d records for %d calls" % (len(got), len(want)))
    shown = 0
    for i, (w, g) in enumerate(zip(want, got)):
        if w != g:
            if shown < 5:
                at = next((k for k, (a, b) in enumerate(zip(w[1], g[1])) if a != b), min(len(w[1]), len(g[1])))
                lo = max(0, at - 60)
                bad.append("call %d, from byte %d of %d / %d:\n      want %s %r\n      got  %s %r" % (
                    i, lo, len(w[1]), len(g[1]), "truncated" if w[0] else "whole", w[1][lo:lo + 160],
                    "truncated" if g[0] else "whole", g[1][lo:lo + 160]))
            shown += 1
    if shown > 5:
        bad.append("... %d records differ in all" % shown)
    truncated = sum(1 for w in want if w[0])
    print("%-5s %s: %d calls (%d truncated), %d records" % (name, "ok" if not bad else "DIFFERS", len(want), truncated, len(got)))
    for b in bad[:12]:
        print("    " + b)
    return not bad


want = expected_calls()
results = [
    compare("ring", want, *from_json(ring_path)),
    compare("read", want, *from_json(read_path)),
    compare("lib", want, *from_lib(lib_path)),
]
sys.exit(0 if all(results) else 1)
