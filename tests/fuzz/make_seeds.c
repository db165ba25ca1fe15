/*
 * Description: writes the fuzz seed corpora from real data: segments the
 * producer wrote (libshmlog_shm), the formats and payloads of its call sites,
 * and a file the collector's encoder wrote from its records.
 *
 *   make_seeds OUTDIR      (writes OUTDIR/segment, OUTDIR/format, OUTDIR/file)
 *
 * Each seed is laid out as its harness's header comment says; keep the two in
 * step. Run from the repository root to refresh the committed seeds:
 *   build/tests/fuzz/make_seeds tests/fuzz/corpus
 */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "reader.h"
#include "shlog_file.h"
#include "shmlog.h"

#define MAX_SEED (128u << 10)
#define MAX_RECS 64

static const char *out_dir;
static char seg_dir[64];

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "make_seeds: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* ==== Seed buffers ==== */

struct seed {
    uint8_t b[MAX_SEED];
    size_t n;
};

static void put(struct seed *s, const void *p, size_t n)
{
    if (s->n + n > sizeof s->b)
        die("seed too large");
    memcpy(s->b + s->n, p, n);
    s->n += n;
}

static void put_u8(struct seed *s, unsigned v)
{
    uint8_t b = (uint8_t)v;
    put(s, &b, 1);
}

static void put_le(struct seed *s, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        put_u8(s, (unsigned)(v >> (8 * i)));
}

static void put_cstr(struct seed *s, const char *str)
{
    put(s, str, strlen(str) + 1);
}

/* A string as fuzz_file's small_string() takes it: a length byte, then bytes. */
static void put_small(struct seed *s, const char *str, size_t max)
{
    size_t n = strlen(str);
    if (n > max)
        n = max;
    put_u8(s, (unsigned)n);
    put(s, str, n);
}

static void save(const char *target, const char *name, const struct seed *s)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die("%s: %s", path, strerror(errno));
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(s->b, 1, s->n, f) != s->n || fclose(f) != 0)
        die("%s: cannot write", path);
    printf("%s %zu bytes\n", path, s->n);
}

/* ==== Real segments from the producer ==== */

static void log_sample_records(void)
{
    static const char long_reason[] =
        "self-trade prevention: resting order on the opposite side from the same account, "
        "cancelled by the venue after the risk check; this reason is long enough to need "
        "several continuation slots and is cut at the payload limit so the record is marked "
        "truncated: the reader and the renderer must show it as such, with every byte escaped "
        "as needed and nothing read past the end of the payload that the producer wrote here.";
    long order_id = 7000001;
    double px = 101.25;
    float qty_f = 3.5f;
    int qty = -42;
    unsigned short venue = 7;
    signed char delta = -3;
    unsigned char flags = 0xa5;
    _Bool is_buy = 1;
    unsigned long long seq = 18446744073709551615ull;
    const char *sym = "ESZ6";

    SHMLOG_INFO("started");
    SHMLOG_ORDER(INFO, "new id=%ld sym=%s px=%.2f qty=%d buy=%d", order_id, sym, px, qty, is_buy);
    SHMLOG_TRADE(WARN, "fill id=%ld px=%10.4f qty=%g venue=%hu", order_id, px, qty_f, venue);
    SHMLOG_MD(DEBUG, "tick sym=%-8s|bid=%e ask=%a seq=%llu", sym, px - 0.25, px + 0.25, seq);
    SHMLOG_RISK(ERROR, "limit delta=%+hhd flags=%#hhx ptr=%p", delta, flags, (void *)&order_id);
    SHMLOG_PORTFOLIO(WARN, "pnl=%'.3f pos=%*d %%done c=%c", -1234.5, 6, qty, 'x');
    SHMLOG_ORDER(ERROR, "reject id=%ld reason=%s", order_id, long_reason);
    SHMLOG_FATAL("line\nbreak \"quoted\" tab\t caf\xc3\xa9 bad\xff byte");
    /* past the site entry's 16 types: the rest are in the strings (ABI 7) */
    SHMLOG_INFO("wide %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %s %hu %f %lld", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                11, 12, 13, 14, 15, 16, sym, venue, px, (long long)order_id);
}

static void copy_file(const char *path, struct seed *s, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("%s: %s", path, strerror(errno));
    s->n = fread(s->b, 1, sizeof s->b, f);
    if (!feof(f) || ferror(f))
        die("%s: larger than a seed", path);
    fclose(f);
    *size = s->n;
}

static size_t last_nonzero(const uint8_t *b, size_t from, size_t to)
{
    while (to > from && b[to - 1] == 0)
        to--;
    return to;
}

/* fuzz_segment layouts 2 (meta) and 3 (ring) from a real segment file. */
static void segment_seed(const char *path, unsigned kind, const char *name)
{
    static struct seed file, seed;
    size_t size;
    copy_file(path, &file, &size);
    seed.n = 0;
    put_u8(&seed, kind == SHMLOG_SEG_META ? 2 : 3);
    put_le(&seed, size, 4);
    if (kind == SHMLOG_SEG_META) {
        put(&seed, file.b + 128, 200);
    } else {
        put(&seed, file.b + 128, 24);
        put(&seed, file.b + 256, 32);
        put(&seed, file.b + 384, 24);
    }
    size_t end = last_nonzero(file.b, 4096, size);
    put(&seed, file.b + 4096, end - 4096);
    save("segment", name, &seed);

    if (kind == SHMLOG_SEG_META) {
        /* Layout 0: the header page alone, named for pid 4242 (rejected by
         * size checks further on: the fuzzer starts from a real header). */
        struct shmlog_seg_header h;
        memcpy(&h, file.b, sizeof h);
        h.pid = 4242;
        h.segment_bytes = 4096;
        seed.n = 0;
        put_u8(&seed, 0);
        put(&seed, &h, sizeof h);
        put(&seed, file.b + sizeof h, 4096 - sizeof h);
        save("segment", "raw-meta-header", &seed);
    }
}

/* ==== Formats: real sites and payloads ==== */

static void format_seed(const struct shm_site *site, const struct shm_copied_record *rec, const char *name)
{
    static struct seed s;
    s.n = 0;
    put_u8(&s, 0); /* hostile mode */
    put_le(&s, site->id, 4);
    put_le(&s, site->line, 4);
    put_u8(&s, site->level);
    put_u8(&s, site->category);
    put_u8(&s, site->nargs);
    put(&s, site->arg_types, SHMLOG_MAX_ARGS);
    put_u8(&s, rec->level);
    put_u8(&s, rec->category);
    put_u8(&s, rec->flags);
    put_u8(&s, rec->nslots);
    put_le(&s, rec->tid, 4);
    put_le(&s, rec->pos, 8);
    put_le(&s, (uint64_t)rec->payload_len << 1, 2);
    put_le(&s, 64, 2);                        /* small buffer */
    put_le(&s, 1763797176123456789ull, 8);    /* ts_ns */
    put_le(&s, 3, 4);                         /* cpu */
    put_le(&s, 4242, 4);                      /* pid */
    put_le(&s, rec->pos, 8);                  /* loss: first_pos, positions, records, reason */
    put_le(&s, 3, 8);
    put_le(&s, 1, 8);
    put_u8(&s, SHM_LOSS_DEAD_WRITER);
    put_cstr(&s, "seed-app");
    put_cstr(&s, "seed-host");
    put_cstr(&s, site->fmt);
    put_cstr(&s, site->file);
    put(&s, rec->payload, rec->payload_len);
    save("format", name, &s);
}

/* A site whose descriptor marks its string argument a value tree (what a C++
 * std::map<std::string, std::vector<int>> of {"a": [1, 2]} and a cut vector
 * are written as), with its function and descriptor: the tree renderer's seed. */
static void tree_seed(void)
{
    static const uint8_t tree[] = {
        SHMLOG_TREE_MAP, 1, 0, 0, 0, SHMLOG_TREE_STR, 1, 0, 0, 0, 'a',
        SHMLOG_TREE_SEQ, 2, 0, 0, 0, SHMLOG_ARG_I32, 1, 0, 0, 0, SHMLOG_ARG_I32, 2, 0, 0, 0,
        /* a tuple cut after its first element */
        SHMLOG_TREE_TUPLE, 3, 0, 0, 0, SHMLOG_TREE_SOME, SHMLOG_ARG_F64, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f};
    static struct seed s;
    s.n = 0;
    put_u8(&s, 2); /* hostile mode, with function and descriptor */
    put_le(&s, 1, 4);
    put_le(&s, 7, 4);
    put_u8(&s, SHMLOG_LEVEL_INFO);
    put_u8(&s, 0);
    put_u8(&s, 2);
    uint8_t types[SHMLOG_MAX_ARGS] = {SHMLOG_ARG_STR, SHMLOG_ARG_STR};
    put(&s, types, sizeof types);
    put_u8(&s, SHMLOG_LEVEL_INFO);
    put_u8(&s, 0);
    put_u8(&s, SHMLOG_REC_TRUNCATED);
    put_u8(&s, 2);
    put_le(&s, 4242, 4);
    put_le(&s, 1, 8);
    put_le(&s, 1, 2); /* the payload's length: what the input holds */
    put_le(&s, 64, 2);
    put_le(&s, 1763797176123456789ull, 8);
    put_le(&s, 3, 4);
    put_le(&s, 4242, 4);
    put_le(&s, 1, 8);
    put_le(&s, 3, 8);
    put_le(&s, 1, 8);
    put_u8(&s, SHM_LOSS_DEAD_WRITER);
    put_cstr(&s, "seed-app");
    put_cstr(&s, "seed-host");
    put_cstr(&s, "m=%s t=%s");
    put_cstr(&s, "tree.cpp");
    put_cstr(&s, "main");
    put_cstr(&s, "v1;v2");
    put_le(&s, 26, 2);
    put(&s, tree, 26);
    put_le(&s, (sizeof tree - 26) | SHMLOG_STR_TRUNCATED, 2);
    put(&s, tree + 26, sizeof tree - 26);
    save("format", "tree-value", &s);
}

/* printf mode: the input drives a generator, so a seed is bytes that make it
 * emit each kind of conversion (see fuzz_format.c gen_conversion). */
static void printf_seeds(void)
{
    static struct seed s;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int k = 0; k < 4; k++) {
        s.n = 0;
        put_u8(&s, 1);
        for (int op = 0; op < 12; op++) {
            put_u8(&s, (unsigned)(2 + (op + k) % 6)); /* conversions of every class, and literals */
            for (int i = 0; i < 14; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                put_u8(&s, (unsigned)(x >> 24) & 0x7f);
            }
        }
        char name[32];
        snprintf(name, sizeof name, "printf-%d", k);
        save("format", name, &s);
    }
}

/* ==== Files: the collector's encoder over the real records ==== */

struct real {
    struct shm_proc_info info;
    struct shm_site sites[16];
    int nsites;
    struct shm_copied_record recs[MAX_RECS];
    int nrecs;
};

static void file_seeds(const struct real *rd)
{
    static uint8_t frames[256 << 10];
    static struct seed file, sections, ops;
    struct shlog_enc *enc;
    if (shlog_enc_new(&enc, 1) != 0)
        die("shlog_enc_new failed");

    /* Frame 1: process, sites, one batch. Frame 2: a loss and the exit. */
    size_t len = 0;
    struct shlog_file_header h;
    memset(&h, 0, sizeof h);
    h.version = SHLOG_FILE_VERSION;
    h.file_seq = 1;
    h.created_ns = rd->info.created_ns;
    h.collector_pid = 4242;
    snprintf(h.host, sizeof h.host, "%s", rd->info.host);
    shlog_file_header_encode(frames, &h);
    len = SHLOG_FILE_HEADER_BYTES;
    size_t frame_at[2];
    if (shlog_enc_process(enc, 0, &rd->info) != 0)
        die("shlog_enc_process failed");
    for (int i = 0; i < rd->nsites; i++)
        if (shlog_enc_site(enc, 0, &rd->sites[i]) != 0)
            die("shlog_enc_site failed");
    if (shlog_enc_batch_begin(enc, 0, 3) != 0)
        die("shlog_enc_batch_begin failed");
    for (int i = 0; i < rd->nrecs; i++)
        if (shlog_enc_record(enc, &rd->recs[i]) != 0)
            die("shlog_enc_record failed");
    if (shlog_enc_batch_end(enc) != 0)
        die("shlog_enc_batch_end failed");
    frame_at[0] = len;
    long n = shlog_enc_frame(enc, frames + len, sizeof frames - len);
    if (n <= 0)
        die("shlog_enc_frame failed");
    len += (size_t)n;
    struct shm_loss loss = {1000, 4, 1, SHM_LOSS_DEAD_WRITER};
    struct shm_loss dropped = {1004, 0, 12, SHM_LOSS_DROPPED};
    if (shlog_enc_loss(enc, 0, 3, &loss, 0) || shlog_enc_loss(enc, 0, 3, &dropped, 12) ||
        shlog_enc_exit(enc, 0, rd->info.created_ns + 1000000000ull, (uint64_t)rd->nrecs, 13, SHLOG_EXIT_SHUTDOWN))
        die("shlog_enc_loss/exit failed");
    const struct shm_clock_anchor anchors[2] = {
        {.tsc = rd->info.anchor_tsc, .ns = rd->info.anchor_ns, .err_ns = 11},
        {.tsc = rd->info.anchor_tsc + rd->info.tsc_hz, .ns = rd->info.anchor_ns + 1000000000ull, .err_ns = 9,
         .flags = SHM_ANCHOR_STEPPED},
    };
    const struct shlog_clock_info clock = {.hz_q16 = rd->info.tsc_hz << 16, .tsc_invariant = SHLOG_YES,
                                           .synchronized = SHLOG_NO, .esterror_ns = 16000000000ull,
                                           .clocksource = "kvm-clock"};
    if (shlog_enc_clock(enc, &clock, anchors, 2) != 0)
        die("shlog_enc_clock failed");
    frame_at[1] = len;
    n = shlog_enc_frame(enc, frames + len, sizeof frames - len);
    if (n <= 0)
        die("shlog_enc_frame failed");
    len += (size_t)n;
    shlog_enc_free(enc);

    file.n = 0;
    put_u8(&file, 0);
    put(&file, frames, len);
    save("file", "file-real", &file);

    /* The same frames' contents, for the sections mode (valid frames built by the harness). */
    sections.n = 0;
    put_u8(&sections, 2);
    put_le(&sections, 0, 2); /* cut */
    for (int f = 0; f < 2; f++) {
        const uint8_t *pre = frames + frame_at[f];
        uint32_t zbytes = (uint32_t)pre[4] | (uint32_t)pre[5] << 8 | (uint32_t)pre[6] << 16 | (uint32_t)pre[7] << 24;
        static uint8_t raw[64 << 10];
        size_t got = ZSTD_decompress(raw, sizeof raw, pre + SHLOG_FRAME_PREFIX_BYTES, zbytes);
        if (ZSTD_isError(got))
            die("cannot decompress the encoder's frame: %s", ZSTD_getErrorName(got));
        put_le(&sections, got, 2);
        put(&sections, raw, got);
    }
    save("file", "sections-real", &sections);

    /* The encoder mode: the same process, sites, records and markers as ops. */
    ops.n = 0;
    put_u8(&ops, 3);
    put_u8(&ops, 2); /* zstd level 1 */
    put_u8(&ops, 0); /* process 0 */
    put_u8(&ops, 0);
    put_le(&ops, rd->info.uid, 4);
    put_le(&ops, rd->info.created_ns, 8);
    put_le(&ops, rd->info.tsc_hz, 8);
    put_le(&ops, rd->info.anchor_tsc, 8);
    put_le(&ops, rd->info.anchor_ns, 8);
    put_small(&ops, rd->info.app, SHMLOG_APP_BYTES - 1);
    put_small(&ops, rd->info.host, SHMLOG_HOST_BYTES - 1);
    for (int i = 0; i < rd->nsites && i < 8; i++) {
        const struct shm_site *st = &rd->sites[i];
        put_u8(&ops, 1);
        put_u8(&ops, 0);
        put_u8(&ops, st->id);
        put_le(&ops, st->line, 4);
        put_u8(&ops, st->level);
        put_u8(&ops, st->category);
        put_u8(&ops, st->nargs);
        for (unsigned a = 0; a < st->nargs; a++)
            put_u8(&ops, st->arg_types[a] - 1u);
        put_small(&ops, st->fmt, 200);
        put_small(&ops, st->file, 60);
    }
    put_u8(&ops, 2); /* batch of process 0 on cpu 3 */
    put_u8(&ops, 0);
    put_u8(&ops, 3);
    for (int i = 0; i < rd->nrecs; i++) {
        const struct shm_copied_record *r = &rd->recs[i];
        put_u8(&ops, 3);
        put_u8(&ops, 0);
        put_u8(&ops, 0); /* no gap */
        put_u8(&ops, r->nslots - 1u);
        put_le(&ops, r->tsc, 8);
        put_u8(&ops, r->site);
        put_le(&ops, r->tid, 4);
        put_u8(&ops, r->level);
        put_u8(&ops, r->category);
        put_u8(&ops, r->flags);
        put(&ops, r->payload, r->payload_len);
    }
    put_u8(&ops, 4); /* batch end */
    put_u8(&ops, 0);
    put_u8(&ops, 5); /* a dead writer's loss */
    put_u8(&ops, 0);
    put_u8(&ops, 3);
    put_u8(&ops, SHM_LOSS_DEAD_WRITER - 1);
    put_u8(&ops, 3);
    put_u8(&ops, 1);
    put_u8(&ops, 7); /* frame end */
    put_u8(&ops, 0);
    put_u8(&ops, 6); /* exit */
    put_u8(&ops, 0);
    put_le(&ops, rd->info.created_ns + 1000000000ull, 8);
    put_le(&ops, (uint64_t)rd->nrecs, 8);
    put_le(&ops, 1, 8);
    save("file", "encoder-real", &ops);
}

/* ==== Main ==== */

static void remove_seg_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", seg_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "make_seeds: could not remove %s\n", seg_dir);
}

int main(int argc, char **argv)
{
    static struct real rd;
    if (argc != 2)
        die("usage: make_seeds OUTDIR");
    out_dir = argv[1];
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST)
        die("%s: %s", out_dir, strerror(errno));
    snprintf(seg_dir, sizeof seg_dir, "/dev/shm/shmlog-seeds-XXXXXX");
    if (!mkdtemp(seg_dir))
        die("mkdtemp: %s", strerror(errno));
    atexit(remove_seg_dir);

    /* One ring: the first cpu we may run on. */
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        die("sched_getaffinity: %s", strerror(errno));
    int cpu = 0;
    while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set))
        cpu++;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        die("sched_setaffinity: %s", strerror(errno));

    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "seed";
    cfg.dir = seg_dir;
    cfg.ring_bytes = SHMLOG_RING_MIN_RECORDS * SHMLOG_RECORD_BYTES;
    cfg.meta_bytes = 64 * 1024;
    cfg.quiet = 1;
    cfg.level = SHMLOG_LEVEL_TRACE;
    int rc = shmlog_init(&cfg);
    if (rc != 0)
        die("shmlog_init: %s", strerror(-rc));
    if ((rc = shmlog_thread_init()) != 0)
        die("shmlog_thread_init: %s", strerror(-rc));
    log_sample_records();

    char meta_path[256], ring_path[256], err[512];
    snprintf(meta_path, sizeof meta_path, "%s/seed-%d.meta", seg_dir, (int)getpid());
    snprintf(ring_path, sizeof ring_path, "%s/seed-%d-cpu%d.ring", seg_dir, (int)getpid(), cpu);
    segment_seed(meta_path, SHMLOG_SEG_META, "meta-real");
    segment_seed(ring_path, SHMLOG_SEG_RING, "ring-real");

    /* Read back what was written: sites, records, process info. */
    struct shm_seg meta, ring;
    struct shm_ring_view view;
    if (shm_seg_open(&meta, meta_path, 0, NULL, err, sizeof err) != 0 ||
        shm_meta_info(&meta, &rd.info, err, sizeof err) != 0 ||
        shm_seg_open(&ring, ring_path, 1, NULL, err, sizeof err) != 0 ||
        shm_ring_view_init(&view, &ring, err, sizeof err) != 0)
        die("%s", err);
    for (uint32_t id = 0; id < rd.info.site_count && rd.nsites < 16; id++)
        if (shm_meta_site(&meta, id, &rd.sites[rd.nsites]) == 0)
            rd.nsites++;
    uint64_t pos = shm_ring_tail(&view);
    struct shm_loss loss;
    while (rd.nrecs < MAX_RECS && shm_ring_next(&view, &pos, &rd.recs[rd.nrecs], 0, &loss) == SHM_READ_RECORD)
        rd.nrecs++;
    if (rd.nsites == 0 || rd.nrecs == 0)
        die("the producer wrote nothing readable");
    for (int i = 0; i < rd.nrecs; i++) {
        const struct shm_copied_record *r = &rd.recs[i];
        if (r->site < (uint32_t)rd.nsites) {
            char name[32];
            snprintf(name, sizeof name, "site-%u", r->site);
            format_seed(&rd.sites[r->site], r, name);
        }
    }
    /* A format no compiler lets through, over a real payload. */
    struct shm_site odd = rd.sites[rd.recs[1].site];
    snprintf(odd.fmt, sizeof odd.fmt, "odd %%q %%n %%1$d %%m %%99999d %%.*f %%*s name=%%d x=%%");
    odd.fmt_len = (uint32_t)strlen(odd.fmt);
    format_seed(&odd, &rd.recs[1], "odd-format");
    printf_seeds();
    tree_seed();
    file_seeds(&rd);

    /* A ring that wrapped: as if a collector had drained up to near the end,
     * the next multi-slot record needs a PAD record over the last slots. */
    uint64_t near_end = view.cap - 2;
    shm_ring_release(&view, near_end);
    __atomic_store_n(&view.hdr->tail_cache, near_end, __ATOMIC_RELEASE);
    __atomic_store_n(&view.hdr->head, near_end, __ATOMIC_RELEASE);
    SHMLOG_INFO("after wrap %d", 1);
    SHMLOG_ORDER(INFO, "wrapped id=%ld reason=%s", 7000002L, "a string that needs more than one slot to hold");
    shm_seg_close(&ring);
    shm_seg_close(&meta);
    segment_seed(ring_path, SHMLOG_SEG_RING, "ring-wrap");
    shmlog_shutdown();
    return 0;
}
