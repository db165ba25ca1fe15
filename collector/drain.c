/*
 * drain.c - the drain: each pass copies the committed records of every ring
 * into the frame being built, and turns what cannot be read (drops, a dead
 * writer's slot, corrupt records, a quarantined ring) into counted losses.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdlib.h>

#include "backtrace.h"
#include "bells.h"
#include "drain.h"
#include "frame.h"
#include "losses.h"
#include "options.h"
#include "procs.h"

#define TAKE_SLOTS 64u              /* slots copied out of a ring at a time */

static unsigned fill_quarters; /* the fullest ring at the last drain_all: quarters of it in use */
static uint64_t pass_now_ns;    /* drain_all's clock for its pass: one read, not one per ring */
static struct shm_copied_record rec;  /* a record read one at a time (not by shm_ring_take) */
static _Alignas(64) struct shmlog_record take[TAKE_SLOTS];

/* The open batch is of ring r; a new one says from where r's kept records
 * passed positions over. */
static void ring_batch(struct collector_state *c, struct ring *r)
{
    if (batch_of(c, r))
        backtrace_batch_begun(c, r);
}

/* The record the last encoder call could not encode, if any, as
 * unencodable(c) writes it; the ring's batch is open again after it.
 * Returns the records lost: 0 or 1. */
static unsigned encoder_loss(struct collector_state *c, struct ring *r)
{
    struct shm_loss l;
    const char *why;
    if (!shlog_enc_take_loss(c->cur->enc, &l, &why))
        return 0;
    unencodable(c, r, &l, why, 0);
    ring_batch(c, r);
    return 1;
}

/* What one pass over a ring found. */
struct drain_pass {
    uint64_t pos;          /* next position to read */
    unsigned records, losses;
    unsigned written;      /* of the records, those in the file now (not kept, not unencodable) */
    uint64_t payload_bytes, slots;
    const char *hostile;   /* why the ring is quarantined, or NULL */
    int more;              /* stopped before the head: budget spent or frame full */
};

/* A record as the alert rules see it. */
static inline void count_record(struct collector_state *c, struct proc *p, unsigned level, unsigned category, uint32_t site)
{
    p->by_category[category & (SHMLOG_MAX_CATEGORIES - 1)]++;
    if (level >= c->alerts.min_level) /* no rule: never true */
        alert_count(&c->alerts, level, shm_categories_name(p->cats, category), site, p->key, p->info.pid, p->info.app);
}

/* The n slots from positions pos... into r's batch. Returns the records
 * that could not be encoded (loss markers instead). */
static unsigned encode_slots(struct collector_state *c, struct ring *r, const struct shmlog_record *slots, size_t n, uint64_t pos)
{
    unsigned lost = 0;
    if (!n)
        return 0;
    ring_batch(c, r);
    for (size_t done = 0; done < n;) {
        long rc = shlog_enc_slots(c->cur->enc, slots + done, n - done, pos + done);
        if (rc == -ENOSPC) {
            check_enc(end_batch(c), "a batch");
            ring_batch(c, r);
            continue;
        }
        check_enc(rc < 0 ? (int)rc : 0, "a record");
        done += (size_t)rc;
        lost += encoder_loss(c, r);
    }
    backtrace_written(r);
    return lost;
}

/* Slots with backtrace records or a trigger among them: the kept ones leave
 * the batch, and a trigger writes what its process kept before itself.
 * Returns the records kept and those not encoded. */
static unsigned encode_with_backtrace(struct collector_state *c, struct ring *r, size_t n, uint64_t pos)
{
    unsigned not_written = 0;
    size_t run = 0; /* the first slot not yet written or kept */
    for (size_t i = 0; i < n; i++) {
        const struct shmlog_record *t = &take[i];
        if (t->commit & SHMLOG_COMMIT_CONT)
            continue;
        if (t->flags & SHMLOG_REC_BACKTRACE) {
            not_written += encode_slots(c, r, take + run, i - run, pos + run);
            backtrace_keep_slots(c, r, t, pos + i);
            not_written++;
            run = i + (t->nslots <= n - i ? t->nslots : n - i);
        } else if (backtrace_triggers(r->proc, t->level, t->flags)) {
            not_written += encode_slots(c, r, take + run, i - run, pos + run);
            backtrace_flush(c, r->proc, t->tsc);
            run = i;
        }
    }
    return not_written + encode_slots(c, r, take + run, n - run, pos + run);
}

/* Encodes the records in the n slots shm_ring_take copied from positions
 * pos...; returns how many records they were, and in *written those in the
 * batch (not kept for a backtrace, not lost as unencodable). */
static unsigned encode_taken(struct collector_state *c, struct ring *r, size_t n, uint64_t pos, unsigned *written)
{
    struct proc *p = r->proc;
    uint32_t known = UINT32_MAX, known_tid = 0; /* runs of one site, of one thread, are the common case */
    unsigned records = 0, backtrace = 0;
    /* After the take: a thread that named itself before writing a record
     * published the name first, so these records are named as written. */
    threads_scan(p);
    ring_batch(c, r);
    /* Slot by slot, continuation slots passed over: stepping by each head's
     * slot count would chain every step to a load. */
    for (size_t i = 0; i < n; i++) {
        const struct shmlog_record *t = &take[i];
        if (t->commit & SHMLOG_COMMIT_CONT)
            continue;
        records++;
        if (t->site != known) {
            site_in_file(c, p, t->site);
            known = t->site;
        }
        if (t->tid != known_tid) {
            thread_in_file(c, p, t->tid);
            known_tid = t->tid;
        }
        category_in_file(c, p, t->category);
        count_record(c, p, t->level, t->category, t->site);
        backtrace |= (t->flags & SHMLOG_REC_BACKTRACE) | backtrace_triggers(p, t->level, t->flags);
    }
    *written = records - (backtrace ? encode_with_backtrace(c, r, n, pos) : encode_slots(c, r, take, n, pos));
    return records;
}

/* The record loop of drain_ring, apart so its locals live in registers:
 * drain_ring's sigsetjmp would otherwise make each of them a memory access
 * per record. head: the producers' head read at the start of the pass. */
__attribute__((noinline)) static void drain_records(struct collector_state *c, struct ring *r, uint64_t head,
                                                    unsigned budget, struct drain_pass *dp)
{
    struct proc *p = r->proc;
    struct shlog_enc *enc = c->cur->enc;
    uint64_t pos = dp->pos, payload_bytes = 0, slots = 0;
    unsigned n = 0, losses = 0, written = 0;
    uint32_t known_tid = 0;
    const char *hostile = NULL;
    int more = 1; /* unless the loop finds the ring empty */
    /* losses count too: a scribbled ring must not keep us here */
    while (n + losses < budget && slots < DRAIN_SLOT_BUDGET) {
        if ((int64_t)(head - pos) <= 0 && !p->gone && r->view.policy != SHMLOG_OVERWRITE) {
            more = 0; /* the slot at head is the producer's next: not ours to touch */
            break;
        }
        unsigned before = n;
        uint64_t from = pos;
        unsigned want = budget - n - losses < TAKE_SLOTS ? budget - n - losses : TAKE_SLOTS;
        size_t took = shm_ring_take(&r->view, &pos, head, take, want);
        if (took) {
            unsigned in_file;
            unsigned records = encode_taken(c, r, took, from, &in_file);
            n += records;
            written += in_file;
            /* a head slot's payload, and a continuation slot's for the others */
            payload_bytes += records * SHMLOG_HEAD_PAYLOAD + (took - records) * SHMLOG_CONT_PAYLOAD;
            slots += took;
        } else {
            /* Anything else: pads, records not committed yet, losses. */
            struct shm_loss loss;
            uint64_t at = pos;
            shm_ring_prefetch(&r->view, pos, head);
            int st = shm_ring_next(&r->view, &at, &rec, p->gone, &loss);
            if (st == SHM_READ_EMPTY || st == SHM_READ_PENDING) {
                more = 0;
                break;
            }
            if (st == SHM_READ_LOSS && loss.reason == SHM_LOSS_OVERWRITTEN &&
                r->view.policy != SHMLOG_OVERWRITE) {
                /* Producers never reserve past what we released: a head more
                 * than a ring ahead was written by something else. Its numbers
                 * are not worth a loss marker. */
                hostile = "its head ran more than a ring ahead of what was released";
                break;
            }
            pos = at;
            if (st == SHM_READ_RECORD && backtrace_takes(c, r, &rec)) {
                n++;
                continue;
            }
            if (st == SHM_READ_LOSS) {
                /* A record that fails validation (the reader skipped to the
                 * next record head) costs only itself: the ring stays read. */
                emit_loss(c, r, &loss, 0);
                losses++;
                if (loss.reason == SHM_LOSS_CORRUPT && !r->corrupt_seen++)
                    shm_warn(PROG, "%s: a committed record failed validation at position %" PRIu64
                          ": skipped and counted as lost (so are later ones, without another line)",
                          r->seg.path, loss.first_pos);
                continue;
            }
            ring_batch(c, r);
            site_in_file(c, p, rec.site);
            category_in_file(c, p, rec.category);
            if (rec.tid != known_tid) { /* read after the record: names it as written (encode_taken) */
                threads_scan(p);
                known_tid = rec.tid;
            }
            thread_in_file(c, p, rec.tid);
            int rc = shlog_enc_record(enc, &rec);
            if (rc == -ENOSPC) {
                check_enc(end_batch(c), "a batch");
                ring_batch(c, r);
                rc = shlog_enc_record(enc, &rec);
            }
            check_enc(rc, "a record");
            written += !encoder_loss(c, r);
            n++;
            payload_bytes += rec.payload_len;
            slots += rec.nslots;
            count_record(c, p, rec.level, rec.category, rec.site);
            backtrace_written(r);
        }
        if (before == 0)
            mark_content(c);
        r->encoded_to = pos;
        if (c->rotate_soon) /* the file's sites near what readers keep: a new file first */
            break;
        if (owner_pass_spent(p)) /* the rest waits for the next pass */
            break;
        if (n / 1024 != before / 1024 && (shlog_enc_frame_records(enc) >= FRAME_MAX_RECORDS ||
                                          shlog_enc_raw_bytes(enc) >= FRAME_MAX_RAW)) {
            frame_flush_soon(c);
            break;
        }
    }
    *dp = (struct drain_pass){pos, n, losses, written, payload_bytes, slots, hostile, more && !hostile};
}

/* The longest a ring may go unvisited: a burst at PEAK_RECORDS_PER_US
 * fills at most half the smallest ring meanwhile. A longer wait shortens
 * the longest burst the ring survives only a little, since it is the
 * collector's drain rate that loses the race, not the first look (the
 * burst of bench/compare.sh shows it). smallest: UINT64_MAX when there is
 * no ring. */
uint64_t longest_wait_ns(uint64_t smallest)
{
    if (smallest / 2 >= MAX_PASS_WAIT_NS * PEAK_RECORDS_PER_US / 1000)
        return MAX_PASS_WAIT_NS; /* also no ring, whose bound would overflow */
    return smallest / 2 * 1000 / PEAK_RECORDS_PER_US;
}

/* Whether a pass leaves the `waiting` records of live ring r for a later one.
 * A collector that catches up with a producer reads, from then on, the lines
 * its core has just written, each a cross-core transfer, so a record costs
 * more to drain than while the collector stays a little behind (the
 * zero-loss rate of bench/compare.sh shows it). So a
 * pass waits for a thirty-second of the ring, but never longer than the
 * longest wait between passes, which bounds the ring's fill meanwhile. Only
 * with cpus of our own: a producer that shares our cpu fills its ring while
 * we are off it, and what we left there would wait a time slice more. */
static int ring_waits(const struct options *o, struct ring *r, uint64_t waiting)
{
    if (!waiting || waiting >= r->view.cap / 32 || r->proc->gone || r->view.policy == SHMLOG_OVERWRITE ||
        !o->have_cpus || CPU_ISSET(r->cpu, &o->cpus)) {
        r->waiting_since = 0;
        return 0;
    }
    uint64_t now = shm_mono_ns();
    if (!r->waiting_since)
        r->waiting_since = now;
    if (now - r->waiting_since < longest_wait_ns(r->view.cap))
        return 1;
    r->waiting_since = 0;
    return 0;
}

/* How far a pass over live ring r may read: a reserve head below which every
 * position was reserved. A ring whose producers publish their progress
 * (shm_ring_published) is read up to the published point, lines its
 * producer has left: reading the producer line, or the slot it writes next,
 * would cost its next calls a cross-core transfer each time. Its head is read
 * only when the published point has stood for --max-delay-ms (a slow
 * producer, or a pause), so a trickle still reaches the file in time. Other
 * rings (version 2, overwrite, a producer gone, shutdown) by their head. */
static uint64_t pass_bound(const struct options *o, struct ring *r, uint64_t start, int patient, int *read_head)
{
    *read_head = 0;
    int live = !patient || !r->view.publishes || r->proc->gone || r->view.policy == SHMLOG_OVERWRITE;
    if (!live) {
        uint64_t published = shm_ring_published(&r->view);
        if ((int64_t)(published - r->bound) > 0) {
            ring_bound_to(r, published);
            r->bound_moved_ns = pass_now_ns;
        }
        if (r->bound != start)
            return r->bound;
        uint64_t now = pass_now_ns;
        if (now - r->bound_moved_ns < o->max_delay_ns)
            return start;
        r->bound_moved_ns = now;
    }
    uint64_t head = shm_ring_head(&r->view);
    *read_head = 1;
    if ((int64_t)(head - r->bound) > 0)
        ring_bound_to(r, head);
    /* A ring is made by its first call, which may be preempted between the
     * two: one found empty is read again at each pass until its first record
     * (for as long as a segment being made is tried), not --max-delay-ms later. */
    if (head == start && r->records == 0) {
        if (!r->empty_since_ns)
            r->empty_since_ns = pass_now_ns;
        if (pass_now_ns - r->empty_since_ns < SEGMENT_MAKING_NS)
            r->bound_moved_ns = 0;
    }
    return head;
}

/* Reads up to budget records of ring r into the open frame; a patient pass
 * leaves a few records for a later one (ring_waits). Returns how many
 * positions it advanced (0: nothing new). */
uint64_t drain_ring(struct collector_state *c, struct ring *r, unsigned budget, int patient)
{
    struct proc *p = r->proc;
    if (!file_takes_process(c, p)) { /* the next file takes it: the loop begins it at once */
        frame_flush_soon(c);
        c->backlog = 1;
        return 0;
    }
    if (r->unread_due)
        lose_unreadable_ring(c, r);
    if (r->broken)
        return 0;
    uint64_t start = r->read_pos;
    struct drain_pass dp = {.pos = start};
    /* Its own guard, not shm_guarded: the fault path needs the pass's state (encoded_to, the open batch) in place. */
    sigjmp_buf jb;
    sigjmp_buf *outer = shm_bus_guard;
    r->encoded_to = start;
    if (sigsetjmp(jb, 0) != 0) {
        shm_bus_guard = outer;
        /* What the pass put in the frame stays; the rest the ring held is lost. */
        ring_mark_broken(r);
        r->quarantined = 1;
        shm_warn(PROG, "%s: the segment shrank under its mapping (SIGBUS); ring abandoned after position %" PRIu64
              ", what it held past it counted as lost", r->seg.path, r->encoded_to);
        end_batch(c);
        abandon_ring(c, r, r->encoded_to);
        return 0;
    }
    shm_bus_guard = &jb;
    int read_head;
    uint64_t head = pass_bound(c->opt, r, start, patient, &read_head);
    /* Nothing reserved since: the slot at pos is the next a producer writes. A
     * ring read by its head may wait for more (ring_waits); a published point
     * is a sixteenth of the ring away from the last. */
    if ((head != start || p->gone || r->view.policy == SHMLOG_OVERWRITE) &&
        !(patient && !r->view.publishes && ring_waits(c->opt, r, head - start)))
        drain_records(c, r, head, budget, &dp);
    if (dp.more)
        c->backlog = 1; /* more is waiting: the next pass comes at once */
    uint64_t tail = r->tail;
    /* The drop counter shares the producer line with the head: read with it,
     * or when the ring is half full (a producer drops only when it is full,
     * and the published point lags the head by a sixteenth at most). */
    uint64_t dropped = r->dropped_seen;
    if (read_head || shm_ring_used(&r->view, head, tail) >= r->view.cap / 2)
        dropped = shm_ring_dropped(&r->view);
    shm_bus_guard = outer;
    /* In use at the pass's start. */
    unsigned quarters = (unsigned)(shm_ring_used(&r->view, head, tail) * 4 / r->view.cap);
    if (quarters > fill_quarters)
        fill_quarters = quarters;
    uint64_t pos = dp.pos;
    const char *hostile = dp.hostile;
    proc_wrote(c, p, dp.written);
    r->records += dp.records;
    r->payload_bytes += dp.payload_bytes;
    c->record_slots += dp.slots;
    if (dropped < r->dropped_seen && !hostile)
        hostile = "its drop counter went backwards";
    if (dropped > r->dropped_seen && !hostile) {
        struct shm_loss l = {.first_pos = pos, .records = dropped - r->dropped_seen, .reason = SHM_LOSS_DROPPED};
        emit_loss(c, r, &l, dropped);
        r->dropped_seen = dropped;
    }
    if (hostile) {
        /* Not what a producer writes: a hostile process, or one scribbling
         * on its own ring. Reported once, then left alone; the records read
         * before stay in the frame, what the ring holds from here is lost. */
        ring_mark_broken(r);
        r->quarantined = 1;
        c->rejected++;
        shm_warn(PROG, "%s: quarantined, never read again: %s (position %" PRIu64 ")", r->seg.path, hostile, pos);
        abandon_ring(c, r, pos);
    }
    ring_read_to(r, pos);
    r->quiet = patient && pos == start && !dp.more && !hostile && pos == r->tail && !r->waiting_since;
    if (pos != start) {
        note_release(c, r, pos);
        /* Ring space comes back only when the frame is written, so what the
         * frame being built holds is lost to a producer while the collector
         * is stopped: a frame of an eighth of the ring, not more, keeps what
         * a stop costs small at no cost in bytes per record (bench/stops.sh
         * shows it). */
        if (pos - tail >= r->view.cap / 8)
            frame_flush_soon(c);
    }
    return pos - start;
}

/* Whether ring r may be left unread until its head is due: its producers
 * ring a bell that did not move since the last pass (a ring that fills moves
 * its progress line every sixteenth, and the bell with it), the last pass
 * found nothing in it and nothing unreleased. Its head is due once the
 * published point has stood for --max-delay-ms (pass_bound: a trickle that
 * never reaches a sixteenth rings no bell); a ring made in the last
 * SEGMENT_MAKING_NS is due at every pass. */
static int ring_can_wait(const struct ring *r)
{
    return r->broken || (r->quiet && r->bell && r->bell->word && !r->bell->rung && !r->proc->gone &&
                         r->view.policy != SHMLOG_OVERWRITE);
}

static uint64_t ring_due_ns(const struct options *o, const struct ring *r)
{
    return r->broken ? UINT64_MAX : r->bound_moved_ns + o->max_delay_ns;
}

/* What the last whole pass found: the first ring due (when every ring could
 * wait: c->walk_all is 0), the first whose head comes due later (any ring),
 * and the smallest ring. */
static struct {
    uint64_t due_ns, head_due_ns, cap;
} walk;

/* A ring whose head comes due after this pass: the earliest such time. */
static void note_head_due(const struct options *o, const struct ring *r)
{
    uint64_t due = ring_due_ns(o, r);
    if (due > pass_now_ns && due < walk.head_due_ns)
        walk.head_due_ns = due;
}

uint64_t drain_head_due_ns(void)
{
    return walk.head_due_ns;
}

/* Drains p's rings: those that cannot wait for their head to be due, and
 * that its owner's sites leave this pass. *quiet: 0 once a ring it looked
 * at cannot wait (the next pass walks every ring). */
static void drain_proc(struct collector_state *c, struct proc *p, uint64_t *moved, uint64_t *cap, int *quiet)
{
    struct ring *spent_at = NULL;
    for (struct ring *r = p->rings; r; r = r->next) {
        if (!r->broken && r->view.cap < *cap)
            *cap = r->view.cap;
        if (ring_can_wait(r) && pass_now_ns < ring_due_ns(c->opt, r)) {
            if (ring_due_ns(c->opt, r) < walk.due_ns)
                walk.due_ns = ring_due_ns(c->opt, r);
            note_head_due(c->opt, r);
            continue;
        }
        /* A frame near what readers take (SHLOG_MAX_FRAME_RAW), or a file
         * whose sites near what they keep, takes no more: the loop writes
         * it (begins a new file) and comes back at once. Only then, since
         * the rings after this one wait a pass. The same for an owner's
         * sites past what a pass gives it (PASS_SITE_BYTES). */
        if (frame_full(c) || c->rotate_soon) {
            frame_flush_soon(c);
            c->backlog = 1;
            *quiet = 0;
            continue;
        }
        if (owner_pass_spent(p)) {
            c->backlog = 1;
            *quiet = 0;
            continue;
        }
        *moved += drain_ring(c, r, DRAIN_BUDGET, 1);
        note_head_due(c->opt, r);
        if (owner_pass_spent(p)) {
            /* Its next pass begins after p, and p's next turn after r; what
             * its sites cost is compressed now, a pass's worth at a time. */
            p->charge->resume = p->key - 1;
            spent_at = r;
            frame_flush_soon(c);
        }
        if (!ring_can_wait(r))
            *quiet = 0;
        else if (ring_due_ns(c->opt, r) < walk.due_ns)
            walk.due_ns = ring_due_ns(c->opt, r);
    }
    if (spent_at)
        proc_ring_to_back(p, spent_at);
}

/* One pass over every ring. *smallest: the capacity of the smallest ring
 * (UINT64_MAX with none), which bounds how long the next pass may wait.
 * When an owner's sites matter (charges_new_pass), the processes go in four
 * sweeps: owners within their budget first, and each owner's processes
 * from where its last pass stopped (the list is by descending key). */
uint64_t drain_all(struct collector_state *c, uint64_t *smallest)
{
    uint64_t moved = 0, cap = UINT64_MAX;
    c->backlog = 0;
    fill_quarters = 0;
    pass_now_ns = shm_mono_ns();
    /* Nothing rang and nothing is due: the rings are not looked at at all,
     * since reading 600 of them costs more than anything else an idle pass does. */
    if (!bells_check() && !c->walk_all && c->rings_changed == c->rings_changed_seen && pass_now_ns < walk.due_ns) {
        *smallest = walk.cap;
        c->filling = 0;
        return 0;
    }
    int quiet = 1;
    c->rings_changed_seen = c->rings_changed;
    walk.due_ns = UINT64_MAX;
    walk.head_due_ns = UINT64_MAX;
    int sweeps = charges_new_pass() ? 4 : 1;
    for (int k = 0; k < sweeps; k++)
        for (struct proc *p = c->procs; p; p = p->next)
            if (sweeps == 1 || (proc_late(p) == k / 2 && (p->key > owner_resume(p)) == k % 2))
                drain_proc(c, p, &moved, &cap, &quiet);
    walk.cap = cap;
    c->walk_all = !quiet;
    *smallest = cap;
    if (fill_quarters >= 2)
        c->filling = 1;
    else if (fill_quarters == 0)
        c->filling = 0;
    return moved;
}
