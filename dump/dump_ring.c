/*
 * dump_ring.c - shmlog-dump ring: every record still in the rings of live
 * (or dead) processes, merged in time order, rendered as read renders files;
 * with --follow, the records as they are committed, with no collector.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "dump.h"

/* One ring being read from its tail to the head seen at open. */
struct ring_cursor {
    struct shm_seg seg;
    struct shm_ring_view view;
    uint64_t pos;
    uint64_t end;
    struct shm_copied_record rec; /* the pending record when has_rec */
    int has_rec;
};

struct ring_ctx {
    const struct cli *cli;
    const struct shm_proc_info *info;
    struct shm_clock_map clock;
    struct site_cache *sites;
    int writer_dead;
    uint64_t last_ns; /* time of the last record shown: loss markers use it */
    struct thread_names names;
};

/* Records shown over every process: --limit ends the command. */
static uint64_t ring_shown;

static int ring_limit_reached(const struct cli *cli)
{
    return cli->filter.limit && ring_shown >= cli->filter.limit;
}

static void emit_loss(struct ring_ctx *ctx, const struct ring_cursor *c, const struct shm_loss *loss)
{
    const struct read_filter *f = &ctx->cli->filter;
    if (ring_limit_reached(ctx->cli) || !read_filter_time(f, ctx->last_ns))
        return;
    struct render_input in = {ctx->info->app, ctx->info->host, ctx->info->pid, c->view.cpu,
                              ctx->last_ns, NULL, NULL, ctx->info->instance, NULL};
    struct render_buf b = out_begin();
    render_loss(&in, loss, ctx->cli->json, &b);
    out_end(&b);
}

/* Advances c to its next record; loss results met on the way are shown now. */
static void cursor_fill(struct ring_ctx *ctx, struct ring_cursor *c)
{
    c->has_rec = 0;
    while (c->pos < c->end) {
        struct shm_loss loss;
        int r = shm_ring_next(&c->view, &c->pos, &c->rec, ctx->writer_dead, &loss);
        if (r == SHM_READ_RECORD) {
            /* A live writer may have added records past the snapshot: not ours. */
            c->has_rec = c->rec.pos < c->end;
            return;
        }
        if (r == SHM_READ_LOSS) {
            emit_loss(ctx, c, &loss);
            continue;
        }
        return; /* EMPTY, or PENDING: a live writer is still writing that record */
    }
}

static void emit_record(struct ring_ctx *ctx, const struct ring_cursor *c)
{
    const struct read_filter *f = &ctx->cli->filter;
    uint64_t ts = shm_clock_map_ns(&ctx->clock, c->rec.tsc);
    const struct render_site *sr = site_lookup(ctx->sites, c->rec.site);
    ctx->last_ns = ts;
    if (!sr) {
        fprintf(stderr, "%s: out of memory rendering a record of %s[%u]\n", dump_prog, ctx->info->app, ctx->info->pid);
        return;
    }
    const char *thread = thread_name_of(&ctx->names, ctx->sites->meta, ctx->info->site_capacity, c->rec.tid);
    if (ring_limit_reached(ctx->cli) || !read_filter_record(f, c->rec.level, shm_categories_name(ctx->sites->cats, c->rec.category), ts) ||
        !read_filter_thread(f, c->rec.tid, thread) || !read_filter_where(f, sr, &c->rec) ||
        !read_filter_grep(f, sr, &c->rec))
        return;
    struct render_buf b = out_begin();
    render_prepared_thread(sr, &c->rec, c->view.cpu, ts, thread, NULL, ctx->cli->json, &b);
    out_end(&b);
    ring_shown++;
}

/* Min-heap of cursor indices by the TSC of their pending record. */
static int heap_less(struct ring_cursor *cur, int a, int b)
{
    if (cur[a].rec.tsc != cur[b].rec.tsc)
        return cur[a].rec.tsc < cur[b].rec.tsc;
    return a < b;
}

static void heap_down(struct ring_cursor *cur, int *heap, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && heap_less(cur, heap[l], heap[m]))
            m = l;
        if (r < n && heap_less(cur, heap[r], heap[m]))
            m = r;
        if (m == i)
            return;
        int t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
}

/* The heap memory of the dump_process running, where dump_process_release
 * finds it after a SIGBUS too. */
static struct {
    struct site_cache sites;
    struct ring_cursor *cur;
    int *heap;
} dumping;

static void dump_process_release(void)
{
    free(dumping.heap);
    free(dumping.cur);
    site_cache_free(&dumping.sites);
    memset(&dumping, 0, sizeof dumping);
}

/* Every record of the rings of one process, merged in TSC order. entries:
 * the segments of one pid in one directory, its meta segments first (more
 * than one when another user took a name first); claimed[i]: ring i
 * belonged to a meta. */
static void dump_one(const struct cli *cli, const struct seg_entry *meta_entry, const struct seg_entry *entries,
                     size_t n, char *claimed)
{
    char err[4096 + 256];
    struct shm_seg meta;
    struct shm_proc_info info;
    if (open_segment(meta_entry, &meta, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", dump_prog, err);
        return;
    }
    if (shm_meta_info(&meta, &info, err, sizeof err) != 0 ||
        shm_meta_attribution(&meta, &info, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", dump_prog, err);
        shm_seg_close(&meta);
        return;
    }

    if (!read_filter_process(&cli->filter, info.app, info.pid)) {
        shm_seg_close(&meta);
        return;
    }
    static struct shm_categories cats;
    shm_meta_categories(&meta, &cats);
    int sites_ok = site_cache_init(&dumping.sites, &meta, &info, &cats) == 0;
    struct ring_cursor *cur = dumping.cur = calloc(n, sizeof *cur);
    int *heap = dumping.heap = calloc(n, sizeof *heap);
    if (!sites_ok || !cur || !heap) {
        fprintf(stderr, "%s: out of memory for %s\n", dump_prog, meta_entry->path);
        goto out;
    }

    static struct ring_ctx ctx; /* its map is 6 KiB; one process at a time */
    ctx = (struct ring_ctx){.cli = cli, .info = &info, .sites = &dumping.sites,
                            .writer_dead = shm_meta_holder(&meta) < 0};
    const struct shm_clock_taker *now = live_clock();
    shm_clock_map_live(&ctx.clock, info.anchor_tsc, info.anchor_ns, &now->last, now->hz_q16);
    int nrings = 0;
    for (size_t i = 0; i < n; i++) {
        struct ring_cursor *c = &cur[nrings];
        if (entries[i].kind != SHMLOG_SEG_RING || claimed[i] ||
            open_ring_of(&meta, &entries[i], &c->seg, &c->view, err, sizeof err) != 0)
            continue;
        claimed[i] = 1;
        c->pos = shm_ring_tail(&c->view);
        c->end = shm_ring_head(&c->view);
        nrings++;
    }
    ctx.last_ns = info.created_ns;

    int nheap = 0;
    for (int i = 0; i < nrings; i++) {
        cursor_fill(&ctx, &cur[i]);
        if (cur[i].has_rec)
            heap[nheap++] = i;
    }
    for (int i = nheap / 2 - 1; i >= 0; i--)
        heap_down(cur, heap, nheap, i);
    while (nheap > 0 && !ring_limit_reached(cli)) {
        struct ring_cursor *c = &cur[heap[0]];
        emit_record(&ctx, c);
        cursor_fill(&ctx, c);
        if (!c->has_rec)
            heap[0] = heap[--nheap];
        heap_down(cur, heap, nheap, 0);
    }

    /* Drops never reached a ring: one marker per ring with its total. */
    for (int i = 0; i < nrings; i++) {
        uint64_t dropped = shm_ring_dropped(&cur[i].view);
        if (dropped) {
            struct shm_loss loss = {cur[i].end, 0, dropped, SHM_LOSS_DROPPED};
            ctx.last_ns = ctx.last_ns ? ctx.last_ns : read_now_ns();
            emit_loss(&ctx, &cur[i], &loss);
        }
        shm_seg_close(&cur[i].seg);
    }
out:
    dump_process_release();
    shm_seg_close(&meta);
}

static void dump_process(const struct cli *cli, const struct seg_entry *entries, size_t n)
{
    char *claimed = calloc(n, 1);
    if (!claimed) {
        fprintf(stderr, "%s: out of memory\n", dump_prog);
        return;
    }
    size_t metas = 0;
    for (; metas < n && entries[metas].kind == SHMLOG_SEG_META; metas++)
        dump_one(cli, &entries[metas], entries, n, claimed);
    for (size_t i = metas; i < n; i++)
        if (!claimed[i])
            fprintf(stderr, "%s: %s: belongs to no metadata segment of its directory, not decoded\n", dump_prog,
                    entries[i].path);
    free(claimed);
}

/* ==== ring --follow ==== */

/* A process followed: its rings from their tail at first sight, then what
 * they commit, read-only. Everything on the heap: the site cache and the
 * renderer keep pointers into it. */
struct followed {
    struct shm_seg meta;
    struct shm_proc_info info;
    struct shm_categories cats;
    struct site_cache sites;
    struct ring_ctx ctx;
    struct ring_cursor *rings;
    int nrings;
    int faulted; /* a segment shrank under it: no longer read */
};

#define FOLLOW_MAX_PROCS 256
#define FOLLOW_POLL_MS 50

static struct followed *followed[FOLLOW_MAX_PROCS];
static int nfollowed;
/* Processes shown to their end, whose segments stay until a collector or
 * clean removes them: never followed again. */
static struct finished {
    char *path;
    uint64_t proc_start;
} *finished;
static size_t nfinished;
static volatile sig_atomic_t ring_follow_stop;

static void on_ring_follow_stop(int sig)
{
    (void)sig;
    ring_follow_stop = 1;
}

static int follows_path(const char *path)
{
    for (int i = 0; i < nfollowed; i++) {
        if (strcmp(followed[i]->meta.path, path) == 0)
            return 1;
        for (int k = 0; k < followed[i]->nrings; k++)
            if (strcmp(followed[i]->rings[k].seg.path, path) == 0)
                return 1;
    }
    return 0;
}

static void follow_free(struct followed *f)
{
    for (int k = 0; k < f->nrings; k++)
        shm_seg_close(&f->rings[k].seg);
    free(f->rings);
    site_cache_free(&f->sites);
    shm_seg_close(&f->meta);
    free(f);
}

/* A meta segment not followed yet: followed from now on, if it is sound,
 * speaks for its process and passes --pid/--app. */
static void follow_meta(const struct cli *cli, const struct seg_entry *e)
{
    char err[4096 + 256];
    struct followed *f = calloc(1, sizeof *f);
    if (!f || open_segment(e, &f->meta, err, sizeof err) != 0) {
        free(f);
        return;
    }
    int sound = shm_meta_info(&f->meta, &f->info, err, sizeof err) == 0, done = 0;
    for (size_t i = 0; sound && i < nfinished && !done; i++)
        done = finished[i].proc_start == f->info.proc_start && strcmp(finished[i].path, e->path) == 0;
    if (!sound || done || shm_meta_attribution(&f->meta, &f->info, err, sizeof err) != 0 ||
        !read_filter_process(&cli->filter, f->info.app, f->info.pid) || nfollowed == FOLLOW_MAX_PROCS) {
        shm_seg_close(&f->meta);
        free(f);
        return;
    }
    shm_meta_categories(&f->meta, &f->cats);
    if (site_cache_init(&f->sites, &f->meta, &f->info, &f->cats) != 0) {
        site_cache_free(&f->sites);
        shm_seg_close(&f->meta);
        free(f);
        return;
    }
    f->ctx = (struct ring_ctx){.cli = cli, .info = &f->info, .sites = &f->sites, .last_ns = read_now_ns()};
    const struct shm_clock_taker *now = live_clock();
    shm_clock_map_live(&f->ctx.clock, f->info.anchor_tsc, f->info.anchor_ns, &now->last, now->hz_q16);
    followed[nfollowed++] = f;
}

/* A ring not followed yet: read from its tail, if it belongs to a process
 * followed (a process makes a ring on its first record on a cpu). */
static void follow_ring(const struct seg_entry *e)
{
    char err[4096 + 256];
    for (int i = 0; i < nfollowed; i++) {
        struct followed *f = followed[i];
        if (f->info.pid != e->pid || f->faulted)
            continue;
        struct ring_cursor c;
        memset(&c, 0, sizeof c);
        if (open_ring_of(&f->meta, e, &c.seg, &c.view, err, sizeof err) != 0)
            continue;
        struct ring_cursor *grown = realloc(f->rings, (size_t)(f->nrings + 1) * sizeof *grown);
        if (!grown) {
            shm_seg_close(&c.seg);
            return;
        }
        c.pos = shm_ring_tail(&c.view);
        f->rings = grown;
        f->rings[f->nrings++] = c;
        return;
    }
}

/* What f's rings committed since the last poll, ring by ring; 1 if any. */
static int follow_poll(struct followed *f)
{
    int any = 0;
    f->ctx.writer_dead = shm_meta_holder(&f->meta) < 0;
    for (int k = 0; k < f->nrings; k++) {
        struct ring_cursor *c = &f->rings[k];
        c->end = shm_ring_head(&c->view);
        if (c->end - c->pos > c->view.cap && c->end > c->pos) {
            /* A collector released what this view had not read, and the
             * producer wrote over it: said, and skipped. */
            struct shm_loss loss = {c->pos, c->end - c->view.cap - c->pos, c->end - c->view.cap - c->pos,
                                    SHM_LOSS_OVERWRITTEN};
            emit_loss(&f->ctx, c, &loss);
            c->pos = c->end - c->view.cap;
        }
        for (cursor_fill(&f->ctx, c); c->has_rec && !ring_limit_reached(f->ctx.cli); cursor_fill(&f->ctx, c)) {
            emit_record(&f->ctx, c);
            any = 1;
        }
    }
    return any;
}

struct guarded_poll {
    struct followed *f;
    int any;
};

static void guarded_poll_run(void *ctx)
{
    struct guarded_poll *p = ctx;
    p->any = follow_poll(p->f);
}

/* One poll of f under the SIGBUS guard: a segment that shrank stops it. */
static int follow_poll_guarded(struct followed *f)
{
    struct guarded_poll p = {f, 0};
    if (shm_guarded(guarded_poll_run, &p) == 0)
        return p.any;
    out_flush();
    fprintf(stderr, "%s: %s[%u]: a segment shrank while being read (SIGBUS); no longer followed\n", dump_prog,
            f->info.app, f->info.pid);
    f->faulted = 1;
    return 0;
}

/* Every process that logs in the directories, now and later, until SIGINT,
 * SIGTERM or --limit: what its rings hold, then each record as it is
 * committed (in ring order per cpu; rings are not merged with each other).
 * Nothing is released: with no collector a ring fills and its producer
 * drops, as it would without this command. */
static int ring_follow(struct cli *cli)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_ring_follow_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    shm_bus_guard_install();
    int status = 0, said = 0;
    while (!ring_follow_stop && !ring_limit_reached(cli)) {
        struct seg_list list = {0};
        status |= scan_dirs(cli, &list);
        for (size_t i = 0; i < list.n; i++)
            if (list.v[i].kind == SHMLOG_SEG_META && !follows_path(list.v[i].path))
                follow_meta(cli, &list.v[i]);
        for (size_t i = 0; i < list.n; i++)
            if (list.v[i].kind == SHMLOG_SEG_RING && !follows_path(list.v[i].path))
                follow_ring(&list.v[i]);
        free(list.v);
        if (!nfollowed && !said++)
            fprintf(stderr, "%s: ring --follow: waiting for a process to log in %s%s\n", dump_prog, cli->dirs[0],
                    cli->ndirs > 1 ? " (and the other directories given)" : "");
        for (int i = 0; i < nfollowed && !ring_limit_reached(cli); i++) {
            struct followed *f = followed[i];
            int any = f->faulted ? 0 : follow_poll_guarded(f);
            /* gone, and nothing more came: its last records were shown */
            if (f->faulted || (!any && f->ctx.writer_dead)) {
                struct finished *grown = realloc(finished, (nfinished + 1) * sizeof *grown);
                char *path = strdup(f->meta.path);
                if (grown && path) {
                    finished = grown;
                    finished[nfinished++] = (struct finished){path, f->info.proc_start};
                } else {
                    free(path);
                    if (grown)
                        finished = grown;
                }
                follow_free(f);
                followed[i--] = followed[--nfollowed];
            }
        }
        out_push(); /* whole lines, as a tail -f would show them */
        struct timespec nap = {0, FOLLOW_POLL_MS * 1000000L};
        nanosleep(&nap, NULL);
    }
    while (nfollowed)
        follow_free(followed[--nfollowed]);
    while (nfinished)
        free(finished[--nfinished].path);
    free(finished);
    return status;
}

int cmd_ring(struct cli *cli)
{
    if (cli->follow)
        return ring_follow(cli);
    struct seg_list list = {0};
    int status = scan_dirs(cli, &list);
    shm_bus_guard_install();
    for (size_t i = 0; i < list.n;) {
        size_t end = process_run_end(&list, i);
        if (ring_limit_reached(cli))
            break;
        status |= guarded(dump_process, dump_process_release, cli, &list.v[i], end - i);
        i = end;
    }
    free(list.v);
    return status;
}
