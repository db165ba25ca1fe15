#include <memory>
/* fmt 9 cannot format a smart pointer itself: fmt's text of the pointer it holds */
static void PROBE_FN()
{
    auto order = std::make_unique<int>(42);
    SHMLOG_INFO("order={}", order);
    WANT(fmt::format("order={}", fmt::ptr(order.get())));
}
