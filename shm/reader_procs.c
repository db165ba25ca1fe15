/*
 * reader_procs.c - processes and directories: whether a producer or a
 * collector holds a meta segment's locks, whether a pid is still the process
 * it was, and where segments are and how they are named.
 */
#include "reader.h"
#include "shmlog_os.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
