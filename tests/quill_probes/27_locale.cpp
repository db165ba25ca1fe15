/* fmt's L with the default "C" locale the program starts in */
static void PROBE_FN() { BOTH("qty={:L}", 1234567); }
