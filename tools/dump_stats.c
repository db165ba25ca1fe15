/* dump_stats.c - shmlog-dump stats: what it counts while the sources decode, and its report in text or JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump_files.h"

#define TOP_SITES 20
#define STATS_CATEGORIES 256

/* What stats reports: counted as the inputs decode. */
static struct {
    uint64_t levels[8], records, lost[SHM_LOSS_REASON_MAX + 1], duplicates, frames, bad_frames, torn;
    uint64_t clamped, backtrace; /* records flagged so */
    /* By category name: the built-in ones by id, the processes' own by name
     * (at most STATS_CATEGORIES names over all processes; others unnamed). */
    uint64_t categories[SHMLOG_CAT_COUNT], unnamed_category;
    struct { char name[SHMLOG_CATEGORY_NAME_BYTES]; uint64_t n; } own[STATS_CATEGORIES];
    unsigned nown;
    uint64_t first_ns, last_ns, file_bytes, nfiles;
    struct hmap apps; /* app name hash -> app_count */
    struct clock_stats {
        uint64_t anchors, steps, process_calibrated; /* process_calibrated: records mapped without anchors */
        struct shm_clock_anchor prev; /* the last anchor seen: a step between two shows in their offsets */
        uint32_t max_err_ns;
        struct shlog_clock_info last; /* the state the newest section gave */
        uint64_t max_esterror_ns;
        uint64_t unsynchronized;      /* anchors taken while the kernel said its clock was not */
    } clock;
} stats;

/* ==== Counting ==== */

static void stats_category(const struct dproc *p, unsigned category)
{
    if (category < SHMLOG_CAT_COUNT) {
        stats.categories[category]++;
        return;
    }
    const char *name = p ? shm_categories_name(p->cats, category) : NULL;
    for (unsigned i = 0; name && i < stats.nown; i++)
        if (strcmp(stats.own[i].name, name) == 0) {
            stats.own[i].n++;
            return;
        }
    if (!name || stats.nown == STATS_CATEGORIES) {
        stats.unnamed_category++;
        return;
    }
    snprintf(stats.own[stats.nown].name, sizeof stats.own[0].name, "%s", name);
    stats.own[stats.nown++].n = 1;
}

void stats_record(const struct dproc *p, struct dsite *d, const struct shm_copied_record *rec, uint64_t ts)
{
    stats.records++;
    stats.levels[rec->level & 7]++;
    stats_category(p, rec->category);
    stats.clamped += (rec->flags & SHMLOG_REC_CLAMPED) != 0;
    stats.backtrace += (rec->flags & SHMLOG_REC_BACKTRACE) != 0;
    if (d)
        d->records++;
    if (!stats.first_ns || ts < stats.first_ns)
        stats.first_ns = ts;
    if (ts > stats.last_ns)
        stats.last_ns = ts;
}

void stats_loss(const struct shm_loss *loss)
{
    if (loss->reason <= SHM_LOSS_REASON_MAX)
        stats.lost[loss->reason] += loss->records;
}

void stats_unanchored_record(void)
{
    stats.clock.process_calibrated++;
}

void stats_anchor(const struct shlog_event *ev)
{
    struct clock_stats *c = &stats.clock;
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

void stats_file_closed(const struct shlog_reader_stats *st)
{
    stats.frames += st->frames;
    stats.bad_frames += st->bad_frames;
    stats.torn += st->torn;
    stats.duplicates += st->duplicates;
}

struct app_count {
    char name[SHMLOG_APP_BYTES];
    uint64_t n;
};

static void count_app(const char *app, uint64_t n)
{
    /* FNV-1a of the name; the name itself is kept with its count. */
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = app; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    struct app_count *a = hmap_get(&stats.apps, h, 0);
    if (!a) {
        if (stats.apps.n >= 65536 || !(a = calloc(1, sizeof *a)) || hmap_put(&stats.apps, h, 0, a) != 0) {
            free(a);
            return;
        }
        snprintf(a->name, sizeof a->name, "%s", app);
    }
    a->n += n;
}

/* ==== The report ==== */

static int site_count_cmp(const void *a, const void *b)
{
    const struct dsite *x = *(const struct dsite *const *)a, *y = *(const struct dsite *const *)b;
    if (x->records != y->records)
        return x->records > y->records ? -1 : 1;
    return strcmp(x->file ? x->file : "", y->file ? y->file : "");
}

static void put_rate(struct render_buf *b, const char *fmt, double v)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, fmt, v);
    render_buf_puts(b, tmp);
}


/* "name":count for every non-zero one of the 8 counters, comma-separated. */
/* Row i of the categories stats shows (the built-in ones, the processes'
 * own, then the unnamed "?") and its name; rows run to category_rows(). */
static unsigned category_rows(void) { return SHMLOG_CAT_COUNT + stats.nown + 1; }

static uint64_t category_row(unsigned i, const char **name)
{
    if (i < SHMLOG_CAT_COUNT) {
        *name = shm_category_name(i);
        return stats.categories[i];
    }
    if (i < SHMLOG_CAT_COUNT + stats.nown) {
        *name = stats.own[i - SHMLOG_CAT_COUNT].name;
        return stats.own[i - SHMLOG_CAT_COUNT].n;
    }
    *name = "?";
    return stats.unnamed_category;
}

static void put_json_categories(struct render_buf *b)
{
    for (unsigned i = 0, n = 0; i < category_rows(); i++) {
        const char *name;
        uint64_t count = category_row(i, &name);
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
static void put_clock_stats(struct render_buf *b, int json)
{
    const struct clock_stats *c = &stats.clock;
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

/* What stats reports beyond the counters: the sites with records, most
 * first, and the totals and rates made of the counters. */
struct stats_summary {
    struct dsite **sites;
    size_t nsites;
    uint64_t lost_total;
    double span;       /* seconds from the first record to the last */
    double per_record; /* bytes on disk */
    double rate;       /* records per second over the span */
};

/* Reads every input to its end: each event counted as it is decoded. */
static void stats_count(struct cli *cli, struct in_list *l, struct source **srcs, size_t *nsrc)
{
    if (collect_inputs(cli, l) != 0)
        oom();
    for (size_t i = 0; i < l->n; i++)
        stats.file_bytes += l->v[i].bytes;
    stats.nfiles = l->n;
    *srcs = make_sources(l, nsrc);
    for (size_t i = 0; i < *nsrc; i++)
        while (source_step(&(*srcs)[i]))
            ;
}

static void stats_summarize(struct stats_summary *s)
{
    /* apps and sites */
    for (struct dsite *d = running->all_sites; d; d = d->next_all)
        if (d->records)
            count_app(d->proc->info.app, d->records);
    size_t nsites = 0;
    for (struct dsite *d = running->all_sites; d; d = d->next_all)
        nsites += d->records != 0;
    s->sites = calloc(nsites ? nsites : 1, sizeof *s->sites);
    if (!s->sites)
        oom();
    nsites = 0;
    for (struct dsite *d = running->all_sites; d; d = d->next_all)
        if (d->records)
            s->sites[nsites++] = d;
    qsort(s->sites, nsites, sizeof *s->sites, site_count_cmp);
    s->nsites = nsites;
    /* Records of sites the files never defined count under "?". */
    s->lost_total = 0;
    for (unsigned i = 0; i <= SHM_LOSS_REASON_MAX; i++)
        s->lost_total += stats.lost[i];
    s->span = stats.last_ns > stats.first_ns ? (double)(stats.last_ns - stats.first_ns) / 1e9 : 0;
    s->per_record = stats.records ? (double)stats.file_bytes / (double)stats.records : 0;
    s->rate = s->span > 0 ? (double)stats.records / s->span : 0;
}

/* ---- JSON: one object ---- */

/* "apps":{"name":count,...} without the key */
static void put_json_apps(struct render_buf *b)
{
    for (size_t i = 0, n = 0; i < stats.apps.cap; i++) {
        struct app_count *a = stats.apps.slots[i].v;
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
static void put_json_site(struct render_buf *b, const struct dsite *d, size_t i)
{
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
    put_json_kv_u64(b, "records", d->records);
    render_buf_putc(b, '}');
}

/* The counters, then the top sites, each written out on its own. */
static void stats_json(struct render_buf *b, const struct stats_summary *s)
{
    render_buf_puts(b, "{\"files\":");
    render_buf_u64(b, stats.nfiles);
    put_json_kv_u64(b, "bytes", stats.file_bytes);
    put_json_kv_u64(b, "frames", stats.frames);
    put_json_kv_u64(b, "bad_frames", stats.bad_frames);
    put_json_kv_u64(b, "torn", stats.torn);
    put_json_kv_u64(b, "records", stats.records);
    put_json_kv_u64(b, "duplicates", stats.duplicates);
    render_buf_puts(b, ",\"bytes_per_record\":");
    render_json_double(b, s->per_record, 0);
    put_json_kv_u64(b, "first_ns", stats.first_ns);
    put_json_kv_u64(b, "last_ns", stats.last_ns);
    render_buf_puts(b, ",\"span_s\":");
    render_json_double(b, s->span, 0);
    render_buf_puts(b, ",\"records_per_s\":");
    render_json_double(b, s->rate, 0);
    put_clock_stats(b, 1);
    render_buf_puts(b, ",\"losses\":{\"total\":");
    render_buf_u64(b, s->lost_total);
    for (unsigned r = SHM_LOSS_DROPPED; r <= SHM_LOSS_REASON_MAX; r++)
        put_json_kv_u64(b, shm_loss_reason_name(r), stats.lost[r]);
    render_buf_puts(b, "},\"levels\":{");
    put_json_counts(b, stats.levels, shm_level_name);
    render_buf_puts(b, "},\"categories\":{");
    put_json_categories(b);
    render_buf_putc(b, '}');
    put_json_kv_u64(b, "clamped", stats.clamped);
    put_json_kv_u64(b, "backtrace", stats.backtrace);
    render_buf_puts(b, ",\"apps\":{");
    put_json_apps(b);
    render_buf_puts(b, "},\"sites\":[");
    out_end(b);
    for (size_t i = 0; i < s->nsites && i < TOP_SITES; i++) {
        *b = out_begin();
        put_json_site(b, s->sites[i], i);
        out_end(b);
    }
    *b = out_begin();
    render_buf_puts(b, "]}\n");
}

/* ---- Text: one screen ---- */

/* "files: ...", "records: ..." and, when there are records, "time: ..." */
static void put_text_totals(struct render_buf *b, const struct stats_summary *s)
{
    char line[256];
    snprintf(line, sizeof line, "files: %llu, %llu bytes on disk, %llu frames (%llu damaged%s)\n",
             (unsigned long long)stats.nfiles, (unsigned long long)stats.file_bytes,
             (unsigned long long)stats.frames, (unsigned long long)stats.bad_frames,
             stats.torn ? ", torn tail" : "");
    render_buf_puts(b, line);
    snprintf(line, sizeof line, "records: %llu (%llu duplicates dropped), %.2f bytes on disk per record\n",
             (unsigned long long)stats.records, (unsigned long long)stats.duplicates, s->per_record);
    render_buf_puts(b, line);
    if (stats.records) {
        render_buf_puts(b, "time: ");
        render_buf_rfc3339(b, stats.first_ns);
        render_buf_puts(b, " .. ");
        render_buf_rfc3339(b, stats.last_ns);
        put_rate(b, " (%.3f s)", s->span);
        put_rate(b, ", %.0f records/s\n", s->rate);
    }
}

/* "losses: N records, reason n, ..." (no newline) */
static void put_text_losses(struct render_buf *b, const struct stats_summary *s)
{
    char line[256];
    snprintf(line, sizeof line, "losses: %llu records", (unsigned long long)s->lost_total);
    render_buf_puts(b, line);
    for (unsigned r = SHM_LOSS_DROPPED; r <= SHM_LOSS_REASON_MAX; r++)
        if (stats.lost[r]) {
            snprintf(line, sizeof line, ", %s %llu", shm_loss_reason_name(r), (unsigned long long)stats.lost[r]);
            render_buf_puts(b, line);
        }
}

/* label, then " NAME count (share%)" for every non-zero one of the 8 counters. */
static void put_text_counts(struct render_buf *b, const char *label, const uint64_t counts[8],
                            const char *(*name)(unsigned))
{
    render_buf_puts(b, label);
    for (unsigned i = 0; i < 8; i++)
        if (counts[i]) {
            render_buf_putc(b, ' ');
            render_buf_puts(b, name(i) ? name(i) : "?");
            render_buf_putc(b, ' ');
            put_share(b, counts[i], stats.records);
        }
}

static void put_text_categories(struct render_buf *b)
{
    render_buf_puts(b, "\nby category:");
    for (unsigned i = 0; i < category_rows(); i++) {
        const char *name;
        uint64_t n = category_row(i, &name);
        if (!n)
            continue;
        render_buf_putc(b, ' ');
        render_buf_puts(b, name);
        render_buf_putc(b, ' ');
        put_share(b, n, stats.records);
    }
    if (stats.clamped || stats.backtrace) {
        char line[160];
        snprintf(line, sizeof line, "\nflagged: clamped %llu (level or category out of range), backtrace %llu",
                 (unsigned long long)stats.clamped, (unsigned long long)stats.backtrace);
        render_buf_puts(b, line);
    }
}

static void put_text_apps(struct render_buf *b)
{
    render_buf_puts(b, "\nby app:");
    for (size_t i = 0; i < stats.apps.cap; i++) {
        struct app_count *a = stats.apps.slots[i].v;
        if (!a)
            continue;
        render_buf_putc(b, ' ');
        put_text_safe(b, a->name);
        render_buf_putc(b, ' ');
        put_share(b, a->n, stats.records);
    }
}

/* "  count share%  app file.c:line format" */
static void put_text_site(struct render_buf *b, const struct dsite *d)
{
    char line[256];
    snprintf(line, sizeof line, "  %12llu %5.1f%%  ", (unsigned long long)d->records,
             stats.records ? 100.0 * (double)d->records / (double)stats.records : 0.0);
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
static void stats_text(struct render_buf *b, const struct stats_summary *s)
{
    char line[256];
    put_text_totals(b, s);
    put_clock_stats(b, 0);
    put_text_losses(b, s);
    put_text_counts(b, "\nby level:", stats.levels, shm_level_name);
    put_text_categories(b);
    put_text_apps(b);
    snprintf(line, sizeof line, "\ntop sites (%zu with records):\n", s->nsites);
    render_buf_puts(b, line);
    out_end(b);
    for (size_t i = 0; i < s->nsites && i < TOP_SITES; i++) {
        *b = out_begin();
        put_text_site(b, s->sites[i]);
        out_end(b);
    }
    *b = out_begin();
}

int cmd_stats(struct cli *cli)
{
    begin(cli, MODE_STATS);
    struct in_list l = {0};
    struct source *srcs;
    size_t nsrc;
    stats_count(cli, &l, &srcs, &nsrc);
    struct stats_summary s;
    stats_summarize(&s);

    struct render_buf b = out_begin();
    if (cli->json)
        stats_json(&b, &s);
    else
        stats_text(&b, &s);
    out_end(&b);

    for (size_t i = 0; i < stats.apps.cap; i++)
        free(stats.apps.slots[i].v);
    hmap_clear(&stats.apps);
    free(s.sites);
    free_sources(srcs, nsrc);
    free(l.v);
    return running->status;
}
