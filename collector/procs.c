/*
 * procs.c - processes and their segments: finding them (inotify and
 * rescans), opening and attributing them, their call sites, liveness, the
 * end of a process that is gone, and removing its segments.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"

#define SITE_CACHE_MAX (1u << 20)   /* site ids cached per process */
#define ALIVE_CHECK_NS 100000000ull /* how often a process's lock is asked */
#define FD_HEADROOM 64u             /* descriptors never a process's (open_meta) */

static uint32_t next_key;
/* Listings of each directory begun and completed: a process seen gone is
 * finalized only after a listing begun later has completed, which found
 * every ring it made (a dead process makes none). */
static uint64_t listings_begun[MAX_DIRS], listings_done[MAX_DIRS];
static int inotify_fd;
static int watch[MAX_DIRS];
/* While opt.dirs[i] does not exist: a watch on its nearest existing
 * ancestor, and the name that appears there on the way to it. */
static int ancestor_watch[MAX_DIRS];
static char ancestor_child[MAX_DIRS][256];
/* segments that failed to open: reported once */
static struct bad_seg { char path[4400]; ino_t ino; int final; struct bad_seg *next; } *bad_segs;

int meta_read(struct proc *p, void (*fn)(void *ctx), void *ctx)
{
    if (p->meta_faulted)
        return -EFAULT;
    if (shm_guarded(fn, ctx) == 0)
        return 0;
    p->meta_faulted = 1;
    warnx("%s: the segment shrank under its mapping (SIGBUS): its call sites and categories are no longer read "
          "(its records are written without them)", p->meta.path);
    return -EFAULT;
}

struct site_read {
    const struct shm_seg *meta;
    uint32_t id;
    struct shm_site *out;
    int rc;
};

static void site_read(void *ctx)
{
    struct site_read *s = ctx;
    s->rc = shm_meta_site(s->meta, s->id, s->out);
}

/* A copy of site id of p's meta: 0, or -errno. */
static int meta_site(struct proc *p, uint32_t id, struct shm_site *out)
{
    struct site_read s = {&p->meta, id, out, -EFAULT};
    meta_read(p, site_read, &s);
    return s.rc;
}

/* The site a record names, read from the meta segment once; NULL if the
 * process never published a valid one (then its records are stored raw). */
const struct shm_site *site_of(struct proc *p, uint32_t id, struct site_slot **slot_out)
{
    static struct shm_site scratch;
    *slot_out = NULL;
    if (id < p->nsites) {
        struct site_slot *s = &p->sites[id];
        *slot_out = s;
        if (s->info)
            return s->info;
        struct shm_site *info = malloc(sizeof(*info));
        if (info && meta_site(p, id, info) == 0) {
            s->info = info;
            return info;
        }
        free(info);
        return NULL;
    }
    return meta_site(p, id, &scratch) == 0 ? &scratch : NULL;
}

static int known_path(const char *path)
{
    for (struct proc *p = col.procs; p; p = p->next) {
        if (strcmp(p->meta.path, path) == 0)
            return 1;
        for (struct ring *r = p->rings; r; r = r->next)
            if (strcmp(r->seg.path, path) == 0)
                return 1;
    }
    return 0;
}

static struct bad_seg *find_bad(const char *path, ino_t ino)
{
    for (struct bad_seg *b = bad_segs; b; b = b->next)
        if (b->ino == ino && strcmp(b->path, path) == 0)
            return b;
    return NULL;
}

/* Reports a segment that failed validation once per (path, inode). final: it
 * is never opened again, though what made it fail may change (a refused
 * meta's claimed process exits, and could no longer be told from it). */
static void report_bad(const char *path, ino_t ino, const char *why, int final)
{
    if (find_bad(path, ino))
        return;
    struct bad_seg *b = calloc(1, sizeof(*b));
    if (b) {
        snprintf(b->path, sizeof(b->path), "%s", path);
        b->ino = ino;
        b->final = final;
        b->next = bad_segs;
        bad_segs = b;
    }
    col.rejected++;
    warnx("ignoring segment: %s", why);
}

/* p exited (or shut down): no ring of it can appear after this moment. */
static void mark_gone(struct proc *p)
{
    p->gone = 1;
    p->gone_listing = listings_begun[p->dir];
}

/* Opens the meta segment of a producer. 0, or -errno with err set. A process
 * is its owner and instance, as its rings are: a meta of one uid that claims
 * the pid and start time of another's process is a process of its own (its
 * records under its own uid), and never keeps the other's meta out. */
static int open_meta(const char *path, int dir, const struct stat *st, char *err, size_t errcap)
{
    /* A process keeps its meta's descriptor. The last FD_HEADROOM are never
     * a process's: the collector must still make its files, list its
     * directories and open rings, so that processes end and give theirs back. */
    static int at_limit;
    if (col.nmetas + FD_HEADROOM >= col.nofile) {
        if (!at_limit++)
            warnx("%" PRIu64 " processes take the descriptors this collector may have (%" PRIu64 "): the next wait "
                  "for one to end (their rings fill and drop, counted); raise LimitNOFILE= (ulimit -n)",
                  col.nmetas, col.nofile);
        snprintf(err, errcap, "%s: the descriptor limit is reached", path);
        return -EMFILE;
    }
    at_limit = 0;
    struct proc *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    int rc = shm_seg_open(&p->meta, path, SHM_OPEN_CLAIM, &opt.accept, err, errcap);
    if (rc == 0 && ((rc = shm_meta_info(&p->meta, &p->info, err, errcap)) != 0 ||
                    (rc = shm_meta_attribution(&p->meta, &p->info, err, errcap)) != 0))
        shm_seg_close(&p->meta);
    /* One collector per process: the lock the kernel takes back with it. */
    if (rc == 0 && (rc = shm_meta_claim(&p->meta)) != 0) {
        if (rc == -EBUSY)
            snprintf(err, errcap, "%s: drained by another collector (it holds the meta's lock)", path);
        else
            snprintf(err, errcap, "%s: cannot take the meta's collector lock: %s", path, strerror(-rc));
        shm_seg_close(&p->meta);
    }
    if (rc) {
        free(p);
        return rc;
    }
    p->dir = dir;
    p->dev = st->st_dev;
    p->ino = st->st_ino;
    p->key = ++next_key;
    p->nsites = p->info.site_capacity < SITE_CACHE_MAX ? p->info.site_capacity : SITE_CACHE_MAX;
    p->sites = calloc(p->nsites ? p->nsites : 1, sizeof(*p->sites));
    if (!p->sites) {
        shm_seg_close(&p->meta);
        free(p);
        return -ENOMEM;
    }
    col.nmetas++;
    /* Liveness is the producer's lock on its meta segment, which works in any
     * pid namespace and needs no descriptor but the meta's own. */
    p->alive_checked_ns = mono_ns();
    if (!shm_meta_alive(&p->meta))
        mark_gone(p);
    p->next = col.procs;
    col.procs = p;
    return 0;
}

/* The process a ring of directory dir belongs to (shm_ring_belongs), or
 * NULL with the reason in err. */
static struct proc *owner_of(const struct shm_seg *ring, int dir, char *err, size_t errcap)
{
    snprintf(err, errcap, "%s: no process of its directory has pid %u", ring->path, ring->hdr.pid);
    for (struct proc *p = col.procs; p; p = p->next)
        if (p->dir == dir && p->info.pid == ring->hdr.pid && !p->exit_queued &&
            shm_ring_belongs(&p->meta, ring, err, errcap) == 0)
            return p;
    return NULL;
}

/* The part of opening a ring that reads it, once it is known to be p's. */
struct ring_open {
    struct ring *r;
    char *err;
    size_t errcap;
    int rc;
    uint64_t tail, head; /* as the header says, for a ring that cannot be read */
};

static void ring_open_read(void *ctx)
{
    struct ring_open *o = ctx;
    struct ring *r = o->r;
    const struct shmlog_ring *h = r->seg.addr;
    o->tail = shmlog__load_acquire(&h->tail);
    o->head = shmlog__load_acquire(&h->head);
    if (shm_ring_view_init(&r->view, &r->seg, o->err, o->errcap) != 0) {
        o->rc = -EINVAL;
        return;
    }
    shm_ring_claim(&r->view, (uint64_t)getpid()); /* ours: its process's meta lock says so (open_meta) */
    r->read_pos = shm_ring_tail(&r->view); /* a restart resumes here; the reader drops repeats */
    r->bound = r->read_pos;
}

/* Opens a ring segment of the process it belongs to. 0, or -errno with err
 * set. A ring of a process that cannot be read (its header makes no ring, it
 * shrank) stays with its process, unread: what it may hold is a counted loss,
 * and it goes with the process's other segments. */
static int open_ring(const char *path, int dir, uint32_t cpu, const struct stat *st, char *err, size_t errcap)
{
    struct ring *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    struct proc *p = NULL;
    int rc = shm_seg_open(&r->seg, path, SHM_OPEN_WRITE, &opt.accept, err, errcap);
    if (rc == 0 && !(p = owner_of(&r->seg, dir, err, errcap))) {
        rc = -EPERM;
        shm_seg_close(&r->seg);
    }
    if (rc) {
        free(r);
        return rc;
    }
    r->proc = p;
    r->cpu = cpu;
    r->dev = st->st_dev;
    r->ino = st->st_ino;
    r->next = p->rings;
    p->rings = r;
    struct ring_open o = {.r = r, .err = err, .errcap = errcap};
    if (shm_guarded(ring_open_read, &o) != 0) {
        snprintf(err, errcap, "%s: shrank while being opened (SIGBUS)", path);
        o.rc = -EFAULT;
    }
    if (o.rc) {
        r->broken = 1;
        warnx("%s: not readable (%s): what it holds is counted as lost", path, err);
        lose_unreadable_ring(p, cpu, o.tail, o.head);
    }
    return 0;
}

/* 1 if no process holds the lock of the meta segment at path: its creator
 * (which locks it first thing) is gone, or never got that far. */
static int meta_unlocked(const char *path)
{
    struct shm_seg probe = {.fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)};
    if (probe.fd < 0)
        return 0;
    int unlocked = shm_meta_holder(&probe) < 0;
    close(probe.fd);
    return unlocked;
}

/* A segment that did not open. One still being created (no header yet) is
 * retried quietly; if its process is gone it never will be: it cannot hold a
 * record, so it is removed. Anything else is reported once and left alone.
 * owner_gone: a ring's process is known to have exited (its meta's lock
 * said so). A meta is its own witness: its lock, taken right after it was
 * created; the 2 s before one is removed cover that moment. */
static void open_failed(const char *path, unsigned kind, int owner_gone, const struct stat *st, int rc,
                        const char *err)
{
    if (rc == -EMFILE) /* waits for a descriptor: said once, tried at each listing */
        return;
    int unpublished = rc == -EAGAIN || (uint64_t)st->st_size < SHMLOG_RING_HEADER_BYTES;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int young = now.tv_sec - st->st_mtim.tv_sec < 2;
    if (kind == SHMLOG_SEG_META)
        owner_gone = !young && meta_unlocked(path);
    /* Only a file of a uid we accept is ours to remove. */
    if (unpublished && owner_gone && shm_accepts(&opt.accept, st->st_uid)) {
        if (unlink(path) == 0)
            warnx("removed %s: never initialised by its process, which is gone", path);
        return;
    }
    if (rc == -EACCES) {
        char why[4700];
        snprintf(why, sizeof(why), "%s; to drain it, add --allow-uid %u (or --allow-group with one of its groups)",
                 err, (unsigned)st->st_uid);
        report_bad(path, st->st_ino, why, 1);
        return;
    }
    if (unpublished && young)
        return; /* probably being created right now */
    report_bad(path, st->st_ino, err, kind == SHMLOG_SEG_META && rc == -EPERM && !unpublished);
}

/* Opens a meta (p NULL) or ring segment. The header reads can fault if the
 * file is truncated meanwhile: that is a failed open, not a crash (the
 * mapping of such a hostile file is then leaked). */
static int open_guarded(const char *path, unsigned kind, int dir, uint32_t cpu, const struct stat *st, char *err,
                        size_t errcap)
{
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0) != 0) {
        shm_bus_guard = NULL;
        snprintf(err, errcap, "%s: truncated while being opened (SIGBUS)", path);
        return -EFAULT;
    }
    shm_bus_guard = &jb;
    int rc = kind == SHMLOG_SEG_RING ? open_ring(path, dir, cpu, st, err, errcap) : open_meta(path, dir, st, err, errcap);
    shm_bus_guard = NULL;
    return rc;
}

/* An open that may work at a later try: the ring may still be its process's. */
static int transient(int rc)
{
    return rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM || rc == -EINTR || rc == -EAGAIN;
}

struct seg_name {
    char name[256];
    unsigned kind;
    char app[SHMLOG_APP_BYTES];
    uint32_t pid, cpu;
};

static void scan_dir(int dir_index)
{
    const char *dir = opt.dirs[dir_index];
    uint64_t listing = ++listings_begun[dir_index];
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) /* no directory: no ring either */
            listings_done[dir_index] = listing;
        return;
    }
    struct seg_name *v = NULL;
    size_t n = 0, cap = 0;
    int complete = 1;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d))) {
        struct seg_name s;
        if (strlen(de->d_name) >= sizeof(s.name) ||
            shm_parse_seg_name(de->d_name, &s.kind, s.app, sizeof(s.app), &s.pid, &s.cpu) != 0)
            continue;
        snprintf(s.name, sizeof(s.name), "%s", de->d_name);
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            struct seg_name *nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                complete = 0;
                break;
            }
            v = nv;
        }
        v[n++] = s;
        errno = 0;
    }
    if (errno)
        complete = 0;
    closedir(d);
    /* Metas first: a ring is attached to its process's meta. */
    for (int pass = 0; pass < 2; pass++) {
        unsigned want = pass == 0 ? SHMLOG_SEG_META : SHMLOG_SEG_RING;
        for (size_t i = 0; i < n; i++) {
            if (v[i].kind != want)
                continue;
            char path[4400];
            snprintf(path, sizeof(path), "%s/%s", dir, v[i].name);
            struct stat st;
            struct bad_seg *bad;
            if (known_path(path) || lstat(path, &st) != 0 || ((bad = find_bad(path, st.st_ino)) && bad->final))
                continue;
            char err[4608];
            int rc;
            if (!S_ISREG(st.st_mode)) { /* a symlink planted in the directory is never followed */
                snprintf(err, sizeof(err), "%s: not a regular file", path);
                report_bad(path, st.st_ino, err, 1);
                continue;
            }
            int owner_gone = 0, candidates = 0, all_gone = 1;
            if (want == SHMLOG_SEG_RING) {
                for (struct proc *p = col.procs; p; p = p->next)
                    if (p->dir == dir_index && p->info.pid == v[i].pid && !p->exit_queued) {
                        candidates++;
                        owner_gone |= p->gone;
                        all_gone &= p->gone;
                    }
                if (!candidates)
                    continue; /* a ring whose meta is not (yet) there waits for a later scan */
            }
            rc = open_guarded(path, want, dir_index, v[i].cpu, &st, err, sizeof(err));
            /* It may be theirs: they wait for it. One never published
             * while they all are gone never will be, and holds nothing. */
            if (rc && want == SHMLOG_SEG_RING && transient(rc) && !(rc == -EAGAIN && all_gone))
                for (struct proc *p = col.procs; p; p = p->next)
                    if (p->dir == dir_index && p->info.pid == v[i].pid && !p->exit_queued)
                        p->ring_unsettled = listing;
            if (rc)
                open_failed(path, want, owner_gone && candidates == 1, &st, rc, err);
        }
    }
    free(v);
    listings_done[dir_index] = complete ? listing : listings_done[dir_index];
}

/* At start: the inotify instance (without one, the rescans find everything), no watch yet. */
void watch_init(void)
{
    inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd < 0)
        warnx("inotify: %s (falling back to rescans)", strerror(errno));
    for (int i = 0; i < MAX_DIRS; i++)
        watch[i] = ancestor_watch[i] = -1;
}

#define DIR_EVENTS (IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_CLOSE_WRITE)

static void unwatch_ancestor(int i)
{
    int wd = ancestor_watch[i];
    ancestor_watch[i] = -1;
    if (wd < 0)
        return;
    for (int j = 0; j < opt.ndirs; j++)
        if (watch[j] == wd || ancestor_watch[j] == wd)
            return; /* still needed */
    inotify_rm_watch(inotify_fd, wd);
}

/* Watches the nearest existing ancestor of dir i, which does not exist: the
 * first producer usually makes it, and without a watch the collector would
 * find it only at the next rescan, up to RESCAN_NS later, while the
 * producer's ring fills. Called again on each event there, so the watch
 * moves down as the path is made, one directory at a time. */
static void watch_ancestor(int i)
{
    char path[sizeof(opt.dirs[0])];
    snprintf(path, sizeof(path), "%s", opt.dirs[i]);
    for (;;) {
        char *slash = strrchr(path, '/');
        if (!slash || !slash[1])
            return; /* a relative name, or a trailing slash: the rescans find it */
        snprintf(ancestor_child[i], sizeof(ancestor_child[i]), "%s", slash + 1);
        if (slash == path)
            slash[1] = '\0'; /* the root */
        else
            *slash = '\0';
        /* IN_MASK_ADD: the ancestor may be a watched directory itself. The
         * same directory gives the same descriptor. */
        int wd = inotify_add_watch(inotify_fd, path, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR | IN_MASK_ADD);
        if (wd >= 0 || errno != ENOENT) {
            if (wd != ancestor_watch[i]) {
                unwatch_ancestor(i);
                ancestor_watch[i] = wd;
            }
            return;
        }
    }
}

static void watch_dirs(void)
{
    if (inotify_fd < 0)
        return;
    for (int i = 0; i < opt.ndirs; i++) {
        if (watch[i] < 0)
            watch[i] = inotify_add_watch(inotify_fd, opt.dirs[i], DIR_EVENTS);
        if (watch[i] >= 0)
            unwatch_ancestor(i);
        else if (errno == ENOENT)
            watch_ancestor(i);
    }
}

void scan_all(void)
{
    watch_dirs();
    for (int i = 0; i < opt.ndirs; i++)
        scan_dir(i);
}

/* 1 if inotify reported something in a watched directory, or the creation
 * of a step towards one that does not exist yet. */
int inotify_pending(void)
{
    if (inotify_fd < 0)
        return 0;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    int any = 0;
    for (;;) {
        ssize_t n = read(inotify_fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            for (int i = 0; i < opt.ndirs; i++) {
                if (watch[i] == ev->wd) {
                    any = 1;
                    if (ev->mask & IN_IGNORED) /* the directory went away: watch again later */
                        watch[i] = -1;
                }
                if (ancestor_watch[i] == ev->wd) {
                    /* Other names come and go there (/dev/shm): only ours counts. */
                    if (ev->len && !strcmp(ev->name, ancestor_child[i]))
                        any = 1;
                    if (ev->mask & IN_IGNORED) {
                        ancestor_watch[i] = -1;
                        any = 1;
                    }
                }
            }
            p += sizeof(*ev) + ev->len;
        }
    }
    return any;
}

/* Marks producers that exited or shut down: their meta's lock is free. A
 * process's lock is asked at most every ALIVE_CHECK_NS (all: at once), so
 * that hundreds of processes cost an idle collector little; its loss
 * counters and backtrace requests are read each time. */
void check_liveness(int all)
{
    uint64_t now = mono_ns();
    for (struct proc *p = col.procs; p; p = p->next) {
        if (p->gone)
            continue;
        proc_losses(p);
        backtrace_poll(p);
        if (!all && now - p->alive_checked_ns < ALIVE_CHECK_NS)
            continue;
        p->alive_checked_ns = now;
        if (!shm_meta_alive(&p->meta))
            mark_gone(p);
    }
}

/* A gone producer: its rings drained to the end (uncommitted slots become
 * losses), then an EXIT section; the segments go once that frame is on disk. */
static enum shlog_exit_how exit_how(struct proc *p)
{
    volatile uint32_t flags = 0;
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0) == 0) {
        shm_bus_guard = &jb;
        flags = shmlog__load_acquire(&((const struct shmlog_seg_header *)p->meta.addr)->flags);
    }
    shm_bus_guard = NULL;
    return flags & SHMLOG_SEG_CLOSED ? SHLOG_EXIT_SHUTDOWN : SHLOG_EXIT_DIED;
}

/* Whether gone process p may get its EXIT: a listing of its directory begun
 * after it was seen gone has completed, and found no ring naming it that
 * could not be opened for now. Before, a ring it made after the last listing
 * could be left behind, unread, its records never counted. */
static int rings_settled(const struct proc *p)
{
    uint64_t done = listings_done[p->dir];
    return done > p->gone_listing && p->ring_unsettled != done;
}

/* Drains gone p's rings to their ends into the frame being built: 1, or 0
 * when the frame filled and cannot go out yet (the rest waits for a later
 * call, the loop goes on). */
static int drain_to_end(struct proc *p)
{
    for (struct ring *r = p->rings; r; r = r->next) {
        for (;;) {
            if ((col.flush_soon || frame_full()) && !flush_frame(0) && frame_full())
                return 0;
            if (r->broken || drain_ring(r, DRAIN_BUDGET, 0) == 0)
                break;
        }
        if (r->quarantined) /* what its writers added after it was abandoned */
            lose_abandoned(r);
    }
    return 1;
}

void finish_gone(void)
{
    size_t n = 0;
    int listing = 0;
    for (struct proc *p = col.procs; p; p = p->next)
        if (p->gone && !p->exit_queued) {
            n++;
            listing |= !rings_settled(p);
        }
    if (!n)
        return;
    if (listing)
        scan_all(); /* a listing after the deaths seen so far */
    n = 0;
    for (struct proc *p = col.procs; p; p = p->next)
        n += p->gone && !p->exit_queued && rings_settled(p);
    if (!n)
        return;
    /* A copy of the list: flushing below may finalize (free) other processes. */
    struct proc **gone = malloc(n * sizeof(*gone));
    if (!gone) {
        warnx("out of memory");
        exit(1);
    }
    n = 0;
    for (struct proc *p = col.procs; p; p = p->next)
        if (p->gone && !p->exit_queued && rings_settled(p))
            gone[n++] = p;
    for (size_t i = 0; i < n; i++) {
        struct proc *p = gone[i];
        if (!drain_to_end(p))
            break;
        proc_losses(p);
        check_enc(end_batch(), "a batch");
        check_enc(ensure_process(p), "a process");
        check_enc(shlog_enc_exit(col.cur->enc, p->key, real_ns(), p->records, p->lost, exit_how(p)), "an exit");
        note_exit(p);
        p->exit_queued = 1;
        mark_content();
        col.flush_soon = 1;
    }
    free(gone);
}

/* Unlinks a segment if the path still names the file we mapped. */
static void unlink_segment(const char *path, dev_t dev, ino_t ino)
{
    struct stat st;
    if (lstat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino && unlink(path) != 0)
        warnx("cannot remove %s: %s", path, strerror(errno));
}

/* Gives the ring back: the next collector need not wait for us. */
void ring_unclaim(struct ring *r)
{
    if (r->broken)
        return;
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0) == 0) {
        shm_bus_guard = &jb;
        shm_ring_unclaim(&r->view, (uint64_t)getpid());
    } else {
        r->broken = 1;
    }
    shm_bus_guard = NULL;
}

/* The ring's reserve head now, or where we are if the mapping is gone. */
uint64_t ring_head_now(struct ring *r)
{
    volatile uint64_t head = r->read_pos;
    if (r->broken)
        return head;
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0) == 0) {
        shm_bus_guard = &jb;
        head = shm_ring_head(&r->view);
    } else {
        r->broken = 1;
    }
    shm_bus_guard = NULL;
    return head;
}

static void ring_free(struct ring *r)
{
    backtrace_free(r);
    ring_unclaim(r);
    shm_seg_close(&r->seg);
    free(r);
}

/* The EXIT of p is on disk: its segments are no longer needed. */
void proc_finalize(struct proc *p)
{
    frame_forget(p);
    for (struct ring *r = p->rings, *next; r; r = next) {
        next = r->next;
        unlink_segment(r->seg.path, r->dev, r->ino);
        ring_free(r);
    }
    unlink_segment(p->meta.path, p->dev, p->ino);
    shm_seg_close(&p->meta);
    col.nmetas--;
    for (uint32_t i = 0; i < p->nsites; i++)
        free(p->sites[i].info);
    free(p->sites);
    free(p->cats);
    struct proc **pp = &col.procs;
    while (*pp && *pp != p)
        pp = &(*pp)->next;
    if (*pp)
        *pp = p->next;
    free(p);
}
