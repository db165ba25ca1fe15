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
void watch_init(segment_found_fn found, struct collector_state *c);
/* Segment files refused (each reported once). */
uint64_t scan_rejected(void);
/* Between drain passes: inotify's news, and a slice of a directory listing. */
void scan_step(uint64_t now);
/* Every directory listed to its end, now (the start, the shutdown). */
void scan_all(void);
/* A listing of directory dir soon: a process there ended, and every ring it
 * made must have been found before its EXIT. */
void scan_soon(int dir);
/* Listings of directory dir begun, and the last one completed. */
uint64_t listings_begun(int dir);
uint64_t listings_done(int dir);
/* A segment file of dir is a process's now, or no longer. */
void scan_attached(int dir, const char *path, ino_t ino);
void scan_detached(int dir, const char *path, ino_t ino);

#endif
