#include <tuple>
static void PROBE_FN() { BOTH("fill={}", (std::tuple<int, double, std::string>{3, 0.5, "XNAS"})); }
