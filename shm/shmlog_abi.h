/*
 * shmlog_abi.h - the shared-memory ABI between producers, the collector and tools.
 *
 * Everything in this file is laid out in shared memory and read by other processes,
 * possibly built from another version. Readers treat every byte as untrusted: the
 * helpers at the end validate headers, and shm/reader_ring.c validates every record.
 *
 * A process owns one metadata segment and one ring segment per cpu it logged on:
 *
 *   <dir>/<app>-<pid>[.<tag>].meta
 *   +--------------------------+ 0
 *   | shmlog_seg_header (128)  |  magic, abi, kind, sizes, pid, uid, start time
 *   | process info             |  app, host, TSC calibration, live level, counters
 *   +--------------------------+ SHMLOG_META_HEADER_BYTES (4096)
 *   | site[0] site[1] ...      |  shmlog_site, 64 bytes each, site_capacity of them
 *   +--------------------------+ strings_offset
 *   | "fmt\0file\0fmt\0..."    |  string arena the sites point into
 *   +--------------------------+ segment_bytes
 *
 *   <dir>/<app>-<pid>-cpu<N>[.<tag>].ring
 *   +--------------------------+ 0
 *   | shmlog_seg_header (128)  |
 *   | ring description         |  cpu, node, capacity, policy
 *   | producer line (offs 256) |  head, tail_cache, dropped      <- written by producers
 *   | consumer line (offs 384) |  tail, collector pid           <- written by the collector
 *   +--------------------------+ SHMLOG_RING_HEADER_BYTES (4096)
 *   | slot[0] ... slot[cap-1]  |  64-byte records, slot = position & (cap - 1)
 *   +--------------------------+
 *
 * Names only help people find segments; they attribute nothing. A name another
 * user already took (a segment directory is shared) gets a random 16-hex-digit
 * <tag>. A ring belongs to the meta segment in the same directory (or, a ring
 * flagged SHMLOG_SEG_FALLBACK, of a meta on hugetlbfs in another) whose owner
 * uid, pid, start time and 128-bit random instance match its own. Files are
 * owned by their creator, so no other uid can make a ring that passes; the
 * instance (never in a name) tells apart two processes of one uid that had
 * the same pid. The rule is enforced in one place: shm_ring_belongs() in
 * shm/reader_attribution.c.
 *
 * Positions are free-running 64-bit counters. A ring is full when head - tail >= cap.
 *
 * Record protocol (one writer per position, any number of writers per ring):
 *
 *      producer                                   collector
 *   A: CAS head: pos -> pos + n                C: c = load_acquire(slot[pos].commit)
 *      write continuation slots, header,          if c == pos + 1: copy the n slots
 *      arguments                                  (overwrite mode: re-check head, reader_ring.c)
 *   B: store_release(slot[pos].commit, pos+1)  D: store_release(tail, pos + n)
 *      (B pairs with C)                           (D pairs with A's acquire load of tail)
 *
 * A record spans nslots consecutive slots and never wraps: a writer that would
 * cross the end of the ring first commits a PAD record over the remaining slots.
 * Continuation slots start with (pos + 1) | SHMLOG_COMMIT_CONT so that a reader
 * skipping the uncommitted slot of a dead writer can find the next record head.
 */
#ifndef SHMLOG_ABI_H
#define SHMLOG_ABI_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The conversions of code that C and C++ files both compile: C++ builds with
 * -Wold-style-cast see the named casts. SHMLOG__CAST converts a value,
 * SHMLOG__REINTERPRET a pointer to another pointer or integer type. */
#ifdef __cplusplus
#define SHMLOG__STATIC_ASSERT(c, m) static_assert(c, m)
#define SHMLOG__CAST(T, x) static_cast<T>(x)
#define SHMLOG__REINTERPRET(T, x) reinterpret_cast<T>(x)
#else
#define SHMLOG__STATIC_ASSERT(c, m) _Static_assert(c, m)
#define SHMLOG__CAST(T, x) ((T)(x))
#define SHMLOG__REINTERPRET(T, x) ((T)(x))
#endif

/* "SHMLOG" then a kind byte and 0x01: read as little-endian u64 on a big-endian
 * host, or by a tool built for another byte order, it does not match. */
#define SHMLOG_MAGIC_META 0x014D474F4C4D4853ULL /* "SHMLOGM\x01" */
#define SHMLOG_MAGIC_RING 0x0152474F4C4D4853ULL /* "SHMLOGR\x01" */

/* Bumped on any incompatible layout change; readers refuse versions they do
 * not know.
 * 2: the process instance in every header; the meta counts records of cpus
 *    without a ring.
 * 3: the ring's progress line (published); readers still take version 2
 *    rings, whose published stays 0, by their head.
 * 4: the meta's levels per category, category names, the calls not written
 *    while logging was not set up, the out-of-range calls, and the backtrace;
 *    the record flags CLAMPED and BACKTRACE. Readers take version 3 metas as
 *    one level for the built-in categories.
 * 5: site flags: SHMLOG_SITE_DESC (a call site's argument descriptor) and
 *    SHMLOG_SITE_THREAD (a thread's name in the site table); a site's __func__.
 *    Readers take version 4 metas as they were: their sites' flags are zero
 *    and they name no function.
 * 6: a record spans up to 255 slots (SHMLOG_MAX_SLOTS), 8 before; readers
 *    take version 5 segments, whose records never span more than 8.
 * 7: a site takes up to 32 arguments (SHMLOG_MAX_ARGS), 16 before: the types
 *    past the entry's 16 are at more_types_offset; readers take version 6
 *    segments, whose sites never have more than 16. */
#define SHMLOG_ABI_VERSION 7u

#define SHMLOG_CACHELINE 64u
#define SHMLOG_RECORD_BYTES 64u
#define SHMLOG_META_HEADER_BYTES 4096u
#define SHMLOG_RING_HEADER_BYTES 4096u
#define SHMLOG_HUGEPAGE_BYTES (2u * 1024u * 1024u)

/* Ring capacity bounds, in records: a power of two between 1 Ki and 1 Gi. */
#define SHMLOG_RING_MIN_RECORDS 1024u
#define SHMLOG_RING_MAX_RECORDS (1u << 30)

/* Call sites: at most this many per process, each at most this many arguments. */
#define SHMLOG_SITE_BYTES 64u
#define SHMLOG_MAX_ARGS 32u
#define SHMLOG_SITE_ARG_TYPES 16u /* in the entry; the rest at more_types_offset */
#define SHMLOG_MAX_ARGS_V6 16u
#define SHMLOG_MAX_FMT_BYTES 4096u
#define SHMLOG_MAX_FILE_BYTES 1024u
#define SHMLOG_MAX_FUNC_BYTES 256u  /* a longer function name keeps its start */
#define SHMLOG_MAX_DESC_BYTES 4096u /* a longer descriptor is not registered */
#define SHMLOG_APP_BYTES 64u
#define SHMLOG_HOST_BYTES 64u

/* A record is one head slot plus up to 254 continuation slots (nslots is a
 * byte): 36 + 254 * 56 = 14260 bytes of arguments. A process bounds its own
 * records lower (struct shmlog_config.arg_bytes, default 4236: a 4 KiB string
 * and more, at most an eighth of a ring). How arguments lie in the slots, and how strings past the
 * bound are cut and marked: shmlog_args.h. Before ABI 6 a record spanned at
 * most 8 slots (428 bytes). */
#define SHMLOG_MAX_SLOTS 255u
#define SHMLOG_MAX_SLOTS_V5 8u
/* 76 slots: room for a 4 KiB string beside the most fixed bytes a call takes (128). */
#define SHMLOG_DEFAULT_ARG_BYTES (SHMLOG_HEAD_PAYLOAD + 75u * SHMLOG_CONT_PAYLOAD)
#define SHMLOG_RING_SHARE_SHIFT 3u /* a record takes at most capacity >> this of its ring */
#define SHMLOG_HEAD_PAYLOAD 36u
#define SHMLOG_CONT_PAYLOAD 56u
#define SHMLOG_MAX_PAYLOAD (SHMLOG_HEAD_PAYLOAD + (SHMLOG_MAX_SLOTS - 1u) * SHMLOG_CONT_PAYLOAD)

#define SHMLOG_COMMIT_CONT (1ULL << 63) /* continuation slot marker in commit */

/* Segment kinds. */
enum shmlog_seg_kind {
    SHMLOG_SEG_META = 1,
    SHMLOG_SEG_RING = 2,
};

/* Byte locks on a meta segment while its process logs (see producer/segment.c):
 * an open-file-description write lock on ALIVE, a POSIX one on PID. The
 * collector that drains the process holds an open-file-description write lock
 * on COLLECTOR: the kernel drops it with the collector, so no other process
 * can pass for a collector that is gone (a reused pid, a name). */
#define SHMLOG_LOCK_ALIVE 0
#define SHMLOG_LOCK_PID 1
#define SHMLOG_LOCK_COLLECTOR 2

/* shmlog_seg_header.flags */
#define SHMLOG_SEG_HUGEPAGES 0x1u /* backed by hugetlbfs */
#define SHMLOG_SEG_CLOSED 0x2u    /* meta: the process called shmlog_shutdown(), or exit() (or returned from main) */
#define SHMLOG_SEG_FALLBACK 0x4u  /* ring: made on 4 KiB pages in /dev/shm/shmlog when its process's hugetlbfs
                                     (its meta's directory) had no free page left */

/* Levels, lowest first. SHMLOG_LEVEL_OFF as the live level disables all records. */
enum shmlog_level {
    SHMLOG_LEVEL_TRACE = 0,
    SHMLOG_LEVEL_DEBUG = 1,
    SHMLOG_LEVEL_INFO = 2,
    SHMLOG_LEVEL_WARN = 3,
    SHMLOG_LEVEL_ERROR = 4,
    SHMLOG_LEVEL_FATAL = 5,
    SHMLOG_LEVEL_OFF = 6,
};

/* Trading categories: first-class tags on call sites and records. A program
 * defines its own by name (shmlog_category), numbered from SHMLOG_CAT_USER. */
enum shmlog_category {
    SHMLOG_CAT_NONE = 0,
    SHMLOG_CAT_TRADE = 1,
    SHMLOG_CAT_ORDER = 2,
    SHMLOG_CAT_MARKET_DATA = 3,
    SHMLOG_CAT_RISK = 4,
    SHMLOG_CAT_PORTFOLIO = 5,
    SHMLOG_CAT_COUNT = 6, /* the built-in ones */
    SHMLOG_CAT_USER = 6,  /* the first a program defines */
};
/* Categories of one process, built-in and its own; a name is [a-z0-9_],
 * 1..SHMLOG_CATEGORY_NAME_BYTES - 1 bytes. */
#define SHMLOG_MAX_CATEGORIES 64u
#define SHMLOG_CATEGORY_NAME_BYTES 24u

/* Ring-full policies (shmlog_ring.policy). */
enum shmlog_policy {
    SHMLOG_DROP = 0,      /* drop the new record and count it */
    SHMLOG_OVERWRITE = 1, /* flight recorder: overwrite the oldest */
    SHMLOG_SPIN = 2,      /* wait for space (never a syscall) */
};

/* Argument types as captured at the call site; their bytes in a record's
 * payload: shmlog_args.h. */
enum shmlog_arg_type {
    SHMLOG_ARG_NONE = 0,
    SHMLOG_ARG_BOOL = 1,
    SHMLOG_ARG_I8 = 2,  /* also plain char where char is signed */
    SHMLOG_ARG_U8 = 3,
    SHMLOG_ARG_I16 = 4,
    SHMLOG_ARG_U16 = 5,
    SHMLOG_ARG_I32 = 6,
    SHMLOG_ARG_U32 = 7,
    SHMLOG_ARG_I64 = 8,
    SHMLOG_ARG_U64 = 9,
    SHMLOG_ARG_F32 = 10,
    SHMLOG_ARG_F64 = 11, /* also long double, narrowed */
    SHMLOG_ARG_PTR = 12,
    SHMLOG_ARG_STR = 13,
    SHMLOG_ARG_TYPE_COUNT = 14,
};
#define SHMLOG_STR_TRUNCATED 0x8000u
#define SHMLOG_STR_LEN_MASK 0x7FFFu

/* Common header of every segment: 128 bytes. Written once by the creator;
 * magic is stored last (release) so a reader never sees a half-made header. */
struct shmlog_seg_header {
    uint64_t magic;          /* SHMLOG_MAGIC_META or SHMLOG_MAGIC_RING */
    uint32_t abi_version;    /* SHMLOG_ABI_VERSION */
    uint32_t header_bytes;   /* bytes before the first site / slot */
    uint32_t kind;           /* enum shmlog_seg_kind */
    uint32_t flags;          /* SHMLOG_SEG_* (CLOSED changes at runtime) */
    uint64_t segment_bytes;  /* size of the file and the mapping */
    uint64_t format_word;    /* SHMLOG_FORMAT_WORD of the writer's build */
    uint32_t pid;            /* creating process */
    uint32_t uid;            /* its real uid */
    uint64_t proc_start;     /* /proc/<pid>/stat starttime: tells pid reuse apart */
    uint64_t created_ns;     /* CLOCK_REALTIME at creation */
    uint8_t instance[16];    /* random per process (getrandom): ties rings to their meta */
    uint8_t reserved[48];    /* zero; room to grow */
};
SHMLOG__STATIC_ASSERT(sizeof(struct shmlog_seg_header) == 128, "segment header is 128 bytes");
SHMLOG__STATIC_ASSERT(offsetof(struct shmlog_seg_header, segment_bytes) == 24, "abi");
SHMLOG__STATIC_ASSERT(offsetof(struct shmlog_seg_header, pid) == 40, "abi");
SHMLOG__STATIC_ASSERT(offsetof(struct shmlog_seg_header, instance) == 64, "abi");

/* A registered call site: 64 bytes. Immutable once site_count covers it. */
struct shmlog_site {
    uint32_t fmt_offset;   /* format string: offset into the segment */
    uint32_t fmt_len;      /* its length, no NUL counted */
    uint32_t file_offset;  /* source file name: offset into the segment */
    uint32_t file_len;     /* its length */
    uint32_t line;         /* source line */
    uint8_t level;         /* enum shmlog_level */
    uint8_t category;      /* enum shmlog_category */
    uint8_t nargs;         /* arguments after the format, <= SHMLOG_MAX_ARGS */
    uint8_t flags;         /* SHMLOG_SITE_*; zero before ABI 5 */
    uint8_t arg_types[SHMLOG_SITE_ARG_TYPES]; /* enum shmlog_arg_type, the first nargs used */
    /* ABI 5 (zero before): the call site's __func__, and with SHMLOG_SITE_DESC
     * the descriptor of its arguments (what the types alone do not say). */
    uint32_t func_offset;  /* offset into the segment */
    uint32_t func_len;     /* 0: none */
    uint32_t desc_offset;
    uint32_t desc_len;
    /* ABI 7 (zero before): the types of arguments 17..nargs, one byte each,
     * when nargs > SHMLOG_SITE_ARG_TYPES: an offset into the segment. */
    uint32_t more_types_offset;
    uint8_t reserved[4];   /* zero */
};
#define SHMLOG_SITE_DESC 1u /* desc_offset and desc_len are set */
SHMLOG__STATIC_ASSERT(sizeof(struct shmlog_site) == SHMLOG_SITE_BYTES, "site is 64 bytes");
SHMLOG__STATIC_ASSERT(offsetof(struct shmlog_site, func_offset) == 40, "abi");

/* shmlog_site.flags. A THREAD entry is no call site (no record names its id):
 * it names thread `line` (its kernel tid) `fmt` from then on; the latest entry
 * of a tid wins. Its name: 1..SHMLOG_THREAD_NAME_BYTES of UTF-8, no control
 * character; file_len 0, nargs 0. */
#define SHMLOG_SITE_THREAD 2u
#define SHMLOG_THREAD_NAME_BYTES 32u

/* A thread name as the files keep it, written to out with its NUL: each byte
 * that is a control character or not part of UTF-8 becomes '?', and a name
 * past SHMLOG_THREAD_NAME_BYTES is cut at a character and ends in '~', so a
 * cut is visible. Returns its length. A name is valid as it stands when it is
 * not empty and comes out the same. */
static inline size_t shmlog_thread_name_clean(const char *name, size_t len, char *out)
{
    size_t o = 0, cut = 0;
    for (size_t i = 0; i < len;) {
        unsigned c = SHMLOG__CAST(unsigned char, name[i]);
        /* the sequence length c leads, and the range of the byte after it (RFC 3629) */
        size_t n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        unsigned lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80, hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
        int ok = n > 0 && i + n <= len && !(c < 0x20 || c == 0x7F);
        for (size_t k = 1; ok && k < n; k++) {
            unsigned b = SHMLOG__CAST(unsigned char, name[i + k]);
            ok = k == 1 ? b >= lo && b <= hi : b >= 0x80 && b <= 0xBF;
        }
        if (!ok)
            n = 1;
        if (o + n > SHMLOG_THREAD_NAME_BYTES) {
            o = cut;
            out[o++] = '~';
            break;
        }
        if (ok)
            memcpy(out + o, name + i, n);
        else
            out[o] = '?';
        o += n;
        i += n;
        if (o < SHMLOG_THREAD_NAME_BYTES)
            cut = o;
    }
    out[o] = 0;
    return o;
}

/* The metadata segment header: exactly SHMLOG_META_HEADER_BYTES. */
struct shmlog_meta {
    struct shmlog_seg_header hdr;
    char app[SHMLOG_APP_BYTES];   /* NUL-terminated application name */
    char host[SHMLOG_HOST_BYTES]; /* NUL-terminated host name */
    uint64_t tsc_hz;              /* TSC ticks per second, measured at init */
    uint64_t anchor_tsc;          /* a TSC reading ... */
    uint64_t anchor_ns;           /* ... and CLOCK_REALTIME ns taken at that moment */
    uint32_t site_capacity;       /* slots in the site table */
    uint32_t site_count;          /* published sites; release-stored after the site */
    uint32_t sites_offset;        /* == SHMLOG_META_HEADER_BYTES */
    uint32_t strings_offset;      /* string arena start */
    uint32_t strings_bytes;       /* string arena size */
    uint32_t strings_used;        /* bytes of the arena used (informational) */
    uint32_t level;               /* live level: records below it are not written */
    uint32_t ncpus;               /* possible cpus of the host at init */
    uint32_t default_policy;      /* enum shmlog_policy the rings were made with */
    uint32_t ring_records;        /* capacity of each ring */
    uint64_t unregistered;        /* records lost: their site did not fit the table */
    uint64_t no_ring;             /* records lost: their cpu's ring could not be made, or
                                     their thread may not write rings (no rseq) */
    /* version 4 */
    uint64_t before_init;         /* calls made before shmlog_init: not written */
    uint64_t out_of_range;        /* calls whose level or category was out of range:
                                     written as FATAL or none, flagged CLAMPED */
    uint32_t category_count;      /* categories with a name, built-in ones included;
                                     release-stored after the name */
    uint32_t backtrace_level;     /* calls from this level up to the live one are kept
                                     as backtrace; SHMLOG_LEVEL_OFF: none */
    uint32_t backtrace_trigger;   /* a record at or above it writes the kept ones out */
    uint32_t backtrace_records;   /* records kept per cpu */
    uint64_t backtrace_requests;  /* a tool adds one to have the kept ones written out */
    uint8_t pad4[512 - 376];
    /* Per category: the live level << 8 | the level from which calls are taken
     * (the lower of the live and the backtrace level): shmlog_level_word. */
    uint16_t levels[SHMLOG_MAX_CATEGORIES];
    char category_names[SHMLOG_MAX_CATEGORIES][SHMLOG_CATEGORY_NAME_BYTES]; /* NUL-padded */
    uint8_t reserved[SHMLOG_META_HEADER_BYTES - 640 - SHMLOG_MAX_CATEGORIES * SHMLOG_CATEGORY_NAME_BYTES];
};
SHMLOG__STATIC_ASSERT(sizeof(struct shmlog_meta) == SHMLOG_META_HEADER_BYTES, "meta header is 4 KiB");
SHMLOG__STATIC_ASSERT(offsetof(struct shmlog_meta, tsc_hz) == 256, "abi");
SHMLOG__STATIC_ASSERT(offsetof(struct shmlog_meta, level) == 304, "abi");
SHMLOG__STATIC_ASSERT(offsetof(struct shmlog_meta, before_init) == 336, "abi");
SHMLOG__STATIC_ASSERT(offsetof(struct shmlog_meta, backtrace_requests) == 368, "abi");
SHMLOG__STATIC_ASSERT(offsetof(struct shmlog_meta, levels) == 512, "abi");
SHMLOG__STATIC_ASSERT(offsetof(struct shmlog_meta, category_names) == 640, "abi");

/* A category's entry of shmlog_meta.levels: calls at or above the live level
 * are written; those below it but at or above backtrace are written flagged
 * BACKTRACE, for the collector to keep until a trigger. */
static inline uint16_t shmlog_level_word(unsigned live, unsigned backtrace)
{
    unsigned take = backtrace < live ? backtrace : live;
    return SHMLOG__CAST(uint16_t, take | live << 8);
}

/* The ring segment header: exactly SHMLOG_RING_HEADER_BYTES. The producer and
 * consumer lines are 128 bytes apart so the adjacent-line prefetcher does not
 * couple them. */
struct shmlog_ring {
    struct shmlog_seg_header hdr;
    uint32_t cpu;            /* cpu this ring serves */
    int32_t numa_node;       /* node its memory is bound to; -1 if unknown */
    uint64_t capacity;       /* records; a power of two */
    uint32_t policy;         /* enum shmlog_policy */
    uint32_t ring_flags;     /* SHMLOG_RING_BELL or zero */
    uint8_t pad0[256 - 128 - 24];

    /* producer line: written by the threads logging on this cpu */
    uint64_t head;           /* next position to reserve */
    uint64_t tail_cache;     /* producers' last read of tail: saves a line transfer */
    uint64_t dropped;        /* records refused because the ring was full */
    uint64_t drop_bytes;     /* their payload bytes, informational */
    uint8_t pad1[128 - 32];

    /* consumer line: written by the collector */
    uint64_t tail;           /* everything below is released: writers may reuse it */
    uint64_t collector_pid;  /* pid of the collector draining it, 0 if none: informational,
                                the meta's SHMLOG_LOCK_COLLECTOR says whether it runs */
    uint64_t lost;           /* positions the collector skipped (dead writer, overwritten) */
    uint8_t pad2[128 - 24];

    /* progress line: the reserve head, stored by the producer whose reservation
     * crosses a sixteenth of the ring, so the collector learns how far records
     * go without reading the producer line (a transfer per pass would cost the
     * producer's next calls their cache line). It may lag head by up to a
     * sixteenth, and a writer preempted between its reservation and this store
     * may leave it smaller than a later one stored: readers keep the largest. */
    uint64_t published;
    uint8_t pad3[128 - 8];

    /* SHMLOG_RING_BELL: the bell its producers ring (st_dev, st_ino) */
    uint64_t bell_dev;
    uint64_t bell_ino;
    uint8_t reserved[SHMLOG_RING_HEADER_BYTES - 656];
};
SHMLOG__STATIC_ASSERT(sizeof(struct shmlog_ring) == SHMLOG_RING_HEADER_BYTES, "ring header is 4 KiB");
SHMLOG__STATIC_ASSERT(offsetof(struct shmlog_ring, head) == 256, "producer line at 256");
SHMLOG__STATIC_ASSERT(offsetof(struct shmlog_ring, tail) == 384, "consumer line at 384");
SHMLOG__STATIC_ASSERT(offsetof(struct shmlog_ring, published) == 512, "progress line at 512");
/* published moves each time the reserve head passes a multiple of capacity >> SHMLOG_PROGRESS_SHIFT. */
#define SHMLOG_PROGRESS_SHIFT 4u

/* The bell: a file of SHMLOG_BELL_BYTES, SHMLOG_BELL_PREFIX<uid> (on tmpfs, so
 * that it costs no hugepage and no entry of the segment directories), owned by
 * that uid, whose first word (struct shmlog_bell) every producer of the uid
 * adds one to right after it stores a ring's published. A ring flagged
 * SHMLOG_RING_BELL names the bell it rings (bell_dev, bell_ino): a collector
 * whose bell of that name is another file (another /dev/shm) reads the ring
 * at every pass. One that finds its bell unchanged knows that no ring that
 * rings it published, and reads a line per uid instead of a line per ring.
 * Rings without the flag (older producers, or no bell could be opened) are
 * read as before. No version change: older readers ignore ring_flags and the
 * reserved bytes, which older producers leave zero. */
#define SHMLOG_RING_BELL 0x1u
#define SHMLOG_BELL_PREFIX "/dev/shm/shmlog-bell-"
#define SHMLOG_BELL_BYTES 4096u
struct shmlog_bell {
    uint64_t rung; /* one more each time a flagged ring's published moved */
    uint8_t pad[SHMLOG_CACHELINE - 8];
};

/* One record slot: 64 bytes. The head slot of a record: */
struct shmlog_record {
    uint64_t commit;   /* position + 1, release-stored last by the writer */
    uint64_t tsc;      /* TSC at the call */
    uint32_t site;     /* call-site id: index into the site table */
    uint32_t tid;      /* kernel thread id of the writer */
    uint8_t nslots;    /* slots this record spans, 1..SHMLOG_MAX_SLOTS */
    uint8_t level;     /* the site's level, repeated so a record reads alone */
    uint8_t category;  /* the site's category */
    uint8_t flags;     /* SHMLOG_REC_* */
    uint8_t payload[SHMLOG_HEAD_PAYLOAD]; /* packed arguments, then continuation slots */
};
/* A continuation slot: commit = (position + 1) | SHMLOG_COMMIT_CONT, then 56 bytes. */
struct shmlog_cont {
    uint64_t commit;
    uint8_t payload[SHMLOG_CONT_PAYLOAD];
};
SHMLOG__STATIC_ASSERT(sizeof(struct shmlog_record) == SHMLOG_RECORD_BYTES, "record is one cache line");
SHMLOG__STATIC_ASSERT(sizeof(struct shmlog_cont) == SHMLOG_RECORD_BYTES, "continuation is one cache line");
SHMLOG__STATIC_ASSERT(offsetof(struct shmlog_record, payload) == 64 - SHMLOG_HEAD_PAYLOAD, "abi");

/* shmlog_record.flags */
#define SHMLOG_REC_TRUNCATED 0x1u /* a string argument was cut to fit the process's argument bound */
#define SHMLOG_REC_PAD 0x2u       /* filler up to the ring end; no arguments, no site */
#define SHMLOG_REC_CLAMPED 0x4u   /* the call's level or category was out of range: FATAL or none */
#define SHMLOG_REC_BACKTRACE 0x8u /* below the live level: kept by the collector until a trigger */
/* A thread's trace context from this record on (shmlog_trace_set): the record
 * of a site whose format is SHMLOG_TRACE_FORMAT and whose arguments are the
 * trace id's high and low halves (U64, U64) and the span name (STR, at most
 * SHMLOG_TRACE_SPAN_BYTES); id 0 clears it. Readers carry it to the thread's
 * later records; one that does not know the flag shows it as a record. */
#define SHMLOG_REC_TRACE 0x10u
#define SHMLOG_TRACE_FORMAT "trace_id=%016llx%016llx span=%s"
#define SHMLOG_TRACE_SPAN_BYTES 32u
/* Every flag a record's head may carry (PAD marks filler, not a record): what
 * readers accept of a ring, and what a harness may set. */
#define SHMLOG_REC_HEAD_FLAGS (SHMLOG_REC_TRUNCATED | SHMLOG_REC_CLAMPED | SHMLOG_REC_BACKTRACE | SHMLOG_REC_TRACE)

/* Mixes every size the ABI depends on: a build whose structs differ is refused
 * even if someone forgot to bump SHMLOG_ABI_VERSION. */
#define SHMLOG_FORMAT_WORD SHMLOG_FORMAT_WORD_OF(SHMLOG_ABI_VERSION)
#define SHMLOG_FORMAT_WORD_OF(version)                                                            \
    (((UINT64_C(1) * (version)) << 56) ^ ((UINT64_C(1) * sizeof(struct shmlog_meta)) << 40) ^     \
     ((UINT64_C(1) * sizeof(struct shmlog_ring)) << 24) ^ ((UINT64_C(1) * sizeof(struct shmlog_site)) << 16) ^ \
     ((UINT64_C(1) * sizeof(struct shmlog_record)) << 8) ^                                        \
     (UINT64_C(1) * ((version) >= 6 ? SHMLOG_MAX_SLOTS : SHMLOG_MAX_SLOTS_V5)))

#endif /* SHMLOG_ABI_H */
