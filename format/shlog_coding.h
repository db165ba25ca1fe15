/*
 * shlog_coding.h - private to the file format library: the coding its
 * encoder (shlog_encode.c) and its decoder (shlog_decode_*.c) share, as
 * format/FORMAT.md specifies it: little-endian words, varints, zigzag,
 * FNV-1a, growable buffers and a hash map, and the argument coding (contexts,
 * decimal doubles, string tables, a site's plan). Never installed, never
 * included from outside the library: callers include shlog_file.h.
 *
 * What the hot loops of either side call is here, so each side's compiler
 * sees it whole; the rest is in shlog_coding.c.
 */
#ifndef SHLOG_CODING_H
#define SHLOG_CODING_H

#include "shlog_file.h"

#include <errno.h>
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A helper that was plain static when one file held the encoder and the
 * decoder stays plain static here, not static inline: gcc inlines a function
 * declared inline by other limits (static inline, map_find and buf_reserve
 * went into shlog_enc_record and grew it by 225 bytes), and the encoder's
 * code is kept as it was measured (bench/RESULTS.md). unused: a file may
 * call none of them. */
#define SHLOG_CODING_STATIC static __attribute__((unused))

/* ==== Bytes, varints, checks ==== */

/* One store on a little-endian host: gcc 12 at -O2 keeps the byte loop as
 * eight stores, which was most of the decoder's work per integer. */
SHLOG_CODING_STATIC void put_u32le(uint8_t *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, sizeof v);
#else
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
#endif
}

SHLOG_CODING_STATIC void put_u64le(uint8_t *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, sizeof v);
#else
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
#endif
}

static inline uint32_t get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get_u64le(const uint8_t *p)
{
    return (uint64_t)get_u32le(p) | (uint64_t)get_u32le(p + 4) << 32;
}

SHLOG_CODING_STATIC uint32_t fnv1a32(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

static inline uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

#define VARINT_MAX 10u

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Writes a frame's 16-byte prefix (FORMAT.md, "Frame prefix") at d. */
void shlog__frame_prefix_put(uint8_t *d, uint32_t zbytes, uint32_t raw_bytes);
/* A prefix as a writer made it (magic and check), whatever sizes it declares. */
int shlog__prefix_intact(const uint8_t *p);

/* A cursor over untrusted bytes: reads past the end set bad and return 0. */
struct cur {
    const uint8_t *p;
    const uint8_t *end;
    int bad;
};

static inline uint64_t get_varint(struct cur *c)
{
    if (c->p < c->end && *c->p < 0x80)
        return *c->p++;
    uint64_t v = 0;
    for (unsigned shift = 0; c->p < c->end && shift <= 63; shift += 7) {
        uint8_t b = *c->p++;
        if (shift == 63 && b > 1)
            break;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    c->bad = 1;
    return 0;
}

static inline uint8_t get_u8(struct cur *c)
{
    if (c->p < c->end)
        return *c->p++;
    c->bad = 1;
    return 0;
}

static inline const uint8_t *get_bytes(struct cur *c, uint64_t n)
{
    if (n > (uint64_t)(c->end - c->p)) {
        c->bad = 1;
        return NULL;
    }
    const uint8_t *p = c->p;
    c->p += n;
    return p;
}

/* A growable byte buffer. */
struct buf {
    uint8_t *p;
    size_t len;
    size_t cap;
};

SHLOG_CODING_STATIC int buf_reserve(struct buf *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < extra) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    uint8_t *np = realloc(b->p, cap);
    if (!np)
        return -ENOMEM;
    b->p = np;
    b->cap = cap;
    return 0;
}

SHLOG_CODING_STATIC void buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ==== A hash map from two u64 keys to a u32 value ==== */

struct map_slot {
    uint64_t k1;
    uint64_t k2;
    uint32_t val;
    uint32_t used;
};

struct map {
    struct map_slot *slots;
    size_t cap; /* a power of two, or 0 */
    size_t count;
};

static inline size_t map_hash(uint64_t k1, uint64_t k2)
{
    uint64_t h = k1 * 0x9E3779B97F4A7C15ULL ^ (k2 + 0x632BE59BD9B4E019ULL) * 0xC2B2AE3D27D4EB4FULL;
    return (size_t)(h ^ (h >> 31));
}

SHLOG_CODING_STATIC uint32_t *map_find(const struct map *m, uint64_t k1, uint64_t k2)
{
    if (!m->cap)
        return NULL;
    for (size_t i = map_hash(k1, k2) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        struct map_slot *s = &m->slots[i];
        if (!s->used)
            return NULL;
        if (s->k1 == k1 && s->k2 == k2)
            return &s->val;
    }
}

/* Inserts a key that is not in the map. 0 or -ENOMEM. */
int shlog__map_insert(struct map *m, uint64_t k1, uint64_t k2, uint32_t val);

SHLOG_CODING_STATIC void map_free(struct map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

/* Grows a pointer array *v of *cap entries to hold n + 1. 0 or -ENOMEM. */
int shlog__grow_array(void *vp, size_t *cap, size_t n, size_t elem);

/* ==== Arguments: the coding encoder and decoder share (FORMAT.md, "Arguments") ==== */

/* The columns of a BATCH section, in their order. */
enum { COL_GAP, COL_NSLOTS, COL_TSC, COL_SITE, COL_TID, COL_ATTR, COL_ARGS, NCOLS };

#define ATTR_RAW 0x40u
/* attr: category - 7 from this bit when the category field (bits 3-5) is 7 */
#define ATTR_CATEGORY_SHIFT 15

#define DECIMAL_MAX_SCALE 15 /* decimal doubles: m / 10^k for k in 0..15 */
#define DECIMAL_LIMIT 0x1p51 /* |m| and |value| stay below: deltas fit 52 bits */
#define STR_SLOTS 8u         /* recent strings kept per site and argument */
#define STR_SHORT 32u        /* longer strings are never kept */
#define STR_FIND_BITS 6
#define STR_FIND_BUCKETS (1u << STR_FIND_BITS)
#define KEY_VALUES (STR_SLOTS + 1) /* a key argument's slot, or STR_SLOTS when not kept */
/* The contexts and string tables of one file's sites, counted in units
 * (FORMAT.md): a context is one, a string table STR_UNITS. At most
 * TABLE_UNITS_MAX, so a process with a million sites costs the collector
 * and a reader no more than that (48 MiB). */
#define STR_UNITS 17u
#define TABLE_UNITS_MAX (2u << 20)

static const double pow10_exact[DECIMAL_MAX_SCALE + 1] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
};

static inline uint64_t bswap_width(uint64_t v, unsigned type)
{
    return type == SHMLOG_ARG_F32 ? __builtin_bswap32((uint32_t)v) : __builtin_bswap64(v);
}

static inline double abs_double(double x)
{
    return x < 0 ? -x : x; /* NaN stays NaN: the range checks below fail on it */
}

static inline int arg_type_valid(unsigned t)
{
    return t >= SHMLOG_ARG_BOOL && t < SHMLOG_ARG_TYPE_COUNT;
}

/* What the previous value of a context was. Every context belongs to one
 * batch (gen): a stale one reads as new. */
struct num_ctx {
    uint64_t prev;  /* integers: the value; decimal doubles: m */
    uint64_t bits;  /* doubles: the bits of the value */
    uint32_t gen;
    int32_t scale;  /* doubles: the decimal scale k, or -1 (none yet, or not decimal) */
};

static inline struct num_ctx *ctx_claim(struct num_ctx *c, uint32_t gen)
{
    if (c->gen != gen)
        *c = (struct num_ctx){.gen = gen, .scale = -1};
    return c;
}

/* The value m / 10^k has, as the bits of a double or (F32) a float. */
static inline uint64_t decimal_bits(int64_t m, int k, unsigned type)
{
    double d = (double)m / pow10_exact[k];
    if (type == SHMLOG_ARG_F32) {
        if (!(abs_double(d) <= FLT_MAX)) /* only a hostile m: the float infinity */
            return d < 0 ? 0xff800000u : 0x7f800000u;
        float f = (float)d;
        uint32_t b;
        memcpy(&b, &f, sizeof b);
        return b;
    }
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}


/* Recent short strings of one argument of one site, in the batch gen. */
struct str_table {
    uint32_t gen;
    uint8_t next;  /* the slot the next new string takes */
    uint8_t used;  /* slots 0..used-1 hold strings */
    uint16_t hdr[STR_SLOTS]; /* the u16 length word, SHMLOG_STR_TRUNCATED included */
    uint64_t head[STR_SLOTS]; /* the first 8 bytes, zero-padded: most strings differ there */
    uint8_t bytes[STR_SLOTS][STR_SHORT];
    /* For the encoder's str_find: slot + 1 by a hash of (hdr, head), 0 for
     * none; a string whose bucket another took is found by a scan. */
    uint8_t find[STR_FIND_BUCKETS];
};

static inline unsigned str_bucket(uint16_t hdr, uint64_t head)
{
    return (unsigned)(((head ^ hdr) * 0x9E3779B97F4A7C15ULL) >> (64 - STR_FIND_BITS));
}

/* The first 8 bytes of n, zero-padded. */
static inline uint64_t str_head(const uint8_t *bytes, size_t n)
{
    uint64_t h = 0;
    memcpy(&h, bytes, n < 8 ? n : 8);
    return h;
}

/* The table's slots as of batch gen, as the decoder keeps them: they start
 * over in each batch. 1 when they did. */
static inline int str_slots_claim(struct str_table *t, uint32_t gen)
{
    if (t->gen == gen)
        return 0;
    t->gen = gen;
    t->next = t->used = 0;
    return 1;
}

/* The same with the encoder's buckets for finding a string. */
static inline void str_table_claim(struct str_table *t, uint32_t gen)
{
    if (str_slots_claim(t, gen))
        memset(t->find, 0, sizeof(t->find));
}


/* Keeps a string that came as a literal in the slot its turn gives it, as
 * the decoder keeps it; returns the slot, or STR_SLOTS when it is too long
 * to keep. */
static inline unsigned str_slot_keep(struct str_table *t, uint16_t hdr, const uint8_t *bytes)
{
    size_t n = hdr & SHMLOG_STR_LEN_MASK;
    if (n > STR_SHORT)
        return STR_SLOTS;
    unsigned i = t->next;
    t->hdr[i] = hdr;
    memcpy(t->bytes[i], bytes, n);
    t->next = (uint8_t)((i + 1) % STR_SLOTS);
    if (t->used <= i)
        t->used = (uint8_t)(i + 1);
    return i;
}

/* The same with the encoder's buckets for finding it: the slot's string
 * before it leaves its bucket. */
static inline unsigned str_keep(struct str_table *t, uint16_t hdr, const uint8_t *bytes)
{
    size_t n = hdr & SHMLOG_STR_LEN_MASK;
    if (n > STR_SHORT)
        return STR_SLOTS;
    unsigned i = t->next;
    if (i < t->used && t->find[str_bucket(t->hdr[i], t->head[i])] == i + 1)
        t->find[str_bucket(t->hdr[i], t->head[i])] = 0;
    str_slot_keep(t, hdr, bytes);
    t->head[i] = str_head(bytes, n);
    t->find[str_bucket(hdr, t->head[i])] = (uint8_t)(i + 1);
    return i;
}

/* What coding an argument takes: integers by their width (1, 2, 4, 8). */
enum arg_op { OP_INT8 = 1, OP_INT16 = 2, OP_INT32 = 4, OP_INT64 = 8, OP_F32, OP_F64, OP_STR };

/* How the arguments of a site are coded, worked out once from its types. */
struct arg_plan {
    uint8_t nargs;
    uint8_t raw_only;    /* every record is stored raw: types a record cannot hold, or no room for tables */
    uint8_t shaped;      /* the types are ones a record holds: shape is theirs */
    uint8_t key_arg;     /* the first string argument; nargs when none */
    uint8_t nkeyed;      /* arguments after it */
    uint8_t op[SHMLOG_MAX_ARGS];        /* enum arg_op */
    uint8_t width[SHMLOG_MAX_ARGS];     /* payload bytes of a fixed-width argument (shmlog_arg_width) */
    uint8_t str_index[SHMLOG_MAX_ARGS]; /* STR: which of the site's string tables */
    struct shmlog_args_shape shape;     /* what a record's payload must hold (shmlog_args.h) */
};

/* The plan of a site of nargs arguments of types: raw only, and not shaped,
 * when there are too many or a type is unknown. */
void shlog__plan_site(struct arg_plan *pl, unsigned nargs, const uint8_t *types);

/* Bytes of a site's keyed contexts and string tables, kept in one block. */
SHLOG_CODING_STATIC size_t site_tables_bytes(const struct arg_plan *pl)
{
    if (pl->raw_only)
        return 0;
    return KEY_VALUES * pl->nkeyed * sizeof(struct num_ctx) + pl->shape.nstr * sizeof(struct str_table);
}

_Static_assert(sizeof(struct str_table) <= STR_UNITS * sizeof(struct num_ctx), "a unit bounds 24 bytes");

SHLOG_CODING_STATIC size_t site_table_units(const struct arg_plan *pl)
{
    if (pl->raw_only)
        return 0;
    return KEY_VALUES * pl->nkeyed + STR_UNITS * pl->shape.nstr;
}

/* The tables of a file's sites take at most TABLE_UNITS_MAX: a site
 * defined when used units are taken and its own would not fit is coded raw
 * only. The encoder and the decoder decide alike, in the same order (a
 * redefined site gives its old units back after), so they agree on every
 * site. Returns the site's units, 0 when it became raw only. */
SHLOG_CODING_STATIC size_t plan_tables_within(struct arg_plan *pl, size_t used)
{
    size_t units = site_table_units(pl);
    if (used + units > TABLE_UNITS_MAX) {
        /* no tables; its records still parse against its shape */
        *pl = (struct arg_plan){.raw_only = 1, .shaped = pl->shaped, .shape = pl->shape};
        units = 0;
    }
    return units;
}

/* The contexts of a site's arguments before its key: they start over in each
 * batch, all at once at the site's first record there (*ctx_gen is the batch
 * they are of), not one by one at each argument. */
static inline void site_ctx_claim(const struct arg_plan *pl, struct num_ctx *ctx, uint32_t *ctx_gen, uint32_t gen)
{
    if (*ctx_gen == gen)
        return;
    *ctx_gen = gen;
    for (unsigned i = 0; i < pl->key_arg; i++)
        ctx_claim(&ctx[i], gen);
}

/* Lays the tables out in mem (site_tables_bytes of it), all marked as of
 * batch gen, so stale in the next; ctx is the site's array of pl->nargs,
 * ctx_gen the batch it is of. */
void shlog__site_tables_init(const struct arg_plan *pl, void *mem, uint32_t gen, struct num_ctx *ctx,
                             uint32_t *ctx_gen, struct num_ctx **keyed, struct str_table **str);

/* The context of numeric argument i of a record whose key argument took
 * key_slot: one per site and argument before the key (claimed with the site,
 * site_ctx_claim), one per site, argument and key value after it. */
static inline struct num_ctx *arg_ctx(const struct arg_plan *pl, struct num_ctx *site_ctx, struct num_ctx *keyed,
                                      unsigned i, unsigned key_slot, uint32_t gen)
{
    if (i < pl->key_arg)
        return &site_ctx[i];
    return ctx_claim(&keyed[key_slot * pl->nkeyed + (i - pl->key_arg - 1)], gen);
}

#endif /* SHLOG_CODING_H */
