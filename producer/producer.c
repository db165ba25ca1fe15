/* ==== Producer: init, call sites, rings (the cold paths) ====
 *
 * Everything here runs outside the hot path: at init, at the first call of a
 * site, at the first record on a cpu, after fork. It may lock, allocate and
 * make syscalls. Builds as C11 and as C++17. */
#include "shmlog.h" // amalgamate:drop

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

struct shmlog__ring_local shmlog__rings[SHMLOG__MAX_CPUS];
/* Before shmlog_init every call is taken (TRACE): it reaches
 * shmlog__register_site, which counts it as not written. After shutdown none
 * is (OFF): the site ids the calls hold point into unmapped rings. */
static const uint16_t shmlog__levels_before_init[SHMLOG_MAX_CATEGORIES] = {0};
static uint16_t shmlog__levels_off[SHMLOG_MAX_CATEGORIES];
const uint16_t *shmlog__levels = shmlog__levels_before_init;
uint32_t shmlog__category_end = SHMLOG_MAX_CATEGORIES;
__thread uint32_t shmlog__tid __attribute__((tls_model("initial-exec")));
uint64_t shmlog__tsc_per_ms;
size_t shmlog__payload_bound = SHMLOG_DEFAULT_ARG_BYTES;
struct shmlog_bell *shmlog__bell;
static uint64_t shmlog__bell_dev, shmlog__bell_ino; /* which file it is: the rings name it */

/* One past the highest cpu with a published ring descriptor: readers of
 * every ring (shmlog_dropped) stop there instead of touching, and faulting
 * in, the untouched pages of a table sized for SHMLOG__MAX_CPUS. */
static unsigned shmlog__rings_end;

/* Where records go when their cpu's ring could not be made: always full, so
 * they are dropped, and counted in the meta segment (no_ring) where the
 * collector reads them into a loss marker. */
static struct shmlog_ring shmlog__null_ring;

/* The tag a ring's name got when its plain name was taken ("" if none): the
 * name is needed again only to remove the ring after a failed init. */
static char shmlog__ring_tag[SHMLOG__MAX_CPUS][18];
/* The rings made in the fallback directory (shmlog__g.ring_fallback). */
static uint8_t shmlog__ring_fell_back[SHMLOG__MAX_CPUS];

/* Guards everything below and the creation of rings and sites. */
static pthread_mutex_t shmlog__lock = PTHREAD_MUTEX_INITIALIZER;
/* This thread is taking, holds or is giving back shmlog__lock: set before the
 * lock is taken and cleared after it is given back, so a signal handler that
 * interrupts the thread anywhere around it sees it set. */
static __thread int shmlog__in_lock __attribute__((tls_model("initial-exec")));

static void shmlog__lock_take(void)
{
    shmlog__store_relaxed(&shmlog__in_lock, 1);
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* set before the lock, as a handler on this thread sees it */
    pthread_mutex_lock(&shmlog__lock);
}

static void shmlog__lock_give(void)
{
    pthread_mutex_unlock(&shmlog__lock);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    shmlog__store_relaxed(&shmlog__in_lock, 0);
}

/* For a log call, which may run in a signal handler: takes the lock and
 * returns 1, or returns 0 without waiting when this thread is around it
 * already (the handler interrupted it there: waiting would never end). Log
 * calls are async-signal-safe so: they wait only for other threads. */
static int shmlog__lock_take_in_call(void)
{
    if (shmlog__load_relaxed(&shmlog__in_lock))
        return 0;
    shmlog__lock_take();
    return 1;
}

/* The NUMA node of each cpu, read at init: a ring made later (maybe from a
 * signal handler) asks libnuma nothing, which may allocate. -1: none. */
static int16_t shmlog__cpu_node[SHMLOG__MAX_CPUS];

static void shmlog__cpu_nodes_read(void)
{
    int numa = numa_available() >= 0;
    int ncpus = numa ? numa_num_configured_cpus() : 0;
    for (unsigned cpu = 0; cpu < SHMLOG__MAX_CPUS; cpu++)
        shmlog__cpu_node[cpu] = SHMLOG__CAST(int16_t, numa && SHMLOG__CAST(int, cpu) < ncpus ? numa_node_of_cpu(SHMLOG__CAST(int, cpu)) : -1);
}

/* One line on stderr with write(2) alone: said from a log call too, which may
 * run in a signal handler (no stdio lock, no locale). */
__attribute__((format(printf, 1, 2))) static void shmlog__say(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = SHMLOG__CAST(size_t, n) < sizeof line ? SHMLOG__CAST(size_t, n) : sizeof line - 1;
    ssize_t w = write(2, line, len);
    (void)w;
}

static struct {
    int initialized;
    int atfork_registered; /* and the atexit handler */
    struct shmlog_config cfg;
    char app[SHMLOG_APP_BYTES];
    char dir[4096];
    int huge;
    uint8_t instance[16]; /* random per process: see shmlog_seg_header.instance */
    char meta_path[4200];
    int meta_fd; /* holds the meta segment's lock: we run (shm_meta_holder) */
    int warned_unlocked; /* said once that rings are not locked in memory */
    struct shmlog_meta *meta;
    size_t meta_bytes;
    uint64_t ring_records;
    size_t ring_bytes;
    /* Process-local copy of the site table, replayed into the metadata segment
     * of a forked child or a later shmlog_init, so cached site ids stay valid. */
    struct shmlog_site *sites;
    uint8_t *strings;
    uint32_t site_count;
    uint32_t site_capacity;
    uint32_t thread_entries; /* THREAD entries of the table: at most a quarter of it */
    uint32_t strings_used;
    uint32_t strings_bytes;
    /* Where the table and the arena start in the meta segment: kept here, never
     * read back from shared memory, which any process of our uid can scribble on. */
    uint32_t sites_offset;
    uint32_t strings_offset;
    /* Categories and their levels, process-local: what a new meta segment
     * (fork child, second init) starts from. */
    char category_names[SHMLOG_MAX_CATEGORIES][SHMLOG_CATEGORY_NAME_BYTES];
    uint32_t category_count;
    uint8_t live[SHMLOG_MAX_CATEGORIES];
    int default_level; /* the level shmlog_set_level last set: a new category's */
    uint64_t before_init; /* calls before the meta segment existed */
    /* A ring that finds no free hugepage after init goes on 4 KiB pages in
     * this directory, as init would have put the process: set when the
     * directory was chosen (not configured) and hugepages are not required. */
    char ring_fallback[4096];
    int ring_fallback_resolved;
    unsigned rings_fell_back; /* said once, at the first */
    /* A forked child that could make no segment: its calls at the levels it
     * has are counted (before_init, as calls before a meta segment are) and
     * its segments tried again, at most once a second and as it exits, so
     * that the count reaches the files. */
    int segments_wanted;
    uint64_t segments_retry_ns;
} shmlog__g;

static int shmlog__segments_again(int now);

/* The levels of a child waiting for its segments (shmlog__g.segments_wanted). */
static uint16_t shmlog__levels_waiting[SHMLOG_MAX_CATEGORIES];

void shmlog_config_init(struct shmlog_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->ring_bytes = 8u << 20;
    cfg->meta_bytes = 2u << 20;
    cfg->policy = SHMLOG_DROP;
    cfg->level = SHMLOG_LEVEL_INFO;
    cfg->group = -1;
    cfg->backtrace_level = SHMLOG_LEVEL_OFF;
    cfg->backtrace_trigger = SHMLOG_LEVEL_ERROR;
    cfg->backtrace_records = 1024;
}

/* ---- categories and levels ---- */

static const char *const shmlog__builtin_categories[SHMLOG_CAT_COUNT] = {
    "none", "trade", "order", "market_data", "risk", "portfolio",
};

static int shmlog__level_named(const char *s, size_t n)
{
    static const char *const names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF"};
    for (int i = 0; i < SHMLOG__CAST(int, sizeof names / sizeof names[0]); i++) {
        size_t k = strlen(names[i]);
        if (n != k)
            continue;
        size_t j = 0;
        while (j < n && (s[j] & ~0x20) == names[i][j])
            j++;
        if (j == n)
            return i;
    }
    return -1;
}

/* The id of a defined category: the name as defined, or "md" for
 * market_data as the macro spells it; -1 if none. Lock held. */
static int shmlog__category_find(const char *name, size_t n)
{
    if (n == 2 && memcmp(name, "md", 2) == 0)
        return SHMLOG_CAT_MARKET_DATA;
    for (uint32_t i = 0; i < shmlog__g.category_count; i++)
        if (strlen(shmlog__g.category_names[i]) == n && memcmp(shmlog__g.category_names[i], name, n) == 0)
            return SHMLOG__CAST(int, i);
    return -1;
}

static int shmlog__category_name_ok(const char *name, size_t n)
{
    if (n == 0 || n >= SHMLOG_CATEGORY_NAME_BYTES)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
            return 0;
    return 1;
}

static void shmlog__categories_setup(void)
{
    if (shmlog__g.category_count)
        return;
    for (unsigned i = 0; i < SHMLOG_CAT_COUNT; i++) {
        snprintf(shmlog__g.category_names[i], SHMLOG_CATEGORY_NAME_BYTES, "%s", shmlog__builtin_categories[i]);
        shmlog__g.live[i] = SHMLOG_LEVEL_INFO;
    }
    shmlog__g.category_count = SHMLOG_CAT_COUNT;
    shmlog__g.default_level = SHMLOG_LEVEL_INFO;
    for (unsigned i = 0; i < SHMLOG_MAX_CATEGORIES; i++)
        shmlog__levels_off[i] = shmlog_level_word(SHMLOG_LEVEL_OFF, SHMLOG_LEVEL_OFF);
}

/* Stores category i's level in the meta segment, if there is one. Lock held. */
static void shmlog__level_publish(unsigned i)
{
    struct shmlog_meta *m = shmlog__g.meta;
    if (m)
        shmlog__store_relaxed(&m->levels[i],
                              shmlog_level_word(shmlog__g.live[i], SHMLOG__CAST(unsigned, shmlog__g.cfg.backtrace_level)));
}

/* Defines a category; its id, or -errno. Lock held. */
static int shmlog__category_define(const char *name, size_t n)
{
    shmlog__categories_setup();
    int id = shmlog__category_find(name, n);
    if (id >= 0)
        return id;
    if (!shmlog__category_name_ok(name, n))
        return -EINVAL;
    uint32_t i = shmlog__g.category_count;
    if (i >= SHMLOG_MAX_CATEGORIES)
        return -ENOSPC;
    memcpy(shmlog__g.category_names[i], name, n);
    shmlog__g.category_names[i][n] = 0;
    shmlog__g.live[i] = SHMLOG__CAST(uint8_t, shmlog__g.default_level);
    shmlog__g.category_count = i + 1;
    struct shmlog_meta *m = shmlog__g.meta;
    if (m) {
        memcpy(m->category_names[i], shmlog__g.category_names[i], SHMLOG_CATEGORY_NAME_BYTES);
        shmlog__level_publish(i);
        /* Release: a reader that sees the count sees the name. */
        shmlog__store_release(&m->category_count, i + 1);
        shmlog__store_release(&shmlog__category_end, i + 1);
    }
    return SHMLOG__CAST(int, i);
}

/* Applies "name=LEVEL,LEVEL,..." (a bare level sets every category); what is
 * wrong is named in *why. 0 or -EINVAL. Lock held. */
/* A token of a levels spec without the blanks around it. */
static void shmlog__trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* Applies "INFO, md=DEBUG,venue = TRACE" (blanks around tokens and '=' are
 * ignored). On error, why says which token and what the program has. */
static int shmlog__levels_apply(const char *spec, char *why, size_t cap)
{
    while (spec && *spec) {
        size_t n = strcspn(spec, ",");
        const char *tok = spec;
        size_t tok_len = n;
        shmlog__trim(&tok, &tok_len);
        const char *eq = SHMLOG__CAST(const char *, memchr(tok, '=', tok_len));
        const char *name = tok, *lv = eq ? eq + 1 : tok;
        size_t name_len = eq ? SHMLOG__CAST(size_t, eq - tok) : 0;
        size_t lv_len = SHMLOG__CAST(size_t, tok + tok_len - lv);
        shmlog__trim(&name, &name_len);
        shmlog__trim(&lv, &lv_len);
        int level = shmlog__level_named(lv, lv_len);
        int id = eq ? shmlog__category_find(name, name_len) : 0;
        if (level < 0 || id < 0) {
            int k = level < 0 ? snprintf(why, cap, "'%.*s': no level '%.*s' (TRACE DEBUG INFO WARN ERROR FATAL OFF);"
                                             " categories:", SHMLOG__CAST(int, tok_len), tok,
                                         SHMLOG__CAST(int, lv_len), lv)
                              : snprintf(why, cap, "'%.*s': no category '%.*s'; categories:",
                                         SHMLOG__CAST(int, tok_len), tok, SHMLOG__CAST(int, name_len), name);
            for (uint32_t i = 0; i < shmlog__g.category_count && k > 0 && SHMLOG__CAST(size_t, k) < cap; i++)
                k += snprintf(why + k, cap - SHMLOG__CAST(size_t, k), " %s",
                              i == SHMLOG_CAT_MARKET_DATA ? "md" : shmlog__g.category_names[i]);
            return -EINVAL;
        }
        if (!eq) {
            shmlog__g.default_level = level;
            for (uint32_t i = 0; i < shmlog__g.category_count; i++)
                shmlog__g.live[i] = SHMLOG__CAST(uint8_t, level);
        } else {
            shmlog__g.live[id] = SHMLOG__CAST(uint8_t, level);
        }
        spec += n + (spec[n] == ',');
    }
    return 0;
}

/* ---- clock ---- */

/* TSC ticks per second against CLOCK_MONOTONIC_RAW over ~20 ms, and a tight
 * (tsc, realtime) pair. Readers use them only for files and segments that
 * carry no anchors of the host's clock (shm/clock.h): their rate is good for
 * seconds, not for days. */
static void shmlog__calibrate(uint64_t *hz, uint64_t *anchor_tsc, uint64_t *anchor_ns)
{
    struct timespec a, b, nap = {0, 20 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC_RAW, &a);
    uint64_t t0 = shmlog__rdtsc();
    nanosleep(&nap, NULL);
    clock_gettime(CLOCK_MONOTONIC_RAW, &b);
    uint64_t t1 = shmlog__rdtsc();
    uint64_t ns = SHMLOG__CAST(uint64_t, b.tv_sec - a.tv_sec) * 1000000000ull + SHMLOG__CAST(uint64_t, b.tv_nsec - a.tv_nsec);
    *hz = ns ? SHMLOG__CAST(uint64_t, SHMLOG__CAST(double, t1 - t0) * 1e9 / SHMLOG__CAST(double, ns)) : 0;

    /* For tests of readers that must not depend on it: a calibration wrong
     * by this many parts per million. */
    const char *skew = getenv("SHMLOG_TEST_TSC_SKEW_PPM");
    if (skew && *hz)
        *hz = SHMLOG__CAST(uint64_t, SHMLOG__CAST(double, *hz) * (1.0 + strtod(skew, NULL) * 1e-6));

    uint64_t best_gap = UINT64_MAX;
    for (int i = 0; i < 16; i++) {
        uint64_t before = shmlog__rdtsc();
        uint64_t now = shmlog__realtime_ns();
        uint64_t after = shmlog__rdtsc();
        if (after - before < best_gap) {
            best_gap = after - before;
            *anchor_tsc = before + (after - before) / 2;
            *anchor_ns = now;
        }
    }
}

/* ---- names ---- */

/* App and host names become file names and metric labels: keep
 * [A-Za-z0-9_.-], never empty or hidden, as readers require
 * (shm_name_valid in shm/reader_attribution.c). max: bytes of out. */
static void shmlog__sanitize_name(const char *in, char *out, size_t max)
{
    size_t n = 0;
    for (; in && in[n] && n < max - 1; n++) {
        char c = in[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                 c == '.' || c == '-';
        out[n] = ok ? c : '_';
    }
    out[n] = 0;
    if (n == 0 || out[0] == '.')
        out[0] = 'x';
    if (n == 0)
        out[1] = 0;
}

/* <dir>/<app>-<pid> then what_cpu ("" or "-cpu<N>"): the name before its
 * tag (if any) and extension. */
static int shmlog__seg_stem_in(const char *dir, char *out, size_t cap, const char *what_cpu)
{
    int n = snprintf(out, cap, "%s/%s-%d%s", dir, shmlog__g.app, getpid(), what_cpu);
    return n > 0 && SHMLOG__CAST(size_t, n) < cap ? 0 : -ENAMETOOLONG;
}

static int shmlog__seg_stem(char *out, size_t cap, const char *what_cpu)
{
    return shmlog__seg_stem_in(shmlog__g.dir, out, cap, what_cpu);
}

/* ---- metadata segment ---- */

/* A site's string offsets, kept relative to the arena, moved into a segment
 * whose arena starts at base. */
static void shmlog__site_strings_shift(struct shmlog_site *s, uint32_t base)
{
    s->fmt_offset += base;
    s->file_offset += base;
    s->func_offset += base;
    if (s->flags & SHMLOG_SITE_DESC)
        s->desc_offset += base;
    if (s->nargs > SHMLOG_SITE_ARG_TYPES)
        s->more_types_offset += base;
}

static int shmlog__meta_create(void)
{
    char stem[4200], *path = shmlog__g.meta_path;
    int err = shmlog__seg_stem(stem, sizeof stem, "");
    if (err)
        return err;
    size_t bytes = shmlog__seg_round(shmlog__g.cfg.meta_bytes, shmlog__g.huge);
    void *addr;
    int bound, locked;
    err = shmlog__seg_create(stem, ".meta", path, sizeof shmlog__g.meta_path, bytes, -1, shmlog__g.cfg.group,
                             &shmlog__g.meta_fd, &addr, &bound, &locked);
    if (err)
        return err;
    struct shmlog_meta *m = SHMLOG__CAST(struct shmlog_meta *, addr);
    uint32_t sites = SHMLOG__CAST(uint32_t, (bytes - SHMLOG_META_HEADER_BYTES) / 8 / SHMLOG_SITE_BYTES);
    if (sites > 65536)
        sites = 65536;
    snprintf(m->app, sizeof m->app, "%s", shmlog__g.app);
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "unknown");
    shmlog__sanitize_name(host, m->host, sizeof m->host);
    shmlog__calibrate(&m->tsc_hz, &m->anchor_tsc, &m->anchor_ns);
    shmlog__store_relaxed(&shmlog__tsc_per_ms, m->tsc_hz / 1000);
    m->site_capacity = sites;
    m->sites_offset = SHMLOG_META_HEADER_BYTES;
    m->strings_offset = SHMLOG_META_HEADER_BYTES + sites * SHMLOG_SITE_BYTES;
    m->strings_bytes = SHMLOG__CAST(uint32_t, bytes - m->strings_offset);
    m->level = SHMLOG__CAST(uint32_t, shmlog__g.default_level);
    shmlog__categories_setup();
    memcpy(m->category_names, shmlog__g.category_names, sizeof m->category_names);
    m->category_count = shmlog__g.category_count;
    m->backtrace_level = SHMLOG__CAST(uint32_t, shmlog__g.cfg.backtrace_level);
    m->backtrace_trigger = SHMLOG__CAST(uint32_t, shmlog__g.cfg.backtrace_trigger);
    m->backtrace_records = shmlog__g.cfg.backtrace_records;
    for (unsigned i = 0; i < SHMLOG_MAX_CATEGORIES; i++)
        m->levels[i] = shmlog_level_word(i < shmlog__g.category_count ? shmlog__g.live[i] : SHMLOG__CAST(unsigned, shmlog__g.default_level),
                                         SHMLOG__CAST(unsigned, shmlog__g.cfg.backtrace_level));
    m->before_init = shmlog__exchange_relaxed(&shmlog__g.before_init, 0);
    m->ncpus = SHMLOG__CAST(uint32_t, sysconf(_SC_NPROCESSORS_CONF));
    m->default_policy = SHMLOG__CAST(uint32_t, shmlog__g.cfg.policy);
    m->ring_records = SHMLOG__CAST(uint32_t, shmlog__g.ring_records);

    /* Replay the sites registered before (fork child, second init). */
    if (shmlog__g.site_count > sites || shmlog__g.strings_used > m->strings_bytes) {
        munmap(addr, bytes);
        unlink(path);
        close(shmlog__g.meta_fd);
        return -ENOSPC;
    }
    if (shmlog__g.site_count) /* sites is NULL before the first init: memcpy from NULL is undefined */
        memcpy(SHMLOG__REINTERPRET(uint8_t *, m) + m->sites_offset, shmlog__g.sites, shmlog__g.site_count * sizeof(struct shmlog_site));
    if (shmlog__g.strings_used)
        memcpy(SHMLOG__REINTERPRET(uint8_t *, m) + m->strings_offset, shmlog__g.strings, shmlog__g.strings_used);
    /* Local string offsets are relative to the arena; shift them into the segment. */
    struct shmlog_site *table = SHMLOG__REINTERPRET(struct shmlog_site *, SHMLOG__REINTERPRET(uint8_t *, m) + m->sites_offset);
    for (uint32_t i = 0; i < shmlog__g.site_count; i++)
        shmlog__site_strings_shift(&table[i], m->strings_offset);
    m->strings_used = shmlog__g.strings_used;
    m->site_count = shmlog__g.site_count;

    uint32_t pid = SHMLOG__CAST(uint32_t, getpid());
    shmlog__seg_header_publish(&m->hdr, SHMLOG_MAGIC_META, SHMLOG_SEG_META, bytes,
                               shmlog__g.huge ? SHMLOG_SEG_HUGEPAGES : 0, pid, shmlog__proc_start(pid),
                               shmlog__g.instance);
    shmlog__store_release(&shmlog__g.meta, m); /* after the header: shmlog__drop_no_ring reads it */
    shmlog__g.meta_bytes = bytes;
    shmlog__g.sites_offset = SHMLOG_META_HEADER_BYTES;
    shmlog__g.strings_offset = SHMLOG_META_HEADER_BYTES + sites * SHMLOG_SITE_BYTES;
    if (!shmlog__g.sites) {
        shmlog__g.site_capacity = sites;
        shmlog__g.strings_bytes = m->strings_bytes;
        shmlog__g.sites = SHMLOG__CAST(struct shmlog_site *, calloc(sites, sizeof(struct shmlog_site)));
        shmlog__g.strings = SHMLOG__CAST(uint8_t *, malloc(m->strings_bytes));
        if (!shmlog__g.sites || !shmlog__g.strings)
            return -ENOMEM;
    }
    return 0;
}

/* ---- rings ---- */

/* Reservations on a ring are serialized one of two ways for the whole process:
 * with rseq (glibc registered it: __rseq_size != 0) each writer stores head in
 * a restartable sequence on the ring's own cpu; without it, with a CAS from
 * any cpu. The two never mix on one ring: a plain store racing a CAS from
 * another cpu would lose a reservation. */
#ifdef SHMLOG__RSEQ_RESERVE
#define SHMLOG__USE_RSEQ() (__rseq_size != 0)
#else
#define SHMLOG__USE_RSEQ() 0
#endif
#define SHMLOG__NO_CPU UINT32_MAX

/* The inline path's bound (shmlog__ring_local.limit) for a ring whose head is
 * at head: below released, what the collector has let producers reuse (tail +
 * capacity; UINT64_MAX on an overwrite ring), and never past the end of
 * head's lap, so a record the inline path reserves never wraps and needs no
 * test of its own for it. A stale bound is lower, never higher: head only
 * grows. */
static uint64_t shmlog__inline_limit(uint64_t head, uint64_t released, uint64_t mask)
{
    const uint64_t lap_end = (head | mask) + 1;
    return released < lap_end ? released : lap_end;
}

static void shmlog__publish_ring(unsigned cpu, struct shmlog_ring *hdr, uint8_t *slots, uint64_t mask,
                                 uint32_t policy)
{
    struct shmlog__ring_local *r = &shmlog__rings[cpu];
    r->slots = slots;
    r->mask = mask;
    r->policy = policy;
    /* The inline path is the rseq path: without rseq, and on the null ring
     * (its capacity wraps to 0), a limit of 0 sends every record to the slow
     * path. */
    uint64_t limit = 0;
    if (SHMLOG__USE_RSEQ() && hdr != &shmlog__null_ring)
        limit = shmlog__inline_limit(shmlog__load_relaxed(&hdr->head),
                                     policy == SHMLOG_OVERWRITE ? UINT64_MAX
                                                                : shmlog__load_acquire(&hdr->tail) + mask + 1,
                                     mask);
    shmlog__store_relaxed(&r->limit, limit);
    /* Release pairs with the acquire in shmlog__reserve: a thread that sees
     * hdr sees slots, mask, limit and policy. */
    shmlog__store_release(&r->hdr, hdr);
    if (cpu >= shmlog__load_relaxed(&shmlog__rings_end)) /* the lock is held: no other writer */
        shmlog__store_release(&shmlog__rings_end, cpu + 1);
}

static void shmlog__use_null_ring(unsigned cpu)
{
    shmlog__publish_ring(cpu, &shmlog__null_ring, NULL, UINT64_MAX, SHMLOG_DROP);
}

/* Creates the ring of cpu. Called with the lock held. */
static int shmlog__ring_create(unsigned cpu)
{
    if (shmlog__rings[cpu].hdr)
        return 0;
    char stem[4200], path[4300], what_cpu[32];
    snprintf(what_cpu, sizeof what_cpu, "-cpu%u", cpu);
    int err = shmlog__seg_stem(stem, sizeof stem, what_cpu);
    if (err)
        return err;
    int node = shmlog__cpu_node[cpu];
    void *addr;
    int bound = 0, locked = 0, fell_back = 0;
    err = shmlog__seg_create(stem, ".ring", path, sizeof path, shmlog__g.ring_bytes, node, shmlog__g.cfg.group, NULL,
                             &addr, &bound, &locked);
    if (err == -ENOMEM && shmlog__g.huge && shmlog__g.ring_fallback[0]) {
        /* hugetlbfs ran out after init: 4 KiB pages where init falls back to,
         * the same size, so that every ring unmaps alike */
        int huge = 0;
        err = shmlog__g.ring_fallback_resolved
                  ? 0
                  : shmlog__resolve_dir(SHMLOG__FALLBACK_DIR, shmlog__g.ring_fallback, sizeof shmlog__g.ring_fallback,
                                        &huge, shmlog__g.cfg.group);
        shmlog__g.ring_fallback_resolved = !err;
        if (!err)
            err = shmlog__seg_stem_in(shmlog__g.ring_fallback, stem, sizeof stem, what_cpu);
        if (!err)
            err = shmlog__seg_create(stem, ".ring", path, sizeof path, shmlog__g.ring_bytes, node, shmlog__g.cfg.group,
                                     NULL, &addr, &bound, &locked);
        fell_back = !err;
    }
    if (err)
        return err;
    shmlog__ring_fell_back[cpu] = SHMLOG__CAST(uint8_t, fell_back);
    if (fell_back && !shmlog__g.rings_fell_back++ && !shmlog__g.cfg.quiet)
        fprintf(stderr, "shmlog: warning: no free hugepages for the ring of cpu %u, so it (and any later ring that "
                        "finds none) uses 4 KiB pages in %s; reserve more (echo N > /proc/sys/vm/nr_hugepages)\n",
                cpu, shmlog__g.ring_fallback);
    if (!locked && !shmlog__g.cfg.quiet && !shmlog__g.warned_unlocked) {
        struct rlimit lim;
        getrlimit(RLIMIT_MEMLOCK, &lim);
        shmlog__say("shmlog: warning: rings in %s are not locked in memory (RLIMIT_MEMLOCK %llu KiB, a ring "
                    "%zu KiB): under memory pressure a log call may wait for a page; raise it (ulimit -l, "
                    "LimitMEMLOCK= in a unit) or reserve hugepages\n",
                    shmlog__g.dir, SHMLOG__CAST(unsigned long long, lim.rlim_cur / 1024), shmlog__g.ring_bytes / 1024);
        shmlog__g.warned_unlocked = 1;
    }
    const char *tag = path + strlen(stem);
    snprintf(shmlog__ring_tag[cpu], sizeof shmlog__ring_tag[cpu], "%.*s", SHMLOG__CAST(int, strlen(tag) - strlen(".ring")), tag);
    struct shmlog_ring *r = SHMLOG__CAST(struct shmlog_ring *, addr);
    r->cpu = cpu;
    r->numa_node = bound ? node : -1;
    r->capacity = shmlog__g.ring_records;
    r->policy = SHMLOG__CAST(uint32_t, shmlog__g.cfg.policy);
    if (shmlog__bell) {
        r->ring_flags = SHMLOG_RING_BELL;
        r->bell_dev = shmlog__bell_dev;
        r->bell_ino = shmlog__bell_ino;
    }
    uint32_t pid = SHMLOG__CAST(uint32_t, getpid());
    shmlog__seg_header_publish(&r->hdr, SHMLOG_MAGIC_RING, SHMLOG_SEG_RING, shmlog__g.ring_bytes,
                               fell_back ? SHMLOG_SEG_FALLBACK : shmlog__g.huge ? SHMLOG_SEG_HUGEPAGES : 0, pid,
                               shmlog__g.meta->hdr.proc_start, shmlog__g.instance);
    shmlog__publish_ring(cpu, r, SHMLOG__CAST(uint8_t *, addr) + SHMLOG_RING_HEADER_BYTES, shmlog__g.ring_records - 1,
                         SHMLOG__CAST(uint32_t, shmlog__g.cfg.policy));
    return 0;
}

/* The ring of cpu, made now if need be; NULL when this thread holds shmlog's
 * lock already (a log call in a signal handler that interrupted it there):
 * the record is then dropped and counted, and the ring made by a later call. */
static struct shmlog__ring_local *shmlog__ring_slow(unsigned cpu)
{
    if (!shmlog__lock_take_in_call())
        return NULL;
    if (!shmlog__g.initialized && shmlog__g.segments_wanted && shmlog__segments_again(0) != 0) {
        shmlog__lock_give();
        return NULL; /* dropped and counted, the ring made by a later call */
    }
    int err = shmlog__g.initialized ? shmlog__ring_create(cpu) : -ENODEV;
    if (err) {
        if (shmlog__g.initialized)
            shmlog__say("shmlog: cannot create the ring of cpu %u in %s: %s; its records are dropped and counted as "
                        "lost\n", cpu, shmlog__g.dir, strerrordesc_np(-err));
        shmlog__use_null_ring(cpu);
    }
    shmlog__lock_give();
    return &shmlog__rings[cpu];
}

/* The cpu the caller runs on. With rseq, glibc keeps it in the thread's rseq
 * area; SHMLOG__NO_CPU when this thread has no rseq registration although the
 * process uses rseq. Without rseq: sched_getcpu(); a stale answer is harmless
 * there, the reservation is a CAS. */
static unsigned shmlog__cpu(void)
{
#ifdef SHMLOG__RSEQ_RESERVE
    if (SHMLOG__USE_RSEQ()) {
        unsigned cpu = shmlog__rseq_cpu(__rseq_offset);
        return cpu < SHMLOG__MAX_CPUS ? cpu : SHMLOG__NO_CPU;
    }
#endif
    int cpu = sched_getcpu();
    return cpu < 0 ? 0u : SHMLOG__CAST(unsigned, cpu) % SHMLOG__MAX_CPUS;
}

uint32_t shmlog__tid_slow(void)
{
    shmlog__tid = SHMLOG__CAST(uint32_t, syscall(SYS_gettid));
    return shmlog__tid;
}

/* A record with no ring to go to: counted where the collector sees it, in
 * the meta segment (shmlog_shutdown unmaps it only after a grace period for
 * calls in flight). */
static void shmlog__drop_no_ring(void)
{
    struct shmlog_meta *m = shmlog__load_acquire(&shmlog__g.meta);
    shmlog__add_relaxed(m                                                ? &m->no_ring
                        : shmlog__load_relaxed(&shmlog__g.segments_wanted) ? &shmlog__g.before_init
                                                                           : &shmlog__null_ring.dropped,
                        1);
}

static void shmlog__drop(struct shmlog__ring_local *ring, size_t payload)
{
    if (ring->hdr == &shmlog__null_ring) {
        shmlog__drop_no_ring();
        return;
    }
    shmlog__add_relaxed(&ring->hdr->dropped, 1);
    shmlog__add_relaxed(&ring->hdr->drop_bytes, payload);
}

/* A thread without an rseq registration, in a process whose other threads
 * reserve with rseq, may not write any ring (see SHMLOG__USE_RSEQ): its
 * records are dropped and counted with the records of unmade rings. */
static void shmlog__drop_no_rseq(size_t payload)
{
    (void)payload;
    shmlog__drop_no_ring();
}

/* shmlog__reserve_on's answer when the thread left the ring's cpu: pick again. */
#define SHMLOG__MOVED SHMLOG__REINTERPRET(uint8_t *, 1)

/* Reserves slots for a record of `payload` bytes on ring r, whatever the
 * ring's state: the head slot, NULL when the record was dropped, or
 * SHMLOG__MOVED. rseq: this process reserves with rseq (on cpu). */
static uint8_t *shmlog__reserve_on(struct shmlog__ring_local *r, struct shmlog_ring *h, unsigned cpu, int rseq,
                                   unsigned nslots, size_t payload, uint64_t *pos_out)
{
    uint64_t cap = r->mask + 1;
    uint64_t head = shmlog__load_relaxed(&h->head);
    uint64_t pad, need, released = UINT64_MAX;
    for (;;) {
        uint64_t idx = head & r->mask;
        pad = nslots > 1 && idx + nslots > cap ? cap - idx : 0;
        need = pad + nslots;
        if (r->policy != SHMLOG_OVERWRITE) {
            /* Acquire pairs with the release below: a producer that trusts
             * another's cached tail inherits its acquire of the collector's
             * release, so it reuses slots only after the collector copied
             * them (plain movs on x86 either way). */
            uint64_t tail = shmlog__load_acquire(&h->tail_cache);
            if (head + need - tail > cap) {
                /* Acquire pairs with the collector's release of tail: it has
                 * finished copying the slots we are about to reuse. */
                tail = shmlog__load_acquire(&h->tail);
                shmlog__store_release(&h->tail_cache, tail);
            }
            released = tail + cap;
            if (rseq) /* the inline path's bound, from the tail just trusted */
                shmlog__store_release(&r->limit, shmlog__inline_limit(head, released, r->mask));
            if (head + need - tail > cap) {
                if (r->policy == SHMLOG_DROP) {
                    shmlog__drop(r, payload);
                    return NULL;
                }
                shmlog__cpu_relax();
                head = shmlog__load_relaxed(&h->head);
                continue;
            }
        }
#ifdef SHMLOG__RSEQ_RESERVE
        if (rseq) {
            int rc = shmlog__rseq_cmpeq_store(&h->head, head, head + need, cpu, __rseq_offset);
            if (rc == 0)
                break;
            if (rc < 0)
                return SHMLOG__MOVED;
            head = shmlog__load_relaxed(&h->head); /* another thread on this cpu came first */
            continue;
        }
#endif
        (void)cpu;
        if (shmlog__cas(&h->head, &head, head + need))
            break;
    }
    shmlog__progress(h, r->mask, head + need, SHMLOG__CAST(unsigned, need));
    if (rseq) /* the bound of the lap this record ends in */
        shmlog__store_release(&r->limit, shmlog__inline_limit(head + need, released, r->mask));
    if (pad) {
        struct shmlog_record *p = SHMLOG__REINTERPRET(struct shmlog_record *, r->slots + ((head & r->mask) << 6));
        p->nslots = SHMLOG__CAST(uint8_t, pad); /* < SHMLOG_MAX_SLOTS: only a record that crosses the end pads */
        p->flags = SHMLOG_REC_PAD;
        p->site = 0;
        p->tsc = 0;
        shmlog__store_release(&p->commit, head + 1);
        head += pad;
    }
    uint8_t *slot = r->slots + ((head & r->mask) << 6);
    shmlog__slot_open(slot);
    *pos_out = head;
    return slot;
}

uint8_t *shmlog__reserve_slow(unsigned nslots, size_t payload, uint64_t *pos)
{
    const int rseq = SHMLOG__USE_RSEQ();
    for (;;) {
        unsigned cpu = shmlog__cpu();
        if (cpu == SHMLOG__NO_CPU) {
            shmlog__drop_no_rseq(payload);
            return NULL;
        }
        struct shmlog__ring_local *ring = &shmlog__rings[cpu];
        struct shmlog_ring *h = shmlog__load_acquire(&ring->hdr);
        if (!h) {
            ring = shmlog__ring_slow(cpu);
            if (!ring) {
                shmlog__drop_no_ring();
                return NULL;
            }
            h = ring->hdr;
        }
        uint8_t *head = shmlog__reserve_on(ring, h, cpu, rseq, nslots, payload, pos);
        if (head != SHMLOG__MOVED)
            return head;
    }
}

/* ---- call sites ---- */

static uint32_t shmlog__append_string(const char *s, uint32_t len)
{
    uint32_t off = shmlog__g.strings_used;
    memcpy(shmlog__g.strings + off, s, len);
    shmlog__g.strings[off + len] = 0;
    memcpy(SHMLOG__REINTERPRET(uint8_t *, shmlog__g.meta) + shmlog__g.strings_offset + off, s, len);
    SHMLOG__REINTERPRET(uint8_t *, shmlog__g.meta)[shmlog__g.strings_offset + off + len] = 0;
    shmlog__g.strings_used += len + 1;
    return off;
}

void shmlog__out_of_range(void)
{
    struct shmlog_meta *m = shmlog__load_acquire(&shmlog__g.meta);
    if (m)
        shmlog__add_relaxed(&m->out_of_range, 1);
}

static void shmlog__site_refused(void)
{
    struct shmlog_meta *m = shmlog__g.meta;
    if (m)
        shmlog__add_relaxed(&m->unregistered, 1);
}

static int shmlog__is_digit(char c) { return c >= '0' && c <= '9'; }

/* Skips a positional index ("12$") at *f, if there is one: 1 if it did. */
static int shmlog__skip_positional(const char **f)
{
    const char *p = *f;
    if (!shmlog__is_digit(*p))
        return 0;
    while (shmlog__is_digit(*p))
        p++;
    if (*p != '$')
        return 0;
    *f = p + 1;
    return 1;
}

/* Skips a width or a precision at *f: 1 if it is a '*', which takes an
 * argument (positional when an index follows it). */
static unsigned shmlog__skip_width(const char **f, int *positional)
{
    if (**f != '*') {
        while (shmlog__is_digit(**f))
            (*f)++;
        return 0;
    }
    (*f)++;
    *positional |= shmlog__skip_positional(f);
    return 1;
}

/* Bit k set: argument k is the string of a %.*s, bounded on the hot path by
 * its precision, argument k - 1, so that a buffer without a NUL is not read
 * past it and the record holds what the message shows. Arguments are counted
 * as the readers' formatter counts them (render/render_parse.c). */
static uint32_t shmlog__star_strings(const char *f)
{
    uint32_t mask = 0;
    unsigned arg = 0;
    while (*f) {
        if (*f++ != '%')
            continue;
        int positional = shmlog__skip_positional(&f);
        while (*f == '-' || *f == '+' || *f == ' ' || *f == '#' || *f == '0' || *f == '\'')
            f++;
        unsigned width_star = shmlog__skip_width(&f, &positional), prec_star = 0;
        if (*f == '.') {
            f++;
            prec_star = shmlog__skip_width(&f, &positional);
        }
        if (*f == 'h' || *f == 'l')
            f += f[1] == f[0] ? 2 : 1;
        else if (*f == 'q' || *f == 'L' || *f == 'j' || *f == 'z' || *f == 'Z' || *f == 't')
            f++;
        char conv = *f;
        if (!conv) /* incomplete: takes nothing, and the format ends */
            break;
        f++;
        if (positional) /* rendered as an error, taking nothing */
            continue;
        arg += width_star + prec_star;
        if (strchr("diouxXcspfFeEgGaAn", conv)) {
            if (prec_star && conv == 's' && arg < SHMLOG_MAX_ARGS)
                mask |= 1u << arg;
            arg++;
        }
    }
    return mask;
}

/* Puts s (string offsets in the arena) at the end of the table, local and
 * shared, and publishes it: its id. Called with the lock held, with room. */
static uint32_t shmlog__site_publish(struct shmlog_site *s)
{
    struct shmlog_meta *m = shmlog__g.meta;
    uint32_t n = shmlog__g.site_count;
    shmlog__g.sites[n] = *s;
    shmlog__site_strings_shift(s, shmlog__g.strings_offset);
    (SHMLOG__REINTERPRET(struct shmlog_site *, SHMLOG__REINTERPRET(uint8_t *, m) + shmlog__g.sites_offset))[n] = *s;
    shmlog__g.site_count = n + 1;
    shmlog__store_relaxed(&m->strings_used, shmlog__g.strings_used);
    /* Release: a reader that sees the count sees the entry and its strings. */
    shmlog__store_release(&m->site_count, n + 1);
    return n;
}

/* Where a made format is written as its site is added, under the lock. */
static char shmlog__made_text[SHMLOG_MAX_FMT_BYTES + 1];

/* The printf format of a C++ {} format m (checked when compiling, which
 * wrote its placeholders' conversions after m: shmlog_fmt.h,
 * fmt_translate_into, whose reading of the format and codes this follows):
 * its text with a % doubled, a {{ or }} halved, each placeholder its
 * conversions, and a rate-limited call's suffix as it is. Writes at most cap
 * bytes at out; its length. */
static size_t shmlog__fmt_expand(const struct shmlog__made_fmt *m, char *out, size_t cap)
{
    const char *f = m->braces;
    const char *conv = SHMLOG__REINTERPRET(const char *, m) + sizeof *m;
    const size_t len = strlen(f), sl = sizeof SHMLOG__SUPPRESSED - 1;
    const size_t end = len >= sl && strcmp(f + len - sl, SHMLOG__SUPPRESSED) == 0 ? len - sl : len;
    size_t n = 0;
#define SHMLOG__PUT(c) (n < cap ? (void)(out[n] = (c)) : (void)0, n++)
    for (size_t i = 0; i < end; i++) {
        const char c = f[i], after = i + 1 < end ? f[i + 1] : 0;
        if (c == '%') {
            SHMLOG__PUT('%');
            SHMLOG__PUT('%');
            if (after == '%')
                i++;
        } else if ((c == '{' && after == '{') || c == '}') { /* a } is one of }}: the check refused any other */
            SHMLOG__PUT(c);
            i++;
        } else if (c == '{') { /* to its }, past a nested {} (a width or precision from an argument) */
            const size_t open = i++;
            while (i < end && f[i] != '}' && !(f[i] == '{' && (i + 1 >= end || f[i + 1] != '}')))
                i += f[i] == '{' ? 2 : 1;
            const char code = *conv++;
            SHMLOG__PUT('%');
            if (code == '%') { /* written out, to its NUL */
                for (; *conv; conv++)
                    SHMLOG__PUT(*conv);
                conv++;
            } else if (code == '.') { /* {:.2f}: its spec after the ':' */
                for (size_t k = open + 2; k < i; k++)
                    SHMLOG__PUT(f[k]);
            } else { /* a bare {} */
                if (code == 'D' || code == 'U') {
                    SHMLOG__PUT('l');
                    SHMLOG__PUT('l');
                }
                SHMLOG__PUT(code == 'D' ? 'd' : code == 'U' ? 'u' : code);
            }
        } else {
            SHMLOG__PUT(c);
        }
    }
    for (size_t i = end; i < len; i++)
        SHMLOG__PUT(f[i]);
#undef SHMLOG__PUT
    return n;
}

/* Adds a site to the table and publishes its word in *cache: the %.*s mask
 * above id + 1, or above UINT32_MAX when refused. Called with the lock held.
 * A made format (made not NULL; a {} format's translation has no %.*s, so
 * the word of a call not written is the same without it) is made first. */
static uint64_t shmlog__site_add(uint64_t *cache, int level, int category, const char *file, int line,
                                 const char *func, const char *fmt, const struct shmlog__made_fmt *made,
                                 const char *desc, unsigned nargs, const uint8_t *types)
{
    size_t fmt_len;
    if (made) {
        fmt_len = shmlog__fmt_expand(made, shmlog__made_text, SHMLOG_MAX_FMT_BYTES); /* longer: refused below */
        shmlog__made_text[fmt_len < SHMLOG_MAX_FMT_BYTES ? fmt_len : SHMLOG_MAX_FMT_BYTES] = 0;
        fmt = shmlog__made_text;
    } else {
        fmt_len = strlen(fmt);
    }
    uint64_t word = SHMLOG__CAST(uint64_t, shmlog__star_strings(fmt)) << 32;
    size_t file_len = strlen(file), func_len = func ? strnlen(func, SHMLOG_MAX_FUNC_BYTES) : 0;
    size_t desc_len = desc ? strnlen(desc, SHMLOG_MAX_DESC_BYTES + 1) : 0;
    if (file_len > SHMLOG_MAX_FILE_BYTES) { /* keep the end: it names the file */
        file += file_len - SHMLOG_MAX_FILE_BYTES;
        file_len = SHMLOG_MAX_FILE_BYTES;
    }
    if (desc_len > SHMLOG_MAX_DESC_BYTES) /* the arguments still render, by their types */
        desc_len = 0;
    uint32_t n = shmlog__g.site_count;
    const unsigned more_types = nargs > SHMLOG_SITE_ARG_TYPES ? nargs - SHMLOG_SITE_ARG_TYPES : 0;
    if (fmt_len > SHMLOG_MAX_FMT_BYTES || nargs > SHMLOG_MAX_ARGS || n >= shmlog__g.site_capacity ||
        shmlog__g.strings_used + fmt_len + file_len + func_len + desc_len + more_types + 5 > shmlog__g.strings_bytes) {
        word |= UINT32_MAX; /* refused for good: records of this site count as unregistered */
    } else {
        struct shmlog_site s;
        memset(&s, 0, sizeof s);
        s.fmt_offset = shmlog__append_string(fmt, SHMLOG__CAST(uint32_t, fmt_len));
        s.fmt_len = SHMLOG__CAST(uint32_t, fmt_len);
        s.file_offset = shmlog__append_string(file, SHMLOG__CAST(uint32_t, file_len));
        s.file_len = SHMLOG__CAST(uint32_t, file_len);
        if (func_len) {
            s.func_offset = shmlog__append_string(func, SHMLOG__CAST(uint32_t, func_len));
            s.func_len = SHMLOG__CAST(uint32_t, func_len);
        }
        if (desc_len) {
            s.desc_offset = shmlog__append_string(desc, SHMLOG__CAST(uint32_t, desc_len));
            s.desc_len = SHMLOG__CAST(uint32_t, desc_len);
            s.flags = SHMLOG_SITE_DESC;
        }
        s.line = SHMLOG__CAST(uint32_t, line);
        s.level = SHMLOG__CAST(uint8_t, level);
        s.category = SHMLOG__CAST(uint8_t, category);
        s.nargs = SHMLOG__CAST(uint8_t, nargs);
        memcpy(s.arg_types, types, more_types ? SHMLOG_SITE_ARG_TYPES : nargs);
        if (more_types)
            s.more_types_offset = shmlog__append_string(SHMLOG__REINTERPRET(const char *, types + SHMLOG_SITE_ARG_TYPES),
                                                        more_types);
        word |= shmlog__site_publish(&s) + 1;
    }
    /* Release pairs with the hot path's acquire of the cache: a record naming
     * this site is committed after the site is published. */
    shmlog__store_release(cache, word);
    return word;
}

/* Says once on stderr that a call came before shmlog_init, and where: with
 * write(2), as a log call may run in a signal handler. */
static void shmlog__say_before_init(const char *file, int line)
{
    static int said;
    if (__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
        return;
    char num[16], *p = num + sizeof num;
    unsigned v = line > 0 ? SHMLOG__CAST(unsigned, line) : 0;
    do
        *--p = SHMLOG__CAST(char, '0' + v % 10);
    while (v /= 10);
    const char *parts[] = {"shmlog: ", file, ":", p, ": a log call before shmlog_init() writes nothing; such calls "
                           "are counted, and the files report them (before_init) once shmlog_init() is called\n"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t n = i == 3 ? SHMLOG__CAST(size_t, num + sizeof num - p) : strlen(parts[i]);
        if (write(2, parts[i], n) != SHMLOG__CAST(ssize_t, n))
            return;
    }
}

/* The int a %.*s reads of an integer argument of type t at p in a call's
 * image: its value converted as printf converts it. */
static int32_t shmlog__image_int(const uint8_t *p, unsigned t)
{
    switch (t) {
    case SHMLOG_ARG_I8: { int8_t x; memcpy(&x, p, 1); return x; }
    case SHMLOG_ARG_I16: { int16_t x; memcpy(&x, p, 2); return x; }
    case SHMLOG_ARG_BOOL: case SHMLOG_ARG_U8: return p[0];
    case SHMLOG_ARG_U16: { uint16_t x; memcpy(&x, p, 2); return x; }
    default: { uint32_t x; memcpy(&x, p, 4); return SHMLOG__CAST(int32_t, x); } /* the low bytes */
    }
}

/* A C site's argument count (struct shmlog__site's nargs keeps more). */
static inline unsigned shmlog__site_nargs(const struct shmlog__site *s)
{
    const unsigned nargs = s->nargs >> 16;
    return nargs < SHMLOG_MAX_ARGS ? nargs : SHMLOG_MAX_ARGS;
}

/* The bound a %.*s puts on string argument i of a call (SIZE_MAX: none):
 * the int it reads of argument i - 1, an integer at prev in the image, when
 * the site word says the format has one there. */
static size_t shmlog__string_bound(const struct shmlog__site *s, uint64_t site, unsigned i, const uint8_t *prev)
{
    if (!i || !(site >> (32 + i) & 1u) || s->types[i - 1] < SHMLOG_ARG_BOOL || s->types[i - 1] > SHMLOG_ARG_U64)
        return SIZE_MAX;
    const int32_t prec = shmlog__image_int(prev, s->types[i - 1]);
    return prec < 0 ? SIZE_MAX : SHMLOG__CAST(size_t, prec);
}

/* The record of a call with one string of len bytes to store (cut: it was
 * cut to them), at string argument offset at of the image; inlined into its
 * caller twice, so that the string's header is a constant's or of a cut. */
static inline __attribute__((always_inline)) void shmlog__one_string_record(const struct shmlog__site *s, uint64_t site,
                                                                            uint64_t tsc, unsigned lcf,
                                                                            const uint8_t *image, unsigned at,
                                                                            uint64_t str, size_t len, unsigned cut)
{
    uint64_t pos = 0; /* set with every head; GCC cannot see it */
    uint8_t *head = shmlog__begin_call(tsc, site, lcf, s->fixed + len, cut ? SHMLOG_REC_TRUNCATED : 0u, &pos);
    if (SHMLOG__UNLIKELY(!head))
        return;
    struct shmlog__cursor c = shmlog__cursor_at(head, pos);
    shmlog__put_bytes(&c, image, at);
    shmlog__put_arg(&c, SHMLOG_ARG_STR, str, len, cut);
    /* the image holds the string's 8-byte address where the payload has its 2-byte header */
    shmlog__put_bytes(&c, image + at + 8, s->fixed - SHMLOG_STR_HEADER_BYTES - at);
    shmlog__commit(head, pos);
}

/* A record with one string, the common case: the fixed bytes before it and
 * after it each one copy from the image, no loop over the arguments. */
static __attribute__((noinline)) void shmlog__write_one_string(const struct shmlog__site *s, uint64_t site,
                                                               uint64_t tsc, unsigned lcf, const uint8_t *image)
{
    const unsigned i = SHMLOG__CAST(unsigned, __builtin_ctz(s->strings)), at = s->first_string_at;
    uint64_t str;
    memcpy(&str, image + at, 8);
    /* the argument before the string: its width's code is 2 bits below the string's */
    const uint8_t *prev = i ? image + at - (1u << (s->widths >> (2 * i - 2) & 3u)) : image;
    const size_t room = shmlog__load_relaxed(&shmlog__payload_bound) - s->fixed;
    const size_t len = shmlog__arg_len(SHMLOG_ARG_STR, str, SIZE_MAX, shmlog__string_bound(s, site, i, prev), room);
    if (SHMLOG__UNLIKELY(len > room))
        shmlog__one_string_record(s, site, tsc, lcf, image, at, str, room, 1);
    else
        shmlog__one_string_record(s, site, tsc, lcf, image, at, str, len, 0);
}

/* A record with strings: each measured (the room the fixed bytes leave
 * shared in argument order), then the runs of fixed bytes between them
 * copied from the image as they are. */
static __attribute__((noinline)) void shmlog__write_strings(const struct shmlog__site *s, uint64_t site, uint64_t tsc,
                                                            unsigned lcf, const uint8_t *image)
{
    const unsigned nargs = shmlog__site_nargs(s), strings = s->strings;
    const size_t room = shmlog__load_relaxed(&shmlog__payload_bound) - s->fixed;
    uint64_t str[SHMLOG_MAX_ARGS];
    size_t len[SHMLOG_MAX_ARGS] = {0};
    size_t strs = 0;
    unsigned cuts = 0;
    const uint8_t *at = image, *prev = image;
    uint64_t widths = s->widths;
    for (unsigned i = 0; i < nargs; i++, widths >>= 2) {
        if (!(strings >> i & 1u)) {
            prev = at;
            at += 1u << (widths & 3u);
            continue;
        }
        memcpy(&str[i], at, 8);
        len[i] = shmlog__arg_len(SHMLOG_ARG_STR, str[i], SIZE_MAX, shmlog__string_bound(s, site, i, prev), room);
        strs += len[i];
        prev = at;
        at += 8;
    }
    if (SHMLOG__UNLIKELY(strs > room)) {
        unsigned cut[SHMLOG_MAX_ARGS] = {0};
        (void)shmlog__cut_strings(len, cut, s->types, nargs, room);
        for (unsigned i = 0; i < nargs; i++)
            cuts |= cut[i] << i;
        strs = room;
    }
    uint64_t pos = 0; /* set with every head; GCC cannot see it */
    uint8_t *head = shmlog__begin_call(tsc, site, lcf, s->fixed + strs, cuts ? SHMLOG_REC_TRUNCATED : 0u, &pos);
    if (SHMLOG__UNLIKELY(!head))
        return;
    struct shmlog__cursor c = shmlog__cursor_at(head, pos);
    size_t run = 0;
    at = image;
    widths = s->widths;
    for (unsigned i = 0; i < nargs; i++, widths >>= 2) {
        if (strings >> i & 1u) {
            shmlog__put_bytes(&c, at, run);
            at += run + 8;
            run = 0;
            shmlog__put_arg(&c, SHMLOG_ARG_STR, str[i], len[i], cuts >> i & 1u);
        } else {
            run += 1u << (widths & 3u);
        }
    }
    shmlog__put_bytes(&c, at, run);
    shmlog__commit(head, pos);
}

unsigned shmlog__cut_strings(size_t *len, unsigned *cut, const uint8_t *types, unsigned nargs, size_t room)
{
    size_t want[SHMLOG_MAX_ARGS];
    unsigned cut_of[SHMLOG_MAX_ARGS], at[SHMLOG_MAX_ARGS], n = 0;
    for (unsigned i = 0; i < nargs && i < SHMLOG_MAX_ARGS; i++)
        if (types[i] == SHMLOG_ARG_STR) {
            at[n] = i;
            want[n++] = len[i];
        }
    shmlog_str_share(want, cut_of, n, room);
    for (unsigned k = 0; k < n; k++) {
        len[at[k]] = want[k];
        cut[at[k]] = cut_of[k];
    }
    return SHMLOG_REC_TRUNCATED;
}

static uint64_t shmlog__register(uint64_t *cache, struct shmlog__site *lay_out, int level, int category,
                                 const char *file, int line, const char *func, const char *fmt,
                                 const struct shmlog__made_fmt *made, const char *desc, unsigned nargs,
                                 const uint8_t *types);

/* The site word of a C call (shmlog__site_word), its layout worked out
 * when it registers. */
static inline __attribute__((always_inline)) uint64_t shmlog__c_site_word(uint64_t *cache, struct shmlog__site *s,
                                                                          unsigned lcf)
{
    uint64_t site = shmlog__load_acquire(cache);
    if (SHMLOG__UNLIKELY(shmlog__site_unregistered(site)))
        site = shmlog__register(cache, s, SHMLOG__CAST(int, lcf & 0xFFu), SHMLOG__CAST(int, lcf >> 8 & 0xFFu),
                                s->file, s->line, s->func, s->fmt, NULL, s->desc, shmlog__site_nargs(s), s->types);
    return site;
}

/* The record of a call of site word site (its low 32 bits not 0), its
 * arguments laid out in image. */
static inline __attribute__((always_inline)) void shmlog__write_image(uint64_t site, const struct shmlog__site *s,
                                                                      uint64_t tsc, unsigned lcf,
                                                                      const uint8_t *image)
{
    if (SHMLOG__UNLIKELY(s->strings)) {
        if (!(s->strings & (s->strings - 1u)))
            shmlog__write_one_string(s, site, tsc, lcf, image);
        else
            shmlog__write_strings(s, site, tsc, lcf, image);
        return;
    }
    /* fixed widths alone: the image is the payload */
    uint64_t pos = 0; /* set with every head; GCC cannot see it */
    uint8_t *head = shmlog__begin_call(tsc, site, lcf, s->fixed, 0, &pos);
    if (SHMLOG__UNLIKELY(!head))
        return;
    struct shmlog__cursor c = shmlog__cursor_at(head, pos);
    shmlog__put_bytes(&c, image, s->fixed);
    shmlog__commit(head, pos);
}

/* shmlog__write with the site word at cache: a rate limit's marker keeps its own. */
static inline __attribute__((always_inline)) void shmlog__write_at(uint64_t *cache, struct shmlog__site *s,
                                                                   uint64_t tsc, unsigned lcf, const uint8_t *image)
{
    const uint64_t site = shmlog__c_site_word(cache, s, lcf);
    if (SHMLOG__UNLIKELY(SHMLOG__CAST(uint32_t, site) == 0)) /* not written */
        return;
    shmlog__write_image(site, s, tsc, lcf, image);
}

void shmlog__write(struct shmlog__site *s, uint32_t tsc_lo, uint32_t tsc_hi, unsigned lcf, const uint8_t *image)
{
    shmlog__write_at(&s->word, s, SHMLOG__CAST(uint64_t, tsc_hi) << 32 | tsc_lo, lcf, image);
}

/* A C call's record from its n words, of site word site: its image, each
 * word stored at its offset (the site's types table's, after its n codes)
 * as 8 bytes, of which the next argument's overwrite all but its own
 * width's, then its TSC (after the stores, which frees the registers rdtsc
 * takes). */
static inline __attribute__((always_inline)) void shmlog__write_laid_out(uint64_t site, const struct shmlog__site *s,
                                                                         unsigned lcf, const uint64_t *words,
                                                                         unsigned n)
{
    uint8_t image[8 * 8];
    if (!n) /* nothing reads it: said to GCC (-Wmaybe-uninitialized) */
        image[0] = 0;
    const uint8_t *at = s->types + n;
    for (unsigned i = 0; i < n && i < 8; i++) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        const unsigned width = 1u << (SHMLOG__LOG2_WIDTHS >> 2 * s->types[i] & 3u);
        const uint64_t word = words[i] << (64u - 8u * width) % 64u; /* its low bytes first */
#else
        const uint64_t word = words[i];
#endif
        memcpy(image + (i ? at[i] : 0u), &word, 8); /* the first at 0: one load fewer */
    }
    uint64_t tsc;
    /* rdtsc zeroes the halves' upper bits: no extension before joining them */
    __asm__ __volatile__("rdtsc\n\tshlq $32, %%rdx\n\torq %%rdx, %%rax" : "=a"(tsc) : : "rdx");
    shmlog__write_image(site, s, tsc, lcf, image);
}

/* A C call of a site not registered yet (or not written): registers and
 * lays out the site, then writes as any call. Its words are its arguments
 * (its site's nargs of them), not an array: the call to it is a C call's
 * last act, so a call of a registered site keeps its words where they came. */
static __attribute__((noinline)) void shmlog__write_first(struct shmlog__site *s, unsigned lcf, uint64_t a1, uint64_t a2,
                                                          uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6,
                                                          uint64_t a7, uint64_t a8)
{
    const uint64_t site = shmlog__c_site_word(&s->word, s, lcf);
    const uint64_t words[] = {a1, a2, a3, a4, a5, a6, a7, a8};
    const unsigned nargs = shmlog__site_nargs(s);
    if (SHMLOG__CAST(uint32_t, site) != 0)
        shmlog__write_laid_out(site, s, lcf, words, nargs < 8 ? nargs : 8);
}

/* Word k of a call's n, or 0 past them. */
static inline __attribute__((always_inline)) uint64_t shmlog__word_or_0(const uint64_t *words, unsigned n, unsigned k)
{
    return k < n ? words[k] : 0u;
}

/* A C call's record from its n words, of the site at (SHMLOG__SITE_ARG);
 * the site's offsets are read once it is registered (shmlog__write_first). */
static inline __attribute__((always_inline)) void shmlog__write_words(void *at, const uint64_t *words, unsigned n)
{
    struct shmlog__site *s;
    unsigned lcf;
    if (SHMLOG__UNLIKELY(SHMLOG__REINTERPRET(uintptr_t, at) & 1u)) {
        const struct shmlog__call *call = SHMLOG__REINTERPRET(const struct shmlog__call *,
                                                              SHMLOG__REINTERPRET(uintptr_t, at) - 1u);
        s = call->site;
        lcf = call->lcf;
    } else {
        s = SHMLOG__CAST(struct shmlog__site *, at);
        lcf = s->nargs & 0xFFFFu;
    }
    const uint64_t site = shmlog__load_acquire(&s->word);
    if (SHMLOG__UNLIKELY(shmlog__site_unregistered(site)))
        shmlog__write_first(s, lcf, shmlog__word_or_0(words, n, 0), shmlog__word_or_0(words, n, 1),
                            shmlog__word_or_0(words, n, 2), shmlog__word_or_0(words, n, 3),
                            shmlog__word_or_0(words, n, 4), shmlog__word_or_0(words, n, 5),
                            shmlog__word_or_0(words, n, 6), shmlog__word_or_0(words, n, 7));
    else
        shmlog__write_laid_out(site, s, lcf, words, n);
}

void shmlog__write_w0(void *site)
{
    shmlog__write_words(site, NULL, 0);
}

void shmlog__write_w1(void *site, uint64_t a1)
{
    const uint64_t words[] = {a1};
    shmlog__write_words(site, words, 1);
}

void shmlog__write_w2(void *site, uint64_t a1, uint64_t a2)
{
    const uint64_t words[] = {a1, a2};
    shmlog__write_words(site, words, 2);
}

void shmlog__write_w3(void *site, uint64_t a1, uint64_t a2, uint64_t a3)
{
    const uint64_t words[] = {a1, a2, a3};
    shmlog__write_words(site, words, 3);
}

void shmlog__write_w4(void *site, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4)
{
    const uint64_t words[] = {a1, a2, a3, a4};
    shmlog__write_words(site, words, 4);
}

void shmlog__write_w5(void *site, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
    const uint64_t words[] = {a1, a2, a3, a4, a5};
    shmlog__write_words(site, words, 5);
}

void shmlog__write_w6(void *site, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6)
{
    const uint64_t words[] = {a1, a2, a3, a4, a5, a6};
    shmlog__write_words(site, words, 6);
}

void shmlog__write_w7(void *site, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7)
{
    const uint64_t words[] = {a1, a2, a3, a4, a5, a6, a7};
    shmlog__write_words(site, words, 7);
}

void shmlog__write_w8(void *site, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8)
{
    const uint64_t words[] = {a1, a2, a3, a4, a5, a6, a7, a8};
    shmlog__write_words(site, words, 8);
}

/* A C site's layout of its arguments from its types (struct shmlog__site),
 * the image's the call lays out past 8 arguments (SHMLOG__A_END), and up to
 * 8, each argument's offset in the image after the types (the table has
 * room: SHMLOG__TYPES_DECL); written once, under the lock, before any call
 * can read the site word that lets it read the layout. A site laid out when
 * compiling (a marker's) has its fixed bytes set. */
static void shmlog__lay_out(struct shmlog__site *s)
{
    const unsigned nargs = shmlog__site_nargs(s);
    if (s->fixed || !nargs)
        return;
    uint8_t *offsets = SHMLOG__REINTERPRET(uint8_t *, SHMLOG__REINTERPRET(uintptr_t, s->types + nargs));
    unsigned at = 0, fixed = 0;
    for (unsigned i = 0; i < nargs; i++) {
        if (i < 8)
            offsets[i] = SHMLOG__CAST(uint8_t, at);
        if (s->types[i] == SHMLOG_ARG_STR) {
            if (!s->strings)
                s->first_string_at = SHMLOG__CAST(uint8_t, at);
            s->strings |= 1u << i;
            fixed += SHMLOG_STR_HEADER_BYTES;
            at += 8;
        } else {
            const unsigned width = shmlog_arg_width(s->types[i]);
            s->widths |= SHMLOG__CAST(uint64_t, __builtin_ctz(width)) << 2 * i;
            fixed += width;
            at += width;
        }
    }
    s->fixed = SHMLOG__CAST(uint16_t, fixed);
}

uint64_t shmlog__register_site(uint64_t *cache, int level, int category, const char *file, int line,
                               const char *func, const char *fmt, const char *desc, unsigned nargs,
                               const uint8_t *types)
{
    return shmlog__register(cache, NULL, level, category, file, line, func, fmt, NULL, desc, nargs, types);
}

uint64_t shmlog__register_site_made(uint64_t *cache, int level, int category, const char *file, int line,
                                    const char *func, const struct shmlog__made_fmt *fmt, const char *desc,
                                    unsigned nargs, const uint8_t *types)
{
    return shmlog__register(cache, NULL, level, category, file, line, func, &fmt->none, fmt, desc, nargs, types);
}

/* shmlog__register_site, laying out the C site lay_out (if not NULL) first;
 * with made, its format is made as it is added (fmt is then empty). */
static uint64_t shmlog__register(uint64_t *cache, struct shmlog__site *lay_out, int level, int category,
                                 const char *file, int line, const char *func, const char *fmt,
                                 const struct shmlog__made_fmt *made, const char *desc, unsigned nargs,
                                 const uint8_t *types)
{
    uint64_t word = shmlog__load_acquire(cache);
    int waiting = shmlog__load_relaxed(&shmlog__g.segments_wanted);
    if (waiting && shmlog__lock_take_in_call()) {
        (void)shmlog__segments_again(0);
        shmlog__lock_give();
    }
    if (!shmlog__load_acquire(&shmlog__g.meta)) {
        /* Before shmlog_init (or a forked child's segments): not written,
         * counted, and the count lands in the meta segment made later. */
        shmlog__add_relaxed(&shmlog__g.before_init, 1);
        if (!waiting)
            shmlog__say_before_init(file, line);
        return SHMLOG__CAST(uint64_t, shmlog__star_strings(fmt)) << 32;
    }
    if (SHMLOG__CAST(uint32_t, word) != UINT32_MAX) { /* a refused site's calls take no lock */
        if (!shmlog__lock_take_in_call()) {
            /* A signal handler's call while its thread is in shmlog: not
             * written, counted; a later call registers the site. */
            shmlog__site_refused();
            return SHMLOG__CAST(uint64_t, shmlog__star_strings(fmt)) << 32;
        }
        word = shmlog__load_relaxed(cache);
        if (!word && shmlog__g.initialized && lay_out)
            shmlog__lay_out(lay_out);
        if (!word && shmlog__g.initialized)
            word = shmlog__site_add(cache, level, category, file, line, func, fmt, made, desc, nargs, types);
        shmlog__lock_give();
    }
    if (SHMLOG__CAST(uint32_t, word) != UINT32_MAX && SHMLOG__CAST(uint32_t, word) != 0)
        return word;
    if (SHMLOG__CAST(uint32_t, word) == UINT32_MAX)
        shmlog__site_refused();
    /* Not written, but the call still measures its strings: with the mask,
     * a %.*s buffer without a NUL is not read past its precision. */
    return word ? word & ~SHMLOG__CAST(uint64_t, UINT32_MAX) : SHMLOG__CAST(uint64_t, shmlog__star_strings(fmt)) << 32;
}

/* ---- lifecycle ---- */

/* Unmaps this process's segments; with remove, deletes them too (init failed,
 * so no record can be in them). */
static void shmlog__unmap_all(int remove)
{
    char stem[4200], what_cpu[32];
    for (unsigned cpu = 0; cpu < shmlog__rings_end; cpu++) {
        struct shmlog_ring *r = shmlog__rings[cpu].hdr;
        shmlog__store_relaxed(&shmlog__rings[cpu].hdr, SHMLOG__CAST(struct shmlog_ring *, NULL));
        if (!r || r == &shmlog__null_ring)
            continue;
        snprintf(what_cpu, sizeof what_cpu, "-cpu%u", cpu);
        if (remove && shmlog__seg_stem_in(shmlog__ring_fell_back[cpu] ? shmlog__g.ring_fallback : shmlog__g.dir, stem,
                                          sizeof stem, what_cpu) == 0) {
            char path[4300];
            if (SHMLOG__CAST(size_t, snprintf(path, sizeof path, "%s%.17s.ring", stem, shmlog__ring_tag[cpu])) < sizeof path)
                unlink(path);
        }
        munmap(r, shmlog__g.ring_bytes);
    }
    struct shmlog_bell *bell = shmlog__bell;
    shmlog__store_relaxed(&shmlog__bell, SHMLOG__CAST(struct shmlog_bell *, NULL));
    if (bell)
        munmap(bell, SHMLOG_BELL_BYTES);
    struct shmlog_meta *m = shmlog__g.meta;
    shmlog__store_release(&shmlog__g.meta, SHMLOG__CAST(struct shmlog_meta *, NULL));
    if (m) {
        if (remove)
            unlink(shmlog__g.meta_path);
        munmap(m, shmlog__g.meta_bytes);
        /* The lock goes with it: to readers this process no longer logs. In a
         * forked child the descriptor is the parent's, whose lock stays. */
        close(shmlog__g.meta_fd);
    }
}

static int shmlog__create_rings_of_affinity(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return -errno;
    for (unsigned cpu = 0; cpu < SHMLOG__MAX_CPUS && cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &set))
            continue;
        int err = shmlog__ring_create(cpu);
        if (err)
            return err;
    }
    return 0;
}

/* The rate-limited call sites that wrote once: pushed, never removed. */
static struct shmlog__every *shmlog__every_sites;

void shmlog__every_link(struct shmlog__every *e, unsigned lc)
{
    int no = 0;
    if (!__atomic_compare_exchange_n(&e->linked, &no, 1, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return; /* another thread's write links it */
    e->lc = lc;
    struct shmlog__every *head = shmlog__load_relaxed(&shmlog__every_sites);
    do
        e->next = head;
    while (!__atomic_compare_exchange_n(&shmlog__every_sites, &head, e, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

void shmlog_flush_suppressed(void)
{
    static const uint8_t marker_types[1] = {SHMLOG_ARG_U64};
    if (!shmlog__load_acquire(&shmlog__g.meta)) /* not set up, or shut down: the counts stay */
        return;
    /* Acquire pairs with the push's release: a site's file, line and lc are set. */
    for (struct shmlog__every *e = shmlog__load_acquire(&shmlog__every_sites); e; e = e->next) {
        uint64_t n = shmlog__exchange_relaxed(&e->skipped, 0);
        if (!n)
            continue;
        /* one U64 of 8 bytes: width code 3 */
        struct shmlog__site marker = {0, 3, 0, 8, 0, 1u << 16, e->line, e->file, e->func,
                                            "rate limit: suppressed=%llu", NULL, marker_types};
        uint8_t image[8];
        memcpy(image, &n, sizeof image);
        shmlog__write_at(&e->marker_cache, &marker, shmlog__rdtsc(), e->lc, image);
    }
}

/* A process that returns from main or calls exit() without shmlog_shutdown()
 * ends as it meant to: its meta says so (the collector's exit marker says
 * "shut down", not "died"). The segments stay mapped, for what static
 * destructors and the atexit handlers that run after this one still log. */
static void shmlog__at_exit(void)
{
    shmlog_flush_suppressed();
    pthread_mutex_lock(&shmlog__lock);
    (void)shmlog__segments_again(1); /* a child's last chance to file what it could not write */
    if (shmlog__g.initialized)
        __atomic_fetch_or(&shmlog__g.meta->hdr.flags, SHMLOG_SEG_CLOSED, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&shmlog__lock);
}

/* Maps the bell of our uid (SHMLOG_BELL_PREFIX), made if need be. Without
 * it (a file of another uid or a symlink has its name, no /dev/shm) the rings
 * are made without SHMLOG_RING_BELL and the collector reads them at every
 * pass, as it reads older producers'. */
static void shmlog__bell_open(void)
{
    char path[64];
    uid_t uid = geteuid(); /* the owner of the files we make */
    snprintf(path, sizeof path, SHMLOG_BELL_PREFIX "%u", uid); /* uid_t: unsigned int on Linux */
    /* 0644: a collector of another uid reads it; only we write it. */
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd < 0)
        return;
    struct stat st;
    void *addr = MAP_FAILED;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == uid &&
        (SHMLOG__CAST(uint64_t, st.st_size) >= SHMLOG_BELL_BYTES || ftruncate(fd, SHMLOG_BELL_BYTES) == 0))
        addr = mmap(NULL, SHMLOG_BELL_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (addr == MAP_FAILED)
        return;
    /* Faulted in for writing now, not on the hot path; by an atomic add, since
     * other processes of our uid ring it already. */
    __atomic_fetch_add(&SHMLOG__CAST(struct shmlog_bell *, addr)->rung, 0, __ATOMIC_RELAXED);
    shmlog__bell_dev = st.st_dev;
    shmlog__bell_ino = st.st_ino;
    shmlog__store_release(&shmlog__bell, SHMLOG__CAST(struct shmlog_bell *, addr));
}

/* Makes the segments of this process. Lock held; cfg, app and dir set. */
static int shmlog__open_segments(void)
{
    shmlog__cpu_nodes_read();
    shmlog__bell_open();
    int err = shmlog__meta_create();
    if (!err && shmlog__g.cfg.all_cpus)
        err = shmlog__create_rings_of_affinity();
    if (err)
        return err;
    shmlog__store_release(&shmlog__category_end, shmlog__g.category_count);
    shmlog__store_release(&shmlog__levels, SHMLOG__CAST(const uint16_t *, shmlog__g.meta->levels));
    return 0;
}

/* Makes the segments of this process where init chose, or, when that
 * hugetlbfs has no free page and the directory was not configured (so
 * ring_fallback is set), on 4 KiB pages in the fallback directory, which the
 * collector watches by default; said once, as init says it. A forked child
 * comes here too: whoever filled the shared hugetlbfs must not silence it.
 * Lock held; on failure nothing is left. */
static int shmlog__open_segments_or_fall_back(void)
{
    int err = shmlog__open_segments();
    if (err != -ENOMEM || !shmlog__g.huge || !shmlog__g.ring_fallback[0])
        return err;
    char no_pages_in[4096];
    snprintf(no_pages_in, sizeof no_pages_in, "%s", shmlog__g.dir);
    shmlog__unmap_all(1);
    err = shmlog__resolve_dir(SHMLOG__FALLBACK_DIR, shmlog__g.dir, sizeof shmlog__g.dir, &shmlog__g.huge,
                              shmlog__g.cfg.group);
    shmlog__g.ring_bytes = shmlog__seg_round(SHMLOG_RING_HEADER_BYTES + shmlog__g.cfg.ring_bytes, 0);
    if (!err)
        err = shmlog__open_segments();
    if (!err && !shmlog__g.cfg.quiet) /* write(2): a forked child of a threaded parent may not use stdio */
        shmlog__say("shmlog: warning: no free hugepages in %s, so rings use 4 KiB pages in %s; segments of processes "
                    "that are gone may hold them (shmlog-dump clean), or reserve more "
                    "(echo N > /proc/sys/vm/nr_hugepages)\n", no_pages_in, shmlog__g.dir);
    return err;
}

static uint64_t shmlog__mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return SHMLOG__CAST(uint64_t, ts.tv_sec) * 1000000000ull + SHMLOG__CAST(uint64_t, ts.tv_nsec);
}

/* How long a forked child without segments waits between tries: a try
 * takes the lock and makes files, so not at every call. */
#define SHMLOG__SEGMENTS_RETRY_NS 1000000000ull

/* A forked child without segments (segments_wanted) tries to make them
 * again: now, or (now 0) once its second since the last try is up. 0 when
 * it has them (initialized), else -EAGAIN. Lock held. */
static int shmlog__segments_again(int now)
{
    if (shmlog__g.initialized)
        return 0;
    if (!shmlog__g.segments_wanted || (!now && shmlog__mono_ns() < shmlog__g.segments_retry_ns))
        return -EAGAIN;
    int err = shmlog__open_segments_or_fall_back();
    if (err) {
        shmlog__g.segments_retry_ns = shmlog__mono_ns() + SHMLOG__SEGMENTS_RETRY_NS;
        return -EAGAIN;
    }
    shmlog__g.segments_wanted = 0;
    shmlog__g.initialized = 1;
    shmlog__say("shmlog: child %d logs again, in %s; the calls it made meanwhile are counted as lost (before_init)\n",
                getpid(), shmlog__g.dir);
    return 0;
}

static void shmlog__atfork_prepare(void) { shmlog__lock_take(); }
static void shmlog__atfork_parent(void) { shmlog__lock_give(); }

/* The child has its own pid, so it gets its own segments; the parent's rings
 * are left to the parent. Site ids cached by call sites stay valid. */
static void shmlog__atfork_child(void)
{
    pthread_mutex_init(&shmlog__lock, NULL);
    shmlog__store_relaxed(&shmlog__in_lock, 0);
    shmlog__tid = 0;
    if (!shmlog__g.initialized) {
        if (shmlog__g.segments_wanted) /* the calls its parent counted are the parent's to file */
            shmlog__g.before_init = 0;
        return;
    }
    /* The child starts from the levels the parent had, set from outside too. */
    for (uint32_t i = 0; i < shmlog__g.category_count; i++)
        shmlog__g.live[i] = SHMLOG__CAST(uint8_t, shmlog__g.meta->levels[i] >> 8);
    shmlog__levels = shmlog__levels_off;
    shmlog__unmap_all(0);
    shmlog__random(shmlog__g.instance, sizeof shmlog__g.instance);
    int err = shmlog__open_segments_or_fall_back();
    if (err) {
        shmlog__g.initialized = 0;
        for (uint32_t i = 0; i < SHMLOG_MAX_CATEGORIES; i++)
            shmlog__levels_waiting[i] = shmlog_level_word(
                i < shmlog__g.category_count ? shmlog__g.live[i] : SHMLOG__CAST(unsigned, shmlog__g.default_level),
                SHMLOG_LEVEL_OFF);
        shmlog__g.segments_wanted = 1;
        shmlog__g.segments_retry_ns = shmlog__mono_ns() + SHMLOG__SEGMENTS_RETRY_NS;
        shmlog__store_release(&shmlog__levels, SHMLOG__CAST(const uint16_t *, shmlog__levels_waiting));
        shmlog__say("shmlog: no segments for child %d: %s; its calls are counted, and the files show them as lost "
                    "(before_init) once its segments can be made (tried again each second and as it exits)\n",
                    getpid(), strerror(-err));
    }
}

/* The categories and levels of cfg, then $SHMLOG_LEVELS. Lock held. */
static int shmlog__levels_configure_from(const struct shmlog_config *cfg)
{
    shmlog__g.default_level = cfg->level;
    for (uint32_t i = 0; i < shmlog__g.category_count; i++)
        shmlog__g.live[i] = SHMLOG__CAST(uint8_t, cfg->level);
    for (const char *const *c = cfg->categories; c && *c; c++) {
        int place = SHMLOG__CAST(int, c - cfg->categories);
        int id = shmlog__category_define(*c, strlen(*c));
        if (id < 0) {
            fprintf(stderr, "shmlog: cfg.categories[%d] '%s': %s\n", place, *c,
                    id == -ENOSPC ? "more than 58 categories of a program's own"
                                  : "a name is 1..23 of a-z, 0-9 and _");
            return id;
        }
        /* A program's enum of ids is built on the promise that the k-th name
         * is SHMLOG_CAT_USER + k: a name that already has an id would shift
         * every later one and misfile their records without a word. */
        if (id != SHMLOG_CAT_USER + place) {
            if (id < SHMLOG_CAT_USER)
                fprintf(stderr, "shmlog: cfg.categories[%d] '%s' is the built-in category %s (id %d), not id %d "
                                "(SHMLOG_CAT_USER + %d) as its place promises: give it a name of its own "
                                "(built-in: none trade order market_data md risk portfolio) or log it with the "
                                "built-in macro\n",
                        place, *c, shmlog__builtin_categories[id], id, SHMLOG_CAT_USER + place, place);
            else
                fprintf(stderr, "shmlog: cfg.categories[%d] '%s' is already category id %d, not id %d "
                                "(SHMLOG_CAT_USER + %d) as its place promises: name each category once, and "
                                "call shmlog_category() for other names only after shmlog_init()\n",
                        place, *c, id, SHMLOG_CAT_USER + place, place);
            return -EEXIST;
        }
    }
    char why[1024];
    if (shmlog__levels_apply(cfg->levels, why, sizeof why) != 0) {
        fprintf(stderr, "shmlog: config levels '%s': %s\n", cfg->levels, why);
        return -EINVAL;
    }
    const char *env = getenv("SHMLOG_LEVELS");
    if (env && shmlog__levels_apply(env, why, sizeof why) != 0) {
        fprintf(stderr, "shmlog: SHMLOG_LEVELS='%s': %s\n", env, why);
        return -EINVAL;
    }
    return 0;
}

/* As shmlog__levels_configure_from, but a refused config leaves the
 * categories and levels as they were, so a corrected config given to the next
 * shmlog_init() gets the ids its places promise. Lock held. */
static int shmlog__levels_configure(const struct shmlog_config *cfg)
{
    shmlog__categories_setup();
    uint32_t had = shmlog__g.category_count;
    int default_level = shmlog__g.default_level;
    uint8_t live[SHMLOG_MAX_CATEGORIES];
    memcpy(live, shmlog__g.live, sizeof live);
    int err = shmlog__levels_configure_from(cfg);
    if (err) {
        memset(shmlog__g.category_names[had], 0, (SHMLOG_MAX_CATEGORIES - had) * SHMLOG_CATEGORY_NAME_BYTES);
        shmlog__g.category_count = had;
        shmlog__g.default_level = default_level;
        memcpy(shmlog__g.live, live, sizeof live);
    }
    return err;
}

static int shmlog__check_config(const struct shmlog_config *cfg, uint64_t *records)
{
    size_t rb = cfg->ring_bytes;
    if (rb == 0 || (rb & (rb - 1)) || rb / SHMLOG_RECORD_BYTES < SHMLOG_RING_MIN_RECORDS ||
        rb / SHMLOG_RECORD_BYTES > SHMLOG_RING_MAX_RECORDS)
        return -EINVAL;
    if (cfg->policy < SHMLOG_DROP || cfg->policy > SHMLOG_SPIN)
        return -EINVAL;
    if (cfg->level < SHMLOG_LEVEL_TRACE || cfg->level > SHMLOG_LEVEL_OFF)
        return -EINVAL;
    if (cfg->meta_bytes < 64 * 1024 || cfg->meta_bytes > (64u << 20))
        return -EINVAL;
    if (cfg->backtrace_level < SHMLOG_LEVEL_TRACE || cfg->backtrace_level > SHMLOG_LEVEL_OFF ||
        cfg->backtrace_trigger < SHMLOG_LEVEL_TRACE || cfg->backtrace_trigger > SHMLOG_LEVEL_OFF ||
        cfg->backtrace_records > (1u << 20))
        return -EINVAL;
    *records = rb / SHMLOG_RECORD_BYTES;
    return 0;
}

/* The argument bytes a record of this process may carry: the configured or
 * $SHMLOG_ARG_BYTES bound, kept within what every call's fixed arguments
 * take and what a record of an eighth of a ring holds, so one long record
 * never takes the room of many short ones. */
static size_t shmlog__arg_bound(const struct shmlog_config *cfg, uint64_t ring_records)
{
    size_t want = cfg->arg_bytes ? cfg->arg_bytes : SHMLOG_DEFAULT_ARG_BYTES;
    const char *env = getenv("SHMLOG_ARG_BYTES");
    if (env && *env) {
        char *end;
        unsigned long v = strtoul(env, &end, 10);
        if (*end || !v)
            fprintf(stderr, "shmlog: SHMLOG_ARG_BYTES=%s is not a byte count; using %zu\n", env, want);
        else
            want = v;
    }
    uint64_t slots = ring_records >> SHMLOG_RING_SHARE_SHIFT;
    const size_t most = shmlog_payload_capacity(SHMLOG__CAST(unsigned, slots < SHMLOG_MAX_SLOTS ? slots : SHMLOG_MAX_SLOTS));
    const size_t least = SHMLOG_MAX_ARGS * 8u;
    return want < least ? least : want > most ? most : want;
}

int shmlog_init(const struct shmlog_config *cfg)
{
    struct shmlog_config defaults;
    if (!cfg) {
        shmlog_config_init(&defaults);
        cfg = &defaults;
    }
    int chose_huge = 0; /* here, as C++ forbids jumping past it */
    shmlog__lock_take();
    int err = shmlog__g.initialized ? -EALREADY : shmlog__check_config(cfg, &shmlog__g.ring_records);
    if (err)
        goto out;
    shmlog__g.cfg = *cfg;
    shmlog__g.cfg.app = NULL;
    shmlog__g.cfg.dir = NULL;
    shmlog__g.cfg.categories = NULL;
    shmlog__g.cfg.levels = NULL;
    err = shmlog__levels_configure(cfg);
    if (err)
        goto out;
    shmlog__sanitize_name(cfg->app ? cfg->app : program_invocation_short_name, shmlog__g.app, SHMLOG_APP_BYTES - 15);
    shmlog__random(shmlog__g.instance, sizeof shmlog__g.instance);
    err = shmlog__resolve_dir(cfg->dir, shmlog__g.dir, sizeof shmlog__g.dir, &shmlog__g.huge, cfg->group);
    if (err)
        goto out;
    if (!shmlog__g.huge && cfg->require_hugepages) {
        err = -ENOTSUP;
        fprintf(stderr, "shmlog: %s is not on a 2 MiB hugetlbfs and hugepages are required\n", shmlog__g.dir);
        goto out;
    }
    shmlog__g.ring_bytes = shmlog__seg_round(SHMLOG_RING_HEADER_BYTES + cfg->ring_bytes, shmlog__g.huge);
    shmlog__store_relaxed(&shmlog__payload_bound, shmlog__arg_bound(cfg, shmlog__g.ring_records));
    /* where init falls back to, a ring made later may go too */
    snprintf(shmlog__g.ring_fallback, sizeof shmlog__g.ring_fallback, "%s",
             shmlog__g.huge && !cfg->require_hugepages && !(cfg->dir && *cfg->dir) && !getenv("SHMLOG_DIR")
                 ? SHMLOG__FALLBACK_DIR : "");
    shmlog__g.ring_fallback_resolved = 0;
    chose_huge = shmlog__g.huge;
    err = shmlog__open_segments_or_fall_back();
    if (err) {
        shmlog__unmap_all(1);
        goto out;
    }
    if (!chose_huge && !cfg->quiet) /* a fallback from hugetlbfs said so already */
        fprintf(stderr, "shmlog: warning: %s is not on hugetlbfs; rings use 4 KiB pages "
                        "(reserve hugepages: echo 512 > /proc/sys/vm/nr_hugepages)\n", shmlog__g.dir);
    if (!shmlog__g.atfork_registered) {
        pthread_atfork(shmlog__atfork_prepare, shmlog__atfork_parent, shmlog__atfork_child);
        atexit(shmlog__at_exit);
        shmlog__g.atfork_registered = 1;
    }
    shmlog__g.initialized = 1;
out:
    shmlog__lock_give();
    if (err == -ENOMEM && cfg->require_hugepages)
        fprintf(stderr, "shmlog: no free hugepages in %s and hugepages are required\n", shmlog__g.dir);
    return err;
}

/* The name this thread last gave the table, and under which tid (a forked
 * child's thread has the parent's copy under another tid). */
static __thread char shmlog__thread_named[SHMLOG_THREAD_NAME_BYTES + 1];
static __thread uint32_t shmlog__thread_named_tid;

/* Adds a THREAD entry: thread tid is name from now on. Called with the lock
 * held. Threads take at most a quarter of the table, so that a program that
 * starts threads all day never leaves its call sites without a slot. */
static int shmlog__thread_add(uint32_t tid, const char *name, size_t len)
{
    if (!shmlog__g.initialized)
        return -ENODEV;
    if (shmlog__g.thread_entries >= shmlog__g.site_capacity / 4 || shmlog__g.site_count >= shmlog__g.site_capacity ||
        shmlog__g.strings_used + len + 1 > shmlog__g.strings_bytes)
        return -ENOSPC;
    struct shmlog_site s;
    memset(&s, 0, sizeof s);
    s.fmt_offset = shmlog__append_string(name, SHMLOG__CAST(uint32_t, len));
    s.fmt_len = SHMLOG__CAST(uint32_t, len);
    s.file_offset = s.fmt_offset + s.fmt_len; /* the name's NUL: an empty file name */
    s.line = tid;
    s.flags = SHMLOG_SITE_THREAD;
    shmlog__site_publish(&s);
    shmlog__g.thread_entries++;
    return 0;
}

int shmlog_thread_name(const char *name)
{
    if (!name || !*name)
        return -EINVAL;
    char clean[SHMLOG_THREAD_NAME_BYTES + 1];
    size_t len = shmlog_thread_name_clean(name, strlen(name), clean);
    uint32_t tid = shmlog__tid_slow();
    if (tid == shmlog__thread_named_tid && strcmp(clean, shmlog__thread_named) == 0)
        return 0; /* named so already: no second entry */
    shmlog__lock_take();
    int err = shmlog__thread_add(tid, clean, len);
    shmlog__lock_give();
    if (!err) {
        memcpy(shmlog__thread_named, clean, len + 1);
        shmlog__thread_named_tid = tid;
    }
    return err;
}

static int shmlog__thread_ring(void);

int shmlog_thread_init(void)
{
    int err = shmlog__thread_ring();
    char name[SHMLOG_THREAD_NAME_BYTES + 1];
    if (err != -ENODEV && pthread_getname_np(pthread_self(), name, sizeof name) == 0 && name[0])
        shmlog_thread_name(name);
    return err;
}

int shmlog__thread_init_named(const char *name)
{
    int err = shmlog__thread_ring();
    int named = shmlog_thread_name(name);
    return err ? err : named;
}

#ifdef SHMLOG__RSEQ_RESERVE
/* The kernel reads a restartable sequence's descriptor, and the signature before its abort handler,
 * only when it aborts one; the process itself never reads those pages, so the first abort (a
 * preemption in the middle of a call) would take a page fault on the hot path. Weak: a program
 * whose calls all sit in another module has neither section here. */
extern const char __start___rseq_cs[] __attribute__((weak, visibility("hidden")));
extern const char __stop___rseq_cs[] __attribute__((weak, visibility("hidden")));
extern const char __start___rseq_failure[] __attribute__((weak, visibility("hidden")));
extern const char __stop___rseq_failure[] __attribute__((weak, visibility("hidden")));

static void shmlog__touch_pages(const char *from, const char *to)
{
    if (!from || !to)
        return;
    const uintptr_t begin = SHMLOG__REINTERPRET(uintptr_t, from), end = SHMLOG__REINTERPRET(uintptr_t, to);
    /* 4 KiB steps touch every page of any larger page size too */
    for (uintptr_t at = begin; at < end; at += 4096)
        (void)*SHMLOG__REINTERPRET(const volatile char *, at);
    if (end > begin)
        (void)*SHMLOG__REINTERPRET(const volatile char *, end - 1);
}
#endif

static int shmlog__thread_ring(void)
{
#ifdef SHMLOG__RSEQ_RESERVE
    shmlog__touch_pages(__start___rseq_cs, __stop___rseq_cs);
    shmlog__touch_pages(__start___rseq_failure, __stop___rseq_failure);
#endif
    shmlog__tid_slow();
    unsigned cpu = shmlog__cpu();
    if (cpu == SHMLOG__NO_CPU) /* no rseq registration: its records are dropped */
        return -ENOTSUP;
    if (shmlog__load_acquire(&shmlog__rings[cpu].hdr))
        return shmlog__rings[cpu].hdr == &shmlog__null_ring ? -ENOMEM : 0;
    shmlog__lock_take();
    int err = shmlog__g.initialized ? shmlog__ring_create(cpu) : -ENODEV;
    shmlog__lock_give();
    return err;
}

void shmlog_shutdown(void)
{
    shmlog_flush_suppressed();
    shmlog__lock_take();
    (void)shmlog__segments_again(1); /* a child's last chance to file what it could not write */
    if (shmlog__g.initialized) {
        shmlog__store_release(&shmlog__levels, SHMLOG__CAST(const uint16_t *, shmlog__levels_off));
        __atomic_fetch_or(&shmlog__g.meta->hdr.flags, SHMLOG_SEG_CLOSED, __ATOMIC_RELEASE);
        /* Threads still inside a log call hold ring pointers: let them finish
         * before the mappings go. A call is far shorter than this. */
        struct timespec grace = {0, 10 * 1000 * 1000};
        nanosleep(&grace, NULL);
        shmlog__unmap_all(0);
        shmlog__g.initialized = 0;
    }
    shmlog__lock_give();
}

void shmlog_set_level(int level)
{
    if (level < SHMLOG_LEVEL_TRACE || level > SHMLOG_LEVEL_OFF)
        return;
    shmlog__lock_take();
    shmlog__categories_setup();
    shmlog__g.default_level = level;
    shmlog__g.cfg.level = level;
    if (shmlog__g.meta)
        shmlog__store_relaxed(&shmlog__g.meta->level, SHMLOG__CAST(uint32_t, level));
    for (uint32_t i = 0; i < SHMLOG_MAX_CATEGORIES; i++) {
        shmlog__g.live[i] = SHMLOG__CAST(uint8_t, level);
        shmlog__level_publish(i);
    }
    shmlog__lock_give();
}

int shmlog_get_level(void)
{
    return shmlog_get_category_level(SHMLOG_CAT_NONE);
}

int shmlog_set_category_level(int category, int level)
{
    if (level < SHMLOG_LEVEL_TRACE || level > SHMLOG_LEVEL_OFF || category < 0)
        return -EINVAL;
    shmlog__lock_take();
    shmlog__categories_setup();
    int err = SHMLOG__CAST(uint32_t, category) < shmlog__g.category_count ? 0 : -EINVAL;
    if (!err) {
        shmlog__g.live[category] = SHMLOG__CAST(uint8_t, level);
        shmlog__level_publish(SHMLOG__CAST(unsigned, category));
    }
    shmlog__lock_give();
    return err;
}

int shmlog_get_category_level(int category)
{
    if (category < 0 || category >= SHMLOG__CAST(int, SHMLOG_MAX_CATEGORIES))
        return -EINVAL;
    shmlog__lock_take();
    shmlog__categories_setup();
    int level = SHMLOG__CAST(uint32_t, category) >= shmlog__g.category_count ? -EINVAL
                : shmlog__g.meta ? shmlog__load_relaxed(&shmlog__g.meta->levels[category]) >> 8
                                 : SHMLOG__CAST(int, shmlog__g.live[category]);
    shmlog__lock_give();
    return level;
}

int shmlog_category(const char *name)
{
    if (!name)
        return -EINVAL;
    shmlog__lock_take();
    int id = shmlog__category_define(name, strlen(name));
    shmlog__lock_give();
    return id;
}

int shmlog_backtrace_flush(void)
{
    /* Acquire, as shmlog_dropped: a shutdown may unmap it. */
    struct shmlog_meta *m = shmlog__load_acquire(&shmlog__g.meta);
    if (!m)
        return -EINVAL;
    if (shmlog__g.cfg.backtrace_level >= SHMLOG_LEVEL_OFF)
        return -ENOENT;
    shmlog__add_relaxed(&m->backtrace_requests, 1);
    return 0;
}

uint64_t shmlog_dropped(void)
{
    uint64_t sum = shmlog__load_relaxed(&shmlog__null_ring.dropped);
    unsigned end = shmlog__load_acquire(&shmlog__rings_end);
    for (unsigned cpu = 0; cpu < end; cpu++) {
        struct shmlog_ring *r = shmlog__load_acquire(&shmlog__rings[cpu].hdr);
        if (r && r != &shmlog__null_ring)
            sum += shmlog__load_relaxed(&r->dropped);
    }
    /* Acquire, as shmlog__drop_no_ring reads it: a shutdown may unmap it. */
    const struct shmlog_meta *m = shmlog__load_acquire(&shmlog__g.meta);
    if (m)
        sum += shmlog__load_relaxed(&m->unregistered) + shmlog__load_relaxed(&m->no_ring);
    return sum;
}

const char *shmlog_dir(void)
{
    return shmlog__g.initialized ? shmlog__g.dir : NULL;
}

/* ==== Trace context ==== */

/* The context this thread last wrote, and under which tid (a forked child's
 * thread has the parent's copy under another tid: it writes its own). */
static __thread struct shmlog_trace shmlog__trace_now;
static __thread uint32_t shmlog__trace_tid;
static uint64_t shmlog__trace_site;

static int shmlog__trace_write(uint64_t hi, uint64_t lo, const char *span)
{
    static const uint8_t types[3] = {SHMLOG_ARG_U64, SHMLOG_ARG_U64, SHMLOG_ARG_STR};
    size_t len = span ? strnlen(span, SHMLOG_TRACE_SPAN_BYTES) : 0;
    uint32_t tid = shmlog__tid ? shmlog__tid : shmlog__tid_slow();
    if (tid != shmlog__trace_tid) /* none yet in this thread (or this process) */
        memset(&shmlog__trace_now, 0, sizeof shmlog__trace_now);
    if (!hi && !lo && !shmlog__trace_now.hi && !shmlog__trace_now.lo)
        return 0; /* nothing to clear */
    if (hi == shmlog__trace_now.hi && lo == shmlog__trace_now.lo && strlen(shmlog__trace_now.span) == len &&
        memcmp(shmlog__trace_now.span, span ? span : "", len) == 0)
        return 0;
    uint64_t site = shmlog__load_acquire(&shmlog__trace_site);
    if (shmlog__site_unregistered(site))
        site = shmlog__register_site(&shmlog__trace_site, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, "shmlog", 1,
                                     "shmlog_trace_set", SHMLOG_TRACE_FORMAT, NULL, 3, types);
    if (!SHMLOG__CAST(uint32_t, site))
        return -ENODEV;
    /* Written whatever the live level: the thread's records after it need it. */
    uint64_t pos;
    uint8_t *head = shmlog__begin(shmlog__rdtsc(), SHMLOG__CAST(uint32_t, site), SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE,
                                  8 + 8 + SHMLOG_STR_HEADER_BYTES + len, SHMLOG_REC_TRACE, &pos);
    if (!head)
        return -ENOSPC;
    struct shmlog__cursor c = shmlog__cursor_at(head, pos);
    shmlog__put_fixed(&c, hi, 8);
    shmlog__put_fixed(&c, lo, 8);
    shmlog__put_fixed(&c, shmlog_str_header(len, 0), SHMLOG_STR_HEADER_BYTES);
    if (len)
        shmlog__put_bytes(&c, span, len);
    shmlog__commit(head, pos);
    shmlog__trace_now.hi = hi;
    shmlog__trace_now.lo = lo;
    memcpy(shmlog__trace_now.span, span ? span : "", len);
    shmlog__trace_now.span[len] = '\0';
    shmlog__trace_tid = tid;
    return 0;
}

int shmlog_trace_set(uint64_t id_hi, uint64_t id_lo, const char *span)
{
    return id_hi || id_lo ? shmlog__trace_write(id_hi, id_lo, span) : -EINVAL;
}

int shmlog_trace_clear(void)
{
    return shmlog__trace_write(0, 0, NULL);
}

void shmlog_trace_get(struct shmlog_trace *out)
{
    if (shmlog__trace_tid && shmlog__trace_tid == (shmlog__tid ? shmlog__tid : shmlog__tid_slow()))
        *out = shmlog__trace_now;
    else
        memset(out, 0, sizeof *out);
}

int shmlog_trace_restore(const struct shmlog_trace *t)
{
    return shmlog__trace_write(t->hi, t->lo, t->span);
}

#ifdef __cplusplus
}
#endif
