/*
 * reader.c - open, validate and read segments of other processes.
 *
 * Threat model: the writer may be buggy, dead mid-record, or hostile (same uid
 * or an allowed one). Its header fields, site table and records can hold any
 * bytes and can change while we read. So: headers are copied then checked,
 * geometry is taken from the copy only, every record is copied to private
 * memory and checked there, and nothing read is used as an unchecked offset.
 * (A writer that shrinks its file under our mapping can still raise SIGBUS;
 * the collector guards its accesses for that, see collector/.)
 */
#include "reader.h"
#include "names.h"
#include "shmlog_os.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#define SHM_MAX_SEGMENT_BYTES (64ull << 30)
/* The oldest segment ABI read: version 2 rings have no progress line and are
 * drained by their head (shm_ring_publishes). */
#define SHM_ABI_OLDEST 2u

static int fail(char *err, size_t cap, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t cap, int code, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ==== Segments ==== */

const char *shm_seg_check_header(const struct shmlog_seg_header *h, size_t mapped_bytes, unsigned kind)
{
    uint64_t magic = kind == SHMLOG_SEG_META ? SHMLOG_MAGIC_META : SHMLOG_MAGIC_RING;
    uint32_t header_bytes = kind == SHMLOG_SEG_META ? SHMLOG_META_HEADER_BYTES : SHMLOG_RING_HEADER_BYTES;
    if (h->magic == 0)
        return "not initialised yet (no magic)";
    if (h->magic != magic)
        return "bad magic (not a shmlog segment of this kind, or other byte order)";
    if (h->abi_version < SHM_ABI_OLDEST || h->abi_version > SHMLOG_ABI_VERSION)
        return "unsupported ABI version (a producer built with another shmlog.h: rebuild it or the reader)";
    if (h->format_word != SHMLOG_FORMAT_WORD_OF(h->abi_version))
        return "ABI format word differs (built with other struct sizes)";
    if (h->kind != kind)
        return "wrong segment kind";
    if (h->header_bytes != header_bytes)
        return "bad header size";
    if (h->segment_bytes != mapped_bytes)
        return "declared size differs from the file size";
    if (h->pid == 0)
        return "pid 0";
    return NULL;
}

/* 1 if the user uid is a member of group gid, primary or supplementary. */
static int uid_in_group(uid_t uid, gid_t gid)
{
    struct passwd pw, *found = NULL;
    char buf[4096];
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) != 0 || !found)
        return 0;
    if (pw.pw_gid == gid)
        return 1;
    gid_t groups[256];
    int n = (int)(sizeof groups / sizeof groups[0]);
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
        return 0; /* more than 256 groups: not a user we would admit by group */
    for (int i = 0; i < n; i++)
        if (groups[i] == gid)
            return 1;
    return 0;
}

int shm_accepts(const struct shm_accept *acc, uid_t uid)
{
    if (!acc)
        return uid == getuid();
    if (acc->any_owner)
        return 1;
    for (size_t i = 0; i < acc->n_uids; i++)
        if (acc->uids[i] == uid)
            return 1;
    for (size_t i = 0; i < acc->n_gids; i++)
        if (uid_in_group(uid, acc->gids[i]))
            return 1;
    return 0;
}

int shm_seg_open(struct shm_seg *seg, const char *path, int mode, const struct shm_accept *acc,
                    char *err, size_t errcap)
{
    int writable = mode == SHM_OPEN_WRITE;
    memset(seg, 0, sizeof *seg);
    seg->fd = -1;
    if (strlen(path) >= sizeof seg->path)
        return fail(err, errcap, -ENAMETOOLONG, "%s: path too long", path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    unsigned kind;
    char app[SHMLOG_APP_BYTES];
    uint32_t name_pid, name_cpu;
    if (shm_parse_seg_name(base, &kind, app, sizeof app, &name_pid, &name_cpu) != 0)
        return fail(err, errcap, -EINVAL, "%s: not a segment name", path);

    /* O_NOFOLLOW: a symlink planted in the directory is refused, not followed. */
    int fd = open(path, (mode != SHM_OPEN_READ ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return fail(err, errcap, -errno, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fail(err, errcap, -e, "%s: %s", path, strerror(e));
    }
    const char *why = NULL;
    if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if ((uint64_t)st.st_size < SHMLOG_RING_HEADER_BYTES || (uint64_t)st.st_size > SHM_MAX_SEGMENT_BYTES)
        why = "implausible size";
    if (why) {
        close(fd);
        return fail(err, errcap, -EPERM, "%s: %s", path, why);
    }
    if (!shm_accepts(acc, st.st_uid)) {
        close(fd);
        struct passwd pw, *found = NULL;
        char buf[4096];
        int named = getpwuid_r(st.st_uid, &pw, buf, sizeof buf, &found) == 0 && found;
        return fail(err, errcap, -EACCES, "%s: owned by uid %u%s%s%s, whose segments are not accepted", path,
                    (unsigned)st.st_uid, named ? " (" : "", named ? pw.pw_name : "", named ? ")" : "");
    }
    size_t bytes = (size_t)st.st_size;
    void *addr = mmap(NULL, bytes, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
    int map_errno = errno;
    if (addr == MAP_FAILED) {
        close(fd);
        return fail(err, errcap, -map_errno, "%s: mmap: %s", path, strerror(map_errno));
    }

    struct shmlog_seg_header h;
    /* Acquire pairs with the creator's release of magic: the rest of the header is complete. */
    h.magic = shmlog__load_acquire(&((const struct shmlog_seg_header *)addr)->magic);
    memcpy((uint8_t *)&h + sizeof h.magic, (const uint8_t *)addr + sizeof h.magic, sizeof h - sizeof h.magic);
    why = shm_seg_check_header(&h, bytes, kind);
    if (!why && h.pid != name_pid)
        why = "pid in the header differs from the name";
    if (!why && h.uid != st.st_uid)
        why = "uid in the header differs from the file owner";
    /* Counted after magic was read: its creator filled every page before it
     * published it. On tmpfs, reading a hole allocates a page to the
     * reader: a segment with holes would have us allocate as much as its
     * size says (up to SHM_MAX_SEGMENT_BYTES) for its creator. */
    struct stat now;
    struct statfs fs;
    int no_holes = !why && fstat(fd, &now) == 0 && (uint64_t)now.st_blocks * 512 >= bytes;
    if (!why && !no_holes && fstatfs(fd, &fs) == 0 && fs.f_type == TMPFS_MAGIC)
        why = "has holes (a producer fills every page of a segment before it publishes it)";
    if (kind != SHMLOG_SEG_META) {
        close(fd);
        fd = -1;
    }
    if (why) {
        munmap(addr, bytes);
        if (fd >= 0)
            close(fd);
        return fail(err, errcap, h.magic == 0 ? -EAGAIN : -EINVAL, "%s: %s", path, why);
    }
    /* Every page is mapped now, not on the first lap of the ring: on 4 KiB
     * pages the faults of that lap slow the drain enough for a burst to
     * overflow the ring (bench/files.sh, segments on /dev/shm, shows it),
     * and the page table must be touched page by page, not only filled
     * (shmlog__pages_fault_in says why). Only when the file has no holes, so
     * nothing gets allocated. Hugetlbfs reports no blocks and is skipped: a
     * few faults there, from pages its mapping reserved. */
    if (no_holes)
        shmlog__pages_fault_in(addr, bytes, 0);
    seg->addr = addr;
    seg->bytes = bytes;
    seg->writable = writable;
    seg->owner = st.st_uid;
    seg->fd = fd;
    seg->hdr = h;
    memcpy(seg->path, path, strlen(path) + 1);
    return 0;
}

void shm_seg_close(struct shm_seg *seg)
{
    if (!seg->addr) /* never opened, or closed: its fd may be a zeroed 0 */
        return;
    munmap(seg->addr, seg->bytes);
    seg->addr = NULL;
    /* Closing drops only locks of our own: we take none on segments. */
    if (seg->fd >= 0)
        close(seg->fd);
    seg->fd = -1;
}

/* ==== Metadata ==== */

static const struct shmlog_meta *meta_of(const struct shm_seg *seg)
{
    return (const struct shmlog_meta *)seg->addr;
}

/* The site table geometry as the creator set it. It never changes after
 * creation, but a hostile writer could change it: callers re-check bounds. */
static int meta_geometry(const struct shm_seg *seg, uint32_t *sites_off, uint32_t *cap, uint32_t *str_off,
                         uint32_t *str_bytes)
{
    const struct shmlog_meta *m = meta_of(seg);
    *sites_off = shmlog__load_relaxed(&m->sites_offset);
    *cap = shmlog__load_relaxed(&m->site_capacity);
    *str_off = shmlog__load_relaxed(&m->strings_offset);
    *str_bytes = shmlog__load_relaxed(&m->strings_bytes);
    uint64_t table_end = (uint64_t)*sites_off + (uint64_t)*cap * SHMLOG_SITE_BYTES;
    if (*sites_off != SHMLOG_META_HEADER_BYTES || table_end > *str_off ||
        (uint64_t)*str_off + *str_bytes > seg->bytes)
        return -EINVAL;
    return 0;
}

int shm_meta_info(const struct shm_seg *seg, struct shm_proc_info *out, char *err, size_t errcap)
{
    const struct shmlog_meta *m = meta_of(seg);
    memset(out, 0, sizeof *out);
    uint32_t sites_off, cap, str_off, str_bytes;
    if (meta_geometry(seg, &sites_off, &cap, &str_off, &str_bytes) != 0)
        return fail(err, errcap, -EINVAL, "%s: site table out of bounds", seg->path);
    memcpy(out->app, m->app, sizeof out->app);
    out->app[sizeof out->app - 1] = 0;
    memcpy(out->host, m->host, sizeof out->host);
    out->host[sizeof out->host - 1] = 0;
    if (!shm_name_valid(out->app, sizeof out->app) || !shm_name_valid(out->host, sizeof out->host))
        return fail(err, errcap, -EINVAL, "%s: app or host name is not [A-Za-z0-9_.-]", seg->path);
    out->pid = seg->hdr.pid;
    out->uid = seg->hdr.uid;
    out->proc_start = seg->hdr.proc_start;
    out->created_ns = seg->hdr.created_ns;
    memcpy(out->instance, seg->hdr.instance, sizeof(out->instance));
    out->tsc_hz = shmlog__load_relaxed(&m->tsc_hz);
    out->anchor_tsc = shmlog__load_relaxed(&m->anchor_tsc);
    out->anchor_ns = shmlog__load_relaxed(&m->anchor_ns);
    out->level = shmlog__load_relaxed(&m->level);
    uint32_t count = shmlog__load_acquire(&m->site_count);
    out->site_count = count < cap ? count : cap;
    out->site_capacity = cap;
    out->flags = shmlog__load_relaxed(&m->hdr.flags);
    out->unregistered = shmlog__load_relaxed(&m->unregistered);
    out->no_ring = shmlog__load_relaxed(&m->no_ring);
    out->category_count = SHMLOG_CAT_COUNT;
    out->backtrace_level = SHMLOG_LEVEL_OFF;
    if (seg->hdr.abi_version >= 4) {
        out->before_init = shmlog__load_relaxed(&m->before_init);
        out->out_of_range = shmlog__load_relaxed(&m->out_of_range);
        uint32_t n = shmlog__load_acquire(&m->category_count);
        out->category_count = n < SHMLOG_CAT_COUNT ? SHMLOG_CAT_COUNT : n > SHMLOG_MAX_CATEGORIES ? SHMLOG_MAX_CATEGORIES : n;
        uint32_t bl = shmlog__load_relaxed(&m->backtrace_level), bt = shmlog__load_relaxed(&m->backtrace_trigger);
        out->backtrace_level = bl < SHMLOG_LEVEL_OFF ? bl : SHMLOG_LEVEL_OFF;
        out->backtrace_trigger = bt < SHMLOG_LEVEL_OFF ? bt : SHMLOG_LEVEL_OFF;
        out->backtrace_records = shmlog__load_relaxed(&m->backtrace_records);
        out->backtrace_requests = shmlog__load_relaxed(&m->backtrace_requests);
    }
    if (out->tsc_hz < 1000000 || out->tsc_hz > 100000000000ull)
        return fail(err, errcap, -EINVAL, "%s: implausible TSC frequency %llu Hz", seg->path,
                    (unsigned long long)out->tsc_hz);
    return 0;
}

void shm_meta_categories(const struct shm_seg *seg, struct shm_categories *out)
{
    const struct shmlog_meta *m = meta_of(seg);
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < SHMLOG_CAT_COUNT; i++)
        snprintf(out->names[i], sizeof out->names[i], "%s", shm_category_name(i));
    out->count = SHMLOG_CAT_COUNT;
    if (seg->hdr.abi_version < 4) {
        uint32_t level = shmlog__load_relaxed(&m->level);
        memset(out->live, level <= SHMLOG_LEVEL_OFF ? (int)level : SHMLOG_LEVEL_OFF, sizeof out->live);
        return;
    }
    /* Acquire pairs with the producer's release of the count after a name. */
    uint32_t n = shmlog__load_acquire(&m->category_count);
    out->count = n < SHMLOG_CAT_COUNT ? SHMLOG_CAT_COUNT : n > SHMLOG_MAX_CATEGORIES ? SHMLOG_MAX_CATEGORIES : n;
    for (unsigned i = 0; i < SHMLOG_MAX_CATEGORIES; i++) {
        unsigned live = shmlog__load_relaxed(&m->levels[i]) >> 8;
        out->live[i] = (uint8_t)(live <= SHMLOG_LEVEL_OFF ? live : SHMLOG_LEVEL_OFF);
    }
    for (unsigned i = SHMLOG_CAT_COUNT; i < out->count; i++) {
        char name[SHMLOG_CATEGORY_NAME_BYTES];
        memcpy(name, m->category_names[i], sizeof name);
        size_t len = shm_category_name_len(name, sizeof name);
        if (len > 0 && len < sizeof name && name[len] == 0)
            memcpy(out->names[i], name, len + 1);
    }
}

int shm_meta_set_level(const struct shm_seg *seg, int category, unsigned level)
{
    struct shmlog_meta *m = (struct shmlog_meta *)seg->addr;
    if (level > SHMLOG_LEVEL_OFF)
        return -EINVAL;
    if (seg->hdr.abi_version < 4) {
        if (category > 0)
            return -EINVAL;
        int old = (int)shmlog__load_relaxed(&m->level);
        shmlog__store_release(&m->level, level);
        return old;
    }
    uint32_t n = shmlog__load_acquire(&m->category_count);
    if (category >= (int)(n > SHMLOG_MAX_CATEGORIES ? SHMLOG_MAX_CATEGORIES : n))
        return -EINVAL;
    unsigned keep = shmlog__load_relaxed(&m->backtrace_level);
    keep = keep < SHMLOG_LEVEL_OFF ? keep : SHMLOG_LEVEL_OFF;
    int old = (int)(shmlog__load_relaxed(&m->levels[category < 0 ? 0 : category]) >> 8);
    /* The producer loads its category's word on every call (relaxed): one
     * atomic store each, nothing else in the segment is written. */
    for (unsigned i = 0; i < SHMLOG_MAX_CATEGORIES; i++)
        if (category < 0 || (unsigned)category == i)
            shmlog__store_relaxed(&m->levels[i], shmlog_level_word(level, keep));
    if (category < 0)
        shmlog__store_relaxed(&m->level, level);
    return old > SHMLOG_LEVEL_OFF ? SHMLOG_LEVEL_OFF : old;
}

int64_t shm_meta_request_backtrace(const struct shm_seg *seg)
{
    struct shmlog_meta *m = (struct shmlog_meta *)seg->addr;
    if (seg->hdr.abi_version < 4)
        return -EINVAL;
    return (int64_t)((shmlog__add_relaxed(&m->backtrace_requests, 1) + 1) & INT64_MAX);
}

/* Copies a string of the arena: it must lie inside it and end in NUL. */
static int copy_meta_string(const struct shm_seg *seg, uint32_t str_off, uint32_t str_bytes, uint32_t off,
                            uint32_t len, uint32_t max, char *out)
{
    if (len > max || off < str_off || (uint64_t)off + len + 1 > (uint64_t)str_off + str_bytes)
        return -EINVAL;
    memcpy(out, (const uint8_t *)seg->addr + off, len);
    out[len] = 0;
    if (memchr(out, 0, len)) /* an embedded NUL: not what the producer writes */
        return -EINVAL;
    return 0;
}

int shm_meta_site(const struct shm_seg *seg, uint32_t id, struct shm_site *out)
{
    uint32_t sites_off, cap, str_off, str_bytes;
    if (meta_geometry(seg, &sites_off, &cap, &str_off, &str_bytes) != 0)
        return -EINVAL;
    /* Acquire pairs with the producer's release of site_count. */
    uint32_t count = shmlog__load_acquire(&meta_of(seg)->site_count);
    if (id >= count || id >= cap)
        return -ENOENT;
    struct shmlog_site s;
    memcpy(&s, (const uint8_t *)seg->addr + sites_off + (size_t)id * SHMLOG_SITE_BYTES, sizeof s);
    struct shmlog_args_shape shape; /* arguments a record can hold */
    if (s.level > SHMLOG_LEVEL_FATAL || s.category >= SHMLOG_MAX_CATEGORIES ||
        shmlog_args_shape_init(&shape, s.nargs, s.arg_types) != 0)
        return -EINVAL;
    if (copy_meta_string(seg, str_off, str_bytes, s.fmt_offset, s.fmt_len, SHMLOG_MAX_FMT_BYTES, out->fmt) ||
        copy_meta_string(seg, str_off, str_bytes, s.file_offset, s.file_len, SHMLOG_MAX_FILE_BYTES, out->file))
        return -EINVAL;
    out->id = id;
    out->line = s.line;
    out->level = s.level;
    out->category = s.category;
    out->nargs = s.nargs;
    memcpy(out->arg_types, s.arg_types, sizeof out->arg_types);
    out->fmt_len = s.fmt_len;
    out->file_len = s.file_len;
    return 0;
}


/* ==== Rings ==== */

int shm_ring_view_init(struct shm_ring_view *v, const struct shm_seg *seg, char *err, size_t errcap)
{
    struct shmlog_ring *r = (struct shmlog_ring *)seg->addr;
    uint64_t cap = shmlog__load_relaxed(&r->capacity);
    if (cap < SHMLOG_RING_MIN_RECORDS || cap > SHMLOG_RING_MAX_RECORDS || (cap & (cap - 1)))
        return fail(err, errcap, -EINVAL, "%s: bad ring capacity %llu", seg->path, (unsigned long long)cap);
    if (SHMLOG_RING_HEADER_BYTES + cap * SHMLOG_RECORD_BYTES > seg->bytes)
        return fail(err, errcap, -EINVAL, "%s: ring capacity exceeds the segment", seg->path);
    uint32_t policy = shmlog__load_relaxed(&r->policy);
    if (policy > SHMLOG_SPIN)
        return fail(err, errcap, -EINVAL, "%s: bad ring policy %u", seg->path, policy);
    v->hdr = r;
    v->slots = (const uint8_t *)seg->addr + SHMLOG_RING_HEADER_BYTES;
    v->cap = cap;
    v->mask = cap - 1;
    v->policy = policy;
    v->cpu = shmlog__load_relaxed(&r->cpu);
    v->numa_node = shmlog__load_relaxed(&r->numa_node);
    v->publishes = seg->hdr.abi_version >= 3;
    return 0;
}

uint64_t shm_ring_head(const struct shm_ring_view *v) { return shmlog__load_acquire(&v->hdr->head); }
uint64_t shm_ring_tail(const struct shm_ring_view *v) { return shmlog__load_acquire(&v->hdr->tail); }
uint64_t shm_ring_dropped(const struct shm_ring_view *v) { return shmlog__load_relaxed(&v->hdr->dropped); }
uint64_t shm_ring_published(const struct shm_ring_view *v) { return shmlog__load_acquire(&v->hdr->published); }

void shm_ring_release(const struct shm_ring_view *v, uint64_t pos)
{
    shm_ring_release_below(v, pos, shm_ring_head(v));
}

void shm_ring_release_below(const struct shm_ring_view *v, uint64_t pos, uint64_t head)
{
    /* A writer committing slots past its own head (only a hostile one can)
     * may carry the reader past head; a tail beyond head would make the ring
     * look full to its producers forever. */
    if ((int64_t)(pos - head) > 0)
        pos = head;
    /* Release pairs with the producer's acquire of tail: our copies of the
     * slots below pos are done before a producer may overwrite them. */
    shmlog__store_release(&v->hdr->tail, pos);
}

void shm_ring_claim(const struct shm_ring_view *v, uint64_t me)
{
    __atomic_store_n(&v->hdr->collector_pid, me, __ATOMIC_RELAXED);
}

void shm_ring_unclaim(const struct shm_ring_view *v, uint64_t me)
{
    __atomic_compare_exchange_n(&v->hdr->collector_pid, &me, 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

static const uint8_t *slot_at(const struct shm_ring_view *v, uint64_t pos)
{
    return v->slots + ((pos & v->mask) << 6);
}

/* shm_ring_next loads site and tid as one word, the four byte fields as another. */
_Static_assert(offsetof(struct shmlog_record, tid) == offsetof(struct shmlog_record, site) + 4 &&
                   offsetof(struct shmlog_record, site) % 8 == 0,
               "site and tid share an aligned word");
_Static_assert(offsetof(struct shmlog_record, level) == offsetof(struct shmlog_record, nslots) + 1 &&
                   offsetof(struct shmlog_record, category) == offsetof(struct shmlog_record, nslots) + 2 &&
                   offsetof(struct shmlog_record, flags) == offsetof(struct shmlog_record, nslots) + 3 &&
                   offsetof(struct shmlog_record, nslots) % 4 == 0,
               "nslots, level, category, flags share an aligned word");

static uint64_t slot_commit(const struct shm_ring_view *v, uint64_t pos)
{
    /* Acquire pairs with the writer's release of commit (the B-C pair in shmlog_abi.h). */
    return shmlog__load_acquire((const uint64_t *)slot_at(v, pos));
}

/* What a producer writes in a record's head slot at ring index idx, with room
 * positions reserved from it: the checks shm_ring_next and
 * shm_ring_take both make before they trust a record. */
static inline int head_ok(unsigned nslots, unsigned level, unsigned category, unsigned flags, uint64_t idx,
                          uint64_t cap, uint64_t room)
{
    return nslots != 0 && nslots <= SHMLOG_MAX_SLOTS && idx + nslots <= cap && nslots <= room &&
           level <= SHMLOG_LEVEL_FATAL && category < SHMLOG_MAX_CATEGORIES &&
           !(flags & ~(unsigned)(SHMLOG_REC_TRUNCATED | SHMLOG_REC_CLAMPED | SHMLOG_REC_BACKTRACE));
}

/* The commit word of the continuation slot at pos. */
static inline uint64_t cont_commit(uint64_t pos)
{
    return (pos + 1) | SHMLOG_COMMIT_CONT;
}

static int loss(struct shm_loss *l, uint64_t first, uint64_t positions, uint64_t records, unsigned reason)
{
    l->first_pos = first;
    l->positions = positions;
    l->records = records;
    l->reason = reason;
    return SHM_READ_LOSS;
}

/* Skips from pos to the next committed record head (or head), as one loss. */
static int skip_to_next_head(const struct shm_ring_view *v, uint64_t *pos, uint64_t head,
                             struct shm_loss *l, unsigned reason)
{
    uint64_t first = *pos;
    uint64_t p = *pos + 1;
    /* Positions are modular: compare distances. At most one ring of slots is
     * scanned, whatever a hostile head says. */
    while ((int64_t)(head - p) > 0 && p - first < v->cap && slot_commit(v, p) != p + 1)
        p++;
    *pos = p;
    return loss(l, first, p - first, 1, reason);
}

int shm_ring_next(const struct shm_ring_view *v, uint64_t *pos, struct shm_copied_record *out, int writer_dead,
                     struct shm_loss *l)
{
    for (;;) {
        uint64_t p = *pos;
        uint64_t commit = slot_commit(v, p);
        uint64_t head;
        if (commit == p + 1 && v->policy != SHMLOG_OVERWRITE) {
            /* Nothing at or past the reader's position is rewritten before it
             * releases it, so a slot committed for p is the record at p: the
             * head line, which producers write on every record, is not read.
             * p + cap is only a bound for the checks below; a bad record
             * reads the real head. */
            head = p + v->cap;
            goto committed;
        }
        head = shm_ring_head(v);
        /* Free-running positions wrap at 2^64: compare distances, not values. */
        if ((int64_t)(head - p) <= 0)
            return SHM_READ_EMPTY;
        if (head - p > v->cap) {
            /* Flight-recorder mode overtook us (or a hostile head): the oldest
             * records still there start at head - cap. */
            uint64_t from = head - v->cap;
            *pos = from;
            if (slot_commit(v, from) != from + 1) {
                uint64_t np = from;
                skip_to_next_head(v, &np, head, l, SHM_LOSS_OVERWRITTEN);
                *pos = np;
            }
            return loss(l, p, *pos - p, 0, SHM_LOSS_OVERWRITTEN);
        }
        commit = slot_commit(v, p);
        if (commit != p + 1) {
            if (!writer_dead)
                return SHM_READ_PENDING;
            return skip_to_next_head(v, pos, head, l, SHM_LOSS_DEAD_WRITER);
        }
    committed:;
        /* Each header word is loaded once and the checks use those values,
         * never the ring again. The payload is copied straight to out below:
         * a writer changing it under us changes only data, never trusted.
         * Loads into registers, not a copy of the line on the stack: reading
         * fields back out of such a copy costs a failed store-to-load
         * forward per record. */
        const uint8_t *slot = slot_at(v, p);
        struct {
            uint64_t tsc;
            uint32_t site, tid;
            uint8_t nslots, level, category, flags;
        } rec;
        uint64_t ids = shmlog__load_relaxed((const uint64_t *)(slot + offsetof(struct shmlog_record, site)));
        uint32_t attrs = __atomic_load_n((const uint32_t *)(slot + offsetof(struct shmlog_record, nslots)),
                                         __ATOMIC_RELAXED);
        rec.tsc = shmlog__load_relaxed((const uint64_t *)(slot + offsetof(struct shmlog_record, tsc)));
        rec.site = (uint32_t)ids; /* little-endian, like the ABI */
        rec.tid = (uint32_t)(ids >> 32);
        rec.nslots = (uint8_t)attrs;
        rec.level = (uint8_t)(attrs >> 8);
        rec.category = (uint8_t)(attrs >> 16);
        rec.flags = (uint8_t)(attrs >> 24);
        uint64_t idx = p & v->mask;
        if (rec.flags & SHMLOG_REC_PAD) {
            /* A pad runs exactly to the ring end, inside what was reserved:
             * skipping it must not carry pos past head. */
            if (rec.nslots == 0 || idx + rec.nslots != v->cap || rec.nslots > head - p)
                return skip_to_next_head(v, pos, shm_ring_head(v), l, SHM_LOSS_CORRUPT);
            *pos = p + rec.nslots;
            continue;
        }
        unsigned n = rec.nslots;
        if (!head_ok(n, rec.level, rec.category, rec.flags, idx, v->cap, head - p))
            return skip_to_next_head(v, pos, shm_ring_head(v), l, SHM_LOSS_CORRUPT);
        size_t payload_len = shm_record_payload(out->payload, (const struct shmlog_record *)slot, n);
        int bad = 0;
        for (unsigned i = 1; i < n; i++) {
            uint64_t commit;
            memcpy(&commit, slot_at(v, p + i), sizeof commit);
            bad |= commit != cont_commit(p + i);
        }
        if (v->policy == SHMLOG_OVERWRITE) {
            /* Our copy is good only if no writer reserved these slots again
             * while we copied: the writer's CAS on head precedes its stores. */
            shmlog__fence_acquire();
            if (shmlog__load_relaxed((const uint64_t *)slot_at(v, p)) != p + 1 ||
                shm_ring_head(v) - p > v->cap) {
                *pos = p + 1;
                return loss(l, p, 1, 1, SHM_LOSS_OVERWRITTEN);
            }
        }
        if (bad)
            return skip_to_next_head(v, pos, shm_ring_head(v), l, SHM_LOSS_CORRUPT);
        out->pos = p;
        out->tsc = rec.tsc;
        out->site = rec.site;
        out->tid = rec.tid;
        out->level = rec.level;
        out->category = rec.category;
        out->flags = rec.flags;
        out->nslots = (uint8_t)n;
        out->payload_len = (uint16_t)payload_len;
        *pos = p + n;
        return SHM_READ_RECORD;
    }
}

size_t shm_ring_take(const struct shm_ring_view *v, uint64_t *pos, uint64_t head, struct shmlog_record *out,
                        size_t max)
{
    /* There a writer may reserve a slot again while it is copied, which
     * shm_ring_next checks record by record. */
    if (v->policy == SHMLOG_OVERWRITE)
        return 0;
    uint64_t p = *pos;
    size_t n = 0;
    while (n < max && (int64_t)(head - p) > 0) {
        shm_ring_prefetch(v, p, head);
        /* As in shm_ring_next: committed for p, so nothing rewrites it
         * before we release it, and p + cap bounds what it may claim. */
        if (slot_commit(v, p) != p + 1)
            break;
        memcpy(&out[n], slot_at(v, p), sizeof(out[n]));
        /* Checked in the copy: what the caller reads is what was checked. */
        const struct shmlog_record *r = &out[n];
        unsigned k = r->nslots;
        if (k == 1) { /* the common case, its checks folded for one slot */
            if (!head_ok(1, r->level, r->category, r->flags, 0, 1, 1))
                break;
            n++;
            p++;
            continue;
        }
        if (!head_ok(k, r->level, r->category, r->flags, p & v->mask, v->cap, v->cap) || k > max - n ||
            k > head - p)
            break;
        int bad = 0;
        for (unsigned i = 1; i < k; i++) {
            shm_ring_prefetch(v, p + i, head);
            memcpy(&out[n + i], slot_at(v, p + i), sizeof(out[n + i]));
            bad |= out[n + i].commit != cont_commit(p + i);
        }
        if (bad)
            break;
        n += k;
        p += k;
    }
    *pos = p;
    return n;
}

/* ==== SIGBUS guard ==== */

sigjmp_buf *volatile shm_bus_guard;

static void on_sigbus(int sig)
{
    if (shm_bus_guard)
        siglongjmp(*shm_bus_guard, 1);
    signal(sig, SIG_DFL); /* a fault outside any guard: die of it, as without us */
    raise(sig);
}

int shm_guarded(void (*fn)(void *ctx), void *ctx)
{
    sigjmp_buf jb;
    sigjmp_buf *outer = shm_bus_guard;
    if (sigsetjmp(jb, 0) != 0) {
        shm_bus_guard = outer;
        return -EFAULT;
    }
    shm_bus_guard = &jb;
    fn(ctx);
    shm_bus_guard = outer;
    return 0;
}

int shm_bus_guard_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigbus;
    sa.sa_flags = SA_NODEFER;
    return sigaction(SIGBUS, &sa, NULL) == 0 ? 0 : -errno;
}

/* ==== Attribution ==== */

int shm_name_valid(const char *name, size_t max)
{
    size_t n = 0;
    for (; n < max && name[n]; n++) {
        char c = name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return 0;
    }
    return n > 0 && n < max && name[0] != '.';
}

/* The real uid of the process pid from /proc/<pid>/status; -1 if unknown. */
static long proc_real_uid(uint32_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%u/status", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    long uid = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Uid:", 4) == 0) {
            uid = strtol(line + 4, NULL, 10);
            break;
        }
    fclose(f);
    return uid;
}

static const char *base_name(const char *path, size_t *dir_len)
{
    const char *slash = strrchr(path, '/');
    *dir_len = slash ? (size_t)(slash - path) : 0;
    return slash ? slash + 1 : path;
}

int shm_meta_attribution(const struct shm_seg *meta, const struct shm_proc_info *info, char *err,
                            size_t errcap)
{
    size_t dir_len;
    unsigned kind;
    uint32_t pid, cpu;
    char app[SHMLOG_APP_BYTES];
    if (shm_parse_seg_name(base_name(meta->path, &dir_len), &kind, app, sizeof app, &pid, &cpu) != 0 ||
        strcmp(app, info->app) != 0)
        return fail(err, errcap, -EPERM, "%s: the name's app differs from the app '%s' inside", meta->path,
                    info->app);
    /* The start time goes with the pid: a process that is not the one that made
     * the meta (a reused pid, a pid of another pid namespace) has another. */
    /* Root's segments are exempt: a daemon may drop privileges after
     * shmlog_init, and root could write any process's records anyway. */
    if (meta->owner == 0)
        return 0;
    if (shm_proc_alive(info->pid, info->proc_start)) {
        long runs_as = proc_real_uid(info->pid);
        if (runs_as >= 0 && (uid_t)runs_as != meta->owner)
            return fail(err, errcap, -EPERM, "%s: claims pid %u, which runs as uid %ld, but is owned by uid %u",
                        meta->path, info->pid, runs_as, (unsigned)meta->owner);
    }
    /* The process that holds its lock, seen from here whatever its pid namespace. */
    long holder = shm_meta_holder(meta), runs_as = holder > 0 ? proc_real_uid((uint32_t)holder) : -1;
    if (runs_as >= 0 && (uid_t)runs_as != meta->owner)
        return fail(err, errcap, -EPERM, "%s: its lock is held by pid %ld, which runs as uid %ld, but it is owned by uid %u",
                    meta->path, holder, runs_as, (unsigned)meta->owner);
    return 0;
}

int shm_ring_belongs(const struct shm_seg *meta, const struct shm_seg *ring, char *err, size_t errcap)
{
    size_t meta_dir, ring_dir;
    base_name(meta->path, &meta_dir);
    const char *ring_base = base_name(ring->path, &ring_dir);
    const char *meta_base = meta->path + meta_dir + (meta_dir ? 1 : 0);
    unsigned kind;
    uint32_t meta_pid, ring_pid, cpu;
    char meta_app[SHMLOG_APP_BYTES], ring_app[SHMLOG_APP_BYTES];
    const char *why = NULL;
    /* A ring its process made on 4 KiB pages when its meta's hugetlbfs was
     * full lies elsewhere; the checks after this one hold for it as well. */
    int fell_back = (ring->hdr.flags & SHMLOG_SEG_FALLBACK) && (meta->hdr.flags & SHMLOG_SEG_HUGEPAGES);
    if (!fell_back && (meta_dir != ring_dir || memcmp(meta->path, ring->path, meta_dir) != 0))
        why = "is in another directory than";
    else if (ring->owner != meta->owner || ring->hdr.uid != meta->hdr.uid)
        why = "has another owner than";
    else if (ring->hdr.pid != meta->hdr.pid || ring->hdr.proc_start != meta->hdr.proc_start)
        why = "has another pid or start time than";
    else if (memcmp(ring->hdr.instance, meta->hdr.instance, sizeof meta->hdr.instance) != 0)
        why = "has another process instance than";
    else if (shm_parse_seg_name(ring_base, &kind, ring_app, sizeof ring_app, &ring_pid, &cpu) != 0 ||
             shm_parse_seg_name(meta_base, &kind, meta_app, sizeof meta_app, &meta_pid, &cpu) != 0 ||
             strcmp(ring_app, meta_app) != 0)
        why = "names another app than";
    if (why)
        return fail(err, errcap, -EPERM, "%s: %s %s", ring->path, why, meta->path);
    return 0;
}

/* ==== Processes and directories ==== */

long shm_meta_holder(const struct shm_seg *meta)
{
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = SHMLOG_LOCK_ALIVE, .l_len = 1};
    if (meta->fd < 0 || fcntl(meta->fd, F_OFD_GETLK, &lk) != 0 || lk.l_type == F_UNLCK)
        return -1;
    lk = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = SHMLOG_LOCK_PID, .l_len = 1};
    return fcntl(meta->fd, F_GETLK, &lk) == 0 && lk.l_type != F_UNLCK && lk.l_pid > 0 ? (long)lk.l_pid : 0;
}

int shm_meta_alive(const struct shm_seg *meta)
{
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = SHMLOG_LOCK_ALIVE, .l_len = 1};
    return meta->fd >= 0 && fcntl(meta->fd, F_OFD_GETLK, &lk) == 0 && lk.l_type != F_UNLCK;
}

int shm_meta_claim(const struct shm_seg *meta)
{
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = SHMLOG_LOCK_COLLECTOR, .l_len = 1};
    if (meta->fd < 0)
        return -EBADF;
    if (fcntl(meta->fd, F_OFD_SETLK, &lk) == 0)
        return 0;
    return errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
}

int shm_meta_drained(const struct shm_seg *meta)
{
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = SHMLOG_LOCK_COLLECTOR, .l_len = 1};
    return meta->fd >= 0 && fcntl(meta->fd, F_OFD_GETLK, &lk) == 0 && lk.l_type != F_UNLCK;
}

int shm_proc_alive(uint32_t pid, uint64_t proc_start)
{
    if (pid == 0 || pid > 0x7fffffffu)
        return 0;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return 0;
    uint64_t now = shmlog__proc_start(pid);
    if (now == 0)
        return 0;
    return now == proc_start;
}

uint64_t shm_proc_start_time(uint32_t pid) { return shmlog__proc_start(pid); }

void shm_prefault(void *addr, size_t bytes, int write) { shmlog__pages_fault_in(addr, bytes, write); }

int shm_default_dirs(char dirs[][4096], int max)
{
    int n = 0;
    const char *env = getenv("SHMLOG_DIR");
    if (max <= 0)
        return 0;
    if (env && *env) {
        snprintf(dirs[n++], 4096, "%s", env);
        return n;
    }
    char mnt[4096];
    if (shmlog__find_hugetlbfs(mnt, sizeof mnt) == 0) {
        int len = snprintf(dirs[n], 4096, "%s/shmlog", mnt);
        n += len > 0 && len < 4096; /* a mount path too long to hold: skip it */
    }
    if (n < max)
        snprintf(dirs[n++], 4096, "%s", "/dev/shm/shmlog");
    return n;
}

/* 1 if the 17 bytes before end are '.' and 16 lowercase hex digits. */
static int ends_in_tag(const char *name, const char *end)
{
    if (end - name < 17 || end[-17] != '.')
        return 0;
    for (const char *c = end - 16; c < end; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return 0;
    return 1;
}

int shm_parse_seg_name(const char *name, unsigned *kind, char *app, size_t app_cap, uint32_t *pid,
                          uint32_t *cpu)
{
    size_t len = strlen(name);
    const char *end;
    *cpu = 0;
    if (len > 5 && strcmp(name + len - 5, ".meta") == 0)
        *kind = SHMLOG_SEG_META;
    else if (len > 5 && strcmp(name + len - 5, ".ring") == 0)
        *kind = SHMLOG_SEG_RING;
    else
        return -1;
    end = name + len - 5;
    if (ends_in_tag(name, end))
        end -= 17;
    if (*kind == SHMLOG_SEG_RING) {
        const char *c = end;
        while (c > name && c[-1] >= '0' && c[-1] <= '9')
            c--;
        if (c == end || end - c > 5 || c - name < 4 || memcmp(c - 4, "-cpu", 4) != 0)
            return -1;
        *cpu = (uint32_t)strtoul(c, NULL, 10);
        end = c - 4;
    }
    const char *d = end;
    while (d > name && d[-1] >= '0' && d[-1] <= '9')
        d--;
    if (d == end || end - d > 10 || d - name < 2 || d[-1] != '-')
        return -1;
    unsigned long long p = strtoull(d, NULL, 10);
    if (p == 0 || p > 0x7fffffffull)
        return -1;
    size_t app_len = (size_t)(d - 1 - name);
    if (app_len + 1 > app_cap)
        return -1;
    memcpy(app, name, app_len);
    app[app_len] = 0;
    *pid = (uint32_t)p;
    return 0;
}
