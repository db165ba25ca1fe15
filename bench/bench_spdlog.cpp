/*
 * bench_spdlog.cpp - the spdlog backends of the producer benchmark: an async
 * logger on a basic file sink, its one worker thread pinned to the drain cpu,
 * in the two overflow policies: block (the caller waits for queue space) and
 * overrun (the oldest queued message is replaced and counted).
 *
 * The queue holds as many messages as shmlog's default 8 MiB ring holds
 * records (131072), so both buffer the same number of calls. The file is
 * <out>/spdlog-<policy>.log; bench/compare.sh counts its lines afterwards.
 */
#include "bench.h"

#include <spdlog/async.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <thread>

namespace {

constexpr size_t queue_messages = 131072;
constexpr auto settle_limit = std::chrono::seconds(60);

std::shared_ptr<spdlog::details::thread_pool> pool;
std::shared_ptr<spdlog::async_logger> logger;

void pin_self(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        std::fprintf(stderr, "bench: spdlog worker: cannot pin to cpu %d\n", cpu);
}

int setup(const bench_opts *opts, bench_env *env, spdlog::async_overflow_policy policy, const char *policy_name)
{
    env->hugepages = -1;
    const std::string path = std::string(opts->out_dir ? opts->out_dir : "/tmp") + "/spdlog-" + policy_name + ".log";
    const int cpu = opts->drain_cpu;
    try {
        pool = std::make_shared<spdlog::details::thread_pool>(queue_messages, 1, [cpu] { pin_self(cpu); });
        auto sink = std::make_shared<spdlog::sinks::basic_file_sink_st>(path, true);
        logger = std::make_shared<spdlog::async_logger>("bench", sink, pool, policy);
        logger->set_level(spdlog::level::info);
    } catch (const std::exception &e) {
        std::snprintf(env->storage, sizeof env->storage, "spdlog: %s", e.what());
        logger.reset();
        pool.reset();
        return -EIO;
    }
    std::snprintf(env->storage, sizeof env->storage,
                  "spdlog %d.%d.%d async logger, policy %s, queue of %zu messages, 1 worker on cpu %d, "
                  "basic_file_sink_st %s, default pattern",
                  SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH, policy_name, queue_messages, cpu,
                  path.c_str());
    return 0;
}

int setup_block(const bench_opts *opts, bench_env *env)
{
    return setup(opts, env, spdlog::async_overflow_policy::block, "block");
}

int setup_overrun(const bench_opts *opts, bench_env *env)
{
    return setup(opts, env, spdlog::async_overflow_policy::overrun_oldest, "overrun");
}

void wait_queue_empty()
{
    const auto give_up = std::chrono::steady_clock::now() + settle_limit;
    while (pool->queue_size() != 0) {
        if (std::chrono::steady_clock::now() > give_up) {
            std::fprintf(stderr, "bench: spdlog queue not empty after %lld s\n",
                         static_cast<long long>(settle_limit.count()));
            return;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
}

void settle()
{
    wait_queue_empty();
    /* queue_size() drops before the worker has written the last message it
     * took; the flush request queued behind it ends that. */
    logger->flush();
    wait_queue_empty();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

uint64_t dropped()
{
    return pool->overrun_counter();
}

uint64_t unknown()
{
    return UINT64_MAX;
}

void teardown()
{
    settle();
    logger.reset();
    pool.reset(); /* joins the worker, which takes what is still queued */
}

} // namespace

BENCH_DEFINE_LOOPS(spdlog_args3, logger->info("order id={} px={} qty={}", bench_id, bench_px, bench_qty))
BENCH_DEFINE_LOOPS(spdlog_args3_str,
                   logger->info("order id={} px={} qty={} note={}", bench_id, bench_px, bench_qty, bench_note))

extern "C" const bench_backend bench_backend_spdlog_block = {
    "spdlog-block", setup_block, settle, dropped, unknown, teardown, nullptr,
    {BENCH_LOOPS(spdlog_args3), BENCH_LOOPS(spdlog_args3_str)},
};

extern "C" const bench_backend bench_backend_spdlog_overrun = {
    "spdlog-overrun", setup_overrun, settle, dropped, unknown, teardown, nullptr,
    {BENCH_LOOPS(spdlog_args3), BENCH_LOOPS(spdlog_args3_str)},
};
