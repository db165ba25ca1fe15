static void PROBE_FN() { BOTH("{:#x} {:#X} {:#o}", 0, 0u, 0); }
