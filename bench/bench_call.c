/*
 * bench_call.c - what one log call costs, timed the way the peers' public
 * harness times theirs (odygrd/logger_benchmarks, call_site_latency) and,
 * beside it, each call in its own bracket.
 *
 *   peers:   rdtscp; 20 calls; rdtscp; the sample is the difference / 20,
 *            then a 2 ms wait (a spin: no system call between samples)
 *   bracket: each of 20 calls between two `lfence; rdtsc; lfence`, then the
 *            same wait: a sample per call, the bracket's own cost in each
 *
 * Cases: two integers and a double (the peers' number call), two integers and
 * a 45-byte string (the peers' string call: 40 bytes of text and a number
 * that changes every sample), the same with a 200-byte string, and 16
 * numbers; "empty" is the timing alone. The calls go to a ring that
 * shmlog-collector drains (bench/call.sh starts it on another cpu) with the
 * spin policy, as the peers block when full: every call lands, none is
 * dropped.
 *
 * Built as C++ too (shmlog-bench-call-cxx, bench_call_cxx.cpp): the same
 * cases through the header's C++ path, and args3{} and str45{}, the number
 * and string calls with {} formats, which must cost what their printf twins
 * cost (the header turns a {} format into its printf format at compile time),
 * and stdstr45{}, the string call as the peers' harness makes it: the 45
 * bytes in a std::string passed by const reference to a {} format (its size
 * is known: no scan); vec8d{}, a std::vector<double> of 8 values, encoded at
 * the call as a value tree.
 */
#include "bench.h"
#include "reader.h"
#include "shmlog.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#ifdef __cplusplus
#include <string>
#include <vector>
#endif

#define CALL_APP "bench-call"
#define COLLECTOR_WAIT_NS (10ull * 1000u * 1000u * 1000u)

#ifdef __cplusplus
#define CASE_LIST "empty,args3,str45,str200,args16,args3trace,str1k,args3{},str45{},stdstr45{},vec8d{}"
#define FMT_CASES , CASE_ARGS3_FMT, CASE_STR45_FMT, CASE_STDSTR45_FMT, CASE_VEC8D_FMT
#define FMT_KEYS , "args3{}", "str45{}", "stdstr45{}", "vec8d{}"
#define FMT_LABELS , "args3 as a {} format", "str45 as a {} format", "str45 as a const std::string& to a {} format", \
    "a const std::vector<double>& of 8 values to a {} format"
#else
#define CASE_LIST "empty,args3,str45,str200,args16,args3trace,str1k"
#define FMT_CASES
#define FMT_KEYS
#define FMT_LABELS
#endif
enum call_case {
    CASE_EMPTY, CASE_ARGS3, CASE_STR45, CASE_STR200, CASE_ARGS16, CASE_ARGS3_TRACE, CASE_STR1K FMT_CASES, CASES
};
static const char *const case_key[CASES] = {"empty",  "args3",      "str45", "str200",
                                            "args16", "args3trace", "str1k" FMT_KEYS};
static const char *const case_label[CASES] = {
    "timing alone", "two ints and a double", "two ints and a 45-byte string", "two ints and a 200-byte string",
    "16 numbers (8 u64, 4 int, 4 double)", "args3 with a trace context set (shmlog_trace_set)",
    "two ints and a 1 KiB string" FMT_LABELS,
};
enum way { WAY_PEERS, WAY_BRACKET, WAYS };
static const char *const way_key[WAYS] = {"peers", "bracket"};

static struct {
    unsigned samples;       /* per case and way */
    unsigned calls;         /* calls per sample (peers) or per batch (bracket) */
    uint64_t wait_ns;
    int cpu;
    const char *dir;
    int collector;          /* wait for a collector to take the ring first */
    const char *csv;
    int cases[CASES];
    double tsc_hz;
    /* each on a cache line of its own: the NUL scan reads 16-byte blocks, so
     * where a string starts moves the count, and builds must not differ by it */
    char str45[46] __attribute__((aligned(64)));
    char str200[201] __attribute__((aligned(64)));
    char str1k[1025] __attribute__((aligned(64)));
} B;
#ifdef __cplusplus
static std::vector<double> vec8_object{1.5, 2.25, 3.125, 100.5, 0.1, 99.75, 1e-3, 42.0};
static std::string str45_object; /* B.str45's bytes, its capacity kept: no allocation between samples */
#endif

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double calibrate_tsc_hz(void)
{
    uint64_t ns0 = monotonic_ns(), tsc0 = bench_tsc();
    struct timespec nap = {0, 250 * 1000 * 1000};
    nanosleep(&nap, NULL);
    uint64_t ns1 = monotonic_ns(), tsc1 = bench_tsc();
    return (double)(tsc1 - tsc0) * 1e9 / (double)(ns1 - ns0);
}

static inline uint64_t tscp(void)
{
    uint32_t lo, hi, aux;
    __asm__ __volatile__("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux) : : "memory");
    return ((uint64_t)hi << 32) | lo;
}

/* The peers' strings: fixed text and the sample's number, made before the timer starts. */
static void make_strings(unsigned k)
{
    static const char text[] = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor ";
    snprintf(B.str45, sizeof B.str45, "%.40s%05u", text, k % 100000u);
    for (size_t i = 0; i < 195; i++)
        B.str200[i] = text[i % (sizeof text - 1)];
    snprintf(B.str200 + 195, 6, "%05u", k % 100000u);
    for (size_t i = 0; i < 1019; i++)
        B.str1k[i] = text[i % (sizeof text - 1)];
    snprintf(B.str1k + 1019, 6, "%05u", k % 100000u);
#ifdef __cplusplus
    str45_object.assign(B.str45, 45);
#endif
}

/* One call of case c with the values of call j of sample i. */
static inline __attribute__((always_inline)) void call(enum call_case c, uint64_t i, uint64_t j)
{
    const double d = (double)i + 0.1 * (double)j;
    switch (c) {
    case CASE_EMPTY:
        __asm__ __volatile__("" : : "r"(i), "r"(j), "x"(d));
        break;
    case CASE_ARGS3:
    case CASE_ARGS3_TRACE:
        SHMLOG_INFO("Logging int: %lu, int: %lu, double: %f", (unsigned long)i, (unsigned long)j, d);
        break;
    case CASE_STR45:
        SHMLOG_INFO("Logging int: %lu, int: %lu, string: %s", (unsigned long)i, (unsigned long)j, B.str45);
        break;
    case CASE_STR200:
        SHMLOG_INFO("Logging int: %lu, int: %lu, string: %s", (unsigned long)i, (unsigned long)j, B.str200);
        break;
    case CASE_STR1K:
        SHMLOG_INFO("Logging int: %lu, int: %lu, string: %s", (unsigned long)i, (unsigned long)j, B.str1k);
        break;
    case CASE_ARGS16:
        SHMLOG_INFO("a=%lu b=%lu c=%lu d=%lu e=%lu f=%lu g=%lu h=%lu i=%d j=%d k=%d l=%d m=%f n=%f o=%f p=%f",
                    (unsigned long)i, (unsigned long)j, (unsigned long)(i + 1), (unsigned long)(i + 2),
                    (unsigned long)(i + 3), (unsigned long)(i + 4), (unsigned long)(i + 5), (unsigned long)(i + 6),
                    (int)j, (int)j + 1, (int)j + 2, (int)j + 3, d, d + 1.0, d + 2.0, d + 3.0);
        break;
#ifdef __cplusplus
    case CASE_ARGS3_FMT:
        SHMLOG_INFO("Logging int: {}, int: {}, double: {:f}", (unsigned long)i, (unsigned long)j, d);
        break;
    case CASE_STR45_FMT:
        SHMLOG_INFO("Logging int: {}, int: {}, string: {}", (unsigned long)i, (unsigned long)j, B.str45);
        break;
    case CASE_STDSTR45_FMT: {
        const std::string &s = str45_object;
        SHMLOG_INFO("Logging int: {}, int: {}, string: {}", (unsigned long)i, (unsigned long)j, s);
        break;
    }
    case CASE_VEC8D_FMT: {
        vec8_object[0] = d; /* the vector made before the timer, one value the call's */
        const std::vector<double> &v = vec8_object;
        SHMLOG_INFO("Logging int: {}, px: {}", (unsigned long)i, v);
        break;
    }
#endif
    default:
        break;
    }
}

/* The spin between samples: the peers' wait, without a system call. */
static void wait_between(uint64_t cycles)
{
    uint64_t until = bench_tsc() + cycles;
    while (bench_tsc() < until)
        __asm__ __volatile__("pause" ::: "memory");
}

/* n samples of case c the peers' way: ns per call. Inlined with c constant:
 * each case's loop holds its call alone. */
static inline __attribute__((always_inline)) void run_peers(enum call_case c, double *out)
{
    const uint64_t wait = (uint64_t)((double)B.wait_ns * B.tsc_hz / 1e9);
    for (unsigned i = 0; i < B.samples; i++) {
        make_strings(i);
        const uint64_t t0 = tscp();
        for (unsigned j = 0; j < B.calls; j++)
            call(c, i, j);
        const uint64_t t1 = tscp();
        out[i] = (double)(t1 - t0) / B.calls * 1e9 / B.tsc_hz;
        wait_between(wait);
    }
}

/* The same calls, each in its own bracket: samples * calls samples, ns. */
static inline __attribute__((always_inline)) void run_bracket(enum call_case c, double *out)
{
    const uint64_t wait = (uint64_t)((double)B.wait_ns * B.tsc_hz / 1e9);
    for (unsigned i = 0; i < B.samples; i++) {
        make_strings(i);
        for (unsigned j = 0; j < B.calls; j++) {
            const uint64_t t0 = bench_tsc_fenced();
            call(c, i, j);
            const uint64_t t1 = bench_tsc_fenced();
            out[(size_t)i * B.calls + j] = (double)(t1 - t0) * 1e9 / B.tsc_hz;
        }
        wait_between(wait);
    }
}

#define RUN_CASE(c)                                                                            \
    static __attribute__((noinline)) void run_##c(int way, double *out)                         \
    {                                                                                          \
        if (way == WAY_PEERS)                                                                  \
            run_peers(c, out);                                                                 \
        else                                                                                   \
            run_bracket(c, out);                                                               \
    }
RUN_CASE(CASE_EMPTY)
RUN_CASE(CASE_ARGS3)
RUN_CASE(CASE_STR45)
RUN_CASE(CASE_STR200)
RUN_CASE(CASE_ARGS16)
RUN_CASE(CASE_STR1K)
/* The thread works for a trace while its calls are timed; the context record is written before. */
static __attribute__((noinline)) void run_CASE_ARGS3_TRACE(int way, double *out)
{
    if (shmlog_trace_set(0x4bf92f3577b34da6u, 0xa3ce929d0e0e4736u, "bench") != 0)
        fprintf(stderr, "shmlog-bench-call: shmlog_trace_set failed\n");
    run_CASE_ARGS3(way, out);
    shmlog_trace_clear();
}
#ifdef __cplusplus
RUN_CASE(CASE_ARGS3_FMT)
RUN_CASE(CASE_STR45_FMT)
RUN_CASE(CASE_STDSTR45_FMT)
RUN_CASE(CASE_VEC8D_FMT)
#define FMT_RUNS , run_CASE_ARGS3_FMT, run_CASE_STR45_FMT, run_CASE_STDSTR45_FMT, run_CASE_VEC8D_FMT
#else
#define FMT_RUNS
#endif
static void (*const run_case[CASES])(int, double *) = {run_CASE_EMPTY, run_CASE_ARGS3, run_CASE_STR45,
                                                          run_CASE_STR200, run_CASE_ARGS16, run_CASE_ARGS3_TRACE,
                                                          run_CASE_STR1K FMT_RUNS};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The peers' percentile: the sorted sample at index n * q. */
static double pct(const double *sorted, size_t n, double q)
{
    size_t k = (size_t)((double)n * q);
    return sorted[k < n ? k : n - 1];
}

/* Waits until a collector owns every ring of this process: the spin policy
 * would otherwise wait for space no one frees. */
static int wait_for_collector(const char *dir)
{
    const uint64_t give_up = monotonic_ns() + COLLECTOR_WAIT_NS;
    for (;;) {
        DIR *d = opendir(dir);
        if (!d)
            return -errno;
        int rings = 0, owned = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            unsigned kind;
            char app[SHMLOG_APP_BYTES], path[4400], err[256];
            uint32_t pid, cpu;
            if (shm_parse_seg_name(e->d_name, &kind, app, sizeof app, &pid, &cpu) != 0 ||
                kind != SHMLOG_SEG_RING || pid != (uint32_t)getpid() || strcmp(app, CALL_APP) != 0)
                continue;
            struct shm_seg seg;
            struct shm_ring_view view;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (shm_seg_open(&seg, path, 0, NULL, err, sizeof err) != 0)
                continue;
            rings++;
            if (shm_ring_view_init(&view, &seg, err, sizeof err) == 0 &&
                __atomic_load_n(&view.hdr->collector_pid, __ATOMIC_ACQUIRE) != 0)
                owned++;
            shm_seg_close(&seg);
        }
        closedir(d);
        if (rings > 0 && owned == rings)
            return 0;
        if (monotonic_ns() > give_up)
            return -ETIMEDOUT;
        struct timespec nap = {0, 1000 * 1000};
        nanosleep(&nap, NULL);
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: shmlog-bench-call --dir D [options]\n"
            "  --dir D          segment directory a shmlog-collector watches (bench/call.sh makes both)\n"
            "  --no-collector   do not wait for a collector (the drop policy then: a full ring drops, counted)\n"
            "  --cases LIST     of " CASE_LIST " (default all)\n"
            "  --samples N      samples per case and way (default 10000, as the peers)\n"
            "  --calls N        calls per sample (default 20)\n"
            "  --wait-us U      spin between samples (default 2000)\n"
            "  --cpu N          the producer's cpu (default 0)\n"
            "  --csv FILE       also every percentile as CSV\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dir", required_argument, 0, 'd'},     {"no-collector", no_argument, 0, 'n'},
        {"cases", required_argument, 0, 'c'},   {"samples", required_argument, 0, 's'},
        {"calls", required_argument, 0, 'k'},   {"wait-us", required_argument, 0, 'w'},
        {"cpu", required_argument, 0, 'p'},     {"csv", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    B.samples = 10000;
    B.calls = 20;
    B.wait_ns = 2000000;
    B.collector = 1;
    int any_case = 0, opt;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'd': B.dir = optarg; break;
        case 'n': B.collector = 0; break;
        case 's': B.samples = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'k': B.calls = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'w': B.wait_ns = strtoull(optarg, NULL, 10) * 1000u; break;
        case 'p': B.cpu = atoi(optarg); break;
        case 'o': B.csv = optarg; break;
        case 'c': {
            char *list = strdup(optarg), *save = NULL;
            for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                int found = 0;
                for (int c = 0; c < CASES; c++)
                    if (strcmp(t, case_key[c]) == 0)
                        B.cases[c] = found = any_case = 1;
                if (!found) {
                    fprintf(stderr, "shmlog-bench-call: no case %s: use " CASE_LIST "\n", t);
                    return 2;
                }
            }
            free(list);
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!B.dir || !B.samples || !B.calls) {
        usage(stderr);
        return 2;
    }
    if (!any_case)
        for (int c = 0; c < CASES; c++)
            B.cases[c] = 1;

    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(B.cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        fprintf(stderr, "shmlog-bench-call: cannot pin to cpu %d: %s\n", B.cpu, strerror(errno));
        return 1;
    }
    int locked = mlockall(MCL_CURRENT | MCL_FUTURE) == 0;
    B.tsc_hz = calibrate_tsc_hz();

    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = CALL_APP;
    cfg.dir = B.dir;
    cfg.quiet = 1;
    cfg.policy = B.collector ? SHMLOG_SPIN : SHMLOG_DROP;
    int err = shmlog_init(&cfg);
    if (!err)
        err = shmlog_thread_init();
    if (err) {
        fprintf(stderr, "shmlog-bench-call: shmlog_init in %s: %s\n", B.dir, strerror(-err));
        return 1;
    }
    if (B.collector && (err = wait_for_collector(B.dir)) != 0) {
        fprintf(stderr, "shmlog-bench-call: no collector took the ring in %s: %s\n", B.dir, strerror(-err));
        shmlog_shutdown();
        return 1;
    }

    double *out = (double *)malloc(sizeof *out * (size_t)B.samples * B.calls);
    FILE *csv = B.csv ? fopen(B.csv, "w") : NULL;
    if (!out || (B.csv && !csv)) {
        fprintf(stderr, "shmlog-bench-call: %s\n", strerror(errno));
        return 1;
    }
    if (csv)
        fprintf(csv, "case,way,samples,p50_ns,p75_ns,p90_ns,p99_ns,p999_ns,p9999_ns,max_ns\n");
    printf("# cpu %d, TSC %.1f MHz, memory %s, %u samples of %u calls per case and way, %.1f ms between, %s\n",
           B.cpu, B.tsc_hz / 1e6, locked ? "locked" : "NOT locked", B.samples, B.calls, (double)B.wait_ns / 1e6,
           B.collector ? "drained by shmlog-collector, spin policy" : "no collector, drop policy");
    printf("# ns per call: peers = (rdtscp, %u calls, rdtscp) / %u; bracket = each call in lfence;rdtsc;lfence\n",
           B.calls, B.calls);
    printf("%-10s %-8s %8s %8s %8s %8s %8s %8s %8s  %s\n", "case", "way", "p50", "p75", "p90", "p99", "p99.9",
           "p99.99", "max", "what");
    uint64_t calls_made = 0;
    for (int c = 0; c < CASES; c++) {
        if (!B.cases[c])
            continue;
        call((enum call_case)c, 100, 100); /* the site registers itself: the peers leave the first call out too */
        calls_made += c != CASE_EMPTY;
        for (int w = 0; w < WAYS; w++) {
            size_t n = w == WAY_PEERS ? B.samples : (size_t)B.samples * B.calls;
            run_case[c](w, out);
            calls_made += c != CASE_EMPTY ? (uint64_t)B.samples * B.calls : 0;
            qsort(out, n, sizeof *out, cmp_double);
            double p[7] = {pct(out, n, 0.5),   pct(out, n, 0.75),   pct(out, n, 0.9), pct(out, n, 0.99),
                           pct(out, n, 0.999), pct(out, n, 0.9999), out[n - 1]};
            printf("%-10s %-8s %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f  %s\n", case_key[c], way_key[w], p[0], p[1],
                   p[2], p[3], p[4], p[5], p[6], case_label[c]);
            if (csv)
                fprintf(csv, "%s,%s,%zu,%.2f,%.2f,%.2f,%.2f,%.2f,%.2f,%.2f\n", case_key[c], way_key[w], n, p[0],
                        p[1], p[2], p[3], p[4], p[5], p[6]);
            fflush(stdout);
        }
    }
    printf("# records written %llu, dropped %llu\n", (unsigned long long)calls_made,
           (unsigned long long)shmlog_dropped());
    if (csv)
        fclose(csv);
    free(out);
    shmlog_shutdown();
    return 0;
}
