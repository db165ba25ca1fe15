/* Reading a file's index (FORMAT.md, "Index"): from its footer, or by walking
 * its frames; every byte of it untrusted. */
#include "shlog_index.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

/* An index frame's filters (version 3): where they lie, read when asked. */
struct ix_filters {
    uint64_t off, len; /* the filters and their check */
    uint8_t *bytes;    /* NULL until read */
    int failed;        /* unreadable or failing their check: every frame of them may hold any key */
    uint32_t group_blocks; /* version 4: the filter of all its frames' keys, after theirs; 0: none */
    uint64_t group_at;
    uint32_t gram_blocks; /* version 8: the filter of its frames' words' grams, after the group's; 0: none */
    uint64_t gram_at;
};

struct shlog_index {
    struct shlog_index_frame *v;
    size_t n, cap;
    uint8_t **payloads; /* the index frames read: the frames' pids and filters point into them */
    size_t npayloads, payloads_cap;
    uint64_t held;      /* bytes of payloads */
    uint64_t *blocks;   /* the index frames taken: offset, bytes, in file order */
    size_t nblocks, blocks_cap;
    struct ix_filters *filters;
    size_t nfilters, filters_cap;
    int fd;             /* the file's, for the filters; -1: none to read */
    uint64_t end;
    int from_footer;
    ZSTD_DCtx *dctx;    /* the index frames' summaries (version 6), made at the first */
    char note[256];
};

__attribute__((format(printf, 2, 3))) static void ix_note(struct shlog_index *ix, const char *fmt, ...)
{
    if (ix->note[0])
        return; /* the first reason is the one that says why */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ix->note, sizeof(ix->note), fmt, ap);
    va_end(ap);
}

static int ix_push(struct shlog_index *ix, const struct shlog_index_frame *f)
{
    if (ix->n >= SHLOG_INDEX_MAX_FRAMES)
        return -E2BIG;
    if (ix->n == ix->cap && shlog__grow_array(&ix->v, &ix->cap, ix->n, sizeof(*ix->v)))
        return -ENOMEM;
    ix->v[ix->n++] = *f;
    return 0;
}

/* An index frame taken, at off, bytes long. 0 or -ENOMEM. */
static int ix_block_push(struct shlog_index *ix, uint64_t off, uint64_t bytes)
{
    if (ix->nblocks == ix->blocks_cap &&
        shlog__grow_array(&ix->blocks, &ix->blocks_cap, ix->nblocks, 2 * sizeof(*ix->blocks)))
        return -ENOMEM;
    ix->blocks[2 * ix->nblocks] = off;
    ix->blocks[2 * ix->nblocks + 1] = bytes;
    ix->nblocks++;
    return 0;
}

uint64_t shlog_index_block_at(const struct shlog_index *ix, uint64_t offset)
{
    size_t lo = 0, hi = ix->nblocks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->blocks[2 * mid] < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ix->nblocks && ix->blocks[2 * lo] == offset ? ix->blocks[2 * lo + 1] : 0;
}

static void ix_drop_payloads(struct shlog_index *ix, size_t keep)
{
    while (ix->npayloads > keep)
        free(ix->payloads[--ix->npayloads]);
}

int shlog_frame_is_index(const void *head, size_t n)
{
    const uint8_t *p = head;
    return n >= SHLOG_FRAME_PREFIX_BYTES + 4 && get_u32le(p + 8) == 0 &&
           get_u32le(p + SHLOG_FRAME_PREFIX_BYTES) == IX_SKIPPABLE_MAGIC;
}

/* Reads the index frame at off (its prefix says zbytes, raw_bytes 0): its
 * payload, kept, in *pay and *n (of version 3, the part before its filters;
 * *frame_bytes: the whole frame's). 0; 1 when it is not an index frame (a frame
 * of another kind or damage: the caller says which); -errno. */
static int ix_read_payload(struct shlog_index *ix, int fd, uint64_t off, uint64_t size, const uint8_t **pay,
                           size_t *n, uint64_t *frame_bytes, const char **why)
{
    uint8_t head[SHLOG_FRAME_PREFIX_BYTES + 8 + IX_HEAD3_BYTES];
    const size_t front = SHLOG_FRAME_PREFIX_BYTES + 8;
    *why = "not an index frame";
    if (off > size || size - off < front)
        return 1;
    ssize_t got = shlog_pread_full(fd, head, sizeof(head), off);
    if (got < 0)
        return -errno;
    if ((size_t)got < front || !shlog_frame_bytes(head, SHLOG_FRAME_PREFIX_BYTES) ||
        !shlog_frame_is_index(head, front))
        return 1;
    uint64_t len = get_u32le(head + 20);
    if (len + 8 != get_u32le(head + 4) || len > size - off - front) {
        *why = "an index frame's sizes disagree or run past the file";
        return 1;
    }
    *frame_bytes = front + len;
    /* Version 3: its summaries only; its filters after them are read when asked. */
    if ((size_t)got == sizeof(head) && len >= IX_HEAD3_BYTES && get_u32le(head + front) == IX_MAGIC &&
        head[front + 4] >= 3) {
        uint64_t summaries = get_u32le(head + front + 16), trailer = head[front + 5] == IX_KIND_FOOTER ? IX_TRAILER_BYTES : 0;
        if (summaries < 5 || summaries > len - IX_HEAD3_BYTES || len - IX_HEAD3_BYTES - summaries < trailer + 4) {
            *why = "an index frame's summaries run past it";
            return 1;
        }
        if (ix->nfilters == ix->filters_cap &&
            shlog__grow_array(&ix->filters, &ix->filters_cap, ix->nfilters, sizeof(*ix->filters)))
            return -ENOMEM;
        ix->filters[ix->nfilters++] = (struct ix_filters){off + front + IX_HEAD3_BYTES + summaries,
                                                          len - IX_HEAD3_BYTES - summaries - trailer, NULL, 0, 0, 0, 0, 0};
        len = IX_HEAD3_BYTES + summaries;
    }
    if (len < IX_HEAD_BYTES + 1 + 4 || ix->held + len > SHLOG_INDEX_MAX_BYTES) {
        *why = len < IX_HEAD_BYTES + 5 ? "an index frame too short" : "the index holds more than a reader keeps";
        return 1;
    }
    if (ix->npayloads == ix->payloads_cap &&
        shlog__grow_array(&ix->payloads, &ix->payloads_cap, ix->npayloads, sizeof(*ix->payloads)))
        return -ENOMEM;
    uint8_t *p = malloc(len ? len : 1);
    if (!p)
        return -ENOMEM;
    got = shlog_pread_full(fd, p, len, off + front);
    if (got < 0 || (uint64_t)got != len) {
        int e = got < 0 ? errno : 0;
        free(p);
        *why = "an index frame runs past the file";
        return e ? -e : 1;
    }
    ix->payloads[ix->npayloads++] = p;
    ix->held += len;
    *pay = p;
    *n = (size_t)len;
    return 0;
}

/* The index frame's payload checked: its head (kind), check; *c at its
 * entries' count; *prev its back pointer. NULL or why not. */
static const char *ix_payload_check(const uint8_t *pay, size_t n, unsigned kind, struct cur *c, uint64_t *prev)
{
    /* version 3: the summaries alone, their check last */
    int v3 = n >= IX_HEAD3_BYTES && pay[4] >= 3;
    size_t body = n - (kind == IX_KIND_FOOTER && !v3 ? IX_TRAILER_BYTES : 0);
    if (n < IX_HEAD_BYTES + 5 + (kind == IX_KIND_FOOTER && !v3 ? IX_TRAILER_BYTES : 0))
        return "an index frame too short";
    if (get_u32le(pay) != IX_MAGIC)
        return "an index frame without its magic";
    if (pay[4] < 1 || pay[4] > SHLOG_INDEX_VERSION)
        return "an index frame of another version";
    if (v3 && get_u32le(pay + IX_HEAD_BYTES) != n - IX_HEAD3_BYTES)
        return "an index frame's summaries are not where it says";
    if (pay[5] != kind)
        return kind == IX_KIND_FOOTER ? "the trailer does not point at a footer" : "a second footer";
    if (fnv1a32(pay, body - 4) != get_u32le(pay + body - 4))
        return "an index frame whose check fails";
    *prev = get_u64le(pay + 8);
    *c = (struct cur){pay + (v3 ? IX_HEAD3_BYTES : IX_HEAD_BYTES), pay + body - 4, 0};
    return NULL;
}

static struct shlog_index_frame ix_frame_of(const struct ix_entry *x, const uint32_t *pids)
{
    return (struct shlog_index_frame){
        .offset = x->offset, .bytes = x->bytes, .indexed = 1, .records = x->records,
        .tsc_min = x->tsc_min, .tsc_max = x->tsc_max, .timed = (x->flags & IX_TIME) != 0,
        .ns_min = x->ns_min, .ns_max = x->ns_max, .levels = x->levels, .categories = x->categories,
        .npids = x->npids, .pids = pids, .nranges = x->nranges, .ranges = x->range_bytes,
        .bloom_blocks = x->bloom_blocks, .bloom = x->bloom, .prefix_check = x->prefix_check,
        .nrings = x->nrings, .rings = x->ring_bytes, .clock_bytes = x->clock_bytes, .clock = x->clock,
        .tids = (x->flags & IX_TIDS) != 0, .traces = (x->flags & IX_TRACES) != 0, .ntraces = x->ntraces,
        .trace_list = x->trace_bytes, .words = (x->flags & IX_WORDS) != 0};
}

void shlog_index_trace_next(const struct shlog_index_frame *f, const uint8_t **p, struct shlog_index_trace *t)
{
    struct ix_trace x;
    (void)f;
    shlog__ix_trace_next(p, &x);
    *t = (struct shlog_index_trace){.proc = x.proc, .tid = x.tid, .hi = x.hi, .lo = x.lo, .span_len = x.span_len};
    memcpy(t->span, x.span, x.span_len);
}

void shlog_index_ring_next(const struct shlog_index_frame *f, const uint8_t **p, struct shlog_index_ring *r)
{
    struct ix_ring x;
    shlog__ix_ring_next(p, f->tsc_min, f->tsc_max, f->rings_from_max, &x);
    *r = (struct shlog_index_ring){x.proc, x.cpu, x.last_tsc, x.max_tsc};
}

/* The pids of an entry stay with the payload: the entry's own copy is on
 * the stack. Each entry's pids go to the end of a per-index array. */
struct pid_store {
    uint32_t *v;
    size_t n, cap;
};

/* Version 6: the summaries at c as version 5 lays them out, *c then on
 * them (decompressed into a payload of owner's). NULL or why not. */
static const char *ix_summaries_take(struct shlog_index *owner, struct cur *c)
{
    unsigned coding = get_u8(c);
    if (c->bad || coding > IX_SUMMARIES_ZSTD)
        return "an index frame's summaries are of an unknown coding";
    if (coding == IX_SUMMARIES_PLAIN)
        return NULL;
    uint64_t n = get_varint(c);
    if (c->bad || !n || n > IX_SUMMARIES_MAX || owner->held + n > SHLOG_INDEX_MAX_BYTES)
        return "an index frame's summaries are larger than a reader keeps";
    if (!owner->dctx && !(owner->dctx = ZSTD_createDCtx()))
        return "out of memory";
    if (owner->npayloads == owner->payloads_cap &&
        shlog__grow_array(&owner->payloads, &owner->payloads_cap, owner->npayloads, sizeof(*owner->payloads)))
        return "out of memory";
    uint8_t *raw = malloc(n);
    if (!raw)
        return "out of memory";
    size_t got = ZSTD_decompressDCtx(owner->dctx, raw, n, c->p, (size_t)(c->end - c->p));
    if (ZSTD_isError(got) || got != n) {
        free(raw);
        return "an index frame's summaries do not decompress to their size";
    }
    owner->payloads[owner->npayloads++] = raw;
    owner->held += n;
    *c = (struct cur){raw, raw + n, 0};
    return NULL;
}

/* Version 7: the filter_at of a frame whose filter is its group's until the group is read. */
#define IX_GROUPED_AT UINT64_MAX
/* The filter of a frame that may hold any key: every bit set. */
static const uint8_t ix_every_key[IX_BLOCK_BYTES] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                                     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                                     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* Entries of an index frame at block_off into ix (after those it has), in
 * order, each wholly before the index frame. */
static const char *ix_take_entries(struct shlog_index *ix, struct shlog_index *owner, struct cur *c,
                                   uint64_t block_off, unsigned version, struct pid_store *ps)
{
    if (version >= 6) {
        const char *why = ix_summaries_take(owner, c);
        if (why)
            return why;
    }
    uint64_t count = get_varint(c);
    if (c->bad || count > (uint64_t)(c->end - c->p))
        return "an index frame's entries are cut short";
    size_t first = ix->n;
    uint64_t below = block_off, filter_at = 0;
    uint8_t clock[IX_MAX_CLOCK_BYTES], ranges[IX_RANGE_BUF_BYTES];
    struct ix_entry x = {.clock_buf = clock, .range_buf = ranges};
    struct ix_prev prev = {0};
    for (uint64_t i = 0; i < count; i++) {
        if (shlog__ix_entry_get(c, &x, version, &prev))
            return "an index frame's entries are cut short";
        if (x.offset < SHLOG_FILE_HEADER_BYTES || x.offset > below || x.bytes > below - x.offset)
            return "an index frame lists a frame out of place";
        uint32_t npids = x.npids <= IX_MAX_PIDS ? x.npids : 0;
        if (ps->n + npids > ps->cap && shlog__grow_array(&ps->v, &ps->cap, ps->n + npids, sizeof(*ps->v)))
            return "out of memory";
        struct shlog_index_frame f = ix_frame_of(&x, NULL);
        f.rings_from_max = version >= 7;
        f.filters = SIZE_MAX; /* before version 3: its filter is in its entry */
        if (version >= 3) { /* its filter in the index frame's filters; its anchors unpacked, kept */
            f.filters = owner->nfilters - 1;
            f.filter_at = x.flags & IX_GROUPED ? IX_GROUPED_AT : filter_at;
            filter_at += (uint64_t)x.bloom_blocks * IX_BLOCK_BYTES;
            if (x.clock_bytes || x.range_len) { /* version 9: its ranges rebuilt, kept with them */
                if (owner->npayloads == owner->payloads_cap &&
                    shlog__grow_array(&owner->payloads, &owner->payloads_cap, owner->npayloads,
                                      sizeof(*owner->payloads)))
                    return "out of memory";
                uint8_t *kept = malloc((size_t)x.clock_bytes + x.range_len);
                if (!kept)
                    return "out of memory";
                if (x.clock_bytes)
                    memcpy(kept, x.clock, x.clock_bytes);
                memcpy(kept + x.clock_bytes, x.range_buf, x.range_len);
                owner->payloads[owner->npayloads++] = kept;
                owner->held += x.range_len;
                f.clock = x.clock_bytes ? kept : NULL;
                f.ranges = x.range_len ? kept + x.clock_bytes : f.ranges;
            }
        }
        f.pids = (const uint32_t *)(uintptr_t)ps->n; /* an index until the store stops moving */
        if (npids) /* the store has no array before its first pid */
            memcpy(ps->v + ps->n, x.pids, npids * sizeof(*x.pids));
        ps->n += npids;
        if (ix->n > first && f.offset < ix->v[ix->n - 1].offset + ix->v[ix->n - 1].bytes)
            return "an index frame lists frames out of order";
        int rc = ix_push(ix, &f);
        if (rc)
            return rc == -E2BIG ? "the index lists more frames than a reader keeps" : "out of memory";
    }
    uint64_t group_blocks = version >= 4 ? get_varint(c) : 0;
    if (c->bad || group_blocks > IX_MAX_BLOOM_BLOCKS || (group_blocks & (group_blocks - 1)))
        return "an index frame's group filter is not a power of two of blocks";
    uint64_t gram_blocks = version >= 8 ? get_varint(c) : 0;
    if (c->bad || gram_blocks > IX_MAX_BLOOM_BLOCKS || (gram_blocks & (gram_blocks - 1)))
        return "an index frame's gram filter is not a power of two of blocks";
    if (c->p != c->end)
        return "an index frame has bytes after its entries";
    if (version >= 3) {
        struct ix_filters *fl = &owner->filters[owner->nfilters - 1];
        if (filter_at + (group_blocks + gram_blocks) * IX_BLOCK_BYTES + 4 != fl->len)
            return "an index frame's filters are not the size its entries say";
        fl->group_blocks = (uint32_t)group_blocks;
        fl->group_at = filter_at;
        fl->gram_blocks = (uint32_t)gram_blocks;
        fl->gram_at = filter_at + group_blocks * IX_BLOCK_BYTES;
        /* version 7: a frame without a filter of its own has its group's, or,
         * with none, may hold any key */
        for (size_t k = first; k < ix->n; k++)
            if (ix->v[k].filter_at == IX_GROUPED_AT) {
                ix->v[k].bloom_blocks = group_blocks ? (uint32_t)group_blocks : 1;
                ix->v[k].bloom = group_blocks ? NULL : ix_every_key;
                ix->v[k].filter_at = group_blocks ? filter_at : 0;
            }
    }
    return NULL;
}

/* The index from the footer: 0 when taken, 1 when not (ix->note says why), -errno. */
static int ix_from_footer(struct shlog_index *ix, int fd, uint64_t size, struct pid_store *ps)
{
    uint8_t t[IX_TRAILER_BYTES];
    if (size < SHLOG_FILE_HEADER_BYTES + IX_TRAILER_BYTES) {
        ix_note(ix, "no footer (the file is shorter than one)");
        return 1;
    }
    ssize_t got = shlog_pread_full(fd, t, sizeof(t), size - sizeof(t));
    if (got < 0)
        return -errno;
    if ((size_t)got < sizeof(t) || get_u32le(t + 28) != IX_TRAILER_MAGIC) {
        ix_note(ix, "no footer (a file being written, or from before the index)");
        return 1;
    }
    uint32_t version = get_u32le(t + 20);
    int known = version >= 1 && version <= SHLOG_INDEX_VERSION;
    if (get_u32le(t + 24) != fnv1a32(t, 24) || !known || get_u64le(t + 8) != size ||
        get_u64le(t) < SHLOG_FILE_HEADER_BYTES || get_u64le(t) >= size) {
        ix_note(ix, "the footer's trailer %s", get_u32le(t + 24) != fnv1a32(t, 24) ? "fails its check"
                                               : !known                             ? "is of another version"
                                                                                    : "is not of this file's size");
        return 1;
    }
    uint32_t blocks = get_u32le(t + 16);
    uint64_t off = get_u64le(t);
    if (!blocks || blocks > size / (SHLOG_FRAME_PREFIX_BYTES + 8 + IX_HEAD_BYTES + 5)) {
        ix_note(ix, "the footer's trailer counts %u index frames, which the file cannot hold", blocks);
        return 1;
    }
    /* newest first: each block's entries are put in order, then the blocks reversed */
    size_t *starts = calloc(blocks ? blocks : 1, sizeof(*starts));
    if (!starts)
        return -ENOMEM;
    int rc = 1;
    uint32_t seen = 0;
    for (unsigned kind = IX_KIND_FOOTER;; kind = IX_KIND_BLOCK) {
        const uint8_t *pay;
        size_t n;
        uint64_t frame_bytes = 0;
        const char *why;
        int r = ix_read_payload(ix, fd, off, size, &pay, &n, &frame_bytes, &why);
        if (r < 0) {
            rc = r;
            goto out;
        }
        struct cur c;
        uint64_t prev = 0;
        if (r == 0)
            why = ix_payload_check(pay, n, kind, &c, &prev);
        if (!why && (seen >= blocks || (prev && (prev >= off || prev < SHLOG_FILE_HEADER_BYTES))))
            why = "the index frames do not chain back";
        if (!why) {
            starts[seen++] = ix->n;
            why = ix_take_entries(ix, ix, &c, off, pay[4], ps);
            if (!why && ix_block_push(ix, off, frame_bytes)) {
                rc = -ENOMEM;
                goto out;
            }
        }
        if (why) {
            ix_note(ix, "footer not used: %s (at offset %llu)", why, (unsigned long long)off);
            goto out;
        }
        if (!prev)
            break;
        off = prev;
    }
    if (seen != blocks) {
        ix_note(ix, "footer not used: it counts %u index frames, %u chain back", blocks, seen);
        goto out;
    }
    rc = 0;
out:
    if (rc == 0) {
        /* the blocks were read newest first: put them in file order */
        struct shlog_index_frame *v = malloc((ix->n ? ix->n : 1) * sizeof(*v));
        if (!v) {
            free(starts);
            return -ENOMEM;
        }
        size_t k = 0;
        for (uint32_t b = seen; b-- > 0;) {
            size_t end = b + 1 < seen ? starts[b + 1] : ix->n;
            for (size_t i = starts[b]; i < end; i++)
                v[k++] = ix->v[i];
        }
        if (k) /* a footer of no entries: no array yet */
            memcpy(ix->v, v, k * sizeof(*v));
        free(v);
        for (size_t i = 0, j = ix->nblocks; i + 1 < j; i++, j--) {
            uint64_t o = ix->blocks[2 * i], b = ix->blocks[2 * i + 1];
            ix->blocks[2 * i] = ix->blocks[2 * (j - 1)];
            ix->blocks[2 * i + 1] = ix->blocks[2 * (j - 1) + 1];
            ix->blocks[2 * (j - 1)] = o;
            ix->blocks[2 * (j - 1) + 1] = b;
        }
        for (size_t i = 1; i < ix->n && rc == 0; i++)
            if (ix->v[i].offset < ix->v[i - 1].offset + ix->v[i - 1].bytes) {
                ix_note(ix, "footer not used: its index frames list frames out of order");
                rc = 1;
            }
        ix->end = get_u64le(t);
    }
    free(starts);
    return rc;
}

/* The index by walking the frames from the header on. 0 or -errno. */
static int ix_walk(struct shlog_index *ix, int fd, uint64_t size, struct pid_store *ps)
{
    uint64_t off = SHLOG_FILE_HEADER_BYTES;
    size_t since = 0; /* the first frame after the last index frame taken */
    for (;;) {
        uint8_t pre[SHLOG_FRAME_PREFIX_BYTES + 8];
        if (off > size || size - off < SHLOG_FRAME_PREFIX_BYTES)
            break;
        ssize_t got = shlog_pread_full(fd, pre, sizeof(pre), off);
        if (got < 0)
            return -errno;
        uint64_t bytes = (size_t)got >= SHLOG_FRAME_PREFIX_BYTES ? shlog_frame_bytes(pre, SHLOG_FRAME_PREFIX_BYTES) : 0;
        if (!bytes) {
            ix_note(ix, "a damaged frame at offset %llu: not indexed from there", (unsigned long long)off);
            break;
        }
        if (bytes > size - off)
            break; /* still being written, or torn */
        if ((size_t)got == sizeof(pre) && shlog_frame_is_index(pre, sizeof(pre))) {
            const uint8_t *pay;
            size_t n;
            const char *why;
            size_t kept = ix->npayloads, kept_filters = ix->nfilters;
            uint64_t frame_bytes = 0;
            int r = ix_read_payload(ix, fd, off, size, &pay, &n, &frame_bytes, &why);
            if (r < 0)
                return r;
            struct cur c;
            uint64_t prev;
            unsigned kind = r == 0 && n > 5 ? pay[5] : 0;
            if (r == 0)
                why = ix_payload_check(pay, n, kind == IX_KIND_FOOTER ? IX_KIND_FOOTER : IX_KIND_BLOCK, &c, &prev);
            /* its entries must be the frames walked since the last one taken */
            struct shlog_index ent = {0};
            if (!why)
                why = ix_take_entries(&ent, ix, &c, off, pay[4], ps);
            size_t first = ix->n - (ent.n <= ix->n - since ? ent.n : 0);
            if (!why && (ent.n == 0 || ent.n > ix->n - since))
                why = ent.n ? "an index frame lists frames not walked" : NULL;
            for (size_t i = 0; !why && i < ent.n; i++)
                if (ent.v[i].offset != ix->v[first + i].offset || ent.v[i].bytes != ix->v[first + i].bytes)
                    why = "an index frame lists other frames than the file holds";
            if (why) {
                ix_note(ix, "%s (at offset %llu): its frames not indexed", why, (unsigned long long)off);
                ix_drop_payloads(ix, kept);
                ix->nfilters = kept_filters;
            } else {
                for (size_t i = 0; i < ent.n; i++)
                    ix->v[first + i] = ent.v[i];
                since = ix->n;
                if (ix_block_push(ix, off, bytes)) {
                    free(ent.v);
                    return -ENOMEM;
                }
            }
            free(ent.v);
        } else {
            struct shlog_index_frame f = {.offset = off, .bytes = bytes};
            int rc = ix_push(ix, &f);
            if (rc == -E2BIG) {
                ix_note(ix, "more frames than a reader keeps: not indexed from offset %llu",
                        (unsigned long long)off);
                break;
            }
            if (rc)
                return rc;
        }
        off += bytes;
    }
    ix->end = off;
    return 0;
}

int shlog_index_open(struct shlog_index **out, int fd, char *err, size_t errcap)
{
    *out = NULL;
    struct stat st;
    uint8_t h[SHLOG_FILE_HEADER_BYTES];
    struct shlog_file_header hdr;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errcap, "fstat: %s", strerror(errno));
        return -errno;
    }
    ssize_t got = shlog_pread_full(fd, h, sizeof(h), 0);
    const char *bad = got == (ssize_t)sizeof(h) ? shlog_file_header_decode(h, sizeof(h), &hdr) : "a file shorter than its header";
    if (got < 0) {
        snprintf(err, errcap, "read: %s", strerror(errno));
        return -errno;
    }
    if (bad) {
        snprintf(err, errcap, "%s", bad);
        return -EINVAL;
    }
    struct shlog_index *ix = calloc(1, sizeof(*ix));
    struct pid_store ps = {0};
    if (!ix)
        return -ENOMEM;
    ix->fd = -1;
    uint64_t size = (uint64_t)st.st_size;
    int rc = ix_from_footer(ix, fd, size, &ps);
    if (rc == 1) {
        char note[sizeof(ix->note)];
        memcpy(note, ix->note, sizeof(note));
        ix_drop_payloads(ix, 0);
        ix->nfilters = 0;
        ix->held = 0;
        ix->n = 0;
        ix->nblocks = 0;
        ps.n = 0;
        memset(ix->note, 0, sizeof(ix->note));
        rc = ix_walk(ix, fd, size, &ps);
        if (!ix->note[0] || strncmp(note, "no footer", 9) != 0)
            memcpy(ix->note, note, sizeof(note));
    } else if (rc == 0) {
        ix->from_footer = 1;
    }
    if (rc < 0) {
        snprintf(err, errcap, "reading the index: %s", strerror(-rc));
        free(ps.v);
        shlog_index_close(ix);
        return rc;
    }
    /* The filters are read when asked, from the file as it is now: it is
     * appended to, never rewritten. */
    if (rc == 0 && ix->nfilters && (ix->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
        rc = -errno;
        snprintf(err, errcap, "keeping the file open for its index: %s", strerror(-rc));
        free(ps.v);
        shlog_index_close(ix);
        return rc;
    }
    /* The pids' store has stopped moving: its indexes become pointers. */
    uint32_t *pids = ps.v;
    ps.v = NULL;
    for (size_t i = 0; i < ix->n; i++)
        ix->v[i].pids = ix->v[i].indexed && pids ? pids + (uintptr_t)ix->v[i].pids : NULL;
    if (pids) {
        if (ix->npayloads == ix->payloads_cap &&
            shlog__grow_array(&ix->payloads, &ix->payloads_cap, ix->npayloads, sizeof(*ix->payloads))) {
            free(pids);
            shlog_index_close(ix);
            return -ENOMEM;
        }
        ix->payloads[ix->npayloads++] = (uint8_t *)pids;
    }
    *out = ix;
    return 0;
}

void shlog_index_close(struct shlog_index *ix)
{
    if (!ix)
        return;
    ix_drop_payloads(ix, 0);
    for (size_t i = 0; i < ix->nfilters; i++)
        free(ix->filters[i].bytes);
    free(ix->filters);
    if (ix->fd >= 0)
        close(ix->fd);
    ZSTD_freeDCtx(ix->dctx);
    free(ix->payloads);
    free(ix->blocks);
    free(ix->v);
    free(ix);
}

const char *shlog_index_note(const struct shlog_index *ix)
{
    return ix->note[0] ? ix->note : NULL;
}

int shlog_index_from_footer(const struct shlog_index *ix)
{
    return ix->from_footer;
}

size_t shlog_index_count(const struct shlog_index *ix)
{
    return ix->n;
}

const struct shlog_index_frame *shlog_index_frame(const struct shlog_index *ix, size_t i)
{
    return i < ix->n ? &ix->v[i] : NULL;
}

uint64_t shlog_index_end(const struct shlog_index *ix)
{
    return ix->end;
}

struct word_probe {
    const struct shlog_index_frame *f;
    uint64_t prefix;
    int missing;
};

/* Whether key h may be in f's filter: one not read yet may hold any. */
static int filter_has(const struct shlog_index_frame *f, uint64_t h)
{
    return (f->bloom_blocks && !f->bloom) || shlog__ix_bloom_has(f->bloom, f->bloom_blocks, h);
}

static void probe_word(void *clientd, const uint8_t *w, size_t n)
{
    struct word_probe *p = clientd;
    if (!filter_has(p->f, shlog__ix_text(p->prefix, w, n)))
        p->missing = 1;
}

static int text_in(const struct shlog_index_frame *f, unsigned tag, const char *name, const char *text)
{
    uint64_t prefix = shlog__ix_prefix(tag, name, strlen(name));
    return filter_has(f, shlog__ix_text(prefix, (const uint8_t *)text, strlen(text)));
}

struct shlog_index_integer shlog_index_integer_of(const char *text)
{
    struct shlog_index_integer n = {0, 0, 0, 0};
    char *end;
    if (!strcmp(text, "true") || !strcmp(text, "false")) {
        n.u = text[0] == 't';
        n.i = (int64_t)n.u;
        n.as_signed = n.as_unsigned = 1;
    } else if (*text) {
        errno = 0;
        long long ll = strtoll(text, &end, 10);
        n.as_signed = !*end && !errno;
        n.i = ll;
        errno = 0;
        unsigned long long ull = strtoull(text, &end, 10);
        n.as_unsigned = !*end && !errno && *text != '-';
        n.u = ull;
    }
    return n;
}

int shlog_index_msg_word(const char *w, size_t n)
{
    static const char *const shown[] = {"inf", "nan", "nil"}; /* %f of infinities and NaNs, %p of NULL */
    int number = 1;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)w[i];
        if (!shlog_index_word_byte(c))
            return 0;
        number &= (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == 'x' ||
                  c == 'X' || c == 'p' || c == 'P';
    }
    for (size_t i = 0; i < sizeof shown / sizeof shown[0] && !number; i++)
        number = n == 3 && strncasecmp(w, shown[i], 3) == 0;
    return n >= 2 && !number;
}

int shlog_index_msg_gram(const char *w, size_t n)
{
    return n >= IX_GRAM_BYTES && shlog_index_msg_word(w, n);
}

struct gram_probe {
    const uint8_t *bloom;
    uint32_t blocks;
    int missing;
};

static void probe_gram(void *clientd, uint64_t key)
{
    struct gram_probe *p = clientd;
    if (!shlog__ix_bloom_has(p->bloom, p->blocks, key))
        p->missing = 1;
}

/* A field's value may be in f: as a string, or as an integer within the
 * range of a subject field of that name (a numeric field named unindexed
 * may hold any value). */
static int field_in(const struct shlog_index_frame *f, const struct shlog_index_field *q)
{
    size_t nlen = strlen(q->name);
    if (text_in(f, IX_TAG_STRING, q->name, q->value) ||
        filter_has(f, ix_mix(shlog__ix_prefix(IX_TAG_UNINDEXED, q->name, nlen))))
        return 1;
    struct shlog_index_integer n = shlog_index_integer_of(q->value);
    uint64_t key = ix_mix(shlog__ix_prefix(IX_TAG_RANGE, q->name, nlen));
    const uint8_t *p = f->ranges;
    for (uint32_t k = 0; k < f->nranges; k++) {
        struct ix_range r;
        shlog__ix_range_next(&p, &r);
        if (r.key != key)
            continue;
        if (r.is_signed && n.as_signed && n.i >= (int64_t)r.min && n.i <= (int64_t)r.max)
            return 1;
        if (!r.is_signed && n.as_unsigned && n.u >= r.min && n.u <= r.max)
            return 1;
        /* Text against an integer's range: the field may show its integer as that text (a %c, an enum's
         * name), which only the record's site can tell. */
        if (!n.as_signed && !n.as_unsigned)
            return 1;
    }
    return 0;
}

int shlog_index_may_match(const struct shlog_index_frame *f, const struct shlog_index_query *q)
{
    if (!f->indexed)
        return 1;
    if (!f->records)
        return 0;
    if ((q->since_ns || q->until_ns) && f->timed) {
        uint64_t until = q->until_ns ? q->until_ns : UINT64_MAX;
        if (f->ns_max < UINT64_MAX - SHLOG_INDEX_TIME_SLACK_NS && f->ns_max + SHLOG_INDEX_TIME_SLACK_NS < q->since_ns)
            return 0;
        if (f->ns_min > SHLOG_INDEX_TIME_SLACK_NS && f->ns_min - SHLOG_INDEX_TIME_SLACK_NS > until)
            return 0;
    }
    if (q->levels && !(f->levels & q->levels))
        return 0;
    if (q->categories && !(f->categories & q->categories))
        return 0;
    if (q->npids && f->npids <= IX_MAX_PIDS) {
        int any = 0;
        for (size_t i = 0; i < q->npids && !any; i++)
            for (uint32_t j = 0; j < f->npids && !any; j++)
                any = q->pids[i] == f->pids[j];
        if (!any)
            return 0;
    }
    if (q->app && !text_in(f, IX_TAG_APP, "", q->app))
        return 0;
    if (q->site && !text_in(f, IX_TAG_SITE, "", q->site))
        return 0;
    for (size_t i = 0; i < q->nwords; i++) {
        struct word_probe p = {f, shlog__ix_prefix(IX_TAG_WORD, "", 0), 0};
        shlog__ix_words((const uint8_t *)q->words[i], strlen(q->words[i]), probe_word, &p);
        if (p.missing)
            return 0;
    }
    for (size_t i = 0; i < q->nfields; i++)
        if (!field_in(f, &q->fields[i]))
            return 0;
    for (size_t i = 0; f->words && i < q->nmsg_words; i++)
        if (!text_in(f, IX_TAG_WORD, "", q->msg_words[i]))
            return 0;
    if (q->tids && f->tids) {
        uint64_t prefix = shlog__ix_prefix(IX_TAG_THREAD, "", 0);
        size_t i = 0;
        while (i < q->ntids && !filter_has(f, shlog__ix_number(prefix, q->tids[i])))
            i++;
        if (i == q->ntids)
            return 0;
    }
    if (q->trace && f->traces && !filter_has(f, shlog__ix_trace_key(q->trace_hi, q->trace_lo))) {
        /* no record sets the trace: a thread that worked for it at the frame's start must write in it */
        if (f->tids) {
            uint64_t prefix = shlog__ix_prefix(IX_TAG_THREAD, "", 0);
            size_t i = 0;
            while (i < q->trace_ntids && !filter_has(f, shlog__ix_number(prefix, q->trace_tids[i])))
                i++;
            if (i == q->trace_ntids)
                return 0;
        } else if (!q->trace_ntids) {
            return 0;
        }
    }
    return 1;
}

/* An index frame's filters read and checked, once: 0, or -ENOMEM. */
static int ix_filters_read(struct shlog_index *ix, struct ix_filters *fl)
{
    if (!fl->bytes && !fl->failed) {
        uint8_t *b = malloc(fl->len);
        if (!b)
            return -ENOMEM;
        ssize_t got = ix->fd >= 0 ? shlog_pread_full(ix->fd, b, fl->len, fl->off) : -1;
        if (got != (ssize_t)fl->len || fnv1a32(b, fl->len - 4) != get_u32le(b + fl->len - 4)) {
            free(b);
            fl->failed = 1;
            ix_note(ix, "an index frame's filters %s (at offset %llu): its frames may hold any key",
                    got != (ssize_t)fl->len ? "cannot be read" : "fail their check", (unsigned long long)fl->off);
        } else {
            fl->bytes = b;
        }
    }
    return 0;
}

int shlog_index_filters(struct shlog_index *ix, const struct shlog_index_frame *f)
{
    size_t i = (size_t)(f - ix->v);
    if (i >= ix->n || f->bloom || !f->bloom_blocks || f->filters >= ix->nfilters)
        return 0;
    struct ix_filters *fl = &ix->filters[f->filters];
    if (ix_filters_read(ix, fl))
        return -ENOMEM;
    if (fl->failed)
        return 1;
    /* every frame of these filters points into them (the entries checked
     * they add up); an index frame's frames are next to each other */
    size_t from = i, to = i + 1;
    while (from > 0 && ix->v[from - 1].indexed && ix->v[from - 1].filters == f->filters)
        from--;
    while (to < ix->n && ix->v[to].indexed && ix->v[to].filters == f->filters)
        to++;
    for (size_t k = from; k < to; k++)
        if (ix->v[k].bloom_blocks && !ix->v[k].bloom)
            ix->v[k].bloom = fl->bytes + ix->v[k].filter_at;
    return 0;
}

/* Whether q asks anything of a frame's filter. */
static int query_filters(const struct shlog_index_query *q)
{
    return q->app || q->site || q->nwords || q->nmsg_words || q->nfields || q->tids || q->trace;
}

/* Version 8: 0 when a run of q's msg_grams has a gram the gram filter of
 * f's index frame lacks (f's messages' words are keys: each run lies in one
 * of them); 1 when f may match. */
static int grams_may_match(struct shlog_index *ix, const struct shlog_index_frame *f,
                           const struct shlog_index_query *q)
{
    if (!q->nmsg_grams || !f->indexed || !f->words || f->filters >= ix->nfilters)
        return 1;
    struct ix_filters *fl = &ix->filters[f->filters];
    if (!fl->gram_blocks || ix_filters_read(ix, fl) || !fl->bytes)
        return 1;
    uint64_t prefix = shlog__ix_prefix(IX_TAG_GRAM, "", 0);
    struct gram_probe p = {fl->bytes + fl->gram_at, fl->gram_blocks, 0};
    for (size_t i = 0; i < q->nmsg_grams && !p.missing; i++)
        shlog__ix_grams(prefix, (const uint8_t *)q->msg_grams[i], strlen(q->msg_grams[i]), probe_gram, &p);
    return !p.missing;
}

int shlog_index_may_match_in(struct shlog_index *ix, const struct shlog_index_frame *f,
                             const struct shlog_index_query *q)
{
    if (!shlog_index_may_match(f, q) || !grams_may_match(ix, f, q))
        return 0;
    if (!f->bloom_blocks || !query_filters(q))
        return 1;
    if (!f->bloom && shlog_index_filters(ix, f) != 0)
        return 1;
    /* The group's filter holds every key of the frame's, and says "no" more
     * often where the frame's own is small. */
    const struct ix_filters *fl = f->filters < ix->nfilters ? &ix->filters[f->filters] : NULL;
    if (fl && fl->bytes && fl->group_blocks) {
        struct shlog_index_frame group = *f;
        group.bloom = fl->bytes + fl->group_at;
        group.bloom_blocks = fl->group_blocks;
        if (!shlog_index_may_match(&group, q))
            return 0;
    }
    return shlog_index_may_match(f, q);
}
