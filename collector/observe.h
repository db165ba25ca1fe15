/*
 * observe.h - metrics and alerts: what the drain loop publishes to the metrics
 * threads and fires (observe.c; private to shmlog-collector).
 */
#ifndef COLLECTOR_OBSERVE_H
#define COLLECTOR_OBSERVE_H

#include "collector.h"
#include "metrics.h"

void observe(struct collector_state *c, uint64_t now);
void observe_last(struct collector_state *c);

#endif
