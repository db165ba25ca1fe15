#include <chrono>
static void PROBE_FN()
{
    const auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600 + 3725));
    BOTH("at={:%H:%M:%S}", t);
}
