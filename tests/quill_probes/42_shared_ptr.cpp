#include <memory>
static void PROBE_FN()
{
    const auto px = std::make_shared<double>(1.5);
    SHMLOG_INFO("px={}", px);
    WANT(fmt::format("px={}", fmt::ptr(px.get())));
}
