static void PROBE_FN() { BOTH("px={:.{}f}", 3.14159, 3); }
