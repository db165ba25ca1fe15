/* dump_stats.c - shmlog-dump stats: a consumer of the reader's engine that counts what the sources decode, on
 * one thread or on several that split the frames between them, and its report in text or JSON. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "read_engine.h"
#include "read_jobs.h"

#define TOP_SITES 20
#define STATS_CATEGORIES 256
#define SAID_MAX (1u << 20)    /* bytes of messages a thread holds; past them, one thread counts again */
/* Each thread also reads every other frame for its definitions and times, about a quarter of one thread's
 * work on the trading mix (bench/RESULTS.md, session 38): past 8 threads that reading is most of the time. */
#define STATS_THREADS_MAX 8u
/* What the threads' call sites' strings and decoded frames may take between them, each its share: the
 * largest frame one thread decodes (SHLOG_MAX_FRAME_RAW), so that n threads hold no more than one; a
 * collector's frames (16 MiB at most, mostly under 1 MiB) fit the share of 4. Past its share a thread
 * leaves the counting to one. */
#define STATS_THREADS_BYTES SHLOG_MAX_FRAME_RAW

/* Where a record stands in the inputs: its source's place among them, the
 * frame of that source, and the record within it. Threads that split the
 * frames count in that order too, so what ties in their merge (sites with
 * as many records, the order category names were first seen in) comes out
 * as one thread counts it. */
struct order {
    uint64_t frame; /* source index << 40 | frame */
    uint64_t n;
};

static int order_before(struct order a, struct order b)
{
    return a.frame != b.frame ? a.frame < b.frame : a.n < b.n;
}

/* What stats reports: counted as the inputs decode. */
struct stats {
    uint64_t levels[8], records, lost[SHM_LOSS_REASON_MAX + 1], duplicates, frames, bad_frames, torn;
    uint64_t clamped, backtrace; /* records flagged so */
    uint64_t index_skipped; /* frames whose records the files' indexes ruled out, not decoded */
    uint64_t index_unread;  /* of them, frames not read at all (plain ones) */
    /* By category name: the built-in ones by id, the processes' own by name
     * (at most STATS_CATEGORIES names over all processes; others unnamed). */
    uint64_t categories[SHMLOG_CAT_COUNT], unnamed_category;
    struct own_category { char name[SHMLOG_CATEGORY_NAME_BYTES]; uint64_t n; struct order first; } own[STATS_CATEGORIES];
    unsigned nown;
    uint64_t first_ns, last_ns, file_bytes, nfiles;
    int topics;      /* kafka:// inputs read */
    uint64_t resent; /* their frames skipped as a shipper's second sending */
    uint64_t partitions, partitions_skipped; /* read, and left out by --host and the topics' host maps */
    struct hmap apps; /* app name hash -> app_count */
    /* Records of each site, by its engine id (struct dsite's made), and
     * where its first was counted: sites tie in that order, which is the
     * records' own (the engine makes a site for records that fail a filter
     * too, or not, as the files' index spares them). */
    struct site_tally { uint64_t records; struct order first; } *site_tally;
    size_t site_cap;
    struct source *srcs; /* the file sources, in order: a record's source index */
    size_t nsrc;
    const struct source *at_src; /* the frame being counted, and its records so far */
    uint64_t at_frame, at_n;
    /* One of the threads that split the frames (stats_on_threads): its
     * messages held, for the merge to check. */
    int shared;
    struct said { char *text; size_t len; int over; } said;
    struct clock_stats {
        uint64_t anchors, steps, process_calibrated; /* process_calibrated: records mapped without anchors */
        struct shm_clock_anchor prev; /* the last anchor seen: a step between two shows in their offsets */
        uint32_t max_err_ns;
        struct shlog_clock_info last; /* the state the newest section gave */
        uint64_t max_esterror_ns;
        uint64_t unsynchronized;      /* anchors taken while the kernel said its clock was not */
    } clock;
};

/* ==== Counting ==== */

/* Where the record being counted, of source s, stands. */
static struct order record_order(struct stats *st, const struct source *s)
{
    uint64_t frame = st->shared ? s->share_offered : s->frames;
    if (s != st->at_src || frame != st->at_frame) {
        st->at_src = s;
        st->at_frame = frame;
        st->at_n = 0;
    }
    uint64_t index = s >= st->srcs && s < st->srcs + st->nsrc ? (uint64_t)(s - st->srcs) : st->nsrc;
    return (struct order){index << 40 | frame, st->at_n++};
}

/* One more record of site d, at. 0, or -ENOMEM. */
static int count_site(struct stats *st, const struct dsite *d, struct order at)
{
    if (d->made >= st->site_cap) {
        size_t cap = st->site_cap ? st->site_cap : 256;
        while (cap <= d->made)
            cap *= 2;
        struct site_tally *v = realloc(st->site_tally, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        memset(v + st->site_cap, 0, (cap - st->site_cap) * sizeof *v);
        st->site_tally = v;
        st->site_cap = cap;
    }
    if (!st->site_tally[d->made].records++)
        st->site_tally[d->made].first = at;
    return 0;
}

static uint64_t site_records(const struct stats *st, const struct dsite *d)
{
    return d->made < st->site_cap ? st->site_tally[d->made].records : 0;
}

/* The row of a process's own category name, made (first seen at) when new;
 * NULL past STATS_CATEGORIES names. */
static struct own_category *own_row(struct stats *st, const char *name, struct order at)
{
    for (unsigned i = 0; i < st->nown; i++)
        if (strcmp(st->own[i].name, name) == 0)
            return &st->own[i];
    if (st->nown == STATS_CATEGORIES)
        return NULL;
    struct own_category *row = &st->own[st->nown++];
    snprintf(row->name, sizeof row->name, "%s", name);
    row->n = 0;
    row->first = at;
    return row;
}

static void stats_category(struct stats *st, const struct dproc *p, unsigned category, struct order at)
{
    if (category < SHMLOG_CAT_COUNT) {
        st->categories[category]++;
        return;
    }
    const char *name = p ? shm_categories_name(p->cats, category) : NULL;
    struct own_category *row = name ? own_row(st, name, at) : NULL;
    if (row)
        row->n++;
    else
        st->unnamed_category++;
}

static int stats_record(void *clientd, struct dring *r, struct dsite *d, const struct shlog_event *ev, uint64_t ts,
                        uint64_t order_ts)
{
    struct stats *st = clientd;
    const struct shm_copied_record *rec = ev->rec;
    (void)order_ts;
    struct order at = record_order(st, r->src);
    st->records++;
    st->levels[rec->level & 7]++;
    stats_category(st, r->proc, rec->category, at);
    st->clamped += (rec->flags & SHMLOG_REC_CLAMPED) != 0;
    st->backtrace += (rec->flags & SHMLOG_REC_BACKTRACE) != 0;
    if (d && count_site(st, d, at) != 0)
        return -ENOMEM;
    if (!st->first_ns || ts < st->first_ns)
        st->first_ns = ts;
    if (ts > st->last_ns)
        st->last_ns = ts;
    return 0;
}

static int stats_loss(void *clientd, struct dring *r, const struct shlog_event *ev, uint64_t ts)
{
    struct stats *st = clientd;
    (void)ts;
    if (st->shared && r->src->share_theirs)
        return 0; /* every thread reads the frame's losses: the one whose frame it is counts them */
    if (ev->loss.reason <= SHM_LOSS_REASON_MAX)
        st->lost[ev->loss.reason] += ev->loss.records;
    return 0;
}

static void stats_unanchored(void *clientd)
{
    struct stats *st = clientd;
    st->clock.process_calibrated++;
}

static void stats_anchor(void *clientd, const struct shlog_event *ev)
{
    struct stats *st = clientd;
    struct clock_stats *c = &st->clock;
    c->steps += c->anchors ? shm_clock_anchors_stepped(&c->prev, &ev->anchor) : (ev->anchor.flags & SHM_ANCHOR_STEPPED) != 0;
    c->anchors++;
    c->prev = ev->anchor;
    if (ev->anchor.err_ns > c->max_err_ns)
        c->max_err_ns = ev->anchor.err_ns;
    if (ev->clock.esterror_ns > c->max_esterror_ns)
        c->max_esterror_ns = ev->clock.esterror_ns;
    c->unsynchronized += ev->clock.synchronized == SHLOG_NO;
    c->last = ev->clock;
}

static void stats_file_closed(void *clientd, struct source *s, const struct shlog_reader_stats *rs)
{
    struct stats *st = clientd;
    st->frames += rs->frames;
    st->bad_frames += rs->bad_frames;
    st->index_skipped += s->ix_skipped;
    st->index_unread += s->ix_unread;
    st->torn += rs->torn;
    st->duplicates += rs->duplicates;
}

static void stats_message(void *clientd, const char *msg, int note)
{
    struct stats *st = clientd;
    if (!st->shared) {
        dump_say(msg, note);
        return;
    }
    /* Held: said once the threads agree on them (stats_merge). */
    struct said *h = &st->said;
    size_t n = strlen(msg) + 2;
    if (h->over || h->len + n > SAID_MAX || (!h->text && !(h->text = malloc(SAID_MAX)))) {
        h->over = 1;
        return;
    }
    h->text[h->len] = note ? 'n' : 'e';
    memcpy(h->text + h->len + 1, msg, n - 1);
    h->len += n;
}

struct app_count {
    char name[SHMLOG_APP_BYTES];
    uint64_t n;
};

static void count_app(struct stats *st, const char *app, uint64_t n)
{
    /* FNV-1a of the name; the name itself is kept with its count. */
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = app; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    struct app_count *a = read_hmap_get(&st->apps, h, 0);
    if (!a) {
        if (st->apps.n >= 65536 || !(a = calloc(1, sizeof *a)) || read_hmap_put(&st->apps, h, 0, a) != 0) {
            free(a);
            return;
        }
        snprintf(a->name, sizeof a->name, "%s", app);
    }
    a->n += n;
}

/* ==== The report ==== */

/* A site with records, as the report lists it. */
struct site_count {
    const struct dsite *d;
    uint64_t records;
    struct order first; /* struct site_tally's */
};

static int site_count_cmp(const void *a, const void *b)
{
    const struct site_count *sx = a, *sy = b;
    if (sx->records != sy->records)
        return sx->records > sy->records ? -1 : 1;
    const struct dsite *x = sx->d, *y = sy->d;
    int c = strcmp(x->file ? x->file : "", y->file ? y->file : "");
    /* Then by host, the newest first within one: the same order whichever
     * host was decoded first (a host's files, or its messages in a topic). */
    if (!c)
        c = strcmp(x->proc->source_host, y->proc->source_host);
    if (!c)
        c = order_before(sy->first, sx->first) ? -1 : order_before(sx->first, sy->first);
    return c;
}

static void put_rate(struct render_buf *b, const char *fmt, double v)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, fmt, v);
    render_buf_puts(b, tmp);
}


/* "name":count for every non-zero one of the 8 counters, comma-separated. */
/* Row i of the categories stats shows (the built-in ones, the processes'
 * own, then the unnamed "?") and its name; rows run to category_rows(st). */
static unsigned category_rows(const struct stats *st) { return SHMLOG_CAT_COUNT + st->nown + 1; }

static uint64_t category_row(const struct stats *st, unsigned i, const char **name)
{
    if (i < SHMLOG_CAT_COUNT) {
        *name = shm_category_name(i);
        return st->categories[i];
    }
    if (i < SHMLOG_CAT_COUNT + st->nown) {
        *name = st->own[i - SHMLOG_CAT_COUNT].name;
        return st->own[i - SHMLOG_CAT_COUNT].n;
    }
    *name = "?";
    return st->unnamed_category;
}

static void put_json_categories(const struct stats *st, struct render_buf *b)
{
    for (unsigned i = 0, n = 0; i < category_rows(st); i++) {
        const char *name;
        uint64_t count = category_row(st, i, &name);
        if (!count)
            continue;
        if (n++)
            render_buf_putc(b, ',');
        render_buf_putc(b, '"');
        render_buf_puts(b, name);
        render_buf_puts(b, "\":");
        render_buf_u64(b, count);
    }
}

static void put_json_counts(struct render_buf *b, const uint64_t counts[8], const char *(*name)(unsigned))
{
    for (unsigned i = 0, n = 0; i < 8; i++) {
        if (!counts[i])
            continue;
        if (n++)
            render_buf_putc(b, ',');
        render_buf_putc(b, '"');
        render_buf_puts(b, name(i) ? name(i) : "?");
        render_buf_puts(b, "\":");
        render_buf_u64(b, counts[i]);
    }
}

static const char *tristate_json(enum shlog_tristate t)
{
    return t == SHLOG_YES ? "true" : t == SHLOG_NO ? "false" : "null";
}

/* What the times rest on: the collector's anchors and the clocks' state
 * they were taken in, or each process's own calibration. */
static void put_clock_stats(const struct stats *st, struct render_buf *b, int json)
{
    const struct clock_stats *c = &st->clock;
    char line[512];
    if (json) {
        snprintf(line, sizeof line,
                 ",\"clock\":{\"anchors\":%llu,\"steps\":%llu,\"max_anchor_error_ns\":%u,"
                 "\"records_on_process_calibration\":%llu,\"tsc_invariant\":%s,\"synchronized\":%s,"
                 "\"anchors_unsynchronized\":%llu,\"max_esterror_ns\":%llu,\"clocksource\":",
                 (unsigned long long)c->anchors, (unsigned long long)c->steps, c->max_err_ns,
                 (unsigned long long)c->process_calibrated, tristate_json(c->last.tsc_invariant),
                 tristate_json(c->last.synchronized), (unsigned long long)c->unsynchronized,
                 (unsigned long long)c->max_esterror_ns);
        render_buf_puts(b, line);
        render_json_string(b, c->last.clocksource, strlen(c->last.clocksource));
        render_buf_putc(b, '}');
        return;
    }
    if (!c->anchors) {
        render_buf_puts(b, "clock: no anchors (files from before them): times use each process's own "
                           "calibration, good for seconds after its start\n");
        return;
    }
    snprintf(line, sizeof line, "clock: %llu anchors, worst error %u ns, %llu steps of the wall clock; TSC %s; "
             "clocksource %s; system clock %s",
             (unsigned long long)c->anchors, c->max_err_ns, (unsigned long long)c->steps,
             c->last.tsc_invariant == SHLOG_YES ? "invariant" : c->last.tsc_invariant == SHLOG_NO
                                                                   ? "NOT invariant"
                                                                   : "invariance unknown",
             c->last.clocksource[0] ? c->last.clocksource : "unknown",
             c->unsynchronized == c->anchors ? "not synchronised"
             : c->unsynchronized           ? "not synchronised at times"
                                           : "synchronised");
    render_buf_puts(b, line);
    if (c->max_esterror_ns) {
        snprintf(line, sizeof line, " (estimated error up to %.6f s)", (double)c->max_esterror_ns / 1e9);
        render_buf_puts(b, line);
    }
    if (c->process_calibrated) {
        snprintf(line, sizeof line, "; %llu records from files without anchors use their process's calibration",
                 (unsigned long long)c->process_calibrated);
        render_buf_puts(b, line);
    }
    render_buf_putc(b, '\n');
}

static void put_share(struct render_buf *b, uint64_t n, uint64_t total)
{
    render_buf_u64(b, n);
    put_rate(b, " (%.1f%%)", total ? 100.0 * (double)n / (double)total : 0.0);
}

/* Steps the sources from first on until all are at their end: 0, or -ENOMEM. */
static int stats_step(struct read_engine *e, struct source *first)
{
    /* A topic's source adds its hosts' as it finds them, and a host waits
     * for its partition: every source in turn until all are at their end. */
    for (int live = 1; live;) {
        live = 0;
        for (struct source *s = first; s; s = s->next_src) {
            int rc;
            while ((rc = read_source_step(e, s)) > 0)
                ;
            if (rc < 0)
                return rc;
            live |= !s->done;
        }
    }
    return 0;
}

static void stats_topics(struct stats *st, struct topics *t)
{
    for (size_t i = 0; i < t->n; i++) {
        struct read_kafka_total tt;
        read_kafka_totals(t->v[i], &tt);
        st->nfiles += tt.files;
        st->file_bytes += tt.bytes;
        st->resent += tt.resent;
        st->partitions += tt.partitions;
        st->partitions_skipped += tt.partitions_skipped;
        st->topics++;
    }
}

/* ==== On threads: each counts the records of its share of the frames ==== */

/* A thread's count: its own engine over its own copy of the inputs. */
struct stats_job {
    struct stats *st;
    struct read_engine e;
    struct read_filter filter; /* the command's, with a --grep buffer of its own */
    struct in_list l;
    struct source *srcs;
    size_t nsrc;
    int rc;
    pthread_t thread;
};

/* An engine made with it counts into st. */
static int stats_engine_init(struct read_engine *e, const struct read_filter *f, struct stats *st)
{
    const struct read_consumer c = {.clientd = st, .record = stats_record, .loss = stats_loss,
                                    .unanchored = stats_unanchored, .anchor = stats_anchor,
                                    .file_closed = stats_file_closed, .message = stats_message};
    return read_engine_init(e, f, &c);
}

static void *stats_job_run(void *arg)
{
    struct stats_job *j = arg;
    j->rc = stats_step(&j->e, j->nsrc ? j->srcs : NULL);
    return NULL;
}

/* The threads --jobs asks for (or the cpus), at most STATS_THREADS_MAX. */
static unsigned stats_threads_asked(const struct cli *cli)
{
    unsigned n = read_jobs_threads(cli->jobs);
    return n < STATS_THREADS_MAX ? n : STATS_THREADS_MAX;
}

/* How many threads count the inputs l: those asked for, or one where the
 * threads' counts could not be merged into one thread's (a topic, whose
 * hosts come as they come; filters that pass records by the ones before:
 * --limit, and --trace, which follows trace records). A file still being
 * written is read by each to the size it had when listed. */
static unsigned stats_threads(unsigned asked, const struct cli *cli, const struct in_list *l, const struct topics *t)
{
    if (t->n || cli->filter.limit || cli->filter.trace || l->n == 0)
        return 1;
    return asked;
}

/* Whether the threads' counts are one thread's, split: none of them met
 * damage, a duplicate (or positions that may be one: read_engine's
 * share_failed: memory past its share) or more than it holds, and they said
 * the same. */
static int stats_mergeable(struct stats_job *jobs, unsigned n)
{
    const struct stats *first = jobs[0].st;
    for (unsigned i = 0; i < n; i++) {
        const struct stats *st = jobs[i].st;
        /* Damage, where a thread that decodes the records sees more of it
         * than one that skips them, says so; duplicates and bad frames may not. */
        if (st->duplicates || st->bad_frames || jobs[i].e.share_failed || st->said.over ||
            st->nown == STATS_CATEGORIES || st->said.len != first->said.len ||
            (st->said.len && memcmp(st->said.text, first->said.text, st->said.len)))
            return 0;
    }
    return 1;
}

/* The messages the threads held, said. */
static void say_held(const struct said *h)
{
    for (size_t at = 0; at < h->len;) {
        const char *msg = h->text + at + 1;
        dump_say(msg, h->text[at] == 'n');
        at += strlen(msg) + 2;
    }
}

/* Adds the counts of thread from into into: the same files, each frame's
 * records counted by one of them; what every thread reads (the frames, the
 * clock) is into's already. */
static void stats_add(struct stats *into, const struct stats *from)
{
    for (unsigned i = 0; i < 8; i++)
        into->levels[i] += from->levels[i];
    for (unsigned i = 0; i <= SHM_LOSS_REASON_MAX; i++)
        into->lost[i] += from->lost[i];
    into->records += from->records;
    into->clock.process_calibrated += from->clock.process_calibrated;
    into->clamped += from->clamped;
    into->backtrace += from->backtrace;
    for (unsigned i = 0; i < SHMLOG_CAT_COUNT; i++)
        into->categories[i] += from->categories[i];
    into->unnamed_category += from->unnamed_category;
    for (unsigned i = 0; i < from->nown; i++) {
        const struct own_category *f = &from->own[i];
        struct own_category *row = own_row(into, f->name, f->first);
        if (!row) {
            into->unnamed_category += f->n;
            continue;
        }
        row->n += f->n;
        if (order_before(f->first, row->first))
            row->first = f->first;
    }
    if (from->first_ns && (!into->first_ns || from->first_ns < into->first_ns))
        into->first_ns = from->first_ns;
    if (from->last_ns > into->last_ns)
        into->last_ns = from->last_ns;
}

static int own_first_cmp(const void *a, const void *b)
{
    const struct own_category *x = a, *y = b;
    return order_before(x->first, y->first) ? -1 : order_before(y->first, x->first);
}

static void stats_job_free(struct stats_job *j)
{
    if (j->st) {
        free(j->st->site_tally);
        free(j->st->said.text);
        free(j->st);
    }
    read_free_sources(&j->e, j->srcs, j->nsrc);
    read_engine_free(&j->e);
    if (j->filter.grep_msg)
        free(j->filter.grep_msg);
    free(j->l.v);
    memset(j, 0, sizeof *j);
}

/* Counts l on n threads, each a job of jobs, into jobs[0].st: 1 done, 0
 * when their counts cannot be merged (to be counted again on one), -ENOMEM. */
static int stats_on_threads(struct stats_job *jobs, unsigned n, const struct cli *cli, const struct in_list *l)
{
    int rc = 0;
    unsigned started = 0;
    for (unsigned i = 0; i < n && !rc; i++) {
        struct stats_job *j = &jobs[i];
        if (!j->st && !(j->st = calloc(1, sizeof *j->st))) { /* the first thread's is the caller's */
            rc = -ENOMEM;
            break;
        }
        j->st->shared = 1;
        j->filter = cli->filter;
        if (j->filter.grep_msg && !(j->filter.grep_msg = malloc(RENDER_LINE_MAX + 1))) {
            rc = -ENOMEM;
            break;
        }
        /* Its own copy of the inputs: an engine writes to the files it reads (the index it takes). */
        j->l.v = malloc((l->n ? l->n : 1) * sizeof *l->v);
        if (!j->l.v || stats_engine_init(&j->e, &j->filter, j->st) != 0) {
            rc = -ENOMEM;
            break;
        }
        memcpy(j->l.v, l->v, l->n * sizeof *l->v);
        j->l.n = j->l.cap = l->n;
        j->e.share = i;
        j->e.shares = n;
        j->e.share_bytes = STATS_THREADS_BYTES / n;
        if (read_make_sources(&j->e, &j->l, &j->srcs, &j->nsrc) != 0) {
            rc = -ENOMEM;
            break;
        }
        j->st->srcs = j->srcs;
        j->st->nsrc = j->nsrc;
        started++;
    }
    unsigned running = 0;
    for (unsigned i = 1; i < started && !rc; i++, running++)
        if (pthread_create(&jobs[i].thread, NULL, stats_job_run, &jobs[i]) != 0)
            break; /* the frames of the threads that did not start go uncounted: all are counted again */
    if (!rc && running + 1 == started)
        stats_job_run(&jobs[0]);
    for (unsigned i = 1; i <= running; i++)
        pthread_join(jobs[i].thread, NULL);
    int merged = !rc && running + 1 == started && started == n;
    for (unsigned i = 0; merged && i < n; i++)
        if (jobs[i].rc)
            rc = jobs[i].rc;
    merged = merged && !rc && stats_mergeable(jobs, n);
    if (merged) {
        struct stats *st = jobs[0].st;
        for (unsigned i = 1; i < n; i++)
            stats_add(st, jobs[i].st);
        qsort(st->own, st->nown, sizeof st->own[0], own_first_cmp);
        say_held(&st->said);
    }
    return rc ? rc : merged;
}

/* What stats reports beyond the counters: the sites with records, most
 * first, and the totals and rates made of the counters. */
struct stats_summary {
    struct site_count *sites;
    size_t nsites;
    uint64_t lost_total;
    double span;       /* seconds from the first record to the last */
    double per_record; /* bytes on disk */
    double rate;       /* records per second over the span */
};

/* A site with records in one thread's engine, and who it is in any of them:
 * its source's index, its process's key and its id. */
struct job_site {
    struct site_count c;
    uint64_t k1, k2;
    size_t src;
    uint32_t id;
};

static int job_site_cmp(const void *a, const void *b)
{
    const struct job_site *x = a, *y = b;
    if (x->src != y->src)
        return x->src < y->src ? -1 : 1;
    if (x->k1 != y->k1)
        return x->k1 < y->k1 ? -1 : 1;
    if (x->k2 != y->k2)
        return x->k2 < y->k2 ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The sites with records over the threads' engines, each once: its records
 * summed, shown as the engine that counted its first record defined it. 0,
 * or -ENOMEM. */
static int sites_merge(struct stats_job *jobs, unsigned n, struct stats_summary *s)
{
    size_t m = 0;
    for (unsigned i = 0; i < n; i++)
        for (struct dsite *d = jobs[i].e.all_sites; d; d = d->next_all)
            m += site_records(jobs[i].st, d) != 0;
    struct job_site *v = calloc(m ? m : 1, sizeof *v);
    s->sites = calloc(m ? m : 1, sizeof *s->sites);
    if (!v || !s->sites) {
        free(v);
        return -ENOMEM;
    }
    m = 0;
    for (unsigned i = 0; i < n; i++)
        for (struct dsite *d = jobs[i].e.all_sites; d; d = d->next_all) {
            uint64_t records = site_records(jobs[i].st, d);
            if (!records)
                continue;
            struct job_site *j = &v[m++];
            j->c = (struct site_count){d, records, jobs[i].st->site_tally[d->made].first};
            shm_proc_key(&d->proc->info, &j->k1, &j->k2);
            j->src = n > 1 ? (size_t)(d->proc->src - jobs[i].srcs) : 0; /* threads read files only */
            j->id = d->id;
        }
    /* One thread's sites are each once already (and a topic's hosts' sources are not in its array). */
    if (n > 1)
        qsort(v, m, sizeof *v, job_site_cmp);
    s->nsites = 0;
    for (size_t i = 0; i < m; i++) {
        struct site_count *last = s->nsites ? &s->sites[s->nsites - 1] : NULL;
        if (n == 1 || !last || job_site_cmp(&v[i - 1], &v[i]) != 0) {
            s->sites[s->nsites++] = v[i].c;
            continue;
        }
        last->records += v[i].c.records;
        if (order_before(v[i].c.first, last->first)) {
            last->first = v[i].c.first;
            last->d = v[i].c.d;
        }
    }
    free(v);
    return 0;
}

static void stats_summarize(struct stats_job *jobs, unsigned n, struct stats_summary *s)
{
    struct stats *st = jobs[0].st;
    if (sites_merge(jobs, n, s) != 0)
        dump_oom();
    qsort(s->sites, s->nsites, sizeof *s->sites, site_count_cmp);
    /* The apps in the sites' order, which the report's order of them follows. */
    for (size_t i = 0; i < s->nsites; i++)
        count_app(st, s->sites[i].d->proc->info.app, s->sites[i].records);
    /* Records of sites the files never defined count under "?". */
    s->lost_total = 0;
    for (unsigned i = 0; i <= SHM_LOSS_REASON_MAX; i++)
        s->lost_total += st->lost[i];
    s->span = st->last_ns > st->first_ns ? (double)(st->last_ns - st->first_ns) / 1e9 : 0;
    s->per_record = st->records ? (double)st->file_bytes / (double)st->records : 0;
    s->rate = s->span > 0 ? (double)st->records / s->span : 0;
}

/* ---- JSON: one object ---- */

/* "apps":{"name":count,...} without the key */
static void put_json_apps(const struct stats *st, struct render_buf *b)
{
    for (size_t i = 0, n = 0; i < st->apps.cap; i++) {
        struct app_count *a = st->apps.slots[i].v;
        if (!a)
            continue;
        if (n++)
            render_buf_putc(b, ',');
        render_json_string(b, a->name, strlen(a->name));
        render_buf_putc(b, ':');
        render_buf_u64(b, a->n);
    }
}

/* One element of "sites": the i-th. */
static void put_json_site(struct render_buf *b, const struct site_count *sc, size_t i)
{
    const struct dsite *d = sc->d;
    if (i)
        render_buf_putc(b, ',');
    render_buf_puts(b, "{\"site\":");
    if (d->file) {
        char line[32];
        snprintf(line, sizeof line, ":%u\"", d->line);
        render_json_string(b, d->file, strlen(d->file));
        if (!b->overflow)
            b->len--; /* the closing quote: ":line" goes inside */
        render_buf_puts(b, line);
    } else {
        render_buf_puts(b, "null");
    }
    put_json_kv_str(b, "format", d->fmt ? d->fmt : "");
    put_json_kv_str(b, "app", d->proc->info.app);
    put_json_kv_u64(b, "pid", d->proc->info.pid);
    put_json_kv_u64(b, "records", sc->records);
    render_buf_putc(b, '}');
}

/* The counters, then the top sites, each written out on its own. */
static void stats_json(const struct stats *st, struct render_buf *b, const struct stats_summary *s)
{
    render_buf_puts(b, "{\"files\":");
    render_buf_u64(b, st->nfiles);
    put_json_kv_u64(b, "bytes", st->file_bytes);
    put_json_kv_u64(b, "frames", st->frames);
    put_json_kv_u64(b, "bad_frames", st->bad_frames);
    put_json_kv_u64(b, "torn", st->torn);
    put_json_kv_u64(b, "index_skipped_frames", st->index_skipped);
    put_json_kv_u64(b, "index_unread_frames", st->index_unread);
    put_json_kv_u64(b, "records", st->records);
    put_json_kv_u64(b, "duplicates", st->duplicates);
    if (st->topics)
        put_json_kv_u64(b, "resent_frames", st->resent);
    if (st->partitions_skipped) {
        put_json_kv_u64(b, "partitions_read", st->partitions);
        put_json_kv_u64(b, "partitions_skipped", st->partitions_skipped);
    }
    render_buf_puts(b, ",\"bytes_per_record\":");
    render_json_double(b, s->per_record, 0);
    put_json_kv_u64(b, "first_ns", st->first_ns);
    put_json_kv_u64(b, "last_ns", st->last_ns);
    render_buf_puts(b, ",\"span_s\":");
    render_json_double(b, s->span, 0);
    render_buf_puts(b, ",\"records_per_s\":");
    render_json_double(b, s->rate, 0);
    put_clock_stats(st, b, 1);
    render_buf_puts(b, ",\"losses\":{\"total\":");
    render_buf_u64(b, s->lost_total);
    for (unsigned r = SHM_LOSS_DROPPED; r <= SHM_LOSS_REASON_MAX; r++)
        put_json_kv_u64(b, shm_loss_reason_name(r), st->lost[r]);
    render_buf_puts(b, "},\"levels\":{");
    put_json_counts(b, st->levels, shm_level_name);
    render_buf_puts(b, "},\"categories\":{");
    put_json_categories(st, b);
    render_buf_putc(b, '}');
    put_json_kv_u64(b, "clamped", st->clamped);
    put_json_kv_u64(b, "backtrace", st->backtrace);
    render_buf_puts(b, ",\"apps\":{");
    put_json_apps(st, b);
    render_buf_puts(b, "},\"sites\":[");
    out_end(b);
    for (size_t i = 0; i < s->nsites && i < TOP_SITES; i++) {
        *b = out_begin();
        put_json_site(b, &s->sites[i], i);
        out_end(b);
    }
    *b = out_begin();
    render_buf_puts(b, "]}\n");
}

/* ---- Text: one screen ---- */

/* "files: ...", "records: ..." and, when there are records, "time: ..." */
static void put_text_totals(const struct stats *st, struct render_buf *b, const struct stats_summary *s)
{
    char line[256];
    snprintf(line, sizeof line, "files: %llu, %llu bytes on disk, %llu frames (%llu damaged%s)\n",
             (unsigned long long)st->nfiles, (unsigned long long)st->file_bytes,
             (unsigned long long)st->frames, (unsigned long long)st->bad_frames,
             st->torn ? ", torn tail" : "");
    render_buf_puts(b, line);
    if (st->index_skipped) {
        snprintf(line, sizeof line, "index: %llu frames' records ruled out by the filters, not decoded; "
                 "%llu of those frames not read at all\n",
                 (unsigned long long)st->index_skipped, (unsigned long long)st->index_unread);
        render_buf_puts(b, line);
    }
    if (st->topics) {
        snprintf(line, sizeof line, "kafka: %llu frames sent again, skipped (their records read once)\n",
                 (unsigned long long)st->resent);
        render_buf_puts(b, line);
        if (st->partitions_skipped) {
            snprintf(line, sizeof line, "kafka: %llu of %llu partitions read (the others hold none of the "
                     "host's frames, by the topic's host map)\n", (unsigned long long)st->partitions,
                     (unsigned long long)(st->partitions + st->partitions_skipped));
            render_buf_puts(b, line);
        }
    }
    snprintf(line, sizeof line, "records: %llu (%llu duplicates dropped), %.2f bytes on disk per record\n",
             (unsigned long long)st->records, (unsigned long long)st->duplicates, s->per_record);
    render_buf_puts(b, line);
    if (st->records) {
        render_buf_puts(b, "time: ");
        render_buf_rfc3339(b, st->first_ns);
        render_buf_puts(b, " .. ");
        render_buf_rfc3339(b, st->last_ns);
        put_rate(b, " (%.3f s)", s->span);
        put_rate(b, ", %.0f records/s\n", s->rate);
    }
}

/* "losses: N records, reason n, ..." (no newline) */
static void put_text_losses(const struct stats *st, struct render_buf *b, const struct stats_summary *s)
{
    char line[256];
    snprintf(line, sizeof line, "losses: %llu records", (unsigned long long)s->lost_total);
    render_buf_puts(b, line);
    for (unsigned r = SHM_LOSS_DROPPED; r <= SHM_LOSS_REASON_MAX; r++)
        if (st->lost[r]) {
            snprintf(line, sizeof line, ", %s %llu", shm_loss_reason_name(r), (unsigned long long)st->lost[r]);
            render_buf_puts(b, line);
        }
}

/* label, then " NAME count (share%)" for every non-zero one of the 8 counters. */
static void put_text_counts(const struct stats *st, struct render_buf *b, const char *label, const uint64_t counts[8],
                            const char *(*name)(unsigned))
{
    render_buf_puts(b, label);
    for (unsigned i = 0; i < 8; i++)
        if (counts[i]) {
            render_buf_putc(b, ' ');
            render_buf_puts(b, name(i) ? name(i) : "?");
            render_buf_putc(b, ' ');
            put_share(b, counts[i], st->records);
        }
}

static void put_text_categories(const struct stats *st, struct render_buf *b)
{
    render_buf_puts(b, "\nby category:");
    for (unsigned i = 0; i < category_rows(st); i++) {
        const char *name;
        uint64_t n = category_row(st, i, &name);
        if (!n)
            continue;
        render_buf_putc(b, ' ');
        render_buf_puts(b, name);
        render_buf_putc(b, ' ');
        put_share(b, n, st->records);
    }
    if (st->clamped || st->backtrace) {
        char line[160];
        snprintf(line, sizeof line, "\nflagged: clamped %llu (level or category out of range), backtrace %llu",
                 (unsigned long long)st->clamped, (unsigned long long)st->backtrace);
        render_buf_puts(b, line);
    }
}

static void put_text_apps(const struct stats *st, struct render_buf *b)
{
    render_buf_puts(b, "\nby app:");
    for (size_t i = 0; i < st->apps.cap; i++) {
        struct app_count *a = st->apps.slots[i].v;
        if (!a)
            continue;
        render_buf_putc(b, ' ');
        put_text_safe(b, a->name);
        render_buf_putc(b, ' ');
        put_share(b, a->n, st->records);
    }
}

/* "  count share%  app file.c:line format" */
static void put_text_site(const struct stats *st, struct render_buf *b, const struct site_count *sc)
{
    const struct dsite *d = sc->d;
    char line[256];
    snprintf(line, sizeof line, "  %12llu %5.1f%%  ", (unsigned long long)sc->records,
             st->records ? 100.0 * (double)sc->records / (double)st->records : 0.0);
    render_buf_puts(b, line);
    put_text_safe(b, d->proc->info.app);
    render_buf_putc(b, ' ');
    if (d->file) {
        const char *slash = strrchr(d->file, '/');
        put_text_safe(b, slash ? slash + 1 : d->file);
        snprintf(line, sizeof line, ":%u ", d->line);
        render_buf_puts(b, line);
        put_text_safe(b, d->fmt);
    } else {
        render_buf_puts(b, "?");
    }
    render_buf_putc(b, '\n');
}

/* The totals, the clock, the losses, the shares, then the top sites, each
 * written out on its own. */
static void stats_text(const struct stats *st, struct render_buf *b, const struct stats_summary *s)
{
    char line[256];
    put_text_totals(st, b, s);
    put_clock_stats(st, b, 0);
    put_text_losses(st, b, s);
    put_text_counts(st, b, "\nby level:", st->levels, shm_level_name);
    put_text_categories(st, b);
    put_text_apps(st, b);
    snprintf(line, sizeof line, "\ntop sites (%zu with records):\n", s->nsites);
    render_buf_puts(b, line);
    out_end(b);
    for (size_t i = 0; i < s->nsites && i < TOP_SITES; i++) {
        *b = out_begin();
        put_text_site(st, b, &s->sites[i]);
        out_end(b);
    }
    *b = out_begin();
}

int cmd_stats(struct cli *cli)
{
    unsigned most = stats_threads_asked(cli);
    struct stats_job *jobs = calloc(most, sizeof *jobs);
    struct stats *st = calloc(1, sizeof *st);
    if (!jobs || !st || stats_engine_init(&jobs[0].e, &cli->filter, st) != 0)
        dump_oom();
    jobs[0].st = st;
    struct in_list l = {0};
    struct topics t = {0};
    if (collect_inputs(&jobs[0].e, cli, &l, &t) != 0)
        dump_oom();
    unsigned n = stats_threads(most, cli, &l, &t);
    if (n > 1) {
        /* Each thread has an engine of its own, the first one's inputs and what they said. */
        int status = jobs[0].e.status;
        read_engine_free(&jobs[0].e);
        int rc = stats_on_threads(jobs, n, cli, &l);
        if (rc < 0)
            dump_oom();
        if (rc == 0) {
            /* Duplicates or damage, which count by the order of the frames: counted again on one thread. */
            for (unsigned i = 0; i < n; i++)
                stats_job_free(&jobs[i]);
            memset(jobs, 0, most * sizeof *jobs);
            n = 1;
            if (!(jobs[0].st = st = calloc(1, sizeof *st)) ||
                stats_engine_init(&jobs[0].e, &cli->filter, st) != 0)
                dump_oom();
        }
        jobs[0].e.status |= status;
        st = jobs[0].st;
    }
    for (size_t i = 0; i < l.n; i++)
        st->file_bytes += l.v[i].bytes;
    st->nfiles = l.n;
    if (n == 1) {
        if (read_make_sources(&jobs[0].e, &l, &jobs[0].srcs, &jobs[0].nsrc) != 0)
            dump_oom();
        st->srcs = jobs[0].srcs;
        st->nsrc = jobs[0].nsrc;
        struct source *first = jobs[0].nsrc ? jobs[0].srcs : NULL;
        read_sources_append(&first, t.first);
        if (stats_step(&jobs[0].e, first) != 0)
            dump_oom();
        stats_topics(st, &t);
    }
    struct stats_summary s;
    stats_summarize(jobs, n, &s);

    struct render_buf b = out_begin();
    if (cli->json)
        stats_json(st, &b, &s);
    else
        stats_text(st, &b, &s);
    out_end(&b);

    for (size_t i = 0; i < st->apps.cap; i++)
        free(st->apps.slots[i].v);
    read_hmap_clear(&st->apps);
    free(s.sites);
    close_topics(&jobs[0].e, &t);
    int status = t.status;
    for (unsigned i = 0; i < n; i++) {
        status = status ? status : jobs[i].e.status;
        stats_job_free(&jobs[i]);
    }
    free(jobs);
    free(l.v);
    return status;
}
