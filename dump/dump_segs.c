/*
 * dump_segs.c - the live segments, as every live command finds them: the
 * segment files of the --dir directories, opened read-only whoever owns them,
 * the dump's own anchor of the host's clock, a process's call sites and
 * threads' names as its records are rendered, and the SIGBUS guard around a
 * process's segments. The commands (dump_live.c, dump_ring.c, dump_status.c)
 * call it; it calls none of them.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "dump.h"

/* ==== Segment discovery ==== */

static int seg_entry_cmp(const void *a, const void *b)
{
    const struct seg_entry *x = a, *y = b;
    int c = strcmp(x->dir, y->dir);
    if (c)
        return c;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    c = strcmp(x->app, y->app);
    if (c)
        return c;
    if (x->kind != y->kind) /* the meta segment first */
        return x->kind == SHMLOG_SEG_META ? -1 : 1;
    return x->cpu < y->cpu ? -1 : x->cpu > y->cpu;
}

/* Collects the segment files of every directory, sorted by directory, process
 * and cpu. Returns 0, or 1 when an explicitly named directory is unreadable. */
int scan_dirs(const struct cli *cli, struct seg_list *list)
{
    int status = 0;
    for (int d = 0; d < cli->ndirs; d++) {
        DIR *dir = opendir(cli->dirs[d]);
        if (!dir) {
            if (cli->dirs_explicit) {
                fprintf(stderr, "%s: %s: %s\n", dump_prog, cli->dirs[d], strerror(errno));
                status = 1;
            }
            continue;
        }
        struct dirent *de;
        while ((de = readdir(dir)) != NULL) {
            struct seg_entry e;
            memset(&e, 0, sizeof e);
            if (shm_parse_seg_name(de->d_name, &e.kind, e.app, sizeof e.app, &e.pid, &e.cpu) != 0)
                continue;
            if (cli->filter.pid && e.pid != cli->filter.pid)
                continue;
            if ((size_t)snprintf(e.path, sizeof e.path, "%s/%s", cli->dirs[d], de->d_name) >= sizeof e.path)
                continue;
            e.dir = cli->dirs[d];
            if (list->n == list->cap) {
                size_t cap = list->cap ? list->cap * 2 : 64;
                struct seg_entry *v = realloc(list->v, cap * sizeof *v);
                if (!v) {
                    fprintf(stderr, "%s: out of memory listing %s\n", dump_prog, cli->dirs[d]);
                    closedir(dir);
                    return 1;
                }
                list->v = v;
                list->cap = cap;
            }
            list->v[list->n++] = e;
        }
        closedir(dir);
    }
    if (list->n)
        qsort(list->v, list->n, sizeof list->v[0], seg_entry_cmp);
    return status;
}

static int same_process(const struct seg_entry *a, const struct seg_entry *b)
{
    return a->dir == b->dir && a->pid == b->pid && strcmp(a->app, b->app) == 0;
}

/* The list is sorted by process: the end of the run of segments that starts at i. */
size_t process_run_end(const struct seg_list *list, size_t i)
{
    size_t end = i + 1;
    while (end < list->n && same_process(&list->v[i], &list->v[end]))
        end++;
    return end;
}

/* Opens a segment read-only. The dump is an inspection tool: it accepts any
 * owner whose file it may read (the reader validates the contents anyway). */
static const struct shm_accept inspector = {.any_owner = 1};

int open_segment(const struct seg_entry *e, struct shm_seg *seg, char *err, size_t errcap)
{
    return shm_seg_open(seg, e->path, SHM_OPEN_READ, &inspector, err, errcap);
}

int open_segment_writable(const struct seg_entry *e, struct shm_seg *seg, char *err, size_t errcap)
{
    return shm_seg_open(seg, e->path, SHM_OPEN_WRITE, &inspector, err, errcap);
}

/* Opens the ring at e if it belongs to meta (shm_ring_belongs), with its
 * view. 0, or -1 with the reason in err. */
int open_ring_of(const struct shm_seg *meta, const struct seg_entry *e, struct shm_seg *seg,
                        struct shm_ring_view *view, char *err, size_t errcap)
{
    if (open_segment(e, seg, err, errcap) != 0)
        return -1;
    if (shm_ring_belongs(meta, seg, err, errcap) != 0 || shm_ring_view_init(view, seg, err, errcap) != 0) {
        shm_seg_close(seg);
        return -1;
    }
    return 0;
}

/* The dump's own anchor of the host's clock, taken once, at the first live
 * segment it reads: recent records map as well as the collector's anchors
 * map them (shm/clock.h), with no collector running. */
const struct shm_clock_taker *live_clock(void)
{
    static struct shm_clock_taker taker;
    if (!taker.have_last) {
        struct shm_clock_anchor now;
        shm_clock_take(&taker, &now);
    }
    return &taker;
}

/* ==== What records of a live process need: its sites, its threads' names ==== */

/* A ring's records are shown as the collector of this machine will file them: host its default --host
 * (this machine's name), hostname the process's own (the two differ in a container). */
static const char *collector_host(void)
{
    static _Thread_local char name[SHMLOG_HOST_BYTES];
    if (!name[0] && gethostname(name, sizeof name - 1) != 0)
        snprintf(name, sizeof name, "localhost");
    return name;
}

const struct render_site *site_lookup(struct site_cache *c, uint32_t id)
{
    if (id < c->capacity && c->state[id] == 0) {
        static _Thread_local struct shm_site site; /* 9 KiB: not on a worker's stack */
        c->state[id] = 2;
        if (shm_meta_site(c->meta, id, &site) == 0 &&
            (c->sites[id] = render_site_new(&site, c->info->app, collector_host(), c->info->host, c->info->pid,
                                            c->info->instance, c->cats)) != NULL)
            c->state[id] = 1;
    }
    if (id < c->capacity && c->state[id] == 1)
        return c->sites[id];
    if (!c->unknown)
        c->unknown = render_site_new(NULL, c->info->app, collector_host(), c->info->host, c->info->pid,
                                     c->info->instance, c->cats);
    return c->unknown;
}

int site_cache_init(struct site_cache *c, const struct shm_seg *meta, const struct shm_proc_info *info,
                    const struct shm_categories *cats)
{
    uint32_t cap = info->site_capacity ? info->site_capacity : 1;
    *c = (struct site_cache){meta, info, cats, info->site_capacity, calloc(cap, sizeof(struct render_site *)),
                             calloc(cap, 1), NULL};
    return c->sites && c->state ? 0 : -ENOMEM;
}

void site_cache_free(struct site_cache *c)
{
    for (uint32_t i = 0; c->sites && i < c->capacity; i++)
        render_site_free(c->sites[i]);
    render_site_free(c->unknown);
    free(c->sites);
    free(c->state);
}

/* The name the process's THREAD entries give thread tid (its last entry: the
 * name it has now), or NULL. Records of one thread come in runs: for the tid
 * asked last, only entries published since are read. */
const char *thread_name_of(struct thread_names *t, const struct shm_seg *meta, uint32_t capacity, uint32_t tid)
{
    if (tid != t->tid || !t->scanned) {
        t->tid = tid;
        t->scanned = 0;
        t->named = 0;
    }
    for (uint32_t id = t->scanned; id < capacity; id++) {
        uint32_t entry_tid;
        char name[SHMLOG_THREAD_NAME_BYTES + 1];
        int rc = shm_meta_thread(meta, id, &entry_tid, name);
        if (rc == -ENOENT)
            break;
        t->scanned = id + 1;
        if (rc == 0 && entry_tid == tid) {
            memcpy(t->name, name, sizeof name);
            t->named = 1;
        }
    }
    return t->named ? t->name : NULL;
}

/* ==== The SIGBUS guard ==== */

/* A segment shrunk under us (see shm_bus_guard): on the fault the process is
 * reported and the dump goes on with the next one (its mappings are leaked
 * until exit). release, when given, frees what fn holds if a fault cuts it
 * short (fn keeps it in static storage: its own frame is gone after the jump). */
struct guarded_call {
    void (*fn)(const struct cli *, const struct seg_entry *, size_t);
    const struct cli *cli;
    const struct seg_entry *entries;
    size_t n;
};

static void guarded_run(void *ctx)
{
    const struct guarded_call *c = ctx;
    c->fn(c->cli, c->entries, c->n);
}

int guarded(void (*fn)(const struct cli *, const struct seg_entry *, size_t), void (*release)(void),
            const struct cli *cli, const struct seg_entry *entries, size_t n)
{
    struct guarded_call c = {fn, cli, entries, n};
    if (shm_guarded(guarded_run, &c) == 0)
        return 0;
    if (release)
        release();
    out_flush();
    fprintf(stderr, "%s: %s[%u]: a segment shrank while being read (SIGBUS); the rest of it is skipped\n", dump_prog,
            entries[0].app, entries[0].pid);
    return 1;
}
