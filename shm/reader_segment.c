/*
 * reader_segment.c - a segment of another process opened: its name parsed,
 * its owner accepted, its size and header checked on a private copy before
 * anything in it is used, and every page of it mapped in at once; and the
 * one-line reasons every file of the reader gives (shm_fail).
 */
#include "reader.h"
#include "reader_private.h"
#include "shmlog_os.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/magic.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#define SHM_MAX_SEGMENT_BYTES (64ull << 30)
/* The oldest segment ABI read: version 2 rings have no progress line and are
 * drained by their head (shm_ring_publishes). */
#define SHM_ABI_OLDEST 2u

int shm_fail(char *err, size_t cap, int code, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

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
        return shm_fail(err, errcap, -ENAMETOOLONG, "%s: path too long", path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    unsigned kind;
    char app[SHMLOG_APP_BYTES];
    uint32_t name_pid, name_cpu;
    if (shm_parse_seg_name(base, &kind, app, sizeof app, &name_pid, &name_cpu) != 0)
        return shm_fail(err, errcap, -EINVAL, "%s: not a segment name", path);

    /* O_NOFOLLOW: a symlink planted in the directory is refused, not followed. */
    int fd = open(path, (mode != SHM_OPEN_READ ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return shm_fail(err, errcap, -errno, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return shm_fail(err, errcap, -e, "%s: %s", path, strerror(e));
    }
    const char *why = NULL;
    if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if ((uint64_t)st.st_size < SHMLOG_RING_HEADER_BYTES || (uint64_t)st.st_size > SHM_MAX_SEGMENT_BYTES)
        why = "implausible size";
    if (why) {
        close(fd);
        return shm_fail(err, errcap, -EPERM, "%s: %s", path, why);
    }
    if (!shm_accepts(acc, st.st_uid)) {
        close(fd);
        struct passwd pw, *found = NULL;
        char buf[4096];
        int named = getpwuid_r(st.st_uid, &pw, buf, sizeof buf, &found) == 0 && found;
        return shm_fail(err, errcap, -EACCES, "%s: owned by uid %u%s%s%s, whose segments are not accepted", path,
                    (unsigned)st.st_uid, named ? " (" : "", named ? pw.pw_name : "", named ? ")" : "");
    }
    size_t bytes = (size_t)st.st_size;
    void *addr = mmap(NULL, bytes, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
    int map_errno = errno;
    if (addr == MAP_FAILED) {
        close(fd);
        return shm_fail(err, errcap, -map_errno, "%s: mmap: %s", path, strerror(map_errno));
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
        return shm_fail(err, errcap, h.magic == 0 ? -EAGAIN : -EINVAL, "%s: %s", path, why);
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
