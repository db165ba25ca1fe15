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

#include "bells.h"
#include "frame.h"
#include "losses.h"
#include "options.h"
#include "procs.h"
#include "scan.h"

#define SITE_CACHE_MAX (1u << 20)   /* site ids cached per process */
#define FD_HEADROOM 64u             /* descriptors never a process's (open_meta) */

static uint32_t next_key;

int meta_read(struct proc *p, void (*fn)(void *ctx), void *ctx)
{
    if (p->meta_faulted)
        return -EFAULT;
    if (shm_guarded(fn, ctx) == 0)
        return 0;
    p->meta_faulted = 1;
    shm_warn(PROG, "%s: the segment shrank under its mapping (SIGBUS): its call sites and categories are no longer read "
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

/* The owners' budgets. */
static struct uid_charge *charges;

static struct uid_charge *charge_of(uid_t uid)
{
    for (struct uid_charge *c = charges; c; c = c->next)
        if (c->uid == uid)
            return c;
    struct uid_charge *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->uid = uid;
    c->resume = UINT32_MAX;
    c->next = charges;
    return charges = c;
}

/* Takes bytes from p's owner's budget: 1, or 0 when it is spent (said once). */
static int charge(struct proc *p, uint64_t bytes)
{
    struct uid_charge *c = p->charge;
    if (c && c->bytes + bytes <= UID_BUDGET_BYTES) {
        c->bytes += bytes;
        return 1;
    }
    if (c)
        c->spent = 1;
    if (c && !c->warned++)
        shm_warn(PROG, "the call sites of uid %u's processes take the %llu MiB the collector keeps for one uid: the others "
              "are read again from their segments whenever needed, and that uid's rings are drained after the "
              "others' (slower for that uid's processes only)",
              (unsigned)c->uid, UID_BUDGET_BYTES >> 20);
    return 0;
}

int charges_new_pass(void)
{
    int ordered = 0;
    for (struct uid_charge *c = charges; c; c = c->next) {
        if (c->pass_bytes < PASS_SITE_BYTES) /* the last pass drained all it had: no one waits for a turn */
            c->resume = UINT32_MAX;
        c->pass_bytes = 0;
        ordered |= c->spent || c->resume != UINT32_MAX;
    }
    return ordered;
}

static void uncharge(struct proc *p, uint64_t bytes)
{
    if (p->charge) {
        p->charge->bytes -= bytes;
        p->charge->spent = 0; /* room again: its next charge that fails makes it late again */
    }
}


static uint64_t cached_bytes(const struct shm_site *s)
{
    return sizeof(struct cached_site) + s->fmt_len + s->file_len + s->func_len + s->desc_len + 4;
}

/* id's slot, made (and charged) if need be; NULL past the budget. */
static struct site_slot *site_slot(struct proc *p, uint32_t id)
{
    if (id >= p->nsites)
        return NULL;
    struct site_slot **page = &p->site_pages[id / SITE_PAGE];
    if (!*page && charge(p, SITE_PAGE * sizeof(**page)) && !(*page = calloc(SITE_PAGE, sizeof(**page))))
        uncharge(p, SITE_PAGE * sizeof(**page));
    return *page ? &(*page)[id % SITE_PAGE] : NULL;
}

static void site_expand(const struct cached_site *c, uint32_t id, struct shm_site *out)
{
    memcpy(out, c->head, sizeof(c->head));
    out->id = id;
    const char *t = c->text;
    memcpy(out->fmt, t, out->fmt_len + 1);
    memcpy(out->file, t += out->fmt_len + 1, out->file_len + 1);
    memcpy(out->func, t += out->file_len + 1, out->func_len + 1);
    memcpy(out->desc, t += out->func_len + 1, out->desc_len + 1);
}

static struct cached_site *site_compact(const struct shm_site *s)
{
    struct cached_site *c = malloc(cached_bytes(s));
    if (!c)
        return NULL;
    memcpy(c->head, s, sizeof(c->head));
    char *t = c->text;
    memcpy(t, s->fmt, s->fmt_len + 1);
    memcpy(t += s->fmt_len + 1, s->file, s->file_len + 1);
    memcpy(t += s->file_len + 1, s->func, s->func_len + 1);
    memcpy(t += s->func_len + 1, s->desc, s->desc_len + 1);
    return c;
}

const struct shm_site *site_of(struct proc *p, uint32_t id, struct site_slot **slot_out)
{
    static struct shm_site scratch;
    struct site_slot *slot = *slot_out = site_slot(p, id);
    if (slot && slot->site) {
        site_expand(slot->site, id, &scratch);
        return &scratch;
    }
    if (meta_site(p, id, &scratch) != 0)
        return NULL;
    if (slot && charge(p, cached_bytes(&scratch)) && !(slot->site = site_compact(&scratch)))
        uncharge(p, cached_bytes(&scratch));
    return &scratch;
}

/* Gives back what p's sites cost its owner. */
static void sites_free(struct proc *p)
{
    for (uint32_t k = 0; p->site_pages && k < (p->nsites + SITE_PAGE - 1) / SITE_PAGE; k++) {
        struct site_slot *page = p->site_pages[k];
        if (!page)
            continue;
        for (uint32_t i = 0; i < SITE_PAGE; i++)
            if (page[i].site) {
                struct shm_site lens; /* the head alone: the lengths cached_bytes counts */
                memcpy(&lens, page[i].site->head, sizeof(page[i].site->head));
                uncharge(p, cached_bytes(&lens));
                free(page[i].site);
            }
        uncharge(p, SITE_PAGE * sizeof(*page));
        free(page);
    }
    free(p->site_pages);
    free(p->threads.slots);
}

/* p exited (or shut down): no ring of it can appear after this moment. */
void proc_mark_gone(struct collector_state *c, struct proc *p)
{
    p->gone = 1;
    p->gone_listing = listings_begun(c->scan, p->dir);
    c->rings_changed++; /* its rings are read to their ends from now */
}

/* Opens the meta segment of a producer. 0, or -errno with err set. A process
 * is its owner and instance, as its rings are: a meta of one uid that claims
 * the pid and start time of another's process is a process of its own (its
 * records under its own uid), and never keeps the other's meta out. */
static int open_meta(struct collector_state *c, const char *path, int dir, const struct stat *st, char *err, size_t errcap)
{
    /* A process keeps its meta's descriptor. The last FD_HEADROOM are never
     * a process's: the collector must still make its files, list its
     * directories and open rings, so that processes end and give theirs back. */
    static int at_limit;
    if (c->nmetas + FD_HEADROOM >= c->nofile) {
        if (!at_limit++)
            shm_warn(PROG, "%" PRIu64 " processes take the descriptors this collector may have (%" PRIu64 "): the next wait "
                  "for one to end (their rings fill and drop, counted); raise LimitNOFILE= (ulimit -n)",
                  c->nmetas, c->nofile);
        snprintf(err, errcap, "%s: the descriptor limit is reached", path);
        return -EMFILE;
    }
    at_limit = 0;
    struct proc *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    int rc = shm_seg_open(&p->meta, path, SHM_OPEN_CLAIM, &c->opt->accept, err, errcap);
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
    p->charge = charge_of(p->meta.owner);
    p->site_pages = calloc((p->nsites + SITE_PAGE - 1) / SITE_PAGE + 1, sizeof(*p->site_pages));
    if (!p->site_pages) {
        shm_seg_close(&p->meta);
        free(p);
        return -ENOMEM;
    }
    c->nmetas++;
    /* Liveness is the producer's lock on its meta segment, which works in any
     * pid namespace and needs no descriptor but the meta's own. */
    p->alive_checked_ns = shm_mono_ns();
    if (!shm_meta_alive(&p->meta))
        proc_mark_gone(c, p);
    p->next = c->procs;
    c->procs = p;
    return 0;
}

/* The process a ring of directory dir belongs to (shm_ring_belongs), or
 * NULL with the reason in err. A ring made on 4 KiB pages when hugetlbfs was
 * full belongs to a process of another directory. */
static struct proc *owner_of(struct collector_state *c, const struct shm_seg *ring, int dir, char *err, size_t errcap)
{
    snprintf(err, errcap, "%s: no process of its directory has pid %u", ring->path, ring->hdr.pid);
    int elsewhere = (ring->hdr.flags & SHMLOG_SEG_FALLBACK) != 0;
    for (struct proc *p = c->procs; p; p = p->next)
        if ((p->dir == dir || elsewhere) && p->info.pid == ring->hdr.pid && !p->exit_queued &&
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
    r->bound = r->tail = r->read_pos;
}

/* Opens a ring segment of the process it belongs to. 0, or -errno with err
 * set. A ring of a process that cannot be read (its header makes no ring, it
 * shrank) stays with its process, unread: what it may hold is a counted loss,
 * and it goes with the process's other segments. */
static int open_ring(struct collector_state *c, const char *path, int dir, uint32_t cpu, const struct stat *st, char *err, size_t errcap)
{
    struct ring *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    struct proc *p = NULL;
    int rc = shm_seg_open(&r->seg, path, SHM_OPEN_WRITE, &c->opt->accept, err, errcap);
    if (rc == 0 && !(p = owner_of(c, &r->seg, dir, err, errcap))) {
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
    c->rings_changed++;
    struct ring_open o = {.r = r, .err = err, .errcap = errcap};
    if (shm_guarded(ring_open_read, &o) != 0) {
        snprintf(err, errcap, "%s: shrank while being opened (SIGBUS)", path);
        o.rc = -EFAULT;
    }
    if (!o.rc && r->view.rings_bell)
        r->bell = bell_of(p->meta.owner, &r->view);
    if (o.rc) {
        ring_mark_broken(r);
        shm_warn(PROG, "%s: not readable (%s): what it holds is counted as lost", path, err);
        ring_unreadable(c, r, o.tail, o.head);
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
 * tried again soon (FOUND_LATER); if its process is gone it never will be: it
 * cannot hold a record, so it is removed. Anything else is reported once:
 * for good (FOUND_FINAL) or looked at again at each listing (FOUND_RETRY).
 * owner_gone: a ring's process is known to have exited (its meta's lock
 * said so). A meta is its own witness: its lock, taken right after it was
 * created; the 2 s before one is removed cover that moment. */
static enum found open_failed(const struct shm_accept *accept, const char *path, unsigned kind, int owner_gone, const struct stat *st, int rc)
{
    if (rc == -EMFILE) /* waits for a descriptor: said once, tried at each listing */
        return FOUND_AGAIN;
    int unpublished = rc == -EAGAIN || (uint64_t)st->st_size < SHMLOG_RING_HEADER_BYTES;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int young = now.tv_sec - st->st_mtim.tv_sec < 2;
    if (kind == SHMLOG_SEG_META)
        owner_gone = !young && meta_unlocked(path);
    /* Only a file of a uid we accept is ours to remove. */
    if (unpublished && owner_gone && shm_accepts(accept, st->st_uid)) {
        if (unlink(path) == 0)
            shm_warn(PROG, "removed %s: never initialised by its process, which is gone", path);
        return FOUND_AGAIN;
    }
    if (rc == -EACCES)
        return FOUND_FINAL;
    if (unpublished && young)
        return FOUND_LATER; /* probably being created right now */
    return kind == SHMLOG_SEG_META && rc == -EPERM && !unpublished ? FOUND_FINAL : FOUND_RETRY;
}

/* Opens a meta (p NULL) or ring segment. The header reads can fault if the
 * file is truncated meanwhile: that is a failed open, not a crash (the
 * mapping of such a hostile file is then leaked). */
struct open_args {
    struct collector_state *c;
    const char *path;
    unsigned kind;
    int dir;
    uint32_t cpu;
    const struct stat *st;
    char *err;
    size_t errcap;
    int rc;
};

static void open_now(void *ctx)
{
    struct open_args *a = ctx;
    a->rc = a->kind == SHMLOG_SEG_RING ? open_ring(a->c, a->path, a->dir, a->cpu, a->st, a->err, a->errcap)
                                       : open_meta(a->c, a->path, a->dir, a->st, a->err, a->errcap);
}

static int open_guarded(struct collector_state *c, const char *path, unsigned kind, int dir, uint32_t cpu, const struct stat *st, char *err,
                        size_t errcap)
{
    struct open_args a = {c, path, kind, dir, cpu, st, err, errcap, 0};
    if (shm_guarded(open_now, &a) != 0) {
        snprintf(err, errcap, "%s: truncated while being opened (SIGBUS)", path);
        return -EFAULT;
    }
    return a.rc;
}

/* An open that may work at a later try: the ring may still be its process's. */
static int transient(int rc)
{
    return rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM || rc == -EINTR || rc == -EAGAIN;
}

enum found segment_found(struct collector_state *c, int dir, const char *path, unsigned kind, uint32_t pid, uint32_t cpu, const struct stat *st,
                         char *err, size_t errcap)
{
    int owner_gone = 0, candidates = 0, elsewhere = 0, all_gone = 1;
    if (kind == SHMLOG_SEG_RING) {
        for (struct proc *p = c->procs; p; p = p->next) {
            if (p->info.pid != pid || p->exit_queued)
                continue;
            if (p->dir != dir) {
                elsewhere++; /* another directory's: a ring made on 4 KiB pages when hugetlbfs was full */
                continue;
            }
            candidates++;
            owner_gone |= p->gone;
            all_gone &= p->gone;
        }
        if (!candidates && !elsewhere)
            return FOUND_LATER; /* a ring whose meta is not (yet) there */
    }
    int rc = open_guarded(c, path, kind, dir, cpu, st, err, errcap);
    if (!rc)
        return FOUND_OURS;
    /* It may be theirs: they wait for it, until a listing opens it. One never
     * published while they all are gone never will be, and holds nothing. */
    if (kind == SHMLOG_SEG_RING && transient(rc) && !(rc == -EAGAIN && all_gone))
        for (struct proc *p = c->procs; p; p = p->next)
            if (p->dir == dir && p->info.pid == pid && !p->exit_queued)
                p->ring_unsettled = listings_begun(c->scan, dir);
    if (rc == -EACCES)
        snprintf(err + strlen(err), errcap - strlen(err),
                 "; to drain it, add --allow-uid %u (or --allow-group with one of its groups)", (unsigned)st->st_uid);
    return open_failed(&c->opt->accept, path, kind, owner_gone && candidates == 1, st, rc);
}

struct meta_flags {
    const struct shm_seg *meta;
    uint32_t flags;
};

static void meta_flags_read(void *ctx)
{
    struct meta_flags *m = ctx;
    m->flags = shmlog__load_acquire(&((const struct shmlog_seg_header *)m->meta->addr)->flags);
}

/* How gone process p ended, as its EXIT says: it shut down, or died. */
enum shlog_exit_how proc_exit_how(struct proc *p)
{
    struct meta_flags m = {&p->meta, 0};
    (void)shm_guarded(meta_flags_read, &m);
    return m.flags & SHMLOG_SEG_CLOSED ? SHLOG_EXIT_SHUTDOWN : SHLOG_EXIT_DIED;
}

/* ==== What the file holds of a process: its categories and sites ==== */

/* A definition of a process already in the file: one the file has no room
 * for (what readers keep of a file's definitions, FORMAT.md) is left out of
 * it, its records written without it until the next file, which begins soon
 * (rotate_soon) and defines it again. */
static void defined(struct collector_state *c, int rc, const char *what)
{
    if (rc != -ENOSPC)
        check_enc(rc, what);
    note_defined(c);
}

struct categories_read {
    const struct shm_seg *meta;
    struct shm_categories *out;
};

static void categories_read(void *ctx)
{
    struct categories_read *c = ctx;
    shm_meta_categories(c->meta, c->out);
}

/* Names the process's own categories in the file, those up to id at least,
 * from its meta segment as it is now. */
void categories_name(struct collector_state *c, struct proc *p, unsigned id)
{
    if (p->cats_gen != c->cur->gen) {
        p->cats_gen = c->cur->gen;
        p->cats_named = SHMLOG_CAT_USER;
    }
    if (!p->cats && !(p->cats = malloc(sizeof *p->cats)))
        return;
    struct categories_read read = {&p->meta, p->cats};
    if (meta_read(p, categories_read, &read) != 0)
        memset(p->cats, 0, sizeof *p->cats);
    for (unsigned i = p->cats_named; i < p->cats->count; i++)
        if (p->cats->names[i][0])
            defined(c, shlog_enc_category(c->cur->enc, p->key, i, p->cats->names[i]), "a category");
    /* an id without a name is not looked up again in this file */
    p->cats_named = id < p->cats->count ? p->cats->count : id + 1;
}

void site_in_file_slow(struct collector_state *c, struct proc *p, uint32_t id)
{
    /* A site kept nowhere (its owner's budget is spent) is found in the file
     * by a lookup: reading it from its segment again costs kilobytes a record. */
    struct site_slot *slot = site_slot_peek(p, id);
    if ((!slot || !slot->site) && shlog_enc_has_site(c->cur->enc, p->key, id)) {
        if (slot)
            slot->file_gen = c->cur->gen;
        return;
    }
    const struct shm_site *site = site_of(p, id, &slot);
    if (site && p->charge)
        p->charge->pass_bytes += shlog_site_file_bytes(site);
    if (site)
        category_in_file(c, p, site->category);
    if (site && !shlog_enc_has_site(c->cur->enc, p->key, id))
        defined(c, shlog_enc_site(c->cur->enc, p->key, site), "a site");
    if (site && slot)
        slot->file_gen = c->cur->gen;
}

void record_in_file(struct collector_state *c, struct proc *p, uint32_t site, unsigned category, uint32_t tid)
{
    site_in_file(c, p, site);
    category_in_file(c, p, category);
    thread_in_file(c, p, tid);
}

/* tid's slot, made if make and there is room; NULL otherwise. */
static struct proc_thread *thread_slot(struct proc *p, uint32_t tid, int make)
{
    struct proc_threads *t = &p->threads;
    if (make && (t->count + 1) * 2 > t->cap && t->cap < 2 * PROC_THREADS_MAX) {
        uint32_t cap = t->cap ? t->cap * 2 : 16;
        struct proc_thread *slots = calloc(cap, sizeof(*slots));
        if (!slots)
            return NULL;
        for (uint32_t i = 0; i < t->cap; i++)
            if (t->slots[i].tid) {
                uint32_t j = t->slots[i].tid * 2654435761u & (cap - 1);
                while (slots[j].tid)
                    j = (j + 1) & (cap - 1);
                slots[j] = t->slots[i];
            }
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
        t->last = 0;
    }
    if (!t->cap)
        return NULL;
    uint32_t j = tid * 2654435761u & (t->cap - 1);
    while (t->slots[j].tid && t->slots[j].tid != tid)
        j = (j + 1) & (t->cap - 1);
    if (!t->slots[j].tid) {
        if (!make || t->count >= PROC_THREADS_MAX)
            return NULL;
        t->slots[j].tid = tid;
        t->count++;
    }
    t->last = j;
    return &t->slots[j];
}

struct thread_read {
    struct proc *p;
    uint32_t end; /* the table's published count */
};

static void threads_read(void *ctx)
{
    struct thread_read *tr = ctx;
    struct proc *p = tr->p;
    const struct shmlog_meta *m = p->meta.addr;
    uint32_t count = shmlog__load_acquire(&m->site_count);
    tr->end = count;
    for (uint32_t id = p->threads.scanned; id < count; id++) {
        uint32_t tid;
        char name[SHMLOG_THREAD_NAME_BYTES + 1];
        int rc = shm_meta_thread(&p->meta, id, &tid, name);
        if (rc < 0) {
            tr->end = id; /* past the capacity, or a table that moved: looked at again later */
            if (rc == -EINVAL)
                tr->end = id + 1; /* a thread of tid 0: never one */
            break;
        }
        p->threads.entries += rc == 0;
        struct proc_thread *t = rc == 0 ? thread_slot(p, tid, 1) : NULL;
        if (t && strcmp(t->name, name) != 0) { /* new, or renamed: written again */
            memcpy(t->name, name, sizeof(t->name));
            t->file_gen = 0;
        }
        p->threads.scanned = id + 1;
    }
}

void threads_scan(struct proc *p)
{
    if (p->meta.hdr.abi_version < 5)
        return;
    struct thread_read tr = {p, 0};
    meta_read(p, threads_read, &tr);
}

void thread_in_file_slow(struct collector_state *c, struct proc *p, uint32_t tid)
{
    struct proc_thread *t = thread_slot(p, tid, 0);
    if (!t) { /* a thread not seen yet: it may have named itself since the last look */
        threads_scan(p);
        t = thread_slot(p, tid, 1); /* named or not, so that its next records pass the inline check */
        if (!t)
            return;
    }
    if (t->name[0] && t->file_gen != c->cur->gen)
        defined(c, shlog_enc_thread(c->cur->enc, p->key, tid, t->name), "a thread");
    t->file_gen = c->cur->gen;
}

/* Unlinks a segment if the path still names the file we mapped. */
static void unlink_segment(const char *path, dev_t dev, ino_t ino)
{
    struct stat st;
    if (lstat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino && unlink(path) != 0)
        shm_warn(PROG, "cannot remove %s: %s", path, strerror(errno));
}

void ring_mark_broken(struct ring *r)
{
    r->broken = 1;
}

void ring_read_to(struct ring *r, uint64_t pos)
{
    r->read_pos = pos;
}

void ring_bound_to(struct ring *r, uint64_t bound)
{
    r->bound = bound;
}

struct release_at {
    struct ring *r;
    uint64_t pos;
};

static void release_now(void *ctx)
{
    const struct release_at *a = ctx;
    struct ring *r = a->r;
    shm_ring_release_below(&r->view, a->pos, r->bound);
    r->tail = (int64_t)(a->pos - r->bound) > 0 ? r->bound : a->pos; /* as it stored it */
}

void ring_release(struct ring *r, uint64_t pos)
{
    struct release_at a = {r, pos};
    if (!r->broken && shm_guarded(release_now, &a) != 0)
        ring_mark_broken(r);
}

void proc_ring_to_back(struct proc *p, struct ring *r)
{
    struct ring **at = &p->rings;
    while (*at && *at != r)
        at = &(*at)->next;
    if (!*at || !r->next)
        return;
    *at = r->next;
    struct ring *last = r->next;
    while (last->next)
        last = last->next;
    last->next = r;
    r->next = NULL;
}

int proc_liveness_due(struct proc *p, uint64_t now, uint64_t every_ns)
{
    if (p->gone || now - p->alive_checked_ns < every_ns)
        return 0;
    p->alive_checked_ns = now;
    return 1;
}

static void unclaim_now(void *ctx)
{
    const struct ring *r = ctx;
    shm_ring_unclaim(&r->view, (uint64_t)getpid());
}

/* Gives the ring back: the next collector need not wait for us. */
void ring_unclaim(struct ring *r)
{
    if (!r->broken && shm_guarded(unclaim_now, r) != 0)
        ring_mark_broken(r);
}

/* The ring's reserve head now, or where we are if the mapping is gone. */
uint64_t ring_head_now(struct ring *r)
{
    uint64_t head = r->read_pos;
    if (!r->broken && shm_ring_head_guarded(&r->view, &head) != 0)
        ring_mark_broken(r);
    return head;
}

static void ring_free(struct ring *r)
{
    ring_unclaim(r);
    shm_seg_close(&r->seg);
    free(r);
}

/* The EXIT of p is on disk: its segments are no longer needed (the caller freed
 * its rings' kept backtrace records). */
void proc_finalize(struct collector_state *c, struct proc *p)
{
    frame_forget(c, p);
    for (struct ring *r = p->rings, *next; r; r = next) {
        next = r->next;
        unlink_segment(r->seg.path, r->dev, r->ino);
        scan_detached(c->scan, p->dir, r->seg.path, r->ino);
        ring_free(r);
    }
    unlink_segment(p->meta.path, p->dev, p->ino);
    scan_detached(c->scan, p->dir, p->meta.path, p->ino);
    shm_seg_close(&p->meta);
    c->nmetas--;
    sites_free(p);
    free(p->cats);
    struct proc **pp = &c->procs;
    while (*pp && *pp != p)
        pp = &(*pp)->next;
    if (*pp)
        *pp = p->next;
    free(p);
}
