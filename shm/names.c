/* names.c - the one table of each name: see names.h. */
#include "names.h"

#include "reader.h"

const char *shmlog_level_name(unsigned level)
{
    static const char *const names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
    return level < sizeof names / sizeof names[0] ? names[level] : NULL;
}

const char *shmlog_category_name(unsigned category)
{
    static const char *const names[SHMLOG_CAT_COUNT] = {"none", "trade", "order", "market_data",
                                                         "risk", "portfolio"};
    return category < SHMLOG_CAT_COUNT ? names[category] : NULL;
}

const char *shmlog_loss_reason_name(unsigned reason)
{
    switch (reason) {
    case SHMLOG_LOSS_DROPPED: return "dropped";
    case SHMLOG_LOSS_DEAD_WRITER: return "dead_writer";
    case SHMLOG_LOSS_OVERWRITTEN: return "overwritten";
    case SHMLOG_LOSS_CORRUPT: return "corrupt";
    case SHMLOG_LOSS_UNREADABLE: return "unreadable";
    case SHMLOG_LOSS_NO_RING: return "no_ring";
    case SHMLOG_LOSS_UNREGISTERED: return "unregistered";
    default: return "unknown";
    }
}
