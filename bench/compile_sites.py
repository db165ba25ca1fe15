#!/usr/bin/env python3
"""Writes one source file of N log call sites in one function, as a program
logs: shmlog in C, shmlog in C++ with printf formats or with {} formats,
Quill, Quill with its format checked at compile time, or printf. Each site
has its own format (k<N> in front), so no two can be merged; the argument
shapes are the issue's (int, double, string) or the sample producer's
trading mix.

usage: compile_sites.py KIND SHAPES N OUT
  KIND   c | cxx_printf | cxx_braces | quill | quill_checked | printf
  SHAPES issue | mix"""
import sys

# A shape: its printf format after "k<N> ", its {} format, and its
# arguments, by the names of the function's parameters.
ISSUE = [("a=%d b=%.2f s=%s", "a={} b={:.2f} s={}", "i, d, s")]
MIX = [
    ("a=%d b=%.2f s=%s", "a={} b={:.2f} s={}", "i, d, s"),
    ("tick sym=%s bid=%.2f ask=%.2f bid_sz=%u ask_sz=%u", "tick sym={} bid={:.2f} ask={:.2f} bid_sz={} ask_sz={}",
     "s, d, d2, u, u2"),
    ("new order id=%llu sym=%s side=%s px=%.4f qty=%d tif=%c",
     "new order id={} sym={} side={} px={:.4f} qty={} tif={}", "id, s, s2, d, i, c"),
    ("ack id=%llu exch_id=%#lx latency_ns=%u", "ack id={} exch_id={:#x} latency_ns={}", "id, x, u"),
    ("fill id=%llu px=%.4f qty=%d venue=%s liquidity=%c", "fill id={} px={:.4f} qty={} venue={} liquidity={}",
     "id, d, i, s2, c"),
    ("position near limit sym=%s pos=%lld limit=%lld util=%.1f%%",
     "position near limit sym={} pos={} limit={} util={:.1f}%", "s, pos, lim, d2"),
    ("heartbeat seq=%llu queue_depth=%hu enabled=%d", "heartbeat seq={} queue_depth={} enabled={}", "id, h, i"),
]
C_PARAMS = ("int i, double d, double d2, unsigned u, unsigned u2, unsigned long long id, unsigned long x, "
            "long long pos, long long lim, char c, unsigned short h, const char *s, const char *s2")
CXX_PARAMS = C_PARAMS.replace("const char *s, const char *s2", "const std::string &s, const std::string &s2")

QUILL_HEAD = ('#include "quill/LogMacros.h"\n#include "quill/Logger.h"\n%s#include <string>\n\n'
              'void sites(quill::Logger *logger, %s)\n{\n')
HEADS = {
    "c": '#include "shmlog.h"\n\nvoid sites(%s)\n{\n' % C_PARAMS,
    "cxx_printf": '#include "shmlog.h"\n\nvoid sites(%s)\n{\n' % CXX_PARAMS,
    "cxx_braces": '#include "shmlog.h"\n\nvoid sites(%s)\n{\n' % CXX_PARAMS,
    "quill": QUILL_HEAD % ("", CXX_PARAMS),
    # Quill 11 checks no format at compile time (a {:d} of a string compiles); a user who wants what
    # shmlog's sites check writes the check beside the call, with its bundled fmt as fmt's own C++17 way
    "quill_checked": QUILL_HEAD % ('#include "quill/bundled/fmt/format.h"\n', CXX_PARAMS),
    "printf": '#include <stdio.h>\n\nvoid sites(%s)\n{\n' % C_PARAMS,
}


def call(kind, k, shape):
    printf_fmt, braces_fmt, args = shape
    if kind in ("c", "cxx_printf"):
        return '    SHMLOG_INFO("k%d %s", %s);\n' % (k, printf_fmt, args)
    if kind == "cxx_braces":
        return '    SHMLOG_INFO("k%d %s", %s);\n' % (k, braces_fmt, args)
    if kind == "quill":
        return '    LOG_INFO(logger, "k%d %s", %s);\n' % (k, braces_fmt, args)
    if kind == "quill_checked":  # the argument types as fmt::format deduces them: lvalue references
        types = ", ".join("decltype((%s))" % a.strip() for a in args.split(","))
        return ('    if (false) (void)fmtquill::format_string<%s>(FMTQUILL_STRING("k%d %s"));\n'
                % (types, k, braces_fmt) + call("quill", k, shape))
    return '    printf("k%d %s\\n", %s);\n' % (k, printf_fmt, args)


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in HEADS or sys.argv[2] not in ("issue", "mix"):
        sys.exit(__doc__)
    kind, shapes, n, out = sys.argv[1], ISSUE if sys.argv[2] == "issue" else MIX, int(sys.argv[3]), sys.argv[4]
    with open(out, "w", encoding="utf-8") as f:
        f.write(HEADS[kind])
        for k in range(n):
            f.write(call(kind, k, shapes[k % len(shapes)]))
        f.write("}\n")


main()
