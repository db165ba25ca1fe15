/*
 * Description: fuzzes the segment validator and reader (shm/reader_*.c) with
 * hostile metadata and ring segments, checking what reader.h promises about
 * every answer (bounds, bounded progress, no writes).
 *
 * Input: byte 0 chooses the layout (low 2 bits), the rest is the segment.
 *   0 raw meta   the file "fz-4242.meta" is the rest of the input as is
 *   1 raw ring   the file "fz-4242-cpu3.ring" is the rest as is
 *   2 meta       a valid segment header (magic, ABI, format word, sizes, pid,
 *                uid) then: u32 file size, 200 bytes of meta fields at offset
 *                128, the rest at 4096 (site table, strings)
 *   3 ring       a valid segment header then: u32 file size, 24 bytes at 128
 *                (cpu .. ring_flags), 32 at 256 (producer line), 24 at 384
 *                (consumer line), the rest at 4096 (slots)
 * Bit 2 maps the segment writable (as the collector does); bits 3-4 are the
 * header flags. A file smaller than its fields is padded with zeros.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "fuzz_common.h"
#include "reader.h"

#define FZ_PID 4242u
#define FZ_MAX_FILE_BYTES ((1u << 20) + 4096u) /* rings up to 16 Ki records */
#define FZ_META_FIELDS_BYTES 200u /* struct shmlog_meta from app to unregistered */
#define FZ_MAX_SITE_IDS 4096u     /* ids tried per input: keeps one run fast */

enum layout { RAW_META, RAW_RING, BUILT_META, BUILT_RING };

_Static_assert(offsetof(struct shmlog_meta, unregistered) + 8 == 128 + FZ_META_FIELDS_BYTES,
               "meta fields end where the harness thinks");
_Static_assert(offsetof(struct shmlog_ring, pad0) == 152 && offsetof(struct shmlog_ring, pad1) == 288 &&
                   offsetof(struct shmlog_ring, pad2) == 408,
               "ring lines hold the fields the harness fills");

static uint8_t file_buf[FZ_MAX_FILE_BYTES];

/* Lays the input out as a segment in file_buf; returns the file size. The
 * file_buf bytes past *data_bytes are zero (and not written: a hole). */
static size_t build_segment(struct fz_in *in, unsigned kind, unsigned hdr_flags, size_t *data_bytes)
{
    uint32_t want = fz_u32(in);
    memset(file_buf, 0, SHMLOG_META_HEADER_BYTES);
    if (kind == SHMLOG_SEG_META) {
        fz_bytes(in, file_buf + 128, FZ_META_FIELDS_BYTES);
    } else {
        fz_bytes(in, file_buf + 128, 24);
        fz_bytes(in, file_buf + 256, 32);
        fz_bytes(in, file_buf + 384, 24);
    }
    size_t body = in->n < FZ_MAX_FILE_BYTES - 4096 ? in->n : FZ_MAX_FILE_BYTES - 4096;
    fz_bytes(in, file_buf + 4096, body);
    size_t bytes = want < FZ_MAX_FILE_BYTES ? want : FZ_MAX_FILE_BYTES;
    if (bytes < 4096 + body)
        bytes = 4096 + body;

    struct shmlog_seg_header h;
    memset(&h, 0, sizeof h);
    h.magic = kind == SHMLOG_SEG_META ? SHMLOG_MAGIC_META : SHMLOG_MAGIC_RING;
    h.abi_version = SHMLOG_ABI_VERSION;
    h.header_bytes = kind == SHMLOG_SEG_META ? SHMLOG_META_HEADER_BYTES : SHMLOG_RING_HEADER_BYTES;
    h.kind = kind;
    h.flags = hdr_flags;
    h.segment_bytes = bytes;
    h.format_word = SHMLOG_FORMAT_WORD;
    h.pid = FZ_PID;
    h.uid = (uint32_t)getuid();
    memcpy(file_buf, &h, sizeof h);
    *data_bytes = 4096 + body;
    return bytes;
}

static void check_meta(const struct shm_seg *seg)
{
    static struct shm_site site;
    struct shm_proc_info info;
    char err[256];
    int rc = shm_meta_info(seg, &info, err, sizeof err);
    FZ_CHECK(rc == 0 || rc == -EINVAL);
    if (rc == 0) {
        FZ_CHECK(info.site_count <= info.site_capacity);
        FZ_CHECK(memchr(info.app, 0, sizeof info.app) && memchr(info.host, 0, sizeof info.host));
        FZ_CHECK(info.pid == FZ_PID);
        /* The clock conversion takes any record time without overflow. */
        struct shm_tsc_clock clock;
        shm_tsc_clock_init(&clock, &info);
        shm_tsc_clock_ns(&clock, 0);
        shm_tsc_clock_ns(&clock, UINT64_MAX);
        shm_tsc_clock_ns(&clock, info.anchor_tsc + info.tsc_hz);
    }
    uint32_t published = rc == 0 ? info.site_count : 0;
    uint32_t last = published < FZ_MAX_SITE_IDS ? published + 2 : FZ_MAX_SITE_IDS;
    for (uint32_t id = 0; id < last; id++) {
        int s = shm_meta_site(seg, id, &site);
        FZ_CHECK(s == 0 || s == -ENOENT || s == -EINVAL);
        if (rc == 0)
            FZ_CHECK((s == -ENOENT) == (id >= published));
        /* A thread entry: never a call site, its name one a file may hold. */
        uint32_t tid = 0;
        char name[SHMLOG_THREAD_NAME_BYTES + 1], clean[SHMLOG_THREAD_NAME_BYTES + 1];
        int t = shm_meta_thread(seg, id, &tid, name);
        FZ_CHECK(t == 0 || t == 1 || t == -ENOENT || t == -EINVAL);
        FZ_CHECK((t == -ENOENT) == (s == -ENOENT) && !(t == 0 && s == 0) && !(t == 1 && s == -ENOENT));
        if (t == 0) {
            size_t len = strlen(name);
            FZ_CHECK(tid != 0 && len >= 1 && len <= SHMLOG_THREAD_NAME_BYTES);
            FZ_CHECK(shmlog_thread_name_clean(name, len, clean) == len && strcmp(clean, name) == 0);
        }
        if (s != 0)
            continue;
        FZ_CHECK(site.id == id);
        FZ_CHECK(site.fmt_len <= SHMLOG_MAX_FMT_BYTES && strlen(site.fmt) == site.fmt_len);
        FZ_CHECK(site.file_len <= SHMLOG_MAX_FILE_BYTES && strlen(site.file) == site.file_len);
        FZ_CHECK(site.func_len <= SHMLOG_MAX_FUNC_BYTES && strlen(site.func) == site.func_len);
        FZ_CHECK(site.desc_len <= SHMLOG_MAX_DESC_BYTES && strlen(site.desc) == site.desc_len);
        FZ_CHECK(site.nargs <= SHMLOG_MAX_ARGS);
        FZ_CHECK(site.level <= SHMLOG_LEVEL_FATAL && site.category < SHMLOG_MAX_CATEGORIES);
        for (unsigned i = 0; i < site.nargs; i++)
            FZ_CHECK(site.arg_types[i] > SHMLOG_ARG_NONE && site.arg_types[i] < SHMLOG_ARG_TYPE_COUNT);
    }
    /* Ids far past the table are unknown, never read. */
    FZ_CHECK(shm_meta_site(seg, UINT32_MAX, &site) != 0);
}

/* Drains the ring from its tail as the collector would, checking each answer. */
static void drain_ring(const struct shm_ring_view *v, int writer_dead)
{
    static struct shm_copied_record rec;
    static struct shmlog_record taken[64];
    const uint64_t head = shm_ring_head(v);
    uint64_t pos = shm_ring_tail(v);
    /* Work is bounded whatever head and tail say: records and losses move
     * forward, a ring of slots at most past a jump to head - cap. */
    const uint64_t max_steps = 3 * v->cap + 16;
    for (uint64_t step = 0;; step++) {
        FZ_CHECK(step < max_steps);
        struct shm_loss loss;
        const uint64_t old = pos;
        /* The fast read first, in runs of every length: whole committed
         * records whose slots tile what it took, headers as ring_next
         * checks them. */
        size_t max = 1 + step % 64;
        size_t took = shm_ring_take(v, &pos, head, taken, max);
        FZ_CHECK(took <= max && pos == old + took);
        for (size_t i = 0; i < took; i += taken[i].nslots) {
            const struct shmlog_record *r = &taken[i];
            FZ_CHECK(r->commit == old + i + 1 && r->nslots >= 1 && r->nslots <= took - i);
            FZ_CHECK(((old + i) & v->mask) + r->nslots <= v->cap);
            FZ_CHECK(r->level <= SHMLOG_LEVEL_FATAL && r->category < SHMLOG_MAX_CATEGORIES);
            FZ_CHECK((r->flags & ~SHMLOG_REC_HEAD_FLAGS) == 0);
            for (unsigned j = 1; j < r->nslots; j++)
                FZ_CHECK(taken[i + j].commit == ((old + i + j + 1) | SHMLOG_COMMIT_CONT));
        }
        if (took)
            continue;
        int st = shm_ring_next(v, &pos, &rec, writer_dead, &loss);
        switch (st) {
        case SHM_READ_RECORD:
            /* At old, or after PAD records skipped silently. */
            FZ_CHECK(rec.pos - old < v->cap && rec.nslots >= 1 && rec.nslots <= SHMLOG_MAX_SLOTS);
            FZ_CHECK(pos == rec.pos + rec.nslots);
            FZ_CHECK(rec.level <= SHMLOG_LEVEL_FATAL && rec.category < SHMLOG_MAX_CATEGORIES);
            FZ_CHECK((rec.flags & ~SHMLOG_REC_HEAD_FLAGS) == 0);
            FZ_CHECK(rec.payload_len == SHMLOG_HEAD_PAYLOAD + (rec.nslots - 1u) * SHMLOG_CONT_PAYLOAD);
            break;
        case SHM_READ_LOSS:
            FZ_CHECK(loss.first_pos - old < v->cap && loss.positions == pos - loss.first_pos && loss.positions >= 1);
            FZ_CHECK(loss.reason == SHM_LOSS_OVERWRITTEN || loss.reason == SHM_LOSS_CORRUPT ||
                     (writer_dead && loss.reason == SHM_LOSS_DEAD_WRITER));
            break;
        case SHM_READ_EMPTY:
            /* Skipped PAD records may have moved pos. A writer that commits
             * slots past its head (only a hostile one can) may carry pos past
             * head: the reader trusts a committed slot without reading head. */
            FZ_CHECK((int64_t)(head - pos) <= 0 && pos - old <= v->cap);
            return;
        case SHM_READ_PENDING:
            /* pos may have moved over PAD records only: less than a ring. */
            FZ_CHECK(!writer_dead && pos - old < v->cap);
            return;
        default:
            FZ_CHECK(!"unknown read status");
        }
    }
}

static void check_ring(const struct shm_seg *seg)
{
    struct shm_ring_view v;
    char err[256];
    if (shm_ring_view_init(&v, seg, err, sizeof err) != 0)
        return;
    FZ_CHECK(v.cap >= SHMLOG_RING_MIN_RECORDS && (v.cap & v.mask) == 0);
    FZ_CHECK(SHMLOG_RING_HEADER_BYTES + v.cap * SHMLOG_RECORD_BYTES <= seg->bytes);
    FZ_CHECK(v.policy <= SHMLOG_SPIN);
    shm_ring_dropped(&v);
    drain_ring(&v, 0);
    drain_ring(&v, 1);
}

static void check_name(const uint8_t *data, size_t size)
{
    char name[300], app[SHMLOG_APP_BYTES];
    size_t n = size < sizeof name - 1 ? size : sizeof name - 1;
    memcpy(name, data, n);
    name[n] = '\0';
    unsigned kind;
    uint32_t pid, cpu;
    if (shm_parse_seg_name(name, &kind, app, sizeof app, &pid, &cpu) == 0) {
        FZ_CHECK(kind == SHMLOG_SEG_META || kind == SHMLOG_SEG_RING);
        FZ_CHECK(pid >= 1 && pid <= 0x7fffffffu);
        FZ_CHECK(memchr(app, 0, sizeof app) != NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > FZ_MAX_FILE_BYTES)
        return 0;
    const char *dir = fz_private_dir();
    if (!dir)
        return 0;
    struct fz_in in = {data + 1, size - 1};
    unsigned ctl = data[0];
    unsigned layout = ctl & 3;
    int writable = (ctl >> 2) & 1;
    unsigned kind = layout == RAW_META || layout == BUILT_META ? SHMLOG_SEG_META : SHMLOG_SEG_RING;

    size_t bytes, data_bytes;
    if (layout == RAW_META || layout == RAW_RING) {
        check_name(in.p, in.n);
        bytes = data_bytes = in.n;
        memcpy(file_buf, in.p, bytes);
    } else {
        bytes = build_segment(&in, kind, (ctl >> 3) & 3, &data_bytes);
    }

    char path[128];
    if (kind == SHMLOG_SEG_META)
        snprintf(path, sizeof path, "%s/fz-%u.meta", dir, FZ_PID);
    else
        snprintf(path, sizeof path, "%s/fz-%u-cpu3.ring", dir, FZ_PID);
    if (fz_write_file(path, file_buf, data_bytes, bytes) != 0)
        return 0;

    struct shm_seg seg;
    char err[512];
    int rc = shm_seg_open(&seg, path, writable, NULL, err, sizeof err);
    unlink(path); /* the mapping stays; a crash below leaves no file behind */
    if (rc == 0) {
        FZ_CHECK(seg.bytes == bytes && seg.hdr.segment_bytes == bytes && seg.hdr.pid == FZ_PID);
        FZ_CHECK(shm_seg_check_header(&seg.hdr, seg.bytes, kind) == NULL);
        if (kind == SHMLOG_SEG_META)
            check_meta(&seg);
        else
            check_ring(&seg);
        /* Reading never writes to the segment, even mapped writable (the
         * zero tail is left out: comparing it costs more than it finds). */
        FZ_CHECK(memcmp(seg.addr, file_buf, data_bytes) == 0);
        shm_seg_close(&seg);
    } else {
        FZ_CHECK(rc < 0 && memchr(err, 0, sizeof err) != NULL);
    }
    return 0;
}
