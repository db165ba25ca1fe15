/*
 * kafka_stall.c - an LD_PRELOAD module for tests/test_kafka.sh: after the reader's first rd_kafka_assign(),
 * every assigned partition's messages go to a queue no one reads, as when librdkafka stops delivering a
 * partition's queue after a leader change (librdkafka #4340): the brokers' offsets go on, the reader gets
 * nothing. What the reader does to fetch again (rd_kafka_assign again) ends the stall. Each stall appends
 * a line to the file STALL_MARK, which shows that the module was preloaded and stalled.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <librdkafka/rdkafka.h>

#define MAX_PARTS 64

static rd_kafka_queue_t *unread;          /* where the stalled partitions' messages go */
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

rd_kafka_resp_err_t rd_kafka_assign(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions)
{
    rd_kafka_resp_err_t (*assign)(rd_kafka_t *, const rd_kafka_topic_partition_list_t *);
    *(void **)&assign = real("rd_kafka_assign"); /* POSIX's way to a function's address */
    if (assigns++) {
        let_go();
        return assign(rk, partitions);
    }
    rd_kafka_resp_err_t e = assign(rk, partitions);
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
    const char *mark = getenv("STALL_MARK");
    FILE *f = mark ? fopen(mark, "a") : NULL;
    if (f) {
        fprintf(f, "stalled %d partitions\n", nstalled);
        fclose(f);
    }
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
