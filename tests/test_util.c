/* Description: the test helper library (see test_util.h). */
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int tu_mkdtemp_in(char *out, size_t cap, const char *parent, const char *tag)
{
    int n = snprintf(out, cap, "%s/shmlog-test-%s-XXXXXX", parent, tag);
    if (n < 0 || (size_t)n >= cap)
        return -ENAMETOOLONG;
    return mkdtemp(out) ? 0 : -errno;
}

int tu_mkdtemp(char *out, size_t cap, const char *tag)
{
    return tu_mkdtemp_in(out, cap, "/dev/shm", tag);
}

/* Segment directories are shallow; the depth bound keeps a planted loop or a
 * deep tree from recursing without end. Symlinks are removed, not followed. */
static void rmtree_at(int parent, const char *name, int depth)
{
    if (unlinkat(parent, name, 0) == 0 || errno != EISDIR || depth > 8)
        return;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                rmtree_at(dirfd(d), e->d_name, depth + 1);
        closedir(d);
    } else if (fd >= 0) {
        close(fd);
    }
    unlinkat(parent, name, AT_REMOVEDIR);
}

void tu_rmtree(const char *dir)
{
    rmtree_at(AT_FDCWD, dir, 0);
}

/* One pass over dir: two passes (all, then the unfinished) race a rename and
 * can count one file under both names. */
static size_t count_entries(const char *dir, const char *suffix, int want_suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    size_t slen = suffix ? strlen(suffix) : 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int has_suffix = len >= slen && strcmp(e->d_name + len - slen, suffix ? suffix : "") == 0;
        if (has_suffix == want_suffix)
            n++;
    }
    closedir(d);
    return n;
}

size_t tu_count_files(const char *dir, const char *suffix)
{
    return count_entries(dir, suffix, 1);
}

size_t tu_count_files_without(const char *dir, const char *suffix)
{
    return count_entries(dir, suffix, 0);
}

uint64_t tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void tu_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

uint64_t tu_env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 0) : dflt;
}

uint64_t tu_seed(const char *var, const char *test)
{
    uint64_t seed = tu_env_u64(var, 0);
    if (!seed)
        seed = (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
    fprintf(stderr, "%s: seed %lu (replay: %s=%lu)\n", test, (unsigned long)seed, var, (unsigned long)seed);
    return seed;
}

int tu_catches(pid_t pid, int sig)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    unsigned long long caught = 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "SigCgt: %llx", &caught) == 1)
            break;
    fclose(f);
    return (int)((caught >> (sig - 1)) & 1);
}

long tu_read_nr_hugepages(void)
{
    char buf[64];
    return tu_read_file("/proc/sys/vm/nr_hugepages", buf, sizeof buf) > 0 ? strtol(buf, NULL, 10) : -1;
}

int tu_write_nr_hugepages(long n)
{
    FILE *f = fopen("/proc/sys/vm/nr_hugepages", "we");
    if (!f)
        return -errno;
    fprintf(f, "%ld\n", n);
    return fclose(f) == 0 ? 0 : -errno;
}

int tu_proc_open(struct tu_proc *p, const char *dir, const char *app, uint32_t pid, int writable, char *err,
                 size_t errcap)
{
    char path[TU_PATH_MAX];
    memset(p, 0, sizeof *p);
    snprintf(path, sizeof path, "%s/%s-%u.meta", dir, app, pid);
    int rc = shm_seg_open(&p->meta, path, writable, NULL, err, errcap);
    if (rc)
        return rc;
    rc = shm_meta_info(&p->meta, &p->info, err, errcap);
    if (rc)
        goto fail;
    DIR *d = opendir(dir);
    if (!d) {
        rc = -errno;
        goto fail;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        unsigned kind;
        char name_app[SHMLOG_APP_BYTES];
        uint32_t name_pid, cpu;
        if (shm_parse_seg_name(e->d_name, &kind, name_app, sizeof name_app, &name_pid, &cpu) != 0 ||
            kind != SHMLOG_SEG_RING || name_pid != pid || strcmp(name_app, app) != 0)
            continue;
        if (p->nrings == TU_MAX_RINGS) {
            rc = -E2BIG;
            break;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        int i = p->nrings;
        rc = shm_seg_open(&p->ring_seg[i], path, writable, NULL, err, errcap);
        if (!rc) {
            rc = shm_ring_view_init(&p->ring[i], &p->ring_seg[i], err, errcap);
            if (rc)
                shm_seg_close(&p->ring_seg[i]);
        }
        if (rc)
            break;
        if (p->ring[i].cpu != cpu) {
            snprintf(err, errcap, "%s: header cpu %u differs from the name", path, p->ring[i].cpu);
            shm_seg_close(&p->ring_seg[i]);
            rc = -EINVAL;
            break;
        }
        p->nrings++;
    }
    closedir(d);
    if (!rc)
        return 0;
fail:
    tu_proc_close(p);
    return rc;
}

void tu_proc_close(struct tu_proc *p)
{
    for (int i = 0; i < p->nrings; i++)
        shm_seg_close(&p->ring_seg[i]);
    p->nrings = 0;
    shm_seg_close(&p->meta);
}

int tu_drain(const struct shm_ring_view *v, uint64_t *pos, int writer_dead, tu_record_fn on_record, void *ctx,
             struct tu_drain_stats *stats)
{
    struct shm_copied_record rec;
    struct shm_loss loss;
    for (;;) {
        int st = shm_ring_next(v, pos, &rec, writer_dead, &loss);
        if (st == SHM_READ_RECORD) {
            if (stats)
                stats->records++;
            int rc = on_record ? on_record(&rec, v, ctx) : 0;
            if (rc)
                return rc;
        } else if (st == SHM_READ_LOSS) {
            if (stats) {
                unsigned r = loss.reason <= SHM_LOSS_UNREADABLE ? loss.reason : 0;
                stats->loss_events++;
                stats->lost_records[r] += loss.records;
                stats->lost_positions[r] += loss.positions;
            }
        } else {
            return st;
        }
    }
}

int tu_arg_u32(const struct shm_copied_record *rec, size_t off, uint32_t *out)
{
    if (off + 4 > rec->payload_len)
        return -1;
    memcpy(out, rec->payload + off, 4);
    return 0;
}

int tu_arg_u64(const struct shm_copied_record *rec, size_t off, uint64_t *out)
{
    if (off + 8 > rec->payload_len)
        return -1;
    memcpy(out, rec->payload + off, 8);
    return 0;
}

long tu_arg_str(const struct shm_copied_record *rec, size_t off, const uint8_t **bytes, size_t *len, int *cut)
{
    uint16_t hdr;
    if (off + 2 > rec->payload_len)
        return -1;
    memcpy(&hdr, rec->payload + off, 2);
    size_t n = hdr & SHMLOG_STR_LEN_MASK;
    if (off + 2 + n > rec->payload_len)
        return -1;
    *bytes = rec->payload + off + 2;
    *len = n;
    *cut = (hdr & SHMLOG_STR_TRUNCATED) != 0;
    return (long)(off + 2 + n);
}

int tu_pin_self(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : -errno;
}

int tu_allowed_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 1;
    return CPU_COUNT(&set);
}

void *tu_writable_mapping(const char *path, const void *besides)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return NULL;
    char line[TU_PATH_MAX + 256];
    size_t len = strlen(path);
    void *addr = NULL;
    while (!addr && fgets(line, sizeof line, f)) {
        /* start-end perms offset dev inode path */
        char *perms = strchr(line, ' ');
        char *name = strchr(line, '/');
        if (perms && name && perms[2] == 'w' && strncmp(name, path, len) == 0 && name[len] == '\n')
            addr = (void *)(uintptr_t)strtoull(line, NULL, 16);
        if (addr == besides)
            addr = NULL;
    }
    fclose(f);
    return addr;
}

ssize_t tu_read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t got = 0;
    while (got + 1 < cap) {
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = 0;
    return (ssize_t)got;
}

int tu_count_substr(const char *haystack, const char *needle)
{
    int n = 0;
    size_t len = strlen(needle);
    for (const char *p = strstr(haystack, needle); p; p = strstr(p + len, needle))
        n++;
    return n;
}
