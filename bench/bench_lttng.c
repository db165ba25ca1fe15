/*
 * bench_lttng.c - the LTTng-UST backend of the producer benchmark.
 *
 * The timed statement is the tracepoint of lttng_tp.h with the same fields as
 * shmlog's call. The session (channel in discard mode, consumer daemon pinned
 * to the other cpu) is made by bench/compare.sh before this process starts:
 * the provider registers with lttng-sessiond in its constructor and is enabled
 * by then. Consumption happens in lttng-consumerd, out of this process, so the
 * records delivered and discarded are counted from the trace afterwards
 * (babeltrace2), not here.
 */
#include "bench.h"
#include "lttng_tp.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

/* lttng-consumerd reads a sub-buffer once it is complete; a pause this long
 * lets it take what the previous workload left, so the next starts empty. */
#define SETTLE_NS (300u * 1000u * 1000u)

BENCH_DEFINE_LOOPS(lttng_args3, lttng_ust_tracepoint(bench, order, bench_id, bench_px, bench_qty))
BENCH_DEFINE_LOOPS(lttng_args3_str,
                   lttng_ust_tracepoint(bench, order_note, bench_id, bench_px, bench_qty, bench_note))

static int lttng_bench_setup(const struct bench_opts *opts, struct bench_env *env)
{
    (void)opts;
    env->hugepages = -1;
    /* A disabled tracepoint costs a load and a branch: timing it would say
     * nothing about LTTng, so no session means no run. */
    if (!lttng_ust_tracepoint_enabled(bench, order) || !lttng_ust_tracepoint_enabled(bench, order_note)) {
        snprintf(env->storage, sizeof env->storage,
                 "bench:order and bench:order_note are not enabled in a running session "
                 "(bench/compare.sh makes it)");
        return -ENOENT;
    }
    snprintf(env->storage, sizeof env->storage,
             "LTTng-UST tracepoints bench:order, bench:order_note; session, channel and lttng-consumerd "
             "made by the caller; delivered and discarded counted from the trace afterwards");
    return 0;
}

static void lttng_bench_settle(void)
{
    struct timespec nap = {0, SETTLE_NS};
    nanosleep(&nap, NULL);
}

static uint64_t lttng_bench_unknown(void)
{
    return UINT64_MAX;
}

static void lttng_bench_teardown(void)
{
}

const struct bench_backend bench_backend_lttng = {
    .name = "lttng",
    .setup = lttng_bench_setup,
    .settle = lttng_bench_settle,
    .dropped = lttng_bench_unknown,
    .delivered = lttng_bench_unknown,
    .teardown = lttng_bench_teardown,
    .loops = {
        [BENCH_ARGS3] = BENCH_LOOPS(lttng_args3),
        [BENCH_ARGS3_STR] = BENCH_LOOPS(lttng_args3_str),
    },
};
