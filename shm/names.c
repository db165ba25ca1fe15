/* names.c - the one table of each name: see names.h. */
#include "names.h"

#include "reader.h"

const char *shm_level_name(unsigned level)
{
    static const char *const names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
    return level < sizeof names / sizeof names[0] ? names[level] : NULL;
}

const char *shm_category_name(unsigned category)
{
    static const char *const names[SHMLOG_CAT_COUNT] = {"none", "trade", "order", "market_data",
                                                         "risk", "portfolio"};
    return category < SHMLOG_CAT_COUNT ? names[category] : NULL;
}

size_t shm_category_name_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
        n++;
    return n;
}

const char *shm_loss_reason_name(unsigned reason)
{
    switch (reason) {
    case SHM_LOSS_DROPPED: return "dropped";
    case SHM_LOSS_DEAD_WRITER: return "dead_writer";
    case SHM_LOSS_OVERWRITTEN: return "overwritten";
    case SHM_LOSS_CORRUPT: return "corrupt";
    case SHM_LOSS_UNREADABLE: return "unreadable";
    case SHM_LOSS_NO_RING: return "no_ring";
    case SHM_LOSS_UNREGISTERED: return "unregistered";
    case SHM_LOSS_BEFORE_INIT: return "before_init";
    case SHM_LOSS_UNENCODABLE: return "unencodable";
    case SHM_LOSS_UNDECODABLE: return "undecodable";
    default: return "unknown";
    }
}
