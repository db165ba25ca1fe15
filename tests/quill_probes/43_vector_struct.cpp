#include <vector>
struct ProbeFill {
    long id;
    std::string venue;
};
SHMLOG_STRUCT(ProbeFill, id, venue);
static void PROBE_FN()
{
    SHMLOG_INFO("fills={}", (std::vector<ProbeFill>{{1, "XNAS"}, {2, "BATS"}}));
    WANT("fills=[{id=1, venue=XNAS}, {id=2, venue=BATS}]");
}
