/*
 * losses.c - loss markers: what the producers could not write, what the
 * collector could not read or encode, each counted in the frame being built
 * under its process (and ring), and in the collector's counters.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "frame.h"
#include "losses.h"

void emit_proc_loss(struct collector_state *c, struct proc *p, uint32_t cpu, const struct shm_loss *l, uint64_t total)
{
    check_enc(end_batch(c), "a batch");
    check_enc(ensure_process(c, p), "a process");
    check_enc(shlog_enc_loss(c->cur->enc, p->key, cpu, l, total), "a loss");
    p->lost += l->records;
    if (l->reason <= SHM_LOSS_REASON_MAX)
        c->losses[l->reason] += l->records;
    mark_content(c);
}

void emit_loss(struct collector_state *c, struct ring *r, const struct shm_loss *l, uint64_t total)
{
    emit_proc_loss(c, r->proc, r->cpu, l, total);
}

void unencodable(struct collector_state *c, struct ring *r, struct shm_loss *l, const char *why, int kept)
{
    if (kept)
        l->positions = 0; /* the ring's batches passed over its positions already */
    emit_loss(c, r, l, 0);
    if (!r->unencodable_seen++)
        shm_warn(PROG, "%s: the record at position %" PRIu64 " could not be encoded (%s): written as a loss "
              "(unencodable), as later ones are without another line",
              r->seg.path, l->first_pos, why);
}

/* The producer's own loss counters in its meta segment (records of cpus
 * without a ring, of sites without a place in the table) into loss markers. */
struct meta_losses {
    const struct shm_seg *meta;
    uint64_t no_ring, unregistered, before_init;
};

static void meta_losses_read(void *ctx)
{
    struct meta_losses *l = ctx;
    const struct shmlog_meta *m = l->meta->addr;
    l->no_ring = shmlog__load_relaxed(&m->no_ring);
    l->unregistered = shmlog__load_relaxed(&m->unregistered);
    if (l->meta->hdr.abi_version >= 4)
        l->before_init = shmlog__load_relaxed(&m->before_init);
}

void proc_losses(struct collector_state *c, struct proc *p)
{
    if (!file_takes_process(c, p)) /* counted from where they were seen last, in the next file */
        return;
    const struct shm_seg *meta = &p->meta;
    struct meta_losses m = {meta, p->no_ring_seen, p->unregistered_seen, p->before_init_seen};
    (void)shm_guarded(meta_losses_read, &m);
    const struct { uint64_t now, *seen; uint32_t reason; } counters[] = {
        {m.no_ring, &p->no_ring_seen, SHM_LOSS_NO_RING},
        {m.unregistered, &p->unregistered_seen, SHM_LOSS_UNREGISTERED},
        {m.before_init, &p->before_init_seen, SHM_LOSS_BEFORE_INIT},
    };
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
        if (counters[i].now > *counters[i].seen) { /* one that goes backwards is not believed */
            struct shm_loss l = {.records = counters[i].now - *counters[i].seen, .reason = counters[i].reason};
            emit_proc_loss(c, p, SHLOG_CPU_NONE, &l, counters[i].now);
            *counters[i].seen = counters[i].now;
        }
}

/* A ring that cannot be read at all (r->unread_*): the positions its header
 * says it holds are lost, at least one record (the header itself may lie);
 * written when its process may be in the file, else by a later drain_ring. */
void lose_unreadable_ring(struct collector_state *c, struct ring *r)
{
    if (!file_takes_process(c, r->proc))
        return;
    uint64_t n = r->unread_head - r->unread_tail <= SHMLOG_RING_MAX_RECORDS ? r->unread_head - r->unread_tail : 0;
    struct shm_loss l = {.first_pos = r->unread_tail, .positions = n, .records = n ? n : 1, .reason = SHM_LOSS_CORRUPT};
    emit_proc_loss(c, r->proc, r->cpu, &l, 0);
    r->unread_due = 0;
}

void ring_unreadable(struct collector_state *c, struct ring *r, uint64_t tail, uint64_t head)
{
    r->unread_due = 1;
    r->unread_tail = tail;
    r->unread_head = head;
    lose_unreadable_ring(c, r);
}

/* What a quarantined ring holds past what was read is lost: written as
 * CORRUPT positions, each counted as a record since record boundaries there
 * cannot be trusted (an upper bound), at most a ring's worth at a time. */
void lose_abandoned(struct collector_state *c, struct ring *r)
{
    /* The furthest head seen when the header is gone too. */
    uint64_t head = (int64_t)(r->bound - r->abandoned_to) > 0 ? r->bound : r->abandoned_to;
    (void)shm_ring_head_guarded(&r->view, &head);
    uint64_t n = head - r->abandoned_to;
    if ((int64_t)n <= 0)
        return;
    if (n > r->view.cap)
        n = r->view.cap;
    struct shm_loss l = {.first_pos = r->abandoned_to, .positions = n, .records = n, .reason = SHM_LOSS_CORRUPT};
    emit_loss(c, r, &l, 0);
    r->abandoned_to = head;
}

void abandon_ring(struct collector_state *c, struct ring *r, uint64_t from)
{
    r->abandoned_to = from;
    lose_abandoned(c, r);
}

static int proc_key_cmp(const void *a, const void *b)
{
    uint32_t x = (*(struct proc *const *)a)->key, y = (*(struct proc *const *)b)->key;
    return x < y ? -1 : x > y;
}

/* The running processes sorted by key, for the lookups of lose_removed_file. */
static struct proc **procs_by_key(struct collector_state *c, size_t *n)
{
    size_t count = 0;
    for (struct proc *p = c->procs; p; p = p->next)
        count++;
    struct proc **v = malloc((count ? count : 1) * sizeof(*v));
    if (!v) {
        shm_warn(PROG, "out of memory");
        exit(1);
    }
    count = 0;
    for (struct proc *p = c->procs; p; p = p->next)
        v[count++] = p;
    qsort(v, count, sizeof(*v), proc_key_cmp);
    *n = count;
    return v;
}

/* A process the file held that is gone from the collector too: defined again
 * in the current file from what the deleted one said of it. Its tally there. */
static struct file_proc *define_again(struct collector_state *c, const struct file_proc *t)
{
    struct outfile *f = c->cur;
    if (shlog_enc_has_process(f->enc, t->key)) {
        for (size_t i = 0; i < f->nprocs; i++)
            if (f->procs[i].key == t->key)
                return &f->procs[i];
    }
    size_t at = 0;
    check_enc(define_process(c, t->key, &t->info, &at), "a process");
    return &f->procs[at];
}

void lose_removed_file(struct collector_state *c, struct outfile *gone)
{
    size_t nlive, nprocs = 0;
    struct proc **live = procs_by_key(c, &nlive);
    uint64_t lost = 0;
    for (size_t i = 0; i < gone->nprocs; i++) {
        const struct file_proc *t = &gone->procs[i];
        if (!t->records && !t->exited)
            continue;
        struct proc key = {.key = t->key}, *kp = &key;
        struct proc **found = nlive ? bsearch(&kp, live, nlive, sizeof(*live), proc_key_cmp) : NULL;
        struct proc *p = found ? *found : NULL;
        struct shm_loss l = {.records = t->records, .reason = SHM_LOSS_FILE_REMOVED};
        if (p && t->records) {
            emit_proc_loss(c, p, SHLOG_CPU_NONE, &l, 0);
        } else if (t->records) {
            (void)define_again(c, t);
            check_enc(shlog_enc_loss(c->cur->enc, t->key, SHLOG_CPU_NONE, &l, 0), "a loss");
            c->losses[SHM_LOSS_FILE_REMOVED] += t->records;
        }
        proc_unwrote(c, p, t->records); /* its EXIT says what the files hold */
        lost += t->records;
        nprocs++;
        if (p && t->exited) {
            check_enc(write_exit(c, p, t->exit_how), "an exit");
        } else if (t->exited) {
            struct file_proc *again = define_again(c, t);
            uint64_t written_here = again->records;
            *again = *t; /* a deletion of this file too finds its EXIT */
            again->records = written_here;
            again->exit_records = t->exit_records - t->records;
            again->exit_lost = t->exit_lost + t->records;
            check_enc(shlog_enc_exit(c->cur->enc, t->key, t->exit_ns, again->exit_records, again->exit_lost,
                                     t->exit_how), "an exit");
        }
    }
    free(live);
    mark_content(c);
    frame_flush_soon(c);
    shm_warn(PROG, "%s was deleted while open: the %" PRIu64 " records written into it by %zu process(es) are lost, counted "
          "as losses (file_removed) in the next file; the output goes on in a new file",
          gone->part_path, lost, nprocs);
}
