/* Description: the producer the collector tests and the crash matrix run as a child process: T threads
 * each log records "t=%u i=%lu px=%f s=%s" with i = 0, 1, ... so that a test knows the exact multiset
 * to expect.
 *
 *   test-collector-producer [--app A] [--threads T] [--count N | --forever] [--burst B --pause-us U]
 *                           [--ring-bytes BYTES] [--meta-bytes BYTES] [--long-every K] [--gate-at G] [--hold]
 *                           [--progress FILE] [--no-shutdown | --die] [--text S]
 *
 * --count 0, or --forever: until killed. Prints "ready" once logging started, "progress <i>" every
 * 10000 records of thread 0, and at the end "done <dropped>" (the producer-side drop counter).
 * --gate-at G: each thread stops before its record G until stdin closes, so that a test can act while
 * records are still to come however slowly the machine runs.
 * --hold: then waits for stdin to close (at once if it already has).
 * --no-shutdown: returns from main without shmlog_shutdown().
 * --die: ends without shmlog_shutdown() (_exit), as a process that crashes after logging.
 * --progress FILE (at least PROGRESS_THREADS u64; T at most that): instead of the progress lines,
 * after every call that returned, i + 1 is stored for its thread in FILE, shared. A killed process
 * leaves the file behind: it says which calls returned, i.e. which records were committed or counted
 * as dropped, and which one per thread may have been in flight at the kill.
 * --text S: S is every record's s (hostile markup for the search page's test, a marker). */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "shmlog.h"

#define PROGRESS_THREADS 8

static unsigned threads = 2, burst = 0, pause_us = 0, long_every = 0;
static unsigned long count = 1000, gate_at = 0;
static int gated; /* --gate-at given (0 too: the ring made, no record yet) */
static int gate_open; /* atomic: set by main once stdin closed */
static uint64_t *progress; /* --progress: PROGRESS_THREADS counters, shared with the test */

static const char long_text[] =
    "a long string argument that takes continuation slots of the ring: "
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz";

/* Read through a volatile pointer: the header's strnlen-like scan of a
 * string argument must not be judged against this array's size by GCC. */
static const char *volatile long_arg = long_text;
/* --text: the string argument of every record, for a test that needs a given one (hostile markup, a marker). */
static const char *text_arg;

/* The test's word to go on: its end of our stdin closed. */
static void wait_stdin_closed(void)
{
    char buf[64];
    while (read(0, buf, sizeof(buf)) > 0)
        ;
}

static void *run(void *arg)
{
    unsigned t = (unsigned)(uintptr_t)arg;
    shmlog_thread_init();
    for (unsigned long i = 0; count == 0 || i < count; i++) {
        while (gated && i == gate_at && !__atomic_load_n(&gate_open, __ATOMIC_ACQUIRE)) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        const char *s = text_arg ? text_arg : long_every && i % long_every == 0 ? long_arg : &"xyz"[i % 4];
        SHMLOG_INFO("t=%u i=%lu px=%f s=%s", t, i, (double)i * 0.25, s);
        if (progress) {
            /* After the call returned: a kill before this store leaves record
             * i counted as the one in flight, which the checker allows for. */
            __atomic_store_n(&progress[t], (uint64_t)i + 1, __ATOMIC_RELEASE);
        } else if (t == 0 && i % 10000 == 9999) {
            printf("progress %lu\n", i + 1);
            fflush(stdout);
        }
        if (burst && i % burst == burst - 1 && pause_us) {
            struct timespec ts = {pause_us / 1000000, (long)(pause_us % 1000000) * 1000};
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
    int hold = 0, no_shutdown = 0, die = 0;
    const char *progress_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--hold")) { hold = 1; continue; }
        if (!strcmp(a, "--no-shutdown")) { no_shutdown = 1; continue; }
        if (!strcmp(a, "--forever")) { count = 0; continue; }
        if (!strcmp(a, "--die")) { die = 1; continue; }
        if (!v) { fprintf(stderr, "test-collector-producer: %s needs a value\n", a); return 2; }
        i++;
        if (!strcmp(a, "--app")) cfg.app = v;
        else if (!strcmp(a, "--threads")) threads = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--count")) count = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--burst")) burst = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--pause-us")) pause_us = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--ring-bytes")) cfg.ring_bytes = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--meta-bytes")) cfg.meta_bytes = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--long-every")) long_every = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--gate-at")) gate_at = strtoul(v, NULL, 10), gated = 1;
        else if (!strcmp(a, "--progress")) progress_path = v;
        else if (!strcmp(a, "--text")) text_arg = v;
        else { fprintf(stderr, "test-collector-producer: unknown option %s\n", a); return 2; }
    }
    if (progress_path) {
        if (threads < 1 || threads > PROGRESS_THREADS) {
            fprintf(stderr, "test-collector-producer: --progress takes at most %d threads\n", PROGRESS_THREADS);
            return 2;
        }
        int fd = open(progress_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
            perror("test-collector-producer: --progress");
            return 1;
        }
        void *m = mmap(NULL, PROGRESS_THREADS * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (m == MAP_FAILED) {
            perror("test-collector-producer: mmap --progress");
            return 1;
        }
        progress = m;
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
    if (gated) {
        wait_stdin_closed();
        __atomic_store_n(&gate_open, 1, __ATOMIC_RELEASE);
    }
    for (unsigned t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    printf("done %llu\n", (unsigned long long)shmlog_dropped());
    fflush(stdout);
    if (hold)
        wait_stdin_closed();
    if (die)
        _exit(0);
    if (!no_shutdown)
        shmlog_shutdown();
    return 0;
}
