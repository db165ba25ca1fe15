/*
 * shlog_dedup.c - which ring positions the readers of one host already
 * returned, over several files read in sequence order: spans of positions
 * per (process, cpu), and the drop counters' running totals.
 */
#include "shlog_decode_state.h"

#define MAX_DEDUP_RINGS (1u << 20)
#define MAX_DEDUP_SPANS 65536u

struct shlog_dedup {
    /* A process is (pid, start time, uid): a uid that claims another's pid
     * and start time is another process, whose positions never hide the
     * real one's records. */
    struct map procs; /* (pid << 32 | uid, proc_start) -> process number */
    uint32_t nprocs;
    struct map keys;  /* (process number << 32 | cpu, 0) -> index into rings */
    struct dedup_ring *rings;
    size_t n, cap;
};

int shlog_dedup_new(struct shlog_dedup **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

void shlog_dedup_free(struct shlog_dedup *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->rings[i].spans);
    free(d->rings);
    map_free(&d->keys);
    map_free(&d->procs);
    free(d);
}

struct dedup_ring *shlog__dedup_ring(struct shlog_dedup *d, const struct shm_proc_info *p, uint32_t cpu)
{
    uint64_t who = (uint64_t)p->pid << 32 | p->uid;
    uint32_t *proc = map_find(&d->procs, who, p->proc_start);
    if (!proc) {
        if (d->nprocs >= MAX_DEDUP_RINGS || shlog__map_insert(&d->procs, who, p->proc_start, d->nprocs))
            return NULL;
        proc = map_find(&d->procs, who, p->proc_start);
        d->nprocs++;
    }
    uint64_t k1 = (uint64_t)*proc << 32 | cpu;
    uint32_t *idx = map_find(&d->keys, k1, 0);
    if (idx)
        return &d->rings[*idx];
    if (d->n >= MAX_DEDUP_RINGS || shlog__grow_array(&d->rings, &d->cap, d->n, sizeof(*d->rings)) ||
        shlog__map_insert(&d->keys, k1, 0, (uint32_t)d->n))
        return NULL;
    memset(&d->rings[d->n], 0, sizeof(d->rings[0]));
    return &d->rings[d->n++];
}

/* dedup_claim (shlog_decode_state.h) past its common case. */
int shlog__dedup_claim_slow(struct dedup_ring *r, uint64_t lo, uint64_t hi)
{
    size_t n = r->n;
    /* i: the first span with spans[i].lo > lo */
    size_t a = 0, b = n;
    while (a < b) {
        size_t m = (a + b) / 2;
        if (r->spans[m].lo <= lo)
            a = m + 1;
        else
            b = m;
    }
    size_t i = a;
    if (i > 0 && lo < r->spans[i - 1].hi)
        return 0;
    if (i > 0 && lo == r->spans[i - 1].hi) {
        r->spans[i - 1].hi = hi;
        i--;
    } else {
        if (n == r->cap) {
            if (n >= MAX_DEDUP_SPANS) {
                /* Bound reached: forget the lowest gap (treat it as seen). */
                r->spans[1].lo = r->spans[0].lo;
                memmove(r->spans, r->spans + 1, (n - 1) * sizeof(*r->spans));
                r->n = --n;
                if (i > 0)
                    i--;
            } else if (shlog__grow_array(&r->spans, &r->cap, n, sizeof(*r->spans))) {
                return 1;
            }
        }
        memmove(r->spans + i + 1, r->spans + i, (n - i) * sizeof(*r->spans));
        r->spans[i] = (struct span){lo, hi};
        r->n = ++n;
    }
    /* Merge the spans the new one reaches. */
    while (i + 1 < r->n && r->spans[i].hi >= r->spans[i + 1].lo) {
        if (r->spans[i + 1].hi > r->spans[i].hi)
            r->spans[i].hi = r->spans[i + 1].hi;
        memmove(r->spans + i + 1, r->spans + i + 2, (r->n - i - 2) * sizeof(*r->spans));
        r->n--;
    }
    return 1;
}
