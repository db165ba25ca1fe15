/*
 * collector.h - what the files of shmlog-collector share (private to the
 * program): its limits, processes, rings, output files and frames, and the
 * state more than one file uses. Each file's entry points are in its own
 * header (drain.h for drain.c, ...), included by the files that call it.
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
 *
 * Each field of a ring, a process and a frame has one file that writes it,
 * named first in its comment; another file that needs it changed calls that
 * file (tests/test_field_owners.sh checks it).
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
 * for two rings' passes of the most slots (DRAIN_SLOT_BUDGET, and the
 * record that crosses it). */
#define FRAME_RAW_STOP \
    (SHLOG_MAX_FRAME_RAW - 2u * (DRAIN_SLOT_BUDGET + SHMLOG_MAX_SLOTS) * SHMLOG_RECORD_BYTES)
#define DRAIN_BUDGET 16384u         /* records per ring per pass: fairness */
/* Slots per ring per pass: records of long arguments count by their slots,
 * so a pass of them reads no more bytes than one of 8-slot records. */
#define DRAIN_SLOT_BUDGET (DRAIN_BUDGET * 8u)
#define WRITE_RETRY_NS 1000000000ull
#define MAX_PASS_WAIT_NS 1000000ull /* longest wait between drain passes (see pass_wait_ns in collector.c) */
/* ... without cpus of its own (no --cpu) and --poll adaptive: each wake-up
 * costs a shared cpu more than the pass it makes, and what comes due (a
 * ring's --max-delay-ms, a frame's age) wakes it on time; a burst that
 * starts meanwhile is first seen up to this late. */
#define SHARED_NAP_MAX_NS 10000000ull
#define PEAK_RECORDS_PER_US 100u    /* the fastest a producer core can fill a ring */
#define OPEN_RETRY_NS 100000000ull /* an output file that could not be made: tried again after this */

/* ==== Processes, rings, files, frames ==== */

struct proc;
struct options; /* options.h */

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
    struct writer *writer;     /* writer.c's state (writer_new) */
    struct scan *scan;         /* scan.c's state (scan_new) */
    struct output *output;     /* output.c's state (output_new) */
    uint64_t nofile;           /* the descriptor limit (RLIMIT_NOFILE) */
    uint64_t nmetas;           /* processes: a descriptor each */
    struct proc *procs;        /* the processes procs.c found, newest first */
    struct outfile *cur;       /* the file frames go to (output.c rotates it) */
    uint64_t build_first_ns;   /* when the frame being built got its first content, 0 if empty */
    int flush_soon;            /* [frame.c] the frame being built is to be flushed now (frame_flush_soon) */
    int rotate_soon;           /* [frame.c] the current file's definitions near what readers keep (shlog_enc_file_full) */
    /* counters */
    uint64_t records, frames, fast_frames, bytes;
    int filling;                /* frames go at opt->zstd_fast_level: see set_frame_level */
    uint64_t record_slots;      /* ring slots of the records encoded */
    int backlog;                /* the last pass left records behind (budget spent, frame full) */
    uint64_t rings_changed;     /* [procs.c] rings made and processes gone, counted: a ring may have
                                   something new, and a pass that sees it move looks at every ring */
    uint64_t rings_changed_seen; /* [drain.c] rings_changed when the last whole pass began */
    int walk_all;               /* [drain.c] the last pass found a ring not quiet: the next looks at every ring */
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

#endif
