/*
 * shlog_encode.c - the file format's encoder, what the collector links: a
 * file's processes and sites, its sections, the records of a batch coded as
 * columns (deltas, varints, the arguments against their contexts) and the
 * frame compressed behind its prefix (format/FORMAT.md; the coding it
 * shares with the decoder is in shlog_coding.h).
 */
#include "shlog_coding.h"
#include "shlog_index.h"

#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_stableInBuffer, ZSTD_c_stableOutBuffer */
#include <zstd.h>
#include <zstd_errors.h>

#include <stdio.h>

/* A varint length, then the bytes. */
static uint8_t *put_counted(uint8_t *p, const void *bytes, size_t len)
{
    p = put_varint(p, len);
    memcpy(p, bytes, len);
    return p + len;
}

/* ==== Arguments: what only the encoder decides ==== */

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

/* The slot holding (hdr, bytes) whose first 8 bytes are head, or -1. */
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

/* ==== The encoder: a file's processes, sites and sections ==== */

#define ENC_SITE_CACHE 64u

/* What a site adds to its frames' index (FORMAT.md, "Index"): its arguments'
 * key prefixes by field name (0: unnamed) and the keys of its format's words
 * and of itself, added once a frame with its first record there. */
struct enc_site_ix {
    uint64_t frame;    /* the frame they were last added to, plus 1 */
    uint32_t signed_args; /* bit i: argument i is a signed integer */
    uint8_t walk;         /* arguments ix_args looks at: up to the last string */
    int8_t subject;       /* the integer argument whose value is a key, or -1 */
    uint8_t strs_before;  /* strings before the subject, each str_skip[k] bytes after the one before */
    uint16_t subject_at;  /* the subject's bytes: that many after them (after the payload's start when none) */
    uint16_t str_skip[SHMLOG_MAX_ARGS];
    uint8_t subject_extend; /* 64 - its bits when signed and narrower than 64: a shift that sign-extends it */
    uint8_t has_str;
    uint8_t words_whole; /* shlog__ix_words_whole of its format */
    uint32_t nkeys;
    uint32_t ngrams;      /* version 8: its format's words' grams, keys[nkeys..], added once an index frame */
    uint8_t grams_over;   /* more distinct grams than IX_SITE_GRAMS_MAX: none kept */
    uint64_t group;       /* the index frame they were last added to, plus 1 */
    uint64_t prefix[SHMLOG_MAX_ARGS]; /* strings: their values' keys; the subject: not 0 */
    uint64_t range_key, unindexed_key; /* the subject's: its range's, and its name's when it has none */
    uint64_t range_frame;              /* the frame range_slot is of, plus 1 */
    uint32_t range_slot;               /* into the frame's ranges; IX_MAX_RANGES: none */
    uint64_t keys[];
};

struct enc_site {
    struct arg_plan plan;
    struct enc_site_ix *ix;
    struct num_ctx *ctx; /* plan.nargs of them, for the arguments before the key argument: sized by the site
                            so that one of few arguments stays within the 1 KiB its file counts it as */
    uint32_t ctx_gen;                    /* the batch ctx is of */
    struct num_ctx *keyed;               /* KEY_VALUES x plan.nkeyed, then plan.nstr string tables */
    struct str_table *str;
};

/* A process as the index sees it. */
struct enc_proc_ix {
    uint32_t pid;
    uint64_t app_key;
    uint64_t tsc_hz, anchor_tsc, anchor_ns; /* its own calibration: a file without CLOCK sections */
};

/* The index's Bloom filter while a frame is built, folded to the frame's own
 * size when it is sealed (ix_fold): twice the last frame's, from 64 blocks
 * to 8192 (256 KiB, about 200,000 distinct keys at 10 bits each). Not
 * larger than it needs to be: each key added writes a random block of it,
 * and a small one stays in the core's cache. */
#define IX_WORK_BLOCKS 8192u
#define IX_WORK_MIN_BLOCKS 64u
/* The group filter of an index frame's frames (version 4) is gathered at
 * this many blocks (2 KiB: some 800 keys at 40 % set), then folded as a
 * frame's is: the frames of a slow host are small, each one's filter too
 * small to rule anything out, but they repeat one another's keys. A group
 * that still is more than IX_GROUP_MAX_FILL set is written without one. */
#define IX_GROUP_BLOCKS 64u
#define IX_GROUP_MAX_FILL 0.75
/* Version 7: a frame's own filter more set than this (it says "maybe" to
 * more than 4 keys in 10 it lacks) is not written: its group's says as much. */
#define IX_OWN_MAX_FILL 0.9
_Static_assert(IX_WORK_MIN_BLOCKS % IX_GROUP_BLOCKS == 0, "a frame's filter folds to the group's");
/* Version 8: the gram filter of an index frame's frames is gathered at this
 * many blocks (2 KiB), folded while at most IX_GRAM_FOLD_FILL set and further
 * while more than 0.25 % of those frames' bytes, and left out when still more
 * than IX_GRAM_MAX_FILL set. A substring asks for all its grams, so a filter
 * that says "maybe" to one gram in 7 it lacks (80 % set) says it to one of
 * 300 of three. The trading mix's words have some 200 grams: 4 blocks at 79 %,
 * for 50 KiB of frames and more, which a slow host's index frame of up to
 * 64 frames gathers (ix_group_full). */
#define IX_GRAM_BLOCKS 64u
#define IX_GRAM_FOLD_FILL 0.75
#define IX_GRAM_MAX_FILL 0.8
#define IX_GRAM_SHARE 400u /* of the frames' bytes: 0.25 % */
/* A site keeps at most this many distinct grams of its format (512 bytes):
 * a site of more (a long format of varied text, a hostile one) leaves its
 * index frames without a gram filter rather than the collector holding
 * eight bytes for each byte of a file's formats (test_bounds). */
#define IX_SITE_GRAMS_MAX 64u

#define IX_SMALL_FRAME 32768u /* bytes: a frame below them gets a filter of half the share */

/* The file's index as the encoder builds it (FORMAT.md, "Index"). */
struct enc_index {
    uint64_t frame;      /* frames sealed so far */
    uint64_t next_off;   /* where the next frame goes: frames follow the header back to back */
    uint64_t last_block; /* the last index frame's offset; 0: none yet */
    uint32_t blocks;     /* index frames written */
    struct buf pending;  /* entries of the frames sealed since the last index frame */
    struct ix_prev prev; /* what the next of them is coded against */
    struct buf pending_filters; /* and their filters, which follow the entries */
    uint32_t npending;
    /* an index frame's summaries (count, entries, group_blocks) as version 5
     * lays them out, which version 6 holds compressed by zctx */
    struct buf summaries;
    ZSTD_CCtx *zctx;
    /* the open frame */
    uint64_t tsc_min, tsc_max;
    uint32_t levels;
    uint64_t categories;
    uint32_t npids;
    uint32_t pids[IX_MAX_PIDS];
    uint32_t nranges;
    struct ix_range ranges[IX_MAX_RANGES];
    uint32_t *bloom; /* IX_WORK_BLOCKS blocks, of which the first work_blocks are used */
    uint32_t work_blocks;
    uint32_t kept_blocks; /* by the last frame sealed */
    int bloom_dirty;
    uint32_t *group;      /* IX_GROUP_BLOCKS: every key of the pending entries' frames */
    uint32_t group_frames; /* of them with keys */
    uint32_t *grams;      /* IX_GRAM_BLOCKS: the grams of the words of the pending entries' frames */
    int grams_dirty;
    int grams_over; /* a site of more grams than it keeps has records in the pending entries' frames */
    uint64_t group_bytes; /* of the pending entries' frames */
    uint64_t word_prefix, app_prefix, tid_prefix, gram_prefix;
    uint64_t last_tid; /* the last record's thread, whose key is in; UINT64_MAX: none yet in the frame */
    uint32_t literals; /* bit i: the last record's string argument i was a literal (enc_args) */
    /* the clock: the last anchor given, and the first of the open frame */
    int clock_known, frame_anchored, frame_stepped;
    struct shm_clock_anchor first, last;
    uint64_t hz_q16;
    const struct enc_proc_ix *calib; /* the batch's process, for a file without anchors */
    /* whether the open frame is plain (IX_PLAIN): a section other than a
     * BATCH makes it mixed; its rings, and the open batch's most TSC */
    int mixed;
    struct buf clock; /* its CLOCK sections, as it holds them */
    uint32_t nrings;
    struct ix_ring rings[IX_MAX_RINGS];
    uint64_t batch_tsc_max;
    /* the last trace each thread's trace records in the open frame set;
     * traces_unknown: one the entry cannot restate (too many threads, a
     * site of other arguments), so the entry lists none */
    uint32_t ntraces;
    int traces_unknown;
    struct ix_trace traces[IX_MAX_TRACES];
    /* a record of the open frame may show a word no key has: a raw one, or
     * one of a site whose messages' words are not whole (IX_WORDS) */
    int words_unknown;
};

struct shlog_enc {
    ZSTD_CCtx *cctx;
    struct buf defs;       /* the open frame's first PROCESS and SITE sections: compressed ahead of raw */
    struct buf raw;        /* its other sections, in order */
    struct buf col[NCOLS]; /* columns of the open batch */
    struct map procs;      /* (proc, 0) */
    struct map sites;      /* (proc, site) -> index into site_v */
    struct enc_site *site_v;
    size_t nsites, sites_cap;
    int batch_open;
    uint32_t batch_proc, batch_cpu, batch_count, batch_gen;
    uint64_t first_pos, expected_pos, base_tsc, prev_tsc;
    uint64_t batch_from;   /* shlog_enc_batch_from's position, or UINT64_MAX */
    int batch_backtrace;   /* the open batch is a BACKTRACE section ... */
    uint64_t order_tsc;    /* ... ordered at this TSC */
    uint32_t prev_tid;
    /* Sites of the batch's process by id, direct-mapped: a record's site
     * is one of a few that take turns. */
    struct {
        uint32_t id;
        int32_t index; /* into site_v; -1: empty */
    } site_cache[ENC_SITE_CACHE];
    uint64_t frame_records;
    int stable_in;      /* ZSTD_c_stableInBuffer as set: 1 or 0; -1 when this libzstd has none */
    unsigned col_room; /* records the fixed columns have room for */
    size_t table_units; /* of every site's contexts and string tables */
    /* The record the last shlog_enc_slots or shlog_enc_record could not
     * encode, for shlog_enc_take_loss: lost_why NULL when none. */
    struct shm_loss lost;
    const char *lost_why;
    /* The file's definitions as readers count them (SHLOG_FILE_MAX_*);
     * nsites counts its sites. */
    uint32_t nprocs, names;
    uint64_t site_bytes, def_bytes;
    struct enc_proc_ix *proc_ix; /* by the procs map's value */
    size_t proc_ix_cap;
    struct enc_index ix;
};

#define COL_ROOM_RECORDS 256u
/* The definitions' buffer is given back past this: most frames define a few
 * sites at most, and a flood of them keeps no second frame's worth. */
#define DEFS_KEPT_BYTES (1u << 20)

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
    /* A frame is compressed into room for all of it, and one that defines
     * nothing (most) from where it was built (enc_stable_in), not through
     * zstd's own window and block buffers: as one call would, though it is
     * two (shlog_enc_frame). A libzstd without these experimental parameters
     * takes the way through its buffers. */
    if (ZSTD_isError(ZSTD_CCtx_setParameter(e->cctx, ZSTD_c_stableOutBuffer, 1)))
        ZSTD_CCtx_setParameter(e->cctx, ZSTD_c_stableOutBuffer, 0);
    e->stable_in = ZSTD_isError(ZSTD_CCtx_setParameter(e->cctx, ZSTD_c_stableInBuffer, 1)) ? -1 : 1;
    if (shlog_enc_set_level(e, zstd_level) != 0 ||
        ZSTD_isError(ZSTD_CCtx_setParameter(e->cctx, ZSTD_c_checksumFlag, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(e->cctx, ZSTD_c_contentSizeFlag, 1))) {
        shlog_enc_free(e);
        return -EINVAL;
    }
    enc_forget_sites(e);
    e->ix.bloom = calloc(IX_WORK_BLOCKS, IX_BLOCK_BYTES);
    e->ix.group = calloc(IX_GROUP_BLOCKS, IX_BLOCK_BYTES);
    e->ix.grams = calloc(IX_GRAM_BLOCKS, IX_BLOCK_BYTES);
    e->ix.zctx = ZSTD_createCCtx();
    if (!e->ix.bloom || !e->ix.group || !e->ix.grams || !e->ix.zctx || buf_reserve(&e->ix.summaries, 3 * VARINT_MAX) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(e->ix.zctx, ZSTD_c_compressionLevel, IX_SUMMARIES_LEVEL))) {
        shlog_enc_free(e);
        return -ENOMEM;
    }
    e->ix.next_off = SHLOG_FILE_HEADER_BYTES;
    e->ix.work_blocks = IX_WORK_MIN_BLOCKS;
    e->ix.word_prefix = shlog__ix_prefix(IX_TAG_WORD, "", 0);
    e->ix.app_prefix = shlog__ix_prefix(IX_TAG_APP, "", 0);
    e->ix.tid_prefix = shlog__ix_prefix(IX_TAG_THREAD, "", 0);
    e->ix.gram_prefix = shlog__ix_prefix(IX_TAG_GRAM, "", 0);
    e->ix.last_tid = UINT64_MAX;
    e->ix.tsc_min = UINT64_MAX;
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
    ZSTD_freeCCtx(e->ix.zctx);
    buf_free(&e->ix.summaries);
    buf_free(&e->defs);
    buf_free(&e->raw);
    buf_free(&e->ix.clock);
    for (int i = 0; i < NCOLS; i++)
        buf_free(&e->col[i]);
    map_free(&e->procs);
    map_free(&e->sites);
    for (size_t i = 0; i < e->nsites; i++) {
        free(e->site_v[i].keyed);
        free(e->site_v[i].ctx);
        free(e->site_v[i].ix);
    }
    free(e->site_v);
    free(e->proc_ix);
    free(e->ix.bloom);
    free(e->ix.group);
    free(e->ix.grams);
    buf_free(&e->ix.pending);
    buf_free(&e->ix.pending_filters);
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

int shlog_enc_file_full(const struct shlog_enc *e)
{
    return e->nprocs >= SHLOG_FILE_MAX_PROCS - SHLOG_FILE_ROOM_PROCS ||
           e->nsites >= SHLOG_FILE_MAX_SITES - SHLOG_FILE_ROOM_SITES ||
           e->names >= SHLOG_FILE_MAX_NAMES - SHLOG_FILE_ROOM_NAMES ||
           e->site_bytes >= SHLOG_FILE_MAX_SITE_BYTES - SHLOG_FILE_ROOM_BYTES ||
           e->def_bytes >= SHLOG_FILE_MAX_DEFINITION_BYTES - SHLOG_FILE_ROOM_BYTES;
}

/* A definition section of a body of at most n bytes fits what readers keep
 * of the file's definitions; counted once it is written (enc_defined). */
static int enc_room(const struct shlog_enc *e, size_t n)
{
    return e->def_bytes + 1 + VARINT_MAX + n <= SHLOG_FILE_MAX_DEFINITION_BYTES;
}

static void enc_defined(struct shlog_enc *e, size_t n)
{
    e->def_bytes += 1 + varint_len(n) + n;
}

/* Appends a section whose body was built in body[0..n) to to. Not inlined:
 * GCC 12, inlining it into enc_proc_name, warns of a read past its body on
 * a path no caller takes. */
__attribute__((noinline)) static int put_section(struct buf *to, unsigned type, const uint8_t *body, size_t n)
{
    int rc = buf_reserve(to, 1 + VARINT_MAX + n);
    if (rc)
        return rc;
    uint8_t *p = to->p + to->len;
    *p++ = (uint8_t)type;
    p = put_varint(p, n);
    memcpy(p, body, n);
    to->len = (size_t)(p + n - to->p);
    return 0;
}

static int enc_section(struct shlog_enc *e, unsigned type, const uint8_t *body, size_t n)
{
    e->ix.mixed = 1;
    return put_section(&e->raw, type, body, n);
}

/* A process's or a site's first definition in the file goes ahead of the
 * frame's other sections (SHLOG_FILE_SITES_FIRST), where nothing before it in
 * the frame can have used it; a definition again stays in order, as the
 * records before it were coded against the one it replaces. */
static int enc_definition(struct shlog_enc *e, unsigned type, const uint8_t *body, size_t n, int first)
{
    e->ix.mixed = 1;
    return put_section(first ? &e->defs : &e->raw, type, body, n);
}

int shlog_enc_process(struct shlog_enc *e, uint32_t proc, const struct shm_proc_info *pi)
{
    if (e->batch_open)
        return -EBUSY;
    uint8_t body[8 * VARINT_MAX + 2 * (VARINT_MAX + SHMLOG_APP_BYTES) + sizeof(pi->instance)];
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
    p = put_counted(p, pi->app, app_len);
    p = put_counted(p, pi->host, host_len);
    /* A process that has none (all zeros) says nothing, as before the field. */
    static const uint8_t none[sizeof(pi->instance)];
    if (memcmp(pi->instance, none, sizeof(none)) != 0) {
        memcpy(p, pi->instance, sizeof(pi->instance));
        p += sizeof(pi->instance);
    }
    int first = !map_find(&e->procs, proc, 0);
    size_t n = (size_t)(p - body);
    if ((first && e->nprocs >= SHLOG_FILE_MAX_PROCS) || !enc_room(e, n))
        return -ENOSPC;
    if (first && shlog__grow_array(&e->proc_ix, &e->proc_ix_cap, e->nprocs, sizeof(*e->proc_ix)))
        return -ENOMEM;
    int rc = enc_definition(e, SHLOG_SEC_PROCESS, body, n, first);
    if (!rc && first)
        rc = shlog__map_insert(&e->procs, proc, 0, e->nprocs);
    if (!rc) {
        struct enc_proc_ix *px = &e->proc_ix[*map_find(&e->procs, proc, 0)];
        *px = (struct enc_proc_ix){pi->pid, shlog__ix_text(e->ix.app_prefix, (const uint8_t *)pi->app, app_len),
                                   pi->tsc_hz, pi->anchor_tsc, pi->anchor_ns};
        e->nprocs += (uint32_t)first;
        enc_defined(e, n);
    }
    return rc;
}

/* A section of a process's name for something: varint proc, varint id, varint len, the name. */
static int enc_proc_name(struct shlog_enc *e, uint8_t type, uint32_t proc, uint32_t id, const char *name, size_t len)
{
    uint8_t body[3 * VARINT_MAX + SHMLOG_CATEGORY_NAME_BYTES + SHMLOG_THREAD_NAME_BYTES];
    uint8_t *p = put_varint(body, proc);
    p = put_varint(p, id);
    p = put_varint(p, len);
    memcpy(p, name, len);
    size_t n = (size_t)(p + len - body);
    if (e->names >= SHLOG_FILE_MAX_NAMES || !enc_room(e, n))
        return -ENOSPC;
    int rc = enc_section(e, type, body, n);
    if (!rc) {
        e->names++;
        enc_defined(e, n);
    }
    return rc;
}

int shlog_enc_category(struct shlog_enc *e, uint32_t proc, uint32_t id, const char *name)
{
    size_t len = strnlen(name, SHMLOG_CATEGORY_NAME_BYTES);
    if (!map_find(&e->procs, proc, 0))
        return -ENOENT;
    if (id < SHMLOG_CAT_USER || id >= SHMLOG_MAX_CATEGORIES || len == 0 || len >= SHMLOG_CATEGORY_NAME_BYTES)
        return -EINVAL;
    return enc_proc_name(e, SHLOG_SEC_CATEGORY, proc, id, name, len);
}

int shlog_enc_thread(struct shlog_enc *e, uint32_t proc, uint32_t tid, const char *name)
{
    size_t len = strnlen(name, SHMLOG_THREAD_NAME_BYTES + 1);
    char clean[SHMLOG_THREAD_NAME_BYTES + 1];
    if (!map_find(&e->procs, proc, 0))
        return -ENOENT;
    if (tid == 0 || len == 0 || shmlog_thread_name_clean(name, len, clean) != len || memcmp(clean, name, len))
        return -EINVAL;
    return enc_proc_name(e, SHLOG_SEC_THREAD, proc, tid, name, len);
}

/* A site's fixed part, with the contexts of as many arguments as a site of one
 * SHLOG_FILE_SITE_HEAD_BYTES has, is within what shlog_site_file_bytes counts. */
_Static_assert(sizeof(struct enc_site) + sizeof(struct enc_site_ix) + SHMLOG_MAX_ARGS_V6 * sizeof(struct num_ctx) <=
                   SHLOG_FILE_SITE_HEAD_BYTES,
               "a site outgrew the count its file gives it");

uint64_t shlog_site_file_bytes(const struct shm_site *s)
{
    return SHLOG_FILE_SITE_HEAD_BYTES * (s->nargs > SHMLOG_MAX_ARGS_V6 ? 2u : 1u) + (s->fmt_len < SHMLOG_MAX_FMT_BYTES ? s->fmt_len : SHMLOG_MAX_FMT_BYTES) +
           (s->file_len < SHMLOG_MAX_FILE_BYTES ? s->file_len : SHMLOG_MAX_FILE_BYTES) +
           (s->func_len < SHMLOG_MAX_FUNC_BYTES ? s->func_len : SHMLOG_MAX_FUNC_BYTES) +
           (s->desc_len < SHMLOG_MAX_DESC_BYTES ? s->desc_len : SHMLOG_MAX_DESC_BYTES);
}

struct ix_key_list {
    uint64_t prefix;
    uint64_t *keys;
    uint32_t n;
};

static void ix_key_word(void *clientd, const uint8_t *w, size_t n)
{
    struct ix_key_list *l = clientd;
    l->keys[l->n++] = shlog__ix_text(l->prefix, w, n);
}

static void ix_key_text(void *clientd, const uint8_t *text, size_t n)
{
    shlog__ix_words(text, n, ix_key_word, clientd);
}

/* A site's distinct grams as they come, at most IX_SITE_GRAMS_MAX of them:
 * an open-addressed set of twice that many slots (the keys are mixed hashes;
 * 0 marks a free slot, so key 0 has a flag). Sorting every gram to count
 * them was most of a pass that drained long formats (test_bounds). */
struct ix_gram_set {
    uint64_t slot[2 * IX_SITE_GRAMS_MAX];
    uint64_t *kept; /* the distinct keys, in the order they came */
    uint32_t n;
    uint8_t zero_kept, over;
    uint64_t prefix;
};

static void ix_key_gram(void *clientd, uint64_t key)
{
    struct ix_gram_set *g = clientd;
    if (g->over)
        return;
    uint32_t mask = 2 * IX_SITE_GRAMS_MAX - 1, i = (uint32_t)key & mask;
    if (key)
        while (g->slot[i] && g->slot[i] != key)
            i = (i + 1) & mask;
    if (key ? g->slot[i] != 0 : g->zero_kept)
        return; /* seen */
    if (g->n == IX_SITE_GRAMS_MAX) {
        g->over = 1;
        return;
    }
    if (key)
        g->slot[i] = key;
    else
        g->zero_kept = 1;
    g->kept[g->n++] = key;
}

static void ix_key_grams_of_word(void *clientd, const uint8_t *w, size_t n)
{
    struct ix_gram_set *g = clientd;
    if (!g->over)
        shlog__ix_grams(g->prefix, w, n, ix_key_gram, clientd);
}

static void ix_key_grams(void *clientd, const uint8_t *text, size_t n)
{
    shlog__ix_words(text, n, ix_key_grams_of_word, clientd);
}

/* What site s adds to the index: its fields' key prefixes, its format's
 * words and itself ("file:line"). NULL when out of memory. */
static struct enc_site_ix *ix_site_new(const struct shlog_enc *e, const struct shm_site *s, size_t fmt_len,
                                       size_t file_len)
{
    /* a word takes a byte and the one after it, at most */
    struct enc_site_ix *x =
        calloc(1, sizeof(*x) + (fmt_len / 2 + 2 + SHMLOG_MAX_ARGS + IX_SITE_GRAMS_MAX) * sizeof(uint64_t));
    if (!x)
        return NULL;
    unsigned nargs = s->nargs < SHMLOG_MAX_ARGS ? s->nargs : SHMLOG_MAX_ARGS;
    const char *name[SHMLOG_MAX_ARGS];
    size_t len[SHMLOG_MAX_ARGS];
    struct ix_key_list l = {e->ix.word_prefix, x->keys, 0};
    shlog__ix_fields(s->fmt, fmt_len, nargs, name, len, ix_key_text, &l);
    x->words_whole = (uint8_t)(!s->desc_len && s->nargs <= SHMLOG_MAX_ARGS &&
                               shlog__ix_words_whole(s->fmt, fmt_len, nargs, s->arg_types));
    /* Values cost a key each, and most numbers differ from record to
     * record: the strings' values and the first integer's (a call's subject:
     * an order's id, a sequence number) are keys, the other numbers' fields
     * are named unindexed (FORMAT.md, "Index"). */
    int subject = 0;
    for (unsigned i = 0; i < nargs; i++) {
        unsigned t = s->arg_types[i];
        int integer = t != SHMLOG_ARG_STR && t != SHMLOG_ARG_F32 && t != SHMLOG_ARG_F64;
        if (len[i] && t == SHMLOG_ARG_STR) {
            x->prefix[i] = shlog__ix_prefix(IX_TAG_STRING, name[i], len[i]);
        } else if (len[i] && integer && !subject) {
            x->prefix[i] = 1;
            x->range_key = ix_mix(shlog__ix_prefix(IX_TAG_RANGE, name[i], len[i]));
            x->unindexed_key = ix_mix(shlog__ix_prefix(IX_TAG_UNINDEXED, name[i], len[i]));
        } else if (len[i])
            x->keys[l.n++] = ix_mix(shlog__ix_prefix(IX_TAG_UNINDEXED, name[i], len[i]));
        subject |= len[i] && integer;
        if (t == SHMLOG_ARG_STR)
            x->walk = (uint8_t)(i + 1);
        if (t == SHMLOG_ARG_I8 || t == SHMLOG_ARG_I16 || t == SHMLOG_ARG_I32 || t == SHMLOG_ARG_I64)
            x->signed_args |= 1u << i;
    }
    /* The subject lies a fixed number of bytes after the strings before it
     * (or the payload's start): ix_record hops over their lengths to it, and
     * walks the arguments (ix_args) only for a record's literals. */
    x->subject = -1;
    unsigned at = 0;
    for (unsigned i = 0; i < nargs; i++) {
        if (s->arg_types[i] == SHMLOG_ARG_STR) {
            x->has_str = 1;
            if (x->subject < 0) {
                x->str_skip[x->strs_before++] = (uint16_t)at;
                at = 0;
            }
            continue;
        }
        if (x->prefix[i] && x->subject < 0) {
            x->subject = (int8_t)i;
            x->subject_at = (uint16_t)at;
            unsigned t = s->arg_types[i];
            int narrow_signed = t == SHMLOG_ARG_I8 || t == SHMLOG_ARG_I16 || t == SHMLOG_ARG_I32;
            x->subject_extend = (uint8_t)(narrow_signed ? 64 - 8 * shmlog_arg_width(t) : 0);
        }
        at += shmlog_arg_width(s->arg_types[i]);
    }
    char where[SHMLOG_MAX_FILE_BYTES + 16];
    int n = snprintf(where, sizeof(where), "%.*s:%u", (int)file_len, s->file, s->line);
    x->keys[l.n++] = shlog__ix_text(shlog__ix_prefix(IX_TAG_SITE, "", 0), (const uint8_t *)where,
                                    n > 0 && (size_t)n < sizeof(where) ? (size_t)n : 0);
    x->nkeys = l.n;
    struct ix_gram_set g = {.kept = x->keys + l.n, .prefix = e->ix.gram_prefix};
    shlog__ix_fields(s->fmt, fmt_len, nargs, name, len, ix_key_grams, &g);
    x->grams_over = g.over;
    x->ngrams = g.over ? 0 : g.n;
    l.n += x->ngrams;
    /* Filled at the size the most words a format can hold need, kept at what
     * it holds: a file may define 50,000 sites of long formats (test_bounds). */
    size_t kept = sizeof(*x) + l.n * sizeof(uint64_t);
    struct enc_site_ix *fit = malloc(kept);
    if (!fit)
        return x;
    memcpy(fit, x, kept);
    free(x);
    return fit;
}

int shlog_enc_site(struct shlog_enc *e, uint32_t proc, const struct shm_site *s)
{
    if (!map_find(&e->procs, proc, 0))
        return -ENOENT;
    size_t fmt_len = s->fmt_len < SHMLOG_MAX_FMT_BYTES ? s->fmt_len : SHMLOG_MAX_FMT_BYTES;
    size_t file_len = s->file_len < SHMLOG_MAX_FILE_BYTES ? s->file_len : SHMLOG_MAX_FILE_BYTES;
    size_t func_len = s->func_len < SHMLOG_MAX_FUNC_BYTES ? s->func_len : SHMLOG_MAX_FUNC_BYTES;
    size_t desc_len = s->desc_len < SHMLOG_MAX_DESC_BYTES ? s->desc_len : SHMLOG_MAX_DESC_BYTES;
    /* A reader counts a site defined again as a site more: so does this. */
    uint64_t cost = shlog_site_file_bytes(s);
    if ((!map_find(&e->sites, proc, s->id) && e->nsites >= SHLOG_FILE_MAX_SITES) ||
        e->site_bytes + cost > SHLOG_FILE_MAX_SITE_BYTES ||
        !enc_room(e, 7 * VARINT_MAX + 3 + SHMLOG_MAX_ARGS + fmt_len + file_len + func_len + desc_len))
        return -ENOSPC;
    struct arg_plan plan;
    shlog__plan_site(&plan, s->nargs, s->arg_types);
    size_t units = plan_tables_within(&plan, e->table_units);
    size_t tables = site_tables_bytes(&plan);
    void *mem = tables ? malloc(tables) : NULL;
    struct num_ctx *ctx = plan.nargs ? calloc(plan.nargs, sizeof(*ctx)) : NULL;
    struct enc_site_ix *six = ix_site_new(e, s, fmt_len, file_len);
    if ((tables && !mem) || (plan.nargs && !ctx) || !six) {
        free(mem);
        free(ctx);
        free(six);
        return -ENOMEM;
    }
    uint32_t *idx = map_find(&e->sites, proc, s->id);
    int first = !idx;
    if (!idx) {
        int rc = shlog__grow_array(&e->site_v, &e->sites_cap, e->nsites, sizeof(*e->site_v));
        if (!rc)
            rc = shlog__map_insert(&e->sites, proc, s->id, (uint32_t)e->nsites);
        if (rc) {
            free(mem);
            free(ctx);
            free(six);
            return rc;
        }
        idx = map_find(&e->sites, proc, s->id);
        e->site_v[e->nsites].ix = NULL;
        e->site_v[e->nsites].ctx = NULL;
        e->site_v[e->nsites++].keyed = NULL;
    }
    /* A redefined site starts over, with tables of its new types. */
    struct enc_site *es = &e->site_v[*idx];
    if (es->keyed)
        e->table_units -= site_table_units(&es->plan);
    free(es->keyed);
    free(es->ctx);
    free(es->ix);
    es->ix = six;
    es->ctx = ctx;
    e->table_units += units;
    es->plan = plan;
    /* stale: each context starts over at its first use */
    shlog__site_tables_init(&plan, mem, e->batch_gen - 1, es->ctx, &es->ctx_gen, &es->keyed, &es->str);
    unsigned nargs = plan.raw_only && s->nargs > SHMLOG_MAX_ARGS ? 0 : s->nargs;
    uint8_t body[7 * VARINT_MAX + 3 + SHMLOG_MAX_ARGS + SHMLOG_MAX_FMT_BYTES + SHMLOG_MAX_FILE_BYTES +
                 SHMLOG_MAX_FUNC_BYTES + SHMLOG_MAX_DESC_BYTES];
    uint8_t *p = body;
    p = put_varint(p, proc);
    p = put_varint(p, s->id);
    p = put_varint(p, s->line);
    *p++ = s->level;
    *p++ = s->category;
    *p++ = (uint8_t)nargs;
    memcpy(p, s->arg_types, nargs);
    p += nargs;
    p = put_counted(p, s->fmt, fmt_len);
    p = put_counted(p, s->file, file_len);
    if (func_len || desc_len) { /* the tail: a site without either is written as before it */
        p = put_counted(p, s->func, func_len);
        p = put_counted(p, s->desc, desc_len);
    }
    int rc = enc_definition(e, SHLOG_SEC_SITE, body, (size_t)(p - body), first);
    if (!rc) {
        e->site_bytes += cost;
        enc_defined(e, (size_t)(p - body));
    }
    return rc;
}

int shlog_enc_loss(struct shlog_enc *e, uint32_t proc, uint32_t cpu, const struct shm_loss *l,
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

int shlog_enc_clock(struct shlog_enc *e, const struct shlog_clock_info *ci, const struct shm_clock_anchor *a,
                    size_t n)
{
    if (e->batch_open)
        return -EBUSY;
    if (!n || n > SHLOG_CLOCK_MAX_ANCHORS)
        return -EINVAL;
    size_t cs = strnlen(ci->clocksource, sizeof(ci->clocksource) - 1);
    uint8_t body[5 * VARINT_MAX + sizeof(ci->clocksource) + SHLOG_CLOCK_MAX_ANCHORS * 5 * VARINT_MAX];
    uint8_t *p = body;
    p = put_varint(p, ci->hz_q16);
    p = put_varint(p, tristate_bits(ci->tsc_invariant) | tristate_bits(ci->synchronized) << 2);
    p = put_varint(p, ci->esterror_ns);
    p = put_varint(p, cs);
    memcpy(p, ci->clocksource, cs);
    p += cs;
    p = put_varint(p, n);
    unsigned with_offset = SHM_ANCHOR_OFFSET;
    for (size_t i = 0; i < n; i++) {
        p = put_varint(p, a[i].tsc);
        p = put_varint(p, a[i].ns);
        p = put_varint(p, a[i].err_ns);
        p = put_varint(p, a[i].flags & SHM_ANCHOR_STEPPED);
        with_offset &= a[i].flags;
    }
    /* Then, when every anchor has one, their offsets (readers before them
     * stop after the anchors). */
    for (size_t i = 0; with_offset && i < n; i++)
        p = put_varint(p, zigzag(a[i].offset_ns));
    int rc = put_section(&e->raw, SHLOG_SEC_CLOCK, body, (size_t)(p - body));
    if (!rc) {
        /* a plain frame's entry holds them: a reader that skips it reads them there */
        struct buf *sec = &e->ix.clock;
        if (sec->len + 1 + VARINT_MAX + (size_t)(p - body) > IX_MAX_CLOCK_BYTES ||
            put_section(sec, SHLOG_SEC_CLOCK, body, (size_t)(p - body)))
            e->ix.mixed = 1;
        struct enc_index *x = &e->ix;
        if (!x->frame_anchored)
            x->first = a[0];
        for (size_t i = 0; i < n; i++)
            x->frame_stepped |= (a[i].flags & SHM_ANCHOR_STEPPED) != 0;
        x->frame_anchored = x->clock_known = 1;
        x->last = a[n - 1];
        x->hz_q16 = ci->hz_q16;
    }
    return rc;
}

/* ==== The index's summary of the open frame ==== */

static void ix_add(struct shlog_enc *e, uint64_t key)
{
    ix_bloom_add(e->ix.bloom, e->ix.work_blocks, key);
    e->ix.bloom_dirty = 1;
}

/* A batch of process p begins: its pid and app are in the frame. */
static void ix_batch_process(struct shlog_enc *e, const struct enc_proc_ix *p)
{
    struct enc_index *x = &e->ix;
    x->calib = p;
    ix_add(e, p->app_key);
    for (uint32_t i = 0; i < x->npids && x->npids <= IX_MAX_PIDS; i++)
        if (x->pids[i] == p->pid)
            return;
    if (x->npids < IX_MAX_PIDS)
        x->pids[x->npids] = p->pid;
    if (x->npids <= IX_MAX_PIDS)
        x->npids++;
}

/* ==== Batches: records as columns ==== */

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
    e->batch_from = UINT64_MAX;
    e->batch_backtrace = 0;
    e->batch_gen++;
    e->ix.batch_tsc_max = 0;
    enc_forget_sites(e);
    ix_batch_process(e, &e->proc_ix[*map_find(&e->procs, proc, 0)]);
    for (int i = 0; i < NCOLS; i++)
        e->col[i].len = 0;
    e->col_room = 0;
    return 0;
}

int shlog_enc_backtrace_begin(struct shlog_enc *e, uint32_t proc, uint32_t cpu, uint64_t order_tsc)
{
    if (cpu >= SHLOG_CPU_BACKTRACE - 1) /* with the bit, never SHLOG_CPU_NONE */
        return -EINVAL;
    int rc = shlog_enc_batch_begin(e, proc, cpu);
    if (rc == 0) {
        e->batch_backtrace = 1;
        e->order_tsc = order_tsc;
    }
    return rc;
}

int shlog_enc_batch_from(struct shlog_enc *e, uint64_t from)
{
    if (!e->batch_open || e->batch_count)
        return -EINVAL;
    e->batch_from = from;
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

/* The arguments (measured by shmlog_args_measure) into the args column at p. */
static uint8_t *enc_args(struct shlog_enc *e, struct enc_site *s, const struct enc_payload *pay, uint8_t *p)
{
    const struct arg_plan *pl = &s->plan;
    const uint8_t *a = pay->p;
    unsigned key_slot = 0, literals = 0;
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
                literals |= 1u << i;
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
    e->ix.literals = literals;
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
    MODE_UNKNOWN, /* no site the file defines: stored raw, every byte of its slots */
    MODE_LOST,    /* a payload short of its site's fixed arguments: not encoded */
    MODE_RAW,     /* a site coded raw only (no room for its tables): measured, stored raw */
    MODE_NUMERIC, /* no strings: enc_numeric_args */
    MODE_GENERAL, /* strings: measured per record, then enc_args */
};

static inline enum enc_mode enc_site_mode(const struct enc_site *s, size_t payload_len)
{
    if (!s || !s->plan.shaped)
        return MODE_UNKNOWN;
    if (s->plan.raw_only)
        return MODE_RAW;
    if (s->plan.shape.nstr == 0)
        return s->plan.shape.fixed <= payload_len ? MODE_NUMERIC : MODE_LOST;
    return MODE_GENERAL;
}

/* The attributes column's value; a level past 7 is not one, a category from
 * 7 on goes above the flags (FORMAT.md, BATCH). */
static inline unsigned enc_attr(unsigned level, unsigned category, unsigned flags, unsigned raw)
{
    return (level < 7 ? level : 7) | (category < 7 ? category : 7) << 3 | (raw ? ATTR_RAW : 0) | flags << 7 |
           (category < 7 ? 0 : (category - 7) << ATTR_CATEGORY_SHIFT);
}

/* How a record of a site in mode goes into the args column. */
enum enc_how { HOW_CODED, HOW_RAW, HOW_LOST };

static inline uint64_t ix_popcount64(uint64_t v)
{
    v = v - ((v >> 1) & 0x5555555555555555ull);
    v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
    v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (v * 0x0101010101010101ull) >> 56;
}

static void ix_add_gram(void *clientd, uint64_t key)
{
    struct enc_index *x = clientd;
    ix_bloom_add(x->grams, IX_GRAM_BLOCKS, key);
    x->grams_dirty = 1;
}

static void ix_add_word(void *clientd, const uint8_t *w, size_t n)
{
    struct shlog_enc *e = clientd;
    ix_add(e, shlog__ix_text(e->ix.word_prefix, w, n));
    shlog__ix_grams(e->ix.gram_prefix, w, n, ix_add_gram, &e->ix);
}

/* The site's subject value v into its frame's range. A signed range is kept
 * with its sign bit flipped (ix_entry_pend flips it back), so that one
 * unsigned comparison orders both kinds. */
static inline void ix_range_note(struct shlog_enc *e, struct enc_site_ix *six, unsigned arg, uint64_t v)
{
    struct enc_index *x = &e->ix;
    int is_signed = six->signed_args >> arg & 1;
    v ^= (uint64_t)is_signed << 63;
    if (six->range_frame != x->frame + 1) {
        six->range_frame = x->frame + 1;
        uint32_t i = 0;
        while (i < x->nranges && (x->ranges[i].key != six->range_key || x->ranges[i].is_signed != is_signed))
            i++;
        if (i == x->nranges && i < IX_MAX_RANGES)
            x->ranges[x->nranges++] = (struct ix_range){six->range_key, (uint8_t)is_signed, v, v};
        else if (i == x->nranges)
            ix_add(e, six->unindexed_key); /* no room: its values may be any */
        six->range_slot = i;
    }
    if (six->range_slot >= IX_MAX_RANGES)
        return;
    struct ix_range *r = &x->ranges[six->range_slot];
    r->min = v < r->min ? v : r->min;
    r->max = v > r->max ? v : r->max;
}

/* The keys of a coded record's arguments at a (their payload): each named
 * string's value and the words of every string, but a string the batch's
 * table held (not a literal: added before). Apart from the encoding loops,
 * whose registers it would take. */
__attribute__((noinline)) static void ix_args(struct shlog_enc *e, struct enc_site_ix *six,
                                              const struct arg_plan *pl, const uint8_t *a, int fresh)
{
    uint32_t literals = pl->shape.nstr ? e->ix.literals : 0;
    for (unsigned i = 0; i < six->walk; i++) {
        unsigned op = pl->op[i];
        switch (op) {
        case OP_STR: {
            size_t n = (a[0] | a[1] << 8) & SHMLOG_STR_LEN_MASK;
            if (fresh || (literals >> i & 1)) {
                if (six->prefix[i])
                    ix_add(e, shlog__ix_text(six->prefix[i], a + 2, n));
                shlog__ix_words(a + 2, n, ix_add_word, e);
            }
            a += 2 + n;
            continue;
        }
        case OP_F64: /* never a key (ix_site_new) */
            a += 8;
            continue;
        case OP_F32:
            a += 4;
            continue;
        default:
            a += op;
        }
    }
}

/* A trace record (SHMLOG_REC_TRACE) of the batch's process into the open
 * frame's traces, as a reader takes it (FORMAT.md, "Trace context"): from
 * its payload as stored raw, or from its values when its site's arguments
 * are the trace site's (two 64-bit integers and a string, which decode to
 * the payload's bytes); a site of three other arguments the entry cannot
 * restate. */
__attribute__((noinline)) static void ix_trace_record(struct shlog_enc *e, const struct enc_site *s, enum enc_how how,
                                                      const uint8_t *payload, size_t len, uint32_t tid)
{
    struct enc_index *x = &e->ix;
    if (s && how == HOW_CODED) {
        if (s->plan.nargs != 3)
            return; /* a reader finds no three values in it: it changes nothing */
        if (s->plan.op[0] != OP_INT64 || s->plan.op[1] != OP_INT64 || s->plan.op[2] != OP_STR) {
            x->traces_unknown = 1;
            return;
        }
    }
    uint64_t hi, lo;
    const uint8_t *span;
    size_t n;
    if (shm_trace_payload(payload, len, &hi, &lo, &span, &n) != 0)
        return;
    if (hi || lo)
        ix_add(e, shlog__ix_trace_key(hi, lo));
    uint32_t i = 0;
    while (i < x->ntraces && (x->traces[i].tid != tid || x->traces[i].proc != e->batch_proc))
        i++;
    if (i == IX_MAX_TRACES) {
        x->traces_unknown = 1;
        return;
    }
    if (i == x->ntraces)
        x->ntraces++;
    struct ix_trace *t = &x->traces[i];
    *t = (struct ix_trace){.proc = e->batch_proc, .tid = tid, .hi = hi, .lo = lo, .span_len = (uint8_t)n};
    memcpy(t->span, span, n);
}

/* A record into the open frame's summary. */
static inline void ix_record(struct shlog_enc *e, struct enc_site *s, enum enc_how how, const uint8_t *payload,
                             size_t len, uint64_t tsc, unsigned level, unsigned category, unsigned flags, uint32_t tid)
{
    struct enc_index *x = &e->ix;
    if (__builtin_expect(flags & SHMLOG_REC_TRACE, 0))
        ix_trace_record(e, s, how, payload, len, tid);
    if (tid != x->last_tid) { /* a ring's records are mostly one thread's: one key a run of them */
        x->last_tid = tid;
        ix_add(e, shlog__ix_number(x->tid_prefix, tid));
    }
    x->tsc_min = tsc < x->tsc_min ? tsc : x->tsc_min;
    x->tsc_max = tsc > x->tsc_max ? tsc : x->tsc_max;
    x->batch_tsc_max = tsc > x->batch_tsc_max ? tsc : x->batch_tsc_max;
    x->levels |= 1u << (level < 7 ? level : 7);
    x->categories |= (uint64_t)(category < 64) << (category & 63);
    if (!s || how != HOW_CODED) {
        x->words_unknown = 1;
        return;
    }
    struct enc_site_ix *six = s->ix;
    int fresh = six->frame != x->frame + 1;
    if (fresh) {
        six->frame = x->frame + 1;
        x->words_unknown |= !six->words_whole;
        for (uint32_t i = 0; i < six->nkeys; i++)
            ix_add(e, six->keys[i]);
        x->grams_over |= six->grams_over;
        if (six->group != x->blocks + 1) {
            six->group = x->blocks + 1;
            for (uint32_t i = 0; i < six->ngrams; i++)
                ix_add_gram(x, six->keys[six->nkeys + i]);
        }
    }
    if (six->subject >= 0) { /* the one number that is a key, past the strings before it */
        unsigned i = (unsigned)six->subject, op = s->plan.op[i];
        const uint8_t *a = payload;
        for (unsigned k = 0; k < six->strs_before; k++) {
            a += six->str_skip[k];
            a += 2 + ((a[0] | a[1] << 8) & SHMLOG_STR_LEN_MASK);
        }
        a += six->subject_at;
        uint64_t v;
        switch (op) {
        INT_ARG_CASES(v, op, a)
        }
        /* sign-extended: the value as a signed 64-bit number */
        v = (uint64_t)((int64_t)(v << six->subject_extend) >> six->subject_extend);
        ix_range_note(e, six, i, v);
    }
    /* the strings' keys (a string the batch's table held was added before) */
    if (six->has_str && (fresh || e->ix.literals))
        ix_args(e, six, &s->plan, payload, fresh);
}

/* How a record of a site in mode is stored, with *used the payload bytes its
 * arguments take (shmlog_args.h says how they lie). */
static inline enum enc_how enc_how_of(const struct enc_site *s, enum enc_mode mode, const struct enc_payload *pay,
                                      size_t *used)
{
    if (mode == MODE_NUMERIC) {
        *used = s->plan.shape.fixed;
        return HOW_CODED;
    }
    if (mode == MODE_UNKNOWN) {
        *used = pay->len;
        return HOW_RAW;
    }
    if (mode == MODE_LOST)
        return HOW_LOST;
    *used = shmlog_args_measure(&s->plan.shape, pay->p, pay->len);
    if (*used == SHMLOG_ARGS_BAD)
        return HOW_LOST;
    if (mode == MODE_RAW)
        *used = pay->len;
    return mode == MODE_RAW ? HOW_RAW : HOW_CODED;
}

/* A record's arguments into the args column at p, as enc_how_of decided. */
static inline uint8_t *enc_put_args(struct shlog_enc *e, struct enc_site *s, enum enc_mode mode, enum enc_how how,
                                    const struct enc_payload *pay, size_t used, uint8_t *p)
{
    if (how == HOW_RAW) {
        p = put_varint(p, used);
        memcpy(p, pay->p, used);
        return p + used;
    }
    if (mode == MODE_NUMERIC)
        return enc_numeric_args(s, pay, p);
    return enc_args(e, s, pay, p);
}

/* The record of n slots at pos was not encoded: for the caller to write as
 * a loss (shlog_enc_take_loss). */
static void enc_lost(struct shlog_enc *e, uint64_t pos, unsigned nslots)
{
    e->lost = (struct shm_loss){.first_pos = pos, .positions = nslots, .records = 1, .reason = SHM_LOSS_UNENCODABLE};
    e->lost_why = "its payload does not hold its call site's arguments";
}

int shlog_enc_take_loss(struct shlog_enc *e, struct shm_loss *l, const char **why)
{
    if (!e->lost_why)
        return 0;
    *l = e->lost;
    if (why)
        *why = e->lost_why;
    e->lost_why = NULL;
    return 1;
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

/* One record into the columns at k, which have room for it: 0, or 1 when it
 * could not be encoded (enc_lost; nothing of it is written, and the next
 * record's gap passes over its positions). */
static inline int enc_put(struct shlog_enc *e, struct enc_cursor *k, const struct enc_head *h,
                          const struct enc_payload *pay)
{
    if (h->site != k->site_id || !k->known) {
        k->known = enc_lookup_site(e, h->site);
        k->site_id = h->site;
    }
    struct enc_site *s = k->known;
    enum enc_mode mode = enc_site_mode(s, pay->len);
    size_t used = 0;
    enum enc_how how = enc_how_of(s, mode, pay, &used);
    if (how == HOW_LOST) {
        enc_lost(e, h->pos, h->nslots);
        return 1;
    }
    if (s)
        site_ctx_claim(&s->plan, s->ctx, &s->ctx_gen, e->batch_gen);
    k->gap = put_varint(k->gap, h->pos - k->expected_pos);
    k->expected_pos = h->pos + h->nslots;
    enc_put_who_when(k, h->tsc, h->site, h->tid);
    k->attr = put_varint(k->attr, enc_attr(h->level, h->category, h->flags, how == HOW_RAW));
    k->args = enc_put_args(e, s, mode, how, pay, used, k->args);
    ix_record(e, s, how, pay->p, pay->len, h->tsc, h->level, h->category, h->flags, h->tid);
    /* The slots follow from the bytes the arguments take, but for records
     * that reserved more: stored as the difference. */
    *k->nslots++ = (uint8_t)(h->nslots - shmlog_slots_for_payload(used));
    return 0;
}

/* The batch's first record sets what the others are told against. */
static void enc_batch_first(struct shlog_enc *e, uint64_t pos, uint64_t tsc)
{
    e->first_pos = e->expected_pos = e->batch_from <= pos ? e->batch_from : pos;
    e->base_tsc = e->prev_tsc = tsc;
    e->prev_tid = 0;
}

int shlog_enc_record(struct shlog_enc *e, const struct shm_copied_record *r)
{
    e->lost_why = NULL;
    if (!e->batch_open)
        return -EINVAL;
    if (e->batch_count >= SHLOG_MAX_BATCH_RECORDS)
        return -ENOSPC;
    if (e->batch_count == 0)
        enc_batch_first(e, r->pos, r->tsc);
    if (r->nslots < 1) /* at most SHMLOG_MAX_SLOTS: a byte */
        return -EINVAL;
    struct enc_cursor k;
    if (enc_cursor_open(e, &k, 1))
        return -ENOMEM;
    struct enc_head h = {r->pos, r->tsc, r->site, r->tid, r->level, r->category, r->flags, r->nslots};
    struct enc_payload pay = {r->payload, r->payload_len < SHMLOG_MAX_PAYLOAD ? r->payload_len : SHMLOG_MAX_PAYLOAD,
                              r->payload + sizeof(r->payload)};
    int lost = enc_put(e, &k, &h, &pay);
    enc_cursor_close(e, &k, !lost);
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
 * enc_args inlined into the loop keeps the cursor in registers. Returns the
 * records taken: all n, or up to and with one it could not encode
 * (enc_lost), whose slot the next record's gap passes over. */
__attribute__((flatten, noinline)) static size_t enc_one_slot_run(struct shlog_enc *e, const struct shmlog_record *slots,
                                                        size_t n, uint64_t pos)
{
    for (size_t done = 0; done < n;) {
        /* in parts, so the room reserved stays that of a few records */
        unsigned part = n - done < COL_ROOM_RECORDS ? (unsigned)(n - done) : COL_ROOM_RECORDS;
        struct enc_cursor k;
        if (enc_cursor_open(e, &k, part))
            return done;
        uint8_t *gap_from = k.gap;
        k.gap = put_varint(k.gap, pos + done - k.expected_pos);
        uint8_t *gap_zeros = k.gap;
        memset(k.gap, 0, part - 1);
        k.gap += part - 1;
        memset(k.nslots, 0, part);
        k.nslots += part;
        k.expected_pos = pos + done + part;
        uint32_t site_id = 0, attr_of = 0;
        struct enc_site *s = NULL;
        enum enc_mode mode = MODE_UNKNOWN;
        unsigned attr = 0;
        for (unsigned i = 0; i < part; i++) {
            const struct shmlog_record *r = &slots[done + i];
            /* nslots (1 here), level, category and flags in one load; 0 is
             * never the word, so it stands for "not worked out" */
            uint32_t head;
            memcpy(&head, &r->nslots, sizeof head);
            if (!s || r->site != site_id) {
                s = enc_lookup_site(e, r->site);
                site_id = r->site;
                mode = enc_site_mode(s, SHMLOG_HEAD_PAYLOAD);
                if (s)
                    site_ctx_claim(&s->plan, s->ctx, &s->ctx_gen, e->batch_gen);
                attr_of = 0; /* not needed; without it gcc 12 spills more registers in this loop */
            }
            struct enc_payload pay = {r->payload, SHMLOG_HEAD_PAYLOAD, r->payload + SHMLOG_HEAD_PAYLOAD};
            size_t used;
            enum enc_how how = enc_how_of(s, mode, &pay, &used);
            if (__builtin_expect(how == HOW_LOST, 0)) {
                /* what the run wrote for the records after this one goes */
                k.gap = i ? gap_zeros + (i - 1) : gap_from;
                k.nslots -= part - i;
                k.expected_pos = pos + done + i;
                enc_cursor_close(e, &k, i);
                enc_lost(e, pos + done + i, 1);
                return done + i + 1;
            }
            enc_put_who_when(&k, r->tsc, r->site, r->tid);
            if (head != attr_of) {
                attr = enc_attr(r->level, r->category, r->flags, 0);
                attr_of = head;
            }
            k.attr = put_varint(k.attr, attr | (how == HOW_RAW ? ATTR_RAW : 0));
            k.args = enc_put_args(e, s, mode, how, &pay, used, k.args);
            ix_record(e, s, how, pay.p, pay.len, r->tsc, r->level, r->category, r->flags, r->tid);
        }
        enc_cursor_close(e, &k, part);
        done += part;
    }
    return n;
}

/* A run of records of several slots each, in n slots from ring position pos
 * (their counts checked by the caller), with room in the batch for them:
 * each payload gathered from its slots, then coded. Apart from the one-slot
 * loop, whose registers the gathering would take. Returns the slots taken:
 * all n, or up to and with a record it could not encode (enc_lost). */
__attribute__((flatten, noinline)) static size_t enc_multi_slot_run(struct shlog_enc *e,
                                                                    const struct shmlog_record *slots, size_t n,
                                                                    uint64_t pos)
{
    for (size_t done = 0; done < n;) {
        unsigned part = n - done < COL_ROOM_RECORDS ? (unsigned)(n - done) : COL_ROOM_RECORDS;
        struct enc_cursor k;
        if (enc_cursor_open(e, &k, part))
            return done;
        unsigned records = 0;
        for (; records < part && done < n; records++) {
            const struct shmlog_record *r = &slots[done];
            unsigned nslots = r->nslots;
            uint8_t whole[SHMLOG_MAX_PAYLOAD];
            size_t len = shm_record_payload(whole, r, nslots);
            struct enc_head h = {pos + done, r->tsc, r->site, r->tid, r->level, r->category, r->flags, nslots};
            struct enc_payload pay = {whole, len, whole + sizeof(whole)};
            done += nslots;
            if (enc_put(e, &k, &h, &pay)) {
                enc_cursor_close(e, &k, records);
                return done;
            }
        }
        enc_cursor_close(e, &k, records);
    }
    return n;
}

long shlog_enc_slots(struct shlog_enc *e, const struct shmlog_record *slots, size_t n, uint64_t pos)
{
    if (!e->batch_open)
        return -EINVAL;
    e->lost_why = NULL;
    if (!n)
        return 0;
    if (e->batch_count >= SHLOG_MAX_BATCH_RECORDS)
        return -ENOSPC;
    size_t done = 0;
    while (done < n && e->batch_count < SHLOG_MAX_BATCH_RECORDS && !e->lost_why) {
        if (e->batch_count == 0)
            enc_batch_first(e, pos + done, slots[done].tsc);
        unsigned k = slots[done].nslots;
        size_t room = SHLOG_MAX_BATCH_RECORDS - e->batch_count, run = 1, span = k, took = 0;
        if (k == 1) {
            while (done + run < n && run < room && slots[done + run].nslots == 1)
                run++;
            took = enc_one_slot_run(e, slots + done, run, pos + done);
        } else if (k > 1 && k <= SHMLOG_MAX_SLOTS && k <= n - done) {
            for (unsigned m; done + span < n && run < room; span += m, run++) {
                m = slots[done + span].nslots;
                if (m < 2 || m > SHMLOG_MAX_SLOTS || m > n - done - span)
                    break; /* one slot: the other loop's; a bad count: -EINVAL when it comes first */
            }
            took = enc_multi_slot_run(e, slots + done, span, pos + done);
        } else {
            /* slot counts that do not tile: not what shm_ring_take copies */
            return done ? (long)done : -EINVAL;
        }
        if (!took)
            return done ? (long)done : -ENOMEM;
        done += took;
    }
    return (long)done;
}

/* A batch sealed into the open frame: its ring's last and most TSC, or a
 * mixed frame (a backtrace is ordered by its trigger, not its TSCs). */
static void ix_batch_ring(struct enc_index *x, int backtrace, uint32_t proc, uint32_t cpu, uint64_t last_tsc)
{
    uint32_t i = 0;
    while (i < x->nrings && (x->rings[i].proc != proc || x->rings[i].cpu != cpu))
        i++;
    if (backtrace || i == IX_MAX_RINGS) {
        x->mixed = 1;
        return;
    }
    if (i == x->nrings)
        x->rings[x->nrings++] = (struct ix_ring){proc, cpu, last_tsc, x->batch_tsc_max};
    x->rings[i].last_tsc = last_tsc;
    if (x->batch_tsc_max > x->rings[i].max_tsc)
        x->rings[i].max_tsc = x->batch_tsc_max;
}

int shlog_enc_batch_end(struct shlog_enc *e)
{
    if (!e->batch_open)
        return -EINVAL;
    e->batch_open = 0;
    if (!e->batch_count)
        return 0;
    uint8_t hdr[6 * VARINT_MAX];
    uint8_t *h = hdr;
    if (e->batch_backtrace) /* then a BATCH's body */
        h = put_varint(h, e->order_tsc);
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
    *p++ = e->batch_backtrace ? SHLOG_SEC_BACKTRACE : SHLOG_SEC_BATCH;
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
    ix_batch_ring(&e->ix, e->batch_backtrace, e->batch_proc, e->batch_cpu, e->prev_tsc);
    return 0;
}

void shlog_enc_frame_mixed(struct shlog_enc *e)
{
    e->ix.mixed = 1;
}

/* ==== Frames ==== */

size_t shlog_enc_raw_bytes(const struct shlog_enc *e)
{
    size_t n = e->defs.len + e->raw.len;
    if (e->batch_open)
        for (int i = 0; i < NCOLS; i++)
            n += e->col[i].len + VARINT_MAX;
    return n;
}

uint64_t shlog_enc_frame_records(const struct shlog_enc *e)
{
    return e->frame_records + (e->batch_open ? e->batch_count : 0);
}

/* The index frame of the pending entries, and of one more of a frame of
 * frame_bytes when that is not 0: its filter takes at most 4 % of them
 * (ix_entry_pend), or one block; and the group filter. */
static size_t ix_frame_bound(const struct shlog_enc *e, size_t frame_bytes)
{
    /* the summaries (count, entries, group_blocks) as zstd may make them, the coding and their size before */
    size_t summaries = 3 * VARINT_MAX + e->ix.pending.len + (frame_bytes ? IX_ENTRY_MAX(1) : 0);
    return SHLOG_FRAME_PREFIX_BYTES + 8 + IX_HEAD3_BYTES + 1 + VARINT_MAX + ZSTD_compressBound(summaries) +
           e->ix.pending_filters.len + (frame_bytes ? frame_bytes / 25 : 0) + 4 + 4 +
           (IX_GROUP_BLOCKS + IX_GRAM_BLOCKS) * IX_BLOCK_BYTES + IX_TRAILER_BYTES;
}

size_t shlog_enc_frame_bound(const struct shlog_enc *e)
{
    size_t frame = SHLOG_FRAME_PREFIX_BYTES + ZSTD_compressBound(e->defs.len + e->raw.len);
    return frame + ix_frame_bound(e, frame);
}

/* ==== The index: an entry per frame, an index frame every few ==== */

/* A wall time of tsc from an anchor, at the writer's rate. */
static uint64_t ix_ns_of(const struct shm_clock_anchor *a, uint64_t hz_q16, uint64_t tsc)
{
    double ns = (double)a->ns + ((double)(int64_t)(tsc - a->tsc)) * 1e9 * 65536.0 / (double)hz_q16;
    return !(ns > 0) ? 0 : ns >= 1.8e19 ? UINT64_MAX : (uint64_t)ns; /* NaN too: 0 */
}

/* Where the open frame's records lie in wall time: *lo, *hi; 0 when not
 * known (no clock, a step of it in the frame, a rate of 0). */
static int ix_time(const struct enc_index *x, uint64_t *lo, uint64_t *hi)
{
    if (x->clock_known && !x->frame_stepped && x->hz_q16) {
        /* mapped from the frame's first anchor and its last: a reader's
         * mapping, between them, lies within */
        const struct shm_clock_anchor *from = x->frame_anchored ? &x->first : &x->last;
        uint64_t a = ix_ns_of(from, x->hz_q16, x->tsc_min), b = ix_ns_of(&x->last, x->hz_q16, x->tsc_min);
        uint64_t c = ix_ns_of(from, x->hz_q16, x->tsc_max), d = ix_ns_of(&x->last, x->hz_q16, x->tsc_max);
        *lo = a < b ? a : b;
        *hi = c > d ? c : d;
        return *lo <= *hi;
    }
    if (!x->clock_known && x->calib && x->calib->tsc_hz && x->calib->tsc_hz < 1ull << 47) {
        struct shm_clock_anchor own = {.tsc = x->calib->anchor_tsc, .ns = x->calib->anchor_ns};
        *lo = ix_ns_of(&own, x->calib->tsc_hz << 16, x->tsc_min);
        *hi = ix_ns_of(&own, x->calib->tsc_hz << 16, x->tsc_max);
        return *lo <= *hi;
    }
    return 0;
}

/* A Bloom filter folded in place (block 2j and 2j + 1 into j: the block of
 * a hash is its high bits) while folding leaves it at most fill_most full
 * and down to at most max_blocks: the blocks it keeps. */
static uint32_t ix_fold_to(uint32_t *w, uint32_t n, uint32_t max_blocks, double fill_most)
{
    uint64_t set = 0;
    for (size_t i = 0; i < (size_t)n * 8; i++)
        set += ix_popcount64(w[i]);
    while (n > 1) {
        double fill = (double)set / ((double)n * 256.0);
        double folded = 1.0 - (1.0 - fill) * (1.0 - fill);
        if (n <= max_blocks && folded > fill_most)
            break;
        n /= 2;
        set = 0;
        for (uint32_t j = 0; j < n; j++)
            for (int k = 0; k < 8; k++) {
                w[8 * j + k] = w[16 * j + k] | w[16 * j + 8 + k];
                set += ix_popcount64(w[8 * j + k]);
            }
    }
    return set ? n : 0;
}

/* A frame's filter and its group's: folded while at most 40 % full. */
static uint32_t ix_fold(uint32_t *w, uint32_t n, uint32_t max_blocks)
{
    return ix_fold_to(w, n, max_blocks, 0.4);
}

/* The most blocks, a power of two up to most, that take at most bytes. */
static uint32_t ix_blocks_within(uint64_t bytes, uint32_t most)
{
    uint32_t blocks = 1;
    while (blocks * 2 <= most && (uint64_t)blocks * 2 * IX_BLOCK_BYTES <= bytes)
        blocks *= 2;
    return blocks;
}

/* The open frame's keys into the group filter: its working filter folded
 * to the group's blocks on the way (a key's block is the high bits of its
 * hash, so block b of w blocks is block b / (w / g) of g). */
static void ix_group_add(struct enc_index *x)
{
    uint32_t per = x->work_blocks / IX_GROUP_BLOCKS;
    for (uint32_t b = 0; b < x->work_blocks; b++)
        for (int k = 0; k < 8; k++)
            x->group[8 * (b / per) + k] |= x->bloom[8 * b + k];
    x->group_frames++;
}

/* The share of the bits of a filter of blocks at w that are set. */
static double ix_fill(const uint32_t *w, uint32_t blocks)
{
    uint64_t set = 0;
    for (size_t i = 0; i < (size_t)blocks * 8; i++)
        set += ix_popcount64(w[i]);
    return (double)set / ((double)blocks * 256.0);
}

/* The group filter folded to at most 4 % of its frames' bytes, like a
 * frame's; 0 blocks (none) when that is less than a block, when one frame's
 * own says as much, or when it would say "maybe" to most keys anyway. */
static uint32_t ix_group_seal(struct enc_index *x)
{
    if (x->group_frames < 2 || x->group_bytes / 25 < IX_BLOCK_BYTES)
        return 0;
    uint32_t blocks = ix_fold(x->group, IX_GROUP_BLOCKS, ix_blocks_within(x->group_bytes / 25, IX_GROUP_BLOCKS));
    return blocks && ix_fill(x->group, blocks) <= IX_GROUP_MAX_FILL ? blocks : 0;
}

/* Version 8: the gram filter folded (IX_GRAM_BLOCKS), its blocks; 0 when
 * it has no gram or says "maybe" to too many. */
static uint32_t ix_gram_seal(struct enc_index *x)
{
    if (!x->grams_dirty || x->grams_over)
        return 0;
    uint32_t blocks = ix_fold_to(x->grams, IX_GRAM_BLOCKS, ix_blocks_within(x->group_bytes / IX_GRAM_SHARE, IX_GRAM_BLOCKS),
                                 IX_GRAM_FOLD_FILL);
    return blocks && ix_fill(x->grams, blocks) <= IX_GRAM_MAX_FILL ? blocks : 0;
}

/* The open frame's summary forgotten: the next frame starts one, with a
 * filter of twice the blocks the last one kept. */
static void ix_frame_reset(struct enc_index *x, uint32_t kept_blocks)
{
    if (x->bloom_dirty)
        memset(x->bloom, 0, (size_t)x->work_blocks * IX_BLOCK_BYTES);
    x->bloom_dirty = 0;
    x->work_blocks = kept_blocks * 2 < IX_WORK_MIN_BLOCKS ? IX_WORK_MIN_BLOCKS
                     : kept_blocks * 2 > IX_WORK_BLOCKS   ? IX_WORK_BLOCKS
                                                          : kept_blocks * 2;
    x->tsc_min = UINT64_MAX;
    x->tsc_max = 0;
    x->levels = 0;
    x->categories = 0;
    x->npids = 0;
    x->nranges = 0;
    x->frame_anchored = x->frame_stepped = 0;
    x->last_tid = UINT64_MAX;
    x->mixed = 0;
    x->clock.len = 0;
    x->nrings = 0;
    x->ntraces = 0;
    x->traces_unknown = 0;
    x->words_unknown = 0;
    x->frame++;
}

/* The entry of the frame just sealed (n bytes at d, records of them) into
 * the pending ones. 0 or -ENOMEM. */
static int ix_entry_pend(struct shlog_enc *e, const uint8_t *d, size_t n, uint64_t records)
{
    struct enc_index *x = &e->ix;
    struct ix_entry en = {.offset = x->next_off, .bytes = n, .prefix_check = get_u32le(d + 12),
                          .raw_bytes = get_u32le(d + 8), .records = records};
    if (records) {
        en.tsc_min = x->tsc_min;
        en.tsc_max = x->tsc_max;
        en.flags = (ix_time(x, &en.ns_min, &en.ns_max) ? IX_TIME : 0) | IX_TIDS | (x->traces_unknown ? 0 : IX_TRACES) |
                   (x->words_unknown ? 0 : IX_WORDS);
        en.levels = (uint8_t)x->levels;
        en.categories = x->categories;
        en.npids = x->npids;
        memcpy(en.pids, x->pids, sizeof(en.pids));
        en.nranges = x->nranges;
        for (uint32_t i = 0; i < x->nranges; i++) {
            en.ranges[i] = x->ranges[i];
            en.ranges[i].min ^= (uint64_t)en.ranges[i].is_signed << 63;
            en.ranges[i].max ^= (uint64_t)en.ranges[i].is_signed << 63;
        }
        /* at most 4 % of the frame's bytes (a power of two of blocks), as
         * ix_frame_bound counts; 2 % of a small one's, which a slow host
         * seals by age: its index frame's group filter holds its keys too */
        uint32_t max_blocks = ix_blocks_within(n < IX_SMALL_FRAME ? n / 50 : n / 25, IX_WORK_BLOCKS);
        if (x->bloom_dirty)
            ix_group_add(x);
        en.bloom_blocks = x->bloom_dirty ? ix_fold(x->bloom, x->work_blocks, max_blocks) : 0;
        x->kept_blocks = en.bloom_blocks;
        if (en.bloom_blocks && ix_fill(x->bloom, en.bloom_blocks) > IX_OWN_MAX_FILL) {
            en.flags |= IX_GROUPED;
            en.bloom_blocks = 0;
        }
        en.bloom = (const uint8_t *)x->bloom;
        if (!x->mixed && x->nrings) {
            en.flags |= IX_PLAIN;
            en.nrings = x->nrings;
            memcpy(en.rings, x->rings, x->nrings * sizeof(*x->rings));
            en.clock_bytes = (uint32_t)x->clock.len;
            en.clock = x->clock.p;
        }
        en.ntraces = x->ntraces;
        memcpy(en.traces, x->traces, x->ntraces * sizeof(*x->traces));
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
        for (size_t i = 0; i < (size_t)en.bloom_blocks * 8; i++)
            put_u32le((uint8_t *)&x->bloom[i], x->bloom[i]);
#endif
    }
    size_t filter = (size_t)en.bloom_blocks * IX_BLOCK_BYTES;
    if (buf_reserve(&x->pending, IX_ENTRY_MAX(0)) || buf_reserve(&x->pending_filters, filter) ||
        buf_reserve(&x->summaries, x->pending.len + IX_ENTRY_MAX(0) + 3 * VARINT_MAX))
        return -ENOMEM;
    uint8_t *end = shlog__ix_entry_put(x->pending.p + x->pending.len, &en, &x->prev);
    if (!end) { /* anchors the entry cannot hold: the frame is read */
        en.flags &= (uint8_t)~IX_PLAIN;
        end = shlog__ix_entry_put(x->pending.p + x->pending.len, &en, &x->prev);
    }
    x->pending.len = (size_t)(end - x->pending.p);
    if (filter) /* a frame of no keys has no filter (and no pointer to one) */
        memcpy(x->pending_filters.p + x->pending_filters.len, en.bloom, filter);
    x->pending_filters.len += filter;
    x->npending++;
    x->next_off += n;
    x->group_bytes += n;
    return 0;
}

/* The n bytes of summaries at p (version 6): u8 1, varint n, a zstd frame
 * of them; or u8 0 and them as they are, when zstd fails. After them. */
static uint8_t *ix_summaries_put(struct enc_index *x, uint8_t *p, size_t n)
{
    uint8_t *z = put_varint(p + 1, n);
    int level = n <= IX_SMALL_SUMMARIES ? IX_SMALL_SUMMARIES_LEVEL : IX_SUMMARIES_LEVEL;
    size_t got = ZSTD_isError(ZSTD_CCtx_setParameter(x->zctx, ZSTD_c_compressionLevel, level))
                     ? (size_t)-1
                     : ZSTD_compress2(x->zctx, z, ZSTD_compressBound(n), x->summaries.p, n);
    if (!ZSTD_isError(got)) {
        *p = IX_SUMMARIES_ZSTD;
        return z + got;
    }
    *p = IX_SUMMARIES_PLAIN;
    memcpy(p + 1, x->summaries.p, n);
    return p + 1 + n;
}

/* Whether the pending entries make an index frame now (shlog_file.h,
 * SHLOG_INDEX_EVERY). */
static int ix_group_full(const struct enc_index *x)
{
    return x->npending >= SHLOG_INDEX_EVERY_MOST ||
           (x->npending >= SHLOG_INDEX_EVERY && x->group_bytes >= SHLOG_INDEX_GROUP_BYTES);
}

/* The first blocks of filter w at p, little-endian: after them. */
static uint8_t *ix_filter_out(uint8_t *p, uint32_t *w, uint32_t blocks)
{
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    for (size_t i = 0; i < (size_t)blocks * 8; i++)
        put_u32le((uint8_t *)&w[i], w[i]);
#endif
    memcpy(p, w, (size_t)blocks * IX_BLOCK_BYTES);
    return p + (size_t)blocks * IX_BLOCK_BYTES;
}

/* An index frame of the pending entries at d (room: ix_frame_bound), a
 * footer with the trailer when kind says: its bytes. */
static size_t ix_frame_put(struct shlog_enc *e, uint8_t *d, unsigned kind)
{
    struct enc_index *x = &e->ix;
    uint8_t *pay = d + SHLOG_FRAME_PREFIX_BYTES + 8, *p = pay;
    put_u32le(p, IX_MAGIC);
    p[4] = SHLOG_INDEX_VERSION;
    p[5] = (uint8_t)kind;
    p[6] = p[7] = 0;
    put_u64le(p + 8, x->last_block);
    uint8_t *summaries = p + IX_HEAD_BYTES;
    uint8_t *raw = put_varint(x->summaries.p, x->npending);
    if (x->pending.len) /* a footer of no entries has none */
        memcpy(raw, x->pending.p, x->pending.len);
    uint32_t group_blocks = ix_group_seal(x), gram_blocks = ix_gram_seal(x);
    raw = put_varint(raw + x->pending.len, group_blocks);
    raw = put_varint(raw, gram_blocks);
    p = ix_summaries_put(x, p + IX_HEAD3_BYTES, (size_t)(raw - x->summaries.p));
    put_u32le(summaries, (uint32_t)(p + 4 - summaries - 4));
    put_u32le(p, fnv1a32(pay, (size_t)(p - pay)));
    p += 4;
    uint8_t *filters = p;
    if (x->pending_filters.len)
        memcpy(p, x->pending_filters.p, x->pending_filters.len);
    p += x->pending_filters.len;
    p = ix_filter_out(p, x->group, group_blocks);
    memset(x->group, 0, (size_t)IX_GROUP_BLOCKS * IX_BLOCK_BYTES);
    p = ix_filter_out(p, x->grams, gram_blocks);
    if (x->grams_dirty)
        memset(x->grams, 0, (size_t)IX_GRAM_BLOCKS * IX_BLOCK_BYTES);
    x->grams_dirty = 0;
    x->grams_over = 0;
    x->group_frames = 0;
    x->group_bytes = 0;
    put_u32le(p, fnv1a32(filters, (size_t)(p - filters)));
    p += 4;
    size_t total = (size_t)(p - d) + (kind == IX_KIND_FOOTER ? IX_TRAILER_BYTES : 0);
    if (kind == IX_KIND_FOOTER) {
        put_u64le(p, x->next_off);
        put_u64le(p + 8, x->next_off + total);
        put_u32le(p + 16, x->blocks + 1);
        put_u32le(p + 20, SHLOG_INDEX_VERSION);
        put_u32le(p + 24, fnv1a32(p, 24));
        put_u32le(p + 28, IX_TRAILER_MAGIC);
        p += IX_TRAILER_BYTES;
    }
    put_u32le(d + SHLOG_FRAME_PREFIX_BYTES, IX_SKIPPABLE_MAGIC);
    put_u32le(d + SHLOG_FRAME_PREFIX_BYTES + 4, (uint32_t)(p - pay));
    shlog__frame_prefix_put(d, (uint32_t)(p - d - SHLOG_FRAME_PREFIX_BYTES), 0);
    x->last_block = x->next_off;
    x->blocks++;
    x->next_off += total;
    x->pending.len = 0;
    x->pending_filters.len = 0;
    x->npending = 0;
    x->prev = (struct ix_prev){0};
    return total;
}

size_t shlog_enc_footer_bound(const struct shlog_enc *e)
{
    return ix_frame_bound(e, 0);
}

long shlog_enc_footer(struct shlog_enc *e, void *dst, size_t cap)
{
    if (e->batch_open || e->defs.len || e->raw.len)
        return -EBUSY;
    if (cap < ix_frame_bound(e, 0))
        return -ENOSPC;
    return (long)ix_frame_put(e, dst, IX_KIND_FOOTER);
}

/* Compresses all of in into out, and then, as how says, nothing more
 * (ZSTD_e_continue), ends its block (ZSTD_e_flush) or the frame (ZSTD_e_end).
 * 0, or a zstd error (out is too small). */
static size_t compress_part(ZSTD_CCtx *cctx, ZSTD_outBuffer *out, ZSTD_inBuffer *in, ZSTD_EndDirective how)
{
    size_t left;
    int done;
    do {
        left = ZSTD_compressStream2(cctx, out, in, how);
        done = how == ZSTD_e_continue ? in->pos == in->size : left == 0;
    } while (!ZSTD_isError(left) && !done && out->pos < out->size);
    if (ZSTD_isError(left))
        return left;
    return done ? 0 : (size_t)-ZSTD_error_dstSize_tooSmall;
}

/* ZSTD_c_stableInBuffer on or off for the next frame, where this libzstd has it. */
static void enc_stable_in(struct shlog_enc *e, int on)
{
    if (e->stable_in >= 0 && e->stable_in != on &&
        !ZSTD_isError(ZSTD_CCtx_setParameter(e->cctx, ZSTD_c_stableInBuffer, on)))
        e->stable_in = on;
}

/* The open frame, sealed or discarded, forgotten: the next one starts empty. */
static void enc_frame_forget(struct shlog_enc *e)
{
    ix_frame_reset(&e->ix, e->ix.kept_blocks);
    e->defs.len = 0;
    if (e->defs.cap > DEFS_KEPT_BYTES)
        buf_free(&e->defs);
    e->raw.len = 0;
    e->frame_records = 0;
}

long shlog_enc_frame(struct shlog_enc *e, void *dst, size_t cap)
{
    if (e->batch_open)
        return -EBUSY;
    size_t raw_bytes = e->defs.len + e->raw.len;
    if (!raw_bytes)
        return 0;
    long rc;
    if (raw_bytes > SHLOG_MAX_FRAME_RAW) {
        rc = -E2BIG;
        goto out;
    }
    if (cap < shlog_enc_frame_bound(e))
        return -ENOSPC;
    uint8_t *d = dst;
    /* One zstd frame: the definitions and the first byte after them end its
     * first block, so that a reader of the sites alone decodes that block and
     * sees where they end (SHLOG_FILE_SITES_FIRST); the rest, to the end. A
     * frame that defines something is read from the two buffers, through
     * zstd's window (copying the definitions in front of the rest would take
     * a second frame's worth of memory in a flood of call sites). */
    ZSTD_outBuffer out = {d + SHLOG_FRAME_PREFIX_BYTES, cap - SHLOG_FRAME_PREFIX_BYTES, 0};
    ZSTD_inBuffer defs = {e->defs.p, e->defs.len, 0}, in = {e->raw.p, e->raw.len ? 1 : 0, 0};
    enc_stable_in(e, !defs.size);
    size_t zr = ZSTD_CCtx_setPledgedSrcSize(e->cctx, raw_bytes);
    if (defs.size)
        zr = ZSTD_isError(zr) ? zr : compress_part(e->cctx, &out, &defs, ZSTD_e_continue);
    zr = ZSTD_isError(zr) ? zr : compress_part(e->cctx, &out, &in, ZSTD_e_flush);
    in.size = e->raw.len;
    zr = ZSTD_isError(zr) ? zr : compress_part(e->cctx, &out, &in, ZSTD_e_end);
    if (ZSTD_isError(zr)) {
        ZSTD_CCtx_reset(e->cctx, ZSTD_reset_session_only);
        rc = -EIO;
        goto out;
    }
    shlog__frame_prefix_put(d, (uint32_t)out.pos, (uint32_t)raw_bytes);
    rc = (long)(SHLOG_FRAME_PREFIX_BYTES + out.pos);
    /* The frame's entry, and every SHLOG_INDEX_EVERY frames an index frame
     * of them right after it, in the same bytes (one write). */
    if (ix_entry_pend(e, d, (size_t)rc, e->frame_records)) {
        rc = -ENOMEM;
        goto out;
    }
    if (ix_group_full(&e->ix))
        rc += (long)ix_frame_put(e, d + rc, IX_KIND_BLOCK);
out:
    enc_frame_forget(e);
    return rc;
}

_Static_assert(IX_ENTRY_MAX(1) <= SHLOG_INDEX_ENTRY_BOUND, "shlog_enc_frame_at's bound (shlog_file.h) holds an entry");

long shlog_enc_frame_at(struct shlog_enc *e, const void *prefix, size_t n, uint64_t off, uint64_t at, void *dst,
                        size_t cap)
{
    if (e->batch_open)
        return -EBUSY;
    if (n < SHLOG_FRAME_PREFIX_BYTES || cap < ix_frame_bound(e, n))
        return -ENOSPC;
    long rc = 0;
    e->ix.next_off = off; /* the entry's frame, where it is */
    if (ix_entry_pend(e, prefix, n, e->frame_records)) {
        rc = -ENOMEM;
    } else {
        e->ix.next_off = at; /* the index frames, where the caller appends them */
        if (ix_group_full(&e->ix))
            rc = (long)ix_frame_put(e, dst, IX_KIND_BLOCK);
    }
    enc_frame_forget(e);
    return rc;
}
