/*
 * read_arrow_batch.c - the columns of an Arrow record batch while they are
 * built and when handed over: their buffers, their dictionaries, the memory
 * released batches give back, and the struct ArrowArray a consumer releases
 * (read_arrow.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "read_arrow.h"

const char *const read_col_format[] = {
    [COL_TS] = "tsn:UTC", [COL_I8] = "c", [COL_I16] = "s", [COL_I32] = "i", [COL_I64] = "l",
    [COL_U8] = "C", [COL_U16] = "S", [COL_U32] = "I", [COL_U64] = "L", [COL_F32] = "f", [COL_F64] = "g",
    [COL_BOOL] = "b", [COL_UTF8] = "u", [COL_DICT8] = "c", [COL_DICT16] = "s", [COL_NEST] = "+l",
};

const uint8_t read_col_width[] = {
    [COL_TS] = 8, [COL_I8] = 1, [COL_I16] = 2, [COL_I32] = 4, [COL_I64] = 8, [COL_U8] = 1, [COL_U16] = 2,
    [COL_U32] = 4, [COL_U64] = 8, [COL_F32] = 4, [COL_F64] = 8, [COL_BOOL] = 0, [COL_UTF8] = 4,
    [COL_DICT8] = 1, [COL_DICT16] = 2, [COL_NEST] = 0,
};

/* ==== Dictionaries ==== */

uint64_t read_text_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
    return h;
}

void read_dict_reset(struct dict *d)
{
    read_hmap_clear(&d->by_key);
    read_hmap_clear(&d->by_text);
    d->has_last = 0;
    d->offsets = NULL;
    d->chars = NULL;
    d->n = d->cap = 0;
    d->chars_len = d->chars_cap = 0;
}

void read_dict_free(struct dict *d)
{
    free(d->offsets);
    free(d->chars);
    read_dict_reset(d);
}

long read_dict_text(struct dict *d, const char *s, size_t n)
{
    uint64_t h = read_text_hash(s, n);
    for (uint64_t probe = 0;; probe++) {
        void *v = read_hmap_get(&d->by_text, h, n | probe << 32);
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
    if (!d->chars || d->chars_len + n > d->chars_cap) {
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
    while (read_hmap_get(&d->by_text, h, n | probe << 32))
        probe++;
    if (read_hmap_put(&d->by_text, h, n | probe << 32, (void *)(uintptr_t)(i + 1)) != 0)
        return -1;
    return i;
}

long read_dict_keyed_lookup(struct dict *d, uint64_t k1, uint64_t k2,
                            const char *(*text)(const void *, uint64_t, char *), const void *arg)
{
    void *v = read_hmap_get(&d->by_key, k1, k2);
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
        if ((i = read_dict_text(d, s, n)) < 0 ||
            read_hmap_put(&d->by_key, k1, k2, (void *)(uintptr_t)(i + 1)) != 0)
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
    const uint8_t *zero;                 /* the zero region (pool_zero); NULL until a batch needs it */
    size_t zero_bytes;
    _Atomic int closed;                  /* the stream is released: what comes back is freed */
    struct pooled *_Atomic returned;     /* given back by released batches, on any thread */
    pthread_mutex_t lock;                /* of spare: a stream's builders take buffers too */
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
    if (p->zero)
        munmap((void *)(uintptr_t)p->zero, p->zero_bytes);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* A buffer of at least bytes (not cleared), on the stream's threads; NULL when out of memory. */
static void *pool_get(struct pool *p, size_t bytes)
{
    pthread_mutex_lock(&p->lock);
    for (int pass = 0; pass < 2; pass++) {
        for (struct pooled **at = &p->spare; *at; at = &(*at)->next) {
            struct pooled *h = *at;
            if (h->cap >= bytes && h->cap / 4 <= bytes) {
                *at = h->next;
                p->spare_bytes -= h->cap;
                pthread_mutex_unlock(&p->lock);
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
    pthread_mutex_unlock(&p->lock);
    struct pooled *h = malloc(sizeof *h + bytes);
    if (!h)
        return NULL;
    h->cap = bytes;
    return h + 1;
}

/* A buffer back to the spares, on the stream's threads. */
static void pool_put(struct pool *p, void *buf)
{
    if (!buf)
        return;
    struct pooled *h = header_of(buf);
    pthread_mutex_lock(&p->lock);
    h->next = p->spare;
    p->spare = h;
    p->spare_bytes += h->cap;
    pthread_mutex_unlock(&p->lock);
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

struct pool *read_pool_new(uint32_t batch_rows)
{
    struct pool *p = calloc(1, sizeof *p);
    if (p) {
        atomic_init(&p->refs, 1);
        pthread_mutex_init(&p->lock, NULL);
        /* The largest buffer of a column: a whole batch's 16-byte string views (8-byte values, int32 offsets). */
        p->zero_bytes = ((size_t)batch_rows + 1) * 16;
    }
    return p;
}

/* ==== The zero region ====
 *
 * What a column with no value in a batch hands over: its validity (all null),
 * values (all zero, false), offsets (all empty) and characters are views of
 * one read-only region of zeros, mapped on the stream's first need of it,
 * never written (a consumer may not write an Arrow buffer), and unmapped with
 * the pool, once the stream and its last batch are released (the reader
 * keeps no state outside its handles). The kernel maps each of its pages to
 * its one zero page: such a column costs a batch no memory. */

/* The region, on the stream's thread; NULL when it cannot be mapped. */
static const uint8_t *pool_zero(struct pool *p)
{
    if (!p->zero) {
        void *z = mmap(NULL, p->zero_bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        p->zero = z == MAP_FAILED ? NULL : z;
    }
    return p->zero;
}

void read_pool_close(struct pool *p)
{
    atomic_store_explicit(&p->closed, 1, memory_order_release);
    pool_empty(p);
    pool_unref(p);
}

/* ==== Building ==== */

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

int read_batch_chars(struct batch *b, struct col_buf *c, size_t n)
{
    return chars_room(b->pool, c, n);
}

/* Whether column c is made on its first value: one that may have none in a
 * batch (nullable, or bool, whose false is a zero bit). */
static int made_on_first_value(const struct col_def *c)
{
    return c->nullable || c->type == COL_BOOL;
}

int read_batch_col_make(struct batch *bt, struct col_buf *b)
{
    const struct col_def *c = &bt->cols[b - bt->buf];
    size_t rows = bt->cap, bitmap = (rows + 7) / 8 + 8;
    size_t data = c->type == COL_BOOL                      ? bitmap
                  : c->type == COL_UTF8 && bt->string_views ? rows * 16
                  : c->type == COL_UTF8                     ? (rows + 1) * 4
                                                            : rows * read_col_width[c->type];
    if (c->nullable && !b->valid) {
        if (!(b->valid = pool_get(bt->pool, bitmap)))
            return -ENOMEM;
        /* Cleared: a row not written is null. */
        memset(b->valid, 0, bitmap);
    }
    /* 8 bytes of slack: a value of a narrower column is stored as a word (FIELD_WORD). */
    uint8_t *d = pool_get(bt->pool, data + 8);
    if (!d)
        return -ENOMEM;
    if (c->type == COL_BOOL)
        memset(d, 0, bitmap); /* a bit not set is false */
    if (c->type == COL_UTF8) {
        ((int32_t *)(void *)d)[0] = 0;
        if (chars_room(bt->pool, b, rows * (c->chars_hint ? c->chars_hint : 1)) != 0) {
            pool_put(bt->pool, d);
            return -ENOMEM;
        }
    }
    b->data = d;
    return 0;
}

/* The batch's buffers, for batch_rows rows: those of the columns that have a
 * value in every row; the others' on their first value. */
int read_batch_begin(struct batch *bt)
{
    for (size_t i = 0; i < bt->ncols; i++) {
        const struct col_def *c = &bt->cols[i];
        struct col_buf *b = &bt->buf[i];
        memset(b, 0, sizeof *b);
        if (c->type == COL_NEST) {
            if (!(b->nest = read_nest_new(c->shape)))
                return -ENOMEM;
        } else if (!made_on_first_value(c) && read_batch_col_make(bt, b) != 0) {
            return -ENOMEM;
        }
    }
    bt->rows = 0;
    bt->full = 0;
    return 0;
}

static void col_free(struct pool *p, struct col_buf *b)
{
    pool_put(p, b->valid);
    pool_put(p, b->data);
    pool_put(p, b->chars);
    read_dict_free(&b->dict);
    read_nest_free(b->nest);
    memset(b, 0, sizeof *b);
}

/* Arrow's strings are valid UTF-8: each byte that starts no valid sequence
 * becomes U+FFFD, as the JSON shows it. */
int read_batch_utf8_repair(struct batch *bt, struct col_buf *b, size_t n)
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
    if (chars_room(bt->pool, b, 3 * (n - ok)) != 0) {
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

/* ==== Handing a batch over ==== */

/* What the consumer releases: one batch's memory, shared by its columns. */
struct batch_mem {
    _Atomic int refs;   /* the batch and each column not yet released */
    int64_t ncols;
    struct ArrowArray *children;
    struct ArrowArray **child_ptrs;
    struct ArrowArray *dicts;
    const void **buffers; /* 3 per column (4 a string view column's), 3 per dictionary */
    int64_t *view_bytes;  /* a string view column's: the length of its one characters buffer */
    void **owned;         /* dictionaries' buffers: what to free(3) */
    size_t nowned;
    struct pool *pool;    /* where the columns' buffers go back */
    void **pooled;
    size_t npooled;
};

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
    free(m->view_bytes);
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

/* The bits set in w, in a few instructions: the build targets no popcnt
 * instruction, and __builtin_popcountll is then a call into libgcc. */
static inline unsigned bits_set(uint64_t w)
{
    w -= (w >> 1) & 0x5555555555555555ull;
    w = (w & 0x3333333333333333ull) + ((w >> 2) & 0x3333333333333333ull);
    w = (w + (w >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (unsigned)((w * 0x0101010101010101ull) >> 56);
}

static int64_t count_nulls(const uint8_t *valid, uint32_t rows)
{
    int64_t set = 0;
    uint32_t i = 0;
    for (; i + 64 <= rows; i += 64) {
        uint64_t w;
        memcpy(&w, valid + i / 8, 8);
        set += bits_set(w);
    }
    for (; i < rows; i++)
        set += (valid[i >> 3] >> (i & 7)) & 1;
    return (int64_t)rows - set;
}

void read_batch_free(struct batch *bt)
{
    for (size_t i = 0; bt->buf && i < bt->ncols; i++)
        col_free(bt->pool, &bt->buf[i]);
}

int read_batch_export(struct batch *s, struct ArrowArray *out)
{
    size_t n = s->ncols, rows = s->rows, ndicts = 0, nests = 0;
    const uint8_t *zero = pool_zero(s->pool);
    if (!zero)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        ndicts += s->cols[i].type == COL_DICT8 || s->cols[i].type == COL_DICT16;
        nests += s->cols[i].type == COL_NEST;
    }
    for (size_t i = 0; i < n; i++) {
        struct col_buf *b = &s->buf[i];
        if (s->cols[i].type == COL_UTF8 && b->data)
            fill_strings(s, b, (uint32_t)rows);
        else if (s->cols[i].type == COL_NEST && read_nest_fill(s->buf[i].nest, (uint32_t)rows) != 0)
            return -ENOMEM;
    }
    struct batch_mem *m = calloc(1, sizeof *m);
    if (!m || !(m->children = calloc(n, sizeof *m->children)) || !(m->child_ptrs = calloc(n, sizeof *m->child_ptrs)) ||
        !(m->dicts = calloc(n, sizeof *m->dicts)) || !(m->buffers = calloc(6 * n + 1, sizeof *m->buffers)) ||
        !(m->view_bytes = calloc(n, sizeof *m->view_bytes)) ||
        !(m->owned = calloc(2 * n, sizeof *m->owned)) || !(m->pooled = calloc(3 * n, sizeof *m->pooled))) {
        if (m) {
            free(m->children);
            free(m->child_ptrs);
            free(m->dicts);
            free(m->buffers);
            free(m->view_bytes);
            free(m->owned);
            free(m->pooled);
        }
        free(m);
        return -ENOMEM;
    }
    m->ncols = (int64_t)n;
    m->pool = s->pool;
    atomic_fetch_add_explicit(&s->pool->refs, 1, memory_order_relaxed);
    /* A tree's column holds its own memory (read_nest_export): no reference to the batch's. */
    atomic_init(&m->refs, (int)(1 + n - nests + ndicts));
    for (size_t i = 0; i < n; i++) {
        const struct col_def *c = &s->cols[i];
        struct col_buf *b = &s->buf[i];
        const void **bufs = m->buffers + 6 * i;
        struct ArrowArray *ch = &m->children[i];
        m->child_ptrs[i] = ch;
        if (c->type == COL_NEST) {
            read_nest_export(b->nest, ch);
            b->nest = NULL;
            continue;
        }
        int views = c->type == COL_UTF8 && s->string_views;
        int64_t nulls;
        if (b->data) {
            nulls = b->valid ? count_nulls(b->valid, (uint32_t)rows) : 0;
            bufs[0] = nulls ? b->valid : NULL;
            bufs[1] = b->data;
            bufs[2] = b->chars;
            if (views) {
                m->view_bytes[i] = (int64_t)b->chars_len;
                bufs[3] = &m->view_bytes[i];
            }
            m->pooled[m->npooled++] = b->valid;
            m->pooled[m->npooled++] = b->data;
            m->pooled[m->npooled++] = b->chars;
        } else { /* no value in the batch: null (or false, empty) in every row */
            nulls = c->nullable ? (int64_t)rows : 0;
            bufs[0] = c->nullable ? zero : NULL;
            bufs[1] = zero;
            bufs[2] = zero; /* string views: no characters buffer, so a list of none of their lengths */
        }
        *ch = (struct ArrowArray){.length = (int64_t)rows, .null_count = nulls,
                                  .n_buffers = c->type != COL_UTF8 ? 2 : views && b->data ? 4 : 3, .buffers = bufs,
                                  .release = release_part, .private_data = m};
        if (c->type == COL_DICT8 || c->type == COL_DICT16) {
            struct dict *d = &b->dict;
            const void **db = m->buffers + 6 * i + 3;
            db[0] = NULL;
            /* An empty dictionary: its one offset 0 and no characters, of the zero region. */
            db[1] = d->offsets ? (const void *)d->offsets : zero;
            db[2] = d->chars ? (const void *)d->chars : zero;
            m->owned[m->nowned++] = d->offsets;
            m->owned[m->nowned++] = d->chars;
            m->dicts[i] = (struct ArrowArray){.length = d->n, .n_buffers = 3, .buffers = db,
                                              .release = release_part, .private_data = m};
            ch->dictionary = &m->dicts[i];
            read_dict_reset(d);
        }
        memset(b, 0, sizeof *b); /* the batch owns them now */
        m->child_ptrs[i] = ch;
    }
    *out = (struct ArrowArray){.length = (int64_t)rows, .n_buffers = 1, .n_children = (int64_t)n,
                               .buffers = m->buffers + 6 * n, .children = m->child_ptrs,
                               .release = release_array, .private_data = m};
    return 0;
}

