static void PROBE_FN() { BOTH("{:x} {:#x} {:X}", -7, -255, static_cast<short>(-1)); }
