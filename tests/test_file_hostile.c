/* Description: damaged and hostile files never crash the decoder: a file cut at any offset reports a torn frame and returns every whole frame before it; bit flips, holes and bad prefixes lose only the frame they hit; a record that cannot be decoded in a frame that can costs itself (and the later records of its site in its batch), or at worst the rest of its batch, each an error and a counted loss; wrong versions are refused; huge declared lengths and random section bytes are rejected within bounded memory. */
#include "test_util_file.h"

#include <errno.h>
#include <sys/resource.h>
#include <zstd.h>

static char dir[256];
static char path[300];

static void setup(void)
{
    tu_tmpdir(dir, sizeof(dir), "hostile");
    snprintf(path, sizeof(path), "%s/a.shlog", dir);
}
static void teardown(void) { tu_rmtree(dir); }

TestSuite(file_hostile, .init = setup, .fini = teardown, .timeout = 120);

enum { FRAMES = 12, PER_FRAME = 300 };

/* FRAMES frames of PER_FRAME records each (positions 0..), first frame holds
 * the process and site. */
static void write_clean(struct tu_file *f)
{
    struct shm_site s;
    tu_site(&s, 0, "i=%lu s=%s", SHMLOG_ARG_U64, SHMLOG_ARG_STR, 0);
    struct shm_proc_info pi;
    tu_proc_info(&pi, 100, 1);
    tu_file_open(f, path, 1);
    cr_assert_eq(shlog_enc_process(f->enc, 1, &pi), 0);
    cr_assert_eq(shlog_enc_site(f->enc, 1, &s), 0);
    uint64_t pos = 0;
    for (int k = 0; k < FRAMES; k++) {
        cr_assert_eq(shlog_enc_batch_begin(f->enc, 1, 0), 0);
        for (int i = 0; i < PER_FRAME; i++, pos++) {
            struct shm_copied_record r = {0};
            uint64_t v[1] = {pos};
            const char *strs[1] = {pos % 3 ? "short" : "a somewhat longer string value"};
            tu_slots(&r, tu_payload(&r, &s, v, strs));
            r.pos = pos;
            r.tsc = 5000 + pos * 7;
            r.tid = 9;
            cr_assert_eq(shlog_enc_record(f->enc, &r), 0);
            pos += r.nslots - 1;
        }
        cr_assert_eq(shlog_enc_batch_end(f->enc), 0);
        tu_file_flush(f);
    }
    tu_file_close(f);
}

static void corrupt(uint64_t off, uint8_t xor_mask)
{
    int fd = open(path, O_RDWR);
    uint8_t b;
    cr_assert_eq(pread(fd, &b, 1, (off_t)off), 1);
    b ^= xor_mask;
    cr_assert_eq(pwrite(fd, &b, 1, (off_t)off), 1);
    close(fd);
}

/* Records of a good read must be exactly the records of frames `good` (a
 * bitmask), in order, each carrying its value. */
static void assert_frames(const struct tu_read *got, const struct tu_file *f, uint32_t good)
{
    size_t want = 0;
    for (unsigned k = 0; k < f->nframes; k++)
        if (good & (1u << k))
            want += f->frame_records[k];
    cr_assert_eq(got->n, want, "records %zu, expected %zu", got->n, want);
    for (size_t i = 0; i < got->n; i++) {
        uint64_t v;
        memcpy(&v, got->recs[i]->payload, 8);
        cr_assert_eq(v, got->recs[i]->pos, "record %zu carries %lu at position %lu", i, v, got->recs[i]->pos);
    }
}

/* dst: the first n bytes of src (in the process: a shell and head for each of 400 cuts were most of
 * the test's time). */
static void copy_prefix(const char *src, const char *dst, uint64_t n)
{
    int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(in >= 0 && out >= 0, "%s, %s: %s", src, dst, strerror(errno));
    off_t at = 0;
    while ((uint64_t)at < n) {
        ssize_t k = copy_file_range(in, &at, out, NULL, (size_t)(n - (uint64_t)at), 0);
        cr_assert_gt(k, 0, "copying %s: %s", src, k < 0 ? strerror(errno) : "short");
    }
    close(in);
    close(out);
}

Test(file_hostile, cut_at_every_frame_and_random_offsets)
{
    struct tu_file f;
    write_clean(&f);
    uint64_t size = f.off;
    char full[300];
    snprintf(full, sizeof(full), "%s/full", dir);
    cr_assert_eq(rename(path, full), 0);
    srand(3);
    for (int trial = 0; trial < 400; trial++) {
        /* Cuts at, just before and just after frame ends, and anywhere. */
        uint64_t cut;
        unsigned k = (unsigned)rand() % f.nframes;
        switch (trial % 4) {
        case 0: cut = f.frame_end[k]; break;
        case 1: cut = f.frame_end[k] - 1 - (uint64_t)(rand() % 20); break;
        case 2: cut = f.frame_end[k] + 1 + (uint64_t)(rand() % 15); break;
        default: cut = SHLOG_FILE_HEADER_BYTES + (uint64_t)rand() % (size - SHLOG_FILE_HEADER_BYTES); break;
        }
        if (cut > size)
            cut = size;
        copy_prefix(full, path, cut);
        unsigned whole = 0;
        while (whole < f.nframes && f.frame_end[whole] <= cut)
            whole++;
        int at_boundary = cut == SHLOG_FILE_HEADER_BYTES || (whole && f.frame_end[whole - 1] == cut);
        struct tu_read got = {0};
        cr_assert_eq(tu_read_shlog(path, NULL, &got), 0);
        assert_frames(&got, &f, (1u << whole) - 1);
        cr_assert_eq(got.torn, at_boundary ? 0u : 1u, "cut at %lu: torn reported %zu times", cut, got.torn);
        cr_assert_eq(got.errors, got.torn, "cut at %lu: %s", cut, got.first_error);
        tu_read_free(&got);
    }
}

Test(file_hostile, bit_flip_in_a_frame_loses_only_that_frame)
{
    struct tu_file f;
    write_clean(&f);
    /* Frame 4's compressed bytes: the zstd checksum catches the flip. */
    uint64_t at = f.frame_end[3] + SHLOG_FRAME_PREFIX_BYTES + (f.frame_end[4] - f.frame_end[3]) / 2;
    corrupt(at, 0x10);
    struct tu_read got = {0};
    cr_assert_eq(tu_read_shlog(path, NULL, &got), 0);
    cr_assert_eq(got.errors, 1, "errors: %zu", got.errors);
    assert_frames(&got, &f, ((1u << FRAMES) - 1) & ~(1u << 4));
    tu_read_free(&got);
}

Test(file_hostile, bad_prefix_resyncs_to_the_next_frame)
{
    struct tu_file f;
    write_clean(&f);
    corrupt(f.frame_end[5] + 5, 0xff); /* zbytes of frame 6: prefix check fails */
    struct tu_read got = {0};
    cr_assert_eq(tu_read_shlog(path, NULL, &got), 0);
    cr_assert_eq(got.errors, 1);
    assert_frames(&got, &f, ((1u << FRAMES) - 1) & ~(1u << 6));
    tu_read_free(&got);
}

Test(file_hostile, hole_of_zeros_from_an_unfinished_write)
{
    struct tu_file f;
    write_clean(&f);
    int fd = open(path, O_RDWR);
    uint64_t from = f.frame_end[1], n = f.frame_end[3] - from; /* frames 2 and 3 never landed */
    uint8_t *zeros = calloc(1, n);
    cr_assert_eq(pwrite(fd, zeros, n, (off_t)from), (ssize_t)n);
    free(zeros);
    close(fd);
    struct tu_read got = {0};
    cr_assert_eq(tu_read_shlog(path, NULL, &got), 0);
    cr_assert_eq(got.errors, 1);
    assert_frames(&got, &f, ((1u << FRAMES) - 1) & ~(3u << 2));
    tu_read_free(&got);
}

Test(file_hostile, wrong_version_or_magic_is_refused)
{
    struct tu_file f;
    write_clean(&f);
    struct shlog_reader *r;
    char err[512];
    corrupt(8, 0x01); /* another version; the header check catches it first */
    cr_assert_eq(shlog_reader_open(&r, path, 0, NULL, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "checksum") != NULL, "%s", err);
    /* A header with a valid check and another version. */
    uint8_t hb[SHLOG_FILE_HEADER_BYTES];
    struct shlog_file_header h = {.file_seq = 1};
    shlog_file_header_encode(hb, &h);
    hb[8] = (uint8_t)(SHLOG_FILE_VERSION + 1);
    uint32_t c = tu_fnv(hb, 124);
    memcpy(hb + 124, &c, 4);
    int fd = open(path, O_RDWR);
    cr_assert_eq(pwrite(fd, hb, sizeof(hb), 0), (ssize_t)sizeof(hb));
    close(fd);
    cr_assert_eq(shlog_reader_open(&r, path, 0, NULL, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "version") != NULL, "%s", err);
    /* Not a shmlog file at all. */
    fd = open(path, O_RDWR | O_TRUNC);
    cr_assert_eq(write(fd, "hello\n", 6), 6);
    close(fd);
    cr_assert_lt(shlog_reader_open(&r, path, 0, NULL, err, sizeof(err)), 0);
}

Test(file_hostile, huge_declared_lengths_are_rejected)
{
    struct tu_file f;
    write_clean(&f);
    int fd = open(path, O_RDWR);
    uint64_t off = f.off;
    /* A prefix claiming 4 GiB of content: refused before any allocation. */
    uint8_t pre[16];
    uint32_t w[3] = {SHLOG_FRAME_MAGIC, 100, 0xffffffffu};
    memcpy(pre, w, 12);
    uint32_t c = tu_fnv(pre, 12);
    memcpy(pre + 12, &c, 4);
    cr_assert_eq(pwrite(fd, pre, 16, (off_t)off), 16);
    off += 16;
    /* A frame whose declared size differs from the zstd content size. */
    uint8_t sec[] = {SHLOG_SEC_EXIT, 4, 1, 0, 0, 0};
    tu_append_raw_frame(fd, &off, sec, sizeof(sec), 1000);
    /* Sections with absurd lengths, counts and column sizes. */
    uint8_t huge_section[] = {SHLOG_SEC_SITE, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3};
    tu_append_raw_frame(fd, &off, huge_section, sizeof(huge_section), sizeof(huge_section));
    uint8_t huge_count[] = {SHLOG_SEC_BATCH, 10, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0};
    tu_append_raw_frame(fd, &off, huge_count, sizeof(huge_count), sizeof(huge_count));
    uint8_t huge_col[] = {SHLOG_SEC_BATCH, 12, 1, 0, 0, 5, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0};
    tu_append_raw_frame(fd, &off, huge_col, sizeof(huge_col), sizeof(huge_col));
    uint8_t long_fmt[] = {SHLOG_SEC_SITE, 12, 1, 0, 1, 2, 0, 0, 0xff, 0xff, 0x03, 'a', 'b', 'c'};
    tu_append_raw_frame(fd, &off, long_fmt, sizeof(long_fmt), sizeof(long_fmt));
    /* A record of a process the file never defined. */
    uint8_t no_proc[] = {SHLOG_SEC_BATCH, 4, 99, 0, 0, 1};
    tu_append_raw_frame(fd, &off, no_proc, sizeof(no_proc), sizeof(no_proc));
    close(fd);

    struct tu_read got = {0};
    cr_assert_eq(tu_read_shlog(path, NULL, &got), 0);
    assert_frames(&got, &f, (1u << FRAMES) - 1);
    cr_assert_eq(got.errors, 7, "errors: %zu (%s)", got.errors, got.first_error);
    tu_read_free(&got);
}

Test(file_hostile, random_sections_never_crash_and_stay_bounded)
{
    /* The address space cap turns an unbounded allocation into a failure
     * (not under AddressSanitizer, whose shadow memory needs terabytes). */
#if !defined(__SANITIZE_ADDRESS__)
    struct rlimit rl = {1ull << 30, 1ull << 30};
    cr_assert_eq(setrlimit(RLIMIT_AS, &rl), 0);
#endif
    struct tu_file f;
    write_clean(&f);
    int fd = open(path, O_RDWR);
    uint64_t off = f.off;
    srand(11);
    uint8_t raw[512];
    for (int i = 0; i < 3000; i++) {
        size_t n = 1 + (size_t)rand() % sizeof(raw);
        for (size_t k = 0; k < n; k++)
            raw[k] = (uint8_t)rand();
        raw[0] = (uint8_t)(1 + rand() % 6); /* mostly known section types */
        if (rand() % 2)
            raw[2] = 1; /* the defined process key */
        tu_append_raw_frame(fd, &off, raw, n, (uint32_t)n);
    }
    close(fd);
    struct tu_read got = {0};
    cr_assert_eq(tu_read_shlog(path, NULL, &got), 0);
    cr_assert_geq(got.n, (size_t)FRAMES * PER_FRAME);
    tu_read_free(&got);
}

/* ==== A record that cannot be decoded in a frame that can ==== */

/* One frame: batch A of ring 0 alternates site 0 (n=%d, n = 1) and site 1
 * (px=%f, 101.25, sym=%s, "sym") over 6 records; batch B of ring 1 holds 4
 * of site 0; then the process's EXIT. Returns the frame's decompressed
 * sections in raw (*n bytes), the file cut before the frame. */
static void write_two_batches(uint8_t *raw, size_t cap, size_t *n)
{
    struct shm_site s[2];
    tu_site(&s[0], 0, "n=%d", SHMLOG_ARG_I32, 0);
    tu_site(&s[1], 1, "px=%f sym=%s", SHMLOG_ARG_F64, SHMLOG_ARG_STR, 0);
    struct shm_proc_info pi;
    tu_proc_info(&pi, 100, 1);
    struct tu_file f;
    tu_file_open(&f, path, 1);
    cr_assert_eq(shlog_enc_process(f.enc, 1, &pi), 0);
    cr_assert_eq(shlog_enc_site(f.enc, 1, &s[0]), 0);
    cr_assert_eq(shlog_enc_site(f.enc, 1, &s[1]), 0);
    for (uint32_t cpu = 0; cpu < 2; cpu++) {
        cr_assert_eq(shlog_enc_batch_begin(f.enc, 1, cpu), 0);
        for (uint64_t i = 0; i < (cpu ? 4u : 6u); i++) {
            struct shm_copied_record r = {0};
            const struct shm_site *site = &s[cpu == 0 && i % 2];
            double px = 101.25;
            uint64_t v[2] = {1, 0};
            if (site->id == 1)
                memcpy(&v[0], &px, sizeof px);
            const char *strs[1] = {"sym"};
            tu_slots(&r, tu_payload(&r, site, v, strs));
            r.site = site->id;
            r.pos = i;
            r.tsc = 5000 + i;
            r.tid = 9;
            cr_assert_eq(shlog_enc_record(f.enc, &r), 0);
        }
        cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
    }
    cr_assert_eq(shlog_enc_exit(f.enc, 1, 123, 10, 0, SHLOG_EXIT_SHUTDOWN), 0);
    tu_file_flush(&f);
    tu_file_close(&f);
    /* the frame's content, and the file without it */
    uint8_t *frame = malloc(f.off);
    cr_assert(frame);
    int fd = open(path, O_RDWR);
    uint64_t start = SHLOG_FILE_HEADER_BYTES;
    cr_assert_eq(pread(fd, frame, f.off - start, (off_t)start), (ssize_t)(f.off - start));
    size_t got = ZSTD_decompress(raw, cap, frame + SHLOG_FRAME_PREFIX_BYTES, f.off - start - SHLOG_FRAME_PREFIX_BYTES);
    cr_assert(!ZSTD_isError(got));
    *n = got;
    cr_assert_eq(ftruncate(fd, (off_t)start), 0);
    close(fd);
    free(frame);
}

static uint64_t raw_varint(const uint8_t **p)
{
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
}

/* The args column of the first BATCH section in raw. */
static uint8_t *first_args_column(uint8_t *raw, size_t n)
{
    const uint8_t *p = raw;
    while (p < raw + n) {
        uint8_t type = *p++;
        uint64_t len = raw_varint(&p);
        if (type != SHLOG_SEC_BATCH) {
            p += len;
            continue;
        }
        for (int i = 0; i < 5; i++) /* proc, cpu, first_pos, count, base_tsc */
            raw_varint(&p);
        for (int col = 0; col < 6; col++) /* gap, nslots, tsc, site, tid, attr */
            p += raw_varint(&p);
        raw_varint(&p);
        return (uint8_t *)p;
    }
    cr_assert_fail("no BATCH section");
    return NULL;
}

/* Writes the sections back as the file's one frame and reads the file. */
static void rewrite_and_read(const uint8_t *raw, size_t n, struct tu_read *got)
{
    int fd = open(path, O_RDWR);
    uint64_t off = SHLOG_FILE_HEADER_BYTES;
    tu_append_raw_frame(fd, &off, raw, n, (uint32_t)n);
    close(fd);
    cr_assert_eq(tu_read_shlog(path, NULL, got), 0);
}

/* A token the encoder never writes (a decimal scale of 17) in one record:
 * that record is an error and a loss; the later records of its site in the
 * batch, coded against it, are lost too; every other record, the other
 * batch and the EXIT read as written. */
Test(file_hostile, an_undecodable_record_costs_itself_and_its_sites_later_records_in_the_batch)
{
    static uint8_t raw[1 << 16];
    size_t n;
    write_two_batches(raw, sizeof raw, &n);
    uint8_t *args = first_args_column(raw, n);
    /* record 0: n = 1 (zigzag 2); record 1: 101.25 at the new scale 2 (h = 3 << 1 | 1) */
    cr_assert(args[0] == 2 && args[1] == 7, "args column starts %02x %02x", args[0], args[1]);
    args[1] = 2 * (17 + 1) + 1; /* a new scale of 17: past DECIMAL_MAX_SCALE */
    struct tu_read got = {0};
    rewrite_and_read(raw, n, &got);
    cr_assert_eq(got.errors, 1, "errors: %zu (%s)", got.errors, got.first_error);
    cr_assert(strstr(got.first_error, "record damaged") && strstr(got.first_error, "ring position 1"),
              "%s", got.first_error);
    cr_assert_eq(got.lost[SHM_LOSS_UNDECODABLE], 3, "records 1, 3 and 5 of batch A");
    cr_assert_eq(got.n, 3 + 4);
    for (size_t i = 0; i < 3; i++) /* site 0's records of batch A, then batch B */
        cr_assert(got.recs[i]->site == 0 && got.recs[i]->pos == 2 * i && got.rec_cpu[i] == 0, "record %zu", i);
    for (size_t i = 3; i < 7; i++)
        cr_assert(got.recs[i]->pos == i - 3 && got.rec_cpu[i] == 1, "record %zu", i);
    cr_assert_eq(got.exits, 1);
    tu_read_free(&got);
}

/* A string token naming a slot of an empty table: nothing says where its
 * record ends, so the rest of its batch is lost (an error, then one loss of
 * those records), and the frame's other sections read as written. */
Test(file_hostile, a_record_that_cannot_be_passed_over_costs_the_rest_of_its_batch_only)
{
    static uint8_t raw[1 << 16];
    size_t n;
    write_two_batches(raw, sizeof raw, &n);
    uint8_t *args = first_args_column(raw, n);
    /* record 1: h = 7, the varint of zigzag(10125), then "sym" as a literal (3 << 1) */
    const uint8_t *m = args + 2;
    raw_varint(&m);
    uint8_t *str = args + (m - args);
    cr_assert(*str == 3 << 1, "the string token is %02x", *str);
    *str = 7 << 1 | 1; /* slot 7 of a table that has none */
    struct tu_read got = {0};
    rewrite_and_read(raw, n, &got);
    cr_assert_eq(got.errors, 1, "errors: %zu (%s)", got.errors, got.first_error);
    cr_assert(strstr(got.first_error, "so are the 4 records after it"), "%s", got.first_error);
    cr_assert_eq(got.lost[SHM_LOSS_UNDECODABLE], 5);
    cr_assert_eq(got.n, 1 + 4);
    cr_assert(got.recs[0]->pos == 0 && got.rec_cpu[0] == 0);
    for (size_t i = 1; i < 5; i++)
        cr_assert(got.recs[i]->pos == i - 1 && got.rec_cpu[i] == 1, "record %zu", i);
    cr_assert_eq(got.exits, 1);
    tu_read_free(&got);
}
