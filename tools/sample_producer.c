/*
 * shmlog-sample - a small, realistic producer: threads logging a trading-like
 * mix (market data ticks, orders, fills, risk warnings, portfolio updates,
 * rejects with a string reason) through shmlog.h. Used by the README quick
 * start and by tests that need real segments.
 *
 *   shmlog-sample [--app NAME] [--count N] [--threads T] [--rate R] [--dir D]
 *
 * --count is the total number of log calls over all threads; --rate is the
 * total records per second (0: as fast as possible). Prints how many calls it
 * made and how many records were dropped, then exits 0.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shmlog.h"

#define EXIT_USAGE 2
#define MAX_THREADS 256

struct worker {
    pthread_t thread;
    unsigned index;
    uint64_t first; /* global sequence of this thread's first call */
    uint64_t count;
    double rate;    /* this thread's records per second; 0: unpaced */
    int init_error;
};

static void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "shmlog-sample: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'shmlog-sample --help')\n");
    exit(EXIT_USAGE);
}

static uint64_t parse_u64(const char *flag, const char *value, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = value ? strtoull(value, &end, 10) : 0;
    if (!value || errno || end == value || *end || value[0] == '-' || v > max)
        usage_error("%s wants a number up to %" PRIu64 ", not '%s'", flag, max, value ? value : "");
    return v;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps until t (monotonic ns); pacing happens between log calls, never in one. */
static void sleep_until(uint64_t t)
{
    struct timespec ts = {(time_t)(t / 1000000000u), (long)(t % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static const char *const symbols[] = {"AAPL", "MSFT", "ESZ6", "NQZ6", "EURUSD", "BTC-PERP", "TSLA", "SPY"};
static const char *const venues[] = {"XNAS", "XNYS", "CME", "EBS", "ARCA"};
static const char *const reject_reasons[] = {
    "price outside collar",
    "max order size exceeded",
    "self-trade prevention: resting order on the opposite side from the same account",
    "exchange throttle",
};

/* One log call of the mix, chosen by its global sequence number. */
static void log_one(uint64_t seq, uint64_t *rng)
{
    /* xorshift64: cheap, deterministic per thread */
    uint64_t x = *rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *rng = x;

    const char *sym = symbols[x % (sizeof symbols / sizeof symbols[0])];
    double mid = 100.0 + (double)(x % 100000) / 100.0;
    int qty = (int)((x >> 20) % 500) + 1;
    uint64_t order_id = 1000000 + seq;

    switch (seq % 16) {
    case 0: case 1: case 2: case 3: case 4: case 5:
        SHMLOG_MD(INFO, "tick sym=%s bid=%.2f ask=%.2f bid_sz=%u ask_sz=%u", sym, mid - 0.01, mid + 0.01,
                  (unsigned)(x % 900 + 100), (unsigned)((x >> 8) % 900 + 100));
        break;
    case 6: case 7: case 8:
        SHMLOG_ORDER(INFO, "new order id=%" PRIu64 " sym=%s side=%s px=%.4f qty=%d tif=%c", order_id, sym,
                     (x & 1) ? "buy" : "sell", mid, qty, (x & 2) ? 'I' : 'D');
        break;
    case 9:
        SHMLOG_ORDER(INFO, "ack id=%" PRIu64 " exch_id=%#lx latency_ns=%u", order_id - 3,
                     (unsigned long)(x & 0xffffffffffUL), (unsigned)(x % 40000 + 2000));
        break;
    case 10: case 11:
        SHMLOG_TRADE(INFO, "fill id=%" PRIu64 " px=%.4f qty=%d venue=%s liquidity=%c", order_id - 5, mid, qty,
                     venues[x % (sizeof venues / sizeof venues[0])], (x & 4) ? 'A' : 'R');
        break;
    case 12:
        SHMLOG_RISK(WARN, "position near limit sym=%s pos=%lld limit=%lld util=%.1f%%", sym,
                    (long long)(x % 90000) - 45000, 50000LL, (double)(x % 1000) / 10.0);
        break;
    case 13:
        SHMLOG_PORTFOLIO(INFO, "pnl realized=%.2f unrealized=%.2f gross=%.0f positions=%d",
                         (double)(int64_t)(x % 2000000 - 1000000) / 100.0,
                         (double)(int64_t)((x >> 16) % 2000000 - 1000000) / 100.0, (double)(x % 50000000),
                         (int)(x % 40));
        break;
    case 14:
        SHMLOG_ORDER(ERROR, "reject id=%" PRIu64 " sym=%s reason=%s", order_id - 1, sym,
                     reject_reasons[x % (sizeof reject_reasons / sizeof reject_reasons[0])]);
        break;
    default:
        SHMLOG_INFO("heartbeat seq=%" PRIu64 " queue_depth=%hu enabled=%d", seq, (unsigned short)(x % 64),
                    (int)(x & 1));
        break;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    w->init_error = shmlog_thread_init();
    uint64_t rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)w->index << 32) ^ w->first;
    if (!rng)
        rng = 1;
    uint64_t start = mono_ns();
    for (uint64_t i = 0; i < w->count; i++) {
        if (w->rate > 0 && (i & 63) == 0) {
            uint64_t due = start + (uint64_t)((double)i * 1e9 / w->rate);
            if (mono_ns() < due)
                sleep_until(due);
        }
        log_one(w->first + i, &rng);
    }
    return NULL;
}

static void print_help(void)
{
    printf("usage: shmlog-sample [--app NAME] [--count N] [--threads T] [--rate R] [--dir D]\n\n"
           "Logs a trading-like mix of records through shmlog.h, then prints how many\n"
           "calls it made and how many records were dropped.\n\n"
           "  --app NAME     application name in the segment names (default: shmlog-sample)\n"
           "  --count N      log calls over all threads (default: 100000)\n"
           "  --threads T    logging threads, 1..%d (default: 1)\n"
           "  --rate R       records per second over all threads; 0 = as fast as possible (default)\n"
           "  --dir D        segment directory (default: $SHMLOG_DIR, else hugetlbfs, else /dev/shm/shmlog)\n",
           MAX_THREADS);
}

int main(int argc, char **argv)
{
    const char *app = "shmlog-sample";
    const char *dir = NULL;
    uint64_t count = 100000, threads = 1, rate = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help();
            return 0;
        } else if (!strcmp(a, "--app")) {
            if (!value || !*value)
                usage_error("--app wants a name");
            app = value;
            i++;
        } else if (!strcmp(a, "--dir")) {
            if (!value || !*value)
                usage_error("--dir wants a directory");
            dir = value;
            i++;
        } else if (!strcmp(a, "--count")) {
            count = parse_u64(a, value, UINT64_MAX / 2);
            i++;
        } else if (!strcmp(a, "--threads")) {
            threads = parse_u64(a, value, MAX_THREADS);
            if (threads == 0)
                usage_error("--threads wants 1..%d", MAX_THREADS);
            i++;
        } else if (!strcmp(a, "--rate")) {
            rate = parse_u64(a, value, 1000000000);
            i++;
        } else {
            usage_error("unknown option '%s'", a);
        }
    }

    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = app;
    cfg.dir = dir;
    int err = shmlog_init(&cfg);
    if (err < 0) {
        fprintf(stderr, "shmlog-sample: shmlog_init: %s\n", strerror(-err));
        return 1;
    }
    SHMLOG_INFO("shmlog-sample starting count=%" PRIu64 " threads=%" PRIu64 " rate=%" PRIu64, count, threads,
                rate);

    static struct worker workers[MAX_THREADS];
    uint64_t t0 = mono_ns(), next = 0;
    for (unsigned i = 0; i < threads; i++) {
        struct worker *w = &workers[i];
        w->index = i;
        w->first = next;
        w->count = count / threads + (i < count % threads);
        w->rate = rate ? (double)rate / (double)threads : 0;
        next += w->count;
        int rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc) {
            fprintf(stderr, "shmlog-sample: pthread_create: %s\n", strerror(rc));
            return 1;
        }
    }
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(workers[i].thread, NULL);
        if (workers[i].init_error)
            fprintf(stderr, "shmlog-sample: thread %u: shmlog_thread_init: %s\n", i,
                    strerror(-workers[i].init_error));
    }
    uint64_t elapsed = mono_ns() - t0;
    uint64_t dropped = shmlog_dropped();
    char seg_dir[4096];
    snprintf(seg_dir, sizeof seg_dir, "%s", shmlog_dir() ? shmlog_dir() : "?");
    shmlog_shutdown();

    printf("shmlog-sample: %" PRIu64 " log calls on %" PRIu64 " thread(s) in %.3f s (%.0f/s): %" PRIu64
           " written, %" PRIu64 " dropped; segments in %s\n",
           count + 1, threads, (double)elapsed / 1e9, elapsed ? (double)count * 1e9 / (double)elapsed : 0.0,
           count + 1 >= dropped ? count + 1 - dropped : 0, dropped, seg_dir);
    return 0;
}
