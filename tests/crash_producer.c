/* Description: the producer the crash matrix SIGKILLs: like test-collector-producer it logs
 * "t=%u i=%lu px=%f s=%s" with i = 0, 1, ... per thread t (so the same decoding helpers apply), and
 * after every call that returned it stores i + 1 for its thread in a shared progress file. A killed
 * process leaves that file behind: it says which calls returned, i.e. which records were committed or
 * counted as dropped, and which one per thread may have been in flight at the kill.
 *
 *   crash-producer --progress FILE [--app A] [--threads T] [--count N] [--ring-bytes B]
 *                  [--burst B --pause-us U] [--long-every K]
 *
 * --count 0 (default) logs until killed. FILE must exist with at least 64 bytes (a u64 per thread,
 * 8 threads at most). Prints "ready" once the segments exist, and "done <dropped>" when every thread
 * finished (--count N only). */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "shmlog.h"

#define MAX_THREADS 8

static unsigned threads = 2, burst = 0, pause_us = 0, long_every = 0;
static unsigned long count;
static uint64_t *progress;

static const char long_text[] =
    "a long string argument that takes continuation slots of the ring: "
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz";
/* Through a volatile pointer, as in test_collector_producer.c: GCC must not
 * judge the header's length scan against this array's size. */
static const char *volatile long_arg = long_text;

static void *run(void *arg)
{
    unsigned t = (unsigned)(uintptr_t)arg;
    shmlog_thread_init();
    for (unsigned long i = 0; count == 0 || i < count; i++) {
        const char *s = long_every && i % long_every == 0 ? long_arg : &"xyz"[i % 4];
        SHMLOG_INFO("t=%u i=%lu px=%f s=%s", t, i, (double)i * 0.25, s);
        /* After the call returned: a kill before this store leaves record i
         * counted as the one in flight, which the checker allows for. */
        __atomic_store_n(&progress[t], (uint64_t)i + 1, __ATOMIC_RELEASE);
        if (burst && pause_us && i % burst == burst - 1) {
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
    cfg.app = "crashprod";
    cfg.quiet = 1;
    const char *progress_path = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--progress")) progress_path = v;
        else if (!strcmp(a, "--app")) cfg.app = v;
        else if (!strcmp(a, "--threads")) threads = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--count")) count = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--ring-bytes")) cfg.ring_bytes = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--burst")) burst = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--pause-us")) pause_us = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--long-every")) long_every = (unsigned)strtoul(v, NULL, 10);
        else { fprintf(stderr, "crash-producer: unknown option %s\n", a); return 2; }
    }
    if (argc % 2 == 0 || !progress_path || threads < 1 || threads > MAX_THREADS) {
        fprintf(stderr, "crash-producer: bad arguments (see the comment at the top of crash_producer.c)\n");
        return 2;
    }
    int fd = open(progress_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        perror("crash-producer: --progress");
        return 1;
    }
    progress = mmap(NULL, MAX_THREADS * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (progress == MAP_FAILED) {
        perror("crash-producer: mmap --progress");
        return 1;
    }
    int rc = shmlog_init(&cfg);
    if (rc < 0) {
        fprintf(stderr, "crash-producer: shmlog_init: %s\n", strerror(-rc));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    pthread_t tid[MAX_THREADS];
    for (unsigned t = 0; t < threads; t++)
        pthread_create(&tid[t], NULL, run, (void *)(uintptr_t)t);
    for (unsigned t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    printf("done %llu\n", (unsigned long long)shmlog_dropped());
    fflush(stdout);
    shmlog_shutdown();
    return 0;
}
