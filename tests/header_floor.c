/* Description: a translation unit of a user program with SHMLOG_ACTIVE_LEVEL: the calls below it leave no code and evaluate nothing, even when the live level would let them through; built by tests/test_header.sh as C11 and as C++17, whose -O2 object must not hold their formats. */
#define SHMLOG_ACTIVE_LEVEL SHMLOG_LEVEL_INFO
#include <shmlog.h>

unsigned floor_calls(void);
int floor_evaluated;

static int evaluate(void) { return ++floor_evaluated; }

/* Three calls below INFO (compiled out) and one at INFO: returns the records written. */
unsigned floor_calls(void)
{
    SHMLOG_DEBUG("floor-removed debug=%d", evaluate());
    SHMLOG_TRACE_EVERY(1, "floor-removed trace=%d", evaluate());
    SHMLOG_LOG(SHMLOG_CAT_RISK, SHMLOG_LEVEL_DEBUG, "floor-removed risk=%d", evaluate());
    SHMLOG_INFO("floor-kept info=%d", 1);
    return 1;
}
