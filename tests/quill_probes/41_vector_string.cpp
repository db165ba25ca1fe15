#include <vector>
static void PROBE_FN() { BOTH("syms={}", (std::vector<std::string>{"ESZ6", "say \"hi\"", "tab\t"})); }
