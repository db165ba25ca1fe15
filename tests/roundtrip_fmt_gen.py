#!/usr/bin/env python3
"""Generates a producer of random {} call sites for the round trip against libfmt (tests/test_roundtrip.sh).

usage: roundtrip_fmt_gen.py SHMLOG_H SEED SITES OUTDIR [PARTS]

Writes OUTDIR/part<k>.cpp (PARTS files, so they compile in parallel) and OUTDIR/main.cpp. Each site is a
random {} format of 0 to 32 arguments over the scalar, string, chrono and SHMLOG_ENUM types, with every
spec fmt takes for them (fill and alignment, sign, #, 0, width, precision, their {} forms, the
presentation letters, chrono specs, positional indexes, named arguments, {{ and }}), called twice with
other values. Next to each log call the program formats the same call with fmt::format into its expected
line, "<truncated 0|1> <text>". Where a record must be cut, the generator works out the cut from the
layout shmlog(3) documents (strings that do not fit share the room: the shorter ones stay whole, the
longer ones get equal shares, tests/roundtrip_layout.py) and fmt::format is given the cut strings.
The generated code builds at -Wall -Wextra -Wpedantic -Wconversion -Wold-style-cast -Werror.
"""
import os
import random
import sys

from roundtrip_layout import read_layout, share_out

hdr_path, seed, nsites, outdir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
parts = int(sys.argv[5]) if len(sys.argv) > 5 else 4
rng = random.Random(seed)

# a record carries the bound of a process that does not set one (shmlog_config.arg_bytes)
layout = read_layout(hdr_path)
MAX_ARGS = layout["MAX_ARGS"]
MAX_PAYLOAD = layout["ARG_BYTES"]

# printable ASCII; braces doubled where they are written. No '%' in literal text: a printf conversion there
# makes the format printf (shmlog(3))
TEXT = [chr(c) for c in range(32, 127)]
LITERAL = [c for c in TEXT if c != "%"]
FILLS = [c for c in TEXT if c not in "{}:;"] + ["\u00b7", "\u2500"]
ENUM_NAMES = ["v%d" % k for k in range(40)]  # SHMLOG_ENUM of 40 names: more than the old bound of 16


def c_lit(s):
    out = []
    for ch in s:
        if ch in '\\"?':
            out.append("\\" + ch)
        elif ord(ch) > 126:
            out.extend("\\x%02x" % b for b in ch.encode())
            out.append('""')  # ends the escape
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def rand_text(n):
    return "".join(rng.choice(TEXT) for _ in range(n))


def braces(s):
    return s.replace("{", "{{").replace("}", "}}")


def fill_align(p=0.5, centre=True):
    if rng.random() >= p:
        return ""
    align = rng.choice("<>^" if centre else "<>")
    return (rng.choice(FILLS) if rng.random() < 0.6 else "") + align


def width(p=0.5):
    return str(rng.randint(1, 24)) if rng.random() < p else ""


INTS = [  # C++ type, bytes, signed
    ("signed char", 1, True), ("unsigned char", 1, False), ("short", 2, True), ("unsigned short", 2, False),
    ("int", 4, True), ("unsigned", 4, False), ("long long", 8, True), ("unsigned long long", 8, False),
    ("int64_t", 8, True), ("uint32_t", 4, False), ("int8_t", 1, True), ("uint16_t", 2, False),
]
DURATIONS = [  # C++ type, rep bytes
    ("std::chrono::nanoseconds", 8), ("std::chrono::microseconds", 8), ("std::chrono::milliseconds", 8),
    ("std::chrono::seconds", 8), ("std::chrono::minutes", 8), ("std::chrono::hours", 8),
    ("std::chrono::duration<int, std::milli>", 4), ("std::chrono::duration<double>", 8),
]
TP_SPECS = ["%Y-%m-%d", "%H:%M:%S", "%F %T", "%D", "%j", "%a %b %d %Y", "%I:%M %p", "%y%m%d", "%R", "%T",
            "%A %B %e", "%C %u %w", "at %H%%"]


def int_val(nbytes, signed):
    lo, hi = (-(1 << (8 * nbytes - 1)), (1 << (8 * nbytes - 1)) - 1) if signed else (0, (1 << (8 * nbytes)) - 1)
    r = rng.random()
    v = rng.choice([lo, hi, 0, 1, -1 if signed else 2]) if r < 0.2 else \
        rng.randint(max(lo, -1000), min(hi, 1000)) if r < 0.6 else rng.randint(lo, hi)
    if v == lo and signed:
        return "(%dLL - 1)" % (lo + 1)
    return "%d%s" % (v, "LL" if signed else "ULL")


def float_val(float_range=False):
    r = rng.random()
    if r < 0.1:
        return rng.choice(["0.0", "-0.0", "1.0", "-1.5", "0.1", "123456789.125"] +
                          ([] if float_range else ["1e300", "-1e-300", "5e-324"]))
    if r < 0.14:
        return rng.choice(["std::numeric_limits<double>::infinity()", "-std::numeric_limits<double>::infinity()"])
    if r < 0.55:
        return "%d.%02d" % (rng.randint(-100000, 100000), rng.randint(0, 99))
    return repr(rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-12, 12 if not float_range else 30))


class Arg:
    """One record argument: its payload bytes (None: a string), its C++ expressions per call (log and
    expected), the strings it holds per call."""

    def __init__(self, nbytes, log, exp=None, strings=None):
        self.nbytes, self.log, self.exp, self.strings = nbytes, log, exp or log, strings


def dyn_arg(lo, hi):
    v = [str(rng.randint(lo, hi)) for _ in range(2)]
    return Arg(4, ["int(%s)" % x for x in v])


def gen_placeholder(args, dyn_ok):
    """A placeholder's spec and its arguments (the value, then a {} width's and precision's; dyn_ok: the
    site's placeholders are automatic, so a {} in a spec takes the next argument)."""
    kind = rng.choice(["int", "int", "int", "bool", "char", "float", "double", "double", "str", "str", "cxxstr",
                       "view", "ptr", "enum", "enum", "dur", "dur", "tp"])
    extra = []

    def dyn_width(p=0.15):
        if dyn_ok and rng.random() < p:
            extra.append(dyn_arg(0, 20))
            return "{}"
        return width()

    if kind == "int":
        ctype, nb, signed = rng.choice(INTS)
        t = rng.choice(["", "d", "x", "X", "o", "b", "B", "", ""])
        sign = rng.choice(["", "", "+", "-", " "]) if signed else ""  # fmt refuses a sign on an unsigned
        alt = "#" if t and t != "d" and rng.random() < 0.4 else ""
        fa = fill_align()
        zero = "0" if not fa and rng.random() < 0.3 else ""
        w = dyn_width()
        spec = fa + sign + alt + zero + w + t
        val = Arg(nb, ["static_cast<%s>(%s)" % (ctype, int_val(nb, signed)) for _ in range(2)])
    elif kind == "bool":
        if rng.random() < 0.3:
            spec = fill_align() + width() + "d"
        else:
            spec = fill_align() + dyn_width() + rng.choice(["", "s"])
        val = Arg(1, [rng.choice(["true", "false"]) for _ in range(2)])
    elif kind == "char":
        if rng.random() < 0.3:
            spec = fill_align() + width() + rng.choice(["d", "x"])
        else:
            spec = fill_align() + dyn_width() + rng.choice(["", "c"])
        val = Arg(1, ["'%s'" % (c if c not in "'\\" else "\\" + c) for c in (rng.choice(TEXT) for _ in range(2))])
    elif kind in ("float", "double"):
        t = rng.choice(["", "", "e", "E", "f", "F", "g", "G"])
        sign = rng.choice(["", "", "+", "-", " "])
        alt = "#" if t and rng.random() < 0.2 else ""
        fa = fill_align()
        zero = "0" if not fa and rng.random() < 0.3 else ""
        prec = ""
        if rng.random() < (0.7 if t else 0.4):
            if dyn_ok and rng.random() < 0.2:
                extra.append(dyn_arg(0, 12))  # after a {} width's: added below in fmt's order
                prec = ".{}"
            else:
                prec = "." + str(rng.randint(0, 12))
        w = dyn_width()
        if w == "{}" and prec == ".{}":
            extra.reverse()  # the width's argument comes first
        spec = fa + sign + alt + zero + w + prec + t
        if kind == "float":  # in a float's range: a conversion out of it is undefined
            val = Arg(4, ["static_cast<float>(%s)" % float_val(float_range=True) for _ in range(2)])
        else:
            val = Arg(8, ["static_cast<double>(%s)" % float_val() for _ in range(2)])
    elif kind in ("str", "cxxstr", "view"):
        prec = ""
        if rng.random() < 0.3:
            if dyn_ok and rng.random() < 0.3:
                prec = ".{}"
            else:
                prec = "." + str(rng.randint(0, 40))
        w = dyn_width()
        if prec == ".{}":
            extra.append(dyn_arg(0, 60))
        spec = fill_align() + w + prec + rng.choice(["", "s"])
        r = rng.random()
        n = [rng.randint(0, 20) if r < 0.8 else rng.randint(100, MAX_PAYLOAD + 40) for _ in range(2)]
        strs = [rand_text(k) for k in n]
        wrap = {"str": "%s", "cxxstr": "std::string(%s)", "view": "std::string_view(%s)"}[kind]
        val = Arg(None, [wrap % c_lit(x) for x in strs], strings=strs)
    elif kind == "ptr":
        spec = fill_align() + width() + rng.choice(["", "p"])
        vals = [rng.choice(["nullptr", "reinterpret_cast<const void *>(uintptr_t{0x%x})" % rng.randint(1, 1 << 47)])
                for _ in range(2)]
        val = Arg(8, ["static_cast<const void *>(%s)" % v for v in vals])
    elif kind == "enum":
        # fmt is given the name (or, past the list, the number): a width with its side, which the two share
        spec = fill_align(1.0) + width(1.0) if rng.random() < 0.5 else ""
        vals = [rng.randint(0, len(ENUM_NAMES) + 3) for _ in range(2)]
        val = Arg(2, ["static_cast<rt_big>(%d)" % v for v in vals],
                  exp=[c_lit(ENUM_NAMES[v] if v < len(ENUM_NAMES) else str(v)) for v in vals])
    elif kind == "dur":
        ctype, nb = rng.choice(DURATIONS)
        floating = "double" in ctype
        r = rng.random()
        if r < 0.35:
            spec = ""
        elif r < 0.6:
            spec = fill_align(1.0) + width(1.0)
        elif floating:
            spec = rng.choice(["%Q", "%Q %q", "%q", ".%d" % rng.randint(0, 6)])
        else:
            spec = rng.choice(["%Q", "%Q%q", "%q:%Q", "%H:%M:%S", "%T", "%R", "%S", "%M"])
        if floating:
            vals = ["%d.%d" % (rng.randint(0, 100000), rng.randint(0, 999)) for _ in range(2)]
        else:
            neg_ok = "%" not in spec or spec in ("%Q", "%Q%q", "%q:%Q")
            vals = [str(rng.randint(-10 ** 6 if neg_ok else 0, 10 ** 12)) for _ in range(2)]
        val = Arg(nb, ["%s(%s)" % (ctype, v) for v in vals])
    else:  # a system_clock time point: whole seconds in fmt 9's text
        spec = "" if rng.random() < 0.4 else rng.choice(TP_SPECS)
        vals = [rng.randint(0, 4102444800) for _ in range(2)]
        ns = [rng.randint(0, 999999999) for _ in range(2)]
        val = Arg(8, ["std::chrono::system_clock::time_point(std::chrono::nanoseconds(%dLL))" % (v * 10 ** 9 + k)
                      for v, k in zip(vals, ns)])
    args.append(val)
    args.extend(extra)
    return spec


def gen_site(idx):
    # more than 16 at most one site in ten, so that a run's compile time stays near what it was at 16
    target = rng.choice([0, 1, 2, 3, 4, 6, 8, 12, 16, rng.choice([17, MAX_ARGS, rng.randint(0, MAX_ARGS)])])
    pieces, args, named = ["s%d:" % idx], [], []
    # fmt's indexing is the site's: automatic, positional, or by name (a {} after a {name} would take fmt's
    # first automatic argument, which shmlog refuses)
    mode = rng.choice(["auto"] * 6 + ["positional", "named"])
    while len(args) < target:
        if rng.random() < 0.5:
            pieces.append(braces("".join(rng.choice(LITERAL) for _ in range(rng.randint(0, 6)))))
        pieces.append(" ")
        before = len(args)
        spec = gen_placeholder(args, mode == "auto")
        if len(args) > MAX_ARGS:
            del args[before:]
            break
        head = ""
        if mode == "positional":
            head = str(before)
        elif mode == "named":
            head = "n%d" % before
            named.append(before)
        pieces.append("{" + head + (":" + spec if spec else "") + "}")
    return "".join(pieces), args, named


def cut_strings(args, call):
    """The stored text of each string argument of one call, and whether the record is truncated."""
    fixed = sum(2 if a.nbytes is None else a.nbytes for a in args)
    room = MAX_PAYLOAD - fixed
    want = {i: len(a.strings[call]) for i, a in enumerate(args) if a.nbytes is None}
    stored, truncated = share_out(want, room)
    return {i: args[i].strings[call][:n] for i, n in stored.items()}, truncated


def pick(vals):
    return vals[0] if vals[0] == vals[1] else "(c ? %s : %s)" % (vals[1], vals[0])


def site_code(idx, fmt, args, named):
    cuts = [cut_strings(args, c) for c in range(2)]
    log, exp = [], []
    for i, a in enumerate(args):
        lv = pick(a.log)
        if a.nbytes is None:
            ev = pick(["std::string(%s)" % c_lit(cuts[c][0][i]) for c in range(2)])
        else:
            ev = pick(a.exp)
        if i in named:
            if rng.random() < 0.5:
                lv = 'shmlog::arg("n%d", %s)' % (i, lv)
            else:
                lv = '"n%d"_a = %s' % (i, lv)
            ev = 'fmt::arg("n%d", %s)' % (i, ev)
        log.append(lv)
        exp.append(ev)
    sep = ", " if args else ""
    trunc = "c ? %d : %d" % (int(cuts[1][1]), int(cuts[0][1]))
    return ["static void rt_site_%d(int c)" % idx, "{",
            "    SHMLOG_INFO(%s%s%s);" % (c_lit(fmt), sep, ", ".join(log)),
            "    rt_expect(%s, rt_fmt(%s%s%s));" % (trunc, c_lit(fmt), sep, ", ".join(exp)),
            "}"]


PROLOGUE = """/* generated by tests/roundtrip_fmt_gen.py: do not edit */
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "shmlog.h"

using namespace shmlog::literals;
void rt_expect(int truncated, const std::string &text);
/* fmt's text, or what fmt refused (which shows as a difference) */
template <typename... A> static std::string rt_fmt(const char *f, const A &...a)
{
    try {
        return fmt::vformat(f, fmt::make_format_args(a...));
    } catch (const fmt::format_error &e) {
        return std::string("<fmt refused: ") + e.what() + ">";
    }
}
enum class rt_big : short { %s };
SHMLOG_ENUM(rt_big, %s);
""" % (", ".join(ENUM_NAMES), ", ".join(ENUM_NAMES))

MAIN = r"""/* generated by tests/roundtrip_fmt_gen.py: do not edit */
#define SHMLOG_IMPLEMENTATION
#include "shmlog.h"

#include <sched.h>
#include <cstdio>
#include <cstdlib>
#include <string>

@DECL@
static FILE *rt_out;

/* The call as fmt::format makes it: one line, its truncation flag first. */
void rt_expect(int truncated, const std::string &text);
void rt_expect(int truncated, const std::string &text)
{
    std::fprintf(rt_out, "%d %s\n", truncated, text.c_str());
}

/* usage: prog EXPECTED_FILE CPU */
int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    rt_out = std::fopen(argv[1], "w");
    if (!rt_out)
        return 2;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(std::atoi(argv[2]), &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0)
        return 3;
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "roundtrip-fmt";
    cfg.ring_bytes = 32u << 20;
    cfg.quiet = 1;
    if (shmlog_init(&cfg) != 0 || shmlog_thread_init() != 0)
        return 4;
    for (int c = 0; c < 2; c++) {
@CALLS@    }
    shmlog_shutdown();
    return std::fclose(rt_out) == 0 ? 0 : 5;
}
"""


def main():
    os.makedirs(outdir, exist_ok=True)
    sites = [gen_site(i) for i in range(nsites)]
    per = (nsites + parts - 1) // parts
    for k in range(parts):
        body = [PROLOGUE]
        mine = list(range(k * per, min(nsites, (k + 1) * per)))
        for i in mine:
            body += site_code(i, *sites[i])
        body.append("void rt_part_%d(int c);" % k)
        body.append("void rt_part_%d(int c)\n{" % k)
        body += ["    rt_site_%d(c);" % i for i in mine]
        body.append("}")
        with open(os.path.join(outdir, "part%d.cpp" % k), "w") as f:
            f.write("\n".join(body) + "\n")
    decl = "".join("void rt_part_%d(int c);\n" % k for k in range(parts))
    calls = "".join("        rt_part_%d(c);\n" % k for k in range(parts))
    with open(os.path.join(outdir, "main.cpp"), "w") as f:
        f.write(MAIN.replace("@DECL@", decl).replace("@CALLS@", calls))


main()
