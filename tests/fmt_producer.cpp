/* Description: logs calls with {} formats (fmt's specs, every argument kind, positional indexes, escapes, a
 * rate-limited call, a category macro, a lambda and temporaries as arguments) and prints, for each, the
 * message fmt::format makes of the same format and arguments ("want <message>"), then "calls <n>" (how many
 * times the argument lambda ran), "where <message> <function>" for the calls made outside main, the format
 * and descriptor each of its call sites registered, as its meta segment (in $SHMLOG_DIR) holds them
 * ("site <format><TAB><descriptor>", in the table's order), and "done <dropped>" after shmlog_shutdown
 * (tests/test_fmt_cxx.sh reads them). */
#define SHMLOG_IMPLEMENTATION
#include "shmlog.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include <unistd.h>

/* The same call logged and formatted by fmt: the arguments are evaluated once,
 * for each of the two. */
#define BOTH(...)                                                                          \
    do {                                                                                   \
        SHMLOG_INFO(__VA_ARGS__);                                                          \
        std::printf("want %s\n", fmt::format(__VA_ARGS__).c_str());                        \
    } while (0)

/* Described enums: one scoped with values of its own, one plain in a namespace. */
enum class Side : short { Buy = 1, Sell = -2, Cross = 7 };
SHMLOG_ENUM(Side, Buy, Sell, Cross);
namespace venue {
enum Code : unsigned char { XNAS, XNYS = 200 };
SHMLOG_ENUM(Code, XNAS, XNYS);
} // namespace venue

/* Described structs: nested, with an enum, a string, an optional, a duration and a time point among the members. */
namespace trade {
struct Leg {
    unsigned char venue;
    double px;
};
SHMLOG_STRUCT(Leg, venue, px);
struct Order {
    unsigned long id;
    double px;
    int qty;
    Side side;
    std::string sym;
    std::optional<int> tag;
    std::chrono::milliseconds wait;
    Leg leg;
    bool live;
};
SHMLOG_STRUCT(Order, id, px, qty, side, sym, tag, wait, leg, live);
struct Stamp {
    const char *what;
    std::chrono::system_clock::time_point at;
    char venue[4]; /* filled to its end, no NUL: read up to its size */
    char next[4];
};
SHMLOG_STRUCT(Stamp, what, at, venue, next);
/* char prints as a character, the other one-byte integers as numbers, as they do as arguments */
struct Fill {
    char side;
    signed char sc;
    unsigned char uc;
    int8_t i8;
    uint8_t u8;
    std::optional<char> oc;
};
SHMLOG_STRUCT(Fill, side, sc, uc, i8, u8, oc);
} // namespace trade

/* "site <format>\t<descriptor>" for each site of this file in this process's meta segment, in its table's
 * order: what readers take the site's format and fields from. */
static void print_sites()
{
    char path[4300];
    const char *dir = std::getenv("SHMLOG_DIR");
    std::snprintf(path, sizeof path, "%s/fmt-cxx-%d.meta", dir ? dir : ".", static_cast<int>(getpid()));
    FILE *f = std::fopen(path, "rb");
    static char meta[8 << 20];
    const size_t n = f ? std::fread(meta, 1, sizeof meta, f) : 0;
    if (f)
        std::fclose(f);
    struct shmlog_meta m;
    if (n < sizeof m) {
        std::fprintf(stderr, "fmt_producer: cannot read %s\n", path);
        return;
    }
    std::memcpy(&m, meta, sizeof m);
    const char *file = "fmt_producer.cpp";
    for (uint32_t i = 0; i < m.site_count && m.sites_offset + (i + 1) * sizeof(struct shmlog_site) <= n; i++) {
        struct shmlog_site s;
        std::memcpy(&s, meta + m.sites_offset + i * sizeof s, sizeof s);
        if (s.file_len < std::strlen(file) || s.fmt_offset + s.fmt_len > n || s.file_offset + s.file_len > n ||
            s.desc_offset + s.desc_len > n ||
            std::memcmp(meta + s.file_offset + s.file_len - std::strlen(file), file, std::strlen(file)) != 0)
            continue;
        std::printf("site %.*s\t%.*s\n", static_cast<int>(s.fmt_len), meta + s.fmt_offset,
                    static_cast<int>(s.flags & SHMLOG_SITE_DESC ? s.desc_len : 0), meta + s.desc_offset);
    }
}

/* Calls from functions other than main: "where <message> <__func__>" says
 * what the record's function must be. */
static void log_from_named(int n)
{
    BOTH("named={}", n);
    std::printf("where named=%d %s\n", n, __func__);
}

struct Book {
    void add(int n)
    {
        BOTH("method={}", n);
        std::printf("where method=%d %s\n", n, __func__);
    }
};

template <typename T> static void log_from_template(T n)
{
    BOTH("template={}", n);
    std::printf("where template=%d %s\n", static_cast<int>(n), __func__);
}

int main()
{
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "fmt-cxx";
    cfg.quiet = 1;
    int rc = shmlog_init(&cfg);
    if (rc < 0) {
        std::fprintf(stderr, "fmt_producer: shmlog_init: %d\n", rc);
        return 1;
    }
    const std::string side = "Buy";
    const std::string_view venue = "XNAS";
    const char *cstr = "c-string";
    int qty = 10;
    double px = 101.255;
    BOTH("order px={:.2f} qty={:>8} side={:<6}| venue={}", px, qty, side, venue);
    BOTH("hex={:#x} HEX={:X} oct={:o} zero={:08d} plus={:+d} space={: d} left={:<5}|", 255, 255u, 8, -42, 7, 7, 3);
    BOTH("b={} f={} wide={:8}| right={:>6}|", true, false, false, true);
    BOTH("shortest {} {} {} {} {} {} {} {}", 1.5, 100.0, 1e20, 0.0001, 0.00001, 1.0 / 3, -0.0, 123456789012345.0);
    BOTH("f32={} f32={}", 0.1f, 16777216.0f);
    BOTH("float width={:>10}| left={:<10}|", 2.5, 2.5);
    BOTH("general={:.3} e={:e} E={:.2E} g={:g} fixed={:10.3f}|", 1234.5678, 1234.5678, 1234.5678, 0.5, 3.14159);
    BOTH("str={} sv={} cs={} cut={:.3} right={:>6}|", side, venue, cstr, std::string("abcdef"), side);
    BOTH("literal {{}} {{x}} 100% {}", 7);
    BOTH("pos {0} {1}", 1, 2);
    BOTH("u64={} i64={} u8={} i8={} u16={}", std::numeric_limits<uint64_t>::max(),
         std::numeric_limits<int64_t>::min(), uint8_t{200}, int8_t{-5}, uint16_t{65535});
    BOTH("char={} code={:d}", 'x', 'x');
    BOTH("ptr={} null={}", reinterpret_cast<void *>(uintptr_t{0x1234}), static_cast<void *>(nullptr));
    BOTH("tmp={}", std::string("abc") + "def");
    BOTH("no arguments {{}}");
    {
        /* durations as fmt prints them, the micro sign too */
        using namespace std::chrono_literals;
        SHMLOG_INFO("lat={} wait={} t={} m={} h={} n={} d={}", 250us, 3ms, 2s, 5min, 1h, 42ns,
                    std::chrono::duration<double>(1.5));
        std::string want = fmt::format("lat={} wait={} t={} m={} h={} n={} d={}", 250us, 3ms, 2s, 5min, 1h, 42ns,
                                       std::chrono::duration<double>(1.5));
        std::printf("want %s\n", want.c_str());
        SHMLOG_INFO("printf lat=%ld", std::chrono::microseconds(250));
        std::printf("want printf lat=250\n");
    }
    /* A printf conversion makes a format printf, braces and all; in a {}
     * format, %% is the percent sign a conversion letter follows. */
    SHMLOG_INFO("{\"px\":%.2f,\"n\":%d}", 1.5, 5);
    std::printf("want {\"px\":1.50,\"n\":5}\n");
    SHMLOG_INFO("done={}%% of {}", 5, 1.5);
    std::printf("want done=5%% of 1.5\n");
    /* An argument that is a lambda's call: evaluated once, in the log call. */
    int calls = 0;
    SHMLOG_INFO("lambda={}", [&] { return ++calls * 10; }());
    std::printf("want lambda=10\n");
    SHMLOG_ORDER(WARN, "id={} px={:.1f}", 7, 2.5);
    std::printf("want %s\n", fmt::format("id={} px={:.1f}", 7, 2.5).c_str());
    /* what printf has no words for: the readers print it by the spec the descriptor carries */
    BOTH("spec sfill={:*^9}| w={:{}}| p={:.{}f} b={:#b} neg={:x} zero={:#x} dur={:>8}| hms={:%H:%M:%S}", "ab", 7, 5,
         3.14159, 2, 5, -7, 0, std::chrono::milliseconds(3), std::chrono::seconds(3725));
    {
        /* named arguments name their fields */
        using namespace shmlog::literals;
        SHMLOG_INFO("named {npx:.2f} {nqty:>5}", shmlog::arg("npx", 2.5), "nqty"_a = 10);
        std::printf("want %s\n",
                    fmt::format("named {npx:.2f} {nqty:>5}", fmt::arg("npx", 2.5), fmt::arg("nqty", 10)).c_str());
    }
    SHMLOG_INFO_EVERY(1000, "every={}", 5);
    std::printf("want %s suppressed=0\n", fmt::format("every={}", 5).c_str());
    /* fmt prints no names for enums: the want lines say what the names give. */
    SHMLOG_INFO("enum eside={} evenue={} eright={:>6}| eleft={:<6}| eout={} ehex={:#x}", Side::Sell, venue::XNYS,
                Side::Buy, venue::XNAS, static_cast<Side>(9), Side::Cross);
    std::printf("want enum eside=Sell evenue=XNYS eright=   Buy| eleft=XNAS  | eout=9 ehex=0x7\n");
    SHMLOG_INFO("printf enum pside=%d pvenue=%u", Side::Cross, venue::XNAS);
    std::printf("want printf enum pside=Cross pvenue=XNAS\n");
    {
        /* system_clock time points print as fmt 9 prints them, in UTC (the field keeps the ns) */
        const std::chrono::system_clock::time_point at{std::chrono::nanoseconds(1767225600123456789LL)};
        int tcalls = 0;
        SHMLOG_INFO("at={} us={} right={:>32}| once={}", at,
                    std::chrono::time_point_cast<std::chrono::microseconds>(at), at, [&] {
                        ++tcalls;
                        return at + std::chrono::seconds(1);
                    }());
        std::printf("want at=2026-01-01 00:00:00 us=2026-01-01 00:00:00 "
                    "right=             2026-01-01 00:00:00| once=2026-01-01 00:00:01\n");
        SHMLOG_INFO("printf at=%lld", at);
        std::printf("want printf at=2026-01-01T00:00:00.123456789Z\n");
        std::printf("tcalls %d\n", tcalls);
    }
    {
        /* std::optional: its value, or none; fmt 9.1 formats no std::optional, so the want lines say it */
        const std::optional<int> oqty = 10, onone;
        const std::optional<std::string> oname = std::string("XNAS"), ononame;
        int ocalls = 0;
        SHMLOG_INFO("opt oqty={} onone={} opx={:.2f} oname={} ononame={} oright={:>6}| oleft={:<6}| after={}", oqty,
                    onone, std::optional<double>(2.5), oname, ononame, onone, oqty, 7);
        std::printf("want opt oqty=10 onone=none opx=2.50 oname=XNAS ononame=none oright=  none| oleft=10    | "
                    "after=7\n");
        const std::chrono::system_clock::time_point at{std::chrono::nanoseconds(1767225600123456789LL)};
        using namespace std::chrono_literals;
        SHMLOG_INFO("opt oside={} onoside={} oat={} onoat={} olat={} ob={} oonce={}", std::optional<Side>(Side::Sell),
                    std::optional<Side>(), std::optional<std::chrono::system_clock::time_point>(at),
                    std::optional<std::chrono::system_clock::time_point>(), std::optional<std::chrono::microseconds>(250us),
                    std::optional<bool>(true), [&]() -> std::optional<int> {
                        ++ocalls;
                        return std::nullopt;
                    }());
        std::printf("want opt oside=Sell onoside=none oat=2026-01-01 00:00:00 onoat=none olat=250\u00b5s "
                    "ob=true oonce=none\n");
        SHMLOG_INFO("printf opt pqty=%d pnone=%5d| pname=%s", oqty, onone, ononame);
        std::printf("want printf opt pqty=10 pnone= none| pname=none\n");
        std::printf("ocalls %d\n", ocalls);
    }
    {
        /* SHMLOG_STRUCT: {name=value, ...} with each member as fmt's {} prints it (the enum as its name, an
         * empty optional as none); the want lines are fmt::format of the members */
        const trade::Order o{7, 2.5, 10, Side::Sell, "AAPL", 5, std::chrono::milliseconds(3), {200, 1.25}, true};
        trade::Order none = o;
        none.tag.reset();
        none.sym = "a \"quoted\" sym";
        int scalls = 0;
        SHMLOG_INFO("struct order={} sonce={}", o, [&] {
            ++scalls;
            trade::Leg l;
            l.venue = 1;
            l.px = 0.1;
            return l;
        }());
        std::printf("want struct order=%s sonce=%s\n",
                    fmt::format("{{id={}, px={}, qty={}, side={}, sym={}, tag={}, wait={}, leg={{venue={}, px={}}}, "
                                "live={}}}", o.id, o.px, o.qty, "Sell", o.sym, *o.tag, o.wait, +o.leg.venue, o.leg.px,
                                o.live).c_str(),
                    fmt::format("{{venue={}, px={}}}", 1, 0.1).c_str());
        SHMLOG_INFO("printf struct empty=%s", none);
        std::printf("want printf struct empty=%s\n",
                    fmt::format("{{id={}, px={}, qty={}, side={}, sym={}, tag=none, wait={}, leg={{venue={}, px={}}}, "
                                "live={}}}", none.id, none.px, none.qty, "Sell", none.sym, none.wait, +none.leg.venue,
                                none.leg.px, none.live).c_str());
        const trade::Stamp st{"open", std::chrono::system_clock::time_point(std::chrono::nanoseconds(1767225600123456789LL)),
                              {'X', 'N', 'A', 'S'}, {'a', 'b', '\0', 'c'}};
        SHMLOG_INFO("stamp={} opt={} arr={}", st, std::optional<int>(), st.venue);
        std::printf("want stamp={what=open, at=2026-01-01T00:00:00.123456789Z, venue=XNAS, next=ab} opt=none arr=XNAS\n");
        const trade::Fill fill{'B', -3, 250, -5, 200, 'S'};
        trade::Fill nofill = fill;
        nofill.oc.reset();
        SHMLOG_INFO("fill={} nofill={}", fill, nofill);
        std::printf("want fill=%s nofill=%s\n",
                    fmt::format("{{side={}, sc={}, uc={}, i8={}, u8={}, oc={}}}", fill.side, fill.sc, fill.uc, fill.i8,
                                fill.u8, *fill.oc).c_str(),
                    fmt::format("{{side={}, sc={}, uc={}, i8={}, u8={}, oc=none}}", nofill.side, nofill.sc, nofill.uc,
                                nofill.i8, nofill.u8).c_str());
        std::printf("scalls %d\n", scalls);
    }
    log_from_named(1);
    Book{}.add(2);
    log_from_template(3);
    std::printf("calls %d\n", calls);
    print_sites();
    uint64_t dropped = shmlog_dropped();
    shmlog_shutdown();
    std::printf("done %llu\n", static_cast<unsigned long long>(dropped));
    return 0;
}
