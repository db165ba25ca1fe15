/*
 * bench_producer.c - latency and throughput of a producer log call, for shmlog
 * and, in the same run, for the peers built next to it (see bench.h).
 *
 * Latency: every call sits between two `lfence; rdtsc; lfence` reads, after a
 * warm-up, in paced batches; the same bracket around nothing is measured the
 * same way, so the figures can be read raw and above the bracket.
 * Throughput: calls back to back on one thread while the backend's consumer
 * runs on another cpu; drops are counted and printed, never hidden.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

extern const struct bench_backend bench_backend_shmlog;
#ifdef BENCH_HAVE_LTTNG
extern const struct bench_backend bench_backend_lttng;
#endif
#ifdef BENCH_HAVE_SPDLOG
extern const struct bench_backend bench_backend_spdlog_block;
extern const struct bench_backend bench_backend_spdlog_overrun;
#endif

static const struct bench_backend *const bench_backends[] = {
    &bench_backend_shmlog,
#ifdef BENCH_HAVE_LTTNG
    &bench_backend_lttng,
#endif
#ifdef BENCH_HAVE_SPDLOG
    &bench_backend_spdlog_block,
    &bench_backend_spdlog_overrun,
#endif
};
#define BENCH_BACKEND_COUNT (sizeof bench_backends / sizeof bench_backends[0])

const char *const bench_notes[4] = {
    "venue=XNAS acct=ACC-000017 strat=momentum",
    "venue=XNYS acct=ACC-004242 strat=meanrev1",
    "venue=BATS acct=ACC-031337 strat=pairs_01",
    "venue=ARCX acct=ACC-000099 strat=mm_quote",
};

static const char *const workload_label[BENCH_WORKLOADS] = {
    [BENCH_ARGS3] = "3 args (u64, double, int)",
    [BENCH_ARGS3_STR] = "3 args + 40-char string",
};
static const char *const workload_key[BENCH_WORKLOADS] = {
    [BENCH_ARGS3] = "args3",
    [BENCH_ARGS3_STR] = "args3_str40",
};

BENCH_DEFINE_LOOPS(empty_bracket, (void)0)

enum { P50, P99, P999, P9999, PMAX, NPCT };
static const char *const pct_label[NPCT] = {"p50", "p99", "p99.9", "p99.99", "max"};

/* One line of the report. */
struct result {
    const char *backend;
    const char *label;
    const char *key;
    int is_latency;
    uint64_t calls;
    uint64_t cycles[NPCT];   /* latency */
    double core_mean;        /* mean of the samples up to p99, in cycles: finer than a
                                TSC tick, which is 10 ns on some AMD hosts */
    double calls_per_s;      /* throughput */
    double ns_per_call;
    uint64_t dropped;
    uint64_t delivered;      /* UINT64_MAX: the backend cannot tell */
    int hugepages;
};

struct backend_run {
    const struct bench_backend *backend;
    struct bench_env env;
    int err;
};

static struct {
    struct bench_opts opts;
    const char *csv_path;
    const char *only;        /* comma-separated backend names, NULL: all */
    int workloads;           /* bit w: run workload w */
    int run_latency;         /* the latency phase */
    int run_throughput;      /* the throughput phase */
    double rate;             /* throughput calls per second; 0: back to back */
    double tsc_hz;
    int memory_locked;
    char loadavg[64];        /* /proc/loadavg at the start: others' load skews every figure */
    long preempted;          /* involuntary context switches of the producer thread */
    char mlock_error[128];
    uint64_t *samples;
    struct result results[1 + BENCH_BACKEND_COUNT * BENCH_WORKLOADS * 2];
    unsigned nresults;
    struct backend_run runs[BENCH_BACKEND_COUNT];
    unsigned nruns;
} B;

/* ==== Clock ==== */

static uint64_t raw_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A (tsc, ns) pair read close together: the tightest of a few tries. */
static void tsc_ns_pair(uint64_t *tsc, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 32; i++) {
        uint64_t before = bench_tsc_fenced();
        uint64_t now = raw_ns();
        uint64_t after = bench_tsc_fenced();
        if (after - before < best) {
            best = after - before;
            *tsc = before + (after - before) / 2;
            *ns = now;
        }
    }
}

/* The TSC rate against CLOCK_MONOTONIC_RAW: /proc/cpuinfo's MHz is not the
 * TSC rate on a VM. */
static double calibrate_tsc_hz(void)
{
    uint64_t tsc0, ns0, tsc1, ns1;
    tsc_ns_pair(&tsc0, &ns0);
    struct timespec nap = {0, 250 * 1000 * 1000};
    nanosleep(&nap, NULL);
    tsc_ns_pair(&tsc1, &ns1);
    return (double)(tsc1 - tsc0) * 1e9 / (double)(ns1 - ns0);
}

static double cycles_to_ns(uint64_t cycles)
{
    return (double)cycles * 1e9 / B.tsc_hz;
}

/* ==== Statistics ==== */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile num/den of sorted v[0..n). */
static uint64_t percentile(const uint64_t *v, uint64_t n, uint64_t num, uint64_t den)
{
    uint64_t rank = (n * num + den - 1) / den;
    return v[rank ? rank - 1 : 0];
}

static void summarize(uint64_t *v, uint64_t n, struct result *r)
{
    uint64_t *out = r->cycles;
    qsort(v, n, sizeof *v, cmp_u64);
    out[P50] = percentile(v, n, 1, 2);
    out[P99] = percentile(v, n, 99, 100);
    out[P999] = percentile(v, n, 999, 1000);
    out[P9999] = percentile(v, n, 9999, 10000);
    out[PMAX] = v[n - 1];
    /* The TSC phase at each call is random, so the mean of quantized samples
     * resolves below one tick; the top percent is left out so a few host
     * interruptions do not dominate it. */
    uint64_t core = (n * 99 + 99) / 100;
    double sum = 0;
    for (uint64_t i = 0; i < core && i < n; i++)
        sum += (double)v[i];
    r->core_mean = sum / (double)(core < n ? core : n);
}

/* ==== Runs ==== */

static uint64_t pause_cycles(void)
{
    return (uint64_t)((double)B.opts.pause_ns * B.tsc_hz / 1e9);
}

/* Warm-up then the timed calls; fills r->cycles. Call numbers continue across
 * the two so the arguments keep changing. */
static void run_latency(const struct bench_loops *loops, struct result *r)
{
    uint64_t done = 0;
    for (uint64_t left = B.opts.warmup; left;) {
        uint64_t n = left < B.opts.calls ? left : B.opts.calls;
        loops->latency(done, n, B.opts.batch, pause_cycles(), B.samples);
        done += n;
        left -= n;
    }
    loops->latency(done, B.opts.calls, B.opts.batch, pause_cycles(), B.samples);
    r->is_latency = 1;
    r->calls = B.opts.calls;
    summarize(B.samples, B.opts.calls, r);
}

static struct result *new_result(const char *backend, const char *label, const char *key, int hugepages)
{
    struct result *r = &B.results[B.nresults++];
    memset(r, 0, sizeof *r);
    r->backend = backend;
    r->label = label;
    r->key = key;
    r->hugepages = hugepages;
    r->delivered = UINT64_MAX;
    return r;
}

/* Counters before a workload, to report what it alone dropped and delivered. */
struct counters {
    uint64_t dropped;
    uint64_t delivered;
};

static struct counters read_counters(const struct bench_backend *b)
{
    b->settle();
    struct counters c = {b->dropped(), b->delivered()};
    return c;
}

static void finish_counters(const struct bench_backend *b, struct counters before, struct result *r)
{
    struct counters after = read_counters(b);
    r->dropped = after.dropped == UINT64_MAX ? UINT64_MAX : after.dropped - before.dropped;
    r->delivered = after.delivered == UINT64_MAX ? UINT64_MAX : after.delivered - before.delivered;
}

/* n calls at B.rate per second: chunks of `batch` back to back, each started
 * on a schedule; when the calls are slower than the schedule, as fast as they go. */
static void run_paced(const struct bench_loops *loops, uint64_t n)
{
    const unsigned chunk = B.opts.batch;
    const double cycles_per_chunk = (double)chunk * B.tsc_hz / B.rate;
    const uint64_t start = bench_tsc();
    uint64_t chunks = 0;
    for (uint64_t done = 0; done < n; chunks++) {
        uint64_t k = n - done < chunk ? n - done : chunk;
        loops->burst(done, k);
        done += k;
        const uint64_t next = start + (uint64_t)((double)(chunks + 1) * cycles_per_chunk);
        while (bench_tsc() < next)
            __asm__ __volatile__("pause" ::: "memory");
    }
}

static void run_backend(struct backend_run *run)
{
    const struct bench_backend *b = run->backend;
    run->err = b->setup(&B.opts, &run->env);
    if (run->err) {
        fprintf(stderr, "bench: %s: cannot set up: %s\n", b->name, run->env.storage);
        return;
    }
    int huge = run->env.hugepages;
    for (int w = 0; w < BENCH_WORKLOADS && B.run_latency; w++) {
        if (!(B.workloads & 1 << w))
            continue;
        struct result *r = new_result(b->name, workload_label[w], workload_key[w], huge);
        struct counters before = read_counters(b);
        run_latency(&b->loops[w], r);
        finish_counters(b, before, r); /* counts the warm-up calls too */
    }
    for (int w = 0; w < BENCH_WORKLOADS && B.run_throughput; w++) {
        if (!(B.workloads & 1 << w))
            continue;
        struct result *r = new_result(b->name, workload_label[w], workload_key[w], huge);
        struct counters before = read_counters(b);
        uint64_t t0 = raw_ns();
        if (B.rate > 0)
            run_paced(&b->loops[w], B.opts.burst);
        else
            b->loops[w].burst(0, B.opts.burst);
        uint64_t t1 = raw_ns();
        finish_counters(b, before, r);
        r->calls = B.opts.burst;
        r->ns_per_call = (double)(t1 - t0) / (double)B.opts.burst;
        r->calls_per_s = (double)B.opts.burst * 1e9 / (double)(t1 - t0);
    }
    b->teardown();
}

/* ==== Report ==== */

static void print_latency_block(int in_ns, const struct result *empty)
{
    printf("\nlatency, %s per call (timed calls %llu, batches of %u)\n", in_ns ? "ns" : "TSC cycles",
           (unsigned long long)B.opts.calls, B.opts.batch);
    printf("  %-14s %-25s", "backend", "workload");
    for (int p = 0; p < NPCT; p++)
        printf(" %9s", pct_label[p]);
    printf(" %9s", "mean<p99");
    if (in_ns)
        printf(" %10s %10s", "p50-empty", "mean-empty");
    else
        printf(" %9s %10s", "dropped", "drained");
    printf("\n");
    for (unsigned i = 0; i < B.nresults; i++) {
        const struct result *r = &B.results[i];
        if (!r->is_latency)
            continue;
        printf("  %-14s %-25s", r->backend, r->label);
        for (int p = 0; p < NPCT; p++) {
            if (in_ns)
                printf(" %9.1f", cycles_to_ns(r->cycles[p]));
            else
                printf(" %9llu", (unsigned long long)r->cycles[p]);
        }
        printf(" %9.1f", in_ns ? r->core_mean * 1e9 / B.tsc_hz : r->core_mean);
        if (r == empty) {
            printf("\n");
            continue;
        }
        if (in_ns) {
            printf(" %10.1f %10.1f", cycles_to_ns(r->cycles[P50]) - cycles_to_ns(empty->cycles[P50]),
                   (r->core_mean - empty->core_mean) * 1e9 / B.tsc_hz);
        } else {
            if (r->dropped == UINT64_MAX)
                printf(" %9s", "n/a");
            else
                printf(" %9llu", (unsigned long long)r->dropped);
            if (r->delivered == UINT64_MAX)
                printf(" %10s", "n/a");
            else
                printf(" %10llu", (unsigned long long)r->delivered);
        }
        printf("\n");
    }
}

static void print_report(void)
{
    const struct result *empty = &B.results[0];
    print_latency_block(0, empty);
    print_latency_block(1, empty);

    if (B.rate > 0)
        printf("\nthroughput, %llu calls paced at %.0f per second\n", (unsigned long long)B.opts.burst, B.rate);
    else
        printf("\nthroughput, %llu calls back to back\n", (unsigned long long)B.opts.burst);
    printf("  %-14s %-25s %12s %9s %10s %10s\n", "backend", "workload", "calls/s", "ns/call", "dropped",
           "drained");
    for (unsigned i = 0; i < B.nresults; i++) {
        const struct result *r = &B.results[i];
        if (r->is_latency)
            continue;
        printf("  %-14s %-25s %12.0f %9.2f", r->backend, r->label, r->calls_per_s, r->ns_per_call);
        if (r->dropped == UINT64_MAX)
            printf(" %10s", "n/a");
        else
            printf(" %10llu", (unsigned long long)r->dropped);
        if (r->delivered == UINT64_MAX)
            printf(" %10s\n", "n/a");
        else
            printf(" %10llu\n", (unsigned long long)r->delivered);
    }

    /* Every call is either delivered or dropped: say so when it is not. */
    for (unsigned i = 1; i < B.nresults; i++) {
        const struct result *r = &B.results[i];
        uint64_t logged = r->is_latency ? B.opts.warmup + B.opts.calls : r->calls;
        if (r->delivered != UINT64_MAX && r->dropped != UINT64_MAX && r->delivered + r->dropped != logged)
            printf("  WARNING: %s %s %s: %llu calls but %llu drained + %llu dropped\n", r->backend,
                   r->is_latency ? "latency" : "throughput", r->label, (unsigned long long)logged,
                   (unsigned long long)r->delivered, (unsigned long long)r->dropped);
    }
    printf("\nmean<p99: mean of the samples up to p99 (resolves below a TSC tick); x-empty: the same figure\n"
           "minus the empty bracket's; latency dropped/drained count the warm-up calls too.\n");
}

static int write_csv(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "backend,workload,kind,calls,warmup,batch,pause_ns,p50_cycles,p99_cycles,p999_cycles,"
               "p9999_cycles,max_cycles,p50_ns,p99_ns,p999_ns,p9999_ns,max_ns,mean_p99_ns,p50_above_empty_ns,"
               "mean_p99_above_empty_ns,"
               "calls_per_s,ns_per_call,dropped,drained,hugepages,tsc_hz\n");
    const struct result *empty = &B.results[0];
    for (unsigned i = 0; i < B.nresults; i++) {
        const struct result *r = &B.results[i];
        fprintf(f, "%s,%s,%s,%llu,%llu,%u,%llu", r->backend, r->key, r->is_latency ? "latency" : "throughput",
                (unsigned long long)r->calls, (unsigned long long)(r->is_latency ? B.opts.warmup : 0),
                r->is_latency ? B.opts.batch : 0, (unsigned long long)(r->is_latency ? B.opts.pause_ns : 0));
        for (int p = 0; p < NPCT; p++)
            r->is_latency ? fprintf(f, ",%llu", (unsigned long long)r->cycles[p]) : fprintf(f, ",");
        for (int p = 0; p < NPCT; p++)
            r->is_latency ? fprintf(f, ",%.2f", cycles_to_ns(r->cycles[p])) : fprintf(f, ",");
        if (r->is_latency)
            fprintf(f, ",%.2f", r->core_mean * 1e9 / B.tsc_hz);
        else
            fprintf(f, ",");
        if (r->is_latency && r != empty)
            fprintf(f, ",%.2f,%.2f", cycles_to_ns(r->cycles[P50]) - cycles_to_ns(empty->cycles[P50]),
                    (r->core_mean - empty->core_mean) * 1e9 / B.tsc_hz);
        else
            fprintf(f, ",,");
        if (r->is_latency)
            fprintf(f, ",,");
        else
            fprintf(f, ",%.0f,%.3f", r->calls_per_s, r->ns_per_call);
        if (r == empty || r->dropped == UINT64_MAX)
            fprintf(f, ",");
        else
            fprintf(f, ",%llu", (unsigned long long)r->dropped);
        if (r->delivered == UINT64_MAX)
            fprintf(f, ",");
        else
            fprintf(f, ",%llu", (unsigned long long)r->delivered);
        fprintf(f, ",%s,%.0f\n", r->hugepages > 0 ? "yes" : r->hugepages == 0 ? "no" : "", B.tsc_hz);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ==== Options ==== */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: shmlog-bench-producer [options]\n"
            "  --calls N       timed calls per latency workload (default 2M)\n"
            "  --warmup N      untimed calls before them (default 200k)\n"
            "  --batch N       calls per paced batch (default 20)\n"
            "  --pause-ns N    spin between batches (default 2000)\n"
            "  --burst N       back-to-back calls per throughput workload (default 10M)\n"
            "  --cpu N         producer cpu (default 0)\n"
            "  --drain-cpu N   consumer cpu (default 1)\n"
            "  --drain-poll-ns N  the consumer makes a pass every N ns (default 0: it\n"
            "                  polls without pause, like a busy-polling collector)\n"
            "  --no-drain      no consumer: the ring must hold every call (drops are counted)\n"
            "  --collector     with --dir: shmlog-collector drains D; no drainer of ours,\n"
            "                  and each workload starts once the collector has caught up\n"
            "  --dir D         segment directory (default: a fresh one under the default\n"
            "                  shmlog directory, removed at the end)\n"
            "  --ring-bytes N  ring bytes per cpu, a power of two (default: shmlog's, 8Mi)\n"
            "  --workload W    args3, args3_str40 or all (default all)\n"
            "  --phase P       latency, throughput or all (default all)\n"
            "  --rate R        throughput calls paced at R per second, in chunks of --batch\n"
            "                  (default 0: back to back)\n"
            "  --out D         where file-writing backends (spdlog) write (default /tmp)\n"
            "  --backend LIST  comma-separated backends to run (default: all built:");
    for (size_t i = 0; i < BENCH_BACKEND_COUNT; i++)
        fprintf(out, " %s", bench_backends[i]->name);
    fprintf(out, ")\n"
                 "  --csv FILE      also write the results as CSV\n"
                 "Counts take k, M, G suffixes (powers of 1000; Ki, Mi, Gi: of 1024).\n");
}

/* "10M", "200k", "8Mi", "2000": 0 and *out, or -1. */
static int parse_count(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -1;
    uint64_t mult = 1;
    if (*end) {
        int binary = end[1] == 'i';
        switch (*end) {
        case 'k': case 'K': mult = binary ? 1ull << 10 : 1000ull; break;
        case 'M': mult = binary ? 1ull << 20 : 1000000ull; break;
        case 'G': mult = binary ? 1ull << 30 : 1000000000ull; break;
        default: return -1;
        }
        if (end[1 + binary] != 0)
            return -1;
    }
    if (v > UINT64_MAX / mult)
        return -1;
    *out = v * mult;
    return 0;
}

static int parse_options(int argc, char **argv)
{
    enum { O_CALLS = 256, O_WARMUP, O_BATCH, O_PAUSE, O_BURST, O_CPU, O_DRAIN_CPU, O_DRAIN_POLL, O_RING,
           O_RATE, O_DIR, O_NO_DRAIN, O_BACKEND, O_CSV, O_WORKLOAD, O_PHASE, O_OUT, O_COLLECTOR, O_HELP };
    static const struct option longopts[] = {
        {"calls", required_argument, NULL, O_CALLS},     {"warmup", required_argument, NULL, O_WARMUP},
        {"batch", required_argument, NULL, O_BATCH},     {"pause-ns", required_argument, NULL, O_PAUSE},
        {"burst", required_argument, NULL, O_BURST},     {"cpu", required_argument, NULL, O_CPU},
        {"drain-cpu", required_argument, NULL, O_DRAIN_CPU}, {"dir", required_argument, NULL, O_DIR},
        {"ring-bytes", required_argument, NULL, O_RING}, {"backend", required_argument, NULL, O_BACKEND},
        {"drain-poll-ns", required_argument, NULL, O_DRAIN_POLL}, {"no-drain", no_argument, NULL, O_NO_DRAIN},
        {"csv", required_argument, NULL, O_CSV},         {"help", no_argument, NULL, O_HELP},
        {"rate", required_argument, NULL, O_RATE},       {"workload", required_argument, NULL, O_WORKLOAD},
        {"phase", required_argument, NULL, O_PHASE},     {"out", required_argument, NULL, O_OUT},
        {"collector", no_argument, NULL, O_COLLECTOR},
        {NULL, 0, NULL, 0},
    };
    struct bench_opts *o = &B.opts;
    o->calls = 2000000;
    o->warmup = 200000;
    o->batch = 20;
    o->pause_ns = 2000;
    o->burst = 10000000;
    o->cpu = 0;
    o->drain_cpu = 1;
    o->drain = 1;
    B.workloads = (1 << BENCH_WORKLOADS) - 1;
    B.run_latency = B.run_throughput = 1;
    int c, which = 0;
    while ((c = getopt_long(argc, argv, "", longopts, &which)) != -1) {
        uint64_t v = 0;
        int needs_count = c >= O_CALLS && c <= O_RATE;
        if (needs_count && parse_count(optarg, &v) != 0) {
            fprintf(stderr, "shmlog-bench-producer: --%s: not a count: %s\n", longopts[which].name, optarg);
            return -1;
        }
        switch (c) {
        case O_CALLS: o->calls = v; break;
        case O_WARMUP: o->warmup = v; break;
        case O_BATCH: o->batch = v > 1000000 ? 0 : (unsigned)v; break;
        case O_PAUSE: o->pause_ns = v; break;
        case O_BURST: o->burst = v; break;
        case O_CPU: o->cpu = v > CPU_SETSIZE ? -1 : (int)v; break;
        case O_DRAIN_CPU: o->drain_cpu = v > CPU_SETSIZE ? -1 : (int)v; break;
        case O_DRAIN_POLL: o->drain_poll_ns = v; break;
        case O_NO_DRAIN: o->drain = 0; break;
        case O_DIR: o->dir = optarg; break;
        case O_RING: o->ring_bytes = (size_t)v; break;
        case O_RATE: B.rate = (double)v; break;
        case O_OUT: o->out_dir = optarg; break;
        case O_COLLECTOR: o->drain = 0; o->external_drain = 1; break;
        case O_WORKLOAD:
            if (strcmp(optarg, "all") == 0) {
                B.workloads = (1 << BENCH_WORKLOADS) - 1;
                break;
            }
            B.workloads = 0;
            for (int w = 0; w < BENCH_WORKLOADS; w++)
                if (strcmp(optarg, workload_key[w]) == 0)
                    B.workloads = 1 << w;
            if (!B.workloads) {
                fprintf(stderr, "shmlog-bench-producer: --workload: no such workload: %s\n", optarg);
                return -1;
            }
            break;
        case O_PHASE:
            B.run_latency = strcmp(optarg, "latency") == 0 || strcmp(optarg, "all") == 0;
            B.run_throughput = strcmp(optarg, "throughput") == 0 || strcmp(optarg, "all") == 0;
            if (!B.run_latency && !B.run_throughput) {
                fprintf(stderr, "shmlog-bench-producer: --phase: latency, throughput or all: %s\n", optarg);
                return -1;
            }
            break;
        case O_BACKEND: B.only = optarg; break;
        case O_CSV: B.csv_path = optarg; break;
        case O_HELP: usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    const char *bad = NULL;
    if (optind < argc)
        bad = "unexpected argument";
    else if (o->calls == 0 || o->burst == 0)
        bad = "--calls and --burst must be at least 1";
    else if (o->batch == 0)
        bad = "--batch must be between 1 and 1000000";
    else if (o->cpu < 0 || o->drain_cpu < 0)
        bad = "no such cpu";
    else if (o->external_drain && !o->dir)
        bad = "--collector needs --dir, the directory the collector watches";
    else if (o->ring_bytes && (o->ring_bytes & (o->ring_bytes - 1)))
        bad = "--ring-bytes must be a power of two";
    if (bad) {
        fprintf(stderr, "shmlog-bench-producer: %s%s%s\n", bad, optind < argc ? ": " : "",
                optind < argc ? argv[optind] : "");
        return -1;
    }
    return 0;
}

static int backend_selected(const char *name)
{
    if (!B.only)
        return 1;
    size_t len = strlen(name);
    for (const char *p = B.only; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == len && memcmp(p, name, n) == 0)
            return 1;
        p += n + (comma != NULL);
    }
    return 0;
}

/* Every name in --backend is built in: a typo must not silently run nothing. */
static int check_backend_names(void)
{
    for (const char *p = B.only; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        int known = 0;
        for (size_t i = 0; i < BENCH_BACKEND_COUNT; i++)
            known |= strlen(bench_backends[i]->name) == n && memcmp(bench_backends[i]->name, p, n) == 0;
        if (!known) {
            fprintf(stderr, "shmlog-bench-producer: --backend: %.*s is not built in\n", (int)n, p);
            return -1;
        }
        p += n + (comma != NULL);
    }
    return 0;
}

/* ==== Main ==== */

static void read_loadavg(void)
{
    snprintf(B.loadavg, sizeof B.loadavg, "unknown");
    FILE *f = fopen("/proc/loadavg", "re");
    if (!f)
        return;
    double one, five, fifteen;
    if (fscanf(f, "%lf %lf %lf", &one, &five, &fifteen) == 3)
        snprintf(B.loadavg, sizeof B.loadavg, "%.2f %.2f %.2f", one, five, fifteen);
    fclose(f);
}

static int pin_to(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        fprintf(stderr, "shmlog-bench-producer: cannot pin to cpu %d: %s\n", cpu, strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_options(argc, argv) != 0 || check_backend_names() != 0)
        return 2;
    if (pin_to(B.opts.cpu) != 0)
        return 2;
    /* A page fault costs ~12 us on this kind of VM: none may land in a timed call. */
    B.memory_locked = mlockall(MCL_CURRENT | MCL_FUTURE) == 0;
    if (!B.memory_locked)
        snprintf(B.mlock_error, sizeof B.mlock_error, "%s", strerror(errno));
    B.samples = malloc(B.opts.calls * sizeof *B.samples);
    if (!B.samples) {
        fprintf(stderr, "shmlog-bench-producer: no memory for %llu samples\n", (unsigned long long)B.opts.calls);
        return 1;
    }
    memset(B.samples, 0, B.opts.calls * sizeof *B.samples);
    read_loadavg();
    B.tsc_hz = calibrate_tsc_hz();
    B.opts.tsc_hz = B.tsc_hz;
    struct rusage usage_before, usage_after;
    getrusage(RUSAGE_THREAD, &usage_before);

    struct result *empty = new_result("none", "empty bracket", "empty", -1);
    run_latency(&(struct bench_loops)BENCH_LOOPS(empty_bracket), empty);

    for (size_t i = 0; i < BENCH_BACKEND_COUNT; i++) {
        if (!backend_selected(bench_backends[i]->name))
            continue;
        struct backend_run *run = &B.runs[B.nruns++];
        run->backend = bench_backends[i];
        run_backend(run);
    }
    getrusage(RUSAGE_THREAD, &usage_after);
    B.preempted = usage_after.ru_nivcsw - usage_before.ru_nivcsw;

    printf("shmlog-bench-producer:");
    for (int i = 1; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\nproducer on cpu %d, memory %s; TSC %.2f MHz (calibrated against CLOCK_MONOTONIC_RAW)\n",
           B.opts.cpu, B.memory_locked ? "locked (mlockall)" : "NOT locked", B.tsc_hz / 1e6);
    if (!B.memory_locked)
        printf("  mlockall failed: %s\n", B.mlock_error);
    printf("host: load average %s at the start; the producer thread was preempted %ld times while measuring\n",
           B.loadavg, B.preempted);
    printf("latency: %llu warm-up + %llu timed calls per workload, batches of %u, %llu ns spin between "
           "batches\n",
           (unsigned long long)B.opts.warmup, (unsigned long long)B.opts.calls, B.opts.batch,
           (unsigned long long)B.opts.pause_ns);
    int failed = 0;
    for (unsigned i = 0; i < B.nruns; i++) {
        const struct backend_run *run = &B.runs[i];
        if (run->err) {
            printf("backend %s: NOT RUN: %s\n", run->backend->name, run->env.storage);
            failed = 1;
            continue;
        }
        printf("backend %s: %s", run->backend->name, run->env.storage);
        if (run->env.tsc_hz)
            printf("; its own TSC calibration %.2f MHz", (double)run->env.tsc_hz / 1e6);
        printf("\n");
    }
    print_report();
    if (B.csv_path && write_csv(B.csv_path) != 0)
        failed = 1;
    free(B.samples);
    return failed;
}
