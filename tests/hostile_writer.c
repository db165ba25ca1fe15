/* Description: the hostile producer of tests/test_hostile_producer.c: a real shmlog producer (the
 * library makes its segments, registers real sites and writes real records) that maps its own meta and
 * ring segments a second time and scribbles seeded random bytes over them while it keeps logging:
 * header fields, process info, the call-site table, string offsets and lengths, the string arena
 * (hostile formats), head/tail/drop counters, record commit words, slot counts, flags and continuation
 * words. At the end it can shrink its segment files under every reader's mapping.
 *
 *   hostile-writer --seed S [--attack-ms MS] [--headers-first] [--truncate]
 *
 * --headers-first: before "ready", break one validated header field of every segment (so a collector
 * started afterwards must refuse them). Prints "ready", "attacks <n>" after the attack phase (and
 * "truncated" with --truncate), then waits for stdin to close and exits without touching its
 * segments again. Segments come from $SHMLOG_DIR. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shmlog.h"

#define MAX_SEGS 64

struct mapped {
    char path[4096];
    uint8_t *addr;
    size_t bytes;
    int ring;
};

static struct mapped segs[MAX_SEGS];
static int nsegs;
static uint64_t rng;
static volatile int stop_logging;

static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ull;
}

static uint64_t rnd_below(uint64_t n) { return n ? rnd() % n : 0; }

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Records of several shapes: small, typed, long strings over continuation slots. */
static void log_some(unsigned k)
{
    static const char *volatile text =
        "a string long enough to need continuation slots: 0123456789abcdefghijklmnopqrstuvwxyz"
        "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz";
    SHMLOG_INFO("k=%u px=%f name=%s", k, k * 0.5, "abc");
    SHMLOG_WARN("qty=%d side=%c id=%lu", (int)k, 'B', (unsigned long)k * 7);
    SHMLOG_ORDER(ERROR, "order=%lu text=%s", (unsigned long)k, text);
    SHMLOG_MD(DEBUG, "bid=%f ask=%f n=%hd", 1.25, 1.5, (short)k);
}

static void *logger(void *arg)
{
    (void)arg;
    shmlog_thread_init();
    for (unsigned k = 0; !stop_logging; k++) {
        log_some(k);
        if (k % 16 == 15) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

static void map_own_segments(void)
{
    const char *dir = shmlog_dir();
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "hostile-%d", (int)getpid());
    DIR *d = opendir(dir);
    if (!d) {
        perror("hostile-writer: opendir");
        exit(1);
    }
    struct dirent *de;
    while ((de = readdir(d)) && nsegs < MAX_SEGS) {
        size_t pl = strlen(prefix);
        if (strncmp(de->d_name, prefix, pl) != 0 || (de->d_name[pl] != '.' && de->d_name[pl] != '-'))
            continue;
        struct mapped *m = &segs[nsegs];
        snprintf(m->path, sizeof(m->path), "%s/%s", dir, de->d_name);
        int fd = open(m->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            perror(m->path);
            exit(1);
        }
        m->bytes = (size_t)st.st_size;
        m->addr = mmap(NULL, m->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (m->addr == MAP_FAILED) {
            perror("hostile-writer: mmap");
            exit(1);
        }
        m->ring = strstr(de->d_name, ".ring") != NULL;
        nsegs++;
    }
    closedir(d);
    if (nsegs < 2) {
        fprintf(stderr, "hostile-writer: found %d segments of my own\n", nsegs);
        exit(1);
    }
}

/* A value a careless or malicious writer might put there. */
static uint64_t nasty(uint64_t near)
{
    switch (rnd_below(10)) {
    case 0: return 0;
    case 1: return UINT64_MAX;
    case 2: return 1ull << 63;
    case 3: return 0x7fffffffffffffffull;
    case 4: return near + rnd_below(64);
    case 5: return near - rnd_below(64);
    case 6: return near + (1ull << (rnd_below(40) + 10));
    case 7: return rnd_below(256);
    case 8: return 0xffffffffull - rnd_below(4);
    default: return rnd();
    }
}

static void poke(uint8_t *base, size_t bytes, size_t off, uint64_t v, unsigned width)
{
    if (off + width <= bytes)
        memcpy(base + off, &v, width); /* little-endian: the low bytes */
}

static const char *const hostile_formats[] = {
    "%n%n%n%n", "%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s", "%999999999d%999999999f", "%*.*f %hhn %lln %p",
    "%1$s %2$n %99$d", "%", "%%%", "%.4096s%.4096s", "\x1b[31mred\x1b[0m %d\n\r\t",
};

static void attack_meta(struct mapped *m)
{
    struct shmlog_meta *meta = (struct shmlog_meta *)m->addr;
    uint32_t cap = meta->site_capacity, count = meta->site_count;
    uint32_t sites = meta->sites_offset, str_off = meta->strings_offset, str_bytes = meta->strings_bytes;
    switch (rnd_below(6)) {
    case 0: /* a header field */
        poke(m->addr, m->bytes, rnd_below(128) & ~3ull, nasty(0), rnd_below(2) ? 4 : 8);
        break;
    case 1: { /* process info: calibration, geometry, level, names */
        static const size_t offs[] = {
            offsetof(struct shmlog_meta, tsc_hz), offsetof(struct shmlog_meta, anchor_tsc),
            offsetof(struct shmlog_meta, anchor_ns), offsetof(struct shmlog_meta, site_capacity),
            offsetof(struct shmlog_meta, site_count), offsetof(struct shmlog_meta, sites_offset),
            offsetof(struct shmlog_meta, strings_offset), offsetof(struct shmlog_meta, strings_bytes),
            offsetof(struct shmlog_meta, level), offsetof(struct shmlog_meta, unregistered),
            offsetof(struct shmlog_meta, app), offsetof(struct shmlog_meta, host)};
        size_t off = offs[rnd_below(sizeof(offs) / sizeof(offs[0]))];
        uint64_t near = off == offsetof(struct shmlog_meta, site_count) ? count : m->bytes;
        poke(m->addr, m->bytes, off, nasty(near), off >= offsetof(struct shmlog_meta, site_capacity) &&
                                                          off < offsetof(struct shmlog_meta, unregistered) ? 4 : 8);
        break;
    }
    case 2:
    case 3: { /* a published call site */
        if (!count || cap > m->bytes / SHMLOG_SITE_BYTES || sites >= m->bytes)
            break;
        uint32_t id = (uint32_t)rnd_below(count < cap ? count : cap);
        size_t site = sites + (size_t)id * SHMLOG_SITE_BYTES;
        static const size_t offs[] = {
            offsetof(struct shmlog_site, fmt_offset), offsetof(struct shmlog_site, fmt_len),
            offsetof(struct shmlog_site, file_offset), offsetof(struct shmlog_site, file_len),
            offsetof(struct shmlog_site, line), offsetof(struct shmlog_site, level),
            offsetof(struct shmlog_site, nargs), offsetof(struct shmlog_site, arg_types),
            offsetof(struct shmlog_site, flags), offsetof(struct shmlog_site, func_offset),
            offsetof(struct shmlog_site, func_len), offsetof(struct shmlog_site, desc_offset),
            offsetof(struct shmlog_site, desc_len)};
        size_t off = offs[rnd_below(sizeof(offs) / sizeof(offs[0]))];
        if (off >= offsetof(struct shmlog_site, level) && off < offsetof(struct shmlog_site, func_offset))
            poke(m->addr, m->bytes, site + off + rnd_below(off == offsetof(struct shmlog_site, arg_types) ? 16 : 4),
                 rnd_below(4) ? rnd_below(20) : rnd(), 1);
        else
            poke(m->addr, m->bytes, site + off, nasty(off % 8 ? 64 : str_off), 4);
        break;
    }
    case 4: { /* the format of a site, rewritten in place */
        if (!count || sites >= m->bytes)
            break;
        uint32_t id = (uint32_t)rnd_below(count < cap ? count : cap);
        struct shmlog_site s;
        if (sites + (size_t)(id + 1) * SHMLOG_SITE_BYTES > m->bytes)
            break;
        memcpy(&s, m->addr + sites + (size_t)id * SHMLOG_SITE_BYTES, sizeof(s));
        const char *f = hostile_formats[rnd_below(sizeof(hostile_formats) / sizeof(hostile_formats[0]))];
        if ((uint64_t)s.fmt_offset + s.fmt_len <= m->bytes) {
            size_t n = strlen(f) < s.fmt_len ? strlen(f) : s.fmt_len;
            memcpy(m->addr + s.fmt_offset, f, n);
            if (rnd_below(4) == 0 && s.fmt_offset + s.fmt_len < m->bytes)
                m->addr[s.fmt_offset + s.fmt_len] = 'X'; /* no terminating NUL */
        }
        break;
    }
    default: /* random bytes in the string arena */
        if ((uint64_t)str_off + str_bytes <= m->bytes && str_bytes)
            for (unsigned k = 0, n = 1 + (unsigned)rnd_below(16); k < n; k++)
                m->addr[str_off + rnd_below(str_bytes)] = (uint8_t)rnd();
        break;
    }
}

static void attack_ring(struct mapped *m)
{
    struct shmlog_ring *r = (struct shmlog_ring *)m->addr;
    uint64_t cap = (m->bytes - SHMLOG_RING_HEADER_BYTES) / SHMLOG_RECORD_BYTES;
    uint64_t head = r->head;
    uint8_t *slots = m->addr + SHMLOG_RING_HEADER_BYTES;
    switch (rnd_below(8)) {
    case 0: { /* the counters */
        static const size_t offs[] = {offsetof(struct shmlog_ring, head), offsetof(struct shmlog_ring, tail),
                                      offsetof(struct shmlog_ring, tail_cache), offsetof(struct shmlog_ring, dropped),
                                      offsetof(struct shmlog_ring, collector_pid), offsetof(struct shmlog_ring, lost)};
        poke(m->addr, m->bytes, offs[rnd_below(sizeof(offs) / sizeof(offs[0]))], nasty(head), 8);
        break;
    }
    case 1: /* the header and ring description */
        poke(m->addr, m->bytes, rnd_below(256) & ~3ull, nasty(cap), rnd_below(2) ? 4 : 8);
        break;
    case 2:
    case 3: { /* a record head near the reader: looks committed, is not sane */
        uint64_t pos = head - rnd_below(cap < 64 ? cap : 64);
        uint8_t *slot = slots + (pos % cap) * SHMLOG_RECORD_BYTES;
        struct shmlog_record rec;
        memcpy(&rec, slot, sizeof(rec));
        switch (rnd_below(6)) {
        case 0: rec.nslots = (uint8_t)rnd(); break;
        case 1: rec.flags = (uint8_t)rnd(); break;
        case 2: rec.level = (uint8_t)rnd(); rec.category = (uint8_t)rnd(); break;
        case 3: rec.site = (uint32_t)nasty(4); break;
        case 4: rec.nslots = (uint8_t)(2 + rnd_below(7)); break;
        default: for (unsigned k = 0; k < sizeof(rec.payload); k++) rec.payload[k] = (uint8_t)rnd(); break;
        }
        rec.commit = pos + 1;
        memcpy(slot + 8, (uint8_t *)&rec + 8, sizeof(rec) - 8);
        __atomic_store_n((uint64_t *)slot, rec.commit, __ATOMIC_RELEASE);
        break;
    }
    case 4: { /* commit words: continuation marks, stale laps, wild values */
        uint64_t pos = head + rnd_below(16) - 8;
        uint64_t v = rnd_below(3) == 0 ? (pos + 1) | SHMLOG_COMMIT_CONT : rnd_below(2) ? pos + 1 - cap : nasty(pos);
        __atomic_store_n((uint64_t *)(slots + (pos % cap) * SHMLOG_RECORD_BYTES), v, __ATOMIC_RELEASE);
        break;
    }
    case 5: { /* a continuation slot of a committed record */
        uint64_t pos = head - rnd_below(cap < 64 ? cap : 64);
        uint8_t *slot = slots + ((pos + 1) % cap) * SHMLOG_RECORD_BYTES;
        uint64_t v = rnd_below(2) ? nasty(pos) : (pos + 3) | SHMLOG_COMMIT_CONT;
        memcpy(slot, &v, sizeof(v));
        break;
    }
    case 6: { /* a pad record that does not end at the ring end */
        uint64_t pos = head;
        uint8_t *slot = slots + (pos % cap) * SHMLOG_RECORD_BYTES;
        struct shmlog_record rec;
        memset(&rec, 0, sizeof(rec));
        rec.flags = SHMLOG_REC_PAD;
        rec.nslots = (uint8_t)rnd();
        memcpy(slot + 8, (uint8_t *)&rec + 8, sizeof(rec) - 8);
        __atomic_store_n((uint64_t *)slot, pos + 1, __ATOMIC_RELEASE);
        __atomic_store_n(&r->head, pos + 1 + rnd_below(8), __ATOMIC_RELEASE);
        break;
    }
    default: { /* a spray of random bytes over some slots */
        size_t off = rnd_below(cap * SHMLOG_RECORD_BYTES), n = 1 + rnd_below(256);
        for (size_t k = 0; k < n && off + k < cap * SHMLOG_RECORD_BYTES; k++)
            slots[off + k] = (uint8_t)rnd();
        break;
    }
    }
}

/* One validated header field, set to a wrong value: every reader must refuse the segment. */
static void break_header(struct mapped *m)
{
    struct shmlog_seg_header *h = (struct shmlog_seg_header *)m->addr;
    switch (rnd_below(7)) {
    case 0: h->magic ^= 1ull << rnd_below(64); break;
    case 1: h->abi_version += 1 + (uint32_t)rnd_below(1000); break;
    case 2: h->header_bytes = (uint32_t)nasty(4096) | 1; break;
    case 3: h->kind = h->kind == SHMLOG_SEG_META ? SHMLOG_SEG_RING : SHMLOG_SEG_META; break;
    case 4: h->segment_bytes += 4096 * (1 + rnd_below(100)); break;
    case 5: h->format_word ^= 1ull << rnd_below(64); break;
    default: h->pid ^= 1u << rnd_below(20); break;
    }
}

int main(int argc, char **argv)
{
    uint64_t seed = 1, attack_ms = 1000;
    int headers_first = 0, truncate_at_end = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--attack-ms") && i + 1 < argc) attack_ms = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--headers-first")) headers_first = 1;
        else if (!strcmp(argv[i], "--truncate")) truncate_at_end = 1;
        else { fprintf(stderr, "hostile-writer: bad argument %s\n", argv[i]); return 2; }
    }
    rng = seed ? seed : 1;
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "hostile";
    cfg.quiet = 1;
    cfg.all_cpus = 1;
    cfg.ring_bytes = 64 << 10;
    cfg.meta_bytes = 64 << 10;
    /* Every site is registered below, before the scribbling starts: the
     * library's registration path writes at offsets it reads back from the
     * meta segment, so registering into a scribbled one crashes this process
     * (a producer bug, reported; the readers are what this program tests). */
    cfg.level = SHMLOG_LEVEL_TRACE;
    int rc = shmlog_init(&cfg);
    if (rc < 0) {
        fprintf(stderr, "hostile-writer: shmlog_init: %s\n", strerror(-rc));
        return 1;
    }
    for (unsigned k = 0; k < 64; k++)
        log_some(k);
    map_own_segments();
    if (headers_first)
        for (int s = 0; s < nsegs; s++)
            break_header(&segs[s]);
    printf("ready\n");
    fflush(stdout);

    pthread_t tid;
    pthread_create(&tid, NULL, logger, NULL);
    uint64_t attacks = 0, end = now_ms() + attack_ms;
    while (now_ms() < end) {
        struct mapped *m = &segs[rnd_below((uint64_t)nsegs)];
        if (m->ring)
            attack_ring(m);
        else
            attack_meta(m);
        attacks++;
        struct timespec ts = {0, (long)rnd_below(300000)};
        nanosleep(&ts, NULL);
    }
    stop_logging = 1;
    pthread_join(tid, NULL);
    printf("attacks %llu\n", (unsigned long long)attacks);
    fflush(stdout);

    if (truncate_at_end) {
        /* Our own mappings (the library's and ours) are not touched again. */
        for (int s = 0; s < nsegs; s++) {
            static const off_t sizes[] = {0, 64, 4096, 8192, 65536};
            off_t to = sizes[rnd_below(sizeof(sizes) / sizeof(sizes[0]))];
            if ((size_t)to < segs[s].bytes && truncate(segs[s].path, to) != 0)
                perror(segs[s].path);
        }
        printf("truncated\n");
        fflush(stdout);
    }
    char buf[64];
    while (read(0, buf, sizeof(buf)) > 0)
        ;
    _exit(0); /* no shmlog_shutdown(): it would write to segments we broke */
}
