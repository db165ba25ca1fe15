/*
 * shlog_decode_reader.c - the file format's reader: opening a file, the
 * memory frames are decoded in, loading a frame (prefix, zstd, the limits
 * checked before anything is decompressed), torn ends and unreadable frames
 * reported as events, and the loop that hands out a frame's events
 * (format/FORMAT.md; shlog_decode_state.h says how the decoder's files
 * divide the work).
 */
#include "shlog_decode_state.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESYNC_CHUNK 65536u

/* ==== Frame memory ==== */

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

/* ==== Opening, closing, what a reader holds ==== */

static int reader_init(struct shlog_reader *r, int fd, const char *name, int follow, struct shlog_dedup *dedup,
                       char *err, size_t errcap)
{
    r->fd = fd;
    r->follow = follow;
    r->end_at = UINT64_MAX;
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

int shlog_reader_open_frames(struct shlog_reader **out, const struct shlog_file_header *hdr, const char *name,
                             struct shlog_dedup *dedup, char *err, size_t errcap)
{
    struct shlog_reader *r = calloc(1, sizeof(*r));
    if (!r || (!dedup && shlog_dedup_new(&r->dedup))) {
        free(r);
        snprintf(err, errcap, "%s: out of memory", name);
        return -ENOMEM;
    }
    r->fd = -1;
    snprintf(r->name, sizeof(r->name), "%s", name);
    if (dedup)
        r->dedup = dedup;
    else
        r->own_dedup = 1;
    r->hdr = *hdr;
    r->off = r->chunk_off = SHLOG_FILE_HEADER_BYTES;
    *out = r;
    return 0;
}

int shlog_reader_push(struct shlog_reader *r, const void *bytes, size_t n, uint64_t off)
{
    if (r->fd >= 0)
        return -EINVAL;
    if (r->off < r->chunk_off + r->chunk.len)
        return -EBUSY;
    r->chunk.len = 0;
    if (buf_reserve(&r->chunk, n ? n : 1))
        return -ENOMEM;
    if (n)
        memcpy(r->chunk.p, bytes, n);
    r->chunk.len = n;
    r->chunk_off = r->off = off;
    r->torn_reported = 0; /* each chunk ends as a file would */
    return 0;
}

void shlog_reader_close(struct shlog_reader *r)
{
    if (!r)
        return;
    if (r->own_fd)
        close(r->fd);
    buf_free(&r->chunk);
    if (r->shared && r->shared->user == r)
        r->shared->user = NULL;
    frame_mem_release(&r->own);
    for (size_t i = 0; i < r->nprocs; i++)
        free(r->proc_v[i]);
    free(r->proc_v);
    free(r->tscs);
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
    free(r->block);
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

void shlog_reader_want_frames(struct shlog_reader *r,
                              int (*want)(void *clientd, uint64_t offset, uint64_t bytes, uint32_t prefix_check),
                              void *clientd)
{
    r->frame_want = want;
    r->frame_want_ctx = clientd;
}

void shlog_reader_take_frames(struct shlog_reader *r, uint64_t (*take)(void *clientd, uint64_t offset),
                              void *clientd)
{
    r->frame_take = take;
    r->frame_take_ctx = clientd;
}

void shlog_reader_frame_sections(struct shlog_reader *r, const uint8_t *p, size_t n)
{
    static const uint8_t none[1];
    r->taken = n ? (struct cur){p, p + n, 0} : (struct cur){none, none, 0};
}

void shlog_reader_skip_records(struct shlog_reader *r, int on)
{
    r->skip_records = on != 0;
}

uint32_t shlog_reader_offered_raw(const struct shlog_reader *r)
{
    return r->offered_raw;
}

void shlog_reader_end_at(struct shlog_reader *r, uint64_t bytes)
{
    r->end_at = bytes;
}

void shlog_reader_blocks(struct shlog_reader *r, int on)
{
    r->blocks = on != 0;
    if (!on) {
        free(r->block);
        r->block = NULL;
    }
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
    return frame_mem_bytes(&r->own) + r->ninfo * sizeof(struct shm_site) + (r->block ? sizeof *r->block : 0) +
           (r->tscs ? SHLOG_MAX_BATCH_RECORDS * sizeof *r->tscs : 0);
}

size_t shlog_reader_trim(struct shlog_reader *r, size_t keep)
{
    size_t held = frame_memory(r);
    if (held <= keep || reader_mid_frame(r))
        return held;
    frame_mem_release(&r->own);
    r->sec = (struct cur){NULL, NULL, 0};
    free(r->block);
    r->block = NULL;
    free(r->tscs); /* made again by the next declined frame's batch */
    r->tscs = NULL;
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

const struct shlog_site *shlog_reader_site(const struct shlog_reader *r, uint32_t proc, uint32_t id)
{
    struct dec_site *s = reader_find_site(r, proc, id);
    return s ? &s->pub : NULL;
}

/* ==== Damage, frames ==== */

/* pread that retries short reads; returns bytes read (short only at EOF).
 * A reader of pushed bytes reads its chunk, which ends where a file would. */
static ssize_t pread_full(const struct shlog_reader *r, void *buf, size_t n, uint64_t off)
{
    if (r->fd < 0) {
        const struct buf *c = &r->chunk;
        if (off < r->chunk_off || off - r->chunk_off >= c->len)
            return 0;
        size_t at = (size_t)(off - r->chunk_off), k = c->len - at < n ? c->len - at : n;
        memcpy(buf, c->p + at, k);
        return (ssize_t)k;
    }
    if (off >= r->end_at)
        return 0;
    return shlog_pread_full(r->fd, buf, n < r->end_at - off ? n : (size_t)(r->end_at - off), off);
}

static int prefix_valid(const uint8_t *p)
{
    return shlog_frame_bytes(p, SHLOG_FRAME_PREFIX_BYTES) != 0;
}

/* An intact prefix of a frame larger than any writer makes: refused unread. */
static int prefix_oversized(const uint8_t *p)
{
    return shlog__prefix_intact(p) && get_u32le(p + 8) > SHLOG_MAX_FRAME_RAW;
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
    r->st.lost_records[SHM_LOSS_UNREADABLE]++;
    shlog__ev_error(r, ev, at, "frame unreadable: %s", why);
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
        ssize_t n = pread_full(r, chunk, RESYNC_CHUNK + SHLOG_FRAME_PREFIX_BYTES, at);
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
    shlog__ev_error(r, ev, at, "file ends inside a frame (%llu bytes): torn write, the records in it are lost",
             (unsigned long long)have);
    ev->torn = 1;
    return 1;
}

/* Where the frame's leading run of PROCESS and SITE sections ends within its
 * first have bytes, looked for from from (where an earlier look ended: a
 * section's start); *more: the run may go on past them. */
static size_t sites_end(const uint8_t *raw, size_t from, size_t have, int *more)
{
    struct cur c = {raw + from, raw + have, 0};
    const uint8_t *end = c.p;
    *more = 0;
    while (c.p < c.end) {
        uint8_t type = get_u8(&c);
        if (type != SHLOG_SEC_PROCESS && type != SHLOG_SEC_SITE)
            return (size_t)(end - raw);
        get_bytes(&c, get_varint(&c));
        if (c.bad)
            break; /* a section cut at have */
        end = c.p;
    }
    *more = 1;
    return (size_t)(end - raw);
}

/* Decompresses the frame in m->zbuf no further than its sites
 * (SHLOG_FILE_SITES_FIRST): r->sec is them. NULL, or why the zstd frame is bad.
 * Its input is handed in a piece at a time, as zstd decodes a block only once
 * it has all of it: a writer ends the first block after the sites and the
 * byte that follows them (shlog_enc_frame), so this decodes that block, not
 * the records'. The frame's checksum is not seen: a frame damaged past its
 * sites still gives them. */
static const char *frame_sites(struct shlog_reader *r, struct shlog_frame_mem *m, uint32_t zbytes,
                               uint32_t raw_bytes)
{
    const size_t piece = 1024;
    ZSTD_inBuffer in = {m->zbuf.p, 0, 0};
    ZSTD_outBuffer out = {m->raw.p, raw_bytes, 0};
    size_t end = 0, left = 1;
    int more = 1;
    while (more && left != 0) {
        size_t was_in = in.pos, was_out = out.pos;
        in.size = zbytes - in.size > piece ? in.size + piece : zbytes;
        left = ZSTD_decompressStream(m->dctx, &out, &in);
        if (ZSTD_isError(left))
            return ZSTD_getErrorName(left);
        if (left != 0 && in.size == zbytes && in.pos == was_in && out.pos == was_out)
            return "zstd frame does not end where its sizes say"; /* all of it given, and no way on */
        if (out.pos != was_out)
            end = sites_end(m->raw.p, end, out.pos, &more);
    }
    if (left == 0 && out.pos != raw_bytes)
        return "zstd frame does not end where its sizes say";
    r->sec = (struct cur){m->raw.p, m->raw.p + end, 0};
    return NULL;
}

/* The frame at r->off, bytes long, taken in place of being read: its
 * sections are those handed in (shlog_reader_frame_sections). Returns 1. */
static int frame_taken(struct shlog_reader *r, uint64_t bytes, uint32_t raw_bytes)
{
    r->frame_off = r->off;
    r->off += bytes;
    r->frame_light = 0;
    r->frame_open = 1;
    r->sec = r->clock_scan = r->taken;
    r->clock_left = 0;
    r->clock_damaged = 0;
    r->st.frames++;
    r->st.raw_bytes += raw_bytes;
    r->st.compressed_bytes += bytes;
    return 1;
}

/* 1 when the zstd frame after the prefix at r->off is a whole skippable
 * frame (an index frame): zstd decodes it to nothing, checks no more than
 * its magic and size, so reading its payload would change nothing. */
static int frame_skippable(struct shlog_reader *r, uint32_t zbytes)
{
    uint8_t head[8], last;
    if (zbytes < sizeof(head) || pread_full(r, head, sizeof(head), r->off + SHLOG_FRAME_PREFIX_BYTES) != sizeof(head))
        return 0;
    uint32_t magic = get_u32le(head);
    return (magic & ZSTD_MAGIC_SKIPPABLE_MASK) == ZSTD_MAGIC_SKIPPABLE_START && get_u32le(head + 4) == zbytes - 8 &&
           pread_full(r, &last, 1, r->off + SHLOG_FRAME_PREFIX_BYTES + zbytes - 1) == 1;
}

/* Loads the next frame: 1 loaded, 2 *ev holds an error to return, 0 no more
 * data (for now), -errno on I/O errors. */
static int frame_load(struct shlog_reader *r, struct shlog_event *ev)
{
    if (r->frame_take) {
        shlog_reader_frame_sections(r, NULL, 0);
        uint64_t bytes = r->frame_take(r->frame_take_ctx, r->off);
        if (bytes >= SHLOG_FRAME_PREFIX_BYTES)
            return frame_taken(r, bytes, 0);
    }
    uint8_t pre[SHLOG_FRAME_PREFIX_BYTES];
    ssize_t n = pread_full(r, pre, sizeof(pre), r->off);
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
        r->st.lost_records[SHM_LOSS_UNREADABLE]++;
        shlog__ev_error(r, ev, at, "bad frame prefix; skipped %llu bytes to the next frame",
                 (unsigned long long)((uint64_t)next - at));
        return 2;
    }
    uint32_t zbytes = get_u32le(pre + 4), raw_bytes = get_u32le(pre + 8);
    int want = 1;
    r->offered_raw = raw_bytes;
    if (r->frame_want) {
        shlog_reader_frame_sections(r, NULL, 0);
        want = r->frame_want(r->frame_want_ctx, r->off, SHLOG_FRAME_PREFIX_BYTES + zbytes, get_u32le(pre + 12));
    }
    if (want == SHLOG_FRAME_TAKEN) /* not read past its prefix */
        return frame_taken(r, SHLOG_FRAME_PREFIX_BYTES + zbytes, raw_bytes);
    if (raw_bytes == 0 && frame_skippable(r, zbytes)) {
        shlog_reader_frame_sections(r, NULL, 0); /* it has none */
        return frame_taken(r, SHLOG_FRAME_PREFIX_BYTES + zbytes, 0);
    }
    struct shlog_frame_mem *m = r->fm = frame_mem_take(r);
    if (buf_reserve(&m->zbuf, zbytes))
        return -ENOMEM;
    n = pread_full(r, m->zbuf.p, zbytes, r->off + SHLOG_FRAME_PREFIX_BYTES);
    if (n < 0)
        return -errno;
    if ((size_t)n < zbytes)
        return frame_torn(r, ev, SHLOG_FRAME_PREFIX_BYTES + (uint64_t)n) ? 2 : 0;

    uint64_t at = r->off;
    r->frame_off = at;
    r->off += SHLOG_FRAME_PREFIX_BYTES + zbytes;
    r->frame_light = !want;
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
    int sites_only = r->skip_records && (r->hdr.flags & SHLOG_FILE_SITES_FIRST);
    if (!why)
        ZSTD_DCtx_reset(m->dctx, ZSTD_reset_session_only);
    if (!why && sites_only) {
        why = frame_sites(r, m, zbytes, raw_bytes);
    } else if (!why) {
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
    if (!sites_only)
        r->sec = (struct cur){m->raw.p, m->raw.p + raw_bytes, 0};
    r->clock_scan = r->sec;
    r->clock_left = 0;
    r->clock_damaged = 0;
    r->st.frames++;
    r->st.raw_bytes += raw_bytes;
    r->st.compressed_bytes += SHLOG_FRAME_PREFIX_BYTES + zbytes;
    return 1;
}

/* ==== Events ==== */

int shlog_reader_next(struct shlog_reader *r, struct shlog_event *ev)
{
    if (r->event_due) {
        r->event_due = 0;
        *ev = r->due;
        return 1;
    }
    for (;;) {
        int rc;
        if (r->b.open) {
            if (r->blocks && !r->block && !(r->block = malloc(sizeof *r->block)))
                return -ENOMEM; /* made again after shlog_reader_trim */
            rc = r->blocks ? shlog__batch_block(r, ev) : shlog__batch_next(r, ev);
            if (rc)
                return rc;
            continue;
        }
        if (r->clock_left || r->clock_damaged || r->clock_scan.p < r->clock_scan.end) {
            rc = shlog__clock_next(r, ev);
            if (rc)
                return rc;
            continue;
        }
        if (r->sec.p < r->sec.end) {
            rc = shlog__section_next(r, ev);
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
