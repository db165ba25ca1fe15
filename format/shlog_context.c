/*
 * shlog_context.c - what a frame read apart from its file needs (FORMAT.md,
 * "Frames as messages"): the definitions the file gave before the frame, each
 * as last given, as one frame (the processes and sites first, each kind in the
 * file's order), and the CLOCK sections its records map with as another. A
 * shipper keeps one per file it ships; its cost is a decompression of each
 * frame and a look at the columns that name processes and sites, never a
 * decode of the records.
 */
#include "shlog_coding.h"

#include <zstd.h>

#define DEFS_ZSTD_LEVEL 3 /* a context is made again only when the definitions in effect change */
/* CLOCK sections kept, the newest: about 6 s of 50 ms frames, as many
 * anchors as a reader keeps (FORMAT.md, section 6). */
#define CLOCKS_KEPT 128u

/* One definition of the file: a PROCESS, SITE, CATEGORY or THREAD section, whole. */
struct item {
    uint32_t seq;  /* its place among the file's definitions */
    uint32_t id;   /* this definition's: a new one at the same place has another */
    uint32_t mark; /* the frame that used it last */
    uint32_t proc; /* the process key it is of */
    uint32_t len;
    uint8_t bytes[]; /* type, body length, body */
};

struct used {
    uint32_t named; /* 0 for a PROCESS or SITE: those go first (SHLOG_FILE_SITES_FIRST) */
    uint32_t seq, idx, id;
};

/* A CLOCK section of the file, whole, and the TSC of its first anchor. */
struct clock_kept {
    uint64_t first_tsc;
    struct buf bytes;
};

struct shlog_context {
    ZSTD_DCtx *dctx;
    ZSTD_CCtx *cctx;
    struct buf raw;          /* the frame being read, decompressed */
    struct item **items;     /* every definition in effect */
    size_t nitems, items_cap;
    struct map procs, sites, cats, threads; /* (key, 0), (proc, id), (proc, id), (proc, tid) -> index into items */
    uint32_t *proc_names;    /* indices of the categories' and threads' names, to find a process's */
    size_t nproc_names, proc_names_cap;
    size_t bytes;            /* of the definitions kept */
    uint32_t seq, ids, frame;
    int over;                /* the file went past a bound */
    struct used *used, *last; /* the definitions in this frame's context, and what the cached defs frame holds */
    size_t nused, used_cap, nlast, last_cap;
    struct buf defs;         /* the frame of the definitions in last */
    struct clock_kept clocks[CLOCKS_KEPT]; /* the file's newest CLOCK sections, a ring */
    size_t nclocks, clock_next;
    uint64_t sealed_ns;      /* the last anchor's time of the frame read last, 0 if it had none */
    uint64_t min_tsc;        /* the oldest record's TSC of the frame being read */
    struct buf clock_raw;    /* the CLOCK sections of the context being made */
    struct buf out;          /* what shlog_context_next gives */
};

int shlog_context_new(struct shlog_context **out)
{
    struct shlog_context *c = calloc(1, sizeof(*c));
    if (!c || !(c->dctx = ZSTD_createDCtx()) || !(c->cctx = ZSTD_createCCtx()) ||
        ZSTD_isError(ZSTD_DCtx_setParameter(c->dctx, ZSTD_d_windowLogMax, 27))) {
        shlog_context_free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

void shlog_context_reset(struct shlog_context *c)
{
    for (size_t i = 0; i < c->nitems; i++)
        free(c->items[i]);
    c->nitems = c->nproc_names = c->bytes = 0;
    map_free(&c->procs);
    map_free(&c->sites);
    map_free(&c->cats);
    map_free(&c->threads);
    c->seq = 0;
    c->over = 0;
    c->nlast = 0;
    c->defs.len = 0;
    c->nclocks = c->clock_next = 0;
}

void shlog_context_free(struct shlog_context *c)
{
    if (!c)
        return;
    shlog_context_reset(c);
    free(c->items);
    free(c->proc_names);
    free(c->used);
    free(c->last);
    buf_free(&c->raw);
    buf_free(&c->defs);
    for (size_t i = 0; i < CLOCKS_KEPT; i++)
        buf_free(&c->clocks[i].bytes);
    buf_free(&c->clock_raw);
    buf_free(&c->out);
    ZSTD_freeDCtx(c->dctx);
    ZSTD_freeCCtx(c->cctx);
    free(c);
}

/* ==== Learning the definitions ==== */

/* Keeps the section (type, its body at body..+len) as the definition found
 * under key in m: in place of an earlier one, or new. 0, -E2BIG, -ENOMEM. */
static int learn(struct shlog_context *c, struct map *m, uint64_t k1, uint64_t k2, uint8_t type, uint32_t proc,
                 const uint8_t *body, size_t len)
{
    size_t n = 1 + varint_len(len) + len;
    uint32_t *idx = map_find(m, k1, k2);
    size_t old = idx ? c->items[*idx]->len : 0;
    /* Definitions kept, at most: a reader keeps no more (SHLOG_FILE_MAX_*). */
    if (c->bytes - old + n > SHLOG_FILE_MAX_DEFINITION_BYTES ||
        (!idx && c->nitems >= SHLOG_FILE_MAX_PROCS + SHLOG_FILE_MAX_SITES + SHLOG_FILE_MAX_NAMES))
        return -E2BIG;
    struct item *it = malloc(sizeof(*it) + n);
    if (!it)
        return -ENOMEM;
    /* Defined again: the new bytes at the old place, so a process stays
     * before its sites and categories (the reader keeps them under its key). */
    it->seq = idx ? c->items[*idx]->seq : ++c->seq;
    it->id = ++c->ids;
    it->mark = 0;
    it->proc = proc;
    it->len = (uint32_t)n;
    it->bytes[0] = type;
    memcpy(put_varint(it->bytes + 1, len), body, len);
    if (idx) {
        free(c->items[*idx]);
        c->items[*idx] = it;
    } else {
        uint32_t at = (uint32_t)c->nitems;
        if (shlog__grow_array(&c->items, &c->items_cap, c->nitems, sizeof(*c->items)) ||
            (m != &c->procs && m != &c->sites &&
             shlog__grow_array(&c->proc_names, &c->proc_names_cap, c->nproc_names, sizeof(*c->proc_names))) ||
            shlog__map_insert(m, k1, k2, at)) {
            free(it);
            return -ENOMEM;
        }
        c->items[c->nitems++] = it;
        if (m != &c->procs && m != &c->sites)
            c->proc_names[c->nproc_names++] = at;
    }
    c->bytes += n - old;
    return 0;
}

/* The sections of the frame that define something, learned in order. Stops
 * at damage, as a reader does. */
static int learn_frame(struct shlog_context *c, struct cur sec)
{
    while (sec.p < sec.end) {
        uint8_t type = get_u8(&sec);
        uint64_t len = get_varint(&sec);
        const uint8_t *body = get_bytes(&sec, len);
        if (sec.bad || type == 0)
            return 0;
        if (type != SHLOG_SEC_PROCESS && type != SHLOG_SEC_SITE && type != SHLOG_SEC_CATEGORY &&
            type != SHLOG_SEC_THREAD)
            continue;
        struct cur b = {body, body + len, 0};
        uint64_t proc = get_varint(&b), id = type == SHLOG_SEC_PROCESS ? 0 : get_varint(&b);
        if (b.bad || proc > UINT32_MAX || id > UINT32_MAX)
            return 0;
        int rc = 0;
        if (type == SHLOG_SEC_PROCESS)
            rc = learn(c, &c->procs, proc, 0, type, (uint32_t)proc, body, len);
        else if (type == SHLOG_SEC_SITE)
            rc = learn(c, &c->sites, proc, id, type, (uint32_t)proc, body, len);
        else if (type == SHLOG_SEC_CATEGORY)
            rc = learn(c, &c->cats, proc, id, type, (uint32_t)proc, body, len);
        else /* a thread's name, as the category's, for every frame of its process after it */
            rc = learn(c, &c->threads, proc, id, type, (uint32_t)proc, body, len);
        if (rc == -ENOMEM)
            return rc;
        if (rc) {
            c->over = 1;
            return rc;
        }
    }
    return 0;
}

/* The TSC of a CLOCK section's first anchor (body at p..end), and the wall
 * time of its last in *last_ns. */
static uint64_t clock_anchors(const uint8_t *p, const uint8_t *end, uint64_t *last_ns)
{
    struct cur c = {p, end, 0};
    get_varint(&c); /* hz_q16 */
    get_varint(&c); /* state */
    get_varint(&c); /* esterror_ns */
    get_bytes(&c, get_varint(&c)); /* clocksource */
    uint64_t count = get_varint(&c), first = 0;
    for (uint64_t i = 0; i < count && i < SHLOG_CLOCK_MAX_ANCHORS && !c.bad; i++) {
        uint64_t tsc = get_varint(&c), ns = get_varint(&c);
        get_varint(&c); /* err_ns */
        get_varint(&c); /* flags */
        if (c.bad)
            break;
        if (i == 0)
            first = tsc;
        *last_ns = ns;
    }
    return first;
}

/* The frame's CLOCK sections, kept (the newest CLOCKS_KEPT) for the
 * contexts of the frames after it. */
static int keep_clocks(struct shlog_context *c, struct cur sec)
{
    c->sealed_ns = 0;
    while (sec.p < sec.end) {
        const uint8_t *at = sec.p;
        uint8_t type = get_u8(&sec);
        uint64_t len = get_varint(&sec);
        const uint8_t *body = get_bytes(&sec, len);
        if (!body || type == 0)
            break;
        if (type != SHLOG_SEC_CLOCK)
            continue;
        struct clock_kept *k = &c->clocks[c->clock_next];
        k->bytes.len = 0;
        if (buf_reserve(&k->bytes, (size_t)(sec.p - at)))
            return -ENOMEM;
        memcpy(k->bytes.p, at, (size_t)(sec.p - at));
        k->bytes.len = (size_t)(sec.p - at);
        k->first_tsc = clock_anchors(body, body + len, &c->sealed_ns);
        c->clock_next = (c->clock_next + 1) % CLOCKS_KEPT;
        if (c->nclocks < CLOCKS_KEPT)
            c->nclocks++;
    }
    return 0;
}

/* ==== What a frame uses ==== */

static int use(struct shlog_context *c, uint32_t idx)
{
    struct item *it = c->items[idx];
    if (it->mark == c->frame)
        return 0;
    it->mark = c->frame;
    if (shlog__grow_array(&c->used, &c->used_cap, c->nused, sizeof(*c->used)))
        return -ENOMEM;
    unsigned type = it->bytes[0];
    c->used[c->nused++] =
        (struct used){type != SHLOG_SEC_PROCESS && type != SHLOG_SEC_SITE, it->seq, idx, it->id};
    return 0;
}

static int use_proc(struct shlog_context *c, uint64_t proc)
{
    uint32_t *idx = map_find(&c->procs, proc, 0);
    return idx ? use(c, *idx) : 0;
}

static int use_site(struct shlog_context *c, uint64_t proc, uint64_t id)
{
    uint32_t *idx = map_find(&c->sites, proc, id);
    return idx ? use(c, *idx) : 0;
}

/* A BATCH or BACKTRACE body: its process, and the sites of its records. */
static int use_batch(struct shlog_context *c, struct cur b, int backtrace)
{
    if (backtrace)
        get_varint(&b); /* order_tsc */
    uint64_t proc = get_varint(&b);
    get_varint(&b); /* cpu */
    get_varint(&b); /* first_pos */
    uint64_t count = get_varint(&b);
    uint64_t tsc = get_varint(&b); /* base_tsc */
    struct cur site = {NULL, NULL, 0}, tscs = {NULL, NULL, 0};
    for (int i = 0; i < NCOLS && !b.bad; i++) {
        uint64_t n = get_varint(&b);
        const uint8_t *p = get_bytes(&b, n);
        if (i == COL_SITE && p)
            site = (struct cur){p, p + n, 0};
        if (i == COL_TSC && p)
            tscs = (struct cur){p, p + n, 0};
    }
    if (b.bad || count > SHLOG_MAX_BATCH_RECORDS)
        return 0;
    /* The oldest record decides how far back its anchors must go. */
    for (uint64_t i = 0; i < count; i++) {
        tsc += (uint64_t)unzigzag(get_varint(&tscs));
        if (tscs.bad)
            break;
        if (tsc < c->min_tsc)
            c->min_tsc = tsc;
    }
    int rc = use_proc(c, proc);
    uint64_t prev = UINT64_MAX;
    for (uint64_t i = 0; i < count && !rc; i++) {
        uint64_t id = get_varint(&site);
        if (site.bad)
            break;
        if (id != prev)
            rc = use_site(c, proc, id);
        prev = id;
    }
    return rc;
}

/* Marks what the frame's sections use of the definitions before it. */
static int use_frame(struct shlog_context *c, struct cur sec)
{
    int rc = 0;
    while (sec.p < sec.end && !rc) {
        uint8_t type = get_u8(&sec);
        uint64_t len = get_varint(&sec);
        const uint8_t *body = get_bytes(&sec, len);
        if (sec.bad || type == 0)
            break;
        struct cur b = {body, body + len, 0};
        switch (type) {
        case SHLOG_SEC_SITE:
        case SHLOG_SEC_CATEGORY:
        case SHLOG_SEC_LOSS:
        case SHLOG_SEC_EXIT:
            rc = use_proc(c, get_varint(&b));
            break;
        case SHLOG_SEC_BATCH:
        case SHLOG_SEC_BACKTRACE:
            rc = use_batch(c, b, type == SHLOG_SEC_BACKTRACE);
            break;
        default:
            break;
        }
    }
    /* The names of the categories and threads of every process used. */
    for (size_t i = 0; i < c->nproc_names && !rc; i++) {
        struct item *cat = c->items[c->proc_names[i]];
        uint32_t *p = map_find(&c->procs, cat->proc, 0);
        if (p && c->items[*p]->mark == c->frame)
            rc = use(c, c->proc_names[i]);
    }
    return rc;
}

/* ==== The context's frames ==== */

static int used_cmp(const void *a, const void *b)
{
    const struct used *x = a, *y = b;
    if (x->named != y->named)
        return x->named < y->named ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Compresses raw (n bytes) into a frame appended to out. */
static int pack_frame(struct shlog_context *c, struct buf *out, const uint8_t *raw, size_t n, int level)
{
    size_t bound = SHLOG_FRAME_PREFIX_BYTES + ZSTD_compressBound(n);
    if (buf_reserve(out, bound))
        return -ENOMEM;
    uint8_t *d = out->p + out->len;
    size_t z = ZSTD_compressCCtx(c->cctx, d + SHLOG_FRAME_PREFIX_BYTES, bound - SHLOG_FRAME_PREFIX_BYTES, raw, n,
                                 level);
    if (ZSTD_isError(z))
        return -EIO;
    shlog__frame_prefix_put(d, (uint32_t)z, (uint32_t)n);
    out->len += SHLOG_FRAME_PREFIX_BYTES + z;
    return 0;
}

/* The frame of the definitions in c->used, made again only when they differ
 * from the last frame's. */
static int defs_frame(struct shlog_context *c)
{
    if (!c->nused) {
        c->defs.len = c->nlast = 0;
        return 0;
    }
    qsort(c->used, c->nused, sizeof(*c->used), used_cmp);
    if (c->nused == c->nlast && c->defs.len && !memcmp(c->used, c->last, c->nused * sizeof(*c->used)))
        return 0;
    c->defs.len = 0;
    c->nlast = 0;
    struct buf raw = {NULL, 0, 0};
    size_t n = 0;
    for (size_t i = 0; i < c->nused; i++)
        n += c->items[c->used[i].idx]->len;
    if (buf_reserve(&raw, n))
        return -ENOMEM;
    for (size_t i = 0; i < c->nused; i++) {
        const struct item *it = c->items[c->used[i].idx];
        memcpy(raw.p + raw.len, it->bytes, it->len);
        raw.len += it->len;
    }
    int rc = pack_frame(c, &c->defs, raw.p, raw.len, DEFS_ZSTD_LEVEL);
    buf_free(&raw);
    if (rc)
        return rc;
    if (c->last_cap < c->nused) {
        struct used *nl = realloc(c->last, c->used_cap * sizeof(*nl));
        if (!nl)
            return -ENOMEM;
        c->last = nl;
        c->last_cap = c->used_cap;
    }
    memcpy(c->last, c->used, c->nused * sizeof(*c->used));
    c->nlast = c->nused;
    return 0;
}

/* The CLOCK sections before the frame that its records map with, as the file
 * maps them: from the newest whose first anchor is at or before the frame's
 * oldest record (all kept, when none is), or the last one alone for a frame
 * without records. */
static int clock_frame(struct shlog_context *c)
{
    if (!c->nclocks)
        return 0;
    size_t from = c->nclocks - 1; /* counted from the oldest kept */
    size_t oldest = (c->clock_next + CLOCKS_KEPT - c->nclocks) % CLOCKS_KEPT;
    if (c->min_tsc != UINT64_MAX)
        while (from > 0 && c->clocks[(oldest + from) % CLOCKS_KEPT].first_tsc > c->min_tsc)
            from--;
    c->clock_raw.len = 0;
    for (size_t i = from; i < c->nclocks; i++) {
        const struct buf *k = &c->clocks[(oldest + i) % CLOCKS_KEPT].bytes;
        if (buf_reserve(&c->clock_raw, k->len))
            return -ENOMEM;
        memcpy(c->clock_raw.p + c->clock_raw.len, k->p, k->len);
        c->clock_raw.len += k->len;
    }
    return pack_frame(c, &c->out, c->clock_raw.p, c->clock_raw.len, 1);
}

static int context_of(struct shlog_context *c, struct cur sec)
{
    c->nused = 0;
    int rc = use_frame(c, sec); /* also finds its oldest record, which the clock frame starts from */
    /* Every definition in effect, not only the frame's: a reader that starts here goes on through the
     * frames after it, which carry no context of their own (FORMAT.md, "Frames as messages"). */
    for (size_t i = 0; i < c->nitems && !rc; i++)
        rc = use(c, (uint32_t)i);
    if (!rc)
        rc = defs_frame(c);
    if (rc)
        return rc;
    c->out.len = 0;
    if (c->defs.len) {
        if (buf_reserve(&c->out, c->defs.len))
            return -ENOMEM;
        memcpy(c->out.p, c->defs.p, c->defs.len);
        c->out.len = c->defs.len;
    }
    return clock_frame(c);
}

/* ==== A frame ==== */

/* Records in the frame's batches. */
static uint64_t frame_records(struct cur sec)
{
    uint64_t n = 0;
    while (sec.p < sec.end) {
        uint8_t type = get_u8(&sec);
        uint64_t len = get_varint(&sec);
        const uint8_t *body = get_bytes(&sec, len);
        if (sec.bad || type == 0)
            break;
        if (type != SHLOG_SEC_BATCH && type != SHLOG_SEC_BACKTRACE)
            continue;
        struct cur b = {body, body + len, 0};
        if (type == SHLOG_SEC_BACKTRACE)
            get_varint(&b);
        get_varint(&b);
        get_varint(&b);
        get_varint(&b);
        uint64_t count = get_varint(&b);
        if (!b.bad && count <= SHLOG_MAX_BATCH_RECORDS)
            n += count;
    }
    return n;
}

int shlog_context_next(struct shlog_context *c, const void *frame, size_t n, struct shlog_context_out *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    const uint8_t *f = frame;
    if (shlog_frame_bytes(f, n) != n)
        return -EINVAL;
    uint32_t zbytes = get_u32le(f + 4), raw_bytes = get_u32le(f + 8);
    if (ZSTD_getFrameContentSize(f + SHLOG_FRAME_PREFIX_BYTES, zbytes) != raw_bytes)
        return -EINVAL;
    c->raw.len = 0;
    if (buf_reserve(&c->raw, raw_bytes ? raw_bytes : 1))
        return -ENOMEM;
    size_t got = ZSTD_decompressDCtx(c->dctx, c->raw.p, raw_bytes, f + SHLOG_FRAME_PREFIX_BYTES, zbytes);
    if (ZSTD_isError(got) || got != raw_bytes)
        return -EINVAL;
    struct cur sec = {c->raw.p, c->raw.p + raw_bytes, 0};
    c->frame++;
    c->min_tsc = UINT64_MAX;
    int rc = 0;
    if (out) {
        if ((rc = context_of(c, sec)) != 0)
            return rc;
        out->ctx = c->out.len ? c->out.p : NULL;
        out->ctx_n = c->out.len;
        out->records = frame_records(sec);
    }
    if (!c->over)
        rc = learn_frame(c, sec);
    int crc = keep_clocks(c, sec);
    if (out)
        out->sealed_ns = c->sealed_ns;
    return rc ? rc : crc;
}
