#include <variant>
static void PROBE_FN() { BOTH("v={}", (std::variant<int, std::string>{std::string("cancel")})); }
