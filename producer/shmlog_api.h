/* ==== Public API ==== */

#include <limits.h>
#include <string.h>

#ifdef __cplusplus
#if __cplusplus < 201703L
#error "shmlog.h needs C++17 or later (-std=c++17)"
#endif
/* std::string and std::string_view arguments are captured with their size. */
#include <string>
#include <string_view>
#include <type_traits>
#include <chrono>
#include <optional>
#include <utility>
extern "C" {
#endif

/* Calls below this level are compiled out: no code, the arguments never
 * evaluated, the format still checked. Define it before including shmlog.h
 * (a level name or its number); the default removes nothing. */
#ifdef SHMLOG_ACTIVE_LEVEL
#define SHMLOG__LEVELS_BUILTIN_FLOOR SHMLOG__FLOOR_TEST
#else
#define SHMLOG_ACTIVE_LEVEL SHMLOG_LEVEL_TRACE
/* a constant level is at or above TRACE: no test, which would cost Clang 0.07 M instructions a site */
#define SHMLOG__LEVELS_BUILTIN_FLOOR(lvl)
#endif
/* A call's test of its level against the floor, before its live level's
 * (SHMLOG__LOG); a variable level's is kept at the TRACE floor too, as GCC's
 * code of the call follows it. */
#define SHMLOG__FLOOR_TEST(lvl) SHMLOG__CAST(int, lvl) >= SHMLOG__CAST(int, SHMLOG_ACTIVE_LEVEL) &&
#define SHMLOG__LEVELS_CHECKED_FLOOR SHMLOG__FLOOR_TEST
SHMLOG__STATIC_ASSERT(SHMLOG__CAST(int, SHMLOG_ACTIVE_LEVEL) >= 0 &&
                          SHMLOG__CAST(int, SHMLOG_ACTIVE_LEVEL) <= SHMLOG__CAST(int, SHMLOG_LEVEL_OFF),
                      "shmlog: SHMLOG_ACTIVE_LEVEL must be SHMLOG_LEVEL_TRACE .. SHMLOG_LEVEL_OFF (0 .. 6)");

/* Per-process configuration. Fill with shmlog_config_init(), then set fields:
 * new fields get defaults there, so callers never break. */
struct shmlog_config {
    const char *app;        /* application name; NULL: program_invocation_short_name */
    const char *dir;        /* segment directory; NULL: $SHMLOG_DIR, else <hugetlbfs>/shmlog,
                               else /dev/shm/shmlog on 4 KiB pages (one warning) */
    size_t ring_bytes;      /* record bytes per cpu ring, a power of two (default 8 MiB) */
    size_t meta_bytes;      /* metadata segment bytes (default 2 MiB: 4 K sites) */
    int policy;             /* enum shmlog_policy when a ring is full (default SHMLOG_DROP) */
    int require_hugepages;  /* non-zero: fail with -ENOMEM-like error instead of falling back */
    int level;              /* initial live level (default SHMLOG_LEVEL_INFO) */
    int group;              /* -1 (default): segments 0600; else this gid and mode 0660 */
    int all_cpus;           /* non-zero: create the rings of every allowed cpu at init */
    int quiet;              /* non-zero: no warning on stderr about the 4 KiB fallback */
    /* The program's own categories, NULL-terminated: ids SHMLOG_CAT_USER, +1, ...
     * in this order (shmlog_category defines more later). A name that has an
     * id already (built-in, "md", twice) fails shmlog_init with -EEXIST. */
    const char *const *categories;
    /* Levels per category, "md=DEBUG,venue=TRACE" (a name without "=" sets
     * level for every category first); $SHMLOG_LEVELS, when set, is applied
     * after it. NULL: level for all. */
    const char *levels;
    /* Backtrace: calls from backtrace_level up to the live level are kept, the
     * last backtrace_records of each cpu, and written out, flagged, when the
     * process logs at backtrace_trigger or above or a tool asks for them
     * (shmlog-dump backtrace). SHMLOG_LEVEL_OFF (default): off. */
    int backtrace_level;
    int backtrace_trigger;  /* default SHMLOG_LEVEL_ERROR */
    unsigned backtrace_records; /* default 1024 */
    /* The argument bytes one record may carry (0: SHMLOG_DEFAULT_ARG_BYTES, 4236,
     * a 4 KiB string beside the most fixed arguments a call takes);
     * $SHMLOG_ARG_BYTES, when set, wins. Kept between 128 and what an eighth
     * of a ring holds (SHMLOG_MAX_PAYLOAD, 14260, at most). A call whose
     * strings want more shares the room out among them and is marked cut
     * (shm/shmlog_args.h). The cost is the copy: a long string takes a slot
     * per 56 bytes. */
    unsigned arg_bytes;
    unsigned reserved[7];   /* zero */
};

void shmlog_config_init(struct shmlog_config *cfg);
/* 0 on success, -errno on failure (nothing is left behind on failure):
 * -ENOSPC when the segment directory has no room (a full tmpfs), -EFBIG
 * past RLIMIT_FSIZE, never SIGBUS or SIGXFSZ. A ring that cannot be made
 * later drops its cpu's records, counted (no_ring). Log calls are
 * async-signal-safe (shmlog(3), NOTES); the functions are not. */
int shmlog_init(const struct shmlog_config *cfg);
/* Creates the ring of the cpu the caller runs on now, and caches the thread id,
 * so that the first record of a pinned thread takes the hot path. 0 or -errno. */
int shmlog_thread_init(void);
/* Names the calling thread in the files from now on (the records it writes
 * after; shmlog(3) says which before may show it): at most SHMLOG_THREAD_NAME_BYTES
 * of UTF-8, a longer name cut and ending in '~', a control character or a
 * byte that is not UTF-8 written as '?'. shmlog_thread_init names it by its
 * pthread name (pthread_setname_np). Not for the hot path: it takes the lock
 * and a slot of the site table; threads take at most a quarter of it.
 * 0, -EINVAL (empty), -ENODEV (before shmlog_init) or -ENOSPC (no slot left). */
int shmlog_thread_name(const char *name);
/* Stops logging and unmaps; the segments stay for the collector to drain. */
void shmlog_shutdown(void);
/* The live level of every category. */
void shmlog_set_level(int level);
/* The live level of category NONE (of all of them unless set per category). */
int shmlog_get_level(void);
/* The live level of one category: 0 or -EINVAL (no such category or level). */
int shmlog_set_category_level(int category, int level);
int shmlog_get_category_level(int category); /* a level, or -EINVAL */
/* The id of the category called name ("md", "venue"), defining it if it is
 * new: its level is then the one shmlog_set_level last set. -EINVAL for a
 * name that is not [a-z0-9_] of 1..23 bytes, -ENOSPC past
 * SHMLOG_MAX_CATEGORIES. Works before shmlog_init too. */
int shmlog_category(const char *name);
/* Asks the collector to write the records this process keeps as backtrace
 * now, as a trigger would (one store; the collector looks within a few ms).
 * 0, -EINVAL before shmlog_init, -ENOENT when backtrace_level is OFF. */
int shmlog_backtrace_flush(void);
/* Writes, for each rate-limited call site (SHMLOG_LOG_EVERY) that suppressed
 * calls since it last wrote, a record of their number at the site's file and
 * line: "rate limit: suppressed=<n>". shmlog_shutdown() and exit() call it. */
void shmlog_flush_suppressed(void);
/* Records dropped because a ring was full, over all rings of this process. */
uint64_t shmlog_dropped(void);
/* The directory this process's segments are in, or NULL before init. */
const char *shmlog_dir(void);

/* ---- internals the macros need: not part of the API ---- */

#define SHMLOG__MAX_CPUS 1024u

/* Process-local view of a ring: never read back from shared memory, so a
 * corrupted segment cannot steer the producer out of bounds. One cache line
 * per cpu: a thread refreshing one cpu's limit leaves the others' lines alone. */
struct shmlog__ring_local {
    struct shmlog_ring *hdr; /* NULL until created; published with release */
    uint8_t *slots;
    uint64_t mask;
    /* A record may take the positions below limit without reading tail or
     * testing for the ring's end: tail + capacity as this process last read
     * tail (UINT64_MAX on an overwrite ring), and never past the end of the
     * lap head was in (shmlog__inline_limit). A stale, lower limit only costs
     * a slow call. 0 sends every reservation to the slow path (no rseq, a
     * ring that takes nothing). */
    uint64_t limit;
    uint32_t policy;
    uint32_t pad;
} __attribute__((aligned(64)));

extern struct shmlog__ring_local shmlog__rings[SHMLOG__MAX_CPUS];
/* Per category: shmlog_meta.levels, or a table of this process while logging
 * is not set up. */
extern const uint16_t *shmlog__levels;
/* One past the highest category id a call may use: a larger one is out of
 * range (counted, and written as none). */
extern uint32_t shmlog__category_end;
extern __thread uint32_t shmlog__tid __attribute__((tls_model("initial-exec")));
/* The argument bytes a record may hold (struct shmlog_config.arg_bytes, set
 * at init): at least SHMLOG_MAX_ARGS * 8, at most SHMLOG_MAX_PAYLOAD. */
extern size_t shmlog__payload_bound;
/* The strings among the len[0..nargs) of a call, of types, that want more
 * than room, shared out by shmlog_str_share: cuts len, sets cut, returns
 * SHMLOG_REC_TRUNCATED. Out of line: only a call that cuts comes here. */
unsigned shmlog__cut_strings(size_t *len, unsigned *cut, const uint8_t *types, unsigned nargs, size_t room);
/* TSC ticks per millisecond, measured at init: the interval of rate-limited
 * calls. */
extern uint64_t shmlog__tsc_per_ms;
/* The bell of our uid (SHMLOG_BELL_PREFIX in shmlog_abi.h), or NULL: rung
 * where a ring's progress line moves, never on a call that does not move it. */
extern struct shmlog_bell *shmlog__bell;

/* The first call of a site, and every call of a refused one: the site word.
 * Its low 32 bits are the site id + 1, or 0 when the record is not written
 * (logging is not set up, or the site was refused: counted as unregistered;
 * *cache then holds UINT32_MAX there); bit 32 + k says that argument k is the
 * string of a %.*s, bounded by argument k - 1, whether written or not. */
uint64_t shmlog__register_site(uint64_t *cache, int level, int category, const char *file, int line,
                               const char *func, const char *fmt, const char *desc, unsigned nargs,
                               const uint8_t *types);
/* A C++ {} format, whose printf format is made when its site registers
 * (shmlog__fmt_expand): the literal, checked when compiling, and right after
 * this struct the printf conversions of its placeholders, each ended by a NUL.
 * A site's fmt points at none, which reads as an empty format. */
struct shmlog__made_fmt {
    char none;
    const char *braces;
};
/* shmlog__register_site of a site whose format is made. */
uint64_t shmlog__register_site_made(uint64_t *cache, int level, int category, const char *file, int line,
                                    const char *func, const struct shmlog__made_fmt *fmt, const char *desc,
                                    unsigned nargs, const uint8_t *types);
uint8_t *shmlog__reserve_slow(unsigned nslots, size_t payload, uint64_t *pos);
/* Counts a call whose level or category is out of range. */
void shmlog__out_of_range(void);
uint32_t shmlog__tid_slow(void);
int shmlog__thread_init_named(const char *name);
#ifdef __cplusplus
}
/* shmlog_thread_init, naming the thread name instead of its pthread name:
 * the ring's error first, then the name's. */
inline int shmlog_thread_init(const char *name)
{
    return shmlog__thread_init_named(name);
}
#endif

#if defined(__GNUC__)
#define SHMLOG__LIKELY(x) __builtin_expect(!!(x), 1)
#define SHMLOG__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SHMLOG__INLINE static inline __attribute__((always_inline))
#else
#error "shmlog.h needs GCC or Clang"
#endif

/* The TSC's two halves as rdtsc leaves them: a call hands them to its
 * writer as they are, the high half already in the register of the third
 * argument, and the writer joins them. A statement, not a function given
 * the halves' addresses: each call site's inlined function and
 * address-taken locals cost GCC a quarter of the compile of a function
 * with thousands of call sites (bench/RESULTS.md). */
#if defined(__x86_64__) || defined(__i386__)
#define SHMLOG__RDTSC_HALVES(lo, hi) __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi))
#else
#error "shmlog.h needs an x86 TSC"
#endif

SHMLOG__INLINE uint64_t shmlog__rdtsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return SHMLOG__CAST(uint64_t, hi) << 32 | lo;
#else
#error "shmlog.h needs an x86 TSC"
#endif
}

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#include <sys/rseq.h>
#define SHMLOG__HAVE_RSEQ 1
#endif

#if defined(__SANITIZE_THREAD__)
#define SHMLOG__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SHMLOG__TSAN 1
#endif
#endif
#if defined(SHMLOG__TSAN) || defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_HWADDRESS__)
#define SHMLOG__SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(hwaddress_sanitizer) || __has_feature(memory_sanitizer)
#define SHMLOG__SANITIZED 1
#endif
#endif
/* A C string is scanned for its NUL in aligned 16-byte blocks (shmlog__cstr_len),
 * except where a checker would report the bytes past the NUL in its block. */
#if defined(__SSE2__) && !defined(SHMLOG__SANITIZED) && !defined(SHMLOG_SCAN_WITH_MEMCHR)
#include <emmintrin.h>
#define SHMLOG__BLOCK_SCAN 1
#endif
/* ThreadSanitizer cannot see a store made in asm: its builds reserve with the CAS. */
#if defined(SHMLOG__HAVE_RSEQ) && defined(__x86_64__) && !defined(SHMLOG__TSAN)
#define SHMLOG__RSEQ_RESERVE 1
#endif

#ifdef SHMLOG__RSEQ_RESERVE
/* The cpu in this thread's rseq area (rseq_offset: glibc's __rseq_offset).
 * glibc leaves RSEQ_CPU_ID_REGISTRATION_FAILED there in a thread without an
 * rseq registration: never below SHMLOG__MAX_CPUS. */
SHMLOG__INLINE unsigned shmlog__rseq_cpu(ptrdiff_t rseq_offset)
{
    unsigned cpu;
    __asm__ __volatile__("movl %%fs:4(%1), %0" : "=r"(cpu) : "r"(rseq_offset));
    return cpu;
}

/* Stores newv to *v if *v == expect, in a restartable sequence bound to cpu:
 * the kernel aborts it when the thread is preempted, signalled or migrated
 * before the store, so no other writer of this process can come in between
 * and no locked instruction is needed. (A lock prefix waits for the store
 * buffer to drain, i.e. for the cache lines of the previous record, which a
 * busy collector keeps pulling to its own cpu.)
 * 0: stored; 1: *v differed; -1: aborted, or not running on cpu. */
SHMLOG__INLINE int shmlog__rseq_cmpeq_store(uint64_t *v, uint64_t expect, uint64_t newv, unsigned cpu,
                                            ptrdiff_t rseq_offset)
{
    __asm__ __volatile__ goto(
        ".pushsection __rseq_cs, \"aw\"\n\t"
        ".balign 32\n\t"
        "3:\n\t"
        ".long 0x0, 0x0\n\t"              /* version, flags */
        ".quad 1f, (2f - 1f), 4f\n\t"     /* start_ip, post_commit_offset, abort_ip */
        ".popsection\n\t"
        "leaq 3b(%%rip), %%rax\n\t"
        "movq %%rax, %%fs:8(%[off])\n\t"  /* rseq->rseq_cs = &descriptor */
        "1:\n\t"
        "cmpl %[cpu], %%fs:4(%[off])\n\t" /* rseq->cpu_id */
        "jnz 4f\n\t"
        "cmpq %[v], %[expect]\n\t"
        "jnz %l[differs]\n\t"
        "movq %[newv], %[v]\n\t"          /* the commit: the last instruction */
        "2:\n\t"
        ".pushsection __rseq_failure, \"ax\"\n\t"
        ".byte 0x0f, 0xb9, 0x3d\n\t"      /* ud1 <sig>(%%rip), %%edi: the kernel checks ... */
        ".long 0x53053053\n\t"            /* ... glibc's RSEQ_SIG before the abort handler */
        "4:\n\t"
        "jmp %l[aborted]\n\t"
        ".popsection\n\t"
        :
        : [cpu] "r"(cpu), [off] "r"(rseq_offset), [v] "m"(*v), [expect] "r"(expect), [newv] "r"(newv)
        : "memory", "cc", "rax"
        : differs, aborted);
    return 0;
differs:
    return 1;
aborted:
    return -1;
}
#endif

/* Marks the head slot a reservation took as not committed before the
 * record is written: a reader copying it from an overwrite ring must see it
 * change. The continuation slots' commit words are the cursor's (below),
 * stored as it enters each slot, so a record of one slot pays nothing for
 * them. Done on every ring: one store into a line the record writes anyway
 * costs less than reading the ring's policy, and on other rings no reader
 * looks at a slot before it is committed. */
SHMLOG__INLINE void shmlog__slot_open(uint8_t *slot)
{
    shmlog__store_relaxed(&SHMLOG__REINTERPRET(struct shmlog_record *, slot)->commit, 0);
    shmlog__fence_release();
}

/* Stores the reserve head end on the ring's progress line when the
 * reservation of n slots that ends there crossed a sixteenth of the ring: the
 * collector watches that line instead of the head, so a producer pays one
 * line transfer per sixteenth, not one per collector pass. */
SHMLOG__INLINE void shmlog__progress(struct shmlog_ring *h, uint64_t mask, uint64_t end, unsigned n)
{
    if (SHMLOG__UNLIKELY((end & (mask >> SHMLOG_PROGRESS_SHIFT)) < n)) {
        shmlog__store_release(&h->published, end);
        struct shmlog_bell *bell = shmlog__load_relaxed(&shmlog__bell);
        if (bell) /* after published: a collector that sees the bell move sees where the ring got to */
            __atomic_fetch_add(&bell->rung, 1, __ATOMIC_RELEASE);
    }
}

/* Where a record's next payload byte goes, p, and the bytes its slot has left
 * from there: the arguments are written in order, so a slot boundary is a
 * compare and the next slot's commit word, never a division. cont is the
 * position + 1 of the next continuation slot: its word with SHMLOG_COMMIT_CONT. */
struct shmlog__cursor {
    uint8_t *p;
    size_t left;
    uint64_t cont;
};

/* Enters the next continuation slot: its commit word, written before any of
 * its payload, then its first payload byte. */
SHMLOG__INLINE void shmlog__next_slot(struct shmlog__cursor *c)
{
    const uint64_t commit = c->cont++ | SHMLOG_COMMIT_CONT; /* positions run through 2^64 */
    memcpy(c->p, &commit, sizeof commit);
    c->p += offsetof(struct shmlog_cont, payload);
    c->left = SHMLOG_CONT_PAYLOAD;
}

/* Copies n bytes, at most a slot's payload (SHMLOG_CONT_PAYLOAD), with two
 * moves of one fixed size that may overlap (bytes below 4): no call, no loop,
 * no byte read outside src[0..n). GCC makes a memcpy of a variable size a
 * `rep movs`, slow to start, or a call. */
SHMLOG__INLINE void shmlog__copy_short(uint8_t *dst, const uint8_t *src, size_t n)
{
    if (n >= 16) {
        if (n >= 32) {
            memcpy(dst, src, 32);
            memcpy(dst + n - 32, src + n - 32, 32);
        } else {
            memcpy(dst, src, 16);
            memcpy(dst + n - 16, src + n - 16, 16);
        }
    } else if (n >= 4) {
        if (n >= 8) {
            memcpy(dst, src, 8);
            memcpy(dst + n - 8, src + n - 8, 8);
        } else {
            memcpy(dst, src, 4);
            memcpy(dst + n - 4, src + n - 4, 4);
        }
    } else if (n) {
        dst[0] = src[0];
        dst[n / 2] = src[n / 2];
        dst[n - 1] = src[n - 1];
    }
}

/* Appends len bytes to the payload at c, into as many slots as they reach.
 * What a crossing string puts in its first slot is exactly what that slot has
 * left, a constant when the arguments before it are fixed: one copy of known
 * size; then whole slots, each one copy of 56 bytes; then its last piece, the
 * one copy whose size is known only when running. A length is never past the
 * payload bound (shmlog__arg_len): said to GCC, which would otherwise warn of
 * copies past every object (-Wstringop-overflow). */
SHMLOG__INLINE void shmlog__put_bytes(struct shmlog__cursor *c, const void *src, size_t len)
{
    if (len > SHMLOG_MAX_PAYLOAD)
        __builtin_unreachable();
    const uint8_t *s = SHMLOG__CAST(const uint8_t *, src);
    /* Hidden from GCC, which would warn (-Warray-bounds) of the size classes
     * a known short array never takes. */
    __asm__("" : "+r"(s));
    if (SHMLOG__LIKELY(len <= c->left)) {
        shmlog__copy_short(c->p, s, len);
        c->p += len;
        c->left -= len;
        return;
    }
    const size_t here = c->left;
    shmlog__copy_short(c->p, s, here);
    c->p += here;
    s += here;
    len -= here;
    while (SHMLOG__UNLIKELY(len > SHMLOG_CONT_PAYLOAD)) {
        shmlog__next_slot(c);
        memcpy(c->p, s, SHMLOG_CONT_PAYLOAD);
        c->p += SHMLOG_CONT_PAYLOAD;
        s += SHMLOG_CONT_PAYLOAD;
        len -= SHMLOG_CONT_PAYLOAD;
    }
    if (len == 0) /* it never is: the string crossed into this slot */
        __builtin_unreachable();
    shmlog__next_slot(c);
    shmlog__copy_short(c->p, s, len);
    c->p += len;
    c->left = SHMLOG_CONT_PAYLOAD - len;
}

/* Appends an argument of n fixed bytes (1, 2, 4 or 8: the low bytes of v,
 * little-endian): one store while its slot has room, else its two pieces
 * around the one boundary it can cross (n < SHMLOG_CONT_PAYLOAD), two stores
 * when the offset is known when compiling. */
SHMLOG__INLINE void shmlog__put_fixed(struct shmlog__cursor *c, uint64_t v, size_t n)
{
    if (SHMLOG__LIKELY(n <= c->left)) {
        memcpy(c->p, &v, n);
        c->p += n;
        c->left -= n;
    } else {
        const size_t here = c->left;
        if (here >= n || n > 8) /* so GCC sees both pieces inside v (-Warray-bounds) */
            __builtin_unreachable();
        memcpy(c->p, &v, here);
        c->p += here;
        shmlog__next_slot(c);
        memcpy(c->p, SHMLOG__REINTERPRET(const uint8_t *, &v) + here, n - here);
        c->p += n - here;
        c->left -= n - here;
    }
}

/* The bound a `*` precision puts on a string argument: SIZE_MAX unless the
 * argument is a string after an integer (both known when compiling) and bit
 * 32 + idx of the site word says the format has a %.*s there. The precision is
 * read as printf reads it, an int, negative meaning none. */
SHMLOG__INLINE size_t shmlog__prec_bound(unsigned t, unsigned prev_t, uint64_t prev_v, uint64_t site, unsigned idx)
{
    if (t != SHMLOG_ARG_STR || prev_t < SHMLOG_ARG_BOOL || prev_t > SHMLOG_ARG_U64)
        return SIZE_MAX;
    if (!((site >> (32 + idx)) & 1))
        return SIZE_MAX;
    int32_t p = SHMLOG__CAST(int32_t, SHMLOG__CAST(uint32_t, prev_v));
    return p < 0 ? SIZE_MAX : SHMLOG__CAST(size_t, p);
}

/* The bytes of s before its NUL, or limit when none of its first limit bytes
 * is the NUL: memchr, which reads no byte past them. */
SHMLOG__INLINE size_t shmlog__bounded_len(const char *s, size_t limit)
{
    if (limit > SHMLOG_MAX_PAYLOAD + 1) /* it never is: said to GCC (-Wstringop-overread) */
        __builtin_unreachable();
    /* Hidden from GCC, which would reject the bound (-Wstringop-overread) for
     * a known array shorter than the room; strnlen is not ISO C. */
    __asm__("" : "+r"(s));
    const char *nul = SHMLOG__CAST(const char *, memchr(s, 0, limit));
    return nul ? SHMLOG__CAST(size_t, nul - s) : limit;
}

/* The bytes of a C string s before its NUL when they are fewer than limit,
 * else a count of at least limit (what the caller cuts to its room either
 * way), without memchr's call through the PLT (the scan was ~3 ns of a
 * 45-byte string's call: bench/RESULTS.md). The guarantee: the aligned
 * 16-byte blocks from the one that holds s[0] to the first that holds its NUL
 * or s[limit - 1] are read, so the bytes after the NUL in its block too, as
 * the C library's strlen reads them, but a block never crosses a page: no
 * byte is read in a page the string does not reach. Checkers would report
 * those bytes: sanitizer builds, and a program that defines
 * SHMLOG_SCAN_WITH_MEMCHR (for valgrind), read none past the NUL. */
SHMLOG__INLINE size_t shmlog__cstr_len(const char *s, size_t limit)
{
#ifdef SHMLOG__BLOCK_SCAN
    __asm__("" : "+r"(s)); /* GCC sees no object the aligned loads could overrun (-Warray-bounds) */
    const uintptr_t at = SHMLOG__REINTERPRET(uintptr_t, s);
    const unsigned skip = SHMLOG__CAST(unsigned, at & 15u);
    const __m128i *block = SHMLOG__REINTERPRET(const __m128i *, at - skip);
    const __m128i zero = _mm_setzero_si128();
    /* The NULs of the first block, those before s masked off: each block's
     * offset from s plus its first NUL is the length. */
    unsigned nuls = SHMLOG__CAST(unsigned, _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_load_si128(block), zero))) &
                    (0xFFFFu << skip);
    const uintptr_t end = at + limit; /* past s[limit - 1]: no block at or after it is read */
    while (!nuls) {
        ++block;
        if (SHMLOG__REINTERPRET(uintptr_t, block) >= end)
            return limit;
        nuls = SHMLOG__CAST(unsigned, _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_load_si128(block), zero)));
    }
    return SHMLOG__REINTERPRET(uintptr_t, block) - at + SHMLOG__CAST(unsigned, __builtin_ctz(nuls));
#else
    return shmlog__bounded_len(s, limit);
#endif
}

/* The bytes of a string argument of value bits v: a null C string's are
 * "(null)", as glibc's printf prints it (taken here, out of the call site). */
SHMLOG__INLINE const char *shmlog__str_at(uint64_t v)
{
    const char *s = SHMLOG__REINTERPRET(const char *, v);
    return s ? s : "(null)";
}

/* Bytes argument (type t, value bits v) takes in the payload besides a
 * string's header; a string's is what it wants of room, the bytes the fixed
 * ones leave: its size (a C++ string object), or for a C string (len
 * SIZE_MAX) the bytes before its NUL, scanned; max is a precision that bounds
 * either (SIZE_MAX: none), and no byte past it is read. A string that does
 * not fit room comes out as room + 1 (at least): the caller, seeing its
 * strings want more than room, shares room out (shmlog__cut_strings). */
SHMLOG__INLINE size_t shmlog__arg_len(unsigned t, uint64_t v, size_t len, size_t max, size_t room)
{
    if (t != SHMLOG_ARG_STR)
        return shmlog_arg_width(t);
    const char *s = shmlog__str_at(v);
    size_t n = 0;
    if (len != SIZE_MAX)
        n = len < max ? len : max; /* never a byte past the object's size */
    else if (max == SIZE_MAX)
        n = shmlog__cstr_len(s, room + 1);
    else
        n = shmlog__bounded_len(s, max <= room ? max : room + 1);
    return n <= room ? n : room + 1;
}

/* A fixed-width argument of width bytes (1, 2, 4 or 8): each width one store
 * of its own size, also where the width is known only when running. */
SHMLOG__INLINE void shmlog__put_width(struct shmlog__cursor *c, uint64_t v, size_t width)
{
    switch (width) {
    case 1: shmlog__put_fixed(c, v, 1); break;
    case 2: shmlog__put_fixed(c, v, 2); break;
    case 4: shmlog__put_fixed(c, v, 4); break;
    default: shmlog__put_fixed(c, v, 8); break;
    }
}

SHMLOG__INLINE void shmlog__put_arg(struct shmlog__cursor *c, unsigned t, uint64_t v, size_t len, unsigned cut)
{
    if (t != SHMLOG_ARG_STR) {
        shmlog__put_width(c, v, len);
        return;
    }
    shmlog__put_fixed(c, shmlog_str_header(len, cut), SHMLOG_STR_HEADER_BYTES);
    shmlog__put_bytes(c, shmlog__str_at(v), len);
}

/* Asks for the ring lines after a record, for writing, while the record is
 * written: the next calls find their lines owned instead of each waiting for
 * its own (the collector read them last, a lap ago). Four lines after a
 * record known to take one slot; eight after the second slot of one that may
 * take several (a string's), which uses its lines up faster (a longer record
 * asks for some of its own). Offsets from the head slot cost no arithmetic.
 * Past the ring's end (once a lap) it asks for lines it will not write: a
 * prefetch never faults. The figures: bench/peers.sh, bench/call.sh,
 * bench/RESULTS.md. */
SHMLOG__INLINE void shmlog__prefetch_next(const uint8_t *slot, unsigned nslots)
{
    if (__builtin_constant_p(nslots) && nslots == 1)
        __asm__ __volatile__("prefetchw %0\n\tprefetchw %1\n\tprefetchw %2\n\tprefetchw %3"
                             : : "m"(slot[64]), "m"(slot[128]), "m"(slot[192]), "m"(slot[256]));
    else
        __asm__ __volatile__("prefetchw %0\n\tprefetchw %1\n\tprefetchw %2\n\tprefetchw %3\n\t"
                             "prefetchw %4\n\tprefetchw %5\n\tprefetchw %6\n\tprefetchw %7"
                             : : "m"(slot[128]), "m"(slot[192]), "m"(slot[256]), "m"(slot[320]),
                               "m"(slot[384]), "m"(slot[448]), "m"(slot[512]), "m"(slot[576]));
}

/* Reserves the slots of a record of `payload` bytes on the ring of this cpu:
 * the head slot, or NULL when the record is dropped. Inline is only the
 * common case of the rseq build: the thread's cpu has a ring, the ring has
 * room below limit and the restartable store goes through. Everything else
 * (no rseq, a ring to create, a full ring, a record that wraps, a thread
 * that moved) is shmlog__reserve_slow's. Every instruction here counts: those
 * after the TSC read retire only once it completes. */
SHMLOG__INLINE uint8_t *shmlog__reserve(unsigned nslots, size_t payload, uint64_t *pos)
{
#ifdef SHMLOG__RSEQ_RESERVE
    /* A thread without rseq fails the first test. A process without rseq
     * reserves with a CAS, which this store must never race: every limit is
     * 0 there (shmlog__publish_ring). */
    const ptrdiff_t rseq_offset = __rseq_offset;
    unsigned cpu = shmlog__rseq_cpu(rseq_offset);
    if (SHMLOG__LIKELY(cpu < SHMLOG__MAX_CPUS)) {
        struct shmlog__ring_local *r = &shmlog__rings[cpu];
        /* Acquire pairs with the release that publishes a new ring's descriptor. */
        struct shmlog_ring *h = shmlog__load_acquire(&r->hdr);
        if (SHMLOG__LIKELY(h != NULL)) {
            /* Read once, before the restartable store: they never change once
             * hdr is published, and the store's memory clobber would reload them. */
            uint8_t *const slots = r->slots;
            const uint64_t mask = r->mask;
            uint64_t head = shmlog__load_relaxed(&h->head);
            /* Acquire pairs with the release of limit: the thread that read
             * tail for it passes on its acquire of the collector's release.
             * Below limit, the record also ends in head's lap: no pad. */
            if (SHMLOG__LIKELY(head + nslots <= shmlog__load_acquire(&r->limit)) &&
                SHMLOG__LIKELY(shmlog__rseq_cmpeq_store(&h->head, head, head + nslots, cpu, rseq_offset) == 0)) {
                uint8_t *slot = slots + ((head & mask) << 6); /* after the store: one register less across it */
                if (!slot) /* only the null ring has none, and its limit is 0: tells GCC */
                    __builtin_unreachable();
                shmlog__progress(h, mask, head + nslots, nslots);
                shmlog__prefetch_next(slot, nslots);
                shmlog__slot_open(slot);
                *pos = head;
                return slot;
            }
        }
    }
#endif
    uint64_t slow_pos; /* pos stays in a register on the inline path */
    uint8_t *slot = shmlog__reserve_slow(nslots, payload, &slow_pos);
    *pos = slow_pos;
    return slot;
}

/* Everything of a record but its arguments: the reservation and the header.
 * site is a registered site's id + 1; lcf its level, category << 8 and
 * SHMLOG_REC_* flags << 16. NULL when dropped. */
SHMLOG__INLINE uint8_t *shmlog__begin_lcf(uint64_t tsc, uint32_t site, uint32_t lcf, size_t payload, uint64_t *pos)
{
    const unsigned nslots = shmlog_slots_for_record_payload(payload);
    uint8_t *head = shmlog__reserve(nslots, payload, pos);
    if (SHMLOG__UNLIKELY(!head))
        return NULL;
    uint32_t tid = shmlog__tid;
    if (SHMLOG__UNLIKELY(!tid))
        tid = shmlog__tid_slow();
    struct shmlog_record *rec = SHMLOG__REINTERPRET(struct shmlog_record *, head);
    rec->tsc = tsc;
    rec->site = site - 1;
    rec->tid = tid;
    /* nslots, level, category and flags in one store (their order: shmlog_abi.h) */
    const uint32_t word = nslots | lcf << 8;
    memcpy(&rec->nslots, &word, sizeof word);
    return head;
}
SHMLOG__STATIC_ASSERT(offsetof(struct shmlog_record, level) == offsetof(struct shmlog_record, nslots) + 1 &&
                          offsetof(struct shmlog_record, category) == offsetof(struct shmlog_record, nslots) + 2 &&
                          offsetof(struct shmlog_record, flags) == offsetof(struct shmlog_record, nslots) + 3,
                      "a record's nslots, level, category and flags are one little-endian word");

/* shmlog__begin_lcf with the level, category and flags apart. */
SHMLOG__INLINE uint8_t *shmlog__begin(uint64_t tsc, uint32_t site, unsigned lvl, unsigned cat, size_t payload,
                                      unsigned flags, uint64_t *pos)
{
    return shmlog__begin_lcf(tsc, site, (lvl & 0xFFu) | (cat & 0xFFu) << 8 | (flags & 0xFFu) << 16, payload, pos);
}

/* shmlog__begin for a log call: lcf is its level, category << 8 and flags
 * << 16, site its site word, trunc its cut flag. A call taken below its
 * category's live level is marked backtrace here, not at its site: the
 * level is read again, from the line the call's test has just read. */
SHMLOG__INLINE uint8_t *shmlog__begin_call(uint64_t tsc, uint64_t site, unsigned lcf, size_t payload, unsigned trunc,
                                           uint64_t *pos)
{
    const unsigned lvl = lcf & 0xFFu, cat = lcf >> 8 & 0xFFu;
    const unsigned live = SHMLOG__CAST(unsigned, shmlog__load_relaxed(&shmlog__load_relaxed(&shmlog__levels)[cat]) >> 8);
    const unsigned flags = trunc | (lvl < live ? SHMLOG_REC_BACKTRACE : 0u);
    return shmlog__begin_lcf(tsc, SHMLOG__CAST(uint32_t, site), lcf | flags << 16, payload, pos);
}

SHMLOG__INLINE void shmlog__commit(uint8_t *head, uint64_t pos)
{
    /* Release pairs with the reader's acquire of commit: the whole record is
     * visible before the reader can see it committed. */
    shmlog__store_release(&SHMLOG__REINTERPRET(struct shmlog_record *, head)->commit, pos + 1);
}

/* What a site's registration reads of its static record, C's and C++'s the same. */
#define SHMLOG__SITE_REGISTERS \
    unsigned nargs;            \
    int line;                  \
    const char *file;          \
    const char *func;          \
    const char *fmt;           \
    const char *desc;          \
    const uint8_t *types;

/* A call site's static: its site word (shmlog__register_site's cache),
 * which every C call reads, beside what the C writer reads with it, then what
 * registering the site takes. A C call hands the writer its address alone
 * (a C++ call, a struct shmlog__site_ref's). */
struct shmlog__site {
    uint64_t word;
    /* The C writer's layout of the arguments, worked out from the types on
     * the site's first registration (shmlog__lay_out; C++'s writers have
     * theirs in their code: zero there): argument i's width is
     * 1 << (widths >> 2i & 3) bytes unless bit i of strings says it is a
     * string; fixed is what they take whatever their values;
     * first_string_at is where the first string's address is in the image. */
    uint64_t widths;
    uint32_t strings;
    uint16_t fixed;
    uint8_t first_string_at;
    /* the argument count; a C site's << 16, below it its call's level and
     * category << 8 when they are constants (SHMLOG__SITE_NARGS) */
    SHMLOG__SITE_REGISTERS
};

/* Whether a site word still needs registering: one test for both 0 (not
 * registered yet) and UINT32_MAX (refused). */
SHMLOG__INLINE int shmlog__site_unregistered(uint64_t site)
{
    return SHMLOG__CAST(uint32_t, site) - 1u >= UINT32_MAX - 1u;
}

/* The cursor at the first payload byte of the record at head, at ring
 * position pos. */
SHMLOG__INLINE struct shmlog__cursor shmlog__cursor_at(uint8_t *head, uint64_t pos)
{
    struct shmlog__cursor at;
    at.p = head + offsetof(struct shmlog_record, payload);
    at.left = SHMLOG_HEAD_PAYLOAD;
    at.cont = pos + 2u;
    return at;
}

#ifdef __cplusplus
/* In a C++ site's nargs: its fmt points at a struct shmlog__made_fmt. */
#define SHMLOG__SITE_MADE_FMT 0x80000000u
/* A C++ call's static record of itself: what its registration reads, a C
 * site's fields without the word and the layout, which its signature's
 * writer has in its code (48 bytes, not 80, and five initialisers fewer for
 * the compiler at each site). */
struct shmlog__cxx_site {
    SHMLOG__SITE_REGISTERS /* nargs with SHMLOG__SITE_MADE_FMT when fmt is a shmlog__made_fmt's */
};
/* What a C++ call hands its writer: its site word, the one datum of the site
 * every call reads, beside its static record of itself, which is const and
 * so in another section: the words of many sites share cache lines, as a
 * word inside each record would not. */
struct __attribute__((aligned(16))) shmlog__site_ref {
    uint64_t word;
    const struct shmlog__cxx_site *site;
};
/* A site's first call registers it, out of line: inlined, GCC loads the
 * static's address in every call, ahead of the branch that needs it. */
inline __attribute__((noinline, cold)) uint64_t shmlog__site_register_ref(struct shmlog__site_ref *ref, unsigned lcf)
{
    const struct shmlog__cxx_site *s = ref->site;
    if (s->nargs & SHMLOG__SITE_MADE_FMT)
        return shmlog__register_site_made(&ref->word, static_cast<int>(lcf & 0xFFu), static_cast<int>(lcf >> 8 & 0xFFu),
                                          s->file, s->line, s->func, reinterpret_cast<const struct shmlog__made_fmt *>(s->fmt),
                                          s->desc, s->nargs & ~SHMLOG__SITE_MADE_FMT, s->types);
    return shmlog__register_site(&ref->word, static_cast<int>(lcf & 0xFFu), static_cast<int>(lcf >> 8 & 0xFFu), s->file,
                                 s->line, s->func, s->fmt, s->desc, s->nargs, s->types);
}
/* The site word of a call (shmlog__register_site's), the site registered on
 * its first call; its low 32 bits are 0 when the record is not written. */
SHMLOG__INLINE uint64_t shmlog__site_word(struct shmlog__site_ref *ref, unsigned lcf)
{
    uint64_t site = shmlog__load_acquire(&ref->word);
    if (SHMLOG__UNLIKELY(shmlog__site_unregistered(site)))
        site = shmlog__site_register_ref(ref, lcf);
    return site;
}
/* The most bytes of a value tree a C++ call encodes on its own stack: a
 * longer one is measured, then written straight into the record, so that a
 * call of trees takes little of its thread's stack. */
#define SHMLOG_TREE_INLINE_BYTES 256u
/* Writes the first len bytes of the value tree at obj at a record's cursor
 * (shmlog_detail::write_tree, one for each type). */
typedef void (*shmlog__tree_writer)(uint64_t obj, struct shmlog__cursor *at, size_t len);

/* The argument count as shmlog__write_args' template argument, 0 where it
 * takes the count as its argument: Clang optimises that body on its own
 * before inlining it into a signature's writer, and keeps the loops of a
 * count it does not know then as loops over the type table (its 3-argument
 * call: 269 instructions against 83); GCC unrolls them in the writer either
 * way, and one body costs it less to compile than one a count. */
#if defined(__clang__)
#define SHMLOG__KNOWN_NARGS(n) (n)
#else
#define SHMLOG__KNOWN_NARGS(n) 0u
#endif

/* A C++ call's record, once its level passed and its TSC was read:
 * registers the site on its first call, measures the arguments (their value
 * bits v; a string object's size in n), reserves the slots, writes and
 * commits. One body, out of line, shared by the call sites of a signature
 * (shmlog_detail::write_params), its types known when compiling: the loops
 * over the arguments unrolled, each argument's code is straight-line. lcf:
 * the level, the category << 8 and the record flags << 16. Argument i of
 * bit i of direct is a value tree at objs[i], written by trees[i] instead of
 * its bytes being copied. */
template <unsigned known_nargs>
SHMLOG__INLINE void shmlog__write_args(struct shmlog__site_ref *s, uint64_t tsc, unsigned lcf, unsigned call_nargs,
                                       const uint8_t *types, const uint64_t *v, const uint64_t *n,
                                       const shmlog__tree_writer *trees, uint32_t direct, const uintptr_t *objs)
{
    const unsigned nargs = known_nargs ? known_nargs : call_nargs;
    if (nargs > SHMLOG_MAX_ARGS) /* it never is: said to GCC (-Warray-bounds) */
        __builtin_unreachable();
    const uint64_t site = shmlog__site_word(s, lcf);
    if (SHMLOG__UNLIKELY(SHMLOG__CAST(uint32_t, site) == 0)) /* not written */
        return;
    size_t fixed = 0;
    _Pragma("GCC unroll 32")
    for (unsigned i = 0; i < nargs; i++)
        fixed += shmlog_arg_fixed_bytes(types[i]);
    const size_t room = shmlog__load_relaxed(&shmlog__payload_bound) - fixed;
    /* each of the first nargs set below, not the whole arrays: zeroing 32
     * of each costs every call more than its arguments do */
    size_t len[SHMLOG_MAX_ARGS];
    unsigned cut[SHMLOG_MAX_ARGS];
    unsigned trunc = 0;
    size_t strs = 0;
    _Pragma("GCC unroll 32")
    for (unsigned i = 0; i < nargs; i++) {
        /* a string after an integer may be a %.*s bounded by it */
        const size_t max = i ? shmlog__prec_bound(types[i], types[i - 1], v[i - 1], site, i) : SIZE_MAX;
        len[i] = shmlog__arg_len(types[i], v[i], SHMLOG__CAST(size_t, n[i]), max, room);
        cut[i] = 0;
        if (types[i] == SHMLOG_ARG_STR)
            strs += len[i];
    }
    if (SHMLOG__UNLIKELY(strs > room)) {
        trunc = shmlog__cut_strings(len, cut, types, nargs, room);
        strs = room;
    }
    uint64_t pos = 0; /* set with every head; GCC cannot see it */
    uint8_t *head = shmlog__begin_call(tsc, site, lcf, fixed + strs, trunc, &pos);
    if (SHMLOG__UNLIKELY(!head))
        return;
    struct shmlog__cursor at = shmlog__cursor_at(head, pos);
    _Pragma("GCC unroll 32")
    for (unsigned i = 0; i < nargs; i++) {
        if (trees && trees[i] && (direct >> i & 1)) {
            shmlog__put_fixed(&at, shmlog_str_header(len[i], cut[i]), SHMLOG_STR_HEADER_BYTES);
            trees[i](objs[i], &at, len[i]);
        } else {
            shmlog__put_arg(&at, types[i], v[i], len[i], cut[i]);
        }
    }
    shmlog__commit(head, pos);
}
#endif

/* A C call's site and its level, category << 8 and flags << 16, where they
 * are not constants (SHMLOG__SITE_ARG). */
struct shmlog__call {
    struct shmlog__site *site;
    unsigned lcf;
};

#ifdef __cplusplus
extern "C" {
#endif
/* The writer of every C call, the same work as shmlog__write_args driven
 * by the layout the site worked out when compiling (its widths, strings and
 * fixed bytes), so that no step looks at an argument's type. */
void shmlog__write(struct shmlog__site *s, uint32_t tsc_lo, uint32_t tsc_hi, unsigned lcf, const uint8_t *image);
/* A C call of n <= 8 arguments, each one word (SHMLOG__A_WORD): the same
 * work, its TSC read and its image laid out from the words first, so that
 * the words take the registers the TSC's halves would. site is the call's
 * struct shmlog__site, which holds its level, category and flags, or, where
 * they are not constants, one past the address of a struct shmlog__call
 * (SHMLOG__SITE_ARG): a call of constant levels passes its words alone. */
void shmlog__write_w0(void *site);
void shmlog__write_w1(void *site, uint64_t a1);
void shmlog__write_w2(void *site, uint64_t a1, uint64_t a2);
void shmlog__write_w3(void *site, uint64_t a1, uint64_t a2, uint64_t a3);
void shmlog__write_w4(void *site, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4);
void shmlog__write_w5(void *site, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);
void shmlog__write_w6(void *site, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6);
void shmlog__write_w7(void *site, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7);
void shmlog__write_w8(void *site, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8);
#ifdef __cplusplus
}
#endif

/* ---- argument capture ----
 *
 * Each argument of a call is evaluated once: in C into shmlog__r<i>, a local
 * that everything else reads (the type table, the format check and the
 * record); in C++ as the writer's argument, after the types of all of them
 * (shmlog__args, a shmlog_detail::call_args) were taken without evaluating
 * them (SHMLOG__WITH_ARGS). So a diagnostic about the
 * argument is printed once. From it come its type code, 64 value bits and a
 * length: the size of a C++ string object, SIZE_MAX for a C string (scanned
 * for its NUL). */

#ifndef __cplusplus
#define SHMLOG__UNSUPPORTED \
    "shmlog: unsupported argument type: pass an integer, enum, bool, floating point, pointer or C string"

#define SHMLOG__INT_TYPE(T, S) (sizeof(T) == 8 ? (S##64) : sizeof(T) == 4 ? (S##32) : sizeof(T) == 2 ? (S##16) : (S##8))
/* The codes of the types whose width depends on the target, named once so
 * that each argument's _Generic below is short. */
enum {
    SHMLOG__ARG_CHAR = CHAR_MIN < 0 ? SHMLOG_ARG_I8 : SHMLOG_ARG_U8,
    SHMLOG__ARG_LONG = SHMLOG__INT_TYPE(long, SHMLOG_ARG_I),
    SHMLOG__ARG_ULONG = SHMLOG__INT_TYPE(long, SHMLOG_ARG_U)
};
/* What a type code t is compared as: GCC warns of a comparison between the
 * call's anonymous enum and enum shmlog_arg_type (-Wenum-compare) unless it is
 * made unsigned; Clang does not, and the addition costs it 0.3 M instructions
 * a C site. */
#if defined(__clang__)
#define SHMLOG__CODE
#else
#define SHMLOG__CODE 0u +
#endif
/* C: each argument evaluated into a local of the call's block, then the record. */
#define SHMLOG__WITH_ARGS(n, levels, ...) \
    SHMLOG__CAT2(SHMLOG__EVAL_, n)(__VA_ARGS__) SHMLOG__WRITE(n, levels, SHMLOG__FIRST(__VA_ARGS__))
/* SHMLOG__EVAL_<n>(fmt, a1..an): SHMLOG__A_EVAL of each argument with the names of its
 * locals written out, as SHMLOG__UPTO hands them on: a name pasted by ## costs Clang more
 * than one written out. */
#define SHMLOG__EVAL_0(f)
#define SHMLOG__EVAL_1(f, a1) SHMLOG__A_EVAL(shmlog__t1, shmlog__r1, a1)
#define SHMLOG__EVAL_2(f, a1, a2) SHMLOG__A_EVAL(shmlog__t1, shmlog__r1, a1) SHMLOG__A_EVAL(shmlog__t2, shmlog__r2, a2)
#define SHMLOG__EVAL_3(f, a1, a2, a3) \
    SHMLOG__A_EVAL(shmlog__t1, shmlog__r1, a1) SHMLOG__A_EVAL(shmlog__t2, shmlog__r2, a2) SHMLOG__A_EVAL(shmlog__t3, shmlog__r3, a3)
#define SHMLOG__EVAL_4(f, a1, a2, a3, a4) \
    SHMLOG__A_EVAL(shmlog__t1, shmlog__r1, a1) SHMLOG__A_EVAL(shmlog__t2, shmlog__r2, a2) SHMLOG__A_EVAL(shmlog__t3, shmlog__r3, a3) SHMLOG__A_EVAL(shmlog__t4, shmlog__r4, a4)
#define SHMLOG__EVAL_5(f, a1, a2, a3, a4, a5) \
    SHMLOG__A_EVAL(shmlog__t1, shmlog__r1, a1) SHMLOG__A_EVAL(shmlog__t2, shmlog__r2, a2) SHMLOG__A_EVAL(shmlog__t3, shmlog__r3, a3) SHMLOG__A_EVAL(shmlog__t4, shmlog__r4, a4) SHMLOG__A_EVAL(shmlog__t5, shmlog__r5, a5)
#define SHMLOG__EVAL_6(f, a1, a2, a3, a4, a5, a6) \
    SHMLOG__A_EVAL(shmlog__t1, shmlog__r1, a1) SHMLOG__A_EVAL(shmlog__t2, shmlog__r2, a2) SHMLOG__A_EVAL(shmlog__t3, shmlog__r3, a3) SHMLOG__A_EVAL(shmlog__t4, shmlog__r4, a4) SHMLOG__A_EVAL(shmlog__t5, shmlog__r5, a5) SHMLOG__A_EVAL(shmlog__t6, shmlog__r6, a6)
#define SHMLOG__EVAL_7(f, a1, a2, a3, a4, a5, a6, a7) \
    SHMLOG__A_EVAL(shmlog__t1, shmlog__r1, a1) SHMLOG__A_EVAL(shmlog__t2, shmlog__r2, a2) SHMLOG__A_EVAL(shmlog__t3, shmlog__r3, a3) SHMLOG__A_EVAL(shmlog__t4, shmlog__r4, a4) SHMLOG__A_EVAL(shmlog__t5, shmlog__r5, a5) SHMLOG__A_EVAL(shmlog__t6, shmlog__r6, a6) SHMLOG__A_EVAL(shmlog__t7, shmlog__r7, a7)
#define SHMLOG__EVAL_8(f, a1, a2, a3, a4, a5, a6, a7, a8) \
    SHMLOG__A_EVAL(shmlog__t1, shmlog__r1, a1) SHMLOG__A_EVAL(shmlog__t2, shmlog__r2, a2) SHMLOG__A_EVAL(shmlog__t3, shmlog__r3, a3) SHMLOG__A_EVAL(shmlog__t4, shmlog__r4, a4) SHMLOG__A_EVAL(shmlog__t5, shmlog__r5, a5) SHMLOG__A_EVAL(shmlog__t6, shmlog__r6, a6) SHMLOG__A_EVAL(shmlog__t7, shmlog__r7, a7) SHMLOG__A_EVAL(shmlog__t8, shmlog__r8, a8)
#define SHMLOG__EVAL_9(f, a1, a2, a3, a4, a5, a6, a7, a8, a9) \
    SHMLOG__EVAL_8(f, a1, a2, a3, a4, a5, a6, a7, a8) SHMLOG__A_EVAL(shmlog__t9, shmlog__r9, a9)
#define SHMLOG__EVAL_10(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10) \
    SHMLOG__EVAL_9(f, a1, a2, a3, a4, a5, a6, a7, a8, a9) SHMLOG__A_EVAL(shmlog__t10, shmlog__r10, a10)
#define SHMLOG__EVAL_11(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) \
    SHMLOG__EVAL_10(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10) SHMLOG__A_EVAL(shmlog__t11, shmlog__r11, a11)
#define SHMLOG__EVAL_12(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12) \
    SHMLOG__EVAL_11(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) SHMLOG__A_EVAL(shmlog__t12, shmlog__r12, a12)
#define SHMLOG__EVAL_13(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13) \
    SHMLOG__EVAL_12(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12) SHMLOG__A_EVAL(shmlog__t13, shmlog__r13, a13)
#define SHMLOG__EVAL_14(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14) \
    SHMLOG__EVAL_13(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13) SHMLOG__A_EVAL(shmlog__t14, shmlog__r14, a14)
#define SHMLOG__EVAL_15(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15) \
    SHMLOG__EVAL_14(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14) SHMLOG__A_EVAL(shmlog__t15, shmlog__r15, a15)
#define SHMLOG__EVAL_16(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16) \
    SHMLOG__EVAL_15(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15) SHMLOG__A_EVAL(shmlog__t16, shmlog__r16, a16)
#define SHMLOG__EVAL_17(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17) \
    SHMLOG__EVAL_16(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16) SHMLOG__A_EVAL(shmlog__t17, shmlog__r17, a17)
#define SHMLOG__EVAL_18(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18) \
    SHMLOG__EVAL_17(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17) SHMLOG__A_EVAL(shmlog__t18, shmlog__r18, a18)
#define SHMLOG__EVAL_19(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19) \
    SHMLOG__EVAL_18(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18) SHMLOG__A_EVAL(shmlog__t19, shmlog__r19, a19)
#define SHMLOG__EVAL_20(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20) \
    SHMLOG__EVAL_19(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19) SHMLOG__A_EVAL(shmlog__t20, shmlog__r20, a20)
#define SHMLOG__EVAL_21(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21) \
    SHMLOG__EVAL_20(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20) SHMLOG__A_EVAL(shmlog__t21, shmlog__r21, a21)
#define SHMLOG__EVAL_22(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22) \
    SHMLOG__EVAL_21(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21) SHMLOG__A_EVAL(shmlog__t22, shmlog__r22, a22)
#define SHMLOG__EVAL_23(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23) \
    SHMLOG__EVAL_22(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22) SHMLOG__A_EVAL(shmlog__t23, shmlog__r23, a23)
#define SHMLOG__EVAL_24(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24) \
    SHMLOG__EVAL_23(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23) SHMLOG__A_EVAL(shmlog__t24, shmlog__r24, a24)
#define SHMLOG__EVAL_25(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25) \
    SHMLOG__EVAL_24(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24) SHMLOG__A_EVAL(shmlog__t25, shmlog__r25, a25)
#define SHMLOG__EVAL_26(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26) \
    SHMLOG__EVAL_25(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25) SHMLOG__A_EVAL(shmlog__t26, shmlog__r26, a26)
#define SHMLOG__EVAL_27(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27) \
    SHMLOG__EVAL_26(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26) SHMLOG__A_EVAL(shmlog__t27, shmlog__r27, a27)
#define SHMLOG__EVAL_28(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28) \
    SHMLOG__EVAL_27(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27) SHMLOG__A_EVAL(shmlog__t28, shmlog__r28, a28)
#define SHMLOG__EVAL_29(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29) \
    SHMLOG__EVAL_28(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28) SHMLOG__A_EVAL(shmlog__t29, shmlog__r29, a29)
#define SHMLOG__EVAL_30(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30) \
    SHMLOG__EVAL_29(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29) SHMLOG__A_EVAL(shmlog__t30, shmlog__r30, a30)
#define SHMLOG__EVAL_31(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31) \
    SHMLOG__EVAL_30(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30) SHMLOG__A_EVAL(shmlog__t31, shmlog__r31, a31)
#define SHMLOG__EVAL_32(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32) \
    SHMLOG__EVAL_31(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31) SHMLOG__A_EVAL(shmlog__t32, shmlog__r32, a32)
/* Argument x evaluated into its local r, and its type code t, a constant of
 * the call's block worked out once: the record's type code for what it
 * holds (an enum is its integer type; pointers are __builtin_classify_type
 * 5; SHMLOG_ARG_NONE for structs, unions, ...), and all the site holds of
 * the argument: its layout is worked out from the codes when the site
 * registers, so a call's expansion stays short (the front ends' time goes by
 * its tokens; GCC keeps every token's macro location). The _Generic is
 * written out here, as a macro level more costs Clang. */
#define SHMLOG__A_EVAL(t, r, x)                                                               \
    __extension__ __auto_type r = (x);                                                        \
    enum { t = _Generic((r),                                                                  \
        _Bool: SHMLOG_ARG_BOOL,                                                               \
        char: SHMLOG__ARG_CHAR,                                                               \
        signed char: SHMLOG_ARG_I8, unsigned char: SHMLOG_ARG_U8,                             \
        short: SHMLOG_ARG_I16, unsigned short: SHMLOG_ARG_U16,                                \
        int: SHMLOG_ARG_I32, unsigned int: SHMLOG_ARG_U32,                                    \
        long: SHMLOG__ARG_LONG, unsigned long: SHMLOG__ARG_ULONG,                             \
        long long: SHMLOG_ARG_I64, unsigned long long: SHMLOG_ARG_U64,                        \
        float: SHMLOG_ARG_F32, double: SHMLOG_ARG_F64, long double: SHMLOG_ARG_F64,           \
        char *: SHMLOG_ARG_STR, const char *: SHMLOG_ARG_STR,                                 \
        default: (__builtin_classify_type(r) == 5 ? SHMLOG_ARG_PTR : SHMLOG_ARG_NONE)) };     \
    SHMLOG__STATIC_ASSERT(SHMLOG__CODE t != SHMLOG_ARG_NONE, SHMLOG__UNSUPPORTED);
#define SHMLOG__A_OK(i, t, r) && SHMLOG__CODE t != SHMLOG_ARG_NONE
#define SHMLOG__A_FMT(i, t, r) , r

/* Never called: lets the compiler check the format against the arguments,
 * unless one has a type a record cannot hold (its error is enough). */
static inline void shmlog__format_check(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void shmlog__format_check(const char *fmt, ...) { (void)fmt; }
static inline void shmlog__format_skip(const char *fmt, ...) { (void)fmt; }
#define SHMLOG__FORMAT_CHECK(n, f)                                                           \
    __builtin_choose_expr(1 SHMLOG__UPTO(n, SHMLOG__A_OK), shmlog__format_check, shmlog__format_skip) \
        (f SHMLOG__UPTO(n, SHMLOG__A_FMT))
/* Names every argument of a call that is refused. */
#define SHMLOG__USE_ALL(...) shmlog__format_skip(__VA_ARGS__)
/* C formats are printf's alone, registered as written, with no descriptor. */
#define SHMLOG__FMT_DECL(n, f)
/* A format that is not a literal is the literal check's error alone, not
 * also the static initializer's. */
#define SHMLOG__SITE_FORMAT(n, f) __builtin_choose_expr(__builtin_constant_p(f), f, "")
/* The site's n type codes, after a 0 that keeps the table of a call without
 * arguments from being empty, then room for the arguments' offsets in the
 * image, which shmlog__lay_out writes for shmlog__write_w<n>. */
#define SHMLOG__TYPES_DECL(n, f) static uint8_t shmlog__types[1 + 2 * (n)] = {0 SHMLOG__UPTO(n, SHMLOG__A_TYPE)};
#define SHMLOG__SITE_TYPES(n, f) shmlog__types + 1
#define SHMLOG__A_TYPE(i, t, r) , t
#define SHMLOG__PREV_1 0
#define SHMLOG__PREV_2 1
#define SHMLOG__PREV_3 2
#define SHMLOG__PREV_4 3
#define SHMLOG__PREV_5 4
#define SHMLOG__PREV_6 5
#define SHMLOG__PREV_7 6
#define SHMLOG__PREV_8 7
#define SHMLOG__PREV_9 8
#define SHMLOG__PREV_10 9
#define SHMLOG__PREV_11 10
#define SHMLOG__PREV_12 11
#define SHMLOG__PREV_13 12
#define SHMLOG__PREV_14 13
#define SHMLOG__PREV_15 14
#define SHMLOG__PREV_16 15
#define SHMLOG__PREV_17 16
#define SHMLOG__PREV_18 17
#define SHMLOG__PREV_19 18
#define SHMLOG__PREV_20 19
#define SHMLOG__PREV_21 20
#define SHMLOG__PREV_22 21
#define SHMLOG__PREV_23 22
#define SHMLOG__PREV_24 23
#define SHMLOG__PREV_25 24
#define SHMLOG__PREV_26 25
#define SHMLOG__PREV_27 26
#define SHMLOG__PREV_28 27
#define SHMLOG__PREV_29 28
#define SHMLOG__PREV_30 29
#define SHMLOG__PREV_31 30
#define SHMLOG__PREV_32 31
/* SHMLOG__UPTO(n, M): M(i, shmlog__t<i>, shmlog__r<i>) for i = 1 .. n, the index and the
 * names of argument i's type code and local, not its text: a C call's arguments are its
 * locals once evaluated, so that no later macro copies their text, and their names are
 * written out, as a name pasted by ## costs Clang more. */
#define SHMLOG__UPTO(n, M) SHMLOG__CAT2(SHMLOG__UPTO_, n)(M)
#define SHMLOG__UPTO_0(M)
#define SHMLOG__UPTO_1(M) M(1, shmlog__t1, shmlog__r1)
#define SHMLOG__UPTO_2(M) M(1, shmlog__t1, shmlog__r1) M(2, shmlog__t2, shmlog__r2)
#define SHMLOG__UPTO_3(M) M(1, shmlog__t1, shmlog__r1) M(2, shmlog__t2, shmlog__r2) M(3, shmlog__t3, shmlog__r3)
#define SHMLOG__UPTO_4(M) M(1, shmlog__t1, shmlog__r1) M(2, shmlog__t2, shmlog__r2) M(3, shmlog__t3, shmlog__r3) M(4, shmlog__t4, shmlog__r4)
#define SHMLOG__UPTO_5(M) M(1, shmlog__t1, shmlog__r1) M(2, shmlog__t2, shmlog__r2) M(3, shmlog__t3, shmlog__r3) M(4, shmlog__t4, shmlog__r4) M(5, shmlog__t5, shmlog__r5)
#define SHMLOG__UPTO_6(M) M(1, shmlog__t1, shmlog__r1) M(2, shmlog__t2, shmlog__r2) M(3, shmlog__t3, shmlog__r3) M(4, shmlog__t4, shmlog__r4) M(5, shmlog__t5, shmlog__r5) M(6, shmlog__t6, shmlog__r6)
#define SHMLOG__UPTO_7(M) M(1, shmlog__t1, shmlog__r1) M(2, shmlog__t2, shmlog__r2) M(3, shmlog__t3, shmlog__r3) M(4, shmlog__t4, shmlog__r4) M(5, shmlog__t5, shmlog__r5) M(6, shmlog__t6, shmlog__r6) M(7, shmlog__t7, shmlog__r7)
#define SHMLOG__UPTO_8(M) M(1, shmlog__t1, shmlog__r1) M(2, shmlog__t2, shmlog__r2) M(3, shmlog__t3, shmlog__r3) M(4, shmlog__t4, shmlog__r4) M(5, shmlog__t5, shmlog__r5) M(6, shmlog__t6, shmlog__r6) M(7, shmlog__t7, shmlog__r7) M(8, shmlog__t8, shmlog__r8)
#define SHMLOG__UPTO_9(M) SHMLOG__UPTO_8(M) M(9, shmlog__t9, shmlog__r9)
#define SHMLOG__UPTO_10(M) SHMLOG__UPTO_9(M) M(10, shmlog__t10, shmlog__r10)
#define SHMLOG__UPTO_11(M) SHMLOG__UPTO_10(M) M(11, shmlog__t11, shmlog__r11)
#define SHMLOG__UPTO_12(M) SHMLOG__UPTO_11(M) M(12, shmlog__t12, shmlog__r12)
#define SHMLOG__UPTO_13(M) SHMLOG__UPTO_12(M) M(13, shmlog__t13, shmlog__r13)
#define SHMLOG__UPTO_14(M) SHMLOG__UPTO_13(M) M(14, shmlog__t14, shmlog__r14)
#define SHMLOG__UPTO_15(M) SHMLOG__UPTO_14(M) M(15, shmlog__t15, shmlog__r15)
#define SHMLOG__UPTO_16(M) SHMLOG__UPTO_15(M) M(16, shmlog__t16, shmlog__r16)
#define SHMLOG__UPTO_17(M) SHMLOG__UPTO_16(M) M(17, shmlog__t17, shmlog__r17)
#define SHMLOG__UPTO_18(M) SHMLOG__UPTO_17(M) M(18, shmlog__t18, shmlog__r18)
#define SHMLOG__UPTO_19(M) SHMLOG__UPTO_18(M) M(19, shmlog__t19, shmlog__r19)
#define SHMLOG__UPTO_20(M) SHMLOG__UPTO_19(M) M(20, shmlog__t20, shmlog__r20)
#define SHMLOG__UPTO_21(M) SHMLOG__UPTO_20(M) M(21, shmlog__t21, shmlog__r21)
#define SHMLOG__UPTO_22(M) SHMLOG__UPTO_21(M) M(22, shmlog__t22, shmlog__r22)
#define SHMLOG__UPTO_23(M) SHMLOG__UPTO_22(M) M(23, shmlog__t23, shmlog__r23)
#define SHMLOG__UPTO_24(M) SHMLOG__UPTO_23(M) M(24, shmlog__t24, shmlog__r24)
#define SHMLOG__UPTO_25(M) SHMLOG__UPTO_24(M) M(25, shmlog__t25, shmlog__r25)
#define SHMLOG__UPTO_26(M) SHMLOG__UPTO_25(M) M(26, shmlog__t26, shmlog__r26)
#define SHMLOG__UPTO_27(M) SHMLOG__UPTO_26(M) M(27, shmlog__t27, shmlog__r27)
#define SHMLOG__UPTO_28(M) SHMLOG__UPTO_27(M) M(28, shmlog__t28, shmlog__r28)
#define SHMLOG__UPTO_29(M) SHMLOG__UPTO_28(M) M(29, shmlog__t29, shmlog__r29)
#define SHMLOG__UPTO_30(M) SHMLOG__UPTO_29(M) M(30, shmlog__t30, shmlog__r30)
#define SHMLOG__UPTO_31(M) SHMLOG__UPTO_30(M) M(31, shmlog__t31, shmlog__r31)
#define SHMLOG__UPTO_32(M) SHMLOG__UPTO_31(M) M(32, shmlog__t32, shmlog__r32)
/* log2 of each type code's width, two bits a code (F32 is 4 bytes among the
 * 8-byte types); a string's are its address's. */
#define SHMLOG__LOG2_WIDTHS 0xFEFA500u
/* A call whose level and category are constants and flags none (SHMLOG__LEVELS_BUILTIN's,
 * not SHMLOG__LEVELS_CHECKED's variables) has its site keep them, below its count, so that
 * it passes its writer its words alone; another passes them beside its site, in a struct
 * shmlog__call of its block whose address + 1 tells the writer so. Which one is named by
 * the call's levels macro, not chosen in its text: the choice's two arms cost Clang 0.1 M
 * instructions a site. */
#define SHMLOG__SITE_NARGS(n, levels) n << 16 | SHMLOG__CAT2(levels, _AT_SITE)
#define SHMLOG__LEVELS_BUILTIN_AT_SITE (shmlog__lvl | shmlog__cat << 8)
#define SHMLOG__LEVELS_CHECKED_AT_SITE 0
#define SHMLOG__SITE_ARG(levels, lcf) SHMLOG__CAT2(levels, _SITE_ARG)(lcf)
#define SHMLOG__LEVELS_BUILTIN_SITE_ARG(lcf) (void *)&shmlog__site_static
#define SHMLOG__LEVELS_CHECKED_SITE_ARG(lcf) \
    (void *)((char *)&(struct shmlog__call){&shmlog__site_static, lcf} + 1)
/* Up to 8 arguments, a call passes each as one 64-bit word, by value
 * (SHMLOG__A_WORD), to the writer of its count, out of line, which lays
 * them out at the image offsets its types table ends with: no argument is
 * addressable at the site, which spares the compiler's back end most of
 * its work on thousands of sites in one function. Past 8, most would be on
 * the stack either way: the call lays out its image itself, each argument
 * one store of its width. */
#define SHMLOG__VALUES_DECL(n, f) SHMLOG__CAT2(SHMLOG__VALUES_, SHMLOG__CAT2(SHMLOG__PASS_, n))(n)
#define SHMLOG__VALUES_NONE(n)
#define SHMLOG__VALUES_WORDS(n)
#define SHMLOG__VALUES_IMAGE(n)                                                              \
    enum { shmlog__e0 = 0 SHMLOG__UPTO(n, SHMLOG__A_END) };                                   \
    uint8_t shmlog__image[SHMLOG__CAT2(shmlog__e, n)];                                        \
    SHMLOG__UPTO(n, SHMLOG__A_IMAGE)
/* Where argument i's bytes end in the call's image, shmlog__e<i>, as
 * shmlog__lay_out lays them out (a string's are its address). */
#define SHMLOG__A_END(i, t, r) , shmlog__e##i = SHMLOG__CAT2(shmlog__e, SHMLOG__PREV_##i) + SHMLOG__A_BYTES(i)
#define SHMLOG__A_BYTES(i)                                                                    \
    (0u + shmlog__t##i == SHMLOG_ARG_STR ? 8u : 1u << (SHMLOG__LOG2_WIDTHS >> 2 * shmlog__t##i & 3u))
#define SHMLOG__SEND(n, levels, lcf, f) SHMLOG__CAT2(SHMLOG__SEND_, SHMLOG__CAT2(SHMLOG__PASS_, n))(n, levels, lcf)
#define SHMLOG__SEND_NONE(n, levels, lcf) shmlog__write_w0(SHMLOG__SITE_ARG(levels, lcf));
#define SHMLOG__SEND_IMAGE(n, levels, lcf) \
    shmlog__write(&shmlog__site_static, shmlog__tsc_lo, shmlog__tsc_hi, lcf, shmlog__image);
#define SHMLOG__SEND_WORDS(n, levels, lcf)                                                   \
    SHMLOG__CAT2(shmlog__write_w, n)(SHMLOG__SITE_ARG(levels, lcf) SHMLOG__UPTO(n, SHMLOG__A_WORD));
union shmlog__f64_word {
    double d;
    uint64_t u;
};
union shmlog__f32_word {
    float f;
    uint32_t u;
};
/* An argument's word: a number's bits (a float's 4, a long double's as a
 * double's), a pointer's or a string's address. Each inner choice compiles
 * for any argument (a struct's error is its static assertion's alone); the
 * outer ones pick the argument's own by its type code, not by type names:
 * fewer tokens for the front end. Clang takes a number's bits by
 * __builtin_bit_cast, a tenth less of its work on a C site than by a
 * compound literal of a union; GCC has it in C++ alone. The two are written
 * out whole, as a helper macro for the bits costs Clang what the builtin saves. */
#if defined(__clang__)
#define SHMLOG__A_WORD(i, t, r)                                                               \
    , __builtin_choose_expr(t == SHMLOG_ARG_F64,                                              \
          __builtin_bit_cast(uint64_t, (double)__builtin_choose_expr(t == SHMLOG_ARG_F64, r, 0)), \
      __builtin_choose_expr(t == SHMLOG_ARG_F32,                                              \
          (uint64_t)__builtin_bit_cast(uint32_t, (float)__builtin_choose_expr(t == SHMLOG_ARG_F32, r, 0)), \
          (uint64_t)(uintptr_t)__builtin_choose_expr(t != SHMLOG_ARG_NONE, r, 0)))
#else
#define SHMLOG__A_WORD(i, t, r)                                                               \
    , __builtin_choose_expr(0u + t == SHMLOG_ARG_F64,                                         \
          ((union shmlog__f64_word){(double)__builtin_choose_expr(0u + t == SHMLOG_ARG_F64, r, 0)}).u, \
      __builtin_choose_expr(0u + t == SHMLOG_ARG_F32,                                         \
          (uint64_t)((union shmlog__f32_word){(float)__builtin_choose_expr(0u + t == SHMLOG_ARG_F32, r, 0)}).u, \
          (uint64_t)(uintptr_t)__builtin_choose_expr(0u + t != SHMLOG_ARG_NONE, r, 0)))
#endif
/* How a call of n arguments passes them (SHMLOG__SEND). */
#define SHMLOG__PASS_0 NONE
#define SHMLOG__PASS_1 WORDS
#define SHMLOG__PASS_2 WORDS
#define SHMLOG__PASS_3 WORDS
#define SHMLOG__PASS_4 WORDS
#define SHMLOG__PASS_5 WORDS
#define SHMLOG__PASS_6 WORDS
#define SHMLOG__PASS_7 WORDS
#define SHMLOG__PASS_8 WORDS
#define SHMLOG__PASS_9 IMAGE
#define SHMLOG__PASS_10 IMAGE
#define SHMLOG__PASS_11 IMAGE
#define SHMLOG__PASS_12 IMAGE
#define SHMLOG__PASS_13 IMAGE
#define SHMLOG__PASS_14 IMAGE
#define SHMLOG__PASS_15 IMAGE
#define SHMLOG__PASS_16 IMAGE
#define SHMLOG__PASS_17 IMAGE
#define SHMLOG__PASS_18 IMAGE
#define SHMLOG__PASS_19 IMAGE
#define SHMLOG__PASS_20 IMAGE
#define SHMLOG__PASS_21 IMAGE
#define SHMLOG__PASS_22 IMAGE
#define SHMLOG__PASS_23 IMAGE
#define SHMLOG__PASS_24 IMAGE
#define SHMLOG__PASS_25 IMAGE
#define SHMLOG__PASS_26 IMAGE
#define SHMLOG__PASS_27 IMAGE
#define SHMLOG__PASS_28 IMAGE
#define SHMLOG__PASS_29 IMAGE
#define SHMLOG__PASS_30 IMAGE
#define SHMLOG__PASS_31 IMAGE
#define SHMLOG__PASS_32 IMAGE
/* An argument's bytes are its own (a pointer's, a string's address, a
 * number's of its width), but for a long double's, a double's: copied from
 * the argument's local, as a function inlined at each of thousands of call
 * sites in one function cost GCC a tenth more compile time. */
#define SHMLOG__A_IMAGE(i, t, r)                                                              \
    __builtin_memcpy(shmlog__image + SHMLOG__CAT2(shmlog__e, SHMLOG__PREV_##i), SHMLOG__IMAGE_SOURCE(i), \
                     SHMLOG__A_BYTES(i));
/* A long double is the one argument wider than its 8 image bytes; the
 * inner choice casts 0.0 for any other argument, so that the branch not
 * taken still compiles for a pointer. */
#define SHMLOG__IMAGE_SOURCE(i)                                                               \
    __builtin_choose_expr(SHMLOG__A_LONG_DOUBLE(i),                                           \
                          (const void *)&(const double){(double)__builtin_choose_expr(        \
                              SHMLOG__A_LONG_DOUBLE(i), shmlog__r##i, 0.0)},                  \
                          (const void *)&shmlog__r##i)
#define SHMLOG__A_LONG_DOUBLE(i) (sizeof(shmlog__r##i) > 8 && 0u + shmlog__t##i == SHMLOG_ARG_F64)
/* A C site's static record: its word and layout zero, worked out when it registers. */
#define SHMLOG__SITE_DECL(n, levels, f)                                                      \
    static struct shmlog__site shmlog__site_static = {0, 0u, 0u, 0u, 0u, SHMLOG__SITE_NARGS(n, levels), __LINE__, \
                                                      __FILE__, __func__, SHMLOG__SITE_FORMAT(n, f), NULL, \
                                                      SHMLOG__SITE_TYPES(n, f)};
#else
#define SHMLOG__UNSUPPORTED                                                                 \
    "shmlog: unsupported argument type: pass an integer, enum, bool, floating point, pointer, C string, " \
    "std::string, std::string_view, std::chrono type, SHMLOG_ENUM or SHMLOG_STRUCT type, std::optional, " \
    "container, pair, tuple, variant, filesystem path, smart pointer, std::thread::id, wide string, or a type " \
    "with a shmlog_codec (a struct: SHMLOG_STRUCT or shmlog_codec)"

namespace shmlog {
/* A named argument for a {name} placeholder, as fmt::arg and fmt's "name"_a:
 * SHMLOG_INFO("{px}", shmlog::arg("px", px)) or, with using namespace
 * shmlog::literals, "px"_a = px. Its name is read from the call's text (a
 * string literal) and names the argument's field. */
template <typename T> struct named_arg {
    const char *name;
    const T &value;
};
template <typename T> constexpr named_arg<T> arg(const char *name, const T &value) { return {name, value}; }
namespace literals {
struct arg_name {
    const char *name;
    template <typename T> constexpr named_arg<T> operator=(const T &value) const { return {name, value}; }
};
constexpr arg_name operator""_a(const char *name, std::size_t) { return {name}; }
} // namespace literals
} // namespace shmlog

namespace shmlog_detail {
/* What a named argument holds. */
template <typename T> struct unnamed {
    typedef T type;
};
template <typename T> struct unnamed<::shmlog::named_arg<T>> {
    typedef typename std::decay<T>::type type;
};
/* std::string (any allocator) and std::string_view: captured with their size. */
template <typename T> struct is_text : std::false_type {};
template <typename Tr, typename A> struct is_text<std::basic_string<char, Tr, A>> : std::true_type {};
template <typename Tr> struct is_text<std::basic_string_view<char, Tr>> : std::true_type {};

/* std::chrono::duration: stored as its count, in its own unit. */
template <typename T> struct is_duration : std::false_type {};
template <typename R, typename P> struct is_duration<std::chrono::duration<R, P>> : std::true_type {};
/* A wall-clock time: stored as ns since the epoch, printed as the readers' times. */
template <typename T> struct is_time_point : std::false_type {};
template <typename D> struct is_time_point<std::chrono::time_point<std::chrono::system_clock, D>> : std::true_type {};
template <typename T> inline long long time_point_ns(const T &t)
{
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

/* std::optional: stored as its value type (zero or "" when empty), with a
 * BOOL "has value" after the call's own arguments, so the format's
 * conversions keep their arguments and the record's shape is the site's. */

/* SHMLOG_STRUCT(Order, id, px): shmlog__describe_struct(const Order *) and its
 * member list, found by argument-dependent lookup. The struct's own argument
 * is its member count (a U8); its members follow the call's own arguments,
 * each followed by what it adds there (a member struct's members, a
 * std::optional's has-value), so the format's conversions keep their
 * arguments and the record's shape is the site's. */
template <typename... M> struct type_list {};
struct struct_info {
    const char *type;
    const char *names; /* as the macro's arguments are written: "id, px" */
    unsigned count;
};
void shmlog__describe_struct(); /* the names the lookup finds besides the users' */
void shmlog__struct_types();
void shmlog__struct_each();
template <typename T, typename = void> struct described_struct : std::false_type {};
template <typename T>
struct described_struct<T, decltype(void(shmlog__describe_struct(static_cast<const T *>(nullptr))))>
    : std::is_class<T> {};
template <typename T> using struct_members = decltype(shmlog__struct_types(static_cast<const T *>(nullptr)));

/* What a record holds (T decayed). */
template <typename T>
struct supported_value : std::integral_constant<bool, std::is_arithmetic<T>::value || std::is_enum<T>::value ||
                                                          is_duration<T>::value || is_time_point<T>::value ||
                                                          std::is_pointer<T>::value || std::is_null_pointer<T>::value ||
                                                          is_text<T>::value> {};
/* An optional of one of those, carried as its value and a has-value; any
 * other std::optional is a value tree (below). */
template <typename T> struct is_optional_any : std::false_type {};
template <typename T> struct is_optional_any<std::optional<T>> : std::true_type {};
template <typename T> struct is_optional : std::false_type {};
template <typename T> struct is_optional<std::optional<T>> : supported_value<typename std::decay<T>::type> {};
template <typename T, bool = is_optional<T>::value> struct value_of {
    typedef T type;
};
template <typename T> struct value_of<T, true> {
    typedef typename T::value_type type;
};

/* ---- value trees (format/FORMAT.md, 12) ----
 * A container, pair, tuple, variant, std::optional of a struct or tree,
 * filesystem path, wide string, non-system-clock time point or a type with a
 * shmlog_codec is encoded at the call into the bytes of one STR argument
 * (shmlog_args.h: shmlog_tree_tag) that the site's descriptor marks "v<N>";
 * readers print it as fmt does. The standard types are recognised by their
 * members, not their headers, which shmlog.h does not include (<filesystem>
 * alone doubles an empty file's compile time). */
template <typename T, typename = void> struct is_range : std::false_type {};
template <typename T>
struct is_range<T, std::void_t<typename T::value_type, decltype(std::declval<const T &>().begin()),
                               decltype(std::declval<const T &>().end())>> : std::true_type {};
template <typename T, typename = void> struct is_map_like : std::false_type {};
template <typename T>
struct is_map_like<T, std::void_t<typename T::key_type, typename T::mapped_type>> : std::true_type {};
template <typename T, typename = void> struct is_set_like : std::false_type {};
template <typename T> struct is_set_like<T, std::void_t<typename T::key_type>> : std::true_type {};
template <typename T, typename = void> struct is_path : std::false_type {};
template <typename T>
struct is_path<T, std::void_t<decltype(std::declval<const T &>().root_name()),
                              decltype(std::declval<const T &>().generic_string()),
                              decltype(std::declval<const T &>().native())>> : std::true_type {};
template <typename T, typename = void> struct is_variant : std::false_type {};
template <typename T>
struct is_variant<T, std::void_t<decltype(std::declval<const T &>().index()),
                                 decltype(std::declval<const T &>().valueless_by_exception())>> : std::true_type {};
template <typename T, typename = void> struct is_smart_pointer : std::false_type {};
template <typename T>
struct is_smart_pointer<T, std::void_t<typename T::element_type, decltype(std::declval<const T &>().get())>>
    : std::is_pointer<decltype(std::declval<const T &>().get())> {};
template <typename T, typename = void> struct is_tuple_like : std::false_type {};
template <typename T>
struct is_tuple_like<T, std::void_t<decltype(std::tuple_size<T>::value)>> : std::true_type {};
template <typename T> struct is_wide_text : std::false_type {};
template <typename Tr, typename A> struct is_wide_text<std::basic_string<wchar_t, Tr, A>> : std::true_type {};
template <typename Tr> struct is_wide_text<std::basic_string_view<wchar_t, Tr>> : std::true_type {};
template <typename T> struct is_other_time_point : std::false_type {};
template <typename C, typename D>
struct is_other_time_point<std::chrono::time_point<C, D>>
    : std::integral_constant<bool, !std::is_same<C, std::chrono::system_clock>::value> {};
/* std::thread::id, by its name: <thread> is not included either. */
template <typename T> constexpr bool named_thread_id()
{
    constexpr std::string_view f = __PRETTY_FUNCTION__;
    return f.find("T = std::thread::id]") != std::string_view::npos ||
           f.find("T = std::__thread_id]") != std::string_view::npos ||
           f.find("T = std::__1::__thread_id]") != std::string_view::npos;
}
template <typename T, bool = std::is_class<T>::value> struct is_thread_id : std::false_type {};
template <typename T>
struct is_thread_id<T, true> : std::integral_constant<bool, named_thread_id<T>() && sizeof(T) == 8> {};
} // namespace shmlog_detail

/* A type's own way to be logged, written once by its user (it may be a
 * friend, to read private members):
 *     template <> struct shmlog_codec<Px> {
 *         static auto value(const Px &p) { return std::make_tuple(p.bid_, p.ask_); }
 *     };
 * value() returns anything loggable: a SHMLOG_STRUCT type, a tuple or
 * container of the fields (copied into the record), or a std::string that
 * it formats at the call (an allocation and the formatting on the hot path). */
template <typename T, typename = void> struct shmlog_codec;

namespace shmlog_detail {
template <typename T, typename = void> struct has_codec : std::false_type {};
template <typename T>
struct has_codec<T, std::void_t<decltype(shmlog_codec<T>::value(std::declval<const T &>()))>> : std::true_type {};
template <typename T> using codec_value = typename std::decay<decltype(shmlog_codec<T>::value(std::declval<const T &>()))>::type;

/* What a record holds as a value tree (T decayed), whatever its elements. */
template <typename T>
struct tree_shape
    : std::integral_constant<bool, !is_text<T>::value &&
                                       (has_codec<T>::value || is_path<T>::value || is_range<T>::value ||
                                        is_tuple_like<T>::value || is_variant<T>::value || is_wide_text<T>::value ||
                                        is_other_time_point<T>::value ||
                                        (is_optional_any<T>::value && !is_optional<T>::value))> {};

/* What a tree may hold: every leaf loggable. */
template <typename T, typename = void> struct tree_loggable;
template <typename T> constexpr bool tree_leaf_ok()
{
    typedef typename std::decay<T>::type D;
    if constexpr (has_codec<D>::value)
        return tree_loggable<codec_value<D>>::value;
    else if constexpr (std::is_same<D, char *>::value || std::is_same<D, const char *>::value)
        return true;
    else if constexpr (is_thread_id<D>::value || is_smart_pointer<D>::value)
        return true;
    else if constexpr (supported_value<D>::value || described_struct<D>::value)
        return true;
    else if constexpr (tree_shape<D>::value || is_optional_any<D>::value)
        return tree_loggable<D>::value;
    else
        return false;
}
template <typename T, std::size_t... I> constexpr bool tuple_ok(std::index_sequence<I...>)
{
    return (true && ... && tree_leaf_ok<typename std::tuple_element<I, T>::type>());
}
template <template <typename...> class V, typename... A> constexpr bool variant_alternatives_ok(const V<A...> *)
{
    return (true && ... && tree_leaf_ok<A>());
}
template <typename T, typename> struct tree_loggable {
    static constexpr bool get()
    {
        if constexpr (has_codec<T>::value || is_path<T>::value || is_wide_text<T>::value ||
                      is_other_time_point<T>::value)
            return has_codec<T>::value ? tree_leaf_ok<T>() : true;
        else if constexpr (is_optional_any<T>::value)
            return tree_leaf_ok<typename T::value_type>();
        else if constexpr (is_map_like<T>::value)
            return tree_leaf_ok<typename T::key_type>() && tree_leaf_ok<typename T::mapped_type>();
        else if constexpr (is_range<T>::value)
            return tree_leaf_ok<typename T::value_type>();
        else if constexpr (is_tuple_like<T>::value)
            return tuple_ok<T>(std::make_index_sequence<std::tuple_size<T>::value>{});
        else if constexpr (is_variant<T>::value)
            return variant_alternatives_ok(static_cast<const T *>(nullptr));
        else
            return false;
    }
    static constexpr bool value = get();
};

template <typename T>
struct supported : std::integral_constant<bool, supported_value<T>::value || described_struct<T>::value ||
                                                    is_optional<T>::value ||
                                                    is_thread_id<T>::value || is_smart_pointer<T>::value ||
                                                    (tree_shape<T>::value && tree_loggable<T>::value)> {};

template <typename T> constexpr unsigned arg_type()
{
    if constexpr (tree_shape<T>::value) {
        return SHMLOG_ARG_STR; /* its encoded bytes */
    } else if constexpr (is_thread_id<T>::value) {
        return SHMLOG_ARG_U64;
    } else if constexpr (is_smart_pointer<T>::value) {
        return SHMLOG_ARG_PTR;
    } else if constexpr (is_optional<T>::value) {
        return arg_type<typename T::value_type>();
    } else if constexpr (is_duration<T>::value) {
        return arg_type<typename T::rep>();
    } else if constexpr (is_time_point<T>::value) {
        return SHMLOG_ARG_I64;
    } else if constexpr (std::is_enum<T>::value) {
        return arg_type<typename std::underlying_type<T>::type>();
    } else if constexpr (std::is_same<T, bool>::value) {
        return SHMLOG_ARG_BOOL;
    } else if constexpr (std::is_integral<T>::value) {
        constexpr bool s = std::is_signed<T>::value;
        if constexpr (sizeof(T) == 1)
            return s ? SHMLOG_ARG_I8 : SHMLOG_ARG_U8;
        else if constexpr (sizeof(T) == 2)
            return s ? SHMLOG_ARG_I16 : SHMLOG_ARG_U16;
        else if constexpr (sizeof(T) == 4)
            return s ? SHMLOG_ARG_I32 : SHMLOG_ARG_U32;
        else
            return s ? SHMLOG_ARG_I64 : SHMLOG_ARG_U64;
    } else if constexpr (std::is_same<T, float>::value) {
        return SHMLOG_ARG_F32;
    } else if constexpr (std::is_floating_point<T>::value) {
        return SHMLOG_ARG_F64;
    } else if constexpr (std::is_same<T, char *>::value || std::is_same<T, const char *>::value ||
                         is_text<T>::value) {
        return SHMLOG_ARG_STR;
    } else if constexpr (std::is_pointer<T>::value || std::is_null_pointer<T>::value) {
        return SHMLOG_ARG_PTR;
    } else if constexpr (described_struct<T>::value) {
        return SHMLOG_ARG_U8; /* its member count */
    } else {
        return SHMLOG_ARG_NONE; /* unsupported: capture() says so */
    }
}

struct cap {
    uint64_t v; /* the value's bits; a string's address */
    size_t n;   /* a string object's size; SIZE_MAX otherwise */
};

/* A char array (a struct's char sym[8] too) is read up to its NUL or its
 * end, never past it; past the payload bound it is cut anyway. */
template <typename T>
struct char_array
    : std::integral_constant<bool, std::is_array<T>::value &&
                                       std::is_same<typename std::remove_cv<typename std::remove_extent<T>::type>::type,
                                                    char>::value> {};
template <typename T> constexpr size_t char_array_bound()
{
    return std::extent<T>::value < SHMLOG_MAX_PAYLOAD + 1 ? std::extent<T>::value : SHMLOG_MAX_PAYLOAD + 1;
}

/* GCC with AddressSanitizer takes the value of an empty std::optional's
 * dead branch as read uninitialised (GCC bug 80635): said off here alone. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
template <typename T> inline __attribute__((always_inline)) cap capture(const T &x)
{
    typedef typename std::decay<T>::type D;
    static_assert(supported<D>::value, SHMLOG__UNSUPPORTED);
    static_assert(!tree_shape<D>::value, "shmlog: a SHMLOG_STRUCT member may not be a container, pair, tuple, variant, "
                                         "path or codec type: give the struct a shmlog_codec instead");
    if constexpr (char_array<T>::value) {
        /* by the C string's scan (no call through the PLT) */
        constexpr size_t bound = char_array_bound<T>();
        const size_t n = shmlog__cstr_len(x, bound);
        return cap{reinterpret_cast<uintptr_t>(x), n < bound ? n : bound};
    } else if constexpr (is_thread_id<D>::value) {
        uint64_t id;
        memcpy(&id, static_cast<const void *>(&x), 8); /* its pthread_t, as its operator<< prints it */
        return cap{id, SIZE_MAX};
    } else if constexpr (is_smart_pointer<D>::value) {
        return cap{reinterpret_cast<uintptr_t>(x.get()), SIZE_MAX};
    } else if constexpr (is_optional<D>::value && supported<D>::value) { /* else the one error above */
        typedef typename D::value_type V;
        cap c{reinterpret_cast<uintptr_t>(""), is_text<V>::value ? 0 : SIZE_MAX}; /* empty text */
        if (x.has_value())
            c = capture(*x);
        else if constexpr (!is_text<V>::value && !std::is_pointer<V>::value)
            c = capture(V{});
        return c;
    } else if constexpr (is_duration<D>::value) {
        return capture(x.count());
    } else if constexpr (is_time_point<D>::value) {
        return capture(time_point_ns(x));
    } else if constexpr (is_text<D>::value) {
        const size_t n = x.size();
        if (n == SIZE_MAX) /* it never is (max_size() is below it): so GCC drops the C string's path */
            __builtin_unreachable();
        if constexpr (std::is_same<D, std::basic_string_view<char, typename D::traits_type>>::value) {
            const char *p = x.data(); /* an empty view may have none */
            return cap{reinterpret_cast<uintptr_t>(p ? p : ""), n};
        } else {
            return cap{reinterpret_cast<uintptr_t>(x.data()), n}; /* a std::string's never null */
        }
    } else if constexpr (std::is_same<D, float>::value) {
        uint32_t b;
        memcpy(&b, &x, 4);
        return cap{b, SIZE_MAX};
    } else if constexpr (std::is_floating_point<D>::value) {
        const double d = static_cast<double>(x);
        uint64_t b;
        memcpy(&b, &d, 8);
        return cap{b, SIZE_MAX};
    } else if constexpr (std::is_same<D, char *>::value || std::is_same<D, const char *>::value) {
        return cap{reinterpret_cast<uintptr_t>(static_cast<const char *>(x)), SIZE_MAX};
    } else if constexpr (std::is_pointer<D>::value) {
        return cap{reinterpret_cast<uintptr_t>(x), SIZE_MAX};
    } else if constexpr (std::is_enum<D>::value) {
        return cap{static_cast<uint64_t>(static_cast<typename std::underlying_type<D>::type>(x)), SIZE_MAX};
    } else if constexpr (std::is_arithmetic<D>::value) {
        return cap{static_cast<uint64_t>(x), SIZE_MAX}; /* sign-extends signed integers */
    } else if constexpr (described_struct<D>::value) {
        return cap{shmlog__describe_struct(static_cast<const D *>(nullptr)).count, SIZE_MAX};
    } else {
        return cap{0, SIZE_MAX}; /* nullptr, or unsupported (asserted above) */
    }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* What the compiler checks the format against: a string object as its
 * characters, an enumeration as its underlying integer. */
template <typename T> inline auto fmt_arg(const T &x)
{
    typedef typename std::decay<T>::type D;
    if constexpr (tree_shape<D>::value)
        return ""; /* printf: %s prints the tree */
    else if constexpr (is_thread_id<D>::value)
        return 0ull;
    else if constexpr (is_smart_pointer<D>::value)
        return static_cast<const void *>(nullptr);
    else if constexpr (is_optional<D>::value)
        return fmt_arg(*x); /* never called: the check alone */
    else if constexpr (is_text<D>::value)
        return x.data();
    else if constexpr (is_duration<D>::value)
        return x.count();
    else if constexpr (is_time_point<D>::value)
        return time_point_ns(x); /* %lld */
    else if constexpr (std::is_enum<D>::value)
        return static_cast<typename std::underlying_type<D>::type>(x);
    else if constexpr (std::is_null_pointer<D>::value)
        return static_cast<const void *>(nullptr);
    else if constexpr (described_struct<D>::value)
        return ""; /* printf: %s prints the members */
    else if constexpr (supported<D>::value)
        return x; /* arrays decay */
    else
        return 0;
}

/* Never called: the format checked against the arguments, unless one has a
 * type a record cannot hold (its error is enough). */
template <bool Check> struct fmt_checker {
    __attribute__((format(printf, 1, 2))) static void check(const char *fmt, ...) { (void)fmt; }
};
template <> struct fmt_checker<false> {
    static void check(const char *fmt, ...) { (void)fmt; }
};

template <typename... A> inline void use(const A &...) {}

template <typename T> inline uint64_t has_value(const T &x) { return x.has_value() ? 1u : 0u; }

/* Record arguments a value adds after the call's own: a std::optional its
 * has-value, a SHMLOG_STRUCT each member followed by what that member adds. */
template <typename T> constexpr unsigned tail_count();
template <typename... M> constexpr unsigned members_tail_count(type_list<void, M...>)
{
    return (0u + ... + (1u + tail_count<M>()));
}
template <typename T> constexpr unsigned tail_count()
{
    if constexpr (is_optional<T>::value)
        return 1u;
    else if constexpr (described_struct<T>::value)
        return members_tail_count(struct_members<T>{});
    else
        return 0u;
}
template <typename... D> constexpr unsigned tail_total() { return (0u + ... + tail_count<D>()); }

/* A call's argument types (the first type is void, before them), then what
 * they add after them (tail_count). */
template <unsigned N> struct type_table {
    uint8_t v[N];
};
template <typename T, unsigned N> constexpr void tail_types(type_table<N> &t, unsigned &i);
template <unsigned N, typename... M> constexpr void member_types(type_list<void, M...>, type_table<N> &t, unsigned &i)
{
    ((t.v[i++] = static_cast<uint8_t>(arg_type<M>()), tail_types<M>(t, i)), ...);
}
template <typename T, unsigned N> constexpr void tail_types(type_table<N> &t, unsigned &i)
{
    if constexpr (is_optional<T>::value)
        t.v[i++] = SHMLOG_ARG_BOOL;
    else if constexpr (described_struct<T>::value)
        member_types(struct_members<T>{}, t, i);
}
template <typename Void, typename... D> constexpr auto make_type_table()
{
    static_assert(sizeof...(D) + tail_total<D...>() <= SHMLOG_MAX_ARGS,
                  "shmlog: at most 32 arguments after the format (SHMLOG_MAX_ARGS, fixed by the site layout in "
                  "shared memory and files), each std::optional counting as two and each SHMLOG_STRUCT as one plus "
                  "its members: split the call, or pass values that belong together as one std::tuple or container "
                  "(one argument)");
    type_table<1u + sizeof...(D) + tail_total<D...>()> t{};
    unsigned i = 1;
    ((t.v[i++] = static_cast<uint8_t>(arg_type<D>())), ...);
    (tail_types<D>(t, i), ...);
    return t;
}

/* Calls f(type, captured value) for each record argument x adds after the
 * call's own, in tail_types' order. */
template <typename T, typename F> inline __attribute__((always_inline)) void each_tail(const T &x, F &f)
{
    typedef typename std::decay<T>::type D;
    if constexpr (is_optional<D>::value) {
        f(static_cast<unsigned>(SHMLOG_ARG_BOOL), cap{has_value(x), SIZE_MAX});
    } else if constexpr (described_struct<D>::value) {
        shmlog__struct_each(x, [&f](const auto &m) __attribute__((always_inline)) {
            f(arg_type<typename std::decay<decltype(m)>::type>(), capture(m));
            each_tail(m, f);
        });
    } else {
        (void)x;
        (void)f;
    }
}

template <unsigned N, typename... D> constexpr type_table<N> tail_table()
{
    type_table<N> t{};
    unsigned i = 0;
    (tail_types<D>(t, i), ...);
    return t;
}

/* The arguments a call's (D) add after its own, each captured once. */
template <typename... D> struct tail_args {
    static constexpr unsigned K = tail_total<D...>();
    unsigned n = 0;
    cap c[K ? K : 1];
    template <typename T> inline __attribute__((always_inline)) void take(const T &x)
    {
        auto f = [this](unsigned, cap v) __attribute__((always_inline)) { c[n++] = v; };
        each_tail(x, f);
    }
    inline __attribute__((always_inline)) void store(uint64_t *v, uint64_t *len) const
    {
        for (unsigned i = 0; i < K; i++) {
            v[i] = c[i].v;
            len[i] = c[i].n;
        }
    }
};

/* A call's argument types D (after a leading void): its record's type table. */
template <typename... D> struct signature {
    static constexpr auto table = make_type_table<D...>();
};

/* A call's arguments as its writer takes them (to_param): one type for each
 * way a record argument is read, so that sites whose arguments are stored
 * alike share the writer, and what is the same for them all is done there,
 * not at each site. An integer is the fixed-width integer of its type code,
 * a floating point number a float or a double, a C string its address; the
 * rest are below. */
struct array_arg { /* a char array: its bytes up to its NUL or its end, never past it */
    cap c;
};
struct pointer_arg { /* any other pointer: its address */
    uintptr_t v;
};
/* A string object, a std::optional or a SHMLOG_STRUCT: its address, one
 * register at the call, read by the writer. */
template <typename T> struct object_arg {
    const T *p;
};
/* A value tree: encoded by the writer into a buffer of its own, or, when
 * longer, measured there and written straight into the record (shmlog_tree.h). */
template <typename T> struct tree_arg {
    const T *p;
};
/* The writer's buffers of a call's trees, one each. */
template <unsigned N> struct tree_bufs {
    uint8_t b[N ? N : 1][N ? SHMLOG_TREE_INLINE_BYTES : 1];
    unsigned next;
    uint32_t direct;        /* bit i: argument i is a tree longer than its buffer, written by write_tree */
    uintptr_t objs[N ? SHMLOG_MAX_ARGS : 1]; /* the direct trees' addresses, at their argument's index */
};
template <typename T> size_t encode_tree(const T &x, uint8_t *out);
template <typename T> size_t measure_tree(const T &x);
template <typename T> void write_tree(uint64_t obj, struct shmlog__cursor *at, size_t len);
/* The type a writer's argument stands for, as arg_type and tail_types read it. */
template <typename P> struct param_value {
    typedef P type;
};
template <> struct param_value<array_arg> {
    typedef const char *type;
};
template <> struct param_value<pointer_arg> {
    typedef const void *type;
};
template <typename T> struct param_value<object_arg<T>> {
    typedef T type;
};
template <typename T> struct param_value<tree_arg<T>> {
    typedef T type;
};
template <typename P> struct is_tree_param : std::false_type {};
template <typename T> struct is_tree_param<tree_arg<T>> : std::true_type {};

template <std::size_t Bytes, bool Signed> struct fixed_int {
    typedef typename std::conditional<Signed, int64_t, uint64_t>::type type;
};
template <> struct fixed_int<1, true> { typedef int8_t type; };
template <> struct fixed_int<1, false> { typedef uint8_t type; };
template <> struct fixed_int<2, true> { typedef int16_t type; };
template <> struct fixed_int<2, false> { typedef uint16_t type; };
template <> struct fixed_int<4, true> { typedef int32_t type; };
template <> struct fixed_int<4, false> { typedef uint32_t type; };

/* Made at the call, inside the full-expression that evaluates the argument:
 * what the argument's temporaries hold (a std::string's characters) lives
 * until the writer has copied it. */
template <typename T> inline __attribute__((always_inline)) auto to_param(const T &x)
{
    typedef typename std::decay<T>::type D;
    static_assert(supported<D>::value || tree_shape<D>::value, SHMLOG__UNSUPPORTED);
    static_assert(!tree_shape<D>::value || tree_loggable<D>::value,
                  "shmlog: an element of this container, pair, tuple, variant, std::optional or codec value is of a "
                  "type shmlog cannot log: describe it (SHMLOG_STRUCT, SHMLOG_ENUM) or give it a shmlog_codec");
    if constexpr (tree_shape<D>::value) {
        return tree_arg<D>{&x};
    } else if constexpr (is_thread_id<D>::value) {
        return static_cast<uint64_t>(capture(x).v);
    } else if constexpr (is_smart_pointer<D>::value) {
        return pointer_arg{capture(x).v};
    } else if constexpr (char_array<T>::value) {
        /* scanned here, beside the TSC read, where it overlaps the call's other work: in the
         * writer the C++ str45{} case's p50 rose by some 20 ns (bench/call.sh --cxx) */
        return array_arg{capture(x)};
    } else if constexpr ((is_optional<D>::value || described_struct<D>::value || is_text<D>::value) &&
                         supported<D>::value) {
        return object_arg<D>{&x};
    } else if constexpr (is_duration<D>::value) {
        return to_param(x.count());
    } else if constexpr (is_time_point<D>::value) {
        return static_cast<int64_t>(time_point_ns(x));
    } else if constexpr (std::is_same<D, char *>::value || std::is_same<D, const char *>::value) {
        return static_cast<const char *>(x);
    } else if constexpr (std::is_null_pointer<D>::value) {
        return pointer_arg{0};
    } else if constexpr (std::is_pointer<D>::value) {
        return pointer_arg{reinterpret_cast<uintptr_t>(x)};
    } else if constexpr (std::is_enum<D>::value) {
        return to_param(static_cast<typename std::underlying_type<D>::type>(x));
    } else if constexpr (std::is_same<D, bool>::value || std::is_same<D, float>::value) {
        return x;
    } else if constexpr (std::is_integral<D>::value) {
        return static_cast<typename fixed_int<sizeof(D), std::is_signed<D>::value>::type>(x);
    } else if constexpr (std::is_floating_point<D>::value) {
        return static_cast<double>(x);
    } else {
        return 0; /* unsupported: asserted above */
    }
}

template <typename T> inline __attribute__((always_inline)) auto to_param(const ::shmlog::named_arg<T> &x)
{
    return to_param(x.value);
}

inline __attribute__((always_inline)) cap capture_param(array_arg a) { return a.c; }
inline __attribute__((always_inline)) cap capture_param(pointer_arg a) { return cap{a.v, SIZE_MAX}; }
template <typename T> inline __attribute__((always_inline)) cap capture_param(object_arg<T> a) { return capture(*a.p); }
template <typename T> inline __attribute__((always_inline)) cap capture_param(T x) { return capture(x); }

template <bool Direct, typename P, typename B>
inline __attribute__((always_inline)) void put_param(P a, uint64_t &v, uint64_t &n, B &, unsigned)
{
    const cap c = capture_param(a);
    v = c.v;
    n = c.n;
}
/* A tree's bytes in its buffer, or (Direct, or longer than that) its
 * value's address in objs, argument i to be written by write_tree; n is one
 * past the bound when it does not fit, so that the writer cuts and marks it. */
template <bool Direct, typename T, typename B>
inline void put_param(tree_arg<T> a, uint64_t &v, uint64_t &n, B &bufs, unsigned i)
{
    uint8_t *out = bufs.b[bufs.next++];
    v = reinterpret_cast<uintptr_t>(out);
    if constexpr (tree_loggable<T>::value) {
        n = Direct ? SIZE_MAX : encode_tree(*a.p, out);
        if (SHMLOG__UNLIKELY(n == SIZE_MAX)) {
            n = measure_tree(*a.p);
            bufs.objs[i] = reinterpret_cast<uintptr_t>(a.p);
            bufs.direct |= 1u << i;
        }
    } else {
        n = 0; /* refused by to_param, once */
    }
}
/* What writes an argument's bytes into the record when they are not in a
 * buffer: write_tree for a tree's, none for the rest. */
template <typename P> constexpr shmlog__tree_writer writer_of(const P *) { return nullptr; }
template <typename T> constexpr shmlog__tree_writer writer_of(const tree_arg<T> *)
{
    if constexpr (tree_loggable<T>::value)
        return &write_tree<T>;
    else
        return nullptr;
}
template <typename... P> struct tree_writers {
    static constexpr shmlog__tree_writer of[] = {writer_of(static_cast<const P *>(nullptr))..., nullptr};
    static constexpr bool any = (false || ... || is_tree_param<P>::value);
};

/* What an argument adds after the call's own: a std::optional or SHMLOG_STRUCT's, nothing for the rest. */
template <typename T, typename Tail> inline __attribute__((always_inline)) void take_tail(object_arg<T> a, Tail &t)
{
    t.take(*a.p);
}
template <typename P, typename Tail> inline __attribute__((always_inline)) void take_tail(const P &, Tail &) {}

/* An argument that is not handed to its writer as it is (site_param):
 * made into its to_param type at the call, by this conversion. */
template <typename D> struct converted {
    typedef decltype(to_param(std::declval<const D &>())) param;
    param p;
    inline __attribute__((always_inline)) converted(const D &x) : p(to_param(x)) {}
};
/* The writer's parameter for a call's argument of type A (as a forwarding
 * reference deduces it): a number or a C string as it is, converted by the
 * call; a string object, std::optional, SHMLOG_STRUCT or value tree by
 * reference, its address; so the site has no function to inline for them.
 * The rest are converted<D>. */
template <typename A> struct site_param {
    typedef typename std::remove_cv<typename std::remove_reference<A>::type>::type D;
    typedef decltype(to_param(std::declval<const D &>())) P;
    typedef typename std::conditional<
        std::is_same<P, object_arg<D>>::value || std::is_same<P, tree_arg<D>>::value, const D &,
        typename std::conditional<(std::is_integral<D>::value && std::is_integral<P>::value) ||
                                      (std::is_floating_point<D>::value && std::is_same<D, P>::value) ||
                                      (std::is_pointer<D>::value && std::is_same<P, const char *>::value),
                                  P, converted<D>>::type>::type type;
};
/* A writer's parameter as put_param and take_tail take it (to_param's type). */
template <typename P> struct written {
    typedef P type;
    static inline __attribute__((always_inline)) type of(P a) { return a; }
};
template <typename T> struct written<const T &> {
    typedef decltype(to_param(std::declval<const T &>())) type;
    static inline __attribute__((always_inline)) type of(const T &a) { return {&a}; }
};
template <typename D> struct written<converted<D>> {
    typedef typename converted<D>::param type;
    static inline __attribute__((always_inline)) type of(const converted<D> &a) { return a.p; }
};

/* A writer's parameter types: an empty argument, which takes no register,
 * that names them to the writer so that a site's arguments need none. */
template <typename... P> struct params {};
template <typename P> struct not_deduced {
    typedef P type;
};

/* The record writer of every call whose arguments are P (site_param's types):
 * one function per signature, its types known when compiling, which
 * captures the arguments and writes (shmlog__write_args). Static, one in
 * each file: its restartable sequence's descriptor (__rseq_cs) names its
 * code, which the linker may not discard as a duplicate. A call whose tree
 * is longer than its buffer is written by write_params<true>, which writes
 * each of its trees straight into the record: apart, so that the common
 * record's code is the same as a call's without trees. */
/* GCC would otherwise pass a string object's fields in its reference's place
 * (IPA-SRA): loads at every site, 5 bytes a site more. */
#if defined(__clang__)
#define SHMLOG__WHOLE_PARAMS
#else
#define SHMLOG__WHOLE_PARAMS __attribute__((optimize("no-ipa-sra")))
#endif
template <bool Direct = false, typename... P>
static __attribute__((noinline)) SHMLOG__WHOLE_PARAMS void write_params(params<P...>, struct shmlog__site_ref *s, unsigned lcf,
                                                   typename not_deduced<P>::type... a)
{
    uint32_t tsc_lo, tsc_hi;
    SHMLOG__RDTSC_HALVES(tsc_lo, tsc_hi);
    typedef signature<void, typename param_value<typename written<P>::type>::type...> sig;
    constexpr unsigned nargs = sizeof sig::table.v - 1u;
    /* one more slot: a call without arguments has an array */
    uint64_t v[nargs + 1], n[nargs + 1];
    unsigned i = 0;
    tree_bufs<(0u + ... + is_tree_param<typename written<P>::type>::value)> bufs;
    bufs.next = 0;
    bufs.direct = 0;
    (void)bufs; /* a call without trees */
    ((put_param<Direct>(written<P>::of(a), v[i], n[i], bufs, i), i++), ...);
    tail_args<typename param_value<typename written<P>::type>::type..., void> tail;
    (take_tail(written<P>::of(a), tail), ...);
    tail.store(v + sizeof...(P), n + sizeof...(P));
    const uint64_t tsc = static_cast<uint64_t>(tsc_hi) << 32 | tsc_lo;
    typedef tree_writers<typename written<P>::type...> trees;
    if constexpr (Direct) {
        shmlog__write_args<SHMLOG__KNOWN_NARGS(nargs)>(s, tsc, lcf, nargs, sig::table.v + 1, v, n, trees::of, bufs.direct,
                                                          bufs.objs);
        return;
    } else if constexpr (trees::any) {
        if (SHMLOG__UNLIKELY(bufs.direct)) {
            write_params<true>(params<P...>(), s, lcf, a...);
            return;
        }
    }
    shmlog__write_args<SHMLOG__KNOWN_NARGS(nargs)>(s, tsc, lcf, nargs, sig::table.v + 1, v, n, nullptr, 0, nullptr);
}
template <typename... A> struct site_desc_of; /* shmlog_fmt.h */
template <typename... R> struct site_strings; /* shmlog_fmt.h */
/* A call's argument types R (decayed; a named argument's as written): what
 * its site needs of them, worked out once for all the sites of the
 * signature, so that a site expands no macro per argument for them. */
template <typename... R> struct call_args {
    typedef signature<void, typename unnamed<R>::type...> sig;
    static constexpr const uint8_t *types = sig::table.v + 1; /* the arguments' codes, past the leading 0 */
    static constexpr unsigned nargs = sizeof sig::table.v - 1u;
    static constexpr bool ok = (true && ... && supported<typename unnamed<R>::type>::value);
    static constexpr bool named = (false || ... || !std::is_same<R, typename unnamed<R>::type>::value);
    static constexpr const char *desc = site_desc_of<void, typename unnamed<R>::type...>::text;
    typedef site_strings<R...> strings;
};
/* Never called: a call's argument types (after its format) and its writer's
 * parameters, from the arm of a conditional not taken. */
template <typename Args, typename... P> struct site_call {
    typedef Args args;
    typedef params<P...> writer_params;
};
template <typename F, typename... A>
site_call<call_args<typename std::decay<A>::type...>, typename site_param<A>::type...> *call_args_of(const F &, A &&...)
{
    return nullptr;
}
/* Never called: what the format's check reads of an argument. */
template <typename T>
inline auto fmt_value(const T &) -> decltype(fmt_arg(std::declval<const typename unnamed<T>::type &>()))
{
    return {};
}
} // namespace shmlog_detail

/* C++: the arguments' types taken without evaluating them, from the arm of a
 * conditional never taken (decltype's operand may not hold a lambda before
 * C++20); the arguments are then evaluated once, as the writer's arguments:
 * the temporaries they make (the std::string whose .c_str() is an argument,
 * what std::max(1, 2) refers to) live until the record is copied. */
#define SHMLOG__WITH_ARGS(n, levels, ...)                                                     \
    [[maybe_unused]] auto shmlog__p = true ? nullptr : shmlog_detail::call_args_of(__VA_ARGS__); \
    typedef typename std::remove_pointer<decltype(shmlog__p)>::type shmlog__call;             \
    typedef typename shmlog__call::args shmlog__args;                                         \
    SHMLOG__WRITE(n, levels, __VA_ARGS__)
#define SHMLOG__A_FMT(i, x) , shmlog_detail::fmt_value((x))
/* in the arm never taken, as the types: a warning about an argument is the
 * writer's call's alone */
#define SHMLOG__FORMAT_CHECK(n, ...)                                                         \
    (void)(true ? 0 : (shmlog_detail::fmt_checker<(!shmlog__fmt.fmt_style && shmlog__args::ok)>::check( \
                           SHMLOG__FIRST(__VA_ARGS__) SHMLOG__EACH_N(n, SHMLOG__A_FMT, __VA_ARGS__)), 0))
#define SHMLOG__USE_ALL(...) shmlog_detail::use(__VA_ARGS__)
#define SHMLOG__TYPES_DECL(n, ...)
#define SHMLOG__VALUES_DECL(n, ...)
/* each argument as it is, converted to its writer's parameter by the call
 * (site_param): passed through a function's references instead, Clang
 * spills more around the call */
#define SHMLOG__SEND(n, levels, lcf, ...)                                                    \
    static struct shmlog__site_ref shmlog__ref = {0, &shmlog__site.record};                    \
    shmlog_detail::write_params(typename shmlog__call::writer_params(), &shmlog__ref,          \
                                lcf SHMLOG__EACH_N(n, SHMLOG__A_PARAM, __VA_ARGS__));
#define SHMLOG__A_PARAM(i, x) , (x)
#endif

/* ---- the logging macros ---- */

/* Whether a call's level lvl reaches the live level of its category cat,
 * the low byte of its level word (shmlog_level_word): read alone where
 * bytes are little-endian, so the call's test is one compare with memory. */
#if defined(__cplusplus) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* C++: a function, as GCC's parser spends 0.47 M instructions a site on the two atomic loads and casts
 * written out, and 0.04 M on the compare of an enumerator (the code is the same once inlined) */
namespace shmlog_detail {
inline __attribute__((always_inline)) bool live(unsigned lvl, unsigned cat)
{
    return lvl >= shmlog__load_relaxed(static_cast<const uint8_t *>(static_cast<const void *>(shmlog__load_relaxed(&shmlog__levels) + cat)));
}
} // namespace shmlog_detail
#define SHMLOG__LIVE(lvl, cat) shmlog_detail::live(lvl, cat)
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SHMLOG__LIVE(lvl, cat) \
    ((lvl) >= shmlog__load_relaxed(SHMLOG__CAST(const uint8_t *, SHMLOG__CAST(const void *, shmlog__load_relaxed(&shmlog__levels) + (cat)))))
#else
#define SHMLOG__LIVE(lvl, cat) ((lvl) >= (shmlog__load_relaxed(&shmlog__load_relaxed(&shmlog__levels)[cat]) & 0xFFu))
#endif

/* Misuse the compiler can see stops the build with one message: a level or
 * category constant out of range (the call is made only from a branch the
 * compiler removes whenever the value is in range or not a constant). */
void shmlog__bad_level(void) __attribute__((error(
    "shmlog: level out of range: use SHMLOG_LEVEL_TRACE .. SHMLOG_LEVEL_FATAL")));
void shmlog__bad_category(void) __attribute__((error(
    "shmlog: category out of range: use SHMLOG_CAT_NONE .. SHMLOG_CAT_PORTFOLIO or an id from shmlog_category()")));
/* A level that is not a constant, or a category that is not a built-in
 * constant, is checked at run time: out of range becomes FATAL (never hidden)
 * or none, is counted, and sets CLAMPED in flags. The enumerators compared
 * are cast to unsigned: Clang looks up an operator on one as an overloadable
 * one (SHMLOG__LEVELS_BUILTIN). */
#define SHMLOG__LEVEL_OF(lvl, flags)                                                        \
    (__builtin_constant_p(lvl) && SHMLOG__CAST(unsigned, lvl) > SHMLOG__CAST(unsigned, SHMLOG_LEVEL_FATAL) \
         ? (shmlog__bad_level(), 0u)                                                        \
     : SHMLOG__UNLIKELY(SHMLOG__CAST(unsigned, lvl) > SHMLOG__CAST(unsigned, SHMLOG_LEVEL_FATAL)) \
         ? ((flags) = SHMLOG_REC_CLAMPED, shmlog__out_of_range(), SHMLOG__CAST(unsigned, SHMLOG_LEVEL_FATAL)) \
         : SHMLOG__CAST(unsigned, lvl))
#define SHMLOG__CATEGORY_OF(cat, flags)                                                     \
    (__builtin_constant_p(cat) && SHMLOG__CAST(unsigned, cat) < SHMLOG__CAST(unsigned, SHMLOG_CAT_COUNT) \
         ? SHMLOG__CAST(unsigned, cat)                                                      \
     : __builtin_constant_p(cat) && SHMLOG__CAST(unsigned, cat) >= SHMLOG_MAX_CATEGORIES    \
         ? (shmlog__bad_category(), 0u)                                                     \
     : SHMLOG__UNLIKELY(SHMLOG__CAST(unsigned, cat) >= shmlog__load_relaxed(&shmlog__category_end)) \
         ? ((flags) ? (void)0 : shmlog__out_of_range(), (flags) = SHMLOG_REC_CLAMPED,       \
            SHMLOG__CAST(unsigned, SHMLOG_CAT_NONE))                                        \
         : SHMLOG__CAST(unsigned, cat))
/* A call site registers its format once: a format that changes from call to
 * call would log the first one seen for all of them. */
#define SHMLOG__FORMAT_LITERAL(fmt)                                                         \
    SHMLOG__STATIC_ASSERT(__builtin_constant_p(fmt), "shmlog: the format must be a string literal")

/* Counting a call's arguments: SHMLOG__ARG64 picks its 65th argument, so
 * what follows the format and its n arguments in a list names n (up to 63).
 * SHMLOG__PICK64 expands its list first: SHMLOG__TOO_MANY_31 becomes the 31
 * names of 33 .. 63 arguments (a call's count writes them out, as a macro level
 * more over its whole list costs Clang 0.05 M instructions a site). */
#define SHMLOG__ARG64(_f, _1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, _17, _18, _19, _20, \
    _21, _22, _23, _24, _25, _26, _27, _28, _29, _30, _31, _32, _33, _34, _35, _36, _37, _38, _39, \
    _40, _41, _42, _43, _44, _45, _46, _47, _48, _49, _50, _51, _52, _53, _54, _55, _56, _57, _58, \
    _59, _60, _61, _62, _63, N, ...) N
#define SHMLOG__PICK64(...) SHMLOG__ARG64(__VA_ARGS__)
#define SHMLOG__TOO_MANY_31                                                                      \
    TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, \
    TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, \
    TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, \
    TOO_MANY
/* 0 .. 32 (SHMLOG_MAX_ARGS), or TOO_MANY */
#define SHMLOG__NARGS(...)                                                                              \
    SHMLOG__ARG64(__VA_ARGS__, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, \
                  TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY,      \
                  TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY,      \
                  TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22,  \
                  21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, ~)
/* FITS when the arguments after the format are at most 31 */
#define SHMLOG__FIT31(...) SHMLOG__PICK64(__VA_ARGS__, SHMLOG__TOO_MANY_31, TOO_MANY, \
    FITS, FITS, FITS, FITS, FITS, FITS, FITS, FITS, FITS, FITS, FITS, FITS, FITS, FITS, FITS, FITS, \
    FITS, FITS, FITS, FITS, FITS, FITS, FITS, FITS, FITS, FITS, FITS, FITS, FITS, FITS, FITS, FITS, ~)
/* A call's count (SHMLOG__NARGS) as NONE, SOME or TOO_MANY. */
#define SHMLOG__SOME_0 NONE
#define SHMLOG__SOME_1 SOME
#define SHMLOG__SOME_2 SOME
#define SHMLOG__SOME_3 SOME
#define SHMLOG__SOME_4 SOME
#define SHMLOG__SOME_5 SOME
#define SHMLOG__SOME_6 SOME
#define SHMLOG__SOME_7 SOME
#define SHMLOG__SOME_8 SOME
#define SHMLOG__SOME_9 SOME
#define SHMLOG__SOME_10 SOME
#define SHMLOG__SOME_11 SOME
#define SHMLOG__SOME_12 SOME
#define SHMLOG__SOME_13 SOME
#define SHMLOG__SOME_14 SOME
#define SHMLOG__SOME_15 SOME
#define SHMLOG__SOME_16 SOME
#define SHMLOG__SOME_17 SOME
#define SHMLOG__SOME_18 SOME
#define SHMLOG__SOME_19 SOME
#define SHMLOG__SOME_20 SOME
#define SHMLOG__SOME_21 SOME
#define SHMLOG__SOME_22 SOME
#define SHMLOG__SOME_23 SOME
#define SHMLOG__SOME_24 SOME
#define SHMLOG__SOME_25 SOME
#define SHMLOG__SOME_26 SOME
#define SHMLOG__SOME_27 SOME
#define SHMLOG__SOME_28 SOME
#define SHMLOG__SOME_29 SOME
#define SHMLOG__SOME_30 SOME
#define SHMLOG__SOME_31 SOME
#define SHMLOG__SOME_32 SOME
#define SHMLOG__SOME_TOO_MANY TOO_MANY
#define SHMLOG__CAT_(a, b) a##b
#define SHMLOG__CAT2(a, b) SHMLOG__CAT_(a, b)
/* SHMLOG__EACH(M, fmt, a1..an): M(1, a1) ... M(n, an); the format is skipped. A
 * call counts its arguments once and names the count, n, to SHMLOG__EACH_N:
 * a count is some hundred thousand of GCC's instructions. Up to 8 written out,
 * as each macro level more rescans the list (0.03 M instructions a C++ site of
 * the trading mix on GCC). */
#define SHMLOG__EACH(M, ...) SHMLOG__EACH_N(SHMLOG__NARGS(__VA_ARGS__), M, __VA_ARGS__)
#define SHMLOG__EACH_N(n, M, ...) SHMLOG__CAT2(SHMLOG__EACH_, n)(M, __VA_ARGS__)
#define SHMLOG__EACH_0(M, f)
#define SHMLOG__EACH_1(M, f, a) M(1, a)
#define SHMLOG__EACH_2(M, f, a, b) M(1, a) M(2, b)
#define SHMLOG__EACH_3(M, f, a, b, c) M(1, a) M(2, b) M(3, c)
#define SHMLOG__EACH_4(M, f, a, b, c, d) M(1, a) M(2, b) M(3, c) M(4, d)
#define SHMLOG__EACH_5(M, f, a, b, c, d, e) M(1, a) M(2, b) M(3, c) M(4, d) M(5, e)
#define SHMLOG__EACH_6(M, f, a, b, c, d, e, g) M(1, a) M(2, b) M(3, c) M(4, d) M(5, e) M(6, g)
#define SHMLOG__EACH_7(M, f, a, b, c, d, e, g, h) M(1, a) M(2, b) M(3, c) M(4, d) M(5, e) M(6, g) M(7, h)
#define SHMLOG__EACH_8(M, f, a, b, c, d, e, g, h, i) M(1, a) M(2, b) M(3, c) M(4, d) M(5, e) M(6, g) M(7, h) M(8, i)
#define SHMLOG__EACH_9(M, f, a, b, c, d, e, g, h, i, j) SHMLOG__EACH_8(M, f, a, b, c, d, e, g, h, i) M(9, j)
#define SHMLOG__EACH_10(M, f, a, b, c, d, e, g, h, i, j, k) \
    SHMLOG__EACH_9(M, f, a, b, c, d, e, g, h, i, j) M(10, k)
#define SHMLOG__EACH_11(M, f, a, b, c, d, e, g, h, i, j, k, l) \
    SHMLOG__EACH_10(M, f, a, b, c, d, e, g, h, i, j, k) M(11, l)
#define SHMLOG__EACH_12(M, f, a, b, c, d, e, g, h, i, j, k, l, m) \
    SHMLOG__EACH_11(M, f, a, b, c, d, e, g, h, i, j, k, l) M(12, m)
#define SHMLOG__EACH_13(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n) \
    SHMLOG__EACH_12(M, f, a, b, c, d, e, g, h, i, j, k, l, m) M(13, n)
#define SHMLOG__EACH_14(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o) \
    SHMLOG__EACH_13(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n) M(14, o)
#define SHMLOG__EACH_15(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p) \
    SHMLOG__EACH_14(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o) M(15, p)
#define SHMLOG__EACH_16(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q) \
    SHMLOG__EACH_15(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p) M(16, q)
#define SHMLOG__EACH_17(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17) \
    SHMLOG__EACH_16(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q) M(17, a17)
#define SHMLOG__EACH_18(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18) \
    SHMLOG__EACH_17(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17) M(18, a18)
#define SHMLOG__EACH_19(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19) \
    SHMLOG__EACH_18(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18) M(19, a19)
#define SHMLOG__EACH_20(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20) \
    SHMLOG__EACH_19(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19) M(20, a20)
#define SHMLOG__EACH_21(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21) \
    SHMLOG__EACH_20(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20) M(21, a21)
#define SHMLOG__EACH_22(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22) \
    SHMLOG__EACH_21(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21) M(22, a22)
#define SHMLOG__EACH_23(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22, a23) \
    SHMLOG__EACH_22(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22) M(23, a23)
#define SHMLOG__EACH_24(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22, a23, a24) \
    SHMLOG__EACH_23(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22, a23) M(24, a24)
#define SHMLOG__EACH_25(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22, a23, a24, a25) \
    SHMLOG__EACH_24(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22, a23, a24) M(25, a25)
#define SHMLOG__EACH_26(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26) \
    SHMLOG__EACH_25(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22, a23, a24, a25) M(26, a26)
#define SHMLOG__EACH_27(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27) \
    SHMLOG__EACH_26(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26) M(27, a27)
#define SHMLOG__EACH_28(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28) \
    SHMLOG__EACH_27(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27) M(28, a28)
#define SHMLOG__EACH_29(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29) \
    SHMLOG__EACH_28(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28) M(29, a29)
#define SHMLOG__EACH_30(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30) \
    SHMLOG__EACH_29(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29) M(30, a30)
#define SHMLOG__EACH_31(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31) \
    SHMLOG__EACH_30(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30) M(31, a31)
#define SHMLOG__EACH_32(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32) \
    SHMLOG__EACH_31(M, f, a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31) M(32, a32)


/* Logs one record at category cat and level lvl; the rest is printf-like, at
 * most 32 arguments after the format (SHMLOG_MAX_ARGS).
 * Arguments are evaluated once, and not at all when lvl is below the live level
 * or below SHMLOG_ACTIVE_LEVEL.
 * The TSC is read before the reservation, in the writer after the
 * arguments; a C call of more than 8 reads it at the site, before them
 * (SHMLOG__SITE_TSC). */
#define SHMLOG_LOG(cat, lvl, ...) \
    SHMLOG__LOG_COUNTED(SHMLOG__NARGS(__VA_ARGS__), SHMLOG__LEVELS_CHECKED, cat, lvl, __VA_ARGS__)
/* SHMLOG_INFO and its kin: their category and level are in range, so the
 * call's text carries no check of them. */
#define SHMLOG__LOG_BUILTIN(cat, lvl, ...) \
    SHMLOG__LOG_COUNTED(SHMLOG__NARGS(__VA_ARGS__), SHMLOG__LEVELS_BUILTIN, cat, lvl, __VA_ARGS__)
/* The call with no gate (SHMLOG__LOG): its empty argument is written here, not by a macro level more over
 * the call's whole text, which costs Clang 0.015 M instructions a site. */
#define SHMLOG__LOG_COUNTED(n, levels, cat, lvl, ...) \
    SHMLOG__CAT2(SHMLOG__LOG_, SHMLOG__CAT2(SHMLOG__SOME_, n))(n, levels, cat, lvl, , __VA_ARGS__)
#define SHMLOG__LOG_NONE SHMLOG__LOG
#define SHMLOG__LOG_SOME SHMLOG__LOG
#define SHMLOG__LOG_TOO_MANY(n, levels, cat, lvl, gate, ...) \
    SHMLOG__REFUSE(cat, lvl, 0,                                                             \
                   "shmlog: at most 32 arguments after the format (SHMLOG_MAX_ARGS, fixed by the site " \
                   "layout in shared memory and files): split the call (in C++, or pass values that belong " \
                   "together as one std::tuple or container: one argument)",                 \
                   __VA_ARGS__)

/* A call the header refuses: one error that says why, and nothing else. */
#define SHMLOG__REFUSE(cat, lvl, ms, why, ...)                                                 \
    do {                                                                                       \
        SHMLOG__STATIC_ASSERT(0, why);                                                         \
        if (0) {                                                                               \
            (void)(cat);                                                                       \
            (void)(lvl);                                                                       \
            (void)(ms);                                                                        \
            SHMLOG__USE_ALL(__VA_ARGS__);                                                      \
        }                                                                                      \
    } while (0)

/* A call's level, category and record flags, checked (SHMLOG__LEVEL_OF), or
 * not, where the macro that names them is the library's own: constants then,
 * which a C site keeps (SHMLOG__SITE_NARGS). The name of each also names, by
 * a suffix, the call's floor test (_FLOOR) and what a C call passes its
 * writer (_AT_SITE, _SITE_ARG). */
#define SHMLOG__LEVELS_CHECKED(cat, lvl)                                                         \
    unsigned shmlog__flags = 0;                                                                \
    const unsigned shmlog__lvl = SHMLOG__LEVEL_OF(lvl, shmlog__flags);                        \
    const unsigned shmlog__cat = SHMLOG__CATEGORY_OF(cat, shmlog__flags);
#if defined(__cplusplus) && defined(__clang__)
/* unsigned, not enumerators: Clang looks up every operator on an enumerator as an overloadable one, 1.6 M
 * instructions a site (GCC's enumerators cost it less than variables) */
#define SHMLOG__LEVELS_BUILTIN(cat, lvl) constexpr unsigned shmlog__flags = 0, shmlog__lvl = lvl, shmlog__cat = cat;
#define SHMLOG__LCF shmlog__lvl | shmlog__cat << 8 | shmlog__flags << 16
#elif defined(__cplusplus)
#define SHMLOG__LEVELS_BUILTIN(cat, lvl) enum { shmlog__flags = 0, shmlog__lvl = lvl, shmlog__cat = cat };
/* The record's level word by a function: GCC looks up each operator on an enumerator as an overloadable
 * one, 0.05 M instructions a site for the three written out (the code is the same once inlined). */
namespace shmlog_detail {
inline __attribute__((always_inline)) unsigned lcf(unsigned lvl, unsigned cat, unsigned flags)
{
    return lvl | cat << 8 | flags << 16;
}
} // namespace shmlog_detail
#define SHMLOG__LCF shmlog_detail::lcf(shmlog__lvl, shmlog__cat, shmlog__flags)
#else
#define SHMLOG__LEVELS_BUILTIN(cat, lvl) enum { shmlog__flags = 0, shmlog__lvl = lvl, shmlog__cat = cat };
#define SHMLOG__LCF shmlog__lvl | shmlog__cat << 8 | shmlog__flags << 16
#endif

/* Where a call reads its record's TSC: in its writer, after the arguments
 * and before the reservation, so that its arguments take the registers the
 * TSC's halves would (C++: shmlog_detail::write_params; C, a call of at most
 * 8 arguments: shmlog__write_w<n>); a C call of more, at the site. A rate
 * limit reads its own for its gate. */
#define SHMLOG__TSC_AT_SITE                                                                    \
    uint32_t shmlog__tsc_lo, shmlog__tsc_hi;                                                   \
    SHMLOG__RDTSC_HALVES(shmlog__tsc_lo, shmlog__tsc_hi);
#ifdef __cplusplus
#define SHMLOG__SITE_TSC(n)
#else
#define SHMLOG__SITE_TSC(n) SHMLOG__CAT2(SHMLOG__TSC_, SHMLOG__CAT2(SHMLOG__PASS_, n))
#define SHMLOG__TSC_NONE
#define SHMLOG__TSC_WORDS
#define SHMLOG__TSC_IMAGE SHMLOG__TSC_AT_SITE
#endif
#define SHMLOG__GATE_TSC shmlog__rdtsc()

/* The call of n arguments after the format: levels names how its level and
 * category are taken (SHMLOG__LEVELS_CHECKED); gate is what runs before the
 * arguments (the rate limit of SHMLOG_LOG_EVERY; it may break out), empty
 * otherwise. */
#define SHMLOG__LOG(n, levels, cat, lvl, gate, ...)                                               \
    do {                                                                                       \
        SHMLOG__FORMAT_LITERAL(SHMLOG__FIRST(__VA_ARGS__));                                    \
        levels(cat, lvl)                                                                       \
        /* below SHMLOG_ACTIVE_LEVEL, a constant level leaves nothing of the call */          \
        if (SHMLOG__CAT2(levels, _FLOOR)(shmlog__lvl) SHMLOG__LIKELY(SHMLOG__LIVE(shmlog__lvl, shmlog__cat))) { \
            SHMLOG__SITE_TSC(n)                                                                \
            gate                                                                               \
            SHMLOG__WITH_ARGS(n, levels, __VA_ARGS__)                                          \
        }                                                                                      \
    } while (0)

/* What a call does once its level passed, with each
 * argument i in shmlog__r<i> (C), or their types shmlog__args (C++), from
 * SHMLOG__WITH_ARGS: its static record of itself and its arguments' values,
 * handed to the writer out of line, which registers the site on its first
 * call. */
#define SHMLOG__WRITE(n, levels, ...)                                                          \
    SHMLOG__FMT_DECL(n, __VA_ARGS__)                                                           \
    if (0)                                                                                     \
        SHMLOG__FORMAT_CHECK(n, __VA_ARGS__);                                                  \
    SHMLOG__TYPES_DECL(n, __VA_ARGS__)                                                         \
    SHMLOG__SITE_DECL(n, levels, __VA_ARGS__)                                                  \
    SHMLOG__VALUES_DECL(n, __VA_ARGS__)                                                        \
    SHMLOG__SEND(n, levels, SHMLOG__LCF, __VA_ARGS__)

/* ---- rate-limited calls ---- */

/* A rate-limited call site: when it may write next, the calls it suppressed
 * since it last wrote, and what its marker needs (shmlog_flush_suppressed). */
struct shmlog__every {
    uint64_t due;
    uint64_t skipped;
    uint64_t marker_cache; /* the site word of its marker's site */
    struct shmlog__every *next; /* the sites that wrote once, for the flush */
    const char *file;
    const char *func;
    int line;
    unsigned lc;           /* level | category << 8 */
    int linked;
};
#ifdef __cplusplus
extern "C" {
#endif
/* The site's first write puts it on the list shmlog_flush_suppressed walks. */
void shmlog__every_link(struct shmlog__every *e, unsigned lc);
#ifdef __cplusplus
}
#endif

/* TSC ticks of an interval of ns nanoseconds, at the rate calibrated at init:
 * in two parts so that no product overflows for any interval of a year. */
SHMLOG__INLINE uint64_t shmlog__every_ticks(uint64_t ns)
{
    const uint64_t per_ms = shmlog__load_relaxed(&shmlog__tsc_per_ms);
    return ns / 1000000u * per_ms + ns % 1000000u * per_ms / 1000000u;
}

/* A rate-limited call at tsc: 1 when it writes, the first call at or after
 * e->due, which moves due one interval of ns on (a CAS: two threads never
 * both write), with the calls suppressed since the last write in
 * *suppressed; 0 when it is suppressed, counted in e->skipped for the next
 * write, or the flush at exit, to carry. */
SHMLOG__INLINE int shmlog__every_pass(struct shmlog__every *e, unsigned lc, uint64_t tsc, uint64_t ns,
                                      unsigned long long *suppressed)
{
    uint64_t when = shmlog__load_relaxed(&e->due);
    if (tsc < when || !shmlog__cas_strong_relaxed(&e->due, &when, tsc + shmlog__every_ticks(ns))) {
        shmlog__add_relaxed(&e->skipped, 1);
        return 0;
    }
    if (SHMLOG__UNLIKELY(!shmlog__load_relaxed(&e->linked)))
        shmlog__every_link(e, lc);
    *suppressed = shmlog__exchange_relaxed(&e->skipped, 0);
    return 1;
}

/* A rate limit's interval in ns: integer milliseconds, or (C++) any
 * std::chrono::duration. */
#ifdef __cplusplus
template <class T, typename std::enable_if<std::is_integral<T>::value, int>::type = 0>
constexpr uint64_t shmlog__every_ns(T ms)
{
    return static_cast<uint64_t>(ms) * 1000000u;
}
template <class Rep, class Period>
constexpr uint64_t shmlog__every_ns(std::chrono::duration<Rep, Period> d)
{
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}
#define SHMLOG__EVERY_NS(ms) shmlog__every_ns(ms)
#else
#define SHMLOG__EVERY_NS(ms) (SHMLOG__CAST(uint64_t, (ms)) * 1000000u)
#endif

#define SHMLOG__EVERY_GATE(ms)                                                                 \
    static struct shmlog__every shmlog__every = {0, 0, 0, 0, __FILE__, __func__, __LINE__, 0, 0}; \
    unsigned long long shmlog__suppressed = 0;                                                 \
    if (!shmlog__every_pass(&shmlog__every, shmlog__lvl | shmlog__cat << 8,                     \
                            SHMLOG__GATE_TSC,                                                 \
                            SHMLOG__EVERY_NS(ms), &shmlog__suppressed))                        \
        break;
/* What a rate-limited call appends to its format: printf in either style. */
#define SHMLOG__SUPPRESSED " suppressed=%llu"
/* fmt, a1..an -> fmt " suppressed=%llu", a1..an, shmlog__suppressed (n of them) */
#define SHMLOG__APPEND(n, ...) SHMLOG__CAT2(SHMLOG__APPEND_, SHMLOG__CAT2(SHMLOG__SOME_, n))(__VA_ARGS__)
#define SHMLOG__APPEND_NONE(f) f SHMLOG__SUPPRESSED, shmlog__suppressed
#define SHMLOG__APPEND_SOME(f, ...) f SHMLOG__SUPPRESSED, __VA_ARGS__, shmlog__suppressed
/* A rate-limited call of n arguments: n + 1 with suppressed= appended. */
#define SHMLOG__EVERY_0(...) SHMLOG__EVERY_FITS(0, 1, __VA_ARGS__)
#define SHMLOG__EVERY_1(...) SHMLOG__EVERY_FITS(1, 2, __VA_ARGS__)
#define SHMLOG__EVERY_2(...) SHMLOG__EVERY_FITS(2, 3, __VA_ARGS__)
#define SHMLOG__EVERY_3(...) SHMLOG__EVERY_FITS(3, 4, __VA_ARGS__)
#define SHMLOG__EVERY_4(...) SHMLOG__EVERY_FITS(4, 5, __VA_ARGS__)
#define SHMLOG__EVERY_5(...) SHMLOG__EVERY_FITS(5, 6, __VA_ARGS__)
#define SHMLOG__EVERY_6(...) SHMLOG__EVERY_FITS(6, 7, __VA_ARGS__)
#define SHMLOG__EVERY_7(...) SHMLOG__EVERY_FITS(7, 8, __VA_ARGS__)
#define SHMLOG__EVERY_8(...) SHMLOG__EVERY_FITS(8, 9, __VA_ARGS__)
#define SHMLOG__EVERY_9(...) SHMLOG__EVERY_FITS(9, 10, __VA_ARGS__)
#define SHMLOG__EVERY_10(...) SHMLOG__EVERY_FITS(10, 11, __VA_ARGS__)
#define SHMLOG__EVERY_11(...) SHMLOG__EVERY_FITS(11, 12, __VA_ARGS__)
#define SHMLOG__EVERY_12(...) SHMLOG__EVERY_FITS(12, 13, __VA_ARGS__)
#define SHMLOG__EVERY_13(...) SHMLOG__EVERY_FITS(13, 14, __VA_ARGS__)
#define SHMLOG__EVERY_14(...) SHMLOG__EVERY_FITS(14, 15, __VA_ARGS__)
#define SHMLOG__EVERY_15(...) SHMLOG__EVERY_FITS(15, 16, __VA_ARGS__)
#define SHMLOG__EVERY_16(...) SHMLOG__EVERY_FITS(16, 17, __VA_ARGS__)
#define SHMLOG__EVERY_17(...) SHMLOG__EVERY_FITS(17, 18, __VA_ARGS__)
#define SHMLOG__EVERY_18(...) SHMLOG__EVERY_FITS(18, 19, __VA_ARGS__)
#define SHMLOG__EVERY_19(...) SHMLOG__EVERY_FITS(19, 20, __VA_ARGS__)
#define SHMLOG__EVERY_20(...) SHMLOG__EVERY_FITS(20, 21, __VA_ARGS__)
#define SHMLOG__EVERY_21(...) SHMLOG__EVERY_FITS(21, 22, __VA_ARGS__)
#define SHMLOG__EVERY_22(...) SHMLOG__EVERY_FITS(22, 23, __VA_ARGS__)
#define SHMLOG__EVERY_23(...) SHMLOG__EVERY_FITS(23, 24, __VA_ARGS__)
#define SHMLOG__EVERY_24(...) SHMLOG__EVERY_FITS(24, 25, __VA_ARGS__)
#define SHMLOG__EVERY_25(...) SHMLOG__EVERY_FITS(25, 26, __VA_ARGS__)
#define SHMLOG__EVERY_26(...) SHMLOG__EVERY_FITS(26, 27, __VA_ARGS__)
#define SHMLOG__EVERY_27(...) SHMLOG__EVERY_FITS(27, 28, __VA_ARGS__)
#define SHMLOG__EVERY_28(...) SHMLOG__EVERY_FITS(28, 29, __VA_ARGS__)
#define SHMLOG__EVERY_29(...) SHMLOG__EVERY_FITS(29, 30, __VA_ARGS__)
#define SHMLOG__EVERY_30(...) SHMLOG__EVERY_FITS(30, 31, __VA_ARGS__)
#define SHMLOG__EVERY_31(...) SHMLOG__EVERY_FITS(31, 32, __VA_ARGS__)
#define SHMLOG__EVERY_32 SHMLOG__EVERY_TOO_MANY

/* SHMLOG_LOG at most once per ms milliseconds (in C++ also a std::chrono
 * duration) per call site, over all threads: the calls in between write
 * nothing (their arguments are not evaluated) and are counted, and the next
 * record written carries their number as a field, " suppressed=%llu"
 * appended to the format (so at most 31 arguments). What no later record
 * carried, shmlog_flush_suppressed() writes, as do shmlog_shutdown() and
 * exit(): a record at the call site, "rate limit: suppressed=%llu". The
 * interval is measured in TSC ticks at the rate calibrated at init. */
#define SHMLOG_LOG_EVERY(cat, lvl, ms, ...) SHMLOG__EVERY_COUNTED(SHMLOG__NARGS(__VA_ARGS__), cat, lvl, ms, __VA_ARGS__)
#define SHMLOG__EVERY_COUNTED(n, cat, lvl, ms, ...) SHMLOG__CAT2(SHMLOG__EVERY_, n)(cat, lvl, ms, __VA_ARGS__)
#define SHMLOG__EVERY_FITS(n, n_appended, cat, lvl, ms, ...) \
    SHMLOG__LOG(n_appended, SHMLOG__LEVELS_CHECKED, cat, lvl, SHMLOG__EVERY_GATE(ms), SHMLOG__APPEND(n, __VA_ARGS__))
#define SHMLOG__EVERY_TOO_MANY(cat, lvl, ms, ...)                                              \
    SHMLOG__REFUSE(cat, lvl, ms, "shmlog: at most 31 arguments after the format of a rate-limited call " \
                   "(suppressed= takes the 32nd, SHMLOG_MAX_ARGS): split the call", __VA_ARGS__)

#define SHMLOG__FIRST(...) SHMLOG__FIRST_(__VA_ARGS__, ~)
#define SHMLOG__FIRST_(f, ...) f

#define SHMLOG_TRACE(...) SHMLOG__LOG_BUILTIN(SHMLOG_CAT_NONE, SHMLOG_LEVEL_TRACE, __VA_ARGS__)
#define SHMLOG_DEBUG(...) SHMLOG__LOG_BUILTIN(SHMLOG_CAT_NONE, SHMLOG_LEVEL_DEBUG, __VA_ARGS__)
#define SHMLOG_INFO(...) SHMLOG__LOG_BUILTIN(SHMLOG_CAT_NONE, SHMLOG_LEVEL_INFO, __VA_ARGS__)
#define SHMLOG_WARN(...) SHMLOG__LOG_BUILTIN(SHMLOG_CAT_NONE, SHMLOG_LEVEL_WARN, __VA_ARGS__)
#define SHMLOG_ERROR(...) SHMLOG__LOG_BUILTIN(SHMLOG_CAT_NONE, SHMLOG_LEVEL_ERROR, __VA_ARGS__)
#define SHMLOG_FATAL(...) SHMLOG__LOG_BUILTIN(SHMLOG_CAT_NONE, SHMLOG_LEVEL_FATAL, __VA_ARGS__)

/* Rate-limited: SHMLOG_WARN_EVERY(1000, "feed stale venue=%s", venue) */
#define SHMLOG_TRACE_EVERY(ms, ...) SHMLOG_LOG_EVERY(SHMLOG_CAT_NONE, SHMLOG_LEVEL_TRACE, ms, __VA_ARGS__)
#define SHMLOG_DEBUG_EVERY(ms, ...) SHMLOG_LOG_EVERY(SHMLOG_CAT_NONE, SHMLOG_LEVEL_DEBUG, ms, __VA_ARGS__)
#define SHMLOG_INFO_EVERY(ms, ...) SHMLOG_LOG_EVERY(SHMLOG_CAT_NONE, SHMLOG_LEVEL_INFO, ms, __VA_ARGS__)
#define SHMLOG_WARN_EVERY(ms, ...) SHMLOG_LOG_EVERY(SHMLOG_CAT_NONE, SHMLOG_LEVEL_WARN, ms, __VA_ARGS__)
#define SHMLOG_ERROR_EVERY(ms, ...) SHMLOG_LOG_EVERY(SHMLOG_CAT_NONE, SHMLOG_LEVEL_ERROR, ms, __VA_ARGS__)
#define SHMLOG_FATAL_EVERY(ms, ...) SHMLOG_LOG_EVERY(SHMLOG_CAT_NONE, SHMLOG_LEVEL_FATAL, ms, __VA_ARGS__)

/* Categories: SHMLOG_ORDER(INFO, "id=%lu", id), SHMLOG_RISK(WARN, ...), ... */
#define SHMLOG_TRADE(lvl, ...) SHMLOG_LOG(SHMLOG_CAT_TRADE, SHMLOG_LEVEL_##lvl, __VA_ARGS__)
#define SHMLOG_ORDER(lvl, ...) SHMLOG_LOG(SHMLOG_CAT_ORDER, SHMLOG_LEVEL_##lvl, __VA_ARGS__)
#define SHMLOG_MD(lvl, ...) SHMLOG_LOG(SHMLOG_CAT_MARKET_DATA, SHMLOG_LEVEL_##lvl, __VA_ARGS__)
#define SHMLOG_RISK(lvl, ...) SHMLOG_LOG(SHMLOG_CAT_RISK, SHMLOG_LEVEL_##lvl, __VA_ARGS__)
#define SHMLOG_PORTFOLIO(lvl, ...) SHMLOG_LOG(SHMLOG_CAT_PORTFOLIO, SHMLOG_LEVEL_##lvl, __VA_ARGS__)
/* A category of the program's own: SHMLOG_CAT(venue, INFO, "...") with the
 * id shmlog_category("venue") returned. */
#define SHMLOG_CAT(cat, lvl, ...) SHMLOG_LOG(cat, SHMLOG_LEVEL_##lvl, __VA_ARGS__)

/* ==== Trace context ====
 *
 * A thread works for one trace at a time (an order on its way through
 * processes): shmlog_trace_set writes one record flagged SHMLOG_REC_TRACE,
 * and readers give the thread's records after it that trace id and span
 * name, until it sets another or clears it. Log calls are not changed by it:
 * they cost the same with a context set or not. Not async-signal-safe.
 *
 *     shmlog_trace_set(id_hi, id_lo, "decision");  // 128-bit id; 0, 0 is none
 *     SHMLOG_ORDER(INFO, "send id=%lu", id);       // read back with its trace
 *     shmlog_trace_clear();
 */
#include <errno.h>
#ifdef __cplusplus
extern "C" {
#endif
/* A thread's context: the id (0, 0 when none) and its span, NUL-terminated. */
struct shmlog_trace {
    uint64_t hi, lo;
    char span[SHMLOG_TRACE_SPAN_BYTES + 1];
};
/* Sets the calling thread's context; span may be NULL (none), a longer one is
 * cut to SHMLOG_TRACE_SPAN_BYTES. The same context again writes nothing.
 * 0; -EINVAL for the id 0, 0; -ENODEV before shmlog_init; -ENOSPC when the
 * record was dropped (full ring, counted): the thread keeps its old context. */
int shmlog_trace_set(uint64_t id_hi, uint64_t id_lo, const char *span);
/* The thread works for no trace from now on. 0, or as shmlog_trace_set. */
int shmlog_trace_clear(void);
/* The calling thread's context as last set (all zero when none). */
void shmlog_trace_get(struct shmlog_trace *out);
/* Sets t as it is (clears when its id is 0): what a scope puts back. */
int shmlog_trace_restore(const struct shmlog_trace *t);
#ifdef __cplusplus
}
#endif

/* A 64-bit trace id is the 128-bit one with a zero high half. */
static inline int shmlog_trace_set64(uint64_t id, const char *span)
{
    return shmlog_trace_set(0, id, span);
}

/* W3C Trace Context `traceparent`: "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>". */
#define SHMLOG_TRACEPARENT_BYTES 55u
struct shmlog_traceparent {
    uint64_t trace_hi, trace_lo; /* never both 0 */
    uint64_t parent_id;          /* the caller's span, never 0 */
    uint8_t flags;               /* bit 0: sampled */
};

static inline int shmlog__hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* n lowercase hex digits at s into *v: 0, or -1 at any other byte. */
static inline int shmlog__hex_read(const char *s, unsigned n, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < n; i++) {
        int d = shmlog__hex_value(s[i]);
        if (d < 0)
            return -1;
        x = x << 4 | SHMLOG__CAST(uint64_t, d);
    }
    *v = x;
    return 0;
}

/* Parses a traceparent header value (NUL-terminated). A version above 00
 * may carry more after its 55 bytes, behind a '-' (the spec's rule for
 * versions it does not know); version ff, uppercase hex and zero ids are
 * refused. 0 or -EINVAL. */
static inline int shmlog_traceparent_parse(const char *s, struct shmlog_traceparent *out)
{
    uint64_t version, flags;
    size_t len = strlen(s);
    if (len < SHMLOG_TRACEPARENT_BYTES || shmlog__hex_read(s, 2, &version) || version == 0xff || s[2] != '-' ||
        s[35] != '-' || s[52] != '-' || (version == 0 && len != SHMLOG_TRACEPARENT_BYTES) ||
        (len > SHMLOG_TRACEPARENT_BYTES && s[SHMLOG_TRACEPARENT_BYTES] != '-'))
        return -EINVAL;
    struct shmlog_traceparent tp;
    if (shmlog__hex_read(s + 3, 16, &tp.trace_hi) || shmlog__hex_read(s + 19, 16, &tp.trace_lo) ||
        shmlog__hex_read(s + 36, 16, &tp.parent_id) || shmlog__hex_read(s + 53, 2, &flags) ||
        (!tp.trace_hi && !tp.trace_lo) || !tp.parent_id)
        return -EINVAL;
    tp.flags = SHMLOG__CAST(uint8_t, flags);
    *out = tp;
    return 0;
}

/* Writes tp as a version 00 traceparent and its NUL to out. */
static inline void shmlog_traceparent_format(const struct shmlog_traceparent *tp,
                                             char out[SHMLOG_TRACEPARENT_BYTES + 1])
{
    static const char digits[] = "0123456789abcdef";
    const uint64_t words[3] = {tp->trace_hi, tp->trace_lo, tp->parent_id};
    char *o = out;
    *o++ = '0';
    *o++ = '0';
    for (unsigned w = 0; w < 3; w++) {
        if (w != 1)
            *o++ = '-';
        for (int shift = 60; shift >= 0; shift -= 4)
            *o++ = digits[words[w] >> shift & 0xF];
    }
    *o++ = '-';
    *o++ = digits[tp->flags >> 4];
    *o++ = digits[tp->flags & 0xF];
    *o = '\0';
}

/* Continues the trace a traceparent header names: 0, or -EINVAL, or as shmlog_trace_set. */
static inline int shmlog_trace_set_traceparent(const char *header, const char *span)
{
    struct shmlog_traceparent tp;
    int err = shmlog_traceparent_parse(header, &tp);
    return err ? err : shmlog_trace_set(tp.trace_hi, tp.trace_lo, span);
}

#ifdef __cplusplus
/* The thread works for trace (hi, lo) as span in this scope; the context it
 * had before is back when the scope ends. */
class shmlog_trace_scope {
public:
    shmlog_trace_scope(uint64_t hi, uint64_t lo, const char *span = nullptr)
    {
        shmlog_trace_get(&prev_);
        shmlog_trace_set(hi, lo, span);
    }
    explicit shmlog_trace_scope(uint64_t id, const char *span = nullptr) : shmlog_trace_scope(0, id, span) {}
    ~shmlog_trace_scope() { shmlog_trace_restore(&prev_); }
    shmlog_trace_scope(const shmlog_trace_scope &) = delete;
    shmlog_trace_scope &operator=(const shmlog_trace_scope &) = delete;

private:
    struct shmlog_trace prev_;
};
#endif
