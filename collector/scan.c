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

static struct {
    struct seen *v;
    size_t cap;   /* slots, a power of two */
    size_t n;     /* entries */
    size_t used;  /* entries and freed slots */
    size_t kept;  /* entries that are not SEEN_OURS: bounded by SEEN_MAX */
} seen;
static uint64_t seed; /* random: names an attacker chooses do not collide at will */

static segment_found_fn found_cb; /* what a segment file found becomes */
static struct collector_state *found_ctx; /* found_cb's, passed through */
static uint64_t rejected;           /* segment files refused */

static uint64_t name_key(int dir, const char *name)
{
    uint64_t h = seed ^ ((uint64_t)dir * 0x9E3779B97F4A7C15ull);
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        h = (h ^ *c) * 0x100000001B3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

static size_t slot_of(uint64_t key) { return (size_t)key & (seen.cap - 1); }

/* The entry of the file named key with inode ino; with any_ino, of whatever
 * file has the name (one, unless a deletion was missed). */
static struct seen *seen_probe(uint64_t key, uint64_t ino, int any_ino)
{
    if (!seen.cap)
        return NULL;
    for (size_t i = slot_of(key);; i = (i + 1) & (seen.cap - 1)) {
        struct seen *s = &seen.v[i];
        if (s->state == SEEN_FREE)
            return NULL;
        if (s->state != SEEN_DELETED && s->key == key && (any_ino || s->ino == ino))
            return s;
    }
}

static struct seen *seen_find(uint64_t key, uint64_t ino) { return seen_probe(key, ino, 0); }

static void seen_remove(struct seen *s)
{
    if (s->state != SEEN_OURS)
        seen.kept--;
    s->state = SEEN_DELETED;
    seen.n--;
}

static int seen_grow(void)
{
    size_t cap = seen.cap ? seen.cap : 1024;
    while (cap < 2 * (seen.n + 1))
        cap *= 2;
    struct seen *v = calloc(cap, sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t j = 0; j < seen.cap; j++) {
        const struct seen *s = &seen.v[j];
        if (s->state == SEEN_FREE || s->state == SEEN_DELETED)
            continue;
        size_t i = (size_t)s->key & (cap - 1);
        while (v[i].state != SEEN_FREE)
            i = (i + 1) & (cap - 1);
        v[i] = *s;
    }
    free(seen.v);
    seen.v = v;
    seen.cap = cap;
    seen.used = seen.n;
    return 0;
}

/* Watches: inotify descriptors of the directories (-1: none). */
static int inotify_fd = -1;
static int watch[MAX_DIRS];
/* While --dir i does not exist: a watch on its nearest existing
 * ancestor, and the name that appears there on the way to it. */
static int ancestor_watch[MAX_DIRS];
static char ancestor_child[MAX_DIRS][256];

/* Records what a file is. Only our own segments are kept past SEEN_MAX, and
 * only what a watched directory holds is kept at all (see the top). */
static void seen_put(int dir, uint64_t key, uint64_t ino, enum seen_state state)
{
    struct seen *s = seen_find(key, ino);
    if (s) {
        if (s->state == SEEN_OURS && state != SEEN_OURS)
            seen.kept++;
        else if (s->state != SEEN_OURS && state == SEEN_OURS)
            seen.kept--;
        s->state = (uint8_t)state;
        return;
    }
    if (state != SEEN_OURS && (seen.kept >= SEEN_MAX || watch[dir] < 0))
        return;
    if ((seen.used + 1) * 10 > seen.cap * 7 && seen_grow() != 0)
        return;
    size_t i = slot_of(key);
    while (seen.v[i].state != SEEN_FREE && seen.v[i].state != SEEN_DELETED)
        i = (i + 1) & (seen.cap - 1);
    seen.used += seen.v[i].state == SEEN_FREE;
    seen.v[i] = (struct seen){key, ino, (uint8_t)state, (uint8_t)dir};
    seen.n++;
    seen.kept += state != SEEN_OURS;
}

/* A name left its directory: whatever file had it is no longer there. */
static void seen_drop_name(uint64_t key)
{
    if (!seen.cap)
        return;
    for (size_t i = slot_of(key);; i = (i + 1) & (seen.cap - 1)) {
        struct seen *s = &seen.v[i];
        if (s->state == SEEN_FREE)
            return;
        if (s->state != SEEN_DELETED && s->key == key)
            seen_remove(s);
    }
}

/* Forgets what is known of dir (all < 0: every directory) but our own
 * segments: its inotify events were lost, or it went away. */
static void seen_forget_dir(int dir)
{
    for (size_t i = 0; i < seen.cap; i++) {
        struct seen *s = &seen.v[i];
        if (s->state > SEEN_OURS && (dir < 0 || s->dir == dir))
            seen_remove(s);
    }
}

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

void scan_attached(int dir, const char *path, ino_t ino)
{
    seen_put(dir, name_key(dir, base_of(path)), ino, SEEN_OURS);
}

void scan_detached(int dir, const char *path, ino_t ino)
{
    struct seen *s = seen_find(name_key(dir, base_of(path)), ino);
    if (s)
        seen_remove(s);
}

/* ==== Owners refused ==== */

/* One line per uid not accepted, with what to do, and not one per file. */
static void refused_owner(uid_t uid, const char *dir)
{
    static uid_t said[REFUSED_UIDS_MAX];
    static size_t nsaid;
    rejected++;
    for (size_t i = 0; i < nsaid; i++)
        if (said[i] == uid)
            return;
    if (nsaid == REFUSED_UIDS_MAX)
        return;
    said[nsaid++] = uid;
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

/* Names tried again soon: segments being made (no header yet), rings whose
 * meta was not there yet. */
static struct young {
    int dir;
    uint64_t since;
    char name[256];
} young[YOUNG_MAX];
static size_t nyoung;

static void young_add(int dir, const char *name)
{
    for (size_t i = 0; i < nyoung; i++)
        if (young[i].dir == dir && strcmp(young[i].name, name) == 0)
            return;
    if (nyoung == YOUNG_MAX)
        return; /* the next listing finds it */
    young[nyoung].dir = dir;
    young[nyoung].since = shm_mono_ns();
    snprintf(young[nyoung].name, sizeof(young[nyoung].name), "%s", name);
    nyoung++;
}

static void young_drop(int dir, const char *name)
{
    for (size_t i = 0; i < nyoung; i++)
        if (young[i].dir == dir && strcmp(young[i].name, name) == 0) {
            young[i] = young[--nyoung];
            return;
        }
}

/* What a look at a file may tell. */
enum look { LOOK_DONE, LOOK_LATER };

/* Looks at entry name of directory i. ino: its inode from the directory
 * listing, or 0 (an event's name); same_file: the event says the file that
 * had the name changed (IN_ATTRIB, IN_CLOSE_WRITE), not that a new one came. */
static enum look look_at(int i, const char *name, uint64_t ino, int same_file)
{
    unsigned kind;
    char app[SHMLOG_APP_BYTES];
    uint32_t pid, cpu;
    if (strlen(name) >= 256 || shm_parse_seg_name(name, &kind, app, sizeof(app), &pid, &cpu) != 0)
        return LOOK_DONE;
    uint64_t key = name_key(i, name);
    struct seen *s = same_file ? seen_probe(key, 0, 1) : ino ? seen_find(key, ino) : NULL;
    if (s && (s->state == SEEN_OURS || s->state == SEEN_FINAL))
        return LOOK_DONE;
    char path[4400];
    snprintf(path, sizeof(path), "%s/%s", found_ctx->opt->dirs[i], name);
    struct stat st;
    if (lstat(path, &st) != 0)
        return LOOK_DONE;
    s = seen_find(key, st.st_ino);
    if (s && (s->state == SEEN_OURS || s->state == SEEN_FINAL))
        return LOOK_DONE;
    /* Before any other work: whose it is. */
    if (!shm_accepts(&found_ctx->opt->accept, st.st_uid)) {
        refused_owner(st.st_uid, found_ctx->opt->dirs[i]);
        seen_put(i, key, st.st_ino, SEEN_FINAL);
        return LOOK_DONE;
    }
    char err[4608];
    enum found f;
    if (!S_ISREG(st.st_mode)) { /* a symlink planted in the directory is never followed */
        snprintf(err, sizeof(err), "%s: not a regular file", path);
        f = FOUND_FINAL;
    } else {
        f = found_cb(found_ctx, i, path, kind, pid, cpu, &st, err, sizeof(err));
    }
    switch (f) {
    case FOUND_OURS:
        seen_put(i, key, st.st_ino, SEEN_OURS);
        return LOOK_DONE;
    case FOUND_LATER:
        return LOOK_LATER;
    case FOUND_AGAIN:
        return LOOK_DONE;
    case FOUND_FINAL:
    case FOUND_RETRY:
        /* Reported once per file, whether refused for good or for now. */
        if (!s) {
            rejected++;
            shm_warn(PROG, "ignoring segment: %s", err);
        }
        seen_put(i, key, st.st_ino, f == FOUND_FINAL ? SEEN_FINAL : SEEN_RETRY);
        return LOOK_DONE;
    }
    return LOOK_DONE;
}

/* Names being made, tried again: metas first, a ring is attached to its
 * process's meta. */
static void young_retry(uint64_t now)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t k = 0; k < nyoung;) {
            struct young *y = &young[k];
            if (is_ring_name(y->name) != pass) {
                k++;
                continue;
            }
            if (now - y->since < SEGMENT_MAKING_NS && look_at(y->dir, y->name, 0, 0) == LOOK_LATER) {
                k++;
                continue;
            }
            *y = young[--nyoung]; /* done, or left to the listings */
        }
}

/* ==== Listings ==== */

static struct listing {
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
} lists[MAX_DIRS];

uint64_t scan_rejected(void) { return rejected; }
uint64_t listings_begun(int dir) { return lists[dir].begun; }
uint64_t listings_done(int dir) { return lists[dir].done; }

void scan_soon(int dir) { lists[dir].asked = 1; }

#define DIR_EVENTS (IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM)

static void unwatch_ancestor(int i)
{
    int wd = ancestor_watch[i];
    ancestor_watch[i] = -1;
    if (wd < 0)
        return;
    for (int j = 0; j < found_ctx->opt->ndirs; j++)
        if (watch[j] == wd || ancestor_watch[j] == wd)
            return; /* still needed */
    inotify_rm_watch(inotify_fd, wd);
}

/* Watches the nearest existing ancestor of dir i, which does not exist: the
 * first producer usually makes it, and without a watch the collector would
 * find it only at the next listing, up to RESCAN_NS later, while the
 * producer's ring fills. Called again on each event there, so the watch
 * moves down as the path is made, one directory at a time. Returns 1 when
 * the child it watches for is there already: made before the watch was,
 * its event will never come. */
static int watch_ancestor(int i)
{
    char path[sizeof(found_ctx->opt->dirs[0])];
    snprintf(path, sizeof(path), "%s", found_ctx->opt->dirs[i]);
    for (;;) {
        char *slash = strrchr(path, '/');
        if (!slash || !slash[1])
            return 0; /* a relative name, or a trailing slash: the listings find it */
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
            char child[sizeof(path) + sizeof(ancestor_child[0]) + 1];
            snprintf(child, sizeof(child), "%s/%s", path, ancestor_child[i]);
            struct stat st;
            return wd >= 0 && stat(child, &st) == 0;
        }
    }
}

static void watch_dir(int i)
{
    if (inotify_fd < 0 || watch[i] >= 0)
        return;
    /* Each round finds the path one directory deeper, or the directory itself. */
    for (int round = 0; round < 64; round++) {
        watch[i] = inotify_add_watch(inotify_fd, found_ctx->opt->dirs[i], DIR_EVENTS);
        if (watch[i] >= 0) {
            unwatch_ancestor(i);
            return;
        }
        if (errno != ENOENT || !watch_ancestor(i))
            return;
    }
}

/* At start: the inotify instance (without one, the listings find everything,
 * and the table keeps no refusal), no watch yet. */
void watch_init(segment_found_fn found, struct collector_state *c)
{
    found_cb = found;
    found_ctx = c;
    if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
        seed = shm_mono_ns() ^ (uint64_t)getpid() << 32;
    inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd < 0)
        shm_warn(PROG, "inotify: %s (falling back to listings once a second)", strerror(errno));
    for (int i = 0; i < MAX_DIRS; i++)
        watch[i] = ancestor_watch[i] = -1;
}

static void listing_begin(int i, uint64_t now)
{
    struct listing *l = &lists[i];
    watch_dir(i);
    l->active = 1;
    l->watched = watch[i] >= 0;
    l->begun++;
    l->begun_ns = now ? now : 1;
    l->asked = 0;
    l->nrings = 0;
    l->d = opendir(found_ctx->opt->dirs[i]);
    /* No directory: no ring either. One that cannot be read now may hold some. */
    l->complete = l->d || errno == ENOENT;
}

/* Looks at up to budget entries of listing i; returns what is left of it. */
static unsigned listing_step(int i, unsigned budget)
{
    struct listing *l = &lists[i];
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
        if (look_at(i, de->d_name, de->d_ino, 0) != LOOK_LATER)
            continue;
        if (is_ring_name(de->d_name)) { /* its meta may come later in this listing */
            if (!l->rings && !(l->rings = malloc(DEFERRED_MAX * sizeof(*l->rings))))
                l->complete = 0;
            else if (l->nrings < DEFERRED_MAX)
                snprintf(l->rings[l->nrings++], sizeof(l->rings[0]), "%s", de->d_name);
        } else {
            young_add(i, de->d_name);
        }
    }
    if (l->d)
        return budget;
    /* The end: the rings whose meta came after them, then it is complete. */
    for (size_t k = 0; k < l->nrings; k++)
        if (look_at(i, l->rings[k], 0, 0) == LOOK_LATER)
            young_add(i, l->rings[k]);
    l->nrings = 0;
    l->active = 0;
    if (l->complete) {
        l->done = l->begun;
        l->trusted = l->watched && watch[i] >= 0;
    }
    return budget;
}

/* ==== inotify ==== */

static void on_event(const struct inotify_event *ev)
{
    if (ev->mask & IN_Q_OVERFLOW) { /* events were lost: what the table says may be old */
        seen_forget_dir(-1);
        for (int i = 0; i < found_ctx->opt->ndirs; i++) {
            lists[i].trusted = 0;
            scan_soon(i);
        }
        return;
    }
    for (int i = 0; i < found_ctx->opt->ndirs; i++) {
        if (watch[i] == ev->wd) {
            if (ev->mask & IN_IGNORED) { /* the directory went away: watch again at the next listing */
                watch[i] = -1;
                lists[i].trusted = 0;
                seen_forget_dir(i);
                scan_soon(i);
            } else if (ev->len && (ev->mask & (IN_DELETE | IN_MOVED_FROM))) {
                seen_drop_name(name_key(i, ev->name));
                young_drop(i, ev->name);
            } else if (ev->len && look_at(i, ev->name, 0, (ev->mask & (IN_ATTRIB | IN_CLOSE_WRITE)) != 0) ==
                                      LOOK_LATER) {
                young_add(i, ev->name);
            }
        }
        if (ancestor_watch[i] == ev->wd) {
            /* Other names come and go there (/dev/shm): only ours counts. */
            if ((ev->len && !strcmp(ev->name, ancestor_child[i])) || (ev->mask & IN_IGNORED))
                scan_soon(i);
            if (ev->mask & IN_IGNORED)
                ancestor_watch[i] = -1;
        }
    }
}

/* Reads what inotify has, a bounded amount at a time: a storm of events
 * costs each pass the same. */
static void read_events(void)
{
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (unsigned k = 0; inotify_fd >= 0 && k < NOTIFY_READS; k++) {
        ssize_t n = read(inotify_fd, buf, sizeof(buf));
        if (n <= 0)
            return;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            on_event(ev);
            p += sizeof(*ev) + ev->len;
        }
    }
}

/* ==== Between drain passes ==== */

void scan_step(uint64_t now)
{
    static uint64_t notified;
    if (now - notified >= NOTIFY_NS) {
        notified = now;
        read_events();
        young_retry(now);
    }
    unsigned budget = SCAN_SLICE;
    for (int i = 0; i < found_ctx->opt->ndirs && budget; i++) {
        struct listing *l = &lists[i];
        /* Under a watch that lost nothing, inotify names every file as it
         * comes: listing a directory another uid filled with names (each a
         * readdir entry, and a stat past SEEN_MAX) every second would cost an
         * idle collector a fifth of a core at 300,000 of them. */
        uint64_t every = l->trusted ? RESCAN_WATCHED_NS : RESCAN_NS;
        if (!l->active && (!l->begun_ns || now - l->begun_ns >= every ||
                           (l->asked && now - l->begun_ns >= LISTING_ASKED_GAP_NS)))
            listing_begin(i, now);
        budget = listing_step(i, budget);
    }
}

void scan_all(void)
{
    read_events();
    for (int i = 0; i < found_ctx->opt->ndirs; i++) {
        if (!lists[i].active)
            listing_begin(i, shm_mono_ns());
        while (lists[i].active)
            listing_step(i, SCAN_SLICE);
    }
    young_retry(shm_mono_ns());
}
