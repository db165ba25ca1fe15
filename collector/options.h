/*
 * options.h - the command line: struct options, filled once by parse_options
 * and read-only after (options.c; private to shmlog-collector).
 */
#ifndef COLLECTOR_OPTIONS_H
#define COLLECTOR_OPTIONS_H

#include "collector.h"

enum fsync_mode { FSYNC_NEVER, FSYNC_ROTATE, FSYNC_BATCH };

struct options {
    char dirs[MAX_DIRS][4096];
    int ndirs;
    char out[4096];
    cpu_set_t cpus;
    int have_cpus;
    int sqpoll_cpu;
    int busy_poll;
    uint64_t rotate_bytes;
    uint64_t rotate_ns;
    uint64_t keep;
    uint64_t max_bytes;
    int zstd_level;
    int zstd_fast_level; /* while a ring fills: see set_frame_level */
    enum fsync_mode fsync;
    uid_t uids[MAX_UIDS];
    size_t nuids;
    gid_t gids[MAX_UIDS];
    size_t ngids;
    struct shm_accept accept; /* the two lists above, and always our own uid */
    int once;
    const char *metrics_listen;
    int metrics_allow_remote;
    const char *metrics_file;
    unsigned metrics_interval_s;
    uint64_t max_delay_ns; /* longest a ring's published point may stand before its head is read */
    int have_group;        /* --group: output readable by out_gid */
    gid_t out_gid;
    char host[SHMLOG_HOST_BYTES]; /* --host, or "" for the system's name */
    const char *ship_state;       /* --ship-state: shmlog-ship's cursor, or NULL */
};

/* Fills o from the command line, and the rules of --alert into alerts. */
void parse_options(int argc, char **argv, struct options *o, struct alert_set *alerts);

#endif
