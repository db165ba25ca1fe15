#include <optional>
struct ProbeLeg {
    int qty;
    double px;
};
SHMLOG_STRUCT(ProbeLeg, qty, px);
/* fmt has no text of a struct: SHMLOG_STRUCT's {name=value, ...} */
static void PROBE_FN()
{
    SHMLOG_INFO("leg={} none={}", (std::optional<ProbeLeg>{ProbeLeg{10, 2.5}}), (std::optional<ProbeLeg>{}));
    WANT("leg={qty=10, px=2.5} none=none");
}
