static void PROBE_FN() { BOTH("flags={:b} {:#b}", 10u, 5); }
