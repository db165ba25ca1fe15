/*
 * shmlog_read_arrow.c - a reader's events as Arrow record batches
 * (shmlog_read_arrow(), shmlog_read.h): the Arrow C data and stream
 * interfaces, filled with no Arrow library.
 *
 * The stream is the merge's sink while it reads (struct entry_sink): each
 * entry the merge hands on becomes a row of the batch being built, and a full
 * batch pauses the merge, so nothing is copied twice and memory is the batch
 * and the merge's window. A batch owns its buffers (read_arrow_batch.c); the
 * consumer releases it (or its columns one by one) when it likes, on any
 * thread.
 *
 * One schema for every batch: the records' fields are known before the
 * first batch from the sites the files define (read_scan_sites(), which reads
 * no record and, of a file that says SHLOG_FILE_SITES_FIRST, decompresses
 * only the first block of each frame; a Kafka topic's messages are read twice
 * for it: read_kafka_scan_sites()). A field gets a
 * column per kind of value (integer, unsigned, float, bool, string, pointer)
 * that its name has anywhere, typed as wide as its widest argument.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "read_arrow.h"
#include "read_jobs.h"
#include "read_lib.h"

/* Rows of a batch by default: the columns of a batch stay in the cache while
 * they are written (65536-row batches cost 5-15 % more a row: bench_reader.c). */
#define BATCH_ROWS_DEFAULT 16384u
#define ERROR_MAX 256
#define SITE_RECENT 64u
/* Batches in flight per thread: while the stream's thread fills or builds
 * one, the builders have the others. */
#define JOBS_PER_THREAD 2u

/* ==== The stream ==== */

/* The fixed columns' values of the records' batch being built, typed: set
 * when it begins (the buffers stay while it is built). */
struct record_cols {
    uint64_t *ts, *seq;
    uint32_t *pid, *tid, *cpu;
    uint8_t *level;
};

/* The dictionary columns whose indices row_keys finds and row_columns
 * writes: the column buffers' first touch, a page fault each 4 KiB, is then
 * the builders' (bench/RESULTS.md, session 29). */
enum { K_APP, K_HOST, K_CATEGORY, K_SITE, K_FUNC, K_THREAD, K_INSTANCE, K_HOSTNAME, K_SPAN, K_ERROR, K_COUNT };
#define KEY_NULL UINT16_MAX /* no value: DICT16_MAX and 127 are the most an index is */

/* A row whose columns are written later, by a builder: what its stream's
 * thread found for it (row_keys). */
struct row_later {
    const struct entry *e;         /* its entry where the merge holds it (read_merge_hold); NULL: its copy */
    const struct render_site *sr;  /* NULL: a site the files do not define */
    const struct site_map *map;
    uint32_t at;                   /* its entry's copy in the job's entries */
    uint32_t pid;
    uint16_t key[K_COUNT];         /* the K_ columns' dictionary indices, or KEY_NULL */
};

/* A batch on its way: filled with rows on the stream's thread, its columns
 * written there too (one thread) or by a builder (several). */
struct job {
    struct batch batch;
    struct record_cols fixed; /* its fixed columns, records */
    uint32_t max_level;      /* records: the highest level in the batch */
    uint64_t text_bound;     /* the most characters a string column of it can hold (row_text_bound) */
    unsigned char *entries;  /* several threads: copies of the rows' entries the reader gave, 8-aligned */
    size_t entries_len, entries_cap;
    struct row_later *later; /* several threads: a row each */
    uint32_t built;          /* rows whose columns are written */
    uint64_t serial;         /* the stream's batches when it began: the mark of the merge's chunks it reads */
    int rc;                  /* the error of its rows' filling: -ENOMEM */
};

struct arrow_stream {
    struct shmlog_read *r;
    struct shmlog_read_arrow_options opt;
    int records;          /* the records' schema, or the markers' */
    int scanned;          /* the schema is known */
    int ended;
    struct col_def *cols;
    size_t ncols, cols_cap;
    size_t first_field;   /* records: the columns from here on are fields */
    struct hmap field_col; /* (name hash, kind) -> column index + 1 */
    struct hmap site_cols; /* dsite -> struct site_map */
    /* The maps of the sites met last, by their address: a trading mix
     * alternates between a few sites, each a table look-up otherwise. */
    struct {
        const struct dsite *site;
        struct site_map *map;
    } recent[SITE_RECENT];
    struct entry_sink sink; /* the merge's while the stream reads: rows of the batch */
    int reader_entry;     /* the entry appended is the reader's (ready before the stream began), not the merge's */
    uint64_t batches;     /* batches begun: a site_map's indices are of the batch it names */
    /* Batches in flight, oldest first from the queue's head: one (one thread),
     * or two a thread, whose builders write their columns. */
    struct job *jobs;
    struct read_jobs q;
    unsigned threads;     /* the builders and the stream's own */
    struct job *fill;     /* the one the merge's rows go to now */
    size_t nbuilders;
    char error[ERROR_MAX];
};

/* The columns of a site's fields, found once per site; and the site's and its last category's indices in the batch's
 * dictionaries, valid while batch is the stream's (records come in runs of a
 * few sites: no look-up in the dictionaries' tables for them). */
struct site_map {
    uint32_t n;                     /* fields with a column (a site defined after the schema was made has none) */
    struct {
        uint32_t col;               /* the column's index */
        uint8_t type;               /* the column's */
        uint8_t put;                /* enum field_put: how a value goes in */
        uint8_t shift;              /* FIELD_WORD: log2 of the column's width */
        uint8_t arg;                /* the argument the field shows */
        uint8_t whole;              /* the field's value is that argument as decoded */
        uint8_t tree;               /* a value tree: its column holds the fmt text */
        uint8_t field;              /* the field's number (render_field_value()) */
        uint8_t present;            /* render_field_info's: an empty std::optional's field is null */
    } f[SHMLOG_MAX_ARGS];
    uint64_t text_bound;            /* row_text_bound()'s for its records, less their payload */
    uint64_t batch;                 /* the batch the indices below are of (the stream's thread's) */
    uint32_t site_index;
    long func_index;                /* < 0: the site names no function (null) */
    uint32_t category_index;
    uint32_t app_index, host_index; /* of the site's process */
    unsigned category;
};

/* How a record's value goes into a field's column. */
enum field_put {
    FIELD_WORD, /* integers, pointers, floats: the value's low bytes, by one 8-byte store (the
                   bytes past the width are the next rows', written over by them, or the slack
                   read_batch_begin leaves) */
    FIELD_F32_WIDE, /* an f32 argument in a column of f64 (a field that is an f64 elsewhere) */
    FIELD_BOOL,
    FIELD_TEXT,
    FIELD_CUT,  /* a string the format cuts, a value shown as text: as the message shows it (render_field_value()) */
    FIELD_NEST, /* a value tree into its typed column (read_arrow_nest.c) */
};

/* The records' fixed columns, in order. */
enum {
    R_TS, R_LEVEL, R_CATEGORY, R_APP, R_HOST, R_PID, R_TID, R_CPU, R_SEQ, R_SITE, R_FUNC, R_MSG, R_TRUNCATED,
    R_CLAMPED, R_BACKTRACE, R_TIME_UNCERTAIN, R_ERROR, R_THREAD, R_INSTANCE, R_TRACE_ID, R_SPAN, R_HOSTNAME,
    R_FIXED
};
/* The markers' columns. */
enum {
    M_TS, M_KIND, M_APP, M_HOST, M_PID, M_CPU, M_LOSS_REASON, M_LOSS_RECORDS, M_LOSS_POSITIONS, M_LOSS_FIRST_SEQ,
    M_EXIT_RECORDS, M_EXIT_LOST, M_EXIT_HOW, M_INSTANCE, M_HOSTNAME, M_COUNT
};

static const struct {
    const char *name;
    uint8_t type, nullable, ordered;
} record_cols[R_FIXED] = {
    [R_TS] = {"ts", COL_TS, 0, 0},           [R_LEVEL] = {"level", COL_DICT8, 0, 1},
    [R_CATEGORY] = {"category", COL_DICT16, 0, 0}, [R_APP] = {"app", COL_DICT16, 0, 0},
    [R_HOST] = {"host", COL_DICT16, 0, 0},   [R_PID] = {"pid", COL_U32, 0, 0},
    [R_TID] = {"tid", COL_U32, 0, 0},        [R_CPU] = {"cpu", COL_U32, 0, 0},
    [R_SEQ] = {"seq", COL_U64, 0, 0},        [R_SITE] = {"site", COL_DICT16, 1, 0},
    [R_FUNC] = {"func", COL_DICT16, 1, 0},  [R_MSG] = {"msg", COL_UTF8, 1, 0},       [R_TRUNCATED] = {"truncated", COL_BOOL, 0, 0},
    [R_CLAMPED] = {"clamped", COL_BOOL, 0, 0}, [R_BACKTRACE] = {"backtrace", COL_BOOL, 0, 0},
    [R_TIME_UNCERTAIN] = {"time_uncertain", COL_BOOL, 0, 0},
    [R_ERROR] = {"error", COL_DICT8, 1, 0},
    [R_THREAD] = {"thread", COL_DICT16, 1, 0},
    [R_INSTANCE] = {"instance", COL_DICT16, 1, 0}, /* null in files from before it */
    [R_TRACE_ID] = {"trace_id", COL_UTF8, 1, 0},  /* 32 hex digits; null: its thread worked for no trace */
    [R_SPAN] = {"span", COL_DICT16, 1, 0},
    [R_HOSTNAME] = {"hostname", COL_DICT16, 1, 0}, /* null in files from before SHLOG_FILE_COLLECTOR_HOST */
}, marker_cols[M_COUNT] = {
    [M_TS] = {"ts", COL_TS, 0, 0},           [M_KIND] = {"kind", COL_DICT8, 0, 0},
    [M_APP] = {"app", COL_DICT16, 0, 0},     [M_HOST] = {"host", COL_DICT16, 0, 0},
    [M_PID] = {"pid", COL_U32, 0, 0},        [M_CPU] = {"cpu", COL_U32, 1, 0},
    [M_LOSS_REASON] = {"loss_reason", COL_DICT8, 1, 0}, [M_LOSS_RECORDS] = {"loss_records", COL_U64, 1, 0},
    [M_LOSS_POSITIONS] = {"loss_positions", COL_U64, 1, 0}, [M_LOSS_FIRST_SEQ] = {"loss_first_seq", COL_U64, 1, 0},
    [M_EXIT_RECORDS] = {"exit_records", COL_U64, 1, 0}, [M_EXIT_LOST] = {"exit_lost", COL_U64, 1, 0},
    [M_EXIT_HOW] = {"exit_how", COL_DICT8, 1, 0},
    [M_INSTANCE] = {"instance", COL_DICT16, 1, 0},
    [M_HOSTNAME] = {"hostname", COL_DICT16, 1, 0},
};

/* The column of each K_ index. */
static const uint8_t key_col[K_COUNT] = {
    [K_APP] = R_APP, [K_HOST] = R_HOST, [K_CATEGORY] = R_CATEGORY, [K_SITE] = R_SITE, [K_FUNC] = R_FUNC,
    [K_THREAD] = R_THREAD, [K_INSTANCE] = R_INSTANCE, [K_HOSTNAME] = R_HOSTNAME, [K_SPAN] = R_SPAN, [K_ERROR] = R_ERROR,
};

static const char *const level_names[8] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "L6", "L7"};

static int stream_fail(struct arrow_stream *s, int rc, const char *what)
{
    snprintf(s->error, sizeof s->error, "shmlog: %s: %s", what, strerror(-rc));
    return -rc;
}

/* ==== The schema ==== */

static int add_col(struct arrow_stream *s, const char *name, size_t name_len, uint8_t type, uint8_t nullable,
                   uint8_t ordered, uint8_t kind)
{
    if (s->ncols == s->cols_cap) {
        size_t cap = s->cols_cap ? 2 * s->cols_cap : 32;
        struct col_def *c = realloc(s->cols, cap * sizeof *c);
        if (!c)
            return -ENOMEM;
        s->cols = c;
        s->cols_cap = cap;
    }
    char *n = malloc(name_len + 1);
    if (!n)
        return -ENOMEM;
    memcpy(n, name, name_len);
    n[name_len] = '\0';
    s->cols[s->ncols++] = (struct col_def){.name = n, .type = type, .nullable = nullable, .ordered = ordered, .kind = kind};
    return 0;
}

/* The kind of a field's values, and the column type its argument needs. */
static uint8_t field_kind(unsigned arg_type)
{
    uint32_t t = read_field_type(arg_type);
    return (uint8_t)(t == SHMLOG_READ_FLOAT32 ? SHMLOG_READ_FLOAT : t);
}

static uint8_t field_col_type(unsigned arg_type)
{
    switch (arg_type) {
    case SHMLOG_ARG_BOOL: return COL_BOOL;
    case SHMLOG_ARG_I8: return COL_I8;
    case SHMLOG_ARG_I16: return COL_I16;
    case SHMLOG_ARG_I32: return COL_I32;
    case SHMLOG_ARG_I64: return COL_I64;
    case SHMLOG_ARG_U8: return COL_U8;
    case SHMLOG_ARG_U16: return COL_U16;
    case SHMLOG_ARG_U32: return COL_U32;
    case SHMLOG_ARG_F32: return COL_F32;
    case SHMLOG_ARG_F64: return COL_F64;
    case SHMLOG_ARG_STR: return COL_UTF8;
    default: return COL_U64; /* U64, PTR */
    }
}

/* The wider of two column types of one kind (floats: f64 holds every f32). */
static uint8_t wider(uint8_t a, uint8_t b)
{
    return read_col_width[a] >= read_col_width[b] ? a : b;
}

/* The column of field name (len bytes) with values of kind, or NULL. */
static struct col_def *field_column(struct arrow_stream *s, const char *name, size_t len, uint8_t kind, uint64_t *probe)
{
    uint64_t h = read_text_hash(name, len);
    for (*probe = 0;; (*probe)++) {
        void *v = read_hmap_get(&s->field_col, h, (uint64_t)kind | *probe << 8 | (uint64_t)len << 32);
        if (!v)
            return NULL;
        struct col_def *c = &s->cols[(uintptr_t)v - 1];
        if (strlen(c->field) == len && memcmp(c->field, name, len) == 0)
            return c;
    }
}

/* Where a site's field comes in the source: by file, line, format, then its place among the site's fields. */
static int origin_cmp(const struct field_origin *a, const struct field_origin *b)
{
    int d = strcmp(a->text, b->text);
    if (d == 0 && a->line != b->line)
        d = a->line < b->line ? -1 : 1;
    if (d == 0)
        d = strcmp(a->text + strlen(a->text) + 1, b->text + strlen(b->text) + 1);
    if (d == 0 && a->place != b->place)
        d = a->place < b->place ? -1 : 1;
    return d;
}

/* Maps field name (len bytes) with values of kind to column index, at the probe field_column() found free. */
static int field_col_put(struct arrow_stream *s, const char *name, size_t len, uint8_t kind, uint64_t probe, size_t index)
{
    return read_hmap_put(&s->field_col, read_text_hash(name, len), (uint64_t)kind | probe << 8 | (uint64_t)len << 32,
                         (void *)(uintptr_t)(index + 1));
}

/* A field of a site the scan found: its column, made or widened, and placed by the first site (origin_cmp()) that has
 * it. at is where the field stands in this site (its text text_len bytes with both NULs). */
static int scan_field(struct arrow_stream *s, const char *name, size_t len, unsigned arg_type, const char *shape,
                      const struct field_origin *at, size_t text_len)
{
    uint8_t kind = field_kind(arg_type), type = field_col_type(arg_type);
    uint64_t probe;
    struct col_def *c = field_column(s, name, len, kind, &probe);
    if (c) {
        c->type = wider(c->type, type);
        c->shapes_differ |= !shape || !c->shape || strcmp(shape, c->shape) != 0;
        if (origin_cmp(at, &c->origin) >= 0)
            return 0;
    } else {
        if (add_col(s, name, len, type, 1, 0, kind) != 0 ||
            !(s->cols[s->ncols - 1].field = strdup(s->cols[s->ncols - 1].name)) ||
            field_col_put(s, name, len, kind, probe, s->ncols - 1) != 0)
            return -ENOMEM;
        c = &s->cols[s->ncols - 1];
        c->shapes_differ = !shape;
        if (shape && !(c->shape = strdup(shape)))
            return -ENOMEM;
    }
    char *text = malloc(text_len);
    if (!text)
        return -ENOMEM;
    memcpy(text, at->text, text_len);
    free(c->origin.text);
    c->origin = (struct field_origin){text, at->line, at->place};
    return 0;
}

static int scan_site(void *clientd, const struct shm_proc_info *p, const struct shm_site *info)
{
    struct arrow_stream *s = clientd;
    size_t file_len = strlen(info->file), fmt_len = strlen(info->fmt);
    char text[sizeof info->file + sizeof info->fmt];
    memcpy(text, info->file, file_len + 1);
    memcpy(text + file_len + 1, info->fmt, fmt_len + 1);
    struct render_site *sr = render_site_new(info, p->app, p->host, NULL, p->pid, p->instance, NULL);
    if (!sr)
        return -ENOMEM;
    struct render_field_info f[SHMLOG_MAX_ARGS];
    int n = render_site_fields(sr, f);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        struct field_origin at = {text, info->line, (uint8_t)i};
        rc = scan_field(s, f[i].name, f[i].name_len, f[i].type, f[i].shape, &at, file_len + fmt_len + 2);
    }
    render_site_free(sr);
    return rc;
}

/* The fields' columns in the order of their first sites in the source (a field of several kinds at one place, as a
 * template's site typed differently in two programs: by kind): one schema for the same sites, whichever file,
 * host or partition told of them first. */
static int field_col_cmp(const void *x, const void *y)
{
    const struct col_def *a = x, *b = y;
    int d = origin_cmp(&a->origin, &b->origin);
    return d ? d : (a->kind > b->kind) - (a->kind < b->kind);
}

static int order_fields(struct arrow_stream *s)
{
    qsort(s->cols + s->first_field, s->ncols - s->first_field, sizeof *s->cols, field_col_cmp);
    read_hmap_clear(&s->field_col);
    for (size_t i = s->first_field; i < s->ncols; i++) {
        struct col_def *c = &s->cols[i];
        size_t len = strlen(c->field);
        uint64_t probe;
        free(c->origin.text);
        c->origin.text = NULL;
        (void)field_column(s, c->field, len, c->kind, &probe); /* none yet: the first free probe */
        if (field_col_put(s, c->field, len, c->kind, probe, i) != 0)
            return -ENOMEM;
    }
    return 0;
}

static const char *const kind_suffix[] = {
    [SHMLOG_READ_BOOL] = "bool", [SHMLOG_READ_INT] = "int", [SHMLOG_READ_UINT] = "uint",
    [SHMLOG_READ_FLOAT] = "float", [SHMLOG_READ_STR] = "str", [SHMLOG_READ_PTR] = "ptr",
};

/* Whether a column before column i is named name. */
static int name_taken(const struct arrow_stream *s, size_t i, const char *name)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp(s->cols[j].name, name) == 0)
            return 1;
    return 0;
}

/* The fields' column names (README, "the Arrow stream"): a name of a fixed
 * column, or one that begins with "field.", gets "field." before it; a name
 * with values of several kinds a column per kind, ".<kind>" after it; a name
 * still taken by a column before it (a field named "id.int" beside id's
 * columns) gets "field." before it until it is free. The schema's order is
 * the source's, so the same sites give the same names. */
static int name_fields(struct arrow_stream *s)
{
    for (size_t i = s->first_field; i < s->ncols; i++) {
        struct col_def *c = &s->cols[i];
        int several = 0, fixed = strncmp(c->field, "field.", 6) == 0;
        for (size_t j = s->first_field; j < s->ncols && !several; j++)
            several = j != i && strcmp(s->cols[j].field, c->field) == 0;
        for (size_t j = 0; j < R_FIXED && !fixed; j++)
            fixed = strcmp(record_cols[j].name, c->field) == 0;
        size_t len = strlen(c->field) + 16;
        char *n = malloc(len);
        if (!n)
            return -ENOMEM;
        snprintf(n, len, "%s%s%s%s", fixed ? "field." : "", c->field, several ? "." : "",
                 several ? kind_suffix[c->kind] : "");
        while (name_taken(s, i, n)) {
            size_t taken = strlen(n) + 1;
            char *longer = malloc(taken + 6);
            if (!longer) {
                free(n);
                return -ENOMEM;
            }
            memcpy(longer, "field.", 6);
            memcpy(longer + 6, n, taken);
            free(n);
            n = longer;
        }
        free(c->name);
        c->name = n;
    }
    return 0;
}

static void builders_start(struct arrow_stream *s, size_t n);

/* The columns, once: the fixed ones, and for records the fields the files define. */
static int make_schema(struct arrow_stream *s)
{
    if (s->scanned)
        return 0;
    int rc = 0;
    if (s->records) {
        for (size_t i = 0; i < R_FIXED && rc == 0; i++)
            if (i != R_MSG || s->opt.message)
                rc = add_col(s, record_cols[i].name, strlen(record_cols[i].name), record_cols[i].type,
                             record_cols[i].nullable, record_cols[i].ordered, 0);
        s->first_field = s->ncols;
        if (rc == 0 && s->opt.message)
            s->cols[R_MSG].chars_hint = 64; /* messages are tens of bytes: room for most batches' at once */
        if (rc == 0 && s->opt.fields)
            rc = read_scan_sites(&s->r->engine, &s->r->inputs, scan_site, s);
        for (size_t i = 0; i < s->r->nkafka && rc == 0 && s->opt.fields; i++)
            rc = read_kafka_scan_sites(&s->r->engine, s->r->kafka[i], scan_site, s);
        /* The rule (README, "the Arrow stream"): a field's string column is a tree's typed column when every site
         * that gives it a string gives one shape, of a container; else it holds each value's text. */
        for (size_t i = s->first_field; i < s->ncols && rc == 0 && s->opt.trees; i++)
            if (s->cols[i].shape && !s->cols[i].shapes_differ && strchr("[{(", s->cols[i].shape[strspn(s->cols[i].shape, "?")]))
                s->cols[i].type = COL_NEST;
        if (rc == 0)
            rc = order_fields(s);
        if (rc == 0)
            rc = name_fields(s);
    } else {
        for (size_t i = 0; i < M_COUNT && rc == 0; i++)
            rc = add_col(s, marker_cols[i].name, strlen(marker_cols[i].name), marker_cols[i].type,
                         marker_cols[i].nullable, marker_cols[i].ordered, 0);
        s->first_field = s->ncols;
    }
    for (size_t i = 0; i < s->q.njobs && rc == 0; i++) {
        struct job *j = &s->jobs[i];
        j->batch.cols = s->cols;
        j->batch.ncols = s->ncols;
        if (!(j->batch.buf = calloc(s->ncols, sizeof *j->batch.buf)) ||
            (s->q.njobs > 1 && !(j->later = calloc(s->opt.batch_rows, sizeof *j->later))))
            rc = -ENOMEM;
    }
    /* The stream's thread builds too: a builder fewer than the threads. */
    if (rc == 0 && s->threads > 1)
        builders_start(s, s->threads - 1);
    if (rc != 0)
        return rc;
    s->scanned = 1;
    return 0;
}

/* The column of a record's fixed column c (the msg column may be left out). */
static size_t rcol(const struct arrow_stream *s, size_t c)
{
    return c < R_MSG || s->opt.message ? c : c - 1;
}

/* ==== Schema export ==== */

struct schema_mem {
    _Atomic int refs;     /* the schema and each child and dictionary not yet released */
    struct ArrowSchema *children;
    struct ArrowSchema **child_ptrs;
    struct ArrowSchema *dicts;
    char **names;
    char **metadata; /* a field's column's: field_metadata()'s */
    size_t n;
};

static void schema_unref(struct schema_mem *m)
{
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->names[i]);
        free(m->metadata[i]);
    }
    free(m->metadata);
    free(m->children);
    free(m->child_ptrs);
    free(m->dicts);
    free(m->names);
    free(m);
}

/* A child or a dictionary holds the schema's memory until released (it may be moved out). */
static void release_schema_part(struct ArrowSchema *sc)
{
    if (sc->dictionary && sc->dictionary->release)
        sc->dictionary->release(sc->dictionary);
    sc->release = NULL;
    schema_unref(sc->private_data);
}

static void release_schema(struct ArrowSchema *sc)
{
    struct schema_mem *m = sc->private_data;
    for (size_t i = 0; i < m->n; i++)
        if (m->children[i].release)
            m->children[i].release(&m->children[i]);
    sc->release = NULL;
    schema_unref(m);
}

/* A field's column's metadata, in the C data interface's encoding (int32
 * count, then each key's and value's int32 length and bytes): shmlog.field,
 * the field's name as the formats spell it, which the column's name may not
 * be (name_fields()). */
static char *field_metadata(const char *field)
{
    static const char key[] = "shmlog.field";
    int32_t count = 1, key_len = (int32_t)(sizeof key - 1), value_len = (int32_t)strlen(field);
    char *md = malloc(3 * sizeof(int32_t) + sizeof key - 1 + (size_t)value_len), *p = md;
    if (!md)
        return NULL;
    memcpy(p, &count, 4);
    memcpy(p + 4, &key_len, 4);
    memcpy(p + 8, key, sizeof key - 1);
    p += 8 + sizeof key - 1;
    memcpy(p, &value_len, 4);
    memcpy(p + 4, field, (size_t)value_len);
    return md;
}

static int export_schema(struct arrow_stream *s, struct ArrowSchema *out)
{
    size_t n = s->ncols, ndicts = 0, nests = 0;
    struct schema_mem *m = calloc(1, sizeof *m);
    if (!m || !(m->children = calloc(n, sizeof *m->children)) || !(m->child_ptrs = calloc(n, sizeof *m->child_ptrs)) ||
        !(m->dicts = calloc(n, sizeof *m->dicts)) || !(m->names = calloc(n, sizeof *m->names)) ||
        !(m->metadata = calloc(n, sizeof *m->metadata))) {
        if (m) {
            free(m->children);
            free(m->child_ptrs);
            free(m->dicts);
            free(m->names);
        }
        free(m);
        return -ENOMEM;
    }
    m->n = n;
    for (size_t i = 0; i < n; i++)
        if (!(m->names[i] = strdup(s->cols[i].name)) ||
            (s->cols[i].field && !(m->metadata[i] = field_metadata(s->cols[i].field)))) {
            atomic_init(&m->refs, 1);
            schema_unref(m);
            return -ENOMEM;
        }
    for (size_t i = 0; i < n; i++) {
        const struct col_def *c = &s->cols[i];
        struct ArrowSchema *ch = &m->children[i];
        m->child_ptrs[i] = ch;
        if (c->type == COL_NEST) {
            /* its own memory, the name's and metadata's copies with it */
            int rc = read_nest_schema(c->shape, m->names[i], m->metadata[i], ch);
            m->metadata[i] = NULL;
            if (rc != 0) {
                for (size_t k = 0; k < i; k++)
                    if (m->children[k].release && m->children[k].release != release_schema_part)
                        m->children[k].release(&m->children[k]);
                atomic_init(&m->refs, 1);
                schema_unref(m);
                return -ENOMEM;
            }
            nests++;
            continue;
        }
        const char *format = c->type == COL_UTF8 && s->opt.string_views ? "vu" : read_col_format[c->type];
        *ch = (struct ArrowSchema){.format = format, .name = m->names[i], .metadata = m->metadata[i],
                                   .flags = c->nullable ? ARROW_FLAG_NULLABLE : 0, .release = release_schema_part,
                                   .private_data = m};
        if (c->type == COL_DICT8 || c->type == COL_DICT16) {
            m->dicts[i] = (struct ArrowSchema){.format = "u", .name = "", .release = release_schema_part,
                                               .private_data = m};
            ch->dictionary = &m->dicts[i];
            if (c->ordered)
                ch->flags |= ARROW_FLAG_DICTIONARY_ORDERED;
            ndicts++;
        }
        m->child_ptrs[i] = ch;
    }
    atomic_init(&m->refs, (int)(1 + n - nests + ndicts));
    *out = (struct ArrowSchema){.format = "+s", .name = "", .n_children = (int64_t)n, .children = m->child_ptrs,
                                .release = release_schema, .private_data = m};
    return 0;
}

/* ==== Rows ==== */

static const char *app_text(const void *p, uint64_t k2, char *buf)
{
    (void)k2;
    (void)buf;
    return ((const struct dproc *)p)->info.app;
}

static const char *host_text(const void *p, uint64_t k2, char *buf)
{
    (void)k2;
    (void)buf;
    return ((const struct dproc *)p)->info.host;
}

static const char *hostname_text(const void *p, uint64_t k2, char *buf)
{
    (void)k2;
    (void)buf;
    return ((const struct dproc *)p)->hostname;
}

static const char *instance_text(const void *p, uint64_t k2, char *buf)
{
    (void)k2;
    (void)buf;
    return ((const struct dproc *)p)->instance;
}

static const char *category_text(const void *p, uint64_t k2, char *buf)
{
    return read_category_name(p, (unsigned)k2, buf);
}

static const char *site_text(const void *d, uint64_t k2, char *buf)
{
    const struct dsite *site = d;
    (void)k2;
    snprintf(buf, SHMLOG_MAX_FILE_BYTES + 32, "%s:%u", site->file ? site->file : "", site->line);
    return buf;
}

static const char *func_text(const void *d, uint64_t k2, char *buf)
{
    (void)k2;
    (void)buf;
    return ((const struct dsite *)d)->func;
}

static const char *name_text(const void *name, uint64_t k2, char *buf)
{
    (void)k2;
    (void)buf;
    return name;
}

/* The index of key (k2) in the dictionary of column col, found or added; the batch ends at the index
 * width's limit. The index, or < 0 out of memory. */
static inline __attribute__((always_inline)) long dict_index(struct arrow_stream *s, size_t col, const void *key,
                                                             uint64_t k2,
                                                             const char *(*text)(const void *, uint64_t, char *))
{
    struct batch *bt = &s->fill->batch;
    struct col_buf *b = &bt->buf[col];
    long i = dict_keyed(&b->dict, (uintptr_t)key, k2, text, key);
    if (i >= 0)
        dict_limit(bt, b, s->cols[col].type);
    return i;
}

static inline __attribute__((always_inline)) int put_dict(struct arrow_stream *s, size_t col, uint32_t row,
                                                          const void *key, uint64_t k2,
                                                          const char *(*text)(const void *, uint64_t, char *))
{
    struct batch *bt = &s->fill->batch;
    long i = dict_index(s, col, key, k2, text);
    if (i < 0 || col_ready(bt, &bt->buf[col]) != 0)
        return -ENOMEM;
    put_kept_index(&bt->buf[col], s->cols[col].type, row, (uint32_t)i);
    return 0;
}

/* The most characters a record of site d adds to a string column of its
 * batch, less what its payload's bytes add (ARROW_TEXT_PER_BYTE each at
 * most): a conversion is at most RENDER_FMT_MAX_WIDTH wide, or a double's
 * 309 digits and as much precision, a string's RENDER_STR_MAX_WIDTH; the
 * format's and its enums' text, and an error's text for each spec, are a
 * few times their bytes; and no message is longer than RENDER_LINE_MAX. */
static uint64_t site_text_bound(const struct dsite *d)
{
    uint64_t text = (d->fmt ? strlen(d->fmt) : 0) + (d->desc ? strlen(d->desc) : 0);
    uint64_t b = 1024 + (uint64_t)d->nargs * (RENDER_FMT_MAX_WIDTH + 512) + 64 * text;
    for (unsigned i = 0; i < d->nargs && i < SHMLOG_MAX_ARGS; i++)
        if (d->arg_types[i] == SHMLOG_ARG_STR)
            b += RENDER_STR_MAX_WIDTH - RENDER_FMT_MAX_WIDTH;
    return b < RENDER_LINE_MAX ? b : RENDER_LINE_MAX;
}

/* The columns of a site's fields, found on its first record, and its bound
 * (site_text_bound). */
static struct site_map *site_map(struct arrow_stream *s, const struct dsite *d, const struct render_site *sr)
{
    size_t slot = (size_t)(((uintptr_t)d * 0x9E3779B97F4A7C15ull) >> 58); /* of SITE_RECENT (64) */
    if (s->recent[slot].site == d)
        return s->recent[slot].map;
    struct site_map *m = read_hmap_get(&s->site_cols, (uintptr_t)d, 0);
    if (!m) {
        if (!(m = calloc(1, sizeof *m)))
            return NULL;
        struct render_field_info f[SHMLOG_MAX_ARGS];
        int n = render_site_fields(sr, f);
        for (int j = 0; j < n; j++) {
            uint64_t probe;
            const struct col_def *c = field_column(s, f[j].name, f[j].name_len, field_kind(f[j].type), &probe);
            if (!c)
                continue; /* a site defined after the schema was made (a file still being written) */
            m->f[m->n].col = (uint32_t)(c - s->cols);
            m->f[m->n].type = c->type;
            if (c->type == COL_NEST && (!f[j].shape || strcmp(f[j].shape, c->shape) != 0))
                continue; /* a site defined after the schema was made, of another shape: null */
            m->f[m->n].put = c->type == COL_NEST                                      ? FIELD_NEST
                             : !f[j].whole                                            ? FIELD_CUT
                             : c->type == COL_UTF8                                    ? FIELD_TEXT
                             : c->type == COL_BOOL                                    ? FIELD_BOOL
                             : c->type == COL_F64 && f[j].type == SHMLOG_ARG_F32 ? FIELD_F32_WIDE
                                                                                      : FIELD_WORD;
            m->f[m->n].shift = (uint8_t)(read_col_width[c->type] == 8 ? 3 : read_col_width[c->type] == 4 ? 2
                                         : read_col_width[c->type] == 2 ? 1 : 0);
            m->f[m->n].arg = f[j].arg;
            m->f[m->n].whole = f[j].whole;
            m->f[m->n].tree = f[j].tree;
            m->f[m->n].field = (uint8_t)j;
            m->f[m->n].present = f[j].present;
            m->n++;
        }
        m->text_bound = site_text_bound(d);
        m->batch = UINT64_MAX; /* no batch's indices yet */
        if (read_hmap_put(&s->site_cols, (uintptr_t)d, 0, m) != 0) {
            free(m);
            return NULL;
        }
    }
    s->recent[slot].site = d;
    s->recent[slot].map = m;
    return m;
}

/* put_kept_index() at fixed column col of the records: its type and whether it
 * has a validity bitmap (and so its buffers made on its first value) are
 * constants here, not looked up per row. 0, or -ENOMEM. */
static inline int put_fixed_index(struct batch *bt, struct col_buf *b, unsigned col, uint32_t row, uint32_t i)
{
    if (record_cols[col].nullable && col_ready(bt, b) != 0)
        return -ENOMEM;
    if (record_cols[col].type == COL_DICT8)
        put_u8(b, row, (uint8_t)i);
    else
        put_u16(b, row, (uint16_t)i);
    if (record_cols[col].nullable)
        set_bit(b->valid, row);
    return 0;
}

/* The app's, host's and site d's (of process p) and a record's category's dictionary indices into k, through
 * the site's map. */
static int key_site_dicts(struct arrow_stream *s, struct site_map *m, const struct dsite *d, struct dproc *p,
                          unsigned category, struct row_later *k)
{
    struct batch *bt = &s->fill->batch;
    struct col_buf *site = &bt->buf[R_SITE], *cat = &bt->buf[R_CATEGORY], *func = &bt->buf[R_FUNC];
    struct col_buf *app = &bt->buf[R_APP], *host = &bt->buf[R_HOST];
    if (m->batch != s->batches) {
        long a = dict_keyed(&app->dict, (uintptr_t)p, 0, app_text, p);
        long h = dict_keyed(&host->dict, (uintptr_t)p, 0, host_text, p);
        long i = dict_keyed(&site->dict, (uintptr_t)d, 0, site_text, d);
        long c = dict_keyed(&cat->dict, (uintptr_t)p, category, category_text, p);
        long f = d->func && *d->func ? dict_keyed(&func->dict, (uintptr_t)d, 0, func_text, d) : LONG_MAX;
        if (a < 0 || h < 0 || i < 0 || c < 0 || f < 0)
            return -ENOMEM;
        m->batch = s->batches;
        m->app_index = (uint32_t)a;
        m->host_index = (uint32_t)h;
        m->site_index = (uint32_t)i;
        m->func_index = f == LONG_MAX ? -1 : f;
        m->category_index = (uint32_t)c;
        m->category = category;
        dict_limit(bt, app, s->cols[R_APP].type);
        dict_limit(bt, host, s->cols[R_HOST].type);
        dict_limit(bt, site, s->cols[R_SITE].type);
        dict_limit(bt, func, s->cols[R_FUNC].type);
        dict_limit(bt, cat, s->cols[R_CATEGORY].type);
    } else if (m->category != category) {
        long c = dict_keyed(&cat->dict, (uintptr_t)p, category, category_text, p);
        if (c < 0)
            return -ENOMEM;
        m->category_index = (uint32_t)c;
        m->category = category;
        dict_limit(bt, cat, s->cols[R_CATEGORY].type);
    }
    /* Indices the dictionaries held already: their limits were checked as they grew. */
    k->key[K_APP] = (uint16_t)m->app_index;
    k->key[K_HOST] = (uint16_t)m->host_index;
    k->key[K_SITE] = (uint16_t)m->site_index;
    k->key[K_FUNC] = m->func_index >= 0 ? (uint16_t)m->func_index : KEY_NULL;
    k->key[K_CATEGORY] = (uint16_t)m->category_index;
    return 0;
}

/* dict_index() of K_ column kc, into k. 0, or -ENOMEM. */
static inline __attribute__((always_inline)) int key_dict(struct arrow_stream *s, unsigned kc, struct row_later *k,
                                                          const void *key, uint64_t k2,
                                                          const char *(*text)(const void *, uint64_t, char *))
{
    long i = dict_index(s, rcol(s, key_col[kc]), key, k2, text);
    if (i < 0)
        return -ENOMEM;
    k->key[kc] = (uint16_t)i;
    return 0;
}

/* The K_ columns' indices row_keys found, at row. 0, or -ENOMEM. */
static int put_keys(const struct arrow_stream *s, struct batch *bt, const struct row_later *k, uint32_t row)
{
    /* Every record has the first three, one of a known site the next two (func: a named function); their
     * types are constants. */
    if (put_fixed_index(bt, &bt->buf[R_APP], R_APP, row, k->key[K_APP]) != 0 ||
        put_fixed_index(bt, &bt->buf[R_HOST], R_HOST, row, k->key[K_HOST]) != 0 ||
        put_fixed_index(bt, &bt->buf[R_CATEGORY], R_CATEGORY, row, k->key[K_CATEGORY]) != 0)
        return -ENOMEM;
    if (k->key[K_SITE] != KEY_NULL && put_fixed_index(bt, &bt->buf[R_SITE], R_SITE, row, k->key[K_SITE]) != 0)
        return -ENOMEM;
    if (k->key[K_FUNC] != KEY_NULL && put_fixed_index(bt, &bt->buf[R_FUNC], R_FUNC, row, k->key[K_FUNC]) != 0)
        return -ENOMEM;
    for (unsigned kc = K_THREAD; kc < K_COUNT; kc++) {
        if (k->key[kc] == KEY_NULL)
            continue;
        size_t col = rcol(s, key_col[kc]);
        struct col_buf *b = &bt->buf[col];
        if (col_ready(bt, b) != 0)
            return -ENOMEM;
        put_kept_index(b, s->cols[col].type, row, k->key[kc]);
    }
    return 0;
}

/* A field's value into its column: v, the argument's value (a string's
 * bytes at str). 0, or -ENOMEM. */
static inline __attribute__((always_inline)) int put_field(struct batch *bt, struct col_buf *b, uint8_t type,
                                                           uint32_t row, uint64_t v, const void *str, size_t len)
{
    if (col_ready(bt, b) != 0)
        return -ENOMEM;
    switch (type) {
    case COL_UTF8:
        return put_text(bt, b, row, str, len);
    case COL_BOOL:
        if (v)
            set_bit(b->data, row);
        break;
    case COL_F32: {
        double d; /* an f32 argument, exactly widened: narrowed back exactly */
        memcpy(&d, &v, sizeof d);
        float f = (float)d;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        put_u32(b, row, bits);
        break;
    }
    case COL_I8: case COL_U8:
        put_u8(b, row, (uint8_t)v);
        break;
    case COL_I16: case COL_U16:
        put_u16(b, row, (uint16_t)v);
        break;
    case COL_I32: case COL_U32:
        put_u32(b, row, (uint32_t)v);
        break;
    default: /* I64, U64, F64: the bits as the argument holds them */
        put_u64(b, row, v);
        break;
    }
    set_bit(b->valid, row); /* a field's column is nullable (scan_field) */
    return 0;
}

/* A value tree's argument a into its typed column: its characters (3 a payload byte at most) and elements (fewer
 * than its bytes) are within the batch's text bound (row_keys), which keeps its int32 offsets from overflowing. */
static int put_tree(struct col_buf *b, uint32_t row, const struct render_arg *a)
{
    return read_nest_put_row(b->nest, row, a->v.s, a->type == SHMLOG_ARG_STR ? a->str_len : 0);
}

/* A record's field values into their columns. */
static int put_fields(struct batch *bt, const struct site_map *m, const struct render_site *sr, uint32_t row,
                      const struct render_arg *args)
{
    for (uint32_t j = 0, n = m->n; j < n; j++) { /* n read once: the byte stores below may alias m */
        __typeof__(m->f[0]) f = m->f[j];
        if (f.present && !args[f.present - 1].v.u)
            continue; /* an empty std::optional: null, as rows of sites without the field */
        if (f.put == FIELD_NEST) {
            if (put_tree(&bt->buf[f.col], row, &args[f.arg]) != 0)
                return -ENOMEM;
            continue;
        }
        struct render_field_room room;
        const struct render_arg *a = f.whole ? &args[f.arg] : render_field_value(sr, args, f.field, &room);
        struct render_arg shown;
        if (read_field_shown(a, f.tree, &bt->tree_text, &bt->tree_text_cap, &shown) != 0 ||
            put_field(bt, &bt->buf[f.col], f.type, row, shown.v.u, shown.v.s, shown.str_len) != 0)
            return -ENOMEM;
    }
    return 0;
}

/* The same from the values of a SHM_REC_VALUES record of the site's types,
 * read where a field shows them whole: a store or two a field. */
static int put_fields_values(struct batch *bt, const struct site_map *m, const struct render_site *sr,
                             uint32_t row, const struct shm_copied_record *rec)
{
    size_t byte = row >> 3;
    uint8_t bit = (uint8_t)(1u << (row & 7));
    for (uint32_t j = 0, n = m->n; j < n; j++) { /* n read once: the byte stores below may alias m */
        const __typeof__(m->f[0]) *f = &m->f[j];
        if (f->present && !shm_rec_value(rec, f->present - 1u))
            continue; /* an empty std::optional: null, as rows of sites without the field */
        uint64_t v = shm_rec_value(rec, f->arg);
        struct col_buf *b = &bt->buf[f->col];
        if (f->put != FIELD_NEST && col_ready(bt, b) != 0)
            return -ENOMEM;
        switch (f->put) {
        case FIELD_WORD:
            memcpy(b->data + ((size_t)row << f->shift), &v, 8);
            break;
        case FIELD_F32_WIDE: {
            uint32_t w = (uint32_t)v;
            float x;
            memcpy(&x, &w, sizeof x);
            double d = x;
            memcpy(b->data + (size_t)row * 8, &d, 8);
            break;
        }
        case FIELD_BOOL:
            if (v)
                b->data[byte] |= bit;
            break;
        case FIELD_TEXT:
            if (put_field(bt, b, COL_UTF8, row, v, shm_rec_str_at(rec, v), v & SHMLOG_STR_LEN_MASK) != 0)
                return -ENOMEM;
            continue; /* its validity set */
        case FIELD_NEST: {
            struct render_arg a = {.type = SHMLOG_ARG_STR, .str_len = (uint16_t)(v & SHMLOG_STR_LEN_MASK)};
            a.v.s = shm_rec_str_at(rec, v);
            if (put_tree(b, row, &a) != 0)
                return -ENOMEM;
            continue;
        }
        default: { /* FIELD_CUT */
            struct render_arg args[SHMLOG_MAX_ARGS];
            struct render_field_room room;
            struct render_arg a;
            render_prepared_args(sr, rec, NULL, args);
            if (read_field_shown(render_field_value(sr, args, f->field, &room), f->tree, &bt->tree_text,
                                 &bt->tree_text_cap, &a) != 0 ||
                put_field(bt, b, f->type, row, a.v.u, a.v.s, a.str_len) != 0)
                return -ENOMEM;
            continue;
        }
        }
        b->valid[byte] |= bit; /* a field's column is nullable (scan_field) */
    }
    return 0;
}

/* An Arrow timestamp is signed: a time past 2262 (a damaged clock's, clamped
 * to the largest ns) is its largest value. */
static inline uint64_t arrow_ts(uint64_t ns)
{
    return ns > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : ns;
}

/* The message of a record of a known site (prepared as sr) at row of the
 * msg column; *nargs: its arguments' count (-1 when they do not match the
 * site), args decoded unless values. 0, or -ENOMEM. */
static inline __attribute__((always_inline)) int put_message(struct batch *bt, const struct render_site *sr,
                                                             const struct shm_copied_record *rec, int values,
                                                             uint32_t row, struct render_arg *args, int *nargs)
{
    /* Rendered where it goes; when it does not fit, again with room for the longest. */
    struct col_buf *m = &bt->buf[R_MSG];
    if (col_ready(bt, m) != 0)
        return -ENOMEM;
    struct render_buf b;
    for (int pass = 0;; pass++) {
        render_buf_init(&b, m->chars + m->chars_len, m->chars_cap - m->chars_len);
        if (values)
            render_msg_values(sr, rec, &b);
        else
            *nargs = render_prepared_args(sr, rec, &b, args);
        if (!b.overflow || pass)
            break;
        if (read_batch_chars(bt, m, RENDER_LINE_MAX) != 0)
            return -ENOMEM;
    }
    fill_strings(bt, m, row);
    size_t from = m->chars_len;
    m->chars_len += b.len;
    if (!b.ascii && batch_utf8(bt, m, b.len) != 0) /* the renderer knows most messages are ASCII */
        return -ENOMEM;
    end_string(bt, m, row, from);
    set_bit(m->valid, row); /* record_cols: msg is nullable */
    return 0;
}

/* A record's flags as the bool columns. 0, or -ENOMEM. */
static int put_flags(const struct arrow_stream *s, struct batch *bt, uint32_t row, unsigned flags)
{
    static const struct {
        unsigned flag, col;
    } flag_cols[] = {{SHMLOG_REC_TRUNCATED, R_TRUNCATED}, {SHMLOG_REC_CLAMPED, R_CLAMPED},
                     {SHMLOG_REC_BACKTRACE, R_BACKTRACE}, {SHM_REC_TIME_UNCERTAIN, R_TIME_UNCERTAIN}};
    for (size_t i = 0; i < sizeof flag_cols / sizeof flag_cols[0]; i++) {
        struct col_buf *b = &bt->buf[rcol(s, flag_cols[i].col)];
        if (!(flags & flag_cols[i].flag))
            continue;
        if (col_ready(bt, b) != 0)
            return -ENOMEM;
        set_bit(b->data, row);
    }
    return 0;
}

/* ==== A record's row, in two parts ====
 *
 * row_keys, on the stream's thread in the merge's order, decides what
 * depends on the rows before: the dictionaries' indices, the renderer and
 * field columns of the site, and where the batch ends. row_columns writes
 * every column (those indices, times, numbers, flags, the message, the
 * fields): at once on one thread, or later on a builder's from the entry
 * where the merge holds it (struct row_later), so that any number of threads
 * make the same batches. */

static int row_keys(struct arrow_stream *s, const struct entry *e, struct row_later *k)
{
    struct job *j = s->fill;
    const struct shm_copied_record *rec = entry_record(e);
    struct dproc *p = e->proc;
    if (rec->level > j->max_level)
        j->max_level = rec->level;
    k->pid = p->info.pid;
    k->sr = NULL;
    k->map = NULL;
    memset(k->key, 0xff, sizeof k->key); /* KEY_NULL */
    int rc;
    if (e->thread && (rc = key_dict(s, K_THREAD, k, e->thread, 0, name_text)) != 0)
        return rc;
    if (p->instance[0] && (rc = key_dict(s, K_INSTANCE, k, p, 0, instance_text)) != 0)
        return rc;
    if (p->hostname && (rc = key_dict(s, K_HOSTNAME, k, p, 0, hostname_text)) != 0)
        return rc;
    if ((e->trace.hi || e->trace.lo) && e->trace.span[0] && (rc = key_dict(s, K_SPAN, k, e->trace.span, 0, name_text)) != 0)
        return rc;
    const char *error = NULL;
    if (!e->site) {
        error = "unknown site";
        if ((rc = key_dict(s, K_APP, k, p, 0, app_text)) != 0 || (rc = key_dict(s, K_HOST, k, p, 0, host_text)) != 0 ||
            (rc = key_dict(s, K_CATEGORY, k, p, rec->category, category_text)) != 0)
            return rc;
    } else {
        const struct render_site *sr = prepared(&s->r->engine, e->site, p);
        if (!sr)
            return -ENOMEM;
        struct site_map *sm = site_map(s, e->site, sr);
        if (!sm)
            return -ENOMEM;
        if ((rc = key_site_dicts(s, sm, e->site, p, rec->category, k)) != 0)
            return rc;
        /* A record of the site's types (read_decode.c) matches it; another is decoded to know. */
        if (!(rec->flags & SHM_REC_VALUES)) {
            struct render_arg rf[SHMLOG_MAX_ARGS];
            if (render_prepared_args(sr, rec, NULL, rf) < 0)
                error = "corrupt payload";
        }
        k->sr = sr;
        k->map = sm;
        j->text_bound += sm->text_bound + ARROW_TEXT_PER_BYTE * rec->payload_len;
        if (j->text_bound >= CHARS_MAX - RENDER_LINE_MAX - SHMLOG_STR_LEN_MASK)
            j->batch.full = 1; /* the next record could pass CHARS_MAX */
    }
    if (error && (rc = key_dict(s, K_ERROR, k, error, 0, name_text)) != 0)
        return rc;
    return 0;
}

static int row_columns(const struct arrow_stream *s, struct job *j, const struct entry *e, const struct row_later *k,
                       uint32_t row)
{
    const struct record_cols *c = &j->fixed;
    struct batch *bt = &j->batch;
    const struct shm_copied_record *rec = entry_record(e);
    unsigned flags = rec->flags;
    /* Typed stores first: the byte stores after them may alias anything. */
    c->ts[row] = arrow_ts(entry_own_ts(e));
    c->seq[row] = rec->pos;
    c->pid[row] = k->pid;
    c->tid[row] = rec->tid;
    c->cpu[row] = e->cpu;
    c->level[row] = (uint8_t)rec->level;
    int rc = put_keys(s, bt, k, row);
    if (rc)
        return rc;
    if (e->trace.hi || e->trace.lo) {
        char id[33];
        render_trace_id(e->trace.hi, e->trace.lo, id);
        if ((rc = put_field(bt, &bt->buf[rcol(s, R_TRACE_ID)], COL_UTF8, row, 0, id, 32)) != 0)
            return rc;
    }
    if ((flags & (SHMLOG_REC_TRUNCATED | SHMLOG_REC_CLAMPED | SHMLOG_REC_BACKTRACE | SHM_REC_TIME_UNCERTAIN)) &&
        (rc = put_flags(s, bt, row, flags)) != 0)
        return rc;
    if (!k->sr)
        return 0;
    int values = (flags & SHM_REC_VALUES) != 0;
    struct render_arg rf[SHMLOG_MAX_ARGS];
    int n = values ? render_site_nargs(k->sr) : 0;
    if (s->opt.message) {
        if ((rc = put_message(bt, k->sr, rec, values, row, rf, &n)) != 0)
            return rc;
    } else if (!values) {
        n = render_prepared_args(k->sr, rec, NULL, rf);
    }
    if (n > 0 && s->opt.fields &&
        (rc = values ? put_fields_values(bt, k->map, k->sr, row, rec) : put_fields(bt, k->map, k->sr, row, rf)) != 0)
        return rc;
    return 0;
}

/* Entry e's row for a builder, with its keys: the merge holds e until the
 * job is handed on (job_fill); an entry of the reader's is copied. 0, or -ENOMEM. */
static int row_later(const struct arrow_stream *s, struct job *j, const struct entry *e, const struct row_later *k)
{
    struct row_later *later = &j->later[j->batch.rows];
    *later = *k;
    later->e = e;
    if (!s->reader_entry)
        return 0;
    if (j->entries_len + e->bytes > j->entries_cap) {
        size_t cap = j->entries_cap ? 2 * j->entries_cap : (size_t)j->batch.cap * 128;
        while (cap < j->entries_len + e->bytes)
            cap *= 2;
        unsigned char *n = realloc(j->entries, cap);
        if (!n)
            return -ENOMEM;
        j->entries = n;
        j->entries_cap = cap;
    }
    memcpy(j->entries + j->entries_len, e, e->bytes);
    later->e = NULL;
    later->at = (uint32_t)j->entries_len;
    j->entries_len += e->bytes;
    return 0;
}

static int append_record(struct arrow_stream *s, const struct entry *e)
{
    struct row_later k;
    int rc = row_keys(s, e, &k);
    if (rc)
        return rc;
    struct job *j = s->fill;
    if (s->nbuilders)
        return row_later(s, j, e, &k);
    j->built = j->batch.rows + 1;
    return row_columns(s, j, e, &k, j->batch.rows);
}

/* Writes the columns of j's rows that wait for them (a builder's work). */
static int job_build(const struct arrow_stream *s, struct job *j)
{
    for (uint32_t row = j->built; row < j->batch.rows; row++) {
        const struct row_later *k = &j->later[row];
        const struct entry *e = k->e ? k->e : (const struct entry *)(const void *)(j->entries + k->at);
        int rc = row_columns(s, j, e, k, row);
        if (rc)
            return rc;
    }
    j->built = j->batch.rows;
    return 0;
}

/* v at row of a marker's nullable number column col (u32 or u64). 0, or -ENOMEM. */
static int put_marker_number(struct arrow_stream *s, size_t col, uint32_t row, uint64_t v)
{
    struct batch *bt = &s->fill->batch;
    struct col_buf *b = &bt->buf[col];
    if (col_ready(bt, b) != 0)
        return -ENOMEM;
    if (s->cols[col].type == COL_U32)
        put_u32(b, row, (uint32_t)v);
    else
        put_u64(b, row, v);
    set_bit(b->valid, row);
    return 0;
}

static int append_marker(struct arrow_stream *s, const struct entry *e)
{
    struct col_buf *buf = s->fill->batch.buf;
    uint32_t row = s->fill->batch.rows;
    struct dproc *p = e->proc;
    put_u64(&buf[M_TS], row, arrow_ts(e->ts_ns));
    int loss = e->kind == ENTRY_LOSS;
    int rc = put_dict(s, M_KIND, row, loss ? "loss" : "exit", 0, name_text);
    if (rc == 0)
        rc = put_dict(s, M_APP, row, p, 0, app_text);
    if (rc == 0)
        rc = put_dict(s, M_HOST, row, p, 0, host_text);
    if (rc == 0 && p->instance[0])
        rc = put_dict(s, M_INSTANCE, row, p, 0, instance_text);
    if (rc == 0 && p->hostname)
        rc = put_dict(s, M_HOSTNAME, row, p, 0, hostname_text);
    if (rc)
        return rc;
    put_u32(&buf[M_PID], row, p->info.pid);
    /* an exit is the process's, not a ring's */
    if (loss && e->cpu != UINT32_MAX && (rc = put_marker_number(s, M_CPU, row, e->cpu)) != 0)
        return rc;
    if (loss) {
        struct shm_loss l;
        memcpy(&l, e + 1, sizeof l);
        if ((rc = put_dict(s, M_LOSS_REASON, row, shm_loss_reason_name(l.reason), 0, name_text)) != 0 ||
            (rc = put_marker_number(s, M_LOSS_RECORDS, row, l.records)) != 0 ||
            (rc = put_marker_number(s, M_LOSS_POSITIONS, row, l.positions)) != 0 ||
            (rc = put_marker_number(s, M_LOSS_FIRST_SEQ, row, l.first_pos)) != 0)
            return rc;
        return 0;
    }
    struct entry_exit x;
    memcpy(&x, e + 1, sizeof x);
    if ((rc = put_marker_number(s, M_EXIT_RECORDS, row, x.records)) != 0 ||
        (rc = put_marker_number(s, M_EXIT_LOST, row, x.lost)) != 0)
        return rc;
    if (x.how == SHLOG_EXIT_SHUTDOWN || x.how == SHLOG_EXIT_DIED)
        rc = put_dict(s, M_EXIT_HOW, row, x.how == SHLOG_EXIT_SHUTDOWN ? "shutdown" : "died", 0, name_text);
    return rc;
}

/* The merge's sink while the stream reads: a row for each entry of the
 * stream's kinds, 1 once the batch is full. */
static int append_entry(void *ctx, const struct entry *e)
{
    struct arrow_stream *s = ctx;
    struct batch *bt = &s->fill->batch;
    int rc;
    if (e->kind == ENTRY_RECORD || e->kind == ENTRY_BACKTRACE) {
        if (!s->records)
            return 0;
        rc = append_record(s, e);
    } else if (e->kind == ENTRY_LOSS || e->kind == ENTRY_EXIT) {
        if (s->records)
            return 0;
        rc = append_marker(s, e);
    } else {
        return 0;
    }
    if (rc)
        return rc;
    bt->rows++;
    return bt->rows >= bt->cap || bt->full;
}

/* The merge's messages while the stream reads: kept for the caller (an
 * error marks the reader as having had one). */
static void stream_message(void *ctx, const char *msg, int note)
{
    struct arrow_stream *s = ctx;
    if (!note)
        s->r->had_errors = 1;
    read_keep_message(s->r, msg, note);
}

/* The level column's dictionary: the six names, and L6, L7 when a damaged record has them. */
static int level_dict(struct job *j, struct dict *d)
{
    unsigned n = j->max_level >= 6 ? 8 : 6;
    for (unsigned i = 0; i < n; i++)
        if (read_dict_text(d, level_names[i], strlen(level_names[i])) < 0)
            return -ENOMEM;
    return 0;
}

/* ==== Builders: the threads that write batches' columns ====
 *
 * The stream's thread fills up to njobs batches ahead and hands each to the
 * builders; it hands the batches on in order, building one itself while it
 * waits. What a queued job's rows point to stays until it is built: the
 * merge's entries until the job is handed on (read_merge_hold), and sites'
 * renderers, since the engine asks before it frees one (stream_sites_freeing). */

/* A builder's work: the columns of slot's rows (with no builder, the rows were written as they came). */
static int job_build_slot(void *ctx, size_t slot)
{
    struct arrow_stream *s = ctx;
    return s->nbuilders ? job_build(s, &s->jobs[slot]) : 0;
}

/* The engine is about to free sites' renderers: every row that uses one gets its columns first. */
static void stream_sites_freeing(void *ctx)
{
    struct arrow_stream *s = ctx;
    read_jobs_wait(&s->q, s->q.njobs);
    if (s->fill && !s->fill->rc)
        s->fill->rc = job_build(s, s->fill);
}

static void builders_start(struct arrow_stream *s, size_t n)
{
    s->nbuilders = read_jobs_start(&s->q, n); /* fewer threads: the stream's own builds the rest */
    if (s->nbuilders)
        s->r->engine.sites_freeing = (struct read_sites_freeing){stream_sites_freeing, s};
}

static void builders_stop(struct arrow_stream *s)
{
    if (!s->nbuilders)
        return;
    read_jobs_stop(&s->q);
    s->nbuilders = 0;
    s->r->engine.sites_freeing = (struct read_sites_freeing){NULL, NULL};
}

/* ==== The stream's callbacks ==== */

static int stream_get_schema(struct ArrowArrayStream *st, struct ArrowSchema *out)
{
    struct arrow_stream *s = st->private_data;
    int rc = make_schema(s);
    if (rc)
        return stream_fail(s, rc, "reading the call sites for the schema");
    if ((rc = export_schema(s, out)) != 0)
        return stream_fail(s, rc, "the schema");
    return 0;
}

/* Fills job j with the merge's next rows, up to a batch: 0 (rows 0 at the
 * end, or at the deadline), or -errno. */
static int job_fill(struct arrow_stream *s, struct job *j)
{
    struct shmlog_read *r = s->r;
    j->batch.cap = s->opt.batch_rows;
    j->max_level = 0;
    j->text_bound = 0;
    j->entries_len = 0;
    j->built = 0;
    j->rc = 0;
    j->serial = ++s->batches;
    /* The builders read the merge's entries after they were handed on: the chunks that empty now stay until
     * this job is handed on (job_export). */
    if (s->nbuilders)
        read_merge_hold(&r->merge, j->serial);
    int rc = read_batch_begin(&j->batch);
    if (rc)
        return rc;
    if (s->records) {
        struct col_buf *b = j->batch.buf;
        j->fixed = (struct record_cols){(uint64_t *)(void *)b[R_TS].data, (uint64_t *)(void *)b[R_SEQ].data,
                                     (uint32_t *)(void *)b[R_PID].data, (uint32_t *)(void *)b[R_TID].data,
                                     (uint32_t *)(void *)b[R_CPU].data, b[R_LEVEL].data};
    }
    s->fill = j;
    r->merge.sink = &s->sink;
    rc = 0;
    while (!j->batch.full && j->batch.rows < j->batch.cap && !j->rc) {
        if (r->ready_off < r->ready_len) {
            /* What the merge gave before the stream began. */
            const struct entry *e = (const struct entry *)(r->ready + r->ready_off);
            r->ready_off += e->bytes;
            if (e->kind == ENTRY_NOTE || e->kind == ENTRY_ERROR) {
                read_keep_message(r, (const char *)(e + 1), e->kind == ENTRY_NOTE);
                continue;
            }
            s->reader_entry = 1;
            rc = append_entry(s, e);
            s->reader_entry = 0;
            if (rc < 0)
                break;
            continue;
        }
        if (r->ended || r->failed || read_past_deadline(r))
            break;
        if ((rc = read_merge_step(&r->merge)) <= 0) {
            r->ended = 1;
            if (rc < 0)
                break;
        }
    }
    r->merge.sink = &r->sink;
    s->fill = NULL;
    if (rc < 0)
        return rc;
    if (r->failed)
        return r->failed;
    return j->rc;
}

/* Hands on the oldest job in flight as out, once built. 0, or -errno. */
static int job_export(struct arrow_stream *s, struct ArrowArray *out)
{
    struct job *j = &s->jobs[s->q.head];
    int rc = read_jobs_wait(&s->q, s->q.head);
    if (rc == 0 && s->records)
        rc = level_dict(j, &j->batch.buf[R_LEVEL].dict);
    if (rc == 0)
        rc = read_batch_export(&j->batch, out);
    if (rc)
        read_batch_free(&j->batch);
    /* Built: the entries of this job and those before it are read. */
    read_merge_let_go(&s->r->merge, j->serial);
    read_jobs_pop(&s->q);
    return rc;
}

static int stream_get_next(struct ArrowArrayStream *st, struct ArrowArray *out)
{
    struct arrow_stream *s = st->private_data;
    struct shmlog_read *r = s->r;
    int rc = make_schema(s);
    if (rc)
        return stream_fail(s, rc, "reading the call sites for the schema");
    if (s->ended) {
        out->release = NULL;
        return 0;
    }
    /* Batches ahead while there is room for them, then the oldest; a merge
     * that ended before the stream began may have left entries ready. */
    size_t slot;
    while ((slot = read_jobs_free_slot(&s->q)) < s->q.njobs && (!r->ended || r->ready_off < r->ready_len) &&
           !r->failed) {
        struct job *j = &s->jobs[slot];
        if ((rc = job_fill(s, j)) != 0) {
            read_batch_free(&j->batch);
            builders_stop(s);
            read_fail(r, rc);
            return stream_fail(s, r->failed, "reading");
        }
        if (j->batch.rows == 0) {
            read_batch_free(&j->batch);
            break;
        }
        read_jobs_push(&s->q);
        if (r->timed_out)
            break;
    }
    if (s->q.nflight == 0) {
        if (r->timed_out && !r->ended) {
            snprintf(s->error, sizeof s->error, "the reader's deadline passed");
            return ETIMEDOUT; /* a later call (after a later deadline) reads on */
        }
        s->ended = 1;
        out->release = NULL;
        return 0;
    }
    if ((rc = job_export(s, out)) != 0)
        return stream_fail(s, rc, "a batch");
    return 0;
}

static const char *stream_get_last_error(struct ArrowArrayStream *st)
{
    struct arrow_stream *s = st->private_data;
    return s->error[0] ? s->error : NULL;
}

static void stream_release(struct ArrowArrayStream *st)
{
    struct arrow_stream *s = st->private_data;
    builders_stop(s);
    read_merge_let_go(&s->r->merge, UINT64_MAX);
    read_merge_hold(&s->r->merge, 0);
    for (size_t i = 0; i < s->q.njobs; i++) {
        read_batch_free(&s->jobs[i].batch);
        free(s->jobs[i].batch.buf);
        free(s->jobs[i].batch.tree_text);
        free(s->jobs[i].later);
        free(s->jobs[i].entries);
    }
    read_pool_close(s->jobs[0].batch.pool);
    free(s->jobs);
    read_jobs_free(&s->q);
    for (size_t i = 0; i < s->ncols; i++) {
        free(s->cols[i].name);
        free(s->cols[i].field);
        free(s->cols[i].origin.text);
        free(s->cols[i].shape);
    }
    free(s->cols);
    read_hmap_clear(&s->field_col);
    for (size_t i = 0; i < s->site_cols.cap; i++)
        free(s->site_cols.slots[i].v);
    read_hmap_clear(&s->site_cols);
    s->r->streaming = 0;
    read_unref(s->r);
    free(s);
    st->release = NULL;
}

/* The options of version 2, the first with streams: a program passes at least these. */
#define ARROW_OPTIONS_V2_SIZE (offsetof(struct shmlog_read_arrow_options, message) + sizeof(int))

int shmlog_read_arrow(struct shmlog_read *r, const struct shmlog_read_arrow_options *opt, struct ArrowArrayStream *out,
                      char *err, size_t errcap)
{
    static const struct shmlog_read_arrow_options defaults = SHMLOG_READ_ARROW_OPTIONS_INIT;
    struct shmlog_read_arrow_options o = defaults;
    if (errcap)
        err[0] = '\0';
    if (opt) {
        if (opt->size < ARROW_OPTIONS_V2_SIZE) {
            if (errcap)
                snprintf(err, errcap, "shmlog_read_arrow_options.size is not set: start from SHMLOG_READ_ARROW_OPTIONS_INIT");
            return -EINVAL;
        }
        memcpy(&o, opt, opt->size < sizeof o ? opt->size : sizeof o);
        if (opt->size < offsetof(struct shmlog_read_arrow_options, trees) + sizeof o.trees)
            o.trees = 0; /* as before version 11: the text */
    }
    if (o.what != SHMLOG_READ_ARROW_RECORDS && o.what != SHMLOG_READ_ARROW_MARKERS) {
        if (errcap)
            snprintf(err, errcap, "what is SHMLOG_READ_ARROW_RECORDS or SHMLOG_READ_ARROW_MARKERS, not %u", o.what);
        return -EINVAL;
    }
    if (o.batch_rows == 0)
        o.batch_rows = BATCH_ROWS_DEFAULT;
    if (o.batch_rows > SHMLOG_READ_ARROW_ROWS_MAX) {
        if (errcap)
            snprintf(err, errcap, "batch_rows is at most %u", SHMLOG_READ_ARROW_ROWS_MAX);
        return -EINVAL;
    }
    if (r->streaming || r->lines_ahead) {
        if (errcap)
            snprintf(err, errcap, r->streaming ? "the reader is read by a stream already"
                                               : "the reader has lines read ahead: read them first (shmlog_read_lines)");
        return -EBUSY;
    }
    /* Markers are few: their rows are written as they come. */
    unsigned threads = o.what == SHMLOG_READ_ARROW_RECORDS ? read_jobs_threads(o.threads) : 1;
    size_t njobs = threads > 1 ? JOBS_PER_THREAD * threads : 1;
    struct arrow_stream *s = calloc(1, sizeof *s);
    struct pool *pool = read_pool_new(o.batch_rows);
    if (!s || !pool || !(s->jobs = calloc(njobs, sizeof *s->jobs)) ||
        read_jobs_init(&s->q, njobs, job_build_slot, s) != 0) {
        if (s)
            free(s->jobs);
        free(s);
        if (pool)
            read_pool_close(pool);
        if (errcap)
            snprintf(err, errcap, "out of memory");
        return -ENOMEM;
    }
    s->threads = threads;
    for (size_t i = 0; i < njobs; i++) {
        s->jobs[i].batch.pool = pool;
        s->jobs[i].batch.string_views = o.string_views != 0;
    }
    s->sink = (struct entry_sink){append_entry, stream_message, s};
    s->r = r;
    s->opt = o;
    s->records = o.what == SHMLOG_READ_ARROW_RECORDS;
    /* Entries of the other kind are not queued, but for a limit, which counts
     * records in time order (the markers shown are those before it). */
    if (!r->merge.limit)
        r->merge.kinds = s->records ? 1 << ENTRY_RECORD : 1 << ENTRY_LOSS | 1 << ENTRY_EXIT;
    r->streaming = 1;
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    *out = (struct ArrowArrayStream){stream_get_schema, stream_get_next, stream_get_last_error, stream_release, s};
    return 0;
}
