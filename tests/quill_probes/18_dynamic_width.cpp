static void PROBE_FN() { BOTH("[{:{}}]", 42, 8); }
