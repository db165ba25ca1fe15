/* Description: shmlog_read_lines() on several threads (shmlog_read_options.threads): files made for it (three of one host, each defining its own call sites, so that closing one lets its sites' renderers go while lines of them are still being rendered; lines of 12 KB among short ones, so that a job is rendered and copied in several rounds; a file cut in its last frame and a file that is no shmlog file, whose errors come before the lines) read on 2, 3 and 8 threads, into the smallest buffer and a large one, in text and JSON, give the same bytes, and the errors in the same places, as events read one at a time; lines read ahead make the reader's other calls wait (-EBUSY) and refuse another format (-EINVAL) until they are all taken. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmlog_read.h"
#include "test_util_file.h"

#define FILES 3
#define RECORDS_PER_FILE 12000u
#define RECORDS_PER_FRAME 1500u
#define WIDE_EVERY 20u   /* one record in this many is of the wide site */
#define LINES_CAP_MIN (512u * 1024u + 1u)

static char dir[256];

/* A record of site s at position pos of the process's ring, its values from pos. */
static void put_record(struct tu_file *f, const struct shm_proc_info *pi, const struct shm_site *s, uint64_t pos)
{
    struct shm_copied_record rec;
    memset(&rec, 0, sizeof rec);
    rec.pos = pos;
    rec.tsc = pi->anchor_tsc + 1000 * pos;
    rec.tid = 4300 + (uint32_t)(pos % 3);
    rec.site = s->id;
    rec.level = (uint8_t)(pos % 6);
    rec.category = (uint8_t)(pos % 4);
    const uint64_t vals[3] = {pos, pos * 7, pos * 13};
    const char *const strs[1] = {pos % 2 ? "ES" : "with \"quotes\" and \\"};
    tu_slots(&rec, tu_payload(&rec, s, vals, strs));
    cr_assert_eq(shlog_enc_record(f->enc, &rec), 0);
}

/* File k of host testhost: the process declared again, sites of its own (ids 10k + i), records after those
 * of file k - 1. */
static void write_file(unsigned k, const char *path)
{
    struct tu_file f;
    struct shm_proc_info pi;
    tu_file_open(&f, path, k + 1);
    tu_proc_info(&pi, 77, 7700);
    cr_assert_eq(shlog_enc_process(f.enc, 1, &pi), 0);
    struct shm_site s[3];
    tu_site(&s[0], 10 * k, "order id=%d qty=%u sym=%s", SHMLOG_ARG_I32, SHMLOG_ARG_U32, SHMLOG_ARG_STR, 0);
    tu_site(&s[1], 10 * k + 1, "fill px=%d n=%lu", SHMLOG_ARG_I64, SHMLOG_ARG_U64, 0);
    tu_site(&s[2], 10 * k + 2, "wide a=%4000d b=%4000u c=%4000d", SHMLOG_ARG_I32, SHMLOG_ARG_U32, SHMLOG_ARG_I64, 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(shlog_enc_site(f.enc, 1, &s[i]), 0);
    uint64_t pos = (uint64_t)k * RECORDS_PER_FILE;
    for (unsigned frame = 0; frame < RECORDS_PER_FILE / RECORDS_PER_FRAME; frame++) {
        cr_assert_eq(shlog_enc_batch_begin(f.enc, 1, 2), 0);
        for (unsigned i = 0; i < RECORDS_PER_FRAME; i++, pos++)
            put_record(&f, &pi, &s[pos % WIDE_EVERY == 0 ? 2 : pos % 2], pos);
        cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
        tu_file_flush(&f);
    }
    tu_file_close(&f);
}

static void make_files(void)
{
    tu_tmpdir(dir, sizeof dir, "readlines");
    char path[600];
    for (unsigned k = 0; k < FILES; k++) {
        snprintf(path, sizeof path, "%s/testhost-%u.shlog", dir, k + 1);
        write_file(k, path);
    }
    /* A fourth cut in the middle of its last frame: its whole frames, then an error. */
    snprintf(path, sizeof path, "%s/testhost-4.shlog", dir);
    write_file(FILES, path);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(truncate(path, st.st_size - 100), 0);
    snprintf(path, sizeof path, "%s/junk.shlog", dir);
    FILE *j = fopen(path, "w");
    cr_assert(j);
    for (int i = 0; i < 8; i++)
        fputs("this is not a shmlog file, but it is long enough to hold a file header.\n", j);
    fclose(j);
}

static void remove_files(void)
{
    tu_rmtree(dir);
}

struct text {
    char *p;
    size_t len, cap;
};

static void text_add(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->p = realloc(t->p, t->cap);
        cr_assert(t->p);
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void text_error(struct text *t, const struct shmlog_read_event *ev)
{
    char line[4200];
    int n = snprintf(line, sizeof line, "%s %s\n", ev->flags & SHMLOG_READ_NOTE ? "NOTE" : "ERROR", ev->error);
    text_add(t, line, (size_t)n);
}

static struct shmlog_read *open_dir(unsigned threads)
{
    struct shmlog_read_options o = SHMLOG_READ_OPTIONS_INIT;
    o.threads = threads;
    const char *paths[] = {dir};
    struct shmlog_read *r;
    char err[512];
    cr_assert_eq(shmlog_read_open(&r, paths, 1, &o, err, sizeof err), 0, "%s", err);
    return r;
}

/* Every event one at a time: its line, or its error. */
static void read_events(int json, struct text *t)
{
    struct shmlog_read *r = open_dir(1);
    const struct shmlog_read_event *ev;
    int rc;
    while ((rc = shmlog_read_next(r, &ev)) > 0) {
        if (ev->kind == SHMLOG_READ_ERROR) {
            text_error(t, ev);
            continue;
        }
        size_t n;
        const char *line = shmlog_read_line(r, json, &n);
        cr_assert(line);
        text_add(t, line, n);
    }
    cr_assert_eq(rc, 0);
    cr_assert_eq(shmlog_read_had_errors(r), 1);
    shmlog_read_close(r);
}

/* The lines, many a call into a buffer of cap bytes, and an error event where a call gives none. */
static void read_lines(unsigned threads, int json, size_t cap, struct text *t)
{
    struct shmlog_read *r = open_dir(threads);
    char *buf = malloc(cap);
    cr_assert(buf);
    for (;;) {
        size_t len;
        long n = shmlog_read_lines(r, json, buf, cap, &len);
        cr_assert_geq(n, 0, "shmlog_read_lines: %ld", n);
        cr_assert_eq(strlen(buf), len);
        text_add(t, buf, len);
        if (n > 0)
            continue;
        const struct shmlog_read_event *ev;
        int rc = shmlog_read_next(r, &ev);
        cr_assert_geq(rc, 0);
        if (rc == 0)
            break;
        cr_assert_eq(ev->kind, SHMLOG_READ_ERROR, "shmlog_read_lines() stopped before a line");
        text_error(t, ev);
    }
    cr_assert_eq(shmlog_read_had_errors(r), 1);
    shmlog_read_close(r);
    free(buf);
}

/* The first difference of two texts, for the failure's message. */
static size_t first_difference(const struct text *a, const struct text *b)
{
    size_t i = 0;
    while (i < a->len && i < b->len && a->p[i] == b->p[i])
        i++;
    return i;
}

Test(read_lines, threads_give_the_bytes_of_events_read_one_at_a_time, .init = make_files, .fini = remove_files,
     .timeout = 240)
{
    static const unsigned threads[] = {1, 2, 3, 8};
    static const size_t caps[] = {LINES_CAP_MIN, 8u << 20};
    for (int json = 0; json <= 1; json++) {
        struct text want = {0};
        read_events(json, &want);
        /* The files hold what they were made with: every wide line, and an error of each damaged file. */
        size_t wide = 0;
        for (const char *p = want.p; (p = strstr(p, " a=")) != NULL; p++)
            wide++;
        cr_assert_geq(wide, (FILES * RECORDS_PER_FILE) / WIDE_EVERY, "%zu wide lines", wide);
        cr_assert(strstr(want.p, "ERROR") && strstr(want.p, "junk.shlog"), "no error in the events");
        cr_assert(strstr(want.p, "testhost-4.shlog"), "the cut file gave no error");
        for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++)
            for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
                struct text got = {0};
                read_lines(threads[t], json, caps[c], &got);
                size_t at = first_difference(&want, &got);
                cr_assert(got.len == want.len && at == want.len,
                          "%s on %u threads into %zu bytes: %zu bytes where events give %zu, first apart at %zu: "
                          "'%.80s' for '%.80s'",
                          json ? "JSON" : "text", threads[t], caps[c], got.len, want.len, at,
                          got.p ? got.p + at : "", want.p + at);
                free(got.p);
            }
        free(want.p);
    }
}

Test(read_lines, lines_read_ahead_make_other_calls_wait, .init = make_files, .fini = remove_files)
{
    struct shmlog_read *r = open_dir(2);
    char *buf = malloc(LINES_CAP_MIN);
    size_t len;
    const struct shmlog_read_event *ev;
    /* The wide lines' rounds hold more than this buffer: lines wait for the next call. */
    long n;
    while ((n = shmlog_read_lines(r, 1, buf, LINES_CAP_MIN, &len)) == 0) {
        cr_assert_eq(shmlog_read_next(r, &ev), 1, "the end before any line");
        cr_assert_eq(ev->kind, SHMLOG_READ_ERROR);
    }
    cr_assert_gt(n, 0);
    cr_assert_eq(shmlog_read_next(r, &ev), -EBUSY);
    struct ArrowArrayStream s;
    char err[256];
    cr_assert_eq(shmlog_read_arrow(r, NULL, &s, err, sizeof err), -EBUSY);
    cr_assert(strstr(err, "shmlog_read_lines"), "%s", err);
    cr_assert_eq(shmlog_read_lines(r, 0, buf, LINES_CAP_MIN, &len), -EINVAL, "text asked for while JSON waits");
    cr_assert_eq(len, 0);
    long more;
    while ((more = shmlog_read_lines(r, 1, buf, LINES_CAP_MIN, &len)) > 0)
        n += more;
    cr_assert_eq(more, 0);
    /* All taken: the other calls work again, and find the end. */
    cr_assert_eq(shmlog_read_next(r, &ev), 0);
    cr_assert_eq(n, (long)(FILES + 1) * RECORDS_PER_FILE - RECORDS_PER_FRAME, "every whole frame's record");
    shmlog_read_close(r);
    free(buf);
}
