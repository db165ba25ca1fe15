static void PROBE_FN() { BOTH("[{:*>8}] [{:_<6}]", 42, "ab"); }
