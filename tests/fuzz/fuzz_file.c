/*
 * Description: fuzzes the file decoder (format/shlog_decode_*.c)
 * with damaged and hostile files, and the encoder with round trips: whatever
 * the encoder was given must come back from the decoder unchanged.
 *
 * Input: byte 0 bits 0-1 choose the mode, bit 2 reads in follow mode, bit 3
 * cuts the end of a built file (tears the last frame).
 *   0 file      the rest of the input is the whole file
 *   1 frames    a valid file header, then the rest (prefixes, zstd frames)
 *   2 sections  a valid file header, then one valid frame (prefix with a good
 *               check, zstd with checksum and content size) per chunk of the
 *               rest; a chunk is <u16 length><that many bytes of sections>
 *   3 encoder   the rest drives shlog_enc_* (processes, sites, batches of
 *               records as a ring reader returns them, losses, exits, frame
 *               ends); the file read back must hold exactly those events
 * Every file is read twice with one dedup state: the second pass must drop
 * every record and position loss as already seen. Its frames are read once
 * more as messages (shlog_context_next's context, then the frame, pushed
 * into a reader of frames of its own): never a crash, and, for the
 * encoder's files, each frame's records exactly as the file read gives them. Read a block of
 * records at a time, a file gives the same events as read a record at a time. Every event is checked
 * against shlog_file.h, every record renders to a valid text and JSON line,
 * and the sites the reader returned stay readable until it is closed. Files
 * are also read through libshmlog-read: as events, in columns, and as Arrow
 * record batches (well formed: offsets, UTF-8, dictionary indices).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include "../event_prints.h"
#include "fuzz_common.h"
#include "render.h"
#include "shmlog_read.h"
#include "shlog_file.h"

#define FZ_MAX_FILE (1u << 20)
#define FZ_MAX_EVENTS (1u << 20)
#define FZ_MAX_KEPT_SITES 4096u
#define FZ_PROCS 4u
#define FZ_CPUS 4u
#define FZ_SITE_IDS 8u

enum mode { MODE_FILE, MODE_FRAMES, MODE_SECTIONS, MODE_ENCODER };

static uint8_t file_buf[FZ_MAX_FILE + 4096];
static char line_buf[RENDER_LINE_MAX];

/* FNV-1a 32 as FORMAT.md defines the checks: an independent implementation. */
static uint32_t fnv1a32(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

static void put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static size_t put_file_header(uint8_t *out, uint32_t flags)
{
    struct shlog_file_header h;
    memset(&h, 0, sizeof h);
    h.flags = flags;
    h.version = SHLOG_FILE_VERSION;
    h.file_seq = 7;
    h.created_ns = 1700000000000000000ull;
    h.collector_pid = 4242;
    memcpy(h.host, "fuzzhost", 9);
    shlog_file_header_encode(out, &h);
    return SHLOG_FILE_HEADER_BYTES;
}

/* Appends a valid frame holding content; returns its size, 0 if it does not fit. */
static size_t put_frame(uint8_t *out, size_t cap, const uint8_t *content, size_t n)
{
    static ZSTD_CCtx *cctx;
    if (!cctx) {
        cctx = ZSTD_createCCtx();
        if (!cctx)
            return 0;
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
    }
    if (cap < SHLOG_FRAME_PREFIX_BYTES + ZSTD_compressBound(n))
        return 0;
    size_t z = ZSTD_compress2(cctx, out + SHLOG_FRAME_PREFIX_BYTES, cap - SHLOG_FRAME_PREFIX_BYTES, content, n);
    if (ZSTD_isError(z))
        return 0;
    put_u32le(out, SHLOG_FRAME_MAGIC);
    put_u32le(out + 4, (uint32_t)z);
    put_u32le(out + 8, (uint32_t)n);
    put_u32le(out + 12, fnv1a32(out, 12));
    return SHLOG_FRAME_PREFIX_BYTES + z;
}

/* ==== What the encoder was given, to compare with what comes back ==== */

struct want {
    int kind;
    uint32_t proc, cpu;
    struct shm_proc_info info;            /* PROCESS */
    const struct shm_site *site;     /* SITE */
    struct shm_copied_record rec;                   /* RECORD: payload as the decoder must return it */
    int site_known;                          /* RECORD: its site is in the file */
    struct shm_loss loss;                 /* LOSS */
    uint64_t counter_total, exit_ns, exit_records, exit_lost;
};

#define FZ_MAX_WANT 8192u
static struct want wants[FZ_MAX_WANT];
static size_t nwants;

/* ==== Reading a file back ==== */

/* Sites the reader returned: their strings must stay valid until it closes. */
static const struct shlog_site *kept_sites[FZ_MAX_KEPT_SITES];
static size_t nkept;
/* The anchors a file gave so far: its records map with them, as readers map them. */
static struct shm_clock_map clock_map;

/* The renderer takes the site in reader.h's form, as the event gives it. */
static void check_site_info(const struct shlog_event *ev)
{
    const struct shlog_site *s = ev->site;
    const struct shm_site *si = ev->site_info;
    if (!s) {
        FZ_CHECK(si == NULL);
        return;
    }
    FZ_CHECK(si != NULL && si->id == s->id && si->line == s->line && si->level == s->level &&
             si->category == s->category && si->nargs == s->nargs &&
             memcmp(si->arg_types, s->arg_types, s->nargs) == 0 && si->fmt_len == s->fmt_len &&
             si->file_len == s->file_len && memcmp(si->fmt, s->fmt, s->fmt_len + 1) == 0 &&
             memcmp(si->file, s->file, s->file_len + 1) == 0 && si->func_len == s->func_len &&
             si->desc_len == s->desc_len && memcmp(si->func, s->func, s->func_len + 1) == 0 &&
             memcmp(si->desc, s->desc, s->desc_len + 1) == 0);
}

static void render_event(const struct shlog_event *ev)
{
    const struct shm_proc_info *p = &ev->proc->info;
    uint64_t ts;
    if (shm_clock_map_ready(&clock_map)) {
        ts = shm_clock_map_ns(&clock_map, ev->rec->tsc);
    } else {
        struct shm_tsc_clock clock;
        shm_tsc_clock_init(&clock, p);
        ts = shm_tsc_clock_ns(&clock, ev->rec->tsc);
    }
    struct render_input ri = {p->app, p->host, p->pid, ev->cpu, ts, ev->site_info, ev->rec, p->instance, NULL};
    for (int json = 0; json <= 1; json++) {
        struct render_buf b;
        render_buf_init(&b, line_buf, sizeof line_buf);
        FZ_CHECK(render_record(&ri, json, &b) == 0);
        FZ_CHECK(json ? fz_json_line_valid(b.data, b.len) : fz_text_line_valid(b.data, b.len));
    }
}

/* ERROR events of the reader being checked so far. */
static unsigned errors_seen;

static void check_event(struct shlog_reader *r, const struct shlog_event *ev)
{
    errors_seen += ev->kind == SHLOG_EV_ERROR;
    FZ_CHECK((ev->kind >= SHLOG_EV_PROCESS && ev->kind <= SHLOG_EV_ERROR) || ev->kind == SHLOG_EV_CLOCK ||
             ev->kind == SHLOG_EV_CATEGORY || ev->kind == SHLOG_EV_THREAD);
    if (ev->kind == SHLOG_EV_ERROR) {
        FZ_CHECK(ev->error[0] != '\0' && memchr(ev->error, 0, sizeof ev->error) != NULL);
        return;
    }
    if (ev->kind == SHLOG_EV_CLOCK) {
        /* A label and a line: printable, terminated; the map takes anything. */
        const char *cs = ev->clock.clocksource;
        FZ_CHECK(memchr(cs, 0, sizeof ev->clock.clocksource) != NULL);
        for (const char *c = cs; *c; c++)
            FZ_CHECK(*c > 0x20 && *c < 0x7f);
        FZ_CHECK((ev->anchor.flags & ~(SHM_ANCHOR_STEPPED | SHM_ANCHOR_OFFSET)) == 0);
        shm_clock_map_add(&clock_map, &ev->anchor, ev->clock.hz_q16);
        FZ_CHECK(clock_map.n >= 1 && clock_map.n <= SHM_CLOCK_MAP_ANCHORS);
        return;
    }
    FZ_CHECK(ev->proc != NULL && shlog_reader_process(r, ev->proc->key) == ev->proc);
    FZ_CHECK(memchr(ev->proc->info.app, 0, SHMLOG_APP_BYTES) && memchr(ev->proc->info.host, 0, SHMLOG_HOST_BYTES));
    switch (ev->kind) {
    case SHLOG_EV_SITE: {
        const struct shlog_site *s = ev->site;
        FZ_CHECK(s != NULL && s->proc == ev->proc->key && shlog_reader_site(r, s->proc, s->id) == s);
        FZ_CHECK(s->nargs <= SHMLOG_MAX_ARGS);
        for (unsigned i = 0; i < s->nargs; i++)
            FZ_CHECK(s->arg_types[i] > SHMLOG_ARG_NONE && s->arg_types[i] < SHMLOG_ARG_TYPE_COUNT);
        FZ_CHECK(s->fmt_len <= SHMLOG_MAX_FMT_BYTES && s->fmt[s->fmt_len] == '\0');
        FZ_CHECK(s->file_len <= SHMLOG_MAX_FILE_BYTES && s->file[s->file_len] == '\0');
        FZ_CHECK(s->func_len <= SHMLOG_MAX_FUNC_BYTES && s->func[s->func_len] == '\0');
        FZ_CHECK(s->desc_len <= SHMLOG_MAX_DESC_BYTES && s->desc[s->desc_len] == '\0');
        check_site_info(ev);
        if (nkept < FZ_MAX_KEPT_SITES)
            kept_sites[nkept++] = s;
        break;
    }
    case SHLOG_EV_RECORD: {
        const struct shm_copied_record *rec = ev->rec;
        FZ_CHECK(rec != NULL && rec->nslots >= 1 && rec->nslots <= SHMLOG_MAX_SLOTS);
        FZ_CHECK(rec->payload_len <= SHMLOG_MAX_PAYLOAD);
        if (ev->site)
            FZ_CHECK(ev->site == shlog_reader_site(r, ev->proc->key, rec->site));
        check_site_info(ev);
        render_event(ev);
        break;
    }
    case SHLOG_EV_THREAD: { /* a name as the collector writes it, whatever the section held */
        char clean[SHMLOG_THREAD_NAME_BYTES + 1];
        size_t len = strnlen(ev->thread_name, sizeof ev->thread_name);
        FZ_CHECK(ev->thread_tid != 0 && len >= 1 && len <= SHMLOG_THREAD_NAME_BYTES);
        FZ_CHECK(shmlog_thread_name_clean(ev->thread_name, len, clean) == len && strcmp(clean, ev->thread_name) == 0);
        break;
    }
    case SHLOG_EV_LOSS:
        FZ_CHECK(ev->loss.reason >= SHM_LOSS_DROPPED && ev->loss.reason <= SHM_LOSS_REASON_MAX &&
                 ev->loss.reason != SHM_LOSS_UNREADABLE); /* only readers count that one */
        /* a reader's own only after an error that says why */
        FZ_CHECK(ev->loss.reason != SHM_LOSS_UNDECODABLE || errors_seen);
        break;
    default:
        break;
    }
}

static int same_want(const struct want *w, const struct shlog_event *ev)
{
    if (w->kind != ev->kind || (ev->kind != SHLOG_EV_ERROR && ev->proc->key != w->proc))
        return 0;
    switch (ev->kind) {
    case SHLOG_EV_PROCESS: {
        const struct shm_proc_info *a = &w->info, *b = &ev->proc->info;
        return a->pid == b->pid && a->uid == b->uid && a->proc_start == b->proc_start &&
               a->created_ns == b->created_ns && a->tsc_hz == b->tsc_hz && a->anchor_tsc == b->anchor_tsc &&
               a->anchor_ns == b->anchor_ns && strcmp(a->app, b->app) == 0 && strcmp(a->host, b->host) == 0;
    }
    case SHLOG_EV_SITE: {
        const struct shm_site *a = w->site;
        const struct shlog_site *b = ev->site;
        return a->id == b->id && a->line == b->line && a->level == b->level && a->category == b->category &&
               a->nargs == b->nargs && memcmp(a->arg_types, b->arg_types, a->nargs) == 0 &&
               a->fmt_len == b->fmt_len && memcmp(a->fmt, b->fmt, a->fmt_len) == 0 &&
               a->file_len == b->file_len && memcmp(a->file, b->file, a->file_len) == 0 &&
               a->func_len == b->func_len && memcmp(a->func, b->func, a->func_len) == 0 &&
               a->desc_len == b->desc_len && memcmp(a->desc, b->desc, a->desc_len) == 0;
    }
    case SHLOG_EV_RECORD: {
        const struct shm_copied_record *a = &w->rec, *b = ev->rec;
        return ev->cpu == w->cpu && (ev->site != NULL) == w->site_known && a->pos == b->pos &&
               a->tsc == b->tsc && a->site == b->site && a->tid == b->tid && a->level == b->level &&
               a->category == b->category && a->flags == b->flags && a->nslots == b->nslots &&
               a->payload_len == b->payload_len && memcmp(a->payload, b->payload, a->payload_len) == 0;
    }
    case SHLOG_EV_LOSS:
        return ev->cpu == w->cpu && ev->loss.first_pos == w->loss.first_pos &&
               ev->loss.positions == w->loss.positions && ev->loss.records == w->loss.records &&
               ev->loss.reason == w->loss.reason && ev->counter_total == w->counter_total;
    case SHLOG_EV_EXIT:
        return ev->exit_ns == w->exit_ns && ev->exit_records == w->exit_records && ev->exit_lost == w->exit_lost;
    default:
        return 0;
    }
}

/* What the last read_file() saw: its records, and whether it read to the end. */
static uint64_t read_records;
static int read_complete;

/* A value tree's column (list, map, their entries, tuples, typed leaves) is well formed: each list's offsets
 * rise within its child, the child as long as its last offset, a struct's fields as long as it, strings valid
 * UTF-8, a map's keys never null. entries: a is a map's entries. */
static void check_nested(const struct ArrowArray *a, const struct ArrowSchema *sc, int entries)
{
    FZ_CHECK(a->null_count >= 0 && a->null_count <= a->length && a->n_children == sc->n_children);
    if (sc->format[0] == 'u' || sc->format[0] == '+') {
        if (strcmp(sc->format, "+s") == 0) {
            FZ_CHECK(a->n_children > 0 && (!entries || (a->n_children == 2 && a->null_count == 0)));
            for (int64_t k = 0; k < a->n_children; k++) {
                FZ_CHECK(a->children[k]->length == a->length);
                check_nested(a->children[k], sc->children[k], 0);
            }
            FZ_CHECK(!entries || a->children[0]->null_count == 0); /* a map's keys */
            return;
        }
        const int32_t *off = a->buffers[1];
        FZ_CHECK(off[0] == 0);
        for (int64_t i = 0; i < a->length; i++)
            FZ_CHECK(off[i] <= off[i + 1]);
        if (sc->format[0] == 'u') {
            FZ_CHECK(render_utf8_valid(a->buffers[2], (size_t)off[a->length]) == (size_t)off[a->length]);
            return;
        }
        FZ_CHECK(a->n_children == 1 && a->children[0]->length == off[a->length]);
        check_nested(a->children[0], sc->children[0], strcmp(sc->format, "+m") == 0);
    }
}

/* The same file through libshmlog-read (shmlog-dump read's engine: sources,
 * dedup, the merge, filters off): every record the decoder gave comes out
 * once, and each renders to a whole line. */
static void read_with_library(const uint8_t *bytes, size_t n)
{
    /* A real file: readers refuse to follow symbolic links (/proc/self/fd/N). */
    char path[64], err[512];
    snprintf(path, sizeof path, "/dev/shm/shmlog-fuzz-file-%d.shlog", (int)getpid());
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    int written = fwrite(bytes, 1, n, f) == n;
    if (fclose(f) != 0 || !written) {
        unlink(path);
        return;
    }
    const char *paths[] = {path};
    struct shmlog_read *r;
    if (shmlog_read_open(&r, paths, 1, NULL, err, sizeof err) != 0) {
        FZ_CHECK(memchr(err, 0, sizeof err) != NULL);
        unlink(path);
        return;
    }
    const struct shmlog_read_event *ev;
    uint64_t records = 0;
    int rc;
    while ((rc = shmlog_read_next(r, &ev)) > 0) {
        if (ev->kind == SHMLOG_READ_ERROR) {
            FZ_CHECK(ev->error && strlen(ev->error) < 4096);
            FZ_CHECK(shmlog_read_line(r, 0, NULL) == NULL);
            continue;
        }
        size_t len = 0;
        const char *line = shmlog_read_line(r, (int)(records & 1), &len);
        FZ_CHECK(line && len > 0 && line[len - 1] == '\n' && strlen(line) == len);
        if (ev->kind != SHMLOG_READ_RECORD)
            continue;
        records++;
        const struct shmlog_read_field *f;
        int n = shmlog_read_fields(r, &f);
        FZ_CHECK(n >= -1 && n <= (int)SHMLOG_MAX_ARGS);
        for (int i = 0; i < n; i++)
            FZ_CHECK(f[i].name && (f[i].type != SHMLOG_READ_STR || strlen(f[i].v.s) <= f[i].str_len));
        const char *msg = shmlog_read_message(r, &len);
        FZ_CHECK(!msg == !ev->site && (!msg || strlen(msg) <= len));
    }
    FZ_CHECK(rc == 0);
    shmlog_read_close(r);
    if (read_complete)
        FZ_CHECK(records == read_records);

    /* Again in columns, with small arrays: the same records, every row's
     * message and values inside what it was given. */
    enum { ROWS = 5, VALUES = 24 };
    static uint64_t ts[ROWS], seq[ROWS], msg[ROWS], values[VALUES], thread[ROWS];
    static uint32_t tid[ROWS], cpu[ROWS], source[ROWS], values_at[ROWS];
    static uint8_t level[ROWS], category[ROWS], flags[ROWS];
    static char text[8192];
    struct shmlog_read_columns c = {sizeof c, ROWS, ts, seq, tid, cpu, source, level, category, flags, msg,
                                    values_at, text, sizeof text, values, VALUES, thread};
    /* These reads through a merge of one byte: each entry goes on once queued
     * (best-effort order), so the bound is taken at every record. */
    struct shmlog_read_options tiny = SHMLOG_READ_OPTIONS_INIT;
    tiny.merge_bytes = 1;
    if (shmlog_read_open(&r, paths, 1, &tiny, err, sizeof err) != 0) {
        unlink(path);
        return;
    }
    uint64_t rows_seen = 0;
    for (;;) {
        long rows = shmlog_read_next_columns(r, &c);
        FZ_CHECK(rows >= 0 || rows == -ENOBUFS);
        if (rows == -ENOBUFS) { /* a message longer than text: taken as an event */
            FZ_CHECK(shmlog_read_next(r, &ev) == 1 && ev->kind == SHMLOG_READ_RECORD);
            rows_seen++;
            continue;
        }
        for (long i = 0; i < rows; i++) {
            const struct shmlog_read_source *src = shmlog_read_source(r, source[i]);
            FZ_CHECK(src && (msg[i] >> 32) + (uint32_t)msg[i] <= sizeof text);
            FZ_CHECK(thread[i] == UINT64_MAX || (thread[i] >> 32) + (uint32_t)thread[i] <= sizeof text);
            FZ_CHECK(shmlog_read_category_name(r, source[i], category[i]) != NULL);
            if (flags[i] & (SHMLOG_READ_CORRUPT | SHMLOG_READ_UNKNOWN_SITE))
                continue;
            FZ_CHECK(values_at[i] + src->nfields <= VALUES);
            for (uint32_t j = 0; j < src->nfields; j++)
                FZ_CHECK(src->field_types[j] != SHMLOG_READ_STR ||
                         (values[values_at[i] + j] >> 32) + (uint32_t)values[values_at[i] + j] <= sizeof text);
        }
        rows_seen += (uint64_t)rows;
        if (rows > 0)
            continue;
        if (shmlog_read_next(r, &ev) <= 0)
            break;
        FZ_CHECK(ev->kind != SHMLOG_READ_RECORD);
    }
    shmlog_read_close(r);
    if (read_complete)
        FZ_CHECK(rows_seen == read_records);

    /* Again as Arrow record batches (the records', then the markers'):
     * the same records, every batch well formed (offsets inside their
     * characters, which are valid UTF-8; indices inside their dictionary). */
    for (uint32_t what = SHMLOG_READ_ARROW_RECORDS; what <= SHMLOG_READ_ARROW_MARKERS; what++) {
        if (shmlog_read_open(&r, paths, 1, &tiny, err, sizeof err) != 0)
            break;
        struct shmlog_read_arrow_options o = SHMLOG_READ_ARROW_OPTIONS_INIT;
        o.what = what;
        o.batch_rows = 3;
        struct ArrowArrayStream s;
        FZ_CHECK(shmlog_read_arrow(r, &o, &s, err, sizeof err) == 0);
        shmlog_read_close(r);
        struct ArrowSchema sc;
        FZ_CHECK(s.get_schema(&s, &sc) == 0);
        uint64_t arrow_rows = 0;
        for (;;) {
            struct ArrowArray a;
            FZ_CHECK(s.get_next(&s, &a) == 0);
            if (!a.release)
                break;
            FZ_CHECK(a.length > 0 && a.length <= 3 && a.n_children == sc.n_children);
            for (int64_t k = 0; k < a.n_children; k++) {
                const struct ArrowArray *col = a.children[k];
                const char *fmt = sc.children[k]->format;
                FZ_CHECK(col->length == a.length && col->null_count >= 0 && col->null_count <= col->length);
                const struct ArrowArray *strs = col->dictionary ? col->dictionary : fmt[0] == 'u' ? col : NULL;
                if (strs) {
                    const int32_t *off = strs->buffers[1];
                    FZ_CHECK(off[0] == 0);
                    for (int64_t i = 0; i < strs->length; i++)
                        FZ_CHECK(off[i] <= off[i + 1]);
                    FZ_CHECK(render_utf8_valid(strs->buffers[2], (size_t)off[strs->length]) ==
                             (size_t)off[strs->length]);
                }
                if (fmt[0] == '+')
                    check_nested(col, sc.children[k], 0);
                if (col->dictionary)
                    for (int64_t i = 0; i < col->length; i++) {
                        int64_t idx = fmt[0] == 'c' ? ((const int8_t *)col->buffers[1])[i]
                                                    : ((const int16_t *)col->buffers[1])[i];
                        const uint8_t *valid = col->buffers[0];
                        FZ_CHECK((valid && !((valid[i >> 3] >> (i & 7)) & 1)) ||
                                 (idx >= 0 && idx < col->dictionary->length));
                    }
            }
            arrow_rows += (uint64_t)a.length;
            a.release(&a);
        }
        sc.release(&sc);
        s.release(&s);
        if (what == SHMLOG_READ_ARROW_RECORDS && read_complete)
            FZ_CHECK(arrow_rows == read_records);
    }
    unlink(path);
}

/* Reads the file at fd to its end. Returns how many records and position
 * losses came out; with want_check, every event must be the next want. */
static uint64_t read_file(int fd, int follow, struct shlog_dedup *dedup, size_t file_bytes, int want_check)
{
    struct shlog_reader *r;
    char err[512];
    if (shlog_reader_open_fd(&r, fd, "fuzz", follow, dedup, err, sizeof err) != 0) {
        FZ_CHECK(!want_check && memchr(err, 0, sizeof err) != NULL);
        return 0;
    }
    struct shlog_event ev;
    uint64_t seen = 0, records = 0, processes = 0, sites = 0, exits = 0;
    size_t next_want = 0;
    read_complete = 0;
    nkept = 0;
    errors_seen = 0;
    memset(&clock_map, 0, sizeof clock_map);
    for (uint32_t n = 0; n < FZ_MAX_EVENTS; n++) {
        int rc = shlog_reader_next(r, &ev);
        FZ_CHECK(rc == 0 || rc == 1);
        if (rc == 0) {
            read_complete = 1;
            break;
        }
        check_event(r, &ev);
        if (want_check) {
            if (next_want >= nwants || !same_want(&wants[next_want], &ev)) {
                fprintf(stderr, "event %zu of kind %d (%s) is not what the encoder was given\n", next_want,
                        ev.kind, ev.kind == SHLOG_EV_ERROR ? ev.error : "");
                FZ_CHECK(!"round trip lost or changed an event");
            }
            next_want++;
        }
        records += ev.kind == SHLOG_EV_RECORD;
        processes += ev.kind == SHLOG_EV_PROCESS;
        sites += ev.kind == SHLOG_EV_SITE;
        exits += ev.kind == SHLOG_EV_EXIT;
        /* What dedup removes on a second reading: records, and losses of
         * positions or of a DROPPED counter's increase. */
        if (ev.kind == SHLOG_EV_RECORD ||
            (ev.kind == SHLOG_EV_LOSS && (ev.loss.positions > 0 || ev.loss.reason == SHM_LOSS_DROPPED)))
            seen++;
    }
    if (want_check)
        FZ_CHECK(next_want == nwants);
    read_records = records;
    const struct shlog_reader_stats *st = shlog_reader_stats(r);
    FZ_CHECK(st->records == records && st->processes == processes && st->sites == sites && st->exits == exits);
    FZ_CHECK(shlog_reader_offset(r) <= file_bytes);
    /* Every site returned so far is still there. */
    for (size_t i = 0; i < nkept; i++)
        FZ_CHECK(strlen(kept_sites[i]->fmt) <= kept_sites[i]->fmt_len &&
                 strlen(kept_sites[i]->file) <= kept_sites[i]->file_len);
    shlog_reader_close(r);
    return seen;
}

/* ==== The frames as messages: each with its context, read on its own ==== */

#define FZ_MAX_MSG_RECORDS 65536u
#define FZ_MAX_MSG_FRAMES 256u

struct rec_print {
    uint64_t offset; /* the frame's */
    uint32_t hash;
};
static struct rec_print file_recs[FZ_MAX_MSG_RECORDS];

static uint32_t rec_hash(const struct shlog_event *ev)
{
    const struct shm_copied_record *r = ev->rec;
    uint64_t v[6] = {ev->cpu, r->pos, r->tsc, r->site, r->tid, (uint64_t)r->level << 24 | (uint64_t)r->category << 16 |
                                                                   (uint64_t)r->flags << 8 | r->nslots};
    uint32_t h = fnv1a32((const uint8_t *)v, sizeof v) ^ ev->proc->info.pid;
    return h * 16777619u ^ fnv1a32(r->payload, r->payload_len);
}

/* Reads the frames of the file at fd one by one, as messages; strict: each
 * frame's records must be the ones the file read gave at its offset. */
static void read_as_messages(int fd, const uint8_t *bytes, size_t n, int strict)
{
    struct shlog_file_header hdr;
    if (n < SHLOG_FILE_HEADER_BYTES || shlog_file_header_decode(bytes, n, &hdr))
        return;
    size_t nrecs = 0;
    struct shlog_reader *r;
    char err[512];
    if (strict && shlog_reader_open_fd(&r, fd, "fuzz", 0, NULL, err, sizeof err) == 0) {
        struct shlog_event ev;
        while (shlog_reader_next(r, &ev) == 1 && nrecs < FZ_MAX_MSG_RECORDS)
            if (ev.kind == SHLOG_EV_RECORD)
                file_recs[nrecs++] = (struct rec_print){ev.offset, rec_hash(&ev)};
        shlog_reader_close(r);
    }
    if (nrecs == FZ_MAX_MSG_RECORDS)
        strict = 0;
    struct shlog_context *ctx;
    if (shlog_context_new(&ctx) != 0)
        return;
    size_t at = SHLOG_FILE_HEADER_BYTES, next_rec = 0;
    for (unsigned k = 0; k < FZ_MAX_MSG_FRAMES && at < n; k++) {
        uint64_t fb = shlog_frame_bytes(bytes + at, n - at);
        if (!fb || fb > n - at)
            break;
        struct shlog_context_out out;
        int rc = shlog_context_next(ctx, bytes + at, fb, &out);
        FZ_CHECK(rc == 0 || rc == -EINVAL || rc == -E2BIG || rc == -ENOMEM);
        /* The context is whole frames. */
        for (size_t c = 0; c < out.ctx_n;) {
            uint64_t cb = shlog_frame_bytes((const uint8_t *)out.ctx + c, out.ctx_n - c);
            FZ_CHECK(cb && cb <= out.ctx_n - c);
            c += cb;
        }
        if (shlog_reader_open_frames(&r, &hdr, "fuzz-message", NULL, err, sizeof err) != 0)
            break;
        struct shlog_event ev;
        nkept = 0;
        memset(&clock_map, 0, sizeof clock_map);
        FZ_CHECK(shlog_reader_push(r, out.ctx, out.ctx_n, SHLOG_FILE_HEADER_BYTES) == 0);
        while (shlog_reader_next(r, &ev) == 1) {
            check_event(r, &ev);
            FZ_CHECK(ev.kind != SHLOG_EV_RECORD);
        }
        /* A push before the last one was read is refused. */
        FZ_CHECK(shlog_reader_push(r, bytes + at, (size_t)fb, at) == 0);
        FZ_CHECK(fb < SHLOG_FRAME_PREFIX_BYTES + 1 || shlog_reader_push(r, bytes, 1, 0) == -EBUSY);
        for (uint32_t e = 0; e < FZ_MAX_EVENTS; e++) {
            int got = shlog_reader_next(r, &ev);
            FZ_CHECK(got == 0 || got == 1);
            if (got == 0)
                break;
            check_event(r, &ev);
            if (ev.kind != SHLOG_EV_RECORD || !strict)
                continue;
            FZ_CHECK(ev.offset == at);
            while (next_rec < nrecs && file_recs[next_rec].offset < at)
                next_rec++;
            FZ_CHECK(next_rec < nrecs && file_recs[next_rec].offset == at && file_recs[next_rec].hash == rec_hash(&ev));
            next_rec++;
        }
        if (strict) /* none of the frame's records was left out */
            FZ_CHECK(next_rec >= nrecs || file_recs[next_rec].offset != at);
        shlog_reader_close(r);
        at += (size_t)fb;
    }
    shlog_context_free(ctx);
}

/* The file at fd read a block of records at a time gives what reading it a
 * record at a time gives: the same records, losses and damage, in order. */
static void read_in_blocks(int fd)
{
    static uint64_t *prints[2];
    long n[2];
    for (int blocks = 0; blocks < 2; blocks++) {
        struct shlog_reader *r;
        char err[512];
        if (shlog_reader_open_fd(&r, fd, "fuzz", 0, NULL, err, sizeof err) != 0)
            return;
        shlog_reader_blocks(r, blocks);
        n[blocks] = ep_prints(r, blocks, &prints[blocks], FZ_MAX_EVENTS);
        shlog_reader_close(r);
        FZ_CHECK(n[blocks] >= 0);
    }
    FZ_CHECK(n[0] == n[1]);
    FZ_CHECK(n[0] == 0 || memcmp(prints[0], prints[1], (size_t)n[0] * sizeof prints[0][0]) == 0);
}

/* The file at fd read for its sites alone (shlog_reader_skip_records: a
 * frame of a SITES_FIRST file decoded no further than them) comes to its end
 * without a record; with want_check, its SITE events are the sites the encoder
 * was given, in order. */
static void read_sites_only(int fd, int want_check)
{
    struct shlog_reader *r;
    char err[512];
    if (shlog_reader_open_fd(&r, fd, "fuzz", 0, NULL, err, sizeof err) != 0)
        return;
    shlog_reader_skip_records(r, 1);
    struct shlog_event ev;
    size_t next = 0;
    int rc = 1;
    for (uint32_t n = 0; n < FZ_MAX_EVENTS && (rc = shlog_reader_next(r, &ev)) == 1; n++) {
        FZ_CHECK(ev.kind != SHLOG_EV_RECORD && ev.kind != SHLOG_EV_BLOCK);
        if (!want_check || ev.kind != SHLOG_EV_SITE)
            continue;
        while (next < nwants && wants[next].kind != SHLOG_EV_SITE)
            next++;
        FZ_CHECK(next < nwants && same_want(&wants[next++], &ev));
    }
    FZ_CHECK(rc == 0 || rc == 1);
    while (want_check && rc == 0 && next < nwants)
        FZ_CHECK(wants[next++].kind != SHLOG_EV_SITE);
    shlog_reader_close(r);
}

/* Declines every other frame (shlog_reader_want_frames): the frame at offset
 * is the one declined last. */
struct decline {
    unsigned calls;
    uint64_t declined;
};
static int decline_every_other(void *clientd, uint64_t offset, uint64_t bytes, uint32_t prefix_check)
{
    struct decline *d = clientd;
    (void)prefix_check;
    FZ_CHECK(bytes >= SHLOG_FRAME_PREFIX_BYTES);
    if (d->calls++ % 2)
        return 1;
    d->declined = offset;
    return 0;
}

/* The file at fd read with every other frame declined, as a reader that
 * skips by an index reads it: never a crash, no record of a declined frame,
 * its batches as TSCs alone. */
static void read_declining(int fd)
{
    struct shlog_reader *r;
    char err[512];
    if (shlog_reader_open_fd(&r, fd, "fuzz", 0, NULL, err, sizeof err) != 0)
        return;
    struct decline d = {0, UINT64_MAX};
    shlog_reader_want_frames(r, decline_every_other, &d);
    struct shlog_event ev;
    int rc = 1;
    for (uint32_t n = 0; n < FZ_MAX_EVENTS && (rc = shlog_reader_next(r, &ev)) == 1; n++) {
        FZ_CHECK(ev.kind != SHLOG_EV_RECORD || ev.offset != d.declined);
        FZ_CHECK(ev.kind != SHLOG_EV_TIMES ||
                 (ev.offset == d.declined && ev.proc && ev.ntscs > 0 && ev.ntscs <= SHLOG_MAX_BATCH_RECORDS));
    }
    FZ_CHECK(rc == 0 || rc == 1);
    shlog_reader_close(r);
}

/* The file's index (FORMAT.md, "Index"): never a crash; its frames in order
 * within the file, and every question answered. with_footer: the encoder
 * closed the file, so its footer is taken and sums up every frame. */
static void read_index(int fd, size_t file_bytes, int with_footer)
{
    struct shlog_index *ix;
    char err[256];
    if (shlog_index_open(&ix, fd, err, sizeof err) != 0) {
        FZ_CHECK(!with_footer);
        return;
    }
    FZ_CHECK(shlog_index_end(ix) <= file_bytes);
    if (with_footer && (!shlog_index_from_footer(ix) || shlog_index_note(ix)))
        fprintf(stderr, "the index of a closed file: %s\n", shlog_index_note(ix));
    if (with_footer)
        FZ_CHECK(shlog_index_from_footer(ix) && !shlog_index_note(ix));
    const char *words[] = {"x", "a b"}, *grams[] = {"rare", "zebra"};
    const struct shlog_index_field fields[] = {{"v", "1"}, {"s", "-2.5"}, {"t", "true"}, {"u", "x"}};
    uint32_t pids[] = {1, 2};
    struct shlog_index_query q = {.since_ns = 1, .until_ns = UINT64_MAX / 2, .levels = 0x0f, .categories = 3,
                                  .pids = pids, .npids = 2, .app = "app", .site = "f.c:1", .words = words,
                                  .nwords = 2, .fields = fields, .nfields = 4, .msg_grams = grams, .nmsg_grams = 2};
    uint64_t end = SHLOG_FILE_HEADER_BYTES;
    for (size_t i = 0; i < shlog_index_count(ix); i++) {
        const struct shlog_index_frame *f = shlog_index_frame(ix, i);
        FZ_CHECK(f->offset >= end && f->bytes <= file_bytes - f->offset);
        FZ_CHECK(!with_footer || f->indexed);
        end = f->offset + f->bytes;
        FZ_CHECK(shlog_index_may_match(f, &(struct shlog_index_query){0}) == (f->indexed ? f->records != 0 : 1));
        int summary = shlog_index_may_match(f, &q);
        /* the filters read when asked (version 3): never more than the summary says, and whole in a closed file */
        FZ_CHECK(shlog_index_may_match_in(ix, f, &q) <= summary);
        int filters = shlog_index_filters(ix, f);
        FZ_CHECK(filters == 0 || filters == 1);
        FZ_CHECK(!with_footer || (filters == 0 && (!f->bloom_blocks || f->bloom)));
        /* a plain frame's rings within its TSCs, its CLOCK sections within the bound */
        FZ_CHECK(!f->nrings || (f->indexed && f->records && f->nrings <= 32 && f->clock_bytes <= 4096));
        const uint8_t *p = f->rings;
        for (uint32_t k = 0; k < f->nrings; k++) {
            struct shlog_index_ring g;
            shlog_index_ring_next(f, &p, &g);
            FZ_CHECK(f->tsc_min <= g.last_tsc && g.last_tsc <= g.max_tsc && g.max_tsc <= f->tsc_max);
        }
    }
    shlog_index_close(ix);
}

/* Takes every plain frame the index lists in place of reading it, as a
 * reader that rules them out does: the frame at offset is the one taken
 * last, of which no record comes. */
struct taking {
    const struct shlog_index *ix;
    struct shlog_reader *r;
    size_t at;
    uint64_t taken;
};
static int take_plain(void *clientd, uint64_t offset, uint64_t bytes, uint32_t prefix_check)
{
    struct taking *t = clientd;
    while (t->at < shlog_index_count(t->ix) && shlog_index_frame(t->ix, t->at)->offset < offset)
        t->at++;
    const struct shlog_index_frame *f = shlog_index_frame(t->ix, t->at);
    if (!f || f->offset != offset || f->bytes != bytes || f->prefix_check != prefix_check || !f->nrings)
        return 1;
    t->taken = offset;
    shlog_reader_frame_sections(t->r, f->clock, f->clock_bytes);
    return SHLOG_FRAME_TAKEN;
}

/* Takes every other plain frame before its prefix is read (the others at take_plain). */
static uint64_t take_plain_early(void *clientd, uint64_t offset)
{
    struct taking *t = clientd;
    while (t->at < shlog_index_count(t->ix) && shlog_index_frame(t->ix, t->at)->offset < offset)
        t->at++;
    const struct shlog_index_frame *f = shlog_index_frame(t->ix, t->at);
    if (!f || f->offset != offset || !f->nrings || t->at % 2)
        return 0;
    t->taken = offset;
    shlog_reader_frame_sections(t->r, f->clock, f->clock_bytes);
    return f->bytes;
}

static void read_taking(int fd)
{
    struct shlog_index *ix;
    char err[512];
    if (shlog_index_open(&ix, fd, err, sizeof err) != 0)
        return;
    struct taking t = {ix, NULL, 0, UINT64_MAX};
    if (shlog_reader_open_fd(&t.r, fd, "fuzz", 0, NULL, err, sizeof err) != 0) {
        shlog_index_close(ix);
        return;
    }
    shlog_reader_want_frames(t.r, take_plain, &t);
    shlog_reader_take_frames(t.r, take_plain_early, &t);
    shlog_reader_report_frame_ends(t.r, 1);
    struct shlog_event ev;
    int rc = 1;
    for (uint32_t n = 0; n < FZ_MAX_EVENTS && (rc = shlog_reader_next(t.r, &ev)) == 1; n++)
        FZ_CHECK(ev.offset != t.taken || ev.kind == SHLOG_EV_CLOCK || ev.kind == SHLOG_EV_FRAME_END ||
                 ev.kind == SHLOG_EV_ERROR);
    FZ_CHECK(rc == 0 || rc == 1);
    shlog_reader_close(t.r);
    shlog_index_close(ix);
}

static void read_twice(const uint8_t *bytes, size_t n, int follow, int want_check)
{
    int fd = memfd_create("fuzz_file", MFD_CLOEXEC);
    if (fd < 0)
        return;
    size_t done = 0;
    while (done < n) {
        ssize_t k = write(fd, bytes + done, n - done);
        if (k <= 0) {
            close(fd);
            return;
        }
        done += (size_t)k;
    }
    struct shlog_dedup *dedup;
    if (shlog_dedup_new(&dedup) == 0) {
        read_file(fd, follow, dedup, n, want_check);
        if (!follow) {
            read_with_library(bytes, n);
            read_as_messages(fd, bytes, n, want_check);
            read_in_blocks(fd);
            read_sites_only(fd, want_check);
            read_declining(fd);
            read_index(fd, n, want_check > 1);
            read_taking(fd);
        }
        /* The same file again: everything in it was seen. */
        FZ_CHECK(read_file(fd, follow, dedup, n, 0) == 0);
        shlog_dedup_free(dedup);
    }
    close(fd);
}

/* ==== Mode 3: encoder round trips ==== */

struct ring_state {
    uint64_t next_pos;   /* positions below were used: records and losses go above */
    uint64_t dropped;    /* the DROPPED counter last written */
    uint64_t dropped_seen;
};

struct enc_run {
    struct fz_in *in;
    struct shlog_enc *enc;
    uint8_t *out;
    size_t len, cap;
    int proc_defined[FZ_PROCS];
    struct shm_site *sites[FZ_PROCS][FZ_SITE_IDS]; /* as given to the encoder */
    struct ring_state rings[FZ_PROCS][FZ_CPUS];
    struct ring_state process_counted[FZ_PROCS][2]; /* NO_RING, UNREGISTERED: the process's counters */
    int batch_open;
    uint32_t batch_proc, batch_cpu;
    size_t frame_first_want; /* the open frame's first want ... */
    size_t frame_defs_want;  /* ... and where its next first definition goes: ahead of its other sections */
};

static struct want *add_want(int kind, uint32_t proc)
{
    if (nwants >= FZ_MAX_WANT)
        return NULL;
    struct want *w = &wants[nwants++];
    memset(w, 0, sizeof *w);
    w->kind = kind;
    w->proc = proc;
    return w;
}

/* A want for a process's or a site's first definition in the file: the
 * encoder writes those ahead of the frame's other sections
 * (SHLOG_FILE_SITES_FIRST), in the order they came. */
static struct want *add_definition_want(struct enc_run *e, int kind, uint32_t proc)
{
    if (nwants >= FZ_MAX_WANT)
        return NULL;
    size_t at = e->frame_defs_want++;
    memmove(&wants[at + 1], &wants[at], (nwants - at) * sizeof wants[0]);
    nwants++;
    struct want *w = &wants[at];
    memset(w, 0, sizeof *w);
    w->kind = kind;
    w->proc = proc;
    return w;
}

/* Bytes of the payload the site's arguments use, or -1 if they do not parse
 * (such a record is not encoded: a loss marker, unencodable, in its place). */
static long typed_payload_bytes(const struct shm_site *s, const struct shm_copied_record *r)
{
    size_t off = 0;
    for (unsigned i = 0; i < s->nargs; i++) {
        unsigned t = s->arg_types[i];
        size_t w = t == SHMLOG_ARG_STR ? 2 : shmlog_arg_width(t);
        if (w == 0 || off + w > r->payload_len)
            return -1;
        if (t == SHMLOG_ARG_STR)
            w += (r->payload[off] | r->payload[off + 1] << 8) & SHMLOG_STR_LEN_MASK;
        if (off + w > r->payload_len)
            return -1;
        off += w;
    }
    return (long)off;
}

static void small_string(struct fz_in *in, char *out, size_t max)
{
    size_t n = fz_u8(in) % (max + 1), got;
    const uint8_t *p = fz_span(in, n, &got);
    for (size_t i = 0; i < got; i++)
        out[i] = p[i] ? (char)p[i] : '.';
    out[got] = '\0';
}

static void op_process(struct enc_run *e, uint32_t key)
{
    struct fz_in *in = e->in;
    struct shm_proc_info pi;
    memset(&pi, 0, sizeof pi);
    /* The dedup identity, (pid, start, uid), stays one per key. */
    pi.pid = 1000 + key;
    pi.proc_start = 77 + key;
    pi.uid = 2000 + key;
    pi.created_ns = fz_u64(in);
    pi.tsc_hz = fz_u64(in);
    pi.anchor_tsc = fz_u64(in);
    pi.anchor_ns = fz_u64(in);
    small_string(in, pi.app, SHMLOG_APP_BYTES - 1);
    small_string(in, pi.host, SHMLOG_HOST_BYTES - 1);
    if (e->batch_open)
        return;
    FZ_CHECK(shlog_enc_process(e->enc, key, &pi) == 0);
    struct want *w = e->proc_defined[key] ? add_want(SHLOG_EV_PROCESS, key)
                                          : add_definition_want(e, SHLOG_EV_PROCESS, key);
    e->proc_defined[key] = 1;
    if (w)
        w->info = pi;
}

static void op_site(struct enc_run *e, uint32_t key)
{
    struct fz_in *in = e->in;
    uint32_t id = fz_u8(in) % FZ_SITE_IDS;
    if (!e->proc_defined[key] || e->sites[key][id])
        return; /* FORMAT.md: a site is emitted once per file */
    struct shm_site *s = calloc(1, sizeof *s);
    if (!s)
        return;
    s->id = id;
    s->line = fz_u32(in);
    s->level = fz_u8(in) % (SHMLOG_LEVEL_FATAL + 1);
    s->category = fz_u8(in) % SHMLOG_MAX_CATEGORIES;
    s->nargs = fz_u8(in) % (SHMLOG_MAX_ARGS + 1);
    for (unsigned i = 0; i < s->nargs; i++)
        s->arg_types[i] = (uint8_t)(SHMLOG_ARG_BOOL + fz_u8(in) % (SHMLOG_ARG_TYPE_COUNT - 1));
    small_string(in, s->fmt, 200);
    s->fmt_len = (uint32_t)strlen(s->fmt);
    small_string(in, s->file, 60);
    s->file_len = (uint32_t)strlen(s->file);
    small_string(in, s->func, 40);
    s->func_len = (uint32_t)strlen(s->func);
    small_string(in, s->desc, 60);
    s->desc_len = (uint32_t)strlen(s->desc);
    FZ_CHECK(shlog_enc_site(e->enc, key, s) == 0);
    e->sites[key][id] = s;
    struct want *w = add_definition_want(e, SHLOG_EV_SITE, key);
    if (w)
        w->site = s;
}

static void op_batch_end(struct enc_run *e);

/* Whether the encoder must refuse a record: its site is in the file and its
 * payload does not hold the site's arguments. */
static int unencodable(const struct enc_run *e, const struct shm_copied_record *rec)
{
    const struct shm_site *s = rec->site < FZ_SITE_IDS ? e->sites[e->batch_proc][rec->site] : NULL;
    return s && typed_payload_bytes(s, rec) < 0;
}

/* The loss the encoder kept for a record it refused, if it did (lost: it
 * must have), written as the collector writes it: the batch ended, the
 * LOSS, the batch begun again; the reader must return it. */
static void encoder_loss(struct enc_run *e, int lost, uint64_t end_pos)
{
    struct shm_loss l;
    const char *why = NULL;
    FZ_CHECK(shlog_enc_take_loss(e->enc, &l, &why) == lost);
    if (!lost)
        return;
    FZ_CHECK(l.reason == SHM_LOSS_UNENCODABLE && l.records == 1 && l.first_pos + l.positions == end_pos && why);
    uint32_t key = e->batch_proc, cpu = e->batch_cpu;
    op_batch_end(e);
    FZ_CHECK(shlog_enc_loss(e->enc, key, cpu, &l, 0) == 0);
    struct want *w = add_want(SHLOG_EV_LOSS, key);
    if (w) {
        w->cpu = cpu;
        w->loss = l;
    }
    FZ_CHECK(shlog_enc_batch_begin(e->enc, key, cpu) == 0);
    e->batch_open = 1;
}

/* What the reader must return for a record the batch took. */
static int want_record(struct enc_run *e, const struct shm_copied_record *rec)
{
    const struct shm_site *s = rec->site < FZ_SITE_IDS ? e->sites[e->batch_proc][rec->site] : NULL;
    long used = s ? typed_payload_bytes(s, rec) : -1;
    struct want *w = add_want(SHLOG_EV_RECORD, e->batch_proc);
    if (!w)
        return -1;
    w->cpu = e->batch_cpu;
    w->rec = *rec;
    /* Typed: the decoder gives back the bytes the arguments use; raw: all. */
    if (used >= 0)
        w->rec.payload_len = (uint16_t)used;
    return 0;
}

/* A record as shm_ring_next returns it: valid header fields, the slots'
 * capacity as payload_len, arguments that fit the site's types or not. */
static void op_record(struct enc_run *e)
{
    struct fz_in *in = e->in;
    if (!e->batch_open)
        return;
    struct ring_state *rs = &e->rings[e->batch_proc][e->batch_cpu];
    struct shm_copied_record rec;
    memset(&rec, 0, sizeof rec);
    uint8_t gap = fz_u8(in);
    rec.pos = rs->next_pos + (gap < 200 ? 0 : gap - 200);
    rec.nslots = (uint8_t)(1 + fz_u8(in) % SHMLOG_MAX_SLOTS);
    rec.tsc = fz_u64(in);
    rec.site = fz_u8(in) % (FZ_SITE_IDS + 2);
    rec.tid = fz_u32(in);
    rec.level = fz_u8(in) % (SHMLOG_LEVEL_FATAL + 1);
    rec.category = fz_u8(in) % SHMLOG_MAX_CATEGORIES;
    rec.flags = fz_u8(in) & SHMLOG_REC_HEAD_FLAGS;
    rec.payload_len = (uint16_t)(SHMLOG_HEAD_PAYLOAD + (rec.nslots - 1u) * SHMLOG_CONT_PAYLOAD);
    fz_bytes(in, rec.payload, rec.payload_len);
    rs->next_pos = rec.pos + rec.nslots;

    int rc = shlog_enc_record(e->enc, &rec);
    FZ_CHECK(rc == 0 || rc == -ENOSPC);
    if (rc != 0)
        return;
    int lost = unencodable(e, &rec);
    if (!lost)
        want_record(e, &rec);
    encoder_loss(e, lost, rec.pos + rec.nslots);
}

/* A run of records as shm_ring_take copies them out of a ring: slot for
 * slot, consecutive positions, valid headers; what shlog_enc_slots takes of
 * them. */
static void op_slots(struct enc_run *e)
{
    struct fz_in *in = e->in;
    if (!e->batch_open)
        return;
    struct ring_state *rs = &e->rings[e->batch_proc][e->batch_cpu];
    static struct shmlog_record run[48];
    static struct shm_copied_record recs[48];
    size_t want = 1 + fz_u8(in) % 16, n = 0, nrecs = 0;
    uint8_t gap = fz_u8(in);
    uint64_t pos = rs->next_pos + (gap < 200 ? 0 : gap - 200);
    while (nrecs < want) {
        struct shm_copied_record *rec = &recs[nrecs];
        memset(rec, 0, sizeof *rec);
        rec->pos = pos + n;
        rec->nslots = (uint8_t)(1 + fz_u8(in) % 3);
        if (n + rec->nslots > sizeof run / sizeof run[0])
            break;
        rec->tsc = fz_u64(in);
        rec->site = fz_u8(in) % (FZ_SITE_IDS + 2);
        rec->tid = fz_u32(in);
        rec->level = fz_u8(in) % (SHMLOG_LEVEL_FATAL + 1);
        rec->category = fz_u8(in) % SHMLOG_MAX_CATEGORIES;
        rec->flags = fz_u8(in) & SHMLOG_REC_HEAD_FLAGS;
        rec->payload_len = (uint16_t)(SHMLOG_HEAD_PAYLOAD + (rec->nslots - 1u) * SHMLOG_CONT_PAYLOAD);
        fz_bytes(in, rec->payload, rec->payload_len);
        struct shmlog_record *h = &run[n];
        memset(h, 0, sizeof *h);
        h->commit = rec->pos + 1;
        h->tsc = rec->tsc;
        h->site = rec->site;
        h->tid = rec->tid;
        h->nslots = rec->nslots;
        h->level = rec->level;
        h->category = rec->category;
        h->flags = rec->flags;
        memcpy(h->payload, rec->payload, SHMLOG_HEAD_PAYLOAD);
        for (unsigned j = 1; j < rec->nslots; j++) {
            struct shmlog_cont *c = (struct shmlog_cont *)&run[n + j];
            c->commit = (rec->pos + j + 1) | SHMLOG_COMMIT_CONT;
            memcpy(c->payload, rec->payload + SHMLOG_HEAD_PAYLOAD + (j - 1) * SHMLOG_CONT_PAYLOAD,
                   SHMLOG_CONT_PAYLOAD);
        }
        n += rec->nslots;
        nrecs++;
    }
    long took = shlog_enc_slots(e->enc, run, n, pos);
    FZ_CHECK(took == -ENOSPC || (took >= 0 && (size_t)took <= n));
    if (took <= 0)
        return;
    rs->next_pos = pos + (uint64_t)took;
    /* It stops after a record it refuses: only the last it took may be one. */
    int lost = 0;
    for (size_t i = 0, at = 0; i < nrecs && at < (size_t)took; at += recs[i++].nslots) {
        lost = unencodable(e, &recs[i]);
        FZ_CHECK(!lost || at + recs[i].nslots == (size_t)took);
        if (!lost && want_record(e, &recs[i]))
            return;
    }
    encoder_loss(e, lost, pos + (uint64_t)took);
}

static void op_batch_end(struct enc_run *e)
{
    if (!e->batch_open)
        return;
    FZ_CHECK(shlog_enc_batch_end(e->enc) == 0);
    e->batch_open = 0;
}

/* The frame is written: whether a record's site is known is decided here,
 * as the sites defined until its end precede its sections. */
static void frame_written(struct enc_run *e)
{
    for (size_t i = e->frame_first_want; i < nwants; i++) {
        struct want *w = &wants[i];
        if (w->kind == SHLOG_EV_RECORD)
            w->site_known = w->rec.site < FZ_SITE_IDS && e->sites[w->proc][w->rec.site] != NULL;
    }
    e->frame_first_want = e->frame_defs_want = nwants;
}

static void op_loss(struct enc_run *e, uint32_t key, uint32_t cpu)
{
    struct fz_in *in = e->in;
    /* Every reason a collector writes; UNREADABLE only readers count. */
    static const uint8_t reasons[] = {SHM_LOSS_DROPPED, SHM_LOSS_DEAD_WRITER, SHM_LOSS_OVERWRITTEN,
                                      SHM_LOSS_CORRUPT, SHM_LOSS_NO_RING, SHM_LOSS_UNREGISTERED,
                                      SHM_LOSS_UNENCODABLE};
    struct shm_loss l;
    l.reason = reasons[fz_u8(in) % sizeof reasons];
    int whole_process = l.reason == SHM_LOSS_NO_RING || l.reason == SHM_LOSS_UNREGISTERED;
    if (whole_process)
        cpu = SHLOG_CPU_NONE;
    struct ring_state *rs = whole_process ? &e->process_counted[key][l.reason == SHM_LOSS_UNREGISTERED]
                                          : &e->rings[key][cpu];
    l.first_pos = rs->next_pos;
    uint64_t counter_total = 0;
    if (l.reason == SHM_LOSS_DROPPED || whole_process) {
        l.positions = 0;
        l.records = fz_u8(in);
        counter_total = rs->dropped + fz_u8(in);
    } else {
        l.positions = 1 + fz_u8(in);
        l.records = fz_u8(in);
    }
    if (e->batch_open || !e->proc_defined[key])
        return;
    FZ_CHECK(shlog_enc_loss(e->enc, key, cpu, &l, counter_total) == 0);
    if (l.reason == SHM_LOSS_DROPPED || whole_process) {
        rs->dropped = counter_total;
        /* Readers count the counter's increase since the last marker. */
        if (counter_total <= rs->dropped_seen)
            return;
        l.records = counter_total - rs->dropped_seen;
        rs->dropped_seen = counter_total;
    } else {
        rs->next_pos += l.positions;
    }
    struct want *w = add_want(SHLOG_EV_LOSS, key);
    if (w) {
        w->cpu = cpu;
        w->loss = l;
        w->counter_total = counter_total;
    }
}

static void op_frame(struct enc_run *e)
{
    if (e->batch_open)
        return;
    size_t bound = shlog_enc_frame_bound(e->enc);
    if (e->len + bound > e->cap)
        return;
    long n = shlog_enc_frame(e->enc, e->out + e->len, e->cap - e->len);
    FZ_CHECK(n >= 0);
    e->len += (size_t)n;
    frame_written(e);
}

static void run_encoder(struct fz_in *in, int follow)
{
    static struct enc_run e;
    memset(&e, 0, sizeof e);
    nwants = 0;
    e.in = in;
    e.out = file_buf;
    e.cap = sizeof file_buf;
    if (shlog_enc_new(&e.enc, (int)(fz_u8(in) % 4) - 1) != 0)
        return;
    e.len = put_file_header(e.out, SHLOG_FILE_SITES_FIRST);
    while (in->n > 0 && nwants < FZ_MAX_WANT - 1) {
        unsigned op = fz_u8(in) % 9;
        uint32_t key = fz_u8(in) % FZ_PROCS;
        switch (op) {
        case 0: op_process(&e, key); break;
        case 1: op_site(&e, key); break;
        case 2:
            if (!e.batch_open && e.proc_defined[key]) {
                e.batch_cpu = fz_u8(in) % FZ_CPUS;
                FZ_CHECK(shlog_enc_batch_begin(e.enc, key, e.batch_cpu) == 0);
                e.batch_open = 1;
                e.batch_proc = key;
            }
            break;
        case 3: op_record(&e); break;
        case 4: op_batch_end(&e); break;
        case 5: op_loss(&e, key, fz_u8(in) % FZ_CPUS); break;
        case 6: {
            uint64_t ns = fz_u64(in), records = fz_u64(in), lost = fz_u64(in);
            if (!e.batch_open && e.proc_defined[key]) {
                FZ_CHECK(shlog_enc_exit(e.enc, key, ns, records, lost, SHLOG_EXIT_DIED) == 0);
                struct want *w = add_want(SHLOG_EV_EXIT, key);
                if (w) {
                    w->exit_ns = ns;
                    w->exit_records = records;
                    w->exit_lost = lost;
                }
            }
            break;
        }
        case 7: op_slots(&e); break;
        default: op_frame(&e); break;
        }
    }
    op_batch_end(&e);
    size_t before = e.len;
    op_frame(&e);
    /* closed as the collector closes a file: with the index's footer */
    int footer = e.len + shlog_enc_footer_bound(e.enc) <= e.cap && shlog_enc_raw_bytes(e.enc) == 0;
    if (footer) {
        long n = shlog_enc_footer(e.enc, e.out + e.len, e.cap - e.len);
        FZ_CHECK(n > 0);
        e.len += (size_t)n;
    }
    if (e.len == before && shlog_enc_raw_bytes(e.enc) > 0)
        nwants = 0; /* no room for the last frame: nothing to compare */
    else
        read_twice(e.out, e.len, follow, nwants > 0 && nwants < FZ_MAX_WANT - 1 ? 1 + footer : 0);
    shlog_enc_free(e.enc);
    for (unsigned p = 0; p < FZ_PROCS; p++)
        for (unsigned s = 0; s < FZ_SITE_IDS; s++)
            free(e.sites[p][s]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > FZ_MAX_FILE)
        return 0;
    unsigned ctl = data[0];
    int follow = (ctl >> 2) & 1;
    struct fz_in in = {data + 1, size - 1};
    size_t len = 0;
    switch (ctl & 3) {
    case MODE_FILE:
        memcpy(file_buf, in.p, in.n);
        len = in.n;
        break;
    case MODE_FRAMES: {
        uint16_t cut = fz_u16(&in);
        len = put_file_header(file_buf, ctl & 16 ? SHLOG_FILE_SITES_FIRST : 0);
        memcpy(file_buf + len, in.p, in.n);
        len += in.n;
        if (ctl & 8)
            len -= cut % (len + 1);
        break;
    }
    case MODE_SECTIONS: {
        uint16_t cut = fz_u16(&in);
        len = put_file_header(file_buf, ctl & 16 ? SHLOG_FILE_SITES_FIRST : 0);
        while (in.n > 0) {
            size_t n;
            const uint8_t *chunk = fz_span(&in, fz_u16(&in), &n);
            size_t k = put_frame(file_buf + len, sizeof file_buf - len, chunk, n);
            if (k == 0)
                break;
            len += k;
        }
        if (ctl & 8)
            len -= cut % (len + 1);
        break;
    }
    default:
        run_encoder(&in, follow);
        return 0;
    }
    read_twice(file_buf, len, follow, 0);
    return 0;
}
