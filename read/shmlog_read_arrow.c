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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "read_arrow.h"
#include "read_lib.h"

/* Rows of a batch by default: the columns of a batch stay in the cache while
 * they are written (65536-row batches cost 5-15 % more a row: bench_reader.c). */
#define BATCH_ROWS_DEFAULT 16384u
#define ERROR_MAX 256
#define SITE_RECENT 64u

/* ==== The stream ==== */

/* The fixed columns' values of the records' batch being built, typed: set
 * when it begins (the buffers stay while it is built). */
struct record_cols {
    uint64_t *ts, *seq;
    uint32_t *pid, *tid, *cpu;
    uint8_t *level;
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
    struct batch batch;   /* being built */
    struct record_cols rc; /* its fixed columns, records */
    uint64_t batches;     /* batches begun: a site_map's indices are of the batch it names */
    uint32_t max_level;   /* records: the highest level in the batch */
    char error[ERROR_MAX];
};

/* The columns of a site's fields, found once per site; and the site's and its last category's indices in the batch's
 * dictionaries, valid while batch is the stream's (records come in runs of a
 * few sites: no look-up in the dictionaries' tables for them). */
struct site_map {
    uint32_t n;                     /* fields with a column (a site defined after the schema was made has none) */
    struct {
        struct col_buf *buf;        /* the column's, in the stream's batch */
        uint8_t *data, *valid;      /* its buffers in the batch the map is of (batch) */
        uint8_t type;               /* the column's */
        uint8_t put;                /* enum field_put: how a value goes in */
        uint8_t shift;              /* FIELD_WORD: log2 of the column's width */
        uint8_t arg;                /* the argument the field shows */
        uint8_t whole;              /* the field's value is that argument as decoded */
        uint8_t tree;               /* a value tree: its column holds the fmt text */
        uint8_t field;              /* the field's number (render_field_value()) */
        uint8_t present;            /* render_field_info's: an empty std::optional's field is null */
    } f[SHMLOG_MAX_ARGS];
    uint64_t batch;
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
    FIELD_CUT,  /* a string the format cuts: as the message shows it (render_field_value()) */
};

/* The records' fixed columns, in order. */
enum {
    R_TS, R_LEVEL, R_CATEGORY, R_APP, R_HOST, R_PID, R_TID, R_CPU, R_SEQ, R_SITE, R_FUNC, R_MSG, R_TRUNCATED,
    R_CLAMPED, R_BACKTRACE, R_TIME_UNCERTAIN, R_ERROR, R_THREAD, R_INSTANCE, R_FIXED
};
/* The markers' columns. */
enum {
    M_TS, M_KIND, M_APP, M_HOST, M_PID, M_CPU, M_LOSS_REASON, M_LOSS_RECORDS, M_LOSS_POSITIONS, M_LOSS_FIRST_SEQ,
    M_EXIT_RECORDS, M_EXIT_LOST, M_EXIT_HOW, M_INSTANCE, M_COUNT
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
}, marker_cols[M_COUNT] = {
    [M_TS] = {"ts", COL_TS, 0, 0},           [M_KIND] = {"kind", COL_DICT8, 0, 0},
    [M_APP] = {"app", COL_DICT16, 0, 0},     [M_HOST] = {"host", COL_DICT16, 0, 0},
    [M_PID] = {"pid", COL_U32, 0, 0},        [M_CPU] = {"cpu", COL_U32, 1, 0},
    [M_LOSS_REASON] = {"loss_reason", COL_DICT8, 1, 0}, [M_LOSS_RECORDS] = {"loss_records", COL_U64, 1, 0},
    [M_LOSS_POSITIONS] = {"loss_positions", COL_U64, 1, 0}, [M_LOSS_FIRST_SEQ] = {"loss_first_seq", COL_U64, 1, 0},
    [M_EXIT_RECORDS] = {"exit_records", COL_U64, 1, 0}, [M_EXIT_LOST] = {"exit_lost", COL_U64, 1, 0},
    [M_EXIT_HOW] = {"exit_how", COL_DICT8, 1, 0},
    [M_INSTANCE] = {"instance", COL_DICT16, 1, 0},
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
static int scan_field(struct arrow_stream *s, const char *name, size_t len, unsigned arg_type,
                      const struct field_origin *at, size_t text_len)
{
    uint8_t kind = field_kind(arg_type), type = field_col_type(arg_type);
    uint64_t probe;
    struct col_def *c = field_column(s, name, len, kind, &probe);
    if (c) {
        c->type = wider(c->type, type);
        if (origin_cmp(at, &c->origin) >= 0)
            return 0;
    } else {
        if (add_col(s, name, len, type, 1, 0, kind) != 0 ||
            !(s->cols[s->ncols - 1].field = strdup(s->cols[s->ncols - 1].name)) ||
            field_col_put(s, name, len, kind, probe, s->ncols - 1) != 0)
            return -ENOMEM;
        c = &s->cols[s->ncols - 1];
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
    struct render_site *sr = render_site_new(info, p->app, p->host, p->pid, p->instance, NULL);
    if (!sr)
        return -ENOMEM;
    struct render_field_info f[SHMLOG_MAX_ARGS];
    int n = render_site_fields(sr, f);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        struct field_origin at = {text, info->line, (uint8_t)i};
        rc = scan_field(s, f[i].name, f[i].name_len, f[i].type, &at, file_len + fmt_len + 2);
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

/* The fields' column names: a name of a fixed column gets "field." before
 * it, a name with values of several kinds a column per kind, ".<kind>" after it. */
static int name_fields(struct arrow_stream *s)
{
    for (size_t i = s->first_field; i < s->ncols; i++) {
        struct col_def *c = &s->cols[i];
        int several = 0, fixed = 0;
        for (size_t j = s->first_field; j < s->ncols && !several; j++)
            several = j != i && strcmp(s->cols[j].field, c->field) == 0;
        for (size_t j = 0; j < R_FIXED && !fixed; j++)
            fixed = strcmp(record_cols[j].name, c->name) == 0;
        if (!several && !fixed)
            continue;
        size_t len = strlen(c->name) + 16;
        char *n = malloc(len);
        if (!n)
            return -ENOMEM;
        snprintf(n, len, "%s%s%s%s", fixed ? "field." : "", c->name, several ? "." : "",
                 several ? kind_suffix[c->kind] : "");
        free(c->name);
        c->name = n;
    }
    return 0;
}

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
    if (rc == 0 && !(s->batch.buf = calloc(s->ncols, sizeof *s->batch.buf)))
        rc = -ENOMEM;
    s->batch.cols = s->cols;
    s->batch.ncols = s->ncols;
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
    size_t n;
};

static void schema_unref(struct schema_mem *m)
{
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->names[i]);
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

static int export_schema(struct arrow_stream *s, struct ArrowSchema *out)
{
    size_t n = s->ncols, ndicts = 0;
    struct schema_mem *m = calloc(1, sizeof *m);
    if (!m || !(m->children = calloc(n, sizeof *m->children)) || !(m->child_ptrs = calloc(n, sizeof *m->child_ptrs)) ||
        !(m->dicts = calloc(n, sizeof *m->dicts)) || !(m->names = calloc(n, sizeof *m->names))) {
        if (m) {
            free(m->children);
            free(m->child_ptrs);
            free(m->dicts);
        }
        free(m);
        return -ENOMEM;
    }
    m->n = n;
    for (size_t i = 0; i < n; i++)
        if (!(m->names[i] = strdup(s->cols[i].name))) {
            atomic_init(&m->refs, 1);
            schema_unref(m);
            return -ENOMEM;
        }
    for (size_t i = 0; i < n; i++) {
        const struct col_def *c = &s->cols[i];
        struct ArrowSchema *ch = &m->children[i];
        *ch = (struct ArrowSchema){.format = read_col_format[c->type], .name = m->names[i],
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
    atomic_init(&m->refs, (int)(1 + n + ndicts));
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

static inline __attribute__((always_inline)) int put_dict(struct arrow_stream *s, size_t col, uint32_t row,
                                                          const void *key, uint64_t k2,
                                                          const char *(*text)(const void *, uint64_t, char *))
{
    struct col_buf *b = &s->batch.buf[col];
    return put_index(&s->batch, b, s->cols[col].type, row, dict_keyed(&b->dict, (uintptr_t)key, k2, text, key));
}

/* The columns of the fields of site d (prepared as sr), found on its first record. */
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
            m->f[m->n].buf = &s->batch.buf[c - s->cols];
            m->f[m->n].type = c->type;
            m->f[m->n].put = !f[j].whole                                              ? FIELD_CUT
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
 * has a validity bitmap are constants here, not looked up per row. */
static inline void put_fixed_index(struct col_buf *b, unsigned col, uint32_t row, uint32_t i)
{
    if (record_cols[col].type == COL_DICT8)
        put_u8(b, row, (uint8_t)i);
    else
        put_u16(b, row, (uint16_t)i);
    if (record_cols[col].nullable)
        set_bit(b->valid, row);
}

/* The app's, host's and site d's (of process p) and a record's category's dictionary indices at row, through
 * the site's map. */
static int put_site_dicts(struct arrow_stream *s, struct site_map *m, const struct dsite *d, struct dproc *p,
                          unsigned category, uint32_t row)
{
    struct col_buf *site = &s->batch.buf[R_SITE], *cat = &s->batch.buf[R_CATEGORY], *func = &s->batch.buf[R_FUNC];
    struct col_buf *app = &s->batch.buf[R_APP], *host = &s->batch.buf[R_HOST];
    if (m->batch != s->batches) {
        long a = dict_keyed(&app->dict, (uintptr_t)p, 0, app_text, p);
        long h = dict_keyed(&host->dict, (uintptr_t)p, 0, host_text, p);
        long i = dict_keyed(&site->dict, (uintptr_t)d, 0, site_text, d);
        long c = dict_keyed(&cat->dict, (uintptr_t)p, category, category_text, p);
        long f = d->func && *d->func ? dict_keyed(&func->dict, (uintptr_t)d, 0, func_text, d) : LONG_MAX;
        if (a < 0 || h < 0 || i < 0 || c < 0 || f < 0)
            return -ENOMEM;
        m->batch = s->batches;
        for (uint32_t j = 0; j < m->n; j++) { /* the batch's buffers, which stay while it is built */
            m->f[j].data = m->f[j].buf->data;
            m->f[j].valid = m->f[j].buf->valid;
        }
        m->app_index = (uint32_t)a;
        m->host_index = (uint32_t)h;
        m->site_index = (uint32_t)i;
        m->func_index = f == LONG_MAX ? -1 : f;
        m->category_index = (uint32_t)c;
        m->category = category;
        dict_limit(&s->batch, app, s->cols[R_APP].type);
        dict_limit(&s->batch, host, s->cols[R_HOST].type);
        dict_limit(&s->batch, site, s->cols[R_SITE].type);
        dict_limit(&s->batch, func, s->cols[R_FUNC].type);
        dict_limit(&s->batch, cat, s->cols[R_CATEGORY].type);
    } else if (m->category != category) {
        long c = dict_keyed(&cat->dict, (uintptr_t)p, category, category_text, p);
        if (c < 0)
            return -ENOMEM;
        m->category_index = (uint32_t)c;
        m->category = category;
        dict_limit(&s->batch, cat, s->cols[R_CATEGORY].type);
    }
    /* Indices the dictionaries held already: their limits were checked as they grew. */
    put_fixed_index(app, R_APP, row, m->app_index);
    put_fixed_index(host, R_HOST, row, m->host_index);
    put_fixed_index(site, R_SITE, row, m->site_index);
    if (m->func_index >= 0)
        put_fixed_index(func, R_FUNC, row, (uint32_t)m->func_index);
    put_fixed_index(cat, R_CATEGORY, row, m->category_index);
    return 0;
}

/* A field's value into its column: v, the argument's value (a string's
 * bytes at str). 0, or -ENOMEM. */
static inline __attribute__((always_inline)) int put_field(struct arrow_stream *s, struct col_buf *b, uint8_t type,
                                                           uint32_t row, uint64_t v, const void *str, size_t len)
{
    switch (type) {
    case COL_UTF8:
        if (put_text(&s->batch, b, row, str, len) != 0)
            return -ENOMEM;
        if (b->chars_len >= CHARS_MAX)
            s->batch.full = 1;
        return 0;
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

/* A record's field values into their columns. */
static int put_fields(struct arrow_stream *s, const struct site_map *m, const struct render_site *sr, uint32_t row,
                      const struct render_arg *args)
{
    for (uint32_t j = 0, n = m->n; j < n; j++) { /* n read once: the byte stores below may alias m */
        __typeof__(m->f[0]) f = m->f[j];
        if (f.present && !args[f.present - 1].v.u)
            continue; /* an empty std::optional: null, as rows of sites without the field */
        struct render_arg cut;
        char tree_text[READ_TREE_TEXT_BYTES];
        const struct render_arg *a = f.whole ? &args[f.arg] : render_field_value(sr, args, f.field, &cut);
        const struct render_arg shown = read_field_shown(a, f.tree, tree_text);
        if (put_field(s, f.buf, f.type, row, shown.v.u, shown.v.s, shown.str_len) != 0)
            return -ENOMEM;
    }
    return 0;
}

/* The same from the values of a SHM_REC_VALUES record of the site's types,
 * read where a field shows them whole: a store or two a field. */
static int put_fields_values(struct arrow_stream *s, const struct site_map *m, const struct render_site *sr,
                             uint32_t row, const struct shm_copied_record *rec)
{
    size_t byte = row >> 3;
    uint8_t bit = (uint8_t)(1u << (row & 7));
    for (uint32_t j = 0, n = m->n; j < n; j++) { /* n read once: the byte stores below may alias m */
        const __typeof__(m->f[0]) *f = &m->f[j];
        if (f->present && !shm_rec_value(rec, f->present - 1u))
            continue; /* an empty std::optional: null, as rows of sites without the field */
        uint64_t v = shm_rec_value(rec, f->arg);
        switch (f->put) {
        case FIELD_WORD:
            memcpy(f->data + ((size_t)row << f->shift), &v, 8);
            break;
        case FIELD_F32_WIDE: {
            uint32_t b = (uint32_t)v;
            float x;
            memcpy(&x, &b, sizeof x);
            double d = x;
            memcpy(f->data + (size_t)row * 8, &d, 8);
            break;
        }
        case FIELD_BOOL:
            if (v)
                f->data[byte] |= bit;
            break;
        case FIELD_TEXT:
            if (put_field(s, f->buf, COL_UTF8, row, v, shm_rec_str_at(rec, v), v & SHMLOG_STR_LEN_MASK) != 0)
                return -ENOMEM;
            continue; /* its validity set */
        default: { /* FIELD_CUT */
            struct render_arg args[SHMLOG_MAX_ARGS], cut;
            char tree_text[READ_TREE_TEXT_BYTES];
            render_prepared_args(sr, rec, NULL, args);
            const struct render_arg a = read_field_shown(render_field_value(sr, args, f->field, &cut), f->tree, tree_text);
            if (put_field(s, f->buf, f->type, row, a.v.u, a.v.s, a.str_len) != 0)
                return -ENOMEM;
            continue;
        }
        }
        f->valid[byte] |= bit; /* a field's column is nullable (scan_field) */
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
static inline __attribute__((always_inline)) int put_message(struct arrow_stream *s, const struct render_site *sr,
                                                             const struct shm_copied_record *rec, int values,
                                                             uint32_t row, struct render_arg *args, int *nargs)
{
    /* Rendered where it goes; when it does not fit, again with room for the longest. */
    struct col_buf *m = &s->batch.buf[R_MSG];
    struct render_buf b;
    for (int pass = 0;; pass++) {
        render_buf_init(&b, m->chars + m->chars_len, m->chars_cap - m->chars_len);
        if (values)
            render_msg_values(sr, rec, &b);
        else
            *nargs = render_prepared_args(sr, rec, &b, args);
        if (!b.overflow || pass)
            break;
        if (read_batch_chars(&s->batch, m, RENDER_LINE_MAX) != 0)
            return -ENOMEM;
    }
    fill_offsets(m, row);
    m->chars_len += b.len;
    if (!b.ascii && batch_utf8(&s->batch, m, b.len) != 0) /* the renderer knows most messages are ASCII */
        return -ENOMEM;
    ((int32_t *)m->data)[++m->filled] = (int32_t)m->chars_len;
    set_bit(m->valid, row); /* record_cols: msg is nullable */
    if (m->chars_len >= CHARS_MAX)
        s->batch.full = 1;
    return 0;
}

/* A record's flags as the bool columns. */
static void put_flags(struct arrow_stream *s, uint32_t row, unsigned flags)
{
    struct col_buf *buf = s->batch.buf;
    if (flags & SHMLOG_REC_TRUNCATED)
        set_bit(buf[rcol(s, R_TRUNCATED)].data, row);
    if (flags & SHMLOG_REC_CLAMPED)
        set_bit(buf[rcol(s, R_CLAMPED)].data, row);
    if (flags & SHMLOG_REC_BACKTRACE)
        set_bit(buf[rcol(s, R_BACKTRACE)].data, row);
    if (flags & SHM_REC_TIME_UNCERTAIN)
        set_bit(buf[rcol(s, R_TIME_UNCERTAIN)].data, row);
}

static int append_record(struct arrow_stream *s, const struct entry *e)
{
    const struct record_cols *c = &s->rc;
    uint32_t row = s->batch.rows;
    const struct shm_copied_record *rec = entry_record(e);
    struct dproc *p = e->proc;
    unsigned level = rec->level, flags = rec->flags;
    /* Typed stores first: the byte stores after them may alias anything. */
    c->ts[row] = arrow_ts(entry_own_ts(e));
    c->seq[row] = rec->pos;
    c->pid[row] = p->info.pid;
    c->tid[row] = rec->tid;
    c->cpu[row] = e->cpu;
    c->level[row] = (uint8_t)level;
    if (level > s->max_level)
        s->max_level = level;
    if (flags & (SHMLOG_REC_TRUNCATED | SHMLOG_REC_CLAMPED | SHMLOG_REC_BACKTRACE | SHM_REC_TIME_UNCERTAIN))
        put_flags(s, row, flags);
    int rc;
    if (e->thread && (rc = put_dict(s, rcol(s, R_THREAD), row, e->thread, 0, name_text)) != 0)
        return rc;
    if (p->instance[0] && (rc = put_dict(s, rcol(s, R_INSTANCE), row, p, 0, instance_text)) != 0)
        return rc;
    const char *error = NULL;
    if (!e->site) {
        error = "unknown site";
        if ((rc = put_dict(s, R_APP, row, p, 0, app_text)) != 0 || (rc = put_dict(s, R_HOST, row, p, 0, host_text)) != 0 ||
            (rc = put_dict(s, R_CATEGORY, row, p, rec->category, category_text)) != 0)
            return rc;
    } else {
        const struct render_site *sr = prepared(&s->r->engine, e->site, p);
        if (!sr)
            return -ENOMEM;
        struct site_map *sm = site_map(s, e->site, sr);
        if (!sm)
            return -ENOMEM;
        if ((rc = put_site_dicts(s, sm, e->site, p, rec->category, row)) != 0)
            return rc;
        int values = (flags & SHM_REC_VALUES) != 0; /* of the site's types (read_decode.c) */
        struct render_arg rf[SHMLOG_MAX_ARGS];
        int n = values ? render_site_nargs(sr) : 0;
        if (s->opt.message) {
            if ((rc = put_message(s, sr, rec, values, row, rf, &n)) != 0)
                return rc;
        } else if (!values) {
            n = render_prepared_args(sr, rec, NULL, rf);
        }
        if (n < 0)
            error = "corrupt payload";
        else if (n > 0 && s->opt.fields &&
                 (rc = values ? put_fields_values(s, sm, sr, row, rec) : put_fields(s, sm, sr, row, rf)) != 0)
            return rc;
    }
    if (error && (rc = put_dict(s, rcol(s, R_ERROR), row, error, 0, name_text)) != 0)
        return rc;
    return 0;
}

static int append_marker(struct arrow_stream *s, const struct entry *e)
{
    struct col_buf *buf = s->batch.buf;
    uint32_t row = s->batch.rows;
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
    if (rc)
        return rc;
    put_u32(&buf[M_PID], row, p->info.pid);
    if (loss && e->cpu != UINT32_MAX) { /* an exit is the process's, not a ring's */
        put_u32(&buf[M_CPU], row, e->cpu);
        put_valid(&buf[M_CPU], row);
    }
    if (loss) {
        struct shm_loss l;
        memcpy(&l, e + 1, sizeof l);
        if ((rc = put_dict(s, M_LOSS_REASON, row, shm_loss_reason_name(l.reason), 0, name_text)) != 0)
            return rc;
        put_u64(&buf[M_LOSS_RECORDS], row, l.records);
        put_u64(&buf[M_LOSS_POSITIONS], row, l.positions);
        put_u64(&buf[M_LOSS_FIRST_SEQ], row, l.first_pos);
        put_valid(&buf[M_LOSS_RECORDS], row);
        put_valid(&buf[M_LOSS_POSITIONS], row);
        put_valid(&buf[M_LOSS_FIRST_SEQ], row);
        return 0;
    }
    struct entry_exit x;
    memcpy(&x, e + 1, sizeof x);
    put_u64(&buf[M_EXIT_RECORDS], row, x.records);
    put_u64(&buf[M_EXIT_LOST], row, x.lost);
    put_valid(&buf[M_EXIT_RECORDS], row);
    put_valid(&buf[M_EXIT_LOST], row);
    if (x.how == SHLOG_EXIT_SHUTDOWN || x.how == SHLOG_EXIT_DIED)
        rc = put_dict(s, M_EXIT_HOW, row, x.how == SHLOG_EXIT_SHUTDOWN ? "shutdown" : "died", 0, name_text);
    return rc;
}

/* The merge's sink while the stream reads: a row for each entry of the
 * stream's kinds, 1 once the batch is full. */
static int append_entry(void *ctx, const struct entry *e)
{
    struct arrow_stream *s = ctx;
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
    s->batch.rows++;
    return s->batch.rows >= s->batch.cap || s->batch.full;
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
static int level_dict(struct arrow_stream *s, struct dict *d)
{
    unsigned n = s->max_level >= 6 ? 8 : 6;
    for (unsigned i = 0; i < n; i++)
        if (read_dict_text(d, level_names[i], strlen(level_names[i])) < 0)
            return -ENOMEM;
    return 0;
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
    s->batch.cap = s->opt.batch_rows;
    s->batches++;
    s->max_level = 0;
    if ((rc = read_batch_begin(&s->batch)) != 0) {
        read_batch_free(&s->batch);
        return stream_fail(s, rc, "a batch");
    }
    if (s->records) {
        struct col_buf *b = s->batch.buf;
        s->rc = (struct record_cols){(uint64_t *)(void *)b[R_TS].data, (uint64_t *)(void *)b[R_SEQ].data,
                                     (uint32_t *)(void *)b[R_PID].data, (uint32_t *)(void *)b[R_TID].data,
                                     (uint32_t *)(void *)b[R_CPU].data, b[R_LEVEL].data};
    }
    r->merge.sink = &s->sink;
    while (!s->batch.full && s->batch.rows < s->batch.cap) {
        if (r->ready_off < r->ready_len) {
            /* What the merge gave before the stream began. */
            const struct entry *e = (const struct entry *)(r->ready + r->ready_off);
            r->ready_off += e->bytes;
            if (e->kind == ENTRY_NOTE || e->kind == ENTRY_ERROR)
                read_keep_message(r, (const char *)(e + 1), e->kind == ENTRY_NOTE);
            else if ((rc = append_entry(s, e)) < 0)
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
    if (rc < 0 || r->failed) {
        read_fail(r, rc);
        read_batch_free(&s->batch);
        return stream_fail(s, r->failed, "reading");
    }
    if (s->batch.rows == 0 && r->timed_out && !r->ended) {
        read_batch_free(&s->batch);
        snprintf(s->error, sizeof s->error, "the reader's deadline passed");
        return ETIMEDOUT; /* a later call (after a later deadline) reads on */
    }
    if (s->batch.rows == 0) {
        s->ended = 1;
        read_batch_free(&s->batch);
        out->release = NULL;
        return 0;
    }
    if ((s->records && (rc = level_dict(s, &s->batch.buf[R_LEVEL].dict)) != 0) ||
        (rc = read_batch_export(&s->batch, out)) != 0) {
        read_batch_free(&s->batch);
        return stream_fail(s, rc, "a batch");
    }
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
    read_batch_free(&s->batch);
    read_pool_close(s->batch.pool);
    free(s->batch.buf);
    for (size_t i = 0; i < s->ncols; i++) {
        free(s->cols[i].name);
        free(s->cols[i].field);
        free(s->cols[i].origin.text);
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
    if (r->streaming) {
        if (errcap)
            snprintf(err, errcap, "the reader is read by a stream already");
        return -EBUSY;
    }
    struct arrow_stream *s = calloc(1, sizeof *s);
    struct pool *pool = read_pool_new();
    if (!s || !pool) {
        free(s);
        if (pool)
            read_pool_close(pool);
        if (errcap)
            snprintf(err, errcap, "out of memory");
        return -ENOMEM;
    }
    s->batch.pool = pool;
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
