/* Description: the producer test_trace.sh reads through the index: T threads, each logging count
 * records "work id=%lu thread=%u" (ids unique over the threads), paced at rate records a second each,
 * and changing its trace context every `every` records (a 128-bit trace, a 64-bit one, a clear, in
 * turn), so that a context set in one frame holds for the thread's records of many frames after it.
 *
 *   trace-producer [--app A] [--threads T] [--count N] [--rate R] [--every K]
 *
 * Prints "done <dropped>" at the end (the producer-side drop counter). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shmlog.h"

static unsigned threads = 2, every = 50;
static unsigned long count = 1000, rate = 1000;

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

static void *worker(void *arg)
{
    unsigned t = (unsigned)(uintptr_t)arg;
    shmlog_thread_init();
    const unsigned per_pause = 20; /* records between sleeps: rate / per_pause sleeps a second */
    for (unsigned long i = 0; i < count; i++) {
        if (i % every == 0) {
            unsigned long change = i / every;
            switch (change % 3) {
            case 0:
                shmlog_trace_set(0x7100000000000000ull | (uint64_t)t << 32 | change, 0xabc0000000000000ull | i,
                                 change % 2 ? "fill" : "route");
                break;
            case 1:
                shmlog_trace_set64(0x6400000000000000ull | (uint64_t)t << 32 | change, "check");
                break;
            default:
                shmlog_trace_clear();
            }
        }
        SHMLOG_INFO("work id=%lu thread=%u", (unsigned long)t * 1000000000ul + i, t);
        if (rate && i % per_pause == per_pause - 1)
            sleep_ns(1000000000ull * per_pause / rate);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "traced";
    cfg.quiet = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--app"))
            cfg.app = v;
        else if (!strcmp(a, "--threads"))
            threads = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--count"))
            count = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--rate"))
            rate = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--every"))
            every = (unsigned)strtoul(v, NULL, 10);
        else {
            fprintf(stderr, "trace-producer: unknown option %s\n", a);
            return 2;
        }
    }
    if (argc % 2 == 0 || threads < 1 || threads > 16 || every < 1) {
        fprintf(stderr, "trace-producer: bad arguments\n");
        return 2;
    }
    int rc = shmlog_init(&cfg);
    if (rc < 0) {
        fprintf(stderr, "trace-producer: shmlog_init: %s\n", strerror(-rc));
        return 1;
    }
    pthread_t tid[16];
    for (unsigned t = 0; t < threads; t++)
        if (pthread_create(&tid[t], NULL, worker, (void *)(uintptr_t)t) != 0) {
            fprintf(stderr, "trace-producer: pthread_create failed\n");
            return 1;
        }
    for (unsigned t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    printf("done %llu\n", (unsigned long long)shmlog_dropped());
    shmlog_shutdown();
    return 0;
}
