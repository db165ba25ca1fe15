#include <chrono>
static void PROBE_FN()
{
    BOTH("at={}", std::chrono::system_clock::time_point(std::chrono::seconds(1767225600)));
}
