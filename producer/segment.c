/* ==== Segments: directory, names, creation ====
 *
 * Compiled as part of shmlog.h's implementation (see producer/amalgamate.py),
 * so it builds as C11 and as C++17. The reader side is in shm/reader_segment.c. */
#include "shmlog.h" // amalgamate:drop
#include "shmlog_os.h" // amalgamate:drop

#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#define SHMLOG__FALLBACK_DIR "/dev/shm/shmlog"

#ifdef __cplusplus
extern "C" {
#endif

static uint64_t shmlog__realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return SHMLOG__CAST(uint64_t, ts.tv_sec) * 1000000000ull + SHMLOG__CAST(uint64_t, ts.tv_nsec);
}

/* The directory where segments of several users meet: it must not let one
 * user remove or replace another's files. NULL if safe, else why not. */
static const char *shmlog__dir_unsafe(const struct stat *st, int group)
{
    if (!S_ISDIR(st->st_mode)) /* a symlink or a file planted where the directory goes */
        return "is not a directory (a symlink or a file stands there)";
    if (st->st_uid != getuid() && st->st_uid != 0)
        return "belongs to another user, who could remove or replace its segments";
    /* The configured group is trusted with our segments; nobody else is. */
    int others_write = (st->st_mode & S_IWOTH) || ((st->st_mode & S_IWGRP) && (group < 0 || st->st_gid != SHMLOG__CAST(gid_t, group)));
    if (others_write && !(st->st_mode & S_ISVTX))
        return "is writable by others without the sticky bit, so they could remove its segments";
    return NULL;
}

/* Picks the segment directory and makes sure it exists and is safe to share.
 * want: the configured directory or NULL. *huge: it is on 2 MiB hugetlbfs.
 * A directory made here for everyone (the default places) is 01777, like
 * /tmp: any user may add segments, none may remove another's, and no name is
 * reserved (see shmlog__seg_create). With a group: 03770. A directory the
 * caller named is the caller's own: 0700, or 02770 with a group. On failure
 * one line on stderr names the directory and what fixes it. */
static int shmlog__resolve_dir(const char *want, char *out, size_t cap, int *huge, int group)
{
    const char *env = getenv("SHMLOG_DIR");
    char mnt[4096];
    int n, shared = 0;
    if (want && *want) {
        n = snprintf(out, cap, "%s", want);
    } else if (env && *env) {
        n = snprintf(out, cap, "%s", env);
    } else if (shmlog__find_hugetlbfs(mnt, sizeof mnt) == 0) {
        n = snprintf(out, cap, "%s/shmlog", mnt);
        shared = 1;
    } else {
        n = snprintf(out, cap, "%s", SHMLOG__FALLBACK_DIR);
        shared = 1;
    }
    if (n < 0 || SHMLOG__CAST(size_t, n) >= cap)
        return -ENAMETOOLONG;
    shared |= strcmp(out, SHMLOG__FALLBACK_DIR) == 0; /* also when no hugepages were free */
    mode_t mode = group >= 0 ? (shared ? 03770 : 02770) : (shared ? 01777 : 0700);
    int err = 0;
    if (mkdir(out, mode) == 0) { /* chmod: mkdir's mode passed through the umask */
        if ((group >= 0 && chown(out, SHMLOG__CAST(uid_t, -1), SHMLOG__CAST(gid_t, group)) != 0) || chmod(out, mode) != 0)
            err = -errno;
    } else if (errno != EEXIST) {
        err = -errno;
    }
    struct stat st;
    const char *unsafe = NULL;
    if (!err && lstat(out, &st) != 0)
        err = -errno;
    if (!err && (unsafe = shmlog__dir_unsafe(&st, group)) != NULL)
        err = -ENOTDIR;
    if (!err && access(out, W_OK | X_OK) != 0)
        err = -errno;
    if (err) {
        /* Fixed the way tmpfiles.d/shmlog.conf makes a shared directory. */
        int planted = unsafe && !S_ISDIR(st.st_mode); /* st is set whenever unsafe is */
        fprintf(stderr, "shmlog: segment directory %s: %s; as root: %s%s%smkdir -p %s && chown root %s && chmod %s %s "
                        "(or set SHMLOG_DIR or cfg.dir to a directory of your own)\n",
                out, unsafe ? unsafe : strerror(-err), planted ? "rm " : "", planted ? out : "", planted ? " && " : "",
                out, out, group >= 0 ? "3770" : "1777", out);
        return err;
    }
    *huge = shmlog__dir_is_hugetlbfs(out);
    return 0;
}

static size_t shmlog__seg_round(size_t bytes, int huge)
{
    size_t page = huge ? SHMLOG_HUGEPAGE_BYTES : 4096u;
    return (bytes + page - 1) & ~(page - 1);
}

/* Binds [addr, addr+bytes) to node before anything touches it. A mask on
 * the stack, not libnuma's, which allocates: a ring may be made from a log
 * call in a signal handler. */
static int shmlog__bind_node(void *addr, size_t bytes, int node)
{
    unsigned long mask[16] = {0}; /* nodes 0..1023 */
    if (node < 0 || node >= SHMLOG__CAST(int, sizeof mask * 8))
        return 0;
    size_t bit = SHMLOG__CAST(size_t, node);
    mask[bit / (8 * sizeof mask[0])] |= 1ul << (bit % (8 * sizeof mask[0]));
    return mbind(addr, bytes, MPOL_BIND, mask, sizeof mask * 8 + 1, 0) == 0 ? 0 : -errno;
}

/* The locks that say a meta segment's process runs (shm_meta_holder in
 * shm/reader.h reads them). Byte 0: an open-file-description lock, which
 * only the end of the process (or closing this descriptor) drops; a POSIX
 * lock would go with the close of any other descriptor of the file the
 * process made. Byte 1: a POSIX lock, only so readers learn the holder's pid
 * in their own pid namespace; losing it costs them nothing but that. */
static int shmlog__seg_lock(int fd)
{
    struct flock lk; /* set field by field: C++17 has no designated initializers */
    memset(&lk, 0, sizeof lk);
    lk.l_type = F_WRLCK;
    lk.l_whence = SEEK_SET;
    lk.l_start = SHMLOG_LOCK_ALIVE;
    lk.l_len = 1;
    if (fcntl(fd, F_OFD_SETLK, &lk) != 0)
        return -errno;
    lk.l_start = SHMLOG_LOCK_PID;
    (void)fcntl(fd, F_SETLK, &lk);
    return 0;
}

/* Random bytes for names and instances; getrandom() never fails for 16
 * bytes once the pool is ready, the clock and pid only stand in before. */
static void shmlog__random(void *out, size_t n)
{
    if (getrandom(out, n, 0) == SHMLOG__CAST(ssize_t, n))
        return;
    uint64_t x = shmlog__realtime_ns() ^ (SHMLOG__CAST(uint64_t, getpid()) << 32);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        SHMLOG__CAST(uint8_t *, out)[i] = SHMLOG__CAST(uint8_t, x);
    }
}

/* Creates a segment file of `bytes` (already rounded) and maps it: exclusive,
 * no symlink followed, 0600 or 0660 with group, memory bound to `node` (-1:
 * none) and faulted in now so that the hot path never page-faults. The name
 * is <stem><ext>, or <stem>.<16 random hex digits><ext> when that is taken:
 * a name another user made first (or a segment left by an earlier process
 * with our pid) never stops us. The name used goes to path (cap bytes).
 * lock_fd: NULL, or where the file's descriptor goes, with a write lock on
 * the file taken before anything else (shm_meta_holder in shm/reader.h).
 * *bound: the NUMA binding took; *locked: mlock took. 0 or -errno; nothing
 * is left on failure. */
static int shmlog__seg_create(const char *stem, const char *ext, char *path, size_t cap, size_t bytes, int node, int group,
                       int *lock_fd, void **out, int *bound, int *locked)
{
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 4; attempt++) {
        uint64_t tag;
        shmlog__random(&tag, sizeof tag);
        int n = attempt == 0 ? snprintf(path, cap, "%s%s", stem, ext)
                             : snprintf(path, cap, "%s.%016llx%s", stem, SHMLOG__CAST(unsigned long long, tag), ext);
        if (n < 0 || SHMLOG__CAST(size_t, n) >= cap)
            return -ENAMETOOLONG;
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            return -errno;
    }
    if (fd < 0)
        return -EEXIST;
    int err = lock_fd ? shmlog__seg_lock(fd) : 0;
    void *addr = MAP_FAILED;
    if (group >= 0 && (fchown(fd, SHMLOG__CAST(uid_t, -1), SHMLOG__CAST(gid_t, group)) != 0 || fchmod(fd, 0660) != 0))
        err = -errno;
    /* A size past RLIMIT_FSIZE would be SIGXFSZ, not an error: checked first. */
    struct rlimit fsize;
    if (!err && getrlimit(RLIMIT_FSIZE, &fsize) == 0 && fsize.rlim_cur != RLIM_INFINITY && bytes > fsize.rlim_cur)
        err = -EFBIG;
    if (!err && ftruncate(fd, SHMLOG__CAST(off_t, bytes)) != 0)
        err = -errno;
    /* Its pages allocated now: on a full tmpfs that is ENOSPC here, not a
     * SIGBUS when they are first written (by the prefault below, or a log
     * call). Hugetlbfs reserves them at mmap below (ENOMEM, which the
     * fallback to 4 KiB pages looks for); file systems without fallocate
     * keep the old way. */
    struct statfs sf;
    int huge = fstatfs(fd, &sf) == 0 && sf.f_type == SHMLOG__HUGETLBFS_MAGIC;
    if (!err && !huge && fallocate(fd, 0, 0, SHMLOG__CAST(off_t, bytes)) != 0 && errno != EOPNOTSUPP && errno != ENOSYS)
        err = -errno;
    if (!err) {
        /* On hugetlbfs this reserves the pages: ENOMEM here instead of SIGBUS later. */
        addr = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (addr == MAP_FAILED)
            err = -errno;
    }
    if (err || !lock_fd)
        close(fd);
    if (err) {
        unlink(path);
        return err;
    }
    if (lock_fd)
        *lock_fd = fd;
    *bound = node >= 0 && shmlog__bind_node(addr, bytes, node) == 0;
    shmlog__pages_fault_in(addr, bytes, 1); /* after the binding: on its node */
    /* Hugetlb pages are never swapped; on tmpfs this may fail under a low
     * RLIMIT_MEMLOCK, which costs a possible fault under memory pressure. */
    *locked = mlock(addr, bytes) == 0;
    *out = addr;
    return 0;
}

/* Fills the common header; magic is stored last, with release, so a reader that
 * sees the magic sees the rest. */
static void shmlog__seg_header_publish(struct shmlog_seg_header *h, uint64_t magic, unsigned kind, size_t bytes,
                                unsigned flags, uint32_t pid, uint64_t proc_start, const uint8_t instance[16])
{
    memcpy(h->instance, instance, sizeof h->instance);
    h->abi_version = SHMLOG_ABI_VERSION;
    h->header_bytes = kind == SHMLOG_SEG_META ? SHMLOG_META_HEADER_BYTES : SHMLOG_RING_HEADER_BYTES;
    h->kind = kind;
    h->flags = flags;
    h->segment_bytes = bytes;
    h->format_word = SHMLOG_FORMAT_WORD;
    h->pid = pid;
    h->uid = getuid();
    h->proc_start = proc_start;
    h->created_ns = shmlog__realtime_ns();
    shmlog__store_release(&h->magic, magic);
}

#ifdef __cplusplus
}
#endif
