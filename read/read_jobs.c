/* read_jobs.c - job slots built by helper threads, taken back in order (read_jobs.h). */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include "read_jobs.h"

unsigned read_jobs_threads(unsigned asked)
{
    if (asked)
        return asked < READ_JOBS_THREADS_MAX ? asked : READ_JOBS_THREADS_MAX;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 1;
    int n = CPU_COUNT(&set);
    return n < 1 ? 1 : n < (int)READ_JOBS_THREADS_MAX ? (unsigned)n : READ_JOBS_THREADS_MAX;
}

int read_jobs_init(struct read_jobs *q, size_t njobs, int (*build)(void *ctx, size_t slot), void *ctx)
{
    *q = (struct read_jobs){.build = build, .ctx = ctx, .njobs = njobs};
    q->state = calloc(njobs, sizeof *q->state);
    q->rc = calloc(njobs, sizeof *q->rc);
    if (!q->state || !q->rc) {
        free(q->state);
        free(q->rc);
        q->state = NULL;
        q->rc = NULL;
        return -ENOMEM;
    }
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->queued, NULL);
    pthread_cond_init(&q->built, NULL);
    return 0;
}

/* The oldest queued slot, taken; njobs when none. Under the lock. */
static size_t job_take(struct read_jobs *q)
{
    for (size_t i = 0; i < q->nflight; i++) {
        size_t slot = (q->head + i) % q->njobs;
        if (q->state[slot] == READ_JOB_QUEUED) {
            q->state[slot] = READ_JOB_BUILDING;
            return slot;
        }
    }
    return q->njobs;
}

/* Builds slot (taken) outside the lock and says so. Under the lock. */
static void job_run(struct read_jobs *q, size_t slot)
{
    pthread_mutex_unlock(&q->lock);
    int rc = q->build(q->ctx, slot);
    pthread_mutex_lock(&q->lock);
    q->rc[slot] = rc;
    q->state[slot] = READ_JOB_BUILT;
    pthread_cond_broadcast(&q->built);
}

static void *job_thread(void *arg)
{
    struct read_jobs *q = arg;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        size_t slot = job_take(q);
        if (slot < q->njobs)
            job_run(q, slot);
        else if (q->stop)
            break;
        else
            pthread_cond_wait(&q->queued, &q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

size_t read_jobs_start(struct read_jobs *q, size_t n)
{
    if (!n || !(q->threads = calloc(n, sizeof *q->threads)))
        return 0;
    for (; q->nthreads < n; q->nthreads++)
        if (pthread_create(&q->threads[q->nthreads], NULL, job_thread, q) != 0)
            break;
    return q->nthreads;
}

void read_jobs_push(struct read_jobs *q)
{
    pthread_mutex_lock(&q->lock);
    q->state[(q->head + q->nflight) % q->njobs] = READ_JOB_QUEUED;
    q->nflight++;
    pthread_cond_signal(&q->queued);
    pthread_mutex_unlock(&q->lock);
}

void read_jobs_requeue(struct read_jobs *q, size_t slot)
{
    pthread_mutex_lock(&q->lock);
    q->state[slot] = READ_JOB_QUEUED;
    pthread_cond_signal(&q->queued);
    pthread_mutex_unlock(&q->lock);
}

int read_jobs_wait(struct read_jobs *q, size_t slot)
{
    pthread_mutex_lock(&q->lock);
    for (;;) {
        int done = 1;
        for (size_t i = 0; i < q->nflight && done; i++) {
            size_t x = (q->head + i) % q->njobs;
            if ((slot == q->njobs || x == slot) && q->state[x] != READ_JOB_BUILT)
                done = 0;
        }
        if (done)
            break;
        /* Rather than wait on a helper that other processes' threads hold off the cpus: build one here. */
        size_t t = job_take(q);
        if (t < q->njobs)
            job_run(q, t);
        else
            pthread_cond_wait(&q->built, &q->lock);
    }
    int rc = slot < q->njobs ? q->rc[slot] : 0;
    pthread_mutex_unlock(&q->lock);
    return rc;
}

void read_jobs_pop(struct read_jobs *q)
{
    pthread_mutex_lock(&q->lock);
    q->state[q->head] = READ_JOB_FREE;
    q->head = (q->head + 1) % q->njobs;
    q->nflight--;
    pthread_mutex_unlock(&q->lock);
}

void read_jobs_stop(struct read_jobs *q)
{
    if (!q->state)
        return;
    read_jobs_wait(q, q->njobs);
    pthread_mutex_lock(&q->lock);
    q->stop = 1;
    pthread_cond_broadcast(&q->queued);
    pthread_mutex_unlock(&q->lock);
    for (size_t i = 0; i < q->nthreads; i++)
        pthread_join(q->threads[i], NULL);
    q->nthreads = 0;
    q->stop = 0;
}

void read_jobs_free(struct read_jobs *q)
{
    if (!q->state)
        return;
    read_jobs_stop(q);
    free(q->threads);
    free(q->state);
    free(q->rc);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->queued);
    pthread_cond_destroy(&q->built);
    *q = (struct read_jobs){0};
}
