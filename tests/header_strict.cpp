/* Description: every kind of call a C++ shop writes, for test_header.sh to compile with the warnings
 * such shops build with (-Wold-style-cast -Wuseless-cast -Wconversion -Wsign-conversion -Wshadow
 * -Wpedantic -Werror): what the macros expand to must add no warning of their own. */
#include <shmlog.h>

#include <cstdint>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace strict {

enum class side : std::uint8_t { buy = 1, sell = 2 };
enum plain_venue { xnas = 3, xnys = 7 };
SHMLOG_ENUM(side, buy, sell);
SHMLOG_ENUM(plain_venue, xnas, xnys);

/* described structs: nested, with every kind of member */
struct leg {
    std::uint8_t venue;
    float px;
    side s;
    char sym[8];
};
SHMLOG_STRUCT(leg, venue, px, s, sym);
struct order {
    unsigned long id;
    double px;
    std::int16_t qty;
    std::string account;
    const char *tag;
    std::optional<int> limit;
    std::chrono::microseconds wait;
    std::chrono::system_clock::time_point at;
    leg first;
    bool live;
};
SHMLOG_STRUCT(order, id, px, qty, account, tag, limit, wait, at, first, live);

std::string order_name(long id);
std::string order_name(long id)
{
    return "order-" + std::to_string(id);
}

int every_type(int n, const std::string &account, std::string_view venue, int runtime_level, int category);
int every_type(int n, const std::string &account, std::string_view venue, int runtime_level, int category)
{
    if (shmlog_thread_init("md-0") != 0 || shmlog_thread_name(account.c_str()) != 0 || shmlog_thread_init() != 0)
        return -1; /* thread names: the C++ overload, the C call, the pthread name */
    const bool flag = n > 0;
    const char c = 'c';
    const signed char sc = -3;
    const unsigned char uc = 250;
    const short s = -300;
    const unsigned short us = 60000;
    const unsigned u = 4000000000u;
    const long l = -5;
    const unsigned long ul = 5;
    const long long ll = -6;
    const unsigned long long ull = 6;
    const float f = 1.5f;
    const double d = 2.25;
    const long double ld = 3.5;
    const char *str = "text";
    char buf[16] = "buffer";
    const void *ptr = &n;
    const std::size_t size = account.size();

    SHMLOG_TRACE("no arguments");
    SHMLOG_DEBUG("bool=%d char=%c schar=%hhd uchar=%hhu", flag, c, sc, uc);
    SHMLOG_INFO("short=%hd ushort=%hu int=%d uint=%u", s, us, n, u);
    SHMLOG_WARN("long=%ld ulong=%lu ll=%lld ull=%llu size=%zu", l, ul, ll, ull, size);
    SHMLOG_ERROR("float=%f double=%f ldouble=%Lf", f, d, ld);
    SHMLOG_FATAL("buf=%s str=%s literal=%s ptr=%p null=%p", buf, str, "lit", ptr, nullptr);
    SHMLOG_INFO("account=%s venue=%s name=%s", account, venue, order_name(l).c_str());
    SHMLOG_INFO("side=%u venue=%d", side::sell, xnys);
    SHMLOG_INFO("described side={} venue={:>6}", side::buy, xnas);
    SHMLOG_INFO("at={} ms={:>32} printf-style next", std::chrono::system_clock::now(),
                std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()));
    SHMLOG_INFO("at=%lld", std::chrono::system_clock::now());
    const std::optional<int> maybe_qty = n, no_qty;
    SHMLOG_INFO("qty={} none={:>6} side={} at={} venue={}", maybe_qty, no_qty, std::optional<side>(side::buy),
                std::optional<std::chrono::system_clock::time_point>(), std::optional<std::string>(account));
    SHMLOG_INFO("qty=%d venue=%s", maybe_qty, std::optional<const char *>());
    const order o{static_cast<unsigned long>(n), 2.5, 10, account, "t", n, std::chrono::microseconds(n),
                  std::chrono::system_clock::now(), leg{3, 1.5f, side::sell, "ES"}, n > 0};
    SHMLOG_INFO("order={}", o);
    SHMLOG_INFO("order=%s", o);
    SHMLOG_INFO("leg=%s n=%d", o.first, n);
    SHMLOG_INFO("first %.*s of %s", n, account.c_str(), str);
    SHMLOG_LOG(category, runtime_level, "level and category known at run time n=%d", n);
    SHMLOG_LOG(SHMLOG_CAT_NONE, SHMLOG_LEVEL_WARN, "sixteen %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d", n, n,
               n, n, n, n, n, n, n, n, n, n, n, n, n, n);
    SHMLOG_ORDER(WARN, "reject id=%lu why=%s", ul, account);
    SHMLOG_TRADE(INFO, "fill px=%f qty=%d", d, n);
    SHMLOG_MD(DEBUG, "tick bid=%f ask=%f", d, d + 0.25);
    SHMLOG_RISK(ERROR, "limit %lld", ll);
    SHMLOG_PORTFOLIO(INFO, "pnl %f", d);
    SHMLOG_CAT(category, INFO, "own category n=%d", n);
    SHMLOG_WARN_EVERY(1000, "stale venue=%s", venue);
    SHMLOG_INFO_EVERY(10, "no arguments, rate-limited");
    /* {} formats: every kind of argument and spec */
    SHMLOG_INFO("fmt n={} px={:.2f} w={:>8} h={:#x} z={:08d} s={:<6} b={} d={} p={} c={} {{}}", n, d, n, u, n,
                account, n > 0, d, static_cast<const void *>(str), 'c');
    SHMLOG_ORDER(WARN, "fmt id={} why={} venue={:.3}", ul, account, venue);
    SHMLOG_INFO("fmt lambda={}", [&] { return n * 2; }());
    SHMLOG_WARN_EVERY(1000, "fmt stale venue={}", venue);
    SHMLOG_INFO("fmt no arguments {{}}");
    SHMLOG_INFO("fmt lat={} d={} printf-style next", std::chrono::microseconds(n), std::chrono::duration<double>(d));
    SHMLOG_INFO("lat=%ld", std::chrono::nanoseconds(ll));
    return n;
}

} // namespace strict
