/* read_merge.c - the merge: the records of every ring, in per-ring FIFOs, handed on in time order. */
/*
 * The merge hands records on in time order with bounded memory. Every ring is a
 * stream (a FIFO of decoded records, in ring order); a heap orders the
 * streams by the time of their first record. Ring order is kept: a writer
 * preempted between taking its time and reserving its slot has an older time
 * than the record before it in its ring, and comes right after that one. The smallest record may be
 * handed on once no stream that is empty could still bring an earlier one:
 *
 *   stream empty, its source not at its end, the ring still logging
 *     -> its next record is no earlier than its last one (ring order), so
 *        records up to that time may go; later ones wait for a frame more
 *   the ring had no record for QUIET frames of its source
 *     -> it logs rarely, or the collector waits to read it; it no longer
 *        holds others back, the window below does
 *
 * The window: a ring's records can follow newer records of other rings in
 * its file (a ring is read when its producers pass a sixteenth of it, or
 * after --max-delay-ms; a new ring at the next rescan), by less than
 * SHLOG_ORDER_WINDOW_NS (FORMAT.md, Order). So a record also waits until
 * every input still being read reached that far past it: the input furthest
 * behind, since a late ring comes in its own host's files.
 *
 * Records wait in the FIFOs while a source decodes further. If they ever
 * exceed the merge's bound (buffer_max: MERGE_BUFFER_DEFAULT, or the reader's
 * merge_bytes), the smallest goes out anyway (order is then best effort;
 * memory stays bounded), also in the middle of a frame.
 * Its memory: the bound, a chunk over it, and FREE_CHUNKS_MAX spare
 * ones (the sources' own: read_decode.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "read_engine.h"

#define MERGE_BUFFER_DEFAULT (64u << 20) /* bytes of the FIFOs' chunks, where records wait */
#define CHUNK_MAP_BYTES (2u << 20)     /* the largest chunk: one 2 MiB (huge) page */
#define CHUNK_FIRST_BYTES (16u << 10)  /* a stream's first chunk: what a ring that waits holds */
#define FREE_CHUNKS_MAX 4u             /* 2 MiB chunks kept for reuse */
/* Strings of closed files' sites kept for their queued entries: past it those entries go on early, so a
 * reader holds about one closed file's sites beside the open one's, not every file within the order window. */
#define CLOSED_SITES_MAX (16u << 20)
/* How far ahead of the FIFOs' write and read positions their lines are asked
 * for: the window's entries leave the cache between the two (bench/files.sh,
 * C Arrow: 4 % more records a second than with 1 KiB ahead of reads alone). */
#define PREFETCH_WRITE_AHEAD 1024u
#define PREFETCH_READ_AHEAD 4096u

/* Whether what waits is over the merge's bound: the entries' chunks, or the
 * strings of the sites that only closed files define (past CLOSED_SITES_MAX),
 * while a source waits for the entries that keep them (read_decode.c:
 * sites_closed). Then the earliest entries go out in best-effort order. */
static inline int merge_full(const struct read_merge *m)
{
    return m->buffered >= m->buffer_max ||
           (m->engine->sources_older && m->engine->closed_site_bytes >= CLOSED_SITES_MAX);
}

/* A FIFO of entries in chunks, each twice the one before up to 2 MiB: a
 * stream that holds a few entries costs 16 KiB, not a huge page. */
struct chunk {
    struct chunk *next;
    size_t head, tail; /* bytes consumed, bytes written */
    size_t bytes;      /* of the allocation, header included */
    uint64_t mark;     /* emptied and held: the hold's mark then (read_merge_hold) */
    unsigned char data[];
};

/* ==== FIFO entries ==== */

/* A chunk of bytes (header included). The 2 MiB ones are mappings asking
 * for a huge page: a first touch of fresh memory costs a page fault (dear on
 * VMs), one per 2 MiB instead of one per 4 KiB; a few are kept for reuse. */
static struct chunk *chunk_new(struct read_merge *m, size_t bytes)
{
    struct chunk *c = NULL;
    if (bytes < CHUNK_MAP_BYTES) {
        c = malloc(bytes);
    } else if (m->free_chunks) {
        c = m->free_chunks;
        m->free_chunks = c->next;
        m->nfree_chunks--;
    } else {
        void *p = mmap(NULL, CHUNK_MAP_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        madvise(p, CHUNK_MAP_BYTES, MADV_HUGEPAGE);
        c = p;
    }
    if (!c)
        return NULL;
    c->next = NULL;
    c->head = c->tail = 0;
    c->bytes = bytes;
    m->buffered += bytes;
    return c;
}

/* A chunk no FIFO holds: to the spares, or back to the system. */
static void chunk_release(struct read_merge *m, struct chunk *c)
{
    if (c->bytes < CHUNK_MAP_BYTES) {
        free(c);
    } else if (m->nfree_chunks < FREE_CHUNKS_MAX) {
        c->next = m->free_chunks;
        m->free_chunks = c;
        m->nfree_chunks++;
    } else {
        munmap(c, CHUNK_MAP_BYTES);
    }
}

/* A chunk its FIFO emptied, released; or, while a sink still reads the
 * entries it was handed, held until it lets go (no longer the FIFOs' bytes). */
static void chunk_free(struct read_merge *m, struct chunk *c)
{
    m->buffered -= c->bytes;
    if (!m->hold_mark) {
        chunk_release(m, c);
        return;
    }
    c->mark = m->hold_mark;
    c->next = NULL;
    if (m->held)
        m->held_last->next = c;
    else
        m->held = c;
    m->held_last = c;
}

void read_merge_hold(struct read_merge *m, uint64_t mark)
{
    m->hold_mark = mark;
}

void read_merge_let_go(struct read_merge *m, uint64_t mark)
{
    while (m->held && m->held->mark <= mark) {
        struct chunk *c = m->held;
        m->held = c->next;
        chunk_release(m, c);
    }
}

/* A chunk more at the FIFO's end: 0, or -ENOMEM. */
static int fifo_grow(struct read_merge *m, struct fifo *q)
{
    struct chunk *last = q->last;
    size_t size = last ? 2 * last->bytes : CHUNK_FIRST_BYTES;
    struct chunk *c = chunk_new(m, size < CHUNK_MAP_BYTES ? size : CHUNK_MAP_BYTES);
    if (!c)
        return -ENOMEM;
    if (last)
        last->next = c;
    else
        q->first = c;
    q->last = c;
    return 0;
}

/* Room for an entry of bytes at the FIFO's end, or NULL (out of memory). */
static inline struct entry *fifo_push(struct read_merge *m, struct fifo *q, size_t bytes)
{
    bytes = (bytes + 7) & ~(size_t)7; /* < 1 KiB: a record head and its payload at most */
    struct chunk *last = q->last;
    if ((!last || last->bytes - sizeof(*last) - last->tail < bytes) && fifo_grow(m, q) != 0)
        return NULL;
    struct entry *e = (struct entry *)(q->last->data + q->last->tail);
    __builtin_prefetch((const char *)e + PREFETCH_WRITE_AHEAD, 1); /* past the chunk: a hint, never a fault */
    q->last->tail += bytes;
    e->bytes = (uint16_t)bytes;
    q->count++;
    return e;
}

static struct entry *fifo_front(const struct fifo *q)
{
    return q->count ? (struct entry *)(q->first->data + q->first->head) : NULL;
}

static void fifo_pop(struct read_merge *m, struct fifo *q)
{
    struct chunk *c = q->first;
    struct entry *e = (struct entry *)(c->data + c->head);
    c->head += e->bytes;
    q->count--;
    struct dring *r = (struct dring *)q; /* a ring's FIFO is its first member */
    if (r->older && --r->older == 0 && --r->src->rings_older == 0)
        m->engine->sources_older--;
    if (c->head == c->tail) {
        /* Emptied: a stream that waits holds no chunk. */
        q->first = c->next;
        if (!q->first)
            q->last = NULL;
        chunk_free(m, c);
    }
}

/* ==== Heap of streams by the time of their first entry ==== */

/* The heap holds streams: each is the FIFO at the start of a dring. */
static int *stream_heap_index(struct fifo *q)
{
    return &((struct dring *)q)->heap_index;
}

/* At one time, a trigger's backtrace records come first (before the
 * trigger), in the order of their own times. */
static int stream_before(struct fifo *a, struct fifo *b)
{
    const struct entry *x = fifo_front(a), *y = fifo_front(b);
    if (x->ts_ns != y->ts_ns)
        return x->ts_ns < y->ts_ns;
    int xb = x->kind == ENTRY_BACKTRACE, yb = y->kind == ENTRY_BACKTRACE;
    if (xb != yb)
        return xb;
    return xb && entry_own_ts(x) < entry_own_ts(y);
}

static void heap_swap(struct read_merge *m, size_t a, size_t b)
{
    struct fifo *t = m->heap[a];
    m->heap[a] = m->heap[b];
    m->heap[b] = t;
    *stream_heap_index(m->heap[a]) = (int)a;
    *stream_heap_index(m->heap[b]) = (int)b;
}

static void heap_up(struct read_merge *m, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!stream_before(m->heap[i], m->heap[p]))
            return;
        heap_swap(m, i, p);
        i = p;
    }
}

static void heap_down(struct read_merge *m, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, x = i;
        if (l < m->nheap && stream_before(m->heap[l], m->heap[x]))
            x = l;
        if (r < m->nheap && stream_before(m->heap[r], m->heap[x]))
            x = r;
        if (x == i)
            return;
        heap_swap(m, i, x);
        i = x;
    }
}

/* The time of the first entry of the streams below the top: the top may
 * hand on what is earlier without a heap operation. */
static uint64_t next_stream_ts(const struct read_merge *m)
{
    uint64_t t = UINT64_MAX;
    for (size_t i = 1; i < 3 && i < m->nheap; i++)
        if (fifo_front(m->heap[i])->ts_ns < t)
            t = fifo_front(m->heap[i])->ts_ns;
    return t;
}

/* A stream got its first entry. */
static int heap_add(struct read_merge *m, struct fifo *q)
{
    if (m->nheap == m->heap_cap) {
        size_t cap = m->heap_cap ? m->heap_cap * 2 : 64;
        struct fifo **h = realloc(m->heap, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        m->heap = h;
        m->heap_cap = cap;
    }
    m->heap[m->nheap] = q;
    *stream_heap_index(q) = (int)m->nheap;
    m->nheap++;
    heap_up(m, m->nheap - 1);
    return 0;
}

/* The top stream's first entry was taken. */
static void heap_top_popped(struct read_merge *m)
{
    struct fifo *q = m->heap[0];
    if (q->count) {
        heap_down(m, 0);
        return;
    }
    *stream_heap_index(q) = -1;
    m->nheap--;
    if (m->nheap) {
        m->heap[0] = m->heap[m->nheap];
        *stream_heap_index(m->heap[0]) = 0;
        heap_down(m, 0);
    }
}

/* ==== Queueing: the merge as the engine's consumer ==== */

/* Room for an entry of kind (its header filled, len bytes of body to
 * write) at the end of ring r's stream, or NULL (out of memory). */
static inline __attribute__((always_inline)) struct entry *entry_push(struct read_merge *m, struct dring *r,
                                                                      enum entry_kind kind, uint64_t ts, uint32_t cpu,
                                                                      struct dsite *site, struct dproc *p,
                                                                      const char *thread, size_t len)
{
    struct entry *e = fifo_push(m, &r->q, sizeof(struct entry) + len);
    if (!e)
        return NULL;
    e->ts_ns = ts;
    e->kind = (uint8_t)kind;
    e->cpu = cpu;
    e->site = site;
    e->thread = thread;
    e->proc = p;
    return e;
}

/* After entries were pushed to ring r's stream: the stream in the heap if it
 * was not, and past the merge's buffer the earliest entries out now. 1 when
 * the sink wants no more for now, 0, or -errno. A drain that reached the
 * buffer may have sent every entry of r already: an empty stream stays out
 * of the heap, whose order reads each stream's first entry. */
static int entries_pushed(struct read_merge *m, struct dring *r)
{
    if (r->heap_index < 0 && r->q.count && heap_add(m, &r->q) != 0)
        return -ENOMEM;
    /* One frame may hold millions of records: past the merge's buffer, the
     * earliest go out now, in best-effort order. */
    if (merge_full(m) && m->srcs) {
        int rc = read_merge_drain(m, 0);
        if (rc < 0)
            return rc;
    }
    return m->pause || m->stop;
}

/* Appends an entry (its header, then len bytes of body) to ring r's stream. */
static int queue_entry(struct read_merge *m, struct dring *r, enum entry_kind kind, uint64_t ts, uint32_t cpu,
                       struct dsite *site, struct dproc *p, const char *thread, const void *body, size_t len)
{
    struct entry *e = entry_push(m, r, kind, ts, cpu, site, p, thread, len);
    if (!e)
        return -ENOMEM;
    memcpy(e + 1, body, len);
    return entries_pushed(m, r);
}

/* A record's entry at the end of ring r's stream (len bytes of it: its head
 * and what its payload holds), shown with flags besides its own and its
 * thread's name as it is now (a later rename is not its); 0, or -ENOMEM. A
 * backtrace record's goes at order_ts, with its own time ts. */
static inline __attribute__((always_inline)) int push_record(struct read_merge *m, struct dring *r, struct dsite *d,
                                                             const struct shm_copied_record *rec, size_t len,
                                                             uint8_t flags, const char *thread,
                                                             const struct dtrace *trace, uint32_t cpu,
                                                             int backtrace, uint64_t ts, uint64_t order_ts)
{
    struct dsite *site = d && d->fmt ? d : NULL;
    size_t before = backtrace ? sizeof(uint64_t) : 0;
    struct entry *e = entry_push(m, r, backtrace ? ENTRY_BACKTRACE : ENTRY_RECORD, backtrace ? order_ts : ts, cpu,
                                 site, r->proc, thread, before + len);
    if (!e)
        return -ENOMEM;
    unsigned char *body = (unsigned char *)(e + 1);
    static const struct dtrace none = {0, 0, ""};
    e->trace = trace ? *trace : none;
    if (backtrace)
        memcpy(body, &ts, sizeof ts); /* its own time, then the record */
    memcpy(body + before, rec, len);
    ((struct shm_copied_record *)(body + before))->flags |= flags;
    return 0;
}

static int merge_record(void *clientd, struct dring *r, struct dsite *d, const struct shlog_event *ev, uint64_t ts,
                        uint64_t order_ts)
{
    struct read_merge *m = clientd;
    if (!(m->kinds & (1 << ENTRY_RECORD)))
        return 0;
    if (push_record(m, r, d, ev->rec, shm_rec_copy_bytes(ev->rec), 0, read_thread_name(r->proc, ev->rec->tid),
                    read_trace_of(r->proc, ev->rec->tid), ev->cpu, ev->backtrace, ts, order_ts) != 0)
        return -ENOMEM;
    return entries_pushed(m, r);
}

static int merge_rows(void *clientd, struct dring *r, const struct shlog_event *ev, const struct read_rows *rows)
{
    struct read_merge *m = clientd;
    if (!(m->kinds & (1 << ENTRY_RECORD)))
        return 0;
    const struct shlog_block *bl = ev->block;
    /* A ring's records are mostly of one thread, and no name changes within a block. */
    uint32_t tid = bl->rec[rows->row[0]]->tid;
    const char *thread = read_thread_name(r->proc, tid);
    const struct dtrace *trace = read_trace_of(r->proc, tid); /* no trace changes within the rows either */
    for (uint32_t k = 0; k < rows->n; k++) {
        uint32_t i = rows->row[k];
        const struct shm_copied_record *rec = bl->rec[i];
        if (rec->tid != tid) {
            thread = read_thread_name(r->proc, tid = rec->tid);
            trace = read_trace_of(r->proc, tid);
        }
        if (push_record(m, r, rows->site[k], rec, bl->bytes[i], rows->flags[k], thread, trace, ev->cpu, ev->backtrace,
                        rows->ts[k], rows->order_ts) != 0)
            return -ENOMEM;
        /* the buffer checked as often as a record at a time checks it; a
         * sink that pauses still gets every row queued */
        if (merge_full(m) || r->heap_index < 0) {
            int rc = entries_pushed(m, r);
            if (rc < 0)
                return rc;
        }
    }
    return entries_pushed(m, r);
}

static int merge_loss(void *clientd, struct dring *r, const struct shlog_event *ev, uint64_t ts)
{
    struct read_merge *m = clientd;
    if (!(m->kinds & (1 << ENTRY_LOSS)))
        return 0;
    return queue_entry(m, r, ENTRY_LOSS, ts, ev->cpu, NULL, r->proc, NULL, &ev->loss, sizeof ev->loss);
}

static int merge_exit(void *clientd, struct source *s, struct dproc *p, const struct shlog_event *ev)
{
    struct read_merge *m = clientd;
    if (!(m->kinds & (1 << ENTRY_EXIT)))
        return 0;
    /* An exit marker is merged like a record. */
    struct dring *r = read_exit_ring(m->engine, s, p);
    if (!r)
        return -ENOMEM;
    struct entry_exit x = {ev->exit_records, ev->exit_lost, ev->exit_how};
    return queue_entry(m, r, ENTRY_EXIT, ev->exit_ns > r->last_ts ? ev->exit_ns : r->last_ts, r->cpu, NULL, p, NULL, &x,
                       sizeof x);
}

static void merge_message(void *clientd, const char *msg, int note)
{
    struct read_merge *m = clientd;
    if (m->sink->message)
        m->sink->message(m->sink->ctx, msg, note);
}

struct read_consumer read_merge_consumer(struct read_merge *m)
{
    return (struct read_consumer){.clientd = m, .record = merge_record, .rows = merge_rows, .loss = merge_loss,
                                  .exit = merge_exit, .message = merge_message};
}

int read_entry_line(struct read_engine *e, const struct entry *en, int json, struct render_buf *b)
{
    const struct render_site *sr = NULL;
    if ((en->kind == ENTRY_RECORD || en->kind == ENTRY_BACKTRACE) && !(sr = prepared(e, en->site, en->proc)))
        return -ENOMEM;
    read_entry_render(sr, en, json, b);
    return 0;
}

void read_entry_render(const struct render_site *sr, const struct entry *en, int json, struct render_buf *b)
{
    const struct dproc *p = en->proc;
    if (en->kind == ENTRY_RECORD || en->kind == ENTRY_BACKTRACE) {
        struct render_trace trace = {en->trace.hi, en->trace.lo, en->trace.span};
        render_prepared_thread(sr, entry_record(en), en->cpu, entry_own_ts(en), en->thread,
                               en->trace.hi || en->trace.lo ? &trace : NULL, json, b);
        return;
    }
    struct render_input in = {p->info.app, p->info.host, p->info.pid, en->cpu, en->ts_ns, NULL, NULL, p->info.instance,
                              p->hostname};
    if (en->kind == ENTRY_LOSS) {
        struct shm_loss loss;
        memcpy(&loss, en + 1, sizeof loss);
        render_loss(&in, &loss, json, b);
    } else {
        struct entry_exit x;
        memcpy(&x, en + 1, sizeof x);
        render_exit(&in, x.records, x.lost, x.how, json, b);
    }
}

/* ==== Handing on in time order ==== */

/* 0, or -errno of the sink. */
static int emit_entry(struct read_merge *m, const struct entry *e)
{
    int rc = m->sink->entry(m->sink->ctx, e);
    if (rc < 0)
        return rc;
    if (rc > 0)
        m->pause = 1;
    if ((e->kind == ENTRY_RECORD || e->kind == ENTRY_BACKTRACE) && m->limit && ++m->shown >= m->limit)
        m->stop = 1;
    return 0;
}

/* Frames without a record of a ring after which it no longer holds others
 * back. One collector pass over every ring fits a frame or a few (a pass
 * drains at most 16 Ki records per ring, a frame takes 64 Ki): a ring absent
 * from this many frames was found empty by a pass since its last record. */
static uint64_t quiet_frames(const struct source *s)
{
    return 4 + s->nrings / 4;
}

/* The time every input still being read has decoded up to. */
static uint64_t frontier(const struct source *s)
{
    uint64_t f = UINT64_MAX;
    for (; s; s = s->next_src)
        if (!s->done && s->max_ts < f)
            f = s->max_ts;
    return f;
}

/* The time up to which every stream is complete, and the source that holds
 * the others back (NULL if none does). */
static uint64_t horizon(struct read_merge *m, struct source **blocking)
{
    uint64_t h = UINT64_MAX;
    *blocking = NULL;
    for (struct source *s = m->srcs; s; s = s->next_src)
        if (!s->done && s->frames == 0) {
            *blocking = s;
            return 0;
        }
    for (struct dring *r = m->engine->live_rings, *next; r; r = next) {
        struct source *s = r->src;
        next = r->live_next;
        /* Quiet stays quiet until its next record, which puts it back. */
        if (r->finished || s->frames - r->last_frame >= quiet_frames(s)) {
            read_ring_unlive(m->engine, r);
            continue;
        }
        if (s->done || r->q.count || r->backtrace || !r->has_last)
            continue;
        if (r->last_ts < h) {
            h = r->last_ts;
            *blocking = s;
        }
    }
    return h;
}

int read_merge_drain(struct read_merge *m, int all)
{
    struct source *blocking = NULL;
    uint64_t h = all ? UINT64_MAX : horizon(m, &blocking);
    uint64_t f = frontier(m->srcs);
    uint64_t window_end = f < SHLOG_ORDER_WINDOW_NS ? 0 : f - SHLOG_ORDER_WINDOW_NS;
    uint64_t until = h < window_end ? h : window_end;
    while (m->nheap && !m->stop && !m->pause) {
        struct fifo *q = m->heap[0];
        /* A run: the top stream's entries earlier than every other stream's
         * first go out with no heap operation (a ring's records are in time
         * order, so runs are long). */
        uint64_t others = next_stream_ts(m);
        for (;;) {
            struct entry *e = fifo_front(q);
            if (!all && e->ts_ns > until && !merge_full(m))
                return 0;
            /* The window's entries are read once, long after they were written
             * (from memory, not the cache): the next ones asked for ahead. */
            __builtin_prefetch((const char *)e + PREFETCH_READ_AHEAD);
            int rc = emit_entry(m, e);
            if (rc < 0)
                return rc;
            fifo_pop(m, q);
            if (!q->count || fifo_front(q)->ts_ns >= others || m->stop || m->pause)
                break;
        }
        heap_top_popped(m);
        if (!q->count && !all) {
            /* The stream ran dry: later ones may not pass its last time. */
            struct dring *r = (struct dring *)q;
            struct source *s = r->src;
            if (!s->done && !r->finished && !r->backtrace && s->frames - r->last_frame < quiet_frames(s) &&
                r->last_ts < h) {
                h = r->last_ts;
                until = h < window_end ? h : window_end;
            }
        }
    }
    return 0;
}

void read_merge_init(struct read_merge *m, struct read_engine *e, const struct entry_sink *sink, uint64_t buffer_max)
{
    memset(m, 0, sizeof *m);
    m->engine = e;
    m->sink = sink;
    m->kinds = 1 << ENTRY_RECORD | 1 << ENTRY_LOSS | 1 << ENTRY_EXIT;
    m->buffer_max = buffer_max ? buffer_max : MERGE_BUFFER_DEFAULT;
}

void read_merge_begin(struct read_merge *m, struct source *srcs)
{
    m->srcs = srcs;
    int several = srcs && srcs->next_src;
    for (struct source *s = srcs; s; s = s->next_src)
        s->park = several;
}

/* Following the files being written, the source the merge waits on has
 * nothing for now: the others are read on, and when none has more, what is
 * queued is handed on (a record that comes later may be older: a tail gives
 * records as they come). 1, 0 (nothing for now), or -errno. */
static int follow_idle(struct read_merge *m, const struct source *waited)
{
    for (struct source *s = m->srcs; s; s = s->next_src) {
        if (s == waited || s->done)
            continue;
        int rc = read_source_step(m->engine, s);
        if (rc != 0)
            return rc < 0 ? rc : 1;
    }
    int rc = read_merge_drain(m, 1);
    return rc < 0 ? rc : 0;
}

int read_merge_step(struct read_merge *m)
{
    /* The sink took what it was handed: no entry of a closed file is held. */
    read_release_sites(m->engine, m->srcs);
    m->pause = 0;
    int rc = read_merge_drain(m, 0);
    if (rc < 0)
        return rc;
    if (m->stop)
        return 0;
    if (m->pause)
        return 1;
    struct source *blocking = NULL;
    horizon(m, &blocking);
    if (!blocking) {
        /* Only the window holds the heap back: decode the input that is
         * furthest behind. */
        for (struct source *s = m->srcs; s; s = s->next_src)
            if (!s->done && (!blocking || s->max_ts < blocking->max_ts))
                blocking = s;
    }
    if (!blocking) {
        if ((rc = read_merge_drain(m, 1)) < 0)
            return rc;
        return m->nheap != 0 && !m->stop;
    }
    rc = read_source_step(m->engine, blocking);
    if (rc == 0 && m->engine->follow_live)
        return follow_idle(m, blocking);
    return rc < 0 ? rc : 1;
}

void read_merge_end(struct read_merge *m)
{
    for (struct source *s = m->srcs; s; s = s->next_src)
        s->park = 0;
    m->srcs = NULL;
}

void read_merge_free(struct read_merge *m)
{
    read_merge_let_go(m, UINT64_MAX);
    m->hold_mark = 0;
    for (struct dring *r = m->engine->all_rings; r; r = r->next_all) {
        for (struct chunk *c = r->q.first, *next; c; c = next) {
            next = c->next;
            chunk_free(m, c);
        }
        memset(&r->q, 0, sizeof r->q);
    }
    while (m->free_chunks) {
        struct chunk *c = m->free_chunks;
        m->free_chunks = c->next;
        munmap(c, CHUNK_MAP_BYTES);
    }
    m->nfree_chunks = 0;
    free(m->heap);
    m->heap = NULL;
    m->nheap = m->heap_cap = 0;
}
