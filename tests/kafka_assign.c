/*
 * kafka_assign.c - an LD_PRELOAD module for tests/test_kafka.sh that acts on the reader's rd_kafka_assign():
 *
 * - SLOW_ASSIGN_US: each call returns only that many microseconds after it started the assignment, as when
 *   the reader is descheduled right after assigning on a loaded machine while librdkafka's threads already
 *   fetch: what the reader sets up after its assignment then races the first fetches on every run, not
 *   once in a while. Each call appends a line to the file SLOW_ASSIGN_MARK.
 * - STALL_MARK: after the first call, every assigned partition's messages go to a queue no one reads, as
 *   when librdkafka stops delivering a partition's queue after a leader change (librdkafka #4340): the
 *   brokers' offsets go on, the reader gets nothing. What the reader does to fetch again (rd_kafka_assign
 *   again) ends the stall. The stall appends a line to the file STALL_MARK.
 *
 * The lines show that the module was preloaded and did its part.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#define MAX_PARTS 64

static rd_kafka_queue_t *unread; /* where the stalled partitions' messages go */
static rd_kafka_queue_t *stalled[MAX_PARTS];
static int nstalled, assigns;
static rd_kafka_t *stalled_rk;

static void *real(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (!f)
        abort(); /* preloaded into something that has no librdkafka: the test is wrong */
    return f;
}

__attribute__((format(printf, 2, 3)))
static void mark(const char *env, const char *fmt, ...)
{
    const char *path = getenv(env);
    FILE *f = path ? fopen(path, "a") : NULL;
    if (!f)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

/* The stalled partitions' queues let go (their forwarding is the reader's again), before rd_kafka_destroy. */
static void let_go(void)
{
    for (int i = 0; i < nstalled; i++)
        rd_kafka_queue_destroy(stalled[i]);
    nstalled = 0;
    if (unread)
        rd_kafka_queue_destroy(unread);
    unread = NULL;
}

static void stall(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions)
{
    stalled_rk = rk;
    unread = rd_kafka_queue_new(rk);
    for (int i = 0; partitions && i < partitions->cnt && nstalled < MAX_PARTS; i++) {
        rd_kafka_queue_t *q = rd_kafka_queue_get_partition(rk, partitions->elems[i].topic,
                                                           partitions->elems[i].partition);
        if (q) {
            rd_kafka_queue_forward(q, unread);
            stalled[nstalled++] = q;
        }
    }
    mark("STALL_MARK", "stalled %d partitions\n", nstalled);
}

rd_kafka_resp_err_t rd_kafka_assign(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions)
{
    rd_kafka_resp_err_t (*assign)(rd_kafka_t *, const rd_kafka_topic_partition_list_t *);
    *(void **)&assign = real("rd_kafka_assign"); /* POSIX's way to a function's address */
    int stalling = getenv("STALL_MARK") != NULL;
    if (stalling && assigns)
        let_go();
    rd_kafka_resp_err_t e = assign(rk, partitions);
    if (stalling && !assigns++)
        stall(rk, partitions);
    const char *us = getenv("SLOW_ASSIGN_US");
    long n = us ? strtol(us, NULL, 10) : 0;
    struct timespec t = {n / 1000000, (n % 1000000) * 1000};
    while (n > 0 && nanosleep(&t, &t) != 0)
        ;
    if (us)
        mark("SLOW_ASSIGN_MARK", "rd_kafka_assign held %ld us\n", n);
    return e;
}

rd_kafka_resp_err_t rd_kafka_consumer_close(rd_kafka_t *rk)
{
    rd_kafka_resp_err_t (*close_consumer)(rd_kafka_t *);
    *(void **)&close_consumer = real("rd_kafka_consumer_close");
    if (rk == stalled_rk)
        let_go();
    return close_consumer(rk);
}
