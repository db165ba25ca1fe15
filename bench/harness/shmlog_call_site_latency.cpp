// shmlog in Quill's public benchmark harness (odygrd/logger_benchmarks,
// benchmarks/call_site_latency): built into that harness by bench/peers.sh,
// against its call_site_latency_bench.h, beside the peers' own files.
//
// As a trading program would run it: the spin policy (a full ring waits, as
// the peers block), the segments where $SHMLOG_DIR says (bench/peers.sh puts
// them on hugepages and starts shmlog-collector on the backend cpu), each
// producer thread's ring made before its first timed call.
#include "call_site_latency_bench.h"

#define SHMLOG_IMPLEMENTATION
#include "shmlog.h"

#ifdef BENCH_MANY_SITES
#include "many_sites.h"
#endif

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

// What the harness logs per producer thread besides its timed calls:
// the warm-up line and the first call it leaves out of the figures, and in the many-sites case the first
// call of each site.
#ifdef BENCH_MANY_SITES
constexpr uint64_t untimed_calls_per_thread = 2 + many_sites::sites;
#else
constexpr uint64_t untimed_calls_per_thread = 2;
#endif

void shmlog_benchmark(std::vector<int32_t> thread_count_array, size_t num_iterations_per_thread)
{
  shmlog_config cfg;
  shmlog_config_init(&cfg);
  cfg.app = "peers-bench";
  cfg.policy = SHMLOG_SPIN;
  cfg.quiet = 1;
  if (int const err = shmlog_init(&cfg); err != 0)
  {
    std::fprintf(stderr, "shmlog_init in %s: %s\n", shmlog_dir() ? shmlog_dir() : "$SHMLOG_DIR", std::strerror(-err));
    std::exit(1);
  }

#if defined(BENCH_MANY_SITES)
#define MANY_SITES_LOG(N) SHMLOG_INFO("Logging site " #N " int: {}, int: {}, double: {}", i, j, d)
  auto log_func = [](uint64_t i, uint64_t j, double d) { MANY_SITES_SWITCH };
#elif defined(BENCH_INT_INT_DOUBLE)
  auto log_func = [](uint64_t i, uint64_t j, double d)
  { SHMLOG_INFO("Logging int: {}, int: {}, double: {}", i, j, d); };
#elif defined(BENCH_INT_INT_LARGESTR)
  auto log_func = [](uint64_t i, uint64_t j, std::string const& s)
  { SHMLOG_INFO("Logging int: {}, int: {}, string: {}", i, j, s); };
#else
  static_assert(false, "define BENCH_INT_INT_DOUBLE or BENCH_INT_INT_LARGESTR");
#endif

  // The thread is pinned by now: its cpu's ring is made here, and the second
  // lets the collector (busy polling the directory) take it, as the peers
  // that sleep give their backends a second.
  auto on_start = [&log_func]()
  {
    shmlog_thread_init();
    SHMLOG_INFO("Warm up");
#ifdef BENCH_MANY_SITES
    MANY_SITES_WARM(log_func);
#else
    (void)log_func;
#endif
    std::this_thread::sleep_for(std::chrono::seconds{1});
  };

  auto on_exit = []() {};

  uint64_t calls = 0;
  for (auto thread_count : thread_count_array)
  {
    run_benchmark("Logger: shmlog - Benchmark: Caller Thread Latency", thread_count, num_iterations_per_thread,
                  on_start, log_func, on_exit);
    calls += static_cast<uint64_t>(thread_count) * (num_iterations_per_thread * MESSAGES + untimed_calls_per_thread);
  }

  // bench/peers.sh checks these against what the collector wrote.
  std::printf("shmlog: records written %llu, dropped %llu\n", static_cast<unsigned long long>(calls),
              static_cast<unsigned long long>(shmlog_dropped()));
  shmlog_shutdown();
}

} // namespace

int main() { shmlog_benchmark(THREAD_LIST_COUNT, ITERATIONS); }
