/* bench_str40.c - the 40-character strings of the args3_str40 workload (bench.h),
 * one definition for every program that makes the benchmark's calls. */
#include "bench.h"

const char *const bench_str40[4] = {
    "venue=XNAS acct=ACC-000017 strat=momentum",
    "venue=XNYS acct=ACC-004242 strat=meanrev1",
    "venue=BATS acct=ACC-031337 strat=pairs_01",
    "venue=ARCX acct=ACC-000099 strat=mm_quote",
};
