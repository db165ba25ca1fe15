/*
 * drain.h - the drain: every ring read into the frame being built, and its
 * pacing (drain.c; private to shmlog-collector).
 */
#ifndef COLLECTOR_DRAIN_H
#define COLLECTOR_DRAIN_H

#include "collector.h"

/* The pacing: the longest a ring may go unvisited (smallest: the capacity
 * of the smallest ring, UINT64_MAX with none). */
uint64_t longest_wait_ns(uint64_t smallest);

uint64_t drain_ring(struct collector_state *c, struct ring *r, unsigned budget, int patient);
uint64_t drain_all(struct collector_state *c, uint64_t *smallest);
/* The earliest a ring's head comes due (--max-delay-ms after its published
 * point last moved) after the last whole pass; UINT64_MAX: none. */
uint64_t drain_head_due_ns(void);

#endif
