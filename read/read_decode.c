/* read_decode.c - the sources of a reader: their readers, the decode loop, what the files define. */
/*
 * Inputs are grouped into sources: the files of one host, in sequence order,
 * read one after the other with one dedup state (format/FORMAT.md,
 * "Duplicates"). Each source decodes one frame at a time, and hands what it
 * decodes to the engine's consumer: the merge (read_merge.c), or what a
 * command of shmlog-dump counts or checks.
 *
 * Memory does not grow with the number of files, hosts or frames: a source
 * waits between frames, where its reader needs none of the last one; every
 * reader decodes in one shared frame memory (at most SHLOG_MAX_FRAME_RAW
 * decompressed), and what readers keep of their own while they wait stays
 * within PARKED_FRAMES_MAX. Besides: the merge's chunks (read_merge.c), and
 * what the files define (processes, sites: SITE_STRINGS_MAX, PREPARED_MAX and
 * the readers' own bounds per file).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "read_engine.h"

#define SITE_STRINGS_MAX (512u << 20) /* call-site text kept over all inputs */
#define PREPARED_MAX (256u << 20)     /* prepared renderers kept; beyond, all are dropped and redone */
#define PARKED_FRAMES_MAX (32u << 20) /* frame memory kept by readers that wait, over all sources */

int read_engine_init(struct read_engine *e, const struct read_filter *f, const struct read_consumer *c)
{
    static const struct read_filter all = {.min_level = -1, .until_ns = UINT64_MAX};
    memset(e, 0, sizeof *e);
    e->filter = f ? f : &all;
    if (c)
        e->consumer = *c;
    return shlog_frame_mem_new(&e->frame_mem);
}

/* ==== Identities: processes, rings, sites ==== */

static struct dproc *proc_of(struct read_engine *e, struct source *s, const struct shlog_proc *p)
{
    if (p == s->last_ptr)
        return s->last_proc;
    struct dproc *d = read_hmap_get(&s->by_ptr, (uintptr_t)p, 0);
    if (!d) {
        uint64_t who, when;
        shm_proc_key(&p->info, &who, &when);
        d = read_hmap_get(&s->procs, who, when);
        if (!d) {
            d = calloc(1, sizeof *d);
            if (!d || read_hmap_put(&s->procs, who, when, d) != 0) {
                free(d);
                return NULL;
            }
            d->source_host = s->cur_file ? s->cur_file->host : "";
            d->src = s;
            d->next_all = e->all_procs;
            e->all_procs = d;
        }
        if (read_hmap_put(&s->by_ptr, (uintptr_t)p, 0, d) != 0)
            return NULL;
        /* The latest definition: the same process in every file. */
        d->info = p->info;
        const struct shlog_file_header *h = s->rd ? shlog_reader_header(s->rd) : NULL;
        if (h && (h->flags & SHLOG_FILE_COLLECTOR_HOST)) {
            snprintf(d->own_name, sizeof d->own_name, "%.*s", (int)sizeof d->info.host, d->info.host);
            snprintf(d->info.host, sizeof d->info.host, "%.*s", (int)sizeof d->info.host - 1, h->host);
            d->hostname = d->own_name;
        } else {
            d->hostname = NULL;
        }
        render_instance_hex(d->instance, d->info.instance);
        shm_tsc_clock_init(&d->clock, &d->info);
        d->passes = read_filter_process(e->filter, d->info.app, d->info.pid) && read_filter_host(e->filter, d->source_host);
    }
    s->last_ptr = p;
    s->last_proc = d;
    return d;
}

static struct dring *ring_find(struct read_engine *e, struct source *s, struct dproc *p, uint32_t cpu)
{
    struct dring *r = read_hmap_get(&p->rings, cpu, 0);
    if (r) {
        s->last_ring = r;
        return r;
    }
    r = calloc(1, sizeof *r);
    if (!r || read_hmap_put(&p->rings, cpu, 0, r) != 0) {
        free(r);
        return NULL;
    }
    r->proc = p;
    r->src = s;
    r->cpu = cpu;
    r->backtrace = cpu != UINT32_MAX && (cpu & SHLOG_CPU_BACKTRACE);
    r->heap_index = -1;
    s->nrings++;
    r->next_all = e->all_rings;
    e->all_rings = r;
    return r;
}

/* A record of ring r was decoded: it may hold the merge back from now on. */
static void ring_live(struct read_engine *e, struct dring *r)
{
    if (r->live)
        return;
    r->live = 1;
    r->live_prev = NULL;
    r->live_next = e->live_rings;
    if (e->live_rings)
        e->live_rings->live_prev = r;
    e->live_rings = r;
}

void read_ring_unlive(struct read_engine *e, struct dring *r)
{
    if (!r->live)
        return;
    r->live = 0;
    if (r->live_prev)
        r->live_prev->live_next = r->live_next;
    else
        e->live_rings = r->live_next;
    if (r->live_next)
        r->live_next->live_prev = r->live_prev;
    r->live_prev = r->live_next = NULL;
}

/* cpu | SHLOG_CPU_BACKTRACE: the stream of that ring's backtrace records. */
static inline struct dring *ring_of(struct read_engine *e, struct source *s, struct dproc *p, uint32_t cpu)
{
    /* A batch is records of one ring: the last one is the likely one. */
    struct dring *r = s->last_ring;
    return r && r->proc == p && r->cpu == cpu ? r : ring_find(e, s, p, cpu);
}

/* The bytes of d's strings, as copy_string counted them. */
static uint64_t site_strings_bytes(const struct dsite *d)
{
    return d->fmt ? strlen(d->fmt) + strlen(d->file) + strlen(d->func) + strlen(d->desc) + 4 : 0;
}

/* Frees what site d holds of its file's definition (its strings, counted in
 * site_bytes, and its renderer), leaving it as a site no file defined. */
static void site_strings_free(struct read_engine *e, struct dsite *d)
{
    if (d->sr)
        e->prepared_bytes -= render_site_bytes(d->sr);
    read_renderer_drop(e, d->sr);
    d->sr = NULL;
    e->site_bytes -= site_strings_bytes(d);
    free(d->fmt);
    free(d->file);
    free(d->func);
    free(d->desc);
    d->fmt = d->file = d->func = d->desc = NULL;
}

static char *copy_string(struct read_engine *e, const char *s, size_t n)
{
    if (e->site_bytes + n + 1 > SITE_STRINGS_MAX)
        return NULL;
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = '\0';
        e->site_bytes += n + 1;
    }
    return c;
}

static struct dsite *site_of(struct read_engine *e, struct source *s, struct dproc *p, const struct shlog_site *site)
{
    unsigned slot = (unsigned)(((uintptr_t)site >> 4) % SITE_PTR_CACHE);
    if (s->site_ptr[slot] == site)
        return s->site_of[slot];
    struct dsite *d = read_hmap_get(&p->sites, site->id, 0);
    if (!d) {
        d = calloc(1, sizeof *d);
        if (!d || read_hmap_put(&p->sites, site->id, 0, d) != 0) {
            free(d);
            return NULL;
        }
        d->proc = p;
        d->id = site->id;
        d->made = e->sites_made++;
        d->next_all = e->all_sites;
        e->all_sites = d;
    }
    if (d->fmt && d->file_serial <= s->last_closed && e->release_sites) /* kept for a closed file: this one's now */
        e->closed_site_bytes -= site_strings_bytes(d);
    if (!d->fmt) {
        d->line = site->line;
        d->level = site->level;
        d->category = site->category;
        d->nargs = site->nargs;
        memcpy(d->arg_types, site->arg_types, sizeof d->arg_types);
        d->fmt = copy_string(e, site->fmt, site->fmt_len);
        d->file = copy_string(e, site->file, site->file_len);
        d->func = copy_string(e, site->func, site->func_len);
        d->desc = copy_string(e, site->desc, site->desc_len);
        if (!d->fmt || !d->file || !d->func || !d->desc) {
            free(d->fmt);
            free(d->file);
            free(d->func);
            free(d->desc);
            d->fmt = d->file = d->func = d->desc = NULL;
        }
    }
    d->file_serial = s->file_serial;
    s->site_ptr[slot] = site;
    s->site_of[slot] = d;
    /* The site as first defined renders the records of every later
     * definition: a record decoded into values is shown only by a site of the
     * types it was decoded with (one that a file made up defined again with
     * other types is shown as unknown). */
    s->site_values[slot] = d->nargs == site->nargs && memcmp(d->arg_types, site->arg_types, site->nargs) == 0;
    return d;
}

/* site_of() for a record decoded into values (SHM_REC_VALUES); NULL with
 * *known 0 when it is not of the types the site is rendered with. */
static inline struct dsite *site_of_values(struct read_engine *e, struct source *s, struct dproc *p,
                                           const struct shlog_site *site, int *known)
{
    struct dsite *d = site_of(e, s, p, site);
    *known = d != NULL;
    if (d && !s->site_values[((uintptr_t)site >> 4) % SITE_PTR_CACHE])
        return NULL;
    return d;
}

void read_renderer_drop(struct read_engine *e, struct render_site *sr)
{
    if (!sr)
        return;
    if (!e->retire_renderers) {
        render_site_free(sr);
        return;
    }
    if (e->nretired == e->retired_cap) {
        size_t cap = e->retired_cap ? 2 * e->retired_cap : 64;
        struct render_site **m = realloc(e->retired, cap * sizeof *m);
        if (!m)
            return; /* leaked rather than freed while another thread may render with it */
        e->retired = m;
        e->retired_cap = cap;
    }
    e->retired[e->nretired++] = sr;
    e->retired_bytes += render_site_bytes(sr);
}

void read_retired_free_first(struct read_engine *e, size_t n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n; i++) {
        e->retired_bytes -= render_site_bytes(e->retired[i]);
        render_site_free(e->retired[i]);
    }
    e->nretired -= n;
    memmove(e->retired, e->retired + n, e->nretired * sizeof *e->retired);
}

void read_retired_free(struct read_engine *e)
{
    read_retired_free_first(e, e->nretired);
}

const struct render_site *read_prepared_make(struct read_engine *e, struct dsite *d, struct dproc *proc)
{
    int known = d && d->fmt;
    struct render_site **slot = known ? &d->sr : &proc->unknown;
    if (e->prepared_bytes > PREPARED_MAX) {
        /* Hostile numbers of sites: start over rather than grow. */
        read_sites_freeing(e);
        for (struct dsite *x = e->all_sites; x; x = x->next_all) {
            read_renderer_drop(e, x->sr);
            x->sr = NULL;
        }
        for (struct dproc *x = e->all_procs; x; x = x->next_all) {
            read_renderer_drop(e, x->unknown);
            x->unknown = NULL;
        }
        e->prepared_bytes = 0;
    }
    struct shm_site *info = NULL;
    if (known) {
        /* The renderer takes a site in reader.h's form: made here, once per site. */
        if (!(info = malloc(sizeof *info)))
            return NULL;
        memset(info, 0, offsetof(struct shm_site, fmt));
        info->id = d->id;
        info->line = d->line;
        info->level = d->level;
        info->category = d->category;
        info->nargs = d->nargs;
        memcpy(info->arg_types, d->arg_types, sizeof info->arg_types);
        snprintf(info->fmt, sizeof info->fmt, "%s", d->fmt);
        snprintf(info->file, sizeof info->file, "%s", d->file);
        snprintf(info->func, sizeof info->func, "%s", d->func);
        snprintf(info->desc, sizeof info->desc, "%s", d->desc);
        info->fmt_len = (uint32_t)strlen(info->fmt);
        info->file_len = (uint32_t)strlen(info->file);
        info->func_len = (uint32_t)strlen(info->func);
        info->desc_len = (uint32_t)strlen(info->desc);
    }
    *slot = render_site_new(info, proc->info.app, proc->info.host, proc->hostname, proc->info.pid, proc->info.instance, proc->cats);
    free(info);
    if (*slot)
        e->prepared_bytes += render_site_bytes(*slot);
    return *slot;
}

/* ==== Sources ==== */

int read_source_init(struct source *s)
{
    memset(s, 0, sizeof *s);
    s->frame_off = UINT64_MAX;
    return shlog_dedup_new(&s->dedup);
}

static void file_damaged(struct read_engine *e, struct source *s, const char *msg, int torn)
{
    read_say(e, msg, 0);
    if (e->consumer.damage)
        e->consumer.damage(e->consumer.clientd, s, torn);
    e->status = 1;
}

/* With shares: whether the frame about to be decoded would take the engine
 * past its share of memory, which leaves the rest unread (share_failed). */
static int share_over(struct source *s)
{
    struct read_engine *e = s->ix_engine;
    if (e->shares < 2 || (!e->share_failed && e->site_bytes + shlog_reader_offered_raw(s->rd) <= e->share_bytes))
        return 0;
    e->share_failed = 1;
    return 1;
}

/* Whether s's reader is to decode the records of the frame it is about to
 * (as a frame_want answers), by read_engine's shares: every engine offers
 * the same frames in the same order, so each frame is one engine's. */
static int share_takes(struct source *s)
{
    struct read_engine *e = s->ix_engine;
    if (e->shares < 2)
        return 1;
    if (share_over(s))
        return SHLOG_FRAME_TAKEN;
    s->share_theirs = s->share_offered++ % e->shares != e->share;
    return !s->share_theirs;
}

/* With shares: positions [lo, hi) of ring r come next in the frames' order.
 * An engine knows where its own batches end and, of another's, where they
 * end at least (a slot a record): lo below that means positions some frame
 * before took (a record written again, which one reader in order drops as
 * a duplicate), which the engine whose frame took them sees in any case. */
static void share_positions(struct read_engine *e, struct dring *r, uint64_t lo, uint64_t hi)
{
    if (lo < r->share_reach)
        e->share_failed = 1;
    if (hi > r->share_reach)
        r->share_reach = hi;
}

/* A frame whose records the index rules out, which no engine decodes: the
 * first of the shares counts what its times move. */
static void share_none(struct source *s)
{
    s->share_theirs = s->ix_engine->share != 0;
}

static int share_wants(void *clientd, uint64_t off, uint64_t bytes, uint32_t prefix_check)
{
    (void)off;
    (void)bytes;
    (void)prefix_check;
    return share_takes(clientd);
}

/* s->rd was just opened. */
static void reader_opened(struct read_engine *e, struct source *s)
{
    /* read_source_step stops between frames, where the reader holds nothing it
     * still needs. */
    shlog_reader_report_frame_ends(s->rd, 1);
    /* A consumer that takes records a block at a time (and sees none of them before the filters) gets blocks. */
    shlog_reader_blocks(s->rd, e->consumer.rows && !e->consumer.decoded);
    if (e->frame_mem)
        shlog_reader_share_frame_mem(s->rd, e->frame_mem);
    /* The reader's process and site pointers are its own, and its frame
     * offsets start over. */
    s->frame_off = UINT64_MAX;
    read_hmap_clear(&s->by_ptr);
    s->last_ptr = NULL;
    memset(s->site_ptr, 0, sizeof s->site_ptr);
    s->file_serial = ++e->files_opened;
    s->ix_engine = e;
    if (e->shares > 1)
        shlog_reader_want_frames(s->rd, share_wants, s);
}

/* The sites of s's files closed so far go once the entries queued until now
 * have been handed on (fifo_pop counts them down: read_merge.c), unless a
 * later file defines them again. One such mark at a time: files closed while
 * it waits are marked when it is done, so a mark is never put off by the
 * next file's entries. What closed files' sites are kept meanwhile counts
 * against the merge's bound (merge_full), which hands their entries on. */
static void sites_closed(struct read_engine *e, struct source *s)
{
    s->closed_serial = s->last_closed;
    s->rings_older = 0;
    for (struct dring *r = e->all_rings; r; r = r->next_all)
        if (r->src == s) {
            r->older = r->q.count;
            s->rings_older += r->older != 0;
        }
    e->sources_older += s->rings_older != 0;
}

/* The sites of s that only its closed files defined, now that no entry
 * queued while they were read is left. */
static void sites_release(struct read_engine *e, struct source *s)
{
    read_sites_freeing(e);
    for (struct dsite *d = e->all_sites; d; d = d->next_all)
        if (d->proc->src == s && d->file_serial <= s->closed_serial) {
            e->closed_site_bytes -= site_strings_bytes(d);
            site_strings_free(e, d);
        }
    uint64_t released = s->closed_serial;
    s->closed_serial = 0;
    if (s->last_closed > released)
        sites_closed(e, s);
}

void read_keep_sites(struct read_engine *e)
{
    e->release_sites = 0;
    e->closed_site_bytes = 0; /* no longer counted, nor a reason to hand entries on early */
}

void read_release_sites(struct read_engine *e, struct source *srcs)
{
    for (struct source *s = srcs; s && e->release_sites; s = s->next_src)
        if (s->closed_serial && !s->rings_older)
            sites_release(e, s);
}

/* ==== The files' indexes ==== */

/* The engine's filters as a question to an index, which rules out a frame
 * only when no record in it can pass them: 1 when it asks anything. */
static int index_query_make(struct read_engine *e)
{
    const struct read_filter *f = e->filter;
    struct shlog_index_query *q = &e->query;
    memset(q, 0, sizeof *q);
    q->since_ns = f->since_ns;
    q->until_ns = f->until_ns == UINT64_MAX ? 0 : f->until_ns;
    /* A stored level past 6 is 7: bit 7 stands for every level from 7 on. */
    if (f->min_level > 0)
        q->levels = f->min_level > 7 ? 0x80 : (uint8_t)(0xFFu << f->min_level);
    if (f->category[0]) {
        /* A built-in category by its id; a process may give its own ids any name. */
        for (unsigned id = 0; id < SHMLOG_CAT_COUNT; id++)
            if (strcmp(shm_categories_name(NULL, id), f->category) == 0)
                q->categories |= 1ull << id;
        q->categories |= ~0ull << SHMLOG_CAT_COUNT;
    }
    if (f->pid) {
        e->query_pid = f->pid;
        q->pids = &e->query_pid;
        q->npids = 1;
    }
    q->app = f->app;
    /* Only = asks the index (its fields hold values, not their order), and
     * not of a dotted name: a struct's member is no field the index names. */
    for (size_t i = 0; i < f->nwhere; i++)
        if (f->where[i].op == WHERE_EQ && !memchr(f->where[i].name, '.', f->where[i].name_len)) {
            if (!e->query_fields && !(e->query_fields = calloc(f->nwhere, sizeof *e->query_fields)))
                return -ENOMEM;
            e->query_fields[q->nfields++] = (struct shlog_index_field){f->where[i].name, f->where[i].value};
        }
    q->fields = e->query_fields;
    if (f->has_grep) {
        q->msg_words = (const char *const *)f->grep_words;
        q->nmsg_words = f->ngrep_words;
        q->msg_grams = (const char *const *)f->grep_grams;
        q->nmsg_grams = f->ngrep_grams;
    }
    q->trace = f->trace;
    q->trace_hi = f->trace_hi;
    q->trace_lo = f->trace_lo;
    return q->since_ns || q->until_ns || q->levels || q->categories || q->npids || q->app || q->nfields ||
           q->nmsg_words || q->nmsg_grams || f->thread || f->trace;
}

/* A trace record's trace set on its thread, counted so that index_trace_tids
 * knows its list is stale. 0, or -ENOMEM. */
static int trace_take(struct read_engine *e, struct dproc *p, const struct shm_copied_record *rec)
{
    e->trace_sets++;
    return read_trace_take(p, rec);
}

/* tid onto the array *v of *n (room for *cap). 0, or -ENOMEM. */
static int tid_push(uint32_t **v, size_t *n, size_t *cap, uint64_t tid)
{
    if (*n == *cap) {
        size_t more = *cap ? 2 * *cap : 16;
        uint32_t *grown = realloc(*v, more * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        *v = grown;
        *cap = more;
    }
    (*v)[(*n)++] = (uint32_t)tid;
    return 0;
}

/* The thread ids whose records --thread may match now (read_filter_thread):
 * the number it is, and every thread of any process the files named so with
 * the name it has now (of other processes too: more ids only let more frames
 * be read). 0, or -ENOMEM. */
static int index_thread_tids(struct read_engine *e)
{
    if (e->query_tids_at == e->thread_names + 1)
        return 0; /* no thread named since they were made */
    const char *want = e->filter->thread;
    char *end;
    e->query_ntids = 0;
    errno = 0;
    unsigned long long v = strtoull(want, &end, 10);
    if (want[0] >= '0' && want[0] <= '9' && !*end && !errno && v <= UINT32_MAX &&
        tid_push(&e->query_tids, &e->query_ntids, &e->query_tids_cap, v))
        return -ENOMEM;
    for (const struct dproc *p = e->all_procs; p; p = p->next_all)
        for (size_t i = 0; p->threads.n && i < p->threads.cap; i++) {
            const struct hmap_slot *t = &p->threads.slots[i];
            if (t->v && strcmp(t->v, want) == 0 && tid_push(&e->query_tids, &e->query_ntids, &e->query_tids_cap, t->k1))
                return -ENOMEM;
        }
    e->query_tids_at = e->thread_names + 1;
    return 0;
}

/* The thread ids that work for --trace's trace as far as read (of any
 * process: more ids only let more frames be read). 0, or -ENOMEM. */
static int index_trace_tids(struct read_engine *e)
{
    if (e->trace_tids_at == e->trace_sets + 1)
        return 0; /* no trace set since they were made */
    const struct read_filter *f = e->filter;
    e->trace_ntids = 0;
    for (const struct dproc *p = e->all_procs; p; p = p->next_all)
        for (size_t i = 0; p->traces.n && i < p->traces.cap; i++) {
            const struct hmap_slot *t = &p->traces.slots[i];
            const struct dtrace *d = t->v;
            if (d && d->hi == f->trace_hi && d->lo == f->trace_lo &&
                tid_push(&e->trace_tids, &e->trace_ntids, &e->trace_tids_cap, t->k1))
                return -ENOMEM;
        }
    e->trace_tids_at = e->trace_sets + 1;
    return 0;
}

/* The engine's question to the index for frame f, which starts now: with
 * the threads --thread may mean (asked of a plain frame only: a frame that
 * is not may name threads) and those working for --trace's trace. 0, or
 * -ENOMEM. */
static int index_frame_query(struct source *s, const struct shlog_index_frame *f, struct shlog_index_query *q)
{
    struct read_engine *e = s->ix_engine;
    *q = *s->ix_query;
    if (f->nrings && e->filter->thread) {
        if (index_thread_tids(e))
            return -ENOMEM;
        static const uint32_t none;
        q->tids = e->query_ntids ? e->query_tids : &none;
        q->ntids = e->query_ntids;
    }
    if (q->trace) {
        if (index_trace_tids(e))
            return -ENOMEM;
        q->trace_tids = e->trace_tids;
        q->trace_ntids = e->trace_ntids;
    }
    return 0;
}

/* Whether a reader that skips frame f's records keeps its threads' traces:
 * it has none, its entry restates them (index version 5), or it is plain
 * (no site defined in it) and the file has defined no site of the trace
 * format before it, so it holds no trace record. */
static int index_keeps_traces(const struct source *s, const struct shlog_index_frame *f)
{
    return !f->records || f->traces || (f->nrings && !s->file_traced);
}

/* Whether frame f can go unread when the index rules it out: it is plain
 * (its anchors and its rings' last and most TSCs in the index, nothing else
 * in it but records), its rings' processes are known, and no step of the
 * wall clock is in the map or its anchors, so that a ring's most TSC maps
 * to its records' latest time. */
static int index_takes(const struct source *s, const struct shlog_index_frame *f)
{
    if (!f->timed || s->clock.steps || s->clock.epochs)
        return 0;
    const uint8_t *p = f->rings;
    for (uint32_t i = 0; i < f->nrings; i++) {
        struct shlog_index_ring g;
        shlog_index_ring_next(f, &p, &g);
        if (!shlog_reader_process(s->rd, g.proc))
            return 0;
    }
    return 1;
}

/* The entry of ix of the frame at off, NULL when it lists none there:
 * frames come in file order, so one pass over the entries from *at. */
static const struct shlog_index_frame *index_entry_at(const struct shlog_index *ix, size_t *at, uint64_t off)
{
    size_t n = shlog_index_count(ix);
    while (*at < n && shlog_index_frame(ix, *at)->offset < off)
        (*at)++;
    const struct shlog_index_frame *f = *at < n ? shlog_index_frame(ix, *at) : NULL;
    return f && f->offset == off ? f : NULL;
}

/* 1 when SHMLOG_NO_INDEX asks that every frame be read. */
static int index_off(void)
{
    const char *off = getenv("SHMLOG_NO_INDEX");
    return off && *off && strcmp(off, "0") != 0;
}

/* Before the frame at off is read: its bytes when the index rules it out
 * and it can go unread (its prefix neither), 0 to read it. */
static uint64_t index_takes_frame(void *clientd, uint64_t off)
{
    struct source *s = clientd;
    const struct shlog_index_frame *f = index_entry_at(s->ix, &s->ix_at, off);
    if (!f) { /* an index frame, which reads as a frame of no sections: it was read already */
        shlog_reader_frame_sections(s->rd, NULL, 0);
        return shlog_index_block_at(s->ix, off);
    }
    if (!f->nrings || !index_keeps_traces(s, f))
        return 0;
    /* A plain frame names no thread: its records' threads have the names they have now. */
    struct shlog_index_query q;
    if (index_frame_query(s, f, &q))
        return 0; /* no memory to ask with: the frame is read */
    if (shlog_index_may_match_in(s->ix, f, &q) || !index_takes(s, f))
        return 0;
    s->ix_skipped++;
    s->ix_unread++;
    share_none(s);
    s->ix_taken = f;
    s->ix_traced = f->ntraces ? f : NULL;
    shlog_reader_frame_sections(s->rd, f->clock, f->clock_bytes);
    return f->bytes;
}

/* Whether the index leaves the frame at off (bytes long, its prefix read)
 * to be read; 0: only what its records' TSCs move. */
static int index_wants(void *clientd, uint64_t off, uint64_t bytes, uint32_t prefix_check)
{
    struct source *s = clientd;
    const struct shlog_index_frame *f = index_entry_at(s->ix, &s->ix_at, off);
    (void)prefix_check; /* a frame the index says is plain went unread before its prefix was */
    if (share_over(s))
        return SHLOG_FRAME_TAKEN;
    struct shlog_index_query q;
    if (!f || f->bytes != bytes || !index_keeps_traces(s, f))
        return share_takes(s);
    if (index_frame_query(s, f, &q)) {
        q = *s->ix_query; /* no memory to ask with: the frame may hold any of the trace's threads */
        q.trace = 0;
    }
    if (shlog_index_may_match_in(s->ix, f, &q))
        return share_takes(s);
    s->ix_skipped++;
    s->ix_traced = f->ntraces ? f : NULL;
    share_none(s);
    return 0;
}

/* The end of a frame whose records the index ruled out: its threads' traces
 * as its trace records left them (its entry's list). 0, or -ENOMEM. */
static int index_traces_take(struct read_engine *e, struct source *s)
{
    const struct shlog_index_frame *f = s->ix_traced;
    s->ix_traced = NULL;
    const uint8_t *at = f->trace_list;
    for (uint32_t i = 0; i < f->ntraces; i++) {
        struct shlog_index_trace t;
        shlog_index_trace_next(f, &at, &t);
        const struct shlog_proc *sp = shlog_reader_process(s->rd, t.proc);
        if (!sp)
            continue; /* a process the file never defined has no records to carry it to */
        struct dproc *p = proc_of(e, s, sp);
        e->trace_sets++;
        if (!p || read_trace_set(p, t.tid, t.hi, t.lo, t.span, t.span_len))
            return -ENOMEM;
    }
    return 0;
}

static void index_close(struct source *s)
{
    shlog_index_close(s->ix);
    s->ix = NULL;
    s->ix_at = 0;
    s->ix_taken = NULL;
    s->ix_traced = NULL;
}

/* Opens the index of the file s just opened (or takes the one the sites'
 * scan kept), when the engine's filters ask one: a file without one (or
 * whose index cannot be read) is read whole. */
static int index_open(struct read_engine *e, struct source *s, struct in_file *f)
{
    struct shlog_index *kept = f->ix;
    f->ix = NULL;
    s->file_traced = 0;
    if (!e->index_use) {
        int rc = index_off() ? 0 : index_query_make(e);
        if (rc < 0) {
            shlog_index_close(kept);
            return rc;
        }
        /* A consumer of every decoded record (verify) wants them all read. */
        e->index_use = rc && !e->consumer.decoded ? 1 : -1;
    }
    if (e->index_use < 0) {
        shlog_index_close(kept);
        return 0;
    }
    s->ix = kept;
    if (!kept) {
        int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            return 0;
        char err[256];
        int rc = shlog_index_open(&s->ix, fd, err, sizeof err);
        close(fd);
        if (rc == -ENOMEM)
            return rc;
        if (rc != 0) {
            s->ix = NULL;
            return 0;
        }
    }
    s->ix_query = &e->query;
    s->ix_at = 0;
    s->ix_skipped = 0;
    s->ix_unread = 0;
    shlog_reader_want_frames(s->rd, index_wants, s);
    shlog_reader_take_frames(s->rd, index_takes_frame, s);
    return 0;
}

int read_source_open_next(struct read_engine *e, struct source *s)
{
    char err[512];
    while (s->next < s->nfiles) {
        struct in_file *f = &s->files[s->next++];
        s->cur_file = f;
        s->file_anchored = 0;
        if (f->bad_header) {
            char msg[4096 + 300];
            snprintf(msg, sizeof msg, "%s: %s", f->path, f->error);
            file_damaged(e, s, msg, 0);
            continue;
        }
        if (shlog_reader_open(&s->rd, f->path, e->follow || (e->follow_live && f->writer_alive), s->dedup, err,
                              sizeof err) != 0) {
            file_damaged(e, s, err, 0);
            continue;
        }
        reader_opened(e, s);
        if (e->shares > 1) /* each engine to the same frame of a file still being written */
            shlog_reader_end_at(s->rd, f->bytes);
        if (index_open(e, s, f) != 0)
            return -ENOMEM;
        return 1;
    }
    return 0;
}

/* A reader over frames a feed hands in: f names them, hdr is their file's header. 0, or -ENOMEM. */
static int source_open_frames(struct read_engine *e, struct source *s, struct in_file *f,
                              const struct shlog_file_header *hdr)
{
    char err[512];
    read_source_close_file(e, s);
    s->cur_file = f;
    s->file_anchored = 0;
    if (shlog_reader_open_frames(&s->rd, hdr, f->path, s->dedup, err, sizeof err) != 0)
        return -ENOMEM;
    reader_opened(e, s);
    return 0;
}

/* The source waits while others decode (the merge of several): its reader
 * keeps the last frame's memory only within PARKED_FRAMES_MAX over all of
 * them, so a merge of any number of files holds one decoded frame and
 * budgets the rest. */
static void source_park(struct read_engine *e, struct source *s)
{
    if (!s->rd || !s->park)
        return;
    size_t room = e->parked < PARKED_FRAMES_MAX ? PARKED_FRAMES_MAX - e->parked : 0;
    s->parked = shlog_reader_trim(s->rd, room);
    e->parked += s->parked;
}

static void source_unpark(struct read_engine *e, struct source *s)
{
    e->parked -= s->parked;
    s->parked = 0;
}

void read_source_close_file(struct read_engine *e, struct source *s)
{
    source_unpark(e, s);
    if (!s->rd)
        return;
    const struct shlog_reader_stats *st = shlog_reader_stats(s->rd);
    if (e->consumer.file_closed)
        e->consumer.file_closed(e->consumer.clientd, s, st);
    shlog_reader_close(s->rd);
    s->rd = NULL;
    index_close(s);
    read_hmap_clear(&s->by_ptr);
    s->last_ptr = NULL;
    memset(s->site_ptr, 0, sizeof s->site_ptr);
    s->last_closed = s->file_serial;
    if (!e->release_sites)
        return;
    for (struct dsite *d = e->all_sites; d; d = d->next_all)
        if (d->proc->src == s && d->file_serial == s->last_closed)
            e->closed_site_bytes += site_strings_bytes(d);
    if (!s->closed_serial)
        sites_closed(e, s);
}

/* ==== Events ==== */

static void handle_error(struct read_engine *e, struct source *s, const struct shlog_event *ev)
{
    const struct in_file *f = s->cur_file;
    if (ev->torn && f->writer_alive && !e->strict) {
        /* The collector is writing the frame right now. */
        read_say(e, ev->error, 1);
        return;
    }
    char msg[400];
    snprintf(msg, sizeof msg, "%s%s", ev->error, ev->torn ? "" : " (reading goes on)");
    file_damaged(e, s, msg, ev->torn);
}

static uint64_t time_of(struct read_engine *e, struct source *s, struct dproc *p, uint64_t tsc, int *uncertain)
{
    *uncertain = 0;
    if (s->file_anchored)
        return shm_clock_piece_ns_certain(&s->clock, &s->piece, tsc, uncertain);
    if (e->consumer.unanchored && !s->share_theirs) /* a frame of another engine's share: counted there */
        e->consumer.unanchored(e->consumer.clientd);
    return shm_tsc_clock_ns(&p->clock, tsc);
}

/* The process and the ring of a record or block event; NULL when out of memory. */
static struct dring *record_ring(struct read_engine *e, struct source *s, const struct shlog_event *ev,
                                 struct dproc **p)
{
    if (!(*p = proc_of(e, s, ev->proc)))
        return NULL;
    return ring_of(e, s, *p, ev->cpu | (ev->backtrace ? SHLOG_CPU_BACKTRACE : 0));
}

/* Where a backtrace's records go in time order: its trigger's time
 * (FORMAT.md, BACKTRACE); its stream never holds the others back. */
static uint64_t backtrace_ts(const struct source *s, const struct dproc *p, const struct shlog_event *ev)
{
    return s->file_anchored ? shm_clock_map_ns(&s->clock, ev->order_tsc) : shm_tsc_clock_ns(&p->clock, ev->order_tsc);
}

static inline int trace_passes(const struct read_filter *f, const struct dtrace *t)
{
    return t && read_filter_trace(f, t->hi, t->lo);
}

/* A record at ts of process p passes the filters of level, category, time,
 * thread and trace. */
static inline int record_passes(const struct read_filter *f, const struct dproc *p,
                                const struct shm_copied_record *rec, uint64_t ts)
{
    /* The category's name only for a filter that asks for one. */
    const char *category = f->category[0] ? shm_categories_name(p->cats, rec->category) : NULL;
    return p->passes && read_filter_record(f, rec->level, category, ts) &&
           (!f->thread || read_filter_thread(f, rec->tid, read_thread_name(p, rec->tid))) &&
           (!f->trace || trace_passes(f, read_trace_of(p, rec->tid)));
}

/* A record of site d passes the filters of its message and its fields: 1, 0, or -ENOMEM. */
static int record_greps(struct read_engine *e, struct dsite *d, struct dproc *p, const struct shm_copied_record *rec)
{
    if (!e->filter->has_grep && !e->filter->nwhere)
        return 1;
    const struct render_site *sr = prepared(e, d, p);
    if (!sr)
        return -ENOMEM;
    return read_filter_where(e->filter, sr, rec) && read_filter_grep(e->filter, sr, rec);
}

/* Ring r's records were read up to one at ts: it may hold the merge back again. */
static void ring_read_to(struct read_engine *e, struct source *s, struct dring *r, uint64_t ts)
{
    r->last_ts = ts;
    r->has_last = 1;
    r->last_frame = s->frames;
    r->finished = 0;
    ring_live(e, r);
}

static int take_record(struct read_engine *e, struct source *s, const struct shlog_event *ev)
{
    const struct read_consumer *c = &e->consumer;
    struct dproc *p;
    struct dring *r = record_ring(e, s, ev, &p);
    if (!r)
        return -ENOMEM;
    const struct shm_copied_record *rec = ev->rec;
    int uncertain;
    uint64_t ts = time_of(e, s, p, rec->tsc, &uncertain);
    struct shlog_event flagged_ev;
    if (uncertain) { /* the record as shown: its time may be off by a step of the clock */
        memcpy(&e->flagged, rec, shm_rec_copy_bytes(rec));
        e->flagged.flags |= SHM_REC_TIME_UNCERTAIN;
        flagged_ev = *ev;
        flagged_ev.rec = rec = &e->flagged;
        ev = &flagged_ev;
    }
    uint64_t order_ts = ev->backtrace ? backtrace_ts(s, p, ev) : ts;
    if (!ev->backtrace)
        ring_read_to(e, s, r, ts);
    if (order_ts > s->max_ts)
        s->max_ts = order_ts;
    if (e->shares > 1)
        share_positions(e, r, ev->covered_from, rec->pos + rec->nslots);
    if (c->decoded) {
        int rc = c->decoded(c->clientd, s, r, ev);
        if (rc)
            return rc;
    }
    /* before the filters: the thread's records after it need it whether it is shown or not */
    if ((rec->flags & SHMLOG_REC_TRACE) && trace_take(e, p, rec) != 0)
        return -ENOMEM;
    if (!c->record || ev->offset < s->skip_below || !record_passes(e->filter, p, rec, ts))
        return 0;
    struct dsite *d = ev->site ? site_of(e, s, p, ev->site) : NULL;
    if (ev->site && !d)
        return -ENOMEM;
    int rc = record_greps(e, d, p, rec);
    if (rc <= 0)
        return rc;
    return c->record(c->clientd, r, d, ev, ts, order_ts);
}

/* The records of a block, all of one ring: as take_record takes each, with
 * what they share (process, ring, the backtrace's place) looked up once. */
static int take_block(struct read_engine *e, struct source *s, const struct shlog_event *ev)
{
    struct dproc *p;
    struct dring *r = record_ring(e, s, ev, &p);
    if (!r)
        return -ENOMEM;
    const struct shlog_block *bl = ev->block;
    struct read_rows *out = &e->rows;
    out->n = 0;
    out->order_ts = ev->backtrace ? backtrace_ts(s, p, ev) : 0;
    int take = ev->offset >= s->skip_below, paused = 0;
    uint64_t ts = 0, max_ts = s->max_ts;
    for (uint32_t i = 0; i < bl->n; i++) {
        const struct shm_copied_record *rec = bl->rec[i];
        if (rec->flags & SHMLOG_REC_TRACE) {
            /* The rows before it are handed on with the trace they had. */
            int rc = out->n ? e->consumer.rows(e->consumer.clientd, r, ev, out) : 0;
            if (rc < 0)
                return rc;
            paused |= rc;
            out->n = 0;
            if (trace_take(e, p, rec) != 0)
                return -ENOMEM;
        }
        int uncertain;
        ts = time_of(e, s, p, rec->tsc, &uncertain);
        uint64_t order_ts = ev->backtrace ? out->order_ts : ts;
        if (order_ts > max_ts)
            max_ts = order_ts;
        if (!take || !record_passes(e->filter, p, rec, ts))
            continue;
        struct dsite *d = NULL;
        int known = 1;
        if (bl->site[i] && !(d = site_of_values(e, s, p, bl->site[i], &known)) && !known)
            return -ENOMEM;
        int rc = record_greps(e, d, p, rec);
        if (rc <= 0) {
            if (rc < 0)
                return rc;
            continue;
        }
        uint32_t k = out->n++;
        out->row[k] = (uint16_t)i;
        out->flags[k] = uncertain ? SHM_REC_TIME_UNCERTAIN : 0;
        out->ts[k] = ts;
        out->site[k] = d;
    }
    if (!ev->backtrace && bl->n)
        ring_read_to(e, s, r, ts);
    s->max_ts = max_ts;
    int rc = out->n ? e->consumer.rows(e->consumer.clientd, r, ev, out) : 0;
    return rc < 0 ? rc : rc | paused;
}

/* The end of a frame the index took (its anchors came before): its rings,
 * the clock and the source move on as take_times would move them over its
 * batches, with the index's last and most TSC of each ring. */
static int take_index_frame(struct read_engine *e, struct source *s)
{
    const struct shlog_index_frame *f = s->ix_taken;
    s->ix_taken = NULL;
    if (f->offset != s->frame_off) { /* a frame without anchors: no event counted it */
        s->frame_off = f->offset;
        s->frames++;
    }
    const uint8_t *at = f->rings;
    for (uint32_t i = 0; i < f->nrings; i++) {
        struct shlog_index_ring g;
        shlog_index_ring_next(f, &at, &g);
        struct dproc *p = proc_of(e, s, shlog_reader_process(s->rd, g.proc));
        struct dring *r = p ? ring_of(e, s, p, g.cpu) : NULL;
        if (!r)
            return -ENOMEM;
        int uncertain;
        uint64_t most = time_of(e, s, p, g.max_tsc, &uncertain);
        if (most > s->max_ts)
            s->max_ts = most;
        ring_read_to(e, s, r, time_of(e, s, p, g.last_tsc, &uncertain));
    }
    return 0;
}

/* The records of a batch in a frame the index ruled out: the clock, the
 * ring and the source move on as take_block would move them, so what comes
 * after (losses shown at their ring's last time, the merge's window) is the
 * same as if the records had been read; none of them is shown. */
static int take_times(struct read_engine *e, struct source *s, const struct shlog_event *ev)
{
    struct dproc *p;
    struct dring *r = record_ring(e, s, ev, &p);
    if (!r)
        return -ENOMEM;
    uint64_t order_ts = ev->backtrace ? backtrace_ts(s, p, ev) : 0;
    uint64_t ts = 0, max_ts = s->max_ts;
    for (uint32_t i = 0; i < ev->ntscs; i++) {
        int uncertain;
        ts = time_of(e, s, p, ev->tscs[i], &uncertain);
        uint64_t t = ev->backtrace ? order_ts : ts;
        if (t > max_ts)
            max_ts = t;
    }
    if (!ev->backtrace && ev->ntscs)
        ring_read_to(e, s, r, ts);
    s->max_ts = max_ts;
    if (e->shares > 1)
        share_positions(e, r, ev->covered_from, ev->covered_from + ev->ntscs);
    return 0;
}

static int take_loss(struct read_engine *e, struct source *s, const struct shlog_event *ev)
{
    const struct read_consumer *c = &e->consumer;
    struct dproc *p = proc_of(e, s, ev->proc);
    if (!p)
        return -ENOMEM;
    struct dring *r = ring_of(e, s, p, ev->cpu);
    if (!r)
        return -ENOMEM;
    if (e->shares > 1 && ev->loss.positions)
        share_positions(e, r, ev->loss.first_pos, ev->loss.first_pos + ev->loss.positions);
    if (c->decoded) {
        int rc = c->decoded(c->clientd, s, r, ev);
        if (rc)
            return rc;
    }
    if (!c->loss || ev->offset < s->skip_below || !p->passes)
        return 0;
    uint64_t ts = r->has_last ? r->last_ts : s->max_ts;
    if (!read_filter_time(e->filter, ts))
        return 0;
    return c->loss(c->clientd, r, ev, ts);
}

static int take_exit(struct read_engine *e, struct source *s, const struct shlog_event *ev)
{
    const struct read_consumer *c = &e->consumer;
    struct dproc *p = proc_of(e, s, ev->proc);
    if (!p)
        return -ENOMEM;
    for (size_t i = 0; i < p->rings.cap; i++)
        if (p->rings.slots[i].v) {
            ((struct dring *)p->rings.slots[i].v)->finished = 1;
            read_ring_unlive(e, p->rings.slots[i].v);
        }
    if (!c->exit || ev->offset < s->skip_below || !p->passes || !read_filter_time(e->filter, ev->exit_ns))
        return 0;
    return c->exit(c->clientd, s, p, ev);
}

struct dring *read_exit_ring(struct read_engine *e, struct source *s, struct dproc *p)
{
    /* After its records (the collector writes the marker once they are
     * drained), in the stream of one of its rings, or in one of its own. */
    for (size_t i = 0; i < p->rings.cap; i++)
        if (p->rings.slots[i].v && !((struct dring *)p->rings.slots[i].v)->backtrace)
            return p->rings.slots[i].v;
    return ring_of(e, s, p, UINT32_MAX);
}

static void take_anchor(struct read_engine *e, struct source *s, const struct shlog_event *ev)
{
    uint64_t anchors = s->clock.anchors;
    shm_clock_map_add(&s->clock, &ev->anchor, ev->clock.hz_q16);
    s->file_anchored = shm_clock_map_ready(&s->clock);
    if (s->clock.anchors != anchors && e->consumer.anchor)
        e->consumer.anchor(e->consumer.clientd, ev);
}

/* A name of the process's own category: kept with the process, over its
 * files, for the sites prepared after it (the file names it before them). */
static int take_category(struct read_engine *e, struct source *s, const struct shlog_event *ev)
{
    struct dproc *p = proc_of(e, s, ev->proc);
    if (!p || (!p->cats && !(p->cats = calloc(1, sizeof *p->cats))))
        return -ENOMEM;
    if (p->cats->count < SHMLOG_CAT_COUNT)
        p->cats->count = SHMLOG_CAT_COUNT;
    /* Each file names them again: written only when new, as other threads may render with them (read_lines.c). */
    if (memcmp(p->cats->names[ev->category_id], ev->category_name, sizeof p->cats->names[0]) != 0)
        memcpy(p->cats->names[ev->category_id], ev->category_name, sizeof p->cats->names[0]);
    if (ev->category_id >= p->cats->count)
        p->cats->count = ev->category_id + 1;
    return 0;
}

/* At most this many thread names (renames counted) per process: a file with
 * more (only a hostile writer's) has the later ones ignored, its memory bounded. */
#define NAMES_PER_PROC 65536u

static int take_thread(struct read_engine *e, struct source *s, const struct shlog_event *ev)
{
    struct dproc *p = proc_of(e, s, ev->proc);
    if (!p)
        return -ENOMEM;
    const char *now = read_thread_name(p, ev->thread_tid);
    if ((now && strcmp(now, ev->thread_name) == 0) || p->nnames >= NAMES_PER_PROC)
        return 0; /* the same name again: in each file that has the thread */
    struct dname *d = malloc(sizeof *d);
    if (!d)
        return -ENOMEM;
    memcpy(d->name, ev->thread_name, sizeof d->name);
    if (read_hmap_put(&p->threads, ev->thread_tid, 0, d->name) != 0) {
        free(d);
        return -ENOMEM;
    }
    d->next = p->names;
    p->names = d;
    p->nnames++;
    e->thread_names++;
    return 0;
}

static int take_event(struct read_engine *e, struct source *s, const struct shlog_event *ev)
{
    if (ev->kind != SHLOG_EV_ERROR && ev->offset != s->frame_off) {
        s->frame_off = ev->offset;
        s->frames++;
    }
    switch (ev->kind) {
    case SHLOG_EV_PROCESS:
        return proc_of(e, s, ev->proc) ? 0 : -ENOMEM;
    case SHLOG_EV_RECORD:
        return take_record(e, s, ev);
    case SHLOG_EV_BLOCK:
        return take_block(e, s, ev);
    case SHLOG_EV_TIMES:
        return take_times(e, s, ev);
    case SHLOG_EV_LOSS:
        return take_loss(e, s, ev);
    case SHLOG_EV_EXIT:
        return take_exit(e, s, ev);
    case SHLOG_EV_CLOCK:
        take_anchor(e, s, ev);
        return 0;
    case SHLOG_EV_CATEGORY:
        return take_category(e, s, ev);
    case SHLOG_EV_THREAD:
        return take_thread(e, s, ev);
    case SHLOG_EV_ERROR:
        s->ix_traced = NULL; /* a damaged frame's records were not read either */
        handle_error(e, s, ev);
        return 0;
    case SHLOG_EV_SITE:
        /* whether a frame of an index before version 5 may hold trace records (index_keeps_traces) */
        if (ev->site && ev->site->fmt_len == sizeof SHMLOG_TRACE_FORMAT - 1 &&
            memcmp(ev->site->fmt, SHMLOG_TRACE_FORMAT, sizeof SHMLOG_TRACE_FORMAT - 1) == 0)
            s->file_traced = 1;
        return 0;
    default:
        return 0;
    }
}

/* Asks s's feed for frames and does what it hands back: 1 when s->rd holds
 * unread frames, 0 when there are none for now, -errno. */
static int source_feed(struct read_engine *e, struct source *s)
{
    struct read_feed f = {0};
    int rc = s->feed(e, s, &f);
    if (rc < 0)
        return rc;
    if (f.close)
        read_source_close_file(e, s);
    if (f.step_first) {
        int stepped = read_source_step(e, f.step_first);
        if (stepped < 0)
            return stepped;
    }
    if (rc == 0)
        return 0;
    if (f.hdr && source_open_frames(e, s, f.file, f.hdr) != 0)
        return -ENOMEM;
    if (!s->rd)
        return -EINVAL; /* frames of no run: the feed's bug, not the data's */
    return shlog_reader_push(s->rd, f.bytes, f.n, f.off) != 0 ? -ENOMEM : 1;
}

/* One frame: its events up to its SHLOG_EV_FRAME_END, or to the end of the data. */
int read_source_step(struct read_engine *e, struct source *s)
{
    struct shlog_event ev;
    if (s->done)
        return 0;
    source_unpark(e, s);
    int got = 0;
    for (;;) {
        if (!s->rd) {
            int rc = s->feed ? source_feed(e, s) : read_source_open_next(e, s);
            if (rc < 0)
                return rc;
            if (rc == 0 || !s->rd) {
                if (!e->follow && !s->feed)
                    s->done = 1;
                return got;
            }
        }
        int rc = shlog_reader_next(s->rd, &ev);
        if (rc < 0) {
            char msg[4096 + 128];
            snprintf(msg, sizeof msg, "%s: %s", s->cur_file->path, strerror(-rc));
            file_damaged(e, s, msg, 0);
            read_source_close_file(e, s);
            continue;
        }
        if (rc == 0) {
            if (s->feed) {
                /* The frames handed in are read: the next ones, if any came. */
                if ((rc = source_feed(e, s)) <= 0)
                    return rc < 0 ? rc : got;
                continue;
            }
            if (e->follow || (e->follow_live && s->cur_file->writer_alive))
                return got;
            /* A file ended: back to the caller, which may want to know. */
            read_source_close_file(e, s);
            return 1;
        }
        got = 1;
        if (ev.kind == SHLOG_EV_FRAME_END) {
            if (s->ix_taken && (rc = take_index_frame(e, s)) < 0)
                return rc;
            if (s->ix_traced && (rc = index_traces_take(e, s)) < 0)
                return rc;
            s->share_theirs = 0;
            source_park(e, s);
            return 1;
        }
        /* 1: the consumer holds what it can until it is asked for more
         * (mid-frame too); < 0: it failed. */
        rc = take_event(e, s, &ev);
        if (rc)
            return rc < 0 ? rc : 1;
    }
}

/* ==== Sources from the inputs ==== */

int read_make_sources(struct read_engine *e, struct in_list *l, struct source **out, size_t *nsrc)
{
    (void)e;
    struct source *srcs = calloc(l->n ? l->n : 1, sizeof *srcs);
    if (!srcs)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < l->n;) {
        size_t end = i + 1;
        while (end < l->n && strcmp(l->v[end].host, l->v[i].host) == 0)
            end++;
        struct source *s = &srcs[n++];
        if (read_source_init(s) != 0) {
            read_free_sources(e, srcs, n - 1);
            return -ENOMEM;
        }
        if (n > 1)
            srcs[n - 2].next_src = s;
        s->files = &l->v[i];
        s->nfiles = end - i;
        i = end;
    }
    *out = srcs;
    *nsrc = n;
    return 0;
}

void read_source_free(struct read_engine *e, struct source *s)
{
    read_source_close_file(e, s);
    shlog_dedup_free(s->dedup);
    s->dedup = NULL;
    read_hmap_clear(&s->procs);
    read_hmap_clear(&s->by_ptr);
}

void read_free_sources(struct read_engine *e, struct source *srcs, size_t nsrc)
{
    for (size_t i = 0; i < nsrc; i++)
        read_source_free(e, &srcs[i]);
    free(srcs);
}

void read_sources_append(struct source **first, struct source *s)
{
    while (*first)
        first = &(*first)->next_src;
    *first = s;
}

void read_engine_free(struct read_engine *e)
{
    e->retire_renderers = 0;
    read_retired_free(e);
    free(e->retired);
    e->retired = NULL;
    e->retired_cap = 0;
    free(e->query_fields);
    free(e->query_tids);
    free(e->trace_tids);
    e->query_fields = NULL;
    e->query_tids = NULL;
    e->trace_tids = NULL;
    e->trace_ntids = 0;
    e->trace_tids_at = 0; /* a list made again when asked */
    shlog_frame_mem_free(e->frame_mem); /* after its readers */
    e->frame_mem = NULL;
    while (e->all_rings) {
        struct dring *r = e->all_rings;
        e->all_rings = r->next_all;
        free(r->user);
        free(r);
    }
    while (e->all_sites) {
        struct dsite *d = e->all_sites;
        e->all_sites = d->next_all;
        site_strings_free(e, d);
        free(d);
    }
    while (e->all_procs) {
        struct dproc *p = e->all_procs;
        e->all_procs = p->next_all;
        read_hmap_clear(&p->rings);
        read_hmap_clear(&p->sites);
        read_hmap_clear(&p->threads);
        read_trace_free(p);
        while (p->names) {
            struct dname *d = p->names;
            p->names = d->next;
            free(d);
        }
        render_site_free(p->unknown);
        free(p->cats);
        free(p);
    }
}

/* ==== The sites alone ==== */

int read_reader_each_site(struct read_engine *e, struct shlog_reader *rd,
                          int (*site)(void *clientd, const struct shm_proc_info *p, const struct shm_site *s),
                          void *clientd)
{
    struct shlog_event ev;
    int rc;
    while ((rc = shlog_reader_next(rd, &ev)) > 0) {
        if (ev.kind != SHLOG_EV_SITE || !ev.site_info ||
            !read_filter_process(e->filter, ev.proc->info.app, ev.proc->info.pid))
            continue;
        if ((rc = site(clientd, &ev.proc->info, ev.site_info)) < 0)
            return rc;
    }
    return rc == -ENOMEM ? rc : 0;
}

/* A file's index as the sites' scan asks it. */
struct sites_scan {
    struct shlog_index *ix;
    size_t at;
    struct shlog_reader *rd;
};

/* The frames the sites' scan need not read: a plain one and an index frame define nothing. */
static uint64_t sites_scan_takes(void *clientd, uint64_t off)
{
    struct sites_scan *t = clientd;
    const struct shlog_index_frame *f = index_entry_at(t->ix, &t->at, off);
    shlog_reader_frame_sections(t->rd, NULL, 0);
    return f ? (f->nrings ? f->bytes : 0) : shlog_index_block_at(t->ix, off);
}

int read_scan_sites(struct read_engine *e, struct in_list *l,
                    int (*site)(void *clientd, const struct shm_proc_info *p, const struct shm_site *s),
                    void *clientd)
{
    char err[512];
    for (size_t i = 0; i < l->n; i++) {
        struct in_file *f = &l->v[i];
        struct shlog_reader *rd;
        if (f->bad_header || shlog_reader_open(&rd, f->path, 0, NULL, err, sizeof err) != 0)
            continue;
        shlog_reader_skip_records(rd, 1);
        struct sites_scan scan = {f->ix, 0, rd};
        int fd = index_off() || scan.ix ? -1 : open(f->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
            if (shlog_index_open(&scan.ix, fd, err, sizeof err) != 0)
                scan.ix = NULL;
            close(fd);
        }
        if (scan.ix)
            shlog_reader_take_frames(rd, sites_scan_takes, &scan);
        if (e->frame_mem)
            shlog_reader_share_frame_mem(rd, e->frame_mem);
        int rc = read_reader_each_site(e, rd, site, clientd);
        shlog_reader_close(rd);
        f->ix = scan.ix;
        if (rc == -ENOMEM)
            return rc;
    }
    return 0;
}
