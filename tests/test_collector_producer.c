/* Description: the producer the collector tests run as a child process: T threads each log records
 * "t=%u i=%lu px=%f s=%s" with i = 0, 1, ... so that a test knows the exact multiset to expect.
 *
 *   test-collector-producer [--app A] [--threads T] [--count N | --forever] [--burst B --pause-us U]
 *                           [--ring-bytes BYTES] [--long-every K] [--hold]
 *
 * Prints "ready" once logging started, "progress <i>" every 10000 records of thread 0, and at the end
 * "done <dropped>" (the producer-side drop counter). --hold: then waits for stdin to close. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmlog.h"

static unsigned threads = 2, burst = 0, pause_us = 0, long_every = 0;
static unsigned long count = 1000;
static int forever;

static const char long_text[] =
    "a long string argument that takes continuation slots of the ring: "
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz";

/* Read through a volatile pointer: the header's strnlen-like scan of a
 * string argument must not be judged against this array's size by GCC. */
static const char *volatile long_arg = long_text;

static void *run(void *arg)
{
    unsigned t = (unsigned)(uintptr_t)arg;
    shmlog_thread_init();
    for (unsigned long i = 0; forever || i < count; i++) {
        const char *s = long_every && i % long_every == 0 ? long_arg : &"xyz"[i % 4];
        SHMLOG_INFO("t=%u i=%lu px=%f s=%s", t, i, (double)i * 0.25, s);
        if (t == 0 && i % 10000 == 9999) {
            printf("progress %lu\n", i + 1);
            fflush(stdout);
        }
        if (burst && i % burst == burst - 1 && pause_us) {
            struct timespec ts = {0, (long)pause_us * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "tprod";
    cfg.quiet = 1;
    int hold = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--hold")) { hold = 1; continue; }
        if (!strcmp(a, "--forever")) { forever = 1; continue; }
        if (!v) { fprintf(stderr, "test-collector-producer: %s needs a value\n", a); return 2; }
        i++;
        if (!strcmp(a, "--app")) cfg.app = v;
        else if (!strcmp(a, "--threads")) threads = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--count")) count = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--burst")) burst = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--pause-us")) pause_us = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--ring-bytes")) cfg.ring_bytes = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--long-every")) long_every = (unsigned)strtoul(v, NULL, 10);
        else { fprintf(stderr, "test-collector-producer: unknown option %s\n", a); return 2; }
    }
    int rc = shmlog_init(&cfg);
    if (rc < 0) {
        fprintf(stderr, "test-collector-producer: shmlog_init: %s\n", strerror(-rc));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    pthread_t tid[64];
    if (threads < 1 || threads > 64)
        threads = 2;
    for (unsigned t = 0; t < threads; t++)
        pthread_create(&tid[t], NULL, run, (void *)(uintptr_t)t);
    for (unsigned t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    printf("done %llu\n", (unsigned long long)shmlog_dropped());
    fflush(stdout);
    if (hold) {
        char buf[64];
        while (read(0, buf, sizeof(buf)) > 0)
            ;
    }
    shmlog_shutdown();
    return 0;
}
