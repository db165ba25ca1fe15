/*
 * messages.c - the collector's one way to say something: a line on stderr,
 * safe to print whatever names other users gave their files.
 */
#include <stdarg.h>
#include <stdio.h>

#include "collector.h"

__attribute__((format(printf, 1, 2)))
/* One line on stderr. File names in it come from directories other users
 * write: a control character is shown as \xNN, so no name can forge a line
 * of the log. */
void warnx(const char *fmt, ...)
{
    char line[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fputs(PROG ": ", stderr);
    for (const unsigned char *c = (const unsigned char *)line; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            fprintf(stderr, "\\x%02x", *c);
        else
            fputc(*c, stderr);
    fputc('\n', stderr);
}
