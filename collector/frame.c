/*
 * frame.c - the frame being built: its batches, the ring releases and
 * process exits it carries, and flush_frame, which seals it (clock anchors,
 * zstd level) and hands it to the writer.
 */
#include <errno.h>
#include <stdlib.h>

#include "frame.h"
#include "options.h"
#include "output.h"
#include "writer.h"

/* The frame being built. */
static struct {
    struct ring *batch_ring;   /* ring of the open batch, or NULL */
    struct release *rel;
    size_t nrel, rel_cap;
    struct proc **exits;
    size_t nexits, exits_cap;
    uint64_t gen;              /* from 1: a new ring's build_gen, 0, is no frame's */
} build = {.gen = 1};

int end_batch(struct collector_state *c)
{
    if (!build.batch_ring)
        return 0;
    build.batch_ring = NULL;
    return shlog_enc_batch_end(c->cur->enc);
}

void mark_content(struct collector_state *c)
{
    if (!c->build_first_ns) {
        c->build_first_ns = shm_mono_ns();
        anchors_frame_opened(&c->clock);
    }
}

/* Remembers that ring r may be released up to pos once this frame is done. */
void note_release(struct collector_state *c, struct ring *r, uint64_t pos)
{
    if (r->build_gen == build.gen) {
        build.rel[r->build_rel].pos = pos;
        return;
    }
    if (build.nrel == build.rel_cap) {
        size_t cap = build.rel_cap ? build.rel_cap * 2 : 64;
        struct release *nv = realloc(build.rel, cap * sizeof(*nv));
        if (!nv) {
            shm_warn(PROG, "out of memory");
            exit(1);
        }
        build.rel = nv;
        build.rel_cap = cap;
    }
    r->build_gen = build.gen;
    r->build_rel = build.nrel;
    build.rel[build.nrel++] = (struct release){r, pos};
    mark_content(c);
}

/* A process is in file f now: its tally there starts. Returns its index. */
static size_t tally_add(struct outfile *f, uint32_t key, const struct shm_proc_info *info)
{
    if (f->nprocs == f->procs_cap) {
        size_t cap = f->procs_cap ? f->procs_cap * 2 : 16;
        struct file_proc *nv = realloc(f->procs, cap * sizeof(*nv));
        if (!nv) {
            shm_warn(PROG, "out of memory");
            exit(1);
        }
        f->procs = nv;
        f->procs_cap = cap;
    }
    f->procs[f->nprocs] = (struct file_proc){.key = key, .info = *info};
    return f->nprocs++;
}

void note_defined(struct collector_state *c)
{
    if (shlog_enc_file_full(c->cur->enc))
        c->rotate_soon = 1;
}

int file_takes_process(const struct collector_state *c, const struct proc *p)
{
    return !c->rotate_soon || shlog_enc_has_process(c->cur->enc, p->key);
}

/* Callers ask file_takes_process first, and no process is defined once the
 * file is full (rotate_soon): its processes stay SHLOG_FILE_ROOM_PROCS below
 * what readers keep, and this never meets the encoder's -ENOSPC. */
int define_process(struct collector_state *c, uint32_t key, const struct shm_proc_info *info, size_t *tally)
{
    int rc = end_batch(c);
    if (!rc)
        rc = shlog_enc_process(c->cur->enc, key, info);
    if (!rc)
        *tally = tally_add(c->cur, key, info);
    note_defined(c);
    return rc;
}

int ensure_process(struct collector_state *c, struct proc *p)
{
    if (shlog_enc_has_process(c->cur->enc, p->key))
        return 0;
    int rc = define_process(c, p->key, &p->info, &p->tally);
    if (!rc)
        p->tally_gen = c->cur->gen;
    return rc;
}

void proc_wrote(struct collector_state *c, struct proc *p, uint64_t records)
{
    p->records += records;
    c->records += records;
    if (p->tally_gen == c->cur->gen)
        c->cur->procs[p->tally].records += records;
}

void proc_unwrote(struct collector_state *c, struct proc *p, uint64_t records)
{
    if (p)
        p->records -= records;
    c->records -= records;
}

void frame_flush_soon(struct collector_state *c)
{
    c->flush_soon = 1;
}

void note_rotated(struct collector_state *c)
{
    c->rotate_soon = 0;
}

int write_exit(struct collector_state *c, struct proc *p, enum shlog_exit_how how)
{
    int rc = ensure_process(c, p);
    uint64_t now = shm_real_ns();
    if (!rc)
        rc = shlog_enc_exit(c->cur->enc, p->key, now, p->records, p->lost, how);
    if (!rc && p->tally_gen == c->cur->gen) {
        struct file_proc *t = &c->cur->procs[p->tally];
        t->exited = 1;
        t->exit_how = how;
        t->exit_ns = now;
        t->exit_records = p->records;
        t->exit_lost = p->lost;
    }
    return rc;
}

void batch_passed_from(struct collector_state *c, struct ring *r, uint64_t from)
{
    /* -EINVAL: the batch has records, and the next one's gap passes over them */
    if (build.batch_ring == r)
        (void)shlog_enc_batch_from(c->cur->enc, from);
}

int batch_of(struct collector_state *c, struct ring *r)
{
    if (build.batch_ring == r)
        return 0;
    check_enc(end_batch(c), "a batch");
    check_enc(ensure_process(c, r->proc), "a process");
    check_enc(shlog_enc_batch_begin(c->cur->enc, r->proc->key, r->cpu), "a batch");
    build.batch_ring = r;
    return 1;
}

/* A collector that falls behind compresses at --zstd-fast-level, from a
 * pass that finds a ring over half full until one finds every ring under a
 * quarter: losing records to a full ring costs more than bytes on disk, and
 * the fastest level lets the most records through an overload
 * (shmlog-bench-encode --level L prints each level's cost and bytes a
 * record; bench/compare.sh --workloads overload shows what lands). */
static void set_frame_level(struct collector_state *c, struct outfile *file)
{
    int level = c->filling ? c->opt->zstd_fast_level : c->opt->zstd_level;
    check_enc(shlog_enc_set_level(file->enc, level), "a frame (its zstd level)");
    if (level != c->opt->zstd_level)
        c->fast_frames++;
}

int frame_full(struct collector_state *c)
{
    return shlog_enc_raw_bytes(c->cur->enc) >= FRAME_RAW_STOP;
}

/* Whether the output can take the frame now: a write slot, and its file
 * made. A file that cannot be made (a full disk, no descriptor) is tried
 * again every OPEN_RETRY_NS, with nothing released meanwhile; a name taken
 * by something else is skipped at once. */
static int output_ready(const struct writer *w, struct output *out, struct outfile *file, int raw)
{
    static uint64_t open_retry_at;
    if (writer_frames(w) >= MAX_INFLIGHT)
        return 0;
    if (!raw || file->fd >= 0)
        return 1;
    if (shm_mono_ns() < open_retry_at)
        return 0;
    int rc;
    while ((rc = outfile_open(out, file)) == -EEXIST)
        ;
    open_retry_at = rc ? shm_mono_ns() + OPEN_RETRY_NS : 0;
    return rc == 0;
}

/* Compresses the open frame and submits its write. Frames with nothing to
 * write still go through the FIFO so their releases keep their order.
 * Returns 1 when it went (or there was nothing to send), 0 when the output
 * cannot take it yet: the frame stays open, and the loop goes on (liveness,
 * exits, releases) instead of waiting here. */
int flush_frame(struct collector_state *c)
{
    check_enc(end_batch(c), "a batch");
    struct outfile *file = c->cur;
    size_t raw = shlog_enc_raw_bytes(file->enc);
    if (!raw && !build.nrel && !build.nexits)
        return 1;
    if (!output_ready(c->writer, c->output, file, raw != 0))
        return 0;
    struct frame *f = calloc(1, sizeof(*f));
    if (!f) {
        shm_warn(PROG, "out of memory");
        exit(1);
    }
    if (raw) {
    set_frame_level(c, file);
        /* After the frame's last record and right before it is sealed. */
        check_enc(anchors_seal(&c->clock, file->enc), "the clock's anchors");
        size_t cap = shlog_enc_frame_bound(file->enc);
        f->buf = malloc(cap);
        long n = f->buf ? shlog_enc_frame(file->enc, f->buf, cap) : -ENOMEM;
        check_enc(n < 0 ? (int)n : 0, "a frame");
        /* In flight it holds what it compressed to, not the bound: the
         * memory of MAX_INFLIGHT frames is theirs, not MAX_INFLIGHT times
         * the largest frame's. */
        uint8_t *fit = realloc(f->buf, (size_t)n ? (size_t)n : 1);
        if (fit)
            f->buf = fit;
        f->len = (size_t)n;
        f->off = file->size;
        file->size += f->len;
        c->frames++;
        c->bytes += f->len;
    }
    f->file = file;
    file->inflight++;
    f->rel = build.rel;
    f->nrel = build.nrel;
    f->exits = build.exits;
    f->nexits = build.nexits;
    /* Segments are unlinked after an exit: the records must be on disk first. */
    f->need_sync = f->len && (c->opt->fsync == FSYNC_BATCH || build.nexits);
    if (f->len && build.nexits)
        exits_note_frame(c->output, file, f->buf, f->len, f->off, build.exits, build.nexits);
    build.rel = NULL;
    build.nrel = build.rel_cap = 0;
    build.exits = NULL;
    build.nexits = build.exits_cap = 0;
    build.gen++;
    c->build_first_ns = 0;
    c->flush_soon = 0;
    frame_enqueue(c->writer, f);
    /* Once a frame: a file deleted while open takes whatever it holds with
     * it, and the loop moves on to a new one (maybe_rotate). */
    if (f->len && !file->removed)
        file->removed = outfile_removed(file);
    return 1;
}

void footer_enqueue(struct collector_state *c, struct outfile *file)
{
    if (file->fd < 0 || file->removed)
        return;
    size_t cap = shlog_enc_footer_bound(file->enc);
    uint8_t *buf = malloc(cap);
    long n = buf ? shlog_enc_footer(file->enc, buf, cap) : -ENOMEM;
    struct frame *f = n > 0 ? calloc(1, sizeof(*f)) : NULL;
    if (!f) {
        free(buf);
        return;
    }
    f->buf = buf;
    f->len = (size_t)n;
    f->off = file->size;
    file->size += f->len;
    f->file = file;
    file->inflight++;
    frame_enqueue(c->writer, f);
}

/* The EXIT of gone process p is in this frame: its segments go once the frame is done. */
void note_exit(struct proc *p)
{
    if (build.nexits == build.exits_cap) {
        size_t cap = build.exits_cap ? build.exits_cap * 2 : 8;
        struct proc **nv = realloc(build.exits, cap * sizeof(*nv));
        if (!nv) {
            shm_warn(PROG, "out of memory");
            exit(1);
        }
        build.exits = nv;
        build.exits_cap = cap;
    }
    build.exits[build.nexits++] = p;
}

/* p's segments are about to go (proc_finalize). */
void frame_forget(struct collector_state *c, struct proc *p)
{
    /* Nothing of p is in the frame being built (its rings were drained to the
     * end before the EXIT); make sure no pointer to its rings outlives them. */
    if (build.batch_ring && build.batch_ring->proc == p)
        end_batch(c);
    for (size_t i = 0; i < build.nrel;)
        if (build.rel[i].ring->proc == p) {
            build.rel[i] = build.rel[--build.nrel];
            if (i < build.nrel)
                build.rel[i].ring->build_rel = i;
        } else {
            i++;
        }
}
