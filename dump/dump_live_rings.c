/*
 * dump_live_rings.c - the records still in the live rings that the files do
 * not hold yet, for serve's live=1: every process of the segment directories
 * (running or dead), each ring read from its collector's tail, merged in time
 * order across rings. Read-only; one caller at a time reads segments (the
 * SIGBUS guard is the process's), with a bound on processes and rings, so
 * memory stays bounded whatever the directories hold. A record the caller
 * read from the files (live_rings_file_record) is not shown again, and one
 * shown here is not shown again when the files bring it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dump.h"

#define LIVE_PROCS_MAX 64
#define LIVE_RINGS_MAX 256
#define LIVE_MARKS_MAX 1024

struct live_proc {
    char path[4096];
    struct shm_seg meta;
    struct shm_proc_info info;
    struct shm_categories cats;
    struct site_cache sites;
    struct thread_names names;
    struct shm_clock_map clock;
    int writer_dead;
};

/* Per ring (process and cpu), what is shown already: positions below
 * shown_below came from the files or from here. Kept apart from the rings,
 * so that a file's record seen before its ring was found still counts. */
struct live_mark {
    uint32_t pid, cpu;
    uint64_t proc_start;
    uint64_t shown_below; /* positions below: shown */
    uint64_t live_below;  /* positions below: shown from the ring (a file's copy is skipped) */
};

struct live_ring {
    struct shm_seg seg;
    struct shm_ring_view view;
    struct live_proc *proc;
    struct live_mark *mark;
    uint64_t pos, end;
    uint64_t hole; /* the slot of a live writer passed over (its position + 1), which a query's cursor names; 0: none */
    uint64_t ts;
    int has_rec;
    struct shm_copied_record rec;
};

struct live_rings {
    const struct cli *cli;
    int follow;  /* a tail: new processes and rings, and what rings commit, at every poll */
    int scanned; /* a query: the directories were read once */
    struct live_proc *procs[LIVE_PROCS_MAX];
    int nprocs;
    struct live_ring *rings[LIVE_RINGS_MAX];
    int nrings;
    int heap[LIVE_RINGS_MAX];
    int nheap, heaped;
    struct live_mark marks[LIVE_MARKS_MAX];
    int nmarks;
    uint64_t faults; /* segments that shrank under the reader */
};

/* One reader of segments at a time: the SIGBUS guard is one for the process. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static int guard_installed;

struct live_rings *live_rings_new(const struct cli *cli, int follow)
{
    struct live_rings *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->cli = cli;
    l->follow = follow;
    return l;
}

static void proc_free(struct live_proc *p)
{
    site_cache_free(&p->sites);
    shm_seg_close(&p->meta);
    free(p);
}

/* Every process and ring goes; the marks stay (what was shown stays shown). */
static void drop_all(struct live_rings *l)
{
    for (int i = 0; i < l->nrings; i++) {
        shm_seg_close(&l->rings[i]->seg);
        free(l->rings[i]);
    }
    for (int i = 0; i < l->nprocs; i++)
        proc_free(l->procs[i]);
    l->nrings = l->nprocs = l->nheap = l->heaped = l->scanned = 0;
}

void live_rings_free(struct live_rings *l)
{
    if (!l)
        return;
    drop_all(l);
    free(l);
}

static struct live_mark *mark_of(struct live_rings *l, uint32_t pid, uint64_t proc_start, uint32_t cpu, int add)
{
    for (int i = 0; i < l->nmarks; i++)
        if (l->marks[i].pid == pid && l->marks[i].cpu == cpu && l->marks[i].proc_start == proc_start)
            return &l->marks[i];
    if (!add)
        return NULL;
    if (l->nmarks == LIVE_MARKS_MAX) {
        /* Full: the marks of rings no longer read go (their processes left the directories). */
        int kept = 0;
        for (int i = 0; i < l->nmarks; i++) {
            int used = 0;
            for (int k = 0; k < l->nrings && !used; k++)
                used = l->rings[k]->mark == &l->marks[i];
            if (used) {
                for (int k = 0; k < l->nrings; k++)
                    if (l->rings[k]->mark == &l->marks[i])
                        l->rings[k]->mark = &l->marks[kept];
                l->marks[kept++] = l->marks[i];
            }
        }
        l->nmarks = kept;
        if (l->nmarks == LIVE_MARKS_MAX)
            return NULL;
    }
    struct live_mark *m = &l->marks[l->nmarks++];
    *m = (struct live_mark){pid, cpu, proc_start, 0, 0};
    return m;
}

int live_rings_file_record(struct live_rings *l, uint32_t pid, uint64_t proc_start, uint32_t cpu, uint64_t seq)
{
    struct live_mark *m = mark_of(l, pid, proc_start, cpu, 1);
    if (!m)
        return 0;
    if (seq < m->live_below)
        return 1;
    if (seq + 1 > m->shown_below)
        m->shown_below = seq + 1;
    return 0;
}

/* ==== Finding processes and rings (under the lock and the guard) ==== */

static int has_path(const struct live_rings *l, const char *path)
{
    for (int i = 0; i < l->nprocs; i++)
        if (strcmp(l->procs[i]->path, path) == 0)
            return 1;
    for (int i = 0; i < l->nrings; i++)
        if (strcmp(l->rings[i]->seg.path, path) == 0)
            return 1;
    return 0;
}

static void add_proc(struct live_rings *l, const struct seg_entry *e)
{
    char err[4096 + 256];
    if (l->nprocs == LIVE_PROCS_MAX)
        return;
    struct live_proc *p = calloc(1, sizeof *p);
    if (!p)
        return;
    snprintf(p->path, sizeof p->path, "%s", e->path);
    if (open_segment(e, &p->meta, err, sizeof err) != 0) {
        free(p);
        return;
    }
    if (shm_meta_info(&p->meta, &p->info, err, sizeof err) != 0 ||
        shm_meta_attribution(&p->meta, &p->info, err, sizeof err) != 0) {
        shm_seg_close(&p->meta);
        free(p);
        return;
    }
    shm_meta_categories(&p->meta, &p->cats);
    if (site_cache_init(&p->sites, &p->meta, &p->info, &p->cats) != 0) {
        proc_free(p);
        return;
    }
    const struct shm_clock_taker *now = live_clock();
    shm_clock_map_live(&p->clock, p->info.anchor_tsc, p->info.anchor_ns, &now->last, now->hz_q16);
    l->procs[l->nprocs++] = p;
}

static void add_ring(struct live_rings *l, const struct seg_entry *e)
{
    char err[4096 + 256];
    if (l->nrings == LIVE_RINGS_MAX)
        return;
    for (int i = 0; i < l->nprocs; i++) {
        struct live_proc *p = l->procs[i];
        if (p->info.pid != e->pid)
            continue;
        struct live_ring *r = calloc(1, sizeof *r);
        if (!r)
            return;
        if (open_ring_of(&p->meta, e, &r->seg, &r->view, err, sizeof err) != 0) {
            free(r);
            continue;
        }
        r->proc = p;
        r->mark = mark_of(l, p->info.pid, p->info.proc_start, r->view.cpu, 1);
        /* What the collector released is in the files; what it took but has
         * not released may be too: the files' records (marks) say. */
        r->pos = r->end = shm_ring_tail(&r->view);
        l->rings[l->nrings++] = r;
        return;
    }
}

static void scan(struct live_rings *l)
{
    struct seg_list list = {0};
    scan_dirs(l->cli, &list);
    for (size_t i = 0; i < list.n; i++)
        if (list.v[i].kind == SHMLOG_SEG_META && !has_path(l, list.v[i].path))
            add_proc(l, &list.v[i]);
    for (size_t i = 0; i < list.n; i++)
        if (list.v[i].kind == SHMLOG_SEG_RING && !has_path(l, list.v[i].path))
            add_ring(l, &list.v[i]);
    free(list.v);
}

/* ==== Reading the rings ==== */

/* r's next record past what is shown, within the filter's time; 0 when none yet.
 * A query's snapshot passes over a slot a live writer reserved and has not
 * committed (its thread preempted between the two): that thread has nothing
 * past it, while another's records after it would be missing between the
 * ones it wrote before and those it wrote on another cpu's ring since. The
 * answer's cursor names that slot, so a next page brings its record once
 * committed; a ring's part of the answer ends at a second one. A tail waits
 * at it: the record comes. */
static int ring_fill(struct live_rings *l, struct live_ring *r, const struct read_filter *f)
{
    r->has_rec = 0;
    while (r->pos < r->end) {
        struct shm_loss loss;
        uint64_t at = r->pos;
        int rc = shm_ring_next(&r->view, &r->pos, &r->rec, r->proc->writer_dead || !l->follow, &loss);
        if (rc == SHM_READ_LOSS && !r->proc->writer_dead && loss.reason == SHM_LOSS_DEAD_WRITER) {
            if (r->hole) {
                r->pos = at;
                return 0;
            }
            r->hole = loss.first_pos + 1;
        }
        if (rc == SHM_READ_LOSS)
            continue; /* losses reach the files as markers: the collector writes them */
        if (rc != SHM_READ_RECORD)
            return 0; /* EMPTY, or (a tail) a record a live writer is still writing */
        if (r->rec.pos >= r->end)
            return 0;
        if (r->mark && r->rec.pos < r->mark->shown_below)
            continue;
        r->ts = shm_clock_map_ns(&r->proc->clock, r->rec.tsc);
        if (!read_filter_time(f, r->ts))
            continue;
        r->has_rec = 1;
        return 1;
    }
    return 0;
}

static int ring_before(struct live_rings *l, int a, int b)
{
    if (l->rings[a]->ts != l->rings[b]->ts)
        return l->rings[a]->ts < l->rings[b]->ts;
    return a < b;
}

static void sift_down(struct live_rings *l, int i)
{
    for (;;) {
        int left = 2 * i + 1, right = left + 1, m = i;
        if (left < l->nheap && ring_before(l, l->heap[left], l->heap[m]))
            m = left;
        if (right < l->nheap && ring_before(l, l->heap[right], l->heap[m]))
            m = right;
        if (m == i)
            return;
        int t = l->heap[i];
        l->heap[i] = l->heap[m];
        l->heap[m] = t;
        i = m;
    }
}

/* The rings' ends now, each ring's first record, the heap over them. */
static void start_round(struct live_rings *l, const struct read_filter *f)
{
    l->nheap = 0;
    for (int i = 0; i < l->nrings; i++) {
        struct live_ring *r = l->rings[i];
        r->proc->writer_dead = shm_meta_holder(&r->proc->meta) < 0;
        uint64_t head = shm_ring_head(&r->view), tail = shm_ring_tail(&r->view);
        if (head - r->pos > r->view.cap)
            r->pos = tail; /* released and written over since: in the files */
        r->end = head;
        if (ring_fill(l, r, f))
            l->heap[l->nheap++] = i;
    }
    for (int i = l->nheap / 2 - 1; i >= 0; i--)
        sift_down(l, i);
    l->heaped = 1;
}

struct live_round {
    struct live_rings *l;
    const struct read_filter *f;
    live_emit_fn emit;
    void *ctx;
    int rc;
};

static void round_run(void *arg)
{
    struct live_round *w = arg;
    struct live_rings *l = w->l;
    if (!l->heaped) {
        if (l->follow || !l->scanned)
            scan(l);
        l->scanned = 1;
        start_round(l, w->f);
    }
    while (l->nheap > 0) {
        struct live_ring *r = l->rings[l->heap[0]];
        struct live_proc *p = r->proc;
        const struct render_site *sr = site_lookup(&p->sites, r->rec.site);
        const char *thread = thread_name_of(&p->names, &p->meta, p->info.site_capacity, r->rec.tid);
        const struct read_filter *f = w->f;
        if (sr && read_filter_process(f, p->info.app, p->info.pid) && read_filter_host(f, p->info.host) &&
            read_filter_record(f, r->rec.level, shm_categories_name(&p->cats, r->rec.category), r->ts) &&
            read_filter_thread(f, r->rec.tid, thread) && read_filter_where(f, sr, &r->rec) &&
            read_filter_grep(f, sr, &r->rec)) {
            struct live_record lr = {sr, &r->rec, r->view.cpu, p->info.pid, p->info.proc_start, r->ts, thread, r->hole};
            if (w->emit(w->ctx, &lr) != 0) {
                w->rc = 1; /* the caller is full: this record comes first next time */
                return;
            }
        }
        if (r->mark && r->pos > r->mark->live_below) /* shm_ring_next left pos past the record */
            r->mark->live_below = r->mark->shown_below > r->pos ? r->mark->shown_below : r->pos;
        if (!ring_fill(l, r, w->f))
            l->heap[0] = l->heap[--l->nheap];
        sift_down(l, 0);
    }
    l->heaped = 0;
}

static void start_run(void *arg)
{
    struct live_rings *l = arg;
    scan(l);
    l->scanned = 1;
}

void live_rings_start(struct live_rings *l)
{
    pthread_mutex_lock(&live_lock);
    if (!guard_installed)
        guard_installed = shm_bus_guard_install() == 0;
    if (shm_guarded(start_run, l) != 0) {
        l->faults++;
        drop_all(l);
    }
    pthread_mutex_unlock(&live_lock);
}

int live_rings_poll(struct live_rings *l, const struct read_filter *f, live_emit_fn emit, void *ctx)
{
    struct live_round w = {l, f, emit, ctx, 0};
    pthread_mutex_lock(&live_lock);
    if (!guard_installed)
        guard_installed = shm_bus_guard_install() == 0;
    if (shm_guarded(round_run, &w) != 0) {
        /* A segment shrank under the reader: everything it had goes (its
         * mappings are leaked), and the next poll finds what is left. */
        l->faults++;
        drop_all(l);
        w.rc = 0;
    }
    pthread_mutex_unlock(&live_lock);
    return w.rc;
}
