/*
 * collector.h - what the files of shmlog-collector share (private to the
 * program): its limits, the options, processes, rings, output files and
 * frames, the state more than one file uses, and each file's entry points.
 *
 * The invariant everything here serves (README.md, "Guarantees"): ring space is
 * released only after the frame holding its records was written (and, with
 * --fsync batch, synced). Frames complete out of order, so releases are applied
 * from a FIFO of frames in submission order, never from a completion directly.
 *
 *   rings --drain--> encoder (open frame) --flush--> frame FIFO --io_uring-->
 *   file; FIFO head done --> (the loop) shm_ring_release(), exits --> unlink
 *   segments, a closed file's last frame --> io_uring fsync --> rename
 *
 *   drain.c --> frame.c --> writer.c (hands back what completed)
 *                     \--> output.c (files: open, close, retention)
 *
 * One thread. Signal handlers only set flags; the loop (collector.c) does the
 * work, and applies what the writer finished at one point of each pass.
 */
#ifndef COLLECTOR_H
#define COLLECTOR_H

#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "alert.h"
#include "anchors.h"
#include "clock.h"
#include "say.h"
#include "metrics.h"
#include "shlog_file.h"

#define PROG "shmlog-collector"
#define MAX_DIRS 8
#define MAX_UIDS 32
#define SITE_PAGE 1024u              /* site slots made at a time */
#define UID_BUDGET_BYTES (64ull << 20) /* call sites the collector keeps per owner */
/* What one owner's call sites may cost a drain pass (read from its segments,
 * written into the file): past it, its rings wait for the next pass, which
 * begins with its processes after the one that spent it. An owner past its
 * budget is late besides: its rings are drained after everyone else's. So
 * what its sites cost the drain is its own wait, not the others'. */
#define PASS_SITE_BYTES (1u << 20)
#define MAX_INFLIGHT 8              /* frames submitted and not yet done */
#define FRAME_MAX_RECORDS 65536u    /* flush a frame at this many records ... */
#define FRAME_MAX_RAW (16u << 20)   /* ... or this many uncompressed bytes ... */
#define FRAME_MAX_AGE_NS 50000000ull /* ... or when its first record is this old */
#define SEGMENT_MAKING_NS 2000000000ull /* a segment being made: its name tried, its empty ring read each pass */
#define MAX_DELAY_MS_MAX 1000u       /* --max-delay-ms: SHLOG_ORDER_WINDOW_NS must cover it and a frame's age */
/* A pass adds to a frame until this, which leaves room below SHLOG_MAX_FRAME_RAW
 * for two rings' passes of the largest records (DRAIN_BUDGET x 8 slots). */
#define FRAME_RAW_STOP (SHLOG_MAX_FRAME_RAW - 2u * DRAIN_BUDGET * SHMLOG_MAX_SLOTS * SHMLOG_RECORD_BYTES)
#define DRAIN_BUDGET 16384u         /* records per ring per pass: fairness */
#define WRITE_RETRY_NS 1000000000ull
#define MAX_PASS_WAIT_NS 1000000ull /* longest wait between drain passes (see pass_wait_ns in collector.c) */
#define PEAK_RECORDS_PER_US 100u    /* the fastest a producer core can fill a ring */
#define OPEN_RETRY_NS 100000000ull /* an output file that could not be made: tried again after this */

/* ==== Options (options.c) ==== */

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

/* ==== Processes, rings, files, frames ==== */

struct proc;

/* Each field's comment begins with the one file that writes it; another file
 * that needs it changed calls that file (tests/test_field_owners.sh). */
struct ring {
    struct proc *proc; /* [procs.c] */
    struct shm_seg seg; /* [procs.c] */
    struct shm_ring_view view; /* [procs.c] */
    dev_t dev; /* [procs.c] */
    ino_t ino; /* [procs.c] */
    uint32_t cpu; /* [procs.c] */
    uint64_t read_pos;      /* [procs.c] next position to read */
    uint64_t tail;          /* [procs.c] what we last released: the ring's tail, which only we write (no read of its line) */
    uint64_t stop_at;       /* [collector.c] shutdown: drain up to here */
    uint64_t dropped_seen;  /* [drain.c] the ring's dropped counter as last reported */
    uint64_t records;       /* [drain.c] drained: metrics */
    uint64_t payload_bytes; /* [drain.c] */
    uint64_t waiting_since; /* [drain.c] mono ns a pass first left its few records waiting: 0 when none */
    uint64_t bound;         /* [procs.c] the furthest reserve head seen, published or read: below it, all was reserved */
    uint64_t bound_moved_ns; /* [drain.c] mono ns bound last moved, or the head was last read */
    uint64_t empty_since_ns; /* [drain.c] mono ns its head was first read with nothing drained yet: 0 before */
    uint64_t build_gen;     /* [frame.c] frame being built that holds a release of it */
    size_t build_rel;       /* [frame.c] its index in that frame's release list */
    int broken;             /* [procs.c] the mapping faulted, or quarantined: never read again */
    uint64_t corrupt_seen;  /* [drain.c] records that failed validation: the first is reported */
    uint64_t unencodable_seen; /* [losses.c] records the encoder could not encode: the first is reported */
    int quarantined;        /* [drain.c] broken by what its writers wrote: its head is still read ... */
    uint64_t abandoned_to;  /* [losses.c] ... and positions up to here were written as lost */
    uint64_t encoded_to;    /* [drain.c] a pass: positions below are in the frame (what a fault leaves) */
    struct backtrace *bt;   /* [backtrace.c] its kept backtrace records, or NULL */
    int unread_due;         /* [losses.c] not readable at all: its loss (from unread_tail to unread_head) is still to be written */
    uint64_t unread_tail, unread_head; /* [losses.c] */
    struct bell *bell;      /* [procs.c] its producers ring it (bells.c), or NULL: read at every pass */
    int quiet;              /* [drain.c] the last pass found nothing new in it and nothing unreleased */
    struct ring *next; /* [procs.c] */
};

/* A call site as the collector keeps it: its fields and its format and file
 * name, exactly as long as they are (a struct shm_site holds room for the
 * longest: 9 KiB). */
struct cached_site {
    uint8_t head[offsetof(struct shm_site, fmt)]; /* its fields, as struct shm_site has them */
    char text[];                                  /* fmt NUL file NUL func NUL desc NUL */
};

struct site_slot {
    struct cached_site *site; /* NULL until read, or when its uid's budget is spent */
    uint64_t file_gen;        /* file it was emitted into */
};

/* What the call sites of one owner's processes cost the collector, within
 * its budget (UID_BUDGET_BYTES). */
struct uid_charge {
    uid_t uid;
    uint64_t bytes;
    int warned;
    int spent; /* a charge failed since bytes were last given back: its processes are late */
    uint64_t pass_bytes; /* what its sites cost this pass (PASS_SITE_BYTES) */
    uint32_t resume;     /* the next pass drains its processes of this key and below first */
    struct uid_charge *next;
};

/* A thread a process named, and the file its name is written in. */
struct proc_thread {
    uint32_t tid; /* 0: a free slot */
    char name[SHMLOG_THREAD_NAME_BYTES + 1];
    uint64_t file_gen; /* the file that has this name for it; 0: none yet */
};

/* Open addressing on tid; at most PROC_THREADS_MAX, so a hostile table of
 * THREAD entries costs the collector a bounded 200 KiB per process. */
#define PROC_THREADS_MAX 4096u
struct proc_threads {
    struct proc_thread *slots;
    uint32_t cap, count;
    uint32_t scanned; /* entries of the site table looked at */
    uint32_t entries; /* of those, THREAD entries: the rest are call sites */
    uint32_t last;    /* the slot of the last tid asked: records come in runs of one thread */
};

struct proc {
    /* First, in one line: what the walks over every process of each pass
     * (liveness, exits) read of the hundreds that are idle. */
    struct proc *next; /* [procs.c] */
    uint64_t alive_checked_ns; /* [procs.c] mono ns its meta's lock was last asked */
    int gone;           /* [procs.c] exited: rings are read with writer_dead */
    int exit_queued;    /* [collector.c] its EXIT section is in a frame */
    uint32_t key; /* [procs.c] */
    int dir;            /* [procs.c] index in opt->dirs: its rings are in the same directory */
    struct shm_seg meta; /* [procs.c] */
    dev_t dev; /* [procs.c] */
    ino_t ino; /* [procs.c] */
    struct shm_proc_info info; /* [procs.c] */
    struct site_slot **site_pages; /* [procs.c] SITE_PAGE slots each, made when a site of theirs is first seen */
    uint32_t nsites;               /* [procs.c] site ids it may have */
    struct uid_charge *charge;     /* [procs.c] its owner's */
    struct ring *rings; /* [procs.c] */
    int meta_faulted;   /* [procs.c] its meta shrank under the mapping: never read again (sites unknown: records raw) */
    uint64_t gone_listing;   /* [procs.c] listings of its directory begun when it was seen gone: a later one finds every ring */
    uint64_t ring_unsettled; /* [procs.c] the listing in which a ring naming it could not be opened for now, or 0 */
    uint64_t tally_gen; /* [frame.c] the file whose procs[tally] counts what it wrote there; 0: none */
    size_t tally; /* [frame.c] */
    uint64_t no_ring_seen, unregistered_seen, before_init_seen; /* [losses.c] the meta's loss counters as last written */
    struct shm_categories *cats; /* [procs.c] its own categories as last read, or NULL */
    uint64_t cats_gen;           /* [procs.c] the file cats_named is of */
    uint32_t cats_named;         /* [procs.c] categories below it are named in that file */
    uint64_t by_category[SHMLOG_MAX_CATEGORIES]; /* [drain.c] records */
    uint64_t records; /* [frame.c] */
    uint64_t lost;    /* [losses.c] */
    uint64_t bt_requests_seen, bt_polled_ns; /* [backtrace.c] the meta's backtrace requests as last answered, and when read */
    struct proc_threads threads; /* [procs.c] its threads' names (THREAD entries of its site table) */
};

/* A process as a file holds it: what the file would lose of it if the file
 * were deleted while open (SHM_LOSS_FILE_REMOVED). */
struct file_proc {
    uint32_t key;
    struct shm_proc_info info;
    uint64_t records;       /* written into the file */
    int exited;             /* its EXIT is in the file, with these: */
    enum shlog_exit_how exit_how;
    uint64_t exit_ns, exit_records, exit_lost;
};

struct outfile {
    int fd;                 /* -1 until the first frame */
    uint64_t gen;           /* tells files apart for site emission */
    uint64_t seq;
    char final_path[4400];
    char part_path[4400 + sizeof(SHLOG_PART_SUFFIX)];
    uint64_t size;          /* bytes submitted: the next frame's offset */
    uint64_t opened_ns;
    struct shlog_enc *enc;
    unsigned inflight;      /* frames not yet taken back from the writer */
    int closing;
    int sync_err;           /* its closing fsync failed with this errno, or 0 */
    int removed;            /* found deleted while open: what it holds is counted lost in a later file */
    struct file_proc *procs; /* the processes it holds, in the order they came */
    size_t nprocs, procs_cap;
    struct outfile *next;   /* the writer's list of files synced */
};

struct release {
    struct ring *ring;
    uint64_t pos;
};

enum frame_state { FR_WRITING, FR_SYNCING, FR_RETRY, FR_DONE };

struct frame {
    struct outfile *file; /* [frame.c] */
    uint8_t *buf; /* [frame.c] */
    size_t len;  /* [frame.c] */
    size_t done; /* [writer.c] */
    uint64_t off; /* [frame.c] */
    enum frame_state state; /* [writer.c] */
    enum frame_state retry_state; /* [writer.c] what to redo when state is FR_RETRY */
    int need_sync; /* [frame.c] */
    uint64_t retry_at; /* [writer.c] */
    struct release *rel; /* [frame.c] */
    size_t nrel; /* [frame.c] */
    struct proc **exits; /* [frame.c] */
    size_t nexits; /* [frame.c] */
    struct frame *next; /* [writer.c] */
};

/* ==== The program's state (collector.c) ==== */

/* What more than one file reads or writes: collector.c holds the one instance
 * and hands it down as an argument (no other file names it, so none calls back
 * into the loop); each file keeps the rest of its state to itself. */
struct collector_state {
    const struct options *opt; /* the command line's, read-only after parse_options */
    uint64_t nofile;           /* the descriptor limit (RLIMIT_NOFILE) */
    uint64_t nmetas;           /* processes: a descriptor each */
    struct proc *procs;        /* the processes procs.c found, newest first */
    struct outfile *cur;       /* the file frames go to (output.c rotates it) */
    uint64_t build_first_ns;   /* when the frame being built got its first content, 0 if empty */
    int flush_soon;            /* the frame being built is to be flushed now (flush_frame clears it) */
    int rotate_soon;           /* the current file's definitions near what readers keep (shlog_enc_file_full) */
    /* counters */
    uint64_t records, frames, fast_frames, bytes;
    int filling;                /* frames go at opt->zstd_fast_level: see set_frame_level */
    uint64_t record_slots;      /* ring slots of the records encoded */
    int backlog;                /* the last pass left records behind (budget spent, frame full) */
    int walk_all;               /* a ring may have something new (a ring made, a process gone, the last
                                   pass found one not quiet): the next pass looks at every ring */
    uint64_t rotations, rejected;
    uint64_t losses[SHM_LOSS_REASON_MAX + 1]; /* records, by enum shm_loss_reason */
    /* backtrace records written, pushed out of a full buffer (never losses), requests answered */
    uint64_t backtrace_written, backtrace_discarded, backtrace_requests;
    struct frame_anchors clock;
    struct alert_set alerts;   /* --alert rules: the drain counts records against them, observe.c fires them */
};


/* ==== Signals (collector.c) ==== */

extern volatile sig_atomic_t got_term, got_hup;


static inline void check_enc(int rc, const char *what)
{
    if (rc) { /* only out of memory or a misuse of the encoder */
        shm_warn(PROG, "encoding %s failed: %s", what, strerror(-rc));
        exit(1);
    }
}


/* ==== Output files (output.c) ==== */

int ensure_dir(const char *dir);
/* The files are evidence: --out must be ours alone (owned by our uid, not
 * writable by its group or others). 0, or -1 with the reason in why. */
int out_dir_unsafe(char *why, size_t cap);
/* The host name the files are named after and carry: before the first file. */
void output_set_host(const char *host);
/* Before any other call of output.c: the options it reads (kept, not copied). */
void output_init(const struct options *o);
struct output_stats {
    uint64_t files;             /* made */
    uint64_t unshipped_removed; /* files retention removed before shmlog-ship had them */
};
const struct output_stats *output_stats(void);
/* --group: the output directory in that group, set-group-ID so the files
 * made in it are too, and readable by it. 0, or -errno. */
int share_out_dir(void);
void recover_out_dir(void);
struct outfile *outfile_new(void);
void output_failed(const char *what, const char *path, int err);
void output_ok(void);
/* The errno of the output's failure going on, 0 if none. */
int output_error(void);
int outfile_open(struct outfile *f);
/* Its last frame done and, with --fsync, it synced: close, rename, retention. */
void outfile_close(struct outfile *f);
/* 1 if the open file f was deleted (no name links to it any more). */
int outfile_removed(const struct outfile *f);
/* The note of EXITs in flight (output.c): read at the start (after
 * recover_out_dir), then removed. */
void exits_note_open(void);
/* 1 if the last run wrote this process's EXIT before it stopped (asked once). */
int exit_written_before(const struct shm_proc_info *info);
/* A frame with the EXITs of procs is about to be written at off of file. */
void exits_note_frame(const struct outfile *file, const uint8_t *buf, size_t len, uint64_t off,
                      struct proc *const *procs, size_t n);
/* A frame with EXITs is done. */
void exits_note_done(void);


/* ==== io_uring: frame writes (writer.c) ==== */

struct writer_stats {
    uint64_t write_errors, written_bytes;
};

int uring_setup(int sqpoll_cpu);
void frame_enqueue(struct frame *f);
/* Completions: how many came (their effects wait for the takes below). */
unsigned reap(int wait, uint64_t timeout_ns);
void retry_frames(void);
/* stopping: a SIGTERM came (an output that keeps failing then ends the program). */
void wait_output(int stopping);
/* The frame at the FIFO's head once it is done (the frames behind it wait
 * their turn), or NULL. The caller applies and frees it. */
struct frame *writer_take_done(void);
/* Submits file's fsync (its last frame is done): 0, or -1 (sync it yourself). */
int writer_sync_file(struct outfile *file);
/* A file whose fsync completed (sync_err set), or NULL. */
struct outfile *writer_take_synced(void);
/* Frames not yet taken, and those plus file syncs not yet taken. */
unsigned writer_frames(void);
unsigned writer_busy(void);
const struct writer_stats *writer_stats(void);

/* ==== Building frames (frame.c) ==== */

int end_batch(struct collector_state *c);
void mark_content(struct collector_state *c);
void note_release(struct collector_state *c, struct ring *r, uint64_t pos);
void note_exit(struct proc *p);
void frame_forget(struct collector_state *c, struct proc *p);
int ensure_process(struct collector_state *c, struct proc *p);
/* records of p went into the frame being built (counted for p, the
 * collector and the file's tally). */
void proc_wrote(struct collector_state *c, struct proc *p, uint64_t records);
/* records of p were in a file deleted while open: no longer counted as written. */
void proc_unwrote(struct proc *p, uint64_t records);
/* p's EXIT section in the frame being built, its process defined first. */
int write_exit(struct collector_state *c, struct proc *p, enum shlog_exit_how how);
/* Defines process key (info) in the current file, its tally there at
 * *tally; near what readers keep, a new file begins soon. 0 or -errno. */
int define_process(struct collector_state *c, uint32_t key, const struct shm_proc_info *info, size_t *tally);
/* Whether p may have sections in the current file now: it is defined there,
 * or the file is not near what readers keep (rotate_soon). Else what it has
 * waits, in its rings and its meta, for the next file. */
int file_takes_process(const struct collector_state *c, const struct proc *p);
/* A definition went into the current file: near what readers keep, a new
 * file begins before the next (rotate_soon). */
void note_defined(struct collector_state *c);
/* The open batch is of ring r, its process in the file: 1 if it was begun now. */
int batch_of(struct collector_state *c, struct ring *r);
/* Records of ring r from position `from` on were kept (not written): an open
 * batch of r without a record yet passes over them (shlog_enc_batch_from). */
void batch_passed_from(struct collector_state *c, struct ring *r, uint64_t from);
/* Seals the frame being built and hands it to the writer: 1, or 0 when the
 * output cannot take it yet (the caller goes on, or waits and applies). */
int flush_frame(struct collector_state *c);
/* The frame being built can take no more records: the loop writes it first. */
int frame_full(struct collector_state *c);

/* ==== Loss markers (losses.c) ==== */

void emit_proc_loss(struct collector_state *c, struct proc *p, uint32_t cpu, const struct shm_loss *l, uint64_t total);
void emit_loss(struct collector_state *c, struct ring *r, const struct shm_loss *l, uint64_t total);
void proc_losses(struct collector_state *c, struct proc *p);
void lose_abandoned(struct collector_state *c, struct ring *r);
/* Ring r, quarantined, gave up what it held from position from on: written as lost. */
void abandon_ring(struct collector_state *c, struct ring *r, uint64_t from);
/* A record of ring r the encoder could not encode (shlog_enc_take_loss), no
 * batch open: its loss marker, counted, and said once per ring. kept: a
 * record kept for a backtrace. */
void unencodable(struct collector_state *c, struct ring *r, struct shm_loss *l, const char *why, int kept);
void lose_unreadable_ring(struct collector_state *c, struct ring *r);
/* Ring r cannot be read at all: its header said it held tail to head, lost. */
void ring_unreadable(struct collector_state *c, struct ring *r, uint64_t tail, uint64_t head);
/* File gone was deleted while open: what it held of each process is lost,
 * written into the current file as a counted loss (and its EXITs again), and
 * said once. */
void lose_removed_file(struct collector_state *c, struct outfile *gone);

/* ==== The drain (drain.c) ==== */

/* The pacing: the longest a ring may go unvisited (smallest: the capacity
 * of the smallest ring, UINT64_MAX with none). */
uint64_t longest_wait_ns(uint64_t smallest);

/* ==== Bells (bells.c) ==== */

/* The bell of one uid's producers, as the last pass read it. */
struct bell {
    uid_t uid;
    const struct shmlog_bell *word; /* NULL: none could be read: its rings are read at every pass */
    dev_t dev;                      /* which file it is */
    ino_t ino;
    uint64_t seen; /* the word at the last pass */
    int rung;      /* it moved at the last pass */
    struct bell *next;
};

/* The bell ring v of a process of uid rings, mapped at the uid's first ring;
 * NULL when it rings none this collector can read (out of memory, another
 * file of the name). */
struct bell *bell_of(uid_t uid, const struct shm_ring_view *v);
/* Reads every bell: at the start of a pass. Whether one moved (or can no
 * longer be read) since the last. */
int bells_check(void);


uint64_t drain_ring(struct collector_state *c, struct ring *r, unsigned budget, int patient);
uint64_t drain_all(struct collector_state *c, uint64_t *smallest);

/* ==== Backtrace: records kept until a trigger (backtrace.c) ==== */

/* A record flagged SHMLOG_REC_BACKTRACE is kept, not written; its ring
 * position passed over. */
void backtrace_keep(struct collector_state *c, struct ring *r, const struct shm_copied_record *rec);
void backtrace_keep_slots(struct collector_state *c, struct ring *r, const struct shmlog_record *head, uint64_t pos);
/* A record of r was written to its batch: no positions passed over before the next. */
void backtrace_written_slow(struct ring *r);
static inline void backtrace_written(struct ring *r)
{
    if (r->bt)
        backtrace_written_slow(r);
}
/* A record shm_ring_next read: 1 if it was kept (not to be written); a
 * trigger writes what its process kept first. */
int backtrace_takes(struct collector_state *c, struct ring *r, const struct shm_copied_record *rec);
/* A batch of r was begun: it says from where positions were passed over. */
void backtrace_batch_begun(struct collector_state *c, struct ring *r);
/* Writes what p's rings kept (before the record that triggers it). */
void backtrace_flush(struct collector_state *c, struct proc *p, uint64_t order_tsc);
/* A record that writes its process's kept records out before it. */
static inline int backtrace_triggers(const struct proc *p, unsigned level, unsigned flags)
{
    return level >= p->info.backtrace_trigger && p->info.backtrace_level < SHMLOG_LEVEL_OFF &&
           !(flags & SHMLOG_REC_BACKTRACE);
}
/* Reads the meta's trigger level and requests (at most every few ms): 1 when
 * a request is to be answered now (room: the frame being built has room for
 * the process's rings), its order (the collector's own time) in *order_tsc. */
int backtrace_requested(struct collector_state *c, struct proc *p, int room, uint64_t *order_tsc);
void backtrace_free(struct collector_state *c, struct ring *r);

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

/* ==== Processes and segments (procs.c) ==== */

/* The site a record names: read from the meta segment once, kept (as far as
 * its owner's budget goes), NULL if the process never published a valid one
 * (its records are then stored raw). The copy is valid until the next call.
 * *slot_out: where its file is noted, or NULL. */
const struct shm_site *site_of(struct proc *p, uint32_t id, struct site_slot **slot_out);
/* p's owner spent its site budget: p's rings wait for the others'. */
static inline int proc_late(const struct proc *p)
{
    return p->charge && p->charge->spent;
}
/* p's owner's sites took what a pass gives one owner: its rings wait. */
static inline int owner_pass_spent(const struct proc *p)
{
    return p->charge && p->charge->pass_bytes >= PASS_SITE_BYTES;
}
/* A new pass: every owner's sites may cost it PASS_SITE_BYTES again. 1 when
 * the order of the processes matters (an owner is late, or begins after where
 * its last pass stopped). */
int charges_new_pass(void);
/* Where p's owner's processes begin this pass: those of this key and below first. */
static inline uint32_t owner_resume(const struct proc *p)
{
    return p->charge ? p->charge->resume : UINT32_MAX;
}
/* id's slot if there is one yet, else NULL (the fast check of site_in_file). */
static inline struct site_slot *site_slot_peek(const struct proc *p, uint32_t id)
{
    if (id >= p->nsites || !p->site_pages[id / SITE_PAGE])
        return NULL;
    return &p->site_pages[id / SITE_PAGE][id % SITE_PAGE];
}
enum found segment_found(struct collector_state *c, int dir, const char *path, unsigned kind, uint32_t pid, uint32_t cpu, const struct stat *st,
                         char *err, size_t errcap);
/* Runs fn(ctx) on p's meta under the SIGBUS guard, unless it faulted before:
 * 0, or -EFAULT (it shrank: p's meta is never read again). */
int meta_read(struct proc *p, void (*fn)(void *ctx), void *ctx);
/* p exited (or shut down): no ring of it can appear after this moment. */
void proc_mark_gone(struct collector_state *c, struct proc *p);
enum shlog_exit_how proc_exit_how(struct proc *p);
/* The categories of p, those up to id at least, named in the current file. */
void categories_name(struct collector_state *c, struct proc *p, unsigned id);
/* A record or site of category id has its category named in the file first. */
static inline void category_in_file(struct collector_state *c, struct proc *p, unsigned id)
{
    if (id >= SHMLOG_CAT_USER && (id >= p->cats_named || p->cats_gen != c->cur->gen))
        categories_name(c, p, id);
}
void site_in_file_slow(struct collector_state *c, struct proc *p, uint32_t id);
/* The site a record names is in the file before the record is (in a batch of
 * its process: the process is in the file). */
static inline void site_in_file(struct collector_state *c, struct proc *p, uint32_t id)
{
    struct site_slot *slot = site_slot_peek(p, id);
    if (!slot || slot->file_gen != c->cur->gen)
        site_in_file_slow(c, p, id);
}
/* Reads the THREAD entries p's table got since the last look (renames
 * included): after each take of records, and for a thread not known yet. */
void threads_scan(struct proc *p);
void thread_in_file_slow(struct collector_state *c, struct proc *p, uint32_t tid);
/* A record's thread, when its process named it, is named in the file first. */
static inline void thread_in_file(struct collector_state *c, struct proc *p, uint32_t tid)
{
    const struct proc_thread *t = p->threads.slots ? &p->threads.slots[p->threads.last] : NULL;
    if (!t || t->tid != tid || t->file_gen != c->cur->gen)
        thread_in_file_slow(c, p, tid);
}
/* The site, category and thread a record names are in the file (before a batch of it). */
void record_in_file(struct collector_state *c, struct proc *p, uint32_t site, unsigned category, uint32_t tid);
void ring_unclaim(struct ring *r);
/* The mapping of r faulted, or its writers wrote what no producer does: never read again. */
void ring_mark_broken(struct ring *r);
/* The drain read r up to pos; saw every position below bound reserved. */
void ring_read_to(struct ring *r, uint64_t pos);
void ring_bound_to(struct ring *r, uint64_t bound);
/* The frame with r's records up to pos is durable: their space goes back to the producers. */
void ring_release(struct ring *r, uint64_t pos);
/* r, whose owner spent its pass, goes last among p's rings. */
void proc_ring_to_back(struct proc *p, struct ring *r);
/* 1 (and stamped now) when p is live and was last asked every_ns or more ago. */
int proc_liveness_due(struct proc *p, uint64_t now, uint64_t every_ns);
uint64_t ring_head_now(struct ring *r);
void proc_finalize(struct collector_state *c, struct proc *p);

/* ==== Metrics and alerts (observe.c) ==== */


void observe(struct collector_state *c, uint64_t now);
void observe_last(struct collector_state *c);

#endif
