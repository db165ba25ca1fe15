#!/usr/bin/env python3
"""Generates a producer of random call sites for the round trip (tests/test_roundtrip.sh).

usage: roundtrip_gen.py SHMLOG_H SEED SITES LANG OUTDIR [PARTS]

LANG is c or cxx. Writes OUTDIR/part<k>.<c|cpp> (PARTS files, so they compile in
parallel) and OUTDIR/main.<c|cpp>. Each site is a random printf format with 0 to 32
arguments of every type the header accepts (in C++ also std::string, std::string_view,
.c_str() of a temporary and enum class), called twice with other values. Next to each
log call the program renders the same call with snprintf into its expected output,
one line per call: "<truncated 0|1> <text>". Where a record must be cut, the generator
works out the cut on its own from the layout shmlog(3) documents (strings that do not
fit share the payload's room: the shorter ones stay whole, the longer ones get equal
shares, the earlier a byte more) and the expected call gets the cut strings: an oracle of its own,
not the header's arithmetic.

Some strings are copied, when called, to end just before a PROT_NONE guard page (rt_guard):
C strings with their NUL 0 to 63 bytes before it, and %.*s buffers and string_views with
no NUL that end at it, so a byte read in the guard page kills the producer. Part 0 also
sweeps a C string of lengths 0..MAX_PAYLOAD+40 (every one below 600 and near the bound, a
stride of 37 between) ending at every offset 0..63 before
a guard page, and a %.*s buffer (C++: a view) of every such length ending at one.
"""
import os
import random
import re
import sys

from roundtrip_layout import read_layout, share_out

hdr_path, seed, nsites, lang, outdir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
parts = int(sys.argv[6]) if len(sys.argv) > 6 else 4
cxx = lang == "cxx"
rng = random.Random(seed)

# The layout's numbers, read from the header under test; a record carries the bound of a process that
# does not set one (shmlog_config.arg_bytes).
layout = read_layout(hdr_path)
HEAD, CONT, MAX_ARGS = layout["HEAD_PAYLOAD"], layout["CONT_PAYLOAD"], layout["MAX_ARGS"]
MAX_PAYLOAD = layout["ARG_BYTES"]
SLOTS = (MAX_PAYLOAD - HEAD) // CONT + 1
BOUNDS = [HEAD + k * CONT for k in range(SLOTS)]  # where the payload moves to the next slot

PRINTABLE = [chr(c) for c in range(32, 127)]


def c_lit(s):
    out = []
    for ch in s:
        if ch in '\\"?':
            out.append("\\" + ch)
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def fmt_lit(s):
    """Literal format text: '%' doubled."""
    return s.replace("%", "%%")


def rand_text(n):
    text = "".join(rng.choice(PRINTABLE) for _ in range(n))
    # C++ reads "{name:" as a {} spec whose % is a chrono one (README, "Compatibility"): not printf text
    return re.sub(r"\{(?=[0-9A-Za-z_]*(:|$))", "(", text) if cxx else text


# ---- argument kinds: (C type, width in the payload, formats, value maker) ----

def int_range(bits, signed):
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def int_value(bits, signed):
    lo, hi = int_range(bits, signed)
    r = rng.random()
    if r < 0.15:
        return rng.choice([lo, hi, 0, 1, -1 if signed else 2])
    if r < 0.5:
        return rng.randint(max(lo, -1000), min(hi, 1000))
    return rng.randint(lo, hi)


def int_lit(v, bits, signed):
    if signed and v == -(1 << (bits - 1)):
        return "(-%dLL - 1)" % ((1 << (bits - 1)) - 1)
    return "%d%s" % (v, "LL" if signed else "ULL")


def num(width, ctype, vals, etype=None, evals=None):
    """A numeric argument: its payload width, the C type it is passed as and its two values (C text);
    the expected call may pass it as another type (a C++ enum as its integer)."""
    return dict(kind="num", width=width, ctype=ctype, vals=vals, etype=etype or ctype, evals=evals or vals)


INTS = [
    # ctype, bits, signed, conversions
    ("signed char", 8, True, ["hhd", "hhi"]),
    ("unsigned char", 8, False, ["hhu", "hhx", "hho", "hhX"]),
    ("short", 16, True, ["hd", "hi"]),
    ("unsigned short", 16, False, ["hu", "hx", "ho"]),
    ("int", 32, True, ["d", "i"]),
    ("unsigned int", 32, False, ["u", "x", "X", "o"]),
    ("long", 64, True, ["ld", "li"]),
    ("unsigned long", 64, False, ["lu", "lx", "lo"]),
    ("long long", 64, True, ["lld", "lli"]),
    ("unsigned long long", 64, False, ["llu", "llx", "llX"]),
    ("size_t", 64, False, ["zu", "zx"]),
    ("ptrdiff_t", 64, True, ["td"]),
    ("intmax_t", 64, True, ["jd"]),
    ("uintmax_t", 64, False, ["ju"]),
    ("int8_t", 8, True, ["hhd"]),
    ("uint16_t", 16, False, ["hu"]),
    ("int32_t", 32, True, ["d"]),
    ("uint64_t", 64, False, ["lu"]),
]
WIDTH = {8: 1, 16: 2, 32: 4, 64: 8}


def float_value():
    r = rng.random()
    if r < 0.1:
        return rng.choice(["0.0", "-0.0", "1.0", "-1.5", "0.1", "1e300", "-1e-300", "123456789.125", "5e-324"])
    if r < 0.15:
        return rng.choice(["(1.0/0.0)", "(-1.0/0.0)"])
    if r < 0.55:
        return "%d.%02d" % (rng.randint(-100000, 100000), rng.randint(0, 99))
    return repr(rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-12, 12))


def float_conv():
    flags = pick_flags("-+ #0")
    width = str(rng.randint(1, 30)) if rng.random() < 0.4 else ""
    prec = "." + str(rng.randint(0, 17)) if rng.random() < 0.5 else ""
    return flags + width + prec, rng.choice("fFeEgGaA")


def pick_flags(allowed):
    """Flags printf and -Wformat accept together: not '0' with '-', not ' ' with '+'."""
    flags = "".join(rng.sample(allowed, rng.randint(0, min(2, len(allowed)))))
    if "-" in flags:
        flags = flags.replace("0", "")
    if "+" in flags:
        flags = flags.replace(" ", "")
    return flags


def int_spec(conv):
    """Flags, width and precision for an integer conversion conv (its last letter counts)."""
    c = conv[-1]
    allowed = "-+ 0" if c in "di" else "-0" if c == "u" else "-0#"
    flags = pick_flags(allowed)
    width = str(rng.randint(1, 25)) if rng.random() < 0.3 else ""
    prec = ""
    if rng.random() < 0.2:
        prec = "." + str(rng.randint(0, 20))
        flags = flags.replace("0", "")  # '0' is ignored with a precision, and -Wformat says so
    return flags + width + prec


class Site:
    """One call site: its format and, per call, the log arguments, the expected call's arguments and the
    string arguments' lengths (for the cut)."""

    def __init__(self, idx):
        self.idx = idx
        self.pieces = []  # format text
        self.args = []  # per argument: num(...), or a string's dict(kind="str", exprs, strings, prec)
        self.decls = []  # static declarations the site needs


def string_len_near_bound(offset):
    """A length that ends a string just before, at or just after a slot boundary or the payload bound,
    given the payload offset where its 2-byte header starts; or a random one."""
    r = rng.random()
    if r < 0.45:
        b = rng.choice([x for x in BOUNDS if x > offset + 2] or [MAX_PAYLOAD])
        return max(0, b - offset - 2 + rng.randint(-1, 1))
    if r < 0.55:
        return max(0, MAX_PAYLOAD - offset - 2 + rng.randint(-2, 40))
    if r < 0.65:
        return rng.randint(400, 700)
    return rng.choice([0, 1, 2, 7, 8, 9, rng.randint(0, 60)])


def gen_site(idx):
    s = Site(idx)
    # more than 16 at most one site in eleven, so that a run's compile time stays near what it was at 16
    nargs_target = rng.choice([0, 1, 2, 3, 4, 5, 8, 12, 15, 16, rng.choice([17, MAX_ARGS, rng.randint(0, MAX_ARGS)])])
    s.pieces.append("s%d:" % idx)
    offset = 0  # the payload bytes of the arguments so far, as written if nothing were cut
    while len(s.args) < nargs_target:
        if rng.random() < 0.5:
            s.pieces.append(fmt_lit(rand_text(rng.randint(0, 6))))
        s.pieces.append(" ")
        left = nargs_target - len(s.args)
        kind = rng.choice(["int", "int", "int", "float", "double", "ldouble", "char", "bool", "ptr", "str", "str",
                           "str", "starstr", "starint", "enum"] + (["cxxstr", "cxxview", "cxxcstr", "enumclass"] * 2 if cxx else []))
        if kind in ("starstr", "starint") and left < 2:
            kind = "int"
        if kind == "int":
            ctype, bits, signed, convs = rng.choice(INTS)
            c = rng.choice(convs)
            conv = int_spec(c) + c
            vals = [int_lit(int_value(bits, signed), bits, signed) for _ in range(2)]
            s.pieces.append("%" + conv)
            s.args.append(num(WIDTH[bits], ctype, vals))
            offset += WIDTH[bits]
        elif kind == "starint":
            ctype, bits, signed, convs = rng.choice(INTS[4:6])
            w = rng.randint(-30, 30)
            s.pieces.append("%*" + rng.choice(convs))
            s.args.append(num(4, "int", [str(w), str(-w)]))
            s.args.append(num(4, ctype, [int_lit(int_value(bits, signed), bits, signed) for _ in range(2)]))
            offset += 8
        elif kind in ("float", "double", "ldouble"):
            spec, conv = float_conv()
            ctype = {"float": "float", "double": "double", "ldouble": "long double"}[kind]
            vals = [float_value() for _ in range(2)]
            if kind == "ldouble":
                # the header narrows long double to double: a value a double holds
                vals = ["(double)%s" % v for v in vals]
            s.pieces.append("%" + spec + ("L" if kind == "ldouble" else "") + conv)
            s.args.append(num(4 if kind == "float" else 8, ctype, vals))
            offset += 4 if kind == "float" else 8
        elif kind == "char":
            conv = rng.choice(["c", "c", "hhd"])
            width = str(rng.randint(1, 5)) if rng.random() < 0.3 else ""
            ch = [rng.choice(PRINTABLE) for _ in range(2)]
            s.pieces.append("%" + ("-" if rng.random() < 0.3 else "") + width + conv)
            s.args.append(num(1, "char", [str(ord(c)) for c in ch]))
            offset += 1
        elif kind == "bool":
            b = [rng.randint(0, 1) for _ in range(2)]
            s.pieces.append("%d")
            s.args.append(num(1, "bool" if cxx else "_Bool", [str(v) for v in b]))
            offset += 1
        elif kind == "ptr":
            vals = [rng.choice([0, rng.randint(1, (1 << 47) - 1)]) for _ in range(2)]
            ptype = rng.choice(["void *", "const void *", "int *", "const double *"])
            width = str(rng.randint(1, 24)) if rng.random() < 0.3 else ""
            s.pieces.append("%" + ("-" if rng.random() < 0.3 else "") + width + "p")
            s.args.append(num(8, ptype, ["(uintptr_t)%dULL" % v for v in vals], "const void *"))
            offset += 8
        elif kind == "enum":
            vals = [rng.randint(0, 3) for _ in range(2)]
            s.pieces.append("%d")
            s.args.append(num(4, "enum rt_color", [str(v) for v in vals], "int"))
            offset += 4
        elif kind == "enumclass":
            vals = [rng.randint(-128, 127) for _ in range(2)]
            s.pieces.append("%hhd")
            s.args.append(num(1, "rt_side", [str(v) for v in vals], "signed char"))
            offset += 1
        else:  # strings
            star = kind == "starstr"
            n = [string_len_near_bound(offset + (4 if star else 0)) for _ in range(2)]
            strs = [rand_text(k) for k in n]
            prec = [None, None]
            form = kind
            if kind in ("str", "starstr"):
                form = rng.choice(["lit", "array", "ptr", "guard"])
            if star and form == "guard":
                # no NUL before the guard page: a precision past the buffer would read into it
                prec = [rng.choice([0, min(3, len(x)), rng.randint(0, len(x)), len(x)]) for x in strs]
            elif star:
                prec = [rng.choice([-1, 0, 3, rng.randint(0, 500), len(x), len(x) + 5]) for x in strs]
            if star:
                s.args.append(num(4, "int", [str(p) for p in prec]))
                offset += 4
                s.pieces.append("%" + ("-" if rng.random() < 0.3 else "") + ".*s")
            else:
                r = rng.random()
                spec = ""
                if r < 0.2:
                    spec = ("-" if rng.random() < 0.5 else "") + str(rng.randint(1, 40))
                elif r < 0.3:
                    spec = "." + str(rng.randint(0, 50))
                s.pieces.append("%" + spec + "s")
            names = ["rt_s%d_%d_%d" % (idx, len(s.args), c) for c in range(2)]
            region = len(s.args)  # a guard page of its own per argument
            if form == "lit":
                exprs = [c_lit(x) for x in strs]
            elif form == "array":
                for nm, x in zip(names, strs):
                    s.decls.append("static char %s[] = %s;" % (nm, c_lit(x)))
                exprs = names
            elif form == "ptr":
                for nm, x in zip(names, strs):
                    s.decls.append("static const char *const %s = %s;" % (nm, c_lit(x)))
                exprs = names
            elif form == "guard":
                # a C string's NUL 0 to 63 bytes before the guard page; a %.*s buffer ends at it
                exprs = ["rt_guard(%d, %d, %s, %d, %d)" % (region, 0 if star else rng.randint(0, 63), c_lit(x), len(x),
                                                           0 if star else 1) for x in strs]
            elif form == "cxxstr":
                exprs = ["std::string(%s)" % c_lit(x) for x in strs]
            elif form == "cxxview":
                # a view into a longer buffer: read to its size, never to the NUL
                exprs = ["std::string_view(%s, %d)" % (c_lit(x + "TAIL"), len(x)) for x in strs]
                if rng.random() < 0.5:  # or one that ends at a guard page
                    exprs = ["std::string_view(rt_guard(%d, 0, %s, %d, 0), %d)" % (region, c_lit(x), len(x), len(x))
                             for x in strs]
            else:  # cxxcstr: the pointer of a temporary, alive until the call's full-expression ends
                exprs = ["std::string(%s).c_str()" % c_lit(x) for x in strs]
            s.args.append(dict(kind="str", width=None, exprs=exprs, strings=strs, prec=prec))
            stored = [len(x) if p is None or p < 0 else min(p, len(x)) for x, p in zip(strs, prec)]
            offset += 2 + max(stored)
    return s


def cut_strings(site, call):
    """The stored string of each string argument of one call, and whether the record is truncated."""
    fixed = sum(2 if a["kind"] == "str" else a["width"] for a in site.args)
    room = MAX_PAYLOAD - fixed
    want = {}
    for i, a in enumerate(site.args):
        if a["kind"] == "str":
            x, p = a["strings"][call], a["prec"][call]
            want[i] = len(x) if p is None or p < 0 else min(p, len(x))
    want, truncated = share_out(want, room)
    out = {i: site.args[i]["strings"][call][:n] for i, n in want.items()}
    return out, truncated


def pick(cast, vals):
    """The value of call c of two, as C text."""
    v0, v1 = vals
    return "%s(%s)" % (cast, v0) if v0 == v1 else "%s(c ? %s : %s)" % (cast, v1, v0)


def site_code(s):
    fmt = c_lit("".join(s.pieces))
    lines = ["static void rt_site_%d(int c)" % s.idx, "{"]
    log_args, exp_args = [], []
    cuts = [cut_strings(s, c) for c in range(2)]
    for i, a in enumerate(s.args):
        if a["kind"] == "num":
            # the cast outside the conditional: a conditional promotes a char or a short to int
            log_args.append(pick("(%s)" % a["ctype"], a["vals"]))
            exp_args.append(pick("(%s)" % a["etype"], a["evals"]))
            continue
        e0, e1 = a["exprs"]
        log_args.append(e0 if e0 == e1 else "(c ? %s : %s)" % (e1, e0))
        exp_args.append(pick("", [c_lit(cuts[0][0][i]), c_lit(cuts[1][0][i])]))
    sep = ", " if s.args else ""
    lines.append("    SHMLOG_INFO(%s%s%s);" % (fmt, sep, ", ".join(log_args)))
    lines.append("    rt_expect(c ? %d : %d, %s%s%s);" % (int(cuts[1][1]), int(cuts[0][1]), fmt, sep, ", ".join(exp_args)))
    lines.append("}")
    return s.decls + lines


def sweep_code():
    """Lengths 0..MAX_PAYLOAD+40 (each below 600 and near the bound, a stride of 37 between) of a C string
    ending at every offset 0..63 before a guard page, and of
    a %.*s buffer (C++ also a view) without a NUL ending at one; the room each leaves is the generator's."""
    longest = MAX_PAYLOAD + 40
    room_c = MAX_PAYLOAD - 4 - 4 - 2  # two unsigned, the string's header
    room_p = MAX_PAYLOAD - 4 - 4 - 2  # an unsigned, the precision, the string's header
    room_v = MAX_PAYLOAD - 4 - 2
    text = rand_text(longest)
    lines = [
        "static void rt_sweep(void)",
        "{",
        "    static const char text[] = %s;" % c_lit(text),
        # every length near the start and the bound, a stride between: the ring holds them all
        "    for (unsigned len = 0; len <= %du; len += len < 600u || len + 80u >= %du ? 1u : 37u) {" % (longest, room_c),
        "        for (unsigned gap = 0; gap < 64u; gap++) {",
        "            const char *s = rt_guard(%d, gap, text, len, 1);" % MAX_ARGS,
        '            SHMLOG_INFO("g:%u:%u %s", len, gap, s);',
        '            rt_expect(len > %du, "g:%%u:%%u %%.*s", len, gap, (int)(len > %du ? %du : len), s);'
        % (room_c, room_c, room_c),
        "        }",
        "        const char *b = rt_guard(%d, 0, text, len, 0);" % MAX_ARGS,
        '        SHMLOG_INFO("p:%u %.*s", len, (int)len, b);',
        '        rt_expect(len > %du, "p:%%u %%.*s", len, (int)(len > %du ? %du : len), b);' % (room_p, room_p, room_p),
    ]
    if cxx:
        lines += [
            '        SHMLOG_INFO("v:%u %s", len, std::string_view(b, len));',
            '        rt_expect(len > %du, "v:%%u %%.*s", len, (int)(len > %du ? %du : len), b);' % (room_v, room_v, room_v),
        ]
    return lines + ["    }", "}"]


def main():
    os.makedirs(outdir, exist_ok=True)
    ext = "cpp" if cxx else "c"
    sites = [gen_site(i) for i in range(nsites)]
    prologue = [
        "/* generated by tests/roundtrip_gen.py: do not edit */",
        "#include <stdbool.h>" if not cxx else "#include <string>",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "#include \"shmlog.h\"",
        ("extern \"C\" " if cxx else "") + "void rt_expect(int truncated, const char *fmt, ...) __attribute__((format(printf, 2, 3)));",
        ("extern \"C\" " if cxx else "") + "const char *rt_guard(unsigned region, unsigned gap, const char *text, unsigned len, int nul);",
        "enum rt_color { RT_RED, RT_GREEN, RT_BLUE, RT_GREY };",
        "enum class rt_side : signed char { buy = 1, sell = -1 };" if cxx else "",
    ]
    if cxx:
        prologue.insert(0, "#include <string_view>")
    per = (nsites + parts - 1) // parts
    for k in range(parts):
        body = list(prologue)
        mine = sites[k * per:(k + 1) * per]
        for s in mine:
            body += site_code(s)
        body.append("void rt_part_%d(int c);" % k if not cxx else 'extern "C" void rt_part_%d(int c);' % k)
        if k == 0:
            body += sweep_code()
        body.append("void rt_part_%d(int c)" % k)
        body.append("{")
        if k == 0:
            body.append("    if (!c)")
            body.append("        rt_sweep();")
        for s in mine:
            body.append("    rt_site_%d(c);" % s.idx)
        body.append("}")
        with open(os.path.join(outdir, "part%d.%s" % (k, ext)), "w") as f:
            f.write("\n".join(body) + "\n")
    decl = "".join(("extern \"C\" " if cxx else "") + "void rt_part_%d(int c);\n" % k for k in range(parts))
    calls = "".join("        rt_part_%d(c);\n" % k for k in range(parts))
    with open(os.path.join(outdir, "main." + ext), "w") as f:
        f.write(MAIN.replace("@DECL@", decl).replace("@CALLS@", calls).replace("@EXTERN@", "extern \"C\" " if cxx else "")
                .replace("@REGIONS@", str(MAX_ARGS + 1)))


MAIN = r"""/* generated by tests/roundtrip_gen.py: do not edit */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define SHMLOG_IMPLEMENTATION
#include "shmlog.h"

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

@DECL@
static FILE *rt_out;

/* The call as libc renders it: one line, its truncation flag first. */
@EXTERN@void rt_expect(int truncated, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
@EXTERN@void rt_expect(int truncated, const char *fmt, ...)
{
    static char buf[1 << 16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(rt_out, "%d %s\n", truncated, buf);
}

/* len bytes of text, then a NUL if nul, copied to end gap bytes before a
 * PROT_NONE page after three readable ones (one per region, the argument's index, so the strings of one
 * call do not overwrite each other): any read past them in that page kills
 * the producer. */
@EXTERN@const char *rt_guard(unsigned region, unsigned gap, const char *text, unsigned len, int nul)
{
    static char *pages[@REGIONS@];
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), room = 3 * page; /* more than the argument bound */
    if (region >= @REGIONS@ || len + gap + 1 > room)
        abort();
    if (!pages[region]) {
        void *m = mmap(NULL, room + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED || mprotect((char *)m + room, page, PROT_NONE) != 0)
            abort();
        pages[region] = (char *)m;
    }
    char *end = pages[region] + room - gap;
    char *s = end - len - (nul ? 1 : 0);
    memcpy(s, text, len);
    if (nul)
        s[len] = 0;
    return s;
}

/* usage: prog EXPECTED_FILE CPU */
int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    rt_out = fopen(argv[1], "w");
    if (!rt_out)
        return 2;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(atoi(argv[2]), &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0)
        return 3;
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "roundtrip";
    cfg.ring_bytes = 128u << 20; /* holds every call: records of long strings take up to 76 slots */
    cfg.quiet = 1;
    if (shmlog_init(&cfg) != 0 || shmlog_thread_init() != 0)
        return 4;
    for (int c = 0; c < 2; c++) {
@CALLS@    }
    shmlog_shutdown();
    return fclose(rt_out) == 0 ? 0 : 5;
}
"""

main()
