"""The binding's ctypes structures and constants equal what the C compiler makes of shmlog_read.h: a C
program printing every size and offset, written from the binding's own field names (so a field the
header lacks fails to compile), against the same lines from ctypes."""
import ctypes
import os
import pathlib
import shutil
import subprocess
from typing import Any, List, Tuple

import pytest

from shmlog import _native as n

# SHMLOG_READ_<name> of the header, and the binding's constant
CONSTS = [("RECORD", "RECORD"), ("LOSS", "LOSS"), ("EXIT", "EXIT"), ("ERROR", "ERROR"), ("TRUNCATED", "TRUNCATED"),
          ("CLAMPED", "CLAMPED"), ("BACKTRACE", "BACKTRACE"), ("UNKNOWN_SITE", "UNKNOWN_SITE"), ("NOTE", "NOTE"),
          ("TIME_UNCERTAIN", "TIME_UNCERTAIN"),
          ("BOOL", "T_BOOL"), ("INT", "T_INT"), ("UINT", "T_UINT"), ("FLOAT", "T_FLOAT"), ("STR", "T_STR"),
          ("PTR", "T_PTR"), ("FLOAT32", "T_FLOAT32"), ("VERSION", "VIEWS_VERSION"),
          ("TRACE_SET", "TRACE_SET"),
          ("ARROW_RECORDS", "ARROW_RECORDS"),
          ("ARROW_MARKERS", "ARROW_MARKERS")]

# The C structs the binding mirrors, and its ctypes classes.
STRUCTS: List[Tuple[str, Any]] = [
    ("shmlog_read_site", n.Site), ("shmlog_read_field", n.Field), ("shmlog_read_event", n.Event),
    ("shmlog_read_options", n.Options), ("shmlog_read_arrow_options", n.ArrowOptions),
    ("shmlog_read_columns", n.Columns), ("ArrowArrayStream", n.ArrowArrayStream)]


def c_program() -> str:
    out = []
    for cname, cls in STRUCTS:
        out.append('printf("%s %%zu\\n", sizeof(struct %s));' % (cname, cname))
        for f in cls._fields_:
            out.append('printf("%s.%s %%zu %%zu\\n", offsetof(struct %s, %s), sizeof(((struct %s *)0)->%s));'
                       % (cname, f[0], cname, f[0], cname, f[0]))
    for f in n._Value._fields_:
        out.append('printf("v.%s %%zu %%zu\\n", offsetof(struct shmlog_read_field, v.%s) - '
                   'offsetof(struct shmlog_read_field, v), sizeof(((struct shmlog_read_field *)0)->v.%s));'
                   % (f[0], f[0], f[0]))
    for k, _ in CONSTS:
        out.append('printf("%s %%d\\n", (int)SHMLOG_READ_%s);' % (k, k))
    out.append('{ struct shmlog_read_options o = SHMLOG_READ_OPTIONS_INIT; printf("init %zu %d\\n", o.size, '
               'o.min_level); }')
    return "#include <stddef.h>\n#include <stdio.h>\n#include \"shmlog_read.h\"\nint main(void)\n{\n" + \
        "\n".join("    " + line for line in out) + "\n    return 0;\n}\n"


def ctypes_lines() -> List[str]:
    py = []
    for cname, cls in STRUCTS:
        py.append("%s %d" % (cname, ctypes.sizeof(cls)))
        for f in cls._fields_:
            d = getattr(cls, f[0])
            py.append("%s.%s %d %d" % (cname, f[0], d.offset, d.size))
    for f in n._Value._fields_:
        py.append("v.%s %d %d" % (f[0], getattr(n._Value, f[0]).offset, getattr(n._Value, f[0]).size))
    py += ["%s %d" % (c, getattr(n, attr)) for c, attr in CONSTS]
    o = n.options_init()
    py.append("init %d %d" % (o.size, o.min_level))
    return py


def test_ctypes_layout_equals_the_c_compiler(tmp_path: pathlib.Path) -> None:
    cc = os.environ.get("CC") or "cc"
    header_dir = os.environ.get("SHMLOG_TEST_HEADER_DIR", "")
    if not shutil.which(cc) or not os.path.isfile(os.path.join(header_dir, "shmlog_read.h")):
        pytest.skip("no %s or no shmlog_read.h in SHMLOG_TEST_HEADER_DIR (%r)" % (cc, header_dir))
    (tmp_path / "layout.c").write_text(c_program())
    built = subprocess.run([cc, "-std=c11", "-I" + header_dir, "-o", str(tmp_path / "layout"),
                            str(tmp_path / "layout.c")], capture_output=True, text=True)
    assert built.returncode == 0, "the layout program does not compile against shmlog_read.h (a field of the " \
        "binding the header lacks?):\n" + built.stderr
    c = [line for line in subprocess.run([str(tmp_path / "layout")], capture_output=True, text=True,
                                         check=True).stdout.split("\n") if line]
    assert ctypes_lines() == c
