/* Description: the index the encoder writes (FORMAT.md, "Index") sums up each frame exactly for sets (records, levels, categories, pids, the subject's range) and its Bloom filter has no false negatives (every string field and word of a frame's records, its app and call sites); a closed file's footer is found from its end, a file without one (a .part) is walked and indexed as far as its index frames go; a corrupted or truncated index is refused with a reason while the file still reads frame by frame; the corpus's files from before the index are listed frame by frame, none summed up; a plain frame's entry (records and anchors only) lists each ring's last and most TSC and its CLOCK section, which a reader takes in place of the frame (its anchors, none of its records), and a frame with a name, a loss or a backtrace is not plain; a site of more distinct grams than it keeps leaves its index frames without a gram filter, which then rules nothing out, where a plain site's rules out a part of a word no message holds. */
#include "test_util_file.h"

#include <sys/stat.h>

static char dir[256];

static void setup(void) { tu_tmpdir(dir, sizeof(dir), "index"); }
static void teardown(void) { tu_rmtree(dir); }

TestSuite(file_index, .init = setup, .fini = teardown, .timeout = 120);

enum { FRAMES = 40, PER_FRAME = 4000, NSYM = 7 };
static const char *const syms[NSYM] = {"AAPL", "MSFT", "GOOG", "AMZN", "TSLA", "NVDA", "META"};

/* What each frame holds, as the test wrote it. */
struct truth {
    uint8_t levels;
    uint64_t categories;
    uint32_t pids[2];
    unsigned npids;
    uint64_t records;
    uint64_t ids[PER_FRAME];
    unsigned syms; /* bit s: syms[s] */
    uint64_t tsc_min, tsc_max;
};
static struct truth truth[FRAMES];

static void add_pid(struct truth *t, uint32_t pid)
{
    for (unsigned i = 0; i < t->npids; i++)
        if (t->pids[i] == pid)
            return;
    t->pids[t->npids++] = pid;
}

/* The file's footer after its last frame. */
static void write_footer(struct tu_file *f)
{
    size_t cap = shlog_enc_footer_bound(f->enc);
    void *buf = malloc(cap);
    long n = shlog_enc_footer(f->enc, buf, cap);
    cr_assert(n > 0);
    cr_assert_eq(pwrite(f->fd, buf, (size_t)n, (off_t)f->off), n);
    free(buf);
}

/* Writes FRAMES frames of two processes' records, and the footer when footer. */
static void write_file(const char *path, int footer)
{
    srand(7);
    struct shm_site s;
    tu_site(&s, 1, "order id=%lu sym=%s qty=%d px=%f note=%s", SHMLOG_ARG_U64, SHMLOG_ARG_STR, SHMLOG_ARG_I32,
            SHMLOG_ARG_F64, SHMLOG_ARG_STR, 0);
    struct tu_file f;
    tu_file_open(&f, path, 1);
    struct shm_proc_info pi[2];
    tu_proc_info(&pi[0], 777, 1);
    tu_proc_info(&pi[1], 888, 2);
    for (uint32_t p = 0; p < 2; p++) {
        cr_assert_eq(shlog_enc_process(f.enc, p, &pi[p]), 0);
        cr_assert_eq(shlog_enc_site(f.enc, p, &s), 0);
    }
    uint64_t pos[2] = {0, 0}, tsc = 1000000000ull, id = 1;
    memset(truth, 0, sizeof(truth));
    for (int fr = 0; fr < FRAMES; fr++) {
        struct truth *t = &truth[fr];
        t->tsc_min = UINT64_MAX;
        uint32_t p = (uint32_t)(fr % 3 == 0 ? 1 : 0); /* some frames of both */
        for (int b = 0; b < (fr % 5 == 0 ? 2 : 1); b++, p ^= 1) {
            cr_assert_eq(shlog_enc_batch_begin(f.enc, p, 0), 0);
            add_pid(t, pi[p].pid);
            for (int k = 0; k < PER_FRAME / 2; k++) {
                struct shm_copied_record r;
                memset(&r, 0, sizeof(r));
                int sym = rand() % NSYM;
                /* values repeat as a market's do: an order's id a few times, a few prices and sizes */
                double px = 100.0 + (rand() % 20) * 0.01;
                int32_t qty = -(rand() % 10);
                uint64_t vals[5] = {id, 0, (uint64_t)(uint32_t)qty, 0, 0};
                memcpy(&vals[3], &px, 8);
                const char *strs[2] = {syms[sym], fr == 13 ? "needle in haystack" : "routine fill"};
                size_t used = tu_payload(&r, &s, vals, strs);
                tu_slots(&r, used);
                r.pos = pos[p];
                pos[p] += r.nslots;
                tsc += 1000 + (uint64_t)(rand() % 1000);
                r.tsc = tsc;
                r.site = 1;
                r.tid = 5;
                r.level = (uint8_t)(fr % 6 == 0 ? SHMLOG_LEVEL_ERROR : rand() % 2 ? SHMLOG_LEVEL_INFO : SHMLOG_LEVEL_DEBUG);
                r.category = (uint8_t)(fr % 4 == 0 ? 9 : rand() % 3);
                cr_assert_eq(shlog_enc_record(f.enc, &r), 0);
                t->levels |= (uint8_t)(1u << r.level);
                t->categories |= 1ull << r.category;
                t->ids[t->records++] = id;
                id += k % 4 == 3;
                t->syms |= 1u << sym;
                t->tsc_min = tsc < t->tsc_min ? tsc : t->tsc_min;
                t->tsc_max = tsc;
            }
            cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
        }
        tu_file_flush(&f);
    }
    if (footer) {
        write_footer(&f);
    }
    tu_file_close(&f);
}

static struct shlog_index *open_summaries(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert(fd >= 0);
    struct shlog_index *ix;
    char err[256] = "";
    cr_assert_eq(shlog_index_open(&ix, fd, err, sizeof(err)), 0, "%s", err);
    close(fd);
    return ix;
}

static struct shlog_index *open_index(const char *path)
{
    struct shlog_index *ix = open_summaries(path);
    /* the filters too (version 3 reads them when asked), from the index's own descriptor */
    for (size_t i = 0; i < shlog_index_count(ix); i++) {
        const struct shlog_index_frame *f = shlog_index_frame(ix, i);
        cr_assert_eq(shlog_index_filters(ix, f), 0, "frame %zu's filters: %s", i, shlog_index_note(ix));
        cr_assert(!f->indexed || !f->bloom_blocks || f->bloom, "frame %zu's filter read", i);
    }
    return ix;
}

/* Every frame of the file read with the reader: records, and no damage. */
static void assert_reads_whole(const char *path, size_t want_errors)
{
    struct tu_read rd = {0};
    cr_assert_eq(tu_read_shlog(path, NULL, &rd), 0);
    size_t want = 0;
    for (int i = 0; i < FRAMES; i++)
        want += truth[i].records;
    cr_assert_eq(rd.n, want, "records %zu of %zu", rd.n, want);
    cr_assert_eq(rd.errors, want_errors, "errors %zu: %s", rd.errors, rd.first_error);
    tu_read_free(&rd);
}

static double ns_of(uint64_t tsc)
{
    return 1700000000000000000.0 + ((double)tsc - 123456789.0) * 1e9 / 3e9;
}

/* The entry of frame i says exactly what the test wrote into it. */
static void assert_entry(const struct shlog_index_frame *e, int i)
{
    const struct truth *t = &truth[i];
    char buf[64];
    cr_assert(e->indexed, "frame %d not indexed", i);
    cr_assert_eq(e->records, t->records, "frame %d records", i);
    cr_assert_eq(e->levels, t->levels, "frame %d levels %x != %x", i, e->levels, t->levels);
    cr_assert_eq(e->categories, t->categories, "frame %d categories", i);
    cr_assert_eq(e->tsc_min, t->tsc_min, "frame %d tsc_min", i);
    cr_assert_eq(e->tsc_max, t->tsc_max, "frame %d tsc_max", i);
    cr_assert_eq(e->npids, t->npids, "frame %d npids", i);
    for (unsigned k = 0; k < t->npids; k++)
        cr_assert(e->pids[0] == t->pids[k] || (e->npids > 1 && e->pids[1] == t->pids[k]), "frame %d pid", i);
    cr_assert(e->timed);
    cr_assert(e->ns_min <= (uint64_t)ns_of(t->tsc_min) + 1000 && e->ns_max + 1000 >= (uint64_t)ns_of(t->tsc_max),
              "frame %d time", i);
    /* no false negatives: every value, word, app and site it holds */
    for (uint64_t k = 0; k < t->records; k++) {
        snprintf(buf, sizeof(buf), "%lu", t->ids[k]);
        struct shlog_index_field fld = {"id", buf};
        struct shlog_index_query q = {.fields = &fld, .nfields = 1};
        cr_assert(shlog_index_may_match(e, &q), "frame %d: id=%s", i, buf);
    }
    for (int s = 0; s < NSYM; s++) {
        struct shlog_index_field fld = {"sym", syms[s]};
        const char *w = syms[s];
        struct shlog_index_query q = {.fields = &fld, .nfields = 1}, qw = {.words = &w, .nwords = 1};
        if (t->syms >> s & 1) {
            cr_assert(shlog_index_may_match(e, &q), "frame %d: sym=%s", i, syms[s]);
            cr_assert(shlog_index_may_match(e, &qw), "frame %d: word %s", i, syms[s]);
        }
    }
    const char *fmt_word = "order", *app = "app777";
    struct shlog_index_query q = {.words = &fmt_word, .nwords = 1, .site = "src/file1.c:101"};
    cr_assert(shlog_index_may_match(e, &q), "frame %d: the format's word and the site", i);
    if (t->pids[0] == 777 || (t->npids > 1 && t->pids[1] == 777)) {
        struct shlog_index_query qa = {.app = app};
        cr_assert(shlog_index_may_match(e, &qa), "frame %d: app", i);
    }
    /* the exact sets rule frames out */
    struct shlog_index_query ql = {.levels = (uint8_t)~t->levels}, qc = {.categories = ~t->categories};
    cr_assert_eq(shlog_index_may_match(e, &ql), (uint8_t)~t->levels & e->levels ? 1 : 0);
    cr_assert_eq(shlog_index_may_match(e, &qc), 0);
    uint32_t other = 4242;
    struct shlog_index_query qp = {.pids = &other, .npids = 1};
    cr_assert_eq(shlog_index_may_match(e, &qp), 0, "frame %d: pid 4242", i);
    struct shlog_index_query qt = {.since_ns = (uint64_t)ns_of(t->tsc_max) + 2 * SHLOG_INDEX_TIME_SLACK_NS};
    cr_assert_eq(shlog_index_may_match(e, &qt), 0, "frame %d: a time after it", i);
    /* its records' thread (every record of the test's is thread 5's) */
    const uint32_t five = 5, others[] = {6, 7, 8};
    cr_assert(e->tids, "frame %d: its filter holds its threads", i);
    cr_assert(shlog_index_may_match(e, &(struct shlog_index_query){.tids = &five, .ntids = 1}), "frame %d: tid 5", i);
    cr_assert_eq(shlog_index_may_match(e, &(struct shlog_index_query){.tids = others, .ntids = 0}), 0,
                 "frame %d: no thread at all", i);
    struct shlog_index_query qin = {.since_ns = (uint64_t)ns_of(t->tsc_min), .until_ns = (uint64_t)ns_of(t->tsc_min) + 1};
    cr_assert(shlog_index_may_match(e, &qin), "frame %d: its first record's time", i);
}

Test(file_index, footer_sums_up_every_frame_exactly)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/a.shlog", dir);
    write_file(path, 1);
    struct shlog_index *ix = open_index(path);
    cr_assert(shlog_index_from_footer(ix), "footer: %s", shlog_index_note(ix));
    cr_assert_null(shlog_index_note(ix), "%s", shlog_index_note(ix));
    cr_assert_eq(shlog_index_count(ix), FRAMES);
    /* each index frame taken, at its whole size (a reader goes on after it): the first after the 16th frame */
    const struct shlog_index_frame *sixteenth = shlog_index_frame(ix, SHLOG_INDEX_EVERY - 1);
    uint64_t block = sixteenth->offset + sixteenth->bytes;
    cr_assert_eq(block + shlog_index_block_at(ix, block), shlog_index_frame(ix, SHLOG_INDEX_EVERY)->offset);
    unsigned rare_hits = 0, absent_hits = 0, mid_hits = 0, qty_hits = 0, other_tids = 0;
    char mid[32];
    snprintf(mid, sizeof(mid), "%lu", truth[20].ids[PER_FRAME / 4]);
    for (int i = 0; i < FRAMES; i++) {
        const struct shlog_index_frame *e = shlog_index_frame(ix, i);
        assert_entry(e, i);
        const char *w = "needle";
        struct shlog_index_query q = {.words = &w, .nwords = 1};
        rare_hits += (unsigned)shlog_index_may_match(e, &q);
        struct shlog_index_field fld = {"id", "99999999"}, in = {"id", mid}, qty = {"qty", "123456"};
        struct shlog_index_query qa = {.fields = &fld, .nfields = 1}, qm = {.fields = &in, .nfields = 1},
                                 qq = {.fields = &qty, .nfields = 1};
        absent_hits += (unsigned)shlog_index_may_match(e, &qa);
        mid_hits += (unsigned)shlog_index_may_match(e, &qm);
        qty_hits += (unsigned)shlog_index_may_match(e, &qq);
        other_tids += (unsigned)shlog_index_may_match(e, &(struct shlog_index_query){
            .tids = (const uint32_t[]){6, 7, 8, 4}, .ntids = 4});
    }
    cr_assert(shlog_index_may_match(shlog_index_frame(ix, 13), &(struct shlog_index_query){
        .words = (const char *const[]){"needle"}, .nwords = 1}));
    /* a filter of at most 4 % of a frame's bytes, not a list: it says "maybe" of some frames that do
     * not hold a word */
    cr_assert_lt(rare_hits, FRAMES / 4, "the rare word in %u frames", rare_hits);
    /* the subject (id, the first integer) by its range: the ids grow, so one frame holds an id */
    cr_assert_eq(absent_hits, 0, "an id past every frame's in %u frames", absent_hits);
    cr_assert_eq(mid_hits, 1, "an id inside frame 20 in %u frames", mid_hits);
    /* a second integer (qty) is named unindexed: any frame of its site may hold any value of it */
    cr_assert_eq(qty_hits, FRAMES, "qty in %u frames", qty_hits);
    cr_assert_lt(other_tids, FRAMES / 4, "threads of no record in %u frames", other_tids);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(shlog_index_end(ix) + 0 <= (uint64_t)st.st_size, 1);
    shlog_index_close(ix);
    assert_reads_whole(path, 0);
}

/* Bytes this process has read (rchar of /proc/self/io). */
static uint64_t bytes_read(void)
{
    char buf[512];
    ssize_t n = tu_read_file("/proc/self/io", buf, sizeof(buf) - 1);
    cr_assert(n > 0);
    buf[n] = '\0';
    const char *r = strstr(buf, "rchar:");
    cr_assert(r);
    return strtoull(r + 6, NULL, 10);
}

/* A reader passes over an index frame (a skippable zstd frame) by its head
 * and its last byte: its payload, which decodes to nothing, is not read. */
Test(file_index, a_reader_passes_over_index_frames_unread)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/a.shlog", dir);
    write_file(path, 1);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    struct shlog_index *ix = open_summaries(path);
    uint64_t skipped = 0; /* the index frames' payloads, less the head read of each */
    for (uint64_t off = SHLOG_FILE_HEADER_BYTES; off < (uint64_t)st.st_size;) {
        uint64_t b = shlog_index_block_at(ix, off);
        size_t i = 0;
        while (!b && i < shlog_index_count(ix) && shlog_index_frame(ix, i)->offset != off)
            i++;
        cr_assert(b || i < shlog_index_count(ix), "offset %llu is a frame or an index frame", (unsigned long long)off);
        skipped += b ? b - 16 - 8 - 1 : 0;
        off += b ? b : shlog_index_frame(ix, i)->bytes;
    }
    shlog_index_close(ix);
    cr_assert_gt(skipped, 1000u);
    struct shlog_reader *r;
    char err[256];
    cr_assert_eq(shlog_reader_open(&r, path, 0, NULL, err, sizeof(err)), 0, "%s", err);
    struct shlog_event ev;
    uint64_t records = 0, before = bytes_read();
    int rc;
    while ((rc = shlog_reader_next(r, &ev)) > 0)
        records += ev.kind == SHLOG_EV_RECORD;
    uint64_t read = bytes_read() - before;
    cr_assert_eq(rc, 0);
    cr_assert_eq(shlog_reader_stats(r)->frames, FRAMES + 3, "every frame, the index frames counted");
    shlog_reader_close(r);
    uint64_t want = 0;
    for (int i = 0; i < FRAMES; i++)
        want += truth[i].records;
    cr_assert_eq(records, want);
    cr_assert_leq(read, (uint64_t)st.st_size - skipped, "read %llu of %llu bytes, of which %llu are index frames'",
                  (unsigned long long)read, (unsigned long long)st.st_size, (unsigned long long)skipped);
}

Test(file_index, a_part_is_walked_as_far_as_its_index_frames)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/a.shlog.part", dir);
    write_file(path, 0);
    struct shlog_index *ix = open_index(path);
    cr_assert(!shlog_index_from_footer(ix));
    cr_assert_not_null(shlog_index_note(ix));
    cr_assert(strstr(shlog_index_note(ix), "no footer"), "%s", shlog_index_note(ix));
    cr_assert_eq(shlog_index_count(ix), FRAMES);
    for (int i = 0; i < FRAMES; i++) {
        const struct shlog_index_frame *e = shlog_index_frame(ix, i);
        if (i < (int)(FRAMES / SHLOG_INDEX_EVERY * SHLOG_INDEX_EVERY)) {
            assert_entry(e, i);
        } else {
            cr_assert(!e->indexed, "frame %d after the last index frame", i);
            cr_assert(shlog_index_may_match(e, &(struct shlog_index_query){.levels = 1u << 7}));
        }
    }
    shlog_index_close(ix);
    assert_reads_whole(path, 0);
}

/* Flips a byte at off (from the end when negative) of the file. */
static void flip(const char *path, long off)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    off_t at = off < 0 ? st.st_size + off : off;
    uint8_t b;
    cr_assert_eq(pread(fd, &b, 1, at), 1);
    b ^= 0x40;
    cr_assert_eq(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

Test(file_index, a_corrupted_or_truncated_index_is_refused_and_the_file_still_reads)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/a.shlog", dir);
    /* the trailer's check, the footer's entries (after its prefix, skippable frame and head), the trailer's magic */
    const long where[] = {-8, 16 + 8 + 20 + 3, -1};
    const char *says[] = {"fails its check", "check fails", "no footer"};
    for (int k = 0; k < 3; k++) {
        write_file(path, 1);
        if (k == 1) { /* from the footer's offset, which the trailer holds */
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            struct stat st;
            uint8_t t[8];
            cr_assert(fd >= 0 && fstat(fd, &st) == 0 && pread(fd, t, 8, st.st_size - 32) == 8);
            close(fd);
            uint64_t footer = 0;
            for (int b = 7; b >= 0; b--)
                footer = footer << 8 | t[b];
            flip(path, (long)footer + where[k]);
        } else {
            flip(path, where[k]);
        }
        struct shlog_index *ix = open_index(path);
        cr_assert(!shlog_index_from_footer(ix), "case %d", k);
        cr_assert(shlog_index_note(ix) && strstr(shlog_index_note(ix), says[k]), "case %d: %s", k,
                  shlog_index_note(ix));
        /* the frames of the index frames before it are still indexed by the walk */
        cr_assert_eq(shlog_index_count(ix), FRAMES);
        assert_entry(shlog_index_frame(ix, 0), 0);
        shlog_index_close(ix);
        assert_reads_whole(path, 0);
    }
    /* cut inside the footer: a torn last frame for the reader, no footer for the index */
    write_file(path, 1);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(truncate(path, st.st_size - 5), 0);
    struct shlog_index *ix = open_index(path);
    cr_assert(!shlog_index_from_footer(ix));
    cr_assert_eq(shlog_index_count(ix), FRAMES);
    shlog_index_close(ix);
    /* an index frame of the walk whose entries were altered: its frames are not indexed */
    write_file(path, 0);
    struct shlog_index *good = open_index(path);
    uint64_t block = shlog_index_frame(good, SHLOG_INDEX_EVERY - 1)->offset +
                     shlog_index_frame(good, SHLOG_INDEX_EVERY - 1)->bytes;
    shlog_index_close(good);
    flip(path, (long)block + 16 + 8 + 20);
    ix = open_index(path);
    cr_assert(strstr(shlog_index_note(ix), "check fails"), "%s", shlog_index_note(ix));
    cr_assert(!shlog_index_frame(ix, 0)->indexed);
    assert_entry(shlog_index_frame(ix, SHLOG_INDEX_EVERY), SHLOG_INDEX_EVERY);
    shlog_index_close(ix);
    assert_reads_whole(path, 0);
    /* the footer's filters (version 3: after its summaries, read when asked):
     * the summaries are used, and the frames of those filters may hold any key */
    write_file(path, 1);
    flip(path, -100);
    ix = open_summaries(path);
    cr_assert(shlog_index_from_footer(ix), "%s", shlog_index_note(ix));
    const struct shlog_index_frame *last = shlog_index_frame(ix, FRAMES - 1);
    const char *w = "absent_word_zz";
    struct shlog_index_query qw = {.words = &w, .nwords = 1};
    cr_assert_eq(shlog_index_filters(ix, last), 1);
    cr_assert(strstr(shlog_index_note(ix), "fail their check"), "%s", shlog_index_note(ix));
    cr_assert(!last->bloom);
    cr_assert(shlog_index_may_match_in(ix, last, &qw), "a frame of unreadable filters may hold any word");
    cr_assert_eq(shlog_index_may_match_in(ix, shlog_index_frame(ix, 0), &qw), 0,
                 "the filters of another index frame are read");
    struct shlog_index_query late = {.since_ns = last->ns_max + 2 * SHLOG_INDEX_TIME_SLACK_NS};
    cr_assert_eq(shlog_index_may_match_in(ix, last, &late), 0, "its summary still rules it out");
    shlog_index_close(ix);
    assert_reads_whole(path, 0);
}

Test(file_index, files_from_before_the_index_have_none)
{
    const char *corpus = getenv("SHMLOG_CORPUS");
    cr_assert_not_null(corpus, "SHMLOG_CORPUS: tests/meson.build sets it");
    const char *files[] = {"v2/processes.shlog", "v2-sites-first/threads.shlog", "v2-instance/instance.shlog"};
    for (size_t k = 0; k < sizeof(files) / sizeof(*files); k++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", corpus, files[k]);
        struct shlog_index *ix = open_index(path);
        struct stat st;
        cr_assert_eq(stat(path, &st), 0, "%s", path);
        cr_assert(!shlog_index_from_footer(ix), "%s", path);
        cr_assert(shlog_index_count(ix) > 0, "%s", path);
        for (size_t i = 0; i < shlog_index_count(ix); i++) {
            const struct shlog_index_frame *f = shlog_index_frame(ix, i);
            cr_assert(!f->indexed, "%s: frame %zu", path, i);
            cr_assert(shlog_index_may_match(f, &(struct shlog_index_query){.words = (const char *const[]){"x"},
                                                                           .nwords = 1}));
        }
        cr_assert_eq(shlog_index_end(ix), (uint64_t)st.st_size, "%s: every frame walked", path);
        shlog_index_close(ix);
    }
}

/* Skips every other frame the reader offers (the frame index is the call's count). */
static int every_other(void *clientd, uint64_t offset, uint64_t bytes, uint32_t prefix_check)
{
    unsigned *calls = clientd;
    (void)offset;
    (void)prefix_check;
    cr_assert(bytes > SHLOG_FRAME_PREFIX_BYTES);
    return (*calls)++ % 2 == 0;
}

Test(file_index, a_frame_declined_gives_its_records_tscs_and_every_other_event)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/skip.shlog", dir);
    write_file(path, 1);
    /* Every record's TSC in file order, and the events that are no record. */
    uint64_t *all = malloc(FRAMES * PER_FRAME * sizeof *all), *got = malloc(FRAMES * PER_FRAME * sizeof *got);
    size_t nall = 0, ngot = 0, nrecords = 0, other_all = 0, other_got = 0;
    char err[256];
    struct shlog_reader *r;
    struct shlog_event ev;
    cr_assert_eq(shlog_reader_open(&r, path, 0, NULL, err, sizeof(err)), 0, "%s", err);
    while (shlog_reader_next(r, &ev) > 0) {
        if (ev.kind == SHLOG_EV_RECORD)
            all[nall++] = ev.rec->tsc;
        else
            other_all++;
    }
    shlog_reader_close(r);
    unsigned calls = 0;
    cr_assert_eq(shlog_reader_open(&r, path, 0, NULL, err, sizeof(err)), 0, "%s", err);
    shlog_reader_want_frames(r, every_other, &calls);
    while (shlog_reader_next(r, &ev) > 0) {
        if (ev.kind == SHLOG_EV_RECORD) {
            got[ngot++] = ev.rec->tsc;
            nrecords++;
        } else if (ev.kind == SHLOG_EV_TIMES) {
            cr_assert(ev.proc && ev.ntscs > 0 && !ev.backtrace);
            for (uint32_t i = 0; i < ev.ntscs; i++)
                got[ngot++] = ev.tscs[i];
        } else {
            other_got++;
        }
    }
    cr_assert_eq(shlog_reader_stats(r)->frames, (uint64_t)calls, "every frame is still loaded");
    shlog_reader_close(r);
    cr_assert(calls >= FRAMES, "asked of %u frames", calls);
    cr_assert(nrecords > 0 && nrecords < nall, "records decoded: %zu of %zu", nrecords, nall);
    cr_assert_eq(ngot, nall);
    cr_assert(memcmp(got, all, nall * sizeof *all) == 0, "the TSCs of the declined frames' records, in order");
    cr_assert_eq(other_got, other_all, "the other events are all there");
    free(all);
    free(got);
}

/* One record of site s (no arguments) into the open batch. */
static void plain_record(struct tu_file *f, const struct shm_site *s, uint64_t *pos, uint64_t tsc)
{
    struct shm_copied_record r;
    memset(&r, 0, sizeof(r));
    tu_slots(&r, tu_payload(&r, s, NULL, NULL));
    r.pos = (*pos)++;
    r.tsc = tsc;
    r.site = s->id;
    r.tid = 5;
    r.level = SHMLOG_LEVEL_INFO;
    cr_assert_eq(shlog_enc_record(f->enc, &r), 0);
}

/* Takes the frame the index says is frame 1 in place of reading it. */
static int take_frame_1(void *clientd, uint64_t offset, uint64_t bytes, uint32_t prefix_check)
{
    struct { const struct shlog_index_frame *f; struct shlog_reader *r; } *t = clientd;
    if (offset != t->f->offset)
        return 1;
    cr_assert_eq(bytes, t->f->bytes);
    cr_assert_eq(prefix_check, t->f->prefix_check);
    shlog_reader_frame_sections(t->r, t->f->clock, t->f->clock_bytes);
    return SHLOG_FRAME_TAKEN;
}

Test(file_index, a_plain_frame_lists_its_rings_last_and_most_tsc_and_its_anchors)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/plain.shlog", dir);
    struct shm_site s;
    tu_site(&s, 1, "tick", 0);
    struct tu_file f;
    tu_file_open(&f, path, 1);
    struct shm_proc_info pi[2];
    tu_proc_info(&pi[0], 777, 1);
    tu_proc_info(&pi[1], 888, 2);
    uint64_t pos[2] = {0, 0};
    for (uint32_t p = 0; p < 2; p++) {
        cr_assert_eq(shlog_enc_process(f.enc, p, &pi[p]), 0);
        cr_assert_eq(shlog_enc_site(f.enc, p, &s), 0);
    }
    cr_assert_eq(shlog_enc_batch_begin(f.enc, 0, 0), 0);
    plain_record(&f, &s, &pos[0], 100);
    cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
    tu_file_flush(&f); /* frame 0: definitions, not plain */
    /* frame 1: ring (0, 3) twice, its TSCs out of order; ring (1, 0) between; anchors */
    struct shlog_clock_info ci = {.hz_q16 = 1000000000ull << 16};
    struct shm_clock_anchor a[2] = {{.tsc = 150, .ns = 5000}, {.tsc = 900, .ns = 5750}};
    cr_assert_eq(shlog_enc_clock(f.enc, &ci, a, 2), 0);
    const uint64_t first[] = {500, 800, 600}, other[] = {300, 200}, again[] = {700, 650};
    cr_assert_eq(shlog_enc_batch_begin(f.enc, 0, 3), 0);
    for (int i = 0; i < 3; i++)
        plain_record(&f, &s, &pos[0], first[i]);
    cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
    cr_assert_eq(shlog_enc_batch_begin(f.enc, 1, 0), 0);
    for (int i = 0; i < 2; i++)
        plain_record(&f, &s, &pos[1], other[i]);
    cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
    cr_assert_eq(shlog_enc_batch_begin(f.enc, 0, 3), 0);
    for (int i = 0; i < 2; i++)
        plain_record(&f, &s, &pos[0], again[i]);
    cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
    tu_file_flush(&f);
    /* frames 2, 3, 4: a thread's name, a loss, a backtrace: each holds more than records */
    cr_assert_eq(shlog_enc_thread(f.enc, 0, 5, "worker"), 0);
    cr_assert_eq(shlog_enc_batch_begin(f.enc, 0, 3), 0);
    plain_record(&f, &s, &pos[0], 1000);
    cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
    tu_file_flush(&f);
    struct shm_loss loss = {.first_pos = pos[1], .positions = 1, .records = 1, .reason = SHM_LOSS_DROPPED};
    pos[1]++;
    cr_assert_eq(shlog_enc_loss(f.enc, 1, 0, &loss, 1), 0);
    cr_assert_eq(shlog_enc_batch_begin(f.enc, 1, 0), 0);
    plain_record(&f, &s, &pos[1], 1100);
    cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
    tu_file_flush(&f);
    cr_assert_eq(shlog_enc_backtrace_begin(f.enc, 0, 3, 1200), 0);
    plain_record(&f, &s, &pos[0], 1150);
    cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
    tu_file_flush(&f);
    write_footer(&f);
    tu_file_close(&f);

    struct shlog_index *ix = open_index(path);
    cr_assert_eq(shlog_index_count(ix), 5);
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(shlog_index_frame(ix, i)->nrings != 0, i == 1, "frame %zu plain: %u rings", i,
                     shlog_index_frame(ix, i)->nrings);
    const struct shlog_index_frame *fr = shlog_index_frame(ix, 1);
    cr_assert_eq(fr->nrings, 2);
    const uint8_t *p = fr->rings;
    struct shlog_index_ring g;
    shlog_index_ring_next(fr, &p, &g);
    cr_assert(g.proc == 0 && g.cpu == 3 && g.last_tsc == 650 && g.max_tsc == 800, "%u %u %lu %lu", g.proc, g.cpu,
              (unsigned long)g.last_tsc, (unsigned long)g.max_tsc);
    shlog_index_ring_next(fr, &p, &g);
    cr_assert(g.proc == 1 && g.cpu == 0 && g.last_tsc == 200 && g.max_tsc == 300, "%u %u %lu %lu", g.proc, g.cpu,
              (unsigned long)g.last_tsc, (unsigned long)g.max_tsc);
    /* its CLOCK section, as the frame holds it: a reader given it in place of the frame has its anchors */
    cr_assert(fr->clock_bytes > 0 && fr->clock[0] == SHLOG_SEC_CLOCK);
    struct shlog_reader *r;
    char err[512];
    cr_assert_eq(shlog_reader_open(&r, path, 0, NULL, err, sizeof(err)), 0, "%s", err);
    struct { const struct shlog_index_frame *f; struct shlog_reader *r; } take = {fr, r};
    shlog_reader_want_frames(r, take_frame_1, &take);
    struct shlog_event ev;
    uint64_t anchors = 0, records = 0;
    while (shlog_reader_next(r, &ev) == 1) {
        cr_assert_neq(ev.kind, SHLOG_EV_ERROR, "%s", ev.error);
        if (ev.kind == SHLOG_EV_CLOCK && ev.offset == fr->offset) {
            cr_assert_eq(ev.anchor.tsc, a[anchors].tsc);
            cr_assert_eq(ev.anchor.ns, a[anchors].ns);
            anchors++;
        }
        records += ev.kind == SHLOG_EV_RECORD;
        cr_assert(ev.kind != SHLOG_EV_RECORD || ev.offset != fr->offset);
    }
    cr_assert_eq(anchors, 2);
    cr_assert_eq(records, 1 + 1 + 1 + 1, "the records of the frames read");
    cr_assert_eq(shlog_reader_stats(r)->frames, 5 + 1, "the frame taken counted as read, and the footer: %lu",
                 (unsigned long)shlog_reader_stats(r)->frames);
    shlog_reader_close(r);
    shlog_index_close(ix);
}

/* A record of site 1 (thread 5, INFO) of these values into the open batch,
 * at *pos and 1000 ticks after *tsc, which it advances. */
static void put_site1_record(struct shlog_enc *enc, const struct shm_site *s, const uint64_t *vals,
                             const char *const *strs, uint64_t *pos, uint64_t *tsc)
{
    struct shm_copied_record r;
    memset(&r, 0, sizeof(r));
    tu_slots(&r, tu_payload(&r, s, vals, strs));
    r.pos = *pos;
    *pos += r.nslots;
    r.tsc = *tsc += 1000;
    r.site = 1;
    r.tid = 5;
    r.level = SHMLOG_LEVEL_INFO;
    cr_assert_eq(shlog_enc_record(enc, &r), 0);
}

/* Small frames (a slow host's): 40 records each of three words from a
 * vocabulary of 96, so that a frame's own filter, at most 4 % of its bytes,
 * would be mostly set, while its index frame's 16 share the vocabulary. */
enum { SMALL_FRAMES = 48, SMALL_RECORDS = 40, VOCAB = 96 };
static void write_small_frames(const char *path, uint32_t words_of[SMALL_FRAMES][VOCAB / 32])
{
    srand(11);
    struct shm_site s;
    tu_site(&s, 1, "quote id=%lu: %s", SHMLOG_ARG_U64, SHMLOG_ARG_STR, 0); /* an unnamed string: its words only */
    struct tu_file f;
    tu_file_open(&f, path, 1);
    struct shm_proc_info pi;
    tu_proc_info(&pi, 777, 1);
    cr_assert_eq(shlog_enc_process(f.enc, 0, &pi), 0);
    cr_assert_eq(shlog_enc_site(f.enc, 0, &s), 0);
    uint64_t pos = 0, tsc = 1000000000ull, id = 1;
    memset(words_of, 0, sizeof(uint32_t) * SMALL_FRAMES * (VOCAB / 32));
    for (int fr = 0; fr < SMALL_FRAMES; fr++) {
        cr_assert_eq(shlog_enc_batch_begin(f.enc, 0, 0), 0);
        for (int k = 0; k < SMALL_RECORDS; k++) {
            char note[64];
            int w[3] = {rand() % VOCAB, rand() % VOCAB, rand() % VOCAB};
            snprintf(note, sizeof(note), "w%d w%d w%d", w[0], w[1], w[2]);
            for (int j = 0; j < 3; j++)
                words_of[fr][w[j] / 32] |= 1u << (w[j] % 32);
            uint64_t vals[2] = {id++, 0};
            const char *strs[1] = {note};
            put_site1_record(f.enc, &s, vals, strs, &pos, &tsc);
        }
        cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
        tu_file_flush(&f);
    }
    write_footer(&f);
    tu_file_close(&f);
}

Test(file_index, small_frames_are_ruled_out_by_their_index_frames_filter)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/small.shlog", dir);
    static uint32_t words_of[SMALL_FRAMES][VOCAB / 32];
    write_small_frames(path, words_of);
    struct shlog_index *ix = open_index(path);
    cr_assert_eq(shlog_index_count(ix), SMALL_FRAMES);
    unsigned with_group = 0, grouped = 0;
    for (int i = 0; i < SMALL_FRAMES; i++) {
        const struct shlog_index_frame *f = shlog_index_frame(ix, i);
        const struct shlog_index_frame *next = shlog_index_frame(ix, (size_t)(i + 1) % SMALL_FRAMES);
        for (int w = 0; w < VOCAB + 32; w++) { /* w96 and past: words no record has */
            char word[16];
            snprintf(word, sizeof(word), "w%d", w);
            const char *wp = word;
            struct shlog_index_query q = {.words = &wp, .nwords = 1};
            int in = w < VOCAB && (words_of[i][w / 32] >> (w % 32) & 1);
            int said = shlog_index_may_match_in(ix, f, &q);
            cr_assert(!in || said, "frame %d holds %s: no filter may say it does not", i, word);
            with_group += (unsigned)(w >= VOCAB && said);
        }
        /* its filter read (above): the group's when it is another frame's too */
        grouped += f->bloom && f->bloom == next->bloom;
    }
    /* a frame's own filter would be mostly set: index version 7 leaves it out for its index frame's, which
     * rules nearly all absent words out */
    cr_assert_gt(grouped, SMALL_FRAMES / 2, "frames whose filter is their index frame's: %u of %d", grouped,
                 SMALL_FRAMES);
    cr_assert_lt(with_group, SMALL_FRAMES * 32 / 20, "with the group: maybe %u times of %d", with_group,
                 SMALL_FRAMES * 32);
    shlog_index_close(ix);
    struct tu_read rd = {0};
    cr_assert_eq(tu_read_shlog(path, NULL, &rd), 0);
    cr_assert_eq(rd.n, SMALL_FRAMES * SMALL_RECORDS, "records %zu", rd.n);
    cr_assert_eq(rd.errors, 0, "%s", rd.first_error);
    tu_read_free(&rd);
}

/* GRAM_FRAMES frames of GRAM_RECORDS orders of one site of format fmt, each
 * record's ids apart (some 6 KB a frame after zstd): an index frame of 16
 * holds enough bytes for a gram filter (FORMAT.md, "Substrings"). */
enum { GRAM_FRAMES = 20, GRAM_RECORDS = 600 };
static void write_gram_frames(const char *path, const char *fmt)
{
    static const char *const venues[] = {"XNAS", "XLON", "BATS"};
    struct shm_site s;
    tu_site(&s, 1, fmt, SHMLOG_ARG_U64, SHMLOG_ARG_STR, SHMLOG_ARG_STR, 0);
    struct tu_file f;
    tu_file_open(&f, path, 1);
    struct shm_proc_info pi;
    tu_proc_info(&pi, 777, 1);
    cr_assert_eq(shlog_enc_process(f.enc, 0, &pi), 0);
    cr_assert_eq(shlog_enc_site(f.enc, 0, &s), 0);
    uint64_t pos = 0, tsc = 1000000000ull, id = 0x9e3779b97f4a7c15ull;
    for (int fr = 0; fr < GRAM_FRAMES; fr++) {
        cr_assert_eq(shlog_enc_batch_begin(f.enc, 0, 0), 0);
        for (int k = 0; k < GRAM_RECORDS; k++) {
            id = id * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t vals[3] = {id >> 1, 0, 0};
            const char *strs[2] = {venues[k % 3], k % 2 ? "routine" : "quarterly"};
            put_site1_record(f.enc, &s, vals, strs, &pos, &tsc);
        }
        cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
        tu_file_flush(&f);
    }
    write_footer(&f);
    tu_file_close(&f);
}

/* Frames of path a grep for a run of word bytes rules out by the gram filters. */
static int ruled_out_by_grams(const char *path, const char *run)
{
    struct shlog_index *ix = open_index(path);
    cr_assert_eq(shlog_index_count(ix), GRAM_FRAMES);
    struct shlog_index_query q = {.msg_grams = &run, .nmsg_grams = 1};
    int out = 0;
    for (size_t i = 0; i < GRAM_FRAMES; i++)
        out += !shlog_index_may_match_in(ix, shlog_index_frame(ix, i), &q);
    shlog_index_close(ix);
    return out;
}

Test(file_index, a_site_of_more_grams_than_it_keeps_leaves_its_index_frames_without_a_gram_filter)
{
    char plain[300], wide[300];
    snprintf(plain, sizeof(plain), "%s/plain.shlog", dir);
    snprintf(wide, sizeof(wide), "%s/wide.shlog", dir);
    write_gram_frames(plain, "order id=%lu venue=%s note=%s");
    /* 40 words of their own runs of three bytes: more than the 64 a site keeps */
    char fmt[1024] = "order id=%lu venue=%s note=%s";
    for (int w = 0; w < 40; w++)
        snprintf(fmt + strlen(fmt), sizeof(fmt) - strlen(fmt), " k%02dq%c", w, 'a' + w % 26);
    write_gram_frames(wide, fmt);
    cr_assert_geq(ruled_out_by_grams(plain, "zebra"), 16, "a part of a word no message holds is ruled out");
    cr_assert_eq(ruled_out_by_grams(plain, "outin"), 0, "one every frame holds is not");
    cr_assert_eq(ruled_out_by_grams(wide, "zebra"), 0, "without a gram filter nothing is ruled out");
    cr_assert_eq(ruled_out_by_grams(wide, "k39q"), 0, "nor a run of the format's own words");
}
