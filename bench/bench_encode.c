/*
 * bench_encode.c - the file format's cost and size on the sample mix, without
 * the collector's I/O: ns per record to encode and to compress, records per
 * second to decode, and bytes per record on disk.
 *
 *   shmlog-bench-encode [--records N] [--mix trading|uniform|args3] [--rate R] [--level L]
 *                       [--repeat K] [--out FILE]
 *
 * The records are real: this process logs shmlog-sample's mix (the file is
 * included below), or with --mix args3 the call bench/compare.sh times (a u64
 * id, a double price and an int quantity, the values of bench.h), into its
 * own rings at --rate records per second (default 2 M/s, what bench/files.sh
 * asks of shmlog-sample, so the TSC deltas are those of a paced producer), and
 * reads them back out of the ring as the collector does. Encoding follows the
 * collector too: batches of at most DRAIN_BUDGET records of one ring, a frame
 * every FRAME_MAX_RECORDS records (collector/collector.h), zstd at --level
 * (default 1, the collector's).
 * Decoding reads the file back with shlog_reader_next(); a first, untimed pass
 * checks that every record comes out as it went in. Timings are the best of
 * --repeat runs. --out keeps the file, for shmlog-dump.
 */
#define SHMLOG_SAMPLE_NO_MAIN
#include "../examples/sample_producer.c"

#include <dirent.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "reader.h"
#include "shlog_file.h"

/* The mixes of shmlog-sample, and the benchmark's one call. */
#define MIX_ARGS3 (MIX_UNIFORM + 1)
static const char *const mix_names[] = {[MIX_TRADING] = "trading", [MIX_UNIFORM] = "uniform",
                                        [MIX_ARGS3] = "args3"};

/* The mix called name, or -1. */
static int mix_named(const char *name)
{
    for (int k = 0; k < (int)(sizeof mix_names / sizeof mix_names[0]); k++)
        if (!strcmp(name, mix_names[k]))
            return k;
    return -1;
}

#define DRAIN_BUDGET 16384u      /* collector/collector.h: records per ring per pass */
#define FRAME_MAX_RECORDS 65536u /* collector/collector.h: a frame is flushed at this many records */
#define PROC_KEY 1u

/* The records read out of the ring, each as the head of a struct shm_copied_record
 * and its payload_len payload bytes, 8-aligned, one after the other. */
struct store {
    uint8_t *p;
    size_t len, cap;
    uint64_t count;
};

#define REC_HEAD offsetof(struct shm_copied_record, payload)

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "shmlog-bench-encode: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static size_t rec_bytes(const struct shm_copied_record *r)
{
    return (REC_HEAD + r->payload_len + 7) & ~(size_t)7;
}

static void store_add(struct store *s, const struct shm_copied_record *r)
{
    size_t n = rec_bytes(r);
    if (s->cap - s->len < n) {
        s->cap = s->cap ? s->cap * 2 : (64u << 20);
        if (!(s->p = realloc(s->p, s->cap)))
            die("out of memory");
    }
    memcpy(s->p + s->len, r, REC_HEAD + r->payload_len);
    s->len += n;
    s->count++;
}

/* The next stored record copied into *r (what the collector's ring read does). */
static const uint8_t *store_next(const uint8_t *at, struct shm_copied_record *r)
{
    memcpy(r, at, REC_HEAD);
    memcpy(r->payload, at + REC_HEAD, r->payload_len);
    return at + rec_bytes(r);
}

/* This process's segments. */
struct segs {
    char dir[256];
    struct shm_seg meta, ring;
    struct shm_ring_view view;
    struct shm_proc_info info;
    uint64_t pos;
};

static void open_segments(struct segs *g)
{
    char err[512], path[512];
    snprintf(path, sizeof path, "%s/bench-encode-%d.meta", g->dir, (int)getpid());
    if (shm_seg_open(&g->meta, path, 0, NULL, err, sizeof err) || shm_meta_info(&g->meta, &g->info, err, sizeof err))
        die("%s", err);
    DIR *d = opendir(g->dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (!strstr(de->d_name, ".ring"))
            continue;
        snprintf(path, sizeof path, "%s/%s", g->dir, de->d_name);
        if (shm_seg_open(&g->ring, path, 1, NULL, err, sizeof err) ||
            shm_ring_view_init(&g->view, &g->ring, err, sizeof err))
            die("%s", err);
        break;
    }
    if (d)
        closedir(d);
    if (!g->ring.addr)
        die("no ring in %s", g->dir);
    g->pos = shm_ring_tail(&g->view);
}

/* Reads what the ring holds into the store and gives the space back. */
static void drain(struct segs *g, struct store *s)
{
    static struct shm_copied_record rec;
    struct shm_loss loss;
    for (;;) {
        int st = shm_ring_next(&g->view, &g->pos, &rec, 0, &loss);
        if (st == SHM_READ_EMPTY)
            break;
        if (st != SHM_READ_RECORD)
            die("ring read status %d", st);
        store_add(s, &rec);
    }
    shm_ring_release(&g->view, g->pos);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[512];
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* count benchmark calls from first on, paced like mix_run. */
static void args3_run(uint64_t first, uint64_t count, double rate)
{
    uint64_t start = mono_ns();
    for (uint64_t i = 0; i < count; i++) {
        pace_call(start, i, rate);
        BENCH_ARGS(first + i);
        (void)bench_note;
        SHMLOG_INFO("order id=%lu px=%f qty=%d", bench_id, bench_px, bench_qty);
    }
}

/* Logs n calls of the mix on one cpu and reads them out of the ring. */
static void make_records(struct segs *g, struct store *s, uint64_t n, int kind, double rate)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    if (sched_setaffinity(0, sizeof one, &one))
        die("sched_setaffinity: %s", strerror(errno));
    snprintf(g->dir, sizeof g->dir, "/dev/shm/shmlog-bench-encode-%d", (int)getpid());
    if (mkdir(g->dir, 0700))
        die("mkdir %s: %s", g->dir, strerror(errno));
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "bench-encode";
    cfg.dir = g->dir;
    cfg.quiet = 1;
    int rc = shmlog_init(&cfg);
    if (rc || (rc = shmlog_thread_init()))
        die("shmlog_init: %s", strerror(-rc));
    open_segments(g);
    struct mix m;
    mix_init(&m, kind == MIX_ARGS3 ? MIX_TRADING : (enum mix_kind)kind, 0x9E3779B97F4A7C15ULL);
    for (uint64_t done = 0; done < n;) {
        uint64_t k = n - done < DRAIN_BUDGET ? n - done : DRAIN_BUDGET;
        if (kind == MIX_ARGS3)
            args3_run(done, k, rate);
        else
            mix_run(&m, done, k, rate);
        drain(g, s);
        done += k;
    }
    if (shmlog_dropped())
        die("%llu records dropped", (unsigned long long)shmlog_dropped());
    shmlog_shutdown();
}

static double now_s(void)
{
    return (double)mono_ns() / 1e9;
}

struct result {
    double encode_s, compress_s, decode_s;
    size_t file_bytes;
};

static void check(int rc, const char *what)
{
    if (rc < 0)
        die("%s: %s", what, strerror(-rc));
}

/* Encodes every record into file (header and frames), timing encode and
 * compress apart. */
static void encode_all(const struct segs *g, const struct store *s, int level, uint8_t *file, size_t cap,
                       struct result *res)
{
    struct shlog_enc *enc;
    check(shlog_enc_new(&enc, level), "shlog_enc_new");
    struct shlog_file_header h = {.version = SHLOG_FILE_VERSION, .file_seq = 1, .created_ns = 1};
    snprintf(h.host, sizeof h.host, "%s", g->info.host);
    shlog_file_header_encode(file, &h);
    size_t len = SHLOG_FILE_HEADER_BYTES;
    static struct shm_copied_record rec;
    static struct shm_site site;
    const uint8_t *at = s->p;
    double enc_s = 0, z_s = 0;
    check(shlog_enc_process(enc, PROC_KEY, &g->info), "shlog_enc_process");
    for (uint64_t done = 0; done < s->count;) {
        double t0 = now_s();
        uint64_t frame_end = done + FRAME_MAX_RECORDS < s->count ? done + FRAME_MAX_RECORDS : s->count;
        while (done < frame_end) {
            check(shlog_enc_batch_begin(enc, PROC_KEY, g->view.cpu), "shlog_enc_batch_begin");
            uint64_t batch_end = done + DRAIN_BUDGET < frame_end ? done + DRAIN_BUDGET : frame_end;
            for (; done < batch_end; done++) {
                at = store_next(at, &rec);
                if (!shlog_enc_has_site(enc, PROC_KEY, rec.site)) {
                    if (shm_meta_site(&g->meta, rec.site, &site))
                        die("site %u is not in the metadata", rec.site);
                    check(shlog_enc_site(enc, PROC_KEY, &site), "shlog_enc_site");
                }
                check(shlog_enc_record(enc, &rec), "shlog_enc_record");
            }
            check(shlog_enc_batch_end(enc), "shlog_enc_batch_end");
        }
        double t1 = now_s();
        if (cap - len < shlog_enc_frame_bound(enc))
            die("the file buffer is too small");
        long n = shlog_enc_frame(enc, file + len, cap - len);
        check((int)n, "shlog_enc_frame");
        len += (size_t)n;
        double t2 = now_s();
        enc_s += t1 - t0;
        z_s += t2 - t1;
    }
    shlog_enc_free(enc);
    res->encode_s = enc_s;
    res->compress_s = z_s;
    res->file_bytes = len;
}

/* Reads the file back, timed; verify: every record must be the one stored. */
static void decode_all(const struct store *s, int fd, int verify, struct result *res)
{
    char err[512];
    struct shlog_reader *rd;
    static struct shlog_event ev;
    static struct shm_copied_record want;
    if (shlog_reader_open_fd(&rd, fd, "bench", 0, NULL, err, sizeof err))
        die("%s", err);
    const uint8_t *at = s->p;
    uint64_t got = 0;
    double t0 = now_s();
    int rc;
    while ((rc = shlog_reader_next(rd, &ev)) > 0) {
        if (ev.kind == SHLOG_EV_ERROR)
            die("%s", ev.error);
        if (ev.kind != SHLOG_EV_RECORD)
            continue;
        if (got >= s->count)
            die("more records than were encoded");
        got++;
        if (!verify)
            continue;
        at = store_next(at, &want);
        const struct shm_copied_record *r = ev.rec;
        if (r->pos != want.pos || r->tsc != want.tsc || r->site != want.site || r->tid != want.tid ||
            r->level != want.level || r->category != want.category || r->flags != want.flags ||
            r->nslots != want.nslots || r->payload_len > want.payload_len ||
            memcmp(r->payload, want.payload, r->payload_len) != 0)
            die("record %llu (ring position %llu) did not come back as it was", (unsigned long long)got - 1,
                (unsigned long long)want.pos);
    }
    res->decode_s = now_s() - t0;
    check(rc, "shlog_reader_next");
    if (got != s->count)
        die("%llu records decoded, %llu encoded", (unsigned long long)got, (unsigned long long)s->count);
    shlog_reader_close(rd);
}

int main(int argc, char **argv)
{
    uint64_t n = 1000000, repeat = 5;
    double rate = 2e6;
    int level = 1;
    int kind = MIX_TRADING;
    const char *out = NULL;
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--records"))
            n = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--rate"))
            rate = strtod(v, NULL);
        else if (!strcmp(a, "--level"))
            level = atoi(v);
        else if (!strcmp(a, "--repeat"))
            repeat = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--out") && *v)
            out = v;
        else if (!strcmp(a, "--mix") && mix_named(v) >= 0)
            kind = mix_named(v);
        else
            die("usage: shmlog-bench-encode [--records N] [--mix trading|uniform|args3] [--rate R] [--level L] "
                "[--repeat K] [--out FILE]");
    }
    if (n == 0 || repeat == 0)
        die("--records and --repeat want a positive number");

    static struct segs g;
    struct store s = {0};
    make_records(&g, &s, n, kind, rate);
    remove_dir(g.dir);

    size_t cap = s.len + (64u << 20);
    uint8_t *file = malloc(cap);
    int fd = memfd_create("bench-encode", 0);
    if (!file || fd < 0)
        die("out of memory");
    struct result best = {1e9, 1e9, 1e9, 0};
    for (uint64_t k = 0; k < repeat; k++) {
        struct result r;
        encode_all(&g, &s, level, file, cap, &r);
        if (ftruncate(fd, 0) || pwrite(fd, file, r.file_bytes, 0) != (ssize_t)r.file_bytes)
            die("memfd: %s", strerror(errno));
        if (k == 0)
            decode_all(&s, fd, 1, &r);
        decode_all(&s, fd, 0, &r);
        best.encode_s = r.encode_s < best.encode_s ? r.encode_s : best.encode_s;
        best.compress_s = r.compress_s < best.compress_s ? r.compress_s : best.compress_s;
        best.decode_s = r.decode_s < best.decode_s ? r.decode_s : best.decode_s;
        best.file_bytes = r.file_bytes;
    }
    if (out) {
        FILE *f = fopen(out, "wb");
        if (!f || fwrite(file, 1, best.file_bytes, f) != best.file_bytes || fclose(f))
            die("%s: %s", out, strerror(errno));
    }
    double recs = (double)s.count;
    printf("mix %s, %llu records (%.1f payload bytes each), zstd level %d, file format version %u, best of %llu\n",
           mix_names[kind], (unsigned long long)s.count,
           (double)(s.len - s.count * REC_HEAD) / recs, level, SHLOG_FILE_VERSION, (unsigned long long)repeat);
    printf("bytes per record:   %.3f (%zu bytes)\n", (double)best.file_bytes / recs, best.file_bytes);
    printf("encode:             %.1f ns/record (shlog_enc_record and batches, record copy included)\n",
           best.encode_s * 1e9 / recs);
    printf("compress:           %.1f ns/record (shlog_enc_frame)\n", best.compress_s * 1e9 / recs);
    printf("decode:             %.2f M records/s (shlog_reader_next)\n", recs / best.decode_s / 1e6);
    close(fd);
    free(file);
    free(s.p);
    return 0;
}
