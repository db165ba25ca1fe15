#include <list>
static void PROBE_FN() { BOTH("orders={}", (std::list<short>{-1, 2})); }
