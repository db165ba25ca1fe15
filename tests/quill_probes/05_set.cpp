#include <set>
static void PROBE_FN() { BOTH("ids={}", (std::set<unsigned>{3, 1, 2})); }
