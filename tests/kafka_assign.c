/*
 * kafka_assign.c - an LD_PRELOAD module for tests/test_kafka.sh that acts on the reader's rd_kafka_assign():
 *
 * - SLOW_ASSIGN_US: each call returns only that many microseconds after it started the assignment, as when
 *   the reader is descheduled right after assigning on a loaded machine while librdkafka's threads already
 *   fetch: what the reader sets up after its assignment then races the first fetches on every run, not
 *   once in a while. Each call appends a line to the file SLOW_ASSIGN_MARK.
 * - STALL_MARK: after the first call, the partitions' own queues (rd_kafka_queue_get_partition) deliver
 *   nothing, as when librdkafka stops delivering a partition's queue after a leader change (librdkafka
 *   #4340): the brokers' offsets go on, the reader gets nothing. What the reader does to fetch again
 *   (rd_kafka_assign again) ends the stall. The stall appends a line to the file STALL_MARK.
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

static rd_kafka_queue_t *partition_queues[MAX_PARTS]; /* the reader's: they deliver nothing while stalled */
static int nqueues, assigns;

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

/* Stalled: after the first assignment, before a second. */
static int stalled(const rd_kafka_queue_t *q)
{
    if (!getenv("STALL_MARK") || assigns != 1)
        return 0;
    for (int i = 0; i < nqueues; i++)
        if (partition_queues[i] == q)
            return 1;
    return 0;
}

rd_kafka_queue_t *rd_kafka_queue_get_partition(rd_kafka_t *rk, const char *topic, int32_t partition)
{
    rd_kafka_queue_t *(*get)(rd_kafka_t *, const char *, int32_t);
    *(void **)&get = real("rd_kafka_queue_get_partition"); /* POSIX's way to a function's address */
    rd_kafka_queue_t *q = get(rk, topic, partition);
    if (q && nqueues < MAX_PARTS)
        partition_queues[nqueues++] = q;
    return q;
}

rd_kafka_message_t *rd_kafka_consume_queue(rd_kafka_queue_t *rkqu, int timeout_ms)
{
    rd_kafka_message_t *(*consume)(rd_kafka_queue_t *, int);
    *(void **)&consume = real("rd_kafka_consume_queue");
    if (!stalled(rkqu))
        return consume(rkqu, timeout_ms);
    struct timespec t = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
    while (timeout_ms > 0 && nanosleep(&t, &t) != 0)
        ;
    return NULL;
}

rd_kafka_resp_err_t rd_kafka_assign(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions)
{
    rd_kafka_resp_err_t (*assign)(rd_kafka_t *, const rd_kafka_topic_partition_list_t *);
    *(void **)&assign = real("rd_kafka_assign");
    rd_kafka_resp_err_t e = assign(rk, partitions);
    if (!assigns++ && getenv("STALL_MARK"))
        mark("STALL_MARK", "stalled %d partitions\n", nqueues);
    const char *us = getenv("SLOW_ASSIGN_US");
    long n = us ? strtol(us, NULL, 10) : 0;
    struct timespec t = {n / 1000000, (n % 1000000) * 1000};
    while (n > 0 && nanosleep(&t, &t) != 0)
        ;
    if (us)
        mark("SLOW_ASSIGN_MARK", "rd_kafka_assign held %ld us\n", n);
    return e;
}
