#include <map>
static void PROBE_FN() { BOTH("book={}", (std::map<std::string, int>{{"ask", 2}, {"bid", 1}})); }
