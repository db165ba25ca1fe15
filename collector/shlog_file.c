/*
 * shlog_file.c - encoder and decoder of the collector's file format. The
 * format is specified in collector/FORMAT.md; keep the two in step.
 *
 * The decoder treats every byte as hostile: all lengths are checked against
 * what is left, every allocation is bounded by the limits below, and damage
 * is reported as an event while reading goes on at the next frame.
 */
#include "shlog_file.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

/* Bounds on what one reader keeps for a hostile file. */
#define MAX_PROCS_PER_FILE 65536u
#define MAX_SITES_PER_FILE (1u << 20)
#define MAX_SITE_STRING_BYTES (64u << 20)
#define MAX_DEDUP_RINGS (1u << 20)
#define MAX_DEDUP_SPANS 65536u
#define RESYNC_CHUNK 65536u
#define INFO_CACHE_SLOTS 1024u /* sites kept in the renderer's form, direct-mapped */

/* ==== Bytes, varints, checks ==== */

static void put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get_u64le(const uint8_t *p)
{
    return (uint64_t)get_u32le(p) | (uint64_t)get_u32le(p + 4) << 32;
}

static uint32_t fnv1a32(const uint8_t *p, size_t n)
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

static int buf_reserve(struct buf *b, size_t extra)
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

static void buf_free(struct buf *b)
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

static uint32_t *map_find(const struct map *m, uint64_t k1, uint64_t k2)
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

static void map_place(struct map_slot *slots, size_t cap, uint64_t k1, uint64_t k2, uint32_t val)
{
    size_t i = map_hash(k1, k2) & (cap - 1);
    while (slots[i].used)
        i = (i + 1) & (cap - 1);
    slots[i] = (struct map_slot){k1, k2, val, 1};
}

/* Inserts a key that is not in the map. */
static int map_insert(struct map *m, uint64_t k1, uint64_t k2, uint32_t val)
{
    if ((m->count + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct map_slot *slots = calloc(cap, sizeof(*slots));
        if (!slots)
            return -ENOMEM;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].used)
                map_place(slots, cap, m->slots[i].k1, m->slots[i].k2, m->slots[i].val);
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    map_place(m->slots, m->cap, k1, k2, val);
    m->count++;
    return 0;
}

static void map_free(struct map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

/* Grows a pointer array *v of *cap entries to hold n + 1. */
static int grow_array(void *vp, size_t *cap, size_t n, size_t elem)
{
    void **v = vp;
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *nv = realloc(*v, ncap * elem);
    if (!nv)
        return -ENOMEM;
    *v = nv;
    *cap = ncap;
    return 0;
}

/* ==== File header ==== */

void shlog_file_header_encode(uint8_t out[SHLOG_FILE_HEADER_BYTES], const struct shlog_file_header *h)
{
    memset(out, 0, SHLOG_FILE_HEADER_BYTES);
    put_u64le(out, SHLOG_FILE_MAGIC);
    put_u32le(out + 8, SHLOG_FILE_VERSION);
    put_u32le(out + 12, SHLOG_FILE_HEADER_BYTES);
    put_u64le(out + 16, h->file_seq);
    put_u64le(out + 24, h->created_ns);
    put_u32le(out + 32, h->collector_pid);
    put_u32le(out + 36, h->flags);
    memcpy(out + 40, h->host, strnlen(h->host, SHMLOG_HOST_BYTES));
    put_u32le(out + 124, fnv1a32(out, 124));
}

const char *shlog_file_header_decode(const uint8_t *in, size_t n, struct shlog_file_header *out)
{
    if (n < SHLOG_FILE_HEADER_BYTES)
        return "file is shorter than its header";
    if (get_u64le(in) != SHLOG_FILE_MAGIC)
        return "not a shmlog file (bad magic)";
    if (get_u32le(in + 124) != fnv1a32(in, 124))
        return "file header checksum mismatch";
    uint32_t version = get_u32le(in + 8);
    if (version != SHLOG_FILE_VERSION) {
        static __thread char why[160];
        snprintf(why, sizeof(why), "file format version %u is %s; this reader reads version %u only", version,
                 version < SHLOG_FILE_VERSION ? "from an earlier shmlog and no longer readable" : "newer than this shmlog",
                 SHLOG_FILE_VERSION);
        return why;
    }
    if (get_u32le(in + 12) != SHLOG_FILE_HEADER_BYTES)
        return "unexpected file header size";
    memset(out, 0, sizeof(*out));
    out->version = version;
    out->file_seq = get_u64le(in + 16);
    out->created_ns = get_u64le(in + 24);
    out->collector_pid = get_u32le(in + 32);
    out->flags = get_u32le(in + 36);
    memcpy(out->host, in + 40, SHMLOG_HOST_BYTES);
    out->host[SHMLOG_HOST_BYTES] = '\0';
    return NULL;
}

/* ==== Arguments: the coding encoder and decoder share (FORMAT.md, "Arguments") ==== */

enum { COL_GAP, COL_NSLOTS, COL_TSC, COL_SITE, COL_TID, COL_ATTR, COL_ARGS, NCOLS };

#define ATTR_RAW 0x40u

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

static inline double value_of_bits(uint64_t bits, unsigned type)
{
    if (type == SHMLOG_ARG_F32) {
        uint32_t b = (uint32_t)bits;
        float f;
        memcpy(&f, &b, sizeof f);
        return f;
    }
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* Whether the value (d, its bits) is exactly decimal_bits(m, k): m then. */
static inline int decimal_at(double d, uint64_t bits, unsigned type, int k, int64_t *m)
{
    double t = d * pow10_exact[k];
    if (!(abs_double(t) < DECIMAL_LIMIT))
        return 0; /* also NaN */
    *m = (int64_t)(t < 0 ? t - 0.5 : t + 0.5);
    return decimal_bits(*m, k, type) == bits;
}

/* The smallest k at which the value is decimal, with its m; 0 when it is at
 * none. The one scale tried is the largest whose m stays below DECIMAL_LIMIT
 * for this magnitude: a value decimal at a smaller scale is decimal there too
 * (the same quotient, rounded once), and its m ends in zeros to strip. */
static int decimal_min(double d, uint64_t bits, unsigned type, int *k, int64_t *m)
{
    if (!(abs_double(d) < DECIMAL_LIMIT))
        return 0;
    uint64_t dbits;
    memcpy(&dbits, &d, sizeof dbits);
    int e = (int)(dbits >> 52 & 0x7ff) - 1023; /* |d| < 2^(e+1); -1023 for 0 and subnormals */
    /* 2^(e+1) * 10^K <= 2^51: K <= (50 - e) * log10(2); 1233/4096 is just below. */
    int K = (50 - e) * 1233 >> 12;
    if (K > DECIMAL_MAX_SCALE)
        K = DECIMAL_MAX_SCALE;
    if (!decimal_at(d, bits, type, K, m))
        return 0;
    /* Strip trailing zeros 8, 4, 2, 1 at a time: division by constants. */
    if (K >= 8 && *m % 100000000 == 0) {
        *m /= 100000000;
        K -= 8;
    }
    if (K >= 4 && *m % 10000 == 0) {
        *m /= 10000;
        K -= 4;
    }
    if (K >= 2 && *m % 100 == 0) {
        *m /= 100;
        K -= 2;
    }
    if (K >= 1 && *m % 10 == 0) {
        *m /= 10;
        K -= 1;
    }
    *k = K;
    return 1;
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

static inline void str_table_claim(struct str_table *t, uint32_t gen)
{
    if (t->gen != gen) {
        t->gen = gen;
        t->next = t->used = 0;
        memset(t->find, 0, sizeof(t->find));
    }
}

/* Encoder: the slot holding (hdr, bytes) whose first 8 bytes are head, or -1. */
static inline int str_find(const struct str_table *t, uint16_t hdr, uint64_t head, const uint8_t *bytes)
{
    size_t n = hdr & SHMLOG_STR_LEN_MASK;
    int i = t->find[str_bucket(hdr, head)] - 1;
    if (i >= 0 && t->head[i] == head && t->hdr[i] == hdr &&
        (n <= 8 || memcmp(t->bytes[i] + 8, bytes + 8, n - 8) == 0))
        return i;
    for (i = 0; i < t->used; i++)
        if (t->head[i] == head && t->hdr[i] == hdr && (n <= 8 || memcmp(t->bytes[i] + 8, bytes + 8, n - 8) == 0))
            return i;
    return -1;
}

/* Keeps a string that came as a literal; returns its slot, or STR_SLOTS when
 * it is too long to keep. */
static inline unsigned str_keep(struct str_table *t, uint16_t hdr, const uint8_t *bytes)
{
    size_t n = hdr & SHMLOG_STR_LEN_MASK;
    if (n > STR_SHORT)
        return STR_SLOTS;
    unsigned i = t->next;
    if (i < t->used && t->find[str_bucket(t->hdr[i], t->head[i])] == i + 1)
        t->find[str_bucket(t->hdr[i], t->head[i])] = 0;
    t->hdr[i] = hdr;
    t->head[i] = str_head(bytes, n);
    t->find[str_bucket(hdr, t->head[i])] = (uint8_t)(i + 1);
    memcpy(t->bytes[i], bytes, n);
    t->next = (uint8_t)((i + 1) % STR_SLOTS);
    if (t->used <= i)
        t->used = (uint8_t)(i + 1);
    return i;
}

/* What coding an argument takes: integers by their width (1, 2, 4, 8). */
enum arg_op { OP_INT8 = 1, OP_INT16 = 2, OP_INT32 = 4, OP_INT64 = 8, OP_F32, OP_F64, OP_STR };

/* How the arguments of a site are coded, worked out once from its types. */
struct arg_plan {
    uint8_t nargs;
    uint8_t nstr;        /* string arguments */
    uint8_t raw_only;    /* types we cannot code: every record is stored raw */
    uint8_t key_arg;     /* the first string argument; nargs when none */
    uint8_t nkeyed;      /* arguments after it */
    uint8_t op[SHMLOG_MAX_ARGS];        /* enum arg_op */
    uint8_t str_index[SHMLOG_MAX_ARGS]; /* STR: which of the site's string tables */
    /* Payload bytes of the fixed-width arguments before each string (since
     * the one before it), and after the last one. */
    uint16_t fixed_before[SHMLOG_MAX_ARGS];
    uint16_t fixed_after;
};

static inline unsigned arg_op_of(unsigned type)
{
    switch (type) {
    case SHMLOG_ARG_F32: return OP_F32;
    case SHMLOG_ARG_F64: return OP_F64;
    case SHMLOG_ARG_STR: return OP_STR;
    default: return shmlog_arg_width(type);
    }
}

static void plan_site(struct arg_plan *pl, unsigned nargs, const uint8_t *types)
{
    memset(pl, 0, sizeof(*pl));
    if (nargs > SHMLOG_MAX_ARGS) {
        pl->raw_only = 1;
        return;
    }
    pl->nargs = (uint8_t)nargs;
    pl->key_arg = (uint8_t)nargs;
    unsigned fixed = 0;
    for (unsigned i = 0; i < nargs; i++) {
        if (!arg_type_valid(types[i])) {
            *pl = (struct arg_plan){.raw_only = 1}; /* no tables either */
            return;
        }
        pl->op[i] = (uint8_t)arg_op_of(types[i]);
        if (types[i] == SHMLOG_ARG_STR) {
            if (pl->nstr == 0)
                pl->key_arg = (uint8_t)i;
            pl->fixed_before[pl->nstr] = (uint16_t)fixed;
            fixed = 0;
            pl->str_index[i] = pl->nstr++;
        } else {
            fixed += shmlog_arg_width(types[i]);
        }
    }
    pl->fixed_after = (uint16_t)fixed;
    pl->nkeyed = pl->key_arg < nargs ? (uint8_t)(nargs - pl->key_arg - 1) : 0;
}

/* Bytes of a site's keyed contexts and string tables, kept in one block. */
static size_t site_tables_bytes(const struct arg_plan *pl)
{
    return KEY_VALUES * pl->nkeyed * sizeof(struct num_ctx) + pl->nstr * sizeof(struct str_table);
}

_Static_assert(sizeof(struct str_table) <= STR_UNITS * sizeof(struct num_ctx), "a unit bounds 24 bytes");

static size_t site_table_units(const struct arg_plan *pl)
{
    return KEY_VALUES * pl->nkeyed + STR_UNITS * pl->nstr;
}

/* The tables of a file's sites take at most TABLE_UNITS_MAX: a site
 * defined when used units are taken and its own would not fit is coded raw
 * only. The encoder and the decoder decide alike, in the same order (a
 * redefined site gives its old units back after), so they agree on every
 * site. Returns the site's units, 0 when it became raw only. */
static size_t plan_tables_within(struct arg_plan *pl, size_t used)
{
    size_t units = site_table_units(pl);
    if (used + units > TABLE_UNITS_MAX) {
        *pl = (struct arg_plan){.raw_only = 1};
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
 * batch gen, so stale in the next; ctx is the site's SHMLOG_MAX_ARGS array,
 * ctx_gen the batch it is of. */
static void site_tables_init(const struct arg_plan *pl, void *mem, uint32_t gen, struct num_ctx *ctx,
                             uint32_t *ctx_gen, struct num_ctx **keyed, struct str_table **str)
{
    *keyed = mem;
    *str = mem ? (struct str_table *)(*keyed + KEY_VALUES * pl->nkeyed) : NULL; /* NULL: a site with neither */
    if (mem)
        memset(mem, 0, site_tables_bytes(pl));
    for (unsigned i = 0; i < KEY_VALUES * pl->nkeyed; i++)
        (*keyed)[i].gen = gen;
    for (unsigned i = 0; i < pl->nstr; i++)
        (*str)[i].gen = gen;
    for (unsigned i = 0; i < SHMLOG_MAX_ARGS; i++)
        ctx[i].gen = gen;
    *ctx_gen = gen;
}

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

/* ==== Encoder ==== */

#define ENC_SITE_CACHE 64u

struct enc_site {
    struct arg_plan plan;
    struct num_ctx ctx[SHMLOG_MAX_ARGS]; /* arguments before the key argument */
    uint32_t ctx_gen;                    /* the batch ctx is of */
    struct num_ctx *keyed;               /* KEY_VALUES x plan.nkeyed, then plan.nstr string tables */
    struct str_table *str;
};

struct shlog_enc {
    ZSTD_CCtx *cctx;
    struct buf raw;        /* sections of the open frame */
    struct buf col[NCOLS]; /* columns of the open batch */
    struct map procs;      /* (proc, 0) */
    struct map sites;      /* (proc, site) -> index into site_v */
    struct enc_site *site_v;
    size_t nsites, sites_cap;
    int batch_open;
    uint32_t batch_proc, batch_cpu, batch_count, batch_gen;
    uint64_t first_pos, expected_pos, base_tsc, prev_tsc;
    uint32_t prev_tid;
    /* Sites of the batch's process by id, direct-mapped: a record's site
     * is one of a few that take turns. */
    struct {
        uint32_t id;
        int32_t index; /* into site_v; -1: empty */
    } site_cache[ENC_SITE_CACHE];
    uint64_t frame_records;
    unsigned col_room; /* records the fixed columns have room for */
    size_t table_units; /* of every site's contexts and string tables */
};

#define COL_ROOM_RECORDS 256u

/* The batch's process changed: the cache is of another one. */
static void enc_forget_sites(struct shlog_enc *e)
{
    for (unsigned i = 0; i < ENC_SITE_CACHE; i++)
        e->site_cache[i].index = -1;
}

int shlog_enc_new(struct shlog_enc **out, int zstd_level)
{
    struct shlog_enc *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->cctx = ZSTD_createCCtx();
    if (!e->cctx) {
        free(e);
        return -ENOMEM;
    }
    if (shlog_enc_set_level(e, zstd_level) != 0 ||
        ZSTD_isError(ZSTD_CCtx_setParameter(e->cctx, ZSTD_c_checksumFlag, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(e->cctx, ZSTD_c_contentSizeFlag, 1))) {
        shlog_enc_free(e);
        return -EINVAL;
    }
    enc_forget_sites(e);
    *out = e;
    return 0;
}

int shlog_enc_set_level(struct shlog_enc *e, int zstd_level)
{
    if (zstd_level < ZSTD_minCLevel() || zstd_level > ZSTD_maxCLevel() ||
        ZSTD_isError(ZSTD_CCtx_setParameter(e->cctx, ZSTD_c_compressionLevel, zstd_level)))
        return -EINVAL;
    return 0;
}

void shlog_enc_free(struct shlog_enc *e)
{
    if (!e)
        return;
    ZSTD_freeCCtx(e->cctx);
    buf_free(&e->raw);
    for (int i = 0; i < NCOLS; i++)
        buf_free(&e->col[i]);
    map_free(&e->procs);
    map_free(&e->sites);
    for (size_t i = 0; i < e->nsites; i++)
        free(e->site_v[i].keyed);
    free(e->site_v);
    free(e);
}

int shlog_enc_has_process(const struct shlog_enc *e, uint32_t proc)
{
    return map_find(&e->procs, proc, 0) != NULL;
}

int shlog_enc_has_site(const struct shlog_enc *e, uint32_t proc, uint32_t site)
{
    return map_find(&e->sites, proc, site) != NULL;
}

/* Appends a section whose body was built in body[0..n). */
static int enc_section(struct shlog_enc *e, unsigned type, const uint8_t *body, size_t n)
{
    int rc = buf_reserve(&e->raw, 1 + VARINT_MAX + n);
    if (rc)
        return rc;
    uint8_t *p = e->raw.p + e->raw.len;
    *p++ = (uint8_t)type;
    p = put_varint(p, n);
    memcpy(p, body, n);
    e->raw.len = (size_t)(p + n - e->raw.p);
    return 0;
}

int shlog_enc_process(struct shlog_enc *e, uint32_t proc, const struct shmlog_proc_info *pi)
{
    if (e->batch_open)
        return -EBUSY;
    uint8_t body[8 * VARINT_MAX + 2 * (VARINT_MAX + SHMLOG_APP_BYTES)];
    uint8_t *p = body;
    size_t app_len = strnlen(pi->app, SHMLOG_APP_BYTES - 1);
    size_t host_len = strnlen(pi->host, SHMLOG_HOST_BYTES - 1);
    p = put_varint(p, proc);
    p = put_varint(p, pi->pid);
    p = put_varint(p, pi->uid);
    p = put_varint(p, pi->proc_start);
    p = put_varint(p, pi->created_ns);
    p = put_varint(p, pi->tsc_hz);
    p = put_varint(p, pi->anchor_tsc);
    p = put_varint(p, pi->anchor_ns);
    p = put_varint(p, app_len);
    memcpy(p, pi->app, app_len);
    p += app_len;
    p = put_varint(p, host_len);
    memcpy(p, pi->host, host_len);
    p += host_len;
    int rc = enc_section(e, SHLOG_SEC_PROCESS, body, (size_t)(p - body));
    if (!rc && !map_find(&e->procs, proc, 0))
        rc = map_insert(&e->procs, proc, 0, 0);
    return rc;
}

int shlog_enc_site(struct shlog_enc *e, uint32_t proc, const struct shmlog_site_info *s)
{
    if (!map_find(&e->procs, proc, 0))
        return -ENOENT;
    struct arg_plan plan;
    plan_site(&plan, s->nargs, s->arg_types);
    size_t units = plan_tables_within(&plan, e->table_units);
    size_t tables = site_tables_bytes(&plan);
    void *mem = tables ? malloc(tables) : NULL;
    if (tables && !mem)
        return -ENOMEM;
    uint32_t *idx = map_find(&e->sites, proc, s->id);
    if (!idx) {
        int rc = grow_array(&e->site_v, &e->sites_cap, e->nsites, sizeof(*e->site_v));
        if (!rc)
            rc = map_insert(&e->sites, proc, s->id, (uint32_t)e->nsites);
        if (rc) {
            free(mem);
            return rc;
        }
        idx = map_find(&e->sites, proc, s->id);
        e->site_v[e->nsites++].keyed = NULL;
    }
    /* A redefined site starts over, with tables of its new types. */
    struct enc_site *es = &e->site_v[*idx];
    if (es->keyed)
        e->table_units -= site_table_units(&es->plan);
    free(es->keyed);
    e->table_units += units;
    es->plan = plan;
    /* stale: each context starts over at its first use */
    site_tables_init(&plan, mem, e->batch_gen - 1, es->ctx, &es->ctx_gen, &es->keyed, &es->str);
    unsigned nargs = plan.raw_only && s->nargs > SHMLOG_MAX_ARGS ? 0 : s->nargs;

    size_t fmt_len = s->fmt_len < SHMLOG_MAX_FMT_BYTES ? s->fmt_len : SHMLOG_MAX_FMT_BYTES;
    size_t file_len = s->file_len < SHMLOG_MAX_FILE_BYTES ? s->file_len : SHMLOG_MAX_FILE_BYTES;
    uint8_t body[5 * VARINT_MAX + 3 + SHMLOG_MAX_ARGS + SHMLOG_MAX_FMT_BYTES + SHMLOG_MAX_FILE_BYTES];
    uint8_t *p = body;
    p = put_varint(p, proc);
    p = put_varint(p, s->id);
    p = put_varint(p, s->line);
    *p++ = s->level;
    *p++ = s->category;
    *p++ = (uint8_t)nargs;
    memcpy(p, s->arg_types, nargs);
    p += nargs;
    p = put_varint(p, fmt_len);
    memcpy(p, s->fmt, fmt_len);
    p += fmt_len;
    p = put_varint(p, file_len);
    memcpy(p, s->file, file_len);
    p += file_len;
    return enc_section(e, SHLOG_SEC_SITE, body, (size_t)(p - body));
}

int shlog_enc_loss(struct shlog_enc *e, uint32_t proc, uint32_t cpu, const struct shmlog_loss *l,
                   uint64_t counter_total)
{
    if (e->batch_open)
        return -EBUSY;
    if (!map_find(&e->procs, proc, 0))
        return -ENOENT;
    uint8_t body[7 * VARINT_MAX + 1];
    uint8_t *p = body;
    p = put_varint(p, proc);
    p = put_varint(p, cpu);
    p = put_varint(p, l->first_pos);
    p = put_varint(p, l->positions);
    p = put_varint(p, l->records);
    *p++ = (uint8_t)l->reason;
    p = put_varint(p, counter_total);
    return enc_section(e, SHLOG_SEC_LOSS, body, (size_t)(p - body));
}

int shlog_enc_exit(struct shlog_enc *e, uint32_t proc, uint64_t exit_ns, uint64_t records, uint64_t lost,
                   enum shlog_exit_how how)
{
    if (e->batch_open)
        return -EBUSY;
    if (!map_find(&e->procs, proc, 0))
        return -ENOENT;
    uint8_t body[5 * VARINT_MAX];
    uint8_t *p = body;
    p = put_varint(p, proc);
    p = put_varint(p, exit_ns);
    p = put_varint(p, records);
    p = put_varint(p, lost);
    p = put_varint(p, how);
    return enc_section(e, SHLOG_SEC_EXIT, body, (size_t)(p - body));
}

static unsigned tristate_bits(enum shlog_tristate t)
{
    return t == SHLOG_YES ? 1u : t == SHLOG_NO ? 2u : 0u;
}

int shlog_enc_clock(struct shlog_enc *e, const struct shlog_clock_info *ci, const struct shmlog_clock_anchor *a,
                    size_t n)
{
    if (e->batch_open)
        return -EBUSY;
    if (!n || n > SHLOG_CLOCK_MAX_ANCHORS)
        return -EINVAL;
    size_t cs = strnlen(ci->clocksource, sizeof(ci->clocksource) - 1);
    uint8_t body[5 * VARINT_MAX + sizeof(ci->clocksource) + SHLOG_CLOCK_MAX_ANCHORS * 4 * VARINT_MAX];
    uint8_t *p = body;
    p = put_varint(p, ci->hz_q16);
    p = put_varint(p, tristate_bits(ci->tsc_invariant) | tristate_bits(ci->synchronized) << 2);
    p = put_varint(p, ci->esterror_ns);
    p = put_varint(p, cs);
    memcpy(p, ci->clocksource, cs);
    p += cs;
    p = put_varint(p, n);
    for (size_t i = 0; i < n; i++) {
        p = put_varint(p, a[i].tsc);
        p = put_varint(p, a[i].ns);
        p = put_varint(p, a[i].err_ns);
        p = put_varint(p, a[i].flags);
    }
    return enc_section(e, SHLOG_SEC_CLOCK, body, (size_t)(p - body));
}

int shlog_enc_batch_begin(struct shlog_enc *e, uint32_t proc, uint32_t cpu)
{
    if (e->batch_open)
        return -EBUSY;
    if (!map_find(&e->procs, proc, 0))
        return -ENOENT;
    e->batch_open = 1;
    e->batch_proc = proc;
    e->batch_cpu = cpu;
    e->batch_count = 0;
    e->batch_gen++;
    enc_forget_sites(e);
    for (int i = 0; i < NCOLS; i++)
        e->col[i].len = 0;
    e->col_room = 0;
    return 0;
}

static struct enc_site *enc_lookup_site(struct shlog_enc *e, uint32_t site)
{
    unsigned slot = site % ENC_SITE_CACHE;
    if (e->site_cache[slot].id == site && e->site_cache[slot].index >= 0)
        return &e->site_v[e->site_cache[slot].index];
    uint32_t *idx = map_find(&e->sites, e->batch_proc, site);
    if (!idx)
        return NULL;
    e->site_cache[slot].id = site;
    e->site_cache[slot].index = (int32_t)*idx;
    return &e->site_v[*idx];
}

/* A record's payload as the encoder reads it: a private copy, never the ring,
 * since lengths read from it are trusted once measured. Word loads may read up
 * to end, past len, and mask what they do not use. */
struct enc_payload {
    const uint8_t *p;
    size_t len; /* at most SHMLOG_MAX_PAYLOAD */
    const uint8_t *end;
};

/* 0 with *used the payload bytes the arguments take as plan declares them, or
 * -1 when the payload does not match the types (then the record is stored
 * raw). */
static int enc_args_measure(const struct arg_plan *pl, const struct enc_payload *a, size_t *used)
{
    size_t lim = a->len;
    size_t off = 0;
    for (unsigned k = 0; k < pl->nstr; k++) {
        off += pl->fixed_before[k];
        if (off + 2 > lim)
            return -1;
        off += 2 + (((size_t)a->p[off] | (size_t)a->p[off + 1] << 8) & SHMLOG_STR_LEN_MASK);
    }
    off += pl->fixed_after;
    *used = off;
    return off <= lim ? 0 : -1;
}

/* A double or float argument against its context (FORMAT.md, "Arguments"). */
static inline uint8_t *enc_float(uint8_t *p, struct num_ctx *c, uint64_t bits, unsigned t)
{
    double d = value_of_bits(bits, t);
    int64_t m;
    int k;
    if (c->scale >= 0 && decimal_at(d, bits, t, c->scale, &m)) {
        p = put_varint(p, zigzag(m - (int64_t)c->prev) << 1);
        c->prev = (uint64_t)m;
    } else if (decimal_min(d, bits, t, &k, &m)) {
        p = put_varint(p, (uint64_t)(1 + k) << 1 | 1);
        p = put_varint(p, zigzag(m));
        c->scale = k;
        c->prev = (uint64_t)m;
    } else {
        *p++ = 1;
        p = put_varint(p, bswap_width(bits ^ c->bits, t));
        c->scale = -1;
    }
    c->bits = bits;
    return p;
}

/* str_head of a string in a payload: one load when 8 bytes are there. */
static inline uint64_t enc_str_head(const uint8_t *end, const uint8_t *bytes, size_t n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (bytes + 8 <= end) {
        uint64_t h;
        memcpy(&h, bytes, 8);
        return n >= 8 ? h : h & ((1ULL << (8 * n)) - 1);
    }
#else
    (void)end;
#endif
    return str_head(bytes, n);
}

/* The cases of a switch on op that read the integer argument of width op
 * (enum arg_op: 1, 2, 4 or 8 bytes) at a into v. A macro, not a function: a
 * second switch inside the arguments' own adds instructions to every record
 * (shmlog-bench-encode, bench/bench_encode.c, shows the cost). */
#define INT_ARG_CASES(v, op, a)                                                                                   \
    case OP_INT8: v = (a)[0]; break;                                                                            \
    case OP_INT16: v = (uint64_t)(a)[0] | (uint64_t)(a)[1] << 8; break;                                         \
    case OP_INT32: v = get_u32le(a); break;                                                                     \
    default: v = get_u64le(a); break;

/* The arguments (checked by enc_args_measure) into the args column at p. */
static uint8_t *enc_args(struct shlog_enc *e, struct enc_site *s, const struct enc_payload *pay, uint8_t *p)
{
    const struct arg_plan *pl = &s->plan;
    const uint8_t *a = pay->p;
    unsigned key_slot = 0;
    for (unsigned i = 0; i < pl->nargs; i++) {
        uint64_t v;
        unsigned op = pl->op[i];
        switch (op) {
        case OP_STR: {
            uint16_t hdr = (uint16_t)(a[0] | a[1] << 8);
            size_t n = hdr & SHMLOG_STR_LEN_MASK;
            struct str_table *tb = &s->str[pl->str_index[i]];
            str_table_claim(tb, e->batch_gen);
            int slot = n <= STR_SHORT ? str_find(tb, hdr, enc_str_head(pay->end, a + 2, n), a + 2) : -1;
            if (slot >= 0) {
                p = put_varint(p, (uint64_t)slot << 1 | 1);
            } else {
                p = put_varint(p, (uint64_t)hdr << 1);
                memcpy(p, a + 2, n);
                p += n;
                slot = (int)str_keep(tb, hdr, a + 2);
            }
            if (i == pl->key_arg)
                key_slot = (unsigned)slot;
            a += 2 + n;
            continue;
        }
        case OP_F64:
            v = get_u64le(a);
            a += 8;
            p = enc_float(p, arg_ctx(pl, s->ctx, s->keyed, i, key_slot, e->batch_gen), v, SHMLOG_ARG_F64);
            continue;
        case OP_F32:
            v = get_u32le(a);
            a += 4;
            p = enc_float(p, arg_ctx(pl, s->ctx, s->keyed, i, key_slot, e->batch_gen), v, SHMLOG_ARG_F32);
            continue;
        INT_ARG_CASES(v, op, a)
        }
        a += op; /* the integer's width */
        struct num_ctx *c = arg_ctx(pl, s->ctx, s->keyed, i, key_slot, e->batch_gen);
        p = put_varint(p, zigzag((int64_t)(v - c->prev)));
        c->prev = v;
    }
    return p;
}

/* The arguments of a site without strings (nstr 0: each context is the
 * site's) into the args column at p: enc_args without the string cases and
 * the key lookups, the common shape of a trading call. */
static inline uint8_t *enc_numeric_args(struct enc_site *s, const struct enc_payload *pay, uint8_t *p)
{
    const struct arg_plan *pl = &s->plan;
    const uint8_t *a = pay->p;
    struct num_ctx *c = s->ctx;
    for (unsigned i = 0; i < pl->nargs; i++, c++) {
        unsigned op = pl->op[i];
        uint64_t v;
        switch (op) {
        case OP_F64:
            p = enc_float(p, c, get_u64le(a), SHMLOG_ARG_F64);
            a += 8;
            continue;
        case OP_F32:
            p = enc_float(p, c, get_u32le(a), SHMLOG_ARG_F32);
            a += 4;
            continue;
        INT_ARG_CASES(v, op, a)
        }
        a += op; /* the integer's width */
        p = put_varint(p, zigzag((int64_t)(v - c->prev)));
        c->prev = v;
    }
    return p;
}

/* What one record can add to the args column: an argument costs at most a
 * varint and a tag byte more than its payload bytes (a raw double), so the
 * payload's size bounds the record's. */
#define ARGS_RECORD_MAX (SHMLOG_MAX_ARGS * (VARINT_MAX + 1) + SHMLOG_MAX_PAYLOAD + VARINT_MAX)

/* The open batch's column ends and running values, held in locals while
 * records are encoded: a store through a byte pointer may alias any field of
 * e, so the compiler would reload them after every byte. */
struct enc_cursor {
    /* one name per column, not an array: vectorized in and out of an array
     * they cost a failed store-to-load forward per record */
    uint8_t *gap, *nslots, *tsc, *site, *tid, *attr, *args;
    uint64_t expected_pos, prev_tsc;
    uint32_t prev_tid;
    /* the last record's site: runs of one site skip the lookup */
    uint32_t site_id;
    struct enc_site *known;
};

/* Room in every column for n more records and the cursor at their ends. The
 * room is reserved for many records at once: one check per call instead of
 * one per column per record. */
static int enc_cursor_open(struct shlog_enc *e, struct enc_cursor *k, unsigned n)
{
    if (e->col_room < n) {
        unsigned room = n + COL_ROOM_RECORDS;
        for (int i = 0; i < NCOLS; i++)
            if (buf_reserve(&e->col[i], (size_t)room * (i == COL_ARGS ? ARGS_RECORD_MAX : VARINT_MAX)))
                return -ENOMEM;
        e->col_room = room;
    }
    e->col_room -= n;
    struct buf *c = e->col;
    k->gap = c[COL_GAP].p + c[COL_GAP].len;
    k->nslots = c[COL_NSLOTS].p + c[COL_NSLOTS].len;
    k->tsc = c[COL_TSC].p + c[COL_TSC].len;
    k->site = c[COL_SITE].p + c[COL_SITE].len;
    k->tid = c[COL_TID].p + c[COL_TID].len;
    k->attr = c[COL_ATTR].p + c[COL_ATTR].len;
    k->args = c[COL_ARGS].p + c[COL_ARGS].len;
    k->expected_pos = e->expected_pos;
    k->prev_tsc = e->prev_tsc;
    k->prev_tid = e->prev_tid;
    k->site_id = UINT32_MAX;
    k->known = NULL;
    return 0;
}

static void enc_cursor_close(struct shlog_enc *e, const struct enc_cursor *k, unsigned records)
{
    struct buf *c = e->col;
    c[COL_GAP].len = (size_t)(k->gap - c[COL_GAP].p);
    c[COL_NSLOTS].len = (size_t)(k->nslots - c[COL_NSLOTS].p);
    c[COL_TSC].len = (size_t)(k->tsc - c[COL_TSC].p);
    c[COL_SITE].len = (size_t)(k->site - c[COL_SITE].p);
    c[COL_TID].len = (size_t)(k->tid - c[COL_TID].p);
    c[COL_ATTR].len = (size_t)(k->attr - c[COL_ATTR].p);
    c[COL_ARGS].len = (size_t)(k->args - c[COL_ARGS].p);
    e->expected_pos = k->expected_pos;
    e->prev_tsc = k->prev_tsc;
    e->prev_tid = k->prev_tid;
    e->batch_count += records;
}

/* A record's header fields, whichever copy they come from. */
struct enc_head {
    uint64_t pos, tsc;
    uint32_t site, tid;
    unsigned level, category, flags, nslots;
};

/* How the records of a site code their arguments, worked out when the site
 * changes, not per record. */
enum enc_mode {
    MODE_RAW,     /* no site, a site we cannot code, or a payload short of its arguments */
    MODE_NUMERIC, /* no strings: enc_numeric_args */
    MODE_GENERAL, /* strings: measured per record, then enc_args or raw */
};

static inline enum enc_mode enc_site_mode(const struct enc_site *s, size_t payload_len)
{
    if (!s || s->plan.raw_only)
        return MODE_RAW;
    if (s->plan.nstr == 0)
        return s->plan.fixed_after <= payload_len ? MODE_NUMERIC : MODE_RAW;
    return MODE_GENERAL;
}

/* The attributes column's value; values past 7 are not levels or categories. */
static inline unsigned enc_attr(unsigned level, unsigned category, unsigned flags, unsigned raw)
{
    return (level < 7 ? level : 7) | (category < 7 ? category : 7) << 3 | (raw ? ATTR_RAW : 0) | flags << 7;
}

/* Whether a record of a site in mode goes raw, with *used the payload bytes
 * its arguments take. */
static inline unsigned enc_raw(const struct enc_site *s, enum enc_mode mode, const struct enc_payload *pay, size_t *used)
{
    if (mode == MODE_NUMERIC) {
        *used = s->plan.fixed_after;
        return 0;
    }
    if (mode == MODE_GENERAL && enc_args_measure(&s->plan, pay, used) == 0)
        return 0;
    *used = pay->len;
    return 1;
}

/* A record's arguments into the args column at p, as enc_raw decided. */
static inline uint8_t *enc_put_args(struct shlog_enc *e, struct enc_site *s, enum enc_mode mode, unsigned raw,
                                    const struct enc_payload *pay, size_t used, uint8_t *p)
{
    if (raw) {
        p = put_varint(p, used);
        memcpy(p, pay->p, used);
        return p + used;
    }
    if (mode == MODE_NUMERIC)
        return enc_numeric_args(s, pay, p);
    return enc_args(e, s, pay, p);
}

/* A record's timestamp, site and thread into their columns at k, each told
 * against the record before it. */
static inline void enc_put_who_when(struct enc_cursor *k, uint64_t tsc, uint32_t site, uint32_t tid)
{
    k->tsc = put_varint(k->tsc, zigzag((int64_t)(tsc - k->prev_tsc)));
    k->site = put_varint(k->site, site);
    k->tid = put_varint(k->tid, zigzag((int32_t)(tid - k->prev_tid)));
    k->prev_tsc = tsc;
    k->prev_tid = tid;
}

/* One record into the columns at k, which have room for it. */
static inline void enc_put(struct shlog_enc *e, struct enc_cursor *k, const struct enc_head *h,
                           const struct enc_payload *pay)
{
    k->gap = put_varint(k->gap, h->pos - k->expected_pos);
    k->expected_pos = h->pos + h->nslots;
    enc_put_who_when(k, h->tsc, h->site, h->tid);

    if (h->site != k->site_id || !k->known) {
        k->known = enc_lookup_site(e, h->site);
        k->site_id = h->site;
    }
    struct enc_site *s = k->known;
    if (s)
        site_ctx_claim(&s->plan, s->ctx, &s->ctx_gen, e->batch_gen);
    enum enc_mode mode = enc_site_mode(s, pay->len);
    size_t used;
    unsigned raw = enc_raw(s, mode, pay, &used);
    k->attr = put_varint(k->attr, enc_attr(h->level, h->category, h->flags, raw));
    k->args = enc_put_args(e, s, mode, raw, pay, used, k->args);
    /* The slots follow from the bytes the arguments take, but for records
     * that reserved more: stored as the difference. */
    *k->nslots++ = (uint8_t)(h->nslots - shmlog_slots_for_payload(used));
}

/* The batch's first record sets what the others are told against. */
static void enc_batch_first(struct shlog_enc *e, uint64_t pos, uint64_t tsc)
{
    e->first_pos = e->expected_pos = pos;
    e->base_tsc = e->prev_tsc = tsc;
    e->prev_tid = 0;
}

int shlog_enc_record(struct shlog_enc *e, const struct shmlog_rec *r)
{
    if (!e->batch_open)
        return -EINVAL;
    if (e->batch_count >= SHLOG_MAX_BATCH_RECORDS)
        return -ENOSPC;
    if (e->batch_count == 0)
        enc_batch_first(e, r->pos, r->tsc);
    struct enc_cursor k;
    if (enc_cursor_open(e, &k, 1))
        return -ENOMEM;
    struct enc_head h = {r->pos, r->tsc, r->site, r->tid, r->level, r->category, r->flags, r->nslots};
    struct enc_payload pay = {r->payload, r->payload_len < SHMLOG_MAX_PAYLOAD ? r->payload_len : SHMLOG_MAX_PAYLOAD,
                              r->payload + sizeof(r->payload)};
    enc_put(e, &k, &h, &pay);
    enc_cursor_close(e, &k, 1);
    return 0;
}

_Static_assert(offsetof(struct shmlog_record, flags) == offsetof(struct shmlog_record, nslots) + 3,
               "enc_one_slot_run loads nslots, level, category and flags as one word");

/* A run of n one-slot records from ring position pos, with room in the
 * batch: what enc_put writes, with what stays the same along a run worked
 * out once. Positions follow one another, so every gap but the first is 0;
 * the arguments of a one-slot record fit its slot, so its nslots entry is 0;
 * the site's mode and the attributes are redone only when they change,
 * which makes a record cheaper than enc_put per record (the overload of
 * bench/compare.sh shows what the collector gets through). flatten:
 * enc_args inlined into the loop keeps the cursor in registers. */
__attribute__((flatten, noinline)) static int enc_one_slot_run(struct shlog_enc *e, const struct shmlog_record *slots,
                                                     size_t n, uint64_t pos)
{
    for (size_t done = 0; done < n;) {
        /* in parts, so the room reserved stays that of a few records */
        unsigned part = n - done < COL_ROOM_RECORDS ? (unsigned)(n - done) : COL_ROOM_RECORDS;
        struct enc_cursor k;
        if (enc_cursor_open(e, &k, part))
            return -ENOMEM;
        k.gap = put_varint(k.gap, pos + done - k.expected_pos);
        memset(k.gap, 0, part - 1);
        k.gap += part - 1;
        memset(k.nslots, 0, part);
        k.nslots += part;
        k.expected_pos = pos + done + part;
        uint32_t site_id = 0, attr_of = 0;
        struct enc_site *s = NULL;
        enum enc_mode mode = MODE_RAW;
        unsigned attr = 0;
        for (unsigned i = 0; i < part; i++) {
            const struct shmlog_record *r = &slots[done + i];
            enc_put_who_when(&k, r->tsc, r->site, r->tid);
            /* nslots (1 here), level, category and flags in one load; 0 is
             * never the word, so it stands for "not worked out" */
            uint32_t head;
            memcpy(&head, &r->nslots, sizeof head);
            if (!s || r->site != site_id) {
                s = enc_lookup_site(e, r->site);
                site_id = r->site;
                if (s)
                    site_ctx_claim(&s->plan, s->ctx, &s->ctx_gen, e->batch_gen);
                mode = enc_site_mode(s, SHMLOG_HEAD_PAYLOAD);
                attr_of = 0; /* not needed; without it gcc 12 spills more registers in this loop */
            }
            struct enc_payload pay = {r->payload, SHMLOG_HEAD_PAYLOAD, r->payload + SHMLOG_HEAD_PAYLOAD};
            size_t used;
            unsigned raw = enc_raw(s, mode, &pay, &used);
            if (head != attr_of) {
                attr = enc_attr(r->level, r->category, r->flags, 0);
                attr_of = head;
            }
            k.attr = put_varint(k.attr, attr | (raw ? ATTR_RAW : 0));
            k.args = enc_put_args(e, s, mode, raw, &pay, used, k.args);
        }
        enc_cursor_close(e, &k, part);
        done += part;
    }
    return 0;
}

/* A run of records of several slots each, in n slots from ring position pos
 * (their counts checked by the caller), with room in the batch for them:
 * each payload gathered from its slots, then coded. Apart from the one-slot
 * loop, whose registers the gathering would take. */
__attribute__((flatten, noinline)) static int enc_multi_slot_run(struct shlog_enc *e,
                                                                 const struct shmlog_record *slots, size_t n,
                                                                 uint64_t pos)
{
    for (size_t done = 0; done < n;) {
        unsigned part = n - done < COL_ROOM_RECORDS ? (unsigned)(n - done) : COL_ROOM_RECORDS;
        struct enc_cursor k;
        if (enc_cursor_open(e, &k, part))
            return -ENOMEM;
        unsigned records = 0;
        for (; records < part && done < n; records++) {
            const struct shmlog_record *r = &slots[done];
            unsigned nslots = r->nslots;
            uint8_t whole[SHMLOG_MAX_PAYLOAD];
            size_t len = shmlog_record_payload(whole, r, nslots);
            struct enc_head h = {pos + done, r->tsc, r->site, r->tid, r->level, r->category, r->flags, nslots};
            struct enc_payload pay = {whole, len, whole + sizeof(whole)};
            enc_put(e, &k, &h, &pay);
            done += nslots;
        }
        enc_cursor_close(e, &k, records);
    }
    return 0;
}

long shlog_enc_slots(struct shlog_enc *e, const struct shmlog_record *slots, size_t n, uint64_t pos)
{
    if (!e->batch_open)
        return -EINVAL;
    if (!n)
        return 0;
    if (e->batch_count >= SHLOG_MAX_BATCH_RECORDS)
        return -ENOSPC;
    if (e->batch_count == 0)
        enc_batch_first(e, pos, slots[0].tsc);
    size_t done = 0;
    while (done < n && e->batch_count < SHLOG_MAX_BATCH_RECORDS) {
        unsigned k = slots[done].nslots;
        int rc = -EINVAL; /* slot counts that do not tile: not what shmlog_ring_take copies */
        size_t room = SHLOG_MAX_BATCH_RECORDS - e->batch_count, run = 1, span = k;
        if (k == 1) {
            while (done + run < n && run < room && slots[done + run].nslots == 1)
                run++;
            rc = enc_one_slot_run(e, slots + done, run, pos + done);
            span = run;
        } else if (k > 1 && k <= SHMLOG_MAX_SLOTS && k <= n - done) {
            for (unsigned m; done + span < n && run < room; span += m, run++) {
                m = slots[done + span].nslots;
                if (m < 2 || m > SHMLOG_MAX_SLOTS || m > n - done - span)
                    break; /* one slot: the other loop's; a bad count: -EINVAL when it comes first */
            }
            rc = enc_multi_slot_run(e, slots + done, span, pos + done);
        }
        if (rc)
            return done ? (long)done : rc;
        done += span;
    }
    return (long)done;
}

int shlog_enc_batch_end(struct shlog_enc *e)
{
    if (!e->batch_open)
        return -EINVAL;
    e->batch_open = 0;
    if (!e->batch_count)
        return 0;
    uint8_t hdr[5 * VARINT_MAX];
    uint8_t *h = hdr;
    h = put_varint(h, e->batch_proc);
    h = put_varint(h, e->batch_cpu);
    h = put_varint(h, e->first_pos);
    h = put_varint(h, e->batch_count);
    h = put_varint(h, e->base_tsc);
    size_t body = (size_t)(h - hdr);
    for (int i = 0; i < NCOLS; i++)
        body += varint_len(e->col[i].len) + e->col[i].len;
    int rc = buf_reserve(&e->raw, 1 + VARINT_MAX + body);
    if (rc)
        return rc;
    uint8_t *p = e->raw.p + e->raw.len;
    *p++ = SHLOG_SEC_BATCH;
    p = put_varint(p, body);
    memcpy(p, hdr, (size_t)(h - hdr));
    p += h - hdr;
    for (int i = 0; i < NCOLS; i++) {
        p = put_varint(p, e->col[i].len);
        memcpy(p, e->col[i].p, e->col[i].len);
        p += e->col[i].len;
        e->col[i].len = 0;
    }
    e->raw.len = (size_t)(p - e->raw.p);
    e->frame_records += e->batch_count;
    e->batch_count = 0;
    return 0;
}

size_t shlog_enc_raw_bytes(const struct shlog_enc *e)
{
    size_t n = e->raw.len;
    if (e->batch_open)
        for (int i = 0; i < NCOLS; i++)
            n += e->col[i].len + VARINT_MAX;
    return n;
}

uint64_t shlog_enc_frame_records(const struct shlog_enc *e)
{
    return e->frame_records + (e->batch_open ? e->batch_count : 0);
}

size_t shlog_enc_frame_bound(const struct shlog_enc *e)
{
    return SHLOG_FRAME_PREFIX_BYTES + ZSTD_compressBound(e->raw.len);
}

long shlog_enc_frame(struct shlog_enc *e, void *dst, size_t cap)
{
    if (e->batch_open)
        return -EBUSY;
    if (!e->raw.len)
        return 0;
    long rc;
    if (e->raw.len > SHLOG_MAX_FRAME_RAW) {
        rc = -E2BIG;
        goto out;
    }
    if (cap < shlog_enc_frame_bound(e))
        return -ENOSPC;
    uint8_t *d = dst;
    size_t z = ZSTD_compress2(e->cctx, d + SHLOG_FRAME_PREFIX_BYTES, cap - SHLOG_FRAME_PREFIX_BYTES,
                              e->raw.p, e->raw.len);
    if (ZSTD_isError(z)) {
        ZSTD_CCtx_reset(e->cctx, ZSTD_reset_session_only);
        rc = -EIO;
        goto out;
    }
    put_u32le(d, SHLOG_FRAME_MAGIC);
    put_u32le(d + 4, (uint32_t)z);
    put_u32le(d + 8, (uint32_t)e->raw.len);
    put_u32le(d + 12, fnv1a32(d, 12));
    rc = (long)(SHLOG_FRAME_PREFIX_BYTES + z);
out:
    e->raw.len = 0;
    e->frame_records = 0;
    return rc;
}

/* ==== Dedup: which ring positions a reader already returned ==== */

struct span {
    uint64_t lo, hi; /* [lo, hi) */
};

struct dedup_ring {
    struct span *spans; /* sorted, disjoint, not touching */
    size_t n, cap;
    uint64_t dropped_total; /* highest DROPPED counter seen */
};

struct shlog_dedup {
    /* A process is (pid, start time, uid): a uid that claims another's pid
     * and start time is another process, whose positions never hide the
     * real one's records. */
    struct map procs; /* (pid << 32 | uid, proc_start) -> process number */
    uint32_t nprocs;
    struct map keys;  /* (process number << 32 | cpu, 0) -> index into rings */
    struct dedup_ring *rings;
    size_t n, cap;
};

int shlog_dedup_new(struct shlog_dedup **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

void shlog_dedup_free(struct shlog_dedup *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->rings[i].spans);
    free(d->rings);
    map_free(&d->keys);
    map_free(&d->procs);
    free(d);
}

/* The state of one ring; NULL when out of memory or past the bound (then no
 * duplicates are removed for it). */
static struct dedup_ring *dedup_ring_get(struct shlog_dedup *d, const struct shmlog_proc_info *p, uint32_t cpu)
{
    uint64_t who = (uint64_t)p->pid << 32 | p->uid;
    uint32_t *proc = map_find(&d->procs, who, p->proc_start);
    if (!proc) {
        if (d->nprocs >= MAX_DEDUP_RINGS || map_insert(&d->procs, who, p->proc_start, d->nprocs))
            return NULL;
        proc = map_find(&d->procs, who, p->proc_start);
        d->nprocs++;
    }
    uint64_t k1 = (uint64_t)*proc << 32 | cpu;
    uint32_t *idx = map_find(&d->keys, k1, 0);
    if (idx)
        return &d->rings[*idx];
    if (d->n >= MAX_DEDUP_RINGS || grow_array(&d->rings, &d->cap, d->n, sizeof(*d->rings)) ||
        map_insert(&d->keys, k1, 0, (uint32_t)d->n))
        return NULL;
    memset(&d->rings[d->n], 0, sizeof(d->rings[0]));
    return &d->rings[d->n++];
}

static int dedup_claim_slow(struct dedup_ring *r, uint64_t lo, uint64_t hi);

/* Records [lo, hi) as seen. Returns 1 if lo was new, 0 if it was seen before. */
static inline int dedup_claim(struct dedup_ring *r, uint64_t lo, uint64_t hi)
{
    if (!r)
        return 1;
    if (hi <= lo)
        hi = lo + 1;
    /* The common case, inline: the next positions of the ring, in order. */
    if (r->n && lo == r->spans[r->n - 1].hi) {
        r->spans[r->n - 1].hi = hi;
        return 1;
    }
    return dedup_claim_slow(r, lo, hi);
}

static int dedup_claim_slow(struct dedup_ring *r, uint64_t lo, uint64_t hi)
{
    size_t n = r->n;
    /* i: the first span with spans[i].lo > lo */
    size_t a = 0, b = n;
    while (a < b) {
        size_t m = (a + b) / 2;
        if (r->spans[m].lo <= lo)
            a = m + 1;
        else
            b = m;
    }
    size_t i = a;
    if (i > 0 && lo < r->spans[i - 1].hi)
        return 0;
    if (i > 0 && lo == r->spans[i - 1].hi) {
        r->spans[i - 1].hi = hi;
        i--;
    } else {
        if (n == r->cap) {
            if (n >= MAX_DEDUP_SPANS) {
                /* Bound reached: forget the lowest gap (treat it as seen). */
                r->spans[1].lo = r->spans[0].lo;
                memmove(r->spans, r->spans + 1, (n - 1) * sizeof(*r->spans));
                r->n = --n;
                if (i > 0)
                    i--;
            } else if (grow_array(&r->spans, &r->cap, n, sizeof(*r->spans))) {
                return 1;
            }
        }
        memmove(r->spans + i + 1, r->spans + i, (n - i) * sizeof(*r->spans));
        r->spans[i] = (struct span){lo, hi};
        r->n = ++n;
    }
    /* Merge the spans the new one reaches. */
    while (i + 1 < r->n && r->spans[i].hi >= r->spans[i + 1].lo) {
        if (r->spans[i + 1].hi > r->spans[i].hi)
            r->spans[i].hi = r->spans[i + 1].hi;
        memmove(r->spans + i + 1, r->spans + i + 2, (r->n - i - 2) * sizeof(*r->spans));
        r->n--;
    }
    return 1;
}

/* ==== Decoder ==== */

/* One allocation: the site, then fmt NUL file NUL. */
struct dec_site {
    struct shlog_site pub;
    struct arg_plan plan;
    struct num_ctx ctx[SHMLOG_MAX_ARGS]; /* arguments before the key argument */
    uint32_t ctx_gen;                    /* the batch ctx is of */
    struct num_ctx *keyed;               /* its table block (site_tables_init), or NULL */
    struct str_table *str;
};

struct batch_state {
    int open;
    const struct shlog_proc *proc;
    uint32_t cpu, count, done;
    struct cur col[NCOLS];
    uint64_t expected, prev_tsc;
    uint32_t prev_tid;
    struct dedup_ring *dd;
    struct dec_site *cached;
};

/* What a frame is decoded in. Every reader has its own; readers that take
 * turns may share one. */
struct shlog_frame_mem {
    ZSTD_DCtx *dctx;
    struct buf zbuf, raw;
    struct shlog_reader *user; /* shared: the reader whose frame it holds, or NULL */
};

struct shlog_reader {
    int fd, own_fd, follow;
    char name[256];
    struct shlog_file_header hdr;
    uint64_t off;       /* next frame starts here */
    uint64_t frame_off; /* the frame being returned */
    struct shlog_frame_mem own;
    struct shlog_frame_mem *shared; /* shlog_reader_share_frame_mem, or NULL */
    struct shlog_frame_mem *fm;     /* what the last frame was decoded in: own or shared */
    struct cur sec; /* sections left in the frame */
    struct cur clock_scan;  /* sections not yet looked at for anchors */
    struct cur clock_body;  /* anchors left of the CLOCK section being returned */
    uint64_t clock_left;
    struct shlog_clock_info clock;
    struct batch_state b;
    struct shmlog_rec rec;
    struct map procs; /* (key, 0) -> index into proc_v */
    struct shlog_proc **proc_v;
    size_t nprocs, procs_cap;
    struct map sites; /* (proc, id) -> index into site_v */
    struct dec_site **site_v;
    size_t nsites, sites_cap, site_bytes, table_units;
    struct dec_site **retired; /* sites redefined: callers may still hold them */
    size_t nretired, retired_cap;
    uint32_t batch_gen;
    struct shmlog_site_info *info_cache[INFO_CACHE_SLOTS];
    size_t ninfo; /* of info_cache's slots, those allocated */
    const struct dec_site *info_of[INFO_CACHE_SLOTS]; /* which site each slot holds */
    int torn_reported;
    int frame_open;     /* a frame was loaded and its SHLOG_EV_FRAME_END is still due */
    int frame_ends;     /* shlog_reader_report_frame_ends */
    struct shlog_dedup *dedup;
    int own_dedup;
    struct shlog_reader_stats st;
};

/* The zstd context, made at the first frame (again after shlog_reader_trim). */
static ZSTD_DCtx *frame_mem_dctx(struct shlog_frame_mem *m)
{
    if (!m->dctx) {
        m->dctx = ZSTD_createDCtx();
        if (m->dctx && ZSTD_isError(ZSTD_DCtx_setParameter(m->dctx, ZSTD_d_windowLogMax, 27))) {
            ZSTD_freeDCtx(m->dctx);
            m->dctx = NULL;
        }
    }
    return m->dctx;
}

static size_t frame_mem_bytes(const struct shlog_frame_mem *m)
{
    return m->raw.cap + m->zbuf.cap + (m->dctx ? ZSTD_sizeof_DCtx(m->dctx) : 0);
}

static void frame_mem_release(struct shlog_frame_mem *m)
{
    ZSTD_freeDCtx(m->dctx);
    m->dctx = NULL;
    buf_free(&m->zbuf);
    buf_free(&m->raw);
}

int shlog_frame_mem_new(struct shlog_frame_mem **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

void shlog_frame_mem_free(struct shlog_frame_mem *m)
{
    if (!m)
        return;
    frame_mem_release(m);
    free(m);
}

/* Whether r still reads its frame: its sections or batch columns point into it. */
static int reader_mid_frame(const struct shlog_reader *r)
{
    return r->b.open || r->sec.p != r->sec.end;
}

/* The memory r decodes its next frame in: the shared one, unless another
 * reader is mid-frame in it. r is between frames. */
static struct shlog_frame_mem *frame_mem_take(struct shlog_reader *r)
{
    struct shlog_frame_mem *m = r->shared;
    if (!m)
        return &r->own;
    struct shlog_reader *u = m->user;
    if (u && u != r) {
        if (reader_mid_frame(u))
            return &r->own;
        u->sec = (struct cur){NULL, NULL, 0}; /* none of u's cursors points into m now */
    }
    m->user = r;
    return m;
}

static int reader_init(struct shlog_reader *r, int fd, const char *name, int follow, struct shlog_dedup *dedup,
                       char *err, size_t errcap)
{
    r->fd = fd;
    r->follow = follow;
    snprintf(r->name, sizeof(r->name), "%s", name);
    if (dedup) {
        r->dedup = dedup;
    } else {
        if (shlog_dedup_new(&r->dedup)) {
            snprintf(err, errcap, "%s: out of memory", name);
            return -ENOMEM;
        }
        r->own_dedup = 1;
    }
    uint8_t h[SHLOG_FILE_HEADER_BYTES];
    ssize_t n = pread(fd, h, sizeof(h), 0);
    if (n < 0) {
        int e = errno;
        snprintf(err, errcap, "%s: %s", name, strerror(e));
        return -e;
    }
    const char *why = shlog_file_header_decode(h, (size_t)n, &r->hdr);
    if (why) {
        snprintf(err, errcap, "%s: %s", name, why);
        return -EINVAL;
    }
    r->off = SHLOG_FILE_HEADER_BYTES;
    return 0;
}

int shlog_reader_open_fd(struct shlog_reader **out, int fd, const char *name, int follow,
                         struct shlog_dedup *dedup, char *err, size_t errcap)
{
    struct shlog_reader *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errcap, "%s: out of memory", name);
        return -ENOMEM;
    }
    int rc = reader_init(r, fd, name, follow, dedup, err, errcap);
    if (rc) {
        shlog_reader_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

int shlog_reader_open(struct shlog_reader **out, const char *path, int follow, struct shlog_dedup *dedup,
                      char *err, size_t errcap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errcap, "%s: %s", path, strerror(e));
        return -e;
    }
    int rc = shlog_reader_open_fd(out, fd, path, follow, dedup, err, errcap);
    if (rc) {
        close(fd);
        return rc;
    }
    (*out)->own_fd = 1;
    return 0;
}

void shlog_reader_close(struct shlog_reader *r)
{
    if (!r)
        return;
    if (r->own_fd)
        close(r->fd);
    if (r->shared && r->shared->user == r)
        r->shared->user = NULL;
    frame_mem_release(&r->own);
    for (size_t i = 0; i < r->nprocs; i++)
        free(r->proc_v[i]);
    free(r->proc_v);
    for (size_t i = 0; i < r->nsites; i++) {
        free(r->site_v[i]->keyed);
        free(r->site_v[i]);
    }
    free(r->site_v);
    for (size_t i = 0; i < r->nretired; i++)
        free(r->retired[i]);
    free(r->retired);
    map_free(&r->procs);
    map_free(&r->sites);
    for (unsigned i = 0; i < INFO_CACHE_SLOTS; i++)
        free(r->info_cache[i]);
    if (r->own_dedup)
        shlog_dedup_free(r->dedup);
    free(r);
}

const struct shlog_file_header *shlog_reader_header(const struct shlog_reader *r)
{
    return &r->hdr;
}

const struct shlog_reader_stats *shlog_reader_stats(const struct shlog_reader *r)
{
    return &r->st;
}

uint64_t shlog_reader_offset(const struct shlog_reader *r)
{
    return r->off;
}

void shlog_reader_report_frame_ends(struct shlog_reader *r, int on)
{
    r->frame_ends = on != 0;
}

int shlog_reader_share_frame_mem(struct shlog_reader *r, struct shlog_frame_mem *m)
{
    if (r->fm)
        return -EBUSY;
    r->shared = m;
    return 0;
}

/* What shlog_reader_trim frees. */
static size_t frame_memory(const struct shlog_reader *r)
{
    return frame_mem_bytes(&r->own) + r->ninfo * sizeof(struct shmlog_site_info);
}

size_t shlog_reader_trim(struct shlog_reader *r, size_t keep)
{
    size_t held = frame_memory(r);
    if (held <= keep || reader_mid_frame(r))
        return held;
    frame_mem_release(&r->own);
    r->sec = (struct cur){NULL, NULL, 0};
    for (unsigned i = 0; i < INFO_CACHE_SLOTS; i++) {
        free(r->info_cache[i]);
        r->info_cache[i] = NULL;
        r->info_of[i] = NULL;
    }
    r->ninfo = 0;
    return 0;
}

const struct shlog_proc *shlog_reader_process(const struct shlog_reader *r, uint32_t key)
{
    uint32_t *idx = map_find(&r->procs, key, 0);
    return idx ? r->proc_v[*idx] : NULL;
}

static struct dec_site *reader_find_site(const struct shlog_reader *r, uint32_t proc, uint32_t id)
{
    uint32_t *idx = map_find(&r->sites, proc, id);
    return idx ? r->site_v[*idx] : NULL;
}

const struct shlog_site *shlog_reader_site(const struct shlog_reader *r, uint32_t proc, uint32_t id)
{
    struct dec_site *s = reader_find_site(r, proc, id);
    return s ? &s->pub : NULL;
}

/* The site in reader.h's form, converted once and cached (bounded: a hostile
 * file with a million sites costs conversions, not memory). */
static const struct shmlog_site_info *site_info_of(struct shlog_reader *r, const struct dec_site *s)
{
    unsigned slot = (unsigned)((s->pub.proc * 2654435761u) ^ s->pub.id) % INFO_CACHE_SLOTS;
    if (r->info_of[slot] == s)
        return r->info_cache[slot];
    struct shmlog_site_info *info = r->info_cache[slot];
    if (!info) {
        if (!(info = r->info_cache[slot] = malloc(sizeof(*info))))
            return NULL;
        r->ninfo++;
    }
    memset(info, 0, offsetof(struct shmlog_site_info, fmt));
    info->id = s->pub.id;
    info->line = s->pub.line;
    info->level = s->pub.level;
    info->category = s->pub.category;
    info->nargs = s->pub.nargs;
    memcpy(info->arg_types, s->pub.arg_types, s->pub.nargs);
    info->fmt_len = s->pub.fmt_len;
    info->file_len = s->pub.file_len;
    memcpy(info->fmt, s->pub.fmt, s->pub.fmt_len + 1);
    memcpy(info->file, s->pub.file, s->pub.file_len + 1);
    r->info_of[slot] = s;
    return info;
}

static void ev_begin(struct shlog_reader *r, struct shlog_event *ev, int kind)
{
    ev->kind = kind;
    ev->offset = r->frame_off;
    ev->proc = NULL;
    ev->cpu = 0;
    ev->site = NULL;
    ev->site_info = NULL;
    ev->rec = NULL;
    ev->torn = 0;
    ev->error[0] = '\0';
}

__attribute__((format(printf, 4, 5)))
static int ev_error(struct shlog_reader *r, struct shlog_event *ev, uint64_t offset, const char *fmt, ...)
{
    ev_begin(r, ev, SHLOG_EV_ERROR);
    ev->offset = offset;
    int n = snprintf(ev->error, sizeof(ev->error), "%s: offset %llu: ", r->name, (unsigned long long)offset);
    if (n < 0 || (size_t)n >= sizeof(ev->error))
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev->error + n, sizeof(ev->error) - (size_t)n, fmt, ap);
    va_end(ap);
    memset(&ev->loss, 0, sizeof(ev->loss));
    ev->loss.reason = SHMLOG_LOSS_UNREADABLE;
    return 1;
}

/* Damage inside a frame: report it and drop the rest of the frame. */
__attribute__((format(printf, 3, 4)))
static int frame_damaged(struct shlog_reader *r, struct shlog_event *ev, const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    r->b.open = 0;
    r->sec.p = r->sec.end;
    r->st.bad_frames++;
    return ev_error(r, ev, r->frame_off, "frame damaged: %s; rest of the frame skipped", what);
}

/* pread that retries short reads; returns bytes read (short only at EOF). */
static ssize_t pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = pread(fd, (uint8_t *)buf + done, n - done, (off_t)(off + done));
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (k == 0)
            break;
        done += (size_t)k;
    }
    return (ssize_t)done;
}

/* A prefix as a writer made it, whatever sizes it declares. */
static int prefix_intact(const uint8_t *p)
{
    return get_u32le(p) == SHLOG_FRAME_MAGIC && get_u32le(p + 12) == fnv1a32(p, 12);
}

static int prefix_valid(const uint8_t *p)
{
    return prefix_intact(p) && get_u32le(p + 4) != 0 &&
           get_u32le(p + 4) <= ZSTD_compressBound(SHLOG_MAX_FRAME_RAW) && get_u32le(p + 8) <= SHLOG_MAX_FRAME_RAW;
}

/* An intact prefix of a frame larger than any writer makes: refused unread. */
static int prefix_oversized(const uint8_t *p)
{
    return prefix_intact(p) && get_u32le(p + 8) > SHLOG_MAX_FRAME_RAW;
}

/* A frame read no further: counted, with why. Returns 2 (frame_load). */
__attribute__((format(printf, 4, 5)))
static int frame_unreadable(struct shlog_reader *r, struct shlog_event *ev, uint64_t at, const char *fmt, ...)
{
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    r->st.bad_frames++;
    r->st.lost_records[SHMLOG_LOSS_UNREADABLE]++;
    ev_error(r, ev, at, "frame unreadable: %s", why);
    return 2;
}

/* The offset of the next valid frame prefix after from, or the file's end.
 * An intact prefix over the limit stops it too: that frame is counted apart. */
static int64_t resync(struct shlog_reader *r, uint64_t from)
{
    uint8_t *chunk = malloc(RESYNC_CHUNK + SHLOG_FRAME_PREFIX_BYTES);
    if (!chunk)
        return -ENOMEM;
    uint64_t at = from;
    for (;;) {
        ssize_t n = pread_full(r->fd, chunk, RESYNC_CHUNK + SHLOG_FRAME_PREFIX_BYTES, at);
        if (n < 0) {
            int e = errno;
            free(chunk);
            return -e;
        }
        if ((size_t)n < SHLOG_FRAME_PREFIX_BYTES) {
            free(chunk);
            return (int64_t)(at + (uint64_t)n);
        }
        for (size_t i = 0; i + SHLOG_FRAME_PREFIX_BYTES <= (size_t)n; i++)
            if (chunk[i] == (SHLOG_FRAME_MAGIC & 0xff) && (prefix_valid(chunk + i) || prefix_oversized(chunk + i))) {
                free(chunk);
                return (int64_t)(at + i);
            }
        at += (uint64_t)n - SHLOG_FRAME_PREFIX_BYTES + 1;
    }
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* The file ends inside the frame at r->off. */
static int frame_torn(struct shlog_reader *r, struct shlog_event *ev, uint64_t have)
{
    if (r->follow || r->torn_reported)
        return 0;
    r->torn_reported = 1;
    r->st.torn = 1;
    uint64_t at = r->off;
    r->off += have;
    ev_error(r, ev, at, "file ends inside a frame (%llu bytes): torn write, the records in it are lost",
             (unsigned long long)have);
    ev->torn = 1;
    return 1;
}

/* Loads the next frame: 1 loaded, 2 *ev holds an error to return, 0 no more
 * data (for now), -errno on I/O errors. */
static int frame_load(struct shlog_reader *r, struct shlog_event *ev)
{
    uint8_t pre[SHLOG_FRAME_PREFIX_BYTES];
    ssize_t n = pread_full(r->fd, pre, sizeof(pre), r->off);
    if (n < 0)
        return -errno;
    if (n == 0)
        return 0;
    if ((size_t)n < sizeof(pre))
        return frame_torn(r, ev, (uint64_t)n) ? 2 : 0;
    if (prefix_oversized(pre)) {
        /* As a writer made it, but over the limit: decompressing it would
         * cost what no writer's frame costs. Its zbytes is not trusted
         * either: the next frame is looked for as after damage. */
        int64_t next = resync(r, r->off + 1);
        if (next < 0)
            return (int)next;
        uint64_t at = r->off;
        r->off = (uint64_t)next;
        return frame_unreadable(r, ev, at, "it expands to %u bytes, over the %u no writer exceeds; skipped unread "
                                "(%llu bytes to the next frame)", get_u32le(pre + 8), SHLOG_MAX_FRAME_RAW,
                                (unsigned long long)((uint64_t)next - at));
    }
    if (!prefix_valid(pre)) {
        if (r->follow && all_zero(pre, sizeof(pre)))
            return 0; /* a write still in flight leaves a hole of zeros */
        int64_t next = resync(r, r->off + 1);
        if (next < 0)
            return (int)next;
        uint64_t at = r->off;
        r->off = (uint64_t)next;
        r->st.bad_frames++;
        r->st.lost_records[SHMLOG_LOSS_UNREADABLE]++;
        ev_error(r, ev, at, "bad frame prefix; skipped %llu bytes to the next frame",
                 (unsigned long long)((uint64_t)next - at));
        return 2;
    }
    uint32_t zbytes = get_u32le(pre + 4), raw_bytes = get_u32le(pre + 8);
    struct shlog_frame_mem *m = r->fm = frame_mem_take(r);
    if (buf_reserve(&m->zbuf, zbytes))
        return -ENOMEM;
    n = pread_full(r->fd, m->zbuf.p, zbytes, r->off + SHLOG_FRAME_PREFIX_BYTES);
    if (n < 0)
        return -errno;
    if ((size_t)n < zbytes)
        return frame_torn(r, ev, SHLOG_FRAME_PREFIX_BYTES + (uint64_t)n) ? 2 : 0;

    uint64_t at = r->off;
    r->frame_off = at;
    r->off += SHLOG_FRAME_PREFIX_BYTES + zbytes;
    const char *why = NULL;
    /* The zstd frame header says what it expands to: checked before the
     * buffer is made or a byte decompressed. */
    unsigned long long content = ZSTD_getFrameContentSize(m->zbuf.p, zbytes);
    size_t fsize = ZSTD_findFrameCompressedSize(m->zbuf.p, zbytes);
    if (content != raw_bytes && content < ZSTD_CONTENTSIZE_ERROR && content > SHLOG_MAX_FRAME_RAW)
        return frame_unreadable(r, ev, at, "its zstd frame expands to %llu bytes, over the %u no writer exceeds; "
                                "skipped unread", content, SHLOG_MAX_FRAME_RAW);
    if (content != raw_bytes)
        why = "zstd frame content size does not match the prefix";
    else if (ZSTD_isError(fsize) || fsize != zbytes)
        why = "zstd frame size does not match the prefix";
    /* The buffer holds one frame: reserved from its start (a length kept
     * from the last frame would double it). */
    if (!why && (buf_reserve(&m->raw, raw_bytes ? raw_bytes : 1) || !frame_mem_dctx(m)))
        return -ENOMEM;
    if (!why) {
        ZSTD_DCtx_reset(m->dctx, ZSTD_reset_session_only);
        ZSTD_inBuffer in = {m->zbuf.p, zbytes, 0};
        ZSTD_outBuffer out = {m->raw.p, raw_bytes, 0};
        for (;;) {
            size_t rc = ZSTD_decompressStream(m->dctx, &out, &in);
            if (ZSTD_isError(rc)) {
                why = ZSTD_getErrorName(rc);
                break;
            }
            if (rc == 0)
                break;
            if (out.pos == out.size || in.pos == in.size) {
                why = "zstd frame does not end where its sizes say";
                break;
            }
        }
        if (!why && (out.pos != raw_bytes || in.pos != zbytes))
            why = "zstd frame does not end where its sizes say";
    }
    if (why)
        return frame_unreadable(r, ev, at, "%s", why);
    r->frame_open = 1;
    r->sec = (struct cur){m->raw.p, m->raw.p + raw_bytes, 0};
    r->clock_scan = r->sec;
    r->clock_left = 0;
    r->st.frames++;
    r->st.raw_bytes += raw_bytes;
    r->st.compressed_bytes += SHLOG_FRAME_PREFIX_BYTES + zbytes;
    return 1;
}

static struct shlog_proc *need_proc(struct shlog_reader *r, uint64_t key)
{
    uint32_t *idx = key <= UINT32_MAX ? map_find(&r->procs, key, 0) : NULL;
    return idx ? r->proc_v[*idx] : NULL;
}

static int sec_process(struct shlog_reader *r, struct cur *c, struct shlog_event *ev)
{
    struct shmlog_proc_info pi;
    memset(&pi, 0, sizeof(pi));
    uint64_t key = get_varint(c);
    uint64_t pid = get_varint(c), uid = get_varint(c);
    pi.proc_start = get_varint(c);
    pi.created_ns = get_varint(c);
    pi.tsc_hz = get_varint(c);
    pi.anchor_tsc = get_varint(c);
    pi.anchor_ns = get_varint(c);
    uint64_t app_len = get_varint(c);
    const uint8_t *app = app_len < SHMLOG_APP_BYTES ? get_bytes(c, app_len) : NULL;
    uint64_t host_len = get_varint(c);
    const uint8_t *host = host_len < SHMLOG_HOST_BYTES ? get_bytes(c, host_len) : NULL;
    if (c->bad || !app || !host || key > UINT32_MAX || pid > UINT32_MAX || uid > UINT32_MAX)
        return frame_damaged(r, ev, "bad PROCESS section");
    pi.pid = (uint32_t)pid;
    pi.uid = (uint32_t)uid;
    memcpy(pi.app, app, app_len);
    memcpy(pi.host, host, host_len);
    struct shlog_proc *p = need_proc(r, key);
    if (!p) {
        if (r->nprocs >= MAX_PROCS_PER_FILE)
            return frame_damaged(r, ev, "more than %u processes", MAX_PROCS_PER_FILE);
        p = calloc(1, sizeof(*p));
        if (!p || grow_array(&r->proc_v, &r->procs_cap, r->nprocs, sizeof(*r->proc_v)) ||
            map_insert(&r->procs, key, 0, (uint32_t)r->nprocs)) {
            free(p);
            return -ENOMEM;
        }
        r->proc_v[r->nprocs++] = p;
    }
    p->key = (uint32_t)key;
    p->info = pi;
    r->st.processes++;
    ev_begin(r, ev, SHLOG_EV_PROCESS);
    ev->proc = p;
    return 1;
}

static int sec_site(struct shlog_reader *r, struct cur *c, struct shlog_event *ev)
{
    uint64_t proc = get_varint(c), id = get_varint(c), line = get_varint(c);
    uint8_t level = get_u8(c), category = get_u8(c), nargs = get_u8(c);
    const uint8_t *types = nargs <= SHMLOG_MAX_ARGS ? get_bytes(c, nargs) : NULL;
    uint64_t fmt_len = get_varint(c);
    const uint8_t *fmt = fmt_len <= SHMLOG_MAX_FMT_BYTES ? get_bytes(c, fmt_len) : NULL;
    uint64_t file_len = get_varint(c);
    const uint8_t *file = file_len <= SHMLOG_MAX_FILE_BYTES ? get_bytes(c, file_len) : NULL;
    if (c->bad || !types || !fmt || !file || id > UINT32_MAX || line > UINT32_MAX)
        return frame_damaged(r, ev, "bad SITE section");
    for (unsigned i = 0; i < nargs; i++)
        if (!arg_type_valid(types[i]))
            return frame_damaged(r, ev, "SITE %llu has an unknown argument type %u",
                                 (unsigned long long)id, types[i]);
    const struct shlog_proc *p = need_proc(r, proc);
    if (!p)
        return frame_damaged(r, ev, "SITE of an undefined process %llu", (unsigned long long)proc);
    uint32_t *idx = map_find(&r->sites, proc, id);
    size_t bytes = sizeof(struct dec_site) + fmt_len + file_len + 2;
    if ((!idx && r->nsites >= MAX_SITES_PER_FILE) || r->site_bytes + bytes > MAX_SITE_STRING_BYTES)
        return frame_damaged(r, ev, "site table over its bound");
    struct arg_plan plan;
    plan_site(&plan, nargs, types); /* nargs <= SHMLOG_MAX_ARGS, types valid: checked above */
    size_t units = plan_tables_within(&plan, r->table_units);
    size_t tables = site_tables_bytes(&plan);
    struct dec_site *s = calloc(1, bytes);
    void *mem = tables ? malloc(tables) : NULL;
    if (!s || (tables && !mem)) {
        free(s);
        free(mem);
        return -ENOMEM;
    }
    if (idx) {
        /* The old definition stays allocated until close: shlog_site
         * pointers returned before stay valid, as shlog_file.h promises.
         * Its tables go: no record is decoded against it again. */
        if (grow_array(&r->retired, &r->retired_cap, r->nretired, sizeof(*r->retired))) {
            free(s);
            free(mem);
            return -ENOMEM;
        }
        struct dec_site *old = r->site_v[*idx];
        if (old->keyed)
            r->table_units -= site_table_units(&old->plan);
        free(old->keyed);
        old->keyed = NULL;
        old->str = NULL;
        r->retired[r->nretired++] = old;
        r->site_v[*idx] = s;
        r->site_bytes += bytes;
    } else {
        if (grow_array(&r->site_v, &r->sites_cap, r->nsites, sizeof(*r->site_v)) ||
            map_insert(&r->sites, proc, id, (uint32_t)r->nsites)) {
            free(s);
            free(mem);
            return -ENOMEM;
        }
        r->site_v[r->nsites++] = s;
        r->site_bytes += bytes;
    }
    r->table_units += units;
    s->plan = plan;
    site_tables_init(&plan, mem, r->batch_gen - 1, s->ctx, &s->ctx_gen, &s->keyed, &s->str);
    char *strings = (char *)(s + 1);
    s->pub.proc = (uint32_t)proc;
    s->pub.id = (uint32_t)id;
    s->pub.line = (uint32_t)line;
    s->pub.level = level;
    s->pub.category = category;
    s->pub.nargs = nargs;
    memcpy(s->pub.arg_types, types, nargs);
    s->pub.fmt_len = (uint32_t)fmt_len;
    s->pub.file_len = (uint32_t)file_len;
    memcpy(strings, fmt, fmt_len);
    memcpy(strings + fmt_len + 1, file, file_len);
    s->pub.fmt = strings;
    s->pub.file = strings + fmt_len + 1;
    r->b.cached = NULL;
    r->st.sites++;
    ev_begin(r, ev, SHLOG_EV_SITE);
    ev->proc = p;
    ev->site = &s->pub;
    ev->site_info = site_info_of(r, s);
    return 1;
}

/* Returns 1 with an event, 0 when the loss was seen before. */
static int sec_loss(struct shlog_reader *r, struct cur *c, struct shlog_event *ev)
{
    uint64_t proc = get_varint(c), cpu = get_varint(c);
    struct shmlog_loss l;
    l.first_pos = get_varint(c);
    l.positions = get_varint(c);
    l.records = get_varint(c);
    l.reason = get_u8(c);
    uint64_t total = get_varint(c);
    if (c->bad || cpu > UINT32_MAX || l.reason < SHMLOG_LOSS_DROPPED || l.reason > SHMLOG_LOSS_REASON_MAX ||
        l.reason == SHMLOG_LOSS_UNREADABLE)
        return frame_damaged(r, ev, "bad LOSS section");
    const struct shlog_proc *p = need_proc(r, proc);
    if (!p)
        return frame_damaged(r, ev, "LOSS of an undefined process %llu", (unsigned long long)proc);
    /* Counted by the producer: each counter has its own running total, the
     * process's (NO_RING, UNREGISTERED) under a key no cpu has. */
    int counted = l.reason == SHMLOG_LOSS_DROPPED || l.reason == SHMLOG_LOSS_NO_RING ||
                  l.reason == SHMLOG_LOSS_UNREGISTERED;
    uint32_t key = l.reason == SHMLOG_LOSS_DROPPED || !counted ? (uint32_t)cpu : UINT32_MAX - l.reason;
    struct dedup_ring *dd = dedup_ring_get(r->dedup, &p->info, key);
    if (counted) {
        if (dd) {
            l.records = total > dd->dropped_total ? total - dd->dropped_total : 0;
            if (total > dd->dropped_total)
                dd->dropped_total = total;
        }
        if (!l.records) {
            r->st.duplicates++;
            return 0;
        }
    } else if (l.positions && !dedup_claim(dd, l.first_pos, l.first_pos + l.positions)) {
        r->st.duplicates++;
        return 0;
    }
    r->st.lost_records[l.reason] += l.records;
    ev_begin(r, ev, SHLOG_EV_LOSS);
    ev->proc = p;
    ev->cpu = (uint32_t)cpu;
    ev->loss = l;
    ev->counter_total = total;
    return 1;
}

static int sec_exit(struct shlog_reader *r, struct cur *c, struct shlog_event *ev)
{
    uint64_t proc = get_varint(c);
    uint64_t exit_ns = get_varint(c), records = get_varint(c), lost = get_varint(c);
    /* Files before the field end the section here; a value from a later
     * version that this one does not know says nothing either. */
    uint64_t how = c->p < c->end ? get_varint(c) : SHLOG_EXIT_UNSAID;
    if (c->bad)
        return frame_damaged(r, ev, "bad EXIT section");
    const struct shlog_proc *p = need_proc(r, proc);
    if (!p)
        return frame_damaged(r, ev, "EXIT of an undefined process %llu", (unsigned long long)proc);
    r->st.exits++;
    ev_begin(r, ev, SHLOG_EV_EXIT);
    ev->proc = p;
    ev->exit_ns = exit_ns;
    ev->exit_records = records;
    ev->exit_lost = lost;
    ev->exit_how = how <= SHLOG_EXIT_DIED ? (enum shlog_exit_how)how : SHLOG_EXIT_UNSAID;
    return 1;
}

static int sec_batch(struct shlog_reader *r, struct cur *c, struct shlog_event *ev)
{
    struct batch_state *b = &r->b;
    uint64_t proc = get_varint(c), cpu = get_varint(c), first = get_varint(c), count = get_varint(c);
    uint64_t base_tsc = get_varint(c);
    for (int i = 0; i < NCOLS; i++) {
        uint64_t n = get_varint(c);
        const uint8_t *p = get_bytes(c, n);
        b->col[i] = (struct cur){p, p ? p + n : NULL, 0};
    }
    if (c->bad || cpu > UINT32_MAX || count == 0 || count > SHLOG_MAX_BATCH_RECORDS)
        return frame_damaged(r, ev, "bad BATCH section");
    const struct shlog_proc *p = need_proc(r, proc);
    if (!p)
        return frame_damaged(r, ev, "BATCH of an undefined process %llu", (unsigned long long)proc);
    b->open = 1;
    b->proc = p;
    b->cpu = (uint32_t)cpu;
    b->count = (uint32_t)count;
    b->done = 0;
    b->expected = first;
    b->prev_tsc = base_tsc;
    b->prev_tid = 0;
    b->cached = NULL;
    b->dd = dedup_ring_get(r->dedup, &p->info, (uint32_t)cpu);
    r->batch_gen++;
    return 0;
}

/* A double or float argument against its context: its bits, or 0 with
 * c->bad set when the token is not one the encoder writes. */
static inline uint64_t dec_float(struct cur *c, struct num_ctx *x, unsigned t)
{
    uint64_t h = get_varint(c), bits;
    if (!(h & 1)) {
        if (x->scale < 0) {
            c->bad = 1;
            return 0;
        }
        x->prev += (uint64_t)unzigzag(h >> 1);
        bits = decimal_bits((int64_t)x->prev, x->scale, t);
    } else if (h == 1) {
        uint64_t v = get_varint(c);
        if (t == SHMLOG_ARG_F32 && v > UINT32_MAX) {
            c->bad = 1;
            return 0;
        }
        bits = bswap_width(v, t) ^ x->bits;
        x->scale = -1;
    } else if ((h >> 1) - 1 <= DECIMAL_MAX_SCALE) {
        x->scale = (int32_t)((h >> 1) - 1);
        x->prev = (uint64_t)unzigzag(get_varint(c));
        bits = decimal_bits((int64_t)x->prev, x->scale, t);
    } else {
        c->bad = 1;
        return 0;
    }
    x->bits = bits;
    return bits;
}

/* Decodes the arguments of one record coded against site s into rec
 * (payload and payload_len). 0, or -1 when they are damaged. */
static int decode_args(struct shlog_reader *r, struct dec_site *s, struct cur *c, struct shmlog_rec *rec)
{
    const struct arg_plan *pl = &s->plan;
    if (pl->raw_only)
        return -1; /* its records are all raw (plan_tables_within) */
    site_ctx_claim(pl, s->ctx, &s->ctx_gen, r->batch_gen);
    uint8_t *out = rec->payload;
    const uint8_t *end = rec->payload + SHMLOG_MAX_PAYLOAD;
    unsigned key_slot = 0;
    for (unsigned i = 0; i < pl->nargs; i++) {
        unsigned op = pl->op[i];
        uint64_t x;
        if (op == OP_STR) {
            struct str_table *tb = &s->str[pl->str_index[i]];
            str_table_claim(tb, r->batch_gen);
            uint64_t h = get_varint(c);
            uint16_t hdr;
            const uint8_t *bytes;
            unsigned slot;
            if (h & 1) {
                slot = (unsigned)(h >> 1);
                if (h >> 1 >= tb->used)
                    return -1;
                hdr = tb->hdr[slot];
                bytes = tb->bytes[slot];
            } else {
                if (h >> 1 > UINT16_MAX)
                    return -1;
                hdr = (uint16_t)(h >> 1);
                bytes = get_bytes(c, hdr & SHMLOG_STR_LEN_MASK);
                if (!bytes)
                    return -1;
            }
            size_t n = hdr & SHMLOG_STR_LEN_MASK;
            if ((size_t)(end - out) < 2 + n)
                return -1;
            out[0] = (uint8_t)hdr;
            out[1] = (uint8_t)(hdr >> 8);
            if ((h & 1) && end - out >= 2 + (ptrdiff_t)STR_SHORT)
                memcpy(out + 2, bytes, STR_SHORT); /* the whole slot: one fixed-size copy */
            else
                memcpy(out + 2, bytes, n);
            out += 2 + n;
            if (!(h & 1))
                slot = str_keep(tb, hdr, bytes);
            if (i == pl->key_arg)
                key_slot = slot;
            continue;
        }
        if (end - out < 8) /* the widest value: past it only after long strings */
            return -1;
        struct num_ctx *ctx = arg_ctx(pl, s->ctx, s->keyed, i, key_slot, r->batch_gen);
        switch (op) {
        case OP_F64:
            put_u64le(out, dec_float(c, ctx, SHMLOG_ARG_F64));
            out += 8;
            continue;
        case OP_F32:
            put_u32le(out, (uint32_t)dec_float(c, ctx, SHMLOG_ARG_F32));
            out += 4;
            continue;
        default:
            x = ctx->prev + (uint64_t)unzigzag(get_varint(c));
            if (op < 8)
                x &= (1ULL << (8 * op)) - 1;
            ctx->prev = x;
            put_u64le(out, x); /* the bytes past its width are overwritten or past payload_len */
            out += op;
            break;
        }
    }
    rec->payload_len = (uint16_t)(out - rec->payload);
    return c->bad ? -1 : 0;
}

/* The next record of the open batch: 1 with an event, 0 when the batch ended. */
static int batch_next(struct shlog_reader *r, struct shlog_event *ev)
{
    struct batch_state *b = &r->b;
    struct shmlog_rec *rec = &r->rec;
    while (b->done < b->count) {
        uint64_t gap = get_varint(&b->col[COL_GAP]);
        uint8_t extra_slots = get_u8(&b->col[COL_NSLOTS]);
        uint64_t dtsc = get_varint(&b->col[COL_TSC]);
        uint64_t site = get_varint(&b->col[COL_SITE]);
        uint64_t dtid = get_varint(&b->col[COL_TID]);
        uint64_t attr = get_varint(&b->col[COL_ATTR]);
        if (b->col[COL_GAP].bad | b->col[COL_NSLOTS].bad | b->col[COL_TSC].bad | b->col[COL_SITE].bad |
            b->col[COL_TID].bad | b->col[COL_ATTR].bad) {
            for (int i = 0; i < COL_ARGS; i++)
                if (b->col[i].bad)
                    return frame_damaged(r, ev, "BATCH column %d ends early", i);
        }
        if (site > UINT32_MAX || attr >> 7 > UINT8_MAX)
            return frame_damaged(r, ev, "BATCH record %u out of range", b->done);
        rec->pos = b->expected + gap;
        rec->tsc = b->prev_tsc + (uint64_t)unzigzag(dtsc);
        rec->site = (uint32_t)site;
        rec->tid = b->prev_tid + (uint32_t)unzigzag(dtid);
        rec->level = attr & 7;
        rec->category = (attr >> 3) & 7;
        rec->flags = (uint8_t)(attr >> 7);
        b->prev_tsc = rec->tsc;
        b->prev_tid = rec->tid;

        struct dec_site *s = b->cached;
        if (!s || s->pub.id != rec->site)
            s = b->cached = reader_find_site(r, b->proc->key, rec->site);
        struct cur *args = &b->col[COL_ARGS];
        if (attr & ATTR_RAW) {
            uint64_t n = get_varint(args);
            const uint8_t *bytes = n <= SHMLOG_MAX_PAYLOAD ? get_bytes(args, n) : NULL;
            if (!bytes)
                return frame_damaged(r, ev, "BATCH record %u: bad raw payload", b->done);
            memcpy(rec->payload, bytes, n);
            rec->payload_len = (uint16_t)n;
        } else if (!s) {
            return frame_damaged(r, ev, "BATCH record %u: site %u is not defined in the file", b->done,
                                 rec->site);
        } else if (decode_args(r, s, args, rec)) {
            return frame_damaged(r, ev, "BATCH record %u: bad arguments", b->done);
        }
        unsigned nslots = (uint8_t)(extra_slots + shmlog_slots_for_payload(rec->payload_len));
        if (nslots < 1 || nslots > SHMLOG_MAX_SLOTS)
            return frame_damaged(r, ev, "BATCH record %u out of range", b->done);
        rec->nslots = (uint8_t)nslots;
        b->expected = rec->pos + nslots;
        b->done++;
        if (!dedup_claim(b->dd, rec->pos, rec->pos + nslots)) {
            r->st.duplicates++;
            continue;
        }
        r->st.records++;
        ev_begin(r, ev, SHLOG_EV_RECORD);
        ev->proc = b->proc;
        ev->cpu = b->cpu;
        ev->site = s ? &s->pub : NULL;
        ev->site_info = s ? site_info_of(r, s) : NULL;
        ev->rec = rec;
        return 1;
    }
    b->open = 0;
    for (int i = 0; i < NCOLS; i++)
        if (b->col[i].p != b->col[i].end)
            return frame_damaged(r, ev, "BATCH column %d has bytes past its %u records", i, b->count);
    return 0;
}

/* The next section of the frame: 1 with an event, 0 when it gave none. */
static enum shlog_tristate tristate_of(unsigned bits)
{
    return bits == 1 ? SHLOG_YES : bits == 2 ? SHLOG_NO : SHLOG_UNKNOWN;
}

/* A frame's anchors go out before its other events, so that a reader maps
 * every record of the frame between anchors taken around it. 1 with an
 * event, 0 when the frame has no anchor left. */
static int clock_next(struct shlog_reader *r, struct shlog_event *ev)
{
    while (!r->clock_left) {
        if (r->clock_scan.p >= r->clock_scan.end)
            return 0;
        uint8_t type = get_u8(&r->clock_scan);
        uint64_t len = get_varint(&r->clock_scan);
        const uint8_t *body = get_bytes(&r->clock_scan, len);
        if (!body || r->clock_scan.bad || type == 0) {
            r->clock_scan.p = r->clock_scan.end; /* damage: the section pass reports it */
            return 0;
        }
        if (type != SHLOG_SEC_CLOCK)
            continue;
        struct cur c = {body, body + len, 0};
        struct shlog_clock_info ci;
        memset(&ci, 0, sizeof(ci));
        ci.hz_q16 = get_varint(&c);
        uint64_t state = get_varint(&c);
        ci.tsc_invariant = tristate_of(state & 3u);
        ci.synchronized = tristate_of(state >> 2 & 3u);
        ci.esterror_ns = get_varint(&c);
        uint64_t cs = get_varint(&c);
        const uint8_t *name = cs < sizeof(ci.clocksource) ? get_bytes(&c, cs) : NULL;
        uint64_t n = get_varint(&c);
        if (!name || c.bad || !n || n > SHLOG_CLOCK_MAX_ANCHORS) {
            r->clock_scan.p = r->clock_scan.end;
            return frame_damaged(r, ev, "bad CLOCK section");
        }
        for (uint64_t i = 0; i < cs; i++) /* a label and a line: printable only */
            ci.clocksource[i] = name[i] >= 0x21 && name[i] < 0x7f ? (char)name[i] : '_';
        r->clock = ci;
        r->clock_body = c;
        r->clock_left = n;
    }
    struct cur *c = &r->clock_body;
    struct shmlog_clock_anchor a;
    a.tsc = get_varint(c);
    a.ns = get_varint(c);
    uint64_t err = get_varint(c), flags = get_varint(c);
    if (c->bad || err > UINT32_MAX) {
        r->clock_left = 0;
        r->clock_scan.p = r->clock_scan.end;
        return frame_damaged(r, ev, "bad CLOCK section");
    }
    a.err_ns = (uint32_t)err;
    a.flags = (uint32_t)(flags & SHMLOG_ANCHOR_STEPPED);
    r->clock_left--;
    r->st.anchors++;
    ev_begin(r, ev, SHLOG_EV_CLOCK);
    ev->anchor = a;
    ev->clock = r->clock;
    return 1;
}

static int section_next(struct shlog_reader *r, struct shlog_event *ev)
{
    uint8_t type = get_u8(&r->sec);
    uint64_t len = get_varint(&r->sec);
    const uint8_t *body = get_bytes(&r->sec, len);
    if (!body)
        return frame_damaged(r, ev, "section runs past the end of the frame");
    struct cur c = {body, body + len, 0};
    switch (type) {
    case SHLOG_SEC_PROCESS: return sec_process(r, &c, ev);
    case SHLOG_SEC_SITE: return sec_site(r, &c, ev);
    case SHLOG_SEC_BATCH: return sec_batch(r, &c, ev);
    case SHLOG_SEC_LOSS: return sec_loss(r, &c, ev);
    case SHLOG_SEC_EXIT: return sec_exit(r, &c, ev);
    case SHLOG_SEC_CLOCK: return 0; /* returned before the frame's other sections */
    /* No version writes it: zeros where sections should be, as in a frame
     * made only to cost a reader its decompression. */
    case 0: return frame_damaged(r, ev, "a section of type 0");
    default: return 0; /* a section of a later version: skipped */
    }
}

int shlog_reader_next(struct shlog_reader *r, struct shlog_event *ev)
{
    for (;;) {
        int rc;
        if (r->b.open) {
            rc = batch_next(r, ev);
            if (rc)
                return rc;
            continue;
        }
        if (r->clock_left || r->clock_scan.p < r->clock_scan.end) {
            rc = clock_next(r, ev);
            if (rc)
                return rc;
            continue;
        }
        if (r->sec.p < r->sec.end) {
            rc = section_next(r, ev);
            if (rc)
                return rc;
            continue;
        }
        if (r->frame_open) {
            r->frame_open = 0;
            if (r->frame_ends) {
                ev_begin(r, ev, SHLOG_EV_FRAME_END);
                return 1;
            }
        }
        rc = frame_load(r, ev);
        if (rc <= 0)
            return rc;
        if (rc == 2)
            return 1;
    }
}
