/* Description: a producer for the clock tests (tests/test_clock_e2e.sh, bench/clock.sh): each record carries the CLOCK_REALTIME read just before its log call (w0) and the one read just after the previous call returned (w1 of the previous record), so a reader can check each record's time against the window [w0, w1] its call ran in; and CLOCK_MONOTONIC read before w0, so that it can tell a step of the wall clock from an error. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmlog.h"

/*
 * usage: clock_producer [--app NAME] [--dir D] [--count N] [--interval-us U]
 *                       [--seconds S] [--ring-bytes B]
 *
 * Logs "clock seq=%lu w0=%lu w1prev=%lu m0=%lu" until N records were logged or S
 * seconds passed (whichever comes first; at least one of them is needed),
 * pausing U microseconds between the starts of two calls (clock_nanosleep to
 * an absolute CLOCK_MONOTONIC deadline, outside the window of any call).
 * For record i: w0 = CLOCK_REALTIME read right before the call, w1prev = the
 * CLOCK_REALTIME read right after the call of record i-1 returned (0 for the
 * first record), so the true call time of record i lies in [w0_i, w1prev_{i+1}];
 * m0 = CLOCK_MONOTONIC read right before w0 (w0 - m0 moves only when the wall
 * clock is slewed or set).
 * After the last record it logs "clock end seq=%lu w1=%lu", which closes the
 * window of the last record. Nothing is pinned. The segment directory is --dir,
 * else $SHMLOG_DIR, else the library's default. SHMLOG_TEST_TSC_SKEW_PPM (read
 * by the library) makes the process's own TSC calibration wrong on purpose.
 * Prints "ready <pid>" once initialised and "done <records> <dropped>" at the end.
 */

#define EXIT_USAGE 2

static void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "clock_producer: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: clock_producer [--app NAME] [--dir D] [--count N] [--interval-us U] "
                    "[--seconds S] [--ring-bytes B]\n");
    exit(EXIT_USAGE);
}

static uint64_t parse_u64(const char *flag, const char *value)
{
    char *end;
    errno = 0;
    unsigned long long v = value ? strtoull(value, &end, 10) : 0;
    if (!value || errno || end == value || *end || value[0] == '-')
        usage_error("%s wants a non-negative integer, not '%s'", flag, value ? value : "");
    return v;
}

static double parse_seconds(const char *flag, const char *value)
{
    char *end;
    errno = 0;
    double v = value ? strtod(value, &end) : 0;
    if (!value || errno || end == value || *end || !(v > 0) || v > 1e7)
        usage_error("%s wants a positive number of seconds, not '%s'", flag, value ? value : "");
    return v;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t mono_ns)
{
    struct timespec ts = {(time_t)(mono_ns / 1000000000u), (long)(mono_ns % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

int main(int argc, char **argv)
{
    const char *app = "clock-producer";
    const char *dir = NULL;
    uint64_t count = 0, interval_us = 1000, ring_bytes = 0;
    double seconds = 0;

    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--app")) {
            if (!value || !*value)
                usage_error("--app wants a name");
            app = value;
        } else if (!strcmp(a, "--dir")) {
            if (!value || !*value)
                usage_error("--dir wants a directory");
            dir = value;
        } else if (!strcmp(a, "--count")) {
            count = parse_u64(a, value);
        } else if (!strcmp(a, "--interval-us")) {
            interval_us = parse_u64(a, value);
            if (interval_us > 3600u * 1000000u)
                usage_error("--interval-us wants at most an hour");
        } else if (!strcmp(a, "--seconds")) {
            seconds = parse_seconds(a, value);
        } else if (!strcmp(a, "--ring-bytes")) {
            ring_bytes = parse_u64(a, value);
            if (ring_bytes == 0 || (ring_bytes & (ring_bytes - 1)))
                usage_error("--ring-bytes wants a power of two");
        } else {
            usage_error("unknown option '%s'", a);
        }
    }
    if (count == 0 && seconds == 0)
        usage_error("--count or --seconds is needed");

    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = app;
    cfg.dir = dir;
    cfg.quiet = 1;
    if (ring_bytes)
        cfg.ring_bytes = (size_t)ring_bytes;
    int rc = shmlog_init(&cfg);
    if (rc < 0) {
        fprintf(stderr, "clock_producer: shmlog_init: %s\n", strerror(-rc));
        return 1;
    }
    rc = shmlog_thread_init();
    if (rc < 0) {
        fprintf(stderr, "clock_producer: shmlog_thread_init: %s\n", strerror(-rc));
        return 1;
    }
    printf("ready %ld\n", (long)getpid());
    fflush(stdout);

    const uint64_t start = clock_ns(CLOCK_MONOTONIC);
    const uint64_t end = seconds > 0 ? start + (uint64_t)(seconds * 1e9) : UINT64_MAX;
    const uint64_t interval_ns = interval_us * 1000u;
    uint64_t next = start;
    unsigned long seq = 0, w1prev = 0;
    for (;;) {
        if (count && seq >= count)
            break;
        if (seq && clock_ns(CLOCK_MONOTONIC) >= end)
            break;
        unsigned long m0 = (unsigned long)clock_ns(CLOCK_MONOTONIC);
        unsigned long w0 = (unsigned long)clock_ns(CLOCK_REALTIME);
        SHMLOG_INFO("clock seq=%lu w0=%lu w1prev=%lu m0=%lu", seq, w0, w1prev, m0);
        w1prev = (unsigned long)clock_ns(CLOCK_REALTIME);
        seq++;
        if (interval_ns) {
            next += interval_ns;
            uint64_t now = clock_ns(CLOCK_MONOTONIC);
            if (next < now) /* late (preempted): start again from now, no burst to catch up */
                next = now;
            if (next >= end)
                break;
            sleep_until(next);
        }
    }
    /* Closes the window of the last clock record; not itself checked. */
    SHMLOG_INFO("clock end seq=%lu w1=%lu", seq, w1prev);
    uint64_t dropped = shmlog_dropped();
    shmlog_shutdown();
    printf("done %lu %" PRIu64 "\n", seq, dropped);
    return 0;
}
