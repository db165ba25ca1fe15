/*
 * bench_producer.c - latency and throughput of a producer log call, for shmlog
 * and, in the same run, for the peers built next to it (see bench.h).
 *
 * Latency: every call sits between two `lfence; rdtsc; lfence` reads, after a
 * warm-up, in paced batches; the same bracket around nothing is measured the
 * same way, so the figures can be read raw and above the bracket.
 * Throughput: calls back to back (or paced, --rate) while the backend's
 * consumer runs on another cpu; drops are counted and printed, never hidden.
 * Overload: calls paced at --rate, typically above what the consumer drains,
 * with one call of each chunk timed: what a call costs while the buffer is
 * full, next to what was dropped.
 * With --cpus, one producer thread per listed cpu runs every phase at the same
 * time; the counters and the "all" rows cover them together.
 */
#include "bench.h"
#include "shmlog.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
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

static const char *const workload_label[BENCH_WORKLOADS] = {
    [BENCH_ARGS3] = "3 args (u64, double, int)",
    [BENCH_ARGS3_STR] = "3 args + 40-char string",
};
static const char *const workload_key[BENCH_WORKLOADS] = {
    [BENCH_ARGS3] = "args3",
    [BENCH_ARGS3_STR] = "args3_str40",
};

BENCH_DEFINE_LOOPS(empty_bracket, (void)0)
/* One rdtsc in the bracket: the floor of any call that stores a timestamp,
 * so what a logger adds above it is its own cost. */
static volatile uint64_t tsc_sink;
BENCH_DEFINE_LOOPS(rdtsc_alone, tsc_sink = bench_tsc())
/* And one load of a line no other core writes: the floor of a call that reads
 * any state at all. A store waits in the store buffer; a load does not, and
 * on a core that was away (an interrupt, a TLB flushed on kernel entry) it
 * waits for the page walk and the line (bench/tail.sh shows it by rate). */
static volatile uint64_t load_source;
BENCH_DEFINE_LOOPS(rdtsc_load, tsc_sink = bench_tsc() + load_source)

enum { P50, P99, P999, P9999, PMAX, NPCT };
static const char *const pct_label[NPCT] = {"p50", "p99", "p99.9", "p99.99", "max"};

enum kind { KIND_LATENCY, KIND_THROUGHPUT, KIND_OVERLOAD, KINDS };
static const char *const kind_name[KINDS] = {"latency", "throughput", "overload"};

#define MAX_PRODUCERS 64
/* How long a process of --start-gate waits for the others. */
#define GATE_LIMIT_NS (60ull * 1000u * 1000u * 1000u)

/* One line of the report. */
struct result {
    const char *backend;
    const char *label;
    const char *key;
    enum kind kind;
    int producer;            /* index in --cpus; -1: the producers together */
    int cpu;                 /* the producer's cpu; -1: several */
    uint64_t calls;          /* timed calls (latency), calls made (throughput, overload) */
    uint64_t warmup;         /* untimed calls before the timed ones */
    uint64_t samples;        /* timed calls behind cycles[] */
    uint64_t cycles[NPCT];   /* latency and overload */
    double core_mean;        /* mean of the samples up to p99, in cycles: finer than a
                                TSC tick, which is 10 ns on some AMD hosts */
    double calls_per_s;      /* throughput and overload */
    double ns_per_call;
    uint64_t t_start_ns;     /* CLOCK_MONOTONIC_RAW, which every process shares: */
    uint64_t t_end_ns;       /* runs of several processes add up over one span */
    uint64_t dropped;        /* UINT64_MAX: the backend cannot tell, or a row of one thread */
    uint64_t delivered;      /* UINT64_MAX: the same */
    uint64_t probes;         /* --probe-ms records logged besides the calls */
    int hugepages;
};

/* One producer thread; producer 0 is the main thread. */
struct producer {
    int index;
    int cpu;
    pthread_t thread;
    uint64_t *samples;       /* its slice of B.samples */
    uint64_t nsamples;       /* timed calls of the last phase */
    uint64_t calls;          /* calls made in the last phase, warm-up excluded */
    uint64_t t_start_ns;
    uint64_t t_end_ns;
    long preempted;          /* involuntary context switches during the last phase */
};

/* What every producer runs next. */
struct phase {
    enum kind kind;
    const struct bench_backend *backend;  /* NULL: the empty bracket */
    const struct bench_loops *loops;
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
    int phases;              /* bit k: run phase kind k */
    double rate;             /* throughput and overload calls per second; 0: back to back */
    uint64_t duration_ms;    /* a paced run stops after this long; 0: once --burst calls are made */
    const char *samples_path; /* every timed call of the backends, raw cycles */
    FILE *samples_file;
    uint64_t probe_ms;       /* a probe record every this many ms of a shmlog latency phase; 0: none */
    uint64_t probes;         /* probe records logged so far */
    uint64_t next_probe;     /* TSC at or after which the next one goes */
    const char *gate_dir;    /* --start-gate */
    int gate_passed;
    double tsc_hz;
    int memory_locked;
    char loadavg[64];        /* /proc/loadavg at the start: others' load skews every figure */
    long preempted;          /* involuntary context switches of the producer threads */
    char mlock_error[128];
    struct producer producers[MAX_PRODUCERS];
    int nproducers;
    int cpus_given;
    uint64_t sample_cap;     /* samples per producer */
    uint64_t *samples;
    pthread_barrier_t start; /* the producers start each phase together */
    struct phase phase;
    struct result *results;
    unsigned nresults;
    unsigned max_results;
    const struct result *empty;
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
    r->samples = n;
    if (n == 0)
        return;
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

static long thread_preemptions(void)
{
    struct rusage usage;
    getrusage(RUSAGE_THREAD, &usage);
    return usage.ru_nivcsw;
}

/* --probe-ms: an untimed record of its own site and level, which a reader
 * of the collector's files can pick out to see how long a call takes to reach
 * it. */
static void log_probe(void)
{
    SHMLOG_WARN("bench probe seq=%lu", (unsigned long)B.probes);
    B.probes++;
}

/* n paced calls from call number first. Probing, a batch at a time: a due
 * probe goes out after a batch and before its pause, so the pause stands
 * between it and the next timed call. */
static void latency_calls(const struct bench_loops *loops, uint64_t first, uint64_t n, uint64_t *samples,
                          int probing)
{
    if (!probing) {
        loops->latency(first, n, B.opts.batch, pause_cycles(), samples);
        return;
    }
    const uint64_t every = (uint64_t)((double)B.probe_ms * B.tsc_hz / 1e3);
    for (uint64_t k = 0; k < n;) {
        const uint64_t m = n - k < B.opts.batch ? n - k : B.opts.batch;
        loops->latency(first + k, m, B.opts.batch, 0, samples + k);
        k += m;
        const uint64_t now = bench_tsc();
        if (now >= B.next_probe) {
            log_probe();
            B.next_probe = now + every;
        }
        bench_spin(pause_cycles());
    }
}

/* Warm-up then the timed calls into samples. Call numbers continue across
 * the two so the arguments keep changing. */
static void run_latency(const struct bench_loops *loops, uint64_t *samples, int probing)
{
    uint64_t done = 0;
    for (uint64_t left = B.opts.warmup; left;) {
        uint64_t n = left < B.opts.calls ? left : B.opts.calls;
        latency_calls(loops, done, n, samples, probing);
        done += n;
        left -= n;
    }
    latency_calls(loops, done, B.opts.calls, samples, probing);
}

/* Up to n calls at B.rate per second: chunks of `batch` back to back, each
 * started on a schedule; when the calls are slower than the schedule, as fast
 * as they go. Stops early after --duration-ms. With samples, one call of each
 * chunk, at a position that moves from chunk to chunk, is timed in the fenced
 * bracket (*nsamples of them): the others stay untimed so the bracket does not
 * lower the rate the consumer faces. Returns the calls made. */
static uint64_t run_paced(const struct bench_loops *loops, uint64_t n, uint64_t *samples, uint64_t *nsamples)
{
    const unsigned chunk = B.opts.batch;
    const double cycles_per_chunk = (double)chunk * B.tsc_hz / B.rate;
    const uint64_t start = bench_tsc();
    const uint64_t deadline =
        B.duration_ms ? start + (uint64_t)((double)B.duration_ms * B.tsc_hz / 1e3) : UINT64_MAX;
    uint64_t chunks = 0, done = 0;
    while (done < n) {
        const uint64_t k = n - done < chunk ? n - done : chunk;
        if (samples) {
            const uint64_t at = chunks % k;
            loops->burst(done, at);
            loops->latency(done + at, 1, 1, 0, &samples[chunks]);
            loops->burst(done + at + 1, k - at - 1);
        } else {
            loops->burst(done, k);
        }
        done += k;
        chunks++;
        const uint64_t next = start + (uint64_t)((double)chunks * cycles_per_chunk);
        uint64_t now;
        while ((now = bench_tsc()) < next)
            __asm__ __volatile__("pause" ::: "memory");
        if (now >= deadline)
            break;
    }
    if (nsamples)
        *nsamples = samples ? chunks : 0;
    return done;
}

/* One producer's part of B.phase, started with the others. */
static void producer_phase(struct producer *p)
{
    const struct phase *ph = &B.phase;
    if (p->index > 0 && ph->backend && ph->backend->thread_init) {
        int err = ph->backend->thread_init();
        if (err)
            fprintf(stderr, "bench: %s: producer %d on cpu %d: thread init: %s (its drops are counted)\n",
                    ph->backend->name, p->index, p->cpu, strerror(-err));
    }
    if (B.nproducers > 1)
        pthread_barrier_wait(&B.start);
    const long preempted = thread_preemptions();
    p->nsamples = 0;
    p->t_start_ns = raw_ns();
    switch (ph->kind) {
    case KIND_LATENCY:
        /* one producer probes, through shmlog only: the probe is its call site */
        run_latency(ph->loops, p->samples, B.probe_ms && p->index == 0 && ph->backend == &bench_backend_shmlog);
        p->calls = p->nsamples = B.opts.calls;
        break;
    case KIND_THROUGHPUT:
        if (B.rate > 0) {
            p->calls = run_paced(ph->loops, B.opts.burst, NULL, NULL);
        } else {
            ph->loops->burst(0, B.opts.burst);
            p->calls = B.opts.burst;
        }
        break;
    case KIND_OVERLOAD:
        p->calls = run_paced(ph->loops, B.opts.burst, p->samples, &p->nsamples);
        break;
    case KINDS:
        break;
    }
    p->t_end_ns = raw_ns();
    p->preempted = thread_preemptions() - preempted;
}

static void *producer_main(void *arg)
{
    struct producer *p = arg;
    pin_to(p->cpu); /* the cpu was checked at start-up; unpinned, it still counts */
    producer_phase(p);
    return NULL;
}

/* --start-gate: processes started together begin their timed calls together.
 * Once set up, this one says so with DIR/ready.<pid>, then waits for DIR/go. */
static void wait_at_gate(void)
{
    if (!B.gate_dir || B.gate_passed)
        return;
    B.gate_passed = 1;
    char path[4200];
    snprintf(path, sizeof path, "%s/ready.%d", B.gate_dir, (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        fprintf(stderr, "bench: %s: %s; starting without the others\n", path, strerror(errno));
        return;
    }
    close(fd);
    snprintf(path, sizeof path, "%s/go", B.gate_dir);
    const uint64_t give_up = raw_ns() + GATE_LIMIT_NS;
    while (access(path, F_OK) != 0) {
        if (raw_ns() > give_up) {
            fprintf(stderr, "bench: no %s after %llu s; starting without the others\n", path,
                    GATE_LIMIT_NS / 1000000000ull);
            return;
        }
        struct timespec nap = {0, 200 * 1000};
        nanosleep(&nap, NULL);
    }
}

/* Every producer runs `kind` over loops, at the same time. */
static void run_phase(enum kind kind, const struct bench_backend *b, const struct bench_loops *loops)
{
    B.phase = (struct phase){kind, b, loops};
    if (b)
        wait_at_gate();
    for (int i = 1; i < B.nproducers; i++) {
        int err = pthread_create(&B.producers[i].thread, NULL, producer_main, &B.producers[i]);
        if (err) {
            /* the threads already made wait at the barrier for good */
            fprintf(stderr, "shmlog-bench-producer: producer thread %d: %s\n", i, strerror(err));
            if (b)
                b->teardown();
            exit(1);
        }
    }
    producer_phase(&B.producers[0]);
    for (int i = 1; i < B.nproducers; i++)
        pthread_join(B.producers[i].thread, NULL);
}

static struct result *new_result(const char *backend, const char *label, const char *key, int hugepages)
{
    if (B.nresults == B.max_results) {
        fprintf(stderr, "shmlog-bench-producer: more than %u result rows\n", B.max_results);
        exit(1);
    }
    struct result *r = &B.results[B.nresults++];
    memset(r, 0, sizeof *r);
    r->backend = backend;
    r->label = label;
    r->key = key;
    r->hugepages = hugepages;
    r->dropped = UINT64_MAX;
    r->delivered = UINT64_MAX;
    return r;
}

static void set_span(struct result *r, enum kind kind, uint64_t calls, uint64_t t_start_ns, uint64_t t_end_ns)
{
    r->kind = kind;
    r->calls = calls;
    r->t_start_ns = t_start_ns;
    r->t_end_ns = t_end_ns;
    if (kind != KIND_LATENCY && t_end_ns > t_start_ns && calls) {
        r->ns_per_call = (double)(t_end_ns - t_start_ns) / (double)calls;
        r->calls_per_s = (double)calls * 1e9 / (double)(t_end_ns - t_start_ns);
    }
}

static void write_samples(const uint64_t *v, uint64_t n)
{
    if (B.samples_file && fwrite(v, sizeof *v, n, B.samples_file) != n)
        fprintf(stderr, "shmlog-bench-producer: %s: %s\n", B.samples_path, strerror(errno));
}

/* The rows of the phase just run: one per producer when there are several,
 * then the producers together, the row that gets the counters. */
static struct result *record_phase(const char *backend, const char *label, const char *key, int hugepages)
{
    const enum kind kind = B.phase.kind;
    const int timed = kind != KIND_THROUGHPUT;
    uint64_t calls = 0, nsamples = 0, t_start = UINT64_MAX, t_end = 0;
    for (int i = 0; i < B.nproducers; i++) {
        struct producer *p = &B.producers[i];
        if (B.nproducers > 1) {
            struct result *r = new_result(backend, label, key, hugepages);
            set_span(r, kind, p->calls, p->t_start_ns, p->t_end_ns);
            r->producer = i;
            r->cpu = p->cpu;
            r->warmup = kind == KIND_LATENCY ? B.opts.warmup : 0;
            if (timed)
                summarize(p->samples, p->nsamples, r);
        }
        calls += p->calls;
        t_start = p->t_start_ns < t_start ? p->t_start_ns : t_start;
        t_end = p->t_end_ns > t_end ? p->t_end_ns : t_end;
        B.preempted += p->preempted;
        /* Gathered at the front for the row of all: each slice starts at or
         * after the end of the gathered ones, and ends before the next slice. */
        if (timed) {
            memmove(B.samples + nsamples, p->samples, p->nsamples * sizeof *B.samples);
            nsamples += p->nsamples;
        }
    }
    struct result *all = new_result(backend, label, key, hugepages);
    set_span(all, kind, calls, t_start, t_end);
    all->producer = -1;
    all->cpu = B.nproducers == 1 ? B.producers[0].cpu : -1;
    all->warmup = kind == KIND_LATENCY ? B.opts.warmup * (uint64_t)B.nproducers : 0;
    if (timed) {
        if (B.phase.backend)
            write_samples(B.samples, nsamples);
        summarize(B.samples, nsamples, all);
    }
    return all;
}

/* Counters before a phase, to report what it alone dropped and delivered. */
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

static void run_backend(struct backend_run *run)
{
    const struct bench_backend *b = run->backend;
    run->err = b->setup(&B.opts, &run->env);
    if (run->err) {
        fprintf(stderr, "bench: %s: cannot set up: %s\n", b->name, run->env.storage);
        return;
    }
    for (int kind = 0; kind < KINDS; kind++) {
        for (int w = 0; w < BENCH_WORKLOADS; w++) {
            if (!(B.phases & 1 << kind) || !(B.workloads & 1 << w))
                continue;
            struct counters before = read_counters(b);
            const uint64_t probes = B.probes;
            run_phase(kind, b, &b->loops[w]);
            struct result *all = record_phase(b->name, workload_label[w], workload_key[w], run->env.hugepages);
            all->probes = B.probes - probes;
            finish_counters(b, before, all); /* a latency phase counts its warm-up calls and probes too */
        }
    }
    b->teardown();
}

/* ==== Report ==== */

/* "cpu 0" for the one producer, "all" for several together, "#1 cpu 1" for one of them. */
static const char *producer_label(const struct result *r, char *buf, size_t size)
{
    if (r->producer >= 0)
        snprintf(buf, size, "#%d cpu %d", r->producer, r->cpu);
    else if (r->cpu >= 0)
        snprintf(buf, size, "cpu %d", r->cpu);
    else
        snprintf(buf, size, "all %d", B.nproducers);
    return buf;
}

static void print_count(uint64_t v, int width)
{
    if (v == UINT64_MAX)
        printf(" %*s", width, "n/a");
    else
        printf(" %*llu", width, (unsigned long long)v);
}

static void print_row_start(const struct result *r)
{
    char who[32];
    printf("  %-14s %-25s %-9s", r->backend, r->label, producer_label(r, who, sizeof who));
}

static void print_header_start(void)
{
    printf("  %-14s %-25s %-9s", "backend", "workload", "producer");
}

static void print_latency_block(int in_ns)
{
    const struct result *empty = B.empty;
    printf("\nlatency, %s per call (timed calls %llu per producer, batches of %u)\n", in_ns ? "ns" : "TSC cycles",
           (unsigned long long)B.opts.calls, B.opts.batch);
    print_header_start();
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
        if (r->kind != KIND_LATENCY)
            continue;
        print_row_start(r);
        for (int p = 0; p < NPCT; p++) {
            if (in_ns)
                printf(" %9.1f", cycles_to_ns(r->cycles[p]));
            else
                printf(" %9llu", (unsigned long long)r->cycles[p]);
        }
        printf(" %9.1f", in_ns ? r->core_mean * 1e9 / B.tsc_hz : r->core_mean);
        if (r == empty || !strcmp(r->backend, "none")) {
            printf("\n");
            continue;
        }
        if (in_ns) {
            printf(" %10.1f %10.1f", cycles_to_ns(r->cycles[P50]) - cycles_to_ns(empty->cycles[P50]),
                   (r->core_mean - empty->core_mean) * 1e9 / B.tsc_hz);
        } else {
            print_count(r->dropped, 9);
            print_count(r->delivered, 10);
        }
        printf("\n");
    }
}

static void print_rate_block(enum kind kind)
{
    printf("\n%s, %llu calls per producer", kind_name[kind], (unsigned long long)B.opts.burst);
    if (B.rate > 0)
        printf(" paced at %.0f per second", B.rate);
    else
        printf(" back to back");
    if (B.rate > 0 && B.duration_ms)
        printf(", or fewer: stopped after %llu ms", (unsigned long long)B.duration_ms);
    if (kind == KIND_OVERLOAD)
        printf("; one call in %u timed, ns", B.opts.batch);
    printf("\n");
    print_header_start();
    printf(" %10s %12s %9s %10s %10s", "calls", "calls/s", "ns/call", "dropped", "drained");
    if (kind == KIND_OVERLOAD)
        printf(" %9s %9s %9s %9s", "p50", "p99", "p99.9", "max");
    printf("\n");
    for (unsigned i = 0; i < B.nresults; i++) {
        const struct result *r = &B.results[i];
        if (r->kind != kind)
            continue;
        print_row_start(r);
        printf(" %10llu %12.0f %9.2f", (unsigned long long)r->calls, r->calls_per_s, r->ns_per_call);
        print_count(r->dropped, 10);
        print_count(r->delivered, 10);
        if (kind == KIND_OVERLOAD)
            printf(" %9.1f %9.1f %9.1f %9.1f", cycles_to_ns(r->cycles[P50]), cycles_to_ns(r->cycles[P99]),
                   cycles_to_ns(r->cycles[P999]), cycles_to_ns(r->cycles[PMAX]));
        printf("\n");
    }
}

static void print_report(void)
{
    print_latency_block(0);
    print_latency_block(1);
    for (enum kind kind = KIND_THROUGHPUT; kind < KINDS; kind++)
        if (B.phases & 1 << kind)
            print_rate_block(kind);

    /* Every call is either delivered or dropped: say so when it is not. */
    for (unsigned i = 0; i < B.nresults; i++) {
        const struct result *r = &B.results[i];
        uint64_t logged = r->calls + r->warmup + r->probes;
        if (r->delivered != UINT64_MAX && r->dropped != UINT64_MAX && r->delivered + r->dropped != logged)
            printf("  WARNING: %s %s %s: %llu calls but %llu drained + %llu dropped\n", r->backend,
                   kind_name[r->kind], r->label, (unsigned long long)logged, (unsigned long long)r->delivered,
                   (unsigned long long)r->dropped);
    }
    printf("\nmean<p99: mean of the samples up to p99 (resolves below a TSC tick); x-empty: the same figure\n"
           "minus the empty bracket's; latency dropped/drained count the warm-up calls too; the counters\n"
           "are on the rows of all producers together.\n");
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
               "calls_per_s,ns_per_call,dropped,drained,hugepages,tsc_hz,"
               "producer,cpu,t_start_ns,t_end_ns,samples,probes\n");
    const struct result *empty = B.empty;
    for (unsigned i = 0; i < B.nresults; i++) {
        const struct result *r = &B.results[i];
        const int timed = r->kind != KIND_THROUGHPUT && r->samples;
        fprintf(f, "%s,%s,%s,%llu,%llu,%u,%llu", r->backend, r->key, kind_name[r->kind],
                (unsigned long long)r->calls, (unsigned long long)r->warmup, timed ? B.opts.batch : 0,
                (unsigned long long)(r->kind == KIND_LATENCY ? B.opts.pause_ns : 0));
        for (int p = 0; p < NPCT; p++)
            timed ? fprintf(f, ",%llu", (unsigned long long)r->cycles[p]) : fprintf(f, ",");
        for (int p = 0; p < NPCT; p++)
            timed ? fprintf(f, ",%.2f", cycles_to_ns(r->cycles[p])) : fprintf(f, ",");
        if (timed)
            fprintf(f, ",%.2f", r->core_mean * 1e9 / B.tsc_hz);
        else
            fprintf(f, ",");
        if (r->kind == KIND_LATENCY && strcmp(r->backend, "none") != 0)
            fprintf(f, ",%.2f,%.2f", cycles_to_ns(r->cycles[P50]) - cycles_to_ns(empty->cycles[P50]),
                    (r->core_mean - empty->core_mean) * 1e9 / B.tsc_hz);
        else
            fprintf(f, ",,");
        if (r->kind == KIND_LATENCY)
            fprintf(f, ",,");
        else
            fprintf(f, ",%.0f,%.3f", r->calls_per_s, r->ns_per_call);
        if (r->dropped == UINT64_MAX)
            fprintf(f, ",");
        else
            fprintf(f, ",%llu", (unsigned long long)r->dropped);
        if (r->delivered == UINT64_MAX)
            fprintf(f, ",");
        else
            fprintf(f, ",%llu", (unsigned long long)r->delivered);
        fprintf(f, ",%s,%.0f", r->hugepages > 0 ? "yes" : r->hugepages == 0 ? "no" : "", B.tsc_hz);
        if (r->producer >= 0)
            fprintf(f, ",%d", r->producer);
        else
            fprintf(f, ",all");
        if (r->cpu >= 0)
            fprintf(f, ",%d", r->cpu);
        else
            fprintf(f, ",");
        fprintf(f, ",%llu,%llu,%llu,%llu\n", (unsigned long long)r->t_start_ns, (unsigned long long)r->t_end_ns,
                (unsigned long long)r->samples, (unsigned long long)r->probes);
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
            "  --calls N       timed calls per latency workload and producer (default 2M)\n"
            "  --warmup N      untimed calls before them (default 200k)\n"
            "  --batch N       calls per paced batch (default 20)\n"
            "  --pause-ns N    spin between batches (default 2000)\n"
            "  --burst N       calls per throughput or overload workload and producer\n"
            "                  (default 10M)\n"
            "  --cpu N         producer cpu (default 0)\n"
            "  --cpus LIST     one producer thread per cpu of LIST (e.g. 0,1), all running\n"
            "                  each phase at once; overrides --cpu\n"
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
            "  --phase P       latency, throughput, overload, or all: latency and throughput\n"
            "                  (default all); overload: --burst calls paced at --rate with\n"
            "                  one call in --batch timed, for the latency while full\n"
            "  --rate R        throughput and overload calls paced at R per second, in chunks\n"
            "                  of --batch (default 0: back to back)\n"
            "  --duration-ms N a paced run stops after N ms, --burst calls made or not\n"
            "  --probe-ms N    shmlog latency phase: between two batches, once N ms have\n"
            "                  passed, log an untimed WARN \"bench probe seq=K\" from a site\n"
            "                  of its own, for the delay until a reader sees it (default 0: off)\n"
            "  --samples FILE  every timed call of the backends, in TSC cycles (native\n"
            "                  uint64), to merge the percentiles of several processes\n"
            "  --start-gate D  once set up, create D/ready.<pid>, then wait for D/go before\n"
            "                  the first timed call: processes started together measure together\n"
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

/* "0,1": one producer per cpu. 0, or -1 on a malformed list. */
static int parse_cpus(const char *s)
{
    B.nproducers = 0;
    for (const char *p = s;;) {
        if (*p < '0' || *p > '9' || B.nproducers == MAX_PRODUCERS)
            return -1;
        char *end;
        errno = 0;
        unsigned long cpu = strtoul(p, &end, 10);
        if (errno || cpu >= CPU_SETSIZE)
            return -1;
        B.producers[B.nproducers++].cpu = (int)cpu;
        if (*end == 0)
            return 0;
        if (*end != ',')
            return -1;
        p = end + 1;
    }
}

/* "all" (latency and throughput): overload needs a rate, so only by name. */
#define DEFAULT_PHASES (1 << KIND_LATENCY | 1 << KIND_THROUGHPUT)

/* The bit of arg among names[0..n), all_bits for "all", 0 for no such name. */
static int choice_bits(const char *arg, const char *const *names, int n, int all_bits)
{
    if (strcmp(arg, "all") == 0)
        return all_bits;
    for (int i = 0; i < n; i++)
        if (strcmp(arg, names[i]) == 0)
            return 1 << i;
    return 0;
}

static int parse_options(int argc, char **argv)
{
    enum { O_CALLS = 256, O_WARMUP, O_BATCH, O_PAUSE, O_BURST, O_CPU, O_DRAIN_CPU, O_DRAIN_POLL, O_RING,
           O_DURATION, O_PROBE, O_RATE, O_DIR, O_NO_DRAIN, O_BACKEND, O_CSV, O_WORKLOAD, O_PHASE, O_OUT, O_COLLECTOR,
           O_CPUS, O_SAMPLES, O_GATE, O_HELP };
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
        {"collector", no_argument, NULL, O_COLLECTOR},   {"cpus", required_argument, NULL, O_CPUS},
        {"duration-ms", required_argument, NULL, O_DURATION}, {"samples", required_argument, NULL, O_SAMPLES},
        {"start-gate", required_argument, NULL, O_GATE}, {"probe-ms", required_argument, NULL, O_PROBE},
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
    B.phases = DEFAULT_PHASES;
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
        case O_DURATION: B.duration_ms = v; break;
        case O_PROBE: B.probe_ms = v; break;
        case O_RATE: B.rate = (double)v; break;
        case O_OUT: o->out_dir = optarg; break;
        case O_COLLECTOR: o->drain = 0; o->external_drain = 1; break;
        case O_SAMPLES: B.samples_path = optarg; break;
        case O_GATE: B.gate_dir = optarg; break;
        case O_CPUS:
            if (parse_cpus(optarg) != 0) {
                fprintf(stderr, "shmlog-bench-producer: --cpus: not a list of at most %d cpus: %s\n",
                        MAX_PRODUCERS, optarg);
                return -1;
            }
            B.cpus_given = 1;
            break;
        case O_WORKLOAD:
            B.workloads = choice_bits(optarg, workload_key, BENCH_WORKLOADS, (1 << BENCH_WORKLOADS) - 1);
            if (!B.workloads) {
                fprintf(stderr, "shmlog-bench-producer: --workload: no such workload: %s\n", optarg);
                return -1;
            }
            break;
        case O_PHASE:
            B.phases = choice_bits(optarg, kind_name, KINDS, DEFAULT_PHASES);
            if (!B.phases) {
                fprintf(stderr, "shmlog-bench-producer: --phase: latency, throughput, overload or all: %s\n",
                        optarg);
                return -1;
            }
            break;
        case O_BACKEND: B.only = optarg; break;
        case O_CSV: B.csv_path = optarg; break;
        case O_HELP: usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (!B.cpus_given) {
        B.nproducers = 1;
        B.producers[0].cpu = o->cpu;
    }
    o->cpu = B.producers[0].cpu;
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
    else if ((B.phases & 1 << KIND_OVERLOAD) && B.rate <= 0)
        bad = "--phase overload needs --rate";
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

/* Every producer cpu is one this process may run on: a thread that cannot
 * be pinned would measure something else. */
static int check_producer_cpus(void)
{
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
        fprintf(stderr, "shmlog-bench-producer: sched_getaffinity: %s\n", strerror(errno));
        return -1;
    }
    for (int i = 0; i < B.nproducers; i++) {
        B.producers[i].index = i;
        if (!CPU_ISSET(B.producers[i].cpu, &allowed)) {
            fprintf(stderr, "shmlog-bench-producer: cpu %d is not one this process may run on\n",
                    B.producers[i].cpu);
            return -1;
        }
    }
    return 0;
}

/* Sample slices of every producer, and room for every result row. */
static int allocate(void)
{
    B.sample_cap = B.opts.calls;
    if (B.phases & 1 << KIND_OVERLOAD) {
        uint64_t chunks = B.opts.burst / B.opts.batch + 1;
        B.sample_cap = chunks > B.sample_cap ? chunks : B.sample_cap;
    }
    if (B.sample_cap > SIZE_MAX / sizeof *B.samples / (uint64_t)B.nproducers) {
        fprintf(stderr, "shmlog-bench-producer: too many samples: %llu per producer\n",
                (unsigned long long)B.sample_cap);
        return -1;
    }
    size_t total = (size_t)B.sample_cap * (size_t)B.nproducers;
    B.samples = malloc(total * sizeof *B.samples);
    if (!B.samples) {
        fprintf(stderr, "shmlog-bench-producer: no memory for %zu samples\n", total);
        return -1;
    }
    /* touched now, so no page fault lands in a timed call */
    memset(B.samples, 0, total * sizeof *B.samples);
    for (int i = 0; i < B.nproducers; i++)
        B.producers[i].samples = B.samples + (size_t)i * B.sample_cap;
    /* per phase: a row per producer when there are several, and the row of all */
    B.max_results = (1 + (unsigned)(BENCH_BACKEND_COUNT * BENCH_WORKLOADS * KINDS)) *
                    (unsigned)(B.nproducers > 1 ? B.nproducers + 1 : 1);
    B.results = calloc(B.max_results, sizeof *B.results);
    if (!B.results) {
        fprintf(stderr, "shmlog-bench-producer: no memory for the results\n");
        return -1;
    }
    return 0;
}

static void print_preamble(int argc, char **argv)
{
    printf("shmlog-bench-producer:");
    for (int i = 1; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\nproducer%s on cpu%s", B.nproducers > 1 ? "s" : "", B.nproducers > 1 ? "s" : "");
    for (int i = 0; i < B.nproducers; i++)
        printf("%s%d", i ? "," : " ", B.producers[i].cpu);
    printf(", memory %s; TSC %.2f MHz (calibrated against CLOCK_MONOTONIC_RAW)\n",
           B.memory_locked ? "locked (mlockall)" : "NOT locked", B.tsc_hz / 1e6);
    if (!B.memory_locked)
        printf("  mlockall failed: %s\n", B.mlock_error);
    printf("host: load average %s at the start; the producer thread%s preempted %ld times while measuring\n",
           B.loadavg, B.nproducers > 1 ? "s were" : " was", B.preempted);
    printf("latency: %llu warm-up + %llu timed calls per workload and producer, batches of %u, %llu ns spin "
           "between batches\n",
           (unsigned long long)B.opts.warmup, (unsigned long long)B.opts.calls, B.opts.batch,
           (unsigned long long)B.opts.pause_ns);
    if (B.probe_ms)
        printf("probes: %llu sent, an untimed WARN record once %llu ms had passed, between batches of the "
               "shmlog latency phase\n",
               (unsigned long long)B.probes, (unsigned long long)B.probe_ms);
}

int main(int argc, char **argv)
{
    if (parse_options(argc, argv) != 0 || check_backend_names() != 0 || check_producer_cpus() != 0)
        return 2;
    if (pin_to(B.producers[0].cpu) != 0)
        return 2;
    /* A page fault costs microseconds, a hundred calls and more: none may land in a timed call. */
    B.memory_locked = mlockall(MCL_CURRENT | MCL_FUTURE) == 0;
    if (!B.memory_locked)
        snprintf(B.mlock_error, sizeof B.mlock_error, "%s", strerror(errno));
    if (allocate() != 0)
        return 1;
    if (B.samples_path && !(B.samples_file = fopen(B.samples_path, "we"))) {
        fprintf(stderr, "shmlog-bench-producer: %s: %s\n", B.samples_path, strerror(errno));
        return 1;
    }
    int err = B.nproducers > 1 ? pthread_barrier_init(&B.start, NULL, (unsigned)B.nproducers) : 0;
    if (err) {
        fprintf(stderr, "shmlog-bench-producer: pthread_barrier_init: %s\n", strerror(err));
        return 1;
    }
    read_loadavg();
    B.tsc_hz = calibrate_tsc_hz();
    B.opts.tsc_hz = B.tsc_hz;

    run_phase(KIND_LATENCY, NULL, &(struct bench_loops)BENCH_LOOPS(empty_bracket));
    B.empty = record_phase("none", "empty bracket", "empty", -1);
    run_phase(KIND_LATENCY, NULL, &(struct bench_loops)BENCH_LOOPS(rdtsc_alone));
    record_phase("none", "one rdtsc in the bracket", "rdtsc", -1);
    run_phase(KIND_LATENCY, NULL, &(struct bench_loops)BENCH_LOOPS(rdtsc_load));
    record_phase("none", "rdtsc and one load", "rdtsc_load", -1);

    for (size_t i = 0; i < BENCH_BACKEND_COUNT; i++) {
        if (!backend_selected(bench_backends[i]->name))
            continue;
        struct backend_run *run = &B.runs[B.nruns++];
        run->backend = bench_backends[i];
        run_backend(run);
    }

    print_preamble(argc, argv);
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
    if (B.samples_file && fclose(B.samples_file) != 0) {
        fprintf(stderr, "shmlog-bench-producer: %s: %s\n", B.samples_path, strerror(errno));
        failed = 1;
    }
    free(B.samples);
    free(B.results);
    return failed;
}
