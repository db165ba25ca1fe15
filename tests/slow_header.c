/*
 * slow_header.c - an LD_PRELOAD module for tests/test_dump_ops.sh: the collector's write of a file's
 * header (pwrite of SHLOG_FILE_HEADER_BYTES at offset 0) starts SLOW_HEADER_MS milliseconds late, as when
 * the collector is descheduled between making the file and writing its header on a loaded machine; what a
 * reader sees of the file meanwhile is then seen on every run. Each delayed write appends a line to the
 * file SLOW_HEADER_MARK, which shows that the module was preloaded and did its part.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "shlog_file.h"

typedef ssize_t pwrite_fn(int, const void *, size_t, off_t);

/* Under _FILE_OFFSET_BITS=64 (as the collector is built) this is pwrite64, the name its calls take. */
ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    pwrite_fn *real = (pwrite_fn *)dlsym(RTLD_NEXT, "pwrite");
    if (!real)
        abort(); /* no libc under the module: the test is wrong */
    const char *ms = getenv("SLOW_HEADER_MS");
    if (ms && off == 0 && n == SHLOG_FILE_HEADER_BYTES) {
        long v = atol(ms);
        struct timespec d = {v / 1000, (v % 1000) * 1000000L};
        nanosleep(&d, NULL);
        const char *path = getenv("SLOW_HEADER_MARK");
        FILE *f = path ? fopen(path, "a") : NULL;
        if (f) {
            fprintf(f, "header of %zu bytes (fd %d) written %ld ms late\n", n, fd, v);
            fclose(f);
        }
    }
    return real(fd, buf, n, off);
}
