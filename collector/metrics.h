/*
 * metrics.h - the collector's metrics in the Prometheus text exposition
 * format (version 0.0.4), served over HTTP and written as a node_exporter
 * textfile.
 *
 * The drain loop never waits for a reader. It fills a staging snapshot and
 * publishes it with a pointer swap under a mutex it only ever try-locks; the
 * readers (the HTTP thread of libmicrohttpd and the textfile thread) take the
 * newest published snapshot with another swap and format it unlocked:
 *
 *   drain loop: fill stage --trylock: swap(stage, ready)--> ready
 *   reader:     lock: swap(ready, front) if fresh --> format front, no lock held
 *
 * Metric names are a contract with dist/grafana-shmlog.json (see
 * dist/shmlog-metrics.txt).
 */
#ifndef COLLECTOR_METRICS_H
#define COLLECTOR_METRICS_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "reader.h"

/* One ring, labels app, pid, cpu. */
struct metrics_ring {
    char app[SHMLOG_APP_BYTES];
    uint32_t pid;
    uint32_t cpu;
    uint64_t records;        /* drained */
    uint64_t payload_bytes;  /* payload bytes of the drained records */
    uint64_t dropped;        /* the ring's own dropped counter */
    double fill_ratio;       /* (head - tail) / capacity, 0..1 */
    double lag_seconds;      /* age of the oldest record not yet drained, 0 when none */
};

/* One process, labels app, pid. */
struct metrics_proc {
    char app[SHMLOG_APP_BYTES];
    uint32_t pid;
    uint32_t call_sites;
    uint32_t level;          /* live level, enum shmlog_level */
    uint64_t out_of_range;   /* calls written clamped */
    uint32_t ncats;          /* categories with a name, built-in ones first */
    struct metrics_category {
        char name[SHMLOG_CATEGORY_NAME_BYTES];
        uint32_t level;      /* live */
        uint64_t records;
    } cats[SHMLOG_MAX_CATEGORIES];
};


struct metrics_totals {
    uint64_t files;             /* output files opened */
    uint64_t written_bytes;     /* compressed bytes whose write completed */
    uint64_t fast_frames;       /* frames compressed at --zstd-fast-level */
    uint64_t records;           /* records encoded into frames */
    uint64_t record_bytes;      /* their ring bytes, 64 per slot: the compression ratio's numerator */
    uint64_t write_errors;
    uint64_t rotations;
    uint64_t unshipped_removed; /* files --max-bytes removed before shmlog-ship had them */
    uint64_t segments_rejected;
    uint64_t backtrace_written, backtrace_discarded, backtrace_requests;
    uint64_t losses[SHM_LOSS_REASON_MAX + 1]; /* records, by enum shm_loss_reason (UNREADABLE:
                                                    only readers of files see it, no series) */
    double cpu_seconds;
};

/* The host's clocks and the collector's anchors (shm/clock.h). */
struct metrics_clock {
    int tsc_invariant;        /* 1, 0, or -1: unknown */
    int synchronized;         /* the kernel's clock: 1, 0, or -1: unknown */
    uint64_t esterror_ns;     /* the kernel's estimated error of CLOCK_REALTIME */
    uint64_t maxerror_ns;     /* and its maximum error */
    char clocksource[32];     /* "" if unknown */
    uint64_t anchors;         /* anchors taken */
    uint64_t steps;           /* steps of CLOCK_REALTIME seen */
    uint32_t last_err_ns;     /* the last anchor's error */
    double tsc_hz;            /* TSC ticks per second of CLOCK_REALTIME, as measured */
};

struct metrics_snapshot {
    struct metrics_totals totals;
    struct metrics_clock clock;
    struct metrics_ring *rings;
    size_t nrings, rings_cap;
    struct metrics_proc *procs;
    size_t nprocs, procs_cap;
};

struct metrics_config {
    const char *listen;          /* "ADDR:PORT" or NULL */
    int allow_remote;            /* a non-loopback listen address is accepted */
    const char *file;            /* textfile path or NULL */
    unsigned interval_s;         /* textfile period */
    const cpu_set_t *drain_cpus; /* cpus the drain loop is pinned to, or NULL */
};

/* Resolves "ADDR:PORT" ("127.0.0.1:9464", "[::1]:9464", "localhost:0") to a
 * socket address. A non-loopback address is refused unless allow_remote.
 * 0, or -EINVAL with one line in err. */
int metrics_parse_listen(const char *arg, int allow_remote, struct sockaddr_storage *out, char *err,
                         size_t errcap);

/* Starts the HTTP thread and the textfile thread that cfg asks for, off the
 * drain cpus, with the process's signals blocked. Call before the drain loop
 * pins itself. 0, or -errno with one line in err. */
int metrics_start(const struct metrics_config *cfg, char *err, size_t errcap);
/* 1 when a reader exists: the drain loop only builds snapshots then. */
int metrics_enabled(void);

/* Drain loop: the snapshot to fill, emptied of rings and processes (its
 * arrays are kept); NULL when metrics are not enabled. */
struct metrics_snapshot *metrics_stage(void);
/* A zeroed entry appended to s, or NULL when out of memory. */
struct metrics_ring *metrics_add_ring(struct metrics_snapshot *s);
struct metrics_proc *metrics_add_proc(struct metrics_snapshot *s);
/* Makes the staged snapshot the one readers see. Without wait it never
 * blocks: it returns 0 when a reader held the swap lock, and the caller
 * publishes again later. 1 when published. */
int metrics_publish(int wait);

/* Stops the threads and writes the textfile one last time from the newest
 * published snapshot. */
void metrics_stop(void);

/* The text exposition of s (sorted; label values escaped; a repeated label
 * set is dropped). s is sorted in place. A malloc'd string, or NULL. */
char *metrics_format(struct metrics_snapshot *s, size_t *len);

#endif /* COLLECTOR_METRICS_H */
