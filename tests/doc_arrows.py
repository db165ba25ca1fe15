#!/usr/bin/env python3
"""The arrows ARCHITECTURE.md draws, against the arrows the code has.

ARCHITECTURE.md draws arrows in fenced blocks whose info string is
"arrows NAME": each line is a chain "a -> b, c -> d" (every name of one step
points at every name of the next; '#' starts a comment). NAME "rooms" draws
which room includes which: its code arrows are the "FROM TO" lines of the
--includes file (tests/test_layers.sh writes them from the include lines).
Any other NAME is a module of MODULE=DIR[:DIR] arguments: its code arrows are
its objects' calls (file_circles.arrows: a symbol one object uses and another
defines).

A drawn arrow must be an arrow of the code; an arrow of the code must be
drawn, or follow from drawn arrows (a -> b -> c draws a -> c too). A drawn
arrow of a file the build did not make (a feature left out) is not checked.
Prints one line per difference; exits 0 when there is none, 1 when there is
any, 2 on a usage error or a block whose module has no objects.

usage: doc_arrows.py DOC --includes FILE [MODULE=DIR[:DIR]...]
       doc_arrows.py --doctor reverse|drop DOC
           prints DOC with, in each arrows block, the first arrow drawn also
           drawn backwards (reverse), or every arrow out of the first name
           drawn left out (drop): the proofs of tests/test_layers.sh --self-test
"""
import glob
import os
import re
import sys

from file_circles import arrows as object_arrows

BLOCK = re.compile(r"^```arrows[ \t]+(\S+)[ \t]*\n(.*?)^```", re.M | re.S)


def chain_arrows(line):
    """[(a, b)] of one line "a -> b, c -> d"."""
    steps = [[n.strip() for n in step.split(",") if n.strip()] for step in line.split("#")[0].split("->")]
    return [(a, b) for here, there in zip(steps, steps[1:]) for a in here for b in there]


def drawn(doc):
    """{NAME: [(a, b)]} for every arrows block of the document."""
    blocks = {}
    for match in BLOCK.finditer(doc):
        for line in match.group(2).splitlines():
            blocks.setdefault(match.group(1), []).extend(chain_arrows(line))
    return blocks


def reaches(pairs, a, b):
    """Whether drawn arrows lead from a to b."""
    seen, todo = {a}, [a]
    while todo:
        here = todo.pop()
        for x, y in pairs:
            if x == here and y not in seen:
                seen.add(y)
                todo.append(y)
    return b in seen


def compare(name, doc_pairs, code_pairs, built):
    """Lines naming each difference between a block and its code."""
    out = []
    for a, b in doc_pairs:
        if a in built and b in built and (a, b) not in code_pairs:
            out.append(f"{name}: ARCHITECTURE.md draws {a} -> {b}, the code has no such arrow")
    for a, b in sorted(code_pairs):
        if not reaches(doc_pairs, a, b):
            out.append(f"{name}: the code has {a} -> {b}, ARCHITECTURE.md does not draw it")
    return out


def doctor(doc, how):
    def one(match):
        pairs = [p for line in match.group(2).splitlines() for p in chain_arrows(line)]
        if not pairs:
            return match.group(0)
        a, b = pairs[0]
        if how == "reverse":
            body = match.group(2) + f"{b} -> {a}\n"
        else:
            body = "".join(f"{x} -> {y}\n" for x, y in pairs if x != a)
        return f"```arrows {match.group(1)}\n{body}```"

    return BLOCK.sub(one, doc)


def main(args):
    if len(args) == 3 and args[0] == "--doctor" and args[1] in ("reverse", "drop"):
        with open(args[2]) as f:
            sys.stdout.write(doctor(f.read(), args[1]))
        return 0
    if len(args) < 3 or args[1] != "--includes":
        print("usage: " + __doc__.split("usage: ")[1].strip(), file=sys.stderr)
        return 2
    with open(args[0]) as f:
        blocks = drawn(f.read())
    with open(args[2]) as f:
        rooms = {tuple(line.split()) for line in f if len(line.split()) == 2}
    modules = dict(arg.partition("=")[::2] for arg in args[3:])
    if not blocks:
        print(f"{args[0]}: no arrows block", file=sys.stderr)
        return 2
    out = []
    for name, pairs in sorted(blocks.items()):
        if name == "rooms":
            built = {n for pair in rooms | set(pairs) for n in pair}
            out += compare(name, pairs, rooms, built)
            continue
        if name not in modules:
            print(f"{name}: drawn in {args[0]}, but no objects were named for it", file=sys.stderr)
            return 2
        objects = sorted(o for d in modules[name].split(":") for o in glob.glob(os.path.join(d, "*.o")))
        graph = object_arrows(objects)
        code = {(a, b) for a in graph for b in graph[a]}
        out += compare(name, pairs, code, set(graph))
    for line in out:
        print(line)
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
