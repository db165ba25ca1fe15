/*
 * read_jobs.h - work a reader hands to threads of its own, taken back in
 * order: a ring of job slots that the reader's thread fills oldest first,
 * that helper threads (and the reader's thread, while it waits) build, and
 * that the reader's thread takes back in the order it filled them. The
 * Arrow streams' batches (shmlog_read_arrow.c) and the lines
 * (read_lines.c) are built this way.
 */
#ifndef READ_JOBS_H
#define READ_JOBS_H

#include <pthread.h>
#include <stddef.h>

enum read_job_state { READ_JOB_FREE, READ_JOB_QUEUED, READ_JOB_BUILDING, READ_JOB_BUILT };

struct read_jobs {
    int (*build)(void *ctx, size_t slot); /* run outside the lock: 0, or -errno, the slot's rc */
    void *ctx;
    size_t njobs;
    size_t head, nflight;    /* the oldest slot in flight, and how many are: under the lock once threads run */
    unsigned char *state;    /* per slot: enum read_job_state */
    int *rc;                 /* per slot: its last build's */
    pthread_t *threads;
    size_t nthreads;
    int stop;
    pthread_mutex_t lock;
    pthread_cond_t queued, built; /* a slot to build; a slot built */
};

#define READ_JOBS_THREADS_MAX 64u

/* The threads asked for (at most READ_JOBS_THREADS_MAX), or (0) as many as
 * the cpus the process may run on. */
unsigned read_jobs_threads(unsigned asked);
/* njobs slots, no thread yet. 0, or -ENOMEM. */
int read_jobs_init(struct read_jobs *q, size_t njobs, int (*build)(void *ctx, size_t slot), void *ctx);
/* Up to n helper threads: those started (fewer when the system has no more;
 * with none, the reader's thread builds every job as it waits for it). */
size_t read_jobs_start(struct read_jobs *q, size_t n);
/* The slot to fill next, or njobs when every slot is in flight. */
static inline size_t read_jobs_free_slot(const struct read_jobs *q)
{
    return q->nflight < q->njobs ? (q->head + q->nflight) % q->njobs : q->njobs;
}
/* The slot read_jobs_free_slot() gave, filled: in flight, to be built. */
void read_jobs_push(struct read_jobs *q);
/* Slot (in flight and built) to be built again: a job built in parts. */
void read_jobs_requeue(struct read_jobs *q, size_t slot);
/* Waits until slot is built, or every slot in flight (slot njobs), building
 * queued ones meanwhile: slot's rc (0 for all). */
int read_jobs_wait(struct read_jobs *q, size_t slot);
/* The oldest slot in flight, taken back (built): free to be filled again. */
void read_jobs_pop(struct read_jobs *q);
/* Waits for every job in flight and ends the threads. */
void read_jobs_stop(struct read_jobs *q);
/* Stops, and frees what init made. */
void read_jobs_free(struct read_jobs *q);

#endif /* READ_JOBS_H */
