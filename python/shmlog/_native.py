"""ctypes binding of libshmlog-read (read/include/shmlog_read.h, API versions 1 and 2).

The structures below mirror the header field for field; python/tests/test_layout.py
compares their sizes and offsets with the C compiler's. Nothing here is
public: shmlog/__init__.py is the API.
"""
from __future__ import annotations

import codecs
import ctypes
import ctypes.util
import os
from typing import Dict, Optional, Tuple

API_VERSION = 1  # the SHMLOG_READ_VERSION read() needs
ARROW_VERSION = 2  # and the one the Arrow streams and time strings need
FUNC_VERSION = 3  # and the one whose Site has func
THREAD_VERSION = 3  # and the one thread names (the thread option and column) need
THREAD_COLUMN_VERSION = 4  # and the one whose columns carry them (read()'s events in batches)
MERGE_VERSION = 5  # and the one whose options have merge_bytes (left 0 here: the library's default)
INSTANCE_VERSION = 6  # and the one whose events and sources have the process instance
WHERE_VERSION = 7  # and the one whose options have where
HOST_VERSION = 8  # and the one whose options have host
THREADS_VERSION = 9  # and the one whose Arrow options have threads (an older library writes on one thread)
TRACE_VERSION = 9  # and the one whose options have trace (and events their trace)
HOSTNAME_VERSION = 10  # and the one whose events and sources have the producer's own hostname
TREES_VERSION = 11  # and the one whose Arrow options have trees (an older library gives C++ containers as text)
WIDE_VERSION = 12  # and the one whose rows have up to 32 values (SHMLOG_MAX_ARGS; 16 before)
LINES_VERSION = 13  # and the one whose options have threads (shmlog_read_lines()'s: not called here)
VIEWS_VERSION = 14  # and the one whose Arrow options have string_views (an older library gives utf8)
SONAME = "libshmlog-read.so.1"  # the library's ABI (soversion) this module binds

# enum shmlog_read_kind
RECORD, LOSS, EXIT, ERROR = 1, 2, 3, 4
# event.flags
TRUNCATED, CLAMPED, BACKTRACE, UNKNOWN_SITE, CORRUPT, TIME_UNCERTAIN = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
NOTE = 0x100  # an ERROR event that is a note, not damage
TRACE_SET = 0x40  # a thread's trace record (version 9)
# enum shmlog_read_type
T_BOOL, T_INT, T_UINT, T_FLOAT, T_STR, T_PTR, T_FLOAT32 = 1, 2, 3, 4, 5, 6, 7

UINT32_MAX = 0xFFFFFFFF
UINT64_MAX = 0xFFFFFFFFFFFFFFFF  # a columns row's thread: none


class Site(ctypes.Structure):
    """struct shmlog_read_site"""
    _fields_ = [
        ("id", ctypes.c_uint32),
        ("line", ctypes.c_uint32),
        ("file", ctypes.c_void_p),
        ("format", ctypes.c_void_p),
        ("level", ctypes.c_uint32),
        ("category", ctypes.c_uint32),
        ("nargs", ctypes.c_uint32),
        ("func", ctypes.c_void_p),
    ]


class _Value(ctypes.Union):
    _fields_ = [
        ("i", ctypes.c_int64),
        ("u", ctypes.c_uint64),
        ("f", ctypes.c_double),
        ("s", ctypes.c_void_p),
    ]


class Field(ctypes.Structure):
    """struct shmlog_read_field"""
    _fields_ = [
        ("name", ctypes.c_void_p),
        ("type", ctypes.c_uint32),
        ("str_len", ctypes.c_uint32),
        ("v", _Value),
    ]


class Event(ctypes.Structure):
    """struct shmlog_read_event"""
    _fields_ = [
        ("kind", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("ts_ns", ctypes.c_uint64),
        ("host", ctypes.c_void_p),
        ("app", ctypes.c_void_p),
        ("pid", ctypes.c_uint32),
        ("tid", ctypes.c_uint32),
        ("cpu", ctypes.c_uint32),
        ("level", ctypes.c_uint32),
        ("seq", ctypes.c_uint64),
        ("level_name", ctypes.c_void_p),
        ("category", ctypes.c_void_p),
        ("site", ctypes.POINTER(Site)),
        ("loss_reason", ctypes.c_void_p),
        ("loss_records", ctypes.c_uint64),
        ("loss_positions", ctypes.c_uint64),
        ("loss_first_seq", ctypes.c_uint64),
        ("exit_records", ctypes.c_uint64),
        ("exit_lost", ctypes.c_uint64),
        ("exit_how", ctypes.c_void_p),
        ("error", ctypes.c_void_p),
        ("proc_start", ctypes.c_uint64),
        ("site_id", ctypes.c_uint32),
        ("thread", ctypes.c_void_p),  # version 3: read only from a library that has it
        ("instance", ctypes.c_void_p),  # version 6: read only from a library that has it
        ("trace_hi", ctypes.c_uint64),  # version 9: read only from a library that has it
        ("trace_lo", ctypes.c_uint64),
        ("span", ctypes.c_void_p),
        ("hostname", ctypes.c_void_p),  # version 10: read only from a library that has it
    ]


class Options(ctypes.Structure):
    """struct shmlog_read_options"""
    _fields_ = [
        ("size", ctypes.c_size_t),
        ("min_level", ctypes.c_int),
        ("category", ctypes.c_char_p),
        ("app", ctypes.c_char_p),
        ("pid", ctypes.c_uint32),
        ("since_ns", ctypes.c_uint64),
        ("until_ns", ctypes.c_uint64),
        ("grep", ctypes.c_char_p),
        ("limit", ctypes.c_uint64),
        ("local_time", ctypes.c_int),
        ("thread", ctypes.c_char_p),  # version 3
        ("merge_bytes", ctypes.c_uint64),  # version 5
        ("where", ctypes.POINTER(ctypes.c_char_p)),  # version 7
        ("nwhere", ctypes.c_size_t),
        ("host", ctypes.c_char_p),  # version 8
        ("trace", ctypes.c_char_p),  # version 9
        ("threads", ctypes.c_uint32),  # version 13
    ]


class Columns(ctypes.Structure):
    """struct shmlog_read_columns"""
    _fields_ = [
        ("size", ctypes.c_size_t),
        ("cap", ctypes.c_size_t),
        ("ts_ns", ctypes.c_void_p),
        ("seq", ctypes.c_void_p),
        ("tid", ctypes.c_void_p),
        ("cpu", ctypes.c_void_p),
        ("source", ctypes.c_void_p),
        ("level", ctypes.c_void_p),
        ("category", ctypes.c_void_p),
        ("flags", ctypes.c_void_p),
        ("msg", ctypes.c_void_p),
        ("values_at", ctypes.c_void_p),
        ("text", ctypes.c_void_p),
        ("text_cap", ctypes.c_size_t),
        ("values", ctypes.c_void_p),
        ("values_cap", ctypes.c_size_t),
        ("thread", ctypes.c_void_p),  # version 4: filled only by a library that has it
    ]


class Source(ctypes.Structure):
    """struct shmlog_read_source"""
    _fields_ = [
        ("host", ctypes.c_void_p),
        ("app", ctypes.c_void_p),
        ("pid", ctypes.c_uint32),
        ("proc_start", ctypes.c_uint64),
        ("site_id", ctypes.c_uint32),
        ("site", ctypes.POINTER(Site)),
        ("nfields", ctypes.c_uint32),
        ("field_names", ctypes.POINTER(ctypes.c_void_p)),
        ("field_types", ctypes.POINTER(ctypes.c_uint32)),
        ("instance", ctypes.c_void_p),  # version 6
        ("hostname", ctypes.c_void_p),  # version 10
    ]


class ArrowOptions(ctypes.Structure):
    """struct shmlog_read_arrow_options"""
    _fields_ = [
        ("size", ctypes.c_size_t),
        ("what", ctypes.c_uint32),
        ("batch_rows", ctypes.c_uint32),
        ("fields", ctypes.c_int),
        ("message", ctypes.c_int),
        ("threads", ctypes.c_uint32),  # version 9
        ("trees", ctypes.c_int),  # version 11: value trees as list and map columns (an older library: text)
        ("string_views", ctypes.c_int),  # version 14: string columns as string views (an older library: utf8)
    ]


ARROW_RECORDS, ARROW_MARKERS = 1, 2


class ArrowArrayStream(ctypes.Structure):
    """struct ArrowArrayStream (the Arrow C stream interface)"""
    _fields_ = [
        ("get_schema", ctypes.c_void_p),
        ("get_next", ctypes.c_void_p),
        ("get_last_error", ctypes.c_void_p),
        ("release", ctypes.CFUNCTYPE(None, ctypes.c_void_p)),
        ("private_data", ctypes.c_void_p),
    ]


def options_init() -> Options:
    """SHMLOG_READ_OPTIONS_INIT"""
    o = Options()
    o.size = ctypes.sizeof(Options)
    o.min_level = -1
    return o


# ---- text ----
# Producer bytes are not guaranteed UTF-8. They are decoded as shmlog-dump's
# JSON shows them: every byte that does not start a valid UTF-8 sequence
# becomes one U+FFFD (Python's own "replace" replaces a whole invalid
# sequence with one, which differs for a cut multi-byte character).
ERRORS = "shmlog.replace"


def _one_per_byte(exc: UnicodeError) -> Tuple[str, int]:
    if isinstance(exc, UnicodeDecodeError):
        return "\ufffd", exc.start + 1
    raise exc


try:
    codecs.lookup_error(ERRORS)
except LookupError:
    codecs.register_error(ERRORS, _one_per_byte)

_string_at = ctypes.string_at


# decoded names by their bytes (text()'s cache)
TextCache = Dict[bytes, str]


def text(ptr: Optional[int], cache: TextCache) -> Optional[str]:
    """The NUL-terminated string at ptr as str (None for NULL); cache maps
    bytes to their str, so repeated names (hosts, apps) decode once."""
    if not ptr:
        return None
    b = _string_at(ptr)
    s = cache.get(b)
    if s is None:
        s = b.decode("utf-8", ERRORS)
        if len(cache) < 4096:
            cache[b] = s
    return s


def decode(b: bytes) -> str:
    return b.decode("utf-8", ERRORS)


def text_at(buf: memoryview, at: int) -> str:
    """The str at offset << 32 | length (an int) in buf, a memoryview of a
    batch's text: a message or a string value of shmlog_read_next_columns."""
    o = at >> 32
    return str(buf[o:o + (at & 0xFFFFFFFF)], "utf-8", ERRORS)


# The per-row arrays of struct shmlog_read_columns, and the type of their elements.
COLUMN_ARRAYS = {"ts_ns": "Q", "seq": "Q", "tid": "I", "cpu": "I", "source": "I", "level": "B", "category": "B",
                 "flags": "B", "msg": "Q", "values_at": "I", "thread": "Q"}


def columns(address: Dict[str, int], rows: int, text: int, text_cap: int, values: int, values_cap: int) -> Columns:
    """A struct shmlog_read_columns of rows rows over the caller's arrays:
    address maps each of COLUMN_ARRAYS to its array's address."""
    c = Columns()
    c.size = ctypes.sizeof(Columns)
    c.cap = rows
    for k in COLUMN_ARRAYS:
        setattr(c, k, address[k])
    c.text = text
    c.text_cap = text_cap
    c.values = values
    c.values_cap = values_cap
    return c


# ---- the library ----
_INSTALL_HINT = (
    "install it: the Debian package libshmlog-read1 (scripts/package.sh builds it), or `meson install` "
    "of a shmlog build (then run ldconfig), or set SHMLOG_READ_LIBRARY to the path of "
    "libshmlog-read.so.1 (in a build directory: build/read/libshmlog-read.so.1)")


class LibraryNotFound(ImportError):
    """libshmlog-read could not be loaded (or is too old)."""


_lib: Optional[ctypes.CDLL] = None
_v2_declared = False  # _declare_v2 ran on _lib


def _declare(lib: ctypes.CDLL) -> None:
    P = ctypes.POINTER
    lib.shmlog_read_version.argtypes = []
    lib.shmlog_read_version.restype = ctypes.c_int
    lib.shmlog_read_open.argtypes = [P(ctypes.c_void_p), P(ctypes.c_char_p), ctypes.c_size_t, P(Options),
                                     ctypes.c_char_p, ctypes.c_size_t]
    lib.shmlog_read_open.restype = ctypes.c_int
    lib.shmlog_read_next.argtypes = [ctypes.c_void_p, P(P(Event))]
    lib.shmlog_read_next.restype = ctypes.c_int
    lib.shmlog_read_message.argtypes = [ctypes.c_void_p, P(ctypes.c_size_t)]
    lib.shmlog_read_message.restype = ctypes.c_void_p
    lib.shmlog_read_fields.argtypes = [ctypes.c_void_p, P(P(Field))]
    lib.shmlog_read_fields.restype = ctypes.c_int
    lib.shmlog_read_line.argtypes = [ctypes.c_void_p, ctypes.c_int, P(ctypes.c_size_t)]
    lib.shmlog_read_line.restype = ctypes.c_void_p
    lib.shmlog_read_had_errors.argtypes = [ctypes.c_void_p]
    lib.shmlog_read_had_errors.restype = ctypes.c_int
    lib.shmlog_read_next_columns.argtypes = [ctypes.c_void_p, P(Columns)]
    lib.shmlog_read_next_columns.restype = ctypes.c_long
    lib.shmlog_read_source.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.shmlog_read_source.restype = P(Source)
    lib.shmlog_read_category_name.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32]
    lib.shmlog_read_category_name.restype = ctypes.c_void_p
    lib.shmlog_read_close.argtypes = [ctypes.c_void_p]
    lib.shmlog_read_close.restype = None


def _declare_v2(lib: ctypes.CDLL) -> None:
    P = ctypes.POINTER
    lib.shmlog_read_parse_time.argtypes = [ctypes.c_char_p, ctypes.c_int, P(ctypes.c_uint64), ctypes.c_char_p,
                                           ctypes.c_size_t]
    lib.shmlog_read_parse_time.restype = ctypes.c_int
    lib.shmlog_read_arrow.argtypes = [ctypes.c_void_p, P(ArrowOptions), ctypes.c_void_p, ctypes.c_char_p,
                                      ctypes.c_size_t]
    lib.shmlog_read_arrow.restype = ctypes.c_int
    lib.shmlog_read_stream_message.argtypes = [ctypes.c_void_p, ctypes.c_size_t, P(ctypes.c_int)]
    lib.shmlog_read_stream_message.restype = ctypes.c_void_p


def library_v2() -> ctypes.CDLL:
    """The loaded library, with the calls of API version 2 (Arrow streams, time strings)."""
    lib = library()
    if lib.shmlog_read_version() < ARROW_VERSION:
        raise LibraryNotFound("shmlog: the loaded libshmlog-read has API version %d; Arrow streams and time "
                              "strings need %d or later; %s" % (lib.shmlog_read_version(), ARROW_VERSION,
                                                                _INSTALL_HINT))
    global _v2_declared
    if not _v2_declared:
        _declare_v2(lib)
        _v2_declared = True
    return lib


def parse_time(value: str, what: str) -> int:
    """A time string in shmlog-dump's forms as ns since the epoch (UTC when
    it names no zone); ValueError with the forms otherwise."""
    lib = library_v2()
    ns = ctypes.c_uint64()
    err = ctypes.create_string_buffer(512)
    if lib.shmlog_read_parse_time(value.encode(), 0, ctypes.byref(ns), err, len(err)) != 0:
        raise ValueError("shmlog: %s=%s" % (what, decode(err.value)))
    return int(ns.value)


def library() -> ctypes.CDLL:
    """The loaded libshmlog-read: $SHMLOG_READ_LIBRARY when set (a path; no
    fallback when it fails), else the system's libshmlog-read.so.1."""
    global _lib
    if _lib is not None:
        return _lib
    env = os.environ.get("SHMLOG_READ_LIBRARY")
    if env:
        try:
            lib = ctypes.CDLL(env)
        except OSError as e:
            raise LibraryNotFound("shmlog: SHMLOG_READ_LIBRARY=%s cannot be loaded (%s); unset it or %s"
                                  % (env, e, _INSTALL_HINT)) from None
        where = env
    else:
        found: Optional[ctypes.CDLL] = None
        tried = []
        for name in (ctypes.util.find_library("shmlog-read"), SONAME):
            if not name or name in tried:
                continue
            tried.append(name)
            try:
                found = ctypes.CDLL(name)
                where = name
                break
            except OSError:
                pass
        if found is None:
            raise LibraryNotFound("shmlog: the C library libshmlog-read is not installed; " + _INSTALL_HINT)
        lib = found
    try:
        _declare(lib)
    except AttributeError as e:
        raise LibraryNotFound("shmlog: %s is not libshmlog-read (%s); %s" % (where, e, _INSTALL_HINT)) from None
    version: int = lib.shmlog_read_version()
    if version < API_VERSION:
        raise LibraryNotFound("shmlog: %s has API version %d, this package needs %d or later; %s"
                              % (where, version, API_VERSION, _INSTALL_HINT))
    _lib = lib
    return lib


def site_func(lib: ctypes.CDLL, site: Site, cache: TextCache) -> Optional[str]:
    """The function of a Site, or None (the files name none, or the library is older than func)."""
    if lib.shmlog_read_version() < FUNC_VERSION:
        return None
    return text(site.func, cache) or None
