/* Description: every record, loss and exit written with the frame encoder reads back exactly (all argument types, gaps, raw records), duplicates are dropped within and across files, and a trading-like mix compresses to at most 8 bytes per record. */
#include "test_util_file.h"

#include <math.h>

static char dir[256];

static void setup(void) { tu_tmpdir(dir, sizeof(dir), "file"); }
static void teardown(void) { tu_rmtree(dir); }

TestSuite(file_roundtrip, .init = setup, .fini = teardown, .timeout = 60);

enum { NSITES = 5 };

static void all_sites(struct shm_site *s)
{
    tu_site(&s[0], 0, "ints b=%d i8=%d u8=%u i16=%d u16=%u i32=%d u32=%u i64=%ld u64=%lu p=%p", SHMLOG_ARG_BOOL,
            SHMLOG_ARG_I8, SHMLOG_ARG_U8, SHMLOG_ARG_I16, SHMLOG_ARG_U16, SHMLOG_ARG_I32, SHMLOG_ARG_U32,
            SHMLOG_ARG_I64, SHMLOG_ARG_U64, SHMLOG_ARG_PTR, 0);
    tu_site(&s[1], 1, "floats f=%f d=%f", SHMLOG_ARG_F32, SHMLOG_ARG_F64, 0);
    tu_site(&s[2], 2, "str a=%s n=%d b=%s", SHMLOG_ARG_STR, SHMLOG_ARG_I32, SHMLOG_ARG_STR, 0);
    tu_site(&s[3], 3, "no arguments", 0);
    tu_site(&s[4], 7, "sparse id d=%f", SHMLOG_ARG_F64, 0);
}

static uint64_t rnd(void) { return (uint64_t)rand() << 62 ^ (uint64_t)rand() << 31 ^ (uint64_t)rand(); }

/* A record of a random site with random values; long strings sometimes. */
static void random_record(struct shm_copied_record *r, const struct shm_site *sites, uint64_t pos, uint64_t tsc)
{
    static char strbuf[2][400];
    memset(r, 0, sizeof(*r));
    const struct shm_site *s = &sites[rand() % NSITES];
    uint64_t vals[SHMLOG_MAX_ARGS];
    for (unsigned i = 0; i < SHMLOG_MAX_ARGS; i++) {
        vals[i] = rand() % 4 ? rnd() : (uint64_t)(rand() % 5);
        if (s->arg_types[i] == SHMLOG_ARG_F64) {
            double d = (rand() % 1000) * 0.25 + (rand() % 2 ? 0 : 1e-9 * rand());
            memcpy(&vals[i], &d, 8);
        }
    }
    for (int k = 0; k < 2; k++) {
        size_t n = rand() % 8 ? (size_t)(rand() % 20) : 150 + (size_t)(rand() % 40);
        for (size_t i = 0; i < n; i++)
            strbuf[k][i] = (char)('a' + rand() % 26);
        strbuf[k][n] = '\0';
    }
    const char *strs[2] = {strbuf[0], strbuf[1]};
    size_t used = tu_payload(r, s, vals, strs);
    tu_slots(r, used);
    r->pos = pos;
    r->tsc = tsc;
    r->site = s->id;
    r->tid = 4000 + (uint32_t)(rand() % 3);
    r->level = s->level;
    r->category = s->category;
    r->flags = rand() % 10 ? 0 : SHMLOG_REC_TRUNCATED;
}

static void assert_same_record(const struct shm_copied_record *got, const struct shm_copied_record *want, size_t used, size_t i)
{
    cr_assert_eq(got->pos, want->pos, "record %zu: pos %lu != %lu", i, got->pos, want->pos);
    cr_assert_eq(got->tsc, want->tsc, "record %zu: tsc", i);
    cr_assert_eq(got->site, want->site, "record %zu: site", i);
    cr_assert_eq(got->tid, want->tid, "record %zu: tid", i);
    cr_assert_eq(got->level, want->level, "record %zu: level", i);
    cr_assert_eq(got->category, want->category, "record %zu: category", i);
    cr_assert_eq(got->flags, want->flags, "record %zu: flags", i);
    cr_assert_eq(got->nslots, want->nslots, "record %zu: nslots", i);
    cr_assert_eq(got->payload_len, used, "record %zu: payload_len %u != %zu", i, got->payload_len, used);
    cr_assert_eq(memcmp(got->payload, want->payload, used), 0, "record %zu: payload differs", i);
}

Test(file_roundtrip, every_field_of_every_type)
{
    srand(42);
    struct shm_site *sites = calloc(NSITES, sizeof(*sites));
    all_sites(sites);
    struct shm_proc_info pi;
    tu_proc_info(&pi, 777, 99);
    char path[300];
    snprintf(path, sizeof(path), "%s/a.shlog", dir);
    struct tu_file f;
    tu_file_open(&f, path, 1);
    cr_assert_eq(shlog_enc_process(f.enc, 5, &pi), 0);
    for (int i = 0; i < NSITES - 1; i++) /* site 7 stays undefined: its records go raw */
        cr_assert_eq(shlog_enc_site(f.enc, 5, &sites[i]), 0);
    cr_assert(shlog_enc_has_site(f.enc, 5, 2));
    cr_assert(!shlog_enc_has_site(f.enc, 5, 7));

    enum { N = 5000 };
    struct shm_copied_record *want = calloc(N, sizeof(*want));
    size_t *used = calloc(N, sizeof(*used));
    uint64_t pos[2] = {1u << 20, 17}, tsc = 1ull << 40;
    size_t n = 0;
    for (int frame = 0; frame < 4; frame++) {
        for (uint32_t cpu = 0; cpu < 2; cpu++) {
            cr_assert_eq(shlog_enc_batch_begin(f.enc, 5, cpu), 0);
            for (int k = 0; k < N / 8; k++, n++) {
                if (rand() % 50 == 0)
                    pos[cpu] += 1 + (uint64_t)(rand() % 7); /* PAD slots skipped */
                tsc += rand() % 16 ? (uint64_t)(rand() % 500) : (uint64_t)-(int64_t)(rand() % 100);
                random_record(&want[n], sites, pos[cpu], tsc);
                pos[cpu] += want[n].nslots;
                const struct shm_site *s = NULL;
                for (int j = 0; j < NSITES - 1; j++)
                    if (sites[j].id == want[n].site)
                        s = &sites[j];
                if (s) {
                    uint64_t dummy[SHMLOG_MAX_ARGS];
                    (void)dummy;
                    /* The used length: re-derive it from the payload the way a producer laid it out. */
                    size_t off = 0;
                    for (unsigned a = 0; a < s->nargs; a++)
                        off += s->arg_types[a] == SHMLOG_ARG_STR
                                   ? 2u + (want[n].payload[off] | (unsigned)want[n].payload[off + 1] << 8)
                                   : shmlog_arg_width(s->arg_types[a]);
                    used[n] = off;
                } else {
                    used[n] = want[n].payload_len;
                }
                cr_assert_eq(shlog_enc_record(f.enc, &want[n]), 0);
            }
            cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
        }
        struct shm_loss l = {.first_pos = pos[1], .positions = 3, .records = 1,
                                .reason = SHM_LOSS_DEAD_WRITER};
        cr_assert_eq(shlog_enc_loss(f.enc, 5, 1, &l, 0), 0);
        pos[1] += 3;
        tu_file_flush(&f);
    }
    cr_assert_eq(shlog_enc_exit(f.enc, 5, 1234, n, 4, SHLOG_EXIT_DIED), 0);
    tu_file_flush(&f);
    tu_file_close(&f);

    struct tu_read got = {0};
    cr_assert_eq(tu_read_shlog(path, NULL, &got), 0);
    cr_assert_eq(got.errors, 0, "unexpected error: %s", got.first_error);
    cr_assert_eq(got.n, n, "records read %zu, written %zu", got.n, n);
    /* Batches alternate cpus in the same order they were written. */
    for (size_t i = 0; i < n; i++) {
        assert_same_record(got.recs[i], &want[i], used[i], i);
        cr_assert_eq(got.rec_pid[i], 777);
    }
    cr_assert_eq(got.losses, 4);
    cr_assert_eq(got.lost[SHM_LOSS_DEAD_WRITER], 4);
    cr_assert_eq(got.exits, 1);
    cr_assert_eq(got.exits_how[SHLOG_EXIT_DIED], 1, "how the process ended survives the round trip");
    cr_assert_eq(got.processes, 1);
    cr_assert_eq(got.sites, NSITES - 1);
    tu_read_free(&got);
    free(want);
    free(used);
    free(sites);
}

/* Writes records [from, to) of ring cpu 0 of process pid as one frame. */
static void write_range(struct tu_file *f, const struct shm_site *s, uint32_t pid, uint64_t from,
                        uint64_t to)
{
    struct shm_proc_info pi;
    tu_proc_info(&pi, pid, 5);
    if (!shlog_enc_has_process(f->enc, pid))
        cr_assert_eq(shlog_enc_process(f->enc, pid, &pi), 0);
    if (!shlog_enc_has_site(f->enc, pid, s->id))
        cr_assert_eq(shlog_enc_site(f->enc, pid, s), 0);
    cr_assert_eq(shlog_enc_batch_begin(f->enc, pid, 0), 0);
    for (uint64_t p = from; p < to; p++) {
        struct shm_copied_record r = {0};
        uint64_t v[1] = {p * 3};
        tu_slots(&r, tu_payload(&r, s, v, NULL));
        r.pos = p;
        r.tsc = 1000 + p;
        r.site = s->id;
        r.tid = 1;
        cr_assert_eq(shlog_enc_record(f->enc, &r), 0);
    }
    cr_assert_eq(shlog_enc_batch_end(f->enc), 0);
    tu_file_flush(f);
}

Test(file_roundtrip, duplicates_are_dropped_within_and_across_files)
{
    struct shm_site s;
    tu_site(&s, 0, "v=%lu", SHMLOG_ARG_U64, 0);
    char a[300], b[300];
    snprintf(a, sizeof(a), "%s/a.shlog", dir);
    snprintf(b, sizeof(b), "%s/b.shlog", dir);
    /* File a: [0,100) then [150,200): as if the write of [100,150) never
     * completed before a crash. */
    struct tu_file f;
    tu_file_open(&f, a, 1);
    write_range(&f, &s, 42, 0, 100);
    write_range(&f, &s, 42, 150, 200);
    write_range(&f, &s, 42, 50, 120); /* overlaps: 100..119 new */
    tu_file_close(&f);
    /* File b, after the restart: everything from the old tail again, plus more. */
    tu_file_open(&f, b, 2);
    write_range(&f, &s, 42, 0, 250);
    tu_file_close(&f);

    struct shlog_dedup *d;
    cr_assert_eq(shlog_dedup_new(&d), 0);
    struct tu_read got = {0};
    cr_assert_eq(tu_read_shlog(a, d, &got), 0);
    cr_assert_eq(got.n, 170, "file a: %zu records", got.n);
    cr_assert_eq(tu_read_shlog(b, d, &got), 0);
    cr_assert_eq(got.errors, 0);
    cr_assert_eq(got.n, 250, "a+b: %zu records", got.n);
    char *seen = calloc(250, 1);
    for (size_t i = 0; i < got.n; i++) {
        cr_assert_lt(got.recs[i]->pos, 250);
        cr_assert_eq(seen[got.recs[i]->pos]++, 0, "position %lu twice", got.recs[i]->pos);
        uint64_t v;
        memcpy(&v, got.recs[i]->payload, 8);
        cr_assert_eq(v, got.recs[i]->pos * 3);
    }
    free(seen);
    tu_read_free(&got);

    /* Without shared state each file stands alone. */
    cr_assert_eq(tu_read_shlog(b, NULL, &got), 0);
    cr_assert_eq(got.n, 250);
    tu_read_free(&got);
    shlog_dedup_free(d);
}

Test(file_roundtrip, ring_full_drops_count_once)
{
    struct shm_site s;
    tu_site(&s, 0, "v=%lu", SHMLOG_ARG_U64, 0);
    char path[300];
    snprintf(path, sizeof(path), "%s/a.shlog", dir);
    struct tu_file f;
    tu_file_open(&f, path, 1);
    struct shm_proc_info pi;
    tu_proc_info(&pi, 9, 5);
    cr_assert_eq(shlog_enc_process(f.enc, 1, &pi), 0);
    struct shm_loss l = {.first_pos = 10, .records = 30, .reason = SHM_LOSS_DROPPED};
    cr_assert_eq(shlog_enc_loss(f.enc, 1, 0, &l, 30), 0);
    l.records = 12;
    cr_assert_eq(shlog_enc_loss(f.enc, 1, 0, &l, 42), 0);
    /* After a restart the collector knows no history: it reports the whole counter. */
    l.records = 45;
    cr_assert_eq(shlog_enc_loss(f.enc, 1, 0, &l, 45), 0);
    l.records = 7; /* another ring of the same process counts apart */
    cr_assert_eq(shlog_enc_loss(f.enc, 1, 1, &l, 7), 0);
    tu_file_flush(&f);
    tu_file_close(&f);
    struct tu_read got = {0};
    cr_assert_eq(tu_read_shlog(path, NULL, &got), 0);
    cr_assert_eq(got.lost[SHM_LOSS_DROPPED], 45 + 7);
    tu_read_free(&got);
}

/* Order entry and market data as a trading process logs them: increasing ids,
 * prices on a tick grid, a few quantities, a handful of sites, one thread. */
Test(file_roundtrip, trading_mix_is_at_most_8_bytes_per_record)
{
    srand(7);
    struct shm_site s[4];
    tu_site(&s[0], 0, "order id=%lu px=%f qty=%d", SHMLOG_ARG_U64, SHMLOG_ARG_F64, SHMLOG_ARG_I32, 0);
    tu_site(&s[1], 1, "md bid=%f ask=%f", SHMLOG_ARG_F64, SHMLOG_ARG_F64, 0);
    tu_site(&s[2], 2, "fill id=%lu qty=%d", SHMLOG_ARG_U64, SHMLOG_ARG_I32, 0);
    tu_site(&s[3], 3, "risk pos=%ld", SHMLOG_ARG_I64, 0);
    char path[300];
    snprintf(path, sizeof(path), "%s/a.shlog", dir);
    struct tu_file f;
    tu_file_open(&f, path, 1);
    struct shm_proc_info pi;
    tu_proc_info(&pi, 1, 1);
    cr_assert_eq(shlog_enc_process(f.enc, 1, &pi), 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(shlog_enc_site(f.enc, 1, &s[i]), 0);
    enum { N = 1 << 20 };
    uint64_t id = 1000000, pos = 0, tsc = 1ull << 40;
    double mid = 100.0;
    int64_t position = 0;
    for (int b = 0; b < N / 65536; b++) {
        cr_assert_eq(shlog_enc_batch_begin(f.enc, 1, 0), 0);
        for (int k = 0; k < 65536; k++) {
            struct shm_copied_record r = {0};
            int which = rand() % 10 < 5 ? 1 : rand() % 3 == 0 ? 0 : rand() % 2 ? 2 : 3;
            double bid = mid - 0.25 * (1 + rand() % 2), ask = mid + 0.25 * (1 + rand() % 2);
            if (rand() % 8 == 0)
                mid += rand() % 2 ? 0.25 : -0.25;
            int qty = 100 * (1 + rand() % 5);
            uint64_t v[3];
            switch (which) {
            case 0: id += 1 + rand() % 3; v[0] = id; memcpy(&v[1], &bid, 8); v[2] = (uint32_t)qty; break;
            case 1: memcpy(&v[0], &bid, 8); memcpy(&v[1], &ask, 8); break;
            case 2: v[0] = id - rand() % 4; v[1] = (uint32_t)qty; break;
            default: position += rand() % 2 ? qty : -qty; v[0] = (uint64_t)position; break;
            }
            tu_slots(&r, tu_payload(&r, &s[which], v, NULL));
            tsc += 200 + rand() % 3000;
            r.pos = pos;
            r.tsc = tsc;
            r.site = (uint32_t)which;
            r.tid = 31337;
            r.level = SHMLOG_LEVEL_INFO;
            pos += r.nslots;
            cr_assert_eq(shlog_enc_record(f.enc, &r), 0);
        }
        cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
        tu_file_flush(&f);
    }
    tu_file_close(&f);
    double per_record = (double)f.off / N;
    cr_log_info("trading mix: %.2f bytes/record on disk", per_record);
    fprintf(stderr, "trading mix: %.2f bytes/record on disk\n", per_record);
    cr_assert_leq(per_record, 8.0, "%.2f bytes/record", per_record);
    struct tu_read got = {0};
    cr_assert_eq(tu_read_shlog(path, NULL, &got), 0);
    cr_assert_eq(got.n, N);
    tu_read_free(&got);
}

Test(file_roundtrip, follow_waits_for_a_frame_being_written)
{
    struct shm_site s;
    tu_site(&s, 0, "v=%lu", SHMLOG_ARG_U64, 0);
    char path[300], other[300];
    snprintf(path, sizeof(path), "%s/a.shlog", dir);
    snprintf(other, sizeof(other), "%s/b.shlog", dir);
    /* Frames written to another file, then copied over piece by piece. */
    struct tu_file f;
    tu_file_open(&f, other, 1);
    write_range(&f, &s, 7, 0, 100);
    write_range(&f, &s, 7, 100, 200);
    tu_file_close(&f);
    int src = open(other, O_RDONLY), dst = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    uint8_t *all = malloc(f.off);
    cr_assert_eq(pread(src, all, f.off, 0), (ssize_t)f.off);
    cr_assert_eq(pwrite(dst, all, f.frame_end[0], 0), (ssize_t)f.frame_end[0]);

    struct shlog_reader *r;
    char err[256];
    cr_assert_eq(shlog_reader_open(&r, path, 1, NULL, err, sizeof(err)), 0, "%s", err);
    struct tu_read got = {0};
    struct shlog_event ev;
    int rc;
    while ((rc = shlog_reader_next(r, &ev)) > 0)
        tu_read_event(&got, &ev);
    cr_assert_eq(rc, 0);
    cr_assert_eq(got.n, 100);
    /* Half of the next frame: no error, no records, wait. */
    uint64_t half = f.frame_end[0] + (f.frame_end[1] - f.frame_end[0]) / 2;
    cr_assert_eq(pwrite(dst, all + f.frame_end[0], half - f.frame_end[0], (off_t)f.frame_end[0]),
                 (ssize_t)(half - f.frame_end[0]));
    cr_assert_eq(shlog_reader_next(r, &ev), 0);
    cr_assert_eq(got.errors, 0);
    cr_assert_eq(pwrite(dst, all + half, f.frame_end[1] - half, (off_t)half), (ssize_t)(f.frame_end[1] - half));
    while ((rc = shlog_reader_next(r, &ev)) > 0)
        tu_read_event(&got, &ev);
    cr_assert_eq(got.n, 200);
    cr_assert_eq(got.errors, 0);
    shlog_reader_close(r);
    tu_read_free(&got);
    free(all);
    close(src);
    close(dst);
}

/* A file named name in the test's directory, its path in path. */
static void bound_file(struct tu_file *f, char path[300], const char *name)
{
    snprintf(path, 300, "%s/%s", dir, name);
    tu_file_open(f, path, 1);
}

/* One record of site 0 ("no arguments") of process key at position pos. */
static void one_record(struct shlog_enc *enc, uint32_t key, uint64_t pos)
{
    struct shm_copied_record r;
    memset(&r, 0, sizeof(r));
    tu_slots(&r, 0);
    r.pos = pos;
    r.tsc = 1000 + pos;
    r.tid = 77;
    r.level = SHMLOG_LEVEL_INFO;
    cr_assert_eq(shlog_enc_batch_begin(enc, key, 0), 0);
    cr_assert_eq(shlog_enc_record(enc, &r), 0);
    cr_assert_eq(shlog_enc_batch_end(enc), 0);
}

/* Readers keep SHLOG_FILE_MAX_PROCS processes of a file: the encoder defines
 * exactly that many, says the file is full SHLOG_FILE_ROOM_PROCS before, and
 * refuses the next (a file with one more lost every frame after it to its
 * readers); the processes it took, and their records, all read back. */
Test(file_roundtrip, a_file_defines_as_many_processes_as_readers_keep)
{
    char path[300];
    struct tu_file f;
    bound_file(&f, path, "procs.shlog");
    struct shm_site s;
    tu_site(&s, 0, "no arguments", 0);
    struct shm_proc_info pi;
    for (uint32_t key = 1; key <= SHLOG_FILE_MAX_PROCS; key++) {
        cr_assert_eq(shlog_enc_file_full(f.enc), key > SHLOG_FILE_MAX_PROCS - SHLOG_FILE_ROOM_PROCS,
                     "full before process %u", key);
        tu_proc_info(&pi, key, key);
        cr_assert_eq(shlog_enc_process(f.enc, key, &pi), 0, "process %u", key);
        if (key % 8192 == 0)
            tu_file_flush(&f);
    }
    cr_assert(shlog_enc_file_full(f.enc));
    tu_proc_info(&pi, SHLOG_FILE_MAX_PROCS + 1, 1);
    cr_assert_eq(shlog_enc_process(f.enc, SHLOG_FILE_MAX_PROCS + 1, &pi), -ENOSPC, "one process past the bound");
    cr_assert_eq(shlog_enc_has_process(f.enc, SHLOG_FILE_MAX_PROCS + 1), 0);
    tu_proc_info(&pi, 1, 1);
    cr_assert_eq(shlog_enc_process(f.enc, 1, &pi), 0, "a process of the file, defined again");
    for (uint32_t key = 1; key <= SHLOG_FILE_MAX_PROCS; key += SHLOG_FILE_MAX_PROCS - 1) {
        cr_assert_eq(shlog_enc_site(f.enc, key, &s), 0);
        one_record(f.enc, key, 0);
        cr_assert_eq(shlog_enc_exit(f.enc, key, 5, 1, 0, SHLOG_EXIT_SHUTDOWN), 0);
    }
    tu_file_flush(&f);
    tu_file_close(&f);
    struct tu_read got = {0};
    cr_assert_eq(tu_read_shlog(path, NULL, &got), 0);
    cr_assert_eq(got.errors, 0, "readers found damage: %s", got.first_error);
    cr_assert_eq(got.processes, SHLOG_FILE_MAX_PROCS + 1);
    cr_assert_eq(got.n, 2);
    cr_assert_eq(got.rec_pid[0], 1);
    cr_assert_eq(got.rec_pid[1], SHLOG_FILE_MAX_PROCS);
    cr_assert_eq(got.exits, 2);
    tu_read_free(&got);
}

/* Sites and names the same way: the encoder's count of a site is never less
 * than a reader's, so every site it takes up to SHLOG_FILE_MAX_SITE_BYTES
 * reads back, and the first past it is refused; thread names stop at
 * SHLOG_FILE_MAX_NAMES. A frame read apart from its file (a shipper's
 * context) takes all of them too. */
Test(file_roundtrip, a_file_defines_as_many_sites_and_names_as_readers_keep)
{
    char path[300];
    struct tu_file f;
    bound_file(&f, path, "sites.shlog");
    struct shm_proc_info pi;
    tu_proc_info(&pi, 9, 9);
    cr_assert_eq(shlog_enc_process(f.enc, 1, &pi), 0);
    static struct shm_site s;
    tu_site(&s, 0, "", 0);
    memset(s.fmt, 'f', SHMLOG_MAX_FMT_BYTES);
    s.fmt_len = SHMLOG_MAX_FMT_BYTES;
    uint32_t sites = 0;
    int rc;
    while ((rc = shlog_enc_site(f.enc, 1, &s)) == 0) {
        sites++;
        s.id++;
        memcpy(s.fmt, &s.id, sizeof(s.id)); /* each its own */
        if (sites % 2048 == 0)
            tu_file_flush(&f);
    }
    cr_assert_eq(rc, -ENOSPC);
    uint64_t each = SHLOG_FILE_SITE_HEAD_BYTES + s.fmt_len + s.file_len;
    cr_assert_eq(sites, SHLOG_FILE_MAX_SITE_BYTES / each, "%u sites of %lu bytes", sites, (unsigned long)each);
    cr_assert(shlog_enc_file_full(f.enc));
    uint32_t names = 0;
    char name[16];
    do {
        snprintf(name, sizeof(name), "t%u", names);
    } while ((rc = shlog_enc_thread(f.enc, 1, 100 + names, name)) == 0 && ++names);
    cr_assert_eq(rc, -ENOSPC);
    cr_assert_eq(names, SHLOG_FILE_MAX_NAMES);
    tu_file_flush(&f);
    tu_file_close(&f);
    struct tu_read got = {0};
    cr_assert_eq(tu_read_shlog(path, NULL, &got), 0);
    cr_assert_eq(got.errors, 0, "readers found damage: %s", got.first_error);
    cr_assert_eq(got.sites, sites);
    tu_read_free(&got);

    /* The shipper's context learns every definition of every frame. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert(fd >= 0);
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    uint8_t *all = malloc((size_t)st.st_size);
    cr_assert_eq(shlog_pread_full(fd, all, (size_t)st.st_size, 0), st.st_size);
    close(fd);
    struct shlog_context *ctx;
    cr_assert_eq(shlog_context_new(&ctx), 0);
    unsigned frames = 0;
    for (uint64_t off = SHLOG_FILE_HEADER_BYTES; off < (uint64_t)st.st_size; frames++) {
        uint64_t n = shlog_frame_bytes(all + off, (size_t)st.st_size - off);
        cr_assert_gt(n, 0);
        cr_assert_eq(shlog_context_next(ctx, all + off, n, NULL), 0, "frame %u", frames);
        off += n;
    }
    cr_assert_eq(frames, f.nframes);
    shlog_context_free(ctx);
    free(all);
}
