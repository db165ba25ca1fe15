#include <chrono>
static void PROBE_FN() { BOTH("wait={:%Q}", std::chrono::milliseconds(250)); }
