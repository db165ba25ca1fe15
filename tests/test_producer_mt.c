/* Description: many producer threads moved between cpus lose, duplicate or reorder nothing; string arguments of every length encode exactly. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reader.h"
#include "shmlog.h"
#include "test_util.h"

/* Built twice: as a Criterion suite, and (SHMLOG_TEST_PLAIN_MAIN) as a plain
 * program for the ThreadSanitizer build, where Criterion's runner does not
 * work. Threads never assert: they record the first error, the test thread
 * checks it after joining. */
#ifdef SHMLOG_TEST_PLAIN_MAIN
#define MT_ASSERT(cond, ...)                                                    \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: assertion failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                       \
            fprintf(stderr, "\n");                                              \
            exit(1);                                                            \
        }                                                                       \
    } while (0)
/* TSan runs ~10x slower: same shape, fewer records. */
#define MT_RECORDS_PER_THREAD 40000u
#else
#include <criterion/criterion.h>
#define MT_ASSERT(cond, ...) cr_assert(cond, __VA_ARGS__)
#define MT_RECORDS_PER_THREAD 200000u
#endif

#define MT_WRITERS 4
#define MT_CHUNK 5000u /* records between two self-migrations */

static char dir[TU_DIR_MAX];

static void dir_up(void)
{
    MT_ASSERT(tu_mkdtemp(dir, sizeof dir, "mt") == 0, "mkdtemp: %s", strerror(errno));
}

static void dir_down(void)
{
    shmlog_shutdown();
    tu_rmtree(dir);
}

static void producer_init(int policy, size_t ring_bytes)
{
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "mt";
    cfg.dir = dir;
    cfg.policy = policy;
    cfg.ring_bytes = ring_bytes;
    cfg.all_cpus = 1; /* every ring exists before the reader opens them */
    cfg.quiet = 1;
    int rc = shmlog_init(&cfg);
    MT_ASSERT(rc == 0, "shmlog_init: %s", strerror(-rc));
}

/* ==== What every test checks: each (writer, seq) exactly once, in order per ring ==== */

struct tally {
    int ncpus;
    uint32_t records;              /* per writer */
    uint8_t *seen;                 /* [MT_WRITERS][records] */
    int64_t last_seq[TU_MAX_RINGS][MT_WRITERS]; /* per ring: order check */
    uint64_t per_ring[TU_MAX_RINGS][MT_WRITERS];
    uint32_t tid_seen[MT_WRITERS]; /* thread id in the writer's first record read */
    int chunks_pinned;             /* writers moved themselves at MT_CHUNK boundaries */
    uint64_t total;
    unsigned errors;
    char first_error[256];
};

static void tally_error(struct tally *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tally_error(struct tally *t, const char *fmt, ...)
{
    if (t->errors++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->first_error, sizeof t->first_error, fmt, ap);
        va_end(ap);
    }
}

static void tally_init(struct tally *t, uint32_t records)
{
    memset(t, 0, sizeof *t);
    t->records = records;
    t->seen = calloc((size_t)MT_WRITERS * records, 1);
    MT_ASSERT(t->seen != NULL, "calloc");
    for (int r = 0; r < TU_MAX_RINGS; r++)
        for (int w = 0; w < MT_WRITERS; w++)
            t->last_seq[r][w] = -1;
}

/* The string a writer attaches to every 16th record: its length and bytes
 * follow from (writer, seq), so the reader can check it. */
static size_t writer_string(char *s, uint32_t w, uint32_t seq)
{
    size_t len = (seq * 13u + w) % 300u;
    for (size_t i = 0; i < len; i++)
        s[i] = (char)('A' + (w * 7 + seq + i) % 26);
    s[len] = 0;
    return len;
}

struct ring_ctx {
    struct tally *t;
    int ring;
    uint32_t cpu;
};

static int tally_record(const struct shm_copied_record *rec, const struct shm_ring_view *v, void *arg)
{
    (void)v;
    struct ring_ctx *c = arg;
    struct tally *t = c->t;
    uint32_t w = UINT32_MAX, seq = UINT32_MAX;
    if (tu_arg_u32(rec, 0, &w) || tu_arg_u32(rec, 4, &seq) || w >= MT_WRITERS || seq >= t->records) {
        tally_error(t, "record at %llu: bad writer %u / seq %u", (unsigned long long)rec->pos, w, seq);
        return 0;
    }
    uint8_t *seen = &t->seen[(size_t)w * t->records + seq];
    if (*seen)
        tally_error(t, "writer %u seq %u seen twice (again at ring %d pos %llu)", w, seq, c->ring,
                    (unsigned long long)rec->pos);
    *seen = 1;
    if ((int64_t)seq <= t->last_seq[c->ring][w])
        tally_error(t, "ring cpu%u: writer %u seq %u after seq %lld", c->cpu, w, seq,
                    (long long)t->last_seq[c->ring][w]);
    t->last_seq[c->ring][w] = seq;
    t->per_ring[c->ring][w]++;
    t->total++;
    if (!t->tid_seen[w])
        t->tid_seen[w] = rec->tid;
    else if (rec->tid != t->tid_seen[w])
        tally_error(t, "writer %u seq %u: tid %u, earlier records %u", w, seq, rec->tid, t->tid_seen[w]);
    if (t->chunks_pinned && t->ncpus > 1) {
        uint32_t want_cpu = (w + seq / MT_CHUNK) % (uint32_t)t->ncpus;
        if (c->cpu != want_cpu)
            tally_error(t, "writer %u seq %u in ring cpu%u, but it was pinned to cpu%u", w, seq, c->cpu, want_cpu);
    }
    if (seq % 16 == 15) {
        char want[512];
        size_t len = writer_string(want, w, seq), got_len = 0;
        const uint8_t *got = NULL;
        int cut = 1;
        if (tu_arg_str(rec, 8, &got, &got_len, &cut) < 0 || got_len != len || cut || memcmp(got, want, len) != 0)
            tally_error(t, "writer %u seq %u: string differs (len %zu, expected %zu)", w, seq, got_len, len);
    }
    return 0;
}

/* ==== Writers ==== */

enum migration {
    MIGRATE_NONE,
    MIGRATE_SELF,         /* move to the next cpu every MT_CHUNK records */
    MIGRATE_AWAIT,        /* moved by another thread; halfway, wait until it has been */
};

struct writer {
    uint32_t idx;
    uint32_t records;
    enum migration migration;
    int ncpus;
    pthread_t thread;
    uint32_t tid;         /* published once running */
    int error;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    __atomic_store_n(&w->tid, (uint32_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
    char s[512];
    /* Cpus this writer has certainly written on: the same cpu before and
     * after a call. */
    uint64_t cpus_written = 0;
    for (uint32_t seq = 0; seq < w->records; seq++) {
        /* On a loaded machine a writer can finish before the migrator ever
         * sends it elsewhere, or be sent back before its next call; in the
         * second half it writes only on a cpu it has not written on until
         * it has written on two. The test's timeout bounds the wait. */
        int cpu_before = sched_getcpu();
        if (w->migration == MIGRATE_AWAIT && seq >= w->records / 2 && w->ncpus > 1 &&
            __builtin_popcountll(cpus_written) < 2) {
            while ((cpu_before = sched_getcpu()) >= 0 && cpu_before < 64 &&
                   (cpus_written >> cpu_before & 1))
                sched_yield();
        }
        if (w->migration == MIGRATE_SELF && seq % MT_CHUNK == 0) {
            int rc = tu_pin_self((int)((w->idx + seq / MT_CHUNK) % (uint32_t)w->ncpus));
            if (rc == 0 && seq == 0)
                rc = shmlog_thread_init();
            if (rc) {
                w->error = rc;
                return NULL;
            }
        }
        if (seq % 16 == 15) {
            writer_string(s, w->idx, seq);
            SHMLOG_INFO("w=%u seq=%u s=%s", w->idx, seq, s);
        } else {
            SHMLOG_INFO("w=%u seq=%u", w->idx, seq);
        }
        if (cpu_before >= 0 && cpu_before < 64 && sched_getcpu() == cpu_before)
            cpus_written |= 1ull << cpu_before;
    }
    return NULL;
}

static void writers_start(struct writer *ws, uint32_t records, enum migration migration)
{
    int ncpus = tu_allowed_cpus();
    for (uint32_t i = 0; i < MT_WRITERS; i++) {
        ws[i] = (struct writer){.idx = i, .records = records, .migration = migration, .ncpus = ncpus};
        MT_ASSERT(pthread_create(&ws[i].thread, NULL, writer_main, &ws[i]) == 0, "pthread_create");
    }
}

static void writers_join(struct writer *ws)
{
    for (int i = 0; i < MT_WRITERS; i++) {
        pthread_join(ws[i].thread, NULL);
        MT_ASSERT(ws[i].error == 0, "writer %d: %s", i, strerror(-ws[i].error));
    }
}

/* After the reader is done: every (writer, seq) seen, each writer's records
 * carry its thread id, and (with several cpus) each writer was moved. */
static void tally_check(struct tally *t, const struct tu_proc *p, const struct writer *ws)
{
    MT_ASSERT(t->errors == 0, "%u errors, first: %s", t->errors, t->first_error);
    for (int w = 0; w < MT_WRITERS; w++)
        MT_ASSERT(t->tid_seen[w] == ws[w].tid, "writer %d: records name tid %u, the thread was %u", w,
                  t->tid_seen[w], ws[w].tid);
    for (uint32_t w = 0; w < MT_WRITERS; w++)
        for (uint32_t seq = 0; seq < t->records; seq++)
            MT_ASSERT(t->seen[(size_t)w * t->records + seq], "writer %u seq %u never seen", w, seq);
    MT_ASSERT(t->total == (uint64_t)MT_WRITERS * t->records, "%llu records read", (unsigned long long)t->total);
    if (t->ncpus > 1) {
        for (int w = 0; w < MT_WRITERS; w++) {
            int rings_used = 0;
            for (int r = 0; r < p->nrings; r++)
                rings_used += t->per_ring[r][w] > 0;
            MT_ASSERT(rings_used >= 2, "writer %d wrote to %d ring(s): it was never moved", w, rings_used);
        }
    }
    free(t->seen);
}

/* Moves writers between cpus at arbitrary moments, mid-record included,
 * until told to stop. */
struct migrator {
    struct writer *ws;
    int stop;
    unsigned moves;
    pthread_t thread;
};

static void *migrator_main(void *arg)
{
    struct migrator *m = arg;
    int ncpus = tu_allowed_cpus();
    unsigned seed = 12345;
    while (!__atomic_load_n(&m->stop, __ATOMIC_ACQUIRE)) {
        int w = (int)(rand_r(&seed) % MT_WRITERS);
        uint32_t tid = __atomic_load_n(&m->ws[w].tid, __ATOMIC_ACQUIRE);
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((int)(rand_r(&seed) % (unsigned)ncpus), &set);
        if (tid && sched_setaffinity((pid_t)tid, sizeof set, &set) == 0)
            m->moves++;
        struct timespec nap = {0, 50 * 1000};
        nanosleep(&nap, NULL);
    }
    return NULL;
}

/* ==== Concurrent reader: drains and releases while the writers run ==== */

struct reader {
    struct tu_proc *proc;
    struct tally *t;
    int writers_done;
    uint64_t pending_seen;
    pthread_t thread;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    uint64_t pos[TU_MAX_RINGS] = {0};
    struct ring_ctx ctx[TU_MAX_RINGS];
    for (int i = 0; i < r->proc->nrings; i++)
        ctx[i] = (struct ring_ctx){.t = r->t, .ring = i, .cpu = r->proc->ring[i].cpu};
    for (;;) {
        /* Read the flag before draining: once set, a full pass that finds every
         * ring empty has seen everything. */
        int done = __atomic_load_n(&r->writers_done, __ATOMIC_ACQUIRE);
        int all_empty = 1;
        for (int i = 0; i < r->proc->nrings; i++) {
            struct tu_drain_stats st = {0};
            int s = tu_drain(&r->proc->ring[i], &pos[i], 0, tally_record, &ctx[i], &st);
            if (st.loss_events)
                tally_error(r->t, "ring cpu%u: %llu loss events while the writers live", ctx[i].cpu,
                            (unsigned long long)st.loss_events);
            if (s == SHM_READ_PENDING)
                r->pending_seen++;
            if (s != SHM_READ_EMPTY || st.records)
                all_empty = 0;
            shm_ring_release(&r->proc->ring[i], pos[i]);
        }
        if (done && all_empty)
            return NULL;
        if (all_empty)
            sched_yield();
    }
}

/* ==== Tests ==== */

/* SPIN policy on small rings, a reader draining concurrently and a thread
 * moving the writers between cpus at random moments: nothing may be lost. */
static void stress_spin_with_reader_and_migrator(void)
{
    producer_init(SHMLOG_SPIN, 1u << 20); /* 16 Ki records per ring: many laps */
    struct tu_proc proc;
    char err[512] = "";
    MT_ASSERT(tu_proc_open(&proc, dir, "mt", (uint32_t)getpid(), 1, err, sizeof err) == 0, "%s", err);
    MT_ASSERT(proc.nrings == tu_allowed_cpus(), "%d rings for %d cpus", proc.nrings, tu_allowed_cpus());
#ifdef SHMLOG_TEST_PLAIN_MAIN
    /* ThreadSanitizer tracks acquire/release by virtual address: read through
     * the producer's own mapping, or it cannot see the reader's release of
     * tail pair with the writers' acquire, and reports every lap as a race. */
    for (int i = 0; i < proc.nrings; i++) {
        uint8_t *own = tu_writable_mapping(proc.ring_seg[i].path, proc.ring_seg[i].addr);
        MT_ASSERT(own != NULL, "the producer's mapping of %s", proc.ring_seg[i].path);
        proc.ring[i].hdr = (struct shmlog_ring *)own;
        proc.ring[i].slots = own + SHMLOG_RING_HEADER_BYTES;
    }
#endif

    static struct tally t;
    tally_init(&t, MT_RECORDS_PER_THREAD);
    t.ncpus = tu_allowed_cpus();
    struct reader rd = {.proc = &proc, .t = &t};
    MT_ASSERT(pthread_create(&rd.thread, NULL, reader_main, &rd) == 0, "pthread_create");
    struct writer ws[MT_WRITERS];
    writers_start(ws, MT_RECORDS_PER_THREAD, MIGRATE_AWAIT);
    struct migrator mg = {.ws = ws};
    MT_ASSERT(pthread_create(&mg.thread, NULL, migrator_main, &mg) == 0, "pthread_create");

    writers_join(ws);
    __atomic_store_n(&mg.stop, 1, __ATOMIC_RELEASE);
    pthread_join(mg.thread, NULL);
    __atomic_store_n(&rd.writers_done, 1, __ATOMIC_RELEASE);
    pthread_join(rd.thread, NULL);

    MT_ASSERT(mg.moves > 10, "the migrator moved writers only %u times", mg.moves);
    tally_check(&t, &proc, ws);
    uint64_t laps = 0;
    for (int i = 0; i < proc.nrings; i++) {
        MT_ASSERT(shm_ring_dropped(&proc.ring[i]) == 0, "SPIN never drops");
        laps += shm_ring_head(&proc.ring[i]) / proc.ring[i].cap;
    }
    MT_ASSERT(laps >= 4, "the rings wrapped %llu times: the test did not stress wrap-around",
              (unsigned long long)laps);
    MT_ASSERT(shmlog_dropped() == 0, "shmlog_dropped() %llu", (unsigned long long)shmlog_dropped());
    tu_proc_close(&proc);
}

/* DROP policy with rings big enough for everything; writers move themselves
 * to the other cpu every MT_CHUNK records, so each record's ring is known. */
static void stress_drop_big_rings_self_migrating(void)
{
    producer_init(SHMLOG_DROP, 64u << 20); /* 1 Mi records per ring: holds all of them */
    static struct tally t;
    tally_init(&t, MT_RECORDS_PER_THREAD);
    t.ncpus = tu_allowed_cpus();
    t.chunks_pinned = 1;
    struct writer ws[MT_WRITERS];
    writers_start(ws, MT_RECORDS_PER_THREAD, MIGRATE_SELF);
    writers_join(ws);

    struct tu_proc proc;
    char err[512] = "";
    MT_ASSERT(tu_proc_open(&proc, dir, "mt", (uint32_t)getpid(), 0, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < proc.nrings; i++) {
        struct ring_ctx ctx = {.t = &t, .ring = i, .cpu = proc.ring[i].cpu};
        struct tu_drain_stats st = {0};
        uint64_t pos = 0;
        int s = tu_drain(&proc.ring[i], &pos, 0, tally_record, &ctx, &st);
        MT_ASSERT(s == SHM_READ_EMPTY, "ring cpu%u: status %d at %llu", ctx.cpu, s, (unsigned long long)pos);
        MT_ASSERT(st.loss_events == 0, "ring cpu%u: %llu losses", ctx.cpu, (unsigned long long)st.loss_events);
        MT_ASSERT(shm_ring_dropped(&proc.ring[i]) == 0, "ring cpu%u dropped", ctx.cpu);
    }
    tally_check(&t, &proc, ws);
    tu_proc_close(&proc);
}

/* ==== String arguments of every length ==== */

static void check_one_string_record(const struct shm_ring_view *v, uint64_t *pos, const char *want, size_t len,
                                    uint32_t tag)
{
    struct shm_copied_record rec;
    struct shm_loss loss;
    uint64_t at = *pos;
    int st = shm_ring_next(v, pos, &rec, 0, &loss);
    MT_ASSERT(st == SHM_READ_RECORD, "len %zu: status %d", len, st);
    const size_t room = SHMLOG_DEFAULT_ARG_BYTES - 4 - 2; /* a u32 and the string's length word */
    size_t stored = len < room ? len : room;
    int cut_expected = len > room;
    uint32_t got_tag = 0;
    const uint8_t *bytes = NULL;
    size_t got_len = 0;
    int cut = -1;
    MT_ASSERT(tu_arg_u32(&rec, 0, &got_tag) == 0 && got_tag == tag, "len %zu: tag %u", len, got_tag);
    MT_ASSERT(tu_arg_str(&rec, 4, &bytes, &got_len, &cut) >= 0, "len %zu: string out of bounds", len);
    MT_ASSERT(got_len == stored, "len %zu: stored %zu bytes, expected %zu", len, got_len, stored);
    MT_ASSERT(memcmp(bytes, want, stored) == 0, "len %zu: bytes differ", len);
    MT_ASSERT(cut == cut_expected, "len %zu: truncation mark %d", len, cut);
    MT_ASSERT(((rec.flags & SHMLOG_REC_TRUNCATED) != 0) == cut_expected, "len %zu: record flags %#x", len,
              rec.flags);
    MT_ASSERT(rec.nslots == shmlog_slots_for_payload(4 + 2 + stored), "len %zu: %u slots", len, rec.nslots);
    MT_ASSERT(rec.pos == at || (at & v->mask) + rec.nslots > v->cap, "len %zu: record at %llu, expected %llu",
              len, (unsigned long long)rec.pos, (unsigned long long)at);
    if (cut_expected)
        MT_ASSERT(4 + 2 + got_len == SHMLOG_DEFAULT_ARG_BYTES, "a cut string fills the argument bound");
}

static void strings_of_every_length(void)
{
    producer_init(SHMLOG_DROP, 1u << 20);
    MT_ASSERT(tu_pin_self(0) == 0, "pin");
    MT_ASSERT(shmlog_thread_init() == 0, "thread_init");
    struct tu_proc proc;
    char err[512] = "";
    MT_ASSERT(tu_proc_open(&proc, dir, "mt", (uint32_t)getpid(), 1, err, sizeof err) == 0, "%s", err);
    const struct shm_ring_view *v = NULL;
    for (int i = 0; i < proc.nrings; i++)
        if (proc.ring[i].cpu == 0)
            v = &proc.ring[i];
    MT_ASSERT(v != NULL, "no ring for cpu 0");

    static char s[SHMLOG_DEFAULT_ARG_BYTES + 64];
    uint64_t pos = 0;
    for (uint32_t len = 0; len <= SHMLOG_DEFAULT_ARG_BYTES + 40; len += len < 500 ? 1 : 13) {
        for (uint32_t i = 0; i < len; i++)
            s[i] = (char)(' ' + (len + i) % 95); /* printable, never NUL */
        s[len] = 0;
        /* A canary in the slots just past where this record may end: the
         * producer must not write past its reservation. */
        uint64_t head = shm_ring_head(v);
        uint8_t *canary = (uint8_t *)v->slots + (((head + SHMLOG_MAX_SLOTS) & v->mask) << 6);
        memset(canary, 0xA5, 64);
        SHMLOG_INFO("tag=%u s=%s", len, s);
        check_one_string_record(v, &pos, s, len, len);
        for (int b = 0; b < 64; b++)
            MT_ASSERT(canary[b] == 0xA5, "len %u: byte %d past the record's slots was written", len, b);
        shm_ring_release(v, pos);
    }

    /* Two strings share the bound: whole when they fit, else the shorter one whole if it is no more than
     * half the room, the rest to the other; else half each, the first the odd byte. */
    static char s2[SHMLOG_DEFAULT_ARG_BYTES + 64];
    memset(s2, 'z', sizeof s2 - 1);
    for (uint32_t a = 0; a <= SHMLOG_DEFAULT_ARG_BYTES; a += 211) {
        for (uint32_t b = 0; b <= SHMLOG_DEFAULT_ARG_BYTES; b += 97) {
            s[a] = 0;
            memset(s, 'y', a);
            s2[b] = 0;
            SHMLOG_INFO("a=%s b=%s", s, s2);
            s2[b] = 'z';
            struct shm_copied_record rec;
            struct shm_loss loss;
            MT_ASSERT(shm_ring_next(v, &pos, &rec, 0, &loss) == SHM_READ_RECORD, "a %u b %u", a, b);
            const size_t room = SHMLOG_DEFAULT_ARG_BYTES - 2 - 2;
            size_t want_a = a, want_b = b;
            if (a + b > room) {
                want_a = a <= room / 2 ? a : b <= room / 2 ? room - b : room - room / 2;
                want_b = room - want_a;
            }
            const uint8_t *pa = NULL, *pb = NULL;
            size_t la = 0, lb = 0;
            int ca = -1, cb = -1;
            long off = tu_arg_str(&rec, 0, &pa, &la, &ca);
            MT_ASSERT(off > 0 && tu_arg_str(&rec, (size_t)off, &pb, &lb, &cb) > 0, "a %u b %u: decode", a, b);
            MT_ASSERT(la == want_a && lb == want_b, "a %u b %u: stored %zu and %zu", a, b, la, lb);
            MT_ASSERT(ca == (a > want_a) && cb == (b > want_b), "a %u b %u: marks %d %d", a, b, ca, cb);
            MT_ASSERT((la == 0 || pa[0] == 'y') && (lb == 0 || pb[lb - 1] == 'z'), "a %u b %u: bytes", a, b);
            MT_ASSERT(((rec.flags & SHMLOG_REC_TRUNCATED) != 0) == (ca || cb), "record flag");
            shm_ring_release(v, pos);
        }
    }
    MT_ASSERT(shm_ring_dropped(v) == 0, "dropped");
    tu_proc_close(&proc);
}

#ifdef SHMLOG_TEST_PLAIN_MAIN
/* One child process per test, as Criterion does: the producer is per process.
 * The parent owns the directory, so a crashed child leaves nothing behind. */
static int run(const char *name, void (*fn)(void))
{
    fflush(NULL);
    dir_up();
    pid_t pid = fork();
    if (pid == 0) {
        fn();
        dir_down();
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    tu_rmtree(dir);
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    printf("[%s] %s\n", ok ? "PASS" : "FAIL", name);
    return ok;
}

int main(void)
{
    int passed = 0, failed = 0;
    run("spin_with_reader_and_migrator", stress_spin_with_reader_and_migrator) ? passed++ : failed++;
    run("drop_big_rings_self_migrating", stress_drop_big_rings_self_migrating) ? passed++ : failed++;
    run("strings_of_every_length", strings_of_every_length) ? passed++ : failed++;
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
#else
Test(producer_mt, spin_with_reader_and_migrator, .init = dir_up, .fini = dir_down, .timeout = 60)
{
    stress_spin_with_reader_and_migrator();
}

Test(producer_mt, drop_big_rings_self_migrating, .init = dir_up, .fini = dir_down, .timeout = 60)
{
    stress_drop_big_rings_self_migrating();
}

Test(producer_mt, strings_of_every_length, .init = dir_up, .fini = dir_down, .timeout = 30)
{
    strings_of_every_length();
}

/* meson runs this suite twice: as it comes, and with glibc's rseq off
 * (GLIBC_TUNABLES=glibc.pthread.rseq=0, SHMLOG_TEST_RSEQ=0), where every
 * reservation must take the CAS of the slow path: a plain rseq store racing a
 * CAS from another cpu would lose a reservation. The inline path is closed to
 * such a process by a limit of 0 on every ring. */
Test(producer_mt, reserves_the_way_the_process_does, .init = dir_up, .fini = dir_down, .timeout = 30)
{
    const char *want = getenv("SHMLOG_TEST_RSEQ");
    int rseq = want ? atoi(want) : 1;
    cr_assert_eq(__rseq_size != 0, rseq, "glibc's rseq is %s, the test runs with SHMLOG_TEST_RSEQ=%s",
                 __rseq_size ? "on" : "off", want ? want : "(unset: 1)");
    producer_init(SHMLOG_DROP, 64 * 1024);
    cr_assert_eq(tu_pin_self(0), 0, "pin to cpu 0");
    SHMLOG_INFO("mode probe %d", rseq);
    const struct shmlog__ring_local *r = &shmlog__rings[0];
    cr_assert_not_null(r->hdr, "the ring of cpu 0 exists");
    cr_assert_eq(shmlog__load_relaxed(&r->hdr->head), 1, "the probe reserved one slot");
    uint64_t expect_limit = rseq ? 64 * 1024 / SHMLOG_RECORD_BYTES : 0; /* tail 0 + capacity */
    cr_assert_eq(r->limit, expect_limit, "limit %llu, expected %llu", (unsigned long long)r->limit,
                 (unsigned long long)expect_limit);
}
#endif
