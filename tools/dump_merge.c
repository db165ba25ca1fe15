/* dump_merge.c - read's merge: the records of every ring, in per-ring FIFOs, written in time order. */
/*
 * read merges records in time order with bounded memory. Every ring is a
 * stream (a FIFO of decoded records, in ring order); a heap orders the
 * streams by the time of their first record. Ring order is kept: a writer
 * preempted between taking its time and reserving its slot has an older time
 * than the record before it in its ring, and comes right after that one. The smallest record may be
 * written once no stream that is empty could still bring an earlier one:
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
 * exceed MERGE_BUFFER_MAX, the smallest goes out anyway (order is then best
 * effort; memory stays bounded), also in the middle of a frame.
 * Its memory: MERGE_BUFFER_MAX of FIFO chunks and FREE_CHUNKS_MAX spare
 * ones (the sources' own: dump_decode.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dump_files.h"

#define MERGE_BUFFER_MAX (64u << 20) /* bytes of the FIFOs' chunks, where records wait */
#define CHUNK_MAP_BYTES (2u << 20)     /* the largest chunk: one 2 MiB (huge) page */
#define CHUNK_FIRST_BYTES (16u << 10)  /* a stream's first chunk: what a ring that waits holds */
#define FREE_CHUNKS_MAX 4u             /* 2 MiB chunks kept for reuse */

/* A FIFO of entries in chunks, each twice the one before up to 2 MiB: a
 * stream that holds a few entries costs 16 KiB, not a huge page. */
struct chunk {
    struct chunk *next;
    size_t head, tail; /* bytes consumed, bytes written */
    size_t bytes;      /* of the allocation, header included */
    unsigned char data[];
};

/* ==== FIFO entries ==== */

/* A chunk of bytes (header included). The 2 MiB ones are mappings asking
 * for a huge page: a first touch of fresh memory costs a page fault (dear on
 * VMs), one per 2 MiB instead of one per 4 KiB; a few are kept for reuse. */
static struct chunk *chunk_new(size_t bytes)
{
    struct chunk *c = NULL;
    if (bytes < CHUNK_MAP_BYTES) {
        c = malloc(bytes);
    } else if (running->merge.free_chunks) {
        c = running->merge.free_chunks;
        running->merge.free_chunks = c->next;
        running->merge.nfree_chunks--;
    } else {
        void *m = mmap(NULL, CHUNK_MAP_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        madvise(m, CHUNK_MAP_BYTES, MADV_HUGEPAGE);
        c = m;
    }
    if (!c)
        return NULL;
    c->next = NULL;
    c->head = c->tail = 0;
    c->bytes = bytes;
    running->merge.buffered += bytes;
    return c;
}

static void chunk_free(struct chunk *c)
{
    running->merge.buffered -= c->bytes;
    if (c->bytes < CHUNK_MAP_BYTES) {
        free(c);
    } else if (running->merge.nfree_chunks < FREE_CHUNKS_MAX) {
        c->next = running->merge.free_chunks;
        running->merge.free_chunks = c;
        running->merge.nfree_chunks++;
    } else {
        munmap(c, CHUNK_MAP_BYTES);
    }
}

/* Room for an entry of bytes at the FIFO's end, or NULL (out of memory). */
static struct entry *fifo_push(struct fifo *q, size_t bytes)
{
    bytes = (bytes + 7) & ~(size_t)7; /* < 1 KiB: a record head and its payload at most */
    struct chunk *last = q->last;
    if (!last || last->bytes - sizeof(*last) - last->tail < bytes) {
        size_t size = last ? 2 * last->bytes : CHUNK_FIRST_BYTES;
        struct chunk *c = chunk_new(size < CHUNK_MAP_BYTES ? size : CHUNK_MAP_BYTES);
        if (!c)
            return NULL;
        if (last)
            last->next = c;
        else
            q->first = c;
        q->last = c;
    }
    struct entry *e = (struct entry *)(q->last->data + q->last->tail);
    q->last->tail += bytes;
    e->bytes = (uint16_t)bytes;
    q->count++;
    return e;
}

static struct entry *fifo_front(const struct fifo *q)
{
    return q->count ? (struct entry *)(q->first->data + q->first->head) : NULL;
}

static void fifo_pop(struct fifo *q)
{
    struct chunk *c = q->first;
    struct entry *e = (struct entry *)(c->data + c->head);
    c->head += e->bytes;
    q->count--;
    if (c->head == c->tail) {
        /* Emptied: a stream that waits holds no chunk. */
        q->first = c->next;
        if (!q->first)
            q->last = NULL;
        chunk_free(c);
    }
}

/* ==== Heap of streams by the time of their first entry ==== */

static int *stream_heap_index(struct fifo *q);

/* Others are shown at the time they are merged at. */
uint64_t entry_own_ts(const struct entry *e)
{
    uint64_t ts = e->ts_ns;
    if (e->kind == ENTRY_BACKTRACE)
        memcpy(&ts, e + 1, sizeof ts);
    return ts;
}

const struct shm_copied_record *entry_record(const struct entry *e)
{
    const unsigned char *body = (const unsigned char *)(e + 1);
    return (const struct shm_copied_record *)(body + (e->kind == ENTRY_BACKTRACE ? sizeof(uint64_t) : 0));
}

/* The heap holds streams: each is the FIFO at the start of a dring. At one
 * time, a trigger's backtrace records come first (before the trigger), in
 * the order of their own times. */
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

static void heap_swap(size_t a, size_t b)
{
    struct fifo *t = running->merge.heap[a];
    running->merge.heap[a] = running->merge.heap[b];
    running->merge.heap[b] = t;
    *stream_heap_index(running->merge.heap[a]) = (int)a;
    *stream_heap_index(running->merge.heap[b]) = (int)b;
}

static void heap_up(size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!stream_before(running->merge.heap[i], running->merge.heap[p]))
            return;
        heap_swap(i, p);
        i = p;
    }
}

static void heap_down(size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < running->merge.nheap && stream_before(running->merge.heap[l], running->merge.heap[m]))
            m = l;
        if (r < running->merge.nheap && stream_before(running->merge.heap[r], running->merge.heap[m]))
            m = r;
        if (m == i)
            return;
        heap_swap(i, m);
        i = m;
    }
}

/* A stream got its first entry. */
static int heap_add(struct fifo *q)
{
    if (running->merge.nheap == running->merge.heap_cap) {
        size_t cap = running->merge.heap_cap ? running->merge.heap_cap * 2 : 64;
        struct fifo **h = realloc(running->merge.heap, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        running->merge.heap = h;
        running->merge.heap_cap = cap;
    }
    running->merge.heap[running->merge.nheap] = q;
    *stream_heap_index(q) = (int)running->merge.nheap;
    running->merge.nheap++;
    heap_up(running->merge.nheap - 1);
    return 0;
}

/* The top stream's first entry was taken. */
static void heap_top_popped(void)
{
    struct fifo *q = running->merge.heap[0];
    if (q->count) {
        heap_down(0);
        return;
    }
    *stream_heap_index(q) = -1;
    running->merge.nheap--;
    if (running->merge.nheap) {
        running->merge.heap[0] = running->merge.heap[running->merge.nheap];
        *stream_heap_index(running->merge.heap[0]) = 0;
        heap_down(0);
    }
}

static int *stream_heap_index(struct fifo *q)
{
    return &((struct dring *)q)->heap_index;
}

/* ==== Emitting in time order ==== */

/* Puts the stream in the merge heap if it was not. */
void queue_entry(struct dring *r, enum entry_kind kind, uint64_t ts, uint32_t cpu, struct dsite *site,
                        struct dproc *p, const void *body, size_t len)
{
    struct entry *e = fifo_push(&r->q, sizeof(struct entry) + len);
    if (!e)
        oom();
    e->ts_ns = ts;
    e->kind = (uint8_t)kind;
    e->cpu = cpu;
    e->site = site;
    e->proc = p;
    memcpy(e + 1, body, len);
    if (r->heap_index < 0 && heap_add(&r->q) != 0)
        oom();
    /* One frame may hold millions of records: past the merge's buffer, the
     * earliest go out now, in best-effort order. */
    if (running->merge.buffered >= MERGE_BUFFER_MAX && running->merge.srcs)
        drain(running->merge.srcs, running->merge.nsrc, 0);
}

void entry_line(const struct entry *e, int json, struct render_buf *b)
{
    const struct dproc *p = e->proc;
    if (e->kind == ENTRY_RECORD || e->kind == ENTRY_BACKTRACE) {
        const struct render_site *sr = prepared(e->site, e->proc);
        if (!sr)
            oom();
        render_prepared(sr, entry_record(e), e->cpu, entry_own_ts(e), json, b);
        return;
    }
    struct render_input in = {p->info.app, p->info.host, p->info.pid, e->cpu, e->ts_ns, NULL, NULL};
    if (e->kind == ENTRY_LOSS) {
        struct shm_loss loss;
        memcpy(&loss, e + 1, sizeof loss);
        render_loss(&in, &loss, json, b);
    } else {
        struct entry_exit x;
        memcpy(&x, e + 1, sizeof x);
        render_exit(&in, x.records, x.lost, x.how, json, b);
    }
}

static void emit_entry(const struct entry *e)
{
    running->sink->entry(running->sink->ctx, e);
    if ((e->kind == ENTRY_RECORD || e->kind == ENTRY_BACKTRACE) && running->cli->filter.limit &&
        ++running->merge.shown >= running->cli->filter.limit)
        running->stop = 1;
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
static uint64_t frontier(const struct source *srcs, size_t nsrc)
{
    uint64_t f = UINT64_MAX;
    for (size_t i = 0; i < nsrc; i++)
        if (!srcs[i].done && srcs[i].max_ts < f)
            f = srcs[i].max_ts;
    return f;
}

/* The time up to which every stream is complete, and the source that holds
 * the others back (NULL if none does). */
static uint64_t horizon(struct source *srcs, size_t nsrc, struct source **blocking)
{
    uint64_t h = UINT64_MAX;
    *blocking = NULL;
    for (size_t i = 0; i < nsrc; i++)
        if (!srcs[i].done && srcs[i].frames == 0) {
            *blocking = &srcs[i];
            return 0;
        }
    for (struct dring *r = running->all_rings; r; r = r->next_all) {
        struct source *s = r->src;
        if (s->done || r->q.count || r->finished || r->backtrace || !r->has_last ||
            s->frames - r->last_frame >= quiet_frames(s))
            continue;
        if (r->last_ts < h) {
            h = r->last_ts;
            *blocking = s;
        }
    }
    return h;
}

void drain(struct source *srcs, size_t nsrc, int all)
{
    struct source *blocking = NULL;
    uint64_t h = all ? UINT64_MAX : horizon(srcs, nsrc, &blocking);
    uint64_t f = frontier(srcs, nsrc);
    uint64_t window_end = f < SHLOG_ORDER_WINDOW_NS ? 0 : f - SHLOG_ORDER_WINDOW_NS;
    while (running->merge.nheap && !running->stop && !running->pause) {
        struct fifo *q = running->merge.heap[0];
        struct entry *e = fifo_front(q);
        if (!all && (e->ts_ns > h || e->ts_ns > window_end) && running->merge.buffered < MERGE_BUFFER_MAX)
            return;
        emit_entry(e);
        fifo_pop(q);
        heap_top_popped();
        if (!q->count && !all) {
            /* The stream ran dry: later ones may not pass its last time. */
            struct dring *r = (struct dring *)q;
            struct source *s = r->src;
            if (!s->done && !r->finished && !r->backtrace && s->frames - r->last_frame < quiet_frames(s) &&
                r->last_ts < h)
                h = r->last_ts;
        }
    }
}

void merge_begin(struct source *srcs, size_t nsrc)
{
    running->merge.srcs = srcs;
    running->merge.nsrc = nsrc;
    for (size_t i = 0; i < nsrc; i++)
        srcs[i].park = nsrc >= 2;
}

int merge_step(void)
{
    struct source *srcs = running->merge.srcs;
    size_t nsrc = running->merge.nsrc;
    drain(srcs, nsrc, 0);
    if (running->stop)
        return 0;
    if (running->pause)
        return 1;
    struct source *blocking = NULL;
    horizon(srcs, nsrc, &blocking);
    if (!blocking) {
        /* Only the window holds the heap back: decode the input that is
         * furthest behind. */
        for (size_t i = 0; i < nsrc; i++)
            if (!srcs[i].done && (!blocking || srcs[i].max_ts < blocking->max_ts))
                blocking = &srcs[i];
    }
    if (!blocking) {
        drain(srcs, nsrc, 1);
        return running->merge.nheap != 0 && !running->stop;
    }
    source_step(blocking);
    return 1;
}

void merge_end(void)
{
    for (size_t i = 0; i < running->merge.nsrc; i++)
        running->merge.srcs[i].park = 0;
    running->merge.srcs = NULL;
    running->merge.nsrc = 0;
}

void merge_run(struct source *srcs, size_t nsrc)
{
    merge_begin(srcs, nsrc);
    while (merge_step())
        ;
    merge_end();
}

/* ==== Freeing ==== */

void merge_free_stream(struct fifo *q)
{
    for (struct chunk *c = q->first, *next; c; c = next) {
        next = c->next;
        chunk_free(c);
    }
}

void merge_free(void)
{
    while (running->merge.free_chunks) {
        struct chunk *c = running->merge.free_chunks;
        running->merge.free_chunks = c->next;
        munmap(c, CHUNK_MAP_BYTES);
    }
    running->merge.nfree_chunks = 0;
    free(running->merge.heap);
    running->merge.heap = NULL;
    running->merge.nheap = running->merge.heap_cap = 0;
}
