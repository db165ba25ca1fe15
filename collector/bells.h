/*
 * bells.h - bells: the word each uid's producers ring when a ring gets records
 * (bells.c; private to shmlog-collector).
 */
#ifndef COLLECTOR_BELLS_H
#define COLLECTOR_BELLS_H

#include "collector.h"

/* The bell of one uid's producers, as the last pass read it. */
struct bell {
    uid_t uid;
    const struct shmlog_bell *word; /* NULL: none could be read: its rings are read at every pass */
    dev_t dev;                      /* which file it is */
    ino_t ino;
    uint64_t seen; /* the word at the last pass */
    int rung;      /* it moved at the last pass */
    struct bell *next;
};

/* The bell ring v of a process of uid rings, mapped at the uid's first ring;
 * NULL when it rings none this collector can read (out of memory, another
 * file of the name). */
struct bell *bell_of(uid_t uid, const struct shm_ring_view *v);
/* Reads every bell: at the start of a pass. Whether one moved (or can no
 * longer be read) since the last. */
int bells_check(void);

#endif
