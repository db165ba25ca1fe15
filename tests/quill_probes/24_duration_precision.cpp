#include <chrono>
static void PROBE_FN()
{
    const std::chrono::duration<double, std::milli> wait(2.25);
    BOTH("wait={:.1f}", wait);
}
