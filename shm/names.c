/* names.c - the one table of each name: see names.h. */
#include "names.h"

#include "reader.h"

#include <stdio.h>
#include <string.h>

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
    case SHM_LOSS_FILE_REMOVED: return "file_removed";
    default: return "unknown";
    }
}

/* ==== A process's categories (reader.h declares them, with the segments they come from) ==== */

const char *shm_categories_name(const struct shm_categories *c, unsigned id)
{
    if (id < SHMLOG_CAT_COUNT)
        return shm_category_name(id);
    return c && id < c->count && id < SHMLOG_MAX_CATEGORIES && c->names[id][0] ? c->names[id] : NULL;
}

int shm_category_find(const struct shm_categories *c, const char *name)
{
    unsigned n = c ? c->count : SHMLOG_CAT_COUNT;
    for (unsigned i = 0; i < n && i < SHMLOG_MAX_CATEGORIES; i++) {
        const char *have = shm_categories_name(c, i);
        if (have && strcmp(have, name) == 0)
            return (int)i;
    }
    return -1;
}

int shm_category_spelled(const char *typed, char out[SHMLOG_CATEGORY_NAME_BYTES])
{
    size_t n = strlen(typed);
    if (n == 0 || n >= SHMLOG_CATEGORY_NAME_BYTES)
        return -1;
    for (size_t i = 0; i <= n; i++) {
        char ch = typed[i];
        out[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
    }
    if (shm_category_name_len(out, n) != n)
        return -1;
    if (strcmp(out, "md") == 0)
        snprintf(out, SHMLOG_CATEGORY_NAME_BYTES, "%s", shm_category_name(SHMLOG_CAT_MARKET_DATA));
    return 0;
}
