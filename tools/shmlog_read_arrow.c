/*
 * shmlog_read_arrow.c - a reader's events as Arrow record batches
 * (shmlog_read_arrow(), shmlog_read.h): the Arrow C data and stream
 * interfaces, filled with no Arrow library.
 *
 * The stream is a sink of the merge (read_lib.h, direct): each entry the
 * merge hands on becomes a row of the batch being built, and a full batch
 * pauses the merge, so nothing is copied twice and memory is the batch and
 * the merge's window. A batch owns its buffers; the consumer releases it
 * (or its columns one by one) when it likes, on any thread.
 *
 * One schema for every batch: the records' fields are known before the
 * first batch from the sites the files define (read_scan_sites(), which
 * decompresses every frame once more but reads no record). A field gets a
 * column per kind of value (integer, unsigned, float, bool, string, pointer)
 * that its name has anywhere, typed as wide as its widest argument.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "read_lib.h"

/* Rows of a batch by default: the columns of a batch stay in the cache while
 * they are written (65536-row batches cost 5-15 % more a row: bench_reader.c). */
#define BATCH_ROWS_DEFAULT 16384u
#define DICT16_MAX 32767u        /* values of an int16-indexed dictionary in one batch */
#define CHARS_MAX (1u << 30)     /* bytes of one string column in one batch: int32 offsets */
#define ERROR_MAX 256

/* ==== Column types ==== */

enum col_type {
    COL_TS,     /* timestamp[ns, UTC] */
    COL_I8, COL_I16, COL_I32, COL_I64,
    COL_U8, COL_U16, COL_U32, COL_U64,
    COL_F32, COL_F64,
    COL_BOOL,
    COL_UTF8,
    COL_DICT8,  /* dictionary<int8, utf8> */
    COL_DICT16, /* dictionary<int16, utf8> */
};

static const char *const col_format[] = {
    [COL_TS] = "tsn:UTC", [COL_I8] = "c", [COL_I16] = "s", [COL_I32] = "i", [COL_I64] = "l",
    [COL_U8] = "C", [COL_U16] = "S", [COL_U32] = "I", [COL_U64] = "L", [COL_F32] = "f", [COL_F64] = "g",
    [COL_BOOL] = "b", [COL_UTF8] = "u", [COL_DICT8] = "c", [COL_DICT16] = "s",
};

static const uint8_t col_width[] = {
    [COL_TS] = 8, [COL_I8] = 1, [COL_I16] = 2, [COL_I32] = 4, [COL_I64] = 8, [COL_U8] = 1, [COL_U16] = 2,
    [COL_U32] = 4, [COL_U64] = 8, [COL_F32] = 4, [COL_F64] = 8, [COL_BOOL] = 0, [COL_UTF8] = 4,
    [COL_DICT8] = 1, [COL_DICT16] = 2,
};

/* A column of the schema. */
struct col_def {
    char *name;
    char *field;      /* fields: the field's name, as the formats spell it (name may differ) */
    uint8_t type;     /* enum col_type */
    uint8_t nullable;
    uint8_t ordered;  /* a dictionary whose values are in order (level) */
    uint8_t kind;     /* fields: enum shmlog_read_type of its values */
};

/* ==== Dictionaries: the distinct strings of a column in one batch ==== */

struct dict {
    struct hmap by_key;   /* the caller's key -> index + 1 */
    struct hmap by_text;  /* (hash, length | probe << 32) -> index + 1 */
    uint64_t last_k1, last_k2;
    uint32_t last_index;
    int has_last;
    int32_t *offsets;     /* n + 1 */
    uint32_t n, cap;
    char *chars;
    size_t chars_len, chars_cap;
};

static uint64_t text_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
    return h;
}

static void dict_reset(struct dict *d)
{
    hmap_clear(&d->by_key);
    hmap_clear(&d->by_text);
    d->has_last = 0;
    d->offsets = NULL;
    d->chars = NULL;
    d->n = d->cap = 0;
    d->chars_len = d->chars_cap = 0;
}

static void dict_free(struct dict *d)
{
    free(d->offsets);
    free(d->chars);
    dict_reset(d);
}

/* The index of the string s (n bytes) in d, added when new; -1 when out of memory. */
static long dict_text(struct dict *d, const char *s, size_t n)
{
    uint64_t h = text_hash(s, n);
    for (uint64_t probe = 0;; probe++) {
        void *v = hmap_get(&d->by_text, h, n | probe << 32);
        if (!v)
            break;
        uint32_t i = (uint32_t)(uintptr_t)v - 1;
        if ((size_t)(d->offsets[i + 1] - d->offsets[i]) == n && memcmp(d->chars + d->offsets[i], s, n) == 0)
            return i;
    }
    if (d->n + 1 >= d->cap) {
        uint32_t cap = d->cap ? 2 * d->cap : 64;
        int32_t *o = realloc(d->offsets, (size_t)cap * sizeof *o);
        if (!o)
            return -1;
        if (!d->offsets)
            o[0] = 0;
        d->offsets = o;
        d->cap = cap;
    }
    if (d->chars_len + n > d->chars_cap) {
        size_t cap = d->chars_cap ? 2 * d->chars_cap : 4096;
        while (cap < d->chars_len + n)
            cap *= 2;
        char *c = realloc(d->chars, cap);
        if (!c)
            return -1;
        d->chars = c;
        d->chars_cap = cap;
    }
    memcpy(d->chars + d->chars_len, s, n);
    d->chars_len += n;
    uint32_t i = d->n++;
    d->offsets[d->n] = (int32_t)d->chars_len;
    uint64_t probe = 0;
    while (hmap_get(&d->by_text, h, n | probe << 32))
        probe++;
    if (hmap_put(&d->by_text, h, n | probe << 32, (void *)(uintptr_t)(i + 1)) != 0)
        return -1;
    return i;
}

/* The index of the value keyed (k1, k2), whose text text() gives when it is
 * new to the batch; -1 when out of memory. */
static long dict_keyed(struct dict *d, uint64_t k1, uint64_t k2, const char *(*text)(const void *, uint64_t, char *),
                       const void *arg)
{
    if (d->has_last && d->last_k1 == k1 && d->last_k2 == k2)
        return d->last_index;
    void *v = hmap_get(&d->by_key, k1, k2);
    long i;
    if (v) {
        i = (long)(uintptr_t)v - 1;
    } else {
        char buf[SHMLOG_MAX_FILE_BYTES + 32], fixed[3 * sizeof buf];
        const char *s = text(arg, k2, buf);
        size_t n = strlen(s);
        if (render_utf8_valid(s, n) < n) {
            /* Names from a file: bytes that are no UTF-8 shown as the JSON shows them. */
            struct render_buf out;
            render_buf_init(&out, fixed, sizeof fixed);
            render_utf8_repair(&out, s, n);
            s = fixed;
            n = out.len;
        }
        if ((i = dict_text(d, s, n)) < 0 ||
            hmap_put(&d->by_key, k1, k2, (void *)(uintptr_t)(i + 1)) != 0)
            return -1;
    }
    d->last_k1 = k1;
    d->last_k2 = k2;
    d->last_index = (uint32_t)i;
    d->has_last = 1;
    return i;
}

/* ==== Column memory: what released batches give back ====
 *
 * A consumer that reads a stream batch by batch (a query, a Parquet writer)
 * releases each before it asks for the next: its buffers come back here and
 * make the next batch, which then touches no fresh page (a page fault is
 * dearer than the work of the rows on it). Batches are released on any
 * thread: they give back through an atomic list the stream empties. */

#define POOL_SPARE_MAX (256u << 20) /* bytes kept for reuse; beyond, freed */

struct pooled {
    struct pooled *next;
    size_t cap;
    char pad[48]; /* the buffer after this header starts 64-aligned, as Arrow recommends */
};

struct pool {
    _Atomic int refs;                    /* the stream's and each batch's */
    _Atomic int closed;                  /* the stream is released: what comes back is freed */
    struct pooled *_Atomic returned;     /* given back by released batches, on any thread */
    struct pooled *spare;                /* the stream's, taken from returned */
    size_t spare_bytes;
};

static struct pooled *header_of(void *p)
{
    return (struct pooled *)p - 1;
}

static void pool_drain(struct pool *p)
{
    struct pooled *h = atomic_exchange_explicit(&p->returned, NULL, memory_order_acquire);
    while (h) {
        struct pooled *next = h->next;
        free(h);
        h = next;
    }
}

/* Frees what the pool keeps; on the stream's thread, or the last user's. */
static void pool_empty(struct pool *p)
{
    pool_drain(p);
    while (p->spare) {
        struct pooled *next = p->spare->next;
        free(p->spare);
        p->spare = next;
    }
    p->spare_bytes = 0;
}

static void pool_unref(struct pool *p)
{
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    pool_empty(p);
    free(p);
}

/* A buffer of at least bytes (not cleared), on the stream's thread; NULL when out of memory. */
static void *pool_get(struct pool *p, size_t bytes)
{
    for (int pass = 0; pass < 2; pass++) {
        for (struct pooled **at = &p->spare; *at; at = &(*at)->next) {
            struct pooled *h = *at;
            if (h->cap >= bytes && h->cap / 4 <= bytes) {
                *at = h->next;
                p->spare_bytes -= h->cap;
                return h + 1;
            }
        }
        /* What came back since: to the spares, as far as they may grow. */
        struct pooled *h = atomic_exchange_explicit(&p->returned, NULL, memory_order_acquire);
        if (!h)
            break;
        while (h) {
            struct pooled *next = h->next;
            if (p->spare_bytes + h->cap > POOL_SPARE_MAX) {
                free(h);
            } else {
                h->next = p->spare;
                p->spare = h;
                p->spare_bytes += h->cap;
            }
            h = next;
        }
    }
    struct pooled *h = malloc(sizeof *h + bytes);
    if (!h)
        return NULL;
    h->cap = bytes;
    return h + 1;
}

/* A buffer back to the spares, on the stream's thread. */
static void pool_put(struct pool *p, void *buf)
{
    if (!buf)
        return;
    struct pooled *h = header_of(buf);
    h->next = p->spare;
    p->spare = h;
    p->spare_bytes += h->cap;
}

/* A buffer a released batch gives back, on any thread. */
static void pool_return(struct pool *p, void *buf)
{
    if (!buf)
        return;
    struct pooled *h = header_of(buf);
    if (atomic_load_explicit(&p->closed, memory_order_acquire)) {
        free(h);
        return;
    }
    h->next = atomic_load_explicit(&p->returned, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&p->returned, &h->next, h, memory_order_release,
                                                  memory_order_relaxed))
        ;
}

/* buf (len bytes used) in a buffer of at least bytes; NULL when out of memory (buf kept). */
static void *pool_grow(struct pool *p, void *buf, size_t len, size_t bytes)
{
    void *n = pool_get(p, bytes);
    if (!n)
        return NULL;
    if (buf) {
        memcpy(n, buf, len);
        pool_put(p, buf);
    }
    return n;
}

/* ==== The batch being built ==== */

struct col_buf {
    uint8_t *valid;     /* validity bitmap; NULL for a column never null */
    uint8_t *data;      /* values, bits (bool), offsets (utf8) or indices (dictionaries) */
    char *chars;        /* utf8 */
    size_t chars_len, chars_cap;
    uint32_t filled;    /* utf8: offsets set for the rows before this one */
    int64_t nulls;
    struct dict dict;
};

/* What the consumer releases: one batch's memory, shared by its columns. */
struct batch_mem {
    _Atomic int refs;   /* the batch and each column not yet released */
    int64_t ncols;
    struct ArrowArray *children;
    struct ArrowArray **child_ptrs;
    struct ArrowArray *dicts;
    const void **buffers; /* 3 per column, 3 per dictionary */
    void **owned;         /* dictionaries' buffers: what to free(3) */
    size_t nowned;
    struct pool *pool;    /* where the columns' buffers go back */
    void **pooled;
    size_t npooled;
};

/* ==== The stream ==== */

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
    const struct dsite *last_site; /* records come in runs of a site: its map */
    const struct site_map *last_map;
    struct col_buf *buf;
    struct pool *pool;    /* the columns' memory */
    uint32_t rows;        /* of the batch being built */
    uint32_t max_level;   /* records: the highest level in the batch */
    int full;             /* the batch ends here (rows or a dictionary) */
    char error[ERROR_MAX];
};

/* The columns of a site's fields, found once per site: column index + 1, 0 for none. */
struct site_map {
    uint32_t n;
    uint32_t col[SHMLOG_MAX_ARGS];
};

/* The records' fixed columns, in order. */
enum {
    R_TS, R_LEVEL, R_CATEGORY, R_APP, R_HOST, R_PID, R_TID, R_CPU, R_SEQ, R_SITE, R_MSG, R_TRUNCATED,
    R_CLAMPED, R_BACKTRACE, R_ERROR, R_FIXED
};
/* The markers' columns. */
enum {
    M_TS, M_KIND, M_APP, M_HOST, M_PID, M_CPU, M_LOSS_REASON, M_LOSS_RECORDS, M_LOSS_POSITIONS, M_LOSS_FIRST_SEQ,
    M_EXIT_RECORDS, M_EXIT_LOST, M_EXIT_HOW, M_COUNT
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
    [R_MSG] = {"msg", COL_UTF8, 1, 0},       [R_TRUNCATED] = {"truncated", COL_BOOL, 0, 0},
    [R_CLAMPED] = {"clamped", COL_BOOL, 0, 0}, [R_BACKTRACE] = {"backtrace", COL_BOOL, 0, 0},
    [R_ERROR] = {"error", COL_DICT8, 1, 0},
}, marker_cols[M_COUNT] = {
    [M_TS] = {"ts", COL_TS, 0, 0},           [M_KIND] = {"kind", COL_DICT8, 0, 0},
    [M_APP] = {"app", COL_DICT16, 0, 0},     [M_HOST] = {"host", COL_DICT16, 0, 0},
    [M_PID] = {"pid", COL_U32, 0, 0},        [M_CPU] = {"cpu", COL_U32, 1, 0},
    [M_LOSS_REASON] = {"loss_reason", COL_DICT8, 1, 0}, [M_LOSS_RECORDS] = {"loss_records", COL_U64, 1, 0},
    [M_LOSS_POSITIONS] = {"loss_positions", COL_U64, 1, 0}, [M_LOSS_FIRST_SEQ] = {"loss_first_seq", COL_U64, 1, 0},
    [M_EXIT_RECORDS] = {"exit_records", COL_U64, 1, 0}, [M_EXIT_LOST] = {"exit_lost", COL_U64, 1, 0},
    [M_EXIT_HOW] = {"exit_how", COL_DICT8, 1, 0},
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
    s->cols[s->ncols++] = (struct col_def){n, NULL, type, nullable, ordered, kind};
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
    return col_width[a] >= col_width[b] ? a : b;
}

/* The column of field name (len bytes) with values of kind, or NULL. */
static struct col_def *field_column(struct arrow_stream *s, const char *name, size_t len, uint8_t kind, uint64_t *probe)
{
    uint64_t h = text_hash(name, len);
    for (*probe = 0;; (*probe)++) {
        void *v = hmap_get(&s->field_col, h, (uint64_t)kind | *probe << 8 | (uint64_t)len << 32);
        if (!v)
            return NULL;
        struct col_def *c = &s->cols[(uintptr_t)v - 1];
        if (strlen(c->field) == len && memcmp(c->field, name, len) == 0)
            return c;
    }
}

/* A field of a site the scan found: its column, made or widened. */
static int scan_field(struct arrow_stream *s, const char *name, size_t len, unsigned arg_type)
{
    uint8_t kind = field_kind(arg_type), type = field_col_type(arg_type);
    uint64_t probe;
    struct col_def *c = field_column(s, name, len, kind, &probe);
    if (c) {
        c->type = wider(c->type, type);
        return 0;
    }
    if (add_col(s, name, len, type, 1, 0, kind) != 0 || !(s->cols[s->ncols - 1].field = strdup(s->cols[s->ncols - 1].name)) ||
        hmap_put(&s->field_col, text_hash(name, len), (uint64_t)kind | probe << 8 | (uint64_t)len << 32,
                 (void *)(uintptr_t)s->ncols) != 0)
        return -ENOMEM;
    return 0;
}

static int scan_site(void *clientd, const struct shm_proc_info *p, const struct shm_site *info)
{
    struct arrow_stream *s = clientd;
    struct render_site *sr = render_site_new(info, p->app, p->host, p->pid, NULL);
    if (!sr)
        return -ENOMEM;
    struct render_field_info f[SHMLOG_MAX_ARGS];
    int n = render_site_fields(sr, f);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = scan_field(s, f[i].name, f[i].name_len, f[i].type);
    render_site_free(sr);
    return rc;
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
        if (rc == 0 && s->opt.fields)
            rc = read_scan_sites(&s->r->engine, &s->r->inputs, scan_site, s);
        if (rc == 0)
            rc = name_fields(s);
    } else {
        for (size_t i = 0; i < M_COUNT && rc == 0; i++)
            rc = add_col(s, marker_cols[i].name, strlen(marker_cols[i].name), marker_cols[i].type,
                         marker_cols[i].nullable, marker_cols[i].ordered, 0);
        s->first_field = s->ncols;
    }
    if (rc == 0 && !(s->buf = calloc(s->ncols, sizeof *s->buf)))
        rc = -ENOMEM;
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
        *ch = (struct ArrowSchema){.format = col_format[c->type], .name = m->names[i],
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

/* ==== Building rows ==== */

/* Room for n more characters of a string column. */
static int chars_room(struct pool *p, struct col_buf *b, size_t n)
{
    if (b->chars && b->chars_len + n <= b->chars_cap)
        return 0;
    size_t cap = b->chars_cap ? 2 * b->chars_cap : 64u << 10;
    while (cap < b->chars_len + n)
        cap *= 2;
    char *c = pool_grow(p, b->chars, b->chars_len, cap);
    if (!c)
        return -ENOMEM;
    b->chars = c;
    b->chars_cap = header_of(c)->cap;
    return 0;
}

/* The batch's buffers, for batch_rows rows. */
static int batch_begin(struct arrow_stream *s)
{
    size_t rows = s->opt.batch_rows;
    for (size_t i = 0; i < s->ncols; i++) {
        const struct col_def *c = &s->cols[i];
        struct col_buf *b = &s->buf[i];
        memset(b, 0, sizeof *b);
        size_t bitmap = (rows + 7) / 8 + 8;
        size_t data = c->type == COL_BOOL ? bitmap : c->type == COL_UTF8 ? (rows + 1) * 4 : rows * col_width[c->type];
        if ((c->nullable && !(b->valid = pool_get(s->pool, bitmap))) || !(b->data = pool_get(s->pool, data + 8)))
            return -ENOMEM;
        /* Bitmaps start cleared: a row not written is null (validity) or false. */
        if (b->valid)
            memset(b->valid, 0, bitmap);
        if (c->type == COL_BOOL)
            memset(b->data, 0, bitmap);
        if (c->type == COL_UTF8) {
            ((int32_t *)b->data)[0] = 0;
            /* Messages are tens of bytes: room for most batches' at once. */
            if (chars_room(s->pool, b, i == R_MSG && s->records ? rows * 64 : 1) != 0)
                return -ENOMEM;
        }
    }
    s->rows = 0;
    s->max_level = 0;
    s->full = 0;
    return 0;
}

static void col_free(struct pool *p, struct col_buf *b)
{
    pool_put(p, b->valid);
    pool_put(p, b->data);
    pool_put(p, b->chars);
    dict_free(&b->dict);
    memset(b, 0, sizeof *b);
}

static inline void set_bit(uint8_t *bits, uint32_t i)
{
    bits[i >> 3] |= (uint8_t)(1u << (i & 7));
}

static inline void put_valid(struct col_buf *b, uint32_t row)
{
    if (b->valid)
        set_bit(b->valid, row);
}

static inline void put_u8(struct col_buf *b, uint32_t row, uint8_t v)
{
    b->data[row] = v;
}

static inline void put_u16(struct col_buf *b, uint32_t row, uint16_t v)
{
    memcpy(b->data + (size_t)row * 2, &v, 2);
}

static inline void put_u32(struct col_buf *b, uint32_t row, uint32_t v)
{
    memcpy(b->data + (size_t)row * 4, &v, 4);
}

static inline void put_u64(struct col_buf *b, uint32_t row, uint64_t v)
{
    memcpy(b->data + (size_t)row * 8, &v, 8);
}

/* A value of a fixed-width column from its 64 bits (as the field's union holds them). */
static inline void put_value(struct col_buf *b, uint8_t type, uint32_t row, uint64_t v)
{
    switch (col_width[type]) {
    case 1: put_u8(b, row, (uint8_t)v); break;
    case 2: put_u16(b, row, (uint16_t)v); break;
    case 4: put_u32(b, row, (uint32_t)v); break;
    default: put_u64(b, row, v); break;
    }
}

/* The offsets of the rows before row that have no value: empty. */
static inline void fill_offsets(struct col_buf *b, uint32_t row)
{
    int32_t *o = (int32_t *)b->data;
    while (b->filled < row)
        o[++b->filled] = (int32_t)b->chars_len;
}

/* The n bytes just written at the end of b's characters, made valid UTF-8
 * (Arrow's strings are): each byte that starts no valid sequence becomes
 * U+FFFD, as the JSON shows it. */
static int repair_utf8(struct pool *p, struct col_buf *b, size_t n)
{
    char *at = b->chars + b->chars_len - n;
    size_t ok = render_utf8_valid(at, n);
    if (ok == n)
        return 0;
    char *bad = malloc(n - ok);
    if (!bad)
        return -ENOMEM;
    memcpy(bad, at + ok, n - ok);
    b->chars_len -= n - ok;
    if (chars_room(p, b, 3 * (n - ok)) != 0) {
        free(bad);
        return -ENOMEM;
    }
    struct render_buf out;
    render_buf_init(&out, b->chars + b->chars_len, b->chars_cap - b->chars_len);
    render_utf8_repair(&out, bad, n - ok);
    b->chars_len += out.len;
    free(bad);
    return 0;
}

/* The string s of n bytes at row. */
static int put_text(struct pool *p, struct col_buf *b, uint32_t row, const void *str, size_t n)
{
    if (chars_room(p, b, n) != 0)
        return -ENOMEM;
    fill_offsets(b, row);
    memcpy(b->chars + b->chars_len, str, n);
    b->chars_len += n;
    if (repair_utf8(p, b, n) != 0)
        return -ENOMEM;
    ((int32_t *)b->data)[++b->filled] = (int32_t)b->chars_len;
    put_valid(b, row);
    return 0;
}

/* A dictionary column's index at row; ends the batch at the index width's limit. */
static int put_index(struct arrow_stream *s, struct col_buf *b, uint8_t type, uint32_t row, long i)
{
    if (i < 0)
        return -ENOMEM;
    if (type == COL_DICT8)
        put_u8(b, row, (uint8_t)i);
    else
        put_u16(b, row, (uint16_t)i);
    put_valid(b, row);
    if (b->dict.n >= (type == COL_DICT8 ? 127u : DICT16_MAX))
        s->full = 1;
    return 0;
}

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

static const char *name_text(const void *name, uint64_t k2, char *buf)
{
    (void)k2;
    (void)buf;
    return name;
}

static int put_dict(struct arrow_stream *s, size_t col, uint32_t row, const void *key, uint64_t k2,
                    const char *(*text)(const void *, uint64_t, char *))
{
    struct col_buf *b = &s->buf[col];
    return put_index(s, b, s->cols[col].type, row, dict_keyed(&b->dict, (uintptr_t)key, k2, text, key));
}

/* The columns of the fields of site d (prepared as sr), found on its first record. */
static const struct site_map *site_map(struct arrow_stream *s, const struct dsite *d, const struct render_site *sr)
{
    if (d == s->last_site)
        return s->last_map;
    struct site_map *m = hmap_get(&s->site_cols, (uintptr_t)d, 0);
    if (!m) {
        if (!(m = calloc(1, sizeof *m)))
            return NULL;
        struct render_field_info f[SHMLOG_MAX_ARGS];
        m->n = (uint32_t)render_site_fields(sr, f);
        for (uint32_t j = 0; j < m->n; j++) {
            uint64_t probe;
            const struct col_def *c = field_column(s, f[j].name, f[j].name_len, field_kind(f[j].type), &probe);
            m->col[j] = c ? (uint32_t)(c - s->cols) + 1 : 0;
        }
        if (hmap_put(&s->site_cols, (uintptr_t)d, 0, m) != 0) {
            free(m);
            return NULL;
        }
    }
    s->last_site = d;
    s->last_map = m;
    return m;
}

/* A record's field values into their columns. */
static int put_fields(struct arrow_stream *s, const struct dsite *d, const struct render_site *sr, uint32_t row,
                      const struct render_arg *v, int n)
{
    const struct site_map *m = site_map(s, d, sr);
    if (!m)
        return -ENOMEM;
    for (int j = 0; j < n && j < (int)m->n; j++) {
        if (!m->col[j])
            continue; /* a site defined after the schema was made (a file still being written) */
        size_t ci = m->col[j] - 1;
        struct col_buf *b = &s->buf[ci];
        uint8_t type = s->cols[ci].type;
        const struct render_arg *a = &v[j];
        if (type == COL_UTF8) {
            if (put_text(s->pool, b, row, a->v.s, a->str_len) != 0)
                return -ENOMEM;
            if (b->chars_len >= CHARS_MAX)
                s->full = 1;
            continue;
        }
        if (type == COL_BOOL) {
            if (a->v.u)
                set_bit(b->data, row);
        } else if (type == COL_F32) {
            float f = (float)a->v.f; /* an f32 argument, exactly widened: narrowed back exactly */
            uint32_t bits;
            memcpy(&bits, &f, 4);
            put_u32(b, row, bits);
        } else if (type == COL_F64) {
            put_u64(b, row, a->v.u);
        } else {
            put_value(b, type, row, a->v.u);
        }
        put_valid(b, row);
    }
    return 0;
}

/* An Arrow timestamp is signed: a time past 2262 (a damaged clock's, clamped
 * to the largest ns) is its largest value. */
static inline uint64_t arrow_ts(uint64_t ns)
{
    return ns > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : ns;
}

static int append_record(struct arrow_stream *s, const struct entry *e)
{
    struct shmlog_read *r = s->r;
    struct col_buf *buf = s->buf;
    uint32_t row = s->rows;
    const struct shm_copied_record *rec = entry_record(e);
    struct dproc *p = e->proc;
    put_u64(&buf[R_TS], row, arrow_ts(entry_own_ts(e)));
    put_u8(&buf[R_LEVEL], row, rec->level);
    if (rec->level > s->max_level)
        s->max_level = rec->level;
    int rc = put_dict(s, R_CATEGORY, row, p, rec->category, category_text);
    if (rc == 0)
        rc = put_dict(s, R_APP, row, p, 0, app_text);
    if (rc == 0)
        rc = put_dict(s, R_HOST, row, p, 0, host_text);
    if (rc)
        return rc;
    put_u32(&buf[R_PID], row, p->info.pid);
    put_u32(&buf[R_TID], row, rec->tid);
    put_u32(&buf[R_CPU], row, e->cpu);
    put_u64(&buf[R_SEQ], row, rec->pos);
    if (rec->flags & SHMLOG_REC_TRUNCATED)
        set_bit(buf[rcol(s, R_TRUNCATED)].data, row);
    if (rec->flags & SHMLOG_REC_CLAMPED)
        set_bit(buf[rcol(s, R_CLAMPED)].data, row);
    if (rec->flags & SHMLOG_REC_BACKTRACE)
        set_bit(buf[rcol(s, R_BACKTRACE)].data, row);
    const char *error = NULL;
    if (!e->site) {
        error = "unknown site";
    } else {
        if ((rc = put_dict(s, R_SITE, row, e->site, 0, site_text)) != 0)
            return rc;
        const struct render_site *sr = prepared(&r->engine, e->site, p);
        if (!sr)
            return -ENOMEM;
        struct render_arg rf[SHMLOG_MAX_ARGS];
        int n;
        if (s->opt.message) {
            /* Rendered where it goes; when it does not fit, again with room for the longest. */
            struct col_buf *m = &buf[R_MSG];
            struct render_buf b;
            render_buf_init(&b, m->chars + m->chars_len, m->chars_cap - m->chars_len);
            n = render_prepared_values(sr, rec, &b, rf);
            if (b.overflow) {
                if (chars_room(s->pool, m, RENDER_LINE_MAX) != 0)
                    return -ENOMEM;
                render_buf_init(&b, m->chars + m->chars_len, m->chars_cap - m->chars_len);
                n = render_prepared_values(sr, rec, &b, rf);
            }
            fill_offsets(m, row);
            m->chars_len += b.len;
            if (repair_utf8(s->pool, m, b.len) != 0)
                return -ENOMEM;
            ((int32_t *)m->data)[++m->filled] = (int32_t)m->chars_len;
            put_valid(m, row);
            if (m->chars_len >= CHARS_MAX)
                s->full = 1;
        } else {
            n = render_prepared_values(sr, rec, NULL, rf);
        }
        if (n < 0)
            error = "corrupt payload";
        else if (n > 0 && s->opt.fields && (rc = put_fields(s, e->site, sr, row, rf, n)) != 0)
            return rc;
    }
    if (error && (rc = put_dict(s, rcol(s, R_ERROR), row, error, 0, name_text)) != 0)
        return rc;
    return 0;
}

static int append_marker(struct arrow_stream *s, const struct entry *e)
{
    struct col_buf *buf = s->buf;
    uint32_t row = s->rows;
    struct dproc *p = e->proc;
    put_u64(&buf[M_TS], row, arrow_ts(e->ts_ns));
    int loss = e->kind == ENTRY_LOSS;
    int rc = put_dict(s, M_KIND, row, loss ? "loss" : "exit", 0, name_text);
    if (rc == 0)
        rc = put_dict(s, M_APP, row, p, 0, app_text);
    if (rc == 0)
        rc = put_dict(s, M_HOST, row, p, 0, host_text);
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
    s->rows++;
    return s->rows >= s->opt.batch_rows || s->full;
}

/* ==== Batch export ==== */

static void batch_unref(struct batch_mem *m)
{
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < m->nowned; i++)
        free(m->owned[i]);
    for (size_t i = 0; i < m->npooled; i++)
        pool_return(m->pool, m->pooled[i]);
    pool_unref(m->pool);
    free(m->pooled);
    free(m->owned);
    free(m->buffers);
    free(m->dicts);
    free(m->children);
    free(m->child_ptrs);
    free(m);
}

/* Each column and dictionary holds the batch's memory until released: a
 * consumer may keep some and release the rest (the interface's "moving"). */
static void release_part(struct ArrowArray *a)
{
    struct batch_mem *m = a->private_data;
    if (a->dictionary && a->dictionary->release)
        a->dictionary->release(a->dictionary);
    a->release = NULL;
    batch_unref(m);
}

static void release_array(struct ArrowArray *a)
{
    struct batch_mem *m = a->private_data;
    for (int64_t i = 0; i < m->ncols; i++)
        if (m->children[i].release)
            m->children[i].release(&m->children[i]);
    a->release = NULL;
    batch_unref(m);
}

static int64_t count_nulls(const uint8_t *valid, uint32_t rows)
{
    int64_t set = 0;
    uint32_t i = 0;
    for (; i + 64 <= rows; i += 64) {
        uint64_t w;
        memcpy(&w, valid + i / 8, 8);
        set += __builtin_popcountll(w);
    }
    for (; i < rows; i++)
        set += (valid[i >> 3] >> (i & 7)) & 1;
    return (int64_t)rows - set;
}

/* The level column's dictionary: the six names, and L6, L7 when a damaged record has them. */
static int level_dict(struct arrow_stream *s, struct dict *d)
{
    unsigned n = s->max_level >= 6 ? 8 : 6;
    for (unsigned i = 0; i < n; i++)
        if (dict_text(d, level_names[i], strlen(level_names[i])) < 0)
            return -ENOMEM;
    return 0;
}

static void batch_free(struct arrow_stream *s)
{
    for (size_t i = 0; s->buf && i < s->ncols; i++)
        col_free(s->pool, &s->buf[i]);
}

/* Hands the batch's buffers to out; the builder keeps none of them. */
static int batch_export(struct arrow_stream *s, struct ArrowArray *out)
{
    size_t n = s->ncols, rows = s->rows, ndicts = 0;
    for (size_t i = 0; i < n; i++)
        ndicts += s->cols[i].type == COL_DICT8 || s->cols[i].type == COL_DICT16;
    for (size_t i = 0; i < n; i++) {
        struct dict *d = &s->buf[i].dict;
        if (s->cols[i].type == COL_UTF8)
            fill_offsets(&s->buf[i], (uint32_t)rows);
        /* An empty dictionary still has its offset 0 and a buffer of characters. */
        else if ((s->cols[i].type == COL_DICT8 || s->cols[i].type == COL_DICT16) &&
                 ((!d->offsets && !(d->offsets = calloc(1, sizeof *d->offsets))) || (!d->chars && !(d->chars = malloc(1)))))
            return -ENOMEM;
    }
    struct batch_mem *m = calloc(1, sizeof *m);
    if (!m || !(m->children = calloc(n, sizeof *m->children)) || !(m->child_ptrs = calloc(n, sizeof *m->child_ptrs)) ||
        !(m->dicts = calloc(n, sizeof *m->dicts)) || !(m->buffers = calloc(6 * n + 1, sizeof *m->buffers)) ||
        !(m->owned = calloc(2 * n, sizeof *m->owned)) || !(m->pooled = calloc(3 * n, sizeof *m->pooled)) ||
        (s->records && level_dict(s, &s->buf[R_LEVEL].dict) != 0)) {
        if (m) {
            free(m->children);
            free(m->child_ptrs);
            free(m->dicts);
            free(m->buffers);
            free(m->owned);
            free(m->pooled);
        }
        free(m);
        return -ENOMEM;
    }
    m->ncols = (int64_t)n;
    m->pool = s->pool;
    atomic_fetch_add_explicit(&s->pool->refs, 1, memory_order_relaxed);
    atomic_init(&m->refs, (int)(1 + n + ndicts));
    for (size_t i = 0; i < n; i++) {
        const struct col_def *c = &s->cols[i];
        struct col_buf *b = &s->buf[i];
        const void **bufs = m->buffers + 6 * i;
        struct ArrowArray *ch = &m->children[i];
        int64_t nulls = b->valid ? count_nulls(b->valid, (uint32_t)rows) : 0;
        bufs[0] = nulls ? b->valid : NULL;
        bufs[1] = b->data;
        bufs[2] = b->chars;
        m->pooled[m->npooled++] = b->valid;
        m->pooled[m->npooled++] = b->data;
        m->pooled[m->npooled++] = b->chars;
        *ch = (struct ArrowArray){.length = (int64_t)rows, .null_count = nulls,
                                  .n_buffers = c->type == COL_UTF8 ? 3 : 2, .buffers = bufs,
                                  .release = release_part, .private_data = m};
        if (c->type == COL_DICT8 || c->type == COL_DICT16) {
            struct dict *d = &b->dict;
            const void **db = m->buffers + 6 * i + 3;
            db[0] = NULL;
            db[1] = d->offsets;
            db[2] = d->chars;
            m->owned[m->nowned++] = d->offsets;
            m->owned[m->nowned++] = d->chars;
            m->dicts[i] = (struct ArrowArray){.length = d->n, .n_buffers = 3, .buffers = db,
                                              .release = release_part, .private_data = m};
            ch->dictionary = &m->dicts[i];
            dict_reset(d);
        }
        memset(b, 0, sizeof *b); /* the batch owns them now */
        m->child_ptrs[i] = ch;
    }
    *out = (struct ArrowArray){.length = (int64_t)rows, .n_buffers = 1, .n_children = (int64_t)n,
                               .buffers = m->buffers + 6 * n, .children = m->child_ptrs,
                               .release = release_array, .private_data = m};
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
    if ((rc = batch_begin(s)) != 0) {
        batch_free(s);
        return stream_fail(s, rc, "a batch");
    }
    r->direct = append_entry;
    r->direct_ctx = s;
    while (!s->full && s->rows < s->opt.batch_rows) {
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
        if (r->ended || r->failed)
            break;
        if ((rc = merge_step(&r->merge)) <= 0) {
            r->ended = 1;
            if (rc < 0)
                break;
        }
    }
    r->direct = NULL;
    if (rc < 0 || r->failed) {
        read_fail(r, rc);
        batch_free(s);
        return stream_fail(s, r->failed, "reading");
    }
    if (s->rows == 0) {
        s->ended = 1;
        batch_free(s);
        out->release = NULL;
        return 0;
    }
    if ((rc = batch_export(s, out)) != 0) {
        batch_free(s);
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
    batch_free(s);
    /* Batches still held free their buffers from now on; what came back goes now. */
    atomic_store_explicit(&s->pool->closed, 1, memory_order_release);
    pool_empty(s->pool);
    pool_unref(s->pool);
    free(s->buf);
    for (size_t i = 0; i < s->ncols; i++) {
        free(s->cols[i].name);
        free(s->cols[i].field);
    }
    free(s->cols);
    hmap_clear(&s->field_col);
    for (size_t i = 0; i < s->site_cols.cap; i++)
        free(s->site_cols.slots[i].v);
    hmap_clear(&s->site_cols);
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
    struct pool *pool = calloc(1, sizeof *pool);
    if (!s || !pool) {
        free(s);
        free(pool);
        if (errcap)
            snprintf(err, errcap, "out of memory");
        return -ENOMEM;
    }
    atomic_init(&pool->refs, 1);
    s->pool = pool;
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
