#include <chrono>
static void PROBE_FN()
{
    SHMLOG_INFO_EVERY(std::chrono::milliseconds(100), "px={}", 1.5);
    WANT(fmt::format("px={} suppressed=0", 1.5));
}
