#include <optional>
/* fmt 9 has no std::optional: Quill's text, the value or none */
static void PROBE_FN()
{
    SHMLOG_INFO("tag={} none={}", (std::optional<int>{5}), (std::optional<int>{}));
    WANT("tag=5 none=none");
}
