#!/usr/bin/env python3
"""Circles of files in built objects, from their symbol tables.

A file points at another when its object uses a global symbol the other's
object defines (nm: U in one, a global definition in the other). A circle is a
set of two or more files that all reach one another that way (a strongly
connected component): none of them can be read, tested or changed without the
rest. tests/test_layers.sh runs this on each module of the build.

usage: file_circles.py MODULE=DIR[:DIR...] ...
  Each DIR holds a target's objects (meson's <target>.p); a module may span
  several targets (the format library is four static libraries). Prints one
  line per circle, "MODULE: a.c b.c ...", then one indented line per arrow
  inside it with a symbol that makes it; exits 0 when there is none, 1 when
  there is any, 2 on a usage error or a module without objects.
"""
import glob
import os
import subprocess
import sys

UNDEFINED = {"U", "w", "v"}


def arrows(objects):
    """{file: {file it uses: a symbol that makes the arrow}} for one module."""
    defined, used = {}, {}
    names = {obj: os.path.basename(obj)[: -len(".o")] for obj in objects}
    for name in names.values():
        used.setdefault(name, set())
    # One nm for all the objects (-A: each line begins "OBJECT: "): a process per object cost
    # the layer test most of its time.
    nm = subprocess.run(["nm", "-A", "-P", *objects], capture_output=True, text=True, check=True).stdout
    for line in nm.splitlines():
        obj, _, rest = line.partition(": ")
        if obj not in names:
            raise SystemExit(f"nm -A printed a line of no object it was given: {line}")
        fields = rest.split()
        if len(fields) < 2:
            continue
        name, (symbol, kind) = names[obj], fields[:2]
        if kind in UNDEFINED:
            used[name].add(symbol)
        elif kind.isupper():
            defined.setdefault(symbol, name)
    graph = {}
    for name, symbols in used.items():
        graph[name] = {}
        for symbol in sorted(symbols):
            owner = defined.get(symbol)
            if owner and owner != name:
                graph[name].setdefault(owner, symbol)
    return graph


def circles(graph):
    """The strongly connected components of more than one file (Tarjan's, without recursion)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            pushed = False
            for t in targets:
                if t not in index:
                    index[t] = low[t] = counter
                    counter += 1
                    stack.append(t)
                    on_stack.add(t)
                    work.append((t, iter(sorted(graph.get(t, {})))))
                    pushed = True
                    break
                if t in on_stack:
                    low[node] = min(low[node], index[t])
            if pushed:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    n = stack.pop()
                    on_stack.discard(n)
                    component.append(n)
                    if n == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def main(args):
    if not args:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    status = 0
    for arg in args:
        module, _, dirs = arg.partition("=")
        objects = sorted(o for d in dirs.split(":") for o in glob.glob(os.path.join(d, "*.o")))
        if not module or not objects:
            print(f"{arg}: no objects (build the project first)", file=sys.stderr)
            return 2
        graph = arrows(objects)
        for component in circles(graph):
            status = 1
            print(f"{module}: {' '.join(component)}")
            for a in component:
                for b, symbol in sorted(graph[a].items()):
                    if b in component:
                        print(f"    {a} -> {b} ({symbol})")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
