/*
 * names.h - the names of levels, categories (shmlog_abi.h) and loss reasons
 * (enum shm_loss_reason, reader.h) that every reader prints and parses:
 * the dump's text and JSON, the collector's alert rules and metrics labels.
 * One table each, so that a name is the same everywhere.
 */
#ifndef SHM_NAMES_H
#define SHM_NAMES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

const char *shm_level_name(unsigned level);       /* "TRACE" .. "FATAL"; NULL when out of range */
const char *shm_category_name(unsigned category); /* "none", "trade", ...; NULL when out of range */
/* How many of the first max bytes at s a category's name may hold: [a-z0-9_]. */
size_t shm_category_name_len(const char *s, size_t max);
const char *shm_loss_reason_name(unsigned reason); /* "dropped", ...; "unknown" when out of range */

#ifdef __cplusplus
}
#endif

#endif /* SHM_NAMES_H */
