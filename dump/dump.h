/*
 * dump.h - what the parts of shmlog-dump share: the parsed command line, the
 * record filters, and the buffered standard output.
 *
 *   shmlog-dump.c   main, the command line and the command table
 *   dump_live.c     segments, set-level, backtrace, clean
 *   dump_ring.c     ring (the records still in the rings)
 *   dump_status.c   status
 *   dump_read.c     read (through libshmlog-read, shmlog_read.h) and follow
 *   dump_stats.c    stats, dump_verify.c verify: consumers of the reader's
 *                   engine (read_engine.h), which holds no command's code
 *   dump_mirror.c   mirror (kafka://, on kafka_source.c)
 *   dump_index.c    index (a rewrite of files without one, on the encoder)
 *   dump_view.c     view (a terminal viewer, ncursesw; dump_view_none.c without it)
 *   dump_serve.c    serve (HTTP, on libmicrohttpd; dump_serve.h, dump_serve_job.c)
 * and what the commands share, below them:
 *   dump_live_rings.c  the live rings' records not in the files yet (serve live=1)
 *   dump_segs.c     the live segments: finding and opening them, the dump's
 *                   clock anchor, the SIGBUS guard
 *   dump_inputs.c   the FILE|DIR arguments of the file commands, and the
 *                   collector's files in its directory (follow, status)
 *   dump_args.c     usage_error() and the level names a person types
 *   dump_output.c   output, pieces of lines: used by all, calls none
 *
 * The arrows: shmlog-dump.c -> the commands' files -> the shared files;
 * a command's file never calls shmlog-dump.c or another command's file
 * (tests/test_layers.sh checks it in the built objects).
 */
#ifndef DUMP_H
#define DUMP_H

#include <regex.h>
#include <stdint.h>

#include "read_filter.h"
#include "reader.h"
#include "render.h"

#define DUMP_MAX_DIRS 16
#define EXIT_USAGE 2
#define EXIT_DROPS 3 /* status: records were dropped during the sample */
#define EXIT_NO_COLLECTOR 4 /* status: no collector drains the rings (or writes to --out); wins over 3 and 5 */
#define EXIT_STALE_COLLECTOR 5 /* status: the collector runs a replaced binary or an older file format */
/* Where the installed service writes; the default --out when it is readable. */
#define DUMP_SERVICE_OUT "/var/log/shmlog"
/* Where the installed shmlog-ship service keeps its state; status's default --ship-state. */
#define DUMP_SERVICE_SHIP_STATE "/var/lib/shmlog-ship/state"

extern const char *const dump_prog;

/* What any subcommand may be given. Subcommands say which options they take. */
struct cli {
    const char *command;
    char dirs[DUMP_MAX_DIRS][4096];
    int ndirs;
    int dirs_explicit;
    int json;
    int help;
    struct read_filter filter;
    const char *grep_arg;     /* --grep as given (filter.grep is it compiled) */
    const char *trace_arg;    /* --trace as given (filter.trace_hi, trace_lo is it parsed) */
    int trace_stats;          /* trace: --stats */
    const char *trace_export; /* trace: --export chrome|otlp, or NULL */
    const char **where_args;  /* each --where as given (filter.where is them parsed) */
    size_t nwhere;
    int local_time;           /* times in the local zone: TZ is set and no --utc */
    const char *out_dir;      /* follow, status: the collector's output directory; read, stats, verify without FILE|DIR */
    const char *out_dir_from; /* what chose it: "--out", "$SHMLOG_OUT", ... */
    const char *since_arg, *until_arg; /* as given; read once every option is known */
    int utc;                  /* --utc: times in UTC whatever TZ says */
    uint64_t watch_ns;        /* status: sample length */
    const char *metrics_file; /* status: the collector's Prometheus textfile */
    const char *ship_state;   /* status: shmlog-ship's --state file, or NULL */
    int force;                /* clean: also segments with records not drained */
    int follow;               /* ring: the records as they are committed, until SIGINT or --limit */
    int live;                 /* view: also the live rings' records the files do not hold yet */
    int check;                /* index: say which files lack one, write nothing */
    const char *listen;       /* serve: --listen ADDR:PORT */
    const char *auth_file;    /* serve: --auth, the bearer token's file */
    const char *tls_cert, *tls_key, *tls_client_ca; /* serve: --tls-cert, --tls-key, --tls-client-ca */
    uint64_t merge_bytes;     /* read, follow: --merge-memory; 0: the merge's default */
    unsigned jobs;            /* read: --jobs; 0: the cpus it may run on */
    size_t max_hosts;         /* mirror: --max-hosts; 0: its default */
    int npositional;
    char **positional;
};

/* ==== Arguments (dump_args.c) ==== */

/* One line on standard error, then exit EXIT_USAGE. */
void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* TRACE..FATAL, OFF when allow_off, or their numbers; any case. -1 if none. */
int parse_level(const char *s, int allow_off);

/* ==== Output: one large buffer, written in big chunks (dump_output.c) ==== */

/* Times in the output in the local zone (local) or UTC; before the first line. */
void out_zone(int local);
/* A buffer over the free end of the output, with room for any one line. */
struct render_buf out_begin(void);
void out_end(const struct render_buf *b);
void out_flush(void);
/* n bytes at p, after what the buffer holds: written from where they are. */
void out_write(const void *p, size_t n);
/* out_flush() then fflush(stdout): for output a person or pipe waits for. */
void out_push(void);
/* At exit: out_flush() then fflush(stdout); 0, or -1 when any write failed (errno says why). */
int out_finish(void);
/* A line on standard error after the output so far: "shmlog-dump: [note: ]msg". */
void dump_say(const char *msg, int note);
/* "shmlog-dump: out of memory", exit 1. */
void dump_oom(void) __attribute__((noreturn));
/* All n bytes to the file fd, through short writes and EINTR: 0, or -1 with
 * errno (ENOSPC when the file takes no more). For the files a command makes. */
int dump_write_all(int fd, const void *p, size_t n);

/* ==== Pieces of output lines (dump_output.c) ==== */

void put_json_kv_str(struct render_buf *b, const char *key, const char *value);
void put_json_kv_u64(struct render_buf *b, const char *key, uint64_t v);
void put_json_kv_bool(struct render_buf *b, const char *key, int v);
/* Text from shared memory or a file, with control bytes escaped, no quotes. */
void put_text_safe(struct render_buf *b, const char *s);
const char *level_text(uint32_t level);

/* ==== File commands ==== */

struct stat;
struct read_engine;
struct in_file;
struct in_list;
struct read_kafka;
struct source;
/* The kafka:// topics of a command, and the list of their sources. */
struct topics {
    struct read_kafka **v;
    size_t n;
    struct source *first;
    int status; /* EXIT_USAGE: this build reads no kafka://; 1: a topic could not be read */
};
/* The FILE|DIR|kafka:// arguments, or the default directory when none was given (dump_inputs.c). */
const char *const *input_args(const struct cli *cli, int *n);
/* stat(2) of one of them (a kafka:// address passes, as nothing); when it
 * fails, says why (naming where the default directory came from when no
 * FILE|DIR was given) and returns -1. */
int stat_input(const struct cli *cli, const char *arg, struct stat *st);
/* The files of the FILE|DIR arguments into l, sorted, for engine e (whose
 * status turns 1 for an argument that cannot be read); the kafka://
 * arguments opened into t (from --since; following, from the end when no
 * --since), or said to be no input of this command when t is NULL. 0, or
 * -ENOMEM. */
int collect_inputs(struct read_engine *e, const struct cli *cli, struct in_list *l, struct topics *t);
/* The collector's file in dir after after_seq (the lowest sequence number
 * above it, or any when has_after is 0 and newest is 0; the highest when
 * newest is 1): closed .shlog or open .shlog.part (only_part: only those).
 * 0, or -ENOENT. */
int find_file(const char *dir, int has_after, uint64_t after_seq, int newest, int only_part, struct in_file *f);
/* The open file the collector writes in dir: the .part with the highest
 * sequence number of min_seq or more. 0 with its path, or -ENOENT. */
int find_open_part(const char *dir, uint64_t min_seq, char *path, size_t cap, uint64_t *seq);
/* One kafka:// argument into t; one that cannot be read is said (status). 0, or -ENOMEM. */
int open_topic(struct read_engine *e, const struct cli *cli, const char *url, struct topics *t);
void close_topics(struct read_engine *e, struct topics *t);

struct shmlog_read;
/* The library's reader over the command's FILE|DIR|kafka:// arguments, with
 * its filters: NULL when none could be opened; *status 1 (or EXIT_USAGE)
 * when one could not, said on standard error. */
struct shmlog_read *dump_read_open(const struct cli *cli, int *status);
int cmd_read(struct cli *cli);
/* one trace across processes, or the latency between its steps over all (dump_trace.c) */
int cmd_trace(struct cli *cli);
int cmd_stats(struct cli *cli);
int cmd_follow(struct cli *cli);
int cmd_verify(struct cli *cli);
/* closed files without an index given one (dump_index.c) */
int cmd_index(struct cli *cli);
/* kafka://: the frames shmlog-ship sent, as files (dump_mirror.c, on kafka_source.c) */
int cmd_mirror(struct cli *cli);
/* a terminal viewer over the files (dump_view.c) */
int cmd_view(struct cli *cli);
/* the files over HTTP (dump_serve.c, its jobs in dump_serve_job.c) */
int cmd_serve(struct cli *cli);

/* ==== Live segments (dump_segs.c) ==== */

/* One segment file found in a directory, its name parsed. */
struct seg_entry {
    char path[4096];
    const char *dir;
    unsigned kind;
    char app[SHMLOG_APP_BYTES];
    uint32_t pid;
    uint32_t cpu;
};

struct seg_list {
    struct seg_entry *v;
    size_t n, cap;
};

/* Collects the segment files of every directory, sorted by directory, process
 * and cpu. Returns 0, or 1 when an explicitly named directory is unreadable. */
int scan_dirs(const struct cli *cli, struct seg_list *list);
/* The list is sorted by process: the end of the run of segments that starts at i. */
size_t process_run_end(const struct seg_list *list, size_t i);
/* Opens a segment read-only, whoever owns it (the reader validates it). */
int open_segment(const struct seg_entry *e, struct shm_seg *seg, char *err, size_t errcap);
/* The same, mapped for writing: set-level's store. */
int open_segment_writable(const struct seg_entry *e, struct shm_seg *seg, char *err, size_t errcap);
/* Opens the ring at e if it belongs to meta (shm_ring_belongs), with its
 * view. 0, or -1 with the reason in err. */
int open_ring_of(const struct shm_seg *meta, const struct seg_entry *e, struct shm_seg *seg,
                 struct shm_ring_view *view, char *err, size_t errcap);
/* The dump's own anchor of the host's clock, taken once. */
const struct shm_clock_taker *live_clock(void);
/* Runs fn over the segments entries[0..n) of one process under
 * shm_bus_guard; 0, or 1 when a segment shrank under the mapping. */
int guarded(void (*fn)(const struct cli *, const struct seg_entry *, size_t), void (*release)(void),
            const struct cli *cli, const struct seg_entry *entries, size_t n);

/* Call sites of one process, copied out of the meta segment and prepared for
 * rendering on first use. */
struct site_cache {
    const struct shm_seg *meta;
    const struct shm_proc_info *info;
    const struct shm_categories *cats;
    uint32_t capacity;
    struct render_site **sites;
    uint8_t *state; /* 0 not looked up, 1 loaded, 2 missing or corrupt */
    struct render_site *unknown;
};
/* The prepared site id, or the process's unknown-site renderer; NULL only
 * when out of memory. */
const struct render_site *site_lookup(struct site_cache *c, uint32_t id);
/* An empty cache of the process's site capacity; -ENOMEM when it is not
 * there (site_cache_free() then frees what is). */
int site_cache_init(struct site_cache *c, const struct shm_seg *meta, const struct shm_proc_info *info,
                    const struct shm_categories *cats);
void site_cache_free(struct site_cache *c);
/* thread_name_of's answer for the last tid asked, from the first scanned
 * entries of a process's site table. */
struct thread_names {
    uint32_t tid, scanned;
    int named;
    char name[SHMLOG_THREAD_NAME_BYTES + 1];
};
const char *thread_name_of(struct thread_names *t, const struct shm_seg *meta, uint32_t capacity, uint32_t tid);

/* ==== The records of live rings not in the files yet (dump_live_rings.c) ==== */

struct live_rings;
/* A record a poll shows, valid during the call. */
struct live_record {
    const struct render_site *site;
    const struct shm_copied_record *rec;
    uint32_t cpu, pid;
    uint64_t proc_start;  /* with pid, cpu and rec->pos, the record as the files name it */
    uint64_t ts_ns;
    const char *thread;
    uint64_t hole; /* a slot of its ring before it that this answer passed over uncommitted: its position + 1; 0: none */
};
/* 0 when taken; else the caller is full and the same record comes first at the next poll. */
typedef int (*live_emit_fn)(void *ctx, const struct live_record *r);
/* A reader of the rings of cli's segment directories; follow: new processes,
 * rings and records at every poll (a tail), else what the rings held at the
 * first poll (a query). NULL when out of memory. */
struct live_rings *live_rings_new(const struct cli *cli, int follow);
void live_rings_free(struct live_rings *l);
/* The rings found now, each from its collector's tail: a query calls it
 * before it reads the files, so what the collector writes meanwhile is in
 * one or the other. */
void live_rings_start(struct live_rings *l);
/* A record the caller had from the files (process pid, proc_start, ring cpu,
 * position seq): 1 when a poll showed it already (skip it), else 0, and the
 * polls will not show it. */
int live_rings_file_record(struct live_rings *l, uint32_t pid, uint64_t proc_start, uint32_t cpu, uint64_t seq);
/* The rings' records that pass f and were not shown, in time order, to emit:
 * 0 when the round ended, 1 when emit was full. Safe on hostile segments:
 * validated copies, the SIGBUS guard, one poll at a time in the process. */
int live_rings_poll(struct live_rings *l, const struct read_filter *f, live_emit_fn emit, void *ctx);

/* dump_live.c */
int cmd_segments(struct cli *cli);
int cmd_set_level(struct cli *cli);
int cmd_backtrace(struct cli *cli);
int cmd_clean(struct cli *cli);
/* dump_ring.c */
int cmd_ring(struct cli *cli);
/* dump_status.c */
int cmd_status(struct cli *cli);

#endif /* DUMP_H */
