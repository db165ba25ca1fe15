/*
 * observe.c - the metrics and alerts glue: snapshots of the processes, rings
 * and counters for the metrics threads, and the alert rules' polls.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "observe.h"
#include "output.h"
#include "procs.h"
#include "scan.h"
#include "writer.h"

/* --alert rules: counted on the drain path, run from the loop. */
#define METRICS_PUBLISH_NS 100000000ull /* snapshots for the metrics threads, at most this often */

struct ring_look {
    const struct collector_state *c;
    const struct ring *r;
    struct metrics_ring *m;
};

static void ring_look(void *ctx)
{
    static struct shm_copied_record oldest; /* 450 bytes; one drain thread */
    const struct ring_look *look = ctx;
    const struct ring *r = look->r;
    /* The furthest head seen, not the head: the producer line stays its own. */
    uint64_t head = r->bound, tail = shm_ring_tail(&r->view);
    look->m->fill_ratio = head > tail ? (double)shm_ring_used(&r->view, head, tail) / (double)r->view.cap : 0.0;
    uint64_t at = r->read_pos;
    struct shm_loss loss;
    if (head != r->read_pos && shm_ring_next(&r->view, &at, &oldest, 0, &loss) == SHM_READ_RECORD) {
        uint64_t born = anchors_ns(&look->c->clock, oldest.tsc), now = shm_real_ns();
        look->m->lag_seconds = now > born ? (double)(now - born) / 1e9 : 0.0;
    }
}

/* Fill and lag of a ring, read from shared memory under the SIGBUS guard.
 * The lag is the age of the record at the read position (not drained yet),
 * from its TSC through the process's calibration. A fault here leaves the
 * ring as it is: the drain meets the fault itself and marks the ring. */
static void ring_observe(const struct collector_state *c, const struct ring *r, struct metrics_ring *m)
{
    struct ring_look look = {c, r, m};
    if (!r->broken)
        (void)shm_guarded(ring_look, &look);
}

/* Call sites among a table of n entries: the THREAD entries scanned are not. */
static uint32_t call_sites_of(const struct proc *p, uint32_t n)
{
    return n > p->threads.entries ? n - p->threads.entries : 0;
}

struct proc_look {
    const struct proc *p;
    struct metrics_proc *m;
};

static void proc_look(void *ctx)
{
    static struct shm_proc_info live;
    static struct shm_categories cats;
    const struct proc_look *look = ctx;
    const struct proc *p = look->p;
    struct metrics_proc *m = look->m;
    char err[256];
    if (shm_meta_info(&p->meta, &live, err, sizeof(err)) != 0)
        return;
    m->call_sites = call_sites_of(p, live.site_count);
    m->level = live.level;
    m->out_of_range = live.out_of_range;
    shm_meta_categories(&p->meta, &cats);
    m->ncats = 0;
    for (unsigned i = 0; i < cats.count; i++) {
        const char *name = shm_categories_name(&cats, i);
        if (!name)
            continue;
        struct metrics_category *c = &m->cats[m->ncats++];
        snprintf(c->name, sizeof c->name, "%s", name);
        c->level = cats.live[i];
        c->records = p->by_category[i];
    }
}

/* The live call-site count and level of a process (the copy taken at open
 * ages). */
static void proc_observe(struct proc *p, struct metrics_proc *m)
{
    threads_scan(p); /* the table's newest entries told apart */
    m->call_sites = call_sites_of(p, p->info.site_count);
    m->level = p->info.level;
    struct proc_look look = {p, m};
    (void)shm_guarded(proc_look, &look);
}

/* Builds a snapshot and hands it to the metrics threads. 1 if published. */
static int publish_metrics(struct collector_state *c, int wait)
{
    struct metrics_snapshot *s = metrics_stage();
    if (!s)
        return 0;
    for (struct proc *p = c->procs; p; p = p->next) {
        struct metrics_proc *mp = metrics_add_proc(s);
        if (!mp)
            break;
        snprintf(mp->app, sizeof(mp->app), "%s", p->info.app);
        mp->pid = p->info.pid;
        proc_observe(p, mp);
        for (struct ring *r = p->rings; r; r = r->next) {
            struct metrics_ring *mr = metrics_add_ring(s);
            if (!mr)
                break;
            snprintf(mr->app, sizeof(mr->app), "%s", p->info.app);
            mr->pid = p->info.pid;
            mr->cpu = r->cpu;
            mr->records = r->records;
            mr->payload_bytes = r->payload_bytes;
            mr->dropped = r->dropped_seen;
            ring_observe(c, r, mr);
        }
    }
    anchors_observe(&c->clock, &s->clock);
    struct metrics_totals *t = &s->totals;
    t->files = output_stats(c->output)->files;
    t->written_bytes = writer_stats(c->writer)->written_bytes;
    t->fast_frames = c->fast_frames;
    t->records = c->records;
    t->record_bytes = c->record_slots * SHMLOG_RECORD_BYTES;
    t->write_errors = writer_stats(c->writer)->write_errors;
    t->rotations = c->rotations;
    t->unshipped_removed = output_stats(c->output)->unshipped_removed;
    t->segments_rejected = c->rejected + scan_rejected(c->scan);
    t->backtrace_written = c->backtrace_written;
    t->backtrace_discarded = c->backtrace_discarded;
    t->backtrace_requests = c->backtrace_requests;
    memcpy(t->losses, c->losses, sizeof(t->losses));
    struct timespec cpu;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu) == 0)
        t->cpu_seconds = (double)cpu.tv_sec + (double)cpu.tv_nsec / 1e9;
    return metrics_publish(wait);
}

struct site_look {
    struct proc *p;
    uint32_t site;
    char *buf;
    size_t cap;
};

static void site_look(void *ctx)
{
    const struct site_look *look = ctx;
    struct site_slot *slot;
    const struct shm_site *info = site_of(look->p, look->site, &slot);
    if (info)
        snprintf(look->buf, look->cap, "%s:%" PRIu32, info->file, info->line);
}

static void site_text(struct proc *p, uint32_t site, char *buf, size_t cap)
{
    struct site_look look = {p, site, buf, cap};
    (void)shm_guarded(site_look, &look);
}

/* "file:line" of a call site for an alert's environment. */
static void alert_site_text(void *ctx, uint32_t key, uint32_t site, char *buf, size_t cap)
{
    const struct collector_state *c = ctx;
    snprintf(buf, cap, "unknown");
    for (struct proc *p = c->procs; p; p = p->next) {
        if (p->key == key) {
            site_text(p, site, buf, cap);
            return;
        }
    }
}

/* Once per loop pass: due alerts, and a metrics snapshot now and then. */
void observe(struct collector_state *c, uint64_t now)
{
    static uint64_t last_publish;
    if (c->alerts.n)
        alert_poll(&c->alerts, now, alert_site_text, c);
    if (metrics_enabled() && now - last_publish >= METRICS_PUBLISH_NS && publish_metrics(c, 0))
        last_publish = now;
}

/* At exit: alerts for the last records, the final counters for the readers. */
void observe_last(struct collector_state *c)
{
    if (c->alerts.n)
        alert_poll(&c->alerts, shm_mono_ns(), alert_site_text, c);
    publish_metrics(c, 1);
    metrics_stop();
}
