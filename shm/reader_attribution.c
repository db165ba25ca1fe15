/*
 * reader_attribution.c - which records are whose: the one rule by which the
 * collector and the dump take a meta segment as its process's word and a
 * ring as that process's (reader.h, "attribution"), and the names producers
 * may write.
 */
#include "reader.h"
#include "reader_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        return shm_fail(err, errcap, -EPERM, "%s: the name's app differs from the app '%s' inside", meta->path,
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
            return shm_fail(err, errcap, -EPERM, "%s: claims pid %u, which runs as uid %ld, but is owned by uid %u",
                        meta->path, info->pid, runs_as, (unsigned)meta->owner);
    }
    /* The process that holds its lock, seen from here whatever its pid namespace. */
    long holder = shm_meta_holder(meta), runs_as = holder > 0 ? proc_real_uid((uint32_t)holder) : -1;
    if (runs_as >= 0 && (uid_t)runs_as != meta->owner)
        return shm_fail(err, errcap, -EPERM, "%s: its lock is held by pid %ld, which runs as uid %ld, but it is owned by uid %u",
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
        return shm_fail(err, errcap, -EPERM, "%s: %s %s", ring->path, why, meta->path);
    return 0;
}
