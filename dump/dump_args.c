/*
 * dump_args.c - what every command of shmlog-dump reads its arguments with:
 * the one usage error and the level names a person types. shmlog-dump.c's
 * command line and the commands call it; it calls none of them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "dump.h"

void usage_error(const char *fmt, ...)
{
    /* One line, then exit 2: scripts see a clear reason and a usage failure. */
    va_list ap;
    out_flush();
    fprintf(stderr, "%s: ", dump_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see '%s --help')\n", dump_prog);
    exit(EXIT_USAGE);
}

int parse_level(const char *s, int allow_off)
{
    static const char *const names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF"};
    int max = allow_off ? SHMLOG_LEVEL_OFF : SHMLOG_LEVEL_FATAL;
    for (int i = 0; i <= max; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    if (strcasecmp(s, "WARNING") == 0)
        return SHMLOG_LEVEL_WARN;
    if (s[0] >= '0' && s[0] <= '0' + max && s[1] == '\0')
        return s[0] - '0';
    return -1;
}
