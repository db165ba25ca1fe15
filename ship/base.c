/*
 * base.c - what every file of shmlog-ship uses: the one-line warning on
 * stderr and the two clocks.
 */
#include <stdarg.h>
#include <time.h>

#include "ship.h"

void warnx(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, PROG ": %s\n", line);
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t real_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

uint64_t mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}
