/*
 * shlog_file.h - the output file format (format/FORMAT.md):
 * the frame encoder the collector uses, and the decoder, iterator and dedup
 * state that tests and shmlog-dump use. They are two libraries, so each
 * program links only its side (collector/meson.build): the encoder
 * (shlog_encode.c) and the decoder (shlog_decode_*.c, shlog_dedup.c), each on
 * the coding both share (shlog_coding.c). This header is the one public one.
 *
 *   <file header 128 B> <prefix 16 B><zstd frame> <prefix 16 B><zstd frame> ...
 *
 * Encoding a frame:
 *
 *     shlog_enc_process(enc, key, &info);           // once per process per file
 *     shlog_enc_site(enc, key, &site);              // before a batch uses it
 *     shlog_enc_batch_begin(enc, key, cpu);
 *     shlog_enc_record(enc, &rec); ...
 *     shlog_enc_batch_end(enc);
 *     n = shlog_enc_frame(enc, buf, shlog_enc_frame_bound(enc));
 *
 * Decoding: shlog_reader_open(), then shlog_reader_next() until it returns 0.
 * Damaged frames come out as SHLOG_EV_ERROR events and reading goes on.
 */
#ifndef SHLOG_FILE_H
#define SHLOG_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "clock.h"
#include "reader.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SHLOG_FILE_MAGIC 0x01464C4F4C4D4853ULL /* "SHMLOGF\x01" */
#define SHLOG_FILE_VERSION 2u
#define SHLOG_FILE_HEADER_BYTES 128u
/* The header's flags. SITES_FIRST: in every frame, the PROCESS and SITE
 * sections come before any other (FORMAT.md, "File header"), so a reader that
 * wants only the call sites decompresses each frame no further than them. */
#define SHLOG_FILE_SITES_FIRST 1u
/* COLLECTOR_HOST: the records' host is the header's (the collector's --host),
 * and a PROCESS section's host is the producer's own name for its machine;
 * without it (files from before), readers show the PROCESS's host. */
#define SHLOG_FILE_COLLECTOR_HOST 2u
#define SHLOG_FRAME_MAGIC 0x52464C53u /* "SLFR" */
#define SHLOG_FRAME_PREFIX_BYTES 16u
/* Decompressed bytes of one frame, at most: the one limit of writers and
 * readers. shlog_enc_frame refuses a larger frame; a reader refuses one
 * (unread, counted as SHM_LOSS_UNREADABLE) from its 16-byte prefix or its
 * zstd frame header, before decompressing anything. The collector closes a
 * frame at 16 MiB (FRAME_MAX_RAW in collector.c), but a drain pass that
 * crosses that still adds about a thousand records of every other ring, so
 * its frames can be larger; and files written under this limit must stay
 * readable: it never shrinks. */
#define SHLOG_MAX_FRAME_RAW (64u << 20)
#define SHLOG_MAX_BATCH_RECORDS 65536u
/* What readers keep of one file's definitions, at most (FORMAT.md, "What a
 * file defines"): a frame that defines past one is damaged for them, with
 * every record in it. The encoder refuses a definition past one (-ENOSPC)
 * and says when a file is near (shlog_enc_file_full), so that its writer
 * begins a new file first. */
#define SHLOG_FILE_MAX_PROCS 65536u                /* processes (distinct keys) */
#define SHLOG_FILE_MAX_SITES (1u << 20)            /* call sites (distinct process and id) */
#define SHLOG_FILE_MAX_SITE_BYTES (64u << 20)      /* the sites, each counted as ... */
#define SHLOG_FILE_SITE_HEAD_BYTES 1024u           /* ... this and its four strings (any reader's own, at most) */
#define SHLOG_FILE_MAX_NAMES (1u << 16)            /* CATEGORY and THREAD sections */
#define SHLOG_FILE_MAX_DEFINITION_BYTES (64u << 20) /* every definition section, whole (a shipper's context) */
/* shlog_enc_file_full says 1 once a file has no more room left than this:
 * what a writer may still add before it begins the next file. */
#define SHLOG_FILE_ROOM_PROCS 1024u
#define SHLOG_FILE_ROOM_SITES 16384u
#define SHLOG_FILE_ROOM_NAMES 4096u
#define SHLOG_FILE_ROOM_BYTES (16u << 20)          /* of the sites, and of the definitions */
/* A record is in the files of its host before any record 1.2 s newer than it
 * (FORMAT.md, Order): what a reader that merges rings in time order waits for. */
#define SHLOG_ORDER_WINDOW_NS 1200000000ull
#define SHLOG_FILE_SUFFIX ".shlog"
#define SHLOG_PART_SUFFIX ".part"

enum shlog_section {
    SHLOG_SEC_PROCESS = 1,
    SHLOG_SEC_SITE = 2,
    SHLOG_SEC_BATCH = 3,
    SHLOG_SEC_LOSS = 4,
    SHLOG_SEC_EXIT = 5,
    SHLOG_SEC_CLOCK = 6,
    SHLOG_SEC_CATEGORY = 7,
    SHLOG_SEC_BACKTRACE = 8,
    SHLOG_SEC_THREAD = 9,
};

/* What a CLOCK section says besides its anchors (FORMAT.md, section 6). */
#define SHLOG_CLOCK_MAX_ANCHORS 64u
enum shlog_tristate { SHLOG_UNKNOWN = 0, SHLOG_YES = 1, SHLOG_NO = 2 };
struct shlog_clock_info {
    uint64_t hz_q16;             /* the writer's rate: TSC ticks per second of CLOCK_REALTIME << 16 */
    enum shlog_tristate tsc_invariant;
    enum shlog_tristate synchronized; /* the kernel's clock */
    uint64_t esterror_ns;        /* the kernel's estimated error of CLOCK_REALTIME */
    char clocksource[32];        /* NUL-terminated; "" if unknown */
};

/* The decoded file header. */
struct shlog_file_header {
    uint32_t version;
    uint64_t file_seq;
    uint64_t created_ns;
    uint32_t collector_pid;
    uint32_t flags;
    char host[SHMLOG_HOST_BYTES + 1];
    char refused[160];   /* shlog_file_header_decode's reason for a version it does not read */
};

/* Writes the 128-byte header. */
void shlog_file_header_encode(uint8_t out[SHLOG_FILE_HEADER_BYTES], const struct shlog_file_header *h);
/* NULL if valid, else why not (a constant, or out->refused). A file of
 * another format version is refused: one message says which and why. */
const char *shlog_file_header_decode(const uint8_t *in, size_t n, struct shlog_file_header *out);

/* The writer of a .part file holds an open-file-description write lock on
 * its first byte while the file is open (FORMAT.md, "File names and life
 * cycle"): the kernel drops it with the writer, so no process can pass for
 * one that is gone. shlog_part_lock takes it on fd (opened for writing): 0 or
 * -errno. shlog_part_in_use: 1 while a process holds it on the file at path. */
int shlog_part_lock(int fd);
int shlog_part_in_use(const char *path);

/* ==== Encoder ==== */

struct shlog_enc;

/* One encoder per output file: it remembers which processes and sites the file
 * has. zstd_level may be negative (faster). 0 or -errno. */
int shlog_enc_new(struct shlog_enc **out, int zstd_level);
/* The zstd level of the frames from the next one on. 0 or -EINVAL. */
int shlog_enc_set_level(struct shlog_enc *e, int zstd_level);
void shlog_enc_free(struct shlog_enc *e);

/* 1 if the process / site was already emitted into this file. */
int shlog_enc_has_process(const struct shlog_enc *e, uint32_t proc);
int shlog_enc_has_site(const struct shlog_enc *e, uint32_t proc, uint32_t site);
/* 1 once the file's definitions have no more room left before a bound of
 * SHLOG_FILE_MAX_* than SHLOG_FILE_ROOM_* says: begin a new file before
 * defining more. */
int shlog_enc_file_full(const struct shlog_enc *e);
/* What site s counts against SHLOG_FILE_MAX_SITE_BYTES: SHLOG_FILE_SITE_HEAD_BYTES
 * (twice for more than 16 arguments) and its strings as a file holds them. */
uint64_t shlog_site_file_bytes(const struct shm_site *s);
/* Section appends to the open frame. Not while a batch is open, except
 * shlog_enc_site, which may come between records (it lands before the batch).
 * A definition (process, site, category, thread) past a bound of
 * SHLOG_FILE_MAX_* is refused with -ENOSPC, the file unchanged. */
int shlog_enc_process(struct shlog_enc *e, uint32_t proc, const struct shm_proc_info *p);
int shlog_enc_site(struct shlog_enc *e, uint32_t proc, const struct shm_site *s);
/* Names a category of proc that is not a built-in one (FORMAT.md, section 7). */
int shlog_enc_category(struct shlog_enc *e, uint32_t proc, uint32_t id, const char *name);
/* Thread tid of proc is name (as shmlog_thread_name_clean leaves it) from here
 * on: -EINVAL for tid 0 or a name that is not so. */
int shlog_enc_thread(struct shlog_enc *e, uint32_t proc, uint32_t tid, const char *name);
/* The cpu of a loss that is the whole process's (NO_RING, UNREGISTERED). */
#define SHLOG_CPU_NONE UINT32_MAX
int shlog_enc_loss(struct shlog_enc *e, uint32_t proc, uint32_t cpu, const struct shm_loss *l,
                   uint64_t counter_total);
/* How a process ended, as its EXIT says (FORMAT.md, section 5). */
enum shlog_exit_how {
    SHLOG_EXIT_UNSAID = 0,   /* a file from before the field */
    SHLOG_EXIT_SHUTDOWN = 1, /* it called shmlog_shutdown() */
    SHLOG_EXIT_DIED = 2,     /* it was gone without having called it: a crash, a kill, an exit() that skipped it */
};
int shlog_enc_exit(struct shlog_enc *e, uint32_t proc, uint64_t exit_ns, uint64_t records, uint64_t lost,
                   enum shlog_exit_how how);

/* Anchors of the host's clock (at most SHLOG_CLOCK_MAX_ANCHORS, in the
 * order taken) and its state. Readers take a frame's anchors before its
 * records, wherever in the frame the section is. */
int shlog_enc_clock(struct shlog_enc *e, const struct shlog_clock_info *ci, const struct shm_clock_anchor *a,
                    size_t n);

/* Records of one ring, in ring order. A batch holds at most
 * SHLOG_MAX_BATCH_RECORDS: shlog_enc_record returns -ENOSPC when full (end the
 * batch and begin another). */
int shlog_enc_batch_begin(struct shlog_enc *e, uint32_t proc, uint32_t cpu);
int shlog_enc_record(struct shlog_enc *e, const struct shm_copied_record *r);
/* The same for the records in n slots copied from ring positions pos,
 * pos + 1, ... by shm_ring_take (a record of k slots takes k of them),
 * encoded as shlog_enc_record would encode them one by one, with less work
 * per record. Returns the slots it took, whole records: fewer than n when the
 * batch is full (end it and begin another for the rest) or at slot counts
 * that do not tile the n slots, or -errno (-EINVAL: that at the first). */
long shlog_enc_slots(struct shlog_enc *e, const struct shmlog_record *slots, size_t n, uint64_t pos);
/* A record whose payload does not hold its call site's arguments
 * (shmlog_args.h) is not encoded: shlog_enc_record and shlog_enc_slots take
 * it (the slots after it are left for the next call) and keep it as a loss,
 * SHM_LOSS_UNENCODABLE, which the caller writes with shlog_enc_loss once the
 * batch has ended. 1 with the loss and why (static text), clearing it, or 0
 * when the last call took no such record. */
int shlog_enc_take_loss(struct shlog_enc *e, struct shm_loss *l, const char **why);
int shlog_enc_batch_end(struct shlog_enc *e);
/* Before a batch's first record: the positions from `from` up to that
 * record's were passed over on purpose (records kept for a backtrace), so
 * readers take them as accounted for (FORMAT.md, BATCH). -EINVAL otherwise. */
int shlog_enc_batch_from(struct shlog_enc *e, uint64_t from);
/* A batch of records of ring cpu kept for a backtrace (FORMAT.md, section 8),
 * which readers show at order_tsc, the trigger's time: then records, as in
 * a batch, and shlog_enc_batch_end. cpu below SHLOG_CPU_BACKTRACE - 1. */
#define SHLOG_CPU_BACKTRACE 0x80000000u
int shlog_enc_backtrace_begin(struct shlog_enc *e, uint32_t proc, uint32_t cpu, uint64_t order_tsc);

/* What the open frame holds so far. */
size_t shlog_enc_raw_bytes(const struct shlog_enc *e);
uint64_t shlog_enc_frame_records(const struct shlog_enc *e);
/* Bytes shlog_enc_frame may write. */
size_t shlog_enc_frame_bound(const struct shlog_enc *e);
/* Compresses the open frame (prefix + zstd frame) into dst and starts a new
 * frame. Returns the bytes written, or -errno (the frame is then discarded). */
long shlog_enc_frame(struct shlog_enc *e, void *dst, size_t cap);

/* The file's index (FORMAT.md, "Index"): the encoder sums up each frame it
 * seals (its offset and size, records, time range, levels, categories, pids,
 * the range of each call's subject field (name=%d, the first integer), and a
 * Bloom filter of its apps, call sites, string fields and words) and puts an
 * index frame of the entries since the last one right after the
 * SHLOG_INDEX_EVERY-th frame since it when those frames hold
 * SHLOG_INDEX_GROUP_BYTES, else after the SHLOG_INDEX_EVERY_MOST-th, in
 * shlog_enc_frame's own bytes. The frames it returns are taken to follow
 * the file header back to back, as written. */
#define SHLOG_INDEX_VERSION 9u /* its readers read 1 to 8 too */
#define SHLOG_INDEX_EVERY 16u
/* A slow host's small frames share an index frame by up to 128 (version
 * 8's writer: 64), whose summaries compress better together (FORMAT.md,
 * "Slow hosts' groups"). */
#define SHLOG_INDEX_EVERY_MOST 128u
#define SHLOG_INDEX_GROUP_BYTES 65536u
/* The index of a file another writer made, appended to it (shmlog-dump
 * index): the open frame, whose sections the caller made of the decoded
 * events of the file's frame of n bytes at offset off (prefix: its first 16),
 * is summed up as that frame's entry; where shlog_enc_frame writes one, an
 * index frame of them goes into dst, to be written at offset at, the file's
 * end as the caller appends to it; shlog_enc_footer's footer then goes to the
 * end too. The bytes in dst (0 or an index frame), or -errno (-ENOSPC: cap
 * below shlog_enc_footer_bound + n / 25 + SHLOG_INDEX_ENTRY_BOUND). */
#define SHLOG_INDEX_ENTRY_BOUND 16384u
long shlog_enc_frame_at(struct shlog_enc *e, const void *prefix, size_t n, uint64_t off, uint64_t at, void *dst,
                        size_t cap);
/* The open frame holds a section the caller did not give the encoder (a
 * loss, an exit, a name, a site it could not take): its entry must not say
 * the frame is plain (FORMAT.md, "Skipping"). */
void shlog_enc_frame_mixed(struct shlog_enc *e);
/* The footer: an index frame of the frames since the last one, whose last 32
 * bytes (the trailer) say where the index frames are, written as the file's
 * last bytes when it is closed. After the last frame, with no section open;
 * nothing is written after it. Its bytes, or -EBUSY, -ENOSPC (cap below
 * shlog_enc_footer_bound). */
size_t shlog_enc_footer_bound(const struct shlog_enc *e);
long shlog_enc_footer(struct shlog_enc *e, void *dst, size_t cap);

/* ==== Decoder ==== */

/* A process as a file defines it. */
struct shlog_proc {
    uint32_t key;                /* file-local key */
    struct shm_proc_info info; /* app, host, pid, uid, proc_start, created_ns, tsc calibration */
};

/* A call site as a file defines it. fmt, file, func and desc point into the
 * reader and stay valid until it is closed; they are NUL-terminated. */
struct shlog_site {
    uint32_t proc;
    uint32_t id;
    uint32_t line;
    uint8_t level;
    uint8_t category;
    uint8_t nargs;
    uint8_t arg_types[SHMLOG_MAX_ARGS];
    uint32_t fmt_len;
    uint32_t file_len;
    const char *fmt;
    const char *file;
    uint32_t func_len;   /* 0: the file does not say */
    uint32_t desc_len;   /* 0: none */
    const char *func;    /* the call site's function */
    const char *desc;    /* the arguments' descriptor */
};

enum shlog_event_kind {
    SHLOG_EV_PROCESS = 1, /* proc defined */
    SHLOG_EV_SITE = 2,    /* site defined */
    SHLOG_EV_RECORD = 3,  /* rec, with proc, cpu and site (NULL if the file lacks it) */
    SHLOG_EV_LOSS = 4,    /* loss: records/positions that will never appear */
    SHLOG_EV_EXIT = 5,    /* proc exited */
    SHLOG_EV_ERROR = 6,   /* damage: error says what, offset says where; reading goes on */
    SHLOG_EV_FRAME_END = 7, /* the frame at offset has no event left: only when asked for
                               (shlog_reader_report_frame_ends) */
    SHLOG_EV_CLOCK = 8,     /* anchor and clock: one anchor of the host's clock. A frame's
                               anchors come before its other events. */
    SHLOG_EV_CATEGORY = 9,  /* category_id of proc is named category_name */
    SHLOG_EV_THREAD = 10,   /* thread thread_tid of proc is named thread_name from here on */
    SHLOG_EV_BLOCK = 11,    /* block: the next records of a batch, with proc, cpu, backtrace and
                               order_tsc; only when asked for (shlog_reader_blocks), instead of RECORD */
    SHLOG_EV_TIMES = 12,    /* tscs: the TSCs of a batch's records, with proc, cpu, backtrace,
                               order_tsc and covered_from (the batch's first position), in a frame
                               shlog_reader_want_frames declined, instead of its records */
};

/* Records of one batch, decoded together (shlog_reader_blocks): what RECORD
 * events would give one by one, in the same order, with the same records
 * dropped as duplicates, but each record's arguments as values
 * (SHM_REC_VALUES, shm/reader.h), unless it was stored raw (a site the file
 * does not define: then its payload is as a ring holds it). Valid until the
 * next call. */
#define SHLOG_BLOCK_ROWS 256u
#define SHLOG_BLOCK_BYTES (48u << 10) /* of rows: each its head and payload, 8-aligned */
/* The most a row's decoding writes: its head, values, strings, and a table's
 * string copied as a whole slot (which the next row writes over). */
#define SHLOG_BLOCK_ROW_MAX                                                                                         \
    (offsetof(struct shm_copied_record, payload) + SHMLOG_MAX_PAYLOAD + SHM_REC_VALUES_EXTRA + 64u)
struct shlog_block {
    uint32_t n;                                       /* rows */
    const struct shlog_site *site[SHLOG_BLOCK_ROWS];  /* NULL if the file lacks it */
    const struct shm_copied_record *rec[SHLOG_BLOCK_ROWS]; /* the rows, in mem */
    uint16_t bytes[SHLOG_BLOCK_ROWS];                 /* of each row: its head and what its payload holds */
    _Alignas(8) uint8_t mem[SHLOG_BLOCK_BYTES];
};

struct shlog_event {
    int kind;
    uint64_t offset;               /* file offset of the frame it came from */
    const struct shlog_proc *proc; /* all but ERROR */
    uint32_t cpu;                  /* RECORD, LOSS */
    const struct shlog_site *site; /* SITE, RECORD */
    /* SITE, RECORD: the same site as reader.h and the renderer (render/include/render.h)
     * take it, or NULL; valid until the next call. */
    const struct shm_site *site_info;
    const struct shm_copied_record *rec;  /* RECORD: valid until the next call */
    const struct shlog_block *block;      /* BLOCK: valid until the next call */
    const uint64_t *tscs;                 /* TIMES: ntscs of them, in ring order; valid until the next call */
    uint32_t ntscs;
    struct shm_loss loss;       /* LOSS (DROPPED: records already deduplicated; UNDECODABLE: records of
                                   a batch the reader could not decode, after the ERROR that says why) */
    uint64_t counter_total;        /* LOSS, DROPPED: the ring's counter */
    uint64_t exit_ns;              /* EXIT */
    uint64_t exit_records;         /* EXIT */
    uint64_t exit_lost;            /* EXIT */
    enum shlog_exit_how exit_how;  /* EXIT */
    struct shm_clock_anchor anchor; /* CLOCK */
    struct shlog_clock_info clock;  /* CLOCK: the state written with it */
    uint32_t category_id;           /* CATEGORY: SHMLOG_CAT_USER .. SHMLOG_MAX_CATEGORIES - 1 */
    char category_name[SHMLOG_CATEGORY_NAME_BYTES]; /* CATEGORY: [a-z0-9_], NUL-terminated */
    uint32_t thread_tid;            /* THREAD: not 0 */
    char thread_name[SHMLOG_THREAD_NAME_BYTES + 1]; /* THREAD: UTF-8 without control characters,
                                                       what was not shown as '?' (FORMAT.md) */
    /* RECORD: the position from which its batch accounts for the ring's
     * positions (the batch's first_pos, else the end of the record before);
     * TIMES: the batch's first_pos. */
    uint64_t covered_from;
    int backtrace;                 /* RECORD, LOSS: of a BACKTRACE section (kept records written late) ... */
    uint64_t order_tsc;            /* ... to be shown at this TSC: the trigger's */
    int torn;                      /* ERROR: the file ends inside a frame */
    char error[256];               /* ERROR */
};

/* Counters over everything a reader returned. */
struct shlog_reader_stats {
    uint64_t frames;             /* decoded */
    uint64_t bad_frames;         /* not decodable (checksum, corrupt, bad section) */
    uint64_t torn;               /* 1 if the file ends inside a frame */
    uint64_t raw_bytes;          /* decompressed bytes of good frames */
    uint64_t compressed_bytes;   /* bytes of good frames on disk, prefixes included */
    uint64_t records;            /* returned */
    uint64_t duplicates;         /* dropped by the dedup state */
    uint64_t lost_records[SHM_LOSS_REASON_MAX + 1]; /* by enum shm_loss_reason */
    uint64_t processes, sites, exits;
    uint64_t anchors;            /* clock anchors returned */
    uint64_t bad_records;        /* records not decodable in a frame otherwise read (each also a loss) */
};

/* Which (pid, proc_start, cpu) positions were already returned, over several
 * files read in sequence order. */
struct shlog_dedup;
int shlog_dedup_new(struct shlog_dedup **out);
void shlog_dedup_free(struct shlog_dedup *d);

struct shlog_reader;

/* Opens path. follow: at the end of the data wait for more (return 0 and
 * retry later) instead of reporting a torn frame. dedup: the state shared by
 * the readers of several files of one host (read them in sequence order); NULL
 * gives the reader a private one. Not owned. 0, or -errno with err set. */
int shlog_reader_open(struct shlog_reader **out, const char *path, int follow, struct shlog_dedup *dedup,
                      char *err, size_t errcap);
/* The same over a file descriptor the caller keeps open (name is for messages). */
int shlog_reader_open_fd(struct shlog_reader **out, int fd, const char *name, int follow,
                         struct shlog_dedup *dedup, char *err, size_t errcap);
void shlog_reader_close(struct shlog_reader *r);
const struct shlog_file_header *shlog_reader_header(const struct shlog_reader *r);
/* 1 with *ev filled, 0 at the end of the data (in follow mode: for now), or
 * -errno on an I/O error (-ENOMEM: a reader of blocks could not make one). */
int shlog_reader_next(struct shlog_reader *r, struct shlog_event *ev);
const struct shlog_reader_stats *shlog_reader_stats(const struct shlog_reader *r);
/* A process / site the file defined so far, or NULL. */
const struct shlog_proc *shlog_reader_process(const struct shlog_reader *r, uint32_t key);
const struct shlog_site *shlog_reader_site(const struct shlog_reader *r, uint32_t proc, uint32_t id);
/* Offset up to which the file was consumed (whole frames). */
uint64_t shlog_reader_offset(const struct shlog_reader *r);
/* on: shlog_reader_next returns an SHLOG_EV_FRAME_END event once the events
 * of each frame are out, so a caller can stop between frames. Off at open. */
void shlog_reader_report_frame_ends(struct shlog_reader *r, int on);
/* on: BATCH and BACKTRACE sections are skipped unread (no RECORD events),
 * for a caller that wants what a file defines (processes, sites) and not its
 * records. In a file whose header says SHLOG_FILE_SITES_FIRST, each frame is
 * then decompressed no further than its first definitions: their PROCESS and
 * SITE events are all that come of it. Off at open. */
void shlog_reader_skip_records(struct shlog_reader *r, int on);
/* The file is read no further than its first bytes (its size when the caller
 * listed it): readers that split a file still being written between them
 * then all end at the same frame, whose tail past bytes reads as torn.
 * UINT64_MAX (as at open): to its end. */
void shlog_reader_end_at(struct shlog_reader *r, uint64_t bytes);
/* want (NULL: none) is asked of each frame before it is decoded, with the
 * offset and bytes of its prefix and zstd frame and its prefix's check
 * (bytes 12..15); a frame it returns 0 for
 * is still decompressed and checked, and gives every event but its records:
 * each BATCH and BACKTRACE section gives one SHLOG_EV_TIMES event, its
 * records' TSCs, which is what a reader that skips records by an index
 * (shlog_index_may_match) needs to keep its clock and its streams' times as
 * if it had read them. Records so skipped are not checked against the dedup
 * state nor counted in the reader's stats. A frame it returns
 * SHLOG_FRAME_TAKEN for (a plain frame whose rings' times the caller took
 * from the index: shlog_index_ring_next) is not read past its prefix: it is
 * counted in the stats as read, and gives its SHLOG_EV_FRAME_END only. */
#define SHLOG_FRAME_TAKEN 2
/* take (NULL: none) is asked of each frame before its prefix is read, with
 * its offset: it returns the frame's bytes (prefix and zstd frame) to take
 * it as want's SHLOG_FRAME_TAKEN takes one, not reading even its prefix
 * (counted in the stats as read, but for its raw bytes), or 0 to read it. */
void shlog_reader_take_frames(struct shlog_reader *r, uint64_t (*take)(void *clientd, uint64_t offset),
                              void *clientd);
/* From within want, for the frame it takes: the sections read in place of
 * the frame's (its CLOCK sections as the index holds them: their anchors
 * come as SHLOG_EV_CLOCK events before the frame's end). The bytes stay the
 * caller's and must last to the frame's end. */
void shlog_reader_frame_sections(struct shlog_reader *r, const uint8_t *p, size_t n);
void shlog_reader_want_frames(struct shlog_reader *r,
                              int (*want)(void *clientd, uint64_t offset, uint64_t bytes, uint32_t prefix_check),
                              void *clientd);
/* From within want: the bytes the frame's prefix says it expands to (at most
 * SHLOG_MAX_FRAME_RAW), which decoding it will hold. */
uint32_t shlog_reader_offered_raw(const struct shlog_reader *r);
/* on: a batch's records come as SHLOG_EV_BLOCK events of up to
 * SHLOG_BLOCK_ROWS records each, not as a RECORD event each (a reader that
 * takes many records at once pays the return of an event per block, not per
 * record); damage and losses come between blocks where they were found. The
 * records' covered_from and site_info are not given. Off at open. */
void shlog_reader_blocks(struct shlog_reader *r, int on);

/* Memory to decode frames in (the compressed and the decompressed frame, the
 * zstd context) that readers taking turns share: the readers of a merge of
 * many files then hold one decoded frame between them, up to
 * SHLOG_MAX_FRAME_RAW, not one each, and decode into memory already touched.
 * A reader uses it from a frame's load to the frame's end; one that finds
 * another reader mid-frame in it decodes into its own memory. Free it after
 * closing its readers. */
struct shlog_frame_mem;
int shlog_frame_mem_new(struct shlog_frame_mem **out);
void shlog_frame_mem_free(struct shlog_frame_mem *m);
/* Before the first frame: r decodes in m. 0, or -EBUSY. */
int shlog_reader_share_frame_mem(struct shlog_reader *r, struct shlog_frame_mem *m);
/* Between frames (after SHLOG_EV_FRAME_END or an ERROR, before the next
 * call), when the reader holds more than keep bytes of its own for frames:
 * frees them (its own frame memory, the sites' cached forms, a declined
 * frame's TSCs); the next frame makes them again. For a reader that waits while others are read. The
 * last event's rec and site_info are then invalid. Returns the bytes it still
 * holds. */
size_t shlog_reader_trim(struct shlog_reader *r, size_t keep);

/* ==== The index: which frames may hold what a reader looks for ==== */

/* A frame as the index lists it. A frame the index does not sum up
 * (indexed 0: a file from before the index, a damaged or missing index
 * frame) may hold anything. Only records are summed up: a frame of no
 * records may still define processes and sites, and hold losses, exits and
 * clock anchors, which a reader that skips it may need. */
#define SHLOG_INDEX_MANY_PIDS 33u /* npids: more processes than an entry lists */
struct shlog_index_frame {
    uint64_t offset, bytes;  /* its prefix and zstd frame */
    int indexed;
    uint64_t records;
    uint64_t tsc_min, tsc_max; /* of its records, exact */
    int timed;               /* ns_min, ns_max say where its records' wall times lie, */
    uint64_t ns_min, ns_max; /* within SHLOG_INDEX_TIME_SLACK_NS */
    uint8_t levels;          /* bit l: a record of level l (7: past 6) */
    uint64_t categories;     /* bit c: a record of category c */
    uint32_t npids;          /* the pids of its records' processes, or SHLOG_INDEX_MANY_PIDS */
    const uint32_t *pids;
    uint32_t nranges;        /* its subject fields' ranges, as the index frame holds them */
    const uint8_t *ranges;
    uint32_t bloom_blocks;   /* its filter (32 bytes a block); */
    const uint8_t *bloom;    /* NULL until read (index version 3: shlog_index_filters) */
    size_t filters;          /* the reader's: its index frame's filters, and where its own lie in them */
    uint64_t filter_at;
    uint32_t prefix_check;   /* its prefix's check (bytes 12..15) */
    int tids;                /* index version 3: its filter holds every record's thread id */
    /* Not 0 (index version 2): the frame holds BATCH and CLOCK sections
     * only (no definitions, losses, exits, names nor backtraces), its
     * records of these rings (shlog_index_ring_next), its CLOCK sections
     * these bytes: a reader that skips its records needs nothing else of it
     * (shlog_reader_frame_sections). */
    uint32_t nrings;
    const uint8_t *rings;
    int rings_from_max; /* index version 7: its rings' TSCs coded down from tsc_max */
    uint32_t clock_bytes;
    const uint8_t *clock;
    /* Not 0 (index version 5): the last trace each thread's trace records in
     * the frame set (shlog_index_trace_next), ntraces of them, and its filter
     * holds every trace id they set. 0: the frame may hold trace records the
     * entry does not restate. */
    int traces;
    uint32_t ntraces;
    const uint8_t *trace_list;
    /* Not 0 (index version 6): every word a record of the frame shows whole
     * in its message, but one a number's conversion shows, is a word of its
     * filter (FORMAT.md, "Message words"). */
    int words;
};
/* A thread's trace as the last trace record of it in a frame set it: its
 * process (the file's key), thread, id (0, 0: cleared) and span's bytes as
 * the record holds them (at most SHMLOG_TRACE_SPAN_BYTES). */
struct shlog_index_trace {
    uint32_t proc, tid;
    uint64_t hi, lo;
    uint32_t span_len;
    uint8_t span[SHMLOG_TRACE_SPAN_BYTES];
};
/* The next of f's traces, *p at f->trace_list first. */
void shlog_index_trace_next(const struct shlog_index_frame *f, const uint8_t **p, struct shlog_index_trace *t);
/* A ring of a plain frame's records: its process (the file's key) and cpu,
 * the TSC of its last record in the frame and the most of them. */
struct shlog_index_ring {
    uint32_t proc, cpu;
    uint64_t last_tsc, max_tsc;
};
/* The next of f's rings, *p at f->rings first (each ring once, in the order
 * of its first batch in the frame). */
void shlog_index_ring_next(const struct shlog_index_frame *f, const uint8_t **p, struct shlog_index_ring *r);
/* How far a frame's records' wall times may lie outside what its entry says
 * (the writer maps them with its anchors, a reader between them). */
#define SHLOG_INDEX_TIME_SLACK_NS 10000000ull

/* A question to the index: a frame may match when every part given may. */
struct shlog_index_field {
    const char *name;  /* as readers name a field: the name before '=' in name=%d */
    const char *value; /* as text: a number (integer or decimal, true, false) or a string */
};
struct shlog_index_query {
    uint64_t since_ns, until_ns;       /* the records' wall times; 0 and 0: any */
    uint8_t levels;                    /* any of these levels (bit l); 0: any */
    uint64_t categories;               /* any of these categories; 0: any */
    const uint32_t *pids;              /* any of these pids */
    size_t npids;
    const char *app;                   /* NULL: any */
    const char *site;                  /* a call site as "file:line"; NULL: any */
    const char *const *words;          /* every word of each (runs of [A-Za-z0-9_] and bytes from 0x80) */
    size_t nwords;
    const char *const *msg_words;      /* words a matching message shows whole (shlog_index_msg_word), */
    size_t nmsg_words;                 /* asked of frames whose filter holds every such word */
    const char *const *msg_grams;      /* runs of word bytes a matching message shows, each within a word */
    size_t nmsg_grams;                 /* (shlog_index_msg_gram), asked of index frames' gram filters */
    const struct shlog_index_field *fields; /* each of these name=value */
    size_t nfields;
    const uint32_t *tids;              /* not NULL: any of these thread ids (ntids 0: none), asked of */
    size_t ntids;                      /* the frames whose filter holds their tids */
    int trace;                         /* 1: records of trace trace_hi, trace_lo: a trace record of the */
    uint64_t trace_hi, trace_lo;       /* frame sets it, or a record of one of these threads, which */
    const uint32_t *trace_tids;        /* worked for it when the frame began (asked of frames whose */
    size_t trace_ntids;                /* entry lists their traces) */
};

struct shlog_index;
/* The index of the file open at fd, whose bytes are untrusted: from its
 * footer when it has a sound one (one read from its end, then one per index
 * frame), else by walking the frames' prefixes from the header on (a .part
 * being written, a file from before the index, a footer that fails a check)
 * and taking each index frame whose entries match the frames before it. What
 * it holds is bounded (SHLOG_INDEX_MAX_BYTES, SHLOG_INDEX_MAX_FRAMES).
 * 0; -errno on an I/O error or no memory, or -EINVAL when the file header is
 * not one, with err set. */
#define SHLOG_INDEX_MAX_BYTES (256ull << 20)
#define SHLOG_INDEX_MAX_FRAMES (1u << 20)
int shlog_index_open(struct shlog_index **out, int fd, char *err, size_t errcap);
void shlog_index_close(struct shlog_index *ix);
/* Why the footer was not used or part of the file is not indexed, or NULL
 * when every frame is indexed. */
const char *shlog_index_note(const struct shlog_index *ix);
/* 1 when the index came from the footer. */
int shlog_index_from_footer(const struct shlog_index *ix);
/* The frames listed, in file order; the frames from shlog_index_end on are
 * not listed: read them one by one. */
size_t shlog_index_count(const struct shlog_index *ix);
const struct shlog_index_frame *shlog_index_frame(const struct shlog_index *ix, size_t i);
uint64_t shlog_index_end(const struct shlog_index *ix);
/* The bytes of the index frame the index was read from at offset (its
 * prefix and skippable frame), 0 when it took none there. */
uint64_t shlog_index_block_at(const struct shlog_index *ix, uint64_t offset);
/* A field's value as text read as the index compares it with a field's
 * range: a decimal integer, signed and unsigned as it fits, or true and
 * false as 1 and 0. A filter that takes exact values reads them with this,
 * so that what it takes is never in a frame the index rules out. */
struct shlog_index_integer {
    int as_signed, as_unsigned; /* the text reads as that kind: i, u */
    int64_t i;
    uint64_t u;
};
struct shlog_index_integer shlog_index_integer_of(const char *text);
/* 1 when byte c is one of a word's as the index takes words: [A-Za-z0-9_]
 * and every byte from 0x80. */
static inline int shlog_index_word_byte(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c >= 0x80;
}
/* 1 when the n bytes at w are a word that a frame of index version 6 can
 * be asked for as a word its messages show whole (shlog_index_query's
 * msg_words): a run of [A-Za-z0-9_] and bytes from 0x80 of two bytes or
 * more that no number's conversion shows (digits, hex digits, x, p, inf,
 * nan, nil). */
int shlog_index_msg_word(const char *w, size_t n);
/* 1 when the n bytes at w, a run of word bytes a message shows within one
 * of its words (not always whole), can be asked of an index frame of
 * version 8 by its runs of three bytes (shlog_index_query's msg_grams):
 * three bytes or more that no number's conversion shows. */
int shlog_index_msg_gram(const char *w, size_t n);
/* 0 when frame f holds no record that q matches; 1 when it may (a filter
 * not read yet may hold any key). */
int shlog_index_may_match(const struct shlog_index_frame *f, const struct shlog_index_query *q);
/* Reads the filters of f's index frame (version 3 keeps them after the
 * summaries, and shlog_index_open reads the summaries only), so that
 * f->bloom is set: 0, 1 when they cannot be read or fail their check (f may
 * hold any key), -ENOMEM. */
int shlog_index_filters(struct shlog_index *ix, const struct shlog_index_frame *f);
/* shlog_index_may_match, reading f's filters first when its summary alone
 * cannot rule it out and q asks them. */
int shlog_index_may_match_in(struct shlog_index *ix, const struct shlog_index_frame *f,
                             const struct shlog_index_query *q);

/* ==== Frames apart from their file (FORMAT.md, "Frames as messages") ==== */

/* pread(2) that retries short reads and EINTR: the bytes read, fewer only at
 * the end of the file, or -1 with errno. */
ssize_t shlog_pread_full(int fd, void *buf, size_t n, uint64_t off);

/* The bytes of the frame whose prefix starts at p (n bytes there): its 16-byte
 * prefix and its zstd frame, when the prefix is one a writer makes; 0 when it
 * is not (damage, zeros, too short). */
uint64_t shlog_frame_bytes(const void *p, size_t n);

/* 1 when the n bytes at a frame's start are an index frame's (FORMAT.md,
 * "Index": no raw bytes, a zstd skippable frame of the index's magic); it
 * takes SHLOG_FRAME_PREFIX_BYTES + 4 of them to tell. */
int shlog_frame_is_index(const void *head, size_t n);

/* A reader of frames that come apart from their file, as messages do: hdr is
 * the file's header. Frames are handed to it with shlog_reader_push and read
 * with shlog_reader_next as a file's would be; the definitions and the dedup
 * state carry over from one push to the next. 0, or -errno with err set. */
int shlog_reader_open_frames(struct shlog_reader **out, const struct shlog_file_header *hdr, const char *name,
                             struct shlog_dedup *dedup, char *err, size_t errcap);
/* Hands r the next bytes of the file, whole frames, the first of them at file
 * offset off (copied). They are read as if the file ended after them: a frame
 * that runs past their end is torn. 0; -EBUSY while bytes of the last push are
 * unread (shlog_reader_next has not returned 0 since); -EINVAL for a reader of
 * a file; -ENOMEM. */
int shlog_reader_push(struct shlog_reader *r, const void *bytes, size_t n, uint64_t off);

/* The context of a file's frames: the definitions (PROCESS, SITE, CATEGORY
 * sections) and the last clock anchors that the file gave before a frame, of
 * which a frame read on its own needs the ones its sections use (the processes
 * and sites first: FORMAT.md, "Frames as messages"). One per file being shipped. */
struct shlog_context;
int shlog_context_new(struct shlog_context **out);
void shlog_context_free(struct shlog_context *c);
/* A new file: the next frame is its first. */
void shlog_context_reset(struct shlog_context *c);
/* What shlog_context_next says of a frame. */
struct shlog_context_out {
    const void *ctx;    /* the frames to read before it when starting at it, or NULL: one of the */
    size_t ctx_n;       /* definitions it uses (processes and sites, then names), one of the anchors its records map with */
    uint64_t records;   /* records its BATCH and BACKTRACE sections hold */
    uint64_t sealed_ns; /* its last anchor's wall time: when it was sealed; 0 without anchors */
};
/* The next frame of the file (n bytes: prefix and zstd frame): out (may be
 * NULL: learn only) says what a reader needs before it, valid until the next
 * call; then the frame's own definitions are learned. 0; -EINVAL when the
 * frame does not decode (out is empty, and nothing is learned from it); -E2BIG
 * when the file defines more than the bounds a reader keeps (the definitions
 * past them are not learned; out is still filled); -ENOMEM. */
int shlog_context_next(struct shlog_context *c, const void *frame, size_t n, struct shlog_context_out *out);

/* A frame as a Kafka message (or any message queue's): the value is the
 * frame's bytes as they are in the file, and these headers say where it
 * belongs. The message key is the host. */
#define SHLOG_MSG_FILE "shlog.file"       /* the file's 128-byte header */
#define SHLOG_MSG_OFFSET "shlog.offset"   /* u64, little-endian: the frame's offset in its file */
#define SHLOG_MSG_CONTEXT "shlog.context" /* shlog_context_next's frames, when it gives any and the message needs them */
/* A message that does not go on from the one its shipper sent before it (the
 * first of a file from a shipper's start, one after skipped bytes), or whose
 * timestamp is this many ms past the last one that carried a context of its
 * file, carries its context; the others of a file need none to be read on
 * from there. A reader that starts at a time reads its partitions from
 * SHLOG_MSG_CONTEXT_LOOKBACK_MS before it, so it meets a context first
 * (FORMAT.md, "Frames as messages"). */
#define SHLOG_MSG_CONTEXT_EVERY_MS 1000
/* The shipper's guess of a timestamp librdkafka gives (a frame without
 * anchors) may be behind it by the time a produce call takes: half a second
 * more covers any. */
#define SHLOG_MSG_CONTEXT_LOOKBACK_MS (SHLOG_MSG_CONTEXT_EVERY_MS + 500)
/* On the last frame of a file that was closed (renamed from .part): u64,
 * little-endian, the file's size. A shipper that learns of the closing after
 * it sent that frame sends it again with this header. */
#define SHLOG_MSG_SEALED "shlog.sealed"

/* ==== Around the files: names, the shipper's state, kafka:// ==== */

/* 0 with *seq (and *part: it ends in .part) for a name the collector gives,
 * "<host>-<YYYYmmdd>-<HHMMSS>-<seq>.shlog[.part]" with seq printed "%06" PRIu64;
 * -1 for any other spelling (never one of its files). */
int shlog_file_name_seq(const char *name, uint64_t *seq, int *part);
/* The name the collector gives the file of header h (its host, creation
 * second in UTC and sequence number), without .part, in out. */
void shlog_file_name(const struct shlog_file_header *h, char *out, size_t cap);

/* 1 if host is a name a file name may carry: 1 to 63 of [A-Za-z0-9._-], not
 * starting with '.' (what --host accepts, and what a mirror writes). */
int shlog_host_name_ok(const char *host);

/* How far shmlog-ship took a directory's files (its --state file): every file
 * numbered below file_seq, and offset bytes of file_seq (0: none of it). */
struct shlog_shipped {
    char host[SHMLOG_HOST_BYTES + 1];
    char topic[256];
    uint64_t file_seq;
    uint64_t offset;
    uint64_t updated_ns; /* CLOCK_REALTIME when written */
    uint64_t lag_bytes;  /* then: bytes of the directory's files not yet acknowledged */
    uint64_t lag_ns;     /* then: age of the oldest frame not yet acknowledged */
    uint32_t pid;        /* the shipper's */
    /* What the brokers acknowledged since the state began (its metrics'
     * counters, which a restart goes on from; 0 in a state from before them) */
    uint64_t messages, bytes, records, wire_bytes, ctx_messages, ctx_bytes;
};
/* Replaces path atomically (a temporary file, fsync, rename, fsync of the
 * directory). 0 or -errno. */
int shlog_shipped_write(const char *path, const struct shlog_shipped *s);
/* 0, -errno, or -EINVAL when path is not a state file. */
int shlog_shipped_read(const char *path, struct shlog_shipped *s);
/* Calls each with every collector file (a regular file named as
 * shlog_file_name_seq reads) numbered min_seq or more in the directory
 * dirfd, until one returns non-zero: that, or 0. */
int shlog_dir_files(int dirfd, uint64_t min_seq,
                    int (*each)(void *clientd, const char *name, uint64_t seq, int part, uint64_t bytes), void *clientd);
/* Bytes of the collector's files in the directory dirfd not yet shipped. */
uint64_t shlog_shipped_lag(int dirfd, const struct shlog_shipped *s);
/* 1 when s says more was shipped than the directory's files hold: its file is
 * numbered past the last one, or that file is shorter than its offset (the
 * directory wiped or replaced, or a state of other files). *last_seq and
 * *last_bytes: the last file's number and size. 0 also when it has no file. */
int shlog_shipped_ahead(int dirfd, const struct shlog_shipped *s, uint64_t *last_seq, uint64_t *last_bytes);
/* 1 if every byte of the file numbered file_seq was acknowledged. */
int shlog_shipped_has(const struct shlog_shipped *s, uint64_t file_seq);

/* kafka://HOST:PORT[,HOST:PORT...]/TOPIC: 0 with the bootstrap list and the
 * topic, -1 when url is not one. */
int shlog_kafka_url(const char *url, char *brokers, size_t bcap, char *topic, size_t tcap);
int shlog_is_kafka_url(const char *s);

/* The host map beside a topic (FORMAT.md, "Hosts' partitions"): messages keyed
 * by host whose value is the partition, in decimal, that a shipper put that
 * host's frames in from then on, or SHLOG_HOST_MAP_ANY (a partitioner it cannot
 * name). A reader of one host reads only the partitions its entries give. */
#define SHLOG_HOST_MAP_ANY "*"
/* The map's topic name for topic: 0, or -1 when it would be longer than
 * Kafka's 249 characters (that topic has no map). */
int shlog_host_map_topic(const char *topic, char *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* SHLOG_FILE_H */
