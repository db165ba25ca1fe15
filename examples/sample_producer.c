/*
 * shmlog-sample - a small, realistic producer: threads logging a trading-like
 * mix (market data ticks, orders, fills, risk warnings, portfolio updates,
 * rejects with a string reason) through shmlog.h. Used by the README quick
 * start and by tests that need real segments.
 *
 *   shmlog-sample [--app NAME] [--count N] [--threads T] [--rate R] [--dir D]
 *                 [--mix trading|uniform]
 *   shmlog-sample --stage md --count N | shmlog-sample --stage strategy | shmlog-sample --stage gateway
 *
 * --stage runs one hop of an order's path (market data tick -> strategy
 * decision -> gateway order sent -> exchange ack) in its own process: the
 * md stage starts a trace per order and writes its W3C traceparent on a
 * line; the others read it, work for that trace (shmlog_trace_set), and hand
 * it on, so that shmlog-dump trace shows each order across the processes.
 *
 * --count is the total number of log calls over all threads; --rate is the
 * total records per second (0: as fast as possible). Prints how many calls it
 * made and how many records were dropped, then exits 0.
 *
 * bench/bench_encode.c includes this file with SHMLOG_SAMPLE_NO_MAIN defined
 * to log the same mix in its own process.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmlog.h"

#define EXIT_USAGE 2
#define MAX_THREADS 256

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

/* ==== The mixes ====
 *
 * Both log the same call sites in the same proportions, chosen by the call's
 * global sequence number n (level and category are fixed by n % 16, which
 * tests rely on). They differ in the values:
 *
 *   trading  (default) what a trading process logs: per-symbol books whose
 *            prices move by a tick or two, quotes one or two ticks wide, sizes
 *            in round lots, order ids that count up, exchange ids counting up
 *            per venue, latencies around a mode with a tail, positions and PnL
 *            that follow the fills. Prices are integers in units of
 *            10^-decimals (as feeds such as ITCH carry them) turned into the
 *            logged double by one division, so they are the doubles nearest
 *            to short decimals.
 *   uniform  every value drawn afresh per call (prices uniform in 100..1100,
 *            random 40-bit exchange ids, uniform latencies): white noise, the
 *            mix of earlier releases, kept to compare with.
 */
enum mix_kind { MIX_TRADING, MIX_UNIFORM };

#define NSYMBOLS 8
#define NVENUES 5
#define POSITION_LIMIT 50000

static const char *const venues[NVENUES] = {"XNAS", "XNYS", "CME", "EBS", "ARCA"};
static const char *const reject_reasons[] = {
    "price outside collar",
    "max order size exceeded",
    "self-trade prevention: resting order on the opposite side from the same account",
    "exchange throttle",
};

struct instrument {
    const char *sym;
    int64_t scale;    /* units per price unit: 10^decimals */
    int64_t tick;     /* price increment, in units */
    int64_t bid;      /* best bid, in units */
    int64_t spread;   /* ticks from bid to ask: 1, sometimes 2 */
    unsigned lot;     /* round lot: shares, contracts, millions of the base currency */
    unsigned venue;   /* where it trades most */
    int64_t pos;      /* position, in lots times lot */
};

static const struct instrument instruments[NSYMBOLS] = {
    {"AAPL", 100, 1, 18950, 1, 100, 0, 0},        {"MSFT", 100, 1, 41234, 1, 100, 0, 0},
    {"ESZ6", 100, 25, 589025, 1, 1, 2, 0},        {"NQZ6", 100, 25, 2104050, 1, 1, 2, 0},
    {"EURUSD", 100000, 1, 108432, 1, 1, 3, 0}, {"BTC-PERP", 10, 5, 974520, 2, 1, 4, 0},
    {"TSLA", 100, 1, 24512, 1, 100, 4, 0},        {"SPY", 10000, 100, 5893400, 1, 100, 1, 0},
};

/* How often each symbol comes up, out of 32: index funds and the front
 * futures trade most. */
static const uint8_t symbol_weights[NSYMBOLS] = {5, 3, 6, 3, 4, 2, 3, 6};
/* Round-lot multiples sizes are drawn from. */
static const uint8_t lot_multiples[8] = {1, 1, 1, 2, 2, 3, 5, 10};
/* Rejects are mostly throttling. */
static const uint8_t reason_weights[8] = {3, 3, 3, 3, 0, 0, 1, 2};

struct mix {
    enum mix_kind kind;
    uint64_t rng;
    struct instrument inst[NSYMBOLS];
    uint8_t symbol_of[32]; /* symbol_weights spread out */
    uint64_t next_order;
    uint64_t venue_seq[NVENUES];
    int64_t realized_cents, unrealized_cents;
};

static void mix_init(struct mix *m, enum mix_kind kind, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->rng = seed ? seed : 1;
    memcpy(m->inst, instruments, sizeof m->inst);
    unsigned k = 0;
    for (unsigned s = 0; s < NSYMBOLS; s++)
        for (unsigned w = 0; w < symbol_weights[s]; w++)
            m->symbol_of[k++] = (uint8_t)s;
    m->next_order = 1000000;
    /* Each venue numbers its orders from its own 40-bit base. */
    for (unsigned v = 0; v < NVENUES; v++)
        m->venue_seq[v] = (0x1A00000000ULL + ((uint64_t)v << 32)) | (seed & 0xffffff);
}

/* xorshift64: cheap, deterministic per thread */
static uint64_t mix_random(struct mix *m)
{
    uint64_t x = m->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    m->rng = x;
    return x;
}

static double units_price(const struct instrument *in, int64_t units)
{
    return (double)units / (double)in->scale;
}

/* The book moves: mostly not at all, else by a tick, now and then by two. */
static void book_step(struct instrument *in, uint64_t x)
{
    unsigned move = x % 16;
    if (move >= 9 && move <= 11)
        in->bid += in->tick;
    else if (move >= 12 && move <= 14)
        in->bid -= in->tick;
    else if (move == 15)
        in->bid += (x & 16) ? 2 * in->tick : -2 * in->tick;
    if (in->bid < 100 * in->tick)
        in->bid = 100 * in->tick;
    if (((x >> 5) & 7) == 0)
        in->spread = 3 - in->spread; /* 1 <-> 2 */
}

static unsigned lot_size(const struct instrument *in, uint64_t x)
{
    return in->lot * lot_multiples[x & 7];
}

/* Round-trip latency in ns: around 8 us, one in 32 far out in the tail. */
static unsigned latency_ns(uint64_t x)
{
    unsigned ns = 6000 + (unsigned)(x & 1023) + (unsigned)((x >> 10) & 1023) + (unsigned)((x >> 20) & 1023) +
                  (unsigned)((x >> 30) & 1023);
    if (((x >> 40) & 31) == 0)
        ns += (unsigned)((x >> 45) % 250000);
    return ns;
}

static void log_trading(struct mix *m, uint64_t seq)
{
    uint64_t x = mix_random(m);
    struct instrument *in = &m->inst[m->symbol_of[x & 31]];
    x >>= 5;
    int64_t ask = in->bid + in->spread * in->tick;

    switch (seq % 16) {
    case 0: case 1: case 2: case 3: case 4: case 5:
        book_step(in, x);
        ask = in->bid + in->spread * in->tick;
        SHMLOG_MD(INFO, "tick sym=%s bid=%.2f ask=%.2f bid_sz=%u ask_sz=%u", in->sym, units_price(in, in->bid),
                  units_price(in, ask), lot_size(in, x >> 8), lot_size(in, x >> 11));
        break;
    case 6: case 7: case 8: {
        int buy = x & 1;
        int64_t away = (int64_t)((x >> 1) % 3) * in->tick;
        SHMLOG_ORDER(INFO, "new order id=%" PRIu64 " sym=%s side=%s px=%.4f qty=%d tif=%c", ++m->next_order,
                     in->sym, buy ? "buy" : "sell", units_price(in, buy ? in->bid - away : ask + away),
                     (int)lot_size(in, x >> 3), (x & 64) ? 'I' : 'D');
        break;
    }
    case 9: {
        unsigned v = x % 8 < NVENUES ? (unsigned)(x % 8) : in->venue;
        m->venue_seq[v] += 1 + ((x >> 3) & 31); /* other participants' orders in between */
        SHMLOG_ORDER(INFO, "ack id=%" PRIu64 " exch_id=%#lx latency_ns=%u", m->next_order - ((x >> 8) & 3),
                     (unsigned long)m->venue_seq[v], latency_ns(mix_random(m)));
        break;
    }
    case 10: case 11: {
        int buy = x & 1;
        unsigned qty = lot_size(in, x >> 1);
        in->pos += buy ? (int64_t)qty : -(int64_t)qty;
        if (in->pos > POSITION_LIMIT * 9 / 10 || in->pos < -POSITION_LIMIT * 9 / 10)
            in->pos /= 2; /* the risk system flattens half */
        m->realized_cents += (int64_t)((x >> 4) % 4001) - 2000;
        SHMLOG_TRADE(INFO, "fill id=%" PRIu64 " px=%.4f qty=%d venue=%s liquidity=%c", m->next_order - ((x >> 16) % 6),
                     units_price(in, buy ? ask : in->bid), (int)qty, venues[(x >> 20) % 8 < NVENUES ? (x >> 20) % 8 : in->venue],
                     (x & 8) ? 'A' : 'R');
        break;
    }
    case 12:
        SHMLOG_RISK(WARN, "position near limit sym=%s pos=%lld limit=%lld util=%.1f%%", in->sym, (long long)in->pos,
                    (long long)POSITION_LIMIT, (double)(in->pos < 0 ? -in->pos : in->pos) * 100.0 / POSITION_LIMIT);
        break;
    case 13: {
        int64_t gross = 0;
        int open = 0;
        for (unsigned s = 0; s < NSYMBOLS; s++) {
            const struct instrument *i = &m->inst[s];
            gross += (i->pos < 0 ? -i->pos : i->pos) * (i->bid / i->scale);
            open += i->pos != 0;
        }
        m->unrealized_cents += (int64_t)(x % 20001) - 10000;
        SHMLOG_PORTFOLIO(INFO, "pnl realized=%.2f unrealized=%.2f gross=%.0f positions=%d",
                         (double)m->realized_cents / 100.0, (double)m->unrealized_cents / 100.0, (double)gross, open);
        break;
    }
    case 14:
        SHMLOG_ORDER(ERROR, "reject id=%" PRIu64 " sym=%s reason=%s", m->next_order - (x & 1), in->sym,
                     reject_reasons[reason_weights[(x >> 1) & 7]]);
        break;
    default:
        /* the queue is mostly empty: depth is geometric */
        SHMLOG_INFO("heartbeat seq=%" PRIu64 " queue_depth=%hu enabled=%d", seq,
                    (unsigned short)__builtin_ctzll(x | 1ULL << 15), (int)((x >> 16) % 64 != 0));
        break;
    }
}

static void log_uniform(struct mix *m, uint64_t seq)
{
    uint64_t x = mix_random(m);
    static const char *const symbols[] = {"AAPL", "MSFT", "ESZ6", "NQZ6", "EURUSD", "BTC-PERP", "TSLA", "SPY"};
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
                     venues[x % NVENUES], (x & 4) ? 'A' : 'R');
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

/* One log call of the mix: call number seq over all threads. */
static void mix_log_one(struct mix *m, uint64_t seq)
{
    if (m->kind == MIX_UNIFORM)
        log_uniform(m, seq);
    else
        log_trading(m, seq);
}

/* Before call i of a run that began at start: waits until the call is due at
 * rate calls per second (0: unpaced), checking the clock every 64 calls. */
static void pace_call(uint64_t start, uint64_t i, double rate)
{
    if (rate > 0 && (i & 63) == 0) {
        uint64_t due = start + (uint64_t)((double)i * 1e9 / rate);
        if (mono_ns() < due)
            sleep_until(due);
    }
}

/* count calls from first on, at rate records per second (0: unpaced);
 * pacing happens between log calls, never in one. */
static void mix_run(struct mix *m, uint64_t first, uint64_t count, double rate)
{
    uint64_t start = mono_ns();
    for (uint64_t i = 0; i < count; i++) {
        pace_call(start, i, rate);
        mix_log_one(m, first + i);
    }
}

#ifndef SHMLOG_SAMPLE_NO_MAIN

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

static enum mix_kind mix_kind = MIX_TRADING;

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    w->init_error = shmlog_thread_init();
    struct mix m;
    mix_init(&m, mix_kind, 0x9E3779B97F4A7C15ULL ^ ((uint64_t)w->index << 32) ^ w->first);
    mix_run(&m, w->first, w->count, w->rate);
    return NULL;
}

/* ==== The order path (--stage) ==== */

enum stage { STAGE_NONE, STAGE_MD, STAGE_STRATEGY, STAGE_GATEWAY };

/* A span id of this hop: the parent id the next hop's traceparent names. */
static uint64_t span_id_next(uint64_t *state)
{
    *state += 0x9E3779B97F4A7C15ULL;
    uint64_t z = *state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return (z ^ (z >> 31)) | 1; /* never 0 */
}

/* Hands the order on: its traceparent, the parent being this hop. */
static void hand_on(const struct shmlog_traceparent *in, uint64_t *rng)
{
    struct shmlog_traceparent out = *in;
    out.parent_id = span_id_next(rng);
    char line[SHMLOG_TRACEPARENT_BYTES + 1];
    shmlog_traceparent_format(&out, line);
    printf("%s\n", line);
    fflush(stdout);
}

/* The md stage: count orders, one tick each, paced at rate per second. */
static int run_md(uint64_t count, uint64_t rate)
{
    static const char *const symbols[] = {"AAPL", "MSFT", "ESZ6", "NQZ6"};
    uint64_t rng = (uint64_t)mono_ns() ^ (uint64_t)getpid() << 32, t = mono_ns();
    for (uint64_t i = 0; i < count; i++) {
        struct shmlog_traceparent tp = {span_id_next(&rng), span_id_next(&rng), 1, 1};
        shmlog_trace_set(tp.trace_hi, tp.trace_lo, "tick");
        SHMLOG_MD(INFO, "tick sym=%s bid=%.2f ask=%.2f", symbols[i % 4], 100.0 + (double)(i % 50) * 0.01,
                  100.01 + (double)(i % 50) * 0.01);
        hand_on(&tp, &rng);
        shmlog_trace_clear();
        if (rate)
            sleep_until(t += 1000000000u / rate);
    }
    return 0;
}

/* The strategy and gateway stages: each order read from standard input. */
static int run_hop(enum stage stage)
{
    uint64_t rng = (uint64_t)mono_ns() ^ (uint64_t)getpid() << 32, order_id = 1000;
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        struct shmlog_traceparent tp;
        if (shmlog_traceparent_parse(line, &tp) != 0) {
            fprintf(stderr, "shmlog-sample: not a traceparent: '%s'\n", line);
            return 1;
        }
        if (stage == STAGE_STRATEGY) {
            shmlog_trace_set(tp.trace_hi, tp.trace_lo, "decision");
            SHMLOG_INFO("decision side=%s qty=%d", order_id % 2 ? "buy" : "sell", 100 * (int)(order_id % 5 + 1));
            order_id++;
            hand_on(&tp, &rng);
        } else {
            shmlog_trace_set(tp.trace_hi, tp.trace_lo, "order_sent");
            SHMLOG_ORDER(INFO, "order sent id=%lu venue=%s", (unsigned long)order_id, "XNAS");
            /* the exchange's round trip */
            sleep_until(mono_ns() + 20000 + (order_id % 7) * 3000);
            shmlog_trace_set(tp.trace_hi, tp.trace_lo, "ack");
            SHMLOG_ORDER(INFO, "ack id=%lu", (unsigned long)order_id);
            order_id++;
        }
        shmlog_trace_clear();
    }
    return 0;
}

static void print_help(void)
{
    printf("usage: shmlog-sample [--app NAME] [--count N] [--threads T] [--rate R] [--dir D]\n"
           "                     [--mix trading|uniform]\n\n"
           "Logs a trading-like mix of records through shmlog.h, then prints how many\n"
           "calls it made and how many records were dropped.\n\n"
           "  --app NAME     application name in the segment names (default: shmlog-sample)\n"
           "  --count N      log calls over all threads (default: 100000)\n"
           "  --threads T    logging threads, 1..%d (default: 1)\n"
           "  --rate R       records per second over all threads; 0 = as fast as possible (default)\n"
           "  --dir D        segment directory (default: $SHMLOG_DIR, else hugetlbfs, else /dev/shm/shmlog)\n"
           "  --mix M        trading: books that move by ticks, round lots, ids that count up (default);\n"
           "                 uniform: every value drawn uniformly at random per call (white noise)\n"
           "  --stage S      one hop of an order's path instead: md (--count orders, a trace each, their\n"
           "                 traceparent lines on standard output), strategy (reads them, hands them on)\n"
           "                 or gateway (reads them: order sent, then the exchange's ack)\n",
           MAX_THREADS);
}

int main(int argc, char **argv)
{
    const char *app = "shmlog-sample";
    const char *dir = NULL;
    uint64_t count = 100000, threads = 1, rate = 0;
    enum stage stage = STAGE_NONE;

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
        } else if (!strcmp(a, "--mix")) {
            if (value && !strcmp(value, "trading"))
                mix_kind = MIX_TRADING;
            else if (value && !strcmp(value, "uniform"))
                mix_kind = MIX_UNIFORM;
            else
                usage_error("--mix wants trading or uniform, not '%s'", value ? value : "");
            i++;
        } else if (!strcmp(a, "--stage")) {
            if (value && !strcmp(value, "md"))
                stage = STAGE_MD;
            else if (value && !strcmp(value, "strategy"))
                stage = STAGE_STRATEGY;
            else if (value && !strcmp(value, "gateway"))
                stage = STAGE_GATEWAY;
            else
                usage_error("--stage wants md, strategy or gateway, not '%s'", value ? value : "");
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
    if (stage != STAGE_NONE) {
        shmlog_thread_init();
        int rc = stage == STAGE_MD ? run_md(count, rate) : run_hop(stage);
        uint64_t dropped = shmlog_dropped();
        shmlog_shutdown();
        fprintf(stderr, "shmlog-sample: stage done, %" PRIu64 " dropped\n", dropped);
        return rc;
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

#endif /* SHMLOG_SAMPLE_NO_MAIN */
