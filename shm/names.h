/*
 * names.h - the names of levels, categories (shmlog_abi.h) and loss reasons
 * (enum shmlog_loss_reason, reader.h) that every reader prints and parses:
 * the dump's text and JSON, the collector's alert rules and metrics labels.
 * One table each, so that a name is the same everywhere.
 */
#ifndef SHMLOG_NAMES_H
#define SHMLOG_NAMES_H

#ifdef __cplusplus
extern "C" {
#endif

const char *shmlog_level_name(unsigned level);       /* "TRACE" .. "FATAL"; NULL when out of range */
const char *shmlog_category_name(unsigned category); /* "none", "trade", ...; NULL when out of range */
const char *shmlog_loss_reason_name(unsigned reason); /* "dropped", ...; "unknown" when out of range */

#ifdef __cplusplus
}
#endif

#endif /* SHMLOG_NAMES_H */
