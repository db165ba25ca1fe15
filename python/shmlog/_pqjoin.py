"""One Parquet file of row groups that separate writers encoded, each as a
Parquet file of its own: pyarrow's writer encodes a row group's columns on
one thread, so to_parquet() encodes several row groups side by side and
joins them here. A part's row group is its bytes between the leading magic
and the footer, copied as they are; the joined footer is the parts' footers'
row groups, their byte offsets moved to where the bytes land. The footer is
Thrift's compact protocol (the Parquet format's parquet.thrift), read into
fields kept in order and written back unchanged but for those offsets.
"""
from __future__ import annotations

import struct
from typing import Any, List, Tuple

MAGIC = b"PAR1"

# Compact protocol types.
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)

# parquet.thrift's field ids of what holds a byte offset into the file.
_FILE_NUM_ROWS, _FILE_ROW_GROUPS = 3, 4
_GROUP_COLUMNS, _GROUP_FILE_OFFSET, _GROUP_ORDINAL = 1, 5, 7
_CHUNK_FILE_OFFSET, _CHUNK_META, _CHUNK_OFFSET_INDEX, _CHUNK_COLUMN_INDEX = 2, 3, 4, 6
_META_OFFSETS = (9, 10, 11, 14)  # data_page_offset, index_page_offset, dictionary_page_offset, bloom_filter_offset

# A struct: its fields in order, each [field id, type, value].
Struct = List[List[Any]]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def byte(self) -> int:
        b = self.data[self.at]
        self.at += 1
        return b

    def varint(self) -> int:
        shift = value = 0
        while True:
            b = self.byte()
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def zigzag(self) -> int:
        v = self.varint()
        return (v >> 1) ^ -(v & 1)

    def value(self, t: int) -> Any:
        if t in (_TRUE, _FALSE):
            return None  # a field's bool is its type
        if t == _BYTE:
            return self.byte()
        if t in (_I16, _I32, _I64):
            return self.zigzag()
        if t == _DOUBLE:
            self.at += 8
            return self.data[self.at - 8:self.at]
        if t == _BINARY:
            n = self.varint()
            self.at += n
            return self.data[self.at - n:self.at]
        if t in (_LIST, _SET):
            head = self.byte()
            n, et = head >> 4, head & 0x0F
            if n == 15:
                n = self.varint()
            # A bool in a list is a byte of its own.
            return (et, [self.byte() if et in (_TRUE, _FALSE) else self.value(et) for _ in range(n)])
        if t == _MAP:
            n = self.varint()
            kv = self.byte() if n else 0
            kt, vt = kv >> 4, kv & 0x0F
            return (kt, vt, [(self.value(kt), self.value(vt)) for _ in range(n)])
        if t == _STRUCT:
            return self.struct()
        raise ValueError("shmlog: a Parquet footer of an unknown Thrift type %d" % t)

    def struct(self) -> Struct:
        fields: Struct = []
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return fields
            delta, t = head >> 4, head & 0x0F
            fid = last + delta if delta else self.zigzag()
            fields.append([fid, t, self.value(t)])
            last = fid


def _varint(out: bytearray, v: int) -> None:
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def _zigzag(out: bytearray, v: int) -> None:
    _varint(out, (v << 1) ^ (v >> 63))


def _write_value(out: bytearray, t: int, v: Any) -> None:
    if t in (_TRUE, _FALSE):
        return
    if t == _BYTE:
        out.append(v)
    elif t in (_I16, _I32, _I64):
        _zigzag(out, v)
    elif t == _DOUBLE:
        out += v
    elif t == _BINARY:
        _varint(out, len(v))
        out += v
    elif t in (_LIST, _SET):
        et, items = v
        if len(items) < 15:
            out.append(len(items) << 4 | et)
        else:
            out.append(0xF0 | et)
            _varint(out, len(items))
        for item in items:
            if et in (_TRUE, _FALSE):
                out.append(item)
            else:
                _write_value(out, et, item)
    elif t == _MAP:
        kt, vt, items = v
        _varint(out, len(items))
        if items:
            out.append(kt << 4 | vt)
        for k, x in items:
            _write_value(out, kt, k)
            _write_value(out, vt, x)
    elif t == _STRUCT:
        _write_struct(out, v)


def _write_struct(out: bytearray, fields: Struct) -> None:
    last = 0
    for fid, t, v in fields:
        if 0 < fid - last <= 15:
            out.append((fid - last) << 4 | t)
        else:
            out.append(t)
            _zigzag(out, fid)
        _write_value(out, t, v)
        last = fid
    out.append(0)


def _field(fields: Struct, fid: int) -> List[Any]:
    for f in fields:
        if f[0] == fid:
            return f
    raise ValueError("shmlog: a Parquet footer without field %d" % fid)


def _move(fields: Struct, fids: Tuple[int, ...], by: int) -> None:
    for f in fields:
        if f[0] in fids and f[2]:  # 0 is no offset (the magic is there): pyarrow's deprecated ColumnChunk.file_offset
            f[2] += by


def split(part: memoryview) -> Tuple[memoryview, Struct]:
    """A Parquet file's bytes between its leading magic and its footer (a view: the row groups are not
    copied), and its footer read."""
    if len(part) < 12 or part[:4] != MAGIC or part[-4:] != MAGIC:
        raise ValueError("shmlog: a Parquet part without its magic")
    n = struct.unpack("<I", part[-8:-4])[0]
    footer = _Reader(bytes(part[-8 - n:-8])).struct()
    for group in _field(footer, _FILE_ROW_GROUPS)[2][1]:
        for chunk in _field(group, _GROUP_COLUMNS)[2][1]:
            if any(f[0] in (_CHUNK_OFFSET_INDEX, _CHUNK_COLUMN_INDEX) for f in chunk):
                raise ValueError("shmlog: a Parquet part with a page index (its offsets are not moved)")
    return part[4:-8 - n], footer


class Joiner:
    """Writes parts' row groups to out (a writable binary file) in the order
    given, then the footer of them all."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.at = 0
        self.footer: Struct = []
        self.groups: List[Struct] = []
        self.rows = 0
        out.write(MAGIC)
        self.at = len(MAGIC)

    def add(self, part: Any) -> None:
        """part: a Parquet file's bytes (any object of the buffer protocol: a pyarrow.Buffer is not copied)."""
        body, footer = split(memoryview(part).cast("B"))
        by = self.at - len(MAGIC)  # the part's offsets count from its own start
        for group in _field(footer, _FILE_ROW_GROUPS)[2][1]:
            _move(group, (_GROUP_FILE_OFFSET,), by)
            for chunk in _field(group, _GROUP_COLUMNS)[2][1]:
                _move(chunk, (_CHUNK_FILE_OFFSET,), by)
                for f in chunk:
                    if f[0] == _CHUNK_META:
                        _move(f[2], _META_OFFSETS, by)
            for f in group:
                if f[0] == _GROUP_ORDINAL:
                    f[2] = len(self.groups)
            self.groups.append(group)
        self.rows += _field(footer, _FILE_NUM_ROWS)[2]
        if not self.footer:
            self.footer = footer
        self.out.write(body)
        self.at += len(body)

    def close(self) -> None:
        if not self.footer:
            raise ValueError("shmlog: no Parquet part to join")
        _field(self.footer, _FILE_NUM_ROWS)[2] = self.rows
        _field(self.footer, _FILE_ROW_GROUPS)[2] = (_STRUCT, self.groups)
        out = bytearray()
        _write_struct(out, self.footer)
        self.out.write(bytes(out) + struct.pack("<I", len(out)) + MAGIC)
