/*
 * dump_serve.h - shmlog-dump serve: what its HTTP side (dump_serve.c) hands
 * its jobs (dump_serve_job.c). A job is one answer that reads the files
 * (a query, a tail, stats, fields); the workers step it, the HTTP thread
 * sends what a step left in its buffer. The arrow: dump_serve.c ->
 * dump_serve_job.c -> dump_serve_arrow.c (an Arrow answer's bytes).
 */
#ifndef DUMP_SERVE_H
#define DUMP_SERVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shmlog_read.h"

struct MHD_Connection;

enum serve_kind { SERVE_QUERY, SERVE_TAIL, SERVE_STATS, SERVE_FIELDS };
enum serve_format { SERVE_JSONL, SERVE_JSON, SERVE_TEXT, SERVE_ARROW };

#define SERVE_CURSOR_RINGS 64 /* rings a cursor names at most: it stays a URL parameter of a few KiB */

/* A ring's last record an answer sent: its process, ring (cpu, with
 * SERVE_RING_BACKTRACE for a backtrace's stream), position and time. */
#define SERVE_RING_BACKTRACE 0x80000000u
struct serve_ring_mark {
    uint32_t pid, cpu;
    uint64_t proc_start, pos, ts;
    uint64_t hole; /* a slot before pos not sent (a live writer's, passed over uncommitted): its position + 1; 0: none */
};

/* Where an answer stopped: "TS-AT" (its last event's time, and how many
 * events at that time it sent), and in an exact cursor "_mTS-AT" (the same
 * for loss and exit markers) and "_PID.START.CPU.POS" (and "hPOS" of a
 * slot before it not sent) for each ring whose
 * last record sent lies within a window (dump_serve_job.c) of TS: a record
 * of those rings is told by its position, of others by its time, which is
 * then far from TS (a ring's and the files' times of one record differ by
 * nanoseconds, and the collector files one ring soon after another). */
struct serve_cursor {
    uint64_t ts, at;
    int exact;
    uint64_t marker_ts, marker_at;
    struct serve_ring_mark rings[SERVE_CURSOR_RINGS];
    size_t nrings;
};
/* s as an answer gave it into *c: 0, or -1. */
int serve_cursor_parse(const char *s, struct serve_cursor *c);

/* A request's parameters, checked: what a job reads with. Its strings are its own. */
struct serve_request {
    enum serve_kind kind;
    enum serve_format format;
    struct shmlog_read_options o; /* the filters; its limit stays 0: the job counts */
    char *category, *app, *host, *thread, *trace, *grep;
    char **where;
    size_t nwhere;
    uint64_t limit;          /* records; 0: all */
    int has_cursor;
    struct serve_cursor cursor; /* what an earlier answer sent */
    uint64_t timeout_ns;     /* the query's time limit */
    uint64_t max_bytes;      /* the answer's size limit */
    int live;                /* live=1: also the live rings' records the files do not hold yet */
    int markers;             /* markers=1 (format=arrow): the loss and exit markers' rows, not the records' */
};

/* The server's counters, for /metrics (updated with atomics). */
struct serve_counters {
    uint64_t requests, bad_requests, refused_auth, busy, jobs_done, bytes_sent;
    uint64_t ended_time, ended_size, ended_limit, active_jobs, active_tails;
};
extern struct serve_counters serve_counters;

struct serve_job;

struct cli;
/* The workers over the inputs paths[0..n) and the segment directories of cli
 * (both kept, not copied). 0, or -errno. */
int serve_jobs_start(const char *const *paths, size_t n, const struct cli *cli, unsigned workers);
void serve_jobs_stop(void);
/* A job answering req (taken: freed with the job) on conn, queued for its
 * first step; NULL when the server holds its most jobs of that kind already. */
struct serve_job *serve_job_new(struct serve_request *req, struct MHD_Connection *conn);
/* libmicrohttpd's content reader and its free callback, with the job as cls. */
ssize_t serve_job_read(void *cls, uint64_t pos, char *buf, size_t max);
void serve_job_release(void *cls);
void serve_request_free(struct serve_request *req);

/* ==== Arrow IPC streams (dump_serve_arrow.c) ==== */

/* Bytes made for a client, grown as needed (realloc'd). */
struct serve_bytes {
    uint8_t *p;
    size_t len, cap;
};

/* The stream's Schema message of schema (a struct of columns) onto out. 0, or
 * -ENOMEM, or -EINVAL for a column type the writer does not write. */
int serve_arrow_schema(struct serve_bytes *out, const struct ArrowSchema *schema);
/* The first rows rows of batch (NULL: none) as its dictionaries' batches and a
 * RecordBatch message whose custom metadata are meta's nmeta key, value pairs,
 * onto out. 0, -ENOMEM, or -EINVAL (nothing written) for a batch whose
 * lengths, offsets or shape do not match each other or the schema. */
int serve_arrow_batch(struct serve_bytes *out, const struct ArrowSchema *schema, const struct ArrowArray *batch,
                      int64_t rows, const char *const *meta, size_t nmeta);
/* The end-of-stream marker onto out. 0, or -ENOMEM. */
int serve_arrow_end(struct serve_bytes *out);

#endif /* DUMP_SERVE_H */
