/* dump_decode.c - the sources of the file commands: their readers, the decode loop, what the files define. */
/*
 * Inputs are grouped into sources: the files of one host, in sequence order,
 * read one after the other with one dedup state (format/FORMAT.md,
 * "Duplicates"). Each source decodes one frame at a time, and hands what it
 * decodes to the command: read's merge (dump_merge.c), stats' counters
 * (dump_stats.c) or verify's checks (dump_verify.c).
 *
 * Memory does not grow with the number of files, hosts or frames: a source
 * waits between frames, where its reader needs none of the last one; every
 * reader decodes in one shared frame memory (at most SHLOG_MAX_FRAME_RAW
 * decompressed), and what readers keep of their own while they wait stays
 * within PARKED_FRAMES_MAX. Besides: the merge's chunks (dump_merge.c), and
 * what the files define (processes, sites: SITE_STRINGS_MAX, PREPARED_MAX and
 * the readers' own bounds per file).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump_files.h"

#define SITE_STRINGS_MAX (512u << 20) /* call-site text kept over all inputs */
#define PREPARED_MAX (256u << 20)     /* prepared renderers kept; beyond, all are dropped and redone */
#define PARKED_FRAMES_MAX (32u << 20) /* frame memory kept by readers that wait, over all sources */

static struct file_cmd dump_cmd;
struct file_cmd *running = &dump_cmd;

void note_error(const char *msg)
{
    running->sink->error(running->sink->ctx, msg);
}

void oom(void)
{
    running->sink->oom(running->sink->ctx);
}

void begin(struct cli *cli, enum mode mode)
{
    running->mode = mode;
    running->cli = cli;
}

/* ==== Identities: processes, rings, sites ==== */

static struct dproc *proc_of(struct source *s, const struct shlog_proc *p)
{
    if (p == s->last_ptr)
        return s->last_proc;
    struct dproc *d = hmap_get(&s->by_ptr, (uintptr_t)p, 0);
    if (!d) {
        uint64_t who, when;
        shm_proc_key(&p->info, &who, &when);
        d = hmap_get(&s->procs, who, when);
        if (!d) {
            d = calloc(1, sizeof *d);
            if (!d || hmap_put(&s->procs, who, when, d) != 0) {
                free(d);
                return NULL;
            }
            d->next_all = running->decode.all_procs;
            running->decode.all_procs = d;
        }
        if (hmap_put(&s->by_ptr, (uintptr_t)p, 0, d) != 0)
            return NULL;
        /* The latest definition: the same process in every file. */
        d->info = p->info;
        shm_tsc_clock_init(&d->clock, &d->info);
        d->passes = filter_process(&running->cli->filter, d->info.app, d->info.pid);
    }
    s->last_ptr = p;
    s->last_proc = d;
    return d;
}

/* cpu | SHLOG_CPU_BACKTRACE: the stream of that ring's backtrace records. */
static struct dring *ring_of(struct source *s, struct dproc *p, uint32_t cpu)
{
    /* A batch is records of one ring: the last one is the likely one. */
    struct dring *r = s->last_ring;
    if (r && r->proc == p && r->cpu == cpu)
        return r;
    r = hmap_get(&p->rings, cpu, 0);
    if (r) {
        s->last_ring = r;
        return r;
    }
    r = calloc(1, sizeof *r);
    if (!r || hmap_put(&p->rings, cpu, 0, r) != 0) {
        free(r);
        return NULL;
    }
    r->proc = p;
    r->src = s;
    r->cpu = cpu;
    r->backtrace = cpu != UINT32_MAX && (cpu & SHLOG_CPU_BACKTRACE);
    r->heap_index = -1;
    s->nrings++;
    r->next_all = running->all_rings;
    running->all_rings = r;
    return r;
}

static char *copy_string(const char *s, size_t n)
{
    if (running->decode.site_bytes + n + 1 > SITE_STRINGS_MAX)
        return NULL;
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = '\0';
        running->decode.site_bytes += n + 1;
    }
    return c;
}

static struct dsite *site_of(struct source *s, struct dproc *p, const struct shlog_site *site)
{
    unsigned slot = (unsigned)(((uintptr_t)site >> 4) % SITE_PTR_CACHE);
    if (s->site_ptr[slot] == site)
        return s->site_of[slot];
    struct dsite *d = hmap_get(&p->sites, site->id, 0);
    if (!d) {
        d = calloc(1, sizeof *d);
        if (!d || hmap_put(&p->sites, site->id, 0, d) != 0) {
            free(d);
            return NULL;
        }
        d->proc = p;
        d->id = site->id;
        d->next_all = running->all_sites;
        running->all_sites = d;
    }
    if (!d->fmt) {
        d->line = site->line;
        d->level = site->level;
        d->category = site->category;
        d->nargs = site->nargs;
        memcpy(d->arg_types, site->arg_types, sizeof d->arg_types);
        d->fmt = copy_string(site->fmt, site->fmt_len);
        d->file = copy_string(site->file, site->file_len);
        if (!d->fmt || !d->file) {
            free(d->fmt);
            free(d->file);
            d->fmt = d->file = NULL;
        }
    }
    s->site_ptr[slot] = site;
    s->site_of[slot] = d;
    return d;
}

const struct render_site *prepared(struct dsite *d, struct dproc *proc)
{
    static struct shm_site info;
    int known = d && d->fmt;
    struct render_site **slot = known ? &d->sr : &proc->unknown;
    if (*slot)
        return *slot;
    if (running->decode.prepared_bytes > PREPARED_MAX) {
        /* Hostile numbers of sites: start over rather than grow. */
        for (struct dsite *x = running->all_sites; x; x = x->next_all) {
            render_site_free(x->sr);
            x->sr = NULL;
        }
        for (struct dproc *x = running->decode.all_procs; x; x = x->next_all) {
            render_site_free(x->unknown);
            x->unknown = NULL;
        }
        running->decode.prepared_bytes = 0;
    }
    if (known) {
        memset(&info, 0, offsetof(struct shm_site, fmt));
        info.id = d->id;
        info.line = d->line;
        info.level = d->level;
        info.category = d->category;
        info.nargs = d->nargs;
        memcpy(info.arg_types, d->arg_types, sizeof info.arg_types);
        snprintf(info.fmt, sizeof info.fmt, "%s", d->fmt);
        snprintf(info.file, sizeof info.file, "%s", d->file);
        info.fmt_len = (uint32_t)strlen(info.fmt);
        info.file_len = (uint32_t)strlen(info.file);
    }
    *slot = render_site_new(known ? &info : NULL, proc->info.app, proc->info.host, proc->info.pid, proc->cats);
    if (*slot)
        running->decode.prepared_bytes += render_site_bytes(*slot);
    return *slot;
}

/* ==== Sources ==== */

int source_open_next(struct source *s)
{
    char err[512];
    while (s->next < s->nfiles) {
        struct in_file *f = &s->files[s->next++];
        s->cur_file = f;
        s->file_anchored = 0;
        if (f->bad_header) {
            char msg[4096 + 300];
            snprintf(msg, sizeof msg, "%s: %s", f->path, f->error);
            note_error(msg);
            f->errors++;
            running->status = 1;
            continue;
        }
        if (shlog_reader_open(&s->rd, f->path, running->mode == MODE_FOLLOW, s->dedup, err, sizeof err) != 0) {
            note_error(err);
            f->errors++;
            running->status = 1;
            continue;
        }
        /* source_step stops between frames, where the reader holds nothing
         * it still needs. */
        shlog_reader_report_frame_ends(s->rd, 1);
        if (running->decode.frame_mem)
            shlog_reader_share_frame_mem(s->rd, running->decode.frame_mem);
        /* The reader's process and site pointers are its own, and its frame
         * offsets start over. */
        s->frame_off = UINT64_MAX;
        hmap_clear(&s->by_ptr);
        s->last_ptr = NULL;
        memset(s->site_ptr, 0, sizeof s->site_ptr);
        return 1;
    }
    return 0;
}

/* The source waits while others decode (read merges them): its reader
 * keeps the last frame's memory only within PARKED_FRAMES_MAX over all of
 * them, so a merge of any number of files holds one decoded frame and
 * budgets the rest. */
static void source_park(struct source *s)
{
    if (!s->rd || !s->park)
        return;
    size_t room = running->decode.parked < PARKED_FRAMES_MAX ? PARKED_FRAMES_MAX - running->decode.parked : 0;
    s->parked = shlog_reader_trim(s->rd, room);
    running->decode.parked += s->parked;
}

static void source_unpark(struct source *s)
{
    running->decode.parked -= s->parked;
    s->parked = 0;
}

void source_close_file(struct source *s)
{
    source_unpark(s);
    if (!s->rd)
        return;
    const struct shlog_reader_stats *st = shlog_reader_stats(s->rd);
    stats_file_closed(st);
    s->cur_file->frames = st->frames;
    shlog_reader_close(s->rd);
    s->rd = NULL;
    hmap_clear(&s->by_ptr);
    s->last_ptr = NULL;
    memset(s->site_ptr, 0, sizeof s->site_ptr);
}

/* ==== Events ==== */

static void handle_error(struct source *s, const struct shlog_event *ev)
{
    struct in_file *f = s->cur_file;
    if (ev->torn && f->writer_alive) {
        /* The collector is writing the frame right now. */
        if (running->mode != MODE_VERIFY) {
            char msg[400];
            snprintf(msg, sizeof msg, "note: %s", ev->error);
            note_error(msg);
            return;
        }
    }
    f->errors++;
    f->torn |= (uint64_t)ev->torn;
    running->status = 1;
    char msg[400];
    snprintf(msg, sizeof msg, "%s%s", ev->error, ev->torn ? "" : " (reading goes on)");
    note_error(msg);
}

static uint64_t time_of(struct source *s, struct dproc *p, uint64_t tsc, int *uncertain)
{
    *uncertain = 0;
    if (s->file_anchored)
        return shm_clock_map_ns_certain(&s->clock, tsc, uncertain);
    stats_unanchored_record();
    return shm_tsc_clock_ns(&p->clock, tsc);
}

static void take_record(struct source *s, const struct shlog_event *ev)
{
    struct dproc *p = proc_of(s, ev->proc);
    if (!p)
        oom();
    struct dring *r = ring_of(s, p, ev->cpu | (ev->backtrace ? SHLOG_CPU_BACKTRACE : 0));
    if (!r)
        oom();
    const struct shm_copied_record *rec = ev->rec;
    int uncertain;
    uint64_t ts = time_of(s, p, rec->tsc, &uncertain);
    static struct shm_copied_record flagged;
    if (uncertain) { /* the record as shown: its time may be off by a step of the clock */
        memcpy(&flagged, rec, REC_HEAD + rec->payload_len);
        flagged.flags |= SHM_REC_TIME_UNCERTAIN;
        rec = &flagged;
    }
    /* A backtrace record is merged at its trigger's time (FORMAT.md,
     * BACKTRACE); its stream never holds the others back. */
    uint64_t order_ts = !ev->backtrace   ? ts
                        : s->file_anchored ? shm_clock_map_ns(&s->clock, ev->order_tsc)
                                           : shm_tsc_clock_ns(&p->clock, ev->order_tsc);
    if (!ev->backtrace) {
        r->last_ts = ts;
        r->has_last = 1;
        r->last_frame = s->frames;
        r->finished = 0;
    }
    if (order_ts > s->max_ts)
        s->max_ts = order_ts;
    if (running->mode == MODE_VERIFY) {
        s->cur_file->records++;
        if (!ev->backtrace)
            verify_position(s, r, ev->covered_from, rec->pos, rec->pos + rec->nslots);
        return;
    }
    if (ev->offset < s->skip_below)
        return;
    if (!p->passes ||
        !filter_record(&running->cli->filter, rec->level, shm_categories_name(p->cats, rec->category), ts))
        return;
    struct dsite *d = ev->site ? site_of(s, p, ev->site) : NULL;
    if (ev->site && !d)
        oom();
    if (running->cli->filter.has_grep) {
        const struct render_site *sr = prepared(d, p);
        if (!sr)
            oom();
        if (!filter_grep(&running->cli->filter, sr, rec))
            return;
    }
    if (running->mode == MODE_STATS) {
        stats_record(p, d, rec, ts);
        return;
    }
    if (ev->backtrace) {
        struct {
            uint64_t ts;
            struct shm_copied_record rec;
        } body;
        body.ts = ts;
        memcpy(&body.rec, rec, REC_HEAD + rec->payload_len);
        queue_entry(r, ENTRY_BACKTRACE, order_ts, ev->cpu, d && d->fmt ? d : NULL, p, &body,
                    offsetof(__typeof__(body), rec) + REC_HEAD + rec->payload_len);
        return;
    }
    queue_entry(r, ENTRY_RECORD, ts, ev->cpu, d && d->fmt ? d : NULL, p, rec, REC_HEAD + rec->payload_len);
}

static void take_loss(struct source *s, const struct shlog_event *ev)
{
    struct dproc *p = proc_of(s, ev->proc);
    if (!p)
        oom();
    struct dring *r = ring_of(s, p, ev->cpu);
    if (!r)
        oom();
    if (running->mode == MODE_VERIFY) {
        if (ev->loss.positions)
            verify_position(s, r, ev->loss.first_pos, ev->loss.first_pos, ev->loss.first_pos + ev->loss.positions);
        return;
    }
    if (ev->offset < s->skip_below || !p->passes)
        return;
    uint64_t ts = r->has_last ? r->last_ts : s->max_ts;
    const struct dump_filter *f = &running->cli->filter;
    if (!filter_time(f, ts))
        return;
    if (running->mode == MODE_STATS) {
        stats_loss(&ev->loss);
        return;
    }
    queue_entry(r, ENTRY_LOSS, ts, ev->cpu, NULL, p, &ev->loss, sizeof ev->loss);
}

static void take_exit(struct source *s, const struct shlog_event *ev)
{
    struct dproc *p = proc_of(s, ev->proc);
    if (!p)
        oom();
    for (size_t i = 0; i < p->rings.cap; i++)
        if (p->rings.slots[i].v)
            ((struct dring *)p->rings.slots[i].v)->finished = 1;
    if (running->mode == MODE_VERIFY || running->mode == MODE_STATS || ev->offset < s->skip_below || !p->passes)
        return;
    const struct dump_filter *f = &running->cli->filter;
    if (!filter_time(f, ev->exit_ns))
        return;
    /* An exit marker is merged like a record: it goes into the stream of
     * one of the process's rings (after its records: the collector writes it
     * once they are drained), or of a stream of its own. */
    struct dring *r = NULL;
    for (size_t i = 0; i < p->rings.cap && !r; i++)
        if (p->rings.slots[i].v && !((struct dring *)p->rings.slots[i].v)->backtrace)
            r = p->rings.slots[i].v;
    if (!r && !(r = ring_of(s, p, UINT32_MAX)))
        oom();
    struct entry_exit x = {ev->exit_records, ev->exit_lost, ev->exit_how};
    queue_entry(r, ENTRY_EXIT, ev->exit_ns > r->last_ts ? ev->exit_ns : r->last_ts, r->cpu, NULL, p, &x, sizeof x);
}

static void take_anchor(struct source *s, const struct shlog_event *ev)
{
    uint64_t anchors = s->clock.anchors;
    shm_clock_map_add(&s->clock, &ev->anchor, ev->clock.hz_q16);
    s->file_anchored = shm_clock_map_ready(&s->clock);
    if (s->clock.anchors == anchors)
        return; /* one it had */
    stats_anchor(ev);
}

/* A name of the process's own category: kept with the process, over its
 * files, for the sites prepared after it (the file names it before them). */
static void take_category(struct source *s, const struct shlog_event *ev)
{
    struct dproc *p = proc_of(s, ev->proc);
    if (!p || (!p->cats && !(p->cats = calloc(1, sizeof *p->cats))))
        oom();
    if (p->cats->count < SHMLOG_CAT_COUNT)
        p->cats->count = SHMLOG_CAT_COUNT;
    memcpy(p->cats->names[ev->category_id], ev->category_name, sizeof p->cats->names[0]);
    if (ev->category_id >= p->cats->count)
        p->cats->count = ev->category_id + 1;
}

static void take_event(struct source *s, const struct shlog_event *ev)
{
    if (ev->kind != SHLOG_EV_ERROR && ev->offset != s->frame_off) {
        s->frame_off = ev->offset;
        s->frames++;
    }
    switch (ev->kind) {
    case SHLOG_EV_PROCESS:
        if (!proc_of(s, ev->proc))
            oom();
        break;
    case SHLOG_EV_RECORD:
        take_record(s, ev);
        break;
    case SHLOG_EV_LOSS:
        take_loss(s, ev);
        break;
    case SHLOG_EV_EXIT:
        take_exit(s, ev);
        break;
    case SHLOG_EV_CLOCK:
        take_anchor(s, ev);
        break;
    case SHLOG_EV_CATEGORY:
        take_category(s, ev);
        break;
    case SHLOG_EV_ERROR:
        handle_error(s, ev);
        break;
    default: /* SITE: taken when a record uses it */
        break;
    }
}

/* One frame: its events up to its SHLOG_EV_FRAME_END, or to the end of the data. */
int source_step(struct source *s)
{
    static struct shlog_event ev;
    if (s->done)
        return 0;
    source_unpark(s);
    int got = 0;
    for (;;) {
        if (!s->rd && !source_open_next(s)) {
            if (running->mode != MODE_FOLLOW)
                s->done = 1;
            return got;
        }
        int rc = shlog_reader_next(s->rd, &ev);
        if (rc < 0) {
            char msg[4096 + 128];
            snprintf(msg, sizeof msg, "%s: %s", s->cur_file->path, strerror(-rc));
            note_error(msg);
            s->cur_file->errors++;
            running->status = 1;
            source_close_file(s);
            continue;
        }
        if (rc == 0) {
            if (running->mode == MODE_FOLLOW)
                return got;
            /* A file ended: back to the caller, which may want to know. */
            source_close_file(s);
            return 1;
        }
        got = 1;
        if (ev.kind == SHLOG_EV_FRAME_END) {
            source_park(s);
            return 1;
        }
        take_event(s, &ev);
        /* --limit reached: nothing more is wanted; or a library reader
         * holds what it can until it is asked for more (mid-frame too). */
        if (running->stop || running->pause)
            return 1;
    }
}

/* ==== Sources from the inputs ==== */

struct source *make_sources(struct in_list *l, size_t *nsrc)
{
    struct source *srcs = calloc(l->n ? l->n : 1, sizeof *srcs);
    if (!srcs || (!running->decode.frame_mem && shlog_frame_mem_new(&running->decode.frame_mem) != 0))
        oom();
    size_t n = 0;
    for (size_t i = 0; i < l->n;) {
        size_t end = i + 1;
        while (end < l->n && strcmp(l->v[end].host, l->v[i].host) == 0)
            end++;
        struct source *s = &srcs[n++];
        s->files = &l->v[i];
        s->nfiles = end - i;
        s->frame_off = UINT64_MAX;
        if (shlog_dedup_new(&s->dedup) != 0)
            oom();
        i = end;
    }
    *nsrc = n;
    return srcs;
}

void free_sources(struct source *srcs, size_t nsrc)
{
    for (size_t i = 0; i < nsrc; i++) {
        source_close_file(&srcs[i]);
        shlog_dedup_free(srcs[i].dedup);
        hmap_clear(&srcs[i].procs);
        hmap_clear(&srcs[i].by_ptr);
    }
    free(srcs);
    shlog_frame_mem_free(running->decode.frame_mem); /* after its readers */
    running->decode.frame_mem = NULL;
    while (running->all_rings) {
        struct dring *r = running->all_rings;
        running->all_rings = r->next_all;
        merge_free_stream(&r->q);
        free(r);
    }
    while (running->all_sites) {
        struct dsite *d = running->all_sites;
        running->all_sites = d->next_all;
        render_site_free(d->sr);
        free(d->fmt);
        free(d->file);
        free(d);
    }
    while (running->decode.all_procs) {
        struct dproc *p = running->decode.all_procs;
        running->decode.all_procs = p->next_all;
        hmap_clear(&p->rings);
        hmap_clear(&p->sites);
        render_site_free(p->unknown);
        free(p->cats);
        free(p);
    }
    merge_free();
}

