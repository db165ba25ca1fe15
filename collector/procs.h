/*
 * procs.h - processes and rings: their segments, positions, sites, categories
 * and threads (procs.c; private to shmlog-collector).
 */
#ifndef COLLECTOR_PROCS_H
#define COLLECTOR_PROCS_H

#include "collector.h"

/* The site a record names: read from the meta segment once, kept (as far as
 * its owner's budget goes), NULL if the process never published a valid one
 * (its records are then stored raw). The copy is valid until the next call.
 * *slot_out: where its file is noted, or NULL. */
const struct shm_site *site_of(struct proc *p, uint32_t id, struct site_slot **slot_out);
/* p's owner spent its site budget: p's rings wait for the others'. */
static inline int proc_late(const struct proc *p)
{
    return p->charge && p->charge->spent;
}
/* p's owner's sites took what a pass gives one owner: its rings wait. */
static inline int owner_pass_spent(const struct proc *p)
{
    return p->charge && p->charge->pass_bytes >= PASS_SITE_BYTES;
}
/* A new pass: every owner's sites may cost it PASS_SITE_BYTES again. 1 when
 * the order of the processes matters (an owner is late, or begins after where
 * its last pass stopped). */
int charges_new_pass(void);
/* Where p's owner's processes begin this pass: those of this key and below first. */
static inline uint32_t owner_resume(const struct proc *p)
{
    return p->charge ? p->charge->resume : UINT32_MAX;
}
/* id's slot if there is one yet, else NULL (the fast check of site_in_file). */
static inline struct site_slot *site_slot_peek(const struct proc *p, uint32_t id)
{
    if (id >= p->nsites || !p->site_pages[id / SITE_PAGE])
        return NULL;
    return &p->site_pages[id / SITE_PAGE][id % SITE_PAGE];
}
enum found segment_found(struct collector_state *c, int dir, const char *path, unsigned kind, uint32_t pid, uint32_t cpu, const struct stat *st,
                         char *err, size_t errcap);
/* Runs fn(ctx) on p's meta under the SIGBUS guard, unless it faulted before:
 * 0, or -EFAULT (it shrank: p's meta is never read again). */
int meta_read(struct proc *p, void (*fn)(void *ctx), void *ctx);
/* p exited (or shut down): no ring of it can appear after this moment. */
void proc_mark_gone(struct collector_state *c, struct proc *p);
enum shlog_exit_how proc_exit_how(struct proc *p);
/* The categories of p, those up to id at least, named in the current file. */
void categories_name(struct collector_state *c, struct proc *p, unsigned id);
/* A record or site of category id has its category named in the file first. */
static inline void category_in_file(struct collector_state *c, struct proc *p, unsigned id)
{
    if (id >= SHMLOG_CAT_USER && (id >= p->cats_named || p->cats_gen != c->cur->gen))
        categories_name(c, p, id);
}
void site_in_file_slow(struct collector_state *c, struct proc *p, uint32_t id);
/* The site a record names is in the file before the record is (in a batch of
 * its process: the process is in the file). */
static inline void site_in_file(struct collector_state *c, struct proc *p, uint32_t id)
{
    struct site_slot *slot = site_slot_peek(p, id);
    if (!slot || slot->file_gen != c->cur->gen)
        site_in_file_slow(c, p, id);
}
/* Reads the THREAD entries p's table got since the last look (renames
 * included): after each take of records, and for a thread not known yet. */
void threads_scan(struct proc *p);
void thread_in_file_slow(struct collector_state *c, struct proc *p, uint32_t tid);
/* A record's thread, when its process named it, is named in the file first. */
static inline void thread_in_file(struct collector_state *c, struct proc *p, uint32_t tid)
{
    const struct proc_thread *t = p->threads.slots ? &p->threads.slots[p->threads.last] : NULL;
    if (!t || t->tid != tid || t->file_gen != c->cur->gen)
        thread_in_file_slow(c, p, tid);
}
/* The site, category and thread a record names are in the file (before a batch of it). */
void record_in_file(struct collector_state *c, struct proc *p, uint32_t site, unsigned category, uint32_t tid);
void ring_unclaim(struct ring *r);
/* The mapping of r faulted, or its writers wrote what no producer does: never read again. */
void ring_mark_broken(struct ring *r);
/* The drain read r up to pos; saw every position below bound reserved. */
void ring_read_to(struct ring *r, uint64_t pos);
void ring_bound_to(struct ring *r, uint64_t bound);
/* The frame with r's records up to pos is durable: their space goes back to the producers. */
void ring_release(struct ring *r, uint64_t pos);
/* r, whose owner spent its pass, goes last among p's rings. */
void proc_ring_to_back(struct proc *p, struct ring *r);
/* 1 (and stamped now) when p is live and was last asked every_ns or more ago. */
int proc_liveness_due(struct proc *p, uint64_t now, uint64_t every_ns);
uint64_t ring_head_now(struct ring *r);
void proc_finalize(struct collector_state *c, struct proc *p);

#endif
