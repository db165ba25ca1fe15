/*
 * scan.c - finding segments: inotify on the segment directories (names as
 * they come), listings of the directories in slices between drain passes
 * (the fallback, once a second, or sooner when a process ended), and the
 * table of files already looked at, so that each file costs one look.
 *
 * Any local user may put files in a shared segment directory. What a uid the
 * collector does not accept put there is refused by its owner before any
 * other work (one line per uid, not per file) and never looked at again: it
 * costs an entry of the table (SEEN_BYTES) up to SEEN_MAX files, and no
 * stderr line, open or map at all.
 *
 * The table is keyed by a file's name (a seeded hash) and inode: a name that
 * is deleted (IN_DELETE, IN_MOVED_FROM) leaves the table, and a table whose
 * directory has no inotify watch (or whose events overflowed) is not trusted,
 * so an inode number given to a new file is never taken for an old one's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "options.h"
#include "scan.h"

#define SCAN_SLICE 512u                  /* listing entries looked at between two drain passes */
#define LISTING_ASKED_GAP_NS 100000000ull /* a listing asked for begins at most this often */
#define NOTIFY_NS 2000000ull              /* inotify read at most this often */
#define NOTIFY_READS 8u                   /* reads of 8 KiB of events at a time, at most */
#define YOUNG_MAX 4096u                   /* names being tried so */
#define DEFERRED_MAX 4096u                /* rings of a listing waiting for its metas */
#define SEEN_MAX (1u << 18)               /* files the table keeps; past it, each is looked at again */
#define REFUSED_UIDS_MAX 64u              /* uids said once each */

/* ==== The table of files looked at ==== */

enum seen_state {
    SEEN_FREE = 0,
    SEEN_DELETED, /* a slot freed in a probe chain */
    SEEN_OURS,    /* a segment of a process we drain */
    SEEN_FINAL,   /* refused for good: a uid not accepted, not a regular file, a lying meta */
    SEEN_RETRY,   /* refused for now (reported): looked at again at each listing */
};

struct seen {
    uint64_t key; /* name_key */
    uint64_t ino;
    uint8_t state;
    uint8_t dir;
};
_Static_assert(sizeof(struct seen) == 24, "SEEN_BYTES in the man page");

struct seen_table {
    struct seen *v;
    size_t cap;   /* slots, a power of two */
    size_t n;     /* entries */
    size_t used;  /* entries and freed slots */
    size_t kept;  /* entries that are not SEEN_OURS: bounded by SEEN_MAX */
};

/* Names tried again soon: segments being made (no header yet), rings whose
 * meta was not there yet. */
struct young {
    int dir;
    uint64_t since;
    char name[256];
};

/* A directory's listings. */
struct listing {
    int active;         /* one is going on */
    int watched;        /* the one going on began under an inotify watch */
    int trusted;        /* the last complete one began under a watch that has lost no event since */
    DIR *d;
    uint64_t begun;     /* listings begun */
    uint64_t done;      /* the last one completed */
    uint64_t begun_ns;  /* mono ns the last one began; 0: never */
    int asked;          /* scan_soon */
    int complete;       /* the one going on saw every entry so far */
    char (*rings)[256]; /* its rings whose meta it had not opened yet */
    size_t nrings;
};

/* What scan.c keeps: made by scan_new, handed to each call. */
struct scan {
    struct seen_table seen;
    uint64_t seed;                       /* random: names an attacker chooses do not collide at will */
    segment_found_fn found_cb;           /* what a segment file found becomes */
    struct collector_state *found_ctx;   /* found_cb's, passed through */
    uint64_t rejected;                   /* segment files refused */
    int inotify_fd;                      /* -1: none */
    int watch[MAX_DIRS];                 /* inotify watches of the directories (-1: none) */
    /* While --dir i does not exist: a watch on its nearest existing
     * ancestor, and the name that appears there on the way to it. */
    int ancestor_watch[MAX_DIRS];
    char ancestor_child[MAX_DIRS][256];
    struct young young[YOUNG_MAX];       /* names tried again soon */
    size_t nyoung;
    struct listing lists[MAX_DIRS];
    uid_t said[REFUSED_UIDS_MAX];        /* uids refused, said once each */
    size_t nsaid;
    uint64_t notified;                   /* scan_step: when inotify was last read */
};

static uint64_t name_key(struct scan *sc, int dir, const char *name)
{
    uint64_t h = sc->seed ^ ((uint64_t)dir * 0x9E3779B97F4A7C15ull);
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        h = (h ^ *c) * 0x100000001B3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

static size_t slot_of(struct scan *sc, uint64_t key) { return (size_t)key & (sc->seen.cap - 1); }

/* The entry of the file named key with inode ino; with any_ino, of whatever
 * file has the name (one, unless a deletion was missed). */
static struct seen *seen_probe(struct scan *sc, uint64_t key, uint64_t ino, int any_ino)
{
    if (!sc->seen.cap)
        return NULL;
    for (size_t i = slot_of(sc, key);; i = (i + 1) & (sc->seen.cap - 1)) {
        struct seen *s = &sc->seen.v[i];
        if (s->state == SEEN_FREE)
            return NULL;
        if (s->state != SEEN_DELETED && s->key == key && (any_ino || s->ino == ino))
            return s;
    }
}

static struct seen *seen_find(struct scan *sc, uint64_t key, uint64_t ino) { return seen_probe(sc, key, ino, 0); }

static void seen_remove(struct scan *sc, struct seen *s)
{
    if (s->state != SEEN_OURS)
        sc->seen.kept--;
    s->state = SEEN_DELETED;
    sc->seen.n--;
}

static int seen_grow(struct scan *sc)
{
    size_t cap = sc->seen.cap ? sc->seen.cap : 1024;
    while (cap < 2 * (sc->seen.n + 1))
        cap *= 2;
    struct seen *v = calloc(cap, sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t j = 0; j < sc->seen.cap; j++) {
        const struct seen *s = &sc->seen.v[j];
        if (s->state == SEEN_FREE || s->state == SEEN_DELETED)
            continue;
        size_t i = (size_t)s->key & (cap - 1);
        while (v[i].state != SEEN_FREE)
            i = (i + 1) & (cap - 1);
        v[i] = *s;
    }
    free(sc->seen.v);
    sc->seen.v = v;
    sc->seen.cap = cap;
    sc->seen.used = sc->seen.n;
    return 0;
}

/* Records what a file is. Only our own segments are kept past SEEN_MAX, and
 * only what a watched directory holds is kept at all (see the top). */
static void seen_put(struct scan *sc, int dir, uint64_t key, uint64_t ino, enum seen_state state)
{
    struct seen *s = seen_find(sc, key, ino);
    if (s) {
        if (s->state == SEEN_OURS && state != SEEN_OURS)
            sc->seen.kept++;
        else if (s->state != SEEN_OURS && state == SEEN_OURS)
            sc->seen.kept--;
        s->state = (uint8_t)state;
        return;
    }
    if (state != SEEN_OURS && (sc->seen.kept >= SEEN_MAX || sc->watch[dir] < 0))
        return;
    if ((sc->seen.used + 1) * 10 > sc->seen.cap * 7 && seen_grow(sc) != 0)
        return;
    size_t i = slot_of(sc, key);
    while (sc->seen.v[i].state != SEEN_FREE && sc->seen.v[i].state != SEEN_DELETED)
        i = (i + 1) & (sc->seen.cap - 1);
    sc->seen.used += sc->seen.v[i].state == SEEN_FREE;
    sc->seen.v[i] = (struct seen){key, ino, (uint8_t)state, (uint8_t)dir};
    sc->seen.n++;
    sc->seen.kept += state != SEEN_OURS;
}

/* A name left its directory: whatever file had it is no longer there. */
static void seen_drop_name(struct scan *sc, uint64_t key)
{
    if (!sc->seen.cap)
        return;
    for (size_t i = slot_of(sc, key);; i = (i + 1) & (sc->seen.cap - 1)) {
        struct seen *s = &sc->seen.v[i];
        if (s->state == SEEN_FREE)
            return;
        if (s->state != SEEN_DELETED && s->key == key)
            seen_remove(sc, s);
    }
}

/* Forgets what is known of dir (all < 0: every directory) but our own
 * segments: its inotify events were lost, or it went away. */
static void seen_forget_dir(struct scan *sc, int dir)
{
    for (size_t i = 0; i < sc->seen.cap; i++) {
        struct seen *s = &sc->seen.v[i];
        if (s->state > SEEN_OURS && (dir < 0 || s->dir == dir))
            seen_remove(sc, s);
    }
}

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

void scan_attached(struct scan *sc, int dir, const char *path, ino_t ino)
{
    seen_put(sc, dir, name_key(sc, dir, base_of(path)), ino, SEEN_OURS);
}

void scan_detached(struct scan *sc, int dir, const char *path, ino_t ino)
{
    struct seen *s = seen_find(sc, name_key(sc, dir, base_of(path)), ino);
    if (s)
        seen_remove(sc, s);
}

/* ==== Owners refused ==== */

/* One line per uid not accepted, with what to do, and not one per file. */
static void refused_owner(struct scan *sc, uid_t uid, const char *dir)
{
    sc->rejected++;
    for (size_t i = 0; i < sc->nsaid; i++)
        if (sc->said[i] == uid)
            return;
    if (sc->nsaid == REFUSED_UIDS_MAX)
        return;
    sc->said[sc->nsaid++] = uid;
    struct passwd pw, *found = NULL;
    char buf[4096];
    int named = getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found;
    shm_warn(PROG, "ignoring the segments of uid %u%s%s%s in %s (and later ones, without another line): it is not accepted; "
          "to drain them, add --allow-uid %u (or --allow-group with one of its groups)",
          (unsigned)uid, named ? " (" : "", named ? pw.pw_name : "", named ? ")" : "", dir, (unsigned)uid);
}

/* ==== Looking at a file ==== */

static int is_ring_name(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, ".ring") == 0;
}

static void young_add(struct scan *sc, int dir, const char *name)
{
    for (size_t i = 0; i < sc->nyoung; i++)
        if (sc->young[i].dir == dir && strcmp(sc->young[i].name, name) == 0)
            return;
    if (sc->nyoung == YOUNG_MAX)
        return; /* the next listing finds it */
    sc->young[sc->nyoung].dir = dir;
    sc->young[sc->nyoung].since = shm_mono_ns();
    snprintf(sc->young[sc->nyoung].name, sizeof(sc->young[sc->nyoung].name), "%s", name);
    sc->nyoung++;
}

static void young_drop(struct scan *sc, int dir, const char *name)
{
    for (size_t i = 0; i < sc->nyoung; i++)
        if (sc->young[i].dir == dir && strcmp(sc->young[i].name, name) == 0) {
            sc->young[i] = sc->young[--sc->nyoung];
            return;
        }
}

/* What a look at a file may tell. */
enum look { LOOK_DONE, LOOK_LATER };

/* Looks at entry name of directory i. ino: its inode from the directory
 * listing, or 0 (an event's name); same_file: the event says the file that
 * had the name changed (IN_ATTRIB, IN_CLOSE_WRITE), not that a new one came. */
static enum look look_at(struct scan *sc, int i, const char *name, uint64_t ino, int same_file)
{
    unsigned kind;
    char app[SHMLOG_APP_BYTES];
    uint32_t pid, cpu;
    if (strlen(name) >= 256 || shm_parse_seg_name(name, &kind, app, sizeof(app), &pid, &cpu) != 0)
        return LOOK_DONE;
    uint64_t key = name_key(sc, i, name);
    struct seen *s = same_file ? seen_probe(sc, key, 0, 1) : ino ? seen_find(sc, key, ino) : NULL;
    if (s && (s->state == SEEN_OURS || s->state == SEEN_FINAL))
        return LOOK_DONE;
    char path[4400];
    snprintf(path, sizeof(path), "%s/%s", sc->found_ctx->opt->dirs[i], name);
    struct stat st;
    if (lstat(path, &st) != 0)
        return LOOK_DONE;
    s = seen_find(sc, key, st.st_ino);
    if (s && (s->state == SEEN_OURS || s->state == SEEN_FINAL))
        return LOOK_DONE;
    /* Before any other work: whose it is. */
    if (!shm_accepts(&sc->found_ctx->opt->accept, st.st_uid)) {
        refused_owner(sc, st.st_uid, sc->found_ctx->opt->dirs[i]);
        seen_put(sc, i, key, st.st_ino, SEEN_FINAL);
        return LOOK_DONE;
    }
    char err[4608];
    enum found f;
    if (!S_ISREG(st.st_mode)) { /* a symlink planted in the directory is never followed */
        snprintf(err, sizeof(err), "%s: not a regular file", path);
        f = FOUND_FINAL;
    } else {
        f = sc->found_cb(sc->found_ctx, i, path, kind, pid, cpu, &st, err, sizeof(err));
    }
    switch (f) {
    case FOUND_OURS:
        seen_put(sc, i, key, st.st_ino, SEEN_OURS);
        return LOOK_DONE;
    case FOUND_LATER:
        return LOOK_LATER;
    case FOUND_AGAIN:
        return LOOK_DONE;
    case FOUND_FINAL:
    case FOUND_RETRY:
        /* Reported once per file, whether refused for good or for now. */
        if (!s) {
            sc->rejected++;
            shm_warn(PROG, "ignoring segment: %s", err);
        }
        seen_put(sc, i, key, st.st_ino, f == FOUND_FINAL ? SEEN_FINAL : SEEN_RETRY);
        return LOOK_DONE;
    }
    return LOOK_DONE;
}

/* Names being made, tried again: metas first, a ring is attached to its
 * process's meta. */
static void young_retry(struct scan *sc, uint64_t now)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t k = 0; k < sc->nyoung;) {
            struct young *y = &sc->young[k];
            if (is_ring_name(y->name) != pass) {
                k++;
                continue;
            }
            /* The events read in this step added names after now was read:
             * their age is 0, not now - since wrapped past 2^64. */
            uint64_t age = now > y->since ? now - y->since : 0;
            if (age < SEGMENT_MAKING_NS && look_at(sc, y->dir, y->name, 0, 0) == LOOK_LATER) {
                k++;
                continue;
            }
            *y = sc->young[--sc->nyoung]; /* done, or left to the listings */
        }
}

/* ==== Listings ==== */

uint64_t scan_rejected(struct scan *sc) { return sc->rejected; }
uint64_t listings_begun(struct scan *sc, int dir) { return sc->lists[dir].begun; }
uint64_t listings_done(struct scan *sc, int dir) { return sc->lists[dir].done; }

void scan_soon(struct scan *sc, int dir) { sc->lists[dir].asked = 1; }

#define DIR_EVENTS (IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM)

static void unwatch_ancestor(struct scan *sc, int i)
{
    int wd = sc->ancestor_watch[i];
    sc->ancestor_watch[i] = -1;
    if (wd < 0)
        return;
    for (int j = 0; j < sc->found_ctx->opt->ndirs; j++)
        if (sc->watch[j] == wd || sc->ancestor_watch[j] == wd)
            return; /* still needed */
    inotify_rm_watch(sc->inotify_fd, wd);
}

/* Watches the nearest existing ancestor of dir i, which does not exist: the
 * first producer usually makes it, and without a watch the collector would
 * find it only at the next listing, up to RESCAN_NS later, while the
 * producer's ring fills. Called again on each event there, so the watch
 * moves down as the path is made, one directory at a time. Returns 1 when
 * the child it watches for is there already: made before the watch was,
 * its event will never come. */
static int watch_ancestor(struct scan *sc, int i)
{
    char path[sizeof(sc->found_ctx->opt->dirs[0])];
    snprintf(path, sizeof(path), "%s", sc->found_ctx->opt->dirs[i]);
    for (;;) {
        char *slash = strrchr(path, '/');
        if (!slash || !slash[1])
            return 0; /* a relative name, or a trailing slash: the listings find it */
        snprintf(sc->ancestor_child[i], sizeof(sc->ancestor_child[i]), "%s", slash + 1);
        if (slash == path)
            slash[1] = '\0'; /* the root */
        else
            *slash = '\0';
        /* IN_MASK_ADD: the ancestor may be a watched directory itself. The
         * same directory gives the same descriptor. */
        int wd = inotify_add_watch(sc->inotify_fd, path, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR | IN_MASK_ADD);
        if (wd >= 0 || errno != ENOENT) {
            if (wd != sc->ancestor_watch[i]) {
                unwatch_ancestor(sc, i);
                sc->ancestor_watch[i] = wd;
            }
            char child[sizeof(path) + sizeof(sc->ancestor_child[0]) + 1];
            snprintf(child, sizeof(child), "%s/%s", path, sc->ancestor_child[i]);
            struct stat st;
            return wd >= 0 && stat(child, &st) == 0;
        }
    }
}

static void watch_dir(struct scan *sc, int i)
{
    if (sc->inotify_fd < 0 || sc->watch[i] >= 0)
        return;
    /* Each round finds the path one directory deeper, or the directory itself. */
    for (int round = 0; round < 64; round++) {
        sc->watch[i] = inotify_add_watch(sc->inotify_fd, sc->found_ctx->opt->dirs[i], DIR_EVENTS);
        if (sc->watch[i] >= 0) {
            unwatch_ancestor(sc, i);
            return;
        }
        if (errno != ENOENT || !watch_ancestor(sc, i))
            return;
    }
}

struct scan *scan_new(segment_found_fn found, struct collector_state *c)
{
    struct scan *sc = calloc(1, sizeof(*sc));
    if (!sc)
        return NULL;
    sc->found_cb = found;
    sc->found_ctx = c;
    if (getrandom(&sc->seed, sizeof(sc->seed), 0) != (ssize_t)sizeof(sc->seed))
        sc->seed = shm_mono_ns() ^ (uint64_t)getpid() << 32;
    sc->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (sc->inotify_fd < 0)
        shm_warn(PROG, "inotify: %s (falling back to listings once a second)", strerror(errno));
    for (int i = 0; i < MAX_DIRS; i++)
        sc->watch[i] = sc->ancestor_watch[i] = -1;
    return sc;
}

static void listing_begin(struct scan *sc, int i, uint64_t now)
{
    struct listing *l = &sc->lists[i];
    watch_dir(sc, i);
    l->active = 1;
    l->watched = sc->watch[i] >= 0;
    l->begun++;
    l->begun_ns = now ? now : 1;
    l->asked = 0;
    l->nrings = 0;
    l->d = opendir(sc->found_ctx->opt->dirs[i]);
    /* No directory: no ring either. One that cannot be read now may hold some. */
    l->complete = l->d || errno == ENOENT;
}

/* Looks at up to budget entries of listing i; returns what is left of it. */
static unsigned listing_step(struct scan *sc, int i, unsigned budget)
{
    struct listing *l = &sc->lists[i];
    if (!l->active)
        return budget;
    while (budget && l->d) {
        errno = 0;
        struct dirent *de = readdir(l->d);
        if (!de) {
            l->complete &= errno == 0;
            closedir(l->d);
            l->d = NULL;
            break;
        }
        budget--;
        if (look_at(sc, i, de->d_name, de->d_ino, 0) != LOOK_LATER)
            continue;
        if (is_ring_name(de->d_name)) { /* its meta may come later in this listing */
            if (!l->rings && !(l->rings = malloc(DEFERRED_MAX * sizeof(*l->rings))))
                l->complete = 0;
            else if (l->nrings < DEFERRED_MAX)
                snprintf(l->rings[l->nrings++], sizeof(l->rings[0]), "%s", de->d_name);
        } else {
            young_add(sc, i, de->d_name);
        }
    }
    if (l->d)
        return budget;
    /* The end: the rings whose meta came after them, then it is complete. */
    for (size_t k = 0; k < l->nrings; k++)
        if (look_at(sc, i, l->rings[k], 0, 0) == LOOK_LATER)
            young_add(sc, i, l->rings[k]);
    l->nrings = 0;
    l->active = 0;
    if (l->complete) {
        l->done = l->begun;
        l->trusted = l->watched && sc->watch[i] >= 0;
    }
    return budget;
}

/* ==== inotify ==== */

static void on_event(struct scan *sc, const struct inotify_event *ev)
{
    if (ev->mask & IN_Q_OVERFLOW) { /* events were lost: what the table says may be old */
        seen_forget_dir(sc, -1);
        for (int i = 0; i < sc->found_ctx->opt->ndirs; i++) {
            sc->lists[i].trusted = 0;
            scan_soon(sc, i);
        }
        return;
    }
    for (int i = 0; i < sc->found_ctx->opt->ndirs; i++) {
        if (sc->watch[i] == ev->wd) {
            if (ev->mask & IN_IGNORED) { /* the directory went away: watch again at the next listing */
                sc->watch[i] = -1;
                sc->lists[i].trusted = 0;
                seen_forget_dir(sc, i);
                scan_soon(sc, i);
            } else if (ev->len && (ev->mask & (IN_DELETE | IN_MOVED_FROM))) {
                seen_drop_name(sc, name_key(sc, i, ev->name));
                young_drop(sc, i, ev->name);
            } else if (ev->len && look_at(sc, i, ev->name, 0, (ev->mask & (IN_ATTRIB | IN_CLOSE_WRITE)) != 0) ==
                                      LOOK_LATER) {
                young_add(sc, i, ev->name);
            }
        }
        if (sc->ancestor_watch[i] == ev->wd) {
            /* Other names come and go there (/dev/shm): only ours counts. */
            if ((ev->len && !strcmp(ev->name, sc->ancestor_child[i])) || (ev->mask & IN_IGNORED))
                scan_soon(sc, i);
            if (ev->mask & IN_IGNORED)
                sc->ancestor_watch[i] = -1;
        }
    }
}

/* Reads what inotify has, a bounded amount at a time: a storm of events
 * costs each pass the same. */
static void read_events(struct scan *sc)
{
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (unsigned k = 0; sc->inotify_fd >= 0 && k < NOTIFY_READS; k++) {
        ssize_t n = read(sc->inotify_fd, buf, sizeof(buf));
        if (n <= 0)
            return;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            on_event(sc, ev);
            p += sizeof(*ev) + ev->len;
        }
    }
}

/* ==== Between drain passes ==== */

void scan_step(struct scan *sc, uint64_t now)
{
    if (now - sc->notified >= NOTIFY_NS) {
        sc->notified = now;
        read_events(sc);
        young_retry(sc, now);
    }
    unsigned budget = SCAN_SLICE;
    for (int i = 0; i < sc->found_ctx->opt->ndirs && budget; i++) {
        struct listing *l = &sc->lists[i];
        /* Under a watch that lost nothing, inotify names every file as it
         * comes: listing a directory another uid filled with names (each a
         * readdir entry, and a stat past SEEN_MAX) every second would cost an
         * idle collector a fifth of a core at 300,000 of them. */
        uint64_t every = l->trusted ? RESCAN_WATCHED_NS : RESCAN_NS;
        if (!l->active && (!l->begun_ns || now - l->begun_ns >= every ||
                           (l->asked && now - l->begun_ns >= LISTING_ASKED_GAP_NS)))
            listing_begin(sc, i, now);
        budget = listing_step(sc, i, budget);
    }
}

void scan_all(struct scan *sc)
{
    read_events(sc);
    for (int i = 0; i < sc->found_ctx->opt->ndirs; i++) {
        if (!sc->lists[i].active)
            listing_begin(sc, i, shm_mono_ns());
        while (sc->lists[i].active)
            listing_step(sc, i, SCAN_SLICE);
    }
    young_retry(sc, shm_mono_ns());
}
