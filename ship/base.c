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

