#!/usr/bin/env python3
"""The host's clocks as the kernel's own sources say them, for tests to hold
shmlog's report against (not through shm/clock.c): the cpu flags, sysfs, and
adjtimex(2) (its return value TIME_ERROR = 5, STA_UNSYNC = 0x40 in status).

  host_clock.py            prints: tsc_invariant clocksource synchronised esterror_s maxerror_s
                           (1 or 0, a name, 1 or 0, seconds, seconds)
  host_clock.py step S [W S ...]
                           steps CLOCK_REALTIME by S seconds (root), then waits W
                           seconds and steps by the next S, and so on: the kernel adds
                           each at once (ADJ_SETOFFSET), so steps that sum to 0 leave
                           the clock where it would have been. One process for all
                           (starting python takes a second or more here)
  host_clock.py slew PPM PERIOD_S SECONDS
                           sets the kernel clock's frequency to +PPM, then -PPM, and so on,
                           each for PERIOD_S seconds, for SECONDS (root; at most 500 ppm,
                           the kernel's bound), then gives back the frequency it had
"""
import ctypes
import sys

ADJ_FREQUENCY = 0x0002
ADJ_SETOFFSET = 0x0100
ADJ_NANO = 0x2000


class Timex(ctypes.Structure):
    # struct timex of x86-64 (linux/timex.h), up to and with its time field; the rest is room.
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long), ("rest", ctypes.c_char * 256)]


libc = ctypes.CDLL(None, use_errno=True)
if len(sys.argv) >= 3 and sys.argv[1] == "step" and len(sys.argv) % 2 == 1:
    import time
    for i, arg in enumerate(sys.argv[2:]):
        if i % 2:
            time.sleep(float(arg))
            continue
        ns = round(float(arg) * 1e9)
        t = Timex(modes=ADJ_SETOFFSET | ADJ_NANO, tv_sec=ns // 1000000000, tv_usec=ns % 1000000000)
        if libc.adjtimex(ctypes.byref(t)) < 0:
            sys.exit("host_clock.py: adjtimex(ADJ_SETOFFSET): errno %d" % ctypes.get_errno())
    sys.exit(0)

if len(sys.argv) == 5 and sys.argv[1] == "slew":
    import time
    ppm, period, seconds = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    t = Timex()
    if libc.adjtimex(ctypes.byref(t)) < 0:
        sys.exit("host_clock.py: adjtimex: errno %d" % ctypes.get_errno())
    was = t.freq
    end, sign = time.monotonic() + seconds, 1
    try:
        while time.monotonic() < end:
            t = Timex(modes=ADJ_FREQUENCY, freq=round(sign * ppm * 65536))
            if libc.adjtimex(ctypes.byref(t)) < 0:
                sys.exit("host_clock.py: adjtimex(ADJ_FREQUENCY): errno %d" % ctypes.get_errno())
            sign = -sign
            time.sleep(period)
    finally:
        libc.adjtimex(ctypes.byref(Timex(modes=ADJ_FREQUENCY, freq=was)))
    sys.exit(0)

flags = next((line.split() for line in open("/proc/cpuinfo") if line.startswith("flags")), [])
invariant = int("constant_tsc" in flags and "nonstop_tsc" in flags)
with open("/sys/devices/system/clocksource/clocksource0/current_clocksource") as f:
    clocksource = f.read().strip()
t = Timex()
rc = libc.adjtimex(ctypes.byref(t))
synchronised = int(rc >= 0 and rc != 5 and not t.status & 0x40)
print(invariant, clocksource, synchronised, max(t.esterror, 0) / 1e6, max(t.maxerror, 0) / 1e6)
