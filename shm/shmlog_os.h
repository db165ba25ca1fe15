/*
 * shmlog_os.h - facts about the host that both sides of the segment ABI ask:
 * where hugetlbfs is mounted, when a process started (to tell it from a later
 * one with the same pid), and faulting pages in before they are needed.
 *
 * Both the producer (inlined into the implementation part of shmlog.h by
 * producer/amalgamate.py) and the segment reader (shm/reader_*.c) include it.
 * The functions are static inline so that a program linking both (a test with
 * its own producer) gets no duplicate symbols, and the single header stays
 * self-contained.
 */
#ifndef SHMLOG_OS_H
#define SHMLOG_OS_H

#include "shmlog_abi.h" // amalgamate:drop

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <unistd.h>

#define SHMLOG__HUGETLBFS_MAGIC 0x958458f6L

/* 1 if dir is on hugetlbfs with 2 MiB pages, the only size segments are cut for. */
static inline int shmlog__dir_is_hugetlbfs(const char *dir)
{
    struct statfs sf;
    if (statfs(dir, &sf) != 0)
        return 0;
    return sf.f_type == SHMLOG__HUGETLBFS_MAGIC && sf.f_bsize == SHMLOG_HUGEPAGE_BYTES;
}

/* The first hugetlbfs mount with 2 MiB pages, from /proc/mounts. 0 or -ENOENT. */
static inline int shmlog__find_hugetlbfs(char *out, size_t cap)
{
    FILE *f = fopen("/proc/mounts", "re");
    if (!f)
        return -ENOENT;
    char line[4096];
    int found = -ENOENT;
    while (found && fgets(line, sizeof line, f)) {
        char dev[256], mnt[4096], type[64];
        if (sscanf(line, "%255s %4095s %63s", dev, mnt, type) != 3 || strcmp(type, "hugetlbfs") != 0)
            continue;
        if (strchr(mnt, '\\')) /* octal escapes: a path we would have to decode; skip */
            continue;
        if (shmlog__dir_is_hugetlbfs(mnt) && strlen(mnt) < cap) {
            memcpy(out, mnt, strlen(mnt) + 1);
            found = 0;
        }
    }
    fclose(f);
    return found;
}

/* starttime (field 22) of /proc/<pid>/stat: with the pid it names a process
 * uniquely across pid reuse. 0 when the process does not exist. */
static inline uint64_t shmlog__proc_start(uint32_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    /* comm may hold spaces and parentheses: fields restart after the last ')' */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p++;
    for (int field = 2; field < 22 && *p; p++)
        if (*p == ' ')
            field++;
    return strtoull(p, NULL, 10);
}

/* Maps every page of [addr, addr + bytes) into this process now, each read
 * (write 0) or rewritten with its own value (write 1) once. The kernel can
 * fill the page table in one call, but a hypervisor that shadows page tables
 * still traps the first access to each page, so both are done (a fault left
 * for a log call shows in the tail bench/run.sh prints). */
static inline void shmlog__pages_fault_in(void *addr, size_t bytes, int write)
{
    size_t page = SHMLOG__CAST(size_t, sysconf(_SC_PAGESIZE));
#if defined(MADV_POPULATE_READ) && defined(MADV_POPULATE_WRITE)
    uintptr_t from = (SHMLOG__REINTERPRET(uintptr_t, addr) + page - 1) & ~(page - 1);
    uintptr_t to = (SHMLOG__REINTERPRET(uintptr_t, addr) + bytes) & ~(page - 1);
    if (to > from) /* an old kernel refuses it: the accesses below fault instead */
        (void)madvise(SHMLOG__REINTERPRET(void *, from), to - from, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
#endif
    volatile uint8_t *p = SHMLOG__CAST(volatile uint8_t *, addr);
    for (size_t off = 0; off < bytes; off += page) {
        uint8_t b = p[off];
        if (write)
            p[off] = b;
    }
}

#endif /* SHMLOG_OS_H */
