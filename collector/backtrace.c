/*
 * backtrace.c - records a producer logged below its live level (flagged
 * SHMLOG_REC_BACKTRACE) kept per ring in a bounded buffer instead of being
 * written, and written out as BACKTRACE sections (FORMAT.md, section 8) when
 * their process logs at its trigger level or above, or a tool asks
 * (shmlog_meta.backtrace_requests): then the process's rings are read to
 * their heads first, so what it logged before asking is among them.
 *
 * A ring's buffer: the kept records, oldest first, as struct
 * shm_copied_record heads and their payloads one after the other in a byte
 * buffer that wraps; an index of their offsets. A new record pushes out the
 * oldest when the ring keeps its process's backtrace_records already, or
 * when the bytes it needs are taken: pushed out is discarded, counted, never
 * a loss (it was never meant to reach the files).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "backtrace.h"
#include "frame.h"
#include "losses.h"
#include "procs.h"

#define BACKTRACE_RECORDS_MAX 65536u           /* a meta asking for more gets this */
#define BACKTRACE_BYTES_PER_RECORD 128u        /* buffer bytes per record kept: two a one-slot record needs */
#define BACKTRACE_MEMORY_MAX (256ull << 20)    /* buffers over all rings: past it, a new ring keeps nothing */
#define BACKTRACE_POLL_NS 5000000ull           /* a meta's request counter is read at most this often */

#define KEPT_HEAD offsetof(struct shm_copied_record, payload)
#define NO_POS UINT64_MAX

struct backtrace {
    uint8_t *buf;
    uint32_t cap;            /* bytes of buf */
    uint32_t *index;         /* offsets of the kept records in buf, a ring of max_records */
    uint32_t max_records;
    uint32_t first, count;   /* the oldest in index, and how many */
    uint32_t write_at;       /* where the next record goes in buf */
    uint64_t written_to;     /* the BACKTRACE stream of this ring: below it, written or discarded */
    uint64_t passed_from;    /* the first position the ring's batches passed over since its last record, or NO_POS */
};

static inline uint64_t tsc_now(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

static uint64_t memory_used;
static int memory_warned;

static uint32_t records_of(const struct proc *p)
{
    uint32_t n = p->info.backtrace_records;
    return n == 0 ? 1 : n > BACKTRACE_RECORDS_MAX ? BACKTRACE_RECORDS_MAX : n;
}

static size_t kept_bytes(const struct shm_copied_record *k)
{
    return (KEPT_HEAD + k->payload_len + 7u) & ~(size_t)7u;
}

static const struct shm_copied_record *kept_at(const struct backtrace *b, uint32_t i)
{
    return (const struct shm_copied_record *)(b->buf + b->index[(b->first + i) % b->max_records]);
}

static void discard_oldest(struct collector_state *c, struct backtrace *b)
{
    b->first = (b->first + 1) % b->max_records;
    b->count--;
    c->backtrace_discarded++;
}

static struct backtrace *backtrace_of(struct ring *r)
{
    if (r->bt)
        return r->bt;
    uint32_t n = records_of(r->proc);
    uint64_t cap = (uint64_t)n * BACKTRACE_BYTES_PER_RECORD + 2u * sizeof(struct shm_copied_record);
    uint64_t bytes = cap + (uint64_t)n * sizeof(uint32_t) + sizeof(struct backtrace);
    if (memory_used + bytes > BACKTRACE_MEMORY_MAX) {
        if (!memory_warned++)
            shm_warn(PROG, "%s: backtrace buffers reached %llu MiB: records this ring keeps are discarded",
                  r->seg.path, BACKTRACE_MEMORY_MAX >> 20);
        return NULL;
    }
    struct backtrace *b = calloc(1, sizeof *b);
    if (b && (!(b->buf = malloc(cap)) || !(b->index = malloc(n * sizeof(uint32_t))))) {
        free(b->buf);
        free(b);
        b = NULL;
    }
    if (!b)
        return NULL;
    b->cap = (uint32_t)cap;
    b->max_records = n;
    b->written_to = NO_POS;
    b->passed_from = NO_POS;
    memory_used += bytes;
    return r->bt = b;
}

void backtrace_keep(struct collector_state *c, struct ring *r, const struct shm_copied_record *rec)
{
    struct backtrace *b = backtrace_of(r);
    if (!b) {
        c->backtrace_discarded++;
        return;
    }
    if (b->passed_from == NO_POS) {
        b->passed_from = rec->pos;
        batch_passed_from(c, r, rec->pos); /* a batch begun before it, with nothing written yet */
    }
    if (b->written_to == NO_POS)
        b->written_to = rec->pos;
    size_t need = kept_bytes(rec);
    if (b->write_at + need > b->cap) {
        /* Wraps: what lies past write_at is the oldest, and goes first. */
        while (b->count && b->index[b->first] >= b->write_at)
            discard_oldest(c, b);
        b->write_at = 0;
    }
    /* The oldest lies right after write_at: pushed out while it is in the way. */
    while (b->count == b->max_records ||
           (b->count && b->index[b->first] < b->write_at + need &&
            b->write_at < b->index[b->first] + kept_bytes(kept_at(b, 0))))
        discard_oldest(c, b);
    memcpy(b->buf + b->write_at, rec, KEPT_HEAD + rec->payload_len);
    b->index[(b->first + b->count) % b->max_records] = b->write_at;
    b->count++;
    b->write_at += (uint32_t)need;
}

void backtrace_keep_slots(struct collector_state *c, struct ring *r, const struct shmlog_record *head, uint64_t pos)
{
    static struct shm_copied_record k;
    k.pos = pos;
    k.tsc = head->tsc;
    k.site = head->site;
    k.tid = head->tid;
    k.level = head->level;
    k.category = head->category;
    k.flags = head->flags;
    k.nslots = head->nslots;
    k.payload_len = (uint16_t)shm_record_payload(k.payload, head, head->nslots);
    backtrace_keep(c, r, &k);
}

void backtrace_written_slow(struct ring *r)
{
    r->bt->passed_from = NO_POS;
}

void backtrace_batch_begun(struct collector_state *c, struct ring *r)
{
    /* Kept until a record is written: a batch may end with none. */
    if (r->bt && r->bt->passed_from != NO_POS)
        check_enc(shlog_enc_batch_from(c->cur->enc, r->bt->passed_from), "a batch");
}

int backtrace_takes(struct collector_state *c, struct ring *r, const struct shm_copied_record *rec)
{
    if (rec->flags & SHMLOG_REC_BACKTRACE) {
        backtrace_keep(c, r, rec);
        return 1;
    }
    if (backtrace_triggers(r->proc, rec->level, rec->flags))
        backtrace_flush(c, r->proc, rec->tsc);
    return 0;
}

/* What a meta asks of backtraces: its requests counter and trigger level. */
struct meta_asks {
    const struct shmlog_meta *meta;
    uint64_t requests;
    uint32_t trigger;
};

static void meta_asks_read(void *ctx)
{
    struct meta_asks *a = ctx;
    a->requests = shmlog__load_relaxed(&a->meta->backtrace_requests);
    a->trigger = shmlog__load_relaxed(&a->meta->backtrace_trigger);
}

/* The kept records of one ring as a BACKTRACE section, ordered at order_tsc. */
static void write_ring(struct collector_state *c, struct ring *r, uint64_t order_tsc)
{
    struct backtrace *b = r->bt;
    struct proc *p = r->proc;
    size_t bytes = 0;
    for (uint32_t i = 0; i < b->count; i++) {
        const struct shm_copied_record *k = kept_at(b, i);
        record_in_file(c, p, k->site, k->category, k->tid);
        bytes += kept_bytes(k);
    }
    if (shlog_enc_raw_bytes(c->cur->enc) + bytes > FRAME_RAW_STOP) {
        /* Only past hundreds of thousands of kept records in one frame. */
        shm_warn(PROG, "%s: %" PRIu32 " backtrace records would not fit the frame: discarded", r->seg.path, b->count);
        c->backtrace_discarded += b->count;
    } else {
        check_enc(shlog_enc_backtrace_begin(c->cur->enc, p->key, r->cpu, order_tsc), "a backtrace");
        check_enc(shlog_enc_batch_from(c->cur->enc, b->written_to), "a backtrace");
        uint32_t written = 0;
        for (uint32_t i = 0; i < b->count; i++) { /* at most SHLOG_MAX_BATCH_RECORDS: one section */
            check_enc(shlog_enc_record(c->cur->enc, kept_at(b, i)), "a backtrace record");
            struct shm_loss l;
            const char *why;
            if (!shlog_enc_take_loss(c->cur->enc, &l, &why)) {
                written++;
                continue;
            }
            /* its loss marker between the section so far and one for the rest */
            uint64_t after = l.first_pos + l.positions;
            check_enc(shlog_enc_batch_end(c->cur->enc), "a backtrace");
            unencodable(c, r, &l, why, 1);
            check_enc(shlog_enc_backtrace_begin(c->cur->enc, p->key, r->cpu, order_tsc), "a backtrace");
            check_enc(shlog_enc_batch_from(c->cur->enc, after), "a backtrace");
        }
        check_enc(shlog_enc_batch_end(c->cur->enc), "a backtrace");
        c->backtrace_written += written;
        proc_wrote(c, p, written);
    }
    const struct shm_copied_record *last = kept_at(b, b->count - 1);
    b->written_to = last->pos + last->nslots;
    b->first = b->count = b->write_at = 0;
}

void backtrace_flush(struct collector_state *c, struct proc *p, uint64_t order_tsc)
{
    int any = 0;
    for (struct ring *r = p->rings; r; r = r->next)
        any |= r->bt && r->bt->count;
    if (!any)
        return;
    check_enc(end_batch(c), "a batch");
    check_enc(ensure_process(c, p), "a process");
    for (struct ring *r = p->rings; r; r = r->next)
        if (r->bt && r->bt->count)
            write_ring(c, r, order_tsc);
    mark_content(c);
}

int backtrace_requested(struct collector_state *c, struct proc *p, int room, uint64_t *order_tsc)
{
    if (p->meta.hdr.abi_version < 4)
        return 0;
    uint64_t now = shm_mono_ns();
    if (now - p->bt_polled_ns < BACKTRACE_POLL_NS)
        return 0;
    p->bt_polled_ns = now;
    struct meta_asks a = {p->meta.addr, p->bt_requests_seen, p->info.backtrace_trigger};
    (void)shm_guarded(meta_asks_read, &a);
    uint64_t requests = a.requests;
    uint32_t trigger = a.trigger;
    p->info.backtrace_trigger = trigger < SHMLOG_LEVEL_OFF ? trigger : SHMLOG_LEVEL_OFF;
    /* Any change: a counter that went back is one more request. */
    if (requests == p->bt_requests_seen || !room)
        return 0;
    p->bt_requests_seen = requests;
    c->backtrace_requests++;
    *order_tsc = tsc_now();
    return 1;
}

void backtrace_free(struct collector_state *c, struct ring *r)
{
    struct backtrace *b = r->bt;
    if (!b)
        return;
    c->backtrace_discarded += b->count;
    memory_used -= b->cap + (uint64_t)b->max_records * sizeof(uint32_t) + sizeof(*b);
    free(b->buf);
    free(b->index);
    free(b);
    r->bt = NULL;
}
