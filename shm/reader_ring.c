/*
 * reader_ring.c - the consumer's half of the ring protocol (shmlog_abi.h):
 * a ring's view, its counters, records copied out one at a time
 * (shm_ring_next, which turns what it cannot trust into counted losses) or
 * in runs (shm_ring_take), and the release of what was read, which lets
 * producers reuse the slots.
 */
#include "reader.h"
#include "reader_private.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

int shm_ring_view_init(struct shm_ring_view *v, const struct shm_seg *seg, char *err, size_t errcap)
{
    struct shmlog_ring *r = (struct shmlog_ring *)seg->addr;
    uint64_t cap = shmlog__load_relaxed(&r->capacity);
    if (cap < SHMLOG_RING_MIN_RECORDS || cap > SHMLOG_RING_MAX_RECORDS || (cap & (cap - 1)))
        return shm_fail(err, errcap, -EINVAL, "%s: bad ring capacity %llu", seg->path, (unsigned long long)cap);
    if (SHMLOG_RING_HEADER_BYTES + cap * SHMLOG_RECORD_BYTES > seg->bytes)
        return shm_fail(err, errcap, -EINVAL, "%s: ring capacity exceeds the segment", seg->path);
    uint32_t policy = shmlog__load_relaxed(&r->policy);
    if (policy > SHMLOG_SPIN)
        return shm_fail(err, errcap, -EINVAL, "%s: bad ring policy %u", seg->path, policy);
    v->hdr = r;
    v->slots = (const uint8_t *)seg->addr + SHMLOG_RING_HEADER_BYTES;
    v->cap = cap;
    v->mask = cap - 1;
    v->policy = policy;
    v->cpu = shmlog__load_relaxed(&r->cpu);
    v->numa_node = shmlog__load_relaxed(&r->numa_node);
    v->publishes = seg->hdr.abi_version >= 3;
    v->rings_bell = v->publishes && (shmlog__load_relaxed(&r->ring_flags) & SHMLOG_RING_BELL);
    v->bell_dev = shmlog__load_relaxed(&r->bell_dev);
    v->bell_ino = shmlog__load_relaxed(&r->bell_ino);
    return 0;
}

uint64_t shm_ring_head(const struct shm_ring_view *v) { return shmlog__load_acquire(&v->hdr->head); }

struct head_read {
    const struct shm_ring_view *v;
    uint64_t head;
};

static void head_read(void *ctx)
{
    struct head_read *h = ctx;
    h->head = shm_ring_head(h->v);
}

int shm_ring_head_guarded(const struct shm_ring_view *v, uint64_t *head)
{
    struct head_read h = {v, 0};
    if (shm_guarded(head_read, &h) != 0)
        return -1;
    *head = h.head;
    return 0;
}
uint64_t shm_ring_tail(const struct shm_ring_view *v) { return shmlog__load_acquire(&v->hdr->tail); }
uint64_t shm_ring_dropped(const struct shm_ring_view *v) { return shmlog__load_relaxed(&v->hdr->dropped); }
uint64_t shm_ring_published(const struct shm_ring_view *v) { return shmlog__load_acquire(&v->hdr->published); }

void shm_ring_release(const struct shm_ring_view *v, uint64_t pos)
{
    shm_ring_release_below(v, pos, shm_ring_head(v));
}

void shm_ring_release_below(const struct shm_ring_view *v, uint64_t pos, uint64_t head)
{
    /* A writer committing slots past its own head (only a hostile one can)
     * may carry the reader past head; a tail beyond head would make the ring
     * look full to its producers forever. */
    if ((int64_t)(pos - head) > 0)
        pos = head;
    /* Release pairs with the producer's acquire of tail: our copies of the
     * slots below pos are done before a producer may overwrite them. */
    shmlog__store_release(&v->hdr->tail, pos);
}

void shm_ring_claim(const struct shm_ring_view *v, uint64_t me)
{
    __atomic_store_n(&v->hdr->collector_pid, me, __ATOMIC_RELAXED);
}

void shm_ring_unclaim(const struct shm_ring_view *v, uint64_t me)
{
    __atomic_compare_exchange_n(&v->hdr->collector_pid, &me, 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

static const uint8_t *slot_at(const struct shm_ring_view *v, uint64_t pos)
{
    return v->slots + ((pos & v->mask) << 6);
}

/* shm_ring_next loads site and tid as one word, the four byte fields as another. */
_Static_assert(offsetof(struct shmlog_record, tid) == offsetof(struct shmlog_record, site) + 4 &&
                   offsetof(struct shmlog_record, site) % 8 == 0,
               "site and tid share an aligned word");
_Static_assert(offsetof(struct shmlog_record, level) == offsetof(struct shmlog_record, nslots) + 1 &&
                   offsetof(struct shmlog_record, category) == offsetof(struct shmlog_record, nslots) + 2 &&
                   offsetof(struct shmlog_record, flags) == offsetof(struct shmlog_record, nslots) + 3 &&
                   offsetof(struct shmlog_record, nslots) % 4 == 0,
               "nslots, level, category, flags share an aligned word");

static uint64_t slot_commit(const struct shm_ring_view *v, uint64_t pos)
{
    /* Acquire pairs with the writer's release of commit (the B-C pair in shmlog_abi.h). */
    return shmlog__load_acquire((const uint64_t *)slot_at(v, pos));
}

/* What a producer writes in a record's head slot at ring index idx, with room
 * positions reserved from it: the checks shm_ring_next and
 * shm_ring_take both make before they trust a record. */
static inline int head_ok(unsigned nslots, unsigned level, unsigned category, unsigned flags, uint64_t idx,
                          uint64_t cap, uint64_t room)
{
    return nslots != 0 && nslots <= SHMLOG_MAX_SLOTS && idx + nslots <= cap && nslots <= room &&
           level <= SHMLOG_LEVEL_FATAL && category < SHMLOG_MAX_CATEGORIES &&
           !(flags & ~SHMLOG_REC_HEAD_FLAGS);
}

/* The commit word of the continuation slot at pos. */
static inline uint64_t cont_commit(uint64_t pos)
{
    return (pos + 1) | SHMLOG_COMMIT_CONT;
}

static int loss(struct shm_loss *l, uint64_t first, uint64_t positions, uint64_t records, unsigned reason)
{
    l->first_pos = first;
    l->positions = positions;
    l->records = records;
    l->reason = reason;
    return SHM_READ_LOSS;
}

/* Skips from pos to the next committed record head (or head), as one loss. */
static int skip_to_next_head(const struct shm_ring_view *v, uint64_t *pos, uint64_t head,
                             struct shm_loss *l, unsigned reason)
{
    uint64_t first = *pos;
    uint64_t p = *pos + 1;
    /* Positions are modular: compare distances. At most one ring of slots is
     * scanned, whatever a hostile head says. */
    while ((int64_t)(head - p) > 0 && p - first < v->cap && slot_commit(v, p) != p + 1)
        p++;
    *pos = p;
    return loss(l, first, p - first, 1, reason);
}

/* In flight-recorder mode, whether a writer reserved the slot at p again
 * since its commit word said p + 1: whatever was read of the record after that
 * word may be the new record's, so it proves nothing about the old one. The
 * writer's CAS on head precedes its stores, which the acquire orders before
 * these loads. */
static int overwritten_since_commit(const struct shm_ring_view *v, uint64_t p)
{
    if (v->policy != SHMLOG_OVERWRITE)
        return 0;
    shmlog__fence_acquire();
    return shmlog__load_relaxed((const uint64_t *)slot_at(v, p)) != p + 1 || shm_ring_head(v) - p > v->cap;
}

/* A record that failed a check: corrupt, unless a lapping writer changed it
 * under the reader, which is an overwrite (the next read starts past it). */
static int bad_record(const struct shm_ring_view *v, uint64_t *pos, struct shm_loss *l)
{
    uint64_t p = *pos;
    if (overwritten_since_commit(v, p)) {
        *pos = p + 1;
        return loss(l, p, 1, 1, SHM_LOSS_OVERWRITTEN);
    }
    return skip_to_next_head(v, pos, shm_ring_head(v), l, SHM_LOSS_CORRUPT);
}

int shm_ring_next(const struct shm_ring_view *v, uint64_t *pos, struct shm_copied_record *out, int writer_dead,
                     struct shm_loss *l)
{
    for (;;) {
        uint64_t p = *pos;
        uint64_t commit = slot_commit(v, p);
        uint64_t head;
        if (commit == p + 1 && v->policy != SHMLOG_OVERWRITE) {
            /* Nothing at or past the reader's position is rewritten before it
             * releases it, so a slot committed for p is the record at p: the
             * head line, which producers write on every record, is not read.
             * p + cap is only a bound for the checks below; a bad record
             * reads the real head. */
            head = p + v->cap;
            goto committed;
        }
        head = shm_ring_head(v);
        /* Free-running positions wrap at 2^64: compare distances, not values. */
        if ((int64_t)(head - p) <= 0)
            return SHM_READ_EMPTY;
        if (head - p > v->cap) {
            /* Flight-recorder mode overtook us (or a hostile head): the oldest
             * records still there start at head - cap. */
            uint64_t from = head - v->cap;
            *pos = from;
            if (slot_commit(v, from) != from + 1) {
                uint64_t np = from;
                skip_to_next_head(v, &np, head, l, SHM_LOSS_OVERWRITTEN);
                *pos = np;
            }
            return loss(l, p, *pos - p, 0, SHM_LOSS_OVERWRITTEN);
        }
        commit = slot_commit(v, p);
        if (commit != p + 1) {
            if (!writer_dead)
                return SHM_READ_PENDING;
            return skip_to_next_head(v, pos, head, l, SHM_LOSS_DEAD_WRITER);
        }
    committed:;
        /* Each header word is loaded once and the checks use those values,
         * never the ring again. The payload is copied straight to out below:
         * a writer changing it under us changes only data, never trusted.
         * Loads into registers, not a copy of the line on the stack: reading
         * fields back out of such a copy costs a failed store-to-load
         * forward per record. */
        const uint8_t *slot = slot_at(v, p);
        struct {
            uint64_t tsc;
            uint32_t site, tid;
            uint8_t nslots, level, category, flags;
        } rec;
        uint64_t ids = shmlog__load_relaxed((const uint64_t *)(slot + offsetof(struct shmlog_record, site)));
        uint32_t attrs = __atomic_load_n((const uint32_t *)(slot + offsetof(struct shmlog_record, nslots)),
                                         __ATOMIC_RELAXED);
        rec.tsc = shmlog__load_relaxed((const uint64_t *)(slot + offsetof(struct shmlog_record, tsc)));
        rec.site = (uint32_t)ids; /* little-endian, like the ABI */
        rec.tid = (uint32_t)(ids >> 32);
        rec.nslots = (uint8_t)attrs;
        rec.level = (uint8_t)(attrs >> 8);
        rec.category = (uint8_t)(attrs >> 16);
        rec.flags = (uint8_t)(attrs >> 24);
        uint64_t idx = p & v->mask;
        if (rec.flags & SHMLOG_REC_PAD) {
            /* A pad runs exactly to the ring end, inside what was reserved:
             * skipping it must not carry pos past head. */
            if (rec.nslots == 0 || idx + rec.nslots != v->cap || rec.nslots > head - p)
                return bad_record(v, pos, l);
            *pos = p + rec.nslots;
            continue;
        }
        unsigned n = rec.nslots;
        if (!head_ok(n, rec.level, rec.category, rec.flags, idx, v->cap, head - p))
            return bad_record(v, pos, l);
        size_t payload_len = shm_record_payload(out->payload, (const struct shmlog_record *)slot, n);
        int bad = 0;
        for (unsigned i = 1; i < n; i++) {
            uint64_t commit;
            memcpy(&commit, slot_at(v, p + i), sizeof commit);
            bad |= commit != cont_commit(p + i);
        }
        /* Our copy is good only if no writer reserved these slots again
         * while we copied. */
        if (bad || overwritten_since_commit(v, p))
            return bad_record(v, pos, l);
        out->pos = p;
        out->tsc = rec.tsc;
        out->site = rec.site;
        out->tid = rec.tid;
        out->level = rec.level;
        out->category = rec.category;
        out->flags = rec.flags;
        out->nslots = (uint8_t)n;
        out->payload_len = (uint16_t)payload_len;
        *pos = p + n;
        return SHM_READ_RECORD;
    }
}

size_t shm_ring_take(const struct shm_ring_view *v, uint64_t *pos, uint64_t head, struct shmlog_record *out,
                        size_t max)
{
    /* There a writer may reserve a slot again while it is copied, which
     * shm_ring_next checks record by record. */
    if (v->policy == SHMLOG_OVERWRITE)
        return 0;
    uint64_t p = *pos;
    size_t n = 0;
    while (n < max && (int64_t)(head - p) > 0) {
        shm_ring_prefetch(v, p, head);
        /* As in shm_ring_next: committed for p, so nothing rewrites it
         * before we release it, and p + cap bounds what it may claim. */
        if (slot_commit(v, p) != p + 1)
            break;
        memcpy(&out[n], slot_at(v, p), sizeof(out[n]));
        /* Checked in the copy: what the caller reads is what was checked. */
        const struct shmlog_record *r = &out[n];
        unsigned k = r->nslots;
        if (k == 1) { /* the common case, its checks folded for one slot */
            if (!head_ok(1, r->level, r->category, r->flags, 0, 1, 1))
                break;
            n++;
            p++;
            continue;
        }
        if (!head_ok(k, r->level, r->category, r->flags, p & v->mask, v->cap, v->cap) || k > max - n ||
            k > head - p)
            break;
        int bad = 0;
        for (unsigned i = 1; i < k; i++) {
            shm_ring_prefetch(v, p + i, head);
            memcpy(&out[n + i], slot_at(v, p + i), sizeof(out[n + i]));
            bad |= out[n + i].commit != cont_commit(p + i);
        }
        if (bad)
            break;
        n += k;
        p += k;
    }
    *pos = p;
    return n;
}
