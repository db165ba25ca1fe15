/* Description: a user program of the installed shmlog.h: calls before shmlog_init, every macro, every argument type (in C++ also std::string, std::string_view and enum class), %.*s on a buffer without a NUL, the rate-limited macros, the whole API; with header_floor.c (SHMLOG_ACTIVE_LEVEL), built by tests/test_header.sh as C11 and as C++17 with -pedantic -Werror. */
#include <shmlog.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum side { BUY = 1, SELL = 2 };

#ifdef __cplusplus
#include <cstdint>
#include <string>
#include <string_view>
enum class venue : int { XNAS = 1, XNYS = 2 };
enum class flag8 : uint8_t { on = 1 };
static std::string make_name() { return std::string("temp") + "orary"; }
#endif

/* header_floor.c: calls below its SHMLOG_ACTIVE_LEVEL, and what they evaluated. */
unsigned floor_calls(void);
extern int floor_evaluated;

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s SEGMENT_DIR\n", argv[0]);
        return 2;
    }
    /* before init: written nowhere, counted, and said once on stderr */
    for (int k = 0; k < 3; k++)
        SHMLOG_WARN("too early k=%d", k);
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "header-test";
    cfg.dir = argv[1];
    cfg.ring_bytes = 1u << 16;
    cfg.quiet = 1;
    cfg.level = SHMLOG_LEVEL_TRACE;
    int rc = shmlog_init(&cfg);
    if (rc != 0) {
        fprintf(stderr, "shmlog_init: %d\n", rc);
        return 1;
    }
    if (shmlog_thread_init() != 0 || shmlog_dir() == NULL || strcmp(shmlog_dir(), argv[1]) != 0)
        return 1;

    bool flag = true;
    char c = 'x';
    signed char sc = -5;
    unsigned char uc = 200;
    short s = -300;
    unsigned short us = 60000;
    int i = -70000;
    unsigned u = 4000000000u;
    long l = -5000000000L;
    unsigned long ul = 10000000000UL;
    long long ll = -1LL;
    unsigned long long ull = 18446744073709551615ULL;
    float f = 1.5f;
    double d = 101.25;
    long double ld = 2.5L;
    char buf[16] = "mutable";
    const char *str = "const";
    const char *null_str = NULL;
    void *ptr = &i;
    enum side side = SELL;
    unsigned written = 0;

    SHMLOG_TRACE("no arguments at all");
    SHMLOG_DEBUG("bool=%d char=%c schar=%hhd uchar=%hhu", flag, c, sc, uc);
    SHMLOG_INFO("short=%hd ushort=%hu int=%d uint=%u", s, us, i, u);
    SHMLOG_WARN("long=%ld ulong=%lu ll=%lld ull=%llu", l, ul, ll, ull);
    SHMLOG_ERROR("float=%f double=%f ldouble=%Lf", f, d, ld);
    SHMLOG_FATAL("buf=%s str=%s null=%s literal=%s ptr=%p", buf, str, null_str, "lit", ptr);
    SHMLOG_LOG(SHMLOG_CAT_NONE, SHMLOG_LEVEL_INFO, "generic side=%d", (int)side);
    written += 7;
    SHMLOG_TRADE(INFO, "fill id=%lu px=%f qty=%d", ul, d, i);
    SHMLOG_ORDER(WARN, "reject id=%lu why=%s", ul, str);
    SHMLOG_MD(DEBUG, "tick bid=%f ask=%f", d, d + 0.25);
    SHMLOG_RISK(ERROR, "limit used=%u of %u", u, u);
    SHMLOG_PORTFOLIO(TRACE, "pos=%lld", ll);
    written += 5;
    SHMLOG_INFO("sixteen %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                13, 14, 15, 16);
    written += 1;
    SHMLOG_INFO("plain enum side=%d", side);
    /* %.*s: a fixed-width field without a NUL, read no further than 4 bytes */
    char sym[8];
    memcpy(sym, "ESZ6NQZ6", sizeof sym);
    SHMLOG_INFO("sym=%.*s width=%*.*s", 4, sym, 6, 2, sym + 4);
    written += 2;
    /* rate-limited: one record per second at most, whatever the loop does */
    for (int k = 0; k < 100; k++)
        SHMLOG_INFO_EVERY(1000, "every k=%d", k);
    for (int k = 0; k < 100; k++)
        SHMLOG_LOG_EVERY(SHMLOG_CAT_RISK, SHMLOG_LEVEL_WARN, 1000, "every without arguments");
    SHMLOG_ERROR_EVERY(1000, "fifteen %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d", 1, 2, 3, 4, 5, 6, 7, 8, 9,
                       10, 11, 12, 13, 14, 15);
    written += 3;
#ifdef __cplusplus
    {
        std::string name = "XNAS";
        const std::string &ref = name;
        std::string_view whole = "ESZ6NQZ6";
        std::string_view middle = whole.substr(2, 4); /* no NUL after it */
        std::string_view empty;
        venue v = venue::XNYS;
        flag8 f8 = flag8::on;
        SHMLOG_INFO("string=%s ref=%s view=%s empty=%s", name, ref, middle, empty);
        SHMLOG_INFO("temporary=%s", make_name());
        SHMLOG_INFO("venue=%d flag=%d", v, f8);
        SHMLOG_INFO("prec=%.*s null=%p", 2, name, nullptr);
        SHMLOG_WARN_EVERY(1000, "every name=%s venue=%d", name, v);
        written += 5;
    }
#endif
    if (floor_calls() != 1 || floor_evaluated != 0) {
        fprintf(stderr, "SHMLOG_ACTIVE_LEVEL: %d arguments evaluated\n", floor_evaluated);
        return 1;
    }
    written += 1;
    for (int k = 0; k < 100; k++)
        SHMLOG_INFO("loop k=%d", k);
    written += 100;

    shmlog_set_level(SHMLOG_LEVEL_ERROR);
    if (shmlog_get_level() != SHMLOG_LEVEL_ERROR)
        return 1;
    SHMLOG_INFO("filtered out");
    SHMLOG_ERROR("kept");
    written += 1;

    if (shmlog_dropped() != 0) {
        fprintf(stderr, "dropped %llu\n", (unsigned long long)shmlog_dropped());
        return 1;
    }
    shmlog_shutdown();
    printf("%u\n", written);
    return 0;
}
