#include <chrono>
static void PROBE_FN() { BOTH("lat={}", std::chrono::microseconds(250)); }
