#include <array>
static void PROBE_FN() { BOTH("levels={}", (std::array<double, 3>{1.5, 2.25, 3.0})); }
