/* Description: logs long string arguments from C++ (tests/test_long_args.sh reads them back): a 4 KiB
 * FIX-like message (SOH-separated tag=value pairs) as a std::string to a {} format and as a C string to a
 * printf format, whole; a std::string past the process's argument bound (cut and marked) with a string and a
 * number after it that stay whole; rate-limited loops whose interval is a std::chrono duration (milliseconds,
 * seconds, microseconds) or integer ms. Prints "want <message>" for each record as its text should read back,
 * "calls <site> <n>" for each rate-limited loop, then "done <dropped>" after shmlog_shutdown. */
#define SHMLOG_IMPLEMENTATION
#include "shmlog.h"

#include <chrono>
#include <cstdio>
#include <string>

static std::string fix_message(std::size_t len, unsigned seed)
{
    std::string out = "8=FIX.4.4\0019=" + std::to_string(len) + "\00135=D\00149=SHMLOG\00156=VENUE\001";
    for (unsigned tag = 100; out.size() < len; tag++)
        out += std::to_string(tag) + "=" + std::to_string((seed * 7919u + tag * 31u) % 100000u) + "\001";
    out.resize(len);
    return out;
}

int main()
{
    shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "long-cxx";
    cfg.policy = SHMLOG_SPIN;
    if (shmlog_init(&cfg) != 0 || shmlog_thread_init() != 0)
        return 2;
    const std::string fix = fix_message(4096, 2);
    SHMLOG_INFO("fix={} n={}", fix, 42);
    std::printf("want fix=%s n=42\n", fix.c_str());
    SHMLOG_INFO("fix=%s n=%d", fix.c_str(), 43);
    std::printf("want fix=%s n=43\n", fix.c_str());
    const std::string big(20000, 'y');
    SHMLOG_INFO("big={} after={} n={}", big, "intact", 7);
    std::printf("cut big after=intact n=7\n");
    const int n = 100000;
    for (int i = 0; i < n; i++)
        SHMLOG_INFO_EVERY(std::chrono::milliseconds(100), "ms i={}", i);
    std::printf("calls ms %d\n", n);
    for (int i = 0; i < n; i++)
        SHMLOG_INFO_EVERY(std::chrono::seconds(1), "s i={}", i);
    std::printf("calls s %d\n", n);
    for (int i = 0; i < n; i++)
        SHMLOG_INFO_EVERY(std::chrono::microseconds(200), "us i={}", i);
    std::printf("calls us %d\n", n);
    for (int i = 0; i < n; i++)
        SHMLOG_INFO_EVERY(50, "int i=%d", i);
    std::printf("calls int %d\n", n);
    unsigned long long dropped = shmlog_dropped();
    shmlog_shutdown();
    std::printf("done %llu\n", dropped);
    return 0;
}
