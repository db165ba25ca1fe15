/*
 * dump_live.c - the commands on live segments' metadata: segments,
 * set-level, backtrace and clean. ring is in dump_ring.c, status in
 * dump_status.c; finding the segments is dump_segs.c's.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "dump.h"

/* ==== Segment lines ==== */

static const char *policy_name(uint32_t policy)
{
    switch (policy) {
    case SHMLOG_DROP: return "drop";
    case SHMLOG_OVERWRITE: return "overwrite";
    case SHMLOG_SPIN: return "spin";
    default: return "?";
    }
}

static void report_invalid(const struct cli *cli, const struct seg_entry *e, const char *err)
{
    struct render_buf b = out_begin();
    if (cli->json) {
        render_buf_puts(&b, "{\"kind\":\"invalid\"");
        put_json_kv_str(&b, "path", e->path);
        put_json_kv_str(&b, "error", err);
        render_buf_puts(&b, "}\n");
    } else {
        render_buf_puts(&b, "invalid ");
        put_text_safe(&b, err);
        render_buf_putc(&b, '\n');
    }
    out_end(&b);
}

/* ==== segments ==== */

/* The THREAD entries among a process's first n table entries (ABI 5): the
 * rest are its call sites. */
static uint32_t thread_entries(const struct shm_seg *seg, uint32_t n)
{
    uint32_t threads = 0;
    for (uint32_t id = 0; id < n; id++) {
        uint32_t tid;
        char name[SHMLOG_THREAD_NAME_BYTES + 1];
        threads += shm_meta_thread(seg, id, &tid, name) == 0;
    }
    return threads;
}

static void print_process(const struct cli *cli, const struct seg_entry *e, const struct shm_seg *seg,
                          const struct shm_proc_info *info, int alive)
{
    struct render_buf b = out_begin();
    uint32_t threads = thread_entries(seg, info->site_count);
    int huge = (seg->hdr.flags & SHMLOG_SEG_HUGEPAGES) != 0;
    int closed = (info->flags & SHMLOG_SEG_CLOSED) != 0;
    static struct shm_categories cats;
    shm_meta_categories(seg, &cats);
    if (cli->json) {
        render_buf_puts(&b, "{\"kind\":\"process\"");
        put_json_kv_str(&b, "path", e->path);
        put_json_kv_str(&b, "app", info->app);
        put_json_kv_u64(&b, "pid", info->pid);
        put_json_kv_str(&b, "host", info->host);
        put_json_kv_bool(&b, "alive", alive);
        put_json_kv_bool(&b, "closed", closed);
        put_json_kv_str(&b, "level", level_text(info->level));
        put_json_kv_u64(&b, "sites", info->site_count - threads);
        put_json_kv_u64(&b, "threads", threads);
        put_json_kv_u64(&b, "site_capacity", info->site_capacity);
        put_json_kv_u64(&b, "unregistered", info->unregistered);
        put_json_kv_u64(&b, "no_ring", info->no_ring);
        put_json_kv_u64(&b, "before_init", info->before_init);
        put_json_kv_u64(&b, "out_of_range", info->out_of_range);
        render_buf_puts(&b, ",\"levels\":{");
        for (unsigned i = 0; i < cats.count; i++) {
            if (!cats.names[i][0])
                continue;
            render_buf_puts(&b, i ? ",\"" : "\"");
            render_buf_puts(&b, cats.names[i]);
            render_buf_puts(&b, "\":\"");
            render_buf_puts(&b, level_text(cats.live[i]));
            render_buf_putc(&b, '"');
        }
        render_buf_putc(&b, '}');
        put_json_kv_bool(&b, "hugepages", huge);
        put_json_kv_u64(&b, "uid", info->uid);
        put_json_kv_u64(&b, "tsc_hz", info->tsc_hz);
        put_json_kv_u64(&b, "created_ns", info->created_ns);
        render_buf_puts(&b, "}\n");
    } else {
        put_text_safe(&b, info->app);
        render_buf_putc(&b, '[');
        render_buf_u64(&b, info->pid);
        render_buf_puts(&b, alive ? "] alive" : "] dead");
        if (closed)
            render_buf_puts(&b, " (closed)");
        render_buf_puts(&b, " level=");
        render_buf_puts(&b, level_text(info->level));
        render_buf_puts(&b, " sites=");
        render_buf_u64(&b, info->site_count - threads);
        render_buf_puts(&b, " threads=");
        render_buf_u64(&b, threads);
        render_buf_puts(&b, " table=");
        render_buf_u64(&b, info->site_count);
        render_buf_putc(&b, '/');
        render_buf_u64(&b, info->site_capacity);
        /* the categories whose level is not the process's */
        const char *sep = " levels=";
        for (unsigned i = 0; i < cats.count; i++) {
            if (!cats.names[i][0] || cats.live[i] == info->level)
                continue;
            render_buf_puts(&b, sep);
            render_buf_puts(&b, cats.names[i]);
            render_buf_putc(&b, ':');
            render_buf_puts(&b, level_text(cats.live[i]));
            sep = ",";
        }
        render_buf_puts(&b, " unregistered=");
        render_buf_u64(&b, info->unregistered);
        render_buf_puts(&b, " no_ring=");
        render_buf_u64(&b, info->no_ring);
        render_buf_puts(&b, " before_init=");
        render_buf_u64(&b, info->before_init);
        render_buf_puts(&b, " out_of_range=");
        render_buf_u64(&b, info->out_of_range);
        render_buf_puts(&b, huge ? " hugepages=yes" : " hugepages=no");
        render_buf_puts(&b, " host=");
        put_text_safe(&b, info->host);
        render_buf_puts(&b, " uid=");
        render_buf_u64(&b, info->uid);
        render_buf_puts(&b, " created=");
        render_buf_rfc3339(&b, info->created_ns);
        render_buf_puts(&b, " path=");
        put_text_safe(&b, e->path);
        render_buf_putc(&b, '\n');
    }
    out_end(&b);
}

static void print_ring(const struct cli *cli, const struct seg_entry *e, const struct shm_seg *seg,
                       const struct shm_ring_view *v, int alive)
{
    uint64_t head = shm_ring_head(v);
    uint64_t tail = shm_ring_tail(v);
    uint64_t fill = shm_ring_used(v, head, tail);
    uint64_t dropped = shm_ring_dropped(v);
    uint64_t lost = shmlog__load_relaxed(&v->hdr->lost);
    uint64_t published = shm_ring_published(v);
    int huge = (seg->hdr.flags & SHMLOG_SEG_HUGEPAGES) != 0;
    /* Tenths of a percent, in integers. */
    uint64_t permille = v->cap ? fill * 1000 / v->cap : 0;

    struct render_buf b = out_begin();
    if (cli->json) {
        render_buf_puts(&b, "{\"kind\":\"ring\"");
        put_json_kv_str(&b, "path", e->path);
        put_json_kv_str(&b, "app", e->app);
        put_json_kv_u64(&b, "pid", seg->hdr.pid);
        put_json_kv_bool(&b, "alive", alive);
        put_json_kv_u64(&b, "cpu", v->cpu);
        render_buf_puts(&b, ",\"node\":");
        render_buf_i64(&b, v->numa_node);
        put_json_kv_bool(&b, "hugepages", huge);
        put_json_kv_str(&b, "policy", policy_name(v->policy));
        put_json_kv_u64(&b, "capacity", v->cap);
        put_json_kv_u64(&b, "fill", fill);
        render_buf_puts(&b, ",\"fill_pct\":");
        render_buf_u64(&b, permille / 10);
        render_buf_putc(&b, '.');
        render_buf_u64(&b, permille % 10);
        put_json_kv_u64(&b, "head", head);
        put_json_kv_u64(&b, "tail", tail);
        if (v->publishes)
            put_json_kv_u64(&b, "published", published);
        put_json_kv_u64(&b, "dropped", dropped);
        put_json_kv_u64(&b, "lost", lost);
        render_buf_puts(&b, "}\n");
    } else {
        render_buf_puts(&b, "  cpu");
        render_buf_u64(&b, v->cpu);
        render_buf_puts(&b, " node=");
        render_buf_i64(&b, v->numa_node);
        render_buf_puts(&b, huge ? " hugepages=yes" : " hugepages=no");
        render_buf_puts(&b, " policy=");
        render_buf_puts(&b, policy_name(v->policy));
        render_buf_puts(&b, " capacity=");
        render_buf_u64(&b, v->cap);
        render_buf_puts(&b, " fill=");
        render_buf_u64(&b, fill);
        render_buf_puts(&b, " (");
        render_buf_u64(&b, permille / 10);
        render_buf_putc(&b, '.');
        render_buf_u64(&b, permille % 10);
        render_buf_puts(&b, "%) head=");
        render_buf_u64(&b, head);
        render_buf_puts(&b, " tail=");
        render_buf_u64(&b, tail);
        if (v->publishes) {
            render_buf_puts(&b, " published=");
            render_buf_u64(&b, published);
        }
        render_buf_puts(&b, " dropped=");
        render_buf_u64(&b, dropped);
        render_buf_puts(&b, " lost=");
        render_buf_u64(&b, lost);
        if (!alive)
            render_buf_puts(&b, " (writer dead)");
        render_buf_putc(&b, '\n');
    }
    out_end(&b);
}

/* One line per segment of one process. */
static void list_process(const struct cli *cli, const struct seg_entry *entries, size_t n)
{
    char err[4096 + 256];
    int alive = 0; /* of the run's meta segment (they come first): rings have no lock */
    for (size_t j = 0; j < n; j++) {
        const struct seg_entry *e = &entries[j];
        struct shm_seg seg;
        if (open_segment(e, &seg, err, sizeof err) != 0) {
            report_invalid(cli, e, err);
            continue;
        }
        if (e->kind == SHMLOG_SEG_META)
            alive = shm_meta_holder(&seg) >= 0;
        if (e->kind == SHMLOG_SEG_META) {
            struct shm_proc_info info;
            if (shm_meta_info(&seg, &info, err, sizeof err) != 0)
                report_invalid(cli, e, err);
            else
                print_process(cli, e, &seg, &info, alive);
        } else {
            struct shm_ring_view v;
            if (shm_ring_view_init(&v, &seg, err, sizeof err) != 0)
                report_invalid(cli, e, err);
            else
                print_ring(cli, e, &seg, &v, alive);
        }
        shm_seg_close(&seg);
    }
}

int cmd_segments(struct cli *cli)
{
    struct seg_list list = {0};
    int status = scan_dirs(cli, &list);
    shm_bus_guard_install();
    for (size_t i = 0; i < list.n;) {
        size_t end = process_run_end(&list, i);
        status |= guarded(list_process, NULL, cli, &list.v[i], end - i);
        i = end;
    }
    free(list.v);
    return status;
}

/* ==== set-level and backtrace: a store into the meta segments --pid/--app select ==== */

/* What a command does to one process's meta segment, mapped read-write and
 * validated: 0 done, 1 refused (it said why). */
typedef int (*meta_store)(struct cli *cli, const struct shm_seg *seg, const struct shm_proc_info *info);

/* Runs store on every meta segment --pid or --app selects; 0, or 1 when one
 * could not be opened or refused, or none matched (what says which command). */
static int each_selected_meta(struct cli *cli, const char *what, meta_store store)
{
    if (!cli->filter.pid && !cli->filter.app)
        usage_error("%s wants --pid P or --app A", what);
    struct seg_list list = {0};
    int status = scan_dirs(cli, &list);
    char err[4096 + 256];
    int matched = 0;
    for (size_t i = 0; i < list.n; i++) {
        const struct seg_entry *e = &list.v[i];
        if (e->kind != SHMLOG_SEG_META || (cli->filter.app && strcmp(e->app, cli->filter.app) != 0))
            continue;
        struct shm_seg seg;
        struct shm_proc_info info;
        if (open_segment_writable(e, &seg, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", dump_prog, err);
            status = 1;
            continue;
        }
        /* Validated before any store: a segment that is not a sound meta
         * segment is left alone. */
        err[0] = '\0';
        if (shm_meta_info(&seg, &info, err, sizeof err) != 0 || !read_filter_process(&cli->filter, info.app, info.pid)) {
            if (err[0])
                fprintf(stderr, "%s: %s\n", dump_prog, err);
            shm_seg_close(&seg);
            continue;
        }
        matched++;
        status |= store(cli, &seg, &info);
        shm_seg_close(&seg);
    }
    free(list.v);
    if (!matched) {
        fprintf(stderr, "%s: %s: no process matches\n", dump_prog, what);
        return 1;
    }
    return status;
}

/* "app[pid]: " */
static void put_process_head(struct render_buf *b, const struct shm_proc_info *info)
{
    put_text_safe(b, info->app);
    render_buf_putc(b, '[');
    render_buf_u64(b, info->pid);
    render_buf_puts(b, "]: ");
}

static int store_level(struct cli *cli, const struct shm_seg *seg, const struct shm_proc_info *info)
{
    unsigned level = (unsigned)parse_level(cli->positional[0], 1);
    static struct shm_categories cats;
    shm_meta_categories(seg, &cats);
    int category = -1;
    if (cli->filter.category[0]) {
        category = shm_category_find(&cats, cli->filter.category);
        if (category < 0) {
            fprintf(stderr, "%s: set-level: %s[%u] has no category '%s' (it has:", dump_prog, info->app, info->pid,
                    cli->filter.category);
            for (unsigned c = 0; c < cats.count; c++)
                if (cats.names[c][0])
                    fprintf(stderr, " %s", cats.names[c]);
            fprintf(stderr, ")\n");
            return 1;
        }
    }
    /* what every category had, for a store into all of them */
    int same = 1;
    for (unsigned c = 1; c < cats.count && c < SHMLOG_MAX_CATEGORIES; c++)
        same &= cats.live[c] == cats.live[0];
    int old = shm_meta_set_level(seg, category, level);
    if (old < 0) {
        fprintf(stderr, "%s: set-level: %s[%u] logs with one level for all categories (an older shmlog.h)\n",
                dump_prog, info->app, info->pid);
        return 1;
    }
    int alive = shm_meta_holder(seg) >= 0;
    struct render_buf b = out_begin();
    if (category < 0 && !same && cats.count) {
        /* one line per category it changed: "app[pid]: venue: DEBUG -> INFO" */
        for (unsigned c = 0; c < cats.count && c < SHMLOG_MAX_CATEGORIES; c++) {
            if (cats.live[c] == level || !cats.names[c][0])
                continue;
            put_process_head(&b, info);
            render_buf_puts(&b, cats.names[c]);
            render_buf_puts(&b, ": ");
            render_buf_puts(&b, level_text(cats.live[c]));
            render_buf_puts(&b, " -> ");
            render_buf_puts(&b, level_text(level));
            render_buf_puts(&b, alive ? "\n" : " (the process is not running)\n");
        }
        out_end(&b);
        return 0;
    }
    put_process_head(&b, info);
    if (category >= 0) {
        render_buf_puts(&b, cats.names[category]);
        render_buf_puts(&b, ": ");
    }
    render_buf_puts(&b, level_text((uint32_t)old));
    render_buf_puts(&b, " -> ");
    render_buf_puts(&b, level_text(level));
    render_buf_puts(&b, alive ? "\n" : " (the process is not running)\n");
    out_end(&b);
    return 0;
}

int cmd_set_level(struct cli *cli)
{
    if (cli->npositional != 1)
        usage_error("set-level wants a LEVEL");
    if (parse_level(cli->positional[0], 1) < 0)
        usage_error("set-level wants TRACE, DEBUG, INFO, WARN, ERROR, FATAL or OFF, not '%s'", cli->positional[0]);
    return each_selected_meta(cli, "set-level", store_level);
}

/* Asks the collector for what a process keeps. */
static int store_backtrace_request(struct cli *cli, const struct shm_seg *seg, const struct shm_proc_info *info)
{
    (void)cli;
    if (info->backtrace_level >= SHMLOG_LEVEL_OFF) {
        fprintf(stderr,
                "%s: backtrace: %s[%u] keeps no backtrace (start it with backtrace_level set in "
                "struct shmlog_config)\n",
                dump_prog, info->app, info->pid);
        return 1;
    }
    if (shm_meta_request_backtrace(seg) < 0) /* a version 3 meta keeps no backtrace: said above */
        return 1;
    int alive = shm_meta_holder(seg) >= 0;
    struct render_buf b = out_begin();
    put_process_head(&b, info);
    render_buf_puts(&b, "backtrace requested (the collector writes the last ");
    render_buf_u64(&b, info->backtrace_records);
    render_buf_puts(&b, " records per cpu from ");
    render_buf_puts(&b, level_text(info->backtrace_level));
    render_buf_puts(&b, alive ? " it kept)\n" : " it kept; the process is not running)\n");
    out_end(&b);
    return 0;
}

int cmd_backtrace(struct cli *cli)
{
    return each_selected_meta(cli, "backtrace", store_backtrace_request);
}

/* ==== clean: the segments of processes that are gone ==== */

/* Records in a ring that no collector released: read as a collector would
 * read a dead writer's ring (at most one lap). *slots: positions in use. */
static uint64_t records_not_drained(const struct shm_ring_view *v, uint64_t *slots)
{
    uint64_t pos = shm_ring_tail(v), head = shm_ring_head(v), n = 0;
    *slots = shm_ring_used(v, head, pos);
    if (head - pos > v->cap)
        pos = head - v->cap;
    struct shm_copied_record rec;
    struct shm_loss loss;
    for (uint64_t steps = 0; steps <= v->cap; steps++) {
        int st = shm_ring_next(v, &pos, &rec, 1, &loss);
        if (st == SHM_READ_RECORD)
            n++;
        else if (st == SHM_READ_LOSS)
            n += loss.records;
        else
            break;
    }
    return n;
}

/* The rings of one gone process (entries of its run that belong to meta), or
 * of none (meta NULL: rings whose meta segment is missing, which nothing can
 * decode): counted, then removed with meta when nothing would be lost or
 * --force. Returns 0, or 1 when something was kept or could not go. */
static int clean_process(const struct cli *cli, const struct shm_seg *meta, const char *what,
                         const struct seg_entry *entries, size_t n, char *claimed)
{
    char err[4096 + 256];
    uint64_t records = 0, slots = 0;
    size_t rings = 0;
    /* A collector that runs drains the process: it holds the meta's
     * SHMLOG_LOCK_COLLECTOR (a pid in a ring's header may be anyone's by now). */
    int busy = meta && shm_meta_drained(meta);
    for (size_t i = 0; i < n; i++) {
        struct shm_seg seg;
        struct shm_ring_view v;
        if (entries[i].kind != SHMLOG_SEG_RING || claimed[i])
            continue;
        if (meta && open_ring_of(meta, &entries[i], &seg, &v, err, sizeof err) != 0)
            continue;
        if (!meta && open_segment(&entries[i], &seg, err, sizeof err) != 0)
            continue;
        if (!meta && shm_ring_view_init(&v, &seg, err, sizeof err) != 0) {
            shm_seg_close(&seg);
            continue;
        }
        /* a ring made on 4 KiB pages when hugetlbfs was full: its meta is
         * there, and it is no orphan while its process runs */
        if (!meta && (seg.hdr.flags & SHMLOG_SEG_FALLBACK) &&
            (kill((pid_t)seg.hdr.pid, 0) == 0 || errno == EPERM)) {
            shm_seg_close(&seg);
            continue;
        }
        claimed[i] = 2; /* ours: removed below if the process goes */
        uint64_t used;
        records += records_not_drained(&v, &used);
        slots += used;
        rings++;
        shm_seg_close(&seg);
    }
    if (busy) {
        printf("%s: kept: a running collector drains it\n", what);
        return 0;
    }
    if (records && !cli->force) {
        printf("%s: kept: %llu record(s) never drained; start shmlog-collector, or discard them with clean --force\n",
               what, (unsigned long long)records);
        return 1;
    }
    int status = 0;
    for (size_t i = 0; i < n; i++)
        if (claimed[i] == 2) {
            claimed[i] = 1;
            if (unlink(entries[i].path) != 0) {
                fprintf(stderr, "%s: cannot remove %s: %s\n", dump_prog, entries[i].path, strerror(errno));
                status = 1;
            }
        }
    if (meta && unlink(meta->path) != 0) {
        fprintf(stderr, "%s: cannot remove %s: %s\n", dump_prog, meta->path, strerror(errno));
        status = 1;
    }
    if (records)
        printf("%s: removed %zu ring(s); discarded %llu record(s) never drained (%llu slots)\n", what, rings,
               (unsigned long long)records, (unsigned long long)slots);
    else
        printf("%s: removed (%zu ring(s), nothing left to drain)\n", what, rings);
    return status;
}

/* What clean found, kept where a fault cutting clean_run short leaves it. */
static struct {
    int status;
    size_t gone;   /* processes found gone */
    char *claimed; /* of the run being cleaned */
} cleaning;

static void clean_release(void)
{
    free(cleaning.claimed);
    cleaning.claimed = NULL;
    cleaning.status = 1;
}

/* The segments of one pid in one directory (a run of scan_dirs). */
static void clean_run(const struct cli *cli, const struct seg_entry *entries, size_t n)
{
    char err[4096 + 256], what[4096 + 128];
    char *claimed = cleaning.claimed = calloc(n, 1);
    if (!claimed) {
        fprintf(stderr, "%s: out of memory\n", dump_prog);
        cleaning.status = 1;
        return;
    }
    for (size_t m = 0; m < n && entries[m].kind == SHMLOG_SEG_META; m++) {
        struct shm_seg meta;
        struct shm_proc_info info;
        if (open_segment(&entries[m], &meta, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s (left alone)\n", dump_prog, err);
            continue;
        }
        if (shm_meta_info(&meta, &info, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s (left alone)\n", dump_prog, err);
            shm_seg_close(&meta);
            continue;
        }
        if (shm_meta_holder(&meta) < 0) {
            snprintf(what, sizeof what, "%s (%s[%u], gone)", entries[m].path, info.app, info.pid);
            cleaning.status |= clean_process(cli, &meta, what, entries, n, claimed);
            cleaning.gone++;
        }
        shm_seg_close(&meta);
    }
    /* Rings of a pid whose directory holds no meta segment of it. */
    if (entries[0].kind == SHMLOG_SEG_RING) {
        snprintf(what, sizeof what, "%s/%s-%u-cpu*.ring (no metadata segment)", entries[0].dir, entries[0].app,
                 entries[0].pid);
        cleaning.status |= clean_process(cli, NULL, what, entries, n, claimed);
        cleaning.gone++;
    }
    free(claimed);
    cleaning.claimed = NULL;
}

int cmd_clean(struct cli *cli)
{
    struct seg_list list = {0};
    int status = scan_dirs(cli, &list);
    shm_bus_guard_install();
    for (size_t i = 0; i < list.n;) {
        size_t end = process_run_end(&list, i);
        status |= guarded(clean_run, clean_release, cli, &list.v[i], end - i);
        i = end;
    }
    if (!cleaning.gone)
        printf("no segments of processes that are gone\n");
    free(list.v);
    return status | cleaning.status;
}
