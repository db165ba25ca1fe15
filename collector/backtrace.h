/*
 * backtrace.h - backtrace records: kept until a trigger or a request writes
 * them (backtrace.c; private to shmlog-collector).
 */
#ifndef COLLECTOR_BACKTRACE_H
#define COLLECTOR_BACKTRACE_H

#include "collector.h"

/* A record flagged SHMLOG_REC_BACKTRACE is kept, not written; its ring
 * position passed over. */
void backtrace_keep(struct collector_state *c, struct ring *r, const struct shm_copied_record *rec);
void backtrace_keep_slots(struct collector_state *c, struct ring *r, const struct shmlog_record *head, uint64_t pos);
/* A record of r was written to its batch: no positions passed over before the next. */
void backtrace_written_slow(struct ring *r);
static inline void backtrace_written(struct ring *r)
{
    if (r->bt)
        backtrace_written_slow(r);
}
/* A record shm_ring_next read: 1 if it was kept (not to be written); a
 * trigger writes what its process kept first. */
int backtrace_takes(struct collector_state *c, struct ring *r, const struct shm_copied_record *rec);
/* A batch of r was begun: it says from where positions were passed over. */
void backtrace_batch_begun(struct collector_state *c, struct ring *r);
/* Writes what p's rings kept (before the record that triggers it). */
void backtrace_flush(struct collector_state *c, struct proc *p, uint64_t order_tsc);
/* A record that writes its process's kept records out before it. */
static inline int backtrace_triggers(const struct proc *p, unsigned level, unsigned flags)
{
    return level >= p->info.backtrace_trigger && p->info.backtrace_level < SHMLOG_LEVEL_OFF &&
           !(flags & SHMLOG_REC_BACKTRACE);
}
/* Reads the meta's trigger level and requests (at most every few ms): 1 when
 * a request is to be answered now (room: the frame being built has room for
 * the process's rings), its order (the collector's own time) in *order_tsc. */
int backtrace_requested(struct collector_state *c, struct proc *p, int room, uint64_t *order_tsc);
void backtrace_free(struct collector_state *c, struct ring *r);

#endif
