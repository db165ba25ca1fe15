#include <chrono>
static void PROBE_FN() { BOTH("wait={:.1f}", std::chrono::duration<double, std::milli>(2.25)); }
