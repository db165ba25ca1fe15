/* Description: logs long string arguments from C++ (tests/test_long_args.sh reads them back): a 4 KiB
 * FIX-like message (SOH-separated tag=value pairs) as a std::string to a {} format and as a C string to a
 * printf format, whole; a std::string past the process's argument bound (cut and marked) with a string and a
 * number after it that stay whole; rate-limited loops whose interval is a std::chrono duration (milliseconds,
 * seconds, microseconds) or integer ms; a call of 32 arguments ("wide <message>"). Prints "want <message>" for each record as its text should read back,
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
    const std::string two = "two";
    SHMLOG_INFO("wide a1={} a2={} a3={} a4={:.2f} a5={} a6={} a7={} a8={} a9={} a10={} a11={} a12={} a13={} a14={} "
                "a15={} a16={} a17={} a18={} a19={} a20={} a21={} a22={} a23={} a24={} a25={} a26={} a27={} "
                "a28={} a29={} a30={} a31={} a32={}",
                1, two, static_cast<unsigned short>(3), 4.5, -5LL, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
                20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, "thirty-one", 32u);
    std::printf("wide wide a1=1 a2=two a3=3 a4=4.50 a5=-5");
    for (int i = 6; i <= 30; i++)
        std::printf(" a%d=%d", i, i);
    std::printf(" a31=thirty-one a32=32\n");
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
