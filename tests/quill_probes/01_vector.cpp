#include <vector>
static void PROBE_FN() { BOTH("px={}", (std::vector<int>{1, 2, 3})); }
