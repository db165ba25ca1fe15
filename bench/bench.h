/*
 * bench.h - what the producer benchmark harness shares with its backends.
 *
 * A backend (shmlog, LTTng-UST, spdlog) provides set-up, settle, counters,
 * tear-down and optionally a per-thread init, and instantiates the timed loops
 * with BENCH_DEFINE_LOOPS around its own log statement. The statement is
 * expanded inside the loop, so it is inlined exactly as in an application,
 * and every backend is timed with the same bracket, pacing and statistics.
 *
 * Adding a peer: write bench_<peer>.c (or .cpp) defining
 *     const struct bench_backend bench_backend_<peer> = {...};
 * add it to bench_backends[] in bench_producer.c under BENCH_HAVE_<PEER>, and
 * to bench/meson.build behind its dependency.
 */
#ifndef SHMLOG_BENCH_H
#define SHMLOG_BENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bench_opts {
    uint64_t calls;       /* timed calls per latency workload */
    uint64_t warmup;      /* untimed calls before them, paced the same way */
    uint64_t burst;       /* back-to-back calls per throughput workload */
    unsigned batch;       /* latency calls between two pauses */
    uint64_t pause_ns;    /* spin between two batches, so a consumer keeps up */
    int cpu;              /* the producer thread's cpu */
    int drain_cpu;        /* the consumer's cpu, where the backend has one of its own */
    int drain;            /* 0: no consumer of ours (shmlog: the ring must hold every call) */
    int external_drain;   /* with drain 0: another process (shmlog-collector) consumes */
    uint64_t drain_poll_ns; /* consumer pass period; 0: it polls without pause */
    double tsc_hz;        /* the harness's TSC calibration */
    const char *dir;      /* segment directory; NULL: a fresh one the backend removes */
    size_t ring_bytes;    /* per-cpu ring size; 0: the backend's default */
    const char *out_dir;  /* where a backend that writes files puts them; NULL: /tmp */
};

/* What a backend reports about itself; filled by setup. */
struct bench_env {
    char storage[8192];    /* where records go and how, one line */
    int hugepages;        /* 1: buffers on hugepages, 0: not, -1: not applicable */
    uint64_t tsc_hz;      /* the backend's own TSC calibration, 0 if it has none */
};

enum bench_workload {
    BENCH_ARGS3 = 0,      /* "order id=%lu px=%f qty=%d" */
    BENCH_ARGS3_STR = 1,  /* the same plus a 40-character string */
    BENCH_WORKLOADS = 2,
};

/* Timed loops over one log statement, made by BENCH_DEFINE_LOOPS. */
struct bench_loops {
    /* n calls in batches of `batch`, spinning pause_cycles after each batch;
     * samples[k]: TSC cycles of call k inside the fenced bracket. */
    void (*latency)(uint64_t first, uint64_t n, unsigned batch, uint64_t pause_cycles, uint64_t *samples);
    /* n calls back to back. */
    void (*burst)(uint64_t first, uint64_t n);
};

struct bench_backend {
    const char *name;
    /* Called on the producer thread, already pinned and with memory locked.
     * 0 or -errno; on failure *env may hold the reason in storage. */
    int (*setup)(const struct bench_opts *opts, struct bench_env *env);
    /* Returns once the backend's consumer has taken everything logged so far
     * (or gave up after a bound it reports): each workload starts empty. */
    void (*settle)(void);
    /* Records lost so far because a buffer was full; never hidden.
     * UINT64_MAX when only the caller can tell, from what reached the disk. */
    uint64_t (*dropped)(void);
    /* Records the consumer has taken so far; UINT64_MAX when it cannot tell. */
    uint64_t (*delivered)(void);
    void (*teardown)(void);
    /* Called on every further producer thread (--cpus), pinned, before its
     * first call; NULL when the backend needs nothing per thread. 0 or -errno. */
    int (*thread_init)(void);
    struct bench_loops loops[BENCH_WORKLOADS];
};

/* Reads the TSC between two lfences: earlier instructions have completed
 * before it is read, and later ones start after. Both ends of a timed call use
 * it, so its own cost is in every sample; the empty bracket measures it. */
static inline uint64_t bench_tsc_fenced(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("lfence\n\trdtsc\n\tlfence" : "=a"(lo), "=d"(hi) : : "memory");
    return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t bench_tsc(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* Spins, without a syscall, for about `cycles` TSC cycles. */
static inline void bench_spin(uint64_t cycles)
{
    uint64_t until = bench_tsc() + cycles;
    while (bench_tsc() < until)
        __asm__ __volatile__("pause" ::: "memory");
}

/* 40 characters each: a string argument that takes a record's second slot. */
extern const char *const bench_str40[4];

/* The arguments of call i, made before the timer starts: the empty asm takes
 * them as register inputs, so they are computed before the (volatile) TSC read
 * and the bracket holds only the log call. */
#define BENCH_ARGS(i)                                                                        \
    const unsigned long bench_id = (unsigned long)(i);                                      \
    const double bench_px = 100.0 + (double)((i) & 1023u) * 0.25;                           \
    const int bench_qty = (int)((i) & 511u) - 256;                                          \
    const char *const bench_note = bench_str40[(i) & 3u];                                   \
    __asm__ __volatile__("" : : "r"(bench_id), "x"(bench_px), "r"(bench_qty), "r"(bench_note))

/* Defines name_latency() and name_burst() around STMT, which may use bench_id,
 * bench_px, bench_qty and bench_note. */
#define BENCH_DEFINE_LOOPS(name, STMT)                                                       \
    static void name##_latency(uint64_t first, uint64_t n, unsigned batch, uint64_t pause_cycles, \
                               uint64_t *samples)                                           \
    {                                                                                        \
        uint64_t k = 0;                                                                      \
        while (k < n) {                                                                      \
            for (unsigned b = 0; b < batch && k < n; b++, k++) {                             \
                BENCH_ARGS(first + k);                                                       \
                const uint64_t t0 = bench_tsc_fenced();                                      \
                STMT;                                                                        \
                const uint64_t t1 = bench_tsc_fenced();                                      \
                samples[k] = t1 - t0;                                                        \
            }                                                                                \
            bench_spin(pause_cycles);                                                        \
        }                                                                                    \
    }                                                                                        \
    static void name##_burst(uint64_t first, uint64_t n)                                     \
    {                                                                                        \
        for (uint64_t k = 0; k < n; k++) {                                                   \
            BENCH_ARGS(first + k);                                                           \
            STMT;                                                                            \
        }                                                                                    \
    }

#define BENCH_LOOPS(name) { name##_latency, name##_burst }

#ifdef __cplusplus
}
#endif

#endif /* SHMLOG_BENCH_H */
