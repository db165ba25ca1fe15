/*
 * dump_serve_arrow.c - Arrow C data batches (libshmlog-read's streams) as
 * an Arrow IPC stream (arrow.apache.org/docs/format/Columnar.html, "Serialization
 * and Interprocess Communication"), for shmlog-dump serve's format=arrow.
 *
 * A stream is a Schema message, then for each batch a DictionaryBatch per
 * dictionary column (each batch has its own dictionaries: replacements,
 * which the streaming format allows) and a RecordBatch, then the
 * end-of-stream marker. A message is
 *
 *   <0xFFFFFFFF> <int32 metadata length> <flatbuffer Message, padded to 8> <body>
 *
 * where the body holds the column buffers, each at an 8-aligned offset.
 *
 * The flatbuffers are written front to back: a table's vtable first, then
 * the table, then the objects it refers to (a reference is an unsigned
 * offset forward), each reference patched once its object is placed.
 * Scalars are aligned to their size from the flatbuffer's start, which the
 * 8-byte message prefix keeps 8-aligned in the stream.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dump_serve.h"

/* Message.fbs and Schema.fbs: the union tags, the metadata version and the time unit. */
enum { HEADER_SCHEMA = 1, HEADER_DICTIONARY_BATCH = 2, HEADER_RECORD_BATCH = 3 };
enum { TYPE_INT = 2, TYPE_FLOAT = 3, TYPE_UTF8 = 5, TYPE_BOOL = 6, TYPE_TIMESTAMP = 10, TYPE_LIST = 12, TYPE_STRUCT = 13,
       TYPE_MAP = 17 };
#define METADATA_V5 4
#define UNIT_NANOSECOND 3
#define FLAG_ORDERED 1  /* ArrowSchema.flags, the C data interface's */
#define FLAG_NULLABLE 2
#define FLAG_MAP_KEYS_SORTED 4

/* ==== A flatbuffer, written front to back ==== */

struct fb {
    uint8_t *p;
    size_t len, cap;
    int oom;
};

static void fb_room(struct fb *b, size_t n)
{
    if (b->oom || b->len + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
}

/* Zeros until the length is mod modulo align. */
static void fb_align(struct fb *b, size_t align, size_t mod)
{
    size_t n = (align + mod - b->len % align) % align;
    fb_room(b, n);
    if (!b->oom)
        memset(b->p + b->len, 0, n);
    b->len += n;
}

static size_t fb_put(struct fb *b, const void *v, size_t n)
{
    size_t at = b->len;
    fb_room(b, n);
    if (!b->oom && n)
        memcpy(b->p + at, v, n);
    b->len += n;
    return at;
}

static void fb_u32(struct fb *b, uint32_t v)
{
    fb_put(b, &v, 4);
}

/* The reference at `at` to the object at target (after it). */
static void fb_patch(struct fb *b, size_t at, size_t target)
{
    uint32_t off = (uint32_t)(target - at);
    if (!b->oom)
        memcpy(b->p + at, &off, 4);
}

/* A table's field: a scalar of size bytes (1, 2, 4, 8), or a reference (ref: 4 bytes, patched later). */
struct slot {
    uint8_t size;
    uint8_t ref;
    uint64_t value;
};

#define SCALAR(sz, v) {(sz), 0, (uint64_t)(v)}
#define REF {4, 1, 0}
#define ABSENT {0, 0, 0}

/* A table of fields s[0..n) (field ids 0..n-1; size 0: absent): its vtable,
 * then the table, the widest fields first so each is aligned. at[i] is where
 * field i went (for fb_patch). Returns the table's position. */
static size_t fb_table(struct fb *b, const struct slot *s, unsigned n, size_t *at)
{
    uint16_t vt[2 + 16] = {(uint16_t)(4 + 2 * n), 4};
    uint16_t rel = 4; /* after the table's offset to its vtable */
    for (unsigned size = 8; size >= 1; size /= 2)
        for (unsigned i = 0; i < n; i++)
            if (s[i].size == size) {
                vt[2 + i] = rel;
                rel = (uint16_t)(rel + size);
            }
    vt[1] = rel;
    fb_align(b, 2, 0);
    size_t vtable = fb_put(b, vt, 4 + 2 * n);
    fb_align(b, 8, 4); /* the table's 8-byte fields right after its 4-byte vtable offset are 8-aligned */
    size_t table = b->len;
    int32_t back = (int32_t)(table - vtable);
    fb_put(b, &back, 4);
    for (unsigned size = 8; size >= 1; size /= 2)
        for (unsigned i = 0; i < n; i++)
            if (s[i].size == size) {
                if (at)
                    at[i] = b->len;
                fb_put(b, &s[i].value, size); /* little-endian: the low bytes */
            }
    return table;
}

/* A string of n bytes (a NUL after them, as flatbuffers' strings have). */
static size_t fb_bytes(struct fb *b, const char *s, size_t n)
{
    fb_align(b, 4, 0);
    size_t at = b->len;
    fb_u32(b, (uint32_t)n);
    fb_put(b, s, n);
    fb_put(b, "", 1);
    return at;
}

static size_t fb_string(struct fb *b, const char *s)
{
    return fb_bytes(b, s, strlen(s));
}

/* A vector of n references, each to patch at the returned position + 4 + 4 * i. */
static size_t fb_refs(struct fb *b, size_t n)
{
    fb_align(b, 4, 0);
    size_t at = b->len;
    fb_u32(b, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        fb_u32(b, 0);
    return at;
}

/* A vector of n structs of two int64 (FieldNode, Buffer). */
static size_t fb_pairs(struct fb *b, const int64_t *v, size_t n)
{
    fb_align(b, 8, 4);
    size_t at = b->len;
    fb_u32(b, (uint32_t)n);
    fb_put(b, v, n * 16);
    return at;
}

/* ==== Types ==== */

/* Nesting deeper than this is refused (a schema's or a batch's recursion stays bounded). */
#define DEPTH_MAX 64

struct col_type {
    uint8_t type;      /* TYPE_* */
    uint8_t bits;      /* ints: 8..64; floats: 32 or 64 */
    uint8_t is_signed;
    const char *tz;    /* timestamps: after "tsn:" */
};

/* The C data interface's format string as a type; -EINVAL for one this writer does not write. */
static int type_of(const char *f, struct col_type *t)
{
    static const char ints[] = "cCsSiIlL";
    *t = (struct col_type){0};
    if (!f)
        return -EINVAL;
    const char *i = f[0] && !f[1] ? strchr(ints, f[0]) : NULL;
    if (i) {
        t->type = TYPE_INT;
        t->bits = (uint8_t)(8u << ((i - ints) / 2));
        t->is_signed = (i - ints) % 2 == 0;
    } else if (!strcmp(f, "f") || !strcmp(f, "g")) {
        t->type = TYPE_FLOAT;
        t->bits = f[0] == 'f' ? 32 : 64;
    } else if (!strcmp(f, "b")) {
        t->type = TYPE_BOOL;
    } else if (!strcmp(f, "u")) {
        t->type = TYPE_UTF8;
    } else if (!strncmp(f, "tsn:", 4)) {
        t->type = TYPE_TIMESTAMP;
        t->bits = 64;
        t->tz = f + 4;
    } else if (!strcmp(f, "+l")) {
        t->type = TYPE_LIST;
    } else if (!strcmp(f, "+s")) {
        t->type = TYPE_STRUCT;
    } else if (!strcmp(f, "+m")) {
        t->type = TYPE_MAP;
    } else {
        return -EINVAL;
    }
    return 0;
}

/* Column c's type, checked with its children's down to the leaves: a list has
 * one child, a map one struct of a key and a value, a leaf none, a
 * dictionary an integer index and values without dictionaries of their own. */
static int check_column(const struct ArrowSchema *c, unsigned depth, int in_dictionary, struct col_type *t)
{
    struct col_type kid;
    if (depth > DEPTH_MAX || type_of(c->format, t) != 0 || (c->n_children && !c->children))
        return -EINVAL;
    if (c->dictionary) {
        if (in_dictionary || t->type != TYPE_INT || c->n_children != 0)
            return -EINVAL;
        return check_column(c->dictionary, depth + 1, 1, &kid);
    }
    int64_t want = t->type == TYPE_STRUCT ? c->n_children : t->type == TYPE_LIST || t->type == TYPE_MAP ? 1 : 0;
    if (c->n_children != want)
        return -EINVAL;
    for (int64_t k = 0; k < want; k++) {
        if (!c->children[k] || check_column(c->children[k], depth + 1, in_dictionary, &kid) != 0)
            return -EINVAL;
        if (t->type == TYPE_MAP && (kid.type != TYPE_STRUCT || c->children[k]->n_children != 2))
            return -EINVAL;
    }
    return 0;
}

/* The type's table (the Type union's value). */
static size_t put_type(struct fb *b, const struct col_type *t, int keys_sorted)
{
    size_t at[2];
    switch (t->type) {
    case TYPE_INT: {
        struct slot s[] = {SCALAR(4, t->bits), SCALAR(1, t->is_signed)};
        return fb_table(b, s, 2, NULL);
    }
    case TYPE_FLOAT: {
        struct slot s[] = {SCALAR(2, t->bits == 32 ? 1 : 2)}; /* Precision: SINGLE, DOUBLE */
        return fb_table(b, s, 1, NULL);
    }
    case TYPE_TIMESTAMP: {
        struct slot s[] = {SCALAR(2, UNIT_NANOSECOND), REF};
        int tz = t->tz && t->tz[0];
        if (!tz)
            s[1] = (struct slot)ABSENT;
        size_t table = fb_table(b, s, 2, at);
        if (tz)
            fb_patch(b, at[1], fb_string(b, t->tz));
        return table;
    }
    case TYPE_MAP: {
        struct slot s[] = {SCALAR(1, keys_sorted)};
        return fb_table(b, s, 1, NULL);
    }
    default: /* Utf8, Bool, List, Struct_: tables without fields */
        return fb_table(b, NULL, 0, NULL);
    }
}

/* A KeyValue table of the two byte strings, at the reference at. */
static void put_key_value(struct fb *b, size_t ref, const char *k, size_t klen, const char *v, size_t vlen)
{
    struct slot kv[] = {REF, REF};
    size_t at[2];
    fb_patch(b, ref, fb_table(b, kv, 2, at));
    fb_patch(b, at[0], fb_bytes(b, k, klen));
    fb_patch(b, at[1], fb_bytes(b, v, vlen));
}

/* The pairs of metadata in the C data interface's encoding (int32 count,
 * then each key and value as int32 length and bytes): the vector of their
 * KeyValue tables, at the reference at. */
static void put_c_metadata(struct fb *b, size_t ref, const char *m)
{
    int32_t n, len[2];
    memcpy(&n, m, 4);
    m += 4;
    size_t v = fb_refs(b, n > 0 ? (size_t)n : 0);
    fb_patch(b, ref, v);
    for (int32_t i = 0; i < n; i++) {
        const char *kv[2];
        for (int j = 0; j < 2; j++) {
            memcpy(&len[j], m, 4);
            kv[j] = m + 4;
            len[j] = len[j] < 0 ? 0 : len[j];
            m += 4 + len[j];
        }
        put_key_value(b, v + 4 + 4 * (size_t)i, kv[0], (size_t)len[0], kv[1], (size_t)len[1]);
    }
}

/* A Field table for column c (check_column's), its children's after it;
 * *next_id: the next dictionary's id, in the order of a depth-first walk. */
static size_t put_field(struct fb *b, const struct ArrowSchema *c, int64_t *next_id)
{
    struct col_type type, index;
    const struct ArrowSchema *values = c->dictionary ? c->dictionary : c;
    type_of(values->format, &type);
    type_of(c->format, &index);
    /* name, nullable, type_type, type, dictionary, children, custom_metadata */
    struct slot s[] = {REF, SCALAR(1, (c->flags & FLAG_NULLABLE) != 0), SCALAR(1, type.type), REF, REF, REF, REF};
    if (!c->dictionary)
        s[4] = (struct slot)ABSENT;
    if (!c->metadata)
        s[6] = (struct slot)ABSENT;
    size_t at[7];
    size_t table = fb_table(b, s, 7, at);
    fb_patch(b, at[0], fb_string(b, c->name ? c->name : ""));
    fb_patch(b, at[3], put_type(b, &type, (values->flags & FLAG_MAP_KEYS_SORTED) != 0));
    if (c->dictionary) {
        /* id, indexType, isOrdered */
        struct slot d[] = {SCALAR(8, (*next_id)++), REF, SCALAR(1, (c->flags & FLAG_ORDERED) != 0)};
        size_t dat[3];
        fb_patch(b, at[4], fb_table(b, d, 3, dat));
        fb_patch(b, dat[1], put_type(b, &index, 0));
    }
    size_t kids = fb_refs(b, (size_t)values->n_children); /* readers want the vector, if empty */
    fb_patch(b, at[5], kids);
    if (c->metadata)
        put_c_metadata(b, at[6], c->metadata);
    for (int64_t k = 0; k < values->n_children; k++)
        fb_patch(b, kids + 4 + 4 * (size_t)k, put_field(b, values->children[k], next_id));
    return table;
}

/* ==== Messages ==== */

/* A Message's table at the root, its header (of header_type) to patch at *header;
 * meta: key, value pairs (nmeta of them) for its custom_metadata. */
static void put_message(struct fb *b, uint8_t header_type, int64_t body_len, const char *const *meta, size_t nmeta,
                        size_t *header)
{
    fb_u32(b, 0); /* the root reference */
    /* version, header_type, header, bodyLength, custom_metadata */
    struct slot s[] = {SCALAR(2, METADATA_V5), SCALAR(1, header_type), REF, SCALAR(8, body_len), REF};
    if (!nmeta)
        s[4] = (struct slot)ABSENT;
    size_t at[5];
    fb_patch(b, 0, fb_table(b, s, 5, at));
    *header = at[2];
    if (!nmeta)
        return;
    size_t v = fb_refs(b, nmeta);
    fb_patch(b, at[4], v);
    for (size_t i = 0; i < nmeta; i++)
        put_key_value(b, v + 4 + 4 * i, meta[2 * i], strlen(meta[2 * i]), meta[2 * i + 1], strlen(meta[2 * i + 1]));
}

/* A piece of a message's body. */
struct piece {
    const void *p;
    size_t n;
};

static int grow(struct serve_bytes *out, size_t n)
{
    if (out->len + n <= out->cap)
        return 0;
    size_t cap = out->cap ? out->cap : 4096;
    while (cap < out->len + n)
        cap *= 2;
    uint8_t *p = realloc(out->p, cap);
    if (!p)
        return -ENOMEM;
    out->p = p;
    out->cap = cap;
    return 0;
}

/* The message whose flatbuffer is fb, its body the pieces, onto out. 0, or -ENOMEM. */
static int emit(struct serve_bytes *out, struct fb *fb, const struct piece *body, size_t npieces)
{
    fb_align(fb, 8, 0);
    if (fb->oom)
        return -ENOMEM;
    size_t body_len = 0;
    for (size_t i = 0; i < npieces; i++)
        body_len += (body[i].n + 7) & ~(size_t)7;
    if (grow(out, 8 + fb->len + body_len) != 0)
        return -ENOMEM;
    uint32_t prefix[2] = {UINT32_MAX, (uint32_t)fb->len};
    memcpy(out->p + out->len, prefix, 8);
    memcpy(out->p + out->len + 8, fb->p, fb->len);
    out->len += 8 + fb->len;
    for (size_t i = 0; i < npieces; i++) {
        size_t padded = (body[i].n + 7) & ~(size_t)7;
        if (body[i].n)
            memcpy(out->p + out->len, body[i].p, body[i].n);
        memset(out->p + out->len + body[i].n, 0, padded - body[i].n);
        out->len += padded;
    }
    return 0;
}

int serve_arrow_schema(struct serve_bytes *out, const struct ArrowSchema *schema)
{
    struct col_type t;
    if (check_column(schema, 0, 0, &t) != 0 || t.type != TYPE_STRUCT)
        return -EINVAL;
    struct fb b = {0};
    size_t header;
    put_message(&b, HEADER_SCHEMA, 0, NULL, 0, &header);
    /* endianness (Little: 0), fields */
    struct slot s[] = {SCALAR(2, 0), REF};
    size_t at[2];
    fb_patch(&b, header, fb_table(&b, s, 2, at));
    size_t v = fb_refs(&b, (size_t)schema->n_children);
    fb_patch(&b, at[1], v);
    int64_t next_id = 0;
    for (int64_t i = 0; i < schema->n_children; i++)
        fb_patch(&b, v + 4 + 4 * (size_t)i, put_field(&b, schema->children[i], &next_id));
    int rc = emit(out, &b, NULL, 0);
    free(b.p);
    return rc;
}

/* The nodes and buffers of a record batch's columns, its body's pieces, and
 * the dictionary columns met (their values go in batches of their own). */
struct layout {
    int64_t *nodes;   /* length, null_count */
    int64_t *buffers; /* offset, length */
    struct piece *body;
    const struct ArrowSchema **dict_schemas;
    const struct ArrowArray **dicts;
    size_t nnodes, nbufs, ndicts, body_len;
};

/* The nodes, buffers and dictionaries column c's record batch has (its
 * dictionary's values are in a batch of their own). */
static void count_column(const struct ArrowSchema *c, size_t *nodes, size_t *bufs, size_t *dicts)
{
    struct col_type t;
    type_of(c->format, &t);
    (*nodes)++;
    *bufs += t.type == TYPE_STRUCT ? 1 : t.type == TYPE_UTF8 ? 3 : 2;
    *dicts += c->dictionary != NULL;
    for (int64_t k = 0; k < c->n_children; k++)
        count_column(c->children[k], nodes, bufs, dicts);
}

static int layout_new(struct layout *l, const struct ArrowSchema *c)
{
    size_t nodes = 0, bufs = 0, dicts = 0;
    count_column(c, &nodes, &bufs, &dicts);
    *l = (struct layout){.nodes = calloc(nodes, 16), .buffers = calloc(bufs, 16), .body = calloc(bufs, sizeof *l->body),
                         .dict_schemas = calloc(dicts + 1, sizeof *l->dict_schemas),
                         .dicts = calloc(dicts + 1, sizeof *l->dicts)};
    return l->nodes && l->buffers && l->body && l->dict_schemas && l->dicts ? 0 : -ENOMEM;
}

static void layout_free(struct layout *l)
{
    free(l->nodes);
    free(l->buffers);
    free(l->body);
    free(l->dict_schemas);
    free(l->dicts);
}

static void add_buffer(struct layout *l, const void *p, size_t n)
{
    l->buffers[2 * l->nbufs] = (int64_t)l->body_len;
    l->buffers[2 * l->nbufs + 1] = (int64_t)n;
    l->body[l->nbufs++] = (struct piece){p, n};
    l->body_len += (n + 7) & ~(size_t)7;
}

static int64_t count_nulls(const uint8_t *valid, int64_t rows)
{
    int64_t set = 0;
    for (int64_t i = 0; i < rows / 8; i++)
        set += __builtin_popcount(valid[i]);
    for (int64_t i = rows / 8 * 8; i < rows; i++)
        set += valid[i / 8] >> (i % 8) & 1;
    return rows - set;
}

static const uint8_t zeros[8];

/* The first rows+1 offsets' buffer, checked: from 0, never going back, *end
 * the last (the child's or the characters' length the rows use). 0, or -EINVAL. */
static int add_offsets(struct layout *l, const int32_t *offsets, int64_t rows, int64_t *end)
{
    *end = 0;
    if (!rows) {
        add_buffer(l, zeros, 4); /* one offset: 0 */
        return 0;
    }
    if (!offsets || offsets[0] != 0)
        return -EINVAL;
    for (int64_t i = 0; i < rows; i++)
        if (offsets[i + 1] < offsets[i])
            return -EINVAL;
    *end = offsets[rows];
    add_buffer(l, offsets, (size_t)(rows + 1) * 4);
    return 0;
}

/* The first rows of column a (NULL: none, and rows 0) of schema c (check_column's), its children's after
 * it: their nodes and buffers, each length checked against a's, so that no buffer is read past its
 * end; a dictionary column's values are noted for a batch of their own. 0, or -EINVAL. */
static int add_column(struct layout *l, const struct ArrowSchema *c, const struct ArrowArray *a, int64_t rows)
{
    struct col_type t;
    type_of(c->format, &t);
    int n_buffers = t.type == TYPE_STRUCT ? 1 : t.type == TYPE_UTF8 ? 3 : 2;
    if (rows < 0 || (!a && rows))
        return -EINVAL;
    if (a && (a->offset != 0 || rows > a->length || a->n_buffers != n_buffers || !a->buffers ||
              a->n_children != c->n_children || (a->n_children && !a->children) || !a->dictionary != !c->dictionary))
        return -EINVAL;
    const void *const *buf = a ? (const void *const *)a->buffers : NULL;
    for (int i = 1; rows && i < n_buffers; i++)
        if (!buf[i])
            return -EINVAL;
    int64_t nulls = 0;
    if (a && a->null_count != 0 && buf[0])
        nulls = rows == a->length && a->null_count > 0 ? a->null_count : count_nulls(buf[0], rows);
    l->nodes[2 * l->nnodes] = rows;
    l->nodes[2 * l->nnodes + 1] = nulls;
    l->nnodes++;
    add_buffer(l, nulls ? buf[0] : NULL, nulls ? (size_t)(rows + 7) / 8 : 0);
    if (c->dictionary) {
        l->dict_schemas[l->ndicts] = c->dictionary;
        l->dicts[l->ndicts++] = a ? a->dictionary : NULL;
    }
    int64_t end;
    switch (t.type) {
    case TYPE_BOOL:
        add_buffer(l, rows ? buf[1] : NULL, (size_t)(rows + 7) / 8);
        return 0;
    case TYPE_UTF8:
        if (add_offsets(l, rows ? buf[1] : NULL, rows, &end) != 0)
            return -EINVAL;
        add_buffer(l, rows ? buf[2] : NULL, (size_t)end);
        return 0;
    case TYPE_LIST:
    case TYPE_MAP:
        if (add_offsets(l, rows ? buf[1] : NULL, rows, &end) != 0)
            return -EINVAL;
        return add_column(l, c->children[0], a ? a->children[0] : NULL, end);
    case TYPE_STRUCT:
        for (int64_t k = 0; k < c->n_children; k++)
            if (add_column(l, c->children[k], a ? a->children[k] : NULL, rows) != 0)
                return -EINVAL;
        return 0;
    default:
        add_buffer(l, rows ? buf[1] : NULL, (size_t)rows * t.bits / 8);
        return 0;
    }
}

/* A RecordBatch table of l's nodes and buffers, of rows rows, at the reference at. */
static void put_record_batch(struct fb *b, size_t ref, int64_t rows, const struct layout *l)
{
    /* length, nodes, buffers */
    struct slot s[] = {SCALAR(8, rows), REF, REF};
    size_t at[3];
    fb_patch(b, ref, fb_table(b, s, 3, at));
    fb_patch(b, at[1], fb_pairs(b, l->nodes, l->nnodes));
    fb_patch(b, at[2], fb_pairs(b, l->buffers, l->nbufs));
}

/* A dictionary's values d (NULL: empty) of schema values as a DictionaryBatch of that id. */
static int put_dictionary(struct serve_bytes *out, const struct ArrowSchema *values, const struct ArrowArray *d,
                          int64_t id)
{
    struct layout l;
    int rc = layout_new(&l, values);
    if (rc == 0 && add_column(&l, values, d, d ? d->length : 0) != 0)
        rc = -EINVAL;
    struct fb b = {0};
    if (rc == 0) {
        size_t header;
        put_message(&b, HEADER_DICTIONARY_BATCH, (int64_t)l.body_len, NULL, 0, &header);
        /* id, data, isDelta (false: it replaces the batch before's) */
        struct slot s[] = {SCALAR(8, id), REF, SCALAR(1, 0)};
        size_t at[3];
        fb_patch(&b, header, fb_table(&b, s, 3, at));
        put_record_batch(&b, at[1], d ? d->length : 0, &l);
        rc = emit(out, &b, l.body, l.nbufs);
    }
    free(b.p);
    layout_free(&l);
    return rc;
}

int serve_arrow_batch(struct serve_bytes *out, const struct ArrowSchema *schema, const struct ArrowArray *batch,
                      int64_t rows, const char *const *meta, size_t nmeta)
{
    struct col_type t;
    if (check_column(schema, 0, 0, &t) != 0 || t.type != TYPE_STRUCT)
        return -EINVAL;
    if (!batch)
        rows = 0;
    size_t start = out->len;
    struct layout l;
    int rc = layout_new(&l, schema);
    if (rc == 0 && add_column(&l, schema, batch, rows) != 0)
        rc = -EINVAL;
    for (size_t i = 0; i < l.ndicts && rc == 0; i++)
        rc = put_dictionary(out, l.dict_schemas[i], l.dicts[i], (int64_t)i);
    struct fb b = {0};
    if (rc == 0) {
        /* the batch is a struct column's children: its own node and validity are not sent */
        struct layout body = l;
        body.nodes += 2;
        body.nnodes--;
        body.buffers += 2;
        body.body++;
        body.nbufs--;
        size_t header;
        put_message(&b, HEADER_RECORD_BATCH, (int64_t)body.body_len, meta, nmeta, &header);
        put_record_batch(&b, header, rows, &body);
        rc = emit(out, &b, body.body, body.nbufs);
    }
    if (rc != 0)
        out->len = start; /* a dictionary's batch, written before the one that failed, goes too */
    free(b.p);
    layout_free(&l);
    return rc;
}

int serve_arrow_end(struct serve_bytes *out)
{
    static const uint32_t eos[2] = {UINT32_MAX, 0};
    if (grow(out, sizeof eos) != 0)
        return -ENOMEM;
    memcpy(out->p + out->len, eos, sizeof eos);
    out->len += sizeof eos;
    return 0;
}
