#include <utility>
static void PROBE_FN() { BOTH("leg={}", (std::pair<int, std::string>{7, "IOC"})); }
