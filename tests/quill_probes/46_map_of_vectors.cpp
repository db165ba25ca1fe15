#include <map>
#include <vector>
static void PROBE_FN()
{
    BOTH("ladder={}", (std::map<std::string, std::vector<double>>{{"ask", {1.5, 1.75}}, {"bid", {1.25}}}));
}
