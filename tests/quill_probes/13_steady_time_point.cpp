#include <chrono>
/* fmt 9 prints no steady_clock time point: the duration since its epoch, as fmt prints that */
static void PROBE_FN()
{
    const auto t = std::chrono::steady_clock::time_point(std::chrono::nanoseconds(123456789));
    SHMLOG_INFO("t={}", t);
    WANT(fmt::format("t={}", t.time_since_epoch()));
}
