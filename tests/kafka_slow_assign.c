/*
 * kafka_slow_assign.c - an LD_PRELOAD module for tests/test_kafka.sh: rd_kafka_assign() returns only
 * SLOW_ASSIGN_US microseconds after it started the assignment, as when the reader is descheduled right
 * after assigning on a loaded machine while librdkafka's threads already fetch: what the reader sets up
 * after its assignment then races the first fetches on every run, not once in a while. Each call
 * appends a line to the file SLOW_ASSIGN_MARK, which shows that the module was preloaded.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

rd_kafka_resp_err_t rd_kafka_assign(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions)
{
    rd_kafka_resp_err_t (*real)(rd_kafka_t *, const rd_kafka_topic_partition_list_t *);
    *(void **)&real = dlsym(RTLD_NEXT, "rd_kafka_assign"); /* POSIX's way to a function's address */
    if (!real)
        abort(); /* preloaded into something that has no librdkafka: the test is wrong */
    rd_kafka_resp_err_t e = real(rk, partitions);
    const char *us = getenv("SLOW_ASSIGN_US");
    long n = us ? strtol(us, NULL, 10) : 0;
    struct timespec t = {n / 1000000, (n % 1000000) * 1000};
    while (n > 0 && nanosleep(&t, &t) != 0)
        ;
    const char *mark = getenv("SLOW_ASSIGN_MARK");
    FILE *f = mark ? fopen(mark, "a") : NULL;
    if (f) {
        fprintf(f, "rd_kafka_assign held %ld us\n", n);
        fclose(f);
    }
    return e;
}
