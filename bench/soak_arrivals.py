#!/usr/bin/env python3
"""When bytes reached a mirror's files: bench/soak.sh runs it beside `shmlog-dump mirror --follow`.

    soak_arrivals.py DIR OUT

Watches DIR with inotify and, for each file written, writes a line "NAME SIZE MTIME_NS" to OUT (NAME
without the .part that a file has while its host may add to it): the file held SIZE bytes at its last
write, at MTIME_NS (the kernel's time of that write, not when this process got round to looking, so a
watcher behind on a loaded machine reports no later arrival than the write's). A frame that ends at or
below SIZE was in the file by then. Ends at SIGTERM.
"""
import ctypes
import os
import signal
import struct
import sys

IN_MODIFY, IN_MOVED_TO, IN_CREATE = 0x2, 0x80, 0x100
PART = ".part"

directory, out_path = sys.argv[1], sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_CLOEXEC)
if fd < 0 or libc.inotify_add_watch(fd, directory.encode(), IN_MODIFY | IN_MOVED_TO | IN_CREATE) < 0:
    sys.exit(f"soak_arrivals.py: inotify on {directory}: {os.strerror(ctypes.get_errno())}")
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
last = {}
with open(out_path, "w") as out:
    while True:
        buf = os.read(fd, 1 << 16)
        names, at = set(), 0
        while at + 16 <= len(buf):
            _, _, _, n = struct.unpack_from("iIII", buf, at)
            names.add(buf[at + 16:at + 16 + n].rstrip(b"\0").decode(errors="replace"))
            at += 16 + n
        for name in names:
            key = name[:-len(PART)] if name.endswith(PART) else name
            if key.startswith("."):
                continue  # the mirror's state
            try:
                st = os.stat(os.path.join(directory, name))
            except FileNotFoundError:
                continue  # renamed since: its new name's event follows
            if last.get(key) != st.st_size:
                last[key] = st.st_size
                out.write(f"{key} {st.st_size} {st.st_mtime_ns}\n")
