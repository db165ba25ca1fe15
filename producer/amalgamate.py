#!/usr/bin/env python3
"""Builds the single public header: inlines every `//@include FILE` line of the
template (paths relative to the including file) and drops lines marked
`// amalgamate:drop`, which exist only so the parts also read well alone."""
import os
import sys


def expand(path, seen):
    path = os.path.normpath(path)
    if path in seen:
        sys.exit(f"amalgamate: {path} included twice")
    seen.add(path)
    out = [f"/* ---- {os.path.relpath(path, ROOT)} ---- */\n"]
    with open(path, encoding="utf-8") as f:
        for line in f:
            stripped = line.strip()
            if stripped.startswith("//@include "):
                target = stripped[len("//@include "):].strip()
                out.extend(expand(os.path.join(os.path.dirname(path), target), seen))
            elif "// amalgamate:drop" not in line:
                out.append(line)
    return out


if len(sys.argv) != 3:
    sys.exit("usage: amalgamate.py TEMPLATE OUTPUT")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[1])))
text = "".join(expand(os.path.abspath(sys.argv[1]), set()))
tmp = sys.argv[2] + ".tmp"
with open(tmp, "w", encoding="utf-8") as f:
    f.write(text)
os.replace(tmp, sys.argv[2])
