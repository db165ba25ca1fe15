/*
 * shlog_dedup.c - which ring positions the readers of one host already
 * returned, over several files read in sequence order: spans of positions
 * per (process, cpu), and the drop counters' running totals.
 *
 * A ring's spans are a treap by their low end (a binary search tree kept
 * balanced, in expectation, by random priorities): a claim anywhere costs
 * O(log n), however a file orders its positions. The spans of all rings of
 * one state are bounded (MAX_DEDUP_SPANS, one more a ring): past it, a ring
 * forgets its lowest gap, taking those positions as seen.
 */
#include "shlog_decode_state.h"

#define MAX_DEDUP_RINGS (1u << 20)
#define MAX_DEDUP_SPANS (1u << 20) /* 32 bytes each: 32 MiB (FORMAT.md, Duplicates) */

struct shlog_dedup {
    /* A process is (pid, uid, start time, instance: shm_proc_key): a uid
     * that claims another's pid and start time is another process, whose
     * positions never hide the real one's records, and so is a process of
     * another pid namespace with the same pid started in the same tick. */
    struct map procs; /* shm_proc_key -> process number */
    uint32_t nprocs;
    struct map keys;  /* (process number << 32 | cpu, 0) -> index into rings */
    struct dedup_ring *rings;
    size_t n, cap;
    size_t spans;     /* of every ring */
    uint32_t rand;    /* the priorities' generator */
};

int shlog_dedup_new(struct shlog_dedup **out)
{
    *out = calloc(1, sizeof(**out));
    if (*out)
        (*out)->rand = 0x9E3779B9u;
    return *out ? 0 : -ENOMEM;
}

void shlog_dedup_free(struct shlog_dedup *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->rings[i].nodes);
    free(d->rings);
    map_free(&d->keys);
    map_free(&d->procs);
    free(d);
}

struct dedup_ring *shlog__dedup_ring(struct shlog_dedup *d, const struct shm_proc_info *p, uint32_t cpu)
{
    uint64_t who, when;
    shm_proc_key(p, &who, &when);
    uint32_t *proc = map_find(&d->procs, who, when);
    if (!proc) {
        if (d->nprocs >= MAX_DEDUP_RINGS || shlog__map_insert(&d->procs, who, when, d->nprocs))
            return NULL;
        proc = map_find(&d->procs, who, when);
        d->nprocs++;
    }
    uint64_t k1 = (uint64_t)*proc << 32 | cpu;
    uint32_t *idx = map_find(&d->keys, k1, 0);
    if (idx)
        return &d->rings[*idx];
    if (d->n >= MAX_DEDUP_RINGS || shlog__grow_array(&d->rings, &d->cap, d->n, sizeof(*d->rings)) ||
        shlog__map_insert(&d->keys, k1, 0, (uint32_t)d->n))
        return NULL;
    d->rings[d->n] = (struct dedup_ring){.root = DEDUP_NONE, .last = DEDUP_NONE, .free = DEDUP_NONE, .d = d};
    return &d->rings[d->n++];
}

/* ==== The treap ==== */

#define NODE(r, i) ((r)->nodes[i])

static uint32_t node_new(struct dedup_ring *r, uint64_t lo, uint64_t hi)
{
    uint32_t i = r->free;
    if (i != DEDUP_NONE) {
        r->free = NODE(r, i).left;
    } else {
        if (r->cap == r->n) {
            size_t cap = r->cap;
            if (shlog__grow_array(&r->nodes, &cap, r->n, sizeof(*r->nodes)) || cap > DEDUP_NONE)
                return DEDUP_NONE;
            r->cap = (uint32_t)cap;
        }
        i = r->n; /* every node below n is in the tree or freed, and none is freed */
    }
    struct shlog_dedup *d = r->d;
    d->rand ^= d->rand << 13;
    d->rand ^= d->rand >> 17;
    d->rand ^= d->rand << 5;
    NODE(r, i) = (struct span){lo, hi, DEDUP_NONE, DEDUP_NONE, d->rand};
    r->n++;
    d->spans++;
    return i;
}

static void node_free(struct dedup_ring *r, uint32_t i)
{
    NODE(r, i).left = r->free;
    r->free = i;
    r->n--;
    r->d->spans--;
}

/* Splits tree t into the nodes with lo < key (*a) and the others (*b). */
static void split(struct dedup_ring *r, uint32_t t, uint64_t key, uint32_t *a, uint32_t *b)
{
    while (t != DEDUP_NONE) {
        if (NODE(r, t).lo < key) {
            *a = t;
            a = &NODE(r, t).right;
            t = NODE(r, t).right;
        } else {
            *b = t;
            b = &NODE(r, t).left;
            t = NODE(r, t).left;
        }
    }
    *a = *b = DEDUP_NONE;
}

/* Joins a and b, every lo of a below every lo of b. */
static uint32_t merge(struct dedup_ring *r, uint32_t a, uint32_t b)
{
    uint32_t root = DEDUP_NONE, *at = &root;
    while (a != DEDUP_NONE && b != DEDUP_NONE) {
        if (NODE(r, a).prio > NODE(r, b).prio) {
            *at = a;
            at = &NODE(r, a).right;
            a = NODE(r, a).right;
        } else {
            *at = b;
            at = &NODE(r, b).left;
            b = NODE(r, b).left;
        }
    }
    *at = a != DEDUP_NONE ? a : b;
    return root;
}

static void insert(struct dedup_ring *r, uint32_t i)
{
    uint32_t a, b;
    split(r, r->root, NODE(r, i).lo, &a, &b);
    r->root = merge(r, merge(r, a, i), b);
}

/* Takes the node whose lo is key out of the tree, and frees it. */
static void remove_lo(struct dedup_ring *r, uint64_t key)
{
    uint32_t a, b, m, c;
    split(r, r->root, key, &a, &b);
    split(r, b, key + 1, &m, &c);
    r->root = merge(r, a, c);
    if (m != DEDUP_NONE)
        node_free(r, m);
}

/* The node of the highest lo at or below x, or (above) of the lowest lo above x. */
static uint32_t nearest(const struct dedup_ring *r, uint64_t x, int above)
{
    uint32_t t = r->root, found = DEDUP_NONE;
    while (t != DEDUP_NONE) {
        int wanted = above ? NODE(r, t).lo > x : NODE(r, t).lo <= x;
        if (wanted)
            found = t;
        t = wanted == above ? NODE(r, t).left : NODE(r, t).right;
    }
    return found;
}

static uint32_t edge(const struct dedup_ring *r, int highest)
{
    uint32_t t = r->root;
    while (t != DEDUP_NONE) {
        uint32_t next = highest ? NODE(r, t).right : NODE(r, t).left;
        if (next == DEDUP_NONE)
            break;
        t = next;
    }
    return t;
}

/* Past the bound: the two lowest spans become one (the gap between them is
 * taken as seen). */
static void forget_lowest_gap(struct dedup_ring *r)
{
    uint32_t lowest = edge(r, 0);
    uint32_t next = nearest(r, NODE(r, lowest).lo, 1);
    if (next == DEDUP_NONE)
        return;
    uint64_t lo = NODE(r, lowest).lo;
    remove_lo(r, lo);
    NODE(r, next).lo = lo; /* still the lowest: the tree's order holds */
}

/* dedup_claim (shlog_decode_state.h) past its common case. */
int shlog__dedup_claim_slow(struct dedup_ring *r, uint64_t lo, uint64_t hi)
{
    uint32_t p = r->n ? nearest(r, lo, 0) : DEDUP_NONE;
    if (p != DEDUP_NONE && lo < NODE(r, p).hi)
        return 0;
    int extends = p != DEDUP_NONE && lo == NODE(r, p).hi;
    if (!extends && (r->n >= MAX_DEDUP_SPANS || r->d->spans >= MAX_DEDUP_SPANS) && r->n > 1) {
        /* Room first; the gap forgotten may be where lo is. */
        forget_lowest_gap(r);
        p = nearest(r, lo, 0);
        if (p != DEDUP_NONE && lo < NODE(r, p).hi)
            return 0;
        extends = p != DEDUP_NONE && lo == NODE(r, p).hi;
    }
    uint32_t cur = p;
    if (extends) {
        NODE(r, p).hi = hi;
    } else {
        if ((cur = node_new(r, lo, hi)) == DEDUP_NONE)
            return 1; /* out of memory: seen as new, nothing recorded */
        insert(r, cur);
    }
    /* The spans the grown one reaches become part of it. */
    uint32_t next;
    while ((next = nearest(r, NODE(r, cur).lo, 1)) != DEDUP_NONE && NODE(r, cur).hi >= NODE(r, next).lo) {
        if (NODE(r, next).hi > NODE(r, cur).hi)
            NODE(r, cur).hi = NODE(r, next).hi;
        remove_lo(r, NODE(r, next).lo);
    }
    r->last = edge(r, 1);
    return 1;
}
