static void PROBE_FN() { BOTH("[{:^8}] [{:-^9}]", 42, "mid"); }
