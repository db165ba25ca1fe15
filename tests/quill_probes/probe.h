/* What every probe of tests/quill_probes/ uses: the header, libfmt, and the two ways a probe says what its
 * records must read back as. Each probe file (one call a shop moving from Quill would write) defines
 * static void PROBE_FN(); probes.sh makes a program of one probe, or of all, by including them. */
#ifndef QUILL_PROBE_H
#define QUILL_PROBE_H
#include "shmlog.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fmt/std.h>

#include <cstdio>
#include <cstring>
#include <string>

/* "want <probe file> <message>": the message the next record of that probe's file must read back as. */
static inline void probe_want(const char *file, const std::string &message)
{
    const char *slash = std::strrchr(file, '/');
    std::printf("want %s %s\n", slash ? slash + 1 : file, message.c_str());
}
#define WANT(message) probe_want(__FILE__, message)
/* The call logged, and the message fmt::format makes of the same format and arguments. */
#define BOTH(...)                                                                          \
    do {                                                                                   \
        SHMLOG_INFO(__VA_ARGS__);                                                          \
        WANT(fmt::format(__VA_ARGS__));                                                    \
    } while (0)
#endif
