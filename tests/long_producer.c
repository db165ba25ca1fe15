/* Description: logs long string arguments from C (tests/test_long_args.sh reads them back): a 4 KiB FIX-like
 * message (SOH-separated tag=value pairs) whole, a string past the process's argument bound (cut and marked)
 * with a string and a number after it that stay whole, and, with --wrap N, N long records through a small ring
 * (1024 slots, spin policy) that the collector drains while they are written. Prints "want <message>" for
 * each record as its text should read back (SOH as is), then "done <dropped>" after shmlog_shutdown. With
 * A call of 32 arguments prints "wide <message>".
 * --every N: SHMLOG_INFO_EVERY(50, ...) called N times in a loop, then "calls N".
 * usage: long_producer [--wrap N | --every N] */
#define SHMLOG_IMPLEMENTATION
#include "shmlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A FIX-like message of exactly len bytes: tag=value pairs, each ending in SOH, seeded by seed. */
static void fix_message(char *out, size_t len, unsigned seed)
{
    size_t n = (size_t)snprintf(out, len + 1, "8=FIX.4.4\0019=%zu\00135=D\00149=SHMLOG\00156=VENUE\001", len);
    for (unsigned tag = 100; n < len; tag++) {
        char pair[64];
        int k = snprintf(pair, sizeof pair, "%u=%u.%02u\001", tag, (seed * 7919u + tag * 31u) % 100000u, tag % 100u);
        size_t take = (size_t)k < len - n ? (size_t)k : len - n;
        memcpy(out + n, pair, take);
        n += take;
    }
    out[len] = 0;
}

int main(int argc, char **argv)
{
    long wrap = argc > 2 && strcmp(argv[1], "--wrap") == 0 ? atol(argv[2]) : 0;
    long every = argc > 2 && strcmp(argv[1], "--every") == 0 ? atol(argv[2]) : 0;
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "long-c";
    cfg.policy = SHMLOG_SPIN;
    cfg.ring_bytes = wrap ? 1024u * SHMLOG_RECORD_BYTES : 1u << 20;
    if (shmlog_init(&cfg) != 0 || shmlog_thread_init() != 0)
        return 2;
    static char fix[4097], big[20001];
    if (every) {
        for (long i = 0; i < every; i++)
            SHMLOG_INFO_EVERY(50, "tick i=%ld", i);
        printf("calls %ld\n", every);
    } else if (!wrap) {
        fix_message(fix, 4096, 1);
        SHMLOG_INFO("fix=%s n=%d", fix, 42);
        printf("want fix=%s n=42\n", fix);
        /* the most arguments a call takes (SHMLOG_MAX_ARGS): "wide <message>" */
#define WIDE_ARGS 1, "two", (unsigned short)3, 4.5, -5LL, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, \
                  21, 22, 23, 24, 25, 26, 27, 28, 29, 30, "thirty-one", 32u
#define WIDE_FMT "wide a1=%d a2=%s a3=%hu a4=%.2f a5=%lld a6=%d a7=%d a8=%d a9=%d a10=%d a11=%d a12=%d a13=%d " \
                 "a14=%d a15=%d a16=%d a17=%d a18=%d a19=%d a20=%d a21=%d a22=%d a23=%d a24=%d a25=%d a26=%d " \
                 "a27=%d a28=%d a29=%d a30=%d a31=%s a32=%u"
        SHMLOG_INFO(WIDE_FMT, WIDE_ARGS);
        printf("wide " WIDE_FMT "\n", WIDE_ARGS);
        memset(big, 'x', 20000);
        SHMLOG_INFO("big=%s after=%s n=%d", big, "intact", 7);
        printf("cut big after=intact n=7\n");
    } else {
        for (long i = 0; i < wrap; i++) {
            fix_message(fix, 1000 + (size_t)(i % 3000), (unsigned)i);
            SHMLOG_INFO("i=%ld fix=%s", i, fix);
            printf("want i=%ld fix=%s\n", i, fix);
        }
    }
    uint64_t dropped = shmlog_dropped();
    shmlog_shutdown();
    printf("done %llu\n", (unsigned long long)dropped);
    return 0;
}
