/*
 * bench_shmlog.c - the shmlog backend of the producer benchmark.
 *
 * The producer writes with the public macros from shmlog.h, inlined in the
 * timed loops. A drainer thread, pinned to another cpu, plays the collector's
 * part on the rings of this process through shm/reader.h: it copies every
 * record out with shm_ring_next and releases the space with
 * shm_ring_release, so the rings do not fill and the producer pays the
 * cache-line traffic a real collector causes.
 */
#include "bench.h"
#include "reader.h"
#include "shmlog.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BENCH_APP "bench"
#define DRAIN_RESCAN_NS (50u * 1000u * 1000u)
#define DRAIN_BATCH_SLOTS 4096u
#define SETTLE_LIMIT_NS (10ull * 1000u * 1000u * 1000u)

struct drain_ring {
    struct shm_seg seg;
    struct shm_ring_view view;
    uint64_t pos;            /* next position to read; published for settle() */
};

static struct {
    char dir[4096];
    int made_dir;            /* we created dir, so we remove it */
    char skipped[4200];      /* a default directory we could not use, and why */
    char meta_path[4400];
    int drain_cpu;
    int external_drain;      /* a collector process releases the rings */
    uint64_t poll_cycles;    /* drainer pass period in TSC cycles; 0: no pause */
    struct drain_ring *rings;
    unsigned ring_cap;
    unsigned ring_count;     /* published with release after the entry is complete */
    int all_huge;            /* every ring opened so far is on hugepages */
    pthread_t drainer;
    int drainer_running;
    int stop;
    uint64_t drained;        /* records copied out, written by the drainer only */
    uint64_t lost;           /* positions the reader reported as lost */
    int initialized;
} g;

BENCH_DEFINE_LOOPS(shmlog_args3, SHMLOG_INFO("order id=%lu px=%f qty=%d", bench_id, bench_px, bench_qty))
BENCH_DEFINE_LOOPS(shmlog_args3_str,
                   SHMLOG_INFO("order id=%lu px=%f qty=%d note=%s", bench_id, bench_px, bench_qty, bench_note))

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int ring_is_open(uint32_t cpu)
{
    for (unsigned i = 0; i < g.ring_count; i++)
        if (g.rings[i].view.cpu == cpu)
            return 1;
    return 0;
}

/* Opens the rings of this process that are not open yet. Called by setup
 * before the drainer starts, then only by the drainer: one writer of the list. */
static void open_new_rings(void)
{
    DIR *d = opendir(g.dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        unsigned kind;
        char app[SHMLOG_APP_BYTES];
        uint32_t pid, cpu;
        if (shm_parse_seg_name(e->d_name, &kind, app, sizeof app, &pid, &cpu) != 0 ||
            kind != SHMLOG_SEG_RING || pid != (uint32_t)getpid() || strcmp(app, BENCH_APP) != 0 ||
            ring_is_open(cpu))
            continue;
        if (g.ring_count == g.ring_cap) {
            fprintf(stderr, "bench: more than %u rings; %s is not drained\n", g.ring_cap, e->d_name);
            continue;
        }
        struct drain_ring *r = &g.rings[g.ring_count];
        char path[4400], err[512];
        snprintf(path, sizeof path, "%s/%s", g.dir, e->d_name);
        if (shm_seg_open(&r->seg, path, 1, NULL, err, sizeof err) != 0 ||
            shm_ring_view_init(&r->view, &r->seg, err, sizeof err) != 0) {
            shm_seg_close(&r->seg);
            fprintf(stderr, "bench: cannot drain %s\n", err);
            continue;
        }
        r->pos = shm_ring_tail(&r->view);
        if (!(r->seg.hdr.flags & SHMLOG_SEG_HUGEPAGES))
            g.all_huge = 0;
        /* Release: settle() on the producer thread sees the entry complete. */
        __atomic_store_n(&g.ring_count, g.ring_count + 1, __ATOMIC_RELEASE);
    }
    closedir(d);
}

/* Copies out what is committed on one ring, at most a batch, and releases
 * it: like the collector, space comes back to the producer batch by batch
 * rather than once the ring is empty. 1 if it moved. */
static int drain_one(struct drain_ring *r)
{
    struct shm_copied_record rec;
    struct shm_loss loss;
    uint64_t pos = r->pos, drained = 0, lost = 0;
    while (pos - r->pos < DRAIN_BATCH_SLOTS) {
        int st = shm_ring_next(&r->view, &pos, &rec, 0, &loss);
        if (st == SHM_READ_RECORD)
            drained++;
        else if (st == SHM_READ_LOSS)
            lost += loss.positions;
        else
            break;
    }
    if (pos == r->pos)
        return 0;
    shm_ring_release(&r->view, pos);
    __atomic_store_n(&r->pos, pos, __ATOMIC_RELEASE);
    __atomic_store_n(&g.drained, g.drained + drained, __ATOMIC_RELAXED);
    __atomic_store_n(&g.lost, g.lost + lost, __ATOMIC_RELAXED);
    return 1;
}

static void *drainer_main(void *unused)
{
    (void)unused;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(g.drain_cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        fprintf(stderr, "bench: drainer: cannot pin to cpu %d: %s\n", g.drain_cpu, strerror(errno));
    uint64_t next_scan = monotonic_ns() + DRAIN_RESCAN_NS;
    uint64_t next_pass = bench_tsc();
    while (!__atomic_load_n(&g.stop, __ATOMIC_ACQUIRE)) {
        if (g.poll_cycles) {
            /* A periodic collector: between passes it leaves the producer's
             * cache lines alone, and a pass empties the rings. */
            while (bench_tsc() < next_pass)
                __asm__ __volatile__("pause" ::: "memory");
        }
        int moved, any = 0;
        do {
            moved = 0;
            for (unsigned i = 0; i < g.ring_count; i++)
                moved |= drain_one(&g.rings[i]);
            any |= moved;
        } while (moved && g.poll_cycles);
        next_pass = bench_tsc() + g.poll_cycles;
        if (any && !g.poll_cycles)
            continue;
        __asm__ __volatile__("pause" ::: "memory");
        uint64_t now = monotonic_ns();
        if (now >= next_scan) {
            open_new_rings();
            next_scan = now + DRAIN_RESCAN_NS;
        }
    }
    for (unsigned i = 0; i < g.ring_count; i++)
        while (drain_one(&g.rings[i]))
            ;
    return NULL;
}

static uint64_t shmlog_bench_delivered(void)
{
    if (!g.drainer_running)
        return UINT64_MAX;
    return __atomic_load_n(&g.drained, __ATOMIC_RELAXED);
}

static uint64_t shmlog_bench_dropped(void)
{
    return shmlog_dropped();
}

/* How far the consumer has got: our drainer's position, or the tail an
 * external collector releases up to. */
static uint64_t consumed_up_to(struct drain_ring *r)
{
    if (g.drainer_running)
        return __atomic_load_n(&r->pos, __ATOMIC_ACQUIRE);
    return shm_ring_tail(&r->view);
}

static void shmlog_bench_settle(void)
{
    if (!g.drainer_running && !g.external_drain)
        return;
    uint64_t give_up = monotonic_ns() + SETTLE_LIMIT_NS;
    unsigned n = __atomic_load_n(&g.ring_count, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++) {
        struct drain_ring *r = &g.rings[i];
        uint64_t head = shm_ring_head(&r->view);
        /* positions are free-running: compare distances */
        while ((int64_t)(head - consumed_up_to(r)) > 0) {
            if (monotonic_ns() > give_up) {
                fprintf(stderr, "bench: the consumer did not catch up with cpu %u's ring in %llu s\n",
                        r->view.cpu, SETTLE_LIMIT_NS / 1000000000ull);
                return;
            }
            struct timespec nap = {0, 100 * 1000};
            nanosleep(&nap, NULL);
        }
    }
}

/* Ctrl-C or kill during a run: hugetlbfs pages of a leftover segment stay
 * taken until it is removed, so remove ours (unlink and rmdir are
 * async-signal-safe), then die of the signal. */
static void remove_segments_and_die(int sig)
{
    unsigned n = __atomic_load_n(&g.ring_count, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++)
        unlink(g.rings[i].seg.path);
    if (g.meta_path[0])
        unlink(g.meta_path);
    if (g.made_dir)
        rmdir(g.dir);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Installs handler for the signals that end a run, except those the
 * process was started with ignored (nohup, background jobs). */
static const int ending_signals[] = {SIGINT, SIGTERM, SIGHUP};

static void cleanup_on_signals(void (*handler)(int))
{
    for (size_t i = 0; i < sizeof ending_signals / sizeof ending_signals[0]; i++) {
        struct sigaction old;
        if (sigaction(ending_signals[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            signal(ending_signals[i], handler);
    }
}

/* Held from the first segment until the handler knows every path of ours. */
static void hold_ending_signals(int how)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof ending_signals / sizeof ending_signals[0]; i++)
        sigaddset(&set, ending_signals[i]);
    pthread_sigmask(how, &set, NULL);
}

/* Removes the segments of this process, and the directory if we made it. */
static void remove_segments(void)
{
    DIR *d = opendir(g.dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            unsigned kind;
            char app[SHMLOG_APP_BYTES];
            uint32_t pid, cpu;
            if (shm_parse_seg_name(e->d_name, &kind, app, sizeof app, &pid, &cpu) == 0 &&
                pid == (uint32_t)getpid() && strcmp(app, BENCH_APP) == 0)
                unlinkat(dirfd(d), e->d_name, 0);
        }
        closedir(d);
    }
    if (g.made_dir && rmdir(g.dir) != 0)
        fprintf(stderr, "bench: cannot remove %s: %s\n", g.dir, strerror(errno));
}

static void shmlog_bench_teardown(void)
{
    cleanup_on_signals(SIG_DFL);
    if (g.drainer_running) {
        __atomic_store_n(&g.stop, 1, __ATOMIC_RELEASE);
        pthread_join(g.drainer, NULL);
        g.drainer_running = 0;
        if (g.lost)
            fprintf(stderr, "bench: the drainer skipped %llu ring positions as lost\n",
                    (unsigned long long)g.lost);
    }
    if (g.initialized)
        shmlog_shutdown();
    g.initialized = 0;
    for (unsigned i = 0; i < g.ring_count; i++)
        shm_seg_close(&g.rings[i].seg);
    g.ring_count = 0;
    free(g.rings);
    g.rings = NULL;
    if (g.dir[0])
        remove_segments();
    g.dir[0] = 0;
}

/* A fresh directory under `parent`, which is made if missing. 0 or -errno. */
static int make_fresh_dir(const char *parent)
{
    if (mkdir(parent, 0700) != 0 && errno != EEXIST)
        return -errno;
    int n = snprintf(g.dir, sizeof g.dir, "%s/bench-XXXXXX", parent);
    if (n < 0 || (size_t)n >= sizeof g.dir)
        return -ENAMETOOLONG;
    if (!mkdtemp(g.dir))
        return -errno;
    g.made_dir = 1;
    return 0;
}

static int init_in(const struct bench_opts *opts, const char *dir)
{
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = BENCH_APP;
    cfg.dir = dir;
    cfg.quiet = 1; /* the report says whether the rings are on hugepages */
    cfg.all_cpus = 1; /* the rings of the cpus we may run on, before the first call */
    if (opts->ring_bytes)
        cfg.ring_bytes = opts->ring_bytes;
    /* SHMLOG_BENCH_BACKTRACE=1: the calls (INFO) fall below the live level
     * (WARN) and are kept as backtrace (from INFO), never triggered: what a
     * DEBUG call kept under a live INFO costs, one level up. What lands on
     * disk is then nothing, which the report counts as lost. */
    const char *bt = getenv("SHMLOG_BENCH_BACKTRACE");
    if (bt && strcmp(bt, "1") == 0) {
        cfg.level = SHMLOG_LEVEL_WARN;
        cfg.backtrace_level = SHMLOG_LEVEL_INFO;
    }
    return shmlog_init(&cfg);
}

/* Our own segment directory: under the default one, on hugetlbfs when one is
 * mounted with free pages, else the next default. */
static int init_in_fresh_dir(const struct bench_opts *opts, struct bench_env *env)
{
    char defaults[4][4096];
    int n = shm_default_dirs(defaults, 4);
    int err = -ENOENT;
    for (int i = 0; i < n; i++) {
        err = make_fresh_dir(defaults[i]);
        if (!err)
            err = init_in(opts, g.dir);
        if (!err)
            return 0;
        if (g.made_dir)
            rmdir(g.dir);
        g.made_dir = 0;
        snprintf(g.skipped, sizeof g.skipped, "%.4000s: %s", defaults[i],
                 err == -ENOMEM ? "no free hugepages" : strerror(-err));
        if (err != -ENOMEM) /* only "no free hugepages" has somewhere else to go */
            break;
    }
    g.dir[0] = 0;
    snprintf(env->storage, sizeof env->storage, "%s; ", g.skipped);
    return err;
}

static void read_meta_tsc_hz(struct bench_env *env)
{
    char err[512];
    struct shm_seg meta;
    struct shm_proc_info info;
    if (shm_seg_open(&meta, g.meta_path, 0, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "bench: %s\n", err);
        return;
    }
    if (shm_meta_info(&meta, &info, err, sizeof err) == 0)
        env->tsc_hz = info.tsc_hz;
    else
        fprintf(stderr, "bench: %s\n", err);
    shm_seg_close(&meta);
}

/* With an external collector, the first calls must not race its discovery of
 * the rings: a ring it has not found yet fills and drops, which would be
 * counted against the transport. Waits until it owns every ring of ours. */
static int wait_for_collector(uint64_t *waited_ns)
{
    const uint64_t start = monotonic_ns();
    for (unsigned i = 0; i < g.ring_count; i++) {
        while (__atomic_load_n(&g.rings[i].view.hdr->collector_pid, __ATOMIC_ACQUIRE) == 0) {
            if (monotonic_ns() - start > SETTLE_LIMIT_NS)
                return -ETIMEDOUT;
            struct timespec nap = {0, 1000 * 1000};
            nanosleep(&nap, NULL);
        }
    }
    *waited_ns = monotonic_ns() - start;
    return 0;
}

/* setup, with the ending signals held: a signal that lands while the
 * segments are being made is handled once the handler knows their paths. */
static int shmlog_bench_open(const struct bench_opts *opts, struct bench_env *env)
{
    int err;
    if (opts->dir) {
        snprintf(g.dir, sizeof g.dir, "%s", opts->dir);
        err = init_in(opts, g.dir);
    } else {
        err = init_in_fresh_dir(opts, env);
    }
    if (err) {
        size_t used = strlen(env->storage);
        snprintf(env->storage + used, sizeof env->storage - used, "shmlog_init: %s", strerror(-err));
        return err;
    }
    g.initialized = 1;
    snprintf(g.meta_path, sizeof g.meta_path, "%s/%s-%d.meta", g.dir, BENCH_APP, (int)getpid());
    /* The producer thread is pinned: its ring exists before the first call. */
    err = shmlog_thread_init();
    if (err) {
        snprintf(env->storage, sizeof env->storage, "shmlog_thread_init: %s", strerror(-err));
        shmlog_bench_teardown();
        return err;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_CONF);
    g.ring_cap = ncpu > 0 && ncpu < (long)SHMLOG__MAX_CPUS ? (unsigned)ncpu : SHMLOG__MAX_CPUS;
    g.rings = calloc(g.ring_cap, sizeof *g.rings);
    if (!g.rings) {
        shmlog_bench_teardown();
        return -ENOMEM;
    }
    open_new_rings();
    if (g.ring_count == 0) {
        snprintf(env->storage, sizeof env->storage, "no ring of this process in %.4000s", g.dir);
        shmlog_bench_teardown();
        return -ENOENT;
    }
    cleanup_on_signals(remove_segments_and_die);
    read_meta_tsc_hz(env);
    if (opts->drain) {
        err = pthread_create(&g.drainer, NULL, drainer_main, NULL);
        if (err) {
            snprintf(env->storage, sizeof env->storage, "drainer thread: %s", strerror(err));
            shmlog_bench_teardown();
            return -err;
        }
        g.drainer_running = 1;
    }
    uint64_t waited_ns = 0;
    if (g.external_drain && wait_for_collector(&waited_ns) != 0) {
        snprintf(env->storage, sizeof env->storage, "no collector took the rings in %.3000s within %llu s", g.dir,
                 SETTLE_LIMIT_NS / 1000000000ull);
        shmlog_bench_teardown();
        return -ETIMEDOUT;
    }
    env->hugepages = g.all_huge;
    size_t ring_bytes = (size_t)g.rings[0].view.cap * SHMLOG_RECORD_BYTES;
    char drainer[128];
    if (!opts->drain && opts->external_drain)
        snprintf(drainer, sizeof drainer, "drained by an external collector (it took the rings %.1f ms after "
                 "they were made)", (double)waited_ns / 1e6);
    else if (!opts->drain)
        snprintf(drainer, sizeof drainer, "no drainer");
    else if (opts->drain_poll_ns)
        snprintf(drainer, sizeof drainer, "drainer on cpu %d, a pass every %llu ns", g.drain_cpu,
                 (unsigned long long)opts->drain_poll_ns);
    else
        snprintf(drainer, sizeof drainer, "drainer on cpu %d, polling without pause", g.drain_cpu);
    snprintf(env->storage, sizeof env->storage, "%s%.3000s, %zu KiB ring per cpu on %s%s%.3000s%s, %s",
             g.made_dir ? "fresh " : "", g.dir, ring_bytes >> 10,
             g.all_huge ? "2 MiB hugepages" : "4 KiB pages", g.skipped[0] ? " (not " : "", g.skipped,
             g.skipped[0] ? ")" : "", drainer);
    return 0;
}

/* A further producer thread: its thread id is cached and its cpu's ring
 * exists before its first call, as shmlog_thread_init is meant to be used. */
static int shmlog_bench_thread_init(void)
{
    return shmlog_thread_init();
}

static int shmlog_bench_setup(const struct bench_opts *opts, struct bench_env *env)
{
    memset(&g, 0, sizeof g);
    g.drain_cpu = opts->drain_cpu;
    g.external_drain = !opts->drain && opts->external_drain;
    g.poll_cycles = (uint64_t)((double)opts->drain_poll_ns * opts->tsc_hz / 1e9);
    g.all_huge = 1;
    env->storage[0] = 0;
    hold_ending_signals(SIG_BLOCK);
    int err = shmlog_bench_open(opts, env);
    hold_ending_signals(SIG_UNBLOCK);
    return err;
}

const struct bench_backend bench_backend_shmlog = {
    .name = "shmlog",
    .setup = shmlog_bench_setup,
    .settle = shmlog_bench_settle,
    .dropped = shmlog_bench_dropped,
    .delivered = shmlog_bench_delivered,
    .teardown = shmlog_bench_teardown,
    .thread_init = shmlog_bench_thread_init,
    .loops = {
        [BENCH_ARGS3] = BENCH_LOOPS(shmlog_args3),
        [BENCH_ARGS3_STR] = BENCH_LOOPS(shmlog_args3_str),
    },
};
