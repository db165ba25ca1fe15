/*
 * losses.h - loss markers: what rings, metas and deleted files lost, written
 * as counted losses (losses.c; private to shmlog-collector).
 */
#ifndef COLLECTOR_LOSSES_H
#define COLLECTOR_LOSSES_H

#include "collector.h"

void emit_proc_loss(struct collector_state *c, struct proc *p, uint32_t cpu, const struct shm_loss *l, uint64_t total);
void emit_loss(struct collector_state *c, struct ring *r, const struct shm_loss *l, uint64_t total);
void proc_losses(struct collector_state *c, struct proc *p);
void lose_abandoned(struct collector_state *c, struct ring *r);
/* Ring r, quarantined, gave up what it held from position from on: written as lost. */
void abandon_ring(struct collector_state *c, struct ring *r, uint64_t from);
/* A record of ring r the encoder could not encode (shlog_enc_take_loss), no
 * batch open: its loss marker, counted, and said once per ring. kept: a
 * record kept for a backtrace. */
void unencodable(struct collector_state *c, struct ring *r, struct shm_loss *l, const char *why, int kept);
void lose_unreadable_ring(struct collector_state *c, struct ring *r);
/* Ring r cannot be read at all: its header said it held tail to head, lost. */
void ring_unreadable(struct collector_state *c, struct ring *r, uint64_t tail, uint64_t head);
/* File gone was deleted while open: what it held of each process is lost,
 * written into the current file as a counted loss (and its EXITs again), and
 * said once. */
void lose_removed_file(struct collector_state *c, struct outfile *gone);

#endif
