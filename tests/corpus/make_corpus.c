/* Description: writes one version's files of the format corpus (tests/corpus/README) with the
 * encoder of format/include/shlog_file.h, every value fixed so that what shmlog-dump prints for them
 * never changes:
 *
 *   make_corpus OUTDIR    writes OUTDIR/processes.shlog   three processes, call sites of every
 *                                                         argument type, strings kept and literal,
 *                                                         truncated, in continuation slots, decimal
 *                                                         and raw doubles, a record of an unknown
 *                                                         site and one that does not parse
 *                                 OUTDIR/losses.shlog     a loss marker of every reason the
 *                                                         collector writes, exit markers
 *                                 OUTDIR/backtrace.shlog  records kept below the live level, written
 *                                                         in BACKTRACE sections at a trigger and at a
 *                                                         request, the batches that passed over them
 *                                 OUTDIR/records.shlog    strings of 419 bytes and more followed by
 *                                                         an integer, strings ending at and around
 *                                                         every slot boundary and the payload bound,
 *                                                         sixteen arguments, %.*s, and a loss marker
 *                                                         of a record that could not be encoded
 *                                 OUTDIR/rotation/       two files of one host, the second as after
 *                                                         a rotation and a collector restart: process
 *                                                         and sites again, records and a drop counter
 *                                                         written again
 *                                 OUTDIR/threads.shlog   threads named (THREAD), renamed, cut, never
 *                                                         named, one tid in two processes
 *                                 OUTDIR/instance.shlog  two containers' pid 1, one uid, one start time,
 *                                                         told apart by their instance; a step of the
 *                                                         wall clock between two collectors, seen only
 *                                                         in the anchors' offsets (records between them
 *                                                         time_uncertain); an exit at the last time a
 *                                                         file can say (2^64 - 1 ns)
 *
 * Every frame carries the host clock's anchors (CLOCK, FORMAT.md section 6): a wall clock
 * 100 ppm faster than the processes' own calibration, so that a reader that maps with the
 * anchors prints other times than one that does not.
 *
 * Files once checked in are never written again (the README says why): this program makes the
 * files of a new version, and documents how the old ones were made. Built with
 * -DCORPUS_EXIT_WITHOUT_HOW, it takes the encoder from before EXIT's `how` (as of commit 92179eb),
 * which wrote tests/corpus/v2; with -DCORPUS_WITHOUT_CLOCK, the encoder from before CLOCK, which
 * wrote tests/corpus/v2-exit-how; with -DCORPUS_WITHOUT_CATEGORIES -DCORPUS_WITHOUT_BACKTRACE, what
 * it wrote before the categories a program names (CATEGORY, section 7), records flagged clamped,
 * the loss reason before_init and backtrace.shlog (BACKTRACE, section 8): tests/corpus/v2-clock.
 * With -DCORPUS_WITHOUT_RECORDS -DCORPUS_WITHOUT_INSTANCE, what wrote tests/corpus/v2-categories (with
 * the encoder from before the loss reason unencodable, which stored the record of processes.shlog that
 * does not parse raw). With -DCORPUS_WITHOUT_INSTANCE, what wrote tests/corpus/v2-records. With
 * -DCORPUS_WITHOUT_RECORDS, what wrote tests/corpus/v2-instance, the process instance (PROCESS) and the
 * anchors' offsets (CLOCK) and instance.shlog (with that older encoder too: the two were made side by side).
 * With -DCORPUS_WITHOUT_THREADS, what wrote tests/corpus/v2-func: the call sites' functions and a
 * descriptor (SITE's tail, FORMAT.md section 2); -DCORPUS_WITHOUT_FUNC, implied by each flag above, leaves
 * them out. With -DCORPUS_WITHOUT_FUNC, threads.shlog of tests/corpus/v2-threads (its other files are those
 * of the directories before it, so only threads.shlog was kept); -DCORPUS_WITHOUT_THREADS leaves it out.
 * With -DCORPUS_WITHOUT_INDEX, what wrote tests/corpus/v2-sites-first: every file's header says
 * SHLOG_FILE_SITES_FIRST, and the encoder writes each frame's first definitions ahead of its other
 * sections; every flag above implies -DCORPUS_WITHOUT_SITES_FIRST, which leaves the header's flag out
 * (those directories were written by the encoders before, which kept every section in order).
 * With -DCORPUS_WITHOUT_TRACE, what wrote tests/corpus/v2-index4 (and, with the encoder of index version 3,
 * tests/corpus/v2-index3; of version 2, tests/corpus/v2-index2; of version 1, tests/corpus/v2-index): every file closed with the index's footer
 * (FORMAT.md, "Index"), and index.shlog, of enough frames for index frames between them; every flag
 * above implies -DCORPUS_WITHOUT_INDEX, which leaves the footer and index.shlog out (the files have
 * fewer than 16 frames, so the encoder writes no index frame of its own).
 * Built as it is, every file's header says SHLOG_FILE_COLLECTOR_HOST (FORMAT.md, "File header") and it also
 * writes hosts.shlog, which tests/corpus/v2-host keeps (with the flag, and as hosts-before.shlog without it:
 * -DCORPUS_WITHOUT_COLLECTOR_HOST, what the collectors before it wrote, which every flag above implies): two
 * processes whose own names for their machines are not the collector's --host. It also writes trace.shlog, which tests/corpus/v2-trace keeps alone (written with the encoder
 * of index version 3; its other files are v2-index3's): records flagged SHMLOG_REC_TRACE (FORMAT.md, "Trace context"); -DCORPUS_WITHOUT_TRACE
 * leaves it out. Built as it is, with the encoder of index version 5 ("Trace ids in the index"), what wrote
 * tests/corpus/v2-index5, and with that of version 6 ("Message words"), tests/corpus/v2-index6: every file
 * above, and traces.shlog, 40 frames of threads whose traces hold over many of them;
 * -DCORPUS_WITHOUT_TRACES leaves it out (implied by -DCORPUS_WITHOUT_TRACE and -DCORPUS_WITHOUT_INDEX).
 * With the encoder of version 7 ("Slow hosts' frames"), tests/corpus/v2-index7: every file above, and
 * grouped.shlog, small frames whose own filters are left out; -DCORPUS_WITHOUT_GROUPED leaves it out
 * (implied by -DCORPUS_WITHOUT_TRACES). With the encoder of version 8 ("Substrings"), tests/corpus/v2-index8:
 * every file above, and grams.shlog, frames large enough for their index frames' gram filters;
 * -DCORPUS_WITHOUT_GRAMS leaves it out (implied by -DCORPUS_WITHOUT_GROUPED).
 */
#if defined(CORPUS_EXIT_WITHOUT_HOW) || defined(CORPUS_WITHOUT_CLOCK) || defined(CORPUS_WITHOUT_CATEGORIES) || \
    defined(CORPUS_WITHOUT_BACKTRACE) || defined(CORPUS_WITHOUT_RECORDS) || defined(CORPUS_WITHOUT_INSTANCE)
#define CORPUS_WITHOUT_FUNC
#endif
#if defined(CORPUS_WITHOUT_FUNC) || defined(CORPUS_WITHOUT_THREADS) || defined(CORPUS_WITHOUT_SITES_FIRST)
#define CORPUS_WITHOUT_INDEX
#endif
#if defined(CORPUS_WITHOUT_FUNC) || defined(CORPUS_WITHOUT_THREADS)
#define CORPUS_WITHOUT_SITES_FIRST
#endif
#if defined(CORPUS_WITHOUT_TRACE) || defined(CORPUS_WITHOUT_INDEX)
#define CORPUS_WITHOUT_TRACES
#endif
#ifdef CORPUS_WITHOUT_TRACES
#define CORPUS_WITHOUT_GROUPED
#endif
#ifdef CORPUS_WITHOUT_GROUPED
#define CORPUS_WITHOUT_GRAMS
#endif
#if defined(CORPUS_WITHOUT_INDEX) || defined(CORPUS_WITHOUT_TRACE)
#define CORPUS_WITHOUT_COLLECTOR_HOST
#endif
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shlog_file.h"

#define CREATED_NS 1767225600000000000ull /* 2026-01-01T00:00:00Z */
#define TSC_HZ 3000000000ull
#define ANCHOR_TSC 1000000000ull
#define TICKS_PER_US 3000ull
/* CLOCK_REALTIME - CLOCK_MONOTONIC of the anchors: a host up for 100 000 s. */
#define OFFSET_NS ((int64_t)(CREATED_NS - 100000000000000ull))

static const char *out_dir;

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "make_corpus: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void check(long rc, const char *what)
{
    if (rc < 0)
        die("%s: %s", what, strerror((int)-rc));
}

/* ==== Files and frames ==== */

struct out {
    FILE *f;
    struct shlog_enc *enc;
    char path[4096];
};

static void file_open(struct out *o, const char *name, uint64_t seq)
{
    snprintf(o->path, sizeof(o->path), "%s/%s", out_dir, name);
    o->f = fopen(o->path, "wb");
    if (!o->f)
        die("%s: %s", o->path, strerror(errno));
    check(shlog_enc_new(&o->enc, 3), "encoder");
    struct shlog_file_header h = {.file_seq = seq, .created_ns = CREATED_NS + seq * 1000000000ull,
                                  .collector_pid = 4000};
#ifndef CORPUS_WITHOUT_SITES_FIRST
    h.flags = SHLOG_FILE_SITES_FIRST; /* the encoder writes every frame's first definitions first */
#endif
#ifndef CORPUS_WITHOUT_COLLECTOR_HOST
    h.flags |= SHLOG_FILE_COLLECTOR_HOST;
#endif
    snprintf(h.host, sizeof(h.host), "corpus-host");
    uint8_t b[SHLOG_FILE_HEADER_BYTES];
    shlog_file_header_encode(b, &h);
    if (fwrite(b, 1, sizeof(b), o->f) != sizeof(b))
        die("%s: cannot write", o->path);
}

/* Appends what the encoder makes of its state (a frame, the index's footer). */
static void encoded_write(struct out *o, size_t cap, long (*make)(struct shlog_enc *, void *, size_t),
                          const char *what)
{
    void *buf = malloc(cap);
    if (!buf)
        die("out of memory");
    long n = make(o->enc, buf, cap);
    check(n, what);
    if (fwrite(buf, 1, (size_t)n, o->f) != (size_t)n)
        die("%s: cannot write", o->path);
    free(buf);
}

/* Seals the open frame and appends it to the file. */
static void frame_write(struct out *o)
{
    encoded_write(o, shlog_enc_frame_bound(o->enc), shlog_enc_frame, "frame");
}

static void frame(struct out *o)
{
#ifndef CORPUS_WITHOUT_CLOCK
    /* Frame k: anchors 10 k s and 10 (k + 1) s of TSC after the calibration's, each 10 s of
     * TSC at the calibration's rate 10.001 s of wall clock, as a collector takes them. */
    static uint64_t frames;
    struct shm_clock_anchor anchors[2] = {
        {.tsc = ANCHOR_TSC + frames * 10 * TSC_HZ, .ns = CREATED_NS + frames * 10001000000ull, .err_ns = 12},
        {.tsc = ANCHOR_TSC + (frames + 1) * 10 * TSC_HZ, .ns = CREATED_NS + (frames + 1) * 10001000000ull,
         .err_ns = 9},
    };
#ifndef CORPUS_WITHOUT_INSTANCE
    for (int i = 0; i < 2; i++) { /* no step: one offset */
        anchors[i].flags |= SHM_ANCHOR_OFFSET;
        anchors[i].offset_ns = OFFSET_NS;
    }
#endif
    frames++;
    struct shlog_clock_info ci = {.hz_q16 = (TSC_HZ << 16) / 10001 * 10000, .tsc_invariant = SHLOG_YES,
                                  .synchronized = SHLOG_YES, .esterror_ns = 500000, .clocksource = "tsc"};
    check(shlog_enc_clock(o->enc, &ci, anchors, 2), "clock");
#endif
    frame_write(o);
}

/* The index's footer, as the collector closes a file. */
static void footer_write(struct out *o)
{
#ifndef CORPUS_WITHOUT_INDEX
    encoded_write(o, shlog_enc_footer_bound(o->enc), shlog_enc_footer, "footer");
#else
    (void)o;
#endif
}

static void file_close(struct out *o)
{
    frame(o);
    footer_write(o);
    shlog_enc_free(o->enc);
    if (fclose(o->f) != 0)
        die("%s: cannot write", o->path);
    printf("%s\n", o->path);
}

/* ==== Processes, sites, records ==== */

/* The producers' own name for their machine: the collector's --host, but in hosts.shlog. */
static const char *producer_host = "corpus-host";

static void process(struct out *o, uint32_t key, const char *app, uint32_t pid, uint64_t proc_start)
{
    struct shm_proc_info p;
    memset(&p, 0, sizeof(p));
    snprintf(p.app, sizeof(p.app), "%s", app);
    snprintf(p.host, sizeof(p.host), "%s", producer_host);
    p.pid = pid;
    p.uid = 1000;
    p.proc_start = proc_start;
    p.created_ns = CREATED_NS;
    p.tsc_hz = TSC_HZ;
    p.anchor_tsc = ANCHOR_TSC;
    p.anchor_ns = CREATED_NS;
#ifndef CORPUS_WITHOUT_INSTANCE
    for (unsigned i = 0; i < sizeof(p.instance); i++) /* the process's own, as its segments had it */
        p.instance[i] = (uint8_t)(pid * 131 + proc_start * 7 + (uint8_t)app[i % strlen(app)] + i);
#endif
    check(shlog_enc_process(o->enc, key, &p), "process");
}

/* A site of proc with the types of a 0-terminated list. */
static void site(struct out *o, uint32_t proc, uint32_t id, unsigned level, unsigned category, const char *fmt, ...)
{
    struct shm_site s;
    memset(&s, 0, sizeof(s));
    s.id = id;
    s.line = 100 + id;
    s.level = (uint8_t)level;
    s.category = (uint8_t)category;
    snprintf(s.fmt, sizeof(s.fmt), "%s", fmt);
    s.fmt_len = (uint32_t)strlen(s.fmt);
    snprintf(s.file, sizeof(s.file), "src/corpus/site%u.c", id);
    s.file_len = (uint32_t)strlen(s.file);
#ifndef CORPUS_WITHOUT_FUNC
    /* SITE's tail: odd ids name their function, even ones do not (as a site
     * of a segment before function names); "unnamed" names the longest one a
     * site may have, and "strategy leg=%d" has a descriptor too. */
    if (strcmp(fmt, "unnamed") == 0)
        for (s.func_len = 0; s.func_len < SHMLOG_MAX_FUNC_BYTES; s.func_len++)
            s.func[s.func_len] = (char)('a' + s.func_len % 26);
    else if (id % 2)
        s.func_len = (uint32_t)snprintf(s.func, sizeof(s.func), "on_site%u", id);
    if (strcmp(fmt, "strategy leg=%d") == 0)
        s.desc_len = (uint32_t)snprintf(s.desc, sizeof(s.desc), "e1 Leg Near=0,Far=1");
#endif
    va_list ap;
    va_start(ap, fmt);
    int t;
    while ((t = va_arg(ap, int)) != 0)
        s.arg_types[s.nargs++] = (uint8_t)t;
    va_end(ap);
    check(shlog_enc_site(o->enc, proc, &s), "site");
}

/* A payload in the ring's layout: fixed widths, strings as u16 + bytes. */
struct pay {
    uint8_t b[SHMLOG_MAX_PAYLOAD];
    size_t n;
};

static void pay_int(struct pay *p, unsigned width, uint64_t v)
{
    for (unsigned i = 0; i < width; i++)
        p->b[p->n++] = (uint8_t)(v >> (8 * i));
}

static void pay_f64(struct pay *p, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof(v));
    pay_int(p, 8, v);
}

static void pay_f32(struct pay *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, sizeof(v));
    pay_int(p, 4, v);
}

/* A string, cut to fit what is left of the payload (then marked truncated). */
static void pay_str(struct pay *p, const char *s, int *truncated)
{
    size_t n = strlen(s), room = sizeof(p->b) - p->n - 2;
    uint16_t hdr = (uint16_t)n;
    if (n > room) {
        n = room;
        hdr = (uint16_t)(n | SHMLOG_STR_TRUNCATED);
        *truncated = 1;
    }
    pay_int(p, 2, hdr);
    memcpy(p->b + p->n, s, n);
    p->n += n;
}

static unsigned record_flags; /* SHMLOG_REC_* every record gets besides TRUNCATED */

struct batch {
    struct out *o;
    uint64_t pos, tsc;
    uint32_t tid;
    uint32_t proc, cpu;
};

static void batch_begin(struct batch *b, struct out *o, uint32_t proc, uint32_t cpu, uint64_t pos, uint64_t us)
{
    b->o = o;
    b->pos = pos;
    b->tsc = ANCHOR_TSC + us * TICKS_PER_US;
    b->tid = 0;
    b->proc = proc;
    b->cpu = cpu;
    check(shlog_enc_batch_begin(o->enc, proc, cpu), "batch");
}

static void batch_again(struct batch *b, uint32_t proc, uint32_t cpu, uint64_t pos);

/* The next record of the batch, dt_us after the last, from thread tid;
 * extra_slots: slots it reserved beyond what its payload needs. */
/* flags: SHMLOG_REC_*, or 1 for truncated (SHMLOG_REC_TRUNCATED) */
static void record(struct batch *b, uint32_t site_id, uint32_t tid, unsigned level, unsigned category,
                   const struct pay *p, int flags, unsigned extra_slots, uint64_t dt_us)
{
    struct shm_copied_record r;
    memset(&r, 0, sizeof(r));
    b->tsc += dt_us * TICKS_PER_US;
    r.pos = b->pos;
    r.tsc = b->tsc;
    r.site = site_id;
    r.tid = tid;
    r.level = (uint8_t)level;
    r.category = (uint8_t)category;
    r.flags = (uint8_t)(flags | record_flags);
    r.nslots = (uint8_t)(shmlog_slots_for_payload(p->n) + extra_slots);
    /* The capacity of its slots, as the ring hands it over; the bytes past
     * the arguments are the ring's, zero here. */
    r.payload_len = (uint16_t)(SHMLOG_HEAD_PAYLOAD + (r.nslots - 1) * SHMLOG_CONT_PAYLOAD);
    if (r.payload_len > SHMLOG_MAX_PAYLOAD)
        r.payload_len = SHMLOG_MAX_PAYLOAD;
    memcpy(r.payload, p->b, p->n);
    check(shlog_enc_record(b->o->enc, &r), "record");
    b->pos += r.nslots;
    /* A payload that does not hold its site's arguments is not encoded: its
     * loss marker, as the collector writes it, between two batches. (The
     * encoder before that stored it raw: v2-categories/ and older.) */
    struct shm_loss l;
    if (shlog_enc_take_loss(b->o->enc, &l, NULL)) {
        check(shlog_enc_batch_end(b->o->enc), "batch end");
        check(shlog_enc_loss(b->o->enc, b->proc, b->cpu, &l, 0), "loss");
        batch_again(b, b->proc, b->cpu, b->pos);
    }
}

static void batch_end(struct batch *b)
{
    check(shlog_enc_batch_end(b->o->enc), "batch end");
}

/* Another batch of the same ring from position pos, its times going on from
 * the last record: what the collector writes after a loss marker. */
static void batch_again(struct batch *b, uint32_t proc, uint32_t cpu, uint64_t pos)
{
    uint64_t tsc = b->tsc;
    batch_begin(b, b->o, proc, cpu, pos, 0);
    b->tsc = tsc;
}

static void loss(struct out *o, uint32_t proc, uint32_t cpu, unsigned reason, uint64_t first_pos, uint64_t positions,
                 uint64_t records, uint64_t counter_total)
{
    struct shm_loss l = {.first_pos = first_pos, .positions = positions, .records = records, .reason = reason};
    check(shlog_enc_loss(o->enc, proc, cpu, &l, counter_total), "loss");
}

#ifdef CORPUS_EXIT_WITHOUT_HOW
#define EXIT_SHUTDOWN 1
#define EXIT_DIED 2
#define enc_exit(e, proc, ns, records, lost, how) shlog_enc_exit(e, proc, ns, records, lost)
#else
#define EXIT_SHUTDOWN SHLOG_EXIT_SHUTDOWN
#define EXIT_DIED SHLOG_EXIT_DIED
#define enc_exit(e, proc, ns, records, lost, how) shlog_enc_exit(e, proc, ns, records, lost, how)
#endif

static void exit_marker(struct out *o, uint32_t proc, uint64_t at_us, uint64_t records, uint64_t lost, int how)
{
    (void)how; /* the encoder before EXIT's how has none */
    check(enc_exit(o->enc, proc, CREATED_NS + at_us * 1000, records, lost, how), "exit");
}

/* ==== processes.shlog ==== */

static const char *const symbols[] = {"ESZ6", "NQZ6", "CLF7", "GCG7", "ZNH7", "6EZ6", "BTCZ6", "YMZ6", "RTYZ6", "HGH7"};

static const char long_reason[] =
    "self-trade prevention: resting order on the opposite side from the same account, cancelled by "
    "the venue after the risk check; long enough for several continuation slots";

static const char too_long[] =
    "a reason longer than any payload holds, so the producer cut it and marked the record truncated: "
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghij"
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghij"
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghij"
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghij"
    "and this end never fits";

static void all_types(struct batch *b, uint64_t k, double f64, float f32, const char *s)
{
    struct pay p = {{0}, 0};
    int t = 0;
    pay_int(&p, 1, k & 1);
    pay_int(&p, 1, (uint64_t)(int64_t)-(int64_t)(k + 1));
    pay_int(&p, 1, 200 + k);
    pay_int(&p, 2, (uint64_t)(int64_t)(-30000 + (int64_t)k));
    pay_int(&p, 2, 65000 + k);
    pay_int(&p, 4, (uint64_t)(int64_t)(-2000000000 + (int64_t)k));
    pay_int(&p, 4, 4000000000u + k);
    pay_int(&p, 8, (uint64_t)(INT64_MIN + (int64_t)k));
    pay_int(&p, 8, UINT64_MAX - k);
    pay_f32(&p, f32);
    pay_f64(&p, f64);
    pay_int(&p, 8, 0x7ffd12345000ull + 64 * k);
    pay_str(&p, s, &t);
    record(b, 1, 501, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, &p, t, 0, 7);
}

static void order(struct batch *b, uint32_t tid, const char *sym, double px, int32_t qty, const char *side)
{
    struct pay p = {{0}, 0};
    int t = 0;
    pay_str(&p, sym, &t);
    pay_f64(&p, px);
    pay_int(&p, 4, (uint32_t)qty);
    pay_str(&p, side, &t);
    record(b, 2, tid, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, &p, t, 0, 3);
}

static void reject(struct batch *b, const char *sym, const char *reason, unsigned extra_slots)
{
    struct pay p = {{0}, 0};
    int t = 0;
    pay_str(&p, sym, &t);
    pay_str(&p, reason, &t);
    record(b, 3, 502, SHMLOG_LEVEL_WARN, SHMLOG_CAT_ORDER, &p, t, extra_slots, 11);
}

static void quote(struct batch *b, uint32_t tid, const char *sym, double bid, double ask, uint32_t bsz, uint32_t asz)
{
    struct pay p = {{0}, 0};
    int t = 0;
    pay_str(&p, sym, &t);
    pay_f64(&p, bid);
    pay_f64(&p, ask);
    pay_int(&p, 4, bsz);
    pay_int(&p, 4, asz);
    record(b, 1, tid, SHMLOG_LEVEL_DEBUG, SHMLOG_CAT_MARKET_DATA, &p, t, 0, 1);
}

static void write_processes(void)
{
    struct out o;
    file_open(&o, "processes.shlog", 1);
    process(&o, 1, "gateway", 1001, 5001);
    process(&o, 2, "pricer", 1002, 5002);
    process(&o, 3, "risk", 1003, 5003);
    site(&o, 1, 1, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE,
         "all b=%d i8=%d u8=%u i16=%d u16=%u i32=%d u32=%u i64=%lld u64=%llu f32=%g f64=%.17g ptr=%p s=%s",
         SHMLOG_ARG_BOOL, SHMLOG_ARG_I8, SHMLOG_ARG_U8, SHMLOG_ARG_I16, SHMLOG_ARG_U16, SHMLOG_ARG_I32,
         SHMLOG_ARG_U32, SHMLOG_ARG_I64, SHMLOG_ARG_U64, SHMLOG_ARG_F32, SHMLOG_ARG_F64, SHMLOG_ARG_PTR,
         SHMLOG_ARG_STR, 0);
    site(&o, 1, 2, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, "order sym=%s px=%.2f qty=%d side=%s", SHMLOG_ARG_STR,
         SHMLOG_ARG_F64, SHMLOG_ARG_I32, SHMLOG_ARG_STR, 0);
    site(&o, 1, 3, SHMLOG_LEVEL_WARN, SHMLOG_CAT_ORDER, "reject sym=%s reason=%s", SHMLOG_ARG_STR, SHMLOG_ARG_STR,
         0);
    site(&o, 1, 4, SHMLOG_LEVEL_DEBUG, SHMLOG_CAT_NONE, "heartbeat", 0);

    /* Frame 1: the gateway on two cpus. */
    struct batch b;
    batch_begin(&b, &o, 1, 0, 0, 10);
    all_types(&b, 0, 101.25, 3.5f, "plain");
    all_types(&b, 1, -0.0, -1.0f / 3.0f, "");
    all_types(&b, 2, 0.1 + 0.2, 1e-40f, "a string of exactly 32 bytes ok");
    all_types(&b, 3, INFINITY, NAN, "tab\there, newline\nand a quote \" in it");
    all_types(&b, 4, 4.9e-324, 16777216.0f, "\xc3\xa9t\xc3\xa9 and a bad byte \xff");
    all_types(&b, 5, -123456.789, 0.1f, "plain"); /* the string from the table */
    for (unsigned i = 0; i < 12; i++) /* twelve symbols and back: the table's slots cycle */
        order(&b, 503, symbols[i % 10], 4500.25 + 0.25 * (i % 4), (int32_t)(i * 10) - 30, i & 1 ? "sell" : "buy");
    order(&b, 503, symbols[3], 4500.5, 7, "buy");
    order(&b, 503, "A-SYMBOL-LONGER-THAN-THIRTY-TWO-BYTES", 1.0 / 3.0, 1, "buy");
    reject(&b, "ESZ6", long_reason, 0);
    reject(&b, "ESZ6", too_long, 0);
    reject(&b, "NQZ6", "price band", 2); /* reserved more slots than it used */
    struct pay none = {{0}, 0};
    record(&b, 4, 501, SHMLOG_LEVEL_DEBUG, SHMLOG_CAT_NONE, &none, 0, 0, 1000);
    struct pay raw = {{0}, 0};
    pay_int(&raw, 8, 0x1122334455667788ull);
    record(&b, 99, 501, SHMLOG_LEVEL_ERROR, SHMLOG_CAT_NONE, &raw, 0, 0, 5); /* a site never defined */
    struct pay short_order = {{0}, 0};
    pay_int(&short_order, 2, 40); /* says 40 bytes of symbol, has none */
    record(&b, 2, 503, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, &short_order, 0, 0, 5);
    batch_end(&b);
    uint64_t cpu0_pos = b.pos;
    batch_begin(&b, &o, 1, 3, 1000, 20);
    for (unsigned i = 0; i < 5; i++)
        order(&b, 504, symbols[i % 2], 99.99 + i, -(int32_t)i, "sell");
    batch_end(&b);
    frame(&o);

    /* Frame 2: the pricer and the risk process, and the gateway again (its
     * contexts start over with each batch). */
    site(&o, 2, 1, SHMLOG_LEVEL_DEBUG, SHMLOG_CAT_MARKET_DATA, "quote sym=%s bid=%.4f ask=%.4f bsz=%u asz=%u",
         SHMLOG_ARG_STR, SHMLOG_ARG_F64, SHMLOG_ARG_F64, SHMLOG_ARG_U32, SHMLOG_ARG_U32, 0);
    site(&o, 2, 2, SHMLOG_LEVEL_INFO, SHMLOG_CAT_MARKET_DATA, "fx rate=%f", SHMLOG_ARG_F32, 0);
    site(&o, 3, 1, SHMLOG_LEVEL_WARN, SHMLOG_CAT_RISK, "limit %s used=%.1f%%", SHMLOG_ARG_STR, SHMLOG_ARG_F64, 0);
    site(&o, 3, 2, SHMLOG_LEVEL_ERROR, SHMLOG_CAT_RISK, "breach acct=%s exposure=%lld", SHMLOG_ARG_STR,
         SHMLOG_ARG_I64, 0);
    batch_begin(&b, &o, 2, 1, 0, 15);
    for (unsigned i = 0; i < 20; i++)
        quote(&b, 601 + i % 2, symbols[i % 3], 4500.25 + 0.25 * (i % 5), 4500.5 + 0.25 * (i % 5), 10 + i, 20 - i % 7);
    struct pay fx = {{0}, 0};
    pay_f32(&fx, 1.0842f);
    record(&b, 2, 601, SHMLOG_LEVEL_INFO, SHMLOG_CAT_MARKET_DATA, &fx, 0, 0, 2);
    batch_end(&b);
    batch_begin(&b, &o, 3, 2, 0, 25);
    struct pay lim = {{0}, 0};
    int t = 0;
    pay_str(&lim, "ES delta", &t);
    pay_f64(&lim, 87.5);
    record(&b, 1, 701, SHMLOG_LEVEL_WARN, SHMLOG_CAT_RISK, &lim, t, 0, 4);
    struct pay breach = {{0}, 0};
    pay_str(&breach, "ACCT-0042", &t);
    pay_int(&breach, 8, (uint64_t)-2500000ll);
    record(&b, 2, 701, SHMLOG_LEVEL_ERROR, SHMLOG_CAT_RISK, &breach, t, 0, 4);
    batch_end(&b);
#ifndef CORPUS_WITHOUT_CATEGORIES
    /* The risk process's own categories: 6, 7 (past the attr column's three
     * bits) and 40, and a record of a category it never named. */
    check(shlog_enc_category(o.enc, 3, 6, "venue"), "category");
    check(shlog_enc_category(o.enc, 3, 7, "strategy"), "category");
    check(shlog_enc_category(o.enc, 3, 40, "pricing_model"), "category");
    site(&o, 3, 3, SHMLOG_LEVEL_INFO, 6, "venue %s up", SHMLOG_ARG_STR, 0);
    site(&o, 3, 4, SHMLOG_LEVEL_DEBUG, 7, "strategy leg=%d", SHMLOG_ARG_I32, 0);
    site(&o, 3, 5, SHMLOG_LEVEL_WARN, 40, "model drift=%.3f", SHMLOG_ARG_F64, 0);
    site(&o, 3, 6, SHMLOG_LEVEL_INFO, 41, "unnamed", 0);
    batch_again(&b, 3, 2, b.pos);
    struct pay venue = {{0}, 0};
    pay_str(&venue, "XNAS", &t);
    record(&b, 3, 701, SHMLOG_LEVEL_INFO, 6, &venue, t, 0, 3);
    for (int leg = 1; leg <= 2; leg++) {
        struct pay legp = {{0}, 0};
        pay_int(&legp, 4, (uint64_t)leg);
        record(&b, 4, 702, SHMLOG_LEVEL_DEBUG, 7, &legp, 0, 0, 1);
    }
    struct pay drift = {{0}, 0};
    pay_f64(&drift, 0.125);
    record(&b, 5, 701, SHMLOG_LEVEL_WARN, 40, &drift, 0, 0, 2);
    record(&b, 6, 701, SHMLOG_LEVEL_INFO, 41, &none, 0, 0, 1);
    /* a call whose level was out of range: written as FATAL, flagged */
    record(&b, 2, 701, SHMLOG_LEVEL_FATAL, SHMLOG_CAT_RISK, &breach, SHMLOG_REC_CLAMPED, 0, 1);
    batch_end(&b);
#endif
    /* cpu 0 of the gateway goes on: what the first batch kept is gone. */
    batch_begin(&b, &o, 1, 0, cpu0_pos, 2000);
    all_types(&b, 6, 101.5, 3.25f, "plain");
    order(&b, 503, symbols[0], 4500.25, 1, "buy");
    order(&b, 503, symbols[0], 4500.5, 2, "buy");
    batch_end(&b);
    file_close(&o);
}

/* ==== losses.shlog ==== */

static void tick(struct batch *b, uint32_t tid, uint64_t n)
{
    struct pay p = {{0}, 0};
    pay_int(&p, 8, n);
    record(b, 1, tid, SHMLOG_LEVEL_INFO, SHMLOG_CAT_TRADE, &p, 0, 0, 50);
}

static void write_losses(void)
{
    struct out o;
    file_open(&o, "losses.shlog", 1);
    process(&o, 1, "feed", 2001, 6001);
    process(&o, 2, "victim", 2002, 6002);
    site(&o, 1, 1, SHMLOG_LEVEL_INFO, SHMLOG_CAT_TRADE, "fill n=%llu", SHMLOG_ARG_U64, 0);
    site(&o, 2, 1, SHMLOG_LEVEL_INFO, SHMLOG_CAT_TRADE, "fill n=%llu", SHMLOG_ARG_U64, 0);

    struct batch b;
    batch_begin(&b, &o, 1, 0, 0, 100);
    for (uint64_t n = 0; n < 4; n++)
        tick(&b, 801, n);
    batch_end(&b);
    /* The ring was full: the producer counted 5, then 7 more. */
    loss(&o, 1, 0, SHM_LOSS_DROPPED, b.pos, 0, 5, 5);
    /* A writer died between reserving 3 slots (one record) and committing. */
    loss(&o, 1, 0, SHM_LOSS_DEAD_WRITER, b.pos, 3, 1, 0);
    batch_again(&b, 1, 0, b.pos + 3);
    for (uint64_t n = 4; n < 6; n++)
        tick(&b, 801, n);
    batch_end(&b);
    /* A committed record that failed validation: its slot is skipped. */
    loss(&o, 1, 0, SHM_LOSS_CORRUPT, b.pos, 1, 1, 0);
    loss(&o, 1, 0, SHM_LOSS_DROPPED, b.pos + 1, 0, 7, 12);
    /* Counted by the producer for the whole process. */
    loss(&o, 1, SHLOG_CPU_NONE, SHM_LOSS_NO_RING, 0, 0, 3, 3);
    loss(&o, 1, SHLOG_CPU_NONE, SHM_LOSS_UNREGISTERED, 0, 0, 2, 2);
#ifndef CORPUS_WITHOUT_CATEGORIES
    loss(&o, 1, SHLOG_CPU_NONE, SHM_LOSS_BEFORE_INIT, 0, 0, 4, 4);
#endif
    batch_again(&b, 1, 0, b.pos + 1);
    tick(&b, 801, 6);
    batch_end(&b);
    frame(&o);

    /* A flight-recorder ring the writer lapped: 100 positions (40 records)
     * overwritten before the collector read them. */
    batch_begin(&b, &o, 2, 1, 0, 200);
    tick(&b, 802, 0);
    batch_end(&b);
    loss(&o, 2, 1, SHM_LOSS_OVERWRITTEN, 1, 100, 40, 0);
    batch_again(&b, 2, 1, 101);
    tick(&b, 802, 41);
    batch_end(&b);
    loss(&o, 1, SHLOG_CPU_NONE, SHM_LOSS_NO_RING, 0, 0, 1, 4); /* one more since */
    exit_marker(&o, 1, 900, 7, 29, EXIT_SHUTDOWN);
    exit_marker(&o, 2, 950, 2, 40, EXIT_DIED);
    file_close(&o);
}

/* ==== backtrace.shlog ==== */

#ifndef CORPUS_WITHOUT_BACKTRACE
static void book(struct batch *b, uint64_t pos, uint64_t at_us, unsigned lvl)
{
    struct pay p = {{0}, 0};
    pay_int(&p, 4, lvl);
    pay_f64(&p, 101.25 + 0.25 * lvl);
    b->pos = pos;
    b->tsc = ANCHOR_TSC + at_us * TICKS_PER_US;
    record_flags = SHMLOG_REC_BACKTRACE;
    record(b, 1, 1101, SHMLOG_LEVEL_DEBUG, SHMLOG_CAT_MARKET_DATA, &p, 0, 0, 0);
    record_flags = 0;
}

static void id_record(struct batch *b, uint32_t site_id, unsigned level, uint64_t pos, uint64_t at_us, unsigned id)
{
    struct pay p = {{0}, 0};
    pay_int(&p, 4, id);
    b->pos = pos;
    b->tsc = ANCHOR_TSC + at_us * TICKS_PER_US;
    record(b, site_id, 1101, level, SHMLOG_CAT_ORDER, &p, 0, 0, 0);
}

/* One process, two rings, three kept records a ring: ring 0 logs book
 * levels at 0, 1, 3, 4, 5 (DEBUG, kept; 0 and 1 pushed out), an order at 2
 * and a reject at 6 (ERROR: the trigger), book levels at 7 and 8 that a
 * request writes, an order at 9; ring 1 book levels at 10 and 11. */
static void write_backtrace(void)
{
    struct out o;
    file_open(&o, "backtrace.shlog", 2);
    process(&o, 1, "algo", 5001, 9001);
    site(&o, 1, 1, SHMLOG_LEVEL_DEBUG, SHMLOG_CAT_MARKET_DATA, "book lvl=%u px=%.2f", SHMLOG_ARG_U32, SHMLOG_ARG_F64,
         0);
    site(&o, 1, 2, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, "order id=%u", SHMLOG_ARG_U32, 0);
    site(&o, 1, 3, SHMLOG_LEVEL_ERROR, SHMLOG_CAT_ORDER, "reject id=%u", SHMLOG_ARG_U32, 0);
    struct batch b;
    batch_begin(&b, &o, 1, 0, 0, 0);
    check(shlog_enc_batch_from(o.enc, 0), "batch from");
    id_record(&b, 2, SHMLOG_LEVEL_INFO, 2, 120, 1);
    batch_end(&b);
    /* The trigger at 500 us: what both rings kept, before it. */
    uint64_t trigger = ANCHOR_TSC + 500 * TICKS_PER_US;
    check(shlog_enc_backtrace_begin(o.enc, 1, 0, trigger), "backtrace");
    check(shlog_enc_batch_from(o.enc, 0), "backtrace from");
    book(&b, 3, 130, 3);
    book(&b, 4, 140, 4);
    book(&b, 5, 480, 5);
    batch_end(&b);
    check(shlog_enc_backtrace_begin(o.enc, 1, 1, trigger), "backtrace");
    check(shlog_enc_batch_from(o.enc, 10), "backtrace from");
    book(&b, 10, 135, 10);
    book(&b, 11, 490, 11);
    batch_end(&b);
    batch_begin(&b, &o, 1, 0, 0, 0);
    check(shlog_enc_batch_from(o.enc, 3), "batch from");
    id_record(&b, 3, SHMLOG_LEVEL_ERROR, 6, 500, 1);
    batch_end(&b);
    frame(&o);
    /* A request answered at 900 us. */
    check(shlog_enc_backtrace_begin(o.enc, 1, 0, ANCHOR_TSC + 900 * TICKS_PER_US), "backtrace");
    check(shlog_enc_batch_from(o.enc, 6), "backtrace from");
    book(&b, 7, 600, 7);
    book(&b, 8, 610, 8);
    batch_end(&b);
    batch_begin(&b, &o, 1, 0, 0, 0);
    check(shlog_enc_batch_from(o.enc, 7), "batch from");
    id_record(&b, 2, SHMLOG_LEVEL_INFO, 9, 950, 2);
    batch_end(&b);
    exit_marker(&o, 1, 1000, 9, 0, EXIT_SHUTDOWN);
    file_close(&o);
}
#endif

/* ==== records.shlog ==== */

#ifndef CORPUS_WITHOUT_RECORDS
/* A string, cut as a producer cuts it (shmlog_args.h): room is what the
 * payload has left for strings, all fixed-width arguments counted. */
static void pay_str_in(struct pay *p, const char *s, size_t *room, int *truncated)
{
    size_t n = strlen(s);
    uint16_t hdr = (uint16_t)n;
    if (n > *room) {
        n = *room;
        hdr = (uint16_t)(n | SHMLOG_STR_TRUNCATED);
        *truncated = 1;
    }
    *room -= n;
    pay_int(p, 2, hdr);
    memcpy(p->b + p->n, s, n);
    p->n += n;
}

/* n bytes of a FIX message, NUL-terminated in buf. */
static const char *fix_message(char *buf, size_t n)
{
    static const char fix[] = "8=FIX.4.4|9=178|35=D|49=GW|56=VENUE|34=12|52=20260101-00:00:00.000|11=ORD-";
    for (size_t i = 0; i < n; i++)
        buf[i] = i < sizeof fix - 1 ? fix[i] : (char)('0' + i % 10);
    buf[n] = 0;
    return buf;
}

/* The records the file decoder once refused (a string of 419 bytes or more
 * followed by an integer), strings ending at and around every slot boundary
 * and the payload bound, sixteen arguments, a %.*s string, and a record whose
 * payload does not hold its arguments: a loss marker (unencodable). */
static void write_records(void)
{
    struct out o;
    file_open(&o, "records.shlog", 1);
    process(&o, 1, "fixgw", 4001, 8001);
    site(&o, 1, 1, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, "fix msg=%s len=%d", SHMLOG_ARG_STR, SHMLOG_ARG_I32, 0);
    site(&o, 1, 2, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, "fix msg=%s side=%c", SHMLOG_ARG_STR, SHMLOG_ARG_I8, 0);
    site(&o, 1, 3, SHMLOG_LEVEL_DEBUG, SHMLOG_CAT_NONE, "s=%s", SHMLOG_ARG_STR, 0);
    site(&o, 1, 4, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE,
         "sixteen %d %u %hhd %hu %lld %llu %.3f %g %c %p %d %s %d %s %u %d", SHMLOG_ARG_I32, SHMLOG_ARG_U32,
         SHMLOG_ARG_I8, SHMLOG_ARG_U16, SHMLOG_ARG_I64, SHMLOG_ARG_U64, SHMLOG_ARG_F64, SHMLOG_ARG_F32,
         SHMLOG_ARG_I8, SHMLOG_ARG_PTR, SHMLOG_ARG_BOOL, SHMLOG_ARG_STR, SHMLOG_ARG_I16, SHMLOG_ARG_STR,
         SHMLOG_ARG_U8, SHMLOG_ARG_I32, 0);
    site(&o, 1, 5, SHMLOG_LEVEL_INFO, SHMLOG_CAT_TRADE, "leg=%.*s px=%.2f", SHMLOG_ARG_I32, SHMLOG_ARG_STR,
         SHMLOG_ARG_F64, 0);
    char msg[SHMLOG_MAX_PAYLOAD + 400];
    struct batch b;
    batch_begin(&b, &o, 1, 0, 0, 50);
    static const size_t fix_lengths[] = {418, 419, 420, 421, 422, 423, 700};
    for (size_t k = 0; k < sizeof fix_lengths / sizeof fix_lengths[0]; k++) {
        struct pay p = {{0}, 0};
        size_t room = SHMLOG_MAX_PAYLOAD - 2 - 4;
        int t = 0;
        pay_str_in(&p, fix_message(msg, fix_lengths[k]), &room, &t);
        pay_int(&p, 4, fix_lengths[k]);
        record(&b, 1, 1101, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, &p, t, 0, 3);
    }
    for (size_t n = 419; n <= 426; n += 7) {
        struct pay p = {{0}, 0};
        size_t room = SHMLOG_MAX_PAYLOAD - 2 - 1;
        int t = 0;
        pay_str_in(&p, fix_message(msg, n), &room, &t);
        pay_int(&p, 1, 'B');
        record(&b, 2, 1101, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, &p, t, 0, 2);
    }
    for (size_t end = SHMLOG_HEAD_PAYLOAD; end <= SHMLOG_MAX_PAYLOAD; end += SHMLOG_CONT_PAYLOAD)
        for (size_t n = end - 2 - 1; n <= end - 2 + 1; n++) {
            struct pay p = {{0}, 0};
            size_t room = SHMLOG_MAX_PAYLOAD - 2;
            int t = 0;
            pay_str_in(&p, fix_message(msg, n), &room, &t);
            record(&b, 3, 1102, SHMLOG_LEVEL_DEBUG, SHMLOG_CAT_NONE, &p, t, 0, 1);
        }
    struct pay p16 = {{0}, 0};
    size_t room16 = SHMLOG_MAX_PAYLOAD - (4 + 4 + 1 + 2 + 8 + 8 + 8 + 4 + 1 + 8 + 1 + 2 + 2 + 2 + 1 + 4);
    int t16 = 0;
    pay_int(&p16, 4, (uint32_t)-7);
    pay_int(&p16, 4, 4000000000u);
    pay_int(&p16, 1, (uint8_t)-100);
    pay_int(&p16, 2, 65535);
    pay_int(&p16, 8, (uint64_t)INT64_MIN);
    pay_int(&p16, 8, UINT64_MAX);
    pay_f64(&p16, 4500.125);
    pay_f32(&p16, 0.5f);
    pay_int(&p16, 1, 'S');
    pay_int(&p16, 8, 0x7ffd00001000ull);
    pay_int(&p16, 1, 1);
    pay_str_in(&p16, "ESZ6", &room16, &t16);
    pay_int(&p16, 2, (uint16_t)-2);
    pay_str_in(&p16, fix_message(msg, 300), &room16, &t16);
    pay_int(&p16, 1, 255);
    pay_int(&p16, 4, 16);
    record(&b, 4, 1101, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, &p16, t16, 0, 2);
    struct pay leg = {{0}, 0};
    size_t room_leg = SHMLOG_MAX_PAYLOAD - 4 - 2 - 8;
    int t_leg = 0;
    pay_int(&leg, 4, 3);
    pay_str_in(&leg, "ESZ", &room_leg, &t_leg); /* a producer stores only the precision's bytes */
    pay_f64(&leg, 4500.25);
    record(&b, 5, 1103, SHMLOG_LEVEL_INFO, SHMLOG_CAT_TRADE, &leg, t_leg, 0, 2);
    /* a payload that says 500 bytes of message in a slot of 36: not encoded */
    struct pay bad = {{0}, 0};
    pay_int(&bad, 2, 500);
    record(&b, 1, 1101, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, &bad, 0, 0, 1);
    struct pay after = {{0}, 0};
    size_t room_after = SHMLOG_MAX_PAYLOAD - 2 - 4;
    int t_after = 0;
    pay_str_in(&after, fix_message(msg, 40), &room_after, &t_after);
    pay_int(&after, 4, 40);
    record(&b, 1, 1101, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, &after, t_after, 0, 1);
    batch_end(&b);
    exit_marker(&o, 1, 3000, 36, 1, EXIT_SHUTDOWN);
    file_close(&o);
}
#endif

/* ==== instance.shlog ==== */

#ifndef CORPUS_WITHOUT_INSTANCE
/* Ends a frame with these anchors (each with its offset). */
static void frame_with(struct out *o, const struct shm_clock_anchor *a, size_t n)
{
    struct shlog_clock_info ci = {.hz_q16 = TSC_HZ << 16, .tsc_invariant = SHLOG_YES, .synchronized = SHLOG_YES,
                                  .esterror_ns = 500000, .clocksource = "tsc"};
    check(shlog_enc_clock(o->enc, &ci, a, n), "clock");
    frame_write(o);
}

static struct shm_clock_anchor anchor_at(uint64_t s_tsc, uint64_t ns, int64_t offset_ns)
{
    return (struct shm_clock_anchor){.tsc = ANCHOR_TSC + s_tsc * TSC_HZ, .ns = ns, .err_ns = 10,
                                     .flags = SHM_ANCHOR_OFFSET, .offset_ns = offset_ns};
}

static void ctr_records(struct batch *b, uint32_t proc, unsigned from, unsigned n)
{
    for (unsigned k = from; k < from + n; k++) {
        struct pay p = {{0}, 0};
        pay_int(&p, 4, proc * 100 + k);
        record(b, 1, 1, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, &p, 0, 0, 100);
    }
}

static void write_instance(void)
{
    struct out o;
    file_open(&o, "instance.shlog", 9);
    /* Two containers: pid 1 each, one uid, one start time, one cpu. */
    const char *apps[2] = {"ctr-a", "ctr-b"};
    struct batch b;
    for (uint32_t k = 1; k <= 2; k++) {
        process(&o, k, apps[k - 1], 1, 4242);
        site(&o, k, 1, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, "n=%u", SHMLOG_ARG_U32, 0);
        batch_begin(&b, &o, k, 0, 0, 100);
        ctr_records(&b, k, 0, 5);
        batch_end(&b);
    }
    /* The first collector's anchors: 0 s and 1 s of TSC. */
    struct shm_clock_anchor first[2] = {anchor_at(0, CREATED_NS, OFFSET_NS),
                                        anchor_at(1, CREATED_NS + 1000000000ull, OFFSET_NS)};
    frame_with(&o, first, 2);
    /* The next collector's, from 3 s of TSC, after the wall clock was set
     * 5 s forward while none ran: no STEPPED flag, another offset. ctr-a
     * logged meanwhile (at 1.5 s and 2 s of TSC) and after (3.5 s). */
    batch_begin(&b, &o, 1, 0, 5, 1500000);
    ctr_records(&b, 1, 5, 1);
    b.tsc += 500000 * TICKS_PER_US;
    ctr_records(&b, 1, 6, 1);
    b.tsc += 1500000 * TICKS_PER_US;
    ctr_records(&b, 1, 7, 1);
    batch_end(&b);
    exit_marker(&o, 1, 8000000, 8, 0, EXIT_SHUTDOWN);
    exit_marker(&o, 2, 8000000, 5, 0, EXIT_DIED);
    struct shm_clock_anchor second[2] = {anchor_at(3, CREATED_NS + 8000000000ull, OFFSET_NS + 5000000000ll),
                                         anchor_at(4, CREATED_NS + 9000000000ull, OFFSET_NS + 5000000000ll)};
    frame_with(&o, second, 2);
    /* A process whose exit is at the last time a file can say. */
    process(&o, 3, "far", 7, 4243);
    check(enc_exit(o.enc, 3, UINT64_MAX, 0, 0, EXIT_DIED), "exit");
    struct shm_clock_anchor last = anchor_at(5, CREATED_NS + 10000000000ull, OFFSET_NS + 5000000000ll);
    frame_with(&o, &last, 1);
    footer_write(&o);
    shlog_enc_free(o.enc);
    if (fclose(o.f) != 0)
        die("%s: cannot write", o.path);
    printf("%s\n", o.path);
}
#endif

/* ==== rotation/ ==== */

static void svc_process_and_sites(struct out *o, uint32_t key)
{
    process(o, key, "svc", 3001, 7001);
    site(o, key, 1, SHMLOG_LEVEL_INFO, SHMLOG_CAT_PORTFOLIO, "pos sym=%s qty=%lld avg=%.4f", SHMLOG_ARG_STR,
         SHMLOG_ARG_I64, SHMLOG_ARG_F64, 0);
    site(o, key, 2, SHMLOG_LEVEL_TRACE, SHMLOG_CAT_NONE, "step %u", SHMLOG_ARG_U32, 0);
}

static void svc_records(struct batch *b, uint64_t from, uint64_t to)
{
    for (uint64_t n = from; n < to; n++) {
        struct pay p = {{0}, 0};
        if (n % 3) {
            pay_int(&p, 4, n);
            record(b, 2, 901, SHMLOG_LEVEL_TRACE, SHMLOG_CAT_NONE, &p, 0, 0, 20);
        } else {
            int t = 0;
            pay_str(&p, symbols[n % 4], &t);
            pay_int(&p, 8, (uint64_t)(int64_t)(100 - (int64_t)n));
            pay_f64(&p, 4500.0 + 0.0625 * (double)n);
            record(b, 1, 901, SHMLOG_LEVEL_INFO, SHMLOG_CAT_PORTFOLIO, &p, t, 0, 20);
        }
    }
}

static void write_rotation(void)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/rotation", out_dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        die("%s: %s", dir, strerror(errno));

    struct out o;
    file_open(&o, "rotation/corpus-host-20260101-000007-000007.shlog", 7);
    svc_process_and_sites(&o, 1);
    struct batch b;
    batch_begin(&b, &o, 1, 0, 0, 300);
    svc_records(&b, 0, 30);
    batch_end(&b);
    loss(&o, 1, 0, SHM_LOSS_DROPPED, b.pos, 0, 4, 4);
    frame(&o);
    batch_again(&b, 1, 0, b.pos);
    svc_records(&b, 30, 50);
    batch_end(&b);
    file_close(&o);

    /* The next file: keys are the file's own, so the process may have
     * another; the last 10 records and the drop marker come again, as after
     * a collector that stopped before releasing them. */
    file_open(&o, "rotation/corpus-host-20260101-000008-000008.shlog", 8);
    svc_process_and_sites(&o, 5);
    batch_begin(&b, &o, 5, 0, 40, 300 + 40 * 20); /* the times the first file gave them */
    svc_records(&b, 40, 70);
    batch_end(&b);
    loss(&o, 5, 0, SHM_LOSS_DROPPED, 30, 0, 4, 4);
    loss(&o, 5, 0, SHM_LOSS_DROPPED, b.pos, 0, 2, 6);
    exit_marker(&o, 5, 2000, 70, 6, EXIT_SHUTDOWN);
    file_close(&o);
}

#ifndef CORPUS_WITHOUT_THREADS
/* ==== threads.shlog ==== */

static void thread_name(struct out *o, uint32_t proc, uint32_t tid, const char *name)
{
    check(shlog_enc_thread(o->enc, proc, tid, name), "thread");
}

static void hello(struct batch *b, uint32_t tid, const char *who)
{
    struct pay p = {{0}, 0};
    int t = 0;
    pay_str(&p, who, &t);
    record(b, 1, tid, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, &p, t, 0, 10);
}

/* Two processes whose threads are named (THREAD, section 9): names of up to 32 bytes, one cut
 * (ending in ~) and one of two-byte characters; one thread renamed between two records of one
 * batch (the name before the batch, the new one before the next); a thread never named; the same
 * tid named otherwise in the other process; a name given again in a later frame. */
static void write_threads(void)
{
    struct out o;
    file_open(&o, "threads.shlog", 1);
    process(&o, 1, "gateway", 1001, 5001);
    process(&o, 2, "pricer", 1002, 5002);
    site(&o, 1, 1, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, "hello from %s", SHMLOG_ARG_STR, 0);
    site(&o, 2, 1, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, "hello from %s", SHMLOG_ARG_STR, 0);
    thread_name(&o, 1, 501, "md-0");
    thread_name(&o, 1, 502, "order-gateway-for-every-venue-a~");
    thread_name(&o, 1, 503, "pr\xc3\xa9-trade");
    thread_name(&o, 2, 501, "pricer-main");
    struct batch b;
    batch_begin(&b, &o, 1, 0, 0, 10);
    hello(&b, 501, "md-0");
    hello(&b, 502, "a cut name");
    hello(&b, 503, "two-byte characters");
    hello(&b, 504, "a thread never named");
    batch_end(&b);
    thread_name(&o, 1, 501, "md-renamed");
    batch_again(&b, 1, 0, b.pos);
    hello(&b, 501, "after the rename");
    batch_end(&b);
    uint64_t gateway_pos = b.pos;
    batch_begin(&b, &o, 2, 1, 0, 70);
    hello(&b, 501, "the same tid in another process");
    batch_end(&b);
    frame(&o);
    thread_name(&o, 1, 502, "order-gateway-for-every-venue-a~"); /* again: no change */
    batch_again(&b, 1, 0, gateway_pos);
    hello(&b, 502, "in the next frame");
    batch_end(&b);
    exit_marker(&o, 1, 2000, 6, 0, EXIT_SHUTDOWN);
    file_close(&o);
}
#endif

#ifndef CORPUS_WITHOUT_TRACE
/* ==== trace.shlog ==== */

/* A thread's trace record (FORMAT.md, "Trace context"): the producer's own site, flagged. */
static void trace_set(struct batch *b, uint32_t site_id, uint32_t tid, uint64_t hi, uint64_t lo, const char *span,
                      uint64_t dt_us)
{
    struct pay p = {{0}, 0};
    int t = 0;
    pay_int(&p, 8, hi);
    pay_int(&p, 8, lo);
    pay_str(&p, span, &t);
    record(b, site_id, tid, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, &p, SHMLOG_REC_TRACE | t, 0, dt_us);
}

static void step_record(struct batch *b, uint32_t tid, const char *what, uint64_t dt_us)
{
    struct pay p = {{0}, 0};
    int t = 0;
    pay_str(&p, what, &t);
    record(b, 2, tid, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, &p, t, 0, dt_us);
}

/* Two processes handing one order on (trace 4bf9..4736: tick, decision in the strategy, order_sent
 * in the gateway), a 64-bit trace on another thread of the strategy, records of no trace before and
 * after a clear, a span with a control byte, and a flagged record whose payload holds no trace
 * (changes nothing). */
static void write_trace(void)
{
    const uint64_t hi = 0x4bf92f3577b34da6u, lo = 0xa3ce929d0e0e4736u;
    struct out o;
    file_open(&o, "trace.shlog", 1);
    process(&o, 1, "strategy", 3001, 7001);
    process(&o, 2, "gateway", 3002, 7002);
    for (uint32_t p = 1; p <= 2; p++) {
        site(&o, p, 1, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, SHMLOG_TRACE_FORMAT, SHMLOG_ARG_U64, SHMLOG_ARG_U64,
             SHMLOG_ARG_STR, 0);
        site(&o, p, 2, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, "step %s", SHMLOG_ARG_STR, 0);
        site(&o, p, 3, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, "short n=%u", SHMLOG_ARG_U32, 0);
    }
    struct batch b;
    batch_begin(&b, &o, 1, 0, 0, 10);
    step_record(&b, 601, "before any trace", 1);
    trace_set(&b, 1, 601, hi, lo, "tick", 5);
    step_record(&b, 601, "tick seen", 2);
    trace_set(&b, 1, 601, hi, lo, "decision", 7);
    step_record(&b, 601, "buy 100", 3);
    trace_set(&b, 1, 602, 0, 0x1234u, "risk\x01check", 1);
    step_record(&b, 602, "64-bit trace, span with a control byte", 1);
    trace_set(&b, 1, 601, 0, 0, "", 4);
    step_record(&b, 601, "after the clear", 1);
    struct pay one = {{0}, 0};
    pay_int(&one, 4, 7);
    record(&b, 3, 602, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, &one, SHMLOG_REC_TRACE, 0, 1); /* no trace in it */
    step_record(&b, 602, "still the 64-bit trace", 1);
    batch_end(&b);
    batch_begin(&b, &o, 2, 1, 0, 40);
    trace_set(&b, 1, 701, hi, lo, "order_sent", 1);
    step_record(&b, 701, "sent", 2);
    batch_end(&b);
    exit_marker(&o, 1, 3000, 11, 0, EXIT_SHUTDOWN);
    exit_marker(&o, 2, 3100, 2, 0, EXIT_SHUTDOWN); /* apart: markers of one time have no order */
    file_close(&o);
}
#endif

#ifndef CORPUS_WITHOUT_INDEX
/* ==== index.shlog ==== */

/* 40 frames of orders of two processes (more than two index frames' worth: FORMAT.md, "Index"), one
 * with an error and a rare word, then the footer; a reader reads it as any file. */
static void write_index(void)
{
    static const char *const syms[] = {"AAPL", "MSFT", "GOOG", "AMZN"};
    struct out o;
    file_open(&o, "index.shlog", 1);
    process(&o, 1, "gateway", 1001, 5001);
    process(&o, 2, "pricer", 1002, 5002);
    for (uint32_t p = 1; p <= 2; p++) {
        site(&o, p, 1, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, "fill order=%lu sym=%s qty=%d note=%s", SHMLOG_ARG_U64,
             SHMLOG_ARG_STR, SHMLOG_ARG_I32, SHMLOG_ARG_STR, 0);
        site(&o, p, 2, SHMLOG_LEVEL_ERROR, SHMLOG_CAT_RISK, "limit breached order=%lu", SHMLOG_ARG_U64, 0);
    }
    uint64_t pos[3] = {0, 0, 0}, order = 7000;
    for (unsigned fr = 0; fr < 40; fr++) {
        uint32_t p = 1 + fr % 2;
        struct batch b;
        batch_begin(&b, &o, p, 0, pos[p], 1000 + fr * 100);
        for (unsigned k = 0; k < 3; k++, order++) {
            struct pay pay = {{0}, 0};
            int t = 0;
            pay_int(&pay, 8, order);
            pay_str(&pay, syms[(fr + k) % 4], &t);
            pay_int(&pay, 4, (uint32_t)(int32_t)(100 - (int)k * 50));
            pay_str(&pay, fr == 23 && k == 1 ? "rare-word zebra" : "routine", &t);
            record(&b, 1, 10 + p, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, &pay, t, 0, 7);
        }
        if (fr == 31) {
            struct pay pay = {{0}, 0};
            pay_int(&pay, 8, order - 1);
            record(&b, 2, 10 + p, SHMLOG_LEVEL_ERROR, SHMLOG_CAT_RISK, &pay, 0, 0, 1);
        }
        pos[p] = b.pos;
        batch_end(&b);
        frame(&o);
    }
    footer_write(&o);
    shlog_enc_free(o.enc);
    if (fclose(o.f) != 0)
        die("%s: cannot write", o.path);
    printf("%s\n", o.path);
}
#endif

#ifndef CORPUS_WITHOUT_TRACES
/* ==== traces.shlog ==== */

/* 40 frames of two processes' fills (order=N), the threads' traces set in a few frames and held over
 * the frames after them (FORMAT.md, "Trace ids in the index"): 801 a trace every 8 frames, cleared 5
 * frames on; 802 one set and replaced within frame 17, and a 64-bit trace from frame 25; 901 (the
 * gateway) a 64-bit trace every 10 frames. A reader that skips a frame keeps its traces. */
static void write_traces(void)
{
    const uint64_t hi = 0x5ac0ffee00000000u;
    struct out o;
    file_open(&o, "traces.shlog", 1);
    process(&o, 1, "strategy", 4001, 8001);
    process(&o, 2, "gateway", 4002, 8002);
    for (uint32_t p = 1; p <= 2; p++) {
        site(&o, p, 1, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, SHMLOG_TRACE_FORMAT, SHMLOG_ARG_U64, SHMLOG_ARG_U64,
             SHMLOG_ARG_STR, 0);
        site(&o, p, 2, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, "fill order=%lu", SHMLOG_ARG_U64, 0);
    }
    uint64_t pos[3] = {0, 0, 0}, order = 9000;
    for (unsigned fr = 0; fr < 40; fr++) {
        struct batch b;
        for (uint32_t p = 1; p <= 2; p++) {
            batch_begin(&b, &o, p, 0, pos[p], 1000 + fr * 100 + p * 10);
            const uint32_t tids[2] = {p == 1 ? 801u : 901u, 802u};
            for (unsigned k = 0; k < (p == 1 ? 2u : 1u); k++) {
                uint32_t tid = tids[k];
                if (tid == 801 && fr % 8 == 0)
                    trace_set(&b, 1, tid, hi, fr, "leg", 1);
                if (tid == 801 && fr % 8 == 5)
                    trace_set(&b, 1, tid, 0, 0, "", 1);
                if (tid == 901 && fr % 10 == 3)
                    trace_set(&b, 1, tid, 0, 0x9000u + fr, "send", 1);
                if (tid == 802 && fr == 17)
                    trace_set(&b, 1, tid, hi, 0x17u, "first", 1);
                if (tid == 802 && fr == 25)
                    trace_set(&b, 1, tid, 0, 0x25u, "later", 1);
                struct pay pay = {{0}, 0};
                pay_int(&pay, 8, order++);
                record(&b, 2, tid, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, &pay, 0, 0, 2);
                if (tid == 802 && fr == 17) { /* replaced within the frame: the entry lists the second */
                    trace_set(&b, 1, tid, hi, 0x18u, "second", 1);
                    struct pay again = {{0}, 0};
                    pay_int(&again, 8, order++);
                    record(&b, 2, tid, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, &again, 0, 0, 2);
                }
            }
            pos[p] = b.pos;
            batch_end(&b);
        }
        frame(&o);
    }
    exit_marker(&o, 1, 5100, pos[1], 0, EXIT_SHUTDOWN);
    exit_marker(&o, 2, 5200, pos[2], 0, EXIT_SHUTDOWN);
    file_close(&o);
}
#endif
#ifndef CORPUS_WITHOUT_GROUPED
/* ==== grouped.shlog ==== */

/* 48 small frames of quotes, each of 60 venues' words: too many keys for a frame's one block, which
 * index version 7 leaves out (FORMAT.md, "Index", GROUPED). The first 16 frames name the same venues
 * (their index frame's group filter holds them), the others new ones in every frame (their groups are
 * too full to be written: those frames may hold any key); frame 5 also a rare word. */
static void write_grouped(void)
{
    struct out o;
    file_open(&o, "grouped.shlog", 1);
    process(&o, 1, "quoter", 6001, 9001);
    site(&o, 1, 1, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, "quote venue=%s", SHMLOG_ARG_STR, 0);
    uint64_t pos = 0;
    for (unsigned fr = 0; fr < 48; fr++) {
        struct batch b;
        batch_begin(&b, &o, 1, 0, pos, 1000 + fr * 100);
        for (unsigned k = 0; k < 60; k++) {
            char venue[32];
            if (fr == 5 && k == 7)
                snprintf(venue, sizeof(venue), "okapi");
            else
                snprintf(venue, sizeof(venue), "V%uq%u", fr < 16 ? 0 : fr, k);
            struct pay pay = {{0}, 0};
            int t = 0;
            pay_str(&pay, venue, &t);
            record(&b, 1, 77, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, &pay, t, 0, 1);
        }
        pos = b.pos;
        batch_end(&b);
        frame(&o);
    }
    file_close(&o);
}
#endif
#ifndef CORPUS_WITHOUT_GRAMS
/* ==== grams.shlog ==== */

/* 20 frames of 600 orders whose ids differ (some 6 KB a frame): an index frame after the 16th holds a gram
 * filter of their words (FORMAT.md, "Substrings"), the footer one of the last 4; "aardvark" in frame 3 only. */
static void write_grams(void)
{
    static const char *const venues[] = {"XNAS", "XLON", "BATS"};
    struct out o;
    file_open(&o, "grams.shlog", 1);
    process(&o, 1, "router", 6101, 9101);
    site(&o, 1, 1, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, "order id=%lu venue=%s note=%s", SHMLOG_ARG_U64,
         SHMLOG_ARG_STR, SHMLOG_ARG_STR, 0);
    uint64_t pos = 0, id = 0x9e3779b97f4a7c15ull;
    for (unsigned fr = 0; fr < 20; fr++) {
        struct batch b;
        batch_begin(&b, &o, 1, 0, pos, 5000 + fr * 1000);
        for (unsigned k = 0; k < 600; k++) {
            id = id * 6364136223846793005ull + 1442695040888963407ull;
            struct pay pay = {{0}, 0};
            int t = 0;
            pay_int(&pay, 8, id >> 1);
            pay_str(&pay, venues[k % 3], &t);
            pay_str(&pay, fr == 3 && k == 100 ? "aardvark" : k % 2 ? "routine" : "quarterly", &t);
            record(&b, 1, 88, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, &pay, t, 0, 1);
        }
        pos = b.pos;
        batch_end(&b);
        frame(&o);
    }
    file_close(&o);
}
#endif
/* ==== hosts.shlog ==== */

/* A collector run with --host corpus-host over two processes that call their machine otherwise (a
 * container's name, a machine's own): a record, a loss and an exit of each. */
static void write_hosts(void)
{
    static const char *const own[] = {"node7.example", "pricer-5f8c"};
    struct out o;
    file_open(&o, "hosts.shlog", 1);
    for (uint32_t p = 1; p <= 2; p++) {
        producer_host = own[p - 1];
        process(&o, p, p == 1 ? "gateway" : "pricer", 1000 + p, 5000 + p);
        site(&o, p, 1, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, "sent order=%lu", SHMLOG_ARG_U64, 0);
    }
    producer_host = "corpus-host";
    for (uint32_t p = 1; p <= 2; p++) {
        struct batch b;
        batch_begin(&b, &o, p, 0, 0, 10 * p);
        struct pay pay = {{0}, 0};
        pay_int(&pay, 8, 700 + p);
        record(&b, 1, 600 + p, SHMLOG_LEVEL_INFO, SHMLOG_CAT_ORDER, &pay, 0, 0, 1);
        batch_end(&b);
        loss(&o, p, 0, SHM_LOSS_DROPPED, 1, 0, 2, 2);
        exit_marker(&o, p, 100 * p, 3, 2, EXIT_SHUTDOWN);
    }
    file_close(&o);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus OUTDIR\n");
        return 2;
    }
    out_dir = argv[1];
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST)
        die("%s: %s", out_dir, strerror(errno));
    write_processes();
    write_losses();
    write_rotation();
#ifndef CORPUS_WITHOUT_BACKTRACE
    write_backtrace();
#endif
#ifndef CORPUS_WITHOUT_RECORDS
    write_records();
#endif
#ifndef CORPUS_WITHOUT_INSTANCE
    write_instance();
#endif
#ifndef CORPUS_WITHOUT_THREADS
    write_threads();
#endif
#ifndef CORPUS_WITHOUT_INDEX
    write_index();
#endif
#ifndef CORPUS_WITHOUT_TRACE
    write_trace();
#endif
#ifndef CORPUS_WITHOUT_TRACES
    write_traces();
#endif
#ifndef CORPUS_WITHOUT_GROUPED
    write_grouped();
#endif
#ifndef CORPUS_WITHOUT_GRAMS
    write_grams();
#endif
    write_hosts();
    return 0;
}
