#include <vector>
static void PROBE_FN() { BOTH("grid={}", (std::vector<std::vector<int>>{{1, 2}, {}, {3}})); }
