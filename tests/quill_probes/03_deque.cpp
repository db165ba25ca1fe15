#include <deque>
static void PROBE_FN() { BOTH("queue={}", (std::deque<long>{7, -8})); }
