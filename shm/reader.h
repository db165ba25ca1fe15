/*
 * reader.h - the consumer side of the segment ABI: open, validate and read
 * segments written by other (possibly crashed, possibly hostile) processes.
 * Used by shmlog-collector and shmlog-dump.
 *
 * Threat model: the writer may be buggy, dead mid-record, or hostile (same uid
 * or an allowed one). Its header fields, site table and records can hold any
 * bytes and can change while we read. So: headers are copied then checked,
 * geometry is taken from the copy only, every record is copied to private
 * memory and checked there, and nothing read is used as an unchecked offset.
 * A writer that shrinks its file under our mapping can still raise SIGBUS,
 * which a reader guards against (shm_bus_guard).
 *
 * One file per job, each calling only the ones listed after it:
 *   reader_meta.c         metadata: process information, categories, sites
 *   reader_ring.c         the ring protocol: views, copying out, releasing
 *   reader_attribution.c  which records are whose; valid names
 *   reader_segment.c      opening and checking a segment; shm_fail
 *   reader_procs.c        processes (locks, liveness) and directories (names)
 *   reader_guard.c        the SIGBUS guard
 * A process's own TSC calibration (shm_tsc_clock) is clock.h's.
 */
#ifndef SHM_READER_H
#define SHM_READER_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "shmlog_abi.h"
#include "shmlog_args.h"
#include "shmlog_atomic.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A mapped segment. */
struct shm_seg {
    void *addr;          /* the mapping */
    size_t bytes;        /* its size == st_size at open */
    int writable;        /* mapped read-write (the collector) */
    uid_t owner;         /* the file's owner at open (== hdr.uid) */
    int fd;              /* meta segments: kept open to ask who holds its lock; else -1 */
    char path[4096];
    struct shmlog_seg_header hdr; /* validated copy taken at open */
};

/* Whose segments a reader takes. */
struct shm_accept {
    const uid_t *uids;   /* these owners ... */
    size_t n_uids;
    const gid_t *gids;   /* ... and every member of these groups (primary or supplementary) */
    size_t n_gids;
    int any_owner;       /* an inspector (shmlog-dump): whatever the kernel lets it open */
};
/* 1 if acc takes segments owned by uid. A NULL acc takes only our own uid. */
int shm_accepts(const struct shm_accept *acc, uid_t uid);

/* How shm_seg_open maps a segment. */
#define SHM_OPEN_READ 0  /* read-only */
#define SHM_OPEN_WRITE 1 /* read-write: a ring's tail, a meta's levels */
#define SHM_OPEN_CLAIM 2 /* a meta read-only, through a descriptor that can take its collector lock */

/* Opens and validates the segment at path, if acc takes its owner (else
 * -EACCES). mode: SHM_OPEN_*. Returns 0, or -errno with a reason in err (one
 * line). */
int shm_seg_open(struct shm_seg *seg, const char *path, int mode, const struct shm_accept *acc,
                    char *err, size_t errcap);
void shm_seg_close(struct shm_seg *seg);
/* Checks a header copy against the mapped size: NULL if valid, else why not. */
const char *shm_seg_check_header(const struct shmlog_seg_header *h, size_t mapped_bytes,
                                    unsigned kind);

/* ---- metadata ---- */

/* A validated copy of the process information in a meta segment. */
struct shm_proc_info {
    char app[SHMLOG_APP_BYTES];
    char host[SHMLOG_HOST_BYTES];
    uint32_t pid;
    uint32_t uid;
    uint64_t proc_start;
    uint8_t instance[16];    /* the segments' 128 random bits; zeros where a file does not say */
    uint64_t created_ns;
    uint64_t tsc_hz;
    uint64_t anchor_tsc;
    uint64_t anchor_ns;
    uint32_t level;
    uint32_t site_count;     /* clamped to site_capacity */
    uint32_t site_capacity;
    uint32_t flags;          /* SHMLOG_SEG_* */
    uint64_t unregistered;   /* records lost: their site did not fit the table */
    uint64_t no_ring;        /* records lost: their cpu had no ring */
    uint64_t before_init;    /* records lost: called before shmlog_init (version 4) */
    uint64_t out_of_range;   /* calls with a level or category out of range, written clamped */
    uint32_t category_count; /* categories with a name (SHMLOG_CAT_COUNT before version 4) */
    uint32_t backtrace_level;   /* SHMLOG_LEVEL_OFF: no backtrace */
    uint32_t backtrace_trigger;
    uint32_t backtrace_records;
    uint64_t backtrace_requests;
};

/* A process's categories: the names it defined (checked: [a-z0-9_], "" where
 * not) and the live level of each. */
struct shm_categories {
    uint32_t count;
    uint8_t live[SHMLOG_MAX_CATEGORIES];
    char names[SHMLOG_MAX_CATEGORIES][SHMLOG_CATEGORY_NAME_BYTES];
};

/* A validated copy of one call site. */
struct shm_site {
    uint32_t id;
    uint32_t line;
    uint8_t level;
    uint8_t category;
    uint8_t nargs;
    uint8_t arg_types[SHMLOG_MAX_ARGS];
    uint32_t fmt_len;
    uint32_t file_len;
    uint32_t func_len; /* 0: none (before ABI 5) */
    uint32_t desc_len; /* 0: none */
    char fmt[SHMLOG_MAX_FMT_BYTES + 1];   /* NUL-terminated */
    char file[SHMLOG_MAX_FILE_BYTES + 1]; /* NUL-terminated */
    char func[SHMLOG_MAX_FUNC_BYTES + 1]; /* NUL-terminated: the call site's function */
    char desc[SHMLOG_MAX_DESC_BYTES + 1]; /* NUL-terminated: the arguments' descriptor */
};

/* Who a process is, across the files of a host: its pid, uid, start time and
 * instance, as a key of two words (readers key processes on it: two
 * processes with one pid, in two pid namespaces, started in the same tick,
 * are told apart by their instance). */
static inline void shm_proc_key(const struct shm_proc_info *p, uint64_t *k1, uint64_t *k2)
{
    uint64_t a, b;
    memcpy(&a, p->instance, 8);
    memcpy(&b, p->instance + 8, 8);
    *k1 = (uint64_t)p->pid << 32 | p->uid;
    *k2 = p->proc_start ^ (a * 0x9E3779B97F4A7C15ull) ^ (b * 0xC2B2AE3D27D4EB4Full);
}

/* 0, or -EINVAL with a reason in err when the header fields are inconsistent
 * or the app or host name is not one shm_name_valid() takes. */
int shm_meta_info(const struct shm_seg *meta, struct shm_proc_info *out, char *err, size_t errcap);
/* The categories of a sound meta segment (shm_meta_info took it). */
void shm_meta_categories(const struct shm_seg *meta, struct shm_categories *out);
/* The name of category id: a built-in one's, the process's own (c may be
 * NULL: built-in only), or NULL when it has none. */
const char *shm_categories_name(const struct shm_categories *c, unsigned id);
/* The id of a category by its name as shm_category_spelled gives it; -1. */
int shm_category_find(const struct shm_categories *c, const char *name);
/* A category name as a person types it (any case; "md" as the macro
 * SHMLOG_MD spells market_data) into out, as records name it: 0, or -1 when
 * it cannot be a category's name. */
int shm_category_spelled(const char *typed, char out[SHMLOG_CATEGORY_NAME_BYTES]);
/* Stores the live level of one category, or of every one (category < 0), in
 * a meta segment mapped for writing, as shmlog_set_category_level would:
 * the old level of that category (of NONE for all), or -EINVAL when the
 * category is not defined there (a version 3 meta has one level only). */
int shm_meta_set_level(const struct shm_seg *meta, int category, unsigned level);
/* Asks the collector to write the records the process keeps as backtrace:
 * adds one to the meta's backtrace_requests (the segment opened writable).
 * The count of requests so far, or -EINVAL for a meta before version 4. */
int64_t shm_meta_request_backtrace(const struct shm_seg *meta);

/* ---- attribution: which records are whose (shmlog_abi.h, "Names ...") ----
 *
 * The one rule, for the collector and the dump alike. A meta segment speaks
 * for its process only if its name's app is the app inside it and, while a
 * process with its pid and start time runs, that process runs as the meta's
 * owner (or the owner is root, whose processes may drop privileges after
 * shmlog_init). A ring belongs to a meta only if both sit in the same directory and
 * have the same owner, pid, start time and instance. 0, or -EPERM with the
 * reason in err. */
int shm_meta_attribution(const struct shm_seg *meta, const struct shm_proc_info *info, char *err,
                            size_t errcap);
int shm_ring_belongs(const struct shm_seg *meta, const struct shm_seg *ring, char *err, size_t errcap);
/* 1 for a name producers write: 1..max-1 bytes of [A-Za-z0-9_.-], not
 * starting with '.'. Such a name is safe in a path, a label and a line. */
int shm_name_valid(const char *name, size_t max);
/* 0 and a copy of site id; -ENOENT when id is not published; -EINVAL when the
 * entry is corrupt (offsets out of bounds, bad types, too many arguments). */
int shm_meta_site(const struct shm_seg *meta, uint32_t id, struct shm_site *out);
/* Entry id of the site table when it names a thread (SHMLOG_SITE_THREAD,
 * version 5): 0, its tid and its name as shmlog_thread_name_clean writes it
 * ("?" for a name that is not in the arena or empty); 1 when the entry is a
 * call site; -ENOENT when id is not published; -EINVAL for a thread of tid 0. */
int shm_meta_thread(const struct shm_seg *meta, uint32_t id, uint32_t *tid, char name[SHMLOG_THREAD_NAME_BYTES + 1]);
/* ---- rings ---- */

/* A validated view of a ring segment. cap/mask/policy are copied at open. */
struct shm_ring_view {
    struct shmlog_ring *hdr; /* shared: only the counters are read from it */
    const uint8_t *slots;
    uint64_t cap;
    uint64_t mask;
    uint32_t policy;
    uint32_t cpu;
    int32_t numa_node;
    int publishes;           /* its producers store their progress (ABI 3): shm_ring_published */
    int rings_bell;          /* its producers ring their uid's bell (SHMLOG_RING_BELL): a hint */
    uint64_t bell_dev, bell_ino; /* which file that is, as its producer saw it */
};

int shm_ring_view_init(struct shm_ring_view *v, const struct shm_seg *ring, char *err, size_t errcap);

/* Says which collector (pid me) drains the ring, for people: whether one
 * does is shm_meta_drained's. */
void shm_ring_claim(const struct shm_ring_view *v, uint64_t me);
/* Clears that if me still stands there. */
void shm_ring_unclaim(const struct shm_ring_view *v, uint64_t me);

/* One record copied out of a ring. */
struct shm_copied_record {
    uint64_t pos;          /* ring position of its head slot */
    uint64_t tsc;
    uint32_t site;
    uint32_t tid;
    uint8_t level;
    uint8_t category;
    uint8_t flags;         /* SHMLOG_REC_* */
    uint8_t nslots;
    uint16_t payload_len;  /* payload bytes that follow (capacity of its slots) */
    uint8_t payload[SHMLOG_MAX_PAYLOAD];
    uint8_t payload_slack[8]; /* never data: a decoder may store a whole word at the payload's last byte */
};

/* A record flag of readers' own, never in a ring: the record's time lies
 * between anchors around a step of the wall clock (shm_clock_map_ns_certain),
 * so it may be off by the step. */
#define SHM_REC_TIME_UNCERTAIN 0x80u

/* A record flag of readers' own, never in a ring, and cleared where a file
 * sets it: its payload holds its arguments decoded into values, not a ring's
 * bytes (a file reader's records):
 *
 *   <u16 n> <u32 bytes> <u32 0> <u64 value> x n <strings' bytes>
 *
 * bytes: all of it, the head included; n: the values, one per
 * argument of its site, in order, each 8-aligned when the record is. An
 * integer is sign- or zero-extended from its width, a bool is 0 or 1, an F64
 * is its bits, an F32 its bits in the low 32 (as it is, a NaN's too), and a
 * string is its header word (length | SHMLOG_STR_TRUNCATED) in bits 0-15 and
 * where its bytes start, from the payload's first byte, in bits 16-31.
 * payload_len is still what the arguments take in a ring; the values take up
 * to SHM_REC_VALUES_EXTRA more. */
#define SHM_REC_VALUES 0x40u
#define SHM_VALUES_HEAD 10u
#define SHM_REC_VALUES_EXTRA (SHM_VALUES_HEAD + 7u * SHMLOG_MAX_ARGS) /* a word for a 1-byte argument */
SHMLOG__STATIC_ASSERT((offsetof(struct shm_copied_record, payload) + SHM_VALUES_HEAD) % 8 == 0,
                      "a record's values are 8-aligned where the record is");

/* Where the payload of rec starts, as bytes: values may run past the payload's
 * declared size (SHM_REC_VALUES_EXTRA), in the memory of whoever holds rec. */
static inline const uint8_t *shm_rec_bytes(const struct shm_copied_record *rec)
{
    return (const uint8_t *)rec + offsetof(struct shm_copied_record, payload);
}

/* The head of a values payload of bytes in all, of n values, written at
 * payload; and a string's value, its bytes at `at` from the payload's first
 * byte: how a decoder writes them. */
static inline void shm_values_head_put(uint8_t *payload, size_t bytes, unsigned n)
{
    uint16_t n16 = (uint16_t)n;
    uint32_t b32 = (uint32_t)bytes, zero = 0;
    memcpy(payload, &n16, 2);
    memcpy(payload + 2, &b32, 4);
    memcpy(payload + 6, &zero, 4);
}

static inline uint64_t shm_str_value(size_t at, uint16_t hdr)
{
    return (uint64_t)at << 16 | hdr;
}

/* The bytes a SHM_REC_VALUES record's payload takes, its head included. */
static inline size_t shm_rec_values_bytes(const struct shm_copied_record *rec)
{
    uint32_t b;
    memcpy(&b, shm_rec_bytes(rec) + 2, sizeof b);
    return b;
}

/* The bytes a copy of rec takes: its head and what its payload holds (a
 * ring's bytes, or a SHM_REC_VALUES record's values and strings). What keeps
 * records keeps each in this much: the struct has room for the longest
 * payload, 14 KiB, which few records come near. */
static inline size_t shm_rec_copy_bytes(const struct shm_copied_record *rec)
{
    return offsetof(struct shm_copied_record, payload) +
           ((rec->flags & SHM_REC_VALUES) ? shm_rec_values_bytes(rec) : rec->payload_len);
}

/* The values of a SHM_REC_VALUES record. */
static inline unsigned shm_rec_nvalues(const struct shm_copied_record *rec)
{
    uint16_t n;
    memcpy(&n, shm_rec_bytes(rec), sizeof n);
    return n;
}

static inline uint64_t shm_rec_value(const struct shm_copied_record *rec, unsigned i)
{
    uint64_t v;
    memcpy(&v, shm_rec_bytes(rec) + SHM_VALUES_HEAD + 8u * i, sizeof v);
    return v;
}

/* The bytes of the string whose value is v, where v says they are: for a
 * reader that knows v is a string's (a record decoded with its site's types). */
static inline const uint8_t *shm_rec_str_at(const struct shm_copied_record *rec, uint64_t v)
{
    return shm_rec_bytes(rec) + (v >> 16 & 0xffffu);
}

/* The same, or NULL when v holds no string within the record (a value of
 * another type). */
static inline const uint8_t *shm_rec_str(const struct shm_copied_record *rec, uint64_t v)
{
    size_t at = v >> 16 & 0xffffu, len = v & SHMLOG_STR_LEN_MASK, bytes = shm_rec_values_bytes(rec);
    return at >= SHM_VALUES_HEAD && at <= bytes && len <= bytes - at ? shm_rec_str_at(rec, v) : NULL;
}

enum shm_loss_reason {
    SHM_LOSS_DROPPED = 1,     /* ring full, counted by the producer */
    SHM_LOSS_DEAD_WRITER = 2, /* reserved and never committed by a process now gone */
    SHM_LOSS_OVERWRITTEN = 3, /* flight-recorder mode overtook the reader */
    SHM_LOSS_CORRUPT = 4,     /* a committed record failed validation */
    SHM_LOSS_UNREADABLE = 5,  /* a file frame that could not be decoded */
    SHM_LOSS_NO_RING = 6,     /* its cpu had no ring (it could not be made), counted by the producer */
    SHM_LOSS_UNREGISTERED = 7, /* its call site did not fit the site table, counted by the producer */
    SHM_LOSS_BEFORE_INIT = 8, /* a call made before shmlog_init, counted by the producer */
    SHM_LOSS_UNENCODABLE = 9, /* a committed record the collector could not encode: its call site
                                 unknown, or its payload not holding the site's arguments */
    SHM_LOSS_UNDECODABLE = 10, /* a record of a file a reader could not decode (never in a file) */
    SHM_LOSS_FILE_REMOVED = 11, /* written into an output file that was deleted while the collector wrote it */
    SHM_LOSS_REASON_MAX = 11,
};

enum shm_read_status {
    SHM_READ_RECORD = 0,  /* *out holds the next record; out->pos is its position */
    SHM_READ_EMPTY = 1,   /* *pos reached the reserve head */
    SHM_READ_PENDING = 2, /* the slot at *pos is reserved, not yet committed */
    SHM_READ_LOSS = 3,    /* positions were skipped: *loss says which and why */
};

struct shm_loss {
    uint64_t first_pos;      /* first skipped position */
    uint64_t positions;      /* slots skipped */
    uint64_t records;        /* records lost (1 per uncommitted or corrupt record) */
    uint32_t reason;         /* enum shm_loss_reason */
};

/* Reads the next record at *pos and advances *pos past it. PAD records are
 * skipped silently. writer_dead: the owning process is gone, so an uncommitted
 * slot will never be committed and is skipped as a loss. Never writes to the
 * ring. */
int shm_ring_next(const struct shm_ring_view *v, uint64_t *pos, struct shm_copied_record *out,
                     int writer_dead, struct shm_loss *loss);
/* The fast way through a ring: copies the run of committed records at *pos
 * to out slot for slot (a record of n slots takes n entries: its head slot,
 * then its continuation slots as struct shmlog_cont), checked as
 * shm_ring_next checks them, and advances *pos past them. Returns the
 * slots copied, at most max, whole records only. It stops at a slot not yet
 * committed, a pad and anything it would not trust, which shm_ring_next
 * then reads; returns 0 at once for an OVERWRITE ring. head: a reserve head
 * the caller read (or a published one): nothing at or past it is read or
 * prefetched, so a reader stays off the line its producer writes next. */
size_t shm_ring_take(const struct shm_ring_view *v, uint64_t *pos, uint64_t head, struct shmlog_record *out,
                        size_t max);
/* The payload of a record whose nslots slots lie one after the other from
 * head, as in a ring or in what shm_ring_take copied: the head slot's
 * bytes, then each continuation slot's, into dst (SHMLOG_MAX_PAYLOAD bytes
 * for a record of the most slots). Returns its length. */
static inline size_t shm_record_payload(uint8_t *dst, const struct shmlog_record *head, unsigned nslots)
{
    memcpy(dst, head->payload, SHMLOG_HEAD_PAYLOAD);
    for (unsigned i = 1; i < nslots; i++)
        memcpy(dst + shmlog_payload_capacity(i), ((const struct shmlog_cont *)&head[i])->payload,
               SHMLOG_CONT_PAYLOAD);
    return shmlog_payload_capacity(nslots);
}
/* Asks for the slot a few positions ahead of a reader at pos: written by
 * another core, it would otherwise keep a record waiting for its line. Never
 * past head, the reserve head last read: a slot about to be written would be
 * pulled away from its producer, who would then wait for it back. */
#define SHM_PREFETCH_SLOTS 16u
static inline void shm_ring_prefetch(const struct shm_ring_view *v, uint64_t pos, uint64_t head)
{
    uint64_t ahead = pos + SHM_PREFETCH_SLOTS;
    if ((int64_t)(head - ahead) > 0)
        __builtin_prefetch(v->slots + ((ahead & v->mask) << 6));
}
/* The collector's release: slots below pos may be reused by producers. It
 * reads the head, to never release past it; shm_ring_release_below takes a
 * head the caller read (or a published one, which lags it) instead. */
void shm_ring_release(const struct shm_ring_view *v, uint64_t pos);
void shm_ring_release_below(const struct shm_ring_view *v, uint64_t pos, uint64_t head);
/* Current counters, read with the right ordering. */
uint64_t shm_ring_head(const struct shm_ring_view *v);
uint64_t shm_ring_tail(const struct shm_ring_view *v);
uint64_t shm_ring_dropped(const struct shm_ring_view *v);
/* The progress line (shmlog_ring.published): a reserve head that producers
 * stored at the last sixteenth of the ring they crossed; 0 before that and on
 * version 2 rings. Reading it costs producers nothing between their stores. */
uint64_t shm_ring_published(const struct shm_ring_view *v);
/* Slots in use between a tail and a head read from v: what producers cannot
 * reserve. At most v->cap, whatever a hostile head says. */
static inline uint64_t shm_ring_used(const struct shm_ring_view *v, uint64_t head, uint64_t tail)
{
    return head - tail > v->cap ? v->cap : head - tail;
}

/* ---- segments that shrink under the mapping ----
 *
 * A writer that truncates its segment file makes the next access to the lost
 * pages raise SIGBUS. A reader points shm_bus_guard at a sigjmp_buf of its
 * own (sigsetjmp(jb, 0)) while it touches shared memory, and NULL after: the
 * fault then returns there instead of killing the process. The handler runs
 * with SA_NODEFER, so the jump need not restore the signal mask (saving it
 * would cost a syscall per access window). */
extern sigjmp_buf *volatile shm_bus_guard;
/* Installs the SIGBUS handler. 0 or -errno. */
int shm_bus_guard_install(void);
/* Runs fn(ctx) guarded so: 0, or -EFAULT when a segment shrank under it (fn
 * stopped at the fault, its writes through ctx up to there done). Nestable:
 * the caller's own guard, if any, is back in place after. */
int shm_guarded(void (*fn)(void *ctx), void *ctx);
/* The ring's reserve head into *head, under shm_guarded: 0, or -1 when its
 * mapping faulted (a truncated segment) and *head is left as it was. */
int shm_ring_head_guarded(const struct shm_ring_view *v, uint64_t *head);

/* ---- processes ---- */

/* 1 if pid runs and is the same process (start time matches), else 0. Only
 * for a pid of our own pid namespace: liveness is shm_meta_holder's. */
int shm_proc_alive(uint32_t pid, uint64_t proc_start);
/* starttime (field 22) of /proc/<pid>/stat, the proc_start of segment
 * headers: with the pid it names a process across pid reuse. 0 when the
 * process does not exist. */
uint64_t shm_proc_start_time(uint32_t pid);
/* Maps every page of [addr, addr + bytes) into this process now, each read
 * (write 0) or rewritten with its own value (write 1) once: memory a loop is
 * about to touch for the first time, faulted in before it is timed. */
void shm_prefault(void *addr, size_t bytes, int write);

/* Who runs the process of a meta segment. Every producer holds write locks
 * on its meta segment from shmlog_init to shmlog_shutdown or its end, and the
 * kernel drops them when the process is gone, whatever pid namespace it runs
 * in (SHMLOG_LOCK_ALIVE, SHMLOG_LOCK_PID). Returns the holder's pid as this
 * process sees it (0 when unknown: a pid namespace we cannot see, or a
 * process that closed another descriptor of the file), or -1 when no process
 * holds it: the producer shut down or is gone. */
long shm_meta_holder(const struct shm_seg *meta);
/* 1 while a process holds the meta's SHMLOG_LOCK_ALIVE (it runs and has
 * not shut down), else 0: shm_meta_holder's answer in one system call. */
int shm_meta_alive(const struct shm_seg *meta);

/* One collector per process: two would release each other's records. The
 * collector that drains a process takes SHMLOG_LOCK_COLLECTOR of its meta
 * (opened SHM_OPEN_CLAIM) and keeps it while it runs; the kernel drops it
 * with the collector, whatever became of its pid. 0, or -EBUSY while another
 * collector holds it, or -errno. */
int shm_meta_claim(const struct shm_seg *meta);
/* 1 while a collector other than the caller holds that lock, else 0. */
int shm_meta_drained(const struct shm_seg *meta);

/* The trace id and span a SHMLOG_REC_TRACE record's raw payload (len bytes)
 * sets: 0, or -1 when it does not hold them. span points into payload, its
 * bytes unchecked (at most SHMLOG_TRACE_SPAN_BYTES). */
static inline int shm_trace_payload(const uint8_t *payload, size_t len, uint64_t *hi, uint64_t *lo,
                                    const uint8_t **span, size_t *span_len)
{
    const size_t fixed = 16 + SHMLOG_STR_HEADER_BYTES;
    uint16_t hdr;
    if (len < fixed || len > SHMLOG_MAX_PAYLOAD)
        return -1;
    memcpy(hi, payload, 8);
    memcpy(lo, payload + 8, 8);
    memcpy(&hdr, payload + 16, sizeof hdr);
    *span = payload + fixed;
    *span_len = hdr & SHMLOG_STR_LEN_MASK;
    if (*span_len > len - fixed)
        return -1;
    return *span_len <= SHMLOG_TRACE_SPAN_BYTES ? 0 : -1;
}

/* The trace id and span a SHMLOG_REC_TRACE record sets (its payload raw, or
 * decoded into values): 0, or -1 when it does not hold them. span points
 * into rec, its bytes unchecked (at most SHMLOG_TRACE_SPAN_BYTES). */
static inline int shm_rec_trace(const struct shm_copied_record *rec, uint64_t *hi, uint64_t *lo, const uint8_t **span,
                                size_t *span_len)
{
    if (rec->flags & SHM_REC_VALUES) {
        if (shm_rec_nvalues(rec) != 3)
            return -1;
        uint64_t v = shm_rec_value(rec, 2);
        if (!(*span = shm_rec_str(rec, v)))
            return -1;
        *hi = shm_rec_value(rec, 0);
        *lo = shm_rec_value(rec, 1);
        *span_len = v & SHMLOG_STR_LEN_MASK;
        return *span_len <= SHMLOG_TRACE_SPAN_BYTES ? 0 : -1;
    }
    return shm_trace_payload(rec->payload, rec->payload_len, hi, lo, span, span_len);
}

/* ---- directories ---- */

/* The directories segments may be in when none is given: $SHMLOG_DIR alone if
 * set, else <hugetlbfs>/shmlog (when mounted) and /dev/shm/shmlog. Returns how
 * many were written to dirs. */
int shm_default_dirs(char dirs[][4096], int max);

/* Parses "<app>-<pid>[.<tag>].meta" / "<app>-<pid>-cpu<N>[.<tag>].ring",
 * where a tag is 16 lowercase hex digits. 0 on match. */
int shm_parse_seg_name(const char *name, unsigned *kind, char *app, size_t app_cap, uint32_t *pid,
                          uint32_t *cpu);

#ifdef __cplusplus
}
#endif

#endif /* SHM_READER_H */
