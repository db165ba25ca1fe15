/* dump_files.h - what the files of shmlog-dump's file commands (read, follow, stats, verify) and of libshmlog-read share. */
/*
 *   dump_inputs.c  the files named: headers, directories, grouping by host
 *   dump_decode.c  sources: their readers, the decode loop, what the files define
 *   dump_merge.c   read's merge: per-ring FIFOs, the heap of streams, writing in time order
 *   dump_read.c    read and follow
 *   dump_stats.c   stats: its counters and its report
 *   dump_verify.c  verify: ring positions and the per-file summaries
 *   dump_hmap.c    the small hash map they use
 *   shmlog_read.c  libshmlog-read: the same engine as a pull iterator (shmlog_read.h)
 *
 * The arrows: the commands -> dump_decode.c -> dump_inputs.c; dump_decode.c
 * hands what it decodes to dump_merge.c (read, follow), dump_stats.c (stats)
 * or dump_verify.c (verify); dump_merge.c steps the sources it merges.
 */
#ifndef DUMP_FILES_H
#define DUMP_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "dump.h"
#include "shlog_file.h"

#define SITE_PTR_CACHE 256u

/* ==== Small hash map: (k1, k2) -> pointer (dump_hmap.c) ==== */

struct hmap_slot {
    uint64_t k1, k2;
    void *v; /* NULL: free */
};

struct hmap {
    struct hmap_slot *slots;
    size_t cap, n;
};

void *hmap_get(const struct hmap *m, uint64_t k1, uint64_t k2);
/* 0, or -ENOMEM. v must not be NULL; an existing key is replaced. */
int hmap_put(struct hmap *m, uint64_t k1, uint64_t k2, void *v);
void hmap_clear(struct hmap *m);

/* ==== What the inputs define ==== */

struct source;
struct chunk; /* dump_merge.c */

/* A process, as shm_proc_key says who it is, within one source. */
struct dproc {
    struct shm_proc_info info;
    struct shm_tsc_clock clock;
    int passes;            /* --pid / --app */
    struct render_site *unknown; /* renders records of sites the file did not define */
    struct shm_categories *cats; /* its own categories the files named, or NULL */
    struct hmap rings;     /* cpu -> dring */
    struct hmap sites;     /* id -> dsite */
    struct dproc *next_all;
};

/* A FIFO of entries in chunks (dump_merge.c). */
struct fifo {
    struct chunk *first, *last;
    uint64_t count;
};

/* One ring of one process: a stream of the merge. */
struct dring {
    struct fifo q;        /* first: the heap holds &q */
    struct dproc *proc;
    struct source *src;
    uint32_t cpu;
    uint64_t last_ts;     /* time of the last record decoded */
    int has_last;
    uint64_t last_frame;  /* its source's frame count at that record */
    int finished;         /* its process exited: nothing more comes */
    int backtrace;        /* the stream of the ring's backtrace records: never holds others back */
    int heap_index;       /* -1: not in the heap */
    /* verify */
    uint64_t expected;    /* the next ring position */
    int has_expected;
    struct dring *next_all;
};

/* A call site of a process; the prepared renderer is made on first use. */
struct dsite {
    struct dproc *proc;
    uint32_t id, line;
    uint8_t level, category, nargs;
    uint8_t arg_types[SHMLOG_MAX_ARGS];
    char *fmt, *file;      /* NULL when over SITE_STRINGS_MAX: shown as unknown */
    struct render_site *sr;
    uint64_t records;      /* stats */
    struct dsite *next_all;
};

struct in_file {
    char path[4096];
    char host[SHMLOG_HOST_BYTES + 1];
    uint64_t seq;
    uint64_t bytes;
    int part;          /* a .shlog.part */
    int writer_alive;  /* a .part whose collector runs: it is still being written */
    int bad_header;
    char error[256];
    /* verify */
    uint64_t records, gaps, gap_positions, errors, frames, torn;
};

struct in_list {
    struct in_file *v;
    size_t n, cap;
};

/* The files of one host, in sequence order, read one after the other with
 * one dedup state. */
struct source {
    struct in_file *files;
    size_t nfiles, next;
    struct in_file *cur_file;
    struct shlog_reader *rd;
    struct shlog_dedup *dedup;
    int done;
    int park;               /* read merges it with others: between frames, its reader's memory is trimmed */
    uint64_t frames;        /* frames begun */
    uint64_t frame_off;     /* offset of the frame being decoded */
    uint64_t max_ts;        /* latest record time decoded */
    struct hmap procs;      /* shm_proc_key -> dproc */
    struct hmap by_ptr;     /* the reader's shlog_proc pointer -> dproc (this file) */
    const struct shlog_proc *last_ptr;
    struct dring *last_ring;
    struct dproc *last_proc;
    const void *site_ptr[SITE_PTR_CACHE]; /* the reader's shlog_site pointer ... */
    struct dsite *site_of[SITE_PTR_CACHE]; /* ... -> dsite (this file) */
    size_t nrings;          /* rings it has records of */
    uint64_t skip_below;    /* follow: frames before this offset were there at start */
    size_t parked;          /* bytes its reader keeps for frames while it waits */
    struct shm_clock_map clock; /* the host's anchors, over its files in order */
    int file_anchored;      /* the current file gave an anchor: its records map with them */
};

enum mode { MODE_READ, MODE_STATS, MODE_VERIFY, MODE_FOLLOW };

struct entry;
struct shlog_frame_mem;

/* What the sources keep over all of them (dump_decode.c). */
struct decode_state {
    size_t parked;           /* bytes readers keep for frames while their sources wait */
    struct shlog_frame_mem *frame_mem; /* what every reader decodes in: one frame at a time */
    uint64_t site_bytes, prepared_bytes;
    struct dproc *all_procs;
};

/* The merge running: its inputs, its FIFOs' memory, the heap of its streams (dump_merge.c). */
struct merge_state {
    struct source *srcs;     /* read: the merge's inputs, one source per host */
    size_t nsrc;
    uint64_t shown;          /* records written */
    uint64_t buffered;       /* bytes of the FIFOs' chunks */
    struct chunk *free_chunks; /* of CHUNK_MAP_BYTES */
    unsigned nfree_chunks;
    /* the heap of streams: the FIFOs of the rings (struct dring) */
    struct fifo **heap;
    size_t nheap, heap_cap;
};

/* Where a file command's output goes: shmlog-dump's standard output and
 * error (dump_read.c), or a libshmlog-read reader (shmlog_read.c). The
 * engine itself writes nothing and never exits. */
struct file_sink {
    void (*entry)(void *ctx, const struct entry *e); /* an entry is next in time order */
    void (*error)(void *ctx, const char *msg);        /* a line the dump would print on stderr */
    void (*oom)(void *ctx) __attribute__((noreturn));
    void *ctx;
};

/* A file command (or a reader of the library): what its files share. Each
 * file keeps the rest of its state to itself. */
struct file_cmd {
    enum mode mode;
    const struct cli *cli;
    int status;              /* exit status so far */
    int stop;                /* --limit reached */
    int pause;               /* the sink wants no more for now: drain() stops */
    struct dring *all_rings; /* the merge's streams */
    struct dsite *all_sites; /* stats counts records by site */
    const struct file_sink *sink;
    struct decode_state decode;
    struct merge_state merge;
};
/* The one the dump runs, or the reader a library call works on, under its
 * lock (shmlog_read.c): every function of these files works on it. */
extern struct file_cmd *running; /* dump_decode.c */

/* ==== The entries of the merge (dump_merge.c) ==== */

/* Kept small: the merge window holds many. */
struct entry {
    uint64_t ts_ns;
    struct dproc *proc;
    struct dsite *site;   /* RECORD; NULL: a site the file did not define */
    uint16_t bytes;       /* the whole entry, 8-aligned */
    uint8_t kind;
    uint32_t cpu;
    /* RECORD: the head of a struct shm_copied_record, payload_len bytes of payload.
     * BACKTRACE: its own time (uint64_t), then the same. LOSS: struct shm_loss.
     * EXIT: struct entry_exit. */
};

/* The time a record of entry e shows: a backtrace record's own. */
uint64_t entry_own_ts(const struct entry *e);
/* The record of a RECORD or BACKTRACE entry. */
const struct shm_copied_record *entry_record(const struct entry *e);
/* An entry as read prints it: a text line (json 0) or a JSON Lines object. */
void entry_line(const struct entry *e, int json, struct render_buf *b);

/* ==== Inputs (dump_inputs.c) ==== */

struct stat;
/* The FILE|DIR arguments, or the default directory when none was given. */
const char *const *input_args(const struct cli *cli, int *n);
/* stat(2) of one of them; when it fails, says why (naming where the default
 * directory came from when no FILE|DIR was given), sets the exit status 1,
 * and returns -1. */
int stat_input(const struct cli *cli, const char *arg, struct stat *st);
/* The files named: files as given, directories as their .shlog and .shlog.part
 * files. Sorted by host then sequence number. */
int collect_inputs(const struct cli *cli, struct in_list *l);
/* The file after after_seq in dir (the lowest sequence number above it, or
 * any when has_after is 0 and newest is 0; the highest when newest is 1):
 * closed .shlog or open .shlog.part. 0, or -ENOENT. */
int find_file(const char *dir, int has_after, uint64_t after_seq, int newest, int only_part, struct in_file *f);

/* ==== Sources and the decode loop (dump_decode.c) ==== */

void begin(struct cli *cli, enum mode mode);
/* A line on standard error, after the output written so far. */
void note_error(const char *msg);
void oom(void) __attribute__((noreturn));
/* One source per host of the inputs. */
struct source *make_sources(struct in_list *l, size_t *nsrc);
void free_sources(struct source *srcs, size_t nsrc);
/* Opens the source's next file; 0 when there is none. */
int source_open_next(struct source *s);
void source_close_file(struct source *s);
/* Decodes one frame of s (and the damage before it): 1 if it decoded
 * something, 0 at the end of the source (in follow mode: for now). */
int source_step(struct source *s);
/* The renderer of records of site d (NULL: of an unknown site of proc). */
const struct render_site *prepared(struct dsite *d, struct dproc *proc);

/* ==== The merge in time order (dump_merge.c) ==== */

/* ENTRY_BACKTRACE: a record written late (FORMAT.md, BACKTRACE), queued at
 * its trigger's time; its body is its own time (uint64_t), then the record. */
enum entry_kind { ENTRY_RECORD = 1, ENTRY_LOSS = 2, ENTRY_EXIT = 3, ENTRY_BACKTRACE = 4 };

struct entry_exit {
    uint64_t records, lost;
    unsigned how; /* enum shlog_exit_how */
};

#define REC_HEAD offsetof(struct shm_copied_record, payload)

/* Appends an entry (its header, then len bytes of body) to ring r's stream. */
void queue_entry(struct dring *r, enum entry_kind kind, uint64_t ts, uint32_t cpu, struct dsite *site,
                 struct dproc *p, const void *body, size_t len);
/* Writes entries while they are known to be next. all: the inputs ended (or
 * a follow pass did), write everything. */
void drain(struct source *srcs, size_t nsrc, int all);
/* Decodes the sources and writes their entries in time order: merge_run,
 * or its steps (a library reader takes a step when it has nothing to give). */
void merge_run(struct source *srcs, size_t nsrc);
void merge_begin(struct source *srcs, size_t nsrc);
/* Writes what is known to be next, then decodes a frame of the input that
 * holds the rest back. 0 once everything was written (or --limit was reached). */
int merge_step(void);
void merge_end(void);
/* Frees the chunks of a stream; merge_free: the spare chunks and the heap. */
void merge_free_stream(struct fifo *q);
void merge_free(void);

/* ==== What stats counts while decoding (dump_stats.c) ==== */

void stats_record(const struct dproc *p, struct dsite *d, const struct shm_copied_record *rec, uint64_t ts);
void stats_loss(const struct shm_loss *loss);
/* A record mapped with its process's calibration: its file had no anchor. */
void stats_unanchored_record(void);
/* A new anchor of the host's clock. */
void stats_anchor(const struct shlog_event *ev);
/* A file read to its end (or given up on). */
void stats_file_closed(const struct shlog_reader_stats *st);

/* ==== What verify checks while decoding (dump_verify.c) ==== */

/* Ring positions follow each other, but for PAD slots at the end of the ring,
 * losses, and positions the batch says it passed over (from covered_from). */
void verify_position(struct source *s, struct dring *r, uint64_t covered_from, uint64_t pos, uint64_t next);

#endif /* DUMP_FILES_H */
