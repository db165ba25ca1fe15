static void PROBE_FN() { BOTH("flags={:#B}", 10u); }
