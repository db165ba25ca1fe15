#!/usr/bin/env python3
"""Writes to the fields of the collector's shared structs, by module.

Each member of a checked struct (struct ring, struct proc, struct frame) in the
collector's headers names the one file that writes it at the start of its
comment, in brackets: `uint64_t read_pos; /* [drain.c] next position to read */`.
This reads every collector/*.c and finds each write to such a member: `=` and
the compound assignments, `++` and `--` on either side, the member's address
taken (`&r->view`: a callee may write through it), and the whole struct
written (`memset(r, ...)`, `memcpy(r, ...)`, `*r = ...`), which writes every
member. The type of the expression left of `->` or `.` is worked out from the
declarations of the function and the file (`struct ring *r`) and the pointer
members of the headers' structs (`r->proc->gone`). A write to a checked
struct outside its member's owner is a violation; so is a member without an
owner, and a write whose object's type cannot be told apart when the member
name belongs to a checked struct.

usage: field_owners.py COLLECTOR_DIR
  Prints one line per violation, "file:line: struct.member written here,
  owned by owner.c"; exits 0 when there is none, 1 when there is any, 2 on a
  usage error or a header without the checked structs.
"""
import glob
import os
import re
import sys

CHECKED = ("ring", "proc", "frame")
LIST = os.environ.get("FIELD_OWNERS_LIST")
ASSIGN = r"(?:<<=|>>=|[-+*/%&|^]?=)(?!=)"
IDENT = r"[A-Za-z_]\w*"


LEXEMES = re.compile(r"/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.S)


def strip(text):
    """text with comments, strings and character constants blanked, lines kept."""
    def blank(m):
        t = m.group(0)
        if t[0] in "\"'":
            return t[0] + " " * (len(t) - 2) + t[-1]
        return re.sub(r"[^\n]", " ", t)
    return LEXEMES.sub(blank, text)


def parse_structs(paths):
    """{struct: {member: (struct type it points to or holds, or None, owner or None)}}.

    A struct without a tag (`static struct { ... } build;`) is kept under the
    names it declares, each prefixed with '=' (the variable's own type)."""
    structs = {}
    for path in paths:
        with open(path) as fh:
            raw = fh.read()
        for m in re.finditer(r"\bstruct\s*(" + IDENT + r")?\s*\{", raw):
            name, depth, i = m.group(1), 1, m.end()
            while depth and i < len(raw):
                depth += {"{": 1, "}": -1}.get(raw[i], 0)
                i += 1
            body = raw[m.end(): i - 1]
            if name is None:
                after = re.match(r"\s*([^;{}=]*)", strip(raw[i:])).group(1)
                names = ["=" + n for n in re.findall(IDENT, after)]
            else:
                names = [name]
            members = {}
            # One declaration per statement; the [owner] tag at the start of the
            # comment after it, on the same line.
            plain = strip(body)  # the same length: positions in it are positions in body
            for decl in re.finditer(r"([^;{}]*?);", plain):
                code = decl.group(1).strip()
                if not code or code.startswith("#"):
                    continue
                owner = None
                comment = re.match(r"[ \t]*/\*\s*\[([\w.]+)\]", body[decl.end():])
                if comment:
                    owner = comment.group(1)
                ptype = re.match(r"(?:const\s+)?struct\s+(" + IDENT + r")\b", code)
                target = ptype.group(1) if ptype else None
                # The names declared: after the type, split on commas.
                names_part = re.sub(r"^(?:const\s+|volatile\s+|unsigned\s+|enum\s+|struct\s+)*" + IDENT, "", code)
                for piece in names_part.split(","):
                    nm = re.search(r"(" + IDENT + r")\s*(?:\[[^\]]*\]\s*)*$", piece.strip())
                    if nm:
                        members[nm.group(1)] = (target, owner)
            for n in names:
                structs.setdefault(n, {}).update(members)
    return structs


def split_top(text, sep=","):
    """text split at each sep outside parentheses and brackets."""
    parts, depth, cur = [], 0, []
    for ch in text:
        depth += 1 if ch in "([{" else -1 if ch in ")]}" else 0
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def prototypes(paths, found=None):
    """{function: [1 if that parameter points at const, else 0]} from declarations and definitions."""
    found = dict(found or {})
    for path in paths:
        with open(path) as fh:
            code = strip(fh.read())
        for m in re.finditer(r"\b(" + IDENT + r")\s*\(((?:[^;{}()]|\([^;{}()]*\))*)\)\s*(?:__attribute__\s*\(\(.*?\)\)\s*)?[;{]", code):
            params = split_top(m.group(2))
            if any(re.match(r"\s*(?:static\s+|inline\s+)*(?:const\s+)?(?:struct\s+)?" + IDENT + r"\b", p_) for p_ in params):
                found.setdefault(m.group(1), [1 if re.match(r"\s*const\b", p_) else 0 for p_ in params])
    return found


def address_is_read(code, pos, protos):
    """Whether &x->m at pos is an argument that the callee's prototype takes as a pointer to const."""
    depth, i = 0, pos
    while i > 0:
        i -= 1
        ch = code[i]
        if ch in ")]":
            depth += 1
        elif ch in "([":
            if depth == 0:
                break
            depth -= 1
        elif ch in ";{}" and depth == 0:
            return False
    if i <= 0 or code[i] != "(":
        return False
    name = re.search(r"(" + IDENT + r")\s*$", code[:i])
    if not name or name.group(1) not in protos:
        return False
    index = len(split_top(code[i + 1:pos])) - 1
    params = protos[name.group(1)]
    return index < len(params) and params[index] == 1


def functions(code):
    """[(start, end)] of each top-level brace block, with its header before it."""
    spans, depth, start, last_end = [], 0, 0, 0
    for i, c in enumerate(code):
        if c == "{":
            if depth == 0:
                start = last_end
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                spans.append((start, i + 1))
                last_end = i + 1
        elif c == ";" and depth == 0:
            last_end = i + 1
    return spans


def declarations(code):
    """{name: (struct type, pointer depth)} of every `struct T *name`, `struct T name`, `struct T *a, *b`."""
    found = {}
    name = r"(?!struct\b|const\b)" + IDENT
    one = r"(?:\*\s*|const\s+)*" + name + r"\s*(?:\[[^\]]*\])*\s*(?:=[^,;(){}]*)?"
    for m in re.finditer(r"\bstruct\s+(" + IDENT + r")\s*((?:" + one + r",\s*)*" + one + r")", code):
        for d in re.finditer(r"((?:\*\s*|const\s+)*)(" + name + r")\s*((?:\[[^\]]*\])*)\s*(?:=[^,;(){}]*)?(?:,|$)",
                             m.group(2)):
            found[d.group(2)] = (m.group(1), d.group(1).count("*") + d.group(3).count("["))
    return found


def base_of(code, end):
    """The postfix expression that ends at code[end] (exclusive), as text."""
    i = end
    while True:
        while i > 0 and code[i - 1] in " \t\n":
            i -= 1
        if i > 0 and code[i - 1] in ")]":
            close, opening, depth = code[i - 1], "(" if code[i - 1] == ")" else "[", 0
            j = i - 1
            while j >= 0:
                depth += 1 if code[j] == close else -1 if code[j] == opening else 0
                if depth == 0:
                    break
                j -= 1
            i = j
            if close == ")":
                k = i
                while k > 0 and (code[k - 1].isalnum() or code[k - 1] == "_"):
                    k -= 1
                if k == i:  # a parenthesised expression: its inside is the base
                    return code[i:end]
                i = k
                continue
            continue
        m = re.search(IDENT + r"$", code[:i])
        if not m:
            return code[i:end]
        i = m.start()
        j = i
        while j > 0 and code[j - 1] in " \t\n":
            j -= 1
        if code[j - 2:j] == "->" or (j > 0 and code[j - 1] == "." ):
            i = j - (2 if code[j - 2:j] == "->" else 1)
            continue
        return code[i:end]


def type_of(expr, scope, structs):
    """The struct type of a postfix expression, or None when it cannot be told."""
    expr = re.sub(r"\s+", "", expr)
    expr = re.sub(r"\[[^\[\]]*\]", "", expr)  # indexing keeps the element type
    while expr.startswith("(") and expr.endswith(")"):
        expr = expr[1:-1]
    expr = expr.lstrip("*")
    parts = re.split(r"->|\.", expr)
    if not parts or not re.fullmatch(IDENT, parts[0]):
        return None
    t = scope.get(parts[0], (None, 0))[0]
    if t is None and "=" + parts[0] in structs:
        t = "=" + parts[0]
    for member in parts[1:]:
        if t is None or not re.fullmatch(IDENT, member):
            return None
        t = structs.get(t, {}).get(member, (None, None))[0]
    return t


def scan(collector_dir):
    headers = sorted(glob.glob(os.path.join(collector_dir, "*.h")))
    sources = sorted(glob.glob(os.path.join(collector_dir, "*.c")))
    structs = shared_structs = parse_structs(headers)
    shared = prototypes(sorted(glob.glob(os.path.join(collector_dir, "..", "shm", "*.h"))) + headers)
    problems = []
    for s in CHECKED:
        if s not in structs:
            print(f"field_owners: no struct {s} in {collector_dir}/*.h", file=sys.stderr)
            sys.exit(2)
        for member, (_, owner) in structs[s].items():
            if not owner:
                problems.append(f"{s}.{member}: no [owner.c] at the start of its comment")
    checked_names = {m for s in CHECKED for m in structs[s]}
    for path in sources:
        with open(path) as fh:
            code = strip(fh.read())
        here = os.path.basename(path)
        structs = dict(shared_structs)
        structs.update({k: v for k, v in parse_structs([path]).items() if k not in CHECKED})
        protos = prototypes([path], shared)
        file_scope = {}
        spans = functions(code)
        outside = code
        for a, b in spans:
            body_start = code.find("{", a)
            outside = outside[:body_start] + " " * (b - body_start) + outside[b:]
        file_scope.update(declarations(outside))

        def line(pos):
            return code.count("\n", 0, pos) + 1

        def report(pos, struct, member):
            owner = structs[struct][member][1]
            if LIST:
                print(f"{here}:{line(pos)}: {struct}.{member}")
            if owner and owner != here:
                problems.append(f"{here}:{line(pos)}: {struct}.{member} written here, owned by {owner}")

        for a, b in spans:
            scope = dict(file_scope)
            scope.update(declarations(code[a:b]))
            body = code[a:b]

            def member_write(pos, member, base):
                if member not in checked_names or not base.strip():
                    return  # not a checked name, or a designated initializer (.m = ...)
                t = type_of(base, scope, structs)
                if t in CHECKED and member in structs[t]:
                    report(a + pos, t, member)
                elif t is None:
                    problems.append(f"{here}:{line(a + pos)}: {base.strip()}->{member} written, "
                                    f"and the type of {base.strip()} cannot be told")

            access = r"(->|\.)\s*(" + IDENT + r")((?:\s*\[[^\]]*\])*)"
            # x->m = , x->m += , x->m++ , x->m[i] |=
            for m in re.finditer(access + r"\s*(?:" + ASSIGN + r"|\+\+|--)", body):
                member_write(m.start(), m.group(2), base_of(body, m.start()))
            # ++x->m, --x->m, &x->m
            for m in re.finditer(r"(\+\+|--|(?<!&)&(?![&=]))\s*(" + IDENT + r"(?:\s*(?:->|\.)\s*" + IDENT +
                                 r"|\s*\[[^\]]*\])*)\s*(->|\.)\s*(" + IDENT + r")(?!\s*(?:->|\.|\())", body):
                if m.group(1) == "&" and re.search(r"[\w)\]]\s*$", body[:m.start()]):
                    continue  # a binary &
                statement = re.split(r"[;{}]", body[:m.start()])[-1]
                if m.group(1) == "&" and re.match(r"\s*const\b[^=]*=\s*$", statement):
                    continue  # kept in a pointer to const
                if m.group(1) == "&" and address_is_read(body, m.start(), protos):
                    continue  # handed to a callee that takes it as const
                member_write(m.start(), m.group(4), m.group(2))
            # the whole struct: memset/memcpy/memmove into it, *x = ...
            for m in re.finditer(r"\b(?:memset|memcpy|memmove|explicit_bzero)\s*\(\s*(&?)\s*(" + IDENT + r")\s*,", body):
                t, depth = scope.get(m.group(2), (None, 0))
                if t in CHECKED and depth == (0 if m.group(1) else 1):
                    for member in structs[t]:
                        report(a + m.start(), t, member)
            for m in re.finditer(r"(?:^|(?<=[;{}])|(?<=[;{}])\s+)\*\s*(" + IDENT + r")\s*" + ASSIGN, body):
                t, depth = scope.get(m.group(1), (None, 0))
                if t in CHECKED and depth == 1:
                    for member in structs[t]:
                        report(a + m.start(), t, member)
    return problems


def main(argv):
    if len(argv) != 2 or not os.path.isdir(argv[1]):
        print(__doc__.strip().splitlines()[-6], file=sys.stderr)
        return 2
    problems = scan(argv[1])
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
