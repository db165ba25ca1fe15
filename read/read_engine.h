/*
 * read_engine.h - libshmlog-read's engine: the files named, their frames
 * decoded host by host, and what is done with what they hold handed to a
 * consumer. Private to read/: shmlog_read.c builds the public API on it,
 * and shmlog-dump's file commands (read, follow, stats, verify) use it.
 *
 *   read_hmap.c    the small hash map the others use
 *   read_inputs.c  the files named: headers, directories, grouping by host
 *   read_decode.c  sources: their readers, the decode loop, what the files
 *                  define; hands every record, loss and exit to a consumer
 *   read_kafka.c   a topic shmlog-ship fills (kafka://): a source that finds
 *                  its hosts, and a source per host fed with its messages
 *                  (read_nokafka.c in a build without librdkafka)
 *   read_merge.c   a consumer: per-ring FIFOs and the heap of streams, which
 *                  hands entries on in time order
 *   read_filter.c, read_time.c  the filters (read_filter.h)
 *   read_trace.c   the trace each thread works for, as its trace records set it
 *   shmlog_read.c, shmlog_read_arrow.c, read_arrow_batch.c  the public API over the merge
 *
 * The arrows: read_merge.c -> read_decode.c -> read_filter.c; read_kafka.c
 * -> read_decode.c, kafka_source.c; every file may use read_hmap.c;
 * read_inputs.c and read_time.c are their callers' (the API's, the dump's).
 * A consumer is reached through the pointers the caller hands in, never by
 * name, so the engine knows no command; a source fed from elsewhere
 * (read_kafka.c) through its feed pointer, which hands frames back to the
 * step (struct read_feed) and calls nothing of it.
 *
 * All state is in the struct read_engine (and the merge's struct
 * read_merge) the caller owns: two engines on two threads never meet. Errors
 * are values: out of memory is -ENOMEM, passed up to the caller, after which
 * the engine is only to be freed.
 */
#ifndef READ_ENGINE_H
#define READ_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "clock.h"
#include "read_filter.h"
#include "render.h"
#include "shlog_file.h"

#define SITE_PTR_CACHE 256u

/* ==== Small hash map: (k1, k2) -> pointer (read_hmap.c) ==== */

struct hmap_slot {
    uint64_t k1, k2;
    void *v; /* NULL: free */
};

struct hmap {
    struct hmap_slot *slots;
    size_t cap, n;
};

void *read_hmap_get(const struct hmap *m, uint64_t k1, uint64_t k2);
/* 0, or -ENOMEM. v must not be NULL; an existing key is replaced. */
int read_hmap_put(struct hmap *m, uint64_t k1, uint64_t k2, void *v);
void read_hmap_clear(struct hmap *m);

/* ==== What the inputs define ==== */

struct source;
struct read_engine;
struct chunk; /* read_merge.c */

/* A process, as shm_proc_key says who it is, within one source. */
struct dproc {
    struct shm_proc_info info;
    char instance[33];     /* info.instance as readers show it (render_instance_hex) */
    struct shm_tsc_clock clock;
    int passes;            /* the app and pid filters */
    struct render_site *unknown; /* renders records of sites the file did not define */
    struct shm_categories *cats; /* its own categories the files named, or NULL */
    struct hmap rings;     /* cpu -> dring */
    struct hmap sites;     /* id -> dsite */
    struct hmap threads;   /* tid -> its name as last read (a struct dname's) */
    struct dname *names;   /* every name read, kept: records queued before a rename point to the old one */
    uint32_t nnames;
    struct hmap traces;    /* tid -> struct dtrace: the trace its last trace record set */
    struct hmap spans;     /* (hash, length) -> a span name read, kept: entries point to them */
    uint32_t nspans;
    const char *source_host; /* the host of its source's files (theirs, not the process's own name for it) */
    const char *hostname;    /* the producer's own name for its machine (info.host is source_host then); NULL
                                in files from before SHLOG_FILE_COLLECTOR_HOST, whose info.host is that name */
    char own_name[SHMLOG_HOST_BYTES]; /* what hostname points to */
    struct source *src;      /* the source whose files define it */
    struct dproc *next_all;
};

struct dname {
    struct dname *next;
    char name[SHMLOG_THREAD_NAME_BYTES + 1];
};

/* The name the files gave thread tid of p, as far as read: NULL when none. A
 * record takes it when read, so a rename shows from the records after it. */
static inline const char *read_thread_name(const struct dproc *p, uint32_t tid)
{
    return p->threads.n ? (const char *)read_hmap_get(&p->threads, tid, 0) : NULL; /* most name no thread */
}

/* ==== The trace a thread works for (read_trace.c) ==== */

/* As a thread's last SHMLOG_REC_TRACE record set it: id 0, 0 when cleared. */
struct dtrace {
    uint64_t hi, lo;
    const char *span; /* one of its process's spans; "" when none */
};

/* The trace thread tid of p works for, as far as read: NULL when none. A
 * record takes it when read, as it takes its thread's name. */
static inline const struct dtrace *read_trace_of(const struct dproc *p, uint32_t tid)
{
    const struct dtrace *t = p->traces.n ? (const struct dtrace *)read_hmap_get(&p->traces, tid, 0) : NULL;
    return t && (t->hi || t->lo) ? t : NULL;
}
/* Takes a SHMLOG_REC_TRACE record of p: its thread works for the trace it
 * names from it on (a record that names none is ignored). 0, or -ENOMEM. */
int read_trace_take(struct dproc *p, const struct shm_copied_record *rec);
/* Thread tid of p works for trace hi, lo (0, 0: none) and span (n bytes as a
 * record holds them) from now on. 0, or -ENOMEM. */
int read_trace_set(struct dproc *p, uint32_t tid, uint64_t hi, uint64_t lo, const uint8_t *span, size_t n);
/* Frees p's traces and spans. */
void read_trace_free(struct dproc *p);

/* A FIFO of entries in chunks (read_merge.c). */
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
    uint64_t share_reach; /* with the engine's shares: the end of the positions its frames so far took */
    uint64_t older;       /* entries queued before its source last closed a file, still queued */
    void *user;           /* the consumer's, freed with the ring (free(3)) */
    struct dring *next_all;
    /* In the engine's live_rings: a record came since it last went quiet or
     * finished, so it may hold the merge back. */
    struct dring *live_prev, *live_next;
    int live;
};

/* A call site of a process; the prepared renderer is made on first use. */
struct dsite {
    struct dproc *proc;
    uint32_t id, line;
    uint8_t level, category, nargs;
    uint8_t arg_types[SHMLOG_MAX_ARGS];
    char *fmt, *file;      /* NULL when over SITE_STRINGS_MAX: shown as unknown */
    char *func, *desc;     /* "" when the files do not say; NULL with fmt */
    struct render_site *sr;
    uint64_t made;         /* its id: the engine's count of sites when it was made (a consumer's index) */
    uint64_t file_serial;  /* the last file that defined it for a record (struct source's) */
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
    struct shlog_index *ix; /* the sites' scan's index of it, which the records' read takes: one read a query */
};

struct in_list {
    struct in_file *v;
    size_t n, cap;
};

/* What a feed hands back to its source's step, which does it: the next
 * bytes of a run of frames (a file's, as the messages of a topic bring them),
 * the end of the run, or another source to step first. */
struct read_feed {
    /* Non-NULL: a run starts, of the file whose header this is (file names it
     * in messages): a reader over it replaces the one before. */
    const struct shlog_file_header *hdr;
    struct in_file *file;
    const void *bytes; /* whole frames (or the context before them), at offset off of their file */
    size_t n;
    uint64_t off;
    int close;                 /* the run's file is read to its end: closed */
    struct source *step_first; /* holds too much waiting: decodes a frame first */
};

/* The files of one host, in sequence order, read one after the other with
 * one dedup state; or the frames of one host that a feed hands in (the
 * messages of a Kafka topic); or a feed's own source, which finds hosts. */
struct source {
    struct source *next_src; /* the next input of the merge */
    /* A source fed from elsewhere: 1 with the next frames in *out, 0 when
     * there are none for now (done set once none will come), -errno. It
     * calls no function of the source's: its step does what *out says. */
    int (*feed)(struct read_engine *e, struct source *s, struct read_feed *out);
    void *feed_ctx;
    struct in_file *files;
    size_t nfiles, next;
    struct in_file *cur_file;
    uint64_t file_serial;    /* the file being read: the engine's count of files opened */
    uint64_t last_closed;    /* the serial of the last file closed */
    /* The files up to this serial are closed (0: none waits): their sites go
     * once no ring holds an entry queued before (rings_older is 0). */
    uint64_t closed_serial;
    size_t rings_older;
    struct shlog_reader *rd;
    struct shlog_dedup *dedup;
    int done;
    int park;               /* merged with others: between frames, its reader's memory is trimmed */
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
    uint8_t site_values[SITE_PTR_CACHE];   /* ... whose types are the dsite's */
    size_t nrings;          /* rings it has records of */
    uint64_t skip_below;    /* follow: frames before this offset were there at start */
    size_t parked;          /* bytes its reader keeps for frames while it waits */
    struct shm_clock_map clock; /* the host's anchors, over its files in order */
    struct shm_clock_piece piece; /* the stretch of it the last record fell in */
    int file_anchored;      /* the current file gave an anchor: its records map with them */
    /* The current file's index, with the engine's filters (read_engine's
     * query); NULL when not used. ix_at: the entry of the next frame. */
    struct shlog_index *ix;
    const struct shlog_index_query *ix_query;
    struct read_engine *ix_engine; /* its engine: whose threads' names --thread asks the index of, whose shares */
    size_t ix_at;
    uint64_t ix_skipped;    /* frames of the current file whose records the index ruled out */
    uint64_t ix_unread;     /* of them, those taken from the index, not read at all */
    const struct shlog_index_frame *ix_taken; /* the frame read from the index, not the file, to its end */
    const struct shlog_index_frame *ix_traced; /* the frame whose records the index ruled out: its traces at its end */
    int file_traced;        /* the current file defined a site of the trace format (SHMLOG_TRACE_FORMAT) */
    /* With the engine's shares: the frames offered to them so far, and
     * whether the frame being read is another engine's to count (read_engine). */
    uint64_t share_offered;
    int share_theirs;
};

/* Records of one block (struct shlog_block) that passed the filters, as
 * the engine hands them to a consumer's rows(): row i is block row row[i]. */
struct read_rows {
    uint32_t n;
    uint64_t order_ts;                      /* a backtrace's rows: where they all go in time order */
    uint16_t row[SHLOG_BLOCK_ROWS];
    uint8_t flags[SHLOG_BLOCK_ROWS];        /* flags the row shows besides its own (SHM_REC_TIME_UNCERTAIN) */
    uint64_t ts[SHLOG_BLOCK_ROWS];          /* its time */
    struct dsite *site[SHLOG_BLOCK_ROWS];   /* NULL for a site the files do not define */
};

/* ==== The consumer: what is done with what the sources decode ====
 *
 * Every callback may be NULL (nothing done). Those that return int return 0
 * to go on, 1 to have read_source_step() return after this event (the consumer
 * holds what it can for now), or -errno, which read_source_step() returns. */
struct read_consumer {
    void *clientd;
    /* Every record and loss as decoded, before any filter (verify). */
    int (*decoded)(void *clientd, struct source *s, struct dring *r, const struct shlog_event *ev);
    /* A record that passed the filters, at ts; order_ts is where it goes in
     * time order (a backtrace record's trigger: FORMAT.md, BACKTRACE). d is
     * NULL for a site the files do not define; its fmt is NULL when its
     * strings were over the bound (shown as unknown). */
    int (*record)(void *clientd, struct dring *r, struct dsite *d, const struct shlog_event *ev, uint64_t ts,
                  uint64_t order_ts);
    /* The same for the records of a block (ev: its BLOCK event) that passed:
     * a consumer that has it and no decoded() takes a batch's records a block
     * at a time. */
    int (*rows)(void *clientd, struct dring *r, const struct shlog_event *ev, const struct read_rows *rows);
    /* A loss that passed the filters, shown at ts. */
    int (*loss)(void *clientd, struct dring *r, const struct shlog_event *ev, uint64_t ts);
    /* An exit that passed the filters, of process p. */
    int (*exit)(void *clientd, struct source *s, struct dproc *p, const struct shlog_event *ev);
    /* A new anchor of a host's clock. */
    void (*anchor)(void *clientd, const struct shlog_event *ev);
    /* A record mapped with its process's calibration: its file had no anchor. */
    void (*unanchored)(void *clientd);
    /* Damage in the file s reads (s->cur_file), also said through message();
     * torn: its last frame was cut short. */
    void (*damage)(void *clientd, struct source *s, int torn);
    /* A file read to its end (or given up on). */
    void (*file_closed)(void *clientd, struct source *s, const struct shlog_reader_stats *st);
    /* A line to say: damage (note 0), or a note that is no damage (a file
     * still being written). */
    void (*message)(void *clientd, const char *msg, int note);
};

/* ==== The engine ==== */

struct shlog_frame_mem;

struct read_engine {
    /* what the caller sets */
    const struct read_filter *filter;
    struct read_consumer consumer;
    int follow;              /* files are being written: wait at their end (shmlog-dump follow) */
    int follow_live;         /* wait at the end of the files being written only (a .part whose
                                collector runs); read the others to theirs (shmlog-dump serve's tail) */
    int strict;              /* a torn frame of a live file is damage too; no notes on open files */
    /* The consumer needs a site only while a record of it is queued (the
     * merge, which hands each on at once): the strings and renderer of a
     * site that no file still read defines are freed, so the sites held are
     * those of the files open, not of all files read. */
    int release_sites;
    /* Engines that split the same inputs between them (shmlog-dump stats on
     * threads): with shares > 1, this one decodes the records of the frames
     * the index leaves to be read whose count modulo shares is share, and of
     * the others what the files define and their records' times. Every
     * engine so sees the same definitions, anchors and losses; a consumer
     * counts the records and losses of its share (source's share_theirs),
     * records one at a time (not rows: take_block leaves shares alone).
     * share_bytes: what the engine's call sites' strings and the frame it
     * decodes may take; a frame past it is left unread, as the caller counts
     * on one engine then (share_failed).
     */
    unsigned share, shares;
    uint64_t share_bytes;
    /* what the engine keeps */
    int status;              /* 1 once an input was damaged or unreadable */
    int share_failed;        /* with shares: positions of a ring came again, so records of two engines'
                                frames may be one record written twice; or a frame past share_bytes
                                was left unread */
    size_t parked;           /* bytes readers keep for frames while their sources wait */
    struct shlog_frame_mem *frame_mem; /* what every reader decodes in: one frame at a time */
    uint64_t site_bytes, prepared_bytes, sites_made;
    uint64_t files_opened;
    /* With release_sites: the strings of sites that only closed files define,
     * kept for their queued records, and the sources waiting for those to go
     * (the merge hands them on early when these pass its bound). */
    uint64_t closed_site_bytes;
    size_t sources_older;
    struct dproc *all_procs;
    struct dring *all_rings;
    /* The rings that may hold the merge back, a subset of all_rings: the
     * merge asks this list, not every ring ever read, at each step (a file of
     * 65,536 short-lived processes has as many rings). */
    struct dring *live_rings;
    struct dsite *all_sites;
    struct shm_copied_record flagged; /* the record being taken, as shown when its time is uncertain */
    /* The filters as a question to the files' indexes (read_index_query):
     * asked once the first file opens; index_use 1 when it asks anything,
     * -1 when it does not (no filter the index sums up, SHMLOG_NO_INDEX, a
     * consumer that wants every record decoded). */
    int index_use;
    struct shlog_index_query query;
    uint32_t query_pid;
    struct shlog_index_field *query_fields;
    uint32_t *query_tids;    /* the threads --thread may mean, as the files named them so far */
    size_t query_ntids, query_tids_cap;
    uint64_t thread_names;   /* names the files gave threads so far: the tids --thread means change with them */
    uint64_t query_tids_at;  /* 1 + thread_names when query_tids was made; 0: not made */
    uint32_t *trace_tids;    /* the threads working for --trace's trace as far as read */
    size_t trace_ntids, trace_tids_cap;
    uint64_t trace_sets;     /* threads' traces set so far (trace records, skipped frames' entries) */
    uint64_t trace_tids_at;  /* 1 + trace_sets when trace_tids was made; 0: not made */
    struct read_rows rows;   /* the block being taken: its rows that passed */
    /* Called before sites' strings or renderers are freed: a consumer whose
     * other threads still render with some finishes with them (an Arrow
     * stream's builders). */
    struct read_sites_freeing {
        void (*fn)(void *ctx);
        void *ctx;
    } sites_freeing;
    /* Renderers dropped while other threads may still render with them (a
     * reader's lines: read_lines.c): kept here until it frees them with
     * read_retired_free(), instead of freed at once. */
    int retire_renderers;
    struct render_site **retired;
    size_t nretired, retired_cap, retired_bytes;
};

/* Frees sr now, or keeps it for read_retired_free() (retire_renderers). */
void read_renderer_drop(struct read_engine *e, struct render_site *sr);
/* Frees the renderers dropped while retire_renderers was set: every one,
 * or the first n dropped. */
void read_retired_free(struct read_engine *e);
void read_retired_free_first(struct read_engine *e, size_t n);

/* Tells the consumer that sites' renderers are about to be freed. */
static inline void read_sites_freeing(struct read_engine *e)
{
    if (e->sites_freeing.fn)
        e->sites_freeing.fn(e->sites_freeing.ctx);
}

/* An engine with filter f (NULL: none) and consumer c; set follow and
 * strict after. 0, or -ENOMEM. */
int read_engine_init(struct read_engine *e, const struct read_filter *f, const struct read_consumer *c);
/* Frees what the sources defined (processes, rings, sites) and the index
 * query; not the sources. */
void read_engine_free(struct read_engine *e);
/* With release_sites: frees the sites of the sources' closed files that no
 * entry queued or handed on needs any more. Only where the consumer holds no
 * entry it was handed (the merge, at the start of a step). */
void read_release_sites(struct read_engine *e, struct source *srcs);
/* From now on every site is kept until the engine is freed. */
void read_keep_sites(struct read_engine *e);

/* Says msg through the consumer. */
static inline void read_say(struct read_engine *e, const char *msg, int note)
{
    if (e->consumer.message)
        e->consumer.message(e->consumer.clientd, msg, note);
}

/* ==== Inputs (read_inputs.c) ==== */

/* Adds the files path names: a file as given, a directory as its .shlog and
 * .shlog.part files (said when it cannot be read: status 1). 0, or -ENOMEM. */
int read_inputs_add(struct read_engine *e, struct in_list *l, const char *path, int is_dir);
/* Sorts the files by host, then sequence number. */
void read_inputs_sort(struct in_list *l);
/* Frees the list and the indexes its files keep. */
void read_inputs_free(struct in_list *l);
/* Reads and checks a file's 128-byte header. 0, or -errno / -EINVAL. */
int read_file_header(const char *path, struct shlog_file_header *h);

/* ==== Sources and the decode loop (read_decode.c) ==== */

/* One source per host of the inputs (sorted), each the next_src of the one
 * before: 0, or -ENOMEM. */
int read_make_sources(struct read_engine *e, struct in_list *l, struct source **srcs, size_t *nsrc);
/* Closes and frees srcs (NULL: none). */
void read_free_sources(struct read_engine *e, struct source *srcs, size_t nsrc);
/* Puts s (and those after it) at the end of the list *first. */
void read_sources_append(struct source **first, struct source *s);
/* A source of no files yet, for a caller that sets them (follow). 0, or -ENOMEM. */
int read_source_init(struct source *s);
/* Closes what read_source_init made (not the source's memory). */
void read_source_free(struct read_engine *e, struct source *s);
/* Opens the source's next file; 0 when there is none. */
int read_source_open_next(struct read_engine *e, struct source *s);
void read_source_close_file(struct read_engine *e, struct source *s);
/* Decodes one frame of s (and the damage before it): 1 if it decoded
 * something, 0 at the end of the source (in follow mode: for now), -errno
 * when the consumer or the engine failed (-ENOMEM). */
int read_source_step(struct read_engine *e, struct source *s);
/* prepared()'s renderer made (the site's first record, or after PREPARED_MAX). */
const struct render_site *read_prepared_make(struct read_engine *e, struct dsite *d, struct dproc *proc);
/* The renderer of records of site d (NULL: of an unknown site of proc); NULL when out of memory. */
static inline const struct render_site *prepared(struct read_engine *e, struct dsite *d, struct dproc *proc)
{
    const struct render_site *sr = d && d->fmt ? d->sr : proc->unknown;
    return sr ? sr : read_prepared_make(e, d, proc);
}
/* The ring of process p that an exit marker goes after (one with records,
 * else a stream of the process's own); NULL when out of memory. */
struct dring *read_exit_ring(struct read_engine *e, struct source *s, struct dproc *p);
/* Takes ring r out of the engine's live_rings: it finished, or went quiet;
 * its next record puts it back. */
void read_ring_unlive(struct read_engine *e, struct dring *r);
/* The sites rd gives (its records skipped) whose process passes e's filter,
 * each to site. 0, site's error, or -ENOMEM. */
int read_reader_each_site(struct read_engine *e, struct shlog_reader *rd,
                          int (*site)(void *clientd, const struct shm_proc_info *p, const struct shm_site *s),
                          void *clientd);
/* Reads the sites each input file defines, without its records, for a caller
 * that wants them before the first record (an Arrow schema): site() is
 * called for each site of a process that passes the filters. 0, or -ENOMEM
 * (damage is left for the records' pass to report). */
int read_scan_sites(struct read_engine *e, struct in_list *l,
                    int (*site)(void *clientd, const struct shm_proc_info *p, const struct shm_site *s),
                    void *clientd);

/* ==== The merge in time order (read_merge.c) ==== */

/* ENTRY_BACKTRACE: a record written late (FORMAT.md, BACKTRACE), queued at
 * its trigger's time; its body is its own time (uint64_t), then the record. */
enum entry_kind { ENTRY_RECORD = 1, ENTRY_LOSS = 2, ENTRY_EXIT = 3, ENTRY_BACKTRACE = 4 };

/* Kept small: the merge window holds many. */
struct entry {
    uint64_t ts_ns;
    struct dproc *proc;
    struct dsite *site;   /* RECORD; NULL: a site the file did not define */
    const char *thread;   /* RECORD, BACKTRACE: its thread's name when it was read, or NULL */
    struct dtrace trace;  /* RECORD, BACKTRACE: the trace its thread worked for then (id 0, 0: none) */
    uint16_t bytes;       /* the whole entry, 8-aligned */
    uint8_t kind;
    uint32_t cpu;
    /* RECORD: the head of a struct shm_copied_record, payload_len bytes of payload.
     * BACKTRACE: its own time (uint64_t), then the same. LOSS: struct shm_loss.
     * EXIT: struct entry_exit. */
};

struct entry_exit {
    uint64_t records, lost;
    unsigned how; /* enum shlog_exit_how */
};

/* The time a record of entry e shows: a backtrace record's own; others are
 * shown at the time they are merged at. */
static inline uint64_t entry_own_ts(const struct entry *e)
{
    uint64_t ts = e->ts_ns;
    if (e->kind == ENTRY_BACKTRACE)
        memcpy(&ts, e + 1, sizeof ts);
    return ts;
}

/* The record of a RECORD or BACKTRACE entry. */
static inline const struct shm_copied_record *entry_record(const struct entry *e)
{
    const unsigned char *body = (const unsigned char *)(e + 1);
    return (const struct shm_copied_record *)(body + (e->kind == ENTRY_BACKTRACE ? sizeof(uint64_t) : 0));
}

/* Where the merge hands entries, in time order, and the engine's messages
 * in between. entry() returns 0 to go on, 1 when it wants no more for now
 * (the merge pauses until the next read_merge_step), or -errno. */
struct entry_sink {
    int (*entry)(void *ctx, const struct entry *e);
    void (*message)(void *ctx, const char *msg, int note);
    void *ctx;
};

/* The merge running: its inputs, its FIFOs' memory, the heap of its streams. */
struct read_merge {
    struct read_engine *engine;
    const struct entry_sink *sink;
    struct source *srcs;     /* its inputs, one source per host, a list by next_src (a feed adds to it) */
    uint64_t limit;          /* records to hand on at most; 0: all */
    uint64_t shown;          /* records handed on */
    int stop;                /* the limit was reached */
    int pause;               /* the sink wants no more for now */
    int kinds;               /* 1 << ENTRY_*: the kinds it queues (backtrace records go with records) */
    uint64_t buffered;       /* bytes of the FIFOs' chunks */
    uint64_t buffer_max;     /* past it, the earliest entries go out in best-effort order (read_merge_init) */
    struct chunk *free_chunks; /* of CHUNK_MAP_BYTES */
    unsigned nfree_chunks;
    uint64_t hold_mark;      /* read_merge_hold's; 0: emptied chunks are released at once */
    struct chunk *held, *held_last; /* emptied, in the order they emptied, until read_merge_let_go */
    /* the heap of streams: the FIFOs of the rings (struct dring) */
    struct fifo **heap;
    size_t nheap, heap_cap;
};

/* An entry as shmlog-dump read prints it: a text line (json 0) or a JSON
 * Lines object, in b (whose memo says the zone). 0, or -ENOMEM. */
int read_entry_line(struct read_engine *e, const struct entry *en, int json, struct render_buf *b);
/* The same with the entry's renderer given (sr: prepared() of a record's
 * site, unused for other entries): it changes nothing in the engine, so
 * threads other than the reader's may render this way. */
void read_entry_render(const struct render_site *sr, const struct entry *en, int json, struct render_buf *b);

/* Makes m the consumer of engine e, handing entries to sink, with buffer_max
 * bytes of FIFOs (0: 64 MiB, read_merge.c); then read_merge_begin. */
void read_merge_init(struct read_merge *m, struct read_engine *e, const struct entry_sink *sink, uint64_t buffer_max);
/* The consumer m is (for read_engine_init). */
struct read_consumer read_merge_consumer(struct read_merge *m);
void read_merge_begin(struct read_merge *m, struct source *srcs);
/* Writes what is known to be next, then decodes a frame of the input that
 * holds the rest back. 1 while there is more, 0 once everything was handed
 * on (or the limit was reached), -errno. */
int read_merge_step(struct read_merge *m);
/* Hands entries on while they are known to be next. all: the inputs ended (or
 * a follow pass did), hand everything on. 0, or -errno. */
int read_merge_drain(struct read_merge *m, int all);
void read_merge_end(struct read_merge *m);
/* Frees the chunks of the engine's streams, the spare chunks and the heap. */
void read_merge_free(struct read_merge *m);
/* From now on the chunks of entries the merge empties are held, under mark
 * (> 0, never less than before), until read_merge_let_go: the sink reads the
 * entries it was handed after it returned (an Arrow stream's builders).
 * mark 0: released as they empty. */
void read_merge_hold(struct read_merge *m, uint64_t mark);
/* Releases the chunks held under marks up to mark. */
void read_merge_let_go(struct read_merge *m, uint64_t mark);

/* ==== A Kafka topic of shipped frames (read_kafka.c) ====
 *
 * kafka://BROKERS/TOPIC as the reader reads a directory: its source finds
 * the topic's hosts and adds a source per host after itself in the merge's
 * list, each fed its host's messages (FORMAT.md, "Frames as messages") with
 * its own dedup and clock map, as a host's files are read. Messages that
 * are no frame of a host are said as damage (status 1) and skipped. Built
 * without librdkafka, opening says so (read_nokafka.c). */

struct read_kafka;

/* Opens url for e: from the first message at or after since_ns (0: the
 * beginning; from_end: only what comes after the open), up to the ends the
 * partitions have now unless e->follow. 0, or -errno with err set (-ENOTSUP:
 * this build has no Kafka). */
int read_kafka_open(struct read_engine *e, const char *url, uint64_t since_ns, int from_end, struct read_kafka **out,
                    char *err, size_t errcap);
/* Its source, to put in the merge's list (its hosts come after it). */
struct source *read_kafka_source(struct read_kafka *k);
/* Follow: takes what the partitions have now, waiting up to timeout_ms when
 * they have nothing; the messages wait in their hosts' sources. Messages
 * taken, or -errno. */
int read_kafka_poll(struct read_engine *e, struct read_kafka *k, int timeout_ms);
/* read_scan_sites over the same messages the reader reads. 0, or -ENOMEM. */
int read_kafka_scan_sites(struct read_engine *e, struct read_kafka *k,
                          int (*site)(void *clientd, const struct shm_proc_info *p, const struct shm_site *s),
                          void *clientd);
/* What a topic's read went through. */
struct read_kafka_total {
    uint64_t files, bytes;       /* the files the messages came from, their bytes as a mirror writes them */
    uint64_t resent;             /* frames skipped as a shipper's second sending */
    uint64_t partitions;         /* partitions read */
    uint64_t partitions_skipped; /* and not read: the host map puts none of --host's frames there */
};
void read_kafka_totals(const struct read_kafka *k, struct read_kafka_total *t);
/* Closes it and frees its sources (taken out of no list: free the list's owner too). */
void read_kafka_close(struct read_engine *e, struct read_kafka *k);

#endif /* READ_ENGINE_H */
