#include <unordered_map>
static void PROBE_FN() { BOTH("pos={}", (std::unordered_map<int, long>{{5, -6}})); }
