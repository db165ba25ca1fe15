/*
 * scan.h - finding segments: inotify and directory listings, each file found
 * handed to segment_found (scan.c; private to shmlog-collector).
 */
#ifndef COLLECTOR_SCAN_H
#define COLLECTOR_SCAN_H

#include "collector.h"

/* What became of a segment file scan.c found (its owner accepted). */
enum found {
    FOUND_OURS,  /* opened: a process's meta or ring */
    FOUND_FINAL, /* refused for good (err says why) */
    FOUND_RETRY, /* refused for now (err says why): looked at again at each listing */
    FOUND_LATER, /* being made, or a ring whose meta is not there yet: tried again soon */
    FOUND_AGAIN, /* nothing to say: looked at again at the next listing */
};

/* ==== Finding segments (scan.c) ==== */

#define RESCAN_NS 1000000000ull /* a directory is listed at least this often ... */
#define RESCAN_WATCHED_NS 60000000000ull /* ... or this often under an inotify watch that lost no event */

/* What scan.c does with a segment file it found: segment_found (procs.c). */
typedef enum found (*segment_found_fn)(struct collector_state *c, int dir, const char *path, unsigned kind, uint32_t pid, uint32_t cpu,
                                       const struct stat *st, char *err, size_t errcap);
/* What scan.c keeps: the table of files looked at, the watches, the listings. */
struct scan;

/* At start: the inotify instance (without one, the listings find everything,
 * and the table keeps no refusal), no watch yet. NULL when out of memory. */
struct scan *scan_new(segment_found_fn found, struct collector_state *c);
/* Segment files refused (each reported once). */
uint64_t scan_rejected(struct scan *sc);
/* Between drain passes: inotify's news, and a slice of a directory listing. */
void scan_step(struct scan *sc, uint64_t now);
/* Every directory listed to its end, now (the start, the shutdown). */
void scan_all(struct scan *sc);
/* A listing of directory dir soon: a process there ended, and every ring it
 * made must have been found before its EXIT. */
void scan_soon(struct scan *sc, int dir);
/* Listings of directory dir begun, and the last one completed. */
uint64_t listings_begun(struct scan *sc, int dir);
uint64_t listings_done(struct scan *sc, int dir);
/* A segment file of dir is a process's now, or no longer. */
void scan_attached(struct scan *sc, int dir, const char *path, ino_t ino);
void scan_detached(struct scan *sc, int dir, const char *path, ino_t ino);

#endif
