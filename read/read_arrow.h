/*
 * read_arrow.h - what the Arrow stream (shmlog_read_arrow.c: the schema, the
 * rows, the stream) and its batches' columns (read_arrow_batch.c: column
 * buffers, dictionaries, the memory released batches give back, a batch
 * handed over as a struct ArrowArray) share. Private to libshmlog-read.
 */
#ifndef READ_ARROW_H
#define READ_ARROW_H

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "read_engine.h"
#include "shmlog_read.h"

#define DICT16_MAX 32767u        /* values of an int16-indexed dictionary in one batch */
#define CHARS_MAX (1u << 30)     /* bytes of one string column in one batch: int32 offsets */
/* The most text one payload byte becomes: a bad UTF-8 byte's U+FFFD (3), a
 * value tree's one-byte node ("none, "). */
#define ARROW_TEXT_PER_BYTE 8u

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
    COL_NEST,   /* a value tree's shape as lists, maps and typed leaves (read_arrow_nest.c) */
};

/* Each type's Arrow format string, and the bytes of a value (0: bits; utf8: an offset). */
extern const char *const read_col_format[];
extern const uint8_t read_col_width[];

/* A column of the schema. */
struct col_def {
    char *name;
    char *field;      /* fields: the field's name, as the formats spell it (name may differ) */
    uint8_t type;     /* enum col_type */
    uint8_t nullable;
    uint8_t ordered;  /* a dictionary whose values are in order (level) */
    uint8_t kind;     /* fields: enum shmlog_read_type of its values */
    uint32_t chars_hint; /* utf8: bytes a row takes, to start a batch with (a message's tens) */
    char *shape;      /* fields: the value tree shape every site with it gives (COL_NEST when trees are asked for) */
    uint8_t shapes_differ; /* fields: a site gives it no shape, or another: its column holds the text */
    /* fields, while the schema is made: where the column goes, whatever order the sites were met in */
    struct field_origin {
        char *text;    /* the first call site with the field (by file, line and format): "file\0format" */
        uint32_t line;
        uint8_t place; /* the field's among that site's */
    } origin;
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

uint64_t read_text_hash(const char *s, size_t n);
void read_dict_reset(struct dict *d);
void read_dict_free(struct dict *d);
/* The index of the string s (n bytes) in d, added when new; -1 when out of memory. */
long read_dict_text(struct dict *d, const char *s, size_t n);
/* dict_keyed() of a key other than the last one asked for. */
long read_dict_keyed_lookup(struct dict *d, uint64_t k1, uint64_t k2,
                            const char *(*text)(const void *, uint64_t, char *), const void *arg);

/* The index of the value keyed (k1, k2), whose text text() gives when it is
 * new to the batch (made valid UTF-8); -1 when out of memory. Records come in
 * runs of one process: the last key is asked for again most of the time. */
static inline long dict_keyed(struct dict *d, uint64_t k1, uint64_t k2,
                              const char *(*text)(const void *, uint64_t, char *), const void *arg)
{
    if (d->has_last && d->last_k1 == k1 && d->last_k2 == k2)
        return d->last_index;
    return read_dict_keyed_lookup(d, k1, k2, text, arg);
}

/* ==== Value trees' columns (read_arrow_nest.c) ==== */

struct nest;
/* The empty column of a shape (render_tree_shape_len's); NULL when out of memory. */
struct nest *read_nest_new(const char *shape);
void read_nest_free(struct nest *c);
/* The tree of n bytes at p as row row (the rows before it that have none: null). 0, or -ENOMEM. */
int read_nest_put_row(struct nest *c, uint32_t row, const uint8_t *p, size_t n);
/* The rows up to rows that have no tree: null. 0, or -ENOMEM. */
int read_nest_fill(struct nest *c, uint32_t rows);
/* Hands the column to out, which frees it when released. */
void read_nest_export(struct nest *c, struct ArrowArray *out);
/* The schema of a column of shape named name, with metadata (malloc'd, NULL: none), which it takes. 0, or -ENOMEM. */
int read_nest_schema(const char *shape, const char *name, char *metadata, struct ArrowSchema *out);

/* ==== A batch being built ==== */

/* Column memory that released batches give back (read_arrow_batch.c). */
struct pool;
/* A pool of a stream of batches of up to batch_rows rows, the stream's reference in it; NULL when out of memory. */
struct pool *read_pool_new(uint32_t batch_rows);
/* The stream is released: batches still held free their buffers from now on. */
void read_pool_close(struct pool *p);

struct col_buf {
    uint8_t *valid;     /* validity bitmap; NULL for a column never null */
    uint8_t *data;      /* values, bits (bool), offsets or views (utf8) or indices (dictionaries); NULL until
                           the first value of a column that may have none (read_batch_col_make) */
    char *chars;        /* utf8 */
    size_t chars_len, chars_cap;
    uint32_t filled;    /* utf8: offsets (or string views) set for the rows before this one */
    int64_t nulls;
    struct dict dict;
    struct nest *nest;  /* COL_NEST */
};


/* The columns of the batch being built: cols' buffers for up to cap rows. */
struct batch {
    const struct col_def *cols;
    size_t ncols;
    struct col_buf *buf;
    struct pool *pool;
    uint32_t rows, cap;
    int full;             /* the batch ends here (a dictionary's index, a string column's offsets) */
    int string_views;     /* string columns handed over as Arrow's string views (read_batch_export) */
    char *tree_text;      /* a value tree's text on its way to its column (read_field_shown) */
    size_t tree_text_cap;
};

/* The buffers of a batch of b->cap rows. 0, or -ENOMEM (read_batch_free then). */
int read_batch_begin(struct batch *b);
/* The buffers of column b, made on its first value in the batch: a column
 * that gets none (null, or false, in every row) is handed over as views of
 * its pool's zero region and costs no memory. 0, or -ENOMEM. */
int read_batch_col_make(struct batch *bt, struct col_buf *b);
/* Gives back what read_batch_begin made. */
void read_batch_free(struct batch *b);
/* Hands the batch's buffers to out, which owns them from now on. 0, or -ENOMEM. */
int read_batch_export(struct batch *b, struct ArrowArray *out);
/* Room for n more characters in column c. 0, or -ENOMEM. */
int read_batch_chars(struct batch *b, struct col_buf *c, size_t n);
/* batch_utf8() of bytes that are not all ASCII. */
int read_batch_utf8_repair(struct batch *b, struct col_buf *c, size_t n);

/* Column b's buffers, made when it gets its first value. 0, or -ENOMEM. */
static inline int col_ready(struct batch *bt, struct col_buf *b)
{
    return __builtin_expect(b->data != NULL, 1) ? 0 : read_batch_col_make(bt, b);
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

/* A string column's rows before row that have no value: empty (offsets
 * that do not move, or string views of no bytes). */
static inline void fill_strings(const struct batch *bt, struct col_buf *b, uint32_t row)
{
    if (bt->string_views) {
        static const uint8_t none[16];
        for (; b->filled < row; b->filled++)
            memcpy(b->data + (size_t)b->filled * 16, none, 16);
        return;
    }
    int32_t *o = (int32_t *)b->data;
    while (b->filled < row)
        o[++b->filled] = (int32_t)b->chars_len;
}

/* Row row's string, after fill_strings(bt, b, row): the characters from
 * from to the column's end. As a string view (Arrow's): up to 12 bytes in
 * the view, a longer string's length, first 4 bytes and offset in the one
 * characters buffer (index 0). */
static inline void end_string(const struct batch *bt, struct col_buf *b, uint32_t row, size_t from)
{
    if (!bt->string_views) {
        ((int32_t *)b->data)[++b->filled] = (int32_t)b->chars_len;
        return;
    }
    /* Written in place, never read back: a view built on the stack and
     * copied out stalls on each row's store forwarding. */
    uint8_t *v = b->data + (size_t)row * 16;
    uint32_t len = (uint32_t)(b->chars_len - from), prefix;
    if (len <= 12) {
        uint64_t words[2] = {len, 0};
        memcpy(v, words, 16);
        render_copy_small((char *)v + 4, b->chars + from, len);
    } else {
        memcpy(&prefix, b->chars + from, 4);
        uint64_t words[2] = {len | (uint64_t)prefix << 32, (uint64_t)from << 32}; /* buffer 0, then the offset */
        memcpy(v, words, 16);
    }
    b->filled = row + 1;
}

/* A dictionary column's index i at row, of a value its dictionary already held. */
static inline void put_kept_index(struct col_buf *b, uint8_t type, uint32_t row, uint32_t i)
{
    if (type == COL_DICT8)
        put_u8(b, row, (uint8_t)i);
    else
        put_u16(b, row, (uint16_t)i);
    put_valid(b, row);
}

/* The batch ends once a dictionary of column b (of type) reached its index width's limit. */
static inline void dict_limit(struct batch *bt, const struct col_buf *b, uint8_t type)
{
    if (b->dict.n >= (type == COL_DICT8 ? 127u : DICT16_MAX))
        bt->full = 1;
}

/* The n bytes just written at the end of c's characters, made valid UTF-8. 0, or -ENOMEM. */
static inline int batch_utf8(struct batch *bt, struct col_buf *c, size_t n)
{
    if (render_ascii(c->chars + c->chars_len - n, n))
        return 0;
    return read_batch_utf8_repair(bt, c, n);
}

/* The string s of n bytes at row (valid UTF-8 made of it) of a nullable column
 * (a field's). 0, or -ENOMEM. */
static inline int put_text(struct batch *bt, struct col_buf *b, uint32_t row, const void *s, size_t n)
{
    if (col_ready(bt, b) != 0 || ((!b->chars || b->chars_len + n > b->chars_cap) && read_batch_chars(bt, b, n) != 0))
        return -ENOMEM;
    fill_strings(bt, b, row);
    size_t from = b->chars_len;
    if (n > 16)
        memcpy(b->chars + b->chars_len, s, n);
    else
        render_copy_small(b->chars + b->chars_len, s, n);
    b->chars_len += n;
    if (batch_utf8(bt, b, n) != 0)
        return -ENOMEM;
    end_string(bt, b, row, from);
    set_bit(b->valid, row);
    return 0;
}

#endif /* READ_ARROW_H */
