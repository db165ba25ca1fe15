#!/usr/bin/env python3
"""The host's clocks as the kernel's own sources say them, for tests to hold
shmlog's report against (not through shm/clock.c): the cpu flags, sysfs, and
adjtimex(2) (its return value TIME_ERROR = 5, STA_UNSYNC = 0x40 in status).
Prints one line: tsc_invariant clocksource synchronised esterror_s maxerror_s
(1 or 0, a name, 1 or 0, seconds, seconds)."""
import ctypes


class Timex(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("rest", ctypes.c_char * 256)]


flags = next((line.split() for line in open("/proc/cpuinfo") if line.startswith("flags")), [])
invariant = int("constant_tsc" in flags and "nonstop_tsc" in flags)
with open("/sys/devices/system/clocksource/clocksource0/current_clocksource") as f:
    clocksource = f.read().strip()
t = Timex()
rc = ctypes.CDLL(None).adjtimex(ctypes.byref(t))
synchronised = int(rc >= 0 and rc != 5 and not t.status & 0x40)
print(invariant, clocksource, synchronised, max(t.esterror, 0) / 1e6, max(t.maxerror, 0) / 1e6)
